//! Village rectification inspection (农村环境整治, domain.md section 3): a village counts as
//! newly rectified when the domestic sewage treatment rate is ≥ 60 %, the black-odorous water
//! remediation rate ≥ 80 % and the centralised drinking-water source standardisation ≥ 80 %
//! (criteria of the national rural environment rectification programme as restated in the
//! county plan), and no checklist item (六清, 六乱, toilets, waste, sewage, water source) fails.
//! The thresholds are parameters with these defaults.

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
}

impl Default for VillageParams {
    fn default() -> Self {
        Self {
            sewage_min_pct: 60.0,
            bow_min_pct: 80.0,
            water_source_min_pct: 80.0,
        }
    }
}

/// Result; an indicator check is `null` when the indicator is missing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VillageResult {
    /// `true` when all three indicators meet their thresholds and no item fails; `false` as
    /// soon as one indicator is below its threshold or an item fails; otherwise `null`
    /// (an indicator is missing).
    pub rectified: Option<bool>,
    pub sewage_ok: Option<bool>,
    pub bow_ok: Option<bool>,
    pub water_source_ok: Option<bool>,
    /// Ids of the items whose result is `fail`, sorted.
    pub failed_items: Vec<String>,
    /// Number of checklist items present without a result.
    pub open_items: usize,
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
    let open_items = input.checklist.values().filter(|r| r.is_none()).count();
    let checks = [sewage_ok, bow_ok, water_source_ok];
    let rectified = if !failed_items.is_empty() || checks.contains(&Some(false)) {
        Some(false)
    } else if checks.contains(&None) {
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
                "failed_items": ["a_item", "z_item"], "open_items": 3
            })
        );
        let data = json!({ "indicators": { "sewage_treatment_rate_pct": 60, "bow_remediation_rate_pct": 80,
                                           "water_source_completion_pct": 80 },
                           "checklist": { "x": { "result": "pass" }, "y": {} } });
        let out = compute("village_rectification", &data, None).unwrap();
        assert_eq!(
            (out["rectified"].as_bool(), out["open_items"].as_u64()),
            (Some(true), Some(1))
        );
    }
}
