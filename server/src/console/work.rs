//! The console's pages for what a supervisor manages besides records: the assignments of field
//! work (give, hand over, take back) and the field users with their phones (see, revoke, issue
//! an enrollment code). The checks are the JSON API's ([`crate::assignments`],
//! [`crate::people::service`]); these pages only read forms and lay out what they return.

use std::collections::{BTreeSet, HashMap};

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use jingtu_protocol::{Assignment, AssignmentTarget};
use serde::Deserialize;

use super::pages::{Choice, Chrome};
use super::text::{self, Lang, t, when};
use super::{Page, Session, encode, error_page, failed, html, lang_cookie, lang_of, require};
use crate::Context;
use crate::actor::Actor;
use crate::api::auth::Remote;
use crate::api::{ApiError, Shared, blocking};
use crate::assignments::{self, AssignmentRequest};
use crate::people::same_secret;
use crate::people::service::{self, Origin};
use crate::storage::{AuditAction, TokenInfo, UserInfo};

/// At most this many org units are offered as suggestions in the form (a province holds tens
/// of thousands); any other code may still be typed.
const MAX_UNIT_SUGGESTIONS: usize = 3000;

/// The page after a change: back to the list, with what was done, or the list again with the
/// error in place.
fn done(path: &str, what: &str) -> Response {
    Redirect::to(&format!("{path}?done={what}")).into_response()
}

/// The refusal of a form without the session's CSRF token, if it lacks it.
fn forged(lang: Lang, s: &Session, given: &str) -> Option<Response> {
    (!same_secret(given, &s.csrf))
        .then(|| error_page(lang, StatusCode::FORBIDDEN, text::csrf(lang)))
}

fn target_label(lang: Lang, target: AssignmentTarget) -> &'static str {
    match target {
        AssignmentTarget::Village => t(lang, "村庄", "Village"),
        AssignmentTarget::WaterBody => t(lang, "水体", "Water body"),
        AssignmentTarget::SamplingPoint => t(lang, "采样点位", "Sampling point"),
    }
}

fn role_label(lang: Lang, role: jingtu_model::Role) -> &'static str {
    use jingtu_model::Role;
    match role {
        Role::Inspector => t(lang, "巡查员", "inspector"),
        Role::Sampler => t(lang, "采样员", "sampler"),
        Role::Lab => t(lang, "检测员", "lab staff"),
        Role::Supervisor => t(lang, "审核员", "supervisor"),
        Role::Admin => t(lang, "管理员", "admin"),
    }
}

const KINDS: [&str; 4] = [
    "village_inspection",
    "water_body_check",
    "sewage_facility_inspection",
    "soil_sample",
];

// ---- Assignments ---------------------------------------------------------------------------

/// What the assignments page lists and offers, read in one go.
struct AssignmentsData {
    rows: Vec<Assignment>,
    /// Active field users the supervisor manages: who work may go to.
    field_users: Vec<UserInfo>,
    /// Org unit names by code, for the rows and the suggestions.
    unit_names: HashMap<String, String>,
    /// Org units within the supervisor's reach, in code order, as suggestions.
    suggestions: Vec<(String, String)>,
}

fn assignments_data(
    ctx: &Context,
    actor: &Actor,
    assignee: Option<&str>,
) -> Result<AssignmentsData, ApiError> {
    let rows = assignments::visible(ctx.scope.as_ref(), actor, assignee, false)?;
    let field_users = service::managed_users(ctx, actor)?
        .into_iter()
        .filter(|u| u.role.is_field() && !u.disabled)
        .collect();
    let mut suggestions = Vec::new();
    let roots: Vec<Option<&str>> = if actor.role == jingtu_model::Role::Admin {
        vec![None]
    } else {
        actor.org_units.iter().map(|u| Some(u.as_str())).collect()
    };
    for root in roots {
        for u in ctx.auth.org_units(root)? {
            if suggestions.len() >= MAX_UNIT_SUGGESTIONS {
                break;
            }
            suggestions.push((u.code, u.name));
        }
    }
    let mut unit_names: HashMap<String, String> = suggestions.iter().cloned().collect();
    let missing: BTreeSet<&str> = rows
        .iter()
        .map(|a| a.org_unit.as_str())
        .filter(|c| !unit_names.contains_key(*c))
        .collect();
    for code in missing {
        if let Some(u) = ctx.auth.org_unit(code)? {
            unit_names.insert(u.code, u.name);
        }
    }
    Ok(AssignmentsData {
        rows,
        field_users,
        unit_names,
        suggestions,
    })
}

pub struct AssignmentRow {
    pub id: String,
    pub target: String,
    pub target_kind: &'static str,
    pub kind: String,
    pub place: String,
    pub assignee: String,
    pub due: String,
    pub note: String,
    pub given: String,
    /// Who the work may be handed to instead.
    pub others: Vec<String>,
}

pub struct Person {
    pub name: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "console/assignments.html")]
pub struct AssignmentsPage {
    pub chrome: Chrome,
    pub rows: Vec<AssignmentRow>,
    pub people: Vec<Person>,
    pub kinds: Vec<Choice>,
    pub targets: Vec<Choice>,
    pub units: Vec<(String, String)>,
    /// What was typed into the give form, shown again when it was refused.
    pub typed: GiveForm,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub w: AssignmentWords,
}

pub struct AssignmentWords {
    pub heading: &'static str,
    pub give: &'static str,
    pub intro: &'static str,
    pub assignee: &'static str,
    pub choose: &'static str,
    pub kind: &'static str,
    pub target_kind: &'static str,
    pub target: &'static str,
    pub target_hint: &'static str,
    pub target_name: &'static str,
    pub target_col: &'static str,
    pub org_unit: &'static str,
    pub org_unit_hint: &'static str,
    pub due: &'static str,
    pub note: &'static str,
    pub submit: &'static str,
    pub list: &'static str,
    pub show_for: &'static str,
    pub everyone: &'static str,
    pub apply: &'static str,
    pub empty: &'static str,
    pub place: &'static str,
    pub given: &'static str,
    pub actions: &'static str,
    pub hand_over: &'static str,
    pub hand_over_to: &'static str,
    pub take_back: &'static str,
    pub take_back_hint: &'static str,
    pub no_users: &'static str,
}

impl AssignmentsPage {
    fn new(
        lang: Lang,
        s: &Session,
        data: AssignmentsData,
        filter: Option<&str>,
        notice: Option<String>,
        error: Option<String>,
        typed: Option<GiveForm>,
    ) -> AssignmentsPage {
        let place = |code: &str| match data.unit_names.get(code) {
            Some(name) => format!("{name}（{code}）"),
            None => code.to_string(),
        };
        let rows = data
            .rows
            .iter()
            .map(|a| AssignmentRow {
                id: a.id.clone(),
                target: if a.target_name.is_empty() || a.target_name == a.target {
                    a.target.clone()
                } else {
                    format!("{}（{}）", a.target_name, a.target)
                },
                target_kind: target_label(lang, a.target_kind),
                kind: text::kind(lang, &a.kind),
                place: place(&a.org_unit),
                assignee: a.assignee.clone(),
                due: a.due_date.clone().unwrap_or_default(),
                note: a.note.clone().unwrap_or_default(),
                given: format!("{} {}", a.assigned_by, when(a.assigned_at_ms)),
                others: data
                    .field_users
                    .iter()
                    .filter(|u| u.name != a.assignee)
                    .map(|u| u.name.clone())
                    .collect(),
            })
            .collect();
        let people = data
            .field_users
            .iter()
            .map(|u| Person {
                name: u.name.clone(),
                label: format!("{}（{}）", u.name, role_label(lang, u.role)),
                selected: filter == Some(u.name.as_str()),
            })
            .collect();
        let kinds = KINDS
            .into_iter()
            .map(|k| Choice {
                value: k,
                label: text::kind(lang, k),
                selected: false,
            })
            .collect();
        let targets = [
            AssignmentTarget::Village,
            AssignmentTarget::WaterBody,
            AssignmentTarget::SamplingPoint,
        ]
        .into_iter()
        .map(|k| Choice {
            value: k.as_str(),
            label: target_label(lang, k).into(),
            selected: false,
        })
        .collect();
        AssignmentsPage {
            chrome: Chrome::new(
                lang,
                t(lang, "任务分配", "Assignments").into(),
                Some((&s.actor, &s.csrf)),
                &match filter {
                    Some(f) => format!("/assignments?assignee={}", encode(f)),
                    None => "/assignments".into(),
                },
            ),
            rows,
            people,
            kinds,
            targets,
            units: data.suggestions,
            typed: typed.unwrap_or_default(),
            notice,
            error,
            w: AssignmentWords {
                heading: t(lang, "任务分配", "Assignments"),
                give: t(lang, "分配新任务", "Give a new assignment"),
                intro: t(
                    lang,
                    "任务在巡查员、采样员下次同步时出现在他们的手机上。",
                    "The work reaches the field user's phone at its next sync.",
                ),
                assignee: t(lang, "分配给", "Assign to"),
                choose: t(lang, "请选择", "Choose"),
                kind: t(lang, "记录类型", "Record kind"),
                target_kind: t(lang, "对象类型", "Target kind"),
                target: t(lang, "对象编码", "Target code"),
                target_hint: t(
                    lang,
                    "村庄填12位区划代码，水体填水体编码，点位填点位编号。",
                    "A village's 12-digit division code, a water body's code, or a point code.",
                ),
                target_name: t(lang, "对象名称", "Target name"),
                target_col: t(lang, "对象", "Target"),
                org_unit: t(lang, "所属单位（12位代码）", "Org unit (12-digit code)"),
                org_unit_hint: t(
                    lang,
                    "对象为村庄时可不填，默认为该村。",
                    "May stay empty for a village: the village itself.",
                ),
                due: t(lang, "完成期限", "Due by"),
                note: t(lang, "说明", "Note"),
                submit: t(lang, "分配", "Assign"),
                list: t(lang, "进行中的任务", "Current assignments"),
                show_for: t(lang, "查看人员", "Show for"),
                everyone: t(lang, "全部人员", "Everyone"),
                apply: t(lang, "筛选", "Filter"),
                empty: t(lang, "没有进行中的任务。", "No current assignments."),
                place: t(lang, "单位", "Org unit"),
                given: t(lang, "分配人、时间", "Given by, at"),
                actions: t(lang, "操作", "Actions"),
                hand_over: t(lang, "转交", "Hand over"),
                hand_over_to: t(lang, "转交给", "Hand over to"),
                take_back: t(lang, "收回", "Take back"),
                take_back_hint: t(
                    lang,
                    "收回后，相关记录在对方下次同步时从手机上移除（未同步的修改会保留）。",
                    "Taken back, its records leave the phone at the next sync (unsynced edits are kept).",
                ),
                no_users: t(
                    lang,
                    "您管辖的单位里还没有巡查员或采样员。",
                    "No inspectors or samplers in your org units yet.",
                ),
            },
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    assignee: Option<String>,
    done: Option<String>,
    lang: Option<String>,
}

fn notice(lang: Lang, done: Option<&str>) -> Option<String> {
    let s = match done? {
        "given" => t(lang, "任务已分配。", "The assignment was given."),
        "handed" => t(lang, "任务已转交。", "The assignment was handed over."),
        "taken" => t(lang, "任务已收回。", "The assignment was taken back."),
        "revoked" => t(
            lang,
            "设备已停用，它的下一次请求将被拒绝。",
            "The device is revoked: its next request is refused.",
        ),
        _ => return None,
    };
    Some(s.to_string())
}

/// The assignments page, with `error` shown above the forms when a change was refused.
async fn render_assignments(
    state: &Shared,
    lang: Lang,
    s: &Session,
    filter: Option<String>,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
    typed: Option<GiveForm>,
) -> Page {
    let st = state.clone();
    let actor = s.actor.clone();
    let who = filter.clone();
    let data = blocking(move || assignments_data(&st.ctx, &actor, who.as_deref()))
        .await
        .map_err(|e| failed(lang, e))?;
    let (status, error) = match error {
        Some((status, e)) => (status, Some(e)),
        None => (StatusCode::OK, None),
    };
    let mut r = html(
        status,
        AssignmentsPage::new(lang, s, data, filter.as_deref(), notice, error, typed).render(),
    );
    super::set_cookies(&mut r, &[lang_cookie(lang)]);
    Ok(r)
}

pub async fn assignments_page(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Page {
    let lang = lang_of(&headers, q.lang.as_deref());
    let s = require(&state, &headers, "/assignments").await?;
    let filter = q.assignee.filter(|a| !a.trim().is_empty());
    let notice = notice(lang, q.done.as_deref());
    render_assignments(&state, lang, &s, filter, notice, None, None).await
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct GiveForm {
    csrf: String,
    assignee: String,
    kind: String,
    target_kind: String,
    target: String,
    #[serde(default)]
    target_name: String,
    #[serde(default)]
    org_unit: String,
    #[serde(default)]
    due_date: String,
    #[serde(default)]
    note: String,
}

impl GiveForm {
    /// The request the API takes; a village's own code stands for its org unit, and its name
    /// for the target's when none is typed.
    fn request(&self, ctx: &Context) -> Result<AssignmentRequest, ApiError> {
        let target_kind = AssignmentTarget::parse(self.target_kind.trim()).ok_or_else(|| {
            ApiError::bad_request(
                "bad_assignment",
                "target kind: one of village, water_body, sampling_point",
            )
        })?;
        let target = self.target.trim().to_string();
        let mut org_unit = self.org_unit.trim().to_string();
        let mut target_name = self.target_name.trim().to_string();
        if target_kind == AssignmentTarget::Village {
            if org_unit.is_empty() {
                org_unit = target.clone();
            }
            if target_name.is_empty()
                && let Some(u) = ctx.auth.org_unit(&target)?
            {
                target_name = u.name;
            }
        }
        if org_unit.is_empty() {
            return Err(ApiError::bad_request(
                "bad_assignment",
                "org unit: the 12-digit code of the unit the work lies in",
            ));
        }
        let optional = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        Ok(AssignmentRequest {
            assignee: self.assignee.trim().to_string(),
            target_kind,
            target,
            target_name,
            kind: self.kind.trim().to_string(),
            org_unit,
            due_date: optional(&self.due_date),
            note: optional(&self.note),
        })
    }
}

/// A change of an assignment from a form: the session and its CSRF token checked, `change`
/// run off the async threads, then back to the list with `what` was done, or the page again
/// with the reason (and, for the give form, what was typed).
async fn change_assignment(
    state: Shared,
    headers: HeaderMap,
    csrf: &str,
    what: &str,
    typed: Option<GiveForm>,
    change: impl FnOnce(&Context, &Actor) -> Result<(), ApiError> + Send + 'static,
) -> Page {
    let lang = lang_of(&headers, None);
    let s = require(&state, &headers, "/assignments").await?;
    if let Some(refused) = forged(lang, &s, csrf) {
        return Err(refused);
    }
    let st = state.clone();
    let actor = s.actor.clone();
    match blocking(move || change(&st.ctx, &actor)).await {
        Ok(()) => Ok(done("/assignments", what)),
        Err(e) => refused(&state, lang, &s, e, typed).await,
    }
}

/// Gives an assignment; a refusal shows the page again with the reason and what was typed.
pub async fn give_form(
    State(state): State<Shared>,
    headers: HeaderMap,
    Form(f): Form<GiveForm>,
) -> Page {
    let csrf = f.csrf.clone();
    let typed = f.clone();
    change_assignment(
        state,
        headers,
        &csrf,
        "given",
        Some(typed),
        move |ctx, actor| {
            let req = f.request(ctx)?;
            assignments::create(ctx.auth.as_ref(), ctx.scope.as_ref(), actor, &req)?;
            Ok(())
        },
    )
    .await
}

/// Why an assignment was refused, in plain words.
fn assignment_error(lang: Lang, e: &ApiError) -> String {
    let plain = match e.code {
        "out_of_scope" => t(
            lang,
            "所选单位或人员不在您管辖的区域内。",
            "That org unit or user lies outside your org units.",
        ),
        "no_such_user" => t(lang, "没有这个用户。", "No such user."),
        "not_found" => t(
            lang,
            "找不到这项任务，它可能已被收回。",
            "No such assignment: it may have been taken back.",
        ),
        "forbidden" => t(
            lang,
            "只有审核员和管理员可以分配任务。",
            "Only supervisors and admins give assignments.",
        ),
        "bad_assignment" => {
            return format!(
                "{}{}",
                t(lang, "任务信息有误：", "The assignment is not valid: "),
                e.message
            );
        }
        _ => return text::error_message(lang, e.code, &e.message),
    };
    plain.to_string()
}

/// The page again after a refused change, with the reason (and, for the give form, what was
/// typed, so nothing has to be typed twice).
async fn refused(
    state: &Shared,
    lang: Lang,
    s: &Session,
    e: ApiError,
    typed: Option<GiveForm>,
) -> Page {
    if e.status.is_server_error() || e.status == StatusCode::UNAUTHORIZED {
        return Err(failed(lang, e));
    }
    let message = assignment_error(lang, &e);
    render_assignments(state, lang, s, None, None, Some((e.status, message)), typed).await
}

#[derive(Debug, Deserialize)]
pub struct HandOverForm {
    csrf: String,
    assignee: String,
}

pub async fn hand_over_form(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<HandOverForm>,
) -> Page {
    change_assignment(
        state,
        headers,
        &f.csrf,
        "handed",
        None,
        move |ctx, actor| {
            assignments::reassign(
                ctx.auth.as_ref(),
                ctx.scope.as_ref(),
                actor,
                &id,
                &f.assignee,
            )?;
            Ok(())
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

pub async fn take_back_form(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Page {
    change_assignment(state, headers, &f.csrf, "taken", None, move |ctx, actor| {
        assignments::remove(ctx.scope.as_ref(), actor, &id)?;
        Ok(())
    })
    .await
}

// ---- People and devices --------------------------------------------------------------------

pub struct DeviceRow {
    pub id: i64,
    pub label: String,
    pub device: String,
    pub app: String,
    pub enrolled: String,
    pub last_seen: String,
    pub revoked: bool,
    pub state: String,
}

pub struct UserRow {
    pub name: String,
    pub role: &'static str,
    pub units: String,
    pub state: String,
    pub field: bool,
    pub enroll_href: String,
    pub assignments_href: String,
    pub devices: Vec<DeviceRow>,
}

#[derive(Template)]
#[template(path = "console/people.html")]
pub struct PeoplePage {
    pub chrome: Chrome,
    pub users: Vec<UserRow>,
    pub notice: Option<String>,
    pub w: PeopleWords,
}

pub struct PeopleWords {
    pub heading: &'static str,
    pub intro: &'static str,
    pub empty: &'static str,
    pub units: &'static str,
    pub state: &'static str,
    pub devices: &'static str,
    pub no_devices: &'static str,
    pub label: &'static str,
    pub device: &'static str,
    pub app: &'static str,
    pub enrolled: &'static str,
    pub last_seen: &'static str,
    pub revoke: &'static str,
    pub enroll: &'static str,
    pub assignments: &'static str,
}

impl PeoplePage {
    fn new(
        lang: Lang,
        s: &Session,
        users: Vec<UserInfo>,
        tokens: Vec<TokenInfo>,
        unit_names: &HashMap<String, String>,
        notice: Option<String>,
    ) -> PeoplePage {
        let now = crate::people::now_ms();
        let mut by_user: HashMap<String, Vec<TokenInfo>> = HashMap::new();
        for tk in tokens {
            by_user.entry(tk.user.clone()).or_default().push(tk);
        }
        let users = users
            .into_iter()
            .map(|u| {
                let mut devices = by_user.remove(&u.name).unwrap_or_default();
                devices.sort_by_key(|d| (d.revoked, std::cmp::Reverse(d.created_at_ms)));
                UserRow {
                    role: role_label(lang, u.role),
                    units: u
                        .org_units
                        .iter()
                        .map(|c| match unit_names.get(c) {
                            Some(n) => format!("{n}（{c}）"),
                            None => c.clone(),
                        })
                        .collect::<Vec<_>>()
                        .join("、"),
                    state: if u.disabled {
                        t(lang, "已停用", "disabled").into()
                    } else if u.locked_until_ms.is_some_and(|l| l > now) {
                        t(lang, "登录已锁定", "login locked").into()
                    } else {
                        t(lang, "正常", "active").into()
                    },
                    field: u.role.is_field() && !u.disabled,
                    enroll_href: format!("/enroll?user={}", encode(&u.name)),
                    assignments_href: format!("/assignments?assignee={}", encode(&u.name)),
                    devices: devices
                        .into_iter()
                        .map(|d| DeviceRow {
                            id: d.id,
                            label: d.label.unwrap_or_else(|| "—".into()),
                            device: d
                                .device_id
                                .map(|id| id.chars().take(12).collect())
                                .unwrap_or_default(),
                            app: d.app_version.unwrap_or_default(),
                            enrolled: when(d.created_at_ms),
                            last_seen: d
                                .last_seen_ms
                                .map(when)
                                .unwrap_or_else(|| t(lang, "从未同步", "never").to_string()),
                            revoked: d.revoked,
                            state: match d.revoked_at_ms {
                                Some(at) => {
                                    format!("{} {}", t(lang, "已停用", "revoked"), when(at))
                                }
                                None if d.revoked => t(lang, "已停用", "revoked").into(),
                                None => t(lang, "使用中", "active").into(),
                            },
                        })
                        .collect(),
                    name: u.name,
                }
            })
            .collect();
        PeoplePage {
            chrome: Chrome::new(
                lang,
                t(lang, "人员与设备", "People and devices").into(),
                Some((&s.actor, &s.csrf)),
                "/people",
            ),
            users,
            notice,
            w: PeopleWords {
                heading: t(lang, "人员与设备", "People and devices"),
                intro: t(
                    lang,
                    "您管辖的巡查员、采样员及其手机。手机丢失或人员离岗时，请停用其设备。",
                    "The inspectors and samplers you manage, with their phones. Revoke a phone that is lost or whose user left.",
                ),
                empty: t(
                    lang,
                    "您管辖的单位里还没有人员。",
                    "No users in your org units yet.",
                ),
                units: t(lang, "所属单位", "Org units"),
                state: t(lang, "状态", "State"),
                devices: t(lang, "设备", "Devices"),
                no_devices: t(lang, "尚未登记设备", "No device enrolled"),
                label: t(lang, "设备名称", "Device"),
                device: t(lang, "设备标识", "Device id"),
                app: t(lang, "应用版本", "App version"),
                enrolled: t(lang, "登记时间", "Enrolled"),
                last_seen: t(lang, "最近同步", "Last sync"),
                revoke: t(lang, "停用设备", "Revoke"),
                enroll: t(lang, "发放登记码", "Issue an enrollment code"),
                assignments: t(lang, "查看任务", "Assignments"),
            },
        }
    }
}

pub async fn people_page(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Page {
    let lang = lang_of(&headers, q.lang.as_deref());
    let s = require(&state, &headers, "/people").await?;
    let st = state.clone();
    let actor = s.actor.clone();
    let (users, tokens, names) = blocking(move || {
        let users = service::managed_users(&st.ctx, &actor)?;
        let tokens = service::devices(&st.ctx, &actor, None)?;
        let mut names = HashMap::new();
        for code in users.iter().flat_map(|u| u.org_units.iter()) {
            if !names.contains_key(code)
                && let Some(unit) = st.ctx.auth.org_unit(code)?
            {
                names.insert(unit.code, unit.name);
            }
        }
        Ok((users, tokens, names))
    })
    .await
    .map_err(|e| failed(lang, e))?;
    let notice = notice(lang, q.done.as_deref());
    let mut r = html(
        StatusCode::OK,
        PeoplePage::new(lang, &s, users, tokens, &names, notice).render(),
    );
    super::set_cookies(&mut r, &[lang_cookie(lang)]);
    Ok(r)
}

/// Revokes a phone's token (audited as the API's revocation is).
pub async fn revoke_form(
    State(state): State<Shared>,
    Remote(remote): Remote,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<CsrfOnly>,
) -> Page {
    let lang = lang_of(&headers, None);
    let s = require(&state, &headers, "/people").await?;
    if let Some(refused) = forged(lang, &s, &f.csrf) {
        return Err(refused);
    }
    let st = state.clone();
    let actor = s.actor.clone();
    let revoked = blocking(move || {
        Ok(service::revoke_device(
            &st.ctx,
            &actor,
            id,
            AuditAction::DeviceRevoked,
            Origin(remote),
        )?)
    })
    .await;
    match revoked {
        Ok(_) => Ok(done("/people", "revoked")),
        Err(e) => {
            let plain = match e.code {
                "out_of_scope" => t(
                    lang,
                    "这台设备的使用人不在您管辖的区域内。",
                    "This device's user lies outside your org units.",
                ),
                "not_found" => t(lang, "找不到这台设备。", "No such device."),
                "already_revoked" => t(
                    lang,
                    "这台设备已经停用。",
                    "This device is revoked already.",
                ),
                "forbidden" => t(
                    lang,
                    "只有审核员和管理员可以停用设备。",
                    "Only supervisors and admins revoke devices.",
                ),
                _ => return Err(failed(lang, e)),
            };
            Err(error_page(lang, e.status, plain))
        }
    }
}
