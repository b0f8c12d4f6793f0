//! The check: every operation of every new change is mapped to the path of the object it
//! touches (in the document after the changes) and judged against the author's role and the
//! record's status before the changes.
//!
//! Operations are judged, not the resulting diff: an operation that lost a conflict, or that a
//! later change of the same push undid, leaves no trace in the document's current state but is
//! in its history forever, so it is refused all the same.

use std::collections::{HashMap, HashSet};

use automerge::legacy::{self, ElementId, Key as OpKeyProp, ObjectId, OpType};
use automerge::{ActorId, Automerge, Change, ObjType, ReadDoc, ScalarValue};
use jingtu_doc::{EventKind, Status};
use jingtu_model::Role;

use crate::guard::guarded;
use crate::locate::{Loc, Locator, OpKey, Seg, Top, key_of, opid_string};
use crate::record::record_status;
use crate::{Rule, Violation};

/// Bounds on the work of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most operations a push may hold (an empty change counts as one); a larger push is
    /// refused whole with [`Rule::TooManyOps`] before any operation is decoded.
    pub max_ops: usize,
    /// The most violations reported per change; the first ones found are kept (one is enough
    /// to refuse the change, a few help the person fix it).
    pub max_violations_per_change: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_ops: 100_000,
            max_violations_per_change: 32,
        }
    }
}

/// Checks `changes` against the write rules, with the default [`Limits`].
///
/// - `before`: the record as the checker's side holds it before the push (`None`: the push
///   creates the record).
/// - `after`: the record with the changes applied; every object the changes create or touch
///   must be in it.
/// - `changes`: the pushed changes. Changes `before` already holds and repeated changes are
///   skipped, so passing a whole push is fine.
/// - `role`: the role of the person who pushes.
///
/// Returns every violation found, grouped by change in the order given, each naming the
/// change; an empty list means the changes are allowed. Scope (whether this person may write
/// this record at all) is the caller's to decide, e.g. from [`crate::record_scope`].
///
/// Pure and panic-free: crafted changes, unknown object ids and operations that do not decode
/// are reported as [`Rule::Undecodable`], not panics. Panics inside automerge are caught (this
/// needs `panic = "unwind"`, the default and the mobile profile's); the process's panic hook
/// still prints them, and debug builds of automerge assert on some deleted list elements, which
/// this crate then locates another way.
pub fn check_changes<'a>(
    before: Option<&Automerge>,
    after: &Automerge,
    changes: impl IntoIterator<Item = &'a Change>,
    role: Role,
) -> Vec<Violation> {
    check_changes_with(&Limits::default(), before, after, changes, role)
}

/// [`check_changes`] with explicit [`Limits`].
pub fn check_changes_with<'a>(
    limits: &Limits,
    before: Option<&Automerge>,
    after: &Automerge,
    changes: impl IntoIterator<Item = &'a Change>,
    role: Role,
) -> Vec<Violation> {
    let mut seen = HashSet::new();
    let mut batch: Vec<&Change> = Vec::new();
    let mut total_ops = 0usize;
    for change in changes {
        let hash = change.hash();
        if !seen.insert(hash) {
            continue;
        }
        if let Some(b) = before
            && guarded(|| Some(b.get_change_meta_by_hash(&hash).is_some())).unwrap_or(false)
        {
            continue;
        }
        total_ops = total_ops.saturating_add(change.len().max(1));
        if total_ops > limits.max_ops {
            return vec![Violation {
                rule: Rule::TooManyOps,
                path: String::new(),
                change: hash,
                message: format!(
                    "the push holds more than {} operations; it is refused whole (push fewer \
                     changes at a time)",
                    limits.max_ops
                ),
            }];
        }
        batch.push(change);
    }
    if batch.is_empty() {
        return Vec::new();
    }
    Checker::new(limits, before, after, &batch, role).run()
}

/// The changes of `after` that `before` lacks (all of them for a new record): what a push
/// brought, ready for [`check_changes`].
pub fn new_changes(before: Option<&Automerge>, after: &Automerge) -> Vec<Change> {
    let heads = before.map(Automerge::get_heads).unwrap_or_default();
    guarded(|| Some(after.get_changes(&heads))).unwrap_or_default()
}

/// The operation ids each change of the push holds.
struct Batch {
    ranges: HashMap<ActorId, Vec<(u64, u64, usize)>>,
}

impl Batch {
    fn new(changes: &[&Change]) -> Batch {
        let mut ranges: HashMap<ActorId, Vec<(u64, u64, usize)>> = HashMap::new();
        for (i, c) in changes.iter().enumerate() {
            if c.is_empty() {
                continue;
            }
            let start = c.start_op().get();
            let end = start.saturating_add(c.len() as u64 - 1);
            ranges
                .entry(c.actor_id().clone())
                .or_default()
                .push((start, end, i));
        }
        // An actor's changes hold disjoint, increasing ranges of operation counters.
        for r in ranges.values_mut() {
            r.sort_unstable();
        }
        Batch { ranges }
    }

    /// The change of the push that made operation `(counter, actor)`, if one did.
    fn change_of(&self, counter: u64, actor: &ActorId) -> Option<usize> {
        let ranges = self.ranges.get(actor)?;
        let after = ranges.partition_point(|(start, _, _)| *start <= counter);
        let (_, end, i) = ranges.get(after.checked_sub(1)?)?;
        (counter <= *end).then_some(*i)
    }

    fn holds(&self, (counter, actor): &OpKey) -> bool {
        self.change_of(*counter, actor).is_some()
    }

    fn holds_op(&self, id: &legacy::OpId) -> bool {
        self.change_of(id.counter(), id.actor()).is_some()
    }
}

/// What one operation broke, before its path is worked out.
struct Finding {
    rule: Rule,
    message: String,
}

struct Checker<'a> {
    limits: &'a Limits,
    before: Option<&'a Automerge>,
    changes: &'a [&'a Change],
    role: Role,
    locator: Locator<'a>,
    batch: Batch,
    locked: bool,
    /// Per map written by the push, whether every `type` it got is `reopened`.
    type_writes: HashMap<OpKey, bool>,
    /// Root containers created by the push (a new record's).
    root_made: HashSet<Top>,
}

impl<'a> Checker<'a> {
    fn new(
        limits: &'a Limits,
        before: Option<&'a Automerge>,
        after: &'a Automerge,
        changes: &'a [&'a Change],
        role: Role,
    ) -> Checker<'a> {
        Checker {
            limits,
            before,
            changes,
            role,
            locator: Locator::new(after, before),
            batch: Batch::new(changes),
            locked: before.is_some_and(|b| record_status(b) == Status::Approved),
            type_writes: HashMap::new(),
            root_made: HashSet::new(),
        }
    }

    fn run(mut self) -> Vec<Violation> {
        let changes = self.changes;
        let after = self.locator.doc;
        let decoded: Vec<Option<Vec<legacy::Op>>> = changes
            .iter()
            .map(|c| {
                let in_after = guarded(|| Some(after.get_change_meta_by_hash(&c.hash()).is_some()))
                    .unwrap_or(false);
                if !in_after {
                    return None;
                }
                guarded(|| Some(c.decode().operations)).filter(|ops| ops.len() == c.len())
            })
            .collect();
        for (change, ops) in changes.iter().zip(&decoded) {
            if let Some(ops) = ops {
                self.locator
                    .learn(change.start_op().get(), change.actor_id(), ops);
            }
        }
        for op in decoded.iter().flatten().flatten() {
            if let (ObjectId::Id(obj), OpKeyProp::Map(k)) = (&op.obj, &op.key)
                && k == "type"
            {
                let reopen =
                    matches!(&op.action, OpType::Put(ScalarValue::Str(s)) if s == "reopened");
                *self.type_writes.entry(key_of(obj)).or_insert(true) &= reopen;
            }
        }

        let mut out = Vec::new();
        for (ci, (change, ops)) in changes.iter().zip(&decoded).enumerate() {
            let hash = change.hash();
            let Some(ops) = ops else {
                let in_after = guarded(|| Some(after.get_change_meta_by_hash(&hash).is_some()))
                    .unwrap_or(false);
                out.push(Violation {
                    rule: Rule::Undecodable,
                    path: String::new(),
                    change: hash,
                    message: if in_after {
                        "the change's operations do not decode".to_string()
                    } else {
                        "the change is not part of the document it was checked against".to_string()
                    },
                });
                continue;
            };
            let actor = change.actor_id();
            let start = change.start_op().get();
            let mut reported: HashSet<(Rule, String)> = HashSet::new();
            let mut findings = Vec::new();
            for (i, op) in ops.iter().enumerate() {
                if reported.len() >= self.limits.max_violations_per_change {
                    break;
                }
                let id: OpKey = (start.saturating_add(i as u64), actor.clone());
                findings.clear();
                self.check_op(ci, &id, op, &mut findings);
                if findings.is_empty() {
                    continue;
                }
                let path = self.path_of(&id, op);
                for f in findings.drain(..) {
                    if reported.len() < self.limits.max_violations_per_change
                        && reported.insert((f.rule, path.clone()))
                    {
                        out.push(Violation {
                            rule: f.rule,
                            path: path.clone(),
                            change: hash,
                            message: f.message,
                        });
                    }
                }
            }
        }
        out
    }

    fn check_op(&mut self, ci: usize, id: &OpKey, op: &legacy::Op, out: &mut Vec<Finding>) {
        let mut find = |rule: Rule, message: String| out.push(Finding { rule, message });
        let obj = match &op.obj {
            ObjectId::Root => return self.check_root_op(op, find),
            ObjectId::Id(obj) => key_of(obj),
        };
        let Some(loc) = self.locator.locate(&obj).cloned() else {
            find(
                Rule::Undecodable,
                format!(
                    "the operation names object {} that is not in the document",
                    opid_string(&obj)
                ),
            );
            return;
        };

        // A supervisor may reopen a locked record, and comment on it (comments are not data).
        // A sample's custody goes on after its collection record is approved: new custody
        // events are still taken (and the append-only rule below still holds).
        // Lab results come after submission and approval, without reopening the record.
        let lab_results = self.in_lab_results(&loc, op);
        if self.locked
            && loc.top != Top::Custody
            && !(lab_results && self.role.enters_lab_results())
            && !(self.role.reviews() && (loc.top == Top::Review || self.is_reopen(&loc, id, op)))
        {
            find(
                Rule::ApprovedLocked,
                "the record is approved and locked: only a supervisor reopening it may change it"
                    .to_string(),
            );
        }
        // A new record is made with its empty containers, `data/lab_results` and the list of
        // items not detected among them: its shape, not results.
        let makes_empty = self.before.is_none()
            && !op.insert
            && op.pred.is_empty()
            && matches!(op.action, OpType::Make(_));
        if lab_results && !makes_empty && !self.role.enters_lab_results() {
            find(
                Rule::LabResultsByLab,
                format!(
                    "lab results are entered by lab staff; a {} may not",
                    self.role
                ),
            );
        } else if self.role == Role::Lab && !lab_results && loc.top != Top::Custody {
            find(
                Rule::LabResultsByLab,
                "lab staff enter lab results and custody events only".to_string(),
            );
        }
        match loc.top {
            Top::Meta => {
                if self.before.is_some() {
                    find(
                        Rule::MetaWriteOnce,
                        "a record's meta is written once, when the record is created".to_string(),
                    );
                } else if self.batch.change_of(loc.top_obj.0, &loc.top_obj.1) != Some(ci) {
                    find(
                        Rule::MetaWriteOnce,
                        "meta is written only by the change that creates the record".to_string(),
                    );
                }
            }
            Top::Review => {
                if !self.role.reviews() {
                    find(
                        Rule::ReviewBySupervisor,
                        format!(
                            "only a supervisor or admin writes review; a {} may not",
                            self.role
                        ),
                    );
                }
            }
            Top::Custody => {
                if let Some(message) = self.append_only(&obj, &loc, op, "custody event") {
                    find(Rule::CustodyAppendOnly, message);
                }
            }
            Top::Events => {
                if let Some(message) = self.append_only(&obj, &loc, op, "status event") {
                    find(Rule::StatusByRole, message);
                }
                if loc.depth == 2
                    && matches!(&op.key, OpKeyProp::Map(k) if k == jingtu_doc::layout::event::TYPE)
                    && let OpType::Put(ScalarValue::Str(s)) = &op.action
                    && let Some(kind) = EventKind::parse(s)
                    && kind != EventKind::Submitted
                    && !self.role.reviews()
                {
                    find(
                        Rule::StatusByRole,
                        format!(
                            "only a supervisor or admin adds a '{}' event; a {} may not",
                            kind.as_str(),
                            self.role
                        ),
                    );
                }
            }
            Top::Data | Top::Photos | Top::Other => {}
        }
    }

    /// An operation on the root map: creating, replacing or deleting a root container.
    fn check_root_op(&mut self, op: &legacy::Op, mut find: impl FnMut(Rule, String)) {
        if self.role == Role::Lab {
            find(
                Rule::LabResultsByLab,
                "lab staff enter lab results and custody events only; they create no records"
                    .to_string(),
            );
        }
        if self.locked {
            find(
                Rule::ApprovedLocked,
                "the record is approved and locked: only a supervisor reopening it may change it"
                    .to_string(),
            );
        }
        let OpKeyProp::Map(k) = &op.key else {
            find(
                Rule::Undecodable,
                "a list position on the root map".to_string(),
            );
            return;
        };
        let top = Top::of(k);
        let Some(ty) = top.container() else {
            return; // not part of the record layout: no rule covers it
        };
        if self.before.is_some() {
            find(
                Rule::MetaWriteOnce,
                format!("the root container '{k}' of a record is never replaced or deleted"),
            );
            return;
        }
        let creates =
            !op.insert && op.pred.is_empty() && matches!(op.action, OpType::Make(t) if t == ty);
        if !creates {
            find(
                Rule::MetaWriteOnce,
                format!("the root container '{k}' is created once, as a {ty}, and never replaced"),
            );
        } else if !self.root_made.insert(top) {
            find(
                Rule::MetaWriteOnce,
                format!("the root container '{k}' is created twice"),
            );
        }
    }

    /// Whether `op` writes a soil sample's lab results: the `lab_results` key of `data`, or
    /// anything inside the object under it.
    fn in_lab_results(&mut self, loc: &Loc, op: &legacy::Op) -> bool {
        const LAB_RESULTS: &str = "lab_results";
        if loc.top != Top::Data {
            return false;
        }
        if loc.depth == 1 {
            return matches!(&op.key, OpKeyProp::Map(k) if k == LAB_RESULTS);
        }
        let Some(entry) = loc.entry.clone() else {
            return false;
        };
        let seg = if loc.depth == 2 {
            Some(loc.seg.clone())
        } else {
            self.locator.locate(&entry).map(|l| l.seg.clone())
        };
        matches!(seg, Some(Seg::Key(k)) if k == LAB_RESULTS)
    }

    /// Whether `op` is part of appending a new `reopened` event: inserting its map into the
    /// events list, or writing inside a map so inserted whose every `type` is `reopened`.
    fn is_reopen(&self, loc: &Loc, id: &OpKey, op: &legacy::Op) -> bool {
        if loc.top != Top::Events {
            return false;
        }
        let reopen_map = |k: &OpKey| self.batch.holds(k) && self.type_writes.get(k) == Some(&true);
        if loc.depth == 1 {
            op.insert && matches!(op.action, OpType::Make(ObjType::Map)) && reopen_map(id)
        } else {
            loc.entry.as_ref().is_some_and(reopen_map)
        }
    }

    /// Under an append-only container (`custody`, `events`): whether `op` changes or deletes an
    /// entry that existed before the push; the reason if so.
    fn append_only(&self, obj: &OpKey, loc: &Loc, op: &legacy::Op, what: &str) -> Option<String> {
        let verb = if matches!(op.action, OpType::Delete) {
            "deleted"
        } else {
            "changed"
        };
        let earlier = op.pred.iter().any(|p| !self.batch.holds_op(p));
        let existed = if loc.depth == 1 {
            // On the container itself: the key is the entry (a custody event id, a position
            // in the events list).
            earlier
                || match &op.key {
                    OpKeyProp::Map(k) => self.before_has(obj, k),
                    OpKeyProp::Seq(ElementId::Head) => !op.insert,
                    OpKeyProp::Seq(ElementId::Id(e)) => !op.insert && !self.batch.holds_op(e),
                }
        } else {
            earlier || loc.entry.as_ref().is_none_or(|e| !self.batch.holds(e))
        };
        existed.then(|| format!("an existing {what} is never {verb}; add a new one instead"))
    }

    /// Whether `before` holds a value at `key` of object `obj`.
    fn before_has(&self, obj: &OpKey, key: &str) -> bool {
        let Some(before) = self.before else {
            return false;
        };
        guarded(|| {
            let (ex, _) = before.import(&opid_string(obj)).ok()?;
            Some(before.get_all(&ex, key).is_ok_and(|all| !all.is_empty()))
        })
        .unwrap_or(false)
    }

    /// The path an operation touches: its object's path and its key (an index for a list
    /// element; nothing more inside a text).
    fn path_of(&self, id: &OpKey, op: &legacy::Op) -> String {
        let obj = match &op.obj {
            ObjectId::Root => {
                return match &op.key {
                    OpKeyProp::Map(k) => k.to_string(),
                    OpKeyProp::Seq(_) => String::new(),
                };
            }
            ObjectId::Id(obj) => key_of(obj),
        };
        let Some(loc) = self.locator.cache.get(&obj).and_then(Option::as_ref) else {
            return opid_string(&obj);
        };
        let mut segs = self.locator.segments(&obj);
        if loc.typ != ObjType::Text {
            segs.push(match &op.key {
                OpKeyProp::Map(k) => k.to_string(),
                OpKeyProp::Seq(elem) => {
                    let element = match (op.insert, elem) {
                        (true, _) => id.clone(),
                        (false, ElementId::Id(e)) => key_of(e),
                        (false, ElementId::Head) => return segs.join("/") + "/?",
                    };
                    self.locator.elem_segment(&obj, Some(&loc.ex), &element)
                }
            });
        }
        segs.join("/")
    }
}
