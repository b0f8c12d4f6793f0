//! Server storage behind traits, so handlers never see SQL or file layout: records (their change
//! chunks and the feed with its monotonic sequence), photo blobs, and users with device tokens.
//! The embedded default is [`sqlite::SqliteStore`] plus [`files::PhotoFolder`]; PostgreSQL and an
//! S3-compatible store are to implement the same traits.

pub mod files;
pub mod sqlite;

use jingtu_protocol::{FeedChunk, PhotoStateKind};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StorageError {
    #[error("database: {0}")]
    Database(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
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
        StorageError::Database(e.to_string())
    }
}

/// New changes of one record accepted from a device, to store with a feed sequence.
#[derive(Debug, Clone)]
pub struct NewChunk {
    pub record: String,
    pub bytes: Vec<u8>,
    /// From the record's meta, for reports and (later) scoping.
    pub kind: String,
    pub org_unit: Option<String>,
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
pub trait RecordStore: Send + Sync + 'static {
    /// Every stored change of a record (a snapshot and the chunks after it, concatenated).
    fn load_record(&self, id: &str) -> Result<Option<Vec<u8>>, StorageError>;
    /// Stores chunks in one transaction; returns their feed sequences, which are handed out in
    /// commit order (a device that read up to N never later meets a chunk below N).
    fn commit_chunks(&self, device: &str, chunks: &[NewChunk]) -> Result<Vec<u64>, StorageError>;
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
        max_bytes: u64,
    ) -> Result<FeedPage, StorageError>;
    /// Counts for `/metrics` and `/readyz`.
    fn stats(&self) -> Result<StoreStats, StorageError>;
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
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Photo blobs by SHA-256, with resumable uploads.
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
    /// The stored image, or its thumbnail.
    fn read(&self, hash: &str, thumbnail: bool) -> Result<Option<Vec<u8>>, StorageError>;
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
}

/// Users and their device tokens (stored as SHA-256 of the token: tokens are 256 random bits).
pub trait AuthStore: Send + Sync + 'static {
    fn create_user(&self, name: &str) -> Result<(), StorageError>;
    fn user_count(&self) -> Result<u64, StorageError>;
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
}
