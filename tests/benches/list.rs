//! Listing benchmark: 100,000 licenses, filtered pages of 100 over loopback HTTP with
//! keep-alive, on SQLite and PostgreSQL. Prints p50/p99 latency, requests per second, and
//! the query plan of each scenario.
//!
//!     cargo build --release --bins && cargo bench -p lm-tests --bench list
//!
//! Environment: `LM_BENCH_LICENSES` (default 100000), `LM_BENCH_SECONDS` per scenario
//! (default 5), `LM_BENCH_CONCURRENCY`, a list of client counts (default `1,8`: latency of
//! one client alone, then eight at once), `LM_BENCH_BACKENDS` (default `sqlite,postgres`).

use chrono::{Days, Utc};
use lm_protocol::ListParams;
use lm_server::db::{Db, PoolConfig};
use lm_server::store::Store;
use lm_tests::Server;
use lm_tests::bench::env_or;
use std::time::{Duration, Instant};

fn scenarios() -> Vec<(&'static str, String)> {
    let today = Utc::now().date_naive();
    let year = today + Days::new(365);
    vec![
        ("first page, no filter", "limit=100".into()),
        (
            "combined: kind + cost range + expiry range",
            format!(
                "kind=subscription&cost_min=50000&cost_max=800000&expires_from={today}&expires_to={year}&limit=100"
            ),
        ),
        (
            "vendor, sorted by expiry",
            "vendor=adobe&sort=expires&limit=100".into(),
        ),
        (
            "employee, sorted by name",
            "employee=alice&sort=name&limit=100".into(),
        ),
        (
            "expiring within 30 days",
            "expiring_within=30&sort=expires&limit=100".into(),
        ),
        (
            "cost range, sorted by cost desc",
            "cost_min=100000&cost_max=200000&sort=-cost&limit=100".into(),
        ),
        ("free text (scan)", "q=design&limit=100".into()),
    ]
}

struct Figures {
    requests: usize,
    p50: Duration,
    p99: Duration,
    rps: f64,
}

async fn measure(url: String, token: String, seconds: u64, concurrency: usize) -> Figures {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    // Warm up caches and connections.
    for _ in 0..20 {
        let r = client.get(&url).bearer_auth(&token).send().await.unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        r.bytes().await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let r = client.get(&url).bearer_auth(&token).send().await.unwrap();
                assert!(r.status().is_success());
                r.bytes().await.unwrap();
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let elapsed = started.elapsed();
    all.sort();
    let pick = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Figures {
        requests: all.len(),
        p50: pick(0.50),
        p99: pick(0.99),
        rps: all.len() as f64 / elapsed.as_secs_f64(),
    }
}

#[tokio::main]
async fn main() {
    let licenses: usize = env_or("LM_BENCH_LICENSES", 100_000);
    let seconds: u64 = env_or("LM_BENCH_SECONDS", 5);
    let concurrency: Vec<usize> = env_or("LM_BENCH_CONCURRENCY", "1,8".to_owned())
        .split(',')
        .map(|c| {
            c.trim()
                .parse()
                .expect("LM_BENCH_CONCURRENCY is a list of numbers")
        })
        .collect();
    let backends: String = env_or("LM_BENCH_BACKENDS", "sqlite,postgres".to_owned());
    for backend in lm_tests::bench::backends(&backends) {
        // Seed before serving: a server measured in its steady state, not one whose
        // connections opened on an empty database.
        let mut server = Server::stopped(backend).await;
        server
            .admin(&["user", "add", "alice", "--role", "manager", "--org", "acme"])
            .expect("user add");
        let seeded = Instant::now();
        server
            .admin(&["seed", "--org", "acme", "--licenses", &licenses.to_string()])
            .expect("seed");
        let seeded = seeded.elapsed();
        server
            .launch(&["--rate-limit", "0", "--db-connections", "16"])
            .await;
        let alice = server.login("alice");
        println!(
            "\n== {backend:?}: {licenses} licenses seeded in {:.1?}; {seconds} s per scenario",
            seeded
        );
        let store = Store::new(
            Db::connect(&server.database_url, PoolConfig::default())
                .await
                .expect("open db"),
        );
        let token = alice.token().unwrap().to_owned();
        println!(
            "{:<46} {:>7} {:>8} {:>9} {:>9} {:>9}",
            "scenario", "clients", "requests", "p50 ms", "p99 ms", "req/s"
        );
        let mut plans = Vec::new();
        for (name, query) in scenarios() {
            let url = format!("{}/v1/licenses?{query}", server.url);
            for &clients in &concurrency {
                let f = measure(url.clone(), token.clone(), seconds, clients).await;
                println!(
                    "{name:<46} {clients:>7} {:>8} {:>9.2} {:>9.2} {:>9.0}",
                    f.requests,
                    f.p50.as_secs_f64() * 1e3,
                    f.p99.as_secs_f64() * 1e3,
                    f.rps
                );
            }
            let pairs: Vec<(String, String)> = form_pairs(&query);
            let params =
                ListParams::from_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                    .unwrap();
            plans.push((
                name,
                store
                    .explain_list("acme", &params, Utc::now().date_naive())
                    .await
                    .unwrap(),
            ));
        }
        println!("\n-- query plans ({backend:?})");
        for (name, plan) in plans {
            println!("{name}:");
            for line in plan {
                println!("    {line}");
            }
        }
    }
}

fn form_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}
