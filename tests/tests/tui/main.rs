//! The real `lm` TUI in tmux terminals, against a real `lmd` and `lm-server`: what a
//! newcomer does in the demo — filter, assign, edit — and a second terminal seeing it.

use lm_tests::{Backend, Daemon, Server, Tmux, binary};
use serde_json::json;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

fn license(name: &str, vendor: &str, expires: &str) -> serde_json::Value {
    json!({
        "product": "suite", "name": name, "kind": "subscription", "vendor": vendor,
        "cost": {"amount": 59_900, "currency": "EUR"}, "seats": 5, "expires": expires,
    })
}

/// `lm` on `daemon`'s socket in a fresh 100×24 terminal.
fn terminal(daemon: &Daemon) -> Tmux {
    let state = daemon.dir().join("lm-state");
    Tmux::start(
        &binary("lm"),
        &["--socket", &daemon.socket.to_string_lossy()],
        &[
            ("XDG_STATE_HOME", &state.to_string_lossy()),
            ("XDG_CONFIG_HOME", &state.to_string_lossy()),
            ("TERM", "xterm-256color"),
        ],
        100,
        24,
    )
}

fn shown(tmux: &Tmux, within: Duration, what: &str, ready: impl Fn(&str) -> bool) -> String {
    tmux.wait_for(within, ready)
        .unwrap_or_else(|screen| panic!("{what}; the screen was:\n{screen}"))
}

#[tokio::test]
async fn filter_assign_and_edit_in_the_tui_and_a_second_terminal_sees_it() {
    let server = Server::start(Backend::Sqlite).await;
    let alice = server.manager("alice");
    let soon = (chrono::Utc::now().date_naive() + chrono::Days::new(10)).to_string();
    for (name, vendor) in [
        ("Creative Cloud, design", "Adobe"),
        ("Acrobat Pro, finance", "Adobe"),
        ("Office 365 E3", "Microsoft"),
    ] {
        alice
            .post("/v1/licenses", &license(name, vendor, &soon))
            .await
            .expect(201);
    }
    let daemon = Daemon::start(&server.url, alice.token().unwrap()).await;
    daemon.connect().await.wait_live().await;

    let first = terminal(&daemon);
    let second = terminal(&daemon);
    for tmux in [&first, &second] {
        shown(tmux, 10 * SECOND, "the TUI lists the inventory", |s| {
            s.contains("Office 365 E3") && s.contains("● live")
        });
    }

    // Filter as you type.
    first.keys(&["/"]);
    first.type_text("vendor:adobe");
    let screen = shown(&first, 2 * SECOND, "the filter applies while typing", |s| {
        s.contains("Acrobat Pro") && !s.contains("Office 365")
    });
    assert!(screen.contains("/ vendor:adobe"), "{screen}");
    first.keys(&["Enter"]);

    // Assign the first row (sorted by name: Acrobat Pro) to bob.
    first.keys(&["a"]);
    shown(&first, SECOND, "the assign prompt opens", |s| {
        s.contains("Assign on")
    });
    first.type_text("bob");
    first.keys(&["Enter"]);
    shown(&first, 2 * SECOND, "the assignment shows", |s| {
        s.lines()
            .any(|l| l.contains("Acrobat Pro") && l.contains("bob"))
    });
    shown(
        &second,
        SECOND,
        "the second terminal sees the assignment within a second",
        |s| {
            s.lines()
                .any(|l| l.contains("Acrobat Pro") && l.contains("bob"))
        },
    );

    // Edit the name through the form.
    first.keys(&["e"]);
    shown(&first, SECOND, "the edit form opens", |s| {
        s.contains("Edit “Acrobat Pro")
    });
    first.keys(&["Tab", "C-u"]);
    first.type_text("Acrobat Pro, finance team");
    first.keys(&["C-s"]);
    shown(&first, 2 * SECOND, "the edit is saved", |s| {
        s.contains("saved “Acrobat Pro, finance team”")
    });
    shown(
        &second,
        SECOND,
        "the second terminal sees the new name",
        |s| s.contains("Acrobat Pro, finance team"),
    );

    // Quitting restores the terminal: the shell's screen, not the TUI's, remains.
    first.keys(&["q"]);
    shown(&first, 2 * SECOND, "lm exits on q", |s| {
        !s.contains("● live")
    });
}

/// The People screen end to end: a manager invites a colleague from the TUI and copies the
/// link, the colleague accepts it, and a second terminal sees them appear within a second;
/// then the manager offboards a leaver, confirming a preview that names them, and the
/// license they held shows unassigned.
#[tokio::test]
async fn invite_and_offboard_from_the_people_screen_and_a_second_terminal_sees_it() {
    let server = Server::start(Backend::Sqlite).await;
    let alice = server.manager("alice");
    server.employee("bob");
    let created = alice
        .post(
            "/v1/licenses",
            &license("Figma Professional", "Figma", "2027-03-01"),
        )
        .await
        .expect(201);
    let id = created.body["id"].as_str().unwrap();
    alice
        .post(
            &format!("/v1/licenses/{id}/assignments"),
            &json!({"employee": "bob"}),
        )
        .await
        .expect(201);
    let daemon = Daemon::start(&server.url, alice.token().unwrap()).await;
    daemon.connect().await.wait_live().await;
    let first = terminal(&daemon);
    let second = terminal(&daemon);
    for tmux in [&first, &second] {
        shown(tmux, 10 * SECOND, "the TUI lists the inventory", |s| {
            s.contains("Figma Professional") && s.contains("● live")
        });
        tmux.keys(&["p"]);
        shown(tmux, 2 * SECOND, "p opens the people", |s| {
            s.contains("2 people")
                && s.lines()
                    .any(|l| l.contains("bob") && l.contains("employee"))
        });
    }

    first.keys(&["i"]);
    shown(&first, SECOND, "the invitation dialog opens", |s| {
        s.contains("Whom to invite")
    });
    first.type_text("carol");
    first.keys(&["Enter"]);
    let screen = shown(&first, 3 * SECOND, "the link is shown", |s| {
        s.contains("/invite/")
    });
    let link = screen
        .split_whitespace()
        .find(|w| w.contains("/invite/"))
        // The dialog's border may touch it; a code may end in `-` or `_`.
        .map(|w| w.trim_matches('│'))
        .expect("a link on the screen")
        .to_owned();
    first.keys(&["c"]);
    shown(&first, SECOND, "c copies it", |s| s.contains("copied"));
    first.keys(&["Escape"]);
    shown(
        &second,
        SECOND,
        "the second terminal lists the invited colleague within a second",
        |s| {
            s.lines()
                .any(|l| l.contains("carol") && l.contains("invited"))
        },
    );

    let (status, page) = lm_tests::oauth_forms::accept_link(
        &server,
        &lm_tests::oauth_forms::link_path(&link),
        "correct horse battery",
        "correct horse battery",
    )
    .await;
    assert_eq!(status, 200, "{page}");
    shown(
        &second,
        SECOND,
        "the second terminal sees the colleague join within a second",
        |s| {
            s.lines()
                .any(|l| l.contains("carol") && l.contains("active"))
        },
    );

    // Offboard bob: the second row, by name.
    first.keys(&["Down", "O"]);
    let preview = shown(&first, 3 * SECOND, "offboarding asks first", |s| {
        s.contains("Offboard bob?")
    });
    assert!(preview.contains("Figma Professional"), "{preview}");
    first.keys(&["y"]);
    shown(&first, 3 * SECOND, "bob is offboarded", |s| {
        s.contains("offboarded bob: 1 released")
    });
    second.keys(&["p"]);
    shown(
        &second,
        2 * SECOND,
        "the second terminal shows the license unassigned",
        |s| {
            s.lines()
                .any(|l| l.contains("Figma Professional") && !l.contains("bob"))
        },
    );
}

/// Insights end to end: `I` opens the renewal forecast, → chooses next month, enter lists
/// exactly the licenses that renew then.
#[tokio::test]
async fn insights_show_what_renews_next_month_and_open_its_licenses() {
    use chrono::Datelike;
    let server = Server::start(Backend::Sqlite).await;
    let alice = server.manager("alice");
    let today = chrono::Utc::now().date_naive();
    let next = today
        .with_day(1)
        .unwrap()
        .checked_add_months(chrono::Months::new(1))
        .unwrap();
    let far = next.checked_add_months(chrono::Months::new(3)).unwrap();
    for (name, vendor, expires) in [
        ("Creative Cloud, design", "Adobe", next),
        ("Acrobat Pro, finance", "Adobe", next + chrono::Days::new(9)),
        ("Office 365 E3", "Microsoft", far),
    ] {
        alice
            .post("/v1/licenses", &license(name, vendor, &expires.to_string()))
            .await
            .expect(201);
    }
    let daemon = Daemon::start(&server.url, alice.token().unwrap()).await;
    daemon.connect().await.wait_live().await;
    let tmux = terminal(&daemon);
    shown(&tmux, 10 * SECOND, "the TUI lists the inventory", |s| {
        s.contains("Office 365 E3") && s.contains("● live")
    });
    tmux.keys(&["I"]);
    shown(&tmux, 2 * SECOND, "I opens the renewal forecast", |s| {
        s.contains("1 renewals") && s.contains("expired, not renewed")
    });
    // Expired, this month, then next month.
    tmux.keys(&["Right", "Right"]);
    let month = next.format("%B %Y").to_string();
    shown(&tmux, SECOND, "next month is chosen", |s| {
        s.contains(&format!("{month}: 2 licenses"))
    });
    tmux.keys(&["Enter"]);
    let screen = shown(
        &tmux,
        2 * SECOND,
        "enter lists that month's licenses",
        |s| {
            s.contains("Creative Cloud, design")
                && s.contains("Acrobat Pro")
                && !s.contains("Office 365")
        },
    );
    assert!(screen.contains(&format!("expires>={next}")), "{screen}");
}
