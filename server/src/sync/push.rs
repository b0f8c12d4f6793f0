//! The push half of a sync: each push is checked (its id, its size, what it expands to), its
//! record loaded and the changes applied (on several threads), then, in order, checked for
//! scope and by the write rules of `jingtu-policy`, and stored by a conditional commit: only if
//! the record is still at the version the changes were checked against. No lock is held, so
//! pushes of one record from two requests (or two server instances) are each stored once, and
//! a push whose record moved on is done again against the newer record.

use std::time::Instant;

use jingtu_doc::{ActorId, DocError, apply_untrusted};
use jingtu_protocol::{Push, PushOutcome, PushResult, refusal};
use rayon::prelude::*;

use super::SyncError;
use crate::Context;
use crate::actor::{Actor, Reach};
use crate::storage::scope::RecordPlace;
use crate::storage::{AuditAction, AuditEntry, AuditOutcome, Commit, NewChunk};

/// A record's chunks are folded into a snapshot when a load would read more than this many.
const SNAPSHOT_AFTER_CHUNKS: u64 = 32;

fn refused(record: &str, code: &str, message: String) -> PushResult {
    metrics::counter!("jingtu_sync_pushes_total", "outcome" => "refused").increment(1);
    PushResult {
        record: record.to_string(),
        outcome: PushOutcome::Refused,
        new_changes: 0,
        seq: None,
        code: Some(code.to_string()),
        message: Some(message),
        rule: None,
        path: None,
    }
}

/// Pushes loaded and applied together (on several threads), then checked in order.
const APPLY_WINDOW: usize = 64;
/// A window of fewer pushes is loaded and applied on the request's own thread.
const PARALLEL_FROM: usize = 16;
/// How often a push whose record moved on while it was checked (another push of the same
/// record was stored meanwhile) is loaded, applied and checked again before the device is
/// told to send it again later.
const MAX_ATTEMPTS: usize = 8;

/// Applies, checks and stores the pushes of a request; one result per push, in order.
///
/// No lock is held: each accepted push is stored only if its record is still at the version
/// it was checked against (the storage contract), and pushes whose record moved on are done
/// again against the newer record. Nothing is stored once `deadline` has passed.
pub(super) fn push_all(
    ctx: &Context,
    reach: &Reach,
    device: &str,
    pushes: &[Push],
    templates: &jingtu_model::TemplateSet,
    deadline: Instant,
) -> Result<Vec<PushResult>, SyncError> {
    let actor = &reach.actor;
    let mut results: Vec<Option<PushResult>> = pushes.iter().map(|_| None).collect();
    let mut pending: Vec<usize> = (0..pushes.len()).collect();
    for _ in 0..MAX_ATTEMPTS {
        if pending.is_empty() {
            break;
        }
        let mut chunks: Vec<NewChunk> = Vec::new();
        let mut accepted: Vec<(usize, Accepted)> = Vec::new();
        for window in pending.chunks(APPLY_WINDOW) {
            check_deadline(deadline)?;
            // Loading and applying are the costly part: done for a window of pushes on
            // several threads, then every check and decision in order.
            let batch: Vec<&jingtu_protocol::Push> = window.iter().map(|&i| &pushes[i]).collect();
            let loaded = load_and_apply(ctx, reach, &batch);
            for (&i, pre) in window.iter().zip(loaded) {
                match decide(ctx, actor, reach, templates, &pushes[i], pre?)? {
                    Decision::Done(r) => results[i] = Some(r),
                    Decision::Store(chunk, a) => {
                        chunks.push(chunk);
                        accepted.push((i, *a));
                    }
                }
            }
        }
        check_deadline(deadline)?;
        // Durable before anything is confirmed.
        let commits = ctx.records.commit_chunks(device, &chunks)?;
        pending.clear();
        for ((i, mut a), (chunk, commit)) in accepted.into_iter().zip(chunks.iter().zip(commits)) {
            let Commit::Stored(seq) = commit else {
                pending.push(i);
                continue;
            };
            metrics::counter!("jingtu_sync_pushes_total", "outcome" => "accepted").increment(1);
            a.result.seq = Some(seq);
            results[i] = Some(a.result);
            audit_reviews(ctx, actor, &chunk.record, a.reviews);
            if let Some(mut doc) = a.doc
                && ctx.records.chunk_count(&chunk.record)? > SNAPSHOT_AFTER_CHUNKS
            {
                ctx.records.save_snapshot(&chunk.record, seq, &doc.save())?;
            }
        }
    }
    for i in pending {
        results[i] = Some(refused(
            &pushes[i].record,
            refusal::BUSY,
            "other pushes of this record were stored while it was checked: it is sent again \
             at the next sync"
                .into(),
        ));
    }
    results
        .into_iter()
        .map(|r| r.ok_or_else(|| SyncError::Internal("a push was left without a result".into())))
        .collect()
}

fn check_deadline(deadline: Instant) -> Result<(), SyncError> {
    if Instant::now() > deadline {
        return Err(SyncError::Timeout);
    }
    Ok(())
}

/// What to do with one push, decided against its record as loaded.
enum Decision {
    /// Refused, or accepted with nothing new to store: final.
    Done(PushResult),
    /// Accepted: stored if the record is still at the version it was checked against.
    Store(NewChunk, Box<Accepted>),
}

/// An accepted push waiting for its commit.
struct Accepted {
    result: PushResult,
    /// The record after the push, when it existed before (a snapshot may be due).
    doc: Option<jingtu_doc::RecordDoc>,
    /// The review events (approve, return, reopen) it brings, with the status after them:
    /// audited once stored.
    reviews: Vec<(jingtu_doc::StatusEvent, &'static str)>,
}

fn accepted(record: &str, new_changes: u32) -> PushResult {
    PushResult {
        record: record.to_string(),
        outcome: PushOutcome::Accepted,
        new_changes,
        seq: None,
        code: None,
        message: None,
        rule: None,
        path: None,
    }
}

/// Decides one loaded push: the checks of scope and policy, in order.
fn decide(
    ctx: &Context,
    actor: &Actor,
    reach: &Reach,
    templates: &jingtu_model::TemplateSet,
    push: &jingtu_protocol::Push,
    loaded: Loaded,
) -> Result<Decision, SyncError> {
    let (base, applied, holder_only) = match loaded {
        Loaded::BadId => {
            return Ok(Decision::Done(refused(
                &push.record,
                refusal::BAD_RECORD_ID,
                "a record id is a lowercase hyphenated UUID".into(),
            )));
        }
        Loaded::TooLarge => {
            return Ok(Decision::Done(refused(
                &push.record,
                refusal::TOO_LARGE,
                format!(
                    "{} bytes of changes, over the {}-byte limit",
                    push.changes.len(),
                    ctx.limits.max_push_bytes
                ),
            )));
        }
        Loaded::OutOfScope(place) => {
            return Ok(Decision::Done(out_of_scope(
                ctx,
                actor,
                &push.record,
                &place,
            )));
        }
        Loaded::Applied(base, applied, holder_only) => (base, *applied, holder_only),
    };
    let mut applied = match applied {
        Ok(a) => a,
        Err(e) => {
            let code = match &e {
                DocError::MissingDeps(_) => refusal::MISSING_DEPS,
                DocError::TooLarge { .. } | DocError::Expands(_) => refusal::TOO_LARGE,
                DocError::Corrupt(_) | DocError::Automerge(_) => refusal::CORRUPT,
                _ => refusal::NOT_A_RECORD,
            };
            return Ok(Decision::Done(refused(&push.record, code, e.to_string())));
        }
    };
    let meta = applied
        .doc
        .meta()
        .map_err(|e| SyncError::Internal(e.to_string()))?;
    if applied.before.is_none() {
        let place = RecordPlace {
            owner: Some(actor.user.clone()),
            org_unit: meta.org_unit.clone(),
            assignment: meta.assignment.clone(),
            holders: Vec::new(),
        };
        if !reach.may_create(&*ctx.scope, &place, &meta.kind)? {
            return Ok(Decision::Done(out_of_scope(
                ctx,
                actor,
                &push.record,
                &place,
            )));
        }
    }
    if applied.new_changes > 0 {
        let before = applied.before.as_mut().map(|d| d.automerge());
        let after = applied.doc.automerge();
        // The new changes, as applying found them (building them again costs as much as
        // applying).
        let violations = jingtu_policy::check_changes(before, after, &applied.changes, actor.role);
        if let Some(v) = violations.first() {
            return Ok(Decision::Done(forbidden(
                ctx,
                actor,
                &push.record,
                v,
                &violations,
            )));
        }
        if meta.kind == crate::lab::SAMPLE_KIND
            && let Some((path, message)) =
                custody_unsigned(&*ctx.auth, applied.before.as_ref(), &applied.doc, actor)?
        {
            audit_refusal(
                ctx,
                actor,
                &push.record,
                serde_json::json!({
                    "code": refusal::FORBIDDEN, "rule": CUSTODY_SIGNATURE, "path": path,
                }),
            );
            let mut r = refused(&push.record, refusal::FORBIDDEN, message);
            r.rule = Some(CUSTODY_SIGNATURE.into());
            r.path = Some(path);
            return Ok(Decision::Done(r));
        }
        // A receiver holds the sample to log its custody, nothing more.
        if holder_only {
            let without_custody = |mut v: serde_json::Value| {
                if let Some(o) = v.as_object_mut() {
                    o.remove("custody");
                }
                v
            };
            let before = applied
                .before
                .as_ref()
                .map(|b| without_custody(b.to_json()));
            if before != Some(without_custody(applied.doc.to_json())) {
                audit_refusal(
                    ctx,
                    actor,
                    &push.record,
                    serde_json::json!({"code": refusal::FORBIDDEN, "rule": CUSTODY_HOLDER}),
                );
                let mut r = refused(
                    &push.record,
                    refusal::FORBIDDEN,
                    format!(
                        "{} received this sample: a receiver adds custody events and changes \
                         nothing else of it",
                        actor.user
                    ),
                );
                r.rule = Some(CUSTODY_HOLDER.into());
                r.path = Some("data".into());
                return Ok(Decision::Done(r));
            }
        }
    }
    let result = accepted(&push.record, applied.new_changes as u32);
    if applied.new_bytes.is_empty() {
        metrics::counter!("jingtu_sync_pushes_total", "outcome" => "accepted").increment(1);
        return Ok(Decision::Done(result));
    }
    let reviews = review_events(&applied);
    let chunk = NewChunk {
        record: push.record.clone(),
        bytes: std::mem::take(&mut applied.new_bytes),
        kind: meta.kind,
        org_unit: meta.org_unit,
        assignment: meta.assignment,
        owner: actor.user.clone(),
        photos: applied
            .doc
            .photos()
            .into_iter()
            .map(|p| p.sha256.to_string())
            .collect(),
        base,
        index: Some(crate::review::index_of(&applied.doc, templates)),
    };
    // A new record is one chunk: only records that existed may need a snapshot (keeping the
    // documents of new ones until the commit cost memory and time: a tenth of a first sync's
    // apply).
    let doc = applied.before.is_some().then_some(applied.doc);
    Ok(Decision::Store(
        chunk,
        Box::new(Accepted {
            result,
            doc,
            reviews,
        }),
    ))
}

/// The rule a receiver of a sample breaks by changing anything of it but its custody.
pub const CUSTODY_HOLDER: &str = "custody_holder";

/// The rule a custody event that is not signed as its device enrolled breaks.
pub const CUSTODY_SIGNATURE: &str = "custody_signature";

/// The first custody event the push adds that is not signed as it must be: its hash must
/// match its content and its signature its key, and an event must carry a key its device
/// registered at enrollment: the pushing device's own, or, for an event of another device (a
/// record carried by file), one that device enrolled with. An event of a device that never
/// enrolled here is checked for its own signature only.
fn custody_unsigned(
    auth: &dyn crate::storage::AuthStore,
    before: Option<&jingtu_doc::RecordDoc>,
    after: &jingtu_doc::RecordDoc,
    actor: &Actor,
) -> Result<Option<(String, String)>, crate::storage::StorageError> {
    // Existing events cannot change (custody_append_only): a push that adds none has
    // nothing to verify, and most pushes of a sample add none.
    if before.map_or(0, |b| b.custody_len()) == after.custody_len() {
        return Ok(None);
    }
    let old_chain = before.map(|b| b.custody());
    let old: std::collections::HashSet<String> = old_chain
        .as_ref()
        .map(|c| c.events.iter().map(|e| e.id.clone()).collect())
        .unwrap_or_default();
    let chain = after.custody();
    // A chain that verified before the push verifies after it: no new event may be
    // unreadable, altered, wrongly linked or forged.
    if old_chain.as_ref().is_none_or(|c| c.intact)
        && !chain.intact
        && let Some(f) = chain
            .findings
            .iter()
            .find(|f| f.severity == jingtu_model::Severity::Error)
    {
        return Ok(Some((format!("custody/{}", f.event), f.message.en.clone())));
    }
    let mut others: std::collections::HashMap<&str, Vec<String>> = Default::default();
    for e in chain.events.iter().filter(|e| !old.contains(&e.id)) {
        let path = format!("custody/{}", e.id);
        if !e.signed {
            return Ok(Some((
                path,
                "a custody event must be signed by the device that writes it".into(),
            )));
        }
        if actor.device_id.as_deref() == Some(e.device.as_str()) {
            if let Some(registered) = &actor.signing_key
                && e.key.as_deref() != Some(registered.as_str())
            {
                return Ok(Some((
                    path,
                    "the custody event is signed with a key this device did not enroll with".into(),
                )));
            }
            continue;
        }
        let keys = match others.entry(e.device.as_str()) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(auth.device_signing_keys(&e.device)?)
            }
        };
        if !keys.is_empty() && !e.key.as_ref().is_some_and(|k| keys.contains(k)) {
            return Ok(Some((
                path,
                format!(
                    "the custody event names device {} but is signed with a key that device did \
                     not enroll with",
                    e.device
                ),
            )));
        }
    }
    Ok(None)
}

/// The status events a push adds other than submissions (approve, return, reopen), with the
/// status after them. Linear in the number of events.
fn review_events(applied: &jingtu_doc::Applied) -> Vec<(jingtu_doc::StatusEvent, &'static str)> {
    // Events are only ever added: the same count means none is new (most pushes).
    if applied.new_changes == 0
        || applied
            .before
            .as_ref()
            .is_some_and(|b| b.event_count() == applied.doc.event_count())
    {
        return Vec::new();
    }
    let mut old: std::collections::HashMap<jingtu_doc::StatusEvent, usize> =
        std::collections::HashMap::new();
    for e in applied
        .before
        .as_ref()
        .map(|d| d.events())
        .unwrap_or_default()
    {
        *old.entry(e).or_default() += 1;
    }
    let events = applied.doc.events();
    let status = events
        .iter()
        .fold(jingtu_doc::Status::Draft, |s, e| s.after(e.kind))
        .as_str();
    let mut out = Vec::new();
    for e in events {
        match old.get_mut(&e) {
            Some(n) if *n > 0 => *n -= 1,
            _ if e.kind != jingtu_doc::EventKind::Submitted => out.push((e, status)),
            _ => {}
        }
    }
    out
}

fn audit_reviews(
    ctx: &Context,
    actor: &Actor,
    record: &str,
    reviews: Vec<(jingtu_doc::StatusEvent, &'static str)>,
) {
    for (event, status) in reviews {
        let mut entry = AuditEntry::new(&actor.user, AuditAction::ReviewAction, AuditOutcome::Ok)
            .target(record)
            .detail(serde_json::json!({
                "event": event.kind.as_str(),
                "note": event.note,
                "author": event.author,
                "at_ms": event.at_ms,
                "status": status,
            }));
        entry.device = actor.device;
        entry.device_id = actor.device_id.clone();
        if let Err(e) = ctx.auth.audit(&entry) {
            tracing::warn!("audit of a review action failed: {e}");
        }
    }
}

/// A push checked, loaded and applied ahead of the decisions made in order.
enum Loaded {
    BadId,
    TooLarge,
    /// The record exists and lies outside what the actor may write (not applied).
    OutOfScope(RecordPlace),
    /// Applied to the record at this version (`None`: the server did not hold it); `true`
    /// when the actor writes it only as a receiver of the sample (custody events only).
    Applied(
        Option<u64>,
        Box<Result<jingtu_doc::Applied, DocError>>,
        bool,
    ),
}

/// What checking, loading and applying one push gave.
type Preloaded = Result<Loaded, SyncError>;

/// Checks, loads and applies each push of `window` (in parallel when there are many); the
/// results in order. Nothing is written here.
fn load_and_apply(
    ctx: &Context,
    reach: &Reach,
    window: &[&jingtu_protocol::Push],
) -> Vec<Preloaded> {
    let limits = jingtu_doc::ExpansionLimits {
        max_inflated_bytes: ctx.limits.max_push_inflated_bytes,
        max_ops: ctx.limits.max_push_ops,
    };
    let one = |push: &jingtu_protocol::Push| -> Preloaded {
        if !jingtu_protocol::is_record_id(&push.record) {
            return Ok(Loaded::BadId);
        }
        if push.changes.len() > ctx.limits.max_push_bytes {
            return Ok(Loaded::TooLarge);
        }
        let existing = ctx.records.load_record(&push.record)?;
        let mut holder_only = false;
        if existing.is_some()
            && let Some(place) = ctx.scope.record_place(&push.record)?
        {
            if !reach.may_write(&place) {
                return Ok(Loaded::OutOfScope(place));
            }
            holder_only = reach.holds_only(&place);
        }
        Ok(Loaded::Applied(
            existing.as_ref().map(|r| r.version),
            Box::new(apply_untrusted(
                existing.as_ref().map(|r| r.bytes.as_slice()),
                &push.changes,
                &push.record,
                ActorId::random(),
                &limits,
            )),
            holder_only,
        ))
    };
    // A few pushes are not worth the threads; more go on rayon's pool (one thread per core,
    // shared by all requests), in order.
    if window.len() < PARALLEL_FROM {
        return window.iter().map(|p| one(p)).collect();
    }
    window.par_iter().map(|p| one(p)).collect()
}

fn audit_refusal(ctx: &Context, actor: &Actor, record: &str, detail: serde_json::Value) {
    let mut entry = AuditEntry::new(&actor.user, AuditAction::PushRefused, AuditOutcome::Refused)
        .target(record)
        .detail(detail);
    entry.device = actor.device;
    entry.device_id = actor.device_id.clone();
    if let Err(e) = ctx.auth.audit(&entry) {
        tracing::warn!("audit of a refused push failed: {e}");
    }
}

fn out_of_scope(ctx: &Context, actor: &Actor, record: &str, place: &RecordPlace) -> PushResult {
    audit_refusal(
        ctx,
        actor,
        record,
        serde_json::json!({
            "code": refusal::OUT_OF_SCOPE,
            "org_unit": place.org_unit,
            "assignment": place.assignment,
        }),
    );
    refused(
        record,
        refusal::OUT_OF_SCOPE,
        format!(
            "{} ({}) may not write this record: it lies outside their org units and assignments",
            actor.user,
            actor.role.as_str()
        ),
    )
}

fn forbidden(
    ctx: &Context,
    actor: &Actor,
    record: &str,
    first: &jingtu_policy::Violation,
    all: &[jingtu_policy::Violation],
) -> PushResult {
    audit_refusal(
        ctx,
        actor,
        record,
        serde_json::json!({
            "code": refusal::FORBIDDEN,
            "rule": first.rule.as_str(),
            "path": first.path,
            "violations": all.len(),
        }),
    );
    let mut r = refused(record, refusal::FORBIDDEN, first.message.clone());
    r.rule = Some(first.rule.as_str().to_string());
    r.path = Some(first.path.clone());
    r
}
