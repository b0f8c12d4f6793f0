//! Every shipped template loads, every expression compiles, the code-table enums match their
//! tables, and every example record gives exactly the issues it names.

use std::path::PathBuf;

use jingtu_model::{FieldDef, Severity, TemplateSet};
use serde_json::{Value, json};

fn schemas() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

#[test]
fn builtin_templates_load() {
    let set = TemplateSet::builtin().expect("templates load");
    let kinds: Vec<String> = set.all().map(|t| t.kind.clone()).collect();
    for kind in [
        "village_inspection",
        "water_body_check",
        "soil_sample",
        "sewage_facility_inspection",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} missing");
    }
}

fn check_enums(def: &FieldDef, set: &TemplateSet, at: &str) {
    if let Some(table) = &def.codes {
        let table = set.code_tables().get(table).expect("table exists");
        let codes: Vec<&str> = table.codes.iter().map(|c| c.code.as_str()).collect();
        let enumerated = def
            .schema
            .get("enum")
            .or_else(|| def.schema.pointer("/items/enum"))
            .or_else(|| def.schema.pointer("/propertyNames/enum"));
        let listed: Vec<&str> = enumerated
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert_eq!(listed, codes, "enum of {at} differs from its code table");
    }
    for (k, child) in &def.properties {
        check_enums(child, set, &format!("{at}.{k}"));
    }
    if let Some(items) = &def.items {
        check_enums(items, set, &format!("{at}[]"));
    }
    if let Some(add) = &def.additional {
        check_enums(add, set, &format!("{at}.*"));
    }
}

#[test]
fn code_table_enums_match_their_tables() {
    let set = TemplateSet::builtin().unwrap();
    for t in set.all() {
        check_enums(&t.root, &set, &t.id());
    }
}

#[test]
fn examples_give_the_issues_they_name() {
    let set = TemplateSet::builtin().unwrap();
    let mut checked = 0;
    for t in set.all() {
        let dir = schemas().join("examples").join(t.id());
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let (mut valid, mut invalid) = (0, 0);
        for f in files {
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            let example: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let data = &example["data"];
            let eval = t.evaluate(data, &json!({"kind": t.kind}));
            let errors: Vec<(String, String)> = eval
                .errors()
                .map(|i| (i.path.clone(), i.code.clone()))
                .collect();
            let expected: Vec<(String, Severity)> = example["expect"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|e| {
                            let sev = match e["severity"].as_str() {
                                Some("warning") => Severity::Warning,
                                _ => Severity::Error,
                            };
                            (e["path"].as_str().unwrap_or_default().to_string(), sev)
                        })
                        .collect()
                })
                .unwrap_or_default();
            if name.starts_with("valid") {
                valid += 1;
                assert!(
                    errors.is_empty(),
                    "{}/{name}: unexpected errors {errors:?}",
                    t.id()
                );
                // Every computed field evaluates on a complete record.
                assert_eq!(
                    eval.computed.len(),
                    t.computed.len(),
                    "{}/{name}: computed {:?}",
                    t.id(),
                    eval.computed
                );
            } else {
                invalid += 1;
                assert!(!expected.is_empty(), "{name} names no expected issue");
            }
            for (path, sev) in &expected {
                assert!(
                    eval.issues
                        .iter()
                        .any(|i| &i.path == path && &i.severity == sev),
                    "{}/{name}: expected {sev:?} at {path}, got {:?}",
                    t.id(),
                    eval.issues
                );
            }
            if name.starts_with("invalid") {
                for (path, code) in &errors {
                    assert!(
                        expected
                            .iter()
                            .any(|(p, s)| p == path && *s == Severity::Error),
                        "{}/{name}: unexpected error {code} at {path}",
                        t.id()
                    );
                }
            }
            checked += 1;
        }
        assert!(
            valid >= 2 && invalid >= 4,
            "{}: {valid} valid, {invalid} invalid examples",
            t.id()
        );
    }
    assert!(checked >= 24);
}

#[test]
fn an_empty_draft_reports_missing_fields_and_zero_completion() {
    let set = TemplateSet::builtin().unwrap();
    let t = set.latest("soil_sample").unwrap();
    let eval = t.evaluate(&json!({}), &json!({}));
    assert!(
        eval.issues
            .iter()
            .any(|i| i.path == "sample_code" && i.code == "required")
    );
    assert_eq!(eval.completion_pct, 0.0);
    assert!(eval.required_total > 5);
}

#[test]
fn checklist_items_count_in_completion() {
    let set = TemplateSet::builtin().unwrap();
    let t = set.latest("village_inspection").unwrap();
    let items = set
        .code_tables()
        .get("village_checklist")
        .unwrap()
        .codes
        .len() as u32;
    let first = set.code_tables().get("village_checklist").unwrap().codes[0]
        .code
        .clone();
    let eval = t.evaluate(
        &json!({"checklist": {first: {"result": "pass"}}}),
        &json!({}),
    );
    assert!(eval.required_total >= items);
    assert_eq!(eval.required_done, 1);
}

#[test]
fn values_are_checked_against_the_field_schema() {
    use jingtu_model::{FieldPath, ModelError};
    let set = TemplateSet::builtin().unwrap();
    let t = set.latest("soil_sample").unwrap();
    let p = FieldPath::parse("fresh_weight_kg").unwrap();
    assert!(t.check_value(&p, &json!(1.2)).is_ok());
    assert!(matches!(
        t.check_value(&p, &json!("heavy")),
        Err(ModelError::InvalidValue { .. })
    ));
    let p = FieldPath::parse("land_use").unwrap();
    assert!(t.check_value(&p, &json!("paddy_0101")).is_ok());
    assert!(matches!(
        t.check_value(&p, &json!("moon")),
        Err(ModelError::InvalidValue { .. })
    ));
    let p = FieldPath::parse("no_such_field").unwrap();
    assert!(matches!(
        t.check_value(&p, &json!(1)),
        Err(ModelError::UnknownField { .. })
    ));
    let p = FieldPath::parse("lab_results.ph").unwrap();
    assert!(matches!(
        t.check_value(&p, &json!(15)),
        Err(ModelError::InvalidValue { .. })
    ));
    assert_eq!(t.parse_value(&p, "6.5").unwrap(), json!(6.5));
}

#[test]
fn the_soil_template_carries_its_qc_ratios_and_a_wrong_plan_is_refused() {
    let set = TemplateSet::builtin().unwrap();
    let soil = set.get("soil_sample", 1).unwrap();
    let plan = soil.quality_control();
    assert_eq!(plan.field_duplicate.max, Some(0.10));
    assert_eq!((plan.lab_duplicate.min, plan.crm_per_batch), (0.20, 1));
    let mut source = soil.source.clone();
    source["x-template"]["quality_control"]["blind_duplicate"]["min"] = json!(1.5);
    let err = jingtu_model::Template::from_value(
        "soil",
        source,
        std::sync::Arc::new(soil.code_tables().clone()),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("x-template.quality_control"), "{err}");
}

/// Issue 15: a village inspection with one of its checklist items inspected is not rectified,
/// whatever its indicators: the template's items never touched count as open.
#[test]
fn an_inspection_with_one_item_inspected_is_not_rectified() {
    let set = TemplateSet::builtin().unwrap();
    let t = set.get("village_inspection", 1).unwrap();
    let items: Vec<String> = t.root.child("checklist").unwrap().schema["propertyNames"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert!(items.len() >= 20, "{items:?}");
    let data = json!({
        "indicators": {"sewage_treatment_rate_pct": 75, "bow_remediation_rate_pct": 90,
                       "water_source_completion_pct": 95, "facility_status": "normal"},
        "resident_approval": true,
        "checklist": {items[0].clone(): {"result": "pass"}},
    });
    let e = t.evaluate(&data, &Value::Null);
    let r = &e.computed["rectification"];
    assert_eq!(r["rectified"], Value::Null, "{r}");
    assert_eq!(r["open_items"], items.len() - 1);
    // Each open item is an error on its own path: submitting waits for it.
    let open: Vec<&str> = e
        .errors()
        .filter(|i| i.code == "item_open")
        .map(|i| i.path.as_str())
        .collect();
    assert_eq!(open.len(), items.len() - 1);
    assert!(open.contains(&format!("checklist.{}", items[1]).as_str()));
    assert!(r.get("findings").is_none(), "findings move into the issues");
}

/// Issue 15: a typed sewage treatment rate that disagrees with the one computed from the
/// household counts by more than a point is flagged (a warning: the inspector checks it).
#[test]
fn a_typed_sewage_rate_off_the_household_counts_is_flagged() {
    let set = TemplateSet::builtin().unwrap();
    let t = set.get("village_inspection", 2).unwrap();
    let flagged = |typed: f64, total: u32, treated: u32| {
        let data = json!({"indicators": {"sewage_treatment_rate_pct": typed,
            "households_total": total, "households_sewage_treated": treated}});
        t.evaluate(&data, &Value::Null).issues.iter().any(|i| {
            i.code == "constraint"
                && i.message.zh.contains("按户数计算")
                && i.path == "indicators.sewage_treatment_rate_pct"
                && i.severity == Severity::Warning
        })
    };
    // 270 of 412 households is 65.53 %.
    assert!(!flagged(65.5, 412, 270));
    assert!(!flagged(66.5, 412, 270), "within a point of rounding");
    assert!(flagged(66.6, 412, 270));
    assert!(flagged(80.0, 412, 270));
    assert!(flagged(64.4, 412, 270));
    assert!(!flagged(80.0, 0, 0), "no households: nothing to compare");
}
