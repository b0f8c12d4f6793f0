//! The review queue in the embedded SQLite store: the index columns of `records`, written
//! with every commit, read with the same scope rule as the feed, a page at a time (keyset
//! paging, newest change first) with counts per status.

use jingtu_doc::Status;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Transaction, params};

use super::SqliteStore;
use crate::storage::scope::ReadScope;
use crate::storage::{
    LabSampleIndex, LabSampleRow, QueueFilter, QueueKey, QueuePage, QueueRow, RecordIndex,
    StorageError,
};

/// The largest page served.
pub(crate) const MAX_PAGE: u32 = 200;

/// The scope as the SQL of the feed and the queue takes it: everything, or the user's own
/// records, those of their assignments and those within their org units' code prefixes.
pub(super) fn scope_params(scope: &ReadScope) -> (bool, String, String, String) {
    match scope {
        ReadScope::All => (true, String::new(), "[]".to_string(), "[]".to_string()),
        ReadScope::Limited {
            user,
            assignments,
            org_prefixes,
        } => (
            false,
            user.clone(),
            serde_json::to_string(assignments).unwrap_or_else(|_| "[]".into()),
            serde_json::to_string(org_prefixes).unwrap_or_else(|_| "[]".into()),
        ),
    }
}

/// Writes a record's index columns.
pub(super) fn write_index(
    tx: &Transaction<'_>,
    id: &str,
    index: &RecordIndex,
) -> Result<(), StorageError> {
    tx.prepare_cached(
        "UPDATE records SET status = ?2, name = ?3, village = ?4, author = ?5,
             submitted_at = ?6
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        index.status.as_str(),
        index.name,
        index.village,
        index.author,
        index.submitted_at_ms
    ])?;
    for l in &index.lab_samples {
        tx.prepare_cached(
            "INSERT INTO lab_samples (blind_code, record, lab, handed_in_at, entered)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT DO UPDATE SET lab = excluded.lab,
                 handed_in_at = excluded.handed_in_at, entered = excluded.entered",
        )?
        .execute(params![
            l.blind_code,
            id,
            l.lab,
            l.handed_in_at_ms,
            l.entered
        ])?;
    }
    for name in &index.custody_to {
        // A new holder: the record enters their scope (sent whole at their next sync).
        let added = tx
            .prepare_cached(
                "INSERT INTO custody_holders (user, record)
                 SELECT name, ?2 FROM users WHERE name = ?1
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![name, id])?;
        if added > 0 {
            tx.prepare_cached(
                "INSERT INTO scope_log (user, kind, target, added, at)
                 VALUES (?1, 'custody', ?2, 1, ?3)",
            )?
            .execute(params![name, id, super::now_ms()])?;
        }
    }
    Ok(())
}

/// The lab's list: hand-ins of records within the prefixes, newest first.
pub(super) fn lab_samples(
    store: &SqliteStore,
    org_prefixes: Option<&[String]>,
    blind_code: Option<&str>,
    limit: u32,
) -> Result<Vec<LabSampleRow>, StorageError> {
    let conn = store.reader();
    let prefixes =
        serde_json::to_string(&org_prefixes.unwrap_or_default()).unwrap_or_else(|_| "[]".into());
    let mut stmt = conn.prepare_cached(
        "SELECT l.blind_code, l.record, l.lab, l.handed_in_at, l.entered, r.org_unit
         FROM lab_samples l JOIN records r ON r.id = l.record
         WHERE (?1 OR EXISTS (SELECT 1 FROM json_each(?2) p
                              WHERE substr(coalesce(r.org_unit, ''), 1, length(p.value))
                                    = p.value))
           AND (?3 IS NULL OR l.blind_code = ?3)
         ORDER BY l.handed_in_at DESC, l.blind_code LIMIT ?4",
    )?;
    let rows = stmt.query_map(
        params![
            org_prefixes.is_none(),
            prefixes,
            blind_code,
            limit.min(MAX_PAGE)
        ],
        |r| {
            Ok(LabSampleRow {
                record: r.get(1)?,
                org_unit: r.get(5)?,
                sample: LabSampleIndex {
                    blind_code: r.get(0)?,
                    lab: r.get(2)?,
                    handed_in_at_ms: r.get(3)?,
                    entered: r.get(4)?,
                },
            })
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// `LIKE` text matching `part` anywhere, with its wildcards taken literally.
fn contains(part: &str) -> String {
    let escaped = part
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// The conditions of a filter (less status and page) and their arguments, after the four
/// scope arguments ?1..?4.
fn conditions(filter: &QueueFilter) -> (String, Vec<SqlValue>) {
    let mut sql = String::from(
        "r.status IS NOT NULL
         AND (?1 OR r.owner = ?2
              OR r.assignment IN (SELECT value FROM json_each(?3))
              OR r.id IN (SELECT record FROM custody_holders WHERE user = ?2)
              OR EXISTS (SELECT 1 FROM json_each(?4) p
                         WHERE substr(r.org_unit, 1, length(p.value)) = p.value))",
    );
    let mut args: Vec<SqlValue> = Vec::new();
    let mut arg = |sql: &mut String, clause: &str, v: SqlValue| {
        args.push(v);
        let n = args.len() + 4;
        sql.push_str(&clause.replace("?N", &format!("?{n}")));
    };
    if let Some(k) = &filter.kind {
        arg(&mut sql, " AND r.kind = ?N", SqlValue::Text(k.clone()));
    }
    if let Some(o) = &filter.org_unit {
        let prefix = crate::people::org::prefix_of(o).unwrap_or(o).to_string();
        arg(
            &mut sql,
            " AND substr(r.org_unit, 1, length(?N)) = ?N",
            SqlValue::Text(prefix),
        );
    }
    if let Some(v) = &filter.village {
        arg(
            &mut sql,
            " AND r.village LIKE ?N ESCAPE '\\'",
            SqlValue::Text(contains(v)),
        );
    }
    if let Some(t) = filter.from_ms {
        arg(&mut sql, " AND r.updated_at >= ?N", SqlValue::Integer(t));
    }
    if let Some(t) = filter.to_ms {
        arg(&mut sql, " AND r.updated_at < ?N", SqlValue::Integer(t));
    }
    if let Some(a) = &filter.assignee {
        arg(
            &mut sql,
            " AND r.assignment IN (SELECT id FROM assignments WHERE assignee = ?N)",
            SqlValue::Text(a.clone()),
        );
    }
    if let Some(t) = filter
        .text
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        arg(
            &mut sql,
            " AND (r.name LIKE ?N ESCAPE '\\' OR r.village LIKE ?N ESCAPE '\\'",
            SqlValue::Text(contains(t)),
        );
        arg(
            &mut sql,
            " OR substr(r.id, 1, length(?N)) = ?N)",
            SqlValue::Text(t.to_ascii_lowercase()),
        );
    }
    (sql, args)
}

fn status_of(s: &str) -> rusqlite::Result<Status> {
    Status::parse(s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown status {s}").into(),
        )
    })
}

/// Does the filter narrow by org unit and kind only (besides status and page), so that the
/// counts kept per org unit and kind answer it?
fn by_unit_and_kind(f: &QueueFilter) -> bool {
    f.village.is_none()
        && f.from_ms.is_none()
        && f.to_ms.is_none()
        && f.assignee.is_none()
        && f.text.as_deref().is_none_or(|t| t.trim().is_empty())
}

/// Counts per status from `sql` (`SELECT status, count ...`), in status order.
fn counted(
    conn: &rusqlite::Connection,
    sql: &str,
    args: &[SqlValue],
) -> Result<Vec<(Status, u64)>, StorageError> {
    let mut counts = Vec::new();
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(args.iter()))?;
    while let Some(row) = rows.next()? {
        let s: String = row.get(0)?;
        let n = row.get::<_, i64>(1)?.max(0) as u64;
        if n > 0 {
            counts.push((status_of(&s)?, n));
        }
    }
    counts.sort_by_key(|(s, _)| *s as u8);
    Ok(counts)
}

/// The counts per status from `queue_counts` (kept by triggers per org unit and kind): the
/// units within the scope's org prefixes, plus the scope's records outside them (its user's
/// own and its assignments', read by their indexes), narrowed by the filter's kind and org
/// unit. `scope` are the scope's four arguments.
fn kept_counts(
    conn: &rusqlite::Connection,
    scope: &[SqlValue],
    filter: &QueueFilter,
) -> Result<Vec<(Status, u64)>, StorageError> {
    let in_prefixes = |col: &str| {
        format!(
            "EXISTS (SELECT 1 FROM json_each(?4) p
                     WHERE substr({col}, 1, length(p.value)) = p.value)"
        )
    };
    let mut args = scope.to_vec();
    let (mut narrow_counts, mut narrow_records) = (String::new(), String::new());
    if let Some(k) = &filter.kind {
        args.push(SqlValue::Text(k.clone()));
        let n = args.len();
        narrow_counts.push_str(&format!(" AND c.kind = ?{n}"));
        narrow_records.push_str(&format!(" AND r.kind = ?{n}"));
    }
    if let Some(o) = &filter.org_unit {
        args.push(SqlValue::Text(
            crate::people::org::prefix_of(o).unwrap_or(o).to_string(),
        ));
        let n = args.len();
        narrow_counts.push_str(&format!(" AND substr(c.org_unit, 1, length(?{n})) = ?{n}"));
        narrow_records.push_str(&format!(" AND substr(r.org_unit, 1, length(?{n})) = ?{n}"));
    }
    let mut counts = counted(
        conn,
        &format!(
            "SELECT c.status, SUM(c.n) FROM queue_counts c
             WHERE (?1 OR {}){narrow_counts} GROUP BY c.status",
            in_prefixes("c.org_unit")
        ),
        &args,
    )?;
    let outside = counted(
        conn,
        &format!(
            "SELECT r.status, COUNT(*) FROM records r
             WHERE NOT ?1 AND r.status IS NOT NULL
               AND (r.owner = ?2 OR r.assignment IN (SELECT value FROM json_each(?3))
                    OR r.id IN (SELECT record FROM custody_holders WHERE user = ?2))
               AND NOT {}{narrow_records} GROUP BY r.status",
            in_prefixes("coalesce(r.org_unit, '')")
        ),
        &args,
    )?;
    for (status, n) in outside {
        match counts.iter_mut().find(|(s, _)| *s == status) {
            Some((_, m)) => *m += n,
            None => counts.push((status, n)),
        }
    }
    counts.sort_by_key(|(s, _)| *s as u8);
    Ok(counts)
}

pub(super) fn queue(
    store: &SqliteStore,
    scope: &ReadScope,
    filter: &QueueFilter,
) -> Result<QueuePage, StorageError> {
    let (all, user, assignments, prefixes) = scope_params(scope);
    let (where_sql, args) = conditions(filter);
    let mut base: Vec<SqlValue> = vec![
        SqlValue::Integer(i64::from(all)),
        SqlValue::Text(user),
        SqlValue::Text(assignments),
        SqlValue::Text(prefixes),
    ];
    base.extend(args);
    let conn = store.reader();

    let counts = if filter.without_counts {
        Vec::new()
    } else if by_unit_and_kind(filter) {
        kept_counts(&conn, &base[..4], filter)?
    } else {
        counted(
            &conn,
            &format!(
                "SELECT r.status, COUNT(*) FROM records r WHERE {where_sql} GROUP BY r.status"
            ),
            &base,
        )?
    };

    let mut sql = format!(
        "SELECT r.id, r.kind, r.org_unit, r.assignment, r.status, r.name, r.village, r.author,
                r.submitted_at, r.updated_at
         FROM records r WHERE {where_sql}"
    );
    let mut args = base;
    if let Some(s) = filter.status {
        args.push(SqlValue::Text(s.as_str().into()));
        sql.push_str(&format!(" AND r.status = ?{}", args.len()));
    }
    if let Some(k) = &filter.after {
        args.push(SqlValue::Integer(k.updated_at_ms));
        let t = args.len();
        args.push(SqlValue::Text(k.id.clone()));
        let i = args.len();
        sql.push_str(&format!(
            " AND (r.updated_at < ?{t} OR (r.updated_at = ?{t} AND r.id < ?{i}))"
        ));
    }
    let limit = filter.limit.clamp(1, MAX_PAGE);
    // One more than the page, to know whether another follows.
    args.push(SqlValue::Integer(i64::from(limit) + 1));
    sql.push_str(&format!(
        " ORDER BY r.updated_at DESC, r.id DESC LIMIT ?{}",
        args.len()
    ));
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt
        .query_map(rusqlite::params_from_iter(args.iter()), |r| {
            let status: String = r.get(4)?;
            Ok(QueueRow {
                id: r.get(0)?,
                kind: r.get(1)?,
                org_unit: r.get(2)?,
                assignment: r.get(3)?,
                status: status_of(&status)?,
                name: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
                village: r.get(6)?,
                author: r.get::<_, Option<String>>(7)?.unwrap_or_default(),
                submitted_at_ms: r.get(8)?,
                updated_at_ms: r.get(9)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let next = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|r| QueueKey {
            updated_at_ms: r.updated_at_ms,
            id: r.id.clone(),
        })
    } else {
        None
    };
    Ok(QueuePage { rows, next, counts })
}

pub(super) fn unindexed(store: &SqliteStore, limit: u32) -> Result<Vec<String>, StorageError> {
    let conn = store.reader();
    let mut stmt =
        conn.prepare_cached("SELECT id FROM records WHERE status IS NULL ORDER BY id LIMIT ?1")?;
    let ids = stmt
        .query_map([i64::from(limit)], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(ids)
}
