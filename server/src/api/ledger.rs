//! The county ledgers over HTTP (JSON), for supervisors and admins by web session or device
//! token: the black-odorous water bodies and the sewage facilities' schedule.

use axum::Extension;
use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ApiError, Shared, blocking};
use crate::actor::Actor;
use crate::ledger;

/// The water bodies within reach, each with its checks, stage, relapses and problems.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WaterBodiesAnswer {
    /// `jingtu_model::ledger::WaterBody` objects, by body code.
    #[schema(value_type = Vec<Object>)]
    pub bodies: Vec<Value>,
}

/// The facilities' schedule for a year.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SewageFacilitiesAnswer {
    pub year: i32,
    /// The day the periods are judged on (`YYYY-MM-DD`).
    pub as_of: String,
    /// `jingtu_model::ledger::FacilitySchedule` objects, by facility code.
    #[schema(value_type = Vec<Object>)]
    pub facilities: Vec<Value>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct FacilitiesQuery {
    /// The year (default: the year of `as_of`).
    pub year: Option<i32>,
    /// Judge the periods as of this day, `2024-08-15` (default: today, China time).
    pub as_of: Option<String>,
}

impl FacilitiesQuery {
    /// The year and the day asked for.
    pub fn resolve(&self) -> Result<(i32, (i32, u32, u32)), ApiError> {
        let today = match self.as_of.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(s) => ledger::parse_day(s).ok_or_else(|| {
                ApiError::bad_request("invalid_value", "as_of: a day is written 2024-08-15")
            })?,
            None => ledger::today(),
        };
        let year = self.year.unwrap_or(today.0);
        if !(1900..=9999).contains(&year) {
            return Err(ApiError::bad_request(
                "invalid_value",
                format!("year: {year} is not a year"),
            ));
        }
        Ok((year, today))
    }
}

/// The black-odorous water bodies (黑臭水体台账) within the caller's reach.
#[utoipa::path(get, path = "/v1/ledger/water-bodies",
    responses((status = 200, body = WaterBodiesAnswer),
              (status = 403, body = jingtu_protocol::ErrorBody)),
    security(("device_token" = []), ("session_cookie" = [])))]
pub async fn water_bodies(
    State(st): State<Shared>,
    Extension(caller): Extension<Actor>,
) -> Result<Json<WaterBodiesAnswer>, ApiError> {
    let bodies = blocking(move || Ok(ledger::water_bodies(&st.ctx, &caller)?)).await?;
    Ok(Json(WaterBodiesAnswer {
        bodies: bodies
            .iter()
            .map(|b| serde_json::to_value(b).unwrap_or_default())
            .collect(),
    }))
}

/// The sewage facilities within the caller's reach against task 19's schedule.
#[utoipa::path(get, path = "/v1/ledger/sewage-facilities", params(FacilitiesQuery),
    responses((status = 200, body = SewageFacilitiesAnswer),
              (status = 400, body = jingtu_protocol::ErrorBody),
              (status = 403, body = jingtu_protocol::ErrorBody)),
    security(("device_token" = []), ("session_cookie" = [])))]
pub async fn sewage_facilities(
    State(st): State<Shared>,
    Extension(caller): Extension<Actor>,
    Query(q): Query<FacilitiesQuery>,
) -> Result<Json<SewageFacilitiesAnswer>, ApiError> {
    let (year, today) = q.resolve()?;
    let list =
        blocking(move || Ok(ledger::sewage_facilities(&st.ctx, &caller, year, today)?)).await?;
    Ok(Json(SewageFacilitiesAnswer {
        year,
        as_of: format!("{:04}-{:02}-{:02}", today.0, today.1, today.2),
        facilities: list
            .iter()
            .map(|f| serde_json::to_value(f).unwrap_or_default())
            .collect(),
    }))
}
