//! Expiry alerts: when a cached license comes within a threshold of its expiry (by default
//! 30, 7, 1 and 0 days), lmd raises a desktop notification and pushes the alert to connected
//! clients. Each license alerts once per threshold and expiry date (remembered in the cache,
//! across restarts; a renewal alerts again); many at once become one summary notification.
//!
//! Notifications go through `notify-rust` on the session bus, inside a timeout: a missing or
//! hung notification server costs a log line, never a stuck or crashed daemon.
//!
//! A check runs after each applied sync and hourly, off the runtime's threads (which keep
//! answering the socket), and is pushed as one `alerts` event: the soonest 500 and how many
//! were raised, so that a first sync's thousands fit in a frame. [`current`] answers the
//! socket's `alerts` request: every alert in effect today, given or not (the first 1,000, and
//! how many there are), for the TUI's alerts panel.

use crate::cache::Cache;
use crate::config::Scope;
use crate::shared::Shared;
use chrono::NaiveDate;
use lm_protocol::License;
use lm_protocol::socket::{Event, ExpiryAlert};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// More alerts than this at once become one summary notification.
const SUMMARIZE_ABOVE: usize = 3;
/// How long a notification server may take to answer.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(5);

/// The alerts due today that were not given yet: for each license, the smallest threshold
/// it has reached (reaching 7 days also settles the 30-day alert).
pub fn due<'a>(
    licenses: impl IntoIterator<Item = &'a License>,
    today: NaiveDate,
    thresholds: &[u32],
    given: impl Fn(&str) -> bool,
) -> Vec<(ExpiryAlert, Vec<String>)> {
    let mut thresholds = thresholds.to_vec();
    thresholds.sort_unstable();
    let mut out = Vec::new();
    for license in licenses {
        let Some(expires) = license.expires else {
            continue;
        };
        let days = (expires - today).num_days();
        // Long expired licenses are not news; the day itself and after is the 0 threshold.
        if days < -1 {
            continue;
        }
        let reached: Vec<u32> = thresholds
            .iter()
            .copied()
            .filter(|t| days <= i64::from(*t))
            .collect();
        let Some(&smallest) = reached.first() else {
            continue;
        };
        let keys: Vec<String> = reached
            .iter()
            .map(|t| Cache::alert_key(&license.id, expires, *t))
            .collect();
        if given(&keys[0]) {
            continue;
        }
        out.push((
            ExpiryAlert {
                license: license.id.clone(),
                name: license.name.to_string(),
                vendor: license.vendor.to_string(),
                expires,
                days,
                threshold: smallest,
            },
            keys,
        ));
    }
    out.sort_by_key(|(a, _)| (a.days, a.name.clone()));
    out
}

/// The notifications for a batch of alerts: one each, or one summary when there are many.
pub fn notifications(alerts: &[ExpiryAlert]) -> Vec<(String, String)> {
    if alerts.len() > SUMMARIZE_ABOVE {
        let mut body: Vec<String> = alerts
            .iter()
            .take(8)
            .map(|a| format!("• {} — {} ({})", a.name, a.when(), a.expires))
            .collect();
        if alerts.len() > 8 {
            body.push(format!(
                "and {} more: see `lm` for the list",
                alerts.len() - 8
            ));
        }
        vec![(
            format!("{} licenses expire soon", alerts.len()),
            body.join("\n"),
        )]
    } else {
        alerts
            .iter()
            .map(|a| {
                (
                    format!("{} {}", a.name, a.when()),
                    format!("{} · expires {}", a.vendor, a.expires),
                )
            })
            .collect()
    }
}

async fn notify(summary: String, body: String) {
    let mut notification = notify_rust::Notification::new();
    notification.appname("lm").summary(&summary).body(&body);
    match tokio::time::timeout(NOTIFY_TIMEOUT, notification.show_async()).await {
        Ok(Ok(_)) => tracing::debug!(%summary, "notification shown"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "no desktop notification: the notification server failed")
        }
        Err(_) => tracing::warn!("no desktop notification: the notification server did not answer"),
    }
}

/// Checks for due alerts after every sync and at least hourly (the date changes), until
/// shutdown.
pub async fn run(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut applied = shared.applied.subscribe();
    loop {
        check(&shared).await;
        tokio::select! {
            _ = applied.changed() => {}
            () = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        // Let a burst of pages settle before looking.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The alerts in effect today for the licenses in scope (with `skip_given`, only those not
/// given yet), soonest first, with the keys that remember them. None while the cache has not caught up
/// (a cache half-way through a sync does not tell what expires) or, alerting only for
/// licenses of mine, while it is not known who I am.
fn in_effect(shared: &Shared, skip_given: bool) -> Option<Vec<(ExpiryAlert, Vec<String>)>> {
    shared.cache.synced_at()?;
    let options = &shared.alerts;
    let today = chrono::Local::now().date_naive();
    let me = match options.scope {
        Scope::All => None,
        // Mine: assigned to me, also where I am not among the holders a license lists.
        Scope::Mine => Some(match shared.user()?.subject.parse() {
            Ok(me) => lm_protocol::Assignee::Employee(me),
            // A subject that is no employee name holds nothing.
            Err(_) => return Some(Vec::new()),
        }),
    };
    let thresholds = shared.alert_days();
    let horizon = thresholds.iter().copied().max().unwrap_or(0);
    // From yesterday (the 0 threshold's day after) to the farthest threshold; read in place.
    let first = today - chrono::Days::new(1);
    let last = today + chrono::Days::new(u64::from(horizon));
    Some(
        shared
            .cache
            .with_expiring(first..=last, me.as_ref(), |licenses, given| {
                due(licenses, today, &thresholds, |key| skip_given && given(key))
            }),
    )
}

/// Every alert in effect today, given already or not: what an alerts panel lists.
pub fn current(shared: &Shared) -> Vec<ExpiryAlert> {
    in_effect(shared, false)
        .unwrap_or_default()
        .into_iter()
        .map(|(alert, _)| alert)
        .collect()
}

/// The alerts due and not given yet, remembered as given from now on.
fn take_due(shared: &Shared) -> Vec<ExpiryAlert> {
    let due = in_effect(shared, true).unwrap_or_default();
    if due.is_empty() {
        return Vec::new();
    }
    let keys: Vec<&str> = due
        .iter()
        .flat_map(|(_, k)| k.iter().map(String::as_str))
        .collect();
    if let Err(e) = shared.cache.mark_alerted(keys) {
        tracing::warn!(error = %e, "cannot remember the alerts given");
    }
    due.into_iter().map(|(a, _)| a).collect()
}

async fn check(shared: &Arc<Shared>) {
    // Going through every license and writing to sled blocks: off the runtime, whose
    // threads answer the socket meanwhile (a first sync of 100,000 licenses brings 10,000
    // alerts, a fifth of a second of work).
    let taking = shared.clone();
    let alerts = match tokio::task::spawn_blocking(move || take_due(&taking)).await {
        Ok(alerts) => alerts,
        Err(e) => {
            tracing::error!(error = %e, "checking for expiry alerts failed");
            return;
        }
    };
    if alerts.is_empty() {
        return;
    }
    tracing::info!(count = alerts.len(), "licenses reached an expiry alert");
    // One event of bounded size: a first sync may bring thousands at once, no frame may
    // exceed what a client reads, and a client wanting them all asks for `alerts`.
    let _ = shared.events.send(Event::Alerts {
        alerts: alerts
            .iter()
            .take(lm_protocol::socket::MAX_ALERTS_IN_EVENT)
            .cloned()
            .collect(),
        total: alerts.len(),
    });
    if shared.alerts.notify {
        for (summary, body) in notifications(&alerts) {
            tokio::spawn(notify(summary, body));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn license(name: &str, expires: Option<&str>) -> License {
        serde_json::from_value(serde_json::json!({
            "id": format!("0190d5a0-0000-7000-8000-{:012}", name.len()), "product": "p", "name": name,
            "kind": "subscription", "vendor": "Acme", "cost": {"amount": 1, "currency": "EUR"},
            "seats_used": 0, "added": "2026-01-01", "expires": expires, "version": 1, "revision": 1
        }))
        .unwrap()
    }

    #[test]
    fn each_license_alerts_at_the_smallest_threshold_it_reached_once() {
        let today: NaiveDate = "2026-11-22".parse().unwrap();
        let licenses = [
            license("a", Some("2026-11-27")),  // 5 days: the 7-day alert
            license("bb", Some("2026-12-10")), // 18 days: the 30-day alert
            license("ccc", Some("2027-06-01")),
            license("dddd", None),
            license("eeeee", Some("2026-11-22")),  // today
            license("ffffff", Some("2025-01-01")), // long expired: not news
        ];
        let due = due(&licenses, today, &[30, 7, 1, 0], |_| false);
        let got: Vec<(&str, u32, i64)> = due
            .iter()
            .map(|(a, _)| (a.name.as_str(), a.threshold, a.days))
            .collect();
        assert_eq!(got, [("eeeee", 0, 0), ("a", 7, 5), ("bb", 30, 18)]);
        // The 7-day alert settles the 30-day one too.
        assert_eq!(due[1].1.len(), 2);
        let given: Vec<String> = due.iter().flat_map(|(_, k)| k.clone()).collect();
        let again = super::due(&licenses, today, &[30, 7, 1, 0], |k| {
            given.iter().any(|g| g == k)
        });
        assert!(again.is_empty(), "{again:?}");
    }

    #[test]
    fn many_alerts_become_one_summary() {
        let alert = |name: &str, days| ExpiryAlert {
            license: "0190d5a0-0000-7000-8000-000000000001".parse().unwrap(),
            name: name.into(),
            vendor: "Adobe".into(),
            expires: "2026-12-01".parse().unwrap(),
            days,
            threshold: 7,
        };
        let one = notifications(&[alert("Creative Cloud", 7)]);
        assert_eq!(
            one,
            [(
                "Creative Cloud expires in 7 days".to_owned(),
                "Adobe · expires 2026-12-01".to_owned()
            )]
        );
        let many: Vec<ExpiryAlert> = (0..5).map(|i| alert(&format!("L{i}"), 1)).collect();
        let summary = notifications(&many);
        assert_eq!(summary.len(), 1);
        assert_eq!(summary[0].0, "5 licenses expire soon");
        assert!(
            summary[0]
                .1
                .contains("• L0 — expires tomorrow (2026-12-01)")
        );
    }
}
