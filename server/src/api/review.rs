//! Review over HTTP (JSON), for supervisors and admins by web session (the console) or device
//! token (a tablet): the queue, a record's detail, and the decisions, comments and conflict
//! resolutions, which become Automerge changes of the record checked like any device's push.

use axum::Extension;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use jingtu_doc::{EventKind, NewComment, Status};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ApiError, Shared, blocking};
use crate::actor::Actor;
use crate::review::{self, RecordDetail, ReviewError};
use crate::storage::{QueueFilter, QueueKey, QueuePage};

impl From<ReviewError> for ApiError {
    fn from(e: ReviewError) -> Self {
        let message = e.to_string();
        match e {
            ReviewError::NotAReviewer(_) => ApiError::forbidden("forbidden", message),
            ReviewError::OutOfScope => ApiError::forbidden("out_of_scope", message),
            ReviewError::NotFound(_) => ApiError::not_found(message),
            ReviewError::InvalidState(_) => {
                ApiError::new(StatusCode::CONFLICT, "invalid_state", message)
            }
            ReviewError::Invalid { .. } => ApiError::bad_request("invalid_value", message),
            ReviewError::Refused { code, .. } => match code.as_str() {
                "forbidden" => ApiError::forbidden("forbidden", message),
                "out_of_scope" => ApiError::forbidden("out_of_scope", message),
                "timeout" => ApiError::new(StatusCode::REQUEST_TIMEOUT, "timeout", message),
                _ => {
                    let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message);
                    e.retry_after_s = Some(1);
                    e
                }
            },
            ReviewError::Storage(s) => s.into(),
            ReviewError::Internal(m) => ApiError::internal(m),
        }
    }
}

/// The filters of the queue; all optional.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct QueueQuery {
    /// A template kind (`village_inspection`).
    pub kind: Option<String>,
    /// draft, submitted, returned or approved.
    pub status: Option<String>,
    /// An org unit's 12-digit code: the records within it.
    pub org_unit: Option<String>,
    /// Part of a village's name.
    pub village: Option<String>,
    /// Last change received on or after this day (`2024-07-01`, China Standard Time).
    pub from: Option<String>,
    /// ... and on or before this day.
    pub to: Option<String>,
    /// The user the record's assignment is given to.
    pub assignee: Option<String>,
    /// Part of the record's name or village, or the start of its id.
    pub q: Option<String>,
    /// The `next` of the previous page.
    pub after: Option<String>,
    /// Rows per page (default 50, at most 200).
    pub limit: Option<u32>,
}

/// Midnight of a `YYYY-MM-DD` day in China Standard Time, in milliseconds since 1970.
fn day_start_ms(day: &str, field: &str) -> Result<i64, ApiError> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(day.trim(), &fmt).map_err(|_| {
        ApiError::bad_request(
            "invalid_value",
            format!("{field}: a day is written 2024-07-01"),
        )
    })?;
    let t = date
        .with_hms(0, 0, 0)
        .map_err(|_| ApiError::bad_request("invalid_value", format!("{field}: not a day")))?
        .assume_offset(time::macros::offset!(+8));
    Ok((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

impl QueueQuery {
    pub fn filter(&self) -> Result<QueueFilter, ApiError> {
        let blank = |s: &Option<String>| {
            s.as_ref()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let status = match blank(&self.status) {
            Some(s) => Some(Status::parse(&s).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_value",
                    "status: one of draft, submitted, returned, approved",
                )
            })?),
            None => None,
        };
        let after = match blank(&self.after) {
            Some(a) => Some(QueueKey::parse(&a).ok_or_else(|| {
                ApiError::bad_request("invalid_value", "after: the `next` of a previous page")
            })?),
            None => None,
        };
        Ok(QueueFilter {
            kind: blank(&self.kind),
            status,
            org_unit: blank(&self.org_unit),
            village: blank(&self.village),
            from_ms: blank(&self.from)
                .map(|d| day_start_ms(&d, "from"))
                .transpose()?,
            to_ms: blank(&self.to)
                .map(|d| day_start_ms(&d, "to").map(|t| t + 86_400_000))
                .transpose()?,
            assignee: blank(&self.assignee),
            text: blank(&self.q),
            after,
            limit: self.limit.unwrap_or(50),
            without_counts: false,
        })
    }
}

/// One record of the queue.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueueItem {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub status: String,
    pub org_unit: Option<String>,
    pub village: Option<String>,
    pub assignment: Option<String>,
    pub author: String,
    pub submitted_at_ms: Option<i64>,
    pub updated_at_ms: i64,
}

/// A page of the queue.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueueAnswer {
    pub items: Vec<QueueItem>,
    /// Records per status among those the filters (less status) take in.
    #[schema(value_type = Object)]
    pub counts: serde_json::Map<String, Value>,
    /// Pass as `after` for the next page; absent on the last.
    pub next: Option<String>,
}

impl From<QueuePage> for QueueAnswer {
    fn from(p: QueuePage) -> Self {
        QueueAnswer {
            items: p
                .rows
                .into_iter()
                .map(|r| QueueItem {
                    id: r.id,
                    kind: r.kind,
                    name: r.name,
                    status: r.status.as_str().to_string(),
                    org_unit: r.org_unit,
                    village: r.village,
                    assignment: r.assignment,
                    author: r.author,
                    submitted_at_ms: r.submitted_at_ms,
                    updated_at_ms: r.updated_at_ms,
                })
                .collect(),
            counts: p
                .counts
                .into_iter()
                .map(|(s, n)| (s.as_str().to_string(), Value::from(n)))
                .collect(),
            next: p.next.map(|k| k.to_token()),
        }
    }
}

/// The review queue: records within the caller's reach, newest change first.
#[utoipa::path(get, path = "/v1/review/queue", params(QueueQuery),
    responses((status = 200, body = QueueAnswer),
              (status = 400, body = jingtu_protocol::ErrorBody),
              (status = 403, body = jingtu_protocol::ErrorBody)),
    security(("device_token" = []), ("session_cookie" = [])))]
pub async fn queue(
    State(st): State<Shared>,
    Extension(caller): Extension<Actor>,
    Query(q): Query<QueueQuery>,
) -> Result<Json<QueueAnswer>, ApiError> {
    let filter = q.filter()?;
    let page = blocking(move || Ok(review::queue(&st.ctx, &caller, &filter)?)).await?;
    Ok(Json(page.into()))
}

/// A record as a supervisor reads it: labelled fields, issues, computed results, photos,
/// history, conflicts and the review thread.
#[utoipa::path(get, path = "/v1/records/{id}",
    params(("id" = String, Path, description = "the record id")),
    responses((status = 200, body = RecordDetail),
              (status = 403, body = jingtu_protocol::ErrorBody),
              (status = 404, body = jingtu_protocol::ErrorBody)),
    security(("device_token" = []), ("session_cookie" = [])))]
pub async fn record(
    State(st): State<Shared>,
    Extension(caller): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<Json<RecordDetail>, ApiError> {
    let d = blocking(move || Ok(review::detail(&st.ctx, &caller, &id)?)).await?;
    Ok(Json(d))
}

/// A comment: its text and, optionally, the field or checklist item it points at.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct CommentIn {
    pub text: String,
    pub path: Option<String>,
}

impl From<CommentIn> for NewComment {
    fn from(c: CommentIn) -> Self {
        NewComment {
            text: c.text,
            path: c.path,
        }
    }
}

/// A decision on a record.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct ReviewRequest {
    /// approve, return or reopen.
    pub decision: String,
    pub note: Option<String>,
    #[serde(default)]
    pub comments: Vec<CommentIn>,
}

/// What a review write did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReviewAnswer {
    pub id: String,
    pub status: String,
    /// The feed sequence the change was stored at.
    pub seq: Option<u64>,
}

fn answer(id: String, w: review::Written) -> Json<ReviewAnswer> {
    Json(ReviewAnswer {
        id,
        status: w.status.as_str().to_string(),
        seq: w.seq,
    })
}

/// Approves, returns (with what to fix) or reopens a record.
#[utoipa::path(post, path = "/v1/records/{id}/review", request_body = ReviewRequest,
    params(("id" = String, Path, description = "the record id")),
    responses((status = 200, body = ReviewAnswer),
              (status = 400, body = jingtu_protocol::ErrorBody),
              (status = 403, body = jingtu_protocol::ErrorBody),
              (status = 404, body = jingtu_protocol::ErrorBody),
              (status = 409, body = jingtu_protocol::ErrorBody)),
    security(("device_token" = []), ("session_cookie" = [])))]
pub async fn decide(
    State(st): State<Shared>,
    Extension(caller): Extension<Actor>,
    Path(id): Path<String>,
    Json(req): Json<ReviewRequest>,
) -> Result<Json<ReviewAnswer>, ApiError> {
    let decision = EventKind::decision(&req.decision).ok_or_else(|| {
        ApiError::bad_request("invalid_value", "decision: one of approve, return, reopen")
    })?;
    let comments: Vec<NewComment> = req.comments.into_iter().map(Into::into).collect();
    let record = id.clone();
    let w = blocking(move || {
        Ok(review::decide(
            &st.ctx,
            &caller,
            &record,
            decision,
            req.note.as_deref(),
            &comments,
        )?)
    })
    .await?;
    Ok(answer(id, w))
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct CommentsRequest {
    pub comments: Vec<CommentIn>,
}

/// Comments on a record without deciding.
#[utoipa::path(post, path = "/v1/records/{id}/comments", request_body = CommentsRequest,
    params(("id" = String, Path, description = "the record id")),
    responses((status = 200, body = ReviewAnswer),
              (status = 400, body = jingtu_protocol::ErrorBody),
              (status = 403, body = jingtu_protocol::ErrorBody),
              (status = 404, body = jingtu_protocol::ErrorBody),
              (status = 409, body = jingtu_protocol::ErrorBody)),
    security(("device_token" = []), ("session_cookie" = [])))]
pub async fn comment(
    State(st): State<Shared>,
    Extension(caller): Extension<Actor>,
    Path(id): Path<String>,
    Json(req): Json<CommentsRequest>,
) -> Result<Json<ReviewAnswer>, ApiError> {
    let comments: Vec<NewComment> = req.comments.into_iter().map(Into::into).collect();
    let record = id.clone();
    let w = blocking(move || Ok(review::comment(&st.ctx, &caller, &record, &comments)?)).await?;
    Ok(answer(id, w))
}

/// A conflict's resolution: the value to keep (one of those shown, or a new one).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct ResolveRequest {
    pub path: String,
    #[schema(value_type = Object)]
    pub value: Value,
}

/// Resolves a conflict; the resolution reaches every device at its next sync.
#[utoipa::path(post, path = "/v1/records/{id}/resolve", request_body = ResolveRequest,
    params(("id" = String, Path, description = "the record id")),
    responses((status = 200, body = ReviewAnswer),
              (status = 400, body = jingtu_protocol::ErrorBody),
              (status = 403, body = jingtu_protocol::ErrorBody),
              (status = 404, body = jingtu_protocol::ErrorBody),
              (status = 409, body = jingtu_protocol::ErrorBody)),
    security(("device_token" = []), ("session_cookie" = [])))]
pub async fn resolve(
    State(st): State<Shared>,
    Extension(caller): Extension<Actor>,
    Path(id): Path<String>,
    Json(req): Json<ResolveRequest>,
) -> Result<Json<ReviewAnswer>, ApiError> {
    let record = id.clone();
    let w = blocking(move || {
        Ok(review::resolve(
            &st.ctx, &caller, &record, &req.path, &req.value,
        )?)
    })
    .await?;
    Ok(answer(id, w))
}
