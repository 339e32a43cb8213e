//! The key map: which key does what while browsing. Defaults have vim keys and arrows; a
//! TOML file (`~/.config/lm/keys.toml`) rebinds any action by name:
//!
//! ```toml
//! [keys]
//! down = ["j", "down", "ctrl-n"]
//! remove = ["x"]
//! ```
//!
//! Text fields (the filter line, forms) always take typed characters; only browsing keys
//! are configurable. The help screen is generated from this map.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// Something the user asks for while browsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserAction {
    Quit,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Filter,
    ClearFilter,
    NextView,
    PrevView,
    SortNext,
    SortReverse,
    Detail,
    Mark,
    ClearMarks,
    Add,
    Edit,
    Remove,
    Undo,
    Assign,
    Unassign,
    Login,
    Alerts,
    People,
    Insights,
    Invite,
    ChangeRole,
    Disable,
    ResetPassword,
    Offboard,
    Help,
}

impl UserAction {
    pub const ALL: [UserAction; 32] = [
        UserAction::Up,
        UserAction::Down,
        UserAction::PageUp,
        UserAction::PageDown,
        UserAction::Top,
        UserAction::Bottom,
        UserAction::Filter,
        UserAction::ClearFilter,
        UserAction::NextView,
        UserAction::PrevView,
        UserAction::SortNext,
        UserAction::SortReverse,
        UserAction::Detail,
        UserAction::Mark,
        UserAction::ClearMarks,
        UserAction::Add,
        UserAction::Edit,
        UserAction::Remove,
        UserAction::Undo,
        UserAction::Assign,
        UserAction::Unassign,
        UserAction::Login,
        UserAction::Alerts,
        UserAction::People,
        UserAction::Insights,
        UserAction::Invite,
        UserAction::ChangeRole,
        UserAction::Disable,
        UserAction::ResetPassword,
        UserAction::Offboard,
        UserAction::Help,
        UserAction::Quit,
    ];

    pub fn describe(self) -> &'static str {
        match self {
            UserAction::Quit => "quit",
            UserAction::Up => "previous license",
            UserAction::Down => "next license",
            UserAction::PageUp => "page up",
            UserAction::PageDown => "page down",
            UserAction::Top => "first license",
            UserAction::Bottom => "last license",
            UserAction::Filter => "filter (query language, applied as you type)",
            UserAction::ClearFilter => "clear the filter and marks",
            UserAction::NextView => "next saved view",
            UserAction::PrevView => "previous saved view",
            UserAction::SortNext => "sort by the next column",
            UserAction::SortReverse => "reverse the sort order",
            UserAction::Detail => "show or hide the detail pane",
            UserAction::Mark => "mark or unmark for a bulk action",
            UserAction::ClearMarks => "unmark all",
            UserAction::Add => "add a license",
            UserAction::Edit => "edit the license",
            UserAction::Remove => "remove the license (or the marked ones)",
            UserAction::Undo => "restore the license removed last",
            UserAction::Assign => "assign to an employee or device (bulk when marked)",
            UserAction::Unassign => "remove an assignment (bulk when marked)",
            UserAction::Login => "log in (when lmd asks for a login)",
            UserAction::Alerts => "expiry alerts in effect (enter shows the license)",
            UserAction::People => "people of the organization (again: back to licenses)",
            UserAction::Insights => "insights: renewals, spend, seats, reclaim, trend charts",
            UserAction::Invite => "people: invite someone (a link to hand over)",
            UserAction::ChangeRole => "people: make manager or employee",
            UserAction::Disable => "people: disable or enable (ends every login)",
            UserAction::ResetPassword => "people: reset the password (a link to hand over)",
            UserAction::Offboard => "people: offboard (release everything they hold, disable)",
            UserAction::Help => "this help",
        }
    }

    /// Whether only managers may do it; employees are told so instead.
    pub fn manager_only(self) -> bool {
        matches!(
            self,
            UserAction::Add
                | UserAction::Edit
                | UserAction::Remove
                | UserAction::Undo
                | UserAction::Assign
                | UserAction::Unassign
                | UserAction::Invite
                | UserAction::ChangeRole
                | UserAction::Disable
                | UserAction::ResetPassword
                | UserAction::Offboard
        )
    }
}

/// One key with its modifiers, written `j`, `ctrl-c`, `shift-tab`, `pagedown`, `?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyCombo {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

impl KeyCombo {
    pub fn from_event(event: &KeyEvent) -> KeyCombo {
        // A typed capital or symbol already says shift; only ctrl and alt distinguish.
        let mut modifiers = event.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
        if matches!(event.code, KeyCode::BackTab) {
            modifiers = KeyModifiers::NONE;
        }
        KeyCombo {
            code: event.code,
            modifiers,
        }
    }

    pub fn parse(raw: &str) -> Result<KeyCombo, String> {
        let mut modifiers = KeyModifiers::NONE;
        let mut rest = raw;
        loop {
            let lower = rest.to_ascii_lowercase();
            if let Some(r) = lower.strip_prefix("ctrl-") {
                modifiers |= KeyModifiers::CONTROL;
                rest = &rest[rest.len() - r.len()..];
            } else if let Some(r) = lower.strip_prefix("alt-") {
                modifiers |= KeyModifiers::ALT;
                rest = &rest[rest.len() - r.len()..];
            } else {
                break;
            }
        }
        let code = match rest.to_ascii_lowercase().as_str() {
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pageup" => KeyCode::PageUp,
            "pagedown" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "shift-tab" | "backtab" => KeyCode::BackTab,
            "space" => KeyCode::Char(' '),
            "delete" => KeyCode::Delete,
            "backspace" => KeyCode::Backspace,
            f if f.starts_with('f') && f.len() > 1 && f[1..].parse::<u8>().is_ok() => {
                KeyCode::F(f[1..].parse().unwrap_or(1))
            }
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => KeyCode::Char(c),
                    _ => return Err(format!("`{raw}` is not a key like j, ctrl-d, pagedown")),
                }
            }
        };
        Ok(KeyCombo { code, modifiers })
    }
}

impl fmt::Display for KeyCombo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.modifiers.contains(KeyModifiers::CONTROL) {
            f.write_str("ctrl-")?;
        }
        if self.modifiers.contains(KeyModifiers::ALT) {
            f.write_str("alt-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::PageUp => f.write_str("pgup"),
            KeyCode::PageDown => f.write_str("pgdn"),
            KeyCode::Home => f.write_str("home"),
            KeyCode::End => f.write_str("end"),
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::BackTab => f.write_str("shift-tab"),
            KeyCode::Delete => f.write_str("del"),
            KeyCode::F(n) => write!(f, "F{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// Browsing keys → actions.
#[derive(Debug, Clone)]
pub struct KeyMap {
    bindings: BTreeMap<UserAction, Vec<KeyCombo>>,
}

impl Default for KeyMap {
    fn default() -> Self {
        let defaults: &[(UserAction, &[&str])] = &[
            (UserAction::Quit, &["q", "ctrl-c"]),
            (UserAction::Up, &["k", "up"]),
            (UserAction::Down, &["j", "down"]),
            (UserAction::PageUp, &["pageup", "ctrl-b", "ctrl-u"]),
            (UserAction::PageDown, &["pagedown", "ctrl-f", "ctrl-d"]),
            (UserAction::Top, &["g", "home"]),
            (UserAction::Bottom, &["G", "end"]),
            (UserAction::Filter, &["/"]),
            (UserAction::ClearFilter, &["esc"]),
            (UserAction::NextView, &["tab", "]"]),
            (UserAction::PrevView, &["shift-tab", "["]),
            (UserAction::SortNext, &["s"]),
            (UserAction::SortReverse, &["S"]),
            (UserAction::Detail, &["enter"]),
            (UserAction::Mark, &["space"]),
            (UserAction::ClearMarks, &["M"]),
            (UserAction::Add, &["n"]),
            (UserAction::Edit, &["e"]),
            (UserAction::Remove, &["d", "delete"]),
            (UserAction::Undo, &["u"]),
            (UserAction::Assign, &["a"]),
            (UserAction::Unassign, &["A"]),
            (UserAction::Login, &["L"]),
            (UserAction::Alerts, &["!"]),
            (UserAction::People, &["p"]),
            (UserAction::Insights, &["I"]),
            (UserAction::Invite, &["i"]),
            (UserAction::ChangeRole, &["r"]),
            (UserAction::Disable, &["D"]),
            (UserAction::ResetPassword, &["P"]),
            (UserAction::Offboard, &["O"]),
            (UserAction::Help, &["?", "F1"]),
        ];
        let bindings = defaults
            .iter()
            .map(|(action, keys)| {
                let combos = keys
                    .iter()
                    .map(|k| KeyCombo::parse(k).expect("default keys parse"))
                    .collect();
                (*action, combos)
            })
            .collect();
        KeyMap { bindings }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    #[serde(default)]
    keys: BTreeMap<String, Vec<String>>,
}

impl KeyMap {
    /// The defaults with the bindings of a `keys.toml` laid over them. Errors name the
    /// action or key at fault.
    pub fn from_toml(text: &str) -> Result<KeyMap, String> {
        let file: KeyFile = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        let mut map = KeyMap::default();
        for (name, keys) in file.keys {
            let action: UserAction =
                serde::Deserialize::deserialize(serde::de::value::StrDeserializer::<
                    serde::de::value::Error,
                >::new(&name))
                .map_err(|_| format!("keys.{name}: not an action"))?;
            let combos = keys
                .iter()
                .map(|k| KeyCombo::parse(k).map_err(|e| format!("keys.{name}: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            map.bindings.insert(action, combos);
        }
        Ok(map)
    }

    pub fn action(&self, event: &KeyEvent) -> Option<UserAction> {
        let combo = KeyCombo::from_event(event);
        self.bindings
            .iter()
            .find(|(_, keys)| keys.contains(&combo))
            .map(|(action, _)| *action)
    }

    /// The keys of `action`, as the help shows them: `j, ↓`.
    pub fn keys_of(&self, action: UserAction) -> String {
        self.bindings
            .get(&action)
            .map(|keys| {
                keys.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    }

    /// The first key of `action`, for hints: `/`.
    pub fn first_key(&self, action: UserAction) -> String {
        self.bindings
            .get(&action)
            .and_then(|keys| keys.first())
            .map(ToString::to_string)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    /// Every line of the help fits an 80-column terminal's help dialog (74 columns inside):
    /// a line that wrapped pushed the help's last line out of its box.
    #[test]
    fn every_action_fits_one_line_of_the_help_at_80_columns() {
        let map = KeyMap::default();
        for action in UserAction::ALL {
            let keys = map.keys_of(action).chars().count().max(16);
            let line = keys + 2 + action.describe().chars().count();
            assert!(line <= 74, "{action:?} takes {line} columns");
        }
    }

    #[test]
    fn vim_keys_and_arrows_both_work() {
        let map = KeyMap::default();
        let none = KeyModifiers::NONE;
        assert_eq!(
            map.action(&key(KeyCode::Char('j'), none)),
            Some(UserAction::Down)
        );
        assert_eq!(
            map.action(&key(KeyCode::Down, none)),
            Some(UserAction::Down)
        );
        assert_eq!(
            map.action(&key(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(UserAction::Bottom)
        );
        assert_eq!(
            map.action(&key(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(UserAction::Quit)
        );
    }

    #[test]
    fn a_key_file_rebinds_by_action_name() {
        let map = KeyMap::from_toml("[keys]\ndown = [\"ctrl-n\"]\nremove = [\"x\"]\n").unwrap();
        let none = KeyModifiers::NONE;
        assert_eq!(
            map.action(&key(KeyCode::Char('n'), KeyModifiers::CONTROL)),
            Some(UserAction::Down)
        );
        assert_eq!(map.action(&key(KeyCode::Char('j'), none)), None);
        assert_eq!(
            map.action(&key(KeyCode::Char('x'), none)),
            Some(UserAction::Remove)
        );
        assert_eq!(map.keys_of(UserAction::Down), "ctrl-n");
    }

    #[test]
    fn bad_key_files_name_the_culprit() {
        let e = KeyMap::from_toml("[keys]\nfly = [\"f\"]\n").unwrap_err();
        assert!(e.contains("keys.fly"), "{e}");
        let e = KeyMap::from_toml("[keys]\ndown = [\"hyper-j\"]\n").unwrap_err();
        assert!(e.contains("hyper-j"), "{e}");
    }
}
