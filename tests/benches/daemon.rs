//! Daemon benchmark at 10,000 and 100,000 licenses: the first sync of a real lmd from a
//! real lm-server (and its ratio to merely downloading the same feed pages), list latency
//! through the Unix socket with filters and sorts, edits made through the server until they
//! are in the cache and a list right after each, a start on the warm cache, and lmd's
//! memory — resident, and where it goes (`lm status --memory`) — after the sync, after
//! the lists and after a stretch of idle with live changes.
//!
//!     cargo build --release --bins && cargo bench -p lm-tests --bench daemon
//!
//! Environment: `LM_BENCH_SIZES` (default `10000,100000`), `LM_BENCH_REQUESTS` per list
//! scenario (default 300), `LM_BENCH_IDLE` seconds of idle with a change every ten seconds
//! (default 60; 3600 for the hour of the target).

use lm_protocol::socket::{Reply, Request};
use lm_protocol::{LicenseFilter, Query, Sort};
use lm_tests::bench::env_or;
use lm_tests::{CpuTime, Daemon, Server, SocketClient};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let sizes: String = env_or("LM_BENCH_SIZES", "10000,100000".to_owned());
    for licenses in sizes.split(',').filter_map(|n| n.trim().parse().ok()) {
        let cpu = CpuTime::now();
        run(licenses).await;
        println!("steal during the run: {:.1} %", cpu.steal_since());
    }
}

/// lmd's memory now: resident, the allocator's figures, and each part of its cache.
async fn print_memory(client: &mut SocketClient, when: &str) {
    let Ok(Reply::Footprint(f)) = client
        .request(Request::Footprint(lm_protocol::socket::NoArgs {}))
        .await
    else {
        panic!("no footprint");
    };
    println!("lmd memory {when}:");
    let mut out = Vec::new();
    lm_tui::cli::print_footprint(&f, &mut out).expect("printed");
    print!("{}", String::from_utf8_lossy(&out));
}

async fn run(licenses: usize) {
    let requests: usize = env_or("LM_BENCH_REQUESTS", 300);
    let idle: u64 = env_or("LM_BENCH_IDLE", 60);
    let (mut server, token) = Server::seeded_for_benchmarks(licenses).await;
    println!("\n== lmd over {licenses} licenses (SQLite server, loopback)");

    let t = Instant::now();
    let (downloaded, _) = server.follow_feed(&token).await;
    let floor = t.elapsed();

    let t = Instant::now();
    let daemon = Daemon::start(&server.url, &token).await;
    let mut client = daemon.connect().await;
    client
        .wait_for(Duration::from_secs(600), |s| {
            s.licenses == licenses && s.connection == lm_protocol::socket::Connection::Live
        })
        .await;
    let sync = t.elapsed();
    println!(
        "first sync: {:.2} s ({:.0} licenses/s); downloading the same {downloaded} changes alone: {:.2} s; ratio {:.2}",
        sync.as_secs_f64(),
        licenses as f64 / sync.as_secs_f64(),
        floor.as_secs_f64(),
        sync.as_secs_f64() / floor.as_secs_f64()
    );
    print_memory(&mut client, "after the sync").await;

    let today = chrono::Utc::now().date_naive();
    let query = |text: &str| -> (LicenseFilter, Sort) {
        let q = Query::parse(text, today).expect("query");
        (q.filter, q.sort.unwrap_or_default())
    };
    println!(
        "{:<44} {:>8} {:>9} {:>9} {:>9} {:>8}",
        "list through the socket (50 rows)", "matches", "p50 ms", "p99 ms", "max ms", "RSS MiB"
    );
    for (name, text) in [
        ("everything, by name", ""),
        ("vendor, by expiry", "vendor:adobe sort:expires"),
        ("expiring in 30 days", "expiring:30d sort:expires"),
        (
            "cost range, by cost descending",
            "cost>1000 cost<2000 sort:-cost",
        ),
        ("employee", "employee:alice"),
        ("free text", "\"design\""),
        ("deep page (offset 50,000)", "@offset"),
    ] {
        let (filter, sort, offset) = if text == "@offset" {
            (LicenseFilter::default(), Sort::default(), 50_000)
        } else {
            let (f, s) = query(text);
            (f, s, 0)
        };
        let mut latencies = Vec::with_capacity(requests);
        let mut total = 0;
        for _ in 0..requests {
            let t = Instant::now();
            let reply = client
                .request(Request::List(lm_protocol::socket::ListRequest {
                    filter: filter.clone(),
                    sort,
                    offset,
                    limit: 50,
                    within: None,
                }))
                .await;
            latencies.push(t.elapsed());
            if let Ok(Reply::Licenses(window)) = reply {
                total = window.total;
            }
        }
        latencies.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{name:<44} {total:>8} {:>9.2} {:>9.2} {:>9.2} {:>8.0}",
            ms(latencies[latencies.len() / 2]),
            ms(latencies[latencies.len() * 99 / 100]),
            ms(*latencies.last().unwrap()),
            lm_tests::bench::rss_mib(daemon.pid().expect("running"))
        );
    }

    // Lists between live changes: another manager edits a license through the server, lmd
    // applies it (patching its sort orders), then a sorted, filtered list is asked for.
    let http = server.client(Some(token.clone()));
    let edited = match client
        .request(Request::List(lm_protocol::socket::ListRequest {
            filter: LicenseFilter::default(),
            sort: Sort::default(),
            offset: 0,
            limit: requests,
            within: None,
        }))
        .await
    {
        Ok(Reply::Licenses(window)) => window.items,
        other => panic!("list: {other:?}"),
    };
    let (filter, sort) = query("vendor:adobe sort:-cost");
    let (mut arrivals, mut lists) = (Vec::new(), Vec::new());
    for (i, license) in edited.iter().enumerate() {
        let sent = Instant::now();
        let changed: lm_protocol::License = http
            .patch(
                &format!("/v1/licenses/{}", license.id),
                license.version,
                &serde_json::json!({"cost": {"amount": 100_000 + i as i64, "currency": "EUR"}}),
            )
            .await
            .expect(200)
            .json();
        while client.status().await.revision < changed.revision {
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        arrivals.push(sent.elapsed());
        let t = Instant::now();
        let reply = client
            .request(Request::List(lm_protocol::socket::ListRequest {
                filter: filter.clone(),
                sort,
                offset: 0,
                limit: 50,
                within: None,
            }))
            .await;
        lists.push(t.elapsed());
        assert!(matches!(reply, Ok(Reply::Licenses(_))), "{reply:?}");
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for (name, mut latencies) in [
        ("edit through the server → in lmd's cache", arrivals),
        ("list right after each change (vendor, by cost)", lists),
    ] {
        latencies.sort();
        println!(
            "{name:<48} {:>4} {:>9.2} {:>9.2} {:>9.2}",
            latencies.len(),
            ms(latencies[latencies.len() / 2]),
            ms(latencies[latencies.len() * 99 / 100]),
            ms(*latencies.last().unwrap())
        );
    }
    print_memory(&mut client, "after the lists").await;

    // Idle, as on a laptop through the day: a colleague's change every ten seconds.
    let started = Instant::now();
    let mut i = 0;
    while started.elapsed() < Duration::from_secs(idle) {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let license = &edited[i % edited.len()];
        let current: lm_protocol::License = http
            .get(&format!("/v1/licenses/{}", license.id))
            .await
            .expect(200)
            .json();
        http.patch(
            &format!("/v1/licenses/{}", license.id),
            current.version,
            &serde_json::json!({"notes": format!("idle change {i}")}),
        )
        .await
        .expect(200);
        i += 1;
    }
    print_memory(
        &mut client,
        &format!("after {idle} s idle with {i} live changes"),
    )
    .await;

    // The laptop-reboot case: lmd starts again on its warm cache.
    let mut daemon = daemon;
    daemon.stop();
    let t = Instant::now();
    daemon.launch().await;
    let mut client = daemon.connect().await;
    let opened = t.elapsed();
    client
        .request(Request::List(lm_protocol::socket::ListRequest {
            filter: LicenseFilter::default(),
            sort: Sort::default(),
            offset: 0,
            limit: 50,
            within: None,
        }))
        .await
        .expect("a list");
    println!(
        "start on the warm cache: serving after {:.2} s, first list after {:.2} s",
        opened.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    print_memory(&mut client, "after the warm start").await;
    drop(daemon);
    server.stop();
}
