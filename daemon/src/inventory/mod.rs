//! The cached licenses in memory, with the secondary indexes that let a list neither scan
//! nor sort the whole inventory for every request.
//!
//! Each license lives in a numbered slot; indexes and orders hold slots (four bytes), not
//! ids, and reach a license without hashing.
//!
//! - Exact values (kind, product, vendor, each employee and device assigned) map to the
//!   slots that have them, kept up to date with every change.
//! - Sort orders: per sort column, every slot in ascending (value, id) order — the
//!   definition of [`License::compare`]. An order is built ahead on a thread or when a list
//!   sorts by it (by one thread; others needing it wait), and then patched by each change
//!   (mended once for a page of changes; a page larger than a sixteenth of the inventory
//!   drops it instead). A range filter (cost, added, expires,
//!   expiring within) is two binary searches in its column's order.
//! - Free text: the hits of [`crate::search`].
//!
//! A list starts from the smallest candidate set any of these gives. A small one is sorted,
//! each candidate checked with [`LicenseFilter::matches`] — the one definition of what a
//! filter selects, which the server's SQL is tested against. Otherwise the sets of every
//! index asked are intersected, a bit per license, and the sort's order is walked keeping
//! what is in the intersection: only what no index answers is checked in the license. So a
//! list never sorts much, and rarely reaches a license it does not return. The tests hold
//! every path to a full scan with [`LicenseFilter::matches`].//!
//! One job per file: here the slots and the exact-value indexes kept with every change;
//! `orders` the sort orders (built, patched, mended); `slots` the bit sets of slots;
//! `plan` how a list picks its candidates and walks them.

mod orders;
mod plan;
mod slots;
#[cfg(test)]
mod tests;

use orders::{FIRST_SCREEN_SORT, Orders};
pub use slots::SlotSet;

use crate::search::SearchTexts;
use lm_protocol::{Assignee, Change, CursorValue, License, LicenseFilter, LicenseId, SortField};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex};

/// Where a license lives in the [`Inventory`].
pub type Slot = u32;

/// A batch of up to this many changes patches the sort orders change by change (a binary
/// search and a move each); a larger one mends each order once for the whole batch.
const PATCH_EACH_UP_TO: usize = 8;

/// A batch of more changes than the inventory divided by this drops the sort orders instead
/// of mending them: building them again on a thread costs less.
const MEND_UP_TO_ONE_IN: usize = 16;

/// A column that filters compare for equality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Exact {
    Kind,
    Product,
    Vendor,
    Employee,
    Device,
}

#[derive(Default)]
pub struct Inventory {
    slots: HashMap<LicenseId, Slot>,
    rows: Vec<Option<License>>,
    vacant: Vec<Slot>,
    exact: HashMap<(Exact, String), HashSet<Slot>>,
    texts: SearchTexts,
    orders: Mutex<Orders>,
    /// Signalled when an order is built, for lists waiting on it.
    order_built: Condvar,
}

/// The exact values `license` is found under.
fn exact_keys(license: &License) -> Vec<(Exact, String)> {
    let mut keys = vec![
        (Exact::Kind, license.kind.to_string()),
        (Exact::Product, license.product.to_string()),
        (Exact::Vendor, license.vendor.as_str().to_lowercase()),
    ];
    for a in &license.assignments {
        keys.push(match &a.assignee {
            Assignee::Employee(e) => (Exact::Employee, e.to_string()),
            Assignee::Device(d) => (Exact::Device, d.to_string()),
        });
    }
    keys
}

/// The exact values `filter` asks for, as index keys (the vendor is lowercased already).
fn exact_asked(filter: &LicenseFilter) -> Vec<(Exact, String)> {
    let mut asked = Vec::new();
    let mut ask = |field, value: Option<String>| {
        if let Some(value) = value {
            asked.push((field, value));
        }
    };
    ask(Exact::Kind, filter.kind.as_ref().map(ToString::to_string));
    ask(
        Exact::Product,
        filter.product.as_ref().map(ToString::to_string),
    );
    ask(Exact::Vendor, filter.vendor.clone());
    ask(
        Exact::Employee,
        filter.employee.as_ref().map(ToString::to_string),
    );
    ask(
        Exact::Device,
        filter.device.as_ref().map(ToString::to_string),
    );
    asked
}

impl Inventory {
    /// An inventory of `licenses`, with the order of the first screen of `lm` ready (by name):
    /// it should not wait for a sort of the whole inventory.
    pub fn build(licenses: impl IntoIterator<Item = License>) -> Inventory {
        let mut inventory = Inventory::default();
        for license in licenses {
            inventory.upsert(license);
        }
        inventory.order(FIRST_SCREEN_SORT);
        inventory
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn get(&self, id: &LicenseId) -> Option<&License> {
        self.slots.get(id).map(|&slot| self.row(slot))
    }

    pub fn ids(&self) -> impl Iterator<Item = &LicenseId> {
        self.slots.keys()
    }

    pub fn values(&self) -> impl Iterator<Item = &License> {
        self.rows.iter().flatten()
    }

    fn row(&self, slot: Slot) -> &License {
        self.rows[slot as usize]
            .as_ref()
            .expect("indexes hold live slots only")
    }

    /// The key an order sorts `slot` by under `field`.
    fn key(&self, slot: Slot, field: SortField) -> (CursorValue, &LicenseId) {
        let license = self.row(slot);
        (license.sort_value(field), &license.id)
    }

    /// Puts `license` in, in place of the one with its id (returned). Every sort order built
    /// so far is patched — two binary searches and a move — so a change does not cost the
    /// next list a full sort.
    pub fn upsert(&mut self, license: License) -> Option<License> {
        let before = self.remove(&license.id);
        let slot = self.vacant.pop().unwrap_or(self.rows.len() as Slot);
        if slot as usize == self.rows.len() {
            self.rows.push(None);
        }
        self.texts.insert(slot, &license.search_text());
        for key in exact_keys(&license) {
            self.exact.entry(key).or_default().insert(slot);
        }
        self.slots.insert(license.id.clone(), slot);
        self.rows[slot as usize] = Some(license);
        self.patch_orders(slot, |order, at| order.insert(at, slot));
        before
    }

    /// Applies a page of the change feed. A large page mends each sort order once — the
    /// changed licenses taken out, then merged back at their places — instead of moving
    /// slots around it once per change; a page larger than a sixteenth of the inventory drops
    /// the orders, to be built again.
    pub fn apply(&mut self, changes: &[Change]) {
        let apply = |inventory: &mut Inventory, change: &Change| match change {
            Change::Upsert { license, .. } => {
                inventory.upsert((**license).clone());
            }
            Change::Delete { id, .. } => {
                inventory.remove(id);
            }
        };
        if changes.len() <= PATCH_EACH_UP_TO {
            changes.iter().for_each(|change| apply(self, change));
            return;
        }
        // Taken out meanwhile, so that the changes below do not patch them one by one.
        let mut built = self.take_built_orders();
        if changes.len() > self.len() / MEND_UP_TO_ONE_IN {
            built.clear();
        }
        // Every slot a change emptied or filled (a slot freed by one may be filled by a later).
        let mut touched = Vec::with_capacity(changes.len() * 2);
        for change in changes {
            let id = match change {
                Change::Upsert { license, .. } => &license.id,
                Change::Delete { id, .. } => id,
            };
            touched.extend(self.slots.get(id).copied());
            apply(self, change);
            touched.extend(self.slots.get(id).copied());
        }
        let mut moved = SlotSet::none(self.rows.len());
        touched.iter().for_each(|&slot| moved.add(slot));
        let live: Vec<Slot> = moved
            .iter()
            .filter(|&slot| self.rows[slot as usize].is_some())
            .collect();
        for (&field, order) in built.iter_mut() {
            let order = Arc::make_mut(order);
            order.retain(|&slot| !moved.contains(slot));
            let mut arriving: Vec<_> = live.iter().map(|&s| (self.key(s, field), s)).collect();
            arriving.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            // One pass: each arriving slot's place is searched in what is left of the order.
            let mut merged = Vec::with_capacity(order.len() + arriving.len());
            let mut copied = 0;
            for (key, slot) in arriving {
                let at = copied + order[copied..].partition_point(|&s| self.key(s, field) < key);
                merged.extend_from_slice(&order[copied..at]);
                merged.push(slot);
                copied = at;
            }
            merged.extend_from_slice(&order[copied..]);
            *order = merged;
        }
        self.put_back_built_orders(built);
    }

    /// Takes the license `id` out.
    pub fn remove(&mut self, id: &LicenseId) -> Option<License> {
        let slot = *self.slots.get(id)?;
        self.patch_orders(slot, |order, at| {
            if order.get(at) == Some(&slot) {
                order.remove(at);
            }
        });
        self.slots.remove(id);
        let license = self.rows[slot as usize].take()?;
        self.texts.remove(slot);
        for key in exact_keys(&license) {
            if let Some(slots) = self.exact.get_mut(&key) {
                slots.remove(&slot);
                if slots.is_empty() {
                    self.exact.remove(&key);
                }
            }
        }
        self.vacant.push(slot);
        Some(license)
    }
}
