//! The license inventory's domain types and their wire shapes.

use crate::money::Money;
use crate::problem::FieldError;
use crate::text::{
    identifier, not_a_dot_segment, printable, printable_or_newline, validated_string,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize};
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
pub struct LicenseKey(String);

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
        crate::text::checked(&s, "a product key", 1_000, false, printable).map(LicenseKey)
    }
}

impl From<LicenseKey> for String {
    fn from(k: LicenseKey) -> String {
        k.0
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
pub struct Kind(String);

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
            Ok(Kind(value))
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
        k.0
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
    fn validate(&self) -> Result<(), FieldError> {
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Assignment {
    pub id: AssignmentId,
    #[serde(flatten)]
    pub assignee: Assignee,
    pub since: DateTime<Utc>,
}

/// How many assignments a license lists: its oldest ones. `seats_used` counts them all, and
/// the rest are read through the license's seats. A seat license of 100,000 seats is then
/// as small as one of five, in a list, in the change feed and in the audit log, and taking
/// a seat rewrites a bounded row; an IT inventory license with a handful of holders still
/// lists every one.
pub const LISTED_ASSIGNMENTS: usize = 10;

/// A license as the API and the socket show it. `key` is absent for employees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct License {
    pub id: LicenseId,
    pub product: ProductEid,
    pub name: LicenseName,
    pub kind: Kind,
    pub vendor: Vendor,
    pub cost: Money,
    /// Total seats; absent means unlimited.
    #[serde(default)]
    pub seats: Option<u32>,
    pub seats_used: u32,
    pub added: NaiveDate,
    #[serde(default)]
    pub expires: Option<NaiveDate>,
    #[serde(default)]
    pub owner: Option<Owner>,
    /// The oldest [`LISTED_ASSIGNMENTS`] assignments; `seats_used` counts all of them.
    #[serde(default)]
    pub assignments: Vec<Assignment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<LicenseKey>,
    #[serde(default = "empty_notes")]
    pub notes: Notes,
    pub version: i64,
    pub revision: i64,
}

fn empty_notes() -> Notes {
    Notes(String::new())
}

impl License {
    pub fn fields(&self) -> LicenseFields {
        LicenseFields {
            product: self.product.clone(),
            name: self.name.clone(),
            kind: self.kind.clone(),
            vendor: self.vendor.clone(),
            cost: self.cost,
            seats: self.seats,
            added: self.added,
            expires: self.expires,
            owner: self.owner.clone(),
            key: self.key.clone(),
            notes: self.notes.clone(),
        }
    }

    /// The lowercase text that free-text search (`q`) matches against. The server stores
    /// it and the daemon's cache computes it with this same function, so both agree.
    pub fn search_text(&self) -> String {
        search_text(
            &self.fields(),
            self.id.as_str(),
            self.assignments.iter().map(|a| &a.assignee),
        )
    }

    /// How many holders the license has beyond the ones it lists.
    pub fn unlisted_assignments(&self) -> u32 {
        let listed = u32::try_from(self.assignments.len()).unwrap_or(u32::MAX);
        self.seats_used.saturating_sub(listed)
    }

    /// Seats still free, or `None` when the license has no seat limit.
    pub fn seats_free(&self) -> Option<u32> {
        self.seats.map(|s| s.saturating_sub(self.seats_used))
    }
}

/// See [`License::search_text`].
pub fn search_text<'a>(
    fields: &LicenseFields,
    id: &str,
    assignees: impl Iterator<Item = &'a Assignee>,
) -> String {
    let mut text = [
        id,
        fields.product.as_str(),
        fields.name.as_str(),
        fields.kind.as_str(),
        fields.vendor.as_str(),
        fields.notes.as_str(),
    ]
    .join("\n");
    for a in assignees {
        text.push('\n');
        text.push_str(a.label());
    }
    text.to_lowercase()
}

/// The editable fields of a license, fully validated and with defaults resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LicenseFields {
    pub product: ProductEid,
    pub name: LicenseName,
    pub kind: Kind,
    pub vendor: Vendor,
    pub cost: Money,
    pub seats: Option<u32>,
    pub added: NaiveDate,
    pub expires: Option<NaiveDate>,
    pub owner: Option<Owner>,
    pub key: Option<LicenseKey>,
    pub notes: Notes,
}

/// The first and last dates a license may be added or expire on. Four-digit years keep
/// the dates' text in date order, which the databases and the daemon's indexes sort by; the
/// last day of 9999 is the server's "never expires".
pub const FIRST_DATE: NaiveDate = NaiveDate::from_ymd_opt(1900, 1, 1).expect("a date");
pub const LAST_DATE: NaiveDate = NaiveDate::from_ymd_opt(9999, 12, 30).expect("a date");

/// `date` if a license may be added or expire on it, else why not.
pub fn license_date(date: NaiveDate) -> Result<NaiveDate, String> {
    if (FIRST_DATE..=LAST_DATE).contains(&date) {
        Ok(date)
    } else {
        Err(format!(
            "{date} is not a date from {FIRST_DATE} to {LAST_DATE}"
        ))
    }
}

impl LicenseFields {
    /// Cross-field rules that hold for every stored license. `seats_used` is how many
    /// seats are occupied now (assignments and redeemed seats).
    pub fn validate(&self, seats_used: u32) -> Result<(), FieldError> {
        for (field, date) in [("added", Some(self.added)), ("expires", self.expires)] {
            if let Some(date) = date {
                license_date(date).map_err(|message| FieldError::new(field, message))?;
            }
        }
        if let Some(expires) = self.expires
            && expires < self.added
        {
            return Err(FieldError::new(
                "expires",
                format!(
                    "{expires} is before the date the license was added ({})",
                    self.added
                ),
            ));
        }
        if let Some(seats) = self.seats {
            if seats == 0 {
                return Err(FieldError::new(
                    "seats",
                    "must be at least 1 (omit it for unlimited seats)",
                ));
            }
            if seats < seats_used {
                return Err(FieldError::new(
                    "seats",
                    format!("{seats} seats are fewer than the {seats_used} already in use"),
                ));
            }
        }
        if let Some(owner) = &self.owner {
            owner.validate().map_err(|e| e.within("owner"))?;
        }
        Ok(())
    }
}

/// The body of `POST /v1/licenses`: a license without `id`, `seats_used`, `version` and
/// `revision`. `added` defaults to today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewLicense {
    pub product: ProductEid,
    pub name: LicenseName,
    pub kind: Kind,
    pub vendor: Vendor,
    pub cost: Money,
    #[serde(default)]
    pub seats: Option<u32>,
    #[serde(default)]
    pub added: Option<NaiveDate>,
    #[serde(default)]
    pub expires: Option<NaiveDate>,
    #[serde(default)]
    pub owner: Option<Owner>,
    #[serde(default)]
    pub assignments: Vec<Assignee>,
    #[serde(default)]
    pub key: Option<LicenseKey>,
    #[serde(default)]
    pub notes: Option<Notes>,
}

impl NewLicense {
    /// Resolves defaults and checks every rule; the assignments come back deduplicated-checked.
    pub fn into_parts(
        self,
        today: NaiveDate,
    ) -> Result<(LicenseFields, Vec<Assignee>), FieldError> {
        let fields = LicenseFields {
            product: self.product,
            name: self.name,
            kind: self.kind,
            vendor: self.vendor,
            cost: self.cost,
            seats: self.seats,
            added: self.added.unwrap_or(today),
            expires: self.expires,
            owner: self.owner,
            key: self.key,
            notes: self.notes.unwrap_or_else(empty_notes),
        };
        fields.validate(0)?;
        let mut seen = HashSet::new();
        for (i, a) in self.assignments.iter().enumerate() {
            if !seen.insert(a) {
                return Err(FieldError::new(
                    format!("assignments[{i}]"),
                    format!("{a} is listed twice"),
                ));
            }
        }
        if let Some(seats) = fields.seats
            && self.assignments.len() > seats as usize
        {
            return Err(FieldError::new(
                "assignments",
                format!(
                    "{} assignments exceed the {seats} seats",
                    self.assignments.len()
                ),
            ));
        }
        Ok((fields, self.assignments))
    }
}

/// The body of `PATCH /v1/licenses/{id}`: only the fields that change. For optional fields
/// `null` clears the value and an absent field leaves it as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LicensePatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<ProductEid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<LicenseName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<Vendor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Money>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<u32>))]
    pub seats: Option<Option<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added: Option<NaiveDate>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<NaiveDate>))]
    pub expires: Option<Option<NaiveDate>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Owner>))]
    pub owner: Option<Option<Owner>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub key: Option<Option<LicenseKey>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<Notes>,
}

/// A field that is present in the JSON (possibly `null`) becomes `Some(value)`; an absent
/// field stays `None` through `#[serde(default)]`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl LicensePatch {
    pub fn is_empty(&self) -> bool {
        *self == LicensePatch::default()
    }

    /// The fields after applying this patch. The caller validates the result.
    pub fn apply(self, mut f: LicenseFields) -> LicenseFields {
        if let Some(v) = self.product {
            f.product = v;
        }
        if let Some(v) = self.name {
            f.name = v;
        }
        if let Some(v) = self.kind {
            f.kind = v;
        }
        if let Some(v) = self.vendor {
            f.vendor = v;
        }
        if let Some(v) = self.cost {
            f.cost = v;
        }
        if let Some(v) = self.seats {
            f.seats = v;
        }
        if let Some(v) = self.added {
            f.added = v;
        }
        if let Some(v) = self.expires {
            f.expires = v;
        }
        if let Some(v) = self.owner {
            f.owner = v;
        }
        if let Some(v) = self.key {
            f.key = v;
        }
        if let Some(v) = self.notes {
            f.notes = v;
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    const CREATE: &str = r#"{
        "product": "adobe-cc", "name": "Creative Cloud, design team", "kind": "Subscription",
        "vendor": "Adobe", "cost": {"amount": 59900, "currency": "eur"}, "seats": 10,
        "expires": "2027-01-14", "assignments": [{"employee": "alice"}, {"device": "LAPTOP-7"}],
        "key": "XXXX-XXXX"
    }"#;

    #[test]
    fn create_body_parses_with_defaults() {
        let body: NewLicense = serde_json::from_str(CREATE).unwrap();
        let (fields, assignees) = body.into_parts(today()).unwrap();
        assert_eq!(fields.kind.as_str(), "subscription");
        assert_eq!(fields.added, today());
        assert_eq!(fields.cost.currency.as_str(), "EUR");
        assert_eq!(assignees.len(), 2);
        assert_eq!(fields.notes.as_str(), "");
    }

    /// Parses the create body with `field` set to `value` (or removed when `value` is null).
    fn create_with(field: &str, value: serde_json::Value) -> Result<LicenseFields, String> {
        let mut body: serde_json::Value = serde_json::from_str(CREATE).unwrap();
        if value.is_null() {
            body.as_object_mut().unwrap().remove(field);
        } else {
            body[field] = value;
        }
        serde_json::from_value::<NewLicense>(body)
            .map_err(|e| e.to_string())
            .and_then(|b| {
                b.into_parts(today())
                    .map(|(f, _)| f)
                    .map_err(|e| e.to_string())
            })
    }

    #[test]
    fn create_body_names_the_bad_field() {
        use serde_json::json;
        let cases = [
            ("name", json!(""), "name must not be empty"),
            ("name", json!(null), "missing field `name`"),
            ("seats", json!(0), "seats: must be at least 1"),
            (
                "expires",
                json!("2020-01-01"),
                "expires: 2020-01-01 is before",
            ),
            (
                "expires",
                json!("+10000-01-01"),
                "expires: +10000-01-01 is not a date from 1900-01-01 to 9999-12-30",
            ),
            (
                "added",
                json!("1066-10-14"),
                "added: 1066-10-14 is not a date from 1900-01-01 to 9999-12-30",
            ),
            ("kind", json!("Not A Kind"), "not a license kind"),
            (
                "cost",
                json!({"amount": 5, "currency": "XYZ"}),
                "not an ISO 4217",
            ),
            ("colour", json!("red"), "unknown field `colour`"),
        ];
        for (field, value, expected) in cases {
            let err = create_with(field, value).expect_err(field);
            assert!(err.contains(expected), "{field}: {err}");
        }
    }

    #[test]
    fn create_refuses_more_assignments_than_seats() {
        let json = CREATE.replace(r#""seats": 10"#, r#""seats": 1"#);
        let err = serde_json::from_str::<NewLicense>(&json)
            .unwrap()
            .into_parts(today())
            .unwrap_err();
        assert_eq!(err.field, "assignments");
    }

    #[test]
    fn patch_distinguishes_null_from_absent() {
        let patch: LicensePatch =
            serde_json::from_str(r#"{"expires": null, "name": "x"}"#).unwrap();
        assert_eq!(patch.expires, Some(None));
        assert_eq!(patch.seats, None);
        let body: NewLicense = serde_json::from_str(CREATE).unwrap();
        let (fields, _) = body.into_parts(today()).unwrap();
        let patched = patch.apply(fields.clone());
        assert_eq!(patched.expires, None);
        assert_eq!(patched.seats, fields.seats);
        assert_eq!(patched.name.as_str(), "x");
    }

    #[test]
    fn patch_refuses_server_owned_fields() {
        for body in [
            r#"{"version": 3}"#,
            r#"{"id": "x"}"#,
            r#"{"seats_used": 1}"#,
        ] {
            assert!(
                serde_json::from_str::<LicensePatch>(body).is_err(),
                "{body}"
            );
        }
    }

    #[test]
    fn license_key_never_shows_in_debug_output() {
        let key = LicenseKey::new("SECRET-1234").unwrap();
        assert!(!format!("{key:?}").contains("SECRET"));
    }

    #[test]
    fn assignment_wire_shape_is_flat() {
        let a = Assignment {
            id: AssignmentId::new("a1").unwrap(),
            assignee: Assignee::Employee(EmployeeId::new("alice").unwrap()),
            since: DateTime::from_timestamp(0, 0).unwrap(),
        };
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["employee"], "alice");
        assert_eq!(serde_json::from_value::<Assignment>(json).unwrap(), a);
    }
}
