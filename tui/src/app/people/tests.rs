//! The People screen driven headless: what a manager does, what the app asks lmd for, and
//! how it answers.

use super::*;
use crate::app::tests::{app_with, key, now, three, typed};
use lm_protocol::socket::{Holding, MemberDetail, MemberWindow};
use lm_protocol::{Invitation, InvitationKind, IssuedInvitation, Released};

pub(crate) fn member(name: &str, role: Role, status: MemberStatus, licenses: u32) -> Member {
    Member {
        name: name.into(),
        role,
        status,
        created_at: "2026-03-02T08:00:00Z".parse().unwrap(),
        last_sign_in: (status == MemberStatus::Active)
            .then(|| "2026-11-20T08:30:00Z".parse().unwrap()),
        second_factor: name == "alice",
        licenses,
        seats: u32::from(name == "bob"),
        invited_until: (status == MemberStatus::Invited)
            .then(|| "2026-11-29T12:00:00Z".parse().unwrap()),
    }
}

pub(crate) fn staff() -> Vec<Member> {
    vec![
        member("alice", Role::Manager, MemberStatus::Active, 2),
        member("bob", Role::Employee, MemberStatus::Active, 3),
        member("carol", Role::Employee, MemberStatus::Invited, 0),
        member("dan", Role::Employee, MemberStatus::Disabled, 0),
    ]
}

/// The members request among `commands`.
fn members_asked(commands: &[Command]) -> (u64, MembersRequest) {
    commands
        .iter()
        .find_map(|c| match c {
            Command::Members { seq, request } => Some((*seq, request.clone())),
            _ => None,
        })
        .expect("a members request")
}

/// A manager's app on the People screen, listing `members`.
pub(crate) fn people_of(role: Role, members: Vec<Member>) -> App {
    let mut app = app_with(role, three());
    let commands = app.update(key(KeyCode::Char('p')));
    let (seq, request) = members_asked(&commands);
    assert_eq!(request.filter, MemberFilter::default());
    let total = members.len();
    app.update(Msg::MembersListed {
        seq,
        result: Ok(MemberWindow {
            items: members,
            total,
            offset: 0,
        }),
    });
    app
}

pub(crate) fn bob_in_detail(app: &mut App) {
    app.update(key(KeyCode::Down));
    let commands = app.update(key(KeyCode::Enter));
    assert_eq!(commands, [Command::Member("bob".into())]);
    let bob = member("bob", Role::Employee, MemberStatus::Active, 3);
    let holding = |n: usize, name: &str, seat: bool| Holding {
        license: format!("01a20500-0000-7000-8000-{n:012}").parse().unwrap(),
        license_name: name.parse().unwrap(),
        assignment: format!("as-{n}").parse().unwrap(),
        since: "2026-02-01T09:00:00Z".parse().unwrap(),
        seat,
    };
    app.update(Msg::MemberLoaded(Ok(MemberDetail {
        member: bob,
        holdings: vec![
            holding(1, "Creative Cloud, design", false),
            holding(2, "JetBrains All Products", false),
            holding(3, "Office 365 E3", false),
            holding(4, "Typing Tutor, class 4b", true),
        ],
    })));
}

#[test]
fn p_opens_the_people_and_tab_goes_back_to_the_licenses() {
    let mut app = people_of(Role::Manager, staff());
    assert_eq!(app.screen, Screen::People);
    assert_eq!(app.people.current().unwrap().name, "alice");
    app.update(key(KeyCode::Down));
    assert_eq!(app.people.current().unwrap().name, "bob");
    // The tabs go round: … Unassigned, People, Insights, All …
    app.update(key(KeyCode::Tab));
    assert_eq!(app.screen, Screen::Insights);
    app.update(key(KeyCode::Tab));
    assert_eq!(app.screen, Screen::Licenses);
    assert_eq!(app.view, 0, "the first view after the last tab");
    assert_eq!(app.total, 3, "the licenses as they were");
    app.update(key(KeyCode::BackTab));
    assert_eq!(app.screen, Screen::Insights);
    let commands = app.update(key(KeyCode::BackTab));
    assert_eq!(app.screen, Screen::People);
    members_asked(&commands);
    // p goes back to the licenses.
    app.update(key(KeyCode::Char('p')));
    assert_eq!(app.screen, Screen::Licenses);
}

#[test]
fn the_filter_line_narrows_the_members_and_points_at_a_mistake() {
    let mut app = people_of(Role::Manager, staff());
    app.update(key(KeyCode::Char('/')));
    let commands = typed(&mut app, "role:manager");
    let (_, request) = members_asked(&commands[commands.len() - 1..]);
    assert_eq!(request.filter.role, Some(Role::Manager));
    app.update(key(KeyCode::Esc));
    assert!(app.people.filter.text.is_empty(), "esc clears it");
    app.update(key(KeyCode::Char('/')));
    typed(&mut app, "status:gon");
    let commands = app.update(key(KeyCode::Char('e')));
    assert!(commands.is_empty(), "a mistake lists nothing: {commands:?}");
    let error = app.people.error.as_ref().expect("the mistake is shown");
    assert_eq!(&app.people.filter.text[error.span.clone()], "gone");
}

#[test]
fn offboarding_shows_what_it_releases_then_asks_naming_the_person() {
    let mut app = people_of(Role::Manager, staff());
    app.update(key(KeyCode::Down));
    let commands = app.update(key(KeyCode::Char('O')));
    let [Command::Edit { edit, request }] = commands.as_slice() else {
        panic!("{commands:?}")
    };
    assert_eq!(*edit, Edit::OffboardPreview);
    assert_eq!(
        *request,
        Request::Offboard(OffboardRequest {
            name: "bob".into(),
            dry_run: true
        })
    );
    let released = Released {
        license: "01a20500-0000-7000-8000-000000000001".parse().unwrap(),
        license_name: "Creative Cloud, design".parse().unwrap(),
        assignment: "as-1".parse().unwrap(),
        seat: false,
    };
    app.update(Msg::Edited {
        edit: Edit::OffboardPreview,
        result: Ok(Reply::Offboarding(Offboarding {
            member: "bob".into(),
            dry_run: true,
            released: vec![released],
            disabled: true,
        })),
    });
    let Mode::Confirm(confirm) = &app.mode else {
        panic!("asks first: {:?}", app.mode)
    };
    assert_eq!(confirm.title, "Offboard bob?");
    assert!(
        confirm
            .lines
            .iter()
            .any(|l| l.contains("Creative Cloud, design"))
    );
    let commands = app.update(key(KeyCode::Char('y')));
    assert_eq!(
        commands,
        [Command::Edit {
            edit: Edit::Offboard,
            request: Request::Offboard(OffboardRequest {
                name: "bob".into(),
                dry_run: false
            })
        }]
    );
}

#[test]
fn an_invitation_shows_its_link_ready_to_copy() {
    let mut app = people_of(Role::Manager, staff());
    app.update(key(KeyCode::Char('i')));
    typed(&mut app, "erin");
    app.update(key(KeyCode::Tab));
    let commands = app.update(key(KeyCode::Enter));
    let [Command::Edit { edit, request }] = commands.as_slice() else {
        panic!("{commands:?}")
    };
    let Request::Invite(invite) = request else {
        panic!("{request:?}")
    };
    assert_eq!(
        (invite.invitation.name.as_str(), invite.invitation.role),
        ("erin", Role::Manager)
    );
    let link = "http://127.0.0.1:7878/invite/N2fJ6yQ0bXcZ".to_owned();
    app.update(Msg::Edited {
        edit: edit.clone(),
        result: Ok(Reply::Link(IssuedInvitation {
            invitation: Invitation {
                id: "inv-1".into(),
                kind: InvitationKind::Invite,
                name: "erin".into(),
                role: Role::Manager,
                note: None,
                created_by: "alice".into(),
                created_at: now(),
                expires_at: "2026-11-29T12:00:00Z".parse().unwrap(),
            },
            link: link.clone(),
        })),
    });
    assert!(matches!(&app.mode, Mode::Link(shown) if shown.link == link));
    assert_eq!(app.update(key(KeyCode::Char('c'))), [Command::Copy(link)]);
    app.update(key(KeyCode::Esc));
    assert_eq!(app.mode, Mode::Browse);
}

#[test]
fn a_bad_name_is_named_before_anything_is_sent() {
    let mut app = people_of(Role::Manager, staff());
    app.update(key(KeyCode::Char('i')));
    typed(&mut app, "erin smith");
    assert!(app.update(key(KeyCode::Enter)).is_empty());
    let Mode::Invite(form) = &app.mode else {
        panic!("{:?}", app.mode)
    };
    assert!(form.error.as_deref().unwrap().starts_with("name:"));
}

#[test]
fn employees_are_told_only_managers_change_people() {
    let mut app = people_of(
        Role::Employee,
        vec![member("eve", Role::Employee, MemberStatus::Active, 1)],
    );
    assert!(app.update(key(KeyCode::Char('i'))).is_empty());
    assert_eq!(app.mode, Mode::Browse);
    let (_, text) = app.message.as_ref().unwrap();
    assert!(text.starts_with("only managers can"), "{text}");
}

#[test]
fn a_change_of_members_lists_them_again_and_reloads_the_detail() {
    let mut app = people_of(Role::Manager, staff());
    bob_in_detail(&mut app);
    let commands = app.update(Msg::Event(lm_protocol::socket::Event::Members {
        revision: 50,
        names: vec!["bob".into()],
    }));
    members_asked(&commands);
    assert!(commands.contains(&Command::Member("bob".into())));
}
