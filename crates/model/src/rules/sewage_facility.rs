//! Rural domestic sewage treatment facilities: the county plan, task 19 (完善环境监测机制), and
//! domain.md section 3. A facility's scale is its actual daily throughput or its design
//! capacity, whichever is larger. From 100 t/day: inlet and outlet water quality monitored
//! every half year and an inspection every quarter (the schedule against the records is the
//! ledger's, [`crate::ledger::sewage_facilities`]). From 500 t/day: automatic water-quality
//! monitoring networked with the authority's platform by the end of July; from 100 to under
//! 500 t/day: outflow metering and video online by the end of December. Both are checked on a
//! record inspected after its year's deadline.
//!
//! Outlet values above the discharge limits are warnings on the record, naming the limits'
//! source. The limits default to grade-1 values as the template states them for Henan's
//! 农村生活污水处理设施水污染物排放标准 (DB41/1820-2019): COD 60, NH3-N 8, TN 20, TP 1,
//! SS 20 mg/L, pH 6-9, marked unconfirmed until the county confirms them (`limits_confirmed`);
//! they differ by province, by facility size and by receiving water, and are set per
//! template through `rule_params`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{date, finding, fmt_num, get, non_neg, num, round_to};
use crate::{Issue, Severity};

/// Pollutants read from `inlet` and `outlet` (the JSON field names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Pollutant {
    #[serde(rename = "cod_mg_l")]
    Cod,
    #[serde(rename = "nh3n_mg_l")]
    Nh3n,
    #[serde(rename = "tn_mg_l")]
    Tn,
    #[serde(rename = "tp_mg_l")]
    Tp,
    #[serde(rename = "ss_mg_l")]
    Ss,
    #[serde(rename = "ph")]
    Ph,
}

impl Pollutant {
    /// The concentrations (mg/L), i.e. all but pH.
    pub const CONCENTRATIONS: [Pollutant; 5] = [
        Pollutant::Cod,
        Pollutant::Nh3n,
        Pollutant::Tn,
        Pollutant::Tp,
        Pollutant::Ss,
    ];
}

/// One water sample (inlet or outlet); every value may be missing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WaterQuality {
    pub cod_mg_l: Option<f64>,
    pub nh3n_mg_l: Option<f64>,
    pub tn_mg_l: Option<f64>,
    pub tp_mg_l: Option<f64>,
    pub ss_mg_l: Option<f64>,
    pub ph: Option<f64>,
}

impl WaterQuality {
    fn from_data(data: &Value, key: &str) -> Self {
        Self {
            cod_mg_l: non_neg(data, &[key, "cod_mg_l"]),
            nh3n_mg_l: non_neg(data, &[key, "nh3n_mg_l"]),
            tn_mg_l: non_neg(data, &[key, "tn_mg_l"]),
            tp_mg_l: non_neg(data, &[key, "tp_mg_l"]),
            ss_mg_l: non_neg(data, &[key, "ss_mg_l"]),
            ph: num(data, &[key, "ph"]).filter(|ph| (0.0..=14.0).contains(ph)),
        }
    }

    /// The value of `pollutant`.
    pub fn get(&self, pollutant: Pollutant) -> Option<f64> {
        match pollutant {
            Pollutant::Cod => self.cod_mg_l,
            Pollutant::Nh3n => self.nh3n_mg_l,
            Pollutant::Tn => self.tn_mg_l,
            Pollutant::Tp => self.tp_mg_l,
            Pollutant::Ss => self.ss_mg_l,
            Pollutant::Ph => self.ph,
        }
    }
}

/// What the rule reads from a facility record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SewageFacilityInput {
    pub design_capacity_t_d: Option<f64>,
    pub actual_flow_t_d: Option<f64>,
    pub inlet: WaterQuality,
    pub outlet: WaterQuality,
    /// The inspection's calendar date (from `inspected_at`, as written).
    pub inspected_on: Option<(i32, u32, u32)>,
    /// `online_monitoring.automatic_networked`: automatic water-quality monitoring installed
    /// and networked.
    pub automatic_networked: Option<bool>,
    /// `online_monitoring.flow_meter` and `online_monitoring.video`.
    pub flow_meter: Option<bool>,
    pub video: Option<bool>,
}

impl SewageFacilityInput {
    /// Reads `design_capacity_t_d`, `actual_flow_t_d`, `inspected_at`, `inlet.*`, `outlet.*`
    /// and `online_monitoring.*`.
    pub fn from_data(data: &Value) -> Self {
        let online = |key| get(data, &["online_monitoring", key]).and_then(Value::as_bool);
        Self {
            design_capacity_t_d: non_neg(data, &["design_capacity_t_d"]),
            actual_flow_t_d: non_neg(data, &["actual_flow_t_d"]),
            inlet: WaterQuality::from_data(data, "inlet"),
            outlet: WaterQuality::from_data(data, "outlet"),
            inspected_on: date(data, &["inspected_at"]),
            automatic_networked: online("automatic_networked"),
            flow_meter: online("flow_meter"),
            video: online("video"),
        }
    }

    /// The facility's scale: actual throughput or design capacity, whichever is larger.
    pub fn scale_t_d(&self) -> Option<f64> {
        match (self.actual_flow_t_d, self.design_capacity_t_d) {
            (Some(a), Some(d)) => Some(a.max(d)),
            (a, d) => a.or(d),
        }
    }
}

/// Outlet limits, merged key by key over the defaults; `null` switches a limit off.
///
/// Defaults: provincial standard grade-1 values (一级标准) — to be verified per province:
/// COD 60, NH3-N 8, TN 20, TP 1, SS 20 mg/L, pH 6-9.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutletLimits {
    pub cod_mg_l: Option<f64>,
    pub nh3n_mg_l: Option<f64>,
    pub tn_mg_l: Option<f64>,
    pub tp_mg_l: Option<f64>,
    pub ss_mg_l: Option<f64>,
    pub ph_min: Option<f64>,
    pub ph_max: Option<f64>,
}

impl Default for OutletLimits {
    fn default() -> Self {
        Self {
            cod_mg_l: Some(60.0),
            nh3n_mg_l: Some(8.0),
            tn_mg_l: Some(20.0),
            tp_mg_l: Some(1.0),
            ss_mg_l: Some(20.0),
            ph_min: Some(6.0),
            ph_max: Some(9.0),
        }
    }
}

impl OutletLimits {
    /// Upper limit of a concentration.
    fn max(&self, pollutant: Pollutant) -> Option<f64> {
        match pollutant {
            Pollutant::Cod => self.cod_mg_l,
            Pollutant::Nh3n => self.nh3n_mg_l,
            Pollutant::Tn => self.tn_mg_l,
            Pollutant::Tp => self.tp_mg_l,
            Pollutant::Ss => self.ss_mg_l,
            Pollutant::Ph => self.ph_max,
        }
    }
}

/// Parameters of the rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SewageFacilityParams {
    /// Scale (t/day) from which monitoring, inspection and online flow and video are
    /// required (task 19: 100).
    pub monitoring_min_capacity_t_d: f64,
    /// Scale (t/day) from which automatic monitoring must be networked (task 19: 500).
    pub automatic_min_capacity_t_d: f64,
    /// The day of the year (`MM-DD`) by which automatic monitoring is networked (07-31).
    pub automatic_deadline: String,
    /// The day of the year (`MM-DD`) by which flow metering and video are online (12-31).
    pub flow_video_deadline: String,
    pub outlet_limits: OutletLimits,
    /// Where the outlet limits come from, as the warnings name it.
    pub limits_source: String,
    /// Whether the county confirmed the limits; unconfirmed limits say so in the warnings.
    pub limits_confirmed: bool,
}

impl Default for SewageFacilityParams {
    fn default() -> Self {
        Self {
            monitoring_min_capacity_t_d: 100.0,
            automatic_min_capacity_t_d: 500.0,
            automatic_deadline: "07-31".into(),
            flow_video_deadline: "12-31".into(),
            outlet_limits: OutletLimits::default(),
            limits_source: "DB41/1820-2019".into(),
            limits_confirmed: false,
        }
    }
}

/// Which online monitoring a facility owes (task 19).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnlineDutyKind {
    /// ≥ 500 t/day: automatic water-quality monitoring networked.
    Automatic,
    /// 100-500 t/day: outflow metering and video online.
    FlowAndVideo,
}

/// A facility's online-monitoring duty as this record shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OnlineDuty {
    pub kind: OnlineDutyKind,
    /// `YYYY-MM-DD`, in the inspection's year (`MM-DD` without a date).
    pub deadline: String,
    /// In place (`null`: not recorded).
    pub met: Option<bool>,
    /// Not in place (or not recorded) at an inspection after the deadline.
    pub overdue: bool,
}

/// One outlet value outside its limit (for pH, the bound it crosses).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutletExceedance {
    pub pollutant: Pollutant,
    pub value: f64,
    pub limit: f64,
}

/// Result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SewageFacilityResult {
    /// Actual throughput or design capacity, whichever is larger (`null`: neither given).
    pub scale_t_d: Option<f64>,
    /// Half-yearly inlet/outlet monitoring and quarterly inspection required; `null` without a
    /// scale.
    pub monitoring_required: Option<bool>,
    /// The online monitoring owed (`null`: below 100 t/day or no scale).
    pub online_duty: Option<OnlineDuty>,
    /// Removal rate (%) per concentration, rounded to 0.1, where inlet (> 0) and outlet exist.
    pub removal_pct: BTreeMap<Pollutant, f64>,
    pub outlet_exceedances: Vec<OutletExceedance>,
    /// Warnings of the record: each outlet value above its limit, an overdue online duty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Issue>,
}

/// Monitoring duty, removal rates and outlet exceedances.
pub fn evaluate(
    input: &SewageFacilityInput,
    params: &SewageFacilityParams,
) -> SewageFacilityResult {
    let removal_pct = Pollutant::CONCENTRATIONS
        .into_iter()
        .filter_map(|p| match (input.inlet.get(p), input.outlet.get(p)) {
            (Some(i), Some(o)) if i > 0.0 => Some((p, round_to((i - o) / i * 100.0, 1))),
            _ => None,
        })
        .collect();
    let limits = &params.outlet_limits;
    let mut outlet_exceedances: Vec<OutletExceedance> = Pollutant::CONCENTRATIONS
        .into_iter()
        .filter_map(|pollutant| {
            let (value, limit) = input.outlet.get(pollutant).zip(limits.max(pollutant))?;
            (value > limit).then_some(OutletExceedance {
                pollutant,
                value,
                limit,
            })
        })
        .collect();
    if let Some(value) = input.outlet.ph {
        let low = limits.ph_min.filter(|min| value < *min);
        let high = limits.ph_max.filter(|max| value > *max);
        if let Some(limit) = low.or(high) {
            outlet_exceedances.push(OutletExceedance {
                pollutant: Pollutant::Ph,
                value,
                limit,
            });
        }
    }
    let scale_t_d = input.scale_t_d();
    let monitoring_required = scale_t_d.map(|c| c >= params.monitoring_min_capacity_t_d);
    let online_duty = online_duty(input, scale_t_d, params);
    let mut findings: Vec<Issue> = outlet_exceedances
        .iter()
        .map(|e| exceedance_finding(e, params))
        .collect();
    if let Some(duty) = online_duty.as_ref().filter(|d| d.overdue) {
        let (zh, en) = match duty.kind {
            OnlineDutyKind::Automatic => (
                "日处理500吨及以上：水质自动监测系统须在7月底前安装并联网",
                "500 t/day or more: automatic water-quality monitoring must be networked by the end of July",
            ),
            OnlineDutyKind::FlowAndVideo => (
                "日处理100-500吨：出水量和视频在线监控须在12月底前安装并接入监管平台",
                "100-500 t/day: outflow metering and video must be online by the end of December",
            ),
        };
        findings.push(finding(
            "online_monitoring",
            Severity::Warning,
            "online_monitoring_overdue",
            format!("{zh}（期限 {}，本次检查时未完成）", duty.deadline),
            format!(
                "{en} (deadline {}, not done at this inspection)",
                duty.deadline
            ),
        ));
    }
    SewageFacilityResult {
        scale_t_d,
        monitoring_required,
        online_duty,
        removal_pct,
        outlet_exceedances,
        findings,
    }
}

/// The online monitoring owed by a facility of `scale`, and whether this record shows it
/// overdue.
fn online_duty(
    input: &SewageFacilityInput,
    scale: Option<f64>,
    params: &SewageFacilityParams,
) -> Option<OnlineDuty> {
    let scale = scale.filter(|s| *s >= params.monitoring_min_capacity_t_d)?;
    let (kind, deadline, met) = if scale >= params.automatic_min_capacity_t_d {
        (
            OnlineDutyKind::Automatic,
            &params.automatic_deadline,
            input.automatic_networked,
        )
    } else {
        let met = match (input.flow_meter, input.video) {
            (Some(true), Some(true)) => Some(true),
            (Some(false), _) | (_, Some(false)) => Some(false),
            _ => None,
        };
        (
            OnlineDutyKind::FlowAndVideo,
            &params.flow_video_deadline,
            met,
        )
    };
    let month_day = month_day(deadline);
    let overdue = match (input.inspected_on, month_day) {
        (Some((_, m, d)), Some(due)) => met != Some(true) && (m, d) > due,
        _ => false,
    };
    let deadline = match input.inspected_on {
        Some((y, _, _)) => format!("{y}-{deadline}"),
        None => deadline.clone(),
    };
    Some(OnlineDuty {
        kind,
        deadline,
        met,
        overdue,
    })
}

/// `MM-DD` as (month, day).
fn month_day(text: &str) -> Option<(u32, u32)> {
    let (m, d) = text.split_once('-')?;
    Some((m.parse().ok()?, d.parse().ok()?))
}

/// An outlet value above its limit as a warning on its field.
fn exceedance_finding(e: &OutletExceedance, params: &SewageFacilityParams) -> Issue {
    let (zh_name, en_name, unit) = match e.pollutant {
        Pollutant::Cod => ("化学需氧量", "COD", " mg/L"),
        Pollutant::Nh3n => ("氨氮", "Ammonia nitrogen", " mg/L"),
        Pollutant::Tn => ("总氮", "Total nitrogen", " mg/L"),
        Pollutant::Tp => ("总磷", "Total phosphorus", " mg/L"),
        Pollutant::Ss => ("悬浮物", "Suspended solids", " mg/L"),
        Pollutant::Ph => ("pH", "pH", ""),
    };
    let field = serde_json::to_value(e.pollutant)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let (cmp_zh, cmp_en) = if e.pollutant == Pollutant::Ph && e.value < e.limit {
        ("低于下限", "below the limit")
    } else {
        ("超过限值", "above the limit")
    };
    let (conf_zh, conf_en) = if params.limits_confirmed {
        ("", "")
    } else {
        (
            "，限值待县里确认",
            "; limits not yet confirmed by the county",
        )
    };
    let source = &params.limits_source;
    finding(
        format!("outlet.{field}"),
        Severity::Warning,
        "outlet_limit",
        format!(
            "出水{zh_name} {}{unit} {cmp_zh} {}{unit}（{source}{conf_zh}）",
            fmt_num(e.value),
            fmt_num(e.limit)
        ),
        format!(
            "Outlet {en_name} {}{unit} {cmp_en} {}{unit} ({source}{conf_en})",
            fmt_num(e.value),
            fmt_num(e.limit)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::compute;
    use serde_json::json;

    fn outlet(q: WaterQuality) -> Vec<OutletExceedance> {
        let input = SewageFacilityInput {
            outlet: q,
            ..Default::default()
        };
        evaluate(&input, &SewageFacilityParams::default()).outlet_exceedances
    }

    #[test]
    fn monitoring_from_100_t_per_day() {
        let at = |c| {
            let input = SewageFacilityInput {
                design_capacity_t_d: c,
                ..Default::default()
            };
            evaluate(&input, &SewageFacilityParams::default()).monitoring_required
        };
        assert_eq!(at(Some(100.0)), Some(true));
        assert_eq!(at(Some(99.9)), Some(false));
        assert_eq!(at(None), None);
    }

    #[test]
    fn outlet_limits_at_the_boundary() {
        let at_limits = WaterQuality {
            cod_mg_l: Some(60.0),
            nh3n_mg_l: Some(8.0),
            tn_mg_l: Some(20.0),
            tp_mg_l: Some(1.0),
            ss_mg_l: Some(20.0),
            ph: Some(6.0),
        };
        assert!(outlet(at_limits.clone()).is_empty());
        assert!(
            outlet(WaterQuality {
                ph: Some(9.0),
                ..at_limits.clone()
            })
            .is_empty()
        );
        let r = outlet(WaterQuality {
            cod_mg_l: Some(60.1),
            tp_mg_l: Some(1.05),
            ph: Some(5.9),
            ..at_limits.clone()
        });
        let got: Vec<_> = r.iter().map(|e| (e.pollutant, e.value, e.limit)).collect();
        assert_eq!(
            got,
            [
                (Pollutant::Cod, 60.1, 60.0),
                (Pollutant::Tp, 1.05, 1.0),
                (Pollutant::Ph, 5.9, 6.0)
            ]
        );
        let r = outlet(WaterQuality {
            ph: Some(9.1),
            ..Default::default()
        });
        assert_eq!(
            r,
            [OutletExceedance {
                pollutant: Pollutant::Ph,
                value: 9.1,
                limit: 9.0
            }]
        );
    }

    #[test]
    fn removal_rates() {
        let input = SewageFacilityInput {
            design_capacity_t_d: Some(50.0),
            inlet: WaterQuality {
                cod_mg_l: Some(300.0),
                nh3n_mg_l: Some(30.0),
                tp_mg_l: Some(0.0),
                ss_mg_l: Some(3.0),
                ..Default::default()
            },
            outlet: WaterQuality {
                cod_mg_l: Some(45.0),
                nh3n_mg_l: Some(7.9),
                tp_mg_l: Some(0.5),
                ss_mg_l: Some(4.0),
                tn_mg_l: Some(10.0),
                ..Default::default()
            },
            ..Default::default()
        };
        let r = evaluate(&input, &SewageFacilityParams::default());
        let expected = BTreeMap::from([
            (Pollutant::Cod, 85.0),
            (Pollutant::Nh3n, 73.7),
            (Pollutant::Ss, -33.3),
        ]);
        assert_eq!(r.removal_pct, expected);
    }

    #[test]
    fn through_compute_json() {
        let data = json!({
            "design_capacity_t_d": 120,
            "inlet": { "cod_mg_l": 250, "nh3n_mg_l": 25, "ph": 7.2 },
            "outlet": { "cod_mg_l": 55, "nh3n_mg_l": 10, "tn_mg_l": "high", "ph": 7.0 }
        });
        let mut out = compute("sewage_facility", &data, None).unwrap();
        let findings = out.as_object_mut().unwrap().remove("findings").unwrap();
        assert_eq!(
            out,
            json!({
                "scale_t_d": 120.0,
                "monitoring_required": true,
                "online_duty": { "kind": "flow_and_video", "deadline": "12-31", "met": null,
                                 "overdue": false },
                "removal_pct": { "cod_mg_l": 78.0, "nh3n_mg_l": 60.0 },
                "outlet_exceedances": [ { "pollutant": "nh3n_mg_l", "value": 10.0, "limit": 8.0 } ]
            })
        );
        assert_eq!(findings[0]["path"], "outlet.nh3n_mg_l");
        assert_eq!(findings[0]["severity"], "warning");
        assert_eq!(
            findings[0]["message"]["zh"],
            "出水氨氮 10 mg/L 超过限值 8 mg/L（DB41/1820-2019，限值待县里确认）"
        );
        // Limits merge key by key; null switches one off.
        let p = json!({ "monitoring_min_capacity_t_d": 150, "outlet_limits": { "cod_mg_l": 50, "nh3n_mg_l": null } });
        let out = compute("sewage_facility", &data, Some(&p)).unwrap();
        assert_eq!(out["monitoring_required"], false);
        assert_eq!(
            out["outlet_exceedances"],
            json!([ { "pollutant": "cod_mg_l", "value": 55.0, "limit": 50.0 } ])
        );
        let bad = json!({ "outlet_limits": { "bod5_mg_l": 20 } });
        assert!(compute("sewage_facility", &data, Some(&bad)).is_err());
    }

    /// Task 19: "对日处理100吨及以上的农村集中式污水处理设施每半年开展1次进、出口水质监测，
    /// 每季度开展一次巡查" — by actual throughput or design capacity, whichever is larger.
    #[test]
    fn task_19_scale_is_the_larger_of_throughput_and_design() {
        let at = |design: Option<f64>, actual: Option<f64>| {
            let input = SewageFacilityInput {
                design_capacity_t_d: design,
                actual_flow_t_d: actual,
                ..Default::default()
            };
            let r = evaluate(&input, &SewageFacilityParams::default());
            (r.scale_t_d, r.monitoring_required)
        };
        assert_eq!(at(Some(80.0), Some(100.0)), (Some(100.0), Some(true)));
        assert_eq!(at(Some(100.0), Some(60.0)), (Some(100.0), Some(true)));
        assert_eq!(at(Some(99.9), Some(99.0)), (Some(99.9), Some(false)));
        assert_eq!(at(None, Some(150.0)), (Some(150.0), Some(true)));
        assert_eq!(at(None, None), (None, None));
    }

    /// Task 19: "7月底前，对……实际日处理水量500吨及以上的，安装完善水质自动监测系统并……联网；
    /// 12月底之前，对实际日处理能力100吨及以上、500吨以下的……安装出水量、视频在线监控设施".
    #[test]
    fn task_19_online_monitoring_deadlines() {
        let check = |scale: f64, date: &str, online: Value| {
            let data = json!({"actual_flow_t_d": scale, "inspected_at": date,
                              "online_monitoring": online});
            let r = evaluate(
                &SewageFacilityInput::from_data(&data),
                &SewageFacilityParams::default(),
            );
            let warned = r
                .findings
                .iter()
                .any(|f| f.code == "online_monitoring_overdue");
            let duty = r.online_duty.expect("a duty from 100 t/day");
            assert_eq!(duty.overdue, warned);
            (duty.kind, duty.deadline, duty.met, duty.overdue)
        };
        let none = json!({});
        // 500 t/day: automatic monitoring by 31 July.
        assert_eq!(
            check(500.0, "2024-07-31T17:00:00+08:00", none.clone()),
            (OnlineDutyKind::Automatic, "2024-07-31".into(), None, false)
        );
        assert!(
            check(500.0, "2024-08-01T09:00:00+08:00", none.clone()).3,
            "not recorded after the deadline"
        );
        assert!(
            check(
                620.0,
                "2024-08-01T09:00:00+08:00",
                json!({"automatic_networked": false})
            )
            .3
        );
        assert!(
            !check(
                620.0,
                "2024-10-01T09:00:00+08:00",
                json!({"automatic_networked": true})
            )
            .3
        );
        // 499.9 t/day: flow and video, by 31 December.
        let r = check(
            499.9,
            "2024-12-31T09:00:00+08:00",
            json!({"flow_meter": false}),
        );
        assert_eq!(
            r,
            (
                OnlineDutyKind::FlowAndVideo,
                "2024-12-31".into(),
                Some(false),
                false
            )
        );
        let met = json!({"flow_meter": true, "video": true});
        assert_eq!(check(100.0, "2024-11-02T09:00:00+08:00", met).2, Some(true));
        let half = json!({"flow_meter": true});
        assert_eq!(check(100.0, "2024-11-02T09:00:00+08:00", half).2, None);
        // Below 100 t/day: no duty.
        let data = json!({"actual_flow_t_d": 99, "inspected_at": "2024-12-01T09:00:00+08:00"});
        let r = evaluate(
            &SewageFacilityInput::from_data(&data),
            &SewageFacilityParams::default(),
        );
        assert_eq!(r.online_duty, None);
    }

    /// A confirmed source drops the "to be confirmed" note; pH below its floor says so.
    #[test]
    fn outlet_warnings_name_the_source() {
        let input = SewageFacilityInput {
            outlet: WaterQuality {
                ph: Some(5.5),
                tp_mg_l: Some(1.2),
                ..Default::default()
            },
            ..Default::default()
        };
        let params = SewageFacilityParams {
            limits_source: "县里确认的限值".into(),
            limits_confirmed: true,
            ..Default::default()
        };
        let r = evaluate(&input, &params);
        let got: Vec<(&str, &str)> = r
            .findings
            .iter()
            .map(|f| (f.path.as_str(), f.message.zh.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "outlet.tp_mg_l",
                    "出水总磷 1.2 mg/L 超过限值 1 mg/L（县里确认的限值）"
                ),
                ("outlet.ph", "出水pH 5.5 低于下限 6（县里确认的限值）"),
            ]
        );
        assert!(r.findings.iter().all(|f| f.severity == Severity::Warning));
    }
}
