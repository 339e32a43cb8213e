//! The first-day rush: many students check at once, each taking a seat. Seat takes that
//! queue for one organization are committed together, yet every check gets its own answer,
//! exactly the seats there are are handed out (on PostgreSQL through two replicas), and a
//! take that fails fails only its own check. Purchases join the same batches.

use super::seats::{buy, pupils, purchase, school, school_server};
use lm_tests::{Backend, Client, Server};
use serde_json::{Value, json};
use std::time::Duration;

/// A server (and on PostgreSQL a second replica) with [`school`], `students` more students
/// `pupil0`… in class 4b, and a license of `seats` seats owned by the class.
async fn rush_server(
    backend: Backend,
    students: u32,
    seats: u32,
) -> (Server, Option<Server>, Client, Value) {
    let server = Server::start_with(backend, &["--rate-limit", "0"]).await;
    let replica = match backend {
        Backend::Postgres => Some(server.replica(&["--rate-limit", "0"]).await),
        Backend::Sqlite => None,
    };
    let manager = server.manager("alice");
    school(&manager).await;
    pupils(&manager, "4b", 0..students).await;
    let license = buy(&manager, "class", &["4b"], seats, "2099-12-31").await;
    (server, replica, manager, license)
}

/// Pupils `students` check at once, alternating between the replicas; answers each
/// check, in the order of `students`.
fn checks_at_once(
    server: &Server,
    replica: Option<&Server>,
    manager: &Client,
    students: std::ops::Range<u32>,
) -> Vec<tokio::task::JoinHandle<(u16, Value)>> {
    let token = manager.token().unwrap().to_owned();
    let mut urls = vec![server.url.clone()];
    urls.extend(replica.map(|r| r.url.clone()));
    students
        .map(|i| {
            let client = Client::new(&urls[i as usize % urls.len()], Some(token.clone()));
            tokio::spawn(async move {
                let reply = client.get(&format!("/v1/users/pupil{i}/permissions")).await;
                (reply.status, reply.body)
            })
        })
        .collect()
}

async fn answers(checks: Vec<tokio::task::JoinHandle<(u16, Value)>>) -> Vec<(u16, Value)> {
    let mut answers = Vec::new();
    for check in checks {
        answers.push(check.await.unwrap());
    }
    answers
}

fn granted(answer: &(u16, Value)) -> bool {
    answer.0 == 200
        && answer.1["permissions"]
            .as_array()
            .is_some_and(|p| p.contains(&json!("full_access")))
}

async fn two_hundred_people_race_for_fifty_seats(backend: Backend) {
    let (server, replica, manager, license) = rush_server(backend, 200, 50).await;
    let id = license["id"].as_str().unwrap();
    let answers = answers(checks_at_once(&server, replica.as_ref(), &manager, 0..200)).await;
    assert!(answers.iter().all(|a| a.0 == 200), "{answers:?}");
    assert_eq!(
        answers.iter().filter(|a| granted(a)).count(),
        50,
        "exactly the seats there are"
    );
    let after = manager
        .get(&format!("/v1/licenses/{id}"))
        .await
        .expect(200)
        .body;
    assert_eq!(after["seats_used"], 50);
    let holders = manager
        .get(&format!("/v1/licenses/{id}/seats"))
        .await
        .expect(200)
        .body;
    assert_eq!(holders["items"].as_array().unwrap().len(), 50);

    // Takes that queued together were committed together: the license changed fewer times
    // than it gained seats (one change per take would be 50 versions).
    let versions = after["version"].as_i64().unwrap() - license["version"].as_i64().unwrap();
    assert!(
        (1..50).contains(&versions),
        "50 seats in {versions} changes of the license"
    );
    // Yet each seat has its own audit entry, naming its holder and unit.
    let audit = manager
        .get(&format!("/v1/audit?record={id}&action=assign&limit=100"))
        .await
        .expect(200)
        .body;
    let entries = audit["items"].as_array().unwrap();
    assert_eq!(entries.len(), 50, "{audit}");
    assert!(
        entries
            .iter()
            .all(|e| e["after"]["seat"]["unit"] == "(class)(4b)"
                && e["after"]["seat"]["employee"]
                    .as_str()
                    .unwrap()
                    .starts_with("pupil")),
        "{audit}"
    );
}

/// A take the database refuses (here a trigger refuses pupil13's seat) fails that check
/// alone: the others in its batch get their seats.
async fn a_seat_take_that_fails_fails_only_its_own_check(backend: Backend) {
    let (server, replica, manager, license) = rush_server(backend, 60, 100).await;
    server
        .execute(match backend {
            Backend::Sqlite => {
                "CREATE TRIGGER refuse_s13 BEFORE INSERT ON assignments WHEN NEW.employee = 'pupil13' \
                 BEGIN SELECT RAISE(ABORT, 'refused for the test'); END"
            }
            Backend::Postgres => {
                "CREATE FUNCTION refuse_s13() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.employee = 'pupil13' THEN RAISE EXCEPTION 'refused for the test'; END IF; \
                 RETURN NEW; END $$; \
                 CREATE TRIGGER refuse_s13 BEFORE INSERT ON assignments \
                 FOR EACH ROW EXECUTE FUNCTION refuse_s13()"
            }
        })
        .await;
    // So that pupil13 surely shares a batch: pupil0's check takes the turn and waits for
    // the database, while the others, pupil13 among them, queue behind it as one batch.
    let hold = server.hold_writes().await;
    let first = checks_at_once(&server, None, &manager, 0..1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rest = checks_at_once(&server, replica.as_ref(), &manager, 1..60);
    tokio::time::sleep(Duration::from_millis(700)).await;
    hold.release().await;
    let mut answers = answers(first).await;
    answers.extend(self::answers(rest).await);
    for (i, answer) in answers.iter().enumerate() {
        if i == 13 {
            assert_eq!(answer.0, 500, "pupil13: {answer:?}");
        } else {
            assert!(granted(answer), "pupil{i}: {answer:?}");
        }
    }
    let after = manager
        .get(&format!("/v1/licenses/{}", license["id"].as_str().unwrap()))
        .await
        .expect(200)
        .body;
    assert_eq!(after["seats_used"], 59);
}

crate::on_both_databases!(
    two_hundred_people_race_for_fifty_seats,
    a_seat_take_that_fails_fails_only_its_own_check,
    a_purchase_made_already_is_refused_alone_in_its_batch,
);

/// Purchases queued together are written together, each answered as stored, and one bought
/// already — here twice within the batch that makes it — is refused alone: the others in
/// the batch are made.
async fn a_purchase_made_already_is_refused_alone_in_its_batch(backend: Backend) {
    let (server, manager) = school_server(backend).await;
    let hold = server.hold_writes().await;
    let token = manager.token().unwrap().to_owned();
    let days: Vec<u32> = (1..=20).chain([3, 3]).collect();
    let buying: Vec<_> = days
        .iter()
        .map(|day| {
            let client = Client::new(&server.url, Some(token.clone()));
            let body = purchase(
                "class",
                &["4b"],
                5,
                "2026-01-01",
                &format!("2099-12-{day:02}"),
            );
            tokio::spawn(async move {
                let reply = client.post("/v1/users/ada/purchases", &body).await;
                (reply.status, reply.body)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    hold.release().await;
    let mut statuses = Vec::new();
    for b in buying {
        let (status, license) = b.await.unwrap();
        if status == 201 {
            // Answered as it was stored.
            let stored = manager
                .get(&format!("/v1/licenses/{}", license["id"].as_str().unwrap()))
                .await
                .expect(200)
                .body;
            assert_eq!(license, stored);
        }
        statuses.push(status);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        20,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        2,
        "{statuses:?}"
    );
    let seat_licenses = manager
        .get("/v1/licenses?kind=seat&limit=100")
        .await
        .expect(200)
        .body;
    assert_eq!(seat_licenses["items"].as_array().unwrap().len(), 20);
}
