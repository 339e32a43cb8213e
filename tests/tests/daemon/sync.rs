//! The cache follows the server: first sync, live changes, outages, crashes.

use crate::{new_license, server_inventory, server_with};
use lm_protocol::LicenseFilter;
use lm_protocol::socket::{Connection, Event};
use lm_tests::{Daemon, SocketClient};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Everything the daemon's cache holds, by id with its version.
async fn cache_inventory(client: &mut SocketClient) -> BTreeMap<String, i64> {
    client
        .list_all(LicenseFilter::default())
        .await
        .into_iter()
        .map(|l| (l.id.to_string(), l.version))
        .collect()
}

#[tokio::test]
async fn first_sync_brings_the_whole_inventory_and_goes_live() {
    let (server, token) = server_with(1_500).await;
    let daemon = Daemon::start(&server.url, &token).await;
    let mut client = daemon.connect().await;
    let status = client.wait_live().await;
    assert_eq!(status.licenses, 1_500);
    assert_eq!(status.revision, status.head);
    assert!(status.synced_at.is_some());
    let user = status.user.expect("the token's user");
    assert_eq!(
        (user.subject.as_str(), user.org.as_str()),
        ("alice", "acme")
    );

    let manager = server.login("alice");
    assert_eq!(
        cache_inventory(&mut client).await,
        server_inventory(&manager).await
    );
}

#[tokio::test]
async fn a_change_by_another_manager_reaches_the_cache_within_a_second() {
    let (server, token) = server_with(50).await;
    let daemon = Daemon::start(&server.url, &token).await;
    let mut client = daemon.connect().await;
    client.wait_live().await;
    client
        .request(lm_protocol::socket::Request::Subscribe(Default::default()))
        .await
        .expect("subscribe");

    let bob = server.user("bob", "manager", "acme");
    let started = Instant::now();
    let created = bob
        .post("/v1/licenses", &new_license("IntelliJ for Bob"))
        .await
        .expect(201);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let deadline = started + Duration::from_secs(1);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match client.next_event(left).await {
            Some(Event::Changed { ids, .. }) if ids.iter().any(|i| i.as_str() == id) => break,
            Some(_) => continue,
            None => panic!("the change did not reach lmd within 1 s:\n{}", daemon.log()),
        }
    }
    let latency = started.elapsed();
    eprintln!("server write to daemon cache: {latency:?}");
    let window = client
        .list(
            LicenseFilter {
                id: Some(id.parse().unwrap()),
                ..LicenseFilter::default()
            },
            10,
        )
        .await;
    assert_eq!(window.items[0].name.as_str(), "IntelliJ for Bob");
}

#[tokio::test]
async fn an_unreachable_server_leaves_the_cache_browsable_and_sync_resumes() {
    let (mut server, token) = server_with(200).await;
    let daemon = Daemon::start(&server.url, &token).await;
    let mut client = daemon.connect().await;
    client.wait_live().await;

    assert!(server.stop(), "the server stops cleanly");
    let status = client
        .wait_for(Duration::from_secs(10), |s| {
            matches!(s.connection, Connection::Offline { .. })
        })
        .await;
    assert_eq!(status.licenses, 200, "the cache is still served");
    assert!(status.synced_at.is_some(), "and says how old it is");
    let window = client
        .list(
            LicenseFilter {
                vendor: Some("adobe".into()),
                ..LicenseFilter::default()
            },
            1_000,
        )
        .await;
    assert!(window.total > 0, "filters work offline");

    let refused = client
        .request(lm_protocol::socket::Request::Create(
            lm_protocol::socket::CreateRequest {
                license: serde_json::from_value(new_license("offline edit")).unwrap(),
            },
        ))
        .await
        .expect_err("edits need the server");
    assert_eq!(refused.kind, "urn:lm:problem:offline");
    assert!(
        refused.detail.contains("unreachable since"),
        "{}",
        refused.detail
    );

    // The server comes back; a change made meanwhile reaches the cache.
    server.relaunch(&["--rate-limit", "0"]).await;
    let bob = server.user("bob", "manager", "acme");
    bob.post("/v1/licenses", &new_license("made during the outage"))
        .await
        .expect(201);
    let status = client
        .wait_for(Duration::from_secs(15), |s| {
            s.connection == Connection::Live && s.licenses == 201
        })
        .await;
    assert_eq!(status.revision, status.head);
    assert_eq!(
        cache_inventory(&mut client).await,
        server_inventory(&bob).await
    );
}

#[tokio::test]
async fn killed_during_the_first_sync_it_resumes_consistent_and_complete() {
    let (server, token) = server_with(8_000).await;
    let mut daemon = Daemon::start(&server.url, &token).await;
    let mut client = daemon.connect().await;
    // Kill it once some but not all pages are in.
    let partial = client
        .wait_for(Duration::from_secs(60), |s| s.licenses > 0)
        .await;
    daemon.kill();
    assert!(
        partial.licenses < 8_000,
        "killed mid-sync (had {})",
        partial.licenses
    );

    daemon.launch().await;
    let mut client = daemon.connect().await;
    let reopened = client.status().await;
    assert!(
        reopened.licenses as i64 <= reopened.revision,
        "the cache matches its cursor: {reopened:?}"
    );
    client.wait_live().await;
    let manager = server.login("alice");
    assert_eq!(
        cache_inventory(&mut client).await.len(),
        8_000,
        "complete after the restart"
    );
    assert_eq!(
        cache_inventory(&mut client).await,
        server_inventory(&manager).await
    );
}

#[tokio::test]
async fn removals_reach_the_cache_and_a_purged_history_triggers_a_resync() {
    let (server, token) = server_with(30).await;
    let mut daemon = Daemon::start(&server.url, &token).await;
    let mut client = daemon.connect().await;
    client.wait_live().await;
    let manager = server.login("alice");
    let victim = client.list(LicenseFilter::default(), 1).await.items[0]
        .id
        .to_string();

    // Removed while the daemon is down, and purged: its cursor now predates the history.
    assert!(daemon.stop(), "lmd stops cleanly on SIGTERM");
    manager
        .delete(&format!("/v1/licenses/{victim}"))
        .await
        .expect(204);
    server
        .admin(&["purge", "--older-than", "0s"])
        .expect("purge");
    daemon.launch().await;
    let mut client = daemon.connect().await;
    client
        .wait_for(Duration::from_secs(15), |s| {
            s.connection == Connection::Live && s.licenses == 29
        })
        .await;
    assert_eq!(
        cache_inventory(&mut client).await,
        server_inventory(&manager).await
    );
    assert!(daemon.log().contains("resyncing"), "{}", daemon.log());
}

/// The cache holds product keys: only the user who runs lmd may read it, also when an older
/// lmd or a loose umask left it readable.
#[tokio::test]
async fn the_cache_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let (server, token) = server_with(3).await;
    let mut daemon = Daemon::start(&server.url, &token).await;
    daemon
        .connect()
        .await
        .wait_for(Duration::from_secs(10), |s| s.licenses == 3)
        .await;
    let loose = |dir: &std::path::Path| -> Vec<String> {
        let mut found = Vec::new();
        let mut stack = vec![dir.to_owned()];
        while let Some(path) = stack.pop() {
            let meta = std::fs::metadata(&path).unwrap();
            if meta.permissions().mode() & 0o077 != 0 {
                found.push(format!(
                    "{} {:o}",
                    path.display(),
                    meta.permissions().mode()
                ));
            }
            if meta.is_dir() {
                stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            }
        }
        found
    };
    assert_eq!(
        loose(&daemon.cache_dir),
        Vec::<String>::new(),
        "made private"
    );

    daemon.stop();
    let open_up = |path: &std::path::Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    open_up(&daemon.cache_dir, 0o755);
    for entry in std::fs::read_dir(&daemon.cache_dir).unwrap() {
        let path = entry.unwrap().path();
        open_up(&path, if path.is_dir() { 0o755 } else { 0o644 });
    }
    daemon.launch().await;
    daemon.connect().await.wait_live().await;
    assert_eq!(
        loose(&daemon.cache_dir),
        Vec::<String>::new(),
        "made private again"
    );
}

/// A server whose database was put back to an older state from elsewhere (a `pg_dump`, a
/// copied file) has a head below the daemon's cursor: it answers 422 on `after`, and lmd
/// resyncs from the start instead of waiting for revisions that will never come.
#[tokio::test]
async fn a_server_whose_history_went_back_is_resynced_from_the_start() {
    let (mut server, token) = server_with(30).await;
    let daemon = Daemon::start(&server.url, &token).await;
    let mut client = daemon.connect().await;
    client.wait_live().await;

    server.stop();
    let mut db = <sqlx::SqliteConnection as sqlx::Connection>::connect(&server.database_url)
        .await
        .unwrap();
    for sql in [
        "PRAGMA foreign_keys = OFF",
        "DELETE FROM assignments",
        "DELETE FROM license_owners",
        "DELETE FROM licenses",
        "UPDATE orgs SET revision = 0, purged_through = 0",
    ] {
        sqlx::query(sql).execute(&mut db).await.unwrap();
    }
    drop(db);
    server.relaunch(&[]).await;
    let manager = server.login("alice");
    manager
        .post("/v1/licenses", &new_license("After the restore"))
        .await
        .expect(201);

    client
        .wait_for(Duration::from_secs(20), |s| {
            s.connection == Connection::Live && s.licenses == 1
        })
        .await;
    assert_eq!(
        cache_inventory(&mut client).await,
        server_inventory(&manager).await
    );
    assert!(daemon.log().contains("resyncing"), "{}", daemon.log());
}
