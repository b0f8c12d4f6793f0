//! Records as the app sees them: field values, templates, summaries, views, history,
//! conflicts and photos.

use serde_json::Value;

use crate::error::{JingtuError, Result};

/// A field value. Objects and lists travel as JSON text.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum FieldValue {
    Null,
    Bool { value: bool },
    Integer { value: i64 },
    Number { value: f64 },
    Text { value: String },
    Json { json: String },
}

impl FieldValue {
    pub(crate) fn to_json(&self, field: &str) -> Result<Value> {
        Ok(match self {
            FieldValue::Null => Value::Null,
            FieldValue::Bool { value } => Value::Bool(*value),
            FieldValue::Integer { value } => Value::from(*value),
            FieldValue::Number { value } => serde_json::Number::from_f64(*value)
                .map(Value::Number)
                .ok_or_else(|| JingtuError::InvalidInput {
                    field: field.to_string(),
                    reason: "not a finite number".into(),
                })?,
            FieldValue::Text { value } => Value::String(value.clone()),
            FieldValue::Json { json } => {
                serde_json::from_str(json).map_err(|e| JingtuError::InvalidInput {
                    field: field.to_string(),
                    reason: format!("not JSON: {e}"),
                })?
            }
        })
    }

    pub(crate) fn from_json(v: &Value) -> FieldValue {
        match v {
            Value::Null => FieldValue::Null,
            Value::Bool(b) => FieldValue::Bool { value: *b },
            Value::Number(n) => match n.as_i64() {
                Some(i) => FieldValue::Integer { value: i },
                None => FieldValue::Number {
                    value: n.as_f64().unwrap_or(0.0),
                },
            },
            Value::String(s) => FieldValue::Text { value: s.clone() },
            other => FieldValue::Json {
                json: other.to_string(),
            },
        }
    }
}

/// A checklist item's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ItemResult {
    Pass,
    Fail,
    NotApplicable,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ValidationIssue {
    pub path: String,
    pub severity: Severity,
    pub code: String,
    pub message_zh: String,
    pub message_en: String,
}

impl From<jingtu_core::Issue> for ValidationIssue {
    fn from(i: jingtu_core::Issue) -> Self {
        ValidationIssue {
            path: i.path,
            severity: match i.severity {
                jingtu_core::Severity::Error => Severity::Error,
                jingtu_core::Severity::Warning => Severity::Warning,
            },
            code: i.code,
            message_zh: i.message.zh,
            message_en: i.message.en,
        }
    }
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TemplateInfo {
    pub id: String,
    pub kind: String,
    pub version: u32,
    pub label_zh: String,
    pub label_en: String,
}

/// Where a new record belongs (from an assignment, or chosen by the user).
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
pub struct NewRecordPlace {
    pub org_unit: Option<String>,
    pub village: Option<String>,
    pub planned_point: Option<String>,
    pub assignment_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RecordSummary {
    pub id: String,
    pub kind: String,
    pub template_version: u32,
    pub name: String,
    pub status: String,
    pub org_unit: Option<String>,
    pub village: Option<String>,
    pub planned_point: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub completion_pct: f64,
    pub error_count: u32,
    pub warning_count: u32,
    pub conflict_count: u32,
}

impl From<jingtu_core::RecordSummary> for RecordSummary {
    fn from(s: jingtu_core::RecordSummary) -> Self {
        RecordSummary {
            id: s.id,
            kind: s.kind,
            template_version: s.template_version,
            name: s.name,
            status: s.status.as_str().to_string(),
            org_unit: s.org_unit,
            village: s.village,
            planned_point: s.planned_point,
            created_at_ms: s.created_at_ms,
            updated_at_ms: s.updated_at_ms,
            completion_pct: s.completion_pct,
            error_count: s.error_count,
            warning_count: s.warning_count,
            conflict_count: s.conflict_count,
        }
    }
}

/// Filters for a record list; all optional. `text` matches anywhere in the record's name.
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
pub struct RecordFilter {
    pub kind: Option<String>,
    pub status: Option<String>,
    pub org_unit: Option<String>,
    pub village: Option<String>,
    pub text: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// One value of a field, by its path (`checklist.clean_garbage.result`).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FieldEntry {
    pub path: String,
    pub value: FieldValue,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct StatusEvent {
    pub kind: String,
    pub author: String,
    pub device: String,
    pub at_ms: i64,
    pub note: Option<String>,
}

/// A supervisor's decision on a submitted (or, for reopen, approved) record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ReviewDecision {
    Approve,
    Return,
    Reopen,
}

impl From<ReviewDecision> for jingtu_core::ReviewDecision {
    fn from(d: ReviewDecision) -> Self {
        match d {
            ReviewDecision::Approve => jingtu_core::ReviewDecision::Approve,
            ReviewDecision::Return => jingtu_core::ReviewDecision::Return,
            ReviewDecision::Reopen => jingtu_core::ReviewDecision::Reopen,
        }
    }
}

/// A comment to write: its text and, optionally, the field or checklist item it points at
/// (`checklist.sewage_running`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewComment {
    pub text: String,
    pub path: Option<String>,
}

impl From<NewComment> for jingtu_core::NewComment {
    fn from(c: NewComment) -> Self {
        jingtu_core::NewComment {
            text: c.text,
            path: c.path,
        }
    }
}

/// A comment of a record's review.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ReviewComment {
    pub id: String,
    pub text: String,
    /// The field or checklist item it points at; null for the whole record.
    pub path: Option<String>,
    pub by: String,
    pub device: String,
    pub at_ms: i64,
    /// The submission it is about (1 for the first).
    pub round: i32,
}

impl From<jingtu_core::ReviewComment> for ReviewComment {
    fn from(c: jingtu_core::ReviewComment) -> Self {
        ReviewComment {
            id: c.id,
            text: c.text,
            path: c.path,
            by: c.by,
            device: c.device,
            at_ms: c.at_ms,
            round: i32::try_from(c.round).unwrap_or(i32::MAX),
        }
    }
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ConflictValue {
    pub value: FieldValue,
    pub device: String,
    pub author: Option<String>,
    pub time_ms: i64,
    pub shown: bool,
}

/// A field holding concurrent values from different devices.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Conflict {
    pub path: String,
    pub values: Vec<ConflictValue>,
}

impl From<jingtu_core::Conflict> for Conflict {
    fn from(c: jingtu_core::Conflict) -> Self {
        Conflict {
            path: c.path,
            values: c
                .values
                .into_iter()
                .map(|v| ConflictValue {
                    value: FieldValue::from_json(&v.value),
                    device: v.device,
                    author: v.author,
                    time_ms: v.time_ms,
                    shown: v.shown,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct HistoryEntry {
    pub device: String,
    pub author: Option<String>,
    pub time_ms: i64,
    pub action: String,
    pub paths: Vec<String>,
}

/// A record as the form shows it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RecordView {
    pub id: String,
    pub kind: String,
    pub template_id: String,
    pub template_label_zh: String,
    pub template_label_en: String,
    pub name: String,
    pub status: String,
    pub org_unit: Option<String>,
    pub village: Option<String>,
    pub planned_point: Option<String>,
    /// The assignment the record was created for.
    pub assignment_id: Option<String>,
    /// Every value, by leaf path.
    pub values: Vec<FieldEntry>,
    /// The record's data as one JSON object.
    pub data_json: String,
    /// Computed fields (guideline rules, calculations) as one JSON object.
    pub computed_json: String,
    pub issues: Vec<ValidationIssue>,
    pub completion_pct: f64,
    pub events: Vec<StatusEvent>,
    /// The review's comments, every round, oldest first.
    pub comments: Vec<ReviewComment>,
    /// When the record is returned: what to fix now, each comment perhaps pointing at a field
    /// or checklist item.
    pub to_fix: Vec<ReviewComment>,
    pub conflicts: Vec<Conflict>,
    /// Live photos, oldest first.
    pub photos: Vec<Photo>,
    /// Photos the template requires that the record lacks (each also an error in `issues`).
    pub missing_photos: Vec<MissingPhoto>,
    pub updated_at_ms: i64,
}

/// What the app knows of a photo it adds. `tag` is a `photo_type` code (`landscape_e`,
/// `sample_bag`, `before`...); `field` is the field it proves (a checklist item such as
/// `checklist.clean_garbage`, or a photo list), null for the whole record. The position is the
/// phone's fix at capture (used over the photo's own GPS); `takenAtMs` is used when the photo
/// has no camera time; `stamp` null follows the template (on for soil samples).
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
pub struct NewPhoto {
    pub tag: String,
    pub field: Option<String>,
    pub note: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub accuracy_m: Option<f64>,
    pub taken_at_ms: Option<i64>,
    pub stamp: Option<bool>,
}

impl From<NewPhoto> for jingtu_core::NewPhoto {
    fn from(p: NewPhoto) -> Self {
        jingtu_core::NewPhoto {
            tag: p.tag,
            field: p.field,
            note: p.note,
            lat: p.lat,
            lon: p.lon,
            accuracy_m: p.accuracy_m,
            taken_at_ms: p.taken_at_ms,
            stamp: p.stamp,
        }
    }
}

/// A photo of a record. `sha256` names the stored image (`photoBytes`); `hasFull` is false
/// while only the thumbnail is on this device.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Photo {
    pub id: String,
    pub sha256: String,
    pub tag: String,
    pub tag_label_zh: String,
    pub tag_label_en: String,
    pub field: Option<String>,
    pub taken_at_ms: i64,
    /// `camera` or `device`.
    pub time_source: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub accuracy_m: Option<f64>,
    pub width: u32,
    pub height: u32,
    pub size_bytes: u64,
    pub note: Option<String>,
    pub stamped: bool,
    pub author: String,
    pub device: String,
    pub added_at_ms: i64,
    pub removed: bool,
    pub removed_by: Option<String>,
    pub removed_at_ms: Option<i64>,
    pub has_full: bool,
    pub has_thumbnail: bool,
}

impl From<jingtu_core::RecordPhoto> for Photo {
    fn from(p: jingtu_core::RecordPhoto) -> Self {
        let e = p.entry;
        Photo {
            id: e.id,
            sha256: e.sha256.to_string(),
            tag: e.tag,
            tag_label_zh: p.tag_label.zh,
            tag_label_en: p.tag_label.en,
            field: e.field,
            taken_at_ms: e.taken_at_ms,
            time_source: e.time_source,
            lat: e.lat,
            lon: e.lon,
            accuracy_m: e.accuracy_m,
            width: e.width,
            height: e.height,
            size_bytes: e.size,
            note: e.note,
            stamped: e.stamped,
            author: e.author,
            device: e.device,
            added_at_ms: e.added_at_ms,
            removed: e.removed.is_some(),
            removed_by: e.removed.as_ref().map(|r| r.by.clone()),
            removed_at_ms: e.removed.as_ref().map(|r| r.at_ms),
            has_full: p.has_full,
            has_thumbnail: p.has_thumb,
        }
    }
}

/// A required photo the record lacks: `needed` of the tag, `present` so far.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct MissingPhoto {
    pub tag: String,
    pub label_zh: String,
    pub label_en: String,
    pub needed: u32,
    pub present: u32,
}

pub(crate) fn leaves(prefix: &str, v: &Value, out: &mut Vec<FieldEntry>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Object(o) => o.iter().for_each(|(k, v)| leaves(&join(k), v, out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| leaves(&join(&i.to_string()), v, out)),
        scalar => out.push(FieldEntry {
            path: prefix.to_string(),
            value: FieldValue::from_json(scalar),
        }),
    }
}
