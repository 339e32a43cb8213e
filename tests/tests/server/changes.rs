//! The change feed: a client that follows it from 0, in pages, while writes go on, ends with
//! exactly the server's current set — no missed update, no resurrected removal.

use super::{create, creative_cloud, list_all, with};
use lm_protocol::{Change, ChangePage, License};
use lm_tests::{Backend, Client, Server};
use serde_json::json;
use std::collections::BTreeMap;

/// Applies feed pages from `after` until the feed says nothing more is waiting.
async fn follow(
    client: &Client,
    replica: &mut BTreeMap<String, License>,
    mut after: i64,
    limit: u32,
) -> i64 {
    loop {
        let page: ChangePage = client
            .get(&format!("/v1/changes?after={after}&limit={limit}"))
            .await
            .expect(200)
            .json();
        for change in &page.changes {
            assert!(change.revision() > after, "revisions only grow");
            after = change.revision();
            match change {
                Change::Upsert { license, .. } => {
                    replica.insert(license.id.to_string(), (**license).clone())
                }
                Change::Delete { id, .. } => replica.remove(id.as_str()),
            };
        }
        assert!(page.next >= after, "the cursor never moves back");
        after = page.next;
        if !page.more {
            assert_eq!(page.next, page.head, "the last page ends at the head");
            return after;
        }
    }
}

fn versions(licenses: impl IntoIterator<Item = License>) -> BTreeMap<String, i64> {
    licenses
        .into_iter()
        .map(|l| (l.id.to_string(), l.version))
        .collect()
}

async fn feed_followed_during_writes_ends_with_the_inventory(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    server
        .admin(&["seed", "--org", "acme", "--licenses", "200"])
        .expect("seed");
    let seeded = list_all(&alice, "").await;

    // Two managers write while a third client pages through the feed.
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let client = alice.clone();
            let mine: Vec<License> = seeded.iter().skip(w * 40).take(40).cloned().collect();
            tokio::spawn(async move {
                for (i, license) in mine.iter().enumerate() {
                    let path = format!("/v1/licenses/{}", license.id);
                    match i % 4 {
                        0 => client.delete(&path).await.expect(204),
                        1 => client
                            .patch(
                                &path,
                                license.version,
                                &json!({"notes": format!("touched by {w}")}),
                            )
                            .await
                            .expect(200),
                        2 => {
                            client
                                .post(
                                    &format!("{path}/assignments"),
                                    &json!({"device": format!("W{w}-{i}")}),
                                )
                                .await
                        }
                        _ => client
                            .post(
                                "/v1/licenses",
                                &with(creative_cloud(), json!({"name": format!("new {w}-{i}")})),
                            )
                            .await
                            .expect(201),
                    };
                }
            })
        })
        .collect();

    let mut replica = BTreeMap::new();
    let mut after = 0;
    while writers.iter().any(|w| !w.is_finished()) {
        after = follow(&alice, &mut replica, after, 17).await;
    }
    for writer in writers {
        writer.await.unwrap();
    }
    follow(&alice, &mut replica, after, 17).await;
    assert_eq!(
        versions(replica.into_values()),
        versions(list_all(&alice, "").await)
    );
}

async fn feed_shows_removals_and_hides_keys_from_employees(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    let eve = server.employee("eve");
    let kept = create(&alice, creative_cloud()).await;
    let removed = create(&alice, creative_cloud()).await;
    alice
        .delete(&format!("/v1/licenses/{}", removed["id"].as_str().unwrap()))
        .await
        .expect(204);

    let page: ChangePage = eve.get("/v1/changes?after=0").await.expect(200).json();
    assert!(!page.more);
    assert_eq!(page.head, page.next);
    let ops: Vec<_> = page
        .changes
        .iter()
        .map(|c| serde_json::to_value(c).unwrap()["op"].clone())
        .collect();
    assert_eq!(ops, [json!("upsert"), json!("delete")]);
    match &page.changes[0] {
        Change::Upsert { license, .. } => {
            assert_eq!(license.id.as_str(), kept["id"].as_str().unwrap());
            assert!(
                license.key.is_none(),
                "employees never see product keys, in the feed either"
            );
        }
        other => panic!("expected an upsert, got {other:?}"),
    }
    let manager_view: ChangePage = alice.get("/v1/changes").await.expect(200).json();
    assert!(
        matches!(&manager_view.changes[0], Change::Upsert { license, .. } if license.key.is_some())
    );

    let caught_up: ChangePage = eve
        .get(&format!("/v1/changes?after={}", page.next))
        .await
        .expect(200)
        .json();
    assert!(caught_up.changes.is_empty() && !caught_up.more && caught_up.next == page.next);

    for (query, field) in [
        ("after=-1", "after"),
        // Beyond the head: once answered with that number as the head revision.
        ("after=9007199254740991", "after"),
        ("limit=0", "limit"),
        ("since=3", "since"),
    ] {
        eve.get(&format!("/v1/changes?{query}"))
            .await
            .expect_problem(422, field);
    }
    server.client(None).get("/v1/changes").await.expect(401);
    let other = server.user("gus", "manager", "globex");
    let foreign: ChangePage = other.get("/v1/changes").await.expect(200).json();
    assert!(
        foreign.changes.is_empty(),
        "another organization's feed is empty"
    );
}

async fn cursors_older_than_purged_removals_must_resync(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    let kept = create(&alice, creative_cloud()).await;
    let doomed = create(&alice, creative_cloud()).await;
    let mut replica = BTreeMap::new();
    let before_removal = follow(&alice, &mut replica, 0, 100).await;
    assert_eq!(replica.len(), 2);

    // A manager removes a license; it stays restorable until the retention purges it.
    alice
        .delete(&format!("/v1/licenses/{}", doomed["id"].as_str().unwrap()))
        .await
        .expect(204);
    let purged = server
        .admin(&["purge", "--older-than", "0s"])
        .expect("purge");
    assert!(purged.is_empty(), "purge reports on stderr");
    alice
        .post(
            &format!("/v1/licenses/{}/restore", doomed["id"].as_str().unwrap()),
            &json!({}),
        )
        .await
        .expect(404);

    // A follower whose cursor predates the purged removal could have missed it: 410.
    let gone = alice
        .get(&format!("/v1/changes?after={before_removal}"))
        .await
        .expect_problem(410, "resync from 0");
    assert_eq!(gone.body["type"], "urn:lm:problem:feed-expired");
    assert_eq!(gone.body["field"], "after");

    // Resyncing from 0 gives exactly the live set; cursors past the purge keep working.
    let mut fresh = BTreeMap::new();
    let head = follow(&alice, &mut fresh, 0, 100).await;
    assert_eq!(
        fresh.keys().collect::<Vec<_>>(),
        vec![kept["id"].as_str().unwrap()]
    );
    alice
        .get(&format!("/v1/changes?after={head}"))
        .await
        .expect(200);
    let audit = alice
        .get(&format!(
            "/v1/audit?record={}&action=delete",
            doomed["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        audit.body["items"].as_array().unwrap().len(),
        1,
        "the audit log keeps the removal"
    );
}

crate::on_both_databases!(
    cursors_older_than_purged_removals_must_resync,
    feed_followed_during_writes_ends_with_the_inventory,
    feed_shows_removals_and_hides_keys_from_employees,
);
