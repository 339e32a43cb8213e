//! How many bytes each part of the inventory takes: estimates from the structures' sizes
//! and capacities, for the memory breakdown of `lm status --memory` and the daemon bench.

use super::holders::Holders;
use super::{Exact, Inventory, Slot};
use lm_protocol::{Assignment, License, LicenseId};

/// One part: its name, its bytes, how many things it holds.
pub type Part = (&'static str, usize, usize);

/// The bytes of a hash table that can hold `capacity` entries of `entry` bytes: a power of
/// two of buckets (a table is at most seven-eighths full), a control byte each.
pub fn table_bytes(capacity: usize, entry: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = (capacity * 8 / 7).next_power_of_two();
    buckets * (entry + 1)
}

/// The heap bytes of a license's own text and the holders it lists. The values it shares
/// with others (kind, vendor, product, notes, owner) are the pool's, the text of the
/// holders it lists the holders'.
fn license_heap_bytes(license: &License) -> usize {
    license.id.as_str().len()
        + license.name.as_str().len()
        + license.key.as_ref().map_or(0, |k| k.expose().len())
        + license.owner.as_ref().map_or(0, |owner| {
            size_of::<lm_protocol::Owner>()
                + owner.eids.capacity() * size_of::<lm_protocol::HierarchyName>()
        })
        + license.assignments.capacity() * size_of::<Assignment>()
}

impl Inventory {
    /// The inventory's parts in memory, by estimate.
    pub fn footprint(&self) -> Vec<Part> {
        let licenses = self.rows.capacity() * size_of::<Option<Box<License>>>()
            + self
                .values()
                .map(|l| size_of::<License>() + license_heap_bytes(l))
                .sum::<usize>();
        // The ids' text is the licenses'.
        let slots = table_bytes(self.slots.capacity(), size_of::<(LicenseId, Slot)>());
        let holder_count: usize = self.holders.values().map(Holders::len).sum();
        let holders = table_bytes(self.holders.capacity(), size_of::<(LicenseId, Holders)>())
            + self
                .holders
                .iter()
                .map(|(id, h)| id.as_str().len() + h.heap_bytes())
                .sum::<usize>();
        let exact = table_bytes(
            self.exact.capacity(),
            size_of::<((Exact, String), super::SortedSlots)>(),
        ) + self
            .exact
            .iter()
            .map(|((_, value), slots)| value.capacity() + slots.heap_bytes())
            .sum::<usize>();
        let built = self.orders().built.clone();
        let orders: usize = built
            .values()
            .map(|o| o.capacity() * size_of::<Slot>())
            .sum();
        vec![
            ("licenses", licenses, self.len()),
            ("holders", holders, holder_count),
            ("free-text search", self.texts.heap_bytes(), self.len()),
            ("exact-value indexes", exact, self.exact.len()),
            ("slots by id", slots, self.slots.len()),
            ("sort orders", orders, built.len()),
            ("shared values", self.pool.heap_bytes(), self.pool.len()),
        ]
    }
}
