//! A license's assignments (seats a person or device holds): one row each in `assignments`,
//! the record; and in the license row its oldest [`LISTED_ASSIGNMENTS`] as JSON, which lists,
//! the change feed and audit snapshots show, with `seats_used` counting all of them.
//!
//! Every change of holders goes through here, so the copy and the count agree with the rows,
//! and no change costs more as holders grow: a holder added after the listed ones, or one
//! removed from beyond them, leaves the copy as it is; one removed from among them reads the
//! next few rows by `assignments_by_license`.

use super::{Result, StoreError, now};
use crate::db::{Executes, SqlBuf, Tx, args};
use chrono::{DateTime, Utc};
use lm_protocol::license::{LISTED_ASSIGNMENTS, search_text};
use lm_protocol::{Assignee, Assignment, AssignmentId, License};

/// A new assignment, not yet stored.
pub(super) fn new_assignment(assignee: Assignee) -> Result<Assignment> {
    let id: AssignmentId = uuid::Uuid::now_v7()
        .to_string()
        .parse()
        .map_err(|e| StoreError::Corrupt(format!("assignment id: {e}")))?;
    Ok(Assignment {
        id,
        assignee,
        // What PostgreSQL keeps: an answer made from memory equals the one read back later.
        since: chrono::SubsecRound::trunc_subsecs(now(), 6),
        last_seen: None,
    })
}

/// The license row's copy of `assignments` (all of them, oldest first): the listed ones.
pub(super) fn listed_json(assignments: &[Assignment]) -> String {
    let listed = &assignments[..assignments.len().min(LISTED_ASSIGNMENTS)];
    serde_json::to_string(listed).unwrap_or_else(|_| "[]".into())
}

/// The listed ones of `assignments`, oldest first.
pub(super) fn listed(assignments: &[Assignment]) -> &[Assignment] {
    &assignments[..assignments.len().min(LISTED_ASSIGNMENTS)]
}

/// Stores an assignment's row, made at `revision`; a holder who has one already is a
/// conflict. The caller records the change in the license with [`record_holders`].
pub(super) async fn insert_assignment(
    tx: &mut Tx,
    org: &str,
    license_id: &str,
    assignment: &Assignment,
    revision: i64,
) -> Result<()> {
    insert(tx, org, license_id, assignment, revision, false)
        .await
        .map_err(|e| {
            StoreError::unique_or(e, || {
                format!(
                    "{} is already assigned to this license",
                    assignment.assignee
                )
            })
        })?;
    Ok(())
}

/// Stores an assignment's row, made at `revision`, unless its holder has one already;
/// answers whether it did.
pub(super) async fn insert_assignment_if_new(
    tx: &mut Tx,
    org: &str,
    license_id: &str,
    assignment: &Assignment,
    revision: i64,
) -> Result<bool> {
    Ok(insert(tx, org, license_id, assignment, revision, true).await? == 1)
}

async fn insert(
    tx: &mut Tx,
    org: &str,
    license_id: &str,
    assignment: &Assignment,
    revision: i64,
    unless_held: bool,
) -> std::result::Result<u64, sqlx::Error> {
    let (employee, device) = holder_columns(&assignment.assignee);
    let unless = if unless_held {
        " ON CONFLICT DO NOTHING"
    } else {
        ""
    };
    tx.exec()
        .execute(
            format!(
                "INSERT INTO assignments (id, org_id, license_id, employee, device, since, revision) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7){unless}"
            ),
            args![
                assignment.id.as_str(),
                org,
                license_id,
                employee,
                device,
                assignment.since,
                revision
            ],
        )
        .await
}

/// A holder's row to insert: a seat a permission check took, or an assignment a manager
/// (or an import) made.
pub(super) struct NewHolder<'a> {
    pub license_id: &'a str,
    pub assignment: &'a Assignment,
    /// The revision of the license's change that takes it.
    pub revision: i64,
}

/// The values one holder's row binds.
const PARAMS_PER_HOLDER: usize = 9;

/// Stores the rows of seats taken by permission checks, a few hundred a statement. The
/// caller has made sure no holder has one already, and records the changes in each license
/// with [`record_holders`].
pub(super) async fn insert_taken_seats(
    tx: &mut Tx,
    org: &str,
    seats: &[NewHolder<'_>],
) -> Result<()> {
    insert_holders(tx, org, seats, true).await
}

/// Stores the rows of new holders, a few hundred a statement: seats a permission check took
/// (`redeemed`, seen now) or assignments a manager made. The caller has made sure no holder
/// has one already, and writes the license rows.
pub(super) async fn insert_holders(
    tx: &mut Tx,
    org: &str,
    holders: &[NewHolder<'_>],
    redeemed: bool,
) -> Result<()> {
    let rows = tx.dialect().rows_per_statement(PARAMS_PER_HOLDER);
    for chunk in holders.chunks(rows) {
        let mut q = SqlBuf::new(
            "INSERT INTO assignments (id, org_id, license_id, employee, device, since, redeemed, last_seen, revision) VALUES ",
        );
        for (i, seat) in chunk.iter().enumerate() {
            let (employee, device) = holder_columns(&seat.assignment.assignee);
            q.push(if i == 0 { "(" } else { ", (" })
                .arg(seat.assignment.id.as_str())
                .push(", ")
                .arg(org)
                .push(", ")
                .arg(seat.license_id)
                .push(", ")
                .arg(employee)
                .push(", ")
                .arg(device)
                .push(", ")
                .arg(seat.assignment.since)
                .push(", ")
                .arg(redeemed)
                .push(", ")
                .arg(redeemed.then_some(seat.assignment.since))
                .push(", ")
                .arg(seat.revision)
                .push(")");
        }
        tx.exec().execute(q.sql, q.args).await?;
    }
    Ok(())
}

/// The `employee` and `device` columns of a holder: one of them is set.
fn holder_columns(assignee: &Assignee) -> (Option<String>, Option<String>) {
    match assignee {
        Assignee::Employee(e) => (Some(e.to_string()), None),
        Assignee::Device(d) => (None, Some(d.to_string())),
    }
}

/// Deletes an assignment of `license_id`, leaving a tombstone at `revision` for the change
/// feed; answers whether there was one.
pub(super) async fn delete_assignment(
    tx: &mut Tx,
    org: &str,
    license_id: &str,
    id: &str,
    revision: i64,
) -> Result<bool> {
    let deleted: Option<(Option<String>, Option<String>)> = tx
        .exec()
        .fetch_optional(
            "DELETE FROM assignments WHERE id = $1 AND license_id = $2 RETURNING employee, device",
            args![id, license_id],
        )
        .await?;
    let Some((employee, device)) = deleted else {
        return Ok(false);
    };
    tx.exec()
        .execute(
            "INSERT INTO released_assignments (org_id, revision, id, license_id, employee, device, released_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            args![org, revision, id, license_id, employee, device, now()],
        )
        .await?;
    Ok(true)
}

/// Stamps every holder of `license_id` with `revision`, so that the change feed hands them
/// out again: a restored license's holders, which daemons dropped with its removal.
pub(super) async fn restamp_holders(tx: &mut Tx, license_id: &str, revision: i64) -> Result<()> {
    tx.exec()
        .execute(
            "UPDATE assignments SET revision = $2 WHERE license_id = $1",
            args![license_id, revision],
        )
        .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct AssignmentRow {
    id: String,
    employee: Option<String>,
    device: Option<String>,
    since: DateTime<Utc>,
}

impl AssignmentRow {
    fn into_assignment(self) -> Result<Assignment> {
        let corrupt = |e: lm_protocol::FieldError| {
            StoreError::Corrupt(format!("assignment {}: {e}", self.id))
        };
        let assignee = match (&self.employee, &self.device) {
            (Some(e), None) => Assignee::Employee(e.parse().map_err(corrupt)?),
            (None, Some(d)) => Assignee::Device(d.parse().map_err(corrupt)?),
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "assignment {}: neither one employee nor one device",
                    self.id
                )));
            }
        };
        Ok(Assignment {
            id: self.id.parse().map_err(corrupt)?,
            assignee,
            since: self.since,
            last_seen: None,
        })
    }
}

/// The oldest [`LISTED_ASSIGNMENTS`] assignments of a license, read from their rows.
pub(super) async fn read_listed(
    e: &mut impl Executes,
    license_id: &str,
) -> Result<Vec<Assignment>> {
    let rows: Vec<AssignmentRow> = e
        .exec()
        .fetch_all(
            format!(
                "SELECT id, employee, device, since FROM assignments WHERE license_id = $1 \
                 ORDER BY since, id LIMIT {LISTED_ASSIGNMENTS}"
            ),
            args![license_id],
        )
        .await?;
    rows.into_iter()
        .map(AssignmentRow::into_assignment)
        .collect()
}

/// A holder as the change feed hands it out: made (or restamped) at `revision`.
pub(super) struct FeedHolder {
    pub revision: i64,
    pub license_id: String,
    pub assignment: Assignment,
}

#[derive(sqlx::FromRow)]
struct FeedHolderRow {
    revision: i64,
    license_id: String,
    last_seen: Option<DateTime<Utc>>,
    #[sqlx(flatten)]
    row: AssignmentRow,
}

/// Which revisions of the feed a read covers.
#[derive(Debug, Clone, Copy)]
pub(super) enum Revisions {
    /// After `after` and up to `upto` (the head when the page began: every revision up to it
    /// is committed, and no later commit can add to them, so reads made one after another
    /// agree), the oldest first, at most `limit` rows.
    Between { after: i64, upto: i64, limit: i64 },
    /// Exactly this one, all of them.
    At(i64),
}

impl Revisions {
    /// Adds the condition on `table`'s `revision` and the order (by revision, then `ties`).
    pub(super) fn push_to(self, q: &mut SqlBuf, table: &str, ties: &str) {
        match self {
            Revisions::Between { after, upto, limit } => {
                q.push(&format!(" AND {table}.revision > "))
                    .arg(after)
                    .push(&format!(" AND {table}.revision <= "))
                    .arg(upto)
                    .push(&format!(" ORDER BY {table}.revision{ties} LIMIT "))
                    .arg(limit);
            }
            Revisions::At(revision) => {
                q.push(&format!(" AND {table}.revision = "))
                    .arg(revision)
                    .push(&format!(" ORDER BY {table}.revision{ties}"));
            }
        }
    }
}

/// Whose holders a read of the feed covers.
#[derive(Debug, Clone, Copy)]
pub enum HoldersOf<'a> {
    /// Everyone's: a manager's feed.
    Everyone,
    /// One employee's own: an employee's feed (what they hold is theirs to know; a district
    /// of students need not each download every other student's seat).
    Employee(&'a str),
}

/// `select … WHERE {table}.org_id = ` completed with the organization, whose holders and
/// which revisions.
fn feed_query(
    select: &str,
    table: &str,
    org: &str,
    of: HoldersOf<'_>,
    revisions: Revisions,
) -> SqlBuf {
    let mut q = SqlBuf::new(select);
    q.arg(org);
    if let HoldersOf::Employee(who) = of {
        q.push(&format!(" AND {table}.employee = ")).arg(who);
    }
    revisions.push_to(&mut q, table, &format!(", {table}.id"));
    q
}

/// The holders of `org`'s licenses made or restamped within `revisions`, of everyone or of
/// one employee.
pub(super) async fn feed_holders(
    e: &mut impl Executes,
    org: &str,
    of: HoldersOf<'_>,
    revisions: Revisions,
) -> Result<Vec<FeedHolder>> {
    let q = feed_query(
        "SELECT a.revision, a.license_id, a.last_seen, a.id, a.employee, a.device, a.since \
         FROM assignments a WHERE a.org_id = ",
        "a",
        org,
        of,
        revisions,
    );
    let rows: Vec<FeedHolderRow> = e.exec().fetch_all(q.sql, q.args).await?;
    rows.into_iter()
        .map(|r| {
            Ok(FeedHolder {
                revision: r.revision,
                license_id: r.license_id,
                assignment: Assignment {
                    last_seen: r.last_seen,
                    ..r.row.into_assignment()?
                },
            })
        })
        .collect()
}

/// The assignments of `org`'s licenses released within `revisions`, of everyone or of one
/// employee: (revision, license, id).
pub(super) async fn feed_releases(
    e: &mut impl Executes,
    org: &str,
    of: HoldersOf<'_>,
    revisions: Revisions,
) -> Result<Vec<(i64, String, String)>> {
    let q = feed_query(
        "SELECT r.revision, r.license_id, r.id FROM released_assignments r WHERE r.org_id = ",
        "r",
        org,
        of,
        revisions,
    );
    Ok(e.exec().fetch_all(q.sql, q.args).await?)
}

/// A change of one holder, already made to the rows.
pub(super) enum HolderChange<'a> {
    Added(&'a Assignment),
    Removed(&'a str),
}

/// Records in the license row that holders came or went (already written to the rows): the
/// count, the listed copy and the search text, a new version and `revision`. Answers the
/// license as it is now. One write however many changes; reads rows only when a listed
/// holder left and others wait beyond the list.
pub(super) async fn record_holders(
    tx: &mut Tx,
    org: &str,
    before: &License,
    revision: i64,
    changes: &[HolderChange<'_>],
) -> Result<License> {
    let mut listed = before.assignments.clone();
    let mut used = before.seats_used;
    // Whether a listed holder left while others waited beyond the list: the list is then
    // read back from the rows, which hold every change already.
    let mut read_back = false;
    for change in changes {
        let unlisted = used.saturating_sub(u32::try_from(listed.len()).unwrap_or(u32::MAX));
        match change {
            HolderChange::Added(added) => {
                if listed.len() < LISTED_ASSIGNMENTS && unlisted == 0 && !read_back {
                    listed.push((*added).clone());
                }
                used = used.saturating_add(1);
            }
            HolderChange::Removed(id) => {
                if let Some(at) = listed.iter().position(|a| a.id.as_str() == *id) {
                    listed.remove(at);
                    read_back |= unlisted > 0;
                }
                used = used.saturating_sub(1);
            }
        }
    }
    if read_back {
        listed = read_listed(tx, before.id.as_str()).await?;
    }
    let search = search_text(
        &before.fields(),
        before.id.as_str(),
        listed.iter().map(|a| &a.assignee),
    );
    tx.exec()
        .execute(
            "UPDATE licenses SET assignments = $3, seats_used = $4, search = $5, version = version + 1, \
             revision = $6, updated_at = $7 WHERE org_id = $1 AND id = $2",
            args![
                org,
                before.id.as_str(),
                listed_json(&listed),
                i64::from(used),
                search,
                revision,
                now()
            ],
        )
        .await?;
    Ok(License {
        assignments: listed,
        seats_used: used,
        version: before.version + 1,
        revision,
        ..before.clone()
    })
}
