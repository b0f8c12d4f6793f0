//! Rural domestic sewage treatment facilities (domain.md section 3). Facilities with a design
//! capacity of ≥ 100 t/day need inlet and outlet water-quality monitoring every half year and an
//! inspection every quarter (the county plan, task 19). Outlet limits default to typical grade-1
//! values of the provincial discharge standards for rural domestic sewage treatment facilities
//! (农村生活污水处理设施水污染物排放标准, DB series, following 环办水体函〔2018〕1083号);
//! they differ by province and by facility size and MUST be verified and set per province
//! through `rule_params`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{non_neg, num, round_to};

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
    pub inlet: WaterQuality,
    pub outlet: WaterQuality,
}

impl SewageFacilityInput {
    /// Reads `design_capacity_t_d`, `inlet.*` and `outlet.*`.
    pub fn from_data(data: &Value) -> Self {
        Self {
            design_capacity_t_d: non_neg(data, &["design_capacity_t_d"]),
            inlet: WaterQuality::from_data(data, "inlet"),
            outlet: WaterQuality::from_data(data, "outlet"),
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
    /// Design capacity (t/day) from which monitoring is required (task 19: 100).
    pub monitoring_min_capacity_t_d: f64,
    pub outlet_limits: OutletLimits,
}

impl Default for SewageFacilityParams {
    fn default() -> Self {
        Self {
            monitoring_min_capacity_t_d: 100.0,
            outlet_limits: OutletLimits::default(),
        }
    }
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
    /// Half-yearly inlet/outlet monitoring and quarterly inspection required; `null` without a
    /// design capacity.
    pub monitoring_required: Option<bool>,
    /// Removal rate (%) per concentration, rounded to 0.1, where inlet (> 0) and outlet exist.
    pub removal_pct: BTreeMap<Pollutant, f64>,
    pub outlet_exceedances: Vec<OutletExceedance>,
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
    SewageFacilityResult {
        monitoring_required: input
            .design_capacity_t_d
            .map(|c| c >= params.monitoring_min_capacity_t_d),
        removal_pct,
        outlet_exceedances,
    }
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
        assert_eq!(
            compute("sewage_facility", &data, None).unwrap(),
            json!({
                "monitoring_required": true,
                "removal_pct": { "cod_mg_l": 78.0, "nh3n_mg_l": 60.0 },
                "outlet_exceedances": [ { "pollutant": "nh3n_mg_l", "value": 10.0, "limit": 8.0 } ]
            })
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
}
