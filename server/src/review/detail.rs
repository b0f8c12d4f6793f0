//! A record as a supervisor reads it: every field with the template's labels and the code
//! tables' labels, issues, computed results, photos, history, conflicts and the review thread.

use jingtu_doc::{Conflict, HistoryEntry, RecordDoc, ReviewComment, StatusEvent};
use jingtu_model::{CodeTables, FieldDef, FieldKind, Template};
use serde::Serialize;
use serde_json::Value;

/// A label in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Labels {
    pub zh: String,
    pub en: String,
}

impl From<&jingtu_model::Label> for Labels {
    fn from(l: &jingtu_model::Label) -> Self {
        Labels {
            zh: l.zh.clone(),
            en: l.en.clone(),
        }
    }
}

/// One field of the record, labelled.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FieldRow {
    /// The field's path (`checklist.clean_sewage.result`): comments point at it.
    pub path: String,
    pub label: Labels,
    /// The section (template group) the field belongs to.
    pub group: Option<String>,
    /// How deep the field lies (0: top level), for indenting.
    pub depth: u32,
    #[schema(value_type = Object)]
    pub value: Value,
    /// The value as people read it: a code's label, a number with its unit, a list joined;
    /// empty when the field holds nothing.
    pub shown: Labels,
    /// A section or checklist item heading, not a value.
    pub heading: bool,
}

/// One validation finding.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct IssueRow {
    pub path: String,
    /// `error` or `warning`.
    pub severity: String,
    pub message: Labels,
}

/// A photo of the record with its stamp data.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PhotoRow {
    pub id: String,
    pub sha256: String,
    pub tag: String,
    pub tag_label: Labels,
    /// The field it proves.
    pub field: Option<String>,
    pub taken_at_ms: Option<i64>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub note: Option<String>,
}

/// A computed result's name.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ComputedRow {
    pub id: String,
    pub label: Labels,
    pub unit: Option<String>,
}

/// A position in decimal degrees (WGS 84).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Position {
    pub lat: f64,
    pub lon: f64,
}

/// A record as a supervisor reads it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecordDetail {
    pub id: String,
    pub kind: String,
    pub template_id: String,
    pub template_label: Labels,
    pub name: String,
    /// draft, submitted, returned or approved.
    pub status: String,
    pub org_unit: Option<String>,
    pub village: Option<String>,
    pub assignment: Option<String>,
    pub author: String,
    pub created_at_ms: i64,
    /// The record's position, when it has one (`position.lat`, `position.lon`).
    pub position: Option<Position>,
    pub fields: Vec<FieldRow>,
    pub issues: Vec<IssueRow>,
    /// Computed results (the rectification verdict, the water body's route...), by id.
    #[schema(value_type = Object)]
    pub computed: Value,
    /// The computed results' labels and units, in the template's order.
    pub computed_fields: Vec<ComputedRow>,
    pub completion_pct: f64,
    pub photos: Vec<PhotoRow>,
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<StatusEvent>,
    #[schema(value_type = Vec<Object>)]
    pub comments: Vec<ReviewComment>,
    /// When returned: the comments about the latest submission.
    #[schema(value_type = Vec<Object>)]
    pub to_fix: Vec<ReviewComment>,
    #[schema(value_type = Vec<Object>)]
    pub conflicts: Vec<Conflict>,
    #[schema(value_type = Vec<Object>)]
    pub history: Vec<HistoryEntry>,
    /// A soil sample's chain of custody in its one order, verified (absent for other kinds).
    #[schema(value_type = Option<Object>)]
    pub custody: Option<jingtu_doc::CustodyChain>,
}

/// Reads a record for a supervisor.
pub fn detail(
    doc: &mut RecordDoc,
    template: &Template,
) -> Result<RecordDetail, jingtu_doc::DocError> {
    let meta = doc.meta()?;
    let data = doc.data();
    let eval = template.evaluate(&data, &meta.expr_json());
    let codes = template.code_tables();
    let mut fields = Vec::new();
    walk(&template.root, "", 0, &data, codes, &mut fields);
    let photos = doc
        .photos()
        .into_iter()
        .filter(|p| p.removed.is_none())
        .map(|p| {
            let tag_label = codes
                .get(jingtu_model::PHOTO_TYPE_TABLE)
                .and_then(|t| t.get(&p.tag))
                .map(|c| Labels {
                    zh: c.zh.clone(),
                    en: c.en.clone(),
                })
                .unwrap_or_else(|| Labels {
                    zh: p.tag.clone(),
                    en: p.tag.clone(),
                });
            PhotoRow {
                id: p.id.clone(),
                sha256: p.sha256.to_string(),
                tag: p.tag.clone(),
                tag_label,
                field: p.field.clone(),
                taken_at_ms: Some(p.taken_at_ms),
                lat: p.lat,
                lon: p.lon,
                note: p.note.clone(),
            }
        })
        .collect();
    let position = match (
        data.pointer("/position/lat").and_then(Value::as_f64),
        data.pointer("/position/lon").and_then(Value::as_f64),
    ) {
        (Some(lat), Some(lon)) => Some(Position { lat, lon }),
        _ => None,
    };
    let mut issues: Vec<IssueRow> = eval
        .issues
        .iter()
        .map(|i| IssueRow {
            path: i.path.clone(),
            severity: format!("{:?}", i.severity).to_lowercase(),
            message: Labels::from(&i.message),
        })
        .collect();
    issues.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .reverse()
            .then(a.path.cmp(&b.path))
    });
    Ok(RecordDetail {
        id: meta.id.clone(),
        kind: meta.kind.clone(),
        template_id: template.id(),
        template_label: Labels::from(&template.label),
        name: template.record_name(&data, &meta.id),
        status: doc.status().as_str().to_string(),
        org_unit: meta.org_unit.clone(),
        village: meta.village.clone(),
        assignment: meta.assignment.clone(),
        author: meta.author.clone(),
        created_at_ms: meta.created_at_ms,
        position,
        fields,
        issues,
        computed: Value::Object(eval.computed),
        computed_fields: template
            .computed
            .iter()
            .map(|c| ComputedRow {
                id: c.id.clone(),
                label: Labels::from(&c.label),
                unit: c.unit.clone(),
            })
            .collect(),
        completion_pct: eval.completion_pct,
        photos,
        events: doc.events(),
        comments: doc.comments(),
        to_fix: doc.to_fix(),
        conflicts: doc.conflicts(),
        history: doc.history(),
        custody: (meta.kind == "soil_sample").then(|| doc.custody()),
    })
}

fn label_of(def: &FieldDef, key: &str) -> Labels {
    def.label
        .as_ref()
        .map(Labels::from)
        .unwrap_or_else(|| Labels {
            zh: key.to_string(),
            en: key.to_string(),
        })
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A value as people read it.
fn shown(def: &FieldDef, value: &Value, codes: &CodeTables) -> Labels {
    let code = |v: &Value| -> Option<Labels> {
        let table = codes.get(def.codes.as_deref()?)?;
        let c = table.get(v.as_str()?)?;
        Some(Labels {
            zh: c.zh.clone(),
            en: c.en.clone(),
        })
    };
    if let Some(l) = code(value) {
        return l;
    }
    let unit = def
        .unit
        .as_deref()
        .map(|u| format!(" {u}"))
        .unwrap_or_default();
    let text = match value {
        Value::Null => String::new(),
        Value::Bool(true) => return both("是", "yes"),
        Value::Bool(false) => return both("否", "no"),
        Value::String(s) => s.clone(),
        Value::Number(n) => format!("{n}{unit}"),
        // A photo list holds photo ids: say how many (the photos are shown apart).
        Value::Array(items) if def.widget.as_deref() == Some("photos") => {
            return Labels {
                zh: format!("{} 张照片", items.len()),
                en: format!("{} photo(s)", items.len()),
            };
        }
        Value::Array(items) => {
            let item_def = def.items.as_deref();
            let parts: Vec<Labels> = items
                .iter()
                .map(|v| match item_def {
                    Some(d) => shown(d, v, codes),
                    None => both(&v.to_string(), &v.to_string()),
                })
                .collect();
            return Labels {
                zh: parts
                    .iter()
                    .map(|p| p.zh.as_str())
                    .collect::<Vec<_>>()
                    .join("、"),
                en: parts
                    .iter()
                    .map(|p| p.en.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            };
        }
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}: {}",
                    v.as_str().map(str::to_string).unwrap_or(v.to_string())
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
    };
    both(&text, &text)
}

fn both(zh: &str, en: &str) -> Labels {
    Labels {
        zh: zh.to_string(),
        en: en.to_string(),
    }
}

/// Every field in the template's order: objects become headings with their fields under
/// them; a checklist gives each item (labelled from its code table) with its parts.
fn walk(
    def: &FieldDef,
    path: &str,
    depth: u32,
    data: &Value,
    codes: &CodeTables,
    out: &mut Vec<FieldRow>,
) {
    let mut children: Vec<(String, &FieldDef, Labels)> = def
        .properties
        .iter()
        .map(|(k, d)| (k.clone(), d, label_of(d, k)))
        .collect();
    children.sort_by_key(|(_, d, _)| d.order);
    if let Some(extra) = def.additional.as_deref() {
        let keys: Vec<String> = match &def.property_names {
            Some(names) => names.clone(),
            None => data
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default(),
        };
        let table = def.codes.as_deref().and_then(|t| codes.get(t));
        for k in keys {
            let label = table
                .and_then(|t| t.get(&k))
                .map(|c| both(&c.zh, &c.en))
                .unwrap_or_else(|| both(&k, &k));
            children.push((k, extra, label));
        }
    }
    for (key, child, label) in children {
        let p = join(path, &key);
        let value = data.get(&key).cloned().unwrap_or(Value::Null);
        match child.kind {
            FieldKind::Object if !child.properties.is_empty() || child.additional.is_some() => {
                out.push(FieldRow {
                    path: p.clone(),
                    label,
                    group: child.group.clone().or_else(|| def.group.clone()),
                    depth,
                    value: Value::Null,
                    shown: both("", ""),
                    heading: true,
                });
                walk(child, &p, depth + 1, &value, codes, out);
            }
            _ => out.push(FieldRow {
                path: p,
                shown: shown(child, &value, codes),
                label,
                group: child.group.clone().or_else(|| def.group.clone()),
                depth,
                value,
                heading: false,
            }),
        }
    }
}
