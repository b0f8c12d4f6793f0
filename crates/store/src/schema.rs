//! The store's SQL schema and its versioned migrations (`PRAGMA user_version`).

use rusqlite::Connection;

use crate::StoreError;

/// One migration per version step; `MIGRATIONS[n]` upgrades from version `n` to `n + 1`.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1: records, their change chunks, device settings.
    "CREATE TABLE settings (
         key   TEXT PRIMARY KEY,
         value TEXT NOT NULL
     ) STRICT;
     CREATE TABLE records (
         id               TEXT PRIMARY KEY,
         kind             TEXT NOT NULL,
         template_version INTEGER NOT NULL,
         name             TEXT NOT NULL DEFAULT '',
         status           TEXT NOT NULL,
         org_unit         TEXT,
         village          TEXT,
         planned_point    TEXT,
         created_at       INTEGER NOT NULL,
         updated_at       INTEGER NOT NULL,
         completion_pct   REAL NOT NULL DEFAULT 0,
         error_count      INTEGER NOT NULL DEFAULT 0,
         warning_count    INTEGER NOT NULL DEFAULT 0,
         conflict_count   INTEGER NOT NULL DEFAULT 0
     ) STRICT;
     CREATE INDEX records_kind ON records(kind, updated_at DESC);
     CREATE INDEX records_status ON records(status, updated_at DESC);
     CREATE INDEX records_org_unit ON records(org_unit, updated_at DESC);
     CREATE INDEX records_village ON records(village, updated_at DESC);
     CREATE INDEX records_updated ON records(updated_at DESC);
     CREATE TABLE chunks (
         record_id TEXT NOT NULL REFERENCES records(id) ON DELETE CASCADE,
         seq       INTEGER NOT NULL,
         snapshot  INTEGER NOT NULL DEFAULT 0,
         bytes     BLOB NOT NULL,
         PRIMARY KEY (record_id, seq)
     ) STRICT, WITHOUT ROWID;",
    // 1 -> 2: evidence photos (content-addressed blobs) and which record entries use them.
    "CREATE TABLE photos (
         sha256      TEXT PRIMARY KEY,
         bytes       BLOB,
         thumb       BLOB,
         width       INTEGER NOT NULL,
         height      INTEGER NOT NULL,
         size        INTEGER NOT NULL,
         added_at    INTEGER NOT NULL
     ) STRICT;
     CREATE TABLE photo_refs (
         record_id TEXT NOT NULL REFERENCES records(id) ON DELETE CASCADE,
         photo_id  TEXT NOT NULL,
         sha256    TEXT NOT NULL,
         PRIMARY KEY (record_id, photo_id)
     ) STRICT, WITHOUT ROWID;
     CREATE INDEX photo_refs_sha256 ON photo_refs(sha256);",
    // 2 -> 3: sync state. `dirty`: changes the server has not confirmed; `edit_seq` counts local
    // writes (a push confirms only the writes it carried); `synced_heads`: the Automerge heads
    // the server confirmed (concatenated 32-byte hashes). Photos: uploaded to the server.
    "ALTER TABLE records ADD COLUMN dirty INTEGER NOT NULL DEFAULT 1;
     ALTER TABLE records ADD COLUMN edit_seq INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE records ADD COLUMN synced_heads BLOB;
     CREATE INDEX records_dirty ON records(dirty) WHERE dirty = 1;
     ALTER TABLE photos ADD COLUMN uploaded INTEGER NOT NULL DEFAULT 0;",
    // 3 -> 4: the user's assignments as the server sent them (read-only here); edits the
    // server refused, kept with the rule, the path and the record as it was, never dropped;
    // `held`: a record the server refused whole waits for a local edit before it is pushed
    // again; `parked`: received changes of records whose template this app does not know yet.
    "CREATE TABLE assignments (
         id          TEXT PRIMARY KEY,
         kind        TEXT NOT NULL,
         due_date    TEXT,
         body        TEXT NOT NULL,
         received_at INTEGER NOT NULL
     ) STRICT;
     CREATE TABLE refused_edits (
         id           INTEGER PRIMARY KEY,
         record_id    TEXT NOT NULL,
         code         TEXT NOT NULL,
         rule         TEXT,
         path         TEXT,
         message      TEXT NOT NULL,
         refused_at   INTEGER NOT NULL,
         local_json   TEXT NOT NULL,
         changes      BLOB NOT NULL,
         dismissed_at INTEGER
     ) STRICT;
     CREATE INDEX refused_edits_record ON refused_edits(record_id, id);
     ALTER TABLE records ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
     CREATE TABLE parked (
         record_id TEXT NOT NULL,
         seq       INTEGER NOT NULL,
         reason    TEXT NOT NULL,
         bytes     BLOB NOT NULL,
         PRIMARY KEY (record_id, seq)
     ) STRICT, WITHOUT ROWID;",
    // 4 -> 5: templates and code tables received from the server (one row per id: a template
    // `kind.vN`, or `code_tables`), checked by hash before they were stored.
    "CREATE TABLE catalog (
         id          TEXT PRIMARY KEY,
         sha256      TEXT NOT NULL,
         text        TEXT NOT NULL,
         received_at INTEGER NOT NULL
     ) STRICT;",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`SCHEMA_VERSION`], one transaction per step.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", step as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_from_empty_and_is_idempotent() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
    }

    #[test]
    fn each_step_applies_on_the_previous_version() {
        for target in 1..=MIGRATIONS.len() {
            let mut conn = Connection::open_in_memory().unwrap();
            for (step, sql) in MIGRATIONS.iter().enumerate().take(target - 1) {
                conn.execute_batch(sql).unwrap();
                conn.pragma_update(None, "user_version", step as i64 + 1)
                    .unwrap();
            }
            migrate(&mut conn).unwrap();
        }
    }

    #[test]
    fn refuses_a_newer_schema() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        assert!(matches!(migrate(&mut conn), Err(StoreError::TooNew { .. })));
    }
}
