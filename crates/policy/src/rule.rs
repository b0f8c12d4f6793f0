//! The rules a change can break, and the report of one breach.

use std::fmt;

use automerge::ChangeHash;
use thiserror::Error;

/// A write rule of records. Each rule has a stable snake_case code ([`Rule::as_str`]) for
/// wire messages, audit logs and the device's "refused" marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// Only a supervisor or admin creates, changes or deletes anything under `review`.
    ReviewBySupervisor,
    /// `returned`, `approved` and `reopened` events are added only by a supervisor or admin
    /// (`submitted` by anyone); nobody edits or deletes an existing status event.
    StatusByRole,
    /// Nobody edits or deletes an existing custody event; adding new ones is allowed.
    CustodyAppendOnly,
    /// An approved record is locked: only a supervisor or admin appending a `reopened` event
    /// (or writing under `review`: comments) may change it.
    ApprovedLocked,
    /// A soil sample's lab results (`data/lab_results`) are written by lab staff (or an admin)
    /// only, in any status, without reopening the record; lab staff write nothing else but new
    /// custody events, and create no records.
    LabResultsByLab,
    /// `meta` is written once, by the change that creates the record; the root containers
    /// (`meta`, `data`, `photos`, `custody`, `review`, `events`) are never replaced or deleted.
    MetaWriteOnce,
    /// The push holds more operations than the checker scans ([`crate::Limits::max_ops`]); the
    /// whole push is refused.
    TooManyOps,
    /// A change that cannot be checked: its operations do not decode, it is not part of the
    /// document it was checked against, or an operation names an object the document lacks.
    Undecodable,
}

impl Rule {
    /// Every rule, in a fixed order.
    pub const ALL: [Rule; 8] = [
        Rule::ReviewBySupervisor,
        Rule::StatusByRole,
        Rule::CustodyAppendOnly,
        Rule::ApprovedLocked,
        Rule::LabResultsByLab,
        Rule::MetaWriteOnce,
        Rule::TooManyOps,
        Rule::Undecodable,
    ];

    /// The rule's stable code, e.g. `review_by_supervisor`.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::ReviewBySupervisor => "review_by_supervisor",
            Rule::StatusByRole => "status_by_role",
            Rule::CustodyAppendOnly => "custody_append_only",
            Rule::ApprovedLocked => "approved_locked",
            Rule::LabResultsByLab => "lab_results_by_lab",
            Rule::MetaWriteOnce => "meta_write_once",
            Rule::TooManyOps => "too_many_ops",
            Rule::Undecodable => "undecodable",
        }
    }

    /// The rule with code `code`, if there is one.
    pub fn parse(code: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.as_str() == code)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One breach of a rule by one change.
///
/// `path` names what the change touched, from the document's root, segments joined by `/`:
/// map keys as they are, list positions as indexes (`review/r1/decision`,
/// `custody/ev7/to_person`, `events/2/type`, `meta/org_unit`, `data` for a root container).
/// It is empty when the breach concerns the whole change (`too_many_ops`, a change that does not
/// decode). An operation inside a text object is named by the text's path.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{rule} at '{path}': {message}")]
pub struct Violation {
    pub rule: Rule,
    pub path: String,
    /// The change that holds the refused operation.
    pub change: ChangeHash,
    /// A sentence for people (English).
    pub message: String,
}
