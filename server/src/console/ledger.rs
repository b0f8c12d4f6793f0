//! The county ledgers in the console: the black-odorous water bodies (黑臭水体台账) with their
//! stage, latest classification, relapses and problems, and the sewage facilities against
//! task 19's schedule, each linking to the records behind it.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use jingtu_model::ledger::{FacilitySchedule, PeriodState, WaterBody};
use jingtu_model::rules::black_odorous::BowStatus;
use jingtu_model::rules::sewage_facility::OnlineDutyKind;
use serde::Deserialize;

use super::pages::Chrome;
use super::text::{Lang, t};
use super::{Page, failed, html, lang_cookie, lang_of, require};
use crate::api::ledger::FacilitiesQuery;
use crate::api::{ApiError, blocking};

#[derive(Debug, Default, Deserialize)]
pub struct LedgerForm {
    pub lang: Option<String>,
    pub year: Option<String>,
    pub as_of: Option<String>,
}

/// The two ledgers' tabs.
pub struct Tab {
    pub href: &'static str,
    pub label: &'static str,
    pub active: bool,
}

fn tabs(lang: Lang, water: bool) -> Vec<Tab> {
    vec![
        Tab {
            href: "/ledger/water-bodies",
            label: t(lang, "黑臭水体台账", "Black-odorous water bodies"),
            active: water,
        },
        Tab {
            href: "/ledger/facilities",
            label: t(lang, "污水处理设施巡查监测", "Sewage facilities"),
            active: !water,
        },
    ]
}

/// A link to a record behind a figure.
pub struct RecordLink {
    pub href: String,
    pub text: String,
}

pub struct BodyRow {
    pub code: String,
    pub name: String,
    pub place: String,
    pub stage: String,
    pub status: String,
    /// `bad` for black-odorous, `ok` for not, empty otherwise.
    pub status_class: &'static str,
    pub relapsed: bool,
    /// Relapsed, but its records do not say so: the flag goes beside the stage.
    pub relapse_unrecorded: bool,
    pub last: String,
    pub checks: Vec<RecordLink>,
    pub problems: Vec<(RecordLink, String)>,
}

pub struct LedgerWords {
    pub heading: &'static str,
    pub intro: &'static str,
    pub empty: &'static str,
    pub code: &'static str,
    pub name: &'static str,
    pub place: &'static str,
    pub stage: &'static str,
    pub status: &'static str,
    pub last: &'static str,
    pub records: &'static str,
    pub problems: &'static str,
    pub relapsed: &'static str,
    pub summary: String,
}

#[derive(Template)]
#[template(path = "console/ledger_bodies.html")]
pub struct BodiesPage {
    pub chrome: Chrome,
    pub tabs: Vec<Tab>,
    pub rows: Vec<BodyRow>,
    pub w: LedgerWords,
}

/// `2024-07-16T09:30:00+08:00` as `2024-07-16 09:30`.
fn when(at: &str) -> String {
    at.chars()
        .take(16)
        .map(|c| if c == 'T' { ' ' } else { c })
        .collect()
}

fn link(id: &str, text: String) -> RecordLink {
    RecordLink {
        href: format!("/records/{id}"),
        text,
    }
}

fn status_words(lang: Lang, s: Option<BowStatus>) -> (String, &'static str) {
    match s {
        Some(BowStatus::BlackOdorous) => (t(lang, "黑臭", "black-odorous").into(), "bad"),
        Some(BowStatus::NotBlackOdorous) => (t(lang, "不黑臭", "not black-odorous").into(), "ok"),
        Some(BowStatus::Undetermined) => (t(lang, "待定", "undetermined").into(), ""),
        None => ("-".into(), ""),
    }
}

fn body_row(lang: Lang, b: &WaterBody) -> BodyRow {
    let (status, status_class) = status_words(lang, b.status);
    BodyRow {
        code: b.body_code.clone(),
        name: b.body_name.clone().unwrap_or_default(),
        place: b.village_name.clone().unwrap_or_default(),
        stage: b.state.map_or_else(
            || "-".to_string(),
            |s| match lang {
                Lang::Zh => s.zh().to_string(),
                Lang::En => s.code().replace('_', " "),
            },
        ),
        status,
        status_class,
        relapsed: b.relapsed,
        relapse_unrecorded: b.relapsed
            && b.state != Some(jingtu_model::rules::black_odorous::Lifecycle::Relapsed),
        last: b.last_checked_at.as_deref().map(when).unwrap_or_default(),
        checks: b
            .checks
            .iter()
            .map(|c| {
                let day: String = c
                    .checked_at
                    .as_deref()
                    .unwrap_or("?")
                    .chars()
                    .take(10)
                    .collect();
                link(&c.record_id, day)
            })
            .collect(),
        problems: b
            .problems
            .iter()
            .map(|p| {
                let msg = match lang {
                    Lang::Zh => p.message.zh.clone(),
                    Lang::En => p.message.en.clone(),
                };
                (
                    link(&p.record_id, t(lang, "查看记录", "record").into()),
                    msg,
                )
            })
            .collect(),
    }
}

pub async fn water_bodies_page(
    State(state): State<crate::api::Shared>,
    headers: HeaderMap,
    Query(form): Query<LedgerForm>,
) -> Page {
    let lang = lang_of(&headers, form.lang.as_deref());
    let here = "/ledger/water-bodies";
    let s = require(&state, &headers, here).await?;
    let st = state.clone();
    let actor = s.actor.clone();
    let bodies = blocking(move || Ok(crate::ledger::water_bodies(&st.ctx, &actor)?))
        .await
        .map_err(|e| failed(lang, e))?;
    let relapsed = bodies.iter().filter(|b| b.relapsed).count();
    let with_problems = bodies.iter().filter(|b| !b.problems.is_empty()).count();
    let page = BodiesPage {
        chrome: Chrome::new(
            lang,
            t(lang, "黑臭水体台账", "Black-odorous water bodies").into(),
            Some((&s.actor, &s.csrf)),
            here,
        ),
        tabs: tabs(lang, true),
        rows: bodies.iter().map(|b| body_row(lang, b)).collect(),
        w: LedgerWords {
            heading: t(lang, "黑臭水体台账", "Black-odorous water bodies"),
            intro: t(
                lang,
                "按已提交和已审核的排查、复查记录汇总。治理阶段：已排查识别 → 已列入清单 → 治理中 → 治理完成 → 已验收销号 → 长效管护；验收后再次黑臭即为返黑返臭。",
                "From the submitted and approved screenings and re-checks. Stages: identified → listed → under treatment → completed → accepted → maintenance; black-odorous again after acceptance is a relapse.",
            ),
            empty: t(
                lang,
                "您负责的区域内还没有已提交的黑臭水体排查或复查记录。",
                "No submitted water body check within your org units yet.",
            ),
            code: t(lang, "水体编号", "Body code"),
            name: t(lang, "名称", "Name"),
            place: t(lang, "所在村", "Village"),
            stage: t(lang, "治理阶段", "Stage"),
            status: t(lang, "最近判定", "Latest classification"),
            last: t(lang, "最近检查", "Last checked"),
            records: t(lang, "检查记录", "Checks"),
            problems: t(lang, "问题", "Problems"),
            relapsed: t(lang, "返黑返臭", "relapsed"),
            summary: match lang {
                Lang::Zh => format!(
                    "共 {} 个水体，其中返黑返臭 {relapsed} 个，记录有问题 {with_problems} 个。",
                    bodies.len()
                ),
                Lang::En => format!(
                    "{} bodies; {relapsed} relapsed; {with_problems} with problems in their records.",
                    bodies.len()
                ),
            },
        },
    };
    let mut r = html(StatusCode::OK, page.render());
    super::set_cookies(&mut r, &[lang_cookie(lang)]);
    Ok(r)
}

pub struct PeriodCell {
    pub period: String,
    pub label: &'static str,
    /// `done`, `missed`, `due`, `upcoming`.
    pub class: &'static str,
    pub records: Vec<RecordLink>,
}

pub struct FacilityRow {
    pub code: String,
    pub name: String,
    pub place: String,
    pub scale: String,
    pub owed: String,
    pub periods: Vec<PeriodCell>,
    pub missed: String,
    pub online: String,
    pub online_class: &'static str,
}

pub struct FacilityWords {
    pub heading: &'static str,
    pub intro: &'static str,
    pub empty: &'static str,
    pub year: &'static str,
    pub as_of: &'static str,
    pub apply: &'static str,
    pub facility: &'static str,
    pub scale: &'static str,
    pub schedule: &'static str,
    pub missed: &'static str,
    pub online: &'static str,
    pub summary: String,
}

#[derive(Template)]
#[template(path = "console/ledger_facilities.html")]
pub struct FacilitiesPage {
    pub chrome: Chrome,
    pub tabs: Vec<Tab>,
    pub year: i32,
    pub as_of: String,
    pub rows: Vec<FacilityRow>,
    pub w: FacilityWords,
}

fn facility_row(lang: Lang, f: &FacilitySchedule) -> FacilityRow {
    let periods = f
        .quarters
        .iter()
        .chain(&f.halves)
        .map(|p| {
            let (label, class) = match p.state {
                PeriodState::Done => (t(lang, "已完成", "done"), "done"),
                PeriodState::Missed => (t(lang, "漏查", "missed"), "missed"),
                PeriodState::Due => (t(lang, "进行中", "due"), "due"),
                PeriodState::Upcoming => (t(lang, "未到", "upcoming"), "upcoming"),
            };
            let is_half = p.period.contains('H');
            let label = if is_half && p.state == PeriodState::Missed {
                t(lang, "漏测", "missed")
            } else {
                label
            };
            PeriodCell {
                period: p.period.clone(),
                label,
                class,
                records: p
                    .records
                    .iter()
                    .map(|id| link(id, t(lang, "记录", "record").into()))
                    .collect(),
            }
        })
        .collect();
    let (online, online_class) = match &f.online_duty {
        None => ("-".to_string(), ""),
        Some(d) => {
            let what = match d.kind {
                OnlineDutyKind::Automatic => t(lang, "水质自动监测联网", "automatic monitoring"),
                OnlineDutyKind::FlowAndVideo => t(lang, "出水量和视频监控", "flow and video"),
            };
            let (state, class) = match (d.met, d.overdue) {
                (Some(true), _) => (t(lang, "已完成", "done"), "ok"),
                (_, true) => (t(lang, "逾期未完成", "overdue"), "bad"),
                (Some(false), false) => (t(lang, "未完成", "not yet"), ""),
                (None, false) => (t(lang, "未填写", "not recorded"), ""),
            };
            (
                format!(
                    "{what}（{} {}）：{state}",
                    t(lang, "期限", "by"),
                    d.deadline
                ),
                class,
            )
        }
    };
    FacilityRow {
        code: f.facility_code.clone(),
        name: f.facility_name.clone().unwrap_or_default(),
        place: [f.township.clone(), f.village_name.clone()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" "),
        scale: f.scale_t_d.map_or_else(
            || "-".into(),
            |s| format!("{s} {}", t(lang, "吨/日", "t/day")),
        ),
        owed: match f.schedule_required {
            Some(true) => t(
                lang,
                "每季度巡查、每半年监测",
                "quarterly inspection, half-yearly monitoring",
            ),
            Some(false) => t(
                lang,
                "不足100吨/日，无定期要求",
                "under 100 t/day: no schedule",
            ),
            None => t(lang, "规模未填写", "scale not recorded"),
        }
        .into(),
        periods,
        missed: f.missed.join("、"),
        online,
        online_class,
    }
}

pub async fn facilities_page(
    State(state): State<crate::api::Shared>,
    headers: HeaderMap,
    Query(form): Query<LedgerForm>,
) -> Page {
    let lang = lang_of(&headers, form.lang.as_deref());
    let here = "/ledger/facilities";
    let s = require(&state, &headers, here).await?;
    let year = match form
        .year
        .as_deref()
        .map(str::trim)
        .filter(|y| !y.is_empty())
    {
        Some(y) => Some(y.parse::<i32>().map_err(|_| {
            failed(
                lang,
                ApiError::bad_request("invalid_value", format!("year: {y} is not a year")),
            )
        })?),
        None => None,
    };
    let query = FacilitiesQuery {
        year,
        as_of: form.as_of.clone(),
    };
    let (year, today) = query.resolve().map_err(|e| failed(lang, e))?;
    let st = state.clone();
    let actor = s.actor.clone();
    let list = blocking(move || {
        Ok(crate::ledger::sewage_facilities(
            &st.ctx, &actor, year, today,
        )?)
    })
    .await
    .map_err(|e| failed(lang, e))?;
    let owed: Vec<&FacilitySchedule> = list
        .iter()
        .filter(|f| f.schedule_required == Some(true))
        .collect();
    let missing = owed.iter().filter(|f| !f.missed.is_empty()).count();
    let as_of = format!("{:04}-{:02}-{:02}", today.0, today.1, today.2);
    let page = FacilitiesPage {
        chrome: Chrome::new(
            lang,
            t(lang, "污水处理设施巡查监测", "Sewage facilities").into(),
            Some((&s.actor, &s.csrf)),
            here,
        ),
        tabs: tabs(lang, false),
        year,
        rows: list.iter().map(|f| facility_row(lang, f)).collect(),
        w: FacilityWords {
            heading: t(lang, "污水处理设施巡查监测", "Sewage facilities"),
            intro: t(
                lang,
                "日处理100吨及以上（按实际处理水量与设计规模取大者）的设施每季度巡查一次、每半年监测一次进出水水质；500吨及以上7月底前水质自动监测联网，100-500吨12月底前安装出水量和视频在线监控。按已提交和已审核的记录判断。",
                "Facilities of 100 t/day or more (the larger of throughput and design) are inspected every quarter and monitored every half year; from 500 t/day automatic monitoring is networked by the end of July, 100-500 t/day have flow and video online by the end of December. Judged from submitted and approved records.",
            ),
            empty: t(
                lang,
                "这一年您负责的区域内还没有已提交的设施巡查或监测记录。",
                "No submitted facility inspection within your org units this year.",
            ),
            year: t(lang, "年度", "Year"),
            as_of: t(lang, "截至日期", "As of"),
            apply: t(lang, "查看", "Show"),
            facility: t(lang, "设施", "Facility"),
            scale: t(lang, "规模", "Scale"),
            schedule: t(lang, "季度巡查 / 半年监测", "Quarters / half-years"),
            missed: t(lang, "漏查漏测", "Missed"),
            online: t(lang, "在线监控", "Online monitoring"),
            summary: match lang {
                Lang::Zh => format!(
                    "{year}年：共 {} 个设施，{} 个须定期巡查监测，其中 {missing} 个有漏查或漏测（截至 {as_of}）。",
                    list.len(),
                    owed.len()
                ),
                Lang::En => format!(
                    "{year}: {} facilities, {} owe the schedule, {missing} of them missed a period (as of {as_of}).",
                    list.len(),
                    owed.len()
                ),
            },
        },
        as_of,
    };
    let mut r = html(StatusCode::OK, page.render());
    super::set_cookies(&mut r, &[lang_cookie(lang)]);
    Ok(r)
}
