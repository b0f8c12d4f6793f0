//! The review round through a real server process, driven by the `jingtu` command line as an
//! inspector and a supervisor (on a tablet) would use it: the inspector submits an inspection
//! with a photo; the supervisor's device, which received only the photo's thumbnail, fetches
//! the full image on demand; the supervisor returns the record with a comment on one checklist
//! item; the inspector's device shows what to fix and where; fixed and resubmitted, the record
//! is approved and the inspector sees it.

mod common;

use common::cli::{checklist_items, enrolled, inspection};
use common::web::{install_tls, set_cookie};
use jingtu_e2e::ServerProcess;
use serde_json::Value;

const SERVER: &str = env!("CARGO_BIN_EXE_jingtu-e2e-server");

#[test]
fn a_returned_inspection_tells_the_inspector_what_to_fix_and_is_approved_once_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(SERVER, &dir.path().join("server"));
    server.county(&[
        ("insp_yy", "inspector", "411321102000"),
        ("sup_nz", "supervisor", "411321000000"),
    ]);
    let yy = enrolled(&server, dir.path(), "yy", "insp_yy");
    let sup = enrolled(&server, dir.path(), "sup", "sup_nz");
    let items = checklist_items();
    let (id, sha) = inspection(&yy, dir.path(), &items);
    assert_eq!(yy.ok(&["submit", &id])["status"], "submitted");
    yy.ok(&["sync"]);
    let got = sup.ok(&["sync"]);
    assert_eq!(got["thumbnails_fetched"], 1, "{got}");

    // The supervisor's device holds the thumbnail; the full image comes from the server.
    let full = dir.path().join("full.jpg");
    let written = sup.ok(&["photo", "get", &sha, &full.to_string_lossy()]);
    let bytes = std::fs::read(&full).unwrap();
    assert_eq!(written["bytes"], bytes.len());
    assert_eq!(
        jingtu_media::content_id(&bytes),
        sha,
        "the full image, intact"
    );
    let thumb = dir.path().join("thumb.jpg");
    sup.ok(&["photo", "get", &sha, &thumb.to_string_lossy(), "--thumb"]);
    assert!(std::fs::metadata(&thumb).unwrap().len() < bytes.len() as u64);

    // Review is a supervisor's: the inspector's device refuses it before the server would.
    yy.fails(&["review", "approve", &id], "invalid_state");
    sup.fails(&["review", "return", &id], "invalid_value");
    sup.fails(
        &["review", "return", &id, "--comment", "no_such_field=看不清"],
        "bad_path",
    );
    let item = &items[1];
    let comment = format!("checklist.{item}=污水设施照片看不清，请补拍");
    let back = sup.ok(&[
        "review",
        "return",
        &id,
        "--note",
        "请核实",
        "--comment",
        &comment,
    ]);
    assert_eq!(back["status"], "returned");
    let pushed = sup.ok(&["sync"]);
    assert_eq!(pushed["refused"], Value::Array(vec![]), "{pushed}");

    // The inspector's device shows what to fix, and where.
    yy.ok(&["sync"]);
    let shown = yy.ok(&["show", &id]);
    assert_eq!(shown["status"], "returned");
    let fix = shown["to_fix"].as_array().unwrap();
    assert_eq!(fix.len(), 1, "{shown}");
    assert_eq!(fix[0]["path"], format!("checklist.{item}"));
    assert_eq!(fix[0]["by"], "sup_nz");
    assert_eq!(fix[0]["text"], "污水设施照片看不清，请补拍");
    let human = yy.run(&["show", &id], false).1;
    assert!(
        human.contains("to fix")
            && human.contains(&format!("checklist.{item}: 污水设施照片看不清")),
        "{human}"
    );
    assert!(human.contains("returned by sup_nz"), "{human}");

    // Fixed and resubmitted: nothing left to fix; the supervisor approves.
    yy.ok(&["check", &id, item, "na"]);
    assert_eq!(yy.ok(&["submit", &id])["status"], "submitted");
    yy.ok(&["sync"]);
    assert_eq!(yy.ok(&["show", &id])["to_fix"], Value::Array(vec![]));
    sup.ok(&["sync"]);
    assert_eq!(sup.ok(&["show", &id])["status"], "submitted");
    assert_eq!(
        sup.ok(&["review", "approve", &id, "--note", "合格"])["status"],
        "approved"
    );
    sup.ok(&["review", "comment", &id, "县级抽查通过"]);
    let pushed = sup.ok(&["sync"]);
    assert_eq!(pushed["refused"], Value::Array(vec![]), "{pushed}");
    yy.ok(&["sync"]);
    let done = yy.ok(&["show", &id]);
    assert_eq!(done["status"], "approved");
    assert_eq!(done["comments"].as_array().unwrap().len(), 2, "{done}");
    // Approved records are locked, also on the inspector's device.
    yy.fails(&["check", &id, item, "pass"], "invalid_state");
}

/// A supervisor's web session (the console's API): login, then JSON with the session cookie
/// and, on changes, the CSRF token.
struct Web {
    http: reqwest::blocking::Client,
    url: String,
    cookie: String,
    csrf: String,
}

impl Web {
    fn login(server: &ServerProcess, user: &str, password: &str) -> Web {
        install_tls(&server.url);
        let http = reqwest::blocking::Client::new();
        let r = http
            .post(format!("{}/v1/login", server.url))
            .header("content-type", "application/json")
            .body(serde_json::json!({"user": user, "password": password}).to_string())
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "login");
        let cookie = set_cookie(&r, "jingtu_session").expect("a session cookie");
        let body: Value = serde_json::from_str(&r.text().unwrap()).unwrap();
        Web {
            http,
            url: server.url.clone(),
            cookie,
            csrf: body["csrf_token"].as_str().unwrap().to_string(),
        }
    }

    fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .header("cookie", &self.cookie)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (
            status,
            serde_json::from_str(&r.text().unwrap()).unwrap_or(Value::Null),
        )
    }

    fn post(&self, path: &str, body: Value, csrf: bool) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.url))
            .header("cookie", &self.cookie)
            .header("content-type", "application/json")
            .body(body.to_string());
        if csrf {
            req = req.header("x-csrf-token", &self.csrf);
        }
        let r = req.send().unwrap();
        let status = r.status().as_u16();
        (
            status,
            serde_json::from_str(&r.text().unwrap()).unwrap_or(Value::Null),
        )
    }
}

#[test]
fn a_supervisor_reviews_in_the_browser_api_and_resolves_a_conflict_of_two_devices() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(SERVER, &dir.path().join("server"));
    server.county(&[
        ("insp_yy", "inspector", "411321102000"),
        ("sup_nz", "supervisor", "411321000000"),
        ("sup_far", "supervisor", "411321103000"),
    ]);
    server.set_password("sup_nz", "县审核-2024");
    server.set_password("sup_far", "镇审核-2024");
    let yy = enrolled(&server, dir.path(), "yy", "insp_yy");
    let items = checklist_items();
    let (id, _) = inspection(&yy, dir.path(), &items);
    yy.ok(&["submit", &id]);
    yy.ok(&["sync"]);
    let web = Web::login(&server, "sup_nz", "县审核-2024");

    // The queue: filtered, counted, paged.
    let (s, q) = web.get("/v1/review/queue?status=submitted&village=杨树&kind=village_inspection");
    assert_eq!(s, 200, "{q}");
    let items_listed = q["items"].as_array().unwrap();
    assert_eq!(items_listed.len(), 1, "{q}");
    assert_eq!(items_listed[0]["id"], id.as_str());
    assert_eq!(items_listed[0]["name"], "杨树沟村");
    assert_eq!(q["counts"]["submitted"], 1, "{q}");
    let (_, none) = web.get("/v1/review/queue?status=approved");
    assert_eq!(none["items"], Value::Array(vec![]));
    let (s, bad) = web.get("/v1/review/queue?status=done");
    assert_eq!(
        (s, bad["error"]["code"].as_str()),
        (400, Some("invalid_value"))
    );
    // Another township's supervisor does not see it.
    let far = Web::login(&server, "sup_far", "镇审核-2024");
    let (_, theirs) = far.get("/v1/review/queue");
    assert_eq!(theirs["items"], Value::Array(vec![]), "{theirs}");
    let (s, _) = far.get(&format!("/v1/records/{id}"));
    assert_eq!(s, 403);

    // The record page's data: labelled fields, computed results, photos, the thread.
    let (s, d) = web.get(&format!("/v1/records/{id}"));
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["status"], "submitted");
    let fields = d["fields"].as_array().unwrap();
    let village = fields.iter().find(|f| f["path"] == "village_name").unwrap();
    assert_eq!(village["label"]["zh"], "行政村名称", "{village}");
    let item = &items[2];
    let result = fields
        .iter()
        .find(|f| f["path"] == format!("checklist.{item}.result"))
        .unwrap_or_else(|| panic!("checklist.{item}.result in {fields:?}"));
    assert_eq!(result["shown"]["zh"], "合格", "{result}");
    assert_eq!(d["photos"].as_array().unwrap().len(), 1);
    assert!(
        d["computed"].as_object().is_some_and(|c| !c.is_empty()),
        "{d}"
    );

    // A return without the CSRF token is refused; with it, the comment reaches the phone.
    let ret = serde_json::json!({"decision": "return", "note": "请核实",
        "comments": [{"text": "垃圾收运记录缺失", "path": format!("checklist.{item}")}]});
    let (s, e) = web.post(&format!("/v1/records/{id}/review"), ret.clone(), false);
    assert_eq!((s, e["error"]["code"].as_str()), (403, Some("csrf")));
    let (s, r) = web.post(&format!("/v1/records/{id}/review"), ret, true);
    assert_eq!((s, r["status"].as_str()), (200, Some("returned")), "{r}");
    yy.ok(&["sync"]);
    let shown = yy.ok(&["show", &id]);
    assert_eq!(shown["status"], "returned");
    assert_eq!(shown["to_fix"][0]["path"], format!("checklist.{item}"));
    assert_eq!(shown["to_fix"][0]["by"], "sup_nz");

    // The inspector's phone and the supervisor's tablet write the same field while the record
    // is returned, each offline: a conflict.
    let y2 = enrolled(&server, dir.path(), "tablet", "sup_nz");
    y2.ok(&["sync"]);
    yy.ok(&["set", &id, "township", "城郊乡"]);
    y2.ok(&["set", &id, "township", "皇路店镇"]);
    yy.ok(&["sync"]);
    let pushed = y2.ok(&["sync"]);
    assert_eq!(pushed["refused"], Value::Array(vec![]), "{pushed}");
    let (_, d) = web.get(&format!("/v1/records/{id}"));
    let conflict = d["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"] == "township")
        .unwrap_or_else(|| panic!("a conflict at township: {}", d["conflicts"]));
    assert_eq!(conflict["values"].as_array().unwrap().len(), 2);
    // Approving waits for the conflict; the supervisor picks a value.
    let (s, _) = web.post(
        &format!("/v1/records/{id}/resolve"),
        serde_json::json!({"path": "township", "value": 12}),
        true,
    );
    assert_eq!(s, 400, "a value of the wrong type is refused");
    let (s, r) = web.post(
        &format!("/v1/records/{id}/resolve"),
        serde_json::json!({"path": "township", "value": "云阳镇"}),
        true,
    );
    assert_eq!(s, 200, "{r}");
    for device in [&yy, &y2] {
        device.ok(&["sync"]);
        assert_eq!(device.ok(&["conflicts", &id]), Value::Array(vec![]));
        assert_eq!(device.ok(&["show", &id])["data"]["township"], "云阳镇");
    }

    // Fixed and resubmitted; approved in the console; the phone sees it.
    yy.ok(&["check", &id, item, "na"]);
    yy.ok(&["submit", &id]);
    yy.ok(&["sync"]);
    let (s, r) = web.post(
        &format!("/v1/records/{id}/review"),
        serde_json::json!({"decision": "approve"}),
        true,
    );
    assert_eq!((s, r["status"].as_str()), (200, Some("approved")), "{r}");
    let (s, e) = web.post(
        &format!("/v1/records/{id}/review"),
        serde_json::json!({"decision": "approve"}),
        true,
    );
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("invalid_state"))
    );
    yy.ok(&["sync"]);
    assert_eq!(yy.ok(&["show", &id])["status"], "approved");
    let (_, d) = web.get(&format!("/v1/records/{id}"));
    let kinds: Vec<&str> = d["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["submitted", "returned", "submitted", "approved"]);
    let (_, q) = web.get("/v1/review/queue?status=approved");
    assert_eq!(q["items"][0]["id"], id.as_str());
}
