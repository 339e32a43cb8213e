//! The Insights screen: a line of reports, the chart of the one chosen, and what the bar
//! chosen stands for. Charts take the whole width; amounts are in the currency most licenses
//! are in, the others said beside them (no exchange rate is made up).

use super::Theme;
use crate::app::{App, Breakdown};
use crate::cli::amounts;
use lm_protocol::insights::{Report, ReportKind};
use lm_protocol::{Currency, Money};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Gauge, Paragraph};

/// The amount in `currency` of `money`, in major units (whole ones), for a bar's length.
fn major(money: &[Money], currency: Option<Currency>) -> u64 {
    let Some(currency) = currency else {
        return 0;
    };
    money
        .iter()
        .filter(|m| m.currency == currency)
        .map(|m| {
            let scale = 10_i64.pow(currency.minor_digits());
            u64::try_from(m.amount / scale).unwrap_or(0)
        })
        .sum()
}

/// The currency with the largest sum among `money` (ties: the first in code order).
fn largest_currency<'a>(money: impl IntoIterator<Item = &'a Money>) -> Option<Currency> {
    let mut sums: std::collections::BTreeMap<Currency, i64> = Default::default();
    for m in money {
        *sums.entry(m.currency).or_default() += m.amount;
    }
    sums.into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(c, _)| c)
}

/// `12.3k`, `4.5M`: a short amount for a bar.
fn short(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

pub(super) fn render_insights(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    let [tabs, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    let insights = &app.insights;
    let mut spans = Vec::new();
    for (i, kind) in ReportKind::ALL.iter().enumerate() {
        let style = if *kind == insights.report {
            theme.selected().add_modifier(Modifier::BOLD)
        } else {
            Style::default()
        };
        spans.push(Span::styled(
            format!(" {} {} ", i + 1, kind.as_str()),
            style,
        ));
    }
    if insights.loading {
        spans.push(Span::styled("  …", theme.dim()));
    }
    frame.render_widget(Line::from(spans), tabs);
    match &insights.shown {
        None => frame.render_widget(Paragraph::new("asking lmd…").style(theme.dim()), body),
        Some(Err(e)) => frame.render_widget(Paragraph::new(e.as_str()).style(theme.error()), body),
        Some(Ok(report)) => match report {
            Report::Renewals(r) => renewals(app, r, frame, body, theme),
            Report::Spend(s) => spend(app, s, frame, body, theme),
            Report::Seats(s) => seats(app, s, frame, body, theme),
            Report::Reclaim(r) => reclaim(app, r, frame, body, theme),
            Report::Trend(t) => trend(t, frame, body, theme),
        },
    }
}

/// Vertical bars, (label, value, style) each, across the whole width: each as wide as fits,
/// a cell between them, its value written on it.
fn columns(bars: Vec<(String, u64, Style)>, frame: &mut Frame, area: Rect) {
    let n = bars.len().max(1) as u16;
    let width = (area.width.saturating_sub(n) / n).clamp(3, 14);
    let bars: Vec<Bar> = bars
        .into_iter()
        .map(|(label, value, style)| {
            Bar::default()
                .value(value)
                .text_value(short(value))
                .label(Line::from(label))
                .style(style)
        })
        .collect();
    frame.render_widget(
        BarChart::default()
            .data(BarGroup::default().bars(&bars))
            .bar_width(width)
            .bar_gap(1),
        area,
    );
}

/// The keys of the charts whose rows are chosen with ↑↓.
const ROWS_HINT: &str = "↑↓ choose · enter lists them · 1-5 report · / filter";

fn renewals(
    app: &App,
    r: &lm_protocol::insights::Renewals,
    frame: &mut Frame,
    area: Rect,
    theme: Theme,
) {
    let currency = largest_currency(r.months.iter().flat_map(|m| m.cost.iter()));
    let chosen = app.insights.chosen;
    let [expired, chart, text] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(3),
    ])
    .areas(area);
    // Expired and not renewed: apart, and not a bar (it would dwarf every month).
    let expired_style = if chosen == 0 {
        theme.selected()
    } else {
        theme.fg(Color::Red)
    };
    frame.render_widget(
        Line::styled(
            format!(
                "{}expired, not renewed: {} licenses · {}",
                if chosen == 0 { "▶ " } else { "  " },
                r.expired,
                amounts(&r.expired_cost)
            ),
            expired_style,
        ),
        expired,
    );
    let bars = r.months.iter().enumerate().map(|(i, m)| {
        let name = if m.current {
            "now".to_owned()
        } else {
            m.month.format("%b").to_string()
        };
        // The chosen one is marked in the label too, for terminals without colours.
        let label = if i + 1 == chosen {
            format!("[{name}]")
        } else {
            name
        };
        let style = if i + 1 == chosen {
            theme.selected()
        } else if m.current {
            theme.fg(Color::Yellow)
        } else {
            theme.fg(Color::Cyan)
        };
        (label, major(&m.cost, currency), style)
    });
    columns(bars.collect(), frame, chart);
    let unit = currency.map_or(String::new(), |c| format!("bars in {c}"));
    let chosen_line = match chosen {
        0 => "expired, not renewed (→ the months)".to_owned(),
        i => r.months.get(i - 1).map_or(String::new(), |m| {
            format!(
                "{}{}: {} licenses · {}",
                m.month.format("%B %Y"),
                if m.current { " (from today)" } else { "" },
                m.licenses,
                amounts(&m.cost)
            )
        }),
    };
    let lines = vec![
        Line::styled(
            format!("▶ {chosen_line} — enter lists them"),
            theme.accent(),
        ),
        Line::styled(
            format!(
                "{unit} · later: {} · never expire: {} · no cost recorded: {}",
                r.later, r.no_expiry, r.no_cost
            ),
            theme.dim(),
        ),
        Line::styled("←→ choose a month · 1-5 report · / filter", theme.dim()),
    ];
    frame.render_widget(Paragraph::new(lines), text);
}

/// Horizontal bars, one row each: a label, a bar as long as `value` of `max`, a text.
fn rows(
    items: &[(String, u64, String)],
    chosen: usize,
    frame: &mut Frame,
    area: Rect,
    theme: Theme,
) {
    let label_width = items
        .iter()
        .map(|(l, _, _)| l.chars().count())
        .max()
        .unwrap_or(0)
        .min(usize::from(area.width / 3)) as u16;
    let text_width = items
        .iter()
        .map(|(_, _, t)| t.chars().count())
        .max()
        .unwrap_or(0)
        .min(usize::from(area.width / 2)) as u16;
    let bar_width = area.width.saturating_sub(label_width + text_width + 4);
    let max = items.iter().map(|(_, v, _)| *v).max().unwrap_or(0).max(1);
    // Scroll so that the chosen row shows.
    let height = usize::from(area.height);
    let first = chosen.saturating_sub(height.saturating_sub(1));
    let lines: Vec<Line> = items
        .iter()
        .enumerate()
        .skip(first)
        .take(height)
        .map(|(i, (label, value, text))| {
            let filled = (u64::from(bar_width) * value / max) as usize;
            let filled = if *value > 0 { filled.max(1) } else { 0 };
            let label: String = label.chars().take(usize::from(label_width)).collect();
            let style = if i == chosen {
                theme.selected()
            } else {
                Style::default()
            };
            Line::from(vec![
                Span::styled(
                    format!(
                        "{}{label:<w$} ",
                        if i == chosen { "▶" } else { " " },
                        w = usize::from(label_width)
                    ),
                    style,
                ),
                Span::styled("█".repeat(filled), theme.fg(Color::Cyan)),
                Span::raw(" ".repeat(usize::from(bar_width).saturating_sub(filled))),
                Span::styled(format!(" {text}"), style),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
}

fn spend(app: &App, s: &lm_protocol::insights::Spend, frame: &mut Frame, area: Rect, theme: Theme) {
    let groups = match app.insights.breakdown {
        Breakdown::Vendor => &s.by_vendor,
        Breakdown::Kind => &s.by_kind,
        Breakdown::Product => &s.by_product,
    };
    let [head, chart, text] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let no_cost = if s.no_cost > 0 {
        format!(" · {} without a cost recorded", s.no_cost)
    } else {
        String::new()
    };
    frame.render_widget(
        Paragraph::new(vec![
            Line::styled(
                format!(
                    "{} licenses cost {}{no_cost}",
                    s.licenses,
                    amounts(&s.total)
                ),
                theme.accent(),
            ),
            Line::styled(
                format!(
                    "by {} (v: vendor, kind, product){}",
                    app.insights.breakdown.as_str(),
                    s.ranked_by
                        .map_or(String::new(), |c| format!(" · ranked and drawn in {c}"))
                ),
                theme.dim(),
            ),
        ]),
        head,
    );
    let items: Vec<(String, u64, String)> = groups
        .iter()
        .map(|g| {
            (
                g.name.clone(),
                major(&g.cost, s.ranked_by),
                format!("{} · {}", g.licenses, amounts(&g.cost)),
            )
        })
        .collect();
    rows(&items, app.insights.chosen, frame, chart, theme);
    frame.render_widget(Paragraph::new(ROWS_HINT).style(theme.dim()), text);
}

fn seats(app: &App, s: &lm_protocol::insights::Seats, frame: &mut Frame, area: Rect, theme: Theme) {
    let [gauge, head, chart, text] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let ratio = if s.total > 0 {
        s.used as f64 / s.total as f64
    } else {
        0.0
    };
    frame.render_widget(
        Gauge::default()
            .gauge_style(theme.fg(Color::Green).add_modifier(Modifier::REVERSED))
            .ratio(ratio.clamp(0.0, 1.0))
            .label(format!(
                "{} of {} seats in use ({:.0} %) on {} licenses",
                s.used,
                s.total,
                ratio * 100.0,
                s.limited
            )),
        gauge,
    );
    frame.render_widget(
        Paragraph::new(format!(
            "without a limit: {} licenses, {} seats in use",
            s.unlimited, s.unlimited_used
        ))
        .style(theme.dim()),
        head,
    );
    let mut items = vec![
        (
            "over 90 % used".to_owned(),
            u64::from(s.full),
            format!("{} licenses", s.full),
        ),
        (
            "under 30 % used".to_owned(),
            u64::from(s.idle),
            format!("{} licenses", s.idle),
        ),
    ];
    for u in &s.units {
        items.push((
            u.unit.clone(),
            u.taken,
            format!("{} of {} taken", u.taken, u.bought),
        ));
    }
    rows(&items, app.insights.chosen, frame, chart, theme);
    frame.render_widget(Paragraph::new(ROWS_HINT).style(theme.dim()), text);
}

fn reclaim(
    app: &App,
    r: &lm_protocol::insights::Reclaim,
    frame: &mut Frame,
    area: Rect,
    theme: Theme,
) {
    let currency = largest_currency(r.groups.iter().flat_map(|g| g.at_stake.iter()));
    let [chart, text] = Layout::vertical([Constraint::Min(1), Constraint::Length(2)]).areas(area);
    let items: Vec<(String, u64, String)> = r
        .groups
        .iter()
        .map(|g| {
            let holders = if g.holders > 0 {
                format!(", {} held", g.holders)
            } else {
                String::new()
            };
            (
                g.kind.describe(r.unused_days),
                major(&g.at_stake, currency),
                format!(
                    "{} licenses{holders} · {}",
                    g.licenses,
                    amounts(&g.at_stake)
                ),
            )
        })
        .collect();
    rows(&items, app.insights.chosen, frame, chart, theme);
    let largest = r
        .groups
        .get(app.insights.chosen)
        .map(|g| {
            g.largest
                .iter()
                .map(|(_, name)| name.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    frame.render_widget(
        Paragraph::new(vec![
            Line::styled(
                if largest.is_empty() {
                    "nothing to reclaim here".to_owned()
                } else {
                    format!("most at stake: {largest}")
                },
                theme.accent(),
            ),
            Line::styled(
                "↑↓ choose · enter lists them · 1-5 report · / filter",
                theme.dim(),
            ),
        ]),
        text,
    );
}

fn trend(t: &lm_protocol::insights::Trend, frame: &mut Frame, area: Rect, theme: Theme) {
    let currency = largest_currency(t.points.iter().flat_map(|p| p.total.iter()));
    let [chart, text] = Layout::vertical([Constraint::Min(3), Constraint::Length(3)]).areas(area);
    let bars = t.points.iter().map(|p| {
        let label = p.date.format("%b").to_string();
        (label, major(&p.total, currency), theme.fg(Color::Cyan))
    });
    columns(bars.collect(), frame, chart);
    let first = t.points.first();
    let last = t.points.last();
    let lines = vec![
        Line::styled(
            match (first, last) {
                (Some(f), Some(l)) if f.date != l.date => format!(
                    "{}: {} → {}: {}",
                    f.date,
                    amounts(&f.total),
                    l.date,
                    amounts(&l.total)
                ),
                (_, Some(l)) => format!("{}: {}", l.date, amounts(&l.total)),
                _ => "no totals yet".into(),
            },
            theme.accent(),
        ),
        Line::styled(format!("from {}", t.source), theme.dim()),
        Line::styled("1-5 report · / filter", theme.dim()),
    ];
    frame.render_widget(Paragraph::new(lines), text);
}

#[cfg(test)]
mod tests;
