//! The People screen: the members' table, a member's detail with what they hold, the
//! invitation dialog and the one-time link.

use super::Theme;
use super::bars::input_line;
use super::dialogs::render_dialog;
use crate::app::{App, InviteForm, LinkShown};
use crate::format;
use chrono::{DateTime, Utc};
use lm_protocol::{Member, MemberStatus, Role};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};

/// The body of the People screen: the table, and the detail pane when it is open.
pub(super) fn render_people(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    if app.people.detail {
        let height = app.people_rows() as u16 + 1;
        let [table, detail] =
            Layout::vertical([Constraint::Length(height), Constraint::Min(1)]).areas(area);
        render_members(app, frame, table, theme);
        render_member(app, frame, detail, theme);
    } else {
        render_members(app, frame, area, theme);
    }
}

/// "3 days ago", "never".
fn since(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    at.map_or_else(
        || "never".into(),
        |at| format!("{} ago", format::age(at, now)),
    )
}

fn status_style(status: MemberStatus, theme: Theme) -> Style {
    match status {
        MemberStatus::Active => Style::default(),
        MemberStatus::Invited => theme.fg(Color::Cyan),
        MemberStatus::Disabled => theme.dim().add_modifier(Modifier::CROSSED_OUT),
    }
}

fn render_members(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    let people = &app.people;
    let wide = area.width >= 100;
    let mut header = vec!["NAME", "ROLE", "STATUS", "LAST SIGN-IN", "2FA", "LICENSES"];
    let mut widths = vec![
        Constraint::Min(12),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Length(14),
        Constraint::Length(4),
        Constraint::Length(9),
    ];
    if wide {
        header.push("SEATS");
        header.push("JOINED");
        widths.push(Constraint::Length(6));
        widths.push(Constraint::Length(11));
    }
    let rows_shown = usize::from(area.height.saturating_sub(1));
    let rows: Vec<Row> = (people.top..people.top + rows_shown)
        .filter(|&i| i < people.total)
        .map(|i| match people.row(i) {
            Some(m) => member_row(m, app.now, wide, theme).style(if i == people.selected {
                theme.selected()
            } else {
                Style::default()
            }),
            None => Row::new(vec![Cell::from("…")]).style(theme.dim()),
        })
        .collect();
    if people.total == 0 && !people.loading {
        let text = if people.filter.text.is_empty() {
            "no members in the cache yet".to_owned()
        } else {
            "no member matches the filter".to_owned()
        };
        frame.render_widget(
            Paragraph::new(vec![
                Line::styled(
                    header.join("  "),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
                Line::styled(text, theme.dim()),
            ]),
            area,
        );
        return;
    }
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(Style::default().add_modifier(Modifier::BOLD)))
        .column_spacing(1);
    frame.render_widget(table, area);
}

fn member_row(m: &Member, now: DateTime<Utc>, wide: bool, theme: Theme) -> Row<'static> {
    let status = match (m.status, m.invited_until) {
        (MemberStatus::Invited, Some(_)) => "invited".to_owned(),
        (status, _) => status.to_string(),
    };
    let mut cells = vec![
        Cell::from(m.name.clone()),
        Cell::from(m.role.as_str()),
        Cell::from(Span::styled(status, status_style(m.status, theme))),
        Cell::from(match m.status {
            MemberStatus::Invited => "—".to_owned(),
            _ => since(m.last_sign_in, now),
        }),
        Cell::from(if m.second_factor { "on" } else { "—" }),
        Cell::from(format!("{:>8}", m.licenses)),
    ];
    if wide {
        cells.push(Cell::from(format!("{:>5}", m.seats)));
        cells.push(Cell::from(m.created_at.date_naive().to_string()));
    }
    Row::new(cells)
}

fn render_member(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    let block = Block::default().borders(Borders::TOP);
    let lines = match (&app.people.member, app.people.current()) {
        (_, None) => vec![],
        (Some(Ok(detail)), Some(current)) if detail.member.name == current.name => {
            let m = &detail.member;
            let mut lines = vec![
                Line::from(vec![
                    Span::styled(m.name.clone(), theme.accent()),
                    Span::raw(format!("  {} · ", m.role.as_str())),
                    Span::styled(m.status.to_string(), status_style(m.status, theme)),
                    Span::raw(format!(
                        " · second factor {}",
                        if m.second_factor { "on" } else { "off" }
                    )),
                ]),
                Line::raw(match (m.status, m.invited_until) {
                    (MemberStatus::Invited, Some(until)) => format!(
                        "invited {} · the invitation is open until {}",
                        m.created_at.date_naive(),
                        until.format("%Y-%m-%d %H:%M UTC")
                    ),
                    _ => format!(
                        "joined {} · last sign-in {}",
                        m.created_at.date_naive(),
                        since(m.last_sign_in, app.now)
                    ),
                }),
                Line::raw(format!(
                    "holds {} license(s) and {} seat(s){}",
                    m.licenses,
                    m.seats,
                    if detail.holdings.is_empty() { "" } else { ":" }
                )),
            ];
            let room = usize::from(area.height.saturating_sub(1)).saturating_sub(lines.len());
            let shown = if detail.holdings.len() > room {
                room.saturating_sub(1)
            } else {
                room
            };
            for h in detail.holdings.iter().take(shown) {
                lines.push(Line::raw(format!(
                    "  {} {}  since {}",
                    if h.seat { "seat of" } else { "license" },
                    h.license_name,
                    h.since.date_naive()
                )));
            }
            if detail.holdings.len() > shown {
                lines.push(Line::styled(
                    format!("  … and {} more", detail.holdings.len() - shown),
                    theme.dim(),
                ));
            }
            lines
        }
        (Some(Err(e)), _) => vec![Line::styled(e.clone(), theme.error())],
        _ => vec![Line::styled("loading…", theme.dim())],
    };
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

pub(super) fn render_invite(form: &InviteForm, frame: &mut Frame, area: Rect, theme: Theme) {
    let role = |r: Role| {
        let text = format!(" {} ", r.as_str());
        if form.role == r {
            Span::styled(text, theme.selected())
        } else {
            Span::raw(text)
        }
    };
    let mut lines = vec![
        Line::raw("Whom to invite: the name they will sign in with."),
        input_line("name › ", &form.name, !form.submitting, theme),
        Line::from(vec![
            Span::raw("role   "),
            role(Role::Employee),
            Span::raw(" "),
            role(Role::Manager),
            Span::styled("  (tab switches)", theme.dim()),
        ]),
    ];
    if let Some(e) = &form.error {
        lines.push(Line::styled(e.clone(), theme.error()));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        if form.submitting {
            "inviting…"
        } else {
            "enter: make the link · esc: cancel"
        },
        theme.accent(),
    ));
    render_dialog(frame, area, "Invite", lines, theme);
}

pub(super) fn render_link(shown: &LinkShown, frame: &mut Frame, area: Rect, theme: Theme) {
    let lines = vec![
        Line::raw("Hand this link over; it works once, and is shown only now:"),
        Line::raw(""),
        Line::styled(
            shown.link.clone(),
            theme.accent().add_modifier(Modifier::UNDERLINED),
        ),
        Line::raw(""),
        Line::raw(format!(
            "open until {}",
            shown.expires.format("%Y-%m-%d %H:%M UTC")
        )),
        Line::styled(
            match shown.link.split_once("/invite/") {
                Some((server, _)) => {
                    format!("Then, on their computer: lmd --server {server}, and lm login.")
                }
                None => "Then, on their computer: lmd and lm login.".into(),
            },
            theme.dim(),
        ),
        Line::styled(
            if shown.copied {
                "copied to the clipboard · esc: close"
            } else {
                "c: copy to the clipboard · esc: close"
            },
            theme.accent(),
        ),
    ];
    render_dialog(frame, area, &shown.title, lines, theme);
}

#[cfg(test)]
mod tests;
