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
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
}
