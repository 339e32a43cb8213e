//! lm-server trusting a third-party OpenID provider (panva's `oidc-provider`, from npm, on
//! 127.0.0.1) instead of its own authorization server: JWT access tokens verified with the
//! provider's keys, and opaque tokens checked by introspection.

use lm_tests::{Backend, OpenIdProvider, Server};

const ROLES: [&str; 4] = [
    "--role-claim",
    "realm_access.roles",
    "--manager-value",
    "lm-manager",
];

/// A server that trusts `provider`'s JWTs, with `rules` saying how claims map to lm.
async fn serving(provider: &OpenIdProvider, rules: &[&str]) -> Server {
    let mut args = vec!["--rate-limit", "0", "--issuer", &provider.issuer];
    args.extend_from_slice(rules);
    Server::start_with(Backend::Sqlite, &args).await
}

/// Trusting `provider` for roles from `realm_access.roles` and the org from the `org` claim.
async fn trusting(provider: &OpenIdProvider, extra: &[&str]) -> Server {
    let mut args = vec!["--org-claim", "org"];
    args.extend_from_slice(&ROLES);
    args.extend_from_slice(extra);
    serving(provider, &args).await
}

#[tokio::test]
async fn a_service_account_of_the_provider_manages_licenses() {
    let provider = OpenIdProvider::start();
    let server = trusting(&provider, &["--audience", "lm"]).await;
    let token = provider
        .service_token("robot", "robot-secret", "urn:lm")
        .await;
    let robot = server.client(Some(token));

    let created = robot
        .post("/v1/licenses", &super::creative_cloud())
        .await
        .expect(201);
    robot.get("/v1/licenses").await.expect(200);
    let audit = robot.get("/v1/audit").await.expect(200);
    assert_eq!(
        audit.body["items"][0]["actor"], "robot",
        "the provider's subject is the actor: {}",
        audit.body
    );
    assert_eq!(created.body["product"], "adobe-cc");
}

#[tokio::test]
async fn with_an_external_provider_the_built_in_one_is_off_and_its_tokens_refused() {
    let provider = OpenIdProvider::start();
    let server = trusting(&provider, &["--audience", "lm"]).await;
    let http = reqwest::Client::new();
    for path in ["/.well-known/openid-configuration", "/device"] {
        let status = http
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 404, "{path} must not exist");
    }
    let token = http
        .post(format!("{}/oauth2/token", server.url))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 404);

    // A token the built-in issuer signed (valid there) is not one of the provider's.
    let own = server.token("mallory", "manager", "acme");
    server
        .client(Some(own))
        .get("/v1/licenses")
        .await
        .expect_problem(401, "unknown key");
}

#[tokio::test]
async fn a_flood_of_unknown_keys_fetches_the_providers_keys_at_most_once_per_interval() {
    let provider = OpenIdProvider::start();
    let server = trusting(&provider, &["--jwks-refetch-interval", "1h"]).await;
    let before = server.metrics().await["lm_jwks_fetches_total"];
    assert_eq!(before, 1.0, "fetched once at start");
    // Tokens signed by keys the provider never had: the built-in issuer's, of two rotations.
    let forged = server.token("mallory", "manager", "acme");
    server.admin(&["keys", "rotate"]).expect("rotate");
    let forged_again = server
        .admin(&["token", "issue", "--user", "mallory"])
        .unwrap();
    let clients = [
        server.client(Some(forged)),
        server.client(Some(forged_again)),
    ];
    let replies = futures_util::future::join_all((0..200).map(|i| {
        let client = &clients[i % 2];
        async move { client.get("/v1/licenses").await.status }
    }))
    .await;
    assert!(replies.iter().all(|s| *s == 401), "{replies:?}");
    assert_eq!(server.metrics().await["lm_jwks_fetches_total"], before);

    // The provider's own tokens still work meanwhile.
    let token = provider
        .service_token("robot", "robot-secret", "urn:lm")
        .await;
    server
        .client(Some(token))
        .get("/v1/licenses")
        .await
        .expect(200);

    // Without the interval, each unknown key would have asked the provider again.
    let eager = trusting(&provider, &["--jwks-refetch-interval", "0s"]).await;
    let forged = eager.token("mallory", "manager", "acme");
    for _ in 0..3 {
        eager
            .client(Some(forged.clone()))
            .get("/v1/licenses")
            .await
            .expect(401);
    }
    assert_eq!(eager.metrics().await["lm_jwks_fetches_total"], 4.0);
}

#[tokio::test]
async fn the_audience_and_the_role_claim_are_enforced() {
    let provider = OpenIdProvider::start();
    let token = provider
        .service_token("robot", "robot-secret", "urn:lm")
        .await;

    let elsewhere = trusting(&provider, &["--audience", "payroll"]).await;
    elsewhere
        .client(Some(token.clone()))
        .get("/v1/licenses")
        .await
        .expect_problem(401, "audience");

    // The robot's roles are `lm-manager` and `staff`; require a role it lacks for employees and
    // a manager value it lacks: it is refused with 403, not treated as an employee.
    let strict = trusting_with_roles(&provider, "admins", "teachers").await;
    strict
        .client(Some(token))
        .get("/v1/licenses")
        .await
        .expect_problem(403, "no role");
}

async fn trusting_with_roles(provider: &OpenIdProvider, manager: &str, employee: &str) -> Server {
    let args = [
        "--org",
        "acme",
        "--role-claim",
        "realm_access.roles",
        "--manager-value",
        manager,
        "--employee-value",
        employee,
    ];
    serving(provider, &args).await
}

/// A server that checks opaque tokens at the provider's introspection endpoint.
async fn introspecting(provider: &OpenIdProvider, extra: &[&str]) -> Server {
    let url = format!("{}/token/introspection", provider.issuer);
    let mut args = vec![
        "--rate-limit",
        "0",
        "--introspection-url",
        &url,
        "--introspection-client",
        "lm-server:introspect-secret",
        "--issuer",
        &provider.issuer,
        "--audience",
        "lm",
        "--org",
        "acme",
    ];
    args.extend_from_slice(&ROLES);
    args.extend_from_slice(extra);
    Server::start_with(Backend::Sqlite, &args).await
}

#[tokio::test]
async fn opaque_tokens_are_introspected_and_answers_are_cached() {
    let provider = OpenIdProvider::start();
    let server = introspecting(&provider, &["--introspection-cache", "1s"]).await;
    let token = provider
        .service_token("robot", "robot-secret", "urn:lm:opaque")
        .await;
    let robot = server.client(Some(token.clone()));
    robot
        .post("/v1/licenses", &super::creative_cloud())
        .await
        .expect(201);

    // A hundred requests with the same token, and a hundred with the same garbage: the
    // provider is asked about each at most once more.
    let before = server.metrics().await["lm_token_introspections_total"];
    let garbage = server.client(Some("not-a-token-of-anyone".into()));
    for _ in 0..100 {
        robot.get("/v1/licenses").await.expect(200);
        garbage
            .get("/v1/licenses")
            .await
            .expect_problem(401, "not active");
    }
    let asked = server.metrics().await["lm_token_introspections_total"] - before;
    assert!(asked <= 3.0, "asked the provider {asked} times");

    // Revoked at the provider: refused once the cached answer is older than a second.
    provider.revoke("robot", "robot-secret", &token).await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    robot
        .get("/v1/licenses")
        .await
        .expect_problem(401, "not active");
}

#[tokio::test]
async fn an_unreachable_provider_is_a_503_naming_it_not_a_401() {
    let provider = OpenIdProvider::start();
    let server = introspecting(&provider, &[]).await;
    let token = provider
        .service_token("robot", "robot-secret", "urn:lm:opaque")
        .await;
    drop(provider);
    server
        .client(Some(token))
        .get("/v1/licenses")
        .await
        .expect_problem(503, "identity provider");
}

/// With an external provider its token's subjects are the members, recorded on first use;
/// their roles are the provider's, shown and not changed here; offboarding still releases
/// what they hold.
#[tokio::test]
async fn the_providers_people_become_members_on_first_use() {
    let provider = OpenIdProvider::start();
    let server = trusting(&provider, &["--audience", "lm"]).await;
    let token = provider
        .service_token("robot", "robot-secret", "urn:lm")
        .await;
    let robot = server.client(Some(token));
    let members = robot.get("/v1/members").await.expect(200).body;
    assert_eq!(members["items"][0]["name"], "robot", "{members}");
    assert_eq!(members["items"][0]["role"], "manager");
    let feed = robot.get("/v1/changes?after=0").await.expect(200).body;
    assert!(feed.to_string().contains("\"op\":\"member\""), "{feed}");

    robot
        .patch_json(
            "/v1/members/robot",
            &serde_json::json!({"role": "employee"}),
        )
        .await
        .expect_problem(409, "");
    let license = robot
        .post("/v1/licenses", &super::creative_cloud())
        .await
        .expect(201);
    let id = license.body["id"].as_str().unwrap();
    // Another of the provider's people, seen before (as their first request would record them).
    server
        .admin(&["user", "add", "dave", "--role", "employee", "--org", "acme"])
        .expect("user add");
    robot
        .post(
            &format!("/v1/licenses/{id}/assignments"),
            &serde_json::json!({"employee": "dave"}),
        )
        .await
        .expect(201);
    let done = robot
        .post("/v1/members/dave/offboard", &serde_json::json!({}))
        .await
        .expect(200)
        .body;
    assert_eq!(done["released"].as_array().unwrap().len(), 1, "{done}");
    let audit = robot.get("/v1/audit?record=robot").await.expect(200).body;
    assert!(
        audit.to_string().contains("identity provider"),
        "recorded in the audit log: {audit}"
    );
}
