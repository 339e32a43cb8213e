//! The bars around the table: the tabs of saved views, the filter line and the status bar.

use super::Theme;
use crate::app::keys::UserAction;
use crate::app::{App, Level, Mode, Screen, VIEWS};
use crate::format::{self};
use lm_protocol::socket::Connection;
use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub(super) fn render_tabs(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    let people = app.screen == Screen::People;
    let insights = app.screen == Screen::Insights;
    let arrow = if app.sort.descending { "↓" } else { "↑" };
    let count = match app.screen {
        Screen::People if app.people.loading && app.people.window.is_none() => "…".to_owned(),
        Screen::People => format!("{} people", app.people.total),
        Screen::Insights => String::new(),
        Screen::Licenses if app.loading && app.window.is_none() => "…".to_owned(),
        Screen::Licenses => format!("{}", app.total),
    };
    let tabs = |padding: &str| {
        let mut spans = vec![Span::styled(" lm ", theme.accent())];
        let chosen = |on: bool| {
            if on {
                theme.selected().add_modifier(Modifier::BOLD)
            } else {
                Style::default()
            }
        };
        for (i, (name, _)) in VIEWS.iter().enumerate() {
            let style = chosen(app.screen == Screen::Licenses && i == app.view);
            spans.push(Span::styled(format!("{padding}{name} "), style));
        }
        spans.push(Span::styled("│", theme.dim()));
        spans.push(Span::styled(format!("{padding}People "), chosen(people)));
        spans.push(Span::styled(
            format!("{padding}Insights "),
            chosen(insights),
        ));
        Line::from(spans)
    };
    // Narrow terminals: the tabs lose their padding, then the sort its place (the header's
    // arrow still shows it); the count always fits beside the last tab.
    let width = usize::from(area.width);
    let sorted = if people || insights {
        format!("{count} ")
    } else {
        format!("{count} · {}{arrow} ", app.sort.field.as_str())
    };
    let counted = format!("{count} ");
    let fits = |line: &Line, right: &str| line.width() + right.chars().count() < width;
    let (line, right) = [
        (tabs(" "), &sorted),
        (tabs(""), &sorted),
        (tabs(""), &counted),
    ]
    .into_iter()
    .find(|(line, right)| fits(line, right))
    .unwrap_or((tabs(""), &counted));
    frame.render_widget(line, area);
    frame.render_widget(
        Paragraph::new(right.as_str()).alignment(Alignment::Right),
        area,
    );
}

pub(super) fn input_line<'a>(
    prefix: &'a str,
    input: &crate::app::text::TextInput,
    focused: bool,
    theme: Theme,
) -> Line<'a> {
    let mut spans = vec![Span::styled(prefix, theme.accent())];
    let chars: Vec<char> = input.text.chars().collect();
    let before: String = chars[..input.cursor.min(chars.len())].iter().collect();
    spans.push(Span::raw(before));
    if focused {
        let at: String = chars
            .get(input.cursor)
            .map_or(" ".into(), |c| c.to_string());
        spans.push(Span::styled(
            at,
            Style::default().add_modifier(Modifier::REVERSED),
        ));
        let after: String = chars.iter().skip(input.cursor + 1).collect();
        spans.push(Span::raw(after));
    } else {
        let after: String = chars.iter().skip(input.cursor).collect();
        spans.push(Span::raw(after));
    }
    Line::from(spans)
}

pub(super) fn render_filter(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    match app.screen {
        Screen::People => return render_people_filter(app, frame, area, theme),
        Screen::Insights => return render_insights_filter(app, frame, area, theme),
        Screen::Licenses => {}
    }
    let typing = app.mode == Mode::Filter;
    if !typing && app.filter.text.is_empty() && app.within.is_none() {
        let hint = format!(
            " {} filter · {} views · {} sort · {} detail · {} help",
            app.keymap.first_key(UserAction::Filter),
            app.keymap.first_key(UserAction::NextView),
            app.keymap.first_key(UserAction::SortNext),
            app.keymap.first_key(UserAction::Detail),
            app.keymap.first_key(UserAction::Help),
        );
        frame.render_widget(Paragraph::new(hint).style(theme.dim()), area);
        return;
    }
    let mut line = input_line("/ ", &app.filter, typing, theme);
    if let Some(e) = &app.query_error {
        // Underline the offending token and say what is wrong after the text.
        let text = app.filter.text.as_str();
        let start = e.span.start.min(text.len());
        let end = e.span.end.clamp(start, text.len());
        let cursor_after_error = typing && app.filter.cursor >= text[..start].chars().count();
        line = Line::from(vec![
            Span::styled("/ ", theme.accent()),
            Span::raw(&text[..start]),
            Span::styled(
                &text[start..end],
                theme.error().add_modifier(Modifier::UNDERLINED),
            ),
            Span::raw(&text[end..]),
            Span::raw(if cursor_after_error { " " } else { "" }),
            Span::styled(format!("  ✗ {}", e.message), theme.error()),
        ]);
    }
    if let Some((_, group)) = &app.within {
        // A bar of the Insights: not a query, said before it; esc clears both.
        line.spans
            .insert(0, Span::styled(format!("⟨{group}⟩ "), theme.accent()));
    }
    frame.render_widget(line, area);
}

/// The Insights screen's filter line (the query language of the licenses), or its keys.
fn render_insights_filter(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    let typing = app.mode == Mode::InsightsFilter;
    let filter = &app.insights.filter;
    if !typing && filter.text.is_empty() {
        let hint = format!(
            " {} filter every chart (vendor:adobe) · enter: a bar's licenses · {} help",
            app.keymap.first_key(UserAction::Filter),
            app.keymap.first_key(UserAction::Help),
        );
        frame.render_widget(Paragraph::new(hint).style(theme.dim()), area);
        return;
    }
    let mut line = input_line("/ ", filter, typing, theme);
    if let Some(e) = &app.insights.error {
        line.spans
            .push(Span::styled(format!("  ✗ {}", e.message), theme.error()));
    }
    frame.render_widget(line, area);
}

/// The People screen's filter line, or the keys it has when it is empty.
fn render_people_filter(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    let typing = app.mode == Mode::PeopleFilter;
    let filter = &app.people.filter;
    if !typing && filter.text.is_empty() {
        let key = |a| app.keymap.first_key(a);
        let hint = if app.is_manager() {
            format!(
                " {} filter · {} invite · {} role · {} disable · {} password · {} offboard · {} help",
                key(UserAction::Filter),
                key(UserAction::Invite),
                key(UserAction::ChangeRole),
                key(UserAction::Disable),
                key(UserAction::ResetPassword),
                key(UserAction::Offboard),
                key(UserAction::Help),
            )
        } else {
            format!(
                " {} filter · {} detail · {} licenses · {} help",
                key(UserAction::Filter),
                key(UserAction::Detail),
                key(UserAction::People),
                key(UserAction::Help),
            )
        };
        frame.render_widget(Paragraph::new(hint).style(theme.dim()), area);
        return;
    }
    let mut line = input_line("/ ", filter, typing, theme);
    if let Some(e) = &app.people.error {
        line.spans
            .push(Span::styled(format!("  ✗ {}", e.message), theme.error()));
    }
    frame.render_widget(line, area);
}

pub(super) fn render_status(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    let mut spans = Vec::new();
    let (mut user_span, mut age_span) = (None, None);
    match &app.status {
        None => spans.push(Span::styled(" connecting to lmd… ", theme.dim())),
        Some(status) => {
            let conn = format::connection(status, app.now);
            let style = match status.connection {
                Connection::Live => theme.fg(Color::Green),
                Connection::Syncing { .. } => theme.fg(Color::Yellow),
                _ => theme.error(),
            };
            spans.push(Span::styled(format!(" ● {conn} "), style));
            if let Some(at) = status.synced_at
                && status.connection != Connection::Live
            {
                age_span = Some(spans.len());
                spans.push(Span::styled(
                    format!("· data {} old ", format::age(at, app.now)),
                    theme.dim(),
                ));
            }
            if let Some(user) = &status.user {
                user_span = Some(spans.len());
                spans.push(Span::raw(format!(
                    "· {} ({}) ",
                    user.subject,
                    user.role.as_str()
                )));
            }
        }
    }
    if !app.marked.is_empty() {
        spans.push(Span::styled(
            format!("· {} marked ", app.marked.len()),
            theme.accent(),
        ));
    }
    if let Some((level, text)) = &app.message {
        let style = match level {
            Level::Info => theme.fg(Color::Green),
            Level::Error => theme.error(),
        };
        spans.push(Span::styled(format!("· {text} "), style));
    }
    // Last: what the user just did matters more when the line is too narrow for both.
    if let Some(alert) = &app.alert {
        let unread = match app.unread_alerts {
            0 => String::new(),
            n => format!(
                " ({n} new, {} lists them)",
                app.keymap.first_key(UserAction::Alerts)
            ),
        };
        spans.push(Span::styled(
            format!("· ⚠ {alert}{unread}"),
            theme.fg(Color::Yellow),
        ));
    }
    // Too narrow for all of it: who is logged in goes first, then the data's age, so that a
    // message (the demo's hint for a second terminal) or an alert stays whole.
    let width = usize::from(area.width);
    for droppable in [user_span, age_span] {
        let used: usize = spans.iter().map(Span::width).sum();
        if used <= width {
            break;
        }
        if let Some(at) = droppable {
            spans[at] = Span::raw("");
        }
    }
    frame.render_widget(Line::from(spans), area);
}
