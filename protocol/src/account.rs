//! What a person does with their own account: see and end their logins, change their
//! password.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One login of a person: a device or application signed in, which keeps its access by
/// rotating refresh tokens until it is ended or runs out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Login {
    /// What `DELETE /v1/me/logins/{id}` ends.
    pub id: String,
    /// The OAuth client signed in with (`lm` for lmd).
    pub client: String,
    pub first_used: DateTime<Utc>,
    pub last_used: DateTime<Utc>,
}

/// `POST /v1/me/password`: the current password, and the new one.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current: String,
    pub new: String,
}

// By hand: a password never reaches a log.
impl std::fmt::Debug for PasswordChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordChange { current: <redacted>, new: <redacted> }")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show_in_debug_output() {
        let change = PasswordChange {
            current: "old secret".into(),
            new: "new secret".into(),
        };
        let shown = format!("{change:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }
}

/// A new second factor to set up (`POST /v1/me/second-factor/new`): a fresh secret, as the
/// `otpauth://` URI an authenticator app imports and as a QR code to scan. Nothing is stored
/// until a code of it is confirmed with `PUT /v1/me/second-factor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecondFactorSetup {
    /// Base32, as authenticator apps take it typed.
    pub secret: String,
    pub otpauth_uri: String,
    /// The URI as an SVG image.
    pub qr_svg: String,
}

/// `PUT /v1/me/second-factor`: sets up (or replaces) one's second factor, confirmed by the
/// current password and a code of the new secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SecondFactorChange {
    pub password: String,
    /// The secret of a [`SecondFactorSetup`].
    pub secret: String,
    /// A code the authenticator app shows for it now.
    pub code: String,
}

/// `DELETE /v1/me/second-factor`: signs in with the password alone from then on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SecondFactorRemoval {
    pub password: String,
}
