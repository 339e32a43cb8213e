//! A person's own logins (each a family of rotating refresh tokens) and their password:
//! what they see and end themselves.

use super::audit::{self, Audited};
use super::oauth::revoke_login;
use super::{ChangeContext, Result, Store, StoreError, now};
use crate::db::{Tx, args};
use chrono::{DateTime, Utc};
use lm_protocol::{AuditAction, Login};

/// Ends every login of `user` that is not ended yet; their access tokens are refused until
/// `access_tokens_until`. Answers the logins ended.
pub(super) async fn end_all(
    tx: &mut Tx,
    user: &str,
    access_tokens_until: DateTime<Utc>,
) -> Result<Vec<String>> {
    let families: Vec<(String,)> = tx
        .exec()
        .fetch_all(
            "SELECT DISTINCT family FROM refresh_tokens WHERE user_name = $1 AND revoked_at IS NULL",
            args![user],
        )
        .await?;
    let now = now();
    for (family,) in &families {
        revoke_login(tx, family, now, access_tokens_until).await?;
    }
    Ok(families.into_iter().map(|(f,)| f).collect())
}

impl Store {
    /// The logins of `user` that are still live, the most recently used first.
    pub async fn logins_of(&self, user: &str) -> Result<Vec<Login>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            family: String,
            client_id: String,
            first_used: DateTime<Utc>,
            last_used: DateTime<Utc>,
        }
        let mut conn = self.db.read().await?;
        let rows: Vec<Row> = conn
            .exec()
            .fetch_all(
                "SELECT family, MIN(client_id) AS client_id, MIN(created_at) AS first_used, \
                 MAX(created_at) AS last_used FROM refresh_tokens \
                 WHERE user_name = $1 GROUP BY family \
                 HAVING COUNT(revoked_at) = 0 AND MAX(expires_at) > $2 \
                 ORDER BY MAX(created_at) DESC",
                args![user, now()],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| Login {
                id: r.family,
                client: r.client_id,
                first_used: r.first_used,
                last_used: r.last_used,
            })
            .collect())
    }

    /// Ends login `id` of `user`; `NotFound` for another person's login or none.
    pub async fn end_login_of(
        &self,
        user: &str,
        id: &str,
        access_tokens_until: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let (mine,): (i64,) = tx
            .exec()
            .fetch_one(
                "SELECT COUNT(*) FROM refresh_tokens WHERE family = $1 AND user_name = $2",
                args![id, user],
            )
            .await?;
        if mine == 0 {
            return Err(StoreError::NotFound);
        }
        revoke_login(&mut tx, id, now(), access_tokens_until).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets the password of `ctx.actor` (already checked and hashed by the caller) and ends
    /// every login they have: whoever knew the old password is signed out. Audited as a
    /// change of the member, without the password. Answers the logins ended.
    pub async fn change_own_password(
        &self,
        ctx: &ChangeContext,
        hash: &str,
        access_tokens_until: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        let user = ctx.actor.as_str();
        let mut tx = self.db.begin().await?;
        let changed = tx
            .exec()
            .execute(
                "UPDATE users SET password_hash = $3, failed_logins = 0, locked_until = NULL \
                 WHERE org_id = $1 AND name = $2",
                args![ctx.org.as_str(), user, hash],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        let ended = end_all(&mut tx, user, access_tokens_until).await?;
        audit::record(
            &mut tx,
            &ctx.org,
            ctx,
            Audited {
                action: AuditAction::Update,
                record_type: "member",
                record_id: user,
                before: None,
                after: Some(
                    serde_json::json!({"password": "changed", "logins_ended": ended.len()})
                        .to_string(),
                ),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// Sets up (with the secret, in base32, and the time step of the code that confirmed it,
    /// spent so that it signs nobody in) or removes the second factor of `ctx.actor`. Audited
    /// without the secret; the feed brings the member again.
    pub async fn set_own_second_factor(
        &self,
        ctx: &ChangeContext,
        second_factor: Option<(&str, i64)>,
    ) -> Result<()> {
        let (org, user) = (ctx.org.as_str(), ctx.actor.as_str());
        let mut tx = self.db.begin().await?;
        super::bump_revision(&mut tx, org, 0).await?;
        let changed = tx
            .exec()
            .execute(
                "UPDATE users SET totp_secret = $3, totp_last_step = $4 \
                 WHERE org_id = $1 AND name = $2",
                args![
                    org,
                    user,
                    second_factor.map(|(secret, _)| secret.to_owned()),
                    second_factor.map(|(_, step)| step)
                ],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        let state = if second_factor.is_some() { "on" } else { "off" };
        audit::record(
            &mut tx,
            org,
            ctx,
            Audited {
                action: AuditAction::Update,
                record_type: "member",
                record_id: user,
                before: None,
                after: Some(serde_json::json!({"second_factor": state}).to_string()),
            },
        )
        .await?;
        let revision = super::members::stamp_member(&mut tx, org, user).await?;
        self.commit_change(tx, org, revision).await?;
        Ok(())
    }
}
