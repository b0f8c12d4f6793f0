//! Edits the server refused, kept with the reason, and chunks parked until they can be taken
//! in (an unknown template, a record not here yet).

use rusqlite::params;

use super::{Store, lock};
use crate::StoreError;

/// An edit the server refused, to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefusedEdit<'a> {
    pub record_id: &'a str,
    pub code: &'a str,
    pub rule: Option<&'a str>,
    pub path: Option<&'a str>,
    pub message: &'a str,
    pub refused_at_ms: i64,
    /// The record as it was on the device before the refused changes were taken out.
    pub local_json: &'a str,
    /// The refused changes themselves (Automerge bytes).
    pub changes: &'a [u8],
}

/// A kept refused edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedEdit {
    pub id: i64,
    pub record_id: String,
    pub code: String,
    pub rule: Option<String>,
    pub path: Option<String>,
    pub message: String,
    pub refused_at_ms: i64,
    pub local_json: String,
    pub dismissed_at_ms: Option<i64>,
}

/// A record's chunks parked until they can be taken in, in order, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedRecord {
    pub record_id: String,
    pub reason: String,
    pub bytes: Vec<u8>,
}

impl Store {
    /// Keeps received changes of a record this app cannot open yet (an unknown template).
    pub fn park(&self, record_id: &str, reason: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let conn = lock(&self.writer);
        conn.execute(
            "INSERT INTO parked (record_id, seq, reason, bytes)
             VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM parked WHERE record_id = ?1),
                     ?2, ?3)",
            params![record_id, reason, bytes],
        )?;
        Ok(())
    }

    /// Parked records: id, the reason, and all their parked changes concatenated.
    pub fn parked(&self) -> Result<Vec<ParkedRecord>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(
            "SELECT record_id, reason, bytes FROM parked ORDER BY record_id, seq",
        )?;
        let mut rows = stmt.query([])?;
        let mut out: Vec<ParkedRecord> = Vec::new();
        while let Some(row) = rows.next()? {
            let id: String = row.get(0)?;
            let bytes = row.get_ref(2)?.as_blob().map_err(rusqlite::Error::from)?;
            match out.last_mut() {
                // The first chunk's reason says why the record waits.
                Some(last) if last.record_id == id => last.bytes.extend_from_slice(bytes),
                _ => out.push(ParkedRecord {
                    record_id: id,
                    reason: row.get(1)?,
                    bytes: bytes.to_vec(),
                }),
            }
        }
        Ok(out)
    }

    /// Forgets the parked changes of a record (after it was opened).
    pub fn unpark(&self, record_id: &str) -> Result<(), StoreError> {
        let conn = lock(&self.writer);
        conn.execute("DELETE FROM parked WHERE record_id = ?1", [record_id])?;
        Ok(())
    }

    /// Keeps an edit the server refused; returns its id.
    pub fn add_refused_edit(&self, e: &NewRefusedEdit<'_>) -> Result<i64, StoreError> {
        let conn = lock(&self.writer);
        conn.execute(
            "INSERT INTO refused_edits
                 (record_id, code, rule, path, message, refused_at, local_json, changes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                e.record_id,
                e.code,
                e.rule,
                e.path,
                e.message,
                e.refused_at_ms,
                e.local_json,
                e.changes
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Refused edits, newest first: of one record or all; dismissed ones only if asked.
    pub fn refused_edits(
        &self,
        record_id: Option<&str>,
        include_dismissed: bool,
    ) -> Result<Vec<RefusedEdit>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(
            "SELECT id, record_id, code, rule, path, message, refused_at, local_json,
                    dismissed_at
             FROM refused_edits
             WHERE (?1 IS NULL OR record_id = ?1) AND (?2 OR dismissed_at IS NULL)
             ORDER BY id DESC",
        )?;
        let rows = stmt
            .query_map(params![record_id, include_dismissed], |r| {
                Ok(RefusedEdit {
                    id: r.get(0)?,
                    record_id: r.get(1)?,
                    code: r.get(2)?,
                    rule: r.get(3)?,
                    path: r.get(4)?,
                    message: r.get(5)?,
                    refused_at_ms: r.get(6)?,
                    local_json: r.get(7)?,
                    dismissed_at_ms: r.get(8)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Marks a refused edit as seen by the user (it stays in the store); false if unknown.
    pub fn dismiss_refused_edit(&self, id: i64) -> Result<bool, StoreError> {
        let conn = lock(&self.writer);
        let n = conn.execute(
            "UPDATE refused_edits SET dismissed_at = unixepoch('subsec') * 1000
             WHERE id = ?1 AND dismissed_at IS NULL",
            [id],
        )?;
        Ok(n == 1)
    }
}
