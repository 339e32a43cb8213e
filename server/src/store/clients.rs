//! The OAuth clients registered with the built-in authorization server besides the built-in
//! public client `lm`. A confidential client's secret is 256 random bits, stored as its
//! SHA-256 (a slow hash adds nothing against a secret nobody chose). A removed client stays
//! as a marked row, and its service account `client:ID` leaves every replica's subjects at the
//! next reload.

use super::oauth::secret_hash;
use super::{Result, Store, StoreError};
use crate::db::args;
use chrono::{DateTime, Utc};
use lm_protocol::Role;

/// The grants a client may use.
pub const GRANTS: [&str; 4] = [
    "client_credentials",
    "urn:ietf:params:oauth:grant-type:device_code",
    "refresh_token",
    "authorization_code",
];

/// A registered client.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub id: String,
    pub name: String,
    /// `None` for a public client.
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub grants: Vec<String>,
    /// What a service account (`client_credentials`) acts as.
    pub service_account: Option<(String, Role)>,
    pub created_at: DateTime<Utc>,
    /// A rotated secret's hash, and until when it still works.
    pub previous_secret: Option<(String, DateTime<Utc>)>,
}

impl OAuthClient {
    pub fn is_confidential(&self) -> bool {
        self.secret_hash.is_some()
    }

    pub fn allows(&self, grant: &str) -> bool {
        self.grants.iter().any(|g| g == grant)
    }

    /// Whether `secret` is this client's secret — or its previous one, within the grace
    /// period of a rotation — compared in constant time.
    pub fn secret_matches(&self, secret: &str) -> bool {
        let presented = secret_hash(secret);
        let same = |stored: &str| {
            stored.len() == presented.len()
                && stored
                    .bytes()
                    .zip(presented.bytes())
                    .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                    == 0
        };
        let current = self.secret_hash.as_deref().is_some_and(same);
        let previous = self
            .previous_secret
            .as_ref()
            .is_some_and(|(stored, until)| *until > Utc::now() && same(stored));
        current | previous
    }

    /// The subject of the tokens a service account gets.
    pub fn subject(&self) -> String {
        subject(&self.id)
    }
}

/// A client's token subject: `client:ID`, never a user's name (those have no `:`).
pub(super) fn subject(id: &str) -> String {
    format!("client:{id}")
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    id: String,
    name: String,
    secret_hash: Option<String>,
    redirect_uris: String,
    grants: String,
    org_id: Option<String>,
    role: Option<String>,
    created_at: DateTime<Utc>,
    previous_secret_hash: Option<String>,
    previous_secret_until: Option<DateTime<Utc>>,
}

impl TryFrom<ClientRow> for OAuthClient {
    type Error = StoreError;
    fn try_from(r: ClientRow) -> Result<OAuthClient> {
        let list = |text: &str| -> Result<Vec<String>> {
            serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
        };
        let service_account = match (r.org_id, r.role) {
            (Some(org), Some(role)) => Some((org, role.parse().map_err(StoreError::Corrupt)?)),
            _ => None,
        };
        Ok(OAuthClient {
            redirect_uris: list(&r.redirect_uris)?,
            grants: list(&r.grants)?,
            id: r.id,
            name: r.name,
            secret_hash: r.secret_hash,
            service_account,
            created_at: r.created_at,
            previous_secret: r.previous_secret_hash.zip(r.previous_secret_until),
        })
    }
}

const COLUMNS: &str = "id, name, secret_hash, redirect_uris, grants, org_id, role, created_at, \
    previous_secret_hash, previous_secret_until";

/// What registering a client needs.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub id: String,
    pub name: String,
    /// The secret, for a confidential client (only its hash is kept).
    pub secret: Option<String>,
    pub redirect_uris: Vec<String>,
    pub grants: Vec<String>,
    pub service_account: Option<(String, Role)>,
}

impl Store {
    /// Registers a client; a taken id is a conflict.
    pub async fn add_client(&self, client: &NewClient) -> Result<()> {
        if let Some((org, _)) = &client.service_account {
            self.ensure_org(org).await?;
        }
        let mut tx = self.db.begin().await?;
        insert_client(&mut tx, client).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn client(&self, id: &str) -> Result<Option<OAuthClient>> {
        let mut conn = self.db.read().await?;
        let row: Option<ClientRow> = conn
            .exec()
            .fetch_optional(
                format!("SELECT {COLUMNS} FROM oauth_clients WHERE id = $1 AND removed_at IS NULL"),
                args![id],
            )
            .await?;
        row.map(OAuthClient::try_from).transpose()
    }

    pub async fn clients(&self) -> Result<Vec<OAuthClient>> {
        let mut conn = self.db.read().await?;
        let rows: Vec<ClientRow> = conn
            .exec()
            .fetch_all(
                format!("SELECT {COLUMNS} FROM oauth_clients WHERE removed_at IS NULL ORDER BY id"),
                vec![],
            )
            .await?;
        rows.into_iter().map(OAuthClient::try_from).collect()
    }

    /// Removes a client and revokes its refresh tokens; its access tokens stop working at the
    /// next reload of every replica (see `TokenService::keep_current`). The row stays, marked,
    /// so that every replica can tell.
    pub async fn remove_client(&self, id: &str) -> Result<()> {
        let mut tx = self.db.begin().await?;
        mark_removed(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Stores a client's row; a taken id (also a removed client's) is a conflict.
pub(super) async fn insert_client(tx: &mut crate::db::Tx, client: &NewClient) -> Result<()> {
    let (org, role) = match &client.service_account {
        Some((org, role)) => (Some(org.clone()), Some(role.as_str().to_owned())),
        None => (None, None),
    };
    tx.exec()
        .execute(
            "INSERT INTO oauth_clients (id, name, secret_hash, redirect_uris, grants, org_id, role, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            args![
                client.id.as_str(),
                client.name.as_str(),
                client.secret.as_deref().map(secret_hash),
                serde_json::to_string(&client.redirect_uris).unwrap_or_default(),
                serde_json::to_string(&client.grants).unwrap_or_default(),
                org,
                role,
                Utc::now()
            ],
        )
        .await
        .map_err(|e| {
            StoreError::unique_or(e, || {
                format!(
                    "a client `{}` exists or existed; ids are never reused, so old tokens cannot come back to life",
                    client.id
                )
            })
        })?;
    Ok(())
}

/// Marks client `id` removed and revokes its refresh tokens; `NotFound` for none live.
pub(super) async fn mark_removed(tx: &mut crate::db::Tx, id: &str) -> Result<()> {
    let removed = tx
        .exec()
        .execute(
            "UPDATE oauth_clients SET removed_at = $2 WHERE id = $1 AND removed_at IS NULL",
            args![id, Utc::now()],
        )
        .await?;
    if removed == 0 {
        return Err(StoreError::NotFound);
    }
    tx.exec()
        .execute(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL",
            args![id, Utc::now()],
        )
        .await?;
    Ok(())
}
