//! Giving field work to field users: the checks shared by `jingtu-server admin assign` and
//! `POST /v1/assignments`. A supervisor assigns only within their org units, and only to field
//! users of those units; an admin assigns anywhere.

use jingtu_model::Role;
use jingtu_protocol::{Assignment, AssignmentTarget};
use thiserror::Error;

use crate::actor::Actor;
use crate::people::org;
use crate::storage::scope::{NewAssignment, ScopeStore};
use crate::storage::{AuthStore, StorageError};

/// An assignment as asked for.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
pub struct AssignmentRequest {
    pub assignee: String,
    pub target_kind: AssignmentTarget,
    pub target: String,
    #[serde(default)]
    pub target_name: String,
    /// The record kind (`village_inspection`, `water_body_check`, `soil_sample`).
    pub kind: String,
    /// The 12-digit code of the org unit the work lies in.
    pub org_unit: String,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub due_date: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Error)]
pub enum AssignError {
    #[error("only supervisors and admins give assignments")]
    NotAllowed,
    #[error("{0}")]
    Invalid(String),
    #[error("{0} lies outside your org units")]
    OutsideOrgUnits(String),
    #[error("no such user: {0}")]
    NoSuchUser(String),
    #[error("no such assignment: {0}")]
    NoSuchAssignment(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Checks and stores an assignment.
pub fn create(
    auth: &dyn AuthStore,
    scope: &dyn ScopeStore,
    by: &Actor,
    req: &AssignmentRequest,
) -> Result<Assignment, AssignError> {
    let kinds =
        jingtu_model::TemplateSet::builtin().map_err(|e| AssignError::Invalid(e.to_string()))?;
    let new = prepare(auth, scope, by, req, &kinds)?;
    Ok(scope.create_assignment(&new)?)
}

/// Checks many assignments, then stores them all in one transaction (a point list assigned
/// at once): all or none; `progress(done, total)` after each is checked.
pub fn create_many(
    auth: &dyn AuthStore,
    scope: &dyn ScopeStore,
    by: &Actor,
    reqs: &[AssignmentRequest],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Assignment>, AssignError> {
    let kinds =
        jingtu_model::TemplateSet::builtin().map_err(|e| AssignError::Invalid(e.to_string()))?;
    let mut news = Vec::with_capacity(reqs.len());
    for (i, req) in reqs.iter().enumerate() {
        news.push(prepare(auth, scope, by, req, &kinds)?);
        progress(i + 1, reqs.len());
    }
    Ok(scope.create_assignments(&news)?)
}

/// The checks of an assignment, and what is stored of it.
fn prepare(
    auth: &dyn AuthStore,
    scope: &dyn ScopeStore,
    by: &Actor,
    req: &AssignmentRequest,
    kinds: &jingtu_model::TemplateSet,
) -> Result<NewAssignment, AssignError> {
    if !by.role.reviews() {
        return Err(AssignError::NotAllowed);
    }
    let text = |name: &str, v: &str, max: usize| -> Result<String, AssignError> {
        let v = v.trim();
        if v.is_empty() || v.chars().count() > max {
            return Err(AssignError::Invalid(format!(
                "{name} must be 1 to {max} characters"
            )));
        }
        Ok(v.to_string())
    };
    let target = text("target", &req.target, 64)?;
    let mut target_name = req.target_name.trim().chars().take(100).collect::<String>();
    // A sampling point from the imported list goes with its position, land use and task; it
    // must lie within the assignment's org unit.
    let planned_point = match req.target_kind {
        AssignmentTarget::SamplingPoint => scope.planned_point(&target)?,
        _ => None,
    };
    if let Some(p) = &planned_point {
        if !org::is_within(&p.org_unit, &req.org_unit) {
            return Err(AssignError::Invalid(format!(
                "planned point {} lies in org unit {}, outside {}",
                p.code, p.org_unit, req.org_unit
            )));
        }
        if target_name.is_empty() {
            target_name = if p.name.is_empty() {
                p.code.clone()
            } else {
                p.name.clone()
            };
        }
    }
    let kind = kinds
        .find(req.kind.trim())
        .map_err(|_| AssignError::Invalid(format!("no record kind '{}'", req.kind)))?
        .kind
        .clone();
    org::level_of(&req.org_unit).map_err(|e| AssignError::Invalid(e.to_string()))?;
    if auth.org_unit(&req.org_unit)?.is_none() {
        return Err(AssignError::Invalid(format!(
            "org unit {} is not known: import it first",
            req.org_unit
        )));
    }
    if !by.covers(&req.org_unit) {
        return Err(AssignError::OutsideOrgUnits(format!(
            "org unit {}",
            req.org_unit
        )));
    }
    if let Some(d) = &req.due_date
        && !jingtu_model::is_date(d)
    {
        return Err(AssignError::Invalid(format!(
            "due date '{d}' is not YYYY-MM-DD"
        )));
    }
    let assignee = auth
        .user(req.assignee.trim())?
        .ok_or_else(|| AssignError::NoSuchUser(req.assignee.clone()))?;
    if !assignee.role.is_field() {
        return Err(AssignError::Invalid(format!(
            "{} is a {}: assignments go to inspectors and samplers",
            assignee.name,
            assignee.role.as_str()
        )));
    }
    if assignee.disabled {
        return Err(AssignError::Invalid(format!(
            "{} is disabled",
            assignee.name
        )));
    }
    if by.role != Role::Admin && !assignee.org_units.iter().any(|u| by.covers(u)) {
        return Err(AssignError::OutsideOrgUnits(format!(
            "user {}",
            assignee.name
        )));
    }
    Ok(NewAssignment {
        target_kind: req.target_kind,
        target,
        target_name,
        kind,
        org_unit: req.org_unit.clone(),
        assignee: assignee.name,
        due_date: req.due_date.clone(),
        note: req
            .note
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| n.chars().take(500).collect()),
        assigned_by: by.user.clone(),
        planned_point,
    })
}

/// The assignment `id`, when `by` may manage it (a supervisor within their org units).
fn managed(scope: &dyn ScopeStore, by: &Actor, id: &str) -> Result<Assignment, AssignError> {
    if !by.role.reviews() {
        return Err(AssignError::NotAllowed);
    }
    let (a, _) = scope
        .assignment(id)?
        .ok_or_else(|| AssignError::NoSuchAssignment(id.to_string()))?;
    if !by.covers(&a.org_unit) {
        return Err(AssignError::OutsideOrgUnits(format!(
            "org unit {}",
            a.org_unit
        )));
    }
    Ok(a)
}

/// Takes an assignment back.
pub fn remove(scope: &dyn ScopeStore, by: &Actor, id: &str) -> Result<Assignment, AssignError> {
    managed(scope, by, id)?;
    Ok(scope.remove_assignment(id)?)
}

/// Hands an assignment to another field user (within the assigner's org units).
pub fn reassign(
    auth: &dyn AuthStore,
    scope: &dyn ScopeStore,
    by: &Actor,
    id: &str,
    assignee: &str,
) -> Result<Assignment, AssignError> {
    managed(scope, by, id)?;
    let user = auth
        .user(assignee.trim())?
        .ok_or_else(|| AssignError::NoSuchUser(assignee.to_string()))?;
    if !user.role.is_field() || user.disabled {
        return Err(AssignError::Invalid(format!(
            "{} is not an active inspector or sampler",
            user.name
        )));
    }
    if by.role != Role::Admin && !user.org_units.iter().any(|u| by.covers(u)) {
        return Err(AssignError::OutsideOrgUnits(format!("user {}", user.name)));
    }
    Ok(scope.reassign(id, &user.name)?)
}

/// The assignments a user may list: their own (field users), those within their org units
/// (supervisors), all (admins).
pub fn visible(
    scope: &dyn ScopeStore,
    by: &Actor,
    assignee: Option<&str>,
    include_removed: bool,
) -> Result<Vec<Assignment>, AssignError> {
    if by.role.is_field() {
        return Ok(scope.list_assignments(Some(&by.user), include_removed)?);
    }
    Ok(scope
        .list_assignments(assignee, include_removed)?
        .into_iter()
        .filter(|a| by.covers(&a.org_unit))
        .collect())
}

#[cfg(test)]
mod tests {
    use jingtu_model::is_date as valid_date;

    #[test]
    fn dates() {
        assert!(valid_date("2024-06-30"));
        assert!(!valid_date("2024-13-01"));
        assert!(!valid_date("2024-6-30"));
        assert!(!valid_date("tomorrow!!"));
        assert!(!valid_date("２０２４-06-30"));
    }
}
