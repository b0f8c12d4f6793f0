//! `jingtu`: a device store on the command line, for testers, pilots and scripts.
//!
//! Every command takes `--store DIR` (or `JINGTU_STORE`) and `--json`. Each command is a few
//! lines: parse, call one `jingtu-core` function, print.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use jingtu_core::{CoreError, DeviceCore, EventKind, ListFilter, RecordView, Status};
use serde_json::{Value, json};

mod custody;
mod ledger;
mod photos;
mod records;
mod sync;

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
        /// draft, submitted, returned or approved.
        #[arg(long, value_parser = parse_status)]
        status: Option<Status>,
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
    /// Review a submitted record (supervisors and admins): approve, return with comments,
    /// reopen an approved one, or comment.
    #[command(subcommand)]
    Review(ReviewCommand),
    /// A soil sample's chain of custody: show it verified, hand over, receive, add a step.
    #[command(subcommand)]
    Custody(CustodyCommand),
    /// County ledgers from the submitted and approved records on this device.
    #[command(subcommand)]
    Ledger(LedgerCommand),
}

/// The ledgers built from many records.
#[derive(Subcommand)]
enum LedgerCommand {
    /// Black-odorous water bodies (黑臭水体台账): each body's stage, latest classification,
    /// relapses (返黑返臭) and transitions the lifecycle refuses.
    WaterBodies,
    /// Sewage facilities against task 19's schedule (quarterly inspection, half-yearly
    /// monitoring, online monitoring deadlines): missed quarters listed.
    Facilities {
        /// The year (default: this year).
        #[arg(long)]
        year: Option<i32>,
        /// Judge the periods as of this day, YYYY-MM-DD (default: today).
        #[arg(long)]
        as_of: Option<String>,
    },
}

/// The steps of a soil sample's custody after its collection.
#[derive(Subcommand)]
enum CustodyCommand {
    /// The chain in its order, with what its verification found.
    Show { id: String },
    /// Hand over a batch of samples (交接): the receiver confirms with `receive`.
    Handover {
        /// The samples of the batch.
        #[arg(required = true)]
        ids: Vec<String>,
        /// The batch (the hand-over sheet's number).
        #[arg(long)]
        batch: String,
        /// Who receives it.
        #[arg(long)]
        to: String,
        #[arg(long)]
        to_org: Option<String>,
        /// Who hands it over (default: this device's user).
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        from_org: Option<String>,
        /// The seal is broken.
        #[arg(long)]
        seal_broken: bool,
        /// Samples that travel cold (at or below 4 °C).
        #[arg(long)]
        cold_chain: bool,
        /// °C, for cold-chain samples.
        #[arg(long)]
        temperature: Option<f64>,
        #[arg(long)]
        anomalies: Option<String>,
    },
    /// Confirm a batch received (接收), checked against its hand-over.
    Receive {
        #[arg(required = true)]
        ids: Vec<String>,
        #[arg(long)]
        batch: String,
        /// Samples received (default: those named).
        #[arg(long)]
        received: Option<u32>,
        #[arg(long)]
        seal_broken: bool,
        /// The labels were scanned (not typed).
        #[arg(long)]
        scanned: bool,
        #[arg(long)]
        temperature: Option<f64>,
        #[arg(long)]
        anomalies: Option<String>,
    },
    /// Give a sample its code by the template's rule (point code, layer, QC type).
    Code { id: String },
    /// The sample with this code (typed, or read from its label).
    Find { code: String },
    /// The sample's label: its code as a QR code with the code in text, to print (`--svg`
    /// FILE, any size; `--png` FILE, for a label printer).
    Label {
        id: String,
        #[arg(long)]
        svg: Option<std::path::PathBuf>,
        #[arg(long)]
        png: Option<std::path::PathBuf>,
        /// Pixels per QR module in the PNG (1 to 32).
        #[arg(long, default_value_t = 8)]
        module_px: u32,
    },
    /// The way from a fix to the sample's planned point: distance, bearing, the offset check.
    Guide {
        id: String,
        #[arg(long, allow_hyphen_values = true)]
        lat: f64,
        #[arg(long, allow_hyphen_values = true)]
        lon: f64,
        /// The fix's accuracy, metres.
        #[arg(long)]
        accuracy: Option<f64>,
    },
    /// The public key (hex ed25519) this device signs custody events with; the server
    /// registers it when the device enrolls.
    Key,
    /// The quality control of a batch (质控): field, blind and lab duplicates and reference
    /// materials among its samples on this device, against the template's ratios.
    Qc { batch: String },
    /// The hand-over sheet (交接单) of a batch: each sample of it on this device, handed over
    /// and received, with counts and seals; `--csv FILE` or `--xlsx FILE` writes it for a
    /// spreadsheet.
    Sheet {
        batch: String,
        #[arg(long)]
        csv: Option<std::path::PathBuf>,
        /// An Excel workbook (.xlsx) with Chinese headings.
        #[arg(long)]
        xlsx: Option<std::path::PathBuf>,
    },
    /// Add any step as JSON, e.g. '{"step": "fine_ground", "mesh": 100}' or
    /// '{"step": "lab_hand_in", "blind_code": "MB-7741", "lab": "市环境监测中心"}'.
    Add {
        #[arg(required = true)]
        ids: Vec<String>,
        #[arg(long)]
        step: String,
    },
}

/// What a supervisor can say about a record. A comment is `TEXT` for the whole record or
/// `PATH=TEXT` for a field or checklist item (`checklist.sewage_running=照片看不清`).
#[derive(Subcommand)]
enum ReviewCommand {
    /// Approve a submitted record (it is then locked).
    Approve {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Return a submitted record to its inspector with what to fix.
    Return {
        id: String,
        #[arg(long)]
        note: Option<String>,
        /// `TEXT` or `PATH=TEXT`; repeat for several.
        #[arg(long = "comment")]
        comments: Vec<String>,
    },
    /// Reopen an approved record, to correct it.
    Reopen {
        id: String,
        #[arg(long)]
        note: Option<String>,
        #[arg(long = "comment")]
        comments: Vec<String>,
    },
    /// Comment on a record without deciding.
    Comment {
        id: String,
        /// `TEXT` or `PATH=TEXT`.
        #[arg(required = true)]
        comments: Vec<String>,
    },
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

fn parse_status(s: &str) -> Result<Status, String> {
    Status::parse(s).ok_or_else(|| "one of draft, submitted, returned, approved".to_string())
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

/// The first `n` characters of `s` (a device id, a hash), cut at a character, never inside one.
fn short(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(i, _)| &s[..i])
}

fn out(json: bool, value: Value, human: impl FnOnce() -> String) {
    let text = if json { value.to_string() } else { human() };
    print_line(&text);
}

/// A progress bar on a terminal while records are read.
pub(crate) fn with_bar<T>(
    json: bool,
    what: &str,
    f: impl FnOnce(&mut dyn FnMut(u64, u64) -> bool) -> Result<T, jingtu_core::CoreError>,
) -> Result<T> {
    let bar = (!json).then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_message(what.to_string());
        b
    });
    let got = f(&mut |done, total| {
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(done);
        }
        true
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(got?)
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
    match cli.command {
        Command::Init { user } => records::init(&core, json, user)?,
        Command::Templates => records::templates(&core, json)?,
        Command::New {
            kind,
            org_unit,
            village,
            point,
            assignment,
        } => records::new(&core, json, kind, org_unit, village, point, assignment)?,
        Command::Set { id: i, path, value } => records::set(&core, json, i, path, value)?,
        Command::Clear { id: i, path } => records::clear(&core, json, i, path)?,
        Command::Append { id: i, path, item } => records::append(&core, json, i, path, item)?,
        Command::Check {
            id: i,
            item,
            result,
            issue,
        } => records::check(&core, json, i, item, result, issue)?,
        Command::Show { id: i } => records::show_record(&core, json, i)?,
        Command::List {
            kind,
            status,
            org_unit,
            village,
            search,
            limit,
        } => records::list(
            &core,
            json,
            ListFilter {
                kind,
                status,
                org_unit,
                village,
                text: search,
                limit,
                ..Default::default()
            },
        )?,
        Command::Submit { id: i } => records::submit(&core, json, i)?,
        Command::History { id: i } => records::history(&core, json, i)?,
        Command::Export { id: i, file } => records::export(&core, json, i, file)?,
        Command::Import { file } => records::import(&core, json, file)?,
        Command::Conflicts { id: i } => records::conflicts(&core, json, i)?,
        Command::Resolve { id: i, path, value } => records::resolve(&core, json, i, path, value)?,
        Command::Photo(cmd) => photos::photo(&core, json, cmd)?,
        Command::Enroll { url, code, label } => sync::enroll(&core, json, url, code, label)?,
        Command::Assignments => sync::assignments(&core, json)?,
        Command::Start { assignment } => sync::start(&core, json, assignment)?,
        Command::Refused { id: i, all } => sync::refused(&core, json, i, all)?,
        Command::Dismiss { refused_edit } => sync::dismiss(&core, json, refused_edit)?,
        Command::Discard { id: i } => sync::discard(&core, json, i)?,
        Command::Sync => sync::sync(&core, json)?,
        Command::Status => sync::status(&core, json)?,
        Command::Review(cmd) => records::review(&core, json, cmd)?,
        Command::Ledger(LedgerCommand::WaterBodies) => ledger::water_bodies(&core, json)?,
        Command::Ledger(LedgerCommand::Facilities { year, as_of }) => {
            ledger::facilities(&core, json, year, as_of)?
        }
        Command::Custody(cmd) => custody::custody(&core, json, cmd)?,
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
    if let Some(e) = v
        .events
        .iter()
        .rev()
        .find(|e| e.kind != EventKind::Submitted)
    {
        s.push_str(&format!(
            "{} by {} at {}{}\n",
            e.kind.as_str(),
            e.author,
            when(e.at_ms),
            e.note
                .as_deref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default()
        ));
    }
    if !v.to_fix.is_empty() {
        s.push_str("to fix (待整改):\n");
        for c in &v.to_fix {
            s.push_str(&format!(
                "  {}: {} ({}, {})\n",
                c.path.as_deref().unwrap_or("(whole record)"),
                c.text,
                c.by,
                when(c.at_ms)
            ));
        }
    } else if !v.comments.is_empty() {
        s.push_str(&format!(
            "{} review comment(s); --json lists them\n",
            v.comments.len()
        ));
    }
    s.trim_end().to_string()
}
