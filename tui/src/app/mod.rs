//! The TUI's state and its one update function. Everything that happens — a key, a mouse
//! wheel, a resize, a reply or event from the daemon, a clock tick — arrives as a [`Msg`];
//! [`App::update`] changes the state and returns the [`Command`]s (requests to the daemon)
//! it wants run. No I/O happens here, so tests drive the app headless, message by message,
//! and render it with `view::render`.
//!
//! One job per file: here the state and the update loop; `replies` what lmd answered;
//! `messages` what comes in and goes out; `people` the People screen; `browse` the keys of the list and the alerts
//! panel; `inputs` the filter line, the form and the prompts; `window` the window of rows
//! the list shows and how it follows the query and the selection.

mod browse;
pub mod form;
mod inputs;
pub mod insights;
pub mod keys;
mod messages;
pub mod people;
mod replies;
pub mod text;
mod window;

use crate::format;
use chrono::{DateTime, NaiveDate, Utc};
use form::LicenseForm;
pub use inputs::parse_assignee;
pub use insights::{Bar, Breakdown, InsightsState};
use keys::{KeyMap, UserAction};
use lm_protocol::socket::{
    AssignRequest, AuditRequest, Connection, CreateRequest, Event, ExpiryAlert, LicenseRef,
    LicenseWindow, ListRequest, LoginPrompt, RemoveRequest, Reply, Request, Status,
    UnassignRequest, UpdateRequest,
};
use lm_protocol::{
    Assignee, AuditEntry, AuditQuery, License, LicenseId, Problem, Query, QueryError, Role, Sort,
    SortField,
};
pub use messages::{AlertList, Command, Edit, LoginState, Msg};
pub use people::{InviteForm, LinkShown, PeopleState, Screen};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::BTreeMap;
use text::TextInput;
pub use window::audit_request;

/// The saved views: a name and the query it stands for (`{me}` is the user's id).
pub const VIEWS: [(&str, &str); 7] = [
    ("All", ""),
    ("Expiring", "expiring:30d sort:expires"),
    ("Expired", "expires<today sort:-expires"),
    ("Mine", "employee:{me}"),
    ("By employee", "assigned:employee sort:name"),
    ("By device", "assigned:device sort:name"),
    ("Unassigned", "assigned:no"),
];
/// What the screen is doing.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Browse,
    /// Typing in the filter line.
    Filter,
    /// The key and query help, scrolled down by `scroll` lines.
    Help {
        scroll: u16,
    },
    Form(Box<LicenseForm>),
    Confirm(Confirm),
    Prompt(Prompt),
    /// The expiry alerts in effect, the cursor on the `selected` one.
    Alerts {
        selected: usize,
    },
    /// An edit met a newer version; `theirs` is the license as it is now.
    Conflict {
        form: Box<LicenseForm>,
        theirs: Option<License>,
    },
    /// Typing in the People screen's filter line.
    PeopleFilter,
    /// Inviting someone.
    Invite(InviteForm),
    /// A one-time link just made, to copy and hand over.
    Link(LinkShown),
    /// Typing in the Insights screen's filter line.
    InsightsFilter,
}

/// A yes/no question before a change, with a preview of what will change.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    pub title: String,
    pub lines: Vec<String>,
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptFor {
    Assign,
    Unassign,
}

impl PromptFor {
    /// What the prompt does, as a title starts: "Assign".
    pub fn verb(self) -> &'static str {
        match self {
            PromptFor::Assign => "Assign",
            PromptFor::Unassign => "Unassign",
        }
    }

    /// What was done, as a summary says it: "assigned".
    pub fn done(self) -> &'static str {
        match self {
            PromptFor::Assign => "assigned",
            PromptFor::Unassign => "unassigned",
        }
    }
}

/// A one-line question: whom to assign or unassign.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub purpose: PromptFor,
    pub targets: Vec<License>,
    pub input: TextInput,
    pub error: Option<String>,
}

/// A license's audit history in the detail pane.
#[derive(Debug, Clone, PartialEq)]
pub enum History {
    Loading,
    Loaded(Vec<AuditEntry>),
    Failed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Error,
}

/// The TUI's whole state.
pub struct App {
    pub keymap: KeyMap,
    pub screen: Screen,
    pub people: PeopleState,
    pub insights: InsightsState,
    /// The licenses list shows only a report's group (a bar of the Insights), named so.
    pub within: Option<(lm_protocol::insights::GroupRef, String)>,
    pub now: DateTime<Utc>,
    pub size: (u16, u16),
    pub status: Option<Status>,
    pub mode: Mode,
    pub view: usize,
    pub filter: TextInput,
    pub query_error: Option<QueryError>,
    /// What the view and the filter line select, parsed once per edit of either.
    selection: lm_protocol::LicenseFilter,
    pub sort: Sort,
    /// The sort a view or the query asked for; `s`/`S` override it until the view changes.
    sort_overridden: bool,
    pub window: Option<LicenseWindow>,
    pub total: usize,
    seq: u64,
    requested: Option<(usize, usize)>,
    pub loading: bool,
    pub selected: usize,
    pub top: usize,
    pub marked: BTreeMap<LicenseId, License>,
    pub detail: bool,
    pub audit: Option<(LicenseId, History)>,
    pub message: Option<(Level, String)>,
    pub login: Option<LoginState>,
    /// The newest expiry alert lmd pushed, shown until the next one.
    pub alert: Option<String>,
    /// Alerts pushed since the alerts panel was last opened.
    pub unread_alerts: usize,
    /// The alerts in effect as last listed (`None` until the panel first asks).
    pub alerts: Option<Result<AlertList, String>>,
    last_removed: Vec<LicenseId>,
    pub quit: bool,
}

/// Chrome around the table: the views line, the table header, the filter line, the status bar.
const CHROME_ROWS: u16 = 4;
impl App {
    pub fn new(keymap: KeyMap, now: DateTime<Utc>, size: (u16, u16)) -> App {
        App {
            keymap,
            screen: Screen::Licenses,
            people: PeopleState::default(),
            insights: InsightsState::default(),
            within: None,
            now,
            size,
            status: None,
            mode: Mode::Browse,
            view: 0,
            filter: TextInput::default(),
            query_error: None,
            selection: lm_protocol::LicenseFilter::default(),
            sort: Sort::default(),
            sort_overridden: false,
            window: None,
            total: 0,
            seq: 0,
            requested: None,
            loading: false,
            selected: 0,
            top: 0,
            marked: BTreeMap::new(),
            detail: false,
            audit: None,
            message: None,
            login: None,
            alert: None,
            unread_alerts: 0,
            alerts: None,
            last_removed: Vec::new(),
            quit: false,
        }
    }

    /// The commands to run at start: the first page of the default view.
    pub fn start(&mut self) -> Vec<Command> {
        self.apply_query()
    }

    pub fn today(&self) -> NaiveDate {
        self.now.date_naive()
    }

    pub fn role(&self) -> Option<Role> {
        self.status.as_ref()?.user.as_ref().map(|u| u.role)
    }

    pub fn is_manager(&self) -> bool {
        self.role() == Some(Role::Manager)
    }

    pub fn login_required(&self) -> Option<&str> {
        match &self.status.as_ref()?.connection {
            Connection::LoginRequired { reason } => Some(reason),
            _ => None,
        }
    }

    /// How many lines the help has for this user (the view draws exactly these).
    pub fn help_line_count(&self) -> usize {
        let actions = UserAction::ALL
            .iter()
            .filter(|a| self.is_manager() || !a.manager_only())
            .count();
        let employee_note = usize::from(!self.is_manager());
        actions + employee_note + 2 + self.filter_help().1.len()
    }

    /// The filter language of the screen shown, for the help: its title and its terms.
    pub fn filter_help(&self) -> (&'static str, &'static [(&'static str, &'static str)]) {
        match self.screen {
            Screen::People => ("People filter", lm_protocol::member::MEMBER_QUERY_HELP),
            Screen::Licenses | Screen::Insights => {
                ("Filter language", lm_protocol::query::QUERY_HELP)
            }
        }
    }

    /// How many table rows fit, given the terminal size and whether the detail pane is open.
    pub fn table_rows(&self) -> usize {
        let body = self.size.1.saturating_sub(CHROME_ROWS);
        let rows = if self.detail { body - body / 2 } else { body };
        usize::from(rows.max(1))
    }

    /// The license under the cursor, when it is loaded.
    pub fn current(&self) -> Option<&License> {
        self.row(self.selected)
    }

    /// The license at `index` of the whole listing, when it is in the loaded window.
    pub fn row(&self, index: usize) -> Option<&License> {
        let window = self.window.as_ref()?;
        index
            .checked_sub(window.offset)
            .and_then(|i| window.items.get(i))
    }

    fn me(&self) -> String {
        self.status
            .as_ref()
            .and_then(|s| s.user.as_ref())
            .map(|u| u.subject.clone())
            .unwrap_or_else(|| "me".into())
    }

    /// The filter line of the screen shown, as typed.
    pub fn filter_line(&self) -> &str {
        match self.screen {
            Screen::Licenses => &self.filter.text,
            Screen::People => &self.people.filter.text,
            Screen::Insights => &self.insights.filter.text,
        }
    }

    /// The query text the current view and the filter line stand for together.
    pub fn view_query(&self) -> String {
        VIEWS[self.view].1.replace("{me}", &self.me())
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Command> {
        match msg {
            Msg::Key(key) => self.on_key(key),
            Msg::Quit => {
                self.quit = true;
                vec![]
            }
            Msg::AlertsLoaded(result) => {
                if let (Mode::Alerts { selected }, Ok(list)) = (&mut self.mode, &result) {
                    *selected = (*selected).min(list.alerts.len().saturating_sub(1));
                }
                self.alerts = Some(result);
                vec![]
            }
            Msg::Scroll(rows) => self.move_by(rows as isize),
            Msg::Resize(w, h) => {
                self.size = (w, h);
                self.follow_selection()
            }
            Msg::Tick(now) => {
                let new_day = now.date_naive() != self.today();
                self.now = now;
                // Relative dates (`expires<30d`, `today`) mean other days now.
                match self.parse_query() {
                    Ok(query) if new_day => {
                        self.selection = query.filter;
                        self.refresh()
                    }
                    _ => vec![],
                }
            }
            Msg::Status(status) => self.on_status(status),
            Msg::Event(Event::Sync(status)) => self.on_status(status),
            Msg::Event(Event::LoginFailed { reason }) => {
                self.login = None;
                self.message = Some((Level::Error, format!("login failed: {reason}")));
                vec![]
            }
            Msg::Event(Event::Alerts { alerts, total }) => {
                let total = total.max(alerts.len());
                let text = match alerts.as_slice() {
                    [one] if total == 1 => format!("{} {}", one.name, one.when()),
                    many => format!(
                        "{total} licenses expire within {} days",
                        many.iter().map(|a| a.threshold).max().unwrap_or(0)
                    ),
                };
                // Its own place in the status bar: it must not hide what the user just did.
                self.alert = Some(text);
                if matches!(self.mode, Mode::Alerts { .. }) {
                    vec![Command::Alerts]
                } else {
                    self.unread_alerts += total;
                    vec![]
                }
            }
            Msg::LoginStarted(Ok(prompt)) => {
                if self.login.is_some() {
                    self.login = Some(LoginState::Waiting(prompt));
                }
                vec![]
            }
            Msg::LoginStarted(Err(reason)) => {
                self.login = None;
                self.message = Some((Level::Error, format!("cannot log in: {reason}")));
                vec![]
            }
            Msg::MembersListed { seq, result } => self.on_members_listed(seq, result),
            Msg::MemberLoaded(result) => {
                let current = self.people.current().map(|m| m.name.as_str());
                let stale = matches!(&result, Ok(d) if Some(d.member.name.as_str()) != current);
                if !stale {
                    self.people.member = Some(result);
                }
                vec![]
            }
            Msg::Reported { seq, result } => self.on_reported(seq, result),
            Msg::Event(Event::Members { names, .. }) => {
                let mut commands = self.on_members_changed(&names);
                if self.screen == Screen::Insights {
                    commands.extend(self.request_report());
                }
                commands
            }
            Msg::Event(Event::Changed { ids, .. }) => {
                let mut commands = self.refresh();
                if self.screen == Screen::Insights {
                    commands.extend(self.request_report());
                }
                if self.screen == Screen::People {
                    // What members hold changed with the licenses.
                    commands.extend(self.on_members_changed(&[]));
                    if let Some(m) = self.people.current().filter(|_| self.people.detail) {
                        commands.push(Command::Member(m.name.clone()));
                    }
                }
                if let Mode::Conflict { form, theirs: None } = &self.mode
                    && let Some(editing) = &form.editing
                    && ids.contains(&editing.id)
                {
                    commands.push(Command::Fetch(editing.id.clone()));
                }
                if self.detail
                    && let Some(l) = self.current()
                    && ids.contains(&l.id)
                    && self.is_manager()
                {
                    commands.push(Command::Audit(l.id.clone()));
                }
                commands
            }
            Msg::Listed { seq, result } => self.on_listed(seq, result),
            Msg::AuditLoaded { license, result } => {
                self.audit = Some((
                    license,
                    match result {
                        Ok(entries) => History::Loaded(entries),
                        Err(e) => History::Failed(e),
                    },
                ));
                vec![]
            }
            Msg::Fetched(result) => {
                if let Mode::Conflict { form, theirs } = &mut self.mode {
                    match result {
                        Ok(l)
                            if form
                                .editing
                                .as_ref()
                                .is_some_and(|mine| l.version > mine.version) =>
                        {
                            *theirs = Some(l)
                        }
                        // Not yet in the cache; the change event brings it.
                        Ok(_) => {}
                        Err(e) => self.message = Some((Level::Error, e)),
                    }
                }
                vec![]
            }
            Msg::Edited { edit, result } => self.on_edited(edit, result),
            Msg::BulkDone { summary, failures } => {
                self.message = Some(if failures.is_empty() {
                    (Level::Info, summary)
                } else {
                    (
                        Level::Error,
                        format!(
                            "{summary}; {} failed: {}",
                            failures.len(),
                            failures.join("; ")
                        ),
                    )
                });
                self.marked.clear();
                vec![]
            }
            Msg::Disconnected(reason) => {
                self.message = Some((Level::Error, format!("lost lmd: {reason}")));
                vec![]
            }
        }
    }

    fn on_key(&mut self, key: KeyEvent) -> Vec<Command> {
        if key.kind == ratatui::crossterm::event::KeyEventKind::Release {
            return vec![];
        }
        let ctrl_c =
            key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
        match std::mem::replace(&mut self.mode, Mode::Browse) {
            Mode::Browse => self.on_browse_key(key),
            Mode::Help { scroll } => {
                // Arrows and paging scroll a help taller than the screen; any other key closes.
                let max = self
                    .help_line_count()
                    .saturating_sub(usize::from(self.size.1 / 2)) as u16;
                let scroll = match key.code {
                    KeyCode::Down | KeyCode::Char('j') => Some(scroll.saturating_add(1)),
                    KeyCode::Up | KeyCode::Char('k') => Some(scroll.saturating_sub(1)),
                    KeyCode::PageDown | KeyCode::Char(' ') => Some(scroll.saturating_add(10)),
                    KeyCode::PageUp => Some(scroll.saturating_sub(10)),
                    _ => None,
                };
                if let Some(scroll) = scroll {
                    self.mode = Mode::Help {
                        scroll: scroll.min(max),
                    };
                }
                vec![]
            }
            Mode::Filter => self.on_filter_key(key),
            Mode::Alerts { selected } => self.on_alerts_key(selected, key),
            Mode::Form(form) if ctrl_c => {
                drop(form);
                vec![]
            }
            Mode::Form(form) => self.on_form_key(form, key),
            Mode::Confirm(confirm) => match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => {
                    // A bulk removal becomes undoable once the user confirmed it.
                    if let Command::Bulk { requests, .. } = &confirm.command {
                        let removed: Vec<LicenseId> = requests
                            .iter()
                            .filter_map(|(_, r)| match r {
                                Request::Remove(r) => Some(r.license.clone()),
                                _ => None,
                            })
                            .collect();
                        if !removed.is_empty() {
                            self.last_removed = removed;
                        }
                    }
                    vec![confirm.command]
                }
                KeyCode::Char('n') | KeyCode::Esc | KeyCode::Char('q') => vec![],
                _ => {
                    self.mode = Mode::Confirm(confirm);
                    vec![]
                }
            },
            Mode::Prompt(prompt) => self.on_prompt_key(prompt, key),
            Mode::PeopleFilter => self.on_people_filter_key(key),
            Mode::InsightsFilter => self.on_insights_filter_key(key),
            Mode::Invite(_) if ctrl_c => vec![],
            Mode::Invite(form) => self.on_invite_key(form, key),
            Mode::Link(shown) => self.on_link_key(shown, key),
            Mode::Conflict { form, theirs } => match (key.code, &theirs) {
                (KeyCode::Char('r'), Some(theirs)) => {
                    self.mode = Mode::Form(Box::new(form.rebased_on(theirs)));
                    vec![]
                }
                (KeyCode::Esc | KeyCode::Char('q'), _) => vec![],
                _ => {
                    self.mode = Mode::Conflict { form, theirs };
                    vec![]
                }
            },
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
