use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::schema::migrate;

const DB_FILE: &str = "jingtu.db";
const LOCK_FILE: &str = "jingtu.lock";

/// How hard each commit pushes to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// WAL with `synchronous=NORMAL`: a committed edit survives the process being killed at
    /// any moment; a power cut may lose the last few commits but never corrupts the store.
    #[default]
    Process,
    /// WAL with `synchronous=FULL`: each commit is fsynced (survives a power cut too), at about
    /// 0.3 ms per edit on this machine's disk.
    PowerLoss,
}

#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    pub durability: Durability,
}

/// The summary of a record kept for lists, filters and search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordSummary {
    pub id: String,
    pub kind: String,
    pub template_version: u32,
    pub name: String,
    pub status: String,
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
    pub status: Option<String>,
    pub org_unit: Option<String>,
    pub village: Option<String>,
    pub text: Option<String>,
    pub updated_after_ms: Option<i64>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// A photo's stored bytes, named by the SHA-256 (hex) of `bytes`.
#[derive(Debug, Clone, PartialEq)]
pub struct PhotoBlob {
    pub sha256: String,
    pub bytes: Vec<u8>,
    pub thumb: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// A record's photo entry (`photo_id`) that uses the blob `sha256`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PhotoRef {
    pub photo_id: String,
    pub sha256: String,
}

/// The photo side of a record write: a blob to add (kept once however often it is added) and
/// the record's complete set of live photo references after the write. Blobs no record refers
/// to any more are deleted in the same transaction.
#[derive(Debug, Clone, Copy)]
pub struct PhotoChange<'a> {
    pub put: Option<&'a PhotoBlob>,
    pub refs: &'a [PhotoRef],
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

/// What the store holds of one photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoInfo {
    pub sha256: String,
    pub width: u32,
    pub height: u32,
    /// Size of the full image in bytes.
    pub size: u64,
    pub has_full: bool,
    pub has_thumb: bool,
}

/// An assignment as the device keeps it: the server's JSON, with what lists need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAssignment {
    pub id: String,
    pub kind: String,
    pub due_date: Option<String>,
    pub body: String,
}

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

/// A device store: one folder holding `jingtu.db` and `jingtu.lock`.
pub struct Store {
    dir: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    actor: Vec<u8>,
    _lock: File,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dir", &self.dir).finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave SQLite half-written (transactions roll
    // back), so a poisoned mutex is safe to reuse.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Store {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path, options: &StoreOptions) -> Result<Store, StoreError> {
        let io = |source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let lock_path = dir.join(LOCK_FILE);
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| StoreError::Io {
                path: lock_path.clone(),
                source,
            })?;
        match lock_file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked(dir.to_path_buf()));
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(StoreError::Io {
                    path: lock_path,
                    source,
                });
            }
        }
        let db_path = dir.join(DB_FILE);
        let corrupt = |e: rusqlite::Error| StoreError::Corrupt {
            path: db_path.clone(),
            reason: e.to_string(),
        };
        let mut writer = Connection::open(&db_path)?;
        let sync = match options.durability {
            Durability::Process => "NORMAL",
            Durability::PowerLoss => "FULL",
        };
        writer
            .execute_batch(&format!(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA foreign_keys=ON;
                 PRAGMA busy_timeout=5000;"
            ))
            .map_err(corrupt)?;
        let check: String = writer
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(corrupt)?;
        if check != "ok" {
            return Err(StoreError::Corrupt {
                path: db_path,
                reason: check,
            });
        }
        migrate(&mut writer)?;
        let actor = load_or_create_actor(&writer)?;
        let reader = Connection::open_with_flags(
            &db_path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        reader.execute_batch("PRAGMA busy_timeout=5000;")?;
        Ok(Store {
            dir: dir.to_path_buf(),
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            actor,
            _lock: lock_file,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// This device's Automerge actor id for this store: made once, kept for its lifetime.
    pub fn actor_id(&self) -> &[u8] {
        &self.actor
    }

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
    pub fn load(&self, id: &str) -> Result<(Vec<u8>, u32), StoreError> {
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
        Ok((out, count))
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
        eq("status", &filter.status, &mut sql);
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

    /// The full image (or its thumbnail) of a photo; `None` when this device does not hold it.
    pub fn photo_bytes(&self, sha256: &str, thumb: bool) -> Result<Option<Vec<u8>>, StoreError> {
        let conn = lock(&self.reader);
        let sql = if thumb {
            "SELECT thumb FROM photos WHERE sha256 = ?1"
        } else {
            "SELECT bytes FROM photos WHERE sha256 = ?1"
        };
        let found: Option<Option<Vec<u8>>> = conn
            .prepare_cached(sql)?
            .query_row([sha256], |r| r.get(0))
            .optional()?;
        Ok(found.flatten())
    }

    /// What the store holds of a photo.
    pub fn photo_info(&self, sha256: &str) -> Result<Option<PhotoInfo>, StoreError> {
        let conn = lock(&self.reader);
        Ok(conn
            .prepare_cached(
                "SELECT sha256, width, height, size, bytes IS NOT NULL, thumb IS NOT NULL
                 FROM photos WHERE sha256 = ?1",
            )?
            .query_row([sha256], |r| {
                Ok(PhotoInfo {
                    sha256: r.get(0)?,
                    width: r.get(1)?,
                    height: r.get(2)?,
                    size: r.get::<_, i64>(3)? as u64,
                    has_full: r.get(4)?,
                    has_thumb: r.get(5)?,
                })
            })
            .optional()?)
    }

    /// The live photo references of a record, by photo id.
    pub fn photo_refs(&self, record_id: &str) -> Result<Vec<PhotoRef>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(
            "SELECT photo_id, sha256 FROM photo_refs WHERE record_id = ?1 ORDER BY photo_id",
        )?;
        let refs = stmt
            .query_map([record_id], |r| {
                Ok(PhotoRef {
                    photo_id: r.get(0)?,
                    sha256: r.get(1)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(refs)
    }

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
        self.mark_all_pushed(&[(id, heads, edit_seq)])
    }

    /// [`Self::mark_pushed`] of many records (id, heads, write count), in one transaction:
    /// one commit for the answer to a request of a thousand pushes instead of a thousand.
    pub fn mark_all_pushed(&self, pushed: &[(&str, &[u8], i64)]) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        {
            let mut update = tx.prepare_cached(
                "UPDATE records SET synced_heads = ?2,
                     dirty = CASE WHEN edit_seq = ?3 THEN 0 ELSE dirty END
                 WHERE id = ?1",
            )?;
            for (id, heads, edit_seq) in pushed {
                update.execute(params![id, heads, edit_seq])?;
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

    /// Photos held in full that the server has not confirmed, with their sizes in bytes.
    pub fn photos_to_upload(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(
            "SELECT sha256, size FROM photos WHERE uploaded = 0 AND bytes IS NOT NULL
             ORDER BY added_at",
        )?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64)))?
            .collect::<Result<Vec<(String, u64)>, _>>()?;
        Ok(rows)
    }

    pub fn mark_photo_uploaded(&self, sha256: &str) -> Result<(), StoreError> {
        let conn = lock(&self.writer);
        conn.execute("UPDATE photos SET uploaded = 1 WHERE sha256 = ?1", [sha256])?;
        Ok(())
    }

    /// Photos some record uses that this device holds nothing of (not even a thumbnail).
    pub fn photos_without_thumbnail(&self) -> Result<Vec<String>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(
            "SELECT DISTINCT r.sha256 FROM photo_refs r
             WHERE NOT EXISTS (SELECT 1 FROM photos p WHERE p.sha256 = r.sha256
                               AND p.thumb IS NOT NULL)",
        )?;
        let rows = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(rows)
    }

    /// Stores what the server sent of a photo some record uses: its thumbnail, or the full
    /// image (both come from the server, so they count as uploaded).
    pub fn put_downloaded_photo(
        &self,
        sha256: &str,
        thumb: Option<&[u8]>,
        full: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        let conn = lock(&self.writer);
        conn.prepare_cached(
            "INSERT INTO photos (sha256, bytes, thumb, width, height, size, added_at, uploaded)
             SELECT ?1, ?2, ?3, 0, 0, coalesce(length(?2), 0), unixepoch('subsec') * 1000, 1
             WHERE EXISTS (SELECT 1 FROM photo_refs WHERE sha256 = ?1)
             ON CONFLICT(sha256) DO UPDATE SET
                 bytes = coalesce(photos.bytes, excluded.bytes),
                 thumb = coalesce(photos.thumb, excluded.thumb),
                 size = max(photos.size, excluded.size)",
        )?
        .execute(params![sha256, full, thumb])?;
        Ok(())
    }

    /// How many photo blobs the store holds, and how many of them no record refers to (always
    /// 0 unless something is wrong; tests check it).
    pub fn photo_counts(&self) -> Result<(u64, u64), StoreError> {
        let conn = lock(&self.reader);
        let (all, orphans): (i64, i64) = conn.query_row(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE NOT EXISTS
                 (SELECT 1 FROM photo_refs r WHERE r.sha256 = photos.sha256))
             FROM photos",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((all as u64, orphans as u64))
    }

    pub fn count(&self) -> Result<u64, StoreError> {
        let conn = lock(&self.reader);
        let n: i64 = conn.query_row("SELECT COUNT(*) FROM records", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let conn = lock(&self.reader);
        Ok(conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let conn = lock(&self.writer);
        conn.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Bytes of the store on disk (database, WAL).
    pub fn disk_bytes(&self) -> u64 {
        ["jingtu.db", "jingtu.db-wal"]
            .iter()
            .filter_map(|f| std::fs::metadata(self.dir.join(f)).ok())
            .map(|m| m.len())
            .sum()
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
    pub fn parked(&self) -> Result<Vec<(String, String, Vec<u8>)>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(
            "SELECT record_id, reason, bytes FROM parked ORDER BY record_id, seq",
        )?;
        let mut rows = stmt.query([])?;
        let mut out: Vec<(String, String, Vec<u8>)> = Vec::new();
        while let Some(row) = rows.next()? {
            let id: String = row.get(0)?;
            let reason: String = row.get(1)?;
            let bytes = row.get_ref(2)?.as_blob().map_err(rusqlite::Error::from)?;
            match out.last_mut() {
                Some(last) if last.0 == id => {
                    last.1 = reason;
                    last.2.extend_from_slice(bytes);
                }
                _ => out.push((id, reason, bytes.to_vec())),
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

    /// Templates and code tables received from the server: `(id, sha256, text)` in id order.
    pub fn catalog_items(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached("SELECT id, sha256, text FROM catalog ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores received catalog items (replacing any of the same id) and, in the same
    /// transaction, the digest of the listing they complete (`None`: the listing is not
    /// complete yet).
    pub fn put_catalog_items(
        &self,
        items: &[(String, String, String)],
        digest: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO catalog (id, sha256, text, received_at)
                 VALUES (?1, ?2, ?3, unixepoch('subsec') * 1000)",
            )?;
            for (id, sha256, text) in items {
                insert.execute(params![id, sha256, text])?;
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

    /// Replaces the assignments held by the ones the server sent.
    pub fn set_assignments(&self, list: &[StoredAssignment]) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM assignments", [])?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO assignments (id, kind, due_date, body, received_at)
                 VALUES (?1, ?2, ?3, ?4, unixepoch('subsec') * 1000)",
            )?;
            for a in list {
                insert.execute(params![a.id, a.kind, a.due_date, a.body])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The assignments held, by due date (those without one last), then id.
    pub fn assignments(&self) -> Result<Vec<StoredAssignment>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(
            "SELECT id, kind, due_date, body FROM assignments
             ORDER BY due_date IS NULL, due_date, id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(StoredAssignment {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    due_date: r.get(2)?,
                    body: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
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

    /// Folds the WAL into the database file (for measuring size, or before a backup).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        let conn = lock(&self.writer);
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
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
        status: r.get(4)?,
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
        s.status,
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

fn write_photos(
    tx: &Connection,
    record_id: &str,
    change: PhotoChange<'_>,
) -> Result<(), StoreError> {
    if let Some(blob) = change.put {
        tx.prepare_cached(
            "INSERT INTO photos (sha256, bytes, thumb, width, height, size, added_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, unixepoch('subsec') * 1000)
             ON CONFLICT(sha256) DO UPDATE SET
                 bytes = coalesce(photos.bytes, excluded.bytes),
                 thumb = coalesce(photos.thumb, excluded.thumb)",
        )?
        .execute(params![
            blob.sha256,
            blob.bytes,
            blob.thumb,
            blob.width,
            blob.height,
            blob.bytes.len() as i64
        ])?;
    }
    let before: Vec<String> = tx
        .prepare_cached("SELECT sha256 FROM photo_refs WHERE record_id = ?1")?
        .query_map([record_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    tx.prepare_cached("DELETE FROM photo_refs WHERE record_id = ?1")?
        .execute([record_id])?;
    let mut insert = tx.prepare_cached(
        "INSERT OR REPLACE INTO photo_refs (record_id, photo_id, sha256) VALUES (?1, ?2, ?3)",
    )?;
    for r in change.refs {
        insert.execute(params![record_id, r.photo_id, r.sha256])?;
    }
    let mut gc = tx.prepare_cached(
        "DELETE FROM photos WHERE sha256 = ?1
         AND NOT EXISTS (SELECT 1 FROM photo_refs WHERE sha256 = ?1)",
    )?;
    for sha in before
        .iter()
        .chain(change.put.map(|b| &b.sha256))
        .filter(|s| !change.refs.iter().any(|r| &r.sha256 == *s))
    {
        gc.execute([sha])?;
    }
    Ok(())
}

fn load_or_create_actor(conn: &Connection) -> Result<Vec<u8>, StoreError> {
    let existing: Option<String> = conn
        .query_row(
            "SELECT value FROM settings WHERE key = 'actor_id'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(hex) = existing.and_then(|h| hex::decode(h).ok())
        && hex.len() == 16
    {
        return Ok(hex);
    }
    let actor: [u8; 16] = rand::random();
    conn.execute(
        "INSERT INTO settings (key, value) VALUES ('actor_id', ?1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [hex::encode(actor)],
    )?;
    Ok(actor.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(id: &str, name: &str) -> RecordSummary {
        RecordSummary {
            id: id.into(),
            kind: "soil_sample".into(),
            template_version: 1,
            name: name.into(),
            status: "draft".into(),
            org_unit: Some("411321".into()),
            village: None,
            planned_point: None,
            created_at_ms: 1,
            updated_at_ms: 1,
            completion_pct: 0.0,
            error_count: 0,
            warning_count: 0,
            conflict_count: 0,
        }
    }

    #[test]
    fn actor_id_is_stable_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let a = Store::open(dir.path(), &StoreOptions::default())
            .unwrap()
            .actor_id()
            .to_vec();
        let b = Store::open(dir.path(), &StoreOptions::default())
            .unwrap()
            .actor_id()
            .to_vec();
        assert_eq!(a, b);
        assert_eq!(a.len(), 16);
    }

    #[test]
    fn a_second_open_is_refused_while_the_first_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        let second = Store::open(dir.path(), &StoreOptions::default());
        assert!(matches!(second, Err(StoreError::Locked(_))));
    }

    #[test]
    fn chunks_append_load_and_compact() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        store.insert_record(&summary("r1", "甲"), b"ab").unwrap();
        assert!(matches!(
            store.insert_record(&summary("r1", "甲"), b"ab"),
            Err(StoreError::Exists(_))
        ));
        assert_eq!(store.append_chunk(&summary("r1", "甲"), b"cd").unwrap(), 2);
        assert_eq!(store.load("r1").unwrap(), (b"abcd".to_vec(), 2));
        store.compact("r1", b"ABCD").unwrap();
        assert_eq!(store.load("r1").unwrap(), (b"ABCD".to_vec(), 1));
        assert!(matches!(store.load("nope"), Err(StoreError::NotFound(_))));
        assert!(matches!(
            store.append_chunk(&summary("nope", ""), b"x"),
            Err(StoreError::NotFound(_))
        ));
    }

    #[test]
    fn list_filters_and_searches_names() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        store
            .insert_record(&summary("a", "云阳镇 50%_点"), b"x")
            .unwrap();
        let mut b = summary("b", "皇路店镇");
        b.kind = "water_body_check".into();
        b.updated_at_ms = 5;
        store.insert_record(&b, b"x").unwrap();
        let all = store.list(&ListFilter::default()).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].id, "b", "newest first");
        let f = ListFilter {
            text: Some("云阳".into()),
            ..Default::default()
        };
        assert_eq!(store.list(&f).unwrap().len(), 1);
        let f = ListFilter {
            text: Some("%_".into()),
            ..Default::default()
        };
        assert_eq!(store.list(&f).unwrap()[0].id, "a", "wildcards are literal");
        let f = ListFilter {
            kind: Some("water_body_check".into()),
            ..Default::default()
        };
        assert_eq!(store.list(&f).unwrap()[0].id, "b");
        assert_eq!(
            store.ids_with_prefix("a", 5).unwrap(),
            vec!["a".to_string()]
        );
    }

    fn blob(tag: &str) -> PhotoBlob {
        PhotoBlob {
            sha256: format!("sha-{tag}"),
            bytes: tag.as_bytes().repeat(10),
            thumb: tag.as_bytes().to_vec(),
            width: 4,
            height: 3,
        }
    }

    fn pref(id: &str, sha: &str) -> PhotoRef {
        PhotoRef {
            photo_id: id.into(),
            sha256: sha.into(),
        }
    }

    #[test]
    fn photos_are_stored_once_and_deleted_when_nothing_refers_to_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        store.insert_record(&summary("r1", "a"), b"x").unwrap();
        store.insert_record(&summary("r2", "b"), b"x").unwrap();
        let a = blob("a");
        // The same photo in two records, and twice in one.
        let refs1 = [pref("p1", "sha-a"), pref("p2", "sha-a")];
        store
            .append_chunk_with_photos(
                &summary("r1", "a"),
                b"y",
                Some(PhotoChange {
                    put: Some(&a),
                    refs: &refs1,
                }),
            )
            .unwrap();
        let refs2 = [pref("p3", "sha-a")];
        store
            .append_chunk_with_photos(
                &summary("r2", "b"),
                b"y",
                Some(PhotoChange {
                    put: Some(&a),
                    refs: &refs2,
                }),
            )
            .unwrap();
        assert_eq!(store.photo_counts().unwrap(), (1, 0));
        assert_eq!(
            store.photo_bytes("sha-a", false).unwrap(),
            Some(a.bytes.clone())
        );
        assert_eq!(store.photo_bytes("sha-a", true).unwrap(), Some(a.thumb));
        let info = store.photo_info("sha-a").unwrap().unwrap();
        assert_eq!((info.size, info.has_full), (10, true));
        assert_eq!(store.photo_refs("r1").unwrap(), refs1.to_vec());
        // r1 drops both of its entries: the blob stays for r2.
        store
            .append_chunk_with_photos(
                &summary("r1", "a"),
                b"z",
                Some(PhotoChange {
                    put: None,
                    refs: &[],
                }),
            )
            .unwrap();
        assert!(store.photo_bytes("sha-a", false).unwrap().is_some());
        // r2 drops it too: gone.
        store
            .append_chunk_with_photos(
                &summary("r2", "b"),
                b"z",
                Some(PhotoChange {
                    put: None,
                    refs: &[],
                }),
            )
            .unwrap();
        assert_eq!(store.photo_bytes("sha-a", false).unwrap(), None);
        assert_eq!(store.photo_counts().unwrap(), (0, 0));
    }

    #[test]
    fn a_failed_record_write_stores_no_photo() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        let b = blob("b");
        let refs = [pref("p1", "sha-b")];
        // No such record: the whole transaction, blob included, is refused.
        assert!(
            store
                .append_chunk_with_photos(
                    &summary("nope", ""),
                    b"y",
                    Some(PhotoChange {
                        put: Some(&b),
                        refs: &refs,
                    }),
                )
                .is_err()
        );
        assert_eq!(store.photo_counts().unwrap(), (0, 0));
    }

    #[test]
    fn eviction_keeps_unpushed_records_and_frees_their_photos() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        let b = blob("b");
        let refs = [pref("p1", "sha-b")];
        for id in ["clean", "dirty"] {
            store
                .insert_record_with_photos(
                    &summary(id, id),
                    b"ab",
                    Some(PhotoChange {
                        put: Some(&b),
                        refs: &refs,
                    }),
                )
                .unwrap();
        }
        store.mark_pushed("clean", b"h", 0).unwrap();
        assert!(
            !store.evict_record("dirty").unwrap(),
            "unpushed changes stay"
        );
        assert!(store.evict_record("clean").unwrap());
        assert!(store.evict_record("never-there").unwrap());
        assert!(matches!(store.load("clean"), Err(StoreError::NotFound(_))));
        assert!(store.load("dirty").is_ok());
        // The blob is still referenced by the kept record.
        assert_eq!(store.photo_counts().unwrap(), (1, 0));
        store.mark_pushed("dirty", b"h", 0).unwrap();
        assert!(store.evict_record("dirty").unwrap());
        assert_eq!(store.photo_counts().unwrap(), (0, 0));
        assert_eq!(store.count().unwrap(), 0);
    }

    #[test]
    fn records_marked_pushed_together_stay_dirty_only_when_written_since() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        for id in ["a", "b", "c"] {
            store.insert_record(&summary(id, id), b"ab").unwrap();
        }
        // "b" was written after its push was read (its write count moved on).
        store.append_chunk(&summary("b", "b"), b"cd").unwrap();
        let seq = |id: &str| {
            store
                .dirty_records(10)
                .unwrap()
                .into_iter()
                .find(|d| d.id == id)
                .map(|d| d.edit_seq)
        };
        let (a, c) = (seq("a").unwrap(), seq("c").unwrap());
        store
            .mark_all_pushed(&[("a", b"ha", a), ("b", b"hb", a), ("c", b"hc", c)])
            .unwrap();
        let dirty: Vec<String> = store
            .dirty_records(10)
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(dirty, ["b"]);
        let b = store.dirty_records(10).unwrap().remove(0);
        assert_eq!(b.synced_heads.as_deref(), Some(&b"hb"[..]));
        assert!(store.mark_all_pushed(&[]).is_ok());
    }

    #[test]
    fn a_replaced_document_is_one_snapshot_and_waits_to_be_pushed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        store.insert_record(&summary("r", "甲"), b"ab").unwrap();
        store.append_chunk(&summary("r", "甲"), b"cd").unwrap();
        store.mark_pushed("r", b"h", 1).unwrap();
        assert!(!store.record_sync_state("r").unwrap().dirty);
        store
            .replace_document(
                &summary("r", "乙"),
                b"XY",
                PhotoChange {
                    put: None,
                    refs: &[],
                },
                true,
            )
            .unwrap();
        assert_eq!(store.load("r").unwrap(), (b"XY".to_vec(), 1));
        assert_eq!(store.summary("r").unwrap().name, "乙");
        assert!(store.record_sync_state("r").unwrap().dirty);
        assert!(matches!(
            store.replace_document(
                &summary("nope", ""),
                b"XY",
                PhotoChange {
                    put: None,
                    refs: &[]
                },
                true
            ),
            Err(StoreError::NotFound(_))
        ));
    }

    #[test]
    fn assignments_are_replaced_and_refused_edits_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        let a = |id: &str, due: Option<&str>| StoredAssignment {
            id: id.into(),
            kind: "soil_sample".into(),
            due_date: due.map(str::to_string),
            body: format!("{{\"id\":\"{id}\"}}"),
        };
        store
            .set_assignments(&[
                a("b", None),
                a("a", Some("2024-06-30")),
                a("c", Some("2024-05-01")),
            ])
            .unwrap();
        let ids: Vec<String> = store
            .assignments()
            .unwrap()
            .into_iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(ids, ["c", "a", "b"]);
        store.set_assignments(&[a("d", None)]).unwrap();
        assert_eq!(store.assignments().unwrap(), vec![a("d", None)]);

        let edit = NewRefusedEdit {
            record_id: "r",
            code: "forbidden",
            rule: Some("review_by_supervisor"),
            path: Some("review/x"),
            message: "only supervisors write review",
            refused_at_ms: 5,
            local_json: "{}",
            changes: b"zz",
        };
        let first = store.add_refused_edit(&edit).unwrap();
        let second = store
            .add_refused_edit(&NewRefusedEdit {
                record_id: "s",
                ..edit.clone()
            })
            .unwrap();
        assert_eq!(store.refused_edits(None, false).unwrap().len(), 2);
        let of_r = store.refused_edits(Some("r"), false).unwrap();
        assert_eq!((of_r.len(), of_r[0].id), (1, first));
        assert_eq!(of_r[0].rule.as_deref(), Some("review_by_supervisor"));
        assert!(store.dismiss_refused_edit(second).unwrap());
        assert!(!store.dismiss_refused_edit(second).unwrap());
        assert_eq!(store.refused_edits(None, false).unwrap().len(), 1);
        assert_eq!(store.refused_edits(None, true).unwrap().len(), 2);
    }

    #[test]
    fn a_corrupt_database_file_gets_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("jingtu.db"), vec![0x42u8; 8192]).unwrap();
        let err = Store::open(dir.path(), &StoreOptions::default()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("damaged"));
    }

    #[test]
    fn catalog_items_replace_by_id_and_the_digest_waits_for_a_complete_listing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        assert!(store.catalog_items().unwrap().is_empty());
        let item = |id: &str, sha: &str| (id.to_string(), sha.to_string(), format!("{id} {sha}"));
        // Part of a listing: stored, the digest not yet.
        store.put_catalog_items(&[item("a.v2", "1")], None).unwrap();
        assert_eq!(store.setting("catalog_digest").unwrap(), None);
        store
            .put_catalog_items(&[item("code_tables", "2"), item("a.v2", "1")], Some("d1"))
            .unwrap();
        assert_eq!(
            store.setting("catalog_digest").unwrap().as_deref(),
            Some("d1")
        );
        // New code tables replace the old ones.
        store
            .put_catalog_items(&[item("code_tables", "3")], Some("d2"))
            .unwrap();
        let held = store.catalog_items().unwrap();
        assert_eq!(held, vec![item("a.v2", "1"), item("code_tables", "3")]);
        assert_eq!(
            store.setting("catalog_digest").unwrap().as_deref(),
            Some("d2")
        );
    }
}
