//! Seats in use: overall and per license (the licenses nearly full, over 90 %, and the ones
//! barely used, under 30 %), licenses without a seat limit apart, and for the seat licenses
//! of organisational units the seats taken against those bought, per unit.

use super::{Drill, ReportKind};
use crate::License;
use crate::license::{LicenseId, LicenseName};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A license's seats in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatUse {
    pub license: LicenseId,
    pub name: LicenseName,
    pub used: u32,
    pub seats: u32,
}

/// The seat licenses one unit owns: seats taken and bought.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitSeats {
    /// `class 4b` (the level and the unit; several units that own licenses together are
    /// joined with `+`).
    pub unit: String,
    pub licenses: u32,
    pub taken: u64,
    /// Seats bought; licenses without a limit count none.
    pub bought: u64,
    pub drill: Drill,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seats {
    /// Licenses with a seat limit, their seats in use and in all.
    pub limited: u32,
    pub used: u64,
    pub total: u64,
    /// Licenses without a seat limit, and the seats they have in use.
    pub unlimited: u32,
    pub unlimited_used: u64,
    /// How many licenses are over 90 % used, and the fullest of them.
    pub full: u32,
    pub fullest: Vec<SeatUse>,
    pub full_drill: Drill,
    /// How many licenses are under 30 % used, and the emptiest of them.
    pub idle: u32,
    pub emptiest: Vec<SeatUse>,
    pub idle_drill: Drill,
    pub units: Vec<UnitSeats>,
}

/// The groups of the seats report a list can be narrowed to.
pub const FULL: &str = "full";
pub const IDLE: &str = "idle";
const UNIT_PREFIX: &str = "unit:";

/// Over 90 % used (of a limit).
fn is_full(l: &License) -> bool {
    l.seats
        .is_some_and(|s| s > 0 && u64::from(l.seats_used) * 10 > u64::from(s) * 9)
}

/// Under 30 % used (of a limit).
fn is_idle(l: &License) -> bool {
    l.seats
        .is_some_and(|s| s > 0 && u64::from(l.seats_used) * 10 < u64::from(s) * 3)
}

fn unit_of(l: &License) -> Option<String> {
    let owner = l.owner.as_ref()?;
    let eids: Vec<&str> = owner.eids.iter().map(|e| e.as_str()).collect();
    Some(format!("{} {}", owner.level.as_str(), eids.join("+")))
}

/// Whether license `l` is in group `group` of the seats report.
pub fn seats_includes(group: &str, l: &License) -> bool {
    match group {
        FULL => is_full(l),
        IDLE => is_idle(l),
        _ => group
            .strip_prefix(UNIT_PREFIX)
            .is_some_and(|unit| unit_of(l).as_deref() == Some(unit)),
    }
}

fn seat_use(l: &License) -> SeatUse {
    SeatUse {
        license: l.id.clone(),
        name: l.name.clone(),
        used: l.seats_used,
        seats: l.seats.unwrap_or(0),
    }
}

/// The seats of `licenses`, naming the `top` fullest and emptiest.
pub fn seats<'a>(licenses: impl IntoIterator<Item = &'a License>, top: usize) -> Seats {
    let (mut limited, mut used, mut total) = (0, 0u64, 0u64);
    let (mut unlimited, mut unlimited_used) = (0, 0u64);
    // Share of the limit used, as a fraction compared without rounding: a/b vs c/d. Ties by
    // what the license holds inline (seats, cost): names, a trip to memory each, come last.
    let share = |l: &License| (u64::from(l.seats_used), u64::from(l.seats.unwrap_or(1)));
    let fuller = |a: &&License, b: &&License| {
        let ((au, at), (bu, bt)) = (share(a), share(b));
        (bu * at)
            .cmp(&(au * bt))
            .then(bt.cmp(&at))
            .then(b.cost.amount.cmp(&a.cost.amount))
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.id.cmp(&b.id))
    };
    let emptier = |a: &&License, b: &&License| {
        let ((au, at), (bu, bt)) = (share(a), share(b));
        (au * bt)
            .cmp(&(bu * at))
            .then(bt.cmp(&at))
            .then(b.cost.amount.cmp(&a.cost.amount))
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.id.cmp(&b.id))
    };
    let (mut full, mut idle) = (Best::new(top, fuller), Best::new(top, emptier));
    let (mut full_count, mut idle_count) = (0usize, 0usize);
    let mut units: BTreeMap<(&str, Vec<&str>), (u32, u64, u64)> = BTreeMap::new();
    for l in licenses {
        match l.seats {
            Some(seats) => {
                limited += 1;
                used += u64::from(l.seats_used);
                total += u64::from(seats);
            }
            None => {
                unlimited += 1;
                unlimited_used += u64::from(l.seats_used);
            }
        }
        if is_full(l) {
            full_count += 1;
            full.offer(l);
        }
        if is_idle(l) {
            idle_count += 1;
            idle.offer(l);
        }
        if let Some(owner) = &l.owner {
            let eids: Vec<&str> = owner.eids.iter().map(|e| e.as_str()).collect();
            let entry = units.entry((owner.level.as_str(), eids)).or_default();
            entry.0 += 1;
            entry.1 += u64::from(l.seats_used);
            entry.2 += u64::from(l.seats.unwrap_or(0));
        }
    }
    let (full, idle) = (full.into_vec(), idle.into_vec());
    Seats {
        limited,
        used,
        total,
        unlimited,
        unlimited_used,
        full: full_count as u32,
        fullest: full.iter().take(top).map(|l| seat_use(l)).collect(),
        full_drill: Drill::group(ReportKind::Seats, FULL),
        idle: idle_count as u32,
        emptiest: idle.iter().take(top).map(|l| seat_use(l)).collect(),
        idle_drill: Drill::group(ReportKind::Seats, IDLE),
        units: units
            .into_iter()
            .map(|((level, eids), (licenses, taken, bought))| {
                let unit = format!("{level} {}", eids.join("+"));
                UnitSeats {
                    drill: Drill::group(ReportKind::Seats, format!("{UNIT_PREFIX}{unit}")),
                    unit,
                    licenses,
                    taken,
                    bought,
                }
            })
            .collect(),
    }
}

/// The first `n` of what is offered, by `order`: kept sorted as they come, so that most
/// offers cost one comparison with the last kept.
pub(super) struct Best<T, F> {
    n: usize,
    order: F,
    kept: Vec<T>,
}

impl<T, F: Fn(&T, &T) -> std::cmp::Ordering> Best<T, F> {
    pub(super) fn new(n: usize, order: F) -> Self {
        Best {
            n,
            order,
            kept: Vec::with_capacity(n + 1),
        }
    }

    pub(super) fn offer(&mut self, l: T) {
        if self.n == 0 {
            return;
        }
        if self.kept.len() == self.n
            && (self.order)(&l, self.kept.last().expect("n > 0")) != std::cmp::Ordering::Less
        {
            return;
        }
        let at = self
            .kept
            .partition_point(|k| (self.order)(k, &l) != std::cmp::Ordering::Greater);
        self.kept.insert(at, l);
        self.kept.truncate(self.n);
    }

    pub(super) fn into_vec(self) -> Vec<T> {
        self.kept
    }
}
