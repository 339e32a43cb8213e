//! Live events: "organization X has a new revision". Every committed write publishes one;
//! `GET /v1/events` streams them to subscribers, who then read the change feed.
//!
//! SQLite has one server process, so events are published in-process. On PostgreSQL each
//! write transaction also sends `NOTIFY lm_changes` (delivered at commit), and every replica
//! relays what it hears to its own subscribers — a write through replica A reaches the
//! subscribers of replica B.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::broadcast;

/// The PostgreSQL channel replicas notify each other on.
pub const CHANNEL: &str = "lm_changes";

/// The notification payload of a write that changes no revision (the hierarchy, products):
/// subscribers have nothing to sync, but caches must read again.
pub const UNVERSIONED_WRITE: &str = "unversioned";

/// An organization reached a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    pub org: Arc<str>,
    pub revision: i64,
}

impl Revision {
    /// The NOTIFY payload: `revision org`.
    pub fn payload(&self) -> String {
        format!("{} {}", self.revision, self.org)
    }

    pub fn parse(payload: &str) -> Option<Revision> {
        let (revision, org) = payload.split_once(' ')?;
        Some(Revision {
            org: org.into(),
            revision: revision.parse().ok()?,
        })
    }
}

/// The in-process bus of [`Revision`] events, and a count of the writes this process has
/// heard of: anything read from the database while the count stays the same is still what
/// the database holds (up to the notification's delay from another replica), which is what
/// caches of rarely written data key on.
#[derive(Clone)]
pub struct Events {
    tx: broadcast::Sender<Revision>,
    writes_heard: Arc<AtomicU64>,
}

impl Default for Events {
    fn default() -> Self {
        // A slow subscriber that falls this far behind skips ahead; it only needs the newest.
        let (tx, _) = broadcast::channel(1024);
        Events {
            tx,
            writes_heard: Arc::default(),
        }
    }
}

impl Events {
    /// How many writes this process has heard of; see [`Events`].
    pub fn writes_heard(&self) -> u64 {
        self.writes_heard.load(Ordering::Acquire)
    }

    /// Counts a write without announcing it: this process's own commit, before the
    /// notification comes back, or a gap when notifications may have been missed.
    pub fn heard_a_write(&self) {
        self.writes_heard.fetch_add(1, Ordering::AcqRel);
    }

    pub fn publish(&self, org: &str, revision: i64) {
        self.heard_a_write();
        // No subscribers is fine.
        let _ = self.tx.send(Revision {
            org: org.into(),
            revision,
        });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Revision> {
        self.tx.subscribe()
    }

    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_with_spaces_in_the_org() {
        let r = Revision {
            org: "acme corp".into(),
            revision: 42,
        };
        assert_eq!(Revision::parse(&r.payload()), Some(r));
        assert_eq!(Revision::parse("x acme"), None);
    }
}
