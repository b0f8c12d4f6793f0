//! Who is asking, and what they reach: one type for every door into the server (a device
//! token, a web session, the admin command line) and one place for the rule of who may see
//! and write what (DESIGN.md section 4):
//!
//! - [`Actor`]: a user with their role and org units, and the device or session they came by.
//!   Its org units' subtrees are what it [`covers`](Actor::covers) (everything for an admin);
//!   whom it [`manages`](Actor::manages) follows from that.
//! - [`Reach`]: an actor with their live assignments: which records they may see (the feed's
//!   [`ReadScope`]), write, create, and which photos they may fetch.

use jingtu_model::Role;
use jingtu_protocol::Assignment;

use crate::people::org;
use crate::storage::scope::{ReadScope, RecordPlace, ScopeStore};
use crate::storage::{AuditEntry, StorageError, UserInfo};

/// How an actor came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A device token (`Authorization: Bearer`).
    Device,
    /// A web session cookie.
    Session,
    /// `jingtu-server admin` on the server machine.
    CommandLine,
}

/// Who is asking: a user with their role and org units as they are now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user: String,
    /// The user's row (none for the command line).
    pub user_id: Option<i64>,
    pub role: Role,
    /// Division codes of the user's org units.
    pub org_units: Vec<String>,
    /// The device token's id, when a device asks.
    pub device: Option<i64>,
    /// The device the token is bound to (its actor id), when it enrolled by code.
    pub device_id: Option<String>,
    /// The key that device registered for signing custody events, if it did.
    pub signing_key: Option<String>,
    pub via: Via,
}

impl Actor {
    /// The admin command line: an admin of no org unit, named as the audit log names it.
    pub fn system() -> Actor {
        Actor {
            user: AuditEntry::SYSTEM.to_string(),
            user_id: None,
            role: Role::Admin,
            org_units: Vec::new(),
            device: None,
            device_id: None,
            signing_key: None,
            via: Via::CommandLine,
        }
    }

    /// A user who came by a device token (`device`, bound to `device_id`) or a session.
    pub fn of(user: UserInfo, via: Via, device: Option<i64>, device_id: Option<String>) -> Actor {
        Actor {
            user: user.name,
            user_id: Some(user.id),
            role: user.role,
            org_units: user.org_units,
            device,
            device_id,
            signing_key: None,
            via,
        }
    }

    /// The actor with the signing key their device registered.
    pub fn with_signing_key(mut self, key: Option<String>) -> Actor {
        self.signing_key = key;
        self
    }

    pub fn via_session(&self) -> bool {
        self.via == Via::Session
    }

    /// Does the actor's reach take in the org unit `code` (admins reach everything;
    /// supervisors and field users their units' subtrees)?
    pub fn covers(&self, code: &str) -> bool {
        self.role == Role::Admin || org::within_any(code, &self.org_units)
    }

    /// May the actor manage `user` (issue enrollment codes, see and revoke devices, give and
    /// take assignments)? Admins manage everyone; a supervisor manages field users whose org
    /// units all lie within the supervisor's subtree (a user without org units is an admin's
    /// to manage).
    pub fn manages(&self, user: &UserInfo) -> bool {
        match self.role {
            Role::Admin => true,
            // Field users only: a supervisor who could issue codes for, or revoke the devices
            // of, another supervisor could act as them.
            Role::Supervisor => {
                user.role.is_field()
                    && !user.org_units.is_empty()
                    && user.org_units.iter().all(|u| self.covers(u))
            }
            Role::Inspector | Role::Sampler | Role::Lab => false,
        }
    }

    /// An audit entry of this actor's action, with the device it came by.
    pub fn audit_entry(
        &self,
        action: crate::storage::AuditAction,
        outcome: crate::storage::AuditOutcome,
    ) -> AuditEntry {
        let mut e = AuditEntry::new(&self.user, action, outcome);
        e.device = self.device;
        e.device_id = self.device_id.clone();
        e
    }

    /// The actor with their live assignments.
    pub fn reach(&self, scope: &dyn ScopeStore) -> Result<Reach, StorageError> {
        let own = if self.role == Role::Admin {
            Vec::new()
        } else {
            scope.list_assignments(Some(&self.user), false)?
        };
        let read = if self.role == Role::Admin {
            ReadScope::All
        } else {
            ReadScope::Limited {
                user: self.user.clone(),
                assignments: own.iter().map(|a| a.id.clone()).collect(),
                org_prefixes: if self.role.reviews() {
                    self.org_units
                        .iter()
                        .filter_map(|c| org::prefix_of(c).ok().map(str::to_string))
                        .collect()
                } else {
                    Vec::new()
                },
            }
        };
        Ok(Reach {
            actor: self.clone(),
            own,
            read,
        })
    }
}

/// What an actor reaches: their records, their assignments' records and, for supervisors,
/// the records within their org units; admins everything.
#[derive(Debug, Clone)]
pub struct Reach {
    pub actor: Actor,
    /// The actor's live assignments.
    own: Vec<Assignment>,
    read: ReadScope,
}

impl Reach {
    /// Which feed chunks the actor's devices receive.
    pub fn read(&self) -> &ReadScope {
        &self.read
    }

    /// The actor's live assignments.
    pub fn assignments(&self) -> &[Assignment] {
        &self.own
    }

    /// The record kinds of the actor's assignments (their templates reach the devices).
    pub fn assigned_kinds(&self) -> Vec<String> {
        self.own.iter().map(|a| a.kind.clone()).collect()
    }

    fn holds_assignment(&self, id: &str) -> bool {
        self.own.iter().any(|a| a.id == id)
    }

    /// May the actor write (and so see) a record that is in `place`? Its owner, the holder
    /// of its assignment, a supervisor over its org unit, or a receiver it was handed over to.
    pub fn may_write(&self, place: &RecordPlace) -> bool {
        self.may_write_as_worker(place) || self.holds(place)
    }

    /// Does the actor write the record only as a receiver it was handed over to (custody
    /// events only)?
    pub fn holds_only(&self, place: &RecordPlace) -> bool {
        self.holds(place) && !self.may_write_as_worker(place)
    }

    /// A field user or supervisor to whom the sample was handed over by name.
    fn holds(&self, place: &RecordPlace) -> bool {
        !matches!(self.actor.role, Role::Admin | Role::Lab)
            && place.holders.iter().any(|h| h == &self.actor.user)
    }

    fn may_write_as_worker(&self, place: &RecordPlace) -> bool {
        let a = &self.actor;
        match a.role {
            Role::Admin => true,
            _ if place.owner.as_deref() == Some(a.user.as_str()) => true,
            // Lab staff write the lab results of samples within their org units (the write
            // rules keep them to that), through the server's blind-code pages: their devices
            // receive no records.
            Role::Supervisor | Role::Lab => place.org_unit.as_deref().is_some_and(|u| a.covers(u)),
            Role::Inspector | Role::Sampler => place
                .assignment
                .as_deref()
                .is_some_and(|id| self.holds_assignment(id)),
        }
    }

    /// May the actor create a record of `kind` in `place`? A record of an assignment must be
    /// of the assignment's kind and lie within its org unit, and the assignment must be the
    /// actor's own (field users) or lie within their org units (supervisors). A record of no
    /// assignment must lie within the actor's org units when it names one.
    pub fn may_create(
        &self,
        scope: &dyn ScopeStore,
        place: &RecordPlace,
        kind: &str,
    ) -> Result<bool, StorageError> {
        let a = &self.actor;
        match a.role {
            Role::Admin => return Ok(true),
            Role::Lab => return Ok(false),
            _ => {}
        }
        let Some(id) = &place.assignment else {
            return Ok(place.org_unit.as_deref().is_none_or(|u| a.covers(u)));
        };
        let assignment = match a.role {
            Role::Inspector | Role::Sampler | Role::Lab => {
                self.own.iter().find(|x| &x.id == id).cloned()
            }
            Role::Supervisor | Role::Admin => scope
                .assignment(id)?
                .filter(|(x, removed)| !removed && a.covers(&x.org_unit))
                .map(|(x, _)| x),
        };
        Ok(assignment.is_some_and(|x| {
            x.kind == kind
                && place
                    .org_unit
                    .as_deref()
                    .is_none_or(|u| org::is_within(u, &x.org_unit))
        }))
    }

    /// May the actor fetch a photo: does a record they may see hold it?
    pub fn may_see_photo(
        &self,
        scope: &dyn ScopeStore,
        sha256: &str,
    ) -> Result<bool, StorageError> {
        match self.actor.role {
            Role::Admin => return Ok(true),
            // A photo shows where a sample was taken: the lab works under blind codes.
            Role::Lab => return Ok(false),
            _ => {}
        }
        Ok(scope
            .photo_places(sha256)?
            .iter()
            .any(|p| self.may_write(p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(role: Role, units: &[&str]) -> Actor {
        Actor {
            user: "u".into(),
            user_id: Some(1),
            role,
            org_units: units.iter().map(|s| s.to_string()).collect(),
            device: None,
            device_id: None,
            signing_key: None,
            via: Via::Device,
        }
    }

    fn user(role: Role, units: &[&str]) -> UserInfo {
        UserInfo {
            id: 2,
            name: "v".into(),
            role,
            org_units: units.iter().map(|s| s.to_string()).collect(),
            has_password: false,
            disabled: false,
            created_at_ms: 0,
            locked_until_ms: None,
        }
    }

    #[test]
    fn supervisors_cover_their_subtrees_and_manage_only_field_users_in_them() {
        let sup = actor(Role::Supervisor, &["411321102000"]);
        assert!(sup.covers("411321102206") && !sup.covers("411321103201"));
        assert!(sup.manages(&user(Role::Inspector, &["411321102206"])));
        assert!(!sup.manages(&user(Role::Inspector, &["411321103201"])));
        assert!(!sup.manages(&user(Role::Supervisor, &["411321102206"])));
        assert!(!sup.manages(&user(Role::Inspector, &[])));
        assert!(Actor::system().covers("110000000000"));
        assert!(!actor(Role::Inspector, &["411321102000"]).manages(&user(Role::Sampler, &[])));
    }

    #[test]
    fn field_users_write_their_own_and_their_assignments_records() {
        let reach = Reach {
            actor: actor(Role::Inspector, &["411321102000"]),
            own: vec![],
            read: ReadScope::All,
        };
        let place = |owner: &str, org: Option<&str>, asg: Option<&str>| RecordPlace {
            owner: Some(owner.into()),
            org_unit: org.map(str::to_string),
            assignment: asg.map(str::to_string),
            holders: vec!["rx".into()],
        };
        assert!(reach.may_write(&place("u", Some("411321103201"), None)));
        assert!(!reach.may_write(&place("w", Some("411321102206"), None)));
        assert!(!reach.may_write(&place("w", None, Some("a1"))));
        // A sample handed over to them by name: they write its custody, and only that.
        let mut received = place("w", Some("411321103201"), None);
        received.holders.push("u".into());
        assert!(reach.may_write(&received) && reach.holds_only(&received));
        assert!(!reach.holds_only(&place("u", None, None)));
        let lab = Reach {
            actor: actor(Role::Lab, &[]),
            own: vec![],
            read: ReadScope::All,
        };
        assert!(
            !lab.may_write(&received),
            "lab staff work under blind codes only"
        );
    }
}
