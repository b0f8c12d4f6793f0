//! The catalog devices receive through sync: published templates and code tables
//! (docs/sync-protocol.md, "Catalog"). Which of them a user receives, and what may be
//! published, is decided in [`crate::catalog`]; this is only where they are kept.

use jingtu_model::Role;

use super::StorageError;

/// Where a catalog item came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogSource {
    /// Shipped with this server (`schemas/`).
    Builtin,
    /// Published by an admin.
    Admin,
}

impl CatalogSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CatalogSource::Builtin => "builtin",
            CatalogSource::Admin => "admin",
        }
    }
}

/// A published item: a template (`kind`, `version` set) or the code tables.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogRow {
    pub id: String,
    pub sha256: String,
    pub kind: Option<String>,
    pub version: Option<u32>,
    /// The field roles a template is for (empty: all).
    pub roles: Vec<Role>,
    pub source: CatalogSource,
    pub published_by: String,
    pub published_at_ms: i64,
}

/// An item to publish, with its text.
#[derive(Debug, Clone)]
pub struct NewCatalogItem {
    pub row: CatalogRow,
    pub text: String,
}

pub trait CatalogStore: Send + Sync + 'static {
    /// The current catalog: every template, and the newest code tables, without texts.
    fn catalog(&self) -> Result<Vec<CatalogRow>, StorageError>;
    /// The text of published items, by hash (unknown hashes are left out).
    fn catalog_texts(&self, sha256: &[String]) -> Result<Vec<(String, String)>, StorageError>;
    /// Publishes an item; a template id that exists is refused with [`StorageError::Exists`].
    fn publish(&self, item: &NewCatalogItem) -> Result<(), StorageError>;
}
