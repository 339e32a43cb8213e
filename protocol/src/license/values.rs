//! The validated values a license is made of: names, kind, key, owner and holders.

use crate::problem::FieldError;
use crate::text::{
    identifier, not_a_dot_segment, printable, printable_or_newline, validated_string,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;

validated_string!(
    /// A server-assigned license id (a UUIDv7, so ids sort by creation time).
    LicenseId, "a license id", 64, false, identifier
);
validated_string!(
    /// A server-assigned assignment id.
    AssignmentId, "an assignment id", 64, false, identifier
);
validated_string!(
    /// A product's external id, e.g. `adobe-cc` or `full_access`.
    ProductEid, "a product id", 100, false, identifier
);
validated_string!(
    /// The human name of a license, e.g. "Creative Cloud, design team".
    LicenseName, "a name", 200, false, printable
);
validated_string!(
    /// Who sold the license, e.g. "Adobe".
    Vendor, "a vendor", 100, false, printable
);
validated_string!(
    /// Free-form notes; may be empty and may span lines.
    Notes, "notes", 10_000, true, printable_or_newline
);
validated_string!(
    /// An employee's identifier, e.g. `alice` or `glu::123`.
    EmployeeId, "an employee", 128, false, printable
);
validated_string!(
    /// A device's name or asset tag, e.g. `LAPTOP-7`.
    DeviceId, "a device", 128, false, printable
);
validated_string!(
    /// A hierarchy level name (`class`, `school`) or an entity's external id.
    HierarchyName, "a hierarchy name", 128, false, printable, not_a_dot_segment
);

/// The license's product key: a secret shown to managers only. Its `Debug` output is
/// redacted so that it never reaches a log.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String))]
#[serde(try_from = "String", into = "String")]
pub struct LicenseKey(Box<str>);

impl LicenseKey {
    pub fn new(raw: &str) -> Result<Self, FieldError> {
        Self::try_from(raw.to_owned()).map_err(|m| FieldError::new("", m))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for LicenseKey {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        crate::text::checked(&s, "a product key", 1_000, false, printable)
            .map(|v| LicenseKey(v.into()))
    }
}

impl From<LicenseKey> for String {
    fn from(k: LicenseKey) -> String {
        k.0.into()
    }
}

impl std::str::FromStr for LicenseKey {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        LicenseKey::new(s)
    }
}

impl fmt::Debug for LicenseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LicenseKey(<redacted>)")
    }
}

/// What sort of license this is. The well-known kinds are constants; an organization may
/// use its own lowercase token (letters, digits, `-`), e.g. `volume`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, example = "subscription"))]
#[serde(try_from = "String", into = "String")]
pub struct Kind(std::sync::Arc<str>);

impl Kind {
    pub const WELL_KNOWN: [&'static str; 7] = [
        "perpetual",
        "subscription",
        "per-seat",
        "per-device",
        "site",
        "trial",
        "volume",
    ];

    pub fn new(raw: &str) -> Result<Self, FieldError> {
        Self::try_from(raw.to_owned()).map_err(|m| FieldError::new("", m))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Kind {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let value = s.trim().to_ascii_lowercase();
        let valid_token = !value.is_empty()
            && value.len() <= 32
            && value.starts_with(|c: char| c.is_ascii_lowercase())
            && value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if valid_token {
            Ok(Kind(value.into()))
        } else {
            Err(format!(
                "`{s}` is not a license kind: use one of {} or a lowercase word of letters, digits and `-`",
                Kind::WELL_KNOWN.join(", ")
            ))
        }
    }
}

impl From<Kind> for String {
    fn from(k: Kind) -> String {
        k.0.as_ref().to_owned()
    }
}

/// A few kinds across a whole inventory: a daemon keeps each once.
impl crate::text::SharedText for Kind {
    fn shared(&mut self) -> &mut std::sync::Arc<str> {
        &mut self.0
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Kind {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        Kind::new(s)
    }
}

/// The organisational unit(s) that own a license: a hierarchy level and the entities at
/// that level, e.g. `{"level": "class", "eids": ["344"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Owner {
    pub level: HierarchyName,
    pub eids: Vec<HierarchyName>,
}

impl Owner {
    pub(super) fn validate(&self) -> Result<(), FieldError> {
        if self.eids.is_empty() {
            return Err(FieldError::new("eids", "must name at least one owner"));
        }
        let mut seen = HashSet::new();
        for (i, eid) in self.eids.iter().enumerate() {
            if !seen.insert(eid) {
                return Err(FieldError::new(
                    format!("eids[{i}]"),
                    format!("`{eid}` is listed twice"),
                ));
            }
        }
        Ok(())
    }
}

/// Who or what a license is assigned to. On the wire `{"employee": "alice"}` or
/// `{"device": "LAPTOP-7"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Assignee {
    Employee(EmployeeId),
    Device(DeviceId),
}

impl Assignee {
    pub fn label(&self) -> &str {
        match self {
            Assignee::Employee(e) => e.as_str(),
            Assignee::Device(d) => d.as_str(),
        }
    }
}

impl fmt::Display for Assignee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Assignee::Employee(e) => write!(f, "employee {e}"),
            Assignee::Device(d) => write!(f, "device {d}"),
        }
    }
}

/// One assignment of a license: `{"id": "…", "employee": "alice", "since": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Assignment {
    pub id: AssignmentId,
    #[serde(flatten)]
    pub assignee: Assignee,
    pub since: DateTime<Utc>,
    /// When a seat's holder last used it (asked for their permissions), to the day: on the
    /// holders of the change feed, for the reclaim report; absent where unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<DateTime<Utc>>,
}

/// Read by hand rather than through `flatten`, which buffers every field of every assignment
/// first: the change feed carries hundreds of thousands of them.
impl<'de> Deserialize<'de> for Assignment {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            id: AssignmentId,
            #[serde(default)]
            employee: Option<EmployeeId>,
            #[serde(default)]
            device: Option<DeviceId>,
            since: DateTime<Utc>,
            #[serde(default)]
            last_seen: Option<DateTime<Utc>>,
        }
        let wire = Wire::deserialize(deserializer)?;
        let assignee = match (wire.employee, wire.device) {
            (Some(employee), None) => Assignee::Employee(employee),
            (None, Some(device)) => Assignee::Device(device),
            (employee, _) => {
                return Err(serde::de::Error::custom(if employee.is_some() {
                    "an assignment is of an `employee` or a `device`, not both"
                } else {
                    "an assignment names its `employee` or `device`"
                }));
            }
        };
        Ok(Assignment {
            id: wire.id,
            assignee,
            since: wire.since,
            last_seen: wire.last_seen,
        })
    }
}

/// No notes: what a license without any says.
pub(super) fn empty_notes() -> Notes {
    Notes("".into())
}
