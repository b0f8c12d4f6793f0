//! Suite `hostile`: what a crowd of hostile clients costs a real `jingtu-server` (the release
//! binary next to `jingtu-bench`, default configuration). `--devices` clients (default 16),
//! each holding a device token, send at once, four times each, the worst requests the limits
//! let through to the decoder:
//!
//! - eight pushes of compressed Automerge chunks that each inflate to just under the
//!   inflation limit (31 MiB of zeros in about 31 KB);
//! - a push whose run-length encoded column stands for a billion operations;
//! - a request whose zstd frame decodes to just under the message limit.
//!
//! Meanwhile a well-behaved device syncs one edited record at a time. Reported: the server's
//! resident memory before (`hostile_baseline_rss_mb`) and its peak (`hostile_peak_rss_mb`),
//! the requests sent and those answered 503 busy, and the good device's sync latency.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use jingtu_core::{ClientOptions, DeviceCore, NewRecordPlace};
use jingtu_protocol::{PROTOCOL_VERSION, Push, SyncRequest};
use serde_json::json;

use crate::sync::Server;
use crate::{Cli, Report, percentile};

const ROUNDS: usize = 4;

fn uleb(mut n: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn chunk(kind: u8, data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, kind];
    uleb(data.len() as u64, &mut out);
    out.extend_from_slice(data);
    out
}

fn record_id(n: u64) -> String {
    let h = format!("{:032x}", (0x0190_0000_u128 << 96) | u128::from(n));
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The three kinds of hostile request.
fn requests() -> Result<Vec<Vec<Push>>> {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..31 {
        enc.write_all(&zeros)?;
    }
    let inflating = chunk(2, &enc.finish()?);
    let mut run = vec![0, 1, 0xab, 1, 1, 0, 0, 0, 1];
    uleb((34 << 4) | 2, &mut run);
    let column = [0x80, 0x80, 0x80, 0x80, 0x80, 0x08, 0x01]; // a run of 2^38, then 1
    uleb(column.len() as u64, &mut run);
    run.extend_from_slice(&column);
    let run = chunk(1, &run);
    let push = |n: u64, changes: &[u8]| Push {
        record: record_id(n),
        changes: changes.to_vec(),
    };
    // Just under the 64 MiB message limit once decoded: eight pushes of 7.9 MiB of zeros.
    let big = vec![0u8; 7_900_000];
    Ok(vec![
        (0..8).map(|n| push(n, &inflating)).collect(),
        vec![push(100, &run)],
        (0..8).map(|n| push(200 + n, &big)).collect(),
    ])
}

pub fn hostile_suite(cli: &Cli) -> Result<()> {
    let report = Report {
        json: cli.json,
        suite: "hostile",
    };
    let clients = cli.devices.unwrap_or(16).max(1);
    let server = Server::start()?;
    let tmp = tempfile::tempdir()?;
    // The good device: one record, edited and synced again and again.
    let good = DeviceCore::open(&tmp.path().join("good"))?;
    good.set_server(&server.url, &server.admin_token)?;
    let id = good
        .create_record("village_inspection", &NewRecordPlace::default())?
        .id;
    good.sync(&mut |_| true)?;
    let baseline = server.memory_mb("VmRSS")?;
    let kinds = Arc::new(requests()?);
    let sent = Arc::new(AtomicU64::new(0));
    let busy = Arc::new(AtomicU64::new(0));
    eprintln!("{clients} hostile clients, {ROUNDS} rounds of 3 requests each ...");
    let started = Instant::now();
    let crowd: Vec<_> = (0..clients)
        .map(|c| {
            let (url, token) = (server.url.clone(), server.admin_token.clone());
            let (kinds, sent, busy) = (kinds.clone(), sent.clone(), busy.clone());
            std::thread::spawn(move || -> Result<()> {
                let options = ClientOptions {
                    attempts: 1,
                    timeout: Duration::from_secs(120),
                    ..ClientOptions::default()
                };
                let client = jingtu_client::Client::new(&url, &token, options)?;
                for round in 0..ROUNDS {
                    for (k, pushes) in kinds.iter().enumerate() {
                        let request = SyncRequest {
                            protocol: PROTOCOL_VERSION,
                            device: format!("{:032x}", (c * 1000 + round * 10 + k) as u128),
                            cursor: u64::MAX >> 1,
                            pushes: pushes.clone(),
                            max_response_bytes: None,
                            scope_seq: 0,
                            scope_target: None,
                            scope_after: None,
                            catalog: None,
                        };
                        sent.fetch_add(1, Ordering::Relaxed);
                        if let Err(jingtu_client::ClientError::Refused { status: 503, .. }) =
                            client.sync(&request, &|| false)
                        {
                            busy.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Ok(())
            })
        })
        .collect();
    // The good device's syncs while the crowd runs.
    let mut waits = Vec::new();
    let mut failed = 0u32;
    let mut n = 0u32;
    while crowd.iter().any(|t| !t.is_finished()) {
        n += 1;
        good.set_field(&id, "village_name", &json!(format!("测试村 {n}")))?;
        let t = Instant::now();
        match good.sync(&mut |_| true) {
            Ok(_) => waits.push(t.elapsed().as_secs_f64() * 1000.0),
            Err(e) => {
                eprintln!("the good device's sync failed: {e}");
                failed += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    for t in crowd {
        t.join()
            .map_err(|_| anyhow::anyhow!("a hostile client panicked"))??;
    }
    let took = started.elapsed().as_secs_f64();
    let peak = server.memory_mb("VmHWM")?;
    waits.sort_by(f64::total_cmp);
    report.metric("hostile_clients", clients as f64, "clients");
    report.metric(
        "hostile_requests",
        sent.load(Ordering::Relaxed) as f64,
        "requests",
    );
    report.metric(
        "hostile_busy",
        busy.load(Ordering::Relaxed) as f64,
        "requests",
    );
    report.metric("hostile_duration_s", took, "s");
    report.metric("hostile_baseline_rss_mb", baseline, "MB");
    report.metric("hostile_peak_rss_mb", peak, "MB");
    report.metric("hostile_good_syncs", waits.len() as f64, "syncs");
    report.metric("hostile_good_sync_failures", f64::from(failed), "syncs");
    report.metric("hostile_good_sync_p50_ms", percentile(&waits, 0.5), "ms");
    report.metric(
        "hostile_good_sync_max_ms",
        waits.last().copied().unwrap_or(0.0),
        "ms",
    );
    Ok(())
}
