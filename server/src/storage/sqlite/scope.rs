//! [`ScopeStore`] on SQLite: the `assignments` and `scope_log` tables of migration 3.

use std::collections::BTreeSet;

use jingtu_protocol::{Assignment, AssignmentTarget, PlannedPoint};
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, lock, now_ms};
use crate::storage::StorageError;
use crate::storage::scope::{NewAssignment, RecordPlace, ScopeKey, ScopeStore};

const ASSIGNMENT_COLUMNS: &str = "id, target_kind, target, target_name, kind, org_unit, \
     assignee, due_date, note, assigned_by, assigned_at, removed_at, planned_point";

fn read_assignment(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Assignment, bool)> {
    let kind: String = r.get(1)?;
    Ok((
        Assignment {
            id: r.get(0)?,
            target_kind: AssignmentTarget::parse(&kind).unwrap_or(AssignmentTarget::Village),
            target: r.get(2)?,
            target_name: r.get(3)?,
            kind: r.get(4)?,
            org_unit: r.get(5)?,
            assignee: r.get(6)?,
            due_date: r.get(7)?,
            note: r.get(8)?,
            assigned_by: r.get(9)?,
            assigned_at_ms: r.get(10)?,
            planned_point: r
                .get::<_, Option<String>>(12)?
                .and_then(|j| serde_json::from_str(&j).ok()),
        },
        r.get::<_, Option<i64>>(11)?.is_some(),
    ))
}

/// A record's holders as one JSON array column (of `records r`).
const HOLDERS: &str = "(SELECT json_group_array(h.user) FROM custody_holders h
     WHERE h.record = r.id)";

fn read_place(r: &rusqlite::Row<'_>) -> rusqlite::Result<RecordPlace> {
    Ok(RecordPlace {
        owner: r.get(0)?,
        org_unit: r.get(1)?,
        assignment: r.get(2)?,
        holders: r
            .get::<_, Option<String>>(3)?
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default(),
    })
}

const POINT_COLUMNS: &str = "code, name, lat, lon, land_use, task, org_unit";

fn read_point(r: &rusqlite::Row<'_>) -> rusqlite::Result<PlannedPoint> {
    Ok(PlannedPoint {
        code: r.get(0)?,
        name: r.get(1)?,
        lat: r.get(2)?,
        lon: r.get(3)?,
        land_use: r.get(4)?,
        task: r.get(5)?,
        org_unit: r.get(6)?,
    })
}

/// An assignment by id, and whether it was taken back.
fn find(conn: &rusqlite::Connection, id: &str) -> Result<(Assignment, bool), StorageError> {
    conn.query_row(
        &format!("SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE id = ?1"),
        [id],
        read_assignment,
    )
    .optional()?
    .ok_or_else(|| StorageError::NotFound(format!("assignment {id}")))
}

fn log(
    conn: &rusqlite::Connection,
    user: &str,
    key: &ScopeKey,
    added: bool,
) -> Result<(), StorageError> {
    conn.prepare_cached(
        "INSERT INTO scope_log (user, kind, target, added, at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![user, key.kind(), key.target(), added, now_ms()])?;
    Ok(())
}

fn keys_at(
    conn: &rusqlite::Connection,
    user: &str,
    seq: u64,
) -> Result<BTreeSet<ScopeKey>, StorageError> {
    let mut keys = BTreeSet::new();
    let mut stmt = conn.prepare_cached(
        "SELECT kind, target, added FROM scope_log WHERE user = ?1 AND seq <= ?2 ORDER BY seq",
    )?;
    let mut rows = stmt.query(params![user, seq as i64])?;
    while let Some(row) = rows.next()? {
        let kind: String = row.get(0)?;
        let Some(key) = ScopeKey::from_parts(&kind, row.get(1)?) else {
            continue;
        };
        if row.get::<_, bool>(2)? {
            keys.insert(key);
        } else {
            keys.remove(&key);
        }
    }
    Ok(keys)
}

impl ScopeStore for SqliteStore {
    fn create_assignment(&self, a: &NewAssignment) -> Result<Assignment, StorageError> {
        let mut made = self.create_assignments(std::slice::from_ref(a))?;
        made.pop()
            .ok_or_else(|| StorageError::NotFound("the assignment just made".into()))
    }

    fn create_assignments(&self, all: &[NewAssignment]) -> Result<Vec<Assignment>, StorageError> {
        let at = now_ms();
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let mut made = Vec::with_capacity(all.len());
        for a in all {
            let id = uuid::Uuid::now_v7().to_string();
            tx.prepare_cached(
                "INSERT INTO assignments (id, target_kind, target, target_name, kind, org_unit,
                     assignee, due_date, note, assigned_by, assigned_at, planned_point)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                id,
                a.target_kind.as_str(),
                a.target,
                a.target_name,
                a.kind,
                a.org_unit,
                a.assignee,
                a.due_date,
                a.note,
                a.assigned_by,
                at,
                a.planned_point
                    .as_ref()
                    .and_then(|p| serde_json::to_string(p).ok())
            ])?;
            log(&tx, &a.assignee, &ScopeKey::Assignment(id.clone()), true)?;
            made.push(Assignment {
                id,
                target_kind: a.target_kind,
                target: a.target.clone(),
                target_name: a.target_name.clone(),
                kind: a.kind.clone(),
                org_unit: a.org_unit.clone(),
                assignee: a.assignee.clone(),
                due_date: a.due_date.clone(),
                note: a.note.clone(),
                assigned_by: a.assigned_by.clone(),
                assigned_at_ms: at,
                planned_point: a.planned_point.clone(),
            });
        }
        tx.commit()?;
        Ok(made)
    }

    fn remove_assignment(&self, id: &str) -> Result<Assignment, StorageError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let (a, removed) = find(&tx, id)?;
        if !removed {
            tx.execute(
                "UPDATE assignments SET removed_at = ?2 WHERE id = ?1",
                params![id, now_ms()],
            )?;
            log(&tx, &a.assignee, &ScopeKey::Assignment(a.id.clone()), false)?;
        }
        tx.commit()?;
        Ok(a)
    }

    fn reassign(&self, id: &str, assignee: &str) -> Result<Assignment, StorageError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let (mut a, removed) = find(&tx, id)?;
        if removed {
            return Err(StorageError::NotFound(format!("live assignment {id}")));
        }
        if a.assignee != assignee {
            tx.execute(
                "UPDATE assignments SET assignee = ?2 WHERE id = ?1",
                params![id, assignee],
            )?;
            let key = ScopeKey::Assignment(a.id.clone());
            log(&tx, &a.assignee, &key, false)?;
            log(&tx, assignee, &key, true)?;
            a.assignee = assignee.to_string();
        }
        tx.commit()?;
        Ok(a)
    }

    fn assignment(&self, id: &str) -> Result<Option<(Assignment, bool)>, StorageError> {
        let conn = self.reader();
        Ok(conn
            .query_row(
                &format!("SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE id = ?1"),
                [id],
                read_assignment,
            )
            .optional()?)
    }

    fn list_assignments(
        &self,
        assignee: Option<&str>,
        include_removed: bool,
    ) -> Result<Vec<Assignment>, StorageError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM assignments
             WHERE (?1 IS NULL OR assignee = ?1) AND (?2 OR removed_at IS NULL)
             ORDER BY due_date IS NULL, due_date, assigned_at, id"
        ))?;
        let rows = stmt
            .query_map(params![assignee, include_removed], read_assignment)?
            .map(|r| r.map(|(a, _)| a))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn sync_org_keys(&self, user: &str, orgs: &[String]) -> Result<(), StorageError> {
        let want: BTreeSet<ScopeKey> = orgs.iter().cloned().map(ScopeKey::Org).collect();
        // Read first: nearly always nothing changed, and then nothing is written.
        let have: BTreeSet<ScopeKey> = {
            let conn = self.reader();
            keys_at(&conn, user, i64::MAX as u64)?
                .into_iter()
                .filter(|k| matches!(k, ScopeKey::Org(_)))
                .collect()
        };
        if have == want {
            return Ok(());
        }
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let have: BTreeSet<ScopeKey> = keys_at(&tx, user, i64::MAX as u64)?
            .into_iter()
            .filter(|k| matches!(k, ScopeKey::Org(_)))
            .collect();
        for gone in have.difference(&want) {
            log(&tx, user, gone, false)?;
        }
        for new in want.difference(&have) {
            log(&tx, user, new, true)?;
        }
        tx.commit()?;
        Ok(())
    }

    fn scope_seq(&self, user: &str) -> Result<u64, StorageError> {
        let conn = self.reader();
        let n: i64 = conn
            .prepare_cached("SELECT coalesce(MAX(seq), 0) FROM scope_log WHERE user = ?1")?
            .query_row([user], |r| r.get(0))?;
        Ok(n as u64)
    }

    fn scope_keys_at(&self, user: &str, seq: u64) -> Result<BTreeSet<ScopeKey>, StorageError> {
        let conn = self.reader();
        keys_at(&conn, user, seq)
    }

    fn records_for_keys(
        &self,
        keys: &[ScopeKey],
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        let assignments: Vec<&str> = keys
            .iter()
            .filter_map(|k| match k {
                ScopeKey::Assignment(a) => Some(a.as_str()),
                ScopeKey::Org(_) | ScopeKey::Custody(_) => None,
            })
            .collect();
        let held: Vec<&str> = keys
            .iter()
            .filter_map(|k| match k {
                ScopeKey::Custody(r) => Some(r.as_str()),
                _ => None,
            })
            .collect();
        let prefixes: Vec<&str> = keys
            .iter()
            .filter_map(|k| match k {
                ScopeKey::Org(code) => crate::people::org::prefix_of(code).ok(),
                ScopeKey::Assignment(_) | ScopeKey::Custody(_) => None,
            })
            .collect();
        if assignments.is_empty() && prefixes.is_empty() && held.is_empty() {
            return Ok(Vec::new());
        }
        let json = |v: &[&str]| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT id FROM records r
             WHERE id > ?1
               AND (assignment IN (SELECT value FROM json_each(?2))
                    OR EXISTS (SELECT 1 FROM json_each(?3) p
                               WHERE substr(r.org_unit, 1, length(p.value)) = p.value)
                    OR id IN (SELECT value FROM json_each(?5)))
             ORDER BY id LIMIT ?4",
        )?;
        let ids = stmt
            .query_map(
                params![
                    after.unwrap_or(""),
                    json(&assignments),
                    json(&prefixes),
                    limit as i64,
                    json(&held)
                ],
                |r| r.get(0),
            )?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(ids)
    }

    fn photo_places(&self, sha256: &str) -> Result<Vec<RecordPlace>, StorageError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT r.owner, r.org_unit, r.assignment, {HOLDERS} FROM record_photos p
                 JOIN records r ON r.id = p.record_id WHERE p.sha256 = ?1"
        ))?;
        let places = stmt
            .query_map([sha256], read_place)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(places)
    }

    fn import_planned_points(
        &self,
        points: &[PlannedPoint],
    ) -> Result<(usize, usize), StorageError> {
        let at = now_ms();
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let (mut new, mut replaced) = (0, 0);
        {
            let mut exists = tx.prepare_cached("SELECT 1 FROM planned_points WHERE code = ?1")?;
            let mut put = tx.prepare_cached(
                "INSERT OR REPLACE INTO planned_points
                     (code, name, lat, lon, land_use, task, org_unit, imported_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for p in points {
                if exists.exists([&p.code])? {
                    replaced += 1;
                } else {
                    new += 1;
                }
                put.execute(params![
                    p.code, p.name, p.lat, p.lon, p.land_use, p.task, p.org_unit, at
                ])?;
            }
        }
        tx.commit()?;
        Ok((new, replaced))
    }

    fn planned_point(&self, code: &str) -> Result<Option<PlannedPoint>, StorageError> {
        let conn = self.reader();
        Ok(conn
            .prepare_cached(&format!(
                "SELECT {POINT_COLUMNS} FROM planned_points WHERE code = ?1"
            ))?
            .query_row([code], read_point)
            .optional()?)
    }

    fn planned_points(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<PlannedPoint>, StorageError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {POINT_COLUMNS} FROM planned_points
             WHERE (?1 IS NULL OR substr(org_unit, 1, length(?1)) = ?1)
               AND (?2 IS NULL OR code > ?2)
             ORDER BY code LIMIT ?3"
        ))?;
        let rows = stmt
            .query_map(params![prefix, after, limit as i64], read_point)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn record_place(&self, id: &str) -> Result<Option<RecordPlace>, StorageError> {
        let conn = self.reader();
        Ok(conn
            .prepare_cached(&format!(
                "SELECT owner, org_unit, assignment, {HOLDERS} FROM records r WHERE id = ?1"
            ))?
            .query_row([id], read_place)
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::scope::ReadScope;
    use crate::storage::{NewChunk, RecordStore};

    fn chunk(record: &str, owner: &str, org: Option<&str>, assignment: Option<&str>) -> NewChunk {
        NewChunk {
            record: record.into(),
            bytes: record.as_bytes().to_vec(),
            kind: "soil_sample".into(),
            org_unit: org.map(str::to_string),
            assignment: assignment.map(str::to_string),
            owner: owner.into(),
            photos: vec![format!("sha-{record}")],
            base: None,
            index: None,
        }
    }

    fn assignment_for(user: &str) -> NewAssignment {
        NewAssignment {
            target_kind: AssignmentTarget::SamplingPoint,
            target: "P-17".into(),
            target_name: "17号点位".into(),
            kind: "soil_sample".into(),
            org_unit: "411321104000".into(),
            assignee: user.into(),
            due_date: Some("2024-06-30".into()),
            note: None,
            assigned_by: "sup".into(),
            planned_point: None,
        }
    }

    fn records(page: &crate::storage::FeedPage) -> Vec<&str> {
        page.chunks.iter().map(|c| c.record.as_str()).collect()
    }

    #[test]
    fn the_feed_holds_only_what_the_scope_takes_in() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("db")).unwrap();
        let a = s.create_assignment(&assignment_for("ann")).unwrap();
        s.commit_chunks(
            "dev-x",
            &[
                chunk("r-ann", "ann", Some("411321104001"), None),
                chunk("r-bob", "bob", Some("411321105001"), None),
                chunk("r-asg", "sup", Some("411321104002"), Some(&a.id)),
                chunk("r-far", "cat", Some("410100000001"), None),
            ],
        )
        .unwrap();
        let ann = ReadScope::Limited {
            user: "ann".into(),
            assignments: vec![a.id.clone()],
            org_prefixes: vec![],
        };
        let page = s.feed_after(0, "dev-a", &ann, 1 << 20).unwrap();
        assert_eq!(records(&page), ["r-ann", "r-asg"]);
        assert_eq!(page.cursor, 4, "the cursor passes what is out of scope");
        let county = ReadScope::Limited {
            user: "sup".into(),
            assignments: vec![],
            org_prefixes: vec!["411321".into()],
        };
        let page = s.feed_after(0, "dev-s", &county, 1 << 20).unwrap();
        assert_eq!(records(&page), ["r-ann", "r-bob", "r-asg"]);
        let page = s.feed_after(0, "dev-s", &ReadScope::All, 1 << 20).unwrap();
        assert_eq!(page.chunks.len(), 4);

        let place = s.record_place("r-asg").unwrap().unwrap();
        assert_eq!(place.owner.as_deref(), Some("sup"));
        assert_eq!(place.assignment.as_deref(), Some(a.id.as_str()));
        // A later push by someone else does not change the owner.
        let later = NewChunk {
            base: Some(3),
            index: None,
            ..chunk("r-asg", "ann", None, None)
        };
        assert_eq!(
            s.commit_chunks("dev-y", &[later]).unwrap(),
            [crate::storage::Commit::Stored(5)]
        );
        assert_eq!(
            s.record_place("r-asg").unwrap().unwrap().owner.as_deref(),
            Some("sup")
        );
        assert_eq!(s.record_place("nope").unwrap(), None);
    }

    #[test]
    fn the_scope_log_tells_what_entered_and_left() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("db")).unwrap();
        assert_eq!(s.scope_seq("ann").unwrap(), 0);
        let a1 = s.create_assignment(&assignment_for("ann")).unwrap();
        let after_a1 = s.scope_seq("ann").unwrap();
        let a2 = s.create_assignment(&assignment_for("ann")).unwrap();
        s.create_assignment(&assignment_for("bob")).unwrap();
        s.remove_assignment(&a1.id).unwrap();
        s.remove_assignment(&a1.id).unwrap(); // taken back once only
        let now = s.scope_seq("ann").unwrap();
        assert!(now > after_a1);
        assert_eq!(
            s.scope_keys_at("ann", after_a1).unwrap(),
            BTreeSet::from([ScopeKey::Assignment(a1.id.clone())])
        );
        assert_eq!(
            s.scope_keys_at("ann", now).unwrap(),
            BTreeSet::from([ScopeKey::Assignment(a2.id.clone())])
        );
        assert_eq!(
            s.list_assignments(Some("ann"), false).unwrap(),
            vec![a2.clone()]
        );
        assert_eq!(s.list_assignments(Some("ann"), true).unwrap().len(), 2);
        assert!(s.assignment(&a1.id).unwrap().unwrap().1, "taken back");
        assert!(matches!(
            s.remove_assignment("nope"),
            Err(StorageError::NotFound(_))
        ));

        // Org keys follow the user's org units, logged only when they change.
        s.sync_org_keys("sup", &["411321000000".into()]).unwrap();
        let first = s.scope_seq("sup").unwrap();
        s.sync_org_keys("sup", &["411321000000".into()]).unwrap();
        assert_eq!(
            s.scope_seq("sup").unwrap(),
            first,
            "nothing changed, nothing logged"
        );
        s.sync_org_keys("sup", &["411322000000".into()]).unwrap();
        assert_eq!(
            s.scope_keys_at("sup", s.scope_seq("sup").unwrap()).unwrap(),
            BTreeSet::from([ScopeKey::Org("411322000000".into())])
        );

        s.commit_chunks(
            "d",
            &[
                chunk("r1", "x", Some("411321104001"), None),
                chunk("r2", "x", None, Some(&a2.id)),
                chunk("r3", "x", Some("411322001001"), None),
            ],
        )
        .unwrap();
        let keys = [
            ScopeKey::Assignment(a2.id.clone()),
            ScopeKey::Org("411321000000".into()),
        ];
        assert_eq!(s.records_for_keys(&keys, None, 10).unwrap(), ["r1", "r2"]);
        assert_eq!(s.records_for_keys(&keys, Some("r1"), 10).unwrap(), ["r2"]);
        assert_eq!(s.records_for_keys(&keys, None, 1).unwrap(), ["r1"]);
        assert!(s.records_for_keys(&[], None, 10).unwrap().is_empty());
    }
}
