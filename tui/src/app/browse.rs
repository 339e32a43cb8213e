//! Keys while browsing the list, and in the alerts panel.

use super::*;

impl App {
    pub(super) fn on_browse_key(&mut self, key: KeyEvent) -> Vec<Command> {
        if self.screen == Screen::Insights
            && let Some(commands) = self.on_insights_key(key)
        {
            self.message = None;
            return commands;
        }
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
        match self.screen {
            Screen::People => return self.on_people_action(action),
            Screen::Insights => return self.on_insights_action(action),
            Screen::Licenses => {}
        }
        let page = self.table_rows() as isize;
        match action {
            UserAction::Login => self.on_login_key(),
            UserAction::People => self.open_people(),
            UserAction::Insights => self.open_insights(),
            UserAction::Invite
            | UserAction::ChangeRole
            | UserAction::Disable
            | UserAction::ResetPassword
            | UserAction::Offboard => {
                let people = self.keymap.first_key(UserAction::People);
                self.message = Some((
                    Level::Info,
                    format!("that is for people: {people} opens them"),
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
                if self.filter.text.is_empty() && self.within.is_none() {
                    return vec![];
                }
                self.filter = TextInput::default();
                if self.within.take().is_some() {
                    self.window = None;
                }
                self.apply_query()
            }
            UserAction::NextView if self.view + 1 == VIEWS.len() => self.open_people(),
            UserAction::PrevView if self.view == 0 => self.open_insights(),
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
            UserAction::Help => self.open_help(),
            UserAction::Alerts => self.open_alerts(),
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

    pub(super) fn open_help(&mut self) -> Vec<Command> {
        self.mode = Mode::Help { scroll: 0 };
        vec![]
    }

    /// Opens the alerts panel, which asks lmd for the alerts in effect.
    pub(super) fn open_alerts(&mut self) -> Vec<Command> {
        self.mode = Mode::Alerts { selected: 0 };
        self.unread_alerts = 0;
        vec![Command::Alerts]
    }

    /// Starts a device login when lmd asks for one.
    pub(super) fn on_login_key(&mut self) -> Vec<Command> {
        if self.login_required().is_some() && self.login.is_none() {
            self.login = Some(LoginState::Starting);
            return vec![Command::Login];
        }
        self.message = Some((
            Level::Info,
            match &self.login {
                Some(_) => "a login is already waiting for approval".into(),
                None => "already logged in".into(),
            },
        ));
        vec![]
    }

    /// The marked licenses, or the one under the cursor.
    pub(super) fn targets(&self) -> Vec<License> {
        if self.marked.is_empty() {
            self.current().cloned().into_iter().collect()
        } else {
            self.marked.values().cloned().collect()
        }
    }

    /// In the alerts panel: move, show the license of an alert, or close.
    pub(super) fn on_alerts_key(&mut self, selected: usize, key: KeyEvent) -> Vec<Command> {
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
}
