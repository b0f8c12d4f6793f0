//! Photo entries of a record: the `photos` map, keyed by photo id (a UUID made on the device),
//! so two devices adding photos at once never collide. An entry names the stored image by its
//! SHA-256; the bytes live in the store and travel apart from the document. Removing a photo
//! sets a flag with who and when (history is kept) and takes its id out of the field's list.

use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value as AmValue, ValueRef};
use jingtu_model::{FieldPath, PhotoHash, Template};
use serde::{Deserialize, Serialize};

use crate::record::path_err;
use crate::{DocError, Editor, RecordDoc};

/// One photo of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhotoEntry {
    pub id: String,
    /// SHA-256 of the stored image: its content id (checked when read from the document).
    pub sha256: PhotoHash,
    /// A code of the `photo_type` table.
    pub tag: String,
    /// The data field the photo proves (a checklist item, a photo list), if any.
    pub field: Option<String>,
    /// The photo list the photo's id was added to (`field` itself or `field.photos`).
    pub list: Option<String>,
    /// When the photo was taken (camera time when the photo carries one, else the device's).
    pub taken_at_ms: i64,
    /// `camera` or `device`.
    pub time_source: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub accuracy_m: Option<f64>,
    /// `camera`, `device` or absent when there is no position.
    pub position_source: Option<String>,
    pub width: u32,
    pub height: u32,
    /// Bytes of the stored image.
    pub size: u64,
    pub note: Option<String>,
    pub stamped: bool,
    pub author: String,
    pub device: String,
    pub added_at_ms: i64,
    pub removed: Option<PhotoRemoval>,
}

/// Who removed a photo from the record, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoRemoval {
    pub by: String,
    pub at_ms: i64,
}

impl RecordDoc {
    fn photos_obj(&self) -> Result<ObjId, DocError> {
        match self.doc.get(ROOT, "photos")? {
            Some((AmValue::Object(ObjType::Map), id)) => Ok(id),
            _ => Err(DocError::NotARecord("no photos map".into())),
        }
    }

    /// Adds a photo entry and, when `entry.list` names one, its id to that list of `data`
    /// (the caller checked that the path is a list of photo ids in the template), in one change.
    pub fn add_photo(
        &mut self,
        template: &Template,
        entry: &PhotoEntry,
        by: &Editor,
    ) -> Result<(), DocError> {
        let photos = self.photos_obj()?;
        if self.doc.get(&photos, entry.id.as_str())?.is_some() {
            return Err(DocError::Value {
                path: format!("photos.{}", entry.id),
                reason: "a photo with this id exists".into(),
            });
        }
        let list_path = match &entry.list {
            Some(p) => Some(FieldPath::parse(p).map_err(|e| DocError::Path {
                path: p.clone(),
                reason: e.to_string(),
            })?),
            None => None,
        };
        self.attempt(|rd| {
            let m = rd
                .doc
                .put_object(&photos, entry.id.as_str(), ObjType::Map)?;
            let put = |rd: &mut RecordDoc, k: &str, v: ScalarValue| rd.doc.put(&m, k, v);
            put(rd, "sha256", entry.sha256.as_str().into())?;
            put(rd, "tag", entry.tag.as_str().into())?;
            if let Some(f) = &entry.field {
                put(rd, "field", f.as_str().into())?;
            }
            if let Some(l) = &entry.list {
                put(rd, "list", l.as_str().into())?;
            }
            put(rd, "taken_at", entry.taken_at_ms.into())?;
            put(rd, "time_source", entry.time_source.as_str().into())?;
            for (k, v) in [
                ("lat", entry.lat),
                ("lon", entry.lon),
                ("accuracy_m", entry.accuracy_m),
            ] {
                if let Some(v) = v.filter(|v| v.is_finite()) {
                    put(rd, k, v.into())?;
                }
            }
            if let Some(s) = &entry.position_source {
                put(rd, "position_source", s.as_str().into())?;
            }
            put(rd, "width", i64::from(entry.width).into())?;
            put(rd, "height", i64::from(entry.height).into())?;
            put(rd, "size", (entry.size as i64).into())?;
            if let Some(n) = &entry.note {
                put(rd, "note", n.as_str().into())?;
            }
            put(rd, "stamped", entry.stamped.into())?;
            put(rd, "author", entry.author.as_str().into())?;
            put(rd, "device", entry.device.as_str().into())?;
            put(rd, "added_at", entry.added_at_ms.into())?;
            if let Some(path) = &list_path {
                let (obj, prop) = rd.parent_of(template, path, true)?;
                let list = match rd.doc.get(&obj, prop.clone())? {
                    Some((AmValue::Object(ObjType::List), id)) => id,
                    Some(_) => return Err(path_err(path, "not a list in this document")),
                    None => rd.doc.put_object(&obj, prop, ObjType::List)?,
                };
                let end = rd.doc.length(&list);
                rd.doc.insert(&list, end, entry.id.as_str())?;
            }
            Ok(())
        })?;
        let mut at = vec![format!("photos.{}", entry.id)];
        at.extend(entry.list.clone());
        self.commit(by, "photo", &at);
        Ok(())
    }

    /// Marks a photo removed (kept in history) and takes its id out of its list.
    /// Returns the entry as it was.
    pub fn remove_photo(
        &mut self,
        template: &Template,
        photo_id: &str,
        by: &Editor,
    ) -> Result<PhotoEntry, DocError> {
        let entry = self
            .photo(photo_id)
            .filter(|p| p.removed.is_none())
            .ok_or_else(|| DocError::Value {
                path: format!("photos.{photo_id}"),
                reason: "no such photo in this record".into(),
            })?;
        let photos = self.photos_obj()?;
        self.attempt(|rd| {
            let m = match rd.doc.get(&photos, photo_id)? {
                Some((AmValue::Object(ObjType::Map), id)) => id,
                _ => {
                    return Err(DocError::Value {
                        path: format!("photos.{photo_id}"),
                        reason: "not a photo entry".into(),
                    });
                }
            };
            rd.doc.put(&m, "removed_by", by.author.as_str())?;
            rd.doc.put(&m, "removed_at", by.time_ms)?;
            if let Some(path) = entry.list.as_deref().and_then(|p| FieldPath::parse(p).ok())
                && let Ok((obj, prop)) = rd.parent_of(template, &path, false)
                && let Some((AmValue::Object(ObjType::List), list)) = rd.doc.get(&obj, prop)?
            {
                for i in (0..rd.doc.length(&list)).rev() {
                    if let Some((AmValue::Scalar(s), _)) = rd.doc.get(&list, i)?
                        && s.as_str() == Some(photo_id)
                    {
                        rd.doc.delete(&list, i)?;
                    }
                }
            }
            Ok(())
        })?;
        let mut at = vec![format!("photos.{photo_id}")];
        at.extend(entry.list.clone());
        self.commit(by, "photo_removed", &at);
        Ok(entry)
    }

    /// One photo entry, removed or not.
    pub fn photo(&self, photo_id: &str) -> Option<PhotoEntry> {
        let photos = self.photos_obj().ok()?;
        match self.doc.get(&photos, photo_id).ok()?? {
            (AmValue::Object(ObjType::Map), m) => self.read_photo(photo_id, &m),
            _ => None,
        }
    }

    /// Every photo entry (removed ones too), oldest first.
    pub fn photos(&self) -> Vec<PhotoEntry> {
        let Ok(photos) = self.photos_obj() else {
            return Vec::new();
        };
        let mut out: Vec<PhotoEntry> = self
            .doc
            .map_range(&photos, ..)
            .filter_map(|item| match item.value {
                ValueRef::Object(ObjType::Map) => self.read_photo(&item.key, &item.id()),
                _ => None,
            })
            .collect();
        out.sort_by(|a, b| (a.added_at_ms, &a.id).cmp(&(b.added_at_ms, &b.id)));
        out
    }

    /// Refuses a record holding a photo entry that does not name its image by a well-formed
    /// SHA-256 (from a device that is not jingtu's, or crafted): such an entry would be
    /// invisible, and its hash would name files and paths.
    pub(crate) fn check_photos(&self) -> Result<(), DocError> {
        let Ok(photos) = self.photos_obj() else {
            return Ok(());
        };
        for item in self.doc.map_range(&photos, ..) {
            let well_formed = match item.value {
                ValueRef::Object(ObjType::Map) => {
                    matches!(self.doc.get(item.id(), "sha256"),
                        Ok(Some((AmValue::Scalar(v), _))) if v.as_str().is_some_and(PhotoHash::is_valid))
                }
                _ => false,
            };
            if !well_formed {
                return Err(DocError::NotARecord(format!(
                    "photo entry {} does not name its image by a SHA-256 (64 lowercase hex \
                     digits)",
                    item.key.chars().take(40).collect::<String>()
                )));
            }
        }
        Ok(())
    }

    fn read_photo(&self, id: &str, m: &ObjId) -> Option<PhotoEntry> {
        let scalar = |k: &str| match self.doc.get(m, k) {
            Ok(Some((AmValue::Scalar(v), _))) => Some(v.into_owned()),
            _ => None,
        };
        let s = |k: &str| scalar(k).and_then(|v| v.as_str().map(str::to_string));
        let i = |k: &str| scalar(k).and_then(|v| v.as_i64());
        let f = |k: &str| scalar(k).and_then(|v| v.as_f64());
        let removed = match (s("removed_by"), i("removed_at")) {
            (Some(by), Some(at_ms)) => Some(PhotoRemoval { by, at_ms }),
            _ => None,
        };
        Some(PhotoEntry {
            id: id.to_string(),
            sha256: PhotoHash::parse(&s("sha256")?)?,
            tag: s("tag")?,
            field: s("field"),
            list: s("list"),
            taken_at_ms: i("taken_at").unwrap_or_default(),
            time_source: s("time_source").unwrap_or_default(),
            lat: f("lat"),
            lon: f("lon"),
            accuracy_m: f("accuracy_m"),
            position_source: s("position_source"),
            width: i("width").and_then(|v| u32::try_from(v).ok()).unwrap_or(0),
            height: i("height").and_then(|v| u32::try_from(v).ok()).unwrap_or(0),
            size: i("size").and_then(|v| u64::try_from(v).ok()).unwrap_or(0),
            note: s("note"),
            stamped: matches!(scalar("stamped"), Some(ScalarValue::Boolean(true))),
            author: s("author").unwrap_or_default(),
            device: s("device").unwrap_or_default(),
            added_at_ms: i("added_at").unwrap_or_default(),
            removed,
        })
    }
}
