//! Facts of the PostgreSQL schema that decide whether the planner can use an index: a column
//! joined to another must compare in the same collation, or PostgreSQL cannot use the index on
//! either side and scans the table instead (a permission check's candidates took 5 s at 6,000
//! licenses when `purchases.license_id` and `licenses.id` disagreed). SQLite compares all text
//! the same way (BINARY), so this concerns PostgreSQL only.

use lm_tests::{Backend, Server};

/// Columns joined to others without a foreign key declaring it: (table, column, referenced
/// table, referenced column).
const JOINS_WITHOUT_A_FOREIGN_KEY: [(&str, &str, &str, &str); 2] = [
    ("purchases", "license_id", "licenses", "id"),
    ("license_owners", "license_id", "licenses", "id"),
];

#[tokio::test]
async fn every_joined_column_has_the_collation_of_the_column_it_references() {
    let server = Server::start(Backend::Postgres).await;
    let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(&server.database_url)
        .await
        .unwrap();
    // Every foreign key's columns, beside the columns they reference, with their collations.
    let declared: Vec<(String, String, String, String, String, String)> = sqlx::query_as(
        "SELECT c.conrelid::regclass::text, a.attname::text, \
                COALESCE(ca.collname::text, ''), \
                c.confrelid::regclass::text, fa.attname::text, \
                COALESCE(cf.collname::text, '') \
         FROM pg_constraint c \
         CROSS JOIN LATERAL unnest(c.conkey, c.confkey) AS k(col, fcol) \
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.col \
         JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = k.fcol \
         LEFT JOIN pg_collation ca ON ca.oid = a.attcollation \
         LEFT JOIN pg_collation cf ON cf.oid = fa.attcollation \
         WHERE c.contype = 'f'",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    let collation = |table: &'static str, column: &'static str| {
        sqlx::query_scalar::<_, String>(
            "SELECT COALESCE(co.collname::text, '') FROM pg_attribute a \
             LEFT JOIN pg_collation co ON co.oid = a.attcollation \
             WHERE a.attrelid = $1::regclass AND a.attname = $2",
        )
        .bind(table)
        .bind(column)
    };
    let mut pairs = declared;
    for (table, column, referenced, referenced_column) in JOINS_WITHOUT_A_FOREIGN_KEY {
        let own = collation(table, column).fetch_one(&mut db).await.unwrap();
        let theirs = collation(referenced, referenced_column)
            .fetch_one(&mut db)
            .await
            .unwrap();
        pairs.push((
            table.into(),
            column.into(),
            own,
            referenced.into(),
            referenced_column.into(),
            theirs,
        ));
    }
    assert!(
        pairs.len() > JOINS_WITHOUT_A_FOREIGN_KEY.len(),
        "foreign keys were read"
    );
    let mismatched: Vec<String> = pairs
        .iter()
        .filter(|(_, _, own, _, _, theirs)| own != theirs)
        .map(|(t, c, own, rt, rc, theirs)| format!("{t}.{c} ({own}) → {rt}.{rc} ({theirs})"))
        .collect();
    assert!(mismatched.is_empty(), "collations differ: {mismatched:#?}");
}

/// Sequential scans so far, and rows, of each table that holds a thousand rows or more (for a
/// smaller one a scan is what the planner should choose).
async fn sequential_scans(
    db: &mut sqlx::PgConnection,
) -> std::collections::BTreeMap<String, (i64, i64)> {
    sqlx::query_as::<_, (String, i64, i64)>(
        "SELECT relname::text, seq_scan, n_live_tup FROM pg_stat_user_tables \
         WHERE relname IN ('purchases', 'assignments', 'licenses', 'audit', 'license_owners') \
         AND n_live_tup >= 1000",
    )
    .fetch_all(db)
    .await
    .unwrap()
    .into_iter()
    .map(|(table, scans, rows)| (table, (scans, rows)))
    .collect()
}

/// How long a PostgreSQL backend may hold its statistics before reporting them (15's
/// `PGSTAT_IDLE_INTERVAL` is 10 s).
const STATISTICS_SETTLE: std::time::Duration = std::time::Duration::from_secs(11);

/// The hot paths of seat licensing — a permission check that takes a seat, one that keeps it,
/// a purchase — and pages of the change feed (a manager's, with every holder; an employee's,
/// with their own) read the big tables through their indexes: over an inventory of thousands
/// of licenses, holders and purchases, none of them scans `purchases`, `assignments`,
/// `licenses`, `license_owners` or `audit` (PostgreSQL's own counters say so).
#[tokio::test]
async fn seat_checks_purchases_and_feed_pages_scan_no_big_table() {
    let server = Server::start(Backend::Postgres).await;
    server
        .admin(&["seed", "--org", "acme", "--licenses", "3000", "--school"])
        .expect("seed");
    let manager = server.manager("alice");
    // Made before the counting starts: an administrative command's start reads what it
    // completes (the identities of the purchases inserted below).
    let employee = server.employee("ada.3a");
    let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(&server.database_url)
        .await
        .unwrap();
    // A district's purchases: one for each license the seed made.
    for sql in [
        "INSERT INTO purchases (license_id, org_id, purchaser, hierarchy_provider, valid_from, created_at) \
         SELECT id, org_id, 'district', NULL, added, now() FROM licenses \
         WHERE org_id = 'acme' AND id NOT IN (SELECT license_id FROM purchases)",
        "ANALYZE",
    ] {
        sqlx::query(sql).execute(&mut db).await.unwrap();
    }
    tokio::time::sleep(STATISTICS_SETTLE).await;
    let before = sequential_scans(&mut db).await;

    for student in ["chloe.3a", "ada.3a", "ben.4a", "mia.4b"] {
        for _ in 0..2 {
            manager
                .get(&format!("/v1/users/{student}/permissions"))
                .await
                .expect(200);
        }
    }
    manager
        .post(
            "/v1/users/ada.3a/purchases",
            &serde_json::json!({"product_eid": "typing", "owner_hierarchy_level": "class",
                "owner_eids": ["3a"], "seats": 5, "valid_from": "2026-01-01", "valid_to": "2031-01-01"}),
        )
        .await
        .expect(201);
    let head = manager
        .get("/v1/changes?after=0&limit=1")
        .await
        .expect(200)
        .body["head"]
        .as_i64()
        .unwrap();
    manager
        .get(&format!("/v1/changes?after={}&limit=100", head - 100))
        .await
        .expect(200);
    employee
        .get("/v1/changes?after=0&limit=100")
        .await
        .expect(200);

    tokio::time::sleep(STATISTICS_SETTLE).await;
    let after = sequential_scans(&mut db).await;
    assert!(after.len() >= 3, "the big tables are big: {after:?}");
    let scanned: Vec<String> = after
        .iter()
        .filter_map(|(table, (scans, rows))| {
            let earlier = before.get(table).map_or(0, |(n, _)| *n);
            (*scans > earlier).then(|| format!("{table} ({rows} rows): {} scans", scans - earlier))
        })
        .collect();
    assert!(scanned.is_empty(), "sequential scans: {scanned:?}");
}

/// PostgreSQL keeps a connection's plan of a prepared statement once it has found a plan
/// that ignores the values good enough — judged while the tables were small. A school's
/// first morning grows `assignments` from nothing to thousands of rows within a minute, long
/// before autovacuum refreshes the statistics: the plans made on the small table must not
/// go on scanning it (they did: 490 million rows read in 30,000 seat checks). The server
/// analyzes a table within seconds of its rows changing by a tenth (`store/statistics.rs`).
#[tokio::test]
async fn plans_made_while_tables_were_small_do_not_scan_them_once_grown() {
    use super::seats::{buy, pupils, school_server};
    let (server, manager) = school_server(Backend::Postgres).await;
    let students = pupils(&manager, "4b", 0..330).await;
    let class = buy(&manager, "class", &["4b"], 1000, "2099-12-31").await;
    // Statistics of small tables, as autovacuum gathers them on a young database.
    let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(&server.database_url)
        .await
        .unwrap();
    sqlx::query("ANALYZE").execute(&mut db).await.unwrap();
    // Checks on the small tables, enough for every pooled connection to settle on a plan.
    for student in &students[..300] {
        manager
            .get(&format!("/v1/users/{student}/permissions"))
            .await
            .expect(200);
    }
    // The table grows behind the server's back, as a rush on other licenses would grow it.
    sqlx::query(
        "INSERT INTO assignments (id, org_id, license_id, employee, since, redeemed) \
         SELECT 'filler-' || g, 'acme', $1, 'filler' || g, now(), true \
         FROM generate_series(1, 50000) g",
    )
    .bind(class["id"].as_str().unwrap())
    .execute(&mut db)
    .await
    .unwrap();
    // A session reports what it changed when it ends.
    drop(db);
    let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(&server.database_url)
        .await
        .unwrap();
    tokio::time::sleep(STATISTICS_SETTLE).await;
    let before = sequential_scans(&mut db).await;
    for student in &students[300..] {
        manager
            .get(&format!("/v1/users/{student}/permissions"))
            .await
            .expect(200);
    }
    tokio::time::sleep(STATISTICS_SETTLE).await;
    let after = sequential_scans(&mut db).await;
    let (scans, rows) = after["assignments"];
    let earlier = before.get("assignments").map_or(0, |(n, _)| *n);
    assert_eq!(
        scans - earlier,
        0,
        "assignments ({rows} rows) scanned by 30 checks"
    );
}
