//! The filter line of the People screen and the arguments of `lm people ls`:
//! `role:manager status:disabled "ann"`. The same shape as the license query language —
//! `field:value` terms and free text (quoted to keep spaces) — over a member's role, status
//! and name.

use super::{Member, MemberStatus};
use crate::principal::Role;
use crate::query::{QueryError, tokens};
use serde::{Deserialize, Serialize};

/// Which members to show; what is absent does not narrow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<MemberStatus>,
    /// A part of the name, in any case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// The terms of the filter, for help screens: (syntax, meaning).
pub const MEMBER_QUERY_HELP: &[(&str, &str)] = &[
    ("role:manager", "manager or employee"),
    ("status:disabled", "active, invited or disabled"),
    ("\"ann\"", "a part of the name, any case"),
];

impl MemberFilter {
    /// Reads what a person typed; a mistake names the term, with where it is.
    pub fn parse(input: &str) -> Result<MemberFilter, QueryError> {
        let mut filter = MemberFilter::default();
        let mut words: Vec<String> = Vec::new();
        for token in tokens(input)? {
            let text = &input[token.clone()];
            let term = (!text.starts_with('"'))
                .then(|| text.split_once(':'))
                .flatten();
            let Some((field, value)) = term else {
                words.push(text.replace('"', ""));
                continue;
            };
            let value_span = token.start + field.len() + 1..token.end;
            let error = |message: String| QueryError {
                span: value_span.clone(),
                message,
            };
            match field.to_lowercase().as_str() {
                "role" => {
                    filter.role = Some(value.parse().map_err(|_| {
                        error(format!("`{value}` is not a role; use manager or employee"))
                    })?)
                }
                "status" => filter.status = Some(value.parse().map_err(error)?),
                other => {
                    return Err(QueryError {
                        span: token.start..token.start + field.len(),
                        message: format!("`{other}` is not a field of members; use role or status"),
                    });
                }
            }
        }
        let text = words.join(" ");
        filter.text = (!text.is_empty()).then_some(text);
        Ok(filter)
    }

    /// Whether `member` is one the filter selects.
    pub fn matches(&self, member: &Member) -> bool {
        self.role.is_none_or(|r| r == member.role)
            && self.status.is_none_or(|s| s == member.status)
            && self
                .text
                .as_ref()
                .is_none_or(|t| member.name.to_lowercase().contains(&t.to_lowercase()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn member(name: &str, role: Role, status: MemberStatus) -> Member {
        Member {
            name: name.into(),
            role,
            status,
            created_at: Utc::now(),
            last_sign_in: None,
            second_factor: false,
            licenses: 0,
            seats: 0,
            invited_until: None,
        }
    }

    #[test]
    fn a_filter_line_selects_by_role_status_and_a_part_of_the_name() {
        let filter = MemberFilter::parse(r#"role:manager status:disabled "An""#).unwrap();
        assert_eq!(filter.role, Some(Role::Manager));
        assert_eq!(filter.status, Some(MemberStatus::Disabled));
        assert_eq!(filter.text.as_deref(), Some("An"));
        assert!(filter.matches(&member("joanne", Role::Manager, MemberStatus::Disabled)));
        assert!(!filter.matches(&member("joanne", Role::Employee, MemberStatus::Disabled)));
        assert!(!filter.matches(&member("joanne", Role::Manager, MemberStatus::Active)));
        assert!(!filter.matches(&member("bob", Role::Manager, MemberStatus::Disabled)));
        assert_eq!(MemberFilter::parse("").unwrap(), MemberFilter::default());
        assert_eq!(
            MemberFilter::parse("ann lee").unwrap().text.as_deref(),
            Some("ann lee")
        );
    }

    #[test]
    fn a_mistake_points_at_the_term() {
        let input = "role:boss";
        let error = MemberFilter::parse(input).unwrap_err();
        assert_eq!(&input[error.span.clone()], "boss");
        assert!(error.message.contains("manager or employee"));
        let input = "ann colour:red";
        let error = MemberFilter::parse(input).unwrap_err();
        assert_eq!(&input[error.span.clone()], "colour");
        let error = MemberFilter::parse("status:gone").unwrap_err();
        assert!(
            error.message.contains("active, invited or disabled"),
            "{}",
            error.message
        );
    }
}
