use std::path::PathBuf;

use jingtu_doc::DocError;
use jingtu_model::{Issue, ModelError};
use jingtu_store::StoreError;
use thiserror::Error;

/// Errors of the device core, each one something a caller can act on.
#[derive(Debug, Error)]
pub enum CoreError {
    #[error("record {0} not found")]
    NotFound(String),
    #[error("'{prefix}' matches several records: {matches:?}")]
    Ambiguous {
        prefix: String,
        matches: Vec<String>,
    },
    #[error("unknown template '{0}'")]
    UnknownTemplate(String),
    #[error("unknown field '{path}' in template {template}")]
    UnknownField { template: String, path: String },
    #[error("invalid value for '{path}': {reason}")]
    InvalidValue { path: String, reason: String },
    #[error("bad path '{path}': {reason}")]
    BadPath { path: String, reason: String },
    #[error("cannot submit: {} error(s), first at '{}': {}", .issues.len(),
        .issues.first().map(|i| i.path.as_str()).unwrap_or(""),
        .issues.first().map(|i| i.message.en.as_str()).unwrap_or(""))]
    SubmitBlocked { issues: Vec<Issue> },
    #[error("{0}")]
    InvalidState(String),
    #[error("the store at {0} is open in another process")]
    StoreLocked(PathBuf),
    #[error("not a valid record: {0}")]
    BadRecord(String),
    #[error("storage: {0}")]
    Storage(StoreError),
    #[error("template: {0}")]
    Template(String),
    #[error("photo {0} not found")]
    PhotoNotFound(String),
    #[error("photo: {0}")]
    BadPhoto(jingtu_media::MediaError),
    #[error("no server is set: enroll the device first")]
    NoServer,
    #[error("sync: {0}")]
    Sync(jingtu_client::ClientError),
    #[error("cancelled")]
    Cancelled,
}

impl From<StoreError> for CoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Locked(p) => CoreError::StoreLocked(p),
            StoreError::NotFound(id) => CoreError::NotFound(id),
            other => CoreError::Storage(other),
        }
    }
}

impl From<jingtu_media::MediaError> for CoreError {
    fn from(e: jingtu_media::MediaError) -> Self {
        CoreError::BadPhoto(e)
    }
}

impl From<ModelError> for CoreError {
    fn from(e: ModelError) -> Self {
        match e {
            ModelError::UnknownTemplate(t) => CoreError::UnknownTemplate(t),
            ModelError::UnknownField { template, path } => {
                CoreError::UnknownField { template, path }
            }
            ModelError::InvalidValue { path, reason } => CoreError::InvalidValue { path, reason },
            ModelError::BadPath { path, reason } => CoreError::BadPath { path, reason },
            other => CoreError::Template(other.to_string()),
        }
    }
}

impl From<DocError> for CoreError {
    fn from(e: DocError) -> Self {
        match e {
            DocError::Path { path, reason } => CoreError::BadPath { path, reason },
            DocError::Value { path, reason } => CoreError::InvalidValue { path, reason },
            DocError::Status(s) => CoreError::InvalidState(s),
            other => CoreError::BadRecord(other.to_string()),
        }
    }
}
