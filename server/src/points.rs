//! The planned soil sampling points (计划点位) an admin imports from the point list the
//! province issues: CSV (English or Chinese headings) or GeoJSON points. Each point has its
//! code, position, land use and task and the org unit it lies in; an assignment of a point
//! carries them to the sampler's device, which fills them into the sample's record and guides
//! the sampler there.
//!
//! An import is all or nothing: every row is checked first (a code twice, a position off the
//! globe, a land use or task not in the code tables, an org unit not imported), and every
//! problem is listed with its line or feature number.

use jingtu_model::CodeTables;
use jingtu_protocol::PlannedPoint;
use serde_json::Value;
use thiserror::Error;

use crate::people::org;
use crate::storage::{AuthStore, StorageError};

/// The most problems an import lists before it stops looking.
const MAX_PROBLEMS: usize = 20;

#[derive(Debug, Error)]
pub enum PointsError {
    #[error("nothing was imported:\n  {}", .0.join("\n  "))]
    Invalid(Vec<String>),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A point as read, with where it came from (`line 3`, `feature 2`).
#[derive(Debug, Clone, PartialEq)]
pub struct ReadPoint {
    pub at: String,
    pub point: PlannedPoint,
}

/// The columns a CSV may have, by their English or Chinese headings.
const COLUMNS: [(&str, &[&str]); 7] = [
    ("code", &["code", "point_code", "点位编码", "点位编号"]),
    ("name", &["name", "点位名称"]),
    ("lat", &["lat", "latitude", "纬度"]),
    ("lon", &["lon", "lng", "longitude", "经度"]),
    ("land_use", &["land_use", "土地利用类型"]),
    ("task", &["task", "monitoring_task", "监测任务"]),
    ("org_unit", &["org_unit", "admin_code", "行政区划代码"]),
];

/// Reads a point list: GeoJSON when the text is a JSON object, CSV otherwise (UTF-8, a
/// byte-order mark allowed).
pub fn read(text: &str) -> Result<Vec<ReadPoint>, PointsError> {
    let text = text.trim_start_matches('\u{feff}');
    if text.trim_start().starts_with('{') {
        read_geojson(text)
    } else {
        read_csv(text)
    }
}

fn invalid(problem: impl Into<String>) -> PointsError {
    PointsError::Invalid(vec![problem.into()])
}

fn read_csv(text: &str) -> Result<Vec<ReadPoint>, PointsError> {
    let mut r = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = r
        .headers()
        .map_err(|e| invalid(format!("the heading line: {e}")))?
        .clone();
    let mut index = [None; COLUMNS.len()];
    for (i, h) in headers.iter().enumerate() {
        let h = h.trim().to_lowercase();
        if let Some(c) = COLUMNS
            .iter()
            .position(|(_, names)| names.contains(&h.as_str()))
        {
            index[c] = Some(i);
        }
    }
    let missing: Vec<&str> = ["code", "lat", "lon", "org_unit"]
        .into_iter()
        .filter(|name| index[COLUMNS.iter().position(|(n, _)| n == name).unwrap_or(0)].is_none())
        .collect();
    if !missing.is_empty() {
        return Err(invalid(format!(
            "the heading line lacks {} (headings: code, name, lat, lon, land_use, task, org_unit, \
             or 点位编码, 点位名称, 纬度, 经度, 土地利用类型, 监测任务, 行政区划代码)",
            missing.join(", ")
        )));
    }
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (n, row) in r.records().enumerate() {
        let at = format!("line {}", n + 2);
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                problems.push(format!("{at}: {e}"));
                continue;
            }
        };
        let cell = |name: &str| -> Option<String> {
            let c = COLUMNS.iter().position(|(n, _)| *n == name)?;
            let v = row.get(index[c]?)?.trim();
            (!v.is_empty()).then(|| v.to_string())
        };
        if row.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let number = |name: &str| -> Result<f64, String> {
            let v = cell(name).ok_or_else(|| format!("{at}: no {name}"))?;
            v.parse::<f64>()
                .map_err(|_| format!("{at}: {name} '{v}' is not a number"))
        };
        match (number("lat"), number("lon")) {
            (Ok(lat), Ok(lon)) => out.push(ReadPoint {
                at: at.clone(),
                point: PlannedPoint {
                    code: cell("code").unwrap_or_default(),
                    name: cell("name").unwrap_or_default(),
                    lat,
                    lon,
                    land_use: cell("land_use"),
                    task: cell("task"),
                    org_unit: cell("org_unit").unwrap_or_default(),
                },
            }),
            (a, b) => problems.extend([a.err(), b.err()].into_iter().flatten()),
        }
        if problems.len() >= MAX_PROBLEMS {
            break;
        }
    }
    if !problems.is_empty() {
        return Err(PointsError::Invalid(problems));
    }
    Ok(out)
}

fn read_geojson(text: &str) -> Result<Vec<ReadPoint>, PointsError> {
    let v: Value = serde_json::from_str(text).map_err(|e| invalid(format!("not GeoJSON: {e}")))?;
    let features = match v.get("type").and_then(Value::as_str) {
        Some("FeatureCollection") => v
            .get("features")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| invalid("a FeatureCollection without features"))?,
        Some("Feature") => vec![v.clone()],
        other => {
            return Err(invalid(format!(
                "GeoJSON of type {other:?}: a FeatureCollection of Points is expected"
            )));
        }
    };
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (n, f) in features.iter().enumerate() {
        let at = format!("feature {}", n + 1);
        let geometry = f.get("geometry");
        let coords = match (
            geometry.and_then(|g| g.get("type")).and_then(Value::as_str),
            geometry
                .and_then(|g| g.get("coordinates"))
                .and_then(Value::as_array),
        ) {
            (Some("Point"), Some(c)) if c.len() >= 2 => (c[0].as_f64(), c[1].as_f64()),
            _ => (None, None),
        };
        let (Some(lon), Some(lat)) = coords else {
            problems.push(format!(
                "{at}: its geometry is not a Point [longitude, latitude]"
            ));
            continue;
        };
        let props = f.get("properties").cloned().unwrap_or(Value::Null);
        let prop = |name: &str| -> Option<String> {
            let (_, names) = COLUMNS.iter().find(|(n, _)| *n == name)?;
            names.iter().find_map(|k| match props.get(*k)? {
                Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
        };
        out.push(ReadPoint {
            at,
            point: PlannedPoint {
                code: prop("code").unwrap_or_default(),
                name: prop("name").unwrap_or_default(),
                lat,
                lon,
                land_use: prop("land_use"),
                task: prop("task"),
                org_unit: prop("org_unit").unwrap_or_default(),
            },
        });
        if problems.len() >= MAX_PROBLEMS {
            break;
        }
    }
    if !problems.is_empty() {
        return Err(PointsError::Invalid(problems));
    }
    Ok(out)
}

/// A code of `table`, given as its code or its Chinese or English label (水田 → paddy_0101).
fn code_of(codes: &CodeTables, table: &str, given: &str) -> Option<String> {
    let t = codes.get(table)?;
    t.codes
        .iter()
        .find(|c| c.code == given || c.zh == given || c.en.eq_ignore_ascii_case(given))
        .map(|c| c.code.clone())
}

/// Checks the points read against the code tables and the org units, and writes codes for
/// labels; every problem is listed.
pub fn check(
    points: Vec<ReadPoint>,
    codes: &CodeTables,
    auth: &dyn AuthStore,
) -> Result<Vec<PlannedPoint>, PointsError> {
    let mut problems = Vec::new();
    let mut seen = std::collections::HashMap::new();
    let mut out = Vec::with_capacity(points.len());
    if points.is_empty() {
        return Err(invalid("the list holds no points"));
    }
    for ReadPoint { at, mut point } in points {
        let mut bad = |p: String| problems.push(format!("{at}: {p}"));
        let code = point.code.trim();
        if code.is_empty()
            || code.len() > 64
            || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            bad(format!(
                "point code '{code}' is not one (letters, digits and '-', at most 64)"
            ));
        } else if let Some(first) = seen.insert(code.to_string(), at.clone()) {
            bad(format!("point code {code} is already at {first}"));
        }
        point.name = point.name.trim().chars().take(100).collect();
        if !(point.lat.is_finite() && (-90.0..=90.0).contains(&point.lat)) {
            bad(format!("latitude {} is not between -90 and 90", point.lat));
        }
        if !(point.lon.is_finite() && (-180.0..=180.0).contains(&point.lon)) {
            bad(format!(
                "longitude {} is not between -180 and 180",
                point.lon
            ));
        }
        for (field, table) in [("land_use", "land_use"), ("task", "monitoring_task")] {
            let slot = if field == "land_use" {
                &mut point.land_use
            } else {
                &mut point.task
            };
            if let Some(given) = slot.clone() {
                match code_of(codes, table, &given) {
                    Some(c) => *slot = Some(c),
                    None => bad(format!("{field} '{given}' is not in code table {table}")),
                }
            }
        }
        match org::level_of(&point.org_unit) {
            Err(e) => bad(format!("org unit '{}': {e}", point.org_unit)),
            Ok(_) => {
                if auth.org_unit(&point.org_unit)?.is_none() {
                    bad(format!(
                        "org unit {} is not known: import the org units first",
                        point.org_unit
                    ));
                }
            }
        }
        point.code = code.to_string();
        out.push(point);
        if problems.len() >= MAX_PROBLEMS {
            break;
        }
    }
    if !problems.is_empty() {
        return Err(PointsError::Invalid(problems));
    }
    Ok(out)
}

/// Reads, checks and stores a point list; returns the points stored and how many were new
/// and how many replaced.
pub fn import(
    ctx: &crate::Context,
    text: &str,
) -> Result<(Vec<PlannedPoint>, usize, usize), PointsError> {
    let templates = ctx
        .templates
        .current(&*ctx.catalog)
        .map_err(|e| invalid(format!("the code tables: {e}")))?;
    let points = check(read(text)?, templates.code_tables(), &*ctx.auth)?;
    let (new, replaced) = ctx.scope.import_planned_points(&points)?;
    Ok((points, new, replaced))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_chinese_headings_and_a_bom_is_read() {
        let text = "\u{feff}点位编码,点位名称,经度,纬度,土地利用类型,监测任务,行政区划代码\n\
                    411321YJ0087,云阳17号,112.4312,33.4886,水田,early_warning,411321102206\n\
                    \n";
        let points = read(text).unwrap();
        assert_eq!(points.len(), 1);
        let p = &points[0].point;
        assert_eq!(
            (p.code.as_str(), p.lat, p.lon),
            ("411321YJ0087", 33.4886, 112.4312)
        );
        assert_eq!(
            p.land_use.as_deref(),
            Some("水田"),
            "labels become codes in check()"
        );
        assert_eq!(points[0].at, "line 2");
    }

    #[test]
    fn bad_numbers_and_missing_columns_are_named() {
        let err = read("code,lat,lon\nA-1,33.1,112\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("org_unit"), "{err}");
        let err = read("code,lat,lon,org_unit\nA-1,north,112,411321102206\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2: lat 'north' is not a number"), "{err}");
    }

    #[test]
    fn geojson_points_are_read_lon_first() {
        let text = r#"{"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [112.4312, 33.4886]},
             "properties": {"code": "411321YJ0087", "land_use": "paddy_0101",
                            "org_unit": "411321102206"}},
            {"type": "Feature", "geometry": {"type": "LineString", "coordinates": []},
             "properties": {}}]}"#;
        let err = read(text).unwrap_err().to_string();
        assert!(
            err.contains("feature 2: its geometry is not a Point"),
            "{err}"
        );
        let one = text.replace(
            r#"{"type": "LineString", "coordinates": []}"#,
            r#"{"type": "Point", "coordinates": [112.5, 33.5]}"#,
        );
        let points = read(&one).unwrap();
        assert_eq!(
            (points[0].point.lat, points[0].point.lon),
            (33.4886, 112.4312)
        );
        assert!(read("{\"type\": \"Point\"}").is_err());
        assert!(read("{ not json").is_err());
    }
}
