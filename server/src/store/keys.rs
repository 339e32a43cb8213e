use super::{Result, Store, StoreError};
use crate::db::args;
use chrono::{DateTime, Utc};
use lm_protocol::Role;

/// A signing key as stored: the private key (PKCS#8, base64) stays in the database.
#[derive(Clone, sqlx::FromRow)]
pub struct StoredKey {
    pub kid: String,
    pub algorithm: String,
    pub private_pkcs8: String,
    pub public_key: String,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Every signing key, oldest first.
    pub async fn signing_keys(&self) -> Result<Vec<StoredKey>> {
        let mut conn = self.db.read().await?;
        Ok(conn
            .exec()
            .fetch_all(
                "SELECT kid, algorithm, private_pkcs8, public_key, created_at, retired_at \
                 FROM signing_keys ORDER BY created_at, kid",
                vec![],
            )
            .await?)
    }

    /// Replaces the plain private key of `kid` with its sealed form (only if it is still the
    /// plain one: another replica may have sealed it meanwhile).
    pub async fn seal_signing_key(&self, kid: &str, plain: &str, sealed: &str) -> Result<()> {
        let mut tx = self.db.begin().await?;
        tx.exec()
            .execute(
                "UPDATE signing_keys SET private_pkcs8 = $3 WHERE kid = $1 AND private_pkcs8 = $2",
                args![kid, plain, sealed],
            )
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds `key` and retires every other key in one transaction: from then on the new key
    /// signs, and the retired ones only verify.
    pub async fn rotate_signing_key(&self, key: &StoredKey) -> Result<()> {
        let mut tx = self.db.begin().await?;
        tx.exec()
            .execute(
                "UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL",
                args![Utc::now()],
            )
            .await?;
        tx.exec()
            .execute(
                "INSERT INTO signing_keys (kid, algorithm, private_pkcs8, public_key, created_at, retired_at) \
                 VALUES ($1, $2, $3, $4, $5, NULL)",
                args![
                    key.kid.as_str(),
                    key.algorithm.as_str(),
                    key.private_pkcs8.as_str(),
                    key.public_key.as_str(),
                    key.created_at
                ],
            )
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The names of disabled users.
    /// The organization and role of one token subject (a user's name or `client:ID`), when it
    /// is an active user or the service account of a client not removed.
    pub async fn token_subject(&self, subject: &str) -> Result<Option<(String, Role)>> {
        let mut conn = self.db.read().await?;
        let row: Option<(String, String)> = match subject.strip_prefix("client:") {
            Some(id) => {
                conn.exec()
                    .fetch_optional(
                        "SELECT org_id, role FROM oauth_clients WHERE id = $1 \
                         AND removed_at IS NULL AND org_id IS NOT NULL AND role IS NOT NULL",
                        args![id],
                    )
                    .await?
            }
            None => {
                conn.exec()
                    .fetch_optional(
                        "SELECT org_id, role FROM users WHERE name = $1 AND disabled = $2",
                        args![subject, false],
                    )
                    .await?
            }
        };
        row.map(|(org, role)| Ok((org, role.parse().map_err(StoreError::Corrupt)?)))
            .transpose()
    }

    /// Who may hold the server's tokens now, by token subject: every user not disabled and
    /// every service account of a client not removed, each with its organization and role.
    pub async fn token_subjects(&self) -> Result<Vec<(String, String, Role)>> {
        let mut conn = self.db.read().await?;
        let users: Vec<(String, String, String)> = conn
            .exec()
            .fetch_all(
                "SELECT name, org_id, role FROM users WHERE disabled = $1",
                args![false],
            )
            .await?;
        let clients: Vec<(String, String, String)> = conn
            .exec()
            .fetch_all(
                "SELECT id, org_id, role FROM oauth_clients \
                 WHERE removed_at IS NULL AND org_id IS NOT NULL AND role IS NOT NULL",
                vec![],
            )
            .await?;
        let clients = clients
            .into_iter()
            .map(|(id, org, role)| (super::clients::subject(&id), org, role));
        users
            .into_iter()
            .chain(clients)
            .map(|(subject, org, role)| {
                let role = role.parse().map_err(StoreError::Corrupt)?;
                Ok((subject, org, role))
            })
            .collect()
    }

    pub async fn add_signing_key(&self, key: &StoredKey) -> Result<()> {
        let mut tx = self.db.begin().await?;
        tx.exec()
            .execute(
                "INSERT INTO signing_keys (kid, algorithm, private_pkcs8, public_key, created_at, retired_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kid) DO NOTHING",
                args![
                    key.kid.as_str(),
                    key.algorithm.as_str(),
                    key.private_pkcs8.as_str(),
                    key.public_key.as_str(),
                    key.created_at,
                    key.retired_at
                ],
            )
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
