//! Exports over HTTP: the records of one kind within the caller's reach as CSV, XLSX or
//! GeoJSON, streamed as they are written (a download from the console, or a county's script).

use axum::Extension;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use serde::Deserialize;

use super::review::QueueQuery;
use super::{ApiError, Shared, blocking};
use crate::actor::Actor;
use crate::export::{ExportError, Format};

/// The format; the records are those of the queue's filters ([`QueueQuery`], its paging
/// left aside).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct FormatQuery {
    /// `csv` (default), `xlsx` or `geojson`.
    pub format: Option<String>,
}

impl From<ExportError> for ApiError {
    fn from(e: ExportError) -> Self {
        let message = e.to_string();
        match e {
            ExportError::Review(r) => r.into(),
            ExportError::NoKind | ExportError::UnknownKind(_) => {
                ApiError::bad_request("invalid_value", message)
            }
            ExportError::Write(m) => ApiError::internal(m),
        }
    }
}

/// A `Write` that hands its bytes to the response body in chunks of 64 KiB; a client that
/// went away stops the export (the next write fails).
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 64 * 1024;

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client left"))
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        let _ = self.send();
    }
}

/// The records of one kind within the caller's reach, as a file: CSV (UTF-8 with BOM),
/// XLSX or GeoJSON, Chinese column labels from the template.
#[utoipa::path(get, path = "/v1/export", params(FormatQuery, QueueQuery),
    responses((status = 200, description = "the file, streamed", content_type = "text/csv"),
              (status = 400, body = jingtu_protocol::ErrorBody),
              (status = 403, body = jingtu_protocol::ErrorBody)),
    security(("device_token" = []), ("session_cookie" = [])))]
pub async fn export(
    State(st): State<Shared>,
    Extension(caller): Extension<Actor>,
    Query(f): Query<FormatQuery>,
    Query(q): Query<QueueQuery>,
) -> Result<Response, ApiError> {
    if !caller.role.reviews() {
        return Err(ApiError::forbidden(
            "forbidden",
            format!(
                "only a supervisor or admin exports records; {} ({}) may not",
                caller.user, caller.role
            ),
        ));
    }
    let format = match f.format.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
        Some(f) => Format::parse(f).ok_or_else(|| {
            ApiError::bad_request("invalid_value", "format: one of csv, xlsx, geojson")
        })?,
        None => Format::Csv,
    };
    let filter = crate::storage::QueueFilter {
        after: None,
        ..q.filter()?
    };
    let kind = filter.kind.clone().ok_or(ExportError::NoKind)?;
    if let Some(o) = &filter.org_unit
        && crate::people::org::prefix_of(o).is_err()
    {
        return Err(ApiError::bad_request(
            "invalid_value",
            "org_unit: an org unit is a 12-digit division code",
        ));
    }
    // The kind is known before the answer starts: afterwards an error can only cut it short.
    let st2 = st.clone();
    let k = kind.clone();
    blocking(move || {
        let templates = st2
            .ctx
            .templates
            .current(&*st2.ctx.catalog)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        templates
            .latest(&k)
            .map(|_| ())
            .map_err(|_| ExportError::UnknownKind(k.clone()).into())
    })
    .await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(8);
    let errors = tx.clone();
    tokio::task::spawn_blocking(move || {
        let writer = ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        };
        let result =
            crate::export::export(&st.ctx, &caller, &filter, format, "", writer, &mut |_| {});
        if let Err(e) = result {
            tracing::warn!(
                "an export of {} stopped: {e}",
                filter.kind.as_deref().unwrap_or("")
            );
            let _ = errors.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let day = crate::ledger::today();
    let name = format!(
        "{kind}-{:04}{:02}{:02}.{}",
        day.0,
        day.1,
        day.2,
        format.extension()
    );
    let mut response = Response::new(Body::from_stream(stream));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
