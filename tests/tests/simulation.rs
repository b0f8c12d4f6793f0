//! A seeded simulation of a county's field work (issue 13): 20 devices, each a process
//! (`jingtu-sim-device`) holding its own store, reach one `jingtu-server` process through
//! TCP proxies of this test, and do thousands of random operations while the network is cut,
//! devices are killed with SIGKILL and the server is restarted. At the end the network heals,
//! every device syncs until a whole round changes nothing, and the oracle checks that:
//!
//! 1. every device holds exactly the records its user may see (plus its own records the server
//!    refused, kept with the refusal), and each one exactly as the server holds it: the same
//!    set of changes (hence heads), data, status events and photo entries, with the photos'
//!    thumbnails at hand and nothing left to send;
//! 2. the server's copy (read through the feed with the admin's token) is that copy, and it
//!    holds the bytes of every photo of its records;
//! 3. nothing acknowledged is lost: every record created, every item appended, photo added or
//!    removed and submission made whose answer the driver read is there (or, for an edit the
//!    server refused, in the device's refused edits); every field holds one of the values
//!    written to it (or shows the acknowledged one in a conflict); no list holds an item twice
//!    or an item nobody appended;
//! 4. every refused edit is one the rules call for (a record created outside its creator's
//!    reach, or one whose assignment was handed to another user).
//!
//! The people: two townships of the county of `ServerProcess::county`, 17 inspectors (one of
//! them with two phones: 18 devices), the county's supervisor and one township's supervisor; four
//! assignments (handed to other inspectors now and then), so scoped sync moves records in and
//! out of devices. Reviews (approve, return) are left out: the device core has no API for a
//! supervisor's review yet, so the only refusals are `out_of_scope` ones.
//!
//! Every decision comes from the seed (`StdRng`; one sub-seed per step, so what one step does
//! never shifts the choices of the next). Kills are sent at deterministic points (right after
//! a command was written, or a seeded number of milliseconds later); only what the killed
//! process had finished by then depends on timing.
//!
//! - `JINGTU_SIM_SEED=N` runs that seed alone (what a failure prints), `JINGTU_SIM_SEEDS=1,2,3`
//!   several; by default the seeds of [`DEFAULT_SEEDS`];
//! - `JINGTU_SIM_STEPS=N` operations per seed ([`DEFAULT_STEPS`] by default);
//! - `JINGTU_SIM_REASSIGN=0` leaves out the handing of assignments to other users;
//! - `JINGTU_SIM_TRACE=1` prints every step; `JINGTU_SIM_KEEP=1` keeps the folders (kept anyway
//!   when a seed fails).
//!
//! `tests/sim.sh SEEDS STEPS` runs many seeds and stops at the first failure.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use automerge::AutoCommit;
use jingtu_client::{Client, ClientOptions};
use jingtu_doc::{ActorId, RecordDoc};
use jingtu_e2e::sim::{Answer, CutPlan, Proxy, changes_digest};
use jingtu_e2e::{ServerProcess, lookup, same_value};
use jingtu_protocol::{PROTOCOL_VERSION, PhotoStateKind, SyncRequest};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const SERVER: &str = env!("CARGO_BIN_EXE_jingtu-e2e-server");
const DEVICE: &str = env!("CARGO_BIN_EXE_jingtu-sim-device");

/// The seeds CI runs.
const DEFAULT_SEEDS: &[u64] = &[1, 2, 3];
/// Operations per seed by default.
const DEFAULT_STEPS: usize = 1500;
/// The longest a device may take to answer one command.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(180);
/// Sync rounds of every device allowed to converge at the end.
const MAX_ROUNDS: usize = 10;

/// Enrollment of 20 devices from one address, and photos whatever the disk holds.
const SERVER_CONFIG: &str = "[auth]
enroll_per_minute = 100000
enroll_burst = 1000
[limits]
min_free_disk_mb = 0
";

const COUNTY: &str = "411321000000";
const TOWNSHIPS: [&str; 2] = ["411321102000", "411321103000"];
const TOWNSHIP_NAMES: [&str; 2] = ["云阳镇", "皇路店镇"];
const VILLAGES: [&str; 2] = ["411321102206", "411321103201"];

const VILLAGE_KIND: &str = "village_inspection";
const SEWAGE_KIND: &str = "sewage_facility_inspection";
const VILLAGE_ITEMS: [&str; 8] = [
    "clean_garbage",
    "clean_sewage",
    "disorder_stacking",
    "toilet_septic_intact",
    "waste_bins",
    "water_source_fence",
    "sewage_no_leaks",
    "waste_chain",
];
const SEWAGE_ITEMS: [&str; 7] = [
    "running_normally",
    "equipment_intact",
    "sludge_handled",
    "no_leak_overflow",
    "online_monitoring_working",
    "signage_records",
    "inlet_outlet_clear",
];
const PHOTO_TAGS: [&str; 3] = ["before", "after", "team"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Inspector,
    Supervisor,
}

/// One device: its name, its user, the user's role and township (`None`: the county).
#[derive(Debug, Clone)]
struct DevSpec {
    name: String,
    user: String,
    role: Role,
    township: Option<usize>,
}

/// The 20 devices: 8 inspectors in 云阳镇 (the first with two phones), 9 in 皇路店镇, the
/// county's supervisor and 皇路店镇's.
fn dev_specs() -> Vec<DevSpec> {
    let mut v = Vec::new();
    let insp = |name: &str, user: &str, t: usize| DevSpec {
        name: name.into(),
        user: user.into(),
        role: Role::Inspector,
        township: Some(t),
    };
    v.push(insp("y1a", "insp_y1", 0));
    v.push(insp("y1b", "insp_y1", 0));
    for i in 2..=8 {
        v.push(insp(&format!("y{i}"), &format!("insp_y{i}"), 0));
    }
    for i in 1..=9 {
        v.push(insp(&format!("h{i}"), &format!("insp_h{i}"), 1));
    }
    v.push(DevSpec {
        name: "sup_nz".into(),
        user: "sup_nz".into(),
        role: Role::Supervisor,
        township: None,
    });
    v.push(DevSpec {
        name: "sup_hl".into(),
        user: "sup_hl".into(),
        role: Role::Supervisor,
        township: Some(1),
    });
    v
}

/// An assignment as the model knows it.
#[derive(Debug, Clone)]
struct Asg {
    id: String,
    kind: &'static str,
    township: usize,
    assignee: String,
    /// Times it was handed to another user.
    reassigned: u32,
}

/// A record as the model knows it.
#[derive(Debug, Clone)]
struct Rec {
    id: String,
    kind: String,
    township: usize,
    asg: Option<usize>,
    creator: usize,
    owner: String,
    /// Created where its creator may not create it: the server refuses it whole.
    out_of_reach: bool,
}

/// What an acknowledged operation left, checked at the end.
#[derive(Debug, Clone)]
enum Effect {
    Created,
    /// A value written at this leaf path.
    Set(String),
    Append(String, Value),
    PhotoAdd(String, String),
    PhotoRemove(String),
    Submit,
}

#[derive(Debug, Clone)]
struct Acked {
    dev: usize,
    rec: usize,
    effect: Effect,
    step: usize,
}

/// One operation sent to a device.
#[derive(Debug, Clone)]
enum Op {
    Create {
        kind: String,
        org: String,
        township: usize,
        asg: Option<usize>,
        out_of_reach: bool,
    },
    /// `set`, `check` and `fill`: the command and the leaf values it writes.
    Write {
        rec: usize,
        cmd: String,
        leaves: Vec<(String, Value)>,
    },
    Append {
        rec: usize,
        path: String,
        value: Value,
    },
    Photo {
        rec: usize,
        seed: u32,
        tag: String,
        field: Option<String>,
    },
    Unphoto {
        rec: usize,
        photo_id: String,
    },
    Submit {
        rec: usize,
    },
    Resolve {
        rec: usize,
    },
    Sync,
}

/// A running device process.
struct Proc {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

struct Dev {
    spec: DevSpec,
    dir: PathBuf,
    proxy: Proxy,
    proc: Option<Proc>,
    actor: String,
    /// Records it held at its last answer that listed them (model numbers).
    holds: BTreeSet<usize>,
    /// A create it was killed during: the record may be in its store.
    pending_create: Option<Op>,
    offline_until: Option<usize>,
    restart_at: Option<usize>,
}

#[derive(Debug, Default)]
struct Stats {
    ops: usize,
    acked: usize,
    errors: BTreeMap<String, usize>,
    creates: usize,
    photos: usize,
    submits: usize,
    syncs_ok: usize,
    syncs_failed: usize,
    bursts: usize,
    refused_pushes: BTreeMap<String, usize>,
    cuts_planned: usize,
    offline_periods: usize,
    partitions: usize,
    crashes: usize,
    crashes_in_flight: usize,
    answered_before_kill: usize,
    device_restarts: usize,
    adopted: usize,
    server_restarts: usize,
    server_restarts_in_sync: usize,
    server_port_changed: usize,
    reassigns: usize,
    rounds: usize,
    conflicts_shown: usize,
    records_in_conflict: usize,
    /// Records removed from devices by scope changes.
    records_removed: u64,
    /// At the end: refused edits kept on the devices, records held back (refused whole) and
    /// records kept outside their device's scope (with unsent edits when they left it).
    refused_edits: usize,
    held_back: usize,
    kept_out_of_scope: usize,
    server_records: usize,
}

struct World {
    seed: u64,
    steps: usize,
    root: Option<tempfile::TempDir>,
    root_path: PathBuf,
    server: ServerProcess,
    upstream: Arc<Mutex<SocketAddr>>,
    devs: Vec<Dev>,
    asgs: Vec<Asg>,
    recs: Vec<Rec>,
    by_id: BTreeMap<String, usize>,
    acked: Vec<Acked>,
    /// Every value written at (record, leaf path), acknowledged or not.
    candidates: BTreeMap<(usize, String), Vec<Value>>,
    /// Every item appended to (record, list), acknowledged or not.
    appended: BTreeMap<(usize, String), Vec<Value>>,
    /// Photo adds acknowledged per record: photo id → sha256.
    photo_ids: BTreeMap<usize, BTreeMap<String, String>>,
    /// Photo adds sent per record (to bound the entries).
    photo_sends: BTreeMap<usize, usize>,
    removed: BTreeSet<(usize, String)>,
    submitted: BTreeSet<usize>,
    /// Records a fill was acknowledged on.
    filled: BTreeSet<usize>,
    seeds_used: Vec<u32>,
    stats: Stats,
    trace: VecDeque<String>,
    trace_all: bool,
    step: usize,
    /// Failures that do not stop the run at once (a sync failing for another reason than the
    /// network): reported at the end.
    anomalies: Vec<(usize, String)>,
    /// Assignments are handed to other users (`JINGTU_SIM_REASSIGN=0` leaves that out).
    reassigning: bool,
}

fn env_num<T: std::str::FromStr>(key: &str) -> Option<T> {
    std::env::var(key).ok().and_then(|s| s.trim().parse().ok())
}

#[test]
fn seeded_simulation_converges_and_loses_nothing() {
    let steps: usize = env_num("JINGTU_SIM_STEPS").unwrap_or(DEFAULT_STEPS);
    let seeds: Vec<u64> = if let Some(s) = env_num::<u64>("JINGTU_SIM_SEED") {
        vec![s]
    } else if let Ok(list) = std::env::var("JINGTU_SIM_SEEDS") {
        list.split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect()
    } else {
        DEFAULT_SEEDS.to_vec()
    };
    for seed in seeds {
        eprintln!(
            "sim seed {seed}, {steps} steps (replay: JINGTU_SIM_SEED={seed} JINGTU_SIM_STEPS={steps} \
             cargo test -p jingtu-e2e --test simulation -- --nocapture)"
        );
        let started = Instant::now();
        let mut w = World::new(seed, steps);
        w.run();
        w.converge();
        w.check();
        let summary = w.summary(started.elapsed());
        eprintln!("{summary}");
        w.shut_down();
    }
}

impl World {
    fn new(seed: u64, steps: usize) -> World {
        let root = tempfile::Builder::new()
            .prefix("jingtu-sim-")
            .tempdir()
            .expect("a temp dir");
        let root_path = root.path().to_path_buf();
        let server =
            ServerProcess::start_with_config(SERVER, &root_path.join("server"), SERVER_CONFIG);
        let specs = dev_specs();
        let mut users: Vec<(String, &str, &str)> = Vec::new();
        for s in &specs {
            if users.iter().any(|u| u.0 == s.user) {
                continue;
            }
            let role = match s.role {
                Role::Inspector => "inspector",
                Role::Supervisor => "supervisor",
            };
            let org = s.township.map_or(COUNTY, |t| TOWNSHIPS[t]);
            users.push((s.user.clone(), role, org));
        }
        let users_ref: Vec<(&str, &str, &str)> =
            users.iter().map(|(u, r, o)| (u.as_str(), *r, *o)).collect();
        server.county(&users_ref);
        let mut asgs = Vec::new();
        for (assignee, kind, t) in [
            ("insp_y2", VILLAGE_KIND, 0),
            ("insp_y1", SEWAGE_KIND, 0),
            ("insp_h1", VILLAGE_KIND, 1),
            ("insp_h2", SEWAGE_KIND, 1),
        ] {
            let id = server.admin(&[
                "assign",
                assignee,
                "--kind",
                kind,
                "--target-kind",
                "village",
                "--target",
                VILLAGES[t],
                "--name",
                &format!("{}任务", TOWNSHIP_NAMES[t]),
                "--org",
                TOWNSHIPS[t],
            ]);
            asgs.push(Asg {
                id,
                kind,
                township: t,
                assignee: assignee.into(),
                reassigned: 0,
            });
        }
        let upstream = Arc::new(Mutex::new(server.addr));
        let devices = root_path.join("devices");
        std::fs::create_dir_all(&devices).unwrap();
        let mut devs = Vec::new();
        for spec in specs {
            let proxy = Proxy::start(upstream.clone()).expect("a proxy");
            let dir = devices.join(&spec.name);
            {
                let core = jingtu_core::DeviceCore::open(&dir).expect("opening a device store");
                let code = server.enroll_code(&spec.user);
                let who = core
                    .enroll(&proxy.url(), &code, Some(&spec.name), Some("sim"))
                    .unwrap_or_else(|e| panic!("enrolling {}: {e}", spec.name));
                assert_eq!(who.user, spec.user);
            }
            devs.push(Dev {
                spec,
                dir,
                proxy,
                proc: None,
                actor: String::new(),
                holds: BTreeSet::new(),
                pending_create: None,
                offline_until: None,
                restart_at: None,
            });
        }
        let mut w = World {
            seed,
            steps,
            root: Some(root),
            root_path,
            server,
            upstream,
            devs,
            asgs,
            recs: Vec::new(),
            by_id: BTreeMap::new(),
            acked: Vec::new(),
            candidates: BTreeMap::new(),
            appended: BTreeMap::new(),
            photo_ids: BTreeMap::new(),
            photo_sends: BTreeMap::new(),
            removed: BTreeSet::new(),
            submitted: BTreeSet::new(),
            filled: BTreeSet::new(),
            seeds_used: Vec::new(),
            stats: Stats::default(),
            trace: VecDeque::new(),
            trace_all: std::env::var("JINGTU_SIM_TRACE").is_ok_and(|v| v != "0"),
            step: 0,
            anomalies: Vec::new(),
            reassigning: std::env::var("JINGTU_SIM_REASSIGN").map_or(true, |v| v != "0"),
        };
        for d in 0..w.devs.len() {
            w.spawn(d);
        }
        w
    }

    // ---------------------------------------------------------------- failure and trace

    fn note(&mut self, line: String) {
        if self.trace_all {
            eprintln!("[seed {} step {}] {line}", self.seed, self.step);
        }
        self.trace.push_back(format!("step {}: {line}", self.step));
        if self.trace.len() > 120 {
            self.trace.pop_front();
        }
    }

    fn replay_hint(&self) -> String {
        format!(
            "JINGTU_SIM_SEED={} JINGTU_SIM_STEPS={} cargo test -p jingtu-e2e --test simulation -- --nocapture",
            self.seed, self.steps
        )
    }

    /// Stops the seed: what failed, the last steps, where the folders are kept, how to replay.
    fn fail(&mut self, what: String) -> ! {
        let kept = self.keep();
        let mut msg = format!(
            "SIMULATION FAILED: seed {} at step {}: {what}\n--- last steps:\n",
            self.seed, self.step
        );
        for t in &self.trace {
            let _ = writeln!(msg, "  {t}");
        }
        let log = self.server.log();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let _ = writeln!(msg, "--- server log (last lines):");
        for l in tail.into_iter().rev() {
            let _ = writeln!(msg, "  {l}");
        }
        let _ = writeln!(
            msg,
            "--- folders kept in {}\n--- replay: {}",
            kept.display(),
            self.replay_hint()
        );
        panic!("{msg}");
    }

    /// Keeps the temp folder (the stores, the server's data, the devices' stderr).
    fn keep(&mut self) -> PathBuf {
        if let Some(root) = self.root.take() {
            return root.keep();
        }
        self.root_path.clone()
    }

    // ---------------------------------------------------------------- device processes

    fn stderr_file(&self, d: usize) -> PathBuf {
        self.devs[d].dir.with_extension("stderr")
    }

    fn spawn(&mut self, d: usize) {
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.stderr_file(d))
            .expect("the device's stderr file");
        let mut child = Command::new(DEVICE)
            .arg(&self.devs[d].dir)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(err))
            .spawn()
            .expect("running jingtu-sim-device");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let ready = match rx.recv_timeout(ANSWER_TIMEOUT) {
            Ok(l) => l,
            Err(e) => {
                let name = self.devs[d].spec.name.clone();
                let stderr = std::fs::read_to_string(self.stderr_file(d)).unwrap_or_default();
                self.fail(format!(
                    "device {name} did not start ({e:?}); its stderr:\n{stderr}"
                ))
            }
        };
        let Some(json) = ready.strip_prefix("ready ") else {
            let name = self.devs[d].spec.name.clone();
            self.fail(format!("device {name} did not open its store: {ready}"))
        };
        let v: Value = serde_json::from_str(json).unwrap();
        self.devs[d].actor = v["device"].as_str().unwrap_or_default().to_string();
        self.devs[d].proc = Some(Proc {
            child,
            stdin,
            lines: rx,
        });
    }

    fn alive(&self, d: usize) -> bool {
        self.devs[d].proc.is_some()
    }

    fn send(&mut self, d: usize, cmd: &str) {
        let ok = match &mut self.devs[d].proc {
            Some(p) => writeln!(p.stdin, "{cmd}")
                .and_then(|_| p.stdin.flush())
                .is_ok(),
            None => false,
        };
        if !ok {
            let name = self.devs[d].spec.name.clone();
            let stderr = std::fs::read_to_string(self.stderr_file(d)).unwrap_or_default();
            self.fail(format!(
                "device {name} is gone (writing {cmd:?}); its stderr:\n{stderr}"
            ));
        }
    }

    fn receive(&mut self, d: usize, what: &str) -> Answer {
        let got = match &self.devs[d].proc {
            Some(p) => p.lines.recv_timeout(ANSWER_TIMEOUT),
            None => Err(mpsc::RecvTimeoutError::Disconnected),
        };
        let name = self.devs[d].spec.name.clone();
        match got {
            Ok(line) => match Answer::parse(&line) {
                Ok(a) => a,
                Err(e) => self.fail(format!("device {name} answered {what:?} with {e}")),
            },
            Err(e) => {
                let stderr = std::fs::read_to_string(self.stderr_file(d)).unwrap_or_default();
                self.fail(format!(
                    "device {name} gave no answer to {what:?} ({e:?}); its stderr:\n{stderr}"
                ))
            }
        }
    }

    fn call(&mut self, d: usize, cmd: &str) -> Answer {
        self.send(d, cmd);
        self.receive(d, cmd)
    }

    /// SIGKILL; returns the answer the process had printed before it died, if any.
    fn kill(&mut self, d: usize) -> Option<Answer> {
        let mut p = self.devs[d].proc.take()?;
        let _ = p.child.kill();
        let _ = p.child.wait();
        let mut answer = None;
        // The reader sees EOF once the pipe is drained.
        while let Ok(line) = p.lines.recv_timeout(Duration::from_secs(10)) {
            if answer.is_none() {
                answer = Answer::parse(&line).ok();
            }
        }
        answer
    }

    // ---------------------------------------------------------------- model helpers

    fn rec_num(&mut self, id: &str, context: &str) -> usize {
        match self.by_id.get(id) {
            Some(&n) => n,
            None => self.fail(format!(
                "{context}: record {id} is not one the model knows (nobody created it)"
            )),
        }
    }

    fn set_holds(&mut self, d: usize, ids: &Value, context: &str) {
        let mut holds = BTreeSet::new();
        for id in ids.as_array().into_iter().flatten() {
            let id = id.as_str().unwrap_or_default().to_string();
            holds.insert(self.rec_num(&id, context));
        }
        self.devs[d].holds = holds;
    }

    fn add_record(&mut self, d: usize, id: &str, op: &Op) -> usize {
        let Op::Create {
            kind,
            township,
            asg,
            out_of_reach,
            ..
        } = op
        else {
            unreachable!()
        };
        let n = self.recs.len();
        self.recs.push(Rec {
            id: id.to_string(),
            kind: kind.clone(),
            township: *township,
            asg: *asg,
            creator: d,
            owner: self.devs[d].spec.user.clone(),
            out_of_reach: *out_of_reach,
        });
        self.by_id.insert(id.to_string(), n);
        self.devs[d].holds.insert(n);
        n
    }

    fn written(&mut self, rec: usize, path: &str, value: &Value) {
        match value {
            Value::Object(o) => {
                for (k, v) in o {
                    self.written(rec, &format!("{path}.{k}"), v);
                }
            }
            v => self
                .candidates
                .entry((rec, path.to_string()))
                .or_default()
                .push(v.clone()),
        }
    }

    fn ack(&mut self, dev: usize, rec: usize, effect: Effect) {
        self.stats.acked += 1;
        self.acked.push(Acked {
            dev,
            rec,
            effect,
            step: self.step,
        });
    }

    /// May `user` (of device `d`'s role and township) write and see record `r` on the server?
    fn in_scope(&self, d: usize, r: usize) -> bool {
        let spec = &self.devs[d].spec;
        let rec = &self.recs[r];
        if rec.owner == spec.user {
            return true;
        }
        match spec.role {
            Role::Supervisor => spec.township.is_none_or(|t| t == rec.township),
            Role::Inspector => rec.asg.is_some_and(|a| self.asgs[a].assignee == spec.user),
        }
    }

    // ---------------------------------------------------------------- operations

    fn command(&self, op: &Op) -> String {
        let id = |r: &usize| self.recs[*r].id.clone();
        match op {
            Op::Create { kind, org, asg, .. } => format!(
                "create {kind} {org} {}",
                asg.map_or("-".to_string(), |a| self.asgs[a].id.clone())
            ),
            Op::Write { cmd, .. } => cmd.clone(),
            Op::Append { rec, path, value } => format!("append {} {path} {value}", id(rec)),
            Op::Photo {
                rec,
                seed,
                tag,
                field,
            } => format!(
                "photo {} {seed} {tag} {}",
                id(rec),
                field.as_deref().unwrap_or("-")
            ),
            Op::Unphoto { rec, photo_id } => format!("unphoto {} {photo_id}", id(rec)),
            Op::Submit { rec } => format!("submit {}", id(rec)),
            Op::Resolve { rec } => format!("resolve {}", id(rec)),
            Op::Sync => "sync".to_string(),
        }
    }

    /// Notes what an operation may write, before it is sent (it may land without an answer).
    fn before_send(&mut self, op: &Op) {
        match op {
            Op::Write { rec, leaves, .. } => {
                for (p, v) in leaves.clone() {
                    self.written(*rec, &p, &v);
                }
            }
            Op::Append { rec, path, value } => self
                .appended
                .entry((*rec, path.clone()))
                .or_default()
                .push(value.clone()),
            Op::Photo { rec, .. } => *self.photo_sends.entry(*rec).or_default() += 1,
            _ => {}
        }
    }

    /// Takes in the answer to an operation.
    fn on_answer(&mut self, d: usize, op: &Op, answer: Answer) {
        let name = self.devs[d].spec.name.clone();
        let v = match answer {
            Answer::Ok(v) => v,
            Answer::Err { code, message } => {
                if matches!(op, Op::Sync) {
                    self.stats.syncs_failed += 1;
                }
                self.note(format!("{name}: err {code} {}", clip(&message, 160)));
                *self.stats.errors.entry(code.clone()).or_default() += 1;
                if matches!(op, Op::Sync) {
                    // A network that fails, a server restarting or busy: the sync is simply
                    // not done. Anything else is noted and the run goes on (to see whether
                    // the device recovers); the check at the end reports it.
                    let expected = code == "network"
                        || code.starts_with("refused_503_")
                        || code.starts_with("refused_408")
                        || code.starts_with("refused_429");
                    if !expected {
                        let what = format!("{name}'s sync failed: {code} {message}");
                        self.anomalies.push((self.step, what));
                    }
                    return;
                }
                let expected = matches!(
                    code.as_str(),
                    "not_found"
                        | "invalid_state"
                        | "submit_blocked"
                        | "no_conflict"
                        | "photo_not_found"
                );
                if !expected {
                    self.fail(format!(
                        "device {name}: {} failed unexpectedly: {code} {message}",
                        self.command(op)
                    ));
                }
                return;
            }
        };
        match op {
            Op::Create { .. } => {
                let id = v["id"].as_str().unwrap_or_default().to_string();
                let n = self.add_record(d, &id, op);
                self.stats.creates += 1;
                self.note(format!("{name}: created R{n} {id}"));
                self.ack(d, n, Effect::Created);
            }
            Op::Write { rec, cmd, leaves } => {
                if cmd.starts_with("fill ") {
                    self.filled.insert(*rec);
                }
                for (p, _) in leaves.clone() {
                    self.ack(d, *rec, Effect::Set(p));
                }
            }
            Op::Append { rec, path, value } => {
                self.ack(d, *rec, Effect::Append(path.clone(), value.clone()));
            }
            Op::Photo { rec, .. } => {
                let pid = v["photo_id"].as_str().unwrap_or_default().to_string();
                let sha = v["sha256"].as_str().unwrap_or_default().to_string();
                self.photo_ids
                    .entry(*rec)
                    .or_default()
                    .insert(pid.clone(), sha.clone());
                self.stats.photos += 1;
                self.ack(d, *rec, Effect::PhotoAdd(pid, sha));
            }
            Op::Unphoto { rec, photo_id } => {
                self.removed.insert((*rec, photo_id.clone()));
                self.ack(d, *rec, Effect::PhotoRemove(photo_id.clone()));
            }
            Op::Submit { rec } => {
                self.submitted.insert(*rec);
                self.stats.submits += 1;
                self.ack(d, *rec, Effect::Submit);
            }
            Op::Resolve { rec } => {
                let path = v["path"].as_str().unwrap_or_default().to_string();
                let value = v["value"].clone();
                self.written(*rec, &path, &value);
                self.note(format!("{name}: resolved {path} of R{rec} with {value}"));
            }
            Op::Sync => {
                self.stats.syncs_ok += 1;
                let context = format!("{name}'s sync");
                self.set_holds(d, &v["ids"], &context);
                let report = &v["report"];
                self.stats.records_removed += report["records_removed"].as_u64().unwrap_or(0);
                for r in report["refused"].as_array().into_iter().flatten() {
                    let code = r["code"].as_str().unwrap_or_default().to_string();
                    *self.stats.refused_pushes.entry(code.clone()).or_default() += 1;
                    let id = r["record"].as_str().unwrap_or_default().to_string();
                    let n = self.rec_num(&id, &context);
                    self.note(format!(
                        "{name}: push of R{n} refused: {code} {:?}",
                        r["rule"].as_str()
                    ));
                }
                self.note(format!(
                    "{name}: synced: pushed {} pulled {} received {} removed {} photos up {} thumbs {}",
                    report["records_pushed"],
                    report["chunks_pulled"],
                    report["records_received"],
                    report["records_removed"],
                    report["photos_uploaded"],
                    report["thumbnails_fetched"]
                ));
            }
        }
    }

    /// An operation whose answer never came (the process was killed first).
    fn on_lost(&mut self, d: usize, op: &Op) {
        if let Op::Create { .. } = op {
            self.devs[d].pending_create = Some(op.clone());
        }
    }

    /// Sends an operation and takes in its answer.
    fn perform(&mut self, d: usize, op: Op) {
        let cmd = self.command(&op);
        self.note(format!("{} <- {}", self.devs[d].spec.name, clip(&cmd, 200)));
        self.before_send(&op);
        self.stats.ops += 1;
        let answer = self.call(d, &cmd);
        self.on_answer(d, &op, answer);
    }

    /// Starts a killed device again; a record it made while being killed is adopted.
    fn restart_device(&mut self, d: usize) {
        self.spawn(d);
        self.stats.device_restarts += 1;
        self.devs[d].restart_at = None;
        let name = self.devs[d].spec.name.clone();
        let Answer::Ok(v) = self.call(d, "ids") else {
            self.fail(format!("{name}: ids failed after a restart"))
        };
        let pending = self.devs[d].pending_create.take();
        let mut adopted = false;
        let mut holds = BTreeSet::new();
        for id in v["ids"].as_array().into_iter().flatten() {
            let id = id.as_str().unwrap_or_default().to_string();
            if let Some(&n) = self.by_id.get(&id) {
                holds.insert(n);
                continue;
            }
            // At most one record can come from the one create in flight.
            match &pending {
                Some(op) if !adopted => {
                    let op = op.clone();
                    let n = self.add_record(d, &id, &op);
                    adopted = true;
                    self.stats.adopted += 1;
                    self.note(format!(
                        "{name}: adopted R{n} {id}, made by the create it was killed in"
                    ));
                    holds.insert(n);
                }
                _ => self.fail(format!(
                    "{name} holds record {id} after a restart, which nobody created"
                )),
            }
        }
        self.devs[d].holds = holds;
        self.note(format!("{name}: restarted"));
    }

    fn restart_server(&mut self) {
        let same = self.server.restart();
        *self.upstream.lock().unwrap() = self.server.addr;
        self.stats.server_restarts += 1;
        if !same {
            self.stats.server_port_changed += 1;
        }
    }

    // ---------------------------------------------------------------- choosing

    fn pick_alive(&self, r: &mut StdRng) -> Option<usize> {
        let alive: Vec<usize> = (0..self.devs.len()).filter(|&d| self.alive(d)).collect();
        if alive.is_empty() {
            return None;
        }
        Some(alive[r.random_range(0..alive.len())])
    }

    /// The device that edits: the supervisors and the two phones of one inspector half the
    /// time (they share records with others, so their edits meet), else any.
    fn pick_editor(&self, r: &mut StdRng) -> Option<usize> {
        let sharing: Vec<usize> = (0..self.devs.len())
            .filter(|&d| {
                self.alive(d)
                    && (self.devs[d].spec.role == Role::Supervisor
                        || self.devs[d].spec.user == "insp_y1")
            })
            .collect();
        if !sharing.is_empty() && r.random_bool(0.5) {
            return Some(sharing[r.random_range(0..sharing.len())]);
        }
        self.pick_alive(r)
    }

    /// A record device `d` holds: one of its newest half the time (edits pile up on records
    /// in use, where devices meet), else any; not one known submitted when others exist.
    fn pick_record(&self, d: usize, r: &mut StdRng) -> Option<usize> {
        let holds: Vec<usize> = self.devs[d].holds.iter().copied().collect();
        let open: Vec<usize> = holds
            .iter()
            .copied()
            .filter(|n| !self.submitted.contains(n))
            .collect();
        let from = if open.is_empty() { holds } else { open };
        if from.is_empty() {
            return None;
        }
        if r.random_bool(0.5) {
            let k = from.len().min(6);
            Some(from[from.len() - k + r.random_range(0..k)])
        } else {
            Some(from[r.random_range(0..from.len())])
        }
    }

    fn create_op(&self, d: usize, r: &mut StdRng) -> Op {
        let spec = &self.devs[d].spec;
        let reach_out = spec.name != "sup_nz" && r.random_bool(0.03);
        let home = spec.township.unwrap_or_else(|| r.random_range(0..2));
        if reach_out {
            let t = 1 - home;
            let kind = if r.random_bool(0.5) {
                VILLAGE_KIND
            } else {
                SEWAGE_KIND
            };
            return Op::Create {
                kind: kind.into(),
                org: VILLAGES[t].into(),
                township: t,
                asg: None,
                out_of_reach: true,
            };
        }
        let mine: Vec<usize> = (0..self.asgs.len())
            .filter(|&a| match spec.role {
                Role::Inspector => self.asgs[a].assignee == spec.user,
                Role::Supervisor => spec.township.is_none_or(|t| t == self.asgs[a].township),
            })
            .collect();
        if !mine.is_empty() && r.random_bool(0.25) {
            let a = mine[r.random_range(0..mine.len())];
            let t = self.asgs[a].township;
            return Op::Create {
                kind: self.asgs[a].kind.into(),
                org: VILLAGES[t].into(),
                township: t,
                asg: Some(a),
                out_of_reach: false,
            };
        }
        let kind = if r.random_bool(0.5) {
            VILLAGE_KIND
        } else {
            SEWAGE_KIND
        };
        Op::Create {
            kind: kind.into(),
            org: VILLAGES[home].into(),
            township: home,
            asg: None,
            out_of_reach: false,
        }
    }

    fn set_op(&self, rec: usize, r: &mut StdRng) -> Op {
        let s = self.step;
        let (path, value): (&str, Value) = if self.recs[rec].kind == VILLAGE_KIND {
            match r.random_range(0..8) {
                0 => ("eval_year", json!(r.random_range(2000..=2100))),
                1 => ("eval_half", json!(r.random_range(1..=2))),
                2 => (
                    "eval_level",
                    json!(["county_self", "city_review", "province_spot"][r.random_range(0..3)]),
                ),
                3 => ("resident_approval", json!(r.random_bool(0.5))),
                4 => ("village_name", json!(format!("杨树沟村{s}"))),
                5 => ("township", json!(format!("云阳镇{s}"))),
                6 => (
                    "indicators.households_total",
                    json!(r.random_range(0..=100_000)),
                ),
                _ => (
                    "indicators.sewage_treatment_rate_pct",
                    json!(r.random_range(0..400) as f64 * 0.25),
                ),
            }
        } else {
            match r.random_range(0..8) {
                0 => (
                    "design_capacity_t_d",
                    json!(r.random_range(0..40_000) as f64 * 0.25),
                ),
                1 => (
                    "actual_flow_t_d",
                    json!(r.random_range(0..40_000) as f64 * 0.25),
                ),
                2 => (
                    "facility_status",
                    json!(
                        [
                            "normal",
                            "intermittent",
                            "stopped",
                            "idle",
                            "under_construction"
                        ][r.random_range(0..5)]
                    ),
                ),
                3 => (
                    "sewage_mode",
                    json!(
                        [
                            "sewer_connected",
                            "centralized",
                            "decentralized",
                            "resource_reuse",
                            "controlled"
                        ][r.random_range(0..5)]
                    ),
                ),
                4 => ("facility_name", json!(format!("污水处理设施{s}"))),
                5 => ("process", json!(format!("工艺{s}"))),
                6 => (
                    "quarter",
                    json!(format!(
                        "{}-Q{}",
                        r.random_range(2020..2030),
                        r.random_range(1..=4)
                    )),
                ),
                _ => (
                    "inspection_type",
                    json!(["quarterly_inspection", "half_year_monitoring"][r.random_range(0..2)]),
                ),
            }
        };
        Op::Write {
            rec,
            cmd: format!("set {} {path} {value}", self.recs[rec].id),
            leaves: vec![(path.to_string(), value)],
        }
    }

    fn check_op(&self, rec: usize, r: &mut StdRng) -> Op {
        let items: &[&str] = if self.recs[rec].kind == VILLAGE_KIND {
            &VILLAGE_ITEMS
        } else {
            &SEWAGE_ITEMS
        };
        let item = items[r.random_range(0..items.len())];
        let result = ["pass", "pass", "na", "fail"][r.random_range(0..4)];
        let issue = (result == "fail" || r.random_bool(0.2)).then(|| format!("问题{}", self.step));
        let mut leaves = vec![(format!("checklist.{item}.result"), json!(result))];
        if let Some(i) = &issue {
            leaves.push((format!("checklist.{item}.issue"), json!(i)));
        }
        Op::Write {
            rec,
            cmd: format!(
                "check {} {item} {result} {}",
                self.recs[rec].id,
                issue.as_deref().unwrap_or("-")
            ),
            leaves,
        }
    }

    /// The fields a quarterly inspection needs (from the template's valid example), all but
    /// the inspectors (appended one by one) and the notes (long text merges by character).
    fn fill_op(&self, rec: usize) -> Op {
        let mut checklist = serde_json::Map::new();
        for item in SEWAGE_ITEMS {
            checklist.insert(item.into(), json!({"result": "pass"}));
        }
        let fill = json!({
            "facility_name": "云阳镇老街村集中式污水处理设施",
            "facility_code": "NZ-WS-11",
            "admin_code": "411321102201",
            "township": "云阳镇",
            "village_name": "老街村",
            "location": {"lat": 33.491204, "lon": 112.428873, "accuracy_m": 5.2},
            "design_capacity_t_d": 150,
            "actual_flow_t_d": 96,
            "process": "一体化设备（MBR）",
            "sewage_mode": "centralized",
            "facility_status": "normal",
            "inspection_type": "quarterly_inspection",
            "inspected_at": "2024-09-10T09:00:00+08:00",
            "quarter": "2024-Q3",
            "checklist": Value::Object(checklist),
        });
        let mut leaves = Vec::new();
        flatten("", &fill, &mut leaves);
        Op::Write {
            rec,
            cmd: format!("fill {} {fill}", self.recs[rec].id),
            leaves,
        }
    }

    /// An edit of a record device `d` holds (or a new record).
    fn edit_op(&mut self, d: usize, r: &mut StdRng) -> Op {
        let roll = r.random_range(0..100);
        let Some(rec) = (roll >= 8).then(|| self.pick_record(d, r)).flatten() else {
            return self.create_op(d, r);
        };
        match roll {
            8..=39 => self.set_op(rec, r),
            40..=52 => self.check_op(rec, r),
            53..=67 => Op::Append {
                rec,
                path: "inspectors".into(),
                value: json!(format!("巡查员{}-{}", self.step, self.devs[d].spec.name)),
            },
            68..=76 => {
                let seed = if !self.seeds_used.is_empty() && r.random_bool(0.2) {
                    self.seeds_used[r.random_range(0..self.seeds_used.len())]
                } else {
                    1000 + self.step as u32
                };
                self.seeds_used.push(seed);
                let field = r.random_bool(0.5).then(|| {
                    let items: &[&str] = if self.recs[rec].kind == VILLAGE_KIND {
                        &VILLAGE_ITEMS
                    } else {
                        &SEWAGE_ITEMS
                    };
                    format!("checklist.{}", items[r.random_range(0..items.len())])
                });
                Op::Photo {
                    rec,
                    seed,
                    tag: PHOTO_TAGS[r.random_range(0..PHOTO_TAGS.len())].into(),
                    field,
                }
            }
            77..=79 => {
                let live: Vec<String> = self
                    .photo_ids
                    .get(&rec)
                    .map(|m| {
                        m.keys()
                            .filter(|p| !self.removed.contains(&(rec, (*p).clone())))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                if live.is_empty() {
                    return self.set_op(rec, r);
                }
                Op::Unphoto {
                    rec,
                    photo_id: live[r.random_range(0..live.len())].clone(),
                }
            }
            80..=87 => {
                // A sewage inspection this device holds, filled to pass its checks.
                let sewage: Vec<usize> = self.devs[d]
                    .holds
                    .iter()
                    .copied()
                    .filter(|&n| self.recs[n].kind == SEWAGE_KIND && !self.filled.contains(&n))
                    .collect();
                if self.recs[rec].kind == SEWAGE_KIND {
                    self.fill_op(rec)
                } else if !sewage.is_empty() {
                    self.fill_op(sewage[r.random_range(0..sewage.len())])
                } else {
                    self.check_op(rec, r)
                }
            }
            88..=95 => {
                // Mostly a filled record, which may pass its checks.
                let filled: Vec<usize> = self.devs[d]
                    .holds
                    .iter()
                    .copied()
                    .filter(|n| self.filled.contains(n) && !self.submitted.contains(n))
                    .collect();
                let rec = if !filled.is_empty() && r.random_bool(0.8) {
                    filled[r.random_range(0..filled.len())]
                } else {
                    rec
                };
                Op::Submit { rec }
            }
            _ => Op::Resolve { rec },
        }
    }

    // ---------------------------------------------------------------- the run

    fn run(&mut self) {
        let mut main = StdRng::seed_from_u64(self.seed);
        for step in 0..self.steps {
            self.step = step;
            let mut r = StdRng::seed_from_u64(main.random());
            self.tick();
            // Weights out of 200.
            let roll = r.random_range(0..200);
            match roll {
                0..=119 => {
                    let Some(d) = self.pick_editor(&mut r) else {
                        continue;
                    };
                    let op = self.edit_op(d, &mut r);
                    self.perform(d, op);
                }
                120..=155 => {
                    let Some(d) = self.pick_alive(&mut r) else {
                        continue;
                    };
                    self.perform(d, Op::Sync);
                }
                156..=161 => self.burst(&mut r),
                162..=171 => self.cut_and_sync(&mut r),
                172..=175 => {
                    let d = r.random_range(0..self.devs.len());
                    let n = r.random_range(3..40);
                    self.go_offline(d, step + n);
                    self.stats.offline_periods += 1;
                    self.note(format!("{} offline for {n} steps", self.devs[d].spec.name));
                }
                176 => {
                    let n = r.random_range(3..15);
                    for d in 0..self.devs.len() {
                        self.go_offline(d, step + n);
                    }
                    self.stats.partitions += 1;
                    self.note(format!("everyone offline for {n} steps"));
                }
                177..=190 => self.crash(&mut r),
                191..=194 => self.server_fault(&mut r),
                195 if self.reassigning => self.reassign(&mut r),
                195 => self.note("(reassignment left out: JINGTU_SIM_REASSIGN=0)".into()),
                _ => {
                    // A device that was killed comes back early.
                    let dead: Vec<usize> =
                        (0..self.devs.len()).filter(|&d| !self.alive(d)).collect();
                    if !dead.is_empty() {
                        let d = dead[r.random_range(0..dead.len())];
                        self.restart_device(d);
                    }
                }
            }
        }
    }

    /// Ends offline periods and restarts killed devices whose time has come.
    fn tick(&mut self) {
        for d in 0..self.devs.len() {
            if self.devs[d].offline_until.is_some_and(|u| u <= self.step) {
                self.devs[d].offline_until = None;
                self.devs[d].proxy.set_offline(false);
            }
            if self.devs[d].restart_at.is_some_and(|u| u <= self.step) {
                self.restart_device(d);
            }
        }
    }

    fn go_offline(&mut self, d: usize, until: usize) {
        let dev = &mut self.devs[d];
        dev.offline_until = Some(dev.offline_until.unwrap_or(0).max(until));
        dev.proxy.set_offline(true);
    }

    /// Several devices sync at once.
    fn burst(&mut self, r: &mut StdRng) {
        let mut alive: Vec<usize> = (0..self.devs.len()).filter(|&d| self.alive(d)).collect();
        let k = r.random_range(2..=6).min(alive.len());
        let mut chosen = Vec::new();
        for _ in 0..k {
            chosen.push(alive.remove(r.random_range(0..alive.len())));
        }
        self.stats.bursts += 1;
        let names: Vec<String> = chosen
            .iter()
            .map(|&d| self.devs[d].spec.name.clone())
            .collect();
        self.note(format!("burst: {} sync at once", names.join(", ")));
        for &d in &chosen {
            self.stats.ops += 1;
            self.send(d, "sync");
        }
        for &d in &chosen {
            let a = self.receive(d, "sync");
            self.on_answer(d, &Op::Sync, a);
        }
    }

    /// Arms a cut on a device's connection and has it sync.
    fn cut_and_sync(&mut self, r: &mut StdRng) {
        let Some(d) = self.pick_alive(r) else { return };
        let at_byte = match r.random_range(0..10) {
            0..=4 => r.random_range(0..250),
            5..=8 => r.random_range(250..1500),
            _ => r.random_range(1500..20_000),
        };
        let plan = CutPlan {
            skip: [0, 0, 0, 0, 0, 0, 0, 0, 1, 2][r.random_range(0..10)],
            upstream: r.random_bool(0.5),
            at_byte,
        };
        self.stats.cuts_planned += 1;
        self.note(format!("{}: cut {plan:?}", self.devs[d].spec.name));
        self.devs[d].proxy.plan_cut(plan);
        self.perform(d, Op::Sync);
        self.devs[d].proxy.disarm();
    }

    /// Kills a device: idle, or in the middle of an edit or a sync (right after the command
    /// was written, or a few milliseconds later).
    fn crash(&mut self, r: &mut StdRng) {
        let Some(d) = self.pick_alive(r) else { return };
        let name = self.devs[d].spec.name.clone();
        let mode = r.random_range(0..3);
        let delay_ms = match r.random_range(0..10) {
            0..=2 => 0,
            3..=6 => r.random_range(1..6),
            _ => r.random_range(6..60),
        };
        let back = self.step + r.random_range(2..25);
        self.stats.crashes += 1;
        let op = match mode {
            0 => None,
            1 => Some(self.edit_op(d, r)),
            _ => Some(Op::Sync),
        };
        match op {
            None => {
                self.note(format!("{name}: killed while idle"));
                self.kill(d);
            }
            Some(op) => {
                let cmd = self.command(&op);
                self.note(format!(
                    "{name} <- {} and killed after {delay_ms} ms",
                    clip(&cmd, 200)
                ));
                self.before_send(&op);
                self.stats.ops += 1;
                self.stats.crashes_in_flight += 1;
                self.send(d, &cmd);
                if delay_ms > 0 {
                    std::thread::sleep(Duration::from_millis(delay_ms));
                }
                match self.kill(d) {
                    Some(a) => {
                        self.stats.answered_before_kill += 1;
                        self.note(format!("{name}: answered before the kill"));
                        self.on_answer(d, &op, a);
                    }
                    None => self.on_lost(d, &op),
                }
            }
        }
        self.devs[d].restart_at = Some(back);
    }

    /// Restarts the server: idle, or while a device syncs.
    fn server_fault(&mut self, r: &mut StdRng) {
        let during = r.random_bool(0.5).then(|| self.pick_alive(r)).flatten();
        let delay_ms = r.random_range(0..40);
        match during {
            None => {
                self.note("server restarted".into());
                self.restart_server();
            }
            Some(d) => {
                self.note(format!(
                    "server restarted {delay_ms} ms into {}'s sync",
                    self.devs[d].spec.name
                ));
                self.stats.ops += 1;
                self.stats.server_restarts_in_sync += 1;
                self.send(d, "sync");
                std::thread::sleep(Duration::from_millis(delay_ms));
                self.restart_server();
                let a = self.receive(d, "sync");
                self.on_answer(d, &Op::Sync, a);
            }
        }
    }

    /// Hands an assignment to another inspector of its township.
    fn reassign(&mut self, r: &mut StdRng) {
        let a = r.random_range(0..self.asgs.len());
        let t = self.asgs[a].township;
        let others: Vec<String> = self
            .devs
            .iter()
            .filter(|d| {
                d.spec.role == Role::Inspector
                    && d.spec.township == Some(t)
                    && d.spec.user != self.asgs[a].assignee
            })
            .map(|d| d.spec.user.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let to = others[r.random_range(0..others.len())].clone();
        let id = self.asgs[a].id.clone();
        if let Err(e) = self.server.try_admin(&["reassign", &id, &to]) {
            self.fail(format!("admin reassign {id} {to} failed: {e}"));
        }
        self.note(format!(
            "assignment A{a} handed from {} to {to}",
            self.asgs[a].assignee
        ));
        self.asgs[a].assignee = to;
        self.asgs[a].reassigned += 1;
        self.stats.reassigns += 1;
    }

    // ---------------------------------------------------------------- the end

    /// Heals the network, starts every device, and syncs them all until a whole round
    /// changes nothing.
    fn converge(&mut self) {
        self.step = self.steps;
        self.note("--- convergence".into());
        for d in 0..self.devs.len() {
            self.devs[d].offline_until = None;
            self.devs[d].proxy.heal();
            if !self.alive(d) {
                self.restart_device(d);
            }
        }
        for round in 1..=MAX_ROUNDS {
            let mut busy = Vec::new();
            for d in 0..self.devs.len() {
                let a = self.call(d, "sync");
                let active = match &a {
                    Answer::Ok(v) => {
                        let rep = &v["report"];
                        let n = |k: &str| rep[k].as_u64().unwrap_or(0);
                        n("records_pushed")
                            + n("chunks_pulled")
                            + n("records_received")
                            + n("records_removed")
                            + n("photos_uploaded")
                            + n("thumbnails_fetched")
                            > 0
                            || rep["refused"].as_array().is_some_and(|x| !x.is_empty())
                            || rep["kept_out_of_scope"]
                                .as_array()
                                .is_some_and(|x| !x.is_empty())
                    }
                    Answer::Err { .. } => true,
                };
                if active {
                    busy.push(self.devs[d].spec.name.clone());
                }
                self.on_answer(d, &Op::Sync, a);
            }
            self.note(format!("round {round}: busy {busy:?}"));
            if busy.is_empty() {
                self.stats.rounds = round;
                return;
            }
        }
        let mut msg = format!("the devices did not converge in {MAX_ROUNDS} sync rounds");
        for a in self.anomaly_lines() {
            let _ = write!(msg, "\n  - {a}");
        }
        self.fail(msg);
    }

    /// The anomalies, each different one once, with the steps it happened at.
    fn anomaly_lines(&self) -> Vec<String> {
        let mut seen: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        let mut order = Vec::new();
        for (step, what) in &self.anomalies {
            let steps = seen.entry(what.as_str()).or_insert_with(|| {
                order.push(what.as_str());
                Vec::new()
            });
            steps.push(*step);
        }
        order
            .into_iter()
            .map(|what| {
                let steps = &seen[what];
                let first: Vec<String> = steps.iter().take(8).map(|s| s.to_string()).collect();
                let more = if steps.len() > 8 { ", ..." } else { "" };
                format!(
                    "{what} ({} time(s), at steps {}{more}; step {} is the convergence at the end)",
                    steps.len(),
                    first.join(", "),
                    self.steps
                )
            })
            .collect()
    }

    /// Every record the server holds, read through the feed with the admin's token.
    fn server_records(&mut self) -> BTreeMap<String, Value> {
        let token = self.server.admin_token.clone().expect("the admin token");
        let client = Client::new(&self.server.url, &token, ClientOptions::default()).unwrap();
        let device: String = (0..16)
            .map(|_| format!("{:02x}", rand::random::<u8>()))
            .collect();
        let mut docs: BTreeMap<String, AutoCommit> = BTreeMap::new();
        let mut cursor = 0;
        loop {
            let req = SyncRequest {
                protocol: PROTOCOL_VERSION,
                device: device.clone(),
                cursor,
                pushes: vec![],
                max_response_bytes: None,
                scope_seq: 0,
                scope_target: None,
                scope_after: None,
                catalog: None,
            };
            let resp = match client.sync(&req, &|| false) {
                Ok(r) => r,
                Err(e) => self.fail(format!("reading the server's feed: {e}")),
            };
            for c in &resp.chunks {
                let doc = docs.entry(c.record.clone()).or_default();
                if let Err(e) = doc.load_incremental(&c.bytes) {
                    self.fail(format!("the feed's chunk {} of {}: {e}", c.seq, c.record));
                }
            }
            cursor = resp.cursor;
            if !resp.more {
                break;
            }
        }
        let mut out = BTreeMap::new();
        for (id, mut doc) in docs {
            let bytes = doc.save();
            let mut rd = match RecordDoc::load_stored(&bytes, ActorId::random()) {
                Ok(rd) => rd,
                Err(e) => self.fail(format!("the server's copy of {id} is no record: {e}")),
            };
            let history = rd.history();
            let photos: Vec<Value> = rd
                .photos()
                .into_iter()
                .map(|p| serde_json::to_value(p).unwrap())
                .collect();
            out.insert(
                id,
                json!({
                    "data": rd.data(),
                    "events": rd.events(),
                    "photos": photos,
                    "conflicts": rd.conflicts(),
                    "changes": history.len(),
                    "digest": changes_digest(history.iter().map(|h| h.hash.as_str())),
                }),
            );
        }
        out
    }

    fn check(&mut self) {
        self.step = self.steps;
        let server = self.server_records();
        let mut dumps = Vec::new();
        for d in 0..self.devs.len() {
            match self.call(d, "dump") {
                Answer::Ok(v) => dumps.push(v),
                Answer::Err { code, message } => {
                    let name = self.devs[d].spec.name.clone();
                    self.fail(format!("{name}: dump failed: {code} {message}"))
                }
            }
        }
        self.stats.server_records = server.len();
        let mut bad: Vec<String> = self.anomaly_lines();

        // Refused edits on every device, by record.
        let mut refused: Vec<BTreeMap<usize, Vec<Value>>> = vec![BTreeMap::new(); self.devs.len()];
        for (d, dump) in dumps.iter().enumerate() {
            for e in dump["refused"].as_array().into_iter().flatten() {
                let id = e["record"].as_str().unwrap_or_default();
                let Some(&n) = self.by_id.get(id) else {
                    bad.push(format!(
                        "{} keeps a refused edit of {id}, which nobody created",
                        self.devs[d].spec.name
                    ));
                    continue;
                };
                let rec = &self.recs[n];
                let legit =
                    rec.out_of_reach || rec.asg.is_some_and(|a| self.asgs[a].reassigned > 0);
                if !legit {
                    bad.push(format!(
                        "{} had its edit of R{n} refused, which its user may write: {} {:?} {}",
                        self.devs[d].spec.name, e["code"], e["rule"], e["message"]
                    ));
                }
                self.stats.refused_edits += 1;
                refused[d].entry(n).or_default().push(e.clone());
            }
        }

        // The server holds no record nobody made, and every record but those refused whole.
        for id in server.keys() {
            if !self.by_id.contains_key(id) {
                bad.push(format!(
                    "the server holds record {id}, which nobody created"
                ));
            }
        }
        for (n, rec) in self.recs.iter().enumerate() {
            let on_server = server.contains_key(&rec.id);
            if rec.out_of_reach && on_server {
                bad.push(format!(
                    "R{n} ({}) was created outside its creator's reach, yet the server took it",
                    rec.id
                ));
            }
            // A record of an assignment handed to another user before its first push is
            // refused whole too.
            let refused_whole = refused[rec.creator].contains_key(&n)
                && (rec.out_of_reach || rec.asg.is_some_and(|a| self.asgs[a].reassigned > 0));
            if !on_server && !refused_whole {
                bad.push(format!(
                    "R{n} ({}) created by {} never reached the server",
                    rec.id, self.devs[rec.creator].spec.name
                ));
            }
        }

        // Each device: the records its user may see, each as the server holds it.
        let mut compared = 0usize;
        for (d, dump) in dumps.iter().enumerate() {
            let name = self.devs[d].spec.name.clone();
            let records = dump["records"].as_object().cloned().unwrap_or_default();
            let held: BTreeSet<usize> = records
                .keys()
                .filter_map(|id| self.by_id.get(id).copied())
                .collect();
            for id in records.keys() {
                if !self.by_id.contains_key(id) {
                    bad.push(format!("{name} holds {id}, which nobody created"));
                }
            }
            for (n, rec) in self.recs.iter().enumerate() {
                let on_server = server.contains_key(&rec.id);
                let scope = on_server && self.in_scope(d, n);
                if scope && !held.contains(&n) {
                    bad.push(format!(
                        "{name} lacks R{n} ({}), which its user may see",
                        rec.id
                    ));
                }
                if !held.contains(&n) {
                    continue;
                }
                let mine = &records[&rec.id];
                if !scope {
                    // Its own record the server refused whole, or one that left its scope
                    // while it held unsent edits: kept with the refusal.
                    let kept = refused[d].contains_key(&n)
                        && (on_server || (rec.creator == d && mine["held"] == json!(true)));
                    if !kept {
                        bad.push(format!(
                            "{name} holds R{n} ({}) outside its scope with no refusal kept \
                             (on the server: {on_server}, held: {})",
                            rec.id, mine["held"]
                        ));
                    } else if on_server {
                        self.stats.kept_out_of_scope += 1;
                    } else {
                        self.stats.held_back += 1;
                    }
                    continue;
                }
                compared += 1;
                let theirs = &server[&rec.id];
                let what = format!("{name}'s copy of R{n} ({})", rec.id);
                if mine["digest"] != theirs["digest"] || mine["changes"] != theirs["changes"] {
                    bad.push(format!(
                        "{what}: other changes than the server's ({} changes, digest {}; the \
                         server {} changes, digest {})",
                        mine["changes"], mine["digest"], theirs["changes"], theirs["digest"]
                    ));
                }
                if !same_value(&mine["data"], &theirs["data"]) {
                    bad.push(format!(
                        "{what}: data differs:\n    device {}\n    server {}",
                        mine["data"], theirs["data"]
                    ));
                }
                if mine["events"] != theirs["events"] {
                    bad.push(format!(
                        "{what}: events differ:\n    device {}\n    server {}",
                        mine["events"], theirs["events"]
                    ));
                }
                let entries: Vec<Value> = mine["photos"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| p["entry"].clone())
                    .collect();
                if !same_set(&entries, theirs["photos"].as_array().unwrap_or(&vec![])) {
                    bad.push(format!(
                        "{what}: photo entries differ:\n    device {entries:?}\n    server {}",
                        theirs["photos"]
                    ));
                }
                for p in mine["photos"].as_array().into_iter().flatten() {
                    let live = p["entry"]["removed"].is_null();
                    if live && p["has_thumb"] != json!(true) && p["has_full"] != json!(true) {
                        bad.push(format!(
                            "{what}: photo {} has neither thumbnail nor image",
                            p["entry"]["id"]
                        ));
                    }
                }
                if mine["pending_upload"] == json!(true) || mine["photos_pending"] != json!(0) {
                    bad.push(format!(
                        "{what}: still waits to be sent (pending {}, photos {})",
                        mine["pending_upload"], mine["photos_pending"]
                    ));
                }
            }
        }

        // The server holds every photo of its records.
        let hashes: BTreeSet<String> = server
            .values()
            .flat_map(|r| r["photos"].as_array().cloned().unwrap_or_default())
            .filter(|p| p["removed"].is_null())
            .filter_map(|p| p["sha256"].as_str().map(str::to_string))
            .collect();
        if !hashes.is_empty() {
            let token = self.server.admin_token.clone().unwrap();
            let client = Client::new(&self.server.url, &token, ClientOptions::default()).unwrap();
            let list: Vec<String> = hashes.iter().cloned().collect();
            match client.photo_status(&list, &|| false) {
                Ok(states) => {
                    for s in states {
                        if s.state != PhotoStateKind::Stored {
                            bad.push(format!(
                                "the server lacks photo {} ({:?}, {} bytes)",
                                s.hash, s.state, s.offset
                            ));
                        }
                    }
                }
                Err(e) => bad.push(format!("asking the server for its photos: {e}")),
            }
        }

        // The copy each record is judged by: the server's, or for a record the server never
        // took, its creator's.
        let mut reference: BTreeMap<usize, Value> = BTreeMap::new();
        for (n, rec) in self.recs.iter().enumerate() {
            if let Some(s) = server.get(&rec.id) {
                reference.insert(n, s.clone());
            } else if let Some(local) = dumps[rec.creator]["records"].get(&rec.id) {
                let mut v = local.clone();
                v["photos"] = Value::Array(
                    local["photos"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|p| p["entry"].clone())
                        .collect(),
                );
                reference.insert(n, v);
            } else {
                bad.push(format!(
                    "R{n} ({}) is neither on the server nor on {}, which created it",
                    rec.id, self.devs[rec.creator].spec.name
                ));
            }
        }

        // Every value is one somebody wrote; no list holds an item twice or one nobody added.
        for (&n, copy) in &reference {
            let mut leaves = Vec::new();
            flatten("", &copy["data"], &mut leaves);
            let photo_ids: BTreeSet<String> = copy["photos"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["id"].as_str().map(str::to_string))
                .collect();
            for (path, value) in leaves {
                if value.as_array().is_some_and(Vec::is_empty) {
                    continue; // a list made with the record
                }
                if path.ends_with(".photos") || path == "photos" {
                    for item in value.as_array().into_iter().flatten() {
                        if !item.as_str().is_some_and(|s| photo_ids.contains(s)) {
                            bad.push(format!("R{n}: {path} lists {item}, no photo of it"));
                        }
                    }
                    continue;
                }
                if let Some(all) = self.appended.get(&(n, path.clone())) {
                    let items = value.as_array().cloned().unwrap_or_default();
                    for (i, item) in items.iter().enumerate() {
                        if !all.contains(item) {
                            bad.push(format!("R{n}: {path} holds {item}, which nobody appended"));
                        }
                        if items[..i].contains(item) {
                            bad.push(format!("R{n}: {path} holds {item} twice"));
                        }
                    }
                    continue;
                }
                match self.candidates.get(&(n, path.clone())) {
                    Some(c) if c.iter().any(|x| same_value(x, &value)) => {}
                    Some(c) => bad.push(format!(
                        "R{n}: {path} holds {value}, not one of the values written ({c:?})"
                    )),
                    None => bad.push(format!(
                        "R{n}: {path} holds {value}, though nobody wrote there"
                    )),
                }
            }
            let sent = self.photo_sends.get(&n).copied().unwrap_or(0);
            if photo_ids.len() > sent {
                bad.push(format!(
                    "R{n}: {} photo entries, only {sent} photos were added",
                    photo_ids.len()
                ));
            }
        }

        // Nothing acknowledged is lost.
        let mut shown_as_conflict = 0;
        for a in &self.acked {
            let Some(copy) = reference.get(&a.rec) else {
                continue;
            };
            let dev = &self.devs[a.dev].spec.name;
            let kept: Vec<&Value> = refused[a.dev]
                .get(&a.rec)
                .map(|v| v.iter().collect())
                .unwrap_or_default();
            let in_refused = |needle: &str| {
                kept.iter()
                    .any(|e| e["local_json"].as_str().is_some_and(|j| j.contains(needle)))
            };
            let what = format!(
                "{dev}'s acknowledged {:?} at step {} on R{}",
                a.effect, a.step, a.rec
            );
            match &a.effect {
                Effect::Created => {}
                Effect::Set(path) => {
                    if lookup(&copy["data"], path).is_some_and(|v| !v.is_null()) {
                        continue;
                    }
                    let in_conflict = copy["conflicts"].as_array().into_iter().flatten().any(|c| {
                        c["path"]
                            .as_str()
                            .is_some_and(|p| path == p || path.starts_with(&format!("{p}.")))
                    });
                    if in_conflict {
                        shown_as_conflict += 1;
                        continue;
                    }
                    let last = path.rsplit('.').next().unwrap_or(path);
                    if !in_refused(&format!("\"{last}\"")) {
                        bad.push(format!("{what}: {path} is empty"));
                    }
                }
                Effect::Append(path, value) => {
                    let items = lookup(&copy["data"], path)
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    let count = items.iter().filter(|x| *x == value).count();
                    if count == 0 && !in_refused(value.as_str().unwrap_or_default()) {
                        bad.push(format!("{what}: {value} is not in {path}"));
                    }
                }
                Effect::PhotoAdd(pid, sha) => {
                    let entry = copy["photos"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|p| p["id"] == json!(pid));
                    match entry {
                        Some(e) if e["sha256"] == json!(sha) => {}
                        Some(e) => bad.push(format!("{what}: the entry holds {}", e["sha256"])),
                        None if in_refused(pid) => {}
                        None => bad.push(format!("{what}: no entry {pid}")),
                    }
                }
                Effect::PhotoRemove(pid) => {
                    let entry = copy["photos"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|p| p["id"] == json!(pid));
                    match entry {
                        Some(e) if !e["removed"].is_null() => {}
                        _ if !kept.is_empty() => {}
                        _ => bad.push(format!("{what}: photo {pid} is not removed")),
                    }
                }
                Effect::Submit => {
                    let actor = &self.devs[a.dev].actor;
                    let found = copy["events"].as_array().into_iter().flatten().any(|e| {
                        e["kind"] == json!("submitted") && e["device"].as_str() == Some(actor)
                    });
                    if !found && kept.is_empty() {
                        bad.push(format!(
                            "{what}: no submission of this device in {}",
                            copy["events"]
                        ));
                    }
                }
            }
        }
        self.stats.conflicts_shown = shown_as_conflict;
        self.stats.records_in_conflict = server
            .values()
            .filter(|r| r["conflicts"].as_array().is_some_and(|c| !c.is_empty()))
            .count();
        self.note(format!(
            "checked: {compared} device copies against the server"
        ));
        if !bad.is_empty() {
            let n = bad.len();
            let mut msg = format!("{n} violation(s) of the oracle:\n");
            for b in bad.iter().take(40) {
                let _ = writeln!(msg, "  - {b}");
            }
            self.fail(msg);
        }
    }

    fn summary(&self, took: Duration) -> String {
        let s = &self.stats;
        let proxy = self
            .devs
            .iter()
            .map(|d| d.proxy.stats())
            .fold((0, 0, 0), |acc, p| {
                (acc.0 + p.connections, acc.1 + p.refused, acc.2 + p.cuts)
            });
        format!(
            "sim seed {} steps {}: ops {} acked {} (creates {}, photos {}, submits {}), errors {:?}; \
             syncs ok {} failed {} (bursts {}); refused pushes {:?}; faults: cuts planned {} made {}, \
             connections refused {} of {}, offline periods {}, partitions {}, device kills {} \
             ({} in flight, {} answered first; {} restarts, {} records adopted), server restarts {} \
             ({} during a sync, {} on a new port), reassignments {} ({} records left devices); \
             records {} ({} on the server); refused edits kept {} ({} records held back, {} kept \
             outside their scope); \
             converged in {} rounds; records holding a conflict {} (acknowledged values only \
             in a conflict {}); {:.1} s",
            self.seed,
            self.steps,
            s.ops,
            s.acked,
            s.creates,
            s.photos,
            s.submits,
            s.errors,
            s.syncs_ok,
            s.syncs_failed,
            s.bursts,
            s.refused_pushes,
            s.cuts_planned,
            proxy.2,
            proxy.1,
            proxy.0,
            s.offline_periods,
            s.partitions,
            s.crashes,
            s.crashes_in_flight,
            s.answered_before_kill,
            s.device_restarts,
            s.adopted,
            s.server_restarts,
            s.server_restarts_in_sync,
            s.server_port_changed,
            s.reassigns,
            s.records_removed,
            self.recs.len(),
            s.server_records,
            s.refused_edits,
            s.held_back,
            s.kept_out_of_scope,
            s.rounds,
            s.records_in_conflict,
            s.conflicts_shown,
            took.as_secs_f64()
        )
    }

    fn shut_down(&mut self) {
        for d in 0..self.devs.len() {
            if self.alive(d) {
                self.send(d, "quit");
                if let Some(mut p) = self.devs[d].proc.take() {
                    let _ = p.lines.recv_timeout(Duration::from_secs(10));
                    let _ = p.child.wait();
                }
            }
        }
        if std::env::var("JINGTU_SIM_KEEP").is_ok_and(|v| v != "0") {
            let kept = self.keep();
            eprintln!("sim seed {}: folders kept in {}", self.seed, kept.display());
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for d in &mut self.devs {
            if let Some(mut p) = d.proc.take() {
                let _ = p.child.kill();
                let _ = p.child.wait();
            }
        }
        if std::thread::panicking()
            && let Some(root) = self.root.take()
        {
            let kept = root.keep();
            eprintln!("sim seed {}: folders kept in {}", self.seed, kept.display());
        }
    }
}

/// The leaves of a JSON value by dotted path (objects are walked, anything else is a leaf).
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&p, x, out);
            }
        }
        other => out.push((prefix.to_string(), other.clone())),
    }
}

fn same_set(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.iter().any(|y| same_value(x, y)))
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(n).collect::<String>())
    }
}
