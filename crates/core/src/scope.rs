//! What this device may see and write, as the server decides it: the user's assignments (read
//! only here), records entering and leaving the device's scope, changes of records whose
//! template this app does not know yet (parked, opened after an update), and edits the server
//! refused (kept with the rule and the path, never dropped; what is still allowed is replayed
//! onto the server's version of the record).

use jingtu_doc::{EventKind, RecordDoc, Status};
use jingtu_model::FieldPath;
use jingtu_protocol::{Assignment, AssignmentTarget, PushResult, ScopeUpdate, refusal};
use jingtu_store::{NewRefusedEdit, PhotoChange, RefusedEdit, StoredAssignment};
use serde::Serialize;
use serde_json::Value;

use crate::CoreError;
use crate::cache::Cached;
use crate::core::{DeviceCore, NewRecordPlace, lock, now_ms};
use crate::sync::{Pulled, SyncReport, decode_heads};

/// The rule under which nothing of a refused edit may be replayed.
const RULE_APPROVED_LOCKED: &str = "approved_locked";

/// What became of a refused push on this device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RefusalTaken {
    /// The id of the kept refused edit.
    pub refused_edit: i64,
    /// Local changes taken out of the record.
    pub changes_removed: usize,
    /// Fields, photos and submissions written again onto the server's version.
    pub replayed: usize,
}

impl DeviceCore {
    /// The assignments of this device's user, as last received (soonest due first).
    pub fn assignments(&self) -> Result<Vec<Assignment>, CoreError> {
        Ok(self
            .store
            .assignments()?
            .into_iter()
            .filter_map(|a| serde_json::from_str(&a.body).ok())
            .collect())
    }

    /// Creates a record for an assignment: its kind, org unit and target (village or planned
    /// point) come from the assignment, and the record carries the assignment's id.
    pub fn create_record_for(
        &self,
        assignment_id: &str,
    ) -> Result<jingtu_store::RecordSummary, CoreError> {
        let a = self
            .assignments()?
            .into_iter()
            .find(|a| a.id == assignment_id.trim())
            .ok_or_else(|| CoreError::NotFound(format!("assignment {assignment_id}")))?;
        let place = NewRecordPlace {
            org_unit: Some(a.org_unit.clone()),
            village: (a.target_kind == AssignmentTarget::Village).then(|| a.target.clone()),
            planned_point: (a.target_kind == AssignmentTarget::SamplingPoint)
                .then(|| a.target.clone()),
            assignment_id: Some(a.id.clone()),
        };
        let created = self.create_record(&a.kind, &place)?;
        if let Some(p) = &a.planned_point {
            // What the point list says of the point, filled in for the sampler: its code,
            // position (the way there and the offset check read it), land use and task.
            let mut values = vec![
                ("point_code", Value::String(p.code.clone())),
                (
                    "planned_position",
                    serde_json::json!({"lat": p.lat, "lon": p.lon}),
                ),
            ];
            if let Some(u) = &p.land_use {
                values.push(("land_use", Value::String(u.clone())));
            }
            if let Some(t) = &p.task {
                values.push(("monitoring_task", Value::String(t.clone())));
            }
            for (path, value) in values {
                match self.set_field(&created.id, path, &value) {
                    // A template without the field (another kind of record) just lacks it.
                    Err(CoreError::UnknownField { .. }) | Ok(_) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(self.store.summary(&created.id)?)
    }

    /// Edits the server refused, newest first: of one record or of all; dismissed ones too
    /// when asked.
    pub fn refused_edits(
        &self,
        record_id: Option<&str>,
        include_dismissed: bool,
    ) -> Result<Vec<RefusedEdit>, CoreError> {
        Ok(self.store.refused_edits(record_id, include_dismissed)?)
    }

    /// The user has seen a refused edit; it stays in the store but leaves the lists.
    pub fn dismiss_refused_edit(&self, id: i64) -> Result<(), CoreError> {
        if self.store.dismiss_refused_edit(id)? {
            Ok(())
        } else {
            Err(CoreError::NotFound(format!("refused edit {id}")))
        }
    }

    /// Removes from this device a record the server refused whole (held back: another
    /// user's record, or one outside the user's reach), after its edits were kept as a refused
    /// edit (`refused_edits(.., true)` still lists it). A record that is not held stays:
    /// `InvalidState`.
    pub fn discard_record(&self, id: &str) -> Result<(), CoreError> {
        let id = self.resolve_id(id)?;
        let mut cache = lock(&self.cache);
        if !self.store.record_sync_state(&id)?.held {
            return Err(CoreError::InvalidState(format!(
                "record {id} is not held back by a refusal: only a record the server refused \
                 whole is discarded"
            )));
        }
        cache.remove(&id);
        if !self.store.discard_held_record(&id)? {
            return Err(CoreError::InvalidState(format!(
                "record {id} is not held back"
            )));
        }
        Ok(())
    }

    /// Records received whose template this app does not know yet.
    pub fn parked_records(&self) -> Result<Vec<(String, String)>, CoreError> {
        Ok(self
            .store
            .parked()?
            .into_iter()
            .filter(|p| p.reason != crate::sync::WAITING)
            .map(|p| (p.record_id, p.reason))
            .collect())
    }

    /// Opens parked records whose template is now known (after an app update); returns how
    /// many were opened. A record's parked chunks are taken in together.
    pub fn open_parked(&self) -> Result<u64, CoreError> {
        // The store gives each record's parked chunks together.
        let records: Vec<(String, Vec<u8>)> = self
            .store
            .parked()?
            .into_iter()
            .map(|p| (p.record_id, p.bytes))
            .collect();
        let mut opened = 0;
        for (id, bytes) in records {
            if self.has_record(&id)? {
                continue; // waiting chunks of a record here: merged at the next sync
            }
            let Ok(doc) = jingtu_doc::apply_untrusted(
                None,
                &bytes,
                &id,
                self.actor.clone(),
                &Default::default(),
            ) else {
                continue;
            };
            let Ok(meta) = doc.doc.meta() else { continue };
            if self.template_of(&meta).is_err() {
                continue;
            }
            self.apply_pulled(&id, &bytes)?;
            self.store.unpark(&id)?;
            opened += 1;
        }
        Ok(opened)
    }

    /// The scope fields of the next request.
    pub(crate) fn scope_request(&self) -> Result<(u64, Option<u64>, Option<String>), CoreError> {
        let state = self.store.sync_state()?;
        Ok((state.scope_seq, state.scope_target, state.scope_after))
    }

    /// Takes in a scope change: the assignments, the records that left (kept when they hold
    /// unpushed changes), the page of records that entered; then moves the scope state.
    pub(crate) fn take_in_scope(
        &self,
        scope: &ScopeUpdate,
        report: &mut SyncReport,
    ) -> Result<(), CoreError> {
        let stored: Vec<StoredAssignment> = scope
            .assignments
            .iter()
            .filter_map(|a| {
                Some(StoredAssignment {
                    id: a.id.clone(),
                    kind: a.kind.clone(),
                    due_date: a.due_date.clone(),
                    body: serde_json::to_string(a).ok()?,
                })
            })
            .collect();
        self.store.set_assignments(&stored)?;
        report.assignments = stored.len() as u64;
        for id in &scope.evict {
            lock(&self.cache).remove(id);
            if self.store.evict_record(id)? {
                report.records_removed += 1;
            } else {
                report.kept_out_of_scope.push(id.clone());
            }
        }
        for whole in &scope.records {
            match self.apply_pulled(&whole.record, &whole.bytes)? {
                Pulled::New => report.records_received += 1,
                Pulled::Parked => report.parked += 1,
                Pulled::Merged | Pulled::Waiting => {}
            }
        }
        self.store
            .set_scope_progress(scope.seq, scope.next.as_deref())?;
        Ok(())
    }

    /// The server refused a push of record `id` as forbidden or out of scope. The refused
    /// changes are kept as a refused edit; a record the server holds goes back to the server's
    /// version, with what is still allowed written again as new changes (pushed next time); a
    /// record the server never accepted stays as it is, held back until it is edited.
    pub(crate) fn take_out_refused(
        &self,
        id: &str,
        result: &PushResult,
        synced: Option<&[u8]>,
    ) -> Result<RefusalTaken, CoreError> {
        let code = result.code.as_deref().unwrap_or(refusal::FORBIDDEN);
        let message = result.message.clone().unwrap_or_default();
        let mut cache = lock(&self.cache);
        let entry = self.load(&mut cache, id)?;
        let local_json = serde_json::to_string(&entry.doc.to_json()).unwrap_or_default();
        let confirmed = synced
            .and_then(decode_heads)
            .filter(|hs| !hs.is_empty() && hs.iter().all(|h| entry.doc.has_change(h)));
        let keep = |changes: &[u8]| {
            self.store.add_refused_edit(&NewRefusedEdit {
                record_id: id,
                code,
                rule: result.rule.as_deref(),
                path: result.path.as_deref(),
                message: &message,
                refused_at_ms: now_ms(),
                local_json: &local_json,
                changes,
            })
        };
        let Some(confirmed) = confirmed else {
            // Nothing of it is on the server: keep it whole, and do not push it again until
            // the user changes it.
            let kept = keep(&entry.doc.save())?;
            self.store.hold_record(id)?;
            return Ok(RefusalTaken {
                refused_edit: kept,
                changes_removed: 0,
                replayed: 0,
            });
        };
        let rebuilt = entry.doc.without_unconfirmed(&confirmed)?;
        let kept = keep(&rebuilt.removed_bytes)?;
        let old_data = entry.data.clone();
        let old_photos = entry.photos.clone();
        let old_submitted = entry.doc.status() == Status::Submitted;
        let template = entry.template.clone();
        let mut doc = rebuilt.doc;
        let replayable =
            code == refusal::FORBIDDEN && result.rule.as_deref() != Some(RULE_APPROVED_LOCKED);
        let replayed = if replayable {
            replay(
                &mut doc,
                &template,
                &old_data,
                &old_photos,
                old_submitted,
                &self.editor(),
            )
        } else {
            0
        };
        let mut fresh = Cached::new(doc, template, 1)?;
        let summary = self.summarize(&fresh, now_ms());
        let refs = fresh.photo_refs();
        let snapshot = fresh.doc.save();
        if let Err(e) = self.store.replace_document(
            &summary,
            &snapshot,
            PhotoChange {
                put: None,
                refs: &refs,
            },
            replayed > 0,
        ) {
            cache.remove(id);
            return Err(e.into());
        }
        self.keep_open(&mut cache, id.to_string(), fresh);
        Ok(RefusalTaken {
            refused_edit: kept,
            changes_removed: rebuilt.removed,
            replayed,
        })
    }
}

/// Writes the allowed part of a refused edit again onto the server's version of the record:
/// field values (when the record may be edited), photos added, and a submission. Returns how
/// many were written; what cannot be written stays only in the refused edit.
fn replay(
    doc: &mut RecordDoc,
    template: &jingtu_model::Template,
    old_data: &Value,
    old_photos: &[jingtu_doc::PhotoEntry],
    old_submitted: bool,
    by: &jingtu_doc::Editor,
) -> usize {
    let mut written = 0;
    let editable = matches!(doc.status(), Status::Draft | Status::Returned);
    let now = doc.data();
    if editable && let (Value::Object(old), Value::Object(new)) = (old_data, &now) {
        let keys: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
        for key in keys {
            let (before, after) = (new.get(key), old.get(key));
            if before == after {
                continue;
            }
            let Ok(path) = FieldPath::parse(key) else {
                continue;
            };
            let value = match (after, before) {
                (Some(a), Some(b)) => merged(a, b),
                (Some(a), None) => a.clone(),
                (None, _) => Value::Null,
            };
            let ok = if value.is_null() {
                doc.clear(template, &path, by).is_ok()
            } else {
                template.check_value(&path, &value).is_ok()
                    && doc.set(template, &path, &value, by).is_ok()
            };
            written += usize::from(ok);
        }
    }
    if editable {
        for photo in old_photos.iter().filter(|p| p.removed.is_none()) {
            if doc.photo(&photo.id).is_none() && doc.add_photo(template, photo, by).is_ok() {
                written += 1;
            }
        }
    }
    if old_submitted
        && matches!(doc.status(), Status::Draft | Status::Returned)
        && doc.add_event(EventKind::Submitted, None, by).is_ok()
    {
        written += 1;
    }
    written
}

/// `want` written over `have` key by key: keys only in `have` are cleared (null).
fn merged(want: &Value, have: &Value) -> Value {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => {
            let mut out = serde_json::Map::new();
            for (k, v) in w {
                out.insert(
                    k.clone(),
                    h.get(k).map_or_else(|| v.clone(), |hv| merged(v, hv)),
                );
            }
            for k in h.keys().filter(|k| !w.contains_key(*k)) {
                out.insert(k.clone(), Value::Null);
            }
            Value::Object(out)
        }
        _ => want.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jingtu_protocol::PushOutcome;
    use serde_json::json;

    fn refused(code: &str, rule: Option<&str>) -> PushResult {
        PushResult {
            record: String::new(),
            outcome: PushOutcome::Refused,
            new_changes: 0,
            seq: None,
            code: Some(code.into()),
            message: Some("refused by the server".into()),
            rule: rule.map(str::to_string),
            path: Some("review/r1".into()),
        }
    }

    /// A record the server confirmed, then local edits it has not.
    fn confirmed_record(core: &DeviceCore) -> (String, Vec<u8>) {
        let id = core
            .create_record("soil_sample", &NewRecordPlace::default())
            .unwrap()
            .id;
        core.set_field(&id, "team_leader", &json!("甲")).unwrap();
        let heads = core.with_record(&id, |c| Ok(c.doc.heads())).unwrap();
        let heads = crate::sync::encode_heads(&heads);
        core.store.mark_pushed(&id, &heads, 1).unwrap();
        (id, heads)
    }

    #[test]
    fn a_forbidden_edit_is_kept_and_the_allowed_part_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let core = DeviceCore::open(dir.path()).unwrap();
        let (id, heads) = confirmed_record(&core);
        core.set_field(&id, "team_leader", &json!("乙")).unwrap();
        core.set_field(&id, "depth_top_cm", &json!(0)).unwrap();

        let taken = core
            .take_out_refused(
                &id,
                &refused("forbidden", Some("review_by_supervisor")),
                Some(&heads),
            )
            .unwrap();
        assert_eq!(taken.changes_removed, 2);
        assert_eq!(taken.replayed, 2, "both fields written again");
        let view = core.view(&id).unwrap();
        assert_eq!(view.data["team_leader"], json!("乙"));
        assert_eq!(view.data["depth_top_cm"], json!(0));
        let state = core.record_sync_state(&id).unwrap();
        assert!(state.pending_upload, "the replayed edits wait to be pushed");
        assert_eq!(state.label(), "refused");
        let kept = core.refused_edits(Some(&id), false).unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].rule.as_deref(), Some("review_by_supervisor"));
        assert!(kept[0].local_json.contains("乙"));
        core.dismiss_refused_edit(kept[0].id).unwrap();
        assert_eq!(
            core.record_sync_state(&id).unwrap().label(),
            "pending_upload"
        );
        assert!(core.dismiss_refused_edit(kept[0].id).is_err());

        // The same after a reopen: the store holds the rebuilt record.
        drop(core);
        let core = DeviceCore::open(dir.path()).unwrap();
        assert_eq!(core.view(&id).unwrap().data["team_leader"], json!("乙"));
        assert_eq!(core.refused_edits(None, true).unwrap().len(), 1);
    }

    #[test]
    fn nothing_is_replayed_onto_a_locked_record_or_out_of_scope() {
        for (code, rule) in [
            ("forbidden", Some("approved_locked")),
            ("out_of_scope", None),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let core = DeviceCore::open(dir.path()).unwrap();
            let (id, heads) = confirmed_record(&core);
            core.set_field(&id, "team_leader", &json!("乙")).unwrap();
            let taken = core
                .take_out_refused(&id, &refused(code, rule), Some(&heads))
                .unwrap();
            assert_eq!((taken.changes_removed, taken.replayed), (1, 0), "{code}");
            assert_eq!(core.view(&id).unwrap().data["team_leader"], json!("甲"));
            assert!(!core.record_sync_state(&id).unwrap().pending_upload);
            let kept = core.refused_edits(Some(&id), false).unwrap();
            assert!(
                kept[0].local_json.contains("乙"),
                "the refused value is kept"
            );
        }
    }

    #[test]
    fn a_record_the_server_never_took_is_kept_and_held_until_edited() {
        let dir = tempfile::tempdir().unwrap();
        let core = DeviceCore::open(dir.path()).unwrap();
        let id = core
            .create_record("soil_sample", &NewRecordPlace::default())
            .unwrap()
            .id;
        let taken = core
            .take_out_refused(&id, &refused("out_of_scope", None), None)
            .unwrap();
        assert_eq!(taken.changes_removed, 0);
        assert!(
            core.store.dirty_records(10).unwrap().is_empty(),
            "held back"
        );
        let state = core.record_sync_state(&id).unwrap();
        assert!(state.pending_upload && state.held);
        let status = core.sync_status().unwrap();
        assert_eq!(
            (status.records_pending, status.records_held),
            (0, 1),
            "held, not waiting"
        );
        core.set_field(&id, "team_leader", &json!("丙")).unwrap();
        assert_eq!(
            core.store.dirty_records(10).unwrap().len(),
            1,
            "pushed again"
        );
        assert!(!core.record_sync_state(&id).unwrap().held);
        assert!(matches!(
            core.discard_record(&id),
            Err(CoreError::InvalidState(_))
        ));
    }

    #[test]
    fn a_held_record_is_discarded_and_its_refused_edit_stays() {
        let dir = tempfile::tempdir().unwrap();
        let core = DeviceCore::open(dir.path()).unwrap();
        let id = core
            .create_record("soil_sample", &NewRecordPlace::default())
            .unwrap()
            .id;
        core.set_field(&id, "team_leader", &json!("丁")).unwrap();
        core.take_out_refused(&id, &refused("out_of_scope", None), None)
            .unwrap();
        let kept = core.refused_edits(Some(&id), false).unwrap();
        core.dismiss_refused_edit(kept[0].id).unwrap();
        assert_eq!(core.record_sync_state(&id).unwrap().label(), "held");
        core.discard_record(&id).unwrap();
        assert!(matches!(core.view(&id), Err(CoreError::NotFound(_))));
        assert_eq!(core.sync_status().unwrap().records_held, 0);
        let all = core.refused_edits(Some(&id), true).unwrap();
        assert!(all[0].local_json.contains("丁"), "nothing of it is lost");
    }

    #[test]
    fn assignments_become_records_that_carry_them() {
        let dir = tempfile::tempdir().unwrap();
        let core = DeviceCore::open(dir.path()).unwrap();
        let a = Assignment {
            id: "0190a000-0000-7000-8000-00000000a001".into(),
            target_kind: AssignmentTarget::SamplingPoint,
            target: "P-411321-017".into(),
            target_name: "17号点位".into(),
            kind: "soil_sample".into(),
            org_unit: "411321104000".into(),
            assignee: "sampler1".into(),
            due_date: Some("2024-06-30".into()),
            note: None,
            assigned_by: "sup".into(),
            assigned_at_ms: 1,
            planned_point: Some(jingtu_protocol::PlannedPoint {
                code: "P-411321-017".into(),
                name: String::new(),
                lat: 33.4886,
                lon: 112.4312,
                land_use: Some("paddy_0101".into()),
                task: Some("early_warning".into()),
                org_unit: "411321104000".into(),
            }),
        };
        let mut report = SyncReport::default();
        let update = ScopeUpdate {
            seq: 7,
            assignments: vec![a.clone()],
            evict: vec![],
            records: vec![],
            next: None,
        };
        core.take_in_scope(&update, &mut report).unwrap();
        assert_eq!(report.assignments, 1);
        assert_eq!(core.assignments().unwrap(), vec![a.clone()]);
        assert_eq!(core.scope_request().unwrap(), (7, None, None));
        let rec = core.create_record_for(&a.id).unwrap();
        let view = core.view(&rec.id).unwrap();
        assert_eq!(view.meta.assignment.as_deref(), Some(a.id.as_str()));
        assert_eq!(view.meta.planned_point.as_deref(), Some("P-411321-017"));
        // The point list's position, land use and task are filled in for the sampler.
        assert_eq!(view.data["point_code"], "P-411321-017");
        assert_eq!(view.data["planned_position"]["lat"], 33.4886);
        assert_eq!(
            (&view.data["land_use"], &view.data["monitoring_task"]),
            (
                &serde_json::json!("paddy_0101"),
                &serde_json::json!("early_warning")
            )
        );
        assert_eq!(view.meta.org_unit.as_deref(), Some("411321104000"));
        assert!(matches!(
            core.create_record_for("nope"),
            Err(CoreError::NotFound(_))
        ));

        // A page of a scope change is remembered until the last page.
        let paged = ScopeUpdate {
            seq: 9,
            next: Some("r5".into()),
            ..update.clone()
        };
        core.take_in_scope(&paged, &mut report).unwrap();
        assert_eq!(
            core.scope_request().unwrap(),
            (7, Some(9), Some("r5".into()))
        );
        // Leaving the scope: removed, unless it holds unpushed changes.
        let evict = ScopeUpdate {
            seq: 10,
            assignments: vec![],
            evict: vec![rec.id.clone()],
            records: vec![],
            next: None,
        };
        core.take_in_scope(&evict, &mut report).unwrap();
        assert_eq!(report.kept_out_of_scope, vec![rec.id.clone()]);
        assert!(core.assignments().unwrap().is_empty());
        let heads = core.with_record(&rec.id, |c| Ok(c.doc.heads())).unwrap();
        let edit_seq = core
            .store
            .dirty_records(10)
            .unwrap()
            .iter()
            .find(|d| d.id == rec.id)
            .map(|d| d.edit_seq)
            .unwrap();
        core.store
            .mark_pushed(&rec.id, &crate::sync::encode_heads(&heads), edit_seq)
            .unwrap();
        core.take_in_scope(&evict, &mut report).unwrap();
        assert_eq!(report.records_removed, 1);
        assert!(core.view(&rec.id).is_err());
    }
}

#[cfg(test)]
mod parked_tests {
    use super::*;
    use crate::sync::Pulled;

    #[test]
    fn records_of_an_unknown_template_are_parked_and_opened_once_known() {
        let dir = tempfile::tempdir().unwrap();
        let core = DeviceCore::open(&dir.path().join("a")).unwrap();
        let id = core
            .create_record("soil_sample", &NewRecordPlace::default())
            .unwrap()
            .id;
        let known = core.export(&id).unwrap();
        // The same record as a newer app would make it: template version 99.
        let mut doc = automerge::AutoCommit::load(&known).unwrap();
        use automerge::ReadDoc;
        use automerge::transaction::Transactable;
        let meta = match doc.get(automerge::ROOT, "meta").unwrap() {
            Some((_, m)) => m,
            None => panic!("no meta"),
        };
        doc.put(&meta, "template_version", 99i64).unwrap();
        let newer = doc.save();

        let other = DeviceCore::open(&dir.path().join("b")).unwrap();
        assert_eq!(other.apply_pulled(&id, &newer).unwrap(), Pulled::Parked);
        let parked = other.parked_records().unwrap();
        assert_eq!(parked.len(), 1);
        assert!(parked[0].1.contains("v99"), "{parked:?}");
        assert!(other.view(&id).is_err(), "not opened");
        // More changes of it wait with it.
        doc.put(&meta, "village", "x").unwrap();
        let heads_before = automerge::AutoCommit::load(&newer).unwrap().get_heads();
        let later = doc.save_after(&heads_before);
        assert_eq!(other.apply_pulled(&id, &later).unwrap(), Pulled::Parked);
        drop(other);

        // Parked by an older app, known to this one: opened when the store opens.
        let third_dir = dir.path().join("c");
        {
            let c = DeviceCore::open(&third_dir).unwrap();
            c.store
                .park(&id, "template soil_sample.v1 unknown", &known)
                .unwrap();
        }
        let c = DeviceCore::open(&third_dir).unwrap();
        assert!(c.parked_records().unwrap().is_empty());
        assert_eq!(c.view(&id).unwrap().kind, "soil_sample");
    }
}
