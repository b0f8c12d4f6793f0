//! `jingtu-sim-device STORE_DIR`: one field device of the seeded simulation
//! (`tests/tests/simulation.rs`). It opens the device store in STORE_DIR (enrolled by the
//! driver beforehand), prints `ready JSON`, then reads one command per line on stdin, runs it,
//! and prints one answer line on stdout (`ok JSON` or `err CODE MESSAGE`, see
//! [`jingtu_e2e::sim::Answer`]), flushed, before it reads the next. The driver kills it with
//! SIGKILL whenever it likes; an answer printed is an operation the store made durable.
//!
//! Commands (ID: a record id; JSON: one JSON value, the rest of the line):
//!
//! | command | does | answers |
//! |---|---|---|
//! | `create KIND ORG ASG` | `create_record` in org unit ORG, of assignment ASG (`-`: none) | `{"id"}` |
//! | `set ID PATH JSON` | `set_field` | `{}` |
//! | `check ID ITEM RESULT ISSUE` | `set_checklist_item` (ISSUE `-`: none; the rest of the line) | `{}` |
//! | `append ID PATH JSON` | `append_item` | `{"index"}` |
//! | `fill ID JSON` | `set_field` of each key of the object, in order | `{}` |
//! | `photo ID SEED TAG FIELD` | `add_photo` of `test_jpeg(SEED, 320, 240)` (FIELD `-`: the record) | `{"photo_id", "sha256"}` |
//! | `unphoto ID PHOTO_ID` | `remove_photo` | `{}` |
//! | `submit ID` | `submit` | `{"status"}` |
//! | `resolve ID` | resolves the first conflict with a value not shown now | `{"path", "value"}` |
//! | `sync` | a sync with a quick client | `{"report", "ids"}` |
//! | `ids` | the records held | `{"ids"}` |
//! | `dump` | everything the oracle compares, see [`dump`] | `{...}` |
//! | `quit` | ends | `{}` |

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Duration;

use jingtu_core::{
    ClientError, ClientOptions, CoreError, DeviceCore, ItemResult, ListFilter, NewPhoto,
    NewRecordPlace, PhotoSource,
};
use jingtu_e2e::sim::{Answer, changes_digest};
use jingtu_e2e::test_jpeg;
use serde_json::{Value, json};

type Outcome = Result<Value, (String, String)>;

fn say(answer: &Answer) {
    // One write of the whole line, so a kill never leaves half a line in the pipe.
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(answer.to_line().as_bytes());
    let _ = out.flush();
}

fn code(e: &CoreError) -> &'static str {
    match e {
        CoreError::NotFound(_) => "not_found",
        CoreError::Ambiguous { .. } => "ambiguous",
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
        CoreError::PhotoNotFound(_) => "photo_not_found",
        CoreError::BadPhoto(_) => "bad_photo",
        CoreError::NoServer => "no_server",
        CoreError::Sync(_) => "sync",
        CoreError::Cancelled => "cancelled",
    }
}

/// The code of an error: the core's kind, and for sync errors what the client met
/// (`network`, `refused_STATUS_CODE`, `bad_answer`).
fn core_err(e: CoreError) -> (String, String) {
    let code = match &e {
        CoreError::Sync(ClientError::Network(_)) => "network".to_string(),
        CoreError::Sync(ClientError::Refused { status, code, .. }) => {
            format!("refused_{status}_{code}")
        }
        CoreError::Sync(ClientError::BadAnswer(_)) => "bad_answer".to_string(),
        other => code(other).to_string(),
    };
    (code, e.to_string())
}

fn usage(msg: impl Into<String>) -> (String, String) {
    ("usage".to_string(), msg.into())
}

fn json_arg(s: &str) -> Result<Value, (String, String)> {
    serde_json::from_str(s).map_err(|e| usage(format!("bad JSON {s:?}: {e}")))
}

/// A client that gives up quickly: the driver cuts the network on purpose, and a sync that
/// fails is simply not acknowledged.
fn quick_options() -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(2),
        attempts: 2,
        backoff_start: Duration::from_millis(30),
        backoff_max: Duration::from_millis(100),
        // Small parts, so that a cut lands in the middle of an upload and it resumes.
        photo_part_bytes: 4 * 1024,
    }
}

fn ids(core: &DeviceCore) -> Result<Vec<String>, (String, String)> {
    let mut v: Vec<String> = core
        .list(&ListFilter::default())
        .map_err(core_err)?
        .into_iter()
        .map(|s| s.id)
        .collect();
    v.sort();
    Ok(v)
}

/// Splits `n` words off the front of `rest`; the last item is what remains (maybe empty).
fn words(rest: &str, n: usize) -> Vec<&str> {
    let mut out = Vec::with_capacity(n + 1);
    let mut r = rest;
    for _ in 0..n {
        let r2 = r.trim_start();
        match r2.split_once(' ') {
            Some((w, tail)) => {
                out.push(w);
                r = tail;
            }
            None => {
                out.push(r2);
                r = "";
            }
        }
    }
    out.push(r.trim());
    out
}

fn opt(w: &str) -> Option<String> {
    (w != "-" && !w.is_empty()).then(|| w.to_string())
}

fn run(core: &DeviceCore, cmd: &str, rest: &str) -> Outcome {
    let ce = core_err;
    match cmd {
        "create" => {
            let w = words(rest, 3);
            let place = NewRecordPlace {
                org_unit: opt(w[1]),
                assignment_id: opt(w[2]),
                ..Default::default()
            };
            let s = core.create_record(w[0], &place).map_err(ce)?;
            Ok(json!({"id": s.id}))
        }
        "set" => {
            let w = words(rest, 2);
            core.set_field(w[0], w[1], &json_arg(w[2])?).map_err(ce)?;
            Ok(json!({}))
        }
        "check" => {
            let w = words(rest, 3);
            let issue = opt(w[3]);
            let result = ItemResult::parse(w[2])
                .ok_or_else(|| usage(format!("not a checklist result: {:?}", w[2])))?;
            core.set_checklist_item(w[0], w[1], result, issue.as_deref())
                .map_err(ce)?;
            Ok(json!({}))
        }
        "append" => {
            let w = words(rest, 2);
            let index = core.append_item(w[0], w[1], &json_arg(w[2])?).map_err(ce)?;
            Ok(json!({"index": index}))
        }
        "fill" => {
            let w = words(rest, 1);
            let Value::Object(fields) = json_arg(w[1])? else {
                return Err(usage("fill takes a JSON object"));
            };
            for (k, v) in &fields {
                core.set_field(w[0], k, v).map_err(ce)?;
            }
            Ok(json!({}))
        }
        "photo" => {
            let w = words(rest, 4);
            let seed: u32 = w[1].parse().map_err(|_| usage("SEED is a number"))?;
            let bytes = test_jpeg(seed, 320, 240);
            let photo = NewPhoto {
                tag: w[2].to_string(),
                field: opt(w[3]),
                lat: Some(33.4886),
                lon: Some(112.4313),
                accuracy_m: Some(4.0),
                // No stamp: the same seed gives the same stored bytes, hence one blob.
                stamp: Some(false),
                ..Default::default()
            };
            let added = core
                .add_photo(w[0], PhotoSource::Bytes(&bytes), &photo)
                .map_err(ce)?;
            Ok(json!({"photo_id": added.entry.id, "sha256": added.entry.sha256}))
        }
        "unphoto" => {
            let w = words(rest, 2);
            core.remove_photo(w[0], w[1]).map_err(ce)?;
            Ok(json!({}))
        }
        "submit" => {
            let w = words(rest, 1);
            let s = core.submit(w[0]).map_err(ce)?;
            Ok(json!({"status": s.status}))
        }
        "resolve" => {
            let w = words(rest, 1);
            let conflicts = core.conflicts(w[0]).map_err(ce)?;
            let Some(c) = conflicts.first() else {
                return Err(("no_conflict".into(), format!("{} has no conflict", w[0])));
            };
            let pick = c
                .values
                .iter()
                .find(|v| !v.shown)
                .or(c.values.first())
                .ok_or_else(|| ("no_conflict".to_string(), "no values".to_string()))?;
            core.resolve_conflict(w[0], &c.path, &pick.value)
                .map_err(ce)?;
            Ok(json!({"path": c.path, "value": pick.value}))
        }
        "sync" => {
            let client = core.client(quick_options()).map_err(ce)?;
            let report = core.sync_with(&client, &mut |_| true).map_err(ce)?;
            Ok(json!({"report": report, "ids": ids(core)?}))
        }
        "ids" => Ok(json!({"ids": ids(core)?})),
        "dump" => dump(core),
        other => Err(usage(format!("unknown command {other:?}"))),
    }
}

/// Everything the oracle compares: per record its data, status, events, every photo entry
/// (removed ones too) with whether the thumbnail or image is here, the digest and count of its
/// changes, conflicts, and its sync state; the store's sync status; every refused edit
/// (dismissed ones too); the assignments held.
fn dump(core: &DeviceCore) -> Outcome {
    let ce = core_err;
    let mut records = serde_json::Map::new();
    for id in ids(core)? {
        let view = core.view(&id).map_err(ce)?;
        let photos = core.photos(&id, true).map_err(ce)?;
        let history = core.history(&id).map_err(ce)?;
        let state = core.record_sync_state(&id).map_err(ce)?;
        let digest = changes_digest(history.iter().map(|h| h.hash.as_str()));
        records.insert(
            id.clone(),
            json!({
                "kind": view.kind,
                "status": view.status,
                "meta": view.meta,
                "data": view.data,
                "events": view.events,
                "photos": photos.iter().map(|p| json!({
                    "entry": p.entry,
                    "has_thumb": p.has_thumb,
                    "has_full": p.has_full,
                })).collect::<Vec<_>>(),
                "changes": history.len(),
                "digest": digest,
                "conflicts": view.conflicts,
                "pending_upload": state.pending_upload,
                "held": state.held,
                "photos_pending": state.photos_pending,
            }),
        );
    }
    let status = core.sync_status().map_err(ce)?;
    let refused: Vec<Value> = core
        .refused_edits(None, true)
        .map_err(ce)?
        .into_iter()
        .map(|r| {
            json!({
                "id": r.id,
                "record": r.record_id,
                "code": r.code,
                "rule": r.rule,
                "path": r.path,
                "message": r.message,
                "local_json": r.local_json,
            })
        })
        .collect();
    let assignments: Vec<String> = core
        .assignments()
        .map_err(ce)?
        .into_iter()
        .map(|a| a.id)
        .collect();
    Ok(json!({
        "device": core.device_id(),
        "user": core.user(),
        "records": records,
        "sync_status": status,
        "refused": refused,
        "assignments": assignments,
    }))
}

fn main() {
    let Some(dir) = std::env::args().nth(1).map(PathBuf::from) else {
        eprintln!("usage: jingtu-sim-device STORE_DIR");
        std::process::exit(2);
    };
    let core = match DeviceCore::open(&dir) {
        Ok(c) => c,
        Err(e) => {
            say(&Answer::Err {
                code: code(&e).into(),
                message: format!("opening {}: {e}", dir.display()),
            });
            std::process::exit(1);
        }
    };
    let records = core.count().unwrap_or(0);
    {
        let mut out = std::io::stdout().lock();
        let ready = json!({"device": core.device_id(), "user": core.user(), "records": records});
        let _ = out.write_all(format!("ready {ready}\n").as_bytes());
        let _ = out.flush();
    }
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
        if cmd == "quit" {
            say(&Answer::Ok(json!({})));
            break;
        }
        let answer = match run(&core, cmd, rest) {
            Ok(v) => Answer::Ok(v),
            Err((code, message)) => Answer::Err { code, message },
        };
        say(&answer);
    }
}
