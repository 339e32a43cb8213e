//! The request bodies that create (`NewLicense`) and change (`LicensePatch`) a license.

use super::LicenseFields;
use super::values::{
    Assignee, Kind, LicenseKey, LicenseName, Notes, Owner, ProductEid, Vendor, empty_notes,
};
use crate::money::Money;
use crate::problem::FieldError;
use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::HashSet;

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
/// field stays `None` through `#[serde(default)]`: how a PATCH body tells "clear" from "keep".
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
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
