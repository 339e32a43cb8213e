//! Item 7: every change is audited in its own transaction, and the "rogue manager" story is
//! answerable: who removed what, and a restore puts it back.

use super::{create, creative_cloud, list_all};
use lm_protocol::{AuditEntry, Page};
use lm_tests::{Backend, Server};
use serde_json::json;

async fn every_change_is_audited(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    let created = alice
        .post("/v1/licenses", &creative_cloud())
        .await
        .expect(201);
    let create_request = created.header("x-request-id").unwrap().to_owned();
    let id = created.body["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/licenses/{id}");
    alice
        .patch(&path, 1, &json!({"key": "NEW-KEY-0001"}))
        .await
        .expect(200);
    let assigned = alice
        .post(&format!("{path}/assignments"), &json!({"employee": "bob"}))
        .await
        .expect(201)
        .body;
    let assignment = assigned["assignments"][0]["id"].as_str().unwrap();
    alice
        .delete(&format!("{path}/assignments/{assignment}"))
        .await
        .expect(200);
    alice.delete(&path).await.expect(204);
    alice
        .post(&format!("{path}/restore"), &json!({}))
        .await
        .expect(200);

    let log: Page<AuditEntry> = alice
        .get(&format!("/v1/audit?record={id}"))
        .await
        .expect(200)
        .json();
    let actions: Vec<_> = log.items.iter().rev().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "create", "update", "assign", "unassign", "delete", "restore"
        ]
    );
    for entry in &log.items {
        assert_eq!(entry.actor, "alice");
        assert_eq!(entry.record_type, "license");
        assert_eq!(entry.client_addr.as_deref(), Some("127.0.0.1"));
        assert!(entry.request_id.is_some());
    }
    let first = log.items.last().unwrap();
    assert_eq!(
        first.request_id.as_deref(),
        Some(create_request.as_str()),
        "the audit names the request"
    );
    assert!(first.before.is_none());
    assert_eq!(
        first.after.as_ref().unwrap()["name"],
        "Creative Cloud, design team"
    );

    // The update shows before and after, with keys fingerprinted rather than revealed.
    let update = &log.items[log.items.len() - 2];
    let (before_key, after_key) = (
        &update.before.as_ref().unwrap()["key"],
        &update.after.as_ref().unwrap()["key"],
    );
    assert!(before_key.as_str().unwrap().starts_with("sha256:"));
    assert_ne!(
        before_key, after_key,
        "a changed key is visible as a changed fingerprint"
    );
    let raw = alice.get("/v1/audit").await.text;
    assert!(
        !raw.contains("XXXX-YYYY-ZZZZ") && !raw.contains("NEW-KEY-0001"),
        "keys never reach the log"
    );
    let removal = &log.items[1];
    assert!(removal.before.is_some() && removal.after.is_none());
}

async fn audit_log_filters(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    let bob = server.manager("bob");
    let started = chrono::Utc::now() - chrono::Duration::seconds(1);
    let a = create(&alice, creative_cloud()).await;
    let b = create(&bob, creative_cloud()).await;
    bob.delete(&format!("/v1/licenses/{}", a["id"].as_str().unwrap()))
        .await
        .expect(204);

    let count = |path: String| {
        let alice = alice.clone();
        async move {
            alice.get(&path).await.expect(200).body["items"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(count("/v1/audit".into()).await, 3);
    assert_eq!(count("/v1/audit?actor=bob".into()).await, 2);
    assert_eq!(count("/v1/audit?action=delete".into()).await, 1);
    assert_eq!(
        count(format!("/v1/audit?record={}", b["id"].as_str().unwrap())).await,
        1
    );
    let from = started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(count(format!("/v1/audit?from={from}")).await, 3);
    assert_eq!(count("/v1/audit?to=2000-01-01T00:00:00Z".into()).await, 0);
    let first: Page<AuditEntry> = alice.get("/v1/audit?limit=2").await.expect(200).json();
    let rest: Page<AuditEntry> = alice
        .get(&format!("/v1/audit?limit=2&cursor={}", first.next.unwrap()))
        .await
        .expect(200)
        .json();
    assert_eq!(rest.items.len(), 1);
    assert!(rest.next.is_none());
    alice
        .get("/v1/audit?action=explode")
        .await
        .expect_problem(422, "action");
    alice
        .get("/v1/audit?from=yesterday")
        .await
        .expect_problem(422, "from");
}

async fn rogue_manager_removals_are_traced_and_restored(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    let mallory = server.manager("mallory");
    server
        .admin(&["seed", "--org", "acme", "--licenses", "40"])
        .expect("seed");
    let before = list_all(&alice, "").await;
    for license in before.iter().take(25) {
        mallory
            .delete(&format!("/v1/licenses/{}", license.id))
            .await
            .expect(204);
    }
    assert_eq!(list_all(&alice, "").await.len(), 15);

    // Who removed what?
    let log: Page<AuditEntry> = alice
        .get("/v1/audit?actor=mallory&action=delete&limit=1000")
        .await
        .expect(200)
        .json();
    assert_eq!(log.items.len(), 25);
    for entry in &log.items {
        alice
            .post(
                &format!("/v1/licenses/{}/restore", entry.record_id),
                &json!({}),
            )
            .await
            .expect(200);
    }
    let after = list_all(&alice, "").await;
    let ids = |v: &[lm_protocol::License]| {
        let mut ids: Vec<_> = v.iter().map(|l| l.id.to_string()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&after), ids(&before), "every removed license is back");
    let restores: Page<AuditEntry> = alice
        .get("/v1/audit?actor=alice&action=restore&limit=1000")
        .await
        .expect(200)
        .json();
    assert_eq!(restores.items.len(), 25);
}

crate::on_both_databases!(
    every_change_is_audited,
    audit_log_filters,
    rogue_manager_removals_are_traced_and_restored
);
