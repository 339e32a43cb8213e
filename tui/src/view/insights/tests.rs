//! The Insights screen over the demo's inventory, at 80×24 and at 160×48.

use crate::app::insights::tests::{answered, insights_over_the_demo};
use crate::app::tests::key;
use crate::app::{App, Msg};
use crate::view::tests::screen;
use ratatui::crossterm::event::KeyCode;

fn sized(mut app: App, width: u16, height: u16) -> App {
    app.update(Msg::Resize(width, height));
    app
}

/// The app on report `n` (1-5), answered over the demo's inventory.
fn on_report(n: char, width: u16, height: u16) -> App {
    let (app, licenses) = insights_over_the_demo();
    let mut app = sized(app, width, height);
    let commands = app.update(key(KeyCode::Char(n)));
    answered(&mut app, commands, &licenses);
    app
}

#[test]
fn renewals_at_80_by_24() {
    insta::assert_snapshot!(screen(&on_report('1', 80, 24), 80, 24));
}

#[test]
fn renewals_at_160_by_48() {
    let mut app = on_report('1', 160, 48);
    app.update(key(KeyCode::Right));
    insta::assert_snapshot!(screen(&app, 160, 48));
}

#[test]
fn spend_at_80_by_24() {
    insta::assert_snapshot!(screen(&on_report('2', 80, 24), 80, 24));
}

#[test]
fn spend_by_kind_at_160_by_48() {
    let mut app = on_report('2', 160, 48);
    app.update(key(KeyCode::Char('v')));
    insta::assert_snapshot!(screen(&app, 160, 48));
}

#[test]
fn seats_at_80_by_24() {
    insta::assert_snapshot!(screen(&on_report('3', 80, 24), 80, 24));
}

#[test]
fn reclaim_at_80_by_24() {
    insta::assert_snapshot!(screen(&on_report('4', 80, 24), 80, 24));
}

#[test]
fn trend_at_80_by_24() {
    insta::assert_snapshot!(screen(&on_report('5', 80, 24), 80, 24));
}
