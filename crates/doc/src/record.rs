use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::transaction::Transactable;
use automerge::{
    ActorId, AutoCommit, ChangeHash, ObjId, ObjType, Prop, ROOT, ReadDoc, Value as AmValue,
};
use jingtu_model::{FieldDef, FieldKind, FieldPath, PathSeg, Template};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::DocError;
use crate::layout::{EventKind, Status, StatusEvent};
use crate::value::{from_scalar, to_scalar};

/// The largest document accepted from outside (import, sync).
pub const MAX_DOC_BYTES: usize = 32 * 1024 * 1024;

/// Who makes an edit, and when (milliseconds since the Unix epoch, device clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Editor {
    pub author: String,
    pub time_ms: i64,
}

/// The identity of a record, written once at creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordMeta {
    pub id: String,
    pub kind: String,
    pub template_version: u32,
    pub org_unit: Option<String>,
    pub village: Option<String>,
    pub planned_point: Option<String>,
    pub assignment: Option<String>,
    pub author: String,
    pub device: String,
    pub created_at_ms: i64,
}

impl RecordMeta {
    /// What the template's expressions see of the record's identity (`meta.kind`,
    /// `meta.org_unit`, `meta.village`, `meta.planned_point`).
    pub fn expr_json(&self) -> Value {
        serde_json::json!({
            "kind": self.kind,
            "org_unit": self.org_unit,
            "village": self.village,
            "planned_point": self.planned_point,
        })
    }
}

/// One record as an Automerge document.
pub struct RecordDoc {
    pub(crate) doc: AutoCommit,
}

impl std::fmt::Debug for RecordDoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordDoc").finish_non_exhaustive()
    }
}

impl RecordDoc {
    /// A new record from `template`, its containers created up front.
    pub fn create(
        actor: ActorId,
        template: &Template,
        meta: &RecordMeta,
        by: &Editor,
    ) -> Result<RecordDoc, DocError> {
        let mut doc = AutoCommit::new().with_actor(actor);
        let m = doc.put_object(ROOT, "meta", ObjType::Map)?;
        doc.put(&m, "id", meta.id.as_str())?;
        doc.put(&m, "kind", meta.kind.as_str())?;
        doc.put(&m, "template_version", i64::from(meta.template_version))?;
        for (key, value) in [
            ("org_unit", &meta.org_unit),
            ("village", &meta.village),
            ("planned_point", &meta.planned_point),
            ("assignment", &meta.assignment),
        ] {
            if let Some(v) = value {
                doc.put(&m, key, v.as_str())?;
            }
        }
        doc.put(&m, "author", meta.author.as_str())?;
        doc.put(&m, "device", meta.device.as_str())?;
        doc.put(&m, "created_at", meta.created_at_ms)?;
        let data = doc.put_object(ROOT, "data", ObjType::Map)?;
        ensure_containers(&mut doc, &template.root, &data)?;
        for key in ["photos", "custody", "review"] {
            doc.put_object(ROOT, key, ObjType::Map)?;
        }
        doc.put_object(ROOT, "events", ObjType::List)?;
        let mut rd = RecordDoc { doc };
        rd.commit(by, "create", &[]);
        Ok(rd)
    }

    /// Loads a document from bytes that may come from anywhere: size-capped, measured against
    /// the default [`crate::ExpansionLimits`] before Automerge decodes them, panics caught,
    /// layout checked.
    pub fn load(bytes: &[u8], actor: ActorId) -> Result<RecordDoc, DocError> {
        if bytes.len() > MAX_DOC_BYTES {
            return Err(DocError::TooLarge {
                size: bytes.len(),
                limit: MAX_DOC_BYTES,
            });
        }
        crate::check_expansion(bytes, &crate::ExpansionLimits::DEFAULT)?;
        let rd = RecordDoc::load_stored(bytes, actor)?;
        rd.check_photos()?;
        Ok(rd)
    }

    /// Loads a document from this device's own store: the chunks of every edit it accepted,
    /// which may add up to more than an import would be allowed, so no size cap; panics are
    /// still caught and the layout checked.
    pub fn load_stored(bytes: &[u8], actor: ActorId) -> Result<RecordDoc, DocError> {
        if bytes.is_empty() {
            return Err(DocError::Corrupt("no bytes".into()));
        }
        let loaded = catch_unwind(AssertUnwindSafe(|| AutoCommit::load(bytes)))
            .map_err(|_| DocError::Corrupt("the decoder failed".into()))?
            .map_err(|e| DocError::Corrupt(e.to_string()))?;
        let rd = RecordDoc {
            doc: loaded.with_actor(actor),
        };
        rd.meta()?;
        rd.check_containers()?;
        Ok(rd)
    }

    /// The root containers every record has.
    pub(crate) fn check_containers(&self) -> Result<(), DocError> {
        match self.doc.get(ROOT, "data") {
            Ok(Some((AmValue::Object(ObjType::Map), _))) => {}
            _ => return Err(DocError::NotARecord("no data map".into())),
        }
        match self.doc.get(ROOT, "events") {
            Ok(Some((AmValue::Object(ObjType::List), _))) => {}
            _ => return Err(DocError::NotARecord("no events list".into())),
        }
        Ok(())
    }

    /// Merges another copy of the same record (bytes from another device).
    pub fn merge_bytes(&mut self, bytes: &[u8]) -> Result<usize, DocError> {
        let mut other = RecordDoc::load(bytes, ActorId::random())?;
        let (mine, theirs) = (self.meta()?, other.meta()?);
        if mine.id != theirs.id {
            return Err(DocError::DifferentRecord {
                existing: mine.id,
                incoming: theirs.id,
            });
        }
        let before = self.heads();
        let doc = &mut self.doc;
        catch_unwind(AssertUnwindSafe(|| doc.merge(&mut other.doc)))
            .map_err(|_| DocError::Corrupt("the merge failed".into()))??;
        // `merge` answers the heads after merging; the caller wants the new changes.
        Ok(self.doc.get_changes_meta(&before).len())
    }

    /// The underlying Automerge document, for read-only checks (`jingtu-policy`).
    pub fn automerge(&mut self) -> &automerge::Automerge {
        self.doc.document()
    }

    pub fn actor(&self) -> String {
        self.doc.get_actor().to_hex_string()
    }

    /// Whether this document holds the change `hash`.
    pub fn has_change(&mut self, hash: &ChangeHash) -> bool {
        self.doc.get_change_by_hash(hash).is_some()
    }

    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// Every change, as one compact document.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// Every change, as one compact document whose columns are not DEFLATE-compressed: for
    /// sending in a batch that is compressed as a whole (a sync request's zstd frame finds
    /// what similar records share, which per-column DEFLATE hides). It loads like
    /// [`Self::save`]'s bytes, costs a fifth as much to make and a little less to load.
    pub fn save_uncompressed(&mut self) -> Vec<u8> {
        self.doc.save_nocompress()
    }

    /// The changes made after `heads` (empty when there are none).
    pub fn save_after(&mut self, heads: &[ChangeHash]) -> Vec<u8> {
        self.doc.save_after(heads)
    }

    pub fn meta(&self) -> Result<RecordMeta, DocError> {
        let m = match self.doc.get(ROOT, "meta") {
            Ok(Some((AmValue::Object(ObjType::Map), id))) => id,
            _ => return Err(DocError::NotARecord("no meta map".into())),
        };
        let s = |k: &str| -> Option<String> {
            match self.doc.get(&m, k) {
                Ok(Some((AmValue::Scalar(v), _))) => v.as_str().map(str::to_string),
                _ => None,
            }
        };
        let i = |k: &str| -> Option<i64> {
            match self.doc.get(&m, k) {
                Ok(Some((AmValue::Scalar(v), _))) => v.as_i64(),
                _ => None,
            }
        };
        let id = s("id").ok_or_else(|| DocError::NotARecord("meta.id missing".into()))?;
        if uuid::Uuid::parse_str(&id).is_err() {
            return Err(DocError::NotARecord(format!(
                "meta.id '{id}' is not a UUID"
            )));
        }
        let kind = s("kind").ok_or_else(|| DocError::NotARecord("meta.kind missing".into()))?;
        let template_version = i("template_version")
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| DocError::NotARecord("meta.template_version missing".into()))?;
        Ok(RecordMeta {
            id,
            kind,
            template_version,
            org_unit: s("org_unit"),
            village: s("village"),
            planned_point: s("planned_point"),
            assignment: s("assignment"),
            author: s("author").unwrap_or_default(),
            device: s("device").unwrap_or_default(),
            created_at_ms: i("created_at").unwrap_or_default(),
        })
    }

    pub(crate) fn data_obj(&self) -> Result<ObjId, DocError> {
        match self.doc.get(ROOT, "data")? {
            Some((AmValue::Object(ObjType::Map), id)) => Ok(id),
            _ => Err(DocError::NotARecord("no data map".into())),
        }
    }

    /// The record's data as JSON; empty maps and lists are left out, so a container created
    /// up front reads as absent until something is written in it.
    pub fn data(&self) -> Value {
        match self.data_obj() {
            Ok(obj) => self
                .read_obj(&obj, ObjType::Map)
                .unwrap_or_else(|| Value::Object(Map::new())),
            Err(_) => Value::Object(Map::new()),
        }
    }

    /// The value at `path` inside `data`, read the same way as [`Self::data`] (empty
    /// containers read as absent). Cheap for a leaf: only the path is walked.
    pub fn get_json(&self, path: &FieldPath) -> Option<Value> {
        let mut obj = self.data_obj().ok()?;
        let segs = path.segs();
        let (last, parents) = segs.split_last()?;
        // A digit segment under a map is a key (checklists keyed by numbered codes).
        let prop = |obj: &ObjId, seg: &PathSeg| match (seg, self.doc.object_type(obj)) {
            (PathSeg::Index(i), Ok(ObjType::Map | ObjType::Table)) => Prop::Map(i.to_string()),
            (seg, _) => prop_of(seg),
        };
        for seg in parents {
            match self.doc.get(&obj, prop(&obj, seg)).ok()?? {
                (AmValue::Object(_), id) => obj = id,
                _ => return None,
            }
        }
        let (v, id) = self.doc.get(&obj, prop(&obj, last)).ok()??;
        self.read_value(v, &id)
    }

    /// The whole document as JSON (meta, data, photos, custody, review, events).
    pub fn to_json(&self) -> Value {
        self.read_obj(&ROOT, ObjType::Map)
            .unwrap_or_else(|| Value::Object(Map::new()))
    }

    pub(crate) fn read_obj(&self, obj: &ObjId, ty: ObjType) -> Option<Value> {
        match ty {
            ObjType::Map | ObjType::Table => {
                let mut out = Map::new();
                for key in self.doc.keys(obj) {
                    if let Ok(Some((v, id))) = self.doc.get(obj, key.as_str())
                        && let Some(v) = self.read_value(v, &id)
                    {
                        out.insert(key, v);
                    }
                }
                (!out.is_empty()).then_some(Value::Object(out))
            }
            ObjType::List => {
                let len = self.doc.length(obj);
                let mut out = Vec::with_capacity(len);
                for i in 0..len {
                    if let Ok(Some((v, id))) = self.doc.get(obj, i) {
                        out.push(
                            self.read_value(v, &id)
                                .unwrap_or_else(|| Value::Object(Map::new())),
                        );
                    }
                }
                (!out.is_empty()).then_some(Value::Array(out))
            }
            ObjType::Text => self.doc.text(obj).ok().map(Value::String),
        }
    }

    fn read_value(&self, v: AmValue<'_>, id: &ObjId) -> Option<Value> {
        match v {
            AmValue::Object(ty) => self.read_obj(id, ty),
            AmValue::Scalar(s) => Some(from_scalar(&s)),
        }
    }

    /// Finds (and, for `create`, makes) the object that holds the last segment of `path`.
    pub(crate) fn parent_of(
        &mut self,
        template: &Template,
        path: &FieldPath,
        create: bool,
    ) -> Result<(ObjId, Prop), DocError> {
        let segs = path.segs();
        let Some((last, parents)) = segs.split_last() else {
            return Err(path_err(path, "empty path"));
        };
        let mut obj = self.data_obj()?;
        let mut def: &FieldDef = &template.root;
        for seg in parents {
            let child_def = child_def(def, seg).ok_or_else(|| path_err(path, "no such field"))?;
            let prop = prop_in(def, seg);
            let existing = match &prop {
                Prop::Seq(i) if *i >= self.doc.length(&obj) => {
                    return Err(path_err(path, &format!("list has no item {i}")));
                }
                p => self.doc.get(&obj, p.clone())?,
            };
            obj = match existing {
                Some((AmValue::Object(_), id)) => id,
                _ if !create => return Err(path_err(path, "nothing there")),
                _ => {
                    let ty = container_type(child_def)
                        .ok_or_else(|| path_err(path, "not a container"))?;
                    let id = self.doc.put_object(&obj, prop, ty)?;
                    ensure_containers(&mut self.doc, child_def, &id)?;
                    id
                }
            };
            def = child_def;
        }
        Ok((obj, prop_in(def, last)))
    }

    /// Writes `value` at `path` (a checked value: see `Template::check_value`). Objects are
    /// written key by key into the existing map (keys not given are kept; a null clears one);
    /// lists are replaced; long text is updated in place so that concurrent typing merges.
    pub fn set(
        &mut self,
        template: &Template,
        path: &FieldPath,
        value: &Value,
        by: &Editor,
    ) -> Result<(), DocError> {
        if value.is_null() {
            return self.clear(template, path, by);
        }
        let def = template
            .field(path)
            .map_err(|e| path_err(path, &e.to_string()))?;
        self.attempt(|rd| {
            let (obj, prop) = rd.parent_of(template, path, true)?;
            if let Prop::Seq(i) = prop
                && i >= rd.doc.length(&obj)
            {
                return Err(path_err(path, &format!("list has no item {i}")));
            }
            rd.write(def, &obj, prop, value, false)
        })?;
        self.commit(by, "set", &[path.to_string()]);
        Ok(())
    }

    /// Writes `value` at `path` as a fresh value that supersedes every concurrent one.
    pub fn resolve(
        &mut self,
        template: &Template,
        path: &FieldPath,
        value: &Value,
        by: &Editor,
    ) -> Result<(), DocError> {
        let def = template
            .field(path)
            .map_err(|e| path_err(path, &e.to_string()))?;
        self.attempt(|rd| {
            let (obj, prop) = rd.parent_of(template, path, true)?;
            if value.is_null() {
                rd.doc.delete(&obj, prop).map_err(DocError::from)
            } else {
                rd.write(def, &obj, prop, value, true)
            }
        })?;
        self.commit(by, "resolve", &[path.to_string()]);
        Ok(())
    }

    /// Removes the value at `path` (a field, or an item of a list).
    pub fn clear(
        &mut self,
        template: &Template,
        path: &FieldPath,
        by: &Editor,
    ) -> Result<(), DocError> {
        template
            .field(path)
            .map_err(|e| path_err(path, &e.to_string()))?;
        let (obj, prop) = match self.parent_of(template, path, false) {
            Ok(found) => found,
            Err(DocError::Path { .. }) => return Ok(()), // nothing there to clear
            Err(e) => return Err(e),
        };
        let present = match &prop {
            Prop::Seq(i) => *i < self.doc.length(&obj),
            p => self.doc.get(&obj, p.clone())?.is_some(),
        };
        if !present {
            return Ok(());
        }
        self.doc.delete(&obj, prop)?;
        self.commit(by, "clear", &[path.to_string()]);
        Ok(())
    }

    /// Appends an item to the list at `path`; returns its index.
    pub fn append(
        &mut self,
        template: &Template,
        path: &FieldPath,
        value: &Value,
        by: &Editor,
    ) -> Result<usize, DocError> {
        let def = template
            .field(path)
            .map_err(|e| path_err(path, &e.to_string()))?;
        let item_def = match (def.kind, def.items.as_deref()) {
            (FieldKind::Array, Some(d)) => d,
            _ => return Err(path_err(path, "not a list")),
        };
        let index = self.attempt(|rd| {
            let (obj, prop) = rd.parent_of(template, path, true)?;
            let list = match rd.doc.get(&obj, prop.clone())? {
                Some((AmValue::Object(ObjType::List), id)) => id,
                Some(_) => return Err(path_err(path, "not a list in this document")),
                None => rd.doc.put_object(&obj, prop, ObjType::List)?,
            };
            let index = rd.doc.length(&list);
            rd.insert_item(item_def, &list, index, value)?;
            Ok(index)
        })?;
        self.commit(by, "append", &[path.child_index(index).to_string()]);
        Ok(index)
    }

    fn insert_item(
        &mut self,
        def: &FieldDef,
        list: &ObjId,
        index: usize,
        value: &Value,
    ) -> Result<(), DocError> {
        match value {
            Value::Object(o) => {
                let id = self.doc.insert_object(list, index, ObjType::Map)?;
                ensure_containers(&mut self.doc, def, &id)?;
                for (k, v) in o {
                    if let Some(d) = def.child(k) {
                        self.write(d, &id, Prop::Map(k.clone()), v, false)?;
                    }
                }
            }
            Value::Array(items) => {
                let id = self.doc.insert_object(list, index, ObjType::List)?;
                let item_def = def.items.as_deref().unwrap_or(def);
                for (i, v) in items.iter().enumerate() {
                    self.insert_item(item_def, &id, i, v)?;
                }
            }
            scalar => {
                if def.is_text()
                    && let Value::String(s) = scalar
                {
                    let id = self.doc.insert_object(list, index, ObjType::Text)?;
                    self.replace_text(&id, s)?;
                } else if let Some(s) = to_scalar(scalar) {
                    self.doc.insert(list, index, s)?;
                }
            }
        }
        Ok(())
    }

    fn write(
        &mut self,
        def: &FieldDef,
        obj: &ObjId,
        prop: Prop,
        value: &Value,
        fresh: bool,
    ) -> Result<(), DocError> {
        let existing = match self.doc.get(obj, prop.clone())? {
            Some((AmValue::Object(ty), id)) if !fresh => Some((ty, id)),
            _ => None,
        };
        match value {
            Value::Object(o) => {
                let map = match existing {
                    Some((ObjType::Map, id)) => id,
                    _ => {
                        let id = self.doc.put_object(obj, prop, ObjType::Map)?;
                        ensure_containers(&mut self.doc, def, &id)?;
                        id
                    }
                };
                for (k, v) in o {
                    let d = def.child(k).ok_or_else(|| DocError::Value {
                        path: k.clone(),
                        reason: "no such field".into(),
                    })?;
                    if v.is_null() {
                        self.doc.delete(&map, k.as_str())?;
                    } else {
                        self.write(d, &map, Prop::Map(k.clone()), v, fresh)?;
                    }
                }
            }
            Value::Array(items) => {
                let list = match existing {
                    Some((ObjType::List, id)) => {
                        let len = self.doc.length(&id);
                        for i in (0..len).rev() {
                            self.doc.delete(&id, i)?;
                        }
                        id
                    }
                    _ => self.doc.put_object(obj, prop, ObjType::List)?,
                };
                let item_def = def.items.as_deref().unwrap_or(def);
                for (i, v) in items.iter().enumerate() {
                    self.insert_item(item_def, &list, i, v)?;
                }
            }
            Value::String(s) if def.is_text() => {
                let text = match existing {
                    Some((ObjType::Text, id)) => id,
                    _ => self.doc.put_object(obj, prop, ObjType::Text)?,
                };
                self.replace_text(&text, s)?;
            }
            scalar => {
                let s = to_scalar(scalar).unwrap_or(automerge::ScalarValue::Null);
                self.doc.put(obj, prop, s)?;
            }
        }
        Ok(())
    }

    /// Replaces the content of a text object by splicing only the part that differs (common
    /// prefix and suffix kept): linear in the text's length, and concurrent typing elsewhere
    /// in the text merges.
    fn replace_text(&mut self, text: &ObjId, new: &str) -> Result<(), DocError> {
        let old = self.doc.text(text)?;
        if old == new {
            return Ok(());
        }
        let prefix: usize = old
            .chars()
            .zip(new.chars())
            .take_while(|(a, b)| a == b)
            .map(|(a, _)| a.len_utf8())
            .sum();
        let (old_rest, new_rest) = (&old[prefix..], &new[prefix..]);
        let suffix: usize = old_rest
            .chars()
            .rev()
            .zip(new_rest.chars().rev())
            .take_while(|(a, b)| a == b)
            .map(|(a, _)| a.len_utf8())
            .sum();
        let deleted = &old_rest[..old_rest.len() - suffix];
        let inserted = &new_rest[..new_rest.len() - suffix];
        let width = |s: &str| match self.doc.text_encoding() {
            automerge::TextEncoding::Utf8CodeUnit => Some(s.len()),
            automerge::TextEncoding::Utf16CodeUnit => Some(s.encode_utf16().count()),
            automerge::TextEncoding::UnicodeCodePoint => Some(s.chars().count()),
            automerge::TextEncoding::GraphemeCluster => None,
        };
        match (width(&old[..prefix]), width(deleted)) {
            (Some(pos), Some(del)) => {
                self.doc.splice_text(text, pos, del as isize, inserted)?;
            }
            _ => self.doc.update_text(text, new)?,
        }
        Ok(())
    }

    /// Appends a status event, if it changes the status; returns the new status.
    pub fn add_event(
        &mut self,
        kind: EventKind,
        note: Option<&str>,
        by: &Editor,
    ) -> Result<Status, DocError> {
        let next = self.attempt(|d| d.push_event(kind, note, by))?;
        self.commit(by, kind.as_str(), &[]);
        Ok(next)
    }

    /// Appends a status event without committing; an error when it would not change the status.
    pub(crate) fn push_event(
        &mut self,
        kind: EventKind,
        note: Option<&str>,
        by: &Editor,
    ) -> Result<Status, DocError> {
        let current = self.status();
        let next = current.after(kind);
        if next == current {
            return Err(DocError::Status(format!(
                "a {} record cannot be {}",
                current.as_str(),
                kind.as_str()
            )));
        }
        let events = match self.doc.get(ROOT, "events")? {
            Some((AmValue::Object(ObjType::List), id)) => id,
            _ => return Err(DocError::NotARecord("no events list".into())),
        };
        let index = self.doc.length(&events);
        let e = self.doc.insert_object(&events, index, ObjType::Map)?;
        self.doc.put(&e, "type", kind.as_str())?;
        self.doc.put(&e, "by", by.author.as_str())?;
        self.doc.put(&e, "device", self.actor().as_str())?;
        self.doc.put(&e, "at", by.time_ms)?;
        if let Some(n) = note {
            self.doc.put(&e, "note", n)?;
        }
        Ok(next)
    }

    pub fn events(&self) -> Vec<StatusEvent> {
        crate::layout::events_of(&self.doc)
    }

    /// How many status events the record holds (cheap: none is read).
    pub fn event_count(&self) -> usize {
        crate::layout::event_count(&self.doc)
    }

    /// The status derived from the events, in list order (the same on every device).
    pub fn status(&self) -> Status {
        crate::layout::status_of(&self.doc)
    }

    /// Runs the operations of one edit; when it fails, drops the operations it made, which
    /// would otherwise go out unannounced with the next change (or the next save).
    pub(crate) fn attempt<T>(
        &mut self,
        edit: impl FnOnce(&mut RecordDoc) -> Result<T, DocError>,
    ) -> Result<T, DocError> {
        let result = edit(self);
        if result.is_err() {
            self.doc.rollback();
        }
        result
    }
}

pub(crate) fn path_err(path: &FieldPath, reason: &str) -> DocError {
    DocError::Path {
        path: path.to_string(),
        reason: reason.to_string(),
    }
}

fn prop_of(seg: &PathSeg) -> Prop {
    match seg {
        PathSeg::Key(k) => Prop::Map(k.clone()),
        PathSeg::Index(i) => Prop::Seq(*i),
    }
}

/// The property `seg` names inside a value of `parent`: digits under an object are a key (a
/// checklist keyed by numbered codes), as in `Template::field`.
fn prop_in(parent: &FieldDef, seg: &PathSeg) -> Prop {
    match seg {
        PathSeg::Index(i) if parent.kind == FieldKind::Object => Prop::Map(i.to_string()),
        seg => prop_of(seg),
    }
}

fn child_def<'a>(def: &'a FieldDef, seg: &PathSeg) -> Option<&'a FieldDef> {
    match (seg, def.kind) {
        (PathSeg::Key(k), FieldKind::Object) => def.child(k),
        (PathSeg::Index(i), FieldKind::Object) => def.child(&i.to_string()),
        (PathSeg::Index(_), FieldKind::Array) => def.items.as_deref(),
        _ => None,
    }
}

fn container_type(def: &FieldDef) -> Option<ObjType> {
    match def.kind {
        FieldKind::Object => Some(ObjType::Map),
        FieldKind::Array => Some(ObjType::List),
        _ => None,
    }
}

/// Creates the maps and lists a record needs under `obj` (named object and list fields, and
/// one map per item of a checklist), so no two devices ever create the same container
/// concurrently, which would hide one device's writes behind the other's map.
fn ensure_containers(doc: &mut AutoCommit, def: &FieldDef, obj: &ObjId) -> Result<(), DocError> {
    if def.kind != FieldKind::Object {
        return Ok(());
    }
    for (key, child) in &def.properties {
        make_container(doc, child, obj, key)?;
    }
    if let (Some(add), Some(names)) = (def.additional.as_deref(), &def.property_names) {
        for name in names {
            if def.property(name).is_none() {
                make_container(doc, add, obj, name)?;
            }
        }
    }
    Ok(())
}

fn make_container(
    doc: &mut AutoCommit,
    def: &FieldDef,
    obj: &ObjId,
    key: &str,
) -> Result<(), DocError> {
    if doc.get(obj, key)?.is_some() {
        return Ok(());
    }
    if let Some(ty) = container_type(def) {
        let id = doc.put_object(obj, key, ty)?;
        ensure_containers(doc, def, &id)?;
    }
    Ok(())
}
