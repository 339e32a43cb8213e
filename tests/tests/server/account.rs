//! A person's own account: the logins they have and ending one, and changing their password
//! — which signs out whoever knew the old one.

use lm_tests::oauth_forms::{decide, log_in, poll, refresh, sign_in_server, start_device_login};
use lm_tests::{Backend, Client, PASSWORD, Server};
use serde_json::{Value, json};

/// A client with the access token of a token response.
fn bearer(server: &Server, tokens: &Value) -> Client {
    server.client(Some(tokens["access_token"].as_str().unwrap().to_owned()))
}

async fn a_person_sees_and_ends_their_own_logins(backend: Backend) {
    let server = sign_in_server(backend, &[], false).await;
    server
        .admin(&["user", "add", "bob", "--role", "employee", "--org", "acme"])
        .expect("user add");
    server.give_password("bob");
    let laptop = log_in(&server, "alice").await;
    let phone = log_in(&server, "alice").await;
    let bobs = log_in(&server, "bob").await;
    let alice = bearer(&server, &phone);
    let logins = alice.get("/v1/me/logins").await.expect(200).body;
    let logins = logins.as_array().unwrap();
    assert_eq!(logins.len(), 2, "{logins:?}");
    assert!(logins.iter().all(|l| l["client"] == "lm"));
    // The laptop's login, found by being the other one.
    let bob = bearer(&server, &bobs);
    let bob_login = bob.get("/v1/me/logins").await.expect(200).body[0]["id"].clone();
    alice
        .delete(&format!("/v1/me/logins/{}", bob_login.as_str().unwrap()))
        .await
        .expect(404);
    alice
        .delete("/v1/me/logins/nothing-like-it")
        .await
        .expect(404);

    let newest = logins[0]["id"].as_str().unwrap();
    alice
        .delete(&format!("/v1/me/logins/{newest}"))
        .await
        .expect(204);
    let (status, _) = refresh(&server, phone["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400, "the phone's login ended");
    alice.until_status(401).await;
    let (status, _) = refresh(&server, laptop["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "the laptop's goes on");
    let (status, _) = refresh(&server, bobs["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "bob's goes on");
}

async fn changing_the_password_signs_out_whoever_knew_the_old_one(backend: Backend) {
    let server = sign_in_server(backend, &["--max-failed-logins", "3"], false).await;
    let session = log_in(&server, "alice").await;
    let alice = bearer(&server, &session);
    let new = "a much longer passphrase";
    for (body, field) in [
        (json!({"current": "wrong guess", "new": new}), "current"),
        (json!({"current": PASSWORD, "new": "short"}), "new"),
        (json!({"current": PASSWORD, "new": PASSWORD}), "new"),
        (json!({"current": PASSWORD}), "new"),
    ] {
        let problem = alice.post("/v1/me/password", &body).await.expect(422).body;
        assert_eq!(problem["field"], field, "{problem}");
    }
    alice
        .post("/v1/me/password", &json!({"current": PASSWORD, "new": new}))
        .await
        .expect(204);
    let (status, _) = refresh(&server, session["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400, "the login ended");
    alice.until_status(401).await;
    // The old password no longer signs in; the new one does.
    let device = start_device_login(&server).await;
    let code = device["user_code"].as_str().unwrap();
    let (_, page) = decide(&server, code, "alice", PASSWORD, "approve").await;
    assert!(!page.contains("You approved"), "{page}");
    let (status, page) = decide(&server, code, "alice", new, "approve").await;
    assert_eq!(status, 200, "{page}");
    let (status, tokens) = poll(&server, device["device_code"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{tokens}");
    let alice = bearer(&server, &tokens);
    let audit = alice.get("/v1/audit?record=alice").await.expect(200).body;
    let text = audit.to_string();
    assert!(text.contains("\"password\":\"changed\""), "{text}");
    assert!(
        !text.contains(new) && !text.contains(PASSWORD),
        "no password in the log"
    );

    // Guessing the current password is slowed like guessing at sign-in.
    for _ in 0..3 {
        alice
            .post(
                "/v1/me/password",
                &json!({"current": "guess", "new": "x".repeat(12)}),
            )
            .await
            .expect(422);
    }
    alice
        .post(
            "/v1/me/password",
            &json!({"current": new, "new": "y".repeat(12)}),
        )
        .await
        .expect(429);
}

async fn keys_and_service_accounts_have_no_password_to_change(backend: Backend) {
    let server = sign_in_server(backend, &[], false).await;
    let alice = server.login("alice");
    let key = alice
        .post("/v1/api-keys", &json!({"label": "script"}))
        .await
        .expect(201)
        .body["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let script = server.client(Some(key));
    script
        .post(
            "/v1/me/password",
            &json!({"current": PASSWORD, "new": "x".repeat(12)}),
        )
        .await
        .expect_problem(403, "API key");
    script
        .get("/v1/me/logins")
        .await
        .expect_problem(403, "API key");
}

crate::on_both_databases!(
    a_person_sees_and_ends_their_own_logins,
    changing_the_password_signs_out_whoever_knew_the_old_one,
    keys_and_service_accounts_have_no_password_to_change,
);
