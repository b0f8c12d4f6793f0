//! jingtu-client: the device's side of the sync protocol (docs/sync-protocol.md) over HTTP
//! with `reqwest` and `rustls` (ring; Mozilla's roots from `webpki-root-certs`, so it needs no
//! platform trust store on Android). Every request is retried with exponential backoff on
//! network errors and 5xx/408/429 answers, never on other 4xx; the counters record bytes on the
//! wire (request and status lines, headers, bodies) and round trips, for tests and benchmarks.
//!
//! It knows the protocol, not the device store: `jingtu-core` drives it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jingtu_protocol::{
    CONTENT_TYPE, EnrollRequest, EnrollResponse, ErrorBody, HEADER_APP_VERSION,
    HEADER_UPLOAD_LENGTH, HEADER_UPLOAD_OFFSET, MAX_MESSAGE_BYTES, PROTOCOL_VERSION, PhotoState,
    PhotoStateKind, PhotoStatusRequest, PhotoStatusResponse, PhotoUploadResponse, SyncRequest,
    SyncResponse, paths,
};
use reqwest::StatusCode;
use reqwest::blocking::{Client as Http, RequestBuilder, Response};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("the server address '{0}' is not an http(s) URL")]
    BadUrl(String),
    #[error("cannot reach the server: {0}")]
    Network(String),
    #[error("the server refused the request ({status}, {code}): {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
        /// For `offset_mismatch`: where the server's copy ends.
        offset: Option<u64>,
    },
    #[error("the server's answer is not understood: {0}")]
    BadAnswer(String),
    #[error("cancelled")]
    Cancelled,
}

impl ClientError {
    /// The device token is missing, wrong or revoked.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, ClientError::Refused { status: 401, .. })
    }
}

/// How patient the client is.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Attempts per request (1 = no retry).
    pub attempts: u32,
    pub backoff_start: Duration,
    pub backoff_max: Duration,
    /// Size of one photo upload part.
    pub photo_part_bytes: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            attempts: 5,
            backoff_start: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
            photo_part_bytes: 256 * 1024,
        }
    }
}

/// Bytes and round trips so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// Answered requests (a retried request counts each attempt that got an answer).
    pub round_trips: u64,
    /// Attempts that failed and were retried.
    pub retries: u64,
}

#[derive(Default)]
struct AtomicCounters {
    up: AtomicU64,
    down: AtomicU64,
    trips: AtomicU64,
    retries: AtomicU64,
}

/// A connection to one server with one device token.
#[derive(Clone)]
pub struct Client {
    http: Http,
    base: String,
    token: String,
    options: ClientOptions,
    counters: Arc<AtomicCounters>,
    /// Sent as `X-Jingtu-App-Version` with every request (the server lists it per device).
    app_version: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("base", &self.base).finish()
    }
}

fn install_crypto() {
    // Ignored when a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Client {
    pub fn new(url: &str, token: &str, options: ClientOptions) -> Result<Client, ClientError> {
        let base = url.trim().trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) || base.len() < 10 {
            return Err(ClientError::BadUrl(url.to_string()));
        }
        install_crypto();
        let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .filter_map(|c| reqwest::Certificate::from_der(c.as_ref()).ok())
            .collect::<Vec<_>>();
        let http = Http::builder()
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .tls_certs_only(roots)
            .user_agent(concat!("jingtu/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Network(e.to_string()))?;
        Ok(Client {
            http,
            base,
            token: token.trim().to_string(),
            options,
            counters: Arc::new(AtomicCounters::default()),
            app_version: None,
        })
    }

    /// Reports this app version with every request (`X-Jingtu-App-Version`).
    pub fn with_app_version(mut self, version: &str) -> Client {
        let v = version.trim();
        self.app_version = (!v.is_empty() && v.len() <= 64).then(|| v.to_string());
        self
    }

    /// Exchanges a one-time enrollment code (as typed or scanned; see
    /// `jingtu_protocol::EnrollPayload` for a QR code's payload) for a device token bound to
    /// the code's user and this device (`device_id`: the device's actor id, hex). Retried like
    /// every request: the server lets the same device present a used code again for a few
    /// minutes, so an answer lost on a bad line costs nothing. Refusals: `bad_code`,
    /// `code_used`, `code_expired`, `user_disabled`, `rate_limited`.
    pub fn enroll(
        url: &str,
        code: &str,
        device_id: &str,
        label: Option<&str>,
        app_version: Option<&str>,
    ) -> Result<EnrollResponse, ClientError> {
        Client::enroll_with(
            url,
            code,
            device_id,
            label,
            app_version,
            None,
            ClientOptions::default(),
        )
    }

    /// [`Client::enroll`] with other options, and the device's custody signing key (a hex
    /// ed25519 public key) registered with the token.
    pub fn enroll_with(
        url: &str,
        code: &str,
        device_id: &str,
        label: Option<&str>,
        app_version: Option<&str>,
        signing_key: Option<&str>,
        options: ClientOptions,
    ) -> Result<EnrollResponse, ClientError> {
        let mut client = Client::new(url, "", options)?;
        if let Some(v) = app_version {
            client = client.with_app_version(v);
        }
        let body = serde_json::to_vec(&EnrollRequest {
            code: code.trim().to_string(),
            device_id: device_id.to_string(),
            device_label: label.map(str::to_string),
            app_version: app_version.map(str::to_string),
            signing_key: signing_key.map(str::to_string),
        })
        .map_err(|e| ClientError::BadAnswer(e.to_string()))?;
        let target = format!("{}{}", client.base, paths::ENROLL);
        let (_, answer) = client.send(
            &|| {
                client
                    .http
                    .post(&target)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone())
            },
            &|| false,
        )?;
        serde_json::from_slice(&answer).map_err(|e| ClientError::BadAnswer(e.to_string()))
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn counters(&self) -> Counters {
        Counters {
            bytes_up: self.counters.up.load(Ordering::Relaxed),
            bytes_down: self.counters.down.load(Ordering::Relaxed),
            round_trips: self.counters.trips.load(Ordering::Relaxed),
            retries: self.counters.retries.load(Ordering::Relaxed),
        }
    }

    /// Sends one request (built anew for each attempt) with retries; returns the answer's
    /// status and body.
    fn send(
        &self,
        build: &dyn Fn() -> RequestBuilder,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<(StatusCode, Vec<u8>), ClientError> {
        let mut delay = self.options.backoff_start;
        let mut last = ClientError::Network("no attempt made".into());
        for attempt in 0..self.options.attempts.max(1) {
            if cancelled() {
                return Err(ClientError::Cancelled);
            }
            if attempt > 0 {
                self.counters.retries.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(delay);
                delay = (delay * 2).min(self.options.backoff_max);
            }
            let mut request = build();
            if !self.token.is_empty() {
                request = request.bearer_auth(&self.token);
            }
            if let Some(v) = &self.app_version {
                request = request.header(HEADER_APP_VERSION, v);
            }
            let request = request
                .build()
                .map_err(|e| ClientError::Network(e.to_string()))?;
            let up = request_bytes(&request);
            self.counters.up.fetch_add(up, Ordering::Relaxed);
            match self.http.execute(request) {
                Ok(response) => {
                    let (status, body) = match read_response(response) {
                        Ok(r) => r,
                        Err(e) => {
                            last = e;
                            continue;
                        }
                    };
                    self.counters.down.fetch_add(body.1, Ordering::Relaxed);
                    self.counters.trips.fetch_add(1, Ordering::Relaxed);
                    let body = body.0;
                    if status.is_success() {
                        return Ok((status, body));
                    }
                    let err = refused(status, &body);
                    // A server without room (507) stays so for longer than a retry waits.
                    if (status.is_server_error() && status != StatusCode::INSUFFICIENT_STORAGE)
                        || status == StatusCode::REQUEST_TIMEOUT
                        || status == StatusCode::TOO_MANY_REQUESTS
                    {
                        last = err;
                        continue;
                    }
                    return Err(err);
                }
                Err(e) => last = ClientError::Network(e.to_string()),
            }
        }
        Err(last)
    }

    /// Posts a framed message to `path` and decodes the framed answer.
    fn post_framed<Q: serde::Serialize, A: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        message: &Q,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<A, ClientError> {
        let body =
            jingtu_protocol::encode(message).map_err(|e| ClientError::BadAnswer(e.to_string()))?;
        let url = format!("{}{path}", self.base);
        let (_, answer) = self.send(
            &|| {
                self.http
                    .post(&url)
                    .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
                    .body(body.clone())
            },
            cancelled,
        )?;
        jingtu_protocol::decode(&answer, MAX_MESSAGE_BYTES)
            .map_err(|e| ClientError::BadAnswer(e.to_string()))
    }

    /// One sync round trip.
    pub fn sync(
        &self,
        request: &SyncRequest,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<SyncResponse, ClientError> {
        let response: SyncResponse = self.post_framed(paths::SYNC, request, cancelled)?;
        if response.results.len() != request.pushes.len() {
            return Err(ClientError::BadAnswer(format!(
                "{} results for {} pushes",
                response.results.len(),
                request.pushes.len()
            )));
        }
        Ok(response)
    }

    /// The texts of catalog items (templates, code tables) by SHA-256, as a sync answer listed
    /// them; items not meant for this user are left out by the server.
    pub fn catalog(
        &self,
        want: &[String],
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Vec<jingtu_protocol::CatalogItem>, ClientError> {
        let mut out = Vec::with_capacity(want.len());
        for batch in want.chunks(jingtu_protocol::MAX_CATALOG_WANT) {
            let request = jingtu_protocol::CatalogRequest {
                protocol: PROTOCOL_VERSION,
                want: batch.to_vec(),
            };
            let r: jingtu_protocol::CatalogResponse =
                self.post_framed(paths::CATALOG, &request, cancelled)?;
            out.extend(r.items);
        }
        Ok(out)
    }

    /// What the server holds of these photos.
    pub fn photo_status(
        &self,
        hashes: &[String],
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Vec<PhotoState>, ClientError> {
        let mut out = Vec::with_capacity(hashes.len());
        for batch in hashes.chunks(5000) {
            let request = PhotoStatusRequest {
                protocol: PROTOCOL_VERSION,
                hashes: batch.to_vec(),
            };
            let r: PhotoStatusResponse =
                self.post_framed(paths::PHOTO_STATUS, &request, cancelled)?;
            out.extend(r.photos);
        }
        Ok(out)
    }

    /// Uploads a photo from `offset` (what the server holds), part by part; `progress(sent,
    /// total)` after each part returns false to stop. A part refused for its offset resumes
    /// from the offset the server names.
    pub fn upload_photo(
        &self,
        hash: &str,
        bytes: &[u8],
        mut offset: u64,
        progress: &mut dyn FnMut(u64, u64) -> bool,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<(), ClientError> {
        let total = bytes.len() as u64;
        let url = format!("{}{}/{}", self.base, paths::PHOTO, hash);
        let mut resyncs = 0;
        loop {
            if offset >= total {
                // The server holds every byte but did not confirm: ask again.
                let state = self.photo_status(&[hash.to_string()], cancelled)?;
                if state
                    .first()
                    .is_some_and(|s| s.state == PhotoStateKind::Stored)
                {
                    return Ok(());
                }
                offset = state.first().map(|s| s.offset).unwrap_or(0);
                if offset >= total {
                    offset = 0;
                }
            }
            let end = (offset as usize + self.options.photo_part_bytes).min(bytes.len());
            let part = bytes[offset as usize..end].to_vec();
            let result = self.send(
                &|| {
                    self.http
                        .patch(&url)
                        .header(HEADER_UPLOAD_OFFSET, offset.to_string())
                        .header(HEADER_UPLOAD_LENGTH, total.to_string())
                        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                        .body(part.clone())
                },
                cancelled,
            );
            match result {
                Ok((_, answer)) => {
                    let r: PhotoUploadResponse =
                        jingtu_protocol::decode(&answer, MAX_MESSAGE_BYTES)
                            .map_err(|e| ClientError::BadAnswer(e.to_string()))?;
                    offset = r.offset;
                    if !progress(offset, total) {
                        return Err(ClientError::Cancelled);
                    }
                    if r.stored {
                        return Ok(());
                    }
                }
                Err(ClientError::Refused {
                    status: 409,
                    offset: Some(server_offset),
                    ..
                }) if resyncs < 8 => {
                    resyncs += 1;
                    offset = server_offset;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A photo (or its thumbnail) from the server; `None` when the server does not hold it.
    pub fn download_photo(
        &self,
        hash: &str,
        thumbnail: bool,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        let url = format!(
            "{}{}/{}{}",
            self.base,
            paths::PHOTO,
            hash,
            if thumbnail { "?thumb=true" } else { "" }
        );
        match self.send(&|| self.http.get(&url), cancelled) {
            Ok((_, body)) => Ok(Some(body)),
            Err(ClientError::Refused { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Bytes of header lines on the wire (`name: value\r\n`).
fn header_bytes(h: &reqwest::header::HeaderMap) -> usize {
    h.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum()
}

/// Bytes of the request on the wire: request line, headers, body (HTTP/1.1 framing).
fn request_bytes(r: &reqwest::blocking::Request) -> u64 {
    let line = r.method().as_str().len() + r.url().as_str().len() + 12;
    let headers = header_bytes(r.headers());
    let body = r
        .body()
        .and_then(|b| b.as_bytes())
        .map(|b| b.len())
        .unwrap_or(0);
    // Host, Content-Length and Connection are added by the HTTP layer.
    (line + headers + body + 60) as u64
}

/// The answer's status and body, and its bytes on the wire.
fn read_response(r: Response) -> Result<(StatusCode, (Vec<u8>, u64)), ClientError> {
    let status = r.status();
    let headers = header_bytes(r.headers());
    let body = r
        .bytes()
        .map_err(|e| ClientError::Network(e.to_string()))?
        .to_vec();
    let wire = (17 + headers + body.len()) as u64;
    Ok((status, (body, wire)))
}

fn refused(status: StatusCode, body: &[u8]) -> ClientError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => ClientError::Refused {
            status: status.as_u16(),
            code: e.error.code,
            message: e.error.message,
            offset: e.error.offset,
        },
        Err(_) => ClientError::Refused {
            status: status.as_u16(),
            code: "http".into(),
            message: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            offset: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A one-request HTTP server on loopback answering `status` and `body`; returns its URL and
    /// a handle yielding the request it read.
    fn answer_once(status: &str, body: &str) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let reply = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
        let handle = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            // Headers, then as many body bytes as Content-Length says.
            loop {
                let n = s.read(&mut buf).unwrap();
                req.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&req).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len: usize = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if req.len() >= end + 4 + len || n == 0 {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            s.write_all(reply.as_bytes()).unwrap();
            String::from_utf8_lossy(&req).to_string()
        });
        (url, handle)
    }

    #[test]
    fn enroll_posts_the_code_and_reads_the_token() {
        let (url, server) = answer_once(
            "200 OK",
            r#"{"token":"jt_abc","device":7,"user":"李四","role":"sampler","org_units":["411321100201"],"server_time_ms":5}"#,
        );
        let r = Client::enroll(
            &url,
            " abcd-efgh-jkmn-pqrs ",
            "a1b2",
            Some("李四的手机"),
            Some("jingtu/1.0"),
        )
        .unwrap();
        assert_eq!(r.token, "jt_abc");
        assert_eq!(r.device, 7);
        assert_eq!(r.role, jingtu_model::Role::Sampler);
        let request = server.join().unwrap();
        assert!(request.starts_with("POST /v1/enroll HTTP/1.1"), "{request}");
        assert!(
            !request.to_ascii_lowercase().contains("authorization:"),
            "{request}"
        );
        assert!(
            request
                .to_ascii_lowercase()
                .contains("x-jingtu-app-version: jingtu/1.0"),
            "{request}"
        );
        let body = &request[request.find("\r\n\r\n").unwrap() + 4..];
        let sent: EnrollRequest = serde_json::from_str(body).unwrap();
        assert_eq!(sent.code, "abcd-efgh-jkmn-pqrs");
        assert_eq!(sent.device_id, "a1b2");
        assert_eq!(sent.device_label.as_deref(), Some("李四的手机"));
    }

    #[test]
    fn an_enrollment_refusal_keeps_its_code() {
        let (url, server) = answer_once(
            "409 Conflict",
            r#"{"error":{"code":"code_used","message":"the enrollment code was used already"}}"#,
        );
        let e = Client::enroll(&url, "ABCD-EFGH-JKMN-PQRS", "a1b2", None, None).unwrap_err();
        server.join().unwrap();
        match e {
            ClientError::Refused { status, code, .. } => {
                assert_eq!((status, code.as_str()), (409, "code_used"))
            }
            other => panic!("{other}"),
        }
        assert!(matches!(
            Client::enroll("ftp://x", "c", "d", None, None),
            Err(ClientError::BadUrl(_))
        ));
    }
}
