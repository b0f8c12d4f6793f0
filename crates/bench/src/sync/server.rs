//! The server process of the sync suite, its admin commands, and the inspectors it enrolls.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use super::fixtures::{COUNTY, TOWNSHIPS, township_code};

/// A `jingtu-server serve` child on a free loopback port with its own data directory; killed
/// when dropped (also when the bench fails half-way).
pub(crate) struct Server {
    child: Child,
    exe: PathBuf,
    pub(crate) url: String,
    pub(crate) admin_token: String,
    /// The configuration file it was started with (also given to `admin` commands).
    config: PathBuf,
    /// The last lines of its stderr, for error messages.
    log: Arc<Mutex<Vec<String>>>,
    // Dropped after the child is killed (fields drop after `Drop::drop`).
    data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server goes when the bench goes, however it ends (Ctrl-C, a kill, an abort), not only
/// when `Server` is dropped. Servers are started from the main thread, whose end is what
/// Linux signals.
#[cfg(target_os = "linux")]
fn stop_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec the closure only calls prctl, which is async-signal-safe
    // and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn stop_with_parent(_: &mut Command) {}

pub(super) fn server_exe() -> Result<PathBuf> {
    let me = std::env::current_exe().context("finding jingtu-bench's own path")?;
    let dir = me.parent().context("jingtu-bench has no folder")?;
    let exe = dir.join(format!("jingtu-server{}", std::env::consts::EXE_SUFFIX));
    if !exe.is_file() {
        bail!(
            "the sync suite needs the server binary next to jingtu-bench, and {} does not \
             exist: build it with `cargo build --release -p jingtu-server` (same profile)",
            exe.display()
        );
    }
    Ok(exe)
}

enum Line {
    Url(String),
    Token(String),
}

impl Server {
    /// A size from the server's `/proc/PID/status` in MB (`VmHWM`: its peak resident memory
    /// so far; `VmRSS`: now).
    pub(crate) fn memory_mb(&self, field: &str) -> Result<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .context("reading the server's /proc status")?;
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("no {field} in the server's status"))?;
        Ok(kb / 1024.0)
    }

    pub(crate) fn start() -> Result<Server> {
        let exe = server_exe()?;
        let data = tempfile::tempdir()?;
        // The phones of the concurrent part all enroll from this machine's address, where in
        // the field each comes from its own: the per-address limit of enrollments (10 a
        // minute) is raised accordingly. Everything else is the default.
        let config = data.path().join("jingtu-server.toml");
        std::fs::write(
            &config,
            "[auth]\nenroll_per_minute = 100000\nenroll_burst = 10000\n",
        )?;
        let mut command = Command::new(&exe);
        command
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(data.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        stop_with_parent(&mut command);
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", exe.display()))?;
        let stdout = child.stdout.take().context("server stdout")?;
        let stderr = child.stderr.take().context("server stderr")?;
        let mut server = Server {
            child,
            exe,
            url: String::new(),
            admin_token: String::new(),
            config,
            log: Arc::new(Mutex::new(Vec::new())),
            data,
        };
        let (tx_out, rx) = mpsc::channel();
        let token_file = server.data.path().join("first-admin-token");
        // Both pipes are read to their end so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("jingtu-server listening on ") {
                    let _ = tx_out.send(Line::Url(url.trim().to_string()));
                    // The first start's admin token is written before the address is printed.
                    if let Ok(t) = std::fs::read_to_string(token_file.as_path()) {
                        let _ = tx_out.send(Line::Token(t.trim().to_string()));
                    }
                }
            }
        });
        let log = server.log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                if log.len() >= 40 {
                    log.remove(0);
                }
                log.push(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        while server.url.is_empty() || server.admin_token.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(Line::Url(u)) => server.url = u,
                Ok(Line::Token(t)) => server.admin_token = t,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(status) = server.child.try_wait()? {
                        bail!("jingtu-server exited ({status}):\n{}", server.log_tail());
                    }
                    if left.is_zero() {
                        bail!(
                            "jingtu-server did not print its address and first token within \
                             30 s:\n{}",
                            server.log_tail()
                        );
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = server.child.wait();
                    bail!("jingtu-server stopped:\n{}", server.log_tail());
                }
            }
        }
        Ok(server)
    }

    fn log_tail(&self) -> String {
        std::thread::sleep(Duration::from_millis(50));
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .join("\n")
    }

    /// Seconds the server spent answering requests to `route` so far, and how many it
    /// answered (its Prometheus `jingtu_http_request_seconds` summary, from `GET /metrics`).
    pub(crate) fn handled(&self, route: &str) -> Result<(f64, f64)> {
        use std::io::{Read, Write};
        let addr = self.url.trim_start_matches("http://");
        let mut conn = std::net::TcpStream::connect(addr)?;
        write!(
            conn,
            "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )?;
        let mut text = String::new();
        conn.read_to_string(&mut text)?;
        let value = |name: &str| {
            let key = format!("{name}{{route=\"{route}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(&key))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        Ok((
            value("jingtu_http_request_seconds_sum"),
            value("jingtu_http_request_seconds_count"),
        ))
    }

    /// Runs `jingtu-server admin ARGS` on this server's data (as an administrator does on the
    /// server machine, while it serves); its standard output.
    pub(crate) fn admin(&self, args: &[&str]) -> Result<String> {
        let out = Command::new(&self.exe)
            .arg("--config")
            .arg(&self.config)
            .arg("--data-dir")
            .arg(self.data.path())
            .arg("admin")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running jingtu-server admin {}", args.join(" ")))?;
        if !out.status.success() {
            bail!(
                "jingtu-server admin {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `n` inspectors (巡查员), spread over [`TOWNSHIPS`], each with a one-time enrollment code
    /// for their phone: the county's org units imported from CSV, then per user `admin user
    /// create NAME --role inspector --org TOWNSHIP` and `admin enroll-code NAME` (each command
    /// takes one user; [`SETUP_WORKERS`] users at a time).
    pub(super) fn inspectors(&self, n: usize) -> Result<Vec<Inspector>> {
        self.import_county()?;
        in_parallel(n, |d| {
            let user = format!("巡查员{:03}", d + 1);
            let org_unit = township_code(d % TOWNSHIPS.len());
            self.admin(&[
                "user",
                "create",
                &user,
                "--role",
                "inspector",
                "--org",
                &org_unit,
            ])?;
            // The code on standard output; its expiry and QR payload go to standard error.
            let code = self.admin(&["enroll-code", &user])?.trim().to_string();
            ensure!(!code.is_empty(), "admin enroll-code printed no code");
            Ok(Inspector {
                user,
                org_unit,
                code,
            })
        })
    }

    /// Imports the county, its city and province and its [`TOWNSHIPS`] as org units.
    pub(crate) fn import_county(&self) -> Result<()> {
        let mut csv = String::from("code,name,level,parent\n");
        csv.push_str("410000000000,河南省,,\n411300000000,南阳市,,\n");
        csv.push_str(&format!("{COUNTY},南召县,,\n"));
        for (t, name) in TOWNSHIPS.iter().enumerate() {
            csv.push_str(&format!("{},{name},,\n", township_code(t)));
        }
        let file = self.data.path().join("org-units.csv");
        std::fs::write(&file, csv)?;
        self.admin(&["org", "import", &file.to_string_lossy()])?;
        Ok(())
    }
}

/// Setup steps (admin commands, enrollments) run this many at a time: each mostly waits for
/// a process to start or a commit to reach the disk.
const SETUP_WORKERS: usize = 4;

/// `work(0..n)` on [`SETUP_WORKERS`] threads; the results in order, or the first error.
pub(super) fn in_parallel<T: Send>(
    n: usize,
    work: impl Fn(usize) -> Result<T> + Sync + Send,
) -> Result<Vec<T>> {
    use rayon::prelude::*;
    rayon::ThreadPoolBuilder::new()
        .num_threads(SETUP_WORKERS)
        .build()?
        .install(|| (0..n).into_par_iter().map(&work).collect())
}

/// A field user of the concurrent part, and the code their phone enrolls with.
pub(super) struct Inspector {
    pub(super) user: String,
    pub(super) org_unit: String,
    pub(super) code: String,
}
