//! API keys: long-lived bearer credentials a person makes for scripts and machines.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Every API key starts with this, so that it is recognizable in a leak scan and never
/// mistaken for a JWT.
pub const PREFIX: &str = "lmk_";

/// What a key is for, as its owner wrote it: 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyLabel(String);

impl KeyLabel {
    pub fn new(text: &str) -> Result<KeyLabel, String> {
        let text = text.trim();
        if text.is_empty() || text.chars().count() > 100 {
            return Err("must be 1 to 100 characters".into());
        }
        if text.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(KeyLabel(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for KeyLabel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        KeyLabel::new(&text).map_err(serde::de::Error::custom)
    }
}

/// `POST /v1/api-keys`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    pub label: KeyLabel,
    /// Days until the key stops working (1 to 3650); absent: it works until revoked.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

/// A key as listed: never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyInfo {
    pub id: String,
    pub owner: String,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The answer to a create: the only time the key itself is shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub info: ApiKeyInfo,
    pub key: String,
}
