//! Helpers of the seeded simulation (`tests/tests/simulation.rs`) shared with its device
//! process (`src/bin/sim_device.rs`): the line protocol the device speaks, a digest of a
//! record's set of changes, and the TCP proxy through which each device reaches the server,
//! which the driver makes cut connections at a chosen byte or refuse them (a network that comes
//! and goes).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::Value;

/// One answer line of `jingtu-sim-device`: `ok JSON` or `err CODE MESSAGE`.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Ok(Value),
    Err { code: String, message: String },
}

impl Answer {
    /// The line as printed, with its newline (the message is kept on one line).
    pub fn to_line(&self) -> String {
        match self {
            Answer::Ok(v) => format!("ok {v}\n"),
            Answer::Err { code, message } => {
                let message: String = message
                    .chars()
                    .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
                    .collect();
                format!("err {code} {message}\n")
            }
        }
    }

    /// Parses one line (without its newline).
    pub fn parse(line: &str) -> Result<Answer, String> {
        if let Some(rest) = line.strip_prefix("ok ") {
            return serde_json::from_str(rest)
                .map(Answer::Ok)
                .map_err(|e| format!("bad ok line {:?}: {e}", clip(line)));
        }
        if let Some(rest) = line.strip_prefix("err ") {
            let (code, message) = rest.split_once(' ').unwrap_or((rest, ""));
            return Ok(Answer::Err {
                code: code.to_string(),
                message: message.to_string(),
            });
        }
        Err(format!("not an answer line: {:?}", clip(line)))
    }
}

fn clip(s: &str) -> String {
    s.chars().take(300).collect()
}

/// FNV-1a (64 bits) of the sorted change hashes joined by commas, in hex: two copies of a
/// record with the same digest hold the same set of changes (hence the same heads).
pub fn changes_digest<'a>(hashes: impl IntoIterator<Item = &'a str>) -> String {
    let mut sorted: Vec<&str> = hashes.into_iter().collect();
    sorted.sort_unstable();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, s) in sorted.iter().enumerate() {
        if i > 0 {
            h ^= u64::from(b',');
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        for b in s.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// A cut the proxy makes: the `skip`-th connection accepted from now on (0: the next one) is
/// closed, both ways, once `at_byte` bytes went through it in one direction (`upstream`: from
/// the device to the server, so the server never gets the whole request; else from the server
/// to the device, so the server may have done the work and the device never hears of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CutPlan {
    pub skip: u32,
    pub upstream: bool,
    pub at_byte: u64,
}

/// What a proxy did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    pub connections: u64,
    /// Connections closed at once (offline, or refused by plan).
    pub refused: u64,
    /// Cuts that happened (the planned byte was reached).
    pub cuts: u64,
}

#[derive(Default)]
struct ProxyState {
    offline: bool,
    refuse_next: u32,
    cut: Option<CutPlan>,
    stats: ProxyStats,
}

/// A TCP proxy on `127.0.0.1`: one thread accepts, two threads per connection forward bytes
/// to whatever address `upstream` holds at the time (the server's address after a restart).
pub struct Proxy {
    pub addr: SocketAddr,
    state: Arc<Mutex<ProxyState>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<thread::JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Proxy {
    pub fn start(upstream: Arc<Mutex<SocketAddr>>) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(ProxyState::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, halt) = (state.clone(), stop.clone());
        let acceptor = thread::Builder::new()
            .name(format!("proxy-{}", addr.port()))
            .spawn(move || {
                for conn in listener.incoming() {
                    if halt.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = conn else { continue };
                    let cut = {
                        let mut s = lock(&st);
                        s.stats.connections += 1;
                        if s.offline || s.refuse_next > 0 {
                            s.refuse_next = s.refuse_next.saturating_sub(1);
                            s.stats.refused += 1;
                            drop(s);
                            let _ = client.shutdown(Shutdown::Both);
                            continue;
                        }
                        match s.cut {
                            Some(plan) if plan.skip == 0 => s.cut.take(),
                            Some(ref mut plan) => {
                                plan.skip -= 1;
                                None
                            }
                            None => None,
                        }
                    };
                    let to = *lock(&upstream);
                    let st = st.clone();
                    let _ = thread::Builder::new()
                        .name("proxy-conn".into())
                        .spawn(move || forward(client, to, cut, st));
                }
            })?;
        Ok(Proxy {
            addr,
            state,
            stop,
            acceptor: Some(acceptor),
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// No connection gets through while `offline` (each is closed as soon as accepted).
    pub fn set_offline(&self, offline: bool) {
        lock(&self.state).offline = offline;
    }

    pub fn is_offline(&self) -> bool {
        lock(&self.state).offline
    }

    /// The next `n` connections are closed as soon as accepted.
    pub fn refuse_next(&self, n: u32) {
        lock(&self.state).refuse_next = n;
    }

    /// Arms a cut (replacing one not made yet).
    pub fn plan_cut(&self, plan: CutPlan) {
        lock(&self.state).cut = Some(plan);
    }

    /// Drops an armed cut that was not made.
    pub fn disarm(&self) {
        lock(&self.state).cut = None;
    }

    /// Back to a network that works: online, nothing refused, no cut armed.
    pub fn heal(&self) {
        let mut s = lock(&self.state);
        s.offline = false;
        s.refuse_next = 0;
        s.cut = None;
    }

    pub fn stats(&self) -> ProxyStats {
        lock(&self.state).stats
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the acceptor, which then sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

fn forward(client: TcpStream, to: SocketAddr, cut: Option<CutPlan>, st: Arc<Mutex<ProxyState>>) {
    let Ok(server) = TcpStream::connect_timeout(&to, Duration::from_secs(2)) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let (limit_up, limit_down) = match cut {
        Some(p) if p.upstream => (Some(p.at_byte), None),
        Some(p) => (None, Some(p.at_byte)),
        None => (None, None),
    };
    let st2 = st.clone();
    let up = thread::Builder::new()
        .name("proxy-up".into())
        .spawn(move || pump(c2, s2, limit_up, &st2));
    pump(server, client, limit_down, &st);
    if let Ok(h) = up {
        let _ = h.join();
    }
}

/// Copies `from` to `to` until EOF (then half-closes `to`), or until `limit` bytes went
/// through: then both connections are shut down both ways.
fn pump(mut from: TcpStream, mut to: TcpStream, limit: Option<u64>, st: &Mutex<ProxyState>) {
    let mut buf = [0u8; 16 * 1024];
    let mut sent = 0u64;
    loop {
        if limit.is_some_and(|l| sent >= l) {
            lock(st).stats.cuts += 1;
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
            return;
        }
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => n,
        };
        let n = match limit {
            Some(l) => n.min((l - sent) as usize),
            None => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            let _ = from.shutdown(Shutdown::Both);
            return;
        }
        sent += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_read_back_as_printed() {
        for a in [
            Answer::Ok(json!({"id": "0190aa", "n": 3})),
            Answer::Err {
                code: "not_found".into(),
                message: "record 0190 not found".into(),
            },
        ] {
            let line = a.to_line();
            assert_eq!(Answer::parse(line.trim_end_matches('\n')), Ok(a));
        }
        let multi = Answer::Err {
            code: "sync".into(),
            message: "a\nb".into(),
        };
        assert_eq!(multi.to_line(), "err sync a b\n");
        assert!(Answer::parse("ready 3").is_err());
    }

    #[test]
    fn the_digest_ignores_order() {
        assert_eq!(changes_digest(["b", "a"]), changes_digest(["a", "b"]));
        assert_ne!(changes_digest(["ab"]), changes_digest(["a", "b"]));
    }

    #[test]
    fn the_proxy_forwards_and_cuts() {
        let echo = TcpListener::bind("127.0.0.1:0").unwrap();
        let upstream = Arc::new(Mutex::new(echo.local_addr().unwrap()));
        thread::spawn(move || {
            for c in echo.incoming() {
                let Ok(mut c) = c else { break };
                thread::spawn(move || {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = c.read(&mut buf) {
                        if n == 0 || c.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let proxy = Proxy::start(upstream).unwrap();
        let mut c = TcpStream::connect(proxy.addr).unwrap();
        c.write_all(b"hello").unwrap();
        let mut got = [0u8; 5];
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello");

        proxy.plan_cut(CutPlan {
            skip: 0,
            upstream: false,
            at_byte: 3,
        });
        let mut c = TcpStream::connect(proxy.addr).unwrap();
        c.write_all(b"hello").unwrap();
        let mut all = Vec::new();
        let _ = c.read_to_end(&mut all);
        assert_eq!(all, b"hel");

        proxy.set_offline(true);
        let mut c = TcpStream::connect(proxy.addr).unwrap();
        let _ = c.write_all(b"x");
        let mut all = Vec::new();
        let _ = c.read_to_end(&mut all);
        assert!(all.is_empty());
        let s = proxy.stats();
        assert_eq!((s.connections, s.refused, s.cuts), (3, 1, 1));
    }
}
