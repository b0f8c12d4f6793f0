//! Identification of rural black-odorous water bodies: 农村黑臭水体治理工作指南 (Ministry of
//! Ecology and Environment, Ministry of Water Resources and Ministry of Agriculture and Rural
//! Affairs, revised 2024, thresholds carried over from the 2019 trial edition; domain.md
//! section 2). A body is black-odorous when ANY of three routes says so:
//! - senses 感官: the colour clearly abnormal (颜色明显异常: black, blackish, and the other
//!   abnormal colours of the `water_color` code table: greenish, yellowish, reddish, milky,
//!   other) or a strong unpleasant odour;
//! - residents 问卷: at least 60 % of respondents say it is black-odorous; a survey with fewer
//!   respondents than the provincial minimum (`survey_min_respondents`) does not classify,
//!   and says so;
//! - water quality: transparency < 25 cm (when the water is shallower than 25 cm: < 40 % of
//!   the depth, the point's own depth, else the body's mean depth), dissolved oxygen < 2 mg/L,
//!   or ammonia nitrogen > 15 mg/L, at any measurement point.
//!
//! The record's lifecycle state must agree with what this check found: a body found
//! black-odorous is not completed, accepted or in maintenance (after acceptance it has
//! relapsed, 返黑返臭), and a relapsed body is black-odorous. Transitions between checks are
//! the ledger's ([`crate::ledger::water_bodies`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{code, count, finding, fmt_num, get, non_neg, round_to};
use crate::{Issue, Severity};

/// Water colour code (`sensory.color`; code tables `sensory_color` and `water_color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Color {
    Normal,
    Black,
    Blackish,
    Greenish,
    Yellowish,
    Reddish,
    Milky,
    /// Clearly abnormal in another way.
    OtherAbnormal,
}

impl Color {
    /// The colour in the senses route's reason (`None`: normal).
    fn abnormal(self) -> Option<&'static str> {
        match self {
            Color::Normal => None,
            Color::Black => Some("黑色"),
            Color::Blackish => Some("泛黑"),
            Color::Greenish => Some("泛绿"),
            Color::Yellowish => Some("泛黄"),
            Color::Reddish => Some("泛红"),
            Color::Milky => Some("乳白"),
            Color::OtherAbnormal => Some("明显异常"),
        }
    }
}

/// The body's state (code table `bow_lifecycle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    /// 排查发现.
    Identified,
    /// 列入清单.
    Listed,
    /// 治理中.
    UnderTreatment,
    /// 完成治理.
    Completed,
    /// 验收销号.
    Accepted,
    /// 长效管护.
    Maintenance,
    /// 返黑返臭.
    Relapsed,
}

impl Lifecycle {
    pub const ALL: [Lifecycle; 7] = [
        Lifecycle::Identified,
        Lifecycle::Listed,
        Lifecycle::UnderTreatment,
        Lifecycle::Completed,
        Lifecycle::Accepted,
        Lifecycle::Maintenance,
        Lifecycle::Relapsed,
    ];

    /// The code (`under_treatment`).
    pub fn code(self) -> &'static str {
        match self {
            Lifecycle::Identified => "identified",
            Lifecycle::Listed => "listed",
            Lifecycle::UnderTreatment => "under_treatment",
            Lifecycle::Completed => "completed",
            Lifecycle::Accepted => "accepted",
            Lifecycle::Maintenance => "maintenance",
            Lifecycle::Relapsed => "relapsed",
        }
    }

    /// The Chinese name (as in the code table `bow_lifecycle`).
    pub fn zh(self) -> &'static str {
        match self {
            Lifecycle::Identified => "已排查识别",
            Lifecycle::Listed => "已列入清单",
            Lifecycle::UnderTreatment => "治理中",
            Lifecycle::Completed => "治理完成",
            Lifecycle::Accepted => "已验收销号",
            Lifecycle::Maintenance => "长效管护",
            Lifecycle::Relapsed => "返黑返臭",
        }
    }

    /// Whether a body may go from `self` to `next` between two checks (staying is allowed):
    /// identified → listed → under treatment → completed → accepted → maintenance; a body may
    /// go to treatment straight from identification (a county-level body need not be listed);
    /// a completed body that fails acceptance goes back to treatment; an accepted body or one
    /// in maintenance that is black-odorous again has relapsed (返黑返臭), and a relapsed body
    /// goes back to treatment. Nothing else: no acceptance without completion, no completion
    /// without treatment, no way back to "identified".
    pub fn may_become(self, next: Lifecycle) -> bool {
        use Lifecycle::*;
        self == next
            || matches!(
                (self, next),
                (Identified, Listed)
                    | (Identified, UnderTreatment)
                    | (Listed, UnderTreatment)
                    | (UnderTreatment, Completed)
                    | (Completed, Accepted)
                    | (Completed, UnderTreatment)
                    | (Accepted, Maintenance)
                    | (Accepted, Relapsed)
                    | (Maintenance, Relapsed)
                    | (Relapsed, UnderTreatment)
            )
    }

    /// States after acceptance: black-odorous again there is a relapse.
    pub fn is_after_acceptance(self) -> bool {
        matches!(self, Lifecycle::Accepted | Lifecycle::Maintenance)
    }
}

/// Odour code (`sensory.odor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Odor {
    None,
    Slight,
    Strong,
}

/// One measurement point (`measurement_points[]`); every value may be missing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MeasurementPoint {
    pub depth_cm: Option<f64>,
    pub transparency_cm: Option<f64>,
    pub do_mg_l: Option<f64>,
    pub nh3n_mg_l: Option<f64>,
}

/// What the rule reads from a screening record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlackOdorousInput {
    pub color: Option<Color>,
    pub odor: Option<Odor>,
    pub n_total: Option<u64>,
    pub n_yes: Option<u64>,
    pub points: Vec<MeasurementPoint>,
    /// The body's mean depth (cm, from `mean_depth_m`), for points without their own.
    pub mean_depth_cm: Option<f64>,
    /// The state the record gives the body after this check.
    pub lifecycle: Option<Lifecycle>,
}

impl BlackOdorousInput {
    /// Reads `sensory.*`, `survey.*` and `measurement_points[]`; bad values are absent.
    pub fn from_data(data: &Value) -> Self {
        let points = get(data, &["measurement_points"])
            .and_then(Value::as_array)
            .map(|pts| {
                pts.iter()
                    .map(|p| MeasurementPoint {
                        depth_cm: non_neg(p, &["depth_cm"]),
                        transparency_cm: non_neg(p, &["transparency_cm"]),
                        do_mg_l: non_neg(p, &["do_mg_l"]),
                        nh3n_mg_l: non_neg(p, &["nh3n_mg_l"]),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            color: code(data, &["sensory", "color"]),
            odor: code(data, &["sensory", "odor"]),
            n_total: count(data, &["survey", "n_total"]),
            n_yes: count(data, &["survey", "n_yes"]),
            points,
            mean_depth_cm: non_neg(data, &["mean_depth_m"]).map(|m| round_to(m * 100.0, 6)),
            lifecycle: code(data, &["lifecycle"]),
        }
    }
}

/// Thresholds; defaults are the guideline's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlackOdorousParams {
    /// Share of "yes" answers (%) at or above which the residents route triggers.
    pub survey_yes_min_pct: f64,
    /// Minimum respondents for the survey to count (provincial; 0 = any survey with answers).
    pub survey_min_respondents: u64,
    /// Transparency below this (cm) triggers.
    pub transparency_min_cm: f64,
    /// When the depth is below `transparency_min_cm`, the threshold is this fraction of depth.
    pub transparency_depth_fraction: f64,
    /// Dissolved oxygen below this (mg/L) triggers.
    pub do_min_mg_l: f64,
    /// Ammonia nitrogen above this (mg/L) triggers.
    pub nh3n_max_mg_l: f64,
}

impl Default for BlackOdorousParams {
    fn default() -> Self {
        Self {
            survey_yes_min_pct: 60.0,
            survey_min_respondents: 0,
            transparency_min_cm: 25.0,
            transparency_depth_fraction: 0.4,
            do_min_mg_l: 2.0,
            nh3n_max_mg_l: 15.0,
        }
    }
}

/// The three identification routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    Senses,
    Residents,
    WaterQuality,
}

/// Computed status (code table `bow_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BowStatus {
    BlackOdorous,
    NotBlackOdorous,
    Undetermined,
}

/// Result: status, triggered routes with reasons, and routes lacking data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlackOdorousResult {
    pub status: BowStatus,
    pub routes: Vec<Route>,
    pub reasons: Vec<String>,
    pub missing_routes: Vec<Route>,
    /// The survey had answers but fewer respondents than the minimum: it does not classify.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub survey_below_minimum: bool,
    /// Issues of the record: a survey below the minimum (warning), a lifecycle state that
    /// contradicts the status (error).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Issue>,
}

/// Outcome of one route: triggered, clear, or not enough data.
enum Outcome {
    Triggered(Vec<String>),
    Clear,
    Missing,
}

/// Applies the three routes. A route that did not trigger counts as evaluated only when its
/// data is complete: senses needs both colour and odour; residents needs `n_yes <= n_total`,
/// `n_total > 0` and at least `survey_min_respondents`; water quality needs transparency,
/// DO and NH3-N each measured at one point at least.
pub fn evaluate(input: &BlackOdorousInput, params: &BlackOdorousParams) -> BlackOdorousResult {
    let outcomes = [
        (Route::Senses, senses(input)),
        (Route::Residents, residents(input, params)),
        (
            Route::WaterQuality,
            water_quality(&input.points, input.mean_depth_cm, params),
        ),
    ];
    let (mut routes, mut reasons, mut missing_routes) = (Vec::new(), Vec::new(), Vec::new());
    for (route, outcome) in outcomes {
        match outcome {
            Outcome::Triggered(r) => {
                routes.push(route);
                reasons.extend(r);
            }
            Outcome::Clear => {}
            Outcome::Missing => missing_routes.push(route),
        }
    }
    let status = if !routes.is_empty() {
        BowStatus::BlackOdorous
    } else if missing_routes.is_empty() {
        BowStatus::NotBlackOdorous
    } else {
        BowStatus::Undetermined
    };
    let mut findings = Vec::new();
    let survey_below_minimum = match (input.n_total, input.n_yes) {
        (Some(total), Some(yes)) => {
            total > 0 && yes <= total && total < params.survey_min_respondents
        }
        _ => false,
    };
    if survey_below_minimum {
        findings.push(finding(
            "survey.n_total",
            Severity::Warning,
            "survey_too_small",
            format!(
                "调查人数 {} 人，少于最低要求 {} 人：问卷途径不作判定",
                input.n_total.unwrap_or_default(),
                params.survey_min_respondents
            ),
            format!(
                "{} respondents, fewer than the minimum of {}: the survey does not classify",
                input.n_total.unwrap_or_default(),
                params.survey_min_respondents
            ),
        ));
    }
    if let Some(state) = input.lifecycle {
        lifecycle_findings(state, status, &mut findings);
    }
    BlackOdorousResult {
        status,
        routes,
        reasons,
        missing_routes,
        survey_below_minimum,
        findings,
    }
}

/// A lifecycle state the check's status contradicts.
fn lifecycle_findings(state: Lifecycle, status: BowStatus, findings: &mut Vec<Issue>) {
    let (zh, en) = match (state, status) {
        (Lifecycle::Completed, BowStatus::BlackOdorous) => (
            "本次检查判定为黑臭，不能记为完成治理（应为治理中）",
            "This check finds the body black-odorous: it is not completed (still under treatment)",
        ),
        (Lifecycle::Accepted | Lifecycle::Maintenance, BowStatus::BlackOdorous) => (
            "验收后再次判定为黑臭：应记为返黑返臭",
            "Black-odorous again after acceptance: record it as relapsed (返黑返臭)",
        ),
        (Lifecycle::Relapsed, BowStatus::NotBlackOdorous) => (
            "本次检查未判定为黑臭，不能记为返黑返臭",
            "This check does not find the body black-odorous: it has not relapsed",
        ),
        _ => return,
    };
    findings.push(finding(
        "lifecycle",
        Severity::Error,
        "lifecycle_status",
        zh.to_owned(),
        en.to_owned(),
    ));
}

fn senses(input: &BlackOdorousInput) -> Outcome {
    let mut reasons = Vec::new();
    if let Some(colour) = input.color.and_then(Color::abnormal) {
        reasons.push(format!("感官: 水体颜色{colour}"));
    }
    if input.odor == Some(Odor::Strong) {
        reasons.push("感官: 强烈异味".to_owned());
    }
    if !reasons.is_empty() {
        Outcome::Triggered(reasons)
    } else if input.color.is_some() && input.odor.is_some() {
        Outcome::Clear
    } else {
        Outcome::Missing
    }
}

fn residents(input: &BlackOdorousInput, p: &BlackOdorousParams) -> Outcome {
    let (Some(total), Some(yes)) = (input.n_total, input.n_yes) else {
        return Outcome::Missing;
    };
    if total == 0 || yes > total || total < p.survey_min_respondents {
        return Outcome::Missing;
    }
    // yes/total ≥ pct/100, compared without division so that 6/10 is exactly 60 %.
    if yes as f64 * 100.0 >= p.survey_yes_min_pct * total as f64 {
        let pct = yes as f64 * 100.0 / total as f64;
        Outcome::Triggered(vec![format!(
            "问卷: {yes}/{total} 人 ({}%) 认为黑臭 ≥ {}%",
            fmt_num(round_to(pct, 1)),
            fmt_num(p.survey_yes_min_pct)
        )])
    } else {
        Outcome::Clear
    }
}

fn water_quality(
    points: &[MeasurementPoint],
    mean_depth_cm: Option<f64>,
    p: &BlackOdorousParams,
) -> Outcome {
    let mut reasons = Vec::new();
    for (i, pt) in points.iter().enumerate() {
        let n = i + 1;
        if let Some(t) = pt.transparency_cm {
            // The point's own depth, else the body's mean depth.
            let shallow = pt
                .depth_cm
                .or(mean_depth_cm)
                .filter(|d| *d < p.transparency_min_cm);
            // Rounded so that 0.4 × 24 is 9.6, not 9.600000000000001.
            let limit = shallow.map_or(p.transparency_min_cm, |d| {
                round_to(p.transparency_depth_fraction * d, 6)
            });
            if t < limit {
                let why = match shallow {
                    Some(d) => format!(
                        " (水深 {} cm 的 {}%)",
                        fmt_num(d),
                        fmt_num(p.transparency_depth_fraction * 100.0)
                    ),
                    None => String::new(),
                };
                reasons.push(format!(
                    "测点{n} 透明度 {} cm < {} cm{why}",
                    fmt_num(t),
                    fmt_num(limit)
                ));
            }
        }
        if let Some(v) = pt.do_mg_l.filter(|v| *v < p.do_min_mg_l) {
            reasons.push(format!(
                "测点{n} 溶解氧 {} mg/L < {} mg/L",
                fmt_num(v),
                fmt_num(p.do_min_mg_l)
            ));
        }
        if let Some(v) = pt.nh3n_mg_l.filter(|v| *v > p.nh3n_max_mg_l) {
            reasons.push(format!(
                "测点{n} 氨氮 {} mg/L > {} mg/L",
                fmt_num(v),
                fmt_num(p.nh3n_max_mg_l)
            ));
        }
    }
    let measured =
        |f: fn(&MeasurementPoint) -> Option<f64>| points.iter().any(|pt| f(pt).is_some());
    if !reasons.is_empty() {
        Outcome::Triggered(reasons)
    } else if measured(|pt| pt.transparency_cm)
        && measured(|pt| pt.do_mg_l)
        && measured(|pt| pt.nh3n_mg_l)
    {
        Outcome::Clear
    } else {
        Outcome::Missing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::compute;
    use serde_json::json;

    fn clean_point() -> MeasurementPoint {
        MeasurementPoint {
            depth_cm: Some(80.0),
            transparency_cm: Some(40.0),
            do_mg_l: Some(5.0),
            nh3n_mg_l: Some(1.0),
        }
    }

    /// All three routes present and clear; tests change one thing at a time.
    fn clean() -> BlackOdorousInput {
        BlackOdorousInput {
            color: Some(Color::Normal),
            odor: Some(Odor::None),
            n_total: Some(10),
            n_yes: Some(1),
            points: vec![clean_point()],
            ..Default::default()
        }
    }

    fn eval(input: &BlackOdorousInput) -> BlackOdorousResult {
        evaluate(input, &BlackOdorousParams::default())
    }

    fn with_point(f: impl FnOnce(&mut MeasurementPoint)) -> BlackOdorousResult {
        let mut input = clean();
        let mut pt = clean_point();
        f(&mut pt);
        input.points.push(pt);
        eval(&input)
    }

    #[test]
    fn clean_body_is_not_black_odorous() {
        let r = eval(&clean());
        assert_eq!(r.status, BowStatus::NotBlackOdorous);
        assert!(r.routes.is_empty() && r.reasons.is_empty() && r.missing_routes.is_empty());
    }

    #[test]
    fn senses_route() {
        for (color, odor, hit) in [
            (Color::Black, Odor::None, true),
            (Color::Blackish, Odor::None, true),
            (Color::Greenish, Odor::None, true),
            (Color::Yellowish, Odor::None, true),
            (Color::Reddish, Odor::None, true),
            (Color::Milky, Odor::None, true),
            (Color::OtherAbnormal, Odor::None, true),
            (Color::Normal, Odor::Slight, false),
            (Color::Normal, Odor::Strong, true),
        ] {
            let r = eval(&BlackOdorousInput {
                color: Some(color),
                odor: Some(odor),
                ..clean()
            });
            assert_eq!(r.routes == [Route::Senses], hit, "{color:?} {odor:?}");
        }
        // A normal colour with the odour unknown is not enough to clear the route.
        let r = eval(&BlackOdorousInput {
            odor: None,
            ..clean()
        });
        assert_eq!(r.status, BowStatus::Undetermined);
        assert_eq!(r.missing_routes, [Route::Senses]);
        // ... but one abnormal sense triggers alone.
        let r = eval(&BlackOdorousInput {
            color: Some(Color::Black),
            odor: None,
            ..clean()
        });
        assert_eq!(r.status, BowStatus::BlackOdorous);
    }

    #[test]
    fn residents_route_at_sixty_percent() {
        let survey = |n_total, n_yes| {
            eval(&BlackOdorousInput {
                n_total: Some(n_total),
                n_yes: Some(n_yes),
                ..clean()
            })
        };
        let r = survey(10, 6);
        assert_eq!(r.routes, [Route::Residents]);
        assert_eq!(r.reasons, ["问卷: 6/10 人 (60%) 认为黑臭 ≥ 60%"]);
        assert_eq!(survey(1000, 600).routes, [Route::Residents]);
        assert_eq!(survey(1000, 599).status, BowStatus::NotBlackOdorous); // 59.9 %
        assert_eq!(survey(3, 2).routes, [Route::Residents]); // 66.7 %
        assert_eq!(survey(0, 0).missing_routes, [Route::Residents]);
        assert_eq!(survey(5, 6).missing_routes, [Route::Residents]);
        // A provincial minimum of respondents.
        let p = BlackOdorousParams {
            survey_min_respondents: 20,
            ..Default::default()
        };
        let input = BlackOdorousInput {
            n_total: Some(10),
            n_yes: Some(9),
            ..clean()
        };
        assert_eq!(evaluate(&input, &p).missing_routes, [Route::Residents]);
        let input = BlackOdorousInput {
            n_total: Some(20),
            n_yes: Some(12),
            ..clean()
        };
        assert_eq!(evaluate(&input, &p).routes, [Route::Residents]);
    }

    #[test]
    fn transparency_boundaries() {
        let r = with_point(|p| p.transparency_cm = Some(24.9));
        assert_eq!(r.routes, [Route::WaterQuality]);
        assert_eq!(r.reasons, ["测点2 透明度 24.9 cm < 25 cm"]);
        assert!(
            with_point(|p| p.transparency_cm = Some(25.0))
                .routes
                .is_empty()
        );
        // Depth exactly 25 cm is not shallow: the 25 cm threshold applies.
        let r = with_point(|p| (p.depth_cm, p.transparency_cm) = (Some(25.0), Some(24.9)));
        assert_eq!(r.routes, [Route::WaterQuality]);
        // Depth 20 cm: threshold 40 % × 20 = 8 cm.
        let r = with_point(|p| (p.depth_cm, p.transparency_cm) = (Some(20.0), Some(7.9)));
        assert_eq!(
            r.reasons,
            ["测点2 透明度 7.9 cm < 8 cm (水深 20 cm 的 40%)"]
        );
        let r = with_point(|p| (p.depth_cm, p.transparency_cm) = (Some(20.0), Some(8.0)));
        assert_eq!(r.status, BowStatus::NotBlackOdorous);
        // Depth 24 cm: 9.6 cm exactly, despite 0.4 × 24 = 9.600000000000001 in f64.
        let r = with_point(|p| (p.depth_cm, p.transparency_cm) = (Some(24.0), Some(9.6)));
        assert_eq!(r.status, BowStatus::NotBlackOdorous);
        // Unknown depth: the plain 25 cm threshold.
        let r = with_point(|p| (p.depth_cm, p.transparency_cm) = (None, Some(10.0)));
        assert_eq!(r.routes, [Route::WaterQuality]);
    }

    #[test]
    fn do_and_ammonia_boundaries() {
        let r = with_point(|p| p.do_mg_l = Some(1.99));
        assert_eq!(r.reasons, ["测点2 溶解氧 1.99 mg/L < 2 mg/L"]);
        assert!(with_point(|p| p.do_mg_l = Some(2.0)).routes.is_empty());
        assert!(with_point(|p| p.nh3n_mg_l = Some(15.0)).routes.is_empty());
        let r = with_point(|p| p.nh3n_mg_l = Some(15.01));
        assert_eq!(r.reasons, ["测点2 氨氮 15.01 mg/L > 15 mg/L"]);
    }

    #[test]
    fn water_quality_needs_each_parameter_somewhere() {
        let split = vec![
            MeasurementPoint {
                transparency_cm: Some(40.0),
                ..Default::default()
            },
            MeasurementPoint {
                do_mg_l: Some(6.0),
                nh3n_mg_l: Some(0.5),
                ..Default::default()
            },
        ];
        assert_eq!(
            eval(&BlackOdorousInput {
                points: split,
                ..clean()
            })
            .status,
            BowStatus::NotBlackOdorous
        );
        let partial = vec![MeasurementPoint {
            transparency_cm: Some(40.0),
            ..Default::default()
        }];
        let r = eval(&BlackOdorousInput {
            points: partial,
            ..clean()
        });
        assert_eq!(
            (r.status, r.missing_routes),
            (BowStatus::Undetermined, vec![Route::WaterQuality])
        );
    }

    #[test]
    fn through_compute_json() {
        let data = json!({
            "sensory": { "color": "blackish", "odor": "strong" },
            "survey": { "n_total": 20, "n_yes": 5 },
            "measurement_points": [
                { "depth_cm": 20, "transparency_cm": 5, "do_mg_l": 1.5, "nh3n_mg_l": 18 },
                { "depth_cm": "deep", "transparency_cm": null },
                "not a point"
            ]
        });
        let out = compute("black_odorous", &data, None).unwrap();
        assert_eq!(out["status"], "black_odorous");
        assert_eq!(out["routes"], json!(["senses", "water_quality"]));
        assert_eq!(out["reasons"].as_array().map(Vec::len), Some(5));
        assert_eq!(out["missing_routes"], json!([]));

        let out = compute("black_odorous", &json!({}), None).unwrap();
        assert_eq!(
            out,
            json!({ "status": "undetermined", "routes": [], "reasons": [],
                    "missing_routes": ["senses", "residents", "water_quality"] })
        );
        // Params merge over the defaults.
        let data = json!({ "survey": { "n_total": 10, "n_yes": 5 } });
        let p = json!({ "survey_yes_min_pct": 50 });
        let out = compute("black_odorous", &data, Some(&p)).unwrap();
        assert_eq!(out["routes"], json!(["residents"]));
    }

    /// 指南 (识别, 水质监测): "水深不足 25 cm 时，透明度按水深的 40% 取值". A point without its
    /// own depth takes the body's mean depth: 0.20 m gives a limit of 8 cm.
    #[test]
    fn forty_percent_of_the_mean_depth_when_the_point_has_none() {
        let at = |mean_depth_m: Option<f64>, transparency: f64| {
            let mut input = clean();
            input.points = vec![MeasurementPoint {
                depth_cm: None,
                transparency_cm: Some(transparency),
                ..clean_point()
            }];
            input.mean_depth_cm = mean_depth_m.map(|m| round_to(m * 100.0, 6));
            eval(&input).routes.contains(&Route::WaterQuality)
        };
        assert!(!at(Some(0.20), 8.0), "8 cm is 40 % of 20 cm: not below");
        assert!(at(Some(0.20), 7.9));
        assert!(!at(Some(0.24), 9.6));
        assert!(at(Some(0.24), 9.5));
        // 25 cm and deeper: the plain 25 cm limit.
        assert!(at(Some(0.25), 24.9));
        assert!(!at(Some(0.25), 25.0));
        // No depth at all: the plain limit.
        assert!(at(None, 24.0));
        // The point's own depth wins over the mean.
        let mut input = clean();
        input.mean_depth_cm = Some(100.0);
        input.points = vec![MeasurementPoint {
            depth_cm: Some(10.0),
            transparency_cm: Some(4.5),
            ..clean_point()
        }];
        assert!(
            !eval(&input).routes.contains(&Route::WaterQuality),
            "4.5 ≥ 4"
        );
        let data = json!({"mean_depth_m": 0.2, "measurement_points": [
            {"transparency_cm": 7.9, "do_mg_l": 5, "nh3n_mg_l": 1}]});
        let out = compute("black_odorous", &data, None).unwrap();
        assert_eq!(out["routes"], json!(["water_quality"]));
        assert!(
            out["reasons"][0]
                .as_str()
                .unwrap()
                .contains("水深 20 cm 的 40%")
        );
    }

    /// 指南 (群众调查): the minimum number of respondents is the province's; below it the
    /// survey does not classify, whatever its share, and the record says why.
    #[test]
    fn a_survey_below_the_minimum_does_not_classify() {
        let p = BlackOdorousParams {
            survey_min_respondents: 10,
            ..Default::default()
        };
        let survey = |n_total, n_yes| {
            evaluate(
                &BlackOdorousInput {
                    n_total: Some(n_total),
                    n_yes: Some(n_yes),
                    ..clean()
                },
                &p,
            )
        };
        let r = survey(9, 9);
        assert!(r.survey_below_minimum && !r.routes.contains(&Route::Residents));
        assert_eq!(r.missing_routes, [Route::Residents]);
        assert_eq!(r.status, BowStatus::Undetermined);
        assert_eq!(r.findings.len(), 1);
        assert_eq!(
            (r.findings[0].path.as_str(), r.findings[0].severity),
            ("survey.n_total", Severity::Warning)
        );
        let r = survey(10, 6);
        assert!(!r.survey_below_minimum && r.routes == [Route::Residents]);
        assert!(r.findings.is_empty());
        assert!(!survey(10, 5).routes.contains(&Route::Residents));
    }

    /// Every pair of states: the allowed transitions of the lifecycle (identified → listed →
    /// under treatment → completed → accepted → maintenance; relapse after acceptance, 返黑返臭)
    /// and every other one refused.
    #[test]
    fn every_lifecycle_transition_allowed_or_refused() {
        use Lifecycle::*;
        let allowed = [
            (Identified, Listed),
            (Identified, UnderTreatment),
            (Listed, UnderTreatment),
            (UnderTreatment, Completed),
            (Completed, Accepted),
            (Completed, UnderTreatment),
            (Accepted, Maintenance),
            (Accepted, Relapsed),
            (Maintenance, Relapsed),
            (Relapsed, UnderTreatment),
        ];
        let mut refused = 0;
        for from in Lifecycle::ALL {
            for to in Lifecycle::ALL {
                let expect = from == to || allowed.contains(&(from, to));
                assert_eq!(from.may_become(to), expect, "{from:?} → {to:?}");
                refused += usize::from(!expect);
            }
        }
        assert_eq!(refused, 49 - 7 - allowed.len());
        assert!(!Identified.may_become(Accepted) && !UnderTreatment.may_become(Accepted));
        assert!(!Accepted.may_become(Identified) && !Relapsed.may_become(Accepted));
    }

    /// The state a record gives the body must agree with what the check found.
    #[test]
    fn a_state_that_contradicts_the_status_is_an_error() {
        let black = || BlackOdorousInput {
            color: Some(Color::Black),
            ..clean()
        };
        for (input, state, flagged) in [
            (black(), Lifecycle::Completed, true),
            (black(), Lifecycle::Accepted, true),
            (black(), Lifecycle::Maintenance, true),
            (black(), Lifecycle::Relapsed, false),
            (black(), Lifecycle::UnderTreatment, false),
            (black(), Lifecycle::Identified, false),
            (clean(), Lifecycle::Relapsed, true),
            (clean(), Lifecycle::Accepted, false),
            (clean(), Lifecycle::Completed, false),
        ] {
            let r = eval(&BlackOdorousInput {
                lifecycle: Some(state),
                ..input
            });
            let hit = r
                .findings
                .iter()
                .any(|f| f.path == "lifecycle" && f.severity == Severity::Error);
            assert_eq!(hit, flagged, "{state:?} {:?}", r.status);
        }
        let out = compute(
            "black_odorous",
            &json!({"sensory": {"color": "milky", "odor": "none"}, "lifecycle": "accepted"}),
            None,
        )
        .unwrap();
        assert_eq!(out["routes"], json!(["senses"]));
        assert!(
            out["findings"][0]["message"]["zh"]
                .as_str()
                .unwrap()
                .contains("返黑返臭")
        );
    }
}
