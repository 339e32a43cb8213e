//! The `license_owners` index: one row per owner of a license, so that a permission check
//! finds the licenses of a user's units by an index lookup.

use crate::db::{Tx, args};
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
    index_new_owners(tx, org, id, owner).await
}

/// Indexes the owner of a license just created (none indexed yet: nothing to delete, one
/// statement fewer per license of an import).
pub(in crate::store) async fn index_new_owners(
    tx: &mut Tx,
    org: &str,
    id: &str,
    owner: Option<&Owner>,
) -> Result<()> {
    if let Some(owner) = owner {
        for eid in &owner.eids {
            tx.exec()
                .execute(
                    "INSERT INTO license_owners (license_id, org_id, owner_type, owner_eid) VALUES ($1, $2, $3, $4)",
                    args![id, org, owner.level.as_str(), eid.as_str()],
                )
                .await?;
        }
    }
    Ok(())
}
