//! Expiry alerts as desktop notifications, on a private session bus with a notification
//! server that records what it is asked to show.

use chrono::{Days, Local};
use lm_tests::{Daemon, SessionBus};
use serde_json::json;
use std::time::Duration;

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
