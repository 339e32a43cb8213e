use super::*;
use chrono::NaiveDate;
use lm_protocol::Sort;

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
    let mut inventory = Inventory::build(licenses.values().cloned(), []);
    // Every sort order built, so that the changes below patch them.
    for field in SortField::ALL {
        let sort = Sort {
            field,
            descending: false,
        };
        inventory.list(&LicenseFilter::default(), sort, 0..1, today);
    }
    // Changes: one removed, one moved to another vendor, employee, name and cost, one
    // renamed, one new.
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
    // One renamed and repriced, its kind, product and vendor as they were.
    let before = licenses[&"l0011".parse::<LicenseId>().unwrap()].clone();
    let mut renamed = before.clone();
    renamed.name = "Aa renamed".parse().unwrap();
    renamed.cost.amount = 999_999;
    licenses.insert(renamed.id.clone(), renamed.clone());
    assert_eq!(inventory.upsert(renamed), Some(before));
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
        let fresh = Inventory::build(licenses.values().cloned(), []);
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
                assert_eq!(
                    (total, ids),
                    (expected.len(), expected.clone()),
                    "{text} {sort:?}"
                );
                // What reports are made of: the same licenses, in any order.
                let mut matching: Vec<LicenseId> = inventory
                    .matching(&filter, today)
                    .into_iter()
                    .map(|l| l.id.clone())
                    .collect();
                matching.sort();
                let mut expected = expected;
                expected.sort();
                assert_eq!(matching, expected, "matching {text}");
            }
        }
    }
}

#[test]
fn a_page_of_changes_mends_every_sort_order_or_drops_them_when_large() {
    let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
    let mut licenses: HashMap<LicenseId, License> =
        (0..400).map(license).map(|l| (l.id.clone(), l)).collect();
    let mut inventory = Inventory::build(licenses.values().cloned(), []);
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
            _ => {}
        }
    }
    inventory.apply(page.clone());
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
    inventory.apply(large.clone());
    assert!(inventory.orders().built.is_empty());
    assert_lists_like_a_scan(&inventory, &licenses, today);
}

#[test]
fn lists_needing_one_order_at_once_all_get_it_and_none_is_left_building() {
    let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
    let inventory = Inventory::build((0..3000).map(license), []);
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

/// A seat license lists ten holders; the rest come as holder changes, and filters by
/// employee or device find the license through any of them — in both ways a list is
/// answered (a few candidates sorted, or a walk of the order).
#[test]
fn holders_beyond_the_listed_ones_are_found_and_leave_with_their_license() {
    let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
    let holder = |n: u32, who: &str| -> Assignment {
        serde_json::from_value(serde_json::json!({
            "id": format!("h{n:03}"), "employee": who, "since": "2026-02-01T00:00:00Z"
        }))
        .unwrap()
    };
    let seats = license(1);
    let assign = |n: u32, who: &str| Change::Assign {
        revision: 2,
        license: seats.id.clone(),
        assignment: holder(n, who),
    };
    // A holder may arrive before its license.
    let mut inventory = Inventory::build([], [(seats.id.clone(), holder(0, "pupil000"))]);
    inventory.apply(vec![Change::Upsert {
        revision: 2,
        license: Box::new(seats.clone()),
    }]);
    let page: Vec<Change> = (1..40)
        .map(|n| assign(n, &format!("pupil{n:03}")))
        .collect();
    inventory.apply(page.clone());
    for n in 0..3000 {
        inventory.upsert(license(10 + n));
    }
    let by_employee = |inventory: &Inventory, who: &str, q: Option<&str>| {
        let filter = LicenseFilter {
            employee: Some(who.parse().unwrap()),
            q: q.map(str::to_owned),
            ..LicenseFilter::default()
        };
        let (total, items) = inventory.list(&filter, Sort::default(), 0..10, today);
        (total, items.into_iter().map(|l| l.id).collect::<Vec<_>>())
    };
    for who in ["pupil000", "pupil033"] {
        assert_eq!(
            by_employee(&inventory, who, None),
            (1, vec![seats.id.clone()])
        );
        // With free text the candidates are few and each is checked whole.
        assert_eq!(
            by_employee(&inventory, who, Some("license")),
            (1, vec![seats.id.clone()])
        );
        assert!(inventory.holds(&seats.id, &Assignee::Employee(who.parse().unwrap())));
    }
    assert_eq!(inventory.holder_count(&seats.id), 40);

    inventory.apply(vec![Change::Unassign {
        revision: 3,
        license: seats.id.clone(),
        id: "h033".parse().unwrap(),
    }]);
    assert_eq!(by_employee(&inventory, "pupil033", None).0, 0);
    assert_eq!(inventory.holder_count(&seats.id), 39);

    // A change of the license keeps its holders; its removal takes them along.
    let mut renamed = seats.clone();
    renamed.name = "Typing for schools".parse().unwrap();
    inventory.apply(vec![Change::Upsert {
        revision: 4,
        license: Box::new(renamed),
    }]);
    assert_eq!(by_employee(&inventory, "pupil020", None).0, 1);
    inventory.apply(vec![Change::Delete {
        revision: 5,
        id: seats.id.clone(),
    }]);
    assert_eq!(by_employee(&inventory, "pupil020", None).0, 0);
    assert_eq!(inventory.holder_count(&seats.id), 0);
}

/// The spend lmd makes from its indexes equals the one made license by license, with the
/// vendors that differ in case merged the same way and the same "other".
#[test]
fn the_spend_from_the_indexes_equals_the_spend_of_every_license() {
    let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
    let licenses: Vec<License> = (0..400).map(license).collect();
    let inventory = Inventory::build(licenses.clone(), []);
    for text in [
        "",
        "vendor:adobe",
        "kind:perpetual cost>=100",
        "employee:e1",
        "License 3",
    ] {
        let filter = lm_protocol::Query::parse(text, today).unwrap().filter;
        for top in [1, 2, 8] {
            // A group of vendors differing in case is named as one of them: compare names in
            // any case.
            let lowered = |mut spend: lm_protocol::insights::Spend| {
                for group in &mut spend.by_vendor {
                    group.name = group.name.to_lowercase();
                }
                spend
            };
            let by_index = lowered(inventory.spend(&filter, today, top));
            let by_license = lowered(lm_protocol::insights::spend(
                inventory.matching(&filter, today),
                top,
            ));
            assert_eq!(by_index, by_license, "{text:?} top {top}");
        }
    }
}
