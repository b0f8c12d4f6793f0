//! The photo service, above the photo store: who may send and fetch which photo, resumable
//! uploads, and thumbnails. A photo store (the folder, an object store) only keeps bytes: the
//! service makes each thumbnail from the stored, verified bytes, off the upload's path by a
//! thread of its own, or when first asked for if that thread has not reached the photo yet
//! (after a restart, or a long queue). A photo that does not decode is tried once.

use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};

use jingtu_protocol::{
    MAX_PHOTO_BYTES, MAX_PHOTO_PART_BYTES, PhotoHash, PhotoState, PhotoStateKind,
};
use thiserror::Error;

use crate::Context;
use crate::actor::Actor;
use crate::storage::{PhotoError, PhotoStore, StorageError, Thumbnail};

/// How many stored photos may wait for their thumbnail; past that a thumbnail is made when
/// first asked for.
const THUMBNAIL_QUEUE: usize = 10_000;
/// How many locks the photos are spread over (one photo's thumbnail is made once at a time).
const LOCK_STRIPES: usize = 64;
/// The most photos one status request may list.
pub const MAX_STATUS_HASHES: usize = 10_000;

/// Why a photo request was refused.
#[derive(Debug, Error)]
pub enum PhotoRequestError {
    #[error("a photo is named by its SHA-256: 64 lowercase hex digits")]
    BadHash,
    #[error("at most {MAX_STATUS_HASHES} hashes per request")]
    TooManyHashes,
    #[error("a photo has 1 to {MAX_PHOTO_BYTES} bytes")]
    BadLength,
    #[error("a part has 1 to {MAX_PHOTO_PART_BYTES} bytes")]
    BadPart,
    #[error("no record you may see holds this photo")]
    OutOfScope,
    #[error(transparent)]
    Photo(#[from] PhotoError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The photo store with its thumbnail maker.
pub struct Photos {
    store: Arc<dyn PhotoStore>,
    locks: Arc<Vec<Mutex<()>>>,
    /// Photos just stored, for the thumbnail maker (ended when the service is dropped).
    thumbnails: SyncSender<PhotoHash>,
}

impl Photos {
    pub fn new(store: Arc<dyn PhotoStore>) -> Result<Photos, StorageError> {
        let locks: Arc<Vec<Mutex<()>>> =
            Arc::new((0..LOCK_STRIPES).map(|_| Mutex::new(())).collect());
        let (thumbnails, stored) = std::sync::mpsc::sync_channel::<PhotoHash>(THUMBNAIL_QUEUE);
        let (maker_store, maker_locks) = (Arc::clone(&store), Arc::clone(&locks));
        std::thread::Builder::new()
            .name("thumbnails".into())
            .spawn(move || {
                for hash in stored {
                    if let Err(e) = thumbnail_of(&*maker_store, &maker_locks, &hash) {
                        // Made when first asked for instead.
                        tracing::warn!(photo = %hash, error = %e, "thumbnail not made");
                    }
                }
            })?;
        Ok(Photos {
            store,
            locks,
            thumbnails,
        })
    }

    /// The store below (for counts and tests).
    pub fn store(&self) -> &dyn PhotoStore {
        &*self.store
    }

    /// What is held of a photo.
    pub fn state(&self, hash: &PhotoHash) -> Result<(PhotoStateKind, u64), StorageError> {
        self.store.state(hash.as_str())
    }

    /// Appends a part of an upload; a photo stored by it gets its thumbnail off this path.
    pub fn append(
        &self,
        hash: &PhotoHash,
        offset: u64,
        total: u64,
        part: &[u8],
    ) -> Result<(u64, bool), PhotoError> {
        let (offset, stored) = self.store.append(hash.as_str(), offset, total, part)?;
        if stored {
            // A full queue leaves the thumbnail to the first ask.
            let _ = self.thumbnails.try_send(hash.clone());
        }
        Ok((offset, stored))
    }

    /// The stored image.
    pub fn full(&self, hash: &PhotoHash) -> Result<Option<Vec<u8>>, StorageError> {
        self.store.read(hash.as_str())
    }

    /// The thumbnail of a stored photo, made now when there is none yet; `None` when the
    /// photo is not stored or does not decode (the device keeps its own).
    pub fn thumbnail(&self, hash: &PhotoHash) -> Result<Option<Vec<u8>>, StorageError> {
        thumbnail_of(&*self.store, &self.locks, hash)
    }
}

/// The lock of a photo's stripe (by the hash's first two hex digits).
fn stripe<'a>(locks: &'a [Mutex<()>], hash: &PhotoHash) -> std::sync::MutexGuard<'a, ()> {
    let i = u8::from_str_radix(hash.shard(), 16).unwrap_or(0) as usize % locks.len();
    locks[i].lock().unwrap_or_else(|p| p.into_inner())
}

fn thumbnail_of(
    store: &dyn PhotoStore,
    locks: &[Mutex<()>],
    hash: &PhotoHash,
) -> Result<Option<Vec<u8>>, StorageError> {
    let _guard = stripe(locks, hash);
    match store.thumbnail(hash.as_str())? {
        Thumbnail::Stored(t) => return Ok(Some(t)),
        Thumbnail::Undecodable => return Ok(None),
        Thumbnail::None => {}
    }
    let Some(bytes) = store.read(hash.as_str())? else {
        return Ok(None);
    };
    // Decoding bytes from a device: a panic in the decoder costs this thumbnail only.
    let made = std::panic::catch_unwind(|| {
        jingtu_media::thumbnail(&bytes, &jingtu_media::IngestOptions::default())
    });
    match made {
        Ok(Ok((thumb, _, _))) => {
            store.put_thumbnail(hash.as_str(), Some(&thumb))?;
            Ok(Some(thumb))
        }
        _ => {
            // Tried once: the next ask does not decode it again.
            store.put_thumbnail(hash.as_str(), None)?;
            Ok(None)
        }
    }
}

fn parse(hash: &str) -> Result<PhotoHash, PhotoRequestError> {
    PhotoHash::parse(hash).ok_or(PhotoRequestError::BadHash)
}

/// What the server holds of each photo listed (each looked at once however often it is
/// listed): stored, partly uploaded with the offset, missing, or refused when no record the
/// actor may see holds it.
pub fn status(
    ctx: &Context,
    actor: &Actor,
    hashes: Vec<String>,
) -> Result<Vec<PhotoState>, PhotoRequestError> {
    if hashes.len() > MAX_STATUS_HASHES {
        return Err(PhotoRequestError::TooManyHashes);
    }
    let reach = actor.reach(&*ctx.scope)?;
    let mut seen = std::collections::HashSet::with_capacity(hashes.len());
    let mut out = Vec::with_capacity(hashes.len());
    for hash in hashes {
        let h = parse(&hash)?;
        if !seen.insert(h.clone()) {
            continue;
        }
        let (state, offset) = if reach.may_see_photo(&*ctx.scope, h.as_str())? {
            ctx.photos.state(&h)?
        } else {
            (PhotoStateKind::Refused, 0)
        };
        out.push(PhotoState {
            hash,
            state,
            offset,
        });
    }
    Ok(out)
}

/// A photo is taken and served only for an actor who may see a record holding it.
fn check_scope(ctx: &Context, actor: &Actor, hash: &PhotoHash) -> Result<(), PhotoRequestError> {
    if actor
        .reach(&*ctx.scope)?
        .may_see_photo(&*ctx.scope, hash.as_str())?
    {
        Ok(())
    } else {
        Err(PhotoRequestError::OutOfScope)
    }
}

/// Takes a part of an upload: `(offset now, stored)`.
pub fn upload(
    ctx: &Context,
    actor: &Actor,
    hash: &str,
    offset: u64,
    total: u64,
    part: &[u8],
) -> Result<(u64, bool), PhotoRequestError> {
    let hash = parse(hash)?;
    if total == 0 || total > MAX_PHOTO_BYTES {
        return Err(PhotoRequestError::BadLength);
    }
    if part.is_empty() || part.len() > MAX_PHOTO_PART_BYTES {
        return Err(PhotoRequestError::BadPart);
    }
    check_scope(ctx, actor, &hash)?;
    Ok(ctx.photos.append(&hash, offset, total, part)?)
}

/// A stored photo, or its thumbnail.
pub fn fetch(
    ctx: &Context,
    actor: &Actor,
    hash: &str,
    thumbnail: bool,
) -> Result<Option<Vec<u8>>, PhotoRequestError> {
    let hash = parse(hash)?;
    check_scope(ctx, actor, &hash)?;
    Ok(if thumbnail {
        ctx.photos.thumbnail(&hash)?
    } else {
        ctx.photos.full(&hash)?
    })
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::storage::files::PhotoFolder;

    fn photo(width: u32, height: u32) -> Vec<u8> {
        let img = jingtu_media::RgbImage::from_fn(width, height, |x, y| {
            jingtu_media::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
        });
        jingtu_media::encode_rgb_jpeg(&img, 85).unwrap()
    }

    fn hash_of(bytes: &[u8]) -> PhotoHash {
        PhotoHash::parse(&hex::encode(Sha256::digest(bytes))).unwrap()
    }

    #[test]
    fn a_stored_photo_gets_its_thumbnail_from_the_maker_or_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let folder = Arc::new(PhotoFolder::open(dir.path()).unwrap());
        let photos = Photos::new(folder.clone()).unwrap();
        let jpeg = photo(1280, 960);
        let hash = hash_of(&jpeg);
        let n = jpeg.len() as u64;
        assert_eq!(photos.append(&hash, 0, n, &jpeg).unwrap(), (n, true));
        // Asked for at once: made now if the maker has not got to it; the same bytes after.
        let thumb = photos.thumbnail(&hash).unwrap().expect("a thumbnail");
        assert!(!thumb.is_empty() && thumb.len() < jpeg.len());
        assert_eq!(photos.thumbnail(&hash).unwrap().unwrap(), thumb);
        assert!(matches!(
            folder.thumbnail(hash.as_str()).unwrap(),
            Thumbnail::Stored(_)
        ));

        // A photo stored by an earlier process, without the maker: made when asked for.
        let other = photo(640, 480);
        let other_hash = hash_of(&other);
        let len = other.len() as u64;
        folder.append(other_hash.as_str(), 0, len, &other).unwrap();
        assert!(matches!(
            folder.thumbnail(other_hash.as_str()).unwrap(),
            Thumbnail::None
        ));
        assert!(photos.thumbnail(&other_hash).unwrap().is_some());

        // Not stored, or not an image: no thumbnail, and no error; tried once.
        assert_eq!(photos.thumbnail(&hash_of(b"nothing")).unwrap(), None);
        let junk = b"not a photo".to_vec();
        let junk_hash = hash_of(&junk);
        folder
            .append(junk_hash.as_str(), 0, junk.len() as u64, &junk)
            .unwrap();
        assert_eq!(photos.thumbnail(&junk_hash).unwrap(), None);
        assert!(matches!(
            folder.thumbnail(junk_hash.as_str()).unwrap(),
            Thumbnail::Undecodable
        ));
        assert_eq!(photos.full(&junk_hash).unwrap().unwrap(), junk);
        assert_eq!(photos.store().count().unwrap(), 3);
    }
}
