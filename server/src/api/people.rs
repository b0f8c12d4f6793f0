//! People and devices over HTTP (docs/people.md): web login and logout, enrollment codes and
//! their QR images, enrollment of a device, device lists and revocation, the audit log.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jingtu_protocol::{
    AuditList, DeviceInfo, DeviceList, EnrollPayload, EnrollRequest, EnrollResponse,
    EnrollmentCodeRequest, EnrollmentCodeResponse, LoginRequest, LoginResponse, SESSION_COOKIE,
    format_enrollment_code,
};
use serde::Deserialize;

use super::auth::{JsonBody, RateLimit, Remote, rate_limited, session_cookie};
use super::{ApiError, Shared, blocking};
use crate::actor::Actor;
use crate::config::{AuthConfig, Config};
use crate::people::service::{self, Origin};
use crate::people::{EnrollQr, now_ms, secret_hash};
use crate::storage::{AuditAction, TokenInfo};

/// Settings and in-memory state of the people endpoints.
pub struct PeopleState {
    pub settings: AuthConfig,
    pub insecure_cookies: bool,
    pub trust_proxy: bool,
    pub public_url: Option<String>,
    pub login_limit: RateLimit,
    pub enroll_limit: RateLimit,
    /// QR payloads of unused codes by code id, for their issuers' PNG requests. Only in memory
    /// (the database keeps the code's hash alone): after a restart the issuer issues a new code.
    qr: Mutex<HashMap<i64, PendingQr>>,
}

#[derive(Clone)]
struct PendingQr {
    payload: EnrollPayload,
    issuer: Option<i64>,
    expires_at_ms: i64,
}

/// At most this many QR payloads wait in memory.
const QR_CACHE_MAX: usize = 10_000;

impl PeopleState {
    pub fn new(config: &Config) -> PeopleState {
        let a = &config.auth;
        PeopleState {
            settings: a.clone(),
            insecure_cookies: config.insecure_cookies,
            trust_proxy: config.trust_proxy,
            public_url: config
                .public_url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_string()),
            login_limit: RateLimit::new(a.login_per_minute, a.login_burst),
            enroll_limit: RateLimit::new(a.enroll_per_minute, a.enroll_burst),
            qr: Mutex::new(HashMap::new()),
        }
    }

    fn qr_cache(&self) -> std::sync::MutexGuard<'_, HashMap<i64, PendingQr>> {
        self.qr.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn remember_qr(&self, id: i64, qr: PendingQr) {
        let now = now_ms();
        let mut cache = self.qr_cache();
        cache.retain(|_, q| q.expires_at_ms > now);
        while cache.len() >= QR_CACHE_MAX {
            let Some(oldest) = cache
                .iter()
                .min_by_key(|(_, q)| q.expires_at_ms)
                .map(|(id, _)| *id)
            else {
                break;
            };
            cache.remove(&oldest);
        }
        cache.insert(id, qr);
    }

    /// The cookie that carries a session (or, with an empty value, ends it).
    pub(crate) fn cookie(&self, value: &str, max_age_s: u64) -> Result<HeaderValue, ApiError> {
        let secure = if self.insecure_cookies {
            ""
        } else {
            "; Secure"
        };
        HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_s}{secure}"
        ))
        .map_err(|e| ApiError::internal(e.to_string()))
    }
}

fn device_info(t: TokenInfo) -> DeviceInfo {
    DeviceInfo {
        id: t.id,
        user: t.user,
        device_id: t.device_id,
        label: t.label,
        app_version: t.app_version,
        created_at_ms: t.created_at_ms,
        last_seen_ms: t.last_seen_ms,
        revoked_at_ms: t.revoked_at_ms,
    }
}

/// A supervisor's or admin's web login: a session cookie (`jingtu_session`, HttpOnly,
/// SameSite=Strict, Secure unless `insecure_cookies`) and the CSRF token to echo.
#[utoipa::path(
    post,
    path = "/v1/login",
    request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse,
            headers(("set-cookie" = String, description = "jingtu_session=...; HttpOnly; SameSite=Strict"))),
        (status = 401, description = "`bad_login`: wrong user name or password", body = jingtu_protocol::ErrorBody),
        (status = 403, description = "`web_login_not_allowed`: inspectors and samplers use devices", body = jingtu_protocol::ErrorBody),
        (status = 423, description = "`locked`: too many failed logins (Retry-After)", body = jingtu_protocol::ErrorBody),
        (status = 429, description = "`rate_limited` (Retry-After)", body = jingtu_protocol::ErrorBody)
    )
)]
pub async fn login(
    State(state): State<Shared>,
    Remote(remote): Remote,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<Response, ApiError> {
    state
        .people
        .login_limit
        .check(remote)
        .map_err(rate_limited)?;
    let st = state.clone();
    let granted = blocking(move || {
        Ok(service::login(
            &st.ctx,
            &st.people.settings,
            &req.user,
            &req.password,
            Origin(remote),
        )?)
    })
    .await?;
    let cookie = state
        .people
        .cookie(&granted.session, state.people.settings.session_hours * 3600)?;
    Ok(([(header::SET_COOKIE, cookie)], axum::Json(granted.answer)).into_response())
}

/// Ends the web session of the request (needs `X-CSRF-Token`).
#[utoipa::path(
    post,
    path = "/v1/logout",
    responses(
        (status = 204, description = "the session ended; the cookie is cleared"),
        (status = 400, description = "`not_a_session`: a device token cannot log out", body = jingtu_protocol::ErrorBody),
        (status = 403, description = "`csrf`", body = jingtu_protocol::ErrorBody)
    ),
    security(("session_cookie" = []))
)]
pub async fn logout(
    State(state): State<Shared>,
    Extension(caller): Extension<Actor>,
    Remote(remote): Remote,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let session = session_cookie(&headers)
        .filter(|_| caller.via_session())
        .ok_or_else(|| {
            ApiError::bad_request(
                "not_a_session",
                "only a web session logs out; revoke devices",
            )
        })?;
    let hash = secret_hash(session);
    let st = state.clone();
    blocking(move || Ok(service::logout(&st.ctx, &caller, &hash, Origin(remote))?)).await?;
    let cookie = state.people.cookie("", 0)?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

/// The server's address for QR codes: the configured `public_url`, else the request's `Host`.
pub(crate) fn server_url(state: &Shared, headers: &HeaderMap) -> Result<String, ApiError> {
    if let Some(url) = &state.people.public_url {
        return Ok(url.clone());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        })
        .ok_or_else(|| {
            ApiError::bad_request(
                "no_public_url",
                "the request has no usable Host: set public_url in the server's configuration",
            )
        })?;
    let https = state.people.trust_proxy
        && headers
            .get("x-forwarded-proto")
            .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"));
    Ok(format!("{}://{host}", if https { "https" } else { "http" }))
}

/// Issues a one-time enrollment code for a user: admins for anyone, supervisors for users
/// within their org units' subtree. The answer holds the code (once), the QR payload and SVG,
/// and where the issuer fetches the PNG.
#[utoipa::path(
    post,
    path = "/v1/enrollment-codes",
    request_body = EnrollmentCodeRequest,
    responses(
        (status = 201, body = EnrollmentCodeResponse),
        (status = 400, description = "`bad_expiry`", body = jingtu_protocol::ErrorBody),
        (status = 403, description = "`forbidden` (field roles), `out_of_scope` (a user outside the supervisor's subtree), `csrf`", body = jingtu_protocol::ErrorBody),
        (status = 404, description = "no such user", body = jingtu_protocol::ErrorBody),
        (status = 409, description = "`user_disabled`", body = jingtu_protocol::ErrorBody)
    ),
    security(("device_token" = []), ("session_cookie" = []))
)]
pub async fn issue_code(
    State(state): State<Shared>,
    Extension(caller): Extension<Actor>,
    Remote(remote): Remote,
    headers: HeaderMap,
    JsonBody(req): JsonBody<EnrollmentCodeRequest>,
) -> Result<Response, ApiError> {
    let server = server_url(&state, &headers)?;
    let st = state.clone();
    let answer = blocking(move || {
        let issued = service::issue_code(
            &st.ctx,
            &st.people.settings,
            &caller,
            &req.user,
            req.expires_in_s,
            server,
            Origin(remote),
        )?;
        let qr = issued.qr().map_err(|e| ApiError::internal(e.to_string()))?;
        st.people.remember_qr(
            issued.id,
            PendingQr {
                payload: issued.payload.clone(),
                issuer: caller.user_id,
                expires_at_ms: issued.expires_at_ms,
            },
        );
        Ok(EnrollmentCodeResponse {
            id: issued.id,
            code: format_enrollment_code(&issued.code),
            user: issued.user.name,
            expires_at_ms: issued.expires_at_ms,
            payload: issued.payload.to_uri(),
            qr_svg: qr.svg(),
            qr_png_path: format!("/v1/enrollment-codes/{}/qr.png", issued.id),
        })
    })
    .await?;
    Ok((StatusCode::CREATED, axum::Json(answer)).into_response())
}

/// The QR code of an unused enrollment code as PNG, for the user who issued it (held in the
/// server's memory only: after a restart, issue a new code).
#[utoipa::path(
    get,
    path = "/v1/enrollment-codes/{id}/qr.png",
    params(("id" = i64, Path, description = "the code's id")),
    responses(
        (status = 200, content_type = "image/png", body = Vec<u8>),
        (status = 404, description = "no such code of yours, or not held any more", body = jingtu_protocol::ErrorBody),
        (status = 410, description = "`code_used`, `code_expired`", body = jingtu_protocol::ErrorBody)
    ),
    security(("device_token" = []), ("session_cookie" = []))
)]
pub async fn code_png(
    State(state): State<Shared>,
    Extension(caller): Extension<Actor>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let st = state.clone();
    let png = blocking(move || {
        let not_found = || ApiError::not_found(format!("the QR code of enrollment code {id}"));
        let pending = st
            .people
            .qr_cache()
            .get(&id)
            .filter(|q| q.issuer == caller.user_id)
            .cloned()
            .ok_or_else(not_found)?;
        let info = st.auth.enrollment_code(id)?.ok_or_else(not_found)?;
        let gone = if info.used_at_ms.is_some() {
            Some(("code_used", "the code was used"))
        } else if info.expires_at_ms <= now_ms() {
            Some(("code_expired", "the code expired"))
        } else {
            None
        };
        if let Some((code, message)) = gone {
            st.people.qr_cache().remove(&id);
            return Err(ApiError::new(StatusCode::GONE, code, message));
        }
        EnrollQr::new(&pending.payload)
            .and_then(|q| q.png())
            .map_err(|e| ApiError::internal(e.to_string()))
    })
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        png,
    )
        .into_response())
}

/// A device exchanges a one-time code for its device token, bound to the code's user and to
/// this device (`device_id`). No authentication; rate-limited per address; every attempt is
/// audited.
#[utoipa::path(
    post,
    path = "/v1/enroll",
    request_body = EnrollRequest,
    responses(
        (status = 200, body = EnrollResponse),
        (status = 400, description = "`bad_device`, `bad_field`", body = jingtu_protocol::ErrorBody),
        (status = 403, description = "`bad_code` (unknown), `user_disabled`", body = jingtu_protocol::ErrorBody),
        (status = 409, description = "`code_used`", body = jingtu_protocol::ErrorBody),
        (status = 410, description = "`code_expired`", body = jingtu_protocol::ErrorBody),
        (status = 429, description = "`rate_limited` (Retry-After)", body = jingtu_protocol::ErrorBody)
    )
)]
pub async fn enroll(
    State(state): State<Shared>,
    Remote(remote): Remote,
    JsonBody(req): JsonBody<EnrollRequest>,
) -> Result<Response, ApiError> {
    state
        .people
        .enroll_limit
        .check(remote)
        .map_err(rate_limited)?;
    let st = state.clone();
    let answer = blocking(move || {
        let request = service::Enrollment {
            code: req.code,
            device_id: req.device_id,
            label: req.device_label,
            app_version: req.app_version,
            signing_key: req.signing_key,
        };
        Ok(service::enroll(&st.ctx, request, Origin(remote))?)
    })
    .await?;
    Ok(axum::Json(answer).into_response())
}

#[derive(Debug, Deserialize)]
pub struct DeviceQuery {
    user: Option<String>,
}

/// Devices the caller may see: an admin all, a supervisor those of the users they manage and
/// their own, anyone else their own.
#[utoipa::path(
    get,
    path = "/v1/devices",
    params(("user" = Option<String>, Query, description = "only this user's devices")),
    responses((status = 200, body = DeviceList)),
    security(("device_token" = []), ("session_cookie" = []))
)]
pub async fn devices(
    State(state): State<Shared>,
    Extension(caller): Extension<Actor>,
    Query(q): Query<DeviceQuery>,
) -> Result<axum::Json<DeviceList>, ApiError> {
    let st = state.clone();
    let devices = blocking(move || {
        Ok(service::devices(&st.ctx, &caller, q.user.as_deref())?
            .into_iter()
            .map(device_info)
            .collect())
    })
    .await?;
    Ok(axum::Json(DeviceList { devices }))
}

/// Revokes a device's token: it is refused (401 `bad_token`) at its next request. Admins
/// revoke any device, supervisors those of the users they manage.
#[utoipa::path(
    post,
    path = "/v1/devices/{id}/revoke",
    params(("id" = i64, Path, description = "the device's id")),
    responses(
        (status = 200, body = DeviceInfo),
        (status = 403, description = "`forbidden`, `out_of_scope`, `csrf`", body = jingtu_protocol::ErrorBody),
        (status = 404, body = jingtu_protocol::ErrorBody),
        (status = 409, description = "`already_revoked`", body = jingtu_protocol::ErrorBody)
    ),
    security(("device_token" = []), ("session_cookie" = []))
)]
pub async fn revoke_device(
    State(state): State<Shared>,
    Extension(caller): Extension<Actor>,
    Remote(remote): Remote,
    Path(id): Path<i64>,
) -> Result<axum::Json<DeviceInfo>, ApiError> {
    let st = state.clone();
    let info = blocking(move || {
        Ok(service::revoke_device(
            &st.ctx,
            &caller,
            id,
            AuditAction::DeviceRevoked,
            Origin(remote),
        )?)
    })
    .await?;
    let info = device_info(info);
    Ok(axum::Json(info))
}

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    user: Option<String>,
    action: Option<String>,
    since_ms: Option<i64>,
    limit: Option<u32>,
}

/// The audit log, newest first (admins only).
#[utoipa::path(
    get,
    path = "/v1/audit",
    params(
        ("user" = Option<String>, Query, description = "entries whose actor or target is this user"),
        ("action" = Option<String>, Query, description = "e.g. login_failed, enroll, device_revoked"),
        ("since_ms" = Option<i64>, Query, description = "entries at or after this time"),
        ("limit" = Option<u32>, Query, description = "1 to 1000, default 100")
    ),
    responses(
        (status = 200, body = AuditList),
        (status = 400, description = "`bad_action`", body = jingtu_protocol::ErrorBody),
        (status = 403, description = "`forbidden`: not an admin", body = jingtu_protocol::ErrorBody)
    ),
    security(("device_token" = []), ("session_cookie" = []))
)]
pub async fn audit(
    State(state): State<Shared>,
    Extension(caller): Extension<Actor>,
    Query(q): Query<AuditQuery>,
) -> Result<axum::Json<AuditList>, ApiError> {
    let filter = service::audit_filter(
        q.user,
        q.action.as_deref(),
        q.since_ms,
        q.limit.unwrap_or(100),
        1000,
    )?;
    let st = state.clone();
    let entries = blocking(move || Ok(service::audit(&st.ctx, &caller, &filter)?)).await?;
    Ok(axum::Json(AuditList { entries }))
}
