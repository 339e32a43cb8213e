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
