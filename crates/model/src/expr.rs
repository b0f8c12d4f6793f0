//! Conditions in CEL (Common Expression Language), evaluated with the `cel` crate.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use cel::objects::{Key, Map};
use cel::{Context, Env, Program, Value as CelValue};
use serde_json::Value;

use crate::ModelError;

static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| Arc::new(Env::stdlib()));

/// A compiled CEL expression from a template.
pub struct Expr {
    source: String,
    program: Program,
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Expr({:?})", self.source)
    }
}

/// The variables an expression sees.
#[derive(Default)]
pub struct Scope<'a> {
    pub data: Option<&'a Value>,
    pub value: Option<&'a Value>,
    pub computed: Option<&'a Value>,
    pub meta: Option<&'a Value>,
}

impl Expr {
    pub fn compile(source: &str) -> Result<Expr, ModelError> {
        let program = ENV.compile(source).map_err(|e| ModelError::BadExpression {
            expr: source.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Expr {
            source: source.to_string(),
            program,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates to JSON; `Err` carries the evaluation error's text.
    pub fn eval(&self, scope: &Scope<'_>) -> Result<Value, String> {
        let mut ctx = Context::with_env(ENV.clone());
        let empty = Value::Object(Default::default());
        ctx.add_variable_from_value("data", to_cel(scope.data.unwrap_or(&empty)));
        ctx.add_variable_from_value("computed", to_cel(scope.computed.unwrap_or(&empty)));
        ctx.add_variable_from_value("meta", to_cel(scope.meta.unwrap_or(&empty)));
        ctx.add_variable_from_value("value", to_cel(scope.value.unwrap_or(&Value::Null)));
        ctx.add_function("distance_m", |a: f64, b: f64, c: f64, d: f64| {
            crate::rules::geo::distance_m(a, b, c, d)
        })
        .map_err(|e| e.to_string())?;
        let result = self.program.execute(&ctx).map_err(|e| e.to_string())?;
        Ok(from_cel(&result))
    }

    /// Evaluates a condition: `Some(bool)` when it gives a boolean, `None` when it fails or
    /// gives something else.
    pub fn eval_bool(&self, scope: &Scope<'_>) -> Option<bool> {
        match self.eval(scope) {
            Ok(Value::Bool(b)) => Some(b),
            _ => None,
        }
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
        let scope = Scope {
            data: Some(&data),
            ..Default::default()
        };
        assert_eq!(e.eval(&scope).unwrap(), json!(75.0));
    }

    #[test]
    fn has_guards_missing_fields() {
        let e = Expr::compile("!has(data.offset_reason) && has(data.x)").unwrap();
        let data = json!({"x": 1});
        let scope = Scope {
            data: Some(&data),
            ..Default::default()
        };
        assert_eq!(e.eval_bool(&scope), Some(true));
    }

    #[test]
    fn missing_field_is_an_error_not_a_panic() {
        let e = Expr::compile("data.nothing > 1.0").unwrap();
        assert_eq!(e.eval_bool(&Scope::default()), None);
    }

    #[test]
    fn bad_syntax_is_a_typed_error() {
        assert!(matches!(
            Expr::compile("data.x >"),
            Err(ModelError::BadExpression { .. })
        ));
    }

    #[test]
    fn distance_function() {
        let e = Expr::compile("distance_m(33.49, 112.43, 33.49, 112.43) < 1.0").unwrap();
        assert_eq!(e.eval_bool(&Scope::default()), Some(true));
    }
}
