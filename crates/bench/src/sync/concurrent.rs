//! Part (c) of the sync suite: many inspectors' phones sync at once; then a new device pulls
//! everything, and the same pushes go straight over the protocol without pulling.

use std::path::Path;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, ensure};
use jingtu_client::Client;
use jingtu_core::{
    ClientOptions, Counters, DeviceCore, NewRecordPlace, Role, SyncPhase, SyncReport,
};
use jingtu_doc::ActorId;
use jingtu_protocol::{Push, PushOutcome};
use serde_json::json;

use super::fixtures::{open_device, village};
use super::server::{Inspector, Server, in_parallel};
use super::{Metrics, ms};
use crate::{percentile, progress};

/// An inspector's phone: its store, its client, the records it made.
struct Phone {
    core: DeviceCore,
    client: Client,
    records: Vec<String>,
}

/// One phone's sync: its result and duration, when it ended, its counters, and when the
/// answer to its first request was in (the first progress after the request: before the
/// pulled chunks are stored).
struct Outcome {
    result: Result<SyncReport, String>,
    took: Duration,
    ended: Instant,
    counters: Counters,
    answered: Option<Instant>,
}

/// (c) `devices` inspectors' phones, each with `per_device` new records of its township, sync
/// at once.
pub(super) fn concurrent(devices: usize, per_device: usize, m: &mut Metrics) -> Result<()> {
    let server = Server::start()?;
    let tmp = tempfile::tempdir()?;
    let (phones, inspectors) = enrolled_phones(&server, tmp.path(), devices, per_device, m)?;

    eprintln!("concurrent: {devices} inspectors' phones sync at once");
    let (start, outcomes) = all_at_once(&phones, sync_phone)?;
    let errors = sync_metrics(&server, start, &outcomes, per_device, m)?;

    // Nothing lost: a new device with the admin's token (admins receive every record) pulls
    // every record (alone, timed).
    let check = open_device(&tmp.path().join("check"), "核对")?;
    check.set_server(&server.url, &server.admin_token)?;
    eprintln!("concurrent: a new admin device pulls every record");
    let t = Instant::now();
    let r = check.sync(&mut |_| true)?;
    let pull = t.elapsed();
    let expected = (devices - errors) * per_device;
    ensure!(
        r.records_received as usize >= expected,
        "a new device received {} records, {expected} were synced",
        r.records_received
    );
    m.add("new_device_pull_s", pull.as_secs_f64(), "s");
    m.add(
        "new_device_pull_ms_per_record",
        ms(pull) / r.records_received.max(1) as f64,
        "ms",
    );
    drop(server);
    drop(inspectors);
    push_only(&phones, per_device, m)
}

/// The inspectors and their enrollment codes, every phone enrolled with its own code and
/// holding `per_device` new records of its township (the setup is timed).
fn enrolled_phones(
    server: &Server,
    dir: &Path,
    devices: usize,
    per_device: usize,
    m: &mut Metrics,
) -> Result<(Vec<Phone>, Vec<Inspector>)> {
    eprintln!("concurrent: {devices} inspectors and their enrollment codes");
    let t = Instant::now();
    let inspectors = server.inspectors(devices)?;
    let users_s = t.elapsed().as_secs_f64();
    let cores = (0..devices)
        .map(|d| Ok(DeviceCore::open(&dir.join(format!("device-{d}")))?))
        .collect::<Result<Vec<_>>>()?;
    let t = Instant::now();
    in_parallel(devices, |d| {
        let who = &inspectors[d];
        let enrolled = cores[d]
            .enroll(
                &server.url,
                &who.code,
                Some(&format!("{}的手机", who.user)),
                Some("jingtu-bench"),
            )
            .with_context(|| format!("enrolling the phone of {}", who.user))?;
        ensure!(
            enrolled.user == who.user && enrolled.role == Role::Inspector,
            "{}'s code enrolled a phone for {} ({})",
            who.user,
            enrolled.user,
            enrolled.role
        );
        Ok(())
    })?;
    let enroll_s = t.elapsed().as_secs_f64();
    let mut phones = Vec::with_capacity(devices);
    for (d, (core, who)) in cores.into_iter().zip(&inspectors).enumerate() {
        let mut records = Vec::with_capacity(per_device);
        for k in 0..per_device {
            let i = d * per_device + k;
            let a = NewRecordPlace {
                org_unit: Some(who.org_unit.clone()),
                village: Some(village(i)),
                ..Default::default()
            };
            let rec = core.create_record("village_inspection", &a)?;
            core.set_field(&rec.id, "village_name", &json!(village(i)))?;
            core.set_field(&rec.id, "eval_year", &json!(2024))?;
            core.set_field(&rec.id, "inspectors", &json!([who.user]))?;
            core.set_field(&rec.id, "notes", &json!(format!("{}村口复查", village(i))))?;
            records.push(rec.id);
        }
        let client = core.client(ClientOptions::default())?;
        phones.push(Phone {
            core,
            client,
            records,
        });
        progress("concurrent: phones", d + 1, devices);
    }
    let setup_s = users_s + enroll_s;
    eprintln!(
        "concurrent: setup {setup_s:.2} s ({users_s:.2} s for the users and codes, \
         {enroll_s:.2} s for {devices} enrollments)"
    );
    // Users, codes and enrollments of all the phones.
    m.add("concurrent_token_issue_s", setup_s, "s");
    m.add("concurrent_setup_users_s", users_s, "s");
    m.add("concurrent_setup_enroll_s", enroll_s, "s");
    Ok((phones, inspectors))
}

fn sync_phone(phone: &Phone) -> Outcome {
    let t = Instant::now();
    let mut answered = None;
    let result = phone
        .core
        .sync_with(&phone.client, &mut |p| {
            if answered.is_none() && p.phase == SyncPhase::Push && p.done > 0 {
                answered = Some(Instant::now());
            }
            true
        })
        .map_err(|e| e.to_string());
    Outcome {
        result,
        took: t.elapsed(),
        ended: Instant::now(),
        counters: phone.client.counters(),
        answered,
    }
}

/// The metrics of the syncs started together at `start`; the number that failed.
fn sync_metrics(
    server: &Server,
    start: Instant,
    outcomes: &[Outcome],
    per_device: usize,
    m: &mut Metrics,
) -> Result<usize> {
    let devices = outcomes.len();
    let end = outcomes
        .iter()
        .map(|o| o.ended)
        .max()
        .context("no device")?;
    let wall = end.saturating_duration_since(start);
    let mut latencies: Vec<f64> = outcomes.iter().map(|o| ms(o.took)).collect();
    latencies.sort_by(f64::total_cmp);
    let mut answers: Vec<f64> = outcomes
        .iter()
        .filter_map(|o| o.answered)
        .map(|a| ms(a.saturating_duration_since(start)))
        .collect();
    answers.sort_by(f64::total_cmp);
    let (server_s, _) = server.handled("/v1/sync")?;
    let mut errors = 0;
    let mut first_error = None;
    let (mut pulled, mut trips, mut retries) = (0u64, 0u64, 0u64);
    for o in outcomes {
        retries += o.counters.retries;
        match &o.result {
            Ok(r) if r.refused.is_empty() && r.records_pushed == per_device as u64 => {
                pulled += r.chunks_pulled;
                trips += r.round_trips;
            }
            Ok(r) => {
                errors += 1;
                first_error.get_or_insert_with(|| {
                    format!(
                        "pushed {} of {per_device}, refused {:?}",
                        r.records_pushed,
                        r.refused.first()
                    )
                });
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert_with(|| e.clone());
            }
        }
    }
    if let Some(e) = &first_error {
        eprintln!("concurrent: {errors} failed sync(s), the first: {e}");
    }
    let total = (devices * per_device) as f64;
    m.add(
        "concurrent_records_per_s",
        total / wall.as_secs_f64(),
        "records/s",
    );
    m.add("concurrent_p50_ms", percentile(&latencies, 0.5), "ms");
    m.add("concurrent_p99_ms", percentile(&latencies, 0.99), "ms");
    m.add("concurrent_errors", errors as f64, "count");
    m.add("concurrent_wall_s", wall.as_secs_f64(), "s");
    // The push alone: every device's first answer in (the pulled records not yet stored).
    if let Some(last) = answers.last() {
        m.add(
            "concurrent_pushed_records_per_s",
            total / (last / 1e3),
            "records/s",
        );
    }
    m.add("concurrent_answer_p50_ms", percentile(&answers, 0.5), "ms");
    m.add("concurrent_answer_p99_ms", percentile(&answers, 0.99), "ms");
    m.add(
        "concurrent_server_avg_ms",
        server_s * 1e3 / devices as f64,
        "ms",
    );
    m.add("concurrent_devices", devices as f64, "count");
    let ok = (devices - errors).max(1) as f64;
    m.add("concurrent_round_trips_avg", trips as f64 / ok, "count");
    m.add("concurrent_chunks_pulled_avg", pulled as f64 / ok, "count");
    m.add("concurrent_retries", retries as f64, "count");
    Ok(errors)
}

/// The same first pushes straight over the protocol to a fresh server (the same inspectors,
/// the phones enrolled again), with a cursor past the end of the feed: what the server alone
/// takes in, without the devices storing what they pull.
fn push_only(phones: &[Phone], per_device: usize, m: &mut Metrics) -> Result<()> {
    let devices = phones.len();
    let server = Server::start()?;
    let inspectors = server.inspectors(devices)?;
    let mut requests = Vec::with_capacity(devices);
    for (phone, who) in phones.iter().zip(&inspectors) {
        let core = &phone.core;
        let pushes = phone
            .records
            .iter()
            .map(|id| {
                // What the phone pushes for a new record: the document without DEFLATE.
                let mut doc = jingtu_doc::RecordDoc::load(&core.export(id)?, ActorId::random())?;
                Ok(Push {
                    record: id.clone(),
                    changes: doc.save_uncompressed(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let token = Client::enroll(
            &server.url,
            &who.code,
            &core.device_id(),
            None,
            Some("jingtu-bench"),
        )?
        .token;
        let client = Client::new(&server.url, &token, ClientOptions::default())?;
        let request = super::push_only_request(core.device_id(), pushes);
        requests.push((client, request));
    }
    eprintln!(
        "concurrent: {devices} inspectors' pushes at once, straight over the protocol, without pulling"
    );
    let (start, outcomes) = all_at_once(&requests, |(client, request)| {
        let t = Instant::now();
        let r = client.sync(request, &|| false);
        let ok = r.is_ok_and(|r| r.results.iter().all(|x| x.outcome == PushOutcome::Accepted));
        (ok, t.elapsed(), Instant::now())
    })?;
    let end = outcomes.iter().map(|o| o.2).max().context("no device")?;
    let wall = end.saturating_duration_since(start);
    let mut latencies: Vec<f64> = outcomes.iter().map(|o| ms(o.1)).collect();
    latencies.sort_by(f64::total_cmp);
    let failed = outcomes.iter().filter(|o| !o.0).count();
    let total = (devices * per_device) as f64;
    m.add(
        "push_only_records_per_s",
        total / wall.as_secs_f64(),
        "records/s",
    );
    m.add("push_only_p50_ms", percentile(&latencies, 0.5), "ms");
    m.add("push_only_p99_ms", percentile(&latencies, 0.99), "ms");
    m.add("push_only_errors", failed as f64, "count");
    Ok(())
}

/// Runs `work` on every item in its own thread, all released at once; returns the moment of
/// release and the results in item order.
fn all_at_once<I: Sync, T: Send>(
    items: &[I],
    work: impl Fn(&I) -> T + Sync,
) -> Result<(Instant, Vec<T>)> {
    let barrier = Barrier::new(items.len() + 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .iter()
            .map(|item| {
                let (barrier, work) = (&barrier, &work);
                s.spawn(move || {
                    barrier.wait();
                    work(item)
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let outcomes = handles
            .into_iter()
            .map(|h| h.join().map_err(|_| anyhow!("a device thread panicked")))
            .collect::<Result<Vec<_>>>()?;
        Ok((start, outcomes))
    })
}
