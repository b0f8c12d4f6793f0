//! Assignments over HTTP (JSON): supervisors give and take back field work; everyone lists
//! what they may see. Devices receive their own assignments through sync.

use axum::Extension;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use jingtu_protocol::Assignment;
use serde::{Deserialize, Serialize};

use super::{ApiError, Shared, blocking};
use crate::actor::Actor;
use crate::assignments::{self, AssignError, AssignmentRequest};

impl From<AssignError> for ApiError {
    fn from(e: AssignError) -> Self {
        match e {
            AssignError::NotAllowed => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string())
            }
            AssignError::OutsideOrgUnits(_) => {
                ApiError::new(StatusCode::FORBIDDEN, "out_of_scope", e.to_string())
            }
            AssignError::Invalid(_) => ApiError::bad_request("bad_assignment", e.to_string()),
            AssignError::NoSuchUser(_) => ApiError::bad_request("no_such_user", e.to_string()),
            AssignError::NoSuchAssignment(_) => ApiError::not_found(e.to_string()),
            AssignError::Storage(s) => s.into(),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Only this user's assignments.
    pub assignee: Option<String>,
    /// Also those taken back.
    #[serde(default)]
    pub include_removed: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AssignmentList {
    pub assignments: Vec<Assignment>,
}

/// The assignments the caller may see: their own (field users), those within their org units
/// (supervisors), all (admins).
#[utoipa::path(get, path = "/v1/assignments", params(ListQuery),
    responses((status = 200, body = AssignmentList),
              (status = 401, body = jingtu_protocol::ErrorBody)),
    security(("device_token" = []), ("session_cookie" = [])))]
pub async fn list(
    State(st): State<Shared>,
    Extension(caller): Extension<Actor>,
    Query(q): Query<ListQuery>,
) -> Result<Json<AssignmentList>, ApiError> {
    let by = caller.clone();
    let assignments = blocking(move || {
        Ok(assignments::visible(
            st.scope.as_ref(),
            &by,
            q.assignee.as_deref(),
            q.include_removed,
        )?)
    })
    .await?;
    Ok(Json(AssignmentList { assignments }))
}

/// Gives a field user a piece of work (supervisors within their org units; admins).
#[utoipa::path(post, path = "/v1/assignments", request_body = AssignmentRequest,
    responses((status = 201, body = Assignment),
              (status = 400, body = jingtu_protocol::ErrorBody),
              (status = 403, body = jingtu_protocol::ErrorBody)),
    security(("device_token" = []), ("session_cookie" = [])))]
pub async fn create(
    State(st): State<Shared>,
    Extension(caller): Extension<Actor>,
    Json(req): Json<AssignmentRequest>,
) -> Result<(StatusCode, Json<Assignment>), ApiError> {
    let by = caller.clone();
    let a = blocking(move || {
        Ok(assignments::create(
            st.auth.as_ref(),
            st.scope.as_ref(),
            &by,
            &req,
        )?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(a)))
}

/// Takes an assignment back: its records leave the assignee's devices at their next sync
/// (unless they hold unsynced changes).
#[utoipa::path(post, path = "/v1/assignments/{id}/remove",
    params(("id" = String, Path, description = "the assignment id")),
    responses((status = 200, body = Assignment),
              (status = 403, body = jingtu_protocol::ErrorBody),
              (status = 404, body = jingtu_protocol::ErrorBody)),
    security(("device_token" = []), ("session_cookie" = [])))]
pub async fn remove(
    State(st): State<Shared>,
    Extension(caller): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<Json<Assignment>, ApiError> {
    let by = caller.clone();
    let a = blocking(move || Ok(assignments::remove(st.scope.as_ref(), &by, &id)?)).await?;
    Ok(Json(a))
}

/// Who an assignment goes to instead.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Reassign {
    pub assignee: String,
}

/// Hands an assignment to another field user: its records leave the old assignee's devices
/// and reach the new one's at their next syncs.
#[utoipa::path(post, path = "/v1/assignments/{id}/reassign",
    params(("id" = String, Path, description = "the assignment id")),
    request_body = Reassign,
    responses((status = 200, body = Assignment),
              (status = 400, body = jingtu_protocol::ErrorBody),
              (status = 403, body = jingtu_protocol::ErrorBody),
              (status = 404, body = jingtu_protocol::ErrorBody)),
    security(("device_token" = []), ("session_cookie" = [])))]
pub async fn reassign(
    State(st): State<Shared>,
    Extension(caller): Extension<Actor>,
    Path(id): Path<String>,
    Json(body): Json<Reassign>,
) -> Result<Json<Assignment>, ApiError> {
    let by = caller.clone();
    let a = blocking(move || {
        Ok(assignments::reassign(
            st.auth.as_ref(),
            st.scope.as_ref(),
            &by,
            &id,
            &body.assignee,
        )?)
    })
    .await?;
    Ok(Json(a))
}
