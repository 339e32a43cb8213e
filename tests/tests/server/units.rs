//! What seat licenses rest on: the built-in Hierarchy Provider (levels, units, memberships,
//! managers' edits and their CSV import, all audited), products, and purchases — checked
//! field by field, and by employees only where the organization allows it.

use super::seats::{id, purchase, school_server};
use lm_tests::{Backend, Server};
use serde_json::{Value, json};

async fn the_hierarchy_provider_answers_what_managers_edit(backend: Backend) {
    let (server, manager) = school_server(backend).await;
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

/// Every edit of the hierarchy and of products is in the audit log: who, what, before and
/// after; a member's moves are found under the member's id.
async fn hierarchy_and_product_edits_are_audited(backend: Backend) {
    let (_server, manager) = school_server(backend).await;
    manager
        .put(
            "/v1/hierarchy/entities/class/4b",
            &json!({"name": "Class 4b"}),
        )
        .await
        .expect(204);
    manager
        .delete("/v1/hierarchy/entities/student/ada/parents/class/4b")
        .await
        .expect(204);
    manager
        .send(
            reqwest::Method::PATCH,
            "/v1/products/fractions",
            Some(&json!({"name": "Fractions II"})),
            &[],
        )
        .await
        .expect(200);
    manager
        .delete("/v1/hierarchy/entities/class/3a")
        .await
        .expect(204);
    let entries = |query: &str| {
        let manager = &manager;
        let query = query.to_owned();
        async move {
            manager
                .get(&format!("/v1/audit?{query}"))
                .await
                .expect(200)
                .body["items"]
                .as_array()
                .unwrap()
                .clone()
        }
    };
    let ada = entries("record=(student)(ada)").await;
    let moves: Vec<(&str, &str)> = ada
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["record_type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        [
            ("delete", "membership"),
            ("create", "membership"),
            ("create", "entity")
        ],
        "newest first: {ada:#?}"
    );
    assert_eq!(ada[0]["before"]["parent"], "(class)(4b)");
    assert_eq!(ada[0]["actor"], "alice");
    let renamed = &entries("record=(class)(4b)&action=update").await[0];
    assert_eq!(renamed["before"]["name"], "");
    assert_eq!(renamed["after"]["name"], "Class 4b");
    let product = &entries("record=fractions&action=update").await[0];
    assert_eq!(product["record_type"], "product");
    assert_eq!(product["before"]["name"], "Fractions");
    assert_eq!(product["after"]["name"], "Fractions II");
    let deleted = &entries("record=(class)(3a)&action=delete").await[0];
    assert_eq!(
        deleted["before"]["memberships"],
        json!([
            "(class)(3a) in (school)(north)",
            "(student)(cy) in (class)(3a)"
        ])
    );
    let levels = &entries("record=levels").await[0];
    assert_eq!(levels["record_type"], "hierarchy_levels");
    assert_eq!(levels["after"]["class"], 1);
    // Asking again to be what one is already changes nothing, and logs nothing.
    manager
        .put(
            "/v1/hierarchy/entities/class/4b",
            &json!({"name": "Class 4b"}),
        )
        .await
        .expect(204);
    assert_eq!(entries("record=(class)(4b)&action=update").await.len(), 1);
}

/// Units and memberships arrive as CSV: all or nothing, every problem named by row and
/// field, and a dry run that writes nothing.
async fn a_csv_import_brings_units_and_memberships_all_or_nothing(backend: Backend) {
    let server = Server::start(backend).await;
    let manager = server.manager("alice");
    manager
        .put(
            "/v1/hierarchy/levels",
            &json!({"student": 0, "teacher": 0, "class": 1, "school": 2}),
        )
        .await
        .expect(200);
    let import = async |query: &str, csv: &str| {
        manager
            .post_bytes(
                &format!("/v1/hierarchy/import{query}"),
                "text/csv",
                csv.as_bytes().to_vec(),
            )
            .await
    };
    // Members before their units: a parent may come later in the file.
    let school = "type,eid,name,parent_type,parent_eid\n\
                  student,ada,Ada,class,4b\n\
                  class,4b,Class 4b,school,north\n\
                  school,north,North School,,\n\
                  teacher,tom,,class,4b\n";
    let dry = import("?dry_run=true", school).await.expect(200).body;
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["entities_created"], 4);
    assert_eq!(dry["memberships_added"], 3);
    assert_eq!(
        manager.get("/v1/hierarchy/entities").await.expect(200).body,
        json!([])
    );

    let done = import("", school).await.expect(200).body;
    assert_eq!(done["entities_created"], 4);
    assert_eq!(
        manager
            .get("/hierarchy/users/ada/membership")
            .await
            .expect(200)
            .body,
        json!(["(school)(north)", "(class)(4b)", "(student)(ada)"])
    );
    // The same file again changes nothing.
    let again = import("", school).await.expect(200).body;
    assert_eq!(
        (
            again["entities_created"].as_u64(),
            again["memberships_added"].as_u64()
        ),
        (Some(0), Some(0))
    );

    let broken = "type,eid,name,parent_type,parent_eid\n\
                  student,bob,,class,4c\n\
                  galaxy,m31,,,\n\
                  school,south,,class,4b\n\
                  student,..,,,\n\
                  student,cy,Cy,class,4b\n";
    let refused = import("", broken).await.expect(422).body;
    let problems: Vec<(u64, &str)> = refused["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["row"].as_u64().unwrap(), p["field"].as_str().unwrap()))
        .collect();
    assert_eq!(
        problems,
        [
            (2, "parent_eid"),
            (3, "type"),
            (4, "parent_type"),
            (5, "eid")
        ],
        "{refused:#}"
    );
    manager
        .get("/hierarchy/users/cy/membership")
        .await
        .expect(404);
    let audit = manager
        .get("/v1/audit?action=import&record=import")
        .await
        .expect(200)
        .body;
    assert_eq!(audit["items"].as_array().unwrap().len(), 2, "{audit:#}");
    assert_eq!(audit["items"][1]["after"]["entities_created"], 4);
    server
        .employee("bob")
        .post_bytes(
            "/v1/hierarchy/import",
            "text/csv",
            school.as_bytes().to_vec(),
        )
        .await
        .expect(403);
}

async fn purchases_are_checked_field_by_field(backend: Backend) {
    let (server, manager) = school_server(backend).await;
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

/// Buying seat licenses is for managers unless the organization lets employees buy for their
/// own units, and then within its limits; every purchase is audited under whoever bought.
async fn employees_buy_only_where_the_organization_allows_within_its_limits(backend: Backend) {
    let (server, manager) = school_server(backend).await;
    let ada = server.employee("ada");
    let buy = async |seats: u32, to: &str| {
        ada.post(
            "/v1/users/ada/purchases",
            &purchase("class", &["4b"], seats, "2026-09-01", to),
        )
        .await
    };
    buy(3, "2027-07-31")
        .await
        .expect_problem(403, "only managers buy");

    server
        .admin(&["org", "self-purchase", "acme", "--max-seats", "30"])
        .unwrap();
    let too_many = buy(31, "2027-07-31").await.expect(422);
    assert_eq!(too_many.body["field"], "seats", "{}", too_many.body);
    let too_long = buy(30, "2099-12-31").await.expect(422);
    assert_eq!(too_long.body["field"], "valid_to", "{}", too_long.body);
    let bought = buy(30, "2027-07-31").await.expect(201).body;
    let audit = manager
        .get(&format!("/v1/audit?record={}", id(&bought)))
        .await
        .expect(200)
        .body;
    assert_eq!(audit["items"][0]["actor"], "ada", "{audit}");
    assert_eq!(audit["items"][0]["action"], "create", "{audit}");

    // Managers are not bound by the employees' limits, but by sanity.
    let huge = manager
        .post(
            "/v1/users/ada/purchases",
            &purchase("school", &["north"], 999_999, "2026-01-01", "2099-12-31"),
        )
        .await
        .expect(422);
    assert_eq!(huge.body["field"], "seats", "{}", huge.body);

    server
        .admin(&["org", "self-purchase", "acme", "--off"])
        .unwrap();
    buy(3, "2027-06-30").await.expect(403);
}

crate::on_both_databases!(
    the_hierarchy_provider_answers_what_managers_edit,
    hierarchy_and_product_edits_are_audited,
    a_csv_import_brings_units_and_memberships_all_or_nothing,
    purchases_are_checked_field_by_field,
    employees_buy_only_where_the_organization_allows_within_its_limits,
);
