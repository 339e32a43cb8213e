use super::assignments::{HoldersOf, Revisions, feed_holders, feed_releases};
use super::licenses::{COLUMNS, LicenseRow};
use super::member_feed::{feed_invitations, feed_members};
use super::{Result, Store, StoreError};
use crate::db::{Executes, SqlBuf, args};
use lm_protocol::{Change, ChangePage};

/// The feed's sources within some revisions, each in revision order: licenses, holders,
/// released holders, members and invitations.
struct Sources {
    licenses: Vec<Change>,
    holders: Vec<Change>,
    releases: Vec<Change>,
    members: Vec<Change>,
    invitations: Vec<Change>,
}

/// The license changes (upserts and removals) of `org` within `revisions`.
async fn licenses_in(
    conn: &mut impl Executes,
    org: &str,
    revisions: Revisions,
) -> Result<Vec<Change>> {
    let mut q = SqlBuf::new(&format!(
        "SELECT {COLUMNS} FROM licenses l WHERE l.org_id = "
    ));
    q.arg(org);
    revisions.push_to(&mut q, "l", "");
    let rows: Vec<LicenseRow> = conn.exec().fetch_all(q.sql, q.args).await?;
    let mut licenses = Vec::with_capacity(rows.len());
    for row in rows {
        let stored = row.into_license()?;
        let revision = stored.license.revision;
        licenses.push(if stored.removed {
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
    Ok(licenses)
}

/// The holders (`assign`) of `org` within `revisions`, everyone's or one employee's.
async fn holders_in(
    conn: &mut impl Executes,
    org: &str,
    of: HoldersOf<'_>,
    revisions: Revisions,
) -> Result<Vec<Change>> {
    feed_holders(conn, org, of, revisions)
        .await?
        .into_iter()
        .map(|h| {
            Ok(Change::Assign {
                revision: h.revision,
                license: parse_id(&h.license_id)?,
                assignment: h.assignment,
            })
        })
        .collect()
}

/// The holders released (`unassign`) of `org` within `revisions`.
async fn releases_in(
    conn: &mut impl Executes,
    org: &str,
    of: HoldersOf<'_>,
    revisions: Revisions,
) -> Result<Vec<Change>> {
    feed_releases(conn, org, of, revisions)
        .await?
        .into_iter()
        .map(|(revision, license, id)| {
            Ok(Change::Unassign {
                revision,
                license: parse_id(&license)?,
                id: id
                    .parse()
                    .map_err(|e| StoreError::Corrupt(format!("released assignment {id}: {e}")))?,
            })
        })
        .collect()
}

impl Sources {
    /// Every source within `revisions`.
    async fn read(
        conn: &mut impl Executes,
        org: &str,
        of: HoldersOf<'_>,
        revisions: Revisions,
    ) -> Result<Sources> {
        Ok(Sources {
            licenses: licenses_in(conn, org, revisions).await?,
            holders: holders_in(conn, org, of, revisions).await?,
            releases: releases_in(conn, org, of, revisions).await?,
            members: feed_members(conn, org, of, revisions).await?,
            invitations: feed_invitations(conn, org, of, revisions).await?,
        })
    }

    /// A page's worth of every source after `after`, at most `fetch` rows each, and the
    /// horizon: the lowest revision up to which a source may have been cut (it has `fetch`
    /// rows), or `None` when every source is whole up to `head`. The holders are read first
    /// (a manager's feed has most of them), then each other source only up to where those
    /// before it were cut: rows past that would be read only to be thrown away (reading
    /// every source to the page's size read about twice the rows a page returns).
    async fn read_page(
        conn: &mut impl Executes,
        org: &str,
        of: HoldersOf<'_>,
        (after, head): (i64, i64),
        fetch: i64,
    ) -> Result<(Sources, Option<i64>)> {
        let within = |horizon: Option<i64>| Revisions::Between {
            after,
            upto: horizon.unwrap_or(head),
            limit: fetch,
        };
        let cut = |horizon: Option<i64>, rows: &[Change]| match rows.last() {
            Some(last) if rows.len() as i64 >= fetch => {
                Some(horizon.map_or(last.revision(), |h| h.min(last.revision())))
            }
            _ => horizon,
        };
        let holders = holders_in(conn, org, of, within(None)).await?;
        let horizon = cut(None, &holders);
        let licenses = licenses_in(conn, org, within(horizon)).await?;
        let horizon = cut(horizon, &licenses);
        let releases = releases_in(conn, org, of, within(horizon)).await?;
        let horizon = cut(horizon, &releases);
        let members = feed_members(conn, org, of, within(horizon)).await?;
        let horizon = cut(horizon, &members);
        let invitations = feed_invitations(conn, org, of, within(horizon)).await?;
        let horizon = cut(horizon, &invitations);
        let sources = Sources {
            licenses,
            holders,
            releases,
            members,
            invitations,
        };
        Ok((sources, horizon))
    }

    /// Every change in revision order; within a revision the license first, then its holders,
    /// then the holders released, then members and invitations.
    fn take_merged(&mut self) -> Vec<Change> {
        let mut all = Vec::with_capacity(
            self.licenses.len()
                + self.holders.len()
                + self.releases.len()
                + self.members.len()
                + self.invitations.len(),
        );
        all.append(&mut self.licenses);
        all.append(&mut self.holders);
        all.append(&mut self.releases);
        all.append(&mut self.members);
        all.append(&mut self.invitations);
        // Stable: the order above is kept within a revision.
        all.sort_by_key(Change::revision);
        all
    }
}

fn parse_id(id: &str) -> Result<lm_protocol::LicenseId> {
    id.parse()
        .map_err(|e| StoreError::Corrupt(format!("license id {id}: {e}")))
}

impl Store {
    /// The changes of `org` after revision `after`, oldest first, at most `limit` (more to
    /// finish a revision), with the holders `of` everyone or of one employee.
    pub async fn changes(
        &self,
        org: &str,
        of: HoldersOf<'_>,
        after: i64,
        limit: u32,
    ) -> Result<ChangePage> {
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
        let fetch = i64::from(limit) + 1;
        let between = |after, limit| Revisions::Between {
            after,
            upto: head,
            limit,
        };
        // Complete below the horizon: a source cut at `fetch` rows may lack more of the
        // revision its last row has.
        let (mut sources, horizon) =
            Sources::read_page(&mut conn, org, of, (after, head), fetch).await?;
        let mut changes = sources.take_merged();
        let mut more = horizon.is_some();
        let complete = changes.partition_point(|c| horizon.is_none_or(|h| c.revision() < h));
        let mut end = complete.min(limit as usize);
        // Never end inside a revision: a cursor past it would skip its other changes.
        if end < changes.len() && end > 0 && changes[end].revision() == changes[end - 1].revision()
        {
            let cut = changes[end].revision();
            end = changes[..end].partition_point(|c| c.revision() < cut);
        }
        if end == 0 && !changes.is_empty() {
            // One revision with more changes than a page: all of it, whatever its size.
            let revision = changes[0].revision();
            changes = Sources::read(&mut conn, org, of, Revisions::At(revision))
                .await?
                .take_merged();
            more = !Sources::read(&mut conn, org, of, between(revision, 1))
                .await?
                .take_merged()
                .is_empty();
        } else {
            more |= end < changes.len();
            changes.truncate(end);
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
    /// keeps their last state) and the tombstones of holders released before it, and records,
    /// per organization, the newest purged revision so that older feed cursors get
    /// `410 Gone`. Returns how many licenses were purged.
    pub async fn purge_removed(&self, before: chrono::DateTime<chrono::Utc>) -> Result<u64> {
        let mut tx = self.db.begin().await?;
        let mut horizons: Vec<(String, i64)> = tx
            .exec()
            .fetch_all(
                "SELECT org_id, MAX(revision) FROM licenses WHERE deleted_at IS NOT NULL AND deleted_at < $1 \
                 GROUP BY org_id",
                args![before],
            )
            .await?;
        horizons.extend(
            tx.exec()
                .fetch_all::<(String, i64)>(
                    "SELECT org_id, MAX(revision) FROM released_assignments WHERE released_at < $1 \
                     GROUP BY org_id",
                    args![before],
                )
                .await?,
        );
        tx.exec()
            .execute(
                "DELETE FROM released_assignments WHERE released_at < $1",
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
