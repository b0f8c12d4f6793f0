//! A soil sample's chain of custody on a device: the sampler logs packing and the hand-over,
//! the receiver confirms, the preparation room records each step, the lab hand-in goes under a
//! blind code. Each step is a custody event appended to the sample's record (also after it
//! was submitted or approved: the chain goes on), linked by hash to the one before it, and
//! synced like any edit; every device verifies the chain it holds ([`DeviceCore::custody`]).

use std::sync::Arc;

use jingtu_doc::{CustodyChain, CustodyFinding, CustodySigner, DeviceKey, SampleCustodyEvent};
use jingtu_model::custody::{DEFAULT_SAMPLE_CODE_RULE, SampleCodeParts, sample_code};
use jingtu_model::{CustodyStep, QcReport, QcSample, QualityControlPlan, batch_qc};
use jingtu_store::{ListFilter, RecordSummary};
use serde::Serialize;
use serde_json::Value;

use crate::cache::Touched;
use crate::core::DeviceCore;
use crate::error::CoreError;

/// The record kind whose samples have a chain of custody.
pub const SAMPLE_KIND: &str = "soil_sample";

/// One sample of a hand-over batch, as this device holds it.
#[derive(Debug, Clone, Serialize)]
pub struct BatchSample {
    pub id: String,
    /// Its code (empty before it was given one).
    pub sample_code: String,
    pub planned_point: Option<String>,
    /// Code table `qc_sample_type` (`normal` when not set).
    pub qc_type: String,
    /// The lab measured it twice (`lab_results.lab_duplicate`).
    pub lab_duplicate: bool,
    /// The hand-over in this batch, when this device holds it.
    pub handed_over: Option<SampleCustodyEvent>,
    /// The receiver's confirmation of this batch, when this device holds it.
    pub received: Option<SampleCustodyEvent>,
    /// What verification found on those two events, or on the whole chain when it is broken.
    pub findings: Vec<CustodyFinding>,
}

/// A hand-over batch (交接单) from the samples on this device, with its QC report.
#[derive(Debug, Clone, Serialize)]
pub struct HandOverBatch {
    pub batch: String,
    pub samples: Vec<BatchSample>,
    /// Field, blind and lab duplicates and reference materials against the template's ratios
    /// (`x-template.quality_control`).
    pub qc: QcReport,
    pub plan: QualityControlPlan,
}

/// The way from the phone to a sample's planned point.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PointGuide {
    /// Metres to the planned point (to 0.1 m).
    pub distance_m: f64,
    /// The direction to walk, degrees clockwise from north (0 to 360).
    pub bearing_deg: f64,
    /// Its compass point (东北 / NE).
    pub direction: jingtu_model::Label,
    /// The offset the template allows without a reason.
    pub allowed_m: f64,
    /// Farther than allowed: sampling here needs an offset reason (`offset_reason`).
    pub exceeded: bool,
    /// Whether the fix's accuracy is within the template's limit (none without accuracy).
    pub accuracy_ok: Option<bool>,
}

/// A label that cannot be drawn: its code does not fit a QR code.
fn label_error(e: jingtu_media::MediaError) -> CoreError {
    CoreError::InvalidValue {
        path: "sample_code".into(),
        reason: e.to_string(),
    }
}

/// The store setting that keeps the device's own signing key (its 32-byte secret, hex).
const KEY_SIGNING: &str = "custody_signing_key";

impl DeviceCore {
    /// Signs this device's custody events with `signer` from now on (a platform key: Android
    /// Keystore, the Secure Enclave) instead of the key kept in the store. Set it before
    /// enrolling: the server registers the key the device enrolls with and refuses custody
    /// events this device signs with another.
    pub fn set_custody_signer(&self, signer: Arc<dyn CustodySigner>) {
        *crate::core::lock(&self.signer) = Some(signer);
    }

    /// The public key (hex ed25519) this device signs custody events with.
    pub fn custody_public_key(&self) -> Result<String, CoreError> {
        let key = self
            .custody_signer()?
            .public_key()
            .map_err(|e| CoreError::InvalidState(format!("the signing key is not usable: {e}")))?;
        Ok(hex::encode(key))
    }

    /// The signer: the app's, or the device's own key from the store (made at first use).
    pub(crate) fn custody_signer(&self) -> Result<Arc<dyn CustodySigner>, CoreError> {
        let mut held = crate::core::lock(&self.signer);
        if let Some(s) = held.as_ref() {
            return Ok(s.clone());
        }
        let stored = self
            .store
            .setting(KEY_SIGNING)?
            .and_then(|h| hex::decode(h).ok())
            .and_then(|b| DeviceKey::from_secret(&b));
        let key = match stored {
            Some(k) => k,
            None => {
                let k = DeviceKey::generate();
                self.store
                    .set_setting(KEY_SIGNING, &hex::encode(k.secret()))?;
                k
            }
        };
        let signer: Arc<dyn CustodySigner> = Arc::new(key);
        *held = Some(signer.clone());
        Ok(signer)
    }

    /// Appends a step to a soil sample's chain, after the chain's head, in one change. A step
    /// with errors of its own is refused (a hand-over without its batch); its warnings (a
    /// broken seal) are kept with it and shown in the chain.
    pub fn add_custody_event(
        &self,
        id: &str,
        step: &CustodyStep,
    ) -> Result<SampleCustodyEvent, CoreError> {
        let signer = self.custody_signer()?;
        self.edit(id, |c, by| {
            if c.meta.kind != SAMPLE_KIND {
                return Err(CoreError::InvalidState(format!(
                    "custody is kept for soil samples, and this record is a {}",
                    c.meta.kind
                )));
            }
            let event = c.doc.add_custody_event(step, by, &*signer)?;
            Ok((event, Touched::Custody))
        })
    }

    /// Appends the same step to several samples (a batch handed over or received together);
    /// the events in the samples' order. Every sample is checked first: one that is not a
    /// soil sample, not here, or whose chain has not begun with its collection leaves all of
    /// them unchanged (so a batch is never half recorded).
    pub fn add_custody_events(
        &self,
        ids: &[String],
        step: &CustodyStep,
    ) -> Result<Vec<SampleCustodyEvent>, CoreError> {
        for id in ids {
            let kind = self.view(id)?.kind;
            if kind != SAMPLE_KIND {
                return Err(CoreError::InvalidState(format!(
                    "{id} is a {kind}: custody is kept for soil samples"
                )));
            }
            if !matches!(step, CustodyStep::Collected { .. }) && self.custody(id)?.events.is_empty()
            {
                return Err(CoreError::InvalidState(format!(
                    "sample {id} has no collection yet: a sample's chain begins with it"
                )));
            }
        }
        ids.iter()
            .map(|id| self.add_custody_event(id, step))
            .collect()
    }

    /// Gives a soil sample its code, made offline by the template's rule
    /// (`x-template.sample_code_rule`, by default `{point_code}-{medium}{layer}{qc}`) from its
    /// point code (or its planned point), the top of its layer and its QC type, and writes it
    /// to `sample_code`. A code another sample on this device already has is refused: the
    /// second sample of a point is a field duplicate (`qc_type`), or has another layer.
    pub fn assign_sample_code(&self, id: &str) -> Result<String, CoreError> {
        let code = {
            let mut cache = crate::core::lock(&self.cache);
            let c = self.load(&mut cache, id)?;
            if c.meta.kind != SAMPLE_KIND {
                return Err(CoreError::InvalidState(format!(
                    "sample codes are for soil samples, and this record is a {}",
                    c.meta.kind
                )));
            }
            let text = |k: &str| c.data.get(k).and_then(Value::as_str).map(str::trim);
            let point = text("point_code")
                .filter(|p| !p.is_empty())
                .or(c.meta.planned_point.as_deref())
                .unwrap_or_default()
                .to_string();
            let qc = text("qc_type").unwrap_or("normal").to_string();
            let depth = c
                .data
                .get("depth_top_cm")
                .and_then(Value::as_f64)
                .unwrap_or(0.0);
            let rule = c
                .template
                .source
                .pointer("/x-template/sample_code_rule")
                .and_then(Value::as_str)
                .unwrap_or(DEFAULT_SAMPLE_CODE_RULE)
                .to_string();
            sample_code(
                &rule,
                &SampleCodeParts {
                    point_code: &point,
                    medium: 'T',
                    depth_top_cm: depth,
                    qc_type: &qc,
                },
            )
            .map_err(|reason| CoreError::InvalidValue {
                path: "sample_code".into(),
                reason,
            })?
        };
        if let Some(other) = self.find_sample(&code)?
            && other.id != id
        {
            return Err(CoreError::InvalidState(format!(
                "sample code {code} is already sample {}'s: mark this one a field duplicate \
                 (qc_type) or check its point and depth",
                other.id
            )));
        }
        self.set_field(id, "sample_code", &Value::String(code.clone()))?;
        Ok(code)
    }

    /// The code and the lines a sample's label shows under its QR code (点位, 采样时间).
    fn label_parts(&self, id: &str) -> Result<(String, Vec<String>), CoreError> {
        let mut cache = crate::core::lock(&self.cache);
        let c = self.load(&mut cache, id)?;
        if c.meta.kind != SAMPLE_KIND {
            return Err(CoreError::InvalidState(format!(
                "labels are for soil samples, and this record is a {}",
                c.meta.kind
            )));
        }
        let text = |k: &str| {
            c.data
                .get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let Some(code) = text("sample_code") else {
            return Err(CoreError::InvalidState(
                "the sample has no code yet: assign it first (assignSampleCode)".into(),
            ));
        };
        let mut lines = Vec::new();
        if let Some(p) = text("point_code").or(c.meta.planned_point.as_deref()) {
            lines.push(format!("点位 {p}"));
        }
        if let Some(t) = text("sampled_at") {
            lines.push(format!("采样 {}", t.chars().take(10).collect::<String>()));
        }
        Ok((code.to_string(), lines))
    }

    /// The sample's label as SVG: its code as a QR code, the code in text, its point and day.
    pub fn sample_label_svg(&self, id: &str) -> Result<String, CoreError> {
        let (code, lines) = self.label_parts(id)?;
        jingtu_media::label_svg(&code, &lines).map_err(label_error)
    }

    /// The sample's label as PNG, `module_px` pixels per QR module (1 to 32; 8 prints about
    /// 3 cm wide at 300 dpi), with the code in text under it.
    pub fn sample_label_png(&self, id: &str, module_px: u32) -> Result<Vec<u8>, CoreError> {
        let (code, _) = self.label_parts(id)?;
        jingtu_media::label_png(&code, module_px).map_err(label_error)
    }

    /// The way from the phone's fix to the sample's planned point (`planned_position`): the
    /// distance, the bearing to walk and its compass point, and the template's offset check
    /// (more than `allowed_m` away needs an offset reason before submission).
    pub fn planned_point_guide(
        &self,
        id: &str,
        lat: f64,
        lon: f64,
        accuracy_m: Option<f64>,
    ) -> Result<PointGuide, CoreError> {
        use jingtu_model::rules::geo;
        let bad = |path: &str, reason: &str| CoreError::InvalidValue {
            path: path.into(),
            reason: reason.into(),
        };
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(bad("lat", "a latitude is -90 to 90 degrees"));
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(bad("lon", "a longitude is -180 to 180 degrees"));
        }
        if accuracy_m.is_some_and(|a| !a.is_finite() || a < 0.0) {
            return Err(bad("accuracy_m", "an accuracy is metres, 0 or more"));
        }
        let mut cache = crate::core::lock(&self.cache);
        let c = self.load(&mut cache, id)?;
        if c.meta.kind != SAMPLE_KIND {
            return Err(CoreError::InvalidState(format!(
                "planned points are for soil samples, and this record is a {}",
                c.meta.kind
            )));
        }
        let planned = c.data.get("planned_position");
        let coord = |k: &str| planned.and_then(|p| p.get(k)).and_then(Value::as_f64);
        let (Some(plat), Some(plon)) = (coord("lat"), coord("lon")) else {
            return Err(CoreError::InvalidState(
                "the sample has no planned position (planned_position) to walk to".into(),
            ));
        };
        let mut data = c.data.clone();
        if let Some(m) = data.as_object_mut() {
            let mut fix = serde_json::json!({"lat": lat, "lon": lon});
            if let Some(a) = accuracy_m {
                fix["accuracy_m"] = a.into();
            }
            m.insert("actual_position".into(), fix);
        }
        let params = c
            .template
            .source
            .pointer("/x-template/rule_params/soil_sampling")
            .cloned();
        let check = jingtu_model::rules::compute("soil_sampling", &data, params.as_ref())
            .map_err(|e| CoreError::Template(e.to_string()))?;
        let bearing = geo::bearing_deg(lat, lon, plat, plon);
        let (zh, en) = geo::compass(bearing);
        let distance = geo::distance_m(lat, lon, plat, plon);
        let allowed = check
            .get("offset_allowed_m")
            .and_then(Value::as_f64)
            .unwrap_or(50.0);
        Ok(PointGuide {
            distance_m: (distance * 10.0).round() / 10.0,
            bearing_deg: (bearing * 10.0).round() / 10.0,
            direction: jingtu_model::Label::new(zh, en),
            allowed_m: allowed,
            exceeded: check
                .get("offset_exceeded")
                .and_then(Value::as_bool)
                .unwrap_or(distance > allowed),
            accuracy_ok: check.get("accuracy_ok").and_then(Value::as_bool),
        })
    }

    /// The soil sample on this device whose code is `code` (as typed, or read from its
    /// label's QR code), found offline.
    pub fn find_sample(&self, code: &str) -> Result<Option<RecordSummary>, CoreError> {
        let code = code.trim();
        if code.is_empty() {
            return Ok(None);
        }
        let found = self.list(&ListFilter {
            kind: Some(SAMPLE_KIND.into()),
            text: Some(code.into()),
            ..Default::default()
        })?;
        Ok(found.into_iter().find(|s| s.name == code))
    }

    /// The samples on this device handed over or received in `batch`, in code order, with
    /// the batch's QC report; `progress(done, total)` after each sample read. A batch no
    /// sample here belongs to is `NotFound`.
    pub fn hand_over_batch(
        &self,
        batch: &str,
        progress: &mut dyn FnMut(u64, u64) -> bool,
    ) -> Result<HandOverBatch, CoreError> {
        let batch = batch.trim();
        if batch.is_empty() {
            return Err(CoreError::InvalidValue {
                path: "batch".into(),
                reason: "name the batch (the hand-over sheet's number)".into(),
            });
        }
        let samples = self.list(&ListFilter {
            kind: Some(SAMPLE_KIND.into()),
            ..Default::default()
        })?;
        let total = samples.len() as u64;
        let mut out = Vec::new();
        let mut plan = None;
        for (i, s) in samples.iter().enumerate() {
            let mut cache = crate::core::lock(&self.cache);
            let c = self.load(&mut cache, &s.id)?;
            let chain = c.doc.custody();
            let in_batch = |e: &&SampleCustodyEvent| match &e.step {
                CustodyStep::HandedOver(h) => h.batch.trim() == batch,
                CustodyStep::Received(r) => r.batch.trim() == batch,
                _ => false,
            };
            let handed = chain
                .events
                .iter()
                .filter(in_batch)
                .find(|e| matches!(e.step, CustodyStep::HandedOver(_)))
                .cloned();
            let received = chain
                .events
                .iter()
                .filter(in_batch)
                .find(|e| matches!(e.step, CustodyStep::Received(_)))
                .cloned();
            if handed.is_some() || received.is_some() {
                let ids: Vec<&str> = [&handed, &received]
                    .into_iter()
                    .flatten()
                    .map(|e| e.id.as_str())
                    .collect();
                let findings = chain
                    .findings
                    .iter()
                    .filter(|f| !chain.intact || ids.contains(&f.event.as_str()))
                    .cloned()
                    .collect();
                let text = |k: &str| {
                    c.data
                        .get(k)
                        .and_then(Value::as_str)
                        .map(str::trim)
                        .unwrap_or_default()
                        .to_string()
                };
                let qc_type = Some(text("qc_type"))
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| "normal".into());
                plan.get_or_insert_with(|| c.template.quality_control());
                out.push(BatchSample {
                    id: s.id.clone(),
                    sample_code: text("sample_code"),
                    planned_point: s.planned_point.clone(),
                    qc_type,
                    lab_duplicate: c.data.pointer("/lab_results/lab_duplicate")
                        == Some(&Value::Bool(true)),
                    handed_over: handed,
                    received,
                    findings,
                });
            }
            drop(cache);
            if !progress(i as u64 + 1, total) {
                return Err(CoreError::Cancelled);
            }
        }
        if out.is_empty() {
            return Err(CoreError::NotFound(format!(
                "batch {batch}: no sample on this device was handed over or received in it"
            )));
        }
        out.sort_by(|a, b| (&a.sample_code, &a.id).cmp(&(&b.sample_code, &b.id)));
        let plan = plan.unwrap_or_default();
        let qc = batch_qc(
            &plan,
            &out.iter()
                .map(|s| QcSample {
                    qc_type: s.qc_type.clone(),
                    lab_duplicate: s.lab_duplicate,
                })
                .collect::<Vec<_>>(),
        );
        Ok(HandOverBatch {
            batch: batch.to_string(),
            samples: out,
            qc,
            plan,
        })
    }

    /// A sample's chain in its one order, with what verification found (an altered, removed
    /// or reordered event; a sample handed over twice; counts that disagree; broken seals).
    pub fn custody(&self, id: &str) -> Result<CustodyChain, CoreError> {
        let mut cache = crate::core::lock(&self.cache);
        let entry = self.load(&mut cache, id)?;
        Ok(entry.doc.custody())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewRecordPlace;
    use jingtu_model::HandOver;

    fn hand_over(expected: u32) -> CustodyStep {
        CustodyStep::HandedOver(HandOver {
            batch: "JJ-031".into(),
            from_org: String::new(),
            from_person: "王建军".into(),
            to_org: "县制备室".into(),
            to_person: "李秀兰".into(),
            samples_expected: expected,
            packaging_intact: true,
            seal_intact: true,
            label_legible: true,
            seal_no: None,
            weight_kg: None,
            cold_chain: false,
            temperature_c: None,
            anomalies: String::new(),
        })
    }

    #[test]
    fn a_submitted_sample_takes_its_chain_and_it_survives_reopening_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let core = DeviceCore::open(dir.path()).unwrap();
        let a = core
            .create_record("soil_sample", &NewRecordPlace::default())
            .unwrap()
            .id;
        let b = core
            .create_record("soil_sample", &NewRecordPlace::default())
            .unwrap()
            .id;
        let both = [a.clone(), b.clone()];
        let collected = CustodyStep::Collected {
            note: String::new(),
        };
        core.add_custody_events(&both, &collected).unwrap();
        let sent = core.add_custody_events(&both, &hand_over(2)).unwrap();
        assert_eq!(sent.len(), 2);
        drop(core);
        let core = DeviceCore::open(dir.path()).unwrap();
        let chain = core.custody(&a).unwrap();
        assert!(
            chain.intact && chain.findings.is_empty(),
            "{:?}",
            chain.findings
        );
        assert_eq!(chain.events.len(), 2);
        assert_eq!(chain.events[1].id, sent[0].id);
    }

    #[test]
    fn sample_codes_are_made_offline_and_found_again_by_their_text() {
        let dir = tempfile::tempdir().unwrap();
        let core = DeviceCore::open(dir.path()).unwrap();
        let place = NewRecordPlace {
            planned_point: Some("411321YJ0087".into()),
            ..Default::default()
        };
        let a = core.create_record("soil_sample", &place).unwrap().id;
        let b = core.create_record("soil_sample", &place).unwrap().id;
        assert_eq!(core.assign_sample_code(&a).unwrap(), "411321YJ0087-T1");
        assert_eq!(
            core.assign_sample_code(&a).unwrap(),
            "411321YJ0087-T1",
            "again, same"
        );
        // A second sample of the same point and layer is refused until it is a duplicate.
        assert!(matches!(
            core.assign_sample_code(&b),
            Err(CoreError::InvalidState(_))
        ));
        core.set_field(&b, "qc_type", &serde_json::json!("field_duplicate"))
            .unwrap();
        assert_eq!(core.assign_sample_code(&b).unwrap(), "411321YJ0087-T1P");
        assert_eq!(
            core.find_sample(" 411321YJ0087-T1P ")
                .unwrap()
                .map(|s| s.id),
            Some(b.clone())
        );
        assert_eq!(
            core.find_sample("411321YJ0087-T1").unwrap().map(|s| s.id),
            Some(a.clone())
        );
        assert!(core.find_sample("411321YJ0087-T").unwrap().is_none());
        let svg = core.sample_label_svg(&a).unwrap();
        assert!(svg.contains(">411321YJ0087-T1</text>") && svg.contains("点位 411321YJ0087"));
        let png = core.sample_label_png(&b, 4).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        let none = core
            .create_record("soil_sample", &NewRecordPlace::default())
            .unwrap()
            .id;
        assert!(matches!(
            core.assign_sample_code(&none),
            Err(CoreError::InvalidValue { .. })
        ));
        assert!(matches!(
            core.sample_label_svg(&none),
            Err(CoreError::InvalidState(_))
        ));
    }

    #[test]
    fn the_way_to_the_planned_point_and_its_offset_check() {
        let dir = tempfile::tempdir().unwrap();
        let core = DeviceCore::open(dir.path()).unwrap();
        let id = core
            .create_record("soil_sample", &NewRecordPlace::default())
            .unwrap()
            .id;
        assert!(matches!(
            core.planned_point_guide(&id, 33.4886, 112.4312, None),
            Err(CoreError::InvalidState(_))
        ));
        core.set_field(
            &id,
            "planned_position",
            &serde_json::json!({"lat": 33.4886, "lon": 112.4312}),
        )
        .unwrap();
        // 0.0004° north of the point: about 44.5 m, the point due south, within 50 m.
        let g = core
            .planned_point_guide(&id, 33.4890, 112.4312, Some(4.0))
            .unwrap();
        assert!((g.distance_m - 44.5).abs() < 0.2, "{g:?}");
        assert!(
            (g.bearing_deg - 180.0).abs() < 0.1 && g.direction.zh == "南",
            "{g:?}"
        );
        assert_eq!(
            (g.allowed_m, g.exceeded, g.accuracy_ok),
            (50.0, false, Some(true))
        );
        // 0.001° east: about 92.8 m, walk west, an offset reason is needed; a poor fix.
        let g = core
            .planned_point_guide(&id, 33.4886, 112.4322, Some(25.0))
            .unwrap();
        assert!((g.distance_m - 92.8).abs() < 0.3, "{g:?}");
        assert_eq!(
            (g.direction.zh.as_str(), g.exceeded, g.accuracy_ok),
            ("西", true, Some(false))
        );
        assert!(matches!(
            core.planned_point_guide(&id, 91.0, 112.0, None),
            Err(CoreError::InvalidValue { .. })
        ));
        assert!(core.planned_point_guide(&id, 33.0, f64::NAN, None).is_err());
    }

    #[test]
    fn only_soil_samples_keep_custody_and_bad_steps_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let core = DeviceCore::open(dir.path()).unwrap();
        let village = core
            .create_record("village_inspection", &NewRecordPlace::default())
            .unwrap()
            .id;
        let sample = core
            .create_record("soil_sample", &NewRecordPlace::default())
            .unwrap()
            .id;
        let collected = CustodyStep::Collected {
            note: String::new(),
        };
        assert!(matches!(
            core.add_custody_event(&village, &collected),
            Err(CoreError::InvalidState(_))
        ));
        assert!(
            core.add_custody_events(&[sample.clone(), village], &collected)
                .is_err()
        );
        // A batch where one sample was never collected is refused whole.
        let other = core
            .create_record("soil_sample", &NewRecordPlace::default())
            .unwrap()
            .id;
        core.add_custody_event(&other, &collected).unwrap();
        assert!(matches!(
            core.add_custody_events(&[other.clone(), sample.clone()], &hand_over(2)),
            Err(CoreError::InvalidState(_))
        ));
        assert_eq!(
            core.custody(&other).unwrap().events.len(),
            1,
            "nothing half done"
        );
        assert!(core.custody(&sample).unwrap().events.is_empty());
        assert!(core.add_custody_event(&sample, &hand_over(0)).is_err());
    }
}
