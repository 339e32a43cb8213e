//! The detail pane of the selected license: its fields, holders and history.

use super::Theme;
use crate::app::{App, History};
use crate::format::{self};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

pub(super) fn render_detail(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
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
