//! The Insights screen driven headless: the reports it asks for, the filter narrowing every
//! chart, and enter on a bar opening exactly its licenses.

use super::*;
use crate::app::tests::{app_with, key, now, three, typed};
use lm_protocol::insights::{self, Report};

/// The demo's inventory as of the tests' today: the sample the server seeds, with its
/// holders.
pub(crate) fn demo_inventory() -> Vec<License> {
    let today = now().date_naive();
    lm_protocol::sample::licenses(400, 1, today)
        .into_iter()
        .enumerate()
        .map(|(n, (fields, holders))| {
            let assignments: Vec<lm_protocol::Assignment> = holders
                .into_iter()
                .enumerate()
                .map(|(h, assignee)| lm_protocol::Assignment {
                    id: format!("as-{n}-{h}").parse().unwrap(),
                    assignee,
                    since: now(),
                    last_seen: None,
                })
                .collect();
            License {
                id: format!("01a20500-0000-7000-8000-{n:012}").parse().unwrap(),
                product: fields.product,
                name: fields.name,
                kind: fields.kind,
                vendor: fields.vendor,
                cost: fields.cost,
                seats: fields.seats,
                seats_used: assignments.len() as u32,
                added: fields.added,
                expires: fields.expires,
                owner: fields.owner.map(Box::new),
                assignments,
                key: fields.key,
                notes: fields.notes,
                version: 1,
                revision: n as i64 + 1,
            }
        })
        .collect()
}

/// What lmd would answer `request` with, over `licenses` (nobody disabled, no seat unused).
pub(crate) fn answer(request: &ReportRequest, licenses: &[License]) -> Report {
    struct Nobody;
    impl insights::Holdings for Nobody {
        fn disabled_holders(&self, _: &License) -> u32 {
            0
        }
        fn unused_seats(&self, _: &License, _: DateTime<Utc>) -> u32 {
            0
        }
    }
    let today = now().date_naive();
    let selected: Vec<&License> = licenses
        .iter()
        .filter(|l| request.filter.matches(l, today))
        .collect();
    let p = request.params;
    match request.report {
        ReportKind::Renewals => Report::Renewals(insights::renewals(selected, today, p.months)),
        ReportKind::Spend => Report::Spend(insights::spend(selected, p.top)),
        ReportKind::Seats => Report::Seats(insights::seats(selected, p.top)),
        ReportKind::Reclaim => {
            Report::Reclaim(insights::reclaim(selected, &Nobody, today, p.unused_days))
        }
        ReportKind::Trend => {
            let mut total = insights::Amounts::default();
            selected.iter().for_each(|l| total.add(l.cost));
            let point = |date: chrono::NaiveDate, scale: i64| insights::TrendPoint {
                date,
                total: total
                    .to_vec()
                    .into_iter()
                    .map(|m| lm_protocol::Money {
                        amount: m.amount * scale / 100,
                        ..m
                    })
                    .collect(),
            };
            // As if lmd had recorded a total at each month's end, the inventory growing.
            let days = (1..6).map(|back| {
                let day = today.checked_sub_months(chrono::Months::new(back)).unwrap();
                point(day, 100 - 4 * i64::from(back))
            });
            Report::Trend(insights::Trend::from_days(
                days.collect(),
                point(today, 100),
                p.months,
            ))
        }
    }
}

/// Answers the report request among `commands`, as lmd would over `licenses`.
pub(crate) fn answered(
    app: &mut App,
    commands: Vec<Command>,
    licenses: &[License],
) -> ReportRequest {
    // The newest: what typing asked last.
    let (seq, request) = commands
        .into_iter()
        .rev()
        .find_map(|c| match c {
            Command::Report { seq, request } => Some((seq, request)),
            _ => None,
        })
        .expect("a report request");
    let report = answer(&request, licenses);
    app.update(Msg::Reported {
        seq,
        result: Ok(report),
    });
    request
}

/// A manager on the Insights screen over the demo's inventory.
pub(crate) fn insights_over_the_demo() -> (App, Vec<License>) {
    let licenses = demo_inventory();
    let mut app = app_with(Role::Manager, three());
    let commands = app.update(key(KeyCode::Char('I')));
    answered(&mut app, commands, &licenses);
    (app, licenses)
}

#[test]
fn capital_i_opens_the_renewal_forecast_and_the_number_keys_the_other_reports() {
    let (mut app, licenses) = insights_over_the_demo();
    assert_eq!(app.screen, Screen::Insights);
    assert_eq!(app.insights.report, ReportKind::Renewals);
    assert_eq!(app.insights.bars().len(), 13, "expired, then twelve months");
    let commands = app.update(key(KeyCode::Char('2')));
    let asked = answered(&mut app, commands, &licenses);
    assert_eq!(asked.report, ReportKind::Spend);
    assert!(matches!(app.insights.shown, Some(Ok(Report::Spend(_)))));
    app.update(key(KeyCode::Char('v')));
    assert_eq!(app.insights.breakdown, Breakdown::Kind);
}

#[test]
fn the_filter_line_narrows_every_chart() {
    let (mut app, licenses) = insights_over_the_demo();
    app.update(key(KeyCode::Char('/')));
    let commands = typed(&mut app, "vendor:adobe");
    let asked = answered(&mut app, commands, &licenses);
    assert_eq!(asked.filter.vendor.as_deref(), Some("adobe"));
    let Some(Ok(Report::Renewals(r))) = &app.insights.shown else {
        panic!("a forecast")
    };
    let adobe = licenses
        .iter()
        .filter(|l| {
            l.vendor.as_str() == "Adobe" && l.expires.is_some_and(|e| e >= now().date_naive())
        })
        .count() as u32;
    let counted: u32 = r.months.iter().map(|m| m.licenses).sum::<u32>() + r.later;
    assert_eq!(counted, adobe, "only Adobe's");
}

#[test]
fn enter_on_a_month_opens_exactly_its_licenses() {
    let (mut app, _) = insights_over_the_demo();
    app.update(key(KeyCode::Char('/')));
    typed(&mut app, "vendor:adobe");
    app.update(key(KeyCode::Enter));
    // The first month after the current one: expired, now, then it.
    app.update(key(KeyCode::Right));
    app.update(key(KeyCode::Right));
    let commands = app.update(key(KeyCode::Enter));
    assert_eq!(app.screen, Screen::Licenses);
    use chrono::Datelike;
    let month = crate::app::tests::now().date_naive();
    let next = month
        .with_day(1)
        .unwrap()
        .checked_add_months(chrono::Months::new(1))
        .unwrap();
    let last = next
        .checked_add_months(chrono::Months::new(1))
        .unwrap()
        .pred_opt()
        .unwrap();
    assert_eq!(
        app.filter.text,
        format!("vendor:adobe expires>={next} expires<={last}")
    );
    let list = commands
        .iter()
        .find_map(|c| match c {
            Command::List { request, .. } => Some(request.clone()),
            _ => None,
        })
        .expect("lists the month's licenses");
    assert_eq!(list.filter.expires_from, Some(next));
    assert_eq!(list.filter.expires_to, Some(last));
    assert_eq!(list.within, None);
}

#[test]
fn enter_on_a_group_no_query_names_lists_that_group_and_esc_clears_it() {
    let (mut app, licenses) = insights_over_the_demo();
    let commands = app.update(key(KeyCode::Char('4')));
    answered(&mut app, commands, &licenses);
    // Reclaim's third group: paid for, assigned to nobody.
    app.update(key(KeyCode::Down));
    app.update(key(KeyCode::Down));
    let commands = app.update(key(KeyCode::Enter));
    let list = commands
        .iter()
        .find_map(|c| match c {
            Command::List { request, .. } => Some(request.clone()),
            _ => None,
        })
        .expect("lists the group");
    let within = list.within.expect("the group");
    assert_eq!(
        (within.report, within.group.as_str()),
        (ReportKind::Reclaim, "unassigned")
    );
    assert_eq!(
        app.within.as_ref().unwrap().1,
        "paid for, assigned to nobody"
    );
    app.update(key(KeyCode::Esc));
    assert_eq!(app.within, None);
}

#[test]
fn a_change_in_the_cache_redraws_the_charts() {
    let (mut app, _) = insights_over_the_demo();
    let commands = app.update(Msg::Event(lm_protocol::socket::Event::Changed {
        revision: 9,
        ids: vec![],
    }));
    assert!(commands.iter().any(|c| matches!(c, Command::Report { .. })));
}
