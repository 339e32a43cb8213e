//! The Insights screen: the reports of `lm_protocol::insights` as charts — what renews when
//! and for how much, where the money goes, seats in use, what to reclaim, the trend — over
//! the whole inventory or what its filter line selects. Choosing a bar and pressing enter
//! opens the licenses behind it: by a query when one names them, else by the report's group.

use super::*;
use lm_protocol::LicenseFilter;
use lm_protocol::insights::{Drill, GroupRef, Report, ReportKind, ReportParams, ReportRequest};

/// Which breakdown the spend chart shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Breakdown {
    #[default]
    Vendor,
    Kind,
    Product,
}

impl Breakdown {
    pub fn as_str(self) -> &'static str {
        match self {
            Breakdown::Vendor => "vendor",
            Breakdown::Kind => "kind",
            Breakdown::Product => "product",
        }
    }

    fn next(self) -> Breakdown {
        match self {
            Breakdown::Vendor => Breakdown::Kind,
            Breakdown::Kind => Breakdown::Product,
            Breakdown::Product => Breakdown::Vendor,
        }
    }
}

/// The Insights screen's state.
#[derive(Debug, Clone)]
pub struct InsightsState {
    pub report: ReportKind,
    pub breakdown: Breakdown,
    pub filter: TextInput,
    pub error: Option<QueryError>,
    selection: LicenseFilter,
    /// The report shown (the last answer; kept while a new one is asked for).
    pub shown: Option<Result<Report, String>>,
    /// The bar chosen, among [`InsightsState::bars`].
    pub chosen: usize,
    pub loading: bool,
    pub params: ReportParams,
    seq: u64,
}

impl Default for InsightsState {
    fn default() -> Self {
        InsightsState {
            report: ReportKind::Renewals,
            breakdown: Breakdown::default(),
            filter: TextInput::default(),
            error: None,
            selection: LicenseFilter::default(),
            shown: None,
            chosen: 0,
            loading: false,
            params: ReportParams::default(),
            seq: 0,
        }
    }
}

/// A bar of a chart: what it is called and the licenses behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub drill: Option<Drill>,
}

impl InsightsState {
    /// The bars of the report shown, in the order the chart draws them.
    pub fn bars(&self) -> Vec<Bar> {
        let Some(Ok(report)) = &self.shown else {
            return Vec::new();
        };
        let bar = |label: String, drill: Option<Drill>| Bar { label, drill };
        match report {
            Report::Renewals(r) => std::iter::once(bar(
                "expired, not renewed".into(),
                Some(r.expired_drill.clone()),
            ))
            .chain(
                r.months
                    .iter()
                    .map(|m| bar(m.month.format("%B %Y").to_string(), Some(m.drill.clone()))),
            )
            .collect(),
            Report::Spend(s) => {
                let groups = match self.breakdown {
                    Breakdown::Vendor => &s.by_vendor,
                    Breakdown::Kind => &s.by_kind,
                    Breakdown::Product => &s.by_product,
                };
                groups
                    .iter()
                    .map(|g| bar(g.name.clone(), g.drill.clone()))
                    .collect()
            }
            Report::Seats(s) => [
                bar("over 90 % used".into(), Some(s.full_drill.clone())),
                bar("under 30 % used".into(), Some(s.idle_drill.clone())),
            ]
            .into_iter()
            .chain(
                s.units
                    .iter()
                    .map(|u| bar(u.unit.clone(), Some(u.drill.clone()))),
            )
            .collect(),
            Report::Reclaim(r) => r
                .groups
                .iter()
                .map(|g| bar(g.kind.describe(r.unused_days), Some(g.drill.clone())))
                .collect(),
            Report::Trend(_) => Vec::new(),
        }
    }
}

impl App {
    /// Opens the Insights screen.
    pub(super) fn open_insights(&mut self) -> Vec<Command> {
        self.screen = Screen::Insights;
        self.insights_query()
    }

    fn leave_insights(&mut self, to: Screen) -> Vec<Command> {
        match to {
            Screen::People => self.open_people(),
            _ => {
                self.screen = Screen::Licenses;
                self.view = 0;
                self.sort_overridden = false;
                self.apply_query()
            }
        }
    }

    /// Reads the filter line again and asks for the report.
    pub(super) fn insights_query(&mut self) -> Vec<Command> {
        match Query::parse(&self.insights.filter.text, self.today()) {
            Ok(query) => {
                self.insights.error = None;
                self.insights.selection = query.filter;
                self.request_report()
            }
            Err(e) => {
                self.insights.error = Some(e);
                vec![]
            }
        }
    }

    pub(super) fn request_report(&mut self) -> Vec<Command> {
        let insights = &mut self.insights;
        insights.seq += 1;
        insights.loading = true;
        vec![Command::Report {
            seq: insights.seq,
            request: ReportRequest {
                report: insights.report,
                filter: insights.selection.clone(),
                params: insights.params,
            },
        }]
    }

    pub(super) fn on_reported(&mut self, seq: u64, result: Result<Report, String>) -> Vec<Command> {
        if seq != self.insights.seq {
            return vec![];
        }
        self.insights.loading = false;
        self.insights.shown = Some(result);
        let bars = self.insights.bars().len();
        self.insights.chosen = self.insights.chosen.min(bars.saturating_sub(1));
        vec![]
    }

    fn choose(&mut self, delta: isize) -> Vec<Command> {
        let bars = self.insights.bars().len();
        self.insights.chosen = self
            .insights
            .chosen
            .saturating_add_signed(delta)
            .min(bars.saturating_sub(1));
        vec![]
    }

    fn show_report(&mut self, report: ReportKind) -> Vec<Command> {
        if self.insights.report != report {
            self.insights.report = report;
            self.insights.shown = None;
            self.insights.chosen = 0;
        }
        self.request_report()
    }

    /// The licenses behind the chosen bar, on the licenses screen.
    fn drill(&mut self) -> Vec<Command> {
        let bars = self.insights.bars();
        let Some(bar) = bars.get(self.insights.chosen) else {
            return vec![];
        };
        let Some(drill) = bar.drill.clone() else {
            self.message = Some((
                Level::Info,
                format!(
                    "“{}” gathers several groups: filter for one of them",
                    bar.label
                ),
            ));
            return vec![];
        };
        let base = self.insights.filter.text.trim().to_owned();
        let (text, within) = match drill {
            Drill::Query { query } => (format!("{base} {query}").trim().to_owned(), None),
            Drill::Group { report, group } => (
                base,
                Some((
                    GroupRef {
                        report,
                        group,
                        params: self.insights.params,
                    },
                    bar.label.clone(),
                )),
            ),
        };
        self.screen = Screen::Licenses;
        self.view = 0;
        self.sort_overridden = false;
        self.filter = TextInput::new(&text);
        self.within = within;
        // A group is not part of the query: list again even when the query is the same.
        self.window = None;
        self.apply_query()
    }

    /// A key on the Insights screen: its own (report, bar, breakdown) first, then the
    /// browsing actions.
    pub(super) fn on_insights_key(&mut self, key: KeyEvent) -> Option<Vec<Command>> {
        let report = match key.code {
            KeyCode::Char('1') => Some(ReportKind::Renewals),
            KeyCode::Char('2') => Some(ReportKind::Spend),
            KeyCode::Char('3') => Some(ReportKind::Seats),
            KeyCode::Char('4') => Some(ReportKind::Reclaim),
            KeyCode::Char('5') => Some(ReportKind::Trend),
            _ => None,
        };
        if let Some(report) = report {
            return Some(self.show_report(report));
        }
        Some(match key.code {
            KeyCode::Left | KeyCode::Char('h') => self.choose(-1),
            KeyCode::Right | KeyCode::Char('l') => self.choose(1),
            KeyCode::Enter => self.drill(),
            KeyCode::Char('v') if self.insights.report == ReportKind::Spend => {
                self.insights.breakdown = self.insights.breakdown.next();
                self.insights.chosen = 0;
                vec![]
            }
            _ => return None,
        })
    }

    /// A browsing action on the Insights screen.
    pub(super) fn on_insights_action(&mut self, action: UserAction) -> Vec<Command> {
        match action {
            UserAction::Quit => {
                self.quit = true;
                vec![]
            }
            UserAction::Insights | UserAction::NextView => self.leave_insights(Screen::Licenses),
            UserAction::PrevView | UserAction::People => self.leave_insights(Screen::People),
            UserAction::Up => self.choose(-1),
            UserAction::Down => self.choose(1),
            UserAction::Top => self.choose(isize::MIN / 2),
            UserAction::Bottom => self.choose(isize::MAX / 2),
            UserAction::Filter => {
                self.mode = Mode::InsightsFilter;
                vec![]
            }
            UserAction::ClearFilter => {
                if self.insights.filter.text.is_empty() {
                    return vec![];
                }
                self.insights.filter = TextInput::default();
                self.insights_query()
            }
            UserAction::Help => self.open_help(),
            UserAction::Alerts => self.open_alerts(),
            UserAction::Login => self.on_login_key(),
            _ => {
                let key = self.keymap.first_key(UserAction::Insights);
                self.message = Some((
                    Level::Info,
                    format!("enter opens the licenses of a bar; {key} goes back to the licenses"),
                ));
                vec![]
            }
        }
    }

    pub(super) fn on_insights_filter_key(&mut self, key: KeyEvent) -> Vec<Command> {
        match key.code {
            KeyCode::Enter | KeyCode::Down => vec![],
            KeyCode::Esc => {
                self.insights.filter = TextInput::default();
                self.insights_query()
            }
            _ => {
                self.mode = Mode::InsightsFilter;
                if self.insights.filter.handle(&key) {
                    self.insights_query()
                } else {
                    vec![]
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
