//! People and devices in the embedded SQLite store: users, org units, device tokens, web
//! sessions, enrollment codes, failed logins and the audit log (schema 2).

use jingtu_model::Role;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{SqliteStore, lock, now_ms};
use crate::people::same_secret;
use crate::storage::{
    AuthStore, EnrollmentCodeInfo, LockoutPolicy, NewDevice, NewUser, RedeemError, Redeemed,
    SessionInfo, StorageError, TokenInfo, TokenLookup, UserInfo,
};

const TOKEN_COLUMNS: &str = "t.id, u.name, t.label, t.created_at, t.last_seen, t.revoked_at,
     t.device_id, t.app_version, t.signing_key";
const TOKEN_FROM: &str = "FROM device_tokens t JOIN users u ON u.id = t.user_id";

fn read_token(r: &Row<'_>) -> rusqlite::Result<TokenInfo> {
    let revoked_at: Option<i64> = r.get(5)?;
    Ok(TokenInfo {
        id: r.get(0)?,
        user: r.get(1)?,
        label: r.get(2)?,
        created_at_ms: r.get(3)?,
        last_seen_ms: r.get(4)?,
        revoked: revoked_at.is_some(),
        device_id: r.get(6)?,
        app_version: r.get(7)?,
        revoked_at_ms: revoked_at,
        signing_key: r.get(8)?,
    })
}

const USER_COLUMNS: &str = "u.id, u.name, u.role, u.password_hash IS NOT NULL,
     u.disabled_at IS NOT NULL, u.created_at, u.locked_until,
     (SELECT group_concat(org_code, ',') FROM
         (SELECT org_code FROM user_org_units WHERE user_id = u.id ORDER BY org_code))
     FROM users u";

fn read_user(r: &Row<'_>) -> rusqlite::Result<UserInfo> {
    let role: String = r.get(2)?;
    let role = Role::parse(&role).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            2,
            rusqlite::types::Type::Text,
            format!("unknown role {role}").into(),
        )
    })?;
    let units: Option<String> = r.get(7)?;
    Ok(UserInfo {
        id: r.get(0)?,
        name: r.get(1)?,
        role,
        org_units: units
            .map(|u| u.split(',').map(str::to_string).collect())
            .unwrap_or_default(),
        has_password: r.get(3)?,
        disabled: r.get(4)?,
        created_at_ms: r.get(5)?,
        locked_until_ms: r.get(6)?,
    })
}

fn user_by_name(conn: &Connection, name: &str) -> Result<Option<UserInfo>, StorageError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {USER_COLUMNS} WHERE u.name = ?1"))?
        .query_row([name], read_user)
        .optional()?)
}

fn user_by_id(conn: &Connection, id: i64) -> Result<UserInfo, StorageError> {
    conn.prepare_cached(&format!("SELECT {USER_COLUMNS} WHERE u.id = ?1"))?
        .query_row([id], read_user)
        .optional()?
        .ok_or_else(|| StorageError::NotFound(format!("user {id}")))
}

fn token_by_id(conn: &Connection, id: i64) -> Result<Option<TokenInfo>, StorageError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {TOKEN_COLUMNS} {TOKEN_FROM} WHERE t.id = ?1"
        ))?
        .query_row([id], read_token)
        .optional()?)
}

fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

fn insert_user(conn: &Connection, user: &NewUser, now: i64) -> Result<i64, StorageError> {
    match conn.execute(
        "INSERT INTO users (name, created_at, role, password_hash) VALUES (?1, ?2, ?3, ?4)",
        params![user.name, now, user.role.as_str(), user.password_hash],
    ) {
        Ok(_) => {}
        Err(e) if is_constraint(&e) => {
            return Err(StorageError::Exists(format!("user {}", user.name)));
        }
        Err(e) => return Err(e.into()),
    }
    let id = conn.last_insert_rowid();
    add_org_units(conn, id, &user.org_units)?;
    Ok(id)
}

/// Links a user to org units, each of which must be stored.
fn add_org_units(conn: &Connection, user_id: i64, units: &[String]) -> Result<(), StorageError> {
    for code in units {
        let known: bool = conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM org_units WHERE code = ?1)")?
            .query_row([code], |r| r.get(0))?;
        if !known {
            return Err(StorageError::NotFound(format!("org unit {code}")));
        }
        conn.execute(
            "INSERT OR IGNORE INTO user_org_units (user_id, org_code) VALUES (?1, ?2)",
            params![user_id, code],
        )?;
    }
    Ok(())
}

impl AuthStore for SqliteStore {
    fn create_user(&self, name: &str) -> Result<(), StorageError> {
        let conn = lock(&self.writer);
        insert_user(
            &conn,
            &NewUser {
                name: name.to_string(),
                role: Role::Admin,
                org_units: Vec::new(),
                password_hash: None,
            },
            now_ms(),
        )?;
        Ok(())
    }

    fn user_count(&self) -> Result<u64, StorageError> {
        let conn = self.reader();
        let n: i64 = conn.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    fn add_token(
        &self,
        user: &str,
        token_hash: &str,
        label: Option<&str>,
    ) -> Result<TokenInfo, StorageError> {
        let conn = lock(&self.writer);
        let user = user_by_name(&conn, user)?
            .filter(|u| !u.disabled)
            .ok_or_else(|| StorageError::NotFound(format!("user {user}")))?;
        conn.execute(
            "INSERT INTO device_tokens (user_id, token_hash, label, created_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![user.id, token_hash, label, now_ms()],
        )?;
        token_by_id(&conn, conn.last_insert_rowid())?
            .ok_or_else(|| StorageError::Database("the new token is gone".into()))
    }

    fn find_token(&self, token_hash: &str) -> Result<Option<TokenInfo>, StorageError> {
        Ok(match self.lookup_token(token_hash, None)? {
            TokenLookup::Live(t, _) => Some(t),
            TokenLookup::Revoked(_) | TokenLookup::Unknown => None,
        })
    }

    fn list_tokens(&self) -> Result<Vec<TokenInfo>, StorageError> {
        let conn = self.reader();
        let mut stmt = conn.prepare(&format!(
            "SELECT {TOKEN_COLUMNS} {TOKEN_FROM} ORDER BY t.id"
        ))?;
        let rows = stmt
            .query_map([], read_token)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn revoke_token(&self, id: i64) -> Result<(), StorageError> {
        let conn = lock(&self.writer);
        let n = conn.execute(
            "UPDATE device_tokens SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL",
            params![now_ms(), id],
        )?;
        if n == 0 {
            return Err(StorageError::NotFound(format!("live token {id}")));
        }
        Ok(())
    }

    fn add_user(&self, user: &NewUser) -> Result<UserInfo, StorageError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let id = insert_user(&tx, user, now_ms())?;
        let info = user_by_id(&tx, id)?;
        tx.commit()?;
        Ok(info)
    }

    fn user(&self, name: &str) -> Result<Option<UserInfo>, StorageError> {
        user_by_name(&self.reader(), name)
    }

    fn list_users(&self) -> Result<Vec<UserInfo>, StorageError> {
        let conn = self.reader();
        let mut stmt = conn.prepare(&format!("SELECT {USER_COLUMNS} ORDER BY u.name"))?;
        let rows = stmt
            .query_map([], read_user)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn login_subject(
        &self,
        name: &str,
    ) -> Result<Option<(UserInfo, Option<String>)>, StorageError> {
        let conn = self.reader();
        let Some(user) = user_by_name(&conn, name)? else {
            return Ok(None);
        };
        let hash: Option<String> = conn.query_row(
            "SELECT password_hash FROM users WHERE id = ?1",
            [user.id],
            |r| r.get(0),
        )?;
        Ok(Some((user, hash)))
    }

    fn set_password(&self, name: &str, password_hash: Option<&str>) -> Result<(), StorageError> {
        let conn = lock(&self.writer);
        let n = conn.execute(
            "UPDATE users SET password_hash = ?1, locked_until = NULL WHERE name = ?2",
            params![password_hash, name],
        )?;
        if n == 0 {
            return Err(StorageError::NotFound(format!("user {name}")));
        }
        Ok(())
    }

    fn disable_user(&self, name: &str) -> Result<Vec<i64>, StorageError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let user = user_by_name(&tx, name)?
            .ok_or_else(|| StorageError::NotFound(format!("user {name}")))?;
        let now = now_ms();
        tx.execute(
            "UPDATE users SET disabled_at = coalesce(disabled_at, ?1) WHERE id = ?2",
            params![now, user.id],
        )?;
        let revoked = tx
            .prepare(
                "UPDATE device_tokens SET revoked_at = ?1
                 WHERE user_id = ?2 AND revoked_at IS NULL RETURNING id",
            )?
            .query_map(params![now, user.id], |r| r.get(0))?
            .collect::<Result<Vec<i64>, _>>()?;
        tx.execute(
            "UPDATE sessions SET ended_at = ?1 WHERE user_id = ?2 AND ended_at IS NULL",
            params![now, user.id],
        )?;
        tx.commit()?;
        Ok(revoked)
    }

    fn change_user(
        &self,
        name: &str,
        role: Option<Role>,
        org_units: Option<&[String]>,
        enable: bool,
    ) -> Result<UserInfo, StorageError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let user = user_by_name(&tx, name)?
            .ok_or_else(|| StorageError::NotFound(format!("user {name}")))?;
        if let Some(role) = role {
            tx.execute(
                "UPDATE users SET role = ?1 WHERE id = ?2",
                params![role.as_str(), user.id],
            )?;
        }
        if let Some(units) = org_units {
            tx.execute("DELETE FROM user_org_units WHERE user_id = ?1", [user.id])?;
            add_org_units(&tx, user.id, units)?;
        }
        if enable {
            tx.execute(
                "UPDATE users SET disabled_at = NULL, locked_until = NULL WHERE id = ?1",
                [user.id],
            )?;
        }
        let info = user_by_id(&tx, user.id)?;
        tx.commit()?;
        Ok(info)
    }

    fn login_attempt(
        &self,
        user_id: i64,
        now_ms: i64,
        policy: &LockoutPolicy,
    ) -> Result<Result<(), i64>, StorageError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let until: Option<i64> = tx
            .query_row(
                "SELECT locked_until FROM users WHERE id = ?1",
                [user_id],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        if let Some(until) = until.filter(|u| *u > now_ms) {
            return Ok(Err(until));
        }
        let n = failures_in_window(&tx, user_id, now_ms, policy)?;
        if n >= i64::from(policy.failures) {
            let until = lock_out(&tx, user_id, now_ms, policy)?;
            tx.commit()?;
            return Ok(Err(until));
        }
        tx.execute(
            "INSERT INTO login_failures (user_id, at) VALUES (?1, ?2)",
            params![user_id, now_ms],
        )?;
        tx.commit()?;
        Ok(Ok(()))
    }

    fn login_failed(
        &self,
        user_id: i64,
        now_ms: i64,
        policy: &LockoutPolicy,
    ) -> Result<Option<i64>, StorageError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        // The attempt was counted when it was taken.
        let n = failures_in_window(&tx, user_id, now_ms, policy)?;
        let locked = if n >= i64::from(policy.failures) {
            Some(lock_out(&tx, user_id, now_ms, policy)?)
        } else {
            None
        };
        tx.commit()?;
        Ok(locked)
    }

    fn login_succeeded(&self, user_id: i64) -> Result<(), StorageError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM login_failures WHERE user_id = ?1", [user_id])?;
        tx.execute(
            "UPDATE users SET locked_until = NULL WHERE id = ?1",
            [user_id],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn create_session(
        &self,
        user_id: i64,
        session_hash: &str,
        csrf_token: &str,
        expires_at_ms: i64,
    ) -> Result<i64, StorageError> {
        let conn = lock(&self.writer);
        let now = now_ms();
        // Sessions ended or expired a day ago are of no use any more.
        conn.execute(
            "DELETE FROM sessions WHERE coalesce(ended_at, expires_at) < ?1",
            [now - 86_400_000],
        )?;
        conn.execute(
            "INSERT INTO sessions (token_hash, csrf_token, user_id, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![session_hash, csrf_token, user_id, now, expires_at_ms],
        )?;
        Ok(conn.last_insert_rowid())
    }

    fn find_session(
        &self,
        session_hash: &str,
        now_ms: i64,
    ) -> Result<Option<SessionInfo>, StorageError> {
        let conn = self.reader();
        let found: Option<(i64, String, String, i64, i64)> = conn
            .prepare_cached(
                "SELECT s.id, s.token_hash, s.csrf_token, s.user_id, s.expires_at
                 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash = ?1 AND s.ended_at IS NULL AND s.expires_at > ?2
                   AND u.disabled_at IS NULL",
            )?
            .query_row(params![session_hash, now_ms], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()?;
        let Some((id, stored, csrf_token, user_id, expires_at_ms)) = found else {
            return Ok(None);
        };
        if !same_secret(&stored, session_hash) {
            return Ok(None);
        }
        Ok(Some(SessionInfo {
            id,
            user: user_by_id(&conn, user_id)?,
            csrf_token,
            expires_at_ms,
        }))
    }

    fn end_session(&self, session_hash: &str) -> Result<bool, StorageError> {
        let conn = lock(&self.writer);
        let n = conn.execute(
            "UPDATE sessions SET ended_at = ?1 WHERE token_hash = ?2 AND ended_at IS NULL",
            params![now_ms(), session_hash],
        )?;
        Ok(n > 0)
    }

    fn lookup_token(
        &self,
        token_hash: &str,
        app_version: Option<&str>,
    ) -> Result<TokenLookup, StorageError> {
        let (token, stored, user_id, disabled) = {
            let conn = self.reader();
            let found = conn
                .prepare_cached(&format!(
                    "SELECT {TOKEN_COLUMNS}, t.token_hash, u.id, u.disabled_at IS NOT NULL
                     {TOKEN_FROM} WHERE t.token_hash = ?1"
                ))?
                .query_row([token_hash], |r| {
                    Ok((
                        read_token(r)?,
                        r.get::<_, String>(9)?,
                        r.get::<_, i64>(10)?,
                        r.get::<_, bool>(11)?,
                    ))
                })
                .optional()?;
            match found {
                Some(f) => f,
                None => return Ok(TokenLookup::Unknown),
            }
        };
        if !same_secret(&stored, token_hash) {
            return Ok(TokenLookup::Unknown);
        }
        if token.revoked || disabled {
            return Ok(TokenLookup::Revoked(token));
        }
        let user = user_by_id(&self.reader(), user_id)?;
        // Last seen at most once a minute per token (no write per request), and the app
        // version when it changed.
        let now = now_ms();
        let new_version = app_version.filter(|v| token.app_version.as_deref() != Some(*v));
        if new_version.is_some() || token.last_seen_ms.is_none_or(|s| now - s > 60_000) {
            let conn = lock(&self.writer);
            conn.execute(
                "UPDATE device_tokens SET last_seen = ?1,
                     app_version = coalesce(?2, app_version) WHERE id = ?3",
                params![now, new_version, token.id],
            )?;
        }
        Ok(TokenLookup::Live(token, user))
    }

    fn token(&self, id: i64) -> Result<Option<TokenInfo>, StorageError> {
        token_by_id(&self.reader(), id)
    }

    fn add_enrollment_code(
        &self,
        user: &str,
        code_hash: &str,
        issued_by: &str,
        expires_at_ms: i64,
    ) -> Result<EnrollmentCodeInfo, StorageError> {
        let conn = lock(&self.writer);
        let target = user_by_name(&conn, user)?
            .ok_or_else(|| StorageError::NotFound(format!("user {user}")))?;
        let now = now_ms();
        conn.execute(
            "INSERT INTO enrollment_codes (code_hash, user_id, issued_by, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![code_hash, target.id, issued_by, now, expires_at_ms],
        )?;
        Ok(EnrollmentCodeInfo {
            id: conn.last_insert_rowid(),
            user: target.name,
            issued_by: issued_by.to_string(),
            created_at_ms: now,
            expires_at_ms,
            used_at_ms: None,
        })
    }

    fn device_signing_keys(&self, device_id: &str) -> Result<Vec<String>, StorageError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT DISTINCT signing_key FROM device_tokens
             WHERE device_id = ?1 AND signing_key IS NOT NULL ORDER BY signing_key",
        )?;
        let keys = stmt
            .query_map([device_id], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(keys)
    }

    fn enrollment_code(&self, id: i64) -> Result<Option<EnrollmentCodeInfo>, StorageError> {
        let conn = self.reader();
        Ok(conn
            .query_row(
                "SELECT c.id, u.name, c.issued_by, c.created_at, c.expires_at, c.used_at
                 FROM enrollment_codes c JOIN users u ON u.id = c.user_id WHERE c.id = ?1",
                [id],
                |r| {
                    Ok(EnrollmentCodeInfo {
                        id: r.get(0)?,
                        user: r.get(1)?,
                        issued_by: r.get(2)?,
                        created_at_ms: r.get(3)?,
                        expires_at_ms: r.get(4)?,
                        used_at_ms: r.get(5)?,
                    })
                },
            )
            .optional()?)
    }

    fn redeem_enrollment_code(
        &self,
        code_hash: &str,
        now_ms: i64,
        device: &NewDevice,
        retry_window_ms: i64,
    ) -> Result<Redeemed, RedeemError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction().map_err(StorageError::from)?;
        type CodeRow = (i64, String, i64, i64, Option<i64>, Option<i64>);
        let found: Option<CodeRow> = tx
            .query_row(
                "SELECT id, code_hash, user_id, expires_at, used_at, token_id
                 FROM enrollment_codes WHERE code_hash = ?1",
                [code_hash],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )
            .optional()
            .map_err(StorageError::from)?;
        let Some((code_id, stored, user_id, expires_at, used_at, used_by)) = found else {
            return Err(RedeemError::Unknown);
        };
        if !same_secret(&stored, code_hash) {
            return Err(RedeemError::Unknown);
        }
        let user = user_by_id(&tx, user_id)?;
        let mut retry = false;
        if let Some(used_at) = used_at {
            let first = match used_by {
                Some(t) => token_by_id(&tx, t)?,
                None => None,
            };
            let same_device = first
                .as_ref()
                .is_some_and(|t| t.device_id.as_deref() == Some(device.device_id.as_str()));
            if !(same_device && now_ms - used_at <= retry_window_ms) {
                return Err(RedeemError::Used { id: code_id });
            }
            retry = true;
        } else if expires_at <= now_ms {
            return Err(RedeemError::Expired { id: code_id });
        }
        if user.disabled {
            return Err(RedeemError::UserDisabled { id: code_id });
        }
        let replaced = tx
            .prepare(
                "UPDATE device_tokens SET revoked_at = ?1
                 WHERE user_id = ?2 AND device_id = ?3 AND revoked_at IS NULL RETURNING id",
            )
            .map_err(StorageError::from)?
            .query_map(params![now_ms, user_id, device.device_id], |r| r.get(0))
            .map_err(StorageError::from)?
            .collect::<Result<Vec<i64>, _>>()
            .map_err(StorageError::from)?;
        tx.execute(
            "INSERT INTO device_tokens
                 (user_id, token_hash, label, created_at, device_id, app_version, last_seen,
                  signing_key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?4, ?7)",
            params![
                user_id,
                device.token_hash,
                device.label,
                now_ms,
                device.device_id,
                device.app_version,
                device.signing_key
            ],
        )
        .map_err(StorageError::from)?;
        let token_id = tx.last_insert_rowid();
        tx.execute(
            "UPDATE enrollment_codes SET used_at = coalesce(used_at, ?1), token_id = ?2
             WHERE id = ?3",
            params![now_ms, token_id, code_id],
        )
        .map_err(StorageError::from)?;
        let token = token_by_id(&tx, token_id)?
            .ok_or_else(|| StorageError::Database("the new token is gone".into()))?;
        tx.commit().map_err(StorageError::from)?;
        Ok(Redeemed {
            token,
            user,
            code_id,
            replaced,
            retry,
        })
    }
}

fn failures_in_window(
    tx: &rusqlite::Transaction<'_>,
    user_id: i64,
    now_ms: i64,
    policy: &LockoutPolicy,
) -> Result<i64, StorageError> {
    tx.execute(
        "DELETE FROM login_failures WHERE user_id = ?1 AND at <= ?2",
        params![user_id, now_ms - policy.window_ms],
    )?;
    Ok(tx.query_row(
        "SELECT COUNT(*) FROM login_failures WHERE user_id = ?1",
        [user_id],
        |r| r.get(0),
    )?)
}

/// Locks a user out for the policy's time; after it they have the full number of tries.
fn lock_out(
    tx: &rusqlite::Transaction<'_>,
    user_id: i64,
    now_ms: i64,
    policy: &LockoutPolicy,
) -> Result<i64, StorageError> {
    let until = now_ms + policy.lock_ms;
    tx.execute(
        "UPDATE users SET locked_until = ?1 WHERE id = ?2",
        params![until, user_id],
    )?;
    tx.execute("DELETE FROM login_failures WHERE user_id = ?1", [user_id])?;
    Ok(until)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::people::org::OrgUnit;
    use crate::storage::{
        AuditAction, AuditEntry, AuditFilter, AuditLog, AuditOutcome, OrgImportError, OrgStore,
    };

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("db")).unwrap();
        (dir, s)
    }

    fn unit(code: &str, name: &str) -> OrgUnit {
        OrgUnit::new(code, name, None, None).unwrap()
    }

    fn tree(s: &SqliteStore) {
        // Children before parents: the import orders them.
        let units = [
            unit("411321100201", "云阳村"),
            unit("411321100000", "云阳镇"),
            unit("411321000000", "南召县"),
            unit("411300000000", "南阳市"),
            unit("410000000000", "河南省"),
            unit("411321101000", "皇路店镇"),
        ];
        let n = s.import_org_units(&units).unwrap();
        assert_eq!(n.inserted, 6);
    }

    #[test]
    fn users_and_tokens_of_schema_1_become_admins_and_keep_working() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(super::super::migrations::MIGRATIONS[0])
                .unwrap();
            conn.execute_batch(
                "PRAGMA user_version = 1;
                 INSERT INTO users (name, created_at) VALUES ('老张', 1);
                 INSERT INTO device_tokens (user_id, token_hash, label, created_at)
                     VALUES (1, 'h1', 'phone', 2);",
            )
            .unwrap();
        }
        let s = SqliteStore::open(&path).unwrap();
        let u = s.user("老张").unwrap().unwrap();
        assert_eq!(u.role, Role::Admin);
        assert!(u.org_units.is_empty() && !u.has_password && !u.disabled);
        match s.lookup_token("h1", Some("1.0")).unwrap() {
            TokenLookup::Live(t, user) => {
                assert_eq!((t.label.as_deref(), t.device_id), (Some("phone"), None));
                assert_eq!(user.name, "老张");
            }
            other => panic!("{other:?}"),
        }
        let version: i64 = s
            .reader()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, super::super::migrations::MIGRATIONS.len() as i64);
    }

    #[test]
    fn org_units_import_in_any_order_and_subtrees_are_ranges() {
        let (_d, s) = store();
        tree(&s);
        assert_eq!(
            s.org_subtree("411321100000").unwrap(),
            vec!["411321100000", "411321100201"]
        );
        assert_eq!(s.org_subtree("411321000000").unwrap().len(), 4);
        assert_eq!(s.org_units(Some("410000000000")).unwrap().len(), 6);
        assert!(s.org_subtree("bogus").is_err());
        // Upsert: a new name updates, the same is unchanged, all counted.
        let again = s
            .import_org_units(&[
                unit("411321100201", "云阳村委会"),
                unit("410000000000", "河南省"),
            ])
            .unwrap();
        assert_eq!((again.inserted, again.updated, again.unchanged), (0, 1, 1));
        assert_eq!(
            s.org_unit("411321100201").unwrap().unwrap().name,
            "云阳村委会"
        );
        // An orphan fails the whole import and names its place.
        let e = s
            .import_org_units(&[
                unit("411322000000", "方城县"),
                unit("420100000000", "武汉市"),
            ])
            .unwrap_err();
        match e {
            OrgImportError::MissingParent { index, parent, .. } => {
                assert_eq!((index, parent.as_str()), (1, "420000000000"));
            }
            other => panic!("{other}"),
        }
        assert!(
            s.org_unit("411322000000").unwrap().is_none(),
            "all or nothing"
        );
    }

    #[test]
    fn users_have_roles_units_and_lockouts() {
        let (_d, s) = store();
        tree(&s);
        let u = s
            .add_user(&NewUser {
                name: "王审核".into(),
                role: Role::Supervisor,
                org_units: vec!["411321100000".into(), "411321101000".into()],
                password_hash: Some("$argon2id$x".into()),
            })
            .unwrap();
        assert_eq!(u.org_units, vec!["411321100000", "411321101000"]);
        assert!(u.has_password && !u.disabled);
        assert!(u.covers("411321100201") && !u.covers("411322000000"));
        assert!(matches!(
            s.add_user(&NewUser {
                name: "李四".into(),
                role: Role::Inspector,
                org_units: vec!["419999000000".into()],
                password_hash: None,
            }),
            Err(StorageError::NotFound(_))
        ));
        assert!(
            s.user("李四").unwrap().is_none(),
            "nothing of a failed create stays"
        );
        let policy = LockoutPolicy {
            failures: 3,
            window_ms: 1000,
            lock_ms: 5000,
        };
        let fail = |at: i64| {
            assert_eq!(s.login_attempt(u.id, at, &policy).unwrap(), Ok(()));
            s.login_failed(u.id, at, &policy).unwrap()
        };
        assert_eq!(fail(10_000), None);
        // An old failure falls out of the window.
        assert_eq!(fail(12_000), None);
        assert_eq!(fail(12_100), None);
        assert_eq!(fail(12_200), Some(17_200));
        assert_eq!(
            s.user("王审核").unwrap().unwrap().locked_until_ms,
            Some(17_200)
        );
        assert_eq!(s.login_attempt(u.id, 13_000, &policy).unwrap(), Err(17_200));
        s.login_succeeded(u.id).unwrap();
        assert_eq!(s.user("王审核").unwrap().unwrap().locked_until_ms, None);
        // Attempts in flight count before their passwords are checked: the fourth of four
        // at once is refused.
        for at in [20_000, 20_001, 20_002] {
            assert_eq!(s.login_attempt(u.id, at, &policy).unwrap(), Ok(()));
        }
        assert_eq!(s.login_attempt(u.id, 20_003, &policy).unwrap(), Err(25_003));
        s.login_succeeded(u.id).unwrap();
    }

    #[test]
    fn codes_are_single_use_bound_to_a_device_and_retry_safe() {
        let (_d, s) = store();
        s.create_user("张三").unwrap();
        let dev = |hash: &str, id: &str| NewDevice {
            token_hash: hash.into(),
            device_id: id.into(),
            label: Some("phone".into()),
            app_version: Some("1.0".into()),
            signing_key: Some(format!("{id}-key")),
        };
        let c = s
            .add_enrollment_code("张三", "c1", "system", 5_000)
            .unwrap();
        assert!(matches!(
            s.redeem_enrollment_code("nope", 1_000, &dev("t0", "aa"), 600),
            Err(RedeemError::Unknown)
        ));
        let r = s
            .redeem_enrollment_code("c1", 1_000, &dev("t1", "aa"), 600)
            .unwrap();
        assert_eq!((r.code_id, r.retry), (c.id, false));
        assert_eq!(r.token.device_id.as_deref(), Some("aa"));
        assert_eq!(
            r.token.signing_key.as_deref(),
            Some("aa-key"),
            "the key is registered"
        );
        assert!(matches!(
            s.redeem_enrollment_code("c1", 1_100, &dev("t2", "bb"), 600),
            Err(RedeemError::Used { .. })
        ));
        // The same device again, soon: a new token, the first revoked.
        let again = s
            .redeem_enrollment_code("c1", 1_200, &dev("t3", "aa"), 600)
            .unwrap();
        assert!(again.retry);
        assert_eq!(again.replaced, vec![r.token.id]);
        assert!(matches!(
            s.lookup_token("t1", None).unwrap(),
            TokenLookup::Revoked(_)
        ));
        assert!(matches!(
            s.lookup_token("t3", None).unwrap(),
            TokenLookup::Live(..)
        ));
        // ... but not later.
        assert!(matches!(
            s.redeem_enrollment_code("c1", 1_700, &dev("t4", "aa"), 600),
            Err(RedeemError::Used { .. })
        ));
        s.add_enrollment_code("张三", "c2", "system", 5_000)
            .unwrap();
        assert!(matches!(
            s.redeem_enrollment_code("c2", 5_000, &dev("t5", "aa"), 600),
            Err(RedeemError::Expired { .. })
        ));
        // The app version follows the header.
        s.lookup_token("t3", Some("1.1")).unwrap();
        assert_eq!(
            s.token(again.token.id)
                .unwrap()
                .unwrap()
                .app_version
                .as_deref(),
            Some("1.1")
        );
        // Disabling revokes.
        let revoked = s.disable_user("张三").unwrap();
        assert_eq!(revoked, vec![again.token.id]);
        s.add_enrollment_code("张三", "c3", "system", 50_000)
            .unwrap();
        assert!(matches!(
            s.redeem_enrollment_code("c3", 1_000, &dev("t6", "cc"), 600),
            Err(RedeemError::UserDisabled { .. })
        ));
    }

    #[test]
    fn sessions_expire_and_end() {
        let (_d, s) = store();
        s.create_user("admin").unwrap();
        let u = s.user("admin").unwrap().unwrap();
        s.create_session(u.id, "s1", "csrf", 2_000).unwrap();
        assert_eq!(
            s.find_session("s1", 1_000).unwrap().unwrap().csrf_token,
            "csrf"
        );
        assert!(s.find_session("s1", 2_000).unwrap().is_none(), "expired");
        assert!(s.find_session("s2", 1_000).unwrap().is_none());
        assert!(s.end_session("s1").unwrap());
        assert!(s.find_session("s1", 1_000).unwrap().is_none(), "ended");
        assert!(!s.end_session("s1").unwrap());
    }

    #[test]
    fn the_audit_log_filters_newest_first() {
        let (_d, s) = store();
        for (actor, action) in [
            ("a", AuditAction::Login),
            ("b", AuditAction::LoginFailed),
            ("a", AuditAction::Logout),
        ] {
            s.audit(
                &AuditEntry::new(actor, action, AuditOutcome::Ok)
                    .target("t")
                    .detail(serde_json::json!({"n": 1})),
            )
            .unwrap();
        }
        s.audit(&AuditEntry::new("system", AuditAction::UserCreated, AuditOutcome::Ok).target("a"))
            .unwrap();
        let all = s.audit_query(&AuditFilter::default()).unwrap();
        assert_eq!(all.len(), 4);
        assert_eq!(all[0].action, "user_created");
        let a = s
            .audit_query(&AuditFilter {
                user: Some("a".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(a.len(), 3, "as actor and as target");
        let failed = s
            .audit_query(&AuditFilter {
                action: Some(AuditAction::LoginFailed),
                limit: 5,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].detail["n"], 1);
        let none = s
            .audit_query(&AuditFilter {
                since_ms: Some(now_ms() + 60_000),
                ..Default::default()
            })
            .unwrap();
        assert!(none.is_empty());
    }
}
