//! People and permissions through a real server process (`jingtu-server serve` on 127.0.0.1,
//! a fresh data dir per test), with device stores in temp dirs:
//!
//! - devices enroll by one-time code; two inspectors in different townships never receive each
//!   other's records, the county's supervisor receives both;
//! - an assignment handed to another inspector moves its records: they arrive whole on the new
//!   assignee's device (their changes lie below its cursor) and leave the old one's;
//! - each write rule is tried with a crafted Automerge change by a device whose role may not
//!   make it: refused with the rule and the path, audited, and the server's copy unchanged;
//!   a supervisor's approval and reopening are audited as review actions.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ChangeHash, ObjType, ROOT, ReadDoc};
use jingtu_client::{Client, ClientOptions};
use jingtu_core::{DeviceCore, ListFilter, NewRecordPlace};
use jingtu_e2e::ServerProcess;
use jingtu_protocol::{PROTOCOL_VERSION, Push, PushOutcome, PushResult, SyncRequest};
use serde_json::{Value, json};
use tempfile::TempDir;

const SERVER: &str = env!("CARGO_BIN_EXE_jingtu-e2e-server");

struct World {
    server: ServerProcess,
    dir: TempDir,
}

impl World {
    fn new() -> World {
        World::with_config("")
    }

    /// A world whose server reads this configuration (TOML).
    fn with_config(toml: &str) -> World {
        let dir = tempfile::tempdir().unwrap();
        let server = ServerProcess::start_with_config(SERVER, &dir.path().join("server"), toml);
        server.county(&[
            ("insp_yy", "inspector", "411321102000"),
            ("insp_y2", "inspector", "411321102000"),
            ("insp_hl", "inspector", "411321103000"),
            ("sup_nz", "supervisor", "411321000000"),
        ]);
        World { server, dir }
    }

    fn code(&self, user: &str) -> String {
        self.server.enroll_code(user)
    }

    /// A device store enrolled for `user` by code.
    fn device(&self, name: &str, user: &str) -> DeviceCore {
        self.server
            .enrolled_device(&self.dir.path().join(name), user)
    }

    /// A bare client enrolled for `user` (for crafted pushes), and its device id.
    fn raw(&self, user: &str) -> (Client, String) {
        let device = hex(&rand::random::<[u8; 16]>());
        let answer = Client::enroll(&self.server.url, &self.code(user), &device, None, None)
            .expect("enrolling a raw client");
        let client =
            Client::new(&self.server.url, &answer.token, ClientOptions::default()).unwrap();
        (client, device)
    }

    /// The server's copy of a record, read through the admin's token (which sees all).
    fn server_copy(&self, record: &str) -> AutoCommit {
        let token = self.server.admin_token.clone().expect("the admin token");
        let client = Client::new(&self.server.url, &token, ClientOptions::default()).unwrap();
        let device = hex(&rand::random::<[u8; 16]>());
        let mut doc = AutoCommit::new();
        let mut cursor = 0;
        loop {
            let r = client
                .sync(&request(&device, cursor, vec![]), &|| false)
                .unwrap();
            for c in r.chunks.iter().filter(|c| c.record == record) {
                doc.load_incremental(&c.bytes).unwrap();
            }
            cursor = r.cursor;
            if !r.more {
                break;
            }
        }
        doc
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn request(device: &str, cursor: u64, pushes: Vec<Push>) -> SyncRequest {
    SyncRequest {
        protocol: PROTOCOL_VERSION,
        device: device.to_string(),
        cursor,
        pushes,
        max_response_bytes: None,
        scope_seq: 0,
        scope_target: None,
        scope_after: None,
        catalog: None,
    }
}

fn push(client: &Client, device: &str, record: &str, changes: Vec<u8>) -> PushResult {
    let r = client
        .sync(
            &request(
                device,
                u64::MAX >> 1,
                vec![Push {
                    record: record.to_string(),
                    changes,
                }],
            ),
            &|| false,
        )
        .expect("the push gets an answer");
    r.results.into_iter().next().unwrap()
}

fn ids(core: &DeviceCore) -> Vec<String> {
    let mut v: Vec<String> = core
        .list(&ListFilter::default())
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    v.sort();
    v
}

fn village(core: &DeviceCore, code: &str, name: &str) -> String {
    let id = core
        .create_record(
            "village_inspection",
            &NewRecordPlace {
                org_unit: Some(code.into()),
                village: Some(name.into()),
                ..Default::default()
            },
        )
        .unwrap()
        .id;
    core.set_field(&id, "village_name", &json!(name)).unwrap();
    id
}

fn sync(core: &DeviceCore) -> jingtu_core::SyncReport {
    core.sync(&mut |_| true).unwrap()
}

#[test]
fn inspectors_see_their_own_township_and_the_supervisor_the_county() {
    let w = World::new();
    let yy = w.device("yy", "insp_yy");
    let hl = w.device("hl", "insp_hl");
    let sup = w.device("sup", "sup_nz");
    let r1 = village(&yy, "411321102206", "杨树沟村");
    let r2 = village(&hl, "411321103201", "东岗村");
    let photo = yy
        .add_photo(
            &r1,
            jingtu_core::PhotoSource::Bytes(&jingtu_e2e::test_jpeg(5, 320, 240)),
            &jingtu_core::NewPhoto {
                tag: "before".into(),
                ..Default::default()
            },
        )
        .unwrap();
    let up = sync(&yy);
    assert!(up.refused.is_empty());
    assert_eq!((up.photos_uploaded, up.photos_refused), (1, 0));
    assert!(sync(&hl).refused.is_empty());
    sync(&yy);
    sync(&hl);
    assert_eq!(
        ids(&yy),
        std::slice::from_ref(&r1),
        "the Yunyang inspector holds only their record"
    );
    assert_eq!(
        ids(&hl),
        std::slice::from_ref(&r2),
        "the Huanglu inspector holds only theirs"
    );
    let got = sync(&sup);
    assert_eq!(got.thumbnails_fetched, 1, "the supervisor sees the photo");
    // Photos follow their records: the other township's inspector may not have it.
    let (client, _) = w.raw("insp_hl");
    let states = client
        .photo_status(&[photo.entry.sha256.to_string()], &|| false)
        .unwrap();
    assert_eq!(states[0].state, jingtu_protocol::PhotoStateKind::Refused);
    let e = client
        .download_photo(&photo.entry.sha256, true, &|| false)
        .unwrap_err();
    assert!(e.to_string().contains("out_of_scope"), "{e}");
    let mut both = vec![r1.clone(), r2.clone()];
    both.sort();
    assert_eq!(ids(&sup), both, "the county supervisor receives both");

    // The supervisor's edit of r1 reaches its inspector, not the other.
    sup.set_field(&r1, "township", &json!("云阳镇")).unwrap();
    sync(&sup);
    sync(&yy);
    sync(&hl);
    assert_eq!(yy.view(&r1).unwrap().data["township"], json!("云阳镇"));
    assert_eq!(ids(&hl), [r2]);
    // A token of one device cannot sync as another.
    let (client, _) = w.raw("insp_yy");
    let e = client
        .sync(&request(&"ab".repeat(16), 0, vec![]), &|| false)
        .unwrap_err();
    assert!(e.to_string().contains("device_mismatch"), "{e}");
}

#[test]
fn a_reassigned_assignment_moves_its_records_between_devices() {
    let w = World::new();
    let yy = w.device("yy", "insp_yy");
    let y2 = w.device("y2", "insp_y2");
    let sup = w.device("sup", "sup_nz");
    let asg = w.server.admin(&[
        "assign",
        "insp_yy",
        "--kind",
        "water_body_check",
        "--target-kind",
        "water_body",
        "--target",
        "HC-0107",
        "--name",
        "杨树沟坑塘",
        "--org",
        "411321102000",
        "--due",
        "2024-07-15",
    ]);
    // Both inspectors sync once (their cursors move past what follows).
    let own = village(&y2, "411321102206", "杨树沟村");
    sync(&yy);
    sync(&y2);
    // The supervisor prepares the re-check record of the assignment.
    let recheck = sup
        .create_record(
            "water_body_check",
            &NewRecordPlace {
                org_unit: Some("411321102206".into()),
                assignment_id: Some(asg.clone()),
                ..Default::default()
            },
        )
        .unwrap()
        .id;
    sup.set_field(&recheck, "body_name", &json!("杨树沟坑塘"))
        .unwrap();
    assert!(sync(&sup).refused.is_empty());
    sync(&yy);
    assert!(
        ids(&yy).contains(&recheck),
        "the assignee receives its record"
    );
    assert_eq!(yy.assignments().unwrap()[0].id, asg);
    sync(&y2);
    assert!(!ids(&y2).contains(&recheck), "the other inspector does not");

    // Handed to the other inspector: the record leaves the first and arrives whole (its
    // changes lie below the second device's cursor).
    w.server.admin(&["reassign", &asg, "insp_y2"]);
    let left = sync(&yy);
    assert_eq!(left.records_removed, 1, "{left:?}");
    assert!(!ids(&yy).contains(&recheck));
    assert!(yy.assignments().unwrap().is_empty());
    let came = sync(&y2);
    assert!(ids(&y2).contains(&recheck), "{came:?}");
    assert!(ids(&y2).contains(&own), "own records stay");
    assert_eq!(
        y2.view(&recheck).unwrap().data["body_name"],
        json!("杨树沟坑塘")
    );
    assert_eq!(y2.assignments().unwrap()[0].id, asg);
    // Nothing more to take in.
    let again = sync(&y2);
    assert_eq!((again.records_received, again.records_removed), (0, 0));

    // The new assignee may write it; the old one may not any more.
    y2.set_field(&recheck, "body_name", &json!("杨树沟大坑塘"))
        .unwrap();
    assert!(sync(&y2).refused.is_empty());
    w.server.admin(&["unassign", &asg]);
    let gone = sync(&y2);
    assert_eq!(gone.records_removed, 1, "taken back: the record leaves");
    assert!(ids(&y2).contains(&own));
}

/// A record of the Yunyang inspector, synced, and raw clients to craft pushes with.
struct Crafting {
    w: World,
    yy: DeviceCore,
    record: String,
    /// One enrolled bare client per user (enrollment is rate limited per address).
    raw: std::cell::RefCell<std::collections::HashMap<String, (Client, String)>>,
}

impl Crafting {
    fn new() -> Crafting {
        let w = World::new();
        let yy = w.device("yy", "insp_yy");
        let record = village(&yy, "411321102206", "杨树沟村");
        assert!(sync(&yy).refused.is_empty());
        Crafting {
            w,
            yy,
            record,
            raw: Default::default(),
        }
    }

    fn push_as(&self, user: &str, changes: Vec<u8>) -> PushResult {
        let mut raw = self.raw.borrow_mut();
        let (client, device) = raw
            .entry(user.to_string())
            .or_insert_with(|| self.w.raw(user));
        push(client, device, &self.record, changes)
    }

    /// The server's copy, with `edit` made on top of it by another actor; returns the new
    /// change bytes and the heads the server held.
    fn craft(&self, edit: impl FnOnce(&mut AutoCommit)) -> (Vec<u8>, Vec<ChangeHash>) {
        let mut doc = self.w.server_copy(&self.record);
        let heads = doc.get_heads();
        let mut doc = doc.with_actor(automerge::ActorId::random());
        edit(&mut doc);
        doc.commit();
        (doc.save_after(&heads), heads)
    }

    /// Pushes crafted changes as `user`; checks the refusal and that the server's copy did
    /// not move.
    fn refused(&self, user: &str, changes: Vec<u8>, heads: &[ChangeHash], rule: &str, path: &str) {
        let r = self.push_as(user, changes);
        assert_eq!(r.outcome, PushOutcome::Refused, "{r:?}");
        assert_eq!(r.code.as_deref(), Some("forbidden"), "{r:?}");
        assert_eq!(r.rule.as_deref(), Some(rule), "{r:?}");
        assert!(
            r.path.as_deref().is_some_and(|p| p.starts_with(path)),
            "path {:?} should start with {path}",
            r.path
        );
        assert_eq!(
            self.w.server_copy(&self.record).get_heads(),
            heads,
            "the server's copy is unchanged after a refused {rule}"
        );
    }

    fn accepted(&self, user: &str, changes: Vec<u8>) {
        let r = self.push_as(user, changes);
        assert_eq!(r.outcome, PushOutcome::Accepted, "{r:?}");
    }
}

fn map_at(doc: &AutoCommit, key: &str) -> automerge::ObjId {
    match doc.get(ROOT, key).unwrap() {
        Some((automerge::Value::Object(ObjType::Map), id)) => id,
        other => panic!("no {key} map: {other:?}"),
    }
}

fn add_event(doc: &mut AutoCommit, kind: &str, by: &str) {
    let events = match doc.get(ROOT, "events").unwrap() {
        Some((automerge::Value::Object(ObjType::List), id)) => id,
        other => panic!("no events list: {other:?}"),
    };
    let n = doc.length(&events);
    let e = doc.insert_object(&events, n, ObjType::Map).unwrap();
    doc.put(&e, "type", kind).unwrap();
    doc.put(&e, "by", by).unwrap();
    doc.put(&e, "at", 1_720_000_000_000i64).unwrap();
}

#[test]
fn each_write_rule_refuses_a_crafted_change_and_the_server_keeps_its_copy() {
    let c = Crafting::new();

    // Only supervisors write `review`.
    let (changes, heads) = c.craft(|d| {
        let review = map_at(d, "review");
        let r = d.put_object(&review, "r1", ObjType::Map).unwrap();
        d.put(&r, "decision", "approved").unwrap();
    });
    c.refused("insp_yy", changes, &heads, "review_by_supervisor", "review");

    // Only supervisors approve.
    let (changes, heads) = c.craft(|d| add_event(d, "approved", "insp_yy"));
    c.refused("insp_yy", changes, &heads, "status_by_role", "events");

    // Nobody rewrites a record's org unit or kind.
    let (changes, heads) = c.craft(|d| {
        let meta = map_at(d, "meta");
        d.put(&meta, "org_unit", "411321103201").unwrap();
    });
    c.refused(
        "insp_yy",
        changes,
        &heads,
        "meta_write_once",
        "meta/org_unit",
    );
    let (changes, heads) = c.craft(|d| {
        let meta = map_at(d, "meta");
        d.put(&meta, "kind", "soil_sample").unwrap();
    });
    c.refused("sup_nz", changes, &heads, "meta_write_once", "meta/kind");

    // Custody events are append-only: adding one is fine, editing or deleting it is not.
    let (changes, _) = c.craft(|d| {
        let custody = map_at(d, "custody");
        let e = d.put_object(&custody, "ev1", ObjType::Map).unwrap();
        d.put(&e, "to_person", "李四").unwrap();
    });
    c.accepted("insp_yy", changes);
    let (changes, heads) = c.craft(|d| {
        let custody = map_at(d, "custody");
        let e = match d.get(&custody, "ev1").unwrap() {
            Some((_, id)) => id,
            None => panic!("no custody event"),
        };
        d.put(&e, "to_person", "王五").unwrap();
    });
    c.refused(
        "sup_nz",
        changes,
        &heads,
        "custody_append_only",
        "custody/ev1",
    );
    let (changes, heads) = c.craft(|d| {
        let custody = map_at(d, "custody");
        d.delete(&custody, "ev1").unwrap();
    });
    c.refused("insp_yy", changes, &heads, "custody_append_only", "custody");

    // Submitted by the inspector, approved by the supervisor: then locked.
    let (changes, _) = c.craft(|d| add_event(d, "submitted", "insp_yy"));
    c.accepted("insp_yy", changes);
    let (changes, _) = c.craft(|d| add_event(d, "approved", "sup_nz"));
    c.accepted("sup_nz", changes);
    let (changes, heads) = c.craft(|d| {
        let data = map_at(d, "data");
        d.put(&data, "village_name", "改名村").unwrap();
    });
    c.refused(
        "insp_yy",
        changes.clone(),
        &heads,
        "approved_locked",
        "data",
    );
    c.refused("sup_nz", changes, &heads, "approved_locked", "data");
    // Reopening is the supervisor's one way in.
    let (changes, _) = c.craft(|d| add_event(d, "reopened", "sup_nz"));
    c.accepted("sup_nz", changes);

    // Another township's inspector may not write this record at all.
    let (changes, heads) = c.craft(|d| {
        let data = map_at(d, "data");
        d.put(&data, "township", "皇路店镇").unwrap();
    });
    let r = c.push_as("insp_hl", changes);
    assert_eq!(r.code.as_deref(), Some("out_of_scope"), "{r:?}");
    assert_eq!(c.w.server_copy(&c.record).get_heads(), heads);

    // Every refusal is in the audit log with its rule.
    let audit =
        c.w.server
            .admin(&["audit", "--action", "push_refused", "--json"]);
    // One JSON object per line (or one array).
    let entries: Vec<Value> = match serde_json::from_str::<Value>(&audit) {
        Ok(Value::Array(a)) => a,
        _ => audit
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    };
    let rules: Vec<String> = entries
        .iter()
        .map(|e| {
            e["detail"]["rule"]
                .as_str()
                .or(e["detail"]["code"].as_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    for rule in [
        "review_by_supervisor",
        "status_by_role",
        "meta_write_once",
        "custody_append_only",
        "approved_locked",
        "out_of_scope",
    ] {
        assert!(rules.iter().any(|r| r == rule), "{rule} audited: {rules:?}");
    }

    // The supervisor's approval and reopening are in the audit log as review actions, the
    // inspector's submission is not.
    let reviews =
        c.w.server
            .admin(&["audit", "--action", "review_action", "--json"]);
    let reviews: Vec<Value> = reviews
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Newest first: the reopening, then the approval.
    let events: Vec<(&str, &str, &str, &str)> = reviews
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap_or_default(),
                e["target"].as_str().unwrap_or_default(),
                e["detail"]["event"].as_str().unwrap_or_default(),
                e["detail"]["status"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("sup_nz", c.record.as_str(), "reopened", "returned"),
            ("sup_nz", c.record.as_str(), "approved", "approved"),
        ]
    );

    // The inspector's device is untouched by all this and still syncs.
    let report = sync(&c.yy);
    assert!(report.refused.is_empty());
}

#[test]
fn a_refused_edit_on_the_device_is_kept_and_the_allowed_part_replayed() {
    let c = Crafting::new();
    // The supervisor approves the record (as a crafted change: approving comes with the
    // review pages).
    let (changes, _) = c.craft(|d| add_event(d, "submitted", "insp_yy"));
    c.accepted("insp_yy", changes);
    let (changes, _) = c.craft(|d| add_event(d, "approved", "sup_nz"));
    c.accepted("sup_nz", changes);
    // The inspector's device, still at draft locally, edits before it hears of it.
    c.yy.set_field(&c.record, "township", &json!("云阳镇"))
        .unwrap();
    let report = sync(&c.yy);
    let refusal = report
        .refused
        .iter()
        .find(|r| r.record == c.record)
        .expect("the edit of an approved record is refused");
    assert_eq!(refusal.rule.as_deref(), Some("approved_locked"));
    let kept = c.yy.refused_edits(Some(&c.record), false).unwrap();
    assert_eq!(kept.len(), 1);
    assert!(
        kept[0].local_json.contains("云阳镇"),
        "the refused value is kept"
    );
    // The record on the device is the server's: approved, without the refused value.
    sync(&c.yy);
    let view = c.yy.view(&c.record).unwrap();
    assert_eq!(view.status, jingtu_core::Status::Approved);
    assert!(view.data.get("township").is_none());
    assert_eq!(
        c.yy.record_sync_state(&c.record).unwrap().label(),
        "refused"
    );
    assert!(sync(&c.yy).refused.is_empty(), "nothing is pushed again");
}

#[test]
fn a_large_scope_change_comes_in_pages_and_leaves_nothing_behind() {
    // Two records per answer, to evict and to send whole: five of each take several pages.
    let w = World::with_config("[limits]\nmax_evict_per_answer = 2\nmax_entered_per_answer = 2\n");
    w.server.admin(&[
        "user",
        "create",
        "sup_yy",
        "--role",
        "supervisor",
        "--org",
        "411321102000",
    ]);
    let yy = w.device("yy", "insp_yy");
    let hl = w.device("hl", "insp_hl");
    let sup = w.device("sup", "sup_yy");
    let mut old: Vec<String> = (0..5)
        .map(|i| village(&yy, "411321102206", &format!("杨树沟村{i}")))
        .collect();
    let mut new: Vec<String> = (0..5)
        .map(|i| village(&hl, "411321103201", &format!("东岗村{i}")))
        .collect();
    old.sort();
    new.sort();
    sync(&yy);
    sync(&hl);
    sync(&sup);
    assert_eq!(ids(&sup), old);

    w.server
        .admin(&["user", "change", "sup_yy", "--org", "411321103000"]);
    let moved = sync(&sup);
    assert_eq!(moved.records_removed, 5, "{moved:?}");
    assert_eq!(moved.records_received, 5, "{moved:?}");
    // 3 pages of evictions (2 + 2 + 1, the last with the first entered records) and the rest
    // of the entered ones.
    assert!(moved.round_trips >= 4, "{} round trips", moved.round_trips);
    assert_eq!(ids(&sup), new);
    // Done: the next sync has nothing to move.
    let again = sync(&sup);
    assert_eq!((again.records_removed, again.records_received), (0, 0));
    assert_eq!(again.round_trips, 1);
}

#[test]
fn a_supervisor_moved_to_another_township_sees_its_records_instead() {
    let w = World::new();
    w.server.admin(&[
        "user",
        "create",
        "sup_yy",
        "--role",
        "supervisor",
        "--org",
        "411321102000",
    ]);
    let yy = w.device("yy", "insp_yy");
    let hl = w.device("hl", "insp_hl");
    let sup = w.device("sup", "sup_yy");
    let r1 = village(&yy, "411321102206", "杨树沟村");
    let r2 = village(&hl, "411321103201", "东岗村");
    sync(&yy);
    sync(&hl);
    sync(&sup);
    assert_eq!(
        ids(&sup),
        std::slice::from_ref(&r1),
        "the Yunyang supervisor"
    );
    // Another township: the next sync takes the old one's records away and brings the new
    // one's whole (they lie below the device's cursor).
    w.server
        .admin(&["user", "change", "sup_yy", "--org", "411321103000"]);
    let moved = sync(&sup);
    assert_eq!(moved.records_removed, 1, "{moved:?}");
    assert_eq!(ids(&sup), std::slice::from_ref(&r2));
    assert!(!sup.view(&r2).unwrap().name.is_empty());

    // A disabled user's devices are refused; enabled again, a new code brings a new device.
    w.server.admin(&["user", "disable", "insp_yy"]);
    assert!(
        yy.sync(&mut |_| true).is_err(),
        "a disabled user's device is refused"
    );
    w.server.admin(&["user", "change", "insp_yy", "--enable"]);
    assert!(
        yy.sync(&mut |_| true).is_err(),
        "its old token stays revoked"
    );
    let again = w.device("yy-again", "insp_yy");
    sync(&again);
    assert_eq!(ids(&again), [r1]);
    let audit = w.server.admin(&["audit", "--action", "user_changed"]);
    assert!(
        audit.contains("sup_yy") && audit.contains("insp_yy"),
        "{audit}"
    );
}

/// Creates a record of `kind` on `core` in `org_unit`, of the assignment `asg`.
fn record_of(core: &DeviceCore, kind: &str, org_unit: &str, asg: &str) -> String {
    core.create_record(
        kind,
        &NewRecordPlace {
            org_unit: Some(org_unit.into()),
            assignment_id: Some(asg.into()),
            ..Default::default()
        },
    )
    .unwrap()
    .id
}

/// The refusal codes of a sync report, by record.
fn refusals(report: &jingtu_core::SyncReport) -> std::collections::BTreeMap<String, String> {
    report
        .refused
        .iter()
        .map(|r| (r.record.clone(), r.code.clone()))
        .collect()
}

#[test]
fn a_record_is_created_only_where_its_assignment_lies_and_by_who_may_use_it() {
    let w = World::new();
    w.server.admin(&[
        "user",
        "create",
        "sup_hl",
        "--role",
        "supervisor",
        "--org",
        "411321103000",
    ]);
    // An assignment in 云阳镇 for the Yunyang inspector.
    let asg = w.server.admin(&[
        "assign",
        "insp_yy",
        "--kind",
        "village_inspection",
        "--target-kind",
        "village",
        "--target",
        "411321102206",
        "--name",
        "杨树沟村",
        "--org",
        "411321102000",
    ]);
    let yy = w.device("yy", "insp_yy");
    sync(&yy);
    // Under the assignment but in the other township, or of another kind: refused. Where it
    // lies and of its kind: taken.
    let far = record_of(&yy, "village_inspection", "411321103201", &asg);
    let other_kind = record_of(&yy, "soil_sample", "411321102206", &asg);
    let near = record_of(&yy, "village_inspection", "411321102206", &asg);
    let report = sync(&yy);
    let refused = refusals(&report);
    assert_eq!(refused.get(&far).map(String::as_str), Some("out_of_scope"));
    assert_eq!(
        refused.get(&other_kind).map(String::as_str),
        Some("out_of_scope")
    );
    assert!(!refused.contains_key(&near), "{report:?}");

    // The other township's supervisor may not attach the assignment, in either township; the
    // county's supervisor may.
    let hl = w.device("hl", "sup_hl");
    let stolen_there = record_of(&hl, "village_inspection", "411321103201", &asg);
    let stolen_here = record_of(&hl, "village_inspection", "411321102206", &asg);
    let report = sync(&hl);
    let refused = refusals(&report);
    assert_eq!(
        refused.get(&stolen_there).map(String::as_str),
        Some("out_of_scope")
    );
    assert_eq!(
        refused.get(&stolen_here).map(String::as_str),
        Some("out_of_scope")
    );
    let sup = w.device("sup", "sup_nz");
    let recheck = record_of(&sup, "village_inspection", "411321102206", &asg);
    assert!(sync(&sup).refused.is_empty());

    // Nothing refused reached the assignee or the county's supervisor.
    sync(&yy);
    sync(&sup);
    let held = ids(&sup);
    for id in [&far, &other_kind, &stolen_there, &stolen_here] {
        assert!(!held.contains(id), "the supervisor received {id}");
    }
    assert!(held.contains(&near) && held.contains(&recheck));
    assert!(
        ids(&yy).contains(&recheck),
        "the assignee receives the re-check"
    );
    let audit = w.server.admin(&["audit", "--action", "push_refused"]);
    assert!(audit.contains(&stolen_here), "{audit}");
}

#[test]
fn a_record_that_enters_the_scope_with_newer_changes_arrives_whole_with_them() {
    // One record a page, so that the feed carries a newer change of a record whose whole
    // comes only in a later page of the same sync.
    let w = World::with_config("[limits]\nmax_entered_per_answer = 1\n");
    let asg = w.server.admin(&[
        "assign",
        "insp_yy",
        "--kind",
        "village_inspection",
        "--target-kind",
        "village",
        "--target",
        "411321102206",
        "--name",
        "杨树沟村",
        "--org",
        "411321102000",
    ]);
    let yy = w.device("yy", "insp_yy");
    let y2 = w.device("y2", "insp_y2");
    sync(&yy);
    let first = record_of(&yy, "village_inspection", "411321102206", &asg);
    let second = record_of(&yy, "village_inspection", "411321102206", &asg);
    assert!(sync(&yy).refused.is_empty());
    // The other inspector's device has synced: its cursor lies past the records' changes.
    sync(&y2);
    w.server.admin(&["reassign", &asg, "insp_y2"]);
    // Newer changes of both, above that cursor.
    for id in [&first, &second] {
        yy.set_field(id, "village_name", &json!("杨树沟村（复查）"))
            .unwrap();
    }
    assert!(sync(&yy).refused.is_empty());
    let got = y2
        .sync(&mut |_| true)
        .expect("the sync takes the records in");
    assert_eq!(got.records_received, 2, "{got:?}");
    for id in [&first, &second] {
        assert_eq!(
            y2.view(id).unwrap().data["village_name"],
            json!("杨树沟村（复查）"),
            "record {id} arrived with its newest change"
        );
    }
    assert!(y2.parked_records().unwrap().is_empty());
    assert!(sync(&y2).refused.is_empty());
}
