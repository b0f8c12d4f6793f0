//! Pushing: the records the server has not confirmed, read and encoded in parallel, sent in
//! requests of bounded size; each request also pulls the next page of the feed.

use std::collections::VecDeque;

use jingtu_client::{Client, ClientError};
use jingtu_protocol::{PROTOCOL_VERSION, Push, PushOutcome, SyncRequest, SyncResponse, refusal};
use rayon::prelude::*;

use super::{Progress, RefusedPush, SyncPhase, SyncReport, decode_heads, encode_heads};
use crate::CoreError;
use crate::core::{DeviceCore, lock};

/// A request carries at most this many bytes of pushed changes (more go in the next one),
/// counted before the frame's compression. New records go as documents without DEFLATE
/// (`changes_to_push`), which zstd then shrinks about 25 times: 1,000 filled records are about
/// 4.3 MB here and 0.17 MB on the wire.
const PUSH_BATCH_BYTES: usize = 8 * 1024 * 1024;
const PUSH_BATCH_RECORDS: usize = 1000;
/// Records to push are read and encoded this many at a time, in parallel: loading a record
/// that holds many single edits costs far more than sending it.
const PREPARE_WINDOW: usize = 64;
/// The server's limit of one record's changes in one push (its default `max_push_bytes`).
const MAX_PUSH_BYTES: usize = 8 * 1024 * 1024;

/// Change bytes to push and the encoded heads they end at.
struct Outgoing {
    changes: Vec<u8>,
    heads: Vec<u8>,
}

/// A record waiting to be pushed.
struct Queued {
    id: String,
    /// The heads the server confirmed (`None`: none yet, or not these: push it whole).
    synced: Option<Vec<u8>>,
    /// The record's write count when it was found dirty.
    edit_seq: i64,
    /// Pushed whole once more after the server lacked what its confirmed heads said.
    retried: bool,
}

/// A queued record and what it pushes (`None`: the record is gone).
type Prepared = (Queued, Result<Option<Outgoing>, CoreError>);

/// A record pushed in a request, and the heads its push ends at.
struct Sent {
    queued: Queued,
    heads: Vec<u8>,
}

/// One request's pushes.
#[derive(Default)]
struct Batch {
    pushes: Vec<Push>,
    sent: Vec<Sent>,
    /// Records found to have nothing to push (now marked clean).
    clean: u64,
}

impl DeviceCore {
    /// Requests until every dirty record is pushed (or refused) and the feed and the scope
    /// change are pulled to the end. Records refused for missing dependencies are pushed whole
    /// once more.
    pub(super) fn push_and_pull(
        &self,
        client: &Client,
        progress: &mut Progress<'_>,
        report: &mut SyncReport,
    ) -> Result<(), CoreError> {
        let dirty = self.store.dirty_records(u32::MAX)?;
        let total = dirty.len() as u64;
        progress.tell(SyncPhase::Push, 0, total);
        let mut queue: VecDeque<Queued> = dirty
            .into_iter()
            .map(|d| Queued {
                id: d.id,
                synced: d.synced_heads,
                edit_seq: d.edit_seq,
                retried: false,
            })
            .collect();
        let stop = progress.stop;
        let cancelled = || stop.get();
        let mut pushed = 0u64;
        let mut more = true;
        let mut first = true;
        while first || more || !queue.is_empty() {
            first = false;
            progress.go_on()?;
            let batch = self.next_batch(&mut queue, progress, report)?;
            pushed += batch.clean;
            let (scope_seq, scope_target, scope_after) = self.scope_request()?;
            let request = SyncRequest {
                protocol: PROTOCOL_VERSION,
                device: self.device_id(),
                cursor: self.cursor()?,
                pushes: batch.pushes,
                max_response_bytes: None,
                scope_seq,
                scope_target,
                scope_after,
                catalog: self
                    .store
                    .setting(crate::stored_catalog::KEY_CATALOG_DIGEST)?,
            };
            let response = client.sync(&request, &cancelled).map_err(|e| match e {
                ClientError::Cancelled => CoreError::Cancelled,
                other => CoreError::Sync(other),
            })?;
            pushed += self.take_push_results(&response, batch.sent, &mut queue, report)?;
            progress.tell(SyncPhase::Push, pushed.min(total), total);
            more = response.more || response.scope.as_ref().is_some_and(|s| s.next.is_some());
            // Templates first: the records in this answer may need them.
            if let Some(listing) = &response.catalog {
                let taken = self.take_catalog(client, listing, &cancelled)?;
                report.templates_received += taken.templates;
                report.code_tables_updated |= taken.code_tables;
            }
            self.take_in(&response, report)?;
            let pulled = report.chunks_pulled;
            progress.tell(SyncPhase::Pull, pulled, if more { 0 } else { pulled });
        }
        Ok(())
    }

    /// The pushes of the next request, taken from the front of `queue`: up to
    /// [`PUSH_BATCH_RECORDS`] records and [`PUSH_BATCH_BYTES`] of changes. A record whose
    /// changes alone exceed what the server takes in one push is reported refused here.
    fn next_batch(
        &self,
        queue: &mut VecDeque<Queued>,
        progress: &Progress<'_>,
        report: &mut SyncReport,
    ) -> Result<Batch, CoreError> {
        let mut batch = Batch::default();
        let mut size = 0;
        let mut ready: VecDeque<Prepared> = VecDeque::new();
        loop {
            if ready.is_empty() {
                let n = queue
                    .len()
                    .min(PREPARE_WINDOW)
                    .min(PUSH_BATCH_RECORDS - batch.pushes.len());
                if n == 0 {
                    break;
                }
                progress.go_on()?;
                ready = self.prepare_pushes(queue.drain(..n).collect()).into();
            }
            let Some((queued, prepared)) = ready.pop_front() else {
                break;
            };
            let Some(Outgoing { changes, heads }) = prepared? else {
                continue;
            };
            if changes.is_empty() {
                self.store
                    .mark_pushed(&queued.id, &heads, queued.edit_seq)?;
                batch.clean += 1;
                continue;
            }
            if changes.len() > MAX_PUSH_BYTES {
                // The server would refuse it; say so without sending megabytes.
                report.refused.push(RefusedPush {
                    record: queued.id,
                    code: refusal::TOO_LARGE.into(),
                    message: format!(
                        "{} bytes of changes, over the {MAX_PUSH_BYTES}-byte limit of one push",
                        changes.len()
                    ),
                    rule: None,
                    path: None,
                    refused_edit: None,
                    replayed: 0,
                });
                continue;
            }
            if !batch.pushes.is_empty() && size + changes.len() > PUSH_BATCH_BYTES {
                // The next request takes it: a request stays within the server's body limit
                // (16 MiB) even when its changes do not compress.
                ready.push_front((queued, Ok(None)));
                break;
            }
            size += changes.len();
            batch.pushes.push(Push {
                record: queued.id.clone(),
                changes,
            });
            batch.sent.push(Sent { queued, heads });
            if batch.pushes.len() >= PUSH_BATCH_RECORDS {
                break;
            }
        }
        // Read but not sent in this request: back to the queue, in order (read again then).
        for (queued, _) in ready.into_iter().rev() {
            queue.push_front(queued);
        }
        Ok(batch)
    }

    /// Takes the server's answer to each push: the accepted marked clean (in one commit), the
    /// ones the server lacked dependencies for queued whole once more, the refused reported
    /// (and, when refused for the user's rights, taken out of the record). The number pushed.
    fn take_push_results(
        &self,
        response: &SyncResponse,
        sent: Vec<Sent>,
        queue: &mut VecDeque<Queued>,
        report: &mut SyncReport,
    ) -> Result<u64, CoreError> {
        let mut accepted = Vec::new();
        for (result, Sent { queued, heads }) in response.results.iter().zip(sent) {
            match result.outcome {
                PushOutcome::Accepted => {
                    report.records_pushed += 1;
                    accepted.push((queued, heads));
                }
                PushOutcome::Refused
                    if result.code.as_deref() == Some(refusal::MISSING_DEPS) && !queued.retried =>
                {
                    // The server lacks what our confirmed heads say it has: send it all.
                    self.store.reset_synced(&queued.id)?;
                    queue.push_back(Queued {
                        synced: None,
                        retried: true,
                        ..queued
                    });
                }
                PushOutcome::Refused => {
                    let code = result.code.clone().unwrap_or_default();
                    let taken = if code == refusal::FORBIDDEN || code == refusal::OUT_OF_SCOPE {
                        Some(self.take_out_refused(&queued.id, result, queued.synced.as_deref())?)
                    } else {
                        None
                    };
                    report.refused.push(RefusedPush {
                        record: queued.id,
                        code,
                        message: result.message.clone().unwrap_or_default(),
                        rule: result.rule.clone(),
                        path: result.path.clone(),
                        refused_edit: taken.map(|t| t.refused_edit),
                        replayed: taken.map_or(0, |t| t.replayed as u64),
                    });
                }
            }
        }
        let marks: Vec<jingtu_store::Pushed<'_>> = accepted
            .iter()
            .map(|(queued, heads)| jingtu_store::Pushed {
                id: queued.id.as_str(),
                heads: heads.as_slice(),
                edit_seq: queued.edit_seq,
            })
            .collect();
        self.store.mark_all_pushed(&marks)?;
        Ok(accepted.len() as u64)
    }

    /// The changes of a record the server has not confirmed, and the heads they end at;
    /// `None` when the record is gone.
    fn changes_to_push(
        &self,
        id: &str,
        synced: Option<&[u8]>,
    ) -> Result<Option<Outgoing>, CoreError> {
        // An open record is at hand; others are loaded as bare documents (building the
        // cached view of a record costs more than loading it, and a push needs none of it),
        // outside the cache's lock so that several load at once. A write in between is
        // harmless: the heads returned are those of the bytes returned, and the record stays
        // dirty when its write count moved.
        if let Some(entry) = lock(&self.cache).docs.get_mut(id) {
            return Ok(Some(Self::outgoing(&mut entry.doc, synced)));
        }
        let bytes = match self.store.load(id) {
            Ok(r) => r.bytes,
            Err(jingtu_store::StoreError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut doc = jingtu_doc::RecordDoc::load_stored(&bytes, self.actor.clone())?;
        Ok(Some(Self::outgoing(&mut doc, synced)))
    }

    /// [`Self::changes_to_push`] of several records, in parallel; in their order.
    fn prepare_pushes(&self, queued: Vec<Queued>) -> Vec<Prepared> {
        queued
            .into_par_iter()
            .map(|q| {
                let r = self.changes_to_push(&q.id, q.synced.as_deref());
                (q, r)
            })
            .collect()
    }

    /// What a push of `doc` carries: the changes after the confirmed heads `synced` (all of
    /// them when the server confirmed none, or not these), and the heads they end at.
    fn outgoing(doc: &mut jingtu_doc::RecordDoc, synced: Option<&[u8]>) -> Outgoing {
        let heads = doc.heads();
        let base = synced
            .and_then(decode_heads)
            .filter(|hs| !hs.is_empty() && hs.iter().all(|h| doc.has_change(h)));
        let changes = match base {
            Some(hs) => doc.save_after(&hs),
            // The whole document, its columns not DEFLATE-compressed: the request's zstd frame
            // then compresses across the records of the batch, which share most of their bytes
            // (under a third of the bytes on the wire for a batch of new records, and a fifth
            // of the work to make them). A document too large for one push that way goes
            // compressed.
            None => {
                let plain = doc.save_uncompressed();
                if plain.len() > MAX_PUSH_BYTES {
                    doc.save()
                } else {
                    plain
                }
            }
        };
        Outgoing {
            changes,
            heads: encode_heads(&heads),
        }
    }
}
