//! The supervisors' web console over HTTP, as a browser without JavaScript uses it: the login
//! form (with its own token), the queue, a record's page with its photo, a return with a
//! comment on one checklist item that reaches the inspector's phone, and the refusals (no
//! session, a form without the CSRF token, an inspector's login, another county's record).

mod common;

use common::cli::{checklist_items, enrolled, inspection};
use common::web::{install_tls, set_cookie};
use jingtu_e2e::ServerProcess;
use reqwest::blocking::{Client, Response};

const SERVER: &str = env!("CARGO_BIN_EXE_jingtu-e2e-server");

/// `application/x-www-form-urlencoded` of `pairs`.
fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The value of `name="KEY" value="..."` in a page.
fn hidden(page: &str, key: &str) -> String {
    let marker = format!("name=\"{key}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("{key} in {page}"))
        + marker.len();
    page[start..start + page[start..].find('"').unwrap()].to_string()
}

struct Browser {
    http: Client,
    url: String,
    cookies: Vec<String>,
}

impl Browser {
    fn new(server: &ServerProcess) -> Browser {
        install_tls(&server.url);
        Browser {
            http: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            url: server.url.clone(),
            cookies: Vec::new(),
        }
    }

    fn keep(&mut self, r: &Response) {
        for name in ["jingtu_session", "jingtu_login", "jingtu_lang"] {
            if let Some(c) = set_cookie(r, name) {
                self.cookies.retain(|k| !k.starts_with(&format!("{name}=")));
                self.cookies.push(c);
            }
        }
    }

    fn get(&mut self, path: &str) -> (u16, String, Option<String>) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .header("cookie", self.cookies.join("; "))
            .send()
            .unwrap();
        self.keep(&r);
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        (status, r.text().unwrap_or_default(), location)
    }

    fn post(&mut self, path: &str, pairs: &[(&str, &str)]) -> (u16, String, Option<String>) {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .header("cookie", self.cookies.join("; "))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(pairs))
            .send()
            .unwrap();
        self.keep(&r);
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        (status, r.text().unwrap_or_default(), location)
    }

    fn login(&mut self, user: &str, password: &str) -> (u16, String, Option<String>) {
        let (s, page, _) = self.get("/login");
        assert_eq!(s, 200);
        let token = hidden(&page, "token");
        self.post(
            "/login",
            &[
                ("user", user),
                ("password", password),
                ("token", &token),
                ("next", "/queue"),
            ],
        )
    }
}

#[test]
fn a_supervisor_reviews_in_the_console_and_the_inspector_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(SERVER, &dir.path().join("server"));
    server.county(&[
        ("insp_yy", "inspector", "411321102000"),
        ("sup_nz", "supervisor", "411321000000"),
        ("sup_hl", "supervisor", "411321103000"),
    ]);
    server.set_password("sup_nz", "县审核-2024");
    server.set_password("sup_hl", "镇审核-2024");
    server.set_password("insp_yy", "巡查员-2024");
    let yy = enrolled(&server, dir.path(), "yy", "insp_yy");
    let items = checklist_items();
    let (id, sha) = inspection(&yy, dir.path(), &items);
    yy.ok(&["submit", &id]);
    yy.ok(&["sync"]);

    // Without a session every page leads to the login, which is in Chinese.
    let mut b = Browser::new(&server);
    let (s, _, to) = b.get("/queue");
    assert_eq!((s, to.as_deref()), (303, Some("/login?next=/queue")));
    let (s, page, _) = b.get("/login");
    assert_eq!(s, 200);
    assert!(
        page.contains("lang=\"zh-CN\"") && page.contains("审核员、检测员登录"),
        "{page}"
    );
    // A login form posted without its token (from another site) is refused.
    let (s, page, _) = Browser::new(&server).post(
        "/login",
        &[
            ("user", "sup_nz"),
            ("password", "县审核-2024"),
            ("token", "x"),
        ],
    );
    assert_eq!(s, 403);
    assert!(page.contains("登录页面已过期"), "{page}");
    // An inspector uses the phone, not the console: refused like a wrong password (the login
    // does not tell who exists), with the page's hint.
    let (s, page, _) = Browser::new(&server).login("insp_yy", "巡查员-2024");
    assert_eq!(s, 401);
    assert!(
        page.contains("用户名或密码不对") && page.contains("巡查员和采样员请使用手机应用"),
        "{page}"
    );
    let (s, page, _) = Browser::new(&server).login("sup_nz", "wrong");
    assert_eq!(s, 401);
    assert!(page.contains("用户名或密码不对"), "{page}");

    let (s, _, to) = b.login("sup_nz", "县审核-2024");
    assert_eq!((s, to.as_deref()), (303, Some("/queue")));
    let (s, queue, _) = b.get("/queue?status=submitted&village=杨树");
    assert_eq!(s, 200);
    assert!(
        queue.contains("杨树沟村") && queue.contains("待审核"),
        "{queue}"
    );
    assert!(queue.contains(&format!("/records/{id}")));
    let (_, empty, _) = b.get("/queue?status=approved");
    assert!(empty.contains("没有符合条件的记录"), "{empty}");
    let (_, english, _) = b.get("/queue?lang=en");
    assert!(english.contains("Review queue") && english.contains("lang=\"en\""));
    let (_, back, _) = b.get("/queue?lang=zh");
    assert!(back.contains("审核队列"));

    // The record page: labelled values, the checklist item, the photo, the map.
    let (s, record, _) = b.get(&format!("/records/{id}"));
    assert_eq!(s, 200);
    for text in [
        "行政村名称",
        "杨树沟村",
        "清垃圾",
        "合格",
        "现场照片",
        "33.488612",
    ] {
        assert!(record.contains(text), "{text} on the record page");
    }
    assert!(record.contains(&format!("/photos/{sha}?thumb=true")));
    let (s, _, _) = b.get(&format!("/photos/{sha}?thumb=true"));
    assert_eq!(s, 200);
    let (s, _, _) = b.get(&format!("/photos/{sha}"));
    assert_eq!(s, 200);

    // Return with a comment on one item; a form without the session's token does nothing.
    let item = format!("checklist.{}", items[3]);
    let csrf = hidden(&record, "csrf");
    let review = |csrf: &str| {
        vec![
            ("csrf".to_string(), csrf.to_string()),
            ("decision".to_string(), "return".to_string()),
            ("note".to_string(), "请核实".to_string()),
            ("path1".to_string(), item.clone()),
            ("text1".to_string(), "违建未拆除，请补拍".to_string()),
        ]
    };
    let as_pairs = |v: &Vec<(String, String)>| -> Vec<(String, String)> { v.clone() };
    let bad = as_pairs(&review("not-the-token"));
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (s, page, _) = b.post(&format!("/records/{id}/review"), &bad);
    assert_eq!(s, 403);
    assert!(page.contains("操作未执行"), "{page}");
    let good = review(&csrf);
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (s, _, to) = b.post(&format!("/records/{id}/review"), &good);
    assert_eq!(s, 303);
    assert_eq!(to, Some(format!("/records/{id}#review")));
    let (_, record, _) = b.get(&format!("/records/{id}"));
    assert!(
        record.contains("已退回") && record.contains("违建未拆除，请补拍"),
        "{record}"
    );

    // The inspector's phone shows it.
    yy.ok(&["sync"]);
    let shown = yy.ok(&["show", &id]);
    assert_eq!(shown["status"], "returned");
    assert_eq!(shown["to_fix"][0]["path"], item);

    // Another township's supervisor may not open it.
    let mut far = Browser::new(&server);
    far.login("sup_hl", "镇审核-2024");
    let (s, page, _) = far.get(&format!("/records/{id}"));
    assert_eq!(s, 403);
    assert!(page.contains("不在您负责的区域内"), "{page}");
    let (s, _, _) = far.get(&format!("/photos/{sha}?thumb=true"));
    assert_eq!(s, 403);

    // Logging out ends the session.
    let (_, queue, _) = b.get("/queue");
    let csrf = hidden(&queue, "csrf");
    let (s, _, to) = b.post("/logout", &[("csrf", &csrf)]);
    assert_eq!((s, to.as_deref()), (303, Some("/login")));
    let (s, _, _) = b.get("/queue");
    assert_eq!(s, 303);
}

/// The `/PREFIX.../ACTION` form target of the first row that mentions `needle`.
fn row_action(page: &str, needle: &str, action: &str) -> String {
    let at = page
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} in {page}"));
    let rest = &page[at..];
    let end = rest
        .find(&format!("/{action}\""))
        .unwrap_or_else(|| panic!("{action} after {needle}"));
    let start = rest[..end].rfind("action=\"").unwrap() + "action=\"".len();
    format!("{}/{action}", &rest[start..end])
}

#[test]
fn a_supervisor_gives_hands_over_and_takes_back_work_and_revokes_a_phone() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(SERVER, &dir.path().join("server"));
    server.county(&[
        ("insp_yy", "inspector", "411321102000"),
        ("insp_zz", "inspector", "411321102000"),
        ("insp_hl", "inspector", "411321103000"),
        ("sup_yy", "supervisor", "411321102000"),
    ]);
    server.set_password("sup_yy", "镇审核-2024");
    let yy = enrolled(&server, dir.path(), "yy", "insp_yy");
    let zz = enrolled(&server, dir.path(), "zz", "insp_zz");
    let mut b = Browser::new(&server);
    let (s, _, _) = b.login("sup_yy", "镇审核-2024");
    assert_eq!(s, 303);

    // The form offers the town's field users only.
    let (s, page, _) = b.get("/assignments");
    assert_eq!(s, 200);
    assert!(
        page.contains("分配新任务") && page.contains("没有进行中的任务"),
        "{page}"
    );
    assert!(page.contains("insp_yy（巡查员）") && page.contains("insp_zz"));
    assert!(
        !page.contains("insp_hl"),
        "another town's inspector is not offered"
    );
    let csrf = hidden(&page, "csrf");
    let give = |csrf: &str, target: &str| {
        vec![
            ("csrf", csrf.to_string()),
            ("assignee", "insp_yy".to_string()),
            ("kind", "village_inspection".to_string()),
            ("target_kind", "village".to_string()),
            ("target", target.to_string()),
            ("target_name", String::new()),
            ("org_unit", String::new()),
            ("due_date", "2024-08-31".to_string()),
            ("note", "上半年自评".to_string()),
        ]
    };
    let post = |b: &mut Browser, path: &str, v: Vec<(&'static str, String)>| {
        let v: Vec<(&str, &str)> = v.iter().map(|(k, v)| (*k, v.as_str())).collect();
        b.post(path, &v)
    };
    let (s, _, _) = post(&mut b, "/assignments", give("forged", "411321102206"));
    assert_eq!(s, 403, "a form without the session's token is refused");
    // Another town's village is refused, in plain words, with the form still there.
    let (s, page, _) = post(&mut b, "/assignments", give(&csrf, "411321103201"));
    assert_eq!(s, 403);
    assert!(
        page.contains("不在您管辖的区域内") && page.contains("分配新任务"),
        "{page}"
    );
    assert!(
        page.contains("value=\"411321103201\"") && page.contains("value=\"上半年自评\""),
        "what was typed is shown again: {page}"
    );
    let (s, _, to) = post(&mut b, "/assignments", give(&csrf, "411321102206"));
    assert_eq!((s, to.as_deref()), (303, Some("/assignments?done=given")));
    let (_, page, _) = b.get("/assignments?done=given");
    assert!(page.contains("任务已分配"), "{page}");
    // The village's name and its unit are filled in from the org units.
    assert!(
        page.contains("村庄：杨树沟村（411321102206）") && page.contains("2024-08-31"),
        "{page}"
    );

    // The work reaches the inspector's phone.
    yy.ok(&["sync"]);
    let mine = yy.ok(&["assignments"]);
    assert_eq!(mine[0]["target_name"], "杨树沟村", "{mine}");

    // Handed over, it leaves yy's phone and reaches zz's.
    let reassign = row_action(&page, "杨树沟村（411321102206）", "reassign");
    let (s, _, to) = post(
        &mut b,
        &reassign,
        vec![("csrf", csrf.clone()), ("assignee", "insp_zz".into())],
    );
    assert_eq!((s, to.as_deref()), (303, Some("/assignments?done=handed")));
    yy.ok(&["sync"]);
    assert_eq!(yy.ok(&["assignments"]), serde_json::json!([]));
    zz.ok(&["sync"]);
    assert_eq!(zz.ok(&["assignments"])[0]["target"], "411321102206");
    let (_, page, _) = b.get("/assignments?assignee=insp_zz");
    assert!(page.contains("杨树沟村"), "{page}");
    let (_, none, _) = b.get("/assignments?assignee=insp_yy");
    assert!(none.contains("没有进行中的任务"), "{none}");

    // Taken back, it leaves zz's phone.
    let remove = row_action(&page, "杨树沟村（411321102206）", "remove");
    let (s, _, to) = post(&mut b, &remove, vec![("csrf", csrf.clone())]);
    assert_eq!((s, to.as_deref()), (303, Some("/assignments?done=taken")));
    zz.ok(&["sync"]);
    assert_eq!(zz.ok(&["assignments"]), serde_json::json!([]));
    let (s, _, _) = post(&mut b, &remove, vec![("csrf", csrf.clone())]);
    assert_eq!(s, 303, "taking back twice (a double click) is harmless");
    let (s, page, _) = post(
        &mut b,
        "/assignments/no-such-id/remove",
        vec![("csrf", csrf.clone())],
    );
    assert_eq!(s, 404);
    assert!(page.contains("它可能已被收回"), "{page}");

    // People and their phones: the town's inspectors, not the other town's.
    let (s, people, _) = b.get("/people");
    assert_eq!(s, 200);
    assert!(
        people.contains("insp_yy") && people.contains("insp_zz") && !people.contains("insp_hl"),
        "{people}"
    );
    assert!(people.contains("云阳镇（411321102000）") && people.contains("使用中"));
    assert!(people.contains("/enroll?user=insp_yy"));
    let (_, enroll, _) = b.get("/enroll?user=insp_yy");
    assert!(enroll.contains("value=\"insp_yy\""), "{enroll}");
    // Revoking yy's phone (listed first): refused without the token, then done; that phone is
    // refused at its next sync, zz's is not.
    let revoke = row_action(&people, "<code>", "revoke");
    let (s, _, _) = post(&mut b, &revoke, vec![("csrf", "forged".into())]);
    assert_eq!(s, 403);
    let (s, _, to) = post(&mut b, &revoke, vec![("csrf", csrf.clone())]);
    assert_eq!((s, to.as_deref()), (303, Some("/people?done=revoked")));
    let (_, people, _) = b.get("/people?done=revoked");
    assert!(
        people.contains("设备已停用") && people.contains("已停用 "),
        "{people}"
    );
    let (s, page, _) = post(&mut b, &revoke, vec![("csrf", csrf.clone())]);
    assert_eq!(s, 409);
    assert!(page.contains("这台设备已经停用"), "{page}");
    let (ok, out) = yy.run(&["sync"], true);
    assert!(!ok, "the revoked phone syncs no more: {out}");
    zz.ok(&["sync"]);
    let audit = server.admin(&["audit", "--action", "device_revoked"]);
    assert!(audit.contains("sup_yy"), "{audit}");
}

/// The lab's pages: a lab user sees the samples handed in under blind codes (never the
/// sample's record, point or photos), enters results after the sample is submitted, and the
/// sampler's phone shows the class at its next sync. A sampler's own lab result is refused.
#[test]
fn the_lab_enters_results_under_a_blind_code_and_the_phone_shows_the_class() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(SERVER, &dir.path().join("server"));
    server.county(&[
        ("samp_yy", "sampler", "411321102000"),
        ("lab_nz", "lab", "411321000000"),
        ("lab_far", "lab", "411321103000"),
    ]);
    server.set_password("lab_nz", "县检测-2024");
    server.set_password("lab_far", "镇检测-2024");
    let phone = enrolled(&server, dir.path(), "phone", "samp_yy");
    let sample = |point: &str, blind: &str| {
        let id = phone.ok(&["new", "soil_sample", "--org-unit", "411321102206"])["id"]
            .as_str()
            .unwrap()
            .to_string();
        phone.ok(&["set", &id, "point_code", point]);
        phone.ok(&["set", &id, "land_use", "dryland_0103"]);
        phone.ok(&["custody", "add", &id, "--step", r#"{"step": "collected"}"#]);
        let hand_in =
            format!(r#"{{"step": "lab_hand_in", "blind_code": "{blind}", "lab": "县检测中心"}}"#);
        phone.ok(&["custody", "add", &id, "--step", &hand_in]);
        id
    };
    let a = sample("411321YJ0087", "MB-0417");
    let b = sample("411321YJ0088", "MB-0418");
    let sync = phone.ok(&["sync"]);
    assert!(sync["refused"].as_array().unwrap().is_empty(), "{sync}");

    // The lab's list: blind codes only.
    let mut lab = Browser::new(&server);
    let (s, _, to) = lab.login("lab_nz", "县检测-2024");
    assert_eq!((s, to.as_deref()), (303, Some("/queue")));
    let (s, _, to) = lab.get("/queue");
    assert_eq!(
        (s, to.as_deref()),
        (303, Some("/lab")),
        "lab staff review nothing"
    );
    let (s, list, _) = lab.get("/lab");
    assert_eq!(s, 200, "{list}");
    assert!(
        list.contains("MB-0417") && list.contains("MB-0418"),
        "{list}"
    );
    assert!(list.contains("未录入"), "{list}");
    for secret in [a.as_str(), b.as_str(), "411321YJ0087", "杨树沟"] {
        assert!(!list.contains(secret), "the list shows {secret}");
    }
    let (s, _, _) = lab.get(&format!("/records/{a}"));
    assert_eq!(s, 403, "the lab does not open records");
    let (s, _, to) = lab.get("/lab/find?code=+MB-0417+");
    assert_eq!((s, to.as_deref()), (303, Some("/lab/samples/MB-0417")));
    let (s, page, _) = lab.get("/lab/samples/MB-0417");
    assert_eq!(s, 200, "{page}");
    assert!(!page.contains(a.as_str()) && !page.contains("411321YJ0087"));
    assert!(
        page.contains("镉（总量）") && page.contains("尚缺"),
        "{page}"
    );
    let csrf = hidden(&page, "csrf");

    // A value that is not a number is refused in place, what was typed kept.
    let (s, page, _) = lab.post(
        "/lab/samples/MB-0417",
        &[("csrf", &csrf), ("v_ph", "6.8"), ("v_cd", "0.2x")],
    );
    assert_eq!(s, 400, "{page}");
    assert!(page.contains("不是数字") && page.contains("0.2x"), "{page}");
    let (s, page, _) = lab.post("/lab/samples/MB-0417", &[("csrf", &csrf), ("v_ph", "15")]);
    assert_eq!(s, 400, "pH 15: {page}");
    let (s, _, _) = lab.post(
        "/lab/samples/MB-0417",
        &[("csrf", "forged"), ("v_ph", "6.8")],
    );
    assert_eq!(s, 403);

    // The panel, with mercury not detected.
    let (s, _, to) = lab.post(
        "/lab/samples/MB-0417",
        &[
            ("csrf", &csrf),
            ("v_ph", "6.8"),
            ("v_cd", "0.25"),
            ("v_as", "12"),
            ("v_pb", "40"),
            ("v_cr", "90"),
            ("nd_hg", "on"),
            ("v_method", "GB/T 17141-1997 石墨炉原子吸收分光光度法"),
        ],
    );
    assert_eq!(
        (s, to.as_deref()),
        (303, Some("/lab/samples/MB-0417?done=saved"))
    );
    let (_, page, _) = lab.get("/lab/samples/MB-0417?done=saved");
    assert!(
        page.contains("优先保护类") && page.contains("已保存"),
        "{page}"
    );
    let (_, list, _) = lab.get("/lab");
    assert!(list.contains("已录入 6 项"), "{list}");

    // The supervisors' record detail shows the results and the class.
    let detail: serde_json::Value = serde_json::from_str(
        &lab.http
            .get(format!("{}/v1/records/{a}", server.url))
            .bearer_auth(server.admin_token.as_deref().unwrap())
            .send()
            .unwrap()
            .text()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        detail["computed"]["quality_class"]["class"], "priority_protection",
        "{detail}"
    );
    assert!(
        detail["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["path"] == "lab_results.cd" && f["value"] == 0.25),
        "{detail}"
    );

    // Another township's lab does not find the code.
    let mut far = Browser::new(&server);
    far.login("lab_far", "镇检测-2024");
    let (s, list, _) = far.get("/lab");
    assert!(s == 200 && !list.contains("MB-0417"), "{list}");
    let (s, _, _) = far.get("/lab/samples/MB-0417");
    assert_eq!(s, 404);

    // The phone receives the results and shows the class.
    phone.ok(&["sync"]);
    let shown = phone.ok(&["show", &a]);
    assert_eq!(shown["data"]["lab_results"]["cd"], 0.25, "{shown}");
    assert_eq!(
        shown["computed"]["quality_class"]["class"], "priority_protection",
        "{shown}"
    );

    // An enrolled sampler's phone does not write lab results; a store that bypasses that
    // (here: an old app's record imported) is refused by the server, and the edit is kept.
    phone.fails(&["set", &b, "lab_results.cd", "0.1"], "invalid_state");
    let loose = common::cli::Device {
        store: dir.path().join("loose"),
    };
    let copy = dir.path().join("b.jtr");
    phone.ok(&["export", &b, &copy.to_string_lossy()]);
    loose.ok(&["import", &copy.to_string_lossy()]);
    loose.ok(&["set", &b, "lab_results.cd", "0.1"]);
    loose.ok(&["export", &b, &copy.to_string_lossy()]);
    phone.ok(&["import", &copy.to_string_lossy()]);
    let (ok, out) = phone.run(&["sync"], true);
    assert!(!ok, "{out}");
    let sync: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let refused = &sync["refused"][0];
    assert_eq!(
        (&refused["record"], &refused["rule"], &refused["path"]),
        (
            &serde_json::json!(b),
            &serde_json::json!("lab_results_by_lab"),
            &serde_json::json!("data/lab_results/cd")
        ),
        "{sync}"
    );
    let kept = phone.ok(&["refused", &b]);
    assert_eq!(kept[0]["path"], "data/lab_results/cd", "{kept}");
}
