//! The catalog a device store holds: the template set it opens with (the built-in templates
//! and code tables plus those received from the server), and the digest of the listing taken
//! in last.

use jingtu_model::TemplateSet;
use jingtu_protocol::CODE_TABLES_ID;
use jingtu_store::Store;

use crate::error::CoreError;

/// The setting holding the digest of the listing taken in last.
pub(crate) const KEY_CATALOG_DIGEST: &str = "catalog_digest";

/// The template set of a store: the built-in one and what the server sent.
pub(crate) fn load_template_set(store: &Store) -> Result<TemplateSet, CoreError> {
    let items = store.catalog_items()?;
    let codes = items
        .iter()
        .find(|i| i.id == CODE_TABLES_ID)
        .map(|i| i.text.as_str());
    let templates: Vec<(String, String)> = items
        .iter()
        .filter(|i| i.id != CODE_TABLES_ID)
        .map(|i| (i.id.clone(), i.text.clone()))
        .collect();
    // What does not load in this app version stays stored for a later one.
    let (set, _skipped) = TemplateSet::assemble(codes, &templates)?;
    Ok(set)
}
