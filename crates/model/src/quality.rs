//! Quality control of a batch of soil samples (`../shared/domain.md` 1.6): how many field
//! duplicates (现场平行), blind duplicates (密码平行), lab duplicates (实验室平行) and certified
//! reference materials (标准样) a batch needs, by ratios the template configures
//! (`x-template.quality_control`, province practice varies), and whether a batch meets them.

use serde::{Deserialize, Serialize};

use crate::Label;

/// A share of a batch: at least `min` (and at most `max`, when given) of the base, and at
/// least `at_least` samples whenever the base is not empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QcRatio {
    pub min: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(default)]
    pub at_least: u32,
}

/// The QC a batch needs (`x-template.quality_control`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityControlPlan {
    /// Field duplicates, of the routine samples (5-10 %).
    pub field_duplicate: QcRatio,
    /// Blind duplicates inserted at hand-over, of the routine samples (about 10 %).
    pub blind_duplicate: QcRatio,
    /// Samples the lab measured twice, of all samples in the batch (20 %, at least one).
    pub lab_duplicate: QcRatio,
    /// Certified reference materials in each batch.
    #[serde(default)]
    pub crm_per_batch: u32,
}

impl Default for QualityControlPlan {
    /// The ratios of `../shared/domain.md` 1.6.
    fn default() -> Self {
        QualityControlPlan {
            field_duplicate: QcRatio {
                min: 0.05,
                max: Some(0.10),
                at_least: 1,
            },
            blind_duplicate: QcRatio {
                min: 0.10,
                max: None,
                at_least: 1,
            },
            lab_duplicate: QcRatio {
                min: 0.20,
                max: None,
                at_least: 1,
            },
            crm_per_batch: 1,
        }
    }
}

impl QualityControlPlan {
    /// Checks a plan as written in a template: ratios between 0 and 1, `max` not below `min`.
    pub fn check(&self) -> Result<(), String> {
        for (name, r) in [
            ("field_duplicate", &self.field_duplicate),
            ("blind_duplicate", &self.blind_duplicate),
            ("lab_duplicate", &self.lab_duplicate),
        ] {
            if !(r.min.is_finite() && (0.0..=1.0).contains(&r.min)) {
                return Err(format!("{name}.min must be a share between 0 and 1"));
            }
            if let Some(max) = r.max
                && !(max.is_finite() && (r.min..=1.0).contains(&max))
            {
                return Err(format!(
                    "{name}.max must be a share between {name}.min and 1"
                ));
            }
        }
        Ok(())
    }
}

/// One sample of a batch, as QC counts it.
#[derive(Debug, Clone, PartialEq)]
pub struct QcSample {
    /// Code table `qc_sample_type`: normal, field_duplicate, blind_duplicate, crm, blank.
    pub qc_type: String,
    /// The lab measured it twice (`lab_results.lab_duplicate`).
    pub lab_duplicate: bool,
}

/// How a batch stands against one ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QcStatus {
    /// Enough, and not too many.
    Met,
    /// Fewer than required.
    Short,
    /// More than the ratio's maximum (a warning: the lab's work grows).
    Above,
}

/// One line of a batch's QC report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QcCheck {
    /// `field_duplicate`, `blind_duplicate`, `lab_duplicate` or `crm`.
    pub item: String,
    pub label: Label,
    /// What the ratio is of: the routine samples, or all samples of the batch.
    pub base: u32,
    pub count: u32,
    /// The fewest that meet the ratio.
    pub required: u32,
    /// `count / base` (0 when the base is empty).
    pub ratio: f64,
    pub min: f64,
    pub max: Option<f64>,
    pub status: QcStatus,
}

/// A batch's QC: its samples by type and each ratio met or not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QcReport {
    pub samples: u32,
    /// Routine samples (常规样).
    pub routine: u32,
    pub checks: Vec<QcCheck>,
    /// Every ratio reached (a ratio above its maximum does not fail the batch).
    pub met: bool,
}

/// The QC report of a batch of `samples` under `plan`.
pub fn batch_qc(plan: &QualityControlPlan, samples: &[QcSample]) -> QcReport {
    let count = |t: &str| samples.iter().filter(|s| s.qc_type == t).count() as u32;
    let total = samples.len() as u32;
    let routine = samples
        .iter()
        .filter(|s| s.qc_type.is_empty() || s.qc_type == "normal")
        .count() as u32;
    let lab_dups = samples.iter().filter(|s| s.lab_duplicate).count() as u32;
    let mut checks = vec![
        ratio_check(
            "field_duplicate",
            Label::new("现场平行样", "Field duplicates"),
            &plan.field_duplicate,
            routine,
            count("field_duplicate"),
        ),
        ratio_check(
            "blind_duplicate",
            Label::new("密码平行样", "Blind duplicates"),
            &plan.blind_duplicate,
            routine,
            count("blind_duplicate"),
        ),
        ratio_check(
            "lab_duplicate",
            Label::new("实验室平行样", "Lab duplicates"),
            &plan.lab_duplicate,
            total,
            lab_dups,
        ),
    ];
    if plan.crm_per_batch > 0 {
        let crm = count("crm");
        checks.push(QcCheck {
            item: "crm".into(),
            label: Label::new("标准样品", "Certified reference materials"),
            base: total,
            count: crm,
            required: plan.crm_per_batch,
            ratio: if total == 0 {
                0.0
            } else {
                f64::from(crm) / f64::from(total)
            },
            min: 0.0,
            max: None,
            status: if crm >= plan.crm_per_batch {
                QcStatus::Met
            } else {
                QcStatus::Short
            },
        });
    }
    let met = total > 0 && checks.iter().all(|c| c.status != QcStatus::Short);
    QcReport {
        samples: total,
        routine,
        checks,
        met,
    }
}

fn ratio_check(item: &str, label: Label, r: &QcRatio, base: u32, count: u32) -> QcCheck {
    // The fewest that reach the share, rounded up (5 % of 30 is 2), and `at_least` whenever
    // there is anything to duplicate. A tiny epsilon keeps 10 % of 20 at 2, not 3.
    let required = if base == 0 {
        0
    } else {
        ((r.min * f64::from(base) - 1e-9).ceil().max(0.0) as u32).max(r.at_least)
    };
    let ratio = if base == 0 {
        0.0
    } else {
        f64::from(count) / f64::from(base)
    };
    let status = if count < required {
        QcStatus::Short
    } else if r
        .max
        .is_some_and(|max| ratio > max + 1e-9 && count > required)
    {
        QcStatus::Above
    } else {
        QcStatus::Met
    };
    QcCheck {
        item: item.into(),
        label,
        base,
        count,
        required,
        ratio,
        min: r.min,
        max: r.max,
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(kinds: &[(&str, usize)], lab_dups: usize) -> Vec<QcSample> {
        let mut out = Vec::new();
        for (t, n) in kinds {
            for _ in 0..*n {
                out.push(QcSample {
                    qc_type: t.to_string(),
                    lab_duplicate: false,
                });
            }
        }
        for s in out.iter_mut().take(lab_dups) {
            s.lab_duplicate = true;
        }
        out
    }

    fn status(r: &QcReport, item: &str) -> (u32, u32, QcStatus) {
        let c = r.checks.iter().find(|c| c.item == item).unwrap();
        (c.count, c.required, c.status)
    }

    #[test]
    fn a_batch_of_twenty_routine_samples_needs_one_field_two_blind_and_five_lab_duplicates() {
        let plan = QualityControlPlan::default();
        let r = batch_qc(
            &plan,
            &batch(
                &[
                    ("normal", 20),
                    ("field_duplicate", 1),
                    ("blind_duplicate", 2),
                    ("crm", 1),
                ],
                5,
            ),
        );
        assert_eq!((r.samples, r.routine), (24, 20));
        assert_eq!(status(&r, "field_duplicate"), (1, 1, QcStatus::Met));
        assert_eq!(status(&r, "blind_duplicate"), (2, 2, QcStatus::Met));
        // 20 % of all 24 samples, rounded up.
        assert_eq!(status(&r, "lab_duplicate"), (5, 5, QcStatus::Met));
        assert_eq!(status(&r, "crm"), (1, 1, QcStatus::Met));
        assert!(r.met);
    }

    #[test]
    fn missing_duplicates_and_reference_material_fail_the_batch() {
        let plan = QualityControlPlan::default();
        let r = batch_qc(&plan, &batch(&[("normal", 30), ("blind_duplicate", 2)], 3));
        assert_eq!(status(&r, "field_duplicate"), (0, 2, QcStatus::Short));
        assert_eq!(status(&r, "blind_duplicate"), (2, 3, QcStatus::Short));
        assert_eq!(status(&r, "lab_duplicate"), (3, 7, QcStatus::Short));
        assert_eq!(status(&r, "crm"), (0, 1, QcStatus::Short));
        assert!(!r.met);
    }

    #[test]
    fn a_small_batch_needs_at_least_one_of_each_and_too_many_field_duplicates_warn() {
        let plan = QualityControlPlan::default();
        let r = batch_qc(
            &plan,
            &batch(
                &[
                    ("normal", 4),
                    ("field_duplicate", 2),
                    ("blind_duplicate", 1),
                    ("crm", 1),
                ],
                1,
            ),
        );
        // 2 of 4 is 50 %, over the 10 % maximum: a warning, not a failure.
        assert_eq!(status(&r, "field_duplicate"), (2, 1, QcStatus::Above));
        assert_eq!(status(&r, "lab_duplicate"), (1, 2, QcStatus::Short));
        let r = batch_qc(
            &plan,
            &batch(
                &[
                    ("normal", 4),
                    ("field_duplicate", 1),
                    ("blind_duplicate", 1),
                    ("crm", 1),
                ],
                2,
            ),
        );
        assert_eq!(status(&r, "field_duplicate"), (1, 1, QcStatus::Met));
        assert!(r.met, "{r:?}");
        assert!(!batch_qc(&plan, &[]).met, "an empty batch meets nothing");
    }

    #[test]
    fn plans_are_configurable_and_checked() {
        let plan: QualityControlPlan = serde_json::from_value(serde_json::json!({
            "field_duplicate": {"min": 0.1},
            "blind_duplicate": {"min": 0.0},
            "lab_duplicate": {"min": 0.5, "at_least": 2},
        }))
        .unwrap();
        assert!(plan.check().is_ok());
        let r = batch_qc(&plan, &batch(&[("normal", 10), ("field_duplicate", 1)], 6));
        assert_eq!(status(&r, "field_duplicate"), (1, 1, QcStatus::Met));
        assert_eq!(status(&r, "blind_duplicate"), (0, 0, QcStatus::Met));
        assert_eq!(status(&r, "lab_duplicate"), (6, 6, QcStatus::Met));
        assert!(r.checks.iter().all(|c| c.item != "crm"));
        assert!(r.met);
        let bad = QualityControlPlan {
            field_duplicate: QcRatio {
                min: 0.2,
                max: Some(0.1),
                at_least: 0,
            },
            ..Default::default()
        };
        assert!(bad.check().unwrap_err().contains("field_duplicate.max"));
        assert!(
            serde_json::from_value::<QualityControlPlan>(serde_json::json!({
                "field_duplicate": {"min": 0.1, "mn": 1},
                "blind_duplicate": {"min": 0.0},
                "lab_duplicate": {"min": 0.5},
            }))
            .is_err()
        );
    }
}
