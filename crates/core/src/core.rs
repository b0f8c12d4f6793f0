use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use jingtu_doc::{
    ActorId, Conflict, Editor, EventKind, HistoryEntry, PhotoEntry, RecordDoc, RecordMeta, Status,
};
use jingtu_model::{
    FieldPath, ItemResult, MissingPhoto, Severity, Template, TemplateSet, TemplateSummary,
};
use jingtu_store::{
    Durability, ListFilter, Origin, PhotoBlob, PhotoChange, RecordSummary, Store, StoreOptions,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cache::{Cache, Cached, Touched};
use crate::{CoreError, RecordView};

/// A record's chunks are folded into one snapshot when they reach this many.
pub const COMPACT_AFTER_CHUNKS: u32 = 64;
/// A record leaving the open documents with at least this many chunks is folded then: its
/// document is at hand, and a record loads in half the time from one snapshot as from a
/// snapshot and thirty single edits (the next time it is opened, pushed or merged).
pub const COMPACT_ON_CLOSE_CHUNKS: u32 = 8;
/// The largest single value an edit may write (as JSON): a long note fits many times over; a
/// pasted book does not, and would make the record slow to load and to sync.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

fn check_size(path: &FieldPath, value: &Value) -> Result<(), CoreError> {
    let size = serde_json::to_vec(value)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_VALUE_BYTES {
        return Err(CoreError::InvalidValue {
            path: path.to_string(),
            reason: format!(
                "{size} bytes is more than the {MAX_VALUE_BYTES} bytes one value may hold"
            ),
        });
    }
    Ok(())
}

/// Where a new record belongs (from an assignment, or typed by the user).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRecordPlace {
    pub org_unit: Option<String>,
    pub village: Option<String>,
    pub planned_point: Option<String>,
    pub assignment_id: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct CoreOptions {
    /// The person using the device; kept in the store once given.
    pub user: Option<String>,
    pub durability: Durability,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportOutcome {
    pub id: String,
    /// True when the record was new to this store.
    pub created: bool,
    /// Changes that were new to this store.
    pub new_changes: usize,
}

/// The device core over one store. `Send + Sync`: calls from several threads are serialised
/// where they touch the same state.
pub struct DeviceCore {
    pub(crate) store: Store,
    /// Built-in templates and those received from the server (replaced when more arrive).
    pub(crate) templates: std::sync::RwLock<Arc<TemplateSet>>,
    pub(crate) actor: ActorId,
    user: Mutex<String>,
    pub(crate) cache: Mutex<Cache>,
    /// What signs this device's custody events: a platform key set by the app, or the
    /// device's own key from the store (loaded, or made, at first use).
    pub(crate) signer: Mutex<Option<Arc<dyn jingtu_doc::CustodySigner>>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl DeviceCore {
    /// Opens the store in `dir` (created when missing) with the built-in templates.
    pub fn open(dir: &Path) -> Result<DeviceCore, CoreError> {
        DeviceCore::open_with(dir, CoreOptions::default())
    }

    pub fn open_with(dir: &Path, options: CoreOptions) -> Result<DeviceCore, CoreError> {
        let store = Store::open(
            dir,
            &StoreOptions {
                durability: options.durability,
            },
        )?;
        let templates =
            std::sync::RwLock::new(Arc::new(crate::stored_catalog::load_template_set(&store)?));
        let actor = ActorId::from(store.actor_id());
        if let Some(u) = &options.user {
            store.set_setting("user", u)?;
        }
        let user = store.setting("user")?.unwrap_or_default();
        let core = DeviceCore {
            store,
            templates,
            actor,
            user: Mutex::new(user),
            cache: Mutex::new(Cache::default()),
            signer: Mutex::new(None),
        };
        // Records received before this app knew their template open once it does.
        core.open_parked()?;
        Ok(core)
    }

    /// This device's id in this store (the Automerge actor id, hex).
    pub fn device_id(&self) -> String {
        self.actor.to_hex_string()
    }

    pub fn user(&self) -> String {
        lock(&self.user).clone()
    }

    /// Sets the person whose name goes on every later edit.
    pub fn set_user(&self, name: &str) -> Result<(), CoreError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(CoreError::InvalidValue {
                path: "user".into(),
                reason: "a name of 1 to 100 characters".into(),
            });
        }
        self.store.set_setting("user", name)?;
        *lock(&self.user) = name.to_string();
        Ok(())
    }

    pub(crate) fn editor(&self) -> Editor {
        let user = self.user();
        Editor {
            author: if user.is_empty() {
                format!("device-{}", &self.device_id()[..8])
            } else {
                user
            },
            time_ms: now_ms(),
        }
    }

    pub fn store_dir(&self) -> &Path {
        self.store.dir()
    }

    /// The templates and code tables in use now.
    pub(crate) fn template_set(&self) -> Arc<TemplateSet> {
        self.templates
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The templates this device can fill, newest version of each kind last.
    pub fn templates(&self) -> Vec<TemplateSummary> {
        self.template_set().all().map(|t| t.summary()).collect()
    }

    /// The template file (JSON Schema with form annotations) for `kind` or `kind.vN`.
    pub fn template_json(&self, id: &str) -> Result<String, CoreError> {
        let t = self.template_set().find(id)?;
        Ok(serde_json::to_string(&t.source).unwrap_or_default())
    }

    /// The code tables (id → labels and codes) as JSON.
    pub fn code_tables_json(&self) -> String {
        serde_json::to_string(self.template_set().code_tables()).unwrap_or_default()
    }

    /// Creates a record from the newest template of `kind` (or `kind.vN`).
    pub fn create_record(
        &self,
        kind: &str,
        assignment: &NewRecordPlace,
    ) -> Result<RecordSummary, CoreError> {
        let template = self.template_set().find(kind)?;
        let by = self.editor();
        let meta = RecordMeta {
            id: uuid::Uuid::now_v7().to_string(),
            kind: template.kind.clone(),
            template_version: template.version,
            org_unit: clean(&assignment.org_unit),
            village: clean(&assignment.village),
            planned_point: clean(&assignment.planned_point),
            assignment: clean(&assignment.assignment_id),
            author: by.author.clone(),
            device: self.device_id(),
            created_at_ms: by.time_ms,
        };
        let doc = RecordDoc::create(self.actor.clone(), &template, &meta, &by)?;
        let mut cached = Cached {
            doc,
            template,
            chunks: 1,
            data: Value::Object(serde_json::Map::new()),
            meta,
            status: Status::Draft,
            conflicts: 0,
            photos: Vec::new(),
        };
        let summary = self.summarize(&cached, by.time_ms);
        let bytes = cached.doc.save();
        self.store.insert_record(&summary, &bytes)?;
        self.keep_open(&mut lock(&self.cache), summary.id.clone(), cached);
        Ok(summary)
    }

    /// The full id of a record from its id or a unique prefix of it.
    pub fn resolve_id(&self, id_or_prefix: &str) -> Result<String, CoreError> {
        let p = id_or_prefix.trim();
        if p.is_empty() {
            return Err(CoreError::NotFound(String::new()));
        }
        let matches = self.store.ids_with_prefix(p, 5)?;
        match matches.as_slice() {
            [] => Err(CoreError::NotFound(p.to_string())),
            [one] => Ok(one.clone()),
            many if many.iter().any(|m| m == p) => Ok(p.to_string()),
            many => Err(CoreError::Ambiguous {
                prefix: p.to_string(),
                matches: many.to_vec(),
            }),
        }
    }

    pub(crate) fn load<'a>(
        &self,
        cache: &'a mut Cache,
        id: &str,
    ) -> Result<&'a mut Cached, CoreError> {
        if !cache.docs.contains_key(id) {
            let jingtu_store::LoadedRecord { bytes, chunks } = self.store.load(id)?;
            let doc = RecordDoc::load_stored(&bytes, self.actor.clone())?;
            let meta = doc.meta()?;
            let template = self.template_set().get(&meta.kind, meta.template_version)?;
            let opened = Cached::new(doc, template, chunks)?;
            self.keep_open(cache, id.to_string(), opened);
        }
        cache
            .docs
            .get_mut(id)
            .ok_or_else(|| CoreError::NotFound(id.to_string()))
    }

    /// Runs `f` on a loaded record without changing it.
    pub(crate) fn with_record<T>(
        &self,
        id: &str,
        f: impl FnOnce(&mut Cached) -> Result<T, CoreError>,
    ) -> Result<T, CoreError> {
        let mut cache = lock(&self.cache);
        let entry = self.load(&mut cache, id)?;
        f(entry)
    }

    /// Runs one edit on a record and makes it durable before returning.
    pub(crate) fn edit<T>(
        &self,
        id: &str,
        f: impl FnOnce(&mut Cached, &Editor) -> Result<(T, Touched), CoreError>,
    ) -> Result<T, CoreError> {
        self.edit_with_photo(id, None, f)
    }

    /// Like [`Self::edit`]; when the edit touches photos, `put` (a new photo's bytes) and the
    /// record's photo references are written in the same transaction as the change.
    pub(crate) fn edit_with_photo<T>(
        &self,
        id: &str,
        put: Option<&PhotoBlob>,
        f: impl FnOnce(&mut Cached, &Editor) -> Result<(T, Touched), CoreError>,
    ) -> Result<T, CoreError> {
        let by = self.editor();
        let mut cache = lock(&self.cache);
        let entry = self.load(&mut cache, id)?;
        let heads = entry.doc.heads();
        let mut photos_touched = false;
        let outcome = f(entry, &by).and_then(|(result, touched)| {
            photos_touched = matches!(touched, Touched::Photos(_) | Touched::Everything);
            entry.refresh(&touched)?;
            Ok(result)
        });
        let result = match outcome {
            Ok(r) => r,
            Err(e) => {
                cache.remove(id);
                return Err(e);
            }
        };
        let bytes = entry.doc.save_after(&heads);
        if bytes.is_empty() {
            return Ok(result);
        }
        let summary = self.summarize(entry, by.time_ms);
        let refs = if photos_touched {
            entry.photo_refs()
        } else {
            Vec::new()
        };
        let change = photos_touched.then_some(PhotoChange { put, refs: &refs });
        self.persist(&mut cache, id, &summary, &bytes, change, Origin::Local)?;
        Ok(result)
    }

    /// Keeps a record open in `cache`. Records that leave it to make room, holding many
    /// chunks, are folded into one snapshot now, while their document is at hand (under the
    /// cache's lock, as every write of a record is). A failed fold leaves the chunks as they
    /// are.
    pub(crate) fn keep_open(&self, cache: &mut Cache, id: String, c: Cached) {
        for (old, mut closed) in cache.insert(id, c) {
            if closed.chunks >= COMPACT_ON_CLOSE_CHUNKS {
                let snapshot = closed.doc.save();
                let _ = self.store.compact(&old, &snapshot);
            }
        }
    }

    /// Appends a cached record's new change bytes to the store (compacting when the chunks
    /// pile up). On failure the cached document is ahead of the store: it is forgotten.
    pub(crate) fn persist(
        &self,
        cache: &mut Cache,
        id: &str,
        summary: &RecordSummary,
        bytes: &[u8],
        photos: Option<PhotoChange<'_>>,
        origin: Origin<'_>,
    ) -> Result<(), CoreError> {
        let chunks = match self.store.append_chunk_from(summary, bytes, photos, origin) {
            Ok(chunks) => chunks,
            Err(e) => {
                cache.remove(id);
                return Err(e.into());
            }
        };
        if let Some(entry) = cache.docs.get_mut(id) {
            entry.chunks = chunks;
            if entry.chunks >= COMPACT_AFTER_CHUNKS {
                let snapshot = entry.doc.save();
                if self.store.compact(id, &snapshot).is_ok() {
                    entry.chunks = 1;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn summarize(&self, c: &Cached, updated_at_ms: i64) -> RecordSummary {
        let eval = c.template.evaluate(&c.data, &c.meta.expr_json());
        RecordSummary {
            id: c.meta.id.clone(),
            kind: c.meta.kind.clone(),
            template_version: c.meta.template_version,
            name: c.template.record_name(&c.data, &c.meta.id),
            status: c.status,
            org_unit: c.meta.org_unit.clone(),
            village: c.meta.village.clone(),
            planned_point: c.meta.planned_point.clone(),
            created_at_ms: c.meta.created_at_ms,
            updated_at_ms,
            completion_pct: eval.completion_pct,
            error_count: (eval.errors().count() + c.missing_photos().len()) as u32,
            warning_count: eval
                .issues
                .iter()
                .filter(|i| i.severity == Severity::Warning)
                .count() as u32,
            conflict_count: c.conflicts,
        }
    }

    pub(crate) fn editable(c: &Cached) -> Result<(), CoreError> {
        match c.status {
            Status::Submitted | Status::Approved => Err(CoreError::InvalidState(format!(
                "the record is {} and cannot be edited",
                c.status.as_str()
            ))),
            _ => Ok(()),
        }
    }

    /// Lab results are the lab's (the server refuses anyone else's): a device enrolled for a
    /// field user or a supervisor does not write them. An unenrolled store may (tools, tests).
    fn lab_results_allowed(&self, path: &FieldPath) -> Result<(), CoreError> {
        if path.to_string().split('.').next() != Some("lab_results") {
            return Ok(());
        }
        match self.enrollment()? {
            Some(e) if !e.role.enters_lab_results() => Err(CoreError::InvalidState(format!(
                "lab results are entered by the lab (检测员) under the sample's blind code; a \
                 {} does not write them",
                e.role
            ))),
            _ => Ok(()),
        }
    }

    /// Sets the field at `path` to `value`, checked against the template first.
    pub fn set_field(&self, id: &str, path: &str, value: &Value) -> Result<(), CoreError> {
        let path = FieldPath::parse(path)?;
        self.lab_results_allowed(&path)?;
        self.edit(id, |c, by| {
            Self::editable(c)?;
            if value.is_null() {
                c.template.field(&path)?;
                c.doc.clear(&c.template, &path, by)?;
            } else {
                check_size(&path, value)?;
                c.template.check_value(&path, value)?;
                c.doc.set(&c.template, &path, value, by)?;
            }
            Ok(((), Touched::Paths(vec![path.clone()])))
        })
    }

    /// Sets a field from text typed by a person, converted to the field's type.
    pub fn set_field_text(&self, id: &str, path: &str, text: &str) -> Result<(), CoreError> {
        let value = self.parse_text(id, path, text)?;
        self.set_field(id, path, &value)
    }

    fn parse_text(&self, id: &str, path: &str, text: &str) -> Result<Value, CoreError> {
        let fp = FieldPath::parse(path)?;
        let mut cache = lock(&self.cache);
        let entry = self.load(&mut cache, id)?;
        Ok(entry.template.parse_value(&fp, text)?)
    }

    pub fn clear_field(&self, id: &str, path: &str) -> Result<(), CoreError> {
        self.set_field(id, path, &Value::Null)
    }

    /// Appends an item to the list at `path`; returns its index.
    pub fn append_item(&self, id: &str, path: &str, item: &Value) -> Result<usize, CoreError> {
        let path = FieldPath::parse(path)?;
        self.lab_results_allowed(&path)?;
        self.edit(id, |c, by| {
            Self::editable(c)?;
            let def = c.template.field(&path)?;
            let item_def = def.items.as_deref().ok_or_else(|| CoreError::BadPath {
                path: path.to_string(),
                reason: "not a list".into(),
            })?;
            check_size(&path, item)?;
            item_def
                .check(item)
                .map_err(|reason| CoreError::InvalidValue {
                    path: format!("{path}.*"),
                    reason,
                })?;
            let index = c.doc.append(&c.template, &path, item, by)?;
            Ok((index, Touched::Paths(vec![path.clone()])))
        })
    }

    /// Records a checklist item's result (`pass`, `fail`, `na`) and, optionally, its issue
    /// text, in one edit. `item` is the item id from the checklist's code table.
    pub fn set_checklist_item(
        &self,
        id: &str,
        item: &str,
        result: ItemResult,
        issue: Option<&str>,
    ) -> Result<(), CoreError> {
        self.edit(id, |c, by| {
            Self::editable(c)?;
            let (checklist, _) = c
                .template
                .root
                .properties
                .iter()
                .find(|(_, d)| d.widget.as_deref() == Some("checklist"))
                .ok_or_else(|| CoreError::UnknownField {
                    template: c.template.id(),
                    path: "checklist".into(),
                })?;
            let path = FieldPath::parse(&format!("{checklist}.{item}"))?;
            let mut value = serde_json::Map::new();
            value.insert("result".into(), Value::String(result.code().into()));
            if let Some(text) = issue.filter(|t| !t.trim().is_empty()) {
                value.insert("issue".into(), Value::String(text.to_string()));
            }
            for (k, v) in &value {
                check_size(&path.child_key(k), v)?;
                c.template.check_value(&path.child_key(k), v)?;
            }
            c.doc.set(&c.template, &path, &Value::Object(value), by)?;
            Ok(((), Touched::Paths(vec![path])))
        })
    }

    /// The record as a field user sees it.
    pub fn view(&self, id: &str) -> Result<RecordView, CoreError> {
        let mut cache = lock(&self.cache);
        let c = self.load(&mut cache, id)?;
        let eval = c.template.evaluate(&c.data, &c.meta.expr_json());
        let updated_at_ms = self
            .store
            .summary(&c.meta.id)
            .map(|s| s.updated_at_ms)
            .unwrap_or(c.meta.created_at_ms);
        let conflicts = if c.conflicts > 0 {
            c.doc.conflicts()
        } else {
            Vec::new()
        };
        let missing_photos = c.missing_photos();
        let live: Vec<PhotoEntry> = c
            .photos
            .iter()
            .filter(|p| p.removed.is_none())
            .cloned()
            .collect();
        let mut issues = eval.issues;
        issues.extend(missing_photos.iter().map(MissingPhoto::issue));
        let photos = live
            .into_iter()
            .map(|e| self.record_photo(e))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RecordView {
            id: c.meta.id.clone(),
            kind: c.meta.kind.clone(),
            template_id: c.template.id(),
            template_label: c.template.label.clone(),
            name: c.template.record_name(&c.data, &c.meta.id),
            status: c.status,
            events: c.doc.events(),
            comments: c.doc.comments(),
            to_fix: c.doc.to_fix(),
            conflicts,
            meta: c.meta.clone(),
            data: c.data.clone(),
            computed: eval.computed,
            issues,
            completion_pct: eval.completion_pct,
            photos,
            missing_photos,
            updated_at_ms,
        })
    }

    /// Lists records from the summary index (never opens documents).
    pub fn list(&self, filter: &ListFilter) -> Result<Vec<RecordSummary>, CoreError> {
        Ok(self.store.list(filter)?)
    }

    pub fn count(&self) -> Result<u64, CoreError> {
        Ok(self.store.count()?)
    }

    /// Submits a record: errors block, warnings do not.
    pub fn submit(&self, id: &str) -> Result<RecordSummary, CoreError> {
        self.edit(id, |c, by| {
            let errors = c.errors();
            if !errors.is_empty() {
                return Err(CoreError::SubmitBlocked { issues: errors });
            }
            if let Some(conflict) = c.doc.conflicts().first() {
                return Err(CoreError::InvalidState(format!(
                    "resolve the conflict at '{}' before submitting",
                    conflict.path
                )));
            }
            c.doc.add_event(EventKind::Submitted, None, by)?;
            Ok(((), Touched::Events))
        })?;
        Ok(self.store.summary(id)?)
    }

    /// Who changed what and when.
    pub fn history(&self, id: &str) -> Result<Vec<HistoryEntry>, CoreError> {
        let mut cache = lock(&self.cache);
        let entry = self.load(&mut cache, id)?;
        Ok(entry.doc.history())
    }

    /// The template a record from elsewhere was made with, if this device knows it.
    pub(crate) fn template_of(&self, meta: &RecordMeta) -> Result<Arc<Template>, CoreError> {
        self.template_set()
            .get(&meta.kind, meta.template_version)
            .map_err(|_| {
                CoreError::BadRecord(format!(
                    "template {}.v{} is not known on this device",
                    meta.kind, meta.template_version
                ))
            })
    }

    pub(crate) fn has_record(&self, id: &str) -> Result<bool, CoreError> {
        match self.store.summary(id) {
            Ok(_) => Ok(true),
            Err(jingtu_store::StoreError::NotFound(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The whole record as bytes, to carry to another device.
    pub fn export(&self, id: &str) -> Result<Vec<u8>, CoreError> {
        let mut cache = lock(&self.cache);
        let entry = self.load(&mut cache, id)?;
        Ok(entry.doc.save())
    }

    /// Imports a record exported elsewhere: a new record is stored, a known one is merged.
    pub fn import(&self, bytes: &[u8]) -> Result<ImportOutcome, CoreError> {
        let incoming = RecordDoc::load(bytes, self.actor.clone())?;
        let meta = incoming.meta()?;
        let template = self.template_of(&meta)?;
        if !self.has_record(&meta.id)? {
            let mut cached = Cached::new(incoming, template, 1)?;
            let new_changes = cached.doc.history().len();
            let summary = self.summarize(&cached, now_ms());
            let refs = cached.photo_refs();
            self.store.insert_record_with_photos(
                &summary,
                &cached.doc.save(),
                Some(PhotoChange {
                    put: None,
                    refs: &refs,
                }),
            )?;
            return Ok(ImportOutcome {
                id: meta.id,
                created: true,
                new_changes,
            });
        }
        let new_changes = self.edit(&meta.id, |c, _| {
            Ok((c.doc.merge_bytes(bytes)?, Touched::Everything))
        })?;
        Ok(ImportOutcome {
            id: meta.id,
            created: false,
            new_changes,
        })
    }

    /// Imports or merges many exported records, reporting progress after each one;
    /// `progress(done, total)` returns false to stop (what was imported stays imported).
    /// Returns one outcome per record handled, or the first error with its index.
    pub fn import_many(
        &self,
        files: &[Vec<u8>],
        progress: &mut dyn FnMut(u64, u64) -> bool,
    ) -> Result<Vec<ImportOutcome>, CoreError> {
        let total = files.len() as u64;
        let mut outcomes = Vec::with_capacity(files.len());
        if !progress(0, total) {
            return Err(CoreError::Cancelled);
        }
        for (i, bytes) in files.iter().enumerate() {
            let outcome = self.import(bytes).map_err(|e| match e {
                CoreError::BadRecord(reason) => CoreError::BadRecord(format!("file {i}: {reason}")),
                other => other,
            })?;
            outcomes.push(outcome);
            if !progress(i as u64 + 1, total) && i + 1 < files.len() {
                return Err(CoreError::Cancelled);
            }
        }
        Ok(outcomes)
    }

    /// Every field of the record holding concurrent values.
    pub fn conflicts(&self, id: &str) -> Result<Vec<Conflict>, CoreError> {
        let mut cache = lock(&self.cache);
        let entry = self.load(&mut cache, id)?;
        Ok(entry.doc.conflicts())
    }

    /// Resolves the conflict at `path` with `value` (one of the values shown, or a new one).
    pub fn resolve_conflict(&self, id: &str, path: &str, value: &Value) -> Result<(), CoreError> {
        let fp = FieldPath::parse(path)?;
        // A supervisor also resolves conflicts of a submitted record (they arise when one
        // device submits while another still edits).
        let reviewer = self.enrollment()?.is_some_and(|e| e.role.reviews());
        self.edit(id, |c, by| {
            if !(reviewer && c.status == Status::Submitted) {
                Self::editable(c)?;
            }
            if !c.doc.conflicts().iter().any(|x| x.path == fp.to_string()) {
                return Err(CoreError::InvalidState(format!("no conflict at '{fp}'")));
            }
            if !value.is_null() {
                check_size(&fp, value)?;
                c.template.check_value(&fp, value)?;
            }
            c.doc.resolve(&c.template, &fp, value, by)?;
            Ok(((), Touched::Everything))
        })
    }

    /// Like [`Self::resolve_conflict`], from text typed by a person.
    pub fn resolve_conflict_text(&self, id: &str, path: &str, text: &str) -> Result<(), CoreError> {
        let value = self.parse_text(id, path, text)?;
        self.resolve_conflict(id, path, &value)
    }

    /// Bytes of the store on disk.
    pub fn disk_bytes(&self) -> u64 {
        let _ = self.store.checkpoint();
        self.store.disk_bytes()
    }
}

fn clean(v: &Option<String>) -> Option<String> {
    v.as_ref()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::CACHE_DOCS;
    use serde_json::json;

    #[test]
    fn a_record_leaving_the_open_ones_with_many_edits_is_folded_into_one_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let core = DeviceCore::open(dir.path()).unwrap();
        let place = NewRecordPlace::default();
        let busy = core.create_record("village_inspection", &place).unwrap().id;
        for year in 2020..2030 {
            core.set_field(&busy, "eval_year", &json!(year)).unwrap();
        }
        // A record edited twice stays as it is: folding it would gain nothing.
        let quiet = core.create_record("village_inspection", &place).unwrap().id;
        core.set_field(&quiet, "eval_year", &json!(2024)).unwrap();
        let chunks = core.store.load(&busy).unwrap().chunks;
        assert_eq!(chunks, 11);
        let before = core.view(&busy).unwrap();
        let history = core.history(&busy).unwrap().len();

        // Opening as many other records pushes both out of memory.
        for _ in 0..CACHE_DOCS {
            core.create_record("village_inspection", &place).unwrap();
        }
        assert!(!lock(&core.cache).docs.contains_key(&busy));
        assert_eq!(core.store.load(&busy).unwrap().chunks, 1, "folded");
        assert_eq!(core.store.load(&quiet).unwrap().chunks, 2, "left as it was");

        // The same record, and it still waits to be pushed.
        let after = core.view(&busy).unwrap();
        assert_eq!(after.data, before.data);
        assert_eq!(after.status, before.status);
        assert_eq!(core.history(&busy).unwrap().len(), history);
        assert!(core.record_sync_state(&busy).unwrap().pending_upload);
    }
}
