//! What the built-in authorization server keeps: passwords and login lockouts of users,
//! pending device authorizations, and refresh token families. Secrets (device codes,
//! refresh tokens) are stored as SHA-256 hashes: a copy of the database does not log anyone in.

use super::{Result, Store, StoreError};
use crate::db::args;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// The hex SHA-256 of a secret, as it is stored.
pub fn secret_hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A user's password login state.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub password_hash: Option<String>,
    pub failed_logins: i64,
    pub locked_until: Option<DateTime<Utc>>,
    /// The second factor's secret (base32), when the user has one.
    pub totp_secret: Option<String>,
}

/// A device authorization (RFC 8628) as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeviceCode {
    pub user_code: String,
    pub client_id: String,
    pub scope: String,
    pub status: String,
    pub user_name: Option<String>,
    pub requested_from: Option<String>,
    pub interval_secs: i64,
    pub last_polled_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

const DEVICE_COLUMNS: &str = "user_code, client_id, scope, status, user_name, requested_from, \
    interval_secs, last_polled_at, expires_at, created_at";

/// A refresh token as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshToken {
    pub family: String,
    pub user_name: String,
    pub client_id: String,
    pub scope: String,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// An authorization code (RFC 6749 §4.1) as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuthorizationCode {
    pub client_id: String,
    pub user_name: String,
    pub redirect_uri: String,
    pub scope: String,
    pub code_challenge: String,
    pub nonce: Option<String>,
    /// The refresh token family (login) the code's tokens start.
    pub family: String,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// What presenting an authorization code found.
#[derive(Debug)]
pub enum CodeRedeemed {
    /// Valid and now used.
    Fresh(AuthorizationCode),
    /// Unknown or expired.
    Invalid,
    /// Used before: the login it started is now revoked (RFC 6749 §4.1.2).
    Replayed { family: String },
}

/// What presenting a refresh token found.
#[derive(Debug)]
pub enum Redeemed {
    /// Valid: it is now used, and this is what it granted.
    Fresh(RefreshToken),
    /// Unknown, expired or revoked.
    Invalid,
    /// Used before: someone replays a rotated token. The whole family is now revoked.
    Reused { family: String },
}

impl Store {
    pub async fn credentials(&self, user: &str) -> Result<Option<Credentials>> {
        let mut conn = self.db.read().await?;
        type Row = (Option<String>, i64, Option<DateTime<Utc>>, Option<String>);
        let row: Option<Row> = conn
            .exec()
            .fetch_optional(
                "SELECT password_hash, failed_logins, locked_until, totp_secret FROM users WHERE name = $1",
                args![user],
            )
            .await?;
        Ok(row.map(
            |(password_hash, failed_logins, locked_until, totp_secret)| Credentials {
                password_hash,
                failed_logins,
                locked_until,
                totp_secret,
            },
        ))
    }

    /// Sets (or with `None` removes) a user's password hash and lifts any lockout.
    pub async fn set_password(&self, user: &str, hash: Option<&str>) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let changed = tx
            .exec()
            .execute(
                "UPDATE users SET password_hash = $2, failed_logins = 0, locked_until = NULL WHERE name = $1",
                args![user, hash.map(str::to_owned)],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    /// Sets (or with `None` removes) a user's second-factor secret.
    pub async fn set_totp_secret(&self, user: &str, secret: Option<&str>) -> Result<()> {
        self.update_user(
            user,
            "totp_secret = $2, totp_last_step = NULL",
            args![user, secret.map(str::to_owned)],
        )
        .await
    }

    /// Spends a one-time code's time step: false when that step or a later one was used
    /// already, so a code seen over someone's shoulder does not sign in a second time.
    pub async fn use_totp_step(&self, user: &str, step: i64) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let changed = tx
            .exec()
            .execute(
                "UPDATE users SET totp_last_step = $2 \
                 WHERE name = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
                args![user, step],
            )
            .await?;
        tx.commit().await?;
        Ok(changed == 1)
    }

    pub async fn set_role(&self, user: &str, role: lm_protocol::Role) -> Result<()> {
        self.update_user(user, "role = $2", args![user, role.as_str()])
            .await
    }

    /// Disables or enables a user; a disabled user's refresh tokens are revoked at once.
    pub async fn set_disabled(&self, user: &str, disabled: bool) -> Result<()> {
        self.update_user(user, "disabled = $2", args![user, disabled])
            .await?;
        if disabled {
            let mut tx = self.db.begin().await?;
            super::members::end_logins(&mut tx, user).await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Changes what members are (role, status, second factor): under the organization's
    /// write lock, and stamped so the change feed brings the member again. `$1` in `set` is
    /// the user's name, the first of `values`.
    async fn update_user(
        &self,
        name: &str,
        set: &str,
        values: Vec<crate::db::Value>,
    ) -> Result<()> {
        let org = self.user(name).await?.ok_or(StoreError::NotFound)?.org;
        let mut tx = self.db.begin().await?;
        super::bump_revision(&mut tx, &org, 0).await?;
        let changed = tx
            .exec()
            .execute(format!("UPDATE users SET {set} WHERE name = $1"), values)
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        let revision = super::members::stamp_member(&mut tx, &org, name).await?;
        self.commit_change(tx, &org, revision).await?;
        Ok(())
    }

    /// Stores a new device authorization.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_device_code(
        &self,
        device_code: &str,
        user_code: &str,
        client_id: &str,
        scope: &str,
        requested_from: Option<String>,
        interval_secs: i64,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        tx.exec()
            .execute(
                "DELETE FROM device_codes WHERE expires_at < $1",
                args![Utc::now() - chrono::Duration::hours(1)],
            )
            .await?;
        tx.exec()
            .execute(
                "INSERT INTO device_codes (device_code_hash, user_code, client_id, scope, status, requested_from, \
                 interval_secs, expires_at, created_at) VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8)",
                args![
                    secret_hash(device_code),
                    user_code,
                    client_id,
                    scope,
                    requested_from,
                    interval_secs,
                    expires_at,
                    Utc::now()
                ],
            )
            .await
            .map_err(|e| StoreError::unique_or(e, || "user code collision".into()))?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn device_code_by_user_code(&self, user_code: &str) -> Result<Option<DeviceCode>> {
        let mut conn = self.db.read().await?;
        Ok(conn
            .exec()
            .fetch_optional(
                format!("SELECT {DEVICE_COLUMNS} FROM device_codes WHERE user_code = $1"),
                args![user_code],
            )
            .await?)
    }

    /// Approves or denies a pending device authorization; false when it is not pending.
    pub async fn decide_device_code(
        &self,
        user_code: &str,
        user: &str,
        approve: bool,
    ) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let changed = tx
            .exec()
            .execute(
                "UPDATE device_codes SET status = $2, user_name = $3 \
                 WHERE user_code = $1 AND status = 'pending' AND expires_at > $4",
                args![
                    user_code,
                    if approve { "approved" } else { "denied" },
                    user,
                    Utc::now()
                ],
            )
            .await?;
        tx.commit().await?;
        Ok(changed == 1)
    }

    /// A client polls with its device code: returns the authorization as it was before this
    /// poll, records the poll, widens the interval by 5 s when the client polled too fast
    /// (RFC 8628 §3.5 `slow_down`), and marks an approved code used so it yields one token.
    pub async fn poll_device_code(
        &self,
        device_code: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(DeviceCode, bool)>> {
        let hash = secret_hash(device_code);
        let mut tx = self.db.begin().await?;
        let Some(code): Option<DeviceCode> = tx
            .exec()
            .fetch_optional(
                format!("SELECT {DEVICE_COLUMNS} FROM device_codes WHERE device_code_hash = $1"),
                args![hash.as_str()],
            )
            .await?
        else {
            return Ok(None);
        };
        let too_fast = code.last_polled_at.is_some_and(|last| {
            now.signed_duration_since(last) < chrono::Duration::seconds(code.interval_secs)
        });
        let interval = code.interval_secs + if too_fast { 5 } else { 0 };
        let status = if code.status == "approved" && !too_fast {
            "used"
        } else {
            code.status.as_str()
        };
        tx.exec()
            .execute(
                "UPDATE device_codes SET last_polled_at = $2, interval_secs = $3, status = $4 WHERE device_code_hash = $1",
                args![hash.as_str(), now, interval, status],
            )
            .await?;
        tx.commit().await?;
        Ok(Some((code, too_fast)))
    }

    /// Stores a new refresh token of `family`.
    pub async fn store_refresh_token(
        &self,
        token: &str,
        family: &str,
        user: &str,
        client_id: &str,
        scope: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        tx.exec()
            .execute(
                "INSERT INTO refresh_tokens (token_hash, family, user_name, client_id, scope, expires_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                args![secret_hash(token), family, user, client_id, scope, expires_at, Utc::now()],
            )
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Uses a refresh token once. A second use of the same token revokes its whole family:
    /// either the client or a thief holds a copy, and neither can be told apart.
    /// `access_tokens_until` is when the access tokens issued now expire: a revoked login's
    /// access tokens are refused until then.
    pub async fn redeem_refresh_token(
        &self,
        token: &str,
        now: DateTime<Utc>,
        access_tokens_until: DateTime<Utc>,
    ) -> Result<Redeemed> {
        let hash = secret_hash(token);
        let mut tx = self.db.begin().await?;
        let Some(stored): Option<RefreshToken> = tx
            .exec()
            .fetch_optional(
                "SELECT family, user_name, client_id, scope, expires_at, used_at, revoked_at \
                 FROM refresh_tokens WHERE token_hash = $1",
                args![hash.as_str()],
            )
            .await?
        else {
            return Ok(Redeemed::Invalid);
        };
        if stored.used_at.is_some() {
            revoke_login(&mut tx, &stored.family, now, access_tokens_until).await?;
            tx.commit().await?;
            return Ok(Redeemed::Reused {
                family: stored.family,
            });
        }
        if stored.revoked_at.is_some() || stored.expires_at <= now {
            return Ok(Redeemed::Invalid);
        }
        tx.exec()
            .execute(
                "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1",
                args![hash.as_str(), now],
            )
            .await?;
        tx.commit().await?;
        Ok(Redeemed::Fresh(stored))
    }

    /// A refresh token that could be used now (not used, revoked or expired), for introspection.
    pub async fn refresh_token_info(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<RefreshToken>> {
        let mut conn = self.db.read().await?;
        let stored: Option<RefreshToken> = conn
            .exec()
            .fetch_optional(
                "SELECT family, user_name, client_id, scope, expires_at, used_at, revoked_at \
                 FROM refresh_tokens WHERE token_hash = $1",
                args![secret_hash(token)],
            )
            .await?;
        Ok(stored.filter(|t| t.used_at.is_none() && t.revoked_at.is_none() && t.expires_at > now))
    }

    /// Revokes the login a refresh token belongs to (RFC 7009): every refresh token of its
    /// family and every access token issued to it. Answers the family; unknown tokens are fine.
    pub async fn revoke_refresh_token(
        &self,
        token: &str,
        access_tokens_until: DateTime<Utc>,
    ) -> Result<Option<String>> {
        let mut tx = self.db.begin().await?;
        let family: Option<(String,)> = tx
            .exec()
            .fetch_optional(
                "SELECT family FROM refresh_tokens WHERE token_hash = $1",
                args![secret_hash(token)],
            )
            .await?;
        if let Some((family,)) = &family {
            revoke_login(&mut tx, family, Utc::now(), access_tokens_until).await?;
        }
        tx.commit().await?;
        Ok(family.map(|f| f.0))
    }

    /// Refuses one access token (by its `jti`) until it expires.
    pub async fn revoke_token_id(&self, token_id: &str, expires_at: DateTime<Utc>) -> Result<()> {
        let mut tx = self.db.begin().await?;
        insert_revoked(&mut tx, token_id, expires_at).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The `jti`s and `sid`s of access tokens revoked before they expire, and still unexpired.
    pub async fn revoked_token_ids(&self, now: DateTime<Utc>) -> Result<Vec<String>> {
        let mut conn = self.db.read().await?;
        let rows: Vec<(String,)> = conn
            .exec()
            .fetch_all(
                "SELECT token_id FROM revoked_tokens WHERE expires_at > $1",
                args![now],
            )
            .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Stores an authorization code for a minute's use.
    pub async fn store_authorization_code(
        &self,
        code: &str,
        granted: &AuthorizationCode,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        tx.exec()
            .execute(
                "DELETE FROM authorization_codes WHERE expires_at < $1",
                args![Utc::now() - chrono::Duration::hours(1)],
            )
            .await?;
        tx.exec()
            .execute(
                "INSERT INTO authorization_codes (code_hash, client_id, user_name, redirect_uri, scope, \
                 code_challenge, nonce, family, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                args![
                    secret_hash(code),
                    granted.client_id.as_str(),
                    granted.user_name.as_str(),
                    granted.redirect_uri.as_str(),
                    granted.scope.as_str(),
                    granted.code_challenge.as_str(),
                    granted.nonce.clone(),
                    granted.family.as_str(),
                    granted.expires_at
                ],
            )
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Uses an authorization code once. A second use revokes the login the first one started:
    /// the code leaked, and whoever redeemed it first may be the thief.
    pub async fn redeem_authorization_code(
        &self,
        code: &str,
        now: DateTime<Utc>,
        access_tokens_until: DateTime<Utc>,
    ) -> Result<CodeRedeemed> {
        let hash = secret_hash(code);
        let mut tx = self.db.begin().await?;
        let Some(stored): Option<AuthorizationCode> = tx
            .exec()
            .fetch_optional(
                "SELECT client_id, user_name, redirect_uri, scope, code_challenge, nonce, family, \
                 expires_at, used_at FROM authorization_codes WHERE code_hash = $1",
                args![hash.as_str()],
            )
            .await?
        else {
            return Ok(CodeRedeemed::Invalid);
        };
        if stored.used_at.is_some() {
            revoke_login(&mut tx, &stored.family, now, access_tokens_until).await?;
            tx.commit().await?;
            return Ok(CodeRedeemed::Replayed {
                family: stored.family,
            });
        }
        if stored.expires_at <= now {
            return Ok(CodeRedeemed::Invalid);
        }
        tx.exec()
            .execute(
                "UPDATE authorization_codes SET used_at = $2 WHERE code_hash = $1",
                args![hash.as_str(), now],
            )
            .await?;
        tx.commit().await?;
        Ok(CodeRedeemed::Fresh(stored))
    }
}

/// Revokes a login: its refresh tokens, and (by `sid`) its access tokens until they expire.
pub(super) async fn revoke_login(
    tx: &mut crate::db::Tx,
    family: &str,
    now: DateTime<Utc>,
    access_tokens_until: DateTime<Utc>,
) -> Result<()> {
    tx.exec()
        .execute(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE family = $1 AND revoked_at IS NULL",
            args![family, now],
        )
        .await?;
    insert_revoked(tx, family, access_tokens_until).await
}

async fn insert_revoked(
    tx: &mut crate::db::Tx,
    token_id: &str,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    tx.exec()
        .execute(
            "DELETE FROM revoked_tokens WHERE expires_at < $1",
            args![Utc::now()],
        )
        .await?;
    tx.exec()
        .execute(
            "INSERT INTO revoked_tokens (token_id, expires_at) VALUES ($1, $2) \
             ON CONFLICT (token_id) DO NOTHING",
            args![token_id, expires_at],
        )
        .await?;
    Ok(())
}
