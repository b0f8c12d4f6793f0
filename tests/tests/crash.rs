//! A field device loses power or gets killed mid-edit: every edit it had confirmed must still
//! be in the store when it comes back, and the store must open again.
//!
//! The crash child (`src/bin/crash_child.rs`) edits one store without end and prints a `try`
//! line before each call and a `done` line after each call that returned Ok. This test kills
//! it with SIGKILL again and again on the same store, and after each kill reopens the store
//! and checks it against what the child reported: every `done` value is there, and the one
//! write announced by a `try` but not confirmed is either fully there or not at all.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use jingtu_core::{COMPACT_AFTER_CHUNKS, DeviceCore, ListFilter};
use jingtu_e2e::{ChildLine, lookup, same_value, split_index};
use rand::Rng;
use serde_json::Value;

const CHILD: &str = env!("CARGO_BIN_EXE_jingtu-crash-child");
const KILLS: usize = 100;
/// One run in this many is killed 0 to 25 ms after the spawn, so the kill may land while
/// the store is being opened (about 20 ms in a debug build); the others 5 to 80 ms after the
/// child's `ready` line, in the middle of its edits.
const KILL_DURING_OPEN_EVERY: usize = 5;

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
    let mut child = Command::new(CHILD)
        .arg(dir)
        .arg(first_seq.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning the crash child");
    let stdout = child.stdout.take().expect("child stdout");
    let (first_line, got_first_line) = mpsc::channel();
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
                    lines.push(text.trim_end_matches('\n').to_string());
                    let _ = first_line.send(());
                }
                Err(e) => panic!("reading the child's stdout: {e}"),
            }
        }
        lines
    });
    let ready = !from_ready || got_first_line.recv_timeout(Duration::from_secs(30)).is_ok();
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
        "the child printed nothing in 30 s: {status}\n{stderr}"
    );
    assert_eq!(
        status.signal(),
        Some(9),
        "the child stopped before it was killed ({status}):\n{stderr}"
    );
    let lines = reader.join().expect("the reader thread");
    lines
        .iter()
        .map(|l| ChildLine::parse(l).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

#[test]
fn edits_reported_done_survive_kill_9() {
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
