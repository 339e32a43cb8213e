//! The people of an organization, administered through the API: managers list members with
//! what they hold, change roles and status (never leaving the organization without an active
//! manager), and offboard leavers — releasing everything they hold, atomically, with a dry
//! run that says exactly what will happen.

use super::{create, creative_cloud, with};
use lm_tests::fixtures::{buy, id, permissions, school_server};
use lm_tests::{Backend, Client, Server};
use serde_json::{Value, json};

fn names(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect()
}

/// Assigns license `license` to `who`.
async fn assign(manager: &Client, license: &str, who: &str) {
    manager
        .post(
            &format!("/v1/licenses/{license}/assignments"),
            &json!({"employee": who}),
        )
        .await
        .expect(201);
}

async fn managers_see_members_with_what_they_hold(backend: Backend) {
    let (server, alice) = school_server(backend).await;
    let ada = server.employee("ada");
    server.employee("bob");
    server.employee("Annika");
    let seats = buy(&alice, "class", &["4b"], 5, "2099-12-31").await;
    permissions(&alice, "ada").await;
    let office = create(&alice, with(creative_cloud(), json!({"seats": 5}))).await;
    assign(&alice, id(&office), "ada").await;

    let all = alice.get("/v1/members").await.expect(200).body;
    assert_eq!(
        names(&all)[..],
        ["Annika", "ada", "alice", "bob"][..],
        "{all}"
    );
    let ada_member = &all["items"][1];
    assert_eq!(ada_member["role"], "employee");
    assert_eq!(ada_member["status"], "active");
    assert_eq!(
        (ada_member["licenses"].clone(), ada_member["seats"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(ada_member["second_factor"], false);
    assert!(id(&seats).len() > 10);

    let managers = alice.get("/v1/members?role=manager").await.expect(200).body;
    assert_eq!(names(&managers), ["alice"]);
    let an = alice.get("/v1/members?q=AN").await.expect(200).body;
    assert_eq!(names(&an), ["Annika"]);
    // A page at a time.
    let first = alice.get("/v1/members?limit=2").await.expect(200).body;
    assert_eq!(names(&first), ["Annika", "ada"]);
    let next = first["next"].as_str().unwrap();
    let second = alice
        .get(&format!("/v1/members?limit=2&cursor={next}"))
        .await
        .expect(200)
        .body;
    assert_eq!(names(&second), ["alice", "bob"]);
    assert_eq!(second["next"], Value::Null);

    // An employee reads their own record, and no one else's.
    assert_eq!(
        ada.get("/v1/members/ada").await.expect(200).body["seats"],
        1
    );
    ada.get("/v1/members/alice")
        .await
        .expect_problem(403, "only managers");
    ada.get("/v1/members")
        .await
        .expect_problem(403, "only managers");
    for bad in ["role=boss", "status=gone", "limit=0", "colour=red"] {
        let field = bad.split('=').next().unwrap();
        let problem = alice
            .get(&format!("/v1/members?{bad}"))
            .await
            .expect(422)
            .body;
        assert_eq!(problem["field"], field, "{bad}");
    }
}

async fn another_organizations_members_are_not_there(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    server.employee("bob");
    let gus = server.user("gus", "manager", "globex");
    let missing = gus.get("/v1/members/nobody").await.expect(404);
    let foreign = gus.get("/v1/members/bob").await.expect(404);
    assert_eq!(foreign.body["detail"], missing.body["detail"]);
    assert_eq!(
        names(&gus.get("/v1/members").await.expect(200).body),
        ["gus"]
    );
    gus.patch_json("/v1/members/bob", &json!({"status": "disabled"}))
        .await
        .expect(404);
    gus.post("/v1/members/bob/offboard", &json!({}))
        .await
        .expect(404);
    gus.post("/v1/members/bob/offboard?dry_run=true", &json!({}))
        .await
        .expect(404);
    assert_eq!(
        alice.get("/v1/members/bob").await.expect(200).body["status"],
        "active",
        "nothing happened to bob"
    );
}

async fn employees_may_not_change_members(backend: Backend) {
    let server = Server::start(backend).await;
    server.manager("alice");
    let bob = server.employee("bob");
    bob.patch_json("/v1/members/alice", &json!({"role": "employee"}))
        .await
        .expect_problem(403, "only managers");
    bob.patch_json("/v1/members/bob", &json!({"role": "manager"}))
        .await
        .expect_problem(403, "only managers");
    bob.post("/v1/members/alice/offboard?dry_run=true", &json!({}))
        .await
        .expect_problem(403, "only managers");
}

async fn the_last_active_manager_stays_one(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    server.employee("bob");
    for change in [json!({"role": "employee"}), json!({"status": "disabled"})] {
        alice
            .patch_json("/v1/members/alice", &change)
            .await
            .expect_problem(409, "last active manager");
    }
    alice
        .post("/v1/members/alice/offboard?dry_run=true", &json!({}))
        .await
        .expect_problem(409, "last active manager");
    // With bob a manager too, alice may step down; then bob is the last.
    let bob = alice
        .patch_json("/v1/members/bob", &json!({"role": "manager"}))
        .await
        .expect(200)
        .body;
    assert_eq!(bob["role"], "manager");
    alice
        .patch_json("/v1/members/alice", &json!({"role": "employee"}))
        .await
        .expect(200);
    let bob = server.login("bob");
    bob.until_status(200).await;
    bob.patch_json("/v1/members/bob", &json!({"status": "disabled"}))
        .await
        .expect_problem(409, "last active manager");

    // Two managers demoting each other at once: one of them stays a manager.
    bob.patch_json("/v1/members/alice", &json!({"role": "manager"}))
        .await
        .expect(200);
    let alice = server.login("alice");
    let step_down = json!({"role": "employee"});
    let (a, b) = tokio::join!(
        alice.patch_json("/v1/members/bob", &step_down),
        bob.patch_json("/v1/members/alice", &step_down),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{} / {}", a.text, b.text);
    let managers = server
        .login("alice")
        .get("/v1/members?role=manager")
        .await
        .body;
    assert_eq!(names(&managers).len(), 1, "{managers}");

    let audit = bob.get("/v1/audit?record=alice").await.expect(200).body;
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["record_type"] == "member"),
        "{audit}"
    );
}

async fn a_disabled_member_is_signed_out_and_can_be_enabled_again(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    let bob = server.employee("bob");
    bob.get("/v1/licenses").await.expect(200);
    let disabled = alice
        .patch_json("/v1/members/bob", &json!({"status": "disabled"}))
        .await
        .expect(200)
        .body;
    assert_eq!(disabled["status"], "disabled");
    bob.until_status(401).await;
    alice
        .patch_json("/v1/members/bob", &json!({"status": "active"}))
        .await
        .expect(200);
    server.login("bob").until_status(200).await;
    for bad in [
        json!({"role": "boss"}),
        json!({"status": 3}),
        json!({"name": "x"}),
    ] {
        alice.patch_json("/v1/members/bob", &bad).await.expect(422);
    }
}

/// bob holds a license a manager assigned and a seat he took; offboarding him releases both
/// and disables him — as its dry run said, and all or nothing.
async fn offboarding_releases_all_a_leaver_holds(backend: Backend) {
    let (server, alice) = school_server(backend).await;
    let bob = server.employee("bob");
    server.employee("ada");
    let seats = buy(&alice, "class", &["4b"], 5, "2099-12-31").await;
    permissions(&alice, "bob").await;
    permissions(&alice, "ada").await;
    let office = create(&alice, with(creative_cloud(), json!({"seats": 5}))).await;
    assign(&alice, id(&office), "bob").await;
    assign(&alice, id(&office), "ada").await;

    let preview = alice
        .post("/v1/members/bob/offboard?dry_run=true", &json!({}))
        .await
        .expect(200)
        .body;
    assert_eq!(preview["dry_run"], true);
    assert_eq!(preview["disabled"], true);
    let released = preview["released"].as_array().unwrap();
    assert_eq!(released.len(), 2, "{preview}");
    let seat_flags: Vec<bool> = released
        .iter()
        .map(|r| r["seat"].as_bool().unwrap())
        .collect();
    assert!(seat_flags.contains(&true) && seat_flags.contains(&false));
    assert_eq!(
        alice.get("/v1/members/bob").await.expect(200).body["licenses"],
        1,
        "a dry run changes nothing"
    );

    // A failure at the last step (disabling him) leaves everything as it was.
    server
        .execute(match backend {
            Backend::Sqlite => {
                "CREATE TRIGGER refuse_bob BEFORE UPDATE ON users WHEN NEW.name = 'bob' AND NEW.disabled \
                 BEGIN SELECT RAISE(ABORT, 'refused for the test'); END"
            }
            Backend::Postgres => {
                "CREATE FUNCTION refuse_bob() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.name = 'bob' AND NEW.disabled THEN RAISE EXCEPTION 'refused for the test'; END IF; \
                 RETURN NEW; END $$; \
                 CREATE TRIGGER refuse_bob BEFORE UPDATE ON users \
                 FOR EACH ROW EXECUTE FUNCTION refuse_bob()"
            }
        })
        .await;
    alice
        .post("/v1/members/bob/offboard", &json!({}))
        .await
        .expect(500);
    let member = alice.get("/v1/members/bob").await.expect(200).body;
    assert_eq!(
        (
            member["licenses"].clone(),
            member["seats"].clone(),
            member["status"].clone()
        ),
        (json!(1), json!(1), json!("active")),
        "nothing half-done"
    );
    server
        .execute(match backend {
            Backend::Sqlite => "DROP TRIGGER refuse_bob",
            Backend::Postgres => "DROP TRIGGER refuse_bob ON users",
        })
        .await;

    let done = alice
        .post("/v1/members/bob/offboard", &json!({}))
        .await
        .expect(200)
        .body;
    assert_eq!(done["dry_run"], false);
    assert_eq!(done["released"], preview["released"], "as the dry run said");
    let member = alice.get("/v1/members/bob").await.expect(200).body;
    assert_eq!(
        (
            member["licenses"].clone(),
            member["seats"].clone(),
            member["status"].clone()
        ),
        (json!(0), json!(0), json!("disabled"))
    );
    let office = alice
        .get(&format!("/v1/licenses/{}", id(&office)))
        .await
        .expect(200)
        .body;
    assert_eq!(office["seats_used"], 1, "ada keeps hers");
    assert_eq!(office["assignments"][0]["employee"], "ada");
    let seats = alice
        .get(&format!("/v1/licenses/{}", id(&seats)))
        .await
        .expect(200)
        .body;
    assert_eq!(seats["seats_used"], 1);
    bob.until_status(401).await;
    let audit = alice
        .get("/v1/audit?action=unassign")
        .await
        .expect(200)
        .body;
    assert!(audit["items"].as_array().unwrap().len() >= 2, "{audit}");

    // Offboarded already: nothing more to release, nothing to disable.
    let again = alice
        .post("/v1/members/bob/offboard", &json!({}))
        .await
        .expect(200)
        .body;
    assert_eq!(
        (again["released"].clone(), again["disabled"].clone()),
        (json!([]), json!(false))
    );
    alice
        .post("/v1/members/bob/offboard?dry_run=maybe", &json!({}))
        .await
        .expect_problem(422, "true or false");
}

crate::on_both_databases!(
    managers_see_members_with_what_they_hold,
    another_organizations_members_are_not_there,
    employees_may_not_change_members,
    the_last_active_manager_stays_one,
    a_disabled_member_is_signed_out_and_can_be_enabled_again,
    offboarding_releases_all_a_leaver_holds,
);
