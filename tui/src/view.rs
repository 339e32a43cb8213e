//! Drawing: pure functions of the [`App`] state onto a frame. Nothing here changes state.
//!
//! One file per area: `table`, `detail`, `bars` (tabs, filter line, status bar),
//! `dialogs` (login, help, alerts, form, confirmations), `people` (the People screen and
//! its dialogs) and `insights` (the charts); here the theme and the layout.

mod bars;
mod detail;
mod dialogs;
mod insights;
mod people;
mod table;

use bars::{input_line, render_filter, render_status, render_tabs};
use detail::render_detail;
use dialogs::{render_alerts, render_dialog, render_form, render_help, render_login};
use insights::render_insights;
use people::{render_invite, render_link, render_people};
use table::render_table;

use crate::app::{App, Mode, Screen};
use crate::format::{self, Urgency};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;

/// Colours, or none at all (`NO_COLOR`): then emphasis is bold, reverse and underline only.
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    pub fn from_env() -> Theme {
        Theme {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    fn fg(self, color: Color) -> Style {
        if self.color {
            Style::default().fg(color)
        } else {
            Style::default()
        }
    }

    fn urgency(self, u: Urgency) -> Style {
        match u {
            Urgency::Expired => self.fg(Color::Red).add_modifier(Modifier::BOLD),
            Urgency::Within7Days => self.fg(Color::LightRed).add_modifier(Modifier::BOLD),
            Urgency::Within30Days => self.fg(Color::Yellow),
            Urgency::Later | Urgency::Never => Style::default(),
        }
    }

    fn selected(self) -> Style {
        if self.color {
            Style::default().bg(Color::Blue).fg(Color::White)
        } else {
            Style::default().add_modifier(Modifier::REVERSED)
        }
    }

    fn error(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    fn dim(self) -> Style {
        if self.color {
            Style::default().fg(Color::DarkGray)
        } else {
            Style::default()
        }
    }

    fn accent(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
}

pub fn render(app: &App, frame: &mut Frame, theme: Theme) {
    let area = frame.area();
    let [tabs, body, filter, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    render_tabs(app, frame, tabs, theme);
    if let Some(reason) = app.login_required() {
        render_login(app, reason, frame, body, theme);
    } else if app.screen == Screen::People {
        render_people(app, frame, body, theme);
    } else if app.screen == Screen::Insights {
        render_insights(app, frame, body, theme);
    } else if app.detail {
        let table_height = app.table_rows() as u16 + 1;
        let [table, detail] =
            Layout::vertical([Constraint::Length(table_height), Constraint::Min(1)]).areas(body);
        render_table(app, frame, table, theme);
        render_detail(app, frame, detail, theme);
    } else {
        render_table(app, frame, body, theme);
    }
    render_filter(app, frame, filter, theme);
    render_status(app, frame, status, theme);
    match &app.mode {
        Mode::Help { scroll } => render_help(app, *scroll, frame, body, theme),
        Mode::Alerts { selected } => render_alerts(app, *selected, frame, body, theme),
        Mode::Form(form) => render_form(form, frame, body, theme),
        Mode::Confirm(confirm) => {
            let mut lines: Vec<Line> = confirm.lines.iter().map(|l| Line::raw(l.clone())).collect();
            lines.push(Line::raw(""));
            lines.push(Line::styled("y: yes    n / esc: no", theme.accent()));
            render_dialog(frame, body, &confirm.title, lines, theme);
        }
        Mode::Prompt(prompt) => {
            let verb = prompt.purpose.verb();
            let what = match prompt.targets.as_slice() {
                [one] => format!("“{}”", one.name),
                many => format!("{} marked licenses", many.len()),
            };
            let mut lines = vec![
                Line::raw(format!("{verb} on {what}:")),
                input_line("› ", &prompt.input, true, theme),
            ];
            if let [one] = prompt.targets.as_slice() {
                let held: Vec<String> = one
                    .assignments
                    .iter()
                    .map(|a| format::assignee(&a.assignee))
                    .collect();
                lines.push(Line::styled(
                    format!(
                        "seats {}; now: {}",
                        format::seats(one),
                        if held.is_empty() {
                            "nobody".into()
                        } else {
                            held.join(", ")
                        }
                    ),
                    theme.dim(),
                ));
            }
            if let Some(e) = &prompt.error {
                lines.push(Line::styled(e.clone(), theme.error()));
            }
            lines.push(Line::styled(
                "employee:NAME or device:NAME · enter: go · esc: cancel",
                theme.dim(),
            ));
            render_dialog(frame, body, verb, lines, theme);
        }
        Mode::Conflict { form, theirs } => {
            let mut lines = vec![Line::raw(
                "Someone changed this license after you opened it.",
            )];
            match theirs {
                None => lines.push(Line::styled("loading the current version…", theme.dim())),
                Some(theirs) => {
                    lines.push(Line::raw(format!(
                        "version {} → {}; what changed:",
                        form.editing.as_ref().map_or(0, |l| l.version),
                        theirs.version
                    )));
                    for (field, was, now) in form.differences(theirs) {
                        lines.push(Line::raw(format!("  {}: {was} → {now}", field.label())));
                    }
                    let mine: Vec<&str> = form.changed_fields().iter().map(|f| f.label()).collect();
                    lines.push(Line::raw(format!("your changes: {}", mine.join(", "))));
                    lines.push(Line::raw(""));
                    lines.push(Line::styled(
                        "r: reload with your changes on top · esc: discard your edit",
                        theme.accent(),
                    ));
                }
            }
            render_dialog(frame, body, "Edit conflict", lines, theme);
        }
        Mode::Invite(form) => render_invite(form, frame, body, theme),
        Mode::Link(shown) => render_link(shown, frame, body, theme),
        Mode::Browse | Mode::Filter | Mode::PeopleFilter | Mode::InsightsFilter => {}
    }
}

#[cfg(test)]
pub(crate) mod tests;
