//! Request limits that run before any token verification or database work: a per-client
//! rate limit and a per-request deadline. (The body size limit is axum's `DefaultBodyLimit`.)

use super::error::ApiError;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A token bucket per client address: `burst` requests at once, refilled at `per_second`.
/// Each replica keeps its own buckets, so behind a load balancer with N replicas a client
/// may reach up to N times the rate.
#[derive(Clone)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Arc<Mutex<HashMap<IpAddr, Bucket>>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Forget clients idle this long once the table grows large.
const IDLE: Duration = Duration::from_secs(120);
const PRUNE_ABOVE: usize = 10_000;

impl RateLimiter {
    pub fn new(per_second: u32, burst: u32) -> RateLimiter {
        RateLimiter::with_rate(f64::from(per_second.max(1)), burst)
    }

    /// A limiter refilled at `per_second` (which may be below one: 10/60 is ten a minute).
    pub fn with_rate(per_second: f64, burst: u32) -> RateLimiter {
        RateLimiter {
            per_second: per_second.max(1e-6),
            burst: f64::from(burst.max(1)),
            buckets: Arc::default(),
        }
    }

    /// Takes one token for `client`, or says how long to wait for the next.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, b| now.duration_since(b.at) < IDLE);
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refill = now.duration_since(bucket.at).as_secs_f64() * self.per_second;
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_second,
            ))
        }
    }
}

pub async fn rate_limit(
    State(limiter): State<Option<RateLimiter>>,
    req: Request,
    next: Next,
) -> Response {
    if let Some(limiter) = limiter {
        let client = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        if let Err(wait) = limiter.check(client, Instant::now()) {
            tracing::debug!(%client, "rate limited");
            return ApiError::RateLimited {
                retry_after_secs: wait.as_secs().max(1),
            }
            .into_response();
        }
    }
    next.run(req).await
}

/// An import (a body of up to 64 MiB: 100,000 licenses take tens of seconds to check and
/// write) gets this many times the request deadline.
pub const IMPORT_DEADLINE_TIMES: u32 = 10;

/// Abandons a request that outlives its deadline (its transaction rolls back).
pub async fn deadline(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    let import = req.method() == axum::http::Method::POST && req.uri().path().ends_with("/import");
    let limit = if import {
        limit * IMPORT_DEADLINE_TIMES
    } else {
        limit
    };
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_refills() {
        let limiter = RateLimiter::new(10, 3);
        let client = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(client, t0).is_ok());
        }
        let wait = limiter.check(client, t0).unwrap_err();
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        assert!(
            limiter
                .check(client, t0 + Duration::from_millis(100))
                .is_ok()
        );
        assert!(
            limiter
                .check(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), t0)
                .is_ok(),
            "clients are independent"
        );
    }
}
