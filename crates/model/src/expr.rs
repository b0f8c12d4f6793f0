//! Conditions in CEL (Common Expression Language), evaluated with the `cel` crate.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, LazyLock};

use cel::objects::{Key, Map};
use cel::{Context, Env, IdedExpr, Program, Value as CelValue};
use serde_json::Value;

use crate::ModelError;

static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| Arc::new(Env::stdlib()));

/// A compiled CEL expression from a template.
pub struct Expr {
    source: String,
    program: Program,
    /// The top-level keys of `data` it reads; `None` when it uses `data` as a whole.
    data_keys: Option<BTreeSet<String>>,
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Expr({:?})", self.source)
    }
}

/// The variables expressions see: `data`, `computed` and `meta`, converted to CEL once and
/// shared by every expression evaluated over the same record state; `value` is bound per call.
pub struct Scope {
    ctx: Context<'static, 'static>,
}

impl Scope {
    pub fn new(data: Option<&Value>, computed: Option<&Value>, meta: Option<&Value>) -> Scope {
        Scope::with_data_keys(data, None, computed, meta)
    }

    /// Like [`Scope::new`], converting only the `keys` of `data` (when given): what the
    /// expressions to evaluate read, see [`Expr::data_keys`].
    pub fn with_data_keys(
        data: Option<&Value>,
        keys: Option<&BTreeSet<String>>,
        computed: Option<&Value>,
        meta: Option<&Value>,
    ) -> Scope {
        let mut ctx = Context::with_env(ENV.clone());
        let empty = Value::Object(Default::default());
        let data = data.unwrap_or(&empty);
        let data = match (keys, data) {
            (Some(keys), Value::Object(o)) => {
                let map: HashMap<Key, CelValue> = keys
                    .iter()
                    .filter_map(|k| Some((Key::from(k.clone()), to_cel(o.get(k)?))))
                    .collect();
                CelValue::Map(Map { map: Arc::new(map) })
            }
            _ => to_cel(data),
        };
        ctx.add_variable_from_value("data", data);
        ctx.add_variable_from_value("computed", to_cel(computed.unwrap_or(&empty)));
        ctx.add_variable_from_value("meta", to_cel(meta.unwrap_or(&empty)));
        ctx.add_variable_from_value("value", CelValue::Null);
        // The name is ours and not a standard function, so registering cannot fail.
        let _ = ctx.add_function("distance_m", |a: f64, b: f64, c: f64, d: f64| {
            crate::rules::geo::distance_m(a, b, c, d)
        });
        Scope { ctx }
    }
}

impl Default for Scope {
    fn default() -> Self {
        Scope::new(None, None, None)
    }
}

impl Expr {
    pub fn compile(source: &str) -> Result<Expr, ModelError> {
        let program = ENV.compile(source).map_err(|e| ModelError::BadExpression {
            expr: source.to_string(),
            reason: e.to_string(),
        })?;
        let mut keys = Some(BTreeSet::new());
        collect_data_keys(program.expression(), &mut keys);
        Ok(Expr {
            source: source.to_string(),
            program,
            data_keys: keys,
        })
    }

    /// The top-level keys of `data` this expression reads (`None`: all of `data`).
    pub fn data_keys(&self) -> Option<&BTreeSet<String>> {
        self.data_keys.as_ref()
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates to JSON, with `value` bound when given; `Err` carries the error's text.
    pub fn eval(&self, scope: &Scope, value: Option<&Value>) -> Result<Value, String> {
        let result = match value {
            Some(v) => {
                let mut inner = scope.ctx.new_inner_scope();
                inner.add_variable_from_value("value", to_cel(v));
                self.program.execute(&inner)
            }
            None => self.program.execute(&scope.ctx),
        };
        result.map(|r| from_cel(&r)).map_err(|e| e.to_string())
    }

    /// Evaluates a condition: `Some(bool)` when it gives a boolean, `None` when it fails or
    /// gives something else.
    pub fn eval_bool(&self, scope: &Scope, value: Option<&Value>) -> Option<bool> {
        match self.eval(scope, value) {
            Ok(Value::Bool(b)) => Some(b),
            _ => None,
        }
    }
}

/// Walks the parsed expression (the `cel` crate's AST) for `data.<key>` selections, so that
/// only those parts of a record are converted for evaluation.
fn collect_data_keys(e: &IdedExpr, keys: &mut Option<BTreeSet<String>>) {
    use cel::common::ast::{EntryExpr, Expr as E};
    match &e.expr {
        E::Select(s) => match &s.operand.expr {
            E::Ident(name) if name == "data" => {
                if let Some(k) = keys {
                    k.insert(s.field.clone());
                }
            }
            _ => collect_data_keys(&s.operand, keys),
        },
        E::Ident(name) if name == "data" => *keys = None,
        E::Call(c) => {
            if let Some(t) = &c.target {
                collect_data_keys(t, keys);
            }
            for a in &c.args {
                collect_data_keys(a, keys);
            }
        }
        E::Comprehension(c) => {
            for x in [
                &c.iter_range,
                &c.accu_init,
                &c.loop_cond,
                &c.loop_step,
                &c.result,
            ] {
                collect_data_keys(x, keys);
            }
        }
        E::List(l) => l.elements.iter().for_each(|x| collect_data_keys(x, keys)),
        E::Map(m) => {
            for entry in &m.entries {
                if let EntryExpr::MapEntry(me) = &entry.expr {
                    collect_data_keys(&me.key, keys);
                    collect_data_keys(&me.value, keys);
                }
            }
        }
        E::Struct(st) => {
            for entry in &st.entries {
                if let EntryExpr::StructField(f) = &entry.expr {
                    collect_data_keys(&f.value, keys);
                }
            }
        }
        _ => {}
    }
}

/// JSON to CEL; every number becomes a double so templates never trip over int/double.
fn to_cel(value: &Value) -> CelValue {
    match value {
        Value::Null => CelValue::Null,
        Value::Bool(b) => CelValue::Bool(*b),
        Value::Number(n) => CelValue::Float(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => CelValue::String(Arc::new(s.clone())),
        Value::Array(items) => CelValue::List(Arc::new(items.iter().map(to_cel).collect())),
        Value::Object(o) => {
            let map: HashMap<Key, CelValue> = o
                .iter()
                .map(|(k, v)| (Key::from(k.clone()), to_cel(v)))
                .collect();
            CelValue::Map(Map { map: Arc::new(map) })
        }
    }
}

fn from_cel(value: &CelValue) -> Value {
    match value {
        CelValue::Null => Value::Null,
        CelValue::Bool(b) => Value::Bool(*b),
        CelValue::Int(i) => Value::from(*i),
        CelValue::UInt(u) => Value::from(*u),
        CelValue::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        CelValue::String(s) => Value::String(s.as_ref().clone()),
        CelValue::List(items) => Value::Array(items.iter().map(from_cel).collect()),
        CelValue::Map(m) => {
            let mut entries: Vec<(String, Value)> = m
                .map
                .iter()
                .map(|(k, v)| (k.to_string(), from_cel(v)))
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().collect())
        }
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_are_doubles() {
        let e = Expr::compile("data.n_yes / data.n_total * 100.0").unwrap();
        let data = json!({"n_yes": 3, "n_total": 4});
        let scope = Scope::new(Some(&data), None, None);
        assert_eq!(e.eval(&scope, None).unwrap(), json!(75.0));
    }

    #[test]
    fn has_guards_missing_fields() {
        let e = Expr::compile("!has(data.offset_reason) && has(data.x)").unwrap();
        let data = json!({"x": 1});
        let scope = Scope::new(Some(&data), None, None);
        assert_eq!(e.eval_bool(&scope, None), Some(true));
        let v = Expr::compile("value >= 1.0").unwrap();
        assert_eq!(v.eval_bool(&scope, Some(&json!(0.5))), Some(false));
    }

    #[test]
    fn missing_field_is_an_error_not_a_panic() {
        let e = Expr::compile("data.nothing > 1.0").unwrap();
        assert_eq!(e.eval_bool(&Scope::default(), None), None);
    }

    #[test]
    fn bad_syntax_is_a_typed_error() {
        assert!(matches!(
            Expr::compile("data.x >"),
            Err(ModelError::BadExpression { .. })
        ));
    }

    #[test]
    fn finds_the_data_keys_an_expression_reads() {
        let e =
            Expr::compile("has(data.a) && data.b.c > 1.0 && [data.d].exists(x, x > 0.0)").unwrap();
        let keys: Vec<&str> = e.data_keys().unwrap().iter().map(|s| s.as_str()).collect();
        assert_eq!(keys, vec!["a", "b", "d"]);
        assert!(
            Expr::compile("size(data) > 1")
                .unwrap()
                .data_keys()
                .is_none()
        );
    }

    #[test]
    fn distance_function() {
        let e = Expr::compile("distance_m(33.49, 112.43, 33.49, 112.43) < 1.0").unwrap();
        assert_eq!(e.eval_bool(&Scope::default(), None), Some(true));
    }
}
