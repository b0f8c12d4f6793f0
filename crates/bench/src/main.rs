//! `jingtu-bench`: benchmark suites. Prints a table on stderr; with `--json`, one JSON object
//! per line on stdout: `{"suite", "metric", "value", "unit"}` (metric names are fixed by
//! `../shared/checks/README.md`).
//!
//! Suite `core`: durable single-field edits, record creation, opening and listing a store of
//! 10,000 records, bytes on disk per record, and a plain rusqlite JSON upsert as the floor.
//! Suite `photos`: photo ingest. Suite `sync`: sync against a real `jingtu-server` process on
//! loopback (see `sync.rs`). Suite `hostile`: the server's memory and a good device's wait
//! while a crowd of hostile clients sends the worst the limits allow (see `hostile.rs`). Suite
//! `web`: the server time of review-queue pages and record pages at 10,000 and 100,000
//! records in scope (see `web.rs`).

mod export;
mod hostile;
mod sync;
mod web;

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use jingtu_core::{DeviceCore, ListFilter, NewRecordPlace};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(name = "jingtu-bench", about = "jingtu benchmark suites")]
struct Cli {
    /// The suite to run.
    suite: Suite,
    /// One JSON object per line on stdout (suite, metric, value, unit).
    #[arg(long)]
    json: bool,
    /// Records for the create/open/list measurements (core, default 10,000), of the first
    /// sync (sync, default 1,000), or in the larger server (web, default 100,000).
    #[arg(long)]
    records: Option<usize>,
    /// Edits measured for the edit latency (core, default 2,000), incremental syncs
    /// measured (sync, default 30), or requests of each kind (web, default 40).
    #[arg(long)]
    edits: Option<usize>,
    /// sync: records the device of the incremental sync holds.
    #[arg(long, default_value_t = 10_000)]
    held: usize,
    /// sync: devices syncing at once (hostile: hostile clients, default 16).
    #[arg(long)]
    devices: Option<usize>,
    /// sync: new records per concurrent device.
    #[arg(long, default_value_t = 10)]
    per_device: usize,
    /// sync: run only these parts (first, incremental, concurrent; comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Suite {
    Core,
    Photos,
    Sync,
    /// What a crowd of hostile devices costs a server (memory, a good device's wait).
    Hostile,
    /// The server time of the supervisors' review pages (queue and record) at 10,000 and
    /// 100,000 records in scope.
    Web,
    /// 100,000 village inspections exported to XLSX and to CSV: seconds and peak memory.
    Export,
}

struct Report {
    json: bool,
    suite: &'static str,
}

impl Report {
    fn metric(&self, metric: &str, value: f64, unit: &str) {
        let value = (value * 10_000.0).round() / 10_000.0;
        eprintln!("{:<28} {:>14} {}", metric, value, unit);
        if self.json {
            use std::io::Write;
            let line = json!({"suite": self.suite, "metric": metric, "value": value, "unit": unit});
            // A closed pipe is not an error worth a panic.
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.suite {
        Suite::Core => core_suite(&cli),
        Suite::Photos => photos_suite(&cli),
        Suite::Sync => sync::sync_suite(&cli),
        Suite::Hostile => hostile::hostile_suite(&cli),
        Suite::Web => web::web_suite(&cli),
        Suite::Export => export::export_suite(&cli),
    }
}

/// A filled village inspection, as a field user would have it mid-day.
const EXAMPLE: &str = include_str!(
    "../../../schemas/examples/village_inspection.v1/valid-county-self-first-half.json"
);

fn progress(label: &str, done: usize, total: usize) {
    if done.is_multiple_of((total / 20).max(1)) || done == total {
        eprint!("\r{label}: {done}/{total}   ");
        if done == total {
            eprintln!();
        }
    }
}

fn core_suite(cli: &Cli) -> Result<()> {
    let report = Report {
        json: cli.json,
        suite: "core",
    };
    let records = cli.records.unwrap_or(10_000);
    let edits = cli.edits.unwrap_or(2_000);
    let tmp = tempfile::tempdir()?;
    let example: Value = serde_json::from_str(EXAMPLE)?;
    let data = example["data"].as_object().context("example data")?.clone();

    // Edits on one filled record.
    let edit_dir = tmp.path().join("edit");
    let core = DeviceCore::open(&edit_dir)?;
    core.set_user("bench")?;
    let rec = core.create_record("village_inspection", &NewRecordPlace::default())?;
    for (k, v) in &data {
        core.set_field(&rec.id, k, v)?;
    }
    let mut edit_ms = Vec::with_capacity(edits);
    for i in 0..edits {
        let v = json!(40.0 + (i % 600) as f64 / 10.0);
        let t = Instant::now();
        core.set_field(&rec.id, "indicators.sewage_treatment_rate_pct", &v)?;
        edit_ms.push(t.elapsed().as_secs_f64() * 1e3);
        progress("edits", i + 1, edits);
    }
    edit_ms.sort_by(f64::total_cmp);
    let edit_median = percentile(&edit_ms, 0.5);
    let mut view_ms = Vec::with_capacity(500);
    for _ in 0..500 {
        let t = Instant::now();
        core.view(&rec.id)?;
        view_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    view_ms.sort_by(f64::total_cmp);
    let record_json = serde_json::to_string(&core.view(&rec.id)?.data)?;
    drop(core);

    // The floor: the same single-field update as a plain upsert of the record's JSON.
    let floor_median = floor_upsert(&tmp.path().join("floor.db"), &record_json, edits)?;

    // Create many records, then open the store cold and list them all.
    let many_dir = tmp.path().join("many");
    let core = DeviceCore::open(&many_dir)?;
    core.set_user("bench")?;
    let mut create_ms = Vec::with_capacity(records);
    let start = Instant::now();
    for i in 0..records {
        let a = NewRecordPlace {
            village: Some(format!("村{}", i % 300)),
            ..Default::default()
        };
        let t = Instant::now();
        core.create_record("village_inspection", &a)?;
        create_ms.push(t.elapsed().as_secs_f64() * 1e3);
        progress("records", i + 1, records);
    }
    let create_total = start.elapsed().as_secs_f64();
    create_ms.sort_by(f64::total_cmp);
    let bytes = core.disk_bytes();
    drop(core);
    let t = Instant::now();
    let core = DeviceCore::open(&many_dir)?;
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    let listed = core.list(&ListFilter::default())?;
    let open_list_ms = t.elapsed().as_secs_f64() * 1e3;
    anyhow::ensure!(listed.len() == records, "listed {} records", listed.len());

    report.metric("edit_median_ms", edit_median, "ms");
    report.metric("edit_p99_ms", percentile(&edit_ms, 0.99), "ms");
    report.metric("view_median_ms", percentile(&view_ms, 0.5), "ms");
    report.metric("floor_upsert_median_ms", floor_median, "ms");
    report.metric("edit_vs_floor_ratio", edit_median / floor_median, "x");
    report.metric("create_record_ms", percentile(&create_ms, 0.5), "ms");
    report.metric(
        "create_10k_s",
        create_total * 10_000.0 / records as f64,
        "s",
    );
    report.metric("open_list_10k_ms", open_list_ms, "ms");
    report.metric("open_10k_ms", open_ms, "ms");
    report.metric("bytes_per_record", bytes as f64 / records as f64, "bytes");
    Ok(())
}

/// Median time of one durable single-field update done as a plain rusqlite upsert of the
/// record's JSON, with the same WAL settings as the store.
fn floor_upsert(path: &Path, record_json: &str, n: usize) -> Result<f64> {
    let conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
         CREATE TABLE records (id TEXT PRIMARY KEY, json TEXT NOT NULL);",
    )?;
    let mut record: Value = serde_json::from_str(record_json)?;
    let mut ms = Vec::with_capacity(n);
    let mut stmt = conn.prepare(
        "INSERT INTO records (id, json) VALUES ('r', ?1)
         ON CONFLICT(id) DO UPDATE SET json = excluded.json",
    )?;
    for i in 0..n {
        let t = Instant::now();
        record["indicators"]["sewage_treatment_rate_pct"] = json!(40.0 + (i % 600) as f64 / 10.0);
        stmt.execute([serde_json::to_string(&record)?])?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    Ok(percentile(&ms, 0.5))
}

/// A 12-megapixel JPEG with photographic-like content: smooth sky and field gradients, soft
/// shapes and sensor-like noise, so the encoder and resizer work as on a real photo.
fn synthetic_photo() -> Result<Vec<u8>> {
    let (w, h) = (4000u32, 3000u32);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % 25) as i32 - 12
    };
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let fy = y as f32 / h as f32;
            let fx = x as f32 / w as f32;
            let (mut r, mut g, mut b) = if fy < 0.45 {
                (120.0 + 80.0 * fy, 160.0 + 60.0 * fy, 230.0 - 40.0 * fx)
            } else {
                let furrow = ((fx * 180.0 + fy * 40.0).sin() * 0.5 + 0.5) * 40.0;
                (
                    90.0 + furrow,
                    110.0 + 0.6 * furrow + 40.0 * fy,
                    50.0 + 20.0 * fx,
                )
            };
            let (dx, dy) = (fx - 0.62, fy - 0.55);
            if dx * dx + dy * dy * 1.8 < 0.012 {
                (r, g, b) = (70.0 + 30.0 * fx, 60.0, 45.0);
            }
            let n = noise() as f32;
            rgb.push((r + n).clamp(0.0, 255.0) as u8);
            rgb.push((g + n).clamp(0.0, 255.0) as u8);
            rgb.push((b + n).clamp(0.0, 255.0) as u8);
        }
    }
    let img = jingtu_media::RgbImage::from_raw(w, h, rgb).context("buffer size")?;
    // Encoded the way a phone camera would, at quality 92.
    jingtu_media::encode_rgb_jpeg(&img, 92).map_err(|e| anyhow::anyhow!("test photo: {e}"))
}

/// Peak resident memory since the last reset, in MB (Linux `VmHWM`).
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn photos_suite(cli: &Cli) -> Result<()> {
    use jingtu_media::{IngestOptions, ingest, thumbnail};
    let report = Report {
        json: cli.json,
        suite: "photos",
    };
    eprintln!("making a 12-megapixel test photo");
    let photo = synthetic_photo()?;
    eprintln!("test photo: {} bytes", photo.len());
    let options = IngestOptions::default();
    // Reset the peak so that making the test photo does not count.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let runs = 7;
    let mut ingest_s = Vec::new();
    let mut last = None;
    for i in 0..runs {
        let t = Instant::now();
        let out = ingest(&photo, &options)?;
        ingest_s.push(t.elapsed().as_secs_f64());
        last = Some(out);
        progress("ingest", i + 1, runs);
    }
    let peak = peak_rss_mb();
    let mut thumb_s = Vec::new();
    let mut thumb_bytes = 0;
    for i in 0..runs {
        let t = Instant::now();
        let (bytes, _, _) = thumbnail(&photo, &options)?;
        thumb_s.push(t.elapsed().as_secs_f64());
        thumb_bytes = bytes.len();
        progress("thumbnail", i + 1, runs);
    }
    ingest_s.sort_by(f64::total_cmp);
    thumb_s.sort_by(f64::total_cmp);
    let out = last.context("no run")?;
    report.metric("ingest_median_s", percentile(&ingest_s, 0.5), "s");
    report.metric("thumbnail_median_s", percentile(&thumb_s, 0.5), "s");
    report.metric("peak_rss_mb", peak, "MB");
    report.metric("stored_bytes", out.stored.len() as f64, "bytes");
    report.metric(
        "thumbnail_bytes",
        out.thumbnail.len().max(thumb_bytes) as f64,
        "bytes",
    );
    report.metric("input_bytes", photo.len() as f64, "bytes");
    Ok(())
}
