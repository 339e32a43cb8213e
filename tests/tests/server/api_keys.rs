//! API keys: a person makes one for a script, the script uses it as a bearer credential,
//! everything about it is audited, and revoking, expiring or disabling ends it.

use lm_tests::{Backend, Server};
use serde_json::json;

async fn a_person_makes_an_api_key_and_a_script_uses_it(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    let made = alice
        .post(
            "/v1/api-keys",
            &json!({"label": "nightly export", "expires_in_days": 30}),
        )
        .await
        .expect(201);
    let key = made.body["key"].as_str().unwrap().to_owned();
    let id = made.body["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("lmk_"), "{key}");

    // The script acts as alice, with her role, at once.
    let script = server.client(Some(key.clone()));
    script
        .post("/v1/licenses", &super::creative_cloud())
        .await
        .expect(201);
    let listed = alice.get("/v1/api-keys").await.expect(200);
    assert_eq!(listed.body[0]["label"], "nightly export");
    assert!(!listed.text.contains(&key), "the key is shown once only");

    // A key cannot make keys; nobody else can revoke it.
    script
        .post("/v1/api-keys", &json!({"label": "another"}))
        .await
        .expect_problem(403, "API key");
    let bob = server.manager("bob");
    bob.delete(&format!("/v1/api-keys/{id}")).await.expect(404);

    alice
        .delete(&format!("/v1/api-keys/{id}"))
        .await
        .expect(204);
    script
        .get("/v1/licenses")
        .await
        .expect_problem(401, "not active");

    let audit = alice.get("/v1/audit").await.expect(200);
    let entries: Vec<(String, String, String)> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (s("action"), s("record_type"), s("actor"))
        })
        .collect();
    let expected =
        |action: &str, record: &str| (action.to_owned(), record.to_owned(), "alice".to_owned());
    assert_eq!(
        entries,
        [
            expected("delete", "api_key"),
            expected("create", "license"),
            expected("create", "api_key")
        ],
    );
}

async fn bad_api_key_requests_name_the_field(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.employee("alice");
    alice
        .post("/v1/api-keys", &json!({"label": " "}))
        .await
        .expect_problem(422, "label");
    alice
        .post(
            "/v1/api-keys",
            &json!({"label": "ok", "expires_in_days": 0}),
        )
        .await
        .expect_problem(422, "expires_in_days");
    alice
        .post("/v1/api-keys", &json!({"label": "ok", "scope": "all"}))
        .await
        .expect_problem(422, "scope");
}

async fn admin_keys_expire_and_end_with_their_user(backend: Backend) {
    let server = Server::start(backend).await;
    server.employee("carol");
    let short = server
        .admin(&["apikey", "create", "--user", "carol", "--expires", "7s"])
        .unwrap();
    let long = server
        .admin(&[
            "apikey",
            "create",
            "--user",
            "carol",
            "--label",
            "backup job",
        ])
        .unwrap();
    server.client(Some(short.clone())).until_status(200).await;
    server.client(Some(long.clone())).until_status(200).await;
    let listed = server
        .admin(&["apikey", "list", "--user", "carol"])
        .unwrap();
    assert!(listed.contains("backup job\tno expiry"), "{listed}");

    // Made-up keys cost the server a hash each, never a database query.
    let before = server.metrics().await["lm_db_acquires_total{by=\"request\"}"];
    for i in 0..50 {
        server
            .client(Some(format!("lmk_{i:016x}_guess")))
            .get("/v1/licenses")
            .await
            .expect(401);
    }
    assert_eq!(
        server.metrics().await["lm_db_acquires_total{by=\"request\"}"],
        before
    );

    server.client(Some(short.clone())).until_status(401).await;
    server.admin(&["user", "disable", "carol"]).unwrap();
    server.client(Some(long.clone())).until_status(401).await;
}

crate::on_both_databases!(
    a_person_makes_an_api_key_and_a_script_uses_it,
    bad_api_key_requests_name_the_field,
    admin_keys_expire_and_end_with_their_user,
);
