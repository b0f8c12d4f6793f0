//! Printable sample labels (样品标签): the soil samples the queue's filters show, each as its
//! code in a QR code with the code in text, laid out to print on A4 (the page's print style
//! shows the labels only). Samples without a code yet are counted, not printed.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::pages::{Chrome, QueueForm};
use super::text::{Lang, t};
use super::{Page, failed, html, lang_cookie, lang_of, require};
use crate::api::{ApiError, Shared, blocking};

/// The kind whose records carry sample codes.
const SAMPLES: &str = "soil_sample";

pub struct Label {
    pub svg: String,
    pub place: String,
}

pub struct LabelWords {
    pub back: &'static str,
    pub heading: &'static str,
    pub intro: &'static str,
    pub empty: &'static str,
    pub more: &'static str,
}

#[derive(Template)]
#[template(path = "console/labels.html")]
pub struct LabelsPage {
    pub chrome: Chrome,
    pub labels: Vec<Label>,
    pub missing: usize,
    pub missing_text: String,
    pub back: String,
    pub next: Option<String>,
    pub w: LabelWords,
}

pub async fn labels_page(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(mut form): Query<QueueForm>,
) -> Page {
    let lang = lang_of(&headers, form.lang.as_deref());
    form.kind = Some(SAMPLES.into());
    let here = form
        .href(form.status.as_deref(), form.after.as_deref())
        .replacen("/queue", "/labels", 1);
    let s = require(&state, &headers, &here).await?;
    let filter = form.api().filter().map_err(|e| failed(lang, e))?;
    let st = state.clone();
    let actor = s.actor.clone();
    let (labels, missing, next) = blocking(move || {
        let page = crate::review::queue(&st.ctx, &actor, &filter)?;
        let templates = st
            .ctx
            .templates
            .current(&*st.ctx.catalog)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let template = templates
            .latest(SAMPLES)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let mut labels = Vec::new();
        let mut missing = 0;
        for row in &page.rows {
            // A sample without a code is listed under its default name: nothing to print.
            if row.name == template.record_name(&Value::Null, &row.id) {
                missing += 1;
                continue;
            }
            let place: Vec<String> = row.village.iter().cloned().collect();
            match jingtu_media::label_svg(&row.name, &place) {
                Ok(svg) => labels.push(Label {
                    svg,
                    place: place.join(" "),
                }),
                Err(_) => missing += 1,
            }
        }
        Ok((labels, missing, page.next.map(|k| k.to_token())))
    })
    .await
    .map_err(|e| failed(lang, e))?;
    let page = LabelsPage {
        chrome: Chrome::new(
            lang,
            t(lang, "样品标签", "Sample labels").into(),
            Some((&s.actor, &s.csrf)),
            &here,
        ),
        labels,
        missing,
        missing_text: match lang {
            Lang::Zh => format!("另有 {missing} 个样品尚未编码，未生成标签。"),
            Lang::En => format!("{missing} more sample(s) have no code yet and get no label."),
        },
        back: form.href(form.status.as_deref(), None),
        next: next.map(|n| {
            form.href(form.status.as_deref(), Some(&n))
                .replacen("/queue", "/labels", 1)
        }),
        w: LabelWords {
            back: t(lang, "← 返回审核队列", "← Back to the queue"),
            heading: t(lang, "样品标签", "Sample labels"),
            intro: t(
                lang,
                "每个标签含样品编码的二维码和文字，扫码即可在手机上离线找到样品。用浏览器打印本页即可（只打印标签），每页最多 50 个。",
                "Each label holds the sample's code as a QR code and in text; scanning it finds the sample on a phone, offline. Print this page from the browser (only the labels print), up to 50 a page.",
            ),
            empty: t(
                lang,
                "没有已编码的样品符合条件。",
                "No sample with a code matches.",
            ),
            more: t(lang, "下一页", "Next page"),
        },
    };
    let mut r = html(StatusCode::OK, page.render());
    super::set_cookies(&mut r, &[lang_cookie(lang)]);
    Ok(r)
}
