//! What the load benchmarks share: the outcome of a run of requests, printed as one row of
//! rate and latency percentiles, and PostgreSQL's statistics brought up to date.

use crate::{Backend, Client, HierarchyProvider, Server};
use std::time::Duration;

/// Requests made by a run: each one's latency, and how they ended.
#[derive(Debug, Default)]
pub struct Outcome {
    pub latencies: Vec<Duration>,
    /// Answered with what was asked for (a permission granted, a purchase made).
    pub granted: usize,
    /// Answered, but refused (no free seat, a duplicate purchase).
    pub refused: usize,
    /// Failed: an error status or no answer.
    pub errors: usize,
    pub elapsed: Duration,
}

impl Outcome {
    /// The header of [`Outcome::row`]s, with `label` over the first column.
    pub fn header(label: &str, unit: &str) -> String {
        format!(
            "{label:<22} {unit:>8} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7}",
            format!("{unit}/s"),
            "p50 ms",
            "p99 ms",
            "max ms",
            "granted",
            "refused",
            "errors"
        )
    }

    /// One line: how many, per second, p50, p99 and max latency, and how they ended.
    pub fn row(mut self, label: &str) -> String {
        self.latencies.sort();
        let n = self.latencies.len();
        if n == 0 {
            return format!("{label:<22} no requests");
        }
        let pick =
            |q: f64| self.latencies[((n as f64 * q) as usize).min(n - 1)].as_secs_f64() * 1e3;
        format!(
            "{label:<22} {n:>8} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>8} {:>8} {:>7}",
            n as f64 / self.elapsed.as_secs_f64(),
            pick(0.5),
            pick(0.99),
            self.latencies[n - 1].as_secs_f64() * 1e3,
            self.granted,
            self.refused,
            self.errors
        )
    }

    /// Adds another client's requests to these.
    pub fn absorb(&mut self, other: Outcome) {
        self.latencies.extend(other.latencies);
        self.granted += other.granted;
        self.refused += other.refused;
        self.errors += other.errors;
    }
}

/// Refreshes PostgreSQL's statistics, as autovacuum does within a minute of a table's rows
/// changing by a tenth: a bench sets up its data seconds before measuring, and without them
/// PostgreSQL plans for the tables as they were (empty), and each connection caches that
/// plan for its prepared statements. Nothing on SQLite.
pub async fn analyze(backend: Backend, server: &Server) {
    if backend != Backend::Postgres {
        return;
    }
    crate::DirectDb::connect(&server.database_url)
        .await
        .run("ANALYZE")
        .await;
}

/// The backends named in `LM_BENCH_BACKENDS`-style text (`sqlite,postgres`).
pub fn backends(names: &str) -> Vec<Backend> {
    names
        .split(',')
        .map(|name| match name.trim() {
            "sqlite" => Backend::Sqlite,
            "postgres" => Backend::Postgres,
            other => panic!("unknown backend {other}: sqlite or postgres"),
        })
        .collect()
}

/// The value of environment variable `name`, or `default` when unset or unreadable.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The resident memory of process `pid`, in MiB (zero when it cannot be read).
pub fn rss_mib(pid: u32) -> f64 {
    crate::resident_kib(pid).map_or(0.0, |kib| kib as f64 / 1024.0)
}

/// Starts `server` as the benches run it: unthrottled, asking `hp` as Hierarchy Provider
/// `district`.
pub async fn launch(server: &mut Server, hp: &HierarchyProvider) {
    let provider = format!("district={}", hp.url);
    server
        .launch(&["--rate-limit", "0", "--hierarchy-provider", &provider])
        .await;
}

/// A fresh server (see [`launch`]), its manager alice of acme, and the product `fractions`
/// that the seat benches sell.
pub async fn selling_fractions(hp: &HierarchyProvider, backend: Backend) -> (Server, Client) {
    let mut server = Server::stopped(backend).await;
    server
        .admin(&["user", "add", "alice", "--role", "manager", "--org", "acme"])
        .expect("user add");
    launch(&mut server, hp).await;
    let manager = server.login("alice");
    manager
        .post(
            "/v1/products",
            &serde_json::json!({"eid": "fractions", "name": "Fractions", "permissions": ["book:fractions:read"]}),
        )
        .await
        .expect(201);
    (server, manager)
}
