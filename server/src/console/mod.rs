//! The supervisors' web console, served by `jingtu-server` at `/`: server-rendered HTML (askama
//! templates under `server/templates/console/`, escaped by default) that works without
//! JavaScript, zh-CN first with an English switch, every asset served from here.
//!
//! Pages: login, the review queue (filters, counts, pages), a record (labelled fields, issues,
//! computed results, photos, position, history, conflicts, the review thread) with the forms to
//! approve, return with comments pointed at fields or items, reopen, comment and resolve
//! conflicts. The work is done by the same services as the JSON API ([`crate::review`],
//! [`crate::people::service`]); the console only reads forms and renders pages.
//!
//! Sessions are the API's (cookie `jingtu_session`); every form that changes something carries
//! the session's CSRF token, and the login form a token of its own (double-submit cookie), so
//! no other site can post into a supervisor's session or log a browser into another account.

mod lab;
mod labels;
mod ledger;
mod pages;
pub(crate) mod text;
mod work;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::actor::{Actor, Via};
use crate::api::auth::{Remote, cookie as cookie_value, session_cookie, session_of};
use crate::api::{ApiError, Shared, blocking};
use crate::people::{same_secret, secret_hash};
use text::Lang;

/// The cookie that keeps the console's language.
const LANG_COOKIE: &str = "jingtu_lang";
/// The cookie of the login form's token.
const LOGIN_COOKIE: &str = "jingtu_login";

/// The console's routes (GET pages, POST forms, its stylesheet).
pub fn router() -> Router<Shared> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/queue") }))
        .route("/login", get(login_page).post(login_form))
        .route("/logout", post(logout_form))
        .route("/queue", get(queue_page))
        .route("/records/{id}", get(record_page))
        .route("/records/{id}/review", post(review_form))
        .route("/records/{id}/resolve", post(resolve_form))
        .route("/photos/{hash}", get(photo))
        .route("/enroll", get(enroll_page).post(enroll_form))
        .route(
            "/assignments",
            get(work::assignments_page).post(work::give_form),
        )
        .route("/assignments/{id}/reassign", post(work::hand_over_form))
        .route("/assignments/{id}/remove", post(work::take_back_form))
        .route("/people", get(work::people_page))
        .route("/devices/{id}/revoke", post(work::revoke_form))
        .route("/labels", get(labels::labels_page))
        .route("/ledger/water-bodies", get(ledger::water_bodies_page))
        .route("/ledger/facilities", get(ledger::facilities_page))
        .route("/lab", get(lab::lab_page))
        .route("/lab/find", get(lab::find_page))
        .route(
            "/lab/samples/{code}",
            get(lab::sample_page).post(lab::enter_form),
        )
        .route("/static/console.css", get(stylesheet))
}

/// A page answer, or where to send the browser instead.
type Page = Result<Response, Response>;

fn html(status: StatusCode, body: Result<String, askama::Error>) -> Response {
    match body {
        Ok(b) => (
            status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            Html(b),
        )
            .into_response(),
        Err(e) => {
            tracing::error!("a console page did not render: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page did not render").into_response()
        }
    }
}

/// The language of the page: `?lang=` when given, else the cookie, else Chinese.
fn lang_of(headers: &HeaderMap, asked: Option<&str>) -> Lang {
    Lang::parse(
        asked
            .or_else(|| cookie_value(headers, LANG_COOKIE))
            .unwrap_or("zh"),
    )
}

fn lang_cookie(lang: Lang) -> String {
    format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
        lang.code()
    )
}

/// Who is logged in, with the session's CSRF token; `None` sends the browser to the login.
struct Session {
    actor: Actor,
    csrf: String,
}

async fn session(state: &Shared, headers: &HeaderMap) -> Result<Option<Session>, ApiError> {
    Ok(session_of(state, headers).await?.map(|s| Session {
        csrf: s.csrf_token.clone(),
        actor: Actor::of(s.user, Via::Session, None, None),
    }))
}

/// The session of a page, or a redirect to the login page.
async fn require(state: &Shared, headers: &HeaderMap, back: &str) -> Result<Session, Response> {
    match session(state, headers).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(Redirect::to(&format!("/login?next={}", encode(back))).into_response()),
        Err(e) => Err(e.into_response()),
    }
}

/// Percent-encodes a console path or a value for a query or a `data:` URL (`/` kept, so a
/// path stays readable).
fn encode(s: &str) -> String {
    jingtu_protocol::percent_encode(s).replace("%2F", "/")
}

/// A page of an error for people, in their language.
fn error_page(lang: Lang, status: StatusCode, message: &str) -> Response {
    html(status, pages::ErrorPage::new(lang, message).render_page())
}

/// An API error as a page.
fn failed(lang: Lang, e: ApiError) -> Response {
    let message = text::error_message(lang, e.code, &e.message);
    error_page(lang, e.status, &message)
}

#[derive(Debug, Default, Deserialize)]
struct LangQuery {
    lang: Option<String>,
    next: Option<String>,
    /// The user an enrollment code is for, filled in from the people page.
    user: Option<String>,
}

/// Only a path of this console is a place to go back to after logging in.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/queue".to_string(),
    }
}

async fn login_page(headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let lang = lang_of(&headers, q.lang.as_deref());
    let token = crate::people::random_hex(16);
    let mut page = html(
        StatusCode::OK,
        pages::LoginPage::new(lang, &token, &safe_next(q.next.as_deref()), None).render_page(),
    );
    set_cookies(
        &mut page,
        &[
            format!("{LOGIN_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict"),
            lang_cookie(lang),
        ],
    );
    page
}

fn set_cookies(r: &mut Response, cookies: &[String]) {
    for c in cookies {
        if let Ok(v) = header::HeaderValue::from_str(c) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    user: String,
    password: String,
    token: String,
    next: Option<String>,
}

async fn login_form(
    State(state): State<Shared>,
    Remote(remote): Remote,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let lang = lang_of(&headers, None);
    let next = safe_next(f.next.as_deref());
    let again = |status: StatusCode, message: String| {
        let token = crate::people::random_hex(16);
        let mut page = html(
            status,
            pages::LoginPage::new(lang, &token, &next, Some(&message)).render_page(),
        );
        set_cookies(
            &mut page,
            &[format!(
                "{LOGIN_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict"
            )],
        );
        page
    };
    let expected = cookie_value(&headers, LOGIN_COOKIE).unwrap_or("");
    if expected.is_empty() || !same_secret(&f.token, expected) {
        return again(
            StatusCode::FORBIDDEN,
            text::t(
                lang,
                "登录页面已过期，请重新登录。",
                "The login page expired: log in again.",
            )
            .to_string(),
        );
    }
    if let Err(wait) = state.people.login_limit.check(remote) {
        return again(
            StatusCode::TOO_MANY_REQUESTS,
            text::wait_message(lang, wait.as_secs()),
        );
    }
    let st = state.clone();
    let granted = blocking(move || {
        Ok(crate::people::service::login(
            &st.ctx,
            &st.people.settings,
            &f.user,
            &f.password,
            crate::people::service::Origin(remote),
        )?)
    })
    .await;
    match granted {
        Ok(g) => {
            let cookie = match state
                .people
                .cookie(&g.session, state.people.settings.session_hours * 3600)
            {
                Ok(c) => c,
                Err(e) => return e.into_response(),
            };
            let mut r = Redirect::to(&next).into_response();
            r.headers_mut().append(header::SET_COOKIE, cookie);
            set_cookies(
                &mut r,
                &[format!(
                    "{LOGIN_COOKIE}=; Path=/login; Max-Age=0; HttpOnly; SameSite=Strict"
                )],
            );
            r
        }
        Err(e) => {
            let message = text::error_message(lang, e.code, &e.message);
            again(e.status, message)
        }
    }
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout_form(
    State(state): State<Shared>,
    Remote(remote): Remote,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Page {
    let lang = lang_of(&headers, None);
    let s = require(&state, &headers, "/queue").await?;
    if !same_secret(&f.csrf, &s.csrf) {
        return Err(error_page(lang, StatusCode::FORBIDDEN, text::csrf(lang)));
    }
    if let Some(cookie) = session_cookie(&headers) {
        let hash = secret_hash(cookie);
        let st = state.clone();
        let actor = s.actor.clone();
        blocking(move || {
            Ok(crate::people::service::logout(
                &st.ctx,
                &actor,
                &hash,
                crate::people::service::Origin(remote),
            )?)
        })
        .await
        .map_err(|e| failed(lang, e))?;
    }
    let mut r = Redirect::to("/login").into_response();
    if let Ok(c) = state.people.cookie("", 0) {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(r)
}

async fn queue_page(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<pages::QueueForm>,
) -> Page {
    let lang = lang_of(&headers, q.lang.as_deref());
    let s = require(&state, &headers, "/queue").await?;
    if s.actor.role == jingtu_model::Role::Lab {
        // Lab staff review nothing: their page is the samples handed in.
        return Ok(Redirect::to("/lab").into_response());
    }
    let filter = q.api().filter().map_err(|e| failed(lang, e))?;
    let st = state.clone();
    let actor = s.actor.clone();
    let page = blocking(move || Ok(crate::review::queue(&st.ctx, &actor, &filter)?))
        .await
        .map_err(|e| failed(lang, e))?;
    let mut r = html(
        StatusCode::OK,
        pages::QueuePage::new(lang, &s.actor, &s.csrf, &q, page).render_page(),
    );
    set_cookies(&mut r, &[lang_cookie(lang)]);
    Ok(r)
}

async fn record_page(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<LangQuery>,
) -> Page {
    let lang = lang_of(&headers, q.lang.as_deref());
    let s = require(&state, &headers, &format!("/records/{id}")).await?;
    let st = state.clone();
    let actor = s.actor.clone();
    let record = id.clone();
    let detail = blocking(move || Ok(crate::review::detail(&st.ctx, &actor, &record)?))
        .await
        .map_err(|e| failed(lang, e))?;
    let map = state.map_tile_url.clone();
    let mut r = html(
        StatusCode::OK,
        pages::RecordPage::new(lang, &s.actor, &s.csrf, detail, map).render_page(),
    );
    set_cookies(&mut r, &[lang_cookie(lang)]);
    Ok(r)
}

async fn review_form(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<pages::ReviewForm>,
) -> Page {
    let lang = lang_of(&headers, None);
    let s = require(&state, &headers, &format!("/records/{id}")).await?;
    if !same_secret(&f.csrf, &s.csrf) {
        return Err(error_page(lang, StatusCode::FORBIDDEN, text::csrf(lang)));
    }
    let comments = f.comments();
    let st = state.clone();
    let record = id.clone();
    let actor = s.actor.clone();
    blocking(move || {
        let written = match f.decision.as_str() {
            "comment" => crate::review::comment(&st.ctx, &actor, &record, &comments)?,
            d => {
                let kind = jingtu_doc::EventKind::decision(d).ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_value",
                        "decision: one of approve, return, reopen, comment",
                    )
                })?;
                crate::review::decide(&st.ctx, &actor, &record, kind, f.note.as_deref(), &comments)?
            }
        };
        Ok(written)
    })
    .await
    .map_err(|e| failed(lang, e))?;
    Ok(Redirect::to(&format!("/records/{id}#review")).into_response())
}

#[derive(Debug, Deserialize)]
struct ResolveForm {
    csrf: String,
    path: String,
    /// The value chosen, as JSON (one of the values shown) ...
    choice: Option<String>,
    /// ... or typed anew, as text converted to the field's type.
    typed: Option<String>,
}

async fn resolve_form(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<ResolveForm>,
) -> Page {
    let lang = lang_of(&headers, None);
    let s = require(&state, &headers, &format!("/records/{id}")).await?;
    if !same_secret(&f.csrf, &s.csrf) {
        return Err(error_page(lang, StatusCode::FORBIDDEN, text::csrf(lang)));
    }
    let st = state.clone();
    let record = id.clone();
    let actor = s.actor.clone();
    blocking(move || {
        let value = match f.typed.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            Some(text) => crate::review::parse_typed(&st.ctx, &actor, &record, &f.path, text)?,
            None => serde_json::from_str(f.choice.as_deref().unwrap_or("null")).map_err(|_| {
                ApiError::bad_request("invalid_value", "choose one of the values, or type one")
            })?,
        };
        Ok(crate::review::resolve(
            &st.ctx, &actor, &record, &f.path, &value,
        )?)
    })
    .await
    .map_err(|e| failed(lang, e))?;
    Ok(Redirect::to(&format!("/records/{id}#conflicts")).into_response())
}

#[derive(Debug, Default, Deserialize)]
struct PhotoQuery {
    #[serde(default)]
    thumb: bool,
}

/// A photo (or its thumbnail) of a record the supervisor may see.
async fn photo(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(hash): Path<String>,
    Query(q): Query<PhotoQuery>,
) -> Page {
    let lang = lang_of(&headers, None);
    let s = require(&state, &headers, "/queue").await?;
    let st = state.clone();
    let bytes = blocking(move || {
        let hash = jingtu_model::PhotoHash::parse(&hash).ok_or_else(|| {
            ApiError::bad_request(
                "bad_hash",
                "a photo is named by its SHA-256 (64 hex digits)",
            )
        })?;
        let reach = s.actor.reach(&*st.ctx.scope)?;
        if !reach.may_see_photo(&*st.ctx.scope, hash.as_str())? {
            return Err(ApiError::forbidden(
                "out_of_scope",
                "this photo belongs to records outside your org units",
            ));
        }
        let bytes = if q.thumb {
            st.ctx.photos.thumbnail(&hash)?
        } else {
            st.ctx.photos.full(&hash)?
        };
        bytes.ok_or_else(|| ApiError::not_found("photo not found"))
    })
    .await
    .map_err(|e| failed(lang, e))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "private, max-age=86400, immutable"),
        ],
        bytes,
    )
        .into_response())
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/console.css"),
    )
        .into_response()
}

async fn enroll_page(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Page {
    let lang = lang_of(&headers, q.lang.as_deref());
    let s = require(&state, &headers, "/enroll").await?;
    let mut r = html(
        StatusCode::OK,
        pages::EnrollPage::new(lang, &s.actor, &s.csrf, None, None)
            .for_user(q.user.as_deref())
            .render_page(),
    );
    set_cookies(&mut r, &[lang_cookie(lang)]);
    Ok(r)
}

#[derive(Debug, Deserialize)]
struct EnrollForm {
    csrf: String,
    user: String,
    hours: Option<u64>,
}

/// Issues a one-time enrollment code for a field user and shows it with its QR code.
async fn enroll_form(
    State(state): State<Shared>,
    Remote(remote): Remote,
    headers: HeaderMap,
    Form(f): Form<EnrollForm>,
) -> Page {
    let lang = lang_of(&headers, None);
    let s = require(&state, &headers, "/enroll").await?;
    if !same_secret(&f.csrf, &s.csrf) {
        return Err(error_page(lang, StatusCode::FORBIDDEN, text::csrf(lang)));
    }
    let server = crate::api::people::server_url(&state, &headers).map_err(|e| failed(lang, e))?;
    let st = state.clone();
    let actor = s.actor.clone();
    let issued = blocking(move || {
        let issued = crate::people::service::issue_code(
            &st.ctx,
            &st.people.settings,
            &actor,
            &f.user,
            f.hours.map(|h| h * 3600),
            server,
            crate::people::service::Origin(remote),
        );
        match issued {
            Ok(i) => {
                let qr = i.qr().map_err(|e| ApiError::internal(e.to_string()))?;
                Ok(Ok(pages::IssuedView {
                    user: i.user.name.clone(),
                    code: jingtu_protocol::format_enrollment_code(&i.code),
                    payload: i.payload.to_uri(),
                    expires: text::when(i.expires_at_ms),
                    qr: format!("data:image/svg+xml;charset=utf-8,{}", encode(&qr.svg())),
                }))
            }
            Err(e) => Ok(Err(ApiError::from(e))),
        }
    })
    .await
    .map_err(|e| failed(lang, e))?;
    let (status, issued, error) = match issued {
        Ok(i) => (StatusCode::CREATED, Some(i), None),
        Err(e) => (
            e.status,
            None,
            Some(text::error_message(lang, e.code, &e.message)),
        ),
    };
    Ok(html(
        status,
        pages::EnrollPage::new(lang, &s.actor, &s.csrf, issued, error.as_deref()).render_page(),
    ))
}
