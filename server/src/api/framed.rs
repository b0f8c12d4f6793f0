//! Framed MessagePack bodies (docs/sync-protocol.md: byte 0 the format, then MessagePack,
//! zstd-compressed when that pays): [`Framed`] decodes a request body off the async runtime
//! and within `limits.max_message_bytes`; [`answer`] encodes an answer the same way.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use jingtu_protocol::CONTENT_TYPE;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{ApiError, Shared, blocking};

/// A request body in the protocol's frame, decoded.
pub struct Framed<T>(pub T);

impl<T: DeserializeOwned + Send + 'static> FromRequest<Shared> for Framed<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Shared) -> Result<Self, Self::Rejection> {
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request("malformed_body", e.body_text()))?;
        let limit = state.limits.max_message_bytes;
        let message = blocking(move || Ok(jingtu_protocol::decode::<T>(&body, limit)?)).await?;
        Ok(Framed(message))
    }
}

/// An answer in the protocol's frame (encoded off the async runtime: a large answer is
/// compressed).
pub async fn answer<T: Serialize + Send + 'static>(message: T) -> Result<Response, ApiError> {
    let bytes = blocking(move || {
        jingtu_protocol::encode(&message).map_err(|e| ApiError::internal(e.to_string()))
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], bytes).into_response())
}
