//! What the daemon answers and pushes: replies, its status, events and expiry alerts.

use crate::audit::AuditEntry;
use crate::license::{Assignment, License, LicenseId};
use crate::page::Page;
use crate::principal::Role;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reply {
    Hello {
        version: u32,
        daemon: String,
    },
    Status(Status),
    Subscribed,
    Licenses(LicenseWindow),
    Holders(HolderWindow),
    License {
        license: Box<License>,
    },
    Done,
    Audit(Page<AuditEntry>),
    /// A device login started: open `verification_uri` and enter `user_code`.
    LoginStarted(LoginPrompt),
    Permissions(HeldPermissions),
    /// What an import did, or with problems (then nothing was written) would have done.
    Imported(crate::csv::ImportReport),
    Alerts {
        alerts: Vec<ExpiryAlert>,
        /// How many are in effect; more than listed when over [`MAX_ALERTS_LISTED`].
        total: usize,
    },
    Members(super::MemberWindow),
    Member(Box<super::MemberDetail>),
    Offboarding(crate::member::Offboarding),
    /// A one-time link just made (an invitation or a password reset): its only showing.
    Link(crate::invitation::IssuedInvitation),
    Org(crate::org::Org),
    Report(Box<crate::insights::Report>),
    Footprint(Footprint),
}

/// Where the daemon's memory goes. The parts are estimates, counted from the structures'
/// sizes and capacities; the allocator's figures and the resident memory are readings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Footprint {
    /// The process's resident memory (`VmRSS`), in bytes.
    pub resident: u64,
    /// Bytes the allocator has handed out and not got back, where it tells (glibc).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap_in_use: Option<u64>,
    /// Bytes freed but kept by the allocator rather than returned to the system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap_retained: Option<u64>,
    /// The cache's parts in memory, largest first.
    pub parts: Vec<FootprintPart>,
    /// The most the storage engine's page cache may hold (a limit, not a reading).
    pub storage_cache_limit: u64,
    /// The cache's files on disk, in bytes.
    pub on_disk: u64,
}

/// One part of the cache in memory: what it is, how many bytes, and how many things it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FootprintPart {
    pub name: String,
    pub bytes: u64,
    pub items: u64,
}

/// The most alerts one `alerts` event carries: a first sync may raise thousands at once.
pub const MAX_ALERTS_IN_EVENT: usize = 500;

/// The most alerts one `alerts` reply lists (a few hundred bytes each, within a frame).
pub const MAX_ALERTS_LISTED: usize = 1000;

/// The user's permissions as the daemon holds them: the server's answer, whose grant the
/// daemon verified with the server's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldPermissions {
    #[serde(flatten)]
    pub permissions: crate::hierarchy::Permissions,
    /// When the server gave this answer.
    pub fetched_at: DateTime<Utc>,
    /// Answered from the grant kept, because the server cannot be reached.
    pub offline: bool,
}

/// Where and how to approve a device login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginPrompt {
    pub verification_uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_uri_complete: Option<String>,
    pub user_code: String,
    /// Seconds until the code expires.
    pub expires_in: u64,
}

/// A window of a filtered, sorted listing of the cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LicenseWindow {
    pub items: Vec<License>,
    /// How many licenses match in all.
    pub total: usize,
    pub offset: usize,
}

/// A window of a license's holders, in the order they were assigned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HolderWindow {
    pub items: Vec<Assignment>,
    /// How many holders the license has in all.
    pub total: usize,
    pub offset: usize,
}

/// Where the daemon's copy of the inventory stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub connection: Connection,
    pub server: String,
    #[serde(default)]
    pub user: Option<User>,
    /// The revision the cache holds.
    pub revision: i64,
    /// The newest revision the daemon knows the server has.
    pub head: i64,
    pub licenses: usize,
    /// When the cache last matched the server.
    #[serde(default)]
    pub synced_at: Option<DateTime<Utc>>,
}

/// The logged-in user, as their token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub subject: String,
    pub org: String,
    pub role: Role,
}

impl From<crate::principal::Principal> for User {
    fn from(p: crate::principal::Principal) -> User {
        User {
            subject: p.subject,
            org: p.org,
            role: p.role,
        }
    }
}

/// The daemon's link to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Connection {
    /// Following live events; the cache is current.
    Live,
    /// Catching up: `done` of `total` changes applied.
    Syncing { done: u64, total: u64 },
    /// The server is unreachable since `since`; the cache is served as it is.
    Offline {
        since: DateTime<Utc>,
        reason: String,
    },
    /// No usable credentials: the user must log in.
    LoginRequired { reason: String },
}

/// What the daemon pushes to subscribers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// The connection or sync progress changed.
    Sync(Status),
    /// These licenses changed in the cache (upserted or removed).
    Changed { revision: i64, ids: Vec<LicenseId> },
    /// These members changed in the cache (joined, invited, changed, or no longer listed).
    Members { revision: i64, names: Vec<String> },
    /// A device login ended without a login (denied, expired, or the server failed).
    LoginFailed { reason: String },
    /// Licenses reached an expiry alert threshold (also shown as a desktop notification).
    /// One event per check: the soonest alerts, at most [`MAX_ALERTS_IN_EVENT`] (the
    /// `alerts` request lists them all), and how many were raised.
    Alerts {
        alerts: Vec<ExpiryAlert>,
        /// How many alerts were raised; 0 from a daemon that did not say (count `alerts`).
        #[serde(default)]
        total: usize,
    },
}

/// A license that expires within `threshold` days: `days` from today (0 is today).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiryAlert {
    pub license: LicenseId,
    pub name: String,
    pub vendor: String,
    pub expires: chrono::NaiveDate,
    pub days: i64,
    pub threshold: u32,
}

impl ExpiryAlert {
    /// "expires today", "expires tomorrow", "expires in 7 days", "expired 3 days ago".
    pub fn when(&self) -> String {
        expiry_in_words(self.days)
    }
}

/// An expiry `days` from today in words: "expires today", "expires in 3 days", "expired
/// yesterday", "expired 12 days ago".
pub fn expiry_in_words(days: i64) -> String {
    match days {
        0 => "expires today".into(),
        1 => "expires tomorrow".into(),
        d if d > 1 => format!("expires in {d} days"),
        -1 => "expired yesterday".into(),
        d => format!("expired {} days ago", -d),
    }
}
