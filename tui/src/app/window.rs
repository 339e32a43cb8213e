//! The window of rows the list shows: asked of the daemon around the selection, reloaded
//! when the query changes, and the audit trail of the selected license.

use super::*;

impl App {
    /// Parses the view and the filter line; on success lists from the top.
    pub(super) fn apply_query(&mut self) -> Vec<Command> {
        match self.parse_query() {
            Ok(query) => {
                self.query_error = None;
                let sort = match query.sort {
                    Some(sort) => sort,
                    None if self.sort_overridden => self.sort,
                    None => Sort {
                        field: SortField::Name,
                        descending: false,
                    },
                };
                // A space or a quote typed may leave the query as it was: nothing to list.
                if query.filter == self.selection && sort == self.sort && self.window.is_some() {
                    return vec![];
                }
                self.selection = query.filter;
                self.sort = sort;
                self.reload_from_top()
            }
            Err(e) => {
                self.query_error = Some(e);
                vec![]
            }
        }
    }

    /// The view's query and the filter line together; an error points into the filter line,
    /// which is what the user typed.
    pub(super) fn parse_query(&self) -> Result<Query, QueryError> {
        let base = self.view_query();
        let text = format!("{base} {}", self.filter.text);
        Query::parse(&text, self.today()).map_err(|mut e| {
            let skip = base.len() + 1;
            e.span = e.span.start.saturating_sub(skip)..e.span.end.saturating_sub(skip);
            e
        })
    }

    /// Lists from the first row. The old rows stay on screen until the answer replaces them
    /// (a few milliseconds), so typing never flickers. Two screens: what is shown and the
    /// next page — every key typed in the filter asks again, so less is more here; moving
    /// on asks for the rows beyond.
    pub(super) fn reload_from_top(&mut self) -> Vec<Command> {
        self.selected = 0;
        self.top = 0;
        let rows = self.table_rows();
        self.request(0, rows * 2)
    }

    /// Lists the window around the cursor again (after a change, or a new query).
    pub(super) fn refresh(&mut self) -> Vec<Command> {
        let rows = self.table_rows();
        let offset = self.selected.saturating_sub(rows);
        self.request(offset, rows * 3)
    }

    pub(super) fn request(&mut self, offset: usize, limit: usize) -> Vec<Command> {
        self.seq += 1;
        self.loading = true;
        self.requested = Some((offset, limit));
        vec![Command::List {
            seq: self.seq,
            request: ListRequest {
                filter: self.selection.clone(),
                sort: self.sort,
                offset,
                limit: limit.max(1),
                within: self.within.as_ref().map(|(group, _)| group.clone()),
            },
        }]
    }

    pub(super) fn move_by(&mut self, delta: isize) -> Vec<Command> {
        let target = self.selected.saturating_add_signed(delta);
        self.move_to(target.min(self.total.saturating_sub(1)))
    }

    pub(super) fn move_to(&mut self, index: usize) -> Vec<Command> {
        let before = self.selected;
        self.selected = index;
        let mut commands = self.follow_selection();
        if before != self.selected {
            commands.extend(self.load_audit());
        }
        commands
    }

    /// Scrolls so the cursor is visible, and asks for rows not yet loaded.
    pub(super) fn follow_selection(&mut self) -> Vec<Command> {
        let rows = self.table_rows();
        if self.selected < self.top {
            self.top = self.selected;
        } else if self.selected >= self.top + rows {
            self.top = self.selected + 1 - rows;
        }
        let wanted = self.top..(self.top + rows).min(self.total);
        let loaded = self
            .window
            .as_ref()
            .map(|w| w.offset..w.offset + w.items.len());
        let covered = |r: &std::ops::Range<usize>| {
            wanted.is_empty() || (r.start <= wanted.start && wanted.end <= r.end)
        };
        if loaded.as_ref().is_some_and(covered)
            || self
                .requested
                .map(|(o, l)| o..o + l)
                .as_ref()
                .is_some_and(covered)
        {
            return vec![];
        }
        if self.window.is_none() && self.requested.is_some() {
            return vec![];
        }
        let offset = self.top.saturating_sub(rows);
        self.request(offset, rows * 3)
    }

    pub(super) fn load_audit(&mut self) -> Vec<Command> {
        if !self.detail || !self.is_manager() {
            return vec![];
        }
        match self.current() {
            Some(l) if self.audit.as_ref().is_none_or(|(id, _)| *id != l.id) => {
                let id = l.id.clone();
                self.audit = Some((id.clone(), History::Loading));
                vec![Command::Audit(id)]
            }
            _ => vec![],
        }
    }
}

/// The audit request the runtime sends for a license's history.
pub fn audit_request(license: &LicenseId) -> AuditRequest {
    AuditRequest {
        query: AuditQuery {
            record: Some(license.to_string()),
            limit: 50,
            ..AuditQuery::default()
        },
    }
}
