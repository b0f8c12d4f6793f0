//! Templates and code tables received from the server.

use rusqlite::params;

use super::{Store, lock};
use crate::StoreError;

/// A template or the code tables, as received: its id (`kind.vN`, `code_tables`), the
/// SHA-256 of its text, and the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogItem {
    pub id: String,
    pub sha256: String,
    pub text: String,
}

impl Store {
    /// Templates and code tables received from the server, in id order.
    pub fn catalog_items(&self) -> Result<Vec<CatalogItem>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached("SELECT id, sha256, text FROM catalog ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok(CatalogItem {
                id: r.get(0)?,
                sha256: r.get(1)?,
                text: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores received catalog items (replacing any of the same id) and, in the same
    /// transaction, the digest of the listing they complete (`None`: the listing is not
    /// complete yet).
    pub fn put_catalog_items(
        &self,
        items: &[CatalogItem],
        digest: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO catalog (id, sha256, text, received_at)
                 VALUES (?1, ?2, ?3, unixepoch('subsec') * 1000)",
            )?;
            for item in items {
                insert.execute(params![item.id, item.sha256, item.text])?;
            }
            if let Some(d) = digest {
                tx.execute(
                    "INSERT INTO settings (key, value) VALUES ('catalog_digest', ?1)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    [d],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}
