//! Identification of rural black-odorous water bodies: 农村黑臭水体治理工作指南 (Ministry of
//! Ecology and Environment and Ministry of Water Resources, trial edition 2019, thresholds
//! carried over in the revision; domain.md section 2). A body is black-odorous when ANY of
//! three routes says so:
//! - senses 感官: colour clearly abnormal (black or blackish) or a strong unpleasant odour;
//! - residents 问卷: at least 60 % of respondents say it is black-odorous (the minimum number
//!   of respondents is provincial: parameter, default none);
//! - water quality: transparency < 25 cm (when depth < 25 cm: < 40 % of depth), dissolved
//!   oxygen < 2 mg/L, or ammonia nitrogen > 15 mg/L, at any measurement point.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{code, count, fmt_num, get, non_neg, round_to};

/// Water colour code (`sensory.color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Color {
    Normal,
    Black,
    Blackish,
    /// Abnormal but not black (green, red, ...): not black-odorous by itself.
    OtherAbnormal,
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
        (Route::WaterQuality, water_quality(&input.points, params)),
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
    BlackOdorousResult {
        status,
        routes,
        reasons,
        missing_routes,
    }
}

fn senses(input: &BlackOdorousInput) -> Outcome {
    let mut reasons = Vec::new();
    match input.color {
        Some(Color::Black) => reasons.push("感官: 水体颜色黑色".to_owned()),
        Some(Color::Blackish) => reasons.push("感官: 水体颜色发黑".to_owned()),
        _ => {}
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

fn water_quality(points: &[MeasurementPoint], p: &BlackOdorousParams) -> Outcome {
    let mut reasons = Vec::new();
    for (i, pt) in points.iter().enumerate() {
        let n = i + 1;
        if let Some(t) = pt.transparency_cm {
            let shallow = pt.depth_cm.filter(|d| *d < p.transparency_min_cm);
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
            (Color::OtherAbnormal, Odor::None, false),
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
}
