use jingtu_doc::{Conflict, RecordMeta, StatusEvent};
use jingtu_model::{Issue, Label, MissingPhoto};

use crate::RecordPhoto;
use serde::Serialize;
use serde_json::{Map, Value};

/// A record as a field user sees it: values, validation, computed fields, completion.
#[derive(Debug, Clone, Serialize)]
pub struct RecordView {
    pub id: String,
    pub kind: String,
    pub template_id: String,
    pub template_label: Label,
    pub name: String,
    pub status: String,
    pub meta: RecordMeta,
    pub data: Value,
    pub computed: Map<String, Value>,
    pub issues: Vec<Issue>,
    pub completion_pct: f64,
    pub events: Vec<StatusEvent>,
    pub conflicts: Vec<Conflict>,
    /// Live photos, oldest first.
    pub photos: Vec<RecordPhoto>,
    /// Photos the template requires that the record lacks (also listed in `issues`).
    pub missing_photos: Vec<MissingPhoto>,
    pub updated_at_ms: i64,
}
