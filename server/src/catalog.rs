//! The catalog of templates and code tables that devices receive through sync
//! (docs/sync-protocol.md, "Catalog"): seeding the built-in set, checking what an admin
//! publishes, and which part of it each user receives.
//!
//! Templates never change once published (a new version is a new template); code tables may
//! gain tables and codes and change labels, never lose a code, since records hold codes.

use std::sync::Arc;

use jingtu_model::{CodeTables, Role, Template, TemplateSet};
use jingtu_protocol::{
    CODE_TABLES_ID, CatalogEntry, CatalogItem, CatalogListing, MAX_CATALOG_WANT,
};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::storage::StorageError;
use crate::storage::catalog::{CatalogRow, CatalogSource, CatalogStore, NewCatalogItem};

#[derive(Debug, Error)]
pub enum CatalogError {
    /// The file is not a template or code tables this server accepts.
    #[error("{0}")]
    Invalid(String),
    /// A template of this kind and version exists with other content.
    #[error(
        "{id} is published already with other content: templates do not change once \
         published; publish the next version"
    )]
    Changed { id: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What publishing did.
#[derive(Debug, Clone, PartialEq)]
pub enum Published {
    New(CatalogRow),
    /// The same content is current already: nothing changed.
    Unchanged(CatalogRow),
}

impl Published {
    pub fn row(&self) -> &CatalogRow {
        match self {
            Published::New(r) | Published::Unchanged(r) => r,
        }
    }
}

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The templates and code tables as published, for the server's own reading of records
/// (the review queue's index, the record pages): assembled once per catalog state and kept
/// until something is published.
#[derive(Default)]
pub struct TemplateCache {
    held: std::sync::RwLock<Option<(String, Arc<TemplateSet>)>>,
}

impl TemplateCache {
    /// The set for the catalog as it is now (one read of the catalog's list; the texts only
    /// when it changed).
    pub fn current(&self, store: &dyn CatalogStore) -> Result<Arc<TemplateSet>, CatalogError> {
        self.for_rows(store, &store.catalog()?)
    }

    /// The set for the catalog listed in `rows` (read by the caller, who needs them too).
    pub fn for_rows(
        &self,
        store: &dyn CatalogStore,
        rows: &[CatalogRow],
    ) -> Result<Arc<TemplateSet>, CatalogError> {
        let key: String = rows.iter().map(|r| r.sha256.as_str()).collect();
        if let Some((k, set)) = self.held.read().unwrap_or_else(|p| p.into_inner()).as_ref()
            && *k == key
        {
            return Ok(set.clone());
        }
        let published: Vec<&CatalogRow> = rows
            .iter()
            .filter(|r| r.id != CODE_TABLES_ID && r.source == CatalogSource::Admin)
            .collect();
        let wanted: Vec<String> = published.iter().map(|r| r.sha256.clone()).collect();
        let texts = if wanted.is_empty() {
            Vec::new()
        } else {
            store.catalog_texts(&wanted)?
        };
        let templates: Vec<(String, String)> = published
            .iter()
            .filter_map(|r| {
                texts
                    .iter()
                    .find(|(sha, _)| *sha == r.sha256)
                    .map(|(_, t)| (r.id.clone(), t.clone()))
            })
            .collect();
        let codes = current_code_tables(store, rows)?;
        let codes_text = match &codes {
            Some((row, _)) => store
                .catalog_texts(std::slice::from_ref(&row.sha256))?
                .pop()
                .map(|(_, t)| t),
            None => None,
        };
        let (set, skipped) = TemplateSet::assemble(codes_text.as_deref(), &templates)
            .map_err(|e| CatalogError::Invalid(e.to_string()))?;
        for (name, e) in skipped {
            tracing::warn!("the published {name} does not load: {e}");
        }
        let set = Arc::new(set);
        *self.held.write().unwrap_or_else(|p| p.into_inner()) = Some((key, set.clone()));
        Ok(set)
    }
}

/// The current code tables and their text.
fn current_code_tables(
    store: &dyn CatalogStore,
    rows: &[CatalogRow],
) -> Result<Option<(CatalogRow, CodeTables)>, CatalogError> {
    let Some(row) = rows.iter().find(|r| r.id == CODE_TABLES_ID) else {
        return Ok(None);
    };
    let text = store
        .catalog_texts(std::slice::from_ref(&row.sha256))?
        .pop()
        .map(|(_, t)| t)
        .ok_or_else(|| StorageError::NotFound(format!("text of {}", row.id)))?;
    let codes = CodeTables::from_json(&text)
        .map_err(|e| CatalogError::Invalid(format!("the stored code tables: {e}")))?;
    Ok(Some((row.clone(), codes)))
}

/// Publishes a template file after checking it against the current code tables.
pub fn publish_template(
    store: &dyn CatalogStore,
    text: &str,
    by: &str,
    source: CatalogSource,
) -> Result<Published, CatalogError> {
    let rows = store.catalog()?;
    let codes = match current_code_tables(store, &rows)? {
        Some((_, c)) => c,
        None => CodeTables::from_json(TemplateSet::builtin_sources().1)
            .map_err(|e| CatalogError::Invalid(e.to_string()))?,
    };
    let template = Template::parse("template", text, Arc::new(codes))
        .map_err(|e| CatalogError::Invalid(e.to_string()))?;
    let id = template.id();
    let sha256 = sha256_hex(text);
    if let Some(old) = rows.iter().find(|r| r.id == id) {
        return if old.sha256 == sha256 {
            Ok(Published::Unchanged(old.clone()))
        } else {
            Err(CatalogError::Changed { id })
        };
    }
    let row = CatalogRow {
        id,
        sha256,
        kind: Some(template.kind.clone()),
        version: Some(template.version),
        roles: template.roles.clone(),
        source,
        published_by: by.to_string(),
        published_at_ms: now_ms(),
    };
    store.publish(&NewCatalogItem {
        row: row.clone(),
        text: text.to_string(),
    })?;
    Ok(Published::New(row))
}

/// Publishes code tables after checking that no table or code is lost and that every
/// published template still loads with them.
pub fn publish_code_tables(
    store: &dyn CatalogStore,
    text: &str,
    by: &str,
    source: CatalogSource,
) -> Result<Published, CatalogError> {
    let next = CodeTables::from_json(text).map_err(|e| CatalogError::Invalid(e.to_string()))?;
    let rows = store.catalog()?;
    let sha256 = sha256_hex(text);
    if let Some((row, current)) = current_code_tables(store, &rows)? {
        if row.sha256 == sha256 {
            return Ok(Published::Unchanged(row));
        }
        current
            .check_successor(&next)
            .map_err(|e| CatalogError::Invalid(e.to_string()))?;
    }
    let next = Arc::new(next);
    let templates: Vec<String> = rows
        .iter()
        .filter(|r| r.id != CODE_TABLES_ID)
        .map(|r| r.sha256.clone())
        .collect();
    for (_, text) in store.catalog_texts(&templates)? {
        Template::parse("template", &text, next.clone()).map_err(|e| {
            CatalogError::Invalid(format!("a published template does not load with them: {e}"))
        })?;
    }
    let row = CatalogRow {
        id: CODE_TABLES_ID.to_string(),
        sha256,
        kind: None,
        version: None,
        roles: Vec::new(),
        source,
        published_by: by.to_string(),
        published_at_ms: now_ms(),
    };
    match store.publish(&NewCatalogItem {
        row: row.clone(),
        text: text.to_string(),
    }) {
        Ok(()) => Ok(Published::New(row)),
        Err(StorageError::Exists(_)) => Err(CatalogError::Invalid(
            "these code tables were published before and replaced since: publish them with a \
             change"
                .into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Publishes what this server ships (`schemas/`) where the catalog lacks it: the built-in code
/// tables when none are published or the current ones are an older built-in set, and every
/// built-in template whose kind and version is not published. Runs at every start.
pub fn seed_builtin(store: &dyn CatalogStore) -> Result<(), CatalogError> {
    let (templates, codes) = TemplateSet::builtin_sources();
    let rows = store.catalog()?;
    let by = crate::storage::AuditEntry::SYSTEM;
    match rows.iter().find(|r| r.id == CODE_TABLES_ID) {
        None => {
            publish_code_tables(store, codes, by, CatalogSource::Builtin)?;
        }
        Some(row) if row.source == CatalogSource::Builtin && row.sha256 != sha256_hex(codes) => {
            if let Err(e) = publish_code_tables(store, codes, by, CatalogSource::Builtin) {
                tracing::warn!("the built-in code tables were not published: {e}");
            }
        }
        Some(_) => {}
    }
    for (name, text) in templates {
        let id = name.strip_suffix(".json").unwrap_or(name);
        if rows.iter().any(|r| r.id == id) {
            continue;
        }
        match publish_template(store, text, by, CatalogSource::Builtin) {
            Ok(_) => {}
            // Published before with other content (an edited built-in file): the published
            // one stays, as templates do not change.
            Err(CatalogError::Changed { id }) => {
                tracing::debug!("built-in {name}: {id} is published with other content");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The part of the catalog a user receives: the code tables, and every template for
/// supervisors and admins; a field user's role's templates and those of the kinds they are
/// assigned.
/// The texts of the catalog items `want` (by SHA-256) meant for `actor`: those not meant for
/// them, or unknown, are left out.
pub fn items_for(
    ctx: &crate::Context,
    actor: &crate::actor::Actor,
    want: &[String],
) -> Result<Vec<CatalogItem>, crate::sync::SyncError> {
    if want.len() > MAX_CATALOG_WANT {
        return Err(crate::sync::SyncError::TooManyItems(MAX_CATALOG_WANT));
    }
    let reach = actor.reach(&*ctx.scope)?;
    let listing = listing_for(&ctx.catalog.catalog()?, actor.role, &reach.assigned_kinds());
    let want: Vec<String> = want
        .iter()
        .filter(|h| listing.entries.iter().any(|e| &&e.sha256 == h))
        .cloned()
        .collect();
    Ok(ctx
        .catalog
        .catalog_texts(&want)?
        .into_iter()
        .filter_map(|(sha256, text)| {
            let id = listing
                .entries
                .iter()
                .find(|e| e.sha256 == sha256)?
                .id
                .clone();
            Some(CatalogItem { id, sha256, text })
        })
        .collect())
}

pub fn listing_for(rows: &[CatalogRow], role: Role, assigned_kinds: &[String]) -> CatalogListing {
    let mut entries: Vec<CatalogEntry> = rows
        .iter()
        .filter(|r| {
            r.id == CODE_TABLES_ID
                || !role.is_field()
                || r.roles.is_empty()
                || r.roles.contains(&role)
                || r.kind.as_ref().is_some_and(|k| assigned_kinds.contains(k))
        })
        .map(|r| CatalogEntry {
            id: r.id.clone(),
            sha256: r.sha256.clone(),
        })
        .collect();
    entries.sort_by(|a, b| a.id.cmp(&b.id));
    let mut h = Sha256::new();
    for e in &entries {
        h.update(e.id.as_bytes());
        h.update(b"\t");
        h.update(e.sha256.as_bytes());
        h.update(b"\n");
    }
    CatalogListing {
        // 128 bits name a listing well enough and keep every sync request small.
        digest: hex::encode(&h.finalize()[..16]),
        entries,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sqlite::SqliteStore;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("db")).unwrap();
        (dir, s)
    }

    fn v3() -> String {
        let (templates, _) = TemplateSet::builtin_sources();
        let text = templates
            .iter()
            .find(|(n, _)| n.starts_with("village_inspection"))
            .unwrap()
            .1;
        let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
        v["x-template"]["version"] = 3.into();
        v.to_string()
    }

    #[test]
    fn seeding_publishes_the_builtin_set_once() {
        let (_d, s) = store();
        seed_builtin(&s).unwrap();
        let rows = s.catalog().unwrap();
        assert_eq!(rows.len(), TemplateSet::builtin_sources().0.len() + 1);
        assert!(rows.iter().all(|r| r.source == CatalogSource::Builtin));
        seed_builtin(&s).unwrap();
        assert_eq!(s.catalog().unwrap(), rows);
    }

    #[test]
    fn templates_never_change_once_published() {
        let (_d, s) = store();
        seed_builtin(&s).unwrap();
        let first = publish_template(&s, &v3(), "admin", CatalogSource::Admin).unwrap();
        assert!(matches!(first, Published::New(_)));
        assert_eq!(first.row().roles, vec![Role::Inspector]);
        let again = publish_template(&s, &v3(), "admin", CatalogSource::Admin).unwrap();
        assert!(matches!(again, Published::Unchanged(_)));
        let other = v3().replace("村庄", "村落");
        assert!(matches!(
            publish_template(&s, &other, "admin", CatalogSource::Admin),
            Err(CatalogError::Changed { .. })
        ));
        assert!(matches!(
            publish_template(&s, "{\"x-template\": 1}", "admin", CatalogSource::Admin),
            Err(CatalogError::Invalid(_))
        ));
    }

    #[test]
    fn code_tables_grow_but_never_lose_codes() {
        let (_d, s) = store();
        seed_builtin(&s).unwrap();
        let (_, codes) = TemplateSet::builtin_sources();
        let mut v: serde_json::Value = serde_json::from_str(codes).unwrap();
        let table = v.as_object().unwrap().keys().next().unwrap().clone();
        v[&table]["codes"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"code": "zz", "zh": "新", "en": "New"}));
        let grown = v.to_string();
        assert!(matches!(
            publish_code_tables(&s, &grown, "admin", CatalogSource::Admin).unwrap(),
            Published::New(_)
        ));
        // Back to the built-in tables: loses "zz".
        let err = publish_code_tables(&s, codes, "admin", CatalogSource::Admin).unwrap_err();
        assert!(err.to_string().contains("zz"), "{err}");
        // A server restart keeps what an admin published.
        seed_builtin(&s).unwrap();
        let rows = s.catalog().unwrap();
        let current = rows.iter().find(|r| r.id == CODE_TABLES_ID).unwrap();
        assert_eq!(current.sha256, sha256_hex(&grown));
    }

    #[test]
    fn each_role_receives_its_templates() {
        let (_d, s) = store();
        seed_builtin(&s).unwrap();
        let rows = s.catalog().unwrap();
        let ids = |role, kinds: &[String]| -> Vec<String> {
            listing_for(&rows, role, kinds)
                .entries
                .into_iter()
                .map(|e| e.id)
                .collect()
        };
        let sampler = ids(Role::Sampler, &[]);
        assert_eq!(
            sampler,
            vec!["code_tables", "soil_sample.v1", "soil_sample.v2"]
        );
        let inspector = ids(Role::Inspector, &[]);
        assert!(inspector.contains(&"village_inspection.v1".to_string()));
        assert!(inspector.contains(&"village_inspection.v2".to_string()));
        assert!(!inspector.contains(&"soil_sample.v1".to_string()));
        // Assigned a sampling point: the soil sample template too.
        let assigned = ids(Role::Inspector, &["soil_sample".to_string()]);
        assert!(assigned.contains(&"soil_sample.v2".to_string()));
        assert_eq!(ids(Role::Supervisor, &[]).len(), rows.len());
        // The digest names the listing.
        let a = listing_for(&rows, Role::Sampler, &[]);
        assert_eq!(a.digest, listing_for(&rows, Role::Sampler, &[]).digest);
        assert_ne!(a.digest, listing_for(&rows, Role::Inspector, &[]).digest);
    }
}
