//! Members in the change feed: every change of a member (joined, role, status, second
//! factor) stamps their row with the revision it was made at, and so does every change of
//! an invitation to join (made, resent, revoked). A manager's feed has them all; an
//! employee's only themselves — whom else the organization has is the managers' business.
//! An accepted invitation is not in the feed: the member it made is, at the same revision.

use super::assignments::{HoldersOf, Revisions};
use super::members::{INVITED_COLUMNS, MEMBER_COLUMNS, MemberRow};
use super::{Result, StoreError};
use crate::db::{Executes, SqlBuf};
use lm_protocol::{Change, Member};

#[derive(sqlx::FromRow)]
struct FeedMemberRow {
    revision: i64,
    #[sqlx(flatten)]
    member: MemberRow,
}

#[derive(sqlx::FromRow)]
struct FeedInvitationRow {
    revision: i64,
    revoked: bool,
    #[sqlx(flatten)]
    member: MemberRow,
}

/// The members of `org` changed within `revisions` (for an employee, only themselves).
pub(super) async fn feed_members(
    e: &mut impl Executes,
    org: &str,
    of: HoldersOf<'_>,
    revisions: Revisions,
) -> Result<Vec<Change>> {
    let mut q = SqlBuf::new(&format!(
        "SELECT u.revision, {MEMBER_COLUMNS} FROM users u WHERE u.org_id = "
    ));
    q.arg(org);
    if let HoldersOf::Employee(who) = of {
        q.push(" AND u.name = ").arg(who);
    }
    revisions.push_to(&mut q, "u", ", u.name");
    let rows: Vec<FeedMemberRow> = e.exec().fetch_all(q.sql, q.args).await?;
    rows.into_iter()
        .map(|r| {
            Ok(Change::Member {
                revision: r.revision,
                member: Box::new(Member::try_from(r.member)?),
            })
        })
        .collect()
}

/// The invitations to join `org` made, resent or revoked within `revisions`: none in an
/// employee's feed. Within a revision the ones withdrawn come first, so a resend (the old
/// invitation revoked, a new one made) leaves the person listed.
pub(super) async fn feed_invitations(
    e: &mut impl Executes,
    org: &str,
    of: HoldersOf<'_>,
    revisions: Revisions,
) -> Result<Vec<Change>> {
    if let HoldersOf::Employee(_) = of {
        return Ok(Vec::new());
    }
    let mut q = SqlBuf::new(&format!(
        "SELECT i.revision, (i.revoked_at IS NOT NULL) AS revoked, {INVITED_COLUMNS} \
         FROM invitations i WHERE i.kind = 'invite' AND i.used_at IS NULL AND i.org_id = "
    ));
    q.arg(org);
    revisions.push_to(&mut q, "i", ", (i.revoked_at IS NULL), i.id");
    let rows: Vec<FeedInvitationRow> = e.exec().fetch_all(q.sql, q.args).await?;
    rows.into_iter()
        .map(|r| {
            Ok(if r.revoked {
                Change::Uninvite {
                    revision: r.revision,
                    name: r.member.name,
                }
            } else {
                Change::Member {
                    revision: r.revision,
                    member: Box::new(Member::try_from(r.member)?),
                }
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()
}
