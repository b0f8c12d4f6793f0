//! Server storage behind traits, so handlers never see SQL or file layout: records (their change
//! chunks and the feed with its monotonic sequence), photo blobs, and people: users with roles,
//! org units, device tokens, web sessions, enrollment codes and the audit log.
//! The embedded default is [`sqlite::SqliteStore`] plus [`files::PhotoFolder`]; PostgreSQL and an
//! S3-compatible store are to implement the same traits.

pub mod catalog;
pub mod disk;
pub mod files;
pub mod scope;
pub mod sqlite;

use jingtu_model::Role;
use jingtu_protocol::{AuditRecord, FeedChunk, PhotoStateKind};
use thiserror::Error;

use crate::people::org::{self, OrgUnit};

#[derive(Debug, Error)]
pub enum StorageError {
    /// The disk is full: nothing was written.
    #[error("the disk is full")]
    Full,
    /// The data is on a read-only file system (or its files may not be written).
    #[error("the storage is read-only")]
    ReadOnly,
    /// Another writer held the database longer than the server waits.
    #[error("the database is busy")]
    Busy,
    /// Any other failure of the database; the detail is for the log, not for clients.
    #[error("database: {0}")]
    Database(String),
    #[error("io: {0}")]
    Io(std::io::Error),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} exists already")]
    Exists(String),
    #[error(
        "the database was written by a newer jingtu-server (schema {found}, this one knows {known})"
    )]
    TooNew { found: i64, known: i64 },
}

impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => StorageError::Full,
            Some(ErrorCode::ReadOnly) => StorageError::ReadOnly,
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StorageError::Busy,
            _ => StorageError::Database(e.to_string()),
        }
    }
}

impl From<std::io::Error> for StorageError {
    fn from(e: std::io::Error) -> Self {
        match e.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => StorageError::Full,
            Some(libc::EROFS) => StorageError::ReadOnly,
            _ => StorageError::Io(e),
        }
    }
}

/// New changes of one record accepted from a device, to store with a feed sequence.
#[derive(Debug, Clone)]
pub struct NewChunk {
    pub record: String,
    pub bytes: Vec<u8>,
    /// From the record's meta, for reports and scoping.
    pub kind: String,
    pub org_unit: Option<String>,
    pub assignment: Option<String>,
    /// The user whose device pushed it (kept as the record's owner when it is new).
    pub owner: String,
    /// SHA-256 of every photo the record holds (who may read a photo follows its records).
    pub photos: Vec<String>,
    /// The record's version the changes were checked against ([`StoredRecord::version`]), or
    /// `None` for a record the server did not hold: the chunk is stored only if the record is
    /// still at that version.
    pub base: Option<u64>,
    /// What the review queue shows of the record after these changes, stored with them.
    pub index: Option<RecordIndex>,
}

/// What the review queue shows of a record, read from its document and kept beside it,
/// updated by every commit (lists never open documents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordIndex {
    pub status: jingtu_doc::Status,
    /// As lists call it ([`jingtu_model::Template::record_name`]).
    pub name: String,
    pub village: Option<String>,
    /// Who created it.
    pub author: String,
    /// When the latest submission was made (device time).
    pub submitted_at_ms: Option<i64>,
    /// A soil sample's lab hand-ins (one, as a rule), for the lab's blind-code pages.
    pub lab_samples: Vec<LabSampleIndex>,
    /// The names a soil sample was handed over to: those who are users here hold it (it
    /// reaches their devices, and they add its custody events).
    pub custody_to: Vec<String>,
}

/// A sample handed in to a lab under a blind code (送检), as the record's chain says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabSampleIndex {
    pub blind_code: String,
    /// The lab it was handed in to, as the hand-in names it.
    pub lab: String,
    pub handed_in_at_ms: i64,
    /// How many lab results the record holds (values and items reported not detected).
    pub entered: u32,
}

/// A row of the lab's list: the hand-in and the record behind it (never shown to the lab).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabSampleRow {
    pub record: String,
    pub org_unit: Option<String>,
    pub sample: LabSampleIndex,
}

/// Which records the review queue shows, one page at a time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueFilter {
    pub kind: Option<String>,
    pub status: Option<jingtu_doc::Status>,
    /// An org unit's code: the records within it.
    pub org_unit: Option<String>,
    /// Part of the village's name.
    pub village: Option<String>,
    /// Last change received at or after / before (milliseconds since 1970).
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// The user the record's assignment is given to.
    pub assignee: Option<String>,
    /// Part of the record's name or village, or the start of its id.
    pub text: Option<String>,
    /// The page after this record (keyset paging: newest change first).
    pub after: Option<QueueKey>,
    pub limit: u32,
    /// Leave out the counts per status (readers that walk every page: exports, ledgers).
    pub without_counts: bool,
}

/// Where a page of the queue ends: the last row's time of change and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueKey {
    pub updated_at_ms: i64,
    pub id: String,
}

impl QueueKey {
    /// `TIME.ID`, as it travels in a link or query.
    pub fn to_token(&self) -> String {
        format!("{}.{}", self.updated_at_ms, self.id)
    }

    pub fn parse(token: &str) -> Option<QueueKey> {
        let (t, id) = token.split_once('.')?;
        Some(QueueKey {
            updated_at_ms: t.parse().ok()?,
            id: id.to_string(),
        })
    }
}

/// One record in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRow {
    pub id: String,
    pub kind: String,
    pub org_unit: Option<String>,
    pub assignment: Option<String>,
    pub status: jingtu_doc::Status,
    pub name: String,
    pub village: Option<String>,
    pub author: String,
    pub submitted_at_ms: Option<i64>,
    /// When the server last received a change of it.
    pub updated_at_ms: i64,
}

/// A page of the queue, with the count per status of every record the filter (less its
/// status and page) takes in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueuePage {
    pub rows: Vec<QueueRow>,
    pub next: Option<QueueKey>,
    pub counts: Vec<(jingtu_doc::Status, u64)>,
}

/// A record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Every stored change (a snapshot and the chunks after it, concatenated).
    pub bytes: Vec<u8>,
    /// The feed sequence of its newest chunk: what a conditional commit compares.
    pub version: u64,
}

/// What a conditional commit did with one chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// Stored with this feed sequence.
    Stored(u64),
    /// Not stored: the record moved past the chunk's base version (another push of it was
    /// stored meanwhile). Load it again, apply and check again.
    Stale,
}

/// One page of the feed.
#[derive(Debug, Clone, Default)]
pub struct FeedPage {
    pub chunks: Vec<FeedChunk>,
    /// The highest sequence read (the device's next cursor).
    pub cursor: u64,
    pub more: bool,
}

/// Records and the change feed.
///
/// Pushes are safe without any lock of the caller's: a chunk is committed only if its record
/// is still at the version it was checked against ([`NewChunk::base`]), so two pushes of one
/// record at once, in one process or in several on one database, never both store the same
/// changes, and no change is checked against a record that has moved on.
pub trait RecordStore: Send + Sync + 'static {
    /// A record's stored changes and its version, read consistently.
    fn load_record(&self, id: &str) -> Result<Option<StoredRecord>, StorageError>;
    /// Stores each chunk whose record is still at its base version, in one transaction, and
    /// says per chunk what it did. Feed sequences are handed out in commit order (a device
    /// that read up to N never later meets a chunk below N).
    fn commit_chunks(&self, device: &str, chunks: &[NewChunk])
    -> Result<Vec<Commit>, StorageError>;
    /// Replaces the chunks of a record up to `upto_seq` by a snapshot (they stay in the feed).
    fn save_snapshot(&self, id: &str, upto_seq: u64, bytes: &[u8]) -> Result<(), StorageError>;
    /// How many chunks a load of the record reads.
    fn chunk_count(&self, id: &str) -> Result<u64, StorageError>;
    /// Feed chunks after `cursor`, in order, leaving out those `exclude_device` sent, up to
    /// about `max_bytes`.
    fn feed_after(
        &self,
        cursor: u64,
        exclude_device: &str,
        scope: &scope::ReadScope,
        max_bytes: u64,
    ) -> Result<FeedPage, StorageError>;
    /// Counts for `/metrics` and `/readyz`.
    fn stats(&self) -> Result<StoreStats, StorageError>;
    /// A page of the review queue within `scope`.
    fn queue(
        &self,
        scope: &scope::ReadScope,
        filter: &QueueFilter,
    ) -> Result<QueuePage, StorageError>;
    /// Up to `limit` records without an index (stored before the index existed).
    fn unindexed(&self, limit: u32) -> Result<Vec<String>, StorageError>;
    /// Sets a record's index (for records stored before the index existed).
    fn set_index(&self, id: &str, index: &RecordIndex) -> Result<(), StorageError>;
    /// Samples handed in to labs, newest hand-in first, at most `limit`: those of records
    /// within `org_prefixes` (significant prefixes of org unit codes; `None`: everywhere), and
    /// with `blind_code` only those under that code.
    fn lab_samples(
        &self,
        org_prefixes: Option<&[String]>,
        blind_code: Option<&str>,
        limit: u32,
    ) -> Result<Vec<LabSampleRow>, StorageError>;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct StoreStats {
    pub records: u64,
    pub feed_seq: u64,
    pub users: u64,
    pub devices: u64,
}

/// Why a photo part was not taken.
#[derive(Debug, Error)]
pub enum PhotoError {
    #[error("the upload is at byte {current}, not {given}")]
    OffsetMismatch { current: u64, given: u64 },
    #[error("the bytes do not hash to {0}")]
    HashMismatch(String),
    #[error("{0}")]
    TooLarge(String),
    /// No room for the upload now (the quota of unfinished uploads, or the disk's reserve):
    /// the device tries again later.
    #[error("{0}")]
    Full(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A photo's thumbnail as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Thumbnail {
    Stored(Vec<u8>),
    /// The photo was tried and does not decode: no thumbnail will be made.
    Undecodable,
    /// None yet (or the photo is not stored).
    None,
}

/// Photo blobs by SHA-256, with resumable uploads, and the thumbnails the photo service
/// ([`crate::photos`]) makes of them. A store keeps bytes; it decodes nothing.
pub trait PhotoStore: Send + Sync + 'static {
    /// What is held of a photo, and how many bytes of an unfinished upload.
    fn state(&self, hash: &str) -> Result<(PhotoStateKind, u64), StorageError>;
    /// Appends a part at `offset` of a photo of `total` bytes. When the last byte arrives the
    /// SHA-256 is checked: on a match the photo is stored (and `true` returned), otherwise the
    /// upload is discarded and [`PhotoError::HashMismatch`] returned.
    fn append(
        &self,
        hash: &str,
        offset: u64,
        total: u64,
        part: &[u8],
    ) -> Result<(u64, bool), PhotoError>;
    /// The stored image.
    fn read(&self, hash: &str) -> Result<Option<Vec<u8>>, StorageError>;
    fn thumbnail(&self, hash: &str) -> Result<Thumbnail, StorageError>;
    /// Keeps the thumbnail made of a stored photo, or (`None`) that it does not decode.
    fn put_thumbnail(&self, hash: &str, thumbnail: Option<&[u8]>) -> Result<(), StorageError>;
    fn count(&self) -> Result<u64, StorageError>;
}

/// A device token as the server knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: i64,
    pub user: String,
    pub label: Option<String>,
    pub created_at_ms: i64,
    pub last_seen_ms: Option<i64>,
    pub revoked: bool,
    /// The device the token is bound to (its actor id), when it enrolled by code.
    pub device_id: Option<String>,
    /// The app version the device last reported (`X-Jingtu-App-Version`).
    pub app_version: Option<String>,
    pub revoked_at_ms: Option<i64>,
    /// The ed25519 public key (hex) the device signs custody events with, registered at
    /// enrollment (none for devices enrolled before signing).
    pub signing_key: Option<String>,
}

/// A user with their role and org units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// Division codes, sorted.
    pub org_units: Vec<String>,
    pub has_password: bool,
    pub disabled: bool,
    pub created_at_ms: i64,
    /// Locked out of the web login until then, after repeated failures.
    pub locked_until_ms: Option<i64>,
}

impl UserInfo {
    /// Does this user's reach (their org units' subtrees; everything for an admin) take in
    /// the unit `code`?
    pub fn covers(&self, code: &str) -> bool {
        self.role == Role::Admin || org::within_any(code, &self.org_units)
    }
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub name: String,
    pub role: Role,
    /// Each must be a stored org unit.
    pub org_units: Vec<String>,
    /// An argon2id PHC string.
    pub password_hash: Option<String>,
}

/// A device enrolling with a code.
#[derive(Debug, Clone)]
pub struct NewDevice {
    pub token_hash: String,
    pub device_id: String,
    pub label: Option<String>,
    pub app_version: Option<String>,
    /// The device's custody signing key (hex ed25519 public key).
    pub signing_key: Option<String>,
}

/// What a device token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenLookup {
    /// A live token of an enabled user.
    Live(TokenInfo, UserInfo),
    /// A revoked token (or one of a disabled user): refused, and worth an audit entry.
    Revoked(TokenInfo),
    Unknown,
}

/// A live web session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: i64,
    pub user: UserInfo,
    pub csrf_token: String,
    pub expires_at_ms: i64,
}

/// An enrollment code as stored (its hash is not shown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentCodeInfo {
    pub id: i64,
    pub user: String,
    pub issued_by: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub used_at_ms: Option<i64>,
}

/// A code exchanged for a device token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeemed {
    pub token: TokenInfo,
    pub user: UserInfo,
    pub code_id: i64,
    /// Live tokens of the same user and device that the new one replaces (revoked).
    pub replaced: Vec<i64>,
    /// The same device presented the code again shortly after using it (its answer was lost):
    /// it got a new token and the first one was revoked.
    pub retry: bool,
}

/// Why a code was not exchanged.
#[derive(Debug, Error)]
pub enum RedeemError {
    #[error("no such enrollment code")]
    Unknown,
    #[error("the enrollment code {id} expired")]
    Expired { id: i64 },
    #[error("the enrollment code {id} was used already")]
    Used { id: i64 },
    #[error("the user of enrollment code {id} is disabled")]
    UserDisabled { id: i64 },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// How failed logins lock a user out.
#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    pub failures: u32,
    pub window_ms: i64,
    pub lock_ms: i64,
}

/// Users, device tokens, web sessions and enrollment codes. Secrets are stored as SHA-256 (of
/// 80 to 256 random bits); passwords as argon2id PHC strings. Lookups by hash compare the
/// stored hash again in constant time.
pub trait AuthStore: OrgStore + AuditLog {
    /// Creates an admin with no org units and no password (`admin create-user`, first start).
    fn create_user(&self, name: &str) -> Result<(), StorageError>;
    fn user_count(&self) -> Result<u64, StorageError>;
    /// A device token not bound to a device (`admin issue-token`).
    fn add_token(
        &self,
        user: &str,
        token_hash: &str,
        label: Option<&str>,
    ) -> Result<TokenInfo, StorageError>;
    /// The live token with this hash (and marks it seen).
    fn find_token(&self, token_hash: &str) -> Result<Option<TokenInfo>, StorageError>;
    fn list_tokens(&self) -> Result<Vec<TokenInfo>, StorageError>;
    fn revoke_token(&self, id: i64) -> Result<(), StorageError>;

    /// Creates a user; `Exists` when the name is taken, `NotFound` for an unknown org unit.
    fn add_user(&self, user: &NewUser) -> Result<UserInfo, StorageError>;
    fn user(&self, name: &str) -> Result<Option<UserInfo>, StorageError>;
    fn list_users(&self) -> Result<Vec<UserInfo>, StorageError>;
    /// The user and their password hash, for a login.
    fn login_subject(&self, name: &str)
    -> Result<Option<(UserInfo, Option<String>)>, StorageError>;
    /// Sets (or with `None` removes) a user's password hash.
    fn set_password(&self, name: &str, password_hash: Option<&str>) -> Result<(), StorageError>;
    /// Disables a user, revokes their device tokens and ends their sessions, in one
    /// transaction; returns the revoked token ids.
    fn disable_user(&self, name: &str) -> Result<Vec<i64>, StorageError>;
    /// Changes a user's role and/or org units (each must be a stored org unit), and enables a
    /// disabled user again when `enable`; returns the user as now. What the user's devices
    /// see follows at their next sync.
    fn change_user(
        &self,
        name: &str,
        role: Option<Role>,
        org_units: Option<&[String]>,
        enable: bool,
    ) -> Result<UserInfo, StorageError>;
    /// Takes one of the user's login attempts before the password is checked: it counts as
    /// a failure of the window until [`Self::login_succeeded`] clears it, so guesses sent in
    /// parallel get no more tries than `policy.failures` (across server instances too).
    /// `Err(until)`: the user is locked out, from before or because the window's attempts
    /// are used up.
    fn login_attempt(
        &self,
        user_id: i64,
        now_ms: i64,
        policy: &LockoutPolicy,
    ) -> Result<Result<(), i64>, StorageError>;
    /// The attempt's password was wrong: when the window's attempts reach `policy.failures`,
    /// locks the user out and returns until when.
    fn login_failed(
        &self,
        user_id: i64,
        now_ms: i64,
        policy: &LockoutPolicy,
    ) -> Result<Option<i64>, StorageError>;
    /// Forgets a user's failed logins (after a successful one).
    fn login_succeeded(&self, user_id: i64) -> Result<(), StorageError>;

    /// Stores a session (its id's hash) until `expires_at_ms`.
    fn create_session(
        &self,
        user_id: i64,
        session_hash: &str,
        csrf_token: &str,
        expires_at_ms: i64,
    ) -> Result<i64, StorageError>;
    /// The live session with this hash, of an enabled user, not expired at `now_ms`.
    fn find_session(
        &self,
        session_hash: &str,
        now_ms: i64,
    ) -> Result<Option<SessionInfo>, StorageError>;
    /// Ends a session; false when there was none.
    fn end_session(&self, session_hash: &str) -> Result<bool, StorageError>;

    /// What a device token is; a live one is marked seen (at most once a minute) and takes the
    /// app version when it changed.
    fn lookup_token(
        &self,
        token_hash: &str,
        app_version: Option<&str>,
    ) -> Result<TokenLookup, StorageError>;
    fn token(&self, id: i64) -> Result<Option<TokenInfo>, StorageError>;

    fn add_enrollment_code(
        &self,
        user: &str,
        code_hash: &str,
        issued_by: &str,
        expires_at_ms: i64,
    ) -> Result<EnrollmentCodeInfo, StorageError>;
    fn enrollment_code(&self, id: i64) -> Result<Option<EnrollmentCodeInfo>, StorageError>;
    /// Every custody signing key device `device_id` ever enrolled with (revoked tokens too:
    /// a revocation shuts the device out, it does not unsign what it wrote before).
    fn device_signing_keys(&self, device_id: &str) -> Result<Vec<String>, StorageError>;
    /// Exchanges a code for a device token bound to its user and `device.device_id`, in one
    /// transaction: the code is used up, live tokens of the same user and device are revoked.
    /// The same device may present a used code again within `retry_window_ms` of its use (an
    /// answer lost on a bad line): it gets a new token and the previous one is revoked.
    fn redeem_enrollment_code(
        &self,
        code_hash: &str,
        now_ms: i64,
        device: &NewDevice,
        retry_window_ms: i64,
    ) -> Result<Redeemed, RedeemError>;
}

/// The org unit tree.
pub trait OrgStore: Send + Sync + 'static {
    /// Inserts or updates units in one transaction (all or none). Units may come in any order;
    /// each one's parent must be stored already or be among `units`.
    fn import_org_units(&self, units: &[OrgUnit]) -> Result<OrgImport, OrgImportError>;
    fn org_unit(&self, code: &str) -> Result<Option<OrgUnit>, StorageError>;
    /// Units in code order: all, or those within `under` (itself included).
    fn org_units(&self, under: Option<&str>) -> Result<Vec<OrgUnit>, StorageError>;
    /// The codes of the stored units within `code`, itself included, sorted. Read as a range
    /// of the primary key by the code prefix rule ([`org::prefix_of`]; import checks every
    /// parent link against the same rule), so it costs one index range scan.
    fn org_subtree(&self, code: &str) -> Result<Vec<String>, StorageError>;
}

/// Counts of an org unit import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrgImport {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

#[derive(Debug, Error)]
pub enum OrgImportError {
    /// `units[index]` names a parent that is neither stored nor imported.
    #[error("the parent {parent} of {code} is neither stored nor in the import")]
    MissingParent {
        index: usize,
        code: String,
        parent: String,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What an audit entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    Enroll,
    EnrollRefused,
    Login,
    LoginFailed,
    LoginLocked,
    Logout,
    TokenIssued,
    TokenRevoked,
    /// A request with a revoked token (or one of a disabled user).
    TokenRefused,
    DeviceRevoked,
    EnrollmentCodeIssued,
    UserCreated,
    UserDisabled,
    /// A user's role or org units changed, or the user was enabled again.
    UserChanged,
    PasswordSet,
    OrgImport,
    /// A push refused by the write rules.
    PushRefused,
    /// A supervisor approved, returned or reopened a record.
    ReviewAction,
    /// A template or code tables published for devices.
    CatalogPublished,
    /// Planned sampling points imported.
    PointsImport,
}

impl AuditAction {
    pub const ALL: [AuditAction; 20] = [
        AuditAction::Enroll,
        AuditAction::EnrollRefused,
        AuditAction::Login,
        AuditAction::LoginFailed,
        AuditAction::LoginLocked,
        AuditAction::Logout,
        AuditAction::TokenIssued,
        AuditAction::TokenRevoked,
        AuditAction::TokenRefused,
        AuditAction::DeviceRevoked,
        AuditAction::EnrollmentCodeIssued,
        AuditAction::UserCreated,
        AuditAction::UserDisabled,
        AuditAction::UserChanged,
        AuditAction::PasswordSet,
        AuditAction::OrgImport,
        AuditAction::PushRefused,
        AuditAction::ReviewAction,
        AuditAction::CatalogPublished,
        AuditAction::PointsImport,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Enroll => "enroll",
            AuditAction::EnrollRefused => "enroll_refused",
            AuditAction::Login => "login",
            AuditAction::LoginFailed => "login_failed",
            AuditAction::LoginLocked => "login_locked",
            AuditAction::Logout => "logout",
            AuditAction::TokenIssued => "token_issued",
            AuditAction::TokenRevoked => "token_revoked",
            AuditAction::TokenRefused => "token_refused",
            AuditAction::DeviceRevoked => "device_revoked",
            AuditAction::EnrollmentCodeIssued => "enrollment_code_issued",
            AuditAction::UserCreated => "user_created",
            AuditAction::UserDisabled => "user_disabled",
            AuditAction::UserChanged => "user_changed",
            AuditAction::PasswordSet => "password_set",
            AuditAction::OrgImport => "org_import",
            AuditAction::PushRefused => "push_refused",
            AuditAction::ReviewAction => "review_action",
            AuditAction::CatalogPublished => "catalog_published",
            AuditAction::PointsImport => "points_import",
        }
    }

    pub fn parse(s: &str) -> Option<AuditAction> {
        AuditAction::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditOutcome {
    Ok,
    Refused,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Ok => "ok",
            AuditOutcome::Refused => "refused",
        }
    }
}

/// Who does what from where. `actor` is a user name, [`AuditEntry::SYSTEM`] (the admin command
/// line) or [`AuditEntry::ANONYMOUS`].
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub actor: String,
    /// The device token used, if any.
    pub device: Option<i64>,
    pub device_id: Option<String>,
    pub remote_addr: Option<String>,
    pub action: AuditAction,
    pub target: Option<String>,
    pub outcome: AuditOutcome,
    /// A JSON object with whatever else explains the entry (a refusal's rule and path ...).
    pub detail: serde_json::Value,
}

impl AuditEntry {
    pub const SYSTEM: &'static str = "system";
    pub const ANONYMOUS: &'static str = "anonymous";

    /// An entry with no device, address, target or detail.
    pub fn new(actor: &str, action: AuditAction, outcome: AuditOutcome) -> AuditEntry {
        AuditEntry {
            actor: actor.to_string(),
            device: None,
            device_id: None,
            remote_addr: None,
            action,
            target: None,
            outcome,
            detail: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }
}

/// Which audit entries to read.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Entries whose actor or target is this user.
    pub user: Option<String>,
    pub action: Option<AuditAction>,
    pub since_ms: Option<i64>,
    /// At most this many, newest first (0 reads 100).
    pub limit: u32,
}

/// The audit log: appended to, never changed.
pub trait AuditLog: Send + Sync + 'static {
    fn audit(&self, entry: &AuditEntry) -> Result<(), StorageError>;
    /// Entries newest first.
    fn audit_query(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StorageError>;
}
