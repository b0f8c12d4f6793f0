//! Pushes as the server takes them (server/src/api/sync.rs, `load_and_apply` and `decide`):
//! the change bytes measured by `check_expansion`, applied by `apply_untrusted` to no record
//! and to two fixed records (a draft, and the same record approved), and, when something new
//! arrived, judged by `jingtu_policy::check_changes` for the role that the first byte picks.
//! The rest of the input is the push. Also `RecordDoc::load` of the bytes (an import or a
//! device's copy of a record) and, with bit 3 of the first byte, a device applying the bytes as
//! a feed chunk (`RecordDoc::apply_changes`).
//!
//! Besides "no panic, bounded memory", what the server relies on is checked:
//! - the changes `apply_untrusted` hands to the policy are exactly the new ones;
//! - what `check_expansion` measured bounds the operations Automerge decoded;
//! - a push the policy allows leaves `meta` as it was, and, from a field user, leaves
//!   `review` and existing custody events as they were, adds no review events (approve,
//!   return, reopen), and changes nothing of an approved record but new custody events and,
//!   from lab staff, lab results; only lab staff (and admins) change `data/lab_results`, and
//!   lab staff change nothing else of `data`.
#![no_main]

use std::collections::BTreeSet;

use jingtu_doc::{
    ActorId, EventKind, ExpansionLimits, RecordDoc, apply_untrusted, check_expansion,
};
use jingtu_fuzz::{BASES, RECORD_ID};
use jingtu_model::Role;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// `JINGTU_FUZZ_VERBOSE=1`: print what became of each push (to check seeds).
static VERBOSE: std::sync::LazyLock<bool> =
    std::sync::LazyLock::new(|| std::env::var_os("JINGTU_FUZZ_VERBOSE").is_some());

const LIMITS: ExpansionLimits = ExpansionLimits {
    max_inflated_bytes: 8 << 20,
    max_ops: 200_000,
};

fn apply(base: Option<&[u8]>, incoming: &[u8], role: Role) {
    let measured = check_expansion(incoming, &LIMITS);
    let result = apply_untrusted(base, incoming, RECORD_ID, ActorId::random(), &LIMITS);
    if *VERBOSE {
        let base = base.map(|b| b.len());
        match &result {
            Ok(a) => eprintln!("base {base:?}: applied, {} new changes", a.new_changes),
            Err(e) => eprintln!("base {base:?}: {e}"),
        }
    }
    let mut applied = match (measured, result) {
        (Err(_), Ok(_)) => panic!("apply_untrusted took bytes that check_expansion refused"),
        (_, Err(_)) => return,
        (Ok(m), Ok(a)) => {
            let decoded: u64 = a.changes.iter().map(|c| c.len() as u64).sum();
            assert!(
                decoded <= m.ops,
                "check_expansion measured {} operations, Automerge decoded {decoded} new ones",
                m.ops
            );
            a
        }
    };
    // What `decide` reads of every applied push.
    let meta = applied.doc.meta();
    assert!(meta.is_ok(), "an applied record has no meta: {meta:?}");
    let _ = applied.doc.photos();
    if applied.new_changes == 0 {
        assert!(applied.new_bytes.is_empty());
        return;
    }
    let after_events = applied.doc.events();
    let before_events = applied
        .before
        .as_ref()
        .map(|b| b.events())
        .unwrap_or_default();
    let before_json = applied.before.as_ref().map(|b| b.to_json());
    let before_status = applied.before.as_ref().map(|b| b.status());
    let after_json = applied.doc.to_json();

    let before = applied.before.as_mut().map(|d| d.automerge());
    let after = applied.doc.automerge();
    // The changes handed to the policy are those the push brought, none left out.
    let found: BTreeSet<_> = jingtu_policy::new_changes(before, after)
        .iter()
        .map(|c| c.hash())
        .collect();
    let given: BTreeSet<_> = applied.changes.iter().map(|c| c.hash()).collect();
    assert_eq!(
        found, given,
        "apply_untrusted's changes are not the new ones"
    );

    let violations = jingtu_policy::check_changes(before, after, &applied.changes, role);
    if *VERBOSE {
        let first = violations.first().map(ToString::to_string);
        eprintln!("  {role:?}: {} violations {first:?}", violations.len());
    }
    let _ = jingtu_policy::refused_changes(&violations);
    let (true, Some(before_json)) = (violations.is_empty(), before_json) else {
        return;
    };
    // Allowed: what the rules promise must hold.
    assert_eq!(
        before_json.get("meta"),
        after_json.get("meta"),
        "an allowed push ({role:?}) changed meta"
    );
    if role.is_field() {
        assert_eq!(
            before_json.get("review"),
            after_json.get("review"),
            "an allowed push of a {role:?} changed the review"
        );
        let reviews = |events: &[jingtu_doc::StatusEvent]| {
            events
                .iter()
                .filter(|e| e.kind != EventKind::Submitted)
                .count()
        };
        assert_eq!(
            reviews(&before_events),
            reviews(&after_events),
            "an allowed push of a {role:?} added or removed a review event"
        );
        if before_status == Some(jingtu_doc::Status::Approved) {
            // An approved record takes nothing but new custody events (a sample's chain goes
            // on after approval; existing ones are checked unchanged below) and the lab's
            // results.
            let lab = role.enters_lab_results();
            let without_custody = |j: &Value| {
                let mut j = j.clone();
                if let Some(m) = j.as_object_mut() {
                    m.remove("custody");
                    if lab && let Some(Value::Object(d)) = m.get_mut("data") {
                        d.remove("lab_results");
                    }
                }
                j
            };
            assert_eq!(
                without_custody(&before_json),
                without_custody(&after_json),
                "an allowed push of a {role:?} changed an approved record"
            );
        }
    }
    let lab_results = |j: &Value| j.get("data").and_then(|d| d.get("lab_results")).cloned();
    if !role.enters_lab_results() {
        assert_eq!(
            lab_results(&before_json),
            lab_results(&after_json),
            "an allowed push of a {role:?} changed the lab results"
        );
    }
    if role == Role::Lab {
        let data_but_results = |j: &Value| {
            let mut d = j.get("data").cloned().unwrap_or(Value::Null);
            if let Some(m) = d.as_object_mut() {
                m.remove("lab_results");
            }
            d
        };
        assert_eq!(
            data_but_results(&before_json),
            data_but_results(&after_json),
            "an allowed push of lab staff changed data other than the lab results"
        );
    }
    let custody = |j: &Value| j.get("custody").and_then(Value::as_object).cloned();
    if let Some(old) = custody(&before_json) {
        let new = custody(&after_json).unwrap_or_default();
        for (id, entry) in old {
            assert_eq!(
                Some(&entry),
                new.get(&id),
                "an allowed push ({role:?}) changed custody event {id}"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    jingtu_fuzz::run(|| {
        let Some((&select, incoming)) = data.split_first() else {
            return;
        };
        let role = Role::ALL[usize::from(select) % Role::ALL.len()];
        apply(None, incoming, role);
        apply(Some(&BASES.draft), incoming, role);
        apply(Some(&BASES.approved), incoming, role);

        if let Ok(mut doc) = RecordDoc::load(incoming, ActorId::random()) {
            let _ = doc.meta();
            let _ = doc.to_json();
            let _ = doc.status();
            let _ = doc.photos();
            let _ = doc.conflicts();
            let _ = doc.history();
        }
        if select & 8 != 0
            && let Ok(mut device) = RecordDoc::load(&BASES.draft, ActorId::random())
        {
            let _ = device.apply_changes(incoming);
        }
    });
});
