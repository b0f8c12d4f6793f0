//! The commands on records: init, templates, new, set, clear, append, check, show, list,
//! submit, history, export, import, conflicts, resolve, review.

use std::path::PathBuf;

use anyhow::{Context, Result};
use jingtu_core::{
    CoreError, DeviceCore, ItemResult, ListFilter, NewComment, NewRecordPlace, ReviewDecision,
};
use serde_json::{Value, json};

use crate::{ReviewCommand, out, short, show, when};

pub(crate) fn init(core: &DeviceCore, json: bool, user: Option<String>) -> Result<()> {
    if let Some(u) = user {
        core.set_user(&u)?;
    }
    out(
        json,
        json!({"store": core.store_dir(), "device": core.device_id(), "user": core.user(), "records": core.count()?}),
        || {
            format!(
                "store {} ready (device {}, user '{}', {} records)",
                core.store_dir().display(),
                core.device_id(),
                core.user(),
                core.count().unwrap_or(0)
            )
        },
    );
    Ok(())
}

pub(crate) fn templates(core: &DeviceCore, json: bool) -> Result<()> {
    let ts = core.templates();
    out(json, serde_json::to_value(&ts)?, || {
        ts.iter()
            .map(|t| format!("{:32} {} / {}", t.id, t.label.zh, t.label.en))
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

pub(crate) fn new(
    core: &DeviceCore,
    json: bool,
    kind: String,
    org_unit: Option<String>,
    village: Option<String>,
    point: Option<String>,
    assignment: Option<String>,
) -> Result<()> {
    let a = NewRecordPlace {
        org_unit,
        village,
        planned_point: point,
        assignment_id: assignment,
    };
    let s = core.create_record(&kind, &a)?;
    out(json, serde_json::to_value(&s)?, || s.id.clone());
    Ok(())
}

pub(crate) fn set(
    core: &DeviceCore,
    json: bool,
    i: String,
    path: String,
    value: String,
) -> Result<()> {
    let id = |s: &str| core.resolve_id(s);
    let i = id(&i)?;
    core.set_field_text(&i, &path, &value)?;
    out(json, json!({"id": i, "path": path, "ok": true}), || {
        format!("{path} set")
    });
    Ok(())
}

pub(crate) fn clear(core: &DeviceCore, json: bool, i: String, path: String) -> Result<()> {
    let id = |s: &str| core.resolve_id(s);
    let i = id(&i)?;
    core.clear_field(&i, &path)?;
    out(json, json!({"id": i, "path": path, "ok": true}), || {
        format!("{path} cleared")
    });
    Ok(())
}

pub(crate) fn append(
    core: &DeviceCore,
    json: bool,
    i: String,
    path: String,
    item: String,
) -> Result<()> {
    let id = |s: &str| core.resolve_id(s);
    let i = id(&i)?;
    let item: Value = serde_json::from_str(&item)
        .or_else(|_| Ok::<_, anyhow::Error>(Value::String(item.clone())))?;
    let index = core.append_item(&i, &path, &item)?;
    out(json, json!({"id": i, "path": path, "index": index}), || {
        format!("{path}.{index} added")
    });
    Ok(())
}

pub(crate) fn check(
    core: &DeviceCore,
    json: bool,
    i: String,
    item: String,
    result: String,
    issue: Option<String>,
) -> Result<()> {
    let id = |s: &str| core.resolve_id(s);
    let i = id(&i)?;
    let Some(result) = ItemResult::parse(&result) else {
        return Err(CoreError::InvalidValue {
            path: format!("checklist.{item}.result"),
            reason: format!(
                "'{result}' is not a result: pass (合格), fail (不合格) or na (不适用)"
            ),
        }
        .into());
    };
    core.set_checklist_item(&i, &item, result, issue.as_deref())?;
    out(
        json,
        json!({"id": i, "item": item, "result": result}),
        || format!("{item}: {result}"),
    );
    Ok(())
}

pub(crate) fn show_record(core: &DeviceCore, json: bool, i: String) -> Result<()> {
    let id = |s: &str| core.resolve_id(s);
    let v = core.view(&id(&i)?)?;
    out(json, serde_json::to_value(&v)?, || show(&v));
    Ok(())
}

pub(crate) fn list(core: &DeviceCore, json: bool, f: ListFilter) -> Result<()> {
    let rows = core.list(&f)?;
    out(json, serde_json::to_value(&rows)?, || {
        rows.iter()
            .map(|r| {
                format!(
                    "{}  {:26} {:10} {:5.1}%  {}",
                    r.id, r.kind, r.status, r.completion_pct, r.name
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

pub(crate) fn submit(core: &DeviceCore, json: bool, i: String) -> Result<()> {
    let id = |s: &str| core.resolve_id(s);
    let i = id(&i)?;
    match core.submit(&i) {
        Ok(s) => out(json, serde_json::to_value(&s)?, || {
            format!("{} submitted", s.id)
        }),
        Err(CoreError::SubmitBlocked { issues }) => {
            if !json {
                for issue in &issues {
                    eprintln!(
                        "  {}: {} ({})",
                        issue.path, issue.message.zh, issue.message.en
                    );
                }
            }
            return Err(CoreError::SubmitBlocked { issues }.into());
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

pub(crate) fn history(core: &DeviceCore, json: bool, i: String) -> Result<()> {
    let id = |s: &str| core.resolve_id(s);
    let h = core.history(&id(&i)?)?;
    out(json, serde_json::to_value(&h)?, || {
        h.iter()
            .map(|e| {
                format!(
                    "{}  {:12} {:8} {}  {}",
                    when(e.time_ms),
                    e.author.as_deref().unwrap_or("?"),
                    e.action,
                    short(&e.device, 8),
                    e.paths.join(", ")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

pub(crate) fn export(core: &DeviceCore, json: bool, i: String, file: PathBuf) -> Result<()> {
    let id = |s: &str| core.resolve_id(s);
    let i = id(&i)?;
    let bytes = core.export(&i)?;
    std::fs::write(&file, &bytes).with_context(|| format!("writing {}", file.display()))?;
    out(
        json,
        json!({"id": i, "file": file, "bytes": bytes.len()}),
        || format!("{} bytes written to {}", bytes.len(), file.display()),
    );
    Ok(())
}

pub(crate) fn import(core: &DeviceCore, json: bool, file: PathBuf) -> Result<()> {
    let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let o = core.import(&bytes)?;
    out(json, serde_json::to_value(&o)?, || {
        format!(
            "{} {} ({} new changes)",
            o.id,
            if o.created { "imported" } else { "merged" },
            o.new_changes
        )
    });
    Ok(())
}

pub(crate) fn conflicts(core: &DeviceCore, json: bool, i: String) -> Result<()> {
    let id = |s: &str| core.resolve_id(s);
    let c = core.conflicts(&id(&i)?)?;
    out(json, serde_json::to_value(&c)?, || {
        if c.is_empty() {
            return "no conflicts".into();
        }
        c.iter()
            .map(|c| {
                let vals: Vec<String> = c
                    .values
                    .iter()
                    .map(|v| {
                        format!(
                            "    {} by {} on device {} at {}{}",
                            v.value,
                            v.author.as_deref().unwrap_or("?"),
                            short(&v.device, 8),
                            when(v.time_ms),
                            if v.shown { " (shown)" } else { "" }
                        )
                    })
                    .collect();
                format!("{}\n{}", c.path, vals.join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

pub(crate) fn resolve(
    core: &DeviceCore,
    json: bool,
    i: String,
    path: String,
    value: String,
) -> Result<()> {
    let id = |s: &str| core.resolve_id(s);
    let i = id(&i)?;
    core.resolve_conflict_text(&i, &path, &value)?;
    out(json, json!({"id": i, "path": path, "ok": true}), || {
        format!("{path} resolved")
    });
    Ok(())
}

/// A comment as typed: `TEXT`, or `PATH=TEXT` when PATH names a field (letters, digits, `_`,
/// `.` and `[n]` only, so a `=` inside free text is not taken for a path).
pub(crate) fn parse_comment(arg: &str) -> NewComment {
    if let Some((path, text)) = arg.split_once('=') {
        let is_path = !path.is_empty()
            && path
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'));
        if is_path {
            return NewComment {
                text: text.to_string(),
                path: Some(path.to_string()),
            };
        }
    }
    NewComment {
        text: arg.to_string(),
        path: None,
    }
}

pub(crate) fn review(core: &DeviceCore, json: bool, cmd: ReviewCommand) -> Result<()> {
    let (id, decision, note, comments) = match cmd {
        ReviewCommand::Approve { id, note } => (id, Some(ReviewDecision::Approve), note, vec![]),
        ReviewCommand::Return { id, note, comments } => {
            (id, Some(ReviewDecision::Return), note, comments)
        }
        ReviewCommand::Reopen { id, note, comments } => {
            (id, Some(ReviewDecision::Reopen), note, comments)
        }
        ReviewCommand::Comment { id, comments } => (id, None, None, comments),
    };
    let id = core.resolve_id(&id)?;
    let comments: Vec<NewComment> = comments.iter().map(|c| parse_comment(c)).collect();
    match decision {
        Some(d) => {
            let s = core.review(&id, d, note.as_deref(), &comments)?;
            out(json, serde_json::to_value(&s)?, || {
                format!("{} {}", s.id, s.status)
            });
        }
        None => {
            let ids = core.comment(&id, &comments)?;
            out(json, json!({"id": id, "comments": ids}), || {
                format!("{} comment(s) added to {id}", ids.len())
            });
        }
    }
    Ok(())
}
