use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;

use super::auth::Remote;
use super::{ApiDoc, ApiError, Shared, blocking};

/// The process is up.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready for devices: the storage answers and the data's disk keeps its reserve free
/// (`limits.min_free_disk_mb`).
#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, body = String),
    (status = 503, description = "`storage_unavailable`, `storage_read_only` or `disk_full`", body = jingtu_protocol::ErrorBody)
))]
pub async fn readyz(State(state): State<Shared>) -> Result<Response, ApiError> {
    let st = state.clone();
    blocking(move || {
        let reserve = st.limits.min_free_disk_mb.saturating_mul(1 << 20);
        for dir in &st.disks {
            let free = crate::storage::disk::free_bytes(dir).map_err(|e| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    format!("the data folder cannot be read: {e}"),
                )
            })?;
            metrics::gauge!("jingtu_disk_free_bytes").set(free as f64);
            // A disk that went read-only (an I/O error makes Linux remount it so) reads fine
            // and takes no write: try one.
            let written = crate::storage::disk::takes_a_write(dir)
                .map_err(crate::storage::StorageError::from);
            match written {
                Ok(()) => {}
                Err(crate::storage::StorageError::Full) => {
                    return Err(ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "disk_full",
                        "the data's disk is full",
                    ));
                }
                Err(e) => return Err(e.into()),
            }
            if free < reserve {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "disk_full",
                    format!(
                        "the data's disk has {} MB free, under the {} MB kept for the database",
                        free >> 20,
                        reserve >> 20
                    ),
                ));
            }
        }
        Ok(st.records.stats()?)
    })
    .await?;
    Ok((StatusCode::OK, "ready").into_response())
}

/// Prometheus metrics (text format): for clients on this machine unless the configuration
/// says otherwise (`metrics`, `metrics_token`).
#[utoipa::path(get, path = "/metrics", responses(
    (status = 200, body = String, content_type = "text/plain"),
    (status = 403, description = "`metrics_local_only`: read from this machine, or with the metrics token", body = jingtu_protocol::ErrorBody),
    (status = 404, description = "metrics are off", body = jingtu_protocol::ErrorBody)
))]
pub async fn metrics_text(
    State(state): State<Shared>,
    Remote(remote): Remote,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    use crate::config::MetricsAccess;
    let with_token = state.metrics_token.as_deref().is_some_and(|t| {
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        bool::from(subtle::ConstantTimeEq::ct_eq(
            sent.trim().as_bytes(),
            t.trim().as_bytes(),
        ))
    });
    let allowed = with_token
        || match state.metrics_access {
            MetricsAccess::Public => true,
            MetricsAccess::Local => remote.is_some_and(|ip| ip.is_loopback()),
            MetricsAccess::Off => false,
        };
    if !allowed {
        return Err(if state.metrics_access == MetricsAccess::Off {
            ApiError::not_found("no such endpoint")
        } else {
            ApiError::forbidden(
                "metrics_local_only",
                "metrics are read from this machine, or with the metrics token",
            )
        });
    }
    let st = state.clone();
    if let Ok(Ok(stats)) = tokio::task::spawn_blocking(move || st.records.stats()).await {
        metrics::gauge!("jingtu_records").set(stats.records as f64);
        metrics::gauge!("jingtu_feed_sequence").set(stats.feed_seq as f64);
        metrics::gauge!("jingtu_devices").set(stats.devices as f64);
    }
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response())
}

/// This description (unless `openapi = false`).
#[utoipa::path(get, path = "/openapi.json", responses(
    (status = 200, content_type = "application/json", body = String),
    (status = 404, description = "the description is not served here", body = jingtu_protocol::ErrorBody)
))]
pub async fn openapi_json(State(state): State<Shared>) -> Result<Response, ApiError> {
    if !state.openapi {
        return Err(ApiError::not_found("no such endpoint"));
    }
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        ApiDoc::openapi().to_json().unwrap_or_default(),
    )
        .into_response())
}
