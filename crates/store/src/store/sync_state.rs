//! What waits to be sent: records with changes the server has not confirmed, the heads it
//! confirmed, and the counts the apps show.

use rusqlite::{OptionalExtension, params};

use super::{Store, lock};
use crate::StoreError;

/// A record with changes the server has not confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirtyRecord {
    pub id: String,
    /// The heads the server confirmed, concatenated 32-byte hashes (`None`: nothing yet).
    pub synced_heads: Option<Vec<u8>>,
    /// The local write count when read; a push confirms only up to it.
    pub edit_seq: i64,
}

/// How much waits to be synced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncCounts {
    pub records: u64,
    /// Records with changes to push.
    pub records_pending: u64,
    /// Records the server refused whole, not pushed again until edited here.
    pub records_held: u64,
    pub photos_pending: u64,
}

/// What waits to be sent of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordSyncRow {
    /// Changes wait to be pushed (and are pushed unless `held`).
    pub dirty: bool,
    /// The server refused the record whole: not pushed again until edited here.
    pub held: bool,
    /// Its photos not uploaded yet.
    pub photos_pending: u64,
}

/// A record the server confirmed: the heads it holds, and the write count the push was made
/// at (a record written to since stays dirty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pushed<'a> {
    pub id: &'a str,
    pub heads: &'a [u8],
    pub edit_seq: i64,
}

impl Store {
    /// Records with changes the server has not confirmed, oldest first.
    pub fn dirty_records(&self, limit: u32) -> Result<Vec<DirtyRecord>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(
            "SELECT id, synced_heads, edit_seq FROM records WHERE dirty = 1 AND held = 0
             ORDER BY updated_at LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([limit], |r| {
                Ok(DirtyRecord {
                    id: r.get(0)?,
                    synced_heads: r.get(1)?,
                    edit_seq: r.get(2)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The server confirmed a record up to `heads`, pushed when its write count was
    /// `edit_seq`: clean unless it was written since.
    pub fn mark_pushed(&self, id: &str, heads: &[u8], edit_seq: i64) -> Result<(), StoreError> {
        self.mark_all_pushed(&[Pushed {
            id,
            heads,
            edit_seq,
        }])
    }

    /// [`Self::mark_pushed`] of many records (id, heads, write count), in one transaction:
    /// one commit for the answer to a request of a thousand pushes instead of a thousand.
    pub fn mark_all_pushed(&self, pushed: &[Pushed<'_>]) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        {
            let mut update = tx.prepare_cached(
                "UPDATE records SET synced_heads = ?2,
                     dirty = CASE WHEN edit_seq = ?3 THEN 0 ELSE dirty END
                 WHERE id = ?1",
            )?;
            for p in pushed {
                update.execute(params![p.id, p.heads, p.edit_seq])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Forget what the server confirmed of a record (it will be pushed whole).
    pub fn reset_synced(&self, id: &str) -> Result<(), StoreError> {
        let conn = lock(&self.writer);
        conn.execute(
            "UPDATE records SET synced_heads = NULL, dirty = 1 WHERE id = ?1",
            [id],
        )?;
        Ok(())
    }

    /// Whether a record waits to be pushed, and how many of its photos wait to be uploaded.
    pub fn record_sync_state(&self, id: &str) -> Result<RecordSyncRow, StoreError> {
        let conn = lock(&self.reader);
        conn.prepare_cached(
            "SELECT dirty, held, (SELECT COUNT(DISTINCT p.sha256) FROM photo_refs r
                 JOIN photos p ON p.sha256 = r.sha256
                 WHERE r.record_id = records.id AND p.uploaded = 0 AND p.bytes IS NOT NULL)
             FROM records WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok(RecordSyncRow {
                dirty: r.get::<_, i64>(0)? != 0,
                held: r.get::<_, i64>(1)? != 0,
                photos_pending: r.get::<_, i64>(2)? as u64,
            })
        })
        .optional()?
        .ok_or_else(|| StoreError::NotFound(id.to_string()))
    }

    pub fn sync_counts(&self) -> Result<SyncCounts, StoreError> {
        let conn = lock(&self.reader);
        Ok(conn.query_row(
            "SELECT (SELECT COUNT(*) FROM records),
                    (SELECT COUNT(*) FROM records WHERE dirty = 1 AND held = 0),
                    (SELECT COUNT(*) FROM records WHERE held = 1),
                    (SELECT COUNT(*) FROM photos WHERE uploaded = 0 AND bytes IS NOT NULL)",
            [],
            |r| {
                Ok(SyncCounts {
                    records: r.get::<_, i64>(0)? as u64,
                    records_pending: r.get::<_, i64>(1)? as u64,
                    records_held: r.get::<_, i64>(2)? as u64,
                    photos_pending: r.get::<_, i64>(3)? as u64,
                })
            },
        )?)
    }
}

/// Where this device stands with its server: the feed cursor, the scope sequence (and the
/// one being moved to, with its page), the last sync. Read together and typed: a stored value
/// that does not read is an error, not a silent 0 (a cursor read as 0 would pull the whole
/// feed again; a scope sequence read as 0 would take the device's scope as new).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncState {
    pub cursor: u64,
    pub scope_seq: u64,
    /// A scope change taken in part: the sequence it moves to, and the page to ask for next.
    pub scope_target: Option<u64>,
    pub scope_after: Option<String>,
    pub last_sync_ms: Option<i64>,
}

const KEY_CURSOR: &str = "sync_cursor";
const KEY_LAST_SYNC: &str = "last_sync_ms";
const KEY_SCOPE_SEQ: &str = "scope_seq";
const KEY_SCOPE_TARGET: &str = "scope_target";
const KEY_SCOPE_AFTER: &str = "scope_after";

impl Store {
    /// The sync state, each value checked.
    pub fn sync_state(&self) -> Result<SyncState, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(
            "SELECT key, value FROM settings WHERE key IN
                 ('sync_cursor', 'last_sync_ms', 'scope_seq', 'scope_target', 'scope_after')",
        )?;
        let mut rows = stmt.query([])?;
        let mut state = SyncState::default();
        while let Some(row) = rows.next()? {
            let key: String = row.get(0)?;
            let value: String = row.get(1)?;
            let bad = || StoreError::Corrupt {
                path: self.dir.join(super::DB_FILE),
                reason: format!("the setting {key} holds {value:?}, not a number"),
            };
            let num = |v: &str| v.trim().parse::<u64>().map_err(|_| bad());
            match key.as_str() {
                KEY_CURSOR => state.cursor = num(&value)?,
                KEY_SCOPE_SEQ => state.scope_seq = num(&value)?,
                KEY_SCOPE_TARGET => state.scope_target = Some(num(&value)?).filter(|t| *t > 0),
                KEY_SCOPE_AFTER => {
                    state.scope_after = Some(value.clone()).filter(|a| !a.is_empty())
                }
                KEY_LAST_SYNC => {
                    state.last_sync_ms = Some(value.trim().parse::<i64>().map_err(|_| bad())?)
                }
                _ => {}
            }
        }
        if state.scope_target.is_none() {
            state.scope_after = None;
        }
        Ok(state)
    }

    /// Moves the feed cursor (0: the feed starts anew, as with another server).
    pub fn set_cursor(&self, cursor: u64) -> Result<(), StoreError> {
        self.set_setting(KEY_CURSOR, &cursor.to_string())
    }

    pub fn set_last_sync(&self, at_ms: i64) -> Result<(), StoreError> {
        self.set_setting(KEY_LAST_SYNC, &at_ms.to_string())
    }

    /// A scope change taken in: whole (`next` none: the device is at `seq`), or in part (the
    /// page after `next` is asked for next, toward `seq`). One transaction.
    pub fn set_scope_progress(&self, seq: u64, next: Option<&str>) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        {
            let mut put = tx.prepare_cached(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            )?;
            match next {
                Some(after) => {
                    put.execute(params![KEY_SCOPE_TARGET, seq.to_string()])?;
                    put.execute(params![KEY_SCOPE_AFTER, after])?;
                }
                None => {
                    put.execute(params![KEY_SCOPE_SEQ, seq.to_string()])?;
                    put.execute(params![KEY_SCOPE_TARGET, "0"])?;
                    put.execute(params![KEY_SCOPE_AFTER, ""])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreOptions;

    #[test]
    fn the_sync_state_reads_typed_and_a_corrupt_value_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        assert_eq!(store.sync_state().unwrap(), SyncState::default());
        store.set_cursor(42).unwrap();
        store.set_last_sync(1_700_000_000_000).unwrap();
        store.set_scope_progress(7, Some("0190-after")).unwrap();
        let s = store.sync_state().unwrap();
        assert_eq!(
            (
                s.cursor,
                s.scope_seq,
                s.scope_target,
                s.scope_after.as_deref()
            ),
            (42, 0, Some(7), Some("0190-after"))
        );
        assert_eq!(s.last_sync_ms, Some(1_700_000_000_000));
        store.set_scope_progress(7, None).unwrap();
        let s = store.sync_state().unwrap();
        assert_eq!(
            (s.scope_seq, s.scope_target, s.scope_after),
            (7, None, None)
        );
        // A cursor that does not read is not taken as 0 (the whole feed again).
        store.set_setting("sync_cursor", "forty-two").unwrap();
        assert!(matches!(
            store.sync_state(),
            Err(StoreError::Corrupt { reason, .. }) if reason.contains("sync_cursor")
        ));
    }
}
