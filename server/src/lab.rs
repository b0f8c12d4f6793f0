//! Lab results on the server (检测结果录入). Lab staff (role `lab`) see the soil samples handed
//! in to a lab under blind codes (送检密码编码) within their org units, and enter each one's
//! results: pH, the GB 15618 panel, HCH, DDT, benzo[a]pyrene, the items not detected and the
//! method. They never see which sample a code stands for: no record id, point, position,
//! photo or sampler reaches them, only the code, the lab, the hand-in time and the results.
//!
//! A write is an ordinary Automerge change of the sample's record made as the lab user
//! ([`crate::review::write_within_reach`]), so the write rules (`lab_results_by_lab`: only
//! `data/lab_results`, in any status, without reopening the collection record), the scope, the
//! conditional commit and the audit are a device push's; the class follows on every device at
//! its next sync.

use jingtu_doc::RecordDoc;
use jingtu_model::{CustodyStep, FieldKind, FieldPath, Label, Role, Template};
use serde::Serialize;
use serde_json::{Map, Value};
use thiserror::Error;

use crate::Context;
use crate::actor::Actor;
use crate::people::org;
use crate::review::{self, ReviewError};
use crate::storage::{LabSampleIndex, LabSampleRow, StorageError};

/// The record kind whose samples go to the lab.
pub const SAMPLE_KIND: &str = "soil_sample";
/// The object of a sample's data the lab writes.
pub const LAB_RESULTS: &str = "lab_results";
/// The computed result the lab's page shows once a panel is entered.
const CLASS: &str = "quality_class";
/// The most samples the lab's list shows at once (newest hand-ins first).
pub const LIST_LIMIT: u32 = 200;

#[derive(Debug, Error)]
pub enum LabError {
    #[error("lab results are entered by lab staff (检测员); {0} may not")]
    NotLab(String),
    #[error("no sample handed in under blind code {0} within your org units")]
    NotFound(String),
    /// Two samples under one code: never guessed, the preparation room must sort it out.
    #[error(
        "blind code {code} names {n} samples: the preparation room must check the codes before \
         results are entered"
    )]
    Ambiguous { code: String, n: usize },
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error(transparent)]
    Review(#[from] ReviewError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A sample as the lab sees it: its blind code, never its identity.
#[derive(Debug, Clone, Serialize)]
pub struct LabSample {
    pub blind_code: String,
    pub lab: String,
    pub handed_in_at_ms: i64,
    /// The results entered so far (`data.lab_results`).
    pub results: Map<String, Value>,
    /// The fields the lab fills, in the template's order.
    pub fields: Vec<LabField>,
    /// The soil quality class computed from the results (GB 15618-2018): class, panel
    /// (complete or partial), missing items, exceedances.
    pub class: Value,
    /// The class's name (优先保护类), once the deciding panel is complete.
    pub class_label: Option<Label>,
    /// The deciding items still missing (Cd, Hg, As, Pb, Cr), by their keys.
    pub missing: Vec<String>,
}

/// One field of the lab's form.
#[derive(Debug, Clone, Serialize)]
pub struct LabField {
    /// The key under `lab_results` (`cd`).
    pub key: String,
    pub label: Label,
    pub unit: Option<String>,
    /// `number`, `text`, `flag` (yes or no: a lab duplicate), or `codes` (the items not
    /// detected, chosen from the panel).
    pub kind: &'static str,
    /// For `codes`: the keys that may be chosen.
    pub choices: Vec<String>,
}

/// The lab hand-ins a sample's chain holds, with how many results it has: what the record's
/// index keeps for the lab's list.
pub fn hand_ins(doc: &RecordDoc, chain: &jingtu_doc::CustodyChain) -> Vec<LabSampleIndex> {
    let mut out: Vec<LabSampleIndex> = Vec::new();
    for e in &chain.events {
        if let CustodyStep::LabHandIn { blind_code, lab } = &e.step {
            let code = blind_code.trim();
            if code.is_empty() || out.iter().any(|o| o.blind_code == code) {
                continue;
            }
            out.push(LabSampleIndex {
                blind_code: code.to_string(),
                lab: lab.trim().to_string(),
                handed_in_at_ms: e.at_ms,
                entered: 0,
            });
        }
    }
    if !out.is_empty() {
        let entered = doc
            .get_json(&FieldPath::parse(LAB_RESULTS).unwrap_or_default())
            .and_then(|v| v.as_object().map(count_results))
            .unwrap_or(0);
        for o in &mut out {
            o.entered = entered;
        }
    }
    out
}

/// Values entered plus items reported not detected (the method is not a result).
fn count_results(results: &Map<String, Value>) -> u32 {
    let mut n = 0u32;
    for (k, v) in results {
        match (k.as_str(), v) {
            ("not_detected", Value::Array(items)) => n += items.len() as u32,
            ("method", _) => {}
            (_, Value::Number(_)) => n += 1,
            _ => {}
        }
    }
    n
}

/// The strings of a JSON array (none for anything else).
pub(crate) fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn lab_staff(actor: &Actor) -> Result<(), LabError> {
    if !actor.role.enters_lab_results() {
        return Err(LabError::NotLab(format!(
            "{} ({})",
            actor.user,
            actor.role.label_zh()
        )));
    }
    Ok(())
}

/// The org unit prefixes the actor's lab pages reach (`None`: an admin's, everywhere).
fn prefixes(actor: &Actor) -> Option<Vec<String>> {
    (actor.role != Role::Admin).then(|| {
        actor
            .org_units
            .iter()
            .filter_map(|c| org::prefix_of(c).ok().map(str::to_string))
            .collect()
    })
}

/// The samples handed in within the actor's org units, newest first.
pub fn list(ctx: &Context, actor: &Actor) -> Result<Vec<LabSampleIndex>, LabError> {
    lab_staff(actor)?;
    let p = prefixes(actor);
    Ok(ctx
        .records
        .lab_samples(p.as_deref(), None, LIST_LIMIT)?
        .into_iter()
        .map(|r| r.sample)
        .collect())
}

/// The one record under `code` within the actor's reach.
fn find(ctx: &Context, actor: &Actor, code: &str) -> Result<LabSampleRow, LabError> {
    lab_staff(actor)?;
    let code = code.trim();
    if code.is_empty() || code.chars().count() > 64 {
        return Err(LabError::NotFound(code.to_string()));
    }
    let p = prefixes(actor);
    let mut rows = ctx.records.lab_samples(p.as_deref(), Some(code), 3)?;
    match rows.len() {
        0 => Err(LabError::NotFound(code.to_string())),
        1 => Ok(rows.remove(0)),
        n => Err(LabError::Ambiguous {
            code: code.to_string(),
            n,
        }),
    }
}

fn fields(template: &Template) -> Vec<LabField> {
    let Ok(def) = template.field(&FieldPath::parse(LAB_RESULTS).unwrap_or_default()) else {
        return Vec::new();
    };
    let mut props: Vec<&(String, jingtu_model::FieldDef)> = def.properties.iter().collect();
    props.sort_by_key(|(_, d)| d.order);
    props
        .into_iter()
        .map(|(key, d)| {
            let (kind, choices) = match d.kind {
                FieldKind::Number | FieldKind::Integer => ("number", Vec::new()),
                FieldKind::Boolean => ("flag", Vec::new()),
                FieldKind::Array => (
                    "codes",
                    strings(d.items.as_ref().and_then(|i| i.schema.get("enum"))),
                ),
                _ => ("text", Vec::new()),
            };
            LabField {
                key: key.clone(),
                label: d.label.clone().unwrap_or_else(|| Label::new(key, key)),
                unit: d.unit.clone(),
                kind,
                choices,
            }
        })
        .collect()
}

fn view(row: &LabSampleRow, loaded: &review::Loaded) -> LabSample {
    let data = loaded.doc.data();
    let meta = loaded
        .doc
        .meta()
        .map(|m| m.expr_json())
        .unwrap_or(Value::Null);
    let eval = loaded.template.evaluate(&data, &meta);
    let class = eval.computed.get(CLASS).cloned().unwrap_or(Value::Null);
    let class_label = class
        .get("class")
        .and_then(Value::as_str)
        .and_then(|c| loaded.template.code_tables().get("soil_class")?.get(c))
        .map(|c| Label::new(&c.zh, &c.en));
    let missing = strings(class.get("missing"));
    LabSample {
        blind_code: row.sample.blind_code.clone(),
        lab: row.sample.lab.clone(),
        handed_in_at_ms: row.sample.handed_in_at_ms,
        results: data
            .get(LAB_RESULTS)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
        fields: fields(&loaded.template),
        class,
        class_label,
        missing,
    }
}

/// The sample under `code`, as the lab sees it.
pub fn sample(ctx: &Context, actor: &Actor, code: &str) -> Result<LabSample, LabError> {
    let row = find(ctx, actor, code)?;
    let loaded = review::load_within_reach(ctx, actor, &row.record)?;
    Ok(view(&row, &loaded))
}

/// Enters results of the sample under `code`, in one change: each key of `results` is a field
/// under `lab_results` (`null` clears it), checked against the template before anything is
/// written. Returns the sample as it now is.
pub fn enter(
    ctx: &Context,
    actor: &Actor,
    code: &str,
    results: &Map<String, Value>,
) -> Result<LabSample, LabError> {
    let row = find(ctx, actor, code)?;
    if results.is_empty() {
        return Err(LabError::Invalid {
            field: LAB_RESULTS.into(),
            reason: "no results given".into(),
        });
    }
    let mut checked = Vec::with_capacity(results.len());
    {
        let loaded = review::load_within_reach(ctx, actor, &row.record)?;
        for (key, value) in results {
            let field = format!("{LAB_RESULTS}.{key}");
            let path = FieldPath::parse(&field).map_err(|e| LabError::Invalid {
                field: field.clone(),
                reason: e.to_string(),
            })?;
            loaded
                .template
                .field(&path)
                .map_err(|_| LabError::Invalid {
                    field: field.clone(),
                    reason: "not a lab result of this template".into(),
                })?;
            if !value.is_null() {
                loaded
                    .template
                    .check_value(&path, value)
                    .map_err(|e| LabError::Invalid {
                        field: field.clone(),
                        reason: e.to_string(),
                    })?;
            }
            checked.push((path, value.clone()));
        }
    }
    review::write_within_reach(ctx, actor, &row.record, |l, by| {
        for (path, value) in &checked {
            l.doc.set(&l.template, path, value, by)?;
        }
        Ok(())
    })?;
    sample(ctx, actor, &row.sample.blind_code)
}
