//! API keys: `lmk_<id>_<secret>`, stored as the SHA-256 of the whole key. The id is public
//! (lists, the audit log); the secret is 256 random bits. Creating and revoking a key is
//! audited in the owner's organization.

use super::audit::Audited;
use super::oauth::secret_hash;
use super::{ChangeContext, Result, Store, StoreError};
use crate::db::args;
use chrono::{DateTime, Utc};
use lm_protocol::api_key::PREFIX;
use lm_protocol::{ApiKeyInfo, AuditAction, Role};

/// A key that works now, as the token service keeps it in memory.
#[derive(Debug, Clone)]
pub struct LiveKey {
    pub secret_hash: String,
    pub id: String,
    pub user: String,
    pub org: String,
    pub role: Role,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A new key: its id and the whole key, which is shown once.
pub fn generate() -> (String, String) {
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).expect("the OS random generator works");
    let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let key = format!("{PREFIX}{id}_{}", crate::oauth::random_secret(32));
    (id, key)
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: String,
    user_name: String,
    label: String,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<KeyRow> for ApiKeyInfo {
    fn from(r: KeyRow) -> ApiKeyInfo {
        ApiKeyInfo {
            id: r.id,
            owner: r.user_name,
            label: r.label,
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
        }
    }
}

fn audit_snapshot(key: &ApiKeyInfo) -> String {
    serde_json::json!({
        "owner": key.owner, "label": key.label, "expires_at": key.expires_at,
    })
    .to_string()
}

impl Store {
    /// Stores a key of `user` (which must exist and be enabled) and audits it. `ctx.org` must
    /// be the user's organization.
    pub async fn create_api_key(
        &self,
        ctx: &ChangeContext,
        user: &str,
        label: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(ApiKeyInfo, String, LiveKey)> {
        let owner = self
            .user(user)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(StoreError::NotFound)?;
        let (id, key) = generate();
        let info = ApiKeyInfo {
            id: id.clone(),
            owner: owner.name.clone(),
            label: label.to_owned(),
            created_at: Utc::now(),
            expires_at,
            revoked_at: None,
        };
        let mut tx = self.db.begin().await?;
        tx.exec()
            .execute(
                "INSERT INTO api_keys (id, secret_hash, user_name, label, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                args![
                    id.as_str(),
                    secret_hash(&key),
                    owner.name.as_str(),
                    label,
                    info.created_at,
                    expires_at
                ],
            )
            .await?;
        super::audit::record(
            &mut tx,
            &owner.org,
            ctx,
            Audited {
                action: AuditAction::Create,
                record_type: "api_key",
                record_id: &id,
                before: None,
                after: Some(audit_snapshot(&info)),
            },
        )
        .await?;
        tx.commit().await?;
        let live = LiveKey {
            secret_hash: secret_hash(&key),
            id,
            user: owner.name,
            org: owner.org,
            role: owner.role,
            expires_at,
        };
        Ok((info, key, live))
    }

    /// The keys of `user`, or of everyone; newest first.
    pub async fn api_keys(&self, user: Option<&str>) -> Result<Vec<ApiKeyInfo>> {
        let mut conn = self.db.read().await?;
        let columns = "id, user_name, label, created_at, expires_at, revoked_at";
        let rows: Vec<KeyRow> = match user {
            Some(user) => {
                conn.exec()
                    .fetch_all(
                        format!("SELECT {columns} FROM api_keys WHERE user_name = $1 ORDER BY created_at DESC"),
                        args![user],
                    )
                    .await?
            }
            None => {
                conn.exec()
                    .fetch_all(
                        format!("SELECT {columns} FROM api_keys ORDER BY user_name, created_at DESC"),
                        vec![],
                    )
                    .await?
            }
        };
        Ok(rows.into_iter().map(ApiKeyInfo::from).collect())
    }

    /// Revokes key `id`; with `owner`, only if it is theirs (else `NotFound`). Audited.
    pub async fn revoke_api_key(
        &self,
        ctx: &ChangeContext,
        id: &str,
        owner: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let row: Option<(String, String)> = tx
            .exec()
            .fetch_optional(
                "SELECT k.user_name, u.org_id FROM api_keys k JOIN users u ON u.name = k.user_name \
                 WHERE k.id = $1 AND k.revoked_at IS NULL",
                args![id],
            )
            .await?;
        let Some((user, org)) = row.filter(|(user, _)| owner.is_none_or(|o| o == user)) else {
            return Err(StoreError::NotFound);
        };
        let now = Utc::now();
        tx.exec()
            .execute(
                "UPDATE api_keys SET revoked_at = $2 WHERE id = $1",
                args![id, now],
            )
            .await?;
        super::audit::record(
            &mut tx,
            &org,
            ctx,
            Audited {
                action: AuditAction::Delete,
                record_type: "api_key",
                record_id: id,
                before: Some(serde_json::json!({"owner": user}).to_string()),
                after: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every key that works now (not revoked, not expired, its owner enabled).
    pub async fn live_api_keys(&self) -> Result<Vec<LiveKey>> {
        let mut conn = self.db.read().await?;
        let rows: Vec<LiveKeyRow> = conn
            .exec()
            .fetch_all(
                "SELECT k.secret_hash, k.id, k.user_name, u.org_id, u.role, k.expires_at \
                 FROM api_keys k JOIN users u ON u.name = k.user_name \
                 WHERE k.revoked_at IS NULL AND u.disabled = $1 AND (k.expires_at IS NULL OR k.expires_at > $2)",
                args![false, Utc::now()],
            )
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(LiveKey {
                    role: r.role.parse().map_err(StoreError::Corrupt)?,
                    secret_hash: r.secret_hash,
                    id: r.id,
                    user: r.user_name,
                    org: r.org_id,
                    expires_at: r.expires_at,
                })
            })
            .collect()
    }
}

#[derive(sqlx::FromRow)]
struct LiveKeyRow {
    secret_hash: String,
    id: String,
    user_name: String,
    org_id: String,
    role: String,
    expires_at: Option<DateTime<Utc>>,
}
