//! What is wrong with a record's data: the issues an evaluation finds and how much they matter.

use serde::{Deserialize, Serialize};

use crate::Label;

/// How much an issue matters: errors block submit, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

/// One validation issue of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Issue {
    /// Data path of the field (`checklist.clean_garbage.issue`); empty for the whole record.
    pub path: String,
    pub severity: Severity,
    /// Stable code: `required`, `type`, `minimum`, `enum`, `constraint`, ...
    pub code: String,
    pub message: Label,
}
