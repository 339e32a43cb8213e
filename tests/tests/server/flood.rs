//! Shielding the server from floods: requests that cheap checks can reject never reach token
//! signature verification or the database, as `/metrics` shows. (The latency of legitimate
//! requests under a flood is measured by `cargo bench -p lm-tests --bench flood`.)

use super::{create, creative_cloud, with};
use base64::Engine;
use lm_tests::{Backend, Client, Server};
use serde_json::json;
use std::collections::BTreeMap;

fn delta(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>, series: &str) -> f64 {
    after.get(series).copied().unwrap_or(0.0) - before.get(series).copied().unwrap_or(0.0)
}

/// Sends `count` requests, sixteen at a time, and returns their statuses.
async fn flood<F, Fut>(count: usize, request: F) -> Vec<u16>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    use futures_util::StreamExt;
    futures_util::stream::iter(0..count)
        .map(request)
        .buffer_unordered(16)
        .collect()
        .await
}

fn b64(json: serde_json::Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.to_string())
}

/// Tokens an attacker might send: none of them needs a signature check to refuse.
fn garbage_token(i: usize) -> String {
    match i % 5 {
        0 => format!("not-a-token-{i}"),
        1 => "a.b.c".into(),
        2 => format!(
            "{}.{}.",
            b64(json!({"alg": "none", "typ": "JWT"})),
            b64(json!({"sub": "admin", "org": "acme", "role": "manager"}))
        ),
        3 => format!(
            "{}.{}.{}",
            b64(json!({"alg": "EdDSA", "kid": format!("made-up-{i}")})),
            b64(json!({"sub": "admin"})),
            "c2lnbmF0dXJl"
        ),
        _ => "x".repeat(10_000),
    }
}

async fn floods_that_cheap_checks_reject_never_reach_tokens_or_the_database(backend: Backend) {
    let server = Server::start(backend).await;
    let manager = server.manager("alice");
    create(&manager, creative_cloud()).await;
    let anonymous = server.client(None);
    const N: usize = 200;

    let before = server.metrics().await;
    let statuses = flood(N, |_| async { anonymous.get("/v1/licenses").await.status }).await;
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    let after_anonymous = server.metrics().await;
    assert_eq!(
        delta(
            &before,
            &after_anonymous,
            "lm_rejections_total{reason=\"token_missing\"}"
        ),
        N as f64
    );

    let statuses = flood(N, |i| {
        let client = Client::new(&server.url, Some(garbage_token(i)));
        async move { client.get("/v1/licenses").await.status }
    })
    .await;
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    let after_garbage = server.metrics().await;

    let invalid = [
        json!({"cost": {"amount": -5, "currency": "EUR"}}),
        json!({"cost": {"amount": 100, "currency": "EURO"}}),
        json!({"name": null}),
        json!({"expires": "2027-02-30"}),
    ];
    let statuses = flood(N, |i| {
        let body = with(creative_cloud(), invalid[i % invalid.len()].clone());
        let manager = manager.clone();
        async move { manager.post("/v1/licenses", &body).await.status }
    })
    .await;
    assert!(statuses.iter().all(|s| *s == 422), "{statuses:?}");
    let after_invalid = server.metrics().await;

    let signatures = "lm_token_signature_checks_total";
    let database = "lm_db_acquires_total{by=\"request\"}";
    assert_eq!(delta(&before, &after_garbage, signatures), 0.0);
    assert_eq!(delta(&before, &after_garbage, database), 0.0);
    assert_eq!(
        delta(&after_garbage, &after_invalid, signatures),
        N as f64,
        "valid tokens are verified"
    );
    assert_eq!(
        delta(&after_garbage, &after_invalid, database),
        0.0,
        "invalid fields are refused before the database"
    );
    assert_eq!(
        delta(
            &after_garbage,
            &after_invalid,
            "lm_rejections_total{reason=\"invalid_field\"}"
        ),
        N as f64
    );
    let refused_tokens: f64 = after_garbage
        .iter()
        .filter(|(k, _)| k.starts_with("lm_rejections_total{reason=\"token_"))
        .map(|(k, v)| v - after_anonymous.get(k).copied().unwrap_or(0.0))
        .sum();
    assert_eq!(refused_tokens, N as f64);

    // The legitimate manager is served throughout, and that is counted by route.
    manager.get("/v1/licenses").await.expect(200);
    let end = server.metrics().await;
    assert!(delta(&after_invalid, &end, database) >= 1.0);
    assert!(
        end.get("lm_http_requests_total{route=\"/v1/licenses\",method=\"GET\",status=\"200\"}")
            .is_some_and(|n| *n >= 1.0),
        "{end:#?}"
    );
}

async fn metrics_are_in_the_prometheus_text_format(backend: Backend) {
    let server = Server::start(backend).await;
    let manager = server.manager("alice");
    let _events = manager.events().await;
    manager.get("/v1/licenses").await.expect(200);
    server.client(None).get("/no/such/route").await.expect(404);
    let reply = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap();
    assert!(
        reply.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = reply.text().await.unwrap();
    for family in [
        "# TYPE lm_http_requests_total counter",
        "# TYPE lm_http_request_duration_seconds histogram",
        "# TYPE lm_rejections_total counter",
        "# TYPE lm_db_pool_connections gauge",
        "# TYPE lm_sse_subscribers gauge",
        "lm_sse_subscribers 1",
        "lm_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1",
        "lm_http_request_duration_seconds_bucket{route=\"/v1/licenses\",le=\"+Inf\"}",
    ] {
        assert!(text.contains(family), "{family} missing from:\n{text}");
    }
}

crate::on_both_databases!(
    floods_that_cheap_checks_reject_never_reach_tokens_or_the_database,
    metrics_are_in_the_prometheus_text_format,
);
