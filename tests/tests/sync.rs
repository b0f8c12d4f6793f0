//! Sync through a real server process (`jingtu-server serve` on 127.0.0.1, a fresh data dir
//! per test), with device stores in temp dirs:
//!
//! - three devices edit the same and different records offline and sync in random orders:
//!   they converge, and every edit survives (concurrent writes of one field show as a
//!   conflict holding exactly the values no device had seen overwritten);
//! - long text (Automerge Text) written on several devices at once keeps each text written,
//!   the others listed as a conflict;
//! - the server is killed with SIGKILL in the middle of a device's sync: the sync fails, the
//!   retry against the restarted server completes, and the server holds everything once;
//! - a photo upload cut in the middle resumes from its offset; bytes that do not match their
//!   hash are refused;
//! - one edit among 10,000 synced records costs one round trip and under 2 KB on the wire;
//! - malformed, oversized, unauthenticated and otherwise bad requests get their 4xx (or their
//!   push refusal) and the server keeps serving.
//!
//! Random choices come from a seed printed at the start of each test; set `JINGTU_SYNC_SEED`
//! to run a failing case again.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{BufRead, BufReader, Write as _};
use std::net::TcpStream;
use std::sync::{Mutex, MutexGuard, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use jingtu_client::Client;
use jingtu_core::{
    ClientError, ClientOptions, CoreError, CoreOptions, DeviceCore, ItemResult, ListFilter,
    NewPhoto, NewRecordPlace, PhotoSource, SyncPhase, SyncProgress, SyncReport,
};
use jingtu_e2e::{ServerProcess, lookup, same_value, test_jpeg};
use jingtu_protocol::{
    CONTENT_TYPE, ErrorBody, FRAME_MSGPACK_ZSTD, PROTOCOL_VERSION, PhotoStateKind,
    PhotoStatusRequest, Push, PushOutcome, SyncRequest, SyncResponse,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tempfile::TempDir;

const SERVER: &str = env!("CARGO_BIN_EXE_jingtu-e2e-server");
const KIND: &str = "village_inspection";
const RESULTS: [ItemResult; 3] = ItemResult::ALL;

/// The tests run one after the other: the kill test times its kill for a server that has
/// the machine to itself, and the 10,000-record test is heavy.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn seed(test: &str) -> u64 {
    let seed = std::env::var("JINGTU_SYNC_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("{test}: seed {seed} (JINGTU_SYNC_SEED={seed} runs it again)");
    seed
}

/// A device store in a temp dir, enrolled on the server with its own user and token.
struct Device {
    name: String,
    token: String,
    core: DeviceCore,
    _dir: TempDir,
}

fn device(server: &ServerProcess, name: &str) -> Device {
    let token = server.new_user_token(name);
    let dir = tempfile::tempdir().unwrap();
    let core = DeviceCore::open_with(
        dir.path(),
        CoreOptions {
            user: Some(name.to_string()),
            ..Default::default()
        },
    )
    .unwrap();
    core.set_server(&server.url, &token).unwrap();
    Device {
        name: name.to_string(),
        token,
        core,
        _dir: dir,
    }
}

/// A full sync that must succeed with nothing refused.
fn sync(d: &Device, server: &ServerProcess) -> SyncReport {
    match d.core.sync(&mut |_| true) {
        Ok(r) => {
            assert!(
                r.refused.is_empty(),
                "{}: the server refused pushes: {:?}",
                d.name,
                r.refused
            );
            r
        }
        Err(e) => panic!(
            "{} could not sync: {e:?}\n--- server log:\n{}",
            d.name,
            server.log()
        ),
    }
}

/// Patient enough for a debug build, quick to give up on a server that is gone.
fn quick_options() -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(2),
        attempts: 2,
        backoff_start: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        ..ClientOptions::default()
    }
}

fn record_ids(core: &DeviceCore) -> BTreeSet<String> {
    core.list(&ListFilter::default())
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect()
}

fn history_hashes(core: &DeviceCore, id: &str, who: &str) -> BTreeSet<String> {
    let history = core.history(id).unwrap();
    let hashes: BTreeSet<String> = history.iter().map(|h| h.hash.clone()).collect();
    assert_eq!(
        hashes.len(),
        history.len(),
        "{who}: the history of {id} holds a change twice"
    );
    hashes
}

fn photo_ids(core: &DeviceCore, id: &str) -> Vec<(String, String)> {
    core.view(id)
        .unwrap()
        .photos
        .into_iter()
        .map(|p| (p.entry.id, p.entry.sha256.to_string()))
        .collect()
}

fn new_record(core: &DeviceCore, village: &str) -> String {
    core.create_record(
        KIND,
        &NewRecordPlace {
            org_unit: Some("411321".into()),
            village: Some(village.to_string()),
            ..Default::default()
        },
    )
    .unwrap()
    .id
}

// ---------------------------------------------------------------------------------------
// 1. Three devices converge
// ---------------------------------------------------------------------------------------

/// Checklist items each device writes alone, and one all of them write.
const OWN_ITEMS: [&str; 3] = ["clean_garbage", "disorder_stacking", "waste_bins"];
const SHARED_ITEM: &str = "water_source_fence";
/// Fields each device writes alone; two fields all of them write.
const OWN_FIELDS: [&str; 3] = ["village_name", "eval_year", "indicators.households_total"];
const SHARED_FIELDS: [&str; 2] = ["township", "indicators.sewage_treatment_rate_pct"];
const ROUNDS: usize = 10;

/// One write of one field, and the writes its device held when it made it. A write with no
/// value is the delete Automerge makes instead of a put (see [`Model::write`]).
struct Write {
    id: u64,
    device: usize,
    value: Option<Value>,
    seen: HashSet<u64>,
}

/// What the devices did, and what each of them (and the server) has seen of it: a write is
/// overwritten by a later write of the same field only when the later one's device had seen
/// it (Automerge keeps concurrent values as a conflict).
#[derive(Default)]
struct Model {
    known: Vec<HashSet<u64>>,
    server: HashSet<u64>,
    writes: BTreeMap<(String, String), Vec<Write>>,
    /// Inspectors appended per record: (device, name), in the order each device added them.
    appended: BTreeMap<String, Vec<(usize, String)>>,
    /// Photos added per record: (photo id, sha256).
    photos: BTreeMap<String, Vec<(String, String)>>,
    records: BTreeSet<String>,
    next_write: u64,
}

/// The writes of a field that no other of `writes` had seen (values and deletes).
fn uppermost<'a>(writes: &[&'a Write]) -> Vec<&'a Write> {
    writes
        .iter()
        .filter(|w| !writes.iter().any(|o| o.seen.contains(&w.id)))
        .copied()
        .collect()
}

impl Model {
    fn new(devices: usize) -> Model {
        Model {
            known: vec![HashSet::new(); devices],
            ..Default::default()
        }
    }

    /// Device `device` puts `value` at `path`; `shown` is the conflict value (device, value)
    /// the device showed there just before, if it showed a conflict.
    ///
    /// Automerge (0.12) puts as follows, against the values the device holds: one value
    /// equal to the new one: nothing happens; several values of which the one shown equals
    /// the new one: the others are deleted and the shown one stays; else a new value that
    /// overwrites all it holds.
    fn write(
        &mut self,
        device: usize,
        record: &str,
        path: &str,
        value: Value,
        shown: Option<(usize, Value)>,
    ) {
        let key = (record.to_string(), path.to_string());
        let writes = self.writes.entry(key).or_default();
        let known = &self.known[device];
        let held: Vec<&Write> = writes.iter().filter(|w| known.contains(&w.id)).collect();
        let visible: Vec<&Write> = uppermost(&held)
            .into_iter()
            .filter(|w| w.value.is_some())
            .collect();
        let mut seen = known.clone();
        match visible.as_slice() {
            [] => {}
            [only] => {
                if only.value.as_ref() == Some(&value) {
                    return;
                }
            }
            several => {
                let (by, shown_value) = shown.unwrap_or_else(|| {
                    panic!(
                        "{record} {path}: device {device} holds concurrent values but shows \
                         no conflict"
                    )
                });
                let winner = several
                    .iter()
                    .find(|w| w.device == by && w.value.as_ref() == Some(&shown_value))
                    .unwrap_or_else(|| {
                        panic!(
                            "{record} {path}: device {device} shows {shown_value} by device \
                             {by}, none of the concurrent values it holds"
                        )
                    });
                if winner.value.as_ref() == Some(&value) {
                    // A delete of the others: everything held but the shown value.
                    seen.remove(&winner.id);
                    let id = self.next_write;
                    self.next_write += 1;
                    self.known[device].insert(id);
                    writes.push(Write {
                        id,
                        device,
                        value: None,
                        seen,
                    });
                    return;
                }
            }
        }
        let id = self.next_write;
        self.next_write += 1;
        self.known[device].insert(id);
        writes.push(Write {
            id,
            device,
            value: Some(value),
            seen,
        });
    }

    /// A full sync of `device`: the server takes what it has, it takes what the server has.
    fn synced(&mut self, device: usize) {
        self.server.extend(self.known[device].iter().copied());
        self.known[device] = self.server.clone();
    }

    /// The values of a field that no other write of it had seen: (device, value).
    fn winners(writes: &[Write]) -> Vec<(usize, &Value)> {
        let all: Vec<&Write> = writes.iter().collect();
        uppermost(&all)
            .into_iter()
            .filter_map(|w| w.value.as_ref().map(|v| (w.device, v)))
            .collect()
    }
}

/// Are `a` and `b` the same values, in any order (numbers by value)?
fn same_multiset(a: &[Value], b: &[Value]) -> bool {
    let mut left: Vec<&Value> = b.iter().collect();
    a.len() == b.len()
        && a.iter().all(|v| {
            left.iter()
                .position(|w| same_value(v, w))
                .map(|i| left.swap_remove(i))
                .is_some()
        })
}

struct Editor<'a> {
    devices: &'a [Device],
    hot: String,
    model: Model,
    rng: StdRng,
    n: u64,
}

impl Editor<'_> {
    /// A few random edits on device `d`, offline, on records it holds.
    fn edit(&mut self, d: usize) {
        let dev = &self.devices[d];
        if self.rng.random_bool(0.35) {
            let id = new_record(&dev.core, &format!("{} 的村 {}", dev.name, self.n));
            self.n += 1;
            self.model.records.insert(id);
        }
        let ids: Vec<String> = record_ids(&dev.core).into_iter().collect();
        for _ in 0..self.rng.random_range(1..=6) {
            // Half the edits go to the record every device holds, so that devices often
            // write the same fields concurrently.
            let id = if self.rng.random_bool(0.5) {
                self.hot.clone()
            } else {
                ids[self.rng.random_range(0..ids.len())].clone()
            };
            let n = self.n;
            self.n += 1;
            match self.rng.random_range(0..11) {
                0..=2 => {
                    let path = OWN_FIELDS[d];
                    let value = match d {
                        0 => json!(format!("{} 写的村名 {n}", dev.name)),
                        1 => json!(2000 + n % 101),
                        _ => json!(n % 100_001),
                    };
                    let shown = self.shown(d, &id, path);
                    dev.core.set_field(&id, path, &value).unwrap();
                    self.model.write(d, &id, path, value, shown);
                }
                3..=4 => {
                    let path = SHARED_FIELDS[self.rng.random_range(0..SHARED_FIELDS.len())];
                    let value = if path == "township" {
                        json!(format!("{} 的乡镇 {n}", dev.name))
                    } else {
                        json!((n % 100) as f64 + 0.5)
                    };
                    let shown = self.shown(d, &id, path);
                    dev.core.set_field(&id, path, &value).unwrap();
                    self.model.write(d, &id, path, value, shown);
                }
                5..=7 => {
                    // The issue is long text (Automerge Text, merged character by character
                    // when edited concurrently; see the test of that below): only the device
                    // that owns an item writes one.
                    let own = self.rng.random_bool(0.6);
                    let item = if own { OWN_ITEMS[d] } else { SHARED_ITEM };
                    let result = RESULTS[(n % 3) as usize];
                    let issue = own.then(|| format!("{} 发现的问题 {n}", dev.name));
                    let (result_path, issue_path) = (
                        format!("checklist.{item}.result"),
                        format!("checklist.{item}.issue"),
                    );
                    let shown = self.shown(d, &id, &result_path);
                    dev.core
                        .set_checklist_item(&id, item, result, issue.as_deref())
                        .unwrap();
                    self.model.write(d, &id, &result_path, json!(result), shown);
                    if let Some(issue) = issue {
                        self.model.write(d, &id, &issue_path, json!(issue), None);
                    }
                }
                8..=9 => {
                    let name = format!("{}-检查员-{n}", dev.name);
                    dev.core
                        .append_item(&id, "inspectors", &json!(name))
                        .unwrap();
                    self.model
                        .appended
                        .entry(id.clone())
                        .or_default()
                        .push((d, name));
                }
                _ => {
                    let (tag, field) = if self.rng.random_bool(0.5) {
                        ("team", None)
                    } else {
                        ("before", Some(format!("checklist.{}", OWN_ITEMS[d])))
                    };
                    let jpeg = test_jpeg(n as u32, 64, 48);
                    let photo = dev
                        .core
                        .add_photo(
                            &id,
                            PhotoSource::Bytes(&jpeg),
                            &NewPhoto {
                                tag: tag.into(),
                                field,
                                ..Default::default()
                            },
                        )
                        .unwrap();
                    self.model
                        .photos
                        .entry(id.clone())
                        .or_default()
                        .push((photo.entry.id, photo.entry.sha256.to_string()));
                }
            }
        }
    }

    /// The value device `d` shows at `path` of `id` and the device that wrote it, when it
    /// shows a conflict there.
    fn shown(&self, d: usize, id: &str, path: &str) -> Option<(usize, Value)> {
        let conflicts = self.devices[d].core.conflicts(id).unwrap();
        let conflict = conflicts.into_iter().find(|c| c.path == path)?;
        let shown = conflict
            .values
            .into_iter()
            .find(|v| v.shown)
            .unwrap_or_else(|| panic!("{id} {path}: a conflict with no value shown"));
        let by = self
            .devices
            .iter()
            .position(|x| x.core.device_id() == shown.device)
            .unwrap_or_else(|| panic!("{id} {path}: a value by unknown device {}", shown.device));
        Some((by, shown.value))
    }

    fn sync(&mut self, d: usize, server: &ServerProcess) {
        sync(&self.devices[d], server);
        self.model.synced(d);
    }
}

#[test]
fn three_devices_editing_offline_converge_and_keep_every_edit() {
    let _s = serial();
    let started = Instant::now();
    let seed = seed("three devices");
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(SERVER, data.path());
    let devices: Vec<Device> = ["张三", "李四", "王五"]
        .iter()
        .map(|n| device(&server, n))
        .collect();
    // One record every device holds from the start.
    let r0 = new_record(&devices[0].core, "云阳村");
    let mut ed = Editor {
        devices: &devices,
        hot: r0.clone(),
        model: Model::new(devices.len()),
        rng: StdRng::seed_from_u64(seed),
        n: 0,
    };
    ed.model.records.insert(r0.clone());
    for d in 0..devices.len() {
        ed.sync(d, &server);
    }

    #[derive(Clone, Copy, Debug)]
    enum Step {
        Edit(usize),
        Sync(usize),
    }
    for round in 0..ROUNDS {
        let mut steps = Vec::new();
        for d in 0..devices.len() {
            steps.push(Step::Edit(d));
            if ed.rng.random_bool(0.3) {
                steps.push(Step::Edit(d));
            }
            if ed.rng.random_bool(0.85) {
                steps.push(Step::Sync(d));
            }
            if ed.rng.random_bool(0.25) {
                steps.push(Step::Sync(d));
            }
        }
        steps.shuffle(&mut ed.rng);
        eprintln!("round {round}: {steps:?}");
        for step in steps {
            match step {
                Step::Edit(d) => ed.edit(d),
                Step::Sync(d) => ed.sync(d, &server),
            }
        }
    }
    // Last, every device writes the same field of the same record before anyone syncs.
    for (d, dev) in devices.iter().enumerate() {
        let value = json!(format!("{} 最后写的乡镇", dev.name));
        let shown = ed.shown(d, &r0, "township");
        dev.core.set_field(&r0, "township", &value).unwrap();
        ed.model.write(d, &r0, "township", value, shown);
    }
    // Everyone syncs twice more, in a random order.
    let mut order: Vec<usize> = (0..devices.len()).collect();
    order.shuffle(&mut ed.rng);
    eprintln!("final syncs: {order:?} twice");
    for _ in 0..2 {
        for &d in &order {
            ed.sync(d, &server);
        }
    }
    let model = ed.model;
    let all_writes: HashSet<u64> = (0..model.next_write).collect();
    for k in &model.known {
        assert_eq!(k, &all_writes, "the model: a device missed writes");
    }

    // The same records everywhere, and nothing waits to be sent.
    for dev in &devices {
        assert_eq!(
            record_ids(&dev.core),
            model.records,
            "{} holds other records than were created",
            dev.name
        );
        let status = dev.core.sync_status().unwrap();
        assert_eq!(
            (status.records_pending, status.photos_pending),
            (0, 0),
            "{}: {status:?}",
            dev.name
        );
        for id in &model.records {
            assert_eq!(
                dev.core.record_sync_state(id).unwrap().label(),
                "synced",
                "{}: record {id}",
                dev.name
            );
        }
    }

    let mut conflicts_seen = 0;
    for id in &model.records {
        // Identical on every device.
        let views: Vec<_> = devices.iter().map(|d| d.core.view(id).unwrap()).collect();
        let first = &views[0];
        let hashes = history_hashes(&devices[0].core, id, &devices[0].name);
        for (dev, v) in devices.iter().zip(&views).skip(1) {
            assert_eq!(v.data, first.data, "{}: data of {id} differs", dev.name);
            assert_eq!(v.events, first.events, "{}: events of {id}", dev.name);
            assert_eq!(v.status, first.status, "{}: status of {id}", dev.name);
            assert_eq!(
                serde_json::to_value(&v.conflicts).unwrap(),
                serde_json::to_value(&first.conflicts).unwrap(),
                "{}: conflicts of {id}",
                dev.name
            );
            assert_eq!(
                photo_ids(&dev.core, id),
                photo_ids(&devices[0].core, id),
                "{}: photos of {id}",
                dev.name
            );
            assert_eq!(
                history_hashes(&dev.core, id, &dev.name),
                hashes,
                "{}: another set of changes in {id}",
                dev.name
            );
        }
        // The exported documents hold the same changes: a fresh store that imports one
        // finds nothing new in the others.
        let check = tempfile::tempdir().unwrap();
        let fresh = DeviceCore::open(check.path()).unwrap();
        for (i, dev) in devices.iter().enumerate() {
            let outcome = fresh.import(&dev.core.export(id).unwrap()).unwrap();
            assert_eq!(outcome.created, i == 0);
            if i > 0 {
                assert_eq!(
                    outcome.new_changes, 0,
                    "{}'s export of {id} holds changes the others lack",
                    dev.name
                );
            }
        }

        // Every edit survived.
        let data = &first.data;
        let mut expected_conflicts = BTreeSet::new();
        for ((record, path), writes) in model.writes.range((id.clone(), String::new())..) {
            if record != id {
                break;
            }
            let winners = Model::winners(writes);
            let shown = lookup(data, path).cloned().unwrap_or(Value::Null);
            match winners.as_slice() {
                [] => panic!("{id} {path}: the model lost every value"),
                [(by, value)] => {
                    assert!(
                        same_value(&shown, value),
                        "{id} {path}: {shown} where the last write (by {}) was {value}",
                        devices[*by].name,
                    );
                    continue;
                }
                _ => {}
            }
            expected_conflicts.insert(path.clone());
            let values: Vec<Value> = winners.iter().map(|(_, v)| (*v).clone()).collect();
            assert!(
                values.iter().any(|v| same_value(v, &shown)),
                "{id} {path}: {shown} is none of the concurrent values {values:?}"
            );
            let conflict = first
                .conflicts
                .iter()
                .find(|c| &c.path == path)
                .unwrap_or_else(|| {
                    panic!("{id} {path}: concurrent values {values:?} but no conflict listed")
                });
            let listed: Vec<Value> = conflict.values.iter().map(|c| c.value.clone()).collect();
            assert!(
                same_multiset(&listed, &values),
                "{id} {path}: the conflict lists {listed:?}, the concurrent writes were {values:?}"
            );
            let shown_values: Vec<&Value> = conflict
                .values
                .iter()
                .filter(|c| c.shown)
                .map(|c| &c.value)
                .collect();
            assert!(
                matches!(shown_values.as_slice(), [v] if same_value(v, &shown)),
                "{id} {path}: the conflict marks {shown_values:?} as shown, the data holds {shown}"
            );
            for c in &conflict.values {
                let by = devices.iter().position(|d| d.core.device_id() == c.device);
                assert!(
                    by.is_some_and(|b| winners
                        .iter()
                        .any(|(wb, wv)| *wb == b && same_value(wv, &c.value))),
                    "{id} {path}: the conflict names device {} for {}",
                    c.device,
                    c.value
                );
            }
            conflicts_seen += 1;
        }
        let listed: BTreeSet<String> = first.conflicts.iter().map(|c| c.path.clone()).collect();
        assert_eq!(
            listed, expected_conflicts,
            "{id}: conflicts listed where no concurrent writes were (or the other way round)"
        );

        // Every inspector appended, once, each device's in the order it added them.
        let inspectors: Vec<String> = data
            .get("inspectors")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|v| v.as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default();
        let appended = model.appended.get(id).cloned().unwrap_or_default();
        let mut want: Vec<&String> = appended.iter().map(|(_, n)| n).collect();
        let mut got: Vec<&String> = inspectors.iter().collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "{id}: inspectors lost or doubled");
        for (d, dev) in devices.iter().enumerate() {
            let mine: Vec<&String> = appended
                .iter()
                .filter(|(by, _)| *by == d)
                .map(|(_, n)| n)
                .collect();
            let order: Vec<&String> = inspectors.iter().filter(|n| mine.contains(n)).collect();
            assert_eq!(order, mine, "{id}: {}'s inspectors out of order", dev.name);
        }

        // Every photo, on every device, as a thumbnail at least; the full image on request.
        let mut want_photos = model.photos.get(id).cloned().unwrap_or_default();
        let mut got_photos = photo_ids(&devices[0].core, id);
        want_photos.sort();
        got_photos.sort();
        assert_eq!(got_photos, want_photos, "{id}: photos");
        for dev in &devices {
            for p in dev.core.view(id).unwrap().photos {
                assert!(
                    p.has_thumb,
                    "{}: no thumbnail of photo {} of {id}",
                    dev.name, p.entry.sha256
                );
                let bytes = dev.core.fetch_photo(&p.entry.sha256).unwrap_or_else(|e| {
                    panic!("{}: fetching photo {}: {e}", dev.name, p.entry.sha256)
                });
                assert_eq!(jingtu_media::content_id(&bytes), p.entry.sha256);
            }
            let status = dev.core.sync_status().unwrap();
            assert_eq!(
                status.photos_pending, 0,
                "{}: a fetched photo counts as waiting to upload",
                dev.name
            );
        }
    }
    assert!(
        conflicts_seen >= 1,
        "no concurrent write was made: the test checked no conflict"
    );
    let r0_township = &devices[0].core.conflicts(&r0).unwrap();
    assert!(
        r0_township
            .iter()
            .any(|c| c.path == "township" && c.values.len() == devices.len()),
        "the last concurrent writes of township do not show as a three-way conflict: {r0_township:?}"
    );
    eprintln!(
        "three devices: {} records, {} writes, {} conflicts, {} photos, {:.1} s",
        model.records.len(),
        model.next_write,
        conflicts_seen,
        model.photos.values().map(Vec::len).sum::<usize>(),
        started.elapsed().as_secs_f64()
    );
}

/// Long text (`notes`, a checklist item's `issue`: Automerge Text) written on several devices
/// at once: like any other field, the result is one of the texts written and the others are
/// listed as a conflict; no one's text is lost or mixed into another's.
#[test]
fn concurrent_edits_of_a_long_text_merge_by_character_or_conflict() {
    let _s = serial();
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(SERVER, data.path());
    let devices: Vec<Device> = ["张三", "李四", "王五"]
        .iter()
        .map(|n| device(&server, n))
        .collect();
    let r = new_record(&devices[0].core, "云阳村");
    devices[0]
        .core
        .set_field(&r, "notes", &json!("村口堆放生活垃圾约 3 吨"))
        .unwrap();
    for d in &devices {
        sync(d, &server);
    }
    // Each device writes the issue of an item that has none yet, and corrects the notes.
    let issue_path = "checklist.clean_garbage.issue";
    let issues: Vec<Value> = devices
        .iter()
        .map(|d| json!(format!("{} 发现：垃圾未清运", d.name)))
        .collect();
    let notes = [
        json!("村口堆放生活垃圾约 5 吨"),
        json!("村口堆放生活垃圾约 8 吨"),
        json!("村口堆放生活垃圾约 3 吨，已清运"),
    ];
    for ((d, issue), note) in devices.iter().zip(&issues).zip(&notes) {
        d.core.set_field(&r, issue_path, issue).unwrap();
        d.core.set_field(&r, "notes", note).unwrap();
    }
    for _ in 0..2 {
        for d in &devices {
            sync(d, &server);
        }
    }
    let view = devices[0].core.view(&r).unwrap();
    for d in &devices[1..] {
        assert_eq!(d.core.view(&r).unwrap().data, view.data, "{}", d.name);
    }
    // Notes that existed before are one Automerge Text: concurrent corrections merge by
    // character (the design for long free text, DESIGN.md section 2), so each device's
    // insertions survive and the deletion both made is applied once; no conflict is listed.
    let merged = lookup(&view.data, "notes")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    for kept in ["5", "8", "已清运", "村口堆放生活垃圾约"] {
        assert!(merged.contains(kept), "notes {merged:?} lost {kept:?}");
    }
    assert!(!merged.contains('3'), "notes {merged:?} kept the deleted 3");
    assert!(view.conflicts.iter().all(|c| c.path != "notes"));
    // Issues written where there was none are separate texts: a conflict listing each.
    let (path, written) = (issue_path, &issues[..]);
    let value = lookup(&view.data, path).cloned().unwrap_or(Value::Null);
    assert!(
        written.contains(&value),
        "{path}: {value} is none of the texts written concurrently {written:?}"
    );
    let conflict = view.conflicts.iter().find(|c| c.path == path);
    let listed: Vec<Value> = conflict
        .map(|c| c.values.iter().map(|v| v.value.clone()).collect())
        .unwrap_or_default();
    assert!(
        same_multiset(&listed, written),
        "{path}: concurrent texts {written:?}, the conflict lists {listed:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 2. The server dies in the middle of a sync
// ---------------------------------------------------------------------------------------

const KILL_RECORDS: usize = 300;
const KILL_PHOTO_EVERY: usize = 10;
const KILL_CYCLES: usize = 3;

#[test]
fn a_server_killed_during_a_sync_loses_nothing_and_stores_nothing_twice() {
    let _s = serial();
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed("kill during sync"));
    let data = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(SERVER, data.path());
    let d = device(&server, "张三");
    let mut photos = 0;
    for i in 0..KILL_RECORDS {
        let id = new_record(&d.core, &format!("村 {i}"));
        d.core
            .set_field(&id, "village_name", &json!(format!("杨树沟村 {i}")))
            .unwrap();
        d.core
            .append_item(&id, "inspectors", &json!(format!("检查员 {i}")))
            .unwrap();
        d.core
            .set_checklist_item(
                &id,
                "clean_garbage",
                RESULTS[i % 3],
                Some(&format!("问题 {i}")),
            )
            .unwrap();
        if i % KILL_PHOTO_EVERY == 0 {
            let jpeg = test_jpeg(1000 + i as u32, 480, 360);
            d.core
                .add_photo(
                    &id,
                    PhotoSource::Bytes(&jpeg),
                    &NewPhoto {
                        tag: "before".into(),
                        field: Some("checklist.clean_garbage".into()),
                        ..Default::default()
                    },
                )
                .unwrap();
            photos += 1;
        }
    }
    let prepared = started.elapsed();

    // Small photo parts make many requests, so the kill lands in the middle of something:
    // the big push (kill point 0) or a photo upload. Up to three syncs are cut; the first
    // one must be.
    let options = ClientOptions {
        photo_part_bytes: 8 * 1024,
        ..quick_options()
    };
    for cycle in 0..KILL_CYCLES {
        let client = d.core.client(options.clone()).unwrap();
        let kill_at: u64 = if cycle == 0 && rng.random_bool(0.4) {
            0
        } else {
            rng.random_range(1..(photos as u64 * 3))
        };
        let delay = Duration::from_millis(rng.random_range(0..40));
        let (tx, rx) = mpsc::channel::<SyncProgress>();
        let sync_started = Instant::now();
        let (result, event) = thread::scope(|s| {
            let core = &d.core;
            let client = &client;
            let handle = s.spawn(move || {
                let mut n = 0u64;
                core.sync_with(client, &mut |p| {
                    if n == kill_at {
                        let _ = tx.send(*p);
                    }
                    n += 1;
                    true
                })
            });
            let event = rx.recv_timeout(Duration::from_secs(120));
            if event.is_ok() {
                thread::sleep(delay);
                server.kill();
            }
            (handle.join().unwrap(), event)
        });
        let Ok(event) = event else {
            assert!(
                cycle > 0,
                "the sync ended ({result:?}) before progress event {kill_at}: give the device \
                 more to send"
            );
            eprintln!("cut {cycle}: the sync ended before progress event {kill_at}");
            result.unwrap_or_else(|e| {
                panic!("cut {cycle}: a sync with the server up again failed: {e:?}")
            });
            break;
        };
        eprintln!(
            "cut {cycle}: killed the server {delay:?} after progress event {kill_at} \
             ({event:?}), {:.2} s into the sync",
            sync_started.elapsed().as_secs_f64()
        );
        match &result {
            Err(CoreError::Sync(ClientError::Network(_))) => {}
            // The kill came after the last request.
            Ok(_) if cycle > 0 => {}
            other => panic!("the sync with the server killed returned {other:?}"),
        }
        eprintln!("after the cut sync: {:?}", d.core.sync_status().unwrap());
        // Again on the same data dir (and port, if it can be had).
        if !server.restart() {
            d.core.set_server(&server.url, &d.token).unwrap();
        }
    }

    // What the server holds of the photos: the retry sends only the rest of each.
    let shas: Vec<String> = record_ids(&d.core)
        .iter()
        .flat_map(|id| photo_ids(&d.core, id))
        .map(|(_, sha)| sha)
        .collect();
    assert_eq!(shas.len(), photos);
    let client = d.core.client(quick_options()).unwrap();
    let mut left = 0;
    let mut partial = 0;
    for state in client.photo_status(&shas, &|| false).unwrap() {
        let size = d.core.photo_bytes(&state.hash, false).unwrap().len() as u64;
        left += match state.state {
            PhotoStateKind::Stored => 0,
            PhotoStateKind::Partial => {
                partial += 1;
                size - state.offset
            }
            PhotoStateKind::Missing => size,
            PhotoStateKind::Refused => panic!("the device's own photo is refused: {state:?}"),
        };
    }
    let retry = sync(&d, &server);
    eprintln!(
        "retry: {} records pushed, {} photos uploaded ({} bytes; {partial} resumed), {} round \
         trips",
        retry.records_pushed, retry.photos_uploaded, retry.photo_bytes_uploaded, retry.round_trips
    );
    assert_eq!(
        retry.photo_bytes_uploaded, left,
        "the retry sent other photo bytes than the server lacked"
    );
    let status = d.core.sync_status().unwrap();
    assert_eq!(
        (
            status.records,
            status.records_pending,
            status.photos_pending
        ),
        (KILL_RECORDS as u64, 0, 0),
        "after the retry: {status:?}"
    );

    // A fresh device sees everything, once.
    let e = device(&server, "李四");
    let report = sync(&e, &server);
    assert_eq!(e.core.count().unwrap(), KILL_RECORDS as u64);
    assert_eq!(
        report.records_received, KILL_RECORDS as u64,
        "the fresh device received {} records",
        report.records_received
    );
    assert_eq!(
        report.chunks_pulled, KILL_RECORDS as u64,
        "the server's feed holds {} chunks for {KILL_RECORDS} records pushed once each: \
         something was stored twice",
        report.chunks_pulled
    );
    assert_eq!(record_ids(&e.core), record_ids(&d.core));
    let mut fetched = 0;
    for id in record_ids(&d.core) {
        let (mine, theirs) = (d.core.view(&id).unwrap(), e.core.view(&id).unwrap());
        assert_eq!(theirs.data, mine.data, "record {id}");
        assert_eq!(theirs.events, mine.events, "record {id}");
        assert_eq!(
            history_hashes(&e.core, &id, "the fresh device"),
            history_hashes(&d.core, &id, "the device"),
            "record {id}"
        );
        assert_eq!(
            photo_ids(&e.core, &id),
            photo_ids(&d.core, &id),
            "record {id}"
        );
        for (_, sha) in photo_ids(&d.core, &id) {
            let full = e.core.fetch_photo(&sha).unwrap();
            assert_eq!(
                full,
                d.core.photo_bytes(&sha, false).unwrap(),
                "photo {sha}"
            );
            fetched += 1;
        }
    }
    assert_eq!(fetched, photos);
    eprintln!(
        "kill during sync: {KILL_RECORDS} records and {photos} photos made in {:.1} s, \
         test {:.1} s",
        prepared.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------
// 3. Photo uploads resume
// ---------------------------------------------------------------------------------------

const PART: usize = 64 * 1024;

fn photo_status(client: &Client, hash: &str) -> (PhotoStateKind, u64) {
    let s = client.photo_status(&[hash.to_string()], &|| false).unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].hash, hash);
    (s[0].state, s[0].offset)
}

#[test]
fn a_cut_photo_upload_resumes_from_its_offset_and_wrong_bytes_are_refused() {
    let _s = serial();
    let started = Instant::now();
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(SERVER, data.path());
    let token = server
        .admin_token
        .clone()
        .expect("the first start prints a token");
    let client = Client::new(
        &server.url,
        &token,
        ClientOptions {
            photo_part_bytes: PART,
            ..quick_options()
        },
    )
    .unwrap();

    let jpeg = test_jpeg(7, 1600, 1200);
    assert!(
        jpeg.len() > 4 * PART,
        "the test photo has {} bytes, fewer than 4 parts",
        jpeg.len()
    );
    let hash = jingtu_media::content_id(&jpeg);
    assert_eq!(photo_status(&client, &hash), (PhotoStateKind::Missing, 0));

    // Two parts, then the device stops (the app closed, the signal went).
    let mut parts = 0;
    let cut = client.upload_photo(
        &hash,
        &jpeg,
        0,
        &mut |_, _| {
            parts += 1;
            parts < 2
        },
        &|| false,
    );
    assert!(
        matches!(cut, Err(ClientError::Cancelled)),
        "stopping after two parts returned {cut:?}"
    );
    assert_eq!(
        photo_status(&client, &hash),
        (PhotoStateKind::Partial, 2 * PART as u64)
    );
    assert_eq!(
        client.download_photo(&hash, false, &|| false).unwrap(),
        None
    );

    // Resumed from the offset: only the rest goes over the wire.
    let before = client.counters();
    let mut resumed_parts = 0;
    client
        .upload_photo(
            &hash,
            &jpeg,
            2 * PART as u64,
            &mut |_, _| {
                resumed_parts += 1;
                true
            },
            &|| false,
        )
        .unwrap();
    let after = client.counters();
    let rest = (jpeg.len() - 2 * PART) as u64;
    let sent = after.bytes_up - before.bytes_up;
    assert_eq!(resumed_parts, rest.div_ceil(PART as u64));
    assert!(
        sent >= rest && sent < rest + 1024 * resumed_parts,
        "the resumed upload sent {sent} bytes for the {rest} bytes left of {}",
        jpeg.len()
    );
    assert_eq!(after.round_trips - before.round_trips, resumed_parts);
    assert_eq!(photo_status(&client, &hash).0, PhotoStateKind::Stored);
    let served = client
        .download_photo(&hash, false, &|| false)
        .unwrap()
        .expect("the server serves the stored photo");
    assert_eq!(jingtu_media::content_id(&served), hash);
    assert_eq!(served, jpeg);
    let thumb = client
        .download_photo(&hash, true, &|| false)
        .unwrap()
        .expect("the server made a thumbnail");
    assert!(!thumb.is_empty() && thumb.len() < jpeg.len());

    // A resume from a stale offset (the device lost its note of the server's): the server
    // names its offset and the upload goes on from there, not from zero.
    let other = test_jpeg(8, 1600, 1200);
    let other_hash = jingtu_media::content_id(&other);
    let mut n = 0;
    let cut = client.upload_photo(
        &other_hash,
        &other,
        0,
        &mut |_, _| {
            n += 1;
            n < 3
        },
        &|| false,
    );
    assert!(matches!(cut, Err(ClientError::Cancelled)));
    let before = client.counters();
    client
        .upload_photo(&other_hash, &other, 0, &mut |_, _| true, &|| false)
        .unwrap();
    let sent = client.counters().bytes_up - before.bytes_up;
    let rest = (other.len() - 3 * PART) as u64;
    assert!(
        sent < rest + PART as u64 + 16 * 1024,
        "resuming from a stale offset sent {sent} bytes for the {rest} bytes left"
    );
    assert_eq!(photo_status(&client, &other_hash).0, PhotoStateKind::Stored);

    // Bytes that are not the photo named: refused at the end, and nothing kept.
    let wrong = test_jpeg(9, 1600, 1200);
    let claimed = jingtu_media::content_id(&test_jpeg(10, 1600, 1200));
    let refused = client.upload_photo(&claimed, &wrong, 0, &mut |_, _| true, &|| false);
    match &refused {
        Err(ClientError::Refused { status, code, .. }) => {
            assert_eq!((*status, code.as_str()), (422, "hash_mismatch"));
        }
        other => panic!("wrong bytes for a hash: {other:?}"),
    }
    assert_eq!(
        photo_status(&client, &claimed),
        (PhotoStateKind::Missing, 0)
    );
    assert_eq!(
        client.download_photo(&claimed, false, &|| false).unwrap(),
        None
    );
    // ... and a short one, in one part.
    let refused = client.upload_photo(&claimed, b"not a photo", 0, &mut |_, _| true, &|| false);
    assert!(
        matches!(&refused, Err(ClientError::Refused { status: 422, code, .. }) if code == "hash_mismatch"),
        "{refused:?}"
    );
    assert_eq!(
        photo_status(&client, &claimed),
        (PhotoStateKind::Missing, 0)
    );
    // The photos stored before are still served.
    assert_eq!(
        client.download_photo(&hash, false, &|| false).unwrap(),
        Some(jpeg)
    );
    eprintln!("photo resume: {:.1} s", started.elapsed().as_secs_f64());
}

/// A device's photos go up several at once: a sync stopped in the middle sends only what
/// is left the next time (nothing twice), its progress counts the bytes of all of them, and
/// another device then gets every thumbnail, made by the server.
#[test]
fn photos_sent_together_are_stopped_and_resumed_without_sending_any_twice() {
    let _s = serial();
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(SERVER, data.path());
    let a = device(&server, "甲");
    let mut sizes = 0;
    const PHOTOS: usize = 24;
    for r in 0..PHOTOS / 4 {
        let id = new_record(&a.core, &format!("村{r}"));
        for k in 0..4 {
            let jpeg = test_jpeg((r * 4 + k) as u32 + 100, 800, 600);
            let p = a
                .core
                .add_photo(
                    &id,
                    PhotoSource::Bytes(&jpeg),
                    &NewPhoto {
                        tag: "team".into(),
                        ..Default::default()
                    },
                )
                .unwrap();
            sizes += p.entry.size;
        }
    }
    let client = a.core.client(quick_options()).unwrap();

    // Stopped at the first bytes of photos confirmed.
    let cut = a
        .core
        .sync_with(&client, &mut |p| p.phase != SyncPhase::Photos);
    assert!(
        matches!(cut, Err(CoreError::Cancelled)),
        "a sync stopped during the photos returned {cut:?}"
    );
    // Photos the server stored as the stop came may still wait here: the next sync learns
    // they are stored and does not send them again.
    let left = a.core.sync_status().unwrap().photos_pending;
    assert!(left > 0, "no photo waits after the stop");

    // The rest, with a progress in bytes of all the photos that go.
    let mut seen: Vec<SyncProgress> = Vec::new();
    let report = a
        .core
        .sync_with(&client, &mut |p| {
            if p.phase == SyncPhase::Photos {
                seen.push(*p);
            }
            true
        })
        .unwrap();
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert_eq!(a.core.sync_status().unwrap().photos_pending, 0);
    assert!(report.photos_uploaded > 0 && report.photos_uploaded <= left);
    let total = seen.first().expect("photo progress").total;
    assert!(total > 0 && total <= sizes, "{total} of {sizes} bytes");
    assert!(
        seen.iter().all(|p| p.total == total) && seen.windows(2).all(|w| w[0].done <= w[1].done),
        "photo progress goes one way: {seen:?}"
    );
    assert_eq!(seen.last().map(|p| p.done), Some(total));
    assert_eq!(report.photo_bytes_uploaded, total);
    // Both syncs together sent each photo once: the photos' bytes and a little more.
    let up = client.counters().bytes_up;
    assert!(
        up >= sizes && up < sizes + 64 * 1024,
        "{up} bytes went up for {sizes} bytes of photos"
    );

    // Another device gets every photo's thumbnail from the server.
    let b = device(&server, "乙");
    let got = sync(&b, &server);
    assert_eq!(got.thumbnails_fetched, PHOTOS as u64);
}

// ---------------------------------------------------------------------------------------
// 4. One edit among 10,000 records
// ---------------------------------------------------------------------------------------

const MANY: usize = 10_000;

#[test]
fn one_edit_among_ten_thousand_synced_records_is_one_small_round_trip() {
    let _s = serial();
    let started = Instant::now();
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(SERVER, data.path());
    let d = device(&server, "张三");
    let mut ids = Vec::with_capacity(MANY);
    for _ in 0..MANY {
        ids.push(
            d.core
                .create_record(KIND, &NewRecordPlace::default())
                .unwrap()
                .id,
        );
    }
    let created = started.elapsed();
    let first = sync(&d, &server);
    assert_eq!(first.records_pushed, MANY as u64);
    let first_sync = started.elapsed() - created;
    assert_eq!(d.core.sync_status().unwrap().records_pending, 0);

    // A sync with nothing to do, then one with one field changed.
    let client = d.core.client(ClientOptions::default()).unwrap();
    let idle = d.core.sync_with(&client, &mut |_| true).unwrap();
    assert_eq!(idle.round_trips, 1, "a sync with nothing new: {idle:?}");
    let id = &ids[MANY / 2];
    d.core
        .set_field(id, "village_name", &json!("杨树沟村"))
        .unwrap();
    let before = client.counters();
    let report = d.core.sync_with(&client, &mut |_| true).unwrap();
    let after = client.counters();
    let wire = report.bytes_up + report.bytes_down;
    eprintln!(
        "one edit among {MANY}: {} bytes up, {} down, {} round trips",
        report.bytes_up, report.bytes_down, report.round_trips
    );
    assert_eq!(report.records_pushed, 1);
    assert!(report.refused.is_empty());
    assert_eq!(report.round_trips, 1, "{report:?}");
    assert!(
        wire < 2000,
        "one edit took {wire} bytes on the wire: {report:?}"
    );
    assert_eq!(
        (
            after.bytes_up - before.bytes_up,
            after.bytes_down - before.bytes_down
        ),
        (report.bytes_up, report.bytes_down)
    );
    assert_eq!(after.round_trips - before.round_trips, 1);
    assert_eq!(after.retries, before.retries);
    assert_eq!(d.core.sync_status().unwrap().records_pending, 0);

    // The edit reached the server: the feed after the device's cursor before this sync
    // holds it, and only it (asked as another device, which is not spared its own chunks).
    let feed = client
        .sync(
            &SyncRequest {
                protocol: PROTOCOL_VERSION,
                device: "cd".repeat(16),
                cursor: idle.cursor,
                pushes: vec![],
                max_response_bytes: None,
                scope_seq: 0,
                scope_target: None,
                scope_after: None,
                catalog: None,
            },
            &|| false,
        )
        .unwrap();
    let records: Vec<&str> = feed.chunks.iter().map(|c| c.record.as_str()).collect();
    assert_eq!(records, [id.as_str()], "the feed after the edit");
    assert_eq!(feed.cursor, report.cursor);
    eprintln!(
        "{MANY} records: created in {:.1} s, first sync {:.1} s, test {:.1} s",
        created.as_secs_f64(),
        first_sync.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------
// 5. Bad requests
// ---------------------------------------------------------------------------------------

struct Raw {
    http: reqwest::blocking::Client,
    url: String,
    token: String,
}

impl Raw {
    fn post(&self, path: &str, token: Option<&str>, body: Vec<u8>) -> (u16, Vec<u8>) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", CONTENT_TYPE)
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req
            .send()
            .unwrap_or_else(|e| panic!("POST {path}: no answer: {e:?}"));
        let status = resp.status().as_u16();
        (status, resp.bytes().unwrap().to_vec())
    }

    fn sync_body(&self, body: Vec<u8>) -> (u16, Vec<u8>) {
        self.post("/v1/sync", Some(&self.token), body)
    }

    fn get(&self, path: &str) -> (u16, Vec<u8>) {
        let resp = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .unwrap_or_else(|e| panic!("GET {path}: no answer: {e:?}"));
        let status = resp.status().as_u16();
        (status, resp.bytes().unwrap().to_vec())
    }

    /// A push of `changes` for `record`, answered 200 with one result.
    fn push(&self, record: &str, changes: Vec<u8>) -> jingtu_protocol::PushResult {
        let (status, body) = self.sync_body(frame(&request(vec![Push {
            record: record.to_string(),
            changes,
        }])));
        assert_eq!(
            status,
            200,
            "push to {record}: {}",
            String::from_utf8_lossy(&body)
        );
        let mut r: SyncResponse = jingtu_protocol::decode(&body, 64 << 20).unwrap();
        assert_eq!(r.results.len(), 1);
        r.results.remove(0)
    }
}

/// The status a sync request of `length` bytes gets from its headers alone, sent with
/// `Expect: 100-continue` (a `100` would mean the server wants the body).
fn status_before_body(server: &ServerProcess, token: &str, length: usize) -> u16 {
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST /v1/sync HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: {CONTENT_TYPE}\r\nContent-Length: {length}\r\n\
         Expect: 100-continue\r\n\r\n",
        server.addr
    )
    .unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    line.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP status line: {line:?}"))
}

fn request(pushes: Vec<Push>) -> SyncRequest {
    SyncRequest {
        protocol: PROTOCOL_VERSION,
        device: "ab".repeat(16),
        cursor: 0,
        pushes,
        max_response_bytes: None,
        scope_seq: 0,
        scope_target: None,
        scope_after: None,
        catalog: None,
    }
}

fn frame(r: &SyncRequest) -> Vec<u8> {
    jingtu_protocol::encode(r).unwrap()
}

fn error_code(body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => e.error.code,
        Err(_) => format!("(not an error body: {})", String::from_utf8_lossy(body)),
    }
}

/// The server answers its health check and a device's edit still syncs.
fn still_serving(server: &ServerProcess, raw: &Raw, dev: &Device, record: &str, case: &str) {
    let (status, body) = raw.get("/healthz");
    assert_eq!(
        (status, body.as_slice()),
        (200, &b"ok"[..]),
        "after {case}: /healthz\n--- server log:\n{}",
        server.log()
    );
    dev.core
        .set_field(record, "village_name", &json!(format!("after {case}")))
        .unwrap();
    let report = sync(dev, server);
    assert_eq!(report.records_pushed, 1, "after {case}: {report:?}");
}

#[test]
fn bad_requests_get_their_4xx_and_the_server_keeps_serving() {
    let _s = serial();
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed("bad requests"));
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(SERVER, data.path());
    let token = server
        .admin_token
        .clone()
        .expect("the first start prints a token");
    // reqwest is built without a TLS crypto provider here (jingtu-client's feature choice);
    // making a jingtu client installs its provider, which reqwest needs even for plain HTTP.
    Client::new(&server.url, &token, ClientOptions::default()).unwrap();
    let raw = Raw {
        http: reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap(),
        url: server.url.clone(),
        token,
    };
    let dev = device(&server, "张三");
    let record = new_record(&dev.core, "云阳村");
    let other = new_record(&dev.core, "杨树沟村");
    sync(&dev, &server);
    still_serving(&server, &raw, &dev, &record, "the start");

    let valid = frame(&request(vec![]));
    let random_uuid = || {
        let b: [u8; 16] = rand::random();
        let h = b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    };

    // Who is asking.
    let (status, body) = raw.post("/v1/sync", None, valid.clone());
    assert_eq!((status, error_code(&body)), (401, "missing_token".into()));
    still_serving(&server, &raw, &dev, &record, "no token");
    let (status, body) = raw.post("/v1/sync", Some(&format!("jt_{}", "0".repeat(64))), valid);
    assert_eq!((status, error_code(&body)), (401, "bad_token".into()));
    let (status, body) = raw.post("/v1/sync", Some("Bearer"), frame(&request(vec![])));
    assert_eq!((status, error_code(&body)), (401, "bad_token".into()));
    still_serving(&server, &raw, &dev, &record, "a wrong token");

    // Frames that are not messages.
    let mut noise = vec![0u8; 3000];
    rng.fill(&mut noise[..]);
    for (case, body) in [
        ("an empty body", vec![]),
        ("an unknown frame format", vec![0x09, 1, 2, 3]),
        ("MessagePack that is no request", vec![0x01, 0xc1, 0x00]),
        ("a broken zstd frame", vec![FRAME_MSGPACK_ZSTD, 1, 2, 3]),
        ("random bytes", noise.clone()),
        ("a request cut short", {
            let f = frame(&request(vec![Push {
                record: record.clone(),
                changes: vec![1; 100],
            }]));
            f[..f.len() / 2].to_vec()
        }),
    ] {
        let (status, body) = raw.sync_body(body);
        assert_eq!(
            (status, error_code(&body)),
            (400, "malformed_body".into()),
            "{case}"
        );
        still_serving(&server, &raw, &dev, &record, case);
    }

    // Another protocol version.
    let (status, body) = raw.sync_body(frame(&SyncRequest {
        protocol: PROTOCOL_VERSION + 1,
        ..request(vec![])
    }));
    assert_eq!(
        (status, error_code(&body)),
        (426, "protocol_version".into())
    );
    still_serving(&server, &raw, &dev, &record, "another protocol version");
    let (status, body) = raw.sync_body(frame(&SyncRequest {
        device: "not hex!".into(),
        ..request(vec![])
    }));
    assert_eq!((status, error_code(&body)), (400, "bad_device".into()));

    // Too large: the body, and a small body that unpacks to too much. The server refuses a
    // body by its Content-Length, before reading it: a client that waits for the go-ahead
    // (Expect: 100-continue) gets the 413 at once.
    let over = 16 * 1024 * 1024 + 1;
    assert_eq!(
        status_before_body(&server, &raw.token, over),
        413,
        "a body over 16 MiB announced"
    );
    still_serving(&server, &raw, &dev, &record, "a body over 16 MiB announced");
    // A request that unpacks to 80 MiB (the limit is 64 MiB), in a few KB.
    let bomb = frame(&request(vec![Push {
        record: record.clone(),
        changes: vec![0; 80 << 20],
    }]));
    assert!(bomb[0] == FRAME_MSGPACK_ZSTD && bomb.len() < 1 << 20);
    let (status, body) = raw.sync_body(bomb);
    assert_eq!(
        (status, error_code(&body)),
        (413, "too_large".into()),
        "a zstd bomb"
    );
    still_serving(&server, &raw, &dev, &record, "a zstd bomb");

    // Pushes the server refuses one by one, answering the request.
    let mut garbage = vec![0u8; 500];
    rng.fill(&mut garbage[..]);
    let r = raw.push(&random_uuid(), garbage);
    assert_eq!(
        (r.outcome, r.code.as_deref()),
        (PushOutcome::Refused, Some("corrupt_changes")),
        "random bytes as changes: {r:?}"
    );
    still_serving(&server, &raw, &dev, &record, "random bytes as changes");
    let r = raw.push(&random_uuid(), dev.core.export(&other).unwrap());
    assert_eq!(
        (r.outcome, r.code.as_deref()),
        (PushOutcome::Refused, Some("not_a_record")),
        "another record's bytes: {r:?}"
    );
    still_serving(&server, &raw, &dev, &record, "another record's bytes");
    // Under the id of a record the server holds, made by the same device: the two
    // documents do not even merge (the device's first change of each has the same sequence
    // number), so either refusal is right.
    let r = raw.push(&other, dev.core.export(&record).unwrap());
    assert!(
        r.outcome == PushOutcome::Refused
            && matches!(r.code.as_deref(), Some("not_a_record" | "corrupt_changes")),
        "a known record's id with another record's bytes: {r:?}"
    );
    let r = raw.push("not-a-uuid", dev.core.export(&record).unwrap());
    assert_eq!(
        (r.outcome, r.code.as_deref()),
        (PushOutcome::Refused, Some("bad_record_id")),
        "{r:?}"
    );
    still_serving(&server, &raw, &dev, &record, "refused pushes");

    // Photos named by something that is not a hash.
    for path in ["/v1/photos/abc", &format!("/v1/photos/{}", "G".repeat(64))] {
        let (status, body) = raw.get(path);
        assert_eq!(
            (status, error_code(&body)),
            (400, "bad_hash".into()),
            "GET {path}"
        );
        let resp = raw
            .http
            .patch(format!("{}{path}", raw.url))
            .bearer_auth(&raw.token)
            .header("upload-offset", "0")
            .header("upload-length", "3")
            .body(vec![1, 2, 3])
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.bytes().unwrap();
        assert_eq!(
            (status, error_code(&body)),
            (400, "bad_hash".into()),
            "PATCH {path}"
        );
    }
    let (status, body) = raw.post(
        "/v1/photos/status",
        Some(&raw.token),
        jingtu_protocol::encode(&PhotoStatusRequest {
            protocol: PROTOCOL_VERSION,
            hashes: vec!["../../etc/passwd".into()],
        })
        .unwrap(),
    );
    assert_eq!((status, error_code(&body)), (400, "bad_hash".into()));
    let (status, body) = raw.post("/v1/photos/status", Some(&raw.token), noise);
    assert_eq!((status, error_code(&body)), (400, "malformed_body".into()));
    still_serving(&server, &raw, &dev, &record, "bad photo hashes");

    // Nothing of the refused pushes was stored: a fresh device gets the two records.
    let fresh = device(&server, "李四");
    sync(&fresh, &server);
    assert_eq!(
        record_ids(&fresh.core),
        BTreeSet::from([record.clone(), other.clone()])
    );
    for id in [&record, &other] {
        assert_eq!(
            fresh.core.view(id).unwrap().data,
            dev.core.view(id).unwrap().data
        );
        assert_eq!(
            history_hashes(&fresh.core, id, "the fresh device"),
            history_hashes(&dev.core, id, &dev.name)
        );
    }
    // A client that sends a body over 16 MiB right away (without waiting for the go-ahead)
    // races the server's refusal: HTTP/1.1 lets the server answer 413 and close before it
    // has read the body, so the client sees the 413 or a closed connection. Either way the
    // server keeps serving; the jingtu client never sends such a body (it refuses a record
    // over the push limit itself, see the core's sync).
    let huge = vec![0x01u8; over];
    for _ in 0..4 {
        let sent = raw
            .http
            .post(format!("{}/v1/sync", raw.url))
            .bearer_auth(&raw.token)
            .header("content-type", CONTENT_TYPE)
            .body(huge.clone())
            .send();
        if let Ok(resp) = sent {
            assert_eq!(resp.status().as_u16(), 413, "a body over 16 MiB");
        }
    }
    still_serving(&server, &raw, &dev, &record, "a body over 16 MiB");
    eprintln!("bad requests: {:.1} s", started.elapsed().as_secs_f64());
}
