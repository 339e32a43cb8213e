//! One-time links instead of a shell on the server: a manager invites a colleague, who
//! chooses a password on the link's page (in a real browser) and signs in; links work once,
//! can be resent or revoked, expire; a manager resets a member's password the same way.

use lm_tests::oauth_forms::{
    accept_link as accept, decide, link_path, log_in, poll, refresh, sign_in_server,
    start_device_login,
};
use lm_tests::{Backend, Browser, Client, Server};
use serde_json::{Value, json};
use std::time::Duration;

const CHOSEN: &str = "correct horse battery";

/// The path of an issued link: `/invite/<code>`.
fn path_of(issued: &Value) -> String {
    link_path(issued["link"].as_str().unwrap())
}

/// Signs `name` in through the device flow with `password` and one-time code `otp`.
async fn signs_in_with_code(server: &Server, name: &str, password: &str, otp: &str) -> Client {
    let device = start_device_login(server).await;
    let (status, _, page) = lm_tests::oauth_forms::post_form(
        server,
        "/device",
        &[
            ("user_code", device["user_code"].as_str().unwrap()),
            ("username", name),
            ("password", password),
            ("otp", otp),
            ("action", "approve"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let (status, tokens) = poll(server, device["device_code"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{tokens}");
    server.client(Some(tokens["access_token"].as_str().unwrap().to_owned()))
}

/// Signs `name` in through the device flow with `password`; the client with their token.
async fn signs_in(server: &Server, name: &str, password: &str) -> Client {
    let device = start_device_login(server).await;
    let (status, page) = decide(
        server,
        device["user_code"].as_str().unwrap(),
        name,
        password,
        "approve",
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let (status, tokens) = poll(server, device["device_code"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{tokens}");
    server.client(Some(tokens["access_token"].as_str().unwrap().to_owned()))
}

async fn an_invited_colleague_joins_in_a_browser_and_signs_in(backend: Backend) {
    let server = sign_in_server(backend, &[], true).await;
    let alice = server.login("alice");
    let issued = alice
        .post(
            "/v1/invitations",
            &json!({"name": "dana", "role": "employee", "note": "new in accounting"}),
        )
        .await
        .expect(201)
        .body;
    let link = issued["link"].as_str().unwrap();
    assert!(
        link.starts_with(&format!("{}/invite/", server.public_url)),
        "{link}"
    );
    let open = alice.get("/v1/invitations").await.expect(200).body;
    assert_eq!(open[0]["name"], "dana");
    assert!(
        !open.to_string().contains(&path_of(&issued)[8..]),
        "the code is shown once"
    );

    let browser = Browser::start().await;
    browser.open(link).await;
    browser.wait_for_page_with("Join acme").await;
    browser.type_into("input[name=password]", CHOSEN).await;
    browser.type_into("input[name=again]", CHOSEN).await;
    // Dana also sets up a second factor: the page's key, scanned by an authenticator app.
    let source = browser.source().await;
    assert!(source.contains("<svg"), "a QR code to scan");
    let uri = source
        .split("id=\"totp-uri\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the otpauth link")
        .replace("&amp;", "&");
    if lm_tests::totp::seconds_left_in_step() < 4 {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    browser
        .type_into("input[name=totp_code]", &lm_tests::totp::code(&uri, 0))
        .await;
    browser.click("button[type=submit]").await;
    browser.wait_for_page_with("Welcome to acme, dana").await;
    let members = alice.get("/v1/members/dana").await.expect(200).body;
    assert_eq!(members["second_factor"], true, "{members}");

    let device = start_device_login(&server).await;
    let (status, page) = decide(
        &server,
        device["user_code"].as_str().unwrap(),
        "dana",
        CHOSEN,
        "approve",
    )
    .await;
    assert_eq!(status, 401, "a sign-in needs dana's one-time code: {page}");
    let dana = signs_in_with_code(&server, "dana", CHOSEN, &lm_tests::totp::code(&uri, 1)).await;
    let me = dana.get("/v1/me").await.expect(200).body;
    assert_eq!(
        (me["subject"].clone(), me["role"].clone()),
        (json!("dana"), json!("employee"))
    );
    let members = alice.get("/v1/members").await.expect(200).body;
    assert!(members.to_string().contains("\"dana\""), "{members}");
    assert_eq!(
        alice.get("/v1/invitations").await.expect(200).body,
        json!([])
    );
    // Used once.
    browser.open(link).await;
    browser.wait_for_page_with("not valid any more").await;
    let audit = alice.get("/v1/audit?record=dana").await.expect(200).body;
    assert_eq!(audit["items"][0]["record_type"], "member", "{audit}");
    assert!(!audit.to_string().contains(CHOSEN));
}

async fn links_work_once_until_resent_revoked_or_expired(backend: Backend) {
    let server = sign_in_server(backend, &[], false).await;
    let alice = server.login("alice");
    let bob = server.employee("bob");
    let gus = server.user("gus", "manager", "globex");
    let invite = |name: &str| json!({"name": name, "role": "manager"});

    let first = alice
        .post("/v1/invitations", &invite("erin"))
        .await
        .expect(201)
        .body;
    alice
        .post("/v1/invitations", &invite("erin"))
        .await
        .expect_problem(409, "invited already");
    alice
        .post("/v1/invitations", &invite("bob"))
        .await
        .expect_problem(409, "taken");
    let bad = alice
        .post("/v1/invitations", &invite("e rin"))
        .await
        .expect(422)
        .body;
    assert_eq!(bad["field"], "name");
    bob.post("/v1/invitations", &invite("fred"))
        .await
        .expect_problem(403, "only managers");
    bob.get("/v1/invitations")
        .await
        .expect_problem(403, "only managers");

    // Another organization's manager cannot see, resend or revoke it.
    let id = first["invitation"]["id"].as_str().unwrap();
    assert_eq!(gus.get("/v1/invitations").await.expect(200).body, json!([]));
    gus.post(&format!("/v1/invitations/{id}/resend"), &json!({}))
        .await
        .expect(404);
    gus.delete(&format!("/v1/invitations/{id}"))
        .await
        .expect(404);

    // Resent: the old link is dead, the new one works — once, and not with a typo.
    let second = alice
        .post(&format!("/v1/invitations/{id}/resend"), &json!({}))
        .await
        .expect(200)
        .body;
    let (status, _) = accept(&server, &path_of(&first), CHOSEN, CHOSEN).await;
    assert_eq!(status, 410);
    let (status, page) = accept(&server, &path_of(&second), CHOSEN, "another one").await;
    assert_eq!(status, 422);
    assert!(page.contains("differ"), "{page}");
    let (status, page) = accept(&server, &path_of(&second), "short", "short").await;
    assert_eq!(status, 422);
    assert!(page.contains("at least"), "{page}");
    // Two at once: one joins, the other finds the link used.
    let path = path_of(&second);
    let (a, b) = tokio::join!(
        accept(&server, &path, CHOSEN, CHOSEN),
        accept(&server, &path, CHOSEN, CHOSEN)
    );
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 410]);
    signs_in(&server, "erin", CHOSEN).await;

    // Revoked, and expired.
    let third = alice
        .post("/v1/invitations", &invite("fred"))
        .await
        .expect(201)
        .body;
    let id = third["invitation"]["id"].as_str().unwrap();
    alice
        .delete(&format!("/v1/invitations/{id}"))
        .await
        .expect(204);
    alice
        .delete(&format!("/v1/invitations/{id}"))
        .await
        .expect(404);
    let (status, _) = accept(&server, &path_of(&third), CHOSEN, CHOSEN).await;
    assert_eq!(status, 410);
    // On a server whose links last a second (a server apart, so that the steps above never
    // race the clock on a slow machine).
    let brief = sign_in_server(backend, &["--invitation-ttl", "1s"], false).await;
    let late = brief
        .login("alice")
        .post("/v1/invitations", &invite("fred"))
        .await
        .expect(201)
        .body;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, _) = accept(&brief, &path_of(&late), CHOSEN, CHOSEN).await;
    assert_eq!(status, 410, "expired");
}

async fn a_manager_resets_a_members_password(backend: Backend) {
    let server = sign_in_server(backend, &[], false).await;
    let alice = server.login("alice");
    server
        .admin(&["user", "add", "bob", "--role", "employee", "--org", "acme"])
        .expect("user add");
    server.give_password("bob");
    let session = log_in(&server, "bob").await;
    let bob = server.client(Some(session["access_token"].as_str().unwrap().to_owned()));
    server
        .user("gus", "manager", "globex")
        .post("/v1/members/bob/password-reset", &json!({}))
        .await
        .expect(404);
    bob.post("/v1/members/bob/password-reset", &json!({}))
        .await
        .expect_problem(403, "only managers");

    let reset = alice
        .post("/v1/members/bob/password-reset", &json!({}))
        .await
        .expect(201)
        .body;
    assert_eq!(reset["invitation"]["kind"], "reset");
    // The old password and every login end at once.
    let (status, _) = refresh(&server, session["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400);
    bob.until_status(401).await;
    let device = start_device_login(&server).await;
    let (_, page) = decide(
        &server,
        device["user_code"].as_str().unwrap(),
        "bob",
        lm_tests::PASSWORD,
        "approve",
    )
    .await;
    assert!(!page.contains("You approved"), "the old password is gone");

    let (status, page) = accept(&server, &path_of(&reset), CHOSEN, CHOSEN).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("new password of bob is set"), "{page}");
    signs_in(&server, "bob", CHOSEN).await;
}

crate::on_both_databases!(
    an_invited_colleague_joins_in_a_browser_and_signs_in,
    links_work_once_until_resent_revoked_or_expired,
    a_manager_resets_a_members_password,
);
