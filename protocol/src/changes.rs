//! The change feed: what a daemon follows to hold an up-to-date copy of the inventory.
//!
//! Each license appears at most once in the feed, at the revision of its latest change: an
//! upsert with the license as the caller may see it, or a tombstone once it is removed. A
//! license carries its seat count and its oldest holders only; every holder is its own entry,
//! at the revision it was assigned (`assign`), and a released one a tombstone of its own
//! (`unassign`), so a seat taken costs a daemon one small entry however many seats the license
//! has. A manager's feed carries every holder, an employee's their own. Members are changes
//! of their own (`member`, and `uninvite` for an invitation withdrawn), so the People screen
//! reads offline too. A removed license's
//! holders go with it; a restored one's come again at its revision.
//!
//! A client that applies pages in order from `after=0`, and keeps asking with `after=next`,
//! ends with exactly the server's current set, even while writes go on: the server commits
//! each organization's changes in revision order, so a later page never lacks an earlier
//! commit, and a page never ends inside a revision (it may then hold more than `limit`).

use crate::license::{Assignment, AssignmentId, License, LicenseId};
use crate::member::Member;
use serde::{Deserialize, Serialize};

mod read;

/// One entry of the feed. Read by hand (see `read.rs`): written with `op` first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Change {
    /// The license was created, changed or restored; this is its current state.
    Upsert {
        revision: i64,
        license: Box<License>,
    },
    /// The license was removed, and its holders with it.
    Delete { revision: i64, id: LicenseId },
    /// The license is assigned to a holder (a person or device, or a seat a unit's member
    /// took).
    Assign {
        revision: i64,
        license: LicenseId,
        assignment: Assignment,
    },
    /// The assignment `id` of the license ended.
    Unassign {
        revision: i64,
        license: LicenseId,
        id: AssignmentId,
    },
    /// A member joined or changed (role, status, second factor), or someone was invited:
    /// this is the member now. A manager's feed has every member, an employee's only
    /// themselves. How many licenses and seats they hold is as of this revision; the holders
    /// in the feed say it at every later one.
    Member { revision: i64, member: Box<Member> },
    /// The invitation of `name` was revoked or replaced; they are no longer listed (unless
    /// a `member` change of the same revision lists them again).
    Uninvite { revision: i64, name: String },
}

impl Change {
    pub fn revision(&self) -> i64 {
        match self {
            Change::Upsert { revision, .. }
            | Change::Delete { revision, .. }
            | Change::Assign { revision, .. }
            | Change::Unassign { revision, .. }
            | Change::Member { revision, .. }
            | Change::Uninvite { revision, .. } => *revision,
        }
    }

    /// The license the change is about, if it is about one (not a member).
    pub fn license(&self) -> Option<&LicenseId> {
        match self {
            Change::Upsert { license, .. } => Some(&license.id),
            Change::Delete { id, .. } => Some(id),
            Change::Assign { license, .. } | Change::Unassign { license, .. } => Some(license),
            Change::Member { .. } | Change::Uninvite { .. } => None,
        }
    }

    /// The member the change is about, if it is about one.
    pub fn member(&self) -> Option<&str> {
        match self {
            Change::Member { member, .. } => Some(&member.name),
            Change::Uninvite { name, .. } => Some(name),
            _ => None,
        }
    }
}

/// A page of `GET /v1/changes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangePage {
    pub changes: Vec<Change>,
    /// Ask for `after=next` to continue.
    pub next: i64,
    /// Whether more changes are waiting now.
    pub more: bool,
    /// The organization's newest revision when the page was read, for progress reports.
    pub head: i64,
}
