//! The spend's breakdowns from the indexes: licenses grouped by vendor, kind and product
//! through the exact-value index that answers those filters, with their costs — without
//! reaching each license's text (a trip to memory per license, the most of a report's time).

use super::{Exact, Inventory, Slot};
use chrono::NaiveDate;
use lm_protocol::LicenseFilter;
use lm_protocol::insights::{Amounts, Grouped, Spend, spend_of};

impl Inventory {
    /// The spend of the licenses `filter` selects, each breakdown naming its `top` groups.
    pub fn spend(&self, filter: &LicenseFilter, today: NaiveDate, top: usize) -> Spend {
        let slots = self.matching_slots(filter, today);
        let fields = [Exact::Vendor, Exact::Kind, Exact::Product];
        // Each slot's group under each field, from the index's sets: dense writes, no
        // license reached.
        let mut names: [Vec<Slot>; 3] = [Vec::new(), Vec::new(), Vec::new()];
        let mut group_of = vec![[u32::MAX; 3]; self.rows.len()];
        for (f, field) in fields.iter().enumerate() {
            for ((of, _), members) in &self.exact {
                if of != field || members.is_empty() {
                    continue;
                }
                let group = names[f].len() as u32;
                names[f].push(members.iter().copied().min().unwrap_or(0));
                for &slot in members {
                    group_of[slot as usize][f] = group;
                }
            }
        }
        let mut sums: [Vec<(u32, Amounts)>; 3] = names
            .each_ref()
            .map(|n| vec![(0, Amounts::default()); n.len()]);
        let mut costs = Vec::new();
        let mut take = |slot: Slot| {
            let cost = self.row(slot).cost;
            costs.push(cost);
            for (f, sums) in sums.iter_mut().enumerate() {
                if let Some(entry) = sums.get_mut(group_of[slot as usize][f] as usize) {
                    entry.0 += 1;
                    entry.1.add(cost);
                }
            }
        };
        match &slots {
            Some(slots) => slots.iter().for_each(|&slot| take(slot)),
            None => (0..self.rows.len() as Slot)
                .filter(|&slot| self.rows[slot as usize].is_some())
                .for_each(take),
        }
        // Named by the license's own spelling (the vendor index is lowercased).
        let groups = [0, 1, 2].map(|f| {
            names[f]
                .iter()
                .zip(std::mem::take(&mut sums[f]))
                .filter(|(_, (count, _))| *count > 0)
                .map(|(&slot, (count, cost))| {
                    let license = self.row(slot);
                    let name = match fields[f] {
                        Exact::Vendor => license.vendor.to_string(),
                        Exact::Kind => license.kind.to_string(),
                        _ => license.product.to_string(),
                    };
                    (name, count, cost)
                })
                .collect::<Vec<Grouped>>()
        });
        spend_of(costs, groups, top)
    }
}
