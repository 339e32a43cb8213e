//! Black-box tests of `lm-server`: each starts the real binary on a loopback port over a
//! fresh SQLite file or PostgreSQL database and speaks HTTP to it. Every case runs on both
//! databases: `sqlite::<case>` and `postgres::<case>`.

mod account;
mod api_keys;
mod audit;
mod auth;
mod authorization_code;
mod backups;
mod changes;
mod clients;
mod connections;
mod contract_fuzzing;
mod data_files;
mod events;
mod external_provider;
mod filters;
mod flood;
mod hierarchy_providers;
mod invitations;
mod licenses;
mod members;
mod oauth;
mod operations;
mod org_settings;
mod schema;
mod seat_rush;
mod seat_storage;
mod seats;
mod second_factor;
mod service_accounts;
mod signing_keys;
mod spreadsheets;
mod standard_client;
mod tenancy;
mod units;

use serde_json::{Value, json};

/// Declares `sqlite::<case>` and `postgres::<case>` tests for each async `fn <case>(Backend)`.
#[macro_export]
macro_rules! on_both_databases {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $case() { super::$case(lm_tests::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test] async fn $case() { super::$case(lm_tests::Backend::Postgres).await })*
        }
    };
}

/// A complete create body, as a manager would send it.
pub fn creative_cloud() -> Value {
    json!({
        "product": "adobe-cc",
        "name": "Creative Cloud, design team",
        "kind": "subscription",
        "vendor": "Adobe",
        "cost": {"amount": 59900, "currency": "EUR"},
        "seats": 10,
        "added": "2026-01-15",
        "expires": "2027-01-14",
        "key": "XXXX-YYYY-ZZZZ",
        "notes": "Renewal via reseller"
    })
}

/// The same body with some fields replaced.
pub fn with(mut body: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().expect("object") {
        if v.is_null() {
            body.as_object_mut().expect("object").remove(k);
        } else {
            body[k] = v.clone();
        }
    }
    body
}

/// Creates a license and returns its JSON.
pub async fn create(client: &lm_tests::Client, body: Value) -> Value {
    client.post("/v1/licenses", &body).await.expect(201).body
}

/// Every license the client can list with `query`, following cursors.
pub async fn list_all(client: &lm_tests::Client, query: &str) -> Vec<lm_protocol::License> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!(
            "/v1/licenses?limit=1000{}{query}",
            if query.is_empty() { "" } else { "&" }
        );
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page: lm_protocol::Page<lm_protocol::License> =
            client.get(&path).await.expect(200).json();
        out.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
}
