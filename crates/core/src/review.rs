//! Review on a device (a supervisor's tablet): approve, return with comments pointed at
//! fields or checklist items, reopen, comment. The decisions are status events and the
//! comments entries under `review`, synced like any edit; the server checks that only a
//! supervisor or admin wrote them. On the inspector's device the view lists, per returned
//! record, what to fix and where ([`crate::RecordView::to_fix`]).

use jingtu_doc::{EventKind, NewComment, Status};
use jingtu_store::RecordSummary;

use crate::cache::Touched;
use crate::core::DeviceCore;
use crate::error::CoreError;

/// A supervisor's decision on a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewDecision {
    /// submitted → approved: the record is locked.
    Approve,
    /// submitted → returned: the inspector fixes what the comments point at and submits again.
    Return,
    /// approved → returned, to correct an approved record.
    Reopen,
}

impl ReviewDecision {
    pub const ALL: [ReviewDecision; 3] = [
        ReviewDecision::Approve,
        ReviewDecision::Return,
        ReviewDecision::Reopen,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReviewDecision::Approve => "approve",
            ReviewDecision::Return => "return",
            ReviewDecision::Reopen => "reopen",
        }
    }

    pub fn parse(s: &str) -> Option<ReviewDecision> {
        ReviewDecision::ALL.into_iter().find(|d| d.as_str() == s)
    }

    pub fn event(self) -> EventKind {
        match self {
            ReviewDecision::Approve => EventKind::Approved,
            ReviewDecision::Return => EventKind::Returned,
            ReviewDecision::Reopen => EventKind::Reopened,
        }
    }
}

impl DeviceCore {
    /// Refuses review on a device enrolled for a user who does not review (the server would
    /// refuse the change at the next sync, and the record would be parked).
    fn check_reviewer(&self) -> Result<(), CoreError> {
        if let Some(e) = self.enrollment()?
            && !e.role.reviews()
        {
            return Err(CoreError::InvalidState(format!(
                "only a supervisor or admin reviews records; this device is enrolled for {} ({})",
                e.user, e.role
            )));
        }
        Ok(())
    }

    /// Approves, returns or reopens a record, with an optional note and comments pointed at
    /// fields or checklist items, as one change. A record holding conflicting values is not
    /// approved until they are resolved; a return needs a note or a comment.
    pub fn review(
        &self,
        id: &str,
        decision: ReviewDecision,
        note: Option<&str>,
        comments: &[NewComment],
    ) -> Result<RecordSummary, CoreError> {
        self.check_reviewer()?;
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        self.edit(id, |c, by| {
            if decision == ReviewDecision::Approve
                && let Some(conflict) = c.doc.conflicts().first()
            {
                return Err(CoreError::InvalidState(format!(
                    "resolve the conflict at '{}' before approving",
                    conflict.path
                )));
            }
            c.doc
                .review(&c.template, decision.event(), note, comments, by)?;
            Ok(((), Touched::Events))
        })?;
        Ok(self.store.summary(id)?)
    }

    /// Adds comments to a record without deciding on it; their ids.
    pub fn comment(&self, id: &str, comments: &[NewComment]) -> Result<Vec<String>, CoreError> {
        self.check_reviewer()?;
        self.edit(id, |c, by| {
            if c.status == Status::Draft {
                return Err(CoreError::InvalidState(
                    "a draft is not reviewed: comments wait until it is submitted".into(),
                ));
            }
            let ids = c.doc.comment(&c.template, comments, by)?;
            Ok((ids, Touched::Events))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewRecordPlace;
    use serde_json::json;

    fn submitted(core: &DeviceCore) -> String {
        let id = core
            .create_record("village_inspection", &NewRecordPlace::default())
            .unwrap()
            .id;
        core.set_field(&id, "eval_year", &json!(2024)).unwrap();
        // Submitting needs a complete record; the event is written directly here.
        core.edit(&id, |c, by| {
            c.doc.add_event(EventKind::Submitted, None, by)?;
            Ok(((), Touched::Events))
        })
        .unwrap();
        id
    }

    fn remark(text: &str, path: Option<&str>) -> NewComment {
        NewComment {
            text: text.into(),
            path: path.map(str::to_string),
        }
    }

    #[test]
    fn a_return_with_a_comment_on_a_field_shows_what_to_fix_until_resubmitted() {
        let dir = tempfile::tempdir().unwrap();
        let core = DeviceCore::open(dir.path()).unwrap();
        let id = submitted(&core);
        let s = core
            .review(
                &id,
                ReviewDecision::Return,
                Some("请补充"),
                &[remark("年份不对", Some("eval_year"))],
            )
            .unwrap();
        assert_eq!(s.status, Status::Returned);
        let view = core.view(&id).unwrap();
        assert_eq!(view.to_fix.len(), 1);
        assert_eq!(view.to_fix[0].path.as_deref(), Some("eval_year"));
        assert_eq!(view.comments.len(), 1);
        // Fixed and edited again: the record is editable once returned.
        core.set_field(&id, "eval_year", &json!(2025)).unwrap();
    }

    #[test]
    fn approve_is_refused_on_a_draft_and_reopen_on_a_submitted_record() {
        let dir = tempfile::tempdir().unwrap();
        let core = DeviceCore::open(dir.path()).unwrap();
        let draft = core
            .create_record("village_inspection", &NewRecordPlace::default())
            .unwrap()
            .id;
        assert!(matches!(
            core.review(&draft, ReviewDecision::Approve, None, &[]),
            Err(CoreError::InvalidState(_))
        ));
        assert!(matches!(
            core.comment(&draft, &[remark("x", None)]),
            Err(CoreError::InvalidState(_))
        ));
        let id = submitted(&core);
        assert!(matches!(
            core.review(&id, ReviewDecision::Reopen, None, &[]),
            Err(CoreError::InvalidState(_))
        ));
        assert!(matches!(
            core.review(
                &id,
                ReviewDecision::Return,
                None,
                &[remark("x", Some("nope"))]
            ),
            Err(CoreError::BadPath { .. })
        ));
        let s = core
            .review(&id, ReviewDecision::Approve, None, &[])
            .unwrap();
        assert_eq!(s.status, Status::Approved);
        // A comment on an approved record is kept (the data stays locked).
        core.comment(&id, &[remark("抽查通过", None)]).unwrap();
        let s = core
            .review(&id, ReviewDecision::Reopen, Some("数据需更正"), &[])
            .unwrap();
        assert_eq!(s.status, Status::Returned);
    }
}
