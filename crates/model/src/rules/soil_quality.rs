//! Farmland soil classification by GB 15618-2018 《土壤环境质量 农用地土壤污染风险管控标准
//! （试行）》 (domain.md 1.7): risk screening values of the basic items (clause 4.1, 表1: paddy
//! 水田 and other 其他 columns, the orchard 果园 row for Cu, and note b: paddy-dryland rotation
//! uses the stricter value), risk control values (clause 5, 表3), and their use (clause 6):
//! ≤ screening → 优先保护类, between → 安全利用类, > control → 严格管控类. Values are total
//! contents in mg/kg by pH band ≤5.5 / 5.5-6.5 / 6.5-7.5 / >7.5.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{flag, get, non_neg, num};

/// The eight basic metals of 表1, in the standard's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metal {
    Cd,
    Hg,
    As,
    Pb,
    Cr,
    Cu,
    Ni,
    Zn,
}

impl Metal {
    pub const ALL: [Metal; 8] = [
        Metal::Cd,
        Metal::Hg,
        Metal::As,
        Metal::Pb,
        Metal::Cr,
        Metal::Cu,
        Metal::Ni,
        Metal::Zn,
    ];

    /// The metals whose values decide the class: GB 15618 sets control values for these
    /// five only (表3); Cu, Ni and Zn above screening call for more monitoring (clause 5.2).
    pub const DECIDING: [Metal; 5] = [Metal::Cd, Metal::Hg, Metal::As, Metal::Pb, Metal::Cr];

    /// Does this metal decide the class?
    pub fn decides(self) -> bool {
        Metal::DECIDING.contains(&self)
    }

    /// The field name under `lab_results`.
    pub fn key(self) -> &'static str {
        match self {
            Metal::Cd => "cd",
            Metal::Hg => "hg",
            Metal::As => "as",
            Metal::Pb => "pb",
            Metal::Cr => "cr",
            Metal::Cu => "cu",
            Metal::Ni => "ni",
            Metal::Zn => "zn",
        }
    }
}

/// Screening values for paddy fields (水田), by [`Metal::ALL`] and [`PhBand`] order.
pub const SCREENING_PADDY: [[f64; 4]; 8] = [
    [0.3, 0.4, 0.6, 0.8],         // Cd
    [0.5, 0.5, 0.6, 1.0],         // Hg
    [30.0, 30.0, 25.0, 20.0],     // As
    [80.0, 100.0, 140.0, 240.0],  // Pb
    [250.0, 250.0, 300.0, 350.0], // Cr
    [50.0, 50.0, 100.0, 100.0],   // Cu (其他)
    [60.0, 70.0, 100.0, 190.0],   // Ni
    [200.0, 200.0, 250.0, 300.0], // Zn
];

/// Screening values for other farmland (其他).
pub const SCREENING_OTHER: [[f64; 4]; 8] = [
    [0.3, 0.3, 0.3, 0.6],         // Cd
    [1.3, 1.8, 2.4, 3.4],         // Hg
    [40.0, 40.0, 30.0, 25.0],     // As
    [70.0, 90.0, 120.0, 170.0],   // Pb
    [150.0, 150.0, 200.0, 250.0], // Cr
    [50.0, 50.0, 100.0, 100.0],   // Cu
    [60.0, 70.0, 100.0, 190.0],   // Ni
    [200.0, 200.0, 250.0, 300.0], // Zn
];

/// Cu screening values for orchards (果园).
pub const SCREENING_CU_ORCHARD: [f64; 4] = [150.0, 150.0, 200.0, 200.0];

/// Control values (表3), the same for every land use; Cu, Ni and Zn have none.
pub const CONTROL: [Option<[f64; 4]>; 8] = [
    Some([1.5, 2.0, 3.0, 4.0]),           // Cd
    Some([2.0, 2.5, 4.0, 6.0]),           // Hg
    Some([200.0, 150.0, 120.0, 100.0]),   // As
    Some([400.0, 500.0, 700.0, 1000.0]),  // Pb
    Some([800.0, 850.0, 1000.0, 1300.0]), // Cr
    None,                                 // Cu
    None,                                 // Ni
    None,                                 // Zn
];

/// pH band of GB 15618 (code table `ph_band`); the upper bound belongs to the band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PhBand {
    #[serde(rename = "le5_5")]
    Le5_5,
    #[serde(rename = "gt5_5_le6_5")]
    Gt5_5Le6_5,
    #[serde(rename = "gt6_5_le7_5")]
    Gt6_5Le7_5,
    #[serde(rename = "gt7_5")]
    Gt7_5,
}

impl PhBand {
    pub fn of(ph: f64) -> Self {
        if ph <= 5.5 {
            PhBand::Le5_5
        } else if ph <= 6.5 {
            PhBand::Gt5_5Le6_5
        } else if ph <= 7.5 {
            PhBand::Gt6_5Le7_5
        } else {
            PhBand::Gt7_5
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Land use as far as GB 15618 distinguishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LandUse {
    /// `paddy_0101`.
    Paddy,
    /// `orchard_0201`: the orchard Cu row.
    Orchard,
    /// Every other code, and a missing one.
    Other,
}

impl LandUse {
    pub fn from_code(code: &str) -> Self {
        match code {
            "paddy_0101" => LandUse::Paddy,
            "orchard_0201" => LandUse::Orchard,
            _ => LandUse::Other,
        }
    }
}

/// Screening value of `metal` in `band` for `land_use`; a paddy-dryland rotation takes the
/// lower of the paddy and other-farmland values.
pub fn screening_value(metal: Metal, band: PhBand, land_use: LandUse, rotation: bool) -> f64 {
    let (m, b) = (metal as usize, band.index());
    if rotation {
        return SCREENING_PADDY[m][b].min(SCREENING_OTHER[m][b]);
    }
    match land_use {
        LandUse::Paddy => SCREENING_PADDY[m][b],
        LandUse::Orchard if metal == Metal::Cu => SCREENING_CU_ORCHARD[b],
        _ => SCREENING_OTHER[m][b],
    }
}

/// Control value of `metal` in `band`, if the standard sets one.
pub fn control_value(metal: Metal, band: PhBand) -> Option<f64> {
    CONTROL[metal as usize].map(|row| row[band.index()])
}

/// What the rule reads from a soil sample record.
#[derive(Debug, Clone, PartialEq)]
pub struct SoilQualityInput {
    pub land_use: LandUse,
    pub rotation_paddy_dryland: bool,
    pub ph: Option<f64>,
    /// Measured metals (mg/kg); unmeasured ones are left out. A metal the lab reported as
    /// not detected is measured, at 0 (below the detection limit, so below screening).
    pub metals: Vec<(Metal, f64)>,
    /// The items reported as not detected (`lab_results.not_detected`), metals and organics.
    pub not_detected: Vec<String>,
    /// Measured organics (HCH, DDT, benzo[a]pyrene; mg/kg).
    pub organics: Vec<(Organic, f64)>,
}

/// The organic items of GB 15618 表2 (其他项目): screening values only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Organic {
    Hch,
    Ddt,
    Bap,
}

impl Organic {
    pub const ALL: [Organic; 3] = [Organic::Hch, Organic::Ddt, Organic::Bap];

    /// The field name under `lab_results`.
    pub fn key(self) -> &'static str {
        match self {
            Organic::Hch => "hch",
            Organic::Ddt => "ddt",
            Organic::Bap => "bap",
        }
    }

    /// The screening value (mg/kg): 六六六总量 0.10, 滴滴涕总量 0.10, 苯并[a]芘 0.55.
    pub fn screening(self) -> f64 {
        match self {
            Organic::Hch | Organic::Ddt => 0.10,
            Organic::Bap => 0.55,
        }
    }
}

/// An organic item above its screening value: more monitoring.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrganicExceedance {
    pub item: Organic,
    pub value: f64,
    pub screening: f64,
}

impl SoilQualityInput {
    /// Reads `land_use`, `rotation_paddy_dryland` and `lab_results.*`; a pH outside 0-14 or a
    /// negative content is absent.
    pub fn from_data(data: &Value) -> Self {
        let not_detected: Vec<String> = get(data, &["lab_results", "not_detected"])
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let nd = |key: &str| not_detected.iter().any(|k| k == key);
        Self {
            land_use: get(data, &["land_use"])
                .and_then(Value::as_str)
                .map_or(LandUse::Other, LandUse::from_code),
            rotation_paddy_dryland: flag(data, &["rotation_paddy_dryland"]).unwrap_or(false),
            ph: num(data, &["lab_results", "ph"]).filter(|ph| (0.0..=14.0).contains(ph)),
            metals: Metal::ALL
                .into_iter()
                .filter_map(|m| {
                    non_neg(data, &["lab_results", m.key()])
                        .or_else(|| nd(m.key()).then_some(0.0))
                        .map(|v| (m, v))
                })
                .collect(),
            organics: Organic::ALL
                .into_iter()
                .filter_map(|o| non_neg(data, &["lab_results", o.key()]).map(|v| (o, v)))
                .collect(),
            not_detected,
        }
    }
}

/// The rule has no tunable numbers: they are the national standard's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SoilQualityParams {}

/// Soil class (code table `soil_class`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SoilClass {
    PriorityProtection,
    SafeUse,
    StrictControl,
}

/// Which value a metal exceeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExceedLevel {
    Screening,
    Control,
}

/// One metal above its screening value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exceedance {
    pub metal: Metal,
    pub value: f64,
    pub screening: f64,
    pub control: Option<f64>,
    pub level: ExceedLevel,
}

/// Whether the five deciding metals were all measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Panel {
    Complete,
    Partial,
}

/// Result: the class (null without pH or until Cd, Hg, As, Pb and Cr are all measured), the
/// pH band, whether the deciding panel is complete and which of its metals are missing, the
/// deciding metals above screening (`exceedances`), and Cu, Ni or Zn above screening
/// (`monitoring`: more monitoring, not a class).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SoilQualityResult {
    pub class: Option<SoilClass>,
    pub ph_band: Option<PhBand>,
    pub panel: Panel,
    pub missing: Vec<Metal>,
    pub exceedances: Vec<Exceedance>,
    pub monitoring: Vec<Exceedance>,
    /// HCH, DDT or benzo[a]pyrene above screening: more monitoring too.
    pub organics_over: Vec<OrganicExceedance>,
    /// What the lab reported as not detected.
    pub not_detected: Vec<String>,
}

/// Classifies a sample by GB 15618-2018: with a pH and all five deciding metals measured,
/// all ≤ screening → priority protection; any above screening but all ≤ control → safe use;
/// any above control → strict control. A partial panel gets no class (it is reported as
/// partial, with what is missing); Cu, Ni and Zn above screening are listed for monitoring.
pub fn evaluate(input: &SoilQualityInput, _params: &SoilQualityParams) -> SoilQualityResult {
    let missing: Vec<Metal> = Metal::DECIDING
        .into_iter()
        .filter(|m| !input.metals.iter().any(|(x, _)| x == m))
        .collect();
    let panel = if missing.is_empty() {
        Panel::Complete
    } else {
        Panel::Partial
    };
    let organics_over: Vec<OrganicExceedance> = input
        .organics
        .iter()
        .filter(|(o, v)| *v > o.screening())
        .map(|&(item, value)| OrganicExceedance {
            item,
            value,
            screening: item.screening(),
        })
        .collect();
    let not_detected = input.not_detected.clone();
    let Some(band) = input.ph.map(PhBand::of) else {
        return SoilQualityResult {
            class: None,
            ph_band: None,
            panel,
            missing,
            exceedances: Vec::new(),
            monitoring: Vec::new(),
            organics_over,
            not_detected,
        };
    };
    let (mut exceedances, mut monitoring): (Vec<Exceedance>, Vec<Exceedance>) = input
        .metals
        .iter()
        .filter_map(|&(metal, value)| {
            let screening =
                screening_value(metal, band, input.land_use, input.rotation_paddy_dryland);
            let control = control_value(metal, band);
            (value > screening).then(|| Exceedance {
                metal,
                value,
                screening,
                control,
                level: if control.is_some_and(|c| value > c) {
                    ExceedLevel::Control
                } else {
                    ExceedLevel::Screening
                },
            })
        })
        .partition(|e| e.metal.decides());
    // In the standard's order, whatever order the values came in.
    exceedances.sort_by_key(|e| e.metal);
    monitoring.sort_by_key(|e| e.metal);
    let class = (panel == Panel::Complete).then(|| {
        if exceedances.iter().any(|e| e.level == ExceedLevel::Control) {
            SoilClass::StrictControl
        } else if exceedances.is_empty() {
            SoilClass::PriorityProtection
        } else {
            SoilClass::SafeUse
        }
    });
    SoilQualityResult {
        class,
        ph_band: Some(band),
        panel,
        missing,
        exceedances,
        monitoring,
        organics_over,
        not_detected,
    }
}

#[cfg(test)]
mod tests {
    use super::LandUse::{Orchard, Other, Paddy};
    use super::Metal::*;
    use super::*;
    use crate::rules::compute;
    use serde_json::json;

    fn band(ph: f64) -> PhBand {
        PhBand::of(ph)
    }

    #[test]
    fn table_cells_verbatim() {
        assert_eq!(screening_value(Cd, band(6.0), Paddy, false), 0.4);
        assert_eq!(screening_value(Cd, band(8.0), Other, false), 0.6);
        assert_eq!(control_value(Pb, band(7.0)), Some(700.0));
        assert_eq!(screening_value(As, band(5.0), Paddy, false), 30.0);
        assert_eq!(screening_value(Cu, band(7.0), Orchard, false), 200.0);
        assert_eq!(screening_value(Cu, band(7.0), Paddy, false), 100.0);
        assert_eq!(screening_value(Cu, band(5.0), Other, false), 50.0);
        assert_eq!(screening_value(Hg, band(8.0), Other, false), 3.4);
        assert_eq!(screening_value(Pb, band(8.0), Paddy, false), 240.0);
        assert_eq!(screening_value(Cr, band(6.0), Other, false), 150.0);
        assert_eq!(screening_value(Ni, band(8.0), Paddy, false), 190.0);
        assert_eq!(screening_value(Zn, band(7.0), Other, false), 250.0);
        // Orchard only changes Cu.
        assert_eq!(screening_value(Cd, band(7.0), Orchard, false), 0.3);
        assert_eq!(control_value(Cd, band(5.0)), Some(1.5));
        assert_eq!(control_value(Hg, band(8.0)), Some(6.0));
        assert_eq!(control_value(As, band(6.0)), Some(150.0));
        assert_eq!(control_value(Cr, band(8.0)), Some(1300.0));
        assert_eq!(control_value(Cu, band(7.0)), None);
        assert_eq!(control_value(Zn, band(7.0)), None);
    }

    #[test]
    fn rotation_takes_the_stricter_value() {
        assert_eq!(screening_value(Cd, band(7.0), Paddy, true), 0.3); // not 0.6
        assert_eq!(screening_value(Cd, band(7.0), Other, true), 0.3);
        assert_eq!(screening_value(Hg, band(7.0), Other, true), 0.6); // paddy 0.6 < other 2.4
        assert_eq!(screening_value(Pb, band(7.0), Paddy, true), 120.0); // other 120 < paddy 140
        assert_eq!(screening_value(As, band(8.0), Paddy, true), 20.0);
    }

    #[test]
    fn ph_band_boundaries() {
        assert_eq!(band(5.5), PhBand::Le5_5);
        assert_eq!(band(5.51), PhBand::Gt5_5Le6_5);
        assert_eq!(band(6.5), PhBand::Gt5_5Le6_5);
        assert_eq!(band(6.51), PhBand::Gt6_5Le7_5);
        assert_eq!(band(7.5), PhBand::Gt6_5Le7_5);
        assert_eq!(band(7.51), PhBand::Gt7_5);
        assert_eq!(screening_value(Cd, band(5.5), Paddy, false), 0.3);
        assert_eq!(screening_value(Cd, band(5.51), Paddy, false), 0.4);
    }

    fn classify(land_use: LandUse, ph: f64, metals: &[(Metal, f64)]) -> SoilQualityResult {
        let input = SoilQualityInput {
            land_use,
            rotation_paddy_dryland: false,
            ph: Some(ph),
            metals: metals.to_vec(),
            not_detected: Vec::new(),
            organics: Vec::new(),
        };
        evaluate(&input, &SoilQualityParams::default())
    }

    /// The deciding panel below every screening value at pH 6.0, with `over` replacing its
    /// metal.
    fn panel(over: &[(Metal, f64)]) -> Vec<(Metal, f64)> {
        let mut all = vec![(Cd, 0.1), (Hg, 0.1), (As, 10.0), (Pb, 50.0), (Cr, 100.0)];
        for &(m, v) in over {
            match all.iter_mut().find(|(x, _)| *x == m) {
                Some(slot) => slot.1 = v,
                None => all.push((m, v)),
            }
        }
        all
    }

    #[test]
    fn class_outcomes() {
        // Equal to the screening value is still priority protection.
        let r = classify(Paddy, 6.0, &panel(&[(Cd, 0.4), (Pb, 100.0)]));
        assert_eq!(
            (r.class, r.exceedances.len()),
            (Some(SoilClass::PriorityProtection), 0)
        );
        let r = classify(Paddy, 6.0, &panel(&[(Cd, 0.41), (Pb, 100.0)]));
        assert_eq!(r.class, Some(SoilClass::SafeUse));
        assert_eq!(
            r.exceedances,
            [Exceedance {
                metal: Cd,
                value: 0.41,
                screening: 0.4,
                control: Some(2.0),
                level: ExceedLevel::Screening
            }]
        );
        // Equal to the control value is still safe use; above it is strict control.
        assert_eq!(
            classify(Paddy, 6.0, &panel(&[(Cd, 2.0)])).class,
            Some(SoilClass::SafeUse)
        );
        let r = classify(Paddy, 6.0, &panel(&[(Cd, 2.01), (Cu, 60.0)]));
        assert_eq!(r.class, Some(SoilClass::StrictControl));
        assert_eq!(r.exceedances[0].level, ExceedLevel::Control);
        // Cu above its screening value asks for monitoring; it is not part of the class.
        assert_eq!(r.monitoring.len(), 1);
        assert_eq!(r.monitoring[0].metal, Cu);
        // No metal measured: no class, but the band is known.
        let r = classify(Other, 7.0, &[]);
        assert_eq!((r.class, r.ph_band), (None, Some(PhBand::Gt6_5Le7_5)));
        assert_eq!((r.panel, r.missing.len()), (Panel::Partial, 5));
    }

    #[test]
    fn cu_ni_zn_above_screening_call_for_monitoring_not_a_class() {
        let r = classify(Other, 7.0, &panel(&[(Zn, 5000.0), (Ni, 150.0), (Cu, 20.0)]));
        assert_eq!(r.class, Some(SoilClass::PriorityProtection));
        assert!(r.exceedances.is_empty());
        let metals: Vec<Metal> = r.monitoring.iter().map(|e| e.metal).collect();
        assert_eq!(metals, [Ni, Zn]);
        assert_eq!(r.monitoring[1].control, None);
    }

    #[test]
    fn a_partial_panel_gets_no_class_and_says_what_is_missing() {
        // Cd far above its control value, but Hg, As, Pb and Cr not measured yet.
        let r = classify(Paddy, 6.0, &[(Cd, 9.0), (Zn, 100.0)]);
        assert_eq!(r.class, None);
        assert_eq!(r.panel, Panel::Partial);
        assert_eq!(r.missing, [Hg, As, Pb, Cr]);
        // What is over is still shown.
        assert_eq!(r.exceedances[0].level, ExceedLevel::Control);
        let r = classify(Paddy, 6.0, &panel(&[(Cd, 9.0)]));
        assert_eq!(
            (r.class, r.panel, r.missing.len()),
            (Some(SoilClass::StrictControl), Panel::Complete, 0)
        );
    }

    #[test]
    fn not_detected_values_complete_the_panel_and_organics_are_screened() {
        let data = json!({
            "land_use": "dryland_0103",
            "lab_results": {
                "ph": 6.0, "cd": 0.25, "pb": 40, "cr": 90,
                "not_detected": ["hg", "as", "ddt"],
                "hch": 0.02, "bap": 0.8
            }
        });
        let out = compute("soil_quality_class", &data, None).unwrap();
        assert_eq!(out["panel"], "complete", "{out}");
        assert_eq!(out["class"], "priority_protection", "{out}");
        assert_eq!(out["not_detected"], json!(["hg", "as", "ddt"]));
        assert_eq!(
            out["organics_over"],
            json!([{ "item": "bap", "value": 0.8, "screening": 0.55 }])
        );
        // A value given beside "not detected" is the value.
        let data = json!({
            "lab_results": { "ph": 6.0, "cd": 0.25, "pb": 40, "cr": 90, "hg": 0.1, "as": 99,
                             "not_detected": ["as"] }
        });
        let out = compute("soil_quality_class", &data, None).unwrap();
        assert_eq!(out["class"], "safe_use", "{out}");
    }

    #[test]
    fn each_ph_band_and_land_use_classifies_by_its_own_values() {
        // Cd 0.5: above paddy screening at pH ≤ 6.5 (0.3, 0.4), not at 6.5-7.5 (0.6) or > 7.5
        // (0.8); on other farmland above 0.3 up to pH 7.5, not above 7.5 (0.6).
        let cases = [
            (Paddy, 5.0, SoilClass::SafeUse),
            (Paddy, 6.0, SoilClass::SafeUse),
            (Paddy, 7.0, SoilClass::PriorityProtection),
            (Paddy, 8.0, SoilClass::PriorityProtection),
            (Other, 5.0, SoilClass::SafeUse),
            (Other, 6.0, SoilClass::SafeUse),
            (Other, 7.0, SoilClass::SafeUse),
            (Other, 8.0, SoilClass::PriorityProtection),
        ];
        for (land, ph, class) in cases {
            let r = classify(land, ph, &panel(&[(Cd, 0.5), (Pb, 60.0)]));
            assert_eq!(r.class, Some(class), "{land:?} pH {ph}");
        }
        // Pb 450: above the control value at pH ≤ 5.5 (400) only.
        for (ph, class) in [
            (5.0, SoilClass::StrictControl),
            (6.0, SoilClass::SafeUse),
            (7.0, SoilClass::SafeUse),
            (8.0, SoilClass::SafeUse),
        ] {
            assert_eq!(
                classify(Other, ph, &panel(&[(Pb, 450.0)])).class,
                Some(class),
                "pH {ph}"
            );
        }
    }

    #[test]
    fn through_compute_json() {
        // "n.d." is not a number yet: Hg counts as not measured, so the panel is partial.
        let data = json!({
            "land_use": "paddy_0101",
            "rotation_paddy_dryland": true,
            "lab_results": { "ph": 7.0, "cd": 0.45, "pb": 80, "hg": "n.d.", "zn": null }
        });
        let out = compute("soil_quality_class", &data, None).unwrap();
        assert_eq!(
            out,
            json!({
                "class": null,
                "ph_band": "gt6_5_le7_5",
                "panel": "partial",
                "missing": ["hg", "as", "cr"],
                "exceedances": [
                    { "metal": "cd", "value": 0.45, "screening": 0.3, "control": 3.0, "level": "screening" }
                ],
                "monitoring": [],
                "organics_over": [],
                "not_detected": []
            })
        );
        let data = json!({
            "land_use": "paddy_0101",
            "rotation_paddy_dryland": true,
            "lab_results": { "ph": 7.0, "cd": 0.45, "pb": 80, "hg": 0.2, "as": 12, "cr": 90 }
        });
        let out = compute("soil_quality_class", &data, None).unwrap();
        assert_eq!(
            (&out["class"], &out["panel"]),
            (&json!("safe_use"), &json!("complete"))
        );
        let out = compute(
            "soil_quality_class",
            &json!({ "lab_results": { "cd": 9.0 } }),
            None,
        )
        .unwrap();
        assert_eq!(
            out,
            json!({ "class": null, "ph_band": null, "panel": "partial",
                    "missing": ["hg", "as", "pb", "cr"], "exceedances": [], "monitoring": [],
                    "organics_over": [], "not_detected": [] })
        );
        let out = compute(
            "soil_quality_class",
            &json!({ "lab_results": { "ph": 15, "cd": 9.0 } }),
            None,
        );
        assert_eq!(out.unwrap()["class"], Value::Null);
    }
}
