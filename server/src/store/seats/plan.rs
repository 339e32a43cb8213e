//! The permission check's decision, from what was read: pure, so every rule is unit-tested.

use crate::store::hierarchy::Member;
use chrono::{DateTime, NaiveDate, Utc};
use lm_protocol::hierarchy::{EntityRef, Product};
use std::collections::{BTreeMap, HashSet};

/// A license a user's unit owns, as the check sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub license: String,
    pub product: String,
    /// The Hierarchy Provider the owner lives in (`None`: the built-in one).
    pub provider: Option<String>,
    pub owner: EntityRef,
    pub owner_level: u32,
    pub seats: Option<u32>,
    pub used: u32,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
}

impl Candidate {
    fn valid_on(&self, today: NaiveDate) -> bool {
        valid_on(self.valid_from, self.valid_to, today)
    }

    fn is_full(&self) -> bool {
        self.seats.is_some_and(|seats| self.used >= seats)
    }
}

/// Why a product is refused when every seat of its licenses is taken.
pub(super) fn all_taken(offers: &[&Candidate]) -> String {
    let total: u32 = offers.iter().filter_map(|c| c.seats).sum();
    let owners: Vec<String> = offers.iter().map(|o| o.owner.to_string()).collect();
    format!(
        "all {total} seats of the licenses of {} are taken",
        owners.join(", ")
    )
}

fn valid_on(from: NaiveDate, to: Option<NaiveDate>, today: NaiveDate) -> bool {
    from <= today && to.is_none_or(|to| today <= to)
}

/// A seat a user holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldSeat {
    pub assignment: String,
    pub license: String,
    pub product: String,
    pub redeemed: bool,
    pub since: DateTime<Utc>,
    /// The holder's latest permission check, as recorded (at most hourly).
    pub last_seen: Option<DateTime<Utc>>,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
    /// The Hierarchy Provider the owners live in (`None`: the built-in one).
    pub provider: Option<String>,
    /// The license's owners.
    pub owners: Vec<EntityRef>,
}

impl HeldSeat {
    /// The license's owner among `member_of`, if the holder still belongs to one.
    pub(super) fn owner_among(
        &self,
        member_of: &HashSet<(Option<&str>, &EntityRef)>,
    ) -> Option<EntityRef> {
        let provider = self.provider.as_deref();
        self.owners
            .iter()
            .find(|o| member_of.contains(&(provider, *o)))
            .cloned()
    }
}

pub(super) fn member_set(memberships: &[Member]) -> HashSet<(Option<&str>, &EntityRef)> {
    memberships
        .iter()
        .map(|m| (m.provider(), &m.entity))
        .collect()
}

/// What the check does.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Seats kept, with the user's unit that owns the license (none for a manager's seat).
    pub keep: Vec<(HeldSeat, Option<EntityRef>)>,
    /// Redeemed seats to give back.
    pub release: Vec<HeldSeat>,
    /// Products to take a seat for, with the licenses to try, best first.
    pub take: BTreeMap<String, Vec<Candidate>>,
    /// Products used without a seat (seat-free member types), on this license.
    pub use_without_seat: Vec<Candidate>,
    /// Products refused, and why.
    pub refused: Vec<(String, String)>,
}

/// Decides, from what was read, which seats to keep, release and take. `takes_seats` is
/// false for members of seat-free types.
pub fn plan(
    memberships: &[Member],
    candidates: &[Candidate],
    held: &[HeldSeat],
    today: NaiveDate,
    takes_seats: bool,
) -> Plan {
    let member_of = member_set(memberships);
    let mut plan = Plan::default();
    let mut covered: HashSet<String> = HashSet::new();
    for seat in held {
        let owner = seat.owner_among(&member_of);
        let valid = valid_on(seat.valid_from, seat.valid_to, today);
        let keep = if seat.redeemed {
            valid && owner.is_some()
        } else {
            valid
        };
        if keep && !covered.contains(&seat.product) {
            covered.insert(seat.product.clone());
            plan.keep.push((seat.clone(), owner));
        } else if seat.redeemed && !keep {
            plan.release.push(seat.clone());
        } else if keep {
            // A second valid seat of a product held already (a manager's assignment next to
            // a redeemed seat): both stay; a check never takes one, and never frees a
            // seat that is still good.
            plan.keep.push((seat.clone(), owner));
        }
    }
    let mut by_product: BTreeMap<&str, Vec<&Candidate>> = BTreeMap::new();
    for c in candidates {
        by_product.entry(c.product.as_str()).or_default().push(c);
    }
    for (product, mut offers) in by_product {
        if covered.contains(product) {
            continue;
        }
        offers.sort_by(|a, b| {
            a.owner_level
                .cmp(&b.owner_level)
                .then_with(|| match (a.valid_to, b.valid_to) {
                    (None, None) => std::cmp::Ordering::Equal,
                    (None, Some(_)) => std::cmp::Ordering::Less,
                    (Some(_), None) => std::cmp::Ordering::Greater,
                    (Some(x), Some(y)) => y.cmp(&x),
                })
                .then_with(|| a.license.cmp(&b.license))
        });
        let valid: Vec<&Candidate> = offers
            .iter()
            .copied()
            .filter(|c| c.valid_on(today))
            .collect();
        if valid.is_empty() {
            let reason = if offers.iter().any(|c| c.valid_from > today) {
                "the licenses of your units are not valid yet"
            } else {
                "the licenses of your units have ended"
            };
            plan.refused.push((product.to_owned(), reason.to_owned()));
        } else if !takes_seats {
            plan.use_without_seat.push(valid[0].clone());
        } else if valid.iter().all(|c| c.is_full()) {
            // Full as read: refused without a transaction. A seat freed meanwhile is found
            // by the next check; taking the lock for every refusal would serialize them all.
            plan.refused.push((product.to_owned(), all_taken(&valid)));
        } else {
            // Those without a free seat now stay in the list: the transaction re-reads them.
            plan.take
                .insert(product.to_owned(), valid.into_iter().cloned().collect());
        }
    }
    plan
}

/// What the check found and did, to answer with.
#[derive(Debug)]
pub struct Evaluation {
    pub held: Vec<Holding>,
    pub refused: Vec<(String, String)>,
}

/// A product held, on which license.
#[derive(Debug, Clone)]
pub struct Holding {
    pub product: Product,
    pub license: String,
    pub owner: Option<EntityRef>,
    pub valid_to: Option<NaiveDate>,
    pub seat_since: Option<DateTime<Utc>>,
}

/// The products of the licenses read, by eid.
pub(super) type Products = BTreeMap<String, Product>;

#[cfg(test)]
mod tests {
    use super::*;

    fn e(s: &str) -> EntityRef {
        s.parse().unwrap()
    }
    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }
    fn member(s: &str, level: u32) -> Member {
        Member {
            entity: e(s),
            level,
            provider: None,
        }
    }
    fn offer(license: &str, owner: &str, level: u32, used: u32, to: &str) -> Candidate {
        Candidate {
            license: license.into(),
            product: "fractions".into(),
            provider: None,
            owner: e(owner),
            owner_level: level,
            seats: Some(2),
            used,
            valid_from: day("2026-01-01"),
            valid_to: Some(day(to)),
        }
    }
    fn seat(license: &str, owner: &str, to: &str, redeemed: bool) -> HeldSeat {
        HeldSeat {
            assignment: format!("a-{license}"),
            license: license.into(),
            product: "fractions".into(),
            redeemed,
            since: Utc::now(),
            last_seen: None,
            valid_from: day("2026-01-01"),
            valid_to: Some(day(to)),
            provider: None,
            owners: vec![e(owner)],
        }
    }

    const TODAY: &str = "2026-11-23";

    fn ada() -> Vec<Member> {
        vec![
            member("(student)(ada)", 0),
            member("(class)(4b)", 1),
            member("(school)(north)", 2),
        ]
    }

    #[test]
    fn the_class_license_comes_before_the_school_one_then_the_longest() {
        let offers = [
            offer("school", "(school)(north)", 2, 0, "2028-01-01"),
            offer("class-short", "(class)(4b)", 1, 0, "2027-01-01"),
            offer("class-long", "(class)(4b)", 1, 0, "2027-06-01"),
        ];
        let p = plan(&ada(), &offers, &[], day(TODAY), true);
        let order: Vec<&str> = p.take["fractions"]
            .iter()
            .map(|c| c.license.as_str())
            .collect();
        assert_eq!(order, ["class-long", "class-short", "school"]);
    }

    #[test]
    fn a_valid_seat_is_kept_and_no_second_is_taken() {
        let held = [seat("class", "(class)(4b)", "2027-01-01", true)];
        let offers = [offer("class", "(class)(4b)", 1, 1, "2027-01-01")];
        let p = plan(&ada(), &offers, &held, day(TODAY), true);
        assert_eq!(p.keep.len(), 1);
        assert!(p.take.is_empty() && p.release.is_empty());
    }

    #[test]
    fn an_ended_seat_is_released_and_another_license_tried() {
        let held = [seat("old", "(class)(4b)", "2026-07-31", true)];
        let offers = [
            offer("old", "(class)(4b)", 1, 1, "2026-07-31"),
            offer("new", "(school)(north)", 2, 0, "2027-07-31"),
        ];
        let p = plan(&ada(), &offers, &held, day(TODAY), true);
        assert_eq!(p.release.len(), 1);
        assert_eq!(p.take["fractions"][0].license, "new");
    }

    #[test]
    fn a_seat_of_a_unit_the_user_left_is_released() {
        let held = [seat("other", "(class)(3a)", "2027-01-01", true)];
        let p = plan(&ada(), &[], &held, day(TODAY), true);
        assert_eq!(p.release.len(), 1);
        assert!(p.keep.is_empty());
    }

    #[test]
    fn units_of_two_providers_are_different_units() {
        // Ada is in the built-in (class)(4b); the district's (class)(4b) is another class.
        let mut theirs = seat("district", "(class)(4b)", "2027-01-01", true);
        theirs.provider = Some("district".into());
        let p = plan(&ada(), &[], &[theirs.clone()], day(TODAY), true);
        assert_eq!(p.release.len(), 1, "not a member of the district's 4b");
        let mut in_district = ada();
        in_district.push(Member {
            entity: e("(class)(4b)"),
            level: 1,
            provider: Some("district".into()),
        });
        let p = plan(&in_district, &[], &[theirs], day(TODAY), true);
        assert!(p.release.is_empty());
        assert_eq!(p.keep.len(), 1);
    }

    #[test]
    fn a_managers_seat_is_never_released_by_a_check() {
        let held = [seat("other", "(class)(3a)", "2026-01-02", false)];
        let p = plan(&ada(), &[], &held, day(TODAY), true);
        assert!(p.release.is_empty() && p.keep.is_empty());
    }

    #[test]
    fn ended_or_future_licenses_are_refused_with_a_reason() {
        let ended = [offer("old", "(class)(4b)", 1, 0, "2026-07-31")];
        let p = plan(&ada(), &ended, &[], day(TODAY), true);
        assert_eq!(p.refused[0].1, "the licenses of your units have ended");
        let mut future = offer("next", "(class)(4b)", 1, 0, "2027-07-31");
        future.valid_from = day("2027-01-01");
        let p = plan(&ada(), &[future], &[], day(TODAY), true);
        assert_eq!(
            p.refused[0].1,
            "the licenses of your units are not valid yet"
        );
    }

    #[test]
    fn full_licenses_are_refused_without_trying_to_take_a_seat() {
        let offers = [
            offer("class", "(class)(4b)", 1, 2, "2027-01-01"),
            offer("school", "(school)(north)", 2, 2, "2027-01-01"),
        ];
        let p = plan(&ada(), &offers, &[], day(TODAY), true);
        assert!(p.take.is_empty(), "no transaction for a refusal");
        assert_eq!(
            p.refused,
            [(
                "fractions".to_owned(),
                "all 4 seats of the licenses of (class)(4b), (school)(north) are taken".to_owned()
            )]
        );
        let one_free = [
            offers[0].clone(),
            offer("school", "(school)(north)", 2, 1, "2027-01-01"),
        ];
        let p = plan(&ada(), &one_free, &[], day(TODAY), true);
        assert_eq!(
            p.take["fractions"].len(),
            2,
            "the full one stays: the lock re-reads it"
        );
    }

    #[test]
    fn seat_free_members_use_a_license_without_a_seat() {
        let offers = [offer("full", "(class)(4b)", 1, 2, "2027-01-01")];
        let p = plan(&ada(), &offers, &[], day(TODAY), false);
        assert_eq!(p.use_without_seat.len(), 1);
        assert!(p.take.is_empty());
        assert_eq!(
            p.use_without_seat[0].used, 2,
            "even when every seat is taken"
        );
    }
}
