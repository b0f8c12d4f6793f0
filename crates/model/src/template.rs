//! Templates: a JSON Schema for a record's data plus form annotations (see `schemas/README.md`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::photos::PhotoRules;
use crate::{CodeTables, Expr, FieldPath, Label, ModelError, PathSeg, Severity};

/// What kind of JSON value a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Object,
    Array,
    String,
    Number,
    Integer,
    Boolean,
    Any,
}

/// A constraint on one field's value, in CEL (`value` is the field's value).
#[derive(Debug)]
pub struct FieldConstraint {
    pub expr: Expr,
    pub severity: Severity,
    pub message: Label,
}

/// A cross-field constraint of the template, in CEL.
#[derive(Debug)]
pub struct TemplateConstraint {
    pub id: String,
    pub expr: Expr,
    pub paths: Vec<FieldPath>,
    pub severity: Severity,
    pub message: Label,
}

/// How a computed field is computed: a Rust domain rule or a CEL expression.
#[derive(Debug)]
pub enum Computation {
    Rule { rule: String, params: Option<Value> },
    Expr(Expr),
}

/// A computed field of the record view.
#[derive(Debug)]
pub struct ComputedDef {
    pub id: String,
    pub label: Label,
    pub unit: Option<String>,
    pub computation: Computation,
}

/// One field of a template, with its `$ref`s resolved.
pub struct FieldDef {
    pub schema: Value,
    pub kind: FieldKind,
    pub label: Option<Label>,
    pub order: i64,
    pub group: Option<String>,
    pub widget: Option<String>,
    pub unit: Option<String>,
    pub help: Option<Label>,
    pub codes: Option<String>,
    pub relevant: Option<Expr>,
    pub constraint: Option<FieldConstraint>,
    /// Named properties of an object, in form order.
    pub properties: Vec<(String, FieldDef)>,
    /// The schema of other keys of an object (checklists: item id → item).
    pub additional: Option<Box<FieldDef>>,
    /// The keys `additional` allows, when restricted.
    pub property_names: Option<Vec<String>>,
    pub items: Option<Box<FieldDef>>,
    pub required: Vec<String>,
    /// Whether this field or any field under it has an `x-relevant` condition.
    pub(crate) subtree_relevant: bool,
    /// Whether this field or any field under it has an `x-constraint`.
    pub(crate) subtree_constrained: bool,
    validator: OnceLock<Result<jsonschema::Validator, String>>,
}

impl std::fmt::Debug for FieldDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldDef")
            .field("kind", &self.kind)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl FieldDef {
    /// Long free text, kept as Automerge Text so concurrent typing merges by character.
    pub fn is_text(&self) -> bool {
        self.kind == FieldKind::String && self.widget.as_deref() == Some("textarea")
    }

    pub fn property(&self, key: &str) -> Option<&FieldDef> {
        self.properties
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, d)| d)
    }

    /// The definition of `key` inside this object: a named property, or an allowed extra key.
    pub fn child(&self, key: &str) -> Option<&FieldDef> {
        if let Some(d) = self.property(key) {
            return Some(d);
        }
        let additional = self.additional.as_deref()?;
        match &self.property_names {
            Some(names) if !names.iter().any(|n| n == key) => None,
            _ => Some(additional),
        }
    }

    /// Checks one value against this field's schema.
    pub fn check(&self, value: &Value) -> Result<(), String> {
        let validator = self.validator.get_or_init(|| {
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .should_validate_formats(true)
                .build(&self.schema)
                .map_err(|e| e.to_string())
        });
        let validator = validator.as_ref().map_err(|e| e.clone())?;
        let errors: Vec<String> = validator
            .iter_errors(value)
            .take(3)
            .map(|e| {
                let at = FieldPath::from_pointer(e.instance_path().as_str());
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

/// A record template: one kind, one version.
#[derive(Debug)]
pub struct Template {
    pub kind: String,
    pub version: u32,
    pub label: Label,
    pub description: Option<Label>,
    pub name_field: Option<FieldPath>,
    pub groups: Vec<(String, Label)>,
    pub computed: Vec<ComputedDef>,
    pub constraints: Vec<TemplateConstraint>,
    /// Evidence photos the record needs, and whether they are stamped by default.
    pub photos: PhotoRules,
    /// The field roles who capture records of this template (`x-template.roles`); empty: every
    /// field role. Decides which devices receive the template through sync.
    pub roles: Vec<crate::Role>,
    pub root: FieldDef,
    /// The template file as written.
    pub source: Value,
    pub(crate) validator: jsonschema::Validator,
    pub(crate) codes: Arc<CodeTables>,
    /// The top-level data keys any of its expressions reads (`None`: all).
    pub(crate) expr_data_keys: Option<BTreeSet<String>>,
}

/// What a template list shows.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateSummary {
    pub id: String,
    pub kind: String,
    pub version: u32,
    pub label: Label,
    pub description: Option<Label>,
}

const MAX_REF_DEPTH: usize = 32;

impl Template {
    pub fn id(&self) -> String {
        format!("{}.v{}", self.kind, self.version)
    }

    pub fn summary(&self) -> TemplateSummary {
        TemplateSummary {
            id: self.id(),
            kind: self.kind.clone(),
            version: self.version,
            label: self.label.clone(),
            description: self.description.clone(),
        }
    }

    pub fn code_tables(&self) -> &CodeTables {
        &self.codes
    }

    /// The QC a batch of this template's samples needs (`x-template.quality_control`, checked
    /// when the template was loaded; the ratios of `../shared/domain.md` 1.6 when absent).
    pub fn quality_control(&self) -> crate::QualityControlPlan {
        self.source
            .pointer("/x-template/quality_control")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }

    /// Whether users of `role` capture records of this template (supervisors and admins see
    /// every template).
    pub fn is_for(&self, role: crate::Role) -> bool {
        !role.is_field() || self.roles.is_empty() || self.roles.contains(&role)
    }

    /// Parses a template file; `name` is used in error messages.
    pub fn parse(name: &str, text: &str, codes: Arc<CodeTables>) -> Result<Template, ModelError> {
        let source: Value = serde_json::from_str(text).map_err(|e| bad(name, e.to_string()))?;
        Template::from_value(name, source, codes)
    }

    pub fn from_value(
        name: &str,
        source: Value,
        codes: Arc<CodeTables>,
    ) -> Result<Template, ModelError> {
        let root_obj = source
            .as_object()
            .ok_or_else(|| bad(name, "a template is a JSON object"))?;
        let meta = root_obj
            .get("x-template")
            .and_then(Value::as_object)
            .ok_or_else(|| bad(name, "missing x-template"))?;
        let kind = meta
            .get("kind")
            .and_then(Value::as_str)
            .filter(|k| {
                !k.is_empty()
                    && k.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            })
            .ok_or_else(|| bad(name, "x-template.kind must be a snake_case identifier"))?
            .to_string();
        let version = meta
            .get("version")
            .and_then(Value::as_u64)
            .and_then(|v| u32::try_from(v).ok())
            .filter(|v| *v > 0)
            .ok_or_else(|| bad(name, "x-template.version must be a positive integer"))?;
        let name = format!("{kind}.v{version}");
        let name = name.as_str();
        let label = meta
            .get("label")
            .and_then(Label::from_json)
            .ok_or_else(|| bad(name, "x-template.label is required"))?;
        let description = meta.get("description").and_then(Label::from_json);
        let roles = parse_roles(name, meta)?;

        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&source)
            .map_err(|e| bad(name, format!("not a valid JSON Schema: {e}")))?;

        let defs = root_obj
            .get("$defs")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let resolved = resolve_refs(name, &source, &defs, 0)?;
        let root = build_field(name, &resolved, &codes, "")?;
        if root.kind != FieldKind::Object {
            return Err(bad(name, "the record data must be an object"));
        }

        let name_field = match meta.get("name_field").and_then(Value::as_str) {
            Some(p) => Some(FieldPath::parse(p)?),
            None => None,
        };
        let groups = parse_groups(meta);

        let mut computed = parse_computed(name, meta)?;
        // The village rule counts an item of the checklist that holds no result as open: it
        // is given the template's items (an item never touched is absent from the data).
        let items: Vec<String> = root
            .child("checklist")
            .map(|c| match c.schema.pointer("/propertyNames/enum") {
                Some(Value::Array(names)) => names
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect(),
                _ => c.properties.iter().map(|(k, _)| k.clone()).collect(),
            })
            .unwrap_or_default();
        for c in &mut computed {
            if let Computation::Rule { rule, params } = &mut c.computation
                && rule == "village_rectification"
                && !items.is_empty()
            {
                let p = params.get_or_insert_with(|| Value::Object(Map::new()));
                if let Some(o) = p.as_object_mut() {
                    o.entry("items")
                        .or_insert_with(|| Value::from(items.clone()));
                }
            }
        }

        let constraints = parse_constraints(name, meta)?;

        let photos = PhotoRules::parse(name, meta.get("photos"), &codes)?;
        if let Some(qc) = meta.get("quality_control") {
            serde_json::from_value::<crate::QualityControlPlan>(qc.clone())
                .map_err(|e| e.to_string())
                .and_then(|p| p.check())
                .map_err(|e| bad(name, format!("x-template.quality_control: {e}")))?;
        }

        let mut exprs: Vec<&Expr> = Vec::new();
        collect_exprs(&root, &mut exprs);
        exprs.extend(constraints.iter().map(|c| &c.expr));
        exprs.extend(computed.iter().filter_map(|c| match &c.computation {
            Computation::Expr(e) => Some(e),
            Computation::Rule { .. } => None,
        }));
        let expr_data_keys = exprs.iter().try_fold(BTreeSet::new(), |mut acc, e| {
            acc.extend(e.data_keys()?.iter().cloned());
            Some(acc)
        });
        let template = Template {
            expr_data_keys,
            kind,
            version,
            label,
            description,
            name_field,
            groups,
            computed,
            constraints,
            photos,
            roles,
            root,
            source,
            validator,
            codes,
        };
        if let Some(p) = &template.name_field {
            template.field(p)?;
        }
        Ok(template)
    }

    /// What a record of this template is called in lists: the value of its name field, or
    /// the template's label and the end of its id.
    pub fn record_name(&self, data: &Value, id: &str) -> String {
        self.name_field
            .as_ref()
            .and_then(|p| p.lookup(data))
            .and_then(Value::as_str)
            .map(str::to_string)
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| {
                let tail: String = id
                    .chars()
                    .rev()
                    .take(6)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                format!("{} {}", self.label.zh, tail)
            })
    }

    /// The definition of the field at `path`, or a typed error naming the path.
    pub fn field(&self, path: &FieldPath) -> Result<&FieldDef, ModelError> {
        let mut def = &self.root;
        for seg in path.segs() {
            let next = match (seg, def.kind) {
                (PathSeg::Key(k), FieldKind::Object) => def.child(k),
                (PathSeg::Index(i), FieldKind::Object) => def.child(&i.to_string()),
                (PathSeg::Index(_), FieldKind::Array) => def.items.as_deref(),
                _ => None,
            };
            def = next.ok_or_else(|| ModelError::UnknownField {
                template: self.id(),
                path: path.to_string(),
            })?;
        }
        Ok(def)
    }

    /// Checks a value for the field at `path` (type, range, code, pattern): the check made
    /// before an edit is accepted.
    pub fn check_value(&self, path: &FieldPath, value: &Value) -> Result<&FieldDef, ModelError> {
        let def = self.field(path)?;
        def.check(value)
            .map_err(|reason| ModelError::InvalidValue {
                path: path.to_string(),
                reason,
            })?;
        Ok(def)
    }

    /// Turns text typed by a person (the command line) into a value of the field's type.
    pub fn parse_value(&self, path: &FieldPath, text: &str) -> Result<Value, ModelError> {
        let def = self.field(path)?;
        let invalid = |reason: String| ModelError::InvalidValue {
            path: path.to_string(),
            reason,
        };
        let value = match def.kind {
            FieldKind::String => Value::String(text.to_string()),
            FieldKind::Number | FieldKind::Integer => {
                let n: f64 = text
                    .trim()
                    .parse()
                    .map_err(|_| invalid(format!("'{text}' is not a number")))?;
                if def.kind == FieldKind::Integer && n.fract() == 0.0 && n.abs() < 9.0e15 {
                    Value::from(n as i64)
                } else {
                    serde_json::Number::from_f64(n)
                        .map(Value::Number)
                        .ok_or_else(|| invalid(format!("'{text}' is not a finite number")))?
                }
            }
            FieldKind::Boolean => match text.trim() {
                "true" | "yes" | "1" | "是" => Value::Bool(true),
                "false" | "no" | "0" | "否" => Value::Bool(false),
                _ => return Err(invalid(format!("'{text}' is not true or false"))),
            },
            FieldKind::Object | FieldKind::Array | FieldKind::Any => {
                serde_json::from_str(text).map_err(|e| invalid(format!("expected JSON: {e}")))?
            }
        };
        Ok(value)
    }
}

fn collect_exprs<'a>(def: &'a FieldDef, out: &mut Vec<&'a Expr>) {
    out.extend(def.relevant.iter());
    out.extend(def.constraint.iter().map(|c| &c.expr));
    for (_, child) in &def.properties {
        collect_exprs(child, out);
    }
    for child in def.additional.iter().chain(def.items.iter()) {
        collect_exprs(child, out);
    }
}

fn bad(name: &str, reason: impl Into<String>) -> ModelError {
    ModelError::BadTemplate {
        template: name.to_string(),
        reason: reason.into(),
    }
}

fn str_field(name: &str, v: &Value, key: &str, what: &str) -> Result<String, ModelError> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| bad(name, format!("every {what} needs a string '{key}'")))
}

/// `x-template.roles`: the field roles that fill the template (none: any field role).
fn parse_roles(name: &str, meta: &Map<String, Value>) -> Result<Vec<crate::Role>, ModelError> {
    let mut roles = Vec::new();
    if let Some(v) = meta.get("roles") {
        let list = v
            .as_array()
            .ok_or_else(|| bad(name, "x-template.roles must be a list of field roles"))?;
        for r in list {
            let role = r
                .as_str()
                .and_then(crate::Role::parse)
                .filter(|r| r.is_field())
                .ok_or_else(|| {
                    bad(
                        name,
                        format!("x-template.roles: {r} is not a field role (inspector, sampler)"),
                    )
                })?;
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
    }
    Ok(roles)
}

/// `x-template.groups`: the sections of the form, in order.
fn parse_groups(meta: &Map<String, Value>) -> Vec<(String, Label)> {
    meta.get("groups")
        .and_then(Value::as_array)
        .map(|gs| {
            gs.iter()
                .filter_map(|g| {
                    let id = g.get("id")?.as_str()?.to_string();
                    let label = g.get("label").and_then(Label::from_json)?;
                    Some((id, label))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `x-template.computed`: fields computed by a rule of the guidelines or an expression.
fn parse_computed(name: &str, meta: &Map<String, Value>) -> Result<Vec<ComputedDef>, ModelError> {
    let rule_params = meta.get("rule_params").and_then(Value::as_object);
    let mut computed = Vec::new();
    for c in meta
        .get("computed")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let id = str_field(name, c, "id", "computed")?;
        let label = c
            .get("label")
            .and_then(Label::from_json)
            .unwrap_or_else(|| Label::new(id.clone(), id.clone()));
        let computation = if let Some(rule) = c.get("rule").and_then(Value::as_str) {
            if !crate::rules::RULES.contains(&rule) {
                return Err(bad(name, format!("computed {id}: unknown rule '{rule}'")));
            }
            let params = rule_params.and_then(|p| p.get(rule)).cloned();
            // Parameters are checked once here, so evaluation never meets bad ones.
            crate::rules::compute(rule, &Value::Object(Map::new()), params.as_ref())
                .map_err(|e| bad(name, e.to_string()))?;
            Computation::Rule {
                rule: rule.to_string(),
                params,
            }
        } else if let Some(expr) = c.get("expr").and_then(Value::as_str) {
            Computation::Expr(Expr::compile(expr)?)
        } else {
            return Err(bad(name, format!("computed {id} needs 'rule' or 'expr'")));
        };
        computed.push(ComputedDef {
            id,
            label,
            unit: c.get("unit").and_then(Value::as_str).map(str::to_string),
            computation,
        });
    }
    Ok(computed)
}

/// `x-template.constraints`: rules across fields, as expressions.
fn parse_constraints(
    name: &str,
    meta: &Map<String, Value>,
) -> Result<Vec<TemplateConstraint>, ModelError> {
    let mut constraints = Vec::new();
    for c in meta
        .get("constraints")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let id = str_field(name, c, "id", "constraint")?;
        let expr = Expr::compile(&str_field(name, c, "expr", "constraint")?)?;
        let paths = c
            .get("paths")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(FieldPath::parse)
            .collect::<Result<Vec<_>, _>>()?;
        constraints.push(TemplateConstraint {
            severity: parse_severity(name, c.get("severity"))?,
            message: c
                .get("message")
                .and_then(Label::from_json)
                .unwrap_or_else(|| Label::new(id.clone(), id.clone())),
            id,
            expr,
            paths,
        });
    }
    Ok(constraints)
}

fn parse_severity(name: &str, v: Option<&Value>) -> Result<Severity, ModelError> {
    match v.and_then(Value::as_str) {
        None | Some("error") => Ok(Severity::Error),
        Some("warning") => Ok(Severity::Warning),
        Some(other) => Err(bad(name, format!("unknown severity '{other}'"))),
    }
}

/// Replaces every local `{"$ref": "#/$defs/x"}` by the definition it names (merged with the
/// sibling keywords), so that each field carries a self-contained schema.
fn resolve_refs(
    name: &str,
    value: &Value,
    defs: &Map<String, Value>,
    depth: usize,
) -> Result<Value, ModelError> {
    if depth > MAX_REF_DEPTH {
        return Err(bad(name, "$ref nesting too deep (recursive definitions?)"));
    }
    match value {
        Value::Object(o) => {
            let mut out = Map::new();
            if let Some(r) = o.get("$ref") {
                let target = r
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/$defs/"))
                    .and_then(|d| defs.get(d))
                    .ok_or_else(|| bad(name, format!("unresolvable $ref {r}")))?;
                if let Value::Object(t) = resolve_refs(name, target, defs, depth + 1)? {
                    out.extend(t);
                }
            }
            for (k, v) in o {
                if k == "$ref" || k == "$defs" || k == "$id" || k == "$schema" {
                    continue;
                }
                out.insert(k.clone(), resolve_refs(name, v, defs, depth + 1)?);
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => Ok(Value::Array(
            items
                .iter()
                .map(|v| resolve_refs(name, v, defs, depth + 1))
                .collect::<Result<_, _>>()?,
        )),
        other => Ok(other.clone()),
    }
}

fn build_field(
    name: &str,
    schema: &Value,
    codes: &CodeTables,
    at: &str,
) -> Result<FieldDef, ModelError> {
    let o = schema
        .as_object()
        .ok_or_else(|| bad(name, format!("field {at}: schema must be an object")))?;
    let kind = match o.get("type").and_then(Value::as_str) {
        Some("object") => FieldKind::Object,
        Some("array") => FieldKind::Array,
        Some("string") => FieldKind::String,
        Some("number") => FieldKind::Number,
        Some("integer") => FieldKind::Integer,
        Some("boolean") => FieldKind::Boolean,
        _ if o.contains_key("properties") => FieldKind::Object,
        _ => FieldKind::Any,
    };
    let child_at = |k: &str| {
        if at.is_empty() {
            k.to_string()
        } else {
            format!("{at}.{k}")
        }
    };
    let mut properties = Vec::new();
    if let Some(props) = o.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            properties.push((k.clone(), build_field(name, v, codes, &child_at(k))?));
        }
    }
    properties.sort_by_key(|(_, d)| d.order);
    let additional = match o.get("additionalProperties") {
        Some(v @ Value::Object(_)) => Some(Box::new(build_field(name, v, codes, &child_at("*"))?)),
        _ => None,
    };
    let items = match o.get("items") {
        Some(v @ Value::Object(_)) => Some(Box::new(build_field(name, v, codes, &child_at("*"))?)),
        _ => None,
    };
    let codes_id = o.get("x-codes").and_then(Value::as_str).map(str::to_string);
    if let Some(id) = &codes_id
        && codes.get(id).is_none()
    {
        return Err(bad(name, format!("field {at}: unknown code table '{id}'")));
    }
    let property_names = o
        .get("propertyNames")
        .and_then(|p| p.get("enum"))
        .and_then(Value::as_array)
        .map(|names| {
            names
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .or_else(|| {
            // A checklist keyed by a code table allows exactly the table's codes.
            let table = codes.get(codes_id.as_deref()?)?;
            (kind == FieldKind::Object && additional.is_some())
                .then(|| table.codes.iter().map(|c| c.code.clone()).collect())
        });
    let relevant = match o.get("x-relevant").and_then(Value::as_str) {
        Some(src) => Some(Expr::compile(src)?),
        None => None,
    };
    let constraint = match o.get("x-constraint") {
        Some(c) => {
            let src = c
                .get("expr")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(name, format!("field {at}: x-constraint needs 'expr'")))?;
            Some(FieldConstraint {
                expr: Expr::compile(src)?,
                severity: parse_severity(name, c.get("severity"))?,
                message: c
                    .get("message")
                    .and_then(Label::from_json)
                    .unwrap_or_else(|| Label::new("不满足约束", "constraint not met")),
            })
        }
        None => None,
    };
    let required = o
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let text = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
    let children = || {
        properties
            .iter()
            .map(|(_, d)| d)
            .chain(additional.as_deref())
            .chain(items.as_deref())
    };
    let subtree_relevant = relevant.is_some() || children().any(|d| d.subtree_relevant);
    let subtree_constrained = constraint.is_some() || children().any(|d| d.subtree_constrained);
    Ok(FieldDef {
        subtree_relevant,
        subtree_constrained,
        schema: schema.clone(),
        kind,
        label: o.get("x-label").and_then(Label::from_json),
        order: o.get("x-order").and_then(Value::as_i64).unwrap_or(i64::MAX),
        group: text("x-group"),
        widget: text("x-widget"),
        unit: text("x-unit"),
        help: o.get("x-help").and_then(Label::from_json),
        codes: codes_id,
        relevant,
        constraint,
        properties,
        additional,
        property_names,
        items,
        required,
        validator: OnceLock::new(),
    })
}

/// The templates a device or server knows, with their code tables.
#[derive(Debug, Clone)]
pub struct TemplateSet {
    templates: BTreeMap<(String, u32), Arc<Template>>,
    codes: Arc<CodeTables>,
}

impl TemplateSet {
    /// The templates and code tables shipped in `schemas/`.
    pub fn builtin() -> Result<TemplateSet, ModelError> {
        let codes = Arc::new(CodeTables::from_json(crate::builtin::CODE_TABLES)?);
        let mut set = TemplateSet {
            templates: BTreeMap::new(),
            codes,
        };
        for (name, text) in crate::builtin::TEMPLATES {
            set.add_json(name, text)?;
        }
        Ok(set)
    }

    /// An empty set over these code tables.
    pub fn with_code_tables(codes: CodeTables) -> TemplateSet {
        TemplateSet {
            templates: BTreeMap::new(),
            codes: Arc::new(codes),
        }
    }

    /// The built-in set, extended by what a server sent (docs/sync-protocol.md, "Catalog"):
    /// its code tables replace the built-in tables of the same id, and its templates add to
    /// the built-in ones (a kind and version the app knows is never replaced: templates do not
    /// change once published). What does not load is left out and returned with the reason,
    /// so a bad download never stops the app; if the received code tables break a built-in
    /// template, they are left out whole.
    pub fn assemble(
        received_code_tables: Option<&str>,
        received_templates: &[(String, String)],
    ) -> Result<(TemplateSet, Vec<(String, ModelError)>), ModelError> {
        let builtin_codes = CodeTables::from_json(crate::builtin::CODE_TABLES)?;
        let mut skipped = Vec::new();
        let mut set = None;
        if let Some(text) = received_code_tables {
            match CodeTables::from_json(text) {
                Ok(received) => {
                    let mut codes = builtin_codes.clone();
                    codes.overlay(received);
                    match TemplateSet::builtin_over(codes) {
                        Ok(s) => set = Some(s),
                        Err(e) => skipped.push(("code_tables".to_string(), e)),
                    }
                }
                Err(e) => skipped.push(("code_tables".to_string(), e)),
            }
        }
        let mut set = match set {
            Some(s) => s,
            None => TemplateSet::builtin_over(builtin_codes)?,
        };
        for (name, text) in received_templates {
            match Template::parse(name, text, set.codes.clone()) {
                Ok(t) => {
                    set.templates
                        .entry((t.kind.clone(), t.version))
                        .or_insert_with(|| Arc::new(t));
                }
                Err(e) => skipped.push((name.clone(), e)),
            }
        }
        Ok((set, skipped))
    }

    fn builtin_over(codes: CodeTables) -> Result<TemplateSet, ModelError> {
        let mut set = TemplateSet::with_code_tables(codes);
        for (name, text) in crate::builtin::TEMPLATES {
            set.add_json(name, text)?;
        }
        Ok(set)
    }

    /// The files of the built-in set: `(file name, text)` of every template, and the code
    /// tables' text.
    pub fn builtin_sources() -> (&'static [(&'static str, &'static str)], &'static str) {
        (crate::builtin::TEMPLATES, crate::builtin::CODE_TABLES)
    }

    /// Adds a template (for example one received through sync); refuses a second template
    /// of the same kind and version.
    pub fn add_json(&mut self, name: &str, text: &str) -> Result<Arc<Template>, ModelError> {
        let t = Arc::new(Template::parse(name, text, self.codes.clone())?);
        let key = (t.kind.clone(), t.version);
        if self.templates.contains_key(&key) {
            return Err(bad(&t.id(), "a template of this kind and version exists"));
        }
        self.templates.insert(key, t.clone());
        Ok(t)
    }

    pub fn code_tables(&self) -> &CodeTables {
        &self.codes
    }

    /// Every template, oldest version first.
    pub fn all(&self) -> impl Iterator<Item = &Arc<Template>> {
        self.templates.values()
    }

    /// The newest version of a kind.
    pub fn latest(&self, kind: &str) -> Result<Arc<Template>, ModelError> {
        self.templates
            .range((kind.to_string(), 0)..=(kind.to_string(), u32::MAX))
            .next_back()
            .map(|(_, t)| t.clone())
            .ok_or_else(|| ModelError::UnknownTemplate(kind.to_string()))
    }

    pub fn get(&self, kind: &str, version: u32) -> Result<Arc<Template>, ModelError> {
        self.templates
            .get(&(kind.to_string(), version))
            .cloned()
            .ok_or_else(|| ModelError::UnknownTemplate(format!("{kind}.v{version}")))
    }

    /// Looks up `kind` or `kind.vN`.
    pub fn find(&self, id: &str) -> Result<Arc<Template>, ModelError> {
        if let Some((kind, v)) = id.rsplit_once(".v")
            && let Ok(v) = v.parse::<u32>()
        {
            return self.get(kind, v);
        }
        self.latest(id)
    }
}
