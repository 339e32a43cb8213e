//! What a list view selects and in which order. One definition, three users: the server
//! turns a [`LicenseFilter`] into SQL, the daemon evaluates it over its cache with
//! [`LicenseFilter::matches`], and both order pages by [`Sort`] with the same keys.
//!
//! Semantics, shared by every implementation:
//! - text fields compare exactly, except `vendor` (case-insensitive) and `q` (a
//!   case-insensitive substring of [`crate::License::search_text`]);
//! - `cost`, `cost_min`, `cost_max` compare `cost.amount` in minor units, whatever the
//!   currency, unless `currency` narrows it;
//! - `assigned` selects by whether a license has assignments at all (`no`, `yes`), or any to
//!   an employee (`employee`) or to a device (`device`);
//! - date ranges are inclusive; a license without `expires` never matches an `expires`
//!   filter; `expiring_within=N` means `today <= expires <= today + N days`; a date bound
//!   outside the years a license's dates lie in is moved to just outside them
//!   ([`within_license_years`]), which selects the same licenses and keeps four-digit years;
//! - when sorting, an absent value (no `seats`: unlimited; no `expires`: never) counts as
//!   larger than every present one; ties are broken by `id`.

use crate::license::{
    Assignee, DeviceId, EmployeeId, FIRST_DATE, Kind, LAST_DATE, License, LicenseId, ProductEid,
};
use crate::money::Currency;
use crate::problem::FieldError;
use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Which licenses a view selects. Every field narrows the selection; `None` means "any".
/// As JSON (the daemon's socket) absent fields mean "any" and unknown ones are refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LicenseFilter {
    pub id: Option<LicenseId>,
    pub kind: Option<Kind>,
    pub product: Option<ProductEid>,
    /// Lowercased; compared case-insensitively.
    pub vendor: Option<String>,
    pub cost: Option<i64>,
    pub cost_min: Option<i64>,
    pub cost_max: Option<i64>,
    pub currency: Option<Currency>,
    pub device: Option<DeviceId>,
    pub employee: Option<EmployeeId>,
    pub added: Option<NaiveDate>,
    pub added_from: Option<NaiveDate>,
    pub added_to: Option<NaiveDate>,
    pub expires: Option<NaiveDate>,
    pub expires_from: Option<NaiveDate>,
    pub expires_to: Option<NaiveDate>,
    pub expiring_within: Option<u32>,
    pub assigned: Option<Assigned>,
    /// Lowercased free text.
    pub q: Option<String>,
}

/// The query parameters of `GET /v1/licenses` that are filters, in documentation order.
pub const FILTER_PARAMS: [&str; 19] = [
    "id",
    "kind",
    "product",
    "vendor",
    "cost",
    "cost_min",
    "cost_max",
    "currency",
    "device",
    "employee",
    "added",
    "added_from",
    "added_to",
    "expires",
    "expires_from",
    "expires_to",
    "expiring_within",
    "assigned",
    "q",
];

impl LicenseFilter {
    /// Whether `license` is selected, evaluated on `today` (UTC), `employee` and `device`
    /// among the holders the license lists.
    pub fn matches(&self, license: &License, today: NaiveDate) -> bool {
        self.matches_holding(license, today, |who| {
            license.assignments.iter().any(|a| a.assignee == *who)
        })
    }

    /// Whether `license` is selected, evaluated on `today` (UTC), where `holds` tells whether
    /// the license is assigned to someone: for a caller who knows every holder, not only the
    /// ones a license lists (the server, lmd).
    pub fn matches_holding(
        &self,
        license: &License,
        today: NaiveDate,
        holds: impl Fn(&Assignee) -> bool,
    ) -> bool {
        fn within<T: PartialOrd>(value: &T, from: Option<&T>, to: Option<&T>) -> bool {
            from.is_none_or(|f| value >= f) && to.is_none_or(|t| value <= t)
        }
        fn date_in(
            value: Option<NaiveDate>,
            exact: Option<NaiveDate>,
            from: Option<NaiveDate>,
            to: Option<NaiveDate>,
        ) -> bool {
            if exact.is_none() && from.is_none() && to.is_none() {
                return true;
            }
            value.is_some_and(|v| {
                exact.is_none_or(|e| v == e) && within(&v, from.as_ref(), to.as_ref())
            })
        }
        let amount = license.cost.amount;
        self.id.as_ref().is_none_or(|id| *id == license.id)
            && self.kind.as_ref().is_none_or(|k| *k == license.kind)
            && self.product.as_ref().is_none_or(|p| *p == license.product)
            && self
                .vendor
                .as_ref()
                .is_none_or(|v| *v == license.vendor.as_str().to_lowercase())
            && self.cost.is_none_or(|c| c == amount)
            && within(&amount, self.cost_min.as_ref(), self.cost_max.as_ref())
            && self.currency.is_none_or(|c| c == license.cost.currency)
            && self
                .device
                .as_ref()
                .is_none_or(|d| holds(&Assignee::Device(d.clone())))
            && self
                .employee
                .as_ref()
                .is_none_or(|e| holds(&Assignee::Employee(e.clone())))
            && date_in(
                Some(license.added),
                self.added,
                self.added_from,
                self.added_to,
            )
            && date_in(
                license.expires,
                self.expires,
                self.expires_from,
                self.expires_to,
            )
            && self.expiring_within.is_none_or(|days| {
                license
                    .expires
                    .is_some_and(|e| e >= today && e <= add_days(today, days))
            })
            && self.assigned.is_none_or(|a| a.matches(license))
            && self
                .q
                .as_ref()
                .is_none_or(|q| license.search_text().contains(q.as_str()))
    }

    /// The filter as query parameters, the inverse of [`ListParams::from_query`].
    pub fn to_query(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut push = |k: &'static str, v: Option<String>| {
            if let Some(v) = v {
                out.push((k, v));
            }
        };
        push("id", self.id.as_ref().map(ToString::to_string));
        push("kind", self.kind.as_ref().map(ToString::to_string));
        push("product", self.product.as_ref().map(ToString::to_string));
        push("vendor", self.vendor.clone());
        push("cost", self.cost.map(|v| v.to_string()));
        push("cost_min", self.cost_min.map(|v| v.to_string()));
        push("cost_max", self.cost_max.map(|v| v.to_string()));
        push("currency", self.currency.map(|v| v.to_string()));
        push("device", self.device.as_ref().map(ToString::to_string));
        push("employee", self.employee.as_ref().map(ToString::to_string));
        push("added", self.added.map(|v| v.to_string()));
        push("added_from", self.added_from.map(|v| v.to_string()));
        push("added_to", self.added_to.map(|v| v.to_string()));
        push("expires", self.expires.map(|v| v.to_string()));
        push("expires_from", self.expires_from.map(|v| v.to_string()));
        push("expires_to", self.expires_to.map(|v| v.to_string()));
        push(
            "expiring_within",
            self.expiring_within.map(|v| v.to_string()),
        );
        push("assigned", self.assigned.map(|a| a.as_str().to_owned()));
        push("q", self.q.clone());
        out
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        fn parse<T: FromStr>(value: &str, what: &str) -> Result<T, String> {
            value
                .trim()
                .parse()
                .map_err(|_| format!("`{value}` is not {what}"))
        }
        fn typed<T: FromStr<Err = FieldError>>(value: &str) -> Result<T, String> {
            value.parse().map_err(|e: FieldError| e.message)
        }
        fn date(value: &str) -> Result<NaiveDate, String> {
            parse(value, "a date (YYYY-MM-DD)").map(within_license_years)
        }
        fn amount(value: &str) -> Result<i64, String> {
            let v: i64 = parse(
                value,
                "an amount in minor units (a whole number, e.g. 59900)",
            )?;
            if v < 0 {
                Err("must not be negative".into())
            } else {
                Ok(v)
            }
        }
        fn non_empty_lower(value: &str) -> Result<String, String> {
            let v = value.trim().to_lowercase();
            if v.is_empty() {
                Err("must not be empty".into())
            } else {
                Ok(v)
            }
        }
        match key {
            "id" => self.id = Some(typed(value)?),
            "kind" => self.kind = Some(typed(value)?),
            "product" => self.product = Some(typed(value)?),
            "vendor" => self.vendor = Some(non_empty_lower(value)?),
            "cost" => self.cost = Some(amount(value)?),
            "cost_min" => self.cost_min = Some(amount(value)?),
            "cost_max" => self.cost_max = Some(amount(value)?),
            "currency" => self.currency = Some(typed(value)?),
            "device" => self.device = Some(typed(value)?),
            "employee" => self.employee = Some(typed(value)?),
            "added" => self.added = Some(date(value)?),
            "added_from" => self.added_from = Some(date(value)?),
            "added_to" => self.added_to = Some(date(value)?),
            "expires" => self.expires = Some(date(value)?),
            "expires_from" => self.expires_from = Some(date(value)?),
            "expires_to" => self.expires_to = Some(date(value)?),
            "expiring_within" => {
                let days: u32 = parse(value, "a number of days")?;
                if days > 36_500 {
                    return Err("must be at most 36500 days".into());
                }
                self.expiring_within = Some(days);
            }
            "assigned" => self.assigned = Some(value.trim().parse()?),
            "q" => self.q = Some(non_empty_lower(value)?),
            _ => unreachable!("caller checks FILTER_PARAMS"),
        }
        Ok(())
    }

    /// Puts a filter that arrived as JSON into the form [`ListParams::from_query`] gives:
    /// `vendor` and `q` trimmed and lowercased, empty ones dropped, dates within the years of
    /// licenses ([`within_license_years`]).
    pub fn normalized(mut self) -> LicenseFilter {
        let lower =
            |v: Option<String>| v.map(|v| v.trim().to_lowercase()).filter(|v| !v.is_empty());
        self.vendor = lower(self.vendor);
        self.q = lower(self.q);
        for date in [
            &mut self.added,
            &mut self.added_from,
            &mut self.added_to,
            &mut self.expires,
            &mut self.expires_from,
            &mut self.expires_to,
        ] {
            *date = date.map(within_license_years);
        }
        self
    }

    /// Refuses free text or a vendor longer than [`MAX_FILTER_TEXT`] characters, and a range
    /// whose start is after its end, naming the field: the server and the daemon refuse the
    /// same filters.
    pub fn check(&self) -> Result<(), FieldError> {
        for (field, text) in [("q", &self.q), ("vendor", &self.vendor)] {
            let chars = text.as_deref().map_or(0, |t| t.chars().count());
            if chars > MAX_FILTER_TEXT {
                return Err(FieldError::new(
                    field,
                    format!("is {chars} characters long; at most {MAX_FILTER_TEXT}"),
                ));
            }
        }
        fn ordered<T: PartialOrd + fmt::Display>(
            from: Option<T>,
            to: Option<T>,
            field: &str,
            other: &str,
        ) -> Result<(), FieldError> {
            match (from, to) {
                (Some(f), Some(t)) if f > t => Err(FieldError::new(
                    field,
                    format!("{f} is after {other} ({t}): the range is empty"),
                )),
                _ => Ok(()),
            }
        }
        ordered(self.cost_min, self.cost_max, "cost_min", "cost_max")?;
        ordered(self.added_from, self.added_to, "added_from", "added_to")?;
        ordered(
            self.expires_from,
            self.expires_to,
            "expires_from",
            "expires_to",
        )
    }
}

/// The longest free text (`q`) or vendor a filter takes, in characters: far more than anyone
/// types, and well within SQLite's limit on a LIKE pattern (50,000 bytes, with escapes).
pub const MAX_FILTER_TEXT: usize = 1_000;

/// Which assignments a license has, for the `assigned` filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Assigned {
    /// No assignment at all.
    No,
    /// At least one assignment.
    Yes,
    /// At least one assignment to an employee.
    Employee,
    /// At least one assignment to a device.
    Device,
}

impl Assigned {
    pub const ALL: [Assigned; 4] = [
        Assigned::No,
        Assigned::Yes,
        Assigned::Employee,
        Assigned::Device,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Assigned::No => "no",
            Assigned::Yes => "yes",
            Assigned::Employee => "employee",
            Assigned::Device => "device",
        }
    }

    pub fn matches(self, license: &License) -> bool {
        let mut assignees = license.assignments.iter().map(|a| &a.assignee);
        match self {
            Assigned::No => license.assignments.is_empty(),
            Assigned::Yes => !license.assignments.is_empty(),
            Assigned::Employee => assignees.any(|a| matches!(a, Assignee::Employee(_))),
            Assigned::Device => assignees.any(|a| matches!(a, Assignee::Device(_))),
        }
    }
}

impl FromStr for Assigned {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        Assigned::ALL
            .into_iter()
            .find(|a| a.as_str() == raw)
            .ok_or_else(|| format!("`{raw}` is not one of no, yes, employee, device"))
    }
}

/// `today + days`, saturating past the last date a license may have (see
/// [`within_license_years`]).
pub fn add_days(today: NaiveDate, days: u32) -> NaiveDate {
    within_license_years(
        today
            .checked_add_days(Days::new(days.into()))
            .unwrap_or(NaiveDate::MAX),
    )
}

/// A filter's date bound, moved to the day before [`FIRST_DATE`] or the day after
/// [`LAST_DATE`] if it lies beyond them. Every license's dates lie between those two, so the
/// bound selects the same licenses, and its year keeps four digits: the databases and the
/// daemon compare dates as ISO text, which sorts like the dates only then (`+10000-01-01`
/// sorts before `2026-…`).
pub fn within_license_years(date: NaiveDate) -> NaiveDate {
    let before = FIRST_DATE.pred_opt().expect("a day before");
    let after = LAST_DATE.succ_opt().expect("a day after");
    date.clamp(before, after)
}

mod order;
pub use order::{Cursor, CursorValue, ListParams, Sort, SortField};

#[cfg(test)]
mod tests;
