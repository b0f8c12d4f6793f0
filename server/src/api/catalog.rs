//! `POST /v1/catalog`: the templates and code tables a device lacks, by hash.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use jingtu_protocol::{
    CatalogItem, CatalogRequest, CatalogResponse, MAX_CATALOG_WANT, PROTOCOL_VERSION,
};

use super::sync::{Scope, check_version, framed};
use super::{ApiError, Caller, Shared, blocking};

/// The texts of catalog items by SHA-256, as listed in a sync answer's `catalog`. Items not
/// meant for the caller, or unknown, are left out of the answer.
#[utoipa::path(
    post,
    path = "/v1/catalog",
    request_body(content = CatalogRequest, content_type = "application/vnd.jingtu.v1+msgpack"),
    responses(
        (status = 200, body = CatalogResponse, content_type = "application/vnd.jingtu.v1+msgpack"),
        (status = 400, body = jingtu_protocol::ErrorBody),
        (status = 413, body = jingtu_protocol::ErrorBody)
    ),
    security(("device_token" = []))
)]
pub async fn catalog(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let st = state.clone();
    let bytes = blocking(move || {
        let req: CatalogRequest = jingtu_protocol::decode(&body, st.limits.max_message_bytes)?;
        check_version(req.protocol)?;
        if req.want.len() > MAX_CATALOG_WANT {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_many_items",
                format!("at most {MAX_CATALOG_WANT} items per request"),
            ));
        }
        let scope = Scope::of(&caller, &st)?;
        let listing = scope.catalog(&st)?;
        let want: Vec<String> = req
            .want
            .into_iter()
            .filter(|h| listing.entries.iter().any(|e| &e.sha256 == h))
            .collect();
        let items = st
            .catalog
            .catalog_texts(&want)?
            .into_iter()
            .filter_map(|(sha256, text)| {
                let id = listing
                    .entries
                    .iter()
                    .find(|e| e.sha256 == sha256)?
                    .id
                    .clone();
                Some(CatalogItem { id, sha256, text })
            })
            .collect();
        jingtu_protocol::encode(&CatalogResponse {
            protocol: PROTOCOL_VERSION,
            items,
        })
        .map_err(|e| ApiError::internal(e.to_string()))
    })
    .await?;
    Ok(framed(bytes))
}
