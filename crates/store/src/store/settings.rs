//! Settings: small values by key (the user, the server, the sync cursors).

use rusqlite::{OptionalExtension, params};

use super::{Store, lock};
use crate::StoreError;

impl Store {
    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let conn = lock(&self.reader);
        Ok(conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let conn = lock(&self.writer);
        conn.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }
}
