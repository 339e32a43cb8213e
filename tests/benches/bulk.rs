//! Bulk benchmark over 100,000 licenses on a real lm-server: the change feed paged from 0
//! (what every daemon's first sync costs), CSV export, CSV import into an empty organization,
//! and backup and restore.
//!
//!     cargo build --release --bins && cargo bench -p lm-tests --bench bulk
//!
//! Environment: `LM_BENCH_LICENSES` (default 100000), `LM_BENCH_BACKENDS` (default
//! `sqlite,postgres`).

use lm_tests::Server;
use lm_tests::bench::env_or;
use std::time::{Duration, Instant};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The export without its `id` column: rows for another organization, matched by product.
fn without_ids(csv_text: &str) -> Vec<u8> {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let mut out = csv::Writer::from_writer(Vec::new());
    let header = reader.headers().unwrap().clone();
    out.write_record(header.iter().skip(1)).unwrap();
    for record in reader.records() {
        out.write_record(record.unwrap().iter().skip(1)).unwrap();
    }
    out.into_inner().unwrap()
}

#[tokio::main]
async fn main() {
    let licenses: usize = env_or("LM_BENCH_LICENSES", 100_000);
    let backends: String = env_or("LM_BENCH_BACKENDS", "sqlite,postgres".to_owned());
    for backend in lm_tests::bench::backends(&backends) {
        let mut server = Server::stopped(backend).await;
        server
            .admin(&["user", "add", "alice", "--role", "manager", "--org", "acme"])
            .expect("user add");
        server
            .admin(&["user", "add", "bob", "--role", "manager", "--org", "newco"])
            .expect("user add");
        let t = Instant::now();
        server
            .admin(&["seed", "--org", "acme", "--licenses", &licenses.to_string()])
            .expect("seed");
        let seeded = t.elapsed();
        server
            .launch(&["--rate-limit", "0", "--max-body", "104857600"])
            .await;
        let alice = server.login("alice");
        let bob = server.login("bob");
        println!("\n== {backend:?}: {licenses} licenses (seeded in {seeded:.1?})");

        for run in ["cold", "warm"] {
            let t = Instant::now();
            let (changes, mut pages) = server.follow_feed(alice.token().unwrap()).await;
            let elapsed = t.elapsed();
            pages.sort();
            println!(
                "change feed from 0 ({run}): {changes} changes in {} pages, {:.2} s = {:.0} changes/s; \
                 page p50 {:.1} ms, p99 {:.1} ms",
                pages.len(),
                elapsed.as_secs_f64(),
                changes as f64 / elapsed.as_secs_f64(),
                ms(pages[pages.len() / 2]),
                ms(pages[(pages.len() * 99 / 100).min(pages.len() - 1)]),
            );
        }

        let t = Instant::now();
        let export = alice.get("/v1/licenses/export.csv").await.expect(200).text;
        let exported = t.elapsed();
        println!(
            "CSV export: {} rows, {:.1} MB in {:.2} s",
            export.lines().count() - 1,
            export.len() as f64 / 1e6,
            exported.as_secs_f64()
        );

        let rows = without_ids(&export);
        let file_mib = rows.len() as f64 / (1 << 20) as f64;
        let before = server.resident_mib().unwrap_or(0);
        let t = Instant::now();
        let (report, peak) = with_peak_memory(&server, async {
            bob.post_bytes("/v1/licenses/import", "text/csv", rows.clone())
                .await
                .expect(200)
                .body
        })
        .await;
        let imported = t.elapsed();
        println!(
            "CSV import into an empty organization: {} created in {:.2} s = {:.0} rows/s; \
             server memory {before} MiB before, peak {peak} MiB, {} MiB after (file {file_mib:.1} MiB)",
            report["created"],
            imported.as_secs_f64(),
            report["created"].as_f64().unwrap_or(0.0) / imported.as_secs_f64(),
            server.resident_mib().unwrap_or(0),
        );
        let t = Instant::now();
        let (again, peak) = with_peak_memory(&server, async {
            bob.post_bytes("/v1/licenses/import", "text/csv", rows)
                .await
                .expect(200)
                .body
        })
        .await;
        println!(
            "CSV re-import of the same file: {} unchanged in {:.2} s; server memory peak {peak} MiB, \
             {} MiB after",
            again["unchanged"],
            t.elapsed().as_secs_f64(),
            server.resident_mib().unwrap_or(0),
        );

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bench.lmbackup");
        let t = Instant::now();
        server
            .admin(&["backup", "--to", file.to_str().unwrap()])
            .expect("backup");
        let backed_up = t.elapsed();
        let size = std::fs::metadata(&file).unwrap().len();
        let t = Instant::now();
        server
            .admin(&["restore", "--from", file.to_str().unwrap()])
            .expect("restore");
        println!(
            "backup (while serving): {:.1} MB in {:.2} s; restore: {:.2} s",
            size as f64 / 1e6,
            backed_up.as_secs_f64(),
            t.elapsed().as_secs_f64()
        );
        server.stop();
    }
}

/// Runs `work` while sampling the server's resident memory every 20 ms; answers its result
/// and the highest sample, in MiB.
async fn with_peak_memory<T>(
    server: &Server,
    work: impl std::future::Future<Output = T>,
) -> (T, u64) {
    let mut peak = server.resident_mib().unwrap_or(0);
    let mut work = std::pin::pin!(work);
    let mut every = tokio::time::interval(Duration::from_millis(20));
    loop {
        tokio::select! {
            done = &mut work => return (done, peak.max(server.resident_mib().unwrap_or(0))),
            _ = every.tick() => peak = peak.max(server.resident_mib().unwrap_or(0)),
        }
    }
}
