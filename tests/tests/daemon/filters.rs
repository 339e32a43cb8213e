//! The cache answers a filter exactly as the server does: random filters and sorts, drawn
//! from the inventory's own values, give the same licenses in the same order from lmd's
//! indexes and from the server's SQL.

use crate::server_with;
use lm_protocol::{
    Assigned, Assignee, License, LicenseFilter, Sort, SortField,
    socket::{ListRequest, Reply, Request},
};
use lm_tests::{Client, Daemon, SocketClient};

/// A small deterministic generator (xorshift64*): the seed in a failure message reproduces it.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// 1–3 conditions on values the inventory has (and now and then on one it lacks).
fn random_filter(draw: &mut Draw, inventory: &[License]) -> LicenseFilter {
    let mut filter = LicenseFilter::default();
    let some = |draw: &mut Draw| draw.pick(inventory).clone();
    for _ in 0..1 + draw.below(3) {
        match draw.below(11) {
            0 => filter.kind = Some(some(draw).kind),
            1 => filter.product = Some(some(draw).product),
            2 => {
                filter.vendor = Some(if draw.chance(10) {
                    "nobody".into()
                } else {
                    some(draw).vendor.as_str().to_uppercase()
                });
            }
            3 | 4 => {
                let assigned: Vec<Assignee> = inventory
                    .iter()
                    .flat_map(|l| l.assignments.iter().map(|a| a.assignee.clone()))
                    .collect();
                match draw.pick(&assigned) {
                    Assignee::Employee(e) => filter.employee = Some(e.clone()),
                    Assignee::Device(d) => filter.device = Some(d.clone()),
                }
            }
            5 => {
                let a = some(draw).cost.amount;
                let b = some(draw).cost.amount;
                filter.cost_min = Some(a.min(b));
                if draw.chance(70) {
                    filter.cost_max = Some(a.max(b));
                }
            }
            // Bounds past the years of licenses, whose text sorts unlike the date.
            6 if draw.chance(10) => {
                filter.added_from = chrono::NaiveDate::from_ymd_opt(1066, 10, 14)
            }
            6 => {
                let day = some(draw).added;
                if draw.chance(50) {
                    filter.added_from = Some(day);
                } else {
                    filter.added_to = Some(day);
                }
            }
            7 if draw.chance(10) => {
                filter.expires_to = chrono::NaiveDate::from_ymd_opt(12026, 1, 1)
            }
            7 => match some(draw).expires {
                Some(day) if draw.chance(50) => filter.expires_to = Some(day),
                Some(day) => filter.expires_from = Some(day),
                None => filter.expires = chrono::NaiveDate::from_ymd_opt(2027, 1, 1),
            },
            8 => filter.expiring_within = Some(draw.below(400) as u32),
            9 => filter.assigned = Some(*draw.pick(&Assigned::ALL)),
            _ => {
                let name = some(draw).name.as_str().to_lowercase();
                let start = draw.below(name.len().max(1)).min(name.len());
                let word: String = name[start..].chars().take(3 + draw.below(4)).collect();
                filter.q = Some(word);
            }
        }
    }
    filter
}

/// The ids listed, or the field a refusal names.
type Listed = Result<Vec<String>, String>;

async fn from_the_cache(client: &mut SocketClient, filter: &LicenseFilter, sort: Sort) -> Listed {
    match client
        .request(Request::List(ListRequest {
            filter: filter.clone(),
            sort,
            offset: 0,
            limit: 10_000,
            within: None,
        }))
        .await
    {
        Ok(Reply::Licenses(window)) => {
            Ok(window.items.into_iter().map(|l| l.id.to_string()).collect())
        }
        Err(problem) if problem.status == 422 => Err(problem.field.unwrap_or_default()),
        other => panic!("list: {other:?}"),
    }
}

async fn from_the_server(client: &Client, filter: &LicenseFilter, sort: Sort) -> Listed {
    let mut query: Vec<(String, String)> = filter
        .to_query()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    query.push(("sort".into(), sort.to_string()));
    query.push(("limit".into(), "500".into()));
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut params = query.clone();
        if let Some(c) = &cursor {
            params.push(("cursor".into(), c.clone()));
        }
        let encoded: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect();
        let reply = client
            .get(&format!("/v1/licenses?{}", encoded.join("&")))
            .await;
        if reply.status == 422 {
            return Err(reply.body["field"].as_str().unwrap_or_default().to_owned());
        }
        let page = reply.expect(200).body;
        for item in page["items"].as_array().unwrap() {
            ids.push(item["id"].as_str().unwrap().to_owned());
        }
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(ids),
        }
    }
}

fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn random_filters_and_sorts_select_the_same_licenses_in_the_cache_and_on_the_server() {
    let (server, token) = server_with(600).await;
    let daemon = Daemon::start(&server.url, &token).await;
    let mut client = daemon.connect().await;
    client.wait_live().await;
    let inventory = client.list_all(LicenseFilter::default()).await;
    assert_eq!(inventory.len(), 600);
    let manager = server.login("alice");

    let seed = std::env::var("LM_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    let mut draw = Draw(seed);
    let mut selective = 0;
    for case in 0..80 {
        let filter = random_filter(&mut draw, &inventory);
        let sort = Sort {
            field: *draw.pick(&SortField::ALL),
            descending: draw.chance(50),
        };
        let cached = from_the_cache(&mut client, &filter.clone().normalized(), sort).await;
        let served = from_the_server(&manager, &filter, sort).await;
        assert_eq!(
            cached, served,
            "case {case} of LM_TEST_SEED={seed}: {filter:?} sorted by {sort}"
        );
        if served
            .as_ref()
            .is_ok_and(|ids| !ids.is_empty() && ids.len() < inventory.len())
        {
            selective += 1;
        }
    }
    assert!(
        selective >= 20,
        "most random filters should select something, but not everything (seed {seed})"
    );
}
