//! The layout of a record document, for readers of a raw Automerge document (the server's
//! write checks in `jingtu-policy`) as much as for [`crate::RecordDoc`]: the top-level keys,
//! the status events and the status derived from them. One owner, so the checks and the
//! record never disagree on what a record holds.

use automerge::hydrate::Value as Hydrated;
use automerge::{ObjType, ROOT, ReadDoc, Value as AmValue};

use serde::{Deserialize, Serialize};

/// A status event; the status is derived from the list of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Submitted,
    Returned,
    Approved,
    Reopened,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Submitted => "submitted",
            EventKind::Returned => "returned",
            EventKind::Approved => "approved",
            EventKind::Reopened => "reopened",
        }
    }

    /// The event a supervisor's decision makes: `approve`, `return` or `reopen` (the words
    /// of the review API, the console's forms and `jingtu review`).
    pub fn decision(word: &str) -> Option<EventKind> {
        Some(match word {
            "approve" => EventKind::Approved,
            "return" => EventKind::Returned,
            "reopen" => EventKind::Reopened,
            _ => return None,
        })
    }

    /// The kind a status event's `type` names.
    pub fn parse(s: &str) -> Option<EventKind> {
        Some(match s {
            "submitted" => EventKind::Submitted,
            "returned" => EventKind::Returned,
            "approved" => EventKind::Approved,
            "reopened" => EventKind::Reopened,
            _ => return None,
        })
    }
}

/// Where a record stands: draft → submitted → returned | approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Draft,
    Submitted,
    Returned,
    Approved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Submitted => "submitted",
            Status::Returned => "returned",
            Status::Approved => "approved",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "draft" => Status::Draft,
            "submitted" => Status::Submitted,
            "returned" => Status::Returned,
            "approved" => Status::Approved,
            _ => return None,
        })
    }

    /// The status after `event`; events that do not apply leave it unchanged, so every
    /// device that holds the same list of events derives the same status.
    pub fn after(self, event: EventKind) -> Status {
        match (self, event) {
            (Status::Draft | Status::Returned, EventKind::Submitted) => Status::Submitted,
            (Status::Submitted, EventKind::Returned) => Status::Returned,
            (Status::Submitted, EventKind::Approved) => Status::Approved,
            (Status::Approved, EventKind::Reopened) => Status::Returned,
            (s, _) => s,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StatusEvent {
    pub kind: EventKind,
    pub author: String,
    pub device: String,
    pub at_ms: i64,
    pub note: Option<String>,
}

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
