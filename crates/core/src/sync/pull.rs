//! Pulling: the chunks of an answer stored, merged into the records held (or kept aside until
//! their template or their record's earlier changes are here), then the cursor moved.

use jingtu_doc::apply_untrusted;
use jingtu_protocol::SyncResponse;
use jingtu_store::{Origin, PhotoChange};

use super::{SyncReport, encode_heads};
use crate::CoreError;
use crate::cache::{Cached, Touched};
use crate::core::{DeviceCore, lock, now_ms};

/// What a received chunk did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pulled {
    /// A record new to this device.
    New,
    /// Merged into a record held (or nothing new).
    Merged,
    /// Kept aside: its template is not known here yet.
    Parked,
    /// Kept aside: later changes of a record that is not here yet (it comes whole).
    Waiting,
}

impl DeviceCore {
    /// Stores the chunks of an answer, then moves the cursor.
    ///
    /// The scope change first: the feed is filtered by the device's new scope, so it may carry
    /// the latest changes of a record that entered the scope, which only load on top of the
    /// whole record the scope change brings (in this answer, or in a later page of the same
    /// sync: such a chunk waits, parked, and is merged once its record is here).
    pub(super) fn take_in(
        &self,
        response: &SyncResponse,
        report: &mut SyncReport,
    ) -> Result<(), CoreError> {
        if let Some(scope) = &response.scope {
            self.take_in_scope(scope, report)?;
        }
        for chunk in &response.chunks {
            match self.apply_pulled(&chunk.record, &chunk.bytes)? {
                Pulled::New => report.records_received += 1,
                Pulled::Parked => report.parked += 1,
                Pulled::Merged | Pulled::Waiting => {}
            }
            report.chunks_pulled += 1;
        }
        self.merge_waiting()?;
        if response.cursor > self.cursor()? {
            self.store.set_cursor(response.cursor)?;
        }
        Ok(())
    }

    /// Applies one feed chunk (or a whole record).
    pub(crate) fn apply_pulled(&self, id: &str, bytes: &[u8]) -> Result<Pulled, CoreError> {
        let mut cache = lock(&self.cache);
        if !self.has_record(id)? {
            let applied =
                match apply_untrusted(None, bytes, id, self.actor.clone(), &Default::default()) {
                    Ok(applied) => applied,
                    // Later changes of a record parked for its template: parked with it.
                    Err(_) if self.store.parked()?.iter().any(|p| p.record_id == id) => {
                        self.store.park(id, WAITING, bytes)?;
                        return Ok(Pulled::Parked);
                    }
                    // Later changes of a record not here yet, which comes whole (it entered
                    // this device's scope): they wait for it.
                    Err(jingtu_doc::DocError::MissingDeps(_)) => {
                        self.store.park(id, WAITING, bytes)?;
                        return Ok(Pulled::Waiting);
                    }
                    // Not a record this app can hold (a malformed photo entry, say): kept
                    // aside with the reason, shown among the parked records.
                    Err(jingtu_doc::DocError::NotARecord(reason)) => {
                        self.store
                            .park(id, &format!("not taken in: {reason}"), bytes)?;
                        return Ok(Pulled::Parked);
                    }
                    Err(e) => return Err(e.into()),
                };
            let meta = applied.doc.meta()?;
            let template = match self.template_of(&meta) {
                Ok(t) => t,
                // A template this app does not know yet: kept, opened after an update.
                Err(e) => {
                    self.store.park(id, &e.to_string(), bytes)?;
                    return Ok(Pulled::Parked);
                }
            };
            let mut cached = Cached::new(applied.doc, template, 1)?;
            let summary = self.summarize(&cached, now_ms());
            let heads = encode_heads(&cached.doc.heads());
            let refs = cached.photo_refs();
            // The received bytes hold every change of the record (they loaded alone): kept as
            // they are, without encoding the document again.
            self.store.insert_record_from(
                &summary,
                bytes,
                Some(PhotoChange {
                    put: None,
                    refs: &refs,
                }),
                Origin::Server { heads: &heads },
            )?;
            self.keep_open(&mut cache, id.to_string(), cached);
            return Ok(Pulled::New);
        }
        let entry = self.load(&mut cache, id)?;
        let applied = entry.doc.apply_changes(bytes);
        let (new_bytes, new_changes) = match applied {
            Ok(r) => r,
            Err(jingtu_doc::DocError::NotARecord(reason)) => {
                // Changes that would make the record malformed: kept aside with the reason,
                // the record as it was.
                cache.remove(id);
                self.store
                    .park(id, &format!("changes not taken in: {reason}"), bytes)?;
                return Ok(Pulled::Parked);
            }
            Err(e) => {
                cache.remove(id);
                return Err(e.into());
            }
        };
        if new_changes == 0 {
            return Ok(Pulled::Merged);
        }
        if let Err(e) = entry.refresh(&Touched::Everything) {
            cache.remove(id);
            return Err(e);
        }
        let summary = self.summarize(entry, now_ms());
        let heads = encode_heads(&entry.doc.heads());
        let refs = entry.photo_refs();
        self.persist(
            &mut cache,
            id,
            &summary,
            &new_bytes,
            Some(PhotoChange {
                put: None,
                refs: &refs,
            }),
            Origin::Server { heads: &heads },
        )?;
        Ok(Pulled::Merged)
    }
}

/// Why chunks of a record wait in the parked table: their record's earlier changes are not here.
pub(crate) const WAITING: &str = "waiting for earlier changes";

impl DeviceCore {
    /// Merges the chunks that waited for their record, now that it is here.
    fn merge_waiting(&self) -> Result<(), CoreError> {
        let waiting: Vec<(String, Vec<u8>)> = self
            .store
            .parked()?
            .into_iter()
            .filter(|p| p.reason == WAITING)
            .map(|p| (p.record_id, p.bytes))
            .collect();
        let mut merged = std::collections::BTreeSet::new();
        for (id, bytes) in waiting {
            if self.has_record(&id)? {
                self.apply_pulled(&id, &bytes)?;
                merged.insert(id);
            }
        }
        for id in merged {
            self.store.unpark(&id)?;
        }
        Ok(())
    }
}
