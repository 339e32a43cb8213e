//! The license table: its columns, which fit the width, and the rows.

use super::Theme;
use crate::app::App;
use crate::format::{self};
use lm_protocol::{License, SortField};
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

pub(super) struct Column {
    title: &'static str,
    sort: Option<SortField>,
    width: u16,
    /// Lower goes first when space is short.
    priority: u8,
    right: bool,
}

pub(super) const COLUMNS: [Column; 9] = [
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
pub(super) fn visible_columns(width: u16) -> Vec<usize> {
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

pub(super) fn cell_text(column: usize, l: &License, width: u16) -> String {
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

/// The NAME cell in `width`: name and product when both fit, else the name alone, cut in
/// the middle when it must be, so that licenses whose names share a start stay apart.
fn name_cell(l: &License, marked: bool, width: usize) -> String {
    let mark = if marked { "● " } else { "" };
    let room = width.saturating_sub(mark.chars().count());
    let full = cell_text(1, l, 0);
    let name = if full.chars().count() <= room {
        full
    } else {
        format::elide_middle(l.name.as_str(), room)
    };
    format!("{mark}{name}")
}

pub(super) fn render_table(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
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
    // What NAME gets: the width the other columns leave, one space between columns.
    let others: u16 = columns
        .iter()
        .filter(|&&i| i != 1)
        .map(|&i| COLUMNS[i].width + 1)
        .sum();
    let name_width = usize::from(area.width.saturating_sub(others));
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
                    let text = if i == 1 {
                        name_cell(l, marked, name_width)
                    } else {
                        cell_text(i, l, c.width)
                    };
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
