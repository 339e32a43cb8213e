//! A person's own second factor, without a shell on the server: set up, replaced and removed
//! through the API (the current password and a code of the new key confirm it) and through
//! the `/account/second-factor` page (signing in on the form, the current code included).

use lm_tests::oauth_forms::{log_in, poll, post_form, sign_in_server, start_device_login};
use lm_tests::totp::{code, seconds_left_in_step};
use lm_tests::{Backend, Client, PASSWORD, Server};
use serde_json::{Value, json};

fn bearer(server: &Server, tokens: &Value) -> Client {
    server.client(Some(tokens["access_token"].as_str().unwrap().to_owned()))
}

/// Waits out the end of a time step, so that the codes computed next stay valid.
async fn fresh_step() {
    if seconds_left_in_step() < 4 {
        tokio::time::sleep(std::time::Duration::from_secs(seconds_left_in_step() + 1)).await;
    }
}

/// The device login's decision with a one-time code: the status and the page.
async fn decide_with_code(server: &Server, user: &str, otp: &str) -> (u16, String) {
    let device = start_device_login(server).await;
    let (status, _, page) = post_form(
        server,
        "/device",
        &[
            ("user_code", device["user_code"].as_str().unwrap()),
            ("username", user),
            ("password", PASSWORD),
            ("otp", otp),
            ("action", "approve"),
        ],
    )
    .await;
    if status == 200 {
        let (status, tokens) = poll(server, device["device_code"].as_str().unwrap()).await;
        assert_eq!(status, 200, "{tokens}");
    }
    (status, page)
}

async fn a_person_sets_up_and_removes_their_second_factor_through_the_api(backend: Backend) {
    let server = sign_in_server(backend, &[], false).await;
    let alice = bearer(&server, &log_in(&server, "alice").await);
    let offer = alice
        .post("/v1/me/second-factor/new", &json!({}))
        .await
        .expect(200)
        .body;
    let (secret, uri) = (
        offer["secret"].as_str().unwrap(),
        offer["otpauth_uri"].as_str().unwrap(),
    );
    assert!(
        uri.starts_with("otpauth://totp/lm%3Aalice?secret="),
        "{uri}"
    );
    assert!(offer["qr_svg"].as_str().unwrap().starts_with("<svg"));
    fresh_step().await;
    for (body, field) in [
        (
            json!({"password": "wrong guess", "secret": secret, "code": code(uri, 0)}),
            "password",
        ),
        (
            json!({"password": PASSWORD, "secret": secret, "code": "000000x"}),
            "code",
        ),
        (
            json!({"password": PASSWORD, "secret": "not base32!", "code": code(uri, 0)}),
            "secret",
        ),
    ] {
        let problem = alice
            .put("/v1/me/second-factor", &body)
            .await
            .expect(422)
            .body;
        assert_eq!(problem["field"], field, "{body}");
    }
    let member = alice.get("/v1/members/alice").await.expect(200).body;
    assert_eq!(
        member["second_factor"], false,
        "nothing stored by a refusal"
    );
    alice
        .put(
            "/v1/me/second-factor",
            &json!({"password": PASSWORD, "secret": secret, "code": code(uri, 0)}),
        )
        .await
        .expect(204);
    let member = alice.get("/v1/members/alice").await.expect(200).body;
    assert_eq!(member["second_factor"], true);

    let (status, page) = decide_with_code(&server, "alice", "").await;
    assert_eq!(status, 401, "a sign-in now needs the code: {page}");
    let (status, page) = decide_with_code(&server, "alice", &code(uri, 1)).await;
    assert_eq!(status, 200, "{page}");

    alice
        .delete_json("/v1/me/second-factor", &json!({"password": "wrong guess"}))
        .await
        .expect_problem(422, "password");
    alice
        .delete_json("/v1/me/second-factor", &json!({"password": PASSWORD}))
        .await
        .expect(204);
    let (status, page) = decide_with_code(&server, "alice", "").await;
    assert_eq!(status, 200, "the password alone again: {page}");

    let audit = alice.get("/v1/audit?record=alice").await.expect(200).body;
    let text = audit.to_string();
    assert!(text.contains("second_factor"), "{audit}");
    assert!(!text.contains(secret), "the key is never in the audit log");

    // Keys and service accounts have no second factor of their own.
    let key = alice
        .post("/v1/api-keys", &json!({"label": "script"}))
        .await
        .expect(201)
        .body;
    let script = server.client(Some(key["key"].as_str().unwrap().to_owned()));
    script
        .post("/v1/me/second-factor/new", &json!({}))
        .await
        .expect(403);
    server
        .client(None)
        .post("/v1/me/second-factor/new", &json!({}))
        .await
        .expect(401);
}

async fn the_account_page_sets_up_and_removes_a_second_factor(backend: Backend) {
    let server = sign_in_server(backend, &[], false).await;
    let alice = bearer(&server, &log_in(&server, "alice").await);
    let page = reqwest::get(format!("{}/account/second-factor", server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<svg"), "a QR code to scan");
    let key = page
        .split("name=\"totp_secret\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the key in the form")
        .to_owned();
    let uri = format!("otpauth://totp/lm:x?secret={key}");
    fresh_step().await;
    let post = |fields: Vec<(&'static str, String)>| {
        let server = &server;
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (status, _, page) = post_form(server, "/account/second-factor", &fields).await;
            (status, page)
        }
    };
    let base = |action: &str, otp: String, totp_code: String| {
        vec![
            ("username", "alice".to_owned()),
            ("password", PASSWORD.to_owned()),
            ("otp", otp),
            ("totp_secret", key.clone()),
            ("totp_code", totp_code),
            ("action", action.to_owned()),
        ]
    };
    let (status, page) = post(base("set", String::new(), "123".into())).await;
    assert_eq!(status, 422, "a wrong code of the new key: {page}");
    let (status, page) = post(base("set", String::new(), code(&uri, 0))).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("one-time code from the app"), "{page}");
    let member = alice.get("/v1/members/alice").await.expect(200).body;
    assert_eq!(member["second_factor"], true);

    let (status, page) = post(base("remove", String::new(), String::new())).await;
    assert_eq!(status, 401, "removing it asks for its code: {page}");
    let (status, page) = post(base("remove", code(&uri, 1), String::new())).await;
    assert_eq!(status, 200, "{page}");
    let member = alice.get("/v1/members/alice").await.expect(200).body;
    assert_eq!(member["second_factor"], false);
}

crate::on_both_databases!(
    a_person_sets_up_and_removes_their_second_factor_through_the_api,
    the_account_page_sets_up_and_removes_a_second_factor,
);
