use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jingtu_protocol::{ErrorBody, ErrorDetail};

use crate::storage::{PhotoError, StorageError};

/// An error answer: a status and `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub offset: Option<u64>,
    /// Sent as `Retry-After` (seconds) with 429 and 423 answers.
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            offset: None,
            retry_after_s: None,
        }
    }
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, code, message)
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, code, message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "request failed");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                offset: self.offset,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after_s {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            StorageError::Exists(what) => ApiError::new(
                StatusCode::CONFLICT,
                "exists",
                format!("{what} exists already"),
            ),
            StorageError::Full => ApiError {
                retry_after_s: Some(300),
                ..ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "storage_full",
                    "the server's disk is full: nothing of this request was stored; try again \
                     later",
                )
            },
            StorageError::ReadOnly => ApiError {
                retry_after_s: Some(60),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_read_only",
                    "the server cannot write its data now: nothing of this request was stored",
                )
            },
            StorageError::Busy => ApiError {
                retry_after_s: Some(5),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "the server is busy: try again in a moment",
                )
            },
            other => {
                // The database's own words stay in the log: they may name tables and values.
                tracing::error!(error = %other, "storage failed");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "the server's storage failed: nothing of this request was stored",
                )
            }
        }
    }
}

impl From<crate::sync::SyncError> for ApiError {
    fn from(e: crate::sync::SyncError) -> Self {
        use crate::sync::SyncError;
        let message = e.to_string();
        match e {
            SyncError::ProtocolVersion { .. } => {
                ApiError::new(StatusCode::UPGRADE_REQUIRED, "protocol_version", message)
            }
            SyncError::BadDevice => ApiError::bad_request("bad_device", message),
            SyncError::TooManyPushes(_) => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_many_pushes", message)
            }
            SyncError::TooManyItems(_) => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_many_items", message)
            }
            SyncError::DeviceMismatch => ApiError::forbidden("device_mismatch", message),
            SyncError::Timeout => ApiError {
                retry_after_s: Some(5),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "timeout", message)
            },
            SyncError::Storage(s) => s.into(),
            SyncError::Internal(m) => ApiError::internal(m),
        }
    }
}

impl From<crate::photos::PhotoRequestError> for ApiError {
    fn from(e: crate::photos::PhotoRequestError) -> Self {
        use crate::photos::PhotoRequestError as E;
        let message = e.to_string();
        match e {
            E::BadHash => ApiError::bad_request("bad_hash", message),
            E::TooManyHashes => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_many_hashes", message)
            }
            E::BadLength => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message),
            E::BadPart => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "bad_part", message),
            E::OutOfScope => ApiError::forbidden("out_of_scope", message),
            E::Photo(p) => p.into(),
            E::Storage(s) => s.into(),
        }
    }
}

impl From<crate::people::service::ServiceError> for ApiError {
    fn from(e: crate::people::service::ServiceError) -> Self {
        use crate::people::service::ServiceError as E;
        let message = e.to_string();
        match e {
            E::BadLogin => ApiError::unauthorized("bad_login", message),
            E::Locked { wait_ms } => ApiError {
                retry_after_s: Some((wait_ms.max(1000) as u64).div_ceil(1000)),
                ..ApiError::new(StatusCode::LOCKED, "locked", message)
            },
            E::Forbidden(_) => ApiError::forbidden("forbidden", message),
            E::OutOfScope(_) => ApiError::forbidden("out_of_scope", message),
            E::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            E::UserDisabled(_) => ApiError::new(StatusCode::CONFLICT, "user_disabled", message),
            E::BadExpiry { .. } => ApiError::bad_request("bad_expiry", message),
            E::BadCode => ApiError::forbidden("bad_code", message),
            E::CodeExpired => ApiError::new(StatusCode::GONE, "code_expired", message),
            E::CodeUsed => ApiError::new(StatusCode::CONFLICT, "code_used", message),
            E::CodeUserDisabled => ApiError::forbidden("user_disabled", message),
            E::AlreadyRevoked(_) => ApiError::new(StatusCode::CONFLICT, "already_revoked", message),
            E::BadDevice => ApiError::bad_request("bad_device", message),
            E::BadField(_) => ApiError::bad_request("bad_field", message),
            E::BadAction(_) => ApiError::bad_request("bad_action", message),
            E::People(p) => ApiError::internal(p.to_string()),
            E::Storage(s) => s.into(),
        }
    }
}

impl From<PhotoError> for ApiError {
    fn from(e: PhotoError) -> Self {
        match e {
            PhotoError::OffsetMismatch { current, .. } => ApiError {
                offset: Some(current),
                ..ApiError::new(StatusCode::CONFLICT, "offset_mismatch", e.to_string())
            },
            PhotoError::HashMismatch(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "hash_mismatch",
                e.to_string(),
            ),
            PhotoError::TooLarge(m) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", m),
            PhotoError::Full(m) => ApiError {
                retry_after_s: Some(300),
                ..ApiError::new(StatusCode::INSUFFICIENT_STORAGE, "storage_full", m)
            },
            PhotoError::Storage(s) => s.into(),
        }
    }
}

impl From<jingtu_protocol::CodecError> for ApiError {
    fn from(e: jingtu_protocol::CodecError) -> Self {
        match e {
            jingtu_protocol::CodecError::TooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string())
            }
            other => ApiError::bad_request("malformed_body", other.to_string()),
        }
    }
}
