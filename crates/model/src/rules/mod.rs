//! Domain rules of the national guidelines, as pure functions.
//!
//! Every number comes from `domain.md` (GB 15618-2018, the 农村黑臭水体治理工作指南, the soil
//! sampling technical rules and the county plan); each module names its source at the top.
//! Provincial or practice values are parameters with defaults, overridable per template through
//! `x-template.rule_params.<rule>`.
//!
//! Each rule has a typed API (`*Input::from_data`, a `*Params` struct with `Default`, a
//! serializable result) and is reachable by name through [`compute`]. Inputs are read leniently:
//! a missing or wrong-typed field is simply absent, never an error. Only parameters can be
//! rejected ([`RuleError::BadParams`]).

pub mod black_odorous;
pub mod geo;
pub mod sewage_facility;
pub mod soil_quality;
pub mod soil_sampling;
pub mod village;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Errors of [`compute`].
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("unknown rule '{0}'")]
    UnknownRule(String),
    #[error("bad parameters for rule '{rule}': {reason}")]
    BadParams { rule: String, reason: String },
}

/// Names accepted by [`compute`].
pub const RULES: &[&str] = &[
    "black_odorous",
    "soil_quality_class",
    "soil_sampling",
    "village_rectification",
    "sewage_facility",
];

/// Runs the rule `rule` on the record `data`, with `params` (a JSON object, or `None`/`null`
/// for the defaults) merged over the rule's defaults. Returns the rule's result as JSON.
pub fn compute(rule: &str, data: &Value, params: Option<&Value>) -> Result<Value, RuleError> {
    match rule {
        "black_odorous" => run(rule, params, |p| {
            black_odorous::evaluate(&black_odorous::BlackOdorousInput::from_data(data), p)
        }),
        "soil_quality_class" => run(rule, params, |p| {
            soil_quality::evaluate(&soil_quality::SoilQualityInput::from_data(data), p)
        }),
        "soil_sampling" => run(rule, params, |p| {
            soil_sampling::evaluate(&soil_sampling::SoilSamplingInput::from_data(data), p)
        }),
        "village_rectification" => run(rule, params, |p| {
            village::evaluate(&village::VillageInput::from_data(data), p)
        }),
        "sewage_facility" => run(rule, params, |p| {
            sewage_facility::evaluate(&sewage_facility::SewageFacilityInput::from_data(data), p)
        }),
        _ => Err(RuleError::UnknownRule(rule.to_owned())),
    }
}

fn run<P, R>(
    rule: &str,
    params: Option<&Value>,
    f: impl FnOnce(&P) -> R,
) -> Result<Value, RuleError>
where
    P: DeserializeOwned + Default,
    R: Serialize,
{
    let bad = |reason: String| RuleError::BadParams {
        rule: rule.to_owned(),
        reason,
    };
    let params = match params {
        None | Some(Value::Null) => P::default(),
        Some(v @ Value::Object(_)) => P::deserialize(v).map_err(|e| bad(e.to_string()))?,
        Some(_) => return Err(bad("expected a JSON object".to_owned())),
    };
    // Result types hold only plain fields and string-keyed maps: serialization cannot fail.
    Ok(serde_json::to_value(f(&params)).unwrap_or_default())
}

// ---- lenient readers of record data ----

/// The value at `path` (object keys) below `v`, if every step exists.
pub(crate) fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, key| v.get(key))
}

/// A finite number at `path`.
pub(crate) fn num(v: &Value, path: &[&str]) -> Option<f64> {
    get(v, path)
        .and_then(Value::as_f64)
        .filter(|x| x.is_finite())
}

/// A non-negative number at `path`.
pub(crate) fn non_neg(v: &Value, path: &[&str]) -> Option<f64> {
    num(v, path).filter(|x| *x >= 0.0)
}

/// A non-negative whole number at `path` (`10` and `10.0` both count).
pub(crate) fn count(v: &Value, path: &[&str]) -> Option<u64> {
    let v = get(v, path)?;
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|x| *x >= 0.0 && x.fract() == 0.0 && *x <= 9_007_199_254_740_992.0)
            .map(|x| x as u64)
    })
}

/// A boolean at `path`.
pub(crate) fn flag(v: &Value, path: &[&str]) -> Option<bool> {
    get(v, path).and_then(Value::as_bool)
}

/// A code (a unit enum deserialized from its string) at `path`; unknown codes are absent.
pub(crate) fn code<T: DeserializeOwned>(v: &Value, path: &[&str]) -> Option<T> {
    get(v, path).and_then(|v| T::deserialize(v).ok())
}

/// A calendar date `(year, month, day)` from the `YYYY-MM-DD` start of a date or RFC 3339
/// date-time string at `path` (the date as written, in the writer's own time zone).
pub(crate) fn date(v: &Value, path: &[&str]) -> Option<(i32, u32, u32)> {
    date_prefix(get(v, path)?.as_str()?)
}

/// The `(year, month, day)` a text starts with (`2024-07-16`, `2024-07-16T09:30:00+08:00`).
pub(crate) fn date_prefix(s: &str) -> Option<(i32, u32, u32)> {
    let part =
        |r: std::ops::Range<usize>| s.get(r).filter(|p| p.bytes().all(|b| b.is_ascii_digit()));
    if s.as_bytes().get(4) != Some(&b'-') || s.as_bytes().get(7) != Some(&b'-') {
        return None;
    }
    let year = part(0..4)?.parse().ok()?;
    let month = part(5..7)?.parse().ok().filter(|m| (1..=12).contains(m))?;
    let day = part(8..10)?.parse().ok().filter(|d| (1..=31).contains(d))?;
    Some((year, month, day))
}

/// An issue a rule finds on the record (lifted into the record's issues by the evaluation;
/// see [`FINDINGS_KEY`]).
pub(crate) fn finding(
    path: impl Into<String>,
    severity: crate::Severity,
    code: &str,
    zh: String,
    en: String,
) -> crate::Issue {
    crate::Issue {
        path: path.into(),
        severity,
        code: code.to_owned(),
        message: crate::Label::new(zh, en),
    }
}

/// The key of a rule's result that holds the issues it finds on the record. The evaluation
/// moves them into the record's issues (errors block submitting, warnings do not) and keeps
/// the rest of the result as the computed value.
pub const FINDINGS_KEY: &str = "findings";

/// `x` rounded to `decimals` decimal places.
pub(crate) fn round_to(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

/// A number for messages: at most 4 decimals, no trailing zeros (`8`, `7.9`, `0.4`).
pub(crate) fn fmt_num(x: f64) -> String {
    format!("{}", round_to(x, 4))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dispatches_every_rule_on_empty_data() {
        for rule in RULES {
            let out = compute(rule, &json!({}), None).unwrap();
            assert!(out.is_object(), "{rule}: {out}");
        }
        // Wrong-typed data never errors.
        for rule in RULES {
            assert!(compute(rule, &json!([1, "x", null]), Some(&json!(null))).is_ok());
            assert!(
                compute(
                    rule,
                    &json!({"sensory": 3, "lab_results": "x", "checklist": [], "inlet": 1}),
                    None
                )
                .is_ok()
            );
        }
    }

    #[test]
    fn unknown_rule_and_bad_params() {
        assert!(matches!(
            compute("nope", &json!({}), None),
            Err(RuleError::UnknownRule(r)) if r == "nope"
        ));
        for rule in RULES {
            let err = compute(rule, &json!({}), Some(&json!({"no_such_key": 1}))).unwrap_err();
            assert!(matches!(err, RuleError::BadParams { .. }), "{rule}");
            assert!(err.to_string().contains("no_such_key"), "{err}");
            let err = compute(rule, &json!({}), Some(&json!([1]))).unwrap_err();
            assert!(matches!(err, RuleError::BadParams { .. }), "{rule}");
        }
        let err = compute(
            "soil_sampling",
            &json!({}),
            Some(&json!({"allowed_offset_m": "50"})),
        );
        assert!(matches!(err, Err(RuleError::BadParams { .. })));
    }

    #[test]
    fn readers_are_lenient() {
        let v = json!({"a": {"n": 10.0, "s": "x", "neg": -1, "f": 1.5}});
        assert_eq!(count(&v, &["a", "n"]), Some(10));
        assert_eq!(count(&v, &["a", "f"]), None);
        assert_eq!(count(&v, &["a", "neg"]), None);
        assert_eq!(num(&v, &["a", "s"]), None);
        assert_eq!(non_neg(&v, &["a", "neg"]), None);
        assert_eq!(num(&v, &["a", "missing", "deeper"]), None);
        assert_eq!(fmt_num(0.4 * 24.0), "9.6");
        assert_eq!(fmt_num(8.0), "8");
    }
}
