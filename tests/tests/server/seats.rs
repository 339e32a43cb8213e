//! Seat licenses of organisational units: permission checks that take, keep and release
//! seats implicitly. The units, products and purchases they rest on are in `units`, the
//! first-day rush in `seat_rush`, how seats are stored in `seat_storage`.

pub(crate) use lm_tests::fixtures::{
    buy, buy_as, id, license, permissions, pupils, purchase, school, school_server,
};
use lm_tests::{Backend, Client, Server};
use serde_json::{Value, json};

fn license_of(p: &Value) -> Option<&str> {
    p["products"][0]["license"].as_str()
}

/// A seat taken or released by a check is audited as the seat — license, holder, unit, seat
/// count — not as two copies of a license whose holders grow with every seat.
async fn a_seat_is_audited_as_a_seat_of_bounded_size(backend: Backend) {
    let (_server, manager) = school_server(backend).await;
    let class = buy(&manager, "class", &["4b"], 60, "2099-12-31").await;
    for student in pupils(&manager, "4b", 0..40).await {
        permissions(&manager, &student).await;
    }
    let audit = manager
        .get(&format!(
            "/v1/audit?record={}&action=assign&limit=1",
            id(&class)
        ))
        .await
        .expect(200)
        .body;
    let entry = &audit["items"][0];
    assert_eq!(entry["after"]["seat"]["employee"], "pupil39", "{entry:#}");
    assert_eq!(entry["after"]["seat"]["unit"], "(class)(4b)", "{entry:#}");
    assert_eq!(
        (
            &entry["before"]["seats_used"],
            &entry["after"]["seats_used"]
        ),
        (&json!(39), &json!(40))
    );
    let size = entry.to_string().len();
    assert!(size < 2_000, "{size} bytes: {entry:#}");
}

/// Rule 1: no seat yet, and the user's class owns a license with a free seat: one is taken.
async fn a_first_check_takes_a_free_seat_of_the_users_unit(backend: Backend) {
    let (server, manager) = school_server(backend).await;
    let class = buy(&manager, "class", &["4b"], 2, "2099-12-31").await;
    let first = permissions(&manager, "ada").await;
    assert_eq!(
        first["permissions"],
        json!(["book:fractions:read", "full_access"])
    );
    assert_eq!(license_of(&first), Some(id(&class)));
    assert_eq!(first["products"][0]["owner"], "(class)(4b)");
    let seat = license(&manager, id(&class)).await;
    assert_eq!(seat["seats_used"], 1);
    assert_eq!(seat["assignments"][0]["employee"], "ada");
    // The user asks for themself, with their own login, just the same.
    let bob = server.employee("bob");
    let own = bob.get("/v1/users/bob/permissions").await.expect(200).body;
    assert_eq!(license_of(&own), Some(id(&class)));
    // …but not for someone else.
    bob.get("/v1/users/cy/permissions").await.expect(403);
}

/// Rule 2: a seat on a valid license of a unit the user still belongs to is kept; asking
/// again never takes a second seat.
async fn a_repeated_check_keeps_the_seat_and_takes_no_second(backend: Backend) {
    let (_server, manager) = school_server(backend).await;
    let class = buy(&manager, "class", &["4b"], 5, "2099-12-31").await;
    let school_license = buy(&manager, "school", &["north"], 5, "2099-12-31").await;
    let first = permissions(&manager, "ada").await;
    for _ in 0..3 {
        let again = permissions(&manager, "ada").await;
        assert_eq!(license_of(&again), license_of(&first));
        assert_eq!(
            again["products"][0]["seat_since"],
            first["products"][0]["seat_since"]
        );
    }
    assert_eq!(license(&manager, id(&class)).await["seats_used"], 1);
    assert_eq!(
        license(&manager, id(&school_license)).await["seats_used"],
        0
    );
}

/// Rule 3: a seat on a license that has ended is released, and another license's seat is
/// taken.
async fn a_seat_on_an_ended_license_is_released_and_another_taken(backend: Backend) {
    let (_server, manager) = school_server(backend).await;
    let old = buy(&manager, "class", &["4b"], 5, "2099-12-31").await;
    assert_eq!(
        license_of(&permissions(&manager, "ada").await),
        Some(id(&old))
    );
    let current = license(&manager, id(&old)).await;
    manager
        .patch(
            &format!("/v1/licenses/{}", id(&old)),
            current["version"].as_i64().unwrap(),
            &json!({"expires": "2026-01-31"}),
        )
        .await
        .expect(200);
    let renewed = buy(&manager, "class", &["4b"], 5, "2099-06-30").await;
    let after_end = permissions(&manager, "ada").await;
    assert_eq!(license_of(&after_end), Some(id(&renewed)), "{after_end}");
    let ended = license(&manager, id(&old)).await;
    assert_eq!(
        ended["seats_used"], 0,
        "the ended license's seat was released: {ended}"
    );
}

/// Rule 4: a seat whose owner the user no longer belongs to is released, and one of the
/// new unit's is taken.
async fn leaving_the_owning_unit_releases_the_seat_and_another_is_taken(backend: Backend) {
    let (_server, manager) = school_server(backend).await;
    let four_b = buy(&manager, "class", &["4b"], 5, "2099-12-31").await;
    let three_a = buy_as(&manager, "cy", "class", &["3a"], 5, "2099-12-31").await;
    assert_eq!(
        license_of(&permissions(&manager, "ada").await),
        Some(id(&four_b))
    );
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
    assert_eq!(license_of(&moved), Some(id(&three_a)));
    assert_eq!(
        license(&manager, id(&four_b)).await["seats_used"],
        0,
        "released"
    );
    // Leaving every unit leaves no permission, and no seat.
    manager
        .delete("/v1/hierarchy/entities/student/ada/parents/class/3a")
        .await
        .expect(204);
    let gone = permissions(&manager, "ada").await;
    assert_eq!(gone["permissions"], json!([]));
    assert_eq!(license(&manager, id(&three_a)).await["seats_used"], 0);
}

/// Rule 5: no free seat anywhere: no permission for the product, and a reason to show.
async fn without_a_free_seat_there_is_no_permission_and_a_reason(backend: Backend) {
    let (_server, manager) = school_server(backend).await;
    // Nothing bought: nothing to grant, and nothing to explain.
    let none = permissions(&manager, "ada").await;
    assert_eq!(none["permissions"], json!([]));
    assert_eq!(none["refused"], json!([]));
    let class = buy(&manager, "class", &["4b"], 1, "2099-12-31").await;
    permissions(&manager, "ada").await;
    let bob = permissions(&manager, "bob").await;
    assert_eq!(bob["permissions"], json!([]));
    assert_eq!(bob["products"], json!([]));
    assert_eq!(bob["refused"][0]["product"], "fractions");
    let reason = bob["refused"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("seats") && reason.contains("taken"),
        "{reason}"
    );
    assert_eq!(license(&manager, id(&class)).await["seats_used"], 1);
    // A seat freed by a manager goes to the next one who asks.
    let seats = manager
        .get(&format!("/v1/licenses/{}/seats", id(&class)))
        .await
        .expect(200)
        .body;
    manager
        .delete(&format!(
            "/v1/licenses/{}/seats/{}",
            id(&class),
            seats["items"][0]["id"].as_str().unwrap()
        ))
        .await
        .expect(200);
    assert_eq!(
        license_of(&permissions(&manager, "bob").await),
        Some(id(&class))
    );
}

/// Several licenses of one product: the owner at the lowest level with a free seat wins,
/// then the license that ends last; one seat per product; permissions of held products
/// merge.
async fn the_lowest_unit_with_a_free_seat_wins_then_the_latest_end(backend: Backend) {
    let (_server, manager) = school_server(backend).await;
    let school_license = buy(&manager, "school", &["north"], 5, "2099-12-31").await;
    let class_soon = buy(&manager, "class", &["4b"], 1, "2098-12-31").await;
    let class_late = buy(&manager, "class", &["4b"], 1, "2099-12-31").await;
    // The class beats the school; of the class's two, the later end.
    assert_eq!(
        license_of(&permissions(&manager, "ada").await),
        Some(id(&class_late))
    );
    // Then the class's other license, while it has a seat.
    assert_eq!(
        license_of(&permissions(&manager, "bob").await),
        Some(id(&class_soon))
    );
    // Both class licenses full: the school's.
    let tom = permissions(&manager, "tom").await;
    assert_eq!(license_of(&tom), Some(id(&school_license)));
    assert_eq!(tom["products"][0]["owner"], "(school)(north)");
    assert_eq!(
        tom["products"].as_array().unwrap().len(),
        1,
        "one seat per product"
    );
    // A second product's permissions merge with the first's.
    manager
        .post(
            "/v1/products",
            &json!({"eid": "atlas", "name": "Atlas", "permissions": ["book:atlas:read", "full_access"]}),
        )
        .await
        .expect(201);
    manager
        .post(
            "/v1/users/ada/purchases",
            &json!({"product_eid": "atlas", "owner_hierarchy_level": "school", "owner_eids": ["north"],
                    "seats": 3, "valid_from": "2026-01-01", "valid_to": "2099-12-31"}),
        )
        .await
        .expect(201);
    let ada = permissions(&manager, "ada").await;
    assert_eq!(
        ada["permissions"],
        json!(["book:atlas:read", "book:fractions:read", "full_access"])
    );
    assert_eq!(ada["products"].as_array().unwrap().len(), 2);
    assert_eq!(license(&manager, id(&class_late)).await["seats_used"], 1);
}

/// `--seat-free-type teacher`: teachers use their classes' licenses without taking seats.
async fn seat_free_member_types_use_licenses_without_taking_seats(backend: Backend) {
    let server = Server::start_with(backend, &["--seat-free-type", "teacher"]).await;
    let manager = server.manager("alice");
    school(&manager).await;
    let class = buy(&manager, "class", &["4b"], 1, "2099-12-31").await;
    permissions(&manager, "ada").await;
    let tom = permissions(&manager, "tom").await;
    assert_eq!(
        tom["permissions"],
        json!(["book:fractions:read", "full_access"])
    );
    assert_eq!(
        license(&manager, id(&class)).await["seats_used"],
        1,
        "ada's only"
    );
}

/// The organization's managers name the seat-free member types themselves (`PATCH /v1/org`):
/// from then on teachers take no seat, without a restart or a server flag.
async fn managers_make_member_types_seat_free_for_their_organization(backend: Backend) {
    let (server, manager) = school_server(backend).await;
    let class = buy(&manager, "class", &["4b"], 5, "2099-12-31").await;
    let org = manager
        .patch_json("/v1/org", &json!({"seat_free_types": ["teacher"]}))
        .await
        .expect(200)
        .body;
    assert_eq!(org["seat_free_types"], json!(["teacher"]));
    let tom = permissions(&manager, "tom").await;
    assert_eq!(
        tom["permissions"],
        json!(["book:fractions:read", "full_access"])
    );
    assert_eq!(
        license(&manager, id(&class)).await["seats_used"],
        0,
        "the teacher took none"
    );
    manager
        .patch_json(
            "/v1/org",
            &json!({"seat_free_types": (0..17).map(|n| format!("type{n}")).collect::<Vec<_>>()}),
        )
        .await
        .expect_problem(422, "at most 16");
    let eve = server.employee("eve");
    eve.patch_json("/v1/org", &json!({"seat_free_types": []}))
        .await
        .expect(403);
}

/// A seat's last use reaches the feed to the day: the first check of a day brings the seat
/// again with it, later checks that day write nothing to the feed.
async fn the_first_check_of_a_day_brings_the_seat_again_with_its_last_use(backend: Backend) {
    let (server, manager) = school_server(backend).await;
    buy(&manager, "class", &["4b"], 5, "2099-12-31").await;
    permissions(&manager, "ada").await;
    let head = |client: Client| async move {
        client.get("/v1/changes").await.expect(200).body["head"]
            .as_i64()
            .unwrap()
    };
    let before = head(manager.clone()).await;
    // As if ada last used it long ago.
    lm_tests::DirectDb::connect(&server.database_url)
        .await
        .run("UPDATE assignments SET last_seen = '2000-01-01T00:00:00+00:00'")
        .await;
    permissions(&manager, "ada").await;
    let page: lm_protocol::ChangePage = manager
        .get(&format!("/v1/changes?after={before}"))
        .await
        .expect(200)
        .json();
    let seen: Vec<_> = page
        .changes
        .iter()
        .filter_map(|c| match c {
            lm_protocol::Change::Assign { assignment, .. } => {
                Some((assignment.assignee.label().to_owned(), assignment.last_seen))
            }
            _ => None,
        })
        .collect();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].0, "ada");
    assert_eq!(
        seen[0].1.map(|at| at.date_naive()),
        Some(chrono::Utc::now().date_naive()),
        "with today's use"
    );
    let after = head(manager.clone()).await;
    permissions(&manager, "ada").await;
    assert_eq!(
        head(manager.clone()).await,
        after,
        "the same day: nothing new in the feed"
    );
}

/// Managers see who holds the seats of a license, since when and when last seen, and
/// release one; employees may not.
async fn managers_list_the_seats_of_a_license_and_release_one(backend: Backend) {
    let (server, manager) = school_server(backend).await;
    let class = buy(&manager, "class", &["4b"], 5, "2099-12-31").await;
    permissions(&manager, "ada").await;
    permissions(&manager, "bob").await;
    let seats = manager
        .get(&format!("/v1/licenses/{}/seats", id(&class)))
        .await
        .expect(200)
        .body;
    let holders: Vec<&str> = seats["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["user"].as_str().unwrap())
        .collect();
    assert_eq!(holders, ["ada", "bob"]);
    let seats = &seats["items"];
    assert_eq!(seats[0]["redeemed"], true);
    assert!(
        seats[0]["since"].is_string() && seats[0]["last_seen"].is_string(),
        "{seats}"
    );
    let released = manager
        .delete(&format!(
            "/v1/licenses/{}/seats/{}",
            id(&class),
            seats[0]["id"].as_str().unwrap()
        ))
        .await
        .expect(200)
        .body;
    assert_eq!(released["seats_used"], 1);
    let audit = manager
        .get(&format!("/v1/audit?record={}", id(&class)))
        .await
        .expect(200)
        .body;
    assert!(audit.to_string().contains("unassign"), "{audit}");
    server
        .employee("bob")
        .get(&format!("/v1/licenses/{}/seats", id(&class)))
        .await
        .expect(403);
    manager.get("/v1/licenses/nope/seats").await.expect(404);
}

/// The grant in the answer is a JWS over user, products, permissions and `exp` that the
/// server's published keys verify offline; it ends with the license or the lease.
async fn the_grant_verifies_offline_with_the_servers_keys(backend: Backend) {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
    let server = Server::start_with(backend, &["--grant-lease", "2h"]).await;
    let manager = server.manager("alice");
    school(&manager).await;
    buy(&manager, "class", &["4b"], 5, "2099-12-31").await;
    let answer = permissions(&manager, "ada").await;
    let grant = answer["grant"].as_str().unwrap();
    let keys: JwkSet = serde_json::from_value(
        Client::new(&server.url, None)
            .get("/.well-known/jwks.json")
            .await
            .expect(200)
            .body,
    )
    .unwrap();
    let header = jsonwebtoken::decode_header(grant).unwrap();
    let key = keys
        .find(header.kid.as_deref().unwrap())
        .expect("a published key");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "sub"]);
    let claims =
        jsonwebtoken::decode::<Value>(grant, &DecodingKey::from_jwk(key).unwrap(), &validation)
            .expect("the grant verifies")
            .claims;
    assert_eq!(claims["sub"], "ada");
    assert_eq!(claims["products"], json!(["fractions"]));
    assert_eq!(
        claims["permissions"],
        json!(["book:fractions:read", "full_access"])
    );
    let lease = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert!((7100..=7200).contains(&lease), "a 2 h lease: {lease}");
    // A grant altered in any byte does not verify.
    let mut forged = grant.to_owned();
    forged.insert(grant.find('.').unwrap() + 1, 'e');
    assert!(
        jsonwebtoken::decode::<Value>(&forged, &DecodingKey::from_jwk(key).unwrap(), &validation)
            .is_err()
    );
}

/// Checks keep what they read while nothing is written; every write — a hierarchy edit or
/// a seat released, here through another replica on PostgreSQL — is seen by the next check.
async fn a_check_sees_every_change_made_since_the_last(backend: Backend) {
    let (server, manager) = school_server(backend).await;
    let replica = match backend {
        Backend::Postgres => Some(server.replica(&[]).await),
        Backend::Sqlite => None,
    };
    let elsewhere = match &replica {
        Some(r) => Client::new(&r.url, manager.token().map(str::to_owned)),
        None => manager.clone(),
    };
    let four_b = buy(&manager, "class", &["4b"], 5, "2099-12-31").await;
    let three_a = buy_as(&manager, "cy", "class", &["3a"], 5, "2099-12-31").await;
    for _ in 0..3 {
        assert_eq!(
            license_of(&permissions(&manager, "ada").await),
            Some(id(&four_b))
        );
    }
    // A move between classes is an edit of the hierarchy, which no revision counts.
    elsewhere
        .delete("/v1/hierarchy/entities/student/ada/parents/class/4b")
        .await
        .expect(204);
    elsewhere
        .put(
            "/v1/hierarchy/entities/student/ada/parents/class/3a",
            &json!({}),
        )
        .await
        .expect(201);
    let moved = eventually(&manager, "ada", |p| license_of(p) == Some(id(&three_a))).await;
    let seat_since = moved["products"][0]["seat_since"].clone();
    // A manager releases the seat: the next check takes a new one.
    let seats = elsewhere
        .get(&format!("/v1/licenses/{}/seats", id(&three_a)))
        .await
        .expect(200)
        .body;
    let seat = seats["items"][0]["id"].as_str().unwrap();
    elsewhere
        .delete(&format!("/v1/licenses/{}/seats/{seat}", id(&three_a)))
        .await
        .expect(200);
    eventually(&manager, "ada", |p| {
        license_of(p) == Some(id(&three_a)) && p["products"][0]["seat_since"] != seat_since
    })
    .await;
    assert_eq!(license(&manager, id(&three_a)).await["seats_used"], 1);
    assert_eq!(license(&manager, id(&four_b)).await["seats_used"], 0);
}

/// `user`'s permissions once they satisfy `done`: a change through another replica arrives
/// with its notification, within moments.
async fn eventually(manager: &Client, user: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let p = permissions(manager, user).await;
        if done(&p) {
            return p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the change was not seen within 2 s: {p}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// `seed --school` (what `lm demo` shows): a school whose seat licenses are in use, one of
/// them full, that the Hierarchy Provider and permission checks answer for.
async fn the_sample_school_has_units_seat_licenses_and_seats_taken(backend: Backend) {
    let server = Server::start(backend).await;
    server
        .admin(&["seed", "--org", "acme", "--licenses", "0", "--school"])
        .expect("seed");
    let manager = server.manager("alice");
    let membership = manager
        .get("/hierarchy/users/ada.3a/membership")
        .await
        .expect(200)
        .body;
    assert_eq!(
        membership,
        json!(["(school)(northside)", "(class)(3a)", "(student)(ada.3a)"])
    );
    let seats = manager
        .get("/v1/licenses?kind=seat&sort=name")
        .await
        .expect(200)
        .body;
    let used: Vec<(String, i64, i64)> = seats["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["name"].as_str().unwrap().to_owned(),
                l["seats"].as_i64().unwrap(),
                l["seats_used"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(used.len(), 3, "{used:?}");
    assert!(used.iter().all(|(_, _, taken)| *taken > 0), "{used:?}");
    let typing = used
        .iter()
        .find(|(name, ..)| name.starts_with("Typing"))
        .unwrap();
    assert_eq!(typing.1, typing.2, "the typing course is short of seats");
    // A student of 3a who had not asked yet finds the typing seats gone, and is told why.
    let refused = permissions(&manager, "chloe.3a").await;
    assert!(
        refused["refused"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["product"] == "typing"),
        "{refused}"
    );
}

crate::on_both_databases!(
    the_sample_school_has_units_seat_licenses_and_seats_taken,
    a_check_sees_every_change_made_since_the_last,
    a_seat_is_audited_as_a_seat_of_bounded_size,
    a_first_check_takes_a_free_seat_of_the_users_unit,
    a_repeated_check_keeps_the_seat_and_takes_no_second,
    a_seat_on_an_ended_license_is_released_and_another_taken,
    leaving_the_owning_unit_releases_the_seat_and_another_is_taken,
    without_a_free_seat_there_is_no_permission_and_a_reason,
    the_lowest_unit_with_a_free_seat_wins_then_the_latest_end,
    seat_free_member_types_use_licenses_without_taking_seats,
    managers_make_member_types_seat_free_for_their_organization,
    the_first_check_of_a_day_brings_the_seat_again_with_its_last_use,
    managers_list_the_seats_of_a_license_and_release_one,
    the_grant_verifies_offline_with_the_servers_keys,
);
