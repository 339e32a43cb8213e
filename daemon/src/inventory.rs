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
//! every path to a full scan with [`LicenseFilter::matches`].

use crate::search::SearchTexts;
use chrono::NaiveDate;
use lm_protocol::{
    Assignee, Change, CursorValue, License, LicenseFilter, LicenseId, Sort, SortField,
};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// What `lm` sorts its first screen by.
const FIRST_SCREEN_SORT: SortField = SortField::Name;

/// Where a license lives in the [`Inventory`].
pub type Slot = u32;

/// Candidate sets up to the inventory divided by this (or up to [`SORT_AT_MOST`]) are
/// sorted; larger ones are walked in sort order. Sorting reaches every candidate's license
/// (a cache miss each), walking tests a bit per license: about 500 times cheaper.
const SORT_AT_MOST_ONE_IN: usize = 512;
const SORT_AT_MOST: usize = 64;

/// A batch of up to this many changes patches the sort orders change by change (a binary
/// search and a move each); a larger one mends each order once for the whole batch.
const PATCH_EACH_UP_TO: usize = 8;

/// A batch of more changes than the inventory divided by this drops the sort orders instead
/// of mending them: building them again on a thread costs less.
const MEND_UP_TO_ONE_IN: usize = 16;

/// Free text is looked for in each candidate's own text when other indexes leave at most
/// the inventory divided by this; otherwise one search goes through every text.
const SEARCH_EACH_UP_TO_ONE_IN: usize = 4;

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

/// The sort orders built so far, and those being built (each by one thread only: a list
/// needing one being built waits for it rather than sorting everything a second time).
#[derive(Default)]
struct Orders {
    built: HashMap<SortField, Arc<Vec<Slot>>>,
    building: HashSet<SortField>,
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

/// A set of slots, one bit each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotSet {
    bits: Vec<u64>,
    count: usize,
}

impl SlotSet {
    pub fn none(slots: usize) -> SlotSet {
        SlotSet {
            bits: vec![0; slots.div_ceil(64)],
            count: 0,
        }
    }

    pub fn add(&mut self, slot: Slot) {
        let (word, bit) = (slot as usize / 64, 1u64 << (slot % 64));
        if let Some(word) = self.bits.get_mut(word)
            && *word & bit == 0
        {
            *word |= bit;
            self.count += 1;
        }
    }

    pub fn contains(&self, slot: Slot) -> bool {
        self.bits
            .get(slot as usize / 64)
            .is_some_and(|word| word & (1 << (slot % 64)) != 0)
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Keeps only the slots `other` has too.
    pub fn keep_common(&mut self, other: &SlotSet) {
        let mut theirs = other.bits.iter();
        for word in &mut self.bits {
            *word &= theirs.next().copied().unwrap_or(0);
        }
        self.count = self.bits.iter().map(|w| w.count_ones() as usize).sum();
    }

    /// The slots in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = Slot> + '_ {
        self.bits.iter().enumerate().flat_map(|(i, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let bit = rest.trailing_zeros();
                    rest &= rest - 1;
                    (i * 64) as Slot + bit
                })
            })
        })
    }
}

/// What a list looks at before checking the filter.
enum Candidates<'a> {
    /// So few that sorting them beats walking an order; each is checked against the whole
    /// filter.
    Few(Vec<Slot>),
    /// A walk along `path`, a run of the sort's order (the range asked of the sort's own
    /// column), looking only at what is `within`: the slots every other index asked agrees
    /// on. What those indexes answer is not checked again — only `rest`.
    Walk {
        path: &'a [Slot],
        within: Option<SlotSet>,
        rest: Option<Box<LicenseFilter>>,
    },
}

/// How a list checks a candidate's free text.
enum TextCheck<'q> {
    /// No free text asked.
    Nothing,
    /// By the hits of one search through every text.
    Hits(SlotSet),
    /// In the candidate's own text: cheaper when the other indexes leave few candidates.
    Each(Box<memchr::memmem::Finder<'q>>),
}

/// A set of slots an index says the matches lie in.
enum Source<'a> {
    Exact(Option<&'a HashSet<Slot>>),
    Hits(SlotSet),
    /// A run of the order of another column than the sort's.
    Range(Arc<Vec<Slot>>, std::ops::Range<usize>),
}

impl<'a> Source<'a> {
    fn len(&self) -> usize {
        match self {
            Source::Exact(slots) => slots.map_or(0, HashSet::len),
            Source::Hits(hits) => hits.len(),
            Source::Range(_, range) => range.len(),
        }
    }

    fn collect(self) -> Vec<Slot> {
        match self {
            Source::Exact(slots) => slots.into_iter().flatten().copied().collect(),
            Source::Hits(hits) => hits.iter().collect(),
            Source::Range(order, range) => order[range].to_vec(),
        }
    }

    fn mark(self, slots: usize) -> SlotSet {
        let mut set = SlotSet::none(slots);
        let mut mark_all = |all: &mut dyn Iterator<Item = Slot>| all.for_each(|s| set.add(s));
        match self {
            Source::Hits(hits) => return hits,
            Source::Exact(slots) => mark_all(&mut slots.into_iter().flatten().copied()),
            Source::Range(order, range) => mark_all(&mut order[range].iter().copied()),
        }
        set
    }
}

/// What is left of `filter` (without its free text) for a walk to check in each license:
/// everything but the exact values and the ranges of the `ranged` columns, which its
/// indexes answer. `None` when that is nothing. A criterion added to [`LicenseFilter`] later
/// stays here until an index answers it.
fn unanswered(filter: &LicenseFilter, ranged: &[SortField]) -> Option<LicenseFilter> {
    let mut rest = LicenseFilter {
        kind: None,
        product: None,
        vendor: None,
        employee: None,
        device: None,
        q: None,
        ..filter.clone()
    };
    for field in ranged {
        match field {
            SortField::Cost => (rest.cost, rest.cost_min, rest.cost_max) = (None, None, None),
            SortField::Added => {
                (rest.added, rest.added_from, rest.added_to) = (None, None, None);
            }
            SortField::Expires => {
                (rest.expires, rest.expires_from, rest.expires_to) = (None, None, None);
                rest.expiring_within = None;
            }
            _ => {}
        }
    }
    (rest != LicenseFilter::default()).then_some(rest)
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

/// The tighter of two optional bounds.
fn tighter<T: Ord + Copy>(a: Option<T>, b: Option<T>, pick: fn(T, T) -> T) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        (a, b) => a.or(b),
    }
}

/// The ranges `filter` asks for, by column, as bounds on [`License::sort_value`] (dates
/// are ISO text there, which orders like the dates).
fn ranges_asked(
    filter: &LicenseFilter,
    today: NaiveDate,
) -> Vec<(SortField, CursorValue, CursorValue)> {
    let mut ranges = Vec::new();
    let low = tighter(filter.cost_min, filter.cost, i64::max);
    let high = tighter(filter.cost_max, filter.cost, i64::min);
    if low.is_some() || high.is_some() {
        ranges.push((
            SortField::Cost,
            CursorValue::Int(low.unwrap_or(i64::MIN)),
            CursorValue::Int(high.unwrap_or(i64::MAX)),
        ));
    }
    let dates = |from: Option<NaiveDate>, to: Option<NaiveDate>| {
        (
            CursorValue::Text(from.unwrap_or(NaiveDate::MIN).to_string()),
            // Past every date's text (which is at most `+262142-12-31`).
            CursorValue::Text(to.map_or_else(|| "~".to_owned(), |d| d.to_string())),
        )
    };
    let from = tighter(filter.added_from, filter.added, NaiveDate::max);
    let to = tighter(filter.added_to, filter.added, NaiveDate::min);
    if from.is_some() || to.is_some() {
        let (lo, hi) = dates(from, to);
        ranges.push((SortField::Added, lo, hi));
    }
    let within = filter
        .expiring_within
        .map(|days| (today, lm_protocol::filter::add_days(today, days)));
    let from = tighter(
        tighter(filter.expires_from, filter.expires, NaiveDate::max),
        within.map(|w| w.0),
        NaiveDate::max,
    );
    let to = tighter(
        tighter(filter.expires_to, filter.expires, NaiveDate::min),
        within.map(|w| w.1),
        NaiveDate::min,
    );
    if from.is_some() || to.is_some() {
        let (lo, hi) = dates(from, to);
        ranges.push((SortField::Expires, lo, hi));
    }
    ranges
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

    /// Applies `patch` to every sort order built so far at the place of `slot` (whose
    /// license is in `rows`): where it is, or where it belongs.
    fn patch_orders(&mut self, slot: Slot, patch: impl Fn(&mut Vec<Slot>, usize)) {
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
    fn take_built_orders(&mut self) -> HashMap<SortField, Arc<Vec<Slot>>> {
        let orders = self.orders.get_mut().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut orders.built)
    }

    fn put_back_built_orders(&mut self, built: HashMap<SortField, Arc<Vec<Slot>>>) {
        self.orders
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .built = built;
    }

    fn orders(&self) -> MutexGuard<'_, Orders> {
        self.orders.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The order of `field` if it is built.
    fn built(&self, field: SortField) -> Option<Arc<Vec<Slot>>> {
        self.orders().built.get(&field).cloned()
    }

    /// Every slot in ascending `field` order, ties by id: built now if no one has, waited
    /// for if another thread is building it. Built outside the lock, so that lists needing
    /// other orders are not held up meanwhile.
    fn order(&self, field: SortField) -> Arc<Vec<Slot>> {
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

    /// The licenses matching `filter` in `sort` order: how many there are, and the window
    /// `offset..offset + limit`.
    pub fn list(
        &self,
        filter: &LicenseFilter,
        sort: Sort,
        window: std::ops::Range<usize>,
        today: NaiveDate,
    ) -> (usize, Vec<License>) {
        let others = LicenseFilter {
            q: None,
            ..filter.clone()
        };
        let unfiltered = others == LicenseFilter::default();
        let order = self.order(sort.field);
        if filter.q.is_none() && unfiltered {
            // Everything: the window is a slice of the order.
            let total = order.len();
            let (start, end) = if sort.descending {
                (
                    total.saturating_sub(window.end),
                    total.saturating_sub(window.start),
                )
            } else {
                (window.start.min(total), window.end.min(total))
            };
            let mut items: Vec<License> = order[start..end]
                .iter()
                .map(|&s| self.row(s).clone())
                .collect();
            if sort.descending {
                items.reverse();
            }
            return (total, items);
        }
        let (candidates, text) = self.candidates(filter, sort.field, &order, today);
        let selected = |slot: Slot| {
            (match &text {
                TextCheck::Nothing => true,
                TextCheck::Hits(hits) => hits.contains(slot),
                TextCheck::Each(phrase) => self.texts.contains(slot, phrase),
            }) && (unfiltered || others.matches(self.row(slot), today))
        };
        match candidates {
            Candidates::Few(slots) => {
                let mut keyed: Vec<_> = slots
                    .into_iter()
                    .filter(|&slot| selected(slot))
                    .map(|slot| (self.key(slot, sort.field), slot))
                    .collect();
                keyed.sort_unstable_by(|a, b| {
                    let ord = a.0.cmp(&b.0);
                    if sort.descending { ord.reverse() } else { ord }
                });
                let total = keyed.len();
                let items = keyed
                    .into_iter()
                    .skip(window.start)
                    .take(window.len())
                    .map(|(_, slot)| self.row(slot).clone())
                    .collect();
                (total, items)
            }
            Candidates::Walk { path, within, rest } => {
                let each_text = match &text {
                    TextCheck::Each(phrase) => Some(phrase),
                    _ => None,
                };
                let keep = |slot: Slot| {
                    within.as_ref().is_none_or(|w| w.contains(slot))
                        && each_text.is_none_or(|phrase| self.texts.contains(slot, phrase))
                        && rest
                            .as_ref()
                            .is_none_or(|r| r.matches(self.row(slot), today))
                };
                // When the indexes answer everything and the walk is along the whole
                // order, how many match is the size of their set: the walk can stop once
                // the window is full.
                let known = (each_text.is_none() && rest.is_none() && path.len() == self.len())
                    .then(|| within.as_ref().map_or(path.len(), SlotSet::len));
                let stop = known.map(|_| window.end);
                let (walked, items) = if sort.descending {
                    self.walk(path.iter().rev().copied(), keep, window, stop)
                } else {
                    self.walk(path.iter().copied(), keep, window, stop)
                };
                (known.unwrap_or(walked), items)
            }
        }
    }

    /// Goes along `slots`, counting those to `keep` (until `stop`, if given) and cloning
    /// those in the window.
    fn walk(
        &self,
        slots: impl Iterator<Item = Slot>,
        keep: impl Fn(Slot) -> bool,
        window: std::ops::Range<usize>,
        stop: Option<usize>,
    ) -> (usize, Vec<License>) {
        let mut total = 0;
        let mut items = Vec::with_capacity(window.len().min(1024));
        for slot in slots.filter(|&slot| keep(slot)) {
            if window.contains(&total) {
                items.push(self.row(slot).clone());
            }
            total += 1;
            if stop.is_some_and(|stop| total >= stop) {
                break;
            }
        }
        (total, items)
    }

    /// What a list needs to look at, from what the indexes tell: the smallest set of
    /// licenses the matches must lie in (an id, an exact value, the free text's hits, a range
    /// of another column), and the narrowest run of the sort's own order (a range of the
    /// sort's column). A few are sorted; otherwise the run (or the whole order) is walked,
    /// looking up only what lies in the set — a bit test, where checking the filter means
    /// reaching the license.
    fn candidates<'a, 'q>(
        &'a self,
        filter: &'q LicenseFilter,
        sort: SortField,
        order: &'a [Slot],
        today: NaiveDate,
    ) -> (Candidates<'a>, TextCheck<'q>) {
        let phrase = filter.q.as_deref();
        if let Some(id) = &filter.id {
            return (
                Candidates::Few(self.slots.get(id).copied().into_iter().collect()),
                phrase.map_or(TextCheck::Nothing, |q| {
                    TextCheck::Each(Box::new(memchr::memmem::Finder::new(q)))
                }),
            );
        }
        let mut sources: Vec<Source<'a>> = exact_asked(filter)
            .iter()
            .map(|key| Source::Exact(self.exact.get(key)))
            .collect();
        let mut path = order;
        // The columns whose range an index answers: the sort's own, and those whose order is
        // built. Another is checked in each candidate rather than waiting for its order.
        let mut ranged = Vec::new();
        for (field, low, high) in ranges_asked(filter, today) {
            let value = |slot: Slot| self.row(slot).sort_value(field);
            let own = if field == sort {
                None
            } else {
                match self.built(field) {
                    Some(order) => Some(order),
                    None => continue,
                }
            };
            ranged.push(field);
            let run: &[Slot] = own.as_deref().map_or(order, Vec::as_slice);
            let start = run.partition_point(|&s| value(s) < low);
            let end = run.partition_point(|&s| value(s) <= high).max(start);
            match own {
                None if end - start < path.len() => path = &order[start..end],
                None => {}
                Some(own) => sources.push(Source::Range(own, start..end)),
            }
        }
        // Free text: one search through every text, unless the other indexes leave so few
        // candidates that looking into each one's text is cheaper.
        let narrowest = sources.iter().map(Source::len).fold(path.len(), usize::min);
        let text = match phrase {
            None => TextCheck::Nothing,
            Some(q) if narrowest <= self.len() / SEARCH_EACH_UP_TO_ONE_IN => {
                TextCheck::Each(Box::new(memchr::memmem::Finder::new(q)))
            }
            Some(q) => {
                let hits = self.texts.find(q, self.rows.len());
                sources.push(Source::Hits(hits.clone()));
                TextCheck::Hits(hits)
            }
        };
        let few = (self.len() / SORT_AT_MOST_ONE_IN).max(SORT_AT_MOST);
        let smallest = (0..sources.len()).min_by_key(|&i| sources[i].len());
        if let Some(i) = smallest
            && sources[i].len() <= few
            && sources[i].len() < path.len()
        {
            return (Candidates::Few(sources.swap_remove(i).collect()), text);
        }
        // Every index asked agrees on the slots within: one bit per license for each, far
        // cheaper than reaching the licenses to check what the indexes already answer.
        let within = sources
            .into_iter()
            .map(|source| source.mark(self.rows.len()))
            .reduce(|mut common, set| {
                common.keep_common(&set);
                common
            });
        let rest = unanswered(filter, &ranged).map(Box::new);
        let text = match text {
            TextCheck::Hits(_) => TextCheck::Nothing,
            text => text,
        };
        (Candidates::Walk { path, within, rest }, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn license(i: u32) -> License {
        let vendors = ["Adobe", "JetBrains", "adobe", "Microsoft"];
        let mut assignments = Vec::new();
        if i.is_multiple_of(3) {
            assignments.push(serde_json::json!({
                "id": format!("as{i}"), "employee": format!("e{}", i % 5), "since": "2026-01-01T00:00:00Z"
            }));
        }
        if i.is_multiple_of(4) {
            assignments.push(serde_json::json!({
                "id": format!("ad{i}"), "device": format!("D-{}", i % 7), "since": "2026-01-01T00:00:00Z"
            }));
        }
        serde_json::from_value(serde_json::json!({
            "id": format!("l{i:04}"), "product": format!("p{}", i % 6), "name": format!("License {}", i % 11),
            "kind": if i.is_multiple_of(2) { "subscription" } else { "perpetual" },
            "vendor": vendors[i as usize % vendors.len()],
            "cost": {"amount": (i * 37) % 500, "currency": "EUR"}, "seats_used": 0,
            "added": format!("2026-01-{:02}", 1 + i % 28),
            "expires": if i.is_multiple_of(5) { serde_json::Value::Null } else { format!("2027-0{}-01", 1 + i % 9).into() },
            "assignments": assignments, "version": 1, "revision": i
        }))
        .unwrap()
    }

    /// The definition: filter everything, sort everything.
    fn scan(
        licenses: &HashMap<LicenseId, License>,
        filter: &LicenseFilter,
        sort: Sort,
        today: NaiveDate,
    ) -> Vec<LicenseId> {
        let mut all: Vec<&License> = licenses
            .values()
            .filter(|l| filter.matches(l, today))
            .collect();
        all.sort_by(|a, b| a.compare(b, sort));
        all.into_iter().map(|l| l.id.clone()).collect()
    }

    #[test]
    fn a_slot_set_iterates_in_slot_order_across_words() {
        let mut hits = SlotSet::none(200);
        for slot in [130, 3, 64, 63, 3] {
            hits.add(slot);
        }
        assert_eq!(hits.iter().collect::<Vec<_>>(), [3, 63, 64, 130]);
        assert_eq!(hits.len(), 4);
        assert!(hits.contains(64) && !hits.contains(65) && !hits.contains(1000));
        let mut others = SlotSet::none(200);
        for slot in [3, 64, 199] {
            others.add(slot);
        }
        hits.keep_common(&others);
        assert_eq!(hits.iter().collect::<Vec<_>>(), [3, 64]);
        assert_eq!(hits.len(), 2);
    }

    #[test]
    fn every_filter_and_sort_lists_what_a_full_scan_does_also_after_changes() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let mut licenses: HashMap<LicenseId, License> =
            (0..300).map(license).map(|l| (l.id.clone(), l)).collect();
        let mut inventory = Inventory::build(licenses.values().cloned());
        // Every sort order built, so that the changes below patch them.
        for field in SortField::ALL {
            let sort = Sort {
                field,
                descending: false,
            };
            inventory.list(&LicenseFilter::default(), sort, 0..1, today);
        }
        // Changes: one removed, one moved to another vendor, employee, name and cost, one new.
        let gone = licenses
            .remove(&"l0007".parse::<LicenseId>().unwrap())
            .unwrap();
        assert_eq!(inventory.remove(&gone.id), Some(gone));
        let before = licenses[&"l0009".parse::<LicenseId>().unwrap()].clone();
        let mut moved = before.clone();
        moved.vendor = "Microsoft".parse().unwrap();
        moved.assignments = license(3).assignments;
        moved.name = "Zz moved".parse().unwrap();
        moved.cost.amount = 1;
        licenses.insert(moved.id.clone(), moved.clone());
        assert_eq!(inventory.upsert(moved), Some(before));
        let mut new = license(400);
        new.id = "l0150a".parse().unwrap();
        licenses.insert(new.id.clone(), new.clone());
        assert_eq!(inventory.upsert(new), None);

        let queries = [
            "",
            "vendor:adobe",
            "vendor:adobe kind:subscription",
            "employee:e3",
            "device:D-4 sort:-cost",
            "product:p2 cost>100",
            "vendor:nobody",
            "expires<2027-05-01 sort:expires",
            "sort:-expires",
            "\"license 3\" sort:name",
            "vendor:microsoft employee:e3 sort:-added",
            "sort:-name",
            "cost>=100 cost<300 sort:-cost",
            "cost:74",
            "added>=2026-01-10 added<=2026-01-12 sort:name",
            "expiring:200d sort:-expires",
            "expires>=2027-03-01 expiring:400d cost<250",
            "expires:2027-02-01",
            "license",
            "\"license 3\" vendor:adobe",
            "e sort:-cost",
            "l01 sort:expires",
            "cost<50 license sort:-name",
            "expiring:200d sort:expires kind:perpetual",
            "expires<2027-03-01 vendor:adobe sort:expires",
            "nothing-like-this",
            "\"license 1\" employee:e3",
            "vendor:microsoft license sort:-cost",
            "vendor:adobe l00 expires<2027-05-01",
            "expires>=2027-02-01 expires<=2027-03-01 sort:-expires",
            "cost>=37 cost<=74 sort:cost",
            "assigned:no vendor:adobe",
            "assigned:employee kind:perpetual sort:-expires",
            "currency:EUR cost>100 sort:-name",
            "assigned:device license expires<2027-06-01",
            // Bounds far past the years of licenses (as text they would sort wrongly).
            "expires<+9000y vendor:adobe",
            "added>=-3000y sort:-added cost>100",
            "expiring:4000000d sort:name",
            "expires>+9000y",
        ];
        // And, for each query, an inventory fresh from the same licenses, with only the
        // order by name built: a range of a column not built yet is checked in each license.
        for text in queries {
            let fresh = Inventory::build(licenses.values().cloned());
            for (inventory, name) in [(&inventory, "patched"), (&fresh, "fresh")] {
                let query = lm_protocol::Query::parse(text, today).unwrap();
                let (filter, sort) = (query.filter.normalized(), query.sort.unwrap_or_default());
                let expected = scan(&licenses, &filter, sort, today);
                for window in [0..10, 5..25, 0..1000, 290..300] {
                    let (total, items) = inventory.list(&filter, sort, window.clone(), today);
                    assert_eq!(total, expected.len(), "{name}: {text}");
                    let ids: Vec<LicenseId> = items.into_iter().map(|l| l.id).collect();
                    let end = window.end.min(expected.len());
                    let start = window.start.min(end);
                    assert_eq!(ids, expected[start..end], "{name}: {text} {window:?}");
                }
            }
        }
    }

    /// Every order by every column, both ways, and a few filters, as a full scan lists them.
    fn assert_lists_like_a_scan(
        inventory: &Inventory,
        licenses: &HashMap<LicenseId, License>,
        today: NaiveDate,
    ) {
        let filters = [
            "",
            "vendor:adobe",
            "cost>=100 cost<300",
            "expires<2027-05-01 l0",
        ];
        for field in SortField::ALL {
            for descending in [false, true] {
                let sort = Sort { field, descending };
                for text in filters {
                    let filter = lm_protocol::Query::parse(text, today).unwrap().filter;
                    let expected = scan(licenses, &filter, sort, today);
                    let (total, items) = inventory.list(&filter, sort, 0..1000, today);
                    let ids: Vec<LicenseId> = items.into_iter().map(|l| l.id).collect();
                    assert_eq!((total, ids), (expected.len(), expected), "{text} {sort:?}");
                }
            }
        }
    }

    #[test]
    fn a_page_of_changes_mends_every_sort_order_or_drops_them_when_large() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let mut licenses: HashMap<LicenseId, License> =
            (0..400).map(license).map(|l| (l.id.clone(), l)).collect();
        let mut inventory = Inventory::build(licenses.values().cloned());
        for field in SortField::ALL {
            inventory.prepare(field);
        }
        let id = |i: u32| license(i).id;
        let upsert = |license: License| Change::Upsert {
            revision: 1,
            license: Box::new(license),
        };
        let delete = |id: LicenseId| Change::Delete { revision: 1, id };
        // 20 changes (more than are patched one by one, at most a sixteenth of 400): removals,
        // moves in every column, new licenses — one into a slot a removal freed in the same
        // page — and one added and removed again.
        let mut page = Vec::new();
        for i in [3, 50, 77, 120, 399] {
            page.push(delete(id(i)));
        }
        for i in [1, 2, 10, 64, 65, 200, 201, 300] {
            let mut moved = license(i);
            moved.name = format!("Moved {}", 9 - i % 10).parse().unwrap();
            moved.vendor = "JetBrains".parse().unwrap();
            moved.cost.amount = 1000 - i64::from(i);
            moved.expires = NaiveDate::from_ymd_opt(2027, 1 + i % 12, 1);
            moved.added = NaiveDate::from_ymd_opt(2026, 1 + i % 12, 2).unwrap();
            page.push(upsert(moved));
        }
        for i in 500..505 {
            page.push(upsert(license(i)));
        }
        page.push(upsert(license(600)));
        page.push(delete(id(600)));
        assert_eq!(page.len(), 20);
        for change in &page {
            match change {
                Change::Upsert { license, .. } => {
                    licenses.insert(license.id.clone(), (**license).clone());
                }
                Change::Delete { id, .. } => {
                    licenses.remove(id);
                }
            }
        }
        inventory.apply(&page);
        assert_eq!(
            inventory.orders().built.len(),
            SortField::ALL.len(),
            "mended, not dropped"
        );
        assert_eq!(inventory.len(), licenses.len());
        assert_lists_like_a_scan(&inventory, &licenses, today);

        // A page of more than a sixteenth drops the orders; lists build them again.
        let large: Vec<Change> = (700..730).map(license).map(upsert).collect();
        for change in &large {
            if let Change::Upsert { license, .. } = change {
                licenses.insert(license.id.clone(), (**license).clone());
            }
        }
        inventory.apply(&large);
        assert!(inventory.orders().built.is_empty());
        assert_lists_like_a_scan(&inventory, &licenses, today);
    }

    #[test]
    fn lists_needing_one_order_at_once_all_get_it_and_none_is_left_building() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let inventory = Inventory::build((0..3000).map(license));
        let by_cost = Sort {
            field: SortField::Cost,
            descending: true,
        };
        let lists: Vec<Vec<LicenseId>> = std::thread::scope(|threads| {
            let builders: Vec<_> = (0..4)
                .map(|_| {
                    threads.spawn(|| {
                        let (_, items) =
                            inventory.list(&LicenseFilter::default(), by_cost, 0..20, today);
                        items.into_iter().map(|l| l.id).collect()
                    })
                })
                .collect();
            builders.into_iter().map(|b| b.join().unwrap()).collect()
        });
        assert!(lists.windows(2).all(|w| w[0] == w[1]));
        let orders = inventory.orders();
        assert!(orders.building.is_empty());
        assert_eq!(
            orders.built.len(),
            3,
            "by name (built first), by id (the others start from it) and by cost"
        );
    }
}
