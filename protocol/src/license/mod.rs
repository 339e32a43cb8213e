//! The license inventory's domain types and their wire shapes.
//!
//! One job per file: `values` — the validated values a license is made of (names, kind,
//! key, owner, holders); here the license itself, its fields and what is derived from them
//! (search text, dates); `bodies` — the request bodies that create and change one.

mod bodies;
#[cfg(test)]
mod tests;
mod values;

pub(crate) use bodies::present;
pub use bodies::{LicensePatch, NewLicense};
use values::empty_notes;
pub use values::*;

use crate::money::Money;
use crate::problem::FieldError;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

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
    pub owner: Option<Box<Owner>>,
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
            owner: self.owner.as_deref().cloned(),
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
