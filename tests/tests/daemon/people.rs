//! The organization's people through lmd and `lm people`: members reach the cache through
//! the change feed and are listed from it, also offline; a manager invites, changes a role,
//! offboards and sets the organization's alert days from the terminal, without a shell on
//! the server; an employee's daemon knows only themselves and may change nothing.

use crate::server_with;
use lm_protocol::socket::MemberDetail;
use lm_protocol::{Member, MemberStatus, Offboarding, Org, Role};
use lm_tests::Daemon;
use serde_json::json;
use std::time::{Duration, Instant};

/// `name role status licenses` of every member `lm people ls --json` lists.
fn people(daemon: &Daemon, filter: &[&str]) -> Vec<String> {
    let mut args = vec!["people", "ls", "--json"];
    args.extend(filter);
    let members: Vec<Member> = daemon.lm_json(&args);
    members
        .iter()
        .map(|m| format!("{} {} {} {}", m.name, m.role.as_str(), m.status, m.licenses))
        .collect()
}

/// Waits until `lm people ls` lists `expected`.
async fn until_people(daemon: &Daemon, filter: &[&str], expected: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let listed = people(daemon, filter);
        if listed == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "listed {listed:?}, not {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_manager_runs_the_organization_from_the_terminal_and_reads_it_offline() {
    let (mut server, token) = server_with(0).await;
    let alice = server.login("alice");
    server.user("bob", "employee", "acme");
    let in_20_days = (chrono::Utc::now().date_naive() + chrono::Days::new(20)).to_string();
    let license = alice
        .post(
            "/v1/licenses",
            &json!({
                "product": "adobe-cc", "name": "Creative Cloud", "kind": "subscription",
                "vendor": "Adobe", "cost": {"amount": 59900, "currency": "EUR"}, "seats": 5,
                "expires": in_20_days,
            }),
        )
        .await
        .expect(201);
    let id = license.body["id"].as_str().unwrap();
    alice
        .post(
            &format!("/v1/licenses/{id}/assignments"),
            &json!({"employee": "bob"}),
        )
        .await
        .expect(201);
    let daemon = Daemon::start(&server.url, &token).await;
    daemon.connect().await.wait_live().await;
    until_people(
        &daemon,
        &[],
        &["alice manager active 0", "bob employee active 1"],
    )
    .await;

    let invited: serde_json::Value =
        daemon.lm_json(&["people", "invite", "carol", "--role", "manager", "--json"]);
    assert!(
        invited["link"].as_str().unwrap().contains("/invite/"),
        "{invited}"
    );
    assert_eq!(
        people(&daemon, &["status:invited"]),
        ["carol manager invited 0"],
        "listed as soon as the command returns"
    );
    let promoted: Member = daemon.lm_json(&["people", "role", "bob", "manager", "--json"]);
    assert_eq!(promoted.role, Role::Manager);

    let preview: Offboarding =
        daemon.lm_json(&["people", "offboard", "bob", "--dry-run", "--json"]);
    assert_eq!((preview.released.len(), preview.dry_run), (1, true));
    let done: Offboarding = daemon.lm_json(&["people", "offboard", "bob", "--json"]);
    assert_eq!(
        done.released, preview.released,
        "the dry run said exactly this"
    );
    let bob: MemberDetail = daemon.lm_json(&["people", "show", "bob", "--json"]);
    assert_eq!(bob.member.status, MemberStatus::Disabled);
    assert!(bob.holdings.is_empty(), "{bob:?}");

    let alerts: serde_json::Value = daemon.lm_json(&["alerts", "--json"]);
    assert_eq!(alerts["total"], 1, "30 days ahead by default: {alerts}");
    let org: Org = daemon.lm_json(&["org", "set", "--alert-days", "14,1", "--json"]);
    assert_eq!(org.alert_days, [14, 1]);
    let alerts: serde_json::Value = daemon.lm_json(&["alerts", "--json"]);
    assert_eq!(
        alerts["total"], 0,
        "the organization's days, 14 at most: {alerts}"
    );
    let shown = daemon.lm(&["org", "show"]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("14, 1"));

    assert!(server.stop(), "the server stops cleanly");
    assert_eq!(
        people(&daemon, &["role:manager"]),
        [
            "alice manager active 0",
            "bob manager disabled 0",
            "carol manager invited 0"
        ],
        "read from the cache while the server is away"
    );
    let refused = daemon.lm(&["people", "invite", "dave"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("offline")
            || String::from_utf8_lossy(&refused.stderr).contains("unreachable"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

#[tokio::test]
async fn an_employees_daemon_knows_only_themselves_and_may_change_nobody() {
    let (server, _) = server_with(0).await;
    let token = server.token("eve", "employee", "acme");
    server.user("fred", "employee", "acme");
    let daemon = Daemon::start(&server.url, &token).await;
    daemon.connect().await.wait_live().await;
    until_people(&daemon, &[], &["eve employee active 0"]).await;
    let refused = daemon.lm(&["people", "role", "fred", "manager"]);
    assert_eq!(refused.status.code(), Some(4), "not allowed");
    let refused = daemon.lm(&["people", "invite", "mallory"]);
    assert_eq!(refused.status.code(), Some(4), "not allowed");
    let unknown = daemon.lm(&["people", "show", "fred"]);
    assert_eq!(unknown.status.code(), Some(1));
}
