//! `jingtu`: a device store on the command line, for testers, pilots and scripts.
//!
//! Every command takes `--store DIR` (or `JINGTU_STORE`) and `--json`. Each command is a few
//! lines: parse, call one `jingtu-core` function, print.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use jingtu_core::{Assignment, CoreError, DeviceCore, ListFilter, RecordView};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    name = "jingtu",
    version,
    about = "净土 jingtu: a field-survey device store on the command line"
)]
struct Cli {
    /// The store folder.
    #[arg(
        long,
        global = true,
        env = "JINGTU_STORE",
        default_value = "jingtu-store"
    )]
    store: PathBuf,
    /// Print machine-readable JSON on stdout.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the store (or open it) and name the person using it.
    Init {
        #[arg(long)]
        user: Option<String>,
    },
    /// List the record templates.
    Templates,
    /// Create a record from a template: KIND is e.g. village_inspection or soil_sample.v1.
    New {
        kind: String,
        #[arg(long)]
        org_unit: Option<String>,
        #[arg(long)]
        village: Option<String>,
        /// Planned sampling point code.
        #[arg(long)]
        point: Option<String>,
        #[arg(long)]
        assignment: Option<String>,
    },
    /// Set a field: VALUE is converted to the field's type (objects and lists as JSON).
    Set {
        id: String,
        path: String,
        value: String,
    },
    /// Clear a field, or remove an item of a list.
    Clear { id: String, path: String },
    /// Append an item (JSON) to a list field.
    Append {
        id: String,
        path: String,
        item: String,
    },
    /// Record a checklist item: RESULT is pass, fail or na.
    Check {
        id: String,
        item: String,
        result: String,
        /// What is wrong (for a failing item).
        #[arg(long)]
        issue: Option<String>,
    },
    /// Show a record: values, computed fields, issues, completion, status.
    Show { id: String },
    /// List records, newest first.
    List {
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        org_unit: Option<String>,
        #[arg(long)]
        village: Option<String>,
        /// Text anywhere in the record's name.
        #[arg(long)]
        search: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Submit a record (errors block, warnings do not).
    Submit { id: String },
    /// Who changed what and when.
    History { id: String },
    /// Write a record's bytes to FILE, to carry to another device.
    Export { id: String, file: PathBuf },
    /// Import or merge a record's bytes from FILE.
    Import { file: PathBuf },
    /// Fields holding concurrent values from different devices.
    Conflicts { id: String },
    /// Resolve a conflict by writing VALUE (one of the values shown, or a new one).
    Resolve {
        id: String,
        path: String,
        value: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = e
                .downcast_ref::<CoreError>()
                .map(error_code)
                .unwrap_or("error");
            if json {
                print_line(
                    &json!({"error": {"code": code, "message": format!("{e:#}")}}).to_string(),
                );
            } else {
                eprintln!("error: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}

fn error_code(e: &CoreError) -> &'static str {
    match e {
        CoreError::NotFound(_) => "not_found",
        CoreError::Ambiguous { .. } => "ambiguous_id",
        CoreError::UnknownTemplate(_) => "unknown_template",
        CoreError::UnknownField { .. } => "unknown_field",
        CoreError::InvalidValue { .. } => "invalid_value",
        CoreError::BadPath { .. } => "bad_path",
        CoreError::SubmitBlocked { .. } => "submit_blocked",
        CoreError::InvalidState(_) => "invalid_state",
        CoreError::StoreLocked(_) => "store_locked",
        CoreError::BadRecord(_) => "bad_record",
        CoreError::Storage(_) => "storage",
        CoreError::Template(_) => "template",
        CoreError::Cancelled => "cancelled",
    }
}

fn out(json: bool, value: Value, human: impl FnOnce() -> String) {
    let text = if json { value.to_string() } else { human() };
    print_line(&text);
}

/// Prints a line on stdout; a closed pipe (`jingtu list | head`) is not an error.
fn print_line(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

fn run(cli: Cli) -> Result<()> {
    let json = cli.json;
    let core = DeviceCore::open(&cli.store)
        .with_context(|| format!("opening the store {}", cli.store.display()))?;
    let id = |s: &str| core.resolve_id(s);
    match cli.command {
        Command::Init { user } => {
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
        }
        Command::Templates => {
            let ts = core.templates();
            out(json, serde_json::to_value(&ts)?, || {
                ts.iter()
                    .map(|t| format!("{:32} {} / {}", t.id, t.label.zh, t.label.en))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::New {
            kind,
            org_unit,
            village,
            point,
            assignment,
        } => {
            let a = Assignment {
                org_unit,
                village,
                planned_point: point,
                assignment_id: assignment,
            };
            let s = core.create_record(&kind, &a)?;
            out(json, serde_json::to_value(&s)?, || s.id.clone());
        }
        Command::Set { id: i, path, value } => {
            let i = id(&i)?;
            core.set_field_text(&i, &path, &value)?;
            out(json, json!({"id": i, "path": path, "ok": true}), || {
                format!("{path} set")
            });
        }
        Command::Clear { id: i, path } => {
            let i = id(&i)?;
            core.clear_field(&i, &path)?;
            out(json, json!({"id": i, "path": path, "ok": true}), || {
                format!("{path} cleared")
            });
        }
        Command::Append { id: i, path, item } => {
            let i = id(&i)?;
            let item: Value = serde_json::from_str(&item)
                .or_else(|_| Ok::<_, anyhow::Error>(Value::String(item.clone())))?;
            let index = core.append_item(&i, &path, &item)?;
            out(json, json!({"id": i, "path": path, "index": index}), || {
                format!("{path}.{index} added")
            });
        }
        Command::Check {
            id: i,
            item,
            result,
            issue,
        } => {
            let i = id(&i)?;
            core.set_checklist_item(&i, &item, &result, issue.as_deref())?;
            out(
                json,
                json!({"id": i, "item": item, "result": result}),
                || format!("{item}: {result}"),
            );
        }
        Command::Show { id: i } => {
            let v = core.view(&id(&i)?)?;
            out(json, serde_json::to_value(&v)?, || show(&v));
        }
        Command::List {
            kind,
            status,
            org_unit,
            village,
            search,
            limit,
        } => {
            let f = ListFilter {
                kind,
                status,
                org_unit,
                village,
                text: search,
                limit,
                ..Default::default()
            };
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
        }
        Command::Submit { id: i } => {
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
        }
        Command::History { id: i } => {
            let h = core.history(&id(&i)?)?;
            out(json, serde_json::to_value(&h)?, || {
                h.iter()
                    .map(|e| {
                        format!(
                            "{}  {:12} {:8} {}  {}",
                            e.time_ms,
                            e.author.as_deref().unwrap_or("?"),
                            e.action,
                            &e.device[..8.min(e.device.len())],
                            e.paths.join(", ")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Export { id: i, file } => {
            let i = id(&i)?;
            let bytes = core.export(&i)?;
            std::fs::write(&file, &bytes).with_context(|| format!("writing {}", file.display()))?;
            out(
                json,
                json!({"id": i, "file": file, "bytes": bytes.len()}),
                || format!("{} bytes written to {}", bytes.len(), file.display()),
            );
        }
        Command::Import { file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let o = core.import(&bytes)?;
            out(json, serde_json::to_value(&o)?, || {
                format!(
                    "{} {} ({} new changes)",
                    o.id,
                    if o.created { "imported" } else { "merged" },
                    o.new_changes
                )
            });
        }
        Command::Conflicts { id: i } => {
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
                                    &v.device[..8.min(v.device.len())],
                                    v.time_ms,
                                    if v.shown { " (shown)" } else { "" }
                                )
                            })
                            .collect();
                        format!("{}\n{}", c.path, vals.join("\n"))
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Resolve { id: i, path, value } => {
            let i = id(&i)?;
            core.resolve_conflict_text(&i, &path, &value)?;
            out(json, json!({"id": i, "path": path, "ok": true}), || {
                format!("{path} resolved")
            });
        }
    }
    Ok(())
}

fn show(v: &RecordView) -> String {
    let mut s = format!(
        "{} {}\n{} ({}) · {} · {:.1}% complete\n",
        v.template_label.zh, v.name, v.id, v.template_id, v.status, v.completion_pct
    );
    s.push_str(&format!(
        "data: {}\n",
        serde_json::to_string_pretty(&v.data).unwrap_or_default()
    ));
    if !v.computed.is_empty() {
        s.push_str(&format!(
            "computed: {}\n",
            serde_json::to_string_pretty(&v.computed).unwrap_or_default()
        ));
    }
    for i in &v.issues {
        s.push_str(&format!(
            "{:7} {}: {} ({})\n",
            format!("{:?}", i.severity).to_lowercase(),
            i.path,
            i.message.zh,
            i.message.en
        ));
    }
    if !v.conflicts.is_empty() {
        s.push_str(&format!(
            "{} conflict(s): run `jingtu conflicts {}`\n",
            v.conflicts.len(),
            v.id
        ));
    }
    s.trim_end().to_string()
}
