//! Reports over the cache (`lm_protocol::insights`): the licenses a filter selects are read
//! in place through the inventory's indexes, never copied; who holds what beyond the listed
//! ten comes from the holder index, who is disabled from the members. The trend is made of
//! the totals recorded here once a day (`trend/<date>` in sled).

use super::Cache;
use crate::inventory::Inventory;
use chrono::{DateTime, NaiveDate, Utc};
use lm_protocol::insights::{
    self, Amounts, GroupRef, Holdings, Report, ReportKind, ReportRequest, Trend, TrendPoint,
};
use lm_protocol::{Assignee, EmployeeId, License, LicenseFilter, LicenseId, MemberStatus, Sort};
use std::collections::HashMap;

/// `trend/<YYYY-MM-DD>`: the inventory's total cost on a day, each currency apart.
const TREND_PREFIX: &str = "trend/";

/// What the indexes know of holders, for the reclaim report.
struct Held<'a> {
    inventory: &'a Inventory,
    /// Per license, how many of its holders are disabled members.
    disabled: HashMap<&'a LicenseId, u32>,
}

impl Holdings for Held<'_> {
    fn disabled_holders(&self, license: &License) -> u32 {
        if self.disabled.is_empty() {
            // Nobody disabled holds anything: no license's id is looked up.
            return 0;
        }
        self.disabled.get(&license.id).copied().unwrap_or(0)
    }

    fn unused_seats(&self, license: &License, before: DateTime<Utc>) -> u32 {
        if license.owner.is_none() {
            return 0;
        }
        let unused = self
            .inventory
            .holders(&license.id)
            .filter(|a| a.last_seen.unwrap_or(a.since) < before)
            .count();
        u32::try_from(unused).unwrap_or(u32::MAX)
    }
}

impl Cache {
    /// The report `request` asks for, as of `today` (and `now`, the trend's last point).
    pub fn report(&self, request: &ReportRequest, today: NaiveDate) -> Report {
        let params = request.params;
        let memory = self.read();
        if request.report == ReportKind::Spend {
            // From the indexes: no license's text is reached.
            return Report::Spend(memory.licenses.spend(&request.filter, today, params.top));
        }
        let licenses = memory.licenses.matching(&request.filter, today);
        match request.report {
            ReportKind::Renewals => {
                Report::Renewals(insights::renewals(licenses, today, params.months))
            }
            ReportKind::Spend => unreachable!("answered above"),
            ReportKind::Seats => Report::Seats(insights::seats(licenses, params.top)),
            ReportKind::Reclaim => {
                let held = held(&memory);
                Report::Reclaim(insights::reclaim(
                    licenses,
                    &held,
                    today,
                    params.unused_days,
                ))
            }
            ReportKind::Trend => {
                let now = TrendPoint {
                    date: today,
                    total: totals(&licenses).to_vec(),
                };
                drop(memory);
                let mut trend = Trend::from_days(self.recorded_totals(), now, params.months);
                if request.filter != LicenseFilter::default() {
                    trend
                        .source
                        .push_str("; the days before today are of the whole inventory");
                }
                Report::Trend(trend)
            }
        }
    }

    /// The licenses `filter` selects that are in a report's `group`, in `sort` order: how
    /// many, and the window `offset..offset + limit`.
    pub fn list_within(
        &self,
        group: &GroupRef,
        filter: &LicenseFilter,
        sort: Sort,
        window: std::ops::Range<usize>,
        today: NaiveDate,
    ) -> (usize, Vec<License>) {
        let memory = self.read();
        let held = held(&memory);
        let mut members: Vec<&License> = memory
            .licenses
            .matching(filter, today)
            .into_iter()
            .filter(|l| match group.report {
                ReportKind::Seats => insights::seats_includes(&group.group, l),
                ReportKind::Reclaim => insights::reclaim_includes(
                    &group.group,
                    l,
                    &held,
                    today,
                    group.params.unused_days,
                ),
                // Their groups are queries.
                _ => false,
            })
            .collect();
        members.sort_by(|a, b| a.compare(b, sort));
        let total = members.len();
        let items = members
            .into_iter()
            .skip(window.start)
            .take(window.len())
            .cloned()
            .collect();
        (total, items)
    }

    /// Records today's total of the whole inventory for the trend, replacing an earlier one
    /// of the same day.
    pub fn record_totals(&self, today: NaiveDate) -> super::Result<()> {
        let total = {
            let memory = self.read();
            let all: Vec<&License> = memory.licenses.values().collect();
            totals(&all).to_vec()
        };
        self.db.insert(
            format!("{TREND_PREFIX}{today}"),
            super::layout::encode(&total),
        )?;
        Ok(())
    }

    /// The totals recorded, one per day, oldest first.
    fn recorded_totals(&self) -> Vec<TrendPoint> {
        self.db
            .scan_prefix(TREND_PREFIX)
            .filter_map(|entry| {
                let (key, value) = entry.ok()?;
                let date = std::str::from_utf8(&key[TREND_PREFIX.len()..])
                    .ok()?
                    .parse()
                    .ok()?;
                let total = serde_json::from_slice(&value).ok()?;
                Some(TrendPoint { date, total })
            })
            .collect()
    }
}

fn totals(licenses: &[&License]) -> Amounts {
    let mut total = Amounts::default();
    for l in licenses {
        total.add(l.cost);
    }
    total
}

/// Who holds what, and which holders are disabled members.
fn held(memory: &super::Memory) -> Held<'_> {
    let mut disabled: HashMap<&LicenseId, u32> = HashMap::new();
    for member in memory.members.values() {
        if member.status != MemberStatus::Disabled {
            continue;
        }
        let Ok(employee) = member.name.parse::<EmployeeId>() else {
            continue;
        };
        for license in memory.licenses.held_by(&Assignee::Employee(employee)) {
            *disabled.entry(&license.id).or_default() += 1;
        }
    }
    Held {
        inventory: &memory.licenses,
        disabled,
    }
}
