//! `jingtu-server`: `serve` runs the sync server; `admin` manages users and device tokens.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use jingtu_server::api::{router, token_hash};
use jingtu_server::config::Config;
use jingtu_server::storage::AuthStore;
use jingtu_server::{app_state, new_token, open_embedded};

#[derive(Parser)]
#[command(name = "jingtu-server", version, about = "净土 jingtu sync server")]
struct Cli {
    /// A TOML configuration file (data_dir, listen, [limits]).
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
    /// Users and device tokens.
    #[command(subcommand)]
    Admin(Admin),
}

#[derive(Subcommand)]
enum Admin {
    /// Create a user.
    CreateUser { name: String },
    /// Issue a device token for a user (shown once; the server keeps only its hash).
    IssueToken {
        user: String,
        /// What the device is, e.g. "张三's phone".
        #[arg(long)]
        label: Option<String>,
    },
    /// List device tokens.
    ListTokens {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a device token by its id (from list-tokens).
    RevokeToken { id: i64 },
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
        Command::Admin(cmd) => admin(&config, cmd),
    }
}

fn serve(config: Config) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let storage = open_embedded(&config)?;
    let first_token = if storage.db.user_count()? == 0 {
        // First start: an admin user and a device token, printed once.
        storage.db.create_user("admin")?;
        let token = new_token();
        storage
            .db
            .add_token("admin", &token_hash(&token), Some("first start"))?;
        Some(token)
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
        // Scripts and tests read this line to find the port.
        println!("jingtu-server listening on http://{addr}");
        if let Some(token) = first_token {
            eprintln!("first start: created user 'admin' with this device token (shown once):");
            eprintln!("  {token}");
            eprintln!("enroll a device with:  jingtu enroll http://{addr} {token}");
        }
        tracing::info!(%addr, data_dir = %config.data_dir.display(), "serving");
        axum::serve(listener, router(state))
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("serving")?;
        tracing::info!("stopped");
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

fn admin(config: &Config, cmd: Admin) -> Result<()> {
    let storage = open_embedded(config)?;
    let db = storage.db;
    match cmd {
        Admin::CreateUser { name } => {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 100 {
                bail!("a user name has 1 to 100 characters");
            }
            db.create_user(name)?;
            println!("user {name} created");
        }
        Admin::IssueToken { user, label } => {
            let token = new_token();
            let info = db.add_token(&user, &token_hash(&token), label.as_deref())?;
            println!("{token}");
            eprintln!(
                "token {} for {} (shown once; keep it on the device)",
                info.id, info.user
            );
        }
        Admin::ListTokens { json } => {
            let tokens = db.list_tokens()?;
            for t in tokens {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"id": t.id, "user": t.user, "label": t.label,
                            "created_at_ms": t.created_at_ms, "last_seen_ms": t.last_seen_ms,
                            "revoked": t.revoked})
                    );
                } else {
                    println!(
                        "{:4} {:16} {:20} {}",
                        t.id,
                        t.user,
                        t.label.as_deref().unwrap_or("-"),
                        if t.revoked { "revoked" } else { "live" }
                    );
                }
            }
        }
        Admin::RevokeToken { id } => {
            db.revoke_token(id)?;
            println!("token {id} revoked");
        }
    }
    Ok(())
}
