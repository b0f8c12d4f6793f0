//! The storage contract, written once and run against every backend (the embedded SQLite
//! store now; PostgreSQL joins it): the feed hands out sequences in commit order and pages
//! them, a conditional commit stores a chunk only against the version it was checked
//! against, and pushes of one record from many threads at once, through the sync service and
//! with no lock of the caller's, are each stored exactly once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jingtu_doc::{ActorId, Editor, RecordDoc, RecordMeta};
use jingtu_protocol::{PROTOCOL_VERSION, Push, PushOutcome, SyncRequest};
use jingtu_server::actor::Actor;
use jingtu_server::config::Config;
use jingtu_server::storage::scope::ReadScope;
use jingtu_server::storage::{Commit, NewChunk, QueueFilter, RecordIndex};
use jingtu_server::{Context, open_embedded};

/// A backend under test: the services' context over it, and what keeps it alive.
struct Backend {
    ctx: Arc<Context>,
    _keep: Box<dyn std::any::Any + Send + Sync>,
}

fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    let storage = open_embedded(&config).unwrap();
    let ctx = Context::embedded(&config, &storage).unwrap();
    Backend {
        ctx: Arc::new(ctx),
        _keep: Box::new((dir, storage)),
    }
}

/// Every clause of the contract, on fresh stores of one backend.
fn keeps_the_contract(make: fn() -> Backend) {
    feed_sequences_follow_commits_and_page(make());
    a_chunk_is_stored_only_against_its_version(make());
    pushes_of_one_record_at_once_are_each_stored_once(make());
    the_review_queue_filters_counts_and_pages(make());
    kept_counts_agree_with_the_records(make());
    lab_hand_ins_are_found_by_code_within_org_units(make());
    planned_points_are_replaced_by_code_and_listed_by_org_unit(make());
}

#[test]
fn the_sqlite_store_keeps_the_contract() {
    keeps_the_contract(sqlite);
}

fn chunk(record: &str, bytes: &[u8], base: Option<u64>) -> NewChunk {
    NewChunk {
        record: record.into(),
        bytes: bytes.to_vec(),
        kind: "soil_sample".into(),
        org_unit: None,
        assignment: None,
        owner: "u".into(),
        photos: vec![],
        base,
        index: None,
    }
}

fn feed_sequences_follow_commits_and_page(b: Backend) {
    let records = &b.ctx.records;
    let a = records
        .commit_chunks(
            "dev-a",
            &[chunk("r1", b"aa", None), chunk("r2", b"bb", None)],
        )
        .unwrap();
    let [Commit::Stored(s1), Commit::Stored(s2)] = a[..] else {
        panic!("{a:?}")
    };
    assert!(s1 < s2, "in commit order");
    let b2 = records
        .commit_chunks("dev-b", &[chunk("r1", b"cc", Some(s1))])
        .unwrap();
    let [Commit::Stored(s3)] = b2[..] else {
        panic!("{b2:?}")
    };
    assert!(s2 < s3);
    let r1 = records.load_record("r1").unwrap().unwrap();
    assert_eq!((r1.bytes.as_slice(), r1.version), (&b"aacc"[..], s3));
    // A device is spared its own chunks; a page holds at least one chunk.
    let page = records
        .feed_after(0, "dev-a", &ReadScope::All, 1 << 20)
        .unwrap();
    assert_eq!((page.chunks.len(), page.cursor, page.more), (1, s3, false));
    let page = records.feed_after(0, "dev-c", &ReadScope::All, 3).unwrap();
    assert_eq!((page.chunks.len(), page.cursor, page.more), (1, s1, true));
    // A snapshot replaces the chunks it covers for loading, not in the feed.
    records.save_snapshot("r1", s3, b"SNAP").unwrap();
    let r1 = records.load_record("r1").unwrap().unwrap();
    assert_eq!((r1.bytes.as_slice(), r1.version), (&b"SNAP"[..], s3));
    assert_eq!(records.chunk_count("r1").unwrap(), 0);
    assert_eq!(
        records
            .feed_after(0, "dev-c", &ReadScope::All, 1 << 20)
            .unwrap()
            .chunks
            .len(),
        3
    );
    assert_eq!(records.load_record("nope").unwrap(), None);
}

fn a_chunk_is_stored_only_against_its_version(b: Backend) {
    let records = &b.ctx.records;
    let first = records
        .commit_chunks("a", &[chunk("r1", b"aa", None)])
        .unwrap();
    let [Commit::Stored(v)] = first[..] else {
        panic!("{first:?}")
    };
    let late = records
        .commit_chunks(
            "b",
            &[
                chunk("r1", b"xx", None),        // "new", but r1 exists
                chunk("r1", b"yy", Some(v + 9)), // a version r1 never had
                chunk("r1", b"bb", Some(v)),     // stored ...
                chunk("r1", b"cc", Some(v)),     // ... so this one is stale
            ],
        )
        .unwrap();
    assert!(
        matches!(
            late[..],
            [
                Commit::Stale,
                Commit::Stale,
                Commit::Stored(_),
                Commit::Stale
            ]
        ),
        "{late:?}"
    );
    assert_eq!(records.load_record("r1").unwrap().unwrap().bytes, b"aabb");
}

const RECORD: &str = "0190b5d2-7c4e-7a31-9f1e-3c2a5b6d7e8f";

fn record() -> RecordDoc {
    let t = jingtu_model::TemplateSet::builtin()
        .unwrap()
        .latest("village_inspection")
        .unwrap();
    let meta = RecordMeta {
        id: RECORD.into(),
        kind: t.kind.clone(),
        template_version: t.version,
        org_unit: Some("411321102206".into()),
        village: None,
        planned_point: None,
        assignment: None,
        author: "admin".into(),
        device: "contract".into(),
        created_at_ms: 0,
    };
    let by = Editor {
        author: "admin".into(),
        time_ms: 0,
    };
    RecordDoc::create(ActorId::random(), &t, &meta, &by).unwrap()
}

fn push(ctx: &Context, device: &str, changes: Vec<u8>) -> PushOutcome {
    let req = SyncRequest {
        protocol: PROTOCOL_VERSION,
        device: device.into(),
        cursor: u64::MAX >> 1,
        pushes: vec![Push {
            record: RECORD.into(),
            changes,
        }],
        max_response_bytes: None,
        scope_seq: 0,
        scope_target: None,
        scope_after: None,
        catalog: None,
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    let answer = jingtu_server::sync::sync(ctx, &Actor::system(), &req, deadline).unwrap();
    answer.results[0].outcome
}

fn pushes_of_one_record_at_once_are_each_stored_once(b: Backend) {
    let mut base = record();
    assert_eq!(push(&b.ctx, "aa", base.save()), PushOutcome::Accepted);
    // Sixteen devices each make their own edit; each pushes its edit, or all of them, at once.
    let template = jingtu_model::TemplateSet::builtin()
        .unwrap()
        .latest("village_inspection")
        .unwrap();
    let edits: Vec<Vec<u8>> = (0..16)
        .map(|i| {
            let mut doc = RecordDoc::load(&base.save(), ActorId::random()).unwrap();
            let heads = doc.heads();
            let who = Editor {
                author: format!("巡查员{i}"),
                time_ms: i,
            };
            let path = jingtu_model::FieldPath::parse("inspectors").unwrap();
            doc.append(
                &template,
                &path,
                &serde_json::json!(format!("巡查员{i}")),
                &who,
            )
            .unwrap();
            doc.save_after(&heads)
        })
        .collect();
    let all: Vec<u8> = edits.concat();
    let threads: Vec<_> = (0..32)
        .map(|t| {
            let ctx = b.ctx.clone();
            let changes = if t % 2 == 0 {
                edits[t / 2].clone()
            } else {
                all.clone()
            };
            std::thread::spawn(move || {
                // A push that lost to others too often is answered `busy` and sent again at
                // the next sync, as a device does.
                for _ in 0..20 {
                    match push(&ctx, &format!("{t:02x}"), changes.clone()) {
                        PushOutcome::Accepted => return PushOutcome::Accepted,
                        PushOutcome::Refused => continue,
                    }
                }
                PushOutcome::Refused
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), PushOutcome::Accepted);
    }
    // The feed lists each change once: the creating one and the sixteen edits.
    let page = b
        .ctx
        .records
        .feed_after(0, "none", &ReadScope::All, 64 << 20)
        .unwrap();
    let stored: usize = page
        .chunks
        .iter()
        .map(|c| {
            jingtu_doc::check_expansion(&c.bytes, &Default::default())
                .unwrap()
                .chunks
        })
        .sum();
    assert_eq!(stored, 1 + 16, "a change was stored twice, or lost");
    let whole = b.ctx.records.load_record(RECORD).unwrap().unwrap();
    let doc = RecordDoc::load_stored(&whole.bytes, ActorId::random()).unwrap();
    let inspectors = doc.data()["inspectors"].as_array().unwrap().len();
    assert_eq!(inspectors, 16);
}

/// The review queue reads the index written with each commit: filtered by status and text,
/// counted per status, paged by the newest change first without repeating or skipping a row.
fn the_review_queue_filters_counts_and_pages(b: Backend) {
    use jingtu_doc::Status;
    let records = &b.ctx.records;
    let index = |status, name: &str| RecordIndex {
        status,
        name: name.into(),
        village: Some(name.into()),
        author: "li".into(),
        submitted_at_ms: None,
        lab_samples: Vec::new(),
        custody_to: Vec::new(),
    };
    let ids: Vec<String> = (0..5)
        .map(|i| format!("0190f000-0000-7000-8000-00000000000{i}"))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        let status = if i < 3 {
            Status::Submitted
        } else {
            Status::Draft
        };
        let mut c = chunk(id, &[i as u8], None);
        c.index = Some(index(status, &format!("村{i}")));
        assert!(matches!(
            records.commit_chunks("dev", &[c]).unwrap()[0],
            Commit::Stored(_)
        ));
    }
    let all = ReadScope::All;
    let page = records
        .queue(
            &all,
            &QueueFilter {
                status: Some(Status::Submitted),
                limit: 2,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(page.rows.len(), 2);
    assert_eq!(
        page.counts,
        vec![(Status::Draft, 2), (Status::Submitted, 3)],
        "counts ignore the status filter"
    );
    let rest = records
        .queue(
            &all,
            &QueueFilter {
                status: Some(Status::Submitted),
                limit: 2,
                after: page.next.clone(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(rest.rows.len(), 1);
    assert!(rest.next.is_none());
    // Readers that walk every page (exports, ledgers) may leave the counts out.
    let bare = records
        .queue(
            &all,
            &QueueFilter {
                status: Some(Status::Submitted),
                limit: 2,
                without_counts: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(bare.counts.is_empty());
    assert_eq!(bare.rows, page.rows);
    let mut seen: Vec<&str> = page
        .rows
        .iter()
        .chain(&rest.rows)
        .map(|r| r.id.as_str())
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        ids[..3].iter().map(String::as_str).collect::<Vec<_>>()
    );
    let found = records
        .queue(
            &all,
            &QueueFilter {
                text: Some("村4".into()),
                limit: 10,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(found.rows.len(), 1);
    assert_eq!(found.rows[0].id, ids[4]);
    // Someone else's scope (no org units, no assignments) sees none of them.
    let nobody = ReadScope::Limited {
        user: "other".into(),
        assignments: vec![],
        org_prefixes: vec![],
    };
    let none = records
        .queue(
            &nobody,
            &QueueFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(none.rows.is_empty() && none.counts.is_empty());
}

/// The counts per status kept as records change agree with counting the records themselves
/// (a filter on the day of the last change makes the store count them one by one), for
/// every kind of scope and filter, as statuses move on and records are written again.
fn kept_counts_agree_with_the_records(b: Backend) {
    use jingtu_doc::Status;
    let records = &b.ctx.records;
    let units = [
        Some("411321102206"),
        Some("411321102207"),
        Some("411321103201"),
        None,
    ];
    let kinds = ["village_inspection", "soil_sample"];
    let owners = ["yy", "hl", "sup"];
    let statuses = [
        Status::Draft,
        Status::Submitted,
        Status::Returned,
        Status::Approved,
    ];
    let mut version = vec![None::<u64>; 40];
    // Three rounds: every record written with a status that moves on each round.
    for round in 0..3 {
        for (i, v) in version.iter_mut().enumerate() {
            let id = format!("0190f000-0000-7000-8000-0000000001{i:02}");
            let mut c = chunk(&id, &[round as u8, i as u8], *v);
            c.kind = kinds[i % 2].into();
            c.org_unit = units[i % 4].map(str::to_string);
            c.owner = owners[i % 3].into();
            c.assignment = (i % 5 == 0).then(|| format!("a{}", i % 2));
            c.index = Some(RecordIndex {
                status: statuses[(i + round) % 4],
                name: format!("记录{i}"),
                village: None,
                author: "li".into(),
                submitted_at_ms: None,
                lab_samples: Vec::new(),
                custody_to: Vec::new(),
            });
            match records.commit_chunks("dev", &[c]).unwrap()[0] {
                Commit::Stored(seq) => *v = Some(seq),
                ref other => panic!("{other:?}"),
            }
        }
        let scopes = [
            ReadScope::All,
            ReadScope::Limited {
                user: "sup".into(),
                assignments: vec!["a1".into()],
                org_prefixes: vec!["411321102".into()],
            },
            ReadScope::Limited {
                user: "yy".into(),
                assignments: vec!["a0".into()],
                org_prefixes: vec![],
            },
            ReadScope::Limited {
                user: "nobody".into(),
                assignments: vec![],
                org_prefixes: vec!["411321103".into(), "411321102206".into()],
            },
        ];
        for scope in &scopes {
            for kind in [None, Some("soil_sample")] {
                for org_unit in [None, Some("411321102000"), Some("411321103201")] {
                    let filter = QueueFilter {
                        kind: kind.map(str::to_string),
                        org_unit: org_unit.map(str::to_string),
                        limit: 1,
                        ..Default::default()
                    };
                    let kept = records.queue(scope, &filter).unwrap().counts;
                    let one_by_one = records
                        .queue(
                            scope,
                            &QueueFilter {
                                from_ms: Some(0),
                                ..filter.clone()
                            },
                        )
                        .unwrap()
                        .counts;
                    assert_eq!(
                        kept, one_by_one,
                        "round {round}, {scope:?}, kind {kind:?}, unit {org_unit:?}"
                    );
                }
            }
        }
    }
    let everything: u64 = records
        .queue(
            &ReadScope::All,
            &QueueFilter {
                limit: 1,
                ..Default::default()
            },
        )
        .unwrap()
        .counts
        .iter()
        .map(|(_, n)| n)
        .sum();
    assert_eq!(everything, 40, "each record counted once");
}

/// The lab's list reads the hand-ins each commit indexes: newest first, within org unit
/// prefixes, by blind code; a later commit updates how many results were entered.
fn lab_hand_ins_are_found_by_code_within_org_units(b: Backend) {
    use jingtu_server::storage::LabSampleIndex;
    let records = &b.ctx.records;
    let hand_in = |code: &str, at: i64, entered: u32| LabSampleIndex {
        blind_code: code.into(),
        lab: "县检测中心".into(),
        handed_in_at_ms: at,
        entered,
    };
    let mut version = Vec::new();
    for (i, (unit, code)) in [
        ("411321102206", "MB-1"),
        ("411321103201", "MB-2"),
        ("411321102207", "MB-3"),
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("0190f000-0000-7000-8000-00000000020{i}");
        let mut c = chunk(&id, &[i as u8], None);
        c.org_unit = Some(unit.into());
        c.index = Some(RecordIndex {
            status: jingtu_doc::Status::Submitted,
            name: code.into(),
            village: None,
            author: "samp".into(),
            submitted_at_ms: None,
            lab_samples: vec![hand_in(code, 100 + i as i64, 0)],
            custody_to: Vec::new(),
        });
        match records.commit_chunks("dev", &[c]).unwrap()[0] {
            Commit::Stored(seq) => version.push((id, seq)),
            ref other => panic!("{other:?}"),
        }
    }
    let codes = |rows: Vec<jingtu_server::storage::LabSampleRow>| -> Vec<(String, u32)> {
        rows.into_iter()
            .map(|r| (r.sample.blind_code, r.sample.entered))
            .collect()
    };
    let everywhere = records.lab_samples(None, None, 50).unwrap();
    assert_eq!(
        codes(everywhere),
        [("MB-3".into(), 0), ("MB-2".into(), 0), ("MB-1".into(), 0)],
        "newest hand-in first"
    );
    let township = ["411321102".to_string()];
    assert_eq!(
        codes(records.lab_samples(Some(&township), None, 50).unwrap()),
        [("MB-3".into(), 0), ("MB-1".into(), 0)]
    );
    assert!(
        records
            .lab_samples(Some(&township), Some("MB-2"), 50)
            .unwrap()
            .is_empty(),
        "another township's code is not found"
    );
    assert!(records.lab_samples(Some(&[]), None, 50).unwrap().is_empty());
    // Results entered: the next commit of the record updates the count.
    let (id, seq) = &version[0];
    let mut c = chunk(id, &[9], Some(*seq));
    c.org_unit = Some("411321102206".into());
    c.index = Some(RecordIndex {
        status: jingtu_doc::Status::Submitted,
        name: "MB-1".into(),
        village: None,
        author: "samp".into(),
        submitted_at_ms: None,
        lab_samples: vec![hand_in("MB-1", 100, 6)],
        custody_to: Vec::new(),
    });
    assert!(matches!(
        records.commit_chunks("lab", &[c]).unwrap()[0],
        Commit::Stored(_)
    ));
    let found = records.lab_samples(None, Some("MB-1"), 50).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].record.as_str(), found[0].sample.entered),
        (id.as_str(), 6)
    );
}

fn planned_points_are_replaced_by_code_and_listed_by_org_unit(b: Backend) {
    use jingtu_protocol::PlannedPoint;
    let scope = &b.ctx.scope;
    let point = |code: &str, org: &str, lat: f64| PlannedPoint {
        code: code.into(),
        name: String::new(),
        lat,
        lon: 112.43,
        land_use: Some("paddy_0101".into()),
        task: None,
        org_unit: org.into(),
    };
    let first = [
        point("YJ-2", "411321102206", 33.1),
        point("YJ-1", "411321102206", 33.2),
        point("HL-1", "411321103201", 33.3),
    ];
    assert_eq!(scope.import_planned_points(&first).unwrap(), (3, 0));
    let again = [
        point("YJ-1", "411321102206", 33.9),
        point("YJ-3", "411321102000", 33.4),
    ];
    assert_eq!(scope.import_planned_points(&again).unwrap(), (1, 1));
    assert_eq!(scope.planned_point("YJ-1").unwrap().unwrap().lat, 33.9);
    assert!(scope.planned_point("YJ-9").unwrap().is_none());
    let codes = |prefix: Option<&str>, after: Option<&str>, limit| -> Vec<String> {
        scope
            .planned_points(prefix, after, limit)
            .unwrap()
            .into_iter()
            .map(|p| p.code)
            .collect()
    };
    assert_eq!(codes(Some("411321102"), None, 10), ["YJ-1", "YJ-2", "YJ-3"]);
    assert_eq!(codes(None, Some("HL-1"), 2), ["YJ-1", "YJ-2"]);
    assert_eq!(codes(None, None, 10).len(), 4);
}
