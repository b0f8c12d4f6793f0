//! What a hostile phone (any device token) or a crowd of them can do to a real server
//! process, sent through the real HTTP path; each test is the regression test of a finding of
//! the security review (issue 13):
//!
//! - a push whose compressed chunk or run-length encoded columns expand a thousandfold is
//!   refused before Automerge decodes it, and the server's memory does not follow;
//! - a heavy push (a record with 20,000 status events) does not hold up other devices, and a
//!   request that runs past its time stores nothing after the client stopped waiting;
//! - many pushes of one record at once store each change exactly once.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc};
use jingtu_client::{Client, ClientError, ClientOptions};
use jingtu_doc::{ActorId, Editor, RecordDoc, RecordMeta};
use jingtu_e2e::ServerProcess;
use jingtu_protocol::{PROTOCOL_VERSION, Push, PushOutcome, PushResult, SyncRequest};
use tempfile::TempDir;

const SERVER: &str = env!("CARGO_BIN_EXE_jingtu-e2e-server");
const T0: i64 = 1_720_000_000_000;

struct World {
    server: ServerProcess,
    _dir: TempDir,
}

impl World {
    fn with_config(toml: &str) -> World {
        let dir = tempfile::tempdir().unwrap();
        let server = ServerProcess::start_with_config(SERVER, &dir.path().join("server"), toml);
        World { server, _dir: dir }
    }

    /// A client with the admin's token (which may write anything: only the limits apply).
    fn admin(&self) -> Client {
        let token = self.server.admin_token.clone().expect("the admin token");
        let options = ClientOptions {
            attempts: 1,
            ..ClientOptions::default()
        };
        Client::new(&self.server.url, &token, options).unwrap()
    }

    fn peak_mb(&self) -> f64 {
        self.server
            .memory_kb("VmHWM")
            .expect("the server's peak memory") as f64
            / 1024.0
    }
}

fn device() -> String {
    rand::random::<[u8; 16]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn request(device: &str, pushes: Vec<Push>) -> SyncRequest {
    SyncRequest {
        protocol: PROTOCOL_VERSION,
        device: device.to_string(),
        cursor: u64::MAX >> 1,
        pushes,
        max_response_bytes: None,
        scope_seq: 0,
        scope_target: None,
        scope_after: None,
        catalog: None,
    }
}

fn push_one(client: &Client, record: &str, changes: Vec<u8>) -> PushResult {
    let pushes = vec![Push {
        record: record.to_string(),
        changes,
    }];
    let answer = client
        .sync(&request(&device(), pushes), &|| false)
        .expect("the push is answered");
    answer.results.into_iter().next().expect("one result")
}

/// A new record id (a lowercase hyphenated UUID).
fn new_id() -> String {
    let h = format!("{:032x}", rand::random::<u128>());
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

static VILLAGE: std::sync::LazyLock<Arc<jingtu_model::Template>> = std::sync::LazyLock::new(|| {
    jingtu_model::TemplateSet::builtin()
        .unwrap()
        .latest("village_inspection")
        .unwrap()
});

/// A fresh village inspection record, as a device would first push it.
fn record(id: &str) -> RecordDoc {
    let t = &*VILLAGE;
    let meta = RecordMeta {
        id: id.to_string(),
        kind: t.kind.clone(),
        template_version: t.version,
        org_unit: Some("411321102206".into()),
        village: Some("杨树沟村".into()),
        planned_point: None,
        assignment: None,
        author: "admin".into(),
        device: "hostile".into(),
        created_at_ms: T0,
    };
    let by = Editor {
        author: "admin".into(),
        time_ms: T0,
    };
    RecordDoc::create(ActorId::random(), t, &meta, &by).unwrap()
}

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

/// An Automerge chunk of `kind` around `data` (the checksum is not checked before the
/// expansion is).
fn chunk(kind: u8, data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, kind];
    uleb(data.len() as u64, &mut out);
    out.extend_from_slice(data);
    out
}

/// DEFLATE of `mib` mebibytes of zeros (about a thousandth of that).
fn deflated_zeros(mib: usize) -> Vec<u8> {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..mib {
        enc.write_all(&zeros).unwrap();
    }
    enc.finish().unwrap()
}

/// A document chunk with one DEFLATE-compressed column of `compressed`.
fn document_with_column(compressed: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 0]; // no actors, no heads
    body.push(1); // one change column ...
    uleb((1 << 4) | 0b1000 | 2, &mut body); // ... an integer column, compressed
    uleb(compressed.len() as u64, &mut body);
    body.push(0); // no op columns
    body.extend_from_slice(compressed);
    chunk(0, &body)
}

/// A change whose one column repeats a value 2^40 times in a few bytes.
fn run_length_bomb() -> Vec<u8> {
    let mut body = vec![0, 1, 0xab, 1, 1, 0, 0, 0]; // deps, actor, seq, start op, time, msg, others
    body.push(1);
    uleb((34 << 4) | 2, &mut body);
    let column = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x01]; // sLEB 2^42, then 1
    uleb(column.len() as u64, &mut body);
    body.extend_from_slice(&column);
    chunk(1, &body)
}

#[test]
fn pushes_that_expand_a_thousandfold_are_refused_before_they_are_decoded() {
    let w = World::with_config("");
    let admin = w.admin();
    // Warm up: one ordinary record, so the peak below is the server's working size.
    let warm = new_id();
    let r = push_one(&admin, &warm, record(&warm).save());
    assert_eq!(r.outcome, PushOutcome::Accepted, "{r:?}");
    let before = w.peak_mb();

    let zeros = deflated_zeros(512);
    let bombs = [
        ("a compressed change of 512 MiB", chunk(2, &zeros)),
        ("a document column of 512 MiB", document_with_column(&zeros)),
        ("a run of 2^42 operations", run_length_bomb()),
    ];
    for (what, bytes) in bombs {
        let started = Instant::now();
        let id = new_id();
        let r = push_one(&admin, &id, bytes);
        assert_eq!(r.outcome, PushOutcome::Refused, "{what}: {r:?}");
        assert_eq!(r.code.as_deref(), Some("too_large"), "{what}: {r:?}");
        eprintln!(
            "{what}: refused in {:.2} s ({})",
            started.elapsed().as_secs_f64(),
            r.message.unwrap_or_default()
        );
    }
    let after = w.peak_mb();
    eprintln!("server peak memory: {before:.0} MB before the bombs, {after:.0} MB after");
    // Each would have cost Automerge over a gigabyte (the inflated bytes, twice); the guard
    // inflates at most its limit (32 MiB) into one buffer.
    assert!(
        after - before < 160.0,
        "the server's peak memory grew from {before:.0} MB to {after:.0} MB"
    );

    // Still serving: an ordinary push is taken.
    let id = new_id();
    let r = push_one(&admin, &id, record(&id).save());
    assert_eq!(r.outcome, PushOutcome::Accepted, "{r:?}");
}

/// Adds `n` status events (submitted and returned in turn) to the record `id` whose stored
/// form is `doc`, as one change; returns the change bytes.
fn add_events(doc: &mut AutoCommit, n: usize) -> Vec<u8> {
    let heads = doc.get_heads();
    let events = match doc.get(ROOT, "events").unwrap() {
        Some((automerge::Value::Object(ObjType::List), id)) => id,
        other => panic!("no events list: {other:?}"),
    };
    for i in 0..n {
        let at = doc.length(&events);
        let e = doc.insert_object(&events, at, ObjType::Map).unwrap();
        let kind = if at % 2 == 0 { "submitted" } else { "returned" };
        doc.put(&e, "type", kind).unwrap();
        doc.put(&e, "by", "admin").unwrap();
        doc.put(&e, "at", T0 + i as i64).unwrap();
    }
    doc.commit();
    doc.save_after(&heads)
}

#[test]
fn a_push_on_a_record_with_20000_events_does_not_hold_up_other_devices() {
    let w = World::with_config("");
    let admin = Arc::new(w.admin());
    let big = new_id();
    let mut doc = AutoCommit::load(&record(&big).save()).unwrap();
    let r = push_one(&admin, &big, doc.save());
    assert_eq!(r.outcome, PushOutcome::Accepted, "{r:?}");
    // 20,000 events, pushed in parts (a debug build of the checks is slow on large pushes).
    for _ in 0..4 {
        let changes = add_events(&mut doc, 5_000);
        let r = push_one(&admin, &big, changes);
        assert_eq!(r.outcome, PushOutcome::Accepted, "{r:?}");
    }
    // One more event on it (a push of a few hundred bytes) ...
    let one = add_events(&mut doc, 1);
    assert!(one.len() < 400, "{} bytes", one.len());
    let heavy = {
        let admin = admin.clone();
        let big = big.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            let r = push_one(&admin, &big, one);
            (r, started.elapsed(), Instant::now())
        })
    };
    // ... and, while it runs, another device's new record.
    std::thread::sleep(Duration::from_millis(100));
    let small_started = Instant::now();
    let id = new_id();
    let r = push_one(&admin, &id, record(&id).save_uncompressed());
    let small_done = Instant::now();
    assert_eq!(r.outcome, PushOutcome::Accepted, "{r:?}");
    let (r, heavy_took, heavy_done) = heavy.join().unwrap();
    assert_eq!(r.outcome, PushOutcome::Accepted, "{r:?}");
    assert_eq!(r.new_changes, 1);
    eprintln!(
        "the push on the record of 20,000 events took {:.2} s; the other device's {:.3} s",
        heavy_took.as_secs_f64(),
        (small_done - small_started).as_secs_f64()
    );
    if heavy_done > small_started {
        assert!(
            small_done < heavy_done,
            "the other device waited for the heavy push to end"
        );
    }
}

#[test]
fn a_request_past_its_time_stores_nothing_after_the_client_stopped_waiting() {
    let w = World::with_config("[limits]\nrequest_timeout_s = 1\n");
    let admin = w.admin();
    // Enough new records that applying them takes longer than a second here.
    let records: Vec<(String, Vec<u8>)> = (0..3000)
        .map(|_| {
            let id = new_id();
            let bytes = record(&id).save_uncompressed();
            (id, bytes)
        })
        .collect();
    let pushes = records
        .iter()
        .map(|(id, bytes)| Push {
            record: id.clone(),
            changes: bytes.clone(),
        })
        .collect();
    let started = Instant::now();
    let answer = admin.sync(&request(&device(), pushes), &|| false);
    let took = started.elapsed();
    // Give work that went on after the answer the time to store what it would.
    std::thread::sleep(Duration::from_secs(2));
    let reader = w.admin();
    let mut held = 0;
    let mut cursor = 0;
    loop {
        let mut req = request(&device(), vec![]);
        req.cursor = cursor;
        let page = reader.sync(&req, &|| false).expect("the feed is read");
        held += page.chunks.len();
        cursor = page.cursor;
        if !page.more {
            break;
        }
    }
    match answer {
        Ok(a) => {
            eprintln!("3,000 records pushed in {:.2} s", took.as_secs_f64());
            assert_eq!(a.results.len(), 3000);
            assert_eq!(held, 3000);
        }
        Err(ClientError::Refused { status, .. }) => {
            eprintln!(
                "3,000 records timed out after {:.2} s ({status})",
                took.as_secs_f64()
            );
            assert!(status == 408 || status == 503, "{status}");
            assert_eq!(held, 0, "records were stored after the answer timed out");
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn many_pushes_of_one_record_at_once_store_each_change_once() {
    let w = World::with_config("");
    let admin = Arc::new(w.admin());
    let id = new_id();
    let mut base = record(&id);
    let r = push_one(&admin, &id, base.save());
    assert_eq!(r.outcome, PushOutcome::Accepted, "{r:?}");
    // Eight devices each make their own edit, and each pushes its edit and the others' too,
    // all at once.
    let edits: Vec<Vec<u8>> = (0..8)
        .map(|i| {
            let mut doc = AutoCommit::load(&base.save()).unwrap();
            let heads = doc.get_heads();
            let data = match doc.get(ROOT, "data").unwrap() {
                Some((_, d)) => d,
                None => panic!("no data"),
            };
            doc.put(&data, "notes", format!("设备 {i} 的记录")).unwrap();
            doc.commit();
            doc.save_after(&heads)
        })
        .collect();
    let all: Vec<u8> = edits.concat();
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let admin = admin.clone();
            let id = id.clone();
            let changes = if t % 2 == 0 {
                edits[t / 2].clone()
            } else {
                all.clone()
            };
            std::thread::spawn(move || push_one(&admin, &id, changes))
        })
        .collect();
    for t in threads {
        let r = t.join().unwrap();
        assert_eq!(r.outcome, PushOutcome::Accepted, "{r:?}");
    }
    // The feed lists each of the eight changes once.
    let reader = w.admin();
    let mut req = request(&device(), vec![]);
    req.cursor = 0;
    let page = reader.sync(&req, &|| false).unwrap();
    // Each stored change is one Automerge chunk: the creating change and the eight edits.
    let stored: usize = page
        .chunks
        .iter()
        .filter(|c| c.record == id)
        .map(|c| {
            jingtu_doc::check_expansion(&c.bytes, &Default::default())
                .unwrap()
                .chunks
        })
        .sum();
    assert_eq!(stored, 1 + 8, "a change was stored twice, or lost");
    let mut doc = AutoCommit::new();
    for c in page.chunks.iter().filter(|c| c.record == id) {
        doc.load_incremental(&c.bytes).unwrap();
    }
    assert_eq!(doc.get_changes(&[]).len(), 1 + 8);
}

#[test]
fn a_crowd_of_idle_or_trickling_connections_is_let_go_and_health_checks_answer() {
    use std::io::{Read, Write as _};
    use std::net::TcpStream;
    let w = World::with_config("[limits]\nmax_connections = 32\nheader_read_timeout_s = 1\n");
    // Ten times the cap, all idle (a connection that never sends a byte) ...
    let idle: Vec<TcpStream> = (0..320)
        .map(|_| TcpStream::connect(w.server.addr).expect("connecting"))
        .collect();
    // ... and one that trickles its headers a byte at a time (slowloris).
    let mut slow = TcpStream::connect(w.server.addr).unwrap();
    let started = Instant::now();
    let trickle = std::thread::spawn(move || {
        for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
            if slow.write_all(&[*b]).is_err() {
                return true; // closed by the server
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    });
    // A health check still gets its answer, once the server let the idle crowd go.
    let mut check = TcpStream::connect(w.server.addr).unwrap();
    check
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    check
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    check
        .read_to_string(&mut answer)
        .expect("the health check is answered");
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"),
        "{answer}"
    );
    eprintln!(
        "health check answered after {:.1} s with 320 idle connections held",
        started.elapsed().as_secs_f64()
    );
    assert!(
        trickle.join().unwrap(),
        "the trickling connection was not closed"
    );
    // Every idle connection was closed by the server.
    for mut c in idle {
        c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut buf = [0u8; 16];
        match c.read(&mut buf) {
            Ok(0) | Err(_) => {}
            Ok(n) => panic!("an idle connection got {n} bytes"),
        }
    }
}

#[test]
fn corrupt_pushes_are_refused_without_flooding_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with_default_log(SERVER, &dir.path().join("server"), "");
    let token = server.admin_token.clone().unwrap();
    let admin = Client::new(&server.url, &token, ClientOptions::default()).unwrap();
    for i in 0..20u8 {
        let id = new_id();
        let mut bytes = record(&id).save();
        let at = bytes.len() / 2;
        bytes[at] ^= 0xff; // a flipped byte in the middle of a valid record
        bytes.push(i);
        let r = push_one(&admin, &id, bytes);
        assert_eq!(r.outcome, PushOutcome::Refused, "{r:?}");
    }
    std::thread::sleep(Duration::from_millis(300));
    let log = server.log();
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("ERROR") || l.contains("WARN"))
        .collect();
    assert!(errors.is_empty(), "the log holds: {errors:#?}");
}

#[test]
fn photos_wait_while_the_disk_keeps_its_reserve_and_go_up_when_there_is_room() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    // A reserve larger than the disk: as on a nearly full one.
    let mut server = ServerProcess::start_with_config(
        SERVER,
        &data,
        "[limits]\nmin_free_disk_mb = 1000000000\n",
    );
    let token = server.admin_token.clone().unwrap();
    let core = jingtu_core::DeviceCore::open(&dir.path().join("phone")).unwrap();
    core.set_server(&server.url, &token).unwrap();
    let id = core
        .create_record(
            "village_inspection",
            &jingtu_core::NewRecordPlace::default(),
        )
        .unwrap()
        .id;
    core.add_photo(
        &id,
        jingtu_core::PhotoSource::Bytes(&jingtu_e2e::test_jpeg(3, 640, 480)),
        &jingtu_core::NewPhoto {
            tag: "before".into(),
            ..Default::default()
        },
    )
    .unwrap();
    // The record goes (the database keeps its reserve for it); the photo waits.
    let report = core.sync(&mut |_| true).unwrap();
    assert_eq!(
        (report.records_pushed, report.photos_deferred),
        (1, 1),
        "{report:?}"
    );
    let status = core.sync_status().unwrap();
    assert_eq!(status.records_pending, 0, "{status:?}");
    assert_eq!(status.photos_pending, 1, "{status:?}");
    let raw = reqwest::blocking::get(format!("{}/readyz", server.url)).unwrap();
    assert_eq!(raw.status().as_u16(), 503);
    assert!(raw.text().unwrap().contains("disk_full"));
    // Room again (the operator freed the disk): the photo goes up at the next sync.
    std::fs::write(data.with_extension("toml"), "").unwrap();
    server.restart();
    core.set_server(&server.url, &token).unwrap();
    let report = core.sync(&mut |_| true).unwrap();
    assert_eq!(report.photos_uploaded, 1, "{report:?}");
    assert_eq!(core.sync_status().unwrap().photos_pending, 0);
}

#[test]
fn a_record_whose_photo_entry_names_no_sha256_is_refused() {
    let w = World::with_config("");
    let admin = w.admin();
    let id = new_id();
    let mut doc = AutoCommit::load(&record(&id).save()).unwrap();
    let photos = match doc.get(ROOT, "photos").unwrap() {
        Some((_, p)) => p,
        None => panic!("no photos map"),
    };
    let p = doc.put_object(&photos, "p1", ObjType::Map).unwrap();
    doc.put(&p, "sha256", "../../data/jingtu-server.db")
        .unwrap();
    doc.put(&p, "tag", "before").unwrap();
    let r = push_one(&admin, &id, doc.save());
    assert_eq!(r.outcome, PushOutcome::Refused, "{r:?}");
    assert_eq!(r.code.as_deref(), Some("not_a_record"), "{r:?}");
    assert!(r.message.unwrap_or_default().contains("SHA-256"));
}
