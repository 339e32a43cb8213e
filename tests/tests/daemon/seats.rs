//! Seat redemption through lmd: after login the daemon asks for the user's permissions (which
//! takes a seat), keeps the signed grant, and answers `permissions` from it while the server
//! is away — also after a restart.

use crate::server_with;
use lm_protocol::socket::{Connection, HeldPermissions, NoArgs, Reply, Request};
use lm_tests::fixtures::{buy, id, school};
use lm_tests::{Client, Daemon, SocketClient, binary};
use serde_json::json;
use std::time::{Duration, Instant};

/// The test school (see `lm_tests::fixtures::school`: ada and bob in class 4b), and one seat
/// of `fractions` for class 4b; the license.
async fn one_seat_for_class_4b(manager: &Client) -> String {
    school(manager).await;
    id(&buy(manager, "class", &["4b"], 1, "2099-12-31").await).to_owned()
}

async fn permissions(client: &mut SocketClient) -> HeldPermissions {
    match client.request(Request::Permissions(NoArgs {})).await {
        Ok(Reply::Permissions(held)) => held,
        other => panic!("permissions: {other:?}"),
    }
}

#[tokio::test]
async fn the_daemon_takes_a_seat_after_login_and_answers_from_its_grant_offline() {
    let (mut server, _) = server_with(0).await;
    let manager = server.user("carol", "manager", "acme");
    let license = one_seat_for_class_4b(&manager).await;
    let mut daemon = Daemon::start(&server.url, &server.token("ada", "employee", "acme")).await;
    let mut client = daemon.connect().await;
    client.wait_live().await;

    // Nobody asked yet: the daemon redeems ada's seat by itself once logged in.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let held = manager
            .get(&format!("/v1/licenses/{license}"))
            .await
            .expect(200)
            .body;
        if held["seats_used"] == 1 {
            assert_eq!(held["assignments"][0]["employee"], "ada");
            break;
        }
        assert!(Instant::now() < deadline, "no seat taken: {held}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let online = permissions(&mut client).await;
    assert!(!online.offline);
    assert_eq!(online.permissions.user.as_str(), "ada");
    let granted: Vec<&str> = online
        .permissions
        .permissions
        .iter()
        .map(|p| p.as_str())
        .collect();
    assert_eq!(granted, ["book:fractions:read", "full_access"]);
    assert_eq!(online.permissions.products[0].license.as_str(), license);
    // The one seat is ada's: bob, asking the server himself, is refused with the reason.
    let bob = server.user("bob", "employee", "acme");
    let refused = bob.get("/v1/users/bob/permissions").await.expect(200).body;
    assert_eq!(refused["permissions"], json!([]));
    assert!(
        refused["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("all 1 seats"),
        "{refused}"
    );

    // The server goes away: the kept grant answers, marked offline.
    assert!(server.stop());
    client
        .wait_for(Duration::from_secs(10), |s| {
            matches!(s.connection, Connection::Offline { .. })
        })
        .await;
    let offline = permissions(&mut client).await;
    assert!(offline.offline);
    assert_eq!(offline.permissions, online.permissions);
    assert_eq!(offline.fetched_at, online.fetched_at);

    // …also after lmd restarts while the server is still away, and through `lm permissions`.
    assert!(daemon.stop());
    daemon.launch().await;
    let mut client = daemon.connect().await;
    let again = permissions(&mut client).await;
    assert!(again.offline);
    assert_eq!(again.permissions.grant, online.permissions.grant);
    let cli = std::process::Command::new(binary("lm"))
        .args(["--socket", &daemon.socket.to_string_lossy(), "permissions"])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&cli.stdout);
    assert!(
        cli.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert!(printed.contains("book:fractions:read"), "{printed}");
    assert!(printed.contains("through (class)(4b)"), "{printed}");
    assert!(printed.contains("the grant kept since"), "{printed}");
}

#[tokio::test]
async fn a_grant_edited_in_the_cache_is_not_served() {
    let (mut server, _) = server_with(0).await;
    let manager = server.user("carol", "manager", "acme");
    one_seat_for_class_4b(&manager).await;
    let mut daemon = Daemon::start(&server.url, &server.token("ada", "employee", "acme")).await;
    let mut client = daemon.connect().await;
    client.wait_live().await;
    let online = permissions(&mut client).await;
    assert!(!online.offline);
    assert!(server.stop());
    assert!(daemon.stop());

    // Someone with the user's files swaps the grant's claims for richer ones.
    let grant = &online.permissions.grant;
    let mut parts: Vec<&str> = grant.split('.').collect();
    let claims = base64_url(
        &serde_json::to_vec(&json!({
            "iss": "x", "sub": "ada", "org": "acme", "iat": 0, "exp": 4_102_444_800_i64,
            "products": ["fractions"], "permissions": ["book:fractions:read", "admin"],
        }))
        .unwrap(),
    );
    parts[1] = &claims;
    let forged = parts.join(".");
    let mut kept: serde_json::Value = {
        let db = sled::open(&daemon.cache_dir).unwrap();
        let value = db.get("meta/grant").unwrap().expect("a kept grant");
        serde_json::from_slice(&value).unwrap()
    };
    kept["permissions"]["grant"] = json!(forged);
    kept["permissions"]["permissions"] = json!(["book:fractions:read", "admin"]);
    {
        let db = sled::open(&daemon.cache_dir).unwrap();
        db.insert("meta/grant", serde_json::to_vec(&kept).unwrap())
            .unwrap();
        db.flush().unwrap();
    }

    daemon.launch().await;
    let mut client = daemon.connect().await;
    let refused = client
        .request(Request::Permissions(NoArgs {}))
        .await
        .expect_err("a forged grant is no grant");
    assert_eq!(refused.kind, "urn:lm:problem:offline");
    assert!(
        refused.detail.contains("cannot be used"),
        "{}",
        refused.detail
    );
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
