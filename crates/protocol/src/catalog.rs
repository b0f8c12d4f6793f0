//! Templates and code tables reach devices through sync (docs/sync-protocol.md, "Catalog"):
//! a sync answer lists the catalog meant for the device when it differs from what the device
//! took in last, and the device fetches the items it lacks, by content hash.

use serde::{Deserialize, Serialize};

/// The id of the code tables' entry (templates are `kind.vN`).
pub const CODE_TABLES_ID: &str = "code_tables";

/// One item of a catalog: a template (`village_inspection.v2`) or the code tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CatalogEntry {
    pub id: String,
    /// SHA-256 (hex) of the item's text.
    pub sha256: String,
}

/// The catalog meant for a device's user: every template their role captures or they are
/// assigned, every template for supervisors and admins, and the code tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CatalogListing {
    /// Names this listing: send it as `SyncRequest.catalog` once every entry is taken in.
    pub digest: String,
    pub entries: Vec<CatalogEntry>,
}

/// `POST /v1/catalog`: the items a device lacks, by hash (at most [`MAX_CATALOG_WANT`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CatalogRequest {
    pub protocol: u32,
    pub want: Vec<String>,
}

/// The items asked for that are meant for the caller (others are left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CatalogResponse {
    pub protocol: u32,
    pub items: Vec<CatalogItem>,
}

/// One template file or the code tables file, as published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CatalogItem {
    pub id: String,
    pub sha256: String,
    pub text: String,
}

/// The most items one catalog request may ask for.
pub const MAX_CATALOG_WANT: usize = 256;
