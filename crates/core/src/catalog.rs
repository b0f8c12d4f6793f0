//! Templates and code tables from the server (docs/sync-protocol.md, "Catalog"). A sync answer
//! lists the catalog meant for this device's user when it differs from the one taken in last;
//! the device fetches what it lacks by hash, checks each text against its hash and keeps it in
//! the store. The templates the app can fill are the built-in ones plus the received ones;
//! received code tables extend the built-in tables (no code is ever lost).

use std::collections::HashMap;
use std::sync::Arc;

use jingtu_client::Client;
use jingtu_model::TemplateSet;
use jingtu_protocol::{CODE_TABLES_ID, CatalogListing};

use crate::core::{DeviceCore, lock};
use crate::error::CoreError;
use crate::stored_catalog::load_template_set;

/// What one catalog listing brought.
#[derive(Debug, Default)]
pub(crate) struct CatalogTaken {
    pub(crate) templates: u64,
    pub(crate) code_tables: bool,
}

impl DeviceCore {
    /// Takes in a listing: fetches the items this device lacks, stores them with the listing's
    /// digest (only when every item arrived intact, so an interrupted fetch is retried at the
    /// next sync), and loads the new template set.
    pub(crate) fn take_catalog(
        &self,
        client: &Client,
        listing: &CatalogListing,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<CatalogTaken, CoreError> {
        let (builtin_templates, builtin_codes) = TemplateSet::builtin_sources();
        let builtin_codes_sha = jingtu_media::content_id(builtin_codes.as_bytes());
        let held: HashMap<String, String> = self
            .store
            .catalog_items()?
            .into_iter()
            .map(|i| (i.id, i.sha256))
            .collect();
        let want: Vec<&str> = listing
            .entries
            .iter()
            .filter(|e| {
                if held.get(&e.id) == Some(&e.sha256) {
                    return false;
                }
                if e.id == CODE_TABLES_ID {
                    return e.sha256 != builtin_codes_sha;
                }
                // A template kind and version the app ships never changes.
                !builtin_templates
                    .iter()
                    .any(|(name, _)| name.strip_suffix(".json") == Some(e.id.as_str()))
            })
            .map(|e| e.sha256.as_str())
            .collect();
        if want.is_empty() {
            self.store.put_catalog_items(&[], Some(&listing.digest))?;
            return Ok(CatalogTaken::default());
        }
        let want: Vec<String> = want.into_iter().map(str::to_string).collect();
        let items = client.catalog(&want, cancelled).map_err(|e| match e {
            jingtu_client::ClientError::Cancelled => CoreError::Cancelled,
            other => CoreError::Sync(other),
        })?;
        let mut good = Vec::new();
        for item in items {
            let listed = listing
                .entries
                .iter()
                .any(|e| e.id == item.id && e.sha256 == item.sha256);
            if listed
                && want.contains(&item.sha256)
                && jingtu_media::content_id(item.text.as_bytes()) == item.sha256
            {
                good.push(jingtu_store::CatalogItem {
                    id: item.id,
                    sha256: item.sha256,
                    text: item.text,
                });
            }
        }
        let complete = want.iter().all(|w| good.iter().any(|g| &g.sha256 == w));
        let taken = CatalogTaken {
            templates: good.iter().filter(|i| i.id != CODE_TABLES_ID).count() as u64,
            code_tables: good.iter().any(|g| g.id == CODE_TABLES_ID),
        };
        self.store
            .put_catalog_items(&good, complete.then_some(listing.digest.as_str()))?;
        if !good.is_empty() {
            self.reload_templates()?;
        }
        Ok(taken)
    }

    /// Loads the template set again from the store (after the catalog changed) and opens
    /// the records that waited for a template.
    pub(crate) fn reload_templates(&self) -> Result<(), CoreError> {
        let set = Arc::new(load_template_set(&self.store)?);
        *self.templates.write().unwrap_or_else(|p| p.into_inner()) = set;
        // Open records hold the templates they were opened with.
        lock(&self.cache).clear();
        self.open_parked()?;
        Ok(())
    }
}
