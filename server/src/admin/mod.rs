//! `jingtu-server admin ...`: org units, users, enrollment codes, devices, assignments, the
//! catalog and the audit log, straight on the server's storage through the same services and
//! storage traits the HTTP API uses (run it on the server machine; it works while the server
//! runs). Everything it changes is written to the audit log with the actor `system`.

mod people;
mod work;

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Subcommand;

use crate::Context;
use crate::config::Config;
use crate::people::hash_password;
use crate::storage::{AuditAction, AuditEntry, AuditOutcome};

#[derive(Debug, Subcommand)]
pub enum Admin {
    /// Org units (province > city > county > township > village): import, list.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Planned soil sampling points (计划点位): import the point list, list it. An assignment
    /// of a point carries its position, land use and task to the sampler's device.
    #[command(subcommand)]
    Points(PointsCommand),
    /// Export the records of one kind for a spreadsheet or a map: CSV (UTF-8 with BOM, opens
    /// in Excel), XLSX or GeoJSON, Chinese column labels from the template; the review
    /// queue's filters.
    Export {
        /// The record kind (village_inspection, water_body_check, soil_sample,
        /// sewage_facility_inspection).
        #[arg(long)]
        kind: String,
        /// csv, xlsx or geojson.
        #[arg(long, default_value = "csv")]
        format: String,
        /// draft, submitted, returned or approved.
        #[arg(long)]
        status: Option<String>,
        /// An org unit's 12-digit code: the records within it.
        #[arg(long)]
        org_unit: Option<String>,
        /// Part of a village's name.
        #[arg(long)]
        village: Option<String>,
        /// Where to write (default: the standard output).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// The server's address, for the photos' links (default: relative links).
        #[arg(long)]
        base_url: Option<String>,
    },
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
pub enum PointsCommand {
    /// Insert or replace points from a CSV file (headings code, name, lat, lon, land_use,
    /// task, org_unit, or 点位编码, 点位名称, 纬度, 经度, 土地利用类型, 监测任务, 行政区划代码) or a
    /// GeoJSON FeatureCollection of Points with those properties. Land use and task by code or
    /// by Chinese name. All or nothing: every problem is listed with its line.
    Import {
        file: PathBuf,
        /// Also assign every point of the file to this sampler (a soil_sample assignment each,
        /// in the point's org unit).
        #[arg(long)]
        assign_to: Option<String>,
        /// The assignments' due date, YYYY-MM-DD.
        #[arg(long, requires = "assign_to")]
        due: Option<String>,
    },
    /// List points in code order.
    List {
        /// Only points within this org unit.
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

/// Runs an admin command on the configured storage.
pub fn run(config: &Config, cmd: Admin) -> Result<()> {
    let storage = crate::open_embedded(config)?;
    let ctx = Context::embedded(config, &storage)?;
    let ctx = &ctx;
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
        } => work::assign(
            ctx,
            crate::assignments::AssignmentRequest {
                assignee: user,
                target_kind: jingtu_protocol::AssignmentTarget::parse(&target_kind).with_context(
                    || {
                        format!(
                            "--target-kind must be village, water_body or sampling_point, not \
                             '{target_kind}'"
                        )
                    },
                )?,
                target,
                target_name: name,
                kind,
                org_unit: org,
                due_date: due,
                note,
            },
        ),
        Admin::Assignments { user, all, json } => {
            work::assignments(ctx, user.as_deref(), all, json)
        }
        Admin::Reassign { id, user } => work::reassign(ctx, &id, &user),
        Admin::Unassign { id } => work::unassign(ctx, &id),
        Admin::Template(TemplateCommand::Publish { file }) => {
            work::catalog_publish(ctx, &file, false)
        }
        Admin::CodeTables(CodeTablesCommand::Publish { file }) => {
            work::catalog_publish(ctx, &file, true)
        }
        Admin::Template(TemplateCommand::List { json }) => work::template_list(ctx, json),
        Admin::CodeTables(CodeTablesCommand::Show) => work::code_tables_show(ctx),
        Admin::Org(OrgCommand::Import { file }) => work::org_import(ctx, &file),
        Admin::Org(OrgCommand::List { under, json }) => work::org_list(ctx, under.as_deref(), json),
        Admin::Points(PointsCommand::Import {
            file,
            assign_to,
            due,
        }) => work::points_import(ctx, &file, assign_to.as_deref(), due),
        Admin::Points(PointsCommand::List { under, json }) => {
            work::points_list(ctx, under.as_deref(), json)
        }
        Admin::Export {
            kind,
            format,
            status,
            org_unit,
            village,
            out,
            base_url,
        } => work::export(
            ctx,
            work::ExportArgs {
                kind,
                format,
                status,
                org_unit,
                village,
                out,
                base_url,
            },
        ),
        Admin::User(UserCommand::Create {
            name,
            role,
            org,
            password_stdin,
        }) => people::user_create(ctx, &name, &role, &org, password_stdin),
        Admin::CreateUser { name } => people::user_create(ctx, &name, "admin", &[], false),
        Admin::User(UserCommand::List { json }) => people::user_list(ctx, json),
        Admin::User(UserCommand::SetPassword { name, .. }) => people::set_password(ctx, &name),
        Admin::User(UserCommand::Change {
            name,
            role,
            org,
            enable,
        }) => people::user_change(ctx, &name, role.as_deref(), &org, enable),
        Admin::User(UserCommand::Disable { name }) => people::user_disable(ctx, &name),
        Admin::EnrollCode {
            user,
            expires_in,
            png,
            svg,
            server_url,
        } => people::enroll_code(
            config,
            ctx,
            &user,
            expires_in.as_deref(),
            people::QrFiles { png, svg },
            server_url,
        ),
        Admin::Devices { user, json } => people::devices(ctx, user.as_deref(), json),
        Admin::ListTokens { json } => people::devices(ctx, None, json),
        Admin::RevokeDevice { id } => people::revoke(ctx, id, AuditAction::DeviceRevoked),
        Admin::RevokeToken { id } => people::revoke(ctx, id, AuditAction::TokenRevoked),
        Admin::IssueToken { user, label } => people::issue_token(ctx, &user, label.as_deref()),
        Admin::Audit {
            user,
            action,
            since,
            since_hours,
            limit,
            json,
        } => people::audit(ctx, user, action, since, since_hours, limit, json),
    }
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
