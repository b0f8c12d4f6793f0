//! A soil sample's chain of custody inside its record: events appended under `custody`, keyed
//! by a UUIDv7, never edited (`jingtu-policy` refuses a change to an existing one), each
//! linked to the event it follows by that event's id and hash.
//!
//! The hash of an event is SHA-256 over a canonical encoding of its fields (JSON with sorted
//! keys, the step's details included), never over Automerge's bytes, which differ between
//! devices holding the same content. A successor's `prev_hash` therefore proves what its
//! predecessor said when the successor was written: an altered, removed or reordered event
//! breaks the chain where it was, and [`RecordDoc::custody`] says where.
//!
//! Devices that were offline at once may both add an event after the same one (the sender
//! marks a batch handed over, the receiver marks it received). After merging, the chain is
//! put in one order that every device computes alike: parents before children, siblings by
//! step (a hand-over before its receipt), time and id. Siblings that are not such a pair are
//! flagged, a sample handed over twice above all, and never hidden.

use std::collections::{BTreeMap, HashMap};

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc, Value as AmValue, ValueRef};
use jingtu_model::{CustodyStep, Issue, Label, Severity};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::DocError;
use crate::layout;
use crate::record::{Editor, RecordDoc};
use crate::signing::CustodySigner;

/// The keys of one custody event under `custody`.
pub mod key {
    pub const STEP: &str = "step";
    /// The step's details: the canonical JSON of a [`jingtu_model::CustodyStep`].
    pub const DETAILS: &str = "details";
    pub const AT: &str = "at";
    pub const BY: &str = "by";
    pub const DEVICE: &str = "device";
    /// The id of the event this one follows; absent on the first.
    pub const PREV: &str = "prev";
    pub const PREV_HASH: &str = "prev_hash";
    /// The event's own hash, as its writer computed it.
    pub const HASH: &str = "hash";
    /// The writer's ed25519 public key (hex), covered by the hash.
    pub const KEY: &str = "key";
    /// The writer's signature of the hash (hex).
    pub const SIG: &str = "sig";
}

/// One event of a sample's chain, as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleCustodyEvent {
    pub id: String,
    pub step: CustodyStep,
    pub at_ms: i64,
    pub by: String,
    /// The actor id (hex) of the device that wrote it.
    pub device: String,
    pub prev: Option<String>,
    pub prev_hash: Option<String>,
    /// The hash stored with the event.
    pub hash: String,
    /// The writer's public key (hex), if the event is signed.
    pub key: Option<String>,
    /// Whether the event carries a signature that verifies with its key.
    pub signed: bool,
    /// The step's own warnings (a broken seal, a warm cold-chain sample).
    pub issues: Vec<Issue>,
}

/// What is wrong with a chain, at an event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustodyFinding {
    /// The event it is about (empty for the chain as a whole).
    pub event: String,
    /// `altered`, `missing_link`, `unreadable`, `bad_signature`, `unsigned`,
    /// `handed_over_twice`, `concurrent`,
    /// `not_collected_first`, `no_hand_over`, `count_mismatch`, `before_receipt`,
    /// `time_backwards`, or a step's own warning code (`seal_broken`, `cold_chain`).
    pub code: String,
    pub severity: Severity,
    pub message: Label,
}

/// A sample's chain in its one order, and what its verification found. `intact` is true when
/// no event was altered, removed or made unreadable (warnings about what happened to the
/// sample do not break it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustodyChain {
    pub events: Vec<SampleCustodyEvent>,
    pub findings: Vec<CustodyFinding>,
    pub intact: bool,
}

impl CustodyChain {
    /// The last event in the chain's order: the one a new event follows.
    pub fn head(&self) -> Option<&SampleCustodyEvent> {
        self.events.last()
    }
}

/// JSON with object keys sorted at every depth: the same text for the same content on every
/// device, whatever order the keys were written or parsed in.
pub fn canonical_json(v: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                let sorted: BTreeMap<&String, &Value> = m.iter().collect();
                out.push('{');
                for (i, (k, v)) in sorted.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(v, out);
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(v, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(v, &mut out);
    out
}

/// The fields an event's hash covers.
#[derive(Debug, Clone, Copy)]
pub struct EventContent<'a> {
    pub id: &'a str,
    pub details: &'a Value,
    pub at_ms: i64,
    pub by: &'a str,
    pub device: &'a str,
    pub prev: Option<&'a str>,
    pub prev_hash: Option<&'a str>,
    /// The signer's public key; events written before signing have none (and their hashes
    /// stay what they were).
    pub key: Option<&'a str>,
}

/// The hash of an event's content: hex SHA-256 of the canonical JSON of its fields.
pub fn event_hash(c: &EventContent<'_>) -> String {
    let mut content = serde_json::json!({
        "id": c.id,
        "details": c.details,
        "at": c.at_ms,
        "by": c.by,
        "device": c.device,
        "prev": c.prev,
        "prev_hash": c.prev_hash,
    });
    if let (Some(key), Some(m)) = (c.key, content.as_object_mut()) {
        m.insert("key".into(), Value::String(key.into()));
    }
    hex::encode(Sha256::digest(canonical_json(&content).as_bytes()))
}

/// An event as read from the document, before it is understood.
struct Stored {
    id: String,
    step_name: String,
    details: Option<Value>,
    at_ms: i64,
    by: String,
    device: String,
    prev: Option<String>,
    prev_hash: Option<String>,
    hash: String,
    key: Option<String>,
    sig: Option<String>,
}

impl Stored {
    fn computed_hash(&self) -> Option<String> {
        Some(event_hash(&EventContent {
            id: &self.id,
            details: self.details.as_ref()?,
            at_ms: self.at_ms,
            by: &self.by,
            device: &self.device,
            prev: self.prev.as_deref(),
            prev_hash: self.prev_hash.as_deref(),
            key: self.key.as_deref(),
        }))
    }
}

fn finding(event: &str, code: &str, severity: Severity, zh: String, en: String) -> CustodyFinding {
    CustodyFinding {
        event: event.into(),
        code: code.into(),
        severity,
        message: Label::new(zh, en),
    }
}

/// Siblings' order: a hand-over before a receipt, then by time and id.
fn sibling_rank(step: &CustodyStep) -> u8 {
    match step {
        CustodyStep::HandedOver(_) => 0,
        CustodyStep::Received(_) => 1,
        _ => 2,
    }
}

impl RecordDoc {
    fn stored_custody(&self) -> Vec<Stored> {
        let Ok(Some((AmValue::Object(ObjType::Map), custody))) =
            self.doc.get(ROOT, layout::CUSTODY)
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in self.doc.map_range(&custody, ..) {
            let ValueRef::Object(ObjType::Map) = item.value else {
                continue;
            };
            let entry = item.id();
            let text = |k: &str| match self.doc.get(&entry, k) {
                Ok(Some((AmValue::Scalar(v), _))) => v.as_str().map(str::to_string),
                _ => None,
            };
            let int = |k: &str| match self.doc.get(&entry, k) {
                Ok(Some((AmValue::Scalar(v), _))) => v.as_i64(),
                _ => None,
            };
            out.push(Stored {
                id: item.key.to_string(),
                step_name: text(key::STEP).unwrap_or_default(),
                details: text(key::DETAILS).and_then(|d| serde_json::from_str(&d).ok()),
                at_ms: int(key::AT).unwrap_or(0),
                by: text(key::BY).unwrap_or_default(),
                device: text(key::DEVICE).unwrap_or_default(),
                prev: text(key::PREV),
                prev_hash: text(key::PREV_HASH),
                hash: text(key::HASH).unwrap_or_default(),
                key: text(key::KEY),
                sig: text(key::SIG),
            });
        }
        out
    }

    /// How many custody events the record holds, read without verifying them (cheap: the
    /// size of the `custody` map).
    pub fn custody_len(&self) -> usize {
        match self.doc.get(ROOT, layout::CUSTODY) {
            Ok(Some((AmValue::Object(ObjType::Map), custody))) => self.doc.length(&custody),
            _ => 0,
        }
    }

    /// The sample's custody chain in its one order, verified.
    pub fn custody(&self) -> CustodyChain {
        let stored = self.stored_custody();
        let mut findings = Vec::new();
        let mut intact = true;
        // Understand each event; one that cannot be read is a break.
        let mut events: HashMap<String, SampleCustodyEvent> = HashMap::new();
        let mut computed: HashMap<String, String> = HashMap::new();
        for s in &stored {
            let step = s
                .details
                .clone()
                .and_then(|d| serde_json::from_value::<CustodyStep>(d).ok())
                .filter(|step| step.name() == s.step_name);
            let Some(step) = step else {
                intact = false;
                findings.push(finding(
                    &s.id,
                    "unreadable",
                    Severity::Error,
                    "保管记录无法读取".into(),
                    "a custody event cannot be read".into(),
                ));
                continue;
            };
            let hash = s.computed_hash().unwrap_or_default();
            if hash != s.hash {
                intact = false;
                findings.push(finding(
                    &s.id,
                    "altered",
                    Severity::Error,
                    format!("「{}」记录已被改动", step.label().zh),
                    format!("the '{}' event was altered", step.label().en),
                ));
            }
            // The signature is over the stored hash; a hash that does not match the content
            // is reported above, so a valid signature here vouches for the content too.
            let signed = match (&s.key, &s.sig) {
                (Some(k), Some(sig)) => {
                    let ok = crate::signing::verify(k, s.hash.as_bytes(), sig);
                    if !ok {
                        intact = false;
                        findings.push(finding(
                            &s.id,
                            "bad_signature",
                            Severity::Error,
                            format!("「{}」记录的签名无效：记录被伪造或改动", step.label().zh),
                            format!(
                                "the '{}' event's signature does not verify: forged or altered",
                                step.label().en
                            ),
                        ));
                    }
                    ok
                }
                _ => {
                    findings.push(finding(
                        &s.id,
                        "unsigned",
                        Severity::Warning,
                        format!("「{}」记录没有签名（旧版应用写入）", step.label().zh),
                        format!(
                            "the '{}' event is not signed (written by an older app)",
                            step.label().en
                        ),
                    ));
                    false
                }
            };
            computed.insert(s.id.clone(), hash);
            events.insert(
                s.id.clone(),
                SampleCustodyEvent {
                    id: s.id.clone(),
                    issues: step
                        .check()
                        .into_iter()
                        .filter(|i| i.severity == Severity::Warning)
                        .collect(),
                    step,
                    at_ms: s.at_ms,
                    by: s.by.clone(),
                    device: s.device.clone(),
                    prev: s.prev.clone(),
                    prev_hash: s.prev_hash.clone(),
                    hash: s.hash.clone(),
                    key: s.key.clone(),
                    signed,
                },
            );
        }
        // Links: each prev present, and its hash as the follower saw it.
        let mut children: BTreeMap<Option<String>, Vec<String>> = BTreeMap::new();
        for e in events.values() {
            let parent = match &e.prev {
                Some(p) if events.contains_key(p) => {
                    if computed.get(p) != e.prev_hash.as_ref() {
                        intact = false;
                        findings.push(finding(
                            p,
                            "altered",
                            Severity::Error,
                            "此记录与其后一条记录所见的内容不一致：已被改动或顺序被调换".into(),
                            "this event differs from what the next one saw: altered or reordered"
                                .into(),
                        ));
                    }
                    Some(p.clone())
                }
                Some(p) => {
                    intact = false;
                    findings.push(finding(
                        &e.id,
                        "missing_link",
                        Severity::Error,
                        format!("此记录之前的记录 {p} 不存在：保管链缺失一环"),
                        format!("the event before this one ({p}) is missing: a link was removed"),
                    ));
                    None
                }
                None => None,
            };
            children.entry(parent).or_default().push(e.id.clone());
        }
        let key = |id: &String| {
            let e = &events[id];
            (sibling_rank(&e.step), e.at_ms, e.id.clone())
        };
        for list in children.values_mut() {
            list.sort_by_key(key);
        }
        // Siblings that are not a hand-over and its receipt.
        for list in children.values() {
            let handovers: Vec<&String> = list
                .iter()
                .filter(|id| matches!(events[*id].step, CustodyStep::HandedOver(_)))
                .collect();
            if handovers.len() > 1 {
                for id in &handovers[1..] {
                    findings.push(finding(
                        id,
                        "handed_over_twice",
                        Severity::Error,
                        "同一样品被两台设备同时交接，请审核员核实".into(),
                        "the same sample was handed over twice at once: a supervisor must check"
                            .into(),
                    ));
                }
            }
            let others = list
                .iter()
                .filter(|id| {
                    !matches!(
                        events[*id].step,
                        CustodyStep::HandedOver(_) | CustodyStep::Received(_)
                    )
                })
                .count();
            if list.len() > 1 && others > 0 {
                for id in &list[1..] {
                    if !matches!(
                        events[id].step,
                        CustodyStep::HandedOver(_) | CustodyStep::Received(_)
                    ) {
                        findings.push(finding(
                            id,
                            "concurrent",
                            Severity::Warning,
                            "此记录与另一条记录同时写在同一步之后".into(),
                            "this event was written after the same step as another, at once".into(),
                        ));
                    }
                }
            }
        }
        // The one order: depth first from the roots, children in sibling order.
        let mut ordered = Vec::with_capacity(events.len());
        let mut stack: Vec<String> = children
            .get(&None)
            .map(|roots| roots.iter().rev().cloned().collect())
            .unwrap_or_default();
        while let Some(id) = stack.pop() {
            if let Some(kids) = children.get(&Some(id.clone())) {
                stack.extend(kids.iter().rev().cloned());
            }
            ordered.push(id);
        }
        let mut chain: Vec<SampleCustodyEvent> =
            ordered.iter().filter_map(|id| events.remove(id)).collect();
        // Events on a cycle of prev links never reach a root: unreadable as a chain.
        for (id, _) in events.drain() {
            intact = false;
            findings.push(finding(
                &id,
                "missing_link",
                Severity::Error,
                "此记录不在保管链上".into(),
                "this event is not on the chain".into(),
            ));
        }
        findings.extend(sequence_findings(&chain));
        for e in &mut chain {
            for i in &e.issues {
                findings.push(CustodyFinding {
                    event: e.id.clone(),
                    code: i.code.clone(),
                    severity: i.severity,
                    message: i.message.clone(),
                });
            }
        }
        CustodyChain {
            events: chain,
            findings,
            intact,
        }
    }

    /// Appends a custody event after the chain's head, in one change, signed by `signer`. A
    /// step with errors of its own is refused; its warnings are kept with it. A signer that
    /// fails, or whose signature does not verify with its own key, writes nothing.
    pub fn add_custody_event(
        &mut self,
        step: &CustodyStep,
        by: &Editor,
        signer: &dyn CustodySigner,
    ) -> Result<SampleCustodyEvent, DocError> {
        if let Some(e) = step
            .check()
            .into_iter()
            .find(|i| i.severity == Severity::Error)
        {
            return Err(DocError::Value {
                path: format!("custody.{}", e.path),
                reason: e.message.en,
            });
        }
        let chain = self.custody();
        if chain.events.is_empty() && !matches!(step, CustodyStep::Collected { .. }) {
            return Err(DocError::Value {
                path: "custody".into(),
                reason: "a sample's chain begins with its collection".into(),
            });
        }
        let (prev, prev_hash) = match chain.head() {
            Some(h) => (Some(h.id.clone()), Some(h.hash.clone())),
            None => (None, None),
        };
        let details = serde_json::to_value(step).map_err(|e| DocError::Value {
            path: "custody".into(),
            reason: e.to_string(),
        })?;
        let id = uuid::Uuid::now_v7().to_string();
        let device = self.actor();
        let signing = |e: String| DocError::Value {
            path: "custody.signature".into(),
            reason: format!("the device's key did not sign the event: {e}"),
        };
        let key = hex::encode(signer.public_key().map_err(signing)?);
        let hash = event_hash(&EventContent {
            id: &id,
            details: &details,
            at_ms: by.time_ms,
            by: &by.author,
            device: &device,
            prev: prev.as_deref(),
            prev_hash: prev_hash.as_deref(),
            key: Some(&key),
        });
        let sig = hex::encode(signer.sign(hash.as_bytes()).map_err(signing)?);
        if !crate::signing::verify(&key, hash.as_bytes(), &sig) {
            return Err(signing(
                "the signature does not verify with the signer's public key".into(),
            ));
        }
        self.attempt(|d| {
            let custody = match d.doc.get(ROOT, layout::CUSTODY)? {
                Some((AmValue::Object(ObjType::Map), id)) => id,
                _ => return Err(DocError::NotARecord("no custody map".into())),
            };
            let m = d.doc.put_object(&custody, id.as_str(), ObjType::Map)?;
            d.doc.put(&m, key::STEP, step.name())?;
            d.doc.put(&m, key::DETAILS, canonical_json(&details))?;
            d.doc.put(&m, key::AT, by.time_ms)?;
            d.doc.put(&m, key::BY, by.author.as_str())?;
            d.doc.put(&m, key::DEVICE, device.as_str())?;
            if let (Some(p), Some(h)) = (&prev, &prev_hash) {
                d.doc.put(&m, key::PREV, p.as_str())?;
                d.doc.put(&m, key::PREV_HASH, h.as_str())?;
            }
            d.doc.put(&m, key::HASH, hash.as_str())?;
            d.doc.put(&m, key::KEY, key.as_str())?;
            d.doc.put(&m, key::SIG, sig.as_str())?;
            Ok(())
        })?;
        self.commit(by, "custody", &[]);
        let issues = step
            .check()
            .into_iter()
            .filter(|i| i.severity == Severity::Warning)
            .collect();
        Ok(SampleCustodyEvent {
            id,
            step: step.clone(),
            at_ms: by.time_ms,
            by: by.author.clone(),
            device,
            prev,
            prev_hash,
            hash,
            key: Some(key),
            signed: true,
            issues,
        })
    }
}

/// What the order of the steps says: collection first, a receipt for each hand-over with
/// the count it expected, preparation after a receipt, time that goes forward.
fn sequence_findings(chain: &[SampleCustodyEvent]) -> Vec<CustodyFinding> {
    let mut out = Vec::new();
    if let Some(first) = chain.first()
        && !matches!(first.step, CustodyStep::Collected { .. })
    {
        out.push(finding(
            &first.id,
            "not_collected_first",
            Severity::Warning,
            "保管链未从采集开始".into(),
            "the chain does not begin with the collection".into(),
        ));
    }
    let mut handed: HashMap<&str, u32> = HashMap::new();
    let mut received = false;
    let mut last_at = i64::MIN;
    for e in chain {
        if e.at_ms < last_at {
            out.push(finding(
                &e.id,
                "time_backwards",
                Severity::Warning,
                "此记录的时间早于它之前的记录".into(),
                "this event's time is before the one it follows".into(),
            ));
        }
        last_at = last_at.max(e.at_ms);
        match &e.step {
            CustodyStep::HandedOver(h) => {
                handed.insert(h.batch.as_str(), h.samples_expected);
            }
            CustodyStep::Received(r) => {
                received = true;
                match handed.get(r.batch.as_str()) {
                    None => out.push(finding(
                        &e.id,
                        "no_hand_over",
                        Severity::Warning,
                        format!("接收了批次 {}，但没有它的交接记录", r.batch),
                        format!("batch {} was received but never handed over", r.batch),
                    )),
                    Some(&expected) if expected != r.samples_received => out.push(finding(
                        &e.id,
                        "count_mismatch",
                        Severity::Warning,
                        format!(
                            "批次 {} 交接 {expected} 个样品，实收 {} 个",
                            r.batch, r.samples_received
                        ),
                        format!(
                            "batch {}: {expected} samples handed over, {} received",
                            r.batch, r.samples_received
                        ),
                    )),
                    Some(_) => {}
                }
            }
            step if step.is_preparation() && !received => out.push(finding(
                &e.id,
                "before_receipt",
                Severity::Warning,
                format!("「{}」记录在样品接收之前", step.label().zh),
                format!(
                    "'{}' is recorded before the sample was received",
                    step.label().en
                ),
            )),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeviceKey;

    /// The test device's key.
    static KEY: std::sync::LazyLock<DeviceKey> = std::sync::LazyLock::new(DeviceKey::generate);
    use crate::record::RecordMeta;
    use automerge::ActorId;
    use jingtu_model::{HandOver, Receipt, TemplateSet};

    fn editor(who: &str, t: i64) -> Editor {
        Editor {
            author: who.into(),
            time_ms: t,
        }
    }

    fn sample() -> RecordDoc {
        let t = TemplateSet::builtin()
            .unwrap()
            .latest("soil_sample")
            .unwrap();
        let meta = RecordMeta {
            id: "0190f000-0000-7000-8000-000000000001".into(),
            kind: t.kind.clone(),
            template_version: t.version,
            org_unit: Some("411321102206".into()),
            village: None,
            planned_point: Some("411321-T-0007".into()),
            assignment: None,
            author: "caiyang".into(),
            device: "aa".into(),
            created_at_ms: 1_000,
        };
        RecordDoc::create(ActorId::random(), &t, &meta, &editor("caiyang", 1_000)).unwrap()
    }

    fn hand_over(batch: &str, to: &str, expected: u32) -> CustodyStep {
        CustodyStep::HandedOver(HandOver {
            batch: batch.into(),
            from_org: "采样组".into(),
            from_person: "王建军".into(),
            to_org: "县制备室".into(),
            to_person: to.into(),
            samples_expected: expected,
            packaging_intact: true,
            seal_intact: true,
            label_legible: true,
            seal_no: Some("F-0031".into()),
            weight_kg: None,
            cold_chain: false,
            temperature_c: None,
            anomalies: String::new(),
        })
    }

    fn receipt(batch: &str, received: u32) -> CustodyStep {
        CustodyStep::Received(Receipt {
            batch: batch.into(),
            samples_received: received,
            packaging_intact: true,
            seal_intact: true,
            label_legible: true,
            temperature_c: None,
            scanned: true,
            anomalies: String::new(),
        })
    }

    fn collected() -> CustodyStep {
        CustodyStep::Collected {
            note: String::new(),
        }
    }

    /// Collected, packed, handed over, received, air-dried, coarse ground, handed in.
    fn good_chain() -> RecordDoc {
        let mut d = sample();
        let steps = [
            collected(),
            CustodyStep::Packed {
                seal_no: Some("F-0031".into()),
                container: "布袋".into(),
            },
            hand_over("JJ-031", "李秀兰", 12),
            receipt("JJ-031", 12),
            CustodyStep::AirDried {
                started_at_ms: 6_000,
                ended_at_ms: 7_000,
                weight_before_g: 1_150.0,
                weight_after_g: 980.0,
            },
            CustodyStep::CoarseGround { mesh: 10 },
            CustodyStep::LabHandIn {
                blind_code: "MB-7741".into(),
                lab: "市环境监测中心".into(),
            },
        ];
        for (i, s) in steps.iter().enumerate() {
            d.add_custody_event(s, &editor("caiyang", 2_000 + i as i64 * 1_000), &*KEY)
                .unwrap();
        }
        d
    }

    /// The hash of `e` with `details`, links and key as given (an attacker's rewrite).
    fn hash_of(
        e: &SampleCustodyEvent,
        details: &Value,
        prev: Option<&str>,
        prev_hash: Option<&str>,
        key: Option<&str>,
    ) -> String {
        event_hash(&EventContent {
            id: &e.id,
            details,
            at_ms: e.at_ms,
            by: &e.by,
            device: &e.device,
            prev,
            prev_hash,
            key,
        })
    }

    fn codes(chain: &CustodyChain) -> Vec<&str> {
        chain.findings.iter().map(|f| f.code.as_str()).collect()
    }

    fn event_obj(d: &RecordDoc, id: &str) -> automerge::ObjId {
        let (_, custody) = d.doc.get(ROOT, layout::CUSTODY).unwrap().unwrap();
        d.doc.get(&custody, id).unwrap().unwrap().1
    }

    #[test]
    fn a_good_chain_verifies_in_its_order_and_survives_a_round_trip() {
        let mut d = good_chain();
        let chain = d.custody();
        assert!(chain.intact, "{:?}", chain.findings);
        assert!(chain.findings.is_empty(), "{:?}", chain.findings);
        let names: Vec<&str> = chain.events.iter().map(|e| e.step.name()).collect();
        assert_eq!(
            names,
            [
                "collected",
                "packed",
                "handed_over",
                "received",
                "air_dried",
                "coarse_ground",
                "lab_hand_in"
            ]
        );
        for pair in chain.events.windows(2) {
            assert_eq!(pair[1].prev.as_deref(), Some(pair[0].id.as_str()));
        }
        let again = RecordDoc::load(&d.save(), ActorId::random()).unwrap();
        assert_eq!(again.custody(), chain);
    }

    #[test]
    fn the_chain_begins_with_the_collection_and_bad_steps_are_refused() {
        let mut d = sample();
        let e = d.add_custody_event(&hand_over("JJ-1", "李", 1), &editor("c", 1), &*KEY);
        assert!(matches!(e, Err(DocError::Value { .. })), "{e:?}");
        d.add_custody_event(&collected(), &editor("c", 2), &*KEY)
            .unwrap();
        let e = d.add_custody_event(
            &CustodyStep::FineGround { mesh: 80 },
            &editor("c", 3),
            &*KEY,
        );
        assert!(matches!(e, Err(DocError::Value { ref path, .. }) if path == "custody.mesh"));
        assert_eq!(
            d.custody().events.len(),
            1,
            "nothing of a refused step is kept"
        );
    }

    #[test]
    fn a_count_mismatch_and_a_broken_seal_are_flagged_but_the_chain_is_intact() {
        let mut d = sample();
        d.add_custody_event(&collected(), &editor("c", 1), &*KEY)
            .unwrap();
        d.add_custody_event(&hand_over("JJ-2", "李", 12), &editor("c", 2), &*KEY)
            .unwrap();
        let mut r = receipt("JJ-2", 11);
        if let CustodyStep::Received(x) = &mut r {
            x.seal_intact = false;
        }
        d.add_custody_event(&r, &editor("li", 3), &*KEY).unwrap();
        let chain = d.custody();
        assert!(chain.intact);
        assert_eq!(codes(&chain), ["count_mismatch", "seal_broken"]);
        assert!(
            chain.findings[0]
                .message
                .zh
                .contains("交接 12 个样品，实收 11 个")
        );
    }

    #[test]
    fn an_altered_event_is_found() {
        let mut d = good_chain();
        let target = d.custody().events[2].id.clone();
        let obj = event_obj(&d, &target);
        let mut details: Value = serde_json::to_value(hand_over("JJ-031", "另一个人", 12)).unwrap();
        details["to_person"] = "另一个人".into();
        d.doc
            .put(&obj, key::DETAILS, canonical_json(&details))
            .unwrap();
        let chain = d.custody();
        assert!(!chain.intact);
        assert!(
            chain
                .findings
                .iter()
                .any(|f| f.code == "altered" && f.event == target),
            "{:?}",
            chain.findings
        );
        // Altered with its own hash made to match, the next event still tells.
        let e = &chain.events[2];
        let forged = hash_of(
            e,
            &details,
            e.prev.as_deref(),
            e.prev_hash.as_deref(),
            e.key.as_deref(),
        );
        d.doc.put(&obj, key::HASH, forged.as_str()).unwrap();
        let chain = d.custody();
        assert!(!chain.intact);
        assert_eq!(
            chain
                .findings
                .iter()
                .filter(|f| f.code == "altered")
                .map(|f| f.event.as_str())
                .collect::<Vec<_>>(),
            [target.as_str()]
        );
    }

    #[test]
    fn every_event_is_signed_and_a_forged_signature_is_found() {
        let mut d = good_chain();
        let chain = d.custody();
        let mine = hex::encode(KEY.public_key().unwrap());
        assert!(
            chain
                .events
                .iter()
                .all(|e| e.signed && e.key.as_deref() == Some(mine.as_str()))
        );
        // Another key's signature of the same hash: the content is as written, the signature
        // is not its writer's.
        let target = chain.events[3].id.clone();
        let other = DeviceKey::generate();
        let forged = hex::encode(other.sign(chain.events[3].hash.as_bytes()).unwrap());
        let obj = event_obj(&d, &target);
        d.doc.put(&obj, key::SIG, forged.as_str()).unwrap();
        let after = d.custody();
        assert!(!after.intact);
        assert_eq!(
            after
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .map(|f| (f.code.as_str(), f.event.as_str()))
                .collect::<Vec<_>>(),
            [("bad_signature", target.as_str())]
        );
        assert!(!after.events[3].signed);
    }

    #[test]
    fn an_event_signed_again_with_another_key_breaks_the_next_link() {
        // Whoever re-signs an event with a key of their own must rehash it (the key is in the
        // hash): the event after it no longer matches.
        let mut d = good_chain();
        let chain = d.custody();
        let e = &chain.events[2];
        let thief = DeviceKey::generate();
        let key = hex::encode(thief.public_key().unwrap());
        let details = serde_json::to_value(&e.step).unwrap();
        let hash = hash_of(
            e,
            &details,
            e.prev.as_deref(),
            e.prev_hash.as_deref(),
            Some(&key),
        );
        let sig = hex::encode(thief.sign(hash.as_bytes()).unwrap());
        let obj = event_obj(&d, &e.id);
        for (k, v) in [(key::KEY, &key), (key::HASH, &hash), (key::SIG, &sig)] {
            d.doc.put(&obj, k, v.as_str()).unwrap();
        }
        let after = d.custody();
        assert!(!after.intact);
        assert!(after.events[2].signed, "its own signature holds");
        assert_eq!(after.events[2].key.as_deref(), Some(key.as_str()));
        assert!(
            after
                .findings
                .iter()
                .any(|f| f.code == "altered" && f.event == e.id),
            "{:?}",
            after.findings
        );
    }

    #[test]
    fn an_unsigned_event_of_an_older_app_is_flagged_but_not_a_break() {
        let mut d = good_chain();
        let chain = d.custody();
        let last = chain.events.last().unwrap();
        let obj = event_obj(&d, &last.id);
        d.doc.delete(&obj, key::SIG).unwrap();
        d.doc.delete(&obj, key::KEY).unwrap();
        let details = serde_json::to_value(&last.step).unwrap();
        let old_hash = hash_of(
            last,
            &details,
            last.prev.as_deref(),
            last.prev_hash.as_deref(),
            None,
        );
        d.doc.put(&obj, key::HASH, old_hash.as_str()).unwrap();
        let after = d.custody();
        assert!(after.intact, "{:?}", after.findings);
        assert_eq!(codes(&after), ["unsigned"]);
    }

    #[test]
    fn a_signer_that_fails_or_lies_writes_nothing() {
        struct Broken(bool);
        impl CustodySigner for Broken {
            fn public_key(&self) -> Result<[u8; 32], String> {
                KEY.public_key()
            }
            fn sign(&self, _: &[u8]) -> Result<[u8; 64], String> {
                if self.0 {
                    Err("the keystore is locked".into())
                } else {
                    Ok([7; 64])
                }
            }
        }
        let mut d = sample();
        for broken in [Broken(true), Broken(false)] {
            let e = d.add_custody_event(&collected(), &editor("c", 1), &broken);
            assert!(
                matches!(e, Err(DocError::Value { ref path, .. }) if path == "custody.signature"),
                "{e:?}"
            );
        }
        assert!(d.custody().events.is_empty());
    }

    #[test]
    fn a_removed_event_is_found() {
        let mut d = good_chain();
        let chain = d.custody();
        let (_, custody) = d.doc.get(ROOT, layout::CUSTODY).unwrap().unwrap();
        d.doc.delete(&custody, chain.events[3].id.as_str()).unwrap();
        let after = d.custody();
        assert!(!after.intact);
        assert_eq!(after.events.len(), 6, "the rest is still shown");
        let missing: Vec<&CustodyFinding> = after
            .findings
            .iter()
            .filter(|f| f.code == "missing_link")
            .collect();
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].event, chain.events[4].id);
    }

    #[test]
    fn a_reordered_event_is_found() {
        // Packed and handed over swapped: each made to point at the other's predecessor, with
        // its own hash recomputed; the hashes their followers saw no longer match.
        let mut d = good_chain();
        let chain = d.custody();
        let (packed, handed) = (&chain.events[1], &chain.events[2]);
        let swap = |d: &mut RecordDoc, e: &SampleCustodyEvent, prev: &SampleCustodyEvent| {
            let obj = event_obj(d, &e.id);
            let details = serde_json::to_value(&e.step).unwrap();
            d.doc.put(&obj, key::PREV, prev.id.as_str()).unwrap();
            d.doc.put(&obj, key::PREV_HASH, prev.hash.as_str()).unwrap();
            let h = hash_of(
                e,
                &details,
                Some(&prev.id),
                Some(&prev.hash),
                e.key.as_deref(),
            );
            d.doc.put(&obj, key::HASH, h.as_str()).unwrap();
        };
        swap(&mut d, handed, &chain.events[0]);
        swap(&mut d, packed, handed);
        let after = d.custody();
        assert!(!after.intact, "{:?}", after.findings);
        assert!(codes(&after).contains(&"altered"), "{:?}", after.findings);
    }

    #[test]
    fn sender_and_receiver_offline_at_once_make_one_chain_in_causal_order() {
        let mut sender = sample();
        sender
            .add_custody_event(&collected(), &editor("c", 1), &*KEY)
            .unwrap();
        let mut receiver = RecordDoc::load(&sender.save(), ActorId::random()).unwrap();
        // The receiver scans the sample before the sender's hand-over reaches it.
        receiver
            .add_custody_event(&receipt("JJ-9", 3), &editor("li", 5), &*KEY)
            .unwrap();
        sender
            .add_custody_event(&hand_over("JJ-9", "李", 3), &editor("c", 4), &*KEY)
            .unwrap();
        let s_bytes = sender.save();
        let r_bytes = receiver.save();
        sender.merge_bytes(&r_bytes).unwrap();
        receiver.merge_bytes(&s_bytes).unwrap();
        let (a, b) = (sender.custody(), receiver.custody());
        assert_eq!(a, b, "both devices compute the same chain");
        let names: Vec<&str> = a.events.iter().map(|e| e.step.name()).collect();
        assert_eq!(names, ["collected", "handed_over", "received"]);
        assert!(a.intact && a.findings.is_empty(), "{:?}", a.findings);
        // The next event follows the receipt.
        let next = sender
            .add_custody_event(&CustodyStep::Split { parts: 2 }, &editor("li", 6), &*KEY)
            .unwrap();
        assert_eq!(next.prev.as_deref(), Some(a.events[2].id.as_str()));
    }

    #[test]
    fn the_same_sample_handed_over_twice_by_two_devices_is_flagged() {
        let mut one = sample();
        one.add_custody_event(&collected(), &editor("c", 1), &*KEY)
            .unwrap();
        let mut two = RecordDoc::load(&one.save(), ActorId::random()).unwrap();
        one.add_custody_event(&hand_over("JJ-1", "李", 1), &editor("c", 2), &*KEY)
            .unwrap();
        two.add_custody_event(&hand_over("JJ-2", "赵", 1), &editor("w", 3), &*KEY)
            .unwrap();
        one.merge_bytes(&two.save()).unwrap();
        let chain = one.custody();
        assert_eq!(chain.events.len(), 3, "both hand-overs are kept");
        assert!(chain.intact);
        assert_eq!(codes(&chain), ["handed_over_twice"]);
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let a: Value =
            serde_json::from_str(r#"{"b": {"y": 1, "x": [2, {"q": 1, "p": 0}]}, "a": "甲"}"#)
                .unwrap();
        assert_eq!(
            canonical_json(&a),
            r#"{"a":"甲","b":{"x":[2,{"p":0,"q":1}],"y":1}}"#
        );
    }
}
