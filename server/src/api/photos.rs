use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jingtu_protocol::{
    HEADER_UPLOAD_LENGTH, HEADER_UPLOAD_OFFSET, MAX_PHOTO_BYTES, MAX_PHOTO_PART_BYTES,
    PROTOCOL_VERSION, PhotoState, PhotoStateKind, PhotoStatusRequest, PhotoStatusResponse,
    PhotoUploadResponse, is_photo_hash,
};
use serde::Deserialize;

use super::sync::Scope;
use super::sync::{check_version, framed};
use super::{ApiError, Caller, Shared, blocking};

fn check_hash(hash: &str) -> Result<(), ApiError> {
    if !is_photo_hash(hash) {
        return Err(ApiError::bad_request(
            "bad_hash",
            "a photo is named by its SHA-256: 64 lowercase hex digits",
        ));
    }
    Ok(())
}

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
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let st = state.clone();
    let bytes = blocking(move || {
        let scope = Scope::of(&caller, &st)?;
        let req: PhotoStatusRequest = jingtu_protocol::decode(&body, st.limits.max_message_bytes)?;
        check_version(req.protocol)?;
        if req.hashes.len() > 10_000 {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_many_hashes",
                "at most 10000 hashes per request",
            ));
        }
        let mut photos = Vec::with_capacity(req.hashes.len());
        // Each photo is looked at once, however often it is listed.
        let mut seen = std::collections::HashSet::with_capacity(req.hashes.len());
        for hash in req.hashes {
            check_hash(&hash)?;
            if !seen.insert(hash.clone()) {
                continue;
            }
            if !scope.may_see_photo(&st, &hash)? {
                photos.push(PhotoState {
                    hash,
                    state: PhotoStateKind::Refused,
                    offset: 0,
                });
                continue;
            }
            let (state, offset) = st.photos.state(&hash)?;
            photos.push(PhotoState {
                hash,
                state,
                offset,
            });
        }
        jingtu_protocol::encode(&PhotoStatusResponse {
            protocol: PROTOCOL_VERSION,
            photos,
        })
        .map_err(|e| ApiError::internal(e.to_string()))
    })
    .await?;
    Ok(framed(bytes))
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
    Extension(caller): Extension<Caller>,
    Path(hash): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_hash(&hash)?;
    let offset = header_u64(&headers, HEADER_UPLOAD_OFFSET)?;
    let total = header_u64(&headers, HEADER_UPLOAD_LENGTH)?;
    if total == 0 || total > MAX_PHOTO_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("a photo has 1 to {MAX_PHOTO_BYTES} bytes"),
        ));
    }
    if body.len() > MAX_PHOTO_PART_BYTES || body.is_empty() {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "bad_part",
            format!("a part has 1 to {MAX_PHOTO_PART_BYTES} bytes"),
        ));
    }
    let st = state.clone();
    let h = hash.clone();
    let (offset, stored) = blocking(move || {
        check_photo_scope(&st, &caller, &h)?;
        Ok(st.photos.append(&h, offset, total, &body)?)
    })
    .await?;
    metrics::counter!("jingtu_photo_parts_total").increment(1);
    if stored {
        metrics::counter!("jingtu_photos_stored_total").increment(1);
    }
    let bytes = jingtu_protocol::encode(&PhotoUploadResponse {
        protocol: PROTOCOL_VERSION,
        hash,
        offset,
        stored,
    })
    .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(framed(bytes))
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
    Extension(caller): Extension<Caller>,
    Path(hash): Path<String>,
    Query(q): Query<DownloadQuery>,
) -> Result<Response, ApiError> {
    check_hash(&hash)?;
    let st = state.clone();
    let h = hash.clone();
    let bytes = blocking(move || {
        check_photo_scope(&st, &caller, &h)?;
        Ok(st.photos.read(&h, q.thumb)?)
    })
    .await?;
    match bytes {
        Some(b) => Ok(([(header::CONTENT_TYPE, "image/jpeg")], b).into_response()),
        None => Err(ApiError::not_found(format!("photo {hash}"))),
    }
}

/// A photo is taken and served only for a caller who may see a record holding it.
fn check_photo_scope(st: &Shared, caller: &Caller, hash: &str) -> Result<(), ApiError> {
    if Scope::of(caller, st)?.may_see_photo(st, hash)? {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "out_of_scope",
            "no record you may see holds this photo",
        ))
    }
}
