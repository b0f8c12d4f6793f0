//! The county ledgers over the API (`/v1/ledger/*`), as a supervisor's tablet or a county
//! script reads them: an inspector's phone (the `jingtu` command line) submits a sewage
//! station's Q1 inspection and H1 monitoring; the supervisor's token sees the missed Q2 (and
//! an empty water-body ledger); another township's supervisor sees nothing; an inspector's
//! token is refused; a bad day is a 400 naming the field. (Water bodies in the console are
//! tested in tests/browser/console.js.)

mod common;

use common::cli::enrolled;
use common::web::install_tls;
use jingtu_e2e::ServerProcess;
use reqwest::blocking::Client;
use serde_json::Value;

const SERVER: &str = env!("CARGO_BIN_EXE_jingtu-e2e-server");

fn get(http: &Client, url: &str, token: &str) -> (u16, Value, String) {
    let r = http.get(url).bearer_auth(token).send().expect("a request");
    let status = r.status().as_u16();
    let text = r.text().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    )
}

#[test]
fn a_supervisor_reads_the_ledgers_of_the_county() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(SERVER, &dir.path().join("server"));
    server.county(&[
        ("insp_yy", "inspector", "411321102000"),
        ("sup_nz", "supervisor", "411321000000"),
        ("sup_hld", "supervisor", "411321103000"),
    ]);
    let phone = enrolled(&server, dir.path(), "phone", "insp_yy");
    for (kind, at) in [
        ("quarterly_inspection", "2024-03-12T09:00:00+08:00"),
        ("half_year_monitoring", "2024-06-05T09:00:00+08:00"),
    ] {
        let id = phone.ok(&[
            "new",
            "sewage_facility_inspection",
            "--org-unit",
            "411321102206",
        ])["id"]
            .as_str()
            .unwrap()
            .to_string();
        let mut fields = vec![
            ("facility_name", "云阳镇污水处理站"),
            ("facility_code", "WS-411321102"),
            ("admin_code", "411321102000"),
            ("design_capacity_t_d", "600"),
            ("inspection_type", kind),
            ("inspected_at", at),
            ("facility_status", "normal"),
            ("inspectors", r#"["王建军"]"#),
            ("online_monitoring", r#"{"automatic_networked": false}"#),
        ];
        if kind == "half_year_monitoring" {
            fields.push((
                "inlet",
                r#"{"cod_mg_l": 250, "nh3n_mg_l": 30, "sampled_at": "2024-06-05T09:20:00+08:00"}"#,
            ));
            fields.push((
                "outlet",
                r#"{"cod_mg_l": 45, "nh3n_mg_l": 5, "sampled_at": "2024-06-05T09:40:00+08:00"}"#,
            ));
        }
        for (path, value) in fields {
            phone.ok(&["set", &id, path, value]);
        }
        phone.ok(&["submit", &id]);
    }
    // A draft does not count.
    phone.ok(&[
        "new",
        "sewage_facility_inspection",
        "--org-unit",
        "411321102206",
    ]);
    let sync = phone.ok(&["sync"]);
    assert!(sync["refused"].as_array().unwrap().is_empty(), "{sync}");

    install_tls(&server.url);
    let http = Client::new();
    let token = |user: &str| {
        let t = server.admin(&["issue-token", user, "--label", "平板"]);
        assert!(t.starts_with("jt_"), "{t}");
        t
    };
    let (sup, far, insp) = (token("sup_nz"), token("sup_hld"), token("insp_yy"));
    let url = |q: &str| format!("{}/v1/ledger/sewage-facilities{q}", server.url);

    let (s, body, text) = get(&http, &url("?year=2024&as_of=2024-08-15"), &sup);
    assert_eq!(s, 200, "{text}");
    assert_eq!(body["year"], 2024);
    assert_eq!(body["as_of"], "2024-08-15");
    let f = &body["facilities"][0];
    assert_eq!(body["facilities"].as_array().unwrap().len(), 1, "{text}");
    assert_eq!(f["missed"], serde_json::json!(["2024-Q2"]), "{text}");
    assert_eq!(f["quarters"][0]["records"].as_array().unwrap().len(), 1);
    // 600 t/day: automatic monitoring networked by the end of July, not done by August.
    assert_eq!(f["online_duty"]["kind"], "automatic", "{text}");
    assert_eq!(
        f["online_duty"]["overdue"], false,
        "the last record is from June"
    );
    // The whole year, judged after it ended.
    let (_, body, text) = get(&http, &url("?year=2024&as_of=2025-01-05"), &sup);
    assert_eq!(
        body["facilities"][0]["missed"],
        serde_json::json!(["2024-Q2", "2024-Q3", "2024-Q4", "2024-H2"]),
        "{text}"
    );

    // Another township's supervisor sees nothing of it; an inspector is refused.
    let (s, body, _) = get(&http, &url("?year=2024&as_of=2024-08-15"), &far);
    assert_eq!(s, 200);
    assert!(body["facilities"].as_array().unwrap().is_empty(), "{body}");
    let (s, body, _) = get(&http, &url(""), &insp);
    assert_eq!(s, 403, "{body}");
    // A day written wrong is a 400 naming the field.
    let (s, body, _) = get(&http, &url("?as_of=15/08/2024"), &sup);
    assert_eq!(s, 400, "{body}");
    assert!(body.to_string().contains("as_of"), "{body}");
    let (s, _, _) = get(&http, &url("?year=20240"), &sup);
    assert_eq!(s, 400);

    // No water body checks yet: an empty ledger, not an error.
    let (s, body, text) = get(
        &http,
        &format!("{}/v1/ledger/water-bodies", server.url),
        &sup,
    );
    assert_eq!(s, 200, "{text}");
    assert!(body["bodies"].as_array().unwrap().is_empty(), "{text}");
}
