//! Who sees and writes which records: assignments, the scope log each device's scope is
//! computed from, and what the server knows of a record's place (owner, org unit, assignment).
//!
//! A user's scope is a set of keys: their live assignments, and for supervisors their org
//! units. Every change of a user's keys is appended to the scope log with a sequence number, so
//! the server can tell what entered and left the scope of a device that last synced at scope
//! sequence N without keeping anything per device (docs/sync-protocol.md, "Scope").

use std::collections::BTreeSet;

use jingtu_protocol::{Assignment, AssignmentTarget, PlannedPoint};

use super::StorageError;

/// An assignment to create.
#[derive(Debug, Clone)]
pub struct NewAssignment {
    pub target_kind: AssignmentTarget,
    pub target: String,
    pub target_name: String,
    /// The record kind to capture.
    pub kind: String,
    pub org_unit: String,
    pub assignee: String,
    pub due_date: Option<String>,
    pub note: Option<String>,
    pub assigned_by: String,
    /// The planned point the target names, when one was imported.
    pub planned_point: Option<PlannedPoint>,
}

/// One key of a user's scope.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScopeKey {
    /// The records of an assignment.
    Assignment(String),
    /// The records within an org unit (a division code; for supervisors).
    Org(String),
    /// A soil sample handed over to the user by name (交接 to them): its receiver holds it.
    Custody(String),
}

/// Which feed chunks a device receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadScope {
    /// Every record (admins).
    All,
    /// The user's own records, the records of these assignments, and the records within these
    /// org units (their significant prefixes, e.g. `411321` for a county).
    Limited {
        user: String,
        assignments: Vec<String>,
        org_prefixes: Vec<String>,
    },
}

/// What the server knows of where a record belongs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordPlace {
    /// The user whose device first pushed it.
    pub owner: Option<String>,
    pub org_unit: Option<String>,
    pub assignment: Option<String>,
    /// The users a soil sample was handed over to by name (its receivers), who hold it.
    pub holders: Vec<String>,
}

/// Assignments and the scope log.
pub trait ScopeStore: Send + Sync + 'static {
    fn create_assignment(&self, a: &NewAssignment) -> Result<Assignment, StorageError>;
    /// Stores many assignments in one transaction.
    fn create_assignments(&self, all: &[NewAssignment]) -> Result<Vec<Assignment>, StorageError>;
    /// Takes an assignment back (its records leave the assignee's devices unless they hold
    /// unpushed changes); returns it as it was.
    fn remove_assignment(&self, id: &str) -> Result<Assignment, StorageError>;
    /// Hands a live assignment to another user: its records leave the old assignee's devices
    /// and reach the new one's at their next syncs.
    fn reassign(&self, id: &str, assignee: &str) -> Result<Assignment, StorageError>;
    /// An assignment, and whether it was taken back.
    fn assignment(&self, id: &str) -> Result<Option<(Assignment, bool)>, StorageError>;
    /// Assignments, of one assignee or all, live ones unless `include_removed`.
    fn list_assignments(
        &self,
        assignee: Option<&str>,
        include_removed: bool,
    ) -> Result<Vec<Assignment>, StorageError>;
    /// Brings the user's org keys in the scope log in line with `orgs` (their org units now;
    /// empty for field users, whose org units do not widen what they see).
    fn sync_org_keys(&self, user: &str, orgs: &[String]) -> Result<(), StorageError>;
    /// The user's newest scope sequence (0: never changed).
    fn scope_seq(&self, user: &str) -> Result<u64, StorageError>;
    /// The user's scope keys as of scope sequence `seq`.
    fn scope_keys_at(&self, user: &str, seq: u64) -> Result<BTreeSet<ScopeKey>, StorageError>;
    /// Ids of the records matching any of `keys`, in id order, after `after`, at most `limit`.
    fn records_for_keys(
        &self,
        keys: &[ScopeKey],
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError>;
    fn record_place(&self, id: &str) -> Result<Option<RecordPlace>, StorageError>;
    /// Where the records holding a photo belong.
    fn photo_places(&self, sha256: &str) -> Result<Vec<RecordPlace>, StorageError>;
    /// Stores planned points in one transaction, replacing those with the same codes;
    /// returns how many were new and how many replaced.
    fn import_planned_points(
        &self,
        points: &[PlannedPoint],
    ) -> Result<(usize, usize), StorageError>;
    fn planned_point(&self, code: &str) -> Result<Option<PlannedPoint>, StorageError>;
    /// Planned points whose org unit starts with `prefix` (all with none), in code order,
    /// after `after`, at most `limit`.
    fn planned_points(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<PlannedPoint>, StorageError>;
}

impl ScopeKey {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            ScopeKey::Assignment(_) => "assignment",
            ScopeKey::Org(_) => "org",
            ScopeKey::Custody(_) => "custody",
        }
    }

    pub(crate) fn target(&self) -> &str {
        match self {
            ScopeKey::Assignment(t) | ScopeKey::Org(t) | ScopeKey::Custody(t) => t,
        }
    }

    pub(crate) fn from_parts(kind: &str, target: String) -> Option<ScopeKey> {
        match kind {
            "assignment" => Some(ScopeKey::Assignment(target)),
            "org" => Some(ScopeKey::Org(target)),
            "custody" => Some(ScopeKey::Custody(target)),
            _ => None,
        }
    }

    /// Does a record in `place` match this key? (A custody key names its record, not a
    /// place: the place's holders say who holds it.)
    pub fn matches(&self, place: &RecordPlace) -> bool {
        match self {
            ScopeKey::Custody(_) => false,
            ScopeKey::Assignment(a) => place.assignment.as_deref() == Some(a.as_str()),
            ScopeKey::Org(code) => place
                .org_unit
                .as_deref()
                .is_some_and(|u| crate::people::org::is_within(u, code)),
        }
    }
}
