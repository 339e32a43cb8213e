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

mod footprint;
mod groups;
mod holders;
mod orders;
mod plan;
mod slots;
#[cfg(test)]
mod tests;

use holders::Holders;
use orders::{FIRST_SCREEN_SORT, Orders};
pub use slots::{SlotSet, SortedSlots};

use crate::search::SearchTexts;
use lm_protocol::text::{SharedText, TextPool};
use lm_protocol::{
    Assignee, Assignment, AssignmentId, Change, CursorValue, License, LicenseFilter, LicenseId,
    SortField,
};
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};

/// Where a license lives in the [`Inventory`].
pub type Slot = u32;

/// A batch of up to this many license changes patches the sort orders change by change (a
/// binary search and a move each); a larger one mends each order once for the whole batch.
const PATCH_EACH_UP_TO: usize = 8;

/// A batch of more license changes than the inventory divided by this drops the sort orders
/// instead of mending them: building them again on a thread costs less.
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

/// The inventory's hash maps: keyed by ids and values a manager's own organization wrote,
/// hashed by `foldhash` (randomly seeded; SipHash was a twentieth of a first sync).
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

#[derive(Default)]
pub struct Inventory {
    slots: Map<LicenseId, Slot>,
    /// Boxed: a vacant slot or a vector grown ahead costs a pointer, not a license.
    rows: Vec<Option<Box<License>>>,
    vacant: Vec<Slot>,
    exact: Map<(Exact, String), SortedSlots>,
    /// Every holder, by license: the feed's holder changes and the holders licenses list.
    /// Kept also for a license not here yet (its holders may come first); the employee and
    /// device indexes are made from these, not from the ten a license lists.
    holders: Map<LicenseId, Holders>,
    texts: SearchTexts,
    /// The values many licenses repeat (vendors, products, notes, owners, holders), each
    /// kept once.
    pool: TextPool,
    orders: Mutex<Orders>,
    /// Signalled when an order is built, for lists waiting on it.
    order_built: Condvar,
}

/// The exact values of `license`'s own fields it is found under.
fn exact_keys(license: &License) -> [(Exact, String); 3] {
    [
        (Exact::Kind, license.kind.to_string()),
        (Exact::Product, license.product.to_string()),
        (Exact::Vendor, license.vendor.as_str().to_lowercase()),
    ]
}

/// Makes `who` the pool's equal value: an employee or device holds many licenses.
fn share_assignee(pool: &mut TextPool, who: &mut Assignee) {
    match who {
        Assignee::Employee(employee) => employee.share_from(pool),
        Assignee::Device(device) => device.share_from(pool),
    }
}

/// The exact value a license assigned to `who` is found under.
fn holder_key(who: &Assignee) -> (Exact, String) {
    match who {
        Assignee::Employee(e) => (Exact::Employee, e.to_string()),
        Assignee::Device(d) => (Exact::Device, d.to_string()),
    }
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
    /// An inventory of `licenses` and their `holders`, with the order of the first screen of
    /// `lm` ready (by name): it should not wait for a sort of the whole inventory.
    pub fn build(
        licenses: impl IntoIterator<Item = License>,
        holders: impl IntoIterator<Item = (LicenseId, Assignment)>,
    ) -> Inventory {
        let mut inventory = Inventory::default();
        for (license, assignment) in holders {
            inventory.hold(license, assignment);
        }
        for license in licenses {
            inventory.upsert(license);
        }
        inventory.order_first_screen();
        inventory
    }

    /// Builds the order of the first screen of `lm` (by name), if it is not built yet.
    pub fn order_first_screen(&self) {
        self.order(FIRST_SCREEN_SORT);
    }

    /// Takes in one change, by value (see [`Inventory::apply`] for a page of them).
    fn take(&mut self, change: Change) {
        match change {
            Change::Upsert { license, .. } => {
                self.upsert(*license);
            }
            Change::Delete { id, .. } => {
                self.remove(&id);
            }
            Change::Assign {
                license,
                assignment,
                ..
            } => self.hold(license, assignment),
            Change::Unassign { license, id, .. } => self.release(&license, &id),
            // Members are the cache's, not the inventory's.
            Change::Member { .. } | Change::Uninvite { .. } => {}
        }
    }

    /// Every holder of every license (also of one not here yet), license by license.
    pub fn every_holder(&self) -> impl Iterator<Item = (&LicenseId, &Assignment)> {
        self.holders
            .iter()
            .flat_map(|(license, holders)| holders.iter().map(move |a| (license, a)))
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
        self.rows.iter().flatten().map(|row| &**row)
    }

    /// Every holder of license `id` known, in the order they were assigned.
    pub fn holders(&self, id: &LicenseId) -> impl Iterator<Item = &Assignment> {
        self.holders.get(id).into_iter().flat_map(Holders::iter)
    }

    /// How many holders of license `id` are known.
    pub fn holder_count(&self, id: &LicenseId) -> usize {
        self.holders.get(id).map_or(0, Holders::len)
    }

    /// Whether license `id` has the assignment `assignment`.
    pub fn has_assignment(&self, id: &LicenseId, assignment: &AssignmentId) -> bool {
        self.holders.get(id).is_some_and(|h| h.contains(assignment))
    }

    /// Whether license `id` is assigned to `who`: by any of its holders, listed or not.
    pub fn holds(&self, id: &LicenseId, who: &Assignee) -> bool {
        self.slots
            .get(id)
            .is_some_and(|&slot| self.slot_holds(slot, who))
    }

    /// Every license `who` holds (by any holder, listed or not), in no order.
    pub fn held_by(&self, who: &Assignee) -> impl Iterator<Item = &License> {
        self.exact
            .get(&holder_key(who))
            .into_iter()
            .flatten()
            .filter_map(|&slot| self.rows[slot as usize].as_deref())
    }

    /// Every license `who` holds, with their assignment of it: by any holder, listed or not.
    pub fn holdings(&self, who: &Assignee) -> Vec<(&License, &Assignment)> {
        let Some(slots) = self.exact.get(&holder_key(who)) else {
            return Vec::new();
        };
        let mut held: Vec<(&License, &Assignment)> = slots
            .iter()
            .filter_map(|&slot| {
                let license = self.rows[slot as usize].as_deref()?;
                let assignment = self.holders(&license.id).find(|a| a.assignee == *who)?;
                Some((license, assignment))
            })
            .collect();
        held.sort_by(|a, b| a.0.name.cmp(&b.0.name).then(a.0.id.cmp(&b.0.id)));
        held
    }

    fn slot_holds(&self, slot: Slot, who: &Assignee) -> bool {
        self.exact
            .get(&holder_key(who))
            .is_some_and(|slots| slots.contains(slot))
    }

    fn row(&self, slot: Slot) -> &License {
        self.rows[slot as usize]
            .as_deref()
            .expect("indexes hold live slots only")
    }

    /// The key an order sorts `slot` by under `field`.
    fn key(&self, slot: Slot, field: SortField) -> (CursorValue, &LicenseId) {
        let license = self.row(slot);
        (license.sort_value(field), &license.id)
    }

    fn index_exact(&mut self, key: (Exact, String), slot: Slot) {
        self.exact.entry(key).or_default().insert(slot);
    }

    fn unindex_exact(&mut self, key: &(Exact, String), slot: Slot) {
        if let Some(slots) = self.exact.get_mut(key) {
            slots.remove(slot);
            if slots.is_empty() {
                self.exact.remove(key);
            }
        }
    }

    /// Records that license `license` is assigned by `assignment` (also before the license
    /// itself arrives).
    pub fn hold(&mut self, mut license: LicenseId, mut assignment: Assignment) {
        share_assignee(&mut self.pool, &mut assignment.assignee);
        let slot = match self.slots.get_key_value(&license) {
            Some((id, &slot)) => {
                // One text for the id, the license's and its holders'.
                license = id.clone();
                Some(slot)
            }
            None => None,
        };
        let key = holder_key(&assignment.assignee);
        let holders = self.holders.entry(license).or_default();
        if holders.insert(assignment)
            && let Some(slot) = slot
        {
            self.index_exact(key, slot);
        }
    }

    /// Records that the assignment `id` of license `license` ended.
    pub fn release(&mut self, license: &LicenseId, id: &AssignmentId) {
        let Some(holders) = self.holders.get_mut(license) else {
            return;
        };
        let Some(gone) = holders.remove(id) else {
            return;
        };
        if holders.is_empty() {
            self.holders.remove(license);
        }
        if let Some(&slot) = self.slots.get(license) {
            self.unindex_exact(&holder_key(&gone.assignee), slot);
        }
    }

    /// Puts `license` in, in place of the one with its id (returned), with the holders it
    /// lists among its holders. Every sort order built so far is patched — two binary
    /// searches and a move — so a change does not cost the next list a full sort.
    pub fn upsert(&mut self, mut license: License) -> Option<License> {
        // Read from JSON, the listing grew by doubling: up to six spare assignments each.
        license.assignments.shrink_to_fit();
        self.share_values(&mut license);
        if let Some((id, _)) = self.holders.get_key_value(&license.id) {
            // One text for the id, the license's and its holders'.
            license.id = id.clone();
        }
        for listed in &mut license.assignments {
            let known = self
                .holders
                .get(&license.id)
                .and_then(|h| h.get(&listed.id));
            match known {
                // One text for the holder and its listing.
                Some(known) => {
                    listed.id = known.id.clone();
                    listed.assignee = known.assignee.clone();
                }
                None => {
                    share_assignee(&mut self.pool, &mut listed.assignee);
                    self.hold(license.id.clone(), listed.clone());
                }
            }
        }
        if let Some(&slot) = self.slots.get(&license.id) {
            // In place: the slot keeps the index entries of its holders.
            // A change that keeps its kind, product and vendor keeps their index entries:
            // an exact value's slots are a sorted vector, and moving thousands of them for
            // each change of a page cost more than the change itself.
            let same_values = self.rows[slot as usize]
                .as_deref()
                .is_some_and(|before| exact_keys(before) == exact_keys(&license));
            let before = self.take_row(slot, !same_values);
            self.put_row(slot, license, !same_values);
            return before;
        }
        let slot = self.vacant.pop().unwrap_or(self.rows.len() as Slot);
        if slot as usize == self.rows.len() {
            self.rows.push(None);
        }
        self.slots.insert(license.id.clone(), slot);
        let keys: Vec<_> = self
            .holders
            .get(&license.id)
            .into_iter()
            .flat_map(Holders::iter)
            .map(|a| holder_key(&a.assignee))
            .collect();
        for key in keys {
            self.index_exact(key, slot);
        }
        self.put_row(slot, license, true);
        None
    }

    /// Makes the values `license` repeats of others the pool's (see [`TextPool`]).
    fn share_values(&mut self, license: &mut License) {
        let pool = &mut self.pool;
        license.product.share_from(pool);
        license.kind.share_from(pool);
        license.vendor.share_from(pool);
        license.notes.share_from(pool);
        if let Some(owner) = &mut license.owner {
            owner.level.share_from(pool);
            owner.eids.iter_mut().for_each(|eid| eid.share_from(pool));
        }
        pool.prune();
    }

    /// Fills `slot` with `license`: its text, its fields' exact values (unless
    /// `index_values` is false: they are indexed already), its place in every order built.
    fn put_row(&mut self, slot: Slot, license: License, index_values: bool) {
        self.texts.insert(slot, &license.search_text());
        if index_values {
            for key in exact_keys(&license) {
                self.index_exact(key, slot);
            }
        }
        self.rows[slot as usize] = Some(Box::new(license));
        self.patch_orders(slot, |order, at| order.insert(at, slot));
    }

    /// Empties `slot` of its license, undoing [`Inventory::put_row`] (its values' index
    /// entries only with `unindex_values`); the slot stays the license's, with its holders.
    fn take_row(&mut self, slot: Slot, unindex_values: bool) -> Option<License> {
        self.patch_orders(slot, |order, at| {
            if order.get(at) == Some(&slot) {
                order.remove(at);
            }
        });
        let license = *self.rows[slot as usize].take()?;
        self.texts.remove(slot);
        if unindex_values {
            for key in exact_keys(&license) {
                self.unindex_exact(&key, slot);
            }
        }
        Some(license)
    }

    /// Applies a page of the change feed. A page of many license changes mends each sort
    /// order once — the changed licenses taken out, then merged back at their places —
    /// instead of moving slots around it once per change; a page larger than a sixteenth of
    /// the inventory drops the orders, to be built again. Holder changes touch no order.
    pub fn apply(&mut self, changes: Vec<Change>) {
        let of_licenses =
            |change: &Change| matches!(change, Change::Upsert { .. } | Change::Delete { .. });
        let license_changes = changes.iter().filter(|c| of_licenses(c)).count();
        if license_changes <= PATCH_EACH_UP_TO {
            changes.into_iter().for_each(|change| self.take(change));
            return;
        }
        // Taken out meanwhile, so that the changes below do not patch them one by one.
        let mut built = self.take_built_orders();
        if license_changes > self.len() / MEND_UP_TO_ONE_IN {
            built.clear();
        }
        // Every slot a change emptied or filled (a slot freed by one may be filled by a later).
        let mut touched = Vec::with_capacity(license_changes * 2);
        for change in changes {
            if !of_licenses(&change) {
                self.take(change);
                continue;
            }
            let Some(id) = change.license().cloned() else {
                continue;
            };
            touched.extend(self.slots.get(&id).copied());
            self.take(change);
            touched.extend(self.slots.get(&id).copied());
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

    /// Takes the license `id` out, and its holders with it.
    pub fn remove(&mut self, id: &LicenseId) -> Option<License> {
        let holders = self.holders.remove(id);
        let slot = *self.slots.get(id)?;
        let license = self.take_row(slot, true);
        for gone in holders.into_iter().flat_map(Holders::into_values) {
            self.unindex_exact(&holder_key(&gone.assignee), slot);
        }
        self.slots.remove(id);
        self.vacant.push(slot);
        license
    }
}
