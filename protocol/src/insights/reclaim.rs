//! What could be reclaimed, each with the money at stake: seats their holders have not used
//! for a while, licenses held by people who are disabled or offboarded, licenses paid for
//! and assigned to nobody, and expired licenses still assigned.
//!
//! The money at stake of a holder is their share of the license's cost (the cost over its
//! seats, or over its holders without a limit); of a whole license, its cost.

use super::{Amounts, Drill, ReportKind};
use crate::License;
use crate::license::{LicenseId, LicenseName};
use crate::money::Money;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Who holds what, beyond the ten holders a license lists: what lmd's indexes know.
pub trait Holdings {
    /// How many holders of `license` are members who are disabled (offboarded included).
    fn disabled_holders(&self, license: &License) -> u32;
    /// How many holders of `license` took a seat and have not used it since `before`.
    fn unused_seats(&self, license: &License, before: chrono::DateTime<chrono::Utc>) -> u32;
}

/// A kind of waste.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReclaimKind {
    /// Seats not used for the report's `unused_days`.
    UnusedSeats,
    /// Held by people who are disabled or offboarded.
    DisabledHolders,
    /// Paid for, not expired, and assigned to nobody.
    Unassigned,
    /// Expired, and still assigned.
    ExpiredAssigned,
}

impl ReclaimKind {
    pub const ALL: [ReclaimKind; 4] = [
        ReclaimKind::UnusedSeats,
        ReclaimKind::DisabledHolders,
        ReclaimKind::Unassigned,
        ReclaimKind::ExpiredAssigned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReclaimKind::UnusedSeats => "unused_seats",
            ReclaimKind::DisabledHolders => "disabled_holders",
            ReclaimKind::Unassigned => "unassigned",
            ReclaimKind::ExpiredAssigned => "expired_assigned",
        }
    }

    /// What the group is, in words.
    pub fn describe(self, unused_days: u32) -> String {
        match self {
            ReclaimKind::UnusedSeats => format!("seats unused for {unused_days} days"),
            ReclaimKind::DisabledHolders => "held by disabled people".into(),
            ReclaimKind::Unassigned => "paid for, assigned to nobody".into(),
            ReclaimKind::ExpiredAssigned => "expired, still assigned".into(),
        }
    }
}

/// One kind of waste: how many licenses, how many holders of them, and the money at stake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReclaimGroup {
    pub kind: ReclaimKind,
    pub licenses: u32,
    /// The holders concerned (seats unused, disabled holders); 0 for whole licenses.
    pub holders: u64,
    pub at_stake: Vec<Money>,
    /// The licenses with the most at stake (in the report's main currency), up to five.
    pub largest: Vec<(LicenseId, LicenseName)>,
    pub drill: Drill,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reclaim {
    pub unused_days: u32,
    pub groups: Vec<ReclaimGroup>,
}

/// The share of `license`'s cost that `holders` of it stand for.
fn share(license: &License, holders: u32) -> Money {
    let of = license
        .seats
        .unwrap_or(license.seats_used)
        .max(holders)
        .max(1);
    let amount = (i128::from(license.cost.amount) * i128::from(holders) / i128::from(of)) as i64;
    Money {
        amount,
        currency: license.cost.currency,
    }
}

/// How many holders of `license` are in the `kind` group (for whole licenses: 1 if it is),
/// and the money at stake.
fn measure(
    kind: ReclaimKind,
    license: &License,
    holdings: &impl Holdings,
    today: NaiveDate,
    unused_before: chrono::DateTime<chrono::Utc>,
) -> Option<(u32, Money)> {
    let expired = license.expires.is_some_and(|e| e < today);
    match kind {
        ReclaimKind::UnusedSeats => {
            let n = holdings.unused_seats(license, unused_before);
            (n > 0).then(|| (n, share(license, n)))
        }
        ReclaimKind::DisabledHolders => {
            let n = holdings.disabled_holders(license);
            (n > 0).then(|| (n, share(license, n)))
        }
        ReclaimKind::Unassigned => (license.seats_used == 0 && license.cost.amount > 0 && !expired)
            .then_some((0, license.cost)),
        ReclaimKind::ExpiredAssigned => {
            (expired && license.seats_used > 0).then_some((0, license.cost))
        }
    }
}

/// When seats must have been used last not to count as unused.
fn unused_before(today: NaiveDate, unused_days: u32) -> chrono::DateTime<chrono::Utc> {
    let day = today - chrono::Days::new(u64::from(unused_days));
    day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
}

/// Whether license `l` is in group `group` (a [`ReclaimKind`] name) of the reclaim report.
pub fn reclaim_includes(
    group: &str,
    l: &License,
    holdings: &impl Holdings,
    today: NaiveDate,
    unused_days: u32,
) -> bool {
    ReclaimKind::ALL
        .into_iter()
        .find(|k| k.as_str() == group)
        .is_some_and(|kind| {
            measure(kind, l, holdings, today, unused_before(today, unused_days)).is_some()
        })
}

/// What a kind of waste found: at stake, licenses, holders, and each license's worth.
type Found<'a, F> = (Amounts, u32, u64, super::seats::Best<(i64, &'a License), F>);

/// What could be reclaimed of `licenses`.
pub fn reclaim<'a>(
    licenses: impl IntoIterator<Item = &'a License>,
    holdings: &impl Holdings,
    today: NaiveDate,
    unused_days: u32,
) -> Reclaim {
    let licenses: Vec<&License> = licenses.into_iter().collect();
    let main = super::main_currency(licenses.iter().map(|l| l.cost.currency));
    let before = unused_before(today, unused_days);
    // One pass, every kind at once: each license is reached once.
    // The most at stake first; ties by name, then id.
    let order = |a: &(i64, &License), b: &(i64, &License)| {
        b.0.cmp(&a.0)
            .then_with(|| a.1.name.cmp(&b.1.name))
            .then_with(|| a.1.id.cmp(&b.1.id))
    };
    let mut found: Vec<Found<_>> = ReclaimKind::ALL
        .iter()
        .map(|_| (Amounts::default(), 0, 0, super::seats::Best::new(5, order)))
        .collect();
    for l in &licenses {
        for (kind, (at_stake, count, holders, largest)) in
            ReclaimKind::ALL.into_iter().zip(&mut found)
        {
            if let Some((n, money)) = measure(kind, l, holdings, today, before) {
                *count += 1;
                *holders += u64::from(n);
                at_stake.add(money);
                let worth = if Some(money.currency) == main {
                    money.amount
                } else {
                    0
                };
                largest.offer((worth, l));
            }
        }
    }
    let groups = ReclaimKind::ALL
        .into_iter()
        .zip(found)
        .map(|(kind, (at_stake, count, holders, largest))| ReclaimGroup {
            kind,
            licenses: count,
            holders,
            at_stake: at_stake.to_vec(),
            largest: largest
                .into_vec()
                .into_iter()
                .map(|(_, l)| (l.id.clone(), l.name.clone()))
                .collect(),
            drill: Drill::group(ReportKind::Reclaim, kind.as_str()),
        })
        .collect();
    Reclaim {
        unused_days,
        groups,
    }
}
