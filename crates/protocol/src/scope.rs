//! What a device may see: its user's assignments, and the records entering or leaving its
//! scope. Sent inside [`crate::SyncResponse`] when the user's scope changed since the device's
//! `scope_seq` (docs/sync-protocol.md, "Scope").

use serde::{Deserialize, Serialize};

/// What an assignment points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AssignmentTarget {
    /// 村庄: a village to inspect (target = its 12-digit division code).
    Village,
    /// 水体: a black-odorous water body to check (target = the water body's code).
    WaterBody,
    /// 点位: a planned soil sampling point (target = the point code).
    SamplingPoint,
}

impl AssignmentTarget {
    pub fn as_str(self) -> &'static str {
        match self {
            AssignmentTarget::Village => "village",
            AssignmentTarget::WaterBody => "water_body",
            AssignmentTarget::SamplingPoint => "sampling_point",
        }
    }

    pub fn parse(s: &str) -> Option<AssignmentTarget> {
        [
            AssignmentTarget::Village,
            AssignmentTarget::WaterBody,
            AssignmentTarget::SamplingPoint,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            AssignmentTarget::Village => "村庄",
            AssignmentTarget::WaterBody => "水体",
            AssignmentTarget::SamplingPoint => "采样点位",
        }
    }
}

/// A piece of field work a supervisor gave a field user. Read-only on the device; a record
/// created from it carries its id in `meta.assignment`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Assignment {
    /// A UUID.
    pub id: String,
    pub target_kind: AssignmentTarget,
    /// The village's division code, the water body's or the sampling point's code.
    pub target: String,
    /// A readable name of the target (村名, 水体名称, 点位编号).
    #[serde(default)]
    pub target_name: String,
    /// The record kind to capture (`village_inspection`, `water_body_check`, `soil_sample`).
    pub kind: String,
    /// The org unit (12-digit code) the work lies in.
    pub org_unit: String,
    /// The user it is assigned to.
    pub assignee: String,
    /// The day it is due (`YYYY-MM-DD`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub assigned_by: String,
    pub assigned_at_ms: i64,
    /// The planned sampling point, when the target is one an admin imported: where it is,
    /// its land use and task, for the record made from the assignment and the way there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_point: Option<PlannedPoint>,
}

/// A planned soil sampling point (计划点位), as imported from the point list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlannedPoint {
    /// The point code, unique in the list (`411321YJ0087`).
    pub code: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// CGCS2000 decimal degrees.
    pub lat: f64,
    pub lon: f64,
    /// Code table `land_use` (`paddy_0101`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub land_use: Option<String>,
    /// Code table `monitoring_task` (`early_warning`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// The 12-digit code of the org unit the point lies in.
    pub org_unit: String,
}

/// A record sent whole because it entered the device's scope (its chunks lie below the
/// device's cursor).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WholeRecord {
    pub record: String,
    #[serde(with = "serde_bytes")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Binary))]
    pub bytes: Vec<u8>,
}

/// The device's scope moved: the user's assignments now, the records that left it, and (a
/// page of) the records that entered it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScopeUpdate {
    /// The scope the device is moving to: send it back as `scope_target` until `next` is
    /// empty, then store it as the device's `scope_seq`.
    pub seq: u64,
    /// Every live assignment of the user (replaces what the device holds).
    pub assignments: Vec<Assignment>,
    /// Records no longer in scope: the device removes them unless it holds unsynced changes.
    pub evict: Vec<String>,
    /// Records that entered the scope, in id order, whole.
    pub records: Vec<WholeRecord>,
    /// More entered records wait after this record id: send it as `scope_after`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}
