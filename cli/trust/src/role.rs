//! The four top-level TUF roles, as named on knap-index's command line.

use std::fmt;
use std::str::FromStr;

use tough::schema::RoleType;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Root,
    Targets,
    Snapshot,
    Timestamp,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Root, Role::Targets, Role::Snapshot, Role::Timestamp];

    /// The default validity of a freshly signed file of this role, in days
    /// (formats.md section 7).
    pub fn default_days(self) -> u32 {
        match self {
            Role::Root => 365,
            Role::Targets => 90,
            Role::Snapshot => 7,
            Role::Timestamp => 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Root => "root",
            Role::Targets => "targets",
            Role::Snapshot => "snapshot",
            Role::Timestamp => "timestamp",
        }
    }

    pub(crate) fn tough(self) -> RoleType {
        match self {
            Role::Root => RoleType::Root,
            Role::Targets => RoleType::Targets,
            Role::Snapshot => RoleType::Snapshot,
            Role::Timestamp => RoleType::Timestamp,
        }
    }

    pub(crate) fn of(t: RoleType) -> Option<Role> {
        match t {
            RoleType::Root => Some(Role::Root),
            RoleType::Targets => Some(Role::Targets),
            RoleType::Snapshot => Some(Role::Snapshot),
            RoleType::Timestamp => Some(Role::Timestamp),
            RoleType::DelegatedTargets => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| {
                format!("unknown role '{s}': expected root, targets, snapshot or timestamp")
            })
    }
}
