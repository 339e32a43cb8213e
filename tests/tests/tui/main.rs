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
