//! Field checks of a soil sampling point (domain.md 1.1 and 1.2). Sub-sample counts per
//! mixed-sample pattern follow HJ/T 166-2004 《土壤环境监测技术规范》 §6.2 (农田土壤采样) with
//! the ranges used by the farmland survey sampling rules: diagonal ≥ 5, plum-blossom and
//! S-shape 5-10, chessboard 10-15, snake 15-20; a single point is 1. The allowed offset from
//! the planned point (practice, commonly 50-100 m) and the GNSS accuracy limit (warn above
//! about 10 m) are parameters, defaults 50 m and 10 m.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::geo::distance_m;
use super::{code, count, non_neg, num, round_to};

/// Sampling pattern (code table `sampling_pattern`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplingPattern {
    Diagonal,
    PlumBlossom,
    SShape,
    Grid,
    Snake,
    SinglePoint,
}

impl SamplingPattern {
    /// Minimum and maximum number of sub-samples (`None`: no maximum).
    pub fn sub_sample_limits(self) -> (u64, Option<u64>) {
        match self {
            SamplingPattern::Diagonal => (5, None),
            SamplingPattern::PlumBlossom | SamplingPattern::SShape => (5, Some(10)),
            SamplingPattern::Grid => (10, Some(15)),
            SamplingPattern::Snake => (15, Some(20)),
            SamplingPattern::SinglePoint => (1, Some(1)),
        }
    }
}

/// A position in decimal degrees (CGCS2000).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatLon {
    pub lat: f64,
    pub lon: f64,
}

impl LatLon {
    fn from_data(data: &Value, key: &str) -> Option<Self> {
        let lat = num(data, &[key, "lat"]).filter(|v| (-90.0..=90.0).contains(v))?;
        let lon = num(data, &[key, "lon"]).filter(|v| (-180.0..=180.0).contains(v))?;
        Some(Self { lat, lon })
    }
}

/// What the rule reads from a soil sample record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SoilSamplingInput {
    pub planned: Option<LatLon>,
    pub actual: Option<LatLon>,
    /// GNSS accuracy of the actual position, metres.
    pub accuracy_m: Option<f64>,
    pub pattern: Option<SamplingPattern>,
    pub sub_sample_count: Option<u64>,
}

impl SoilSamplingInput {
    /// Reads `planned_position`, `actual_position`, `sampling_pattern`, `sub_sample_count`.
    pub fn from_data(data: &Value) -> Self {
        Self {
            planned: LatLon::from_data(data, "planned_position"),
            actual: LatLon::from_data(data, "actual_position"),
            accuracy_m: non_neg(data, &["actual_position", "accuracy_m"]),
            pattern: code(data, &["sampling_pattern"]),
            sub_sample_count: count(data, &["sub_sample_count"]),
        }
    }
}

/// Tolerances (provincial or task practice).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SoilSamplingParams {
    /// Largest offset from the planned point without a reason, metres.
    pub allowed_offset_m: f64,
    /// Largest acceptable GNSS accuracy figure, metres.
    pub max_accuracy_m: f64,
}

impl Default for SoilSamplingParams {
    fn default() -> Self {
        Self {
            allowed_offset_m: 50.0,
            max_accuracy_m: 10.0,
        }
    }
}

/// Result; `null` wherever the data needed is missing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SoilSamplingResult {
    /// Planned-to-actual distance, rounded to 0.1 m.
    pub offset_m: Option<f64>,
    pub offset_allowed_m: f64,
    /// Whether the rounded offset is above the allowed one.
    pub offset_exceeded: Option<bool>,
    pub sub_sample_min: Option<u64>,
    pub sub_sample_max: Option<u64>,
    pub sub_sample_ok: Option<bool>,
    pub accuracy_ok: Option<bool>,
}

/// Checks offset, sub-sample count and GNSS accuracy.
pub fn evaluate(input: &SoilSamplingInput, params: &SoilSamplingParams) -> SoilSamplingResult {
    let offset_m = input
        .planned
        .zip(input.actual)
        .map(|(p, a)| round_to(distance_m(p.lat, p.lon, a.lat, a.lon), 1));
    let limits = input.pattern.map(SamplingPattern::sub_sample_limits);
    let sub_sample_ok = limits
        .zip(input.sub_sample_count)
        .map(|((min, max), n)| n >= min && max.is_none_or(|max| n <= max));
    SoilSamplingResult {
        offset_m,
        offset_allowed_m: params.allowed_offset_m,
        offset_exceeded: offset_m.map(|d| d > params.allowed_offset_m),
        sub_sample_min: limits.map(|(min, _)| min),
        sub_sample_max: limits.and_then(|(_, max)| max),
        sub_sample_ok,
        accuracy_ok: input.accuracy_m.map(|a| a <= params.max_accuracy_m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::compute;
    use serde_json::json;

    fn subs(pattern: SamplingPattern, n: u64) -> Option<bool> {
        let input = SoilSamplingInput {
            pattern: Some(pattern),
            sub_sample_count: Some(n),
            ..Default::default()
        };
        evaluate(&input, &SoilSamplingParams::default()).sub_sample_ok
    }

    #[test]
    fn sub_sample_limits() {
        use SamplingPattern::*;
        for (pattern, below, low, high, above) in [
            (PlumBlossom, 4, 5, 10, 11),
            (SShape, 4, 5, 10, 11),
            (Grid, 9, 10, 15, 16),
            (Snake, 14, 15, 20, 21),
            (SinglePoint, 0, 1, 1, 2),
        ] {
            assert_eq!(subs(pattern, below), Some(false), "{pattern:?}");
            assert_eq!(subs(pattern, low), Some(true), "{pattern:?}");
            assert_eq!(subs(pattern, high), Some(true), "{pattern:?}");
            assert_eq!(subs(pattern, above), Some(false), "{pattern:?}");
        }
        assert_eq!(subs(Diagonal, 4), Some(false));
        assert_eq!(subs(Diagonal, 5), Some(true));
        assert_eq!(subs(Diagonal, 50), Some(true));
        assert_eq!(Diagonal.sub_sample_limits(), (5, None));
    }

    #[test]
    fn offset_and_accuracy() {
        // 0.0004° of latitude = 44.5 m; 0.0005° = 55.6 m.
        let at = |dlat: f64| SoilSamplingInput {
            planned: Some(LatLon {
                lat: 36.0,
                lon: 117.0,
            }),
            actual: Some(LatLon {
                lat: 36.0 + dlat,
                lon: 117.0,
            }),
            accuracy_m: Some(10.0),
            ..Default::default()
        };
        let p = SoilSamplingParams::default();
        let r = evaluate(&at(0.0004), &p);
        assert_eq!(
            (r.offset_m, r.offset_exceeded, r.accuracy_ok),
            (Some(44.5), Some(false), Some(true))
        );
        let r = evaluate(&at(0.0005), &p);
        assert_eq!((r.offset_m, r.offset_exceeded), (Some(55.6), Some(true)));
        let p100 = SoilSamplingParams {
            allowed_offset_m: 100.0,
            max_accuracy_m: 5.0,
        };
        let r = evaluate(&at(0.0005), &p100);
        assert_eq!(
            (r.offset_exceeded, r.offset_allowed_m, r.accuracy_ok),
            (Some(false), 100.0, Some(false))
        );
        let r = evaluate(
            &SoilSamplingInput {
                planned: None,
                ..at(0.0)
            },
            &p,
        );
        assert_eq!((r.offset_m, r.offset_exceeded), (None, None));
    }

    #[test]
    fn through_compute_json() {
        let data = json!({
            "planned_position": { "lat": 36.0, "lon": 117.0 },
            "actual_position": { "lat": 36.0, "lon": 117.0, "accuracy_m": 12.5 },
            "sampling_pattern": "diagonal",
            "sub_sample_count": 5
        });
        let p = json!({ "allowed_offset_m": 100 });
        assert_eq!(
            compute("soil_sampling", &data, Some(&p)).unwrap(),
            json!({
                "offset_m": 0.0, "offset_allowed_m": 100.0, "offset_exceeded": false,
                "sub_sample_min": 5, "sub_sample_max": null, "sub_sample_ok": true,
                "accuracy_ok": false
            })
        );
        let data = json!({ "planned_position": { "lat": 95.0, "lon": 117.0 }, "actual_position": "x",
                           "sampling_pattern": "zigzag", "sub_sample_count": -3 });
        assert_eq!(
            compute("soil_sampling", &data, None).unwrap(),
            json!({
                "offset_m": null, "offset_allowed_m": 50.0, "offset_exceeded": null,
                "sub_sample_min": null, "sub_sample_max": null, "sub_sample_ok": null,
                "accuracy_ok": null
            })
        );
    }
}
