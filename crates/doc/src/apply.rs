//! Applying change bytes from another party (a device's push on the server, the server's feed
//! on a device): size-capped, panics caught, dependencies checked, and the result must still be
//! the same, well-formed record.

use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::{ActorId, AutoCommit, Change, ChangeHash};

use crate::{DocError, ExpansionLimits, MAX_DOC_BYTES, RecordDoc, check_expansion};

/// What applying changes did.
#[derive(Debug)]
pub struct Applied {
    /// The record before the changes (when it existed), for checks of what they touch.
    pub before: Option<RecordDoc>,
    /// The record after the changes.
    pub doc: RecordDoc,
    /// The changes that were new, as change chunks (empty when nothing was new).
    pub new_bytes: Vec<u8>,
    pub new_changes: usize,
    /// The new changes themselves (what `jingtu_policy::new_changes` would find again), for
    /// checks of what they do. Automerge builds changes anew from the document each time they
    /// are asked for, so they are built once here.
    pub changes: Vec<Change>,
}

/// The change chunks of `changes`, one after another (what `save_after` writes).
fn chunks_of(changes: &[Change]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(changes.iter().map(|c| c.raw_bytes().len()).sum());
    for c in changes {
        bytes.extend_from_slice(c.raw_bytes());
    }
    bytes
}

impl RecordDoc {
    /// Applies change bytes to this record, within the default [`ExpansionLimits`]. On error
    /// the record is unchanged only if the caller drops it (the bytes may be half applied):
    /// callers reload from their store.
    pub fn apply_changes(&mut self, bytes: &[u8]) -> Result<(Vec<u8>, usize), DocError> {
        let id = self.meta()?.id;
        let before = self.heads();
        apply_into(&mut self.doc, bytes, &ExpansionLimits::DEFAULT)?;
        self.check_layout(Some(&id))?;
        let changes = self.doc.get_changes(&before);
        Ok((chunks_of(&changes), changes.len()))
    }

    fn check_layout(&self, expected_id: Option<&str>) -> Result<(), DocError> {
        // `load_stored` checks meta, data and events; reuse it on the current state.
        let meta = self.meta()?;
        if let Some(id) = expected_id
            && meta.id != id
        {
            return Err(DocError::DifferentRecord {
                existing: id.to_string(),
                incoming: meta.id,
            });
        }
        self.check_containers()?;
        self.check_photos()
    }
}

/// Applies `incoming` change bytes to the record stored as `existing` (or to nothing, for a
/// record seen for the first time) and checks that the result is the record `expected_id`.
/// The incoming bytes are measured first: what would expand beyond `limits` is refused before
/// Automerge decodes it. `existing` is trusted (it was checked when it was stored).
pub fn apply_untrusted(
    existing: Option<&[u8]>,
    incoming: &[u8],
    expected_id: &str,
    actor: ActorId,
    limits: &ExpansionLimits,
) -> Result<Applied, DocError> {
    if incoming.len() > MAX_DOC_BYTES {
        return Err(DocError::TooLarge {
            size: incoming.len(),
            limit: MAX_DOC_BYTES,
        });
    }
    check_expansion(incoming, limits)?;
    let mut doc = match existing {
        Some(bytes) => RecordDoc::load_stored(bytes, actor)?,
        None => RecordDoc {
            doc: AutoCommit::new().with_actor(actor),
        },
    };
    let before_doc = existing.map(|_| RecordDoc {
        doc: doc.doc.clone(),
    });
    let before: Vec<ChangeHash> = doc.heads();
    apply_loaded(&mut doc.doc, incoming)?;
    doc.check_layout(Some(expected_id))?;
    let changes = doc.doc.get_changes(&before);
    Ok(Applied {
        before: before_doc,
        doc,
        new_bytes: chunks_of(&changes),
        new_changes: changes.len(),
        changes,
    })
}

fn apply_into(
    doc: &mut AutoCommit,
    bytes: &[u8],
    limits: &ExpansionLimits,
) -> Result<(), DocError> {
    check_expansion(bytes, limits)?;
    apply_loaded(doc, bytes)
}

/// Applies bytes already measured by [`check_expansion`].
fn apply_loaded(doc: &mut AutoCommit, bytes: &[u8]) -> Result<(), DocError> {
    if bytes.is_empty() {
        return Ok(());
    }
    catch_unwind(AssertUnwindSafe(|| doc.load_incremental(bytes)))
        .map_err(|_| DocError::Corrupt("the decoder failed".into()))?
        .map_err(|e| DocError::Corrupt(e.to_string()))?;
    let missing = doc.get_missing_deps(&[]);
    if !missing.is_empty() {
        return Err(DocError::MissingDeps(missing.len()));
    }
    Ok(())
}
