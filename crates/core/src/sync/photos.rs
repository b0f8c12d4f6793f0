//! Photos in a sync: the uploads the server lacks (several at once, resumed where the server
//! stopped), the thumbnails of photos taken on other devices, and full images on demand.

use std::collections::HashMap;

use jingtu_client::{Client, ClientError, ClientOptions};
use jingtu_protocol::PhotoStateKind;

use super::{Progress, SyncPhase, SyncReport, map_client};
use crate::CoreError;
use crate::core::DeviceCore;

/// How many photos upload at once: the server checks and stores them in parallel, and one
/// slow upload does not hold up the others.
const PHOTO_UPLOADERS: usize = 4;

/// What a photo uploader tells the sync.
enum UploadEvent {
    /// Bytes the server confirmed.
    Sent(u64),
    /// A photo done: the bytes it took, `None` when the store no longer holds it.
    Done(String, Result<Option<u64>, CoreError>),
}

impl DeviceCore {
    /// Uploads the photos the server does not hold yet, several at once, resuming the
    /// interrupted ones where the server stopped.
    pub(super) fn upload_pending_photos(
        &self,
        client: &Client,
        progress: &mut Progress<'_>,
        report: &mut SyncReport,
    ) -> Result<(), CoreError> {
        let to_upload = self.store.photos_to_upload()?;
        if to_upload.is_empty() {
            return Ok(());
        }
        let hashes: Vec<String> = to_upload.iter().map(|p| p.sha256.clone()).collect();
        let sizes: HashMap<String, u64> =
            to_upload.into_iter().map(|p| (p.sha256, p.size)).collect();
        let stop = progress.stop;
        let states = client
            .photo_status(&hashes, &|| stop.get())
            .map_err(map_client)?;
        let mut work = Vec::new();
        let mut total_bytes = 0;
        for state in states {
            match state.state {
                // No record the server lets this user see holds it (its record's push was
                // refused): it stays here, pending.
                PhotoStateKind::Refused => report.photos_refused += 1,
                PhotoStateKind::Stored => self.store.mark_photo_uploaded(&state.hash)?,
                PhotoStateKind::Partial | PhotoStateKind::Missing => {
                    let offset = match state.state {
                        PhotoStateKind::Partial => state.offset,
                        _ => 0,
                    };
                    let size = sizes.get(&state.hash).copied().unwrap_or(0);
                    total_bytes += size.saturating_sub(offset);
                    work.push((state.hash, offset));
                }
            }
        }
        progress.go_on()?;
        let mut photo_progress = |done: u64| {
            progress.tell(SyncPhase::Photos, done.min(total_bytes), total_bytes);
            !stop.get()
        };
        self.upload_photos(client, &work, report, &mut photo_progress)
    }

    /// Fetches the thumbnails of photos taken on other devices.
    pub(super) fn fetch_thumbnails(
        &self,
        client: &Client,
        progress: &mut Progress<'_>,
        report: &mut SyncReport,
    ) -> Result<(), CoreError> {
        let wanted = self.store.photos_without_thumbnail()?;
        let total = wanted.len() as u64;
        let stop = progress.stop;
        for (n, hash) in wanted.iter().enumerate() {
            progress.go_on()?;
            let thumb = match client.download_photo(hash, true, &|| stop.get()) {
                Ok(t) => t,
                // A photo of a record this user no longer sees: no thumbnail, no failure.
                Err(ClientError::Refused { status: 403, .. }) => None,
                Err(e) => return Err(map_client(e)),
            };
            if let Some(thumb) = thumb {
                self.store.put_downloaded_photo(hash, Some(&thumb), None)?;
                report.thumbnails_fetched += 1;
            }
            progress.tell(SyncPhase::Thumbnails, n as u64 + 1, total);
        }
        Ok(())
    }

    /// Uploads photos (hash, offset the server holds), [`PHOTO_UPLOADERS`] at once, each
    /// marked uploaded as soon as the server stored it. `progress(bytes sent)` after every part
    /// returns false to stop; the first failure stops the others and is returned.
    fn upload_photos(
        &self,
        client: &Client,
        work: &[(String, u64)],
        report: &mut SyncReport,
        progress: &mut dyn FnMut(u64) -> bool,
    ) -> Result<(), CoreError> {
        let halt = std::sync::atomic::AtomicBool::new(false);
        let halted = || halt.load(std::sync::atomic::Ordering::Relaxed);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let mut failure = None;
        let mut cancelled = false;
        let mut deferred = false;
        let uploaded_before = report.photos_uploaded;
        std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::channel::<UploadEvent>();
            for _ in 0..PHOTO_UPLOADERS.min(work.len()) {
                let (tx, next, halted) = (tx.clone(), &next, &halted);
                s.spawn(move || {
                    while !halted() {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((hash, offset)) = work.get(i) else {
                            break;
                        };
                        let result = self.upload_photo(client, hash, *offset, &tx, halted);
                        if tx.send(UploadEvent::Done(hash.clone(), result)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            let mut sent = 0;
            for event in rx {
                match event {
                    UploadEvent::Sent(n) => {
                        sent += n;
                        if !progress(sent) {
                            cancelled = true;
                            halt.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    UploadEvent::Done(hash, Ok(Some(n))) => {
                        if let Err(e) = self.store.mark_photo_uploaded(&hash) {
                            failure.get_or_insert(e.into());
                            halt.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                        report.photos_uploaded += 1;
                        report.photo_bytes_uploaded += n;
                    }
                    UploadEvent::Done(_, Ok(None)) => {}
                    // No room on the server now: the rest wait too, and the sync goes on.
                    UploadEvent::Done(
                        _,
                        Err(CoreError::Sync(ClientError::Refused { status: 507, .. })),
                    ) => {
                        deferred = true;
                        halt.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    UploadEvent::Done(_, Err(e)) => {
                        failure.get_or_insert(e);
                        halt.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
        });
        if cancelled {
            return Err(CoreError::Cancelled);
        }
        if deferred {
            report.photos_deferred =
                (work.len() as u64).saturating_sub(report.photos_uploaded - uploaded_before);
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// One photo's upload from `offset`, telling `events` the bytes of every part confirmed.
    fn upload_photo(
        &self,
        client: &Client,
        hash: &str,
        offset: u64,
        events: &std::sync::mpsc::Sender<UploadEvent>,
        halted: &(dyn Fn() -> bool + Sync),
    ) -> Result<Option<u64>, CoreError> {
        let Some(full) = self.store.photo_bytes(hash, false)? else {
            return Ok(None);
        };
        let mut confirmed = offset;
        client
            .upload_photo(
                hash,
                &full,
                offset,
                &mut |done, _| {
                    let more = done.saturating_sub(confirmed);
                    confirmed = confirmed.max(done);
                    events.send(UploadEvent::Sent(more)).is_ok() && !halted()
                },
                halted,
            )
            .map_err(map_client)?;
        Ok(Some(confirmed.saturating_sub(offset)))
    }

    /// The full image of a photo taken on another device, fetched from the server once and
    /// kept.
    pub fn fetch_photo(&self, sha256: &str) -> Result<Vec<u8>, CoreError> {
        match self.photo_bytes(sha256, false) {
            Ok(bytes) => return Ok(bytes),
            Err(CoreError::PhotoNotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let sha = sha256.trim().to_ascii_lowercase();
        let client = match self.client(ClientOptions::default()) {
            // Not here, and no server to ask.
            Err(CoreError::NoServer) => return Err(CoreError::PhotoNotFound(sha)),
            other => other?,
        };
        let bytes = client
            .download_photo(&sha, false, &|| false)
            .map_err(map_client)?
            .ok_or_else(|| CoreError::PhotoNotFound(sha.clone()))?;
        if jingtu_media::content_id(&bytes) != sha {
            return Err(CoreError::BadRecord(format!(
                "the server sent other bytes for photo {sha}"
            )));
        }
        self.store.put_downloaded_photo(&sha, None, Some(&bytes))?;
        Ok(bytes)
    }
}
