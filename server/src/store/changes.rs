use super::licenses::{COLUMNS, LicenseRow};
use super::{Result, Store};
use crate::db::args;
use lm_protocol::{Change, ChangePage};

impl Store {
    /// The changes of `org` after revision `after`, oldest first, at most `limit`.
    pub async fn changes(&self, org: &str, after: i64, limit: u32) -> Result<ChangePage> {
        let mut conn = self.db.read().await?;
        let (head,): (i64,) = conn
            .exec()
            .fetch_optional("SELECT revision FROM orgs WHERE id = $1", args![org])
            .await?
            .unwrap_or((0,));
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
        let next = changes.last().map_or(after, Change::revision);
        Ok(ChangePage {
            changes,
            next,
            more,
            head: head.max(next),
        })
    }
}
