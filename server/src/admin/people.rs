//! Admin commands about people: users, enrollment codes, devices and the audit log, through
//! the people services the HTTP API uses (as the `system` admin).

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use jingtu_model::Role;
use jingtu_protocol::format_enrollment_code;
use serde_json::json;

use super::{format_time, read_password, system};
use crate::Context;
use crate::actor::Actor;
use crate::config::Config;
use crate::people::service::{self, Origin};
use crate::people::{check_user_name, now_ms, org, parse_duration};
use crate::storage::{AuditAction, NewUser, TokenInfo};

fn parse_role(role: &str) -> Result<Role> {
    Role::parse(role.trim()).with_context(|| {
        format!("'{role}' is not a role: inspector, sampler, lab, supervisor or admin")
    })
}

/// Division codes, checked, without repeats.
fn org_codes(codes: &[String]) -> Result<Vec<String>> {
    let mut units: Vec<String> = Vec::new();
    for code in codes {
        let code = code.trim();
        org::level_of(code)?;
        if !units.iter().any(|c| c == code) {
            units.push(code.to_string());
        }
    }
    Ok(units)
}

pub(super) fn user_create(
    ctx: &Context,
    name: &str,
    role: &str,
    units: &[String],
    password_stdin: bool,
) -> Result<()> {
    let db = &*ctx.auth;
    let role = parse_role(role)?;
    let password_hash = if password_stdin {
        Some(read_password()?)
    } else {
        None
    };
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
    if (role.reviews() || role == Role::Lab) && !has_password {
        eprintln!(
            "{name} has no password yet: `jingtu-server admin user set-password {name} \
             --password-stdin` before a web login"
        );
    }
    Ok(())
}

pub(super) fn user_list(ctx: &Context, json: bool) -> Result<()> {
    for u in ctx.auth.list_users()? {
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

pub(super) fn set_password(ctx: &Context, name: &str) -> Result<()> {
    let hash = read_password()?;
    ctx.auth.set_password(name, Some(&hash))?;
    ctx.auth
        .audit(&system(AuditAction::PasswordSet).target(name))?;
    println!("password of {name} set");
    Ok(())
}

pub(super) fn user_change(
    ctx: &Context,
    name: &str,
    role: Option<&str>,
    org: &[String],
    enable: bool,
) -> Result<()> {
    let db = &*ctx.auth;
    let role = role.map(parse_role).transpose()?;
    let units = org_codes(org)?;
    if role.is_none() && units.is_empty() && !enable {
        bail!("nothing to change: give --role, --org or --enable");
    }
    let before = db
        .user(name)?
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
        name,
        role,
        (!units.is_empty()).then_some(units.as_slice()),
        enable,
    )?;
    db.audit(
        &system(AuditAction::UserChanged).target(name).detail(json!({
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

pub(super) fn user_disable(ctx: &Context, name: &str) -> Result<()> {
    let revoked = ctx.auth.disable_user(name)?;
    ctx.auth.audit(
        &system(AuditAction::UserDisabled)
            .target(name)
            .detail(json!({"revoked_devices": revoked})),
    )?;
    println!(
        "user {name} disabled; {} device token(s) revoked",
        revoked.len()
    );
    Ok(())
}

/// Where to write an enrollment code's QR image.
pub(super) struct QrFiles {
    pub png: Option<PathBuf>,
    pub svg: Option<PathBuf>,
}

pub(super) fn enroll_code(
    config: &Config,
    ctx: &Context,
    user: &str,
    expires_in: Option<&str>,
    files: QrFiles,
    server_url: Option<String>,
) -> Result<()> {
    let seconds = expires_in
        .map(|d| parse_duration(d).map(|d| d.as_secs()))
        .transpose()?;
    let server = server_url
        .or_else(|| config.public_url.clone())
        .unwrap_or_else(|| format!("http://{}", config.listen));
    let server = server.trim_end_matches('/').to_string();
    if !(server.starts_with("http://") || server.starts_with("https://")) {
        bail!("--server-url must be an http:// or https:// address");
    }
    let issued = service::issue_code(
        ctx,
        &config.auth,
        &Actor::system(),
        user,
        seconds,
        server,
        Origin::default(),
    )?;
    let qr = issued.qr()?;
    if let Some(path) = &files.png {
        std::fs::write(path, qr.png()?).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &files.svg {
        std::fs::write(path, qr.svg()).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("{}", format_enrollment_code(&issued.code));
    eprintln!(
        "enrollment code {} for {} ({} {}), valid until {} (once)",
        issued.id,
        issued.user.name,
        issued.user.role.label_zh(),
        issued.user.role,
        format_time(issued.expires_at_ms)
    );
    eprintln!("QR payload: {}", issued.payload.to_uri());
    for path in files.png.iter().chain(files.svg.iter()) {
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

pub(super) fn devices(ctx: &Context, user: Option<&str>, json: bool) -> Result<()> {
    for t in service::devices(ctx, &Actor::system(), user)? {
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

pub(super) fn revoke(ctx: &Context, id: i64, action: AuditAction) -> Result<()> {
    service::revoke_device(ctx, &Actor::system(), id, action, Origin::default())?;
    println!("device {id} revoked");
    Ok(())
}

pub(super) fn issue_token(ctx: &Context, user: &str, label: Option<&str>) -> Result<()> {
    let token = crate::new_token();
    let info = ctx
        .auth
        .add_token(user, &crate::api::token_hash(&token), label)?;
    ctx.auth.audit(
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

pub(super) fn audit(
    ctx: &Context,
    user: Option<String>,
    action: Option<String>,
    since: Option<String>,
    since_hours: Option<u64>,
    limit: u32,
    json: bool,
) -> Result<()> {
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
    let filter = match service::audit_filter(user, action.as_deref(), since_ms, limit, 100_000) {
        Ok(f) => f,
        Err(service::ServiceError::BadAction(a)) => {
            let all: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
            bail!("'{a}' is not an audit action ({})", all.join(", "));
        }
        Err(e) => return Err(e.into()),
    };
    for e in service::audit(ctx, &Actor::system(), &filter)? {
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
