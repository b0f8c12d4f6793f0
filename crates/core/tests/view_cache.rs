//! The record view served from memory after each edit is the same as the record read afresh
//! from the store: the cache that keeps edits fast never drifts from the document.

use jingtu_core::{DeviceCore, ItemResult, NewRecordPlace};
use proptest::prelude::*;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
enum Edit {
    Set(&'static str, Value),
    Clear(&'static str),
    Append(&'static str, Value),
    Item(&'static str, ItemResult, Option<&'static str>),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0..3usize, "[a-z]{1,8}").prop_map(|(i, s)| {
            let path = ["village_name", "township", "notes"][i];
            Edit::Set(path, json!(s))
        }),
        (0.0..100.0f64).prop_map(|x| Edit::Set("indicators.sewage_treatment_rate_pct", json!(x))),
        (2020..2030i64).prop_map(|y| Edit::Set("eval_year", json!(y))),
        Just(Edit::Set("position", json!({"lat": 33.49, "lon": 112.43}))),
        (0..4usize).prop_map(|i| Edit::Clear(
            [
                "township",
                "indicators.sewage_treatment_rate_pct",
                "inspectors.0",
                "position.lat"
            ][i]
        )),
        "[a-z]{1,6}".prop_map(|s| Edit::Append("inspectors", json!(s))),
        (0..3usize, 0..3usize, any::<bool>()).prop_map(|(i, r, note)| Edit::Item(
            ["clean_garbage", "clean_sewage", "toilet_septic_intact"][i],
            ItemResult::ALL[r],
            note.then_some("问题")
        )),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn the_view_after_edits_equals_a_fresh_read(edits in prop::collection::vec(edit(), 1..25)) {
        let dir = tempfile::tempdir().unwrap();
        let (id, cached) = {
            let core = DeviceCore::open(dir.path()).unwrap();
            let id = core
                .create_record("village_inspection", &NewRecordPlace::default())
                .unwrap()
                .id;
            for e in &edits {
                // Some edits are refused (clearing a missing item is a no-op, not an error);
                // refused or not, the cache must match the store.
                let _ = match e {
                    Edit::Set(p, v) => core.set_field(&id, p, v).map(|_| ()),
                    Edit::Clear(p) => core.clear_field(&id, p),
                    Edit::Append(p, v) => core.append_item(&id, p, v).map(|_| ()),
                    Edit::Item(item, result, note) => {
                        core.set_checklist_item(&id, item, *result, *note)
                    }
                };
            }
            let v = core.view(&id).unwrap();
            (id, (v.data, v.completion_pct, v.issues.len()))
        };
        let core = DeviceCore::open(dir.path()).unwrap();
        let fresh = core.view(&id).unwrap();
        prop_assert_eq!(&cached.0, &fresh.data);
        prop_assert_eq!(cached.1, fresh.completion_pct);
        prop_assert_eq!(cached.2, fresh.issues.len());
        let listed = core.list(&Default::default()).unwrap();
        prop_assert_eq!(listed[0].completion_pct, fresh.completion_pct);
    }
}
