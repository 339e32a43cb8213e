//! The organization's members as the cache holds them: listed and read offline, with what
//! each holds counted from the inventory's holder indexes (the feed's member records say it
//! as of their own revision only).

use super::Cache;
use chrono::{DateTime, Utc};
use lm_protocol::socket::{Holding, MemberDetail};
use lm_protocol::{Assignee, EmployeeId, Member, MemberFilter};

impl Cache {
    /// The members `filter` selects, in name order, that are current at `now` (an expired
    /// invitation is not): how many there are, and the window `offset..offset + limit`.
    pub fn members(
        &self,
        filter: &MemberFilter,
        offset: usize,
        limit: usize,
        now: DateTime<Utc>,
    ) -> (usize, Vec<Member>) {
        let memory = self.read();
        let mut total = 0;
        let mut window = Vec::new();
        for member in memory.members.values() {
            if !member.is_current(now) || !filter.matches(member) {
                continue;
            }
            if total >= offset && window.len() < limit {
                let mut member = member.clone();
                (member.licenses, member.seats) = counts(&memory.licenses, &member.name);
                window.push(member);
            }
            total += 1;
        }
        (total, window)
    }

    /// Member `name` with every license they hold, if the cache has them.
    pub fn member(&self, name: &str, now: DateTime<Utc>) -> Option<MemberDetail> {
        let memory = self.read();
        let mut member = memory
            .members
            .get(name)
            .filter(|m| m.is_current(now))?
            .clone();
        (member.licenses, member.seats) = counts(&memory.licenses, name);
        let holdings = match name.parse::<EmployeeId>() {
            Ok(employee) => memory
                .licenses
                .holdings(&Assignee::Employee(employee))
                .into_iter()
                .map(|(license, assignment)| Holding {
                    license: license.id.clone(),
                    license_name: license.name.clone(),
                    assignment: assignment.id.clone(),
                    since: assignment.since,
                    seat: license.owner.is_some(),
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        Some(MemberDetail { member, holdings })
    }

    /// How many members the cache has (invitations included).
    pub fn member_count(&self) -> usize {
        self.read().members.len()
    }
}

/// How many licenses are assigned to `name`, and how many seats they took (the holdings of
/// licenses of their units).
fn counts(inventory: &crate::inventory::Inventory, name: &str) -> (u32, u32) {
    let Ok(employee) = name.parse::<EmployeeId>() else {
        return (0, 0);
    };
    let (mut licenses, mut seats) = (0u32, 0u32);
    for license in inventory.held_by(&Assignee::Employee(employee)) {
        if license.owner.is_some() {
            seats += 1;
        } else {
            licenses += 1;
        }
    }
    (licenses, seats)
}
