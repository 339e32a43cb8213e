//! What clients ask of the daemon about people and the organization, and what it answers:
//! the members (read from the cache, also offline), one member with what they hold, and the
//! managers' edits (forwarded to the server).

use crate::invitation::NewInvitation;
use crate::license::{AssignmentId, LicenseId, LicenseName};
use crate::member::{Member, MemberFilter, MemberPatch};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembersRequest {
    #[serde(default)]
    pub filter: MemberFilter,
    /// How many matching members to skip.
    #[serde(default)]
    pub offset: usize,
    /// How many to return, at most [`super::MAX_LIST_LIMIT`].
    #[serde(default = "default_members_limit")]
    pub limit: usize,
}

fn default_members_limit() -> usize {
    100
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberRef {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeMemberRequest {
    pub name: String,
    pub patch: MemberPatch,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffboardRequest {
    pub name: String,
    /// Only say what would be released.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    pub invitation: NewInvitation,
}

/// A window of the cached members that match a filter, in name order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberWindow {
    pub items: Vec<Member>,
    /// How many members match in all.
    pub total: usize,
    pub offset: usize,
}

/// A license a member holds: assigned to them, or a seat they took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holding {
    pub license: LicenseId,
    pub license_name: LicenseName,
    pub assignment: AssignmentId,
    pub since: DateTime<Utc>,
    /// A seat of a license of their units, rather than a license assigned to them.
    pub seat: bool,
}

/// A member and every license they hold, as the cache has them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberDetail {
    pub member: Member,
    pub holdings: Vec<Holding>,
}
