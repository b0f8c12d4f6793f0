//! Property: every form in which a record travels (a whole document, compressed or not; the
//! changes after some heads; a change compressed alone) passes the expansion guard, which
//! counts at least as many operations as the document holds; and a limit just below what a
//! record needs refuses it.

use std::sync::{Arc, LazyLock};

use jingtu_doc::{ActorId, DocError, Editor, ExpansionLimits, RecordDoc, RecordMeta};
use jingtu_model::{FieldPath, Template, TemplateSet};
use proptest::prelude::*;
use serde_json::{Value, json};

const RECORD_ID: &str = "0190b5d2-7c4e-7a31-9f1e-3c2a5b6d7e8f";
const T0: i64 = 1_720_000_000_000;

static VILLAGE: LazyLock<Arc<Template>> = LazyLock::new(|| {
    TemplateSet::builtin()
        .expect("the builtin templates load")
        .latest("village_inspection")
        .expect("village_inspection exists")
});

static ITEMS: LazyLock<Vec<String>> = LazyLock::new(|| {
    VILLAGE
        .field(&FieldPath::parse("checklist").unwrap())
        .unwrap()
        .property_names
        .clone()
        .expect("the checklist is keyed by item ids")
});

#[derive(Debug, Clone)]
enum Edit {
    Name(String),
    Issue(usize, String),
    Result(usize, &'static str),
    Rate(u32),
    Append(String),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        "[a-z李家村张湾]{0,40}".prop_map(Edit::Name),
        (0..30usize, "[a-z垃圾堆放 ]{0,300}").prop_map(|(i, t)| Edit::Issue(i, t)),
        (0..30usize, prop::sample::select(vec!["pass", "fail", "na"]))
            .prop_map(|(i, r)| Edit::Result(i, r)),
        (0..=100u32).prop_map(Edit::Rate),
        "[a-z王李]{1,8}".prop_map(Edit::Append),
    ]
}

fn apply(doc: &mut RecordDoc, edit: &Edit, n: i64) {
    let who = Editor {
        author: "王工".into(),
        time_ms: T0 + n,
    };
    let t = &VILLAGE;
    let (at, value): (String, Value) = match edit {
        Edit::Name(s) if s.is_empty() => return,
        Edit::Name(s) => ("village_name".into(), json!(s)),
        Edit::Issue(i, s) if s.is_empty() => (
            format!("checklist.{}.result", ITEMS[i % ITEMS.len()]),
            json!("fail"),
        ),
        Edit::Issue(i, s) => (
            format!("checklist.{}.issue", ITEMS[i % ITEMS.len()]),
            json!(s),
        ),
        Edit::Result(i, r) => (
            format!("checklist.{}.result", ITEMS[i % ITEMS.len()]),
            json!(r),
        ),
        Edit::Rate(r) => ("indicators.sewage_treatment_rate_pct".into(), json!(r)),
        Edit::Append(name) => {
            let p = FieldPath::parse("inspectors").unwrap();
            doc.append(t, &p, &json!(name), &who).expect("append");
            return;
        }
    };
    let p = FieldPath::parse(&at).unwrap();
    if t.check_value(&p, &value).is_ok() {
        doc.set(t, &p, &value, &who).expect("set");
    }
}

fn record(edits: &[Edit]) -> RecordDoc {
    let t = &VILLAGE;
    let meta = RecordMeta {
        id: RECORD_ID.into(),
        kind: t.kind.clone(),
        template_version: t.version,
        org_unit: Some("411321100000".into()),
        village: Some("李家村".into()),
        planned_point: None,
        assignment: None,
        author: "王工".into(),
        device: "phone-01".into(),
        created_at_ms: T0,
    };
    let who = Editor {
        author: "王工".into(),
        time_ms: T0,
    };
    let mut doc = RecordDoc::create(ActorId::from(vec![1; 16]), t, &meta, &who).expect("create");
    for (n, e) in edits.iter().enumerate() {
        apply(&mut doc, e, n as i64);
    }
    doc
}

/// Operations the document holds, as Automerge counts them.
fn ops_of(doc: &mut RecordDoc) -> u64 {
    doc.automerge()
        .get_changes(&[])
        .iter()
        .map(|c| c.len() as u64)
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_form_of_a_record_passes_and_is_counted_in_full(
        edits in prop::collection::vec(edit(), 0..40),
        split in 0usize..40,
    ) {
        let limits = ExpansionLimits::DEFAULT;
        let split = split.min(edits.len());
        let mut doc = record(&edits[..split]);
        let heads = doc.heads();
        for (n, e) in edits[split..].iter().enumerate() {
            apply(&mut doc, e, (split + n) as i64);
        }
        let ops = ops_of(&mut doc);
        for (form, bytes) in [("document", doc.save()), ("plain document", doc.save_uncompressed())] {
            let seen = jingtu_doc::check_expansion(&bytes, &limits)
                .unwrap_or_else(|e| panic!("{form}: {e}"));
            prop_assert!(seen.ops >= ops, "{form}: counted {} of {ops} ops", seen.ops);
            let tight = ExpansionLimits { max_ops: seen.ops - 1, ..limits };
            prop_assert!(matches!(
                jingtu_doc::check_expansion(&bytes, &tight),
                Err(DocError::Expands(_))
            ));
        }
        // The changes after the split, as a device pushes them; and each alone, compressed
        // as Automerge compresses a large change.
        let after = doc.save_after(&heads);
        jingtu_doc::check_expansion(&after, &limits).expect("changes after heads");
        let mut changes = doc.automerge().get_changes(&[]);
        for c in &mut changes {
            let n = c.len() as u64;
            let bytes = c.bytes().into_owned();
            let seen = jingtu_doc::check_expansion(&bytes, &limits).expect("one change");
            prop_assert!(seen.ops >= n, "counted {} of {n} ops", seen.ops);
            jingtu_doc::check_expansion(c.raw_bytes(), &limits).expect("one raw change");
        }
        let mut inflated_limit = limits;
        inflated_limit.max_inflated_bytes = 0;
        let packed = doc.save();
        let plain = doc.save_uncompressed();
        if packed != plain {
            prop_assert!(matches!(
                jingtu_doc::check_expansion(&packed, &inflated_limit),
                Err(DocError::Expands(_))
            ));
        }
        prop_assert!(jingtu_doc::check_expansion(&plain, &inflated_limit).is_ok());
        // What passes loads.
        let loaded = RecordDoc::load(&packed, ActorId::random());
        prop_assert!(loaded.is_ok());
    }
}
