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

fn assign(license: &str, employee: &str, revision: i64) -> Change {
    serde_json::from_value(serde_json::json!({
        "op": "assign", "revision": revision, "license": license,
        "assignment": {"id": format!("{license}-{employee}"), "employee": employee,
                       "since": "2026-01-01T00:00:00Z"}
    }))
    .unwrap()
}

fn with_expiry(mut l: License, expires: &str) -> License {
    l.expires = Some(expires.parse().unwrap());
    l
}

/// What a cache holds: license ids, holders per license, member names, the cursor.
type Contents = (Vec<String>, Vec<(String, usize)>, Vec<String>, i64);

fn contents(cache: &Cache) -> Contents {
    let (_, licenses) = cache.list(
        &LicenseFilter::default(),
        Sort::default(),
        0,
        100,
        Utc::now().date_naive(),
    );
    let ids = licenses.iter().map(|l| l.id.to_string()).collect();
    let holders = licenses
        .iter()
        .map(|l| (l.id.to_string(), cache.holders(&l.id, 0, 100).0))
        .collect();
    let members = cache.read().members.keys().cloned().collect();
    (ids, holders, members, cache.cursor())
}

/// A snapshot and the journal after it read back as the same cache, whichever of the two
/// holds a change: licenses, holders, a deletion taking its holders, members, alerts.
#[test]
fn the_cache_reads_back_the_same_from_its_snapshot_and_its_journal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache");
    let member: Member = serde_json::from_value(serde_json::json!({
        "name": "ann", "role": "manager", "status": "active", "licenses": 0, "seats": 0,
        "created_at": "2026-01-01T00:00:00Z", "last_sign_in": null, "second_factor": false
    }))
    .unwrap();
    let a = with_expiry(license("a", "Adobe", 1), "2027-01-01");
    let expected = {
        let cache = Cache::open(&path).unwrap();
        cache
            .apply(
                &[
                    upsert(a.clone()),
                    upsert(license("b", "Adobe", 2)),
                    assign("a", "ann", 3),
                    assign("b", "bob", 4),
                    Change::Member {
                        revision: 5,
                        member: Box::new(member),
                    },
                ],
                5,
            )
            .unwrap();
        let current = Cache::alert_key(&a.id, a.expires.unwrap(), 30);
        let renewed = Cache::alert_key(&a.id, "2026-01-01".parse().unwrap(), 30);
        cache
            .mark_alerted([current.as_str(), renewed.as_str()])
            .unwrap();
        cache.compact(cache.journal()).unwrap();
        assert!(cache.alerted(&renewed), "kept in memory");
        cache
            .apply(
                &[
                    assign("a", "cid", 6),
                    Change::Delete {
                        revision: 7,
                        id: "b".parse().unwrap(),
                    },
                    upsert(license("c", "Corel", 8)),
                ],
                8,
            )
            .unwrap();
        contents(&cache)
    };
    assert_eq!(
        expected,
        (
            vec!["a".to_owned(), "c".to_owned()],
            vec![("a".to_owned(), 2), ("c".to_owned(), 0)],
            vec!["ann".to_owned()],
            8
        )
    );
    let reopened = Cache::open(&path).unwrap();
    assert_eq!(contents(&reopened), expected);
    assert!(reopened.alerted(&Cache::alert_key(&a.id, a.expires.unwrap(), 30)));
    assert!(
        !reopened.alerted(&Cache::alert_key(&a.id, "2026-01-01".parse().unwrap(), 30)),
        "an alert of an expiry date the license no longer has is not kept by a snapshot"
    );

    // And again once all of it is in one snapshot.
    reopened.compact(reopened.journal()).unwrap();
    drop(reopened);
    assert_eq!(contents(&Cache::open(&path).unwrap()), expected);
}

#[test]
fn a_cache_of_another_schema_is_set_aside_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache");
    {
        let db = sled::open(&path).unwrap();
        db.insert(SCHEMA_KEY, b"0").unwrap();
        db.insert(b"lic/a", b"{}").unwrap();
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

/// A damaged inventory file is not a crash lmd can read past: the cache is set aside and
/// synced again.
#[test]
fn a_damaged_cache_is_set_aside_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache");
    {
        let cache = Cache::open(&path).unwrap();
        cache.apply(&[upsert(license("a", "Adobe", 1))], 1).unwrap();
        cache.compact(cache.journal()).unwrap();
    }
    std::fs::write(
        path.join("inventory.snapshot"),
        b"lm-inv01 and then nonsense",
    )
    .unwrap();
    let cache = Cache::open(&path).unwrap();
    assert_eq!((cache.cursor(), cache.len()), (0, 0));
    let aside = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().starts_with("cache.broken-")
        })
        .count();
    assert_eq!(aside, 1);
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
    drop(cache);
    let reopened = Cache::open(&dir.path().join("cache")).unwrap();
    assert_eq!(
        (reopened.cursor(), reopened.len()),
        (7, 1),
        "what a restart finds"
    );
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
    // One kind, one vendor, one product, one (empty) notes text, shared by all 200.
    assert_eq!(part("shared values").items, 4);
    assert!(footprint.resident > 0);
    let sizes: Vec<u64> = footprint.parts.iter().map(|p| p.bytes).collect();
    assert!(
        sizes.windows(2).all(|w| w[0] >= w[1]),
        "largest first: {sizes:?}"
    );
}
