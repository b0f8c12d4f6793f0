//! Village rectification inspection (农村环境整治, domain.md section 3): a village counts as
//! newly rectified when the domestic sewage treatment rate is ≥ 60 %, the black-odorous water
//! remediation rate ≥ 80 % and the centralised drinking-water source standardisation ≥ 80 %
//! (criteria of the national rural environment rectification programme as restated in the
//! county plan), every checklist item (六清, 六乱, toilets, waste, sewage, water source) was
//! inspected and passed or does not apply, the sewage facilities are built and running
//! (`indicators.facility_status` normal) and the residents approve (群众认可, the programme's
//! "群众满意" condition). An item not inspected is open: the verdict waits for it, it is never
//! "rectified". The thresholds are parameters with these defaults; the template's checklist
//! items are given as `items` (an item never touched is absent from the data).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{code, get, num};

/// Result of one checklist item (code table `inspection_result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InspectionResult {
    Pass,
    Fail,
    Na,
}

/// What the rule reads from an inspection record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VillageInput {
    pub sewage_treatment_rate_pct: Option<f64>,
    pub bow_remediation_rate_pct: Option<f64>,
    pub water_source_completion_pct: Option<f64>,
    /// Checklist item id → its result (`None`: not yet inspected).
    pub checklist: BTreeMap<String, Option<InspectionResult>>,
    /// 群众认可.
    pub resident_approval: Option<bool>,
    /// Code table `facility_status` (`normal`, `intermittent`, `stopped`, ...).
    pub facility_status: Option<String>,
}

impl VillageInput {
    /// Reads `indicators.*` and `checklist.<item>.result`.
    pub fn from_data(data: &Value) -> Self {
        let pct = |key| num(data, &["indicators", key]);
        Self {
            sewage_treatment_rate_pct: pct("sewage_treatment_rate_pct"),
            bow_remediation_rate_pct: pct("bow_remediation_rate_pct"),
            water_source_completion_pct: pct("water_source_completion_pct"),
            checklist: get(data, &["checklist"])
                .and_then(Value::as_object)
                .map(|items| {
                    items
                        .iter()
                        .map(|(id, item)| (id.clone(), code(item, &["result"])))
                        .collect()
                })
                .unwrap_or_default(),
            resident_approval: get(data, &["resident_approval"]).and_then(Value::as_bool),
            facility_status: get(data, &["indicators", "facility_status"])
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    }
}

/// Thresholds (%), defaults from the programme's criteria.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VillageParams {
    pub sewage_min_pct: f64,
    pub bow_min_pct: f64,
    pub water_source_min_pct: f64,
    /// The template's checklist items: each must hold a result (none given: the items the
    /// data holds).
    pub items: Vec<String>,
}

impl Default for VillageParams {
    fn default() -> Self {
        Self {
            sewage_min_pct: 60.0,
            bow_min_pct: 80.0,
            water_source_min_pct: 80.0,
            items: Vec::new(),
        }
    }
}

/// Result; an indicator check is `null` when the indicator is missing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VillageResult {
    /// `true` when all three indicators meet their thresholds, every item passed or does
    /// not apply, the facilities run and the residents approve; `false` as soon as one of
    /// those is known to fail; otherwise `null` (an indicator, an item, the facilities' status
    /// or the residents' approval is still missing).
    pub rectified: Option<bool>,
    pub sewage_ok: Option<bool>,
    pub bow_ok: Option<bool>,
    pub water_source_ok: Option<bool>,
    /// Ids of the items whose result is `fail`, sorted.
    pub failed_items: Vec<String>,
    /// Number of checklist items without a result (the template's items absent from the
    /// data included).
    pub open_items: usize,
    /// The facilities are built and running (`null`: status not given).
    pub facilities_ok: Option<bool>,
    /// The residents approve (`null`: not recorded).
    pub residents_ok: Option<bool>,
}

/// Checks the three indicators and the checklist.
pub fn evaluate(input: &VillageInput, params: &VillageParams) -> VillageResult {
    let at_least = |v: Option<f64>, min: f64| v.map(|v| v >= min);
    let sewage_ok = at_least(input.sewage_treatment_rate_pct, params.sewage_min_pct);
    let bow_ok = at_least(input.bow_remediation_rate_pct, params.bow_min_pct);
    let water_source_ok = at_least(
        input.water_source_completion_pct,
        params.water_source_min_pct,
    );
    let failed_items: Vec<String> = input
        .checklist
        .iter()
        .filter(|(_, r)| **r == Some(InspectionResult::Fail))
        .map(|(id, _)| id.clone())
        .collect();
    let open_items = input.checklist.values().filter(|r| r.is_none()).count()
        + params
            .items
            .iter()
            .filter(|i| !input.checklist.contains_key(*i))
            .count();
    let facilities_ok = input.facility_status.as_deref().map(|s| s == "normal");
    let residents_ok = input.resident_approval;
    let checks = [
        sewage_ok,
        bow_ok,
        water_source_ok,
        facilities_ok,
        residents_ok,
    ];
    let rectified = if !failed_items.is_empty() || checks.contains(&Some(false)) {
        Some(false)
    } else if checks.contains(&None) || open_items > 0 {
        None
    } else {
        Some(true)
    };
    VillageResult {
        rectified,
        sewage_ok,
        bow_ok,
        water_source_ok,
        failed_items,
        open_items,
        facilities_ok,
        residents_ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::compute;
    use serde_json::json;

    fn indicators(sewage: f64, bow: f64, water: f64) -> VillageInput {
        VillageInput {
            sewage_treatment_rate_pct: Some(sewage),
            bow_remediation_rate_pct: Some(bow),
            water_source_completion_pct: Some(water),
            resident_approval: Some(true),
            facility_status: Some("normal".into()),
            ..Default::default()
        }
    }

    fn rectified(input: &VillageInput) -> Option<bool> {
        evaluate(input, &VillageParams::default()).rectified
    }

    #[test]
    fn thresholds_exactly() {
        assert_eq!(rectified(&indicators(60.0, 80.0, 80.0)), Some(true));
        let r = evaluate(&indicators(59.9, 80.0, 80.0), &VillageParams::default());
        assert_eq!(
            (r.rectified, r.sewage_ok, r.bow_ok),
            (Some(false), Some(false), Some(true))
        );
        assert_eq!(rectified(&indicators(60.0, 79.9, 80.0)), Some(false));
        assert_eq!(rectified(&indicators(60.0, 80.0, 79.9)), Some(false));
        assert_eq!(rectified(&indicators(100.0, 100.0, 100.0)), Some(true));
        let p = VillageParams {
            sewage_min_pct: 70.0,
            ..Default::default()
        };
        assert_eq!(
            evaluate(&indicators(60.0, 80.0, 80.0), &p).rectified,
            Some(false)
        );
    }

    #[test]
    fn missing_indicator_and_failed_items() {
        let missing = VillageInput {
            bow_remediation_rate_pct: None,
            ..indicators(60.0, 80.0, 80.0)
        };
        let r = evaluate(&missing, &VillageParams::default());
        assert_eq!((r.rectified, r.bow_ok), (None, None));
        // Already decided: one known indicator below its threshold.
        let below = VillageInput {
            bow_remediation_rate_pct: None,
            ..indicators(50.0, 80.0, 80.0)
        };
        assert_eq!(rectified(&below), Some(false));
        let mut failing = indicators(60.0, 80.0, 80.0);
        failing
            .checklist
            .insert("qing_laji".into(), Some(InspectionResult::Fail));
        failing
            .checklist
            .insert("luan_dui".into(), Some(InspectionResult::Pass));
        assert_eq!(rectified(&failing), Some(false));
    }

    #[test]
    fn through_compute_json() {
        let data = json!({
            "indicators": { "sewage_treatment_rate_pct": 65, "bow_remediation_rate_pct": 85.5,
                            "water_source_completion_pct": "80" },
            "checklist": {
                "z_item": { "result": "fail", "issue": "垃圾堆放" },
                "a_item": { "result": "fail" },
                "b_item": { "result": "pass" },
                "c_item": { "result": "na" },
                "d_item": { "issue": "未检查" },
                "e_item": { "result": "maybe" },
                "f_item": "junk"
            }
        });
        assert_eq!(
            compute("village_rectification", &data, None).unwrap(),
            json!({
                "rectified": false, "sewage_ok": true, "bow_ok": true, "water_source_ok": null,
                "failed_items": ["a_item", "z_item"], "open_items": 3,
                "facilities_ok": null, "residents_ok": null
            })
        );
        let data = json!({ "indicators": { "sewage_treatment_rate_pct": 60, "bow_remediation_rate_pct": 80,
                                           "water_source_completion_pct": 80,
                                           "facility_status": "normal" },
                           "resident_approval": true,
                           "checklist": { "x": { "result": "pass" }, "y": {} } });
        let out = compute("village_rectification", &data, None).unwrap();
        assert_eq!(
            (out["rectified"].as_bool(), out["open_items"].as_u64()),
            (None, Some(1)),
            "an item not inspected leaves the verdict open"
        );
        // The template's items, one never touched: open too.
        let params = json!({"items": ["x", "y", "w"]});
        let out = compute("village_rectification", &data, Some(&params)).unwrap();
        assert_eq!(out["open_items"], 2);
    }

    /// Issue 15's case, as a new user tried it: one of thirty items inspected (passed), the
    /// indicators above their thresholds, residents not approving and the sewage facility
    /// stopped. It was computed as rectified; it is not.
    #[test]
    fn one_item_of_thirty_residents_against_and_the_facility_stopped_is_not_rectified() {
        let items: Vec<String> = (1..=30).map(|i| format!("item_{i:02}")).collect();
        let params = VillageParams {
            items: items.clone(),
            ..Default::default()
        };
        let mut input = indicators(75.0, 90.0, 95.0);
        input
            .checklist
            .insert(items[0].clone(), Some(InspectionResult::Pass));
        // Everything else right: 29 items never inspected keep the verdict open.
        let r = evaluate(&input, &params);
        assert_eq!((r.rectified, r.open_items), (None, 29));
        input.resident_approval = Some(false);
        assert_eq!(evaluate(&input, &params).rectified, Some(false));
        input.resident_approval = Some(true);
        input.facility_status = Some("stopped".into());
        let r = evaluate(&input, &params);
        assert_eq!((r.rectified, r.facilities_ok), (Some(false), Some(false)));
        // All thirty inspected, passed or not applicable, facility running, residents
        // approving: rectified.
        input.facility_status = Some("normal".into());
        for (n, i) in items.iter().enumerate() {
            let result = if n % 7 == 3 {
                InspectionResult::Na
            } else {
                InspectionResult::Pass
            };
            input.checklist.insert(i.clone(), Some(result));
        }
        assert_eq!(evaluate(&input, &params).rectified, Some(true));
        // Facilities that are not running normally are not "built and running".
        for status in ["intermittent", "idle", "under_construction"] {
            input.facility_status = Some(status.into());
            assert_eq!(evaluate(&input, &params).rectified, Some(false), "{status}");
        }
        input.facility_status = None;
        assert_eq!(evaluate(&input, &params).rectified, None);
    }
}
