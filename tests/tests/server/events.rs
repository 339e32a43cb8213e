//! Live events: a new revision reaches subscribers within a second, across replicas on
//! PostgreSQL, and streams end cleanly when the server stops.

use super::{create, creative_cloud};
use lm_tests::{Backend, NextEvent, Server};
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

/// The organization's newest revision, as the feed says (members joining count too).
async fn head(client: &lm_tests::Client) -> i64 {
    client.get("/v1/changes").await.expect(200).body["head"]
        .as_i64()
        .unwrap()
}

async fn subscribers_hear_of_each_new_revision_within_a_second(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    let eve = server.employee("eve");
    let gus = server.user("gus", "manager", "globex");
    let first = create(&alice, creative_cloud()).await;

    let mut events = eve.events().await;
    let mut foreign = gus.events().await;
    let current = first["revision"].as_i64().unwrap();
    assert_eq!(
        events.next(SECOND).await,
        NextEvent::Revision(current),
        "the stream opens with the current revision"
    );
    assert_eq!(
        foreign.next(SECOND).await,
        NextEvent::Revision(head(&gus).await)
    );

    let second = create(&alice, creative_cloud()).await;
    let expected = second["revision"].as_i64().unwrap();
    assert_eq!(events.next(SECOND).await, NextEvent::Revision(expected));
    alice
        .delete(&format!("/v1/licenses/{}", first["id"].as_str().unwrap()))
        .await
        .expect(204);
    assert_eq!(events.next(SECOND).await, NextEvent::Revision(expected + 1));
    assert_eq!(
        foreign.next(Duration::from_millis(300)).await,
        NextEvent::TimedOut,
        "another organization hears nothing"
    );
    server.client(None).get("/v1/events").await.expect(401);
}

async fn streams_end_cleanly_when_the_server_stops(backend: Backend) {
    let mut server = Server::start(backend).await;
    let alice = server.manager("alice");
    let mut events = alice.events().await;
    assert_eq!(
        events.next(SECOND).await,
        NextEvent::Revision(head(&alice).await)
    );
    assert!(
        server.stop(),
        "lm-server exits by itself on SIGTERM while a stream is open"
    );
    assert_eq!(events.next(SECOND).await, NextEvent::Ended);
}

crate::on_both_databases!(
    subscribers_hear_of_each_new_revision_within_a_second,
    streams_end_cleanly_when_the_server_stops,
);

/// Two `lm-server serve` processes on one PostgreSQL database: a write through replica A
/// reaches a subscriber of replica B within a second.
#[tokio::test]
async fn postgres_replicas_relay_revisions_to_each_other() {
    let a = Server::start(Backend::Postgres).await;
    let b = a.replica(&["--rate-limit", "0"]).await;
    let through_a = a.manager("alice");
    let on_b = b.login("alice");
    let mut events = on_b.events().await;
    assert_eq!(
        events.next(SECOND).await,
        NextEvent::Revision(head(&on_b).await)
    );
    for _ in 0..3 {
        let license = create(&through_a, creative_cloud()).await;
        let revision = license["revision"].as_i64().unwrap();
        assert_eq!(events.next(SECOND).await, NextEvent::Revision(revision));
    }
}
