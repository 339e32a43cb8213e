//! OAuth clients of the built-in authorization server: service accounts with
//! `client_credentials` (RFC 6749 §4.4), resource servers introspecting tokens (RFC 7662),
//! userinfo (OIDC Core §5.3), and what removing a client does.

use lm_tests::oauth_forms::post_form_as;
use lm_tests::{Backend, Server};
use serde_json::Value;

/// Registers a client with `lm-server client add ARGS`; returns its secret.
fn add_client(server: &Server, args: &[&str]) -> String {
    let mut command = vec!["client", "add"];
    command.extend_from_slice(args);
    let out = server.admin(&command).expect("client add");
    out.lines()
        .find_map(|l| l.strip_prefix("client_secret: "))
        .unwrap_or_else(|| panic!("no secret printed: {out}"))
        .to_owned()
}

/// POSTs a form to an OAuth endpoint, with Basic client credentials when given.
async fn post_form(
    server: &Server,
    path: &str,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let (status, body, _) = post_form_as(server, path, basic, form).await;
    (status, body)
}

async fn service_token(server: &Server, id: &str, secret: &str) -> (u16, Value) {
    post_form(
        server,
        "/oauth2/token",
        Some((id, secret)),
        &[("grant_type", "client_credentials")],
    )
    .await
}

async fn a_service_account_gets_tokens_with_client_credentials(backend: Backend) {
    let server = Server::start(backend).await;
    let secret = add_client(
        &server,
        &["inventory-sync", "--role", "manager", "--org", "acme"],
    );

    let (status, body) = service_token(&server, "inventory-sync", &secret).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.get("refresh_token").is_none(),
        "RFC 6749 §4.4.3: {body}"
    );
    // The secret in the form (client_secret_post) works as well as Basic.
    let (status, _) = post_form(
        &server,
        "/oauth2/token",
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "inventory-sync"),
            ("client_secret", &secret),
        ],
    )
    .await;
    assert_eq!(status, 200);

    let robot = server.client(body["access_token"].as_str().map(str::to_owned));
    robot
        .post("/v1/licenses", &super::creative_cloud())
        .await
        .expect(201);
    let audit = robot.get("/v1/audit").await.expect(200);
    assert_eq!(audit.body["items"][0]["actor"], "client:inventory-sync");

    // A wrong secret, and a grant the client was not given.
    let (status, body) = service_token(&server, "inventory-sync", "guess").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, body) = post_form(
        &server,
        "/oauth2/device_authorization",
        Some(("inventory-sync", &secret)),
        &[],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );

    let listed = server.admin(&["client", "list"]).unwrap();
    assert!(
        listed.contains("inventory-sync\tconfidential\tclient_credentials\tmanager in acme"),
        "{listed}"
    );
    assert!(!listed.contains(&secret), "the secret is never shown again");

    // Removed: no new tokens, and the issued one stops working within seconds.
    server
        .admin(&["client", "remove", "inventory-sync"])
        .unwrap();
    let (status, _) = service_token(&server, "inventory-sync", &secret).await;
    assert_eq!(status, 401);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while robot.get("/v1/licenses").await.status != 401 {
        assert!(
            std::time::Instant::now() < deadline,
            "the removed client's token still works"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

async fn a_resource_server_introspects_tokens(backend: Backend) {
    let server = Server::start(backend).await;
    let secret = add_client(&server, &["reports"]);
    let alice = server.token("alice", "manager", "acme");
    let introspect = |token: String, basic: Option<(&'static str, String)>| {
        let server = &server;
        async move {
            let basic = basic.as_ref().map(|(id, s)| (*id, s.as_str()));
            post_form(server, "/oauth2/introspect", basic, &[("token", &token)]).await
        }
    };

    let (status, body) = introspect(alice.clone(), Some(("reports", secret.clone()))).await;
    assert_eq!(status, 200);
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(
        (&body["sub"], &body["org"], &body["role"]),
        (
            &Value::from("alice"),
            &Value::from("acme"),
            &Value::from("manager")
        )
    );
    assert!(body["exp"].as_i64().unwrap() > chrono::Utc::now().timestamp());

    // Anything else is inactive, and says nothing more (RFC 7662 §2.2).
    let mut tampered = alice.clone();
    tampered.pop();
    for token in ["garbage".to_owned(), tampered] {
        let (status, body) = introspect(token, Some(("reports", secret.clone()))).await;
        assert_eq!((status, body), (200, serde_json::json!({"active": false})));
    }

    // Only authenticated confidential clients may ask.
    let (status, _) = introspect(alice.clone(), None).await;
    assert_eq!(status, 400, "no client at all");
    let (status, body) = introspect(alice.clone(), Some(("reports", "guess".into()))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, _) = post_form(
        &server,
        "/oauth2/introspect",
        None,
        &[("token", &alice), ("client_id", "lm")],
    )
    .await;
    assert_eq!(status, 401, "the public client may not introspect");

    // userinfo answers the holder of an access token.
    let info = server
        .client(Some(alice))
        .get("/oauth2/userinfo")
        .await
        .expect(200);
    assert_eq!(info.body["sub"], "alice");
    assert_eq!(info.body["role"], "manager");
}

/// A service account of one organization cannot learn about another's tokens: they are
/// inactive to it, access and refresh tokens alike, while its own organization's are active.
async fn a_service_account_introspects_only_its_own_organizations_tokens(backend: Backend) {
    let server = Server::start(backend).await;
    let secret = add_client(
        &server,
        &["acme-sync", "--role", "employee", "--org", "acme"],
    );
    let acme = server.token("alice", "manager", "acme");
    let globex = server.token("gus", "manager", "globex");
    let ask = |token: String| {
        let (server, secret) = (&server, &secret);
        async move {
            post_form(
                server,
                "/oauth2/introspect",
                Some(("acme-sync", secret)),
                &[("token", &token)],
            )
            .await
        }
    };
    let (status, own) = ask(acme).await;
    assert_eq!((status, &own["active"]), (200, &Value::Bool(true)), "{own}");
    let (status, other) = ask(globex).await;
    assert_eq!((status, other), (200, serde_json::json!({"active": false})));
}

crate::on_both_databases!(
    a_service_account_introspects_only_its_own_organizations_tokens,
    a_service_account_gets_tokens_with_client_credentials,
    a_resource_server_introspects_tokens,
);
