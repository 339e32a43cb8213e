//! lmd's own share of a keystroke: `Inventory::list` in process over 100,000 licenses, for
//! every filter `lm` lists while the filters of the TUI benchmark are typed and erased key by
//! key — no socket, no JSON, no rendering. The licenses come from a real lm-server's change
//! feed, the way lmd receives them.
//!
//!     cargo bench -p lm-tests --bench inventory
//!
//! Environment: `LM_BENCH_LICENSES` (default 100000), `LM_BENCH_ROUNDS` (default 5).

use chrono::Utc;
use lm_daemon::inventory::Inventory;
use lm_protocol::{Change, ChangePage, License, Query, Sort, SortField};
use lm_tests::Server;
use lm_tests::bench::env_or;
use std::time::{Duration, Instant};

/// The rows `lm` asks for when a filter changes: two screens of a 40-line terminal.
const WINDOW: std::ops::Range<usize> = 0..80;

/// What `lm` sorts by until told otherwise.
const BY_NAME: Sort = Sort {
    field: SortField::Name,
    descending: false,
};

async fn download(server: &Server, token: &str) -> Vec<License> {
    let http = reqwest::Client::new();
    let (mut after, mut licenses) = (0, Vec::new());
    loop {
        let page: ChangePage = http
            .get(format!(
                "{}/v1/changes?after={after}&limit=1000",
                server.url
            ))
            .bearer_auth(token)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("changes")
            .json()
            .await
            .expect("a change page");
        licenses.extend(page.changes.into_iter().filter_map(|change| match change {
            lm_protocol::Change::Upsert { license, .. } => Some(*license),
            // Holders come as their own changes too; a license lists them for this bench.
            _ => None,
        }));
        after = page.next;
        if !page.more {
            return licenses;
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    let count: usize = env_or("LM_BENCH_LICENSES", 100_000);
    let rounds: usize = env_or("LM_BENCH_ROUNDS", 5);
    let (mut server, token) = Server::seeded_for_benchmarks(count).await;
    let licenses = download(&server, &token).await;
    server.stop();
    assert_eq!(licenses.len(), count);

    // Licenses a page of changes will edit later, spread over the inventory.
    let edited: Vec<License> = licenses.iter().step_by(13).cloned().collect();
    let started = Instant::now();
    let mut inventory = Inventory::build(licenses, []);
    let built = started.elapsed();
    println!(
        "\n== Inventory::list over {count} licenses, in process\nbuilt in {:.0} ms (with the order by name)",
        ms(built)
    );
    let mut orders = Vec::new();
    for field in inventory.unprepared() {
        let started = Instant::now();
        inventory.prepare(field);
        orders.push(format!("{field:?} {:.0}", ms(started.elapsed())));
    }
    println!("each other sort order built in (ms): {}", orders.join(", "));

    // Each filter `lm` lists while the phrases are typed and erased: every prefix that
    // parses and differs from the one listed before.
    let today = Utc::now().date_naive();
    let mut keystrokes = Vec::new();
    for phrase in lm_tests::TYPED_FILTERS {
        let mut typed: Vec<String> = (1..=phrase.len()).map(|n| phrase[..n].to_owned()).collect();
        let erased: Vec<String> = typed.iter().rev().skip(1).cloned().collect();
        typed.extend(erased);
        typed.push(String::new());
        keystrokes.extend(typed);
    }
    let mut samples: Vec<(Duration, String, usize)> = Vec::new();
    for _ in 0..rounds {
        let mut listed = None;
        for text in &keystrokes {
            let Ok(query) = Query::parse(text, today) else {
                continue;
            };
            let asked = (query.filter.normalized(), query.sort.unwrap_or(BY_NAME));
            if listed.as_ref() == Some(&asked) {
                continue;
            }
            let started = Instant::now();
            let (total, items) = inventory.list(&asked.0, asked.1, WINDOW, today);
            samples.push((started.elapsed(), text.clone(), total));
            std::hint::black_box(items);
            listed = Some(asked);
        }
    }
    let mut times: Vec<Duration> = samples.iter().map(|s| s.0).collect();
    times.sort();
    let at = |q: f64| ms(times[((times.len() - 1) as f64 * q).round() as usize]);
    println!(
        "{} lists of {} rows while typing: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        times.len(),
        WINDOW.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
    samples.sort_by_key(|s| std::cmp::Reverse(s.0));
    println!("slowest, with the filter and how many it matched:");
    for (took, text, total) in samples.iter().take(12) {
        println!("  {:>8.2} ms  {text:?} ({total})", ms(*took));
    }

    // A page of the change feed (another manager's bulk edit or import) while every sort
    // order is built: each change moves in name, cost and expiry.
    let mut pages = Vec::new();
    for size in [8, 100, 1000, count / 16] {
        let page: Vec<Change> = edited
            .iter()
            .take(size)
            .map(|license| {
                let mut changed = license.clone();
                changed.cost.amount = changed.cost.amount * 7 % 100_000;
                changed.name = format!("Renamed {}", changed.name).parse().expect("a name");
                changed.expires = changed.expires.map(|d| d + chrono::Days::new(365));
                Change::Upsert {
                    revision: 0,
                    license: Box::new(changed),
                }
            })
            .collect();
        let count = page.len();
        let started = Instant::now();
        inventory.apply(page);
        pages.push(format!("{count} in {:.1} ms", ms(started.elapsed())));
    }
    println!(
        "pages of changes applied with every order mended: {}",
        pages.join(", ")
    );
}
