//! Who a person is in the work: the role decides what they may see and write.

use serde::{Deserialize, Serialize};

/// The role of a user. Field roles capture records; supervisors review the records of their
/// org units; admins manage people and devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 巡查员: walks village rectification checklists and water-body checks.
    Inspector,
    /// 采样员: collects soil samples and logs their custody.
    Sampler,
    /// 审核员: reviews (approves, returns, reopens) records of their org units.
    Supervisor,
    /// 管理员: manages org units, users, devices; may do what a supervisor may.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Inspector,
        Role::Sampler,
        Role::Supervisor,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Inspector => "inspector",
            Role::Sampler => "sampler",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The label shown to users.
    pub fn label_zh(self) -> &'static str {
        match self {
            Role::Inspector => "巡查员",
            Role::Sampler => "采样员",
            Role::Supervisor => "审核员",
            Role::Admin => "管理员",
        }
    }

    /// Field users capture records; they see their own and their assignments' records.
    pub fn is_field(self) -> bool {
        matches!(self, Role::Inspector | Role::Sampler)
    }

    /// Supervisors and admins review records and see their org units' subtrees.
    pub fn reviews(self) -> bool {
        matches!(self, Role::Supervisor | Role::Admin)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.as_str())
            );
        }
        assert_eq!(Role::parse("root"), None);
        assert!(Role::Sampler.is_field() && !Role::Sampler.reviews());
        assert!(Role::Admin.reviews() && !Role::Admin.is_field());
    }
}
