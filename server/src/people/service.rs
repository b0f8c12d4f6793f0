//! People and devices as services: web login with its lockout, logout, enrollment codes and
//! enrollment, device lists and revocation, the audit log. The HTTP handlers
//! (`api/people.rs`) and the admin command line (`admin.rs`) both call these, so a code issued
//! or a device revoked on either side is checked and audited alike. Who may do what follows
//! from the [`Actor`]: the command line is [`Actor::system`], an admin.

use std::net::IpAddr;

use jingtu_model::Role;
use jingtu_protocol::{AuditRecord, EnrollPayload, EnrollResponse, LoginResponse};
use serde_json::json;
use thiserror::Error;

use super::{EnrollQr, PeopleError, new_enrollment_code, now_ms, random_hex, secret_hash};
use crate::Context;
use crate::actor::Actor;
use crate::config::AuthConfig;
use crate::storage::{
    AuditAction, AuditEntry, AuditFilter, AuditOutcome, LockoutPolicy, NewDevice, RedeemError,
    StorageError, TokenInfo, UserInfo,
};

/// A device whose enrollment answer was lost may present its code again this long after using
/// it (and gets a new token; the first is revoked).
pub const ENROLL_RETRY_WINDOW_MS: i64 = 10 * 60 * 1000;
/// Shortest validity of an enrollment code.
pub const MIN_CODE_SECONDS: u64 = 60;

/// Why a people request was refused.
#[derive(Debug, Error)]
pub enum ServiceError {
    /// A wrong user name or password, an unknown or disabled user, or a field user at the
    /// web login: one answer for all, so that a guess learns nothing (the audit log says why).
    #[error("the user name or password is wrong")]
    BadLogin,
    #[error("too many failed logins: this user is locked out for a while")]
    Locked { wait_ms: i64 },
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    OutOfScope(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} is disabled")]
    UserDisabled(String),
    #[error(
        "a code is valid for {MIN_CODE_SECONDS} to {max_s} seconds (1 minute to {} hours: \
         auth.enrollment_code_max_hours)", max_s / 3600
    )]
    BadExpiry { max_s: u64 },
    #[error("no such enrollment code")]
    BadCode,
    #[error("the enrollment code expired: ask for a new one")]
    CodeExpired,
    #[error("the enrollment code was used already: ask for a new one")]
    CodeUsed,
    #[error("the code's user is disabled")]
    CodeUserDisabled,
    #[error("device {0} is revoked already")]
    AlreadyRevoked(i64),
    #[error("device_id must be the device's actor id in hex (1 to 64 digits)")]
    BadDevice,
    #[error("{0}")]
    BadField(String),
    #[error("'{0}' is not an audit action")]
    BadAction(String),
    #[error(transparent)]
    People(#[from] PeopleError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Where a request came from (the client's address), for the audit log.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin(pub Option<IpAddr>);

impl Origin {
    fn addr(self) -> Option<String> {
        self.0.map(|r| r.to_string())
    }
}

/// An audit entry of something `actor` did, from `from`.
fn entry_of(actor: &Actor, from: Origin, action: AuditAction, outcome: AuditOutcome) -> AuditEntry {
    AuditEntry {
        remote_addr: from.addr(),
        ..actor.audit_entry(action, outcome)
    }
}

/// The lockout of the settings.
pub fn lockout(settings: &AuthConfig) -> LockoutPolicy {
    LockoutPolicy {
        failures: settings.lockout_failures,
        window_ms: settings.lockout_window_minutes as i64 * 60_000,
        lock_ms: settings.lockout_minutes as i64 * 60_000,
    }
}

/// A web session granted: its id (for the cookie, shown once) and the answer.
#[derive(Debug)]
pub struct Granted {
    pub session: String,
    pub answer: LoginResponse,
}

/// A supervisor's or admin's web login. Each attempt of a known user is counted before its
/// password is checked, so guesses sent in parallel get no more tries than the lockout
/// allows; every attempt is audited.
pub fn login(
    ctx: &Context,
    settings: &AuthConfig,
    name: &str,
    password: &str,
    from: Origin,
) -> Result<Granted, ServiceError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || password.len() > 1024 {
        return Err(ServiceError::BadLogin);
    }
    let now = now_ms();
    let audit = |e: AuditEntry| {
        ctx.auth.audit(&AuditEntry {
            remote_addr: from.addr(),
            ..e.target(name)
        })
    };
    let locked = |user: &str, until: i64, detail: serde_json::Value| {
        audit(
            AuditEntry::new(user, AuditAction::LoginLocked, AuditOutcome::Refused).detail(detail),
        )?;
        Err(ServiceError::Locked {
            wait_ms: until - now,
        })
    };
    let subject = ctx.auth.login_subject(name)?;
    if let Some((user, _)) = &subject
        && let Some(until) = user.locked_until_ms.filter(|u| *u > now)
        && !user.disabled
    {
        return locked(&user.name, until, json!({"locked_until_ms": until}));
    }
    let (user, hash) = match subject {
        Some((u, h)) => (Some(u), h),
        None => (None, None),
    };
    if let Some(u) = user.as_ref().filter(|u| !u.disabled)
        && let Err(until) = ctx.auth.login_attempt(u.id, now, &lockout(settings))?
    {
        return locked(&u.name, until, json!({"locked_until_ms": until}));
    }
    let ok = super::verify_password(password, hash.as_deref());
    let refused = |reason: &str| {
        audit(
            AuditEntry::new(
                AuditEntry::ANONYMOUS,
                AuditAction::LoginFailed,
                AuditOutcome::Refused,
            )
            .detail(json!({"reason": reason})),
        )
    };
    let Some(user) = user else {
        refused("unknown_user")?;
        return Err(ServiceError::BadLogin);
    };
    if user.disabled {
        refused("disabled")?;
        return Err(ServiceError::BadLogin);
    }
    if !ok {
        let locked_until = ctx.auth.login_failed(user.id, now, &lockout(settings))?;
        refused(if hash.is_some() {
            "wrong_password"
        } else {
            "no_password"
        })?;
        if let Some(until) = locked_until {
            return locked(
                &user.name,
                until,
                json!({"locked_until_ms": until, "failures": settings.lockout_failures}),
            );
        }
        return Err(ServiceError::BadLogin);
    }
    if !user.role.reviews() && user.role != jingtu_model::Role::Lab {
        // Field users work on devices (lab staff enter results in the console); the answer is
        // that of a wrong password.
        refused("field_role")?;
        return Err(ServiceError::BadLogin);
    }
    ctx.auth.login_succeeded(user.id)?;
    let session = random_hex(32);
    let csrf_token = random_hex(32);
    let expires_at_ms = now + settings.session_hours as i64 * 3_600_000;
    ctx.auth
        .create_session(user.id, &secret_hash(&session), &csrf_token, expires_at_ms)?;
    audit(AuditEntry::new(
        &user.name,
        AuditAction::Login,
        AuditOutcome::Ok,
    ))?;
    Ok(Granted {
        session,
        answer: LoginResponse {
            user: user.name,
            role: user.role,
            org_units: user.org_units,
            csrf_token,
            expires_at_ms,
        },
    })
}

/// Ends the web session whose id hashes to `session_hash`.
pub fn logout(
    ctx: &Context,
    actor: &Actor,
    session_hash: &str,
    from: Origin,
) -> Result<(), ServiceError> {
    ctx.auth.end_session(session_hash)?;
    ctx.auth.audit(
        &entry_of(actor, from, AuditAction::Logout, AuditOutcome::Ok).target(actor.user.clone()),
    )?;
    Ok(())
}

/// An enrollment code issued: the code itself (shown once), its row id, for whom, until when,
/// and the QR payload.
#[derive(Debug)]
pub struct IssuedCode {
    pub id: i64,
    /// The code in its canonical form.
    pub code: String,
    pub user: UserInfo,
    pub expires_at_ms: i64,
    pub payload: EnrollPayload,
}

impl IssuedCode {
    pub fn qr(&self) -> Result<EnrollQr, PeopleError> {
        EnrollQr::new(&self.payload)
    }
}

/// Issues a one-time enrollment code for `user`, valid `expires_in_s` (the settings' default
/// when none), naming `server` in its QR payload. Admins issue for anyone, supervisors for
/// the field users they manage.
pub fn issue_code(
    ctx: &Context,
    settings: &AuthConfig,
    actor: &Actor,
    user: &str,
    expires_in_s: Option<u64>,
    server: String,
    from: Origin,
) -> Result<IssuedCode, ServiceError> {
    if !actor.role.reviews() {
        return Err(ServiceError::Forbidden(
            "only supervisors and admins issue enrollment codes",
        ));
    }
    let name = user.trim();
    let target = ctx
        .auth
        .user(name)?
        .ok_or_else(|| ServiceError::NotFound(format!("user {name}")))?;
    if !actor.manages(&target) {
        ctx.auth.audit(
            &entry_of(
                actor,
                from,
                AuditAction::EnrollmentCodeIssued,
                AuditOutcome::Refused,
            )
            .target(target.name.clone())
            .detail(json!({"reason": "out_of_scope"})),
        )?;
        return Err(ServiceError::OutOfScope(format!(
            "{} is not within your org units",
            target.name
        )));
    }
    if target.disabled {
        return Err(ServiceError::UserDisabled(target.name));
    }
    let max_s = settings.enrollment_code_max_hours * 3600;
    let seconds = expires_in_s.unwrap_or(settings.enrollment_code_hours * 3600);
    if !(MIN_CODE_SECONDS..=max_s).contains(&seconds) {
        return Err(ServiceError::BadExpiry { max_s });
    }
    let code = new_enrollment_code();
    let expires_at_ms = now_ms() + seconds as i64 * 1000;
    let info = ctx.auth.add_enrollment_code(
        &target.name,
        &secret_hash(&code),
        &actor.user,
        expires_at_ms,
    )?;
    ctx.auth.audit(
        &entry_of(
            actor,
            from,
            AuditAction::EnrollmentCodeIssued,
            AuditOutcome::Ok,
        )
        .target(target.name.clone())
        .detail(json!({"code_id": info.id, "expires_at_ms": expires_at_ms})),
    )?;
    Ok(IssuedCode {
        id: info.id,
        payload: EnrollPayload {
            server,
            code: code.clone(),
        },
        code,
        user: target,
        expires_at_ms,
    })
}

/// What a device sends to enroll.
#[derive(Debug, Clone)]
pub struct Enrollment {
    pub code: String,
    pub device_id: String,
    pub label: Option<String>,
    pub app_version: Option<String>,
    /// The device's custody signing key: a hex ed25519 public key (32 bytes).
    pub signing_key: Option<String>,
}

/// A signing key as sent: 64 hex digits, a valid ed25519 point; lower-cased.
fn check_signing_key(key: Option<String>) -> Result<Option<String>, ServiceError> {
    let Some(k) = key.map(|k| k.trim().to_ascii_lowercase()) else {
        return Ok(None);
    };
    if !jingtu_doc::is_signing_key(&k) {
        return Err(ServiceError::BadField(
            "signing_key must be an ed25519 public key: 64 hex digits".into(),
        ));
    }
    Ok(Some(k))
}

fn check_device_id(id: &str) -> Result<String, ServiceError> {
    let id = id.trim();
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ServiceError::BadDevice);
    }
    Ok(id.to_ascii_lowercase())
}

fn clean_text(
    value: Option<String>,
    max: usize,
    what: &'static str,
) -> Result<Option<String>, ServiceError> {
    let Some(v) = value else { return Ok(None) };
    let v = v.trim();
    if v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(ServiceError::BadField(format!(
            "{what} has at most {max} characters, without control characters"
        )));
    }
    Ok((!v.is_empty()).then(|| v.to_string()))
}

/// A device exchanges a one-time code for its device token, bound to the code's user and to
/// the device. Every attempt is audited.
pub fn enroll(
    ctx: &Context,
    request: Enrollment,
    from: Origin,
) -> Result<EnrollResponse, ServiceError> {
    let device_id = check_device_id(&request.device_id)?;
    let label = clean_text(request.label, 100, "device_label")?;
    let app_version = clean_text(request.app_version, 64, "app_version")?;
    let signing_key = check_signing_key(request.signing_key)?;
    let refused = |detail: serde_json::Value, e: ServiceError| {
        ctx.auth.audit(&AuditEntry {
            device_id: Some(device_id.clone()),
            remote_addr: from.addr(),
            ..AuditEntry::new(
                AuditEntry::ANONYMOUS,
                AuditAction::EnrollRefused,
                AuditOutcome::Refused,
            )
            .detail(detail)
        })?;
        Err(e)
    };
    let Some(code) = jingtu_protocol::normalize_enrollment_code(&request.code) else {
        return refused(
            json!({"reason": "bad_code", "malformed": true}),
            ServiceError::BadCode,
        );
    };
    let token = crate::new_token();
    let device = NewDevice {
        token_hash: secret_hash(&token),
        device_id: device_id.clone(),
        label: label.clone(),
        app_version: app_version.clone(),
        signing_key,
    };
    let now = now_ms();
    let redeemed =
        ctx.auth
            .redeem_enrollment_code(&secret_hash(&code), now, &device, ENROLL_RETRY_WINDOW_MS);
    let r = match redeemed {
        Ok(r) => r,
        Err(RedeemError::Unknown) => {
            return refused(json!({"reason": "bad_code"}), ServiceError::BadCode);
        }
        Err(RedeemError::Expired { id }) => {
            return refused(
                json!({"reason": "code_expired", "code_id": id}),
                ServiceError::CodeExpired,
            );
        }
        Err(RedeemError::Used { id }) => {
            return refused(
                json!({"reason": "code_used", "code_id": id}),
                ServiceError::CodeUsed,
            );
        }
        Err(RedeemError::UserDisabled { id }) => {
            return refused(
                json!({"reason": "user_disabled", "code_id": id}),
                ServiceError::CodeUserDisabled,
            );
        }
        Err(RedeemError::Storage(e)) => return Err(e.into()),
    };
    ctx.auth.audit(&AuditEntry {
        device: Some(r.token.id),
        device_id: Some(device_id),
        remote_addr: from.addr(),
        ..AuditEntry::new(&r.user.name, AuditAction::Enroll, AuditOutcome::Ok)
            .target(format!("device {}", r.token.id))
            .detail(json!({
                "code_id": r.code_id,
                "label": label,
                "app_version": app_version,
                "replaced_devices": r.replaced,
                "retry": r.retry,
            }))
    })?;
    Ok(EnrollResponse {
        token,
        device: r.token.id,
        user: r.user.name,
        role: r.user.role,
        org_units: r.user.org_units,
        server_time_ms: now,
    })
}

/// The users `actor` manages (an admin everyone, a supervisor the field users of their org
/// units), by name; refused to field users.
pub fn managed_users(ctx: &Context, actor: &Actor) -> Result<Vec<UserInfo>, ServiceError> {
    if !actor.role.reviews() {
        return Err(ServiceError::Forbidden(
            "only supervisors and admins manage users",
        ));
    }
    let mut users: Vec<UserInfo> = ctx
        .auth
        .list_users()?
        .into_iter()
        .filter(|u| actor.manages(u))
        .collect();
    users.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(users)
}

/// The devices `actor` may see (of `user` only, when given): an admin all, a supervisor those
/// of the users they manage and their own, anyone else their own.
pub fn devices(
    ctx: &Context,
    actor: &Actor,
    user: Option<&str>,
) -> Result<Vec<TokenInfo>, ServiceError> {
    let tokens = ctx.auth.list_tokens()?;
    let users: std::collections::HashMap<String, UserInfo> = if actor.role == Role::Supervisor {
        ctx.auth
            .list_users()?
            .into_iter()
            .map(|u| (u.name.clone(), u))
            .collect()
    } else {
        Default::default()
    };
    let visible = |t: &TokenInfo| {
        t.user == actor.user
            || actor.role == Role::Admin
            || users.get(&t.user).is_some_and(|u| actor.manages(u))
    };
    Ok(tokens
        .into_iter()
        .filter(|t| user.is_none_or(|u| u == t.user))
        .filter(visible)
        .collect())
}

/// Revokes a device's token: it is refused at its next request. Admins revoke any device,
/// supervisors those of the users they manage.
pub fn revoke_device(
    ctx: &Context,
    actor: &Actor,
    id: i64,
    action: AuditAction,
    from: Origin,
) -> Result<TokenInfo, ServiceError> {
    if !actor.role.reviews() {
        return Err(ServiceError::Forbidden(
            "only supervisors and admins revoke devices",
        ));
    }
    let not_found = || ServiceError::NotFound(format!("device {id}"));
    let token = ctx.auth.token(id)?.ok_or_else(not_found)?;
    let owner = ctx.auth.user(&token.user)?;
    if !owner.as_ref().is_some_and(|u| actor.manages(u)) {
        ctx.auth.audit(
            &entry_of(actor, from, action, AuditOutcome::Refused)
                .target(format!("device {id}"))
                .detail(json!({"reason": "out_of_scope", "user": token.user})),
        )?;
        return Err(ServiceError::OutOfScope(format!(
            "the device of {} is not within your org units",
            token.user
        )));
    }
    if token.revoked {
        return Err(ServiceError::AlreadyRevoked(id));
    }
    match ctx.auth.revoke_token(id) {
        Ok(()) => {}
        Err(StorageError::NotFound(_)) => return Err(ServiceError::AlreadyRevoked(id)),
        Err(e) => return Err(e.into()),
    }
    ctx.auth.audit(
        &entry_of(actor, from, action, AuditOutcome::Ok)
            .target(format!("device {id}"))
            .detail(json!({
                "user": token.user,
                "device_id": token.device_id,
                "label": token.label
            })),
    )?;
    ctx.auth.token(id)?.ok_or_else(not_found)
}

/// The audit filter of a query: `action` by its name.
pub fn audit_filter(
    user: Option<String>,
    action: Option<&str>,
    since_ms: Option<i64>,
    limit: u32,
    max_limit: u32,
) -> Result<AuditFilter, ServiceError> {
    let action = match action.map(str::trim).filter(|a| !a.is_empty()) {
        Some(a) => {
            Some(AuditAction::parse(a).ok_or_else(|| ServiceError::BadAction(a.to_string()))?)
        }
        None => None,
    };
    Ok(AuditFilter {
        user: user.filter(|u| !u.is_empty()),
        action,
        since_ms,
        limit: limit.clamp(1, max_limit),
    })
}

/// The audit log, newest first: for admins.
pub fn audit(
    ctx: &Context,
    actor: &Actor,
    filter: &AuditFilter,
) -> Result<Vec<AuditRecord>, ServiceError> {
    if actor.role != Role::Admin {
        return Err(ServiceError::Forbidden("the audit log is for admins"));
    }
    Ok(ctx.auth.audit_query(filter)?)
}
