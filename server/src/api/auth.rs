//! Who is calling: a device token (`Authorization: Bearer`) or a web session (the
//! `jingtu_session` cookie, with `X-CSRF-Token` on state-changing requests), the client's
//! address, per-address rate limits, and the small JSON body extractor of the people endpoints.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use jingtu_protocol::{HEADER_APP_VERSION, HEADER_CSRF, SESSION_COOKIE};
use serde::de::DeserializeOwned;

use super::{ApiError, Shared, blocking};
use crate::actor::{Actor, Via};
use crate::people::{same_secret, secret_hash};
use crate::storage::{AuditAction, AuditEntry, AuditOutcome, TokenLookup};

/// The client's address: the peer, or with `trust_proxy` the last address in
/// `X-Forwarded-For` (the one the proxy in front added; earlier ones are the client's word).
pub fn client_addr(
    request_headers: &HeaderMap,
    peer: Option<SocketAddr>,
    trust_proxy: bool,
) -> Option<IpAddr> {
    if trust_proxy
        && let Some(ip) = request_headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|s| s.trim().parse::<IpAddr>().ok())
    {
        return Some(ip);
    }
    peer.map(|p| p.ip())
}

/// The client's address of a request (see [`client_addr`]).
pub(crate) fn remote_of(
    state: &Shared,
    headers: &HeaderMap,
    extensions: &axum::http::Extensions,
) -> Option<IpAddr> {
    let peer = extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    client_addr(headers, peer, state.people.trust_proxy)
}

/// The client's address as an extractor (never fails: `None` when unknown).
pub struct Remote(pub Option<IpAddr>);

impl axum::extract::FromRequestParts<Shared> for Remote {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &Shared,
    ) -> Result<Self, Self::Rejection> {
        Ok(Remote(remote_of(state, &parts.headers, &parts.extensions)))
    }
}

/// Attempts per client address: a token bucket per address (`governor`'s GCRA).
pub struct RateLimit {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    checks: std::sync::atomic::AtomicU64,
}

impl RateLimit {
    /// `per_minute` attempts a minute, `burst` at once (both at least 1).
    pub fn new(per_minute: u32, burst: u32) -> RateLimit {
        let per_minute = std::num::NonZeroU32::new(per_minute).unwrap_or(std::num::NonZeroU32::MIN);
        let burst = std::num::NonZeroU32::new(burst).unwrap_or(std::num::NonZeroU32::MIN);
        RateLimit {
            limiter: DefaultKeyedRateLimiter::keyed(
                Quota::per_minute(per_minute).allow_burst(burst),
            ),
            checks: Default::default(),
        }
    }

    /// Takes one attempt for `addr` (requests without an address share one bucket); when none
    /// is left, how long until the next.
    pub fn check(&self, addr: Option<IpAddr>) -> Result<(), Duration> {
        let key = addr.unwrap_or(IpAddr::from([0, 0, 0, 0]));
        // Forget addresses whose buckets are full again, now and then.
        let n = self
            .checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n % 1024 == 1023 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// 429 `rate_limited` with `Retry-After`.
pub fn rate_limited(wait: Duration) -> ApiError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError {
        retry_after_s: Some(secs.max(1)),
        ..ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many attempts from this address; wait and try again",
        )
    }
}

fn bearer(headers: &HeaderMap) -> Option<Result<&str, ApiError>> {
    let value = headers.get(header::AUTHORIZATION)?;
    Some(
        value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 256)
            .ok_or_else(|| {
                ApiError::unauthorized("missing_token", "send Authorization: Bearer <device token>")
            }),
    )
}

/// The value of the cookie `name`, if the request carries one (at most 256 bytes).
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty() && v.len() <= 256)
}

/// The value of the session cookie, if the request carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, SESSION_COOKIE)
}

/// The live web session the request's cookie names: `None` without a cookie, or for an
/// unknown, ended or expired session.
pub async fn session_of(
    state: &Shared,
    headers: &HeaderMap,
) -> Result<Option<crate::storage::SessionInfo>, ApiError> {
    let Some(session) = session_cookie(headers) else {
        return Ok(None);
    };
    let hash = secret_hash(session);
    let st = state.clone();
    let now = crate::people::now_ms();
    blocking(move || Ok(st.auth.find_session(&hash, now)?)).await
}

/// The caller behind a device token: 401 `bad_token` for an unknown or revoked one (a revoked
/// token's attempt is audited: a lost phone calling in is worth knowing about).
async fn device_caller(
    state: &Shared,
    token: &str,
    headers: &HeaderMap,
    remote: Option<IpAddr>,
) -> Result<Actor, ApiError> {
    let hash = secret_hash(token);
    let version = headers
        .get(HEADER_APP_VERSION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 64)
        .map(str::to_string);
    let st = state.clone();
    let found = blocking(move || {
        let found = st.auth.lookup_token(&hash, version.as_deref())?;
        if let TokenLookup::Revoked(t) = &found {
            st.auth.audit(&AuditEntry {
                device: Some(t.id),
                device_id: t.device_id.clone(),
                remote_addr: remote.map(|r| r.to_string()),
                target: Some(format!("device {}", t.id)),
                ..AuditEntry::new(&t.user, AuditAction::TokenRefused, AuditOutcome::Refused)
            })?;
        }
        Ok(found)
    })
    .await?;
    match found {
        TokenLookup::Live(t, user) => {
            Ok(Actor::of(user, Via::Device, Some(t.id), t.device_id)
                .with_signing_key(t.signing_key))
        }
        TokenLookup::Revoked(_) | TokenLookup::Unknown => Err(ApiError::unauthorized(
            "bad_token",
            "the device token is unknown or revoked",
        )),
    }
}

/// Device routes (sync, photos): a device token, nothing else.
pub async fn authenticate(
    State(state): State<Shared>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let headers = request.headers();
    let token = match bearer(headers) {
        Some(t) => t?,
        None => {
            return Err(ApiError::unauthorized(
                "missing_token",
                "send Authorization: Bearer <device token>",
            ));
        }
    };
    let remote = remote_of(&state, headers, request.extensions());
    let caller = device_caller(&state, token, headers, remote).await?;
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

/// People routes: a device token, or a web session whose state-changing requests carry the
/// session's CSRF token in `X-CSRF-Token` (403 `csrf` otherwise).
pub async fn authenticate_any(
    State(state): State<Shared>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let headers = request.headers();
    let remote = remote_of(&state, headers, request.extensions());
    let caller = if let Some(token) = bearer(headers) {
        device_caller(&state, token?, headers, remote).await?
    } else if session_cookie(headers).is_some() {
        let session = session_of(&state, headers).await?.ok_or_else(|| {
            ApiError::unauthorized(
                "bad_session",
                "the session is unknown, ended or expired: log in",
            )
        })?;
        let safe = matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::OPTIONS
        );
        if !safe {
            let given = headers
                .get(HEADER_CSRF)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !same_secret(given, &session.csrf_token) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf",
                    "send the session's csrf_token in X-CSRF-Token",
                ));
            }
        }
        Actor::of(session.user, Via::Session, None, None)
    } else {
        return Err(ApiError::unauthorized(
            "missing_credentials",
            "send Authorization: Bearer <device token>, or log in (cookie jingtu_session)",
        ));
    };
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

/// A JSON body of at most `limits.max_json_bytes` (64 KiB by default): 413 `too_large` over
/// it, 400 `malformed_body` when it is not the expected JSON.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Shared> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Shared) -> Result<Self, Self::Rejection> {
        // Only a JSON body that says so: a form of another site can post text that parses as
        // JSON (`text/plain`) without the browser asking first, which would log a victim in
        // to someone else's account (login CSRF); `application/json` it cannot send.
        let json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "content_type",
                "this endpoint takes a body of Content-Type: application/json",
            ));
        }
        let limit = state.limits.max_json_bytes;
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("a JSON body has at most {limit} bytes"),
                )
            })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request("malformed_body", e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "203.0.113.9, 198.51.100.7".parse().unwrap(),
        );
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        assert_eq!(client_addr(&h, Some(peer), false), Some(peer.ip()));
        assert_eq!(
            client_addr(&h, Some(peer), true),
            Some("198.51.100.7".parse().unwrap()),
            "the entry the proxy added"
        );
        h.insert("x-forwarded-for", "junk".parse().unwrap());
        assert_eq!(client_addr(&h, Some(peer), true), Some(peer.ip()));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; jingtu_session=abc ; b=2".parse().unwrap(),
        );
        assert_eq!(session_cookie(&h), Some("abc"));
        h.insert(header::COOKIE, "jingtu_sessionx=1".parse().unwrap());
        assert_eq!(session_cookie(&h), None);
    }

    #[test]
    fn rate_limits_are_per_address() {
        let limit = RateLimit::new(1, 2);
        let a = Some(IpAddr::from([10, 0, 0, 1]));
        let b = Some(IpAddr::from([10, 0, 0, 2]));
        assert!(limit.check(a).is_ok());
        assert!(limit.check(a).is_ok());
        let wait = limit.check(a).unwrap_err();
        assert!(
            wait > Duration::from_secs(1) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        assert!(limit.check(b).is_ok(), "another address has its own bucket");
        assert_eq!(rate_limited(wait).retry_after_s, Some(wait.as_secs() + 1));
    }
}
