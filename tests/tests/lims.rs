//! The lab results JSON API (`/v1/lab/samples`), as a LIMS uses it: a sampler's phone (the
//! `jingtu` command line) collects a soil sample and hands it in to the lab under a blind code;
//! the LIMS enrolls with an enrollment code issued for a lab user, lists the samples (blind
//! codes only), enters the panel in one request and gets the class back; bad bodies, unknown
//! codes and a sampler's token are refused; a web session (login, `X-CSRF-Token`) works too;
//! the phone shows the results and the class at its next sync.

mod common;

use common::cli::enrolled;
use common::web::{install_tls, set_cookie};
use jingtu_e2e::ServerProcess;
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{Value, json};

const SERVER: &str = env!("CARGO_BIN_EXE_jingtu-e2e-server");

/// An answer: its status and its body as JSON (`null` when it has none).
fn send(request: RequestBuilder) -> (u16, Value, String) {
    let r = request.send().expect("a request to the server");
    let status = r.status().as_u16();
    let text = r.text().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, body, text)
}

/// A device token for `user`, by `POST /v1/enroll` with a fresh code from `admin enroll-code`
/// (what a LIMS does once, with the code a supervisor or admin issued for its lab user).
fn enroll(http: &Client, server: &ServerProcess, user: &str, device_id: &str) -> String {
    let code = server.enroll_code(user);
    let (s, body, text) = send(
        http.post(format!("{}/v1/enroll", server.url))
            .header("content-type", "application/json")
            .body(
                json!({"code": code, "device_id": device_id, "device_label": "LIMS"}).to_string(),
            ),
    );
    assert_eq!(s, 200, "enrolling {user}: {text}");
    assert_eq!(body["user"], user, "{text}");
    assert_eq!(body["role"], server_role(user), "{text}");
    body["token"].as_str().unwrap().to_string()
}

fn server_role(user: &str) -> &'static str {
    if user.starts_with("lab") {
        "lab"
    } else {
        "sampler"
    }
}

#[test]
fn a_lims_enters_lab_results_by_blind_code_and_the_phone_shows_the_class() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(SERVER, &dir.path().join("server"));
    server.county(&[
        ("samp_yy", "sampler", "411321102000"),
        ("lab_nz", "lab", "411321000000"),
    ]);
    server.set_password("lab_nz", "县检测-2024");

    // The sampler's phone: a soil sample, its chain through to the lab hand-in, synced.
    let phone = enrolled(&server, dir.path(), "phone", "samp_yy");
    let id = phone.ok(&["new", "soil_sample", "--org-unit", "411321102206"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    phone.ok(&["set", &id, "point_code", "411321YJ0087"]);
    phone.ok(&["set", &id, "land_use", "dryland_0103"]);
    for step in [
        r#"{"step": "collected"}"#,
        r#"{"step": "packed", "seal_no": "F-0087", "container": "布袋"}"#,
        r#"{"step": "lab_hand_in", "blind_code": "MB-0417", "lab": "县检测中心"}"#,
    ] {
        phone.ok(&["custody", "add", &id, "--step", step]);
    }
    let sync = phone.ok(&["sync"]);
    assert!(sync["refused"].as_array().unwrap().is_empty(), "{sync}");

    // The LIMS enrolls as the lab user: lab staff get device tokens like field users.
    install_tls(&server.url);
    let http = Client::new();
    let lims = enroll(&http, &server, "lab_nz", "0123456789abcdef0123456789abcdef");
    let url = |path: &str| format!("{}{path}", server.url);
    let get = |path: &str, token: &str| send(http.get(url(path)).bearer_auth(token));
    let post = |path: &str, token: &str, body: &str| {
        send(
            http.post(url(path))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
    };

    // The list: blind codes only.
    let (s, list, text) = get("/v1/lab/samples", &lims);
    assert_eq!(s, 200, "{text}");
    let samples = list["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 1, "{text}");
    assert_eq!(samples[0]["blind_code"], "MB-0417", "{text}");
    assert_eq!(samples[0]["lab"], "县检测中心", "{text}");
    assert_eq!(samples[0]["entered"], 0, "{text}");
    assert!(
        samples[0]["handed_in_at_ms"].as_i64().unwrap() > 0,
        "{text}"
    );
    for secret in [
        id.as_str(),
        "411321YJ0087",
        "411321102206",
        "samp_yy",
        "F-0087",
    ] {
        assert!(!text.contains(secret), "the list names {secret}: {text}");
    }

    // One sample: the fields to fill, the class still missing its panel.
    let (s, sample, text) = get("/v1/lab/samples/MB-0417", &lims);
    assert_eq!(s, 200, "{text}");
    assert_eq!(sample["blind_code"], "MB-0417");
    assert!(
        sample["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["key"] == "cd" && f["kind"] == "number"),
        "{text}"
    );
    assert!(
        sample["missing"].as_array().unwrap().contains(&json!("cd")),
        "{text}"
    );
    for secret in [
        id.as_str(),
        "411321YJ0087",
        "411321102206",
        "samp_yy",
        "position",
    ] {
        assert!(!text.contains(secret), "the sample names {secret}: {text}");
    }

    // Bad bodies: 400, naming the field; nothing is written.
    let results = "/v1/lab/samples/MB-0417/results";
    let (s, e, text) = post(results, &lims, r#"{"cd": "abc"}"#);
    assert_eq!(
        (s, &e["error"]["code"]),
        (400, &json!("invalid_value")),
        "{text}"
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("lab_results.cd"),
        "{text}"
    );
    let (s, e, text) = post(results, &lims, r#"{"ph": 6.8, "zinc_total": 1}"#);
    assert_eq!(s, 400, "{text}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("lab_results.zinc_total"),
        "{text}"
    );
    let (s, e, text) = post(results, &lims, r#"{"ph": 15}"#);
    assert_eq!(s, 400, "pH 15: {text}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("lab_results.ph")
    );
    for body in ["[0.21]", "null", "\"cd\"", "{}"] {
        let (s, e, text) = post(results, &lims, body);
        assert_eq!(s, 400, "{body}: {text}");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("lab_results"),
            "{body}: {text}"
        );
    }
    let (s, e, text) = post(results, &lims, "{\"cd\": 0.2");
    assert_eq!(
        (s, &e["error"]["code"]),
        (400, &json!("malformed_body")),
        "{text}"
    );
    let (s, e, text) = send(
        http.post(url(results))
            .bearer_auth(&lims)
            .header("content-type", "text/plain")
            .body(r#"{"cd": 0.2}"#),
    );
    assert_eq!(
        (s, &e["error"]["code"]),
        (415, &json!("content_type")),
        "{text}"
    );
    let (_, sample, _) = get("/v1/lab/samples/MB-0417", &lims);
    assert_eq!(sample["results"], json!({}), "nothing was written");

    // The panel and pH in one request: the class comes back.
    let (s, sample, text) = post(
        results,
        &lims,
        &json!({
            "cd": 0.25, "hg": 0.12, "as": 12, "pb": 40, "cr": 90, "ph": 6.8,
            "method": "GB/T 17141-1997 石墨炉原子吸收分光光度法",
        })
        .to_string(),
    );
    assert_eq!(s, 200, "{text}");
    assert_eq!(sample["results"]["cd"], 0.25, "{text}");
    assert_eq!(sample["class"]["class"], "priority_protection", "{text}");
    assert_eq!(sample["class_label"]["zh"], "优先保护类", "{text}");
    assert_eq!(sample["missing"], json!([]), "{text}");
    let (_, list, _) = get("/v1/lab/samples", &lims);
    assert_eq!(list["samples"][0]["entered"], 6, "{list}");

    // A code not handed in within the lab's org units: 404.
    let (s, e, text) = get("/v1/lab/samples/MB-9999", &lims);
    assert_eq!(
        (s, &e["error"]["code"]),
        (404, &json!("not_found")),
        "{text}"
    );
    let (s, _, text) = post("/v1/lab/samples/MB-9999/results", &lims, r#"{"ph": 6.8}"#);
    assert_eq!(s, 404, "{text}");

    // A sampler's token: 403, for the list, a sample and a write alike.
    let sampler = enroll(
        &http,
        &server,
        "samp_yy",
        "fedcba9876543210fedcba9876543210",
    );
    for (s, e, text) in [
        get("/v1/lab/samples", &sampler),
        get("/v1/lab/samples/MB-0417", &sampler),
        post(results, &sampler, r#"{"cd": 0.1}"#),
    ] {
        assert_eq!(
            (s, &e["error"]["code"]),
            (403, &json!("forbidden")),
            "{text}"
        );
    }
    // No credentials: 401.
    let (s, _, _) = send(http.get(url("/v1/lab/samples")));
    assert_eq!(s, 401);

    // The web session works too: login, then the CSRF token on the write.
    let r = http
        .post(url("/v1/login"))
        .header("content-type", "application/json")
        .body(json!({"user": "lab_nz", "password": "县检测-2024"}).to_string())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let cookie = set_cookie(&r, "jingtu_session").expect("a session cookie");
    let login: Value = serde_json::from_str(&r.text().unwrap()).unwrap();
    let csrf = login["csrf_token"].as_str().unwrap().to_string();
    let (s, list, text) = send(http.get(url("/v1/lab/samples")).header("cookie", &cookie));
    assert_eq!(s, 200, "{text}");
    assert_eq!(list["samples"][0]["blind_code"], "MB-0417");
    let method = json!({"method": "GB/T 22105.1-2008 原子荧光法"}).to_string();
    let (s, e, text) = send(
        http.post(url(results))
            .header("cookie", &cookie)
            .header("content-type", "application/json")
            .body(method.clone()),
    );
    assert_eq!((s, &e["error"]["code"]), (403, &json!("csrf")), "{text}");
    let (s, sample, text) = send(
        http.post(url(results))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .header("content-type", "application/json")
            .body(method),
    );
    assert_eq!(s, 200, "{text}");
    assert_eq!(sample["results"]["method"], "GB/T 22105.1-2008 原子荧光法");
    assert_eq!(sample["results"]["cd"], 0.25, "the earlier results stay");

    // The sampler's phone receives the results and shows the class.
    phone.ok(&["sync"]);
    let shown = phone.ok(&["show", &id]);
    assert_eq!(shown["data"]["lab_results"]["cd"], 0.25, "{shown}");
    assert_eq!(shown["data"]["lab_results"]["ph"], 6.8, "{shown}");
    assert_eq!(
        shown["computed"]["quality_class"]["class"], "priority_protection",
        "{shown}"
    );
}
