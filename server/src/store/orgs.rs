//! Organization-wide settings.

use super::{Result, Store, StoreError};
use crate::db::args;

impl Store {
    /// How many seats an employee may buy for their own units at once; `None` when only
    /// managers buy seat licenses in `org` (the default).
    pub async fn self_purchase_max_seats(&self, org: &str) -> Result<Option<u32>> {
        let mut conn = self.db.read().await?;
        let row: Option<(Option<i64>,)> = conn
            .exec()
            .fetch_optional(
                "SELECT self_purchase_max_seats FROM orgs WHERE id = $1",
                args![org],
            )
            .await?;
        Ok(row
            .and_then(|(max,)| max)
            .map(|max| u32::try_from(max).unwrap_or(0)))
    }

    /// Lets employees of `org` buy seat licenses of up to `max_seats` seats for their own
    /// units, or (with `None`) leaves buying to managers.
    pub async fn set_self_purchase(&self, org: &str, max_seats: Option<u32>) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let changed = tx
            .exec()
            .execute(
                "UPDATE orgs SET self_purchase_max_seats = $2 WHERE id = $1",
                args![org, max_seats.map(i64::from)],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::Invalid(lm_protocol::FieldError::new(
                "org",
                format!("no organization named `{org}`"),
            )));
        }
        tx.commit().await?;
        Ok(())
    }
}
