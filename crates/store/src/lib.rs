//! jingtu-store: a device store in one folder.
//!
//! SQLite (rusqlite, the one SQLite binding of the workspace) in WAL mode holds, per record,
//! the Automerge change chunks appended by each edit (compacted into a snapshot when they pile
//! up) and a summary row for fast lists, filters and search; plus the device's actor id and
//! settings; and evidence photos (content-addressed blobs with their thumbnails, written in the
//! same transaction as the record change that refers to them, deleted when nothing refers to them
//! any more). A lock file keeps a second process from opening the same store for writing.
//!
//! This crate stores bytes and summaries; it knows nothing of Automerge or templates.

mod error;
mod schema;
mod store;

pub use error::StoreError;
pub use schema::SCHEMA_VERSION;
pub use store::{
    CatalogItem, DirtyRecord, Durability, ListFilter, LoadedRecord, NewRefusedEdit, Origin,
    ParkedRecord, PendingPhoto, PhotoBlob, PhotoChange, PhotoCounts, PhotoInfo, PhotoRef, Pushed,
    RecordSummary, RecordSyncRow, RefusedEdit, Store, StoreOptions, StoredAssignment, SyncCounts,
    SyncState,
};
