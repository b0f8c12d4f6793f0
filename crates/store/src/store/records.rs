//! Records: their chunks (appended by each edit, folded into a snapshot), their summary rows
//! for lists and search, and their removal.

use jingtu_doc::Status;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{PhotoChange, Store, lock, write_photos};
use crate::StoreError;

/// The summary of a record kept for lists, filters and search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordSummary {
    pub id: String,
    pub kind: String,
    pub template_version: u32,
    pub name: String,
    pub status: Status,
    pub org_unit: Option<String>,
    pub village: Option<String>,
    pub planned_point: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub completion_pct: f64,
    pub error_count: u32,
    pub warning_count: u32,
    pub conflict_count: u32,
}

/// Filters for [`Store::list`]; `None` means any. `text` matches anywhere in the name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListFilter {
    pub kind: Option<String>,
    pub status: Option<Status>,
    pub org_unit: Option<String>,
    pub village: Option<String>,
    pub text: Option<String>,
    pub updated_after_ms: Option<i64>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// Where written change bytes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin<'a> {
    /// Made or imported on this device: the server has not seen them.
    Local,
    /// Received from the server; `heads` are the record's heads after them (kept as the
    /// confirmed heads when no local write waits).
    Server { heads: &'a [u8] },
}

/// A record's stored changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedRecord {
    /// Every chunk, in order (a snapshot and the changes after it).
    pub bytes: Vec<u8>,
    /// How many chunks: a load of many is worth folding into one.
    pub chunks: u32,
}

impl Store {
    /// Stores a new record: its first chunk and its summary, atomically.
    pub fn insert_record(&self, summary: &RecordSummary, bytes: &[u8]) -> Result<(), StoreError> {
        self.insert_record_with_photos(summary, bytes, None)
    }

    /// Like [`Store::insert_record`], with the record's photo references in the same
    /// transaction.
    pub fn insert_record_with_photos(
        &self,
        summary: &RecordSummary,
        bytes: &[u8],
        photos: Option<PhotoChange<'_>>,
    ) -> Result<(), StoreError> {
        self.insert_record_from(summary, bytes, photos, Origin::Local)
    }

    /// Stores a new record that came from `origin`.
    pub fn insert_record_from(
        &self,
        summary: &RecordSummary,
        bytes: &[u8],
        photos: Option<PhotoChange<'_>>,
        origin: Origin<'_>,
    ) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let exists: bool = tx
            .query_row("SELECT 1 FROM records WHERE id = ?1", [&summary.id], |_| {
                Ok(true)
            })
            .optional()?
            .unwrap_or(false);
        if exists {
            return Err(StoreError::Exists(summary.id.clone()));
        }
        upsert_summary(&tx, summary)?;
        tx.execute(
            "INSERT INTO chunks (record_id, seq, snapshot, bytes) VALUES (?1, 0, 1, ?2)",
            params![summary.id, bytes],
        )?;
        if let Origin::Server { heads } = origin {
            tx.execute(
                "UPDATE records SET dirty = 0, synced_heads = ?2 WHERE id = ?1",
                params![summary.id, heads],
            )?;
        }
        if let Some(change) = photos {
            write_photos(&tx, &summary.id, change)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Appends the bytes of new changes to a record and updates its summary, atomically.
    /// Returns how many chunks the record now has.
    pub fn append_chunk(&self, summary: &RecordSummary, bytes: &[u8]) -> Result<u32, StoreError> {
        self.append_chunk_with_photos(summary, bytes, None)
    }

    /// Like [`Store::append_chunk`], with a photo blob and the record's photo references
    /// written in the same transaction: after a crash either all of it is there or none.
    pub fn append_chunk_with_photos(
        &self,
        summary: &RecordSummary,
        bytes: &[u8],
        photos: Option<PhotoChange<'_>>,
    ) -> Result<u32, StoreError> {
        self.append_chunk_from(summary, bytes, photos, Origin::Local)
    }

    /// Appends change bytes that came from `origin` (see [`Origin`]).
    pub fn append_chunk_from(
        &self,
        summary: &RecordSummary,
        bytes: &[u8],
        photos: Option<PhotoChange<'_>>,
        origin: Origin<'_>,
    ) -> Result<u32, StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let (next, count): (Option<i64>, i64) = tx
            .prepare_cached("SELECT MAX(seq) + 1, COUNT(*) FROM chunks WHERE record_id = ?1")?
            .query_row([&summary.id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let Some(next) = next else {
            return Err(StoreError::NotFound(summary.id.clone()));
        };
        upsert_summary(&tx, summary)?;
        if !bytes.is_empty() {
            tx.prepare_cached(
                "INSERT INTO chunks (record_id, seq, snapshot, bytes) VALUES (?1, ?2, 0, ?3)",
            )?
            .execute(params![summary.id, next, bytes])?;
            match origin {
                Origin::Local => {
                    tx.prepare_cached(
                        "UPDATE records SET dirty = 1, held = 0, edit_seq = edit_seq + 1
                         WHERE id = ?1",
                    )?
                    .execute([&summary.id])?;
                }
                Origin::Server { heads } => {
                    // Everything held is on the server, unless local writes wait.
                    tx.prepare_cached(
                        "UPDATE records SET synced_heads = ?2 WHERE id = ?1 AND dirty = 0",
                    )?
                    .execute(params![summary.id, heads])?;
                }
            }
        }
        if let Some(change) = photos {
            write_photos(&tx, &summary.id, change)?;
        }
        tx.commit()?;
        Ok(count as u32 + u32::from(!bytes.is_empty()))
    }

    /// Replaces all chunks of a record by one snapshot holding the same changes.
    pub fn compact(&self, id: &str, snapshot: &[u8]) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let next: Option<i64> = tx.query_row(
            "SELECT MAX(seq) + 1 FROM chunks WHERE record_id = ?1",
            [id],
            |r| r.get(0),
        )?;
        let Some(next) = next else {
            return Err(StoreError::NotFound(id.to_string()));
        };
        tx.execute(
            "DELETE FROM chunks WHERE record_id = ?1 AND seq < ?2",
            params![id, next],
        )?;
        tx.execute(
            "INSERT INTO chunks (record_id, seq, snapshot, bytes) VALUES (?1, ?2, 1, ?3)",
            params![id, next, snapshot],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// All chunks of a record in order, concatenated (Automerge loads the concatenation), and
    /// how many there were.
    pub fn load(&self, id: &str) -> Result<LoadedRecord, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt =
            conn.prepare_cached("SELECT bytes FROM chunks WHERE record_id = ?1 ORDER BY seq")?;
        let mut rows = stmt.query([id])?;
        let mut out = Vec::new();
        let mut count = 0;
        while let Some(row) = rows.next()? {
            let bytes = row.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?;
            out.extend_from_slice(bytes);
            count += 1;
        }
        if count == 0 {
            return Err(StoreError::NotFound(id.to_string()));
        }
        Ok(LoadedRecord {
            bytes: out,
            chunks: count,
        })
    }

    pub fn summary(&self, id: &str) -> Result<RecordSummary, StoreError> {
        let conn = lock(&self.reader);
        conn.prepare_cached(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM records WHERE id = ?1"
        ))?
        .query_row([id], read_summary)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(id.to_string()))
    }

    /// Record ids that start with `prefix` (so people can type a short id).
    pub fn ids_with_prefix(&self, prefix: &str, limit: u32) -> Result<Vec<String>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(
            "SELECT id FROM records WHERE id >= ?1 AND id < ?1 || X'FFFF' ORDER BY id LIMIT ?2",
        )?;
        let ids = stmt
            .query_map(params![prefix, limit], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(ids)
    }

    /// Lists summaries, newest update first, from the index alone.
    pub fn list(&self, filter: &ListFilter) -> Result<Vec<RecordSummary>, StoreError> {
        let mut sql = format!("SELECT {SUMMARY_COLUMNS} FROM records WHERE 1=1");
        let mut args: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
        let mut eq = |col: &str, v: &Option<String>, sql: &mut String| {
            if let Some(v) = v {
                args.push(Box::new(v.clone()));
                sql.push_str(&format!(" AND {col} = ?{}", args.len()));
            }
        };
        eq("kind", &filter.kind, &mut sql);
        let status = filter.status.map(|s| s.as_str().to_string());
        eq("status", &status, &mut sql);
        eq("org_unit", &filter.org_unit, &mut sql);
        eq("village", &filter.village, &mut sql);
        if let Some(text) = &filter.text {
            let escaped = text
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            args.push(Box::new(format!("%{escaped}%")));
            sql.push_str(&format!(" AND name LIKE ?{} ESCAPE '\\'", args.len()));
        }
        if let Some(after) = filter.updated_after_ms {
            args.push(Box::new(after));
            sql.push_str(&format!(" AND updated_at > ?{}", args.len()));
        }
        sql.push_str(" ORDER BY updated_at DESC, id");
        args.push(Box::new(i64::from(filter.limit.unwrap_or(u32::MAX))));
        sql.push_str(&format!(" LIMIT ?{}", args.len()));
        args.push(Box::new(i64::from(filter.offset.unwrap_or(0))));
        sql.push_str(&format!(" OFFSET ?{}", args.len()));
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(
                rusqlite::params_from_iter(args.iter().map(|a| a.as_ref())),
                read_summary,
            )?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn count(&self) -> Result<u64, StoreError> {
        let conn = lock(&self.reader);
        let n: i64 = conn.query_row("SELECT COUNT(*) FROM records", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// Replaces a record's document by `snapshot` (a refused push was taken out of it): one
    /// snapshot chunk, the summary and the photo references, in one transaction. With `dirty`
    /// the record waits to be pushed again (edits replayed onto the server's version).
    pub fn replace_document(
        &self,
        summary: &RecordSummary,
        snapshot: &[u8],
        photos: PhotoChange<'_>,
        dirty: bool,
    ) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let next: Option<i64> = tx.query_row(
            "SELECT MAX(seq) + 1 FROM chunks WHERE record_id = ?1",
            [&summary.id],
            |r| r.get(0),
        )?;
        let Some(next) = next else {
            return Err(StoreError::NotFound(summary.id.clone()));
        };
        upsert_summary(&tx, summary)?;
        tx.execute("DELETE FROM chunks WHERE record_id = ?1", [&summary.id])?;
        tx.execute(
            "INSERT INTO chunks (record_id, seq, snapshot, bytes) VALUES (?1, ?2, 1, ?3)",
            params![summary.id, next, snapshot],
        )?;
        tx.execute(
            "UPDATE records SET dirty = ?2, edit_seq = edit_seq + 1 WHERE id = ?1",
            params![summary.id, dirty],
        )?;
        write_photos(&tx, &summary.id, photos)?;
        tx.commit()?;
        Ok(())
    }

    /// Removes a record that left this device's scope, with its chunks, photo references and
    /// the photos nothing else refers to; a record holding changes the server has not
    /// confirmed is kept (returns false).
    pub fn evict_record(&self, id: &str) -> Result<bool, StoreError> {
        self.remove_record(id, |dirty, _held| !dirty)
    }

    /// Removes a record the server refused whole (held back), as [`Self::evict_record`] does;
    /// returns false when the record is not held.
    pub fn discard_held_record(&self, id: &str) -> Result<bool, StoreError> {
        self.remove_record(id, |_dirty, held| held)
    }

    /// Removes a record when `may(dirty, held)` allows it (true also when it is not here).
    fn remove_record(&self, id: &str, may: fn(bool, bool) -> bool) -> Result<bool, StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let state: Option<(bool, bool)> = tx
            .query_row("SELECT dirty, held FROM records WHERE id = ?1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        match state {
            None => return Ok(true),
            Some((dirty, held)) if !may(dirty, held) => return Ok(false),
            Some(_) => {}
        }
        write_photos(
            &tx,
            id,
            PhotoChange {
                put: None,
                refs: &[],
            },
        )?;
        tx.execute("DELETE FROM chunks WHERE record_id = ?1", [id])?;
        tx.execute("DELETE FROM records WHERE id = ?1", [id])?;
        tx.commit()?;
        Ok(true)
    }

    /// Holds back a record the server refused whole: it is not pushed again until it is
    /// edited on this device.
    pub fn hold_record(&self, id: &str) -> Result<(), StoreError> {
        let conn = lock(&self.writer);
        conn.execute("UPDATE records SET held = 1 WHERE id = ?1", [id])?;
        Ok(())
    }
}

const SUMMARY_COLUMNS: &str = "id, kind, template_version, name, status, org_unit, village, \
     planned_point, created_at, updated_at, completion_pct, error_count, warning_count, \
     conflict_count";

fn read_summary(r: &rusqlite::Row<'_>) -> rusqlite::Result<RecordSummary> {
    Ok(RecordSummary {
        id: r.get(0)?,
        kind: r.get(1)?,
        template_version: r.get(2)?,
        name: r.get(3)?,
        status: {
            let text: String = r.get(4)?;
            Status::parse(&text).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(
                    4,
                    rusqlite::types::Type::Text,
                    format!("not a record status: {text:?}").into(),
                )
            })?
        },
        org_unit: r.get(5)?,
        village: r.get(6)?,
        planned_point: r.get(7)?,
        created_at_ms: r.get(8)?,
        updated_at_ms: r.get(9)?,
        completion_pct: r.get(10)?,
        error_count: r.get(11)?,
        warning_count: r.get(12)?,
        conflict_count: r.get(13)?,
    })
}

fn upsert_summary(conn: &Connection, s: &RecordSummary) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO records (id, kind, template_version, name, status, org_unit, village,
             planned_point, created_at, updated_at, completion_pct, error_count, warning_count,
             conflict_count)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT(id) DO UPDATE SET name = excluded.name, status = excluded.status,
             org_unit = excluded.org_unit, village = excluded.village,
             planned_point = excluded.planned_point, updated_at = excluded.updated_at,
             completion_pct = excluded.completion_pct, error_count = excluded.error_count,
             warning_count = excluded.warning_count, conflict_count = excluded.conflict_count",
    )?;
    stmt.execute(params![
        s.id,
        s.kind,
        s.template_version,
        s.name,
        s.status.as_str(),
        s.org_unit,
        s.village,
        s.planned_point,
        s.created_at_ms,
        s.updated_at_ms,
        s.completion_pct,
        s.error_count,
        s.warning_count,
        s.conflict_count
    ])?;
    Ok(())
}
