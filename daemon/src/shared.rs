//! What the sync engine and the socket server share: the cache, the server connection, the
//! connection state, and the event bus that feeds subscribed clients.

use crate::cache::Cache;
use crate::remote::Remote;
use chrono::{DateTime, Utc};
use lm_protocol::Org;
use lm_protocol::socket::{Connection, Event, Status, User};
use std::sync::Mutex;
use tokio::sync::{Notify, broadcast, watch};

/// Why the daemon waits for a login when it has no token.
pub const NOT_LOGGED_IN: &str = "not logged in: run `lm login`";

pub struct Shared {
    pub cache: Cache,
    /// The server; without a token the daemon serves the cache and waits for a login.
    pub remote: Remote,
    /// The configured server URL, shown in the status also before a login.
    pub server: String,
    /// Who the token says is logged in (for display; the server decides).
    user: Mutex<Option<User>>,
    /// Pushed to every subscribed client.
    pub events: broadcast::Sender<Event>,
    /// The cache's cursor after each applied page, for edits that wait to see their change.
    pub applied: watch::Sender<i64>,
    /// Wakes the sync engine now (after an edit or a login) instead of at the next event or
    /// poll.
    pub sync_now: Notify,
    /// Asks the login manager for a fresh access token now (the server refused ours).
    pub refresh_now: Notify,
    /// When and for which licenses expiry alerts are given.
    pub alerts: crate::config::AlertOptions,
    /// The organization's settings as last read from the server (kept in the cache).
    org: Mutex<Option<Org>>,
    /// When the day's total was last recorded for the trend.
    trend_recorded: Mutex<Option<std::time::Instant>>,
    link: Mutex<Link>,
}

/// Where the organization's settings are kept in the cache.
const ORG_META: &str = "org";

struct Link {
    connection: Connection,
    head: i64,
}

impl Shared {
    pub fn new(cache: Cache, server: String, remote: Remote) -> Shared {
        let user = remote.token().as_deref().and_then(crate::token_user);
        let connection = match remote.token() {
            Some(_) => Connection::Syncing { done: 0, total: 0 },
            None => Connection::LoginRequired {
                reason: NOT_LOGGED_IN.into(),
            },
        };
        let cursor = cache.cursor();
        let org = cache
            .meta(ORG_META)
            .and_then(|raw| serde_json::from_slice(&raw).ok());
        Shared {
            org: Mutex::new(org),
            trend_recorded: Mutex::new(None),
            events: broadcast::channel(1024).0,
            applied: watch::channel(cursor).0,
            sync_now: Notify::new(),
            refresh_now: Notify::new(),
            alerts: crate::config::AlertOptions::default(),
            link: Mutex::new(Link {
                connection,
                head: cursor,
            }),
            cache,
            server,
            remote,
            user: Mutex::new(user),
        }
    }

    /// Whether the day's total is to be recorded again (at most every ten minutes); marks it
    /// as recorded now when it is.
    pub fn trend_due(&self) -> bool {
        let mut last = self
            .trend_recorded
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let due = last.is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(600));
        if due {
            *last = Some(std::time::Instant::now());
        }
        due
    }

    /// The organization's settings as last read, if they were.
    pub fn org(&self) -> Option<Org> {
        self.org.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Keeps the organization's settings the server answered, across restarts.
    pub fn set_org(&self, org: Org) {
        if let Ok(raw) = serde_json::to_vec(&org)
            && let Err(e) = self.cache.set_meta(ORG_META, Some(&raw))
        {
            tracing::warn!(error = %e, "cannot keep the organization's settings");
        }
        *self.org.lock().unwrap_or_else(|e| e.into_inner()) = Some(org);
    }

    /// The days before expiry to alert at: lmd's own configuration, else the
    /// organization's, else [`lm_protocol::org::DEFAULT_ALERT_DAYS`].
    pub fn alert_days(&self) -> Vec<u32> {
        self.alerts
            .thresholds
            .clone()
            .or_else(|| self.org().map(|o| o.alert_days))
            .unwrap_or_else(|| lm_protocol::org::DEFAULT_ALERT_DAYS.to_vec())
    }

    pub fn user(&self) -> Option<User> {
        self.user.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records who the server says we are.
    pub fn set_user(&self, user: User) {
        *self.user.lock().unwrap_or_else(|e| e.into_inner()) = Some(user);
    }

    /// Starts using `token` (or, with `None`, none): the user shown follows it, and the sync
    /// engine wakes to use it.
    pub fn use_token(&self, token: Option<String>) {
        let logged_out = token.is_none();
        *self.user.lock().unwrap_or_else(|e| e.into_inner()) =
            token.as_deref().and_then(crate::token_user);
        self.remote.set_token(token);
        if logged_out {
            self.set_connection(
                Connection::LoginRequired {
                    reason: NOT_LOGGED_IN.into(),
                },
                None,
            );
        }
        self.sync_now.notify_one();
    }

    pub fn status(&self) -> Status {
        let link = self.link.lock().unwrap_or_else(|e| e.into_inner());
        let revision = self.cache.cursor();
        Status {
            connection: link.connection.clone(),
            server: self.server.clone(),
            user: self.user(),
            revision,
            head: link.head.max(revision),
            licenses: self.cache.len(),
            synced_at: self.cache.synced_at(),
        }
    }

    /// Records a new connection state and tells subscribers when it changed.
    /// Says the cache follows the server live, at `head` — unless the login went away
    /// meanwhile: the token is checked under the same lock a logout's `LoginRequired` is
    /// set under, so a logout racing the end of a sync is never overwritten by "live".
    pub fn set_live(&self, head: i64) {
        let changed = {
            let mut link = self.link.lock().unwrap_or_else(|e| e.into_inner());
            if self.remote.token().is_none() {
                return;
            }
            let changed = link.connection != Connection::Live || head != link.head;
            link.connection = Connection::Live;
            link.head = head;
            changed
        };
        if changed {
            let _ = self.events.send(Event::Sync(self.status()));
        }
    }

    pub fn set_connection(&self, connection: Connection, head: Option<i64>) {
        let changed = {
            let mut link = self.link.lock().unwrap_or_else(|e| e.into_inner());
            let changed = link.connection != connection || head.is_some_and(|h| h != link.head);
            link.connection = connection;
            if let Some(head) = head {
                link.head = head;
            }
            changed
        };
        if changed {
            let _ = self.events.send(Event::Sync(self.status()));
        }
    }

    /// When the server was first found unreachable in the current outage.
    pub fn offline_since(&self) -> Option<DateTime<Utc>> {
        match &self
            .link
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .connection
        {
            Connection::Offline { since, .. } => Some(*since),
            _ => None,
        }
    }

    pub fn is_offline(&self) -> bool {
        self.offline_since().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A logout that lands while a sync ends: the sync's "live" never overwrites it.
    #[test]
    fn a_logout_during_the_end_of_a_sync_stays_a_logout() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("cache")).unwrap();
        let remote = Remote::new("http://127.0.0.1:9", Some("a token".into())).unwrap();
        let shared = Shared::new(cache, "http://127.0.0.1:9".into(), remote);
        shared.set_live(3);
        assert_eq!(shared.status().connection, Connection::Live);
        shared.use_token(None);
        // The sync's last page was read with the old login; it ends now.
        shared.set_live(4);
        assert!(
            matches!(shared.status().connection, Connection::LoginRequired { .. }),
            "{:?}",
            shared.status()
        );
    }
}
