//! Health, the OpenAPI contract, request limits and the admin CLI.

use lm_tests::{Backend, Server};
use serde_json::json;

async fn health_reports_the_database(backend: Backend) {
    let server = Server::start(backend).await;
    let health = server.client(None).get("/health").await.expect(200).body;
    assert_eq!(health["status"], "ok");
    let kind = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(health["database"], json!({"kind": kind, "status": "ok"}));
}

async fn openapi_contract_is_served(backend: Backend) {
    let server = Server::start(backend).await;
    let doc = server
        .client(None)
        .get("/openapi.json")
        .await
        .expect(200)
        .body;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    for path in [
        "/v1/licenses",
        "/v1/licenses/{id}",
        "/v1/licenses/{id}/restore",
        "/v1/audit",
        "/health",
        "/hierarchy/levels",
        "/hierarchy/users/{eid}/membership",
        "/v1/hierarchy/entities/{type}/{eid}/parents/{parent_type}/{parent_eid}",
        "/v1/hierarchy/import",
        "/v1/products/{eid}",
        "/v1/users/{eid}/purchases",
        "/v1/users/{eid}/permissions",
        "/v1/licenses/{id}/seats/{assignment}",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} is missing from the contract"
        );
    }
    assert!(doc["components"]["schemas"].get("License").is_some());
    assert!(doc["components"]["schemas"].get("Problem").is_some());
    let permissions = &doc["components"]["schemas"]["Permissions"]["properties"];
    assert!(permissions.get("grant").is_some(), "{permissions}");
    assert!(doc["components"]["schemas"].get("NewPurchase").is_some());
}

async fn clients_over_the_rate_get_429_with_retry_after(backend: Backend) {
    let server = Server::start_with(backend, &["--rate-limit", "1", "--rate-burst", "3"]).await;
    let anonymous = server.client(None);
    // The harness polled /health while the server started; let the bucket refill.
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    for _ in 0..3 {
        assert_ne!(anonymous.get("/v1/licenses").await.status, 429);
    }
    let limited = anonymous
        .get("/v1/licenses")
        .await
        .expect_problem(429, "retry after");
    assert!(
        limited
            .header("retry-after")
            .is_some_and(|s| s.parse::<u64>().is_ok_and(|n| n >= 1))
    );
}

async fn oversized_bodies_are_refused(backend: Backend) {
    let server = Server::start_with(backend, &["--rate-limit", "0", "--max-body", "2048"]).await;
    let alice = server.manager("alice");
    let huge = super::with(super::creative_cloud(), json!({"notes": "x".repeat(4096)}));
    let refused = alice.post("/v1/licenses", &huge).await.expect(413);
    assert_eq!(
        refused.header("content-type"),
        Some("application/problem+json")
    );
    // OAuth endpoints answer what OAuth libraries parse; the HTML forms a problem, not text.
    let form = format!("grant_type=client_credentials&pad={}", "x".repeat(4096));
    let token = alice
        .post_bytes(
            "/oauth2/token",
            "application/x-www-form-urlencoded",
            form.clone().into_bytes(),
        )
        .await
        .expect(413);
    assert_eq!(token.body["error"], "invalid_request", "{}", token.text);
    let page = alice
        .post_bytes(
            "/device",
            "application/x-www-form-urlencoded",
            form.into_bytes(),
        )
        .await
        .expect(413);
    assert_eq!(
        page.header("content-type"),
        Some("application/problem+json")
    );
    let unknown = alice.get("/v2/nothing").await.expect(404);
    assert_eq!(
        unknown.header("content-type"),
        Some("application/problem+json")
    );
    alice
        .send(reqwest::Method::PUT, "/v1/licenses", None, &[])
        .await
        .expect(405);
}

async fn admin_cli_explains_mistakes(backend: Backend) {
    let server = Server::start(backend).await;
    let err = server
        .admin(&["token", "issue", "--user", "nobody"])
        .unwrap_err();
    assert!(err.contains("no user named `nobody`"), "{err}");
    server
        .admin(&["user", "add", "alice", "--role", "manager"])
        .unwrap();
    let err = server
        .admin(&["user", "add", "alice", "--role", "manager"])
        .unwrap_err();
    assert!(err.contains("already exists"), "{err}");
    let err = server
        .admin(&["user", "add", "bob", "--role", "admin"])
        .unwrap_err();
    assert!(err.contains("expected manager or employee"), "{err}");
    let listing = server.admin(&["user", "list"]).unwrap();
    assert!(listing.contains("alice\tdefault\tmanager"), "{listing}");
}

crate::on_both_databases!(
    health_reports_the_database,
    openapi_contract_is_served,
    clients_over_the_rate_get_429_with_retry_after,
    oversized_bodies_are_refused,
    admin_cli_explains_mistakes,
);
