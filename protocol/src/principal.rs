//! Who is asking: the authenticated subject, their organization and their role.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a principal may do. Managers add, update, remove and assign licenses and read
/// product keys and the audit log; employees only read, and never see product keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Manager,
    Employee,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Manager => "manager",
            Role::Employee => "employee",
        }
    }

    pub fn is_manager(self) -> bool {
        self == Role::Manager
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "manager" => Ok(Role::Manager),
            "employee" => Ok(Role::Employee),
            other => Err(format!(
                "unknown role `{other}`: expected manager or employee"
            )),
        }
    }
}

/// The authenticated caller, as the server derived it from a verified token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Principal {
    pub subject: String,
    pub org: String,
    pub role: Role,
}
