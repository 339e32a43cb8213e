//! Keys while typing: the filter line, the license form and the one-line prompts.

use super::*;

impl App {
    pub(super) fn on_filter_key(&mut self, key: KeyEvent) -> Vec<Command> {
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

    pub(super) fn on_form_key(
        &mut self,
        mut form: Box<LicenseForm>,
        key: KeyEvent,
    ) -> Vec<Command> {
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

    pub(super) fn on_prompt_key(&mut self, mut prompt: Prompt, key: KeyEvent) -> Vec<Command> {
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
    pub(super) fn prompt_command(
        &self,
        prompt: &Prompt,
    ) -> Result<(Command, (String, Vec<String>)), String> {
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
                    // Among the holders the license lists, or perhaps beyond them: lmd,
                    // which knows every holder, finds the assignment.
                    let listed = l.assignments.iter().any(|a| a.assignee == assignee);
                    if listed || l.unlisted_assignments() > 0 {
                        lines.push(format!("  - {who} ✕ {label}"));
                        requests.push((
                            label,
                            Request::Unassign(UnassignRequest {
                                license: l.id.clone(),
                                assignment: None,
                                from: Some(assignee.clone()),
                            }),
                        ));
                    } else {
                        lines.push(format!("  skip  {label}: not assigned to {who}"));
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
        let title = format!(
            "{} {who} on {} license(s)?",
            prompt.purpose.verb(),
            requests.len()
        );
        let summary = format!(
            "{} {who} on {} license(s)",
            prompt.purpose.done(),
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
