//! Service accounts run by the organization's managers through the API: registered with a
//! secret shown once, given a new secret while the old one works on for a grace period,
//! removed — and invisible to every other organization.

use lm_tests::oauth_forms::post_form_as;
use lm_tests::{Backend, Client, Server};
use serde_json::{Value, json};

/// The service account's token (status, body) with `secret`.
async fn token(server: &Server, id: &str, secret: &str) -> (u16, Value) {
    let (status, body, _) = post_form_as(
        server,
        "/oauth2/token",
        Some((id, secret)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    (status, body)
}

fn bearer(server: &Server, body: &Value) -> Client {
    server.client(Some(body["access_token"].as_str().unwrap().to_owned()))
}

async fn managers_run_their_service_accounts(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    let bob = server.employee("bob");
    let gus = server.user("gus", "manager", "globex");

    let made = alice
        .post(
            "/v1/oauth-clients",
            &json!({"id": "inventory-sync", "name": "Nightly sync", "role": "employee"}),
        )
        .await
        .expect(201)
        .body;
    let first = made["secret"].as_str().unwrap().to_owned();
    let (status, tokens) = token(&server, "inventory-sync", &first).await;
    assert_eq!(status, 200, "{tokens}");
    let sync = bearer(&server, &tokens);
    sync.get("/v1/licenses").await.expect(200);
    let listed = alice.get("/v1/oauth-clients").await.expect(200).body;
    assert_eq!(listed[0]["id"], "inventory-sync");
    assert_eq!(listed[0]["role"], "employee");
    assert!(
        !listed.to_string().contains(&first),
        "the secret is shown once"
    );

    // Another organization sees none of it; employees may not touch it.
    assert_eq!(
        gus.get("/v1/oauth-clients").await.expect(200).body,
        json!([])
    );
    gus.get("/v1/oauth-clients/inventory-sync")
        .await
        .expect(404);
    gus.post("/v1/oauth-clients/inventory-sync/secret", &json!({}))
        .await
        .expect(404);
    gus.delete("/v1/oauth-clients/inventory-sync")
        .await
        .expect(404);
    gus.patch_json("/v1/oauth-clients/inventory-sync", &json!({"name": "mine"}))
        .await
        .expect(404);
    for reply in [
        bob.patch_json(
            "/v1/oauth-clients/inventory-sync",
            &json!({"role": "manager"}),
        )
        .await,
        bob.get("/v1/oauth-clients").await,
        bob.post("/v1/oauth-clients", &json!({"id": "x", "role": "employee"}))
            .await,
        bob.post("/v1/oauth-clients/inventory-sync/secret", &json!({}))
            .await,
        bob.delete("/v1/oauth-clients/inventory-sync").await,
    ] {
        reply.expect_problem(403, "only managers");
    }

    // Renamed, and made a manager: its token acts as one within seconds.
    let changed = alice
        .patch_json(
            "/v1/oauth-clients/inventory-sync",
            &json!({"name": "Nightly sync (v2)", "role": "manager"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        (changed["name"].as_str(), changed["role"].as_str()),
        (Some("Nightly sync (v2)"), Some("manager"))
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while sync
        .post("/v1/licenses", &crate::creative_cloud())
        .await
        .status
        != 201
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the new role applies within seconds"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"role": "boss"}), "role"),
        (json!({"colour": 1}), "colour"),
    ] {
        let problem = alice
            .patch_json("/v1/oauth-clients/inventory-sync", &body)
            .await
            .expect(422)
            .body;
        assert_eq!(problem["field"], field, "{body}");
    }

    // A new secret; the old one works for the grace period chosen.
    let rotated = alice
        .post(
            "/v1/oauth-clients/inventory-sync/secret",
            &json!({"grace_minutes": 60}),
        )
        .await
        .expect(200)
        .body;
    let second = rotated["secret"].as_str().unwrap().to_owned();
    assert!(rotated["previous_secret_until"].is_string());
    assert_eq!(token(&server, "inventory-sync", &second).await.0, 200);
    assert_eq!(
        token(&server, "inventory-sync", &first).await.0,
        200,
        "in its grace"
    );
    // At once: the secret replaced stops now, and the one before it is long gone.
    let third = alice
        .post(
            "/v1/oauth-clients/inventory-sync/secret",
            &json!({"grace_minutes": 0}),
        )
        .await
        .expect(200)
        .body["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(token(&server, "inventory-sync", &second).await.0, 401);
    assert_eq!(token(&server, "inventory-sync", &first).await.0, 401);
    let (status, tokens) = token(&server, "inventory-sync", &third).await;
    assert_eq!(status, 200);

    for (body, field) in [
        (json!({"id": "a b", "role": "employee"}), "id"),
        (json!({"id": "lm", "role": "employee"}), "id"),
        (json!({"id": "ok", "role": "boss"}), "role"),
        (
            json!({"id": "ok", "role": "employee", "colour": 1}),
            "colour",
        ),
    ] {
        let problem = alice
            .post("/v1/oauth-clients", &body)
            .await
            .expect(422)
            .body;
        assert_eq!(problem["field"], field, "{body}");
    }
    alice
        .post(
            "/v1/oauth-clients/inventory-sync/secret",
            &json!({"grace_minutes": 20000}),
        )
        .await
        .expect(422);
    alice
        .post(
            "/v1/oauth-clients",
            &json!({"id": "inventory-sync", "role": "employee"}),
        )
        .await
        .expect(409);

    // Removed: its tokens stop working within seconds, and its id is never reused.
    alice
        .delete("/v1/oauth-clients/inventory-sync")
        .await
        .expect(204);
    let sync = bearer(&server, &tokens);
    sync.until_status(401).await;
    alice
        .post(
            "/v1/oauth-clients",
            &json!({"id": "inventory-sync", "role": "employee"}),
        )
        .await
        .expect_problem(409, "never reused");
    let audit = alice
        .get("/v1/audit?record=inventory-sync")
        .await
        .expect(200)
        .body;
    assert_eq!(audit["items"].as_array().unwrap().len(), 5, "{audit}");
    for secret in [&first, &second, &third] {
        assert!(!audit.to_string().contains(secret.as_str()));
    }
}

async fn keys_and_service_accounts_make_no_service_accounts(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    let key = alice
        .post("/v1/api-keys", &json!({"label": "script"}))
        .await
        .expect(201)
        .body["key"]
        .as_str()
        .unwrap()
        .to_owned();
    server
        .client(Some(key))
        .post(
            "/v1/oauth-clients",
            &json!({"id": "sneaky", "role": "manager"}),
        )
        .await
        .expect_problem(403, "API key");
    let made = alice
        .post(
            "/v1/oauth-clients",
            &json!({"id": "ops", "role": "manager"}),
        )
        .await
        .expect(201)
        .body;
    let (_, tokens) = token(&server, "ops", made["secret"].as_str().unwrap()).await;
    bearer(&server, &tokens)
        .post("/v1/oauth-clients/ops/secret", &json!({}))
        .await
        .expect_problem(403, "service account");
}

crate::on_both_databases!(
    managers_run_their_service_accounts,
    keys_and_service_accounts_make_no_service_accounts,
);
