//! `POST /v1/catalog`: the templates and code tables a device lacks, by hash.

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use jingtu_protocol::{CatalogRequest, CatalogResponse, PROTOCOL_VERSION};

use super::framed::{Framed, answer};
use super::{ApiError, Shared, blocking};
use crate::actor::Actor;

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
    Extension(actor): Extension<Actor>,
    Framed(req): Framed<CatalogRequest>,
) -> Result<Response, ApiError> {
    let st = state.clone();
    let items = blocking(move || {
        crate::sync::check_version(req.protocol)?;
        Ok(crate::catalog::items_for(&st.ctx, &actor, &req.want)?)
    })
    .await?;
    answer(CatalogResponse {
        protocol: PROTOCOL_VERSION,
        items,
    })
    .await
}
