//! The change feed: what a daemon follows to hold an up-to-date copy of the inventory.
//!
//! Each license appears at most once in the feed, at the revision of its latest change: an
//! upsert with the license as the caller may see it, or a tombstone once it is removed. A
//! client that applies pages in order from `after=0`, and keeps asking with `after=next`,
//! ends with exactly the server's current set, even while writes go on: the server commits
//! each organization's changes in revision order, so a later page never lacks an earlier
//! commit.

use crate::license::{License, LicenseId};
use serde::{Deserialize, Serialize};

/// One entry of the feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Change {
    /// The license was created, changed or restored; this is its current state.
    Upsert {
        revision: i64,
        license: Box<License>,
    },
    /// The license was removed.
    Delete { revision: i64, id: LicenseId },
}

impl Change {
    pub fn revision(&self) -> i64 {
        match self {
            Change::Upsert { revision, .. } | Change::Delete { revision, .. } => *revision,
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
