//! Suite `export`: a county's records leaving the system for spreadsheets. A real
//! `jingtu-server` is filled with village inspections (100,000; `--records` sets the count)
//! the way the web suite fills it, then `jingtu-server admin export` writes them all to XLSX and
//! to CSV, as an administrator runs it on the server machine while it serves. Reported: the
//! wall time of each and the export process's peak resident memory (its `ru_maxrss`), with
//! the file sizes.

use std::time::Instant;

use anyhow::{Result, ensure};

use crate::sync::Server;
use crate::web::Filler;
use crate::{Cli, Report};

pub fn export_suite(cli: &Cli) -> Result<()> {
    let report = Report {
        json: cli.json,
        suite: "export",
    };
    let records = cli.records.unwrap_or(100_000).max(100);
    let server = Server::start()?;
    server.import_county()?;
    let filler = Filler::new(&server)?;
    filler.fill(0, records)?;
    let (load_ms, data_ms, computed_ms) = per_record(&filler)?;
    let dir = tempfile::tempdir()?;
    let mut peak_mb: f64 = 0.0;
    let mut run = |format: &str| -> Result<(f64, f64)> {
        let out = dir.path().join(format!("villages.{format}"));
        let started = Instant::now();
        server.admin(&[
            "export",
            "--kind",
            "village_inspection",
            "--format",
            format,
            "--out",
            &out.to_string_lossy(),
        ])?;
        let secs = started.elapsed().as_secs_f64();
        peak_mb = peak_mb.max(children_peak_mb());
        let size = std::fs::metadata(&out)?.len() as f64 / 1e6;
        ensure!(size > 0.0, "{} is empty", out.display());
        eprintln!("{format}: {records} records in {secs:.1} s, {size:.1} MB");
        Ok((secs, size))
    };
    let (csv_s, csv_mb) = run("csv")?;
    let (xlsx_s, xlsx_mb) = run("xlsx")?;
    // Names for 100,000 records; other counts say so in `records_exported`.
    report.metric("export_csv_100k_s", csv_s, "s");
    report.metric("export_xlsx_100k_s", xlsx_s, "s");
    report.metric("export_peak_rss_mb", peak_mb, "MB");
    report.metric("export_csv_mb", csv_mb, "MB");
    report.metric("export_xlsx_mb", xlsx_mb, "MB");
    report.metric("records_exported", records as f64, "count");
    // Where a record's time goes (median of 1,000, one thread): loading its Automerge
    // document from the stored changes, reading its data as JSON, its computed fields.
    report.metric("export_doc_load_ms", load_ms, "ms");
    report.metric("export_doc_data_ms", data_ms, "ms");
    report.metric("export_computed_ms", computed_ms, "ms");
    Ok(())
}

/// Medians (ms) of loading a filled inspection's document, reading its data and computing its
/// computed fields.
fn per_record(filler: &Filler) -> Result<(f64, f64, f64)> {
    let (mut load, mut data, mut computed) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..1000 {
        let push = filler.record(i)?;
        let t = Instant::now();
        let doc = jingtu_doc::RecordDoc::load_stored(&push.changes, jingtu_doc::ActorId::random())?;
        load.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let d = doc.data();
        let meta = doc.meta()?;
        data.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let c = filler.template.computed_values(&d, &meta.expr_json());
        computed.push(t.elapsed().as_secs_f64() * 1e3);
        ensure!(!c.is_empty(), "no computed fields");
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Ok((median(load), median(data), median(computed)))
}

/// The largest peak resident memory (MB) of the child processes waited for so far: the
/// export commands (the server itself is still running and not counted).
#[cfg(target_os = "linux")]
fn children_peak_mb() -> f64 {
    // SAFETY: getrusage writes into the struct we pass, nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) } != 0 {
        return 0.0;
    }
    usage.ru_maxrss as f64 / 1024.0
}

#[cfg(not(target_os = "linux"))]
fn children_peak_mb() -> f64 {
    0.0
}
