//! A connection of a test's own to a server's database, behind the server's back: to read
//! what the API does not show, to make a database look like one an older version left, or
//! to hold its write lock.

use sqlx::Connection;

/// An open connection to a server's SQLite file or PostgreSQL database.
pub enum DirectDb {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl DirectDb {
    /// Connects to the database at `url` (`sqlite:…` or `postgres:…`).
    pub async fn connect(url: &str) -> DirectDb {
        if url.starts_with("sqlite:") {
            DirectDb::Sqlite(
                sqlx::SqliteConnection::connect(url)
                    .await
                    .expect("open sqlite"),
            )
        } else {
            DirectDb::Postgres(
                sqlx::PgConnection::connect(url)
                    .await
                    .expect("open postgres"),
            )
        }
    }

    /// Runs `sql`, which may be several statements.
    pub async fn run(&mut self, sql: &'static str) {
        let ran = match self {
            DirectDb::Sqlite(c) => sqlx::raw_sql(sql).execute(c).await.map(drop),
            DirectDb::Postgres(c) => sqlx::raw_sql(sql).execute(c).await.map(drop),
        };
        ran.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Every row `sql` selects.
    pub async fn rows<T>(&mut self, sql: &'static str) -> Vec<T>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + Send
            + Unpin,
    {
        let rows = match self {
            DirectDb::Sqlite(c) => sqlx::query_as(sql).fetch_all(c).await,
            DirectDb::Postgres(c) => sqlx::query_as(sql).fetch_all(c).await,
        };
        rows.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

/// The database's write lock, taken by [`crate::Server::hold_writes`].
pub struct WriteHold(pub(crate) DirectDb);

impl WriteHold {
    /// Lets the server's writes go on.
    pub async fn release(mut self) {
        self.0.run("COMMIT").await;
    }
}
