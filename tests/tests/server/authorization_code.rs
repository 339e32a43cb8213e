//! The authorization code grant with PKCE and a loopback redirect (RFC 6749 §4.1, RFC 7636,
//! RFC 8252 §7.3), spoken over plain HTTP the way a browser and an app would; the ID token
//! (OpenID Connect Core); revoking access tokens (RFC 7009); the TOTP second factor.

use super::oauth::{PASSWORD, server_with};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lm_tests::oauth_forms::{decide, log_in, post_form, refresh, start_device_login};
use lm_tests::{Backend, Server};
use serde_json::Value;
use sha2::Digest;
use std::collections::HashMap;

const REDIRECT: &str = "http://127.0.0.1:53682/callback";
const VERIFIER: &str = "a-verifier-of-enough-length-0123456789-abcdefghij";

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

/// A browser that does not follow redirects: the test reads where it would go.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The parameters of an authorization request by the built-in client `lm`.
fn request(overrides: &[(&str, &str)]) -> Vec<(String, String)> {
    let challenge = challenge(VERIFIER);
    let mut params: Vec<(String, String)> = [
        ("response_type", "code"),
        ("client_id", "lm"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid offline_access licenses"),
        ("state", "xyz-state"),
        ("nonce", "n-0S6_WzA2Mj"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in overrides {
        params.retain(|(name, _)| name != k);
        if !v.is_empty() {
            params.push((k.to_string(), v.to_string()));
        }
    }
    params
}

/// The query parameters of a redirect's Location.
fn location(response: &reqwest::Response) -> (String, HashMap<String, String>) {
    let location = response
        .headers()
        .get("location")
        .expect("a redirect")
        .to_str()
        .unwrap();
    let (base, query) = location.split_once('?').unwrap_or((location, ""));
    let params = query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| {
            let decoded = reqwest::Url::parse(&format!("http://x/?v={v}")).unwrap();
            let v = decoded.query_pairs().next().unwrap().1.into_owned();
            (k.to_owned(), v)
        })
        .collect();
    (base.to_owned(), params)
}

/// Signs alice in on the page and returns the browser's redirect.
async fn sign_in(
    server: &Server,
    params: &[(String, String)],
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form: Vec<(String, String)> = params.to_vec();
    let defaults = [
        ("username", "alice"),
        ("password", PASSWORD),
        ("action", "approve"),
    ];
    for (k, v) in defaults.iter().chain(extra) {
        form.retain(|(name, _)| name != k);
        form.push((k.to_string(), v.to_string()));
    }
    browser()
        .post(format!("{}/oauth2/authorize", server.url))
        .form(&form)
        .send()
        .await
        .unwrap()
}

async fn exchange(server: &Server, code: &str, verifier: &str, redirect: &str) -> (u16, Value) {
    let (status, body, _) = post_form(
        server,
        "/oauth2/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
            ("client_id", "lm"),
        ],
    )
    .await;
    (status, body)
}

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn an_app_signs_in_with_a_code_and_pkce_and_gets_an_id_token(backend: Backend) {
    let server = server_with(backend, &[]).await;
    let discovery = server
        .client(None)
        .get("/.well-known/openid-configuration")
        .await
        .expect(200)
        .body;
    assert_eq!(
        discovery["authorization_endpoint"],
        "http://lm.test/oauth2/authorize"
    );
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );

    let params = request(&[]);
    let page = browser()
        .get(format!("{}/oauth2/authorize", server.url))
        .query(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["x-frame-options"], "DENY", "never framed");
    let html = page.text().await.unwrap();
    assert!(
        html.contains("the lm terminal client") && html.contains("port 53682"),
        "the page says who asks and where the browser goes back to: {html}"
    );

    let redirect = sign_in(&server, &params, &[]).await;
    assert_eq!(redirect.status(), 303);
    let (base, query) = location(&redirect);
    assert_eq!(base, REDIRECT);
    assert_eq!(query["state"], "xyz-state");
    assert_eq!(query["iss"], "http://lm.test", "RFC 9207");
    let code = &query["code"];

    let (status, tokens) = exchange(&server, code, VERIFIER, REDIRECT).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    server
        .client(Some(access.clone()))
        .get("/v1/licenses")
        .await
        .expect(200);
    let id = claims(
        tokens["id_token"]
            .as_str()
            .expect("an ID token with openid"),
    );
    assert_eq!(id["iss"], "http://lm.test");
    assert_eq!(id["aud"], "lm");
    assert_eq!(id["sub"], "alice");
    assert_eq!(id["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(id["sid"], claims(&access)["sid"], "one login");
    let userinfo = server
        .client(Some(access.clone()))
        .get("/oauth2/userinfo")
        .await
        .expect(200)
        .body;
    assert_eq!(userinfo["sub"], "alice");

    // The refresh token rotates as in the device flow.
    let (status, renewed) = refresh(&server, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{renewed}");

    // A code is good once: presenting it again revokes the login it started, access tokens
    // included (someone else may have redeemed it first).
    let (status, again) = exchange(&server, code, VERIFIER, REDIRECT).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    server
        .client(Some(access))
        .get("/v1/licenses")
        .await
        .expect(401);
    server
        .client(Some(renewed["access_token"].as_str().unwrap().to_owned()))
        .get("/v1/licenses")
        .await
        .expect(401);
    let (status, _) = refresh(&server, renewed["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400);
}

async fn authorization_requests_are_checked_before_and_after_sign_in(backend: Backend) {
    let server = server_with(backend, &[]).await;
    let get = async |params: Vec<(String, String)>| {
        browser()
            .get(format!("{}/oauth2/authorize", server.url))
            .query(&params)
            .send()
            .await
            .unwrap()
    };
    // Untrusted client or redirect: shown to the person, never redirected (an open
    // redirector would send codes anywhere).
    for (overrides, says) in [
        (vec![("client_id", "nobody")], "Unknown client"),
        (
            vec![("redirect_uri", "https://evil.example/cb")],
            "not a redirect URI",
        ),
        (
            vec![("redirect_uri", "http://localhost:53682/cb")],
            "not a redirect URI",
        ),
        (vec![("redirect_uri", "")], "No redirect_uri"),
    ] {
        let response = get(request(&overrides)).await;
        assert_eq!(response.status(), 400, "{overrides:?}");
        assert!(response.headers().get("location").is_none());
        let html = response.text().await.unwrap();
        assert!(html.contains(says), "{overrides:?}: {html}");
    }
    // Other faults go back to the client, with its state.
    for (overrides, error) in [
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("code_challenge", "")], "invalid_request"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("scope", "openid admin")], "invalid_scope"),
    ] {
        let response = get(request(&overrides)).await;
        assert_eq!(response.status(), 303, "{overrides:?}");
        let (base, query) = location(&response);
        assert_eq!(base, REDIRECT);
        assert_eq!(query["error"], error, "{overrides:?}");
        assert_eq!(query["state"], "xyz-state");
    }
    // Deny sends the browser back with access_denied.
    let denied = browser()
        .post(format!("{}/oauth2/authorize", server.url))
        .form(&[request(&[]), vec![("action".into(), "deny".into())]].concat())
        .send()
        .await
        .unwrap();
    assert_eq!(location(&denied).1["error"], "access_denied");
    // A wrong password shows the page again, and sends nobody anywhere.
    let wrong = sign_in(&server, &request(&[]), &[("password", "wrong password!")]).await;
    assert_eq!(wrong.status(), 401);

    // The code's exchange checks the verifier, the redirect URI and the client.
    let code = |r: reqwest::Response| location(&r).1["code"].clone();
    let c = code(sign_in(&server, &request(&[]), &[]).await);
    let (status, body) = exchange(
        &server,
        &c,
        "another-verifier-of-enough-length-0123456789",
        REDIRECT,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    let c = code(sign_in(&server, &request(&[]), &[]).await);
    let (status, body) = exchange(&server, &c, VERIFIER, "http://127.0.0.1:1/other").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    let c = code(sign_in(&server, &request(&[]), &[]).await);
    let (status, body, _) = post_form(
        &server,
        "/oauth2/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &c),
            ("redirect_uri", REDIRECT),
            ("client_id", "lm"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "PKCE is required"
    );

    // A registered client may use its registered loopback URI on any port, and only that.
    server
        .admin(&[
            "client",
            "add",
            "desktop-app",
            "--public",
            "--grant",
            "authorization_code",
            "--redirect-uri",
            "http://127.0.0.1/desktop",
        ])
        .expect("client add");
    let ok = get(request(&[
        ("client_id", "desktop-app"),
        ("redirect_uri", "http://127.0.0.1:40000/desktop"),
    ]))
    .await;
    assert_eq!(ok.status(), 200);
    let wrong_path = get(request(&[("client_id", "desktop-app")])).await;
    assert_eq!(wrong_path.status(), 400);
}

async fn a_revoked_access_token_is_refused_at_once(backend: Backend) {
    let server = server_with(backend, &[]).await;
    let replica = server.replica(&[]).await;
    let tokens = log_in(&server, "alice").await;
    let access = tokens["access_token"].as_str().unwrap();
    server
        .client(Some(access.to_owned()))
        .get("/v1/licenses")
        .await
        .expect(200);
    let (status, _, _) = post_form(
        &server,
        "/oauth2/revoke",
        &[("token", access), ("client_id", "lm")],
    )
    .await;
    assert_eq!(status, 200);
    server
        .client(Some(access.to_owned()))
        .get("/v1/licenses")
        .await
        .expect(401);
    // Other replicas learn it from the database within seconds.
    replica
        .client(Some(access.to_owned()))
        .until_status(401)
        .await;
    // The login's refresh token still works: only that access token was revoked.
    let (status, renewed) = refresh(&server, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{renewed}");

    // Revoking the refresh token ends the whole login, its access tokens with it.
    let current = renewed["access_token"].as_str().unwrap();
    let (status, _, _) = post_form(
        &server,
        "/oauth2/revoke",
        &[
            ("token", renewed["refresh_token"].as_str().unwrap()),
            ("client_id", "lm"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    server
        .client(Some(current.to_owned()))
        .get("/v1/licenses")
        .await
        .expect(401);
}

async fn a_second_factor_is_asked_for_and_each_code_signs_in_once(backend: Backend) {
    let server = server_with(backend, &[]).await;
    let uri = server
        .admin(&["user", "mfa", "enable", "alice"])
        .expect("mfa enable");
    assert!(
        uri.starts_with("otpauth://totp/lm%3Aalice?secret="),
        "{uri}"
    );
    // Codes near the end of a step could turn stale mid-test.
    if lm_tests::totp::seconds_left_in_step() < 5 {
        tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    }

    let without = sign_in(&server, &request(&[]), &[]).await;
    assert_eq!(without.status(), 401);
    assert!(without.text().await.unwrap().contains("one-time code"));
    let wrong = sign_in(&server, &request(&[]), &[("otp", "000000")]).await;
    assert_eq!(wrong.status(), 401);

    let code = lm_tests::totp::code(&uri, 0);
    let signed_in = sign_in(&server, &request(&[]), &[("otp", &code)]).await;
    assert_eq!(signed_in.status(), 303);
    assert!(location(&signed_in).1.contains_key("code"));
    // The same code again, as someone who watched it being typed would.
    let replay = sign_in(&server, &request(&[]), &[("otp", &code)]).await;
    assert_eq!(replay.status(), 401);
    assert!(replay.text().await.unwrap().contains("used already"));

    // The device flow's page asks for it too.
    let device = start_device_login(&server).await;
    let (status, html) = decide(
        &server,
        device["user_code"].as_str().unwrap(),
        "alice",
        PASSWORD,
        "approve",
    )
    .await;
    assert_eq!(status, 401);
    assert!(html.contains("one-time code"), "{html}");

    server
        .admin(&["user", "mfa", "disable", "alice"])
        .expect("mfa disable");
    assert_eq!(sign_in(&server, &request(&[]), &[]).await.status(), 303);
    assert!(
        server
            .admin(&["user", "mfa", "enable", "nobody"])
            .unwrap_err()
            .contains("nobody")
    );
}

crate::on_both_databases!(
    an_app_signs_in_with_a_code_and_pkce_and_gets_an_id_token,
    authorization_requests_are_checked_before_and_after_sign_in,
    a_revoked_access_token_is_refused_at_once,
    a_second_factor_is_asked_for_and_each_code_signs_in_once,
);
