//! `GET /metrics` in the Prometheus text format: requests by route and status with their
//! latency, rejections by reason, how often the expensive steps (token signatures, database
//! connections) were reached, database pool usage and event-stream subscribers.
//!
//! The two "reached" counters belong to the code that reaches them (token verification, the
//! database layer); they let an operator — and the flood test — see that requests cheap
//! checks can reject never get that far.

use super::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Why a request was turned away before it did any work; carried on the response.
#[derive(Debug, Clone, Copy)]
pub struct Rejection(pub &'static str);

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Counters {
    /// (route, method, status) → requests
    requests: BTreeMap<(String, String, u16), u64>,
    /// route → latency
    latency: BTreeMap<String, Histogram>,
    rejections: BTreeMap<&'static str, u64>,
}

/// The request counters of this process.
#[derive(Clone, Default)]
pub struct Metrics {
    counters: Arc<Mutex<Counters>>,
}

impl Metrics {
    fn record(
        &self,
        route: String,
        method: String,
        status: u16,
        seconds: f64,
        rejection: Option<&'static str>,
    ) {
        let mut c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let h = c.latency.entry(route.clone()).or_default();
        h.count += 1;
        h.sum += seconds;
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            h.counts[i] += 1;
        }
        *c.requests.entry((route, method, status)).or_default() += 1;
        if let Some(reason) = rejection {
            *c.rejections.entry(reason).or_default() += 1;
        }
    }

    fn render(&self, out: &mut String) {
        let c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        out.push_str("# HELP lm_http_requests_total HTTP requests by route, method and status.\n");
        out.push_str("# TYPE lm_http_requests_total counter\n");
        for ((route, method, status), n) in &c.requests {
            let _ = writeln!(
                out,
                "lm_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP lm_http_request_duration_seconds Time to the response head, by route.\n",
        );
        out.push_str("# TYPE lm_http_request_duration_seconds histogram\n");
        for (route, h) in &c.latency {
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(h.counts) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "lm_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "lm_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}\n\
                 lm_http_request_duration_seconds_sum{{route=\"{route}\"}} {}\n\
                 lm_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count, h.sum, h.count
            );
        }
        out.push_str(
            "# HELP lm_rejections_total Requests turned away before doing their work, by reason.\n",
        );
        out.push_str("# TYPE lm_rejections_total counter\n");
        for (reason, n) in &c.rejections {
            let _ = writeln!(out, "lm_rejections_total{{reason=\"{reason}\"}} {n}");
        }
    }
}

/// Counts every request by the route it matched (not its raw path, which would let clients
/// grow the table without bound).
pub async fn count(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let response = next.run(req).await;
    let rejection = response.extensions().get::<Rejection>().map(|r| r.0);
    metrics.record(
        route,
        method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
        rejection,
    );
    response
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = String::with_capacity(4096);
    state.metrics.render(&mut out);
    let counter = |out: &mut String, name: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    };
    counter(
        &mut out,
        "lm_token_signature_checks_total",
        "Token signatures verified.",
        crate::auth::SIGNATURES_VERIFIED.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "lm_connections_refused_over_share_total",
        "Connections closed at once because their client address held its share already.",
        crate::connections::REFUSED_OVER_SHARE.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "lm_jwks_fetches_total",
        "Downloads of an external identity provider's keys.",
        crate::auth::external::JWKS_FETCHES.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "lm_token_introspections_total",
        "Tokens sent to an external identity provider's introspection endpoint.",
        crate::auth::external::INTROSPECTIONS.load(Ordering::Relaxed),
    );
    let _ = writeln!(
        out,
        "# HELP lm_db_acquires_total Database connections acquired, for requests or background work.\n\
         # TYPE lm_db_acquires_total counter\n\
         lm_db_acquires_total{{by=\"request\"}} {}\n\
         lm_db_acquires_total{{by=\"background\"}} {}",
        crate::db::ACQUIRED.load(Ordering::Relaxed),
        crate::db::ACQUIRED_IN_BACKGROUND.load(Ordering::Relaxed)
    );
    out.push_str("# HELP lm_db_pool_connections Database pool connections by pool and state.\n");
    out.push_str("# TYPE lm_db_pool_connections gauge\n");
    for (pool, size, idle) in state.store.db().pool_usage() {
        let idle = idle.min(size as usize);
        let _ = writeln!(
            out,
            "lm_db_pool_connections{{pool=\"{pool}\",state=\"in_use\"}} {}\n\
             lm_db_pool_connections{{pool=\"{pool}\",state=\"idle\"}} {idle}",
            size as usize - idle
        );
    }
    let _ = writeln!(
        out,
        "# HELP lm_sse_subscribers Open /v1/events streams.\n# TYPE lm_sse_subscribers gauge\n\
         lm_sse_subscribers {}",
        state.store.events().subscribers()
    );
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        out,
    )
}
