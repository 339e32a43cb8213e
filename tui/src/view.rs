//! Drawing: pure functions of the [`App`] state onto a frame. Nothing here changes state.

use crate::app::form::Field;
use crate::app::keys::UserAction;
use crate::app::{App, History, Level, LoginState, Mode, PromptFor, VIEWS};
use crate::format::{self, Urgency};
use lm_protocol::socket::Connection;
use lm_protocol::{License, SortField};
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};

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
            let verb = match prompt.purpose {
                PromptFor::Assign => "Assign",
                PromptFor::Unassign => "Unassign",
            };
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
        Mode::Browse | Mode::Filter => {}
    }
}

fn render_tabs(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    let mut spans = vec![Span::styled(" lm ", theme.accent())];
    for (i, (name, _)) in VIEWS.iter().enumerate() {
        let style = if i == app.view {
            theme.selected().add_modifier(Modifier::BOLD)
        } else {
            Style::default()
        };
        spans.push(Span::styled(format!(" {name} "), style));
    }
    frame.render_widget(Line::from(spans), area);
    let arrow = if app.sort.descending { "↓" } else { "↑" };
    let count = if app.loading && app.window.is_none() {
        "…".to_owned()
    } else {
        format!("{}", app.total)
    };
    let right = format!("{count} · {}{arrow} ", app.sort.field.as_str());
    frame.render_widget(Paragraph::new(right).alignment(Alignment::Right), area);
}

struct Column {
    title: &'static str,
    sort: Option<SortField>,
    width: u16,
    /// Lower goes first when space is short.
    priority: u8,
    right: bool,
}

const COLUMNS: [Column; 9] = [
    Column {
        title: "ID",
        sort: Some(SortField::Id),
        width: 8,
        priority: 2,
        right: false,
    },
    Column {
        title: "NAME",
        sort: Some(SortField::Name),
        width: 0,
        priority: 9,
        right: false,
    },
    Column {
        title: "KIND",
        sort: Some(SortField::Kind),
        width: 12,
        priority: 3,
        right: false,
    },
    Column {
        title: "VENDOR",
        sort: Some(SortField::Vendor),
        width: 11,
        priority: 6,
        right: false,
    },
    Column {
        title: "COST",
        sort: Some(SortField::Cost),
        width: 13,
        priority: 5,
        right: true,
    },
    Column {
        title: "SEATS",
        sort: Some(SortField::SeatsUsed),
        width: 7,
        priority: 7,
        right: true,
    },
    Column {
        title: "ASSIGNED",
        sort: None,
        width: 14,
        priority: 4,
        right: false,
    },
    Column {
        title: "ADDED",
        sort: Some(SortField::Added),
        width: 10,
        priority: 1,
        right: false,
    },
    Column {
        title: "EXPIRES",
        sort: Some(SortField::Expires),
        width: 10,
        priority: 8,
        right: false,
    },
];

/// The columns that fit `width`, keeping NAME at least 16 wide.
fn visible_columns(width: u16) -> Vec<usize> {
    let mut shown: Vec<usize> = (0..COLUMNS.len()).collect();
    let need = |cols: &[usize]| -> u16 {
        cols.iter().map(|&i| COLUMNS[i].width + 1).sum::<u16>() + 2 + 16
    };
    while need(&shown) > width {
        let Some(pos) = shown
            .iter()
            .enumerate()
            .filter(|(_, i)| COLUMNS[**i].width > 0)
            .min_by_key(|(_, i)| COLUMNS[**i].priority)
            .map(|(p, _)| p)
        else {
            break;
        };
        shown.remove(pos);
    }
    shown
}

fn cell_text(column: usize, l: &License, width: u16) -> String {
    match column {
        0 => format::short_id(&l.id).to_owned(),
        1 => format!("{} · {}", l.name, l.product),
        2 => l.kind.to_string(),
        3 => l.vendor.to_string(),
        4 => l.cost.to_string(),
        5 => format::seats(l),
        6 => format::assignees(l, 2),
        7 => l.added.to_string(),
        _ => format::date(l.expires),
    }
    .chars()
    .take(if width == 0 {
        200
    } else {
        usize::from(width) * 4
    })
    .collect()
}

fn render_table(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    let columns = visible_columns(area.width);
    let header = Row::new(columns.iter().map(|&i| {
        let c = &COLUMNS[i];
        let mark = match c.sort {
            Some(f) if f == app.sort.field => {
                if app.sort.descending {
                    "↓"
                } else {
                    "↑"
                }
            }
            _ => "",
        };
        Cell::from(format!("{}{mark}", c.title))
    }))
    .style(Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
    let widths: Vec<Constraint> = columns
        .iter()
        .map(|&i| match COLUMNS[i].width {
            0 => Constraint::Min(16),
            w => Constraint::Length(w),
        })
        .collect();
    let rows_shown = usize::from(area.height.saturating_sub(1));
    let today = app.today();
    let mut rows = Vec::with_capacity(rows_shown);
    for index in app.top..(app.top + rows_shown).min(app.total) {
        let selected = index == app.selected;
        let row = match app.row(index) {
            Some(l) => {
                let marked = app.marked.contains_key(&l.id);
                let cells = columns.iter().map(|&i| {
                    let c = &COLUMNS[i];
                    let mut text = cell_text(i, l, c.width);
                    if i == 1 && marked {
                        text = format!("● {text}");
                    }
                    let text = if c.width > 0 {
                        format::truncate(&text, usize::from(c.width))
                    } else {
                        text
                    };
                    let line = if c.right {
                        Line::raw(text).alignment(Alignment::Right)
                    } else {
                        Line::raw(text)
                    };
                    let cell = Cell::from(line);
                    if i == 8 {
                        cell.style(theme.urgency(format::urgency(l.expires, today)))
                    } else {
                        cell
                    }
                });
                let row = Row::new(cells);
                if marked {
                    row.style(theme.accent())
                } else {
                    row
                }
            }
            None => Row::new(vec![
                Cell::from(""),
                Cell::from(Span::styled("…", theme.dim())),
            ]),
        };
        rows.push(if selected {
            row.style(theme.selected())
        } else {
            row
        });
    }
    let empty = app.total == 0 && !app.loading;
    let table = Table::new(rows, widths).header(header).column_spacing(1);
    frame.render_widget(table, area);
    if empty {
        let text = if app.status.as_ref().is_some_and(|s| s.licenses == 0) {
            "The cache is empty: lmd has not synced yet."
        } else {
            "No license matches. Esc clears the filter; tab changes the view."
        };
        let [_, line, _] = Layout::vertical([
            Constraint::Length(2),
            Constraint::Length(1),
            Constraint::Min(0),
        ])
        .areas(area);
        frame.render_widget(
            Paragraph::new(text)
                .style(theme.dim())
                .alignment(Alignment::Center),
            line,
        );
    }
}

fn render_detail(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Span::styled(" Detail ", theme.accent()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(l) = app.current() else {
        frame.render_widget(Paragraph::new("—"), inner);
        return;
    };
    let today = app.today();
    let label = |k: &str| Span::styled(format!("{k:<9}"), theme.dim());
    let mut left = vec![
        Line::from(vec![
            label("name"),
            Span::styled(
                l.name.to_string(),
                Style::default().add_modifier(Modifier::BOLD),
            ),
        ]),
        Line::from(vec![label("id"), Span::raw(l.id.to_string())]),
        Line::from(vec![label("product"), Span::raw(l.product.to_string())]),
        Line::from(vec![label("kind"), Span::raw(l.kind.to_string())]),
        Line::from(vec![label("vendor"), Span::raw(l.vendor.to_string())]),
        Line::from(vec![label("cost"), Span::raw(l.cost.to_string())]),
        Line::from(vec![label("added"), Span::raw(l.added.to_string())]),
        Line::from(vec![
            label("expires"),
            Span::styled(
                match l.expires {
                    Some(d) => format!(
                        "{d} ({})",
                        lm_protocol::socket::expiry_in_words((d - today).num_days())
                    ),
                    None => "never".into(),
                },
                theme.urgency(format::urgency(l.expires, today)),
            ),
        ]),
        Line::from(vec![
            label("key"),
            Span::raw(match &l.key {
                Some(k) => k.expose().to_owned(),
                None if app.is_manager() => "—".into(),
                None => "(managers only)".into(),
            }),
        ]),
    ];
    if !l.notes.as_str().is_empty() {
        left.push(Line::from(vec![
            label("notes"),
            Span::raw(l.notes.to_string()),
        ]));
    }
    let seats = Line::from(vec![
        label("seats"),
        Span::raw(format!(
            "{} used{}",
            format::seats(l),
            l.seats_free()
                .map(|f| format!(", {f} free"))
                .unwrap_or_default()
        )),
    ]);
    let mut holders: Vec<Line> = l
        .assignments
        .iter()
        .map(|a| {
            Line::raw(format!(
                "  {:<24} since {}",
                format::assignee(&a.assignee),
                a.since.format("%Y-%m-%d")
            ))
        })
        .collect();
    if holders.is_empty() {
        holders.push(Line::styled("not assigned", theme.dim()));
    }
    let mut history = Vec::new();
    if app.is_manager() {
        history.push(Line::styled("history", theme.dim()));
        match &app.audit {
            Some((id, History::Loaded(entries))) if *id == l.id => {
                for e in entries {
                    history.push(Line::raw(format!(
                        "  {} {:<8} {}",
                        e.at.format("%Y-%m-%d %H:%M"),
                        e.action.as_str(),
                        e.actor
                    )));
                }
                if entries.is_empty() {
                    history.push(Line::styled("  no changes recorded", theme.dim()));
                }
            }
            Some((id, History::Failed(e))) if *id == l.id => {
                history.push(Line::styled(format!("  {e}"), theme.error()))
            }
            _ => history.push(Line::styled("  loading…", theme.dim())),
        }
    }
    // Many seat holders (a class, a school) give way to the history: as many as fit, then
    // how many more, counting those the license does not list.
    let wide = inner.width >= 100;
    let room = usize::from(inner.height).saturating_sub(if wide { 0 } else { left.len() });
    let fit = room.saturating_sub(1 + history.len().min(room / 2)).max(2);
    let unlisted = l.unlisted_assignments() as usize;
    if holders.len() > fit || unlisted > 0 {
        let shown = if holders.len() > fit {
            fit - 1
        } else {
            holders.len()
        };
        let more = holders.len() - shown + unlisted;
        holders.truncate(shown);
        holders.push(Line::styled(format!("  … and {more} more"), theme.dim()));
    }
    let mut right = vec![seats];
    right.extend(holders);
    right.extend(history);
    if wide {
        let [a, b] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
            .areas(inner);
        frame.render_widget(Paragraph::new(left).wrap(Wrap { trim: true }), a);
        frame.render_widget(Paragraph::new(right), b);
    } else {
        left.extend(right);
        frame.render_widget(Paragraph::new(left), inner);
    }
}

fn input_line<'a>(
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

fn render_filter(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    let typing = app.mode == Mode::Filter;
    if !typing && app.filter.text.is_empty() {
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
    frame.render_widget(line, area);
}

fn render_status(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    let mut spans = Vec::new();
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
                spans.push(Span::styled(
                    format!("· data {} old ", format::age(at, app.now)),
                    theme.dim(),
                ));
            }
            if let Some(user) = &status.user {
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
    frame.render_widget(Line::from(spans), area);
}

fn render_login(app: &App, reason: &str, frame: &mut Frame, area: Rect, theme: Theme) {
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

fn render_help(app: &App, scroll: u16, frame: &mut Frame, area: Rect, theme: Theme) {
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
    lines.push(Line::styled("Filter language", theme.accent()));
    for (syntax, meaning) in lm_protocol::query::QUERY_HELP {
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
fn render_alerts(app: &App, selected: usize, frame: &mut Frame, area: Rect, theme: Theme) {
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

fn render_form(form: &crate::app::form::LicenseForm, frame: &mut Frame, area: Rect, theme: Theme) {
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

fn render_dialog(frame: &mut Frame, area: Rect, title: &str, lines: Vec<Line>, theme: Theme) {
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

#[cfg(test)]
mod tests;
