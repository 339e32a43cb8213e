//! Expiry alerts as desktop notifications, on a private session bus with a notification
//! server that records what it is asked to show.

use chrono::{Days, Local};
use lm_protocol::socket::{Event, NoArgs, Reply, Request};
use lm_tests::{Daemon, NotificationServer, SessionBus};
use serde_json::json;
use std::time::{Duration, Instant};

fn expiring_in(days: u64, name: &str) -> serde_json::Value {
    let expires = Local::now().date_naive() + Days::new(days);
    let mut body = super::new_license(name);
    body["expires"] = json!(expires.to_string());
    body["added"] = json!((Local::now().date_naive() - Days::new(30)).to_string());
    body
}

#[tokio::test]
async fn licenses_about_to_expire_raise_one_notification_each_once() {
    let bus = SessionBus::with_notification_server().await;
    let (server, token) = super::server_with(0).await;
    let alice = server.client(Some(token.clone()));
    for (days, name) in [
        (5, "Creative Cloud"),
        (20, "JetBrains IDEs"),
        (200, "Office"),
    ] {
        alice
            .post("/v1/licenses", &expiring_in(days, name))
            .await
            .expect(201);
    }

    let mut daemon = Daemon::start_on_bus(&server.url, &token, &bus.address).await;
    let seen = bus.wait_for(2, Duration::from_secs(20)).await;
    let mut summaries: Vec<&str> = seen.iter().map(|n| n.summary.as_str()).collect();
    summaries.sort();
    assert_eq!(
        summaries,
        [
            "Creative Cloud expires in 5 days",
            "JetBrains IDEs expires in 20 days"
        ],
        "{}",
        daemon.log()
    );
    assert!(
        seen.iter()
            .all(|n| n.app_name == "lm" && n.body.starts_with("JetBrains · expires "))
    );

    // A restart does not alert again: what was shown is remembered in the cache.
    daemon.stop();
    daemon.launch().await;
    daemon.connect().await.wait_live().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(bus.notifications().len(), 2, "{:?}", bus.notifications());

    // What is in effect stays listed for the alerts panel, given already or not, soonest
    // first, and without the license that is far from its expiry.
    let reply = daemon
        .connect()
        .await
        .request(Request::Alerts(NoArgs {}))
        .await
        .expect("alerts");
    let Reply::Alerts { alerts, total } = reply else {
        panic!("{reply:?}")
    };
    let listed: Vec<(&str, i64, u32)> = alerts
        .iter()
        .map(|a| (a.name.as_str(), a.days, a.threshold))
        .collect();
    assert_eq!(
        listed,
        [("Creative Cloud", 5, 7), ("JetBrains IDEs", 20, 30)]
    );
    assert_eq!(total, 2);
    // And for scripts: `lm alerts`.
    let cli = std::process::Command::new(lm_tests::binary("lm"))
        .args(["--socket", &daemon.socket.to_string_lossy(), "alerts"])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&cli.stdout);
    let lines: Vec<&str> = printed.lines().collect();
    assert!(cli.status.success(), "{printed}");
    assert_eq!(lines.len(), 2, "{printed}");
    assert!(
        lines[0].starts_with("expires in 5 days")
            && lines[0].ends_with("Creative Cloud (JetBrains)"),
        "{printed}"
    );

    // Many at once become one summary.
    for i in 0..4 {
        alice
            .post("/v1/licenses", &expiring_in(1, &format!("Seat pack {i}")))
            .await
            .expect(201);
    }
    let seen = bus.wait_for(3, Duration::from_secs(20)).await;
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[2].summary, "4 licenses expire soon");
    assert!(
        seen[2].body.contains("• Seat pack 0 — expires tomorrow"),
        "{}",
        seen[2].body
    );
}

/// A notification server that never answers, or none at all, must not hold up the daemon:
/// alerts still reach clients, sync goes on, and SIGTERM still stops it at once.
#[tokio::test]
async fn a_hung_or_missing_notification_server_never_holds_up_the_daemon() {
    for kind in [NotificationServer::Hung, NotificationServer::Absent] {
        let bus = SessionBus::start(kind).await;
        let (server, token) = super::server_with(0).await;
        let alice = server.client(Some(token.clone()));
        let mut daemon = Daemon::start_on_bus(&server.url, &token, &bus.address).await;
        let mut client = daemon.connect().await;
        client
            .request(Request::Subscribe(Default::default()))
            .await
            .expect("subscribe");
        client.wait_live().await;
        // Only now, so that the alert cannot come before the client listens.
        alice
            .post("/v1/licenses", &expiring_in(3, "Creative Cloud"))
            .await
            .expect(201);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match client.next_event(left).await {
                Some(Event::Alerts { alerts, total }) => {
                    assert_eq!(alerts[0].name, "Creative Cloud");
                    assert_eq!(total, 1);
                    break;
                }
                Some(_) => {}
                None => panic!("{kind:?}: no alert reached the client\n{}", daemon.log()),
            }
        }
        if kind == NotificationServer::Hung {
            assert_eq!(
                bus.wait_for(1, Duration::from_secs(10)).await[0].summary,
                "Creative Cloud expires in 3 days",
                "the daemon did ask the hung server"
            );
        }
        // Still syncing while the notification hangs or failed.
        alice
            .post("/v1/licenses", &expiring_in(200, "Office"))
            .await
            .expect(201);
        client
            .wait_for(Duration::from_secs(5), |s| s.licenses == 2)
            .await;
        let stopping = Instant::now();
        assert!(
            daemon.stop(),
            "{kind:?}: lmd stops on SIGTERM\n{}",
            daemon.log()
        );
        assert!(
            stopping.elapsed() < Duration::from_secs(5),
            "{kind:?}: stopping took {:?}",
            stopping.elapsed()
        );
    }
}

/// A first sync can bring thousands of alerts at once: clients get one event with the
/// soonest of them and how many there are, never a frame too large to read or a flood of
/// events; the `alerts` request lists them all.
#[tokio::test]
async fn thousands_of_alerts_at_once_reach_clients_as_one_event_that_counts_them() {
    let (server, token) = super::server_with(8000).await;
    let daemon = Daemon::start(&server.url, &token).await;
    let mut client = daemon.connect().await;
    client
        .request(Request::Subscribe(NoArgs::default()))
        .await
        .expect("subscribe");
    let (alerts, total) = loop {
        match client.next_event(Duration::from_secs(60)).await {
            Some(Event::Alerts { alerts, total }) => break (alerts, total),
            Some(_) => {}
            None => panic!("no alerts event\n{}", daemon.log()),
        }
    };
    assert!(
        total > lm_protocol::socket::MAX_ALERTS_IN_EVENT,
        "the seed should bring more alerts than one event lists: {total}"
    );
    assert_eq!(alerts.len(), lm_protocol::socket::MAX_ALERTS_IN_EVENT);
    assert!(
        alerts.windows(2).all(|w| w[0].days <= w[1].days),
        "soonest first"
    );

    let Ok(Reply::Alerts {
        alerts: listed,
        total: in_effect,
    }) = client.request(Request::Alerts(NoArgs::default())).await
    else {
        panic!("an alerts reply")
    };
    assert_eq!(in_effect, total);
    assert_eq!(listed[..alerts.len()], alerts[..]);
    // And no second event for the rest.
    while let Some(event) = client.next_event(Duration::from_secs(1)).await {
        assert!(!matches!(event, Event::Alerts { .. }), "{event:?}");
    }
}
