//! What opens over the table: login, help, the alerts panel, the form and confirmations.

use super::Theme;
use super::bars::input_line;
use crate::app::form::Field;
use crate::app::keys::UserAction;
use crate::app::{App, LoginState};
use crate::format::{self};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};

pub(super) fn render_login(app: &App, reason: &str, frame: &mut Frame, area: Rect, theme: Theme) {
    let server = app.status.as_ref().map(|s| s.server.as_str()).unwrap_or("");
    let key = app.keymap.keys_of(UserAction::Login);
    let mut lines = vec![
        Line::styled("Login required", theme.accent()),
        Line::raw(""),
        Line::raw(reason.to_owned()),
        Line::raw(""),
    ];
    match &app.login {
        None => {
            lines.push(Line::from(vec![
                Span::raw("Press "),
                Span::styled(key, theme.accent()),
                Span::raw(format!(" to log in to {server} (or run `lm login`).")),
            ]));
            lines.push(Line::raw(""));
            lines.push(Line::styled(
                "Scripts and CI: put a token in ~/.config/lm/token (mode 600) and restart lmd.",
                theme.dim(),
            ));
        }
        Some(LoginState::Starting) => lines.push(Line::raw("Starting the login…")),
        Some(LoginState::Waiting(prompt)) => {
            lines.push(Line::raw("Open this address in any browser:"));
            lines.push(Line::styled(
                format!("  {}", prompt.verification_uri),
                theme.accent(),
            ));
            lines.push(Line::raw("and enter the code"));
            lines.push(Line::styled(
                format!("  {}", prompt.user_code),
                theme.accent().add_modifier(ratatui::style::Modifier::BOLD),
            ));
            lines.push(Line::raw(""));
            lines.push(Line::styled(
                format!(
                    "Waiting for approval (the code expires in {} minutes)…",
                    prompt.expires_in.div_ceil(60)
                ),
                theme.dim(),
            ));
        }
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
}

pub(super) fn render_help(app: &App, scroll: u16, frame: &mut Frame, area: Rect, theme: Theme) {
    let manager = app.is_manager();
    let mut lines = Vec::new();
    for action in UserAction::ALL {
        if action.manager_only() && !manager {
            continue;
        }
        lines.push(Line::from(vec![
            Span::styled(
                format!("{:>16}  ", app.keymap.keys_of(action)),
                theme.accent(),
            ),
            Span::raw(action.describe()),
        ]));
    }
    if !manager {
        lines.push(Line::styled(
            "Changes (add, edit, remove, assign) are for managers.",
            theme.dim(),
        ));
    }
    lines.push(Line::raw(""));
    let (filter, terms) = app.filter_help();
    lines.push(Line::styled(filter, theme.accent()));
    for (syntax, meaning) in terms {
        lines.push(Line::from(vec![
            Span::raw(format!("{syntax:>20}  ")),
            Span::styled(*meaning, theme.dim()),
        ]));
    }
    debug_assert_eq!(lines.len(), app.help_line_count());
    let visible = area.height.saturating_sub(2);
    let title = if lines.len() > usize::from(visible) {
        "Help · ↑↓ pgup pgdn scroll · any other key closes"
    } else {
        "Help · any key closes"
    };
    let lines: Vec<Line> = lines.into_iter().skip(usize::from(scroll)).collect();
    render_dialog(frame, area, title, lines, theme);
}

/// The alerts panel: every alert in effect, soonest first, coloured like the table's
/// expiry column.
pub(super) fn render_alerts(
    app: &App,
    selected: usize,
    frame: &mut Frame,
    area: Rect,
    theme: Theme,
) {
    let keys = "↑↓ move · enter shows the license · any other key closes";
    let title = match &app.alerts {
        Some(Ok(list)) if list.total > list.alerts.len() => {
            format!(
                "Expiry alerts, the first {} of {} · {keys}",
                list.alerts.len(),
                list.total
            )
        }
        _ => format!("Expiry alerts · {keys}"),
    };
    let alerts = match &app.alerts {
        Some(Ok(list)) if !list.alerts.is_empty() => &list.alerts,
        other => {
            let line = match other {
                None => Line::styled("Asking lmd…", theme.dim()),
                Some(Err(e)) => {
                    Line::styled(format!("lmd could not list the alerts: {e}"), theme.error())
                }
                Some(Ok(_)) => Line::raw("No license is within an alert threshold of its expiry."),
            };
            render_dialog(frame, area, &title, vec![line], theme);
            return;
        }
    };
    let width = area.width.saturating_sub(4).min(110);
    let height = (alerts.len() as u16 + 3).min(area.height);
    let rect = Rect::new(
        area.x + area.width.saturating_sub(width) / 2,
        area.y + area.height.saturating_sub(height) / 2,
        width,
        height,
    );
    // Borders and the header take three rows; keep the cursor on screen.
    let visible = usize::from(height.saturating_sub(3)).max(1);
    let top = selected.saturating_sub(visible - 1);
    let today = app.today();
    let rows = alerts
        .iter()
        .enumerate()
        .skip(top)
        .take(visible)
        .map(|(i, a)| {
            let style = if i == selected {
                theme.selected()
            } else {
                theme.urgency(format::urgency(Some(a.expires), today))
            };
            Row::new(vec![
                Cell::from(a.when()),
                Cell::from(a.expires.to_string()),
                Cell::from(a.name.clone()),
                Cell::from(a.vendor.clone()),
            ])
            .style(style)
        });
    let table = Table::new(
        rows,
        [
            Constraint::Length(20),
            Constraint::Length(10),
            Constraint::Fill(2),
            Constraint::Fill(1),
        ],
    )
    .header(Row::new(["when", "expires", "license", "vendor"]).style(theme.accent()))
    .block(
        Block::default()
            .borders(Borders::ALL)
            .title(Span::styled(format!(" {title} "), theme.accent())),
    );
    frame.render_widget(Clear, rect);
    frame.render_widget(table, rect);
}

pub(super) fn render_form(
    form: &crate::app::form::LicenseForm,
    frame: &mut Frame,
    area: Rect,
    theme: Theme,
) {
    let title = match &form.editing {
        None => "Add a license".to_owned(),
        Some(l) => format!("Edit “{}” (version {})", l.name, l.version),
    };
    let mut lines = Vec::new();
    for (i, field) in Field::ALL.iter().enumerate() {
        let focused = i == form.focus;
        let marker = if focused { "›" } else { " " };
        let mut line = input_line("", &form.inputs[i], focused, theme);
        let mut spans = vec![Span::styled(
            format!("{marker}{:<12}", field.label()),
            if focused {
                theme.accent()
            } else {
                Style::default()
            },
        )];
        spans.append(&mut line.spans);
        if let Some(e) = form.shown_error(*field) {
            spans.push(Span::styled(format!("  ✗ {e}"), theme.error()));
        } else if focused && !field.hint().is_empty() {
            spans.push(Span::styled(format!("  {}", field.hint()), theme.dim()));
        }
        lines.push(Line::from(spans));
    }
    lines.push(Line::raw(""));
    if let Some((None, e)) = &form.server_error {
        lines.push(Line::styled(e.clone(), theme.error()));
    }
    lines.push(Line::styled(
        if form.submitting {
            "saving…"
        } else {
            "tab/↑↓: field · enter on the last field or ctrl-s: save · esc: cancel"
        },
        theme.dim(),
    ));
    render_dialog(frame, area, &title, lines, theme);
}

pub(super) fn render_dialog(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    lines: Vec<Line>,
    theme: Theme,
) {
    let width = area.width.saturating_sub(4).min(100);
    let height = (lines.len() as u16 + 2).min(area.height);
    let x = area.x + (area.width.saturating_sub(width)) / 2;
    let y = area.y + (area.height.saturating_sub(height)) / 2;
    let rect = Rect::new(x, y, width, height);
    frame.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(format!(" {title} "), theme.accent()));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        rect,
    );
}
