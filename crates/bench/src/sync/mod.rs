//! Suite `sync`: device stores syncing with a real `jingtu-server` process on loopback (the
//! binary next to `jingtu-bench`), a fresh server and data directory for each measurement.
//!
//! - first sync of 1,000 records (`--records`), about 30 fields each, two ~200 KB photos on
//!   every tenth record: wall time, and round trips and bytes of the record data (push and pull,
//!   counted up to the first photo progress) apart from the photo uploads;
//! - incremental sync: a device holding 10,000 synced records (`--held`) changes one field and
//!   syncs (median of `--edits` runs, default 30);
//! - 100 inspectors' phones (`--devices`): each its own inspector user in a township, enrolled
//!   with its own one-time code, with its own store and client, holding 10 new records
//!   (`--per-device`) of its township, start their syncs together: records per second, per-sync
//!   latency, failed syncs. The server's scoped sync sends each phone only its user's records
//!   (here: none it does not hold already). A new device with the admin's token then pulls every
//!   record.

use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use jingtu_core::{
    ClientOptions, Counters, DeviceCore, NewPhoto, NewRecordPlace, PhotoSource, SyncPhase,
    SyncReport,
};
use jingtu_doc::ActorId;
use rayon::prelude::*;
use serde_json::json;

use crate::{Cli, Report, percentile, progress};

mod concurrent;
mod fixtures;
mod server;

pub(crate) use fixtures::{COUNTY, TOWNSHIPS, inspection_fields, township_code, village};
use fixtures::{FAILED_ITEM, fill_inspection, noisy_photo, open_device};
pub(crate) use server::Server;
use server::server_exe;

/// A request that pushes `pushes` from `device` with a cursor past the end of the feed, so
/// that nothing comes back: what the server alone takes in.
pub(crate) fn push_only_request(
    device: String,
    pushes: Vec<jingtu_protocol::Push>,
) -> jingtu_protocol::SyncRequest {
    jingtu_protocol::SyncRequest {
        protocol: jingtu_protocol::PROTOCOL_VERSION,
        device,
        cursor: i64::MAX as u64,
        pushes,
        max_response_bytes: None,
        scope_seq: 0,
        scope_target: None,
        scope_after: None,
        catalog: None,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The metrics, printed together once every part ran.
#[derive(Default)]
struct Metrics(Vec<(&'static str, f64, &'static str)>);

impl Metrics {
    fn add(&mut self, name: &'static str, value: f64, unit: &'static str) {
        self.0.push((name, value, unit));
    }
    fn get(&self, name: &str) -> f64 {
        self.0
            .iter()
            .find(|m| m.0 == name)
            .map(|m| m.1)
            .unwrap_or(f64::NAN)
    }
}

pub(crate) fn sync_suite(cli: &Cli) -> Result<()> {
    let report = Report {
        json: cli.json,
        suite: "sync",
    };
    let records = cli.records.unwrap_or(1_000).max(1);
    let runs = cli.edits.unwrap_or(30).max(1);
    let devices = cli.devices.unwrap_or(100).max(1);
    let per_device = cli.per_device.max(1);
    server_exe()?;
    let run = |part: &str| cli.only.is_empty() || cli.only.iter().any(|p| p == part);
    if let Some(p) = cli
        .only
        .iter()
        .find(|p| !["first", "incremental", "concurrent"].contains(&p.as_str()))
    {
        bail!("--only takes first, incremental, concurrent; not '{p}'");
    }
    let started = Instant::now();
    let mut m = Metrics::default();
    if run("first") {
        first_sync(records, &mut m)?;
    }
    if run("incremental") {
        incremental(cli.held.max(1), runs, &mut m)?;
    }
    if run("concurrent") {
        concurrent::concurrent(devices, per_device, &mut m)?;
    }
    eprintln!(
        "\nsync suite: first sync of {records} records, incremental sync holding {} records \
         ({runs} runs), {devices} devices x {per_device} records; {:.1} s in all",
        cli.held,
        started.elapsed().as_secs_f64()
    );
    for (name, value, unit) in &m.0 {
        report.metric(name, *value, unit);
    }
    let mb = |b: f64| b / 1e6;
    eprintln!("\ngoals (for reference, not asserted):");
    eprintln!(
        "  incremental: <= 2 KB on the wire, 1 round trip, <= 30 ms    measured {:.0} bytes, {} round trip(s), {:.1} ms",
        m.get("incremental_bytes_total"),
        m.get("incremental_round_trips"),
        m.get("incremental_ms"),
    );
    eprintln!(
        "  first sync:  record data <= 0.5 MB, <= 10 round trips, <= 1 s    measured {:.3} MB up + {:.3} MB down, {} round trips, {:.2} s for the records ({:.2} s with the photos)",
        mb(m.get("first_sync_1000_bytes_up")),
        mb(m.get("first_sync_1000_bytes_down")),
        m.get("first_sync_1000_round_trips"),
        m.get("first_sync_1000_records_s"),
        m.get("first_sync_1000_s"),
    );
    eprintln!(
        "  concurrent:  >= 500 records/s, 0 errors    measured {:.0} records/s, {} errors",
        m.get("concurrent_records_per_s"),
        m.get("concurrent_errors"),
    );
    Ok(())
}

/// (a) The first sync of a device with `n` filled records, photos on every tenth.
fn first_sync(n: usize, m: &mut Metrics) -> Result<()> {
    let server = Server::start()?;
    let tmp = tempfile::tempdir()?;
    let core = open_device(&tmp.path().join("device"), "王建军")?;
    let (ids, fields) = filled_inspections(&core, n)?;
    let (total_photos, stored) = photograph_failed_items(&core, &ids)?;

    core.set_server(&server.url, &server.admin_token)?;
    let client = core.client(ClientOptions::default())?;
    eprintln!("first sync: syncing {n} records and {total_photos} photos");
    let t = Instant::now();
    // Counters and time at the last push/pull progress, frozen at the first photo progress.
    let mut records_part: Option<(Counters, Duration)> = None;
    let mut last = (Counters::default(), Duration::ZERO);
    let r = core.sync_with(&client, &mut |p| {
        if matches!(p.phase, SyncPhase::Push | SyncPhase::Pull) {
            last = (client.counters(), t.elapsed());
        } else if records_part.is_none() {
            records_part = Some(last);
        }
        true
    })?;
    let wall = t.elapsed();
    let total = client.counters();
    let (rec, rec_time) = records_part.unwrap_or((total, wall));
    let (server_sync_s, _) = server.handled("/v1/sync")?;
    let (server_photo_s, _) = server.handled("/v1/photos/{hash}")?;
    ensure!(
        r.refused.is_empty(),
        "the server refused {} record(s): {:?}",
        r.refused.len(),
        r.refused.first()
    );
    ensure!(
        r.records_pushed == n as u64 && r.photos_uploaded == total_photos as u64,
        "pushed {} of {n} records and {} of {total_photos} photos",
        r.records_pushed,
        r.photos_uploaded
    );
    let status = core.sync_status()?;
    ensure!(
        status.records_pending == 0 && status.photos_pending == 0,
        "after the sync {} records and {} photos still wait",
        status.records_pending,
        status.photos_pending
    );

    m.add("first_sync_1000_s", wall.as_secs_f64(), "s");
    m.add(
        "first_sync_1000_round_trips",
        rec.round_trips as f64,
        "count",
    );
    m.add("first_sync_1000_bytes_up", rec.bytes_up as f64, "bytes");
    m.add("first_sync_1000_bytes_down", rec.bytes_down as f64, "bytes");
    m.add(
        "first_sync_1000_photo_bytes",
        r.photo_bytes_uploaded as f64,
        "bytes",
    );
    m.add("first_sync_1000_records_s", rec_time.as_secs_f64(), "s");
    m.add(
        "first_sync_1000_photos_s",
        (wall - rec_time).as_secs_f64(),
        "s",
    );
    m.add(
        "first_sync_1000_photo_round_trips",
        (total.round_trips - rec.round_trips) as f64,
        "count",
    );
    m.add(
        "first_sync_1000_photo_wire_bytes",
        (total.bytes_up + total.bytes_down - rec.bytes_up - rec.bytes_down) as f64,
        "bytes",
    );
    m.add("first_sync_server_sync_s", server_sync_s, "s");
    m.add("first_sync_server_photo_s", server_photo_s, "s");
    m.add("first_sync_records", n as f64, "count");
    m.add(
        "first_sync_fields_per_record",
        fields as f64 / n as f64,
        "count",
    );
    m.add("first_sync_photos", total_photos as f64, "count");
    m.add(
        "first_sync_photo_stored_avg_bytes",
        stored as f64 / total_photos.max(1) as f64,
        "bytes",
    );
    m.add(
        "first_sync_bytes_up_per_record",
        rec.bytes_up as f64 / n as f64,
        "bytes",
    );
    m.add(
        "first_sync_local_store_bytes_per_record",
        core.disk_bytes() as f64 / n as f64,
        "bytes",
    );
    m.add("first_sync_retries", total.retries as f64, "count");
    doc_sizes(&core, &ids, m)
}

/// `n` village inspections, filled; their ids and the fields written.
fn filled_inspections(core: &DeviceCore, n: usize) -> Result<(Vec<String>, usize)> {
    let mut ids = Vec::with_capacity(n);
    let mut fields = 0;
    for i in 0..n {
        let a = NewRecordPlace {
            village: Some(village(i)),
            org_unit: Some("411321".into()),
            ..Default::default()
        };
        let rec = core.create_record("village_inspection", &a)?;
        fields += fill_inspection(core, &rec.id, i)?;
        ids.push(rec.id);
        progress("first sync: records", i + 1, n);
    }
    Ok((ids, fields))
}

/// Two photos (before, after) of the failed item on every tenth record, ingested on two
/// threads; how many, and the bytes stored.
fn photograph_failed_items(core: &DeviceCore, ids: &[String]) -> Result<(usize, u64)> {
    let with_photos: Vec<&String> = ids.iter().step_by(10).collect();
    let total = with_photos.len() * 2;
    let done = AtomicUsize::new(0);
    let sizes = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()?
        .install(|| {
            (0..total)
                .into_par_iter()
                .map(|k| {
                    let (id, tag) = (with_photos[k / 2], ["before", "after"][k % 2]);
                    let jpeg = noisy_photo(k as u64 + 1)?;
                    let photo = NewPhoto {
                        tag: tag.into(),
                        field: Some(format!("checklist.{FAILED_ITEM}")),
                        stamp: Some(false),
                        lat: Some(33.4886),
                        lon: Some(112.4313),
                        accuracy_m: Some(4.0),
                        ..Default::default()
                    };
                    let p = core.add_photo(id, PhotoSource::Bytes(&jpeg), &photo)?;
                    progress("first sync: photos", done.fetch_add(1, Relaxed) + 1, total);
                    Ok(p.entry.size)
                })
                .collect::<Result<Vec<u64>>>()
        })?;
    Ok((total, sizes.iter().sum()))
}

/// What the pushed documents weigh before the frame's compression (a new record goes whole,
/// its columns not deflated), and deflated as a device stores or exports them.
fn doc_sizes(core: &DeviceCore, ids: &[String], m: &mut Metrics) -> Result<()> {
    let (mut raw, mut deflated) = (0, 0);
    for id in ids {
        let bytes = core.export(id)?;
        deflated += bytes.len();
        raw += jingtu_doc::RecordDoc::load(&bytes, ActorId::random())?
            .save_uncompressed()
            .len();
    }
    let n = ids.len().max(1) as f64;
    m.add("first_sync_doc_bytes_per_record", raw as f64 / n, "bytes");
    m.add(
        "first_sync_doc_deflated_bytes_per_record",
        deflated as f64 / n,
        "bytes",
    );
    Ok(())
}

/// (b) A device holding `held` synced records changes one field and syncs, `runs` times.
fn incremental(held: usize, runs: usize, m: &mut Metrics) -> Result<()> {
    let server = Server::start()?;
    let tmp = tempfile::tempdir()?;
    let core = open_device(&tmp.path().join("device"), "李秀兰")?;
    let mut target = None;
    for i in 0..held {
        let a = NewRecordPlace {
            village: Some(village(i)),
            ..Default::default()
        };
        let rec = core.create_record("village_inspection", &a)?;
        core.set_field(&rec.id, "village_name", &json!(village(i)))?;
        if i == held / 2 {
            target = Some(rec.id);
        }
        progress("incremental: records", i + 1, held);
    }
    let target = target.context("no record")?;
    core.set_server(&server.url, &server.admin_token)?;
    let client = core.client(ClientOptions::default())?;
    eprintln!("incremental: first sync of {held} records (not timed)");
    let t = Instant::now();
    let first = core.sync_with(&client, &mut |_| true)?;
    let setup_s = t.elapsed().as_secs_f64();
    ensure!(
        first.records_pushed == held as u64 && first.refused.is_empty(),
        "the setup sync pushed {} of {held} records ({} refused)",
        first.records_pushed,
        first.refused.len()
    );
    let (setup_server_s, setup_requests) = server.handled("/v1/sync")?;
    let mut times = Vec::with_capacity(runs);
    let mut reports: Vec<SyncReport> = Vec::with_capacity(runs);
    for k in 0..runs {
        let v = json!(40.0 + (k % 600) as f64 / 10.0);
        core.set_field(&target, "indicators.sewage_treatment_rate_pct", &v)?;
        let t = Instant::now();
        let r = core.sync_with(&client, &mut |_| true)?;
        times.push(ms(t.elapsed()));
        ensure!(
            r.records_pushed == 1 && r.refused.is_empty(),
            "an incremental sync pushed {} records ({} refused)",
            r.records_pushed,
            r.refused.len()
        );
        reports.push(r);
        progress("incremental: syncs", k + 1, runs);
    }
    let (server_s, requests) = server.handled("/v1/sync")?;
    let server_ms = (server_s - setup_server_s) * 1e3 / (requests - setup_requests).max(1.0);
    let median_of = |f: &dyn Fn(&SyncReport) -> u64| {
        let mut v: Vec<f64> = reports.iter().map(|r| f(r) as f64).collect();
        v.sort_by(f64::total_cmp);
        percentile(&v, 0.5)
    };
    let up = median_of(&|r| r.bytes_up);
    let down = median_of(&|r| r.bytes_down);
    let trips = reports.iter().map(|r| r.round_trips).max().unwrap_or(0);
    times.sort_by(f64::total_cmp);
    m.add("incremental_ms", percentile(&times, 0.5), "ms");
    m.add("incremental_round_trips", trips as f64, "count");
    m.add("incremental_bytes_up", up, "bytes");
    m.add("incremental_bytes_down", down, "bytes");
    m.add(
        "incremental_bytes_total",
        median_of(&|r| r.bytes_up + r.bytes_down),
        "bytes",
    );
    m.add("incremental_p90_ms", percentile(&times, 0.9), "ms");
    m.add(
        "incremental_max_ms",
        times.last().copied().unwrap_or(0.0),
        "ms",
    );
    m.add("incremental_server_avg_ms", server_ms, "ms");
    m.add("incremental_held_records", held as f64, "count");
    m.add("incremental_setup_sync_s", setup_s, "s");
    m.add(
        "incremental_setup_round_trips",
        first.round_trips as f64,
        "count",
    );
    m.add("incremental_setup_bytes_up", first.bytes_up as f64, "bytes");
    m.add("incremental_setup_server_s", setup_server_s, "s");
    Ok(())
}
