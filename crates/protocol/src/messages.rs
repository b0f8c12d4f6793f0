//! The messages. Field names are part of the protocol (MessagePack maps keep them); adding an
//! optional field is compatible, anything else needs a new [`PROTOCOL_VERSION`].

use serde::{Deserialize, Serialize};

/// The version of this protocol. A server answers a request of another version with
/// `426 Upgrade Required` and error code `protocol_version`.
pub const PROTOCOL_VERSION: u32 = 1;

/// The media type of framed messages (see `codec`).
pub const CONTENT_TYPE: &str = "application/vnd.jingtu.v1+msgpack";

/// Paths of the HTTP API.
pub mod paths {
    pub const SYNC: &str = "/v1/sync";
    pub const PHOTO_STATUS: &str = "/v1/photos/status";
    /// `/v1/photos/{sha256}`: `PATCH` uploads a part, `GET` downloads.
    pub const PHOTO: &str = "/v1/photos";
    /// The route of one photo ([`PHOTO`] and its hash).
    pub const PHOTO_BY_HASH: &str = "/v1/photos/{hash}";
    pub const HEALTHZ: &str = "/healthz";
    pub const READYZ: &str = "/readyz";
    pub const METRICS: &str = "/metrics";
    pub const OPENAPI: &str = "/openapi.json";
    /// People and devices (JSON; docs/people.md).
    pub const LOGIN: &str = "/v1/login";
    pub const LOGOUT: &str = "/v1/logout";
    pub const ENROLL: &str = "/v1/enroll";
    pub const ENROLLMENT_CODES: &str = "/v1/enrollment-codes";
    /// `/v1/enrollment-codes/{id}/qr.png`
    pub const ENROLLMENT_CODE_QR: &str = "/v1/enrollment-codes/{id}/qr.png";
    pub const DEVICES: &str = "/v1/devices";
    /// `/v1/devices/{id}/revoke`
    pub const DEVICE_REVOKE: &str = "/v1/devices/{id}/revoke";
    pub const AUDIT: &str = "/v1/audit";
    /// Assignments (JSON): `GET` lists, `POST` gives one.
    pub const ASSIGNMENTS: &str = "/v1/assignments";
    /// `/v1/assignments/{id}/remove`: takes one back.
    pub const ASSIGNMENT_REMOVE: &str = "/v1/assignments/{id}/remove";
    /// `/v1/assignments/{id}/reassign`: hands one to another field user.
    pub const ASSIGNMENT_REASSIGN: &str = "/v1/assignments/{id}/reassign";
    /// Templates and code tables by hash (`POST`, MessagePack; see [`crate::CatalogRequest`]).
    pub const CATALOG: &str = "/v1/catalog";
    /// Review (JSON, supervisors and admins): the queue of records within reach.
    pub const REVIEW_QUEUE: &str = "/v1/review/queue";
    /// `/v1/records/{id}`: a record as a supervisor reads it.
    pub const RECORD: &str = "/v1/records/{id}";
    /// `/v1/records/{id}/review`: approve, return or reopen.
    pub const RECORD_REVIEW: &str = "/v1/records/{id}/review";
    /// `/v1/records/{id}/comments`: comment without deciding.
    pub const RECORD_COMMENTS: &str = "/v1/records/{id}/comments";
    /// `/v1/records/{id}/resolve`: resolve a conflict.
    pub const RECORD_RESOLVE: &str = "/v1/records/{id}/resolve";
    /// County ledgers (JSON, supervisors and admins): the black-odorous water bodies with
    /// their lifecycle, from the submitted and approved checks within reach.
    pub const LEDGER_WATER_BODIES: &str = "/v1/ledger/water-bodies";
    /// The sewage facilities against task 19's schedule (`?year=2024&as_of=2024-08-15`).
    pub const LEDGER_SEWAGE_FACILITIES: &str = "/v1/ledger/sewage-facilities";
    /// Exports (supervisors and admins): the records of one kind within reach as CSV, XLSX or
    /// GeoJSON, with the review queue's filters (`?kind=...&format=csv`).
    pub const EXPORT: &str = "/v1/export";
    /// Lab results (JSON, lab staff and admins, for a LIMS): the samples handed in under
    /// blind codes within the caller's org units.
    pub const LAB_SAMPLES: &str = "/v1/lab/samples";
    /// `/v1/lab/samples/{code}`: a sample by its blind code, as the lab sees it.
    pub const LAB_SAMPLE: &str = "/v1/lab/samples/{code}";
    /// `/v1/lab/samples/{code}/results`: enters results, in one change.
    pub const LAB_SAMPLE_RESULTS: &str = "/v1/lab/samples/{code}/results";
}

/// Header of a photo part upload: the byte offset of the part in the photo.
pub const HEADER_UPLOAD_OFFSET: &str = "upload-offset";
/// Header of a photo part upload: the size of the whole photo.
pub const HEADER_UPLOAD_LENGTH: &str = "upload-length";
/// The largest part of a photo one request may carry.
pub const MAX_PHOTO_PART_BYTES: usize = 1024 * 1024;
/// The largest photo the server stores.
pub const MAX_PHOTO_BYTES: u64 = 32 * 1024 * 1024;

/// One request of a device: its new changes, and how far it has read the server's feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncRequest {
    pub protocol: u32,
    /// The device's id (its Automerge actor id, hex).
    pub device: String,
    /// The highest feed sequence the device has taken in (0 at first).
    pub cursor: u64,
    /// Changes the server has not confirmed yet, one entry per record.
    pub pushes: Vec<Push>,
    /// How many bytes of feed chunks the device wants at most in the answer (the server may
    /// cap it lower); the rest comes with `more = true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_bytes: Option<u64>,
    /// The scope the device has fully taken in (0 at first; see [`crate::ScopeUpdate`]).
    #[serde(default)]
    pub scope_seq: u64,
    /// While taking in a scope change page by page: the scope it moves to ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_target: Option<u64>,
    /// ... and the last entered record it took in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_after: Option<String>,
    /// The digest of the catalog (templates, code tables) the device took in last; the answer
    /// lists the catalog when it differs (see [`crate::CatalogListing`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<String>,
}

/// New changes of one record: Automerge change chunks (`save_after` of the heads the server
/// last confirmed; a whole document is also accepted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Push {
    pub record: String,
    #[serde(with = "serde_bytes")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Binary))]
    pub changes: Vec<u8>,
}

/// The answer: what became of each push, then the feed after the device's cursor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncResponse {
    pub protocol: u32,
    /// One result per push, in the order of the pushes.
    pub results: Vec<PushResult>,
    /// Feed chunks after the cursor, in sequence order, less the device's own.
    pub chunks: Vec<FeedChunk>,
    /// The cursor to send next time (store it after storing the chunks).
    pub cursor: u64,
    /// More chunks wait: send another request with the new cursor.
    pub more: bool,
    pub server_time_ms: i64,
    /// Present when the user's scope moved since the device's `scope_seq`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<crate::ScopeUpdate>,
    /// Present when the catalog meant for the device differs from the request's `catalog`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<crate::CatalogListing>,
}

/// What became of one push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushResult {
    pub record: String,
    /// `accepted`: stored durably (or already known); `refused`: see `code` and `message`.
    pub outcome: PushOutcome,
    /// Changes new to the server.
    pub new_changes: u32,
    /// The feed sequence of the stored chunk, when something new was stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// For `forbidden`: the rule the changes broke (`review_by_supervisor`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// For `forbidden`: the document path the first refused operation touched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PushOutcome {
    Accepted,
    Refused,
}

/// Push refusal codes.
pub mod refusal {
    /// The bytes do not load as Automerge changes.
    pub const CORRUPT: &str = "corrupt_changes";
    /// The changes need earlier changes the server does not have: push the whole record.
    pub const MISSING_DEPS: &str = "missing_deps";
    /// The result is not a jingtu record, or it is another record than named.
    pub const NOT_A_RECORD: &str = "not_a_record";
    /// Over the size limits.
    pub const TOO_LARGE: &str = "too_large";
    /// The record id is not a UUID.
    pub const BAD_RECORD_ID: &str = "bad_record_id";
    /// The author's role may not make these changes (see `rule` and `path`). The changes are
    /// not stored; the device keeps them as refused edits and rebuilds the record.
    pub const FORBIDDEN: &str = "forbidden";
    /// The record lies outside what the author may write (another township's record, an
    /// assignment of someone else).
    pub const OUT_OF_SCOPE: &str = "out_of_scope";
    /// Other pushes of the record were stored while this one was checked, again and again:
    /// nothing was stored, and the device sends it again at its next sync.
    pub const BUSY: &str = "busy";
}

/// New changes of one record, as the server stored them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeedChunk {
    pub seq: u64,
    pub record: String,
    #[serde(with = "serde_bytes")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Binary))]
    pub bytes: Vec<u8>,
}

/// Which of these photos does the server hold?
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PhotoStatusRequest {
    pub protocol: u32,
    pub hashes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PhotoStatusResponse {
    pub protocol: u32,
    pub photos: Vec<PhotoState>,
}

/// What the server holds of one photo: `stored` (verified), `partial` (an interrupted upload,
/// `offset` bytes received) or `missing`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PhotoState {
    pub hash: String,
    pub state: PhotoStateKind,
    #[serde(default)]
    pub offset: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PhotoStateKind {
    Missing,
    Partial,
    Stored,
    /// No record the caller may see holds this photo: the server neither takes nor gives it
    /// (the device keeps it pending, e.g. while its record's push is refused).
    Refused,
}

/// The answer to a photo part upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PhotoUploadResponse {
    pub protocol: u32,
    pub hash: String,
    /// Bytes the server now holds.
    pub offset: u64,
    /// True once all bytes arrived and the SHA-256 matched.
    pub stored: bool,
}

/// The body of every error answer (JSON): `{"error": {"code": ..., "message": ...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    /// For `offset_mismatch`: the offset the server holds, to resume from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

/// Is `s` a photo content id (64 lowercase hex digits)? See [`PhotoHash`].
pub fn is_photo_hash(s: &str) -> bool {
    PhotoHash::is_valid(s)
}

pub use jingtu_model::PhotoHash;

/// Is `s` a record id (a UUID in its hyphenated lowercase form)?
pub fn is_record_id(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}
