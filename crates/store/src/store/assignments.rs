//! The user's assignments, as the server sent them.

use rusqlite::params;

use super::{Store, lock};
use crate::StoreError;

/// An assignment as the device keeps it: the server's JSON, with what lists need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAssignment {
    pub id: String,
    pub kind: String,
    pub due_date: Option<String>,
    pub body: String,
}

impl Store {
    /// Replaces the assignments held by the ones the server sent.
    pub fn set_assignments(&self, list: &[StoredAssignment]) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM assignments", [])?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO assignments (id, kind, due_date, body, received_at)
                 VALUES (?1, ?2, ?3, ?4, unixepoch('subsec') * 1000)",
            )?;
            for a in list {
                insert.execute(params![a.id, a.kind, a.due_date, a.body])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The assignments held, by due date (those without one last), then id.
    pub fn assignments(&self) -> Result<Vec<StoredAssignment>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(
            "SELECT id, kind, due_date, body FROM assignments
             ORDER BY due_date IS NULL, due_date, id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(StoredAssignment {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    due_date: r.get(2)?,
                    body: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}
