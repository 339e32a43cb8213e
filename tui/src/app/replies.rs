//! What the app does with lmd's answers: its status, a window of the list, an edit's outcome.

use super::*;

impl App {
    pub(super) fn on_status(&mut self, status: Status) -> Vec<Command> {
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

    pub(super) fn on_listed(
        &mut self,
        seq: u64,
        result: Result<LicenseWindow, String>,
    ) -> Vec<Command> {
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

    pub(super) fn on_edited(&mut self, edit: Edit, result: Result<Reply, Problem>) -> Vec<Command> {
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
            (Edit::Assign(summary) | Edit::Member(summary), Ok(_)) => {
                self.message = Some((Level::Info, summary));
                vec![]
            }
            (Edit::Link(title), Ok(Reply::Link(issued))) => {
                self.message = None;
                self.mode = Mode::Link(LinkShown {
                    title,
                    link: issued.link,
                    expires: issued.invitation.expires_at,
                    copied: false,
                });
                vec![]
            }
            (Edit::Link(_), Err(p)) if matches!(self.mode, Mode::Invite(_)) => {
                if let Mode::Invite(form) = &mut self.mode {
                    form.submitting = false;
                    form.error = Some(crate::client::problem_text(&p));
                }
                vec![]
            }
            (Edit::OffboardPreview, Ok(Reply::Offboarding(preview))) => {
                self.confirm_offboarding(preview);
                vec![]
            }
            (Edit::Offboard, Ok(Reply::Offboarding(done))) => {
                self.message = Some((
                    Level::Info,
                    format!(
                        "offboarded {}: {} released{}",
                        done.member,
                        done.released.len(),
                        if done.disabled {
                            ", account disabled"
                        } else {
                            ""
                        }
                    ),
                ));
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
}
