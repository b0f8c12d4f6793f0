//! [`CatalogStore`] on SQLite: the `catalog` table of migration 5.

use jingtu_model::Role;
use rusqlite::params;

use super::{SqliteStore, lock};
use crate::storage::StorageError;
use crate::storage::catalog::{CatalogRow, CatalogSource, CatalogStore, NewCatalogItem};

const CODE_TABLES: &str = jingtu_protocol::CODE_TABLES_ID;

impl CatalogStore for SqliteStore {
    fn catalog(&self) -> Result<Vec<CatalogRow>, StorageError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT id, sha256, kind, version, roles, source, published_by, published_at
             FROM catalog
             WHERE id != ?1 OR seq = (SELECT MAX(seq) FROM catalog WHERE id = ?1)
             ORDER BY id",
        )?;
        let rows = stmt.query_map([CODE_TABLES], |r| {
            let roles: String = r.get(4)?;
            let source: String = r.get(5)?;
            Ok(CatalogRow {
                id: r.get(0)?,
                sha256: r.get(1)?,
                kind: r.get(2)?,
                version: r
                    .get::<_, Option<i64>>(3)?
                    .and_then(|v| u32::try_from(v).ok()),
                roles: roles.split(',').filter_map(Role::parse).collect(),
                source: if source == "admin" {
                    CatalogSource::Admin
                } else {
                    CatalogSource::Builtin
                },
                published_by: r.get(6)?,
                published_at_ms: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn catalog_texts(&self, sha256: &[String]) -> Result<Vec<(String, String)>, StorageError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached("SELECT sha256, text FROM catalog WHERE sha256 = ?1")?;
        let mut out = Vec::new();
        for h in sha256 {
            let mut rows = stmt.query([h])?;
            if let Some(r) = rows.next()? {
                out.push((r.get(0)?, r.get(1)?));
            }
        }
        Ok(out)
    }

    fn publish(&self, item: &NewCatalogItem) -> Result<(), StorageError> {
        let conn = lock(&self.writer);
        let row = &item.row;
        let roles: Vec<&str> = row.roles.iter().map(|r| r.as_str()).collect();
        let done = conn.execute(
            "INSERT INTO catalog (id, sha256, kind, version, roles, text, source, published_by,
                                  published_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                row.id,
                row.sha256,
                row.kind,
                row.version.map(i64::from),
                roles.join(","),
                item.text,
                row.source.as_str(),
                row.published_by,
                row.published_at_ms,
            ],
        );
        match done {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(StorageError::Exists(format!("catalog item {}", row.id)))
            }
            Err(e) => Err(e.into()),
        }
    }
}
