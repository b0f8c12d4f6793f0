//! Sync with the server (docs/sync-protocol.md): push the changes the server has not confirmed,
//! pull the feed after the cursor, upload photos (resuming interrupted uploads), fetch the
//! thumbnails of photos taken on other devices. Idempotent at every step: a record is marked
//! clean only after the server confirmed it (durably), the cursor moves only after the chunks
//! before it are stored, a photo counts as uploaded only after the server verified its hash.

use std::time::Instant;

use jingtu_client::{Client, ClientError, ClientOptions};
use jingtu_doc::{ChangeHash, apply_untrusted};
use jingtu_protocol::{
    PROTOCOL_VERSION, PhotoStateKind, Push, PushOutcome, SyncRequest, SyncResponse, refusal,
};
use jingtu_store::{Origin, PhotoChange};
use serde::Serialize;

use crate::CoreError;
use crate::core::{Cached, DeviceCore, Touched, lock, now_ms};

const KEY_URL: &str = "server_url";
const KEY_TOKEN: &str = "server_token";
const KEY_ROLE: &str = "role";
const KEY_ORG_UNITS: &str = "org_units";
/// A request carries at most this many bytes of pushed changes (more go in the next one),
/// counted before the frame's compression. New records go as documents without DEFLATE
/// (`changes_to_push`), which zstd then shrinks about 25 times: 1,000 filled records are about
/// 4.3 MB here and 0.17 MB on the wire.
const PUSH_BATCH_BYTES: usize = 8 * 1024 * 1024;
const PUSH_BATCH_RECORDS: usize = 1000;
/// Records to push are read and encoded this many at a time, on up to [`PREPARE_THREADS`]
/// threads: loading a record that holds many single edits costs far more than sending it.
const PREPARE_WINDOW: usize = 64;
const PREPARE_THREADS: usize = 4;
/// How many photos upload at once: the server checks and stores them in parallel, and one
/// slow upload does not hold up the others.
const PHOTO_UPLOADERS: usize = 4;
/// The server's limit of one record's changes in one push (its default `max_push_bytes`).
const MAX_PUSH_BYTES: usize = 8 * 1024 * 1024;

/// The user a device is enrolled for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Enrollment {
    pub user: String,
    pub role: jingtu_model::Role,
    pub org_units: Vec<String>,
    pub server_url: String,
}

/// Where a sync is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncPhase {
    /// Sending records' changes (done/total: records).
    Push,
    /// Taking in other devices' changes (done: chunks; total 0 while unknown).
    Pull,
    /// Uploading photos, several at once (done/total: bytes of all the photos this sync
    /// sends).
    Photos,
    /// Fetching thumbnails of photos taken elsewhere (done/total: photos).
    Thumbnails,
}

impl SyncPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncPhase::Push => "push",
            SyncPhase::Pull => "pull",
            SyncPhase::Photos => "photos",
            SyncPhase::Thumbnails => "thumbnails",
        }
    }
}

/// Progress of a sync, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SyncProgress {
    pub phase: SyncPhase,
    pub done: u64,
    pub total: u64,
    /// Bytes sent and received so far.
    pub bytes: u64,
}

/// A push the server refused. For `forbidden` and `out_of_scope` the refused changes are kept
/// as a refused edit (`refused_edit`) and the record went back to the server's version with
/// what is still allowed replayed (`replayed`); for other codes the record keeps its changes
/// and stays pending.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RefusedPush {
    pub record: String,
    pub code: String,
    pub message: String,
    /// The rule broken (`review_by_supervisor`, `approved_locked`, ...), for `forbidden`.
    pub rule: Option<String>,
    /// The document path of the first refused operation.
    pub path: Option<String>,
    pub refused_edit: Option<i64>,
    pub replayed: u64,
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncReport {
    pub records_pushed: u64,
    pub chunks_pulled: u64,
    pub records_received: u64,
    pub photos_uploaded: u64,
    pub photo_bytes_uploaded: u64,
    /// Photos the server would not take: no record it lets this user see holds them.
    pub photos_refused: u64,
    /// Photos that wait because the server has no room for them now (its disk keeps a reserve
    /// for records): they go at a later sync.
    pub photos_deferred: u64,
    pub thumbnails_fetched: u64,
    pub refused: Vec<RefusedPush>,
    /// Assignments held after the sync (when the server sent them).
    pub assignments: u64,
    /// Records removed because they left this device's scope.
    pub records_removed: u64,
    /// Records that left the scope but hold unpushed changes, so are kept.
    pub kept_out_of_scope: Vec<String>,
    /// Records received whose template this app does not know yet (kept, opened after an
    /// update).
    pub parked: u64,
    /// Templates received from the server (new kinds or versions this app can now fill).
    pub templates_received: u64,
    /// Whether new code tables arrived.
    pub code_tables_updated: bool,
    pub round_trips: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub duration_ms: u64,
    pub cursor: u64,
}

/// How far this device is in step with the server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncStatus {
    pub server_url: Option<String>,
    pub last_sync_ms: Option<i64>,
    pub cursor: u64,
    pub records: u64,
    /// Records with changes the server has not confirmed, sent at the next sync.
    pub records_pending: u64,
    /// Records the server refused whole (another user's record, a place outside the user's
    /// reach): not sent again until edited here. Their edits are kept as refused edits; the
    /// user gives such a record to its owner or supervisor (export) and discards it here.
    pub records_held: u64,
    /// Photos not uploaded yet.
    pub photos_pending: u64,
}

/// One record's sync state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RecordSyncState {
    /// Changes wait to be pushed.
    pub pending_upload: bool,
    /// The server refused the record whole: it is not pushed again until edited here
    /// (see [`SyncStatus::records_held`]).
    pub held: bool,
    /// Photos of the record wait to be uploaded.
    pub photos_pending: u64,
    /// Edits of the record the server refused that the user has not dismissed.
    pub refused_edits: u64,
}

impl RecordSyncState {
    pub fn label(&self) -> &'static str {
        if self.refused_edits > 0 {
            "refused"
        } else if self.held {
            "held"
        } else if self.pending_upload {
            "pending_upload"
        } else if self.photos_pending > 0 {
            "photo_pending"
        } else {
            "synced"
        }
    }
}

/// What a received chunk did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pulled {
    /// A record new to this device.
    New,
    /// Merged into a record held (or nothing new).
    Merged,
    /// Kept aside: its template is not known here yet.
    Parked,
    /// Kept aside: later changes of a record that is not here yet (it comes whole).
    Waiting,
}

/// Change bytes to push and the encoded heads they end at.
type Outgoing = (Vec<u8>, Vec<u8>);
/// A record waiting to be pushed: id, confirmed heads, write count, pushed whole once more.
type Queued = (String, Option<Vec<u8>>, i64, bool);
/// What a queued record pushes (`None`: the record is gone).
type ToPush = Result<Option<Outgoing>, CoreError>;
/// A queued record and what it pushes.
type Prepared = (Queued, ToPush);

/// What a photo uploader tells the sync.
enum UploadEvent {
    /// Bytes the server confirmed.
    Sent(u64),
    /// A photo done: the bytes it took, `None` when the store no longer holds it.
    Done(String, Result<Option<u64>, CoreError>),
}

pub(crate) fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}

pub(crate) fn decode_heads(bytes: &[u8]) -> Option<Vec<ChangeHash>> {
    if !bytes.len().is_multiple_of(32) {
        return None;
    }
    bytes
        .chunks(32)
        .map(|c| ChangeHash::try_from(c).ok())
        .collect()
}

impl DeviceCore {
    /// Sets the server this device syncs with and its device token (checked at the next sync).
    pub fn set_server(&self, url: &str, token: &str) -> Result<(), CoreError> {
        let token = token.trim();
        if token.is_empty() || token.len() > 256 || token.chars().any(char::is_whitespace) {
            return Err(CoreError::InvalidValue {
                path: "token".into(),
                reason: "a device token is one word of up to 256 characters".into(),
            });
        }
        let client = Client::new(url, token, ClientOptions::default()).map_err(|e| {
            CoreError::InvalidValue {
                path: "url".into(),
                reason: e.to_string(),
            }
        })?;
        let previous = self.store.setting(KEY_URL)?;
        if previous.as_deref() != Some(client.base_url()) {
            // Another server: its feed starts anew, and everything must reach it.
            self.store.set_cursor(0)?;
        }
        self.store.set_setting(KEY_URL, client.base_url())?;
        self.store.set_setting(KEY_TOKEN, token)?;
        Ok(())
    }

    /// Enrolls this device with a one-time code from an admin or supervisor: the server
    /// answers a device token bound to the code's user and this device, which is kept with the
    /// server URL; the user's name becomes the author of new edits. `code_or_qr` is the code as
    /// typed, or the scanned QR payload (`jingtu://enroll?server=...&code=...`), in which case
    /// `url` may be empty.
    pub fn enroll(
        &self,
        url: &str,
        code_or_qr: &str,
        device_label: Option<&str>,
        app_version: Option<&str>,
    ) -> Result<Enrollment, CoreError> {
        let (url, code) = match jingtu_protocol::EnrollPayload::parse(code_or_qr.trim()) {
            Some(p) if url.trim().is_empty() || url.trim() == p.server => (p.server, p.code),
            Some(p) => (url.trim().to_string(), p.code),
            None => (url.trim().to_string(), code_or_qr.trim().to_string()),
        };
        if url.is_empty() {
            return Err(CoreError::InvalidValue {
                path: "url".into(),
                reason: "the server URL is missing".into(),
            });
        }
        if code.is_empty() || code.len() > 64 {
            return Err(CoreError::InvalidValue {
                path: "code".into(),
                reason: "an enrollment code is one word of up to 64 characters".into(),
            });
        }
        let answer = Client::enroll(&url, &code, &self.device_id(), device_label, app_version)
            .map_err(map_client)?;
        self.set_server(&url, &answer.token)?;
        self.set_user(&answer.user)?;
        self.store.set_setting(KEY_ROLE, answer.role.as_str())?;
        self.store
            .set_setting(KEY_ORG_UNITS, &answer.org_units.join(","))?;
        Ok(Enrollment {
            user: answer.user,
            role: answer.role,
            org_units: answer.org_units,
            server_url: self.server_url()?.unwrap_or(url),
        })
    }

    /// Who this device is enrolled for, when it enrolled by code.
    pub fn enrollment(&self) -> Result<Option<Enrollment>, CoreError> {
        let (Some(url), Some(role)) = (
            self.store.setting(KEY_URL)?,
            self.store
                .setting(KEY_ROLE)?
                .and_then(|r| jingtu_model::Role::parse(&r)),
        ) else {
            return Ok(None);
        };
        Ok(Some(Enrollment {
            user: self.user(),
            role,
            org_units: self
                .store
                .setting(KEY_ORG_UNITS)?
                .map(|s| {
                    s.split(',')
                        .filter(|c| !c.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            server_url: url,
        }))
    }

    /// The server URL, when one is set.
    pub fn server_url(&self) -> Result<Option<String>, CoreError> {
        Ok(self.store.setting(KEY_URL)?)
    }

    /// A client for the configured server.
    pub fn client(&self, options: ClientOptions) -> Result<Client, CoreError> {
        let (Some(url), Some(token)) =
            (self.store.setting(KEY_URL)?, self.store.setting(KEY_TOKEN)?)
        else {
            return Err(CoreError::NoServer);
        };
        Client::new(&url, &token, options).map_err(CoreError::Sync)
    }

    pub fn sync_status(&self) -> Result<SyncStatus, CoreError> {
        let counts = self.store.sync_counts()?;
        let state = self.store.sync_state()?;
        Ok(SyncStatus {
            server_url: self.store.setting(KEY_URL)?,
            last_sync_ms: state.last_sync_ms,
            cursor: state.cursor,
            records: counts.records,
            records_pending: counts.records_pending,
            records_held: counts.records_held,
            photos_pending: counts.photos_pending,
        })
    }

    pub fn record_sync_state(&self, id: &str) -> Result<RecordSyncState, CoreError> {
        let row = self.store.record_sync_state(id)?;
        let refused_edits = self.store.refused_edits(Some(id), false)?.len() as u64;
        Ok(RecordSyncState {
            pending_upload: row.dirty,
            held: row.held,
            photos_pending: row.photos_pending,
            refused_edits,
        })
    }

    fn cursor(&self) -> Result<u64, CoreError> {
        Ok(self.store.sync_state()?.cursor)
    }

    /// Syncs with the configured server. `progress` returns false to stop; what was done
    /// stays done, and the next sync goes on from there.
    pub fn sync(
        &self,
        progress: &mut dyn FnMut(&SyncProgress) -> bool,
    ) -> Result<SyncReport, CoreError> {
        let client = self.client(ClientOptions::default())?;
        self.sync_with(&client, progress)
    }

    /// Like [`Self::sync`] through a given client (its counters say what went over the wire).
    pub fn sync_with(
        &self,
        client: &Client,
        progress: &mut dyn FnMut(&SyncProgress) -> bool,
    ) -> Result<SyncReport, CoreError> {
        let started = Instant::now();
        let before = client.counters();
        let mut report = SyncReport::default();
        let bytes = |c: &Client| {
            let now = c.counters();
            now.bytes_up + now.bytes_down - before.bytes_up - before.bytes_down
        };
        let stop = std::cell::Cell::new(false);
        let cancelled = || stop.get();
        let mut tell = |p: SyncProgress| {
            if !progress(&p) {
                stop.set(true);
            }
        };

        // Push and pull. Records refused for missing dependencies are pushed whole once more.
        let dirty = self.store.dirty_records(u32::MAX)?;
        let total = dirty.len() as u64;
        tell(SyncProgress {
            phase: SyncPhase::Push,
            done: 0,
            total,
            bytes: 0,
        });
        let mut queue: std::collections::VecDeque<Queued> = dirty
            .into_iter()
            .map(|d| (d.id, d.synced_heads, d.edit_seq, false))
            .collect();
        let mut pushed = 0u64;
        let mut more = true;
        let mut first = true;
        while first || more || !queue.is_empty() {
            first = false;
            if cancelled() {
                return Err(CoreError::Cancelled);
            }
            // Build one request's pushes.
            let mut pushes = Vec::new();
            let mut meta = Vec::new(); // (id, heads at push, edit_seq, retried, confirmed heads)
            let mut size = 0;
            let mut ready: std::collections::VecDeque<Prepared> = Default::default();
            loop {
                if ready.is_empty() {
                    let n = queue
                        .len()
                        .min(PREPARE_WINDOW)
                        .min(PUSH_BATCH_RECORDS - pushes.len());
                    if n == 0 {
                        break;
                    }
                    if cancelled() {
                        return Err(CoreError::Cancelled);
                    }
                    ready = self.prepare_pushes(queue.drain(..n).collect()).into();
                }
                let Some(((id, synced, edit_seq, retried), prepared)) = ready.pop_front() else {
                    break;
                };
                let Some((changes, heads)) = prepared? else {
                    continue;
                };
                if changes.is_empty() {
                    self.store.mark_pushed(&id, &heads, edit_seq)?;
                    pushed += 1;
                    continue;
                }
                if changes.len() > MAX_PUSH_BYTES {
                    // The server would refuse it; say so without sending megabytes.
                    report.refused.push(RefusedPush {
                        record: id,
                        code: refusal::TOO_LARGE.into(),
                        message: format!(
                            "{} bytes of changes, over the {MAX_PUSH_BYTES}-byte limit of one push",
                            changes.len()
                        ),
                        rule: None,
                        path: None,
                        refused_edit: None,
                        replayed: 0,
                    });
                    continue;
                }
                if !pushes.is_empty() && size + changes.len() > PUSH_BATCH_BYTES {
                    // The next request takes it: a request stays within the server's body
                    // limit (16 MiB) even when its changes do not compress.
                    ready.push_front(((id, synced, edit_seq, retried), Ok(None)));
                    break;
                }
                size += changes.len();
                pushes.push(Push {
                    record: id.clone(),
                    changes,
                });
                meta.push((id, heads, edit_seq, retried, synced));
                if pushes.len() >= PUSH_BATCH_RECORDS {
                    break;
                }
            }
            // Read but not sent in this request: back to the queue, in order (read again then).
            for (queued, _) in ready.into_iter().rev() {
                queue.push_front(queued);
            }
            let (scope_seq, scope_target, scope_after) = self.scope_request()?;
            let request = SyncRequest {
                protocol: PROTOCOL_VERSION,
                device: self.device_id(),
                cursor: self.cursor()?,
                pushes,
                max_response_bytes: None,
                scope_seq,
                scope_target,
                scope_after,
                catalog: self.store.setting(crate::catalog::KEY_CATALOG_DIGEST)?,
            };
            let response = client.sync(&request, &cancelled).map_err(|e| match e {
                ClientError::Cancelled => CoreError::Cancelled,
                other => CoreError::Sync(other),
            })?;
            let mut accepted = Vec::new();
            for (result, (id, heads, edit_seq, retried, synced)) in
                response.results.iter().zip(meta)
            {
                match result.outcome {
                    PushOutcome::Accepted => {
                        accepted.push((id, heads, edit_seq));
                        pushed += 1;
                        report.records_pushed += 1;
                    }
                    PushOutcome::Refused
                        if result.code.as_deref() == Some(refusal::MISSING_DEPS) && !retried =>
                    {
                        // The server lacks what our confirmed heads say it has: send it all.
                        self.store.reset_synced(&id)?;
                        queue.push_back((id, None, edit_seq, true));
                    }
                    PushOutcome::Refused => {
                        let code = result.code.clone().unwrap_or_default();
                        let taken = if code == refusal::FORBIDDEN || code == refusal::OUT_OF_SCOPE {
                            Some(self.take_out_refused(&id, result, synced.as_deref())?)
                        } else {
                            None
                        };
                        report.refused.push(RefusedPush {
                            record: id,
                            code,
                            message: result.message.clone().unwrap_or_default(),
                            rule: result.rule.clone(),
                            path: result.path.clone(),
                            refused_edit: taken.map(|t| t.refused_edit),
                            replayed: taken.map_or(0, |t| t.replayed as u64),
                        });
                    }
                }
            }
            // What the server accepted, in one commit.
            let marks: Vec<jingtu_store::Pushed<'_>> = accepted
                .iter()
                .map(|(id, heads, seq)| jingtu_store::Pushed {
                    id: id.as_str(),
                    heads: heads.as_slice(),
                    edit_seq: *seq,
                })
                .collect();
            self.store.mark_all_pushed(&marks)?;
            tell(SyncProgress {
                phase: SyncPhase::Push,
                done: pushed.min(total),
                total,
                bytes: bytes(client),
            });
            more = response.more || response.scope.as_ref().is_some_and(|s| s.next.is_some());
            // Templates first: the records in this answer may need them.
            if let Some(listing) = &response.catalog {
                self.take_catalog(client, listing, &mut report, &cancelled)?;
            }
            self.take_in(&response, &mut report)?;
            tell(SyncProgress {
                phase: SyncPhase::Pull,
                done: report.chunks_pulled,
                total: if more { 0 } else { report.chunks_pulled },
                bytes: bytes(client),
            });
        }

        // Photos up, several at once.
        let to_upload = self.store.photos_to_upload()?;
        if !to_upload.is_empty() {
            let hashes: Vec<String> = to_upload.iter().map(|p| p.sha256.clone()).collect();
            let sizes: std::collections::HashMap<String, u64> =
                to_upload.into_iter().map(|p| (p.sha256, p.size)).collect();
            let states = client
                .photo_status(&hashes, &cancelled)
                .map_err(map_client)?;
            let mut work = Vec::new();
            let mut total_bytes = 0;
            for state in states {
                match state.state {
                    // No record the server lets this user see holds it (its record's push
                    // was refused): it stays here, pending.
                    PhotoStateKind::Refused => report.photos_refused += 1,
                    PhotoStateKind::Stored => self.store.mark_photo_uploaded(&state.hash)?,
                    PhotoStateKind::Partial | PhotoStateKind::Missing => {
                        let offset = match state.state {
                            PhotoStateKind::Partial => state.offset,
                            _ => 0,
                        };
                        let size = sizes.get(&state.hash).copied().unwrap_or(0);
                        total_bytes += size.saturating_sub(offset);
                        work.push((state.hash, offset));
                    }
                }
            }
            if cancelled() {
                return Err(CoreError::Cancelled);
            }
            let mut photo_progress = |done: u64| {
                tell(SyncProgress {
                    phase: SyncPhase::Photos,
                    done: done.min(total_bytes),
                    total: total_bytes,
                    bytes: bytes(client),
                });
                !stop.get()
            };
            self.upload_photos(client, &work, &mut report, &mut photo_progress)?;
        }

        // Thumbnails of photos taken on other devices.
        let wanted = self.store.photos_without_thumbnail()?;
        let total_thumbs = wanted.len() as u64;
        for (n, hash) in wanted.iter().enumerate() {
            if cancelled() {
                return Err(CoreError::Cancelled);
            }
            let thumb = match client.download_photo(hash, true, &cancelled) {
                Ok(t) => t,
                // A photo of a record this user no longer sees: no thumbnail, no failure.
                Err(ClientError::Refused { status: 403, .. }) => None,
                Err(e) => return Err(map_client(e)),
            };
            if let Some(thumb) = thumb {
                self.store.put_downloaded_photo(hash, Some(&thumb), None)?;
                report.thumbnails_fetched += 1;
            }
            tell(SyncProgress {
                phase: SyncPhase::Thumbnails,
                done: n as u64 + 1,
                total: total_thumbs,
                bytes: bytes(client),
            });
        }

        self.store.set_last_sync(now_ms())?;
        let after = client.counters();
        report.round_trips = after.round_trips - before.round_trips;
        report.bytes_up = after.bytes_up - before.bytes_up;
        report.bytes_down = after.bytes_down - before.bytes_down;
        report.duration_ms = started.elapsed().as_millis() as u64;
        report.cursor = self.cursor()?;
        Ok(report)
    }

    /// Uploads photos (hash, offset the server holds), [`PHOTO_UPLOADERS`] at once, each
    /// marked uploaded as soon as the server stored it. `progress(bytes sent)` after every part
    /// returns false to stop; the first failure stops the others and is returned.
    fn upload_photos(
        &self,
        client: &Client,
        work: &[(String, u64)],
        report: &mut SyncReport,
        progress: &mut dyn FnMut(u64) -> bool,
    ) -> Result<(), CoreError> {
        let halt = std::sync::atomic::AtomicBool::new(false);
        let halted = || halt.load(std::sync::atomic::Ordering::Relaxed);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let mut failure = None;
        let mut cancelled = false;
        let mut deferred = false;
        let uploaded_before = report.photos_uploaded;
        std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::channel::<UploadEvent>();
            for _ in 0..PHOTO_UPLOADERS.min(work.len()) {
                let (tx, next, halted) = (tx.clone(), &next, &halted);
                s.spawn(move || {
                    while !halted() {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((hash, offset)) = work.get(i) else {
                            break;
                        };
                        let result = self.upload_photo(client, hash, *offset, &tx, halted);
                        if tx.send(UploadEvent::Done(hash.clone(), result)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            let mut sent = 0;
            for event in rx {
                match event {
                    UploadEvent::Sent(n) => {
                        sent += n;
                        if !progress(sent) {
                            cancelled = true;
                            halt.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    UploadEvent::Done(hash, Ok(Some(n))) => {
                        if let Err(e) = self.store.mark_photo_uploaded(&hash) {
                            failure.get_or_insert(e.into());
                            halt.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                        report.photos_uploaded += 1;
                        report.photo_bytes_uploaded += n;
                    }
                    UploadEvent::Done(_, Ok(None)) => {}
                    // No room on the server now: the rest wait too, and the sync goes on.
                    UploadEvent::Done(
                        _,
                        Err(CoreError::Sync(ClientError::Refused { status: 507, .. })),
                    ) => {
                        deferred = true;
                        halt.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    UploadEvent::Done(_, Err(e)) => {
                        failure.get_or_insert(e);
                        halt.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
        });
        if cancelled {
            return Err(CoreError::Cancelled);
        }
        if deferred {
            report.photos_deferred =
                (work.len() as u64).saturating_sub(report.photos_uploaded - uploaded_before);
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// One photo's upload from `offset`, telling `events` the bytes of every part confirmed.
    fn upload_photo(
        &self,
        client: &Client,
        hash: &str,
        offset: u64,
        events: &std::sync::mpsc::Sender<UploadEvent>,
        halted: &(dyn Fn() -> bool + Sync),
    ) -> Result<Option<u64>, CoreError> {
        let Some(full) = self.store.photo_bytes(hash, false)? else {
            return Ok(None);
        };
        let mut confirmed = offset;
        client
            .upload_photo(
                hash,
                &full,
                offset,
                &mut |done, _| {
                    let more = done.saturating_sub(confirmed);
                    confirmed = confirmed.max(done);
                    events.send(UploadEvent::Sent(more)).is_ok() && !halted()
                },
                halted,
            )
            .map_err(map_client)?;
        Ok(Some(confirmed.saturating_sub(offset)))
    }

    /// The full image of a photo taken on another device, fetched from the server once and
    /// kept.
    pub fn fetch_photo(&self, sha256: &str) -> Result<Vec<u8>, CoreError> {
        if let Ok(bytes) = self.photo_bytes(sha256, false) {
            return Ok(bytes);
        }
        let sha = sha256.trim().to_ascii_lowercase();
        let client = self.client(ClientOptions::default())?;
        let bytes = client
            .download_photo(&sha, false, &|| false)
            .map_err(map_client)?
            .ok_or_else(|| CoreError::PhotoNotFound(sha.clone()))?;
        if jingtu_media::content_id(&bytes) != sha {
            return Err(CoreError::BadRecord(format!(
                "the server sent other bytes for photo {sha}"
            )));
        }
        self.store.put_downloaded_photo(&sha, None, Some(&bytes))?;
        Ok(bytes)
    }

    /// The changes of a record the server has not confirmed, and the heads they end at;
    /// `None` when the record is gone.
    fn changes_to_push(
        &self,
        id: &str,
        synced: Option<&[u8]>,
    ) -> Result<Option<Outgoing>, CoreError> {
        // An open record is at hand; others are loaded as bare documents (building the
        // cached view of a record costs more than loading it, and a push needs none of it),
        // outside the cache's lock so that several load at once. A write in between is
        // harmless: the heads returned are those of the bytes returned, and the record stays
        // dirty when its write count moved.
        if let Some(entry) = lock(&self.cache).docs.get_mut(id) {
            return Ok(Some(Self::outgoing(&mut entry.doc, synced)));
        }
        let bytes = match self.store.load(id) {
            Ok(r) => r.bytes,
            Err(jingtu_store::StoreError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut doc = jingtu_doc::RecordDoc::load_stored(&bytes, self.actor.clone())?;
        Ok(Some(Self::outgoing(&mut doc, synced)))
    }

    /// [`Self::changes_to_push`] of several records, on several threads; in their order.
    fn prepare_pushes(&self, queued: Vec<Queued>) -> Vec<Prepared> {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(PREPARE_THREADS)
            .min(queued.len());
        if threads <= 1 {
            return queued
                .into_iter()
                .map(|q| {
                    let r = self.changes_to_push(&q.0, q.1.as_deref());
                    (q, r)
                })
                .collect();
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let slots: Vec<std::sync::Mutex<Option<ToPush>>> =
            queued.iter().map(|_| Default::default()).collect();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(q) = queued.get(i) else { break };
                        let r = self.changes_to_push(&q.0, q.1.as_deref());
                        *lock(&slots[i]) = Some(r);
                    }
                });
            }
        });
        queued
            .into_iter()
            .zip(slots)
            .map(|(q, slot)| {
                // Every slot is filled: a thread that panicked ends the scope with its panic.
                let r = slot
                    .into_inner()
                    .unwrap_or_else(|p| p.into_inner())
                    .unwrap_or(Ok(None));
                (q, r)
            })
            .collect()
    }

    /// What a push of `doc` carries: the changes after the confirmed heads `synced` (all of
    /// them when the server confirmed none, or not these), and the heads they end at.
    fn outgoing(doc: &mut jingtu_doc::RecordDoc, synced: Option<&[u8]>) -> Outgoing {
        let heads = doc.heads();
        let base = synced
            .and_then(decode_heads)
            .filter(|hs| !hs.is_empty() && hs.iter().all(|h| doc.has_change(h)));
        let changes = match base {
            Some(hs) => doc.save_after(&hs),
            // The whole document, its columns not DEFLATE-compressed: the request's zstd frame
            // then compresses across the records of the batch, which share most of their bytes
            // (under a third of the bytes on the wire for a batch of new records, and a fifth
            // of the work to make them). A document too large for one push that way goes
            // compressed.
            None => {
                let plain = doc.save_uncompressed();
                if plain.len() > MAX_PUSH_BYTES {
                    doc.save()
                } else {
                    plain
                }
            }
        };
        (changes, encode_heads(&heads))
    }

    /// Stores the chunks of an answer, then moves the cursor.
    ///
    /// The scope change first: the feed is filtered by the device's new scope, so it may carry
    /// the latest changes of a record that entered the scope, which only load on top of the
    /// whole record the scope change brings (in this answer, or in a later page of the same
    /// sync: such a chunk waits, parked, and is merged once its record is here).
    fn take_in(&self, response: &SyncResponse, report: &mut SyncReport) -> Result<(), CoreError> {
        if let Some(scope) = &response.scope {
            self.take_in_scope(scope, report)?;
        }
        for chunk in &response.chunks {
            match self.apply_pulled(&chunk.record, &chunk.bytes)? {
                Pulled::New => report.records_received += 1,
                Pulled::Parked => report.parked += 1,
                Pulled::Merged | Pulled::Waiting => {}
            }
            report.chunks_pulled += 1;
        }
        self.merge_waiting()?;
        if response.cursor > self.cursor()? {
            self.store.set_cursor(response.cursor)?;
        }
        Ok(())
    }

    /// Applies one feed chunk (or a whole record).
    pub(crate) fn apply_pulled(&self, id: &str, bytes: &[u8]) -> Result<Pulled, CoreError> {
        let mut cache = lock(&self.cache);
        if !self.has_record(id)? {
            let applied =
                match apply_untrusted(None, bytes, id, self.actor.clone(), &Default::default()) {
                    Ok(applied) => applied,
                    // Later changes of a record parked for its template: parked with it.
                    Err(_) if self.store.parked()?.iter().any(|p| p.record_id == id) => {
                        self.store.park(id, WAITING, bytes)?;
                        return Ok(Pulled::Parked);
                    }
                    // Later changes of a record not here yet, which comes whole (it entered
                    // this device's scope): they wait for it.
                    Err(jingtu_doc::DocError::MissingDeps(_)) => {
                        self.store.park(id, WAITING, bytes)?;
                        return Ok(Pulled::Waiting);
                    }
                    // Not a record this app can hold (a malformed photo entry, say): kept
                    // aside with the reason, shown among the parked records.
                    Err(jingtu_doc::DocError::NotARecord(reason)) => {
                        self.store
                            .park(id, &format!("not taken in: {reason}"), bytes)?;
                        return Ok(Pulled::Parked);
                    }
                    Err(e) => return Err(e.into()),
                };
            let meta = applied.doc.meta()?;
            let template = match self.template_of(&meta) {
                Ok(t) => t,
                // A template this app does not know yet: kept, opened after an update.
                Err(e) => {
                    self.store.park(id, &e.to_string(), bytes)?;
                    return Ok(Pulled::Parked);
                }
            };
            let mut cached = Cached::new(applied.doc, template, 1)?;
            let summary = self.summarize(&cached, now_ms());
            let heads = encode_heads(&cached.doc.heads());
            let refs = cached.photo_refs();
            // The received bytes hold every change of the record (they loaded alone): kept as
            // they are, without encoding the document again.
            self.store.insert_record_from(
                &summary,
                bytes,
                Some(PhotoChange {
                    put: None,
                    refs: &refs,
                }),
                Origin::Server { heads: &heads },
            )?;
            self.keep_open(&mut cache, id.to_string(), cached);
            return Ok(Pulled::New);
        }
        let entry = self.load(&mut cache, id)?;
        let applied = entry.doc.apply_changes(bytes);
        let (new_bytes, new_changes) = match applied {
            Ok(r) => r,
            Err(jingtu_doc::DocError::NotARecord(reason)) => {
                // Changes that would make the record malformed: kept aside with the reason,
                // the record as it was.
                cache.remove(id);
                self.store
                    .park(id, &format!("changes not taken in: {reason}"), bytes)?;
                return Ok(Pulled::Parked);
            }
            Err(e) => {
                cache.remove(id);
                return Err(e.into());
            }
        };
        if new_changes == 0 {
            return Ok(Pulled::Merged);
        }
        if let Err(e) = entry.refresh(&Touched::Everything) {
            cache.remove(id);
            return Err(e);
        }
        let summary = self.summarize(entry, now_ms());
        let heads = encode_heads(&entry.doc.heads());
        let refs = entry.photo_refs();
        self.persist(
            &mut cache,
            id,
            &summary,
            &new_bytes,
            Some(PhotoChange {
                put: None,
                refs: &refs,
            }),
            Origin::Server { heads: &heads },
        )?;
        Ok(Pulled::Merged)
    }
}

/// Why chunks of a record wait in the parked table: their record's earlier changes are not here.
pub(crate) const WAITING: &str = "waiting for earlier changes";

impl DeviceCore {
    /// Merges the chunks that waited for their record, now that it is here.
    fn merge_waiting(&self) -> Result<(), CoreError> {
        let waiting: Vec<(String, Vec<u8>)> = self
            .store
            .parked()?
            .into_iter()
            .filter(|p| p.reason == WAITING)
            .map(|p| (p.record_id, p.bytes))
            .collect();
        let mut merged = std::collections::BTreeSet::new();
        for (id, bytes) in waiting {
            if self.has_record(&id)? {
                self.apply_pulled(&id, &bytes)?;
                merged.insert(id);
            }
        }
        for id in merged {
            self.store.unpark(&id)?;
        }
        Ok(())
    }
}

fn map_client(e: ClientError) -> CoreError {
    match e {
        ClientError::Cancelled => CoreError::Cancelled,
        other => CoreError::Sync(other),
    }
}
