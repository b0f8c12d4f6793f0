//! What the fuzz targets share: how a panic is judged, and the fixed records and values that
//! inputs are checked against. The seed generator (`examples/make_seeds.rs`) builds its seeds
//! from the same records, so seeds of changes apply to them.

use std::backtrace::Backtrace;
use std::cell::RefCell;
use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, LazyLock, Mutex, Once};

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc};
use jingtu_doc::{ActorId, Editor, EventKind, RecordDoc, RecordMeta};
use jingtu_model::{FieldPath, Template, TemplateSet};
use serde_json::{Value, json};

// --- panics ----------------------------------------------------------------------------------

thread_local! {
    static LAST_PANIC: RefCell<Option<(String, Backtrace)>> = const { RefCell::new(None) };
}

/// Runs the body of a fuzz target on one input.
///
/// A panic that the code under test catches itself is not a finding: jingtu-doc and
/// jingtu-policy run Automerge inside `catch_unwind` on purpose (crafted bytes reach asserts
/// there, debug assertions included, and the server answers them as corrupt pushes). A panic
/// that escapes is one: it is printed with where it happened (and its backtrace when
/// `RUST_BACKTRACE=1`), and the process aborts, which libFuzzer reports as a crash.
///
/// - `JINGTU_FUZZ_STRICT=1`: every panic, even a caught one, is a crash (libfuzzer-sys's hook
///   is kept), to look at what the catching hides.
/// - `JINGTU_FUZZ_SHOW_CAUGHT=1`: each new place a caught panic comes from is printed once.
pub fn run(body: impl FnOnce()) {
    install_hook();
    LAST_PANIC.with(|l| l.borrow_mut().take());
    if panic::catch_unwind(AssertUnwindSafe(body)).is_err() {
        let (message, backtrace) = LAST_PANIC
            .with(|l| l.borrow_mut().take())
            .unwrap_or_else(|| ("(no message)".into(), Backtrace::disabled()));
        eprintln!("==jingtu-fuzz== a panic escaped the code under test: {message}");
        match backtrace.status() {
            std::backtrace::BacktraceStatus::Captured => eprintln!("{backtrace}"),
            _ => eprintln!("(run the input again with RUST_BACKTRACE=1 for a backtrace)"),
        }
        std::process::abort();
    }
}

fn env_on(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0")
}

fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if env_on("JINGTU_FUZZ_STRICT") {
            return;
        }
        let show = env_on("JINGTU_FUZZ_SHOW_CAUGHT");
        let seen: Mutex<HashSet<String>> = Mutex::new(HashSet::new());
        panic::set_hook(Box::new(move |info| {
            let message = info.to_string();
            if show {
                let place = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                if seen.lock().map(|mut s| s.insert(place)).unwrap_or(false) {
                    eprintln!("==jingtu-fuzz== panic (caught or not): {message}");
                }
            }
            let backtrace = Backtrace::capture();
            LAST_PANIC.with(|l| *l.borrow_mut() = Some((message, backtrace)));
        }));
    });
}

// --- templates and records -------------------------------------------------------------------

/// The id of every record the seeds are made of, and of the fixed records.
pub const RECORD_ID: &str = "0190a000-0000-7000-8000-00000000f022";
/// When the fixed records were made (milliseconds since the epoch).
pub const T0: i64 = 1_720_000_000_000;

/// Devices (Automerge actors) of the fixed records and the seeds.
pub const OFFICE: u8 = 0xC0;
pub const INSPECTOR: u8 = 0x11;
pub const SAMPLER: u8 = 0x12;
pub const SUPERVISOR: u8 = 0x51;

pub static TEMPLATES: LazyLock<TemplateSet> =
    LazyLock::new(|| TemplateSet::builtin().expect("the built-in templates load"));

pub static VILLAGE: LazyLock<Arc<Template>> = LazyLock::new(|| {
    TEMPLATES
        .latest("village_inspection")
        .expect("village_inspection is built in")
});

pub fn actor(device: u8) -> ActorId {
    ActorId::from(vec![device; 16])
}

pub fn by(author: &str, time_ms: i64) -> Editor {
    Editor {
        author: author.to_string(),
        time_ms,
    }
}

pub fn meta() -> RecordMeta {
    RecordMeta {
        id: RECORD_ID.to_string(),
        kind: VILLAGE.kind.clone(),
        template_version: VILLAGE.version,
        org_unit: Some("411321102000".into()),
        village: Some("杨树沟村".into()),
        planned_point: None,
        assignment: Some("as-7".into()),
        author: "县办".into(),
        device: "office-01".into(),
        created_at_ms: T0,
    }
}

/// Writes `value` at `path` of a village inspection (a valid value: checked first).
pub fn set(rd: &mut RecordDoc, path: &str, value: Value, who: &str, at_ms: i64) {
    let p = FieldPath::parse(path).expect("a well-formed path");
    VILLAGE
        .check_value(&p, &value)
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    rd.set(&VILLAGE, &p, &value, &by(who, at_ms))
        .unwrap_or_else(|e| panic!("set {path}: {e}"));
}

/// The object at `path` (`/`-separated keys) of `doc`.
pub fn obj(doc: &AutoCommit, path: &str) -> ObjId {
    let mut at = ROOT;
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        at = match doc.get(&at, seg) {
            Ok(Some((automerge::Value::Object(_), id))) => id,
            other => panic!("no object at {path} ({seg}): {other:?}"),
        };
    }
    at
}

/// Commits what `doc` holds as one change at `time_ms` (never the clock: the fixed records
/// must come out the same at every build).
pub fn commit(doc: &mut AutoCommit, message: &str, time_ms: i64) {
    doc.commit_with(
        automerge::transaction::CommitOptions::default()
            .with_message(message.to_string())
            .with_time(time_ms),
    );
}

/// A custody event, as the sampler's app writes it.
pub fn add_custody(doc: &mut AutoCommit, id: &str, to_person: &str, at_ms: i64) {
    let custody = obj(doc, "custody");
    let e = doc
        .put_object(&custody, id, ObjType::Map)
        .expect("custody entry");
    doc.put(&e, "type", "handover").expect("put");
    doc.put(&e, "from_person", "李工").expect("put");
    doc.put(&e, "to_person", to_person).expect("put");
    doc.put(&e, "at", at_ms).expect("put");
    commit(doc, r#"{"by":"李采样","action":"custody"}"#, at_ms);
}

/// A supervisor's review entry, as the review pages write it.
pub fn write_review(doc: &mut AutoCommit, id: &str, decision: &str, at_ms: i64) {
    let review = obj(doc, "review");
    let r = doc
        .put_object(&review, id, ObjType::Map)
        .expect("review entry");
    doc.put(&r, "decision", decision).expect("put");
    doc.put(&r, "comment", "照片不清楚").expect("put");
    doc.put(&r, "by", "王审核").expect("put");
    commit(doc, r#"{"by":"王审核","action":"review"}"#, at_ms);
}

/// The fixed records pushes are applied to, as the server would hold them (saved documents).
pub struct Bases {
    /// A draft village inspection: made by the county office, some fields filled on an
    /// inspector's device, a custody event from a sampler, a review entry from a supervisor.
    pub draft: Vec<u8>,
    /// The same record submitted and then approved by a supervisor (locked).
    pub approved: Vec<u8>,
}

pub static BASES: LazyLock<Bases> = LazyLock::new(build_bases);

fn build_bases() -> Bases {
    let mut rd = RecordDoc::create(actor(OFFICE), &VILLAGE, &meta(), &by("县办", T0))
        .expect("a record is created");
    let mut rd = RecordDoc::load(&rd.save(), actor(INSPECTOR)).expect("the record loads");
    let t = T0 + 1_000;
    set(&mut rd, "village_name", json!("杨树沟村"), "李巡查", t);
    set(
        &mut rd,
        "admin_code",
        json!("411321102206"),
        "李巡查",
        t + 1,
    );
    set(&mut rd, "eval_year", json!(2024), "李巡查", t + 2);
    set(
        &mut rd,
        "inspectors",
        json!(["李巡查", "赵巡查"]),
        "李巡查",
        t + 3,
    );
    set(
        &mut rd,
        "checklist.clean_garbage",
        json!({"result": "fail", "issue": "村口堆放生活垃圾", "deadline": "2024-08-31", "owner": "村委会 张明"}),
        "李巡查",
        t + 4,
    );
    let mut doc = AutoCommit::load(&rd.save())
        .expect("a saved record loads")
        .with_actor(actor(SAMPLER));
    add_custody(&mut doc, "ev1", "张三", T0 + 2_000);
    doc.set_actor(actor(SUPERVISOR));
    write_review(&mut doc, "r1", "return", T0 + 3_000);
    let draft = doc.save();

    let mut rd = RecordDoc::load(&draft, actor(INSPECTOR)).expect("the draft loads");
    rd.add_event(EventKind::Submitted, None, &by("李巡查", T0 + 4_000))
        .expect("submitted");
    let mut rd = RecordDoc::load(&rd.save(), actor(SUPERVISOR)).expect("the record loads");
    rd.add_event(EventKind::Approved, Some("合格"), &by("王审核", T0 + 5_000))
        .expect("approved");
    let approved = rd.save();
    Bases { draft, approved }
}

// --- values for expressions ------------------------------------------------------------------

/// Record data to evaluate expressions over: the village inspection and the soil sample of
/// `schemas/examples`, their keys merged.
pub static RECORD_DATA: LazyLock<Value> = LazyLock::new(|| {
    let mut data = serde_json::Map::new();
    for text in [
        include_str!("../../../schemas/examples/soil_sample.v1/valid-early-warning-dryland.json"),
        include_str!(
            "../../../schemas/examples/village_inspection.v1/valid-county-self-first-half.json"
        ),
    ] {
        let example: Value = serde_json::from_str(text).expect("an example is JSON");
        if let Some(Value::Object(o)) = example.get("data") {
            data.extend(o.clone());
        }
    }
    Value::Object(data)
});

/// The `meta` expressions see.
pub static RECORD_META: LazyLock<Value> =
    LazyLock::new(|| serde_json::to_value(meta()).expect("meta is JSON"));
