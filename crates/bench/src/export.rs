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
    Filler::new(&server)?.fill(0, records)?;
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
    Ok(())
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
