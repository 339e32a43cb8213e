//! Service accounts an organization's managers run: OAuth clients that act for the
//! organization with `client_credentials` (a script, an inventory sync), each with a secret.

use crate::principal::Role;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A service account as its organization's managers see it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceAccount {
    /// The client id it authenticates with; its tokens' subject is `client:<id>`.
    pub id: String,
    pub name: String,
    /// What it acts as in the organization.
    pub role: Role,
    pub created_at: DateTime<Utc>,
    /// Until when the secret it had before its last rotation still works, if it does.
    pub previous_secret_until: Option<DateTime<Utc>>,
}

/// `POST /v1/oauth-clients`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewServiceAccount {
    /// 1 to 64 letters, digits, `.`, `_`, `-` or `@`; never reused.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub role: Role,
}

/// `PATCH /v1/oauth-clients/{id}`: what is given changes, what is absent stays.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountPatch {
    /// 1 to 100 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What it acts as from its next request on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

/// `POST /v1/oauth-clients/{id}/secret`: how long the secret being replaced keeps working.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SecretRotation {
    /// Minutes, 0 (at once) to 10080 (a week); 60 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_minutes: Option<u32>,
}

impl SecretRotation {
    pub const DEFAULT_GRACE_MINUTES: u32 = 60;
    pub const MAX_GRACE_MINUTES: u32 = 7 * 24 * 60;
}

/// A secret just made: the only time it is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IssuedSecret {
    pub id: String,
    pub secret: String,
    /// Until when the replaced secret still works (after a rotation).
    pub previous_secret_until: Option<DateTime<Utc>>,
}
