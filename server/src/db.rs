//! The database connection: SQLite (the embedded default) or PostgreSQL, behind one small
//! API. Every query is written once, with `$n` placeholders (given to SQLite as `?`s, see
//! `placeholders`), and its arguments are typed [`Value`]s; this module is the only place
//! that knows which driver runs it.
//!
//! SQLite gets two pools: many readers and a single writer connection, so write
//! transactions queue in-process instead of failing with `SQLITE_BUSY`.

mod placeholders;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{
    AssertSqlSafe, Connection, FromRow, PgConnection, PgPool, Postgres, Sqlite, SqliteConnection,
    SqlitePool, Transaction,
};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A typed query argument. `None` binds SQL `NULL` of that type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Bool(bool),
    Date(Option<NaiveDate>),
    Time(Option<DateTime<Utc>>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(Some(v))
    }
}
impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Value::Int(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(Some(v.to_owned()))
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(Some(v))
    }
}
impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Value::Text(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<NaiveDate> for Value {
    fn from(v: NaiveDate) -> Self {
        Value::Date(Some(v))
    }
}
impl From<Option<NaiveDate>> for Value {
    fn from(v: Option<NaiveDate>) -> Self {
        Value::Date(v)
    }
}
impl From<DateTime<Utc>> for Value {
    fn from(v: DateTime<Utc>) -> Self {
        Value::Time(Some(v))
    }
}
impl From<Option<DateTime<Utc>>> for Value {
    fn from(v: Option<DateTime<Utc>>) -> Self {
        Value::Time(v)
    }
}

/// The type of a column, for reading rows whose shape is only known at run time (backups).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Int,
    Text,
    Bool,
    Date,
    Time,
}

impl Value {
    /// `NULL` of type `ty`.
    pub fn null(ty: Type) -> Value {
        match ty {
            Type::Int => Value::Int(None),
            Type::Text => Value::Text(None),
            Type::Bool => Value::Bool(false),
            Type::Date => Value::Date(None),
            Type::Time => Value::Time(None),
        }
    }
}

/// Reads column `i` of `row` as a [`Value`] of type `ty`.
fn decode<'r, R>(row: &'r R, i: usize, ty: Type) -> Result<Value, sqlx::Error>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<NaiveDate>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<DateTime<Utc>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(match ty {
        Type::Int => Value::Int(row.try_get(i)?),
        Type::Text => Value::Text(row.try_get(i)?),
        Type::Bool => Value::Bool(row.try_get(i)?),
        Type::Date => Value::Date(row.try_get(i)?),
        Type::Time => Value::Time(row.try_get(i)?),
    })
}

/// `args![a, b, c]` builds a `Vec<Value>`.
macro_rules! args {
    ($($v:expr),* $(,)?) => { vec![$($crate::db::Value::from($v)),*] };
}
pub(crate) use args;

/// A row type that both drivers can decode (derive `sqlx::FromRow` on it).
pub trait Row: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}
impl<T> Row for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{}

/// Which database engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// How many rows of `params_per_row` bound values one multi-row statement should carry.
    /// SQLite's parameters are anonymous (`placeholders`), bound without a walk through
    /// their names, so two thousand a statement cost no more each than a few; a 100,000-row
    /// import took 8.4 s at 256, 7.7 s at 2,048. PostgreSQL takes up to 65,535, and fewer
    /// round trips serve it better.
    pub fn rows_per_statement(self, params_per_row: usize) -> usize {
        let budget = match self {
            Dialect::Sqlite => 2_048,
            Dialect::Postgres => 8_192,
        };
        (budget / params_per_row.max(1)).max(1)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }
}

/// Connections acquired by this process for requests (reads, writes and snapshots), for
/// `/metrics`.
pub static ACQUIRED: AtomicU64 = AtomicU64::new(0);
/// Connections acquired by background work (key reloads, housekeeping, scheduled backups).
pub static ACQUIRED_IN_BACKGROUND: AtomicU64 = AtomicU64::new(0);

tokio::task_local! {
    static BACKGROUND: ();
}

/// Runs `work` as background work: its database use is counted apart from requests'.
pub async fn in_background<F: std::future::Future>(work: F) -> F::Output {
    BACKGROUND.scope((), work).await
}

fn count_acquire() {
    if BACKGROUND.try_with(|_| ()).is_ok() {
        ACQUIRED_IN_BACKGROUND.fetch_add(1, Ordering::Relaxed);
    } else {
        ACQUIRED.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Clone)]
pub enum Db {
    Sqlite { read: SqlitePool, write: SqlitePool },
    Postgres(PgPool),
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("`{0}` is not a database URL: use sqlite://PATH or postgres://USER@HOST/DB")]
    UnknownScheme(String),
    #[error("cannot open the database: {0}")]
    Open(#[from] sqlx::Error),
    #[error("cannot migrate the database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Exposed(#[from] crate::private_files::ExposedFile),
}

/// How long a PostgreSQL connection may sit idle before it is pinged again before use.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(10);

/// How old a connection may get before it is replaced at its next use: SQLite readers keep
/// the planner statistics they loaded when they opened, and PostgreSQL backends grow caches.
/// Checked when a connection is taken rather than by sqlx's background reaper, which
/// sqlx 0.9.0 can wedge in a busy loop (an idle count that wraps below zero in a race:
/// sqlx issue #3645); so no pool here has an idle timeout or a maximum lifetime.
const SQLITE_READER_LIFETIME: Duration = Duration::from_secs(600);
const POSTGRES_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// Pool sizes and timeouts.

#[derive(Debug, Clone, Copy)]
pub struct PoolConfig {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// Whether a SQLite URL names a database that lives in memory only (no file to protect).
fn is_in_memory(url: &str) -> bool {
    url.starts_with("sqlite::memory:") || url.contains("mode=memory")
}

/// The page cache of SQLite's one writer connection, in KiB.
const SQLITE_WRITER_CACHE_KIB: u32 = 32 * 1024;

impl Db {
    /// Opens (creating a SQLite file if needed, owner-only: `private_files`) and migrates the database at `url`.
    pub async fn connect(url: &str, config: PoolConfig) -> Result<Db, ConnectError> {
        let db = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?;
            if !is_in_memory(url) {
                crate::private_files::prepare_sqlite(options.get_filename())?;
            }
            let options = options
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(config.acquire_timeout.max(Duration::from_secs(30)))
                // A file cannot hang up: no ping before each use.
                .test_before_acquire(false)
                .idle_timeout(None)
                .max_lifetime(None)
                // The one writer's page cache: a bulk write (an import, a restore) touches
                // pages of every index of `licenses`; with SQLite's default 2 MiB it read
                // them back again and again.
                //
                // Its statement journals (what undoes one statement of a bulk write's
                // transaction) in memory: in temporary files they were half of an import's
                // time, written to the disk and read back.
                .connect_with(
                    options
                        .clone()
                        .pragma("cache_size", format!("-{}", SQLITE_WRITER_CACHE_KIB))
                        .pragma("temp_store", "memory"),
                )
                .await?;
            SQLITE_MIGRATIONS.run(&write).await?;
            // Refresh the planner's statistics where they are stale (cheap when they are not);
            // without them SQLite may pick a sort-heavy plan for combined filters.
            sqlx::query("PRAGMA optimize=0x10002")
                .execute(&write)
                .await?;
            // SQLite connections keep the planner statistics they loaded when they opened;
            // recycling them lets reads pick up fresh statistics (see `Store::optimize`).
            let read = SqlitePoolOptions::new()
                .max_connections(config.max_connections)
                .acquire_timeout(config.acquire_timeout)
                .test_before_acquire(false)
                .idle_timeout(None)
                .max_lifetime(None)
                .before_acquire(|_, meta| {
                    Box::pin(async move { Ok(meta.age < SQLITE_READER_LIFETIME) })
                })
                .connect_with(options.read_only(true))
                .await?;
            Db::Sqlite { read, write }
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)?;
            // A connection is pinged before use only when it sat idle a while (it may have been
            // cut meanwhile): pinging every one doubled the round trips of a busy server.
            let pool = PgPoolOptions::new()
                .max_connections(config.max_connections)
                .acquire_timeout(config.acquire_timeout)
                .test_before_acquire(false)
                .idle_timeout(None)
                .max_lifetime(None)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.age > POSTGRES_LIFETIME {
                            return Ok(false);
                        }
                        if meta.idle_for > IDLE_BEFORE_PING {
                            conn.ping().await?;
                        }
                        Ok(true)
                    })
                })
                .connect_with(options)
                .await?;
            POSTGRES_MIGRATIONS.run(&pool).await?;
            Db::Postgres(pool)
        } else {
            return Err(ConnectError::UnknownScheme(url.to_owned()));
        };
        Ok(db)
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite { .. } => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    /// A pooled connection for reads.
    pub async fn read(&self) -> Result<Conn, sqlx::Error> {
        count_acquire();
        Ok(match self {
            Db::Sqlite { read, .. } => Conn::Sqlite(read.acquire().await?),
            Db::Postgres(pool) => Conn::Postgres(pool.acquire().await?),
        })
    }

    /// A read-only transaction that sees one consistent snapshot of the whole database while
    /// writers carry on: SQLite's WAL read transaction, PostgreSQL's `REPEATABLE READ`.
    pub async fn snapshot(&self) -> Result<Tx, sqlx::Error> {
        count_acquire();
        Ok(match self {
            Db::Sqlite { read, .. } => Tx::Sqlite(read.begin().await?),
            Db::Postgres(pool) => Tx::Postgres(
                pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?,
            ),
        })
    }

    /// Starts a write transaction.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        count_acquire();
        Ok(match self {
            Db::Sqlite { write, .. } => Tx::Sqlite(write.begin().await?),
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// (pool, open connections, idle connections) of each pool.
    pub fn pool_usage(&self) -> Vec<(&'static str, u32, usize)> {
        match self {
            Db::Sqlite { read, write } => vec![
                ("read", read.size(), read.num_idle()),
                ("write", write.size(), write.num_idle()),
            ],
            Db::Postgres(pool) => vec![("main", pool.size(), pool.num_idle())],
        }
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite { read, write } => {
                read.close().await;
                write.close().await;
            }
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

pub enum Conn {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

impl Conn {
    pub fn exec(&mut self) -> Exec<'_> {
        match self {
            Conn::Sqlite(c) => Exec::Sqlite(&mut *c),
            Conn::Postgres(c) => Exec::Postgres(&mut *c),
        }
    }

    pub async fn ping(&mut self) -> Result<(), sqlx::Error> {
        match self {
            Conn::Sqlite(c) => c.ping().await,
            Conn::Postgres(c) => c.ping().await,
        }
    }
}

/// Anything queries can run on: a pooled connection or an open transaction.
pub trait Executes: Send {
    fn exec(&mut self) -> Exec<'_>;
}

impl Executes for Conn {
    fn exec(&mut self) -> Exec<'_> {
        Conn::exec(self)
    }
}

impl Executes for Tx {
    fn exec(&mut self) -> Exec<'_> {
        Tx::exec(self)
    }
}

pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    pub fn exec(&mut self) -> Exec<'_> {
        match self {
            Tx::Sqlite(t) => Exec::Sqlite(&mut *t),
            Tx::Postgres(t) => Exec::Postgres(&mut *t),
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Tx::Sqlite(_) => Dialect::Sqlite,
            Tx::Postgres(_) => Dialect::Postgres,
        }
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
    }
}

/// Runs queries on one connection, whichever driver it belongs to.
pub enum Exec<'c> {
    Sqlite(&'c mut SqliteConnection),
    Postgres(&'c mut PgConnection),
}

/// Binds `args` in order to a query of either driver.
macro_rules! bound {
    // SQLite's: anonymous placeholders (see `placeholders`).
    (sqlite: $sql:expr, $args:expr, $query:path) => {{
        let (sql, args) = placeholders::anonymous($sql, $args);
        bound!(sql, args, $query)
    }};
    ($sql:expr, $args:expr, $query:path) => {{
        let mut q = $query(AssertSqlSafe($sql));
        for arg in $args {
            q = match arg {
                Value::Int(v) => q.bind(v),
                Value::Text(v) => q.bind(v),
                Value::Bool(v) => q.bind(v),
                Value::Date(v) => q.bind(v),
                Value::Time(v) => q.bind(v),
            };
        }
        q
    }};
}

impl Exec<'_> {
    pub async fn execute(
        self,
        sql: impl Into<String>,
        args: Vec<Value>,
    ) -> Result<u64, sqlx::Error> {
        let sql = sql.into();
        Ok(match self {
            Exec::Sqlite(c) => bound!(sqlite: sql, args, sqlx::query)
                .execute(c)
                .await?
                .rows_affected(),
            Exec::Postgres(c) => bound!(sql, args, sqlx::query)
                .execute(c)
                .await?
                .rows_affected(),
        })
    }

    pub async fn fetch_all<T: Row>(
        self,
        sql: impl Into<String>,
        args: Vec<Value>,
    ) -> Result<Vec<T>, sqlx::Error> {
        let sql = sql.into();
        match self {
            Exec::Sqlite(c) => bound!(sqlite: sql, args, sqlx::query_as).fetch_all(c).await,
            Exec::Postgres(c) => bound!(sql, args, sqlx::query_as).fetch_all(c).await,
        }
    }

    pub async fn fetch_optional<T: Row>(
        self,
        sql: impl Into<String>,
        args: Vec<Value>,
    ) -> Result<Option<T>, sqlx::Error> {
        let sql = sql.into();
        match self {
            Exec::Sqlite(c) => {
                bound!(sqlite: sql, args, sqlx::query_as)
                    .fetch_optional(c)
                    .await
            }
            Exec::Postgres(c) => bound!(sql, args, sqlx::query_as).fetch_optional(c).await,
        }
    }

    /// Every row of a query whose columns have the types `types`, as [`Value`]s.
    pub async fn fetch_values(
        self,
        sql: impl Into<String>,
        args: Vec<Value>,
        types: &[Type],
    ) -> Result<Vec<Vec<Value>>, sqlx::Error> {
        let sql = sql.into();
        match self {
            Exec::Sqlite(c) => bound!(sqlite: sql, args, sqlx::query)
                .fetch_all(c)
                .await?
                .iter()
                .map(|row| (0..types.len()).map(|i| decode(row, i, types[i])).collect())
                .collect(),
            Exec::Postgres(c) => bound!(sql, args, sqlx::query)
                .fetch_all(c)
                .await?
                .iter()
                .map(|row| (0..types.len()).map(|i| decode(row, i, types[i])).collect())
                .collect(),
        }
    }

    pub async fn fetch_one<T: Row>(
        self,
        sql: impl Into<String>,
        args: Vec<Value>,
    ) -> Result<T, sqlx::Error> {
        let sql = sql.into();
        match self {
            Exec::Sqlite(c) => bound!(sqlite: sql, args, sqlx::query_as).fetch_one(c).await,
            Exec::Postgres(c) => bound!(sql, args, sqlx::query_as).fetch_one(c).await,
        }
    }
}

/// Builds a SQL statement and its arguments together, numbering placeholders as it goes.
#[derive(Debug, Default)]
pub struct SqlBuf {
    pub sql: String,
    pub args: Vec<Value>,
}

impl SqlBuf {
    pub fn new(sql: &str) -> Self {
        SqlBuf {
            sql: sql.to_owned(),
            args: Vec::new(),
        }
    }

    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn arg(&mut self, value: impl Into<Value>) -> &mut Self {
        self.args.push(value.into());
        let n = self.args.len();
        self.sql.push_str(&format!("${n}"));
        self
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub fn like_escape(needle: &str) -> String {
    let mut out = String::with_capacity(needle.len() + 2);
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
