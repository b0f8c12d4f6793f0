//! The open records: each document with what is derived from it (values, status, photos,
//! errors), kept in step after an edit by re-reading only the touched paths, and a small LRU
//! of them.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use jingtu_doc::{PhotoEntry, RecordDoc, RecordMeta, Status};
use jingtu_model::{FieldPath, Issue, MissingPhoto, PathSeg, Template};
use jingtu_store::PhotoRef;
use serde_json::Value;

use crate::CoreError;

/// An open record: the document and what is derived from it, kept in step after each edit
/// without reading the whole document again (reads of Automerge are the costly part).
pub(crate) struct Cached {
    pub(crate) doc: RecordDoc,
    pub(crate) template: Arc<Template>,
    pub(crate) chunks: u32,
    pub(crate) meta: RecordMeta,
    pub(crate) data: Value,
    pub(crate) status: Status,
    pub(crate) conflicts: u32,
    /// Every photo entry, removed ones included.
    pub(crate) photos: Vec<PhotoEntry>,
}

impl Cached {
    pub(crate) fn new(
        mut doc: RecordDoc,
        template: Arc<Template>,
        chunks: u32,
    ) -> Result<Cached, CoreError> {
        let meta = doc.meta()?;
        let data = doc.data();
        let status = doc.status();
        let conflicts = doc.conflicts().len() as u32;
        let photos = doc.photos();
        Ok(Cached {
            doc,
            template,
            chunks,
            meta,
            data,
            status,
            conflicts,
            photos,
        })
    }

    /// The live photo references, for the store.
    pub(crate) fn photo_refs(&self) -> Vec<PhotoRef> {
        self.photos
            .iter()
            .filter(|p| p.removed.is_none())
            .map(|p| PhotoRef {
                photo_id: p.id.clone(),
                sha256: p.sha256.to_string(),
            })
            .collect()
    }

    /// Required photos the record lacks.
    pub(crate) fn missing_photos(&self) -> Vec<MissingPhoto> {
        self.template.photos.missing(
            &self.data,
            &self.meta.expr_json(),
            self.photos
                .iter()
                .filter(|p| p.removed.is_none())
                .map(|p| p.tag.as_str()),
        )
    }

    /// Every error that blocks submitting: the template's, and missing photos.
    pub(crate) fn errors(&self) -> Vec<Issue> {
        let eval = self.template.evaluate(&self.data, &self.meta.expr_json());
        let mut errors: Vec<Issue> = eval.errors().cloned().collect();
        errors.extend(self.missing_photos().iter().map(MissingPhoto::issue));
        errors
    }

    /// Brings the derived state up to date after an edit.
    pub(crate) fn refresh(&mut self, touched: &Touched) -> Result<(), CoreError> {
        match touched {
            Touched::Paths(paths) => {
                for p in paths {
                    refresh_path(&self.doc, &mut self.data, p);
                }
            }
            Touched::Events => self.status = self.doc.status(),
            Touched::Custody => {}
            Touched::Photos(list) => {
                self.photos = self.doc.photos();
                if let Some(p) = list {
                    refresh_path(&self.doc, &mut self.data, p);
                }
            }
            Touched::Everything => {
                self.meta = self.doc.meta()?;
                self.data = self.doc.data();
                self.status = self.doc.status();
                self.conflicts = self.doc.conflicts().len() as u32;
                self.photos = self.doc.photos();
            }
        }
        Ok(())
    }
}

/// What an edit changed.
pub(crate) enum Touched {
    /// Local writes at these data paths (they never create conflicts).
    Paths(Vec<FieldPath>),
    /// A status event.
    Events,
    /// A custody event (nothing cached reads custody).
    Custody,
    /// A photo entry, and the photo list of `data` it was added to or removed from.
    Photos(Option<FieldPath>),
    /// Anything (merges, conflict resolution).
    Everything,
}

/// Re-reads one written path into the cached data: the leaf, or the first container missing
/// from the cache, or the whole list when an item index is involved.
fn refresh_path(doc: &RecordDoc, data: &mut Value, path: &FieldPath) {
    let segs = path.segs();
    let mut depth = 0;
    {
        let mut node: &Value = data;
        while depth + 1 < segs.len() {
            let next = match (&segs[depth], node) {
                (PathSeg::Key(k), Value::Object(o)) => o.get(k),
                (PathSeg::Index(i), Value::Array(a)) => a.get(*i),
                _ => None,
            };
            match next {
                Some(child @ (Value::Object(_) | Value::Array(_))) => {
                    node = child;
                    depth += 1;
                }
                _ => break,
            }
        }
    }
    let mut end = depth + 1;
    // An index may have shifted (a removed item): re-read the whole list.
    while end > 1 && matches!(segs[end - 1], PathSeg::Index(_)) {
        end -= 1;
    }
    let target = FieldPath(segs[..end].to_vec());
    let fresh = doc.get_json(&target);
    put_at(data, &segs[..end], fresh);
    if let (Value::Object(o), Some(PathSeg::Key(top))) = (&mut *data, segs.first())
        && o.get_mut(top).is_some_and(prune)
    {
        o.remove(top);
    }
}

fn put_at(node: &mut Value, segs: &[PathSeg], value: Option<Value>) {
    let Some((first, rest)) = segs.split_first() else {
        return;
    };
    if !node.is_object() && !node.is_array() {
        *node = Value::Object(serde_json::Map::new());
    }
    match (first, node) {
        (PathSeg::Key(k), Value::Object(o)) => {
            if rest.is_empty() {
                match value {
                    Some(v) => {
                        o.insert(k.clone(), v);
                    }
                    None => {
                        o.remove(k);
                    }
                }
            } else if let Some(child) = o.get_mut(k) {
                put_at(child, rest, value);
            }
        }
        (PathSeg::Index(i), Value::Array(a)) => {
            if rest.is_empty() {
                match value {
                    Some(v) if *i < a.len() => a[*i] = v,
                    Some(v) if *i == a.len() => a.push(v),
                    None if *i < a.len() => {
                        a.remove(*i);
                    }
                    _ => {}
                }
            } else if let Some(child) = a.get_mut(*i) {
                put_at(child, rest, value);
            }
        }
        _ => {}
    }
}

/// Drops empty maps and lists the way `RecordDoc::data` leaves them out; returns whether the
/// value itself is now empty. List items stay (an empty item reads as `{}`).
fn prune(v: &mut Value) -> bool {
    match v {
        Value::Object(o) => {
            o.retain(|_, child| !prune(child));
            o.is_empty()
        }
        Value::Array(a) => {
            for item in a.iter_mut() {
                prune(item);
            }
            a.is_empty()
        }
        _ => false,
    }
}

#[derive(Default)]
pub(crate) struct Cache {
    pub(crate) docs: HashMap<String, Cached>,
    order: VecDeque<String>,
}

impl Cache {
    /// Keeps a record open; returns the records that made room for it (the oldest).
    #[must_use = "records leaving the cache may need compacting"]
    pub(crate) fn insert(&mut self, id: String, c: Cached) -> Vec<(String, Cached)> {
        if self.docs.insert(id.clone(), c).is_none() {
            self.order.push_back(id);
        }
        let mut left = Vec::new();
        while self.order.len() > CACHE_DOCS {
            if let Some(old) = self.order.pop_front()
                && let Some(c) = self.docs.remove(&old)
            {
                left.push((old, c));
            }
        }
        left
    }

    pub(crate) fn remove(&mut self, id: &str) {
        self.docs.remove(id);
        self.order.retain(|k| k != id);
    }

    /// Forgets every open record (each is stored; they open again when next used).
    pub(crate) fn clear(&mut self) {
        self.docs.clear();
        self.order.clear();
    }
}

/// Open documents kept in memory.
pub(crate) const CACHE_DOCS: usize = 64;
