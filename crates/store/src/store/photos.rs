//! Photos: content-addressed blobs with their thumbnails, the records' references to them,
//! and what waits to be uploaded or fetched.

use rusqlite::{Connection, OptionalExtension, params};

use serde::Serialize;

use super::{Store, lock};
use crate::StoreError;

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

/// A photo held in full that the server has not confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPhoto {
    pub sha256: String,
    pub size: u64,
}

/// How many photos the store holds, and how many of them no record uses (0 unless something
/// went wrong).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PhotoCounts {
    pub held: u64,
    pub unreferenced: u64,
}

impl Store {
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

    /// Photos held in full that the server has not confirmed, with their sizes in bytes.
    pub fn photos_to_upload(&self) -> Result<Vec<PendingPhoto>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(
            "SELECT sha256, size FROM photos WHERE uploaded = 0 AND bytes IS NOT NULL
             ORDER BY added_at",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(PendingPhoto {
                    sha256: r.get(0)?,
                    size: r.get::<_, i64>(1)?.max(0) as u64,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
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
    pub fn photo_counts(&self) -> Result<PhotoCounts, StoreError> {
        let conn = lock(&self.reader);
        let (all, orphans): (i64, i64) = conn.query_row(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE NOT EXISTS
                 (SELECT 1 FROM photo_refs r WHERE r.sha256 = photos.sha256))
             FROM photos",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(PhotoCounts {
            held: all as u64,
            unreferenced: orphans as u64,
        })
    }
}

pub(crate) fn write_photos(
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
