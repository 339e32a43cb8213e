//! The change feed: a client that follows it from 0, in pages, while writes go on, ends with
//! exactly the server's current set — no missed update, no resurrected removal.

use super::{create, creative_cloud, list_all, with};
use lm_protocol::{Assignment, Change, ChangePage, License, Member, MemberStatus, Role};
use lm_tests::{Backend, Client, Server};
use serde_json::json;
use std::collections::BTreeMap;

/// What a follower of the feed holds: the licenses, and every holder of each.
#[derive(Default)]
struct Replica {
    licenses: BTreeMap<String, License>,
    holders: BTreeMap<String, BTreeMap<String, Assignment>>,
    members: BTreeMap<String, Member>,
}

impl Replica {
    /// Each license's holders agree with it: as many as it counts, the ones it lists among
    /// them.
    fn assert_holders_agree(&self) {
        for (id, license) in &self.licenses {
            let holders = self.holders.get(id).cloned().unwrap_or_default();
            assert_eq!(holders.len() as u32, license.seats_used, "holders of {id}");
            for listed in &license.assignments {
                assert_eq!(holders.get(listed.id.as_str()), Some(listed), "{id} lists");
            }
        }
    }
}

/// Applies feed pages from `after` until the feed says nothing more is waiting, each asked
/// for at the address the one before named in its `Link` header.
async fn follow(client: &Client, replica: &mut Replica, mut after: i64, limit: u32) -> i64 {
    let mut address = format!("/v1/changes?after={after}&limit={limit}");
    loop {
        let reply = client.get(&address).await.expect(200);
        let page: ChangePage = reply.json();
        let link = reply.header("link").map(str::to_owned);
        let mut last = after;
        for change in &page.changes {
            assert!(change.revision() > after, "a page starts after its cursor");
            assert!(change.revision() >= last, "revisions only grow");
            last = change.revision();
            let license = change
                .license()
                .map(ToString::to_string)
                .unwrap_or_default();
            match change {
                Change::Upsert { license, .. } => {
                    replica
                        .licenses
                        .insert(license.id.to_string(), (**license).clone());
                }
                Change::Delete { id, .. } => {
                    replica.licenses.remove(id.as_str());
                    replica.holders.remove(id.as_str());
                }
                Change::Assign { assignment, .. } => {
                    let holders = replica.holders.entry(license).or_default();
                    holders.insert(assignment.id.to_string(), assignment.clone());
                }
                Change::Unassign { id, .. } => {
                    let holders = replica.holders.entry(license).or_default();
                    holders.remove(id.as_str());
                }
                Change::Member { member, .. } => {
                    replica
                        .members
                        .insert(member.name.clone(), (**member).clone());
                }
                Change::Uninvite { name, .. } => {
                    replica.members.remove(name);
                }
            }
        }
        assert!(page.next >= last, "the cursor never moves back");
        after = page.next;
        if !page.more {
            assert_eq!(page.next, page.head, "the last page ends at the head");
            assert_eq!(link, None, "the last page links to no next one");
            return after;
        }
        let link = link.expect("a page with more after it links to the next");
        let next = link
            .strip_prefix('<')
            .and_then(|l| l.strip_suffix(">; rel=\"next\""))
            .unwrap_or_else(|| panic!("not a link to the next page: {link}"));
        assert_eq!(next, format!("/v1/changes?after={after}&limit={limit}"));
        address = next.to_owned();
    }
}

fn versions(licenses: impl IntoIterator<Item = License>) -> BTreeMap<String, i64> {
    licenses
        .into_iter()
        .map(|l| (l.id.to_string(), l.version))
        .collect()
}

async fn feed_followed_during_writes_ends_with_the_inventory(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    server
        .admin(&["seed", "--org", "acme", "--licenses", "200"])
        .expect("seed");
    let seeded = list_all(&alice, "").await;

    // Two managers write while a third client pages through the feed.
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let client = alice.clone();
            let mine: Vec<License> = seeded.iter().skip(w * 40).take(40).cloned().collect();
            tokio::spawn(async move {
                for (i, license) in mine.iter().enumerate() {
                    let path = format!("/v1/licenses/{}", license.id);
                    match i % 4 {
                        0 => client.delete(&path).await.expect(204),
                        1 => client
                            .patch(
                                &path,
                                license.version,
                                &json!({"notes": format!("touched by {w}")}),
                            )
                            .await
                            .expect(200),
                        2 => {
                            let assigned = client
                                .post(
                                    &format!("{path}/assignments"),
                                    &json!({"device": format!("W{w}-{i}")}),
                                )
                                .await;
                            // Every other one is released again: a holder's tombstone.
                            if assigned.status == 201 && i % 8 == 2 {
                                let id = assigned.body["assignments"]
                                    .as_array()
                                    .and_then(|all| {
                                        all.iter().find(|a| a["device"] == format!("W{w}-{i}"))
                                    })
                                    .map(|a| a["id"].as_str().unwrap().to_owned());
                                if let Some(id) = id {
                                    client
                                        .delete(&format!("{path}/assignments/{id}"))
                                        .await
                                        .expect(200);
                                }
                            }
                            assigned
                        }
                        _ => client
                            .post(
                                "/v1/licenses",
                                &with(creative_cloud(), json!({"name": format!("new {w}-{i}")})),
                            )
                            .await
                            .expect(201),
                    };
                }
            })
        })
        .collect();

    let mut replica = Replica::default();
    let mut after = 0;
    while writers.iter().any(|w| !w.is_finished()) {
        after = follow(&alice, &mut replica, after, 17).await;
    }
    for writer in writers {
        writer.await.unwrap();
    }
    follow(&alice, &mut replica, after, 17).await;
    replica.assert_holders_agree();
    assert_eq!(
        versions(replica.licenses.into_values()),
        versions(list_all(&alice, "").await)
    );
}

async fn feed_shows_removals_and_hides_keys_from_employees(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    let eve = server.employee("eve");
    let kept = create(&alice, creative_cloud()).await;
    let removed = create(&alice, creative_cloud()).await;
    alice
        .delete(&format!("/v1/licenses/{}", removed["id"].as_str().unwrap()))
        .await
        .expect(204);

    let mut page: ChangePage = eve.get("/v1/changes?after=0").await.expect(200).json();
    assert!(!page.more);
    assert_eq!(page.head, page.next);
    // Eve's own member record comes too; the licenses are what this is about.
    page.changes.retain(|c| c.license().is_some());
    let ops: Vec<_> = page
        .changes
        .iter()
        .map(|c| serde_json::to_value(c).unwrap()["op"].clone())
        .collect();
    assert_eq!(ops, [json!("upsert"), json!("delete")]);
    match &page.changes[0] {
        Change::Upsert { license, .. } => {
            assert_eq!(license.id.as_str(), kept["id"].as_str().unwrap());
            assert!(
                license.key.is_none(),
                "employees never see product keys, in the feed either"
            );
        }
        other => panic!("expected an upsert, got {other:?}"),
    }
    let manager_view: ChangePage = alice.get("/v1/changes").await.expect(200).json();
    assert!(
        manager_view
            .changes
            .iter()
            .any(|c| matches!(c, Change::Upsert { license, .. } if license.key.is_some()))
    );

    let caught_up: ChangePage = eve
        .get(&format!("/v1/changes?after={}", page.next))
        .await
        .expect(200)
        .json();
    assert!(caught_up.changes.is_empty() && !caught_up.more && caught_up.next == page.next);

    for (query, field) in [
        ("after=-1", "after"),
        // Beyond the head: once answered with that number as the head revision.
        ("after=9007199254740991", "after"),
        ("limit=0", "limit"),
        ("since=3", "since"),
    ] {
        eve.get(&format!("/v1/changes?{query}"))
            .await
            .expect_problem(422, field);
    }
    server.client(None).get("/v1/changes").await.expect(401);
    let other = server.user("gus", "manager", "globex");
    let foreign: ChangePage = other.get("/v1/changes").await.expect(200).json();
    let seen: Vec<&str> = foreign
        .changes
        .iter()
        .map(|c| c.member().unwrap_or("a license"))
        .collect();
    assert_eq!(
        seen,
        ["gus"],
        "another organization's feed has only its own"
    );
}

async fn cursors_older_than_purged_removals_must_resync(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    let kept = create(&alice, creative_cloud()).await;
    let doomed = create(&alice, creative_cloud()).await;
    let mut replica = Replica::default();
    let before_removal = follow(&alice, &mut replica, 0, 100).await;
    assert_eq!(replica.licenses.len(), 2);

    // A manager removes a license; it stays restorable until the retention purges it.
    alice
        .delete(&format!("/v1/licenses/{}", doomed["id"].as_str().unwrap()))
        .await
        .expect(204);
    let purged = server
        .admin(&["purge", "--older-than", "0s"])
        .expect("purge");
    assert!(purged.is_empty(), "purge reports on stderr");
    alice
        .post(
            &format!("/v1/licenses/{}/restore", doomed["id"].as_str().unwrap()),
            &json!({}),
        )
        .await
        .expect(404);

    // A follower whose cursor predates the purged removal could have missed it: 410.
    let gone = alice
        .get(&format!("/v1/changes?after={before_removal}"))
        .await
        .expect_problem(410, "resync from 0");
    assert_eq!(gone.body["type"], "urn:lm:problem:feed-expired");
    assert_eq!(gone.body["field"], "after");

    // Resyncing from 0 gives exactly the live set; cursors past the purge keep working.
    let mut fresh = Replica::default();
    let head = follow(&alice, &mut fresh, 0, 100).await;
    assert_eq!(
        fresh.licenses.keys().collect::<Vec<_>>(),
        vec![kept["id"].as_str().unwrap()]
    );
    alice
        .get(&format!("/v1/changes?after={head}"))
        .await
        .expect(200);
    let audit = alice
        .get(&format!(
            "/v1/audit?record={}&action=delete",
            doomed["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        audit.body["items"].as_array().unwrap().len(),
        1,
        "the audit log keeps the removal"
    );
}

/// The holders of a license beyond the ten it lists reach a follower too: each its own small
/// change, a released one its own tombstone, all of them again when the license is restored;
/// and a page never ends inside a revision, however small the limit.
async fn every_holder_is_its_own_change_and_no_page_splits_a_revision(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    let license = create(&alice, with(creative_cloud(), json!({"seats": 40}))).await;
    let id = license["id"].as_str().unwrap();
    let mut assignments = Vec::new();
    for n in 0..25 {
        let after = alice
            .post(
                &format!("/v1/licenses/{id}/assignments"),
                &json!({"employee": format!("e{n:02}")}),
            )
            .await
            .expect(201);
        assert!(after.body["assignments"].as_array().unwrap().len() <= 10);
        assignments.push(after.body);
    }
    let mut replica = Replica::default();
    let cursor = follow(&alice, &mut replica, 0, 7).await;
    replica.assert_holders_agree();
    let holders = &replica.holders[id];
    assert_eq!(holders.len(), 25);
    assert!(holders.values().any(|a| a.assignee.label() == "e24"));

    // Each holder's change is small, whatever the license holds.
    let page = alice
        .get("/v1/changes?after=0&limit=1000")
        .await
        .expect(200);
    for change in page.body["changes"].as_array().unwrap() {
        if change["op"] == "assign" {
            assert!(change.to_string().len() < 2048, "{change}");
        }
    }

    // e20, beyond the listed ten, leaves: its own tombstone.
    let e20 = holders
        .values()
        .find(|a| a.assignee.label() == "e20")
        .unwrap()
        .id
        .clone();
    alice
        .delete(&format!("/v1/licenses/{id}/assignments/{e20}"))
        .await
        .expect(200);
    let page: ChangePage = alice
        .get(&format!("/v1/changes?after={cursor}"))
        .await
        .expect(200)
        .json();
    assert!(
        page.changes
            .iter()
            .any(|c| matches!(c, Change::Unassign { id, .. } if *id == e20)),
        "{page:?}"
    );
    let cursor = follow(&alice, &mut replica, cursor, 7).await;
    replica.assert_holders_agree();
    assert_eq!(replica.holders[id].len(), 24);

    // Removed, the license takes its holders along; restored, it brings them back at one
    // revision — 25 changes, which a page of 5 hands out whole.
    alice
        .delete(&format!("/v1/licenses/{id}"))
        .await
        .expect(204);
    let cursor = follow(&alice, &mut replica, cursor, 7).await;
    assert!(!replica.holders.contains_key(id) && !replica.licenses.contains_key(id));
    alice
        .post(&format!("/v1/licenses/{id}/restore"), &json!({}))
        .await
        .expect(200);
    let page: ChangePage = alice
        .get(&format!("/v1/changes?after={cursor}&limit=5"))
        .await
        .expect(200)
        .json();
    assert_eq!(page.changes.len(), 25, "one revision, whole");
    assert!(!page.more);
    follow(&alice, &mut replica, cursor, 5).await;
    replica.assert_holders_agree();
    assert_eq!(replica.holders[id].len(), 24);
}

/// An employee's feed carries the licenses and their own holders only: a district's student
/// does not download every other student's seat.
async fn an_employee_follows_their_own_holders_only(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    let eve = server.employee("eve");
    let license = create(&alice, with(creative_cloud(), json!({"seats": 40}))).await;
    let id = license["id"].as_str().unwrap();
    let mut eves = String::new();
    for who in ["ann", "bob", "eve", "dan"] {
        let after = alice
            .post(
                &format!("/v1/licenses/{id}/assignments"),
                &json!({"employee": who}),
            )
            .await
            .expect(201);
        if who == "eve" {
            let all = after.body["assignments"].as_array().unwrap();
            let mine = all.iter().find(|a| a["employee"] == "eve").unwrap();
            eves = mine["id"].as_str().unwrap().to_owned();
        }
    }
    let holders_in = |page: &ChangePage| -> Vec<String> {
        page.changes
            .iter()
            .filter_map(|c| match c {
                Change::Assign { assignment, .. } => Some(assignment.assignee.label().to_owned()),
                Change::Unassign { id, .. } => Some(format!("-{id}")),
                _ => None,
            })
            .collect()
    };
    let page: ChangePage = eve.get("/v1/changes?after=0").await.expect(200).json();
    assert_eq!(holders_in(&page), ["eve"]);
    let all: ChangePage = alice.get("/v1/changes?after=0").await.expect(200).json();
    assert_eq!(holders_in(&all).len(), 4, "a manager follows everyone's");

    // Bob's release is none of eve's business; hers is.
    let bob = all
        .changes
        .iter()
        .find_map(|c| match c {
            Change::Assign { assignment, .. } if assignment.assignee.label() == "bob" => {
                Some(assignment.id.to_string())
            }
            _ => None,
        })
        .unwrap();
    for gone in [&bob, &eves] {
        alice
            .delete(&format!("/v1/licenses/{id}/assignments/{gone}"))
            .await
            .expect(200);
    }
    let page: ChangePage = eve
        .get(&format!("/v1/changes?after={}", page.next))
        .await
        .expect(200)
        .json();
    assert_eq!(holders_in(&page), [format!("-{eves}")]);
}

crate::on_both_databases!(
    an_employee_follows_their_own_holders_only,
    every_holder_is_its_own_change_and_no_page_splits_a_revision,
    cursors_older_than_purged_removals_must_resync,
    feed_followed_during_writes_ends_with_the_inventory,
    feed_shows_removals_and_hides_keys_from_employees,
    members_follow_the_feed_as_their_own_changes,
);

/// Who the replica lists, as `name role status`.
fn standing(replica: &Replica) -> Vec<String> {
    replica
        .members
        .values()
        .map(|m| format!("{} {} {}", m.name, m.role.as_str(), m.status))
        .collect()
}

/// Members are changes of their own: joined, invited, resent, revoked, promoted, offboarded
/// — a follower lists exactly whom `GET /v1/members` lists; an employee follows only
/// themselves.
async fn members_follow_the_feed_as_their_own_changes(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    server.employee("bob");
    let mut replica = Replica::default();
    let mut cursor = follow(&alice, &mut replica, 0, 3).await;
    assert_eq!(
        standing(&replica),
        ["alice manager active", "bob employee active"]
    );

    let carol = alice
        .post(
            "/v1/invitations",
            &json!({"name": "carol", "role": "employee"}),
        )
        .await
        .expect(201);
    let dave = alice
        .post(
            "/v1/invitations",
            &json!({"name": "dave", "role": "manager"}),
        )
        .await
        .expect(201);
    cursor = follow(&alice, &mut replica, cursor, 3).await;
    assert_eq!(
        standing(&replica),
        [
            "alice manager active",
            "bob employee active",
            "carol employee invited",
            "dave manager invited"
        ]
    );
    let first_until = replica.members["carol"].invited_until.unwrap();
    let carol_id = carol.body["invitation"]["id"].as_str().unwrap();
    let resent = alice
        .post(&format!("/v1/invitations/{carol_id}/resend"), &json!({}))
        .await
        .expect(200);
    let dave_id = dave.body["invitation"]["id"].as_str().unwrap();
    alice
        .delete(&format!("/v1/invitations/{dave_id}"))
        .await
        .expect(204);
    alice
        .patch_json("/v1/members/bob", &json!({"role": "manager"}))
        .await
        .expect(200);
    cursor = follow(&alice, &mut replica, cursor, 3).await;
    assert_eq!(
        standing(&replica),
        [
            "alice manager active",
            "bob manager active",
            "carol employee invited"
        ]
    );
    assert!(replica.members["carol"].invited_until.unwrap() >= first_until);

    let (status, page) = lm_tests::oauth_forms::accept_link(
        &server,
        &lm_tests::oauth_forms::link_path(resent.body["link"].as_str().unwrap()),
        "correct horse battery",
        "correct horse battery",
    )
    .await;
    assert_eq!(status, 200, "{page}");
    alice
        .post("/v1/members/bob/offboard", &json!({}))
        .await
        .expect(200);
    follow(&alice, &mut replica, cursor, 3).await;
    assert_eq!(
        standing(&replica),
        [
            "alice manager active",
            "bob manager disabled",
            "carol employee active"
        ]
    );
    let listed: lm_protocol::Page<Member> = alice.get("/v1/members").await.expect(200).json();
    let listed: Vec<(String, Role, MemberStatus)> = listed
        .items
        .into_iter()
        .map(|m| (m.name, m.role, m.status))
        .collect();
    let followed: Vec<(String, Role, MemberStatus)> = replica
        .members
        .into_values()
        .map(|m| (m.name, m.role, m.status))
        .collect();
    assert_eq!(followed, listed, "the feed lists whom the API lists");

    let carol = server.login("carol");
    let mut own = Replica::default();
    follow(&carol, &mut own, 0, 100).await;
    assert_eq!(
        standing(&own),
        ["carol employee active"],
        "an employee follows themselves"
    );
}
