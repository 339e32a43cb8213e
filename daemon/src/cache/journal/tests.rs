use super::*;

fn license(id: &str) -> License {
    serde_json::from_value(serde_json::json!({
        "id": id, "product": "p", "name": format!("License {id}"), "kind": "subscription",
        "vendor": "v", "cost": {"amount": 100, "currency": "EUR"}, "seats_used": 0,
        "added": "2026-01-01", "version": 1, "revision": 1
    }))
    .unwrap()
}

/// The license ids and the last cursor the files in `dir` give back.
fn read_back(dir: &Path) -> (Vec<String>, Option<i64>) {
    let (mut ids, mut cursor) = (Vec::new(), None);
    Journal::open(dir, |entry| match entry {
        Entry::Licenses(l) => ids.extend(l.into_iter().map(|l| l.id.to_string())),
        Entry::Cursor(c) => cursor = Some(c),
        _ => {}
    })
    .unwrap();
    (ids, cursor)
}

fn add(journal: &mut Journal, id: &str, cursor: i64) {
    journal
        .append(records(Kind::Licenses, [license(id)]), Some(cursor))
        .unwrap();
}

fn journal_len(dir: &Path) -> u64 {
    std::fs::metadata(dir.join(JOURNAL_FILE)).unwrap().len()
}

/// What is written borrowed reads back owned, kind for kind, also when the items fill
/// several records.
#[test]
fn every_kind_of_record_reads_back_as_written() {
    let many: Vec<License> = (0..400).map(|n| license(&format!("l{n}"))).collect();
    let written: Vec<Vec<u8>> = records(Kind::Licenses, &many).collect();
    assert!(written.len() > 1, "400 licenses fill more than one record");
    let mut ids = Vec::new();
    for record in &written {
        let Ok(Entry::Licenses(licenses)) = serde_json::from_slice(record) else {
            panic!("not licenses: {}", String::from_utf8_lossy(record));
        };
        ids.extend(licenses.into_iter().map(|l| l.id));
    }
    assert_eq!(ids, many.iter().map(|l| l.id.clone()).collect::<Vec<_>>());

    let read = |record: Option<Vec<u8>>| -> Entry {
        serde_json::from_slice(&record.expect("a record")).unwrap()
    };
    let page = [Change::Delete {
        revision: 2,
        id: "b".parse().unwrap(),
    }];
    assert!(matches!(read(records(Kind::Page, &page).next()), Entry::Page(p) if p.len() == 1));
    assert!(matches!(
        read(records(Kind::Alerted, ["alert/a/2027-01-01/30"]).next()),
        Entry::Alerted(k) if k == ["alert/a/2027-01-01/30"]
    ));
    let holders: [(LicenseId, Assignment); 0] = [];
    assert!(
        records(Kind::Holders, &holders).next().is_none(),
        "nothing, no record"
    );
    let members: [Member; 0] = [];
    assert!(records(Kind::Members, &members).next().is_none());
}

/// A page kept as the server sent it — pretty-printed even — reads back as that page.
#[test]
fn a_feed_page_kept_as_sent_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path(), |_| {}).unwrap();
    let page = lm_protocol::ChangePage {
        changes: vec![Change::Upsert {
            revision: 4,
            license: Box::new(license("a")),
        }],
        next: 4,
        more: false,
        head: 4,
    };
    let raw = serde_json::to_vec_pretty(&page).unwrap();
    journal
        .append(std::iter::once(feed_record(&raw)), Some(4))
        .unwrap();
    add(&mut journal, "b", 5);
    let mut read = Vec::new();
    Journal::open(dir.path(), |entry| match entry {
        Entry::Feed(page) => read.push(format!("feed of {}", page.changes.len())),
        Entry::Licenses(l) => read.push(format!("license {}", l[0].id)),
        Entry::Cursor(c) => read.push(format!("cursor {c}")),
        _ => read.push("other".into()),
    })
    .unwrap();
    assert_eq!(read, ["feed of 1", "cursor 4", "license b", "cursor 5"]);
}

/// A crash while a page was being written leaves part of its frame: the page is not
/// applied, nor its cursor, and the journal goes on from the page before.
#[test]
fn a_frame_cut_short_is_dropped_with_its_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path(), |_| {}).unwrap();
    add(&mut journal, "a", 1);
    let whole = journal_len(dir.path());
    add(&mut journal, "b", 2);
    drop(journal);
    let file = OpenOptions::new()
        .write(true)
        .open(dir.path().join(JOURNAL_FILE))
        .unwrap();
    file.set_len(journal_len(dir.path()) - 3).unwrap();

    assert_eq!(read_back(dir.path()), (vec!["a".to_owned()], Some(1)));
    assert_eq!(
        journal_len(dir.path()),
        whole,
        "cut back to the last whole frame"
    );
    let mut journal = Journal::open(dir.path(), |_| {}).unwrap();
    add(&mut journal, "c", 3);
    assert_eq!(
        read_back(dir.path()),
        (vec!["a".to_owned(), "c".to_owned()], Some(3))
    );
}

/// A frame whose bytes changed fails its checksum: it and what follows are not applied.
#[test]
fn a_garbled_frame_ends_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path(), |_| {}).unwrap();
    add(&mut journal, "a", 1);
    let second = journal_len(dir.path());
    add(&mut journal, "b", 2);
    add(&mut journal, "c", 3);
    drop(journal);
    let path = dir.path().join(JOURNAL_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[second as usize + FRAME_HEADER_BYTES + 5] ^= 0x20;
    std::fs::write(&path, bytes).unwrap();

    assert_eq!(read_back(dir.path()), (vec!["a".to_owned()], Some(1)));
}

/// After a compaction the snapshot holds everything; a journal of the generation before
/// (a crash between the snapshot's rename and the new journal's) is not applied again.
#[test]
fn a_journal_folded_into_the_snapshot_is_not_applied_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path(), |_| {}).unwrap();
    add(&mut journal, "a", 1);
    let before = std::fs::read(dir.path().join(JOURNAL_FILE)).unwrap();
    journal
        .compact(records(Kind::Licenses, [license("a")]), 1)
        .unwrap();
    add(&mut journal, "b", 2);
    assert_eq!(
        read_back(dir.path()),
        (vec!["a".to_owned(), "b".to_owned()], Some(2))
    );
    drop(journal);

    std::fs::write(dir.path().join(JOURNAL_FILE), before).unwrap();
    std::fs::write(dir.path().join(format!("{SNAPSHOT_FILE}.new")), b"half").unwrap();
    assert_eq!(read_back(dir.path()), (vec!["a".to_owned()], Some(1)));
    assert!(!dir.path().join(format!("{SNAPSHOT_FILE}.new")).exists());
}

/// A snapshot is renamed into place only once whole: one that is not is damage, not a
/// crash, and is refused (the cache is then set aside and synced again).
#[test]
fn a_damaged_snapshot_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path(), |_| {}).unwrap();
    journal
        .compact(records(Kind::Licenses, [license("a")]), 1)
        .unwrap();
    drop(journal);
    let path = dir.path().join(SNAPSHOT_FILE);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 2]).unwrap();
    let Err(refused) = Journal::open(dir.path(), |_| {}) else {
        panic!("a damaged snapshot was read");
    };
    assert!(refused.to_string().contains("damaged"), "{refused}");
}
