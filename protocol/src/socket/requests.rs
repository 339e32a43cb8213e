//! What a client asks of the daemon: the requests and their arguments.

use super::people::{
    ChangeMemberRequest, InviteRequest, MemberRef, MembersRequest, OffboardRequest,
};
use crate::audit::AuditQuery;
use crate::filter::{LicenseFilter, Sort};
use crate::license::{Assignee, AssignmentId, LicenseId, LicensePatch, NewLicense};
use crate::org::OrgPatch;
use serde::{Deserialize, Serialize};

/// What a client asks of the daemon. On the wire the variant is the `op` field and its
/// arguments sit beside it: `{"id": 4, "op": "get", "license": "…"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// The first message of every connection.
    Hello(Hello),
    /// Connection, sync progress, data age, who is logged in.
    Status(NoArgs),
    /// Push events (`sync`, `changed`) to this connection from now on.
    Subscribe(NoArgs),
    /// A window of the cached licenses that match a filter.
    List(ListRequest),
    /// One cached license.
    Get(LicenseRef),
    /// Manager edits, forwarded to the server; its answer comes back intact.
    Create(CreateRequest),
    Update(UpdateRequest),
    Remove(RemoveRequest),
    Restore(LicenseRef),
    Assign(AssignRequest),
    /// Ends an assignment, named by its id or by whom it assigns the license to (also a
    /// holder the license does not list).
    Unassign(UnassignRequest),
    /// A window of every holder of a cached license, in the order they were assigned: the
    /// ones it lists and the ones beyond (a seat license of a school has thousands).
    Holders(HoldersRequest),
    /// The audit log (managers), read from the server.
    Audit(AuditRequest),
    /// Start a device login (RFC 8628): the reply says where to approve it; the outcome
    /// arrives as a `sync` event (logged in) or a `login_failed` event.
    Login(NoArgs),
    /// Revoke the login at the server and forget it.
    Logout(NoArgs),
    /// The logged-in user's permissions: asked of the server (which takes a seat of a
    /// license of the user's units, if need be) and answered with its signed grant, checked
    /// against the server's keys; while the server is unreachable, from the grant kept, as
    /// long as it is valid.
    Permissions(NoArgs),
    /// A CSV import (managers), forwarded to the server: the daemon reads `path` (it runs as
    /// the same user) so that a file of any size fits; the server's report comes back,
    /// also when it lists problems and nothing was written.
    Import(ImportRequest),
    /// The expiry alerts in effect today — every license in the alert scope within a
    /// threshold of its expiry, whether its notification was given already or not —
    /// soonest first, the first [`MAX_ALERTS_LISTED`] of them. Answered from the cache,
    /// also offline.
    Alerts(NoArgs),
    /// A window of the cached members that match a filter, in name order (managers see
    /// everyone, an employee themselves). Answered from the cache, also offline.
    Members(MembersRequest),
    /// One cached member and every license they hold.
    Member(MemberRef),
    /// Managers: a member's role or status, forwarded to the server.
    ChangeMember(ChangeMemberRequest),
    /// Managers: release everything a leaver holds and disable them (or, as a dry run, say
    /// what that would release).
    Offboard(OffboardRequest),
    /// Managers: invite someone; the reply has the link to hand over, shown this once.
    Invite(InviteRequest),
    /// Managers: end a member's password and logins; the reply has the link to choose a new
    /// one.
    ResetPassword(MemberRef),
    /// The organization's settings, read from the server.
    Org(NoArgs),
    /// Managers: change the organization's settings.
    ChangeOrg(ChangeOrgRequest),
    /// A report of the Insights screen and `lm report`, computed from the cache (also
    /// offline).
    Report(crate::insights::ReportRequest),
    /// Where the daemon's memory goes: each part of its cache, the allocator's figures and
    /// the process's resident memory (`lm status --memory`).
    Footprint(NoArgs),
}

impl Request {
    pub(super) const OPS: [&str; 28] = [
        "hello",
        "status",
        "subscribe",
        "list",
        "get",
        "create",
        "update",
        "remove",
        "restore",
        "assign",
        "unassign",
        "holders",
        "audit",
        "login",
        "logout",
        "permissions",
        "import",
        "alerts",
        "members",
        "member",
        "change_member",
        "offboard",
        "invite",
        "reset_password",
        "org",
        "change_org",
        "report",
        "footprint",
    ];

    /// Reads the request named `op` from its arguments, naming the offending field on error.
    pub(super) fn from_op(
        op: &str,
        args: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Request, String> {
        fn read<T: serde::de::DeserializeOwned>(
            args: serde_json::Map<String, serde_json::Value>,
        ) -> Result<T, String> {
            serde_path_to_error::deserialize(serde_json::Value::Object(args)).map_err(|e| {
                let path = e.path().to_string();
                let message = e.into_inner().to_string();
                if path == "." {
                    message
                } else {
                    format!("{path}: {message}")
                }
            })
        }
        Ok(match op {
            "hello" => Request::Hello(read(args)?),
            "status" => Request::Status(read(args)?),
            "subscribe" => Request::Subscribe(read(args)?),
            "list" => Request::List(read(args)?),
            "get" => Request::Get(read(args)?),
            "create" => Request::Create(read(args)?),
            "update" => Request::Update(read(args)?),
            "remove" => Request::Remove(read(args)?),
            "restore" => Request::Restore(read(args)?),
            "assign" => Request::Assign(read(args)?),
            "unassign" => Request::Unassign(read(args)?),
            "holders" => Request::Holders(read(args)?),
            "audit" => Request::Audit(read(args)?),
            "login" => Request::Login(read(args)?),
            "logout" => Request::Logout(read(args)?),
            "permissions" => Request::Permissions(read(args)?),
            "import" => Request::Import(read(args)?),
            "alerts" => Request::Alerts(read(args)?),
            "members" => Request::Members(read(args)?),
            "member" => Request::Member(read(args)?),
            "change_member" => Request::ChangeMember(read(args)?),
            "offboard" => Request::Offboard(read(args)?),
            "invite" => Request::Invite(read(args)?),
            "reset_password" => Request::ResetPassword(read(args)?),
            "org" => Request::Org(read(args)?),
            "change_org" => Request::ChangeOrg(read(args)?),
            "report" => Request::Report(read(args)?),
            "footprint" => Request::Footprint(read(args)?),
            other => {
                return Err(format!(
                    "op: `{other}` is not an operation; use one of {}",
                    Self::OPS.join(", ")
                ));
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

/// The arguments of a request that takes none; any given are refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListRequest {
    #[serde(default)]
    pub filter: LicenseFilter,
    #[serde(default)]
    pub sort: Sort,
    /// How many matching licenses to skip.
    #[serde(default)]
    pub offset: usize,
    /// How many to return, at most [`MAX_LIST_LIMIT`].
    #[serde(default = "default_list_limit")]
    pub limit: usize,
    /// Only the licenses of a report's group (a bar of the Insights screen no query names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<crate::insights::GroupRef>,
}

impl Default for ListRequest {
    fn default() -> Self {
        ListRequest {
            filter: LicenseFilter::default(),
            sort: Sort::default(),
            offset: 0,
            limit: default_list_limit(),
            within: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenseRef {
    pub license: LicenseId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    pub license: NewLicense,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    pub license: LicenseId,
    /// The version the user saw; a newer one on the server makes this fail with 412.
    pub version: i64,
    pub patch: LicensePatch,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveRequest {
    pub license: LicenseId,
    /// When given, the removal fails with 412 if the license changed since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    pub license: LicenseId,
    /// `{"employee": "alice"}` or `{"device": "LAPTOP-7"}`.
    pub to: Assignee,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnassignRequest {
    pub license: LicenseId,
    /// The assignment to end; or, without it, the one of `from`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment: Option<AssignmentId>,
    /// `{"employee": "alice"}` or `{"device": "LAPTOP-7"}`: whose assignment to end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Assignee>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldersRequest {
    pub license: LicenseId,
    /// How many holders to skip.
    #[serde(default)]
    pub offset: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// An absolute path to the CSV file (columns of [`crate::csv::COLUMNS`]).
    pub path: std::path::PathBuf,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRequest {
    #[serde(default)]
    pub query: AuditQuery,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeOrgRequest {
    pub patch: OrgPatch,
}

fn default_list_limit() -> usize {
    100
}

/// The largest `limit` of a `list` request.
pub const MAX_LIST_LIMIT: usize = 10_000;
