//! Secondary indexes of the cached licenses, so that a list does not scan and sort the whole
//! inventory for every request.
//!
//! - Exact values (kind, product, vendor, each employee and device assigned) map to the
//!   licenses that have them, kept up to date with every change. A filter naming one of them
//!   starts from the smallest such set and sorts only what it selects.
//! - Sort orders: per sort column, every license in ascending (value, id) order — the
//!   definition of [`License::compare`]. An order is built on first use and then patched
//!   by each change (a large page of changes drops it instead). A range filter (cost,
//!   added, expires, expiring within) is two binary searches in its column's order; a list
//!   without a filter is a slice of the sort's order; any other list walks the sort's
//!   order, filtering as it goes, and never sorts. Descending walks it backwards.
//! - Free text: each license's [`License::search_text`], made once per change instead of
//!   once per license per list.
//!
//! Every candidate is checked with [`LicenseFilter::matches`] (free text against the kept
//! search text), the one definition of what a filter selects that the server's SQL is
//! tested against: the indexes only decide what is looked at, never what matches.

use chrono::NaiveDate;
use lm_protocol::{Assignee, CursorValue, License, LicenseFilter, LicenseId, Sort, SortField};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

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
pub struct Indexes {
    exact: HashMap<(Exact, String), HashSet<LicenseId>>,
    orders: Mutex<HashMap<SortField, Arc<Vec<LicenseId>>>>,
    /// Each license's [`License::search_text`], which free text (`q`) is looked up in: made
    /// once per change rather than once per license per list.
    texts: HashMap<LicenseId, Box<str>>,
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

impl Indexes {
    pub fn build<'a>(licenses: impl IntoIterator<Item = &'a License>) -> Indexes {
        let mut indexes = Indexes::default();
        for license in licenses {
            indexes.insert(license);
        }
        indexes
    }

    fn insert(&mut self, license: &License) {
        self.texts
            .insert(license.id.clone(), license.search_text().into());
        for key in exact_keys(license) {
            self.exact
                .entry(key)
                .or_default()
                .insert(license.id.clone());
        }
    }

    fn remove(&mut self, license: &License) {
        self.texts.remove(&license.id);
        for key in exact_keys(license) {
            if let Some(ids) = self.exact.get_mut(&key) {
                ids.remove(&license.id);
                if ids.is_empty() {
                    self.exact.remove(&key);
                }
            }
        }
    }

    /// Follows one license's change from `before` to `after` (either absent for a creation
    /// or a removal); `licenses` already holds the change. Every sort order built so far is
    /// patched in place — two binary searches and a move — so a change does not cost the
    /// next list a full sort.
    pub fn change(
        &mut self,
        before: Option<&License>,
        after: Option<&License>,
        licenses: &HashMap<LicenseId, License>,
    ) {
        if let Some(before) = before {
            self.remove(before);
        }
        if let Some(after) = after {
            self.insert(after);
        }
        let value = |id: &LicenseId, field| {
            licenses
                .get(id)
                .map_or(CursorValue::Null, |l: &License| l.sort_value(field))
        };
        let orders = self.orders.get_mut().unwrap_or_else(|e| e.into_inner());
        for (&field, order) in orders.iter_mut() {
            let order = Arc::make_mut(order);
            if let Some(before) = before {
                let gone = (before.sort_value(field), &before.id);
                // The changing license is still in the order under its old value; every
                // other one is where the map's value puts it.
                let at = order.partition_point(|id| {
                    let v = if *id == before.id {
                        before.sort_value(field)
                    } else {
                        value(id, field)
                    };
                    (v, id) < gone
                });
                if order.get(at) == Some(&before.id) {
                    order.remove(at);
                }
            }
            if let Some(after) = after {
                let new = (after.sort_value(field), &after.id);
                let at = order.partition_point(|id| (value(id, field), id) < new);
                order.insert(at, after.id.clone());
            }
        }
    }

    /// Drops the sort orders, to be built again when a list needs one: cheaper than patching
    /// them for a large batch of changes.
    pub fn drop_orders(&mut self) {
        self.orders
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Every license in ascending `field` order, ties by id.
    fn order(
        &self,
        field: SortField,
        licenses: &HashMap<LicenseId, License>,
    ) -> Arc<Vec<LicenseId>> {
        let mut orders = self.orders.lock().unwrap_or_else(|e| e.into_inner());
        orders
            .entry(field)
            .or_insert_with(|| {
                let mut all: Vec<&License> = licenses.values().collect();
                // One sort key per license instead of two per comparison.
                all.sort_by_cached_key(|l| (l.sort_value(field), l.id.clone()));
                Arc::new(all.into_iter().map(|l| l.id.clone()).collect())
            })
            .clone()
    }

    /// The licenses matching `filter` in `sort` order: how many there are, and the window
    /// `offset..offset + limit`.
    pub fn list(
        &self,
        licenses: &HashMap<LicenseId, License>,
        filter: &LicenseFilter,
        sort: Sort,
        window: std::ops::Range<usize>,
        today: NaiveDate,
    ) -> (usize, Vec<License>) {
        // Free text against the kept texts first (cheap), the rest by the one definition.
        let others = LicenseFilter {
            q: None,
            ..filter.clone()
        };
        let selected = |l: &&License| {
            filter.q.as_ref().is_none_or(|q| {
                self.texts
                    .get(&l.id)
                    .is_some_and(|text| text.contains(q.as_str()))
            }) && others.matches(l, today)
        };
        // The fewest candidates an exact value allows (an id is one).
        let candidates: Option<Vec<&License>> = if let Some(id) = &filter.id {
            Some(licenses.get(id).into_iter().collect())
        } else {
            exact_asked(filter)
                .iter()
                .map(|key| self.exact.get(key))
                .min_by_key(|ids| ids.map_or(0, HashSet::len))
                .map(|ids| {
                    ids.into_iter()
                        .flatten()
                        .filter_map(|id| licenses.get(id))
                        .collect()
                })
        };
        // …or else the narrowest range, two binary searches in its column's order.
        let candidates = candidates.or_else(|| {
            let narrowest = ranges_asked(filter, today)
                .into_iter()
                .map(|(field, low, high)| {
                    let order = self.order(field, licenses);
                    let value = |id: &LicenseId| {
                        licenses
                            .get(id)
                            .map_or(CursorValue::Null, |l| l.sort_value(field))
                    };
                    let start = order.partition_point(|id| value(id) < low);
                    let end = order.partition_point(|id| value(id) <= high).max(start);
                    (order, start..end)
                })
                .min_by_key(|(_, range)| range.len())?;
            let (order, range) = narrowest;
            Some(
                order[range]
                    .iter()
                    .filter_map(|id| licenses.get(id))
                    .collect(),
            )
        });
        if let Some(candidates) = candidates {
            let mut matching: Vec<&License> = candidates.into_iter().filter(selected).collect();
            matching.sort_by_cached_key(|l| (l.sort_value(sort.field), l.id.clone()));
            if sort.descending {
                matching.reverse();
            }
            let total = matching.len();
            let items = matching
                .into_iter()
                .skip(window.start)
                .take(window.len())
                .cloned()
                .collect();
            return (total, items);
        }
        let order = self.order(sort.field, licenses);
        if *filter == LicenseFilter::default() {
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
                .filter_map(|id| licenses.get(id).cloned())
                .collect();
            if sort.descending {
                items.reverse();
            }
            return (total, items);
        }
        let walk: Box<dyn Iterator<Item = &LicenseId>> = if sort.descending {
            Box::new(order.iter().rev())
        } else {
            Box::new(order.iter())
        };
        let mut total = 0;
        let mut items = Vec::with_capacity(window.len().min(1024));
        for license in walk.filter_map(|id| licenses.get(id)).filter(selected) {
            if window.contains(&total) {
                items.push(license.clone());
            }
            total += 1;
        }
        (total, items)
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
    fn every_filter_and_sort_lists_what_a_full_scan_does_also_after_changes() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let mut licenses: HashMap<LicenseId, License> =
            (0..300).map(license).map(|l| (l.id.clone(), l)).collect();
        let mut indexes = Indexes::build(licenses.values());
        // Every sort order built, so that the changes below patch them.
        for field in SortField::ALL {
            let sort = Sort {
                field,
                descending: false,
            };
            indexes.list(&licenses, &LicenseFilter::default(), sort, 0..1, today);
        }
        // Changes: one removed, one moved to another vendor, employee, name and cost, one new.
        let gone = licenses
            .remove(&"l0007".parse::<LicenseId>().unwrap())
            .unwrap();
        indexes.change(Some(&gone), None, &licenses);
        let before = licenses[&"l0009".parse::<LicenseId>().unwrap()].clone();
        let mut moved = before.clone();
        moved.vendor = "Microsoft".parse().unwrap();
        moved.assignments = license(3).assignments;
        moved.name = "Zz moved".parse().unwrap();
        moved.cost.amount = 1;
        licenses.insert(moved.id.clone(), moved.clone());
        indexes.change(Some(&before), Some(&moved), &licenses);
        let mut new = license(400);
        new.id = "l0150a".parse().unwrap();
        licenses.insert(new.id.clone(), new.clone());
        indexes.change(None, Some(&new), &licenses);

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
        ];
        for text in queries {
            let query = lm_protocol::Query::parse(text, today).unwrap();
            let (filter, sort) = (query.filter.normalized(), query.sort.unwrap_or_default());
            let expected = scan(&licenses, &filter, sort, today);
            for window in [0..10, 5..25, 0..1000, 290..300] {
                let (total, items) = indexes.list(&licenses, &filter, sort, window.clone(), today);
                assert_eq!(total, expected.len(), "{text}");
                let ids: Vec<LicenseId> = items.into_iter().map(|l| l.id).collect();
                let end = window.end.min(expected.len());
                let start = window.start.min(end);
                assert_eq!(ids, expected[start..end], "{text} {window:?}");
            }
        }
    }
}
