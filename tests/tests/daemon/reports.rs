//! `lm report` through a real lmd: every report's numbers equal a full scan of what `lm ls
//! --json` lists, also with a filter and offline; a group no query names lists exactly the
//! licenses the report counted.

use crate::server_with;
use lm_protocol::insights::{Drill, GroupRef, Report, ReportKind, ReportParams};
use lm_protocol::socket::{ListRequest, Reply, Request};
use lm_protocol::{License, LicenseFilter, Money};
use lm_tests::Daemon;
use std::collections::BTreeMap;

/// Sums per currency, as a report lists them.
fn sums<'a>(licenses: impl IntoIterator<Item = &'a License>) -> Vec<Money> {
    let mut by: BTreeMap<String, Money> = BTreeMap::new();
    for l in licenses {
        by.entry(l.cost.currency.to_string())
            .and_modify(|m| m.amount += l.cost.amount)
            .or_insert(l.cost);
    }
    by.into_values().filter(|m| m.amount != 0).collect()
}

#[tokio::test]
async fn reports_agree_with_a_full_scan_and_groups_list_exactly_their_licenses() {
    let (mut server, token) = server_with(300).await;
    let daemon = Daemon::start(&server.url, &token).await;
    let mut client = daemon.connect().await;
    client.wait_live().await;
    let today = chrono::Utc::now().date_naive();

    for filter in [
        vec![],
        vec!["vendor:adobe"],
        vec!["kind:subscription", "cost>500"],
    ] {
        let mut ls = vec!["ls", "--json"];
        ls.extend(&filter);
        let listed: Vec<License> = daemon.lm_json(&ls);

        let mut args = vec!["report", "spend", "--json"];
        args.extend(&filter);
        let Report::Spend(spend) = daemon.lm_json(&args) else {
            panic!("a spend report")
        };
        assert_eq!(spend.licenses as usize, listed.len(), "{filter:?}");
        assert_eq!(spend.total, sums(&listed), "{filter:?}");

        let mut args = vec!["report", "renewals", "--months", "6", "--json"];
        args.extend(&filter);
        let Report::Renewals(renewals) = daemon.lm_json(&args) else {
            panic!("a forecast")
        };
        let expired: Vec<&License> = listed
            .iter()
            .filter(|l| l.expires.is_some_and(|e| e < today))
            .collect();
        assert_eq!(renewals.expired as usize, expired.len());
        assert_eq!(renewals.expired_cost, sums(expired));
        for month in &renewals.months {
            let Drill::Query { query } = &month.drill else {
                panic!("a month is a query")
            };
            let mut ls = vec!["ls", "--json"];
            ls.extend(&filter);
            ls.extend(query.split(' '));
            let in_month: Vec<License> = daemon.lm_json(&ls);
            assert_eq!(month.licenses as usize, in_month.len(), "{query}");
            assert_eq!(month.cost, sums(&in_month), "{query}");
        }
    }

    // A group no query names: exactly the licenses the report counted.
    let Report::Reclaim(reclaim) = daemon.lm_json(&["report", "reclaim", "--json"]) else {
        panic!("a reclaim report")
    };
    let unassigned = reclaim
        .groups
        .iter()
        .find(|g| g.kind.as_str() == "unassigned")
        .expect("the group");
    let Ok(Reply::Licenses(window)) = client
        .request(Request::List(ListRequest {
            filter: LicenseFilter::default(),
            limit: 10_000,
            within: Some(GroupRef {
                report: ReportKind::Reclaim,
                group: "unassigned".into(),
                params: ReportParams::default(),
            }),
            ..ListRequest::default()
        }))
        .await
    else {
        panic!("a window")
    };
    assert_eq!(window.total, unassigned.licenses as usize);
    assert!(
        window
            .items
            .iter()
            .all(|l| l.seats_used == 0 && l.cost.amount > 0)
    );
    assert_eq!(
        sums(&window.items),
        unassigned.at_stake,
        "the money at stake is theirs"
    );

    let csv = daemon.lm(&["report", "spend", "--csv"]);
    assert!(
        String::from_utf8_lossy(&csv.stdout).starts_with("section,group,licenses,amount,currency")
    );
    let refused = daemon.lm(&["report", "costs"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("renewals"));
    let refused = daemon.lm(&["report", "renewals", "--months", "0"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--months"));

    // Offline: the same numbers, from the cache.
    let before: serde_json::Value = daemon.lm_json(&["report", "spend", "--json"]);
    assert!(server.stop());
    let after: serde_json::Value = daemon.lm_json(&["report", "spend", "--json"]);
    assert_eq!(before, after);
}
