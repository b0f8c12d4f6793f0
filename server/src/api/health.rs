use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;

use super::{ApiDoc, ApiError, Shared, blocking};

/// The process is up.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// The storage answers.
#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, body = String),
    (status = 503, body = jingtu_protocol::ErrorBody)
))]
pub async fn readyz(State(state): State<Shared>) -> Result<Response, ApiError> {
    let st = state.clone();
    blocking(move || Ok(st.records.stats()?)).await?;
    Ok((StatusCode::OK, "ready").into_response())
}

/// Prometheus metrics (text format).
#[utoipa::path(get, path = "/metrics", responses((status = 200, body = String, content_type = "text/plain")))]
pub async fn metrics_text(State(state): State<Shared>) -> Response {
    let st = state.clone();
    if let Ok(Ok(stats)) = tokio::task::spawn_blocking(move || st.records.stats()).await {
        metrics::gauge!("jingtu_records").set(stats.records as f64);
        metrics::gauge!("jingtu_feed_sequence").set(stats.feed_seq as f64);
        metrics::gauge!("jingtu_devices").set(stats.devices as f64);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

/// This description.
#[utoipa::path(get, path = "/openapi.json", responses((status = 200, content_type = "application/json", body = String)))]
pub async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        ApiDoc::openapi().to_json().unwrap_or_default(),
    )
        .into_response()
}
