//! The People screen: the organization's members as lmd caches them (also offline), their
//! filter line (`role:manager status:disabled "ann"`), a member's detail with what they
//! hold, and the managers' edits — invite, role, disable, password reset, offboarding with a
//! preview — each asked for again before it is sent.

use super::*;
use lm_protocol::invitation::check_member_name;
use lm_protocol::socket::{
    ChangeMemberRequest, InviteRequest, MemberDetail, MemberRef, MemberWindow, MembersRequest,
    OffboardRequest,
};
use lm_protocol::{Member, MemberFilter, MemberPatch, MemberStatus, NewInvitation, Offboarding};

/// Which screen the body shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Licenses,
    People,
    Insights,
}

/// How many members one window holds around the selection.
const WINDOW: usize = 500;

/// The People screen's state.
#[derive(Debug, Clone, Default)]
pub struct PeopleState {
    pub filter: TextInput,
    pub error: Option<QueryError>,
    selection: MemberFilter,
    pub window: Option<MemberWindow>,
    pub total: usize,
    pub selected: usize,
    pub top: usize,
    /// The detail pane is open.
    pub detail: bool,
    /// The selected member with what they hold, as last loaded.
    pub member: Option<Result<MemberDetail, String>>,
    pub loading: bool,
    seq: u64,
}

impl PeopleState {
    /// The member at `index` of the whole listing, when it is in the loaded window.
    pub fn row(&self, index: usize) -> Option<&Member> {
        let window = self.window.as_ref()?;
        index
            .checked_sub(window.offset)
            .and_then(|i| window.items.get(i))
    }

    pub fn current(&self) -> Option<&Member> {
        self.row(self.selected)
    }
}

/// The invitation dialog: whom, as what.
#[derive(Debug, Clone, PartialEq)]
pub struct InviteForm {
    pub name: TextInput,
    pub role: Role,
    pub error: Option<String>,
    pub submitting: bool,
}

/// A one-time link to hand over, shown once.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkShown {
    pub title: String,
    pub link: String,
    pub expires: DateTime<Utc>,
    pub copied: bool,
}

impl App {
    /// Opens the People screen (from the licenses).
    pub(super) fn open_people(&mut self) -> Vec<Command> {
        self.screen = Screen::People;
        self.people_query()
    }

    /// Back to the licenses, at view `view`.
    fn close_people(&mut self, view: usize) -> Vec<Command> {
        self.screen = Screen::Licenses;
        self.view = view;
        self.sort_overridden = false;
        self.apply_query()
    }

    /// How many member rows fit.
    pub fn people_rows(&self) -> usize {
        let body = self.size.1.saturating_sub(CHROME_ROWS);
        let rows = if self.people.detail {
            body - body / 2
        } else {
            body
        };
        usize::from(rows.max(1))
    }

    /// Reads the filter line again and lists from the top.
    pub(super) fn people_query(&mut self) -> Vec<Command> {
        match MemberFilter::parse(&self.people.filter.text) {
            Ok(filter) => {
                self.people.error = None;
                self.people.selection = filter;
                self.people.selected = 0;
                self.people.top = 0;
                // The rows shown stay until the answer replaces them.
                self.request_members()
            }
            Err(e) => {
                self.people.error = Some(e);
                vec![]
            }
        }
    }

    /// Lists the window of members around the selection again (after a change).
    pub(super) fn request_members(&mut self) -> Vec<Command> {
        self.people.seq += 1;
        self.people.loading = true;
        vec![Command::Members {
            seq: self.people.seq,
            request: MembersRequest {
                filter: self.people.selection.clone(),
                offset: self.people.selected.saturating_sub(WINDOW / 2),
                limit: WINDOW,
            },
        }]
    }

    pub(super) fn on_members_listed(
        &mut self,
        seq: u64,
        result: Result<MemberWindow, String>,
    ) -> Vec<Command> {
        if seq != self.people.seq {
            return vec![];
        }
        self.people.loading = false;
        match result {
            Ok(window) => {
                let previous = self.people.current().map(|m| m.name.clone());
                self.people.total = window.total;
                if let Some(name) = previous
                    && let Some(i) = window.items.iter().position(|m| m.name == name)
                {
                    self.people.selected = window.offset + i;
                }
                self.people.window = Some(window);
                if self.people.selected >= self.people.total {
                    self.people.selected = self.people.total.saturating_sub(1);
                }
                self.people_follow()
            }
            Err(e) => {
                self.message = Some((Level::Error, e));
                vec![]
            }
        }
    }

    /// Keeps the selection on screen, loads the window it moved into, and the detail of the
    /// member under it.
    fn people_follow(&mut self) -> Vec<Command> {
        let rows = self.people_rows();
        let people = &mut self.people;
        if people.selected < people.top {
            people.top = people.selected;
        } else if people.selected >= people.top + rows {
            people.top = people.selected + 1 - rows;
        }
        let loaded = people.window.as_ref().is_some_and(|w| {
            (w.offset..w.offset + w.items.len()).contains(&people.selected) || w.items.is_empty()
        });
        if !loaded && !people.loading {
            return self.request_members();
        }
        self.load_member()
    }

    fn load_member(&mut self) -> Vec<Command> {
        if !self.people.detail {
            return vec![];
        }
        match self.people.current() {
            Some(m) => vec![Command::Member(m.name.clone())],
            None => vec![],
        }
    }

    fn people_move_to(&mut self, index: usize) -> Vec<Command> {
        self.people.selected = index.min(self.people.total.saturating_sub(1));
        self.people_follow()
    }

    fn people_move_by(&mut self, rows: isize) -> Vec<Command> {
        let to = self.people.selected.saturating_add_signed(rows);
        self.people_move_to(to)
    }

    /// A key on the People screen.
    pub(super) fn on_people_action(&mut self, action: UserAction) -> Vec<Command> {
        let page = self.people_rows() as isize;
        match action {
            UserAction::Quit => {
                self.quit = true;
                vec![]
            }
            UserAction::People => self.close_people(self.view),
            UserAction::NextView | UserAction::Insights => self.open_insights(),
            UserAction::PrevView => self.close_people(VIEWS.len() - 1),
            UserAction::Up => self.people_move_by(-1),
            UserAction::Down => self.people_move_by(1),
            UserAction::PageUp => self.people_move_by(-page),
            UserAction::PageDown => self.people_move_by(page),
            UserAction::Top => self.people_move_to(0),
            UserAction::Bottom => self.people_move_to(self.people.total.saturating_sub(1)),
            UserAction::Filter => {
                self.mode = Mode::PeopleFilter;
                vec![]
            }
            UserAction::ClearFilter => {
                if self.people.filter.text.is_empty() {
                    return vec![];
                }
                self.people.filter = TextInput::default();
                self.people_query()
            }
            UserAction::Detail => {
                self.people.detail = !self.people.detail;
                self.people_follow()
            }
            UserAction::Help => self.open_help(),
            UserAction::Alerts => self.open_alerts(),
            UserAction::Login => self.on_login_key(),
            UserAction::Invite => {
                self.mode = Mode::Invite(InviteForm {
                    name: TextInput::default(),
                    role: Role::Employee,
                    error: None,
                    submitting: false,
                });
                vec![]
            }
            UserAction::ChangeRole
            | UserAction::Disable
            | UserAction::ResetPassword
            | UserAction::Offboard => self.confirm_member_edit(action),
            _ => {
                let people = self.keymap.first_key(UserAction::People);
                self.message = Some((
                    Level::Info,
                    format!("that is for licenses: {people} goes back to them"),
                ));
                vec![]
            }
        }
    }

    /// Asks before a change of the member under the cursor; offboarding first asks lmd what
    /// it would release.
    fn confirm_member_edit(&mut self, action: UserAction) -> Vec<Command> {
        let Some(member) = self.people.current().cloned() else {
            return vec![];
        };
        let name = member.name.clone();
        if member.status == MemberStatus::Invited {
            self.message = Some((
                Level::Info,
                format!("{name} has not joined yet; their invitation is open"),
            ));
            return vec![];
        }
        let (title, lines, edit, request) = match action {
            UserAction::ChangeRole => {
                let role = match member.role {
                    Role::Manager => Role::Employee,
                    Role::Employee => Role::Manager,
                };
                (
                    format!("Make {name} {} {}?", article(role), role.as_str()),
                    vec![match role {
                        Role::Manager => format!("{name} may then change licenses and people."),
                        Role::Employee => format!("{name} may then only read."),
                    }],
                    Edit::Member(format!("{name} is now {} {}", article(role), role.as_str())),
                    Request::ChangeMember(ChangeMemberRequest {
                        name: name.clone(),
                        patch: MemberPatch {
                            role: Some(role),
                            status: None,
                        },
                    }),
                )
            }
            UserAction::Disable => {
                let (verb, status, line) = match member.status {
                    MemberStatus::Disabled => (
                        "Enable",
                        MemberStatus::Active,
                        format!("{name} may sign in again."),
                    ),
                    _ => (
                        "Disable",
                        MemberStatus::Disabled,
                        format!("{name} is signed out everywhere within seconds."),
                    ),
                };
                (
                    format!("{verb} {name}?"),
                    vec![line],
                    Edit::Member(format!("{name} is {status}")),
                    Request::ChangeMember(ChangeMemberRequest {
                        name: name.clone(),
                        patch: MemberPatch {
                            role: None,
                            status: Some(status),
                        },
                    }),
                )
            }
            UserAction::ResetPassword => (
                format!("Reset {name}'s password?"),
                vec![
                    format!("{name}'s password and every login end now;"),
                    "you get a link to hand over, to choose a new one.".into(),
                ],
                Edit::Link(format!("Password reset for {name}")),
                Request::ResetPassword(MemberRef { name: name.clone() }),
            ),
            _ => {
                self.message = Some((Level::Info, format!("what offboarding {name} releases…")));
                return vec![Command::Edit {
                    edit: Edit::OffboardPreview,
                    request: Request::Offboard(OffboardRequest {
                        name,
                        dry_run: true,
                    }),
                }];
            }
        };
        self.mode = Mode::Confirm(Confirm {
            title,
            lines,
            command: Command::Edit { edit, request },
        });
        vec![]
    }

    /// The preview of an offboarding came: ask, naming the person and listing what goes.
    pub(super) fn confirm_offboarding(&mut self, preview: Offboarding) {
        let name = preview.member.clone();
        let mut lines = match preview.released.len() {
            0 => vec![format!("{name} holds no license.")],
            n => vec![format!("Releases {n} license(s) and seat(s) {name} holds:")],
        };
        const SHOWN: usize = 8;
        for r in preview.released.iter().take(SHOWN) {
            let what = if r.seat { "seat of" } else { "license" };
            lines.push(format!("  - {what} {}", r.license_name));
        }
        if preview.released.len() > SHOWN {
            lines.push(format!("  … and {} more", preview.released.len() - SHOWN));
        }
        lines.push(if preview.disabled {
            format!("Disables {name}'s account and ends every login.")
        } else {
            format!("{name} is disabled already.")
        });
        self.message = None;
        self.mode = Mode::Confirm(Confirm {
            title: format!("Offboard {name}?"),
            lines,
            command: Command::Edit {
                edit: Edit::Offboard,
                request: Request::Offboard(OffboardRequest {
                    name,
                    dry_run: false,
                }),
            },
        });
    }

    pub(super) fn on_people_filter_key(&mut self, key: KeyEvent) -> Vec<Command> {
        match key.code {
            KeyCode::Enter | KeyCode::Down => vec![],
            KeyCode::Esc => {
                self.people.filter = TextInput::default();
                self.people_query()
            }
            _ => {
                self.mode = Mode::PeopleFilter;
                if self.people.filter.handle(&key) {
                    self.people_query()
                } else {
                    vec![]
                }
            }
        }
    }

    pub(super) fn on_invite_key(&mut self, mut form: InviteForm, key: KeyEvent) -> Vec<Command> {
        match key.code {
            KeyCode::Esc => return vec![],
            KeyCode::Tab | KeyCode::BackTab => {
                form.role = match form.role {
                    Role::Manager => Role::Employee,
                    Role::Employee => Role::Manager,
                };
            }
            KeyCode::Enter if !form.submitting => {
                let name = form.name.text.trim().to_owned();
                match check_member_name(&name) {
                    Ok(()) => {
                        form.submitting = true;
                        form.error = None;
                        let request = Request::Invite(InviteRequest {
                            invitation: NewInvitation {
                                name: name.clone(),
                                role: form.role,
                                note: None,
                            },
                        });
                        self.mode = Mode::Invite(form);
                        return vec![Command::Edit {
                            edit: Edit::Link(format!("Invitation for {name}")),
                            request,
                        }];
                    }
                    Err(e) => form.error = Some(format!("name: {e}")),
                }
            }
            _ => {
                if form.name.handle(&key) {
                    form.error = None;
                }
            }
        }
        self.mode = Mode::Invite(form);
        vec![]
    }

    pub(super) fn on_link_key(&mut self, mut shown: LinkShown, key: KeyEvent) -> Vec<Command> {
        match key.code {
            KeyCode::Char('c') | KeyCode::Char('y') => {
                shown.copied = true;
                let link = shown.link.clone();
                self.mode = Mode::Link(shown);
                vec![Command::Copy(link)]
            }
            KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') => vec![],
            _ => {
                self.mode = Mode::Link(shown);
                vec![]
            }
        }
    }

    /// lmd said which members changed: list again, and the detail if it is one of them.
    pub(super) fn on_members_changed(&mut self, names: &[String]) -> Vec<Command> {
        if self.screen != Screen::People {
            return vec![];
        }
        let mut commands = self.request_members();
        if self.people.detail
            && let Some(m) = self.people.current()
            && names.contains(&m.name)
        {
            commands.push(Command::Member(m.name.clone()));
        }
        commands
    }
}

fn article(role: Role) -> &'static str {
    match role {
        Role::Manager => "a",
        Role::Employee => "an",
    }
}

#[cfg(test)]
pub(crate) mod tests;
