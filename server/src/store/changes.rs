use super::licenses::{COLUMNS, LicenseRow};
use super::{Result, Store, StoreError};
use crate::db::args;
use lm_protocol::{Change, ChangePage};

impl Store {
    /// The changes of `org` after revision `after`, oldest first, at most `limit`.
    pub async fn changes(&self, org: &str, after: i64, limit: u32) -> Result<ChangePage> {
        let mut conn = self.db.read().await?;
        let (head, purged_through): (i64, i64) = conn
            .exec()
            .fetch_optional(
                "SELECT revision, purged_through FROM orgs WHERE id = $1",
                args![org],
            )
            .await?
            .unwrap_or((0, 0));
        if after > head {
            return Err(StoreError::Invalid(lm_protocol::FieldError::new(
                "after",
                format!("{after} is beyond the newest revision, {head}; start again from 0"),
            )));
        }
        if after > 0 && after < purged_through {
            return Err(StoreError::FeedExpired {
                after,
                purged_through,
            });
        }
        let rows: Vec<LicenseRow> = conn
            .exec()
            .fetch_all(
                format!(
                    "SELECT {COLUMNS} FROM licenses l WHERE l.org_id = $1 AND l.revision > $2 \
                     ORDER BY l.revision LIMIT $3"
                ),
                args![org, after, i64::from(limit) + 1],
            )
            .await?;
        let more = rows.len() > limit as usize;
        let mut changes = Vec::with_capacity(rows.len().min(limit as usize));
        for row in rows.into_iter().take(limit as usize) {
            let stored = row.into_license()?;
            let revision = stored.license.revision;
            changes.push(if stored.removed {
                Change::Delete {
                    revision,
                    id: stored.license.id,
                }
            } else {
                Change::Upsert {
                    revision,
                    license: Box::new(stored.license),
                }
            });
        }
        let last = changes.last().map_or(after, Change::revision);
        // At the end of the feed the cursor moves to the head even when the newest revisions
        // left no row (purged removals): every revision up to `head` was committed before the
        // page was read, so nothing at or below it can appear later.
        let next = if more { last } else { last.max(head) };
        Ok(ChangePage {
            changes,
            next,
            more,
            head: head.max(next),
        })
    }
}

impl Store {
    /// Deletes licenses removed before `before` (they can no longer be restored; the audit log
    /// keeps their last state) and records, per organization, the newest purged revision so
    /// that older feed cursors get `410 Gone`. Returns how many licenses were purged.
    pub async fn purge_removed(&self, before: chrono::DateTime<chrono::Utc>) -> Result<u64> {
        let mut tx = self.db.begin().await?;
        let horizons: Vec<(String, i64)> = tx
            .exec()
            .fetch_all(
                "SELECT org_id, MAX(revision) FROM licenses WHERE deleted_at IS NOT NULL AND deleted_at < $1 \
                 GROUP BY org_id",
                args![before],
            )
            .await?;
        tx.exec()
            .execute(
                "DELETE FROM assignments WHERE license_id IN \
                 (SELECT id FROM licenses WHERE deleted_at IS NOT NULL AND deleted_at < $1)",
                args![before],
            )
            .await?;
        let purged = tx
            .exec()
            .execute(
                "DELETE FROM licenses WHERE deleted_at IS NOT NULL AND deleted_at < $1",
                args![before],
            )
            .await?;
        for (org, revision) in horizons {
            tx.exec()
                .execute(
                    "UPDATE orgs SET purged_through = $2 WHERE id = $1 AND purged_through < $2",
                    args![org, revision],
                )
                .await?;
        }
        tx.commit().await?;
        Ok(purged)
    }
}
