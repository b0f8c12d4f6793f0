//! What a record remembers of how it came to be: who made each change and why (the change
//! note), every change in order, and the fields that hold concurrent values.

use automerge::transaction::CommitOptions;
use automerge::{ObjId, ObjType, Prop, ReadDoc, Value as AmValue};
use jingtu_model::FieldPath;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::record::{Editor, RecordDoc};
use crate::value::from_scalar;

/// One of the values a field holds after concurrent writes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConflictValue {
    pub value: Value,
    /// The actor id (hex) of the device that wrote it.
    pub device: String,
    pub author: Option<String>,
    pub time_ms: i64,
    /// The value shown until someone resolves the conflict.
    pub shown: bool,
}

/// A field holding concurrent values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conflict {
    pub path: String,
    pub values: Vec<ConflictValue>,
}

/// One change of a record: who, when, what.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    pub hash: String,
    pub device: String,
    pub seq: u64,
    pub author: Option<String>,
    pub time_ms: i64,
    pub action: String,
    pub paths: Vec<String>,
}

/// What a change message holds: short keys, since every change carries one.
#[derive(Debug, Serialize, Deserialize)]
struct ChangeNote {
    by: String,
    #[serde(rename = "do")]
    action: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    at: Vec<String>,
}

impl RecordDoc {
    /// Every field of `data` holding concurrent values.
    pub fn conflicts(&mut self) -> Vec<Conflict> {
        let mut out = Vec::new();
        if let Ok(data) = self.data_obj() {
            self.collect_conflicts(&data, ObjType::Map, &FieldPath::default(), &mut out);
        }
        out
    }

    fn collect_conflicts(
        &mut self,
        obj: &ObjId,
        ty: ObjType,
        path: &FieldPath,
        out: &mut Vec<Conflict>,
    ) {
        let props: Vec<(Prop, FieldPath)> = match ty {
            ObjType::Map | ObjType::Table => self
                .doc
                .keys(obj)
                .map(|k| (Prop::Map(k.clone()), path.child_key(&k)))
                .collect(),
            ObjType::List => (0..self.doc.length(obj))
                .map(|i| (Prop::Seq(i), path.child_index(i)))
                .collect(),
            ObjType::Text => return,
        };
        for (prop, child_path) in props {
            let Ok(all) = self.doc.get_all(obj, prop.clone()) else {
                continue;
            };
            let all: Vec<(Option<ObjType>, Option<Value>, ObjId)> = all
                .into_iter()
                .map(|(v, id)| match v {
                    AmValue::Object(ty) => (Some(ty), None, id),
                    AmValue::Scalar(s) => (None, Some(from_scalar(&s)), id),
                })
                .collect();
            if all.len() > 1 {
                let shown = self
                    .doc
                    .get(obj, prop.clone())
                    .ok()
                    .flatten()
                    .map(|(_, id)| id);
                let mut values = Vec::new();
                for (ty, scalar, id) in &all {
                    let value = match (ty, scalar) {
                        (Some(ty), _) => self.read_obj(id, *ty).unwrap_or(Value::Null),
                        (None, Some(v)) => v.clone(),
                        (None, None) => Value::Null,
                    };
                    let (device, author, time_ms) = self.origin(id);
                    values.push(ConflictValue {
                        value,
                        device,
                        author,
                        time_ms,
                        shown: shown.as_ref() == Some(id),
                    });
                }
                out.push(Conflict {
                    path: child_path.to_string(),
                    values,
                });
            } else if let Some((Some(ty), _, id)) = all.first() {
                let (ty, id) = (*ty, id.clone());
                self.collect_conflicts(&id, ty, &child_path, out);
            }
        }
    }

    /// The device, author and time of the change that made an operation.
    fn origin(&mut self, op: &ObjId) -> (String, Option<String>, i64) {
        let Some(hash) = self.doc.hash_for_opid(op) else {
            return (String::new(), None, 0);
        };
        match self.doc.get_change_meta_by_hash(&hash) {
            Some(m) => {
                let note = m
                    .message
                    .as_deref()
                    .and_then(|s| serde_json::from_str::<ChangeNote>(s).ok());
                (m.actor.to_hex_string(), note.map(|n| n.by), m.timestamp)
            }
            None => (String::new(), None, 0),
        }
    }

    /// Every change, oldest first as the document orders them.
    pub fn history(&mut self) -> Vec<HistoryEntry> {
        self.doc
            .get_changes_meta(&[])
            .into_iter()
            .map(|m| {
                let note = m
                    .message
                    .as_deref()
                    .and_then(|s| serde_json::from_str::<ChangeNote>(s).ok());
                HistoryEntry {
                    hash: m.hash.to_string(),
                    device: m.actor.to_hex_string(),
                    seq: m.seq,
                    author: note.as_ref().map(|n| n.by.clone()),
                    time_ms: m.timestamp,
                    action: note
                        .as_ref()
                        .map(|n| n.action.clone())
                        .unwrap_or_else(|| "change".into()),
                    paths: note.map(|n| n.at).unwrap_or_default(),
                }
            })
            .collect()
    }

    pub(crate) fn commit(&mut self, by: &Editor, action: &str, paths: &[String]) {
        let note = ChangeNote {
            by: by.author.clone(),
            action: action.to_string(),
            at: paths.to_vec(),
        };
        let message = serde_json::to_string(&note).unwrap_or_default();
        self.doc.commit_with(
            CommitOptions::default()
                .with_message(message)
                .with_time(by.time_ms),
        );
    }
}
