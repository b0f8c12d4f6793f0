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
    /// 检测员: enters lab results of the soil samples handed in to the lab (under their blind
    /// codes), after the collection record is submitted and without reopening it.
    Lab,
    /// 审核员: reviews (approves, returns, reopens) records of their org units.
    Supervisor,
    /// 管理员: manages org units, users, devices; may do what a supervisor may.
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Inspector,
        Role::Sampler,
        Role::Lab,
        Role::Supervisor,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Inspector => "inspector",
            Role::Sampler => "sampler",
            Role::Lab => "lab",
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
            Role::Lab => "检测员",
            Role::Supervisor => "审核员",
            Role::Admin => "管理员",
        }
    }

    /// Device users who work from assignments: inspectors and samplers capture records, lab
    /// staff enter the lab results of the samples given to them. They see their own records
    /// and their assignments' records; supervisors manage them.
    pub fn is_field(self) -> bool {
        matches!(self, Role::Inspector | Role::Sampler | Role::Lab)
    }

    /// Who writes a soil sample's lab results (`data.lab_results`): lab staff, and an admin
    /// correcting them. Samplers and supervisors do not.
    pub fn enters_lab_results(self) -> bool {
        matches!(self, Role::Lab | Role::Admin)
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
        assert!(Role::Lab.is_field() && Role::Lab.enters_lab_results() && !Role::Lab.reviews());
        assert!(!Role::Sampler.enters_lab_results() && !Role::Supervisor.enters_lab_results());
    }
}
