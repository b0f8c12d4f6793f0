//! A supervisor's review of a record: the decision (a status event: approved, returned,
//! reopened) and comments, each of which may point at a field or a checklist item.
//!
//! Comments live under `review`, keyed by a UUIDv7, so comments written on two devices at
//! once all survive. Each comment remembers the submission it was written about (its
//! `round`: how many times the record had been submitted), so a returned record tells its
//! inspector exactly what to fix now, and older rounds stay as the review history.

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc, Value as AmValue, ValueRef};
use jingtu_model::{FieldPath, Template};
use serde::Serialize;

use crate::DocError;
use crate::layout::{self, EventKind, Status};
use crate::record::{Editor, RecordDoc};

/// The longest comment kept, in characters.
pub const MAX_COMMENT_CHARS: usize = 2000;

/// The keys of one comment under `review`.
pub mod comment {
    pub const TYPE: &str = "type";
    /// The value of `type` for a comment.
    pub const COMMENT: &str = "comment";
    pub const TEXT: &str = "text";
    pub const PATH: &str = "path";
    pub const BY: &str = "by";
    pub const DEVICE: &str = "device";
    pub const AT: &str = "at";
    pub const ROUND: &str = "round";
}

/// A comment to write: what to say and, optionally, the field or checklist item it is about
/// (`checklist.sewage_running`, `transparency_cm`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewComment {
    pub text: String,
    pub path: Option<String>,
}

/// A comment of the review, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewComment {
    pub id: String,
    pub text: String,
    /// The field or checklist item the comment is about.
    pub path: Option<String>,
    pub by: String,
    /// The actor id (hex) of the device or server session that wrote it.
    pub device: String,
    pub at_ms: i64,
    /// How many times the record had been submitted when the comment was written: the
    /// comment is about that submission.
    pub round: u32,
}

impl RecordDoc {
    /// How many times the record has been submitted.
    pub fn submissions(&self) -> u32 {
        self.events()
            .iter()
            .filter(|e| e.kind == EventKind::Submitted)
            .count() as u32
    }

    /// Every comment, oldest first (by round, then time, then id: the same order on every
    /// device). Entries that are not comments are skipped.
    pub fn comments(&self) -> Vec<ReviewComment> {
        let Ok(Some((AmValue::Object(ObjType::Map), review))) = self.doc.get(ROOT, layout::REVIEW)
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in self.doc.map_range(&review, ..) {
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
            if text(comment::TYPE).as_deref() != Some(comment::COMMENT) {
                continue;
            }
            let Some(body) = text(comment::TEXT) else {
                continue;
            };
            out.push(ReviewComment {
                id: item.key.to_string(),
                text: body,
                path: text(comment::PATH),
                by: text(comment::BY).unwrap_or_default(),
                device: text(comment::DEVICE).unwrap_or_default(),
                at_ms: int(comment::AT).unwrap_or(0),
                round: int(comment::ROUND)
                    .and_then(|r| u32::try_from(r).ok())
                    .unwrap_or(0),
            });
        }
        out.sort_by(|a, b| (a.round, a.at_ms, &a.id).cmp(&(b.round, b.at_ms, &b.id)));
        out
    }

    /// What the inspector must fix now: when the record is returned, the comments about its
    /// latest submission (those made when it was returned or reopened, and before); nothing
    /// otherwise.
    pub fn to_fix(&self) -> Vec<ReviewComment> {
        if self.status() != Status::Returned {
            return Vec::new();
        }
        let round = self.submissions();
        self.comments()
            .into_iter()
            .filter(|c| c.round == round)
            .collect()
    }

    /// Adds comments about the record as it is now, in one change.
    pub fn comment(
        &mut self,
        template: &Template,
        comments: &[NewComment],
        by: &Editor,
    ) -> Result<Vec<String>, DocError> {
        if comments.is_empty() {
            return Err(DocError::Value {
                path: "review".into(),
                reason: "no comment to add".into(),
            });
        }
        let ids = self.attempt(|d| d.put_comments(template, comments, by))?;
        self.commit(by, "comment", &[]);
        Ok(ids)
    }

    /// A supervisor's decision (approve, return or reopen) with an optional note and comments
    /// pointed at fields or items, in one change; the new status.
    pub fn review(
        &mut self,
        template: &Template,
        kind: EventKind,
        note: Option<&str>,
        comments: &[NewComment],
        by: &Editor,
    ) -> Result<Status, DocError> {
        if kind == EventKind::Submitted {
            return Err(DocError::Status(
                "submitting is not a review decision".into(),
            ));
        }
        if kind == EventKind::Returned && note.is_none() && comments.is_empty() {
            return Err(DocError::Value {
                path: "review".into(),
                reason: "say what to fix: a returned record needs a note or a comment".into(),
            });
        }
        let status = self.attempt(|d| {
            d.put_comments(template, comments, by)?;
            d.push_event(kind, note, by)
        })?;
        self.commit(by, kind.as_str(), &[]);
        Ok(status)
    }

    fn put_comments(
        &mut self,
        template: &Template,
        comments: &[NewComment],
        by: &Editor,
    ) -> Result<Vec<String>, DocError> {
        let review = match self.doc.get(ROOT, layout::REVIEW)? {
            Some((AmValue::Object(ObjType::Map), id)) => id,
            _ => return Err(DocError::NotARecord("no review map".into())),
        };
        let round = i64::from(self.submissions());
        let device = self.actor();
        let mut ids = Vec::with_capacity(comments.len());
        for c in comments {
            let text = c.text.trim();
            if text.is_empty() {
                return Err(DocError::Value {
                    path: "review".into(),
                    reason: "a comment needs text".into(),
                });
            }
            if text.chars().count() > MAX_COMMENT_CHARS {
                return Err(DocError::Value {
                    path: "review".into(),
                    reason: format!("a comment holds at most {MAX_COMMENT_CHARS} characters"),
                });
            }
            let path = match c.path.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
                Some(p) => {
                    let fp = FieldPath::parse(p).map_err(|e| DocError::Path {
                        path: p.to_string(),
                        reason: e.to_string(),
                    })?;
                    template.field(&fp).map_err(|e| DocError::Path {
                        path: p.to_string(),
                        reason: e.to_string(),
                    })?;
                    Some(fp.to_string())
                }
                None => None,
            };
            let id = uuid::Uuid::now_v7().to_string();
            let m = self.doc.put_object(&review, id.as_str(), ObjType::Map)?;
            self.doc.put(&m, comment::TYPE, comment::COMMENT)?;
            self.doc.put(&m, comment::TEXT, text)?;
            if let Some(p) = &path {
                self.doc.put(&m, comment::PATH, p.as_str())?;
            }
            self.doc.put(&m, comment::BY, by.author.as_str())?;
            self.doc.put(&m, comment::DEVICE, device.as_str())?;
            self.doc.put(&m, comment::AT, by.time_ms)?;
            self.doc.put(&m, comment::ROUND, round)?;
            ids.push(id);
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RecordMeta;
    use automerge::ActorId;
    use jingtu_model::TemplateSet;

    fn template() -> std::sync::Arc<Template> {
        TemplateSet::builtin()
            .unwrap()
            .latest("village_inspection")
            .unwrap()
    }

    fn editor(who: &str, t: i64) -> Editor {
        Editor {
            author: who.into(),
            time_ms: t,
        }
    }

    fn record(t: &Template) -> RecordDoc {
        let meta = RecordMeta {
            id: "0190f000-0000-7000-8000-000000000001".into(),
            kind: t.kind.clone(),
            template_version: t.version,
            org_unit: None,
            village: None,
            planned_point: None,
            assignment: None,
            author: "li".into(),
            device: "aa".into(),
            created_at_ms: 1,
        };
        RecordDoc::create(ActorId::random(), t, &meta, &editor("li", 1)).unwrap()
    }

    fn note(text: &str, path: Option<&str>) -> NewComment {
        NewComment {
            text: text.into(),
            path: path.map(str::to_string),
        }
    }

    #[test]
    fn a_returned_record_shows_the_comments_of_its_latest_submission_only() {
        let t = template();
        let mut doc = record(&t);
        doc.add_event(EventKind::Submitted, None, &editor("li", 2))
            .unwrap();
        let item = t
            .root
            .child("checklist")
            .and_then(|c| {
                c.property_names
                    .as_ref()
                    .and_then(|n| n.first().cloned())
                    .or_else(|| c.properties.first().map(|(k, _)| k.clone()))
            })
            .expect("the inspection has checklist items");
        let path = format!("checklist.{item}");
        let s = doc
            .review(
                &t,
                EventKind::Returned,
                Some("补拍照片"),
                &[note("污水设施照片看不清", Some(&path))],
                &editor("wang", 3),
            )
            .unwrap();
        assert_eq!(s, Status::Returned);
        let fix = doc.to_fix();
        assert_eq!(fix.len(), 1);
        assert_eq!(fix[0].path.as_deref(), Some(path.as_str()));
        assert_eq!(fix[0].round, 1);
        assert_eq!(fix[0].by, "wang");

        // Resubmitted: nothing to fix until the next return; the comment stays in the history.
        doc.add_event(EventKind::Submitted, None, &editor("li", 4))
            .unwrap();
        assert!(doc.to_fix().is_empty());
        doc.review(
            &t,
            EventKind::Returned,
            None,
            &[note("村名写错", None)],
            &editor("wang", 5),
        )
        .unwrap();
        let fix = doc.to_fix();
        assert_eq!(fix.len(), 1);
        assert_eq!(fix[0].text, "村名写错");
        assert_eq!(doc.comments().len(), 2);
    }

    #[test]
    fn comments_from_two_devices_at_once_both_survive() {
        let t = template();
        let mut a = record(&t);
        a.add_event(EventKind::Submitted, None, &editor("li", 2))
            .unwrap();
        let mut b = RecordDoc::load(&a.save(), ActorId::random()).unwrap();
        a.comment(&t, &[note("一", None)], &editor("wang", 3))
            .unwrap();
        b.comment(&t, &[note("二", None)], &editor("zhao", 3))
            .unwrap();
        a.merge_bytes(&b.save()).unwrap();
        let texts: Vec<String> = a.comments().into_iter().map(|c| c.text).collect();
        assert_eq!(texts.len(), 2);
        assert!(texts.contains(&"一".to_string()) && texts.contains(&"二".to_string()));
    }

    #[test]
    fn bad_comments_are_refused_and_leave_nothing_behind() {
        let t = template();
        let mut doc = record(&t);
        doc.add_event(EventKind::Submitted, None, &editor("li", 2))
            .unwrap();
        let heads = doc.heads();
        for bad in [
            note("  ", None),
            note("x", Some("no_such_field")),
            note(&"长".repeat(MAX_COMMENT_CHARS + 1), None),
        ] {
            assert!(doc.comment(&t, &[bad], &editor("wang", 3)).is_err());
        }
        // A return must say what to fix.
        assert!(
            doc.review(&t, EventKind::Returned, None, &[], &editor("wang", 3))
                .is_err()
        );
        // Approving a draft is no decision at all.
        let mut draft = record(&t);
        assert!(
            draft
                .review(&t, EventKind::Approved, None, &[], &editor("wang", 3))
                .is_err()
        );
        assert_eq!(doc.heads(), heads);
        assert!(doc.comments().is_empty());
    }
}
