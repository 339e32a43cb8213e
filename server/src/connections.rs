//! Accepting and serving connections: what a client may hold of the server before it has
//! sent a single request.
//!
//! A connection must deliver each request head within [`ConnectionLimits::idle`] of being
//! opened or of its previous answer, or it is closed: so slow headers (slowloris) and idle
//! kept-alive connections both end, while a long answer (an event stream) is never cut.
//! Each client address may hold [`ConnectionLimits::per_address`] connections at once; one
//! more is closed as soon as it is accepted, so one address cannot use up the server's file
//! descriptors. `TCP_NODELAY` is set on every connection: without it, the last small segment
//! of an answer on a kept-alive connection waited for the client's delayed ACK (40 ms, seen
//! as a p99 spike in the list bench).

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Connections closed at once because their address held its share already, for `/metrics`.
pub static REFUSED_OVER_SHARE: AtomicU64 = AtomicU64::new(0);

/// How long, after shutdown is asked for, answers under way may take to finish.
const DRAIN_WITHIN: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// How long a connection may take to send a request head, counted from its opening or its
    /// previous answer.
    pub idle: Duration,
    /// How many connections one client address may hold at once.
    pub per_address: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            idle: Duration::from_secs(20),
            per_address: 256,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets answers under way
/// finish (at most [`DRAIN_WITHIN`]).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.idle)
        .keep_alive_timeout(limits.idle);
    let held = Held::default();
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: wait a moment rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(share) = held.take(peer.ip(), limits.per_address) else {
            REFUSED_OVER_SHARE.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%peer, "closed a connection over the address's share");
            drop(stream);
            continue;
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let service = router.clone().map_request(
            move |mut req: axum::extract::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.map(axum::body::Body::new)
            },
        );
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let watched = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = watched.await {
                tracing::trace!(error = %e, "connection ended");
            }
            drop(share);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_WITHIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("answers still under way after {DRAIN_WITHIN:?}; stopping anyway");
    }
    Ok(())
}

/// How many connections each address holds now.
#[derive(Clone, Default)]
struct Held(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One connection of an address, given back when dropped.
struct Share {
    held: Held,
    address: IpAddr,
}

impl Held {
    fn take(&self, address: IpAddr, most: usize) -> Option<Share> {
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let count = held.entry(address).or_insert(0);
        if *count >= most {
            return None;
        }
        *count += 1;
        Some(Share {
            held: self.clone(),
            address,
        })
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut held = self.held.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = held.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_its_share_and_gets_it_back() {
        let held = Held::default();
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let first = held.take(a, 2).unwrap();
        let _second = held.take(a, 2).unwrap();
        assert!(held.take(a, 2).is_none());
        assert!(
            held.take(b, 2).is_some(),
            "other addresses are not affected"
        );
        drop(first);
        assert!(held.take(a, 2).is_some());
    }
}
