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
        page.contains("lang=\"zh-CN\"") && page.contains("审核员登录"),
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
