//! Black-box tests of `lmd`: each starts a real `lm-server` (SQLite; the server suite covers
//! PostgreSQL) and a real `lmd`, and speaks the socket protocol to the daemon.

mod alerts;
mod filters;
mod holders;
mod login;
mod people;
mod reports;
mod seats;
mod socket;
mod sync;

use lm_protocol::License;
use lm_tests::{Backend, Client, Server};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// A server for organization `acme` holding `licenses` sample licenses, and a manager token.
pub async fn server_with(licenses: u32) -> (Server, String) {
    let server = Server::start(Backend::Sqlite).await;
    let token = server.token("alice", "manager", "acme");
    if licenses > 0 {
        server
            .admin(&["seed", "--org", "acme", "--licenses", &licenses.to_string()])
            .expect("seed");
    }
    (server, token)
}

/// Every live license the server holds for `client`, by id with its version.
pub async fn server_inventory(client: &Client) -> BTreeMap<String, i64> {
    let mut inventory = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/licenses?limit=1000&cursor={c}"),
            None => "/v1/licenses?limit=1000".to_owned(),
        };
        let page = client.get(&path).await.expect(200).body;
        for item in page["items"].as_array().unwrap() {
            let license: License = serde_json::from_value(item.clone()).unwrap();
            inventory.insert(license.id.to_string(), license.version);
        }
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return inventory,
        }
    }
}

/// A create body for a license that stands out in a listing.
pub fn new_license(name: &str) -> Value {
    json!({
        "product": "jetbrains-all",
        "name": name,
        "kind": "subscription",
        "vendor": "JetBrains",
        "cost": {"amount": 64900, "currency": "EUR"},
        "seats": 2,
        "expires": "2027-03-01",
        "key": "JB-1234",
    })
}
