//! The people of an organization as its managers administer them: members with their role,
//! status and what they hold; a change of role or status; offboarding a leaver.

mod filter;

pub use filter::{MEMBER_QUERY_HELP, MemberFilter};

use crate::license::{AssignmentId, LicenseId, LicenseName};
use crate::principal::Role;
use crate::problem::FieldError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Whether a member may sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum MemberStatus {
    Active,
    /// Invited and not joined yet: the invitation is open until `invited_until`.
    Invited,
    /// Signed out everywhere and refused until enabled again.
    Disabled,
}

impl MemberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Active => "active",
            MemberStatus::Invited => "invited",
            MemberStatus::Disabled => "disabled",
        }
    }
}

impl fmt::Display for MemberStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MemberStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "active" => Ok(MemberStatus::Active),
            "invited" => Ok(MemberStatus::Invited),
            "disabled" => Ok(MemberStatus::Disabled),
            other => Err(format!(
                "`{other}` is not a status; use active, invited or disabled"
            )),
        }
    }
}

/// A person of the organization, as its managers see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Member {
    pub name: String,
    pub role: Role,
    pub status: MemberStatus,
    pub created_at: DateTime<Utc>,
    /// When a token was last issued to them (a sign-in, or its refresh); null if never.
    pub last_sign_in: Option<DateTime<Utc>>,
    /// Whether they sign in with a one-time code besides their password.
    pub second_factor: bool,
    /// Licenses assigned to them by a manager.
    pub licenses: u32,
    /// Seats they took by asking for their permissions.
    pub seats: u32,
    /// Until when their invitation is open, while they are `invited`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invited_until: Option<DateTime<Utc>>,
}

impl Member {
    /// Whether they are listed at `now`: an invitation that expired is no longer.
    pub fn is_current(&self, now: DateTime<Utc>) -> bool {
        self.invited_until.is_none_or(|until| until > now)
    }
}

/// A change of a member (`PATCH /v1/members/{name}`): what is given changes, what is absent
/// stays.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MemberPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<MemberStatus>,
}

/// An assignment offboarding ends: a license assigned to the leaver, or a seat they took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Released {
    pub license: LicenseId,
    pub license_name: LicenseName,
    pub assignment: AssignmentId,
    /// A seat the member took by asking for their permissions, rather than an assignment a
    /// manager made.
    pub seat: bool,
}

/// What offboarding a member did — or, as a dry run, would do: every assignment released,
/// and the account disabled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Offboarding {
    pub member: String,
    pub dry_run: bool,
    pub released: Vec<Released>,
    /// Whether the account is disabled by it (false when it was disabled already).
    pub disabled: bool,
}

/// Filters of `GET /v1/members`, in name order, paged by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberQuery {
    pub role: Option<Role>,
    pub status: Option<MemberStatus>,
    /// A part of the name, in any case.
    pub q: Option<String>,
    /// Only members whose name sorts after this (the `next` of the previous page).
    pub after: Option<String>,
    pub limit: u32,
}

impl Default for MemberQuery {
    fn default() -> Self {
        MemberQuery {
            role: None,
            status: None,
            q: None,
            after: None,
            limit: Self::DEFAULT_LIMIT,
        }
    }
}

impl MemberQuery {
    pub const DEFAULT_LIMIT: u32 = 100;
    pub const MAX_LIMIT: u32 = 1_000;

    pub fn from_query<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<MemberQuery, FieldError> {
        let mut query = MemberQuery::default();
        let mut seen: Vec<&str> = Vec::new();
        for (key, value) in pairs {
            if seen.contains(&key) {
                return Err(FieldError::new(key, "is given more than once"));
            }
            seen.push(key);
            let read: Result<(), String> = match key {
                "role" => value
                    .parse::<Role>()
                    .map(|r| query.role = Some(r))
                    .map_err(|_| format!("`{value}` is not a role; use manager or employee")),
                "status" => value.parse().map(|s| query.status = Some(s)),
                "q" => {
                    query.q = Some(value.to_owned()).filter(|q| !q.is_empty());
                    Ok(())
                }
                "cursor" => {
                    query.after = Some(value.to_owned());
                    Ok(())
                }
                "limit" => value
                    .parse::<u32>()
                    .ok()
                    .filter(|l| (1..=Self::MAX_LIMIT).contains(l))
                    .map(|l| query.limit = l)
                    .ok_or_else(|| format!("must be a whole number from 1 to {}", Self::MAX_LIMIT)),
                other => {
                    return Err(FieldError::new(
                        other,
                        "is not a filter of members; use role, status, q, cursor and limit",
                    ));
                }
            };
            read.map_err(|message| FieldError::new(key, message))?;
        }
        Ok(query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_query_reads_its_filters_and_names_a_bad_one() {
        let query =
            MemberQuery::from_query([("role", "manager"), ("status", "disabled"), ("q", "An")])
                .unwrap();
        assert_eq!(query.role, Some(Role::Manager));
        assert_eq!(query.status, Some(MemberStatus::Disabled));
        assert_eq!(query.q.as_deref(), Some("An"));
        for (key, value) in [
            ("role", "boss"),
            ("status", "gone"),
            ("limit", "0"),
            ("colour", "red"),
        ] {
            let error = MemberQuery::from_query([(key, value)]).unwrap_err();
            assert_eq!(error.field, key);
        }
        let twice = MemberQuery::from_query([("q", "a"), ("q", "b")]).unwrap_err();
        assert_eq!(twice.field, "q");
    }
}
