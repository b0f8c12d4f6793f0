//! Sync as the app sees it: reports, refused pushes and edits, assignments, enrollment, the
//! sync state, and the listeners that draw progress.

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ImportOutcome {
    pub id: String,
    pub created: bool,
    pub new_changes: u64,
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SyncReport {
    pub records_pushed: u64,
    pub chunks_pulled: u64,
    pub records_received: u64,
    pub photos_uploaded: u64,
    /// Bytes of photos sent (a resumed upload counts only what it sent).
    pub photo_bytes_uploaded: u64,
    /// Photos the server would not take (their record's push was refused); they stay pending.
    pub photos_refused: u64,
    /// Photos that wait because the server has no room now; they go at a later sync.
    pub photos_deferred: u64,
    pub thumbnails_fetched: u64,
    /// Records the server refused. For `forbidden` and `out_of_scope` the refused edit is
    /// kept (see `refusedEdits`) and the record is back at the server's version with what is
    /// still allowed written again; other codes leave the record pending as it is.
    pub refused: Vec<RefusedPush>,
    /// Assignments held after the sync.
    pub assignments: u64,
    /// Records removed because they left what this user may see.
    pub records_removed: u64,
    /// Records that left it but hold unsynced changes, so are kept.
    pub kept_out_of_scope: Vec<String>,
    /// Records received whose form this app version does not know (kept; opened after an
    /// update).
    pub parked: u64,
    /// Templates received from the server: new kinds or versions this app can fill now,
    /// without an update (see `templates()`).
    pub templates_received: u64,
    /// Whether new code tables arrived (see `codeTablesJson()`).
    pub code_tables_updated: bool,
    pub round_trips: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RefusedPush {
    pub record_id: String,
    pub code: String,
    pub message: String,
    /// The rule broken (`review_by_supervisor`, `status_by_role`, `custody_append_only`,
    /// `approved_locked`, `lab_results_by_lab`, `meta_write_once`, `custody_signature`), for
    /// `forbidden`.
    pub rule: Option<String>,
    /// The document path the refused change touched (`review/r1/decision`).
    pub path: Option<String>,
    /// The kept refused edit, when one was kept.
    pub refused_edit_id: Option<i64>,
    /// Field values, photos and submissions written again onto the server's version.
    pub replayed: u64,
}

/// An edit the server refused, kept on the device with the reason: never silently dropped.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RefusedEdit {
    pub id: i64,
    pub record_id: String,
    /// `forbidden` or `out_of_scope`.
    pub code: String,
    pub rule: Option<String>,
    pub path: Option<String>,
    pub message: String,
    pub refused_at_ms: i64,
    /// The whole record as it was on this device before the refused changes came out (JSON).
    pub local_json: String,
    pub dismissed: bool,
}

impl From<jingtu_core::RefusedEdit> for RefusedEdit {
    fn from(e: jingtu_core::RefusedEdit) -> Self {
        RefusedEdit {
            id: e.id,
            record_id: e.record_id,
            code: e.code,
            rule: e.rule,
            path: e.path,
            message: e.message,
            refused_at_ms: e.refused_at_ms,
            local_json: e.local_json,
            dismissed: e.dismissed_at_ms.is_some(),
        }
    }
}

/// A piece of field work a supervisor gave this device's user (read-only here).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Assignment {
    pub id: String,
    /// `village`, `water_body` or `sampling_point`.
    pub target_kind: String,
    /// 村庄, 水体 or 采样点位.
    pub target_kind_label: String,
    pub target: String,
    pub target_name: String,
    /// The record kind to capture.
    pub kind: String,
    pub org_unit: String,
    pub due_date: Option<String>,
    pub note: Option<String>,
    pub assigned_by: String,
    pub assigned_at_ms: i64,
    /// The planned sampling point, when an admin imported it: position, land use, task.
    pub planned_point: Option<PlannedPoint>,
}

/// A planned soil sampling point (计划点位) from the imported point list.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PlannedPoint {
    pub code: String,
    pub name: String,
    pub lat: f64,
    pub lon: f64,
    /// Code table `land_use`.
    pub land_use: Option<String>,
    /// Code table `monitoring_task`.
    pub task: Option<String>,
    pub org_unit: String,
}

impl From<jingtu_core::Assignment> for Assignment {
    fn from(a: jingtu_core::Assignment) -> Self {
        Assignment {
            id: a.id,
            target_kind: a.target_kind.as_str().to_string(),
            target_kind_label: a.target_kind.label_zh().to_string(),
            target: a.target,
            target_name: a.target_name,
            kind: a.kind,
            org_unit: a.org_unit,
            due_date: a.due_date,
            note: a.note,
            assigned_by: a.assigned_by,
            assigned_at_ms: a.assigned_at_ms,
            planned_point: a.planned_point.map(|p| PlannedPoint {
                code: p.code,
                name: p.name,
                lat: p.lat,
                lon: p.lon,
                land_use: p.land_use,
                task: p.task,
                org_unit: p.org_unit,
            }),
        }
    }
}

/// Who this device is enrolled for.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Enrollment {
    pub user: String,
    /// `inspector`, `sampler`, `supervisor` or `admin`.
    pub role: String,
    /// 巡查员, 采样员, 审核员 or 管理员.
    pub role_label: String,
    pub org_units: Vec<String>,
    pub server_url: String,
}

impl From<jingtu_core::Enrollment> for Enrollment {
    fn from(e: jingtu_core::Enrollment) -> Self {
        Enrollment {
            user: e.user,
            role: e.role.as_str().to_string(),
            role_label: e.role.label_zh().to_string(),
            org_units: e.org_units,
            server_url: e.server_url,
        }
    }
}

/// A record received whose form (template) this app version does not know yet.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ParkedRecord {
    pub record_id: String,
    pub reason: String,
}

/// How far the device is in step with the server.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SyncStatus {
    pub server_url: Option<String>,
    pub last_sync_ms: Option<i64>,
    pub records: u64,
    /// Records sent at the next sync.
    pub records_pending: u64,
    /// Records the server refused whole (another user's, or outside the user's reach): not
    /// sent again until edited. Show them apart, with their refused edits; the user gives
    /// such a record to its owner or supervisor (`export`) and then `discardRecord`s it.
    pub records_held: u64,
    pub photos_pending: u64,
}

/// One record's sync state: `refused` (an edit of it was refused and not dismissed), `held`
/// (refused whole: not sent again until edited), `pending_upload`, `photo_pending` or
/// `synced`.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RecordSyncState {
    pub state: String,
    pub pending_upload: bool,
    pub held: bool,
    pub photos_pending: u64,
    pub refused_edits: u64,
}

/// Progress of a sync: `phase` is `push`, `pull`, `photos` or `thumbnails`; `done` of
/// `total` items (bytes for `photos`; `total` 0 while unknown); `bytes` sent and received so
/// far. Return `false` to cancel.
#[uniffi::export(foreign)]
pub trait SyncListener: Send + Sync {
    fn on_sync_progress(&self, phase: String, done: u64, total: u64, bytes: u64) -> bool;
}

/// Progress of a long operation. Return `false` from `on_progress` to cancel it.
#[uniffi::export(foreign)]
pub trait ProgressListener: Send + Sync {
    fn on_progress(&self, phase: String, done: u64, total: u64) -> bool;
}
