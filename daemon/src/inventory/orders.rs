//! The sort orders: per sort column every slot in (value, id) order, built ahead on a thread
//! or when a list needs one (by one thread; others wait), then patched by each change.

use super::{Inventory, Slot};
use lm_protocol::SortField;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, MutexGuard};

/// What `lm` sorts its first screen by.
pub(super) const FIRST_SCREEN_SORT: SortField = SortField::Name;

/// The sort orders built so far, and those being built (each by one thread only: a list
/// needing one being built waits for it rather than sorting everything a second time).
#[derive(Default)]
pub(super) struct Orders {
    pub(super) built: HashMap<SortField, Arc<Vec<Slot>>>,
    pub(super) building: HashSet<SortField>,
}

/// Clears the `building` mark of an order however its build ends, and wakes the waiters.
struct Building<'i> {
    inventory: &'i Inventory,
    field: SortField,
}

impl Drop for Building<'_> {
    fn drop(&mut self) {
        self.inventory.orders().building.remove(&self.field);
        self.inventory.order_built.notify_all();
    }
}

impl Inventory {
    /// Applies `patch` to every sort order built so far at the place of `slot` (whose
    /// license is in `rows`): where it is, or where it belongs.
    pub(super) fn patch_orders(&mut self, slot: Slot, patch: impl Fn(&mut Vec<Slot>, usize)) {
        // Taken out while patched: finding the place reads the rows through `self`.
        let mut built = self.take_built_orders();
        for (&field, order) in built.iter_mut() {
            let key = self.key(slot, field);
            let at = order.partition_point(|&s| self.key(s, field) < key);
            patch(Arc::make_mut(order), at);
        }
        self.put_back_built_orders(built);
    }

    /// The built orders, taken out to be changed while the rows are read through `self`. None
    /// is being built meanwhile: that happens under `&self`, never beside `&mut self`.
    pub(super) fn take_built_orders(&mut self) -> HashMap<SortField, Arc<Vec<Slot>>> {
        let orders = self.orders.get_mut().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut orders.built)
    }

    pub(super) fn put_back_built_orders(&mut self, built: HashMap<SortField, Arc<Vec<Slot>>>) {
        self.orders
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .built = built;
    }

    pub(super) fn orders(&self) -> MutexGuard<'_, Orders> {
        self.orders.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The order of `field` if it is built.
    pub(super) fn built(&self, field: SortField) -> Option<Arc<Vec<Slot>>> {
        self.orders().built.get(&field).cloned()
    }

    /// Every slot in ascending `field` order, ties by id: built now if no one has, waited
    /// for if another thread is building it. Built outside the lock, so that lists needing
    /// other orders are not held up meanwhile.
    pub(super) fn order(&self, field: SortField) -> Arc<Vec<Slot>> {
        let mut orders = self.orders();
        loop {
            if let Some(order) = orders.built.get(&field) {
                return order.clone();
            }
            if !orders.building.contains(&field) {
                break;
            }
            orders = self
                .order_built
                .wait(orders)
                .unwrap_or_else(|e| e.into_inner());
        }
        orders.building.insert(field);
        drop(orders);
        let building = Building {
            inventory: self,
            field,
        };
        let order = Arc::new(if field == SortField::Id {
            // Ids are unique. In slot order: the licenses are read one after another.
            let mut ids: Vec<_> = self
                .rows
                .iter()
                .zip(0..)
                .filter_map(|(row, slot)| row.as_ref().map(|l| (&l.id, slot)))
                .collect();
            ids.sort_unstable();
            ids.into_iter().map(|(_, slot)| slot).collect()
        } else {
            // A stable sort of the order by id: equal values stay in id order, so ties
            // never compare ids (with a few kinds or vendors, nearly every comparison ties).
            let mut slots = self.order(SortField::Id).to_vec();
            slots.sort_by_cached_key(|&slot| self.row(slot).sort_value(field));
            slots
        });
        self.orders().built.insert(field, order.clone());
        drop(building);
        order
    }

    /// The sort columns whose order is not built, the first screen's first.
    pub fn unprepared(&self) -> Vec<SortField> {
        let orders = self.orders();
        let mut fields = SortField::ALL.to_vec();
        fields.sort_by_key(|field| *field != FIRST_SCREEN_SORT);
        fields.retain(|field| !orders.built.contains_key(field));
        fields
    }

    /// Builds the order of `field` now rather than on its first list.
    pub fn prepare(&self, field: SortField) {
        self.order(field);
    }
}
