//! A field device loses power or gets killed mid-edit: every edit it had confirmed must still
//! be in the store when it comes back, and the store must open again.
//!
//! The crash child (`src/bin/crash_child.rs`) edits one store without end and prints a `try`
//! line before each call and a `done` line after each call that returned Ok. This test kills
//! it with SIGKILL again and again on the same store, and after each kill reopens the store
//! and checks it against what the child reported: every `done` value is there, and the one
//! write announced by a `try` but not confirmed is either fully there or not at all.
//!
//! The second test does the same to the child's photo mode: every photo it reported added is
//! in its record with its full image and thumbnail, no record refers to half a photo, and no
//! stored photo is left without a record.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use jingtu_core::{COMPACT_AFTER_CHUNKS, DeviceCore, ListFilter};
use jingtu_e2e::{ChildLine, PhotoLine, lookup, same_value, split_index};
use rand::Rng;
use serde_json::Value;

const CHILD: &str = env!("CARGO_BIN_EXE_jingtu-crash-child");
const KILLS: usize = 100;
/// One run in this many is killed 0 to 25 ms after the spawn, so the kill may land while
/// the store is being opened (about 20 ms in a debug build); the others 5 to 80 ms after the
/// child's `ready` line, in the middle of its edits.
const KILL_DURING_OPEN_EVERY: usize = 5;
const PHOTO_KILLS: usize = 30;

/// The tests run one after the other: each times its kills for a child that has the
/// machine to itself.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The call the child had announced but not confirmed when it was killed.
#[derive(Debug)]
enum InFlight {
    Create {
        kind: String,
    },
    Write {
        id: String,
        path: String,
        value: Value,
    },
}

/// What the store must hold, from every line the children printed.
#[derive(Default)]
struct Expected {
    records: BTreeMap<String, String>,
    values: BTreeMap<(String, String), Value>,
    list_lens: BTreeMap<(String, String), usize>,
    writes_per_record: BTreeMap<String, usize>,
    tries: u64,
    dones: usize,
}

impl Expected {
    fn confirm_write(&mut self, run: usize, id: &str, path: &str, value: Value) {
        if let Some((list, index)) = split_index(path) {
            let len = self
                .list_lens
                .entry((id.to_string(), list.to_string()))
                .or_default();
            assert_eq!(
                index, *len,
                "run {run}: append to {list} of {id} got index {index}, the list had {len} items"
            );
            *len += 1;
        }
        self.values
            .insert((id.to_string(), path.to_string()), value);
        *self.writes_per_record.entry(id.to_string()).or_default() += 1;
    }

    /// Takes in one run's lines; returns the unconfirmed call and the records it touched.
    fn take_lines(
        &mut self,
        run: usize,
        lines: Vec<ChildLine>,
    ) -> (Option<InFlight>, BTreeSet<String>) {
        let mut in_flight = None;
        let mut touched = BTreeSet::new();
        for line in lines {
            match line {
                ChildLine::Ready { records } => assert_eq!(
                    records,
                    self.records.len() as u64,
                    "run {run}: the child found another number of records than were reported"
                ),
                ChildLine::Creating { kind } => {
                    assert!(
                        in_flight.is_none(),
                        "run {run}: {in_flight:?} never confirmed"
                    );
                    in_flight = Some(InFlight::Create { kind });
                }
                ChildLine::Created { id, kind } => {
                    match in_flight.take() {
                        Some(InFlight::Create { kind: k }) if k == kind => {}
                        other => panic!("run {run}: created {id} {kind} after {other:?}"),
                    }
                    touched.insert(id.clone());
                    self.records.insert(id, kind);
                }
                ChildLine::Try { id, path, value } => {
                    assert!(
                        in_flight.is_none(),
                        "run {run}: {in_flight:?} never confirmed"
                    );
                    assert!(
                        self.records.contains_key(&id),
                        "run {run}: the child writes to {id}, a record never reported"
                    );
                    self.tries += 1;
                    touched.insert(id.clone());
                    in_flight = Some(InFlight::Write { id, path, value });
                }
                ChildLine::Done { id, path, value } => {
                    match in_flight.take() {
                        Some(InFlight::Write {
                            id: i,
                            path: p,
                            value: v,
                        }) if i == id && p == path && v == value => {}
                        other => panic!("run {run}: done {id} {path} {value} after {other:?}"),
                    }
                    self.dones += 1;
                    self.confirm_write(run, &id, &path, value);
                }
            }
        }
        (in_flight, touched)
    }

    /// Every confirmed value and list length of record `id` is in the store.
    fn check_record(&self, core: &DeviceCore, run: usize, id: &str) {
        let view = core
            .view(id)
            .unwrap_or_else(|e| panic!("run {run}: record {id} cannot be read: {e}"));
        assert_eq!(view.kind, self.records[id], "run {run}: kind of {id}");
        assert!(
            view.conflicts.is_empty(),
            "run {run}: one device alone made conflicts in {id}: {:?}",
            view.conflicts
        );
        let start = (id.to_string(), String::new());
        for ((_, path), want) in self
            .values
            .range(start.clone()..)
            .take_while(|(k, _)| k.0 == id)
        {
            let found = lookup(&view.data, path);
            assert!(
                found.is_some_and(|f| same_value(f, want)),
                "run {run}: record {id} at {path}: confirmed {want}, the store holds {found:?}"
            );
        }
        for ((_, list), len) in self.list_lens.range(start..).take_while(|(k, _)| k.0 == id) {
            let found = lookup(&view.data, list)
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            assert_eq!(
                found, *len,
                "run {run}: record {id}: {list} holds {found} items, {len} were confirmed"
            );
        }
    }
}

/// Runs the child on `dir` and kills it; returns every whole line it printed.
fn run_and_kill(dir: &Path, first_seq: u64, from_ready: bool, delay: Duration) -> Vec<ChildLine> {
    let wait_for = from_ready.then_some(("", 1));
    run_and_kill_at(dir, &[first_seq.to_string()], wait_for, delay)
        .iter()
        .map(|(_, l)| ChildLine::parse(l).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// Runs the child on `dir` with `args` after the directory; once it has printed the `n`th
/// line starting with `prefix` (of `wait_for`; right away when `None`), waits `delay` and kills
/// it. Returns every whole line it printed, with when it was read.
fn run_and_kill_at(
    dir: &Path,
    args: &[String],
    wait_for: Option<(&str, usize)>,
    delay: Duration,
) -> Vec<(Instant, String)> {
    let mut child = Command::new(CHILD)
        .arg(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning the crash child");
    let stdout = child.stdout.take().expect("child stdout");
    let (line_read, got_line) = mpsc::channel::<String>();
    let reader = thread::spawn(move || {
        let mut stdout = BufReader::new(stdout);
        let mut lines = Vec::new();
        loop {
            let mut line = Vec::new();
            match stdout.read_until(b'\n', &mut line) {
                Ok(0) => break,
                // A line without its newline was cut by the kill: it was never printed whole.
                Ok(_) if line.last() != Some(&b'\n') => break,
                Ok(_) => {
                    let text = String::from_utf8(line).expect("child lines are UTF-8");
                    let text = text.trim_end_matches('\n').to_string();
                    lines.push((Instant::now(), text.clone()));
                    let _ = line_read.send(text);
                }
                Err(e) => panic!("reading the child's stdout: {e}"),
            }
        }
        lines
    });
    let ready = match wait_for {
        None => true,
        Some((prefix, n)) => {
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut seen = 0;
            while seen < n {
                let left = deadline.saturating_duration_since(Instant::now());
                match got_line.recv_timeout(left) {
                    Ok(l) if l.starts_with(prefix) => seen += 1,
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            seen == n
        }
    };
    if ready {
        thread::sleep(delay);
    }
    child.kill().expect("sending SIGKILL");
    let status = child.wait().expect("waiting for the child");
    let mut stderr = String::new();
    let _ = child
        .stderr
        .take()
        .expect("child stderr")
        .read_to_string(&mut stderr);
    assert!(
        ready,
        "the child did not print {wait_for:?} in 30 s: {status}\n{stderr}"
    );
    assert_eq!(
        status.signal(),
        Some(9),
        "the child stopped before it was killed ({status}):\n{stderr}"
    );
    reader.join().expect("the reader thread")
}

#[test]
fn edits_reported_done_survive_kill_9() {
    let _serial = serial();
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rng();
    let mut expected = Expected::default();
    let mut kills_during_open = 0;
    // How the unconfirmed write was found after the kill: written, or not.
    let (mut in_flight_written, mut in_flight_not_written) = (0, 0);

    for run in 0..KILLS {
        let from_ready = run % KILL_DURING_OPEN_EVERY != KILL_DURING_OPEN_EVERY - 1;
        let delay = Duration::from_millis(if from_ready {
            rng.random_range(5..80)
        } else {
            rng.random_range(0..25)
        });
        let lines = run_and_kill(dir.path(), expected.tries + 1, from_ready, delay);
        if !lines.iter().any(|l| matches!(l, ChildLine::Ready { .. })) {
            kills_during_open += 1;
        }
        let (in_flight, mut touched) = expected.take_lines(run, lines);

        let core = DeviceCore::open(dir.path())
            .unwrap_or_else(|e| panic!("run {run}: the store does not open after kill -9: {e}"));
        let listed: BTreeMap<String, String> = core
            .list(&ListFilter::default())
            .unwrap()
            .into_iter()
            .map(|s| (s.id, s.kind))
            .collect();
        let unreported: Vec<&String> = listed
            .keys()
            .filter(|id| !expected.records.contains_key(*id))
            .collect();
        match &in_flight {
            // The kill came after the record was stored but before `created` was printed.
            Some(InFlight::Create { kind }) if unreported.len() == 1 => {
                let id = unreported[0].clone();
                assert_eq!(
                    &listed[&id], kind,
                    "run {run}: kind of the unconfirmed record"
                );
                touched.insert(id.clone());
                expected.records.insert(id, kind.clone());
            }
            _ => assert!(
                unreported.is_empty(),
                "run {run}: records nobody created: {unreported:?} (in flight: {in_flight:?})"
            ),
        }
        for (id, kind) in &expected.records {
            assert_eq!(
                listed.get(id),
                Some(kind),
                "run {run}: record {id} is gone from the list"
            );
        }
        assert_eq!(core.count().unwrap(), expected.records.len() as u64);
        if let Some(InFlight::Write { id, path, value }) = in_flight {
            let data = core.view(&id).unwrap().data;
            // Written in full before the kill: it is the value now. Otherwise the confirmed
            // value must still be there, which check_record sees.
            if lookup(&data, &path).is_some_and(|v| same_value(v, &value)) {
                expected.confirm_write(run, &id, &path, value);
                in_flight_written += 1;
            } else {
                in_flight_not_written += 1;
            }
        }
        for id in &touched {
            expected.check_record(&core, run, id);
        }
    }

    let core = DeviceCore::open(dir.path()).expect("the store opens after the last kill");
    for id in expected.records.keys() {
        expected.check_record(&core, KILLS, id);
        assert!(!core.history(id).unwrap().is_empty(), "history of {id}");
    }
    let most_edited = expected.writes_per_record.values().max().copied();
    eprintln!(
        "{KILLS} kills ({kills_during_open} before ready; unconfirmed write found written \
         {in_flight_written}, not written {in_flight_not_written}), {} records, {} edits \
         confirmed, most edited record {most_edited:?} edits, {:.1} s",
        expected.records.len(),
        expected.dones,
        started.elapsed().as_secs_f64()
    );
    assert!(
        expected.dones >= KILLS,
        "only {} edits confirmed in {KILLS} runs: the child hardly ran",
        expected.dones
    );
    assert!(
        most_edited.unwrap_or(0) > COMPACT_AFTER_CHUNKS as usize,
        "no record reached {COMPACT_AFTER_CHUNKS} edits, so no kill could land in a compaction"
    );
}

/// The photo call the child had announced but not confirmed when it was killed.
#[derive(Debug)]
enum PhotoInFlight {
    Create,
    Add {
        id: String,
        seed: u32,
        field: Option<String>,
    },
    Remove {
        id: String,
        photo_id: String,
    },
}

/// A photo the store must hold (or hold as removed).
#[derive(Debug)]
struct ExpectedPhoto {
    record: String,
    sha256: String,
    removed: bool,
}

/// What the store must hold, from every line the photo children printed.
#[derive(Default)]
struct ExpectedPhotos {
    records: BTreeSet<String>,
    photos: BTreeMap<String, ExpectedPhoto>,
    /// The content id each seed gave: the same bytes must give the same stored photo.
    sha_of_seed: BTreeMap<u32, String>,
    /// Calls announced (`adding`, `removing`): the next child counts its seeds on from here.
    calls: u64,
    adds: usize,
    removes: usize,
    /// Confirmed adds of bytes some earlier add had already stored.
    repeats: usize,
}

impl ExpectedPhotos {
    fn confirm_add(&mut self, run: usize, id: &str, seed: u32, photo_id: String, sha256: String) {
        match self.sha_of_seed.get(&seed) {
            Some(sha) => {
                assert_eq!(
                    sha, &sha256,
                    "run {run}: seed {seed} gave another photo than before"
                );
                self.repeats += 1;
            }
            None => {
                self.sha_of_seed.insert(seed, sha256.clone());
            }
        }
        let old = self.photos.insert(
            photo_id.clone(),
            ExpectedPhoto {
                record: id.to_string(),
                sha256,
                removed: false,
            },
        );
        assert!(old.is_none(), "run {run}: photo id {photo_id} added twice");
        self.adds += 1;
    }

    fn confirm_remove(&mut self, run: usize, id: &str, photo_id: &str) {
        let p = self
            .photos
            .get_mut(photo_id)
            .unwrap_or_else(|| panic!("run {run}: removed {photo_id}, a photo never added"));
        assert!(
            p.record == id && !p.removed,
            "run {run}: removed {photo_id} from {id}, expected {p:?}"
        );
        p.removed = true;
        self.removes += 1;
    }

    /// Takes in one run's lines; returns the unconfirmed call.
    fn take_lines(&mut self, run: usize, lines: &[(Instant, String)]) -> Option<PhotoInFlight> {
        let mut in_flight = None;
        for (_, line) in lines {
            let line = PhotoLine::parse(line).unwrap_or_else(|e| panic!("run {run}: {e}"));
            let announce = |in_flight: &mut Option<PhotoInFlight>, call| {
                assert!(
                    in_flight.is_none(),
                    "run {run}: {in_flight:?} never confirmed"
                );
                *in_flight = Some(call);
            };
            match line {
                PhotoLine::Ready { records } => assert_eq!(
                    records,
                    self.records.len() as u64,
                    "run {run}: the child found another number of records than were reported"
                ),
                PhotoLine::Creating => announce(&mut in_flight, PhotoInFlight::Create),
                PhotoLine::Created { id } => {
                    assert!(
                        matches!(in_flight.take(), Some(PhotoInFlight::Create)),
                        "run {run}: created {id} unannounced"
                    );
                    self.records.insert(id);
                }
                PhotoLine::Adding { id, seed, field } => {
                    assert!(
                        self.records.contains(&id),
                        "run {run}: the child adds to {id}, a record never reported"
                    );
                    self.calls += 1;
                    announce(&mut in_flight, PhotoInFlight::Add { id, seed, field });
                }
                PhotoLine::Added {
                    id,
                    photo_id,
                    sha256,
                } => match in_flight.take() {
                    Some(PhotoInFlight::Add { id: i, seed, .. }) if i == id => {
                        self.confirm_add(run, &id, seed, photo_id, sha256)
                    }
                    other => panic!("run {run}: added {photo_id} to {id} after {other:?}"),
                },
                PhotoLine::Removing { id, photo_id } => {
                    self.calls += 1;
                    announce(&mut in_flight, PhotoInFlight::Remove { id, photo_id });
                }
                PhotoLine::Removed { id, photo_id } => match in_flight.take() {
                    Some(PhotoInFlight::Remove { id: i, photo_id: p })
                        if i == id && p == photo_id =>
                    {
                        self.confirm_remove(run, &id, &photo_id)
                    }
                    other => panic!("run {run}: removed {photo_id} from {id} after {other:?}"),
                },
            }
        }
        in_flight
    }

    /// The record's photos are exactly the expected ones, each whole: its entry in the photo
    /// list it names, its full image (whose SHA-256 is its content id) and its thumbnail on
    /// the device. Returns the content ids of its live photos.
    fn check_record(&self, core: &DeviceCore, run: usize, id: &str) -> BTreeSet<String> {
        let view = core
            .view(id)
            .unwrap_or_else(|e| panic!("run {run}: record {id} cannot be read: {e}"));
        let all = core.photos(id, true).unwrap();
        let live: BTreeMap<&str, &jingtu_core::PhotoEntry> = all
            .iter()
            .filter(|p| p.entry.removed.is_none())
            .map(|p| (p.entry.id.as_str(), &p.entry))
            .collect();
        let want_live: BTreeSet<&str> = self
            .photos
            .iter()
            .filter(|(_, p)| p.record == id && !p.removed)
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(
            live.keys().copied().collect::<BTreeSet<_>>(),
            want_live,
            "run {run}: live photos of {id} (left: the store, right: confirmed)"
        );
        let in_view: BTreeSet<&str> = view.photos.iter().map(|p| p.entry.id.as_str()).collect();
        assert_eq!(
            in_view, want_live,
            "run {run}: the view of {id} shows other photos"
        );
        for (photo_id, p) in self.photos.iter().filter(|(_, p)| p.record == id) {
            let entry = &all
                .iter()
                .find(|r| &r.entry.id == photo_id)
                .unwrap_or_else(|| panic!("run {run}: photo {photo_id} is gone from {id}"))
                .entry;
            assert_eq!(
                entry.sha256, p.sha256,
                "run {run}: content id of {photo_id}"
            );
            assert_eq!(
                entry.removed.is_some(),
                p.removed,
                "run {run}: removal of {photo_id}"
            );
            if let Some(list) = &entry.list {
                let listed = lookup(&view.data, list)
                    .and_then(Value::as_array)
                    .is_some_and(|l| l.iter().any(|v| v == photo_id.as_str()));
                assert_eq!(
                    listed, !p.removed,
                    "run {run}: {photo_id} in {list} of {id} (removed: {})",
                    p.removed
                );
            }
        }
        for p in all.iter().filter(|p| p.entry.removed.is_none()) {
            let e = &p.entry;
            assert!(
                p.has_full && p.has_thumb,
                "run {run}: photo {} of {id} lacks its image or thumbnail",
                e.id
            );
            let full = core
                .photo_bytes(&e.sha256, false)
                .unwrap_or_else(|err| panic!("run {run}: photo {} of {id}: {err}", e.id));
            assert_eq!(
                jingtu_media::content_id(&full),
                e.sha256,
                "run {run}: the stored image of photo {} of {id} is not the one referred to",
                e.id
            );
            assert_eq!(
                full.len() as u64,
                e.size,
                "run {run}: size of photo {}",
                e.id
            );
            let thumb = core
                .photo_bytes(&e.sha256, true)
                .unwrap_or_else(|err| panic!("run {run}: thumbnail of {}: {err}", e.id));
            assert!(
                !thumb.is_empty() && thumb.len() < full.len(),
                "run {run}: thumbnail of {} has {} bytes, the image {}",
                e.id,
                thumb.len(),
                full.len()
            );
        }
        live.values().map(|e| e.sha256.to_string()).collect()
    }
}

/// How a photo run is killed.
#[derive(Debug, Clone, Copy)]
enum PhotoKill {
    /// This long after the spawn, perhaps while the store opens.
    DuringOpen(Duration),
    /// This long after `ready`: anywhere (mostly in an ingest).
    Anywhere(Duration),
    /// In the last moments of the `n`th add: this long before its `added` line would come,
    /// by the adds timed so far, when the blob, the reference and the change are written.
    EndOfAdd(usize, Duration),
    /// This long after the first `removing` line.
    InRemove(Duration),
}

#[test]
fn photos_reported_added_survive_kill_9_whole_and_without_orphans() {
    let _serial = serial();
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rng();
    let mut expected = ExpectedPhotos::default();
    // How long an add takes, from `adding` to `added` as the parent reads them.
    let mut add_times: Vec<Duration> = Vec::new();
    let (mut add_written, mut add_not_written) = (0, 0);
    let (mut remove_written, mut remove_not_written) = (0, 0);
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();

    for run in 0..PHOTO_KILLS {
        let typical_add = if add_times.is_empty() {
            Duration::from_millis(100)
        } else {
            let mut t = add_times.clone();
            t.sort();
            t[t.len() / 2]
        };
        let kill = if run % KILL_DURING_OPEN_EVERY == KILL_DURING_OPEN_EVERY - 1 {
            PhotoKill::DuringOpen(Duration::from_millis(rng.random_range(0..25)))
        } else {
            match rng.random_range(0..10) {
                0..=4 => PhotoKill::EndOfAdd(
                    rng.random_range(1..=3),
                    Duration::from_micros(rng.random_range(0..4_000)),
                ),
                5 | 6 => PhotoKill::InRemove(Duration::from_micros(rng.random_range(0..3_000))),
                _ => PhotoKill::Anywhere(Duration::from_millis(rng.random_range(0..400))),
            }
        };
        let (wait_for, delay) = match kill {
            PhotoKill::DuringOpen(d) => (None, d),
            PhotoKill::Anywhere(d) => (Some(("ready", 1)), d),
            PhotoKill::EndOfAdd(n, before) => {
                (Some(("adding", n)), typical_add.saturating_sub(before))
            }
            PhotoKill::InRemove(d) => (Some(("removing", 1)), d),
        };
        let args = [(expected.calls + 1).to_string(), "photos".to_string()];
        let lines = run_and_kill_at(dir.path(), &args, wait_for, delay);
        *kinds
            .entry(match kill {
                PhotoKill::DuringOpen(_) => "during open",
                PhotoKill::Anywhere(_) => "anywhere",
                PhotoKill::EndOfAdd(..) => "end of an add",
                PhotoKill::InRemove(_) => "in a removal",
            })
            .or_default() += 1;
        for pair in lines.windows(2) {
            if pair[0].1.starts_with("adding ") && pair[1].1.starts_with("added ") {
                add_times.push(pair[1].0 - pair[0].0);
            }
        }
        let in_flight = expected.take_lines(run, &lines);

        let core = DeviceCore::open(dir.path())
            .unwrap_or_else(|e| panic!("run {run}: the store does not open after kill -9: {e}"));
        let listed: BTreeSet<String> = core
            .list(&ListFilter::default())
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        let unreported: Vec<&String> = listed.difference(&expected.records).collect();
        match &in_flight {
            Some(PhotoInFlight::Create) if unreported.len() == 1 => {
                let id = unreported[0].clone();
                expected.records.insert(id);
            }
            _ => assert!(
                unreported.is_empty(),
                "run {run}: records nobody created: {unreported:?} (in flight: {in_flight:?})"
            ),
        }
        assert_eq!(
            listed, expected.records,
            "run {run}: records in the store (left) and reported (right)"
        );
        match in_flight {
            // Stored in full before the kill: its entry is in the record now, and it is
            // checked like the confirmed ones. Otherwise the record has only those.
            Some(PhotoInFlight::Add { id, seed, field }) => {
                let unconfirmed: Vec<_> = core
                    .photos(&id, true)
                    .unwrap()
                    .into_iter()
                    .filter(|p| !expected.photos.contains_key(&p.entry.id))
                    .collect();
                assert!(
                    unconfirmed.len() <= 1,
                    "run {run}: photos nobody added to {id}: {unconfirmed:?}"
                );
                if let Some(p) = unconfirmed.into_iter().next() {
                    assert_eq!(
                        p.entry.field, field,
                        "run {run}: field of the unconfirmed add"
                    );
                    assert!(p.entry.removed.is_none());
                    expected.confirm_add(run, &id, seed, p.entry.id, p.entry.sha256.to_string());
                    add_written += 1;
                } else {
                    add_not_written += 1;
                }
            }
            Some(PhotoInFlight::Remove { id, photo_id }) => {
                let entry = core
                    .photos(&id, true)
                    .unwrap()
                    .into_iter()
                    .find(|p| p.entry.id == photo_id)
                    .unwrap_or_else(|| panic!("run {run}: photo {photo_id} is gone from {id}"));
                if entry.entry.removed.is_some() {
                    expected.confirm_remove(run, &id, &photo_id);
                    remove_written += 1;
                } else {
                    remove_not_written += 1;
                }
            }
            Some(PhotoInFlight::Create) | None => {}
        }
        let mut live_shas = BTreeSet::new();
        for id in &expected.records {
            live_shas.extend(expected.check_record(&core, run, id));
        }
        assert_eq!(
            core.stored_photos().unwrap(),
            jingtu_core::PhotoCounts {
                held: live_shas.len() as u64,
                unreferenced: 0
            },
            "run {run}: (photos stored, photos no record uses); {} different photos are in use",
            live_shas.len()
        );
    }

    let core = DeviceCore::open(dir.path()).expect("the store opens after the last kill");
    let mut live_shas = BTreeSet::new();
    for id in &expected.records {
        live_shas.extend(expected.check_record(&core, PHOTO_KILLS, id));
    }
    assert_eq!(
        core.stored_photos().unwrap(),
        jingtu_core::PhotoCounts {
            held: live_shas.len() as u64,
            unreferenced: 0
        }
    );
    add_times.sort();
    let median_add = add_times.get(add_times.len() / 2).copied();
    eprintln!(
        "{PHOTO_KILLS} kills ({kinds:?}); unconfirmed add found written {add_written}, not \
         written {add_not_written}; unconfirmed removal found written {remove_written}, not \
         written {remove_not_written}; {} records, {} adds ({} of bytes already stored) and \
         {} removals confirmed, {} photos stored, median add {median_add:?}, {:.1} s",
        expected.records.len(),
        expected.adds,
        expected.repeats,
        expected.removes,
        live_shas.len(),
        started.elapsed().as_secs_f64(),
    );
    assert!(
        expected.adds >= PHOTO_KILLS / 2,
        "only {} photos confirmed in {PHOTO_KILLS} runs: the child hardly ran",
        expected.adds
    );
    assert!(expected.repeats > 0, "no add stored bytes already stored");
    assert!(expected.removes > 0, "no removal confirmed");
}
