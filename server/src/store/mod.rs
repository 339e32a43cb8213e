//! The store owns every read and write of the inventory. Each write runs in one transaction
//! that (1) bumps the organization's revision first — taking the org's write lock, so
//! concurrent writers of one org commit in revision order — (2) changes the records and
//! (3) appends the audit entry. Either all three happen or none.

pub mod api_keys;
mod assignments;
mod audit;
pub(crate) use audit::{Audited, record as record_audit};
mod changes;
pub mod clients;
pub mod hierarchy;
mod import;
mod invitations;
pub use invitations::Redeemed;
mod keys;
mod licenses;
mod listing;
mod logins;
mod member_feed;
mod members;
pub mod oauth;
mod orgs;
mod quiet_reads;
pub mod seats;
mod service_accounts;
mod statistics;
mod users;

pub use assignments::HoldersOf;
pub use keys::StoredKey;
pub use users::User;

use crate::db::{Db, Dialect, Tx, args};
use crate::events::Events;
use chrono::{DateTime, Utc};
use lm_protocol::FieldError;

/// Who makes a change, and from where; written to the audit entry of the change.
#[derive(Debug, Clone)]
pub struct ChangeContext {
    pub org: String,
    pub actor: String,
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("the record is at version {current}, not the version the change was based on")]
    StaleVersion { current: i64 },
    #[error("{0}")]
    Conflict(String),
    #[error("no free seat: all {seats} seats are in use")]
    NoFreeSeat { seats: u32, used: u32 },
    #[error("{0}")]
    Invalid(#[from] FieldError),
    #[error(
        "the change feed no longer holds revision {after}: removals up to {purged_through} were purged"
    )]
    FeedExpired { after: i64, purged_through: i64 },
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

impl StoreError {
    /// Maps a unique-constraint violation to a conflict with `message`.
    fn unique_or(err: sqlx::Error, message: impl FnOnce() -> String) -> StoreError {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(message())
            }
            _ => StoreError::Db(err),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone)]
pub struct Store {
    db: Db,
    events: Events,
    seat_reads: std::sync::Arc<seats::SeatReads>,
    seat_changes: seats::SeatChanges,
}

impl Store {
    pub fn new(db: Db) -> Store {
        Store {
            db,
            events: Events::default(),
            seat_reads: std::sync::Arc::default(),
            seat_changes: seats::SeatChanges::default(),
        }
    }

    /// The bus on which committed revisions are announced.
    pub fn events(&self) -> &Events {
        &self.events
    }

    /// Commits a write transaction that brought `org` to `revision`, and announces it.
    pub(super) async fn commit_change(&self, tx: Tx, org: &str, revision: i64) -> Result<()> {
        self.commit_announcing(tx, &[(org.to_owned(), revision)])
            .await?;
        Ok(())
    }

    /// Commits a write transaction that brought each organization to its revision, and
    /// announces them: on PostgreSQL with `NOTIFY` (delivered at commit to every replica, this
    /// one included), on SQLite directly on this process's bus.
    pub(crate) async fn commit_announcing(
        &self,
        mut tx: Tx,
        heads: &[(String, i64)],
    ) -> Result<(), sqlx::Error> {
        if tx.dialect() == Dialect::Postgres {
            for (org, revision) in heads {
                let announced = crate::events::Revision {
                    org: org.as_str().into(),
                    revision: *revision,
                };
                tx.exec()
                    .execute(
                        "SELECT pg_notify($1, $2)",
                        args![crate::events::CHANNEL, announced.payload()],
                    )
                    .await?;
            }
        }
        tx.commit().await?;
        self.events.heard_a_write();
        if self.dialect() == Dialect::Sqlite {
            for (org, revision) in heads {
                self.events.publish(org, *revision);
            }
        }
        Ok(())
    }

    /// Commits a write of data no revision counts (the hierarchy, products) and lets every
    /// replica's caches of it know (see [`crate::events::UNVERSIONED_WRITE`]).
    pub(crate) async fn commit_unversioned(&self, mut tx: Tx) -> Result<()> {
        if tx.dialect() == Dialect::Postgres {
            tx.exec()
                .execute(
                    "SELECT pg_notify($1, $2)",
                    args![crate::events::CHANNEL, crate::events::UNVERSIONED_WRITE],
                )
                .await?;
        }
        tx.commit().await?;
        self.events.heard_a_write();
        Ok(())
    }

    /// Relays `NOTIFY lm_changes` from every replica to this process's subscribers, until
    /// the process ends. Does nothing on SQLite.
    pub async fn relay_notifications(&self) {
        let Db::Postgres(pool) = &self.db else {
            return;
        };
        loop {
            let mut listener = match sqlx::postgres::PgListener::connect_with(pool).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for changes of other replicas; retrying");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
            };
            if let Err(e) = listener.listen(crate::events::CHANNEL).await {
                tracing::warn!(error = %e, "LISTEN failed; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
            // Writes while no one listened went unheard.
            self.events.heard_a_write();
            loop {
                match listener.recv().await {
                    Ok(n) if n.payload() == crate::events::UNVERSIONED_WRITE => {
                        self.events.heard_a_write();
                    }
                    Ok(n) => match crate::events::Revision::parse(n.payload()) {
                        Some(r) => self.events.publish(&r.org, r.revision),
                        None => tracing::warn!(payload = n.payload(), "unexpected notification"),
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the notification connection; reconnecting");
                        break;
                    }
                }
            }
        }
    }

    /// The organization's newest revision.
    pub async fn head(&self, org: &str) -> Result<i64> {
        let mut conn = self.db.read().await?;
        let row: Option<(i64,)> = conn
            .exec()
            .fetch_optional("SELECT revision FROM orgs WHERE id = $1", args![org])
            .await?;
        Ok(row.map_or(0, |r| r.0))
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn dialect(&self) -> Dialect {
        self.db.dialect()
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        self.db.read().await?.ping().await?;
        Ok(())
    }

    /// Refreshes the query planner's statistics, e.g. after a bulk load.
    pub async fn analyze(&self) -> Result<()> {
        let mut tx = self.db.begin().await?;
        tx.exec().execute("ANALYZE", vec![]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Lets the database refresh statistics that have gone stale, cheaply when none have.
    /// PostgreSQL's autovacuum does this by itself; SQLite needs to be asked.
    pub async fn optimize(&self) -> Result<()> {
        if self.dialect() == Dialect::Sqlite {
            let mut tx = self.db.begin().await?;
            tx.exec().execute("PRAGMA optimize", vec![]).await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Creates the organization if it does not exist yet.
    pub async fn ensure_org(&self, org: &str) -> Result<()> {
        let mut tx = self.db.begin().await?;
        insert_org(&mut tx, org).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Creates the organization's row if it does not exist yet.
pub(super) async fn insert_org(tx: &mut Tx, org: &str) -> Result<()> {
    tx.exec()
        .execute(
            "INSERT INTO orgs (id, revision, created_at) VALUES ($1, 0, $2) ON CONFLICT (id) DO NOTHING",
            args![org, Utc::now()],
        )
        .await?;
    Ok(())
}

/// Bumps the organization's revision by `count` and returns the first of the new revisions.
/// Must be the first statement of every write transaction (see the module docs). An
/// organization seen for the first time is created: with an external identity provider,
/// organizations come from token claims, not from `lm-server user add`.
pub(super) async fn bump_revision(tx: &mut Tx, org: &str, count: i64) -> Result<i64> {
    const BUMP: &str = "UPDATE orgs SET revision = revision + $2 WHERE id = $1 RETURNING revision";
    let bumped: Option<(i64,)> = tx.exec().fetch_optional(BUMP, args![org, count]).await?;
    let (last,) = match bumped {
        Some(row) => row,
        None => {
            insert_org(tx, org).await?;
            tx.exec()
                .fetch_optional(BUMP, args![org, count])
                .await?
                .ok_or(StoreError::NotFound)?
        }
    };
    Ok(last - count + 1)
}

fn now() -> DateTime<Utc> {
    Utc::now()
}
