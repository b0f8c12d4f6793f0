//! jingtu-server: the sync server. `jingtu-server serve` runs it with no configuration on the
//! embedded default (SQLite and a photo folder under `./jingtu-data`, port 8470).
//!
//! It reuses `jingtu-doc` (records are checked by loading them) and `jingtu-protocol`; it never
//! links the device store or the sync client.

pub mod actor;
pub mod admin;
pub mod api;
pub mod assignments;
pub mod catalog;
pub mod config;
pub mod console;
pub mod export;
pub mod lab;
pub mod ledger;
pub mod people;
pub mod photos;
pub mod points;
pub mod review;
pub mod serve;
pub mod storage;
pub mod sync;

use std::sync::Arc;

use anyhow::Context as _;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::api::{AppState, Shared};
use crate::config::Config;
use crate::storage::files::PhotoFolder;
use crate::storage::sqlite::SqliteStore;

/// What the services share: the storage behind its traits, and the limits.
pub struct Context {
    pub records: Arc<dyn storage::RecordStore>,
    /// The photo service over the photo store.
    pub photos: Arc<photos::Photos>,
    pub auth: Arc<dyn storage::AuthStore>,
    /// Assignments and the scope log.
    pub scope: Arc<dyn storage::scope::ScopeStore>,
    /// Templates and code tables for devices.
    pub catalog: Arc<dyn storage::catalog::CatalogStore>,
    /// The published templates, read by the server itself (review, record pages).
    pub templates: Arc<catalog::TemplateCache>,
    pub limits: config::Limits,
}

impl Context {
    /// The services over the embedded storage.
    pub fn embedded(config: &Config, storage: &Embedded) -> anyhow::Result<Context> {
        Ok(Context {
            records: storage.db.clone(),
            photos: Arc::new(photos::Photos::new(storage.photos.clone())?),
            auth: storage.db.clone(),
            scope: storage.db.clone(),
            catalog: storage.db.clone(),
            templates: Arc::new(catalog::TemplateCache::default()),
            limits: config.limits.clone(),
        })
    }
}

/// The storage of the embedded default: `<data>/jingtu-server.db` and `<data>/photos/`.
pub struct Embedded {
    pub db: Arc<SqliteStore>,
    pub photos: Arc<PhotoFolder>,
}

pub fn open_embedded(config: &Config) -> anyhow::Result<Embedded> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    // SQLite opens a database it cannot write read-only, without a word: a server on a
    // read-only disk would start, then refuse every push. Refuse to start instead. (A full
    // disk is only warned of: devices may still read, and the server writes when room comes.)
    if let Err(e) = crate::storage::disk::takes_a_write(&config.data_dir) {
        match crate::storage::StorageError::from(e) {
            crate::storage::StorageError::Full => {
                tracing::warn!(data_dir = %config.data_dir.display(), "the data's disk is full")
            }
            other => anyhow::bail!(
                "the data folder {} cannot be written ({}): the server keeps its database \
                 and photos there; make it writable (a disk remounted read-only after an \
                 error needs checking) and start again",
                config.data_dir.display(),
                match other {
                    crate::storage::StorageError::ReadOnly => "read-only".to_string(),
                    e => e.to_string(),
                }
            ),
        }
    }
    let db_path = config.data_dir.join("jingtu-server.db");
    let db =
        SqliteStore::open(&db_path).with_context(|| format!("opening {}", db_path.display()))?;
    crate::catalog::seed_builtin(&db).context("publishing the built-in templates")?;
    let photos = PhotoFolder::open_with(&config.data_dir.join("photos"), config.limits.uploads())?;
    Ok(Embedded {
        db: Arc::new(db),
        photos: Arc::new(photos),
    })
}

fn metrics_handle() -> anyhow::Result<PrometheusHandle> {
    // One recorder per process, installed once even when app states are made on several
    // threads at once (tests).
    static HANDLE: std::sync::Mutex<Option<PrometheusHandle>> = std::sync::Mutex::new(None);
    let mut held = HANDLE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(h) = &*held {
        return Ok(h.clone());
    }
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    *held = Some(handle.clone());
    Ok(handle)
}

/// The application over the embedded storage.
pub fn app_state(config: &Config, storage: &Embedded) -> anyhow::Result<Shared> {
    let ctx = Context::embedded(config, storage)?;
    // Records stored by an older server are read once into the review queue's index.
    let indexed = crate::review::reindex(&ctx, &mut |n| {
        tracing::info!(records = n, "indexing stored records for the review queue")
    })
    .context("indexing records for the review queue")?;
    if indexed > 0 {
        tracing::info!(records = indexed, "records indexed for the review queue");
    }
    Ok(Arc::new(AppState {
        ctx,
        metrics: metrics_handle()?,
        people: crate::api::people::PeopleState::new(config),
        heavy: Arc::new(tokio::sync::Semaphore::new(
            config.limits.max_concurrent_syncs,
        )),
        disks: vec![config.data_dir.clone()],
        metrics_access: config.metrics,
        metrics_token: config.metrics_token.clone(),
        openapi: config.openapi,
        map_tile_url: config.map.tile_url.clone(),
    }))
}

/// A new device token: 256 random bits, URL-safe hex.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("jt_{}", hex::encode(bytes))
}
