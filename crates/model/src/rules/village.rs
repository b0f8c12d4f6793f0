//! Village rectification inspection (农村环境整治, domain.md section 3): a village counts as
//! newly rectified when the domestic sewage treatment rate is ≥ 60 %, the black-odorous water
//! remediation rate ≥ 80 % and the centralised drinking-water source standardisation ≥ 80 %
//! (criteria of the national rural environment rectification programme as restated in the
//! county plan), every checklist item (六清, 六乱, toilets, waste, sewage, water source) was
//! inspected and passed or does not apply, the sewage facilities are built and running
//! (`indicators.facility_status` normal) and the residents approve (群众认可, the programme's
//! "群众满意" condition). An item not inspected is open: the verdict waits for it, it is never
//! "rectified", and it is an error of the record (a draft may stay incomplete; submitting
//! waits). A failed item needs a photo of it (domain.md section 3: "photos (before/after from
//! the same spot)"), besides the issue, deadline and owner the template requires. The thresholds are parameters with these defaults; the template's checklist
//! items are given as `items` (an item never touched is absent from the data).
//!
//! Evaluation rounds are half-yearly (domain.md section 3, the plan): the first half-year is
//! evaluated by the end of August, the second by the end of December. An inspection's date
//! must fall in its evaluation year, and in January–August for the first half-year or
//! July–December for the second (a second-half evaluation before the half-year began
//! evaluates nothing; July and August may hold either round).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{code, date, finding, get, num};
use crate::{Issue, Severity};

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
    /// Checklist items that list at least one photo.
    pub items_with_photos: Vec<String>,
    /// 群众认可.
    pub resident_approval: Option<bool>,
    /// Code table `facility_status` (`normal`, `intermittent`, `stopped`, ...).
    pub facility_status: Option<String>,
    /// The evaluation round: year and half-year (1 or 2).
    pub eval_year: Option<i64>,
    pub eval_half: Option<i64>,
    /// The inspection's calendar date (from `inspected_at`, as written).
    pub inspected_on: Option<(i32, u32, u32)>,
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
            items_with_photos: get(data, &["checklist"])
                .and_then(Value::as_object)
                .map(|items| {
                    items
                        .iter()
                        .filter(|(_, item)| {
                            get(item, &["photos"])
                                .and_then(Value::as_array)
                                .is_some_and(|p| !p.is_empty())
                        })
                        .map(|(id, _)| id.clone())
                        .collect()
                })
                .unwrap_or_default(),
            resident_approval: get(data, &["resident_approval"]).and_then(Value::as_bool),
            facility_status: get(data, &["indicators", "facility_status"])
                .and_then(Value::as_str)
                .map(str::to_string),
            eval_year: get(data, &["eval_year"]).and_then(Value::as_i64),
            eval_half: get(data, &["eval_half"]).and_then(Value::as_i64),
            inspected_on: date(data, &["inspected_at"]),
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
    /// The inspection date lies in its evaluation round's window (`null`: year, half-year or
    /// date missing).
    pub round_dates_ok: Option<bool>,
    /// Issues of the record: every open item, a failed item without a photo, a date outside
    /// its round (errors: they block submitting).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Issue>,
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
    let mut findings: Vec<Issue> = input
        .checklist
        .iter()
        .filter(|(_, r)| r.is_none())
        .map(|(id, _)| id)
        .chain(
            params
                .items
                .iter()
                .filter(|i| !input.checklist.contains_key(*i)),
        )
        .map(|id| {
            finding(
                format!("checklist.{id}"),
                Severity::Error,
                "item_open",
                "该检查项尚未检查：请填写检查结果（合格、不合格或不适用）".into(),
                "This item is not inspected yet: give its result (pass, fail or n/a)".into(),
            )
        })
        .collect();
    for id in &failed_items {
        if !input.items_with_photos.contains(id) {
            findings.push(finding(
                format!("checklist.{id}.photos"),
                Severity::Error,
                "failed_item_photo",
                "不合格项须拍照留证（整改前照片）".into(),
                "A failed item needs a photo of it (before rectification)".into(),
            ));
        }
    }
    let round_dates_ok = round_window(input, &mut findings);
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
        round_dates_ok,
        findings,
    }
}

/// Whether the inspection date agrees with the evaluation year and half-year; a finding on
/// `inspected_at` when it does not.
fn round_window(input: &VillageInput, findings: &mut Vec<Issue>) -> Option<bool> {
    let ((year, month, _), eval_year, half) =
        (input.inspected_on?, input.eval_year?, input.eval_half?);
    let (first, last, zh_window, en_window) = match half {
        1 => (
            1,
            8,
            "上半年评估应在当年1月至8月底完成",
            "a first-half evaluation is done between January and the end of August",
        ),
        2 => (
            7,
            12,
            "下半年评估应在当年7月至12月底完成",
            "a second-half evaluation is done between July and the end of December",
        ),
        _ => return None,
    };
    let ok = i64::from(year) == eval_year && (first..=last).contains(&month);
    if !ok {
        findings.push(finding(
            "inspected_at",
            Severity::Error,
            "round_dates",
            format!("检查日期 {year}年{month}月 与评估轮次（{eval_year}年第{half}半年）不符：{zh_window}"),
            format!("The inspection date ({year}-{month:02}) does not agree with the round ({eval_year}, half-year {half}): {en_window}"),
        ));
    }
    Some(ok)
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
        let mut out = compute("village_rectification", &data, None).unwrap();
        let findings = out.as_object_mut().unwrap().remove("findings").unwrap();
        assert_eq!(
            out,
            json!({
                "rectified": false, "sewage_ok": true, "bow_ok": true, "water_source_ok": null,
                "failed_items": ["a_item", "z_item"], "open_items": 3,
                "facilities_ok": null, "residents_ok": null, "round_dates_ok": null
            })
        );
        let paths: Vec<&str> = findings
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap())
            .collect();
        assert_eq!(
            paths,
            [
                "checklist.d_item",
                "checklist.e_item",
                "checklist.f_item",
                "checklist.a_item.photos",
                "checklist.z_item.photos"
            ]
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

    /// Every open item is an error of its own (it blocks submitting); a record with every
    /// item inspected has none.
    #[test]
    fn open_items_are_errors_on_their_item() {
        let params = VillageParams {
            items: vec!["a".into(), "b".into(), "c".into()],
            ..Default::default()
        };
        let mut input = indicators(60.0, 80.0, 80.0);
        input
            .checklist
            .insert("a".into(), Some(InspectionResult::Pass));
        input.checklist.insert("b".into(), None);
        let r = evaluate(&input, &params);
        let open: Vec<_> = r.findings.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(open, ["checklist.b", "checklist.c"]);
        assert!(r.findings.iter().all(|f| f.severity == Severity::Error));
        input
            .checklist
            .insert("b".into(), Some(InspectionResult::Na));
        input
            .checklist
            .insert("c".into(), Some(InspectionResult::Fail));
        input.items_with_photos.push("c".into());
        assert!(evaluate(&input, &params).findings.is_empty());
    }

    /// The plan, task 12 (深入推进农村环境整治): "8月底前，完成上半年度农村环境整治成效评估，
    /// 12月底前，完成下半年度农村环境整治成效评估". Dates at and around each window's ends.
    #[test]
    fn evaluation_round_windows_per_the_plan_first_half_by_end_of_august() {
        let at = |year: i64, half: i64, date: &str| {
            let data = json!({"eval_year": year, "eval_half": half, "inspected_at": date});
            let r = evaluate(&VillageInput::from_data(&data), &VillageParams::default());
            let flagged = r.findings.iter().any(|f| f.path == "inspected_at");
            assert_eq!(r.round_dates_ok == Some(false), flagged, "{date}");
            r.round_dates_ok
        };
        assert_eq!(at(2024, 1, "2024-01-01T09:00:00+08:00"), Some(true));
        assert_eq!(at(2024, 1, "2024-08-31T23:59:00+08:00"), Some(true));
        assert_eq!(at(2024, 1, "2024-09-01T08:00:00+08:00"), Some(false));
        assert_eq!(at(2024, 1, "2023-12-31T10:00:00+08:00"), Some(false));
        assert_eq!(at(2024, 2, "2024-06-30T10:00:00+08:00"), Some(false));
        assert_eq!(at(2024, 2, "2024-07-01T10:00:00+08:00"), Some(true));
        assert_eq!(at(2024, 2, "2024-12-31T23:00:00+08:00"), Some(true));
        assert_eq!(at(2024, 2, "2025-01-01T00:30:00+08:00"), Some(false));
        // The date as the inspector wrote it, in their own time zone.
        assert_eq!(at(2024, 1, "2024-08-31T23:30:00-01:00"), Some(true));
        // Missing or unreadable parts leave the check open.
        assert_eq!(at(2024, 3, "2024-05-01"), None);
        assert_eq!(at(2024, 1, "May 1st"), None);
    }

    /// A failed item without a photo is an error on its photo list; with one it is not.
    #[test]
    fn a_failed_item_needs_a_photo() {
        let data = json!({"checklist": {
            "a": {"result": "fail", "issue": "x", "deadline": "2024-09-01", "owner": "李"},
            "b": {"result": "fail", "photos": ["p1"]},
            "c": {"result": "fail", "photos": []},
            "d": {"result": "pass"}
        }});
        let r = evaluate(&VillageInput::from_data(&data), &VillageParams::default());
        let flagged: Vec<&str> = r
            .findings
            .iter()
            .filter(|f| f.code == "failed_item_photo")
            .map(|f| f.path.as_str())
            .collect();
        assert_eq!(flagged, ["checklist.a.photos", "checklist.c.photos"]);
    }
}
