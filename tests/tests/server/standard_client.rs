//! A standard OpenID Connect library signs people in to lm-server's built-in provider
//! unchanged: panva's `openid-client` (npm) as the application, a real browser (headless
//! Chromium) as the person — the authorization code flow with PKCE and a loopback redirect,
//! with the second factor, and the device flow. What the library checks (issuer, state, nonce,
//! PKCE, the ID token's claims, token responses) it checks as it would against any provider.

use lm_tests::oidc::{Flow, RelyingParty};
use lm_tests::{Backend, Browser, PASSWORD, Server};

async fn server_with_alice() -> Server {
    lm_tests::oauth_forms::sign_in_server(Backend::Sqlite, &[], true).await
}

/// Checks what the library got: who signed in, and a working access token.
async fn check_result(server: &Server, result: &serde_json::Value) {
    assert_eq!(result["claims"]["sub"], "alice", "{result}");
    assert_eq!(result["claims"]["iss"], server.public_url.as_str());
    assert_eq!(result["claims"]["aud"], "lm");
    assert_eq!(result["userinfo"]["role"], "manager");
    assert_eq!(result["userinfo"]["org"], "acme");
    let access = result["access_token"]
        .as_str()
        .expect("a refreshed access token");
    server
        .client(Some(access.to_owned()))
        .get("/v1/licenses")
        .await
        .expect(200);
}

#[tokio::test]
async fn a_standard_library_signs_in_with_a_code_and_pkce_in_a_real_browser() {
    let server = server_with_alice().await;
    let uri = server
        .admin(&["user", "mfa", "enable", "alice"])
        .expect("mfa enable");
    let app = RelyingParty::start(Flow::Code, &server.public_url, "lm");
    assert!(
        app.open.contains("code_challenge_method=S256"),
        "{}",
        app.open
    );

    let browser = Browser::start().await;
    browser.open(&app.open).await;
    browser.wait_for_page_with("asks to sign you in").await;
    browser.type_into("input[name=username]", "alice").await;
    browser.type_into("input[name=password]", PASSWORD).await;
    browser.click("button[value=approve]").await;
    assert!(
        browser.text("#error").await.contains("one-time code"),
        "the second factor is asked for"
    );
    if lm_tests::totp::seconds_left_in_step() < 5 {
        tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    }
    browser.type_into("input[name=username]", "alice").await;
    browser.type_into("input[name=password]", PASSWORD).await;
    browser
        .type_into("input[name=otp]", &lm_tests::totp::code(&uri, 0))
        .await;
    browser.click("button[value=approve]").await;
    // The browser follows the redirect to the application's loopback listener.
    browser.wait_for_page_with("Signed in to the app").await;
    check_result(&server, &app.result()).await;
}

#[tokio::test]
async fn a_standard_library_signs_in_with_the_device_flow() {
    let server = server_with_alice().await;
    let app = RelyingParty::start(Flow::Device, &server.public_url, "lm");
    let browser = Browser::start().await;
    browser.open(&app.open).await;
    browser.type_into("input[name=username]", "alice").await;
    browser.type_into("input[name=password]", PASSWORD).await;
    browser.click("button[value=approve]").await;
    assert!(browser.text("#result").await.contains("You approved"));
    check_result(&server, &app.result()).await;
}
