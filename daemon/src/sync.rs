//! The sync engine: brings the cache up to the server's head and keeps it there.
//!
//! It opens the server's event stream first, then catches up from the cache's cursor, then
//! waits for an announced revision newer than the cache (or the poll interval, or an edit made
//! through this daemon) and catches up again. When the server cannot be reached it reports
//! "offline since …" and retries with capped exponential backoff and jitter; the cache is
//! served meanwhile. A `410 Gone` (our cursor predates the server's retained history) starts
//! a full resync whose result replaces the cache in one step.

use crate::cache::Snapshot;
use crate::remote::{Remote, RemoteError};
use crate::shared::Shared;
use chrono::Utc;
use lm_protocol::socket::{Connection, Event};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Changes per feed request.
const PAGE: u32 = 1_000;

pub struct SyncOptions {
    /// Catch up at least this often even without events.
    pub poll_interval: Duration,
    /// Longest wait between reconnection attempts.
    pub max_backoff: Duration,
}

pub async fn run(shared: Arc<Shared>, options: SyncOptions, mut shutdown: watch::Receiver<bool>) {
    let remote = shared.remote.clone();
    let mut backoff = Backoff::new(Duration::from_millis(250), options.max_backoff);
    loop {
        if remote.token().is_none() {
            // Nothing to sync with: serve the cache and wait for a login.
            shared.set_connection(
                Connection::LoginRequired {
                    reason: crate::shared::NOT_LOGGED_IN.into(),
                },
                None,
            );
            tokio::select! {
                () = shared.sync_now.notified() => continue,
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
        let (revisions_tx, mut revisions) = mpsc::channel(64);
        let events = {
            let remote = remote.clone();
            tokio::spawn(async move { remote.follow_events(&revisions_tx).await })
        };
        let outcome = async {
            catch_up(&shared, &remote).await?;
            backoff.reset();
            // Connected (again): redeem the user's seats and renew the grant kept for
            // offline checks, beside the sync.
            let renewing = shared.clone();
            tokio::spawn(async move { crate::grant::renew(&renewing).await });
            loop {
                tokio::select! {
                    announced = revisions.recv() => match announced {
                        Some(revision) if revision > shared.cache.cursor() => {}
                        Some(revision) => {
                            shared.set_live(revision);
                            continue;
                        }
                        // The stream ended: reconnect (and catch up) at once.
                        None => return Ok(()),
                    },
                    () = tokio::time::sleep(options.poll_interval) => {}
                    () = shared.sync_now.notified() => {}
                }
                catch_up(&shared, &remote).await?;
            }
        };
        let result: Result<(), RemoteError> = tokio::select! {
            result = outcome => result,
            _ = shutdown.wait_for(|stop| *stop) => {
                events.abort();
                return;
            }
        };
        events.abort();
        let Err(error) = result else { continue };
        if error.is_unauthenticated() && remote.token().is_none() {
            tracing::debug!("logged out; waiting for a login");
        } else if error.is_unauthenticated() {
            tracing::warn!(%error, "the server refused our credentials");
            shared.refresh_now.notify_one();
            shared.set_connection(
                Connection::LoginRequired {
                    reason: format!("the server refused the token: {error}"),
                },
                None,
            );
        } else {
            let since = shared.offline_since().unwrap_or_else(Utc::now);
            tracing::warn!(%error, "server unreachable; serving the cache");
            shared.set_connection(
                Connection::Offline {
                    since,
                    reason: error.to_string(),
                },
                None,
            );
        }
        let wait = backoff.next();
        tracing::debug!(?wait, "retrying");
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shared.sync_now.notified() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

/// Applies feed pages from the cache's cursor until the server has no more.
async fn catch_up(shared: &Shared, remote: &Remote) -> Result<(), RemoteError> {
    if shared.user().is_none() {
        // Tokens of an external provider or API keys do not say who we are in lm's terms
        // (role, organization); the server does.
        shared.set_user(remote.me().await?.into());
    }
    let start = shared.cache.cursor();
    let mut pages = Pages::from(remote, start);
    loop {
        let after = shared.cache.cursor();
        let (mut page, raw) = match pages.next(remote, after).await {
            Ok(arrived) => arrived,
            Err(e) if e.is_feed_expired() => return resync(shared, remote).await,
            Err(e) => return Err(e),
        };
        if remote.token().is_none() {
            // Logged out while the page was on its way: it belongs to the old login.
            return Err(logged_out());
        }
        if !page.changes.is_empty() || page.next != after {
            let changes = std::mem::take(&mut page.changes);
            let applied = shared
                .cache
                .apply_feed(changes, page.next, &raw)
                .map_err(cache_failed)?;
            announce(shared, applied);
        }
        if !page.more {
            if page.next != start || shared.org().is_none() {
                // Its settings change at a revision of their own; every page may have.
                match remote.org().await {
                    Ok(org) => shared.set_org(org),
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot read the organization's settings")
                    }
                }
            }
            shared.cache.mark_synced(Utc::now()).map_err(cache_failed)?;
            if shared.trend_due() {
                // One total a day (the latest of the day) makes the Insights' trend.
                shared
                    .cache
                    .record_totals(Utc::now().date_naive())
                    .map_err(cache_failed)?;
            }
            shared.cache.prepare_orders();
            shared.set_live(page.head);
            compact(shared).await;
            return Ok(());
        }
        shared.set_connection(
            Connection::Syncing {
                done: (page.next - start).max(0) as u64,
                total: (page.head - start).max(0) as u64,
            },
            Some(page.head),
        );
    }
}

/// Pages read from the feed ahead of the one being applied. Each is asked for as soon as the
/// one before names it (the server's `Link` header comes before the page's body) and parsed
/// on a task of its own, so the server works on the next page while this one travels, is
/// parsed and is applied; at most [`AHEAD`] wait. Dropped (a round of syncing ended early),
/// the asking stops.
struct Pages {
    parsed: mpsc::Receiver<tokio::task::JoinHandle<Result<FeedPage, RemoteError>>>,
    asking: tokio::task::JoinHandle<()>,
}

/// A page of the feed, parsed, and its bytes as the server sent them.
type FeedPage = (lm_protocol::ChangePage, Vec<u8>);

/// Pages parsed or on their way beyond the one being applied.
const AHEAD: usize = 2;

impl Pages {
    /// Asks for the pages from `after` on, as long as each names the next.
    fn from(remote: &Remote, after: i64) -> Pages {
        let (ready, parsed) = mpsc::channel(AHEAD);
        let remote = remote.clone();
        let asking = tokio::spawn(async move {
            let mut after = after;
            loop {
                let (next, page) = match remote.ask_changes(after, PAGE).await {
                    Ok(answer) => (answer.next, tokio::spawn(answer.page())),
                    Err(e) => (None, tokio::spawn(async move { Err(e) })),
                };
                if ready.send(page).await.is_err() {
                    return;
                }
                match next {
                    Some(next) => after = next,
                    None => return,
                }
            }
        });
        Pages { parsed, asking }
    }

    /// The next page; from `after` on, when the server named none (a server from before
    /// `Link`, or an answer that went wrong) and the pages asked for ran out.
    async fn next(&mut self, remote: &Remote, after: i64) -> Result<FeedPage, RemoteError> {
        let page = match self.parsed.recv().await {
            Some(page) => page,
            None => {
                *self = Pages::from(remote, after);
                self.parsed.recv().await.ok_or_else(|| {
                    RemoteError::Unreachable("asking for a feed page failed".into())
                })?
            }
        };
        page.await
            .map_err(|e| RemoteError::Unreachable(format!("fetching a feed page failed: {e}")))?
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        self.asking.abort();
    }
}

/// Folds the cache's journal into a snapshot when it is due, off the runtime's threads: after
/// a first sync of 100,000 licenses that is a second of writing, while lists are served.
async fn compact(shared: &Shared) {
    let cache = shared.cache.clone();
    match tokio::task::spawn_blocking(move || cache.compact_if_due()).await {
        // Writing the snapshot freed what it encoded.
        Ok(Ok(true)) => crate::allocator::release_freed_memory(),
        Ok(Ok(false)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot compact the cache"),
        Err(e) => tracing::error!(error = %e, "compacting the cache failed"),
    }
}

/// What a round of syncing ends with when the login went away during it.
fn logged_out() -> RemoteError {
    RemoteError::Problem(lm_protocol::Problem::local(
        lm_protocol::socket::kinds::LOGIN_REQUIRED,
        401,
        "Login required",
        crate::shared::NOT_LOGGED_IN,
    ))
}

/// Reads the whole feed from 0 and swaps it in at once, so the old cache stays visible.
async fn resync(shared: &Shared, remote: &Remote) -> Result<(), RemoteError> {
    tracing::info!(
        cursor = shared.cache.cursor(),
        "the server's history no longer reaches our cursor; resyncing"
    );
    let mut snapshot = Snapshot::default();
    let mut after = 0;
    loop {
        let (page, _) = remote.changes(after, PAGE).await?;
        snapshot.gather(page.changes);
        after = page.next;
        if !page.more {
            break;
        }
        shared.set_connection(
            Connection::Syncing {
                done: after.max(0) as u64,
                total: page.head.max(0) as u64,
            },
            Some(page.head),
        );
    }
    let applied = shared
        .cache
        .replace(snapshot, after)
        .map_err(cache_failed)?;
    shared.cache.prepare_orders();
    announce(shared, applied);
    Ok(())
}

/// Tells waiting edits and subscribed clients what reached the cache.
fn announce(shared: &Shared, applied: crate::cache::Applied) {
    shared.applied.send_replace(applied.cursor);
    if !applied.ids.is_empty() {
        let _ = shared.events.send(Event::Changed {
            revision: applied.cursor,
            ids: applied.ids,
        });
    }
    if !applied.members.is_empty() {
        let _ = shared.events.send(Event::Members {
            revision: applied.cursor,
            names: applied.members,
        });
    }
}

/// A cache that cannot be written stops this round of syncing like a lost server does:
/// the daemon keeps serving what it has and retries with backoff.
fn cache_failed(e: crate::cache::CacheError) -> RemoteError {
    RemoteError::Unreachable(format!("cache write failed: {e}"))
}

/// Capped exponential backoff with full jitter.
struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    fn new(base: Duration, max: Duration) -> Backoff {
        Backoff {
            base,
            max,
            attempt: 0,
        }
    }

    fn reset(&mut self) {
        self.attempt = 0;
    }

    fn next(&mut self) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1 << self.attempt.min(16))
            .min(self.max);
        self.attempt += 1;
        // Half fixed, half random: spreads reconnecting daemons without ever waiting ~0.
        ceiling / 2 + ceiling.mul_f64(fastrand::f64() / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let waits: Vec<_> = (0..12).map(|_| b.next()).collect();
        assert!(waits[0] >= Duration::from_millis(50) && waits[0] <= Duration::from_millis(100));
        assert!(waits.iter().all(|w| *w <= Duration::from_secs(5)));
        assert!(waits[11] >= Duration::from_millis(2500));
        b.reset();
        assert!(b.next() <= Duration::from_millis(100));
    }
}
