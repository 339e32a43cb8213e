use super::{Result, Store, StoreError};
use crate::db::args;
use chrono::{DateTime, Utc};
use lm_protocol::Role;

/// A person or machine that can hold tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub org: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    name: String,
    org_id: String,
    role: String,
    disabled: bool,
    created_at: DateTime<Utc>,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<User> {
        Ok(User {
            role: r.role.parse().map_err(StoreError::Corrupt)?,
            name: r.name,
            org: r.org_id,
            disabled: r.disabled,
            created_at: r.created_at,
        })
    }
}

impl Store {
    /// Adds a user to `org` (creating the org). A taken name is a conflict.
    pub async fn add_user(&self, name: &str, org: &str, role: Role) -> Result<User> {
        self.ensure_org(org).await?;
        let mut tx = self.db.begin().await?;
        super::bump_revision(&mut tx, org, 0).await?;
        let created_at = Utc::now();
        tx.exec()
            .execute(
                "INSERT INTO users (name, org_id, role, disabled, created_at) VALUES ($1, $2, $3, $4, $5)",
                args![name, org, role.as_str(), false, created_at],
            )
            .await
            .map_err(|e| StoreError::unique_or(e, || format!("a user named `{name}` already exists")))?;
        let revision = super::members::stamp_member(&mut tx, org, name).await?;
        self.commit_change(tx, org, revision).await?;
        Ok(User {
            name: name.to_owned(),
            org: org.to_owned(),
            role,
            disabled: false,
            created_at,
        })
    }

    pub async fn user(&self, name: &str) -> Result<Option<User>> {
        let mut conn = self.db.read().await?;
        let row: Option<UserRow> = conn
            .exec()
            .fetch_optional(
                "SELECT name, org_id, role, disabled, created_at FROM users WHERE name = $1",
                args![name],
            )
            .await?;
        row.map(User::try_from).transpose()
    }

    pub async fn users(&self) -> Result<Vec<User>> {
        let mut conn = self.db.read().await?;
        let rows: Vec<UserRow> = conn
            .exec()
            .fetch_all(
                "SELECT name, org_id, role, disabled, created_at FROM users ORDER BY org_id, name",
                vec![],
            )
            .await?;
        rows.into_iter().map(User::try_from).collect()
    }
}
