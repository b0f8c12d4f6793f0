//! Taking refused changes back out of a record. A change the server refused cannot be undone
//! inside the document (every later change of this device depends on it), so the record is
//! rebuilt from every change except this device's unconfirmed ones; the caller keeps those as
//! a refused edit and replays what is still allowed as new changes.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::{AutoCommit, ChangeHash};

use crate::{DocError, RecordDoc};

/// A record rebuilt without this device's unconfirmed changes.
#[derive(Debug)]
pub struct Rebuilt {
    /// The record as the server holds it (its confirmed state plus others' changes).
    pub doc: RecordDoc,
    /// The changes taken out, as change chunks (what the refused edit keeps).
    pub removed_bytes: Vec<u8>,
    pub removed: usize,
}

impl RecordDoc {
    /// This record without the changes of this document's actor that are not ancestors of
    /// `confirmed` (the heads the server confirmed). Changes of other actors all came from the
    /// server and never depend on unconfirmed local ones, so they stay.
    pub fn without_unconfirmed(&mut self, confirmed: &[ChangeHash]) -> Result<Rebuilt, DocError> {
        let actor = self.doc.get_actor().clone();
        let missing = confirmed.iter().filter(|h| !self.has_change(h)).count();
        if missing > 0 {
            return Err(DocError::MissingDeps(missing));
        }
        let unconfirmed: HashSet<ChangeHash> = self
            .doc
            .get_changes(confirmed)
            .into_iter()
            .filter(|c| c.actor_id() == &actor)
            .map(|c| c.hash())
            .collect();
        let mut kept = Vec::new();
        let mut removed_bytes = Vec::new();
        for change in self.doc.get_changes(&[]) {
            if unconfirmed.contains(&change.hash()) {
                removed_bytes.extend_from_slice(change.raw_bytes());
            } else {
                kept.push(change.clone());
            }
        }
        let mut doc = AutoCommit::new().with_actor(actor);
        catch_unwind(AssertUnwindSafe(|| doc.apply_changes(kept)))
            .map_err(|_| DocError::Corrupt("rebuilding the record failed".into()))??;
        let rebuilt = RecordDoc { doc };
        rebuilt.meta()?;
        rebuilt.check_containers()?;
        Ok(Rebuilt {
            doc: rebuilt,
            removed_bytes,
            removed: unconfirmed.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use automerge::ActorId;
    use jingtu_model::{FieldPath, TemplateSet};
    use serde_json::json;

    use crate::{Editor, RecordDoc, RecordMeta};

    fn template() -> std::sync::Arc<jingtu_model::Template> {
        TemplateSet::builtin().unwrap().find("soil_sample").unwrap()
    }

    #[test]
    fn unconfirmed_local_changes_come_out_and_others_stay() {
        let t = template();
        let by = Editor {
            author: "甲".into(),
            time_ms: 1,
        };
        let meta = RecordMeta {
            id: "0190a000-0000-7000-8000-000000000001".into(),
            kind: "soil_sample".into(),
            template_version: t.version,
            org_unit: None,
            village: None,
            planned_point: None,
            assignment: None,
            author: "甲".into(),
            device: "d".into(),
            created_at_ms: 1,
        };
        let me = ActorId::random();
        let mut mine = RecordDoc::create(me.clone(), &t, &meta, &by).unwrap();
        let confirmed = mine.heads();
        // Another device's change reaches us through the server.
        let mut theirs = RecordDoc::load(&mine.save(), ActorId::random()).unwrap();
        let sampler = FieldPath::parse("team_leader").unwrap();
        theirs.set(&t, &sampler, &json!("乙"), &by).unwrap();
        mine.merge_bytes(&theirs.save()).unwrap();
        // Two local edits the server has not confirmed.
        let depth = FieldPath::parse("depth_top_cm").unwrap();
        mine.set(&t, &depth, &json!(0), &by).unwrap();
        mine.set(&t, &depth, &json!(25), &by).unwrap();

        let rebuilt = mine.without_unconfirmed(&confirmed).unwrap();
        assert_eq!(rebuilt.removed, 2);
        assert!(!rebuilt.removed_bytes.is_empty());
        let data = rebuilt.doc.data();
        assert_eq!(
            data["team_leader"],
            json!("乙"),
            "the other device's edit stays"
        );
        assert!(
            data.get("depth_top_cm").is_none(),
            "the local edits are out"
        );
        assert_eq!(rebuilt.doc.actor(), mine.actor());

        // Nothing unconfirmed: the same record.
        let mut again = rebuilt.doc;
        let heads = again.heads();
        let same = again.without_unconfirmed(&heads).unwrap();
        assert_eq!(same.removed, 0);
        assert_eq!(same.doc.data(), again.data());

        // Heads the record does not hold are refused.
        let mut other = RecordDoc::create(ActorId::random(), &t, &meta, &by).unwrap();
        let foreign = other.heads();
        assert!(mine.without_unconfirmed(&foreign).is_err());
    }
}
