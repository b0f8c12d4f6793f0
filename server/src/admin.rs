//! `jingtu-server admin ...`: org units, users, enrollment codes, devices and the audit log,
//! straight on the server's storage (run it on the server machine; it works while the server
//! runs). Everything it changes is written to the audit log with the actor `system`.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use jingtu_model::Role;
use jingtu_protocol::{EnrollPayload, format_enrollment_code};
use serde_json::json;

use crate::api::token_hash;
use crate::config::Config;
use crate::new_token;
use crate::people::org::{self, OrgUnit};
use crate::people::{
    EnrollQr, check_user_name, hash_password, new_enrollment_code, now_ms, parse_duration,
    secret_hash,
};
use crate::storage::sqlite::SqliteStore;
use crate::storage::{
    AuditAction, AuditEntry, AuditFilter, AuditLog, AuditOutcome, AuthStore, NewUser,
    OrgImportError, OrgStore, TokenInfo,
};

#[derive(Debug, Subcommand)]
pub enum Admin {
    /// Org units (province > city > county > township > village): import, list.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Users: create, list, set a password, disable.
    #[command(subcommand)]
    User(UserCommand),
    /// Record templates devices receive at their next sync: publish a new one (or a new
    /// version), list them.
    #[command(subcommand)]
    Template(TemplateCommand),
    /// The code tables devices receive at their next sync: publish, show.
    #[command(subcommand)]
    CodeTables(CodeTablesCommand),
    /// Give a field user a piece of work: a village to inspect, a water body to check, a
    /// sampling point to sample. Prints the assignment's id; it reaches their devices at their
    /// next sync.
    Assign {
        /// The inspector or sampler.
        user: String,
        /// The record kind: village_inspection, water_body_check or soil_sample.
        #[arg(long)]
        kind: String,
        /// village, water_body or sampling_point.
        #[arg(long)]
        target_kind: String,
        /// The village's division code, the water body's or the point's code.
        #[arg(long)]
        target: String,
        /// A readable name (村名, 水体名称, 点位编号).
        #[arg(long, default_value = "")]
        name: String,
        /// The org unit (12-digit code) the work lies in.
        #[arg(long)]
        org: String,
        /// Due date, YYYY-MM-DD.
        #[arg(long)]
        due: Option<String>,
        #[arg(long)]
        note: Option<String>,
    },
    /// List assignments (live ones unless --all).
    Assignments {
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Take an assignment back: its records leave the assignee's devices at their next sync
    /// (unless they hold unsynced changes).
    Unassign { id: String },
    /// Hand an assignment to another field user: its records move to their devices.
    Reassign { id: String, user: String },
    /// A one-time enrollment code for a user's device, printed, and as a QR image.
    EnrollCode {
        user: String,
        /// How long it is valid: 30m, 24h, 7d (default 24h, at most auth.enrollment_code_max_hours).
        #[arg(long)]
        expires_in: Option<String>,
        /// Write the QR code as PNG.
        #[arg(long)]
        png: Option<PathBuf>,
        /// Write the QR code as SVG.
        #[arg(long)]
        svg: Option<PathBuf>,
        /// The address devices reach the server at (default: public_url, else http://<listen>).
        #[arg(long)]
        server_url: Option<String>,
    },
    /// List devices (device tokens), with last seen and app version.
    Devices {
        /// Only this user's.
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a device by its id (from `devices`): it is refused at its next request.
    RevokeDevice { id: i64 },
    /// The audit log, newest first.
    Audit {
        /// Entries whose actor or target is this user.
        #[arg(long)]
        user: Option<String>,
        /// One action (login_failed, enroll, device_revoked, ...).
        #[arg(long)]
        action: Option<String>,
        /// Entries since this time (RFC 3339, e.g. 2024-06-01T08:00:00+08:00).
        #[arg(long, conflicts_with = "since_hours")]
        since: Option<String>,
        /// Entries of the last N hours.
        #[arg(long)]
        since_hours: Option<u64>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Create an admin user (the same as `user create NAME --role admin`).
    CreateUser { name: String },
    /// Issue a device token for a user by hand (shown once); `enroll-code` is the usual way.
    IssueToken {
        user: String,
        /// What the device is, e.g. "张三's phone".
        #[arg(long)]
        label: Option<String>,
    },
    /// List device tokens (the same as `devices`).
    ListTokens {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a device token by its id (the same as `revoke-device`).
    RevokeToken { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Insert or update org units from a CSV file with the header code,name,level,parent
    /// (level and parent may be empty: the code says them). All or nothing.
    Import { file: PathBuf },
    /// List org units in code order.
    List {
        /// Only this unit and those within it.
        #[arg(long)]
        under: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// Publish a template file (schemas/README.md). It is checked against the current code
    /// tables; a kind and version that exists is never changed: publish the next version.
    Publish { file: PathBuf },
    /// List the published templates, with the roles they are for.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum CodeTablesCommand {
    /// Publish a code tables file (schemas/code_tables.json's form). Tables and codes may be
    /// added and labels changed; no table or code may be removed, and every published
    /// template must still load.
    Publish { file: PathBuf },
    /// Print the current code tables.
    Show,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user with a role and org units.
    Create {
        name: String,
        /// inspector (巡查员), sampler (采样员), supervisor (审核员) or admin (管理员).
        #[arg(long)]
        role: String,
        /// A division code of the user's org unit (repeat for several).
        #[arg(long = "org")]
        org: Vec<String>,
        /// Read a password from standard input (supervisors and admins need one for the web).
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Set a user's password, read from standard input.
    SetPassword {
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Disable a user: their devices are revoked and their sessions end.
    Disable { name: String },
    /// Change a user's role or org units (all of them: repeat --org), or enable them again
    /// (their old devices stay revoked: enroll again). Devices see the change at their next
    /// sync.
    Change {
        name: String,
        #[arg(long)]
        role: Option<String>,
        #[arg(long = "org")]
        org: Vec<String>,
        #[arg(long)]
        enable: bool,
    },
}

fn catalog_publish(db: &SqliteStore, file: &std::path::Path, code_tables: bool) -> Result<()> {
    use crate::catalog::{Published, publish_code_tables, publish_template};
    use crate::storage::catalog::CatalogSource;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let by = AuditEntry::SYSTEM;
    let published = if code_tables {
        publish_code_tables(db, &text, by, CatalogSource::Admin)
    } else {
        publish_template(db, &text, by, CatalogSource::Admin)
    }
    .with_context(|| format!("{} was not published", file.display()))?;
    let row = published.row();
    match &published {
        Published::Unchanged(_) => {
            println!("{} is published already (sha256 {})", row.id, row.sha256);
        }
        Published::New(_) => {
            db.audit(
                &system(AuditAction::CatalogPublished)
                    .target(row.id.clone())
                    .detail(json!({ "sha256": row.sha256, "file": file.display().to_string() })),
            )?;
            println!(
                "published {} (sha256 {}); devices receive it at their next sync",
                row.id, row.sha256
            );
        }
    }
    Ok(())
}

fn template_list(db: &SqliteStore, json: bool) -> Result<()> {
    use crate::storage::catalog::CatalogStore;
    let rows: Vec<_> = db
        .catalog()?
        .into_iter()
        .filter(|r| r.id != jingtu_protocol::CODE_TABLES_ID)
        .collect();
    if json {
        let list: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "kind": r.kind,
                    "version": r.version,
                    "roles": r.roles.iter().map(|x| x.as_str()).collect::<Vec<_>>(),
                    "sha256": r.sha256,
                    "source": r.source.as_str(),
                    "published_by": r.published_by,
                    "published_at": format_time(r.published_at_ms),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        for r in &rows {
            let roles: Vec<&str> = r.roles.iter().map(|x| x.as_str()).collect();
            println!(
                "{:<36} {:<20} {:<8} {}",
                r.id,
                if roles.is_empty() {
                    "inspector,sampler".to_string()
                } else {
                    roles.join(",")
                },
                r.source.as_str(),
                format_time(r.published_at_ms)
            );
        }
    }
    Ok(())
}

fn system(action: AuditAction) -> AuditEntry {
    AuditEntry::new(AuditEntry::SYSTEM, action, AuditOutcome::Ok)
}

/// `ms` as RFC 3339 in UTC.
pub fn format_time(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

fn read_password() -> Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut text)
        .context("reading the password from standard input")?;
    // The first line, without its line end.
    let first = text.split('\n').next().unwrap_or("");
    let password = first.strip_suffix('\r').unwrap_or(first);
    Ok(hash_password(password)?)
}

/// Runs an admin command on the configured storage.
pub fn run(config: &Config, cmd: Admin) -> Result<()> {
    let storage = crate::open_embedded(config)?;
    let db = &*storage.db;
    match cmd {
        Admin::Assign {
            user,
            kind,
            target_kind,
            target,
            name,
            org,
            due,
            note,
        } => {
            let target_kind = jingtu_protocol::AssignmentTarget::parse(&target_kind)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "--target-kind must be village, water_body or sampling_point, not '{target_kind}'"
                    )
                })?;
            let a = crate::assignments::create(
                db,
                db,
                &crate::actor::Actor::system(),
                &crate::assignments::AssignmentRequest {
                    assignee: user,
                    target_kind,
                    target,
                    target_name: name,
                    kind,
                    org_unit: org,
                    due_date: due,
                    note,
                },
            )?;
            println!("{}", a.id);
            eprintln!(
                "assigned {} {} {} to {} (due {})",
                a.kind,
                a.target_kind.label_zh(),
                a.target,
                a.assignee,
                a.due_date.as_deref().unwrap_or("-")
            );
            Ok(())
        }
        Admin::Assignments { user, all, json } => {
            use crate::storage::scope::ScopeStore;
            let list = db.list_assignments(user.as_deref(), all)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for a in &list {
                    println!(
                        "{}  {:<10} {} {} {}  {}  {}  due {}",
                        a.id,
                        a.assignee,
                        a.kind,
                        a.target_kind.label_zh(),
                        a.target,
                        a.target_name,
                        a.org_unit,
                        a.due_date.as_deref().unwrap_or("-")
                    );
                }
            }
            Ok(())
        }
        Admin::Reassign { id, user } => {
            let a =
                crate::assignments::reassign(db, db, &crate::actor::Actor::system(), &id, &user)?;
            println!("assignment {} now with {}", a.id, a.assignee);
            Ok(())
        }
        Admin::Unassign { id } => {
            let a = crate::assignments::remove(db, &crate::actor::Actor::system(), &id)?;
            println!("assignment {} of {} taken back", a.id, a.assignee);
            Ok(())
        }
        Admin::Template(TemplateCommand::Publish { file }) => catalog_publish(db, &file, false),
        Admin::CodeTables(CodeTablesCommand::Publish { file }) => catalog_publish(db, &file, true),
        Admin::Template(TemplateCommand::List { json }) => template_list(db, json),
        Admin::CodeTables(CodeTablesCommand::Show) => {
            use crate::storage::catalog::CatalogStore;
            let rows = db.catalog()?;
            let row = rows
                .iter()
                .find(|r| r.id == jingtu_protocol::CODE_TABLES_ID)
                .context("no code tables are published")?;
            let (_, text) = db
                .catalog_texts(std::slice::from_ref(&row.sha256))?
                .pop()
                .context("the code tables' text is missing")?;
            println!("{text}");
            Ok(())
        }
        Admin::Org(OrgCommand::Import { file }) => org_import(db, &file),
        Admin::Org(OrgCommand::List { under, json }) => org_list(db, under.as_deref(), json),
        Admin::User(UserCommand::Create {
            name,
            role,
            org,
            password_stdin,
        }) => {
            let role = Role::parse(role.trim()).with_context(|| {
                format!("'{role}' is not a role: inspector, sampler, supervisor or admin")
            })?;
            let password = if password_stdin {
                Some(read_password()?)
            } else {
                None
            };
            user_create(db, &name, role, &org, password)
        }
        Admin::CreateUser { name } => user_create(db, &name, Role::Admin, &[], None),
        Admin::User(UserCommand::List { json }) => user_list(db, json),
        Admin::User(UserCommand::SetPassword { name, .. }) => {
            let hash = read_password()?;
            db.set_password(&name, Some(&hash))?;
            db.audit(&system(AuditAction::PasswordSet).target(&name))?;
            println!("password of {name} set");
            Ok(())
        }
        Admin::User(UserCommand::Change {
            name,
            role,
            org,
            enable,
        }) => {
            let role = role
                .map(|r| {
                    Role::parse(r.trim()).with_context(|| {
                        format!("'{r}' is not a role: inspector, sampler, supervisor or admin")
                    })
                })
                .transpose()?;
            let mut units: Vec<String> = Vec::new();
            for code in &org {
                let code = code.trim();
                org::level_of(code)?;
                if !units.iter().any(|c| c == code) {
                    units.push(code.to_string());
                }
            }
            if role.is_none() && units.is_empty() && !enable {
                bail!("nothing to change: give --role, --org or --enable");
            }
            let before = db
                .user(&name)?
                .with_context(|| format!("no such user: {name}"))?;
            let new_role = role.unwrap_or(before.role);
            let new_units = if units.is_empty() {
                before.org_units.clone()
            } else {
                units.clone()
            };
            if new_role != Role::Admin && new_units.is_empty() {
                bail!(
                    "a {} ({new_role}) needs at least one org unit: --org CODE",
                    new_role.label_zh()
                );
            }
            let user = db.change_user(
                &name,
                role,
                (!units.is_empty()).then_some(units.as_slice()),
                enable,
            )?;
            db.audit(
                &system(AuditAction::UserChanged)
                    .target(&name)
                    .detail(json!({
                        "role": {"from": before.role.as_str(), "to": user.role.as_str()},
                        "org_units": {"from": before.org_units, "to": user.org_units},
                        "enabled": enable && before.disabled,
                    })),
            )?;
            println!(
                "user {name}: {} {}, org units {}{}",
                user.role.label_zh(),
                user.role.as_str(),
                user.org_units.join(", "),
                if user.disabled { " (disabled)" } else { "" }
            );
            Ok(())
        }
        Admin::User(UserCommand::Disable { name }) => {
            let revoked = db.disable_user(&name)?;
            db.audit(
                &system(AuditAction::UserDisabled)
                    .target(&name)
                    .detail(json!({"revoked_devices": revoked})),
            )?;
            println!(
                "user {name} disabled; {} device token(s) revoked",
                revoked.len()
            );
            Ok(())
        }
        Admin::EnrollCode {
            user,
            expires_in,
            png,
            svg,
            server_url,
        } => enroll_code(
            config,
            db,
            &user,
            expires_in.as_deref(),
            png,
            svg,
            server_url,
        ),
        Admin::Devices { user, json } => devices(db, user.as_deref(), json),
        Admin::ListTokens { json } => devices(db, None, json),
        Admin::RevokeDevice { id } => revoke(db, id, AuditAction::DeviceRevoked),
        Admin::RevokeToken { id } => revoke(db, id, AuditAction::TokenRevoked),
        Admin::IssueToken { user, label } => {
            let token = new_token();
            let info = db.add_token(&user, &token_hash(&token), label.as_deref())?;
            db.audit(
                &system(AuditAction::TokenIssued)
                    .target(format!("device {}", info.id))
                    .detail(json!({"user": info.user, "label": info.label})),
            )?;
            println!("{token}");
            eprintln!(
                "token {} for {} (shown once; keep it on the device)",
                info.id, info.user
            );
            Ok(())
        }
        Admin::Audit {
            user,
            action,
            since,
            since_hours,
            limit,
            json,
        } => audit(db, user, action, since, since_hours, limit, json),
    }
}

fn org_import(db: &SqliteStore, file: &std::path::Path) -> Result<()> {
    let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let rows = org::read_csv(std::io::BufReader::new(f))
        .with_context(|| format!("in {}", file.display()))?;
    let units: Vec<OrgUnit> = rows.iter().map(|(_, u)| u.clone()).collect();
    let counts = match db.import_org_units(&units) {
        Ok(c) => c,
        Err(OrgImportError::MissingParent {
            index,
            code,
            parent,
        }) => bail!(
            "in {}: line {}: the parent {parent} of {code} is neither stored nor in the file \
             (nothing was imported)",
            file.display(),
            rows[index].0
        ),
        Err(OrgImportError::Storage(e)) => return Err(e.into()),
    };
    db.audit(&system(AuditAction::OrgImport).detail(json!({
        "file": file.display().to_string(),
        "inserted": counts.inserted,
        "updated": counts.updated,
        "unchanged": counts.unchanged,
    })))?;
    println!(
        "{} org units: {} new, {} updated, {} unchanged",
        units.len(),
        counts.inserted,
        counts.updated,
        counts.unchanged
    );
    Ok(())
}

fn org_list(db: &SqliteStore, under: Option<&str>, json: bool) -> Result<()> {
    if let Some(code) = under {
        org::level_of(code)?;
    }
    for u in db.org_units(under)? {
        if json {
            println!("{}", serde_json::to_string(&u)?);
        } else {
            let depth = org::OrgLevel::ALL
                .iter()
                .position(|l| *l == u.level)
                .unwrap_or(0);
            println!(
                "{}{}  {}  {}",
                "  ".repeat(depth),
                u.code,
                u.level.label_zh(),
                u.name
            );
        }
    }
    Ok(())
}

fn user_create(
    db: &SqliteStore,
    name: &str,
    role: Role,
    units: &[String],
    password_hash: Option<String>,
) -> Result<()> {
    let name = check_user_name(name)?;
    let mut org_units = Vec::new();
    for code in units {
        let code = code.trim();
        org::level_of(code)?;
        if !org_units.iter().any(|c| c == code) {
            org_units.push(code.to_string());
        }
    }
    if org_units.is_empty() && role != Role::Admin {
        bail!(
            "a {} ({role}) needs at least one org unit: --org CODE",
            role.label_zh()
        );
    }
    let has_password = password_hash.is_some();
    let user = db.add_user(&NewUser {
        name: name.to_string(),
        role,
        org_units,
        password_hash,
    })?;
    db.audit(
        &system(AuditAction::UserCreated)
            .target(&user.name)
            .detail(json!({"role": user.role, "org_units": user.org_units})),
    )?;
    println!("user {name} created");
    if role.reviews() && !has_password {
        eprintln!(
            "{name} has no password yet: `jingtu-server admin user set-password {name} \
             --password-stdin` before a web login"
        );
    }
    Ok(())
}

fn user_list(db: &SqliteStore, json: bool) -> Result<()> {
    for u in db.list_users()? {
        if json {
            println!(
                "{}",
                json!({
                    "name": u.name,
                    "role": u.role,
                    "org_units": u.org_units,
                    "has_password": u.has_password,
                    "disabled": u.disabled,
                    "created_at_ms": u.created_at_ms,
                    "locked_until_ms": u.locked_until_ms,
                })
            );
        } else {
            println!(
                "{:16} {:10} {:24} {:11} {}",
                u.name,
                format!("{} {}", u.role.label_zh(), u.role),
                if u.org_units.is_empty() {
                    "-".to_string()
                } else {
                    u.org_units.join(",")
                },
                if u.has_password {
                    "password"
                } else {
                    "no password"
                },
                if u.disabled { "disabled" } else { "active" }
            );
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn enroll_code(
    config: &Config,
    db: &SqliteStore,
    user: &str,
    expires_in: Option<&str>,
    png: Option<PathBuf>,
    svg: Option<PathBuf>,
    server_url: Option<String>,
) -> Result<()> {
    let settings = &config.auth;
    let seconds = match expires_in {
        Some(d) => parse_duration(d)?.as_secs(),
        None => settings.enrollment_code_hours * 3600,
    };
    let max = settings.enrollment_code_max_hours * 3600;
    if !(crate::api::people::MIN_CODE_SECONDS..=max).contains(&seconds) {
        bail!(
            "a code is valid for 1 minute to {} hours (auth.enrollment_code_max_hours)",
            settings.enrollment_code_max_hours
        );
    }
    let target = db
        .user(user)?
        .with_context(|| format!("user {user} not found"))?;
    if target.disabled {
        bail!("user {user} is disabled");
    }
    let server = server_url
        .or_else(|| config.public_url.clone())
        .unwrap_or_else(|| format!("http://{}", config.listen));
    let server = server.trim_end_matches('/').to_string();
    if !(server.starts_with("http://") || server.starts_with("https://")) {
        bail!("--server-url must be an http:// or https:// address");
    }
    let code = new_enrollment_code();
    let expires_at_ms = now_ms() + seconds as i64 * 1000;
    let payload = EnrollPayload {
        server,
        code: code.clone(),
    };
    let qr = EnrollQr::new(&payload)?;
    if let Some(path) = &png {
        std::fs::write(path, qr.png()?).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &svg {
        std::fs::write(path, qr.svg()).with_context(|| format!("writing {}", path.display()))?;
    }
    let info = db.add_enrollment_code(
        &target.name,
        &secret_hash(&code),
        AuditEntry::SYSTEM,
        expires_at_ms,
    )?;
    db.audit(
        &system(AuditAction::EnrollmentCodeIssued)
            .target(&target.name)
            .detail(json!({"code_id": info.id, "expires_at_ms": expires_at_ms})),
    )?;
    println!("{}", format_enrollment_code(&code));
    eprintln!(
        "enrollment code {} for {} ({} {}), valid until {} (once)",
        info.id,
        target.name,
        target.role.label_zh(),
        target.role,
        format_time(expires_at_ms)
    );
    eprintln!("QR payload: {}", payload.to_uri());
    for path in png.iter().chain(svg.iter()) {
        eprintln!("QR code written to {}", path.display());
    }
    Ok(())
}

fn device_json(t: &TokenInfo) -> serde_json::Value {
    json!({
        "id": t.id,
        "user": t.user,
        "device_id": t.device_id,
        "label": t.label,
        "app_version": t.app_version,
        "created_at_ms": t.created_at_ms,
        "last_seen_ms": t.last_seen_ms,
        "revoked": t.revoked,
        "revoked_at_ms": t.revoked_at_ms,
    })
}

fn devices(db: &SqliteStore, user: Option<&str>, json: bool) -> Result<()> {
    for t in db.list_tokens()? {
        if user.is_some_and(|u| u != t.user) {
            continue;
        }
        if json {
            println!("{}", device_json(&t));
        } else {
            println!(
                "{:4} {:16} {:20} {:12} {:20} {}",
                t.id,
                t.user,
                t.label.as_deref().unwrap_or("-"),
                t.app_version.as_deref().unwrap_or("-"),
                t.last_seen_ms
                    .map(format_time)
                    .unwrap_or_else(|| "never seen".into()),
                if t.revoked { "revoked" } else { "live" }
            );
        }
    }
    Ok(())
}

fn revoke(db: &SqliteStore, id: i64, action: AuditAction) -> Result<()> {
    let token = db.token(id)?;
    db.revoke_token(id)?;
    db.audit(
        &system(action).target(format!("device {id}")).detail(json!({
            "user": token.as_ref().map(|t| t.user.clone()),
            "device_id": token.and_then(|t| t.device_id),
        })),
    )?;
    println!("device {id} revoked");
    Ok(())
}

fn audit(
    db: &SqliteStore,
    user: Option<String>,
    action: Option<String>,
    since: Option<String>,
    since_hours: Option<u64>,
    limit: u32,
    json: bool,
) -> Result<()> {
    let action = match action {
        Some(a) => Some(AuditAction::parse(a.trim()).with_context(|| {
            let all: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
            format!("'{a}' is not an audit action ({})", all.join(", "))
        })?),
        None => None,
    };
    let since_ms = match (since, since_hours) {
        (Some(s), _) => {
            let t = time::OffsetDateTime::parse(
                s.trim(),
                &time::format_description::well_known::Rfc3339,
            )
            .with_context(|| format!("--since {s}: not an RFC 3339 time"))?;
            Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
        }
        (None, Some(h)) => Some(now_ms() - (h.min(1_000_000) as i64) * 3_600_000),
        (None, None) => None,
    };
    let entries = db.audit_query(&AuditFilter {
        user,
        action,
        since_ms,
        limit: limit.clamp(1, 100_000),
    })?;
    for e in entries {
        if json {
            println!("{}", serde_json::to_string(&e)?);
        } else {
            println!(
                "{} {:12} {:22} {:8} {:20} {:15} {}",
                format_time(e.at_ms),
                e.actor,
                e.action,
                e.outcome,
                e.target.as_deref().unwrap_or("-"),
                e.remote_addr.as_deref().unwrap_or("-"),
                e.detail
            );
        }
    }
    Ok(())
}
