//! Insights: what an inventory costs and wastes, as the charts of the TUI's Insights screen
//! and `lm report` show it — the renewal forecast, the spend, the seats in use, what to
//! reclaim, and the trend of the yearly cost. Each report is a pure function over licenses
//! (and, for reclaiming, their holders and who is disabled), so lmd answers it from its
//! cache, offline, and the numbers are checked by hand-made tables.
//!
//! Money is never converted: a report sums each currency apart and shows them side by side.
//! Costs are what the licenses record; licenses without one are counted and said.
//!
//! One job per file: here the request, the answer and the sums they share; `renewals`,
//! `spend`, `seats`, `reclaim` and `trend` each compute one report.

mod reclaim;
mod renewals;
mod seats;
mod spend;
mod trend;

pub use reclaim::{Holdings, Reclaim, ReclaimGroup, ReclaimKind, reclaim, reclaim_includes};
pub use renewals::{RenewalMonth, Renewals, renewals};
pub use seats::{SeatUse, Seats, UnitSeats, seats, seats_includes};
pub use spend::{By, Grouped, Spend, SpendGroup, spend, spend_of};
pub use trend::{Trend, TrendPoint};

use crate::filter::LicenseFilter;
use crate::money::{Currency, Money};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportKind {
    Renewals,
    Spend,
    Seats,
    Reclaim,
    Trend,
}

impl ReportKind {
    pub const ALL: [ReportKind; 5] = [
        ReportKind::Renewals,
        ReportKind::Spend,
        ReportKind::Seats,
        ReportKind::Reclaim,
        ReportKind::Trend,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Renewals => "renewals",
            ReportKind::Spend => "spend",
            ReportKind::Seats => "seats",
            ReportKind::Reclaim => "reclaim",
            ReportKind::Trend => "trend",
        }
    }
}

impl std::str::FromStr for ReportKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ReportKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!("`{s}` is not a report; use renewals, spend, seats, reclaim or trend")
            })
    }
}

/// How a report is made; what is absent takes its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    /// Months the renewal forecast looks ahead, the current one included: 1 to 36.
    #[serde(default = "ReportParams::default_months")]
    pub months: u32,
    /// Groups a spend breakdown names before "other": 1 to 50.
    #[serde(default = "ReportParams::default_top")]
    pub top: usize,
    /// A seat not used for this many days may be reclaimed: 1 to 3650.
    #[serde(default = "ReportParams::default_unused_days")]
    pub unused_days: u32,
}

impl Default for ReportParams {
    fn default() -> Self {
        ReportParams {
            months: Self::default_months(),
            top: Self::default_top(),
            unused_days: Self::default_unused_days(),
        }
    }
}

impl ReportParams {
    fn default_months() -> u32 {
        12
    }
    fn default_top() -> usize {
        8
    }
    fn default_unused_days() -> u32 {
        30
    }

    /// The first parameter out of its range, named, with the rule.
    pub fn check(&self) -> Result<(), crate::FieldError> {
        if !(1..=36).contains(&self.months) {
            return Err(crate::FieldError::new("months", "must be from 1 to 36"));
        }
        if !(1..=50).contains(&self.top) {
            return Err(crate::FieldError::new("top", "must be from 1 to 50"));
        }
        if !(1..=3650).contains(&self.unused_days) {
            return Err(crate::FieldError::new(
                "unused_days",
                "must be from 1 to 3650",
            ));
        }
        Ok(())
    }
}

/// A group of licenses a report names (a bar, a slice), to show as a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "lowercase")]
pub enum Drill {
    /// The licenses a query selects (with the report's own filter): `expires>=2027-01-01
    /// expires<=2027-01-31`, `vendor:adobe`.
    Query { query: String },
    /// The licenses of a group no query names (seats over 90 %, licenses of disabled
    /// people): lmd lists exactly the ones the report counted.
    Group { report: ReportKind, group: String },
}

impl Drill {
    pub fn query(text: impl Into<String>) -> Drill {
        Drill::Query { query: text.into() }
    }

    pub fn group(report: ReportKind, group: impl Into<String>) -> Drill {
        Drill::Group {
            report,
            group: group.into(),
        }
    }
}

/// A group that lists exactly the licenses of a report's group: what a list narrowed by a
/// [`Drill::Group`] asks lmd for, with the report's filter and parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRef {
    pub report: ReportKind,
    pub group: String,
    #[serde(default)]
    pub params: ReportParams,
}

/// What `lm report` and the Insights screen ask lmd for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    pub report: ReportKind,
    /// Only the licenses this selects.
    #[serde(default)]
    pub filter: LicenseFilter,
    #[serde(default)]
    pub params: ReportParams,
}

/// A report, as lmd answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "report", rename_all = "lowercase")]
pub enum Report {
    Renewals(Renewals),
    Spend(Spend),
    Seats(Seats),
    Reclaim(Reclaim),
    Trend(Trend),
}

/// Sums of money, each currency apart, in currency order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Amounts(BTreeMap<Currency, i64>);

impl Amounts {
    pub fn add(&mut self, money: Money) {
        *self.0.entry(money.currency).or_default() += money.amount;
    }

    pub fn add_all(&mut self, other: &Amounts) {
        for (currency, amount) in &other.0 {
            *self.0.entry(*currency).or_default() += amount;
        }
    }

    /// The amount in `currency` (0 when there is none).
    pub fn of(&self, currency: Currency) -> i64 {
        self.0.get(&currency).copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.values().all(|a| *a == 0)
    }

    /// The sums as money, in currency order, leaving out zeros.
    pub fn to_vec(&self) -> Vec<Money> {
        self.0
            .iter()
            .filter(|(_, amount)| **amount != 0)
            .filter_map(|(currency, amount)| Money::new(*amount, *currency).ok())
            .collect()
    }
}

/// The currency most of `currencies` are (ties: the first in code order) — what breakdowns
/// rank by: the currency most licenses are in — or `None` without any.
pub fn main_currency(currencies: impl IntoIterator<Item = Currency>) -> Option<Currency> {
    let mut counts: BTreeMap<Currency, u32> = BTreeMap::new();
    for currency in currencies {
        *counts.entry(currency).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(currency, _)| currency)
}

#[cfg(test)]
pub(crate) mod tests;
