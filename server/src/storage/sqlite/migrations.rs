//! The steps of the server database's schema, in order: `PRAGMA user_version` says how many
//! ran. Each runs in a transaction of its own; a database written by a newer server is refused.
//! Every step is tested on the data its previous version held.

use rusqlite::Connection;

use crate::storage::StorageError;

pub(super) const MIGRATIONS: &[&str] = &[
    // 0 -> 1
    "CREATE TABLE users (
         id         INTEGER PRIMARY KEY,
         name       TEXT NOT NULL UNIQUE,
         created_at INTEGER NOT NULL
     ) STRICT;
     CREATE TABLE device_tokens (
         id         INTEGER PRIMARY KEY,
         user_id    INTEGER NOT NULL REFERENCES users(id),
         token_hash TEXT NOT NULL UNIQUE,
         label      TEXT,
         created_at INTEGER NOT NULL,
         last_seen  INTEGER,
         revoked_at INTEGER
     ) STRICT;
     CREATE TABLE records (
         id         TEXT PRIMARY KEY,
         kind       TEXT NOT NULL,
         org_unit   TEXT,
         created_at INTEGER NOT NULL,
         updated_at INTEGER NOT NULL
     ) STRICT;
     CREATE TABLE feed (
         seq         INTEGER PRIMARY KEY AUTOINCREMENT,
         record_id   TEXT NOT NULL REFERENCES records(id),
         device      TEXT NOT NULL,
         received_at INTEGER NOT NULL,
         bytes       BLOB NOT NULL
     ) STRICT;
     CREATE INDEX feed_record ON feed(record_id, seq);
     CREATE TABLE snapshots (
         record_id TEXT PRIMARY KEY REFERENCES records(id),
         upto_seq  INTEGER NOT NULL,
         bytes     BLOB NOT NULL
     ) STRICT;",
    // 1 -> 2: people and devices. Users of schema 1 become admins.
    "ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'admin'
         CHECK (role IN ('inspector', 'sampler', 'supervisor', 'admin'));
     ALTER TABLE users ADD COLUMN password_hash TEXT;
     ALTER TABLE users ADD COLUMN disabled_at INTEGER;
     ALTER TABLE users ADD COLUMN locked_until INTEGER;
     CREATE TABLE org_units (
         code       TEXT PRIMARY KEY CHECK (length(code) = 12),
         name       TEXT NOT NULL,
         level      TEXT NOT NULL
             CHECK (level IN ('province', 'city', 'county', 'township', 'village')),
         parent     TEXT REFERENCES org_units(code),
         updated_at INTEGER NOT NULL
     ) STRICT, WITHOUT ROWID;
     CREATE INDEX org_units_parent ON org_units(parent);
     CREATE TABLE user_org_units (
         user_id  INTEGER NOT NULL REFERENCES users(id),
         org_code TEXT NOT NULL REFERENCES org_units(code),
         PRIMARY KEY (user_id, org_code)
     ) STRICT, WITHOUT ROWID;
     CREATE INDEX user_org_units_code ON user_org_units(org_code);
     ALTER TABLE device_tokens ADD COLUMN device_id TEXT;
     ALTER TABLE device_tokens ADD COLUMN app_version TEXT;
     CREATE INDEX device_tokens_user ON device_tokens(user_id, device_id);
     CREATE TABLE sessions (
         id         INTEGER PRIMARY KEY,
         token_hash TEXT NOT NULL UNIQUE,
         csrf_token TEXT NOT NULL,
         user_id    INTEGER NOT NULL REFERENCES users(id),
         created_at INTEGER NOT NULL,
         expires_at INTEGER NOT NULL,
         ended_at   INTEGER
     ) STRICT;
     CREATE INDEX sessions_user ON sessions(user_id);
     CREATE TABLE enrollment_codes (
         id         INTEGER PRIMARY KEY,
         code_hash  TEXT NOT NULL UNIQUE,
         user_id    INTEGER NOT NULL REFERENCES users(id),
         issued_by  TEXT NOT NULL,
         created_at INTEGER NOT NULL,
         expires_at INTEGER NOT NULL,
         used_at    INTEGER,
         token_id   INTEGER REFERENCES device_tokens(id)
     ) STRICT;
     CREATE TABLE login_failures (
         user_id INTEGER NOT NULL REFERENCES users(id),
         at      INTEGER NOT NULL
     ) STRICT;
     CREATE INDEX login_failures_user ON login_failures(user_id, at);
     CREATE TABLE audit_log (
         id          INTEGER PRIMARY KEY,
         at          INTEGER NOT NULL,
         actor       TEXT NOT NULL,
         device      INTEGER,
         device_id   TEXT,
         remote_addr TEXT,
         action      TEXT NOT NULL,
         target      TEXT,
         outcome     TEXT NOT NULL,
         detail      TEXT NOT NULL DEFAULT '{}'
     ) STRICT;
     CREATE INDEX audit_log_at ON audit_log(at);
     CREATE INDEX audit_log_actor ON audit_log(actor, at);
     CREATE INDEX audit_log_target ON audit_log(target, at);
     CREATE INDEX audit_log_action ON audit_log(action, at);",
    // 2 -> 3: scope. Records keep who pushed them first and their assignment; assignments;
    // the scope log: every change of a user's scope keys (assignments, supervisors' org
    // units), numbered, so what entered and left a device's scope since it last synced can be
    // computed without keeping anything per device.
    "ALTER TABLE records ADD COLUMN owner TEXT;
     ALTER TABLE records ADD COLUMN assignment TEXT;
     CREATE INDEX records_owner ON records(owner);
     CREATE INDEX records_assignment ON records(assignment);
     CREATE INDEX records_org_unit ON records(org_unit);
     CREATE TABLE assignments (
         id          TEXT PRIMARY KEY,
         target_kind TEXT NOT NULL,
         target      TEXT NOT NULL,
         target_name TEXT NOT NULL,
         kind        TEXT NOT NULL,
         org_unit    TEXT NOT NULL,
         assignee    TEXT NOT NULL,
         due_date    TEXT,
         note        TEXT,
         assigned_by TEXT NOT NULL,
         assigned_at INTEGER NOT NULL,
         removed_at  INTEGER
     ) STRICT;
     CREATE INDEX assignments_assignee ON assignments(assignee);
     CREATE TABLE scope_log (
         seq    INTEGER PRIMARY KEY AUTOINCREMENT,
         user   TEXT NOT NULL,
         kind   TEXT NOT NULL,
         target TEXT NOT NULL,
         added  INTEGER NOT NULL,
         at     INTEGER NOT NULL
     ) STRICT;
     CREATE INDEX scope_log_user ON scope_log(user, seq);",
    // 3 -> 4: which records hold which photos, so a photo is served only to those who may
    // see one of its records. (Records stored before this step are linked when next pushed.)
    "CREATE TABLE record_photos (
         record_id TEXT NOT NULL REFERENCES records(id),
         sha256    TEXT NOT NULL,
         PRIMARY KEY (record_id, sha256)
     ) STRICT, WITHOUT ROWID;
     CREATE INDEX record_photos_sha256 ON record_photos(sha256);",
    // 4 -> 5: the catalog devices receive: templates (one row per kind and version, never
    // changed) and the code tables (one row per published version; the newest is current).
    "CREATE TABLE catalog (
         seq          INTEGER PRIMARY KEY AUTOINCREMENT,
         id           TEXT NOT NULL,
         sha256       TEXT NOT NULL UNIQUE,
         kind         TEXT,
         version      INTEGER,
         roles        TEXT NOT NULL DEFAULT '',
         text         TEXT NOT NULL,
         source       TEXT NOT NULL CHECK (source IN ('builtin', 'admin')),
         published_by TEXT NOT NULL,
         published_at INTEGER NOT NULL
     ) STRICT;
     CREATE UNIQUE INDEX catalog_template ON catalog(id) WHERE id != 'code_tables';",
    // 5 -> 6: what the review queue shows of each record, written with every commit.
    // Records stored before this step have a NULL status until the server indexes them at
    // its next start.
    "ALTER TABLE records ADD COLUMN status TEXT;
     ALTER TABLE records ADD COLUMN name TEXT;
     ALTER TABLE records ADD COLUMN village TEXT;
     ALTER TABLE records ADD COLUMN author TEXT;
     ALTER TABLE records ADD COLUMN submitted_at INTEGER;
     CREATE INDEX records_recent ON records(updated_at, id);
     CREATE INDEX records_status ON records(status, updated_at, id);
     CREATE INDEX records_unindexed ON records(id) WHERE status IS NULL;",
    // 6 -> 7: the review queue's counts per status, kept by triggers per org unit and kind, so
    // a supervisor's counts add up a few rows per village instead of reading every record.
    "CREATE TABLE queue_counts (
         org_unit TEXT NOT NULL,
         kind     TEXT NOT NULL,
         status   TEXT NOT NULL,
         n        INTEGER NOT NULL,
         PRIMARY KEY (org_unit, kind, status)
     ) STRICT, WITHOUT ROWID;
     CREATE TRIGGER queue_counts_insert AFTER INSERT ON records
     WHEN NEW.status IS NOT NULL BEGIN
         INSERT INTO queue_counts (org_unit, kind, status, n)
         VALUES (coalesce(NEW.org_unit, ''), NEW.kind, NEW.status, 1)
         ON CONFLICT DO UPDATE SET n = n + 1;
     END;
     CREATE TRIGGER queue_counts_update AFTER UPDATE OF status, org_unit, kind ON records
     WHEN OLD.status IS NOT NEW.status OR OLD.org_unit IS NOT NEW.org_unit
          OR OLD.kind IS NOT NEW.kind BEGIN
         UPDATE queue_counts SET n = n - 1
         WHERE OLD.status IS NOT NULL AND org_unit = coalesce(OLD.org_unit, '')
           AND kind = OLD.kind AND status = OLD.status;
         INSERT INTO queue_counts (org_unit, kind, status, n)
         SELECT coalesce(NEW.org_unit, ''), NEW.kind, NEW.status, 1
         WHERE NEW.status IS NOT NULL
         ON CONFLICT DO UPDATE SET n = n + 1;
     END;
     CREATE TRIGGER queue_counts_delete AFTER DELETE ON records
     WHEN OLD.status IS NOT NULL BEGIN
         UPDATE queue_counts SET n = n - 1
         WHERE org_unit = coalesce(OLD.org_unit, '') AND kind = OLD.kind
           AND status = OLD.status;
     END;
     INSERT INTO queue_counts (org_unit, kind, status, n)
     SELECT coalesce(org_unit, ''), kind, status, COUNT(*) FROM records
     WHERE status IS NOT NULL GROUP BY 1, 2, 3;",
    // 7 -> 8: soil samples handed in to labs under blind codes, written with every commit, for
    // the lab's pages. The soil samples stored before are indexed again at the next start.
    "CREATE TABLE lab_samples (
         blind_code   TEXT NOT NULL,
         record       TEXT NOT NULL,
         lab          TEXT NOT NULL,
         handed_in_at INTEGER NOT NULL,
         entered      INTEGER NOT NULL,
         PRIMARY KEY (blind_code, record)
     ) STRICT, WITHOUT ROWID;
     CREATE INDEX lab_samples_recent ON lab_samples(handed_in_at, blind_code);
     UPDATE records SET status = NULL WHERE kind = 'soil_sample';
     -- Lab staff are a role: the users' CHECK takes 'lab'. Widening a CHECK is done in the
     -- schema's text (SQLite's documented procedure for changing constraints; every row
     -- already satisfies the wider one); migrate() bumps schema_version after each step.
     PRAGMA writable_schema = ON;
     UPDATE sqlite_schema
     SET sql = replace(sql, '''sampler'', ''supervisor''', '''sampler'', ''lab'', ''supervisor''')
     WHERE type = 'table' AND name = 'users';
     PRAGMA writable_schema = OFF;",
    // 8 -> 9: the key each device signs custody events with, registered at enrollment.
    "ALTER TABLE device_tokens ADD COLUMN signing_key TEXT;",
    // 9 -> 10: the planned sampling points an admin imports (code, position, land use, task,
    // org unit), and the point an assignment was given with, as it was then (JSON).
    "CREATE TABLE planned_points (
         code        TEXT PRIMARY KEY,
         name        TEXT NOT NULL,
         lat         REAL NOT NULL,
         lon         REAL NOT NULL,
         land_use    TEXT,
         task        TEXT,
         org_unit    TEXT NOT NULL,
         imported_at INTEGER NOT NULL
     ) STRICT;
     CREATE INDEX planned_points_org ON planned_points(org_unit, code);
     ALTER TABLE assignments ADD COLUMN planned_point TEXT;",
    // 10 -> 11: the receivers a soil sample was handed over to by name hold it (it reaches
    // their devices; they add custody events). The soil samples stored before are indexed
    // again at the next start.
    "CREATE TABLE custody_holders (
         user   TEXT NOT NULL,
         record TEXT NOT NULL,
         PRIMARY KEY (user, record)
     ) STRICT, WITHOUT ROWID;
     CREATE INDEX custody_holders_record ON custody_holders(record, user);
     UPDATE records SET status = NULL WHERE kind = 'soil_sample';",
];

/// Brings the database up to the newest schema, one transaction per step.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StorageError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if found > known {
        return Err(StorageError::TooNew { found, known });
    }
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        if sql.contains("writable_schema") {
            // The schema's text changed under SQLite: make every connection read it again.
            let v: i64 = tx.query_row("PRAGMA schema_version", [], |r| r.get(0))?;
            tx.pragma_update(None, "schema_version", v + 1)?;
        }
        tx.pragma_update(None, "user_version", step as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database at `version`, every step before it applied.
    fn at(version: usize) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys=ON;").unwrap();
        for (step, sql) in MIGRATIONS.iter().enumerate().take(version) {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", step as i64 + 1)
                .unwrap();
        }
        conn
    }

    fn version(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn migrates_from_empty_and_is_idempotent() {
        let mut conn = at(0);
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn), MIGRATIONS.len() as i64);
    }

    #[test]
    fn each_step_applies_on_the_previous_version() {
        for from in 0..MIGRATIONS.len() {
            let mut conn = at(from);
            migrate(&mut conn).unwrap_or_else(|e| panic!("from version {from}: {e}"));
            assert_eq!(version(&conn), MIGRATIONS.len() as i64);
        }
    }

    #[test]
    fn lab_staff_are_a_role_after_the_users_check_is_widened() {
        let mut conn = at(7);
        conn.execute_batch(
            "INSERT INTO users (id, name, created_at, role) VALUES (1, '甲', 1, 'sampler');",
        )
        .unwrap();
        let lab = "INSERT INTO users (id, name, created_at, role) VALUES (2, '检测员乙', 2, 'lab')";
        assert!(conn.execute_batch(lab).is_err(), "not yet a role");
        migrate(&mut conn).unwrap();
        conn.execute_batch(lab).unwrap();
        assert!(
            conn.execute_batch(
                "INSERT INTO users (id, name, created_at, role) VALUES (3, '丙', 3, 'root')"
            )
            .is_err(),
            "the check still holds"
        );
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
    }

    #[test]
    fn what_version_1_held_survives_every_step() {
        // A user, a device token, a record and its feed chunk and snapshot, as the first
        // schema wrote them.
        let mut conn = at(1);
        conn.execute_batch(
            "INSERT INTO users (id, name, created_at) VALUES (1, '王审核', 10);
             INSERT INTO device_tokens (user_id, token_hash, label, created_at)
                 VALUES (1, 'h1', 'phone', 11);
             INSERT INTO records (id, kind, org_unit, created_at, updated_at)
                 VALUES ('r1', 'soil_sample', '411321', 12, 12);
             INSERT INTO feed (record_id, device, received_at, bytes)
                 VALUES ('r1', 'dev', 12, x'0102');
             INSERT INTO snapshots (record_id, upto_seq, bytes) VALUES ('r1', 1, x'03');",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let (role, token): (String, String) = conn
            .query_row(
                "SELECT u.role, t.token_hash FROM users u JOIN device_tokens t
                 ON t.user_id = u.id WHERE u.name = '王审核'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(
            (role.as_str(), token.as_str()),
            ("admin", "h1"),
            "users of schema 1 become admins"
        );
        let (owner, bytes): (Option<String>, Vec<u8>) = conn
            .query_row(
                "SELECT r.owner, f.bytes FROM records r JOIN feed f ON f.record_id = r.id",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(
            (owner, bytes),
            (None, vec![1, 2]),
            "a record of schema 1 has no owner yet"
        );
        let status: Option<String> = conn
            .query_row("SELECT status FROM records", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            status, None,
            "a record of schema 1 waits to be indexed for the review queue"
        );
    }

    #[test]
    fn refuses_a_newer_schema() {
        let mut conn = at(0);
        conn.pragma_update(None, "user_version", MIGRATIONS.len() as i64 + 1)
            .unwrap();
        assert!(matches!(
            migrate(&mut conn),
            Err(StorageError::TooNew { .. })
        ));
    }
}
