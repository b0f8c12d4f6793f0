//! jingtu-doc: one survey record as one Automerge document.
//!
//! Layout (DESIGN.md section 2): `meta` (id, kind, template version, org unit, village,
//! planned point, author, device, created time), `data` (the template's fields; checklist items
//! as maps keyed by item id), `photos`, `custody`, `review` (maps keyed by stable ids) and
//! `events` (an append-only list of status events from which the status is derived).
//!
//! Edits carry who made them and when in the change message, so history and conflicts can
//! name the device, the person and the time. This crate knows templates (to pre-create the
//! containers a record needs, so that two devices never create the same map concurrently)
//! but nothing of storage or network.

mod apply;
mod custody;
mod error;
mod guard;
mod history;
pub mod layout;
mod photos;
mod rebuild;
mod record;
mod review;
mod signing;
mod value;

pub use apply::{Applied, apply_untrusted};
pub use automerge::{ActorId, ChangeHash};
pub use custody::{
    CustodyChain, CustodyFinding, EventContent, SampleCustodyEvent, canonical_json, event_hash,
    key as custody_key,
};
pub use error::DocError;
pub use guard::{Expansion, ExpansionLimits, check_expansion};
pub use history::{Conflict, ConflictValue, HistoryEntry};
pub use layout::{EventKind, Status, StatusEvent};
pub use photos::{PhotoEntry, PhotoRemoval};
pub use rebuild::Rebuilt;
pub use record::{Editor, MAX_DOC_BYTES, RecordDoc, RecordMeta};
pub use review::{MAX_COMMENT_CHARS, NewComment, ReviewComment};
pub use signing::{CustodySigner, DeviceKey, is_signing_key, verify as verify_signature};
