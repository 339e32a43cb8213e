//! Where the money goes: the total and its breakdown by vendor, by kind and by product, each
//! currency apart. A breakdown names its largest groups and sums the rest as "other"; with
//! several currencies the groups are ranked by the currency most licenses are in (no
//! exchange rate is made up), then by how many licenses they have.

use super::{Amounts, Drill, main_currency};
use crate::License;
use crate::money::{Currency, Money};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One group of a breakdown: a vendor, a kind, a product, or "other".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendGroup {
    pub name: String,
    pub licenses: u32,
    pub cost: Vec<Money>,
    /// The licenses of the group; none for "other".
    pub drill: Option<Drill>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spend {
    pub licenses: u32,
    pub total: Vec<Money>,
    /// The currency the breakdowns are ranked by.
    pub ranked_by: Option<Currency>,
    /// Licenses without a cost recorded (in the total as 0).
    pub no_cost: u32,
    pub by_vendor: Vec<SpendGroup>,
    pub by_kind: Vec<SpendGroup>,
    pub by_product: Vec<SpendGroup>,
}

/// The name of the group of the rest.
pub const OTHER: &str = "other";

/// A breakdown of `licenses` by `key`, its `top` largest groups and the rest as "other".
fn breakdown<'a>(
    licenses: &[&'a License],
    key: impl Fn(&'a License) -> (String, String),
    top: usize,
    ranked_by: Option<Currency>,
) -> Vec<SpendGroup> {
    // The query term that selects a group → (its name as first seen, count, cost): vendors
    // that differ in case only are one group, as `vendor:` selects them.
    let mut groups: BTreeMap<String, (String, u32, Amounts)> = BTreeMap::new();
    for license in licenses {
        let (name, term) = key(license);
        let group = groups
            .entry(term)
            .or_insert_with(|| (name, 0, Amounts::default()));
        group.1 += 1;
        group.2.add(license.cost);
    }
    let mut ranked: Vec<(String, (String, u32, Amounts))> = groups
        .into_iter()
        .map(|(term, (name, count, cost))| (name, (term, count, cost)))
        .collect();
    ranked.sort_by(|(a_name, a), (b_name, b)| {
        let worth = |g: &(String, u32, Amounts)| ranked_by.map_or(0, |c| g.2.of(c));
        worth(b)
            .cmp(&worth(a))
            .then(b.1.cmp(&a.1))
            .then(a_name.cmp(b_name))
    });
    let mut shown: Vec<SpendGroup> = Vec::new();
    let mut rest = (0u32, Amounts::default());
    for (i, (name, (term, count, cost))) in ranked.into_iter().enumerate() {
        if i < top {
            shown.push(SpendGroup {
                name,
                licenses: count,
                cost: cost.to_vec(),
                drill: Some(Drill::query(term)),
            });
        } else {
            rest.0 += count;
            rest.1.add_all(&cost);
        }
    }
    if rest.0 > 0 {
        shown.push(SpendGroup {
            name: OTHER.into(),
            licenses: rest.0,
            cost: rest.1.to_vec(),
            drill: None,
        });
    }
    shown
}

/// A query term that selects `value` of `field` exactly (quoted when it has a space).
fn term(field: &str, value: &str) -> String {
    if value.contains(char::is_whitespace) {
        format!("{field}:\"{value}\"")
    } else {
        format!("{field}:{value}")
    }
}

/// The spend of `licenses`, each breakdown naming its `top` largest groups.
pub fn spend<'a>(licenses: impl IntoIterator<Item = &'a License>, top: usize) -> Spend {
    let licenses: Vec<&License> = licenses.into_iter().collect();
    let ranked_by = main_currency(licenses.iter().copied());
    let mut total = Amounts::default();
    let mut no_cost = 0;
    for l in &licenses {
        total.add(l.cost);
        if l.cost.amount == 0 {
            no_cost += 1;
        }
    }
    Spend {
        licenses: licenses.len() as u32,
        total: total.to_vec(),
        ranked_by,
        no_cost,
        by_vendor: breakdown(
            &licenses,
            |l| {
                let vendor = l.vendor.as_str();
                (vendor.to_owned(), term("vendor", &vendor.to_lowercase()))
            },
            top,
            ranked_by,
        ),
        by_kind: breakdown(
            &licenses,
            |l| (l.kind.to_string(), term("kind", l.kind.as_str())),
            top,
            ranked_by,
        ),
        by_product: breakdown(
            &licenses,
            |l| (l.product.to_string(), term("product", l.product.as_str())),
            top,
            ranked_by,
        ),
    }
}
