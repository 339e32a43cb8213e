//! RFC 9457 problem details and the field-level validation error every constructor returns.

use serde::{Deserialize, Serialize};

/// A value failed validation. `field` is the path of the offending input (`cost.currency`,
/// `expires_from`, `assignments[2].employee`), `message` says which rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Prefixes the field path, e.g. `currency` inside `cost` becomes `cost.currency`.
    pub fn within(mut self, parent: &str) -> Self {
        self.field = if self.field.is_empty() {
            parent.to_owned()
        } else {
            format!("{parent}.{}", self.field)
        };
        self
    }
}

/// An `application/problem+json` body (RFC 9457). `type` is a stable URN per problem kind,
/// so clients branch on it rather than on the human-readable `detail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The offending field, when one field is to blame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// Stable `type` URNs of the problems lm-server answers with.
pub mod kinds {
    pub const VALIDATION: &str = "urn:lm:problem:validation";
    pub const UNAUTHENTICATED: &str = "urn:lm:problem:unauthenticated";
    pub const FORBIDDEN: &str = "urn:lm:problem:forbidden";
    pub const NOT_FOUND: &str = "urn:lm:problem:not-found";
    pub const CONFLICT: &str = "urn:lm:problem:conflict";
    /// A change-feed cursor older than the retained history: resync from 0.
    pub const FEED_EXPIRED: &str = "urn:lm:problem:feed-expired";
    pub const NO_FREE_SEAT: &str = "urn:lm:problem:no-free-seat";
    pub const STALE_VERSION: &str = "urn:lm:problem:stale-version";
    pub const PRECONDITION_REQUIRED: &str = "urn:lm:problem:precondition-required";
    pub const RATE_LIMITED: &str = "urn:lm:problem:rate-limited";
    pub const PAYLOAD_TOO_LARGE: &str = "urn:lm:problem:payload-too-large";
    pub const TIMEOUT: &str = "urn:lm:problem:timeout";
    pub const UNAVAILABLE: &str = "urn:lm:problem:unavailable";
    /// A remote Hierarchy Provider did not answer, or answered nonsense.
    pub const HIERARCHY_PROVIDER: &str = "urn:lm:problem:hierarchy-provider";
    pub const INTERNAL: &str = "urn:lm:problem:internal";
}
