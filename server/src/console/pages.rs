//! The console's pages: what each shows, computed here in the page's language, so the
//! templates only lay it out.

use askama::Template;
use jingtu_doc::NewComment;
use serde::Deserialize;
use serde_json::Value;

use super::text::{self, Lang, t, when};
use crate::actor::Actor;
use crate::api::review::QueueQuery;
use crate::review::RecordDetail;
use crate::storage::QueuePage as Page;

/// The frame of every page: language, who is logged in, the switch.
pub struct Chrome {
    pub lang: &'static str,
    pub title: String,
    pub app: &'static str,
    pub user: Option<String>,
    pub role: String,
    pub csrf: String,
    pub switch_href: String,
    pub switch_label: &'static str,
    pub nav_queue: &'static str,
    pub nav_enroll: &'static str,
    pub nav_assignments: &'static str,
    pub nav_people: &'static str,
    pub nav_lab: &'static str,
    pub nav_ledger: &'static str,
    /// Lab staff: only the lab's pages are theirs.
    pub lab: bool,
    /// Admins also reach the lab's pages (to correct results).
    pub admin: bool,
    /// Where the brand leads: the queue, or the lab's list for lab staff.
    pub home: &'static str,
    pub logout: &'static str,
    pub skip: &'static str,
}

impl Chrome {
    pub(super) fn new(
        lang: Lang,
        title: String,
        who: Option<(&Actor, &str)>,
        here: &str,
    ) -> Chrome {
        let sep = if here.contains('?') { '&' } else { '?' };
        Chrome {
            lang: lang.html(),
            title,
            app: t(lang, "净土 · 审核台", "Jingtu review console"),
            user: who.map(|(a, _)| a.user.clone()),
            role: who
                .map(|(a, _)| match a.role {
                    jingtu_model::Role::Admin => t(lang, "管理员", "admin"),
                    jingtu_model::Role::Lab => t(lang, "检测员", "lab staff"),
                    _ => t(lang, "审核员", "supervisor"),
                })
                .unwrap_or_default()
                .to_string(),
            csrf: who.map(|(_, c)| c.to_string()).unwrap_or_default(),
            switch_href: format!("{here}{sep}lang={}", lang.other().code()),
            switch_label: lang.switch_label(),
            nav_queue: t(lang, "审核队列", "Review queue"),
            nav_enroll: t(lang, "设备登记码", "Enrollment codes"),
            nav_assignments: t(lang, "任务分配", "Assignments"),
            nav_people: t(lang, "人员与设备", "People and devices"),
            nav_lab: t(lang, "检测结果录入", "Lab results"),
            nav_ledger: t(lang, "台账", "Ledgers"),
            lab: who.is_some_and(|(a, _)| a.role == jingtu_model::Role::Lab),
            admin: who.is_some_and(|(a, _)| a.role == jingtu_model::Role::Admin),
            home: if who.is_some_and(|(a, _)| a.role == jingtu_model::Role::Lab) {
                "/lab"
            } else {
                "/queue"
            },
            logout: t(lang, "退出", "Log out"),
            skip: t(lang, "跳到正文", "Skip to content"),
        }
    }
}

// ---- Login ---------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "console/login.html")]
pub struct LoginPage {
    pub chrome: Chrome,
    pub token: String,
    pub next: String,
    pub error: Option<String>,
    pub heading: &'static str,
    pub user_label: &'static str,
    pub password_label: &'static str,
    pub submit: &'static str,
    pub hint: &'static str,
}

impl LoginPage {
    pub fn new(lang: Lang, token: &str, next: &str, error: Option<&str>) -> LoginPage {
        LoginPage {
            chrome: Chrome::new(lang, t(lang, "登录", "Log in").into(), None, "/login"),
            token: token.into(),
            next: next.into(),
            error: error.map(str::to_string),
            heading: t(lang, "审核员、检测员登录", "Supervisor and lab login"),
            user_label: t(lang, "用户名", "User name"),
            password_label: t(lang, "密码", "Password"),
            submit: t(lang, "登录", "Log in"),
            hint: t(
                lang,
                "巡查员和采样员请使用手机应用；检测员在此录入检测结果。",
                "Inspectors and samplers use the phone app; lab staff enter results here.",
            ),
        }
    }

    pub fn render_page(&self) -> Result<String, askama::Error> {
        self.render()
    }
}

// ---- Errors --------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "console/error.html")]
pub struct ErrorPage {
    pub chrome: Chrome,
    pub message: String,
    pub back: &'static str,
}

impl ErrorPage {
    pub fn new(lang: Lang, message: &str) -> ErrorPage {
        ErrorPage {
            chrome: Chrome::new(
                lang,
                t(lang, "出错了", "Something went wrong").into(),
                None,
                "/queue",
            ),
            message: message.into(),
            back: t(lang, "返回审核队列", "Back to the queue"),
        }
    }

    pub fn render_page(&self) -> Result<String, askama::Error> {
        self.render()
    }
}

// ---- Queue ---------------------------------------------------------------------------------

/// The queue's filters as the form sends them.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct QueueForm {
    pub kind: Option<String>,
    pub status: Option<String>,
    pub org_unit: Option<String>,
    pub village: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub assignee: Option<String>,
    pub q: Option<String>,
    pub after: Option<String>,
    pub lang: Option<String>,
}

impl QueueForm {
    pub fn api(&self) -> QueueQuery {
        QueueQuery {
            kind: self.kind.clone(),
            status: self.status.clone(),
            org_unit: self.org_unit.clone(),
            village: self.village.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            assignee: self.assignee.clone(),
            q: self.q.clone(),
            after: self.after.clone(),
            limit: Some(50),
        }
    }

    /// The query string of these filters with `status` and `after` replaced.
    pub(super) fn href(&self, status: Option<&str>, after: Option<&str>) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("kind", self.kind.as_deref()),
            ("status", status),
            ("org_unit", self.org_unit.as_deref()),
            ("village", self.village.as_deref()),
            ("from", self.from.as_deref()),
            ("to", self.to.as_deref()),
            ("assignee", self.assignee.as_deref()),
            ("q", self.q.as_deref()),
            ("after", after),
        ] {
            if let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) {
                parts.push(format!("{k}={}", super::encode(v)));
            }
        }
        if parts.is_empty() {
            "/queue".into()
        } else {
            format!("/queue?{}", parts.join("&"))
        }
    }
}

pub struct Tab {
    pub label: String,
    pub count: u64,
    pub href: String,
    pub active: bool,
}

pub struct QueueRowView {
    pub href: String,
    pub name: String,
    pub kind: String,
    pub status: String,
    pub status_label: String,
    pub place: String,
    pub author: String,
    pub submitted: String,
    pub updated: String,
}

pub struct Choice {
    pub value: &'static str,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "console/queue.html")]
pub struct QueuePage {
    pub chrome: Chrome,
    pub tabs: Vec<Tab>,
    pub rows: Vec<QueueRowView>,
    pub next: Option<String>,
    pub form: QueueForm,
    pub kinds: Vec<Choice>,
    /// The printable labels of the soil samples the filters show (when they show samples).
    pub labels_href: Option<String>,
    /// Downloads of the records the filters show (a kind chosen): (label, href).
    pub exports: Vec<(&'static str, String)>,
    pub words: QueueWords,
}

pub struct QueueWords {
    pub heading: &'static str,
    pub filters: &'static str,
    pub kind: &'static str,
    pub any_kind: &'static str,
    pub village: &'static str,
    pub org_unit: &'static str,
    pub from: &'static str,
    pub to: &'static str,
    pub assignee: &'static str,
    pub text: &'static str,
    pub apply: &'static str,
    pub clear: &'static str,
    pub name: &'static str,
    pub status: &'static str,
    pub place: &'static str,
    pub author: &'static str,
    pub submitted: &'static str,
    pub updated: &'static str,
    pub empty: &'static str,
    pub more: &'static str,
    pub labels: &'static str,
    pub export: &'static str,
}

impl QueuePage {
    pub fn new(lang: Lang, who: &Actor, csrf: &str, form: &QueueForm, page: Page) -> QueuePage {
        let count = |s: &str| {
            page.counts
                .iter()
                .find(|(st, _)| st.as_str() == s)
                .map(|(_, n)| *n)
                .unwrap_or(0)
        };
        let active = form
            .status
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let mut tabs = vec![Tab {
            label: t(lang, "全部", "All").into(),
            count: page.counts.iter().map(|(_, n)| n).sum(),
            href: form.href(None, None),
            active: active.is_none(),
        }];
        for s in ["submitted", "returned", "approved", "draft"] {
            tabs.push(Tab {
                label: text::status(lang, s),
                count: count(s),
                href: form.href(Some(s), None),
                active: active == Some(s),
            });
        }
        let rows = page
            .rows
            .iter()
            .map(|r| QueueRowView {
                href: format!("/records/{}", r.id),
                name: r.name.clone(),
                kind: text::kind(lang, &r.kind),
                status: r.status.as_str().into(),
                status_label: text::status(lang, r.status.as_str()),
                place: r
                    .village
                    .clone()
                    .or_else(|| r.org_unit.clone())
                    .unwrap_or_default(),
                author: r.author.clone(),
                submitted: r.submitted_at_ms.map(when).unwrap_or_default(),
                updated: when(r.updated_at_ms),
            })
            .collect();
        let next = page
            .next
            .as_ref()
            .map(|k| form.href(active, Some(&k.to_token())));
        let kinds = [
            "village_inspection",
            "water_body_check",
            "sewage_facility_inspection",
            "soil_sample",
        ]
        .into_iter()
        .map(|k| Choice {
            value: k,
            label: text::kind(lang, k),
            selected: form.kind.as_deref() == Some(k),
        })
        .collect();
        QueuePage {
            chrome: Chrome::new(
                lang,
                t(lang, "审核队列", "Review queue").into(),
                Some((who, csrf)),
                &form.href(active, None),
            ),
            tabs,
            rows,
            next,
            form: form.clone(),
            kinds,
            labels_href: (form.kind.as_deref() == Some("soil_sample")).then(|| {
                form.href(form.status.as_deref(), None)
                    .replacen("/queue", "/labels", 1)
            }),
            exports: if form.kind.as_deref().is_some_and(|k| !k.trim().is_empty()) {
                let query = form
                    .href(form.status.as_deref(), None)
                    .replacen("/queue?", "", 1);
                [
                    ("CSV", "csv"),
                    (t(lang, "Excel 表格", "Excel"), "xlsx"),
                    ("GeoJSON", "geojson"),
                ]
                .into_iter()
                .map(|(label, f)| (label, format!("/v1/export?{query}&format={f}")))
                .collect()
            } else {
                Vec::new()
            },
            words: QueueWords {
                heading: t(lang, "审核队列", "Review queue"),
                filters: t(lang, "筛选", "Filters"),
                kind: t(lang, "类型", "Kind"),
                any_kind: t(lang, "全部类型", "Any kind"),
                village: t(lang, "村庄", "Village"),
                org_unit: t(lang, "行政区划代码", "Org unit code"),
                from: t(lang, "更新日期自", "Changed from"),
                to: t(lang, "至", "to"),
                assignee: t(lang, "任务承担人", "Assignee"),
                text: t(lang, "关键词", "Search"),
                apply: t(lang, "筛选", "Apply"),
                clear: t(lang, "清除", "Clear"),
                name: t(lang, "记录", "Record"),
                status: t(lang, "状态", "Status"),
                place: t(lang, "地点", "Place"),
                author: t(lang, "填报人", "Author"),
                submitted: t(lang, "提交时间", "Submitted"),
                updated: t(lang, "最近更新", "Last change"),
                empty: t(lang, "没有符合条件的记录。", "No record matches."),
                more: t(lang, "下一页", "Next page"),
                labels: t(lang, "打印这些样品的标签", "Print these samples' labels"),
                export: t(lang, "导出这些记录：", "Export these records:"),
            },
        }
    }

    pub fn render_page(&self) -> Result<String, askama::Error> {
        self.render()
    }
}

// ---- Record --------------------------------------------------------------------------------

pub struct FieldView {
    pub path: String,
    pub label: String,
    pub shown: String,
    pub heading: bool,
    pub depth: u32,
    pub issue: Option<String>,
    pub fix: Option<String>,
}

pub struct PhotoView {
    pub thumb: String,
    pub full: String,
    pub tag: String,
    pub field: String,
    pub taken: String,
    pub place: String,
    pub note: String,
}

pub struct EventView {
    pub when: String,
    pub who: String,
    pub what: String,
    pub note: String,
}

pub struct CommentView {
    pub when: String,
    pub who: String,
    pub text: String,
    pub place: String,
    /// Which submission it is about.
    pub round: String,
}

pub struct ValueView {
    pub json: String,
    pub shown: String,
    pub who: String,
    pub when: String,
    pub current: bool,
}

pub struct ConflictView {
    pub path: String,
    pub label: String,
    pub values: Vec<ValueView>,
}

pub struct MapView {
    pub lat: String,
    pub lon: String,
    pub tile: Option<String>,
    /// The point's place on the tile, in pixels of 256.
    pub x: u32,
    pub y: u32,
}

pub struct Decision {
    pub value: &'static str,
    pub label: &'static str,
}

pub struct PathChoice {
    pub path: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "console/record.html")]
pub struct RecordPage {
    pub chrome: Chrome,
    pub id: String,
    pub name: String,
    pub status: String,
    pub status_label: String,
    pub facts: Vec<(String, String)>,
    pub fields: Vec<FieldView>,
    pub issues: Vec<(String, String, String)>,
    pub computed: Vec<(String, String)>,
    pub photos: Vec<PhotoView>,
    pub map: Option<MapView>,
    pub events: Vec<EventView>,
    pub comments: Vec<CommentView>,
    pub to_fix: Vec<CommentView>,
    pub conflicts: Vec<ConflictView>,
    pub history: Vec<EventView>,
    /// A soil sample's custody chain (none for other kinds).
    pub custody: Option<CustodyView>,
    pub decisions: Vec<Decision>,
    pub paths: Vec<PathChoice>,
    pub w: RecordWords,
}

pub struct RecordWords {
    pub back: &'static str,
    pub values: &'static str,
    pub issues: &'static str,
    pub no_issues: &'static str,
    pub computed: &'static str,
    pub photos: &'static str,
    pub no_photos: &'static str,
    pub position: &'static str,
    pub no_position: &'static str,
    pub no_tiles: &'static str,
    pub review: &'static str,
    pub to_fix: &'static str,
    pub thread: &'static str,
    pub no_comments: &'static str,
    pub decision: &'static str,
    pub note: &'static str,
    pub comment: &'static str,
    pub comment_at: &'static str,
    pub more_comments: &'static str,
    pub whole_record: &'static str,
    pub send: &'static str,
    pub conflicts: &'static str,
    pub or_type: &'static str,
    pub resolve: &'static str,
    pub current: &'static str,
    pub history: &'static str,
    pub custody: &'static str,
    pub custody_intact: &'static str,
    pub custody_broken: &'static str,
    pub custody_empty: &'static str,
    pub timeline: &'static str,
    pub full_size: &'static str,
    pub locked: &'static str,
}

/// A sample's custody chain as the record page shows it.
pub struct CustodyView {
    pub intact: bool,
    pub events: Vec<CustodyEventView>,
    /// Severity class (`error`, `warning`), message, and the step it is about.
    pub findings: Vec<(String, String, String)>,
}

pub struct CustodyEventView {
    pub when: String,
    pub step: String,
    pub who: String,
    pub facts: String,
    pub hash: String,
    pub flagged: bool,
}

/// The words of a custody step's recorded facts.
fn custody_key(lang: Lang, key: &str) -> String {
    let (zh, en) = match key {
        "batch" => ("批次", "batch"),
        "from_org" => ("交出单位", "from"),
        "from_person" => ("交出人", "handed by"),
        "to_org" => ("接收单位", "to"),
        "to_person" => ("接收人", "received by"),
        "samples_expected" => ("交接数量", "samples"),
        "samples_received" => ("实收数量", "received"),
        "packaging_intact" => ("包装完好", "packaging intact"),
        "seal_intact" => ("封条完好", "seal intact"),
        "label_legible" => ("标签清晰", "label legible"),
        "seal_no" => ("封条号", "seal no."),
        "weight_kg" => ("重量(kg)", "weight (kg)"),
        "cold_chain" => ("冷链", "cold chain"),
        "temperature_c" => ("温度(℃)", "temperature (°C)"),
        "anomalies" => ("异常情况", "anomalies"),
        "scanned" => ("扫码确认", "scanned"),
        "note" => ("备注", "note"),
        "container" => ("容器", "container"),
        "started_at_ms" => ("开始", "started"),
        "ended_at_ms" => ("结束", "ended"),
        "weight_before_g" => ("风干前(g)", "before (g)"),
        "weight_after_g" => ("风干后(g)", "after (g)"),
        "mesh" => ("目数", "mesh"),
        "parts" => ("份数", "parts"),
        "purpose" => ("用途", "purpose"),
        "weight_g" => ("重量(g)", "weight (g)"),
        "keep_until" => ("保存至", "keep until"),
        "place" => ("存放位置", "place"),
        "blind_code" => ("密码编码", "blind code"),
        "lab" => ("检测实验室", "lab"),
        other => (other, other),
    };
    t(lang, zh, en).to_string()
}

fn custody_view(lang: Lang, c: &jingtu_doc::CustodyChain) -> CustodyView {
    let yes_no = |b: bool| {
        t(
            lang,
            if b { "是" } else { "否" },
            if b { "yes" } else { "no" },
        )
    };
    let events = c
        .events
        .iter()
        .map(|e| {
            let label = e.step.label();
            let facts = match serde_json::to_value(&e.step) {
                Ok(Value::Object(m)) => m
                    .iter()
                    .filter(|(k, v)| k.as_str() != "step" && v.as_str() != Some(""))
                    .map(|(k, v)| {
                        let shown = match v {
                            Value::Bool(b) => yes_no(*b).to_string(),
                            Value::String(s) => s.clone(),
                            Value::Number(n) if k.ends_with("_at_ms") => {
                                n.as_i64().map(when).unwrap_or_default()
                            }
                            other => other.to_string(),
                        };
                        format!("{}：{shown}", custody_key(lang, k))
                    })
                    .collect::<Vec<_>>()
                    .join("；"),
                _ => String::new(),
            };
            CustodyEventView {
                when: when(e.at_ms),
                step: match lang {
                    Lang::Zh => label.zh,
                    Lang::En => label.en,
                },
                who: e.by.clone(),
                facts,
                hash: e.hash.chars().take(12).collect(),
                flagged: c.findings.iter().any(|f| f.event == e.id),
            }
        })
        .collect();
    let step_of = |id: &str| {
        c.events
            .iter()
            .find(|e| e.id == id)
            .map(|e| {
                let l = e.step.label();
                match lang {
                    Lang::Zh => l.zh,
                    Lang::En => l.en,
                }
            })
            .unwrap_or_default()
    };
    CustodyView {
        intact: c.intact,
        events,
        findings: c
            .findings
            .iter()
            .map(|f| {
                (
                    match f.severity {
                        jingtu_model::Severity::Error => "error".to_string(),
                        jingtu_model::Severity::Warning => "warning".to_string(),
                    },
                    match lang {
                        Lang::Zh => f.message.zh.clone(),
                        Lang::En => f.message.en.clone(),
                    },
                    step_of(&f.event),
                )
            })
            .collect(),
    }
}

fn pick(lang: Lang, l: &crate::review::detail::Labels) -> String {
    match lang {
        Lang::Zh => l.zh.clone(),
        Lang::En => l.en.clone(),
    }
}

/// Web Mercator tile of a position at `zoom`, and the position inside it (0..256).
fn tile_of(lat: f64, lon: f64, zoom: u32) -> (u32, u32, u32, u32) {
    let n = f64::from(1u32 << zoom);
    let x = (lon + 180.0) / 360.0 * n;
    let lat_r = lat.clamp(-85.0, 85.0).to_radians();
    let y = (1.0 - (lat_r.tan() + 1.0 / lat_r.cos()).ln() / std::f64::consts::PI) / 2.0 * n;
    let (xt, yt) = (x.floor().max(0.0), y.floor().max(0.0));
    (
        xt as u32,
        yt as u32,
        ((x - xt) * 256.0) as u32,
        ((y - yt) * 256.0) as u32,
    )
}

impl RecordPage {
    pub fn new(
        lang: Lang,
        who: &Actor,
        csrf: &str,
        d: RecordDetail,
        tile_url: Option<String>,
    ) -> RecordPage {
        let label_of = |path: &str| -> String {
            d.fields
                .iter()
                .find(|f| f.path == path)
                .map(|f| pick(lang, &f.label))
                .unwrap_or_else(|| path.to_string())
        };
        let comment_view = |c: &jingtu_doc::ReviewComment| CommentView {
            when: when(c.at_ms),
            who: c.by.clone(),
            text: c.text.clone(),
            place: c
                .path
                .as_deref()
                .map(&label_of)
                .unwrap_or_else(|| t(lang, "整条记录", "Whole record").into()),
            round: match lang {
                Lang::Zh => format!("第 {} 次提交", c.round),
                Lang::En => format!("submission {}", c.round),
            },
        };
        // Inside checklist items and other nested parts, only what holds a value (an item's
        // empty deadline, owner or score would bury the results).
        let fields = d
            .fields
            .iter()
            .filter(|f| f.depth < 2 || f.heading || !f.shown.zh.is_empty())
            .map(|f| FieldView {
                path: f.path.clone(),
                label: pick(lang, &f.label),
                shown: pick(lang, &f.shown),
                heading: f.heading,
                depth: f.depth.min(3),
                issue: d
                    .issues
                    .iter()
                    .find(|i| i.path == f.path)
                    .map(|i| pick(lang, &i.message)),
                fix: d
                    .to_fix
                    .iter()
                    .find(|c| c.path.as_deref() == Some(f.path.as_str()))
                    .map(|c| c.text.clone()),
            })
            .collect();
        let issues = d
            .issues
            .iter()
            .map(|i| {
                (
                    if i.severity == "error" {
                        t(lang, "错误", "error").to_string()
                    } else {
                        t(lang, "提示", "warning").to_string()
                    },
                    label_of(&i.path),
                    pick(lang, &i.message),
                )
            })
            .collect();
        let computed = d
            .computed_fields
            .iter()
            .map(|c| {
                let v = d.computed.get(&c.id).unwrap_or(&Value::Null);
                let unit = match (v, &c.unit) {
                    (Value::Number(_), Some(u)) => format!(" {u}"),
                    _ => String::new(),
                };
                (
                    pick(lang, &c.label),
                    format!("{}{unit}", computed_text(lang, v)),
                )
            })
            .collect();
        let photos = d
            .photos
            .iter()
            .map(|p| PhotoView {
                thumb: format!("/photos/{}?thumb=true", p.sha256),
                full: format!("/photos/{}", p.sha256),
                tag: pick(lang, &p.tag_label),
                field: p.field.as_deref().map(&label_of).unwrap_or_default(),
                taken: p.taken_at_ms.map(when).unwrap_or_default(),
                place: match (p.lat, p.lon) {
                    (Some(la), Some(lo)) => format!("{la:.6}, {lo:.6}"),
                    _ => String::new(),
                },
                note: p.note.clone().unwrap_or_default(),
            })
            .collect();
        let map = d.position.map(|p| {
            let zoom = 15;
            let (tx, ty, x, y) = tile_of(p.lat, p.lon, zoom);
            MapView {
                lat: format!("{:.6}", p.lat),
                lon: format!("{:.6}", p.lon),
                tile: tile_url.as_ref().map(|u| {
                    u.replace("{z}", &zoom.to_string())
                        .replace("{x}", &tx.to_string())
                        .replace("{y}", &ty.to_string())
                }),
                x,
                y,
            }
        });
        let events = d
            .events
            .iter()
            .map(|e| EventView {
                when: when(e.at_ms),
                who: e.author.clone(),
                what: text::status(lang, e.kind.as_str()),
                note: e.note.clone().unwrap_or_default(),
            })
            .collect();
        let conflicts = d
            .conflicts
            .iter()
            .map(|c| ConflictView {
                path: c.path.clone(),
                label: label_of(&c.path),
                values: c
                    .values
                    .iter()
                    .map(|v| ValueView {
                        json: v.value.to_string(),
                        shown: match &v.value {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        },
                        who: v
                            .author
                            .clone()
                            .unwrap_or_else(|| v.device.chars().take(8).collect()),
                        when: when(v.time_ms),
                        current: v.shown,
                    })
                    .collect(),
            })
            .collect();
        let history = d
            .history
            .iter()
            .rev()
            .map(|h| EventView {
                when: when(h.time_ms),
                who: h.author.clone().unwrap_or_default(),
                what: h.action.clone(),
                note: h
                    .paths
                    .iter()
                    .map(|p| label_of(p))
                    .collect::<Vec<_>>()
                    .join("、"),
            })
            .collect();
        let custody = d.custody.as_ref().map(|c| custody_view(lang, c));
        let decisions = match d.status.as_str() {
            "submitted" => vec![
                Decision {
                    value: "return",
                    label: t(lang, "退回整改", "Return with what to fix"),
                },
                Decision {
                    value: "approve",
                    label: t(lang, "审核通过", "Approve"),
                },
                Decision {
                    value: "comment",
                    label: t(lang, "仅添加意见", "Comment only"),
                },
            ],
            "approved" => vec![
                Decision {
                    value: "reopen",
                    label: t(lang, "重新打开", "Reopen"),
                },
                Decision {
                    value: "comment",
                    label: t(lang, "仅添加意见", "Comment only"),
                },
            ],
            "returned" => vec![Decision {
                value: "comment",
                label: t(lang, "仅添加意见", "Comment only"),
            }],
            _ => Vec::new(),
        };
        let paths = d
            .fields
            .iter()
            .filter(|f| f.heading || f.depth == 0)
            .map(|f| PathChoice {
                path: f.path.clone(),
                label: pick(lang, &f.label),
            })
            .collect();
        let mut facts = vec![
            (
                t(lang, "类型", "Kind").to_string(),
                pick(lang, &d.template_label),
            ),
            (t(lang, "填报人", "Author").to_string(), d.author.clone()),
            (
                t(lang, "创建时间", "Created").to_string(),
                when(d.created_at_ms),
            ),
            (
                t(lang, "完成度", "Complete").to_string(),
                format!("{:.0}%", d.completion_pct),
            ),
        ];
        if let Some(v) = &d.village {
            facts.insert(1, (t(lang, "村庄", "Village").into(), v.clone()));
        }
        if let Some(o) = &d.org_unit {
            facts.insert(1, (t(lang, "行政区划", "Org unit").into(), o.clone()));
        }
        RecordPage {
            chrome: Chrome::new(
                lang,
                d.name.clone(),
                Some((who, csrf)),
                &format!("/records/{}", d.id),
            ),
            id: d.id.clone(),
            name: d.name.clone(),
            status: d.status.clone(),
            status_label: text::status(lang, &d.status),
            facts,
            fields,
            issues,
            computed,
            photos,
            map,
            events,
            comments: d.comments.iter().map(&comment_view).collect(),
            to_fix: d.to_fix.iter().map(&comment_view).collect(),
            conflicts,
            history,
            custody,
            decisions,
            paths,
            w: RecordWords {
                back: t(lang, "← 返回审核队列", "← Back to the queue"),
                values: t(lang, "填报内容", "Values"),
                issues: t(lang, "校验问题", "Issues"),
                no_issues: t(lang, "没有校验问题。", "No issues."),
                computed: t(lang, "计算结果", "Computed results"),
                photos: t(lang, "现场照片", "Photos"),
                no_photos: t(lang, "没有照片。", "No photos."),
                position: t(lang, "位置", "Position"),
                no_position: t(lang, "这条记录没有位置。", "This record has no position."),
                no_tiles: t(
                    lang,
                    "未配置地图服务（map.tile_url），仅显示坐标。",
                    "No map tiles configured (map.tile_url): coordinates only.",
                ),
                review: t(lang, "审核", "Review"),
                to_fix: t(lang, "待整改", "To fix"),
                thread: t(lang, "审核意见", "Review comments"),
                no_comments: t(lang, "还没有审核意见。", "No comments yet."),
                decision: t(lang, "审核决定", "Decision"),
                note: t(lang, "说明", "Note"),
                comment: t(lang, "意见", "Comment"),
                comment_at: t(lang, "针对", "About"),
                more_comments: t(lang, "更多意见", "More comments"),
                whole_record: t(lang, "整条记录", "Whole record"),
                send: t(lang, "提交审核", "Send"),
                conflicts: t(lang, "数据冲突", "Conflicts"),
                or_type: t(lang, "或填写新值", "Or type a new value"),
                resolve: t(lang, "确定", "Resolve"),
                current: t(lang, "当前显示", "shown now"),
                history: t(lang, "修改历史", "History"),
                custody: t(lang, "样品保管链", "Chain of custody"),
                custody_intact: t(
                    lang,
                    "校验通过：各环节完整，未被改动",
                    "Verified: every link is there and unaltered",
                ),
                custody_broken: t(
                    lang,
                    "校验未通过：有记录被改动、删除或调换顺序",
                    "Not verified: an event was altered, removed or reordered",
                ),
                custody_empty: t(lang, "尚无保管记录", "No custody events yet"),
                timeline: t(lang, "状态变化", "Status timeline"),
                full_size: t(lang, "查看原图", "Full size"),
                locked: t(
                    lang,
                    "记录已通过审核并锁定；如需更正请重新打开。",
                    "The record is approved and locked; reopen it to correct it.",
                ),
            },
        }
    }

    pub fn render_page(&self) -> Result<String, askama::Error> {
        self.render()
    }
}

/// The code tables the builtin templates share (a class, a pH band, a lab item).
static CODES: std::sync::LazyLock<Option<jingtu_model::CodeTables>> =
    std::sync::LazyLock::new(|| {
        jingtu_model::TemplateSet::builtin()
            .ok()
            .map(|t| t.code_tables().clone())
    });

/// A code a rule computed (`safe_use`, `cd`) by its label in a code table, or as it is.
fn code_label(lang: Lang, code: &str) -> String {
    CODES
        .as_ref()
        .and_then(|tables| tables.tables.values().find_map(|table| table.get(code)))
        .map(|c| t(lang, &c.zh, &c.en).to_string())
        .unwrap_or_else(|| match code {
            "complete" => t(lang, "齐全", "complete").to_string(),
            "partial" => t(lang, "不全", "partial").to_string(),
            other => other.to_string(),
        })
}

/// A computed result as people read it: yes/no for booleans, lists joined, objects as
/// `key: value` pairs.
fn computed_text(lang: Lang, v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::Bool(true) => t(lang, "是", "yes").into(),
        Value::Bool(false) => t(lang, "否", "no").into(),
        Value::String(s) => code_label(lang, s),
        Value::Number(n) => match n.as_f64() {
            // Up to three decimals, trailing zeros dropped: 0.45 mg/kg stays 0.45.
            Some(f) if n.is_f64() => {
                let s = format!("{f:.3}");
                s.trim_end_matches('0').trim_end_matches('.').to_string()
            }
            _ => n.to_string(),
        },
        Value::Array(a) if a.is_empty() => t(lang, "无", "none").into(),
        Value::Array(a) => a
            .iter()
            .map(|x| computed_text(lang, x))
            .collect::<Vec<_>>()
            .join("、"),
        Value::Object(m) => m
            .iter()
            .map(|(k, x)| format!("{}: {}", text::result_key(lang, k), computed_text(lang, x)))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// A review form as posted: the decision, a note, and up to three comments.
#[derive(Debug, Deserialize)]
pub struct ReviewForm {
    pub csrf: String,
    pub decision: String,
    pub note: Option<String>,
    pub path1: Option<String>,
    pub text1: Option<String>,
    pub path2: Option<String>,
    pub text2: Option<String>,
    pub path3: Option<String>,
    pub text3: Option<String>,
}

impl ReviewForm {
    /// The comments with text (a blank path means the whole record).
    pub fn comments(&self) -> Vec<NewComment> {
        [
            (&self.path1, &self.text1),
            (&self.path2, &self.text2),
            (&self.path3, &self.text3),
        ]
        .into_iter()
        .filter_map(|(p, t)| {
            let text = t.as_deref().map(str::trim).filter(|t| !t.is_empty())?;
            Some(NewComment {
                text: text.to_string(),
                path: p.clone().filter(|p| !p.trim().is_empty()),
            })
        })
        .collect()
    }
}

// ---- Enrollment codes ----------------------------------------------------------------------

/// A code just issued, shown once.
pub struct IssuedView {
    pub user: String,
    pub code: String,
    pub payload: String,
    pub expires: String,
    /// The QR code as a `data:` URL of its SVG.
    pub qr: String,
}

#[derive(Template)]
#[template(path = "console/enroll.html")]
pub struct EnrollPage {
    pub chrome: Chrome,
    /// The user name filled in.
    pub user: String,
    pub issued: Option<IssuedView>,
    pub error: Option<String>,
    pub w: EnrollWords,
}

pub struct EnrollWords {
    pub heading: &'static str,
    pub intro: &'static str,
    pub user: &'static str,
    pub hours: &'static str,
    pub issue: &'static str,
    pub code_for: &'static str,
    pub valid_until: &'static str,
    pub scan: &'static str,
    pub once: &'static str,
    pub qr_alt: &'static str,
}

impl EnrollPage {
    pub fn new(
        lang: Lang,
        who: &Actor,
        csrf: &str,
        issued: Option<IssuedView>,
        error: Option<&str>,
    ) -> EnrollPage {
        EnrollPage {
            chrome: Chrome::new(
                lang,
                t(lang, "设备登记码", "Enrollment codes").into(),
                Some((who, csrf)),
                "/enroll",
            ),
            user: issued.as_ref().map(|i| i.user.clone()).unwrap_or_default(),
            issued,
            error: error.map(str::to_string),
            w: EnrollWords {
                heading: t(
                    lang,
                    "为巡查员、采样员的手机发放登记码",
                    "Enroll a field user's phone",
                ),
                intro: t(
                    lang,
                    "登记码只能使用一次。手机应用扫描二维码，或输入登记码，即可连接到本服务器。",
                    "A code works once. The phone app scans the QR code, or takes the code typed in, and connects to this server.",
                ),
                user: t(lang, "用户名", "User name"),
                hours: t(lang, "有效期（小时）", "Valid for (hours)"),
                issue: t(lang, "生成登记码", "Issue a code"),
                code_for: t(lang, "登记码，用户", "Code for"),
                valid_until: t(lang, "有效期至", "Valid until"),
                scan: t(lang, "请用手机应用扫描：", "Scan with the phone app:"),
                once: t(
                    lang,
                    "登记码只显示这一次，请现在交给使用人。",
                    "The code is shown this once: hand it over now.",
                ),
                qr_alt: t(lang, "登记二维码", "Enrollment QR code"),
            },
        }
    }

    /// The page with the user name filled in (from the people page's link).
    pub fn for_user(mut self, user: Option<&str>) -> EnrollPage {
        if let Some(u) = user.map(str::trim).filter(|u| !u.is_empty()) {
            self.user = u.to_string();
        }
        self
    }

    pub fn render_page(&self) -> Result<String, askama::Error> {
        self.render()
    }
}
