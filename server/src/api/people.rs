//! People and devices over HTTP (docs/people.md): web login and logout, enrollment codes and
//! their QR images, enrollment of a device, device lists and revocation, the audit log.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jingtu_model::Role;
use jingtu_protocol::{
    AuditList, DeviceInfo, DeviceList, EnrollPayload, EnrollRequest, EnrollResponse,
    EnrollmentCodeRequest, EnrollmentCodeResponse, LoginRequest, LoginResponse, SESSION_COOKIE,
    format_enrollment_code, normalize_enrollment_code,
};
use serde::Deserialize;
use serde_json::json;

use super::auth::{JsonBody, RateLimit, Remote, rate_limited, session_cookie};
use super::{ApiError, Shared, blocking};
use crate::actor::Actor;
use crate::config::{AuthConfig, Config};
use crate::people::{
    EnrollQr, new_enrollment_code, now_ms, random_hex, secret_hash, verify_password,
};
use crate::storage::{
    AuditAction, AuditEntry, AuditFilter, AuditOutcome, LockoutPolicy, NewDevice, RedeemError,
    TokenInfo,
};

/// A device whose enrollment answer was lost may present its code again this long after using
/// it (and gets a new token; the first is revoked).
pub const ENROLL_RETRY_WINDOW_MS: i64 = 10 * 60 * 1000;
/// Shortest validity of an enrollment code.
pub const MIN_CODE_SECONDS: u64 = 60;

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

    fn lockout(&self) -> LockoutPolicy {
        LockoutPolicy {
            failures: self.settings.lockout_failures,
            window_ms: self.settings.lockout_window_minutes as i64 * 60_000,
            lock_ms: self.settings.lockout_minutes as i64 * 60_000,
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
    fn cookie(&self, value: &str, max_age_s: u64) -> Result<HeaderValue, ApiError> {
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

fn addr(remote: Option<IpAddr>) -> Option<String> {
    remote.map(|r| r.to_string())
}

/// An audit entry of something the caller did.
fn entry_of(
    caller: &Actor,
    remote: Option<IpAddr>,
    action: AuditAction,
    outcome: AuditOutcome,
) -> AuditEntry {
    AuditEntry {
        device: caller.device,
        device_id: caller.device_id.clone(),
        remote_addr: addr(remote),
        ..AuditEntry::new(&caller.user, action, outcome)
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

fn bad_login() -> ApiError {
    ApiError::unauthorized("bad_login", "the user name or password is wrong")
}

fn locked(wait_ms: i64) -> ApiError {
    ApiError {
        retry_after_s: Some((wait_ms.max(1000) as u64).div_ceil(1000)),
        ..ApiError::new(
            StatusCode::LOCKED,
            "locked",
            "too many failed logins: this user is locked out for a while",
        )
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
    let name = req.user.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 || req.password.len() > 1024 {
        return Err(bad_login());
    }
    let st = state.clone();
    let (session, answer) = blocking(move || {
        let people = &st.people;
        let now = now_ms();
        let audit = |e: AuditEntry| {
            st.auth.audit(&AuditEntry {
                remote_addr: addr(remote),
                ..e.target(&name)
            })
        };
        let subject = st.auth.login_subject(&name)?;
        if let Some((user, _)) = &subject
            && let Some(until) = user.locked_until_ms.filter(|u| *u > now)
            && !user.disabled
        {
            audit(
                AuditEntry::new(&user.name, AuditAction::LoginLocked, AuditOutcome::Refused)
                    .detail(json!({"locked_until_ms": until})),
            )?;
            return Err(locked(until - now));
        }
        let (user, hash) = match subject {
            Some((u, h)) => (Some(u), h),
            None => (None, None),
        };
        // A known, enabled user's attempt is taken (and counted) before the password is
        // checked, so guesses in parallel get no more tries than the lockout allows.
        if let Some(u) = user.as_ref().filter(|u| !u.disabled)
            && let Err(until) = st.auth.login_attempt(u.id, now, &people.lockout())?
        {
            audit(
                AuditEntry::new(&u.name, AuditAction::LoginLocked, AuditOutcome::Refused)
                    .detail(json!({"locked_until_ms": until})),
            )?;
            return Err(locked(until - now));
        }
        let ok = verify_password(&req.password, hash.as_deref());
        let refused = |reason: &str| {
            AuditEntry::new(
                AuditEntry::ANONYMOUS,
                AuditAction::LoginFailed,
                AuditOutcome::Refused,
            )
            .detail(json!({"reason": reason}))
        };
        let Some(user) = user else {
            audit(refused("unknown_user"))?;
            return Err(bad_login());
        };
        if user.disabled {
            audit(refused("disabled"))?;
            return Err(bad_login());
        }
        if !ok {
            let locked_until = st.auth.login_failed(user.id, now, &people.lockout())?;
            audit(refused(if hash.is_some() {
                "wrong_password"
            } else {
                "no_password"
            }))?;
            if let Some(until) = locked_until {
                audit(
                    AuditEntry::new(&user.name, AuditAction::LoginLocked, AuditOutcome::Refused)
                        .detail(json!({
                            "locked_until_ms": until,
                            "failures": people.settings.lockout_failures
                        })),
                )?;
                return Err(locked(until - now));
            }
            return Err(bad_login());
        }
        if !user.role.reviews() {
            // Field users work on devices. The answer is the one of a wrong password, so that
            // a guess never learns it was right; the audit log says why.
            audit(refused("field_role"))?;
            return Err(bad_login());
        }
        st.auth.login_succeeded(user.id)?;
        let session = random_hex(32);
        let csrf_token = random_hex(32);
        let lifetime_ms = people.settings.session_hours as i64 * 3_600_000;
        let expires_at_ms = now + lifetime_ms;
        st.auth
            .create_session(user.id, &secret_hash(&session), &csrf_token, expires_at_ms)?;
        audit(AuditEntry::new(
            &user.name,
            AuditAction::Login,
            AuditOutcome::Ok,
        ))?;
        Ok((
            session,
            LoginResponse {
                user: user.name,
                role: user.role,
                org_units: user.org_units,
                csrf_token,
                expires_at_ms,
            },
        ))
    })
    .await?;
    let cookie = state
        .people
        .cookie(&session, state.people.settings.session_hours * 3600)?;
    Ok(([(header::SET_COOKIE, cookie)], axum::Json(answer)).into_response())
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
    blocking(move || {
        st.auth.end_session(&hash)?;
        st.auth.audit(
            &entry_of(&caller, remote, AuditAction::Logout, AuditOutcome::Ok)
                .target(caller.user.clone()),
        )?;
        Ok(())
    })
    .await?;
    let cookie = state.people.cookie("", 0)?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

/// The server's address for QR codes: the configured `public_url`, else the request's `Host`.
fn server_url(state: &Shared, headers: &HeaderMap) -> Result<String, ApiError> {
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
        let settings = &st.people.settings;
        if !caller.role.reviews() {
            return Err(ApiError::forbidden(
                "forbidden",
                "only supervisors and admins issue enrollment codes",
            ));
        }
        let name = req.user.trim();
        let target = st
            .auth
            .user(name)?
            .ok_or_else(|| ApiError::not_found(format!("user {name}")))?;
        if !caller.manages(&target) {
            st.auth.audit(
                &entry_of(
                    &caller,
                    remote,
                    AuditAction::EnrollmentCodeIssued,
                    AuditOutcome::Refused,
                )
                .target(target.name.clone())
                .detail(json!({"reason": "out_of_scope"})),
            )?;
            return Err(ApiError::forbidden(
                "out_of_scope",
                format!("{} is not within your org units", target.name),
            ));
        }
        if target.disabled {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "user_disabled",
                format!("{} is disabled", target.name),
            ));
        }
        let max_s = settings.enrollment_code_max_hours * 3600;
        let seconds = req
            .expires_in_s
            .unwrap_or(settings.enrollment_code_hours * 3600);
        if !(MIN_CODE_SECONDS..=max_s).contains(&seconds) {
            return Err(ApiError::bad_request(
                "bad_expiry",
                format!("a code is valid for {MIN_CODE_SECONDS} to {max_s} seconds"),
            ));
        }
        let code = new_enrollment_code();
        let expires_at_ms = now_ms() + seconds as i64 * 1000;
        let info = st.auth.add_enrollment_code(
            &target.name,
            &secret_hash(&code),
            &caller.user,
            expires_at_ms,
        )?;
        let payload = EnrollPayload {
            server,
            code: code.clone(),
        };
        let qr = EnrollQr::new(&payload).map_err(|e| ApiError::internal(e.to_string()))?;
        st.auth.audit(
            &entry_of(
                &caller,
                remote,
                AuditAction::EnrollmentCodeIssued,
                AuditOutcome::Ok,
            )
            .target(target.name.clone())
            .detail(json!({"code_id": info.id, "expires_at_ms": expires_at_ms})),
        )?;
        let uri = payload.to_uri();
        st.people.remember_qr(
            info.id,
            PendingQr {
                payload,
                issuer: caller.user_id,
                expires_at_ms,
            },
        );
        Ok(EnrollmentCodeResponse {
            id: info.id,
            code: format_enrollment_code(&code),
            user: target.name,
            expires_at_ms,
            payload: uri,
            qr_svg: qr.svg(),
            qr_png_path: format!("/v1/enrollment-codes/{}/qr.png", info.id),
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

fn check_device_id(id: &str) -> Result<String, ApiError> {
    let id = id.trim();
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request(
            "bad_device",
            "device_id must be the device's actor id in hex (1 to 64 digits)",
        ));
    }
    Ok(id.to_ascii_lowercase())
}

fn clean_text(
    value: Option<String>,
    max: usize,
    what: &'static str,
) -> Result<Option<String>, ApiError> {
    let Some(v) = value else { return Ok(None) };
    let v = v.trim();
    if v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "bad_field",
            format!("{what} has at most {max} characters, without control characters"),
        ));
    }
    Ok((!v.is_empty()).then(|| v.to_string()))
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
    let device_id = check_device_id(&req.device_id)?;
    let label = clean_text(req.device_label, 100, "device_label")?;
    let app_version = clean_text(req.app_version, 64, "app_version")?;
    let st = state.clone();
    let answer = blocking(move || {
        let refused = |detail: serde_json::Value| {
            st.auth.audit(&AuditEntry {
                device_id: Some(device_id.clone()),
                remote_addr: addr(remote),
                ..AuditEntry::new(
                    AuditEntry::ANONYMOUS,
                    AuditAction::EnrollRefused,
                    AuditOutcome::Refused,
                )
                .detail(detail)
            })
        };
        let bad_code = || ApiError::forbidden("bad_code", "no such enrollment code");
        let Some(code) = normalize_enrollment_code(&req.code) else {
            refused(json!({"reason": "bad_code", "malformed": true}))?;
            return Err(bad_code());
        };
        let token = crate::new_token();
        let device = NewDevice {
            token_hash: secret_hash(&token),
            device_id: device_id.clone(),
            label: label.clone(),
            app_version: app_version.clone(),
        };
        let now = now_ms();
        match st.auth.redeem_enrollment_code(
            &secret_hash(&code),
            now,
            &device,
            ENROLL_RETRY_WINDOW_MS,
        ) {
            Ok(r) => {
                // The issuer's QR request answers `code_used` from now on (and drops it).
                st.auth.audit(&AuditEntry {
                    device: Some(r.token.id),
                    device_id: Some(device_id.clone()),
                    remote_addr: addr(remote),
                    ..AuditEntry::new(&r.user.name, AuditAction::Enroll, AuditOutcome::Ok)
                        .target(format!("device {}", r.token.id))
                        .detail(json!({
                            "code_id": r.code_id,
                            "label": label,
                            "app_version": app_version,
                            "replaced_devices": r.replaced,
                            "retry": r.retry,
                        }))
                })?;
                Ok(EnrollResponse {
                    token,
                    device: r.token.id,
                    user: r.user.name,
                    role: r.user.role,
                    org_units: r.user.org_units,
                    server_time_ms: now,
                })
            }
            Err(RedeemError::Unknown) => {
                refused(json!({"reason": "bad_code"}))?;
                Err(bad_code())
            }
            Err(RedeemError::Expired { id }) => {
                refused(json!({"reason": "code_expired", "code_id": id}))?;
                Err(ApiError::new(
                    StatusCode::GONE,
                    "code_expired",
                    "the enrollment code expired: ask for a new one",
                ))
            }
            Err(RedeemError::Used { id }) => {
                refused(json!({"reason": "code_used", "code_id": id}))?;
                Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "code_used",
                    "the enrollment code was used already: ask for a new one",
                ))
            }
            Err(RedeemError::UserDisabled { id }) => {
                refused(json!({"reason": "user_disabled", "code_id": id}))?;
                Err(ApiError::forbidden(
                    "user_disabled",
                    "the code's user is disabled",
                ))
            }
            Err(RedeemError::Storage(e)) => Err(e.into()),
        }
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
        let tokens = st.auth.list_tokens()?;
        let users: HashMap<String, crate::storage::UserInfo> = if caller.role == Role::Supervisor {
            st.auth
                .list_users()?
                .into_iter()
                .map(|u| (u.name.clone(), u))
                .collect()
        } else {
            HashMap::new()
        };
        let visible = |t: &TokenInfo| {
            t.user == caller.user
                || caller.role == Role::Admin
                || users.get(&t.user).is_some_and(|u| caller.manages(u))
        };
        Ok(tokens
            .into_iter()
            .filter(|t| q.user.as_ref().is_none_or(|u| *u == t.user))
            .filter(visible)
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
        if !caller.role.reviews() {
            return Err(ApiError::forbidden(
                "forbidden",
                "only supervisors and admins revoke devices",
            ));
        }
        let token = st
            .auth
            .token(id)?
            .ok_or_else(|| ApiError::not_found(format!("device {id}")))?;
        let owner = st.auth.user(&token.user)?;
        if !owner.as_ref().is_some_and(|u| caller.manages(u)) {
            st.auth.audit(
                &entry_of(
                    &caller,
                    remote,
                    AuditAction::DeviceRevoked,
                    AuditOutcome::Refused,
                )
                .target(format!("device {id}"))
                .detail(json!({"reason": "out_of_scope", "user": token.user})),
            )?;
            return Err(ApiError::forbidden(
                "out_of_scope",
                format!("the device of {} is not within your org units", token.user),
            ));
        }
        let already = || {
            ApiError::new(
                StatusCode::CONFLICT,
                "already_revoked",
                format!("device {id} is revoked already"),
            )
        };
        if token.revoked {
            return Err(already());
        }
        match st.auth.revoke_token(id) {
            Ok(()) => {}
            Err(crate::storage::StorageError::NotFound(_)) => return Err(already()),
            Err(e) => return Err(e.into()),
        }
        st.auth.audit(
            &entry_of(
                &caller,
                remote,
                AuditAction::DeviceRevoked,
                AuditOutcome::Ok,
            )
            .target(format!("device {id}"))
            .detail(json!({
                "user": token.user,
                "device_id": token.device_id,
                "label": token.label
            })),
        )?;
        let now = st
            .auth
            .token(id)?
            .ok_or_else(|| ApiError::not_found(format!("device {id}")))?;
        Ok(device_info(now))
    })
    .await?;
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
    if caller.role != Role::Admin {
        return Err(ApiError::forbidden(
            "forbidden",
            "the audit log is for admins",
        ));
    }
    let action = match q.action.as_deref().filter(|a| !a.is_empty()) {
        Some(a) => Some(AuditAction::parse(a).ok_or_else(|| {
            ApiError::bad_request("bad_action", format!("'{a}' is not an audit action"))
        })?),
        None => None,
    };
    let filter = AuditFilter {
        user: q.user.filter(|u| !u.is_empty()),
        action,
        since_ms: q.since_ms,
        limit: q.limit.unwrap_or(100).clamp(1, 1000),
    };
    let st = state.clone();
    let entries = blocking(move || Ok(st.auth.audit_query(&filter)?)).await?;
    Ok(axum::Json(AuditList { entries }))
}
