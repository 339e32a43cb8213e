//! Logging in through lmd with the device flow, staying logged in across token expiry, and
//! logging out — against the server's built-in authorization server.

use lm_protocol::LicenseFilter;
use lm_protocol::socket::{Connection, NoArgs, Reply, Request};
use lm_tests::oauth_forms::{decide, sign_in_server};
use lm_tests::{Backend, Daemon, PASSWORD, Server};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A reachable server with fast device polling, a manager `alice` with a password, and one
/// license.
async fn server(extra: &[&str]) -> Server {
    let server = sign_in_server(Backend::Sqlite, extra, true).await;
    server
        .login("alice")
        .post("/v1/licenses", &super::new_license("Office"))
        .await
        .expect(201);
    server
}

/// What alice does in her browser: approve the code on the server's page.
async fn approve(server: &Server, user_code: &str) {
    let (status, page) = decide(server, user_code, "alice", PASSWORD, "approve").await;
    assert_eq!(status, 200, "{page}");
}

/// Logs `daemon` in as alice with the device flow, approved at once; its client.
async fn log_in(daemon: &Daemon, server: &Server) -> lm_tests::SocketClient {
    let mut client = daemon.connect().await;
    let Ok(Reply::LoginStarted(prompt)) = client.request(Request::Login(NoArgs {})).await else {
        panic!("login did not start:\n{}", daemon.log());
    };
    approve(server, &prompt.user_code).await;
    client
        .wait_for(Duration::from_secs(10), logged_in_as_alice)
        .await;
    client
}

fn logged_in_as_alice(status: &lm_protocol::socket::Status) -> bool {
    status.user.as_ref().is_some_and(|u| u.subject == "alice")
        && status.connection == Connection::Live
}

#[tokio::test]
async fn a_user_logs_in_through_the_daemon_stays_logged_in_and_logs_out() {
    // Access tokens live 3 s: staying logged in means refreshing, several times.
    let server = server(&["--access-token-ttl", "3s"]).await;
    let daemon = Daemon::start_logged_out(&server.url).await;
    let mut client = daemon.connect().await;
    let status = client.status().await;
    assert!(
        matches!(&status.connection, Connection::LoginRequired { reason } if reason.contains("lm login")),
        "{status:?}"
    );

    let Ok(Reply::LoginStarted(prompt)) = client.request(Request::Login(NoArgs {})).await else {
        panic!("login did not start:\n{}", daemon.log());
    };
    assert_eq!(prompt.verification_uri, format!("{}/device", server.url));
    approve(&server, &prompt.user_code).await;
    client
        .wait_for(Duration::from_secs(10), logged_in_as_alice)
        .await;
    assert_eq!(client.list(LicenseFilter::default(), 10).await.total, 1);

    let login = std::fs::read_to_string(daemon.login_file()).unwrap();
    let mode = std::fs::metadata(daemon.login_file())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "the login file is the user's only");
    assert!(
        !daemon.log().contains(login.split('"').nth(3).unwrap()),
        "tokens never reach the log"
    );

    // Several access token lifetimes later the daemon is still logged in and may edit.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let renewed = std::fs::read_to_string(daemon.login_file()).unwrap();
    assert_ne!(renewed, login, "the login was refreshed");
    let created = client
        .request(Request::Create(lm_protocol::socket::CreateRequest {
            license: serde_json::from_value(super::new_license("After refresh")).unwrap(),
        }))
        .await;
    assert!(created.is_ok(), "{created:?}\n{}", daemon.log());

    assert_eq!(
        client.request(Request::Logout(NoArgs {})).await,
        Ok(Reply::Done)
    );
    assert!(!daemon.login_file().exists(), "the login is forgotten");
    let status = client.status().await;
    assert!(
        matches!(status.connection, Connection::LoginRequired { .. }),
        "{status:?}"
    );
    assert_eq!(status.user, None);
    // The cache is cleared (a page already on its way when the logout came is dropped).
    client
        .wait_for(Duration::from_secs(5), |s| {
            s.licenses == 0 && matches!(s.connection, Connection::LoginRequired { .. })
        })
        .await;
    // The refresh token was revoked at the server: the saved login cannot be replayed.
    let refresh = renewed
        .split("\"refresh_token\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let replay = reqwest::Client::new()
        .post(format!("{}/oauth2/token", server.url))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", "lm"),
        ])
        .send()
        .await
        .unwrap();
    let replay_status = replay.status();
    assert_eq!(
        replay_status,
        400,
        "{}\n{}",
        replay.text().await.unwrap(),
        daemon.log()
    );
}

#[tokio::test]
async fn with_a_keyring_on_the_session_bus_the_login_is_kept_there_not_in_a_file() {
    let bus = lm_tests::SessionBus::with_keyring().await;
    let server = server(&[]).await;
    let mut daemon = Daemon::start_logged_out_on_bus(&server.url, &bus.address).await;
    log_in(&daemon, &server).await;

    let kept = bus.keyring();
    assert_eq!(kept.len(), 1, "{kept:?}\n{}", daemon.log());
    assert_eq!(kept[0].attributes["application"], "lm");
    let login: serde_json::Value = serde_json::from_slice(&kept[0].secret).unwrap();
    assert!(login["refresh_token"].is_string(), "{login}");
    assert!(!daemon.login_file().exists(), "no copy in a file");

    // A restart finds the login in the keyring.
    daemon.stop();
    daemon.launch().await;
    let mut client = daemon.connect().await;
    client
        .wait_for(Duration::from_secs(10), logged_in_as_alice)
        .await;

    // Logging out forgets it there too.
    assert_eq!(
        client.request(Request::Logout(NoArgs {})).await,
        Ok(Reply::Done)
    );
    assert!(bus.keyring().is_empty(), "{:?}", bus.keyring());
    assert!(!daemon.login_file().exists());
}

#[tokio::test]
async fn a_login_kept_in_the_file_moves_into_a_keyring_that_appears() {
    let without = lm_tests::SessionBus::with_notification_server().await;
    let server = server(&[]).await;
    let mut daemon = Daemon::start_logged_out_on_bus(&server.url, &without.address).await;
    log_in(&daemon, &server).await;
    assert!(daemon.login_file().exists(), "no keyring: the file");

    let with = lm_tests::SessionBus::with_keyring().await;
    daemon.stop();
    daemon.move_to_bus(&with.address);
    daemon.launch().await;
    daemon
        .connect()
        .await
        .wait_for(Duration::from_secs(10), logged_in_as_alice)
        .await;
    assert_eq!(with.keyring().len(), 1, "{}", daemon.log());
    assert!(!daemon.login_file().exists(), "moved, not copied");
}

#[tokio::test]
async fn lm_login_shows_the_code_and_waits_for_approval() {
    let server = server(&[]).await;
    let daemon = Daemon::start_logged_out(&server.url).await;
    let mut login = Command::new(lm_tests::binary("lm"))
        .arg("--socket")
        .arg(&daemon.socket)
        .arg("login")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lm login");
    let mut lines = BufReader::new(login.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    // "To log in, open http://127.0.0.1:PORT/device in a browser and enter the code ABCD-EFGH"
    assert!(first.contains(&format!("{}/device", server.url)), "{first}");
    let code = first.rsplit(' ').next().unwrap().to_owned();
    approve(&server, &code).await;
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = login.wait().unwrap();
    assert!(status.success(), "{rest:?}\n{}", daemon.log());
    assert!(
        rest.iter()
            .any(|l| l.contains("logged in as alice (manager, organization acme)")),
        "{rest:?}"
    );
}

/// The whole login as a person does it: `lm login` in the terminal (here: the daemon's login
/// request), the approval page in a real browser.
#[tokio::test]
async fn a_person_approves_the_login_in_a_real_browser() {
    let server = server(&[]).await;
    let daemon = Daemon::start_logged_out(&server.url).await;
    let mut client = daemon.connect().await;
    let Ok(Reply::LoginStarted(prompt)) = client.request(Request::Login(NoArgs {})).await else {
        panic!("login did not start:\n{}", daemon.log());
    };
    let browser = lm_tests::Browser::start().await;
    browser.open(&prompt.verification_uri).await;
    browser
        .type_into("input[name=user_code]", &prompt.user_code.to_lowercase())
        .await;
    browser.type_into("input[name=username]", "alice").await;
    browser
        .type_into("input[name=password]", "not the password")
        .await;
    browser.click("button[value=approve]").await;
    assert!(
        browser
            .text("#error")
            .await
            .contains("Wrong user name or password")
    );

    // The page kept the code; the person corrects the password.
    browser.type_into("input[name=username]", "alice").await;
    browser.type_into("input[name=password]", PASSWORD).await;
    browser.click("button[value=approve]").await;
    let result = browser.text("#result").await;
    assert!(
        result.contains("You approved the login of lm as alice"),
        "{result}"
    );
    let page = browser.source().await;
    assert!(
        page.contains("asked to sign in"),
        "who asked, once signed in: {page}"
    );
    client
        .wait_for(Duration::from_secs(10), logged_in_as_alice)
        .await;
}

/// The same login against the organization's own OpenID provider (a third-party one from
/// npm): lmd finds its endpoints by discovery, the person signs in on the provider's pages
/// in a real browser, and lm-server trusts the provider's tokens.
#[tokio::test]
async fn a_user_logs_in_with_an_external_openid_provider() {
    let provider = lm_tests::OpenIdProvider::start();
    let args = [
        "--rate-limit",
        "0",
        "--issuer",
        provider.issuer.as_str(),
        "--audience",
        "lm",
        "--role-claim",
        "realm_access.roles",
        "--manager-value",
        "lm-manager",
        "--org-claim",
        "org",
    ];
    let server = Server::start_with(Backend::Sqlite, &args).await;
    let daemon =
        Daemon::start_logged_out_with(&server.url, &format!("issuer = \"{}\"\n", provider.issuer))
            .await;
    let mut client = daemon.connect().await;
    let Ok(Reply::LoginStarted(prompt)) = client.request(Request::Login(NoArgs {})).await else {
        panic!("login did not start:\n{}", daemon.log());
    };
    assert!(
        prompt.verification_uri.starts_with(&provider.issuer),
        "the provider's page, not lm-server's: {}",
        prompt.verification_uri
    );

    let browser = lm_tests::Browser::start().await;
    browser.open(&prompt.verification_uri).await;
    browser
        .type_into("input[name=user_code]", &prompt.user_code)
        .await;
    browser.click("button[type=submit]").await;
    // The provider shows the code again and which client asks, then asks who signs in.
    browser.wait_for_page_with(&prompt.user_code).await;
    browser.click("button[autofocus]").await;
    browser.type_into("input[name=login]", "boss-ann").await;
    browser
        .type_into("input[name=password]", "any password")
        .await;
    browser.click("button[type=submit]").await;
    browser.wait_for_page_with("Sign-in Success").await;

    // lmd polls at the provider's interval (5 s), which a `slow_down` answer lengthens by 5 s
    // more: on a loaded machine the login can take two intervals after the sign-in.
    let status = client
        .wait_for(Duration::from_secs(30), |s| {
            s.connection == Connection::Live && s.user.is_some()
        })
        .await;
    let user = status.user.unwrap();
    assert_eq!(
        (user.subject.as_str(), user.org.as_str(), user.role),
        ("boss-ann", "acme", lm_protocol::Role::Manager),
        "who the server says the provider's token is"
    );
}

/// A script's daemon runs on an API key instead of a login: the key says nothing about who
/// holds it, so lmd asks the server (`/v1/me`).
#[tokio::test]
async fn a_daemon_runs_on_an_api_key() {
    let server = server(&[]).await;
    let made = server
        .login("alice")
        .post(
            "/v1/api-keys",
            &serde_json::json!({"label": "build machine"}),
        )
        .await
        .expect(201);
    let daemon = Daemon::start(&server.url, made.body["key"].as_str().unwrap()).await;
    let mut client = daemon.connect().await;
    let status = client
        .wait_for(Duration::from_secs(10), |s| {
            s.connection == Connection::Live && s.licenses == 1
        })
        .await;
    assert_eq!(status.user.map(|u| u.subject), Some("alice".to_owned()));
}
