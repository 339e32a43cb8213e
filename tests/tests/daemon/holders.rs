//! Every holder of a license reaches the cache, also the ones beyond the ten a license lists
//! (a seat license of a school has hundreds): filters find the license by any of them, lmd
//! pages through all of them, and unassigns any of them by name.

use crate::server_with;
use lm_protocol::socket::{HolderWindow, HoldersRequest, Reply, Request, UnassignRequest};
use lm_protocol::{Assignee, LicenseFilter, LicenseId};
use lm_tests::{Daemon, SocketClient};
use serde_json::json;
use std::time::{Duration, Instant};

async fn holders(client: &mut SocketClient, license: &LicenseId, offset: usize) -> HolderWindow {
    match client
        .request(Request::Holders(HoldersRequest {
            license: license.clone(),
            offset,
        }))
        .await
    {
        Ok(Reply::Holders(window)) => window,
        other => panic!("holders: {other:?}"),
    }
}

/// The licenses the cache finds for employee `who`.
async fn assigned_to(client: &mut SocketClient, who: &str) -> usize {
    let filter = LicenseFilter {
        employee: Some(who.parse().unwrap()),
        ..LicenseFilter::default()
    };
    client.list(filter, 10).await.total
}

/// Waits until the cache finds `expected` licenses for `who`.
async fn until_assigned(client: &mut SocketClient, who: &str, expected: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while assigned_to(client, who).await != expected {
        assert!(Instant::now() < deadline, "{who}: not {expected} in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn holders_beyond_the_listed_ten_reach_the_cache_and_can_be_unassigned_by_name() {
    let (server, token) = server_with(0).await;
    let alice = server.login("alice");
    let created = alice
        .post(
            "/v1/licenses",
            &json!({
                "product": "typing-tutor", "name": "Typing Tutor, school", "kind": "subscription",
                "vendor": "Typeworks", "cost": {"amount": 90000, "currency": "EUR"},
                "seats": 40, "expires": "2027-08-31",
            }),
        )
        .await
        .expect(201);
    let id: LicenseId = created.body["id"].as_str().unwrap().parse().unwrap();
    for n in 0..30 {
        alice
            .post(
                &format!("/v1/licenses/{id}/assignments"),
                &json!({"employee": format!("pupil{n:02}")}),
            )
            .await
            .expect(201);
    }
    let mut daemon = Daemon::start(&server.url, &token).await;
    let mut client = daemon.connect().await;
    client.wait_live().await;

    // pupil25 is not among the ten the license lists, and still found.
    let license = client.list(LicenseFilter::default(), 10).await.items[0].clone();
    assert_eq!((license.assignments.len(), license.seats_used), (10, 30));
    assert_eq!(assigned_to(&mut client, "pupil25").await, 1);
    let all = holders(&mut client, &id, 0).await;
    assert_eq!(all.total, 30);
    let names: Vec<&str> = all.items.iter().map(|a| a.assignee.label()).collect();
    assert_eq!(names[0], "pupil00", "in the order they were assigned");
    assert_eq!(names[29], "pupil29");
    assert_eq!(holders(&mut client, &id, 28).await.items.len(), 2);

    // Changes made elsewhere arrive holder by holder.
    alice
        .post(
            &format!("/v1/licenses/{id}/assignments"),
            &json!({"employee": "pupil30"}),
        )
        .await
        .expect(201);
    until_assigned(&mut client, "pupil30", 1).await;

    // Unassigned by name through lmd, which finds the assignment the license does not list.
    let done = client
        .request(Request::Unassign(UnassignRequest {
            license: id.clone(),
            assignment: None,
            from: Some(Assignee::Employee("pupil25".parse().unwrap())),
        }))
        .await;
    assert_eq!(done, Ok(Reply::Done));
    assert_eq!(
        assigned_to(&mut client, "pupil25").await,
        0,
        "gone when answered"
    );
    let refused = client
        .request(Request::Unassign(UnassignRequest {
            license: id.clone(),
            assignment: None,
            from: Some(Assignee::Employee("pupil25".parse().unwrap())),
        }))
        .await
        .unwrap_err();
    assert_eq!(refused.field.as_deref(), Some("from"), "{refused:?}");
    // And through `lm unassign`, the same.
    let out = daemon.lm(&["unassign", id.as_str(), "--employee", "pupil27"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(assigned_to(&mut client, "pupil27").await, 0);
    let server_holders = alice
        .get(&format!("/v1/licenses/{id}"))
        .await
        .expect(200)
        .body["seats_used"]
        .clone();
    assert_eq!(server_holders, 29);

    // A restarted lmd has them from its own disk.
    drop(client);
    daemon.stop();
    daemon.launch().await;
    let mut client = daemon.connect().await;
    assert_eq!(holders(&mut client, &id, 0).await.total, 29);
    assert_eq!(assigned_to(&mut client, "pupil26").await, 1);
    let out = daemon.lm(&["holders", id.as_str()]);
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 29);
    assert!(lines[0].starts_with("employee:pupil00"), "{lines:?}");
    let shown = daemon.lm(&["show", id.as_str()]);
    let shown = String::from_utf8(shown.stdout).unwrap();
    assert!(
        shown.contains(&format!("and 19 more (lm holders {id})")),
        "{shown}"
    );
}
