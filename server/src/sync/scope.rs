//! The scope half of a sync: when a user's scope changed since their device last synced (an
//! assignment given, handed over or taken back; a supervisor's org units changed), the answer
//! tells the device its assignments, the records that left its scope (paged) and sends whole
//! the records that entered it (paged; their chunks lie below the device's cursor). Nothing
//! per device is kept: the scope log, numbered, says what changed since the device's scope
//! sequence.

use jingtu_protocol::{ScopeUpdate, SyncRequest, WholeRecord};

use super::SyncError;
use crate::Context;
use crate::actor::Reach;
use crate::storage::scope::ScopeKey;

/// The prefix of a continuation token while records that left the scope are paged.
const EVICT_PAGE: &str = "evict:";

/// The scope change a device at `req.scope_seq` has to take in, if any: the user's
/// assignments, what left the scope, and a page of what entered it.
pub(super) fn update(
    ctx: &Context,
    reach: &Reach,
    req: &SyncRequest,
    max_bytes: u64,
) -> Result<Option<ScopeUpdate>, SyncError> {
    let actor = &reach.actor;
    if actor.role == jingtu_model::Role::Admin {
        return Ok(None);
    }
    let orgs: &[String] = if actor.role.reviews() {
        &actor.org_units
    } else {
        &[]
    };
    ctx.scope.sync_org_keys(&actor.user, orgs)?;
    let current = ctx.scope.scope_seq(&actor.user)?;
    if req.scope_seq >= current && req.scope_target.is_none() {
        return Ok(None);
    }
    let target = req.scope_target.unwrap_or(current).min(current);
    let old = ctx.scope.scope_keys_at(&actor.user, req.scope_seq)?;
    let new = ctx.scope.scope_keys_at(&actor.user, target)?;
    let added: Vec<ScopeKey> = new.difference(&old).cloned().collect();
    let removed: Vec<ScopeKey> = old.difference(&new).cloned().collect();
    // The continuation token (`next`, sent back as `scope_after`) pages the records that
    // left the scope first (`evict:<last id>`), then those that entered (`<last id>`).
    let (evicting, evict_after, enter_after) = match req.scope_after.as_deref() {
        None => (true, None, None),
        Some(t) => match t.strip_prefix(EVICT_PAGE) {
            Some(id) => (true, Some(id), None),
            None => (false, None, Some(t)),
        },
    };
    let mut evict = Vec::new();
    let mut next = None;
    if evicting && !removed.is_empty() {
        let max_evict = ctx.limits.max_evict_per_answer.max(1);
        let ids = ctx
            .scope
            .records_for_keys(&removed, evict_after, max_evict)?;
        if ids.len() == max_evict {
            next = ids.last().map(|id| format!("{EVICT_PAGE}{id}"));
        }
        for id in ids {
            let Some(place) = ctx.scope.record_place(&id)? else {
                continue;
            };
            let still = place.owner.as_deref() == Some(actor.user.as_str())
                || place.holders.contains(&actor.user)
                || new.iter().any(|k| k.matches(&place));
            if !still {
                evict.push(id);
            }
        }
    }
    // A device that starts from nothing gets every record through the feed.
    let mut records = Vec::new();
    if next.is_none() && req.cursor > 0 && !added.is_empty() {
        let per_page = ctx.limits.max_entered_per_answer.max(1);
        let ids = ctx.scope.records_for_keys(&added, enter_after, per_page)?;
        let full_page = ids.len() == per_page;
        let mut bytes = 0u64;
        for (n, id) in ids.iter().enumerate() {
            let Some(place) = ctx.scope.record_place(id)? else {
                continue;
            };
            if place.owner.as_deref() == Some(actor.user.as_str()) {
                continue; // always in scope: the device has it
            }
            let Some(whole) = ctx.records.load_record(id)?.map(|r| r.bytes) else {
                continue;
            };
            if !records.is_empty() && bytes + whole.len() as u64 > max_bytes {
                next = Some(ids[n - 1].clone());
                break;
            }
            bytes += whole.len() as u64;
            records.push(WholeRecord {
                record: id.clone(),
                bytes: whole,
            });
        }
        if next.is_none() && full_page {
            next = ids.last().cloned();
        }
    }
    Ok(Some(ScopeUpdate {
        seq: target,
        assignments: ctx.scope.list_assignments(Some(&actor.user), false)?,
        evict,
        records,
        next,
    }))
}
