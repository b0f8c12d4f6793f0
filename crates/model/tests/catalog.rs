//! Templates and code tables received from a server (docs/sync-protocol.md, "Catalog"): who a
//! template is for, how a received set extends the built-in one, and which code-table changes a
//! server may publish.

use jingtu_model::{CodeTables, ModelError, Role, TemplateSet};
use serde_json::{Value, json};

fn builtin_text(kind: &str) -> String {
    let (templates, _) = TemplateSet::builtin_sources();
    templates
        .iter()
        .find(|(name, _)| name.starts_with(kind))
        .map(|(_, t)| t.to_string())
        .expect("built-in template")
}

/// The built-in `village_inspection.v1` as `version`, with one more text field.
fn next_version(version: u64, roles: Option<Value>) -> String {
    let mut v: Value = serde_json::from_str(&builtin_text("village_inspection")).unwrap();
    v["x-template"]["version"] = json!(version);
    match roles {
        Some(r) => v["x-template"]["roles"] = r,
        None => {
            v["x-template"].as_object_mut().unwrap().remove("roles");
        }
    }
    v["properties"]["weather"] =
        json!({"type": "string", "x-label": {"zh": "天气", "en": "Weather"}});
    v.to_string()
}

#[test]
fn roles_decide_who_a_template_is_for() {
    let set = TemplateSet::builtin().unwrap();
    let soil = set.latest("soil_sample").unwrap();
    assert_eq!(soil.roles, vec![Role::Sampler]);
    assert!(soil.is_for(Role::Sampler));
    assert!(!soil.is_for(Role::Inspector));
    assert!(soil.is_for(Role::Supervisor) && soil.is_for(Role::Admin));
    let village = set.latest("village_inspection").unwrap();
    assert!(village.is_for(Role::Inspector) && !village.is_for(Role::Sampler));

    // No roles: every field role.
    let mut set = TemplateSet::builtin().unwrap();
    let t = set.add_json("v3", &next_version(3, None)).unwrap();
    assert!(t.roles.is_empty() && t.is_for(Role::Sampler) && t.is_for(Role::Inspector));
}

#[test]
fn roles_must_be_field_roles() {
    let mut set = TemplateSet::builtin().unwrap();
    for bad in [json!(["supervisor"]), json!(["nobody"]), json!("inspector")] {
        let err = set
            .add_json("v3", &next_version(3, Some(bad.clone())))
            .unwrap_err();
        assert!(
            matches!(err, ModelError::BadTemplate { .. }) && err.to_string().contains("roles"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn received_templates_extend_the_builtin_set() {
    let received = vec![
        ("village_inspection.v3".to_string(), next_version(3, None)),
        // Not a template: left out with its reason, the rest loads.
        ("broken.v1".to_string(), "{not json".to_string()),
        // A kind and version the app knows: the built-in one stays.
        ("village_inspection.v2".to_string(), next_version(2, None)),
    ];
    let (set, skipped) = TemplateSet::assemble(None, &received).unwrap();
    let v3 = set.get("village_inspection", 3).unwrap();
    assert!(v3.root.property("weather").is_some());
    assert!(
        set.get("village_inspection", 2)
            .unwrap()
            .root
            .property("weather")
            .is_none()
    );
    assert_eq!(set.latest("village_inspection").unwrap().version, 3);
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].0, "broken.v1");
}

#[test]
fn received_code_tables_replace_tables_of_their_ids() {
    let (_, builtin_codes) = TemplateSet::builtin_sources();
    let mut codes: Value = serde_json::from_str(builtin_codes).unwrap();
    let (table, _) = codes
        .as_object()
        .unwrap()
        .iter()
        .next()
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap();
    codes[&table]["codes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"code": "zz_new", "zh": "新增", "en": "New"}));
    // Only the changed table is sent; the others stay built in.
    let only = json!({ table.clone(): codes[&table].clone() }).to_string();
    let (set, skipped) = TemplateSet::assemble(Some(&only), &[]).unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    assert!(set.code_tables().get(&table).unwrap().contains("zz_new"));
    let builtin = TemplateSet::builtin().unwrap();
    assert_eq!(
        set.code_tables().tables.len(),
        builtin.code_tables().tables.len()
    );

    // Tables sent emptied (a server older than the app): no code the app knows is lost.
    let mut emptied: Value = serde_json::from_str(builtin_codes).unwrap();
    for (_, t) in emptied.as_object_mut().unwrap() {
        t["codes"] = json!([]);
    }
    let (set, skipped) = TemplateSet::assemble(Some(&emptied.to_string()), &[]).unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(set.code_tables(), builtin.code_tables());

    // Not code tables at all: left out with the reason, the built-in ones stay.
    let (set, skipped) = TemplateSet::assemble(Some("[1, 2]"), &[]).unwrap();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].0, "code_tables");
    assert_eq!(set.code_tables(), builtin.code_tables());
}

#[test]
fn code_tables_may_grow_but_never_lose_a_code() {
    let (_, text) = TemplateSet::builtin_sources();
    let old = CodeTables::from_json(text).unwrap();
    let mut grown = old.clone();
    let first = grown.tables.keys().next().unwrap().clone();
    let mut extra = grown.tables[&first].codes[0].clone();
    extra.code = "zz_added".into();
    grown.tables.get_mut(&first).unwrap().codes.push(extra);
    old.check_successor(&grown).unwrap();

    let mut lost_code = old.clone();
    let removed = lost_code.tables.get_mut(&first).unwrap().codes.remove(0);
    let err = old.check_successor(&lost_code).unwrap_err().to_string();
    assert!(err.contains(&removed.code), "{err}");

    let mut lost_table = old.clone();
    lost_table.tables.remove(&first);
    let err = old.check_successor(&lost_table).unwrap_err().to_string();
    assert!(err.contains(&first), "{err}");
}
