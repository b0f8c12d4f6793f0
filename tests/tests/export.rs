//! Exports (`GET /v1/export`, `jingtu-server admin export`), as a county's staff use them: an
//! inspector's phone submits village inspections in two townships; the county supervisor's
//! download in CSV (UTF-8 with BOM), XLSX and GeoJSON is read back with a reader crate and
//! compared row by row with the records; a township supervisor gets only their township; the
//! command line writes the same CSV; bad requests are refused before anything is sent.

mod common;

use calamine::{Data, Reader, Xlsx};
use common::web::install_tls;
use jingtu_core::{DeviceCore, NewPhoto, PhotoSource};
use jingtu_e2e::{ServerProcess, test_jpeg};
use reqwest::blocking::Client;
use serde_json::{Value, json};

const SERVER: &str = env!("CARGO_BIN_EXE_jingtu-e2e-server");

/// A village inspection filled from the shipped example, as `village` in `org_unit`, with
/// `fail_first` making 清垃圾 (clean_garbage) a failed item (with its photo); submitted.
fn inspection(core: &DeviceCore, village: &str, org_unit: &str, fail_first: bool) -> String {
    let example: Value = serde_json::from_str(include_str!(
        "../../schemas/examples/village_inspection.v2/valid-county-self-first-half.json"
    ))
    .unwrap();
    let mut data = example["data"].clone();
    data["village_name"] = json!(village);
    data["admin_code"] = json!(org_unit);
    let items: Vec<String> = data["checklist"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    for item in &items {
        data["checklist"][item] = if item == "clean_garbage" && fail_first {
            json!({"result": "fail", "issue": "村口堆放生活垃圾", "deadline": "2024-08-31",
                   "owner": "村委会"})
        } else {
            json!({"result": "pass"})
        };
    }
    let place = jingtu_core::NewRecordPlace {
        org_unit: Some(org_unit.into()),
        village: Some(village.into()),
        ..Default::default()
    };
    let id = core.create_record("village_inspection", &place).unwrap().id;
    for (k, v) in data.as_object().unwrap() {
        core.set_field(&id, k, v)
            .unwrap_or_else(|e| panic!("{k}: {e}"));
    }
    if fail_first {
        let photo = NewPhoto {
            tag: "before".into(),
            field: Some("checklist.clean_garbage".into()),
            ..Default::default()
        };
        core.add_photo(&id, PhotoSource::Bytes(&test_jpeg(7, 64, 48)), &photo)
            .unwrap();
    }
    core.submit(&id)
        .unwrap_or_else(|e| panic!("{village}: {e}"));
    id
}

fn get(http: &Client, url: &str, token: &str) -> (u16, Vec<u8>, String) {
    let r = http.get(url).bearer_auth(token).send().expect("a request");
    let status = r.status().as_u16();
    let kind = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, r.bytes().unwrap().to_vec(), kind)
}

/// CSV bytes as rows of strings (the BOM checked and dropped).
fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    assert!(
        bytes.starts_with("\u{feff}".as_bytes()),
        "a UTF-8 BOM first"
    );
    csv::Reader::from_reader(&bytes[3..])
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

fn csv_headers(bytes: &[u8]) -> Vec<String> {
    csv::Reader::from_reader(&bytes[3..])
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_county_exports_its_inspections_to_csv_xlsx_and_geojson() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(SERVER, &dir.path().join("server"));
    server.county(&[
        ("insp_yy", "inspector", "411321000000"),
        ("sup_nz", "supervisor", "411321000000"),
        ("sup_hld", "supervisor", "411321103000"),
    ]);
    let phone = server.enrolled_device(&dir.path().join("phone"), "insp_yy");
    let a = inspection(&phone, "杨树沟村", "411321102206", true);
    let b = inspection(&phone, "东岗村", "411321103201", false);
    let report = phone.sync(&mut |_| true).unwrap();
    assert!(report.refused.is_empty(), "{:?}", report.refused);

    install_tls(&server.url);
    let http = Client::new();
    let token = |user: &str| server.admin(&["issue-token", user, "--label", "平板"]);
    let (sup, hld, insp) = (token("sup_nz"), token("sup_hld"), token("insp_yy"));
    let url = |q: &str| format!("{}/v1/export?kind=village_inspection{q}", server.url);

    // CSV: a row per record, Chinese headings, codes beside their labels.
    let (s, body, kind) = get(&http, &url("&format=csv"), &sup);
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
    assert!(kind.starts_with("text/csv"), "{kind}");
    let headers = csv_headers(&body);
    let rows = csv_rows(&body);
    assert_eq!(rows.len(), 2);
    let col = |h: &str| {
        headers
            .iter()
            .position(|x| x == h)
            .unwrap_or_else(|| panic!("{h}: {headers:?}"))
    };
    let row_of = |id: &str| {
        rows.iter()
            .find(|r| r[col("记录编号")] == id)
            .unwrap()
            .clone()
    };
    let ra = row_of(&a);
    assert_eq!(ra[col("行政村名称")], "杨树沟村");
    assert_eq!(ra[col("状态")], "待审核");
    assert_eq!(ra[col("评估层级（代码）")], "county_self");
    assert_eq!(ra[col("评估层级")], "县级自评");
    assert_eq!(ra[col("清垃圾·检查结果")], "不合格");
    assert_eq!(ra[col("清垃圾·问题描述")], "村口堆放生活垃圾");
    assert_eq!(ra[col("整治达标判定（计算）")], "否");
    assert!(ra[col("照片")].contains("/photos/"), "{}", ra[col("照片")]);
    let rb = row_of(&b);
    assert_eq!(rb[col("清垃圾·检查结果")], "合格");
    assert_eq!(rb[col("行政村名称")], "东岗村");
    assert_eq!(rb[col("照片")], "");

    // XLSX: the same rows, numbers as numbers.
    let (s, body, kind) = get(&http, &url("&format=xlsx"), &sup);
    assert_eq!(s, 200);
    assert!(kind.contains("spreadsheetml"), "{kind}");
    let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(body)).unwrap();
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    let grid: Vec<Vec<Data>> = sheet.rows().map(<[Data]>::to_vec).collect();
    assert_eq!(grid.len(), 3, "a heading and two records");
    let heading: Vec<String> = grid[0].iter().map(|c| c.to_string()).collect();
    assert_eq!(heading, headers);
    for row in &grid[1..] {
        let id = row[col("记录编号")].to_string();
        let csv = row_of(&id);
        for (i, cell) in row.iter().enumerate() {
            let text = match cell {
                Data::Float(f) => f.to_string(),
                Data::Int(n) => n.to_string(),
                Data::Empty => String::new(),
                other => other.to_string(),
            };
            assert_eq!(text, csv[i], "{id}, column {}", headers[i]);
        }
        let rate = &row[col("整治指标·生活污水治理率（%）")];
        assert!(matches!(rate, Data::Float(_)), "{rate:?}");
    }

    // GeoJSON: a point per record at its position, the same properties.
    let (s, body, kind) = get(&http, &url("&format=geojson"), &sup);
    assert_eq!(s, 200);
    assert_eq!(kind, "application/geo+json");
    let geo: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(geo["type"], "FeatureCollection");
    let features = geo["features"].as_array().unwrap();
    assert_eq!(features.len(), 2);
    for f in features {
        assert_eq!(f["geometry"]["type"], "Point");
        let c = f["geometry"]["coordinates"].as_array().unwrap();
        assert!(
            c[0].as_f64().unwrap() > 110.0 && c[1].as_f64().unwrap() > 30.0,
            "{c:?}"
        );
        let id = f["properties"]["记录编号"].as_str().unwrap();
        assert_eq!(f["properties"]["行政村名称"], row_of(id)[col("行政村名称")]);
    }

    // Scoped to the caller: the township supervisor of 皇路店镇 gets 东岗村 only.
    let (s, body, _) = get(&http, &url("&format=csv"), &hld);
    assert_eq!(s, 200);
    let rows = csv_rows(&body);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][col("记录编号")], b);
    // The queue's filters apply.
    let (_, body, _) = get(&http, &url("&format=csv&village=杨树沟"), &sup);
    assert_eq!(csv_rows(&body).len(), 1);
    let (_, body, _) = get(&http, &url("&format=csv&status=approved"), &sup);
    assert!(csv_rows(&body).is_empty());

    // Refused before anything is sent.
    let (s, _, _) = get(&http, &url("&format=csv"), &insp);
    assert_eq!(s, 403);
    let (s, body, _) = get(&http, &url("&format=pdf"), &sup);
    assert_eq!(s, 400, "{}", String::from_utf8_lossy(&body));
    let (s, body, _) = get(
        &http,
        &format!("{}/v1/export?kind=no_such_kind", server.url),
        &sup,
    );
    assert_eq!(s, 400);
    assert!(String::from_utf8_lossy(&body).contains("no_such_kind"));
    let (s, _, _) = get(&http, &format!("{}/v1/export", server.url), &sup);
    assert_eq!(s, 400);

    // The command line writes the same CSV (as the admin: every record).
    let file = dir.path().join("villages.csv");
    server.admin(&[
        "export",
        "--kind",
        "village_inspection",
        "--format",
        "csv",
        "--out",
        &file.to_string_lossy(),
    ]);
    let written = std::fs::read(&file).unwrap();
    assert_eq!(csv_headers(&written), headers);
    let mut from_cli = csv_rows(&written);
    let (_, body, _) = get(&http, &url("&format=csv"), &sup);
    let mut from_api = csv_rows(&body);
    from_cli.sort();
    from_api.sort();
    assert_eq!(from_cli, from_api);
    let err = server
        .try_admin(&["export", "--kind", "village_inspection", "--format", "pdf"])
        .unwrap_err();
    assert!(err.contains("csv, xlsx, geojson"), "{err}");
}
