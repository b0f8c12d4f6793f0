//! People and devices: org units, users, web login with CSRF and lockout, enrollment by
//! one-time code, devices and revocation, the audit log, rate limits. The HTTP side goes
//! through the router (`tower::ServiceExt::oneshot`, a client address set per request); the
//! admin commands and the real peer address go through the `jingtu-server` binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use jingtu_model::Role;
use jingtu_server::api::router;
use jingtu_server::config::Config;
use jingtu_server::people::org::OrgUnit;
use jingtu_server::people::{hash_password, now_ms, secret_hash};
use jingtu_server::storage::sqlite::SqliteStore;
use jingtu_server::storage::{AuditLog, AuthStore, NewUser, OrgStore};
use jingtu_server::{app_state, open_embedded};
use serde_json::{Value, json};
use tower::ServiceExt;

const BIN: &str = env!("CARGO_BIN_EXE_jingtu-server");
const PASSWORD: &str = "云阳镇-2024-春";

// ---------------------------------------------------------------------------------------------
// The router, in process.

struct App {
    _dir: tempfile::TempDir,
    router: axum::Router,
    db: Arc<SqliteStore>,
}

enum Auth<'a> {
    None,
    Bearer(&'a str),
    /// A session cookie, and the CSRF header if any.
    Session(&'a str, Option<&'a str>),
}

mod common;
use common::Answer;

impl Answer {
    fn expect(self, status: StatusCode) -> Self {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        self
    }
}

/// A web session: the cookie value and its CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

impl App {
    fn new() -> App {
        App::with(|_| {})
    }

    fn with(tweak: impl FnOnce(&mut Config)) -> App {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: dir.path().join("data"),
            insecure_cookies: true,
            ..Config::default()
        };
        tweak(&mut config);
        let storage = open_embedded(&config).unwrap();
        let state = app_state(&config, &storage).unwrap();
        App {
            router: router(state),
            db: storage.db.clone(),
            _dir: dir,
        }
    }

    async fn call_from(
        &self,
        ip: [u8; 4],
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        auth: &Auth<'_>,
        extra: &[(&str, &str)],
    ) -> Answer {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "jingtu.test:8470");
        match auth {
            Auth::None => {}
            Auth::Bearer(t) => req = req.header(header::AUTHORIZATION, format!("Bearer {t}")),
            Auth::Session(cookie, csrf) => {
                req = req.header(header::COOKIE, format!("other=1; jingtu_session={cookie}"));
                if let Some(c) = csrf {
                    req = req.header("x-csrf-token", *c);
                }
            }
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let mut req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b))
                .unwrap(),
            None => req.body(Body::empty()).unwrap(),
        };
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((ip, 40000))));
        let response = self.router.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        auth: &Auth<'_>,
    ) -> Answer {
        self.call_from(
            [127, 0, 0, 1],
            method,
            path,
            body.map(|b| b.to_string().into_bytes()),
            auth,
            &[],
        )
        .await
    }

    async fn login(&self, user: &str, password: &str) -> Answer {
        self.call(
            Method::POST,
            "/v1/login",
            Some(json!({"user": user, "password": password})),
            &Auth::None,
        )
        .await
    }

    async fn session(&self, user: &str) -> Session {
        let a = self.login(user, PASSWORD).await.expect(StatusCode::OK);
        let cookie = a.headers[header::SET_COOKIE].to_str().unwrap().to_string();
        let value = cookie
            .strip_prefix("jingtu_session=")
            .and_then(|c| c.split(';').next())
            .unwrap()
            .to_string();
        Session {
            cookie: value,
            csrf: a.json()["csrf_token"].as_str().unwrap().to_string(),
        }
    }

    /// A device token of `user` issued by hand.
    fn device_token(&self, user: &str) -> String {
        let token = jingtu_server::new_token();
        self.db
            .add_token(user, &secret_hash(&token), Some("test"))
            .unwrap();
        token
    }

    /// Issues a code for `user` with a device token of `issuer`; returns the answer.
    async fn issue(&self, issuer_token: &str, user: &str) -> Answer {
        self.call(
            Method::POST,
            "/v1/enrollment-codes",
            Some(json!({"user": user})),
            &Auth::Bearer(issuer_token),
        )
        .await
    }

    async fn enroll(&self, code: &str, device_id: &str) -> Answer {
        self.call(
            Method::POST,
            "/v1/enroll",
            Some(json!({"code": code, "device_id": device_id,
                        "device_label": "李巡查的手机", "app_version": "jingtu/0.1.0 android"})),
            &Auth::None,
        )
        .await
    }

    async fn audit(&self, admin_token: &str, query: &str) -> Vec<Value> {
        let a = self
            .call(
                Method::GET,
                &format!("/v1/audit?{query}"),
                None,
                &Auth::Bearer(admin_token),
            )
            .await
            .expect(StatusCode::OK);
        a.json()["entries"].as_array().unwrap().clone()
    }
}

/// 南召县 with two townships and a village in each; users of every role.
fn county(db: &SqliteStore) {
    let units: Vec<OrgUnit> = [
        ("410000000000", "河南省"),
        ("411300000000", "南阳市"),
        ("411321000000", "南召县"),
        ("411321100000", "云阳镇"),
        ("411321100201", "云阳村"),
        ("411321101000", "皇路店镇"),
        ("411321101201", "皇路店村"),
    ]
    .iter()
    .map(|(c, n)| OrgUnit::new(c, n, None, None).unwrap())
    .collect();
    db.import_org_units(&units).unwrap();
    let hash = hash_password(PASSWORD).unwrap();
    for (name, role, units, password) in [
        ("管理员甲", Role::Admin, vec![], true),
        ("王审核", Role::Supervisor, vec!["411321100000"], true),
        ("李巡查", Role::Inspector, vec!["411321100201"], false),
        ("赵巡查", Role::Inspector, vec!["411321101201"], false),
        ("钱采样", Role::Sampler, vec!["411321100000"], true),
    ] {
        db.add_user(&NewUser {
            name: name.into(),
            role,
            org_units: units.into_iter().map(String::from).collect(),
            password_hash: password.then(|| hash.clone()),
        })
        .unwrap();
    }
}

/// The sync request of a device that has nothing to push, with only the fields of protocol 1
/// (later fields are optional).
#[derive(serde::Serialize)]
struct EmptySync<'a> {
    protocol: u32,
    device: &'a str,
    cursor: u64,
    pushes: Vec<()>,
}

async fn sync(app: &App, token: &str, device: &str) -> Answer {
    let body = jingtu_protocol::encode(&EmptySync {
        protocol: jingtu_protocol::PROTOCOL_VERSION,
        device,
        cursor: 0,
        pushes: vec![],
    })
    .unwrap();
    app.call_from(
        [127, 0, 0, 1],
        Method::POST,
        "/v1/sync",
        Some(body),
        &Auth::Bearer(token),
        &[
            ("content-type", jingtu_protocol::CONTENT_TYPE),
            ("x-jingtu-app-version", "jingtu/0.1.1 android"),
        ],
    )
    .await
}

const DEVICE_A: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
const DEVICE_B: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";

#[tokio::test]
async fn a_device_enrolls_by_code_and_syncs_with_its_token() {
    let app = App::new();
    county(&app.db);
    let admin = app.device_token("管理员甲");
    let issued = app
        .issue(&admin, "李巡查")
        .await
        .expect(StatusCode::CREATED)
        .json();
    let code = issued["code"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 19, "4 groups of 4: {code}");
    let payload = issued["payload"].as_str().unwrap();
    assert!(
        payload.starts_with("jingtu://enroll?server=http%3A%2F%2Fjingtu.test%3A8470&code="),
        "{payload}"
    );
    let parsed = jingtu_protocol::EnrollPayload::parse(payload).unwrap();
    assert_eq!(jingtu_protocol::format_enrollment_code(&parsed.code), code);
    assert!(issued["qr_svg"].as_str().unwrap().contains("<svg"));
    assert!(issued["expires_at_ms"].as_i64().unwrap() > now_ms() + 23 * 3_600_000);
    let png_path = issued["qr_png_path"].as_str().unwrap().to_string();
    assert!(
        !png_path.contains(&parsed.code),
        "the code is never in a URL"
    );

    // The PNG, for its issuer only.
    let png = app
        .call(Method::GET, &png_path, None, &Auth::Bearer(&admin))
        .await
        .expect(StatusCode::OK);
    assert_eq!(png.headers[header::CONTENT_TYPE], "image/png");
    assert_eq!(&png.body[..8], b"\x89PNG\r\n\x1a\n");
    let other = app.device_token("王审核");
    app.call(Method::GET, &png_path, None, &Auth::Bearer(&other))
        .await
        .expect(StatusCode::NOT_FOUND);

    // The code, as a person types it (lower case, spaces), for a token bound to the device.
    let typed = code.to_lowercase().replace('-', " ");
    let enrolled = app
        .enroll(&typed, DEVICE_A)
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(enrolled["user"], "李巡查");
    assert_eq!(enrolled["role"], "inspector");
    assert_eq!(enrolled["org_units"], json!(["411321100201"]));
    let token = enrolled["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("jt_"));

    // The token syncs.
    let answer = sync(&app, &token, DEVICE_A).await.expect(StatusCode::OK);
    let response: jingtu_protocol::SyncResponse =
        jingtu_protocol::decode(&answer.body, 1 << 20).unwrap();
    assert!(response.results.is_empty());

    // The device is listed with its device id and the app version it reported last.
    let device = enrolled["device"].as_i64().unwrap();
    let list = app
        .call(
            Method::GET,
            "/v1/devices?user=李巡查",
            None,
            &Auth::Bearer(&admin),
        )
        .await
        .expect(StatusCode::OK)
        .json();
    let d = &list["devices"][0];
    assert_eq!(d["id"], device);
    assert_eq!(d["device_id"], DEVICE_A);
    assert_eq!(d["label"], "李巡查的手机");
    assert_eq!(d["app_version"], "jingtu/0.1.1 android");
    assert!(d["last_seen_ms"].as_i64().is_some());
    // The field user sees their own device only.
    let own = app
        .call(Method::GET, "/v1/devices", None, &Auth::Bearer(&token))
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(own["devices"].as_array().unwrap().len(), 1);

    // The used code's QR image is gone.
    let gone = app
        .call(Method::GET, &png_path, None, &Auth::Bearer(&admin))
        .await;
    assert_eq!(
        (gone.status, gone.error_code().as_str()),
        (StatusCode::GONE, "code_used")
    );

    let audit = app.audit(&admin, "action=enroll").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["actor"], "李巡查");
    assert_eq!(audit[0]["device_id"], DEVICE_A);
    assert_eq!(audit[0]["remote_addr"], "127.0.0.1");
    let issued = app.audit(&admin, "action=enrollment_code_issued").await;
    assert_eq!(
        (issued[0]["actor"].as_str(), issued[0]["target"].as_str()),
        (Some("管理员甲"), Some("李巡查"))
    );
}

#[tokio::test]
async fn expired_reused_and_unknown_codes_are_refused_and_audited() {
    let app = App::new();
    county(&app.db);
    let admin = app.device_token("管理员甲");
    let code = app
        .issue(&admin, "李巡查")
        .await
        .expect(StatusCode::CREATED)
        .json()["code"]
        .as_str()
        .unwrap()
        .to_string();
    app.enroll(&code, DEVICE_A).await.expect(StatusCode::OK);
    let reused = app.enroll(&code, DEVICE_B).await;
    assert_eq!(
        (reused.status, reused.error_code().as_str()),
        (StatusCode::CONFLICT, "code_used")
    );

    // The same device again at once (its first answer lost): a new token, the first revoked.
    let first = app
        .db
        .list_tokens()
        .unwrap()
        .into_iter()
        .find(|t| t.device_id.is_some())
        .unwrap();
    let retry = app
        .enroll(&code, DEVICE_A)
        .await
        .expect(StatusCode::OK)
        .json();
    assert_ne!(retry["device"], first.id);
    assert!(app.db.token(first.id).unwrap().unwrap().revoked);

    // An expired code (written straight into storage, an hour old).
    let expired = jingtu_server::people::new_enrollment_code();
    app.db
        .add_enrollment_code(
            "李巡查",
            &secret_hash(&expired),
            "system",
            now_ms() - 3_600_000,
        )
        .unwrap();
    let a = app.enroll(&expired, DEVICE_B).await;
    assert_eq!(
        (a.status, a.error_code().as_str()),
        (StatusCode::GONE, "code_expired")
    );

    let a = app.enroll("ABCD-EFGH-JKMN-PQRS", DEVICE_B).await;
    assert_eq!(
        (a.status, a.error_code().as_str()),
        (StatusCode::FORBIDDEN, "bad_code")
    );
    let a = app.enroll("not a code", DEVICE_B).await;
    assert_eq!(
        (a.status, a.error_code().as_str()),
        (StatusCode::FORBIDDEN, "bad_code")
    );
    let a = app.enroll(&code, "not-hex!").await;
    assert_eq!(
        (a.status, a.error_code().as_str()),
        (StatusCode::BAD_REQUEST, "bad_device")
    );

    let refused = app.audit(&admin, "action=enroll_refused").await;
    let reasons: Vec<&str> = refused
        .iter()
        .map(|e| e["detail"]["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        ["bad_code", "bad_code", "code_expired", "code_used"],
        "newest first"
    );
    assert!(
        refused
            .iter()
            .all(|e| e["outcome"] == "refused" && e["actor"] == "anonymous")
    );
    assert_eq!(refused[3]["device_id"], DEVICE_B);
}

#[tokio::test]
async fn a_revoked_device_is_refused_at_its_next_request_and_that_is_audited() {
    let app = App::new();
    county(&app.db);
    let admin = app.device_token("管理员甲");
    let code = app.issue(&admin, "李巡查").await.json()["code"]
        .as_str()
        .unwrap()
        .to_string();
    let enrolled = app
        .enroll(&code, DEVICE_A)
        .await
        .expect(StatusCode::OK)
        .json();
    let token = enrolled["token"].as_str().unwrap();
    let device = enrolled["device"].as_i64().unwrap();
    sync(&app, token, DEVICE_A).await.expect(StatusCode::OK);

    // The supervisor of the township revokes it from the web.
    let s = app.session("王审核").await;
    let path = format!("/v1/devices/{device}/revoke");
    let revoked = app
        .call(
            Method::POST,
            &path,
            None,
            &Auth::Session(&s.cookie, Some(&s.csrf)),
        )
        .await
        .expect(StatusCode::OK)
        .json();
    assert!(revoked["revoked_at_ms"].as_i64().is_some());
    let again = app
        .call(
            Method::POST,
            &path,
            None,
            &Auth::Session(&s.cookie, Some(&s.csrf)),
        )
        .await;
    assert_eq!(
        (again.status, again.error_code().as_str()),
        (StatusCode::CONFLICT, "already_revoked")
    );

    let refused = sync(&app, token, DEVICE_A).await;
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (StatusCode::UNAUTHORIZED, "bad_token")
    );
    let who = app
        .call(Method::GET, "/v1/devices", None, &Auth::Bearer(token))
        .await;
    assert_eq!(who.status, StatusCode::UNAUTHORIZED);

    let revocations = app.audit(&admin, "action=device_revoked").await;
    assert_eq!(revocations.len(), 1);
    assert_eq!(revocations[0]["actor"], "王审核");
    assert_eq!(revocations[0]["target"], format!("device {device}"));
    let attempts = app.audit(&admin, "action=token_refused").await;
    assert_eq!(attempts.len(), 2, "each attempt of the revoked device");
    assert_eq!(attempts[0]["device"], device);
    assert_eq!(attempts[0]["actor"], "李巡查");
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_user_out_even_from_the_right_one() {
    let app = App::new();
    county(&app.db);
    for i in 1..=5 {
        let a = app.login("王审核", "wrong password").await;
        if i < 5 {
            assert_eq!(
                (a.status, a.error_code().as_str()),
                (StatusCode::UNAUTHORIZED, "bad_login"),
                "try {i}"
            );
        } else {
            assert_eq!(
                (a.status, a.error_code().as_str()),
                (StatusCode::LOCKED, "locked")
            );
            let wait: u64 = a.headers[header::RETRY_AFTER]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((14 * 60..=15 * 60).contains(&wait), "{wait}");
        }
    }
    let right = app.login("王审核", PASSWORD).await;
    assert_eq!(
        (right.status, right.error_code().as_str()),
        (StatusCode::LOCKED, "locked")
    );
    assert!(!right.headers.contains_key(header::SET_COOKIE));
    // Another user is not affected.
    app.login("管理员甲", PASSWORD).await.expect(StatusCode::OK);
    // An unknown user gets the same answer as a wrong password.
    let a = app.login("无此人", PASSWORD).await;
    assert_eq!(
        (a.status, a.error_code().as_str()),
        (StatusCode::UNAUTHORIZED, "bad_login")
    );

    let admin = app.device_token("管理员甲");
    let failed = app.audit(&admin, "action=login_failed&user=王审核").await;
    assert_eq!(failed.len(), 5);
    assert!(
        failed
            .iter()
            .all(|e| e["detail"]["reason"] == "wrong_password")
    );
    let locked = app.audit(&admin, "action=login_locked").await;
    assert_eq!(
        locked.len(),
        2,
        "the lockout, and the refused right password"
    );
    assert!(locked.iter().all(|e| e["target"] == "王审核"));
    assert_eq!(app.audit(&admin, "action=login").await.len(), 1);
}

#[tokio::test]
async fn sessions_carry_secure_cookies_and_changes_need_the_csrf_token() {
    let app = App::new();
    county(&app.db);
    let a = app.login("王审核", PASSWORD).await.expect(StatusCode::OK);
    let cookie = a.headers[header::SET_COOKIE].to_str().unwrap();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "insecure_cookies is set for this test"
    );
    let body = a.json();
    assert_eq!(body["role"], "supervisor");
    assert_eq!(body["org_units"], json!(["411321100000"]));
    let value = cookie
        .split(';')
        .next()
        .unwrap()
        .strip_prefix("jingtu_session=")
        .unwrap();
    assert_eq!(value.len(), 64, "256 random bits");
    let csrf = body["csrf_token"].as_str().unwrap();

    for bad in [None, Some("0".repeat(64))] {
        let a = app
            .call(
                Method::POST,
                "/v1/enrollment-codes",
                Some(json!({"user": "李巡查"})),
                &Auth::Session(value, bad.as_deref()),
            )
            .await;
        assert_eq!(
            (a.status, a.error_code().as_str()),
            (StatusCode::FORBIDDEN, "csrf")
        );
    }
    app.call(
        Method::POST,
        "/v1/enrollment-codes",
        Some(json!({"user": "李巡查", "expires_in_s": 3600})),
        &Auth::Session(value, Some(csrf)),
    )
    .await
    .expect(StatusCode::CREATED);
    // Reading needs no CSRF token.
    app.call(
        Method::GET,
        "/v1/devices",
        None,
        &Auth::Session(value, None),
    )
    .await
    .expect(StatusCode::OK);
    // Logging out is a change too.
    let a = app
        .call(
            Method::POST,
            "/v1/logout",
            None,
            &Auth::Session(value, None),
        )
        .await;
    assert_eq!(a.error_code(), "csrf");
    let out = app
        .call(
            Method::POST,
            "/v1/logout",
            None,
            &Auth::Session(value, Some(csrf)),
        )
        .await
        .expect(StatusCode::NO_CONTENT);
    assert!(
        out.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let a = app
        .call(
            Method::GET,
            "/v1/devices",
            None,
            &Auth::Session(value, None),
        )
        .await;
    assert_eq!(
        (a.status, a.error_code().as_str()),
        (StatusCode::UNAUTHORIZED, "bad_session")
    );
    let a = app
        .call(Method::GET, "/v1/devices", None, &Auth::None)
        .await;
    assert_eq!(
        (a.status, a.error_code().as_str()),
        (StatusCode::UNAUTHORIZED, "missing_credentials")
    );
    // A device token cannot log out.
    let t = app.device_token("王审核");
    let a = app
        .call(Method::POST, "/v1/logout", None, &Auth::Bearer(&t))
        .await;
    assert_eq!(a.error_code(), "not_a_session");
}

#[tokio::test]
async fn cookies_are_secure_by_default() {
    let app = App::with(|c| c.insecure_cookies = false);
    county(&app.db);
    let a = app.login("管理员甲", PASSWORD).await.expect(StatusCode::OK);
    let cookie = a.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.ends_with("; Secure"), "{cookie}");
}

#[tokio::test]
async fn field_users_cannot_log_in_to_the_web() {
    let app = App::new();
    county(&app.db);
    // The right password of a field user is answered as a wrong one: a guess never learns
    // it was right.
    let right = app.login("钱采样", PASSWORD).await;
    let wrong = app.login("钱采样", "not the password").await;
    assert_eq!(
        (right.status, right.error_code().as_str()),
        (StatusCode::UNAUTHORIZED, "bad_login")
    );
    assert_eq!(right.json(), wrong.json());
    // Without a password at all: as a wrong password.
    let a = app.login("李巡查", PASSWORD).await;
    assert_eq!(a.error_code(), "bad_login");
    let admin = app.device_token("管理员甲");
    let failed = app.audit(&admin, "action=login_failed").await;
    let reasons: Vec<&str> = failed
        .iter()
        .map(|e| e["detail"]["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["no_password", "wrong_password", "field_role"]);
}

#[tokio::test]
async fn login_and_enrollment_are_rate_limited_per_address() {
    let app = App::with(|c| {
        c.auth.login_burst = 2;
        c.auth.login_per_minute = 1;
        c.auth.enroll_burst = 1;
        c.auth.enroll_per_minute = 1;
    });
    county(&app.db);
    let body = || {
        Some(
            json!({"user": "王审核", "password": "x"})
                .to_string()
                .into_bytes(),
        )
    };
    let from = |ip| app.call_from(ip, Method::POST, "/v1/login", body(), &Auth::None, &[]);
    from([10, 0, 0, 1]).await.expect(StatusCode::UNAUTHORIZED);
    from([10, 0, 0, 1]).await.expect(StatusCode::UNAUTHORIZED);
    let limited = from([10, 0, 0, 1])
        .await
        .expect(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.error_code(), "rate_limited");
    let wait: u64 = limited.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    from([10, 0, 0, 2]).await.expect(StatusCode::UNAUTHORIZED);

    let enroll = || {
        Some(
            json!({"code": "ABCD-EFGH-JKMN-PQRS", "device_id": DEVICE_A})
                .to_string()
                .into_bytes(),
        )
    };
    let e = |ip| app.call_from(ip, Method::POST, "/v1/enroll", enroll(), &Auth::None, &[]);
    e([10, 0, 0, 3]).await.expect(StatusCode::FORBIDDEN);
    assert_eq!(e([10, 0, 0, 3]).await.error_code(), "rate_limited");
    e([10, 0, 0, 4]).await.expect(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn forwarded_addresses_count_only_when_the_proxy_is_trusted() {
    for trust in [false, true] {
        let app = App::with(|c| {
            c.trust_proxy = trust;
            c.auth.enroll_burst = 1;
        });
        county(&app.db);
        let body = || {
            Some(
                json!({"code": "ABCD-EFGH-JKMN-PQRS", "device_id": DEVICE_A})
                    .to_string()
                    .into_bytes(),
            )
        };
        let app = &app;
        let via = |xff: &'static str| async move {
            app.call_from(
                [127, 0, 0, 1],
                Method::POST,
                "/v1/enroll",
                body(),
                &Auth::None,
                &[("x-forwarded-for", xff)],
            )
            .await
        };
        via("203.0.113.1").await.expect(StatusCode::FORBIDDEN);
        let second = via("203.0.113.2").await;
        let admin = app.device_token("管理员甲");
        let entries = app.audit(&admin, "action=enroll_refused").await;
        if trust {
            assert_eq!(
                second.status,
                StatusCode::FORBIDDEN,
                "another client behind the proxy"
            );
            assert_eq!(entries[0]["remote_addr"], "203.0.113.2");
        } else {
            assert_eq!(
                second.error_code(),
                "rate_limited",
                "one peer, whatever the header says"
            );
            assert_eq!(entries[0]["remote_addr"], "127.0.0.1");
        }
    }
}

#[tokio::test]
async fn supervisors_act_only_within_their_org_units() {
    let app = App::new();
    county(&app.db);
    let s = app.session("王审核").await;
    let (app, s) = (&app, &s);
    let issue = |user: &'static str| async move {
        app.call(
            Method::POST,
            "/v1/enrollment-codes",
            Some(json!({"user": user})),
            &Auth::Session(&s.cookie, Some(&s.csrf)),
        )
        .await
    };
    issue("李巡查").await.expect(StatusCode::CREATED);
    for outside in ["赵巡查", "管理员甲"] {
        let a = issue(outside).await;
        assert_eq!(
            (a.status, a.error_code().as_str()),
            (StatusCode::FORBIDDEN, "out_of_scope"),
            "{outside}"
        );
    }
    issue("无此人").await.expect(StatusCode::NOT_FOUND);
    let a = app
        .call(
            Method::POST,
            "/v1/enrollment-codes",
            Some(json!({"user": "李巡查", "expires_in_s": 10 * 24 * 3600})),
            &Auth::Session(&s.cookie, Some(&s.csrf)),
        )
        .await;
    assert_eq!(a.error_code(), "bad_expiry");

    // A field user's device cannot issue codes, revoke devices or read the audit log.
    let field = app.device_token("李巡查");
    let a = app.issue(&field, "李巡查").await;
    assert_eq!(
        (a.status, a.error_code().as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let a = app
        .call(Method::GET, "/v1/audit", None, &Auth::Bearer(&field))
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);

    // Devices: the supervisor sees those of users within the township and revokes only them.
    let inside = app.device_token("李巡查");
    let outside = app.device_token("赵巡查");
    let list = app
        .call(
            Method::GET,
            "/v1/devices",
            None,
            &Auth::Session(&s.cookie, None),
        )
        .await
        .expect(StatusCode::OK)
        .json();
    let users: Vec<&str> = list["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["user"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["李巡查", "李巡查"]);
    let id_of = |t: &str| app.db.find_token(&secret_hash(t)).unwrap().unwrap().id;
    let a = app
        .call(
            Method::POST,
            &format!("/v1/devices/{}/revoke", id_of(&outside)),
            None,
            &Auth::Session(&s.cookie, Some(&s.csrf)),
        )
        .await;
    assert_eq!(
        (a.status, a.error_code().as_str()),
        (StatusCode::FORBIDDEN, "out_of_scope")
    );
    app.call(
        Method::POST,
        &format!("/v1/devices/{}/revoke", id_of(&inside)),
        None,
        &Auth::Session(&s.cookie, Some(&s.csrf)),
    )
    .await
    .expect(StatusCode::OK);
    let a = app
        .call(
            Method::POST,
            "/v1/devices/999/revoke",
            None,
            &Auth::Bearer(&field),
        )
        .await;
    assert_eq!(
        a.error_code(),
        "forbidden",
        "a field user learns nothing of other ids"
    );
    // The supervisor cannot read the audit log; the admin can, and sees the refusals.
    let a = app
        .call(
            Method::GET,
            "/v1/audit",
            None,
            &Auth::Session(&s.cookie, None),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let admin = app.device_token("管理员甲");
    let refused: Vec<Value> = app
        .audit(&admin, "user=王审核")
        .await
        .into_iter()
        .filter(|e| e["outcome"] == "refused")
        .collect();
    assert_eq!(
        refused.len(),
        3,
        "two codes and one revocation out of scope"
    );
    let a = app
        .call(
            Method::GET,
            "/v1/audit?action=nonsense",
            None,
            &Auth::Bearer(&admin),
        )
        .await;
    assert_eq!(a.error_code(), "bad_action");
}

#[tokio::test]
async fn json_bodies_are_small_and_malformed_ones_are_refused() {
    let app = App::new();
    let big = vec![b' '; 100 * 1024];
    let a = app
        .call_from(
            [127, 0, 0, 1],
            Method::POST,
            "/v1/login",
            Some(big),
            &Auth::None,
            &[],
        )
        .await;
    assert_eq!(
        (a.status, a.error_code().as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
    );
    let a = app
        .call_from(
            [127, 0, 0, 1],
            Method::POST,
            "/v1/enroll",
            Some(b"{\"code\":1}".to_vec()),
            &Auth::None,
            &[],
        )
        .await;
    assert_eq!(
        (a.status, a.error_code().as_str()),
        (StatusCode::BAD_REQUEST, "malformed_body")
    );
}

#[tokio::test]
async fn the_openapi_description_names_every_people_endpoint() {
    let app = App::new();
    let doc = app
        .call(Method::GET, "/openapi.json", None, &Auth::None)
        .await
        .expect(StatusCode::OK)
        .json();
    for path in [
        "/v1/login",
        "/v1/logout",
        "/v1/enroll",
        "/v1/enrollment-codes",
        "/v1/enrollment-codes/{id}/qr.png",
        "/v1/devices",
        "/v1/devices/{id}/revoke",
        "/v1/audit",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is missing");
    }
    assert!(doc["components"]["securitySchemes"]["session_cookie"].is_object());
    assert!(doc["components"]["schemas"]["EnrollResponse"].is_object());
}

// ---------------------------------------------------------------------------------------------
// The admin commands and a real server.

fn run(dir: &str, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(BIN)
        .args(["--data-dir", dir, "admin"])
        .args(args)
        .env_remove("JINGTU_CONFIG")
        .env_remove("JINGTU_DATA_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const COUNTY_CSV: &str = "code,name,level,parent
411321100201,云阳村,village,411321100000
410000000000,河南省,,
411300000000,南阳市,city,
411321000000,南召县,county,411300000000
411321100000,云阳镇,,
411321101000,皇路店镇,乡镇,
";

#[test]
fn org_units_import_from_csv_and_errors_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let file = dir.path().join("county.csv");
    std::fs::write(&file, COUNTY_CSV).unwrap();
    let f = file.to_str().unwrap();
    let (ok, out, err) = run(d, &["org", "import", f], None);
    assert!(ok, "{err}");
    assert!(
        out.contains("6 org units: 6 new, 0 updated, 0 unchanged"),
        "{out}"
    );
    // Again, with a renamed village: an upsert.
    std::fs::write(&file, COUNTY_CSV.replace("云阳村,", "云阳村委会,")).unwrap();
    let (_, out, _) = run(d, &["org", "import", f], None);
    assert!(out.contains("0 new, 1 updated, 5 unchanged"), "{out}");

    let (_, out, _) = run(
        d,
        &["org", "list", "--under", "411321100000", "--json"],
        None,
    );
    let units: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(units.len(), 2);
    assert_eq!(units[1]["name"], "云阳村委会");
    assert_eq!(units[1]["level"], "village");
    assert_eq!(units[1]["parent"], "411321100000");
    let (_, out, _) = run(d, &["org", "list"], None);
    assert!(
        out.contains("      411321100000  乡镇  云阳镇"),
        "indented by level:\n{out}"
    );

    let bad_code = "code,name\n410000000000,河南省\n41132110020,云阳村\n";
    std::fs::write(&file, bad_code).unwrap();
    let (ok, _, err) = run(d, &["org", "import", f], None);
    assert!(!ok);
    assert!(err.contains("line 3") && err.contains("12 digits"), "{err}");

    let bad_level = "code,name,level\n411321100202,x村,county\n";
    std::fs::write(&file, bad_level).unwrap();
    let (ok, _, err) = run(d, &["org", "import", f], None);
    assert!(
        !ok && err.contains("line 2") && err.contains("village code"),
        "{err}"
    );

    let orphan = "code,name\n411321100203,新村\n420100000000,武汉市\n";
    std::fs::write(&file, orphan).unwrap();
    let (ok, _, err) = run(d, &["org", "import", f], None);
    assert!(!ok);
    assert!(
        err.contains("line 3")
            && err.contains("420000000000")
            && err.contains("nothing was imported"),
        "{err}"
    );
    let (_, out, _) = run(d, &["org", "list", "--json"], None);
    assert!(!out.contains("411321100203"), "all or nothing");

    let (_, out, _) = run(d, &["audit", "--action", "org_import", "--json"], None);
    assert_eq!(out.lines().count(), 2, "{out}");
}

#[test]
fn users_are_created_listed_and_disabled_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let file = dir.path().join("county.csv");
    std::fs::write(&file, COUNTY_CSV).unwrap();
    assert!(run(d, &["org", "import", file.to_str().unwrap()], None).0);

    let (ok, _, err) = run(
        d,
        &[
            "user",
            "create",
            "王审核",
            "--role",
            "supervisor",
            "--org",
            "411321100000",
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(ok, "{err}");
    let (ok, _, err) = run(
        d,
        &[
            "user",
            "create",
            "李巡查",
            "--role",
            "inspector",
            "--org",
            "411321100201",
            "--org",
            "411321101000",
        ],
        None,
    );
    assert!(ok, "{err}");
    let (ok, _, err) = run(
        d,
        &["user", "create", "孙巡查", "--role", "inspector"],
        None,
    );
    assert!(!ok && err.contains("needs at least one org unit"), "{err}");
    let (ok, _, err) = run(
        d,
        &[
            "user",
            "create",
            "孙巡查",
            "--role",
            "boss",
            "--org",
            "411321100201",
        ],
        None,
    );
    assert!(!ok && err.contains("not a role"), "{err}");
    let (ok, _, err) = run(
        d,
        &[
            "user",
            "create",
            "孙巡查",
            "--role",
            "sampler",
            "--org",
            "411399000000",
        ],
        None,
    );
    assert!(
        !ok && err.contains("org unit 411399000000 not found"),
        "{err}"
    );
    let (ok, _, err) = run(
        d,
        &[
            "user",
            "create",
            "王审核",
            "--role",
            "sampler",
            "--org",
            "411321100201",
        ],
        None,
    );
    assert!(!ok && err.contains("exists"), "{err}");
    let (ok, _, err) = run(
        d,
        &[
            "user",
            "create",
            "周审核",
            "--role",
            "supervisor",
            "--org",
            "411321000000",
            "--password-stdin",
        ],
        Some("short\n"),
    );
    assert!(!ok && err.contains("8 to 1024"), "{err}");
    // The old command makes an admin.
    assert!(run(d, &["create-user", "老管理员"], None).0);

    let (_, out, _) = run(d, &["user", "list", "--json"], None);
    let users: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by_name = |n: &str| users.iter().find(|u| u["name"] == n).unwrap().clone();
    assert_eq!(users.len(), 3);
    assert_eq!(by_name("王审核")["role"], "supervisor");
    assert_eq!(by_name("王审核")["has_password"], true);
    assert_eq!(
        by_name("李巡查")["org_units"],
        json!(["411321100201", "411321101000"])
    );
    assert_eq!(by_name("李巡查")["has_password"], false);
    assert_eq!(by_name("老管理员")["role"], "admin");
    let (_, out, _) = run(d, &["user", "list"], None);
    assert!(out.contains("审核员 supervisor"), "{out}");

    let (ok, _, _) = run(
        d,
        &["user", "set-password", "李巡查", "--password-stdin"],
        Some("a new password"),
    );
    assert!(ok);

    // Disabling revokes the user's devices.
    let (_, token, _) = run(d, &["issue-token", "李巡查", "--label", "phone"], None);
    assert!(token.trim().starts_with("jt_"));
    let (ok, out, _) = run(d, &["user", "disable", "李巡查"], None);
    assert!(ok && out.contains("1 device token(s) revoked"), "{out}");
    let (_, out, _) = run(d, &["devices", "--user", "李巡查", "--json"], None);
    let dev: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(dev["revoked"], true);
    let (_, out, _) = run(d, &["user", "list", "--json"], None);
    assert!(out.contains("\"disabled\":true"));
    let (ok, _, err) = run(d, &["enroll-code", "李巡查"], None);
    assert!(!ok && err.contains("disabled"), "{err}");

    let (_, out, _) = run(d, &["audit", "--user", "李巡查", "--json"], None);
    let actions: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        actions,
        ["user_disabled", "password_set", "user_created"],
        "{out}"
    );
    let (_, out, _) = run(d, &["audit", "--since-hours", "1", "--limit", "2"], None);
    assert_eq!(out.lines().count(), 2);
    assert!(out.contains("system"), "{out}");
    let (_, out, _) = run(d, &["audit", "--since", "2999-01-01T00:00:00Z"], None);
    assert!(out.is_empty());
    let (ok, _, err) = run(d, &["audit", "--since", "yesterday"], None);
    assert!(!ok && err.contains("RFC 3339"), "{err}");
    let (ok, _, err) = run(d, &["audit", "--action", "dance"], None);
    assert!(!ok && err.contains("login_failed"), "{err}");
}

#[test]
fn enrollment_codes_come_with_qr_images() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    assert!(run(d, &["create-user", "张三"], None).0);
    let png = dir.path().join("code.png");
    let svg = dir.path().join("code.svg");
    let (ok, out, err) = run(
        d,
        &[
            "enroll-code",
            "张三",
            "--expires-in",
            "2h",
            "--png",
            png.to_str().unwrap(),
            "--svg",
            svg.to_str().unwrap(),
            "--server-url",
            "https://jingtu.example.gov.cn/",
        ],
        None,
    );
    assert!(ok, "{err}");
    let code = out.trim();
    assert!(
        jingtu_protocol::normalize_enrollment_code(code).is_some(),
        "{code}"
    );
    assert!(
        err.contains(
            "QR payload: jingtu://enroll?server=https%3A%2F%2Fjingtu.example.gov.cn&code="
        ),
        "{err}"
    );
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    let (ok, _, err) = run(d, &["enroll-code", "张三", "--expires-in", "30d"], None);
    assert!(!ok && err.contains("enrollment_code_max_hours"), "{err}");
    let (ok, _, err) = run(d, &["enroll-code", "nobody"], None);
    assert!(!ok && err.contains("not found"), "{err}");
    let (_, out, _) = run(
        d,
        &["audit", "--action", "enrollment_code_issued", "--json"],
        None,
    );
    let e: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(
        (e["actor"].as_str(), e["target"].as_str()),
        (Some("system"), Some("张三"))
    );
}

/// The real server: the peer address reaches the audit log, and an enrolled token works.
#[test]
fn a_served_enrollment_records_the_peer_address() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let ds = d.to_str().unwrap();
    std::fs::create_dir_all(&d).unwrap();
    assert!(run(ds, &["create-user", "张三"], None).0);
    let (_, code, _) = run(ds, &["enroll-code", "张三"], None);
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:0\"\ninsecure_cookies = true\n[auth]\nenroll_burst = 5\n",
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args([
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            ds,
            "serve",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("jingtu-server listening on http://")
        .unwrap()
        .parse()
        .unwrap();
    let post = |path: &str, body: &str| {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer
    };
    let refused = post(
        "/v1/enroll",
        &json!({"code": "ZZZZ-ZZZZ-ZZZZ-ZZZZ", "device_id": "ab"}).to_string(),
    );
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    let ok = post(
        "/v1/enroll",
        &json!({"code": code.trim(), "device_id": "ab"}).to_string(),
    );
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    let _ = child.kill();
    let _ = child.wait();
    let (_, out, _) = run(ds, &["audit", "--json", "--limit", "2"], None);
    let entries: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries[0]["action"], "enroll");
    assert_eq!(entries[1]["action"], "enroll_refused");
    for e in &entries {
        let ip: IpAddr = e["remote_addr"].as_str().unwrap().parse().unwrap();
        assert!(ip.is_loopback(), "{e}");
    }
    let (_, out, _) = run(ds, &["devices", "--json"], None);
    assert!(out.contains("\"device_id\":\"ab\""), "{out}");
    // The audit log is only ever appended to: nothing above is lost after a restart.
    let store = SqliteStore::open(&d.join("jingtu-server.db")).unwrap();
    assert!(store.audit_query(&Default::default()).unwrap().len() >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_passwords_sent_at_once_get_no_more_tries_than_the_lockout() {
    let app = Arc::new(App::new());
    county(&app.db);
    // Twenty guesses at once, from twenty addresses (past the limit per address): each is
    // counted before its password is checked.
    let guesses: Vec<_> = (0..20u8)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                let body = json!({"user": "王审核", "password": format!("guess {i}")});
                app.call_from(
                    [10, 0, 0, i],
                    Method::POST,
                    "/v1/login",
                    Some(body.to_string().into_bytes()),
                    &Auth::None,
                    &[],
                )
                .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for g in guesses {
        answers.push(g.await.unwrap().status);
    }
    let wrong = answers
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert!(wrong <= 5, "{wrong} guesses were checked: {answers:?}");
    assert!(
        answers
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::LOCKED)
    );
    let admin = app.device_token("管理员甲");
    let checked = app.audit(&admin, "action=login_failed&user=王审核").await;
    assert!(checked.len() <= 5, "{} passwords checked", checked.len());
    let right = app.login("王审核", PASSWORD).await;
    assert_eq!(right.status, StatusCode::LOCKED);
}

#[tokio::test]
async fn a_login_body_must_say_it_is_json() {
    let app = App::new();
    county(&app.db);
    let body = json!({"user": "王审核", "password": PASSWORD}).to_string();
    // What a form of another site can send without asking first.
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri("/v1/login")
            .header(header::HOST, "jingtu.test:8470");
        if let Some(c) = content_type {
            req = req.header(header::CONTENT_TYPE, c);
        }
        let mut req = req.body(Body::from(body.clone())).unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
        let response = app.router.clone().oneshot(req).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
        assert!(!response.headers().contains_key(header::SET_COOKIE));
    }
    app.login("王审核", PASSWORD).await.expect(StatusCode::OK);
}

async fn get(app: &App, ip: [u8; 4], path: &str, token: Option<&str>) -> StatusCode {
    let auth = token.map_or(Auth::None, Auth::Bearer);
    app.call_from(ip, Method::GET, path, None, &auth, &[])
        .await
        .status
}

#[tokio::test]
async fn metrics_are_read_locally_or_with_their_token_and_the_description_can_be_hidden() {
    use jingtu_server::config::MetricsAccess;
    // By default: this machine only.
    let app = App::new();
    assert_eq!(
        get(&app, [127, 0, 0, 1], "/metrics", None).await,
        StatusCode::OK
    );
    assert_eq!(
        get(&app, [203, 0, 113, 9], "/metrics", None).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(&app, [203, 0, 113, 9], "/openapi.json", None).await,
        StatusCode::OK
    );
    // With a token, from anywhere; a wrong token does not do.
    let token = "scrape-4f7c1e9a2b";
    let app = App::with(|c| c.metrics_token = Some(token.into()));
    assert_eq!(
        get(&app, [203, 0, 113, 9], "/metrics", Some(token)).await,
        StatusCode::OK
    );
    assert_eq!(
        get(
            &app,
            [203, 0, 113, 9],
            "/metrics",
            Some("scrape-4f7c1e9a2c")
        )
        .await,
        StatusCode::FORBIDDEN
    );
    let app = App::with(|c| c.metrics = MetricsAccess::Public);
    assert_eq!(
        get(&app, [203, 0, 113, 9], "/metrics", None).await,
        StatusCode::OK
    );
    let app = App::with(|c| {
        c.metrics = MetricsAccess::Off;
        c.openapi = false;
    });
    assert_eq!(
        get(&app, [127, 0, 0, 1], "/metrics", None).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&app, [127, 0, 0, 1], "/openapi.json", None).await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn ready_only_while_the_disk_keeps_its_reserve() {
    let app = App::new();
    let ok = app.call(Method::GET, "/readyz", None, &Auth::None).await;
    assert_eq!(ok.status, StatusCode::OK);
    // A reserve larger than any disk: as on a full one.
    let app = App::with(|c| c.limits.min_free_disk_mb = u64::MAX >> 21);
    let full = app.call(Method::GET, "/readyz", None, &Auth::None).await;
    assert_eq!(
        (full.status, full.error_code().as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "disk_full")
    );
}
