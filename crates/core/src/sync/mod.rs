//! Sync with the server (docs/sync-protocol.md): push the changes the server has not confirmed,
//! pull the feed after the cursor, upload photos (resuming interrupted uploads), fetch the
//! thumbnails of photos taken on other devices. Idempotent at every step: a record is marked
//! clean only after the server confirmed it (durably), the cursor moves only after the chunks
//! before it are stored, a photo counts as uploaded only after the server verified its hash.

use std::cell::Cell;
use std::time::Instant;

use jingtu_client::{Client, ClientError, ClientOptions, Counters};
use jingtu_doc::ChangeHash;
use serde::Serialize;

use crate::CoreError;
use crate::core::{DeviceCore, now_ms};

mod photos;
mod pull;
mod push;

pub(crate) use pull::{Pulled, WAITING};

const KEY_URL: &str = "server_url";
const KEY_TOKEN: &str = "server_token";
const KEY_ROLE: &str = "role";
const KEY_ORG_UNITS: &str = "org_units";

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

/// What one sync tells the app as it goes: the phase, how far, the bytes on the wire so far;
/// the app's answer false stops the sync at the next step.
struct Progress<'a> {
    client: &'a Client,
    before: Counters,
    callback: &'a mut dyn FnMut(&SyncProgress) -> bool,
    stop: &'a Cell<bool>,
}

impl Progress<'_> {
    fn tell(&mut self, phase: SyncPhase, done: u64, total: u64) {
        let now = self.client.counters();
        let bytes = (now.bytes_up + now.bytes_down)
            .saturating_sub(self.before.bytes_up + self.before.bytes_down);
        let go_on = (self.callback)(&SyncProgress {
            phase,
            done,
            total,
            bytes,
        });
        if !go_on {
            self.stop.set(true);
        }
    }

    fn go_on(&self) -> Result<(), CoreError> {
        if self.stop.get() {
            Err(CoreError::Cancelled)
        } else {
            Ok(())
        }
    }
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
        let key = self.custody_public_key()?;
        let answer = Client::enroll_with(
            &url,
            &code,
            &self.device_id(),
            device_label,
            app_version,
            Some(&key),
            jingtu_client::ClientOptions::default(),
        )
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
        let stop = Cell::new(false);
        let mut progress = Progress {
            client,
            before,
            callback: progress,
            stop: &stop,
        };
        let mut report = SyncReport::default();
        self.push_and_pull(client, &mut progress, &mut report)?;
        self.upload_pending_photos(client, &mut progress, &mut report)?;
        self.fetch_thumbnails(client, &mut progress, &mut report)?;

        self.store.set_last_sync(now_ms())?;
        let after = client.counters();
        report.round_trips = after.round_trips - before.round_trips;
        report.bytes_up = after.bytes_up - before.bytes_up;
        report.bytes_down = after.bytes_down - before.bytes_down;
        report.duration_ms = started.elapsed().as_millis() as u64;
        report.cursor = self.cursor()?;
        Ok(report)
    }
}

fn map_client(e: ClientError) -> CoreError {
    match e {
        ClientError::Cancelled => CoreError::Cancelled,
        other => CoreError::Sync(other),
    }
}
