//! The TUI's state and its one update function. Everything that happens — a key, a mouse
//! wheel, a resize, a reply or event from the daemon, a clock tick — arrives as a [`Msg`];
//! [`App::update`] changes the state and returns the [`Command`]s (requests to the daemon)
//! it wants run. No I/O happens here, so tests drive the app headless, message by message,
//! and render it with `view::render`.

pub mod form;
pub mod keys;
pub mod text;

use crate::format;
use chrono::{DateTime, NaiveDate, Utc};
use form::LicenseForm;
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
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::BTreeMap;
use text::TextInput;

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

/// Everything the app reacts to.
#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    /// Mouse wheel: rows to move, negative is up.
    Scroll(i32),
    Resize(u16, u16),
    Tick(DateTime<Utc>),
    Status(Status),
    Event(Event),
    Listed {
        seq: u64,
        result: Result<LicenseWindow, String>,
    },
    AuditLoaded {
        license: LicenseId,
        result: Result<Vec<AuditEntry>, String>,
    },
    Fetched(Result<License, String>),
    Edited {
        edit: Edit,
        result: Result<Reply, Problem>,
    },
    BulkDone {
        summary: String,
        failures: Vec<String>,
    },
    /// The daemon started a device login (or could not).
    LoginStarted(Result<LoginPrompt, String>),
    /// The daemon went away.
    Disconnected(String),
    /// Whoever drives the app is done with it.
    Quit,
    /// The expiry alerts in effect, as lmd listed them.
    AlertsLoaded(Result<AlertList, String>),
}

/// A request the app wants sent to the daemon; the runtime answers with a [`Msg`].
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    List {
        seq: u64,
        request: ListRequest,
    },
    Audit(LicenseId),
    Fetch(LicenseId),
    Edit {
        edit: Edit,
        request: Request,
    },
    /// Several edits, one after another; answered by one `BulkDone`.
    Bulk {
        summary: String,
        requests: Vec<(String, Request)>,
    },
    /// Ask lmd to start a device login; answered by `LoginStarted`.
    Login,
    /// The expiry alerts in effect; answered by `AlertsLoaded`.
    Alerts,
}

/// Where a login started from the TUI stands.
#[derive(Debug, Clone, PartialEq)]
pub enum LoginState {
    Starting,
    /// Waiting for the user to approve in a browser.
    Waiting(LoginPrompt),
}

/// Which single edit a reply belongs to.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    Create,
    Update,
    Remove {
        ids: Vec<LicenseId>,
        name: String,
    },
    Restore,
    /// An assignment or unassignment, described for the status bar.
    Assign(String),
}

/// The expiry alerts in effect, the first of `total` of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertList {
    pub alerts: Vec<ExpiryAlert>,
    pub total: usize,
}

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
        actions + employee_note + 2 + lm_protocol::query::QUERY_HELP.len()
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
            Msg::Event(Event::Changed { ids, .. }) => {
                let mut commands = self.refresh();
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

    fn on_status(&mut self, status: Status) -> Vec<Command> {
        let first = self.status.is_none();
        if let (Some(_), Some(user)) = (&self.login, &status.user)
            && !matches!(status.connection, Connection::LoginRequired { .. })
        {
            self.login = None;
            self.message = Some((
                Level::Info,
                format!("logged in as {} ({})", user.subject, user.role.as_str()),
            ));
        }
        let user_changed = self.status.as_ref().map(|s| &s.user) != Some(&status.user);
        self.status = Some(status);
        if first || (user_changed && VIEWS[self.view].1.contains("{me}")) {
            return self.apply_query();
        }
        vec![]
    }

    fn on_listed(&mut self, seq: u64, result: Result<LicenseWindow, String>) -> Vec<Command> {
        if seq != self.seq {
            return vec![];
        }
        self.loading = false;
        self.requested = None;
        match result {
            Ok(window) => {
                let previous = self.current().map(|l| l.id.clone());
                self.total = window.total;
                // Keep the cursor on the same license when a refresh moved it.
                if let Some(id) = previous
                    && let Some(i) = window.items.iter().position(|l| l.id == id)
                {
                    self.selected = window.offset + i;
                }
                self.window = Some(window);
                if self.selected >= self.total {
                    self.selected = self.total.saturating_sub(1);
                }
                let mut commands = self.follow_selection();
                commands.extend(self.load_audit());
                commands
            }
            Err(e) => {
                self.message = Some((Level::Error, e));
                vec![]
            }
        }
    }

    fn on_edited(&mut self, edit: Edit, result: Result<Reply, Problem>) -> Vec<Command> {
        match (edit, result) {
            (Edit::Create | Edit::Update, Ok(Reply::License { license })) => {
                self.message = Some((Level::Info, format!("saved “{}”", license.name)));
                self.mode = Mode::Browse;
                vec![]
            }
            (Edit::Update, Err(p)) if p.status == 412 => {
                if let Mode::Form(form) = &self.mode {
                    let form = form.clone();
                    let id = form.editing.as_ref().map(|l| l.id.clone());
                    self.mode = Mode::Conflict { form, theirs: None };
                    return id.map(Command::Fetch).into_iter().collect();
                }
                vec![]
            }
            (Edit::Create | Edit::Update, Err(p)) => {
                if let Mode::Form(form) = &mut self.mode {
                    form.set_server_error(p.field.as_deref(), crate::client::problem_text(&p));
                } else {
                    self.message = Some((Level::Error, crate::client::problem_text(&p)));
                }
                vec![]
            }
            (Edit::Remove { ids, name }, Ok(_)) => {
                let undo = self.keymap.first_key(UserAction::Undo);
                self.message = Some((Level::Info, format!("removed {name} — {undo} to undo")));
                self.last_removed = ids;
                self.marked.clear();
                vec![]
            }
            (Edit::Assign(summary), Ok(_)) => {
                self.message = Some((Level::Info, summary));
                vec![]
            }
            (_, Ok(_)) => {
                self.message = Some((Level::Info, "done".into()));
                vec![]
            }
            (_, Err(p)) => {
                self.message = Some((Level::Error, crate::client::problem_text(&p)));
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

    fn on_browse_key(&mut self, key: KeyEvent) -> Vec<Command> {
        let Some(action) = self.keymap.action(&key) else {
            return vec![];
        };
        if action.manager_only() && !self.is_manager() {
            let who = self
                .status
                .as_ref()
                .and_then(|s| s.user.as_ref())
                .map(|u| format!("{} ({})", u.subject, u.role.as_str()))
                .unwrap_or_else(|| "not logged in".into());
            self.message = Some((
                Level::Error,
                format!(
                    "only managers can {}; you are {who}",
                    action.describe().split(" (").next().unwrap_or_default()
                ),
            ));
            return vec![];
        }
        self.message = None;
        let page = self.table_rows() as isize;
        match action {
            UserAction::Login if self.login_required().is_some() && self.login.is_none() => {
                self.login = Some(LoginState::Starting);
                vec![Command::Login]
            }
            UserAction::Login => {
                self.message = Some((
                    Level::Info,
                    match &self.login {
                        Some(_) => "a login is already waiting for approval".into(),
                        None => "already logged in".into(),
                    },
                ));
                vec![]
            }
            UserAction::Quit => {
                self.quit = true;
                vec![]
            }
            UserAction::Up => self.move_by(-1),
            UserAction::Down => self.move_by(1),
            UserAction::PageUp => self.move_by(-page),
            UserAction::PageDown => self.move_by(page),
            UserAction::Top => self.move_to(0),
            UserAction::Bottom => self.move_to(self.total.saturating_sub(1)),
            UserAction::Filter => {
                self.mode = Mode::Filter;
                vec![]
            }
            UserAction::ClearFilter => {
                self.marked.clear();
                if self.filter.text.is_empty() {
                    return vec![];
                }
                self.filter = TextInput::default();
                self.apply_query()
            }
            UserAction::NextView | UserAction::PrevView => {
                let n = VIEWS.len();
                self.view = if action == UserAction::NextView {
                    (self.view + 1) % n
                } else {
                    (self.view + n - 1) % n
                };
                self.sort_overridden = false;
                self.apply_query()
            }
            UserAction::SortNext => {
                let fields = SortField::ALL;
                let i = fields
                    .iter()
                    .position(|f| *f == self.sort.field)
                    .unwrap_or(0);
                self.sort = Sort {
                    field: fields[(i + 1) % fields.len()],
                    descending: false,
                };
                self.sort_overridden = true;
                self.reload_from_top()
            }
            UserAction::SortReverse => {
                self.sort.descending = !self.sort.descending;
                self.sort_overridden = true;
                self.reload_from_top()
            }
            UserAction::Detail => {
                self.detail = !self.detail;
                let mut commands = self.follow_selection();
                commands.extend(self.load_audit());
                commands
            }
            UserAction::Mark => {
                if let Some(l) = self.current().cloned()
                    && self.marked.remove(&l.id).is_none()
                {
                    self.marked.insert(l.id.clone(), l);
                }
                self.move_by(1)
            }
            UserAction::ClearMarks => {
                self.marked.clear();
                vec![]
            }
            UserAction::Help => {
                self.mode = Mode::Help { scroll: 0 };
                vec![]
            }
            UserAction::Alerts => {
                self.mode = Mode::Alerts { selected: 0 };
                self.unread_alerts = 0;
                vec![Command::Alerts]
            }
            UserAction::Add => {
                self.mode = Mode::Form(Box::new(LicenseForm::add(self.today())));
                vec![]
            }
            UserAction::Edit => {
                if let Some(l) = self.current() {
                    self.mode = Mode::Form(Box::new(LicenseForm::edit(l)));
                }
                vec![]
            }
            UserAction::Remove => {
                let targets = self.targets();
                if targets.is_empty() {
                    return vec![];
                }
                let name = match targets.as_slice() {
                    [one] => format!("“{}”", one.name),
                    many => format!("{} licenses", many.len()),
                };
                let mut requests: Vec<(String, Request)> = targets
                    .iter()
                    .map(|l| {
                        (
                            l.name.to_string(),
                            Request::Remove(RemoveRequest {
                                license: l.id.clone(),
                                version: Some(l.version),
                            }),
                        )
                    })
                    .collect();
                let edit = Edit::Remove {
                    ids: targets.iter().map(|l| l.id.clone()).collect(),
                    name: name.clone(),
                };
                let command = if requests.len() == 1 {
                    Command::Edit {
                        edit,
                        request: requests.remove(0).1,
                    }
                } else {
                    Command::Bulk {
                        summary: format!("removed {name}"),
                        requests,
                    }
                };
                self.mode = Mode::Confirm(Confirm {
                    title: format!("Remove {name}?"),
                    lines: targets
                        .iter()
                        .map(|l| {
                            format!(
                                "{}  {}  {}",
                                format::short_id(&l.id),
                                l.name,
                                format::assignees(l, 3)
                            )
                        })
                        .collect(),
                    command,
                });
                vec![]
            }
            UserAction::Undo => {
                let ids = std::mem::take(&mut self.last_removed);
                if ids.is_empty() {
                    self.message = Some((Level::Info, "nothing to restore".into()));
                    return vec![];
                }
                let requests = ids
                    .into_iter()
                    .map(|id| (id.to_string(), Request::Restore(LicenseRef { license: id })))
                    .collect::<Vec<_>>();
                vec![Command::Bulk {
                    summary: format!("restored {} license(s)", requests.len()),
                    requests,
                }]
            }
            UserAction::Assign | UserAction::Unassign => {
                let targets = self.targets();
                if targets.is_empty() {
                    return vec![];
                }
                let purpose = if action == UserAction::Assign {
                    PromptFor::Assign
                } else {
                    PromptFor::Unassign
                };
                let prefill = match (purpose, targets.as_slice()) {
                    (PromptFor::Unassign, [one]) => one
                        .assignments
                        .first()
                        .map(|a| format::assignee(&a.assignee))
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                self.mode = Mode::Prompt(Prompt {
                    purpose,
                    targets,
                    input: TextInput::new(&prefill),
                    error: None,
                });
                vec![]
            }
        }
    }

    /// The marked licenses, or the one under the cursor.
    fn targets(&self) -> Vec<License> {
        if self.marked.is_empty() {
            self.current().cloned().into_iter().collect()
        } else {
            self.marked.values().cloned().collect()
        }
    }

    /// In the alerts panel: move, show the license of an alert, or close.
    fn on_alerts_key(&mut self, selected: usize, key: KeyEvent) -> Vec<Command> {
        let count = match &self.alerts {
            Some(Ok(list)) => list.alerts.len(),
            _ => 0,
        };
        let action = self.keymap.action(&key);
        let selected = match (key.code, action) {
            (_, Some(UserAction::Down)) => (selected + 1).min(count.saturating_sub(1)),
            (_, Some(UserAction::Up)) => selected.saturating_sub(1),
            (_, Some(UserAction::Top)) => 0,
            (_, Some(UserAction::Bottom)) => count.saturating_sub(1),
            (KeyCode::Enter, _) => {
                let Some(Ok(list)) = &self.alerts else {
                    return vec![];
                };
                let Some(alert) = list.alerts.get(selected) else {
                    return vec![];
                };
                // The license on its own, with its details: esc brings the list back.
                self.filter = TextInput::new(&format!("id:{}", alert.license));
                self.detail = true;
                return self.apply_query();
            }
            _ => return vec![],
        };
        self.mode = Mode::Alerts { selected };
        vec![]
    }

    fn on_filter_key(&mut self, key: KeyEvent) -> Vec<Command> {
        match key.code {
            KeyCode::Enter | KeyCode::Down => vec![],
            KeyCode::Esc => {
                self.filter = TextInput::default();
                self.apply_query()
            }
            _ => {
                self.mode = Mode::Filter;
                if self.filter.handle(&key) {
                    self.apply_query()
                } else {
                    vec![]
                }
            }
        }
    }

    fn on_form_key(&mut self, mut form: Box<LicenseForm>, key: KeyEvent) -> Vec<Command> {
        let fields = form::Field::ALL.len();
        let save = key.code == KeyCode::Char('s') && key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => return vec![],
            KeyCode::Tab | KeyCode::Down => form.focus = (form.focus + 1) % fields,
            KeyCode::BackTab | KeyCode::Up => form.focus = (form.focus + fields - 1) % fields,
            KeyCode::Enter if form.focus + 1 < fields && !save => form.focus += 1,
            _ if save || key.code == KeyCode::Enter => {
                let request = match &form.editing {
                    None => form
                        .to_new()
                        .map(|license| (Edit::Create, Request::Create(CreateRequest { license }))),
                    Some(l) => form.to_patch().map(|patch| {
                        (
                            Edit::Update,
                            Request::Update(UpdateRequest {
                                license: l.id.clone(),
                                version: l.version,
                                patch,
                            }),
                        )
                    }),
                };
                match request {
                    Ok((_, Request::Update(u))) if u.patch.is_empty() => {
                        self.message = Some((Level::Info, "nothing changed".into()));
                        return vec![];
                    }
                    Ok((edit, request)) => {
                        form.submitting = true;
                        form.server_error = None;
                        self.mode = Mode::Form(form);
                        return vec![Command::Edit { edit, request }];
                    }
                    Err((field, _)) => {
                        form.attempted = true;
                        form.focus = form::Field::ALL
                            .iter()
                            .position(|f| *f == field)
                            .unwrap_or(0);
                    }
                }
            }
            _ => {
                if form.focused_input().handle(&key) {
                    form.server_error = None;
                }
            }
        }
        self.mode = Mode::Form(form);
        vec![]
    }

    fn on_prompt_key(&mut self, mut prompt: Prompt, key: KeyEvent) -> Vec<Command> {
        match key.code {
            KeyCode::Esc => vec![],
            KeyCode::Enter => match self.prompt_command(&prompt) {
                Ok((command, preview)) if prompt.targets.len() > 1 => {
                    self.mode = Mode::Confirm(Confirm {
                        title: preview.0,
                        lines: preview.1,
                        command,
                    });
                    vec![]
                }
                Ok((command, _)) => vec![command],
                Err(e) => {
                    prompt.error = Some(e);
                    self.mode = Mode::Prompt(prompt);
                    vec![]
                }
            },
            _ => {
                if prompt.input.handle(&key) {
                    prompt.error = None;
                }
                self.mode = Mode::Prompt(prompt);
                vec![]
            }
        }
    }

    /// The command a prompt's answer stands for, with a preview (title, lines) of it.
    #[allow(clippy::type_complexity)]
    fn prompt_command(&self, prompt: &Prompt) -> Result<(Command, (String, Vec<String>)), String> {
        let assignee = parse_assignee(&prompt.input.text)?;
        let who = format::assignee(&assignee);
        let mut requests = Vec::new();
        let mut lines = Vec::new();
        for l in &prompt.targets {
            let label = l.name.to_string();
            match prompt.purpose {
                PromptFor::Assign => {
                    if l.assignments.iter().any(|a| a.assignee == assignee) {
                        lines.push(format!("  skip  {label}: already assigned"));
                        continue;
                    }
                    let seats = match l.seats_free() {
                        Some(0) => " — no free seat, will be refused".to_owned(),
                        Some(n) => format!(" ({n} seats free)"),
                        None => String::new(),
                    };
                    lines.push(format!("  + {who} → {label}{seats}"));
                    requests.push((
                        label,
                        Request::Assign(AssignRequest {
                            license: l.id.clone(),
                            to: assignee.clone(),
                        }),
                    ));
                }
                PromptFor::Unassign => {
                    match l.assignments.iter().find(|a| a.assignee == assignee) {
                        Some(a) => {
                            lines.push(format!("  - {who} ✕ {label}"));
                            requests.push((
                                label,
                                Request::Unassign(UnassignRequest {
                                    license: l.id.clone(),
                                    assignment: a.id.clone(),
                                }),
                            ));
                        }
                        None => lines.push(format!("  skip  {label}: not assigned to {who}")),
                    }
                }
            }
        }
        if requests.is_empty() {
            return Err(lines
                .first()
                .map(|l| l.trim().trim_start_matches("skip").trim().to_owned())
                .unwrap_or_else(|| "nothing to do".into()));
        }
        let verb = match prompt.purpose {
            PromptFor::Assign => "Assign",
            PromptFor::Unassign => "Unassign",
        };
        let title = format!("{verb} {who} on {} license(s)?", requests.len());
        let summary = format!(
            "{}ed {who} on {} license(s)",
            verb.to_lowercase(),
            requests.len()
        );
        let command = if requests.len() == 1 && prompt.targets.len() == 1 {
            let (_, request) = requests.remove(0);
            Command::Edit {
                edit: Edit::Assign(summary),
                request,
            }
        } else {
            Command::Bulk { summary, requests }
        };
        Ok((command, (title, lines)))
    }

    /// Parses the view and the filter line; on success lists from the top.
    fn apply_query(&mut self) -> Vec<Command> {
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
    fn parse_query(&self) -> Result<Query, QueryError> {
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
    fn reload_from_top(&mut self) -> Vec<Command> {
        self.selected = 0;
        self.top = 0;
        let rows = self.table_rows();
        self.request(0, rows * 2)
    }

    /// Lists the window around the cursor again (after a change, or a new query).
    fn refresh(&mut self) -> Vec<Command> {
        let rows = self.table_rows();
        let offset = self.selected.saturating_sub(rows);
        self.request(offset, rows * 3)
    }

    fn request(&mut self, offset: usize, limit: usize) -> Vec<Command> {
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
            },
        }]
    }

    fn move_by(&mut self, delta: isize) -> Vec<Command> {
        let target = self.selected.saturating_add_signed(delta);
        self.move_to(target.min(self.total.saturating_sub(1)))
    }

    fn move_to(&mut self, index: usize) -> Vec<Command> {
        let before = self.selected;
        self.selected = index;
        let mut commands = self.follow_selection();
        if before != self.selected {
            commands.extend(self.load_audit());
        }
        commands
    }

    /// Scrolls so the cursor is visible, and asks for rows not yet loaded.
    fn follow_selection(&mut self) -> Vec<Command> {
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

    fn load_audit(&mut self) -> Vec<Command> {
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

/// `employee:alice`, `device:LAPTOP-7`, or a bare name (an employee).
pub fn parse_assignee(raw: &str) -> Result<Assignee, String> {
    let raw = raw.trim();
    let (kind, name) = raw.split_once(':').unwrap_or(("employee", raw));
    if name.trim().is_empty() {
        return Err("type employee:NAME or device:NAME".into());
    }
    match kind.trim() {
        "employee" | "e" => name
            .parse()
            .map(Assignee::Employee)
            .map_err(|e: lm_protocol::FieldError| e.message),
        "device" | "d" => name
            .parse()
            .map(Assignee::Device)
            .map_err(|e: lm_protocol::FieldError| e.message),
        other => Err(format!("`{other}` is neither employee nor device")),
    }
}

/// The audit request the runtime sends for a license's history.
pub fn audit_request(license: &LicenseId) -> Request {
    Request::Audit(AuditRequest {
        query: AuditQuery {
            record: Some(license.to_string()),
            limit: 50,
            ..AuditQuery::default()
        },
    })
}

#[cfg(test)]
pub(crate) mod tests;
