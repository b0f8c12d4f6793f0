//! Example tests of one survey record as an Automerge document, told as field work: devices
//! that edit offline, then meet and merge.

use std::collections::BTreeSet;
use std::sync::Arc;

use jingtu_doc::{ActorId, DocError, Editor, EventKind, RecordDoc, RecordMeta, Status};
use jingtu_model::{FieldPath, Template, TemplateSet};
use serde_json::{Value, json};

const RECORD_ID: &str = "0190b5d2-7c4e-7a31-9f1e-3c2a5b6d7e8f";
const OTHER_RECORD_ID: &str = "0190b5d2-7c4e-7a31-9f1e-000000000002";
const T0: i64 = 1_720_000_000_000;

fn template(kind: &str) -> Arc<Template> {
    TemplateSet::builtin()
        .expect("the builtin templates load")
        .latest(kind)
        .expect("the builtin template exists")
}

fn village() -> Arc<Template> {
    template("village_inspection")
}

fn actor(byte: u8) -> ActorId {
    ActorId::from(vec![byte; 16])
}

fn by(author: &str, time_ms: i64) -> Editor {
    Editor {
        author: author.to_string(),
        time_ms,
    }
}

fn path(text: &str) -> FieldPath {
    FieldPath::parse(text).expect("a well-formed path")
}

fn meta(t: &Template, id: &str) -> RecordMeta {
    RecordMeta {
        id: id.to_string(),
        kind: t.kind.clone(),
        template_version: t.version,
        org_unit: Some("320581".into()),
        village: Some("李家村".into()),
        planned_point: None,
        assignment: None,
        author: "王工".into(),
        device: "tablet-01".into(),
        created_at_ms: T0,
    }
}

/// A record created on the county office's computer (actor 0xC0).
fn created(t: &Template) -> RecordDoc {
    RecordDoc::create(actor(0xC0), t, &meta(t, RECORD_ID), &by("王工", T0)).expect("create")
}

/// A device's own copy of `doc`, as it would be after downloading it.
fn fork(doc: &mut RecordDoc, device: u8) -> RecordDoc {
    RecordDoc::load(&doc.save(), actor(device)).expect("a saved record loads")
}

/// Two devices meet and exchange everything they have.
fn meet(a: &mut RecordDoc, b: &mut RecordDoc) {
    let from_a = a.save();
    b.merge_bytes(&from_a).expect("merge a into b");
    let from_b = b.save();
    a.merge_bytes(&from_b).expect("merge b into a");
}

/// Writes a value that passed the template's check, as the application does.
fn set(doc: &mut RecordDoc, t: &Template, at: &str, value: Value, who: &Editor) {
    let p = path(at);
    t.check_value(&p, &value)
        .unwrap_or_else(|e| panic!("test value for {at} is invalid: {e}"));
    doc.set(t, &p, &value, who)
        .unwrap_or_else(|e| panic!("set {at}: {e}"));
}

fn append(doc: &mut RecordDoc, t: &Template, at: &str, value: Value, who: &Editor) -> usize {
    let p = path(at);
    let item = p.child_index(0);
    t.check_value(&item, &value)
        .unwrap_or_else(|e| panic!("test item for {at} is invalid: {e}"));
    doc.append(t, &p, &value, who)
        .unwrap_or_else(|e| panic!("append {at}: {e}"))
}

fn get(doc: &RecordDoc, at: &str) -> Option<Value> {
    path(at).lookup(&doc.data()).cloned()
}

/// The strings of a list field, as a set.
fn strings(value: Option<Value>) -> BTreeSet<String> {
    value
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.as_str().expect("a list of strings").to_string())
        .collect()
}

fn set_of(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn sorted_heads(doc: &mut RecordDoc) -> Vec<jingtu_doc::ChangeHash> {
    let mut heads = doc.heads();
    heads.sort();
    heads
}

#[test]
fn two_inspectors_fill_different_checklist_items_offline_and_both_survive() {
    let t = village();
    let mut office = created(&t);
    let mut wang = fork(&mut office, 1);
    let mut zhao = fork(&mut office, 2);

    // Both are out of signal at opposite ends of the village.
    set(
        &mut wang,
        &t,
        "checklist.clean_garbage.result",
        json!("pass"),
        &by("王工", T0 + 10),
    );
    set(
        &mut wang,
        &t,
        "checklist.clean_garbage.score",
        json!(95),
        &by("王工", T0 + 11),
    );
    set(
        &mut zhao,
        &t,
        "checklist.waste_bins.result",
        json!("fail"),
        &by("赵工", T0 + 20),
    );
    set(
        &mut zhao,
        &t,
        "checklist.waste_bins.issue",
        json!("村东垃圾桶破损"),
        &by("赵工", T0 + 21),
    );
    set(
        &mut zhao,
        &t,
        "checklist.waste_bins.deadline",
        json!("2024-09-30"),
        &by("赵工", T0 + 22),
    );
    set(
        &mut zhao,
        &t,
        "checklist.waste_bins.owner",
        json!("李村长"),
        &by("赵工", T0 + 23),
    );
    // A failed item needs its photo (village_inspection.v2).
    set(
        &mut zhao,
        &t,
        "checklist.waste_bins.photos",
        json!(["photo-bins"]),
        &by("赵工", T0 + 23),
    );
    // Zhao also names the owner of Wang's item: a different key of the same item.
    set(
        &mut zhao,
        &t,
        "checklist.clean_garbage.owner",
        json!("保洁员老陈"),
        &by("赵工", T0 + 24),
    );

    meet(&mut wang, &mut zhao);

    for doc in [&wang, &zhao] {
        assert_eq!(
            doc.data()["checklist"],
            json!({
                "clean_garbage": {"result": "pass", "owner": "保洁员老陈", "score": 95},
                "waste_bins": {
                    "result": "fail",
                    "issue": "村东垃圾桶破损",
                    "deadline": "2024-09-30",
                    "owner": "李村长",
                    "photos": ["photo-bins"]
                }
            }),
            "both inspectors' items are in the merged record"
        );
        // The merged failed item is complete in the template's eyes.
        let item = get(doc, "checklist.waste_bins").unwrap();
        t.check_value(&path("checklist.waste_bins"), &item)
            .expect("the merged item is valid");
    }
    assert!(wang.conflicts().is_empty(), "{:?}", wang.conflicts());
    assert!(zhao.conflicts().is_empty(), "{:?}", zhao.conflicts());
    assert_eq!(wang.to_json(), zhao.to_json());
    assert_eq!(sorted_heads(&mut wang), sorted_heads(&mut zhao));
}

#[test]
fn two_devices_write_the_same_field_and_the_conflict_names_both_devices() {
    let t = village();
    let mut office = created(&t);
    let mut wang = fork(&mut office, 1);
    let mut zhao = fork(&mut office, 2);

    set(
        &mut wang,
        &t,
        "village_name",
        json!("李家村"),
        &by("王工", T0 + 100),
    );
    set(
        &mut zhao,
        &t,
        "village_name",
        json!("李家庄"),
        &by("赵工", T0 + 200),
    );
    set(
        &mut wang,
        &t,
        "checklist.clean_ruins.result",
        json!("pass"),
        &by("王工", T0 + 101),
    );
    set(
        &mut zhao,
        &t,
        "checklist.clean_ruins.result",
        json!("na"),
        &by("赵工", T0 + 201),
    );
    meet(&mut wang, &mut zhao);

    let expected: BTreeSet<(String, String, Option<String>, i64)> = [
        (
            "李家村".to_string(),
            wang.actor(),
            Some("王工".to_string()),
            T0 + 100,
        ),
        (
            "李家庄".to_string(),
            zhao.actor(),
            Some("赵工".to_string()),
            T0 + 200,
        ),
    ]
    .into_iter()
    .collect();
    let conflicts = wang.conflicts();
    assert_eq!(
        conflicts,
        zhao.conflicts(),
        "every device sees the same conflicts"
    );
    let paths: BTreeSet<&str> = conflicts.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        paths,
        BTreeSet::from(["village_name", "checklist.clean_ruins.result"])
    );

    let name = conflicts.iter().find(|c| c.path == "village_name").unwrap();
    let got: BTreeSet<_> = name
        .values
        .iter()
        .map(|v| {
            (
                v.value.as_str().unwrap().to_string(),
                v.device.clone(),
                v.author.clone(),
                v.time_ms,
            )
        })
        .collect();
    assert_eq!(got, expected);
    assert_ne!(wang.actor(), zhao.actor());
    let shown: Vec<_> = name.values.iter().filter(|v| v.shown).collect();
    assert_eq!(shown.len(), 1, "exactly one value is shown: {name:?}");
    assert_eq!(get(&wang, "village_name").as_ref(), Some(&shown[0].value));
    assert_eq!(get(&zhao, "village_name").as_ref(), Some(&shown[0].value));

    let result = conflicts
        .iter()
        .find(|c| c.path == "checklist.clean_ruins.result")
        .unwrap();
    let devices: BTreeSet<_> = result.values.iter().map(|v| v.device.clone()).collect();
    assert_eq!(devices, BTreeSet::from([wang.actor(), zhao.actor()]));
    assert_eq!(result.values.iter().filter(|v| v.shown).count(), 1);

    // The team leader settles the name on Wang's tablet; Zhao gets it at the next meeting.
    let chosen = json!("李家村");
    wang.resolve(&t, &path("village_name"), &chosen, &by("组长", T0 + 300))
        .unwrap();
    assert_eq!(get(&wang, "village_name"), Some(chosen.clone()));
    assert!(wang.conflicts().iter().all(|c| c.path != "village_name"));
    meet(&mut wang, &mut zhao);
    for doc in [&mut wang, &mut zhao] {
        assert_eq!(get(doc, "village_name"), Some(chosen.clone()));
        let left: Vec<_> = doc.conflicts().into_iter().map(|c| c.path).collect();
        assert_eq!(left, vec!["checklist.clean_ruins.result".to_string()]);
    }
}

#[test]
fn concurrent_typing_in_a_textarea_merges_by_character() {
    let t = village();
    assert!(t.field(&path("notes")).unwrap().is_text());
    assert!(
        t.field(&path("checklist.clean_sewage.issue"))
            .unwrap()
            .is_text()
    );

    let mut wang = created(&t);
    set(
        &mut wang,
        &t,
        "notes",
        json!("村口有垃圾堆放"),
        &by("王工", T0 + 1),
    );
    set(
        &mut wang,
        &t,
        "checklist.clean_sewage.issue",
        json!("污水直排入塘"),
        &by("王工", T0 + 2),
    );
    let mut zhao = fork(&mut wang, 2);

    // Wang adds to the end, Zhao corrects the beginning, at the same time.
    set(
        &mut wang,
        &t,
        "notes",
        json!("村口有垃圾堆放，已督促清理"),
        &by("王工", T0 + 10),
    );
    set(
        &mut zhao,
        &t,
        "notes",
        json!("东村口有垃圾堆放"),
        &by("赵工", T0 + 11),
    );
    set(
        &mut wang,
        &t,
        "checklist.clean_sewage.issue",
        json!("生活污水直排入塘"),
        &by("王工", T0 + 12),
    );
    set(
        &mut zhao,
        &t,
        "checklist.clean_sewage.issue",
        json!("污水直排入北塘"),
        &by("赵工", T0 + 13),
    );
    meet(&mut wang, &mut zhao);

    for doc in [&mut wang, &mut zhao] {
        assert_eq!(
            get(doc, "notes"),
            Some(json!("东村口有垃圾堆放，已督促清理"))
        );
        assert_eq!(
            get(doc, "checklist.clean_sewage.issue"),
            Some(json!("生活污水直排入北塘"))
        );
        assert!(doc.conflicts().is_empty(), "{:?}", doc.conflicts());
    }

    // Two devices that both start the notes from nothing make two texts: a conflict, which
    // is resolved like any other.
    let mut office = created(&t);
    let mut wang = fork(&mut office, 1);
    let mut zhao = fork(&mut office, 2);
    set(
        &mut wang,
        &t,
        "notes",
        json!("水塘发黑"),
        &by("王工", T0 + 1),
    );
    set(
        &mut zhao,
        &t,
        "notes",
        json!("水塘有异味"),
        &by("赵工", T0 + 2),
    );
    meet(&mut wang, &mut zhao);
    let conflicts = wang.conflicts();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0].path, "notes");
    let texts: BTreeSet<_> = conflicts[0]
        .values
        .iter()
        .map(|v| (v.value.as_str().unwrap().to_string(), v.device.clone()))
        .collect();
    assert_eq!(
        texts,
        BTreeSet::from([
            ("水塘发黑".to_string(), wang.actor()),
            ("水塘有异味".to_string(), zhao.actor())
        ])
    );
    let chosen = json!("水塘发黑，有异味");
    zhao.resolve(&t, &path("notes"), &chosen, &by("赵工", T0 + 3))
        .unwrap();
    meet(&mut wang, &mut zhao);
    for doc in [&mut wang, &mut zhao] {
        assert!(doc.conflicts().is_empty(), "{:?}", doc.conflicts());
        assert_eq!(get(doc, "notes"), Some(chosen.clone()));
    }
    // And typing goes on by character afterwards.
    set(
        &mut wang,
        &t,
        "notes",
        json!("东水塘发黑，有异味"),
        &by("王工", T0 + 4),
    );
    set(
        &mut zhao,
        &t,
        "notes",
        json!("水塘发黑，有异味。"),
        &by("赵工", T0 + 5),
    );
    meet(&mut wang, &mut zhao);
    assert_eq!(get(&wang, "notes"), Some(json!("东水塘发黑，有异味。")));
    assert_eq!(get(&zhao, "notes"), get(&wang, "notes"));
}

#[test]
fn concurrent_appends_to_measurement_points_both_survive() {
    let t = template("water_body_check");
    let mut office = created(&t);
    let mut wang = fork(&mut office, 1);
    let mut zhao = fork(&mut office, 2);

    let p1 = json!({"point_id": "P1", "do_mg_l": 1.5, "transparency_cm": 18});
    let p2 = json!({"point_id": "P2", "do_mg_l": 4.2});
    let p3 = json!({"point_id": "P3", "nh3n_mg_l": 16.5});
    assert_eq!(
        append(
            &mut wang,
            &t,
            "measurement_points",
            p1.clone(),
            &by("王工", T0 + 1)
        ),
        0
    );
    assert_eq!(
        append(
            &mut wang,
            &t,
            "measurement_points",
            p2.clone(),
            &by("王工", T0 + 2)
        ),
        1
    );
    assert_eq!(
        append(
            &mut zhao,
            &t,
            "measurement_points",
            p3.clone(),
            &by("赵工", T0 + 3)
        ),
        0
    );
    meet(&mut wang, &mut zhao);

    let points = get(&wang, "measurement_points").expect("points");
    assert_eq!(Some(points.clone()), get(&zhao, "measurement_points"));
    let points = points.as_array().unwrap();
    assert_eq!(points.len(), 3, "{points:?}");
    for p in [&p1, &p2, &p3] {
        assert!(points.contains(p), "{p} is missing from {points:?}");
    }
    let p1_at = points.iter().position(|p| p == &p1).unwrap();
    let p2_at = points.iter().position(|p| p == &p2).unwrap();
    assert!(p1_at < p2_at, "one device's points keep their order");

    // Then both fill in different readings of the same point.
    let at = format!(
        "measurement_points.{p3_at}",
        p3_at = points.iter().position(|p| p == &p3).unwrap()
    );
    set(
        &mut wang,
        &t,
        &format!("{at}.depth_cm"),
        json!(80),
        &by("王工", T0 + 10),
    );
    set(
        &mut zhao,
        &t,
        &format!("{at}.do_mg_l"),
        json!(1.1),
        &by("赵工", T0 + 11),
    );
    meet(&mut wang, &mut zhao);
    for doc in [&mut wang, &mut zhao] {
        assert_eq!(
            get(doc, &at),
            Some(json!({"point_id": "P3", "depth_cm": 80, "do_mg_l": 1.1, "nh3n_mg_l": 16.5}))
        );
        assert!(doc.conflicts().is_empty(), "{:?}", doc.conflicts());
    }

    // Inspectors signing in on two devices.
    let v = village();
    let mut office = created(&v);
    let mut wang = fork(&mut office, 1);
    let mut zhao = fork(&mut office, 2);
    append(&mut wang, &v, "inspectors", json!("王工"), &by("王工", T0));
    append(&mut zhao, &v, "inspectors", json!("赵工"), &by("赵工", T0));
    meet(&mut wang, &mut zhao);
    assert_eq!(get(&wang, "inspectors"), get(&zhao, "inspectors"));
    assert_eq!(strings(get(&wang, "inspectors")), set_of(&["王工", "赵工"]));
}

#[test]
fn status_is_derived_from_events() {
    let t = village();
    let mut wang = created(&t);
    assert_eq!(wang.status(), Status::Draft);
    assert!(wang.events().is_empty());

    let refused = wang.add_event(EventKind::Approved, None, &by("审核员", T0 + 1));
    assert!(matches!(refused, Err(DocError::Status(_))), "{refused:?}");
    assert_eq!(wang.status(), Status::Draft);
    assert!(wang.events().is_empty(), "a refused event is not recorded");

    assert_eq!(
        wang.add_event(EventKind::Submitted, Some("请审核"), &by("王工", T0 + 2))
            .unwrap(),
        Status::Submitted
    );
    assert!(matches!(
        wang.add_event(EventKind::Submitted, None, &by("王工", T0 + 3)),
        Err(DocError::Status(_))
    ));
    let mut reviewer = fork(&mut wang, 9);
    assert_eq!(reviewer.status(), Status::Submitted);
    assert_eq!(
        reviewer
            .add_event(EventKind::Approved, None, &by("审核员", T0 + 4))
            .unwrap(),
        Status::Approved
    );
    let events = reviewer.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].kind, EventKind::Submitted);
    assert_eq!(events[0].author, "王工");
    assert_eq!(events[0].device, actor(0xC0).to_hex_string());
    assert_eq!(events[0].at_ms, T0 + 2);
    assert_eq!(events[0].note.as_deref(), Some("请审核"));
    assert_eq!(events[1].kind, EventKind::Approved);
    assert_eq!(events[1].author, "审核员");
    assert_eq!(events[1].device, reviewer.actor());
    assert_eq!(events[1].note, None);
    meet(&mut wang, &mut reviewer);
    assert_eq!(wang.status(), Status::Approved);

    // A return and a submission that cross: Li submits his own copy of the draft while the
    // reviewer returns Wang's submission.
    let mut office = created(&t);
    let mut wang = fork(&mut office, 1);
    let mut li = fork(&mut office, 3);
    wang.add_event(EventKind::Submitted, None, &by("王工", T0 + 10))
        .unwrap();
    let mut reviewer = fork(&mut wang, 9);
    reviewer
        .add_event(EventKind::Returned, Some("缺照片"), &by("审核员", T0 + 20))
        .unwrap();
    li.add_event(EventKind::Submitted, None, &by("李工", T0 + 21))
        .unwrap();
    meet(&mut reviewer, &mut li);
    meet(&mut wang, &mut li);
    meet(&mut wang, &mut reviewer);

    let events = wang.events();
    assert_eq!(events.len(), 3, "no event is lost: {events:?}");
    let kinds: Vec<_> = events.iter().map(|e| (e.kind, e.author.as_str())).collect();
    assert!(kinds.contains(&(EventKind::Submitted, "王工")));
    assert!(kinds.contains(&(EventKind::Submitted, "李工")));
    assert!(kinds.contains(&(EventKind::Returned, "审核员")));
    let status = wang.status();
    let folded = events.iter().fold(Status::Draft, |s, e| s.after(e.kind));
    assert_eq!(status, folded);
    for doc in [&li, &reviewer] {
        assert_eq!(
            doc.events(),
            events,
            "every device holds the events in one order"
        );
        assert_eq!(doc.status(), status, "every device derives the same status");
    }
}

#[test]
fn history_names_author_and_paths() {
    let t = village();
    let mut wang = created(&t);
    set(
        &mut wang,
        &t,
        "village_name",
        json!("李家村"),
        &by("王工", T0 + 5),
    );
    let mut zhao = fork(&mut wang, 2);
    append(
        &mut zhao,
        &t,
        "inspectors",
        json!("赵工"),
        &by("赵工", T0 + 7),
    );
    zhao.clear(&t, &path("village_name"), &by("赵工", T0 + 8))
        .unwrap();
    zhao.add_event(EventKind::Submitted, None, &by("赵工", T0 + 9))
        .unwrap();
    meet(&mut wang, &mut zhao);

    let history = wang.history();
    assert_eq!(history, zhao.history());
    let brief: Vec<_> = history
        .iter()
        .map(|h| {
            (
                h.action.as_str(),
                h.author.as_deref(),
                h.device.clone(),
                h.time_ms,
                h.paths.clone(),
            )
        })
        .collect();
    let office = actor(0xC0).to_hex_string();
    assert_eq!(
        brief,
        vec![
            ("create", Some("王工"), office.clone(), T0, vec![]),
            (
                "set",
                Some("王工"),
                office.clone(),
                T0 + 5,
                vec!["village_name".to_string()]
            ),
            (
                "append",
                Some("赵工"),
                zhao.actor(),
                T0 + 7,
                vec!["inspectors.0".to_string()]
            ),
            (
                "clear",
                Some("赵工"),
                zhao.actor(),
                T0 + 8,
                vec!["village_name".to_string()]
            ),
            ("submitted", Some("赵工"), zhao.actor(), T0 + 9, vec![]),
        ]
    );
    let seqs: Vec<u64> = history.iter().map(|h| h.seq).collect();
    assert_eq!(seqs, vec![1, 2, 1, 2, 3]);
    let hashes: BTreeSet<_> = history.iter().map(|h| h.hash.clone()).collect();
    assert_eq!(hashes.len(), history.len());
}

#[test]
fn a_refused_edit_leaves_no_trace() {
    let t = village();
    let mut wang = created(&t);
    let heads = sorted_heads(&mut wang);
    let before = wang.to_json();

    // An item beyond the end of a list.
    let e = wang.set(
        &t,
        &path("inspectors.3"),
        &json!("王工"),
        &by("王工", T0 + 1),
    );
    assert!(matches!(e, Err(DocError::Path { .. })), "{e:?}");
    // A field the template does not have.
    let e = wang.set(
        &t,
        &path("checklist.not_an_item.result"),
        &json!("pass"),
        &by("王工", T0 + 2),
    );
    assert!(matches!(e, Err(DocError::Path { .. })), "{e:?}");
    assert_eq!(sorted_heads(&mut wang), heads);

    // A photo slot of an item someone cleared: the item's map would have to be made again
    // before the index can be refused; none of that may stay behind.
    wang.clear(&t, &path("checklist.clean_garbage"), &by("王工", T0 + 3))
        .unwrap();
    let heads = sorted_heads(&mut wang);
    let history = wang.history().len();
    let e = wang.set(
        &t,
        &path("checklist.clean_garbage.photos.2"),
        &json!("photo-1"),
        &by("王工", T0 + 4),
    );
    assert!(matches!(e, Err(DocError::Path { .. })), "{e:?}");
    assert_eq!(
        sorted_heads(&mut wang),
        heads,
        "the refused edit made a change"
    );
    assert_eq!(wang.history().len(), history);
    assert_eq!(wang.to_json()["data"], before["data"]);
    // The next edit carries only itself.
    set(
        &mut wang,
        &t,
        "village_name",
        json!("李家村"),
        &by("王工", T0 + 5),
    );
    let last = wang.history().pop().unwrap();
    assert_eq!(
        (last.action.as_str(), last.paths),
        ("set", vec!["village_name".to_string()])
    );
    assert_eq!(wang.history().len(), history + 1);
}

/// Deterministic noise, so a failure can be replayed.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn refused(result: Result<RecordDoc, DocError>, what: &str) -> DocError {
    match result {
        Ok(_) => panic!("{what} loaded as a record"),
        Err(e @ (DocError::Corrupt(_) | DocError::NotARecord(_))) => e,
        Err(e) => panic!("{what}: unexpected error {e:?}"),
    }
}

#[test]
fn load_refuses_random_and_truncated_bytes_without_panicking() {
    let t = village();
    let mut wang = created(&t);
    set(
        &mut wang,
        &t,
        "village_name",
        json!("李家村"),
        &by("王工", T0 + 1),
    );
    set(
        &mut wang,
        &t,
        "notes",
        json!("村口有垃圾堆放"),
        &by("王工", T0 + 2),
    );
    append(
        &mut wang,
        &t,
        "inspectors",
        json!("王工"),
        &by("王工", T0 + 3),
    );
    wang.add_event(EventKind::Submitted, None, &by("王工", T0 + 4))
        .unwrap();
    let saved = wang.save();
    let whole = RecordDoc::load(&saved, actor(5)).expect("the whole save loads");
    assert_eq!(whole.to_json(), wang.to_json());

    assert!(matches!(
        RecordDoc::load(&[], actor(5)),
        Err(DocError::Corrupt(_))
    ));
    for cut in 1..saved.len() {
        refused(
            RecordDoc::load(&saved[..cut], actor(5)),
            &format!("the save cut at {cut} of {}", saved.len()),
        );
    }

    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    let magic = &saved[..8.min(saved.len())];
    for round in 0..400 {
        let len = (noise.next() % 600) as usize;
        let mut bytes = noise.bytes(len);
        if round % 2 == 0 {
            // Starts like an Automerge document, to get past the first check.
            bytes.splice(0..0, magic.iter().copied());
        }
        refused(
            RecordDoc::load(&bytes, actor(5)),
            &format!("noise round {round}"),
        );
    }
    // A real save with a few bytes flipped.
    for round in 0..200 {
        let mut bytes = saved.clone();
        for _ in 0..1 + round % 3 {
            let at = (noise.next() as usize) % bytes.len();
            bytes[at] ^= 1 << (noise.next() % 8);
        }
        // Whatever the flip hit, the answer is a record or a refusal, never a panic.
        match RecordDoc::load(&bytes, actor(5)) {
            Ok(_) | Err(DocError::Corrupt(_) | DocError::NotARecord(_)) => {}
            Err(e) => panic!("flip round {round}: unexpected error {e:?}"),
        }
    }

    // Valid Automerge documents that are not records.
    use automerge::transaction::Transactable;
    let mut plain = automerge::AutoCommit::new();
    plain.put(automerge::ROOT, "hello", "world").unwrap();
    assert!(matches!(
        refused(RecordDoc::load(&plain.save(), actor(5)), "a plain document"),
        DocError::NotARecord(_)
    ));
    let mut fake = automerge::AutoCommit::new();
    let m = fake
        .put_object(automerge::ROOT, "meta", automerge::ObjType::Map)
        .unwrap();
    fake.put(&m, "id", "not-a-uuid").unwrap();
    fake.put(&m, "kind", "village_inspection").unwrap();
    fake.put(&m, "template_version", 1).unwrap();
    assert!(matches!(
        refused(
            RecordDoc::load(&fake.save(), actor(5)),
            "a meta without a UUID"
        ),
        DocError::NotARecord(_)
    ));
    fake.put(&m, "id", RECORD_ID).unwrap();
    assert!(matches!(
        refused(
            RecordDoc::load(&fake.save(), actor(5)),
            "a meta without data"
        ),
        DocError::NotARecord(_)
    ));
    fake.put_object(automerge::ROOT, "data", automerge::ObjType::Map)
        .unwrap();
    assert!(matches!(
        refused(
            RecordDoc::load(&fake.save(), actor(5)),
            "a record without events"
        ),
        DocError::NotARecord(_)
    ));
    fake.put_object(automerge::ROOT, "events", automerge::ObjType::List)
        .unwrap();
    RecordDoc::load(&fake.save(), actor(5)).expect("with events it is a (bare) record");

    let huge = vec![0u8; jingtu_doc::MAX_DOC_BYTES + 1];
    assert!(matches!(
        RecordDoc::load(&huge, actor(5)),
        Err(DocError::TooLarge { .. })
    ));

    // Merging garbage is refused the same way and leaves the record as it was.
    let before = wang.to_json();
    let heads = sorted_heads(&mut wang);
    assert!(wang.merge_bytes(&saved[..saved.len() / 2]).is_err());
    assert!(wang.merge_bytes(&plain.save()).is_err());
    assert_eq!(wang.to_json(), before);
    assert_eq!(sorted_heads(&mut wang), heads);
}

#[test]
fn merge_refuses_a_different_record() {
    let t = village();
    let mut lijia = created(&t);
    let mut other =
        RecordDoc::create(actor(0xC1), &t, &meta(&t, OTHER_RECORD_ID), &by("王工", T0)).unwrap();
    set(
        &mut other,
        &t,
        "village_name",
        json!("张家村"),
        &by("王工", T0 + 1),
    );
    let heads = sorted_heads(&mut lijia);

    match lijia.merge_bytes(&other.save()) {
        Err(DocError::DifferentRecord { existing, incoming }) => {
            assert_eq!(existing, RECORD_ID);
            assert_eq!(incoming, OTHER_RECORD_ID);
        }
        other => panic!("expected DifferentRecord, got {other:?}"),
    }
    assert_eq!(sorted_heads(&mut lijia), heads);
    assert_eq!(get(&lijia, "village_name"), None);

    // The same record merges.
    let mut copy = fork(&mut lijia, 2);
    set(
        &mut copy,
        &t,
        "village_name",
        json!("李家村"),
        &by("赵工", T0 + 2),
    );
    assert_eq!(lijia.merge_bytes(&copy.save()).unwrap(), 1);
    assert_eq!(get(&lijia, "village_name"), Some(json!("李家村")));
    assert_eq!(lijia.merge_bytes(&copy.save()).unwrap(), 0, "nothing new");
}

#[test]
fn clear_removes_a_value() {
    let t = village();
    let mut wang = created(&t);
    set(
        &mut wang,
        &t,
        "village_name",
        json!("李家村"),
        &by("王工", T0 + 1),
    );
    set(
        &mut wang,
        &t,
        "indicators.households_total",
        json!(120),
        &by("王工", T0 + 2),
    );
    set(
        &mut wang,
        &t,
        "checklist.waste_bins.result",
        json!("pass"),
        &by("王工", T0 + 3),
    );
    append(
        &mut wang,
        &t,
        "inspectors",
        json!("王工"),
        &by("王工", T0 + 4),
    );
    append(
        &mut wang,
        &t,
        "inspectors",
        json!("赵工"),
        &by("王工", T0 + 5),
    );
    let mut zhao = fork(&mut wang, 2);

    wang.clear(&t, &path("village_name"), &by("王工", T0 + 10))
        .unwrap();
    wang.clear(&t, &path("inspectors.0"), &by("王工", T0 + 11))
        .unwrap();
    wang.set(
        &t,
        &path("checklist.waste_bins.result"),
        &Value::Null,
        &by("王工", T0 + 12),
    )
    .unwrap();
    assert_eq!(get(&wang, "village_name"), None);
    assert_eq!(get(&wang, "inspectors"), Some(json!(["赵工"])));
    assert_eq!(get(&wang, "checklist.waste_bins"), None);
    assert_eq!(get(&wang, "indicators.households_total"), Some(json!(120)));

    // Clearing what is not there changes nothing; clearing what the template lacks is refused.
    let n = wang.history().len();
    wang.clear(&t, &path("township"), &by("王工", T0 + 13))
        .unwrap();
    wang.clear(&t, &path("inspectors.5"), &by("王工", T0 + 14))
        .unwrap();
    assert_eq!(wang.history().len(), n);
    assert!(matches!(
        wang.clear(&t, &path("no_such_field"), &by("王工", T0 + 15)),
        Err(DocError::Path { .. })
    ));

    meet(&mut wang, &mut zhao);
    assert_eq!(get(&zhao, "village_name"), None);
    assert_eq!(get(&zhao, "inspectors"), Some(json!(["赵工"])));
    assert_eq!(zhao.data(), wang.data());
    let last = wang.history().pop().unwrap();
    assert_eq!(last.action, "clear");
    assert_eq!(last.paths, vec!["checklist.waste_bins.result".to_string()]);
}

#[test]
fn setting_an_object_writes_its_keys() {
    let t = village();
    let mut wang = created(&t);
    set(
        &mut wang,
        &t,
        "indicators",
        json!({"sewage_treatment_rate_pct": 72.5, "households_total": 120}),
        &by("王工", T0 + 1),
    );
    assert_eq!(
        get(&wang, "indicators.sewage_treatment_rate_pct"),
        Some(json!(72.5))
    );
    assert_eq!(get(&wang, "indicators.households_total"), Some(json!(120)));
    let mut zhao = fork(&mut wang, 2);

    // Wang rewrites the indicators as a whole while Zhao fills in one more of them.
    set(
        &mut wang,
        &t,
        "indicators",
        json!({"sewage_treatment_rate_pct": 65, "households_total": 120, "households_sewage_treated": 78}),
        &by("王工", T0 + 10),
    );
    set(
        &mut zhao,
        &t,
        "indicators.facility_status",
        json!("normal"),
        &by("赵工", T0 + 11),
    );
    meet(&mut wang, &mut zhao);
    for doc in [&mut wang, &mut zhao] {
        let indicators = get(doc, "indicators").unwrap();
        assert_eq!(indicators["sewage_treatment_rate_pct"], json!(65));
        assert_eq!(indicators["households_total"], json!(120));
        assert_eq!(indicators["households_sewage_treated"], json!(78));
        assert_eq!(indicators["facility_status"], json!("normal"));
        assert!(doc.conflicts().is_empty(), "{:?}", doc.conflicts());
    }

    // Keys left out are kept; a null clears one (present or not).
    let value = json!({"households_total": 130, "facility_status": null, "sewage_mode": null});
    wang.set(&t, &path("indicators"), &value, &by("王工", T0 + 20))
        .unwrap();
    assert_eq!(
        get(&wang, "indicators"),
        Some(json!({
            "sewage_treatment_rate_pct": 65,
            "households_total": 130,
            "households_sewage_treated": 78
        }))
    );
    // A key the template does not have is refused, and nothing of the edit stays.
    let heads = sorted_heads(&mut wang);
    let bad = json!({"households_total": 140, "not_an_indicator": 1});
    assert!(matches!(
        wang.set(&t, &path("indicators"), &bad, &by("王工", T0 + 21)),
        Err(DocError::Value { .. })
    ));
    assert_eq!(get(&wang, "indicators.households_total"), Some(json!(130)));
    assert_eq!(sorted_heads(&mut wang), heads);
}

#[test]
fn filling_a_checklist_item_as_a_whole_keeps_a_photo_added_at_the_same_time() {
    let t = village();
    let mut office = created(&t);
    let mut wang = fork(&mut office, 1);
    let mut zhao = fork(&mut office, 2);

    // Wang fills in the whole item from the form; Zhao attaches a photo of the same spot.
    set(
        &mut wang,
        &t,
        "checklist.clean_clutter",
        json!({"result": "fail", "issue": "柴草乱堆", "deadline": "2024-10-15", "owner": "李村长"}),
        &by("王工", T0 + 1),
    );
    append(
        &mut zhao,
        &t,
        "checklist.clean_clutter.photos",
        json!("photo-zhao-1"),
        &by("赵工", T0 + 2),
    );
    meet(&mut wang, &mut zhao);
    for doc in [&mut wang, &mut zhao] {
        assert_eq!(
            get(doc, "checklist.clean_clutter.result"),
            Some(json!("fail"))
        );
        assert_eq!(
            get(doc, "checklist.clean_clutter.photos"),
            Some(json!(["photo-zhao-1"])),
            "the photo added while the item was filled in is lost"
        );
    }

    // Later, after the item was filled in as a whole, both add a photo at once.
    append(
        &mut wang,
        &t,
        "checklist.clean_clutter.photos",
        json!("photo-wang-2"),
        &by("王工", T0 + 3),
    );
    append(
        &mut zhao,
        &t,
        "checklist.clean_clutter.photos",
        json!("photo-zhao-3"),
        &by("赵工", T0 + 4),
    );
    set(
        &mut wang,
        &t,
        "checklist.disorder_wiring",
        json!({"result": "pass"}),
        &by("王工", T0 + 5),
    );
    meet(&mut wang, &mut zhao);
    append(
        &mut wang,
        &t,
        "checklist.disorder_wiring.photos",
        json!("photo-wang-4"),
        &by("王工", T0 + 6),
    );
    append(
        &mut zhao,
        &t,
        "checklist.disorder_wiring.photos",
        json!("photo-zhao-5"),
        &by("赵工", T0 + 7),
    );
    meet(&mut wang, &mut zhao);
    for doc in [&mut wang, &mut zhao] {
        assert_eq!(
            strings(get(doc, "checklist.clean_clutter.photos")),
            set_of(&["photo-zhao-1", "photo-wang-2", "photo-zhao-3"])
        );
        assert_eq!(
            strings(get(doc, "checklist.disorder_wiring.photos")),
            set_of(&["photo-wang-4", "photo-zhao-5"])
        );
        assert!(doc.conflicts().is_empty(), "{:?}", doc.conflicts());
    }
}

#[test]
fn a_checklist_keyed_by_numbers_takes_writes() {
    // A template received through sync may key a checklist by numbered codes.
    let mut set_ = TemplateSet::builtin().unwrap();
    let t = set_
        .add_json(
            "numbered_check.v1.json",
            r#"{
              "type": "object",
              "x-template": {"kind": "numbered_check", "version": 1,
                             "label": {"zh": "编号检查", "en": "Numbered check"}},
              "properties": {
                "items": {
                  "type": "object",
                  "propertyNames": {"enum": ["1", "2", "3"]},
                  "additionalProperties": {
                    "type": "object",
                    "properties": {
                      "result": {"type": "string", "enum": ["pass", "fail", "na"]},
                      "photos": {"type": "array", "items": {"type": "string"}}
                    }
                  }
                }
              }
            }"#,
        )
        .unwrap();
    let mut wang = RecordDoc::create(actor(1), &t, &meta(&t, RECORD_ID), &by("王工", T0)).unwrap();
    set(
        &mut wang,
        &t,
        "items.2.result",
        json!("fail"),
        &by("王工", T0 + 1),
    );
    append(
        &mut wang,
        &t,
        "items.3.photos",
        json!("photo-1"),
        &by("王工", T0 + 2),
    );
    assert_eq!(
        wang.data(),
        json!({"items": {"2": {"result": "fail"}, "3": {"photos": ["photo-1"]}}})
    );
    wang.clear(&t, &path("items.2.result"), &by("王工", T0 + 3))
        .unwrap();
    assert_eq!(get(&wang, "items.2.result"), None);
}

#[test]
fn a_record_sent_without_deflate_is_taken_in_as_the_same_changes() {
    let t = village();
    let mut doc = created(&t);
    let who = by("王工", T0 + 1_000);
    set(&mut doc, &t, "village_name", json!("李家村"), &who);
    set(
        &mut doc,
        &t,
        "notes",
        json!("村口道路两侧柴草乱堆约12处。".repeat(20)),
        &who,
    );
    set(
        &mut doc,
        &t,
        "indicators.households_total",
        json!(240),
        &who,
    );
    let packed = doc.save();
    let plain = doc.save_uncompressed();
    // Both forms load: the plain one is larger alone (its columns are not deflated) ...
    assert!(
        plain.len() > packed.len(),
        "{} vs {}",
        plain.len(),
        packed.len()
    );
    let mut from_plain = RecordDoc::load(&plain, actor(1)).expect("the plain form loads");
    assert_eq!(sorted_heads(&mut from_plain), sorted_heads(&mut doc));
    assert_eq!(from_plain.data(), doc.data());
    // ... and the server takes it in as the same changes, so it stores the same bytes.
    let a = jingtu_doc::apply_untrusted(None, &packed, RECORD_ID, actor(2), &Default::default())
        .expect("packed");
    let b = jingtu_doc::apply_untrusted(None, &plain, RECORD_ID, actor(3), &Default::default())
        .expect("plain");
    assert_eq!(a.new_changes, b.new_changes);
    assert_eq!(a.new_changes, a.changes.len());
    assert_eq!(a.new_bytes, b.new_bytes);
    assert!(!a.new_bytes.is_empty());
    // On a record the receiver holds, only what is new counts.
    let mut held = RecordDoc::load(&packed, actor(4)).expect("held");
    let before = held.heads();
    set(
        &mut doc,
        &t,
        "indicators.households_total",
        json!(241),
        &who,
    );
    let (bytes, n) = held
        .apply_changes(&doc.save_uncompressed())
        .expect("the newer record merges");
    assert_eq!(n, 1);
    assert_eq!(bytes, doc.save_after(&before));
}
