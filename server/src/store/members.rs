//! The people of an organization as its managers administer them: members listed and read
//! with what they hold, a change of role or status, and offboarding a leaver.
//!
//! Both writes take the organization's write lock first, so the last-manager guard holds
//! under any race: two managers demoting each other at once cannot leave the organization
//! without one. Offboarding releases every assignment of the leaver on a live license (each
//! license written once, audited like an unassign) and disables the account, in one
//! transaction; its dry run reads the same and writes nothing.

use super::assignments::{HolderChange, delete_assignment, record_holders};
use super::audit::{self, Audited};
use super::licenses::{load_live, write_audit};
use super::{ChangeContext, Result, Store, StoreError, bump_revision, now};
use crate::db::{Executes, SqlBuf, Tx, args, like_escape};
use chrono::{DateTime, Utc};
use lm_protocol::{
    AuditAction, Member, MemberPatch, MemberQuery, MemberStatus, Offboarding, Page, Released, Role,
};
use std::collections::BTreeMap;

/// A member's columns, and what they hold (assignments on live licenses).
pub(super) const MEMBER_COLUMNS: &str = "u.name, u.role, \
    CASE WHEN u.disabled THEN 'disabled' ELSE 'active' END AS status, u.created_at, \
    (SELECT MAX(t.created_at) FROM refresh_tokens t WHERE t.user_name = u.name) AS last_sign_in, \
    (u.totp_secret IS NOT NULL) AS second_factor, \
    (SELECT COUNT(*) FROM assignments a JOIN licenses l ON l.id = a.license_id AND l.deleted_at IS NULL \
     WHERE a.org_id = u.org_id AND a.employee = u.name AND NOT a.redeemed) AS licenses, \
    (SELECT COUNT(*) FROM assignments a JOIN licenses l ON l.id = a.license_id AND l.deleted_at IS NULL \
     WHERE a.org_id = u.org_id AND a.employee = u.name AND a.redeemed) AS seats, \
    NULL AS invited_until";

/// The same columns for someone invited: an open invitation to join.
pub(super) const INVITED_COLUMNS: &str = "i.name, i.role, 'invited' AS status, i.created_at, \
    NULL AS last_sign_in, (1 = 0) AS second_factor, \
    (SELECT COUNT(*) FROM assignments a JOIN licenses l ON l.id = a.license_id AND l.deleted_at IS NULL \
     WHERE a.org_id = i.org_id AND a.employee = i.name AND NOT a.redeemed) AS licenses, \
    (SELECT COUNT(*) FROM assignments a JOIN licenses l ON l.id = a.license_id AND l.deleted_at IS NULL \
     WHERE a.org_id = i.org_id AND a.employee = i.name AND a.redeemed) AS seats, \
    i.expires_at AS invited_until";

/// An invitation to join that is open: completed with the time it is open at.
const OPEN_INVITATION: &str =
    " AND i.kind = 'invite' AND i.used_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > ";

#[derive(sqlx::FromRow)]
pub(super) struct MemberRow {
    pub(super) name: String,
    role: String,
    status: String,
    created_at: DateTime<Utc>,
    last_sign_in: Option<DateTime<Utc>>,
    second_factor: bool,
    licenses: i64,
    seats: i64,
    invited_until: Option<DateTime<Utc>>,
}

impl TryFrom<MemberRow> for Member {
    type Error = StoreError;
    fn try_from(r: MemberRow) -> Result<Member> {
        let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
        Ok(Member {
            role: r.role.parse().map_err(StoreError::Corrupt)?,
            status: r.status.parse().map_err(StoreError::Corrupt)?,
            name: r.name,
            created_at: r.created_at,
            last_sign_in: r.last_sign_in,
            second_factor: r.second_factor,
            licenses: count(r.licenses),
            seats: count(r.seats),
            invited_until: r.invited_until,
        })
    }
}

/// Member `name` of `org`, or `None` (also when the name belongs to another organization).
async fn member_in(e: &mut impl Executes, org: &str, name: &str) -> Result<Option<Member>> {
    let row: Option<MemberRow> = e
        .exec()
        .fetch_optional(
            format!("SELECT {MEMBER_COLUMNS} FROM users u WHERE u.org_id = $1 AND u.name = $2"),
            args![org, name],
        )
        .await?;
    row.map(Member::try_from).transpose()
}

/// Brings member `name` into the feed again at a new revision of `org`, which it returns
/// (the transaction holds the organization's write lock already or takes it here).
pub(super) async fn stamp_member(tx: &mut Tx, org: &str, name: &str) -> Result<i64> {
    let revision = bump_revision(tx, org, 1).await?;
    tx.exec()
        .execute(
            "UPDATE users SET revision = $3 WHERE org_id = $1 AND name = $2",
            args![org, name, revision],
        )
        .await?;
    Ok(revision)
}

/// Refuses a change that would leave `org` without an active manager: `member` is one now,
/// and would no longer be.
async fn keep_a_manager(tx: &mut Tx, org: &str, member: &Member, what: &str) -> Result<()> {
    if member.role != Role::Manager || member.status != MemberStatus::Active {
        return Ok(());
    }
    let (others,): (i64,) = tx
        .exec()
        .fetch_one(
            "SELECT COUNT(*) FROM users WHERE org_id = $1 AND name <> $2 AND role = $3 AND disabled = $4",
            args![org, member.name.as_str(), Role::Manager.as_str(), false],
        )
        .await?;
    if others == 0 {
        return Err(StoreError::Conflict(format!(
            "{} is the organization's last active manager: make another member a manager \
             before you {what}",
            member.name
        )));
    }
    Ok(())
}

/// The member's role and status as the audit log records them.
fn standing(role: Role, status: MemberStatus) -> serde_json::Value {
    serde_json::json!({"role": role, "status": status})
}

/// Ends every login of `name`: their refresh tokens are revoked at once, their access tokens
/// are refused from the next reload of the users (within 5 s).
pub(super) async fn end_logins(tx: &mut Tx, name: &str) -> Result<()> {
    tx.exec()
        .execute(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_name = $1 AND revoked_at IS NULL",
            args![name, now()],
        )
        .await?;
    Ok(())
}

impl Store {
    /// A page of `org`'s members in name order: those who joined, and those invited whose
    /// invitation is open.
    pub async fn members(&self, org: &str, query: &MemberQuery) -> Result<Page<Member>> {
        let mut q = SqlBuf::new(&format!(
            "SELECT * FROM (SELECT {MEMBER_COLUMNS} FROM users u WHERE u.org_id = "
        ));
        q.arg(org)
            .push(&format!(
                " UNION ALL SELECT {INVITED_COLUMNS} FROM invitations i WHERE i.org_id = "
            ))
            .arg(org)
            .push(OPEN_INVITATION)
            .arg(now())
            .push(") m WHERE 1 = 1");
        if let Some(role) = query.role {
            q.push(" AND m.role = ").arg(role.as_str());
        }
        if let Some(status) = query.status {
            q.push(" AND m.status = ").arg(status.as_str());
        }
        if let Some(text) = &query.q {
            q.push(" AND LOWER(m.name) LIKE ")
                .arg(format!("%{}%", like_escape(&text.to_lowercase())))
                .push(" ESCAPE '\\'");
        }
        if let Some(after) = &query.after {
            q.push(" AND m.name > ").arg(after.as_str());
        }
        q.push(" ORDER BY m.name LIMIT ")
            .arg(i64::from(query.limit) + 1);
        let mut conn = self.db.read().await?;
        let rows: Vec<MemberRow> = conn.exec().fetch_all(q.sql, q.args).await?;
        let mut items = rows
            .into_iter()
            .map(Member::try_from)
            .collect::<Result<Vec<_>>>()?;
        let next = if items.len() > query.limit as usize {
            items.truncate(query.limit as usize);
            items.last().map(|m| m.name.clone())
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// Member `name` of `org` — who joined, or else is invited — or `None`.
    pub async fn member(&self, org: &str, name: &str) -> Result<Option<Member>> {
        let mut conn = self.db.read().await?;
        if let Some(member) = member_in(&mut conn, org, name).await? {
            return Ok(Some(member));
        }
        let row: Option<MemberRow> = conn
            .exec()
            .fetch_optional(
                format!(
                    "SELECT {INVITED_COLUMNS} FROM invitations i WHERE i.org_id = $1 AND i.name = $2{OPEN_INVITATION}$3"
                ),
                args![org, name, now()],
            )
            .await?;
        row.map(Member::try_from).transpose()
    }

    /// Changes a member's role or status. Never leaves the organization without an active
    /// manager; disabling ends the member's logins.
    pub async fn change_member(
        &self,
        ctx: &ChangeContext,
        name: &str,
        patch: &MemberPatch,
    ) -> Result<Member> {
        let org = ctx.org.as_str();
        let mut tx = self.db.begin().await?;
        // The organization's write lock, before anything is read.
        bump_revision(&mut tx, org, 0).await?;
        let before = member_in(&mut tx, org, name)
            .await?
            .ok_or(StoreError::NotFound)?;
        let role = patch.role.unwrap_or(before.role);
        let status = patch.status.unwrap_or(before.status);
        if (role, status) == (before.role, before.status) {
            return Ok(before);
        }
        if role != Role::Manager || status != MemberStatus::Active {
            let what = if status == MemberStatus::Disabled {
                "disable them"
            } else {
                "make them an employee"
            };
            keep_a_manager(&mut tx, org, &before, what).await?;
        }
        tx.exec()
            .execute(
                "UPDATE users SET role = $3, disabled = $4 WHERE org_id = $1 AND name = $2",
                args![org, name, role.as_str(), status == MemberStatus::Disabled],
            )
            .await?;
        if status == MemberStatus::Disabled && before.status == MemberStatus::Active {
            end_logins(&mut tx, name).await?;
        }
        audit::record(
            &mut tx,
            org,
            ctx,
            Audited {
                action: AuditAction::Update,
                record_type: "member",
                record_id: name,
                before: Some(standing(before.role, before.status).to_string()),
                after: Some(standing(role, status).to_string()),
            },
        )
        .await?;
        let revision = stamp_member(&mut tx, org, name).await?;
        self.commit_change(tx, org, revision).await?;
        Ok(Member {
            role,
            status,
            ..before
        })
    }

    /// Offboards member `name`: releases every assignment they hold on a live license and
    /// disables the account, in one transaction — or, as a dry run, says exactly that and
    /// writes nothing.
    pub async fn offboard(
        &self,
        ctx: &ChangeContext,
        name: &str,
        dry_run: bool,
    ) -> Result<Offboarding> {
        let org = ctx.org.as_str();
        let mut tx = self.db.begin().await?;
        bump_revision(&mut tx, org, 0).await?;
        let member = member_in(&mut tx, org, name)
            .await?
            .ok_or(StoreError::NotFound)?;
        keep_a_manager(&mut tx, org, &member, "offboard them").await?;
        let held: Vec<(String, String, String, bool)> = tx
            .exec()
            .fetch_all(
                "SELECT a.license_id, l.name, a.id, a.redeemed FROM assignments a \
                 JOIN licenses l ON l.id = a.license_id AND l.deleted_at IS NULL \
                 WHERE a.org_id = $1 AND a.employee = $2 ORDER BY l.name, a.license_id, a.id",
                args![org, name],
            )
            .await?;
        let released = held
            .iter()
            .map(|(license, license_name, assignment, seat)| {
                let corrupt = |e: lm_protocol::FieldError| {
                    StoreError::Corrupt(format!("assignment {assignment}: {e}"))
                };
                Ok(Released {
                    license: license.parse().map_err(corrupt)?,
                    license_name: license_name.parse().map_err(corrupt)?,
                    assignment: assignment.parse().map_err(corrupt)?,
                    seat: *seat,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let outcome = Offboarding {
            member: name.to_owned(),
            dry_run,
            released,
            disabled: member.status == MemberStatus::Active,
        };
        if dry_run {
            return Ok(outcome);
        }
        // Each license once, with a revision of its own.
        let mut by_license: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (license, _, assignment, _) in &held {
            by_license.entry(license).or_default().push(assignment);
        }
        if !by_license.is_empty() {
            let first = bump_revision(&mut tx, org, by_license.len() as i64).await?;
            for (revision, (license, assignments)) in (first..).zip(&by_license) {
                let before = load_live(&mut tx, org, license).await?;
                let mut changes = Vec::with_capacity(assignments.len());
                for assignment in assignments {
                    if delete_assignment(&mut tx, org, license, assignment, revision).await? {
                        changes.push(HolderChange::Removed(assignment));
                    }
                }
                let after = record_holders(&mut tx, org, &before, revision, &changes).await?;
                write_audit(
                    &mut tx,
                    ctx,
                    AuditAction::Unassign,
                    license,
                    Some(&before),
                    Some(&after),
                )
                .await?;
            }
        }
        if member.status == MemberStatus::Active {
            tx.exec()
                .execute(
                    "UPDATE users SET disabled = $3 WHERE org_id = $1 AND name = $2",
                    args![org, name, true],
                )
                .await?;
            end_logins(&mut tx, name).await?;
        }
        let mut after = standing(member.role, MemberStatus::Disabled);
        after["offboarded"] = serde_json::json!({"released": outcome.released.len()});
        audit::record(
            &mut tx,
            org,
            ctx,
            Audited {
                action: AuditAction::Update,
                record_type: "member",
                record_id: name,
                before: Some(standing(member.role, member.status).to_string()),
                after: Some(after.to_string()),
            },
        )
        .await?;
        let revision = stamp_member(&mut tx, org, name).await?;
        self.commit_change(tx, org, revision).await?;
        Ok(outcome)
    }

    /// Records `name`, seen in a valid token of an external identity provider, as a member of
    /// `org` with `role` — or their new role, when the provider's claims changed it. A name
    /// recorded in another organization stays there (a conflict).
    pub async fn record_member_seen(&self, name: &str, org: &str, role: Role) -> Result<()> {
        let mut tx = self.db.begin().await?;
        bump_revision(&mut tx, org, 0).await?;
        let known: Option<(String, String)> = tx
            .exec()
            .fetch_optional(
                "SELECT org_id, role FROM users WHERE name = $1",
                args![name],
            )
            .await?;
        let ctx = ChangeContext {
            org: org.to_owned(),
            actor: name.to_owned(),
            request_id: None,
            client_addr: None,
        };
        let (action, before) = match known {
            Some((recorded, _)) if recorded != org => {
                return Err(StoreError::Conflict(format!(
                    "{name} is a member of another organization"
                )));
            }
            Some((_, recorded)) if recorded == role.as_str() => return Ok(()),
            Some((_, recorded)) => {
                tx.exec()
                    .execute(
                        "UPDATE users SET role = $3 WHERE org_id = $1 AND name = $2",
                        args![org, name, role.as_str()],
                    )
                    .await?;
                (
                    AuditAction::Update,
                    Some(serde_json::json!({"role": recorded}).to_string()),
                )
            }
            None => {
                tx.exec()
                    .execute(
                        "INSERT INTO users (name, org_id, role, disabled, created_at) VALUES ($1, $2, $3, $4, $5)",
                        args![name, org, role.as_str(), false, now()],
                    )
                    .await?;
                (AuditAction::Create, None)
            }
        };
        audit::record(
            &mut tx,
            org,
            &ctx,
            Audited {
                action,
                record_type: "member",
                record_id: name,
                before,
                after: Some(
                    serde_json::json!({"role": role, "from": "the identity provider's token"})
                        .to_string(),
                ),
            },
        )
        .await?;
        let revision = stamp_member(&mut tx, org, name).await?;
        self.commit_change(tx, org, revision).await?;
        Ok(())
    }
}
