//! The `license_owners` index: one row per owner of a license, so that a permission check
//! finds the licenses of a user's units by an index lookup.

use crate::db::{SqlBuf, Tx, args};
use crate::store::Result;
use lm_protocol::Owner;

/// Keeps `license_owners` in step with a license's owner.
pub(in crate::store) async fn index_owners(
    tx: &mut Tx,
    org: &str,
    id: &str,
    owner: Option<&Owner>,
) -> Result<()> {
    tx.exec()
        .execute(
            "DELETE FROM license_owners WHERE license_id = $1",
            args![id],
        )
        .await?;
    index_owners_of_new(tx, org, &[(id, owner)]).await
}

/// Indexes the owners of licenses just created, `(license id, owner)` each (none indexed
/// yet: nothing to delete): a few statements however many.
pub(in crate::store) async fn index_owners_of_new(
    tx: &mut Tx,
    org: &str,
    licenses: &[(&str, Option<&Owner>)],
) -> Result<()> {
    let rows: Vec<(&str, &str, &str)> = licenses
        .iter()
        .filter_map(|(id, owner)| owner.map(|o| (*id, o)))
        .flat_map(|(id, o)| {
            o.eids
                .iter()
                .map(move |eid| (id, o.level.as_str(), eid.as_str()))
        })
        .collect();
    for chunk in rows.chunks(tx.dialect().rows_per_statement(4)) {
        let mut q = SqlBuf::new(
            "INSERT INTO license_owners (license_id, org_id, owner_type, owner_eid) VALUES ",
        );
        for (i, (id, level, eid)) in chunk.iter().enumerate() {
            q.push(if i == 0 { "(" } else { ", (" });
            q.arg(*id)
                .push(", ")
                .arg(org)
                .push(", ")
                .arg(*level)
                .push(", ")
                .arg(*eid)
                .push(")");
        }
        tx.exec().execute(q.sql, q.args).await?;
    }
    Ok(())
}
