//! jingtu-policy: decides whether incoming Automerge changes of a record are allowed for the
//! role of the person who pushes them and the state of the record (DESIGN.md section 4, issue
//! 6). Pure: no I/O, no clock; the server calls it on every push, the device core on its own
//! local changes to tell which would be refused.
//!
//! Every operation of every new change is mapped to the path of the object it touches and
//! judged, not the resulting diff (which hides an operation that lost a conflict). The rules
//! ([`Rule`]):
//!
//! - `review_by_supervisor`: only a supervisor or admin writes anything under `review`.
//! - `status_by_role`: `returned`, `approved` and `reopened` events are added by a supervisor or
//!   admin only, `submitted` by anyone; nobody edits or deletes an existing status event.
//! - `custody_append_only`: nobody edits or deletes an existing custody event; anyone may add
//!   new ones.
//! - `approved_locked`: a record approved before the push takes no change but a supervisor or
//!   admin appending a `reopened` event (the rest of that push is refused), comments under
//!   `review` by a supervisor or admin, and new custody events (a sample's chain goes on after
//!   its collection record is approved), and lab results by lab staff.
//! - `lab_results_by_lab`: only lab staff (or an admin) write `data/lab_results`, in any
//!   status (results come after submission, without reopening the collection record); lab staff
//!   write nothing else but new custody events, and create no records.
//! - `meta_write_once`: `meta` is written by the change that creates the record and never
//!   again; the root containers are never replaced or deleted.
//! - `too_many_ops` and `undecodable` bound the work and refuse what cannot be checked.
//!
//! Which records a person may write at all (scope) is the caller's decision; [`record_scope`]
//! reads the fields of `meta` it rests on.
//!
//! ```no_run
//! # use automerge::Automerge;
//! # use jingtu_model::Role;
//! # fn f(before: Option<&Automerge>, after: &Automerge) {
//! let changes = jingtu_policy::new_changes(before, after);
//! let violations = jingtu_policy::check_changes(before, after, &changes, Role::Inspector);
//! for v in &violations {
//!     eprintln!("change {} refused: {v}", v.change);
//! }
//! # }
//! ```

mod check;
mod guard;
mod locate;
mod record;
mod rule;

pub use check::{Limits, check_changes, check_changes_with, new_changes};
pub use record::{RecordScope, record_scope, record_status};
pub use rule::{Rule, Violation};

/// The changes named by `violations`, each once, in the order first named: the changes a
/// push must not take. Their descendants in the same push depend on them and cannot be taken
/// alone either; a device rebuilds from the accepted heads and replays its allowed edits.
pub fn refused_changes(violations: &[Violation]) -> Vec<automerge::ChangeHash> {
    let mut seen = std::collections::HashSet::new();
    violations
        .iter()
        .filter(|v| seen.insert(v.change))
        .map(|v| v.change)
        .collect()
}

#[cfg(test)]
mod tests;
