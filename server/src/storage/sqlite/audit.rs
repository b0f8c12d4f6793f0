//! The audit log in the embedded SQLite store.

use jingtu_protocol::AuditRecord;
use rusqlite::{ToSql, params};

use super::{SqliteStore, lock, now_ms};
use crate::storage::{AuditEntry, AuditFilter, AuditLog, StorageError};

impl AuditLog for SqliteStore {
    fn audit(&self, entry: &AuditEntry) -> Result<(), StorageError> {
        let conn = lock(&self.writer);
        conn.prepare_cached(
            "INSERT INTO audit_log
                 (at, actor, device, device_id, remote_addr, action, target, outcome, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            now_ms(),
            entry.actor,
            entry.device,
            entry.device_id,
            entry.remote_addr,
            entry.action.as_str(),
            entry.target,
            entry.outcome.as_str(),
            entry.detail.to_string()
        ])?;
        Ok(())
    }

    fn audit_query(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StorageError> {
        let mut sql = String::from(
            "SELECT id, at, actor, device, device_id, remote_addr, action, target, outcome, detail
             FROM audit_log WHERE 1",
        );
        let mut args: Vec<Box<dyn ToSql>> = Vec::new();
        if let Some(user) = &filter.user {
            args.push(Box::new(user.clone()));
            let n = args.len();
            sql.push_str(&format!(" AND (actor = ?{n} OR target = ?{n})"));
        }
        if let Some(action) = filter.action {
            args.push(Box::new(action.as_str()));
            sql.push_str(&format!(" AND action = ?{}", args.len()));
        }
        if let Some(since) = filter.since_ms {
            args.push(Box::new(since));
            sql.push_str(&format!(" AND at >= ?{}", args.len()));
        }
        let limit = if filter.limit == 0 { 100 } else { filter.limit };
        args.push(Box::new(i64::from(limit)));
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ?{}", args.len()));
        let conn = self.reader();
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                let detail: String = r.get(9)?;
                Ok(AuditRecord {
                    id: r.get(0)?,
                    at_ms: r.get(1)?,
                    actor: r.get(2)?,
                    device: r.get(3)?,
                    device_id: r.get(4)?,
                    remote_addr: r.get(5)?,
                    action: r.get(6)?,
                    target: r.get(7)?,
                    outcome: r.get(8)?,
                    detail: serde_json::from_str(&detail)
                        .unwrap_or(serde_json::Value::String(detail)),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}
