//! The supervisors' review on the server: the queue (what waits, filtered and counted, within
//! the supervisor's reach), a record's detail, and the decisions, comments and conflict
//! resolutions made from the web console or over the API.
//!
//! A write here is an ordinary Automerge change made with a fresh actor id of its own (one per
//! write: two requests, or two server instances, never share one), handed to the sync service
//! like a device's push, so the write rules of `jingtu-policy`, the scope checks, the
//! conditional commit and the audit are the same; it reaches every device at its next sync.

pub mod detail;

use std::time::{Duration, Instant};

use jingtu_doc::{ActorId, EventKind, NewComment, RecordDoc, Status};
use jingtu_model::{FieldPath, TemplateSet};
use jingtu_protocol::PushOutcome;
use serde_json::Value;
use thiserror::Error;

use crate::Context;
use crate::actor::Actor;
use crate::storage::{QueueFilter, QueuePage, RecordIndex, StorageError};
use crate::sync::SyncError;

pub use detail::RecordDetail;

#[derive(Debug, Error)]
pub enum ReviewError {
    /// Only supervisors and admins review.
    #[error("only a supervisor or admin reviews records; {0} may not")]
    NotAReviewer(String),
    #[error("record {0} not found")]
    NotFound(String),
    /// The record lies outside the actor's reach.
    #[error("this record lies outside your org units")]
    OutOfScope,
    /// The request does not make sense for the record as it is (approve a draft...).
    #[error("{0}")]
    InvalidState(String),
    /// A path, comment or value that is not acceptable.
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// The write was refused by the write rules or the scope (code and message of the sync).
    #[error("{message}")]
    Refused { code: String, message: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{0}")]
    Internal(String),
}

impl From<SyncError> for ReviewError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Storage(s) => ReviewError::Storage(s),
            SyncError::Timeout => ReviewError::Refused {
                code: "timeout".into(),
                message: e.to_string(),
            },
            other => ReviewError::Internal(other.to_string()),
        }
    }
}

impl From<jingtu_doc::DocError> for ReviewError {
    fn from(e: jingtu_doc::DocError) -> Self {
        use jingtu_doc::DocError;
        match e {
            DocError::Path { path, reason } | DocError::Value { path, reason } => {
                ReviewError::Invalid {
                    field: path,
                    reason,
                }
            }
            DocError::Status(s) => ReviewError::InvalidState(s),
            other => ReviewError::Internal(other.to_string()),
        }
    }
}

/// What the review queue shows of a record, from its document.
pub fn index_of(doc: &RecordDoc, templates: &TemplateSet) -> RecordIndex {
    let meta = doc.meta().ok();
    let id = meta.as_ref().map(|m| m.id.clone()).unwrap_or_default();
    let template = meta
        .as_ref()
        .and_then(|m| templates.get(&m.kind, m.template_version).ok());
    let name = template
        .as_ref()
        .and_then(|t| t.name_field.as_ref())
        .and_then(|p| doc.get_json(p))
        .and_then(|v| v.as_str().map(str::to_string))
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| match &template {
            Some(t) => t.record_name(&Value::Null, &id),
            None => id.clone(),
        });
    let events = doc.events();
    let status = events.iter().fold(Status::Draft, |s, e| s.after(e.kind));
    let (lab_samples, custody_to) = if template
        .as_ref()
        .is_some_and(|t| t.kind == crate::lab::SAMPLE_KIND)
        && doc.custody_len() > 0
    {
        let chain = doc.custody();
        // The receivers a sample was handed over to by name (交接 to_person): they hold it.
        let mut to: Vec<String> = Vec::new();
        for e in &chain.events {
            if let jingtu_model::CustodyStep::HandedOver(h) = &e.step {
                let name = h.to_person.trim();
                if !name.is_empty() && !to.iter().any(|t| t == name) {
                    to.push(name.to_string());
                }
            }
        }
        (crate::lab::hand_ins(doc, &chain), to)
    } else {
        (Vec::new(), Vec::new())
    };
    RecordIndex {
        status,
        name,
        village: meta.as_ref().and_then(|m| m.village.clone()),
        author: meta.map(|m| m.author).unwrap_or_default(),
        submitted_at_ms: events
            .iter()
            .rev()
            .find(|e| e.kind == EventKind::Submitted)
            .map(|e| e.at_ms),
        lab_samples,
        custody_to,
    }
}

fn reviewer(actor: &Actor) -> Result<(), ReviewError> {
    if !actor.role.reviews() {
        return Err(ReviewError::NotAReviewer(format!(
            "{} ({})",
            actor.user, actor.role
        )));
    }
    Ok(())
}

/// A page of the queue within the actor's reach.
pub fn queue(ctx: &Context, actor: &Actor, filter: &QueueFilter) -> Result<QueuePage, ReviewError> {
    reviewer(actor)?;
    if let Some(o) = &filter.org_unit
        && crate::people::org::prefix_of(o).is_err()
    {
        return Err(ReviewError::Invalid {
            field: "org_unit".into(),
            reason: "an org unit is a 12-digit division code".into(),
        });
    }
    let reach = actor.reach(&*ctx.scope)?;
    Ok(ctx.records.queue(reach.read(), filter)?)
}

/// A record loaded for a reviewer: checked for reach, with its template.
pub(crate) struct Loaded {
    pub(crate) doc: RecordDoc,
    pub(crate) template: std::sync::Arc<jingtu_model::Template>,
}

fn load(ctx: &Context, actor: &Actor, id: &str) -> Result<Loaded, ReviewError> {
    reviewer(actor)?;
    load_within_reach(ctx, actor, id)
}

/// A record loaded for anyone whose reach holds it (the caller checks the role).
pub(crate) fn load_within_reach(
    ctx: &Context,
    actor: &Actor,
    id: &str,
) -> Result<Loaded, ReviewError> {
    if !jingtu_protocol::is_record_id(id) {
        return Err(ReviewError::NotFound(id.to_string()));
    }
    let stored = ctx
        .records
        .load_record(id)?
        .ok_or_else(|| ReviewError::NotFound(id.to_string()))?;
    let reach = actor.reach(&*ctx.scope)?;
    let place = ctx
        .scope
        .record_place(id)?
        .ok_or_else(|| ReviewError::NotFound(id.to_string()))?;
    if !reach.may_write(&place) {
        return Err(ReviewError::OutOfScope);
    }
    let doc = RecordDoc::load_stored(&stored.bytes, ActorId::random())
        .map_err(|e| ReviewError::Internal(format!("record {id} does not load: {e}")))?;
    let meta = doc.meta()?;
    let templates = ctx
        .templates
        .current(&*ctx.catalog)
        .map_err(|e| ReviewError::Internal(e.to_string()))?;
    let template = templates
        .get(&meta.kind, meta.template_version)
        .map_err(|e| ReviewError::Internal(e.to_string()))?;
    Ok(Loaded { doc, template })
}

/// A record as a supervisor reads it. A water body check also shows what the county ledger
/// finds in its body's history on this record (a refused transition, an unrecorded relapse),
/// as warnings on `lifecycle`.
pub fn detail(ctx: &Context, actor: &Actor, id: &str) -> Result<RecordDetail, ReviewError> {
    let mut l = load(ctx, actor, id)?;
    let mut d = detail::detail(&mut l.doc, &l.template)?;
    if l.template.kind == crate::ledger::WATER_BODY_KIND {
        let problems = crate::ledger::water_bodies(ctx, actor)?
            .into_iter()
            .flat_map(|b| b.problems)
            .filter(|p| p.record_id == id);
        for p in problems {
            d.issues.push(detail::IssueRow {
                path: "lifecycle".into(),
                severity: "warning".into(),
                message: detail::Labels::from(&p.message),
            });
        }
    }
    Ok(d)
}

/// What a review write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub status: Status,
    /// The feed sequence the change was stored at (none when it changed nothing).
    pub seq: Option<u64>,
}

/// Makes one change on a record as a reviewer and stores it like a device's push.
fn write(
    ctx: &Context,
    actor: &Actor,
    id: &str,
    change: impl FnOnce(&mut Loaded, &jingtu_doc::Editor) -> Result<(), ReviewError>,
) -> Result<Written, ReviewError> {
    reviewer(actor)?;
    write_within_reach(ctx, actor, id, change)
}

/// Makes one change on a record as `actor` (whose role the caller checked) and stores it like
/// a device's push: the write rules judge it by the actor's role.
pub(crate) fn write_within_reach(
    ctx: &Context,
    actor: &Actor,
    id: &str,
    change: impl FnOnce(&mut Loaded, &jingtu_doc::Editor) -> Result<(), ReviewError>,
) -> Result<Written, ReviewError> {
    let mut l = load_within_reach(ctx, actor, id)?;
    let heads = l.doc.heads();
    let by = jingtu_doc::Editor {
        author: actor.user.clone(),
        time_ms: crate::people::now_ms(),
    };
    change(&mut l, &by)?;
    let changes = l.doc.save_after(&heads);
    let device = l.doc.actor();
    let deadline = Instant::now() + Duration::from_secs(ctx.limits.request_timeout_s);
    let result = crate::sync::store_changes(ctx, actor, &device, id, changes, deadline)?;
    if result.outcome != PushOutcome::Accepted {
        return Err(ReviewError::Refused {
            code: result.code.unwrap_or_else(|| "refused".into()),
            message: result.message.unwrap_or_default(),
        });
    }
    Ok(Written {
        status: l.doc.status(),
        seq: result.seq,
    })
}

fn check_comments(comments: &[NewComment]) -> Result<(), ReviewError> {
    if comments.len() > 100 {
        return Err(ReviewError::Invalid {
            field: "comments".into(),
            reason: "at most 100 comments at once".into(),
        });
    }
    Ok(())
}

/// Approves, returns or reopens a record, with an optional note and comments pointed at
/// fields or checklist items (one change).
pub fn decide(
    ctx: &Context,
    actor: &Actor,
    id: &str,
    decision: EventKind,
    note: Option<&str>,
    comments: &[NewComment],
) -> Result<Written, ReviewError> {
    check_comments(comments)?;
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    write(ctx, actor, id, |l, by| {
        if decision == EventKind::Approved
            && let Some(c) = l.doc.conflicts().first()
        {
            return Err(ReviewError::InvalidState(format!(
                "resolve the conflict at '{}' before approving",
                c.path
            )));
        }
        l.doc.review(&l.template, decision, note, comments, by)?;
        Ok(())
    })
}

/// Adds comments without deciding.
pub fn comment(
    ctx: &Context,
    actor: &Actor,
    id: &str,
    comments: &[NewComment],
) -> Result<Written, ReviewError> {
    check_comments(comments)?;
    write(ctx, actor, id, |l, by| {
        if l.doc.status() == Status::Draft {
            return Err(ReviewError::InvalidState(
                "a draft is not reviewed: comments wait until it is submitted".into(),
            ));
        }
        l.doc.comment(&l.template, comments, by)?;
        Ok(())
    })
}

/// Resolves the conflict at `path` with `value` (one of the values shown, or a new one).
pub fn resolve(
    ctx: &Context,
    actor: &Actor,
    id: &str,
    path: &str,
    value: &Value,
) -> Result<Written, ReviewError> {
    let fp = FieldPath::parse(path).map_err(|e| ReviewError::Invalid {
        field: path.to_string(),
        reason: e.to_string(),
    })?;
    write(ctx, actor, id, |l, by| {
        if l.doc.status() == Status::Approved {
            return Err(ReviewError::InvalidState(
                "the record is approved and locked: reopen it first".into(),
            ));
        }
        if !l.doc.conflicts().iter().any(|c| c.path == fp.to_string()) {
            return Err(ReviewError::InvalidState(format!("no conflict at '{fp}'")));
        }
        if !value.is_null() {
            l.template
                .check_value(&fp, value)
                .map_err(|e| ReviewError::Invalid {
                    field: fp.to_string(),
                    reason: e.to_string(),
                })?;
        }
        l.doc.resolve(&l.template, &fp, value, by)?;
        Ok(())
    })
}

/// The value a person typed for the field at `path` of a record, converted to the field's
/// type (a number, a code, true/false; objects and lists as JSON).
pub fn parse_typed(
    ctx: &Context,
    actor: &Actor,
    id: &str,
    path: &str,
    text: &str,
) -> Result<Value, ReviewError> {
    let l = load(ctx, actor, id)?;
    let invalid = |reason: String| ReviewError::Invalid {
        field: path.to_string(),
        reason,
    };
    let fp = FieldPath::parse(path).map_err(|e| invalid(e.to_string()))?;
    l.template
        .parse_value(&fp, text)
        .map_err(|e| invalid(e.to_string()))
}

/// Indexes the records stored before the queue's index existed; `progress(done)` after each
/// batch. Returns how many were indexed.
pub fn reindex(ctx: &Context, progress: &mut dyn FnMut(u64)) -> Result<u64, ReviewError> {
    let templates = ctx
        .templates
        .current(&*ctx.catalog)
        .map_err(|e| ReviewError::Internal(e.to_string()))?;
    let mut done = 0u64;
    let mut skipped: std::collections::HashSet<String> = std::collections::HashSet::new();
    loop {
        let ids: Vec<String> = ctx
            .records
            .unindexed(200 + skipped.len() as u32)?
            .into_iter()
            .filter(|id| !skipped.contains(id))
            .collect();
        if ids.is_empty() {
            return Ok(done);
        }
        for id in ids {
            let doc = ctx
                .records
                .load_record(&id)?
                .and_then(|r| RecordDoc::load_stored(&r.bytes, ActorId::random()).ok());
            match doc {
                Some(doc) => {
                    ctx.records.set_index(&id, &index_of(&doc, &templates))?;
                    done += 1;
                }
                None => {
                    tracing::warn!("record {id} does not load: it stays out of the queue");
                    skipped.insert(id);
                }
            }
        }
        progress(done);
    }
}
