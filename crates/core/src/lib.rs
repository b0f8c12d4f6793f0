//! jingtu-core: the device core. One handle ([`DeviceCore`]) over one device store, with every
//! use case of a field user: templates, records, checklist items, the record view (values,
//! validation issues, computed fields, completion), lists and search, submit, history,
//! export/import between devices, conflicts and their resolution, evidence photos (ingested by
//! `jingtu-media`, stored once, required ones reported missing), and review on a supervisor's
//! device (approve, return with comments pointed at fields, reopen).
//!
//! It builds on `jingtu-model` (templates, rules), `jingtu-doc` (records as Automerge
//! documents) and `jingtu-store` (SQLite). It must never depend on the server or the bindings;
//! the bindings wrap it, the CLI and the benchmarks drive it.

mod cache;
mod catalog;
mod core;
mod custody;
mod error;
mod ledger;
mod photos;
mod review;
mod scope;
mod stored_catalog;
mod sync;
mod view;

pub use crate::core::{
    COMPACT_AFTER_CHUNKS, CoreOptions, DeviceCore, ImportOutcome, MAX_VALUE_BYTES, NewRecordPlace,
};
pub use custody::{BatchSample, HandOverBatch, PointGuide, SAMPLE_KIND};
pub use error::CoreError;
pub use jingtu_client::{ClientError, ClientOptions, Counters};
pub use jingtu_doc::{
    Conflict, ConflictValue, EventKind, HistoryEntry, NewComment, ReviewComment, Status,
    StatusEvent,
};
pub use jingtu_doc::{CustodyChain, CustodyFinding, CustodySigner, DeviceKey, SampleCustodyEvent};
pub use jingtu_doc::{PhotoEntry, PhotoRemoval};
pub use jingtu_model::ledger::{
    BodyCheck, FacilitySchedule, LedgerProblem, PeriodState, SchedulePeriod, WaterBody, china_day,
    parse_day,
};
pub use jingtu_model::rules::black_odorous::{BowStatus, Lifecycle};
pub use jingtu_model::rules::sewage_facility::{OnlineDuty, OnlineDutyKind};
pub use jingtu_model::{CustodyStep, HandOver, Receipt};
pub use jingtu_model::{Issue, Label, Severity, TemplateSummary};
pub use jingtu_model::{ItemResult, MissingPhoto, Role};
pub use jingtu_model::{QcCheck, QcRatio, QcReport, QcStatus, QualityControlPlan};
pub use jingtu_protocol::{Assignment, AssignmentTarget};
pub use jingtu_store::{Durability, ListFilter, RecordSummary};
pub use jingtu_store::{PhotoCounts, RefusedEdit, StoreError};
pub use ledger::{SEWAGE_FACILITY_KIND, WATER_BODY_KIND};
pub use photos::{NewPhoto, PhotoSource};
pub use review::ReviewDecision;
pub use scope::RefusalTaken;
pub use sync::{
    Enrollment, RecordSyncState, RefusedPush, SyncPhase, SyncProgress, SyncReport, SyncStatus,
};
pub use view::{RecordPhoto, RecordView};
