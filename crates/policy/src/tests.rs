//! The rules told as field work: a record made by the county office, devices that push
//! changes to it, some made with the record API and some crafted with raw automerge
//! transactions, as a tampered app could.

use std::sync::{Arc, LazyLock};

use automerge::transaction::{Transactable, Transaction};
use automerge::{ActorId, Automerge, AutomergeError, Change, ObjId, ObjType, ROOT, ReadDoc};
use jingtu_doc::{Editor, EventKind, PhotoEntry, RecordDoc, RecordMeta, Status};
use jingtu_model::{FieldPath, Role, Template, TemplateSet};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::guard::guarded;
use crate::*;

const RECORD_ID: &str = "0190b5d2-7c4e-7a31-9f1e-3c2a5b6d7e8f";
const T0: i64 = 1_720_000_000_000;

const OFFICE: u8 = 0xC0;
const INSPECTOR: u8 = 0x11;
const SAMPLER: u8 = 0x12;
const SUPERVISOR: u8 = 0x51;

static VILLAGE: LazyLock<Arc<Template>> = LazyLock::new(|| {
    TemplateSet::builtin()
        .expect("the builtin templates load")
        .latest("village_inspection")
        .expect("village_inspection exists")
});

fn actor(byte: u8) -> ActorId {
    ActorId::from(vec![byte; 16])
}

fn by(author: &str, time_ms: i64) -> Editor {
    Editor {
        author: author.to_string(),
        time_ms,
    }
}

fn meta() -> RecordMeta {
    let t = &**VILLAGE;
    RecordMeta {
        id: RECORD_ID.to_string(),
        kind: t.kind.clone(),
        template_version: t.version,
        org_unit: Some("320581".into()),
        village: Some("李家村".into()),
        planned_point: None,
        assignment: Some("as-7".into()),
        author: "王工".into(),
        device: "tablet-01".into(),
        created_at_ms: T0,
    }
}

/// A new village inspection record, made on device `device`.
fn created_on(device: u8) -> RecordDoc {
    RecordDoc::create(actor(device), &VILLAGE, &meta(), &by("王工", T0)).expect("create")
}

fn as_automerge(rd: &mut RecordDoc) -> Automerge {
    Automerge::load(&rd.save()).expect("a saved record loads")
}

/// The record as the server holds it after the county office made it.
fn draft() -> Automerge {
    as_automerge(&mut created_on(OFFICE))
}

/// `before` with the events `kinds` added by a supervisor's device.
fn with_events(before: &Automerge, kinds: &[EventKind]) -> Automerge {
    let mut rd = record_doc(before, SUPERVISOR);
    for (i, kind) in kinds.iter().enumerate() {
        rd.add_event(*kind, None, &by("组长", T0 + 10 + i as i64))
            .expect("the event applies");
    }
    as_automerge(&mut rd)
}

fn submitted() -> Automerge {
    with_events(&draft(), &[EventKind::Submitted])
}

fn approved() -> Automerge {
    let doc = with_events(&draft(), &[EventKind::Submitted, EventKind::Approved]);
    assert_eq!(record_status(&doc), Status::Approved);
    doc
}

/// A device's copy of `doc` as a record.
fn record_doc(doc: &Automerge, device: u8) -> RecordDoc {
    RecordDoc::load(&doc.save(), actor(device)).expect("the record loads")
}

/// A push made with the record API on `device`'s copy of `before`.
fn push_rd(
    before: &Automerge,
    device: u8,
    edit: impl FnOnce(&mut RecordDoc),
) -> (Automerge, Vec<Change>) {
    let mut rd = record_doc(before, device);
    edit(&mut rd);
    let after = as_automerge(&mut rd);
    let changes = new_changes(Some(before), &after);
    (after, changes)
}

/// A push crafted with raw automerge transactions on `device`'s copy of `before`.
fn push_raw(
    before: &Automerge,
    device: u8,
    edit: impl FnOnce(&mut Automerge),
) -> (Automerge, Vec<Change>) {
    let mut doc = before.fork().with_actor(actor(device));
    edit(&mut doc);
    let changes = new_changes(Some(before), &doc);
    (doc, changes)
}

/// Runs one transaction, committed as one change.
fn tx(doc: &mut Automerge, f: impl FnOnce(&mut Transaction<'_>) -> Result<(), AutomergeError>) {
    let mut t = doc.transaction();
    f(&mut t).expect("the raw edit applies");
    t.commit();
}

/// The object at `path` (map keys and list indexes) of `doc`.
fn obj(doc: &impl ReadDoc, path: &str) -> ObjId {
    let mut at = ROOT;
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        let got = match seg.parse::<usize>() {
            Ok(i) if doc.object_type(&at) == Ok(ObjType::List) => doc.get(&at, i),
            _ => doc.get(&at, seg),
        };
        at = match got {
            Ok(Some((automerge::Value::Object(_), id))) => id,
            other => panic!("no object at {path} ({seg}): {other:?}"),
        };
    }
    at
}

fn check(
    before: Option<&Automerge>,
    after: &Automerge,
    changes: &[Change],
    role: Role,
) -> Vec<Violation> {
    check_changes(before, after, changes, role)
}

fn found(violations: &[Violation]) -> Vec<(Rule, &str)> {
    violations
        .iter()
        .map(|v| (v.rule, v.path.as_str()))
        .collect()
}

fn assert_allowed(violations: &[Violation]) {
    assert!(
        violations.is_empty(),
        "expected no violations: {violations:#?}"
    );
}

/// Every role but lab staff, who are refused more (`lab_results_by_lab`, tested on its own).
fn not_lab() -> impl Iterator<Item = Role> {
    Role::ALL.into_iter().filter(|r| *r != Role::Lab)
}

fn set(rd: &mut RecordDoc, at: &str, value: Value, who: &str) {
    let p = FieldPath::parse(at).expect("a well-formed path");
    VILLAGE.check_value(&p, &value).expect("a valid test value");
    rd.set(&VILLAGE, &p, &value, &by(who, T0 + 100))
        .unwrap_or_else(|e| panic!("set {at}: {e}"));
}

/// A supervisor's review entry, as the review pages would write it.
fn write_review(doc: &mut Automerge, id: &str, decision: &str) {
    let review = obj(doc, "review");
    tx(doc, |t| {
        let r = t.put_object(&review, id, ObjType::Map)?;
        t.put(&r, "decision", decision)?;
        t.put(&r, "comment", "照片不清楚")?;
        t.put(&r, "by", "组长")?;
        Ok(())
    });
}

/// A custody event, as the sampler's app would write it.
fn add_custody(doc: &mut Automerge, id: &str, to_person: &str) {
    let custody = obj(doc, "custody");
    tx(doc, |t| {
        let e = t.put_object(&custody, id, ObjType::Map)?;
        t.put(&e, "type", "handover")?;
        t.put(&e, "from_person", "李工")?;
        t.put(&e, "to_person", to_person)?;
        t.put(&e, "at", T0 + 50)?;
        Ok(())
    });
}

/// A draft with one custody event `ev1`, accepted earlier.
fn with_custody() -> Automerge {
    let (after, _) = push_raw(&draft(), SAMPLER, |d| add_custody(d, "ev1", "张三"));
    after
}

// --- review_by_supervisor -------------------------------------------------------------------

#[test]
fn a_field_user_writing_a_review_is_refused_with_the_path() {
    let before = draft();
    let (after, changes) = push_raw(&before, INSPECTOR, |d| write_review(d, "r1", "approve"));
    for role in [Role::Inspector, Role::Sampler] {
        let v = check(Some(&before), &after, &changes, role);
        let f = found(&v);
        assert!(
            f.contains(&(Rule::ReviewBySupervisor, "review/r1")),
            "{f:?}"
        );
        assert!(
            f.contains(&(Rule::ReviewBySupervisor, "review/r1/decision")),
            "{f:?}"
        );
        assert!(
            f.iter().all(|(r, _)| *r == Rule::ReviewBySupervisor),
            "{f:?}"
        );
        assert!(v.iter().all(|x| x.change == changes[0].hash()));
        assert!(
            v[0].to_string()
                .starts_with("review_by_supervisor at 'review/r1")
        );
    }
}

#[test]
fn a_supervisor_or_admin_writing_a_review_is_allowed() {
    let before = submitted();
    let (after, changes) = push_raw(&before, SUPERVISOR, |d| {
        write_review(d, "r1", "return");
        // ...and changes and deletes review entries later.
        let r1 = obj(d, "review/r1");
        tx(d, |t| t.put(&r1, "decision", "approve"));
        let review = obj(d, "review");
        tx(d, |t| t.delete(&review, "r1"));
    });
    for role in [Role::Supervisor, Role::Admin] {
        assert_allowed(&check(Some(&before), &after, &changes, role));
    }
}

#[test]
fn a_field_user_changing_or_deleting_an_existing_review_is_refused() {
    let (before, _) = push_raw(&submitted(), SUPERVISOR, |d| {
        write_review(d, "r1", "return")
    });
    let (after, changes) = push_raw(&before, INSPECTOR, |d| {
        let r1 = obj(d, "review/r1");
        tx(d, |t| t.put(&r1, "decision", "approve"));
        let review = obj(d, "review");
        tx(d, |t| t.delete(&review, "r1"));
    });
    let v = check(Some(&before), &after, &changes, Role::Inspector);
    assert_eq!(
        found(&v),
        vec![
            (Rule::ReviewBySupervisor, "review/r1/decision"),
            (Rule::ReviewBySupervisor, "review/r1"),
        ]
    );
    assert_eq!(
        refused_changes(&v),
        vec![changes[0].hash(), changes[1].hash()]
    );
}

// --- status_by_role -------------------------------------------------------------------------

#[test]
fn a_field_user_appending_approved_is_refused_and_a_supervisor_is_allowed() {
    let before = submitted();
    let approve = |rd: &mut RecordDoc| {
        rd.add_event(EventKind::Approved, None, &by("王工", T0 + 20))
            .expect("approve");
    };
    let (after, changes) = push_rd(&before, INSPECTOR, approve);
    for role in [Role::Inspector, Role::Sampler] {
        let v = check(Some(&before), &after, &changes, role);
        assert_eq!(
            found(&v),
            vec![(Rule::StatusByRole, "events/1/type")],
            "{v:#?}"
        );
    }
    let (after, changes) = push_rd(&before, SUPERVISOR, approve);
    for role in [Role::Supervisor, Role::Admin] {
        assert_allowed(&check(Some(&before), &after, &changes, role));
    }
}

#[test]
fn a_field_user_may_submit_but_not_return() {
    let before = draft();
    let (after, changes) = push_rd(&before, INSPECTOR, |rd| {
        set(rd, "village_name", json!("李家村"), "王工");
        rd.add_event(EventKind::Submitted, Some("已完成"), &by("王工", T0 + 20))
            .expect("submit");
    });
    assert_allowed(&check(Some(&before), &after, &changes, Role::Inspector));

    let before = submitted();
    let (after, changes) = push_rd(&before, INSPECTOR, |rd| {
        rd.add_event(EventKind::Returned, None, &by("王工", T0 + 20))
            .expect("return");
    });
    let v = check(Some(&before), &after, &changes, Role::Sampler);
    assert_eq!(found(&v), vec![(Rule::StatusByRole, "events/1/type")]);
    assert!(v[0].message.contains("returned"), "{}", v[0].message);
}

#[test]
fn retyping_a_new_submitted_event_to_approved_in_a_later_change_is_refused() {
    let before = draft();
    let (after, changes) = push_rd(&before, INSPECTOR, |rd| {
        rd.add_event(EventKind::Submitted, None, &by("王工", T0 + 20))
            .expect("submit");
    });
    let (after, more) = push_raw(&after, INSPECTOR, |d| {
        let e = obj(d, "events/0");
        tx(d, |t| t.put(&e, "type", "approved"));
    });
    let all: Vec<Change> = changes.into_iter().chain(more).collect();
    let v = check(Some(&before), &after, &all, Role::Inspector);
    assert_eq!(found(&v), vec![(Rule::StatusByRole, "events/0/type")]);
    assert_eq!(v[0].change, all[1].hash());
}

#[test]
fn nobody_edits_or_deletes_an_existing_status_event() {
    let before = submitted();
    let (after, edit) = push_raw(&before, SUPERVISOR, |d| {
        let e = obj(d, "events/0");
        tx(d, |t| t.put(&e, "note", "补一句"));
    });
    let (after_del, delete) = push_raw(&before, SUPERVISOR, |d| {
        let events = obj(d, "events");
        tx(d, |t| t.delete(&events, 0));
    });
    let (after_put, replace) = push_raw(&before, SUPERVISOR, |d| {
        let events = obj(d, "events");
        tx(d, |t| t.put_object(&events, 0, ObjType::Map).map(|_| ()));
    });
    for role in not_lab() {
        let v = check(Some(&before), &after, &edit, role);
        assert_eq!(
            found(&v),
            vec![(Rule::StatusByRole, "events/0/note")],
            "{role}"
        );
        let v = check(Some(&before), &after_del, &delete, role);
        assert_eq!(found(&v), vec![(Rule::StatusByRole, "events/0")], "{role}");
        let v = check(Some(&before), &after_put, &replace, role);
        assert_eq!(found(&v), vec![(Rule::StatusByRole, "events/0")], "{role}");
    }
}

// --- custody_append_only ------------------------------------------------------------------

#[test]
fn editing_an_existing_custody_event_is_refused_even_for_an_admin() {
    let before = with_custody();
    let (after, changes) = push_raw(&before, SUPERVISOR, |d| {
        let ev = obj(d, "custody/ev1");
        tx(d, |t| t.put(&ev, "to_person", "李四"));
    });
    for role in Role::ALL {
        let v = check(Some(&before), &after, &changes, role);
        assert_eq!(
            found(&v),
            vec![(Rule::CustodyAppendOnly, "custody/ev1/to_person")],
            "{role}"
        );
    }
}

#[test]
fn deleting_or_replacing_a_custody_event_is_refused_even_for_an_admin() {
    let before = with_custody();
    let (after, delete) = push_raw(&before, SUPERVISOR, |d| {
        let custody = obj(d, "custody");
        tx(d, |t| t.delete(&custody, "ev1"));
    });
    let (after_replaced, replace) = push_raw(&before, SAMPLER, |d| add_custody(d, "ev1", "李四"));
    for role in Role::ALL {
        let v = check(Some(&before), &after, &delete, role);
        assert_eq!(
            found(&v),
            vec![(Rule::CustodyAppendOnly, "custody/ev1")],
            "{role}"
        );
        assert!(v[0].message.contains("deleted"), "{}", v[0].message);
        let v = check(Some(&before), &after_replaced, &replace, role);
        assert_eq!(
            found(&v),
            vec![(Rule::CustodyAppendOnly, "custody/ev1")],
            "{role}"
        );
    }
}

#[test]
fn adding_custody_events_is_allowed_and_new_ones_may_be_fixed_before_the_push() {
    let before = with_custody();
    let (after, changes) = push_raw(&before, SAMPLER, |d| {
        add_custody(d, "ev2", "赵六");
        // A typo fixed on the device before it synced: the event is still new to the server.
        let ev2 = obj(d, "custody/ev2");
        tx(d, |t| t.put(&ev2, "to_person", "赵七"));
        add_custody(d, "ev3", "钱八");
        let custody = obj(d, "custody");
        tx(d, |t| t.delete(&custody, "ev3"));
    });
    assert_eq!(changes.len(), 4);
    for role in Role::ALL {
        assert_allowed(&check(Some(&before), &after, &changes, role));
    }
}

// --- approved_locked ------------------------------------------------------------------------

#[test]
fn any_edit_of_an_approved_record_is_refused() {
    let before = approved();
    let (after, changes) = push_rd(&before, INSPECTOR, |rd| {
        set(rd, "village_name", json!("李家庄"), "王工");
        set(rd, "notes", json!("村口垃圾已清运"), "王工");
    });
    for role in Role::ALL {
        let v = check(Some(&before), &after, &changes, role);
        let f = found(&v);
        assert!(
            f.contains(&(Rule::ApprovedLocked, "data/village_name")),
            "{role}: {f:?}"
        );
        // Every character typed into a text is an operation: one violation names the text.
        assert!(
            f.contains(&(Rule::ApprovedLocked, "data/notes")),
            "{role}: {f:?}"
        );
        assert_eq!(refused_changes(&v).len(), 2, "{role}");
    }
}

#[test]
fn an_approved_sample_takes_new_custody_events_but_its_old_ones_stay_fixed() {
    let before = with_events(
        &with_custody(),
        &[EventKind::Submitted, EventKind::Approved],
    );
    assert_eq!(record_status(&before), Status::Approved);
    let (after, changes) = push_raw(&before, SAMPLER, |d| add_custody(d, "ev2", "李四"));
    assert_allowed(&check(Some(&before), &after, &changes, Role::Sampler));
    let (after, changes) = push_raw(&before, SAMPLER, |d| {
        let ev1 = obj(d, "custody/ev1");
        tx(d, |t| t.put(&ev1, "to_person", "王五"))
    });
    let f = check(Some(&before), &after, &changes, Role::Sampler);
    assert!(
        found(&f).contains(&(Rule::CustodyAppendOnly, "custody/ev1/to_person")),
        "{f:?}"
    );
    // Data stays locked.
    let (after, changes) = push_rd(&before, SAMPLER, |rd| {
        set(rd, "village_name", json!("李家庄"), "王工");
    });
    let f = check(Some(&before), &after, &changes, Role::Sampler);
    assert!(
        found(&f).contains(&(Rule::ApprovedLocked, "data/village_name")),
        "{f:?}"
    );
}

#[test]
fn a_supervisor_reopening_an_approved_record_is_allowed_but_not_a_field_user() {
    let before = approved();
    let (after, changes) = push_rd(&before, SUPERVISOR, |rd| {
        rd.add_event(EventKind::Reopened, Some("数据有误"), &by("组长", T0 + 30))
            .expect("reopen");
    });
    for role in [Role::Supervisor, Role::Admin] {
        assert_allowed(&check(Some(&before), &after, &changes, role));
    }
    for role in [Role::Inspector, Role::Sampler] {
        let v = check(Some(&before), &after, &changes, role);
        let f = found(&v);
        assert!(f.contains(&(Rule::ApprovedLocked, "events/2")), "{f:?}");
        assert!(f.contains(&(Rule::StatusByRole, "events/2/type")), "{f:?}");
    }
}

#[test]
fn a_supervisor_commenting_on_an_approved_record_is_allowed_but_not_a_field_user() {
    let before = approved();
    let (after, changes) = push_raw(&before, SUPERVISOR, |d| write_review(d, "r1", "抽查通过"));
    for role in [Role::Supervisor, Role::Admin] {
        assert_allowed(&check(Some(&before), &after, &changes, role));
    }
    let v = check(Some(&before), &after, &changes, Role::Inspector);
    let f = found(&v);
    assert!(f.contains(&(Rule::ApprovedLocked, "review/r1")), "{f:?}");
    assert!(
        f.contains(&(Rule::ReviewBySupervisor, "review/r1")),
        "{f:?}"
    );
}

#[test]
fn a_reopen_and_an_edit_in_one_push_refuse_the_edit_only() {
    let before = approved();
    let (after, changes) = push_rd(&before, SUPERVISOR, |rd| {
        rd.add_event(EventKind::Reopened, None, &by("组长", T0 + 30))
            .expect("reopen");
        set(rd, "village_name", json!("李家庄"), "组长");
    });
    assert_eq!(changes.len(), 2);
    let v = check(Some(&before), &after, &changes, Role::Supervisor);
    assert_eq!(found(&v), vec![(Rule::ApprovedLocked, "data/village_name")]);
    assert_eq!(refused_changes(&v), vec![changes[1].hash()]);
}

#[test]
fn an_approved_record_takes_no_other_event_nor_a_reopen_with_extra_type() {
    let before = approved();
    // A second event (not a reopen) by a supervisor is refused.
    let (after, changes) = push_raw(&before, SUPERVISOR, |d| {
        let events = obj(d, "events");
        tx(d, |t| {
            let e = t.insert_object(&events, 2, ObjType::Map)?;
            t.put(&e, "type", "returned")
        });
    });
    let v = check(Some(&before), &after, &changes, Role::Supervisor);
    assert!(
        found(&v).contains(&(Rule::ApprovedLocked, "events/2")),
        "{v:#?}"
    );
    // A "reopened" event whose type is then changed in the same push is no reopen.
    let (after, changes) = push_raw(&before, SUPERVISOR, |d| {
        let events = obj(d, "events");
        tx(d, |t| {
            let e = t.insert_object(&events, 2, ObjType::Map)?;
            t.put(&e, "type", "reopened")?;
            t.put(&e, "type", "approved")
        });
    });
    let v = check(Some(&before), &after, &changes, Role::Admin);
    assert!(
        found(&v).contains(&(Rule::ApprovedLocked, "events/2/type")),
        "{v:#?}"
    );
}

// --- meta_write_once ------------------------------------------------------------------------

#[test]
fn changing_meta_of_an_existing_record_is_refused() {
    let before = submitted();
    for (key, value) in [("org_unit", "999999"), ("kind", "soil_sample"), ("id", "x")] {
        let (after, changes) = push_raw(&before, SUPERVISOR, |d| {
            let m = obj(d, "meta");
            tx(d, |t| t.put(&m, key, value));
        });
        let path = format!("meta/{key}");
        for role in not_lab() {
            let v = check(Some(&before), &after, &changes, role);
            assert_eq!(
                found(&v),
                vec![(Rule::MetaWriteOnce, path.as_str())],
                "{role}"
            );
        }
    }
    // Adding a key that was not there is a write too.
    let (after, changes) = push_raw(&before, INSPECTOR, |d| {
        let m = obj(d, "meta");
        tx(d, |t| t.put(&m, "planned_point", "P-17"));
    });
    let v = check(Some(&before), &after, &changes, Role::Inspector);
    assert_eq!(found(&v), vec![(Rule::MetaWriteOnce, "meta/planned_point")]);
}

#[test]
fn replacing_or_deleting_a_root_container_is_refused() {
    let before = draft();
    let (after, changes) = push_raw(&before, INSPECTOR, |d| {
        tx(d, |t| {
            let data = t.put_object(ROOT, "data", ObjType::Map)?;
            t.put(&data, "village_name", "李家庄")
        });
    });
    for role in not_lab() {
        let v = check(Some(&before), &after, &changes, role);
        assert_eq!(found(&v), vec![(Rule::MetaWriteOnce, "data")], "{role}");
    }
    let (after, changes) = push_raw(&before, SUPERVISOR, |d| {
        tx(d, |t| t.delete(ROOT, "custody"));
        tx(d, |t| t.put(ROOT, "meta", "nothing"));
    });
    let v = check(Some(&before), &after, &changes, Role::Admin);
    assert_eq!(
        found(&v),
        vec![
            (Rule::MetaWriteOnce, "custody"),
            (Rule::MetaWriteOnce, "meta")
        ]
    );
}

#[test]
fn a_new_record_may_be_created_and_edited_in_one_push_by_a_field_user() {
    let mut rd = created_on(INSPECTOR);
    set(&mut rd, "village_name", json!("李家村"), "王工");
    rd.add_event(EventKind::Submitted, None, &by("王工", T0 + 20))
        .expect("submit");
    let after = as_automerge(&mut rd);
    let changes = new_changes(None, &after);
    assert_eq!(changes.len(), 3);
    for role in not_lab() {
        assert_allowed(&check(None, &after, &changes, role));
    }
}

#[test]
fn a_new_record_whose_meta_is_rewritten_after_creation_is_refused() {
    let mut rd = created_on(INSPECTOR);
    let created = as_automerge(&mut rd);
    let (after, _) = push_raw(&created, INSPECTOR, |d| {
        let m = obj(d, "meta");
        tx(d, |t| t.put(&m, "org_unit", "110101"));
    });
    let changes = new_changes(None, &after);
    assert_eq!(changes.len(), 2);
    let v = check(None, &after, &changes, Role::Inspector);
    assert_eq!(found(&v), vec![(Rule::MetaWriteOnce, "meta/org_unit")]);
    assert_eq!(v[0].change, changes[1].hash());
}

#[test]
fn a_new_record_created_with_review_content_by_a_field_user_is_refused() {
    let created = as_automerge(&mut created_on(INSPECTOR));
    let (after, _) = push_raw(&created, INSPECTOR, |d| write_review(d, "r1", "approve"));
    let changes = new_changes(None, &after);
    let v = check(None, &after, &changes, Role::Sampler);
    assert!(
        found(&v).contains(&(Rule::ReviewBySupervisor, "review/r1")),
        "{v:#?}"
    );
    assert_allowed(&check(None, &after, &changes, Role::Supervisor));
}

#[test]
fn a_new_record_creating_a_root_container_twice_is_refused() {
    let mut doc = Automerge::new().with_actor(actor(INSPECTOR));
    tx(&mut doc, |t| {
        t.put_object(ROOT, "events", ObjType::List)?;
        t.put_object(ROOT, "events", ObjType::List)?;
        t.put_object(ROOT, "review", ObjType::Text)?;
        Ok(())
    });
    let changes = new_changes(None, &doc);
    let v = check(None, &doc, &changes, Role::Inspector);
    assert_eq!(
        found(&v),
        vec![
            (Rule::MetaWriteOnce, "events"),
            (Rule::MetaWriteOnce, "review")
        ]
    );
}

// --- checking operations, not the resulting state ----------------------------------------

#[test]
fn a_review_write_that_lost_a_conflict_is_still_caught() {
    let base = submitted();
    // The supervisor writes r1 on the server; the inspector's tampered app writes r1 at the
    // same time, offline, under an actor id that loses the tie.
    let (before, _) = push_raw(&base, 0xFF, |d| {
        let review = obj(d, "review");
        tx(d, |t| t.put(&review, "r1", "approve"));
    });
    let (inspector, changes) = push_raw(&base, 0x01, |d| {
        let review = obj(d, "review");
        tx(d, |t| t.put(&review, "r1", "forged"));
    });
    assert_eq!(changes.len(), 1);
    let mut after = before.fork();
    after
        .apply_changes(changes.clone())
        .expect("the push applies");
    drop(inspector);
    let review = obj(&after, "review");
    // The state after the push shows nothing new: the forged value lost.
    let shown = after.get(&review, "r1").unwrap().unwrap().0;
    assert_eq!(shown.to_string(), "\"approve\"");
    assert_eq!(after.get_all(&review, "r1").unwrap().len(), 2);
    let v = check(Some(&before), &after, &changes, Role::Inspector);
    assert_eq!(found(&v), vec![(Rule::ReviewBySupervisor, "review/r1")]);
}

#[test]
fn a_forbidden_write_undone_later_in_the_same_push_is_still_caught() {
    let before = draft();
    let (after, changes) = push_raw(&before, INSPECTOR, |d| {
        write_review(d, "r9", "approve");
        let review = obj(d, "review");
        tx(d, |t| t.delete(&review, "r9"));
    });
    assert!(after.keys(obj(&after, "review")).next().is_none());
    let v = check(Some(&before), &after, &changes, Role::Inspector);
    assert_eq!(
        refused_changes(&v),
        vec![changes[0].hash(), changes[1].hash()]
    );
}

#[test]
fn changes_already_held_are_skipped_and_field_edits_pass() {
    let (before, _) = push_raw(&submitted(), SUPERVISOR, |d| {
        write_review(d, "r1", "return")
    });
    let before = with_events(&before, &[EventKind::Returned]);
    let (after, _) = push_rd(&before, INSPECTOR, |rd| {
        set(rd, "checklist.waste_bins.result", json!("pass"), "王工");
        rd.add_event(EventKind::Submitted, None, &by("王工", T0 + 40))
            .expect("resubmit");
    });
    // The whole history, as a device that resends everything would push it.
    let everything = after.get_changes(&[]);
    assert_allowed(&check(Some(&before), &after, &everything, Role::Inspector));
    assert_eq!(new_changes(Some(&before), &after).len(), 2);
}

#[test]
fn an_edit_inside_a_list_item_deleted_meanwhile_is_located() {
    // A list of maps in data, made earlier; the office deletes its item while a device,
    // offline, writes inside it; then the record is approved.
    let (base, _) = push_raw(&draft(), OFFICE, |d| {
        let data = obj(d, "data");
        tx(d, |t| {
            let list = t.put_object(&data, "layers", ObjType::List)?;
            let item = t.insert_object(&list, 0, ObjType::Map)?;
            t.put(&item, "depth_cm", 20)
        });
    });
    let (deleted, _) = push_raw(&base, OFFICE, |d| {
        let list = obj(d, "data/layers");
        tx(d, |t| t.delete(&list, 0));
    });
    let before = with_events(&deleted, &[EventKind::Submitted, EventKind::Approved]);
    let (_, changes) = push_raw(&base, INSPECTOR, |d| {
        let item = obj(d, "data/layers/0");
        tx(d, |t| t.put(&item, "depth_cm", 25));
    });
    let mut after = before.fork();
    after.apply_changes(changes.clone()).expect("applies");
    let v = check(Some(&before), &after, &changes, Role::Inspector);
    // The item is in neither document's list any more: its position is unknown.
    assert_eq!(
        found(&v),
        vec![(Rule::ApprovedLocked, "data/layers/?/depth_cm")]
    );
}

#[test]
fn a_long_text_typed_in_one_push_is_checked_by_its_path() {
    let text: String = "村口垃圾已清运，".repeat(2_500);
    let before = draft();
    let (after, changes) = push_rd(&before, INSPECTOR, |rd| {
        set(rd, "notes", json!(text), "王工")
    });
    assert!(changes.iter().map(Change::len).sum::<usize>() >= 20_000);
    assert_allowed(&check(Some(&before), &after, &changes, Role::Inspector));

    let before = approved();
    let (after, changes) = push_rd(&before, INSPECTOR, |rd| {
        set(rd, "notes", json!(text), "王工")
    });
    let v = check(Some(&before), &after, &changes, Role::Inspector);
    assert_eq!(found(&v), vec![(Rule::ApprovedLocked, "data/notes")]);
}

// --- bounds and crafted input -----------------------------------------------------------

#[test]
fn a_push_over_the_op_limit_is_refused_whole() {
    let after = as_automerge(&mut created_on(INSPECTOR));
    let changes = new_changes(None, &after);
    let limits = Limits {
        max_ops: 5,
        ..Limits::default()
    };
    let v = check_changes_with(&limits, None, &after, &changes, Role::Inspector);
    assert_eq!(found(&v), vec![(Rule::TooManyOps, "")]);
    assert_allowed(&check(None, &after, &changes, Role::Inspector));
}

#[test]
fn violations_per_change_are_capped() {
    let before = draft();
    let (after, changes) = push_raw(&before, INSPECTOR, |d| {
        let review = obj(d, "review");
        tx(d, |t| {
            for i in 0..100 {
                t.put(&review, format!("r{i}"), i)?;
            }
            Ok(())
        });
    });
    let limits = Limits {
        max_violations_per_change: 3,
        ..Limits::default()
    };
    let v = check_changes_with(&limits, Some(&before), &after, &changes, Role::Inspector);
    assert_eq!(v.len(), 3);
    assert_eq!(
        check(Some(&before), &after, &changes, Role::Inspector).len(),
        32
    );
}

#[test]
fn a_change_that_is_not_in_the_document_is_undecodable() {
    let before = draft();
    let (_, changes) = push_raw(&before, INSPECTOR, |d| write_review(d, "r1", "x"));
    // Checked against the document without the change: its objects cannot be found.
    let v = check(Some(&before), &before, &changes, Role::Supervisor);
    assert_eq!(found(&v), vec![(Rule::Undecodable, "")]);
    // A change of another record altogether.
    let other = as_automerge(&mut created_on(0x77));
    let foreign = new_changes(None, &other);
    let v = check(Some(&before), &before, &foreign, Role::Admin);
    assert_eq!(found(&v), vec![(Rule::Undecodable, "")]);
}

#[test]
fn an_operation_on_an_unknown_object_is_refused_not_a_panic() {
    let before = draft();
    let (_, changes) = push_raw(&before, INSPECTOR, |d| {
        let data = obj(d, "data");
        tx(d, |t| t.put(&data, "village_name", "李家村"));
    });
    let mut expanded = changes[0].decode();
    expanded.operations[0].obj =
        automerge::legacy::ObjectId::Id(automerge::legacy::OpId::new(9_999, &actor(0x99)));
    let crafted = guarded(|| Some(Change::from(expanded)));
    let Some(crafted) = crafted else {
        return; // automerge refuses to encode it: nothing to check
    };
    let mut after = before.fork();
    let applied = guarded(|| Some(after.apply_changes([crafted.clone()]).is_ok())).unwrap_or(false);
    let after = if applied { after } else { before.fork() };
    let v = check(
        Some(&before),
        &after,
        std::slice::from_ref(&crafted),
        Role::Inspector,
    );
    assert!(
        v.iter().all(|x| x.rule == Rule::Undecodable) && !v.is_empty(),
        "{v:#?}"
    );
}

#[test]
fn rule_codes_round_trip() {
    for r in Rule::ALL {
        assert_eq!(Rule::parse(r.as_str()), Some(r));
        assert_eq!(r.to_string(), r.as_str());
    }
    assert_eq!(Rule::parse("root"), None);
    assert_eq!(Rule::CustodyAppendOnly.as_str(), "custody_append_only");
}

#[test]
fn the_scope_and_status_of_a_record_are_read_from_its_document() {
    let doc = submitted();
    assert_eq!(
        record_scope(&doc),
        RecordScope {
            id: Some(RECORD_ID.into()),
            kind: Some("village_inspection".into()),
            org_unit: Some("320581".into()),
            assignment: Some("as-7".into()),
            author: Some("王工".into()),
        }
    );
    assert_eq!(record_status(&doc), Status::Submitted);
    assert_eq!(record_status(&draft()), Status::Draft);
    assert_eq!(record_scope(&Automerge::new()), RecordScope::default());
    assert_eq!(record_status(&Automerge::new()), Status::Draft);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Bytes from anywhere: whatever parses as a change is checked without a panic.
    #[test]
    fn garbage_changes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let before = draft();
        let mut candidates = vec![bytes.clone()];
        // Also a real change with bytes flipped.
        let (after, changes) = push_raw(&before, INSPECTOR, |d| write_review(d, "r1", "x"));
        let mut real = changes[0].raw_bytes().to_vec();
        for (i, b) in bytes.iter().enumerate().take(8) {
            let at = (*b as usize * 31 + i) % real.len();
            real[at] ^= b | 1;
        }
        candidates.push(real);
        for c in candidates {
            if let Ok(change) = Change::try_from(&c[..]) {
                let _ = check(Some(&before), &after, std::slice::from_ref(&change), Role::Inspector);
                let _ = check(None, &before, std::slice::from_ref(&change), Role::Admin);
            }
        }
    }
}

// --- the property: field work on a draft is never refused -------------------------------

const ITEMS: &[&str] = &["waste_bins", "clean_sewage"];

#[derive(Debug, Clone)]
enum Edit {
    Set(&'static str, Value),
    Clear(&'static str),
    AppendInspector(u8),
    TypeNotes(String),
    AddPhoto(u8),
    RemovePhoto(u8),
    AddCustody(u8),
    FixNewCustody(u8),
    Submit,
}

fn edit() -> impl Strategy<Value = Edit> {
    let field = prop_oneof![
        Just(("village_name", json!("李家村"))),
        Just(("village_name", json!("张家湾"))),
        Just(("township", json!("城关镇"))),
        Just(("eval_year", json!(2024))),
        (0..ITEMS.len(), prop_oneof![Just("pass"), Just("fail")]).prop_map(|(i, r)| {
            let path: &'static str = match i {
                0 => "checklist.waste_bins.result",
                _ => "checklist.clean_sewage.result",
            };
            (path, json!(r))
        }),
    ];
    prop_oneof![
        4 => field.prop_map(|(f, v)| Edit::Set(f, v)),
        1 => Just(Edit::Clear("village_name")),
        1 => (0..4u8).prop_map(Edit::AppendInspector),
        2 => "[a-z 村]{1,12}".prop_map(Edit::TypeNotes),
        2 => (0..3u8).prop_map(Edit::AddPhoto),
        1 => (0..3u8).prop_map(Edit::RemovePhoto),
        2 => (0..3u8).prop_map(Edit::AddCustody),
        1 => (0..3u8).prop_map(Edit::FixNewCustody),
        1 => Just(Edit::Submit),
    ]
}

fn photo(n: u8, who: &str) -> PhotoEntry {
    PhotoEntry {
        id: format!("0190b5d2-0000-7000-8000-0000000000{n:02}"),
        sha256: jingtu_model::PhotoHash::parse(&format!("{:064x}", n)).unwrap(),
        tag: "east".into(),
        field: None,
        list: None,
        taken_at_ms: T0,
        time_source: "device".into(),
        lat: Some(31.3),
        lon: Some(120.6),
        accuracy_m: Some(5.0),
        position_source: Some("device".into()),
        width: 640,
        height: 480,
        size: 1000,
        note: None,
        stamped: false,
        author: who.into(),
        device: "tablet-02".into(),
        added_at_ms: T0,
        removed: None,
    }
}

/// Applies one edit as the field user's app would; edits that do not apply (a second submit,
/// removing a photo that is not there) are skipped, as the app would refuse them.
fn apply(doc: Automerge, device: u8, edit: &Edit) -> Automerge {
    let who = "李工";
    let rd_edit = |f: &dyn Fn(&mut RecordDoc)| {
        let mut rd = record_doc(&doc, device);
        f(&mut rd);
        as_automerge(&mut rd)
    };
    match edit {
        Edit::Set(path, value) => rd_edit(&|rd| set(rd, path, value.clone(), who)),
        Edit::Clear(path) => rd_edit(&|rd| {
            let p = FieldPath::parse(path).unwrap();
            rd.clear(&VILLAGE, &p, &by(who, T0)).expect("clear");
        }),
        Edit::AppendInspector(n) => rd_edit(&|rd| {
            let p = FieldPath::parse("inspectors").unwrap();
            rd.append(&VILLAGE, &p, &json!(format!("检查员{n}")), &by(who, T0))
                .expect("append");
        }),
        Edit::TypeNotes(text) => rd_edit(&|rd| set(rd, "notes", json!(text), who)),
        Edit::AddPhoto(n) => rd_edit(&|rd| {
            let _ = rd.add_photo(&VILLAGE, &photo(*n, who), &by(who, T0));
        }),
        Edit::RemovePhoto(n) => rd_edit(&|rd| {
            let _ = rd.remove_photo(&VILLAGE, &photo(*n, who).id, &by(who, T0));
        }),
        Edit::Submit => rd_edit(&|rd| {
            let _ = rd.add_event(EventKind::Submitted, None, &by(who, T0));
        }),
        Edit::AddCustody(n) => {
            let mut doc = doc.fork().with_actor(actor(device));
            add_custody(&mut doc, &format!("ev-{device}-{n}"), "张三");
            doc
        }
        Edit::FixNewCustody(n) => {
            // Fixes a custody event this push added (not one the server has).
            let mut doc = doc.fork().with_actor(actor(device));
            let custody = obj(&doc, "custody");
            let mine: Vec<String> = doc
                .keys(&custody)
                .filter(|k| *k == format!("ev-{device}-{n}"))
                .collect();
            if let Some(k) = mine.first() {
                let ev = obj(&doc, &format!("custody/{k}"));
                tx(&mut doc, |t| t.put(&ev, "to_person", "赵六"));
            }
            doc
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn field_work_on_a_draft_is_never_refused(
        edits in prop::collection::vec(edit(), 0..10),
        new_record in any::<bool>(),
        sampler in any::<bool>(),
    ) {
        let role = if sampler { Role::Sampler } else { Role::Inspector };
        let device = if sampler { SAMPLER } else { INSPECTOR };
        // An existing draft (with a custody event and a supervisor's earlier return), or a
        // record made on the device in this push.
        let (before, start) = if new_record {
            (None, as_automerge(&mut created_on(device)))
        } else {
            let (b, _) = push_raw(&with_custody(), SUPERVISOR, |d| write_review(d, "r1", "看过"));
            (Some(b.fork()), b)
        };
        let mut doc = start;
        for e in &edits {
            doc = apply(doc, device, e);
        }
        let changes = new_changes(before.as_ref(), &doc);
        let v = check(before.as_ref(), &doc, &changes, role);
        prop_assert!(v.is_empty(), "{:#?}", v);
    }
}

// --- lab_results_by_lab ---------------------------------------------------------------------

const LAB: u8 = 0x33;

/// Lab results written as a lab's app writes them: the map under `data`, a value, the list of
/// items not detected.
fn enter_results(doc: &mut Automerge) {
    let data = obj(doc, "data");
    let existing = doc
        .get(&data, "lab_results")
        .expect("reads")
        .map(|(_, id)| id);
    tx(doc, |t| {
        let lab = match existing {
            Some(id) => id,
            None => t.put_object(&data, "lab_results", ObjType::Map)?,
        };
        t.put(&lab, "cd", 0.28)?;
        let nd = t.put_object(&lab, "not_detected", ObjType::List)?;
        t.insert(&nd, 0, "hg")?;
        Ok(())
    });
}

#[test]
fn lab_staff_enter_results_after_submission_and_approval_without_reopening() {
    for before in [draft(), submitted(), approved()] {
        let (after, changes) = push_raw(&before, LAB, enter_results);
        assert_allowed(&check(Some(&before), &after, &changes, Role::Lab));
        // A correction of the results, into the map that now exists.
        let (again, more) = push_raw(&after, LAB, |d| {
            let lab = obj(d, "data/lab_results");
            tx(d, |t| t.put(&lab, "cd", 0.31))
        });
        assert_allowed(&check(Some(&after), &again, &more, Role::Lab));
        // An admin may correct them too.
        assert_allowed(&check(Some(&after), &again, &more, Role::Admin));
    }
}

#[test]
fn only_lab_staff_write_lab_results() {
    let before = submitted();
    let (after, changes) = push_raw(&before, SAMPLER, enter_results);
    for role in [Role::Sampler, Role::Inspector, Role::Supervisor] {
        let f = check(Some(&before), &after, &changes, role);
        assert!(
            found(&f).contains(&(Rule::LabResultsByLab, "data/lab_results")),
            "{role}: {f:?}"
        );
    }
    // Inside an existing map, too.
    let (with, _) = push_raw(&before, LAB, enter_results);
    let (after, changes) = push_raw(&with, SAMPLER, |d| {
        let lab = obj(d, "data/lab_results");
        tx(d, |t| t.put(&lab, "pb", 12.0))
    });
    let f = check(Some(&with), &after, &changes, Role::Sampler);
    assert_eq!(
        found(&f),
        [(Rule::LabResultsByLab, "data/lab_results/pb")],
        "{f:?}"
    );
    let (after, changes) = push_raw(&with, SAMPLER, |d| {
        let nd = obj(d, "data/lab_results/not_detected");
        tx(d, |t| t.insert(&nd, 1, "as"))
    });
    let f = check(Some(&with), &after, &changes, Role::Sampler);
    assert!(
        found(&f)
            .iter()
            .all(|(r, p)| *r == Rule::LabResultsByLab && p.starts_with("data/lab_results")),
        "{f:?}"
    );
    assert!(!f.is_empty());
}

#[test]
fn lab_staff_write_nothing_but_results_and_custody_and_create_no_record() {
    let before = submitted();
    let (after, changes) = push_rd(&before, LAB, |rd| {
        set(rd, "village_name", json!("李家庄"), "检测员");
    });
    let f = check(Some(&before), &after, &changes, Role::Lab);
    assert_eq!(
        found(&f),
        [(Rule::LabResultsByLab, "data/village_name")],
        "{f:?}"
    );
    let (after, changes) = push_raw(&before, LAB, |d| add_custody(d, "ev9", "检测中心"));
    assert_allowed(&check(Some(&before), &after, &changes, Role::Lab));
    let mut fresh = created_on(LAB);
    let doc = as_automerge(&mut fresh);
    let changes = new_changes(None, &doc);
    let f = check(None, &doc, &changes, Role::Lab);
    assert!(
        found(&f).iter().any(|(r, _)| *r == Rule::LabResultsByLab),
        "{f:?}"
    );
    // A status event is not the lab's either.
    let (after, changes) = push_rd(&draft(), LAB, |rd| {
        rd.add_event(EventKind::Submitted, None, &by("检测员", T0 + 5))
            .expect("applies");
    });
    assert!(!check(Some(&draft()), &after, &changes, Role::Lab).is_empty());
}

#[test]
fn a_new_record_is_made_with_its_empty_lab_results_by_anyone_but_not_with_values() {
    let make = |values: bool| {
        let mut doc = Automerge::new().with_actor(actor(SAMPLER));
        tx(&mut doc, |t| {
            let data = t.put_object(ROOT, "data", ObjType::Map)?;
            let lab = t.put_object(&data, "lab_results", ObjType::Map)?;
            if values {
                t.put(&lab, "cd", 0.1)?;
            }
            Ok(())
        });
        let changes = new_changes(None, &doc);
        check(None, &doc, &changes, Role::Sampler)
    };
    assert!(
        !found(&make(false))
            .iter()
            .any(|(r, _)| *r == Rule::LabResultsByLab),
        "the empty map is the record's shape"
    );
    assert!(
        found(&make(true)).contains(&(Rule::LabResultsByLab, "data/lab_results/cd")),
        "values are the lab's"
    );
}
