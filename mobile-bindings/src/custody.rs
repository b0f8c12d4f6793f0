//! A soil sample's chain of custody across the boundary: steps as a Kotlin sealed class /
//! Swift enum, counts as signed integers, the verified chain with its findings.

use crate::error::{JingtuError, Result};
use crate::record::{Severity, ValidationIssue};

/// A hand-over of a batch (交接), as the sender writes it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct HandOver {
    /// The batch (the hand-over sheet's number): the receiver names it when confirming.
    pub batch: String,
    pub from_org: String,
    pub from_person: String,
    pub to_org: String,
    pub to_person: String,
    pub samples_expected: i32,
    pub packaging_intact: bool,
    pub seal_intact: bool,
    pub label_legible: bool,
    pub seal_no: Option<String>,
    pub weight_kg: Option<f64>,
    /// Only for cold-chain samples (at or below 4 °C).
    pub cold_chain: bool,
    pub temperature_c: Option<f64>,
    pub anomalies: String,
}

/// The receiver's confirmation of a batch (接收), checked against the hand-over.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Receipt {
    pub batch: String,
    pub samples_received: i32,
    pub packaging_intact: bool,
    pub seal_intact: bool,
    pub label_legible: bool,
    pub temperature_c: Option<f64>,
    /// The sample's label was scanned (not typed).
    pub scanned: bool,
    pub anomalies: String,
}

/// One step of a sample's custody after it is taken.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum CustodyStep {
    /// 采集
    Collected { note: String },
    /// 装袋封装
    Packed {
        seal_no: Option<String>,
        container: String,
    },
    /// 交接
    HandedOver { hand_over: HandOver },
    /// 接收
    Received { receipt: Receipt },
    /// 风干
    AirDried {
        started_at_ms: i64,
        ended_at_ms: i64,
        weight_before_g: f64,
        weight_after_g: f64,
    },
    /// 粗磨 (10 mesh)
    CoarseGround { mesh: i32 },
    /// 缩分
    Split { parts: i32 },
    /// 细磨 (60 or 100 mesh)
    FineGround { mesh: i32 },
    /// 分装
    Portioned { purpose: String, weight_g: f64 },
    /// 留样 (`keep_until` is `YYYY-MM-DD`)
    Retained {
        weight_g: f64,
        keep_until: String,
        place: String,
    },
    /// 送检, under a blind code
    LabHandIn { blind_code: String, lab: String },
}

fn count(field: &str, n: i32) -> Result<u32> {
    u32::try_from(n).map_err(|_| JingtuError::InvalidInput {
        field: field.into(),
        reason: format!("{n} is below 0"),
    })
}

impl TryFrom<CustodyStep> for jingtu_core::CustodyStep {
    type Error = JingtuError;

    fn try_from(s: CustodyStep) -> Result<Self> {
        use jingtu_core::CustodyStep as C;
        Ok(match s {
            CustodyStep::Collected { note } => C::Collected { note },
            CustodyStep::Packed { seal_no, container } => C::Packed { seal_no, container },
            CustodyStep::HandedOver { hand_over: h } => C::HandedOver(jingtu_core::HandOver {
                samples_expected: count("samples_expected", h.samples_expected)?,
                batch: h.batch,
                from_org: h.from_org,
                from_person: h.from_person,
                to_org: h.to_org,
                to_person: h.to_person,
                packaging_intact: h.packaging_intact,
                seal_intact: h.seal_intact,
                label_legible: h.label_legible,
                seal_no: h.seal_no,
                weight_kg: h.weight_kg,
                cold_chain: h.cold_chain,
                temperature_c: h.temperature_c,
                anomalies: h.anomalies,
            }),
            CustodyStep::Received { receipt: r } => C::Received(jingtu_core::Receipt {
                samples_received: count("samples_received", r.samples_received)?,
                batch: r.batch,
                packaging_intact: r.packaging_intact,
                seal_intact: r.seal_intact,
                label_legible: r.label_legible,
                temperature_c: r.temperature_c,
                scanned: r.scanned,
                anomalies: r.anomalies,
            }),
            CustodyStep::AirDried {
                started_at_ms,
                ended_at_ms,
                weight_before_g,
                weight_after_g,
            } => C::AirDried {
                started_at_ms,
                ended_at_ms,
                weight_before_g,
                weight_after_g,
            },
            CustodyStep::CoarseGround { mesh } => C::CoarseGround {
                mesh: count("mesh", mesh)?,
            },
            CustodyStep::Split { parts } => C::Split {
                parts: count("parts", parts)?,
            },
            CustodyStep::FineGround { mesh } => C::FineGround {
                mesh: count("mesh", mesh)?,
            },
            CustodyStep::Portioned { purpose, weight_g } => C::Portioned { purpose, weight_g },
            CustodyStep::Retained {
                weight_g,
                keep_until,
                place,
            } => C::Retained {
                weight_g,
                keep_until,
                place,
            },
            CustodyStep::LabHandIn { blind_code, lab } => C::LabHandIn { blind_code, lab },
        })
    }
}

fn signed(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl From<jingtu_core::CustodyStep> for CustodyStep {
    fn from(s: jingtu_core::CustodyStep) -> Self {
        use jingtu_core::CustodyStep as C;
        match s {
            C::Collected { note } => CustodyStep::Collected { note },
            C::Packed { seal_no, container } => CustodyStep::Packed { seal_no, container },
            C::HandedOver(h) => CustodyStep::HandedOver {
                hand_over: HandOver {
                    samples_expected: signed(h.samples_expected),
                    batch: h.batch,
                    from_org: h.from_org,
                    from_person: h.from_person,
                    to_org: h.to_org,
                    to_person: h.to_person,
                    packaging_intact: h.packaging_intact,
                    seal_intact: h.seal_intact,
                    label_legible: h.label_legible,
                    seal_no: h.seal_no,
                    weight_kg: h.weight_kg,
                    cold_chain: h.cold_chain,
                    temperature_c: h.temperature_c,
                    anomalies: h.anomalies,
                },
            },
            C::Received(r) => CustodyStep::Received {
                receipt: Receipt {
                    samples_received: signed(r.samples_received),
                    batch: r.batch,
                    packaging_intact: r.packaging_intact,
                    seal_intact: r.seal_intact,
                    label_legible: r.label_legible,
                    temperature_c: r.temperature_c,
                    scanned: r.scanned,
                    anomalies: r.anomalies,
                },
            },
            C::AirDried {
                started_at_ms,
                ended_at_ms,
                weight_before_g,
                weight_after_g,
            } => CustodyStep::AirDried {
                started_at_ms,
                ended_at_ms,
                weight_before_g,
                weight_after_g,
            },
            C::CoarseGround { mesh } => CustodyStep::CoarseGround { mesh: signed(mesh) },
            C::Split { parts } => CustodyStep::Split {
                parts: signed(parts),
            },
            C::FineGround { mesh } => CustodyStep::FineGround { mesh: signed(mesh) },
            C::Portioned { purpose, weight_g } => CustodyStep::Portioned { purpose, weight_g },
            C::Retained {
                weight_g,
                keep_until,
                place,
            } => CustodyStep::Retained {
                weight_g,
                keep_until,
                place,
            },
            C::LabHandIn { blind_code, lab } => CustodyStep::LabHandIn { blind_code, lab },
        }
    }
}

/// One event of a sample's chain.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CustodyEvent {
    pub id: String,
    pub step: CustodyStep,
    /// The step's name (`handed_over`) and labels (交接).
    pub step_name: String,
    pub label_zh: String,
    pub label_en: String,
    pub at_ms: i64,
    pub by: String,
    pub device: String,
    /// The event it follows; none for the first.
    pub prev: Option<String>,
    pub hash: String,
    /// The writer's ed25519 public key (hex), when the event is signed.
    pub key: Option<String>,
    /// Whether the event's signature verifies with that key.
    pub signed: bool,
    /// The step's own warnings (a broken seal, a warm cold-chain sample).
    pub issues: Vec<ValidationIssue>,
}

impl From<jingtu_core::SampleCustodyEvent> for CustodyEvent {
    fn from(e: jingtu_core::SampleCustodyEvent) -> Self {
        let label = e.step.label();
        CustodyEvent {
            step_name: e.step.name().into(),
            label_zh: label.zh,
            label_en: label.en,
            step: e.step.into(),
            id: e.id,
            at_ms: e.at_ms,
            by: e.by,
            device: e.device,
            prev: e.prev,
            hash: e.hash,
            key: e.key,
            signed: e.signed,
            issues: e.issues.into_iter().map(ValidationIssue::from).collect(),
        }
    }
}

/// The way from the phone's fix to a sample's planned point.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PointGuide {
    /// Metres to the planned point.
    pub distance_m: f64,
    /// The direction to walk, degrees clockwise from north.
    pub bearing_deg: f64,
    /// Its compass point: 东北 / NE.
    pub direction_zh: String,
    pub direction_en: String,
    /// The offset the template allows without a reason.
    pub allowed_m: f64,
    /// Farther than allowed: sampling here needs an offset reason (`offset_reason`).
    pub exceeded: bool,
    /// Whether the fix is accurate enough (none without an accuracy).
    pub accuracy_ok: Option<bool>,
}

impl From<jingtu_core::PointGuide> for PointGuide {
    fn from(g: jingtu_core::PointGuide) -> Self {
        PointGuide {
            distance_m: g.distance_m,
            bearing_deg: g.bearing_deg,
            direction_zh: g.direction.zh,
            direction_en: g.direction.en,
            allowed_m: g.allowed_m,
            exceeded: g.exceeded,
            accuracy_ok: g.accuracy_ok,
        }
    }
}

/// A key that signs this device's custody events outside the store: an Android Keystore or
/// Secure Enclave key. `publicKey` gives the raw 32-byte ed25519 public key, `sign` the 64-byte
/// ed25519 signature of the message. Set it with `setCustodySigner` before enrolling: the
/// server registers the key the device enrolls with.
#[uniffi::export(foreign)]
pub trait CustodySigner: Send + Sync {
    fn public_key(&self) -> Result<Vec<u8>>;
    fn sign(&self, message: Vec<u8>) -> Result<Vec<u8>>;
}

/// The app's signer as the core's.
pub(crate) struct PlatformSigner(pub(crate) std::sync::Arc<dyn CustodySigner>);

impl jingtu_core::CustodySigner for PlatformSigner {
    fn public_key(&self) -> std::result::Result<[u8; 32], String> {
        let key = self.0.public_key().map_err(|e| e.to_string())?;
        let n = key.len();
        key.try_into()
            .map_err(|_| format!("an ed25519 public key is 32 bytes, not {n}"))
    }

    fn sign(&self, message: &[u8]) -> std::result::Result<[u8; 64], String> {
        let sig = self.0.sign(message.to_vec()).map_err(|e| e.to_string())?;
        let n = sig.len();
        sig.try_into()
            .map_err(|_| format!("an ed25519 signature is 64 bytes, not {n}"))
    }
}

/// What verification found at an event of the chain.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CustodyFinding {
    /// The event it is about (empty for the chain as a whole).
    pub event: String,
    /// `altered`, `missing_link`, `handed_over_twice`, `count_mismatch`, `seal_broken`, ...
    pub code: String,
    pub severity: Severity,
    pub message_zh: String,
    pub message_en: String,
}

/// A sample's chain in its one order; `intact` is false when an event was altered, removed or
/// reordered.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CustodyChain {
    pub events: Vec<CustodyEvent>,
    pub findings: Vec<CustodyFinding>,
    pub intact: bool,
}

impl From<jingtu_core::CustodyFinding> for CustodyFinding {
    fn from(f: jingtu_core::CustodyFinding) -> Self {
        CustodyFinding {
            event: f.event,
            code: f.code,
            severity: match f.severity {
                jingtu_core::Severity::Error => Severity::Error,
                jingtu_core::Severity::Warning => Severity::Warning,
            },
            message_zh: f.message.zh,
            message_en: f.message.en,
        }
    }
}

impl From<jingtu_core::CustodyChain> for CustodyChain {
    fn from(c: jingtu_core::CustodyChain) -> Self {
        CustodyChain {
            events: c.events.into_iter().map(CustodyEvent::from).collect(),
            findings: c.findings.into_iter().map(CustodyFinding::from).collect(),
            intact: c.intact,
        }
    }
}

/// How a batch stands against one QC ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum QcStatus {
    /// Enough, and not too many.
    Met,
    /// Fewer than required.
    Short,
    /// More than the ratio's maximum (a warning).
    Above,
}

/// One line of a batch's QC report.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct QcCheck {
    /// `field_duplicate`, `blind_duplicate`, `lab_duplicate` or `crm`.
    pub item: String,
    pub label_zh: String,
    pub label_en: String,
    /// What the ratio is of: the routine samples, or all samples of the batch.
    pub base: i32,
    pub count: i32,
    /// The fewest that meet the ratio.
    pub required: i32,
    pub ratio: f64,
    pub min: f64,
    pub max: Option<f64>,
    pub status: QcStatus,
}

/// A batch's QC: its samples and each ratio met or not.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct QcReport {
    pub samples: i32,
    /// Routine samples (常规样).
    pub routine: i32,
    pub checks: Vec<QcCheck>,
    /// Every ratio reached (a ratio above its maximum does not fail the batch).
    pub met: bool,
}

impl From<jingtu_core::QcReport> for QcReport {
    fn from(r: jingtu_core::QcReport) -> Self {
        QcReport {
            samples: signed(r.samples),
            routine: signed(r.routine),
            checks: r
                .checks
                .into_iter()
                .map(|c| QcCheck {
                    item: c.item,
                    label_zh: c.label.zh,
                    label_en: c.label.en,
                    base: signed(c.base),
                    count: signed(c.count),
                    required: signed(c.required),
                    ratio: c.ratio,
                    min: c.min,
                    max: c.max,
                    status: match c.status {
                        jingtu_core::QcStatus::Met => QcStatus::Met,
                        jingtu_core::QcStatus::Short => QcStatus::Short,
                        jingtu_core::QcStatus::Above => QcStatus::Above,
                    },
                })
                .collect(),
            met: r.met,
        }
    }
}

/// One sample of a hand-over batch, as this device holds it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct BatchSample {
    pub id: String,
    /// Its code (empty before it was given one).
    pub sample_code: String,
    pub planned_point: Option<String>,
    /// `normal`, `field_duplicate`, `blind_duplicate`, `crm`, `blank`.
    pub qc_type: String,
    pub lab_duplicate: bool,
    pub handed_over: Option<CustodyEvent>,
    pub received: Option<CustodyEvent>,
    /// What verification found on those events (or on the chain, when it is broken).
    pub findings: Vec<CustodyFinding>,
}

/// A hand-over batch (交接单) from the samples on this device, with its QC report.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct HandOverBatch {
    pub batch: String,
    pub samples: Vec<BatchSample>,
    pub qc: QcReport,
}

impl From<jingtu_core::HandOverBatch> for HandOverBatch {
    fn from(b: jingtu_core::HandOverBatch) -> Self {
        HandOverBatch {
            batch: b.batch,
            samples: b
                .samples
                .into_iter()
                .map(|s| BatchSample {
                    id: s.id,
                    sample_code: s.sample_code,
                    planned_point: s.planned_point,
                    qc_type: s.qc_type,
                    lab_duplicate: s.lab_duplicate,
                    handed_over: s.handed_over.map(CustodyEvent::from),
                    received: s.received.map(CustodyEvent::from),
                    findings: s.findings.into_iter().map(CustodyFinding::from).collect(),
                })
                .collect(),
            qc: b.qc.into(),
        }
    }
}
