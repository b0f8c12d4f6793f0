use std::path::PathBuf;

use thiserror::Error;

/// Errors of the device store.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("the store at {0} is open in another process (close it there first)")]
    Locked(PathBuf),
    #[error("the store file {path} is damaged or not a jingtu store: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("the store was written by a newer jingtu (schema {found}, this build knows {known})")]
    TooNew { found: i64, known: i64 },
    #[error("record {0} not found")]
    NotFound(String),
    #[error("record {0} already exists")]
    Exists(String),
    #[error("store I/O at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The device's storage is full: the write did not happen, and the store is as it was.
    #[error(
        "the device's storage is full: free some space (nothing was lost; the last change was not saved)"
    )]
    Full,
    /// The store's folder cannot be written (a read-only file system).
    #[error("the store cannot be written now (read-only storage): the last change was not saved")]
    ReadOnly,
    #[error("database: {0}")]
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => StoreError::Full,
            Some(ErrorCode::ReadOnly) => StoreError::ReadOnly,
            _ => StoreError::Sqlite(e),
        }
    }
}
