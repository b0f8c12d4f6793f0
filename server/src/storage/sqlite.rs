//! The embedded default: one SQLite file (WAL, `synchronous=FULL`: an answered push survives a
//! power cut). One writer connection behind a mutex, so feed sequences are handed out in commit
//! order; a small pool of readers.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use jingtu_protocol::FeedChunk;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::scope::ReadScope;
use super::{
    Commit, FeedPage, LabSampleRow, NewChunk, QueueFilter, QueuePage, RecordIndex, RecordStore,
    StorageError, StoreStats, StoredRecord,
};

mod audit;
mod catalog;
mod migrations;
mod org;
mod people;
mod queue;
mod scope;

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct SqliteStore {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: std::sync::atomic::AtomicUsize,
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<SqliteStore, StorageError> {
        let mut writer = Connection::open(path)?;
        writer.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;
             PRAGMA busy_timeout=10000;",
        )?;
        migrations::migrate(&mut writer)?;
        let readers = (0..4)
            .map(|_| {
                let c = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.execute_batch("PRAGMA busy_timeout=10000;")?;
                Ok(Mutex::new(c))
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        Ok(SqliteStore {
            writer: Mutex::new(writer),
            readers,
            next_reader: Default::default(),
        })
    }

    fn reader(&self) -> MutexGuard<'_, Connection> {
        // Try each reader once without waiting, then wait on one.
        let start = self
            .next_reader
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for i in 0..self.readers.len() {
            if let Ok(g) = self.readers[(start + i) % self.readers.len()].try_lock() {
                return g;
            }
        }
        lock(&self.readers[start % self.readers.len()])
    }
}

impl RecordStore for SqliteStore {
    fn load_record(&self, id: &str) -> Result<Option<StoredRecord>, StorageError> {
        let mut conn = self.reader();
        // One read transaction: the snapshot and the chunks after it as of one moment.
        let tx = conn.transaction()?;
        let snapshot: Option<(i64, Vec<u8>)> = tx
            .prepare_cached("SELECT upto_seq, bytes FROM snapshots WHERE record_id = ?1")?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let (after, mut bytes) = snapshot.unwrap_or((0, Vec::new()));
        let mut found = !bytes.is_empty();
        let mut version = after as u64;
        {
            let mut stmt = tx.prepare_cached(
                "SELECT seq, bytes FROM feed WHERE record_id = ?1 AND seq > ?2 ORDER BY seq",
            )?;
            let mut rows = stmt.query(params![id, after])?;
            while let Some(row) = rows.next()? {
                version = row.get::<_, i64>(0)? as u64;
                let b = row.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
                bytes.extend_from_slice(b);
                found = true;
            }
        }
        tx.finish()?;
        Ok(found.then_some(StoredRecord { bytes, version }))
    }

    fn commit_chunks(
        &self,
        device: &str,
        chunks: &[NewChunk],
    ) -> Result<Vec<Commit>, StorageError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let now = now_ms();
        let mut done = Vec::with_capacity(chunks.len());
        {
            let mut version =
                tx.prepare_cached("SELECT max(seq) FROM feed WHERE record_id = ?1")?;
            let mut rec = tx.prepare_cached(
                "INSERT INTO records (id, kind, org_unit, assignment, owner, created_at,
                     updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
                 ON CONFLICT(id) DO UPDATE SET updated_at = excluded.updated_at,
                     owner = coalesce(records.owner, excluded.owner)",
            )?;
            let mut feed = tx.prepare_cached(
                "INSERT INTO feed (record_id, device, received_at, bytes) VALUES (?1, ?2, ?3, ?4)",
            )?;
            let mut photo = tx.prepare_cached(
                "INSERT OR IGNORE INTO record_photos (record_id, sha256) VALUES (?1, ?2)",
            )?;
            for c in chunks {
                let current: Option<i64> = version.query_row([&c.record], |r| r.get(0))?;
                if current.map(|v| v as u64) != c.base {
                    done.push(Commit::Stale);
                    continue;
                }
                rec.execute(params![
                    c.record,
                    c.kind,
                    c.org_unit,
                    c.assignment,
                    c.owner,
                    now
                ])?;
                feed.execute(params![c.record, device, now, c.bytes])?;
                done.push(Commit::Stored(tx.last_insert_rowid() as u64));
                if let Some(index) = &c.index {
                    queue::write_index(&tx, &c.record, index)?;
                }
                for sha in &c.photos {
                    photo.execute(params![c.record, sha])?;
                }
            }
        }
        tx.commit()?;
        Ok(done)
    }

    fn save_snapshot(&self, id: &str, upto_seq: u64, bytes: &[u8]) -> Result<(), StorageError> {
        let conn = lock(&self.writer);
        conn.execute(
            "INSERT INTO snapshots (record_id, upto_seq, bytes) VALUES (?1, ?2, ?3)
             ON CONFLICT(record_id) DO UPDATE SET upto_seq = excluded.upto_seq,
                 bytes = excluded.bytes
             WHERE excluded.upto_seq > snapshots.upto_seq",
            params![id, upto_seq as i64, bytes],
        )?;
        Ok(())
    }

    fn chunk_count(&self, id: &str) -> Result<u64, StorageError> {
        let conn = self.reader();
        let n: i64 = conn
            .prepare_cached(
                "SELECT COUNT(*) FROM feed WHERE record_id = ?1
                 AND seq > coalesce((SELECT upto_seq FROM snapshots WHERE record_id = ?1), 0)",
            )?
            .query_row([id], |r| r.get(0))?;
        Ok(n as u64)
    }

    fn feed_after(
        &self,
        cursor: u64,
        exclude_device: &str,
        scope: &ReadScope,
        max_bytes: u64,
    ) -> Result<FeedPage, StorageError> {
        const ROWS: i64 = 2000;
        let conn = self.reader();
        // Rows out of scope are read (to move the cursor past them) but not sent: `visible`
        // says which. Their bytes are not read.
        let (all, user, assignments, prefixes) = queue::scope_params(scope);
        let mut stmt = conn.prepare_cached(
            "SELECT f.seq, f.record_id, f.device, length(f.bytes),
                    coalesce(?3 OR r.owner = ?4
                     OR r.assignment IN (SELECT value FROM json_each(?5))
                     OR r.id IN (SELECT record FROM custody_holders WHERE user = ?4)
                     OR EXISTS (SELECT 1 FROM json_each(?6) p
                                WHERE substr(r.org_unit, 1, length(p.value)) = p.value), 0)
                    AS visible
             FROM feed f JOIN records r ON r.id = f.record_id
             WHERE f.seq > ?1 ORDER BY f.seq LIMIT ?2",
        )?;
        let mut bytes_of = conn.prepare_cached("SELECT bytes FROM feed WHERE seq = ?1")?;
        let mut page = FeedPage {
            cursor,
            ..Default::default()
        };
        let mut bytes = 0u64;
        let mut rows = stmt.query(params![
            cursor as i64,
            ROWS,
            all,
            user,
            assignments,
            prefixes
        ])?;
        let mut scanned = 0;
        while let Some(row) = rows.next()? {
            scanned += 1;
            let seq: i64 = row.get(0)?;
            let device: String = row.get(2)?;
            let len: i64 = row.get(3)?;
            let visible: bool = row.get(4)?;
            if visible && device != exclude_device {
                // Always hand out at least one chunk, however large, so a page moves on.
                if !page.chunks.is_empty() && bytes + len as u64 > max_bytes {
                    page.more = true;
                    return Ok(page);
                }
                bytes += len as u64;
                page.chunks.push(FeedChunk {
                    seq: seq as u64,
                    record: row.get(1)?,
                    bytes: bytes_of.query_row([seq], |r| r.get(0))?,
                });
            }
            page.cursor = seq as u64;
        }
        page.more = scanned == ROWS;
        Ok(page)
    }

    fn stats(&self) -> Result<StoreStats, StorageError> {
        let conn = self.reader();
        Ok(conn.query_row(
            "SELECT (SELECT COUNT(*) FROM records),
                    coalesce((SELECT MAX(seq) FROM feed), 0),
                    (SELECT COUNT(*) FROM users),
                    (SELECT COUNT(*) FROM device_tokens WHERE revoked_at IS NULL)",
            [],
            |r| {
                Ok(StoreStats {
                    records: r.get::<_, i64>(0)? as u64,
                    feed_seq: r.get::<_, i64>(1)? as u64,
                    users: r.get::<_, i64>(2)? as u64,
                    devices: r.get::<_, i64>(3)? as u64,
                })
            },
        )?)
    }

    fn queue(&self, scope: &ReadScope, filter: &QueueFilter) -> Result<QueuePage, StorageError> {
        queue::queue(self, scope, filter)
    }

    fn unindexed(&self, limit: u32) -> Result<Vec<String>, StorageError> {
        queue::unindexed(self, limit)
    }

    fn set_index(&self, id: &str, index: &RecordIndex) -> Result<(), StorageError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        queue::write_index(&tx, id, index)?;
        tx.commit()?;
        Ok(())
    }

    fn lab_samples(
        &self,
        org_prefixes: Option<&[String]>,
        blind_code: Option<&str>,
        limit: u32,
    ) -> Result<Vec<LabSampleRow>, StorageError> {
        queue::lab_samples(self, org_prefixes, blind_code, limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(record: &str, bytes: &[u8], base: Option<u64>) -> NewChunk {
        NewChunk {
            record: record.into(),
            bytes: bytes.to_vec(),
            kind: "soil_sample".into(),
            org_unit: None,
            assignment: None,
            owner: "u".into(),
            photos: vec![],
            base,
            index: None,
        }
    }

    #[test]
    fn feed_sequences_follow_commits_and_pages_skip_the_own_device() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("db")).unwrap();
        let a = s
            .commit_chunks(
                "dev-a",
                &[chunk("r1", b"aa", None), chunk("r2", b"bb", None)],
            )
            .unwrap();
        let b = s
            .commit_chunks("dev-b", &[chunk("r1", b"cc", Some(1))])
            .unwrap();
        assert_eq!(a, vec![Commit::Stored(1), Commit::Stored(2)]);
        assert_eq!(b, vec![Commit::Stored(3)]);
        let r1 = s.load_record("r1").unwrap().unwrap();
        assert_eq!((r1.bytes.as_slice(), r1.version), (&b"aacc"[..], 3));
        let page = s.feed_after(0, "dev-a", &ReadScope::All, 1 << 20).unwrap();
        assert_eq!(page.chunks.len(), 1);
        assert_eq!((page.cursor, page.more), (3, false));
        let page = s.feed_after(0, "dev-c", &ReadScope::All, 3).unwrap();
        assert_eq!(page.chunks.len(), 1, "a page holds at least one chunk");
        assert!(page.more);
        assert_eq!(page.cursor, 1);
        s.save_snapshot("r1", 3, b"SNAP").unwrap();
        let r1 = s.load_record("r1").unwrap().unwrap();
        assert_eq!((r1.bytes.as_slice(), r1.version), (&b"SNAP"[..], 3));
        assert_eq!(s.chunk_count("r1").unwrap(), 0);
        assert_eq!(s.load_record("nope").unwrap(), None);
    }

    #[test]
    fn a_chunk_checked_against_an_older_version_is_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("db")).unwrap();
        let first = s.commit_chunks("a", &[chunk("r1", b"aa", None)]).unwrap();
        assert_eq!(first, vec![Commit::Stored(1)]);
        // A second "new" record of the same id, and a chunk against a version that is gone.
        let late = s
            .commit_chunks(
                "b",
                &[
                    chunk("r1", b"xx", None),
                    chunk("r1", b"yy", Some(7)),
                    chunk("r2", b"zz", None),
                    chunk("r1", b"bb", Some(1)),
                    chunk("r1", b"cc", Some(1)),
                ],
            )
            .unwrap();
        assert_eq!(
            late,
            vec![
                Commit::Stale,
                Commit::Stale,
                Commit::Stored(2),
                Commit::Stored(3),
                Commit::Stale
            ]
        );
        assert_eq!(s.load_record("r1").unwrap().unwrap().bytes, b"aabb");
    }

    use crate::storage::AuthStore;

    #[test]
    fn tokens_are_found_by_hash_and_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("db")).unwrap();
        s.create_user("张三").unwrap();
        assert!(matches!(
            s.create_user("张三"),
            Err(StorageError::Exists(_))
        ));
        let t = s.add_token("张三", "h1", Some("phone")).unwrap();
        assert_eq!(s.find_token("h1").unwrap().unwrap().user, "张三");
        assert!(s.find_token("h2").unwrap().is_none());
        s.revoke_token(t.id).unwrap();
        assert!(s.find_token("h1").unwrap().is_none());
        assert!(s.list_tokens().unwrap()[0].revoked);
        assert!(matches!(
            s.add_token("nobody", "h3", None),
            Err(StorageError::NotFound(_))
        ));
    }
}
