use jingtu_doc::{Conflict, RecordMeta, StatusEvent};
use jingtu_model::{Issue, Label};
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
    pub updated_at_ms: i64,
}
