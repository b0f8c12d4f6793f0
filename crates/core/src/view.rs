use jingtu_doc::{Conflict, PhotoEntry, RecordMeta, ReviewComment, Status, StatusEvent};
use jingtu_model::{Issue, Label, MissingPhoto};
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
    pub status: Status,
    pub meta: RecordMeta,
    pub data: Value,
    pub computed: Map<String, Value>,
    pub issues: Vec<Issue>,
    pub completion_pct: f64,
    pub events: Vec<StatusEvent>,
    /// The review's comments, every round, oldest first.
    pub comments: Vec<ReviewComment>,
    /// When the record is returned: the comments about its latest submission, each perhaps
    /// pointing at the field or checklist item to fix.
    pub to_fix: Vec<ReviewComment>,
    pub conflicts: Vec<Conflict>,
    /// Live photos, oldest first.
    pub photos: Vec<RecordPhoto>,
    /// Photos the template requires that the record lacks (also listed in `issues`).
    pub missing_photos: Vec<MissingPhoto>,
    pub updated_at_ms: i64,
}

/// A photo of a record as the app shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordPhoto {
    #[serde(flatten)]
    pub entry: PhotoEntry,
    pub tag_label: Label,
    /// The full image is on this device (after a sync it may hold only the thumbnail).
    pub has_full: bool,
    pub has_thumb: bool,
}
