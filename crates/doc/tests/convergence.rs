//! Property: however devices edit one record offline and in whatever order they meet, they end
//! with the same document, nobody's lone edit is lost, and every concurrent disagreement is
//! reported as a conflict naming the devices that wrote it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, LazyLock};

use jingtu_doc::{ActorId, ChangeHash, Editor, RecordDoc, RecordMeta};
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

/// The checklist item ids, from the template (which takes them from the code table).
static ITEMS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let checklist = VILLAGE
        .field(&FieldPath::parse("checklist").unwrap())
        .unwrap();
    let items = checklist
        .property_names
        .clone()
        .expect("the checklist is keyed by item ids");
    assert!(items.len() >= 20, "{items:?}");
    items
});

const NAMES: &[&str] = &["李家村", "李家庄", "张家湾", "东山村"];
const TOWNSHIPS: &[&str] = &["城关镇", "新桥镇", "白马乡"];
const OWNERS: &[&str] = &["李村长", "保洁员老陈", "王书记"];
const RESULTS: &[&str] = &["pass", "fail", "na"];

#[derive(Debug, Clone)]
enum Edit {
    Set(String, Value),
    Clear(String),
    /// Adds an inspector; the name is made from the device and a counter.
    Append,
}

fn item() -> impl Strategy<Value = String> {
    // Mostly the first few items, so that devices meet on the same ones.
    prop_oneof![0..3usize, 0..ITEMS.len()].prop_map(|i| ITEMS[i].clone())
}

fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("village_name".to_string()),
        Just("township".to_string()),
        Just("indicators.sewage_treatment_rate_pct".to_string()),
        Just("eval_year".to_string()),
        item().prop_map(|i| format!("checklist.{i}.result")),
        item().prop_map(|i| format!("checklist.{i}.owner")),
    ]
}

fn value_for(field: &str) -> BoxedStrategy<Value> {
    let pick = |list: &'static [&'static str]| {
        proptest::sample::select(list)
            .prop_map(|s| json!(s))
            .boxed()
    };
    match field {
        "village_name" => pick(NAMES),
        "township" => pick(TOWNSHIPS),
        "indicators.sewage_treatment_rate_pct" => prop_oneof![
            (0..=100i64).prop_map(|n| json!(n)),
            (0..=1000i64).prop_map(|n| json!(n as f64 / 10.0)),
        ]
        .boxed(),
        "eval_year" => (2000..=2100i64).prop_map(|n| json!(n)).boxed(),
        f if f.ends_with(".result") => pick(RESULTS),
        f if f.ends_with(".owner") => pick(OWNERS),
        f => unreachable!("no values for {f}"),
    }
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        5 => field().prop_flat_map(|f| value_for(&f).prop_map(move |v| Edit::Set(f.clone(), v))),
        2 => Just(Edit::Append),
        2 => field().prop_map(Edit::Clear),
    ]
}

#[derive(Debug, Clone)]
struct Scenario {
    /// One list of edits per device.
    devices: Vec<Vec<Edit>>,
    /// Random meetings (receiver, sender) before everyone exchanges everything.
    meetings: Vec<(usize, usize)>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec(prop::collection::vec(edit(), 0..12), 2..=4),
        prop::collection::vec((0..4usize, 0..4usize), 0..16),
    )
        .prop_map(|(devices, meetings)| Scenario { devices, meetings })
}

fn actor(device: usize) -> ActorId {
    ActorId::from(vec![device as u8 + 1; 16])
}

fn created() -> RecordDoc {
    let t = &**VILLAGE;
    let meta = RecordMeta {
        id: RECORD_ID.into(),
        kind: t.kind.clone(),
        template_version: t.version,
        org_unit: None,
        village: None,
        planned_point: None,
        assignment: None,
        author: "县环保局".into(),
        device: "office".into(),
        created_at_ms: T0,
    };
    let by = Editor {
        author: "县环保局".into(),
        time_ms: T0,
    };
    RecordDoc::create(ActorId::from(vec![0xC0; 16]), t, &meta, &by).expect("create")
}

fn sorted_heads(doc: &mut RecordDoc) -> Vec<ChangeHash> {
    let mut heads = doc.heads();
    heads.sort();
    heads
}

fn run(s: &Scenario) -> Result<(), TestCaseError> {
    let t = &**VILLAGE;
    let inspectors = FieldPath::parse("inspectors").unwrap();
    let mut office = created();
    let saved = office.save();
    let mut docs: Vec<RecordDoc> = (0..s.devices.len())
        .map(|d| RecordDoc::load(&saved, actor(d)).expect("a fork loads"))
        .collect();

    // What each device did last to each field: Some((value, time)) for a write, None for a
    // clear.
    type Word = Option<(Value, i64)>;
    let mut last: BTreeMap<String, BTreeMap<usize, Word>> = BTreeMap::new();
    let mut appended: Vec<Vec<String>> = vec![Vec::new(); docs.len()];
    for (d, edits) in s.devices.iter().enumerate() {
        let doc = &mut docs[d];
        for (k, e) in edits.iter().enumerate() {
            let by = Editor {
                author: format!("检查员{d}"),
                time_ms: T0 + 1000 * d as i64 + k as i64,
            };
            match e {
                Edit::Set(f, v) => {
                    let p = FieldPath::parse(f).unwrap();
                    t.check_value(&p, v)
                        .map_err(|e| TestCaseError::fail(format!("bad test value: {e}")))?;
                    doc.set(t, &p, v, &by)
                        .map_err(|e| TestCaseError::fail(format!("set {f}: {e}")))?;
                    let words = last.entry(f.clone()).or_default();
                    // Writing the value a field already holds makes no change (Automerge
                    // skips it), so the standing write keeps its time.
                    let at = match words.get(&d) {
                        Some(Some((same, at))) if same == v => *at,
                        _ => by.time_ms,
                    };
                    words.insert(d, Some((v.clone(), at)));
                }
                Edit::Clear(f) => {
                    let p = FieldPath::parse(f).unwrap();
                    doc.clear(t, &p, &by)
                        .map_err(|e| TestCaseError::fail(format!("clear {f}: {e}")))?;
                    last.entry(f.clone()).or_default().insert(d, None);
                }
                Edit::Append => {
                    let name = format!("检查员{d}-{k}");
                    let v = json!(name);
                    t.check_value(&inspectors.child_index(0), &v)
                        .map_err(|e| TestCaseError::fail(format!("bad test value: {e}")))?;
                    doc.append(t, &inspectors, &v, &by)
                        .map_err(|e| TestCaseError::fail(format!("append: {e}")))?;
                    appended[d].push(name);
                }
            }
        }
    }

    let n = docs.len();
    for &(to, from) in &s.meetings {
        let (to, from) = (to % n, from % n);
        if to == from {
            continue;
        }
        let bytes = docs[from].save();
        docs[to]
            .merge_bytes(&bytes)
            .map_err(|e| TestCaseError::fail(format!("merge {from} into {to}: {e}")))?;
    }
    let saves: Vec<Vec<u8>> = docs.iter_mut().map(|d| d.save()).collect();
    for (to, doc) in docs.iter_mut().enumerate() {
        for (from, bytes) in saves.iter().enumerate() {
            if from != to {
                doc.merge_bytes(bytes)
                    .map_err(|e| TestCaseError::fail(format!("merge {from} into {to}: {e}")))?;
            }
        }
    }

    // One document everywhere.
    let json0 = docs[0].to_json();
    let heads0 = sorted_heads(&mut docs[0]);
    let conflicts0 = docs[0].conflicts();
    for (d, doc) in docs.iter_mut().enumerate().skip(1) {
        prop_assert_eq!(&doc.to_json(), &json0, "device {} differs", d);
        prop_assert_eq!(&sorted_heads(doc), &heads0, "device {} has other heads", d);
        prop_assert_eq!(
            &doc.conflicts(),
            &conflicts0,
            "device {} sees other conflicts",
            d
        );
    }
    // Nothing went missing on the way: a device loading the merged record gets the same.
    let mut reloaded = RecordDoc::load(&docs[0].save(), ActorId::from(vec![0xEE; 16]))
        .map_err(|e| TestCaseError::fail(format!("reload: {e}")))?;
    prop_assert_eq!(&reloaded.to_json(), &json0);
    prop_assert_eq!(&sorted_heads(&mut reloaded), &heads0);

    let data = docs[0].data();
    let conflict_at: BTreeMap<&str, &jingtu_doc::Conflict> =
        conflicts0.iter().map(|c| (c.path.as_str(), c)).collect();
    for c in &conflicts0 {
        prop_assert_eq!(
            c.values.iter().filter(|v| v.shown).count(),
            1,
            "one value is shown at {}",
            &c.path
        );
    }

    // Every field: the lone writer's last word, or one of the concurrent words.
    let mut fields: BTreeSet<String> = ["village_name", "township", "eval_year"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    fields.insert("indicators.sewage_treatment_rate_pct".into());
    for i in ITEMS.iter() {
        fields.insert(format!("checklist.{i}.result"));
        fields.insert(format!("checklist.{i}.owner"));
    }
    for f in &fields {
        let p = FieldPath::parse(f).unwrap();
        let got = p.lookup(&data);
        let empty = BTreeMap::new();
        let writers = last.get(f).unwrap_or(&empty);
        // The devices whose last word on the field is a value.
        let words: Vec<(usize, &Value, i64)> = writers
            .iter()
            .filter_map(|(d, w)| w.as_ref().map(|(v, at)| (*d, v, *at)))
            .collect();
        match words.as_slice() {
            [] => prop_assert_eq!(got, None, "{} was never written or was cleared", f),
            [(_, v, _)] => prop_assert_eq!(got, Some(*v), "{} holds its only writer's value", f),
            many => {
                prop_assert!(
                    many.iter().any(|(_, v, _)| Some(*v) == got),
                    "{} holds {:?}, none of the written {:?}",
                    f,
                    got,
                    many
                );
                let distinct: BTreeSet<String> =
                    many.iter().map(|(_, v, _)| v.to_string()).collect();
                let conflict = conflict_at.get(f.as_str());
                if distinct.len() > 1 {
                    prop_assert!(
                        conflict.is_some(),
                        "{} holds different values but no conflict",
                        f
                    );
                }
                if let Some(c) = conflict {
                    // The conflict names exactly the devices whose value stands, with their
                    // values, authors and times.
                    type Named = (String, String, Option<String>, i64);
                    let mut want: Vec<Named> = many
                        .iter()
                        .map(|(d, v, at)| {
                            (
                                actor(*d).to_hex_string(),
                                v.to_string(),
                                Some(format!("检查员{d}")),
                                *at,
                            )
                        })
                        .collect();
                    let mut have: Vec<Named> = c
                        .values
                        .iter()
                        .map(|v| {
                            (
                                v.device.clone(),
                                v.value.to_string(),
                                v.author.clone(),
                                v.time_ms,
                            )
                        })
                        .collect();
                    want.sort();
                    have.sort();
                    prop_assert_eq!(have, want, "conflict at {}", f);
                    let shown = c.values.iter().find(|v| v.shown).map(|v| &v.value);
                    prop_assert_eq!(shown, got, "the shown value is the value read at {}", f);
                }
            }
        }
        if words.len() < 2 {
            prop_assert!(
                !conflict_at.contains_key(f.as_str()),
                "{} has a conflict though at most one device's value stands",
                f
            );
        }
    }
    // Conflicts arise only where the devices wrote.
    for c in &conflicts0 {
        prop_assert!(
            fields.contains(&c.path),
            "unexpected conflict at {}",
            &c.path
        );
    }

    // Every inspector added on any device is there once, each device's in its own order.
    let listed: Vec<String> = data
        .get("inspectors")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    let total: usize = appended.iter().map(Vec::len).sum();
    prop_assert_eq!(listed.len(), total, "inspectors: {:?}", &listed);
    for names in &appended {
        let positions: Vec<Option<usize>> = names
            .iter()
            .map(|n| listed.iter().position(|l| l == n))
            .collect();
        prop_assert!(
            positions.iter().all(Option::is_some),
            "missing one of {:?}",
            names
        );
        prop_assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "{:?} out of order in {:?}",
            names,
            &listed
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn devices_that_meet_in_any_order_converge(s in scenario()) {
        run(&s)?;
    }
}
