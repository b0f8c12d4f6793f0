use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use jingtu_protocol::{
    HEADER_UPLOAD_LENGTH, HEADER_UPLOAD_OFFSET, PROTOCOL_VERSION, PhotoStatusRequest,
    PhotoStatusResponse, PhotoUploadResponse,
};
use serde::Deserialize;

use super::framed::{Framed, answer};
use super::{ApiError, Shared, blocking};
use crate::actor::Actor;
use crate::photos;

/// Which of these photos the server holds (stored, partly uploaded with the offset, missing).
#[utoipa::path(
    post,
    path = "/v1/photos/status",
    request_body(content = PhotoStatusRequest, content_type = "application/vnd.jingtu.v1+msgpack"),
    responses(
        (status = 200, body = PhotoStatusResponse, content_type = "application/vnd.jingtu.v1+msgpack"),
        (status = 400, body = jingtu_protocol::ErrorBody)
    ),
    security(("device_token" = []))
)]
pub async fn photo_status(
    State(state): State<Shared>,
    Extension(actor): Extension<Actor>,
    Framed(req): Framed<PhotoStatusRequest>,
) -> Result<Response, ApiError> {
    let st = state.clone();
    let photos = blocking(move || {
        crate::sync::check_version(req.protocol)?;
        Ok(photos::status(&st.ctx, &actor, req.hashes)?)
    })
    .await?;
    answer(PhotoStatusResponse {
        protocol: PROTOCOL_VERSION,
        photos,
    })
    .await
}

fn header_u64(headers: &HeaderMap, name: &'static str) -> Result<u64, ApiError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| {
            ApiError::bad_request("bad_header", format!("header {name} must be a number"))
        })
}

/// Uploads a part of a photo at `Upload-Offset` of `Upload-Length` bytes. A wrong offset gets
/// 409 with the offset the server holds; the last part is checked against the hash (422 when
/// it does not match, and the upload starts over).
#[utoipa::path(
    patch,
    path = "/v1/photos/{hash}",
    params(
        ("hash" = String, Path, description = "SHA-256 of the photo, hex"),
        ("upload-offset" = u64, Header, description = "byte offset of this part"),
        ("upload-length" = u64, Header, description = "size of the whole photo")
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 200, body = PhotoUploadResponse, content_type = "application/vnd.jingtu.v1+msgpack"),
        (status = 409, description = "wrong offset; error.offset says where to resume", body = jingtu_protocol::ErrorBody),
        (status = 422, description = "the bytes do not match the hash", body = jingtu_protocol::ErrorBody)
    ),
    security(("device_token" = []))
)]
pub async fn upload_part(
    State(state): State<Shared>,
    Extension(actor): Extension<Actor>,
    Path(hash): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let offset = header_u64(&headers, HEADER_UPLOAD_OFFSET)?;
    let total = header_u64(&headers, HEADER_UPLOAD_LENGTH)?;
    let st = state.clone();
    let h = hash.clone();
    let (offset, stored) =
        blocking(move || Ok(photos::upload(&st.ctx, &actor, &h, offset, total, &body)?)).await?;
    metrics::counter!("jingtu_photo_parts_total").increment(1);
    if stored {
        metrics::counter!("jingtu_photos_stored_total").increment(1);
    }
    answer(PhotoUploadResponse {
        protocol: PROTOCOL_VERSION,
        hash,
        offset,
        stored,
    })
    .await
}

#[derive(Deserialize)]
pub struct DownloadQuery {
    #[serde(default)]
    thumb: bool,
}

/// A stored photo (JPEG), or its thumbnail with `?thumb=true`.
#[utoipa::path(
    get,
    path = "/v1/photos/{hash}",
    params(
        ("hash" = String, Path, description = "SHA-256 of the photo, hex"),
        ("thumb" = Option<bool>, Query, description = "the 320 px thumbnail")
    ),
    responses(
        (status = 200, content_type = "image/jpeg", body = Vec<u8>),
        (status = 404, body = jingtu_protocol::ErrorBody)
    ),
    security(("device_token" = []))
)]
pub async fn download(
    State(state): State<Shared>,
    Extension(actor): Extension<Actor>,
    Path(hash): Path<String>,
    Query(q): Query<DownloadQuery>,
) -> Result<Response, ApiError> {
    let st = state.clone();
    let h = hash.clone();
    let bytes = blocking(move || Ok(photos::fetch(&st.ctx, &actor, &h, q.thumb)?)).await?;
    match bytes {
        Some(b) => Ok(([(header::CONTENT_TYPE, "image/jpeg")], b).into_response()),
        None => Err(ApiError::not_found(format!("photo {hash}"))),
    }
}
