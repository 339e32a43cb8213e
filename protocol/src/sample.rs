//! Realistic sample inventories for the demo, the benchmarks and the snapshots of the TUI:
//! deterministic for a seed, spread over vendors, kinds, costs and dates, with some licenses
//! expiring soon. Pure data, no I/O: the server seeds a database with them, tests draw them.

use crate::license::LicenseFields;
use crate::{Assignee, Currency, Money};
use chrono::{Days, NaiveDate};

/// A catalogue entry: (vendor, product id, product name, kind, yearly cost in cents, seats).
type Offer = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    i64,
    Option<u32>,
);

const CATALOGUE: &[Offer] = &[
    (
        "Adobe",
        "adobe-cc",
        "Creative Cloud All Apps",
        "subscription",
        71_988,
        Some(10),
    ),
    (
        "Adobe",
        "adobe-acrobat",
        "Acrobat Pro",
        "subscription",
        23_988,
        Some(25),
    ),
    (
        "Microsoft",
        "m365-e3",
        "Microsoft 365 E3",
        "subscription",
        43_200,
        Some(50),
    ),
    (
        "Microsoft",
        "office-ltsc",
        "Office LTSC Professional Plus 2024",
        "perpetual",
        52_900,
        None,
    ),
    (
        "Microsoft",
        "win11-pro",
        "Windows 11 Pro",
        "per-device",
        25_900,
        Some(1),
    ),
    (
        "JetBrains",
        "jb-all",
        "All Products Pack",
        "subscription",
        77_900,
        Some(5),
    ),
    (
        "JetBrains",
        "jb-intellij",
        "IntelliJ IDEA Ultimate",
        "subscription",
        59_900,
        Some(8),
    ),
    (
        "Atlassian",
        "jira-cloud",
        "Jira Software Cloud",
        "per-seat",
        9_300,
        Some(40),
    ),
    (
        "Atlassian",
        "confluence",
        "Confluence Cloud",
        "per-seat",
        6_050,
        Some(40),
    ),
    (
        "Slack",
        "slack-pro",
        "Slack Pro",
        "per-seat",
        8_750,
        Some(60),
    ),
    (
        "Zoom",
        "zoom-business",
        "Zoom Workplace Business",
        "subscription",
        21_990,
        Some(20),
    ),
    (
        "Autodesk",
        "autocad",
        "AutoCAD",
        "subscription",
        220_000,
        Some(3),
    ),
    (
        "Figma",
        "figma-org",
        "Figma Organization",
        "per-seat",
        54_000,
        Some(12),
    ),
    (
        "GitHub",
        "gh-enterprise",
        "GitHub Enterprise",
        "per-seat",
        25_200,
        Some(30),
    ),
    (
        "Salesforce",
        "sf-sales",
        "Sales Cloud Enterprise",
        "subscription",
        198_000,
        Some(15),
    ),
    (
        "1Password",
        "1p-business",
        "1Password Business",
        "per-seat",
        9_576,
        Some(80),
    ),
    (
        "Sophos",
        "sophos-ep",
        "Intercept X Endpoint",
        "per-device",
        4_800,
        Some(100),
    ),
    (
        "ESET",
        "eset-protect",
        "ESET PROTECT Entry",
        "site",
        180_000,
        None,
    ),
    (
        "MathWorks",
        "matlab",
        "MATLAB Campus-Wide",
        "site",
        1_250_000,
        None,
    ),
    ("IBM", "spss", "SPSS Statistics", "trial", 0, Some(5)),
    (
        "Parallels",
        "parallels-pro",
        "Parallels Desktop Pro",
        "subscription",
        11_999,
        Some(6),
    ),
    (
        "VMware",
        "workstation",
        "Workstation Pro",
        "perpetual",
        19_900,
        Some(4),
    ),
    (
        "Tableau",
        "tableau-creator",
        "Tableau Creator",
        "subscription",
        90_000,
        Some(4),
    ),
    (
        "Miro",
        "miro-business",
        "Miro Business",
        "per-seat",
        19_200,
        Some(25),
    ),
];

const TEAMS: &[&str] = &[
    "design",
    "engineering",
    "finance",
    "sales",
    "support",
    "IT",
    "marketing",
    "research",
];

pub const EMPLOYEES: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yara",
];

/// A small deterministic generator (SplitMix64); sample data needs no cryptographic randomness.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// `count` licenses relative to `today`. About one in twelve expires within 30 days and one
/// in twenty has already expired.
///
/// People and devices grow with the inventory (about one employee per 20 licenses and one
/// device per 10), so filters by assignee stay as selective as in a real organization. The
/// first twenty employees keep their plain names (`alice`, `bob`, …).
pub fn licenses(count: usize, seed: u64, today: NaiveDate) -> Vec<(LicenseFields, Vec<Assignee>)> {
    let mut rng = SplitMix(seed);
    let cohorts = (count as u64 / (20 * EMPLOYEES.len() as u64)).max(1);
    let devices = (count as u64 / 10).max(400);
    (0..count)
        .map(|i| {
            let &(vendor, product, product_name, kind, cost, seats) = rng.pick(CATALOGUE);
            let team = rng.pick(TEAMS);
            let added = today - Days::new(rng.below(3 * 365));
            let expires = match (kind, rng.below(20)) {
                ("perpetual" | "site", _) => None,
                (_, 0) => Some(today - Days::new(1 + rng.below(60))),
                (_, 1 | 2) => Some(today + Days::new(rng.below(31))),
                _ => Some(added + Days::new(365 * (1 + rng.below(3)))),
            }
            .map(|e: NaiveDate| e.max(added));
            let mut assignees = Vec::new();
            let limit = seats.unwrap_or(3).min(4);
            for _ in 0..rng.below(u64::from(limit) + 1) {
                let assignee = if kind == "per-device" || rng.below(4) == 0 {
                    let device = format!("LAPTOP-{:03}", rng.below(devices));
                    Assignee::Device(device.parse().expect("valid device"))
                } else {
                    let name = rng.pick(EMPLOYEES);
                    let employee = match rng.below(cohorts) {
                        0 => (*name).to_owned(),
                        n => format!("{name}{n}"),
                    };
                    Assignee::Employee(employee.parse().expect("valid employee"))
                };
                if !assignees.contains(&assignee) {
                    assignees.push(assignee);
                }
            }
            let fields = LicenseFields {
                product: product.parse().expect("valid product"),
                name: format!("{product_name}, {team} #{}", i + 1)
                    .parse()
                    .expect("valid name"),
                kind: kind.parse().expect("valid kind"),
                vendor: vendor.parse().expect("valid vendor"),
                cost: Money::new(cost * i64::from(seats.unwrap_or(1).min(20)), Currency::EUR)
                    .expect("non-negative"),
                seats,
                added,
                expires,
                owner: None,
                key: Some(
                    format!(
                        "{:04X}-{:04X}-{:04X}-{:04X}",
                        rng.below(65536),
                        rng.below(65536),
                        rng.below(65536),
                        rng.below(65536)
                    )
                    .parse()
                    .expect("valid key"),
                ),
                notes: if rng.below(5) == 0 {
                    format!("Renewal owner: {team} lead")
                        .parse()
                        .expect("valid notes")
                } else {
                    "".parse().expect("empty notes")
                },
            };
            (fields, assignees)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_licenses_are_valid_and_deterministic() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        let a = licenses(500, 7, today);
        assert_eq!(a, licenses(500, 7, today));
        for (fields, assignees) in &a {
            fields.validate(assignees.len() as u32).unwrap();
        }
        let soon = a
            .iter()
            .filter(|(f, _)| {
                f.expires
                    .is_some_and(|e| e >= today && e <= today + Days::new(30))
            })
            .count();
        assert!(soon > 10, "only {soon} expire soon");
    }
}
