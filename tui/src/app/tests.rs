//! The app driven headless, message by message: what the user does, what it asks the
//! daemon for, and how it reacts to the answers.

use super::*;
use lm_protocol::socket::User;

pub(crate) fn now() -> DateTime<Utc> {
    "2026-11-22T12:00:00Z".parse().unwrap()
}

pub(crate) fn license(n: usize, name: &str, expires: Option<&str>) -> License {
    serde_json::from_value(serde_json::json!({
        "id": format!("01a20500-0000-7000-8000-{n:012}"),
        "product": "adobe-cc", "name": name, "kind": "subscription", "vendor": "Adobe",
        "cost": {"amount": 59_900, "currency": "EUR"}, "seats": 10, "seats_used": 1,
        "added": "2026-01-15", "expires": expires,
        "assignments": [{"id": format!("as-{n}"), "employee": "alice", "since": "2026-02-01T09:00:00Z"}],
        "key": "AAAA-BBBB", "version": 1, "revision": n,
    }))
    .unwrap()
}

pub(crate) fn status(role: Role, connection: Connection) -> Status {
    Status {
        connection,
        server: "http://127.0.0.1:7878".into(),
        user: Some(User {
            subject: if role == Role::Manager {
                "alice"
            } else {
                "eve"
            }
            .into(),
            org: "acme".into(),
            role,
        }),
        revision: 42,
        head: 42,
        licenses: 3,
        synced_at: Some(now()),
    }
}

pub(crate) fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub(crate) fn typed(app: &mut App, text: &str) -> Vec<Command> {
    text.chars()
        .flat_map(|c| app.update(key(KeyCode::Char(c))))
        .collect()
}

fn last_list(commands: &[Command]) -> (u64, ListRequest) {
    commands
        .iter()
        .rev()
        .find_map(|c| match c {
            Command::List { seq, request } => Some((*seq, request.clone())),
            _ => None,
        })
        .expect("a list request")
}

/// An app of `role` showing `licenses`, as after the first answer from the daemon.
pub(crate) fn app_with(role: Role, licenses: Vec<License>) -> App {
    let mut app = App::new(KeyMap::default(), now(), (100, 24));
    let commands = app.update(Msg::Status(status(role, Connection::Live)));
    let (seq, request) = last_list(&commands);
    let total = licenses.len();
    let items = licenses
        .into_iter()
        .skip(request.offset)
        .take(request.limit)
        .collect();
    app.update(Msg::Listed {
        seq,
        result: Ok(LicenseWindow {
            items,
            total,
            offset: request.offset,
        }),
    });
    app
}

pub(crate) fn three() -> Vec<License> {
    vec![
        license(1, "Creative Cloud, design", Some("2026-11-20")),
        license(2, "Creative Cloud, marketing", Some("2026-11-27")),
        license(3, "Office 365 E3", None),
    ]
}

#[test]
fn typing_a_filter_lists_as_you_type_and_a_mistake_lists_nothing() {
    let mut app = app_with(Role::Manager, three());
    app.update(key(KeyCode::Char('/')));
    assert_eq!(app.mode, Mode::Filter);
    let commands = typed(&mut app, "vendor:adobe");
    let (_, request) = last_list(&commands);
    assert_eq!(request.filter.vendor.as_deref(), Some("adobe"));
    assert_eq!(request.offset, 0);
    app.update(Msg::Listed {
        seq: app.seq,
        result: Ok(LicenseWindow {
            items: three(),
            total: 3,
            offset: 0,
        }),
    });
    assert!(
        typed(&mut app, " ").is_empty(),
        "a space leaves the query as it was: nothing to list again"
    );

    typed(&mut app, "cost>");
    let commands = typed(&mut app, "x");
    assert!(
        !commands.iter().any(|c| matches!(c, Command::List { .. })),
        "an invalid query is not sent"
    );
    let error = app.query_error.clone().expect("an inline error");
    assert_eq!(&app.filter.text[error.span], "x");

    app.update(key(KeyCode::Backspace));
    let commands = typed(&mut app, "100");
    let (_, request) = last_list(&commands);
    assert_eq!(request.filter.cost_min, Some(10_001));
    assert!(app.query_error.is_none());
}

#[test]
fn views_carry_their_query_and_sort() {
    let mut app = app_with(Role::Manager, three());
    let commands = app.update(key(KeyCode::Tab));
    let (_, request) = last_list(&commands);
    assert_eq!(VIEWS[app.view].0, "Expiring");
    assert_eq!(request.filter.expiring_within, Some(30));
    assert_eq!(request.sort.field, SortField::Expires);

    for _ in 0..2 {
        app.update(key(KeyCode::Tab));
    }
    let commands = app.update(Msg::Tick(now()));
    assert!(commands.is_empty(), "a tick on the same day lists nothing");
    let (_, request) = last_list(&app.refresh());
    assert_eq!(VIEWS[app.view].0, "Mine");
    assert_eq!(request.filter.employee.unwrap().as_str(), "alice");
}

#[test]
fn an_answer_to_an_older_query_is_ignored() {
    let mut app = app_with(Role::Manager, three());
    app.update(key(KeyCode::Char('/')));
    let first = last_list(&typed(&mut app, "a")).0;
    let second = last_list(&typed(&mut app, "b")).0;
    app.update(Msg::Listed {
        seq: first,
        result: Ok(LicenseWindow {
            items: vec![],
            total: 0,
            offset: 0,
        }),
    });
    assert!(app.loading, "still waiting for the newest query");
    assert_eq!(app.total, 3);
    app.update(Msg::Listed {
        seq: second,
        result: Ok(LicenseWindow {
            items: three()[..1].to_vec(),
            total: 1,
            offset: 0,
        }),
    });
    assert_eq!(app.total, 1);
}

#[test]
fn scrolling_past_the_loaded_window_asks_for_the_next_rows() {
    let many: Vec<License> = (0..500)
        .map(|n| license(n, &format!("License {n:03}"), None))
        .collect();
    let mut app = app_with(Role::Employee, many);
    assert_eq!(app.total, 500);
    let mut asked = None;
    for _ in 0..200 {
        if let Some(c) = app.update(key(KeyCode::Char('j'))).into_iter().next() {
            asked = Some(c);
            break;
        }
    }
    let Some(Command::List { request, .. }) = asked else {
        panic!("moving down eventually lists more");
    };
    assert!(request.offset > 0 && request.offset <= app.selected);
    assert!(app.selected < app.top + app.table_rows());
}

#[test]
fn sorting_cycles_columns_and_reverses() {
    let mut app = app_with(Role::Manager, three());
    assert_eq!(app.sort.field, SortField::Name);
    let (_, request) = last_list(&app.update(key(KeyCode::Char('s'))));
    assert_eq!(request.sort.field, SortField::Kind);
    let (_, request) = last_list(&app.update(key(KeyCode::Char('S'))));
    assert!(request.sort.descending);
}

#[test]
fn employees_are_told_why_they_cannot_edit() {
    let mut app = app_with(Role::Employee, three());
    for k in ['e', 'n', 'd', 'a'] {
        assert!(app.update(key(KeyCode::Char(k))).is_empty());
        assert_eq!(app.mode, Mode::Browse);
        let (level, text) = app.message.clone().unwrap();
        assert_eq!(level, Level::Error);
        assert!(text.contains("only managers"), "{text}");
        assert!(text.contains("eve (employee)"), "{text}");
    }
}

#[test]
fn an_edit_sends_the_version_seen_and_a_conflict_offers_a_reload() {
    let mut app = app_with(Role::Manager, three());
    app.update(key(KeyCode::Char('e')));
    let Mode::Form(_) = &app.mode else {
        panic!("the edit form opens")
    };
    // Change the name: focus is on the product id; move to the name and retype it.
    app.update(key(KeyCode::Tab));
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('u'),
        KeyModifiers::CONTROL,
    )));
    typed(&mut app, "Creative Cloud, design team");
    let commands = app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('s'),
        KeyModifiers::CONTROL,
    )));
    let [Command::Edit { edit, request }] = commands.as_slice() else {
        panic!("one edit: {commands:?}")
    };
    let Request::Update(update) = request else {
        panic!("an update")
    };
    assert_eq!(update.version, 1);
    assert_eq!(
        update.patch.name.as_ref().unwrap().as_str(),
        "Creative Cloud, design team"
    );
    assert!(
        update.patch.expires.is_none(),
        "only the changed field is sent"
    );

    let stale = Problem::local(lm_protocol::problem::kinds::CONFLICT, 412, "Stale", "stale");
    let commands = app.update(Msg::Edited {
        edit: edit.clone(),
        result: Err(stale),
    });
    assert_eq!(commands, vec![Command::Fetch(update.license.clone())]);
    let mut theirs = three()[0].clone();
    theirs.version = 2;
    theirs.expires = "2027-11-20".parse().ok();
    app.update(Msg::Fetched(Ok(theirs)));
    let Mode::Conflict {
        theirs: Some(_), ..
    } = &app.mode
    else {
        panic!("the conflict shows their version")
    };
    app.update(key(KeyCode::Char('r')));
    let Mode::Form(form) = &app.mode else {
        panic!("reloaded into the form")
    };
    assert_eq!(form.editing.as_ref().unwrap().version, 2);
    assert_eq!(form.value(form::Field::Name), "Creative Cloud, design team");
    assert_eq!(form.value(form::Field::Expires), "2027-11-20");
}

#[test]
fn a_bulk_assign_previews_then_sends_one_request_per_license() {
    let mut app = app_with(Role::Manager, three());
    app.update(key(KeyCode::Char(' ')));
    app.update(key(KeyCode::Char(' ')));
    assert_eq!(app.marked.len(), 2);
    app.update(key(KeyCode::Char('a')));
    typed(&mut app, "device:LAPTOP-7");
    assert!(app.update(key(KeyCode::Enter)).is_empty());
    let Mode::Confirm(confirm) = &app.mode else {
        panic!("a preview comes first")
    };
    assert!(confirm.title.contains("2 license"), "{}", confirm.title);
    let commands = app.update(key(KeyCode::Char('y')));
    let [Command::Bulk { requests, .. }] = commands.as_slice() else {
        panic!("{commands:?}")
    };
    assert_eq!(requests.len(), 2);
    app.update(Msg::BulkDone {
        summary: "assigned".into(),
        failures: vec![],
    });
    assert!(app.marked.is_empty());
}

#[test]
fn removing_asks_first_and_undo_restores() {
    let mut app = app_with(Role::Manager, three());
    app.update(key(KeyCode::Char('d')));
    let Mode::Confirm(confirm) = &app.mode else {
        panic!("remove asks first")
    };
    assert!(confirm.title.contains("Creative Cloud, design"));
    let commands = app.update(key(KeyCode::Char('y')));
    let [Command::Edit { edit, .. }] = commands.as_slice() else {
        panic!("{commands:?}")
    };
    app.update(Msg::Edited {
        edit: edit.clone(),
        result: Ok(Reply::Done),
    });
    let commands = app.update(key(KeyCode::Char('u')));
    let [Command::Bulk { requests, .. }] = commands.as_slice() else {
        panic!("{commands:?}")
    };
    assert!(matches!(requests[0].1, Request::Restore(_)));
}

#[test]
fn a_change_event_refreshes_the_window() {
    let mut app = app_with(Role::Manager, three());
    let commands = app.update(Msg::Event(Event::Changed {
        revision: 43,
        ids: vec![three()[1].id.clone()],
    }));
    assert!(matches!(commands.as_slice(), [Command::List { .. }]));
}

#[test]
fn a_cancelled_bulk_removal_leaves_nothing_to_undo() {
    let mut app = app_with(Role::Manager, three());
    app.update(key(KeyCode::Char(' ')));
    app.update(key(KeyCode::Char(' ')));
    app.update(key(KeyCode::Char('d')));
    assert!(app.update(key(KeyCode::Char('n'))).is_empty());
    assert!(app.update(key(KeyCode::Char('u'))).is_empty());
    assert_eq!(app.message.unwrap().1, "nothing to restore");
}

pub(crate) fn alerts_of(licenses: &[License], today: NaiveDate) -> Vec<ExpiryAlert> {
    licenses
        .iter()
        .filter_map(|l| {
            let expires = l.expires?;
            let days = (expires - today).num_days();
            Some(ExpiryAlert {
                license: l.id.clone(),
                name: l.name.to_string(),
                vendor: l.vendor.to_string(),
                expires,
                days,
                threshold: if days <= 7 { 7 } else { 30 },
            })
        })
        .collect()
}

#[test]
fn pushed_alerts_count_as_unread_until_the_panel_lists_them() {
    let mut app = app_with(Role::Employee, three());
    let alerts = alerts_of(&three(), app.today());
    assert!(
        app.update(Msg::Event(Event::Alerts {
            alerts: alerts.clone(),
            total: 2,
        }))
        .is_empty()
    );
    assert_eq!(app.unread_alerts, 2);
    assert_eq!(
        app.alert.as_deref(),
        Some("2 licenses expire within 7 days")
    );

    assert_eq!(app.update(key(KeyCode::Char('!'))), [Command::Alerts]);
    assert_eq!(app.unread_alerts, 0);
    app.update(Msg::AlertsLoaded(Ok(AlertList {
        total: alerts.len(),
        alerts: alerts.clone(),
    })));
    // A new alert while the panel is open asks for the list again instead of counting.
    assert_eq!(
        app.update(Msg::Event(Event::Alerts {
            alerts: alerts[..1].to_vec(),
            total: 1,
        })),
        [Command::Alerts]
    );
    assert_eq!(app.unread_alerts, 0);
}

#[test]
fn an_alert_event_listing_the_first_of_many_counts_them_all() {
    let mut app = app_with(Role::Manager, three());
    let alerts = alerts_of(&three(), app.today());
    app.update(Msg::Event(Event::Alerts {
        alerts: alerts[..1].to_vec(),
        total: 10_390,
    }));
    assert_eq!(app.unread_alerts, 10_390);
    assert_eq!(
        app.alert.as_deref(),
        Some("10390 licenses expire within 7 days")
    );
    // From a daemon that does not say how many: the alerts listed.
    app.update(Msg::Event(Event::Alerts {
        alerts: alerts.clone(),
        total: 0,
    }));
    assert_eq!(app.unread_alerts, 10_392);
}

#[test]
fn enter_on_an_alert_shows_that_license_with_its_details() {
    let mut app = app_with(Role::Employee, three());
    app.update(key(KeyCode::Char('!')));
    app.update(Msg::AlertsLoaded(Ok(AlertList {
        alerts: alerts_of(&three(), app.today()),
        total: 2,
    })));
    app.update(key(KeyCode::Char('j')));
    app.update(key(KeyCode::Char('j')));
    assert_eq!(app.mode, Mode::Alerts { selected: 1 }, "stops at the last");
    let commands = app.update(key(KeyCode::Enter));
    let (_, request) = last_list(&commands);
    assert_eq!(request.filter.id, Some(three()[1].id.clone()));
    assert_eq!(app.mode, Mode::Browse);
    assert!(app.detail);
    // Any other key closes the panel and does nothing else.
    app.update(key(KeyCode::Char('!')));
    assert!(app.update(key(KeyCode::Char('q'))).is_empty());
    assert_eq!(app.mode, Mode::Browse);
    assert!(!app.quit);
}
