//! Each report against a table worked out by hand: several currencies, unlimited seats, no
//! cost, no expiry, a leap year's February and the ends of months.

use super::*;
use crate::License;
use chrono::NaiveDate;
use serde_json::json;

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// A license `n` of `vendor` costing `amount` minor units of `currency`.
pub(crate) fn license(n: u32, vendor: &str, amount: i64, currency: &str) -> License {
    serde_json::from_value(json!({
        "id": format!("01a20500-0000-7000-8000-{n:012}"), "product": format!("{}-suite", vendor.to_lowercase()),
        "name": format!("License {n:02}"), "kind": "subscription", "vendor": vendor,
        "cost": {"amount": amount, "currency": currency}, "seats_used": 0,
        "added": "2026-01-01", "version": 1, "revision": n,
    }))
    .unwrap()
}

fn with(mut l: License, change: serde_json::Value) -> License {
    let mut value = serde_json::to_value(&l).unwrap();
    for (k, v) in change.as_object().unwrap() {
        value[k] = v.clone();
    }
    l = serde_json::from_value(value).unwrap();
    l
}

fn money(amount: i64, currency: &str) -> Money {
    Money::new(amount, currency.parse().unwrap()).unwrap()
}

#[test]
fn the_forecast_counts_each_month_from_today_and_keeps_the_expired_apart() {
    // 2028 is a leap year: February has a 29th.
    let today = day("2028-02-15");
    let licenses = [
        with(
            license(1, "Adobe", 10_000, "EUR"),
            json!({"expires": "2028-02-29"}),
        ),
        with(
            license(2, "Adobe", 5_000, "USD"),
            json!({"expires": "2028-02-14"}),
        ),
        with(
            license(3, "Adobe", 20_000, "EUR"),
            json!({"expires": "2028-03-01"}),
        ),
        with(
            license(4, "Adobe", 1_000, "USD"),
            json!({"expires": "2028-03-31"}),
        ),
        with(
            license(5, "Adobe", 0, "EUR"),
            json!({"expires": "2028-03-15"}),
        ),
        with(
            license(6, "Adobe", 7_000, "EUR"),
            json!({"expires": "2028-04-30"}),
        ),
        with(
            license(7, "Adobe", 9_000, "EUR"),
            json!({"expires": "2028-05-01"}),
        ),
        license(8, "Adobe", 4_000, "EUR"),
    ];
    let r = renewals(&licenses, today, 3);
    let table: Vec<(String, bool, u32, Vec<Money>)> = r
        .months
        .iter()
        .map(|m| (m.month.to_string(), m.current, m.licenses, m.cost.clone()))
        .collect();
    assert_eq!(
        table,
        [
            ("2028-02-01".into(), true, 1, vec![money(10_000, "EUR")]),
            (
                "2028-03-01".into(),
                false,
                3,
                vec![money(20_000, "EUR"), money(1_000, "USD")]
            ),
            ("2028-04-01".into(), false, 1, vec![money(7_000, "EUR")]),
        ]
    );
    assert_eq!(
        r.months[0].drill,
        Drill::query("expires>=2028-02-15 expires<=2028-02-29"),
        "the current month from today"
    );
    assert_eq!(
        r.months[1].drill,
        Drill::query("expires>=2028-03-01 expires<=2028-03-31")
    );
    assert_eq!(
        (r.expired, r.expired_cost.clone()),
        (1, vec![money(5_000, "USD")])
    );
    assert_eq!((r.later, r.no_expiry, r.no_cost), (1, 1, 1));
}

#[test]
fn a_forecast_made_on_the_last_day_of_a_month_starts_with_that_day() {
    let today = day("2027-01-31");
    let licenses = [
        with(
            license(1, "Adobe", 100, "EUR"),
            json!({"expires": "2027-01-31"}),
        ),
        with(
            license(2, "Adobe", 100, "EUR"),
            json!({"expires": "2027-02-28"}),
        ),
    ];
    let r = renewals(&licenses, today, 2);
    assert_eq!(
        r.months[0].drill,
        Drill::query("expires>=2027-01-31 expires<=2027-01-31")
    );
    assert_eq!(
        r.months[1].drill,
        Drill::query("expires>=2027-02-01 expires<=2027-02-28")
    );
    assert_eq!((r.months[0].licenses, r.months[1].licenses), (1, 1));
}

#[test]
fn spend_ranks_by_the_main_currency_and_sums_the_rest_as_other() {
    let licenses = [
        license(1, "Adobe", 50_000, "EUR"),
        license(2, "adobe", 10_000, "EUR"),
        license(3, "JetBrains", 30_000, "USD"),
        license(4, "JetBrains", 5_000, "EUR"),
        license(5, "Microsoft", 20_000, "EUR"),
        license(6, "Zoom", 0, "EUR"),
    ];
    let s = spend(&licenses, 2);
    assert_eq!(s.licenses, 6);
    assert_eq!(s.total, [money(85_000, "EUR"), money(30_000, "USD")]);
    assert_eq!(s.ranked_by, Some("EUR".parse().unwrap()));
    assert_eq!(s.no_cost, 1);
    let vendors: Vec<(&str, u32, Vec<Money>)> = s
        .by_vendor
        .iter()
        .map(|g| (g.name.as_str(), g.licenses, g.cost.clone()))
        .collect();
    assert_eq!(
        vendors,
        [
            ("Adobe", 2, vec![money(60_000, "EUR")]),
            ("Microsoft", 1, vec![money(20_000, "EUR")]),
            ("other", 3, vec![money(5_000, "EUR"), money(30_000, "USD")]),
        ],
        "vendors differing in case are one; JetBrains' 300 USD does not outrank 200 EUR"
    );
    assert_eq!(s.by_vendor[0].drill, Some(Drill::query("vendor:adobe")));
    assert_eq!(s.by_vendor[2].drill, None);
    assert_eq!(s.by_kind.len(), 1);
    assert_eq!(s.by_kind[0].drill, Some(Drill::query("kind:subscription")));
}

#[test]
fn seats_tell_the_nearly_full_from_the_barely_used_and_count_units_apart() {
    let seat = |n, seats: Option<u32>, used: u32| {
        with(
            license(n, "Adobe", 1_000, "EUR"),
            json!({"seats": seats, "seats_used": used}),
        )
    };
    let class = with(
        seat(6, Some(30), 12),
        json!({"owner": {"level": "class", "eids": ["4b"]}}),
    );
    let licenses = [
        seat(1, Some(10), 10),
        seat(2, Some(10), 9),
        seat(3, Some(10), 2),
        seat(4, Some(10), 3),
        seat(5, None, 5),
        class.clone(),
    ];
    let s = seats(&licenses, 5);
    assert_eq!((s.limited, s.used, s.total), (5, 36, 70));
    assert_eq!((s.unlimited, s.unlimited_used), (1, 5));
    assert_eq!(s.full, 1, "100 % is over 90 %; 90 % is not");
    assert_eq!(s.fullest[0].used, 10);
    assert_eq!(s.idle, 1, "20 % is under 30 %; 30 % is not");
    assert_eq!(s.emptiest[0].used, 2);
    assert_eq!(
        s.units,
        [UnitSeats {
            unit: "class 4b".into(),
            licenses: 1,
            taken: 12,
            bought: 30,
            drill: Drill::group(ReportKind::Seats, "unit:class 4b"),
        }]
    );
    assert!(seats_includes("unit:class 4b", &class));
    assert!(seats_includes("full", &licenses[0]) && !seats_includes("full", &licenses[1]));
    assert!(seats_includes("idle", &licenses[2]) && !seats_includes("idle", &licenses[4]));
}

/// Holders as a test has them: per license, the disabled holders and the unused seats.
struct Known;

impl Holdings for Known {
    fn disabled_holders(&self, license: &License) -> u32 {
        u32::from(license.name.as_str() == "License 01") * 2
    }
    fn unused_seats(&self, license: &License, _before: chrono::DateTime<chrono::Utc>) -> u32 {
        u32::from(license.name.as_str() == "License 02") * 3
    }
}

#[test]
fn reclaim_puts_a_price_on_each_kind_of_waste() {
    let today = day("2027-06-30");
    let licenses = [
        // Two of ten seats held by disabled people: a fifth of 1,000.00 EUR.
        with(
            license(1, "Adobe", 100_000, "EUR"),
            json!({"seats": 10, "seats_used": 4}),
        ),
        // Three unused seats of a license without a limit and six holders: half its cost.
        with(
            license(2, "Typing", 60_000, "EUR"),
            json!({"seats_used": 6}),
        ),
        // Paid for, assigned to nobody, not expired; and one that has no cost.
        with(
            license(3, "Zoom", 30_000, "USD"),
            json!({"expires": "2027-07-01"}),
        ),
        license(4, "Free", 0, "EUR"),
        // Expired yesterday, still assigned; and one expired and unassigned.
        with(
            license(5, "Slack", 8_000, "EUR"),
            json!({"expires": "2027-06-29", "seats_used": 1}),
        ),
        with(
            license(6, "Old", 9_000, "EUR"),
            json!({"expires": "2027-01-01"}),
        ),
    ];
    let r = reclaim(&licenses, &Known, today, 30);
    let table: Vec<(ReclaimKind, u32, u64, Vec<Money>)> = r
        .groups
        .iter()
        .map(|g| (g.kind, g.licenses, g.holders, g.at_stake.clone()))
        .collect();
    assert_eq!(
        table,
        [
            (ReclaimKind::UnusedSeats, 1, 3, vec![money(30_000, "EUR")]),
            (
                ReclaimKind::DisabledHolders,
                1,
                2,
                vec![money(20_000, "EUR")]
            ),
            (ReclaimKind::Unassigned, 1, 0, vec![money(30_000, "USD")]),
            (
                ReclaimKind::ExpiredAssigned,
                1,
                0,
                vec![money(8_000, "EUR")]
            ),
        ]
    );
    assert_eq!(r.groups[2].largest[0].1.as_str(), "License 03");
    assert!(reclaim_includes(
        "expired_assigned",
        &licenses[4],
        &Known,
        today,
        30
    ));
    assert!(!reclaim_includes(
        "expired_assigned",
        &licenses[5],
        &Known,
        today,
        30
    ));
    assert!(!reclaim_includes(
        "nonsense",
        &licenses[4],
        &Known,
        today,
        30
    ));
}

#[test]
fn the_trend_keeps_the_last_day_of_each_month_it_saw() {
    let point = |d: &str, eur: i64| TrendPoint {
        date: day(d),
        total: vec![money(eur, "EUR")],
    };
    let trend = Trend::from_days(
        vec![
            point("2026-10-03", 100),
            point("2026-10-30", 110),
            point("2026-12-01", 130),
            point("2025-01-01", 1),
        ],
        point("2026-12-06", 140),
        12,
    );
    let seen: Vec<(String, i64)> = trend
        .points
        .iter()
        .map(|p| (p.date.to_string(), p.total[0].amount))
        .collect();
    assert_eq!(
        seen,
        [("2026-10-30".into(), 110), ("2026-12-06".into(), 140)]
    );
    assert!(
        trend.source.contains("since 2026-10-03"),
        "{}",
        trend.source
    );
    let fresh = Trend::from_days(vec![], point("2026-12-06", 140), 12);
    assert_eq!(fresh.points.len(), 1);
    assert!(fresh.source.contains("no earlier day"));
}

#[test]
fn report_parameters_name_the_one_out_of_range() {
    assert!(ReportParams::default().check().is_ok());
    for (params, field) in [
        (
            ReportParams {
                months: 0,
                ..Default::default()
            },
            "months",
        ),
        (
            ReportParams {
                top: 51,
                ..Default::default()
            },
            "top",
        ),
        (
            ReportParams {
                unused_days: 0,
                ..Default::default()
            },
            "unused_days",
        ),
    ] {
        assert_eq!(params.check().unwrap_err().field, field);
    }
    assert_eq!("spend".parse::<ReportKind>(), Ok(ReportKind::Spend));
    assert!(
        "costs"
            .parse::<ReportKind>()
            .unwrap_err()
            .contains("renewals")
    );
}
