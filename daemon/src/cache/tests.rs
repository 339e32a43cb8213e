use super::*;
use lm_protocol::SortField;

fn license(id: &str, vendor: &str, revision: i64) -> License {
    serde_json::from_value(serde_json::json!({
        "id": id, "product": "p", "name": format!("License {id}"), "kind": "subscription",
        "vendor": vendor, "cost": {"amount": 100, "currency": "EUR"}, "seats_used": 0,
        "added": "2026-01-01", "version": 1, "revision": revision
    }))
    .unwrap()
}

fn upsert(l: License) -> Change {
    Change::Upsert {
        revision: l.revision,
        license: Box::new(l),
    }
}

#[test]
fn pages_and_cursor_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache");
    {
        let cache = Cache::open(&path).unwrap();
        cache
            .apply(
                &[
                    upsert(license("a", "Adobe", 1)),
                    upsert(license("b", "JetBrains", 2)),
                ],
                2,
            )
            .unwrap();
        cache
            .apply(
                &[Change::Delete {
                    revision: 3,
                    id: "a".parse().unwrap(),
                }],
                3,
            )
            .unwrap();
    }
    let cache = Cache::open(&path).unwrap();
    assert_eq!(cache.cursor(), 3);
    assert_eq!(cache.len(), 1);
    assert!(cache.get(&"b".parse().unwrap()).is_some());
}

#[test]
fn a_cache_of_another_schema_is_set_aside_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache");
    {
        let db = sled::open(&path).unwrap();
        db.insert(SCHEMA_KEY, b"0").unwrap();
        db.insert(CURSOR_KEY, &9i64.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let cache = Cache::open(&path).unwrap();
    assert_eq!(cache.cursor(), 0, "a fresh cache syncs from the start");
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("cache.broken-"))
        .collect();
    assert_eq!(aside.len(), 1, "the old cache is kept for inspection");
}

#[test]
fn replace_drops_what_the_server_no_longer_has() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(&dir.path().join("cache")).unwrap();
    cache
        .apply(
            &[
                upsert(license("a", "Adobe", 1)),
                upsert(license("b", "Adobe", 2)),
            ],
            2,
        )
        .unwrap();
    let mut snapshot = Snapshot::default();
    snapshot.gather(vec![upsert(license("b", "Adobe", 5))]);
    let applied = cache.replace(snapshot, 7).unwrap();
    assert_eq!(applied.ids.len(), 2);
    assert_eq!(cache.cursor(), 7);
    assert_eq!(cache.len(), 1);
}

#[test]
fn lists_filter_sort_and_window() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(&dir.path().join("cache")).unwrap();
    let changes: Vec<Change> = (0..10)
        .map(|i| {
            let vendor = if i % 2 == 0 { "Adobe" } else { "JetBrains" };
            upsert(license(&format!("l{i}"), vendor, i + 1))
        })
        .collect();
    cache.apply(&changes, 10).unwrap();
    let filter = LicenseFilter {
        vendor: Some("adobe".into()),
        ..LicenseFilter::default()
    };
    let sort = Sort {
        field: SortField::Id,
        descending: true,
    };
    let (total, window) = cache.list(&filter, sort, 1, 2, Utc::now().date_naive());
    assert_eq!(total, 5);
    let ids: Vec<_> = window.iter().map(|l| l.id.to_string()).collect();
    assert_eq!(ids, ["l6", "l4"]);
}

/// A shared folder (sticky and open to all, like /tmp) is nobody's cache: making it and
/// every file in it owner-only would break every other program that uses it.
#[test]
fn a_shared_folder_is_refused_as_the_cache_and_left_as_it_was() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let other = shared.join("someone-elses.txt");
    std::fs::write(&other, "hello").unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o644)).unwrap();
    let Err(refused) = Cache::open(&shared) else {
        panic!("a shared folder was taken as the cache")
    };
    assert!(refused.to_string().contains("shared"), "{refused}");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&shared), 0o1777);
    assert_eq!(mode(&other), 0o644);
}

#[test]
fn the_footprint_names_each_part_and_shares_repeated_values() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(&dir.path().join("cache")).unwrap();
    let page: Vec<Change> = (0..200)
        .map(|n| upsert(license(&format!("l{n}"), "Adobe", n + 1)))
        .collect();
    cache.apply(&page, 200).unwrap();
    let footprint = cache.footprint();
    let part = |name: &str| {
        footprint
            .parts
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no part {name}: {footprint:?}"))
            .clone()
    };
    assert_eq!(part("licenses").items, 200);
    assert!(part("licenses").bytes >= 200 * size_of::<License>() as u64);
    assert_eq!(part("free-text search").items, 200);
    // One vendor, one product, one (empty) notes text, shared by all 200.
    assert_eq!(part("shared values").items, 3);
    assert!(footprint.resident > 0);
    let sizes: Vec<u64> = footprint.parts.iter().map(|p| p.bytes).collect();
    assert!(
        sizes.windows(2).all(|w| w[0] >= w[1]),
        "largest first: {sizes:?}"
    );
}
