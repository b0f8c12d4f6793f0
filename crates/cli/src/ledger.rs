//! `jingtu ledger`: the county ledgers from the submitted and approved records on this device.

use anyhow::{Result, bail};
use jingtu_core::{
    BowStatus, DeviceCore, FacilitySchedule, OnlineDutyKind, PeriodState, WaterBody,
};

use crate::{out, with_bar};

fn status_zh(s: Option<BowStatus>) -> &'static str {
    match s {
        Some(BowStatus::BlackOdorous) => "黑臭",
        Some(BowStatus::NotBlackOdorous) => "不黑臭",
        Some(BowStatus::Undetermined) => "待定",
        None => "-",
    }
}

/// The water bodies: one line each, then each body's problems.
pub fn water_bodies(core: &DeviceCore, json: bool) -> Result<()> {
    let bodies = with_bar(json, "reading water body checks", |p| {
        core.water_body_ledger(p)
    })?;
    out(json, serde_json::to_value(&bodies)?, || {
        bodies_text(&bodies)
    });
    Ok(())
}

fn bodies_text(bodies: &[WaterBody]) -> String {
    if bodies.is_empty() {
        return "没有已提交的黑臭水体排查/复查记录 (no submitted water body checks here)".into();
    }
    let mut lines = vec![format!(
        "{:<18} {:<16} {:<10} {:<6} {:<4} {:<25} 问题",
        "水体编号", "名称", "治理阶段", "判定", "次数", "最近检查"
    )];
    for b in bodies {
        let state = b.state.map_or("-", |s| s.zh());
        let flag = if b.relapsed { " 返黑返臭!" } else { "" };
        lines.push(format!(
            "{:<18} {:<16} {:<10} {:<6} {:<4} {:<25} {}{flag}",
            b.body_code,
            b.body_name.as_deref().unwrap_or("-"),
            state,
            status_zh(b.status),
            b.checks.len(),
            b.last_checked_at.as_deref().unwrap_or("-"),
            b.problems.len(),
        ));
        for p in &b.problems {
            lines.push(format!(
                "    {} {}: {}",
                p.code,
                short(&p.record_id),
                p.message.zh
            ));
        }
    }
    lines.join("\n")
}

fn short(id: &str) -> &str {
    crate::short(id, 8)
}

/// Parses `YYYY-MM-DD`.
fn parse_day(s: &str) -> Result<(i32, u32, u32)> {
    match jingtu_core::parse_day(s) {
        Some(day) => Ok(day),
        None => bail!("{s:?} is not a date: write it as YYYY-MM-DD"),
    }
}

/// Today in China Standard Time.
fn today() -> (i32, u32, u32) {
    let now = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+8));
    (
        now.year(),
        u32::from(u8::from(now.month())),
        u32::from(now.day()),
    )
}

/// The sewage facilities' schedule for `year` as of `as_of` (default today).
pub fn facilities(
    core: &DeviceCore,
    json: bool,
    year: Option<i32>,
    as_of: Option<String>,
) -> Result<()> {
    let today = match as_of {
        Some(s) => parse_day(&s)?,
        None => today(),
    };
    let year = year.unwrap_or(today.0);
    let list = with_bar(json, "reading facility inspections", |p| {
        core.sewage_facility_schedule(year, today, p)
    })?;
    out(json, serde_json::to_value(&list)?, || {
        facilities_text(&list, year)
    });
    Ok(())
}

fn period_mark(s: PeriodState) -> &'static str {
    match s {
        PeriodState::Done => "已完成",
        PeriodState::Missed => "漏查",
        PeriodState::Due => "进行中",
        PeriodState::Upcoming => "未到",
    }
}

fn facilities_text(list: &[FacilitySchedule], year: i32) -> String {
    if list.is_empty() {
        return format!("{year}年没有已提交的污水处理设施巡查记录 (no submitted inspections here)");
    }
    let mut lines = Vec::new();
    for f in list {
        let scale = f
            .scale_t_d
            .map_or("-".to_string(), |s| format!("{s} 吨/日"));
        let owed = match f.schedule_required {
            Some(true) => "须每季度巡查、每半年监测",
            Some(false) => "不足100吨/日，无定期要求",
            None => "规模未填",
        };
        lines.push(format!(
            "{} {}（{scale}，{owed}）",
            f.facility_code,
            f.facility_name.as_deref().unwrap_or("")
        ));
        let periods: Vec<String> = f
            .quarters
            .iter()
            .chain(&f.halves)
            .map(|p| format!("{} {}", p.period, period_mark(p.state)))
            .collect();
        lines.push(format!("    {}", periods.join("  ")));
        if !f.missed.is_empty() {
            lines.push(format!("    漏查/漏测: {}", f.missed.join(", ")));
        }
        if let Some(d) = &f.online_duty {
            let what = match d.kind {
                OnlineDutyKind::Automatic => "水质自动监测联网",
                OnlineDutyKind::FlowAndVideo => "出水量和视频在线监控",
            };
            let state = match (d.met, d.overdue) {
                (Some(true), _) => "已完成",
                (_, true) => "逾期未完成",
                (Some(false), false) => "未完成",
                (None, false) => "未填写",
            };
            lines.push(format!("    {what}（期限 {}）: {state}", d.deadline));
        }
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days() {
        assert_eq!(parse_day("2024-08-15").unwrap(), (2024, 8, 15));
        assert!(parse_day("2024-13-01").is_err());
        assert!(parse_day("15/08/2024").is_err());
    }
}
