//! County ledgers built from many records: the black-odorous water bodies with their lifecycle
//! (农村黑臭水体 名册台账) and the sewage facilities' inspection and monitoring schedule (the
//! plan, task 19). Pure functions over records' data and computed values, so that the device
//! (view, CLI, bindings) and the server (read API, console) give the same answer.
//!
//! Callers choose which records count (the server: submitted and approved records in the
//! caller's scope; a device: the records it holds) and pass each with its evaluation's
//! computed values.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::Label;
use crate::rules::black_odorous::{BowStatus, Lifecycle};
use crate::rules::sewage_facility::OnlineDuty;

/// One record given to a ledger.
#[derive(Debug, Clone, Copy)]
pub struct LedgerRecord<'a> {
    pub id: &'a str,
    /// The record's `data`.
    pub data: &'a Value,
    /// The evaluation's computed values (`Evaluation::computed` as an object).
    pub computed: &'a Value,
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Seconds since 1970 of an RFC 3339 date-time (`2024-07-16T09:30:00+08:00`, `...Z`,
/// fractions allowed) or a date (midnight UTC); `None` when unreadable.
pub fn instant(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    if s.len() == 10 {
        return Some(days * 86_400);
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let (hh, mm, ss) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let mut rest = s.get(19..)?;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (oh, om) = rest.get(1..)?.split_once(':')?;
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60)
        }
    };
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss - offset)
}

/// A day written `YYYY-MM-DD` (nothing more), as `(year, month, day)`.
pub fn parse_day(s: &str) -> Option<(i32, u32, u32)> {
    let s = s.trim();
    (s.len() == 10)
        .then(|| crate::rules::date_prefix(s))
        .flatten()
}

/// The calendar day `(year, month, day)` in China Standard Time (UTC+8) of a time in
/// milliseconds since 1970.
pub fn china_day(ms: i64) -> (i32, u32, u32) {
    let days = (ms.div_euclid(1000) + 8 * 3600).div_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        i32::try_from(y).unwrap_or(i32::MAX),
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

// ---- black-odorous water bodies ----

/// One check of a body, as the ledger orders them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BodyCheck {
    pub record_id: String,
    pub checked_at: Option<String>,
    /// `screening` or `recheck`.
    pub check_type: Option<String>,
    /// The state the record gives the body.
    pub state: Option<Lifecycle>,
    /// The check's classification.
    pub status: Option<BowStatus>,
}

/// Something wrong in a body's history, on the record where it shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LedgerProblem {
    pub record_id: String,
    /// `refused_transition`, `relapse_not_recorded`, `missed_period`.
    pub code: String,
    pub message: Label,
}

/// A body in the county ledger.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaterBody {
    pub body_code: String,
    pub body_name: Option<String>,
    pub admin_code: Option<String>,
    pub village_name: Option<String>,
    pub list_level: Option<String>,
    /// The state after the latest check that gave one.
    pub state: Option<Lifecycle>,
    /// The latest check's classification.
    pub status: Option<BowStatus>,
    pub last_checked_at: Option<String>,
    /// Checks after acceptance that found the body black-odorous again (返黑返臭).
    pub relapses: usize,
    /// The body is relapsed now: its state is `relapsed`, or its latest check found it
    /// black-odorous after acceptance.
    pub relapsed: bool,
    pub checks: Vec<BodyCheck>,
    pub problems: Vec<LedgerProblem>,
}

/// The county ledger of black-odorous water bodies from `water_body_check` records: bodies by
/// code, each with its checks in time order, its current state and classification, its
/// relapses, and the transitions the lifecycle refuses ([`Lifecycle::may_become`]). A record
/// without a body code is left out.
pub fn water_bodies<'a>(records: impl IntoIterator<Item = LedgerRecord<'a>>) -> Vec<WaterBody> {
    grouped(records, &["body_code"], "checked_at")
        .into_iter()
        .map(|(body_code, records)| body(body_code, &records))
        .collect()
}

/// The records by the first of `keys` they hold, each group in the order of its `time_key`
/// (an RFC 3339 time; unreadable ones by their text, then by id). A record holding none of
/// the keys is left out.
fn grouped<'a>(
    records: impl IntoIterator<Item = LedgerRecord<'a>>,
    keys: &[&str],
    time_key: &str,
) -> BTreeMap<String, Vec<LedgerRecord<'a>>> {
    let mut by_key: BTreeMap<String, Vec<LedgerRecord<'a>>> = BTreeMap::new();
    for r in records {
        if let Some(key) = keys.iter().find_map(|k| text(r.data, k)) {
            by_key.entry(key).or_default().push(r);
        }
    }
    for group in by_key.values_mut() {
        group.sort_by_key(|r| {
            let at = text(r.data, time_key);
            (at.as_deref().and_then(instant), at, r.id)
        });
    }
    by_key
}

fn body(body_code: String, records: &[LedgerRecord<'_>]) -> WaterBody {
    let code_of = |v: &Value, key: &str| {
        v.get(key)
            .and_then(|v| serde_json::from_value::<Lifecycle>(v.clone()).ok())
    };
    let status_of = |c: &Value| {
        c.pointer("/classification/status")
            .and_then(|v| serde_json::from_value::<BowStatus>(v.clone()).ok())
    };
    let mut checks = Vec::new();
    let mut problems = Vec::new();
    let (mut state, mut relapses, mut relapsed_now) = (None::<Lifecycle>, 0, false);
    for r in records {
        let this_state = code_of(r.data, "lifecycle");
        let status = status_of(r.computed);
        if let (Some(from), Some(to)) = (state, this_state)
            && !from.may_become(to)
        {
            problems.push(LedgerProblem {
                record_id: r.id.to_owned(),
                code: "refused_transition".into(),
                message: Label::new(
                    format!("状态不能从“{}”变为“{}”", from.zh(), to.zh()),
                    format!("The state cannot go from {} to {}", from.code(), to.code()),
                ),
            });
        }
        let after_acceptance = state.is_some_and(Lifecycle::is_after_acceptance);
        relapsed_now = false;
        if after_acceptance && status == Some(BowStatus::BlackOdorous) {
            relapses += 1;
            relapsed_now = true;
            if this_state != Some(Lifecycle::Relapsed) {
                problems.push(LedgerProblem {
                    record_id: r.id.to_owned(),
                    code: "relapse_not_recorded".into(),
                    message: Label::new(
                        "验收后再次判定为黑臭（返黑返臭），记录未标为返黑返臭",
                        "Black-odorous again after acceptance (relapse), not recorded as relapsed",
                    ),
                });
            }
        }
        if this_state.is_some() {
            state = this_state;
        }
        checks.push(BodyCheck {
            record_id: r.id.to_owned(),
            checked_at: text(r.data, "checked_at"),
            check_type: text(r.data, "check_type"),
            state: this_state,
            status,
        });
    }
    let latest = |key: &str| records.iter().rev().find_map(|r| text(r.data, key));
    WaterBody {
        body_name: latest("body_name"),
        admin_code: latest("admin_code"),
        village_name: latest("village_name"),
        list_level: latest("list_level"),
        relapsed: relapsed_now || state == Some(Lifecycle::Relapsed),
        status: checks.last().and_then(|c| c.status),
        last_checked_at: checks.last().and_then(|c| c.checked_at.clone()),
        body_code,
        state,
        relapses,
        checks,
        problems,
    }
}

// ---- sewage facilities ----

/// Where a schedule period stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodState {
    /// A record of the period exists.
    Done,
    /// The period ended without one.
    Missed,
    /// The period is under way and has none yet.
    Due,
    /// The period has not begun.
    Upcoming,
}

/// One quarter (inspection) or half-year (monitoring) of a facility's schedule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchedulePeriod {
    /// `2024-Q3` or `2024-H2`.
    pub period: String,
    pub state: PeriodState,
    /// The records of the period.
    pub records: Vec<String>,
}

/// A facility's year against the task 19 schedule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FacilitySchedule {
    pub facility_code: String,
    pub facility_name: Option<String>,
    pub township: Option<String>,
    pub village_name: Option<String>,
    /// From the latest record: actual throughput or design capacity, whichever is larger.
    pub scale_t_d: Option<f64>,
    /// Quarterly inspection and half-yearly monitoring are owed (≥ 100 t/day; `null`: no
    /// scale recorded).
    pub schedule_required: Option<bool>,
    pub year: i32,
    /// Q1-Q4: `quarterly_inspection` records.
    pub quarters: Vec<SchedulePeriod>,
    /// H1, H2: `half_year_monitoring` records.
    pub halves: Vec<SchedulePeriod>,
    /// The periods that ended without their record (only where the schedule is owed).
    pub missed: Vec<String>,
    /// The online-monitoring duty as the latest record of the year shows it.
    pub online_duty: Option<OnlineDuty>,
}

/// The schedule of every facility (by `facility_code`, else its name) for `year`, as of the
/// date `today` (`(year, month, day)`): each quarter's inspection and each half-year's inlet
/// and outlet monitoring, done, missed, due or upcoming. A record falls in the quarter its
/// `quarter` field names (`2024-Q3`), else in the quarter of its `inspected_at` date.
pub fn sewage_facilities<'a>(
    records: impl IntoIterator<Item = LedgerRecord<'a>>,
    year: i32,
    today: (i32, u32, u32),
) -> Vec<FacilitySchedule> {
    grouped(records, &["facility_code", "facility_name"], "inspected_at")
        .into_iter()
        .map(|(code, records)| facility(code, &records, year, today))
        .collect()
}

/// The (year, quarter) a record belongs to.
fn record_quarter(data: &Value) -> Option<(i32, u32)> {
    if let Some(q) = text(data, "quarter")
        && let Some((y, n)) = q.split_once("-Q")
        && let (Ok(y), Ok(n)) = (y.parse::<i32>(), n.parse::<u32>())
        && (1..=4).contains(&n)
    {
        return Some((y, n));
    }
    let (y, m, _) = crate::rules::date(data, &["inspected_at"])?;
    Some((y, (m - 1) / 3 + 1))
}

fn facility(
    facility_code: String,
    records: &[LedgerRecord<'_>],
    year: i32,
    today: (i32, u32, u32),
) -> FacilitySchedule {
    let latest = |key: &str| records.iter().rev().find_map(|r| text(r.data, key));
    let of_year: Vec<&LedgerRecord<'_>> = records
        .iter()
        .filter(|r| record_quarter(r.data).is_some_and(|(y, _)| y == year))
        .collect();
    let assessment = records
        .iter()
        .rev()
        .find_map(|r| r.computed.get("assessment"));
    let scale_t_d = assessment
        .and_then(|a| a.get("scale_t_d"))
        .and_then(Value::as_f64);
    let schedule_required = assessment
        .and_then(|a| a.get("monitoring_required"))
        .and_then(Value::as_bool);
    let online_duty = of_year
        .iter()
        .rev()
        .find_map(|r| r.computed.pointer("/assessment/online_duty"))
        .and_then(online_duty_from);
    // The state of a period [first month, last month] of `year`.
    let state_of = |first: u32, last: u32, done: bool| {
        if done {
            PeriodState::Done
        } else if (today.0, today.1) > (year, last) {
            PeriodState::Missed
        } else if (today.0, today.1) >= (year, first) {
            PeriodState::Due
        } else {
            PeriodState::Upcoming
        }
    };
    let of_type = |kind: &'static str| {
        of_year
            .iter()
            .filter(move |r| text(r.data, "inspection_type").as_deref() == Some(kind))
    };
    let quarters: Vec<SchedulePeriod> = (1..=4u32)
        .map(|q| {
            let ids: Vec<String> = of_type("quarterly_inspection")
                .filter(|r| record_quarter(r.data) == Some((year, q)))
                .map(|r| r.id.to_owned())
                .collect();
            SchedulePeriod {
                period: format!("{year}-Q{q}"),
                state: state_of(3 * q - 2, 3 * q, !ids.is_empty()),
                records: ids,
            }
        })
        .collect();
    let halves: Vec<SchedulePeriod> = (1..=2u32)
        .map(|h| {
            let ids: Vec<String> = of_type("half_year_monitoring")
                .filter(|r| record_quarter(r.data).is_some_and(|(_, q)| q.div_ceil(2) == h))
                .map(|r| r.id.to_owned())
                .collect();
            SchedulePeriod {
                period: format!("{year}-H{h}"),
                state: state_of(6 * h - 5, 6 * h, !ids.is_empty()),
                records: ids,
            }
        })
        .collect();
    let missed = if schedule_required == Some(true) {
        quarters
            .iter()
            .chain(&halves)
            .filter(|p| p.state == PeriodState::Missed)
            .map(|p| p.period.clone())
            .collect()
    } else {
        Vec::new()
    };
    FacilitySchedule {
        facility_name: latest("facility_name"),
        township: latest("township"),
        village_name: latest("village_name"),
        facility_code,
        scale_t_d,
        schedule_required,
        year,
        quarters,
        halves,
        missed,
        online_duty,
    }
}

fn online_duty_from(v: &Value) -> Option<OnlineDuty> {
    use crate::rules::sewage_facility::OnlineDutyKind;
    let kind = match v.get("kind")?.as_str()? {
        "automatic" => OnlineDutyKind::Automatic,
        "flow_and_video" => OnlineDutyKind::FlowAndVideo,
        _ => return None,
    };
    Some(OnlineDuty {
        kind,
        deadline: v.get("deadline")?.as_str()?.to_owned(),
        met: v.get("met").and_then(Value::as_bool),
        overdue: v.get("overdue").and_then(Value::as_bool).unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn days() {
        assert_eq!(parse_day(" 2024-08-15 "), Some((2024, 8, 15)));
        assert_eq!(parse_day("2024-13-01"), None);
        assert_eq!(parse_day("15/08/2024"), None);
        assert_eq!(parse_day("2024-08-15T10:00"), None);
    }

    #[test]
    fn china_days() {
        assert_eq!(china_day(0), (1970, 1, 1));
        // 2024-02-29T16:00:00Z is 1 March in Beijing.
        assert_eq!(china_day(1_709_222_400_000), (2024, 3, 1));
        assert_eq!(china_day(1_709_222_399_999), (2024, 2, 29));
        for s in [
            "2024-12-31T23:59:59+08:00",
            "2025-01-01T00:00:00+08:00",
            "1999-07-01T12:00:00+08:00",
        ] {
            let ms = instant(s).unwrap() * 1000;
            let (y, m, d) = china_day(ms);
            assert_eq!(format!("{y:04}-{m:02}-{d:02}"), s[..10], "{s}");
        }
    }

    #[test]
    fn instants() {
        assert_eq!(instant("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(instant("1970-01-01T08:00:00+08:00"), Some(0));
        assert_eq!(instant("2024-03-01"), Some(1_709_251_200));
        assert_eq!(
            instant("2024-02-29T23:59:59.5-00:30"),
            Some(1_709_251_200 + 1799)
        );
        assert_eq!(instant("2024-13-01"), None);
        assert_eq!(instant("yesterday"), None);
        assert_eq!(instant("2024-03-01T10:00"), None);
    }

    fn check(id: &str, at: &str, state: &str, status: &str) -> (String, Value, Value) {
        (
            id.to_owned(),
            json!({"body_code": "411321001", "body_name": "东沟", "checked_at": at,
                   "check_type": if id == "a" { "screening" } else { "recheck" },
                   "lifecycle": state}),
            json!({"classification": {"status": status}}),
        )
    }

    fn ledger(rows: &[(String, Value, Value)]) -> WaterBody {
        let mut out = water_bodies(rows.iter().map(|(id, d, c)| LedgerRecord {
            id,
            data: d,
            computed: c,
        }));
        assert_eq!(out.len(), 1);
        out.remove(0)
    }

    /// A body through its whole life, given out of order: identified → under treatment →
    /// completed → accepted, then black-odorous again: relapsed (返黑返臭), flagged.
    #[test]
    fn a_body_through_its_lifecycle_and_a_relapse() {
        let rows = vec![
            check(
                "d",
                "2024-09-01T10:00:00+08:00",
                "accepted",
                "not_black_odorous",
            ),
            check(
                "a",
                "2024-03-01T10:00:00+08:00",
                "identified",
                "black_odorous",
            ),
            check(
                "c",
                "2024-07-01T10:00:00+08:00",
                "completed",
                "not_black_odorous",
            ),
            check(
                "b",
                "2024-04-01T10:00:00+08:00",
                "under_treatment",
                "black_odorous",
            ),
        ];
        let b = ledger(&rows);
        let order: Vec<&str> = b.checks.iter().map(|c| c.record_id.as_str()).collect();
        assert_eq!(order, ["a", "b", "c", "d"]);
        assert_eq!(b.state, Some(Lifecycle::Accepted));
        assert_eq!(b.status, Some(BowStatus::NotBlackOdorous));
        assert!(b.problems.is_empty() && !b.relapsed && b.relapses == 0);

        let mut rows = rows;
        rows.push(check(
            "e",
            "2025-05-01T10:00:00+08:00",
            "relapsed",
            "black_odorous",
        ));
        let b = ledger(&rows);
        assert_eq!(
            (b.state, b.relapsed, b.relapses),
            (Some(Lifecycle::Relapsed), true, 1)
        );
        assert!(b.problems.is_empty());

        // Found black-odorous after acceptance but still called "maintenance": flagged.
        rows.pop();
        rows.push(check(
            "e",
            "2025-05-01T10:00:00+08:00",
            "maintenance",
            "black_odorous",
        ));
        let b = ledger(&rows);
        assert!(b.relapsed && b.relapses == 1);
        assert_eq!(b.problems.len(), 1);
        assert_eq!(
            (
                b.problems[0].record_id.as_str(),
                b.problems[0].code.as_str()
            ),
            ("e", "relapse_not_recorded")
        );
    }

    /// A refused transition is listed on the record that makes it; the ledger still follows
    /// what the record says.
    #[test]
    fn a_refused_transition_is_listed() {
        let rows = vec![
            check(
                "a",
                "2024-03-01T10:00:00+08:00",
                "identified",
                "black_odorous",
            ),
            check(
                "b",
                "2024-05-01T10:00:00+08:00",
                "accepted",
                "not_black_odorous",
            ),
        ];
        let b = ledger(&rows);
        assert_eq!(b.state, Some(Lifecycle::Accepted));
        assert_eq!(b.problems.len(), 1);
        assert_eq!(b.problems[0].code, "refused_transition");
        assert!(
            b.problems[0].message.zh.contains("已排查识别")
                && b.problems[0].message.zh.contains("验收销号")
        );
    }

    fn visit(id: &str, kind: &str, at: &str, scale: f64) -> (String, Value, Value) {
        (
            id.to_owned(),
            json!({"facility_code": "WS-01", "facility_name": "城关污水站", "inspection_type": kind,
                   "inspected_at": at}),
            json!({"assessment": {"scale_t_d": scale, "monitoring_required": scale >= 100.0}}),
        )
    }

    fn schedule(rows: &[(String, Value, Value)], today: (i32, u32, u32)) -> FacilitySchedule {
        let mut out = sewage_facilities(
            rows.iter().map(|(id, d, c)| LedgerRecord {
                id,
                data: d,
                computed: c,
            }),
            2024,
            today,
        );
        out.remove(0)
    }

    /// Task 19: "每半年开展1次进、出口水质监测，每季度开展一次巡查". Q1 inspected, Q2 not, the
    /// first half monitored; on 15 August Q2 is missed, Q3 due, Q4 upcoming, H2 due.
    #[test]
    fn task_19_a_missed_quarter_is_listed() {
        let rows = vec![
            visit(
                "q1",
                "quarterly_inspection",
                "2024-03-20T10:00:00+08:00",
                150.0,
            ),
            visit(
                "h1",
                "half_year_monitoring",
                "2024-05-10T10:00:00+08:00",
                150.0,
            ),
        ];
        let s = schedule(&rows, (2024, 8, 15));
        let states: Vec<PeriodState> = s.quarters.iter().map(|p| p.state).collect();
        assert_eq!(
            states,
            [
                PeriodState::Done,
                PeriodState::Missed,
                PeriodState::Due,
                PeriodState::Upcoming
            ]
        );
        assert_eq!(s.halves[0].state, PeriodState::Done);
        assert_eq!(s.halves[1].state, PeriodState::Due);
        assert_eq!(s.missed, ["2024-Q2"]);
        assert_eq!(s.quarters[0].records, ["q1"]);
        // At the year's end: Q2, Q3, Q4 and H2 missed.
        let s = schedule(&rows, (2025, 1, 2));
        assert_eq!(s.missed, ["2024-Q2", "2024-Q3", "2024-Q4", "2024-H2"]);
        // The last day of a quarter still counts as that quarter's.
        let s = schedule(&rows, (2024, 6, 30));
        assert_eq!(s.quarters[1].state, PeriodState::Due);
        // A record's `quarter` field wins over its date (a late entry for Q2).
        let mut late = visit(
            "q2",
            "quarterly_inspection",
            "2024-07-02T10:00:00+08:00",
            150.0,
        );
        late.1["quarter"] = json!("2024-Q2");
        let mut rows2 = rows.clone();
        rows2.push(late);
        assert!(schedule(&rows2, (2024, 8, 15)).missed.is_empty());
    }

    /// Below 100 t/day no schedule is owed: nothing is listed as missed.
    #[test]
    fn no_schedule_below_100_t_per_day() {
        let rows = vec![visit(
            "q1",
            "quarterly_inspection",
            "2024-03-20T10:00:00+08:00",
            99.0,
        )];
        let s = schedule(&rows, (2025, 1, 2));
        assert_eq!(s.schedule_required, Some(false));
        assert!(s.missed.is_empty());
        assert_eq!(
            s.quarters[1].state,
            PeriodState::Missed,
            "the periods still show"
        );
    }
}
