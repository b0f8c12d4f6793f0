use std::time::{Duration, Instant};

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jingtu_doc::{ActorId, DocError, apply_untrusted};
use jingtu_protocol::{
    CONTENT_TYPE, PROTOCOL_VERSION, PushOutcome, PushResult, SyncRequest, SyncResponse, refusal,
};

use super::{ApiError, Caller, Shared, blocking};
use crate::people::org;
use crate::storage::scope::{ReadScope, RecordPlace, ScopeKey};

use crate::storage::{AuditAction, AuditEntry, AuditOutcome, Commit, NewChunk};

/// A record's chunks are folded into a snapshot when a load would read more than this many.
const SNAPSHOT_AFTER_CHUNKS: u64 = 32;

pub(crate) fn framed(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], bytes).into_response()
}

pub(crate) fn check_version(protocol: u32) -> Result<(), ApiError> {
    if protocol != PROTOCOL_VERSION {
        return Err(ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "protocol_version",
            format!("this server speaks protocol {PROTOCOL_VERSION}, the request {protocol}"),
        ));
    }
    Ok(())
}

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

/// Push new changes and pull the feed after the cursor, in one round trip.
#[utoipa::path(
    post,
    path = "/v1/sync",
    request_body(content = SyncRequest, content_type = "application/vnd.jingtu.v1+msgpack",
        description = "a framed SyncRequest (docs/sync-protocol.md)"),
    responses(
        (status = 200, description = "a framed SyncResponse", body = SyncResponse,
            content_type = "application/vnd.jingtu.v1+msgpack"),
        (status = 400, description = "malformed body", body = jingtu_protocol::ErrorBody),
        (status = 401, description = "missing or unknown token", body = jingtu_protocol::ErrorBody),
        (status = 413, description = "body over the limit", body = jingtu_protocol::ErrorBody),
        (status = 426, description = "another protocol version", body = jingtu_protocol::ErrorBody)
    ),
    security(("device_token" = []))
)]
pub async fn sync(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Extension(permit): Extension<super::HeavyPermit>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let limit = state.limits.max_message_bytes;
    let st = state.clone();
    // The work stops where the client stops waiting: nothing is stored after the answer timed
    // out.
    let deadline = Instant::now() + Duration::from_secs(state.limits.request_timeout_s);
    let response = blocking(move || {
        // Held until the work is done, even when the answer timed out first.
        let _permit = permit;
        let req: SyncRequest = jingtu_protocol::decode(&body, limit)?;
        check_version(req.protocol)?;
        if req.device.is_empty()
            || req.device.len() > 64
            || !req.device.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(ApiError::bad_request(
                "bad_device",
                "device must be the device's actor id in hex",
            ));
        }
        if req.pushes.len() > st.limits.max_pushes {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_many_pushes",
                format!("at most {} records per request", st.limits.max_pushes),
            ));
        }
        if let Some(bound) = &caller.device_id
            && !bound.eq_ignore_ascii_case(&req.device)
        {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "device_mismatch",
                "this token belongs to another device: enroll this device with its own code",
            ));
        }
        let scope = Scope::of(&caller, &st)?;
        let results = push_all(&st, &caller, &scope, &req, deadline)?;
        let max = req
            .max_response_bytes
            .unwrap_or(st.limits.max_feed_bytes)
            .clamp(1, st.limits.max_feed_bytes);
        let scope_update = scope.update(&st, &req, max)?;
        let listing = scope.catalog(&st)?;
        let catalog = (req.catalog.as_deref() != Some(listing.digest.as_str())).then_some(listing);
        let page = st
            .records
            .feed_after(req.cursor, &req.device, &scope.read, max)?;
        metrics::counter!("jingtu_feed_chunks_sent_total").increment(page.chunks.len() as u64);
        let response = SyncResponse {
            protocol: PROTOCOL_VERSION,
            results,
            chunks: page.chunks,
            cursor: page.cursor.max(req.cursor),
            more: page.more,
            server_time_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
            scope: scope_update,
            catalog,
        };
        jingtu_protocol::encode(&response).map_err(|e| ApiError::internal(e.to_string()))
    })
    .await?;
    Ok(framed(response))
}

/// What the calling user may see and write (DESIGN.md section 4): field users their own
/// records and their assignments' records; supervisors also every record within their org
/// units; admins everything.
pub(crate) struct Scope {
    user: String,
    role: jingtu_model::Role,
    org_units: Vec<String>,
    /// Ids of the user's live assignments.
    assignments: Vec<String>,
    /// The user's live assignments (field users: where they may create records).
    own: Vec<jingtu_protocol::Assignment>,
    /// The record kinds of those assignments (their templates reach the device).
    assigned_kinds: Vec<String>,
    read: ReadScope,
}

impl Scope {
    pub(crate) fn of(caller: &Caller, st: &Shared) -> Result<Scope, ApiError> {
        let role = caller.role;
        let own = if role == jingtu_model::Role::Admin {
            Vec::new()
        } else {
            st.scope.list_assignments(Some(&caller.user), false)?
        };
        let (assignments, assigned_kinds): (Vec<String>, Vec<String>) =
            own.iter().map(|a| (a.id.clone(), a.kind.clone())).unzip();
        let read = if role == jingtu_model::Role::Admin {
            ReadScope::All
        } else {
            ReadScope::Limited {
                user: caller.user.clone(),
                assignments: assignments.clone(),
                org_prefixes: if role.reviews() {
                    caller
                        .org_units
                        .iter()
                        .filter_map(|c| org::prefix_of(c).ok().map(str::to_string))
                        .collect()
                } else {
                    Vec::new()
                },
            }
        };
        Ok(Scope {
            user: caller.user.clone(),
            role,
            org_units: caller.org_units.clone(),
            assignments,
            own,
            assigned_kinds,
            read,
        })
    }

    /// May the user see a photo: does a record they may see hold it?
    /// The catalog (templates, code tables) meant for this user.
    pub(crate) fn catalog(&self, st: &Shared) -> Result<jingtu_protocol::CatalogListing, ApiError> {
        Ok(crate::catalog::listing_for(
            &st.catalog.catalog()?,
            self.role,
            &self.assigned_kinds,
        ))
    }

    pub(crate) fn may_see_photo(&self, st: &Shared, sha256: &str) -> Result<bool, ApiError> {
        if self.role == jingtu_model::Role::Admin {
            return Ok(true);
        }
        Ok(st
            .scope
            .photo_places(sha256)?
            .iter()
            .any(|p| self.may_write(p)))
    }

    /// May the user write (and so see) a record that is in `place`?
    fn may_write(&self, place: &RecordPlace) -> bool {
        use jingtu_model::Role;
        match self.role {
            Role::Admin => true,
            _ if place.owner.as_deref() == Some(self.user.as_str()) => true,
            Role::Supervisor => place
                .org_unit
                .as_deref()
                .is_some_and(|u| org::within_any(u, &self.org_units)),
            Role::Inspector | Role::Sampler => place
                .assignment
                .as_ref()
                .is_some_and(|a| self.assignments.contains(a)),
        }
    }

    /// May the user create a record of `kind` in `place`? A record of an assignment must be of
    /// the assignment's kind and lie within its org unit, and the assignment must be the
    /// user's own (field users) or lie within their org units (supervisors). A record of no
    /// assignment must lie within the user's org units when it names one.
    fn may_create(&self, st: &Shared, place: &RecordPlace, kind: &str) -> Result<bool, ApiError> {
        use jingtu_model::Role;
        if self.role == Role::Admin {
            return Ok(true);
        }
        let Some(id) = &place.assignment else {
            return Ok(place
                .org_unit
                .as_deref()
                .is_none_or(|u| org::within_any(u, &self.org_units)));
        };
        let assignment = match self.role {
            Role::Inspector | Role::Sampler => self.own.iter().find(|a| &a.id == id).cloned(),
            Role::Supervisor | Role::Admin => st
                .scope
                .assignment(id)?
                .filter(|(a, removed)| !removed && org::within_any(&a.org_unit, &self.org_units))
                .map(|(a, _)| a),
        };
        Ok(assignment.is_some_and(|a| {
            a.kind == kind
                && place
                    .org_unit
                    .as_deref()
                    .is_none_or(|u| org::is_within(u, &a.org_unit))
        }))
    }

    /// The scope change a device at `req.scope_seq` has to take in, if any: the user's
    /// assignments, what left the scope, and a page of what entered it.
    fn update(
        &self,
        st: &Shared,
        req: &SyncRequest,
        max_bytes: u64,
    ) -> Result<Option<jingtu_protocol::ScopeUpdate>, ApiError> {
        if self.role == jingtu_model::Role::Admin {
            return Ok(None);
        }
        let orgs: &[String] = if self.role.reviews() {
            &self.org_units
        } else {
            &[]
        };
        st.scope.sync_org_keys(&self.user, orgs)?;
        let current = st.scope.scope_seq(&self.user)?;
        if req.scope_seq >= current && req.scope_target.is_none() {
            return Ok(None);
        }
        let target = req.scope_target.unwrap_or(current).min(current);
        let old = st.scope.scope_keys_at(&self.user, req.scope_seq)?;
        let new = st.scope.scope_keys_at(&self.user, target)?;
        let added: Vec<ScopeKey> = new.difference(&old).cloned().collect();
        let removed: Vec<ScopeKey> = old.difference(&new).cloned().collect();
        // The continuation token (`next`, sent back as `scope_after`) pages the records that
        // left the scope first (`evict:<last id>`), then those that entered (`<last id>`).
        let (evicting, evict_after, enter_after) = match req.scope_after.as_deref() {
            None => (true, None, None),
            Some(t) => match t.strip_prefix(EVICT_PAGE) {
                Some(id) => (true, Some(id), None),
                None => (false, None, Some(t)),
            },
        };
        let mut evict = Vec::new();
        let mut next = None;
        if evicting && !removed.is_empty() {
            let max_evict = st.limits.max_evict_per_answer.max(1);
            let ids = st
                .scope
                .records_for_keys(&removed, evict_after, max_evict)?;
            if ids.len() == max_evict {
                next = ids.last().map(|id| format!("{EVICT_PAGE}{id}"));
            }
            for id in ids {
                let Some(place) = st.scope.record_place(&id)? else {
                    continue;
                };
                let still = place.owner.as_deref() == Some(self.user.as_str())
                    || new.iter().any(|k| k.matches(&place));
                if !still {
                    evict.push(id);
                }
            }
        }
        // A device that starts from nothing gets every record through the feed.
        let mut records = Vec::new();
        if next.is_none() && req.cursor > 0 && !added.is_empty() {
            let per_page = st.limits.max_entered_per_answer.max(1);
            let ids = st.scope.records_for_keys(&added, enter_after, per_page)?;
            let full_page = ids.len() == per_page;
            let mut bytes = 0u64;
            for (n, id) in ids.iter().enumerate() {
                let Some(place) = st.scope.record_place(id)? else {
                    continue;
                };
                if place.owner.as_deref() == Some(self.user.as_str()) {
                    continue; // always in scope: the device has it
                }
                let Some(whole) = st.records.load_record(id)?.map(|r| r.bytes) else {
                    continue;
                };
                if !records.is_empty() && bytes + whole.len() as u64 > max_bytes {
                    next = Some(ids[n - 1].clone());
                    break;
                }
                bytes += whole.len() as u64;
                records.push(jingtu_protocol::WholeRecord {
                    record: id.clone(),
                    bytes: whole,
                });
            }
            if next.is_none() && full_page {
                next = ids.last().cloned();
            }
        }
        Ok(Some(jingtu_protocol::ScopeUpdate {
            seq: target,
            assignments: st.scope.list_assignments(Some(&self.user), false)?,
            evict,
            records,
            next,
        }))
    }
}

/// Pushes loaded and applied together (on several threads), then checked in order.
const APPLY_WINDOW: usize = 64;
/// At most this many threads load and apply one request's pushes.
const APPLY_THREADS: usize = 4;
/// How often a push whose record moved on while it was checked (another push of the same
/// record was stored meanwhile) is loaded, applied and checked again before the device is
/// told to send it again later.
const MAX_ATTEMPTS: usize = 8;

/// Applies, checks and stores the pushes of a request; one result per push, in order.
///
/// No lock is held: each accepted push is stored only if its record is still at the version
/// it was checked against (the storage contract), and pushes whose record moved on are done
/// again against the newer record. Nothing is stored once `deadline` has passed.
fn push_all(
    st: &Shared,
    caller: &Caller,
    scope: &Scope,
    req: &SyncRequest,
    deadline: Instant,
) -> Result<Vec<PushResult>, ApiError> {
    let mut results: Vec<Option<PushResult>> = req.pushes.iter().map(|_| None).collect();
    let mut pending: Vec<usize> = (0..req.pushes.len()).collect();
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
            let pushes: Vec<&jingtu_protocol::Push> =
                window.iter().map(|&i| &req.pushes[i]).collect();
            let loaded = load_and_apply(st, scope, &pushes);
            for (&i, pre) in window.iter().zip(loaded) {
                match decide(st, caller, scope, &req.pushes[i], pre?)? {
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
        let commits = st.records.commit_chunks(&req.device, &chunks)?;
        pending.clear();
        for ((i, mut a), (chunk, commit)) in accepted.into_iter().zip(chunks.iter().zip(commits)) {
            let Commit::Stored(seq) = commit else {
                pending.push(i);
                continue;
            };
            metrics::counter!("jingtu_sync_pushes_total", "outcome" => "accepted").increment(1);
            a.result.seq = Some(seq);
            results[i] = Some(a.result);
            audit_reviews(st, caller, &chunk.record, a.reviews);
            if let Some(mut doc) = a.doc
                && st.records.chunk_count(&chunk.record)? > SNAPSHOT_AFTER_CHUNKS
            {
                st.records.save_snapshot(&chunk.record, seq, &doc.save())?;
            }
        }
    }
    for i in pending {
        results[i] = Some(refused(
            &req.pushes[i].record,
            refusal::BUSY,
            "other pushes of this record were stored while it was checked: it is sent again \
             at the next sync"
                .into(),
        ));
    }
    results
        .into_iter()
        .map(|r| r.ok_or_else(|| ApiError::internal("a push was left without a result")))
        .collect()
}

fn check_deadline(deadline: Instant) -> Result<(), ApiError> {
    if Instant::now() > deadline {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the request took too long and nothing of it was stored: send it again",
        );
        e.retry_after_s = Some(5);
        return Err(e);
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
    st: &Shared,
    caller: &Caller,
    scope: &Scope,
    push: &jingtu_protocol::Push,
    loaded: Loaded,
) -> Result<Decision, ApiError> {
    let (base, applied) = match loaded {
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
                    st.limits.max_push_bytes
                ),
            )));
        }
        Loaded::OutOfScope(place) => {
            return Ok(Decision::Done(out_of_scope(
                st,
                caller,
                &push.record,
                &place,
            )));
        }
        Loaded::Applied(base, applied) => (base, *applied),
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
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if applied.before.is_none() {
        let place = RecordPlace {
            owner: Some(caller.user.clone()),
            org_unit: meta.org_unit.clone(),
            assignment: meta.assignment.clone(),
        };
        if !scope.may_create(st, &place, &meta.kind)? {
            return Ok(Decision::Done(out_of_scope(
                st,
                caller,
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
        let violations = jingtu_policy::check_changes(before, after, &applied.changes, caller.role);
        if let Some(v) = violations.first() {
            return Ok(Decision::Done(forbidden(
                st,
                caller,
                &push.record,
                v,
                &violations,
            )));
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
        owner: caller.user.clone(),
        photos: applied
            .doc
            .photos()
            .into_iter()
            .map(|p| p.sha256)
            .filter(|s| jingtu_protocol::is_photo_hash(s))
            .collect(),
        base,
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
    st: &Shared,
    caller: &Caller,
    record: &str,
    reviews: Vec<(jingtu_doc::StatusEvent, &'static str)>,
) {
    for (event, status) in reviews {
        let mut entry = AuditEntry::new(&caller.user, AuditAction::ReviewAction, AuditOutcome::Ok)
            .target(record)
            .detail(serde_json::json!({
                "event": event.kind.as_str(),
                "note": event.note,
                "author": event.author,
                "at_ms": event.at_ms,
                "status": status,
            }));
        entry.device = caller.device;
        entry.device_id = caller.device_id.clone();
        if let Err(e) = st.auth.audit(&entry) {
            tracing::warn!("audit of a review action failed: {e}");
        }
    }
}

/// A push checked, loaded and applied ahead of the decisions made in order.
enum Loaded {
    BadId,
    TooLarge,
    /// The record exists and lies outside what the caller may write (not applied).
    OutOfScope(RecordPlace),
    /// Applied to the record at this version (`None`: the server did not hold it).
    Applied(Option<u64>, Box<Result<jingtu_doc::Applied, DocError>>),
}

/// What checking, loading and applying one push gave.
type Preloaded = Result<Loaded, ApiError>;

/// Checks, loads and applies each push of `window` on up to [`APPLY_THREADS`] threads, in
/// order. Nothing is written here.
fn load_and_apply(st: &Shared, scope: &Scope, window: &[&jingtu_protocol::Push]) -> Vec<Preloaded> {
    let limits = jingtu_doc::ExpansionLimits {
        max_inflated_bytes: st.limits.max_push_inflated_bytes,
        max_ops: st.limits.max_push_ops,
    };
    let one = |push: &jingtu_protocol::Push| -> Preloaded {
        if !jingtu_protocol::is_record_id(&push.record) {
            return Ok(Loaded::BadId);
        }
        if push.changes.len() > st.limits.max_push_bytes {
            return Ok(Loaded::TooLarge);
        }
        let existing = st.records.load_record(&push.record)?;
        if existing.is_some()
            && let Some(place) = st.scope.record_place(&push.record)?
            && !scope.may_write(&place)
        {
            return Ok(Loaded::OutOfScope(place));
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
        ))
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(APPLY_THREADS)
        .min(window.len() / 8);
    if threads <= 1 {
        return window.iter().map(|p| one(p)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<Preloaded>>> =
        window.iter().map(|_| Default::default()).collect();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(push) = window.get(i) else { break };
                    let r = one(push);
                    *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| Err(ApiError::internal("a push was not applied")))
        })
        .collect()
}

/// The prefix of a continuation token while records that left the scope are paged.
const EVICT_PAGE: &str = "evict:";

fn audit_refusal(st: &Shared, caller: &Caller, record: &str, detail: serde_json::Value) {
    let mut entry = AuditEntry::new(
        &caller.user,
        AuditAction::PushRefused,
        AuditOutcome::Refused,
    )
    .target(record)
    .detail(detail);
    entry.device = caller.device;
    entry.device_id = caller.device_id.clone();
    if let Err(e) = st.auth.audit(&entry) {
        tracing::warn!("audit of a refused push failed: {e}");
    }
}

fn out_of_scope(st: &Shared, caller: &Caller, record: &str, place: &RecordPlace) -> PushResult {
    audit_refusal(
        st,
        caller,
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
            caller.user,
            caller.role.as_str()
        ),
    )
}

fn forbidden(
    st: &Shared,
    caller: &Caller,
    record: &str,
    first: &jingtu_policy::Violation,
    all: &[jingtu_policy::Violation],
) -> PushResult {
    audit_refusal(
        st,
        caller,
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
