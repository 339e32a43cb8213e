//! Item 4: every filter, combined, sorted by every column, paged with cursors. The oracle is
//! `lm_protocol`'s own filter and sort semantics evaluated over the full inventory, so the
//! server and the daemon's cache are held to one definition.

use super::{create, creative_cloud, list_all, with};
use lm_protocol::{License, ListParams};
use lm_tests::{Backend, Client, Server};
use serde_json::json;

/// Parses `query` as the server would and applies it to `all` locally.
fn expected(all: &[License], query: &str) -> Vec<String> {
    let pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap();
            (k.to_owned(), v.replace("%25", "%").replace('+', " "))
        })
        .collect();
    let params =
        ListParams::from_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))).expect(query);
    let today = chrono::Utc::now().date_naive();
    let mut ids: Vec<String> = all
        .iter()
        .filter(|l| params.filter.matches(l, today))
        .map(|l| l.id.to_string())
        .collect();
    ids.sort();
    ids
}

async fn ids(client: &Client, query: &str) -> Vec<String> {
    let mut ids: Vec<String> = list_all(client, query)
        .await
        .into_iter()
        .map(|l| l.id.to_string())
        .collect();
    ids.sort();
    ids
}

/// An inventory of sample licenses plus a few hand-made edge cases.
async fn inventory(server: &Server) -> (Client, Vec<License>) {
    let alice = server.manager("alice");
    server
        .admin(&["seed", "--org", "acme", "--licenses", "300", "--seed", "42"])
        .expect("seed");
    create(
        &alice,
        with(creative_cloud(), json!({"notes": "100% discount_code"})),
    )
    .await;
    create(
        &alice,
        with(creative_cloud(), json!({"cost": {"amount": 120000, "currency": "USD"}, "assignments": [{"device": "LAPTOP-7"}, {"employee": "zoe"}]})),
    )
    .await;
    let all = list_all(&alice, "").await;
    assert_eq!(all.len(), 302);
    (alice, all)
}

async fn every_filter_agrees_with_the_protocol(backend: Backend) {
    let server = Server::start(backend).await;
    let (alice, all) = inventory(&server).await;
    let sample = &all[17];
    let device = all
        .iter()
        .flat_map(|l| &l.assignments)
        .find_map(|a| match &a.assignee {
            lm_protocol::Assignee::Device(d) => Some(d.to_string()),
            _ => None,
        })
        .expect("a device assignment");
    let dated = all
        .iter()
        .find(|l| l.expires.is_some())
        .expect("an expiring license");
    let queries = vec![
        "".to_owned(),
        "kind=subscription".into(),
        "kind=site".into(),
        "product=adobe-cc".into(),
        "vendor=ADOBE".into(),
        "vendor=jetbrains".into(),
        format!("cost={}", sample.cost.amount),
        "cost_min=100000".into(),
        "cost_max=50000".into(),
        "cost_min=10000&cost_max=60000".into(),
        "currency=USD".into(),
        "employee=alice".into(),
        "employee=zoe".into(),
        format!("device={device}"),
        format!("id={}", sample.id),
        format!("added={}", sample.added),
        format!(
            "added_from={}&added_to={}",
            sample.added - chrono::Days::new(90),
            sample.added
        ),
        format!("expires={}", dated.expires.unwrap()),
        format!("expires_from={}", dated.expires.unwrap()),
        format!("expires_to={}", dated.expires.unwrap()),
        "expiring_within=30".into(),
        "expiring_within=0".into(),
        "q=design".into(),
        "q=RENEWAL+owner".into(),
        "q=%25".into(),
        "q=_code".into(),
        "q=laptop-7".into(),
        format!(
            "kind=subscription&vendor=adobe&cost_min=100000&expires_to={}",
            dated.expires.unwrap()
        ),
        "employee=alice&kind=per-seat&expiring_within=400".into(),
        "assigned=no".into(),
        "assigned=yes".into(),
        "assigned=employee&vendor=adobe".into(),
        "assigned=device".into(),
        "vendor=microsoft&currency=EUR&added_from=2025-01-01&q=e3".into(),
    ];
    for query in &queries {
        assert_eq!(
            ids(&alice, query).await,
            expected(&all, query),
            "filter `{query}`"
        );
    }
    assert!(
        !ids(&alice, "employee=alice").await.is_empty(),
        "the sample data exercises the filters"
    );
    assert!(!ids(&alice, "expiring_within=30").await.is_empty());
    for assigned in ["no", "employee", "device"] {
        assert!(
            !ids(&alice, &format!("assigned={assigned}"))
                .await
                .is_empty(),
            "the sample data has licenses with assigned={assigned}"
        );
    }
}

async fn every_sort_pages_through_everything_in_order(backend: Backend) {
    let server = Server::start(backend).await;
    let (alice, all) = inventory(&server).await;
    let filter = "vendor=microsoft";
    let mut subset: Vec<License> = all
        .iter()
        .filter(|l| l.vendor.as_str() == "Microsoft")
        .cloned()
        .collect();
    assert!(subset.len() > 20);
    for field in lm_protocol::SortField::ALL {
        for descending in [false, true] {
            let sort = lm_protocol::Sort { field, descending };
            subset.sort_by(|a, b| a.compare(b, sort));
            let want: Vec<_> = subset.iter().map(|l| l.id.to_string()).collect();
            let mut got = Vec::new();
            let mut cursor = String::new();
            loop {
                let path = format!("/v1/licenses?{filter}&sort={sort}&limit=7{cursor}");
                let page: lm_protocol::Page<License> = alice.get(&path).await.expect(200).json();
                assert!(page.items.len() <= 7);
                got.extend(page.items.iter().map(|l| l.id.to_string()));
                match page.next {
                    Some(next) => cursor = format!("&cursor={next}"),
                    None => break,
                }
            }
            assert_eq!(got, want, "sort={sort}");
        }
    }
}

async fn bad_filters_name_the_parameter(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    // Free text beyond any license's text once made SQLite fail ("LIKE or GLOB pattern too
    // complex") with a 500.
    let long_text = format!("q={}", "x".repeat(60_000));
    for (query, field) in [
        (long_text.as_str(), "q"),
        ("cost_min=cheap", "cost_min"),
        ("expires_from=2026-02-30", "expires_from"),
        ("sort=price", "sort"),
        ("limit=5000", "limit"),
        ("colour=red", "colour"),
        ("currency=EURO", "currency"),
        ("added_from=2026-05-01&added_to=2026-01-01", "added_from"),
        ("cursor=not-a-cursor", "cursor"),
        ("expiring_within=-1", "expiring_within"),
        ("assigned=maybe", "assigned"),
    ] {
        let reply = alice
            .get(&format!("/v1/licenses?{query}"))
            .await
            .expect_problem(422, field);
        assert_eq!(reply.body["field"], field, "{query}");
    }
}

crate::on_both_databases!(
    every_filter_agrees_with_the_protocol,
    every_sort_pages_through_everything_in_order,
    bad_filters_name_the_parameter,
);
