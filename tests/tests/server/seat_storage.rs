//! How seats are stored as they grow: a license lists its oldest holders and counts them all,
//! so what a seat writes, sends and logs stays the same size; the holders are paged through
//! their own route; and nothing an export and re-import does loses a holder it did not show.

use super::seats::{buy, id, license, permissions, pupils, school_server};
use lm_tests::Backend;
use serde_json::Value;

/// `lm_protocol::license::LISTED_ASSIGNMENTS`.
const LISTED: usize = 10;

fn users(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["user"].as_str().unwrap().to_owned())
        .collect()
}

fn listed(license: &Value) -> Vec<String> {
    license["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["employee"].as_str().unwrap().to_owned())
        .collect()
}

/// 25 seats taken: the license lists the oldest ten and counts 25, the feed carries it in
/// well under 2 KB, and the seats route pages through all 25 in the order they were taken.
async fn a_seat_license_lists_its_oldest_holders_and_counts_them_all(backend: Backend) {
    let (_server, manager) = school_server(backend).await;
    let class = buy(&manager, "class", &["4b"], 60, "2099-12-31").await;
    let names = pupils(&manager, "4b", 0..25).await;
    for name in &names {
        permissions(&manager, name).await;
    }
    let head = manager
        .get("/v1/changes?after=0&limit=1")
        .await
        .expect(200)
        .body["head"]
        .as_i64()
        .unwrap();
    permissions(&manager, "ada").await;

    let seat_license = license(&manager, id(&class)).await;
    assert_eq!(seat_license["seats_used"], 26);
    assert_eq!(listed(&seat_license), names[..LISTED], "{seat_license:#}");
    // What a daemon receives for the 26th seat: that license, bounded.
    let feed = manager
        .get(&format!("/v1/changes?after={head}"))
        .await
        .expect(200)
        .body;
    let change = &feed["changes"][0];
    assert_eq!(change["license"]["seats_used"], 26, "{feed:#}");
    let size = change.to_string().len();
    assert!(size < 2_048, "a seat's change is {size} bytes: {change:#}");

    // Every holder, a page at a time, in the order the seats were taken.
    let mut all = Vec::new();
    let mut path = format!("/v1/licenses/{}/seats?limit=10", id(&class));
    loop {
        let page = manager.get(&path).await.expect(200).body;
        all.extend(users(&page));
        match page["next"].as_str() {
            Some(next) => {
                path = format!("/v1/licenses/{}/seats?limit=10&cursor={next}", id(&class))
            }
            None => break,
        }
    }
    let mut expected = names.clone();
    expected.push("ada".into());
    assert_eq!(all, expected);
    for (query, field) in [
        ("limit=0", "limit"),
        ("cursor=yesterday", "cursor"),
        ("page=2", "page"),
    ] {
        let problem = manager
            .get(&format!("/v1/licenses/{}/seats?{query}", id(&class)))
            .await
            .expect(422)
            .body;
        assert!(problem.to_string().contains(field), "{query}: {problem:#}");
    }
}

/// A listed holder who leaves makes room for the next oldest; one beyond the list leaves the
/// list alone. The count follows both.
async fn releasing_a_seat_keeps_the_list_the_oldest_holders(backend: Backend) {
    let (_server, manager) = school_server(backend).await;
    let class = buy(&manager, "class", &["4b"], 60, "2099-12-31").await;
    let names = pupils(&manager, "4b", 0..15).await;
    for name in &names {
        permissions(&manager, name).await;
    }
    let seats = manager
        .get(&format!("/v1/licenses/{}/seats", id(&class)))
        .await
        .expect(200)
        .body;
    let seat_of = |name: &str| {
        seats["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["user"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let release = |name: &str| {
        let path = format!("/v1/licenses/{}/seats/{}", id(&class), seat_of(name));
        let manager = manager.clone();
        async move { manager.delete(&path).await.expect(200).body }
    };

    let after = release("pupil3").await;
    let mut expected: Vec<String> = names.iter().filter(|n| *n != "pupil3").cloned().collect();
    assert_eq!(after["seats_used"], 14);
    assert_eq!(listed(&after), expected[..LISTED]);

    let after = release("pupil12").await;
    expected.retain(|n| n != "pupil12");
    assert_eq!(after["seats_used"], 13);
    assert_eq!(listed(&after), expected[..LISTED]);
    assert_eq!(
        listed(&license(&manager, id(&class)).await),
        expected[..LISTED]
    );
}

/// Exporting a license with more holders than it lists and importing the file again changes
/// nothing: the holders the file could not show stay.
async fn re_importing_an_export_keeps_the_holders_it_did_not_show(backend: Backend) {
    let (_server, manager) = school_server(backend).await;
    let class = buy(&manager, "class", &["4b"], 60, "2099-12-31").await;
    for name in pupils(&manager, "4b", 0..20).await {
        permissions(&manager, &name).await;
    }
    let csv = manager
        .get("/v1/licenses/export.csv?kind=seat")
        .await
        .expect(200)
        .text;
    let report = manager
        .post_bytes("/v1/licenses/import", "text/csv", csv.clone().into_bytes())
        .await
        .expect(200)
        .body;
    assert_eq!(report["unchanged"], 1, "{report:#}\n{csv}");
    assert_eq!(license(&manager, id(&class)).await["seats_used"], 20);

    // A file that drops a listed holder and names a new one changes just those two.
    let edited = csv.replace("pupil0;", "").replace("pupil9", "pupil9;bob");
    manager
        .post_bytes("/v1/licenses/import", "text/csv", edited.into_bytes())
        .await
        .expect(200);
    let after = license(&manager, id(&class)).await;
    assert_eq!(after["seats_used"], 20, "{after:#}");
    let holders = manager
        .get(&format!("/v1/licenses/{}/seats", id(&class)))
        .await
        .expect(200)
        .body;
    let holders = users(&holders);
    assert!(!holders.contains(&"pupil0".to_owned()), "{holders:?}");
    assert!(holders.contains(&"bob".to_owned()) && holders.contains(&"pupil19".to_owned()));
}

/// The same purchase — same product, owners in any order, provider and dates — is made once:
/// the second is refused by the purchase's identity. A removed purchase may be made again, and
/// restoring it then leaves the newer one in charge. Purchases made before purchases had an
/// identity get theirs when the server starts.
async fn a_purchase_is_made_once_until_its_license_is_removed(backend: Backend) {
    let (mut server, manager) = school_server(backend).await;
    // ada, who buys, is in both classes.
    manager
        .put(
            "/v1/hierarchy/entities/student/ada/parents/class/3a",
            &serde_json::json!({}),
        )
        .await
        .expect(201);
    let bought = |owners: [&str; 2], to: &str| {
        let manager = manager.clone();
        let body = super::seats::purchase("class", &owners, 5, "2026-01-01", to);
        async move { manager.post("/v1/users/ada/purchases", &body).await }
    };
    let first = bought(["4b", "3a"], "2099-12-31").await.expect(201).body;
    bought(["3a", "4b"], "2099-12-31")
        .await
        .expect_problem(409, "already");
    bought(["3a", "4b"], "2098-12-31").await.expect(201);

    manager
        .delete(&format!("/v1/licenses/{}", id(&first)))
        .await
        .expect(204);
    let again = bought(["4b", "3a"], "2099-12-31").await.expect(201).body;
    manager
        .post(
            &format!("/v1/licenses/{}/restore", id(&first)),
            &serde_json::json!({}),
        )
        .await
        .expect(200);
    manager
        .delete(&format!("/v1/licenses/{}", id(&again)))
        .await
        .expect(204);
    // The restored purchase gave its identity up to the newer one, which is removed now.
    bought(["4b", "3a"], "2099-12-31").await.expect(201);

    // A database of an older lm-server: no purchase has an identity.
    server.execute("UPDATE purchases SET identity = NULL").await;
    server.stop();
    server.relaunch(&[]).await;
    manager
        .post(
            "/v1/users/ada/purchases",
            &super::seats::purchase("class", &["3a", "4b"], 5, "2026-01-01", "2098-12-31"),
        )
        .await
        .expect_problem(409, "already");
}

crate::on_both_databases!(
    a_purchase_is_made_once_until_its_license_is_removed,
    a_seat_license_lists_its_oldest_holders_and_counts_them_all,
    releasing_a_seat_keeps_the_list_the_oldest_holders,
    re_importing_an_export_keeps_the_holders_it_did_not_show,
);
