//! The commands that talk to the server or follow from it: enroll, assignments, start,
//! refused, dismiss, discard, sync, status.

use anyhow::Result;
use jingtu_core::DeviceCore;
use serde_json::{Value, json};

use crate::{out, when};

pub(crate) fn enroll(
    core: &DeviceCore,
    json: bool,
    url: String,
    code: String,
    label: Option<String>,
) -> Result<()> {
    let url = if url == "-" { String::new() } else { url };
    if code.starts_with("jt_") {
        core.set_server(&url, &code)?;
        let url = core.server_url()?.unwrap_or_default();
        out(
            json,
            json!({"server": url, "device": core.device_id()}),
            || format!("device {} will sync with {url}", core.device_id()),
        );
    } else {
        let e = core.enroll(
            &url,
            &code,
            label.as_deref(),
            Some(concat!("jingtu-cli/", env!("CARGO_PKG_VERSION"))),
        )?;
        out(
            json,
            json!({"server": e.server_url, "device": core.device_id(), "user": e.user,
                   "role": e.role, "org_units": e.org_units}),
            || {
                format!(
                    "device {} enrolled for {} ({} {}), syncs with {}",
                    core.device_id(),
                    e.user,
                    e.role.label_zh(),
                    e.role.as_str(),
                    e.server_url
                )
            },
        );
    }
    Ok(())
}

pub(crate) fn assignments(core: &DeviceCore, json: bool) -> Result<()> {
    let list = core.assignments()?;
    out(json, serde_json::to_value(&list)?, || {
        if list.is_empty() {
            return "no assignments (they arrive with jingtu sync)".into();
        }
        list.iter()
            .map(|a| {
                format!(
                    "{}  {} {} {} {}  {}  due {}",
                    a.id,
                    a.kind,
                    a.target_kind.label_zh(),
                    a.target,
                    a.target_name,
                    a.org_unit,
                    a.due_date.as_deref().unwrap_or("-")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

pub(crate) fn start(core: &DeviceCore, json: bool, assignment: String) -> Result<()> {
    let s = core.create_record_for(&assignment)?;
    out(json, serde_json::to_value(&s)?, || s.id.clone());
    Ok(())
}

pub(crate) fn refused(core: &DeviceCore, json: bool, i: Option<String>, all: bool) -> Result<()> {
    let id = |s: &str| core.resolve_id(s);
    let i = i.map(|i| id(&i)).transpose()?;
    let list = core.refused_edits(i.as_deref(), all)?;
    let value: Vec<Value> = list
        .iter()
        .map(|e| {
            json!({"id": e.id, "record": e.record_id, "code": e.code, "rule": e.rule,
                   "path": e.path, "message": e.message, "refused_at_ms": e.refused_at_ms,
                   "dismissed": e.dismissed_at_ms.is_some(),
                   "local": serde_json::from_str::<Value>(&e.local_json)
                       .unwrap_or(Value::Null)})
        })
        .collect();
    out(json, Value::Array(value), || {
        if list.is_empty() {
            return "no refused edits".into();
        }
        list.iter()
            .map(|e| {
                format!(
                    "#{} record {}: {} [{}{}] {}",
                    e.id,
                    e.record_id,
                    e.code,
                    e.rule.as_deref().unwrap_or("-"),
                    e.path
                        .as_deref()
                        .map(|p| format!(" at {p}"))
                        .unwrap_or_default(),
                    e.message
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

pub(crate) fn dismiss(core: &DeviceCore, json: bool, refused_edit: i64) -> Result<()> {
    core.dismiss_refused_edit(refused_edit)?;
    out(json, json!({"id": refused_edit, "dismissed": true}), || {
        format!("refused edit #{refused_edit} dismissed")
    });
    Ok(())
}

pub(crate) fn discard(core: &DeviceCore, json: bool, i: String) -> Result<()> {
    let id = |s: &str| core.resolve_id(s);
    let i = id(&i)?;
    core.discard_record(&i)?;
    out(json, json!({"id": i, "discarded": true}), || {
        format!("record {i} removed from this device (its edits: jingtu refused --all)")
    });
    Ok(())
}

pub(crate) fn sync(core: &DeviceCore, json: bool) -> Result<()> {
    // Records and thumbnails count items; photos count bytes.
    let style = |counts: &str| {
        indicatif::ProgressStyle::with_template(&format!(
            "{{msg:>10}} [{{bar:30}}] {counts}  {{prefix}}"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ")
    };
    let bar = (!json).then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(style("{pos}/{len}"));
        b
    });
    let mut shown = None;
    let report = core.sync(&mut |p| {
        if let Some(b) = &bar {
            if shown != Some(p.phase) {
                // A new phase starts its bar from zero, in its own unit.
                shown = Some(p.phase);
                b.set_message(p.phase.as_str());
                b.set_style(style(if p.phase == jingtu_core::SyncPhase::Photos {
                    "{bytes}/{total_bytes}"
                } else {
                    "{pos}/{len}"
                }));
                b.set_position(0);
            }
            b.set_length(p.total.max(p.done));
            b.set_position(p.done);
            b.set_prefix(format!("{} KB", p.bytes / 1024));
        }
        true
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let r = report?;
    let refused = r.refused.len();
    out(json, serde_json::to_value(&r)?, || {
        let mut s = format!(
            "pushed {} record(s), received {} change chunk(s) ({} new record(s)), \
             uploaded {} photo(s), fetched {} thumbnail(s); {} round trip(s), \
             {} B up, {} B down, {} ms",
            r.records_pushed,
            r.chunks_pulled,
            r.records_received,
            r.photos_uploaded,
            r.thumbnails_fetched,
            r.round_trips,
            r.bytes_up,
            r.bytes_down,
            r.duration_ms
        );
        if r.photos_deferred > 0 {
            s.push_str(&format!(
                "\n{} photo(s) wait: the server has no room for them now (they go at \
                 a later sync)",
                r.photos_deferred
            ));
        }
        for x in &r.refused {
            s.push_str(&format!(
                "\nrefused {}: {} ({}{})",
                x.record,
                x.message,
                x.code,
                x.rule
                    .as_deref()
                    .map(|r| format!(", rule {r}"))
                    .unwrap_or_default()
            ));
            if let Some(e) = x.refused_edit {
                s.push_str(&format!(
                    "; kept as refused edit #{e}, {} value(s) written again",
                    x.replayed
                ));
            }
        }
        if r.records_removed > 0 || !r.kept_out_of_scope.is_empty() {
            s.push_str(&format!(
                "\n{} record(s) left this device's scope and were removed; {} kept \
                 because they hold unsynced changes",
                r.records_removed,
                r.kept_out_of_scope.len()
            ));
        }
        if r.parked > 0 {
            s.push_str(&format!(
                "\n{} record(s) use a form this version does not know: kept until \
                 an update",
                r.parked
            ));
        }
        if r.templates_received > 0 || r.code_tables_updated {
            s.push_str(&format!(
                "\n{} new template(s){} from the server (see `jingtu templates`)",
                r.templates_received,
                if r.code_tables_updated {
                    " and new code tables"
                } else {
                    ""
                }
            ));
        }
        s
    });
    if refused > 0 {
        anyhow::bail!(
            "the server refused {refused} record(s); see `jingtu refused` for what was \
             kept"
        );
    }
    Ok(())
}

pub(crate) fn status(core: &DeviceCore, json: bool) -> Result<()> {
    let s = core.sync_status()?;
    out(json, serde_json::to_value(&s)?, || {
        let held = if s.records_held > 0 {
            format!(
                "\n{} record(s) held back: the server refused them whole, and they are \
                 not sent again until edited (jingtu refused; export one for its owner \
                 or supervisor, then jingtu discard ID)",
                s.records_held
            )
        } else {
            String::new()
        };
        format!(
            "server {}\nlast sync {}\n{} record(s), {} waiting to be sent, {} photo(s) to upload{held}",
            s.server_url
                .as_deref()
                .unwrap_or("(none: run jingtu enroll URL CODE)"),
            s.last_sync_ms.map(when).unwrap_or_else(|| "never".into()),
            s.records,
            s.records_pending,
            s.photos_pending
        )
    });
    Ok(())
}
