//! Seat licenses of organisational units: the built-in Hierarchy Provider, products,
//! purchases, and permission checks that take, keep and release seats implicitly — including
//! 200 people racing for 50 seats.

use lm_tests::{Backend, Client, Server};
use serde_json::{Value, json};

/// A school `north` with classes `4b` (students ada, bob) and `3a` (student cy), a teacher
/// tom in 4b, and a product `fractions`.
async fn school(manager: &Client) {
    manager
        .put(
            "/v1/hierarchy/levels",
            &json!({"student": 0, "teacher": 0, "class": 1, "school": 2}),
        )
        .await
        .expect(200);
    for (kind, eid) in [
        ("school", "north"),
        ("class", "4b"),
        ("class", "3a"),
        ("student", "ada"),
        ("student", "bob"),
        ("student", "cy"),
        ("teacher", "tom"),
    ] {
        manager
            .put(&format!("/v1/hierarchy/entities/{kind}/{eid}"), &json!({}))
            .await
            .expect(201);
    }
    for (member, parent) in [
        ("class/4b", "school/north"),
        ("class/3a", "school/north"),
        ("student/ada", "class/4b"),
        ("student/bob", "class/4b"),
        ("student/cy", "class/3a"),
        ("teacher/tom", "class/4b"),
    ] {
        manager
            .put(
                &format!("/v1/hierarchy/entities/{member}/parents/{parent}"),
                &json!({}),
            )
            .await
            .expect(201);
    }
    manager
        .post(
            "/v1/products",
            &json!({"eid": "fractions", "name": "Fractions", "permissions": ["book:fractions:read", "full_access"]}),
        )
        .await
        .expect(201);
}

fn purchase(owner_level: &str, owners: &[&str], seats: u32, from: &str, to: &str) -> Value {
    json!({
        "product_eid": "fractions", "owner_hierarchy_level": owner_level, "owner_eids": owners,
        "seats": seats, "valid_from": from, "valid_to": to,
    })
}

async fn permissions(manager: &Client, user: &str) -> Value {
    manager
        .get(&format!("/v1/users/{user}/permissions"))
        .await
        .expect(200)
        .body
}

fn license_of(p: &Value) -> Option<&str> {
    p["products"][0]["license"].as_str()
}

async fn the_hierarchy_provider_answers_what_managers_edit(backend: Backend) {
    let server = Server::start(backend).await;
    let manager = server.manager("alice");
    school(&manager).await;
    let levels = manager.get("/hierarchy/levels").await.expect(200).body;
    assert_eq!(
        levels,
        json!({"class": 1, "school": 2, "student": 0, "teacher": 0})
    );
    let membership = manager
        .get("/hierarchy/users/ada/membership")
        .await
        .expect(200)
        .body;
    assert_eq!(
        membership,
        json!(["(school)(north)", "(class)(4b)", "(student)(ada)"])
    );
    // An edit shows at once.
    manager
        .delete("/v1/hierarchy/entities/student/ada/parents/class/4b")
        .await
        .expect(204);
    let membership = manager
        .get("/hierarchy/users/ada/membership")
        .await
        .expect(200)
        .body;
    assert_eq!(membership, json!(["(student)(ada)"]));
    manager
        .get("/hierarchy/users/nobody/membership")
        .await
        .expect(404);
    // Memberships point up; types must be levels.
    manager
        .put(
            "/v1/hierarchy/entities/school/north/parents/class/4b",
            &json!({}),
        )
        .await
        .expect_problem(422, "parent");
    manager
        .put("/v1/hierarchy/entities/galaxy/m31", &json!({}))
        .await
        .expect_problem(422, "type");
    // Employees read, never edit.
    let bob = server.employee("bob");
    bob.get("/hierarchy/levels").await.expect(200);
    bob.put("/v1/hierarchy/entities/student/eve", &json!({}))
        .await
        .expect(403);
}

async fn purchases_are_checked_field_by_field(backend: Backend) {
    let server = Server::start(backend).await;
    let manager = server.manager("alice");
    school(&manager).await;
    let buy = async |body: Value| manager.post("/v1/users/ada/purchases", &body).await;
    let ok = purchase("class", &["4b"], 30, "2026-01-01", "2099-12-31");
    for (body, field) in [
        (
            json!({"product_eid": "nope", "owner_hierarchy_level": "class", "owner_eids": ["4b"], "seats": 3, "valid_from": "2026-01-01", "valid_to": "2099-12-31"}),
            "product_eid",
        ),
        (
            purchase("class", &["3a"], 30, "2026-01-01", "2099-12-31"),
            "owner_eids[0]",
        ),
        (
            purchase("school", &["4b"], 30, "2026-01-01", "2099-12-31"),
            "owner_eids[0]",
        ),
        (
            purchase("class", &["4b"], 0, "2026-01-01", "2099-12-31"),
            "seats",
        ),
        (
            purchase("class", &["4b"], 3, "2027-01-01", "2026-12-31"),
            "valid_to",
        ),
        (
            purchase("class", &[], 3, "2026-01-01", "2099-12-31"),
            "owner_eids",
        ),
        (
            purchase("class", &["4b", "4b"], 3, "2026-01-01", "2099-12-31"),
            "owner_eids[1]",
        ),
    ] {
        let reply = buy(body.clone()).await.expect(422);
        assert_eq!(reply.body["field"], field, "{body}: {}", reply.body);
    }
    let created = buy(ok.clone()).await.expect(201).body;
    assert_eq!(created["seats"], 30);
    assert_eq!(created["owner"], json!({"level": "class", "eids": ["4b"]}));
    buy(ok).await.expect(409);
    // Only the purchaser themself, or a manager.
    let bob = server.employee("bob");
    bob.post(
        "/v1/users/ada/purchases",
        &purchase("class", &["4b"], 3, "2026-01-01", "2098-12-31"),
    )
    .await
    .expect(403);
}

async fn permission_checks_take_keep_and_release_seats(backend: Backend) {
    let server = Server::start(backend).await;
    let manager = server.manager("alice");
    school(&manager).await;
    // Case 5: nothing bought yet — no permission.
    let none = permissions(&manager, "ada").await;
    assert_eq!(none["permissions"], json!([]));

    // Case 1: a free seat on the class license is taken.
    let class = manager
        .post(
            "/v1/users/ada/purchases",
            &purchase("class", &["4b"], 1, "2026-01-01", "2099-12-31"),
        )
        .await
        .expect(201)
        .body;
    let first = permissions(&manager, "ada").await;
    assert_eq!(
        first["permissions"],
        json!(["book:fractions:read", "full_access"])
    );
    assert_eq!(license_of(&first), class["id"].as_str());
    assert_eq!(first["products"][0]["owner"], "(class)(4b)");
    let seat = manager
        .get(&format!("/v1/licenses/{}", class["id"].as_str().unwrap()))
        .await
        .expect(200)
        .body;
    assert_eq!(seat["seats_used"], 1);
    assert_eq!(seat["assignments"][0]["employee"], "ada");

    // Case 2: asking again keeps the seat and takes no second one.
    let again = permissions(&manager, "ada").await;
    assert_eq!(license_of(&again), class["id"].as_str());
    let seat = manager
        .get(&format!("/v1/licenses/{}", class["id"].as_str().unwrap()))
        .await
        .expect(200)
        .body;
    assert_eq!(seat["seats_used"], 1);

    // Case 5 with a reason: bob finds the only seat taken.
    let bob = permissions(&manager, "bob").await;
    assert_eq!(bob["permissions"], json!([]));
    assert!(
        bob["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("seats"),
        "{bob}"
    );

    // Several licenses: the school's is used once the class's is full; the class comes first.
    let school_license = manager
        .post(
            "/v1/users/ada/purchases",
            &purchase("school", &["north"], 5, "2026-01-01", "2099-12-31"),
        )
        .await
        .expect(201)
        .body;
    let bob = permissions(&manager, "bob").await;
    assert_eq!(license_of(&bob), school_license["id"].as_str());
    assert_eq!(bob["products"][0]["owner"], "(school)(north)");

    // Case 4: ada leaves 4b; her class seat is released, and the school's used instead.
    manager
        .delete("/v1/hierarchy/entities/student/ada/parents/class/4b")
        .await
        .expect(204);
    manager
        .put(
            "/v1/hierarchy/entities/student/ada/parents/class/3a",
            &json!({}),
        )
        .await
        .expect(201);
    let moved = permissions(&manager, "ada").await;
    assert_eq!(license_of(&moved), school_license["id"].as_str());
    let class_now = manager
        .get(&format!("/v1/licenses/{}", class["id"].as_str().unwrap()))
        .await
        .expect(200)
        .body;
    assert_eq!(class_now["seats_used"], 0, "released");

    // Case 3: the school license ends; the seat goes, and a new license is taken.
    let id = school_license["id"].as_str().unwrap();
    let version = school_license["version"].as_i64().unwrap();
    let current = manager
        .get(&format!("/v1/licenses/{id}"))
        .await
        .expect(200)
        .body;
    manager
        .patch(
            &format!("/v1/licenses/{id}"),
            current["version"].as_i64().unwrap_or(version),
            &json!({"expires": "2026-01-31"}),
        )
        .await
        .expect(200);
    let renewed = manager
        .post(
            "/v1/users/cy/purchases",
            &purchase("class", &["3a"], 2, "2026-01-01", "2099-06-30"),
        )
        .await
        .expect(201)
        .body;
    let after_end = permissions(&manager, "ada").await;
    assert_eq!(
        license_of(&after_end),
        renewed["id"].as_str(),
        "{after_end}"
    );
    let ended = manager
        .get(&format!("/v1/licenses/{id}"))
        .await
        .expect(200)
        .body;
    assert!(
        !ended["assignments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["employee"] == "ada"),
        "the ended license's seat was released: {ended}"
    );

    // The grant is a JWS the server's JWKS verifies offline.
    let grant = after_end["grant"].as_str().unwrap();
    assert_eq!(grant.split('.').count(), 3);
}

async fn two_hundred_people_race_for_fifty_seats(backend: Backend) {
    let server = Server::start_with(backend, &["--rate-limit", "0"]).await;
    let replica = match backend {
        Backend::Postgres => Some(server.replica(&["--rate-limit", "0"]).await),
        Backend::Sqlite => None,
    };
    let manager = server.manager("alice");
    manager
        .put("/v1/hierarchy/levels", &json!({"student": 0, "school": 1}))
        .await
        .expect(200);
    manager
        .put("/v1/hierarchy/entities/school/big", &json!({}))
        .await
        .expect(201);
    for i in 0..200 {
        manager
            .put(&format!("/v1/hierarchy/entities/student/s{i}"), &json!({}))
            .await
            .expect(201);
        manager
            .put(
                &format!("/v1/hierarchy/entities/student/s{i}/parents/school/big"),
                &json!({}),
            )
            .await
            .expect(201);
    }
    manager
        .post(
            "/v1/products",
            &json!({"eid": "fractions", "name": "Fractions", "permissions": ["full_access"]}),
        )
        .await
        .expect(201);
    let license = manager
        .post(
            "/v1/users/s0/purchases",
            &purchase("school", &["big"], 50, "2026-01-01", "2099-12-31"),
        )
        .await
        .expect(201)
        .body;
    let token = manager.token().unwrap().to_owned();
    let urls: Vec<String> = match &replica {
        Some(r) => vec![server.url.clone(), r.url.clone()],
        None => vec![server.url.clone()],
    };
    let mut racers = Vec::new();
    for i in 0..200 {
        let client = Client::new(&urls[i % urls.len()], Some(token.clone()));
        racers.push(tokio::spawn(async move {
            client
                .get(&format!("/v1/users/s{i}/permissions"))
                .await
                .expect(200)
                .body
        }));
    }
    let mut granted = 0;
    for r in racers {
        if r.await.unwrap()["permissions"] == json!(["full_access"]) {
            granted += 1;
        }
    }
    assert_eq!(granted, 50, "exactly the seats there are");
    let after = manager
        .get(&format!("/v1/licenses/{}", license["id"].as_str().unwrap()))
        .await
        .expect(200)
        .body;
    assert_eq!(after["seats_used"], 50);
}

crate::on_both_databases!(
    the_hierarchy_provider_answers_what_managers_edit,
    purchases_are_checked_field_by_field,
    permission_checks_take_keep_and_release_seats,
    two_hundred_people_race_for_fifty_seats,
);
