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

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use jingtu_core::{
    ClientOptions, Counters, DeviceCore, NewPhoto, NewRecordPlace, PhotoSource, Role, SyncPhase,
    SyncReport,
};
use jingtu_doc::ActorId;
use jingtu_protocol::{PROTOCOL_VERSION, Push, SyncRequest};
use serde_json::{Value, json};

use crate::{Cli, Report, percentile, progress};

/// The stored size a test photo aims at, after ingest (re-encoded at quality 85).
const PHOTO_W: u32 = 1280;
const PHOTO_H: u32 = 960;
const PHOTO_NOISE: i32 = 4;

// ---------------------------------------------------------------------------------------------
// The server process.

/// A `jingtu-server serve` child on a free loopback port with its own data directory; killed
/// when dropped (also when the bench fails half-way).
pub(crate) struct Server {
    child: Child,
    exe: PathBuf,
    pub(crate) url: String,
    pub(crate) admin_token: String,
    /// The configuration file it was started with (also given to `admin` commands).
    config: PathBuf,
    /// The last lines of its stderr, for error messages.
    log: Arc<Mutex<Vec<String>>>,
    // Dropped after the child is killed (fields drop after `Drop::drop`).
    data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server goes when the bench goes, however it ends (Ctrl-C, a kill, an abort), not only
/// when `Server` is dropped. Servers are started from the main thread, whose end is what
/// Linux signals.
#[cfg(target_os = "linux")]
fn stop_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec the closure only calls prctl, which is async-signal-safe
    // and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn stop_with_parent(_: &mut Command) {}

fn server_exe() -> Result<PathBuf> {
    let me = std::env::current_exe().context("finding jingtu-bench's own path")?;
    let dir = me.parent().context("jingtu-bench has no folder")?;
    let exe = dir.join(format!("jingtu-server{}", std::env::consts::EXE_SUFFIX));
    if !exe.is_file() {
        bail!(
            "the sync suite needs the server binary next to jingtu-bench, and {} does not \
             exist: build it with `cargo build --release -p jingtu-server` (same profile)",
            exe.display()
        );
    }
    Ok(exe)
}

enum Line {
    Url(String),
    Token(String),
}

impl Server {
    /// A size from the server's `/proc/PID/status` in MB (`VmHWM`: its peak resident memory
    /// so far; `VmRSS`: now).
    pub(crate) fn memory_mb(&self, field: &str) -> Result<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .context("reading the server's /proc status")?;
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("no {field} in the server's status"))?;
        Ok(kb / 1024.0)
    }

    pub(crate) fn start() -> Result<Server> {
        let exe = server_exe()?;
        let data = tempfile::tempdir()?;
        // The phones of the concurrent part all enroll from this machine's address, where in
        // the field each comes from its own: the per-address limit of enrollments (10 a
        // minute) is raised accordingly. Everything else is the default.
        let config = data.path().join("jingtu-server.toml");
        std::fs::write(
            &config,
            "[auth]\nenroll_per_minute = 100000\nenroll_burst = 10000\n",
        )?;
        let mut command = Command::new(&exe);
        command
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(data.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        stop_with_parent(&mut command);
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", exe.display()))?;
        let stdout = child.stdout.take().context("server stdout")?;
        let stderr = child.stderr.take().context("server stderr")?;
        let mut server = Server {
            child,
            exe,
            url: String::new(),
            admin_token: String::new(),
            config,
            log: Arc::new(Mutex::new(Vec::new())),
            data,
        };
        let (tx_out, rx) = mpsc::channel();
        let token_file = server.data.path().join("first-admin-token");
        // Both pipes are read to their end so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("jingtu-server listening on ") {
                    let _ = tx_out.send(Line::Url(url.trim().to_string()));
                    // The first start's admin token is written before the address is printed.
                    if let Ok(t) = std::fs::read_to_string(token_file.as_path()) {
                        let _ = tx_out.send(Line::Token(t.trim().to_string()));
                    }
                }
            }
        });
        let log = server.log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                if log.len() >= 40 {
                    log.remove(0);
                }
                log.push(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        while server.url.is_empty() || server.admin_token.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(Line::Url(u)) => server.url = u,
                Ok(Line::Token(t)) => server.admin_token = t,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(status) = server.child.try_wait()? {
                        bail!("jingtu-server exited ({status}):\n{}", server.log_tail());
                    }
                    if left.is_zero() {
                        bail!(
                            "jingtu-server did not print its address and first token within \
                             30 s:\n{}",
                            server.log_tail()
                        );
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = server.child.wait();
                    bail!("jingtu-server stopped:\n{}", server.log_tail());
                }
            }
        }
        Ok(server)
    }

    fn log_tail(&self) -> String {
        std::thread::sleep(Duration::from_millis(50));
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .join("\n")
    }

    /// Seconds the server spent answering requests to `route` so far, and how many it
    /// answered (its Prometheus `jingtu_http_request_seconds` summary, from `GET /metrics`).
    fn handled(&self, route: &str) -> Result<(f64, f64)> {
        use std::io::{Read, Write};
        let addr = self.url.trim_start_matches("http://");
        let mut conn = std::net::TcpStream::connect(addr)?;
        write!(
            conn,
            "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )?;
        let mut text = String::new();
        conn.read_to_string(&mut text)?;
        let value = |name: &str| {
            let key = format!("{name}{{route=\"{route}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(&key))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        Ok((
            value("jingtu_http_request_seconds_sum"),
            value("jingtu_http_request_seconds_count"),
        ))
    }

    /// Runs `jingtu-server admin ARGS` on this server's data (as an administrator does on the
    /// server machine, while it serves); its standard output.
    fn admin(&self, args: &[&str]) -> Result<String> {
        let out = Command::new(&self.exe)
            .arg("--config")
            .arg(&self.config)
            .arg("--data-dir")
            .arg(self.data.path())
            .arg("admin")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running jingtu-server admin {}", args.join(" ")))?;
        if !out.status.success() {
            bail!(
                "jingtu-server admin {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `n` inspectors (巡查员), spread over [`TOWNSHIPS`], each with a one-time enrollment code
    /// for their phone: the county's org units imported from CSV, then per user `admin user
    /// create NAME --role inspector --org TOWNSHIP` and `admin enroll-code NAME` (each command
    /// takes one user; [`SETUP_WORKERS`] users at a time).
    fn inspectors(&self, n: usize) -> Result<Vec<Inspector>> {
        let mut csv = String::from("code,name,level,parent\n");
        csv.push_str("410000000000,河南省,,\n411300000000,南阳市,,\n");
        csv.push_str(&format!("{COUNTY},南召县,,\n"));
        for (t, name) in TOWNSHIPS.iter().enumerate() {
            csv.push_str(&format!("{},{name},,\n", township_code(t)));
        }
        let file = self.data.path().join("org-units.csv");
        std::fs::write(&file, csv)?;
        self.admin(&["org", "import", &file.to_string_lossy()])?;
        in_parallel(n, |d| {
            let user = format!("巡查员{:03}", d + 1);
            let org_unit = township_code(d % TOWNSHIPS.len());
            self.admin(&[
                "user",
                "create",
                &user,
                "--role",
                "inspector",
                "--org",
                &org_unit,
            ])?;
            // The code on standard output; its expiry and QR payload go to standard error.
            let code = self.admin(&["enroll-code", &user])?.trim().to_string();
            ensure!(!code.is_empty(), "admin enroll-code printed no code");
            Ok(Inspector {
                user,
                org_unit,
                code,
            })
        })
    }
}

/// Setup steps (admin commands, enrollments) run this many at a time: each mostly waits for
/// a process to start or a commit to reach the disk.
const SETUP_WORKERS: usize = 4;

/// `work(0..n)` on [`SETUP_WORKERS`] threads; the results in order, or the first error.
fn in_parallel<T: Send>(n: usize, work: impl Fn(usize) -> Result<T> + Sync) -> Result<Vec<T>> {
    let results: Vec<Mutex<Option<Result<T>>>> = (0..n).map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for w in 0..SETUP_WORKERS.min(n) {
            let (work, results) = (&work, &results);
            s.spawn(move || {
                for i in (w..n).step_by(SETUP_WORKERS) {
                    let r = work(i);
                    let failed = r.is_err();
                    *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                    if failed {
                        break;
                    }
                }
            });
        }
    });
    results
        .into_iter()
        .map(|r| {
            r.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| Err(anyhow!("not run: an earlier step failed")))
        })
        .collect()
}

/// A field user of the concurrent part, and the code their phone enrolls with.
struct Inspector {
    user: String,
    org_unit: String,
    code: String,
}

// ---------------------------------------------------------------------------------------------
// Test data.

const VILLAGES: &[&str] = &[
    "杨树沟",
    "云阳",
    "皇路店",
    "马市坪",
    "崔庄",
    "留山",
    "白土岗",
    "板山坪",
    "石门",
    "南河店",
    "小店",
    "太山庙",
    "乔端",
    "城郊",
    "四棵树",
    "桐树庄",
];
const TOWNSHIPS: &[&str] = &["云阳镇", "皇路店镇", "南河店镇", "板山坪镇", "白土岗镇"];
/// The county of the concurrent part's inspectors (division code), and its townships' codes.
const COUNTY: &str = "411321000000";

fn township_code(t: usize) -> String {
    format!("411321{:03}000", 100 + t)
}
const INSPECTORS: &[&str] = &["王建军", "李秀兰", "张伟", "刘芳", "陈志强", "赵丽娟"];
/// Checklist items set on every record (one of them failed, with its issue).
const ITEMS: &[&str] = &[
    "clean_garbage",
    "clean_sewage",
    "clean_ponds_ditches",
    "clean_clutter",
    "disorder_building",
    "disorder_stacking",
    "disorder_dumping",
    "toilet_upgrade_coverage",
    "toilet_septic_intact",
    "waste_bins",
    "waste_collected_on_time",
    "sewage_facility_running",
];
/// The failed item, which the photos prove.
const FAILED_ITEM: &str = "disorder_stacking";

fn village(i: usize) -> String {
    format!(
        "{}{}村",
        VILLAGES[i % VILLAGES.len()],
        i / VILLAGES.len() + 1
    )
}

/// About 30 fields of a village inspection, values as in the template's examples; returns
/// the number of fields set.
fn fill_inspection(core: &DeviceCore, id: &str, i: usize) -> Result<usize> {
    let households = 180 + (i * 37) % 600;
    let mut fields: Vec<(String, Value)> = vec![
        ("village_name".into(), json!(village(i))),
        (
            "admin_code".into(),
            json!(format!("411321{:06}", 100_000 + (i * 7919) % 900_000)),
        ),
        ("township".into(), json!(TOWNSHIPS[i % TOWNSHIPS.len()])),
        (
            "position".into(),
            json!({"lat": 33.40 + (i % 997) as f64 * 1.3e-4,
                   "lon": 112.35 + (i % 991) as f64 * 1.7e-4,
                   "accuracy_m": 3.0 + (i % 5) as f64 * 0.5}),
        ),
        ("eval_year".into(), json!(2024)),
        ("eval_half".into(), json!(1 + i % 2)),
        ("eval_level".into(), json!("county_self")),
        (
            "inspected_at".into(),
            json!(format!(
                "2024-07-{:02}T{:02}:{:02}:00+08:00",
                1 + i % 28,
                8 + i % 9,
                (i * 7) % 60
            )),
        ),
        (
            "inspectors".into(),
            json!([
                INSPECTORS[i % INSPECTORS.len()],
                INSPECTORS[(i + 1) % INSPECTORS.len()]
            ]),
        ),
        (
            "indicators.sewage_treatment_rate_pct".into(),
            json!(55.0 + (i % 400) as f64 / 10.0),
        ),
        ("indicators.bow_remediation_rate_pct".into(), json!(100)),
        (
            "indicators.water_source_completion_pct".into(),
            json!(80 + i % 21),
        ),
        ("indicators.households_total".into(), json!(households)),
        (
            "indicators.households_sewage_treated".into(),
            json!(households * 2 / 3),
        ),
        ("indicators.sewage_mode".into(), json!("decentralized")),
        ("indicators.facility_status".into(), json!("normal")),
        ("resident_approval".into(), json!(true)),
        (
            "notes".into(),
            json!(format!(
                "上半年县级自评。{}问题已当场交办，8月中旬复查。",
                village(i)
            )),
        ),
    ];
    for item in ITEMS {
        let value = if *item == FAILED_ITEM {
            json!({"result": "fail",
                   "issue": format!("村西头道路两侧柴草、建筑材料乱堆乱放约{}处", 5 + i % 20),
                   "deadline": "2024-08-10",
                   "owner": "村委会 张明",
                   "score": 60})
        } else {
            json!({"result": "pass", "score": 100})
        };
        fields.push((format!("checklist.{item}"), value));
    }
    for (path, value) in &fields {
        core.set_field(id, path, value)
            .with_context(|| format!("setting {path}"))?;
    }
    Ok(fields.len())
}

/// A JPEG of the test photo size with field-like gradients and sensor noise; `seed` makes
/// every photo different (photos are stored once by content).
fn noisy_photo(seed: u64) -> Result<Vec<u8>> {
    let (w, h) = (PHOTO_W, PHOTO_H);
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % (2 * PHOTO_NOISE as u64 + 1)) as i32 - PHOTO_NOISE
    };
    let shift = (seed % 97) as f32 / 97.0;
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        let fy = y as f32 / h as f32;
        for x in 0..w {
            let fx = x as f32 / w as f32;
            let (r, g, b) = if fy < 0.4 {
                (120.0 + 80.0 * fy, 160.0 + 60.0 * fy, 230.0 - 40.0 * fx)
            } else {
                let furrow = ((fx * 150.0 + fy * 40.0 + shift * 6.0).sin() * 0.5 + 0.5) * 40.0;
                (
                    90.0 + furrow,
                    110.0 + 0.6 * furrow + 40.0 * fy,
                    50.0 + 20.0 * fx,
                )
            };
            let n = noise() as f32;
            rgb.push((r + n).clamp(0.0, 255.0) as u8);
            rgb.push((g + n).clamp(0.0, 255.0) as u8);
            rgb.push((b + n).clamp(0.0, 255.0) as u8);
        }
    }
    let img = jingtu_media::RgbImage::from_raw(w, h, rgb).context("buffer size")?;
    jingtu_media::encode_rgb_jpeg(&img, 92).map_err(|e| anyhow!("test photo: {e}"))
}

fn open_device(dir: &Path, user: &str) -> Result<DeviceCore> {
    let core = DeviceCore::open(dir)?;
    core.set_user(user)?;
    Ok(core)
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

// ---------------------------------------------------------------------------------------------
// The suite.

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
        concurrent(devices, per_device, &mut m)?;
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
    let mut ids = Vec::with_capacity(n);
    let mut fields = 0;
    for i in 0..n {
        let a = NewRecordPlace {
            village: Some(village(i)),
            org_unit: Some("411321".into()),
            ..Default::default()
        };
        let rec = core.create_record("village_inspection", &a)?;
        fields += fill_inspection(&core, &rec.id, i)?;
        ids.push(rec.id);
        progress("first sync: records", i + 1, n);
    }
    // Two photos of the failed item on every tenth record, ingested on two threads.
    let with_photos: Vec<&String> = ids.iter().step_by(10).collect();
    let total_photos = with_photos.len() * 2;
    let done = std::sync::atomic::AtomicUsize::new(0);
    let stored = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|s| -> Result<()> {
        let workers: Vec<_> = (0..2)
            .map(|t| {
                let (core, with_photos, done, stored) = (&core, &with_photos, &done, &stored);
                s.spawn(move || -> Result<()> {
                    for (k, id) in with_photos.iter().enumerate().skip(t).step_by(2) {
                        for (j, tag) in ["before", "after"].into_iter().enumerate() {
                            let jpeg = noisy_photo((k * 2 + j) as u64 + 1)?;
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
                            stored.fetch_add(p.entry.size, std::sync::atomic::Ordering::Relaxed);
                            let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                            progress("first sync: photos", d, total_photos);
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        for w in workers {
            w.join().map_err(|_| anyhow!("a photo thread panicked"))??;
        }
        Ok(())
    })?;

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
        stored.into_inner() as f64 / total_photos.max(1) as f64,
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
    // What the pushed documents weigh before the frame's compression (a new record goes
    // whole, its columns not deflated), and deflated as a device stores or exports them.
    let (mut raw, mut deflated) = (0, 0);
    for id in &ids {
        let bytes = core.export(id)?;
        deflated += bytes.len();
        raw += jingtu_doc::RecordDoc::load(&bytes, ActorId::random())?
            .save_uncompressed()
            .len();
    }
    m.add(
        "first_sync_doc_bytes_per_record",
        raw as f64 / n as f64,
        "bytes",
    );
    m.add(
        "first_sync_doc_deflated_bytes_per_record",
        deflated as f64 / n as f64,
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

/// (c) `devices` inspectors' phones, each with `per_device` new records of its township, sync
/// at once.
fn concurrent(devices: usize, per_device: usize, m: &mut Metrics) -> Result<()> {
    let server = Server::start()?;
    let tmp = tempfile::tempdir()?;
    // Setup (timed): the inspectors and their enrollment codes, then every phone enrolls.
    eprintln!("concurrent: {devices} inspectors and their enrollment codes");
    let t = Instant::now();
    let inspectors = server.inspectors(devices)?;
    let users_s = t.elapsed().as_secs_f64();
    let phones = (0..devices)
        .map(|d| Ok(DeviceCore::open(&tmp.path().join(format!("device-{d}")))?))
        .collect::<Result<Vec<_>>>()?;
    let t = Instant::now();
    in_parallel(devices, |d| {
        let who = &inspectors[d];
        let enrolled = phones[d]
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
    let enroll = t.elapsed();
    let mut cores = Vec::with_capacity(devices);
    for (d, (core, who)) in phones.into_iter().zip(&inspectors).enumerate() {
        let mut ids = Vec::with_capacity(per_device);
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
            ids.push(rec.id);
        }
        let client = core.client(ClientOptions::default())?;
        cores.push((core, client, ids));
        progress("concurrent: phones", d + 1, devices);
    }
    let setup_s = users_s + enroll.as_secs_f64();
    eprintln!(
        "concurrent: setup {setup_s:.2} s ({users_s:.2} s for the users and codes, {:.2} s for \
         {devices} enrollments)",
        enroll.as_secs_f64()
    );

    eprintln!("concurrent: {devices} inspectors' phones sync at once");
    /// The sync's result and duration, when it ended, its counters, and when the answer to
    /// its first request was in (the first progress after the request: before the pulled
    /// chunks are stored).
    type Outcome = (
        Result<SyncReport, String>,
        Duration,
        Instant,
        Counters,
        Option<Instant>,
    );
    let (start, outcomes): (Instant, Vec<Outcome>) = all_at_once(&cores, |(core, client, _)| {
        let t = Instant::now();
        let mut answered = None;
        let r = core
            .sync_with(client, &mut |p| {
                if answered.is_none() && p.phase == SyncPhase::Push && p.done > 0 {
                    answered = Some(Instant::now());
                }
                true
            })
            .map_err(|e| e.to_string());
        (r, t.elapsed(), Instant::now(), client.counters(), answered)
    })?;
    let end = outcomes.iter().map(|o| o.2).max().context("no device")?;
    let wall = end.saturating_duration_since(start);
    let mut latencies: Vec<f64> = outcomes.iter().map(|o| ms(o.1)).collect();
    latencies.sort_by(f64::total_cmp);
    let mut answers: Vec<f64> = outcomes
        .iter()
        .filter_map(|o| o.4)
        .map(|a| ms(a.saturating_duration_since(start)))
        .collect();
    answers.sort_by(f64::total_cmp);
    let (server_s, _) = server.handled("/v1/sync")?;
    let mut errors = 0;
    let mut first_error = None;
    let (mut pulled, mut trips, mut retries) = (0u64, 0u64, 0u64);
    for (r, _, _, counters, _) in &outcomes {
        retries += counters.retries;
        match r {
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
    m.add(
        "concurrent_round_trips_avg",
        trips as f64 / (devices - errors).max(1) as f64,
        "count",
    );
    m.add(
        "concurrent_chunks_pulled_avg",
        pulled as f64 / (devices - errors).max(1) as f64,
        "count",
    );
    m.add("concurrent_retries", retries as f64, "count");
    // Users, codes and enrollments of all the phones.
    m.add("concurrent_token_issue_s", setup_s, "s");
    m.add("concurrent_setup_users_s", users_s, "s");
    m.add("concurrent_setup_enroll_s", enroll.as_secs_f64(), "s");

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

    // The same first pushes straight over the protocol to a fresh server (the same inspectors,
    // the phones enrolled again), with a cursor past the end of the feed: what the server alone
    // takes in, without the devices storing what they pull.
    let server = Server::start()?;
    let inspectors = server.inspectors(devices)?;
    let mut requests = Vec::with_capacity(devices);
    for ((core, _, ids), who) in cores.iter().zip(&inspectors) {
        let pushes = ids
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
        let token = jingtu_client::Client::enroll(
            &server.url,
            &who.code,
            &core.device_id(),
            None,
            Some("jingtu-bench"),
        )?
        .token;
        let client = jingtu_client::Client::new(&server.url, &token, ClientOptions::default())?;
        let request = SyncRequest {
            protocol: PROTOCOL_VERSION,
            device: core.device_id(),
            cursor: i64::MAX as u64,
            pushes,
            max_response_bytes: None,
            scope_seq: 0,
            scope_target: None,
            scope_after: None,
            catalog: None,
        };
        requests.push((client, request));
    }
    drop(cores);
    eprintln!(
        "concurrent: {devices} inspectors' pushes at once, straight over the protocol, without pulling"
    );
    let (start, outcomes) = all_at_once(&requests, |(client, request)| {
        let t = Instant::now();
        let r = client.sync(request, &|| false);
        let ok = r.is_ok_and(|r| {
            r.results
                .iter()
                .all(|x| x.outcome == jingtu_protocol::PushOutcome::Accepted)
        });
        (ok, t.elapsed(), Instant::now())
    })?;
    let end = outcomes.iter().map(|o| o.2).max().context("no device")?;
    let wall = end.saturating_duration_since(start);
    let mut latencies: Vec<f64> = outcomes.iter().map(|o| ms(o.1)).collect();
    latencies.sort_by(f64::total_cmp);
    let failed = outcomes.iter().filter(|o| !o.0).count();
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
