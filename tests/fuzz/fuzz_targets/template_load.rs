//! Templates and code tables as the server takes them at `admin template publish` and
//! `admin code-tables publish` (server/src/catalog.rs) and as devices take them from the
//! catalog (`TemplateSet::assemble`): arbitrary bytes, as UTF-8 text when they are.
//!
//! A template that loads is then used as a device uses it: a record made from it
//! (`RecordDoc::create`, which builds its containers from the template's tree), record data
//! evaluated against it (validation, computed fields, CEL conditions), its fields looked up.
#![no_main]

use std::sync::{Arc, LazyLock};

use jingtu_doc::{ActorId, RecordDoc, RecordMeta};
use jingtu_fuzz::{RECORD_DATA, RECORD_META, by};
use jingtu_model::{CodeTables, FieldPath, Template, TemplateSet};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

static CODES: LazyLock<Arc<CodeTables>> = LazyLock::new(|| {
    Arc::new(CodeTables::from_json(TemplateSet::builtin_sources().1).expect("built-in code tables"))
});

fn use_template(t: &Template) {
    let _ = t.summary();
    let _ = t.evaluate(&RECORD_DATA, &RECORD_META);
    let _ = t.evaluate(&json!({}), &json!({}));
    for path in [
        "village_name",
        "checklist.clean_garbage.result",
        "inspectors.0",
        "a.b.c",
    ] {
        if let Ok(p) = FieldPath::parse(path)
            && let Ok(def) = t.field(&p)
        {
            let _ = def.check(&json!("x"));
            let _ = t.parse_value(&p, "12");
        }
    }
    let meta = RecordMeta {
        id: jingtu_fuzz::RECORD_ID.into(),
        kind: t.kind.clone(),
        template_version: t.version,
        org_unit: None,
        village: None,
        planned_point: None,
        assignment: None,
        author: "fuzz".into(),
        device: "fuzz".into(),
        created_at_ms: 0,
    };
    if let Ok(mut rd) = RecordDoc::create(ActorId::from(vec![1; 16]), t, &meta, &by("fuzz", 0)) {
        let saved = rd.save();
        let back = RecordDoc::load(&saved, ActorId::from(vec![2; 16]));
        assert!(
            back.is_ok(),
            "a record made from a template does not load: {back:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    jingtu_fuzz::run(|| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        // `admin template publish`: parsed over the code tables in force.
        if let Ok(t) = Template::parse("template", text, CODES.clone()) {
            use_template(&t);
        }
        // `admin code-tables publish`: parsed, then checked as a successor of the tables in
        // force; a device overlays what it receives over the built-in tables and loads the
        // built-in templates over them (costly: only for text that parses as code tables).
        if let Ok(next) = CodeTables::from_json(text) {
            let _ = CODES.check_successor(&next);
            let mut overlaid = (**CODES).clone();
            overlaid.overlay(next);
            if let Ok((set, _skipped)) = TemplateSet::assemble(Some(text), &[]) {
                let _ = set.latest("village_inspection");
            }
        }
    });
});
