//! Load test of purchases: `POST /v1/users/{eid}/purchases` against a real lm-server
//! (release build), each purchase a new seat license owned by a class of a remote Hierarchy
//! Provider on loopback, bought by a member of that class (the provider is asked each time).
//!
//!     cargo build --release --bins && cargo bench -p lm-tests --bench purchases
//!
//! Per database, `LM_BENCH_CLIENTS` (default 20) kept-alive connections buy
//! `LM_BENCH_PURCHASES` (default 100,000) distinct purchases, in ten slices of a tenth, one
//! row each — the first purchases beside the last, to show whether a purchase costs more as
//! purchases accumulate — then one duplicate of each of a thousand earlier ones, which must
//! all be refused (409). The database's growth per purchase, audit included, closes each
//! table. Environment also: `LM_BENCH_BACKENDS` (default `sqlite,postgres`).

use lm_tests::bench::{Outcome, analyze, backends, env_or, selling_fractions};
use lm_tests::{Backend, HierarchyProvider};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Classes the purchases are spread over; each class buys on a thousand different days.
const CLASSES: usize = 1_000;

/// Purchase `i`: of class `i % CLASSES`, by its first member, ending on a day of its own.
fn purchase(i: usize, provider: &str) -> (String, serde_json::Value) {
    let class = i % CLASSES;
    let to = chrono::NaiveDate::from_ymd_opt(2030, 1, 1).unwrap()
        + chrono::Days::new((i / CLASSES) as u64);
    (
        format!("b{class}"),
        json!({
            "product_eid": "fractions", "owner_hierarchy_level": "class",
            "owner_eids": [format!("c{class}")], "seats": 25,
            "valid_from": "2026-01-01", "valid_to": to.to_string(),
            "hierarchy_provider_url": provider,
        }),
    )
}

/// `clients` connections buy purchases `numbers`, each once.
async fn buy(
    url: &str,
    token: &str,
    provider: &str,
    clients: usize,
    numbers: std::ops::Range<usize>,
) -> Outcome {
    let next = Arc::new(AtomicUsize::new(numbers.start));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .unwrap();
        let (url, token, provider, next) = (
            url.to_owned(),
            token.to_owned(),
            provider.to_owned(),
            next.clone(),
        );
        let end = numbers.end;
        tasks.push(tokio::spawn(async move {
            let mut outcome = Outcome::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    break;
                }
                let (buyer, body) = purchase(i, &provider);
                let t = Instant::now();
                let reply = client
                    .post(format!("{url}/v1/users/{buyer}/purchases"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await;
                let status = reply.as_ref().map(|r| r.status().as_u16()).ok();
                if let Ok(r) = reply {
                    let _ = r.bytes().await;
                }
                outcome.latencies.push(t.elapsed());
                match status {
                    Some(201) => outcome.granted += 1,
                    Some(409) => outcome.refused += 1,
                    other => {
                        if outcome.errors == 0 {
                            eprintln!("purchase {i}: {other:?}");
                        }
                        outcome.errors += 1;
                    }
                }
            }
            outcome
        }));
    }
    let mut outcome = Outcome::default();
    for t in tasks {
        outcome.absorb(t.await.unwrap());
    }
    outcome.elapsed = started.elapsed();
    outcome
}

async fn bench(hp: &HierarchyProvider, backend: Backend, clients: usize, purchases: usize) {
    let (mut server, manager) = selling_fractions(hp, backend).await;
    analyze(backend, &server).await;
    let token = manager.token().unwrap().to_owned();
    println!("\n== {backend:?}, {purchases} purchases, {clients} concurrent clients");
    println!("{}", Outcome::header("purchases made", "buys"));
    let bytes_before = server.database_bytes().await;
    let tenth = purchases.div_ceil(10);
    for slice in 0..10 {
        let range = slice * tenth..((slice + 1) * tenth).min(purchases);
        let label = format!("{}–{}", range.start + 1, range.end);
        println!(
            "{}",
            buy(&server.url, &token, &hp.url, clients, range)
                .await
                .row(&label)
        );
    }
    let grown = server.database_bytes().await.saturating_sub(bytes_before);
    let again = buy(
        &server.url,
        &token,
        &hp.url,
        clients,
        0..purchases.min(1_000),
    )
    .await;
    println!("{}", again.row("bought again (409)"));
    println!(
        "the database grew {:.1} MB, {:.0} bytes a purchase (license, owners, audit included)",
        grown as f64 / 1e6,
        grown as f64 / purchases as f64
    );
    server.stop();
}

#[tokio::main]
async fn main() {
    let purchases: usize = env_or("LM_BENCH_PURCHASES", 100_000);
    let clients: usize = env_or("LM_BENCH_CLIENTS", 20);
    let backend_names: String = env_or("LM_BENCH_BACKENDS", "sqlite,postgres".to_owned());

    let hp = HierarchyProvider::start().await;
    hp.stop_recording();
    hp.set_levels(json!({"student": 0, "class": 1, "school": 2}));
    for class in 0..CLASSES {
        hp.set_membership(
            &format!("b{class}"),
            json!([
                format!("(school)({})", class / 20),
                format!("(class)(c{class})"),
                format!("(student)(b{class})"),
            ]),
        );
    }
    println!(
        "purchases of {CLASSES} classes through a remote Hierarchy Provider on loopback; {} online cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for backend in backends(&backend_names) {
        bench(&hp, backend, clients, purchases).await;
    }
}
