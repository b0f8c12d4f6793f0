//! `jingtu`: a device store on the command line, for testers, pilots and scripts.
//!
//! Every command takes `--store DIR` (or `JINGTU_STORE`) and `--json`. Each command is a few
//! lines: parse, call one `jingtu-core` function, print.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use jingtu_core::{
    CoreError, DeviceCore, ListFilter, NewPhoto, NewRecordPlace, PhotoSource, RecordPhoto,
    RecordView,
};
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
    /// Connect this device to a server with a one-time enrollment code (from `jingtu-server
    /// admin enroll-code`, or the text of its QR code; URL may then be -), or with a device
    /// token (`jt_...`, from `jingtu-server admin issue-token` or the server's first start).
    Enroll {
        url: String,
        code: String,
        /// A name for this device in the server's device list.
        #[arg(long)]
        label: Option<String>,
    },
    /// The assignments of this device's user (they arrive with sync).
    Assignments,
    /// Create the record of an assignment (its kind, org unit, village or point).
    Start { assignment: String },
    /// Edits the server refused, with the rule and the path (of one record, or all).
    Refused {
        id: Option<String>,
        /// Dismissed ones too.
        #[arg(long)]
        all: bool,
    },
    /// Mark a refused edit as read (it stays in the store).
    Dismiss { refused_edit: i64 },
    /// Remove a record the server refused whole (held back) from this device; its edits stay
    /// in `jingtu refused --all`. Export it first to give it to its owner or supervisor.
    Discard { id: String },
    /// Send this device's changes and photos to the server and take in what others did.
    Sync,
    /// What waits to be synced.
    Status,
    /// Evidence photos: add, list, get, remove.
    #[command(subcommand)]
    Photo(PhotoCommand),
}

#[derive(Subcommand)]
enum PhotoCommand {
    /// Add a photo (JPEG, PNG or WebP) to a record. PATH is the field it proves (a checklist
    /// item such as checklist.clean_garbage, a photo list), or - for the whole record.
    Add {
        id: String,
        path: String,
        file: PathBuf,
        /// Photo type (photo_type code table): landscape_e, sample_bag, before, after...
        #[arg(long)]
        tag: String,
        #[arg(long)]
        note: Option<String>,
        /// Position of the capture when the photo has none of its own (decimal degrees).
        #[arg(long, requires = "lon", allow_hyphen_values = true)]
        lat: Option<f64>,
        #[arg(long, requires = "lat", allow_hyphen_values = true)]
        lon: Option<f64>,
        /// Position accuracy in metres.
        #[arg(long)]
        accuracy: Option<f64>,
        /// Burn the evidence stamp in (default: as the template says).
        #[arg(long, conflicts_with = "no_stamp")]
        stamp: bool,
        #[arg(long)]
        no_stamp: bool,
    },
    /// List a record's photos (with --all, removed ones too).
    List {
        id: String,
        #[arg(long)]
        all: bool,
    },
    /// Write a photo (by its SHA-256) to OUT; --thumb for the thumbnail.
    Get {
        hash: String,
        out: PathBuf,
        #[arg(long)]
        thumb: bool,
    },
    /// Remove a photo from a record (kept in the history).
    Remove { id: String, photo_id: String },
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
        CoreError::NotFound(_) | CoreError::PhotoNotFound(_) => "not_found",
        CoreError::Ambiguous { .. } => "ambiguous_id",
        CoreError::UnknownTemplate(_) => "unknown_template",
        CoreError::UnknownField { .. } => "unknown_field",
        CoreError::InvalidValue { .. } => "invalid_value",
        CoreError::BadPath { .. } => "bad_path",
        CoreError::SubmitBlocked { .. } => "submit_blocked",
        CoreError::InvalidState(_) => "invalid_state",
        CoreError::StoreLocked(_) => "store_locked",
        CoreError::BadRecord(_) => "bad_record",
        CoreError::Storage(jingtu_core::StoreError::Full) => "storage_full",
        CoreError::Storage(jingtu_core::StoreError::ReadOnly) => "storage_read_only",
        CoreError::Storage(_) => "storage",
        CoreError::Template(_) => "template",
        CoreError::BadPhoto(_) => "bad_photo",
        CoreError::NoServer => "no_server",
        CoreError::Sync(e) if e.is_unauthorized() => "unauthorized",
        CoreError::Sync(jingtu_core::ClientError::Refused { .. }) => "sync_refused",
        CoreError::Sync(_) => "network",
        CoreError::Cancelled => "cancelled",
    }
}

/// A time in milliseconds since 1970 as people read it: China Standard Time, where jingtu is
/// used (the same as the evidence stamp on photos). `--json` keeps the milliseconds.
fn when(ms: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return ms.to_string();
    };
    let fmt =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] +08:00");
    t.to_offset(time::macros::offset!(+8))
        .format(&fmt)
        .unwrap_or_else(|_| ms.to_string())
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
            let a = NewRecordPlace {
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
                            when(e.time_ms),
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
        }
        Command::Resolve { id: i, path, value } => {
            let i = id(&i)?;
            core.resolve_conflict_text(&i, &path, &value)?;
            out(json, json!({"id": i, "path": path, "ok": true}), || {
                format!("{path} resolved")
            });
        }
        Command::Photo(cmd) => photo(&core, json, cmd)?,
        Command::Enroll { url, code, label } => {
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
        }
        Command::Assignments => {
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
        }
        Command::Start { assignment } => {
            let s = core.create_record_for(&assignment)?;
            out(json, serde_json::to_value(&s)?, || s.id.clone());
        }
        Command::Refused { id: i, all } => {
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
        }
        Command::Dismiss { refused_edit } => {
            core.dismiss_refused_edit(refused_edit)?;
            out(json, json!({"id": refused_edit, "dismissed": true}), || {
                format!("refused edit #{refused_edit} dismissed")
            });
        }
        Command::Discard { id: i } => {
            let i = id(&i)?;
            core.discard_record(&i)?;
            out(json, json!({"id": i, "discarded": true}), || {
                format!("record {i} removed from this device (its edits: jingtu refused --all)")
            });
        }
        Command::Sync => {
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
        }
        Command::Status => {
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
        }
    }
    Ok(())
}

fn photo(core: &DeviceCore, json: bool, cmd: PhotoCommand) -> Result<()> {
    match cmd {
        PhotoCommand::Add {
            id,
            path,
            file,
            tag,
            note,
            lat,
            lon,
            accuracy,
            stamp,
            no_stamp,
        } => {
            let id = core.resolve_id(&id)?;
            let field = match path.trim() {
                "" | "-" | "." => None,
                p => Some(p.to_string()),
            };
            let new = NewPhoto {
                tag,
                field,
                note,
                lat,
                lon,
                accuracy_m: accuracy,
                taken_at_ms: None,
                stamp: match (stamp, no_stamp) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
            };
            let p = core.add_photo(&id, PhotoSource::Path(&file), &new)?;
            out(json, serde_json::to_value(&p)?, || {
                format!(
                    "photo {} ({} {}x{}, {} bytes) added to {}\nsha256 {}",
                    p.entry.id,
                    p.tag_label.zh,
                    p.entry.width,
                    p.entry.height,
                    p.entry.size,
                    id,
                    p.entry.sha256
                )
            });
        }
        PhotoCommand::List { id, all } => {
            let id = core.resolve_id(&id)?;
            let photos = core.photos(&id, all)?;
            let missing = core.view(&id)?.missing_photos;
            out(
                json,
                json!({"id": id, "photos": photos, "missing": missing}),
                || photo_table(&photos, &missing),
            );
        }
        PhotoCommand::Get {
            hash,
            out: file,
            thumb,
        } => {
            let bytes = core.photo_bytes(&hash, thumb)?;
            std::fs::write(&file, &bytes).with_context(|| format!("writing {}", file.display()))?;
            out(
                json,
                json!({"sha256": hash, "file": file, "bytes": bytes.len(), "thumbnail": thumb}),
                || format!("{} bytes written to {}", bytes.len(), file.display()),
            );
        }
        PhotoCommand::Remove { id, photo_id } => {
            let id = core.resolve_id(&id)?;
            core.remove_photo(&id, &photo_id)?;
            out(
                json,
                json!({"id": id, "photo_id": photo_id, "removed": true}),
                || format!("photo {photo_id} removed"),
            );
        }
    }
    Ok(())
}

fn photo_table(photos: &[RecordPhoto], missing: &[jingtu_core::MissingPhoto]) -> String {
    let mut lines: Vec<String> = photos
        .iter()
        .map(|p| {
            let e = &p.entry;
            let pos = match (e.lat, e.lon) {
                (Some(lat), Some(lon)) => format!("{lat:.5},{lon:.5}"),
                _ => "-".into(),
            };
            format!(
                "{}  {:12} {:24} {:8} {}  {}{}",
                e.id,
                e.tag,
                e.field.as_deref().unwrap_or("-"),
                e.size,
                pos,
                &e.sha256.as_str()[..12],
                if e.removed.is_some() {
                    "  (removed)"
                } else {
                    ""
                }
            )
        })
        .collect();
    if photos.is_empty() {
        lines.push("no photos".into());
    }
    for m in missing {
        lines.push(format!(
            "missing: {} {} ({})",
            m.tag, m.label.zh, m.label.en
        ));
    }
    lines.join("\n")
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
    if !v.photos.is_empty() {
        s.push_str(&format!(
            "{} photo(s): run `jingtu photo list {}`\n",
            v.photos.len(),
            v.id
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
