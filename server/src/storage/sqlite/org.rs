//! The county's org units in the embedded SQLite store: imported as a tree, read as key
//! ranges of their codes.

use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteStore, lock, now_ms};
use crate::people::org::{self, OrgLevel, OrgUnit};
use crate::storage::{OrgImport, OrgImportError, OrgStore, StorageError};

fn read_org_unit(r: &Row<'_>) -> rusqlite::Result<OrgUnit> {
    let level: String = r.get(2)?;
    Ok(OrgUnit {
        code: r.get(0)?,
        name: r.get(1)?,
        level: OrgLevel::parse(&level).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                2,
                rusqlite::types::Type::Text,
                format!("unknown level {level}").into(),
            )
        })?,
        parent: r.get(3)?,
    })
}

/// The smallest and largest code within `code`, for a key range scan.
fn code_range(code: &str) -> Result<(String, String), StorageError> {
    let prefix = org::prefix_of(code).map_err(|e| StorageError::NotFound(e.to_string()))?;
    let pad = 12 - prefix.len();
    Ok((
        format!("{prefix}{}", "0".repeat(pad)),
        format!("{prefix}{}", "9".repeat(pad)),
    ))
}

impl OrgStore for SqliteStore {
    fn import_org_units(&self, units: &[OrgUnit]) -> Result<OrgImport, OrgImportError> {
        // Parents before children: by level, then code.
        let mut order: Vec<usize> = (0..units.len()).collect();
        order.sort_by(|&a, &b| {
            (units[a].level, &units[a].code).cmp(&(units[b].level, &units[b].code))
        });
        let mut conn = lock(&self.writer);
        let tx = conn.transaction().map_err(StorageError::from)?;
        let now = now_ms();
        let mut counts = OrgImport::default();
        {
            let mut get = tx
                .prepare_cached("SELECT code, name, level, parent FROM org_units WHERE code = ?1")
                .map_err(StorageError::from)?;
            let mut put = tx
                .prepare_cached(
                    "INSERT INTO org_units (code, name, level, parent, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(code) DO UPDATE SET name = excluded.name,
                         level = excluded.level, parent = excluded.parent,
                         updated_at = excluded.updated_at",
                )
                .map_err(StorageError::from)?;
            for index in order {
                let unit = &units[index];
                if let Some(parent) = &unit.parent {
                    let known = get
                        .query_row([parent], |_| Ok(()))
                        .optional()
                        .map_err(StorageError::from)?
                        .is_some();
                    if !known {
                        return Err(OrgImportError::MissingParent {
                            index,
                            code: unit.code.clone(),
                            parent: parent.clone(),
                        });
                    }
                }
                let before = get
                    .query_row([&unit.code], read_org_unit)
                    .optional()
                    .map_err(StorageError::from)?;
                match before {
                    Some(b) if &b == unit => counts.unchanged += 1,
                    before => {
                        put.execute(params![
                            unit.code,
                            unit.name,
                            unit.level.as_str(),
                            unit.parent,
                            now
                        ])
                        .map_err(StorageError::from)?;
                        if before.is_some() {
                            counts.updated += 1;
                        } else {
                            counts.inserted += 1;
                        }
                    }
                }
            }
        }
        tx.commit().map_err(StorageError::from)?;
        Ok(counts)
    }

    fn org_unit(&self, code: &str) -> Result<Option<OrgUnit>, StorageError> {
        let conn = self.reader();
        Ok(conn
            .prepare_cached("SELECT code, name, level, parent FROM org_units WHERE code = ?1")?
            .query_row([code], read_org_unit)
            .optional()?)
    }

    fn org_units(&self, under: Option<&str>) -> Result<Vec<OrgUnit>, StorageError> {
        let (lo, hi) = match under {
            Some(code) => code_range(code)?,
            None => ("0".repeat(12), "9".repeat(12)),
        };
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT code, name, level, parent FROM org_units
             WHERE code BETWEEN ?1 AND ?2 ORDER BY code",
        )?;
        let rows = stmt
            .query_map(params![lo, hi], read_org_unit)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn org_subtree(&self, code: &str) -> Result<Vec<String>, StorageError> {
        let (lo, hi) = code_range(code)?;
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT code FROM org_units WHERE code BETWEEN ?1 AND ?2 ORDER BY code",
        )?;
        let rows = stmt
            .query_map(params![lo, hi], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(rows)
    }
}
