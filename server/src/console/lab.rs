//! The lab's pages (检测结果录入): the samples handed in under blind codes, and a form per
//! sample for its results. Lab staff see codes, never samples: the work and its checks are
//! [`crate::lab`]'s; these pages read forms and lay out what it returns.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::pages::Chrome;
use super::text::{Lang, t, when};
use super::{Page, Session, error_page, failed, html, lang_cookie, lang_of, require};
use crate::api::{ApiError, Shared, blocking};
use crate::lab::{self, LabError, LabSample};
use crate::people::same_secret;
use crate::storage::LabSampleIndex;

impl From<LabError> for ApiError {
    fn from(e: LabError) -> Self {
        let message = e.to_string();
        match e {
            LabError::NotLab(_) => ApiError::forbidden("forbidden", message),
            LabError::NotFound(_) => ApiError::not_found(message),
            LabError::Ambiguous { .. } => {
                ApiError::new(StatusCode::CONFLICT, "invalid_state", message)
            }
            LabError::Invalid { .. } => ApiError::bad_request("invalid_value", message),
            LabError::Review(r) => r.into(),
            LabError::Storage(s) => s.into(),
        }
    }
}

/// The page of a sample: its code in the path, percent-encoded whole.
fn sample_href(code: &str) -> String {
    format!("/lab/samples/{}", jingtu_protocol::percent_encode(code))
}

/// The API error of `e`, its message in the page's language.
fn refusal(lang: Lang, e: LabError) -> ApiError {
    let message = plain(lang, &e);
    let mut a = ApiError::from(e);
    a.message = message;
    a
}

fn plain(lang: Lang, e: &LabError) -> String {
    match e {
        LabError::NotLab(_) => t(
            lang,
            "只有检测员和管理员可以录入检测结果。",
            "Only lab staff and admins enter lab results.",
        )
        .into(),
        LabError::NotFound(code) => match lang {
            Lang::Zh => format!("在您所属单位送检的样品中找不到密码编码 {code}。"),
            Lang::En => format!("No sample handed in under blind code {code} in your org units."),
        },
        LabError::Ambiguous { code, n } => match lang {
            Lang::Zh => format!("密码编码 {code} 对应 {n} 个样品，请制备室核对编码后再录入。"),
            Lang::En => e.to_string(),
        },
        other => other.to_string(),
    }
}

pub struct LabRow {
    pub code: String,
    pub href: String,
    pub lab: String,
    pub handed_in: String,
    pub entered: String,
}

pub struct LabWords {
    pub heading: &'static str,
    pub intro: &'static str,
    pub find: &'static str,
    pub open: &'static str,
    pub empty: &'static str,
    pub caption: &'static str,
    pub code: &'static str,
    pub lab: &'static str,
    pub handed_in: &'static str,
    pub entered: &'static str,
}

#[derive(Template)]
#[template(path = "console/lab.html")]
pub struct LabPage {
    pub chrome: Chrome,
    pub rows: Vec<LabRow>,
    pub notice: Option<String>,
    pub w: LabWords,
}

impl LabPage {
    fn new(lang: Lang, s: &Session, rows: Vec<LabSampleIndex>) -> LabPage {
        LabPage {
            chrome: Chrome::new(
                lang,
                t(lang, "检测结果录入", "Lab results").into(),
                Some((&s.actor, &s.csrf)),
                "/lab",
            ),
            rows: rows
                .into_iter()
                .map(|r| LabRow {
                    href: sample_href(&r.blind_code),
                    lab: r.lab,
                    handed_in: when(r.handed_in_at_ms),
                    entered: if r.entered == 0 {
                        t(lang, "未录入", "none yet").into()
                    } else {
                        match lang {
                            Lang::Zh => format!("已录入 {} 项", r.entered),
                            Lang::En => format!("{} entered", r.entered),
                        }
                    },
                    code: r.blind_code,
                })
                .collect(),
            notice: None,
            w: LabWords {
                heading: t(lang, "检测结果录入", "Lab results"),
                intro: t(
                    lang,
                    "这里列出送检到您所属单位的样品，只显示密码编码。点击编码录入检测结果；样品采集记录已提交或已通过也可录入，无需退回。",
                    "The samples handed in to your lab, by blind code only. Open a code to enter its results; results go in after the collection record is submitted or approved, without reopening it.",
                ),
                find: t(lang, "按密码编码查找", "Find a blind code"),
                open: t(lang, "打开", "Open"),
                empty: t(
                    lang,
                    "还没有送检到您所属单位的样品。",
                    "No samples have been handed in to your lab yet.",
                ),
                caption: t(
                    lang,
                    "送检样品（最近送检的在前）",
                    "Samples handed in, newest first",
                ),
                code: t(lang, "密码编码", "Blind code"),
                lab: t(lang, "检测单位", "Lab"),
                handed_in: t(lang, "送检时间", "Handed in"),
                entered: t(lang, "录入情况", "Entered"),
            },
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct LabQuery {
    lang: Option<String>,
    code: Option<String>,
    done: Option<String>,
}

pub async fn lab_page(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<LabQuery>,
) -> Page {
    let lang = lang_of(&headers, q.lang.as_deref());
    let s = require(&state, &headers, "/lab").await?;
    let st = state.clone();
    let actor = s.actor.clone();
    let rows = blocking(move || lab::list(&st.ctx, &actor).map_err(|e| refusal(lang, e)))
        .await
        .map_err(|e| error_page(lang, e.status, &e.message))?;
    let mut r = html(StatusCode::OK, LabPage::new(lang, &s, rows).render());
    super::set_cookies(&mut r, &[lang_cookie(lang)]);
    Ok(r)
}

/// The search box: straight to the code's page.
pub async fn find_page(Query(q): Query<LabQuery>) -> Response {
    match q.code.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(code) => Redirect::to(&sample_href(code)).into_response(),
        None => Redirect::to("/lab").into_response(),
    }
}

pub struct NumberField {
    pub key: String,
    pub label: String,
    pub unit: Option<String>,
    pub value: String,
}

pub struct Choice {
    pub key: String,
    pub label: String,
    pub checked: bool,
}

pub struct SampleWords {
    pub back: &'static str,
    pub heading: &'static str,
    pub lab: &'static str,
    pub handed_in: &'static str,
    pub class: &'static str,
    pub blind: &'static str,
    pub values: &'static str,
    pub not_detected: &'static str,
    pub save: &'static str,
}

#[derive(Template)]
#[template(path = "console/lab_sample.html")]
pub struct SamplePage {
    pub chrome: Chrome,
    pub code: String,
    pub action: String,
    pub lab: String,
    pub handed_in: String,
    pub class: String,
    pub numbers: Vec<NumberField>,
    pub texts: Vec<NumberField>,
    pub not_detected: Vec<Choice>,
    /// Yes-or-no results (实验室平行样).
    pub flags: Vec<Choice>,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub w: SampleWords,
}

fn number_text(v: &Value) -> String {
    match v {
        // 18, not 18.0: as the lab wrote it.
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

impl SamplePage {
    /// The page of `sample`; `typed` keeps what was typed when a form was refused.
    fn new(
        lang: Lang,
        s: &Session,
        sample: &LabSample,
        typed: Option<&HashMap<String, String>>,
        notice: Option<String>,
        error: Option<String>,
    ) -> SamplePage {
        let href = sample_href(&sample.blind_code);
        let label_of = |l: &jingtu_model::Label| t(lang, &l.zh, &l.en).to_string();
        let labels: HashMap<&str, String> = sample
            .fields
            .iter()
            .map(|f| (f.key.as_str(), label_of(&f.label)))
            .collect();
        let value = |key: &str| match typed {
            Some(form) => form.get(&format!("v_{key}")).cloned().unwrap_or_default(),
            None => sample.results.get(key).map(number_text).unwrap_or_default(),
        };
        let chosen: Vec<String> = match typed {
            Some(form) => form
                .keys()
                .filter_map(|k| k.strip_prefix("nd_").map(str::to_string))
                .collect(),
            None => lab::strings(sample.results.get("not_detected")),
        };
        let (mut numbers, mut texts, mut not_detected) = (Vec::new(), Vec::new(), Vec::new());
        let mut flags = Vec::new();
        for f in &sample.fields {
            match f.kind {
                "number" => numbers.push(NumberField {
                    key: f.key.clone(),
                    label: label_of(&f.label),
                    unit: f.unit.clone(),
                    value: value(&f.key),
                }),
                "flag" => flags.push(Choice {
                    key: f.key.clone(),
                    label: label_of(&f.label),
                    checked: match typed {
                        Some(form) => form.contains_key(&format!("f_{}", f.key)),
                        None => sample.results.get(&f.key) == Some(&Value::Bool(true)),
                    },
                }),
                "codes" => {
                    for c in &f.choices {
                        not_detected.push(Choice {
                            key: c.clone(),
                            label: labels.get(c.as_str()).cloned().unwrap_or_else(|| c.clone()),
                            checked: chosen.contains(c),
                        })
                    }
                }
                _ => texts.push(NumberField {
                    key: f.key.clone(),
                    label: label_of(&f.label),
                    unit: None,
                    value: value(&f.key),
                }),
            }
        }
        let class = match (&sample.class_label, sample.missing.is_empty()) {
            (Some(l), _) => label_of(l),
            (None, false) => {
                let missing: Vec<String> = sample
                    .missing
                    .iter()
                    .map(|m| labels.get(m.as_str()).cloned().unwrap_or_else(|| m.clone()))
                    .collect();
                match lang {
                    Lang::Zh => format!("尚缺 {}，暂不定级", missing.join("、")),
                    Lang::En => format!("not classed yet: {} missing", missing.join(", ")),
                }
            }
            (None, true) => t(lang, "暂不定级", "not classed yet").into(),
        };
        SamplePage {
            chrome: Chrome::new(
                lang,
                format!(
                    "{} {}",
                    t(lang, "检测结果", "Lab results"),
                    sample.blind_code
                ),
                Some((&s.actor, &s.csrf)),
                &href,
            ),
            code: sample.blind_code.clone(),
            action: href,
            lab: sample.lab.clone(),
            handed_in: when(sample.handed_in_at_ms),
            class,
            numbers,
            texts,
            not_detected,
            flags,
            notice,
            error,
            w: SampleWords {
                back: t(lang, "← 返回送检样品列表", "← Back to the samples"),
                heading: t(lang, "检测结果", "Lab results"),
                lab: t(lang, "检测单位", "Lab"),
                handed_in: t(lang, "送检时间", "Handed in"),
                class: t(
                    lang,
                    "土壤环境质量类别（GB 15618-2018）",
                    "Soil quality class (GB 15618-2018)",
                ),
                blind: t(
                    lang,
                    "按密码编码检测：本页不显示样品的点位、采样人和照片。未检出的项目请勾选“未检出”，不要填0。",
                    "Tested under a blind code: this page shows no point, sampler or photo. Tick items not detected instead of typing 0.",
                ),
                values: t(lang, "检测值", "Values"),
                not_detected: t(lang, "未检出项目", "Not detected"),
                save: t(lang, "保存检测结果", "Save the results"),
            },
        }
    }
}

pub async fn sample_page(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(q): Query<LabQuery>,
) -> Page {
    let lang = lang_of(&headers, q.lang.as_deref());
    let s = require(&state, &headers, &sample_href(&code)).await?;
    let st = state.clone();
    let actor = s.actor.clone();
    let sample =
        blocking(move || lab::sample(&st.ctx, &actor, &code).map_err(|e| refusal(lang, e)))
            .await
            .map_err(|e| error_page(lang, e.status, &e.message))?;
    let notice = (q.done.as_deref() == Some("saved"))
        .then(|| t(lang, "检测结果已保存。", "The results are saved.").to_string());
    let mut r = html(
        StatusCode::OK,
        SamplePage::new(lang, &s, &sample, None, notice, None).render(),
    );
    super::set_cookies(&mut r, &[lang_cookie(lang)]);
    Ok(r)
}

/// The results a form holds, as `lab_results` takes them: numbers (a blank clears the
/// value), the items ticked not detected, the method.
fn results_of(
    lang: Lang,
    sample: &LabSample,
    form: &HashMap<String, String>,
) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for f in &sample.fields {
        match f.kind {
            "flag" => {
                let ticked = form.contains_key(&format!("f_{}", f.key));
                if ticked || sample.results.contains_key(&f.key) {
                    out.insert(f.key.clone(), Value::Bool(ticked));
                }
            }
            "codes" => {
                let ticked: Vec<Value> = f
                    .choices
                    .iter()
                    .filter(|c| form.contains_key(&format!("nd_{c}")))
                    .map(|c| Value::String(c.clone()))
                    .collect();
                let had = sample.results.contains_key(&f.key);
                if !ticked.is_empty() {
                    out.insert(f.key.clone(), Value::Array(ticked));
                } else if had {
                    out.insert(f.key.clone(), Value::Null);
                }
            }
            kind => {
                let typed = form
                    .get(&format!("v_{}", f.key))
                    .map(|v| v.trim())
                    .unwrap_or("");
                let had = sample.results.contains_key(&f.key);
                if typed.is_empty() {
                    if had {
                        out.insert(f.key.clone(), Value::Null);
                    }
                    continue;
                }
                if kind == "number" {
                    let n: f64 = typed.replace('，', ".").parse().map_err(|_| {
                        let label = t(lang, &f.label.zh, &f.label.en).to_string();
                        match lang {
                            Lang::Zh => format!("{label}：“{typed}”不是数字"),
                            Lang::En => format!("{label}: '{typed}' is not a number"),
                        }
                    })?;
                    let v = serde_json::Number::from_f64(n)
                        .map(Value::Number)
                        .ok_or_else(|| format!("{}: {typed}", f.key))?;
                    out.insert(f.key.clone(), v);
                } else {
                    out.insert(f.key.clone(), Value::String(typed.to_string()));
                }
            }
        }
    }
    Ok(out)
}

pub async fn enter_form(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(code): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Page {
    let lang = lang_of(&headers, None);
    let s = require(&state, &headers, &sample_href(&code)).await?;
    if !same_secret(form.get("csrf").map(String::as_str).unwrap_or(""), &s.csrf) {
        return Err(error_page(
            lang,
            StatusCode::FORBIDDEN,
            super::text::csrf(lang),
        ));
    }
    let st = state.clone();
    let actor = s.actor.clone();
    let c = code.clone();
    let sample = blocking(move || lab::sample(&st.ctx, &actor, &c).map_err(|e| refusal(lang, e)))
        .await
        .map_err(|e| error_page(lang, e.status, &e.message))?;
    let refused = |message: String| -> Response {
        html(
            StatusCode::BAD_REQUEST,
            SamplePage::new(lang, &s, &sample, Some(&form), None, Some(message)).render(),
        )
    };
    let results = match results_of(lang, &sample, &form) {
        Ok(r) => r,
        Err(m) => return Err(refused(m)),
    };
    if results.is_empty() {
        return Ok(Redirect::to(&format!("{}?done=saved", sample_href(&code))).into_response());
    }
    let st = state.clone();
    let actor = s.actor.clone();
    let c = code.clone();
    let entered =
        blocking(move || lab::enter(&st.ctx, &actor, &c, &results).map_err(|e| refusal(lang, e)))
            .await;
    match entered {
        Ok(_) => Ok(Redirect::to(&format!("{}?done=saved", sample_href(&code))).into_response()),
        Err(e) if e.code == "invalid_value" => Err(refused(e.message)),
        Err(e) if e.code == "internal" || e.code.starts_with("storage") => Err(failed(lang, e)),
        Err(e) => Err(error_page(lang, e.status, &e.message)),
    }
}
