//! Cheap reads of a record document that the checks and their callers need: the status and
//! the fields of `meta` that decide who may write the record.

use automerge::{Automerge, ObjId, ObjType, ROOT, ReadDoc, Value};
use jingtu_doc::Status;

use crate::guard::guarded;

/// The status of the record held by `doc` ([`jingtu_doc::layout::status_of`]); `Draft` when
/// it has no events list, or when reading it fails.
pub fn record_status(doc: &Automerge) -> Status {
    guarded(|| Some(jingtu_doc::layout::status_of(doc))).unwrap_or(Status::Draft)
}

/// The fields of a record's `meta` that decide whose record it is. The server decides scope
/// (which records a user may write) from them; this crate does not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordScope {
    pub id: Option<String>,
    pub kind: Option<String>,
    pub org_unit: Option<String>,
    pub assignment: Option<String>,
    /// The person who created the record.
    pub author: Option<String>,
}

/// Reads [`RecordScope`] from `doc`'s `meta` map (the shown value of each field; absent
/// fields, non-string values or a missing `meta` read as `None`). For a pushed record, read it
/// from the document after the changes once [`crate::check_changes`] found no
/// `meta_write_once` breach: `meta` then holds what the creating change wrote.
pub fn record_scope(doc: &Automerge) -> RecordScope {
    guarded(|| {
        let Ok(Some((Value::Object(ObjType::Map), meta))) = doc.get(ROOT, jingtu_doc::layout::META)
        else {
            return Some(RecordScope::default());
        };
        Some(RecordScope {
            id: string_at(doc, &meta, "id"),
            kind: string_at(doc, &meta, "kind"),
            org_unit: string_at(doc, &meta, "org_unit"),
            assignment: string_at(doc, &meta, "assignment"),
            author: string_at(doc, &meta, "author"),
        })
    })
    .unwrap_or_default()
}

fn string_at(doc: &Automerge, obj: &ObjId, key: &str) -> Option<String> {
    match doc.get(obj, key) {
        Ok(Some((Value::Scalar(v), _))) => v.as_str().map(str::to_string),
        _ => None,
    }
}
