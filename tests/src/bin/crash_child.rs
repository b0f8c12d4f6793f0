//! `jingtu-crash-child STORE_DIR [FIRST_SEQ] [edits|photos]`: opens a device store and edits
//! records in it until it is killed, reporting on stdout what it is about to do and what the
//! store has confirmed (see [`jingtu_e2e::ChildLine`]). `tests/tests/crash.rs` kills it with
//! SIGKILL at random moments and checks that every edit reported `done` survived.
//!
//! It keeps two records in hand: the oldest one in the store (edited by every third write,
//! across runs, so it grows past the compaction threshold and some kills land in a
//! compaction) and the newest one (replaced by a fresh record every 20 edits). The writes
//! cycle through a number field, a text field typed as text, a checklist item and an append
//! to the inspectors list. Every value carries a sequence number counted from FIRST_SEQ, so
//! no two writes put the same value anywhere.
//!
//! In the `photos` mode it adds evidence photos instead (see [`jingtu_e2e::PhotoLine`]), one
//! call per sequence number: 640x480 JPEGs made by [`test_jpeg`] with the sequence number as
//! seed, on the whole record or on a checklist item. Every third one repeats the seed of two
//! calls back (the same bytes, which the store keeps once), and every fifth call
//! removes the oldest live photo of the record instead. The newest record takes the photos
//! until it holds 10 entries, then a fresh one is made.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use jingtu_core::{DeviceCore, ItemResult, ListFilter, NewPhoto, NewRecordPlace, PhotoSource};
use jingtu_e2e::{ChildLine, PhotoLine, test_jpeg};
use serde_json::{Value, json};

const KINDS: [&str; 2] = ["village_inspection", "sewage_facility_inspection"];
const EDITS_PER_NEW_RECORD: u64 = 20;
const VILLAGE_ITEMS: [&str; 6] = [
    "clean_garbage",
    "clean_sewage",
    "disorder_stacking",
    "toilet_septic_intact",
    "waste_bins",
    "water_source_fence",
];
const SEWAGE_ITEMS: [&str; 4] = [
    "running_normally",
    "sludge_handled",
    "no_leak_overflow",
    "inlet_outlet_clear",
];
const RESULTS: [&str; 3] = ["pass", "fail", "na"];
const PHOTOS_PER_RECORD: usize = 10;
const PHOTO_TAGS: [&str; 3] = ["before", "after", "team"];

struct Record {
    id: String,
    kind: String,
    inspectors: usize,
}

fn say(line: ChildLine) -> Result<()> {
    // One write of the whole line, so a kill never leaves half a line in the pipe.
    let mut out = std::io::stdout().lock();
    out.write_all(line.to_line().as_bytes())?;
    out.flush()?;
    Ok(())
}

fn create(core: &DeviceCore, n: usize) -> Result<Record> {
    let kind = KINDS[n % KINDS.len()];
    say(ChildLine::Creating { kind: kind.into() })?;
    let assignment = NewRecordPlace {
        org_unit: Some("411321".into()),
        village: Some("杨树沟村".into()),
        ..Default::default()
    };
    let s = core
        .create_record(kind, &assignment)
        .with_context(|| format!("creating a {kind}"))?;
    say(ChildLine::Created {
        id: s.id.clone(),
        kind: s.kind.clone(),
    })?;
    Ok(Record {
        id: s.id,
        kind: s.kind,
        inspectors: 0,
    })
}

fn pick_up(core: &DeviceCore, id: &str) -> Result<Record> {
    let v = core.view(id).with_context(|| format!("viewing {id}"))?;
    let inspectors = v
        .data
        .get("inspectors")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    Ok(Record {
        id: v.id,
        kind: v.kind,
        inspectors,
    })
}

/// One write of a value carrying `seq` on `r`, of the kind chosen by `op`, announced by a
/// `try` line and confirmed by a `done` line.
fn write(core: &DeviceCore, r: &mut Record, op: u64, seq: u64) -> Result<()> {
    let village = r.kind == "village_inspection";
    let (path, value): (String, Value) = match op % 4 {
        0 if village => ("indicators.households_total".into(), json!(seq % 100_001)),
        0 => (
            "design_capacity_t_d".into(),
            json!((seq % 100_000) as f64 + 0.25),
        ),
        1 => ("notes".into(), json!(format!("巡查记录 第 {seq} 条"))),
        2 => {
            let items: &[&str] = if village {
                &VILLAGE_ITEMS
            } else {
                &SEWAGE_ITEMS
            };
            let item = items[(seq as usize / 4) % items.len()];
            let result = RESULTS[(seq as usize / 3) % RESULTS.len()];
            (
                format!("checklist.{item}"),
                json!({"result": result, "issue": format!("问题 {seq}")}),
            )
        }
        _ => (
            format!("inspectors.{}", r.inspectors),
            json!(format!("巡查员{seq}")),
        ),
    };
    say(ChildLine::Try {
        id: r.id.clone(),
        path: path.clone(),
        value: value.clone(),
    })?;
    let context = || format!("writing {value} at {path} of {}", r.id);
    let path = match op % 4 {
        1 => {
            core.set_field_text(&r.id, &path, value.as_str().unwrap_or_default())
                .with_context(context)?;
            path
        }
        2 => {
            let item = path.trim_start_matches("checklist.");
            core.set_checklist_item(
                &r.id,
                item,
                value["result"]
                    .as_str()
                    .and_then(ItemResult::parse)
                    .unwrap_or(ItemResult::NotApplicable),
                value["issue"].as_str(),
            )
            .with_context(context)?;
            path
        }
        3 => {
            let index = core
                .append_item(&r.id, "inspectors", &value)
                .with_context(context)?;
            r.inspectors = index + 1;
            format!("inspectors.{index}")
        }
        _ => {
            core.set_field(&r.id, &path, &value).with_context(context)?;
            path
        }
    };
    say(ChildLine::Done {
        id: r.id.clone(),
        path,
        value,
    })
}

fn say_photo(line: PhotoLine) -> Result<()> {
    // One write of the whole line, so a kill never leaves half a line in the pipe.
    let mut out = std::io::stdout().lock();
    out.write_all(line.to_line().as_bytes())?;
    out.flush()?;
    Ok(())
}

fn create_for_photos(core: &DeviceCore) -> Result<String> {
    say_photo(PhotoLine::Creating)?;
    let id = core
        .create_record("village_inspection", &NewRecordPlace::default())
        .context("creating a village_inspection")?
        .id;
    say_photo(PhotoLine::Created { id: id.clone() })?;
    Ok(id)
}

/// The photo mode: adds (and now and then removes) photos until killed.
fn photos(core: &DeviceCore, first_seq: u64) -> Result<()> {
    let records = core.list(&ListFilter::default())?;
    say_photo(PhotoLine::Ready {
        records: records.len() as u64,
    })?;
    let mut id = match records
        .iter()
        .max_by_key(|s| (s.created_at_ms, s.id.clone()))
    {
        Some(s) => s.id.clone(),
        None => create_for_photos(core)?,
    };
    let entries = core.photos(&id, true)?;
    // Photo entries of the record in hand (removed ones too), and its live ones, oldest first.
    let mut on_record = entries.len();
    let mut live: Vec<String> = entries
        .into_iter()
        .filter(|p| p.entry.removed.is_none())
        .map(|p| p.entry.id)
        .collect();
    for seq in first_seq.. {
        if on_record >= PHOTOS_PER_RECORD {
            id = create_for_photos(core)?;
            live.clear();
            on_record = 0;
        }
        if seq % 5 == 0 && !live.is_empty() {
            let photo_id = live.remove(0);
            say_photo(PhotoLine::Removing {
                id: id.clone(),
                photo_id: photo_id.clone(),
            })?;
            core.remove_photo(&id, &photo_id)
                .with_context(|| format!("removing photo {photo_id} of {id}"))?;
            say_photo(PhotoLine::Removed {
                id: id.clone(),
                photo_id,
            })?;
            continue;
        }
        // Every third photo repeats the seed of two calls back (perhaps in an earlier run,
        // in another record, or already removed): the same bytes, one stored blob.
        let seed = if seq % 3 == 2 && seq > 2 {
            seq - 2
        } else {
            seq
        };
        let seed = u32::try_from(seed).context("seed out of range")?;
        let field = (seq % 2 == 1).then(|| {
            format!(
                "checklist.{}",
                VILLAGE_ITEMS[(seq as usize / 2) % VILLAGE_ITEMS.len()]
            )
        });
        let photo = NewPhoto {
            tag: PHOTO_TAGS[(seq / 3 % 3) as usize].into(),
            field: field.clone(),
            lat: Some(34.7466),
            lon: Some(113.6253),
            accuracy_m: Some(4.0),
            // No stamp: the same seed gives the same stored bytes, hence one blob.
            stamp: Some(false),
            ..Default::default()
        };
        let bytes = test_jpeg(seed, 640, 480);
        say_photo(PhotoLine::Adding {
            id: id.clone(),
            seed,
            field,
        })?;
        let added = core
            .add_photo(&id, PhotoSource::Bytes(&bytes), &photo)
            .with_context(|| format!("adding photo {seed} to {id}"))?;
        live.push(added.entry.id.clone());
        on_record += 1;
        say_photo(PhotoLine::Added {
            id: id.clone(),
            photo_id: added.entry.id,
            sha256: added.entry.sha256.to_string(),
        })?;
    }
    Ok(())
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: jingtu-crash-child STORE_DIR [FIRST_SEQ] [edits|photos]";
    let Some(dir) = args.next().map(PathBuf::from) else {
        bail!(usage);
    };
    let first_seq: u64 = match args.next() {
        Some(s) => s.parse().context("FIRST_SEQ must be a number")?,
        None => 1,
    };
    let photo_mode = match args.next().as_deref() {
        None | Some("edits") => false,
        Some("photos") => true,
        Some(other) => bail!("unknown mode {other:?}; {usage}"),
    };
    let core =
        DeviceCore::open(&dir).with_context(|| format!("opening the store {}", dir.display()))?;
    if photo_mode {
        return photos(&core, first_seq);
    }
    let records = core.list(&ListFilter::default())?;
    say(ChildLine::Ready {
        records: records.len() as u64,
    })?;
    let by_age = |a: &&jingtu_core::RecordSummary| (a.created_at_ms, a.id.clone());
    let mut created = records.len();
    let mut oldest = match records.iter().min_by_key(by_age) {
        Some(s) => pick_up(&core, &s.id)?,
        None => {
            created += 1;
            create(&core, created - 1)?
        }
    };
    let mut newest = match records.iter().max_by_key(by_age) {
        Some(s) if s.id != oldest.id => pick_up(&core, &s.id)?,
        _ => {
            created += 1;
            create(&core, created - 1)?
        }
    };
    let mut on_newest = 0;
    for op in 0u64.. {
        let seq = first_seq + op;
        if op % 3 == 2 {
            write(&core, &mut oldest, op, seq)?;
        } else {
            if on_newest == EDITS_PER_NEW_RECORD {
                created += 1;
                newest = create(&core, created - 1)?;
                on_newest = 0;
            }
            write(&core, &mut newest, op, seq)?;
            on_newest += 1;
        }
    }
    Ok(())
}
