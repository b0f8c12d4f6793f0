//! Configuration: defaults, then a TOML file (`--config` or `JINGTU_CONFIG`), then environment
//! variables (`JINGTU_DATA_DIR`, `JINGTU_LISTEN`), then command-line flags.
//!
//! ```toml
//! data_dir = "/var/lib/jingtu"
//! listen = "127.0.0.1:8470"
//! public_url = "https://jingtu.example.gov.cn"   # written into enrollment QR codes
//! trust_proxy = true          # behind nginx/Caddy that sets X-Forwarded-For
//! insecure_cookies = false    # true only for plain-http trials: no `Secure` on the cookie
//! metrics = "local"           # who reads /metrics: local (default), public or off
//! metrics_token = "..."       # ... or anyone sending this bearer token
//! openapi = true              # serve /openapi.json
//! [limits]
//! max_body_bytes = 16777216
//! max_json_bytes = 65536
//! [auth]
//! session_hours = 12
//! enrollment_code_hours = 24
//! enrollment_code_max_hours = 168
//! login_per_minute = 10       # per client address; login_burst at once
//! enroll_per_minute = 10      # per client address; enroll_burst at once
//! lockout_failures = 5        # failed logins within lockout_window_minutes ...
//! lockout_minutes = 15        # ... lock the user out this long
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The documented default port.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8470";
pub const DEFAULT_DATA_DIR: &str = "jingtu-data";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub limits: Limits,
    /// Session cookies without `Secure`, for a server reached over plain http (loopback tests,
    /// a trial on a laptop). Default false: browsers then send the cookie over https only.
    pub insecure_cookies: bool,
    /// Take the client's address from the last entry of `X-Forwarded-For` (set it when, and
    /// only when, a proxy in front adds that header). Default false: the peer address.
    pub trust_proxy: bool,
    /// The address devices reach the server at (`https://jingtu.example.gov.cn`), written into
    /// enrollment QR codes. Default: the `Host` of the issuing request (the admin command line:
    /// `http://<listen>`).
    pub public_url: Option<String>,
    pub auth: AuthConfig,
    /// Who may read `/metrics` (counts of requests, records, devices; no names): `"local"`
    /// (the default: clients on this machine, such as a Prometheus beside it, or any client
    /// sending `metrics_token`), `"public"`, or `"off"`.
    pub metrics: MetricsAccess,
    /// A bearer token that reads `/metrics` from anywhere (a scraper elsewhere).
    pub metrics_token: Option<String>,
    /// Serve the API description at `/openapi.json` (default true: it holds no data, and
    /// client developers and API tests read it).
    pub openapi: bool,
    /// The web console's map.
    pub map: MapConfig,
}

/// The map of the web console's record page. Without a tile server (the default) the page
/// draws the position on a plain grid with its coordinates, which works with no internet; with
/// `tile_url` (`https://tiles.example.cn/{z}/{x}/{y}.png`, a county's own tile server) it shows
/// the tile under the position.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MapConfig {
    pub tile_url: Option<String>,
}

/// Who may read `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MetricsAccess {
    #[default]
    Local,
    Public,
    Off,
}

/// People and devices: sessions, enrollment codes, abuse limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// How long a web login lasts.
    pub session_hours: u64,
    /// How long an enrollment code is valid unless the issuer says otherwise ...
    pub enrollment_code_hours: u64,
    /// ... and at most.
    pub enrollment_code_max_hours: u64,
    /// Login attempts per minute from one address, and the burst allowed at once.
    pub login_per_minute: u32,
    pub login_burst: u32,
    /// Enrollment attempts per minute from one address, and the burst.
    pub enroll_per_minute: u32,
    pub enroll_burst: u32,
    /// A user is locked out after this many failed logins within `lockout_window_minutes` ...
    pub lockout_failures: u32,
    pub lockout_window_minutes: u64,
    /// ... for this long (a right password is refused meanwhile).
    pub lockout_minutes: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            session_hours: 12,
            enrollment_code_hours: 24,
            enrollment_code_max_hours: 7 * 24,
            login_per_minute: 10,
            login_burst: 10,
            enroll_per_minute: 10,
            enroll_burst: 10,
            lockout_failures: 5,
            lockout_window_minutes: 15,
            lockout_minutes: 15,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Largest decoded (decompressed) message.
    pub max_message_bytes: usize,
    /// Largest change bytes of one record in one push.
    pub max_push_bytes: usize,
    /// Most records pushed in one request.
    pub max_pushes: usize,
    /// Most feed bytes in one answer.
    pub max_feed_bytes: u64,
    pub request_timeout_s: u64,
    /// Largest JSON body (login, enrollment, the people endpoints).
    pub max_json_bytes: usize,
    /// Most records one answer tells a device to remove when its scope shrank (more follow
    /// in the next answers of the same sync).
    pub max_evict_per_answer: usize,
    /// Most records one answer sends whole when they entered a device's scope.
    pub max_entered_per_answer: usize,
    /// Most bytes the DEFLATE-compressed parts of one push may inflate to ...
    pub max_push_inflated_bytes: usize,
    /// ... and most Automerge operations it may describe (both checked before it is decoded).
    pub max_push_ops: u64,
    /// Most device requests (sync, catalog, photos) worked on at once; more wait ...
    pub max_concurrent_syncs: usize,
    /// ... this long for their turn, then are answered 503 (busy, try again).
    pub queue_wait_s: u64,
    /// Most connections open at once (fewer when the limit of open files is lower); at the
    /// cap new connections wait to be accepted.
    pub max_connections: usize,
    /// A connection that takes longer than this to send a request's headers (or stays idle
    /// between requests this long) is closed.
    pub header_read_timeout_s: u64,
    /// Unfinished photo uploads hold at most this much in all ...
    pub max_partial_upload_mb: u64,
    /// ... and one untouched this long is removed (its device starts it over).
    pub partial_upload_hours: u64,
    /// Kept free on the data's disk for the database: photo uploads wait below it, and
    /// `/readyz` says not ready.
    pub min_free_disk_mb: u64,
}

impl Limits {
    /// What the photo folder takes of these limits.
    pub fn uploads(&self) -> crate::storage::files::UploadLimits {
        crate::storage::files::UploadLimits {
            max_partial_bytes: self.max_partial_upload_mb.saturating_mul(1 << 20),
            partial_max_age: std::time::Duration::from_secs(
                self.partial_upload_hours.saturating_mul(3600),
            ),
            min_free_bytes: self.min_free_disk_mb.saturating_mul(1 << 20),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 * 1024 * 1024,
            max_message_bytes: 64 * 1024 * 1024,
            max_push_bytes: 8 * 1024 * 1024,
            max_pushes: 5000,
            max_feed_bytes: 4 * 1024 * 1024,
            request_timeout_s: 60,
            max_json_bytes: 64 * 1024,
            max_evict_per_answer: 10_000,
            max_entered_per_answer: 500,
            max_push_inflated_bytes: jingtu_doc::ExpansionLimits::DEFAULT.max_inflated_bytes,
            max_push_ops: jingtu_doc::ExpansionLimits::DEFAULT.max_ops,
            max_concurrent_syncs: 4,
            queue_wait_s: 10,
            max_connections: 1024,
            header_read_timeout_s: 10,
            max_partial_upload_mb: 2048,
            partial_upload_hours: 72,
            min_free_disk_mb: 512,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            listen: DEFAULT_LISTEN.parse().expect("the default address parses"),
            limits: Limits::default(),
            insecure_cookies: false,
            trust_proxy: false,
            public_url: None,
            auth: AuthConfig::default(),
            metrics: MetricsAccess::default(),
            metrics_token: None,
            openapi: true,
            map: MapConfig::default(),
        }
    }
}

impl Config {
    /// Defaults, the file if given, then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        use anyhow::Context;
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("in {}", path.display()))?
            }
            None => Config::default(),
        };
        if let Ok(dir) = std::env::var("JINGTU_DATA_DIR")
            && !dir.is_empty()
        {
            config.data_dir = PathBuf::from(dir);
        }
        if let Ok(listen) = std::env::var("JINGTU_LISTEN")
            && !listen.is_empty()
        {
            config.listen = listen
                .parse()
                .with_context(|| format!("JINGTU_LISTEN={listen} is not an address"))?;
        }
        config.check()?;
        Ok(config)
    }

    /// Refuses settings that cannot work.
    pub fn check(&self) -> anyhow::Result<()> {
        let a = &self.auth;
        for (name, v) in [
            ("auth.session_hours", a.session_hours),
            ("auth.enrollment_code_hours", a.enrollment_code_hours),
            (
                "auth.enrollment_code_max_hours",
                a.enrollment_code_max_hours,
            ),
            ("auth.login_per_minute", a.login_per_minute.into()),
            ("auth.login_burst", a.login_burst.into()),
            ("auth.enroll_per_minute", a.enroll_per_minute.into()),
            ("auth.enroll_burst", a.enroll_burst.into()),
            ("auth.lockout_failures", a.lockout_failures.into()),
            ("auth.lockout_window_minutes", a.lockout_window_minutes),
            ("auth.lockout_minutes", a.lockout_minutes),
            ("limits.max_json_bytes", self.limits.max_json_bytes as u64),
            (
                "limits.max_evict_per_answer",
                self.limits.max_evict_per_answer as u64,
            ),
            (
                "limits.max_entered_per_answer",
                self.limits.max_entered_per_answer as u64,
            ),
            (
                "limits.max_push_inflated_bytes",
                self.limits.max_push_inflated_bytes as u64,
            ),
            ("limits.max_push_ops", self.limits.max_push_ops),
            (
                "limits.max_concurrent_syncs",
                self.limits.max_concurrent_syncs as u64,
            ),
            ("limits.max_connections", self.limits.max_connections as u64),
            (
                "limits.header_read_timeout_s",
                self.limits.header_read_timeout_s,
            ),
            (
                "limits.partial_upload_hours",
                self.limits.partial_upload_hours,
            ),
        ] {
            if v == 0 {
                anyhow::bail!("{name} must be at least 1");
            }
        }
        if a.enrollment_code_hours > a.enrollment_code_max_hours {
            anyhow::bail!("auth.enrollment_code_hours is over auth.enrollment_code_max_hours");
        }
        if self
            .metrics_token
            .as_deref()
            .is_some_and(|t| t.trim().len() < 16)
        {
            anyhow::bail!("metrics_token must have at least 16 characters");
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            anyhow::bail!("public_url must be an http:// or https:// address, not {url}");
        }
        Ok(())
    }
}
