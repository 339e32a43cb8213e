//! One-time links: invitations to join an organization and password resets. A link's code
//! is random and kept as its SHA-256; it is used once — redeeming marks it used in the same
//! statement that checks it is still open — and only until it expires, is revoked, or is
//! replaced by a resend.

use super::audit::{self, Audited};
use super::logins::end_all;
use super::oauth::secret_hash;
use super::{ChangeContext, Result, Store, StoreError, bump_revision, now};
use crate::db::{Tx, args};
use chrono::{DateTime, Utc};
use lm_protocol::invitation::check_member_name;
use lm_protocol::{AuditAction, Invitation, InvitationKind, NewInvitation, Role};
use std::time::Duration;

/// What a redeemed link did: who, in which organization, as what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeemed {
    pub kind: InvitationKind,
    pub name: String,
    pub org: String,
}

#[derive(sqlx::FromRow)]
struct InvitationRow {
    id: String,
    org_id: String,
    kind: String,
    name: String,
    role: String,
    note: Option<String>,
    created_by: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, org_id, kind, name, role, note, created_by, created_at, expires_at";

/// Open links only: not used, not revoked, not expired at `$n`.
fn open_at(n: usize) -> String {
    format!("used_at IS NULL AND revoked_at IS NULL AND expires_at > ${n}")
}

impl TryFrom<InvitationRow> for Invitation {
    type Error = StoreError;
    fn try_from(r: InvitationRow) -> Result<Invitation> {
        Ok(Invitation {
            kind: match r.kind.as_str() {
                "invite" => InvitationKind::Invite,
                "reset" => InvitationKind::Reset,
                other => return Err(StoreError::Corrupt(format!("invitation kind `{other}`"))),
            },
            role: r.role.parse().map_err(StoreError::Corrupt)?,
            id: r.id,
            name: r.name,
            note: r.note,
            created_by: r.created_by,
            created_at: r.created_at,
            expires_at: r.expires_at,
        })
    }
}

/// A new code and when a link made now expires.
fn fresh_code(ttl: Duration) -> (String, DateTime<Utc>) {
    let expires_at = now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(7));
    (crate::oauth::random_secret(24), expires_at)
}

/// Stores a link; answers it.
#[allow(clippy::too_many_arguments)]
async fn insert(
    tx: &mut Tx,
    ctx: &ChangeContext,
    kind: InvitationKind,
    name: &str,
    role: Role,
    note: Option<&str>,
    code: &str,
    expires_at: DateTime<Utc>,
) -> Result<Invitation> {
    let invitation = Invitation {
        id: uuid::Uuid::now_v7().to_string(),
        kind,
        name: name.to_owned(),
        role,
        note: note.map(str::to_owned),
        created_by: ctx.actor.clone(),
        created_at: chrono::SubsecRound::trunc_subsecs(now(), 6),
        expires_at: chrono::SubsecRound::trunc_subsecs(expires_at, 6),
    };
    let kind = match kind {
        InvitationKind::Invite => "invite",
        InvitationKind::Reset => "reset",
    };
    tx.exec()
        .execute(
            format!(
                "INSERT INTO invitations ({COLUMNS}, code_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ),
            args![
                invitation.id.as_str(),
                ctx.org.as_str(),
                kind,
                name,
                role.as_str(),
                invitation.note.clone(),
                ctx.actor.as_str(),
                invitation.created_at,
                invitation.expires_at,
                secret_hash(code)
            ],
        )
        .await?;
    Ok(invitation)
}

/// Brings invitation `id` into the change feed again at a new revision of `org`, which it
/// returns.
async fn stamp(tx: &mut Tx, org: &str, id: &str) -> Result<i64> {
    let revision = bump_revision(tx, org, 1).await?;
    tx.exec()
        .execute(
            "UPDATE invitations SET revision = $2 WHERE id = $1",
            args![id, revision],
        )
        .await?;
    Ok(revision)
}

/// The audit entry of a link: never its code.
async fn audit_link(
    tx: &mut Tx,
    ctx: &ChangeContext,
    action: AuditAction,
    invitation: &Invitation,
) -> Result<()> {
    let state = serde_json::json!({
        "kind": invitation.kind, "name": invitation.name, "role": invitation.role,
        "note": invitation.note, "expires_at": invitation.expires_at,
    })
    .to_string();
    let (before, after) = match action {
        AuditAction::Delete => (Some(state), None),
        _ => (None, Some(state)),
    };
    audit::record(
        tx,
        &ctx.org,
        ctx,
        Audited {
            action,
            record_type: "invitation",
            record_id: &invitation.id,
            before,
            after,
        },
    )
    .await
}

impl Store {
    /// Invites someone to join `ctx.org` as `new.name`: a link valid for `ttl`. The name must
    /// be free (no user has it, no open invitation names it). Answers the invitation and its
    /// code, which is shown this once.
    pub async fn invite(
        &self,
        ctx: &ChangeContext,
        new: &NewInvitation,
        ttl: Duration,
    ) -> Result<(Invitation, String)> {
        check_member_name(&new.name)
            .map_err(|m| StoreError::Invalid(lm_protocol::FieldError::new("name", m)))?;
        let mut tx = self.db.begin().await?;
        bump_revision(&mut tx, &ctx.org, 0).await?;
        let (taken,): (i64,) = tx
            .exec()
            .fetch_one(
                format!(
                    "SELECT (SELECT COUNT(*) FROM users WHERE name = $1) + \
                     (SELECT COUNT(*) FROM invitations WHERE name = $1 AND kind = 'invite' AND {})",
                    open_at(2)
                ),
                args![new.name.as_str(), now()],
            )
            .await?;
        if taken > 0 {
            return Err(StoreError::Conflict(format!(
                "the name `{}` is taken, or invited already (resend or revoke that invitation)",
                new.name
            )));
        }
        let (code, expires_at) = fresh_code(ttl);
        let invitation = insert(
            &mut tx,
            ctx,
            InvitationKind::Invite,
            &new.name,
            new.role,
            new.note.as_deref(),
            &code,
            expires_at,
        )
        .await?;
        audit_link(&mut tx, ctx, AuditAction::Create, &invitation).await?;
        let revision = stamp(&mut tx, &ctx.org, &invitation.id).await?;
        self.commit_change(tx, &ctx.org, revision).await?;
        Ok((invitation, code))
    }

    /// Resets member `name`'s password: the old one stops working and every login ends at
    /// once; the link lets them choose a new one. Answers the link, its code, and the logins
    /// ended.
    pub async fn password_reset_link(
        &self,
        ctx: &ChangeContext,
        name: &str,
        ttl: Duration,
        access_tokens_until: DateTime<Utc>,
    ) -> Result<(Invitation, String, Vec<String>)> {
        let mut tx = self.db.begin().await?;
        bump_revision(&mut tx, &ctx.org, 0).await?;
        let role: Option<(String,)> = tx
            .exec()
            .fetch_optional(
                "SELECT role FROM users WHERE org_id = $1 AND name = $2",
                args![ctx.org.as_str(), name],
            )
            .await?;
        let role: Role = role
            .ok_or(StoreError::NotFound)?
            .0
            .parse()
            .map_err(StoreError::Corrupt)?;
        // An earlier reset link of theirs is replaced.
        tx.exec()
            .execute(
                format!(
                    "UPDATE invitations SET revoked_at = $3 WHERE org_id = $1 AND name = $2 \
                     AND kind = 'reset' AND {}",
                    open_at(3)
                ),
                args![ctx.org.as_str(), name, now()],
            )
            .await?;
        tx.exec()
            .execute(
                "UPDATE users SET password_hash = NULL WHERE org_id = $1 AND name = $2",
                args![ctx.org.as_str(), name],
            )
            .await?;
        let ended = end_all(&mut tx, name, access_tokens_until).await?;
        let (code, expires_at) = fresh_code(ttl);
        let invitation = insert(
            &mut tx,
            ctx,
            InvitationKind::Reset,
            name,
            role,
            None,
            &code,
            expires_at,
        )
        .await?;
        audit_link(&mut tx, ctx, AuditAction::Create, &invitation).await?;
        tx.commit().await?;
        Ok((invitation, code, ended))
    }

    /// The open links of `org`, newest first.
    pub async fn invitations(&self, org: &str) -> Result<Vec<Invitation>> {
        let mut conn = self.db.read().await?;
        let rows: Vec<InvitationRow> = conn
            .exec()
            .fetch_all(
                format!(
                    "SELECT {COLUMNS} FROM invitations WHERE org_id = $1 AND {} ORDER BY created_at DESC, id",
                    open_at(2)
                ),
                args![org, now()],
            )
            .await?;
        rows.into_iter().map(Invitation::try_from).collect()
    }

    /// Gives open link `id` of `ctx.org` a new code (the old one stops working) and a new
    /// expiry. Answers it and the code.
    pub async fn resend_invitation(
        &self,
        ctx: &ChangeContext,
        id: &str,
        ttl: Duration,
    ) -> Result<(Invitation, String)> {
        let mut tx = self.db.begin().await?;
        bump_revision(&mut tx, &ctx.org, 0).await?;
        let (code, expires_at) = fresh_code(ttl);
        let expires_at = chrono::SubsecRound::trunc_subsecs(expires_at, 6);
        let changed = tx
            .exec()
            .execute(
                format!(
                    "UPDATE invitations SET code_hash = $3, expires_at = $4 \
                     WHERE org_id = $1 AND id = $2 AND {}",
                    open_at(5)
                ),
                args![ctx.org.as_str(), id, secret_hash(&code), expires_at, now()],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        let row: InvitationRow = tx
            .exec()
            .fetch_one(
                format!("SELECT {COLUMNS} FROM invitations WHERE id = $1"),
                args![id],
            )
            .await?;
        let invitation = Invitation::try_from(row)?;
        audit_link(&mut tx, ctx, AuditAction::Update, &invitation).await?;
        let revision = stamp(&mut tx, &ctx.org, id).await?;
        self.commit_change(tx, &ctx.org, revision).await?;
        Ok((invitation, code))
    }

    /// Revokes open link `id` of `ctx.org`.
    pub async fn revoke_invitation(&self, ctx: &ChangeContext, id: &str) -> Result<()> {
        let mut tx = self.db.begin().await?;
        bump_revision(&mut tx, &ctx.org, 0).await?;
        let row: Option<InvitationRow> = tx
            .exec()
            .fetch_optional(
                format!(
                    "SELECT {COLUMNS} FROM invitations WHERE org_id = $1 AND id = $2 AND {}",
                    open_at(3)
                ),
                args![ctx.org.as_str(), id, now()],
            )
            .await?;
        let invitation = Invitation::try_from(row.ok_or(StoreError::NotFound)?)?;
        tx.exec()
            .execute(
                "UPDATE invitations SET revoked_at = $2 WHERE id = $1",
                args![id, now()],
            )
            .await?;
        audit_link(&mut tx, ctx, AuditAction::Delete, &invitation).await?;
        let revision = stamp(&mut tx, &ctx.org, id).await?;
        self.commit_change(tx, &ctx.org, revision).await?;
        Ok(())
    }

    /// The open link of `code`, and its organization; `None` for a code that is wrong,
    /// used, revoked, replaced or expired.
    pub async fn invitation_by_code(&self, code: &str) -> Result<Option<(Invitation, String)>> {
        let mut conn = self.db.read().await?;
        let row: Option<InvitationRow> = conn
            .exec()
            .fetch_optional(
                format!(
                    "SELECT {COLUMNS} FROM invitations WHERE code_hash = $1 AND {}",
                    open_at(2)
                ),
                args![secret_hash(code), now()],
            )
            .await?;
        row.map(|r| {
            let org = r.org_id.clone();
            Invitation::try_from(r).map(|i| (i, org))
        })
        .transpose()
    }

    /// Uses the link of `code`: an invitation makes its member with the password of
    /// `password_hash`; a reset gives its member that password. `None` when the link is not
    /// open (any more). The link is marked used in the statement that finds it open, so it
    /// works once, whoever races for it.
    pub async fn redeem_invitation(
        &self,
        code: &str,
        password_hash: &str,
        second_factor: Option<(&str, i64)>,
    ) -> Result<Option<Redeemed>> {
        let Some((invitation, org)) = self.invitation_by_code(code).await? else {
            return Ok(None);
        };
        let mut tx = self.db.begin().await?;
        bump_revision(&mut tx, &org, 0).await?;
        let used = tx
            .exec()
            .execute(
                format!(
                    "UPDATE invitations SET used_at = $2 WHERE code_hash = $1 AND {}",
                    open_at(2)
                ),
                args![secret_hash(code), now()],
            )
            .await?;
        if used == 0 {
            return Ok(None);
        }
        let ctx = ChangeContext {
            org: org.clone(),
            actor: invitation.name.clone(),
            request_id: None,
            client_addr: None,
        };
        match invitation.kind {
            InvitationKind::Invite => {
                tx.exec()
                    .execute(
                        "INSERT INTO users (name, org_id, role, disabled, created_at, password_hash, \
                         totp_secret, totp_last_step) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        args![
                            invitation.name.as_str(),
                            org.as_str(),
                            invitation.role.as_str(),
                            false,
                            now(),
                            password_hash,
                            second_factor.map(|(secret, _)| secret.to_owned()),
                            second_factor.map(|(_, step)| step)
                        ],
                    )
                    .await
                    .map_err(|e| {
                        StoreError::unique_or(e, || {
                            format!("the name `{}` was taken meanwhile", invitation.name)
                        })
                    })?;
            }
            InvitationKind::Reset => {
                tx.exec()
                    .execute(
                        "UPDATE users SET password_hash = $3, failed_logins = 0, locked_until = NULL \
                         WHERE org_id = $1 AND name = $2",
                        args![org.as_str(), invitation.name.as_str(), password_hash],
                    )
                    .await?;
            }
        }
        let (action, after) = match invitation.kind {
            InvitationKind::Invite => (
                AuditAction::Create,
                serde_json::json!({
                    "role": invitation.role, "status": "active", "joined": invitation.id,
                    "second_factor": if second_factor.is_some() { "on" } else { "off" },
                }),
            ),
            InvitationKind::Reset => (
                AuditAction::Update,
                serde_json::json!({"password": "set from a reset link"}),
            ),
        };
        audit::record(
            &mut tx,
            &org,
            &ctx,
            Audited {
                action,
                record_type: "member",
                record_id: &invitation.name,
                before: None,
                after: Some(after.to_string()),
            },
        )
        .await?;
        match invitation.kind {
            InvitationKind::Invite => {
                let revision =
                    super::members::stamp_member(&mut tx, &org, &invitation.name).await?;
                self.commit_change(tx, &org, revision).await?;
            }
            InvitationKind::Reset => tx.commit().await?,
        }
        Ok(Some(Redeemed {
            kind: invitation.kind,
            name: invitation.name,
            org,
        }))
    }
}
