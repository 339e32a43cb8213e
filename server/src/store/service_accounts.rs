//! Service accounts as an organization's managers run them: the confidential OAuth clients
//! that act for the organization with `client_credentials` — registered, listed, given a
//! new secret (the old one working on for a grace period) and removed through the API, each
//! change audited as `oauth_client`. Public clients and redirect URIs stay the operator's
//! (`lm-server client`).

use super::audit::{self, Audited};
use super::clients::{NewClient, OAuthClient, insert_client, mark_removed};
use super::oauth::secret_hash;
use super::{ChangeContext, Result, Store, StoreError, bump_revision};
use crate::db::{Tx, args};
use chrono::{DateTime, Utc};
use lm_protocol::AuditAction;

async fn audit_client(
    tx: &mut Tx,
    ctx: &ChangeContext,
    action: AuditAction,
    id: &str,
    state: serde_json::Value,
) -> Result<()> {
    let state = state.to_string();
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
            record_type: "oauth_client",
            record_id: id,
            before,
            after,
        },
    )
    .await
}

impl Store {
    /// The live service accounts of `org`, by id.
    pub async fn service_accounts(&self, org: &str) -> Result<Vec<OAuthClient>> {
        Ok(self
            .clients()
            .await?
            .into_iter()
            .filter(|c| c.service_account.as_ref().is_some_and(|(o, _)| o == org))
            .collect())
    }

    /// A live service account of `org`, or `None` (also for another organization's).
    pub async fn service_account(&self, org: &str, id: &str) -> Result<Option<OAuthClient>> {
        Ok(self
            .client(id)
            .await?
            .filter(|c| c.service_account.as_ref().is_some_and(|(o, _)| o == org)))
    }

    /// Registers a service account of `ctx.org` (its secret made by the caller), audited.
    pub async fn add_service_account(&self, ctx: &ChangeContext, new: &NewClient) -> Result<()> {
        let mut tx = self.db.begin().await?;
        bump_revision(&mut tx, &ctx.org, 0).await?;
        insert_client(&mut tx, new).await?;
        let role = new.service_account.as_ref().map(|(_, role)| *role);
        audit_client(
            &mut tx,
            ctx,
            AuditAction::Create,
            &new.id,
            serde_json::json!({"name": new.name, "role": role, "grants": new.grants}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Gives service account `id` of `ctx.org` the secret `secret`; the one it had keeps
    /// working until `previous_until`. `NotFound` for none of this organization's.
    pub async fn rotate_service_account_secret(
        &self,
        ctx: &ChangeContext,
        id: &str,
        secret: &str,
        previous_until: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        bump_revision(&mut tx, &ctx.org, 0).await?;
        let changed = tx
            .exec()
            .execute(
                "UPDATE oauth_clients SET previous_secret_hash = secret_hash, \
                 previous_secret_until = $3, secret_hash = $4 \
                 WHERE id = $1 AND org_id = $2 AND role IS NOT NULL AND removed_at IS NULL \
                 AND secret_hash IS NOT NULL",
                args![id, ctx.org.as_str(), previous_until, secret_hash(secret)],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        audit_client(
            &mut tx,
            ctx,
            AuditAction::Update,
            id,
            serde_json::json!({"secret": "rotated", "previous_works_until": previous_until}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Renames service account `id` of `ctx.org` or changes its role (its tokens act with the
    /// new one within seconds), audited; `NotFound` for none of its own.
    pub async fn change_service_account(
        &self,
        ctx: &ChangeContext,
        id: &str,
        name: Option<&str>,
        role: Option<lm_protocol::Role>,
    ) -> Result<OAuthClient> {
        let Some(before) = self.service_account(&ctx.org, id).await? else {
            return Err(StoreError::NotFound);
        };
        let Some((_, role_before)) = before.service_account.clone() else {
            return Err(StoreError::NotFound);
        };
        let name = name.unwrap_or(&before.name).to_owned();
        let role = role.unwrap_or(role_before);
        if (name.as_str(), role) == (before.name.as_str(), role_before) {
            return Ok(before);
        }
        let mut tx = self.db.begin().await?;
        bump_revision(&mut tx, &ctx.org, 0).await?;
        tx.exec()
            .execute(
                "UPDATE oauth_clients SET name = $3, role = $4 WHERE id = $1 AND org_id = $2",
                args![id, ctx.org.as_str(), name.as_str(), role.as_str()],
            )
            .await?;
        audit_client(
            &mut tx,
            ctx,
            AuditAction::Update,
            id,
            serde_json::json!({"name": name, "role": role, "before": {"name": before.name, "role": role_before}}),
        )
        .await?;
        tx.commit().await?;
        Ok(OAuthClient {
            name,
            service_account: Some((ctx.org.clone(), role)),
            ..before
        })
    }

    /// Removes service account `id` of `ctx.org`, audited; `NotFound` for none of its own.
    pub async fn remove_service_account(&self, ctx: &ChangeContext, id: &str) -> Result<()> {
        let Some(client) = self.service_account(&ctx.org, id).await? else {
            return Err(StoreError::NotFound);
        };
        let mut tx = self.db.begin().await?;
        bump_revision(&mut tx, &ctx.org, 0).await?;
        mark_removed(&mut tx, id).await?;
        audit_client(
            &mut tx,
            ctx,
            AuditAction::Delete,
            id,
            serde_json::json!({"name": client.name}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
