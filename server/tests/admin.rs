//! The `jingtu-server` binary: admin commands, configuration, start and graceful stop.
//! (This test also makes `cargo test` build the binary that the end-to-end tests start.)

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_jingtu-server");

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn admin_creates_users_issues_lists_and_revokes_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (ok, out, _) = run(&["--data-dir", d, "admin", "create-user", "张三"]);
    assert!(ok, "{out}");
    let (ok, _, err) = run(&["--data-dir", d, "admin", "create-user", "张三"]);
    assert!(!ok && err.contains("exists"), "{err}");
    let (ok, _, err) = run(&["--data-dir", d, "admin", "create-user", "  "]);
    assert!(!ok && err.contains("1 to 100"), "{err}");
    let (ok, token, _) = run(&[
        "--data-dir",
        d,
        "admin",
        "issue-token",
        "张三",
        "--label",
        "phone",
    ]);
    assert!(ok);
    let token = token.trim();
    assert!(token.starts_with("jt_") && token.len() == 67, "{token}");
    let (ok, _, err) = run(&["--data-dir", d, "admin", "issue-token", "nobody"]);
    assert!(!ok && err.contains("not found"), "{err}");
    let (_, list, _) = run(&["--data-dir", d, "admin", "list-tokens", "--json"]);
    let row: serde_json::Value = serde_json::from_str(list.lines().next().unwrap()).unwrap();
    assert_eq!(row["user"], "张三");
    assert_eq!(row["revoked"], false);
    assert!(
        !list.contains(token),
        "the token itself is never stored or shown again"
    );
    let id = row["id"].to_string();
    assert!(run(&["--data-dir", d, "admin", "revoke-token", &id]).0);
    assert!(!run(&["--data-dir", d, "admin", "revoke-token", &id]).0);
    let (_, list, _) = run(&["--data-dir", d, "admin", "list-tokens", "--json"]);
    assert!(list.contains("\"revoked\":true"));
}

#[test]
fn serve_prints_its_address_and_first_token_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:0\"\n[limits]\nmax_body_bytes = 1000\n",
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["--config", config.to_str().unwrap(), "serve"])
        .env("JINGTU_DATA_DIR", dir.path().join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("jingtu-server listening on ")
        .unwrap()
        .to_string();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    // The lines up to the one that names the token's file.
    let mut logged = String::new();
    for _ in 0..20 {
        let mut l = String::new();
        if err.read_line(&mut l).unwrap() == 0 {
            break;
        }
        logged.push_str(&l);
        if l.contains("first-admin-token") {
            break;
        }
    }
    // The first token is in a file only its owner reads, never in the log.
    let token_file = dir.path().join("data/first-admin-token");
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert!(token.trim().starts_with("jt_"), "{token}");
    assert!(
        !logged.contains(token.trim()),
        "the token reached the log: {logged}"
    );
    assert!(logged.contains("first-admin-token"), "{logged}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the token file is readable by others: {mode:o}"
        );
    }
    assert!(
        dir.path().join("data/jingtu-server.db").exists(),
        "the env data dir is used"
    );
    std::thread::spawn(move || for _ in err.lines() {});
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    // SIGTERM: a graceful stop, exit status 0.
    let started = Instant::now();
    send_sigterm(child.id());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

fn send_sigterm(pid: u32) {
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
}

#[test]
fn a_bad_config_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "listen = 5\n").unwrap();
    let (ok, _, err) = run(&["--config", config.to_str().unwrap(), "serve"]);
    assert!(!ok);
    assert!(err.contains("bad.toml"), "{err}");
}

#[test]
fn admin_commands_run_at_once_on_one_data_folder() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_string();
    let (ok, _, err) = run(&["--data-dir", &d, "admin", "create-user", "张三"]);
    assert!(ok, "{err}");
    // An administrator's script issuing codes for many users at once (each command opens the
    // data folder and checks that it takes a write).
    let runs: Vec<_> = (0..12)
        .map(|_| {
            let d = d.clone();
            std::thread::spawn(move || run(&["--data-dir", &d, "admin", "list-tokens"]))
        })
        .collect();
    for r in runs {
        let (ok, _, err) = r.join().unwrap();
        assert!(ok, "{err}");
    }
}
