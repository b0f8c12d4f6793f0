use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::StoreError;
use crate::schema::migrate;

mod assignments;
mod catalog;
mod photos;
mod records;
mod refused;
mod settings;
mod sync_state;

pub use assignments::StoredAssignment;
pub use catalog::CatalogItem;
pub(crate) use photos::write_photos;
pub use photos::{PendingPhoto, PhotoBlob, PhotoChange, PhotoCounts, PhotoInfo, PhotoRef};
pub use records::{ListFilter, LoadedRecord, Origin, RecordSummary};
pub use refused::{NewRefusedEdit, ParkedRecord, RefusedEdit};
pub use sync_state::{DirtyRecord, Pushed, RecordSyncRow, SyncCounts, SyncState};

const DB_FILE: &str = "jingtu.db";
const LOCK_FILE: &str = "jingtu.lock";

/// How hard each commit pushes to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// WAL with `synchronous=NORMAL`: a committed edit survives the process being killed at
    /// any moment; a power cut may lose the last few commits but never corrupts the store.
    #[default]
    Process,
    /// WAL with `synchronous=FULL`: each commit is fsynced (survives a power cut too), at about
    /// 0.3 ms per edit on this machine's disk.
    PowerLoss,
}

#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    pub durability: Durability,
}

/// A device store: one folder holding `jingtu.db` and `jingtu.lock`.
pub struct Store {
    dir: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    actor: Vec<u8>,
    _lock: File,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dir", &self.dir).finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave SQLite half-written (transactions roll
    // back), so a poisoned mutex is safe to reuse.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Store {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path, options: &StoreOptions) -> Result<Store, StoreError> {
        let io = |source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let lock_path = dir.join(LOCK_FILE);
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| StoreError::Io {
                path: lock_path.clone(),
                source,
            })?;
        match lock_file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked(dir.to_path_buf()));
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(StoreError::Io {
                    path: lock_path,
                    source,
                });
            }
        }
        let db_path = dir.join(DB_FILE);
        let corrupt = |e: rusqlite::Error| StoreError::Corrupt {
            path: db_path.clone(),
            reason: e.to_string(),
        };
        let mut writer = Connection::open(&db_path)?;
        let sync = match options.durability {
            Durability::Process => "NORMAL",
            Durability::PowerLoss => "FULL",
        };
        writer
            .execute_batch(&format!(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA foreign_keys=ON;
                 PRAGMA busy_timeout=5000;"
            ))
            .map_err(corrupt)?;
        let check: String = writer
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(corrupt)?;
        if check != "ok" {
            return Err(StoreError::Corrupt {
                path: db_path,
                reason: check,
            });
        }
        migrate(&mut writer)?;
        let actor = load_or_create_actor(&writer)?;
        let reader = Connection::open_with_flags(
            &db_path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        reader.execute_batch("PRAGMA busy_timeout=5000;")?;
        Ok(Store {
            dir: dir.to_path_buf(),
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            actor,
            _lock: lock_file,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// This device's Automerge actor id for this store: made once, kept for its lifetime.
    pub fn actor_id(&self) -> &[u8] {
        &self.actor
    }

    /// Bytes of the store on disk (database, WAL).
    pub fn disk_bytes(&self) -> u64 {
        ["jingtu.db", "jingtu.db-wal"]
            .iter()
            .filter_map(|f| std::fs::metadata(self.dir.join(f)).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Folds the WAL into the database file (for measuring size, or before a backup).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        let conn = lock(&self.writer);
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(())
    }
}

fn load_or_create_actor(conn: &Connection) -> Result<Vec<u8>, StoreError> {
    let existing: Option<String> = conn
        .query_row(
            "SELECT value FROM settings WHERE key = 'actor_id'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(hex) = existing.and_then(|h| hex::decode(h).ok())
        && hex.len() == 16
    {
        return Ok(hex);
    }
    let actor: [u8; 16] = rand::random();
    conn.execute(
        "INSERT INTO settings (key, value) VALUES ('actor_id', ?1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [hex::encode(actor)],
    )?;
    Ok(actor.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(id: &str, name: &str) -> RecordSummary {
        RecordSummary {
            id: id.into(),
            kind: "soil_sample".into(),
            template_version: 1,
            name: name.into(),
            status: jingtu_doc::Status::Draft,
            org_unit: Some("411321".into()),
            village: None,
            planned_point: None,
            created_at_ms: 1,
            updated_at_ms: 1,
            completion_pct: 0.0,
            error_count: 0,
            warning_count: 0,
            conflict_count: 0,
        }
    }

    #[test]
    fn actor_id_is_stable_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let a = Store::open(dir.path(), &StoreOptions::default())
            .unwrap()
            .actor_id()
            .to_vec();
        let b = Store::open(dir.path(), &StoreOptions::default())
            .unwrap()
            .actor_id()
            .to_vec();
        assert_eq!(a, b);
        assert_eq!(a.len(), 16);
    }

    #[test]
    fn a_second_open_is_refused_while_the_first_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        let second = Store::open(dir.path(), &StoreOptions::default());
        assert!(matches!(second, Err(StoreError::Locked(_))));
    }

    #[test]
    fn chunks_append_load_and_compact() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        store.insert_record(&summary("r1", "甲"), b"ab").unwrap();
        assert!(matches!(
            store.insert_record(&summary("r1", "甲"), b"ab"),
            Err(StoreError::Exists(_))
        ));
        assert_eq!(store.append_chunk(&summary("r1", "甲"), b"cd").unwrap(), 2);
        assert_eq!(
            store.load("r1").unwrap(),
            LoadedRecord {
                bytes: b"abcd".to_vec(),
                chunks: 2
            }
        );
        store.compact("r1", b"ABCD").unwrap();
        assert_eq!(
            store.load("r1").unwrap(),
            LoadedRecord {
                bytes: b"ABCD".to_vec(),
                chunks: 1
            }
        );
        assert!(matches!(store.load("nope"), Err(StoreError::NotFound(_))));
        assert!(matches!(
            store.append_chunk(&summary("nope", ""), b"x"),
            Err(StoreError::NotFound(_))
        ));
    }

    #[test]
    fn list_filters_and_searches_names() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        store
            .insert_record(&summary("a", "云阳镇 50%_点"), b"x")
            .unwrap();
        let mut b = summary("b", "皇路店镇");
        b.kind = "water_body_check".into();
        b.updated_at_ms = 5;
        store.insert_record(&b, b"x").unwrap();
        let all = store.list(&ListFilter::default()).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].id, "b", "newest first");
        let f = ListFilter {
            text: Some("云阳".into()),
            ..Default::default()
        };
        assert_eq!(store.list(&f).unwrap().len(), 1);
        let f = ListFilter {
            text: Some("%_".into()),
            ..Default::default()
        };
        assert_eq!(store.list(&f).unwrap()[0].id, "a", "wildcards are literal");
        let f = ListFilter {
            kind: Some("water_body_check".into()),
            ..Default::default()
        };
        assert_eq!(store.list(&f).unwrap()[0].id, "b");
        assert_eq!(
            store.ids_with_prefix("a", 5).unwrap(),
            vec!["a".to_string()]
        );
    }

    fn blob(tag: &str) -> PhotoBlob {
        PhotoBlob {
            sha256: format!("sha-{tag}"),
            bytes: tag.as_bytes().repeat(10),
            thumb: tag.as_bytes().to_vec(),
            width: 4,
            height: 3,
        }
    }

    fn pref(id: &str, sha: &str) -> PhotoRef {
        PhotoRef {
            photo_id: id.into(),
            sha256: sha.into(),
        }
    }

    #[test]
    fn photos_are_stored_once_and_deleted_when_nothing_refers_to_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        store.insert_record(&summary("r1", "a"), b"x").unwrap();
        store.insert_record(&summary("r2", "b"), b"x").unwrap();
        let a = blob("a");
        // The same photo in two records, and twice in one.
        let refs1 = [pref("p1", "sha-a"), pref("p2", "sha-a")];
        store
            .append_chunk_with_photos(
                &summary("r1", "a"),
                b"y",
                Some(PhotoChange {
                    put: Some(&a),
                    refs: &refs1,
                }),
            )
            .unwrap();
        let refs2 = [pref("p3", "sha-a")];
        store
            .append_chunk_with_photos(
                &summary("r2", "b"),
                b"y",
                Some(PhotoChange {
                    put: Some(&a),
                    refs: &refs2,
                }),
            )
            .unwrap();
        assert_eq!(
            store.photo_counts().unwrap(),
            PhotoCounts {
                held: 1,
                unreferenced: 0
            }
        );
        assert_eq!(
            store.photo_bytes("sha-a", false).unwrap(),
            Some(a.bytes.clone())
        );
        assert_eq!(store.photo_bytes("sha-a", true).unwrap(), Some(a.thumb));
        let info = store.photo_info("sha-a").unwrap().unwrap();
        assert_eq!((info.size, info.has_full), (10, true));
        assert_eq!(store.photo_refs("r1").unwrap(), refs1.to_vec());
        // r1 drops both of its entries: the blob stays for r2.
        store
            .append_chunk_with_photos(
                &summary("r1", "a"),
                b"z",
                Some(PhotoChange {
                    put: None,
                    refs: &[],
                }),
            )
            .unwrap();
        assert!(store.photo_bytes("sha-a", false).unwrap().is_some());
        // r2 drops it too: gone.
        store
            .append_chunk_with_photos(
                &summary("r2", "b"),
                b"z",
                Some(PhotoChange {
                    put: None,
                    refs: &[],
                }),
            )
            .unwrap();
        assert_eq!(store.photo_bytes("sha-a", false).unwrap(), None);
        assert_eq!(
            store.photo_counts().unwrap(),
            PhotoCounts {
                held: 0,
                unreferenced: 0
            }
        );
    }

    #[test]
    fn a_failed_record_write_stores_no_photo() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        let b = blob("b");
        let refs = [pref("p1", "sha-b")];
        // No such record: the whole transaction, blob included, is refused.
        assert!(
            store
                .append_chunk_with_photos(
                    &summary("nope", ""),
                    b"y",
                    Some(PhotoChange {
                        put: Some(&b),
                        refs: &refs,
                    }),
                )
                .is_err()
        );
        assert_eq!(
            store.photo_counts().unwrap(),
            PhotoCounts {
                held: 0,
                unreferenced: 0
            }
        );
    }

    #[test]
    fn eviction_keeps_unpushed_records_and_frees_their_photos() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        let b = blob("b");
        let refs = [pref("p1", "sha-b")];
        for id in ["clean", "dirty"] {
            store
                .insert_record_with_photos(
                    &summary(id, id),
                    b"ab",
                    Some(PhotoChange {
                        put: Some(&b),
                        refs: &refs,
                    }),
                )
                .unwrap();
        }
        store.mark_pushed("clean", b"h", 0).unwrap();
        assert!(
            !store.evict_record("dirty").unwrap(),
            "unpushed changes stay"
        );
        assert!(store.evict_record("clean").unwrap());
        assert!(store.evict_record("never-there").unwrap());
        assert!(matches!(store.load("clean"), Err(StoreError::NotFound(_))));
        assert!(store.load("dirty").is_ok());
        // The blob is still referenced by the kept record.
        assert_eq!(
            store.photo_counts().unwrap(),
            PhotoCounts {
                held: 1,
                unreferenced: 0
            }
        );
        store.mark_pushed("dirty", b"h", 0).unwrap();
        assert!(store.evict_record("dirty").unwrap());
        assert_eq!(
            store.photo_counts().unwrap(),
            PhotoCounts {
                held: 0,
                unreferenced: 0
            }
        );
        assert_eq!(store.count().unwrap(), 0);
    }

    #[test]
    fn records_marked_pushed_together_stay_dirty_only_when_written_since() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        for id in ["a", "b", "c"] {
            store.insert_record(&summary(id, id), b"ab").unwrap();
        }
        // "b" was written after its push was read (its write count moved on).
        store.append_chunk(&summary("b", "b"), b"cd").unwrap();
        let seq = |id: &str| {
            store
                .dirty_records(10)
                .unwrap()
                .into_iter()
                .find(|d| d.id == id)
                .map(|d| d.edit_seq)
        };
        let (a, c) = (seq("a").unwrap(), seq("c").unwrap());
        store
            .mark_all_pushed(&[
                Pushed {
                    id: "a",
                    heads: b"ha",
                    edit_seq: a,
                },
                Pushed {
                    id: "b",
                    heads: b"hb",
                    edit_seq: a,
                },
                Pushed {
                    id: "c",
                    heads: b"hc",
                    edit_seq: c,
                },
            ])
            .unwrap();
        let dirty: Vec<String> = store
            .dirty_records(10)
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(dirty, ["b"]);
        let b = store.dirty_records(10).unwrap().remove(0);
        assert_eq!(b.synced_heads.as_deref(), Some(&b"hb"[..]));
        assert!(store.mark_all_pushed(&[]).is_ok());
    }

    #[test]
    fn a_replaced_document_is_one_snapshot_and_waits_to_be_pushed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        store.insert_record(&summary("r", "甲"), b"ab").unwrap();
        store.append_chunk(&summary("r", "甲"), b"cd").unwrap();
        store.mark_pushed("r", b"h", 1).unwrap();
        assert!(!store.record_sync_state("r").unwrap().dirty);
        store
            .replace_document(
                &summary("r", "乙"),
                b"XY",
                PhotoChange {
                    put: None,
                    refs: &[],
                },
                true,
            )
            .unwrap();
        assert_eq!(
            store.load("r").unwrap(),
            LoadedRecord {
                bytes: b"XY".to_vec(),
                chunks: 1
            }
        );
        assert_eq!(store.summary("r").unwrap().name, "乙");
        assert!(store.record_sync_state("r").unwrap().dirty);
        assert!(matches!(
            store.replace_document(
                &summary("nope", ""),
                b"XY",
                PhotoChange {
                    put: None,
                    refs: &[]
                },
                true
            ),
            Err(StoreError::NotFound(_))
        ));
    }

    #[test]
    fn assignments_are_replaced_and_refused_edits_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        let a = |id: &str, due: Option<&str>| StoredAssignment {
            id: id.into(),
            kind: "soil_sample".into(),
            due_date: due.map(str::to_string),
            body: format!("{{\"id\":\"{id}\"}}"),
        };
        store
            .set_assignments(&[
                a("b", None),
                a("a", Some("2024-06-30")),
                a("c", Some("2024-05-01")),
            ])
            .unwrap();
        let ids: Vec<String> = store
            .assignments()
            .unwrap()
            .into_iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(ids, ["c", "a", "b"]);
        store.set_assignments(&[a("d", None)]).unwrap();
        assert_eq!(store.assignments().unwrap(), vec![a("d", None)]);

        let edit = NewRefusedEdit {
            record_id: "r",
            code: "forbidden",
            rule: Some("review_by_supervisor"),
            path: Some("review/x"),
            message: "only supervisors write review",
            refused_at_ms: 5,
            local_json: "{}",
            changes: b"zz",
        };
        let first = store.add_refused_edit(&edit).unwrap();
        let second = store
            .add_refused_edit(&NewRefusedEdit {
                record_id: "s",
                ..edit.clone()
            })
            .unwrap();
        assert_eq!(store.refused_edits(None, false).unwrap().len(), 2);
        let of_r = store.refused_edits(Some("r"), false).unwrap();
        assert_eq!((of_r.len(), of_r[0].id), (1, first));
        assert_eq!(of_r[0].rule.as_deref(), Some("review_by_supervisor"));
        assert!(store.dismiss_refused_edit(second).unwrap());
        assert!(!store.dismiss_refused_edit(second).unwrap());
        assert_eq!(store.refused_edits(None, false).unwrap().len(), 1);
        assert_eq!(store.refused_edits(None, true).unwrap().len(), 2);
    }

    #[test]
    fn a_corrupt_database_file_gets_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("jingtu.db"), vec![0x42u8; 8192]).unwrap();
        let err = Store::open(dir.path(), &StoreOptions::default()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("damaged"));
    }

    #[test]
    fn catalog_items_replace_by_id_and_the_digest_waits_for_a_complete_listing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        assert!(store.catalog_items().unwrap().is_empty());
        let item = |id: &str, sha: &str| CatalogItem {
            id: id.to_string(),
            sha256: sha.to_string(),
            text: format!("{id} {sha}"),
        };
        // Part of a listing: stored, the digest not yet.
        store.put_catalog_items(&[item("a.v2", "1")], None).unwrap();
        assert_eq!(store.setting("catalog_digest").unwrap(), None);
        store
            .put_catalog_items(&[item("code_tables", "2"), item("a.v2", "1")], Some("d1"))
            .unwrap();
        assert_eq!(
            store.setting("catalog_digest").unwrap().as_deref(),
            Some("d1")
        );
        // New code tables replace the old ones.
        store
            .put_catalog_items(&[item("code_tables", "3")], Some("d2"))
            .unwrap();
        let held = store.catalog_items().unwrap();
        assert_eq!(held, vec![item("a.v2", "1"), item("code_tables", "3")]);
        assert_eq!(
            store.setting("catalog_digest").unwrap().as_deref(),
            Some("d2")
        );
    }
}
