//! `jingtu-server`: `serve` runs the sync server; `admin` manages org units, users, enrollment
//! codes, devices and reads the audit log (`jingtu_server::admin`).

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use jingtu_server::admin::Admin;
use jingtu_server::api::{router, token_hash};
use jingtu_server::config::Config;
use jingtu_server::storage::{AuditAction, AuditEntry, AuditLog, AuditOutcome, AuthStore};
use jingtu_server::{app_state, new_token, open_embedded};

#[derive(Parser)]
#[command(name = "jingtu-server", version, about = "净土 jingtu sync server")]
struct Cli {
    /// A TOML configuration file (data_dir, listen, public_url, trust_proxy, insecure_cookies, [limits], [auth]).
    #[arg(long, global = true, env = "JINGTU_CONFIG")]
    config: Option<PathBuf>,
    /// The data directory (SQLite database and photo folder); default ./jingtu-data.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (default address 127.0.0.1:8470).
    Serve {
        /// Address to listen on, e.g. 0.0.0.0:8470 (port 0 picks a free one).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Org units, users, enrollment codes, devices and the audit log.
    #[command(subcommand)]
    Admin(Admin),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(d) = cli.data_dir {
        config.data_dir = d;
    }
    match cli.command {
        Command::Serve { listen } => {
            if let Some(l) = listen {
                config.listen = l;
            }
            serve(config)
        }
        Command::Admin(cmd) => jingtu_server::admin::run(&config, cmd),
    }
}

fn serve(config: Config) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // Automerge opens an info-level span for every document it loads, and logs an
                // error for every push whose bytes do not load: a device (or an attacker)
                // could flood the log with them. Such pushes are refused with the reason and
                // audited instead; RUST_LOG=automerge=debug shows Automerge's own lines.
                .unwrap_or_else(|_| "info,tower_http=info,automerge=off".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let storage = open_embedded(&config)?;
    let first_token = if storage.db.user_count()? == 0 {
        // First start: an admin user and a device token, written to a file only its owner
        // reads (never to the log, which log collectors keep and forward).
        storage.db.create_user("admin")?;
        let token = new_token();
        let info = storage
            .db
            .add_token("admin", &token_hash(&token), Some("first start"))?;
        let file = config.data_dir.join(FIRST_TOKEN_FILE);
        write_private(&file, &format!("{token}\n")).with_context(|| {
            format!(
                "writing the admin's first token to {} (issue another with \
                 `jingtu-server admin issue-token admin`)",
                file.display()
            )
        })?;
        storage.db.audit(
            &AuditEntry::new(
                AuditEntry::SYSTEM,
                AuditAction::UserCreated,
                AuditOutcome::Ok,
            )
            .target("admin")
            .detail(serde_json::json!({"role": "admin", "first_start": true})),
        )?;
        storage.db.audit(
            &AuditEntry::new(
                AuditEntry::SYSTEM,
                AuditAction::TokenIssued,
                AuditOutcome::Ok,
            )
            .target(format!("device {}", info.id))
            .detail(serde_json::json!({"user": "admin", "label": "first start"})),
        )?;
        Some((token, file))
    } else {
        None
    };
    let state = app_state(&config, &storage)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        let addr = listener.local_addr()?;
        // Before the address is announced: a signal right after it stops the server gracefully.
        let shutdown = shutdown_signal()?;
        // Scripts and tests read this line to find the port.
        println!("jingtu-server listening on http://{addr}");
        if let Some((token, file)) = first_token {
            eprintln!(
                "first start: created user 'admin'; its device token is in {} (readable by \
                 this user only: delete it once a device is enrolled)",
                file.display()
            );
            eprintln!(
                "enroll a device with:  jingtu enroll http://{addr} $(cat {})",
                file.display()
            );
            eprintln!(
                "for the web login: jingtu-server admin user set-password admin --password-stdin"
            );
            // A person at a terminal sees it at once; a terminal is not a log.
            if std::io::stdout().is_terminal() {
                println!("admin device token (shown once): {token}");
            }
        }
        tracing::info!(%addr, data_dir = %config.data_dir.display(), "serving");
        // The peer address is the client's (rate limits, audit) unless `trust_proxy` says to
        // read X-Forwarded-For.
        let max_connections =
            jingtu_server::serve::connections_allowed(config.limits.max_connections);
        if max_connections < config.limits.max_connections {
            tracing::warn!(
                max_connections,
                "the limit of open files allows fewer connections than limits.max_connections"
            );
        }
        let limits = jingtu_server::serve::ConnectionLimits {
            max_connections,
            header_read_timeout: Duration::from_secs(config.limits.header_read_timeout_s),
            drain: Duration::from_secs(config.limits.request_timeout_s),
        };
        jingtu_server::serve::serve(listener, router(state), limits, shutdown).await;
        tracing::info!("stopped");
        Ok(())
    })
}

/// The file in the data dir that holds the admin's device token made at the first start.
const FIRST_TOKEN_FILE: &str = "first-admin-token";

/// Writes `text` to a new file that only this user may read.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// Resolves at Ctrl-C or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("handling SIGTERM")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("handling SIGINT")?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = interrupt.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
