//! Evaluating a record's data against its template: validation issues, computed fields and
//! completion. Runs on the device for the record view and at submit, and again on the server.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::expr::Scope;
use crate::template::Computation;
use crate::{FieldDef, FieldKind, FieldPath, Issue, Label, Severity, Template};

/// The result of evaluating a record's data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub issues: Vec<Issue>,
    /// Computed fields, by id; a field whose inputs are missing is absent or null.
    pub computed: Map<String, Value>,
    /// Percentage (0-100) of the required, relevant entries that are filled.
    pub completion_pct: f64,
    pub required_total: u32,
    pub required_done: u32,
}

impl Evaluation {
    pub fn errors(&self) -> impl Iterator<Item = &Issue> {
        self.issues.iter().filter(|i| i.severity == Severity::Error)
    }

    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }
}

impl Template {
    /// The computed fields of `data` alone, without validating it (exports, ledgers): the
    /// same values [`Self::evaluate`] gives.
    pub fn computed_values(&self, data: &Value, meta: &Value) -> Map<String, Value> {
        self.compute_fields(data, meta).0
    }

    /// The computed fields, and the issues the rules find.
    fn compute_fields(&self, data: &Value, meta: &Value) -> (Map<String, Value>, Vec<Issue>) {
        let empty = Value::Object(Map::new());
        let data = if data.is_object() { data } else { &empty };
        let keys = self.expr_data_keys.as_ref();
        let mut computed = Map::new();
        let mut rule_findings: Vec<Issue> = Vec::new();
        for c in &self.computed {
            let value = match &c.computation {
                Computation::Rule { rule, params } => {
                    crate::rules::compute(rule, data, params.as_ref())
                        .ok()
                        .map(|mut v| {
                            if let Some(Value::Array(found)) = v
                                .as_object_mut()
                                .and_then(|o| o.remove(crate::rules::FINDINGS_KEY))
                            {
                                rule_findings.extend(
                                    found
                                        .into_iter()
                                        .filter_map(|f| serde_json::from_value::<Issue>(f).ok()),
                                );
                            }
                            v
                        })
                }
                Computation::Expr(e) => {
                    let so_far = Value::Object(computed.clone());
                    e.eval(
                        &Scope::with_data_keys(Some(data), keys, Some(&so_far), Some(meta)),
                        None,
                    )
                    .ok()
                }
            };
            if let Some(v) = value {
                computed.insert(c.id.clone(), v);
            }
        }
        (computed, rule_findings)
    }

    /// Evaluates `data` (the record's `data` object); `meta` is visible to expressions.
    pub fn evaluate(&self, data: &Value, meta: &Value) -> Evaluation {
        let empty = Value::Object(Map::new());
        let data = if data.is_object() { data } else { &empty };

        let keys = self.expr_data_keys.as_ref();
        let base = Scope::with_data_keys(Some(data), keys, None, Some(meta));
        let mut irrelevant = Vec::new();
        collect_irrelevant(&self.root, data, &base, &mut irrelevant);
        let is_irrelevant = |p: &FieldPath| irrelevant.iter().any(|i| p.starts_with(i));

        let (computed, rule_findings) = self.compute_fields(data, meta);
        let computed_value = Value::Object(computed);

        let mut issues = Vec::new();
        for e in self.validator.iter_errors(data) {
            let at = FieldPath::from_pointer(e.instance_path().as_str());
            let (path, code) = match e.kind() {
                jsonschema::error::ValidationErrorKind::Required { property } => (
                    at.child_key(property.as_str().unwrap_or_default()),
                    "required",
                ),
                kind => (at, kind.keyword()),
            };
            if is_irrelevant(&path) {
                continue;
            }
            issues.push(Issue {
                path: path.to_string(),
                severity: Severity::Error,
                code: code.to_string(),
                message: schema_message(code, &e.to_string()),
            });
        }

        issues.extend(
            rule_findings
                .into_iter()
                .filter(|i| FieldPath::parse(&i.path).map_or(true, |p| !is_irrelevant(&p))),
        );

        let mut field_issues = Vec::new();
        check_field_constraints(&self.root, data, &base, &is_irrelevant, &mut field_issues);
        issues.extend(field_issues);

        let with_computed =
            Scope::with_data_keys(Some(data), keys, Some(&computed_value), Some(meta));
        for c in &self.constraints {
            let ok = c.expr.eval_bool(&with_computed, None);
            if ok == Some(false) {
                let paths: Vec<String> = if c.paths.is_empty() {
                    vec![String::new()]
                } else {
                    c.paths
                        .iter()
                        .filter(|p| !is_irrelevant(p))
                        .map(|p| p.to_string())
                        .collect()
                };
                for path in paths {
                    issues.push(Issue {
                        path,
                        severity: c.severity,
                        code: "constraint".to_string(),
                        message: c.message.clone(),
                    });
                }
            }
        }
        issues.sort_by(|a, b| a.path.cmp(&b.path).then(a.code.cmp(&b.code)));
        issues.dedup();

        let (required_total, required_done) = completion(&self.root, data, &is_irrelevant);
        let completion_pct = if required_total == 0 {
            100.0
        } else {
            (1000.0 * f64::from(required_done) / f64::from(required_total)).round() / 10.0
        };
        let Value::Object(computed) = computed_value else {
            unreachable!("built as an object above")
        };
        Evaluation {
            issues,
            computed,
            completion_pct,
            required_total,
            required_done,
        }
    }
}

fn schema_message(code: &str, detail: &str) -> Label {
    let zh = match code {
        "required" => "必填项未填写",
        "type" => "数据类型不符",
        "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" => "数值超出允许范围",
        "enum" | "const" => "不在代码表中",
        "pattern" | "format" => "格式不正确",
        "minItems" => "条目数量不足",
        "maxItems" => "条目数量过多",
        "minLength" | "maxLength" => "长度不符合要求",
        "additionalProperties" | "propertyNames" => "存在模板未定义的字段",
        "uniqueItems" => "存在重复条目",
        _ => "不符合模板要求",
    };
    let en = if code == "required" {
        "required field is missing".to_string()
    } else {
        detail.to_string()
    };
    Label::new(zh, en)
}

/// Visits every value present in `data` with its definition, skipping subtrees that hold no
/// field constraint.
fn for_each_constrained(
    def: &FieldDef,
    value: &Value,
    path: &FieldPath,
    f: &mut dyn FnMut(&FieldDef, &Value, &FieldPath) -> bool,
) {
    if !f(def, value, path) {
        return;
    }
    match (def.kind, value) {
        (FieldKind::Object, Value::Object(o)) => {
            for (k, v) in o {
                if let Some(child) = def.child(k).filter(|c| c.subtree_constrained) {
                    for_each_constrained(child, v, &path.child_key(k), f);
                }
            }
        }
        (FieldKind::Array, Value::Array(items)) => {
            if let Some(item_def) = def.items.as_deref().filter(|d| d.subtree_constrained) {
                for (i, v) in items.iter().enumerate() {
                    for_each_constrained(item_def, v, &path.child_index(i), f);
                }
            }
        }
        _ => {}
    }
}

fn collect_irrelevant(root: &FieldDef, data: &Value, scope: &Scope, out: &mut Vec<FieldPath>) {
    // Named properties that are absent can still be irrelevant (then they are not required).
    fn walk(
        def: &FieldDef,
        value: Option<&Value>,
        scope: &Scope,
        path: &FieldPath,
        out: &mut Vec<FieldPath>,
    ) {
        if !def.subtree_relevant {
            return;
        }
        if let Some(rel) = &def.relevant
            && !path.is_empty()
            && rel.eval_bool(scope, value) == Some(false)
        {
            out.push(path.clone());
            return;
        }
        match (def.kind, value) {
            (FieldKind::Object, v) => {
                let obj = v.and_then(Value::as_object);
                for (k, child) in def.properties.iter().filter(|(_, c)| c.subtree_relevant) {
                    walk(
                        child,
                        obj.and_then(|o| o.get(k)),
                        scope,
                        &path.child_key(k),
                        out,
                    );
                }
                let add = def.additional.as_deref().filter(|a| a.subtree_relevant);
                if let (Some(add), Some(o)) = (add, obj) {
                    for (k, v) in o {
                        if def.property(k).is_none() {
                            walk(add, Some(v), scope, &path.child_key(k), out);
                        }
                    }
                }
            }
            (FieldKind::Array, Some(Value::Array(items))) => {
                if let Some(item_def) = def.items.as_deref().filter(|d| d.subtree_relevant) {
                    for (i, v) in items.iter().enumerate() {
                        walk(item_def, Some(v), scope, &path.child_index(i), out);
                    }
                }
            }
            _ => {}
        }
    }
    walk(root, Some(data), scope, &FieldPath::default(), out);
}

fn check_field_constraints(
    root: &FieldDef,
    data: &Value,
    scope: &Scope,
    is_irrelevant: &dyn Fn(&FieldPath) -> bool,
    out: &mut Vec<Issue>,
) {
    for_each_constrained(
        root,
        data,
        &FieldPath::default(),
        &mut |def, value, path| {
            if !def.subtree_constrained || is_irrelevant(path) {
                return false;
            }
            if let Some(c) = &def.constraint
                && !value.is_null()
                && c.expr.eval_bool(scope, Some(value)) == Some(false)
            {
                out.push(Issue {
                    path: path.to_string(),
                    severity: c.severity,
                    code: "constraint".to_string(),
                    message: c.message.clone(),
                });
            }
            true
        },
    );
}

/// Counts the required, relevant entries at the top level, each checklist item counting as
/// one entry (done when it has a result).
fn completion(
    root: &FieldDef,
    data: &Value,
    is_irrelevant: &dyn Fn(&FieldPath) -> bool,
) -> (u32, u32) {
    let (mut total, mut done) = (0u32, 0u32);
    let top = FieldPath::default();
    for (key, def) in &root.properties {
        let path = top.child_key(key);
        if is_irrelevant(&path) {
            continue;
        }
        let value = data.get(key).filter(|v| !v.is_null());
        if def.widget.as_deref() == Some("checklist")
            && let Some(names) = &def.property_names
        {
            for name in names {
                total += 1;
                let has_result = value
                    .and_then(|v| v.get(name))
                    .and_then(|item| item.get("result"))
                    .is_some_and(|r| !r.is_null());
                if has_result {
                    done += 1;
                }
            }
            continue;
        }
        if root.required.iter().any(|r| r == key) {
            total += 1;
            let filled = match value {
                None => false,
                Some(Value::String(s)) => !s.trim().is_empty(),
                Some(Value::Array(a)) => !a.is_empty(),
                Some(_) => true,
            };
            if filled {
                done += 1;
            }
        }
    }
    (total, done)
}
