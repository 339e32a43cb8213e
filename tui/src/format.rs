//! How license values read to a person, shared by the TUI and the CLI's tables.

use chrono::{DateTime, NaiveDate, Utc};
use lm_protocol::socket::{Connection, Status};
use lm_protocol::{Assignee, License, LicenseId};

/// How soon a license expires, which decides its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Urgency {
    Expired,
    Within7Days,
    Within30Days,
    Later,
    Never,
}

pub fn urgency(expires: Option<NaiveDate>, today: NaiveDate) -> Urgency {
    let Some(expires) = expires else {
        return Urgency::Never;
    };
    match (expires - today).num_days() {
        d if d < 0 => Urgency::Expired,
        d if d <= 7 => Urgency::Within7Days,
        d if d <= 30 => Urgency::Within30Days,
        _ => Urgency::Later,
    }
}

/// The part of an id shown in tables: its last 8 characters, the random part of a UUIDv7.
/// Any unique part of an id is accepted wherever the CLI takes one.
pub fn short_id(id: &LicenseId) -> &str {
    let s = id.as_str();
    &s[s.len().saturating_sub(8)..]
}

/// `3/10`, or `3/∞` without a seat limit.
pub fn seats(license: &License) -> String {
    match license.seats {
        Some(total) => format!("{}/{}", license.seats_used, total),
        None => format!("{}/∞", license.seats_used),
    }
}

/// `alice, LAPTOP-7 +2`: the first assignees, then how many more (also those the license
/// does not list).
pub fn assignees(license: &License, shown: usize) -> String {
    let mut labels: Vec<&str> = license
        .assignments
        .iter()
        .map(|a| a.assignee.label())
        .collect();
    let more = labels.len().saturating_sub(shown) + license.unlisted_assignments() as usize;
    labels.truncate(shown);
    let mut text = labels.join(", ");
    if more > 0 {
        text.push_str(&format!(" +{more}"));
    }
    text
}

pub fn assignee(a: &Assignee) -> String {
    match a {
        Assignee::Employee(e) => format!("employee:{e}"),
        Assignee::Device(d) => format!("device:{d}"),
    }
}

pub fn date(d: Option<NaiveDate>) -> String {
    d.map(|d| d.to_string()).unwrap_or_else(|| "—".into())
}

/// `12s`, `5m`, `3h`, `2d`: how long ago `then` was.
pub fn age(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - then).num_seconds().max(0);
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// `live`, `syncing 42%`, `offline since 14:02 (3m)`, `login required`.
pub fn connection(status: &Status, now: DateTime<Utc>) -> String {
    match &status.connection {
        Connection::Live => "live".into(),
        Connection::Syncing { done, total } if *total > 0 => {
            format!("syncing {}%", (done * 100 / total).min(100))
        }
        Connection::Syncing { .. } => "syncing".into(),
        Connection::Offline { since, .. } => format!(
            "offline since {} ({})",
            since.format("%H:%M"),
            age(*since, now)
        ),
        Connection::LoginRequired { .. } => "login required".into(),
    }
}

/// Cuts `text` to `width` characters, ending with `…` when it was longer.
pub fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `text` in at most `width` characters, cut in the middle: the start and the end stay,
/// since names that share a start ("Creative Cloud, design", "Creative Cloud, marketing")
/// differ at the end.
pub fn elide_middle(text: &str, width: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= width {
        return text.to_owned();
    }
    if width < 2 {
        return "…".chars().take(width).collect();
    }
    let head = (width - 1) * 2 / 5;
    let tail = width - 1 - head;
    let mut out: String = chars[..head].iter().collect();
    out.push('…');
    out.extend(&chars[chars.len() - tail..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_name_keeps_its_start_and_its_end() {
        assert_eq!(
            elide_middle("1Password Business, design #155", 20),
            "1Passwo… design #155"
        );
        assert_eq!(elide_middle("Office 365 E3", 20), "Office 365 E3");
        assert_eq!(elide_middle("abcdef", 1), "…");
        assert_eq!(elide_middle("abcdef", 0), "");
    }

    #[test]
    fn urgency_follows_the_days_left() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        let at = |days: i64| Some(today + chrono::Duration::days(days));
        assert_eq!(urgency(at(-1), today), Urgency::Expired);
        assert_eq!(urgency(at(0), today), Urgency::Within7Days);
        assert_eq!(urgency(at(7), today), Urgency::Within7Days);
        assert_eq!(urgency(at(30), today), Urgency::Within30Days);
        assert_eq!(urgency(at(31), today), Urgency::Later);
        assert_eq!(urgency(None, today), Urgency::Never);
    }

    #[test]
    fn truncation_marks_what_was_cut() {
        assert_eq!(truncate("Creative Cloud", 8), "Creativ…");
        assert_eq!(truncate("Office", 8), "Office");
    }
}
