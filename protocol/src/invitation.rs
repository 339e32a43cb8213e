//! One-time links a manager hands over however they like (no mail server needed): an
//! invitation to join the organization, or a password reset for a member.

use crate::principal::Role;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum InvitationKind {
    /// Someone new joins as `name` with `role` and chooses a password.
    Invite,
    /// Member `name` chooses a new password; the old one and every login ended when the link
    /// was made.
    Reset,
}

/// `POST /v1/invitations`: whom to invite, as what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    /// The name they will sign in with: 1 to 64 letters, digits, `.`, `_`, `-` or `@`.
    pub name: String,
    pub role: Role,
    /// A word for the other managers: who this is, why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A link that is still open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invitation {
    /// What resending or revoking it names.
    pub id: String,
    pub kind: InvitationKind,
    pub name: String,
    pub role: Role,
    pub note: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A link just made: the only time its code is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IssuedInvitation {
    pub invitation: Invitation,
    /// The page to open: `<public url>/invite/<code>`.
    pub link: String,
}

/// Whether `name` may be a member's name: 1 to 64 letters, digits, `.`, `_`, `-` or `@` —
/// what `lm-server user add` takes.
pub fn check_member_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err("must be 1 to 64 letters, digits, `.`, `_`, `-` or `@`".into())
    }
}
