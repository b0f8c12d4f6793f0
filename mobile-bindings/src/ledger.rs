//! The county ledgers across the boundary: water bodies with their lifecycle stage as an
//! enum, sewage facilities' schedule periods with their state; counts as signed integers.

/// A water body's stage (code table `bow_lifecycle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum BodyStage {
    /// 已排查识别.
    Identified,
    /// 已列入清单.
    Listed,
    /// 治理中.
    UnderTreatment,
    /// 治理完成.
    Completed,
    /// 已验收销号.
    Accepted,
    /// 长效管护.
    Maintenance,
    /// 返黑返臭.
    Relapsed,
}

impl From<jingtu_core::Lifecycle> for BodyStage {
    fn from(l: jingtu_core::Lifecycle) -> Self {
        use jingtu_core::Lifecycle as L;
        match l {
            L::Identified => BodyStage::Identified,
            L::Listed => BodyStage::Listed,
            L::UnderTreatment => BodyStage::UnderTreatment,
            L::Completed => BodyStage::Completed,
            L::Accepted => BodyStage::Accepted,
            L::Maintenance => BodyStage::Maintenance,
            L::Relapsed => BodyStage::Relapsed,
        }
    }
}

/// A check's classification (code table `bow_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum BodyStatus {
    BlackOdorous,
    NotBlackOdorous,
    Undetermined,
}

impl From<jingtu_core::BowStatus> for BodyStatus {
    fn from(s: jingtu_core::BowStatus) -> Self {
        match s {
            jingtu_core::BowStatus::BlackOdorous => BodyStatus::BlackOdorous,
            jingtu_core::BowStatus::NotBlackOdorous => BodyStatus::NotBlackOdorous,
            jingtu_core::BowStatus::Undetermined => BodyStatus::Undetermined,
        }
    }
}

/// One check of a body, in time order.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct BodyCheck {
    pub record_id: String,
    pub checked_at: Option<String>,
    pub check_type: Option<String>,
    pub stage: Option<BodyStage>,
    pub status: Option<BodyStatus>,
}

/// Something wrong in a body's history, on the record where it shows
/// (`refused_transition`, `relapse_not_recorded`).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct LedgerProblem {
    pub record_id: String,
    pub code: String,
    pub message_zh: String,
    pub message_en: String,
}

/// A body of the ledger (黑臭水体台账).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct WaterBody {
    pub body_code: String,
    pub body_name: Option<String>,
    pub admin_code: Option<String>,
    pub village_name: Option<String>,
    pub list_level: Option<String>,
    pub stage: Option<BodyStage>,
    pub status: Option<BodyStatus>,
    pub last_checked_at: Option<String>,
    /// Checks after acceptance that found it black-odorous again.
    pub relapses: i32,
    /// Relapsed now (返黑返臭).
    pub relapsed: bool,
    pub checks: Vec<BodyCheck>,
    pub problems: Vec<LedgerProblem>,
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl From<jingtu_core::WaterBody> for WaterBody {
    fn from(b: jingtu_core::WaterBody) -> Self {
        WaterBody {
            body_code: b.body_code,
            body_name: b.body_name,
            admin_code: b.admin_code,
            village_name: b.village_name,
            list_level: b.list_level,
            stage: b.state.map(Into::into),
            status: b.status.map(Into::into),
            last_checked_at: b.last_checked_at,
            relapses: count(b.relapses),
            relapsed: b.relapsed,
            checks: b
                .checks
                .into_iter()
                .map(|c| BodyCheck {
                    record_id: c.record_id,
                    checked_at: c.checked_at,
                    check_type: c.check_type,
                    stage: c.state.map(Into::into),
                    status: c.status.map(Into::into),
                })
                .collect(),
            problems: b
                .problems
                .into_iter()
                .map(|p| LedgerProblem {
                    record_id: p.record_id,
                    code: p.code,
                    message_zh: p.message.zh,
                    message_en: p.message.en,
                })
                .collect(),
        }
    }
}

/// Where a schedule period stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PeriodState {
    Done,
    Missed,
    Due,
    Upcoming,
}

/// One quarter (inspection) or half-year (monitoring).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SchedulePeriod {
    /// `2024-Q3` or `2024-H2`.
    pub period: String,
    pub state: PeriodState,
    pub records: Vec<String>,
}

/// Which online monitoring a facility owes (task 19).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum OnlineDutyKind {
    /// ≥ 500 t/day: automatic water-quality monitoring networked by the end of July.
    Automatic,
    /// 100-500 t/day: outflow metering and video by the end of December.
    FlowAndVideo,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct OnlineDuty {
    pub kind: OnlineDutyKind,
    /// `YYYY-MM-DD`.
    pub deadline: String,
    pub met: Option<bool>,
    pub overdue: bool,
}

/// A facility's year against the schedule.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FacilitySchedule {
    pub facility_code: String,
    pub facility_name: Option<String>,
    pub township: Option<String>,
    pub village_name: Option<String>,
    pub scale_t_d: Option<f64>,
    pub schedule_required: Option<bool>,
    pub year: i32,
    pub quarters: Vec<SchedulePeriod>,
    pub halves: Vec<SchedulePeriod>,
    /// The periods that ended without their record.
    pub missed: Vec<String>,
    pub online_duty: Option<OnlineDuty>,
}

fn period(p: jingtu_core::SchedulePeriod) -> SchedulePeriod {
    SchedulePeriod {
        period: p.period,
        state: match p.state {
            jingtu_core::PeriodState::Done => PeriodState::Done,
            jingtu_core::PeriodState::Missed => PeriodState::Missed,
            jingtu_core::PeriodState::Due => PeriodState::Due,
            jingtu_core::PeriodState::Upcoming => PeriodState::Upcoming,
        },
        records: p.records,
    }
}

impl From<jingtu_core::FacilitySchedule> for FacilitySchedule {
    fn from(f: jingtu_core::FacilitySchedule) -> Self {
        FacilitySchedule {
            facility_code: f.facility_code,
            facility_name: f.facility_name,
            township: f.township,
            village_name: f.village_name,
            scale_t_d: f.scale_t_d,
            schedule_required: f.schedule_required,
            year: f.year,
            quarters: f.quarters.into_iter().map(period).collect(),
            halves: f.halves.into_iter().map(period).collect(),
            missed: f.missed,
            online_duty: f.online_duty.map(|d| OnlineDuty {
                kind: match d.kind {
                    jingtu_core::OnlineDutyKind::Automatic => OnlineDutyKind::Automatic,
                    jingtu_core::OnlineDutyKind::FlowAndVideo => OnlineDutyKind::FlowAndVideo,
                },
                deadline: d.deadline,
                met: d.met,
                overdue: d.overdue,
            }),
        }
    }
}
