//! Items 1, 2, 3, 5 and 9: add, update with optimistic concurrency, soft remove and restore,
//! assignments within the seat count, and product keys for managers only.

use super::{create, creative_cloud, list_all, with};
use lm_tests::{Backend, Server};
use serde_json::json;

async fn add_license(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    let reply = alice
        .post("/v1/licenses", &creative_cloud())
        .await
        .expect(201);
    let id = reply.body["id"].as_str().expect("id").to_owned();
    assert_eq!(
        reply.header("location"),
        Some(format!("/v1/licenses/{id}").as_str())
    );
    assert_eq!(reply.header("etag"), Some("\"1\""));
    let got = alice
        .get(&format!("/v1/licenses/{id}"))
        .await
        .expect(200)
        .body;
    assert_eq!(got, reply.body);
    assert_eq!(got["cost"], json!({"amount": 59900, "currency": "EUR"}));
    assert_eq!(got["seats"], 10);
    assert_eq!(got["seats_used"], 0);
    assert_eq!(got["expires"], "2027-01-14");
    assert_eq!(got["key"], "XXXX-YYYY-ZZZZ");
    assert_eq!(got["version"], 1);
    // An answer that carries a product key is kept by no cache on the way.
    for path in [
        format!("/v1/licenses/{id}"),
        "/v1/licenses".into(),
        "/v1/changes".into(),
    ] {
        let answer = alice.get(&path).await.expect(200);
        assert_eq!(answer.header("cache-control"), Some("no-store"), "{path}");
    }

    // `added` defaults to today; optional fields may be left out.
    let minimal = with(
        creative_cloud(),
        json!({"added": null, "expires": null, "seats": null, "key": null, "notes": null}),
    );
    let created = create(&alice, minimal).await;
    assert_eq!(
        created["added"],
        chrono::Utc::now().date_naive().to_string()
    );
    assert!(created["expires"].is_null() && created["seats"].is_null());
}

async fn add_license_names_the_bad_field(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    // A body is an object: serde would read a struct from an array of its fields, and a
    // product PATCH of `[null, null]` once answered 200 (found by Schemathesis).
    for body in ["[null, null]", "[]", "\"x\"", "3"] {
        let reply = alice
            .post_bytes("/v1/licenses", "application/json", body.into())
            .await
            .expect(422);
        assert_eq!(reply.body["field"], "body", "{body}");
    }
    let cases = [
        (
            json!({"cost": {"amount": 100, "currency": "EURO"}}),
            "cost.currency",
        ),
        (
            json!({"cost": {"amount": -5, "currency": "EUR"}}),
            "cost.amount",
        ),
        (
            json!({"cost": {"amount": 1.5, "currency": "EUR"}}),
            "cost.amount",
        ),
        (json!({"seats": 0}), "seats"),
        (json!({"expires": "2025-01-01"}), "expires"),
        (json!({"expires": "next year"}), "expires"),
        (json!({"name": null}), "name"),
        (json!({"name": "   "}), "name"),
        (json!({"kind": "Not a kind!"}), "kind"),
        (json!({"colour": "red"}), "colour"),
        (
            json!({"assignments": [{"employee": "bob"}, {"employee": "bob"}]}),
            "assignments[1]",
        ),
    ];
    for (change, field) in cases {
        let reply = alice
            .post("/v1/licenses", &with(creative_cloud(), change.clone()))
            .await;
        let reply = reply.expect_problem(422, field);
        assert_eq!(reply.body["field"], field, "{change}");
        assert_eq!(reply.body["type"], "urn:lm:problem:validation");
    }
    let not_json = alice
        .send(
            reqwest::Method::POST,
            "/v1/licenses",
            None,
            &[("content-type", "text/plain")],
        )
        .await;
    not_json.expect(415);
    assert!(
        list_all(&alice, "").await.is_empty(),
        "nothing is half-written"
    );
}

async fn update_requires_the_current_version(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    let bob = server.manager("bob");
    let license = create(&alice, creative_cloud()).await;
    let path = format!("/v1/licenses/{}", license["id"].as_str().unwrap());

    // Both managers read version 1; alice saves first, bob's save is refused.
    let saved = alice
        .patch(
            &path,
            1,
            &json!({"seats": 12, "notes": "12 seats from March"}),
        )
        .await
        .expect(200);
    assert_eq!(saved.body["version"], 2);
    assert_eq!(saved.header("etag"), Some("\"2\""));
    let stale = bob.patch(&path, 1, &json!({"seats": 5})).await;
    let stale = stale.expect_problem(412, "version 2");
    assert_eq!(stale.body["type"], "urn:lm:problem:stale-version");
    let now = alice.get(&path).await.expect(200).body;
    assert_eq!(now["seats"], 12, "the stale write changed nothing");
    assert_eq!(now["version"], 2);

    // Without If-Match the server does not guess.
    let blind = bob
        .send(
            reqwest::Method::PATCH,
            &path,
            Some(&json!({"seats": 5})),
            &[],
        )
        .await;
    blind.expect_problem(428, "If-Match");

    // null clears an optional field; absent fields stay.
    let cleared = bob
        .patch(&path, 2, &json!({"expires": null}))
        .await
        .expect(200)
        .body;
    assert!(cleared["expires"].is_null());
    assert_eq!(cleared["seats"], 12);

    // Server-owned fields and empty patches are refused.
    bob.patch(&path, 3, &json!({"version": 9}))
        .await
        .expect_problem(422, "version");
    bob.patch(&path, 3, &json!({}))
        .await
        .expect_problem(422, "no field");
    bob.patch(&path, 3, &json!({"expires": "2020-01-01"}))
        .await
        .expect_problem(422, "expires");
}

async fn remove_is_soft_and_restorable(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    let eve = server.employee("eve");
    let body = with(
        creative_cloud(),
        json!({"assignments": [{"employee": "bob"}]}),
    );
    let license = create(&alice, body).await;
    let id = license["id"].as_str().unwrap();
    let path = format!("/v1/licenses/{id}");

    alice.delete(&path).await.expect(204);
    alice.get(&path).await.expect(404);
    assert!(
        list_all(&alice, "").await.is_empty(),
        "removed licenses leave every listing"
    );
    assert!(list_all(&alice, "employee=bob").await.is_empty());
    let removed = list_all(&alice, "deleted=true").await;
    assert_eq!(removed.len(), 1, "managers can find what was removed");
    eve.get("/v1/licenses?deleted=true").await.expect(403);
    alice.delete(&path).await.expect(404);

    let restored = alice
        .post(&format!("{path}/restore"), &json!({}))
        .await
        .expect(200)
        .body;
    assert_eq!(
        restored["assignments"][0]["employee"], "bob",
        "assignments survive a removal"
    );
    assert_eq!(restored["key"], "XXXX-YYYY-ZZZZ");
    assert_eq!(list_all(&alice, "").await.len(), 1);
    alice
        .post(&format!("{path}/restore"), &json!({}))
        .await
        .expect_problem(409, "not removed");

    // A stale If-Match protects removals too.
    let version = restored["version"].as_i64().unwrap();
    alice
        .send(
            reqwest::Method::DELETE,
            &path,
            None,
            &[("if-match", &format!("\"{}\"", version - 1))],
        )
        .await
        .expect(412);
}

async fn assignments_respect_the_seat_count(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    let license = create(&alice, with(creative_cloud(), json!({"seats": 2}))).await;
    let path = format!(
        "/v1/licenses/{}/assignments",
        license["id"].as_str().unwrap()
    );

    let one = alice
        .post(&path, &json!({"employee": "bob"}))
        .await
        .expect(201)
        .body;
    assert_eq!(one["seats_used"], 1);
    let two = alice
        .post(&path, &json!({"device": "LAPTOP-7"}))
        .await
        .expect(201)
        .body;
    assert_eq!(two["seats_used"], 2);
    let assignments = two["assignments"].as_array().unwrap();
    assert_eq!(assignments[1]["device"], "LAPTOP-7");

    let full = alice.post(&path, &json!({"employee": "carol"})).await;
    let full = full.expect_problem(409, "0 of 2 seats are free");
    assert_eq!(full.body["type"], "urn:lm:problem:no-free-seat");
    alice
        .post(&path, &json!({"employee": "bob"}))
        .await
        .expect(409);
    alice
        .post(&path, &json!({"person": "bob"}))
        .await
        .expect(422);
    alice
        .post(&path, &json!({"employee": "bob", "device": "X"}))
        .await
        .expect(422);

    let bob_assignment = assignments[0]["id"].as_str().unwrap();
    let freed = alice
        .delete(&format!("{path}/{bob_assignment}"))
        .await
        .expect(200)
        .body;
    assert_eq!(freed["seats_used"], 1);
    alice
        .delete(&format!("{path}/{bob_assignment}"))
        .await
        .expect(404);
    alice
        .post(&path, &json!({"employee": "carol"}))
        .await
        .expect(201);

    // Fewer seats than are in use is refused.
    let license_path = format!("/v1/licenses/{}", license["id"].as_str().unwrap());
    let current = alice.get(&license_path).await.expect(200).body;
    let version = current["version"].as_i64().unwrap();
    alice
        .patch(&license_path, version, &json!({"seats": 1}))
        .await
        .expect_problem(422, "fewer than the 2 already in use");
}

async fn concurrent_assignments_never_exceed_the_seats(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    let license = create(&alice, with(creative_cloud(), json!({"seats": 5}))).await;
    let path = format!(
        "/v1/licenses/{}/assignments",
        license["id"].as_str().unwrap()
    );
    let attempts = (0..24).map(|i| {
        let (client, path) = (alice.clone(), path.clone());
        tokio::spawn(async move {
            client
                .post(&path, &json!({"employee": format!("user{i}")}))
                .await
                .status
        })
    });
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        5,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    let now = alice
        .get(&format!("/v1/licenses/{}", license["id"].as_str().unwrap()))
        .await
        .expect(200)
        .body;
    assert_eq!(now["seats_used"], 5);
    assert_eq!(now["assignments"].as_array().unwrap().len(), 5);
}

async fn employees_read_everything_but_product_keys(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    let eve = server.employee("eve");
    let license = create(&alice, creative_cloud()).await;
    let path = format!("/v1/licenses/{}", license["id"].as_str().unwrap());

    let seen = eve.get(&path).await.expect(200).body;
    assert!(
        seen.get("key").is_none(),
        "employees never see the key: {seen}"
    );
    assert_eq!(seen["name"], license["name"]);
    let listed = eve.get("/v1/licenses").await.expect(200);
    assert!(!listed.text.contains("XXXX-YYYY-ZZZZ"));
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(alice.get(&path).await.body["key"], "XXXX-YYYY-ZZZZ");
}

crate::on_both_databases!(
    add_license,
    add_license_names_the_bad_field,
    update_requires_the_current_version,
    remove_is_soft_and_restorable,
    assignments_respect_the_seat_count,
    concurrent_assignments_never_exceed_the_seats,
    employees_read_everything_but_product_keys,
);
