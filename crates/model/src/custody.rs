//! A soil sample's chain of custody (`../shared/domain.md` sections 1.4 and 1.5): the steps
//! a sample goes through after it is taken, each with what the paper hand-over sheet (交接单)
//! and the preparation room's log record, and the checks of one step on its own. Checks of
//! the chain (order, links, a sample handed over twice) are `jingtu-doc`'s, over the events of
//! one record.

use serde::{Deserialize, Serialize};

use crate::{Issue, Label, Severity};

/// Cold-chain samples travel at or below this temperature (°C); air-dried samples for metals
/// travel at room temperature.
pub const COLD_CHAIN_MAX_C: f64 = 4.0;
/// The smallest retained sample (副样) in grams (verify: province practice varies).
pub const RETAINED_MIN_G: f64 = 500.0;
/// Coarse grinding passes a 2 mm (10 mesh) sieve.
pub const COARSE_MESH: u32 = 10;
/// Fine grinding: 0.25 mm (60 mesh) for organic matter and total N, 0.15 mm (100 mesh) for
/// total heavy metals.
pub const FINE_MESHES: [u32; 2] = [60, 100];

/// A hand-over of a batch (交接), as the sender writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandOver {
    /// The batch (the hand-over sheet's number): the receiver names it when confirming.
    pub batch: String,
    #[serde(default)]
    pub from_org: String,
    #[serde(default)]
    pub from_person: String,
    #[serde(default)]
    pub to_org: String,
    pub to_person: String,
    /// Samples in the batch.
    pub samples_expected: u32,
    #[serde(default = "yes")]
    pub packaging_intact: bool,
    #[serde(default = "yes")]
    pub seal_intact: bool,
    #[serde(default = "yes")]
    pub label_legible: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal_no: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_kg: Option<f64>,
    /// Only for cold-chain samples.
    #[serde(default)]
    pub cold_chain: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature_c: Option<f64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub anomalies: String,
}

/// The receiver's confirmation of a batch (接收), checked against the hand-over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub batch: String,
    pub samples_received: u32,
    #[serde(default = "yes")]
    pub packaging_intact: bool,
    #[serde(default = "yes")]
    pub seal_intact: bool,
    #[serde(default = "yes")]
    pub label_legible: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature_c: Option<f64>,
    /// How the receiver identified the sample: its label scanned, or its code typed.
    #[serde(default)]
    pub scanned: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub anomalies: String,
}

fn yes() -> bool {
    true
}

/// One step of a sample's custody, with what is recorded of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum CustodyStep {
    /// 采集: taken at its point (the collection record holds the rest).
    Collected {
        #[serde(default, skip_serializing_if = "String::is_empty")]
        note: String,
    },
    /// 装袋封装: bagged, labelled and sealed.
    Packed {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seal_no: Option<String>,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        container: String,
    },
    /// 交接: handed over in a batch.
    HandedOver(HandOver),
    /// 接收: the receiver confirms the batch.
    Received(Receipt),
    /// 风干: air-dried in the shade.
    AirDried {
        started_at_ms: i64,
        ended_at_ms: i64,
        weight_before_g: f64,
        weight_after_g: f64,
    },
    /// 粗磨: ground through a 2 mm (10 mesh) sieve.
    CoarseGround { mesh: u32 },
    /// 缩分: split by quartering.
    Split { parts: u32 },
    /// 细磨: ground through a 60 or 100 mesh sieve.
    FineGround { mesh: u32 },
    /// 分装: a portion weighed out for its purpose (analysis, retained, arbitration).
    Portioned { purpose: String, weight_g: f64 },
    /// 留样: the retained sample put in store until a day.
    Retained {
        weight_g: f64,
        /// `YYYY-MM-DD`.
        keep_until: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        place: String,
    },
    /// 送检: handed in to the lab under a blind code; the lab never sees the point code.
    LabHandIn { blind_code: String, lab: String },
}

impl CustodyStep {
    /// The step's name as stored (`handed_over`).
    pub fn name(&self) -> &'static str {
        match self {
            CustodyStep::Collected { .. } => "collected",
            CustodyStep::Packed { .. } => "packed",
            CustodyStep::HandedOver(_) => "handed_over",
            CustodyStep::Received(_) => "received",
            CustodyStep::AirDried { .. } => "air_dried",
            CustodyStep::CoarseGround { .. } => "coarse_ground",
            CustodyStep::Split { .. } => "split",
            CustodyStep::FineGround { .. } => "fine_ground",
            CustodyStep::Portioned { .. } => "portioned",
            CustodyStep::Retained { .. } => "retained",
            CustodyStep::LabHandIn { .. } => "lab_hand_in",
        }
    }

    /// The step's Chinese and English names.
    pub fn label(&self) -> Label {
        let (zh, en) = match self {
            CustodyStep::Collected { .. } => ("采集", "collected"),
            CustodyStep::Packed { .. } => ("装袋封装", "packed"),
            CustodyStep::HandedOver(_) => ("交接", "handed over"),
            CustodyStep::Received(_) => ("接收", "received"),
            CustodyStep::AirDried { .. } => ("风干", "air-dried"),
            CustodyStep::CoarseGround { .. } => ("粗磨", "coarse ground"),
            CustodyStep::Split { .. } => ("缩分", "split"),
            CustodyStep::FineGround { .. } => ("细磨", "fine ground"),
            CustodyStep::Portioned { .. } => ("分装", "portioned"),
            CustodyStep::Retained { .. } => ("留样", "retained"),
            CustodyStep::LabHandIn { .. } => ("送检", "handed in to the lab"),
        };
        Label::new(zh, en)
    }

    /// Is this step done in the preparation room (after the sample is received there)?
    pub fn is_preparation(&self) -> bool {
        matches!(
            self,
            CustodyStep::AirDried { .. }
                | CustodyStep::CoarseGround { .. }
                | CustodyStep::Split { .. }
                | CustodyStep::FineGround { .. }
                | CustodyStep::Portioned { .. }
                | CustodyStep::Retained { .. }
        )
    }

    /// What is wrong with the step on its own: errors refuse it (it cannot be recorded so),
    /// warnings are kept with it and shown (a broken seal is a fact to record, not to refuse).
    pub fn check(&self) -> Vec<Issue> {
        let mut out = Vec::new();
        let mut error = |path: &str, code: &str, zh: String, en: String| {
            out.push(issue(Severity::Error, path, code, zh, en));
        };
        let text = |s: &str| s.trim().is_empty();
        match self {
            CustodyStep::HandedOver(h) => {
                if text(&h.batch) {
                    error(
                        "batch",
                        "required",
                        "交接批次号必填".into(),
                        "the batch is required".into(),
                    );
                }
                if text(&h.to_person) {
                    error(
                        "to_person",
                        "required",
                        "接收人必填".into(),
                        "the receiver is required".into(),
                    );
                }
                if h.samples_expected == 0 {
                    error(
                        "samples_expected",
                        "minimum",
                        "交接样品数至少为 1".into(),
                        "a batch holds at least one sample".into(),
                    );
                }
            }
            CustodyStep::Received(r) if text(&r.batch) => error(
                "batch",
                "required",
                "交接批次号必填".into(),
                "the batch is required".into(),
            ),
            CustodyStep::AirDried {
                started_at_ms,
                ended_at_ms,
                weight_before_g,
                weight_after_g,
            } => {
                if ended_at_ms <= started_at_ms {
                    error(
                        "ended_at_ms",
                        "constraint",
                        "风干结束时间应晚于开始时间".into(),
                        "air-drying ends after it starts".into(),
                    );
                }
                if !(*weight_before_g > 0.0 && *weight_after_g > 0.0) {
                    error(
                        "weight_before_g",
                        "minimum",
                        "风干前后重量须大于 0".into(),
                        "weights before and after drying are above 0".into(),
                    );
                } else if weight_after_g > weight_before_g {
                    error(
                        "weight_after_g",
                        "constraint",
                        "风干后重量不应大于风干前".into(),
                        "a sample weighs no more after drying than before".into(),
                    );
                }
            }
            CustodyStep::CoarseGround { mesh } if *mesh != COARSE_MESH => error(
                "mesh",
                "enum",
                format!("粗磨应过 {COARSE_MESH} 目（2 mm）筛，记录为 {mesh} 目"),
                format!("coarse grinding passes a {COARSE_MESH} mesh (2 mm) sieve, not {mesh}"),
            ),
            CustodyStep::FineGround { mesh } if !FINE_MESHES.contains(mesh) => error(
                "mesh",
                "enum",
                format!("细磨应过 60 目或 100 目筛，记录为 {mesh} 目"),
                format!("fine grinding passes a 60 or 100 mesh sieve, not {mesh}"),
            ),
            CustodyStep::Split { parts } if *parts < 2 => error(
                "parts",
                "minimum",
                "缩分至少分为 2 份".into(),
                "a split makes at least 2 parts".into(),
            ),
            CustodyStep::Portioned { purpose, weight_g } => {
                if text(purpose) {
                    error(
                        "purpose",
                        "required",
                        "分装用途必填".into(),
                        "the purpose is required".into(),
                    );
                }
                if *weight_g <= 0.0 {
                    error(
                        "weight_g",
                        "minimum",
                        "分装重量须大于 0".into(),
                        "a portion weighs above 0".into(),
                    );
                }
            }
            CustodyStep::Retained {
                weight_g,
                keep_until,
                ..
            } => {
                if !crate::is_date(keep_until) {
                    error(
                        "keep_until",
                        "format",
                        "留样保存期限应为 YYYY-MM-DD".into(),
                        "keep until a day, YYYY-MM-DD".into(),
                    );
                }
                if *weight_g <= 0.0 {
                    error(
                        "weight_g",
                        "minimum",
                        "留样重量须大于 0".into(),
                        "a retained sample weighs above 0".into(),
                    );
                }
            }
            CustodyStep::LabHandIn { blind_code, lab } => {
                if text(blind_code) {
                    error(
                        "blind_code",
                        "required",
                        "送检密码编码必填".into(),
                        "the blind code is required".into(),
                    );
                }
                if text(lab) {
                    error(
                        "lab",
                        "required",
                        "检测实验室必填".into(),
                        "the lab is required".into(),
                    );
                }
            }
            _ => {}
        }
        out.extend(self.warnings());
        out
    }

    /// The facts worth a flag that do not stop the step being recorded.
    fn warnings(&self) -> Vec<Issue> {
        let mut out = Vec::new();
        let mut warn = |path: &str, code: &str, zh: String, en: String| {
            out.push(issue(Severity::Warning, path, code, zh, en));
        };
        let seals = |warn: &mut dyn FnMut(&str, &str, String, String),
                     packaging: bool,
                     seal: bool,
                     label: bool| {
            if !packaging {
                warn(
                    "packaging_intact",
                    "packaging_broken",
                    "包装破损".into(),
                    "the packaging is broken".into(),
                );
            }
            if !seal {
                warn(
                    "seal_intact",
                    "seal_broken",
                    "封条不完整".into(),
                    "the seal is broken".into(),
                );
            }
            if !label {
                warn(
                    "label_legible",
                    "label_illegible",
                    "标签不清".into(),
                    "the label cannot be read".into(),
                );
            }
        };
        match self {
            CustodyStep::HandedOver(h) => {
                seals(
                    &mut warn,
                    h.packaging_intact,
                    h.seal_intact,
                    h.label_legible,
                );
                if h.cold_chain {
                    match h.temperature_c {
                        Some(t) if t > COLD_CHAIN_MAX_C => warn(
                            "temperature_c",
                            "cold_chain",
                            format!("冷链样品温度 {t} ℃，高于 {COLD_CHAIN_MAX_C} ℃"),
                            format!("a cold-chain sample at {t} °C, above {COLD_CHAIN_MAX_C} °C"),
                        ),
                        None => warn(
                            "temperature_c",
                            "cold_chain",
                            "冷链样品未记录温度".into(),
                            "a cold-chain sample without its temperature".into(),
                        ),
                        _ => {}
                    }
                }
            }
            CustodyStep::Received(r) => seals(
                &mut warn,
                r.packaging_intact,
                r.seal_intact,
                r.label_legible,
            ),
            CustodyStep::Retained { weight_g, .. }
                if *weight_g > 0.0 && *weight_g < RETAINED_MIN_G =>
            {
                warn(
                    "weight_g",
                    "retained_weight",
                    format!("留样 {weight_g} g，少于 {RETAINED_MIN_G} g"),
                    format!("a retained sample of {weight_g} g, under {RETAINED_MIN_G} g"),
                )
            }
            _ => {}
        }
        out
    }
}

/// The default rule for a sample's code (`../shared/domain.md` 1.1, verify per province):
/// `{point_code}-{medium}{layer}{qc}`, e.g. `411321YJ0087-T1`, its field duplicate
/// `411321YJ0087-T1P`.
pub const DEFAULT_SAMPLE_CODE_RULE: &str = "{point_code}-{medium}{layer}{qc}";

/// What a sample's code is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleCodeParts<'a> {
    /// The planned point's code, as issued (never made up on the phone).
    pub point_code: &'a str,
    /// `T` soil, `N` crop.
    pub medium: char,
    /// The top of the layer in cm: 0-20 cm is layer 1, 20-40 cm layer 2, ...
    pub depth_top_cm: f64,
    /// The QC type (code table `qc_sample_type`): a field duplicate is marked `P`, a blind
    /// duplicate `M`; reference materials and blanks get their codes in the lab, not here.
    pub qc_type: &'a str,
}

/// A sample's code by `rule` (placeholders `{point_code}`, `{medium}`, `{layer}`, `{qc}`),
/// made offline: the point code is unique to the point, so the code is unique to the
/// point's sample of that layer and QC type. Letters, digits and `-` only.
pub fn sample_code(rule: &str, parts: &SampleCodeParts<'_>) -> Result<String, String> {
    let point = parts.point_code.trim();
    if point.is_empty() {
        return Err("the sample has no point code: it comes from the planned point list".into());
    }
    if !(parts.depth_top_cm.is_finite() && parts.depth_top_cm >= 0.0) {
        return Err(format!("depth {} cm is not a depth", parts.depth_top_cm));
    }
    let layer = (parts.depth_top_cm / 20.0).floor() as u32 + 1;
    let qc = match parts.qc_type {
        "field_duplicate" => "P",
        // 密码平行: a split of a sample sent to the lab as another; the lab sees only its
        // blind code, and the code keeps it apart from its original on the device.
        "blind_duplicate" => "M",
        _ => "",
    };
    let code = rule
        .replace("{point_code}", point)
        .replace("{medium}", &parts.medium.to_string())
        .replace("{layer}", &layer.to_string())
        .replace("{qc}", qc);
    if code.is_empty() || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(format!(
            "'{code}' is not a sample code (letters, digits and '-' only)"
        ));
    }
    Ok(code)
}

fn issue(severity: Severity, path: &str, code: &str, zh: String, en: String) -> Issue {
    Issue {
        path: path.into(),
        severity,
        code: code.into(),
        message: Label::new(&zh, &en),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(step: &CustodyStep) -> Vec<(Severity, String)> {
        step.check()
            .into_iter()
            .map(|i| (i.severity, i.code))
            .collect()
    }

    fn hand_over() -> HandOver {
        HandOver {
            batch: "JJ-2024-031".into(),
            from_org: "南召县采样组".into(),
            from_person: "王建军".into(),
            to_org: "县制备室".into(),
            to_person: "李秀兰".into(),
            samples_expected: 12,
            packaging_intact: true,
            seal_intact: true,
            label_legible: true,
            seal_no: None,
            weight_kg: Some(1.2),
            cold_chain: false,
            temperature_c: None,
            anomalies: String::new(),
        }
    }

    #[test]
    fn steps_read_from_and_write_to_json_by_their_names() {
        let step = CustodyStep::HandedOver(hand_over());
        let json = serde_json::to_value(&step).unwrap();
        assert_eq!(json["step"], "handed_over");
        assert_eq!(json["to_person"], "李秀兰");
        let back: CustodyStep = serde_json::from_value(json).unwrap();
        assert_eq!(back, step);
        let grind: CustodyStep =
            serde_json::from_str(r#"{"step": "fine_ground", "mesh": 100}"#).unwrap();
        assert_eq!(grind.name(), "fine_ground");
        assert!(grind.is_preparation() && grind.check().is_empty());
        assert!(serde_json::from_str::<CustodyStep>(r#"{"step": "teleported"}"#).is_err());
    }

    #[test]
    fn a_good_hand_over_has_no_issue_and_a_broken_seal_is_flagged_not_refused() {
        assert!(CustodyStep::HandedOver(hand_over()).check().is_empty());
        let broken = CustodyStep::Received(Receipt {
            batch: "JJ-2024-031".into(),
            samples_received: 11,
            packaging_intact: true,
            seal_intact: false,
            label_legible: true,
            temperature_c: None,
            scanned: true,
            anomalies: "1 袋封条破损".into(),
        });
        assert_eq!(
            codes(&broken),
            vec![(Severity::Warning, "seal_broken".to_string())]
        );
    }

    #[test]
    fn cold_chain_temperatures() {
        let mut h = hand_over();
        h.cold_chain = true;
        h.temperature_c = Some(3.5);
        assert!(CustodyStep::HandedOver(h.clone()).check().is_empty());
        h.temperature_c = Some(6.0);
        assert_eq!(
            codes(&CustodyStep::HandedOver(h.clone())),
            vec![(Severity::Warning, "cold_chain".to_string())]
        );
        h.temperature_c = None;
        assert_eq!(codes(&CustodyStep::HandedOver(h)).len(), 1);
    }

    #[test]
    fn missing_and_impossible_values_are_errors() {
        let mut h = hand_over();
        h.batch = " ".into();
        h.samples_expected = 0;
        assert_eq!(
            codes(&CustodyStep::HandedOver(h)),
            vec![
                (Severity::Error, "required".to_string()),
                (Severity::Error, "minimum".to_string())
            ]
        );
        let wet = CustodyStep::AirDried {
            started_at_ms: 10,
            ended_at_ms: 5,
            weight_before_g: 900.0,
            weight_after_g: 1000.0,
        };
        assert_eq!(codes(&wet).len(), 2);
        assert_eq!(codes(&CustodyStep::CoarseGround { mesh: 20 })[0].1, "enum");
        assert!(CustodyStep::CoarseGround { mesh: 10 }.check().is_empty());
        assert_eq!(codes(&CustodyStep::FineGround { mesh: 80 })[0].1, "enum");
        let lab = CustodyStep::LabHandIn {
            blind_code: String::new(),
            lab: "市检测中心".into(),
        };
        assert_eq!(codes(&lab), vec![(Severity::Error, "required".to_string())]);
    }

    #[test]
    fn sample_codes_follow_the_rule_and_mark_field_duplicates() {
        let parts = |point, depth, qc| SampleCodeParts {
            point_code: point,
            medium: 'T',
            depth_top_cm: depth,
            qc_type: qc,
        };
        let rule = DEFAULT_SAMPLE_CODE_RULE;
        assert_eq!(
            sample_code(rule, &parts("411321YJ0087", 0.0, "normal")).unwrap(),
            "411321YJ0087-T1"
        );
        assert_eq!(
            sample_code(rule, &parts("411321YJ0087", 0.0, "field_duplicate")).unwrap(),
            "411321YJ0087-T1P"
        );
        assert_eq!(
            sample_code(rule, &parts("411321YJ0087", 0.0, "blind_duplicate")).unwrap(),
            "411321YJ0087-T1M"
        );
        assert_eq!(
            sample_code(rule, &parts("411321YJ0087", 20.0, "normal")).unwrap(),
            "411321YJ0087-T2"
        );
        assert_eq!(
            sample_code("NZ{point_code}{layer}", &parts("A7", 45.0, "normal")).unwrap(),
            "NZA73"
        );
        assert!(sample_code(rule, &parts(" ", 0.0, "normal")).is_err());
        assert!(sample_code(rule, &parts("点位7", 0.0, "normal")).is_err());
        assert!(sample_code(rule, &parts("A7", f64::NAN, "normal")).is_err());
    }

    #[test]
    fn a_small_retained_sample_is_flagged() {
        let kept = |g: f64, until: &str| CustodyStep::Retained {
            weight_g: g,
            keep_until: until.into(),
            place: "留样室 A-3".into(),
        };
        assert!(kept(520.0, "2026-08-31").check().is_empty());
        assert_eq!(
            codes(&kept(300.0, "2026-08-31")),
            vec![(Severity::Warning, "retained_weight".to_string())]
        );
        assert_eq!(codes(&kept(520.0, "两年"))[0].1, "format");
    }
}
