//! Every screen and state, rendered on ratatui's `TestBackend` and compared with the
//! committed snapshots (`cargo insta review` after an intended change).

use super::*;
use crate::app::tests::{alerts_of, app_with, key, license, status, three, typed};
use crate::app::{Msg, form::Field};
use lm_protocol::Role;
use lm_protocol::socket::Connection;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::KeyCode;

/// `app` drawn on a `width`×`height` terminal without colours, as text.
pub(crate) fn screen(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| render(app, frame, Theme { color: false }))
        .unwrap();
    terminal.backend().to_string()
}

fn manager() -> App {
    app_with(Role::Manager, three())
}

#[test]
fn browse_at_80_by_24() {
    insta::assert_snapshot!(screen(&manager(), 80, 24));
}

/// The demo's first screen on an 80×24 terminal: licenses whose names share their start stay
/// apart (the name is cut in the middle), the tab bar's count does not run into the last tab,
/// and the hint for a second terminal is not cut (who is logged in gives way).
#[test]
fn the_demo_at_80_by_24_tells_its_licenses_apart() {
    let licenses: Vec<_> = (0..403)
        .map(|n| {
            let team = ["design", "finance", "marketing", "sales"][n % 4];
            license(
                n + 1,
                &format!("1Password Business, {team} #{}", n + 1),
                None,
            )
        })
        .collect();
    let mut app = app_with(Role::Manager, licenses);
    app.update(Msg::Resize(80, 24));
    app.message = Some((
        crate::app::Level::Info,
        "second terminal: lm --socket /tmp/lm-demo-a1b2c3/run/lmd.sock".into(),
    ));
    insta::assert_snapshot!(screen(&app, 80, 24));
}

#[test]
fn browse_wide_shows_every_column() {
    let mut app = manager();
    app.update(Msg::Resize(140, 12));
    insta::assert_snapshot!(screen(&app, 140, 12));
}

#[test]
fn filter_with_an_error_underlined_inline() {
    let mut app = manager();
    app.update(key(KeyCode::Char('/')));
    typed(&mut app, "vendor:adobe cost>ten");
    insta::assert_snapshot!(screen(&app, 80, 10));
}

/// Opens the detail pane of the selected license, whose history is one `action` by bob.
fn detail_with_history(app: &mut App, at: &str, action: &str) {
    app.update(Msg::Resize(110, 24));
    app.update(key(KeyCode::Enter));
    let id = app.current().unwrap().id.clone();
    let entry: lm_protocol::AuditEntry = serde_json::from_value(serde_json::json!({
        "id": 7, "at": at, "actor": "bob", "action": action,
        "record_type": "license", "record_id": id,
    }))
    .unwrap();
    app.update(Msg::AuditLoaded {
        license: id,
        result: Ok(vec![entry]),
    });
}

#[test]
fn detail_pane_with_history() {
    let mut app = manager();
    detail_with_history(&mut app, "2026-11-20T10:00:00Z", "assign");
    insta::assert_snapshot!(screen(&app, 110, 24));
}

#[test]
fn detail_pane_of_a_class_seat_license_lists_the_holders_that_fit_and_keeps_the_history() {
    let mut three = three();
    three[0].seats = Some(200);
    three[0].seats_used = 150;
    // What the server sends: the oldest holders it lists, and the count of all.
    three[0].assignments = (0..lm_protocol::license::LISTED_ASSIGNMENTS)
        .map(|n| {
            serde_json::from_value(serde_json::json!({
                "id": format!("as-{n}"), "employee": format!("student{n:03}"),
                "since": "2026-09-01T08:00:00Z",
            }))
            .unwrap()
        })
        .collect();
    let mut app = app_with(Role::Manager, three);
    detail_with_history(&mut app, "2026-09-01T08:00:00Z", "create");
    let wide = screen(&app, 110, 24);
    assert!(wide.contains("… and 145 more"), "{wide}");
    assert!(wide.contains("bob"), "the history stays in view: {wide}");
    insta::assert_snapshot!(wide);
    // Narrow: the fields come first, and the holders still give way.
    app.update(Msg::Resize(80, 40));
    let narrow = screen(&app, 80, 40);
    assert!(
        narrow.contains("more") && narrow.contains("bob"),
        "{narrow}"
    );
}

#[test]
fn detail_pane_of_an_employee_hides_the_key() {
    let mut three = three();
    three[0].key = None;
    let mut app = app_with(Role::Employee, three);
    app.update(key(KeyCode::Enter));
    insta::assert_snapshot!(screen(&app, 80, 24));
}

#[test]
fn a_help_taller_than_the_terminal_scrolls() {
    let mut app = manager();
    app.update(Msg::Resize(80, 24));
    app.update(key(KeyCode::Char('?')));
    let top = screen(&app, 80, 24);
    assert!(top.contains("scroll"), "{top}");
    app.update(key(KeyCode::PageDown));
    app.update(key(KeyCode::PageDown));
    app.update(key(KeyCode::PageDown));
    insta::assert_snapshot!(screen(&app, 80, 24));
    app.update(key(KeyCode::Char('x')));
    assert_eq!(app.mode, crate::app::Mode::Browse);
}

#[test]
fn help_of_an_employee_lists_no_manager_actions() {
    let mut app = app_with(Role::Employee, three());
    app.update(key(KeyCode::Char('?')));
    insta::assert_snapshot!(screen(&app, 80, 40));
}

#[test]
fn add_form_shows_rules_as_you_type() {
    let mut app = manager();
    app.update(key(KeyCode::Char('n')));
    typed(&mut app, "adobe cc");
    app.update(key(KeyCode::Tab));
    typed(&mut app, "Creative Cloud");
    insta::assert_snapshot!(screen(&app, 100, 24));
}

#[test]
fn a_server_error_lands_on_its_field() {
    let mut app = manager();
    app.update(key(KeyCode::Char('e')));
    if let Mode::Form(form) = &mut app.mode {
        form.set_server_error(
            Some("seats"),
            "3 seats are in use; at least 3 are needed".into(),
        );
        assert_eq!(form.focused(), Field::Seats);
    }
    insta::assert_snapshot!(screen(&app, 100, 24));
}

#[test]
fn remove_confirmation_names_the_license() {
    let mut app = manager();
    app.update(key(KeyCode::Char('d')));
    insta::assert_snapshot!(screen(&app, 80, 12));
}

#[test]
fn bulk_assign_preview() {
    let mut app = manager();
    for _ in 0..3 {
        app.update(key(KeyCode::Char(' ')));
    }
    app.update(key(KeyCode::Char('a')));
    typed(&mut app, "bob");
    app.update(key(KeyCode::Enter));
    insta::assert_snapshot!(screen(&app, 80, 14));
}

#[test]
fn assign_prompt_shows_the_seats_and_who_holds_the_license() {
    let mut app = manager();
    app.update(key(KeyCode::Char('a')));
    typed(&mut app, "device:LAPTOP-7");
    insta::assert_snapshot!(screen(&app, 80, 14));
}

#[test]
fn conflict_shows_what_changed_on_both_sides() {
    let mut app = manager();
    app.update(key(KeyCode::Char('e')));
    app.update(key(KeyCode::Tab));
    typed(&mut app, " (renewed)");
    let commands = app.update(Msg::Key(ratatui::crossterm::event::KeyEvent::new(
        KeyCode::Char('s'),
        ratatui::crossterm::event::KeyModifiers::CONTROL,
    )));
    let crate::app::Command::Edit { edit, .. } = &commands[0] else {
        panic!("{commands:?}")
    };
    app.update(Msg::Edited {
        edit: edit.clone(),
        result: Err(lm_protocol::Problem::local(
            "urn:lm:problem:conflict",
            412,
            "Stale",
            "",
        )),
    });
    let mut theirs = three()[0].clone();
    theirs.version = 2;
    theirs.expires = "2027-11-20".parse().ok();
    app.update(Msg::Fetched(Ok(theirs)));
    insta::assert_snapshot!(screen(&app, 80, 16));
}

#[test]
fn offline_status_says_since_when() {
    let mut app = manager();
    app.update(Msg::Status(status(
        Role::Manager,
        Connection::Offline {
            since: "2026-11-22T11:57:00Z".parse().unwrap(),
            reason: "connection refused".into(),
        },
    )));
    insta::assert_snapshot!(screen(&app, 80, 6));
}

#[test]
fn syncing_shows_progress() {
    let mut app = manager();
    app.update(Msg::Status(status(
        Role::Manager,
        Connection::Syncing {
            done: 420,
            total: 1000,
        },
    )));
    insta::assert_snapshot!(screen(&app, 80, 6));
}

#[test]
fn login_required_explains_what_to_do() {
    let mut app = manager();
    app.update(Msg::Status(status(
        Role::Manager,
        Connection::LoginRequired {
            reason: "the token expired".into(),
        },
    )));
    insta::assert_snapshot!(screen(&app, 80, 14));
}

#[test]
fn a_login_from_the_tui_shows_where_to_approve_it() {
    let mut app = manager();
    let mut logged_out = status(
        Role::Manager,
        Connection::LoginRequired {
            reason: "not logged in: run `lm login`".into(),
        },
    );
    logged_out.user = None;
    app.update(Msg::Status(logged_out));
    let commands = app.update(key(KeyCode::Char('L')));
    assert_eq!(commands, vec![crate::app::Command::Login]);
    app.update(Msg::LoginStarted(Ok(lm_protocol::socket::LoginPrompt {
        verification_uri: "https://lm.example.org/device".into(),
        verification_uri_complete: None,
        user_code: "BCDF-GHJK".into(),
        expires_in: 600,
    })));
    insta::assert_snapshot!(screen(&app, 80, 14));

    // Approved in the browser: the daemon's next status names the user.
    app.update(Msg::Status(status(Role::Manager, Connection::Live)));
    assert_eq!(app.login, None);
    let (_, message) = app.message.clone().unwrap();
    assert_eq!(message, "logged in as alice (manager)");
}

#[test]
fn nothing_matches() {
    let mut app = app_with(Role::Manager, vec![]);
    app.update(key(KeyCode::Char('/')));
    let commands = typed(&mut app, "vendor:nobody");
    let Some(crate::app::Command::List { seq, .. }) = commands.last() else {
        panic!("{commands:?}")
    };
    app.update(Msg::Listed {
        seq: *seq,
        result: Ok(lm_protocol::socket::LicenseWindow {
            items: vec![],
            total: 0,
            offset: 0,
        }),
    });
    insta::assert_snapshot!(screen(&app, 80, 8));
}

#[test]
fn marked_rows_and_a_long_listing() {
    let many: Vec<_> = (0..300)
        .map(|n| license(n, &format!("Seat pack {n:03}"), Some("2027-03-01")))
        .collect();
    let mut app = app_with(Role::Manager, many);
    app.update(key(KeyCode::Char(' ')));
    app.update(key(KeyCode::Char('j')));
    app.update(key(KeyCode::Char(' ')));
    insta::assert_snapshot!(screen(&app, 80, 10));
}

#[test]
fn alerts_panel_lists_the_alerts_soonest_first() {
    let mut app = app_with(Role::Employee, three());
    let alerts = alerts_of(&three(), app.today());
    app.update(Msg::Event(lm_protocol::socket::Event::Alerts {
        alerts: alerts[1..].to_vec(),
        total: 1,
    }));
    let status_bar = screen(&app, 100, 12);
    assert!(status_bar.contains("(1 new, ! lists them)"), "{status_bar}");
    app.update(key(KeyCode::Char('!')));
    app.update(Msg::AlertsLoaded(Ok(crate::app::AlertList {
        total: alerts.len(),
        alerts,
    })));
    app.update(key(KeyCode::Down));
    insta::assert_snapshot!(screen(&app, 100, 12));
}

#[test]
fn alerts_panel_when_nothing_is_due() {
    let mut app = manager();
    app.update(key(KeyCode::Char('!')));
    app.update(Msg::AlertsLoaded(Ok(crate::app::AlertList {
        alerts: vec![],
        total: 0,
    })));
    insta::assert_snapshot!(screen(&app, 80, 12));
}
