//! The HTTP API (axum). Handlers decode, call the storage traits and the record checks off the
//! async runtime, and encode; they never see SQL or files.

mod assignments;
pub mod auth;
mod catalog;
mod error;
mod export;
mod framed;
mod health;
pub mod lab;
pub mod ledger;
pub mod people;
mod photos;
pub mod review;
mod sync;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use jingtu_protocol::paths;
use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

pub use error::ApiError;

use crate::Context;

/// What every handler shares: the services' [`Context`] (storage and limits; `state.records`
/// and the like reach through to it) and what only the HTTP side needs.
pub struct AppState {
    pub ctx: Context,
    pub metrics: PrometheusHandle,
    /// Sessions, enrollment and abuse limits of the people endpoints.
    pub people: people::PeopleState,
    /// Permits for the devices' heavy requests (sync, catalog, photos): at most
    /// `limits.max_concurrent_syncs` are read, decoded and worked on at once.
    pub heavy: Arc<tokio::sync::Semaphore>,
    /// Folders whose disks must keep `limits.min_free_disk_mb` free (`/readyz` tells).
    pub disks: Vec<std::path::PathBuf>,
    /// Who may read `/metrics`, and the token that reads it from anywhere.
    pub metrics_access: crate::config::MetricsAccess,
    pub metrics_token: Option<String>,
    /// Whether `/openapi.json` is served.
    pub openapi: bool,
    /// The tile server of the console's map, if any (`map.tile_url`).
    pub map_tile_url: Option<String>,
}

/// A permit of [`AppState::heavy`], held by a request until its work is done (handlers move a
/// clone into their blocking work, which may outlive the answer).
#[derive(Clone)]
pub struct HeavyPermit(#[allow(dead_code)] Arc<tokio::sync::OwnedSemaphorePermit>);

/// When a heavy request arrived (before it waited for its permit): its deadline counts from
/// here, as the client's wait does.
#[derive(Clone, Copy)]
pub struct Arrived(pub std::time::Instant);

/// Admits a heavy request when a permit frees within `limits.queue_wait_s`, before its body
/// is read; otherwise answers 503 with `Retry-After`, and the device tries again later.
async fn admit_heavy(
    axum::extract::State(st): axum::extract::State<Shared>,
    mut request: Request,
    next: Next,
) -> Response {
    use axum::response::IntoResponse;
    let arrived = std::time::Instant::now();
    let wait = Duration::from_secs(st.limits.queue_wait_s);
    let permit = match tokio::time::timeout(wait, st.heavy.clone().acquire_owned()).await {
        Ok(Ok(p)) => p,
        _ => {
            metrics::counter!("jingtu_http_busy_total").increment(1);
            let mut e = ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "the server is busy with other devices: try again in a moment",
            );
            e.retry_after_s = Some(5);
            return e.into_response();
        }
    };
    request
        .extensions_mut()
        .insert(HeavyPermit(Arc::new(permit)));
    request.extensions_mut().insert(Arrived(arrived));
    next.run(request).await
}

impl std::ops::Deref for AppState {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.ctx
    }
}

pub type Shared = Arc<AppState>;

/// SHA-256 of a device token, hex (as stored).
pub fn token_hash(token: &str) -> String {
    crate::people::secret_hash(token)
}

/// Runs blocking work (SQLite, files, Automerge) off the async runtime; a panic inside becomes
/// a 500 with a clear code instead of killing the server.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError::internal("a worker failed"))?
}

/// Answers of the layers (body limit, timeout) carry no JSON body: give them the protocol's.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    // JSON answers and the console's pages are already what a caller reads.
    let is_final = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html")
        });
    if is_final || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    use axum::response::IntoResponse;
    match status {
        axum::http::StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            status,
            "too_large",
            "the request body is over the server's limit",
        )
        .into_response(),
        axum::http::StatusCode::REQUEST_TIMEOUT => {
            ApiError::new(status, "timeout", "the request took too long").into_response()
        }
        // Rejections of the JSON and path extractors answer plain text: keep their words.
        axum::http::StatusCode::BAD_REQUEST
        | axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE
        | axum::http::StatusCode::UNPROCESSABLE_ENTITY => {
            let text = axum::body::to_bytes(response.into_body(), 4096)
                .await
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            let text = if text.trim().is_empty() {
                "the request body is not what this endpoint takes".to_string()
            } else {
                text
            };
            ApiError::new(status, "malformed_body", text).into_response()
        }
        _ => response,
    }
}

async fn count_requests(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("jingtu_http_requests_total", "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("jingtu_http_request_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "jingtu sync API",
        description = "Device sync, photos, people and devices (login, enrollment, device \
                       lists, audit), review (queue, record detail, decisions, comments, \
                       conflict resolution), county ledgers (water bodies, sewage \
                       facilities), exports (CSV, XLSX, GeoJSON), lab results under blind codes (for a LIMS), \
                       health and metrics of the jingtu server. Framed \
                       MessagePack bodies are described in docs/sync-protocol.md, the JSON \
                       people endpoints in docs/people.md."
    ),
    paths(
        sync::sync,
        catalog::catalog,
        photos::photo_status,
        photos::upload_part,
        photos::download,
        health::healthz,
        health::readyz,
        health::metrics_text,
        health::openapi_json,
        people::login,
        people::logout,
        people::issue_code,
        people::code_png,
        people::enroll,
        people::devices,
        people::revoke_device,
        people::audit,
        assignments::list,
        assignments::create,
        assignments::remove,
        assignments::reassign,
        review::queue,
        review::record,
        review::decide,
        review::comment,
        review::resolve,
        ledger::water_bodies,
        ledger::sewage_facilities,
        export::export,
        lab::list,
        lab::sample,
        lab::enter
    ),
    components(schemas(
        jingtu_protocol::SyncRequest,
        jingtu_protocol::SyncResponse,
        jingtu_protocol::CatalogRequest,
        jingtu_protocol::CatalogResponse,
        jingtu_protocol::CatalogItem,
        jingtu_protocol::CatalogListing,
        jingtu_protocol::CatalogEntry,
        jingtu_protocol::PhotoStatusRequest,
        jingtu_protocol::PhotoStatusResponse,
        jingtu_protocol::PhotoUploadResponse,
        jingtu_protocol::ErrorBody,
        jingtu_protocol::Assignment,
        jingtu_protocol::AssignmentTarget,
        jingtu_protocol::ScopeUpdate,
        jingtu_protocol::WholeRecord,
        crate::assignments::AssignmentRequest,
        assignments::AssignmentList,
        assignments::Reassign,
        jingtu_protocol::LoginRequest,
        jingtu_protocol::LoginResponse,
        jingtu_protocol::EnrollmentCodeRequest,
        jingtu_protocol::EnrollmentCodeResponse,
        jingtu_protocol::EnrollRequest,
        jingtu_protocol::EnrollResponse,
        jingtu_protocol::DeviceInfo,
        jingtu_protocol::DeviceList,
        jingtu_protocol::AuditRecord,
        jingtu_protocol::AuditList,
        review::QueueAnswer,
        review::QueueItem,
        ledger::WaterBodiesAnswer,
        ledger::SewageFacilitiesAnswer,
        crate::review::RecordDetail,
        crate::review::detail::Labels,
        crate::review::detail::FieldRow,
        crate::review::detail::IssueRow,
        crate::review::detail::PhotoRow,
        crate::review::detail::Position,
        crate::review::detail::ComputedRow,
        review::CommentIn,
        review::ReviewRequest,
        review::CommentsRequest,
        review::ResolveRequest,
        review::ReviewAnswer,
        lab::LabList,
        lab::LabListItem,
        lab::LabSampleSchema,
        lab::LabFieldSchema,
        lab::LabResultsSchema
    )),
    modifiers(&BearerAuth, &CommonAnswers)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "device_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                jingtu_protocol::SESSION_COOKIE,
                "a web session from POST /v1/login; state-changing requests also send \
                 X-CSRF-Token",
            ))),
        );
    }
}

/// The answers every operation may give besides its own, written into each operation of the
/// description (where the operation does not describe them itself): what the layers answer
/// (time, body size, the admission of heavy requests) and what storage, credentials and body
/// decoding answer.
struct CommonAnswers;

impl utoipa::Modify for CommonAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let error = |description: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let has_params = path.contains('{');
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.put,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                let body_types: Vec<String> = match &op.request_body {
                    Some(RefOr::T(b)) => b.content.keys().cloned().collect(),
                    _ => Vec::new(),
                };
                let json = body_types.iter().any(|t| t == "application/json");
                let mut answers = vec![
                    (
                        "400",
                        "a malformed request: `malformed_body`, `bad_header`, `bad_hash`, \
                         `bad_request`",
                    ),
                    (
                        "408",
                        "`timeout`: the request took too long; nothing was stored",
                    ),
                    (
                        "503",
                        "`busy`, `storage_unavailable`, `storage_read_only`: try again later \
                         (Retry-After)",
                    ),
                    (
                        "507",
                        "`storage_full`: the server's disk is full (Retry-After)",
                    ),
                ];
                if secured {
                    answers.push((
                        "401",
                        "`missing_token`, `bad_token`, `missing_credentials`, `revoked`: \
                         no valid device token or session",
                    ));
                    answers.push((
                        "403",
                        "`forbidden`, `out_of_scope`, `csrf`, `device_mismatch`: the caller \
                         may not do this",
                    ));
                }
                if has_params {
                    answers.push(("404", "`not_found`: nothing of that name"));
                }
                if !body_types.is_empty() {
                    answers.push(("413", "`too_large`: the body is over the server's limit"));
                }
                if json {
                    answers.push((
                        "415",
                        "`content_type`: the body must be sent as application/json",
                    ));
                    answers.push((
                        "422",
                        "`malformed_body`: the JSON does not have the fields this endpoint \
                         takes",
                    ));
                }
                for (code, description) in answers {
                    op.responses
                        .responses
                        .entry(code.to_string())
                        .or_insert_with(|| error(description));
                }
            }
        }
    }
}

/// How a route lets callers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// No credentials: health, readiness, metrics (which check their own), the description,
    /// login and enrollment (the password or the code is the credential).
    Open,
    /// A device token, admitted as one of the heavy requests (sync, catalog, photos).
    Device,
    /// A device token or a web session (with the CSRF token on changes): people, devices,
    /// assignments, review, lab results.
    DeviceOrSession,
}

/// One route of the API. The router is made of [`routes`], and the authorization matrix test
/// lists the routes from the same table.
pub struct Route {
    pub method: axum::http::Method,
    pub path: &'static str,
    pub door: Door,
    handler: axum::routing::MethodRouter<Shared>,
}

/// Every route the server serves.
pub fn routes() -> Vec<Route> {
    use axum::http::Method;
    use axum::routing::patch;
    let route = |method: Method, path: &'static str, door, handler| Route {
        method,
        path,
        door,
        handler,
    };
    vec![
        route(Method::POST, paths::SYNC, Door::Device, post(sync::sync)),
        route(
            Method::POST,
            paths::CATALOG,
            Door::Device,
            post(catalog::catalog),
        ),
        route(
            Method::POST,
            paths::PHOTO_STATUS,
            Door::Device,
            post(photos::photo_status),
        ),
        route(
            Method::GET,
            paths::PHOTO_BY_HASH,
            Door::Device,
            get(photos::download),
        ),
        route(
            Method::PATCH,
            paths::PHOTO_BY_HASH,
            Door::Device,
            patch(photos::upload_part),
        ),
        route(
            Method::POST,
            paths::LOGOUT,
            Door::DeviceOrSession,
            post(people::logout),
        ),
        route(
            Method::POST,
            paths::ENROLLMENT_CODES,
            Door::DeviceOrSession,
            post(people::issue_code),
        ),
        route(
            Method::GET,
            paths::ENROLLMENT_CODE_QR,
            Door::DeviceOrSession,
            get(people::code_png),
        ),
        route(
            Method::GET,
            paths::DEVICES,
            Door::DeviceOrSession,
            get(people::devices),
        ),
        route(
            Method::POST,
            paths::DEVICE_REVOKE,
            Door::DeviceOrSession,
            post(people::revoke_device),
        ),
        route(
            Method::GET,
            paths::AUDIT,
            Door::DeviceOrSession,
            get(people::audit),
        ),
        route(
            Method::GET,
            paths::ASSIGNMENTS,
            Door::DeviceOrSession,
            get(assignments::list),
        ),
        route(
            Method::POST,
            paths::ASSIGNMENTS,
            Door::DeviceOrSession,
            post(assignments::create),
        ),
        route(
            Method::POST,
            paths::ASSIGNMENT_REMOVE,
            Door::DeviceOrSession,
            post(assignments::remove),
        ),
        route(
            Method::POST,
            paths::ASSIGNMENT_REASSIGN,
            Door::DeviceOrSession,
            post(assignments::reassign),
        ),
        route(
            Method::GET,
            paths::REVIEW_QUEUE,
            Door::DeviceOrSession,
            get(review::queue),
        ),
        route(
            Method::GET,
            paths::RECORD,
            Door::DeviceOrSession,
            get(review::record),
        ),
        route(
            Method::POST,
            paths::RECORD_REVIEW,
            Door::DeviceOrSession,
            post(review::decide),
        ),
        route(
            Method::POST,
            paths::RECORD_COMMENTS,
            Door::DeviceOrSession,
            post(review::comment),
        ),
        route(
            Method::POST,
            paths::RECORD_RESOLVE,
            Door::DeviceOrSession,
            post(review::resolve),
        ),
        route(
            Method::GET,
            paths::EXPORT,
            Door::DeviceOrSession,
            get(export::export),
        ),
        route(
            Method::GET,
            paths::LEDGER_WATER_BODIES,
            Door::DeviceOrSession,
            get(ledger::water_bodies),
        ),
        route(
            Method::GET,
            paths::LEDGER_SEWAGE_FACILITIES,
            Door::DeviceOrSession,
            get(ledger::sewage_facilities),
        ),
        route(
            Method::GET,
            paths::LAB_SAMPLES,
            Door::DeviceOrSession,
            get(lab::list),
        ),
        route(
            Method::GET,
            paths::LAB_SAMPLE,
            Door::DeviceOrSession,
            get(lab::sample),
        ),
        route(
            Method::POST,
            paths::LAB_SAMPLE_RESULTS,
            Door::DeviceOrSession,
            post(lab::enter),
        ),
        route(Method::POST, paths::LOGIN, Door::Open, post(people::login)),
        route(
            Method::POST,
            paths::ENROLL,
            Door::Open,
            post(people::enroll),
        ),
        route(
            Method::GET,
            paths::HEALTHZ,
            Door::Open,
            get(health::healthz),
        ),
        route(Method::GET, paths::READYZ, Door::Open, get(health::readyz)),
        route(
            Method::GET,
            paths::METRICS,
            Door::Open,
            get(health::metrics_text),
        ),
        route(
            Method::GET,
            paths::OPENAPI,
            Door::Open,
            get(health::openapi_json),
        ),
    ]
}

pub fn router(state: Shared) -> Router {
    let limits = state.limits.clone();
    let (mut open, mut device, mut people) = (Router::new(), Router::new(), Router::new());
    for r in routes() {
        match r.door {
            Door::Open => open = open.route(r.path, r.handler),
            Door::Device => device = device.route(r.path, r.handler),
            Door::DeviceOrSession => people = people.route(r.path, r.handler),
        }
    }
    let device = device
        .route_layer(middleware::from_fn_with_state(state.clone(), admit_heavy))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));
    let people = people.route_layer(middleware::from_fn_with_state(
        state.clone(),
        auth::authenticate_any,
    ));
    open.merge(device)
        .merge(people)
        .merge(crate::console::router())
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .layer(middleware::from_fn(count_requests))
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn(json_errors))
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(limits.request_timeout_s),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
