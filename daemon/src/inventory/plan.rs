//! How a list is answered: the smallest candidate set any index gives, then sorted or
//! walked in the sort's order, checking only what no index answered.

use super::SortedSlots;
use super::{Inventory, Slot, SlotSet, exact_asked};
use chrono::NaiveDate;
use lm_protocol::{CursorValue, License, LicenseFilter, Sort, SortField};
use std::sync::Arc;

/// Candidate sets up to the inventory divided by this (or up to [`SORT_AT_MOST`]) are
/// sorted; larger ones are walked in sort order. Sorting reaches every candidate's license
/// (a cache miss each), walking tests a bit per license: about 500 times cheaper.
const SORT_AT_MOST_ONE_IN: usize = 512;
const SORT_AT_MOST: usize = 64;

/// Free text is looked for in each candidate's own text when other indexes leave at most
/// the inventory divided by this; otherwise one search goes through every text.
const SEARCH_EACH_UP_TO_ONE_IN: usize = 4;

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
    Exact(Option<&'a SortedSlots>),
    Hits(SlotSet),
    /// A run of the order of another column than the sort's.
    Range(Arc<Vec<Slot>>, std::ops::Range<usize>),
}

impl<'a> Source<'a> {
    fn len(&self) -> usize {
        match self {
            Source::Exact(slots) => slots.map_or(0, SortedSlots::len),
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
            }) && (unfiltered
                || others.matches_holding(self.row(slot), today, |who| self.slot_holds(slot, who)))
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
                        && rest.as_ref().is_none_or(|r| {
                            r.matches_holding(self.row(slot), today, |who| {
                                self.slot_holds(slot, who)
                            })
                        })
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

    /// Every license matching `filter`, in no particular order and without copying one:
    /// what reports are made of. The same indexes answer as for a list.
    pub fn matching(&self, filter: &LicenseFilter, today: NaiveDate) -> Vec<&License> {
        match self.matching_slots(filter, today) {
            None => self.values().collect(),
            Some(slots) => slots.into_iter().map(|slot| self.row(slot)).collect(),
        }
    }

    /// The slots of the licenses matching `filter`, or `None` when it selects everything.
    pub(super) fn matching_slots(
        &self,
        filter: &LicenseFilter,
        today: NaiveDate,
    ) -> Option<Vec<Slot>> {
        let others = LicenseFilter {
            q: None,
            ..filter.clone()
        };
        let unfiltered = others == LicenseFilter::default();
        if filter.q.is_none() && unfiltered {
            return None;
        }
        let order = self.order(SortField::Name);
        let (candidates, text) = self.candidates(filter, SortField::Name, &order, today);
        let holding = |slot: Slot| {
            unfiltered
                || others.matches_holding(self.row(slot), today, |who| self.slot_holds(slot, who))
        };
        Some(match candidates {
            Candidates::Few(slots) => slots
                .into_iter()
                .filter(|&slot| {
                    (match &text {
                        TextCheck::Nothing => true,
                        TextCheck::Hits(hits) => hits.contains(slot),
                        TextCheck::Each(phrase) => self.texts.contains(slot, phrase),
                    }) && holding(slot)
                })
                .collect(),
            Candidates::Walk { path, within, rest } => path
                .iter()
                .copied()
                .filter(|&slot| {
                    within.as_ref().is_none_or(|w| w.contains(slot))
                        && match &text {
                            TextCheck::Each(phrase) => self.texts.contains(slot, phrase),
                            _ => true,
                        }
                        && rest.as_ref().is_none_or(|r| {
                            r.matches_holding(self.row(slot), today, |who| {
                                self.slot_holds(slot, who)
                            })
                        })
                })
                .collect(),
        })
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
