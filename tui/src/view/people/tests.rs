//! The People screen and its dialogs, rendered on ratatui's `TestBackend` and compared with
//! the committed snapshots.

use crate::app::people::tests::{bob_in_detail, people_of, staff};
use crate::app::tests::{key, typed};
use crate::app::{App, Edit, Msg};
use crate::view::tests::screen;
use lm_protocol::socket::Reply;
use lm_protocol::{Offboarding, Released, Role};
use ratatui::crossterm::event::KeyCode;

fn sized(mut app: App, width: u16, height: u16) -> App {
    app.update(Msg::Resize(width, height));
    app
}

#[test]
fn people_at_80_by_24() {
    let app = sized(people_of(Role::Manager, staff()), 80, 24);
    insta::assert_snapshot!(screen(&app, 80, 24));
}

#[test]
fn people_wide_with_a_member_and_what_they_hold() {
    let mut app = sized(people_of(Role::Manager, staff()), 120, 20);
    bob_in_detail(&mut app);
    insta::assert_snapshot!(screen(&app, 120, 20));
}

#[test]
fn people_filtered_with_a_mistake() {
    let mut app = sized(people_of(Role::Manager, staff()), 80, 10);
    app.update(key(KeyCode::Char('/')));
    typed(&mut app, "role:boss");
    insta::assert_snapshot!(screen(&app, 80, 10));
}

/// On the People screen the help explains the People filter, not the licenses'.
#[test]
fn help_on_the_people_screen_lists_the_people_filter() {
    let mut app = sized(people_of(Role::Manager, staff()), 80, 48);
    app.update(key(KeyCode::Char('?')));
    let shown = screen(&app, 80, 48);
    assert!(shown.contains("status:disabled"), "{shown}");
    assert!(!shown.contains("expires<30d"), "{shown}");
    insta::assert_snapshot!(shown);
}

#[test]
fn an_employee_sees_themselves() {
    let app = sized(people_of(Role::Employee, staff()[1..2].to_vec()), 80, 8);
    insta::assert_snapshot!(screen(&app, 80, 8));
}

#[test]
fn the_invite_dialog() {
    let mut app = sized(people_of(Role::Manager, staff()), 80, 16);
    app.update(key(KeyCode::Char('i')));
    typed(&mut app, "erin");
    insta::assert_snapshot!(screen(&app, 80, 16));
}

#[test]
fn the_offboarding_confirmation_names_the_person_and_what_goes() {
    let mut app = sized(people_of(Role::Manager, staff()), 80, 20);
    app.update(key(KeyCode::Down));
    app.update(key(KeyCode::Char('O')));
    let released = |n: usize, name: &str, seat: bool| Released {
        license: format!("01a20500-0000-7000-8000-{n:012}").parse().unwrap(),
        license_name: name.parse().unwrap(),
        assignment: format!("as-{n}").parse().unwrap(),
        seat,
    };
    app.update(Msg::Edited {
        edit: Edit::OffboardPreview,
        result: Ok(Reply::Offboarding(Offboarding {
            member: "bob".into(),
            dry_run: true,
            released: vec![
                released(1, "Creative Cloud, design", false),
                released(2, "JetBrains All Products", false),
                released(4, "Typing Tutor, class 4b", true),
            ],
            disabled: true,
        })),
    });
    insta::assert_snapshot!(screen(&app, 80, 20));
}

#[test]
fn the_link_to_hand_over() {
    let mut app = sized(people_of(Role::Manager, staff()), 80, 16);
    app.mode = crate::app::Mode::Link(crate::app::LinkShown {
        title: "Invitation for erin".into(),
        link: "http://127.0.0.1:7878/invite/N2fJ6yQ0bXcZ-k_".into(),
        expires: "2026-11-29T12:00:00Z".parse().unwrap(),
        copied: false,
    });
    insta::assert_snapshot!(screen(&app, 80, 16));
}
