//! The one error type of the API, and how core errors map to it.

use jingtu_core::CoreError;

use crate::record::ValidationIssue;

/// The one error type of the API. Kotlin sees it as `JingtuException`, Swift as `JingtuError`.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum JingtuError {
    /// No record, template or conflict with that id or path.
    #[error("not found: {what}")]
    NotFound { what: String },
    /// A value, path or id the app passed is not acceptable; `field` names it.
    #[error("invalid input for '{field}': {reason}")]
    InvalidInput { field: String, reason: String },
    /// Submit refused: the record has errors; each issue names its field.
    #[error("cannot submit: {} error(s)", issues.len())]
    SubmitBlocked { issues: Vec<ValidationIssue> },
    /// The record's state does not allow this (submitted, approved, unresolved conflict).
    #[error("not allowed now: {reason}")]
    InvalidState { reason: String },
    /// Another process has this store open.
    #[error("the store at {path} is open in another process")]
    StoreLocked { path: String },
    /// Bytes from another device or file that are not a valid record.
    #[error("not a valid record: {reason}")]
    BadRecord { reason: String },
    /// The listener asked to stop.
    #[error("cancelled")]
    Cancelled,
    /// The device storage failed (disk full, damaged file, ...).
    #[error("storage failure: {reason}")]
    Storage { reason: String },
    /// The server cannot be reached or failed after retries: try again later.
    #[error("network: {reason}")]
    Network { reason: String },
    /// The server does not accept this device's token (revoked or wrong): enroll again.
    #[error("unauthorized: {reason}")]
    Unauthorized { reason: String },
}

impl From<CoreError> for JingtuError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::NotFound(what) => JingtuError::NotFound { what },
            CoreError::PhotoNotFound(hash) => JingtuError::NotFound {
                what: format!("photo {hash}"),
            },
            CoreError::UnknownTemplate(t) => JingtuError::NotFound {
                what: format!("template {t}"),
            },
            CoreError::Ambiguous { prefix, matches } => JingtuError::InvalidInput {
                field: "id".into(),
                reason: format!("'{prefix}' matches {} records", matches.len()),
            },
            CoreError::UnknownField { template, path } => JingtuError::InvalidInput {
                reason: format!("no such field in {template}"),
                field: path,
            },
            CoreError::InvalidValue { path, reason } | CoreError::BadPath { path, reason } => {
                JingtuError::InvalidInput {
                    field: path,
                    reason,
                }
            }
            CoreError::SubmitBlocked { issues } => JingtuError::SubmitBlocked {
                issues: issues.into_iter().map(ValidationIssue::from).collect(),
            },
            CoreError::InvalidState(reason) => JingtuError::InvalidState { reason },
            CoreError::StoreLocked(p) => JingtuError::StoreLocked {
                path: p.display().to_string(),
            },
            CoreError::BadRecord(reason) => JingtuError::BadRecord { reason },
            CoreError::Cancelled => JingtuError::Cancelled,
            CoreError::NoServer => JingtuError::InvalidState {
                reason: "no server is set: call setServer first".into(),
            },
            CoreError::Sync(e) if e.is_unauthorized() => JingtuError::Unauthorized {
                reason: e.to_string(),
            },
            CoreError::Sync(e) => JingtuError::Network {
                reason: e.to_string(),
            },
            CoreError::BadPhoto(e) => JingtuError::InvalidInput {
                field: "photo".into(),
                reason: e.to_string(),
            },
            CoreError::Storage(e) => JingtuError::Storage {
                reason: e.to_string(),
            },
            CoreError::Template(reason) => JingtuError::Storage { reason },
        }
    }
}

pub(crate) type Result<T> = std::result::Result<T, JingtuError>;

/// A foreign signer (or listener) that failed in a way its interface does not name.
impl From<uniffi::UnexpectedUniFFICallbackError> for JingtuError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        JingtuError::InvalidState {
            reason: format!("the app's callback failed: {}", e.reason),
        }
    }
}
