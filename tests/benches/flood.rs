//! Flood benchmark: while attackers flood a real lm-server over loopback with (a) no token,
//! (b) garbage tokens and (c) a valid token with invalid fields, a legitimate manager keeps
//! listing licenses. Prints the flood rate, how often the flood reached token signature
//! verification and the database (from `/metrics`), and the legitimate client's latency
//! before and during each flood.
//!
//!     cargo build --release --bins && cargo bench -p lm-tests --bench flood
//!
//! Two setups: the default per-address rate limit with the flood from other loopback
//! addresses than the manager's (127.0.0.2…), and the limit off (an attacker with more
//! addresses than the limit can tell apart), where only the cheap checks shield the work.
//! Attackers and server share this machine's cores, so the figures are a floor.
//!
//! Then (d) a slowloris: connections that send a request head a byte a second and never end
//! it, from one address and from sixteen, with the manager's latency meanwhile and how many
//! the server closed (its share per address at once, the rest after the idle timeout).
//!
//! Environment: `LM_BENCH_SECONDS` per flood (default 5), `LM_BENCH_FLOOD_MAX` requests per
//! flood at most (default 200000), `LM_BENCH_FLOODERS` concurrent attackers (default 32),
//! `LM_BENCH_SLOWLORIS` connections (default 2000) held `LM_BENCH_SLOWLORIS_SECONDS`
//! (default 15), `LM_BENCH_BACKENDS` (default `sqlite`).

use base64::Engine;
use lm_tests::Server;
use lm_tests::bench::env_or;
use serde_json::json;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Clone, Copy)]
enum Flood {
    NoToken,
    GarbageTokens,
    InvalidFields,
}

impl Flood {
    fn name(self) -> &'static str {
        match self {
            Flood::NoToken => "(a) no token",
            Flood::GarbageTokens => "(b) garbage tokens",
            Flood::InvalidFields => "(c) valid token, invalid fields",
        }
    }
}

fn b64(value: serde_json::Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

fn client_from(address: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(address)
        .pool_max_idle_per_host(64)
        .build()
        .unwrap()
}

/// Sends the flood until `stop` or `max` requests; returns (requests, statuses).
async fn attack(
    url: String,
    flood: Flood,
    token: String,
    flooders: usize,
    max: usize,
    stop: Arc<AtomicBool>,
) -> (usize, BTreeMap<u16, usize>) {
    let sent = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for f in 0..flooders {
        // Each attacker from its own loopback address, none of them the manager's.
        let client = client_from(IpAddr::V4(Ipv4Addr::new(127, 0, 1, 2 + f as u8)));
        let (url, token, stop, sent) = (url.clone(), token.clone(), stop.clone(), sent.clone());
        tasks.push(tokio::spawn(async move {
            let mut statuses = BTreeMap::new();
            let garbage = [
                "not-a-token".to_owned(),
                format!(
                    "{}.{}.",
                    b64(json!({"alg": "none"})),
                    b64(json!({"sub": "admin", "role": "manager"}))
                ),
                format!(
                    "{}.{}.c2ln",
                    b64(json!({"alg": "EdDSA", "kid": "made-up"})),
                    b64(json!({"sub": "admin"}))
                ),
            ];
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) && sent.fetch_add(1, Ordering::Relaxed) < max {
                i += 1;
                let request = match flood {
                    Flood::NoToken => client.get(format!("{url}/v1/licenses")),
                    Flood::GarbageTokens => client
                        .get(format!("{url}/v1/licenses"))
                        .bearer_auth(&garbage[i % garbage.len()]),
                    Flood::InvalidFields => client
                        .post(format!("{url}/v1/licenses"))
                        .bearer_auth(&token)
                        .json(&json!({"product": "x", "name": "y", "kind": "perpetual",
                            "vendor": "z", "cost": {"amount": -1, "currency": "EUR"}})),
                };
                match request.send().await {
                    Ok(r) => {
                        *statuses.entry(r.status().as_u16()).or_insert(0) += 1;
                        let _ = r.bytes().await;
                    }
                    Err(_) => *statuses.entry(0).or_insert(0) += 1,
                }
            }
            statuses
        }));
    }
    let mut all = BTreeMap::new();
    for t in tasks {
        for (status, n) in t.await.unwrap() {
            *all.entry(status).or_insert(0) += n;
        }
    }
    (all.values().sum(), all)
}

/// The legitimate manager lists licenses one request after another until `stop`.
async fn legitimate(url: String, token: String, stop: Arc<AtomicBool>) -> Vec<Duration> {
    let client = client_from(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let mut latencies = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let r = client
            .get(format!("{url}/v1/licenses?limit=50&sort=expires"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        r.bytes().await.unwrap();
        latencies.push(t.elapsed());
        // A person or a daemon, not a flood: about 50 requests a second.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    latencies
}

/// A slowloris: `connections` connections from `addresses` loopback addresses (127.0.0.2…),
/// each sending a request head one byte a second and never finishing it, until `stop`.
/// Answers how many the server had closed by then.
async fn slowloris(url: String, connections: usize, addresses: u8, stop: Arc<AtomicBool>) -> usize {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let closed = Arc::new(AtomicUsize::new(0));
    let mut held = Vec::new();
    for i in 0..connections {
        let from = Ipv4Addr::new(127, 0, 0, 2 + (i % addresses as usize) as u8);
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind((from, 0).into()).unwrap();
        let Ok(stream) = socket.connect(server).await else {
            closed.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let (stop, closed) = (stop.clone(), closed.clone());
        held.push(tokio::spawn(async move {
            let (mut read, mut write) = stream.into_split();
            let head = b"GET /v1/licenses HTTP/1.1\r\nHost: lm\r\nX-Slow: ";
            let _ = write.write_all(head).await;
            let mut buf = [0u8; 512];
            while !stop.load(Ordering::Relaxed) {
                tokio::select! {
                    n = read.read(&mut buf) => {
                        if matches!(n, Ok(0) | Err(_)) {
                            closed.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    }
                    () = tokio::time::sleep(Duration::from_secs(1)) => {
                        if write.write_all(b"a").await.is_err() {
                            closed.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    }
                }
            }
        }));
    }
    for task in held {
        let _ = task.await;
    }
    closed.load(Ordering::Relaxed)
}

fn percentiles(mut all: Vec<Duration>) -> String {
    all.sort();
    let pick = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    format!(
        "{:>6} {:>8.2} {:>8.2} {:>8.2}",
        all.len(),
        pick(0.5).as_secs_f64() * 1e3,
        pick(0.99).as_secs_f64() * 1e3,
        all.last().unwrap().as_secs_f64() * 1e3
    )
}

#[tokio::main]
async fn main() {
    let seconds: u64 = env_or("LM_BENCH_SECONDS", 5);
    let max: usize = env_or("LM_BENCH_FLOOD_MAX", 200_000);
    let flooders: usize = env_or("LM_BENCH_FLOODERS", 32);
    let backends: String = env_or("LM_BENCH_BACKENDS", "sqlite".to_owned());
    let slow_connections: usize = env_or("LM_BENCH_SLOWLORIS", 2_000);
    // Longer than the server's idle timeout (set to 10 s below), so that it shows.
    let slow_seconds: u64 = env_or("LM_BENCH_SLOWLORIS_SECONDS", 15);
    for backend in lm_tests::bench::backends(&backends) {
        for rate_limit in ["50", "0"] {
            let mut server = Server::stopped(backend).await;
            server
                .admin(&["user", "add", "alice", "--role", "manager", "--org", "acme"])
                .expect("user add");
            server
                .admin(&["seed", "--org", "acme", "--licenses", "10000"])
                .expect("seed");
            server
                .launch(&["--rate-limit", rate_limit, "--idle-timeout", "10s"])
                .await;
            let token = server.login("alice").token().unwrap().to_owned();
            println!(
                "\n== {backend:?}, rate limit {}; {flooders} attackers, {seconds} s or {max} requests per flood",
                if rate_limit == "0" {
                    "off".to_owned()
                } else {
                    format!("{rate_limit}/s per address")
                }
            );
            println!(
                "{:<32} {:>9} {:>9} {:>10} {:>9}   legit: {:>6} {:>8} {:>8} {:>8}   statuses",
                "flood",
                "requests",
                "req/s",
                "signatures",
                "db",
                "reqs",
                "p50 ms",
                "p99 ms",
                "max ms"
            );
            let stop = Arc::new(AtomicBool::new(false));
            let quiet = tokio::spawn(legitimate(server.url.clone(), token.clone(), stop.clone()));
            tokio::time::sleep(Duration::from_secs(2)).await;
            stop.store(true, Ordering::Relaxed);
            println!(
                "{:<32} {:>9} {:>9} {:>10} {:>9}   legit: {}",
                "(none: baseline)",
                "-",
                "-",
                "-",
                "-",
                percentiles(quiet.await.unwrap())
            );
            for flood in [Flood::NoToken, Flood::GarbageTokens, Flood::InvalidFields] {
                let before = server.metrics().await;
                let stop = Arc::new(AtomicBool::new(false));
                let legit =
                    tokio::spawn(legitimate(server.url.clone(), token.clone(), stop.clone()));
                let started = Instant::now();
                let attackers = tokio::spawn(attack(
                    server.url.clone(),
                    flood,
                    token.clone(),
                    flooders,
                    max,
                    stop.clone(),
                ));
                let timer = {
                    let stop = stop.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_secs(seconds)).await;
                        stop.store(true, Ordering::Relaxed);
                    })
                };
                let (requests, statuses) = attackers.await.unwrap();
                let elapsed = started.elapsed();
                stop.store(true, Ordering::Relaxed);
                timer.abort();
                let latencies = legit.await.unwrap();
                let after = server.metrics().await;
                let delta = |k: &str| {
                    after.get(k).copied().unwrap_or(0.0) - before.get(k).copied().unwrap_or(0.0)
                };
                let legit_requests = latencies.len() as f64;
                // The legitimate requests verify one signature and use one connection each.
                let signatures = delta("lm_token_signature_checks_total") - legit_requests;
                let db = delta("lm_db_acquires_total{by=\"request\"}") - legit_requests;
                println!(
                    "{:<32} {:>9} {:>9.0} {:>10} {:>9}   legit: {}   {:?}",
                    flood.name(),
                    requests,
                    requests as f64 / elapsed.as_secs_f64(),
                    signatures,
                    db,
                    percentiles(latencies),
                    statuses
                );
            }
            // (d) A slowloris of held-open connections: from one address (its share is
            // capped), then spread over 16 addresses (each within its share, every one
            // closed once the idle timeout passes).
            for (connections, addresses) in [(slow_connections, 1u8), (slow_connections, 16)] {
                let stop = Arc::new(AtomicBool::new(false));
                let legit =
                    tokio::spawn(legitimate(server.url.clone(), token.clone(), stop.clone()));
                let attack = tokio::spawn(slowloris(
                    server.url.clone(),
                    connections,
                    addresses,
                    stop.clone(),
                ));
                tokio::time::sleep(Duration::from_secs(slow_seconds)).await;
                stop.store(true, Ordering::Relaxed);
                let closed = attack.await.unwrap();
                println!(
                    "{:<32} {:>9} {:>9} {:>10} {:>9}   legit: {}   closed by the server: {closed}",
                    format!("(d) slowloris, {addresses} address(es)"),
                    connections,
                    "-",
                    "-",
                    "-",
                    percentiles(legit.await.unwrap()),
                );
            }
            server.stop();
        }
    }
}
