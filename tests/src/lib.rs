//! Helpers shared by the end-to-end tests and the crash child: the line protocol the child
//! speaks on stdout, reading a value at a field path out of a record's data, and a sync
//! server run as a real process ([`ServerProcess`]).

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod sim;

/// One line the crash child prints (each one flushed on its own, before or after a call).
#[derive(Debug, Clone, PartialEq)]
pub enum ChildLine {
    /// The store is open; it held this many records.
    Ready { records: u64 },
    /// About to call `create_record(kind)`.
    Creating { kind: String },
    /// `create_record` returned Ok.
    Created { id: String, kind: String },
    /// About to write `value` at `path` of record `id` (for an append, `path` ends with the
    /// index the item is expected to get).
    Try {
        id: String,
        path: String,
        value: Value,
    },
    /// The write returned Ok (for an append, `path` ends with the index it returned).
    Done {
        id: String,
        path: String,
        value: Value,
    },
}

impl ChildLine {
    /// The line as printed, with its newline.
    pub fn to_line(&self) -> String {
        match self {
            ChildLine::Ready { records } => format!("ready {records}\n"),
            ChildLine::Creating { kind } => format!("creating {kind}\n"),
            ChildLine::Created { id, kind } => format!("created {id} {kind}\n"),
            ChildLine::Try { id, path, value } => format!("try {id} {path} {value}\n"),
            ChildLine::Done { id, path, value } => format!("done {id} {path} {value}\n"),
        }
    }

    /// Parses one line (without its newline).
    pub fn parse(line: &str) -> Result<ChildLine, String> {
        let bad = || format!("not a crash-child line: {line:?}");
        let mut parts = line.splitn(4, ' ');
        let word = parts.next().ok_or_else(bad)?;
        let mut next = || parts.next().map(str::to_string).ok_or_else(bad);
        Ok(match word {
            "ready" => ChildLine::Ready {
                records: next()?.parse().map_err(|_| bad())?,
            },
            "creating" => ChildLine::Creating { kind: next()? },
            "created" => ChildLine::Created {
                id: next()?,
                kind: next()?,
            },
            "try" | "done" => {
                let id = next()?;
                let path = next()?;
                let value =
                    serde_json::from_str(&next()?).map_err(|e| format!("{}: {e}", bad()))?;
                if word == "try" {
                    ChildLine::Try { id, path, value }
                } else {
                    ChildLine::Done { id, path, value }
                }
            }
            _ => return Err(bad()),
        })
    }
}

/// One line the crash child prints in its photo mode (`jingtu-crash-child DIR SEQ photos`),
/// each flushed on its own before or after a call.
#[derive(Debug, Clone, PartialEq)]
pub enum PhotoLine {
    /// The store is open; it held this many records.
    Ready { records: u64 },
    /// About to create a record.
    Creating,
    /// `create_record` returned Ok.
    Created { id: String },
    /// About to add the photo [`test_jpeg`]`(seed, ..)` to record `id`, at `field` (`None`:
    /// the whole record).
    Adding {
        id: String,
        seed: u32,
        field: Option<String>,
    },
    /// `add_photo` returned Ok with this entry.
    Added {
        id: String,
        photo_id: String,
        sha256: String,
    },
    /// About to remove photo `photo_id` from record `id`.
    Removing { id: String, photo_id: String },
    /// `remove_photo` returned Ok.
    Removed { id: String, photo_id: String },
}

impl PhotoLine {
    /// The line as printed, with its newline.
    pub fn to_line(&self) -> String {
        match self {
            PhotoLine::Ready { records } => format!("ready {records}\n"),
            PhotoLine::Creating => "creating\n".to_string(),
            PhotoLine::Created { id } => format!("created {id}\n"),
            PhotoLine::Adding { id, seed, field } => {
                format!("adding {id} {seed} {}\n", field.as_deref().unwrap_or("-"))
            }
            PhotoLine::Added {
                id,
                photo_id,
                sha256,
            } => format!("added {id} {photo_id} {sha256}\n"),
            PhotoLine::Removing { id, photo_id } => format!("removing {id} {photo_id}\n"),
            PhotoLine::Removed { id, photo_id } => format!("removed {id} {photo_id}\n"),
        }
    }

    /// Parses one line (without its newline).
    pub fn parse(line: &str) -> Result<PhotoLine, String> {
        let bad = || format!("not a crash-child photo line: {line:?}");
        let words: Vec<&str> = line.split(' ').collect();
        let s = |w: &str| w.to_string();
        Ok(match words.as_slice() {
            ["ready", n] => PhotoLine::Ready {
                records: n.parse().map_err(|_| bad())?,
            },
            ["creating"] => PhotoLine::Creating,
            ["created", id] => PhotoLine::Created { id: s(id) },
            ["adding", id, seed, field] => PhotoLine::Adding {
                id: s(id),
                seed: seed.parse().map_err(|_| bad())?,
                field: (*field != "-").then(|| s(field)),
            },
            ["added", id, photo_id, sha256] => PhotoLine::Added {
                id: s(id),
                photo_id: s(photo_id),
                sha256: s(sha256),
            },
            ["removing", id, photo_id] => PhotoLine::Removing {
                id: s(id),
                photo_id: s(photo_id),
            },
            ["removed", id, photo_id] => PhotoLine::Removed {
                id: s(id),
                photo_id: s(photo_id),
            },
            _ => return Err(bad()),
        })
    }
}

/// The value at a dotted field path (`indicators.households_total`, `inspectors.3`).
pub fn lookup<'a>(data: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(data, |cur, seg| match cur {
        Value::Object(o) => o.get(seg),
        Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// JSON equality where numbers compare by value (`412` equals `412.0`): the store may hand
/// back an integral float as an integer or the other way round.
pub fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => a == b,
    }
}

/// For an append path (`inspectors.3`): the list path and the index.
pub fn split_index(path: &str) -> Option<(&str, usize)> {
    let (list, last) = path.rsplit_once('.')?;
    last.parse().ok().map(|i| (list, i))
}

/// A small photograph-like JPEG (gradients and a pattern), different for each `seed`, with
/// no EXIF: what a test hands to `add_photo`.
pub fn test_jpeg(seed: u32, width: u32, height: u32) -> Vec<u8> {
    let img = jingtu_media::RgbImage::from_fn(width, height, |x, y| {
        let s = seed.wrapping_mul(2_654_435_761);
        jingtu_media::Rgb([
            ((x * 255 / width.max(1)) ^ (s & 0xff)) as u8,
            ((y * 255 / height.max(1)) ^ ((s >> 8) & 0xff)) as u8,
            (((x / 8 + y / 8) % 2) * 120 + (s >> 16) % 100) as u8,
        ])
    });
    jingtu_media::encode_rgb_jpeg(&img, 90).expect("encoding a test JPEG")
}

/// How long a server may take to print its address (a debug build on a busy machine).
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(60);

/// A `jingtu-server serve` process on `127.0.0.1`, killed (SIGKILL) when dropped.
///
/// The tests get the binary from Cargo (`env!("CARGO_BIN_EXE_jingtu-e2e-server")`: the
/// server's `main.rs` built as a binary of this package). stdout and stderr are read by
/// threads all the time (the server logs to stderr; a full pipe would stall it); what it
/// wrote to stderr is kept for failure messages ([`ServerProcess::log`]).
pub struct ServerProcess {
    bin: PathBuf,
    data_dir: PathBuf,
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub addr: SocketAddr,
    /// The device token of the user `admin`, written to `DATA_DIR/first-admin-token` at the
    /// first start of a data dir.
    pub admin_token: Option<String>,
    log: Arc<Mutex<String>>,
    starts: u32,
    /// A configuration file given with `--config`.
    config: Option<PathBuf>,
    /// `RUST_LOG` for the process (`info` unless started with the server's own default).
    rust_log: Option<&'static str>,
}

/// Org units of one county (南召县) with two townships (云阳镇 102, 皇路店镇 103) and a village
/// in each (杨树沟村, 东岗村), as `admin org import` reads them.
pub const COUNTY_ORG_CSV: &str = "code,name,level,parent
410000000000,河南省,,
411300000000,南阳市,,
411321000000,南召县,,
411321102000,云阳镇,,
411321103000,皇路店镇,,
411321102206,杨树沟村,,
411321103201,东岗村,,
";

impl ServerProcess {
    /// Starts `bin serve --data-dir DATA_DIR --listen 127.0.0.1:0` and waits for its address
    /// (and, on the first start of the data dir, the admin token). Panics with the server's
    /// output when it does not come up.
    pub fn start(bin: impl AsRef<Path>, data_dir: &Path) -> ServerProcess {
        ServerProcess::start_with(bin, data_dir, None)
    }

    /// Like [`ServerProcess::start`] with a configuration file of this TOML text (written
    /// beside the data dir).
    pub fn start_with_config(bin: impl AsRef<Path>, data_dir: &Path, toml: &str) -> ServerProcess {
        let file = data_dir.with_extension("toml");
        std::fs::write(&file, toml).expect("writing the server's configuration");
        ServerProcess::start_with(bin, data_dir, Some(file))
    }

    /// Like [`ServerProcess::start_with_config`], logging as the server does when nobody sets
    /// `RUST_LOG` (what an operator's log collector receives).
    pub fn start_with_default_log(
        bin: impl AsRef<Path>,
        data_dir: &Path,
        toml: &str,
    ) -> ServerProcess {
        let file = data_dir.with_extension("toml");
        std::fs::write(&file, toml).expect("writing the server's configuration");
        ServerProcess::start_logging(bin, data_dir, Some(file), None)
    }

    fn start_with(
        bin: impl AsRef<Path>,
        data_dir: &Path,
        config: Option<PathBuf>,
    ) -> ServerProcess {
        ServerProcess::start_logging(bin, data_dir, config, Some("info"))
    }

    fn start_logging(
        bin: impl AsRef<Path>,
        data_dir: &Path,
        config: Option<PathBuf>,
        rust_log: Option<&'static str>,
    ) -> ServerProcess {
        let mut server = ServerProcess {
            config,
            rust_log,
            bin: bin.as_ref().to_path_buf(),
            data_dir: data_dir.to_path_buf(),
            child: None,
            url: String::new(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_token: None,
            log: Arc::new(Mutex::new(String::new())),
            starts: 0,
        };
        if let Err(e) = server.spawn("127.0.0.1:0") {
            panic!(
                "the server did not start: {e}\n--- its log:\n{}",
                server.log()
            );
        }
        server
    }

    /// Starts the process and reads its address; on the first start of the data dir also
    /// the admin token.
    fn spawn(&mut self, listen: &str) -> Result<(), String> {
        assert!(self.child.is_none(), "the server is running already");
        let first_start = !self.data_dir.join("jingtu-server.db").exists();
        self.starts += 1;
        let run = self.starts;
        let mut command = Command::new(&self.bin);
        match self.rust_log {
            Some(filter) => command.env("RUST_LOG", filter),
            None => command.env_remove("RUST_LOG"),
        };
        let mut child = command
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(
                self.config
                    .iter()
                    .flat_map(|c| [std::ffi::OsStr::new("--config"), c.as_os_str()]),
            )
            .args(["serve", "--listen", listen])
            .env("NO_COLOR", "1")
            .env_remove("JINGTU_CONFIG")
            .env_remove("JINGTU_DATA_DIR")
            .env_remove("JINGTU_LISTEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("running {}: {e}", self.bin.display()))?;
        let (out_tx, out_rx) = mpsc::channel::<String>();
        let stdout = child.stdout.take().expect("piped stdout");
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = out_tx.send(line);
            }
        });
        let mut stderr = child.stderr.take().expect("piped stderr");
        let log = self.log.clone();
        thread::spawn(move || {
            // Bytes, not lines: the log is kept whatever it holds.
            let mut pending = Vec::new();
            let mut buf = [0u8; 8192];
            loop {
                let n = match stderr.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                pending.extend_from_slice(&buf[..n]);
                while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                    let line = String::from_utf8_lossy(&pending[..end]).into_owned();
                    pending.drain(..=end);
                    let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                    log.push_str(&format!("[run {run}] {line}\n"));
                }
            }
        });
        let deadline = Instant::now() + SERVER_START_TIMEOUT;
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match out_rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("jingtu-server listening on http://") {
                        break rest
                            .trim()
                            .parse::<SocketAddr>()
                            .map_err(|e| format!("bad address in {line:?}: {e}"))?;
                    }
                }
                Err(e) => {
                    let _ = child.kill();
                    let status = child.wait();
                    return Err(format!(
                        "no address on stdout ({e:?}); the process ended with {status:?}"
                    ));
                }
            }
        };
        if first_start {
            // Written before the address is printed.
            let file = self.data_dir.join("first-admin-token");
            let token = std::fs::read_to_string(&file).map_err(|e| {
                format!(
                    "no admin token in {} at the first start: {e}",
                    file.display()
                )
            })?;
            self.admin_token = Some(token.trim().to_string());
        }
        self.addr = addr;
        self.url = format!("http://{addr}");
        self.child = Some(child);
        Ok(())
    }

    /// Kills the server with SIGKILL (no shutdown of any kind) and waits for it to end.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Starts the server again on the same data dir (killing it first if it runs), on the
    /// same port when it can be had again within a few seconds, else on a new one. Returns
    /// true when the URL stayed the same.
    pub fn restart(&mut self) -> bool {
        self.kill();
        let old = self.url.clone();
        let same_port = format!("127.0.0.1:{}", self.addr.port());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.spawn(&same_port) {
                Ok(()) => return true,
                Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(100)),
                Err(_) => break,
            }
        }
        if let Err(e) = self.spawn("127.0.0.1:0") {
            panic!(
                "the server did not start again: {e}\n--- its log:\n{}",
                self.log()
            );
        }
        self.url == old
    }

    /// Runs `jingtu-server --data-dir DIR admin ARGS...` and returns its stdout, trimmed;
    /// panics with its stderr when it fails.
    pub fn admin(&self, args: &[&str]) -> String {
        self.try_admin(args)
            .unwrap_or_else(|stderr| panic!("admin {args:?} failed: {stderr}"))
    }

    /// Runs `jingtu-server --data-dir DIR admin ARGS...`: its stdout, trimmed, or when it
    /// fails its exit status and stderr.
    /// Sets `user`'s password (`admin user set-password --password-stdin`).
    pub fn set_password(&self, user: &str, password: &str) {
        use std::io::Write;
        let mut child = Command::new(&self.bin)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["admin", "user", "set-password", user, "--password-stdin"])
            .env_remove("JINGTU_CONFIG")
            .env_remove("JINGTU_DATA_DIR")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("running admin user set-password");
        if let Some(mut stdin) = child.stdin.take() {
            let _ = writeln!(stdin, "{password}");
        }
        assert!(child.wait().expect("admin user set-password").success());
    }

    pub fn try_admin(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(&self.bin)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("admin")
            .args(args)
            .env_remove("JINGTU_CONFIG")
            .env_remove("JINGTU_DATA_DIR")
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", self.bin.display()));
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(format!(
                "({}) {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// A new user and a device token for it (`admin create-user`, `admin issue-token`).
    pub fn new_user_token(&self, user: &str) -> String {
        self.admin(&["create-user", user]);
        let token = self.admin(&["issue-token", user, "--label", &format!("{user}'s phone")]);
        assert!(token.starts_with("jt_"), "issue-token printed {token:?}");
        token
    }

    /// Imports [`COUNTY_ORG_CSV`] and creates these users: `(name, role, org unit code)`.
    pub fn county(&self, users: &[(&str, &str, &str)]) {
        let csv = self.data_dir.with_extension("org.csv");
        std::fs::write(&csv, COUNTY_ORG_CSV).expect("writing the org units");
        self.admin(&["org", "import", &csv.to_string_lossy()]);
        for (user, role, org) in users {
            self.admin(&["user", "create", user, "--role", role, "--org", org]);
        }
    }

    /// A one-time enrollment code for `user` (`admin enroll-code`).
    pub fn enroll_code(&self, user: &str) -> String {
        let out = self.admin(&["enroll-code", user]);
        out.lines().next().unwrap_or_default().trim().to_string()
    }

    /// A device store in `dir`, enrolled for `user` by code.
    pub fn enrolled_device(&self, dir: &Path, user: &str) -> jingtu_core::DeviceCore {
        let core = jingtu_core::DeviceCore::open(dir).expect("opening a device store");
        let label = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        let who = core
            .enroll(
                &self.url,
                &self.enroll_code(user),
                label.as_deref(),
                Some("e2e"),
            )
            .expect("enrolling a device");
        assert_eq!(who.user, user);
        core
    }

    /// The process id of the running server.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A size from the running server's `/proc/PID/status` in kB (`VmHWM`: its peak resident
    /// memory so far; `VmRSS`: now).
    pub fn memory_kb(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// What the server wrote to stderr so far, over all its runs.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn child_lines_read_back_as_printed() {
        let lines = [
            ChildLine::Ready { records: 3 },
            ChildLine::Creating {
                kind: "village_inspection".into(),
            },
            ChildLine::Created {
                id: "0190aa".into(),
                kind: "village_inspection".into(),
            },
            ChildLine::Try {
                id: "0190aa".into(),
                path: "notes".into(),
                value: json!("巡查记录 第 7 条"),
            },
            ChildLine::Done {
                id: "0190aa".into(),
                path: "checklist.clean_garbage".into(),
                value: json!({"result": "fail", "issue": "问题 7"}),
            },
        ];
        for l in lines {
            let text = l.to_line();
            assert_eq!(ChildLine::parse(text.trim_end_matches('\n')), Ok(l));
        }
        assert!(ChildLine::parse("done 0190aa notes").is_err());
        assert!(ChildLine::parse("done 0190aa notes {bad").is_err());
    }

    #[test]
    fn photo_lines_read_back_as_printed() {
        let lines = [
            PhotoLine::Ready { records: 2 },
            PhotoLine::Creating,
            PhotoLine::Created {
                id: "0190aa".into(),
            },
            PhotoLine::Adding {
                id: "0190aa".into(),
                seed: 7,
                field: None,
            },
            PhotoLine::Adding {
                id: "0190aa".into(),
                seed: 8,
                field: Some("checklist.clean_garbage".into()),
            },
            PhotoLine::Added {
                id: "0190aa".into(),
                photo_id: "0190bb".into(),
                sha256: "ab12".into(),
            },
            PhotoLine::Removing {
                id: "0190aa".into(),
                photo_id: "0190bb".into(),
            },
            PhotoLine::Removed {
                id: "0190aa".into(),
                photo_id: "0190bb".into(),
            },
        ];
        for l in lines {
            let text = l.to_line();
            assert_eq!(PhotoLine::parse(text.trim_end_matches('\n')), Ok(l));
        }
        assert!(PhotoLine::parse("added 0190aa 0190bb").is_err());
        assert!(PhotoLine::parse("adding 0190aa seven -").is_err());
    }

    #[test]
    fn lookup_walks_maps_and_lists() {
        let data = json!({"indicators": {"households_total": 412}, "inspectors": ["王", "李"]});
        assert_eq!(
            lookup(&data, "indicators.households_total"),
            Some(&json!(412))
        );
        assert_eq!(lookup(&data, "inspectors.1"), Some(&json!("李")));
        assert_eq!(lookup(&data, "inspectors.2"), None);
        assert_eq!(lookup(&data, "notes"), None);
        assert!(same_value(&json!(412), &json!(412.0)));
        assert!(!same_value(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert_eq!(split_index("inspectors.3"), Some(("inspectors", 3)));
        assert_eq!(split_index("notes"), None);
    }
}
