//! Lab results over HTTP (JSON), for a LIMS (实验室信息管理系统): the same three operations
//! as the lab's console pages (`/lab`), on [`crate::lab`]'s service functions. Lab staff (and
//! admins) come by a device token (a LIMS enrolls with an enrollment code issued for a lab
//! user) or by a web session (`POST /v1/login`, then `X-CSRF-Token` on the write).
//!
//! Lab staff see blind codes (送检密码编码) only: no answer here names the sample's record,
//! point, position, photos or sampler.

use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use serde_json::{Map, Value};

use super::auth::JsonBody;
use super::{ApiError, Shared, blocking};
use crate::actor::Actor;
use crate::lab::{self, LAB_RESULTS, LabSample};
use crate::storage::LabSampleIndex;

/// One sample of the lab's list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LabListItem {
    /// The blind code (送检密码编码) the sample was handed in under.
    pub blind_code: String,
    /// The lab it was handed in to, as the hand-in names it.
    pub lab: String,
    /// When it was handed in (milliseconds since 1970).
    pub handed_in_at_ms: i64,
    /// How many results are entered: values, and items reported not detected.
    pub entered: u32,
}

impl From<LabSampleIndex> for LabListItem {
    fn from(s: LabSampleIndex) -> Self {
        LabListItem {
            blind_code: s.blind_code,
            lab: s.lab,
            handed_in_at_ms: s.handed_in_at_ms,
            entered: s.entered,
        }
    }
}

/// The samples handed in within the caller's org units.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LabList {
    /// Newest hand-in first.
    pub samples: Vec<LabListItem>,
    /// The most samples one answer lists (the newest hand-ins); a sample beyond it is still
    /// found by its code.
    pub limit: u32,
}

// `LabSample` as the OpenAPI description shows it (only the description uses it; a test
// below checks it has the fields `LabSample` serializes).
/// A sample as the lab sees it: its blind code, results, the fields the lab fills and the class
/// computed from the results; never the record, point, position, photos or sampler.
#[derive(utoipa::ToSchema)]
#[schema(as = LabSample)]
#[allow(dead_code)]
pub struct LabSampleSchema {
    /// The blind code the sample was handed in under.
    blind_code: String,
    /// The lab it was handed in to.
    lab: String,
    /// When it was handed in (milliseconds since 1970).
    handed_in_at_ms: i64,
    /// The results entered so far (`data.lab_results`), by key: numbers (`cd`, `ph`),
    /// `not_detected` (keys), `method` (text).
    #[schema(value_type = Object)]
    results: Map<String, Value>,
    /// The fields the lab fills, in the template's order.
    fields: Vec<LabFieldSchema>,
    /// The soil quality class computed from the results (GB 15618-2018): `class`, `panel`
    /// (complete or partial), `missing`, exceedances.
    #[schema(value_type = Object)]
    class: Value,
    /// The class's name (优先保护类), once the deciding panel is complete.
    class_label: Option<crate::review::detail::Labels>,
    /// The deciding items still missing (`cd`, `hg`, `as`, `pb`, `cr`).
    missing: Vec<String>,
}

/// One field the lab fills.
#[derive(utoipa::ToSchema)]
#[schema(as = LabField)]
#[allow(dead_code)]
pub struct LabFieldSchema {
    /// The key under `lab_results` (`cd`): what a request's body names.
    key: String,
    label: crate::review::detail::Labels,
    unit: Option<String>,
    /// `number`, `text`, `flag` (true or false) or `codes` (the items not detected).
    kind: String,
    /// For `codes`: the keys that may be chosen.
    choices: Vec<String>,
}

/// The samples handed in to the caller's lab within their org units, by blind code, newest
/// first (at most `limit`). Lab staff and admins.
#[utoipa::path(get, path = "/v1/lab/samples",
    responses((status = 200, body = LabList),
              (status = 403, body = jingtu_protocol::ErrorBody)),
    security(("device_token" = []), ("session_cookie" = [])))]
pub async fn list(
    State(st): State<Shared>,
    Extension(caller): Extension<Actor>,
) -> Result<Json<LabList>, ApiError> {
    let samples = blocking(move || Ok(lab::list(&st.ctx, &caller)?)).await?;
    Ok(Json(LabList {
        samples: samples.into_iter().map(Into::into).collect(),
        limit: lab::LIST_LIMIT,
    }))
}

/// A sample by its blind code: its results, the fields the lab fills, and the class computed
/// from them. 404 for a code not handed in within the caller's org units; 409 `invalid_state`
/// for a code that names two samples (the preparation room must check the codes).
#[utoipa::path(get, path = "/v1/lab/samples/{code}",
    params(("code" = String, Path, description = "the blind code (送检密码编码)")),
    responses((status = 200, body = LabSampleSchema),
              (status = 403, body = jingtu_protocol::ErrorBody),
              (status = 404, body = jingtu_protocol::ErrorBody),
              (status = 409, body = jingtu_protocol::ErrorBody)),
    security(("device_token" = []), ("session_cookie" = [])))]
pub async fn sample(
    State(st): State<Shared>,
    Extension(caller): Extension<Actor>,
    Path(code): Path<String>,
) -> Result<Json<LabSample>, ApiError> {
    let s = blocking(move || Ok(lab::sample(&st.ctx, &caller, &code)?)).await?;
    Ok(Json(s))
}

/// Results of a sample, by key under `lab_results`: `{"cd": 0.21, "ph": 6.8,
/// "not_detected": ["hg"], "method": "GB/T 17141-1997"}`; `null` clears one.
#[derive(utoipa::ToSchema)]
#[schema(as = LabResults, value_type = Object)]
#[allow(dead_code)]
pub struct LabResultsSchema(Map<String, Value>);

/// The body of a results request as results: a JSON object, nothing else.
fn results_of(body: Value) -> Result<Map<String, Value>, ApiError> {
    match body {
        Value::Object(m) => Ok(m),
        other => Err(ApiError::bad_request(
            "invalid_value",
            format!(
                "{LAB_RESULTS}: the body is a JSON object of results by key \
                 ({{\"cd\": 0.21, \"ph\": 6.8}}), not {}",
                kind_of(&other)
            ),
        )),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Enters results of a sample in one change, checked against the template before anything
/// is written (400 `invalid_value` naming the field, e.g. `lab_results.cd`, for an unknown
/// key or a value of the wrong type or range); answers the sample as it now is, with its
/// class. The write is an Automerge change made as the caller, judged by the write rules like
/// a device's push; the class reaches the sampler's phone at its next sync.
#[utoipa::path(post, path = "/v1/lab/samples/{code}/results", request_body = LabResultsSchema,
    params(("code" = String, Path, description = "the blind code (送检密码编码)")),
    responses((status = 200, body = LabSampleSchema),
              (status = 400, body = jingtu_protocol::ErrorBody),
              (status = 403, body = jingtu_protocol::ErrorBody),
              (status = 404, body = jingtu_protocol::ErrorBody),
              (status = 409, body = jingtu_protocol::ErrorBody)),
    security(("device_token" = []), ("session_cookie" = [])))]
pub async fn enter(
    State(st): State<Shared>,
    Extension(caller): Extension<Actor>,
    Path(code): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<LabSample>, ApiError> {
    let results = results_of(body)?;
    let s = blocking(move || Ok(lab::enter(&st.ctx, &caller, &code, &results)?)).await?;
    Ok(Json(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::PartialSchema;

    /// The keys of an object schema's properties.
    fn properties(schema: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>) -> Vec<String> {
        let v = serde_json::to_value(schema).unwrap();
        let mut keys: Vec<String> = v["properties"]
            .as_object()
            .expect("an object schema")
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    }

    fn keys(v: &Value) -> Vec<String> {
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    }

    #[test]
    fn the_description_has_the_fields_a_sample_serializes() {
        let field = lab::LabField {
            key: "cd".into(),
            label: jingtu_model::Label::new("镉", "Cd"),
            unit: Some("mg/kg".into()),
            kind: "number",
            choices: Vec::new(),
        };
        let sample = LabSample {
            blind_code: "MB-0417".into(),
            lab: "县检测中心".into(),
            handed_in_at_ms: 1,
            results: Map::new(),
            fields: vec![field],
            class: Value::Null,
            class_label: None,
            missing: Vec::new(),
        };
        let json = serde_json::to_value(&sample).unwrap();
        assert_eq!(keys(&json), properties(LabSampleSchema::schema()));
        assert_eq!(
            keys(&json["fields"][0]),
            properties(LabFieldSchema::schema())
        );
        for secret in ["record", "id", "point_code", "position", "photos", "author"] {
            assert!(json.get(secret).is_none(), "a sample names its {secret}");
        }
    }

    #[test]
    fn a_body_that_is_not_an_object_is_refused_naming_the_results() {
        for body in [
            Value::Null,
            serde_json::json!([1]),
            serde_json::json!("cd"),
            serde_json::json!(0.2),
        ] {
            let e = results_of(body).unwrap_err();
            assert_eq!((e.status.as_u16(), e.code), (400, "invalid_value"));
            assert!(e.message.starts_with("lab_results:"), "{}", e.message);
        }
        assert!(results_of(serde_json::json!({"cd": 0.2})).is_ok());
    }
}
