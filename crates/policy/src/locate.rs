//! Where an operation lands: each object of the document after a push placed by its path
//! from the root (walked once per object however many operations touch it), for the checker
//! to judge.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use automerge::legacy::{self, ElementId, Key as OpKeyProp, ObjectId, OpType};
use automerge::{ActorId, Automerge, ObjId, ObjType, Prop, ReadDoc};

use crate::guard::guarded;

/// An operation id (and so an object id): counter and actor.
pub(crate) type OpKey = (u64, ActorId);

pub(crate) fn key_of(id: &legacy::OpId) -> OpKey {
    (id.counter(), id.actor().clone())
}

pub(crate) fn exid_key(id: &ObjId) -> Option<OpKey> {
    match id {
        ObjId::Root => None,
        ObjId::Id(counter, actor, _) => Some((*counter, actor.clone())),
    }
}

pub(crate) fn opid_string((counter, actor): &OpKey) -> String {
    format!("{counter}@{actor}")
}

/// The root keys of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Top {
    Meta,
    Data,
    Photos,
    Custody,
    Review,
    Events,
    /// A root key that is not part of the record layout (no rule covers it).
    Other,
}

impl Top {
    pub(crate) fn of(key: &str) -> Top {
        use jingtu_doc::layout;
        match key {
            layout::META => Top::Meta,
            layout::DATA => Top::Data,
            layout::PHOTOS => Top::Photos,
            layout::CUSTODY => Top::Custody,
            layout::REVIEW => Top::Review,
            layout::EVENTS => Top::Events,
            _ => Top::Other,
        }
    }

    /// The container every record has at this root key.
    pub(crate) fn container(self) -> Option<ObjType> {
        match self {
            Top::Meta | Top::Data | Top::Photos | Top::Custody | Top::Review => Some(ObjType::Map),
            Top::Events => Some(ObjType::List),
            Top::Other => None,
        }
    }
}

/// How an object sits in its parent.
#[derive(Debug, Clone)]
pub(crate) enum Seg {
    /// A map key.
    Key(String),
    /// A list position, as automerge reported it.
    Index(usize),
    /// A list element, by its element id; its position is looked up only to name a path.
    Elem(OpKey),
}

/// Where an object of `after` sits.
#[derive(Debug, Clone)]
pub(crate) struct Loc {
    pub(crate) ex: ObjId,
    pub(crate) typ: ObjType,
    pub(crate) top: Top,
    /// The root container the object is in (the object itself at depth 1).
    pub(crate) top_obj: OpKey,
    /// The object at depth 2 on the way to this one: a custody event or a status event.
    pub(crate) entry: Option<OpKey>,
    /// Properties from the root to the object: 1 for a root container.
    pub(crate) depth: usize,
    /// The parent (`None`: the root) and how the object sits in it.
    pub(crate) parent: Option<OpKey>,
    pub(crate) seg: Seg,
}

/// Where the operation that made an object put it.
#[derive(Debug, Clone)]
pub(crate) struct Made {
    pub(crate) parent: Option<OpKey>,
    pub(crate) seg: Seg,
}

impl Made {
    pub(crate) fn of(id: OpKey, op: &legacy::Op) -> Option<(OpKey, Made)> {
        if !matches!(op.action, OpType::Make(_)) {
            return None;
        }
        let parent = match &op.obj {
            ObjectId::Root => None,
            ObjectId::Id(o) => Some(key_of(o)),
        };
        let seg = match (&op.key, op.insert) {
            (OpKeyProp::Map(k), _) => Seg::Key(k.to_string()),
            (OpKeyProp::Seq(ElementId::Id(e)), false) => Seg::Elem(key_of(e)),
            (OpKeyProp::Seq(_), _) => Seg::Elem(id.clone()),
        };
        Some((id, Made { parent, seg }))
    }
}

/// Finds objects of `after` and remembers them, so that each object's parents are walked once
/// however many operations touch it or its children.
///
/// An object the push made is placed by the operation that made it. Any other object is placed
/// by `Automerge::parents`, or, where that fails (debug builds of automerge assert on some
/// deleted list elements), by the operation that made it, read from its change.
pub(crate) struct Locator<'d> {
    pub(crate) doc: &'d Automerge,
    pub(crate) before: Option<&'d Automerge>,
    pub(crate) cache: HashMap<OpKey, Option<Loc>>,
    pub(crate) made: HashMap<OpKey, Made>,
    pub(crate) scanned: HashSet<automerge::ChangeHash>,
    /// Element id -> position, per list read (`true`: in `before`).
    pub(crate) positions: RefCell<HashMap<(bool, OpKey), HashMap<String, usize>>>,
}

/// The most elements of one list read to name a position in a path.
pub(crate) const MAX_LIST_SCAN: usize = 100_000;

impl<'d> Locator<'d> {
    pub(crate) fn new(doc: &'d Automerge, before: Option<&'d Automerge>) -> Locator<'d> {
        Locator {
            doc,
            before,
            cache: HashMap::new(),
            made: HashMap::new(),
            scanned: HashSet::new(),
            positions: RefCell::new(HashMap::new()),
        }
    }

    /// Remembers where the operations of a change put the objects they made.
    pub(crate) fn learn(&mut self, start: u64, actor: &ActorId, ops: &[legacy::Op]) {
        for (i, op) in ops.iter().enumerate() {
            let id = (start.saturating_add(i as u64), actor.clone());
            if let Some((id, made)) = Made::of(id, op) {
                self.made.insert(id, made);
            }
        }
    }

    pub(crate) fn locate(&mut self, key: &OpKey) -> Option<&Loc> {
        if !self.cache.contains_key(key) {
            self.fill(key);
        }
        self.cache.get(key).and_then(Option::as_ref)
    }

    /// The parent of object `key` (`ex` in `after`) and how the object sits in it.
    pub(crate) fn step(&mut self, key: &OpKey, ex: &ObjId) -> Option<(Option<OpKey>, Seg)> {
        if let Some(m) = self.made.get(key) {
            return Some((m.parent.clone(), m.seg.clone()));
        }
        let doc = self.doc;
        let parent = guarded(|| {
            let p = doc.parents(ex).ok()?.next()?;
            Some((p.obj, p.prop))
        });
        if let Some((pex, prop)) = parent {
            let seg = match prop {
                Prop::Map(k) => Seg::Key(k),
                Prop::Seq(i) => Seg::Index(i),
            };
            return Some((exid_key(&pex), seg));
        }
        let hash = guarded(|| doc.hash_for_opid(ex))?;
        if self.scanned.insert(hash) {
            let change = guarded(|| doc.get_change_by_hash(&hash))?;
            let ops = guarded(|| Some(change.decode().operations))?;
            self.learn(change.start_op().get(), change.actor_id(), &ops);
        }
        self.made
            .get(key)
            .map(|m| (m.parent.clone(), m.seg.clone()))
    }

    pub(crate) fn fill(&mut self, key: &OpKey) {
        struct Pending {
            key: OpKey,
            ex: ObjId,
            typ: ObjType,
            parent: Option<(Option<OpKey>, Seg)>,
        }
        let doc = self.doc;
        let import = |key: &OpKey| guarded(|| doc.import(&opid_string(key)).ok());
        let Some((ex, typ)) = import(key) else {
            self.cache.insert(key.clone(), None);
            return;
        };
        let mut pending = vec![Pending {
            key: key.clone(),
            ex,
            typ,
            parent: None,
        }];
        let mut on_path: HashSet<OpKey> = HashSet::from([key.clone()]);
        // Walk up until the root or an object already located.
        let ok = loop {
            let Some(last) = pending.last() else {
                break false;
            };
            let (last_key, last_ex) = (last.key.clone(), last.ex.clone());
            let Some((parent, seg)) = self.step(&last_key, &last_ex) else {
                break false;
            };
            let Some(last) = pending.last_mut() else {
                break false;
            };
            last.parent = Some((parent.clone(), seg));
            let Some(pkey) = parent else {
                break true;
            };
            if let Some(known) = self.cache.get(&pkey) {
                break known.is_some();
            }
            if !on_path.insert(pkey.clone()) {
                break false; // a cycle: not a document automerge would build
            }
            let Some((pex, ptyp)) = import(&pkey) else {
                break false;
            };
            pending.push(Pending {
                key: pkey,
                ex: pex,
                typ: ptyp,
                parent: None,
            });
        };
        if !ok {
            for p in pending {
                self.cache.insert(p.key, None);
            }
            return;
        }
        // Fill in from the top down: each object's place follows from its parent's.
        while let Some(p) = pending.pop() {
            let Some((parent, seg)) = p.parent else {
                self.cache.insert(p.key, None);
                continue;
            };
            let loc = match &parent {
                None => {
                    let top = match &seg {
                        Seg::Key(k) => Top::of(k),
                        _ => Top::Other,
                    };
                    Some(Loc {
                        ex: p.ex,
                        typ: p.typ,
                        top,
                        top_obj: p.key.clone(),
                        entry: None,
                        depth: 1,
                        parent: None,
                        seg,
                    })
                }
                Some(pk) => self.cache.get(pk).cloned().flatten().map(|up| {
                    let depth = up.depth + 1;
                    Loc {
                        ex: p.ex,
                        typ: p.typ,
                        top: up.top,
                        top_obj: up.top_obj,
                        entry: if depth == 2 {
                            Some(p.key.clone())
                        } else {
                            up.entry
                        },
                        depth,
                        parent: parent.clone(),
                        seg,
                    }
                }),
            };
            self.cache.insert(p.key, loc);
        }
    }

    /// The path segments of a located object, from the root (the last 64 at most).
    pub(crate) fn segments(&self, key: &OpKey) -> Vec<String> {
        const MAX_SEGMENTS: usize = 64;
        let mut segs = Vec::new();
        let mut at = self.cache.get(key).and_then(Option::as_ref);
        while let Some(loc) = at {
            let up = loc
                .parent
                .as_ref()
                .and_then(|p| self.cache.get(p))
                .and_then(Option::as_ref);
            if segs.len() == MAX_SEGMENTS {
                segs.push("…".to_string());
                break;
            }
            segs.push(match &loc.seg {
                Seg::Key(k) => k.clone(),
                Seg::Index(i) => i.to_string(),
                Seg::Elem(e) => match &loc.parent {
                    Some(list) => self.elem_segment(list, up.map(|u| &u.ex), e),
                    None => "?".to_string(),
                },
            });
            at = up;
        }
        segs.reverse();
        segs
    }

    /// A list element's position as a path segment: where it is after the push, else where
    /// it was before (an element the push deleted), else `?` (an element neither shows).
    pub(crate) fn elem_segment(
        &self,
        list: &OpKey,
        list_ex: Option<&ObjId>,
        elem: &OpKey,
    ) -> String {
        let elem = opid_string(elem);
        let after = list_ex.and_then(|ex| self.position(false, self.doc, list, ex, &elem));
        let before = || {
            let b = self.before?;
            let (ex, _) = guarded(|| b.import(&opid_string(list)).ok())?;
            self.position(true, b, list, &ex, &elem)
        };
        after
            .or_else(before)
            .map_or_else(|| "?".to_string(), |i| i.to_string())
    }

    /// The position of element `elem` (its id as a string) among the shown elements of list
    /// `list` in `doc`. The list's positions are read once (its first
    /// [`MAX_LIST_SCAN`] elements): asking automerge for a cursor's position instead trips an
    /// assertion in its debug builds for some deleted elements.
    pub(crate) fn position(
        &self,
        in_before: bool,
        doc: &Automerge,
        list: &OpKey,
        ex: &ObjId,
        elem: &str,
    ) -> Option<usize> {
        let mut cache = self.positions.borrow_mut();
        let positions = cache.entry((in_before, list.clone())).or_insert_with(|| {
            guarded(|| {
                let len = doc.length(ex).min(MAX_LIST_SCAN);
                Some(
                    (0..len)
                        .filter_map(|i| Some((doc.get_cursor(ex, i, None).ok()?.to_string(), i)))
                        .collect(),
                )
            })
            .unwrap_or_default()
        });
        positions.get(elem).copied()
    }
}
