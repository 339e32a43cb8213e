//! The built-in authorization server: a terminal logs in with the device flow (RFC 8628),
//! refresh tokens rotate and a replayed one revokes its family, passwords lock out and
//! unlock, disabled users lose access.

use lm_tests::oauth_forms::{decide, log_in, poll, post_form, refresh, start_device_login};
use lm_tests::{Backend, Server};
use serde_json::Value;
use std::time::Duration;

pub(crate) use lm_tests::PASSWORD;

/// A server with fast device polling and a manager `alice` who has a password.
pub(crate) async fn server_with(backend: Backend, extra: &[&str]) -> Server {
    lm_tests::oauth_forms::sign_in_server(backend, extra, false).await
}

async fn a_terminal_logs_in_with_the_device_flow(backend: Backend) {
    let server = server_with(backend, &[]).await;
    let discovery = server
        .client(None)
        .get("/.well-known/openid-configuration")
        .await
        .expect(200)
        .body;
    assert_eq!(discovery["issuer"], "http://lm.test");
    assert_eq!(
        discovery["device_authorization_endpoint"],
        "http://lm.test/oauth2/device_authorization"
    );

    let device = start_device_login(&server).await;
    let user_code = device["user_code"].as_str().unwrap();
    let device_code = device["device_code"].as_str().unwrap();
    assert_eq!(device["verification_uri"], "http://lm.test/device");
    assert_eq!(device["interval"], 1);
    let (status, pending) = poll(&server, device_code).await;
    assert_eq!(
        (status, pending["error"].as_str()),
        (400, Some("authorization_pending"))
    );

    // The page holds the code the terminal shows, and tells nothing more before sign-in:
    // a made-up code gets the same page.
    let page_for = async |code: &str| {
        reqwest::get(format!("{}/device?user_code={code}", server.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let page = page_for(&user_code.to_lowercase()).await;
    assert!(page.contains(user_code), "{page}");
    assert!(
        !page.contains("127.0.0.1"),
        "no requester before sign-in: {page}"
    );
    assert_eq!(
        page.replace(user_code, "CODE"),
        page_for("BCDF-GHJK").await.replace("BCDF-GHJK", "CODE"),
        "a valid code and a made-up one read alike"
    );

    let (status, html) = decide(&server, user_code, "alice", "wrong password!", "approve").await;
    assert_eq!(status, 401);
    assert!(html.contains("Wrong user name or password"), "{html}");
    let (status, html) = decide(&server, user_code, "nobody", PASSWORD, "approve").await;
    assert_eq!(status, 401, "an unknown user reads the same: {html}");
    assert!(html.contains("Wrong user name or password"));

    let (status, html) = decide(&server, user_code, "alice", PASSWORD, "approve").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("You approved"));
    assert!(
        html.contains("asked to sign in") && html.contains("127.0.0.1"),
        "once signed in, the person sees who asked, from where: {html}"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, tokens) = poll(&server, device_code).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    let access = tokens["access_token"].as_str().unwrap();
    server
        .client(Some(access.to_owned()))
        .get("/v1/licenses")
        .await
        .expect(200);

    // The JWKS holds the key that signed it.
    let header: Value = {
        use base64::Engine;
        let raw = access.split('.').next().unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(raw)
                .unwrap(),
        )
        .unwrap()
    };
    let jwks = server
        .client(None)
        .get("/.well-known/jwks.json")
        .await
        .expect(200)
        .body;
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == header["kid"] && k["crv"] == "Ed25519")
    );

    // A device code yields one token; polling faster than the interval is told to slow down.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, again) = poll(&server, device_code).await;
    assert_eq!(again["error"], "invalid_grant");
    let other = start_device_login(&server).await;
    poll(&server, other["device_code"].as_str().unwrap()).await;
    let (status, fast) = poll(&server, other["device_code"].as_str().unwrap()).await;
    assert_eq!((status, fast["error"].as_str()), (400, Some("slow_down")));
}

async fn refresh_tokens_rotate_and_a_replay_revokes_the_login(backend: Backend) {
    let server = server_with(backend, &[]).await;
    let first = log_in(&server, "alice").await;
    let old = first["refresh_token"].as_str().unwrap();
    let (status, second) = refresh(&server, old).await;
    assert_eq!(status, 200, "{second}");
    let new = second["refresh_token"].as_str().unwrap();
    assert_ne!(new, old, "rotated");
    server
        .client(Some(second["access_token"].as_str().unwrap().to_owned()))
        .get("/v1/licenses")
        .await
        .expect(200);

    // Someone replays the old token: it fails, and so does the legitimate new one.
    let (status, replay) = refresh(&server, old).await;
    assert_eq!(
        (status, replay["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, after) = refresh(&server, new).await;
    assert_eq!(
        (status, after["error"].as_str()),
        (400, Some("invalid_grant")),
        "the family is revoked"
    );

    // Logout: revocation (RFC 7009) ends a login; unknown tokens are not an error.
    let login = log_in(&server, "alice").await;
    let token = login["refresh_token"].as_str().unwrap();
    let (status, _, _) = post_form(
        &server,
        "/oauth2/revoke",
        &[("token", token), ("client_id", "lm")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(refresh(&server, token).await.0, 400);
    let (status, _, _) = post_form(
        &server,
        "/oauth2/revoke",
        &[("token", "never-issued"), ("client_id", "lm")],
    )
    .await;
    assert_eq!(status, 200);
}

async fn denied_and_expired_device_codes_get_no_token(backend: Backend) {
    let server = server_with(backend, &["--device-code-ttl", "2s"]).await;
    let device = start_device_login(&server).await;
    let (status, html) = decide(
        &server,
        device["user_code"].as_str().unwrap(),
        "alice",
        PASSWORD,
        "deny",
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("denied"), "{html}");
    let (_, denied) = poll(&server, device["device_code"].as_str().unwrap()).await;
    assert_eq!(denied["error"], "access_denied");

    let late = start_device_login(&server).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, html) = decide(
        &server,
        late["user_code"].as_str().unwrap(),
        "alice",
        PASSWORD,
        "approve",
    )
    .await;
    assert_eq!(status, 400);
    assert!(html.contains("expired"), "{html}");
    let (_, expired) = poll(&server, late["device_code"].as_str().unwrap()).await;
    assert_eq!(expired["error"], "expired_token");
}

/// Guessing passwords slows the guesser's address for that account, doubling, and never the
/// owner signing in from elsewhere; an account name that does not exist is answered exactly
/// like one that does, so the answers tell nobody which accounts exist.
async fn guessing_slows_the_guessers_address_not_the_owner(backend: Backend) {
    let server = server_with(
        backend,
        &["--max-failed-logins", "3", "--login-lockout", "2s"],
    )
    .await;
    // The guesser signs in from another loopback address than the owner.
    let guesser = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let guess = async |code: &str, user: &str, password: &str| {
        let response = guesser
            .post(format!("{}/device", server.url))
            .form(&[
                ("user_code", code),
                ("username", user),
                ("password", password),
                ("action", "approve"),
            ])
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    };
    let device = start_device_login(&server).await;
    let code = device["user_code"].as_str().unwrap();
    let mut answers = Vec::new();
    for user in ["alice", "nobody"] {
        for _ in 0..3 {
            let (status, html) = guess(code, user, "guess guess guess").await;
            assert_eq!(status, 401);
            answers.push(html);
        }
        let (status, html) = guess(code, user, PASSWORD).await;
        assert_eq!(status, 401, "the guesser waits, even with the password");
        assert!(html.contains("Too many failed attempts"), "{html}");
        answers.push(html);
    }
    assert_eq!(
        answers[..4],
        answers[4..],
        "an unknown name answers like a known one"
    );

    let (status, html) = decide(&server, code, "alice", PASSWORD, "approve").await;
    assert_eq!(status, 200, "the owner is not held up: {html}");

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let again = start_device_login(&server).await;
    let (status, html) = guess(again["user_code"].as_str().unwrap(), "alice", PASSWORD).await;
    assert_eq!(status, 200, "the wait ends by itself: {html}");
}

/// A sign-in form posted from another site's page (login CSRF) is refused before anything is
/// checked; the server's own pages, and clients that are no browser page, are not.
async fn sign_in_forms_sent_from_another_site_are_refused(backend: Backend) {
    let server = server_with(backend, &[]).await;
    let device = start_device_login(&server).await;
    let code = device["user_code"].as_str().unwrap();
    let post = async |path: &str, headers: &[(&str, &str)]| {
        let mut request = reqwest::Client::new()
            .post(format!("{}{path}", server.url))
            .form(&[
                ("user_code", code),
                ("username", "alice"),
                ("password", PASSWORD),
                ("action", "approve"),
            ]);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    };
    for headers in [
        &[("origin", "https://evil.example")][..],
        &[("origin", "null")],
        &[("sec-fetch-site", "cross-site")],
    ] {
        for path in ["/device", "/oauth2/authorize"] {
            let (status, html) = post(path, headers).await;
            assert_eq!(status, 403, "{path} {headers:?}: {html}");
            assert!(html.contains("another site"), "{html}");
        }
    }
    let (_, pending) = poll(&server, device["device_code"].as_str().unwrap()).await;
    assert_eq!(
        pending["error"], "authorization_pending",
        "nothing was approved"
    );
    let own = server.url.clone();
    let (status, html) = post(
        "/device",
        &[("origin", &own), ("sec-fetch-site", "same-origin")],
    )
    .await;
    assert_eq!(status, 200, "the server's own page: {html}");
}

/// Made-up device codes spend the address's sign-in attempts like wrong passwords do, so
/// codes cannot be tried faster than passwords.
async fn made_up_device_codes_spend_sign_in_attempts(backend: Backend) {
    let server = server_with(backend, &[]).await;
    let mut statuses = Vec::new();
    for i in 0..11 {
        let (status, _) = decide(
            &server,
            &format!("BCDF-GH{:02}", i),
            "alice",
            PASSWORD,
            "approve",
        )
        .await;
        statuses.push(status);
    }
    assert_eq!(statuses[..10], [400; 10]);
    assert_eq!(statuses[10], 429, "{statuses:?}");
}

/// Polls `/v1/licenses` with `token` until it answers `status`, for at most 10 s (servers
/// re-read keys and disabled users every 5 s).
async fn a_disabled_user_cannot_log_in_or_refresh(backend: Backend) {
    let server = server_with(backend, &[]).await;
    let tokens = log_in(&server, "alice").await;
    let access = tokens["access_token"].as_str().unwrap();
    server
        .admin(&["user", "disable", "alice"])
        .expect("disable");
    // The access token stops working at the next check, well before it expires.
    server
        .client(Some(access.to_owned()))
        .until_status(401)
        .await;
    let (status, body) = refresh(&server, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let device = start_device_login(&server).await;
    let (status, _) = decide(
        &server,
        device["user_code"].as_str().unwrap(),
        "alice",
        PASSWORD,
        "approve",
    )
    .await;
    assert_eq!(status, 401);
    server.admin(&["user", "enable", "alice"]).expect("enable");
    log_in(&server, "alice").await;
}

async fn rotated_keys_sign_new_tokens_and_old_ones_keep_verifying(backend: Backend) {
    let server = server_with(backend, &[]).await;
    let mut tokens = log_in(&server, "alice").await;
    let before = tokens["access_token"].as_str().unwrap().to_owned();
    let kid = |token: &str| -> Value {
        use base64::Engine;
        let raw = token.split('.').next().unwrap();
        serde_json::from_slice::<Value>(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(raw)
                .unwrap(),
        )
        .unwrap()["kid"]
            .clone()
    };
    server.admin(&["keys", "rotate"]).expect("rotate");
    let listed = server.admin(&["keys", "list"]).expect("keys list");
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(
        listed.contains("retired") && listed.contains("signing"),
        "{listed}"
    );
    // Within a reload the server signs with the new key; the old token still verifies.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let after = loop {
        let (status, renewed) = refresh(&server, tokens["refresh_token"].as_str().unwrap()).await;
        assert_eq!(status, 200, "{renewed}");
        tokens = renewed;
        let token = tokens["access_token"].as_str().unwrap().to_owned();
        if kid(&token) != kid(&before) {
            break token;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server never switched keys"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    server.client(Some(before.clone())).until_status(200).await;
    server.client(Some(after.clone())).until_status(200).await;
    let jwks = server
        .client(None)
        .get("/.well-known/jwks.json")
        .await
        .expect(200)
        .body;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
}

crate::on_both_databases!(
    rotated_keys_sign_new_tokens_and_old_ones_keep_verifying,
    a_terminal_logs_in_with_the_device_flow,
    refresh_tokens_rotate_and_a_replay_revokes_the_login,
    denied_and_expired_device_codes_get_no_token,
    guessing_slows_the_guessers_address_not_the_owner,
    sign_in_forms_sent_from_another_site_are_refused,
    made_up_device_codes_spend_sign_in_attempts,
    a_disabled_user_cannot_log_in_or_refresh,
);
