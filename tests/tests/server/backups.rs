//! Backups and recovery: the "rogue manager" story end to end, and restores that must refuse.

use super::{create, creative_cloud, list_all, with};
use lm_protocol::License;
use lm_tests::{Backend, Server};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Each license by id, without the feed position (a restore moves the feed forward).
fn by_id(licenses: Vec<License>) -> BTreeMap<String, serde_json::Value> {
    licenses
        .into_iter()
        .map(|l| {
            let mut v = serde_json::to_value(&l).unwrap();
            v.as_object_mut().unwrap().remove("revision");
            (l.id.to_string(), v)
        })
        .collect()
}

async fn a_restore_brings_back_what_a_rogue_manager_deleted_and_the_log_names_them(
    backend: Backend,
) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    for i in 0..30 {
        let body = with(
            creative_cloud(),
            json!({"name": format!("Seat pack {i}"), "notes": format!("bought in batch {i}")}),
        );
        let license = create(&alice, body).await;
        if i % 3 == 0 {
            let id = license["id"].as_str().unwrap();
            alice
                .post(
                    &format!("/v1/licenses/{id}/assignments"),
                    &json!({"employee": format!("emp{i}")}),
                )
                .await
                .expect(201);
        }
    }
    let before = by_id(list_all(&alice, "").await);
    let head_before: i64 = alice
        .get("/v1/changes?after=0&limit=1")
        .await
        .expect(200)
        .body["head"]
        .as_i64()
        .unwrap();

    // The backup is taken while the server is serving.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nightly.lmbackup");
    server
        .admin(&["backup", "--to", file.to_str().unwrap()])
        .expect("backup");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "a backup holds product keys: owner-only");

    let mallory = server.manager("mallory");
    for id in before.keys().take(20) {
        mallory
            .delete(&format!("/v1/licenses/{id}"))
            .await
            .expect(204);
    }
    assert_eq!(list_all(&alice, "").await.len(), 10);

    server
        .admin(&["restore", "--from", file.to_str().unwrap()])
        .expect("restore");

    let after = by_id(list_all(&alice, "").await);
    assert_eq!(after, before, "every record is back, exactly as it was");

    let deletes = alice
        .get("/v1/audit?actor=mallory&action=delete&limit=100")
        .await
        .expect(200)
        .body;
    let deleted: Vec<&str> = deletes["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["record_id"].as_str().unwrap())
        .collect();
    assert_eq!(deleted.len(), 20, "the log still names who deleted them");
    let restores = alice
        .get("/v1/audit?action=restore&limit=5")
        .await
        .expect(200)
        .body;
    assert_eq!(restores["items"][0]["record_type"], "backup");
    assert_eq!(restores["items"][0]["record_id"], "nightly.lmbackup");

    // A daemon that followed the feed before the restore must start over, and a fresh
    // follower gets exactly the restored set.
    alice
        .get(&format!("/v1/changes?after={head_before}"))
        .await
        .expect_problem(410, "resync from 0");
    let snapshot: lm_protocol::ChangePage = alice
        .get("/v1/changes?after=0&limit=1000")
        .await
        .expect(200)
        .json();
    let upserts = snapshot
        .changes
        .iter()
        .filter(|c| matches!(c, lm_protocol::Change::Upsert { .. }))
        .count();
    assert_eq!(upserts, 30);
    assert!(snapshot.head > head_before, "the feed only moves forward");

    // Writes after the restore carry on normally.
    create(&alice, with(creative_cloud(), json!({"name": "After"}))).await;
    assert_eq!(list_all(&alice, "").await.len(), 31);
}

/// Runs `restore` on a damaged copy and checks it is refused with `message`.
fn refused(server: &Server, file: &Path, message: &str) {
    let err = server
        .admin(&["restore", "--from", file.to_str().unwrap()])
        .expect_err("a damaged backup must be refused");
    assert!(err.contains(message), "{message:?} not in: {err}");
}

async fn a_damaged_backup_is_refused_and_the_database_is_left_untouched(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    for i in 0..5 {
        create(
            &alice,
            with(creative_cloud(), json!({"name": format!("L{i}")})),
        )
        .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.lmbackup");
    server
        .admin(&["backup", "--to", good.to_str().unwrap()])
        .expect("backup");
    let check = server.admin(&["restore", "--from", good.to_str().unwrap(), "--check"]);
    assert!(check.is_ok(), "{check:?}");
    // Made after the backup: a refused restore must not lose it.
    create(&alice, with(creative_cloud(), json!({"name": "Newer"}))).await;
    let current = by_id(list_all(&alice, "").await);

    let compressed = std::fs::read(&good).unwrap();
    assert!(compressed.starts_with(&[0x1f, 0x8b]), "backups are gzip");
    let cut = dir.path().join("cut.lmbackup");
    std::fs::write(&cut, &compressed[..compressed.len() / 2]).unwrap();
    refused(&server, &cut, "is truncated");
    // The lines inside, written out uncompressed as older lm-servers did: damaged so.
    let text = lm_tests::backup_text(&good);
    let plain = dir.path().join("plain.lmbackup");
    std::fs::write(&plain, &text).unwrap();
    let check = server.admin(&["restore", "--from", plain.to_str().unwrap(), "--check"]);
    assert!(
        check.is_ok(),
        "an uncompressed backup still reads: {check:?}"
    );
    let truncated = dir.path().join("a.lmbackup");
    std::fs::write(&truncated, &text[..text.len() * 2 / 3]).unwrap();
    refused(&server, &truncated, "is truncated");
    let cut_at_a_line = dir.path().join("b.lmbackup");
    let without_trailer: Vec<&str> = text.lines().collect();
    std::fs::write(
        &cut_at_a_line,
        without_trailer[..without_trailer.len() - 1].join("\n") + "\n",
    )
    .unwrap();
    refused(&server, &cut_at_a_line, "is truncated: it ends after line");

    let tampered = dir.path().join("c.lmbackup");
    std::fs::write(&tampered, text.replacen("\"L3\"", "\"L9\"", 1)).unwrap();
    refused(&server, &tampered, "does not match the checksum");

    let not_a_backup = dir.path().join("notes.txt");
    std::fs::write(&not_a_backup, "id,name\n1,Office\n").unwrap();
    refused(&server, &not_a_backup, "line 1");
    refused(
        &server,
        &dir.path().join("missing.lmbackup"),
        "missing.lmbackup",
    );

    assert_eq!(by_id(list_all(&alice, "").await), current);
}

/// Rewrites a backup as an lm-server from before the users' second-factor columns would have
/// written it: without the last two columns of `users`, checksum and all.
/// `text` as an older lm-server would have written it: without the tables in `absent` and
/// without the last columns named in `fewer` — with its trailer's counts and checksum.
fn as_before(text: &str, absent: &[&str], fewer: &[(&str, usize)]) -> String {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    let mut out = String::new();
    for line in text.lines() {
        let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
        if value.get("end").is_some() {
            for table in absent {
                value["end"]["rows"].as_object_mut().unwrap().remove(*table);
            }
            value["end"]["sha256"] = json!(format!("{:x}", hash.clone().finalize()));
            out.push_str(&format!("{value}\n"));
            continue;
        }
        if let Some(tables) = value["tables"].as_object_mut() {
            for table in absent {
                tables.remove(*table);
            }
        }
        if absent.iter().any(|t| value["t"] == *t) {
            continue;
        }
        for (table, dropped) in fewer {
            let columns = if value["t"] == *table {
                value["r"].as_array_mut()
            } else {
                value["tables"][table].as_array_mut()
            };
            if let Some(columns) = columns {
                let kept = columns.len() - dropped;
                columns.truncate(kept);
            }
        }
        let line = value.to_string();
        hash.update(line.as_bytes());
        hash.update(b"\n");
        out.push_str(&format!("{line}\n"));
    }
    out
}

async fn a_backup_from_before_a_schema_change_restores(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    let license = create(&alice, creative_cloud()).await;
    alice
        .post(
            &format!(
                "/v1/licenses/{}/assignments",
                license["id"].as_str().unwrap()
            ),
            &json!({"employee": "bob"}),
        )
        .await
        .expect(201);
    let before = by_id(list_all(&alice, "").await);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("now.lmbackup");
    server
        .admin(&["backup", "--to", file.to_str().unwrap()])
        .expect("backup");
    let old = dir.path().join("older.lmbackup");
    let text = lm_tests::backup_text(&file);
    assert!(text.contains("totp_secret"));
    // As written before the second factor (two user columns), seat licensing (the
    // hierarchy, products and purchases tables, two assignment columns), API keys and holders
    // in the change feed (an assignment's revision) and the organization's settings (three
    // columns).
    let older = as_before(
        &text,
        &[
            "oauth_clients",
            "api_keys",
            "hierarchy_levels",
            "entities",
            "memberships",
            "products",
            "purchases",
        ],
        &[("users", 2), ("assignments", 3), ("orgs", 3)],
    );
    std::fs::write(&old, older).unwrap();
    server
        .admin(&["restore", "--from", old.to_str().unwrap()])
        .expect("an older backup restores; the newer columns are empty");
    assert_eq!(by_id(list_all(&alice, "").await), before);
}

async fn scheduled_backups_keep_the_newest(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    let backups_arg = backups.to_str().unwrap().to_owned();
    let mut server = Server::start_with(
        backend,
        &[
            "--rate-limit",
            "0",
            "--backup-every",
            "1s",
            "--backup-dir",
            &backups_arg,
            "--backup-keep",
            "2",
        ],
    )
    .await;
    let alice = server.manager("alice");
    create(&alice, creative_cloud()).await;
    let files = |dir: &Path| -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    // Three backups must have been made for the oldest to have been pruned.
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 3 {
        assert!(
            Instant::now() < deadline,
            "no backups in {}: {:?}",
            backups.display(),
            seen
        );
        for f in files(&backups) {
            if f.extension().is_some_and(|e| e == "lmbackup") {
                seen.insert(f);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A backup and the pruning after it happen without a pause in between, so a server
    // that stopped gracefully leaves at most `--backup-keep` backups.
    assert!(
        server.stop(),
        "lm-server stops gracefully:\n{}",
        server.log()
    );
    let kept: Vec<_> = files(&backups)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "lmbackup"))
        .collect();
    assert!(kept.len() <= 2, "{kept:?}");
    for f in &kept {
        let check = server.admin(&["restore", "--check", "--from", f.to_str().unwrap()]);
        assert!(check.is_ok(), "{}: {check:?}", f.display());
    }
}

/// What a school's seat licensing needs besides the licenses: the hierarchy, the products,
/// the purchases, the seats taken, and a script's API key.
async fn school_state(manager: &lm_tests::Client) -> serde_json::Value {
    let mut permissions = super::seats::permissions(manager, "ada").await;
    // Issued afresh on every check.
    for fresh in ["grant", "grant_expires"] {
        permissions.as_object_mut().unwrap().remove(fresh);
    }
    json!({
        "levels": manager.get("/hierarchy/levels").await.expect(200).body,
        "ada": manager.get("/hierarchy/users/ada/membership").await.expect(200).body,
        "cy": manager.get("/hierarchy/users/cy/membership").await.expect(200).body,
        "products": manager.get("/v1/products").await.expect(200).body,
        "ada's permissions": permissions,
    })
}

async fn a_restore_brings_back_a_school_with_its_seats_also_onto_a_new_database(backend: Backend) {
    let (server, alice) = super::seats::school_server(backend).await;
    alice
        .post(
            "/v1/users/ada/purchases",
            &super::seats::purchase("class", &["4b"], 30, "2026-01-01", "2099-12-31"),
        )
        .await
        .expect(201);
    // ada takes a seat by asking for her permissions.
    let state = school_state(&alice).await;
    assert!(
        state["ada's permissions"]["products"][0]["license"].is_string(),
        "{state}"
    );
    let key = server
        .admin(&["apikey", "create", "--user", "alice", "--label", "nightly"])
        .expect("an API key");
    let licenses = by_id(list_all(&alice, "").await);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("school.lmbackup");
    server
        .admin(&["backup", "--to", file.to_str().unwrap()])
        .expect("backup");

    // In place, over a changed school: cy's class gone, the product renamed.
    alice
        .delete("/v1/hierarchy/entities/class/3a")
        .await
        .expect(204);
    alice
        .send(
            reqwest::Method::PATCH,
            "/v1/products/fractions",
            Some(&json!({"name": "Renamed"})),
            &[],
        )
        .await
        .expect(200);
    server
        .admin(&["restore", "--from", file.to_str().unwrap()])
        .expect("restore over a database with a hierarchy and products");
    assert_eq!(school_state(&alice).await, state);
    assert_eq!(by_id(list_all(&alice, "").await), licenses);

    // Onto a new database (the old machine is gone): the same, and the key still works.
    let mut fresh = Server::stopped(backend).await;
    fresh
        .admin(&["restore", "--from", file.to_str().unwrap()])
        .expect("restore onto a new database");
    fresh.launch(&["--rate-limit", "0"]).await;
    let moved = fresh.client(alice.token().map(str::to_owned));
    assert_eq!(school_state(&moved).await, state);
    assert_eq!(by_id(list_all(&moved, "").await), licenses);
    fresh
        .client(Some(key.trim().to_owned()))
        .get("/v1/licenses")
        .await
        .expect(200);
}

crate::on_both_databases!(
    a_restore_brings_back_a_school_with_its_seats_also_onto_a_new_database,
    a_restore_brings_back_what_a_rogue_manager_deleted_and_the_log_names_them,
    a_damaged_backup_is_refused_and_the_database_is_left_untouched,
    a_backup_from_before_a_schema_change_restores,
    scheduled_backups_keep_the_newest,
);

/// Moving from the embedded database to PostgreSQL is a backup and a restore.
#[tokio::test]
async fn a_sqlite_backup_restores_into_postgresql() {
    let embedded = Server::start(Backend::Sqlite).await;
    let alice = embedded.manager("alice");
    for i in 0..12 {
        create(
            &alice,
            with(creative_cloud(), json!({"name": format!("L{i}")})),
        )
        .await;
    }
    let before = by_id(list_all(&alice, "").await);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("move.lmbackup");
    embedded
        .admin(&["backup", "--to", file.to_str().unwrap()])
        .expect("backup");

    let mut production = Server::stopped(Backend::Postgres).await;
    production
        .admin(&["restore", "--from", file.to_str().unwrap()])
        .expect("restore into PostgreSQL");
    production.launch(&["--rate-limit", "0"]).await;
    // The signing keys moved too: alice's token from the embedded server still works.
    let moved = production.client(alice.token().map(str::to_owned));
    assert_eq!(by_id(list_all(&moved, "").await), before);
}
