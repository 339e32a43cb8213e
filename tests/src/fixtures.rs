//! A school to test seat licensing with, shared by the server's and the daemon's tests: units,
//! people, a product, purchases and permission checks through the real API.

use crate::{Backend, Client, Server};
use serde_json::{Value, json};

/// A school `north` with classes `4b` (students ada, bob) and `3a` (student cy), a teacher
/// tom in 4b, and a product `fractions`.
pub async fn school(manager: &Client) {
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

/// A server with [`school`] in it, and its manager alice.
pub async fn school_server(backend: Backend) -> (Server, Client) {
    let server = Server::start(backend).await;
    let manager = server.manager("alice");
    school(&manager).await;
    (server, manager)
}

pub fn purchase(owner_level: &str, owners: &[&str], seats: u32, from: &str, to: &str) -> Value {
    json!({
        "product_eid": "fractions", "owner_hierarchy_level": owner_level, "owner_eids": owners,
        "seats": seats, "valid_from": from, "valid_to": to,
    })
}

pub async fn permissions(manager: &Client, user: &str) -> Value {
    manager
        .get(&format!("/v1/users/{user}/permissions"))
        .await
        .expect(200)
        .body
}

/// Students `pupil<n>` for each n of `numbers`, members of class `class`; their names.
pub async fn pupils(manager: &Client, class: &str, numbers: std::ops::Range<u32>) -> Vec<String> {
    let mut names = Vec::new();
    for i in numbers {
        let student = format!("pupil{i}");
        manager
            .put(
                &format!("/v1/hierarchy/entities/student/{student}"),
                &json!({}),
            )
            .await
            .expect(201);
        manager
            .put(
                &format!("/v1/hierarchy/entities/student/{student}/parents/class/{class}"),
                &json!({}),
            )
            .await
            .expect(201);
        names.push(student);
    }
    names
}

pub async fn license(manager: &Client, id: &str) -> Value {
    manager
        .get(&format!("/v1/licenses/{id}"))
        .await
        .expect(200)
        .body
}

pub fn id(license: &Value) -> &str {
    license["id"].as_str().unwrap()
}

/// Buys `fractions` for `owners` as ada (a manager acting for her).
pub async fn buy(
    manager: &Client,
    owner_level: &str,
    owners: &[&str],
    seats: u32,
    to: &str,
) -> Value {
    buy_as(manager, "ada", owner_level, owners, seats, to).await
}

/// Buys `fractions` for `owners` as `purchaser`, who must belong to them.
pub async fn buy_as(
    manager: &Client,
    purchaser: &str,
    owner_level: &str,
    owners: &[&str],
    seats: u32,
    to: &str,
) -> Value {
    manager
        .post(
            &format!("/v1/users/{purchaser}/purchases"),
            &purchase(owner_level, owners, seats, "2026-01-01", to),
        )
        .await
        .expect(201)
        .body
}
