//! Configuration: defaults, then a TOML file (`--config` or `JINGTU_CONFIG`), then environment
//! variables (`JINGTU_DATA_DIR`, `JINGTU_LISTEN`), then command-line flags.

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
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            listen: DEFAULT_LISTEN.parse().expect("the default address parses"),
            limits: Limits::default(),
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
        Ok(config)
    }
}
