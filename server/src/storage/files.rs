//! Photos in a folder (the embedded default): `<dir>/<aa>/<sha256>.jpg` and `.thumb.jpg`, with
//! unfinished uploads in `<dir>/partial/<sha256>` (and the photo's announced length in
//! `<sha256>.total`). Each part is fsynced before it is acknowledged, so the offset the server
//! reports is what it holds after a crash; a finished upload is checked against its SHA-256
//! and moved into place with a rename. The thumbnails the photo service makes are kept beside
//! (`.thumb.jpg`, or `.nothumb` for a photo that does not decode).
//!
//! Unfinished uploads are bounded ([`UploadLimits`]): together they hold at most a quota of
//! bytes, one untouched for days is removed by the sweeper thread, and no part is taken while
//! the disk has less than a reserve free (kept for the database: pushes and logins).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use jingtu_protocol::PhotoStateKind;
use sha2::{Digest, Sha256};

use super::{PhotoError, PhotoStore, StorageError, Thumbnail};

/// How many locks the photos are spread over.
const LOCK_STRIPES: usize = 64;

/// What unfinished uploads may hold, and the room kept free on the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    /// All unfinished uploads together hold at most this many bytes.
    pub max_partial_bytes: u64,
    /// An unfinished upload untouched this long is removed (its device starts it over).
    pub partial_max_age: Duration,
    /// No part is taken while the disk has less than this free.
    pub min_free_bytes: u64,
}

impl Default for UploadLimits {
    fn default() -> Self {
        UploadLimits {
            max_partial_bytes: 2 << 30,
            partial_max_age: Duration::from_secs(72 * 3600),
            min_free_bytes: 512 << 20,
        }
    }
}

/// How often the sweeper looks for abandoned uploads.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

pub struct PhotoFolder {
    shelf: Arc<Shelf>,
    /// Held only to end the sweeper thread when the folder is dropped.
    _sweeper: Sender<()>,
}

/// The folder and its locks, shared with the sweeper.
struct Shelf {
    dir: PathBuf,
    /// Serialises appends to one photo (two uploads of one photo at once must not
    /// interleave) and the making of its thumbnail; photos of other stripes upload and are
    /// checked in parallel.
    locks: Vec<Mutex<()>>,
    limits: UploadLimits,
    /// Bytes the unfinished uploads hold now.
    partial_bytes: AtomicU64,
}

impl PhotoFolder {
    /// The folder with the default [`UploadLimits`].
    pub fn open(dir: &Path) -> Result<PhotoFolder, StorageError> {
        PhotoFolder::open_with(dir, UploadLimits::default())
    }

    pub fn open_with(dir: &Path, limits: UploadLimits) -> Result<PhotoFolder, StorageError> {
        fs::create_dir_all(dir.join("partial"))?;
        let shelf = Arc::new(Shelf {
            dir: dir.to_path_buf(),
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            limits,
            partial_bytes: AtomicU64::new(0),
        });
        shelf.sweep()?;
        let (sweeper, stop) = std::sync::mpsc::channel::<()>();
        let sweeping = Arc::clone(&shelf);
        std::thread::Builder::new()
            .name("photo-sweeper".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stop.recv_timeout(SWEEP_EVERY)
                {
                    if let Err(e) = sweeping.sweep() {
                        tracing::warn!(error = %e, "sweeping unfinished photo uploads failed");
                    }
                }
            })?;
        Ok(PhotoFolder {
            shelf,
            _sweeper: sweeper,
        })
    }

    /// Bytes the unfinished uploads hold now.
    pub fn partial_bytes(&self) -> u64 {
        self.shelf.partial_bytes.load(Ordering::Relaxed)
    }
}

impl Shelf {
    /// The lock of a photo's stripe (by the hash's first two hex digits).
    fn lock(&self, hash: &str) -> std::sync::MutexGuard<'_, ()> {
        let stripe = hash
            .get(..2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0) as usize
            % LOCK_STRIPES;
        self.locks[stripe].lock().unwrap_or_else(|p| p.into_inner())
    }

    fn full(&self, hash: &str) -> PathBuf {
        self.dir.join(&hash[..2]).join(format!("{hash}.jpg"))
    }

    fn thumb(&self, hash: &str) -> PathBuf {
        self.dir.join(&hash[..2]).join(format!("{hash}.thumb.jpg"))
    }

    fn partial(&self, hash: &str) -> PathBuf {
        self.dir.join("partial").join(hash)
    }

    /// The photo's length as announced by its first part.
    fn partial_total(&self, hash: &str) -> PathBuf {
        self.dir.join("partial").join(format!("{hash}.total"))
    }

    fn announced_total(&self, hash: &str) -> Option<u64> {
        fs::read_to_string(self.partial_total(hash))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Counts the bytes of the unfinished uploads, removing those untouched for longer than
    /// the limit allows.
    fn sweep(&self) -> Result<(), StorageError> {
        let now = SystemTime::now();
        let mut held = 0u64;
        for entry in fs::read_dir(self.dir.join("partial"))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(hash) = jingtu_protocol::PhotoHash::parse(&name) else {
                // An announced length without its upload, or something not ours.
                if let Some(h) = name.strip_suffix(".total")
                    && !self.partial(h).exists()
                {
                    let _ = fs::remove_file(entry.path());
                }
                continue;
            };
            let hash = hash.as_str();
            let _guard = self.lock(hash);
            let Ok(meta) = fs::metadata(self.partial(hash)) else {
                continue;
            };
            let idle = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .unwrap_or_default();
            if idle > self.limits.partial_max_age {
                tracing::info!(photo = %hash, bytes = meta.len(), "an abandoned upload removed");
                let _ = fs::remove_file(self.partial(hash));
                let _ = fs::remove_file(self.partial_total(hash));
            } else {
                held += meta.len();
            }
        }
        self.partial_bytes.store(held, Ordering::Relaxed);
        Ok(())
    }

    /// An unfinished upload that holds every byte it announced (the process died between the
    /// last part and its move into place) is finished now: true when it was. Only then is it
    /// read and hashed. Called under the lock.
    fn complete_interrupted(&self, hash: &str) -> Result<bool, StorageError> {
        let path = self.partial(hash);
        let Ok(meta) = fs::metadata(&path) else {
            return Ok(false);
        };
        if meta.len() == 0 || Some(meta.len()) != self.announced_total(hash) {
            return Ok(false);
        }
        let done = match self.finish(hash, &path) {
            Ok(()) => Ok(true),
            Err(PhotoError::Storage(e)) => Err(e),
            Err(_) => Ok(false),
        };
        self.settle(hash, meta.len());
        done
    }

    /// After a finish (a move into place, or a refusal that removed the upload): the bytes
    /// and the announced length leave the count when the upload is gone.
    fn settle(&self, hash: &str, bytes: u64) {
        if !self.partial(hash).exists() {
            self.partial_bytes.fetch_sub(
                bytes.min(self.partial_bytes.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
            let _ = fs::remove_file(self.partial_total(hash));
        }
    }

    /// Refuses a part when the unfinished uploads would pass their quota, or the disk would
    /// fall under its reserve.
    fn room_for(&self, bytes: u64) -> Result<(), PhotoError> {
        let held = self.partial_bytes.load(Ordering::Relaxed);
        if held.saturating_add(bytes) > self.limits.max_partial_bytes {
            return Err(PhotoError::Full(format!(
                "unfinished photo uploads hold the server's quota of {} MB: try again later",
                self.limits.max_partial_bytes >> 20
            )));
        }
        let free = super::disk::free_bytes(&self.dir).map_err(StorageError::from)?;
        if free < self.limits.min_free_bytes.saturating_add(bytes) {
            return Err(PhotoError::Full(format!(
                "the server's disk is nearly full ({} MB free): photos wait until there is room",
                free >> 20
            )));
        }
        Ok(())
    }

    fn finish(&self, hash: &str, part_path: &Path) -> Result<(), PhotoError> {
        let mut bytes = Vec::new();
        File::open(part_path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(StorageError::from)?;
        let actual = hex::encode(Sha256::digest(&bytes));
        if actual != hash {
            let _ = fs::remove_file(part_path);
            return Err(PhotoError::HashMismatch(hash.to_string()));
        }
        let final_path = self.full(hash);
        let parent = final_path.parent().unwrap_or(&self.dir).to_path_buf();
        fs::create_dir_all(&parent).map_err(StorageError::from)?;
        fs::rename(part_path, &final_path).map_err(StorageError::from)?;
        if let Ok(d) = File::open(&parent) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    fn nothumb(&self, hash: &str) -> PathBuf {
        self.dir.join(&hash[..2]).join(format!("{hash}.nothumb"))
    }
}

fn read_if_there(path: &Path) -> Result<Option<Vec<u8>>, StorageError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let mut f = File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

impl PhotoStore for PhotoFolder {
    fn state(&self, hash: &str) -> Result<(PhotoStateKind, u64), StorageError> {
        let shelf = &self.shelf;
        if let Ok(m) = fs::metadata(shelf.full(hash)) {
            return Ok((PhotoStateKind::Stored, m.len()));
        }
        let guard = shelf.lock(hash);
        if shelf.complete_interrupted(hash)?
            && let Ok(m) = fs::metadata(shelf.full(hash))
        {
            drop(guard);
            return Ok((PhotoStateKind::Stored, m.len()));
        }
        match fs::metadata(shelf.partial(hash)) {
            Ok(m) => Ok((PhotoStateKind::Partial, m.len())),
            Err(_) => Ok((PhotoStateKind::Missing, 0)),
        }
    }

    fn append(
        &self,
        hash: &str,
        offset: u64,
        total: u64,
        part: &[u8],
    ) -> Result<(u64, bool), PhotoError> {
        let shelf = &self.shelf;
        let guard = shelf.lock(hash);
        if let Ok(m) = fs::metadata(shelf.full(hash)) {
            return Ok((m.len(), true));
        }
        if shelf.complete_interrupted(hash)?
            && let Ok(m) = fs::metadata(shelf.full(hash))
        {
            drop(guard);
            return Ok((m.len(), true));
        }
        let path = shelf.partial(hash);
        let current = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if offset != current {
            return Err(PhotoError::OffsetMismatch {
                current,
                given: offset,
            });
        }
        if offset + part.len() as u64 > total {
            return Err(PhotoError::TooLarge(format!(
                "{} bytes at offset {offset} run past the photo's {total} bytes",
                part.len()
            )));
        }
        match shelf.announced_total(hash) {
            Some(announced) if announced != total && current > 0 => {
                return Err(PhotoError::TooLarge(format!(
                    "this upload was started as {announced} bytes, not {total}"
                )));
            }
            Some(announced) if announced == total => {}
            _ => write_synced(&shelf.partial_total(hash), total.to_string().as_bytes())?,
        }
        shelf.room_for(part.len() as u64)?;
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(StorageError::from)?;
        f.write_all(part).map_err(StorageError::from)?;
        f.sync_data().map_err(StorageError::from)?;
        shelf
            .partial_bytes
            .fetch_add(part.len() as u64, Ordering::Relaxed);
        let now = offset + part.len() as u64;
        if now == total {
            let finished = shelf.finish(hash, &path);
            shelf.settle(hash, now);
            finished?;
            drop(guard);
            return Ok((now, true));
        }
        Ok((now, false))
    }

    fn read(&self, hash: &str) -> Result<Option<Vec<u8>>, StorageError> {
        read_if_there(&self.shelf.full(hash))
    }

    fn thumbnail(&self, hash: &str) -> Result<Thumbnail, StorageError> {
        if let Some(t) = read_if_there(&self.shelf.thumb(hash))? {
            return Ok(Thumbnail::Stored(t));
        }
        if self.shelf.nothumb(hash).exists() {
            return Ok(Thumbnail::Undecodable);
        }
        Ok(Thumbnail::None)
    }

    fn put_thumbnail(&self, hash: &str, thumbnail: Option<&[u8]>) -> Result<(), StorageError> {
        let shelf = &self.shelf;
        fs::create_dir_all(shelf.dir.join(&hash[..2]))?;
        match thumbnail {
            Some(t) => {
                let tmp = shelf.dir.join(&hash[..2]).join(format!("{hash}.thumb.tmp"));
                write_synced(&tmp, t)?;
                fs::rename(&tmp, shelf.thumb(hash))?;
            }
            None => {
                File::create(shelf.nothumb(hash))?;
            }
        }
        Ok(())
    }

    fn count(&self) -> Result<u64, StorageError> {
        let mut n = 0;
        for entry in fs::read_dir(&self.shelf.dir)? {
            let entry = entry?;
            if entry.file_name().len() == 2 && entry.file_type()?.is_dir() {
                n += fs::read_dir(entry.path())?
                    .filter_map(Result::ok)
                    .filter(|e| {
                        let n = e.file_name();
                        let n = n.to_string_lossy();
                        n.ends_with(".jpg") && !n.ends_with(".thumb.jpg")
                    })
                    .count() as u64;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_resumes_at_its_offset_and_is_verified() {
        let dir = tempfile::tempdir().unwrap();
        let p = PhotoFolder::open(dir.path()).unwrap();
        let bytes: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let hash = hex::encode(Sha256::digest(&bytes));
        assert_eq!(p.state(&hash).unwrap(), (PhotoStateKind::Missing, 0));
        assert_eq!(
            p.append(&hash, 0, 1000, &bytes[..400]).unwrap(),
            (400, false)
        );
        assert_eq!(p.state(&hash).unwrap(), (PhotoStateKind::Partial, 400));
        assert!(matches!(
            p.append(&hash, 0, 1000, &bytes[..400]),
            Err(PhotoError::OffsetMismatch { current: 400, .. })
        ));
        assert_eq!(
            p.append(&hash, 400, 1000, &bytes[400..]).unwrap(),
            (1000, true)
        );
        assert_eq!(p.state(&hash).unwrap().0, PhotoStateKind::Stored);
        assert_eq!(p.read(&hash).unwrap().unwrap(), bytes);
        assert_eq!(p.count().unwrap(), 1);
        let _ = &bytes;
        // A crash between the last part and the move into place: finished on the next look.
        let late: Vec<u8> = (0..500u32).map(|i| (i % 13) as u8).collect();
        let late_hash = hex::encode(Sha256::digest(&late));
        std::fs::write(p.shelf.partial(&late_hash), &late).unwrap();
        // Without the length its first part announced it is not read, however often it is
        // asked for (a status request may list a photo thousands of times).
        assert_eq!(p.state(&late_hash).unwrap(), (PhotoStateKind::Partial, 500));
        std::fs::write(p.shelf.partial_total(&late_hash), "501").unwrap();
        assert_eq!(p.state(&late_hash).unwrap(), (PhotoStateKind::Partial, 500));
        std::fs::write(p.shelf.partial_total(&late_hash), "500").unwrap();
        assert_eq!(p.state(&late_hash).unwrap(), (PhotoStateKind::Stored, 500));
        assert!(!p.shelf.partial_total(&late_hash).exists());
        assert_eq!(p.read(&late_hash).unwrap().unwrap(), late);
        // Wrong bytes for a hash: refused, and the upload starts over.
        let other = "0".repeat(64);
        assert!(matches!(
            p.append(&other, 0, 10, &[1; 10]),
            Err(PhotoError::HashMismatch(_))
        ));
        assert_eq!(p.state(&other).unwrap(), (PhotoStateKind::Missing, 0));
        assert_eq!(p.partial_bytes(), 0, "nothing unfinished is left");
    }

    #[test]
    fn unfinished_uploads_keep_to_their_quota_and_the_disk_reserve() {
        let dir = tempfile::tempdir().unwrap();
        let limits = UploadLimits {
            max_partial_bytes: 1000,
            ..UploadLimits::default()
        };
        let p = PhotoFolder::open_with(dir.path(), limits).unwrap();
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        assert_eq!(p.append(&a, 0, 5000, &[1; 600]).unwrap(), (600, false));
        assert!(matches!(
            p.append(&b, 0, 5000, &[2; 600]),
            Err(PhotoError::Full(_))
        ));
        assert_eq!(p.partial_bytes(), 600);
        // The announced length holds for the whole upload.
        assert!(matches!(
            p.append(&a, 600, 7000, &[1; 10]),
            Err(PhotoError::TooLarge(_))
        ));
        // A reserve larger than the disk: nothing is taken, whatever the quota.
        let full = PhotoFolder::open_with(
            &dir.path().join("other"),
            UploadLimits {
                min_free_bytes: u64::MAX / 2,
                ..UploadLimits::default()
            },
        )
        .unwrap();
        assert!(matches!(
            full.append(&a, 0, 10, &[1; 10]),
            Err(PhotoError::Full(_))
        ));
    }

    #[test]
    fn an_abandoned_upload_is_swept_and_its_bytes_freed() {
        let dir = tempfile::tempdir().unwrap();
        let a = "c".repeat(64);
        {
            let p = PhotoFolder::open(dir.path()).unwrap();
            p.append(&a, 0, 5000, &[1; 700]).unwrap();
        }
        // Opened again: the unfinished upload is counted ...
        let p = PhotoFolder::open(dir.path()).unwrap();
        assert_eq!(p.partial_bytes(), 700);
        drop(p);
        // ... and removed once it is older than the limit allows.
        let p = PhotoFolder::open_with(
            dir.path(),
            UploadLimits {
                partial_max_age: Duration::ZERO,
                ..UploadLimits::default()
            },
        )
        .unwrap();
        assert_eq!(p.partial_bytes(), 0);
        assert_eq!(p.state(&a).unwrap(), (PhotoStateKind::Missing, 0));
        assert!(!p.shelf.partial_total(&a).exists());
    }
}
