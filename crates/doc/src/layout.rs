//! The layout of a record document, for readers of a raw Automerge document (the server's
//! write checks in `jingtu-policy`) as much as for [`crate::RecordDoc`]: the top-level keys,
//! the status events and the status derived from them. One owner, so the checks and the
//! record never disagree on what a record holds.

use automerge::hydrate::Value as Hydrated;
use automerge::{ObjType, ROOT, ReadDoc, Value as AmValue};

use crate::{EventKind, Status, StatusEvent};

/// The top-level maps and list of a record (DESIGN.md section 2).
pub const META: &str = "meta";
pub const DATA: &str = "data";
pub const PHOTOS: &str = "photos";
pub const CUSTODY: &str = "custody";
pub const REVIEW: &str = "review";
/// The append-only list of status events.
pub const EVENTS: &str = "events";
/// Every top-level key a record has, in the order they are made.
pub const TOP_LEVEL: [&str; 6] = [META, DATA, PHOTOS, CUSTODY, REVIEW, EVENTS];

/// The keys of one status event.
pub mod event {
    pub const TYPE: &str = "type";
    pub const BY: &str = "by";
    pub const DEVICE: &str = "device";
    pub const AT: &str = "at";
    pub const NOTE: &str = "note";
}

/// The status events of a record document, in list order. Entries that are not maps or whose
/// `type` is not a known [`EventKind`] are skipped. Linear in the number of events: the list
/// is read in one pass (a lookup per event and key costs several times more on a record with
/// tens of thousands of events).
pub fn events_of(doc: &impl ReadDoc) -> Vec<StatusEvent> {
    let Ok(Some((AmValue::Object(ObjType::List), list))) = doc.get(ROOT, EVENTS) else {
        return Vec::new();
    };
    let Ok(Hydrated::List(list)) = doc.hydrate(&list, None) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(list.len());
    for item in list.iter() {
        let Hydrated::Map(e) = &item.value else {
            continue;
        };
        let scalar = |k: &str| match e.get(k) {
            Some(Hydrated::Scalar(v)) => Some(v),
            _ => None,
        };
        let text = |k: &str| scalar(k).and_then(|v| v.as_str()).map(str::to_string);
        let Some(kind) = scalar(event::TYPE)
            .and_then(|v| v.as_str())
            .and_then(EventKind::parse)
        else {
            continue;
        };
        out.push(StatusEvent {
            kind,
            author: text(event::BY).unwrap_or_default(),
            device: text(event::DEVICE).unwrap_or_default(),
            at_ms: scalar(event::AT)
                .and_then(|v| v.as_i64())
                .unwrap_or_default(),
            note: text(event::NOTE),
        });
    }
    out
}

/// The status of a record document: its events in list order folded with [`Status::after`];
/// `Draft` when it has none.
pub fn status_of(doc: &impl ReadDoc) -> Status {
    events_of(doc)
        .iter()
        .fold(Status::Draft, |s, e| s.after(e.kind))
}

/// How many entries the events list holds (cheap: no entry is read). The list only grows, so
/// an unchanged length means no new event.
pub fn event_count(doc: &impl ReadDoc) -> usize {
    match doc.get(ROOT, EVENTS) {
        Ok(Some((AmValue::Object(ObjType::List), list))) => doc.length(&list),
        _ => 0,
    }
}
