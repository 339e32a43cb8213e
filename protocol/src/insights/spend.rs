//! Where the money goes: the total and its breakdown by vendor, by kind and by product, each
//! currency apart. A breakdown names its largest groups and sums the rest as "other"; with
//! several currencies the groups are ranked by the currency most licenses are in (no
//! exchange rate is made up), then by how many licenses they have.

use super::{Amounts, Drill};
use crate::License;
use crate::money::{Currency, Money};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

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

/// Licenses grouped under one value of a breakdown (a vendor, a kind, a product), as the
/// caller grouped them: how many, and what they cost.
pub type Grouped = (String, u32, Amounts);

/// Which breakdown groups are of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Vendor,
    Kind,
    Product,
}

impl By {
    /// The query term that selects the licenses of `value` (vendors in any case).
    fn term(self, value: &str) -> String {
        match self {
            By::Vendor => term("vendor", &value.to_lowercase()),
            By::Kind => term("kind", value),
            By::Product => term("product", value),
        }
    }
}

/// A breakdown of `groups` into its `top` largest and the rest as "other". Groups that one
/// query term selects (vendors differing in case) are merged, named as one of them.
fn breakdown(
    mut grouped: Vec<Grouped>,
    by: By,
    top: usize,
    ranked_by: Option<Currency>,
) -> Vec<SpendGroup> {
    grouped.sort_by(|a, b| a.0.cmp(&b.0));
    // The query term that selects a group → (its name, count, cost).
    let mut groups: BTreeMap<String, (String, u32, Amounts)> = BTreeMap::new();
    for (name, count, cost) in grouped {
        let group = groups
            .entry(by.term(&name))
            .or_insert_with(|| (name, 0, Amounts::default()));
        group.1 += count;
        group.2.add_all(&cost);
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
    let group = |key: fn(&License) -> &str| {
        let mut by_key: HashMap<&str, (u32, Amounts)> = HashMap::new();
        for license in &licenses {
            let group = by_key.entry(key(license)).or_default();
            group.0 += 1;
            group.1.add(license.cost);
        }
        by_key
            .into_iter()
            .map(|(name, (count, cost))| (name.to_owned(), count, cost))
            .collect::<Vec<Grouped>>()
    };
    let by_vendor = group(|l| l.vendor.as_str());
    let by_kind = group(|l| l.kind.as_str());
    let by_product = group(|l| l.product.as_str());
    spend_of(
        licenses.iter().map(|l| l.cost),
        [by_vendor, by_kind, by_product],
        top,
    )
}

/// The spend of licenses that cost `costs`, grouped already by vendor, kind and product
/// (lmd groups them with its indexes): each breakdown naming its `top` largest groups.
pub fn spend_of(
    costs: impl IntoIterator<Item = Money>,
    [by_vendor, by_kind, by_product]: [Vec<Grouped>; 3],
    top: usize,
) -> Spend {
    let mut total = Amounts::default();
    let (mut licenses, mut no_cost) = (0u32, 0u32);
    let mut currencies = Vec::new();
    for cost in costs {
        licenses += 1;
        total.add(cost);
        currencies.push(cost.currency);
        if cost.amount == 0 {
            no_cost += 1;
        }
    }
    let ranked_by = super::main_currency(currencies);
    Spend {
        licenses,
        total: total.to_vec(),
        ranked_by,
        no_cost,
        by_vendor: breakdown(by_vendor, By::Vendor, top, ranked_by),
        by_kind: breakdown(by_kind, By::Kind, top, ranked_by),
        by_product: breakdown(by_product, By::Product, top, ranked_by),
    }
}
