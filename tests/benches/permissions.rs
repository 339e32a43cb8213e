//! Load test of permission checks: `GET /v1/users/{eid}/permissions` against a real
//! lm-server (release build) whose seat licenses are owned by classes of a remote Hierarchy
//! Provider on loopback, with seat limits enforced.
//!
//!     cargo build --release --bins && cargo bench -p lm-tests --bench permissions
//!
//! Per database and number of concurrent clients (each its own kept-alive HTTP connection,
//! like wrk's connections), two phases:
//! - first checks: every student checks once, taking a seat (or being refused when the
//!   class's seats are gone) — every one of these writes, under the organization's lock;
//! - second checks: every student checks once more, keeping the seat — the server has
//!   heard of writes since it last read anyone's seats, so each check reads the database;
//! - repeated checks: for `LM_BENCH_SECONDS`, clients check random students again — the
//!   steady state of applications asking at start-up, answered from what the server read
//!   (see `store/quiet_reads.rs`).
//!
//! Each check costs the server a token verification, the built-in provider's query, one
//! call to the remote provider, the seat reads, and a signed grant. The load generator, the
//! provider and the server (and PostgreSQL) share this machine's cores: the figures are a
//! floor. Environment: `LM_BENCH_SECONDS` (default 10), `LM_BENCH_CLIENTS` (default
//! `50,200`), `LM_BENCH_BACKENDS` (default `sqlite,postgres`), `LM_BENCH_STUDENTS`
//! (default 5000; classes of 25 with 20 seats each).
//!
//! With `LM_BENCH_ONE_LICENSE_SEATS=N` it measures instead how a seat's cost grows: one
//! license of N seats owned by one school of N students, and the first checks (each takes a
//! seat) in ten slices of N/10, one row each — the 1st seat's slice beside the Nth's —, while
//! an lmd follows the organization (its memory and whether it stayed live, per slice, and how
//! soon after the last seat its cache equals the server's); then the database's growth per
//! seat, and the first checks of a server restarted on the grown database.

use lm_protocol::LicenseFilter;
use lm_protocol::socket::Connection;
use lm_tests::bench::env_or;
use lm_tests::bench::{Outcome, analyze, backends, launch, rss_mib, selling_fractions};
use lm_tests::{Backend, Daemon, HierarchyProvider};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const CLASS_SIZE: usize = 25;
const SEATS_PER_CLASS: u32 = 20;

/// `clients` connections check students from `next` until it passes `students` (or, with
/// `until`, random students until the time is up).
async fn run(
    url: &str,
    token: &str,
    clients: usize,
    students: std::ops::Range<usize>,
    until: Option<Duration>,
) -> Outcome {
    let first_student = students.start;
    let students = students.end;
    let next = Arc::new(AtomicUsize::new(first_student));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .unwrap();
        let (url, token, next, stop) =
            (url.to_owned(), token.to_owned(), next.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let (mut granted, mut refused, mut errors) = (0, 0, 0);
            // A cheap, per-client sequence of students for the repeated phase.
            let mut x = (c as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            loop {
                let student = match until {
                    None => {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= students {
                            break;
                        }
                        i
                    }
                    Some(_) => {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        first_student + (x % (students - first_student) as u64) as usize
                    }
                };
                let t = Instant::now();
                let reply = client
                    .get(format!("{url}/v1/users/s{student}/permissions"))
                    .bearer_auth(&token)
                    .send()
                    .await;
                match reply {
                    Ok(r) if r.status().is_success() => {
                        let body: serde_json::Value = r.json().await.unwrap_or_default();
                        latencies.push(t.elapsed());
                        if body["permissions"]
                            .as_array()
                            .is_some_and(|p| !p.is_empty())
                        {
                            granted += 1;
                        } else {
                            refused += 1;
                        }
                    }
                    Ok(r) => {
                        let status = r.status();
                        let _ = r.bytes().await;
                        latencies.push(t.elapsed());
                        if errors == 0 {
                            eprintln!("check of s{student}: {status}");
                        }
                        errors += 1;
                    }
                    Err(e) => {
                        latencies.push(t.elapsed());
                        if errors == 0 {
                            eprintln!("check of s{student}: {e}");
                        }
                        errors += 1;
                    }
                }
            }
            (latencies, granted, refused, errors)
        }));
    }
    if let Some(duration) = until {
        tokio::time::sleep(duration).await;
        stop.store(true, Ordering::Relaxed);
    }
    let mut outcome = Outcome::default();
    for t in tasks {
        let (latencies, granted, refused, errors) = t.await.unwrap();
        outcome.absorb(Outcome {
            latencies,
            granted,
            refused,
            errors,
            elapsed: Duration::ZERO,
        });
    }
    outcome.elapsed = started.elapsed();
    outcome
}

/// One school of `seats` students owning one license of `seats` seats: the first checks, a
/// tenth at a time.
async fn one_license(hp: &HierarchyProvider, backend: Backend, clients: usize, seats: usize) {
    for s in 0..seats {
        hp.set_membership(
            &format!("s{s}"),
            json!(["(school)(big)", format!("(student)(s{s})")]),
        );
    }
    let (mut server, manager) = selling_fractions(hp, backend).await;
    hp.set_membership("s0", json!(["(school)(big)", "(student)(s0)"]));
    manager
        .post(
            "/v1/users/s0/purchases",
            &json!({
                "product_eid": "fractions", "owner_hierarchy_level": "school",
                "owner_eids": ["big"], "seats": seats,
                "valid_from": "2026-01-01", "valid_to": "2099-12-31",
                "hierarchy_provider_url": hp.url,
            }),
        )
        .await
        .expect(201);
    analyze(backend, &server).await;
    let token = manager.token().unwrap().to_owned();
    // A daemon follows the organization through the rush: it must stay live, keep up, and
    // keep its memory.
    let daemon = Daemon::start(&server.url, &token).await;
    let mut follower = daemon.connect().await;
    follower.wait_live().await;
    let lmd = daemon.pid().expect("lmd runs");
    println!("\n== {backend:?}, one license of {seats} seats, {clients} concurrent clients");
    println!(
        "{}  {:>8} {:>8}",
        Outcome::header("seats taken", "checks"),
        "lmd MiB",
        "lmd live"
    );
    let bytes_before = server.database_bytes().await;
    let tenth = seats.div_ceil(10);
    for slice in 0..10 {
        let range = slice * tenth..((slice + 1) * tenth).min(seats);
        let label = format!("{}–{}", range.start + 1, range.end);
        let outcome = run(&server.url, &token, clients, range, None).await;
        let live = follower.status().await.connection == Connection::Live;
        println!("{}  {:>8.0} {:>8}", outcome.row(&label), rss_mib(lmd), live);
    }
    let stored = manager.get("/v1/licenses?kind=seat").await.expect(200).body["items"][0].clone();
    let used = stored["seats_used"].clone();
    let caught_up = Instant::now();
    let id: lm_protocol::LicenseId = stored["id"].as_str().unwrap().parse().unwrap();
    loop {
        let window = follower
            .list(
                LicenseFilter {
                    id: Some(id.clone()),
                    ..LicenseFilter::default()
                },
                1,
            )
            .await;
        let cached = &window.items[0];
        if i64::from(cached.seats_used) == stored["seats_used"].as_i64().unwrap()
            && cached.version == stored["version"].as_i64().unwrap()
        {
            break;
        }
        assert!(
            caught_up.elapsed() < Duration::from_secs(60),
            "lmd did not catch up: {cached:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "lmd's cache equals the server's (seats_used {used}, version {}) {:.0} ms after the last seat",
        stored["version"],
        caught_up.elapsed().as_secs_f64() * 1e3
    );
    drop(daemon);
    let grown = server.database_bytes().await.saturating_sub(bytes_before);
    // A server started on the grown database answers its first checks (each of a student
    // holding a seat, read cold) as fast as the warm one answered.
    server.stop();
    launch(&mut server, hp).await;
    let after_restart = run(&server.url, &token, clients, 0..tenth, None).await;
    println!("{}", after_restart.row("after a restart"));
    println!(
        "seats_used at the end: {used}; the database grew {:.1} MB, {:.0} bytes a seat (audit included)",
        grown as f64 / 1e6,
        grown as f64 / seats as f64
    );
    server.stop();
}

#[tokio::main]
async fn main() {
    let seconds: u64 = env_or("LM_BENCH_SECONDS", 10);
    let students: usize = env_or("LM_BENCH_STUDENTS", 5000);
    let clients: String = env_or("LM_BENCH_CLIENTS", "50,200".to_owned());
    let backend_names: String = env_or("LM_BENCH_BACKENDS", "sqlite,postgres".to_owned());
    let classes = students.div_ceil(CLASS_SIZE);

    let hp = HierarchyProvider::start().await;
    hp.stop_recording();
    hp.set_levels(json!({"student": 0, "class": 1, "school": 2}));
    let one_license_seats: usize = env_or("LM_BENCH_ONE_LICENSE_SEATS", 0);
    if one_license_seats > 0 {
        for backend in backends(&backend_names) {
            let clients: usize = clients
                .split(',')
                .next()
                .and_then(|c| c.trim().parse().ok())
                .expect("LM_BENCH_CLIENTS");
            one_license(&hp, backend, clients, one_license_seats).await;
        }
        return;
    }
    for s in 0..students {
        let class = s / CLASS_SIZE;
        hp.set_membership(
            &format!("s{s}"),
            json!([
                format!("(school)({})", class / 20),
                format!("(class)(c{class})"),
                format!("(student)(s{s})"),
            ]),
        );
    }
    println!(
        "{students} students in {classes} classes of {CLASS_SIZE} with {SEATS_PER_CLASS} seats each, \
         owned through a remote Hierarchy Provider on loopback; {} online cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for backend in backends(&backend_names) {
        for clients in clients.split(',') {
            let clients: usize = clients.trim().parse().expect("LM_BENCH_CLIENTS");
            let (mut server, manager) = selling_fractions(&hp, backend).await;
            for class in 0..classes {
                manager
                    .post(
                        &format!("/v1/users/s{}/purchases", class * CLASS_SIZE),
                        &json!({
                            "product_eid": "fractions", "owner_hierarchy_level": "class",
                            "owner_eids": [format!("c{class}")], "seats": SEATS_PER_CLASS,
                            "valid_from": "2026-01-01", "valid_to": "2099-12-31",
                            "hierarchy_provider_url": hp.url,
                        }),
                    )
                    .await
                    .expect(201);
            }
            analyze(backend, &server).await;
            let token = manager.token().unwrap().to_owned();
            println!("\n== {backend:?}, {clients} concurrent clients");
            println!("{}", Outcome::header("phase", "checks"));
            let first = run(&server.url, &token, clients, 0..students, None).await;
            println!("{}", first.row("first (take seats)"));
            analyze(backend, &server).await;
            // Every seat was written since the server last read it: each check reads anew.
            let second = run(&server.url, &token, clients, 0..students, None).await;
            println!("{}", second.row("second (cold reads)"));
            let again = run(
                &server.url,
                &token,
                clients,
                0..students,
                Some(Duration::from_secs(seconds)),
            )
            .await;
            println!("{}", again.row("repeated"));
            server.stop();
        }
    }
}
