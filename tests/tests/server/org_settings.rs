//! An organization's settings: everyone reads them, its managers change them (audited), and
//! no other organization sees or changes them.

use lm_tests::{Backend, Server};
use serde_json::json;

async fn managers_set_what_the_organization_defaults_to(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    let bob = server.employee("bob");
    let gus = server.user("gus", "manager", "globex");

    let defaults = bob.get("/v1/org").await.expect(200).body;
    assert_eq!(
        defaults,
        json!({"id": "acme", "name": "acme", "currency": null, "alert_days": [30, 7, 1, 0],
               "self_purchase_max_seats": null, "seat_free_types": []})
    );
    let changed = alice
        .patch_json(
            "/v1/org",
            &json!({"name": "Acme Schools", "currency": "EUR", "alert_days": [1, 14, 60],
                    "self_purchase_max_seats": 5}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(changed["alert_days"], json!([60, 14, 1]), "furthest first");
    assert_eq!(bob.get("/v1/org").await.expect(200).body, changed);
    // null clears; what is absent stays.
    let cleared = alice
        .patch_json("/v1/org", &json!({"currency": null}))
        .await
        .expect(200)
        .body;
    assert_eq!(cleared["currency"], json!(null));
    assert_eq!(cleared["name"], "Acme Schools");

    // Another organization has its own, and cannot touch these.
    assert_eq!(gus.get("/v1/org").await.expect(200).body["name"], "globex");
    gus.patch_json("/v1/org", &json!({"name": "Taken over"}))
        .await
        .expect(200);
    assert_eq!(
        bob.get("/v1/org").await.expect(200).body["name"],
        "Acme Schools"
    );
    bob.patch_json("/v1/org", &json!({"name": "Bob's"}))
        .await
        .expect_problem(403, "only managers");

    for (body, field) in [
        (json!({"alert_days": [7, 7]}), "alert_days"),
        (json!({"alert_days": [400]}), "alert_days"),
        (json!({"currency": "euro"}), "currency"),
        (json!({"name": ""}), "name"),
        (
            json!({"self_purchase_max_seats": 0}),
            "self_purchase_max_seats",
        ),
        (json!({"colour": "red"}), "colour"),
    ] {
        let problem = alice.patch_json("/v1/org", &body).await.expect(422).body;
        assert_eq!(problem["field"], field, "{body}");
    }
    let audit = alice.get("/v1/audit?record=acme").await.expect(200).body;
    let entries = audit["items"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{audit}");
    assert!(entries.iter().all(|e| e["record_type"] == "org"));
}

/// An operator creates and names organizations with the server's CLI; their managers see it.
async fn operators_add_list_and_rename_organizations(backend: Backend) {
    let server = Server::start(backend).await;
    server
        .admin(&["org", "add", "north", "--name", "North School"])
        .expect("org add");
    server.admin(&["org", "add", "acme"]).expect("org add");
    let carol = server.user("carol", "manager", "north");
    let list = server.admin(&["org", "list"]).expect("org list");
    assert_eq!(
        list.lines().collect::<Vec<_>>(),
        [
            "acme\tacme\t0 members\t0 licenses",
            "north\tNorth School\t1 members\t0 licenses"
        ],
        "{list}"
    );
    server
        .admin(&["org", "rename", "north", "North Primary"])
        .expect("org rename");
    assert_eq!(
        carol.get("/v1/org").await.expect(200).body["name"],
        "North Primary"
    );
    let audit = carol.get("/v1/audit?record=north").await.expect(200).body;
    assert_eq!(audit["items"][0]["actor"], "lm-server org", "{audit}");
    let missing = server
        .admin(&["org", "rename", "south", "South"])
        .unwrap_err();
    assert!(
        missing.contains("no organization named `south`"),
        "{missing}"
    );
}

/// An organization goes only once nothing of it remains: the refusal names what does.
async fn an_organization_is_removed_only_when_nothing_remains(backend: Backend) {
    let server = Server::start(backend).await;
    server.admin(&["org", "add", "mistake"]).expect("org add");
    let carol = server.user("carol", "manager", "north");
    carol
        .post("/v1/licenses", &crate::creative_cloud())
        .await
        .expect(201);
    let refused = server.admin(&["org", "remove", "north"]).unwrap_err();
    assert!(
        refused.contains("north still has 1 member, 1 license"),
        "{refused}"
    );
    assert_eq!(carol.get("/v1/org").await.expect(200).body["id"], "north");
    server
        .admin(&["org", "remove", "mistake"])
        .expect("org remove");
    let list = server.admin(&["org", "list"]).expect("org list");
    assert!(!list.contains("mistake"), "{list}");
    let missing = server.admin(&["org", "remove", "mistake"]).unwrap_err();
    assert!(
        missing.contains("no organization named `mistake`"),
        "{missing}"
    );
}

crate::on_both_databases!(
    an_organization_is_removed_only_when_nothing_remains,
    managers_set_what_the_organization_defaults_to,
    operators_add_list_and_rename_organizations,
);
