//! The CEL conditions and computed fields of templates (crates/model/src/expr.rs): arbitrary
//! text compiled by `Expr::compile` and evaluated with `value` bound to a fixed record's data,
//! then the same text as a template's computed field, cross-field constraint, field
//! constraint and relevance condition, evaluated over that data (`data`, `computed` and `meta`
//! bound as on a device).
#![no_main]

use std::sync::{Arc, LazyLock};

use jingtu_fuzz::{RECORD_DATA, RECORD_META};
use jingtu_model::{CodeTables, Expr, Template};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

static CODES: LazyLock<Arc<CodeTables>> = LazyLock::new(|| Arc::new(CodeTables::default()));

fuzz_target!(|data: &[u8]| {
    jingtu_fuzz::run(|| {
        let Ok(source) = std::str::from_utf8(data) else {
            return;
        };
        let Ok(expr) = Expr::compile(source) else {
            return;
        };
        let _ = expr.data_keys();
        let _ = expr.eval(&Default::default(), Some(&RECORD_DATA));
        let _ = expr.eval_bool(&Default::default(), None);

        let mut properties = serde_json::Map::new();
        if let Some(fields) = RECORD_DATA.as_object() {
            for key in fields.keys() {
                properties.insert(key.clone(), json!({}));
            }
        }
        properties.insert(
            "eval_year".into(),
            json!({"type": "integer", "x-relevant": source, "x-constraint": {"expr": source}}),
        );
        let template = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "x-template": {
                "kind": "fuzz",
                "version": 1,
                "label": "fuzz",
                "computed": [{"id": "c", "expr": source}],
                "constraints": [{"id": "k", "expr": source, "paths": ["eval_year"]}],
            },
            "properties": properties,
        });
        let t = Template::from_value("fuzz", template, CODES.clone())
            .expect("a template of an expression that compiles loads");
        let _ = t.evaluate(&RECORD_DATA, &RECORD_META);
    });
});
