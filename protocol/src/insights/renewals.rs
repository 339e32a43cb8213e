//! The renewal forecast: per month from the current one, the licenses that expire and what
//! renewing them costs, each currency apart; the ones expired already (and not renewed)
//! apart, and how many never expire.

use super::{Amounts, Drill};
use crate::License;
use crate::money::Money;
use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Serialize};

/// One month of the forecast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewalMonth {
    /// Its first day.
    pub month: NaiveDate,
    /// The month of today: it counts from today on (the days before are expired).
    pub current: bool,
    pub licenses: u32,
    pub cost: Vec<Money>,
    pub drill: Drill,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Renewals {
    pub months: Vec<RenewalMonth>,
    /// Expired before today and not renewed.
    pub expired: u32,
    pub expired_cost: Vec<Money>,
    pub expired_drill: Drill,
    /// Licenses beyond the forecast's last month.
    pub later: u32,
    /// Licenses that never expire (perpetual, site).
    pub no_expiry: u32,
    /// Licenses in the forecast without a cost recorded.
    pub no_cost: u32,
}

/// The first day of the month `n` months after the one of `day`.
fn month_start(day: NaiveDate, n: u32) -> NaiveDate {
    let first = day.with_day(1).expect("every month has a first day");
    first.checked_add_months(Months::new(n)).unwrap_or(first)
}

/// The forecast of `licenses` for `months` months from the one of `today`.
pub fn renewals<'a>(
    licenses: impl IntoIterator<Item = &'a License>,
    today: NaiveDate,
    months: u32,
) -> Renewals {
    let starts: Vec<NaiveDate> = (0..=months).map(|n| month_start(today, n)).collect();
    let mut counts = vec![0u32; months as usize];
    let mut costs = vec![Amounts::default(); months as usize];
    let (mut expired, mut expired_cost) = (0, Amounts::default());
    let (mut later, mut no_expiry, mut no_cost) = (0, 0, 0);
    for license in licenses {
        let Some(expires) = license.expires else {
            no_expiry += 1;
            continue;
        };
        if expires < today {
            expired += 1;
            expired_cost.add(license.cost);
        } else if expires >= starts[months as usize] {
            later += 1;
            continue;
        } else {
            // The month it falls in: the last start on or before it.
            let at = starts.partition_point(|s| *s <= expires) - 1;
            counts[at] += 1;
            costs[at].add(license.cost);
        }
        if license.cost.amount == 0 {
            no_cost += 1;
        }
    }
    let months = (0..months as usize)
        .map(|i| {
            let from = if i == 0 { today } else { starts[i] };
            let to = starts[i + 1].pred_opt().unwrap_or(starts[i + 1]);
            RenewalMonth {
                month: starts[i],
                current: i == 0,
                licenses: counts[i],
                cost: costs[i].to_vec(),
                drill: Drill::query(format!("expires>={from} expires<={to}")),
            }
        })
        .collect();
    Renewals {
        months,
        expired,
        expired_cost: expired_cost.to_vec(),
        expired_drill: Drill::query("expires<today"),
        later,
        no_expiry,
        no_cost,
    }
}
