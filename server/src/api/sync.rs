//! `POST /v1/sync`: decode the frame, call the sync service ([`crate::sync`]), encode.

use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use jingtu_protocol::{SyncRequest, SyncResponse};

use super::framed::{Framed, answer};
use super::{ApiError, Arrived, HeavyPermit, Shared, blocking};
use crate::actor::Actor;

/// Push new changes and pull the feed after the cursor, in one round trip.
#[utoipa::path(
    post,
    path = "/v1/sync",
    request_body(content = SyncRequest, content_type = "application/vnd.jingtu.v1+msgpack",
        description = "a framed SyncRequest (docs/sync-protocol.md)"),
    responses(
        (status = 200, description = "a framed SyncResponse", body = SyncResponse,
            content_type = "application/vnd.jingtu.v1+msgpack"),
        (status = 400, description = "malformed body", body = jingtu_protocol::ErrorBody),
        (status = 401, description = "missing or unknown token", body = jingtu_protocol::ErrorBody),
        (status = 413, description = "body over the limit", body = jingtu_protocol::ErrorBody),
        (status = 426, description = "another protocol version", body = jingtu_protocol::ErrorBody)
    ),
    security(("device_token" = []))
)]
pub async fn sync(
    State(state): State<Shared>,
    Extension(actor): Extension<Actor>,
    Extension(permit): Extension<HeavyPermit>,
    Extension(Arrived(arrived)): Extension<Arrived>,
    Framed(req): Framed<SyncRequest>,
) -> Result<Response, ApiError> {
    // The work stops where the client stops waiting: nothing is stored after the answer timed
    // out.
    let deadline = arrived + Duration::from_secs(state.limits.request_timeout_s);
    let st = state.clone();
    let response = blocking(move || {
        // Held until the work is done, even when the answer timed out first.
        let _permit = permit;
        Ok(crate::sync::sync(&st.ctx, &actor, &req, deadline)?)
    })
    .await?;
    answer(response).await
}
