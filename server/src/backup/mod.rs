//! Backups: a logical, checksummed copy of the whole database, the same on SQLite and
//! PostgreSQL (so a backup of one restores into the other).
//!
//! The file is JSON Lines:
//! 1. a header naming the format, when it was made, and every table with its columns;
//! 2. one line per row, `{"t": table, "r": [values in column order]}`, tables in the
//!    order of [`TABLES`] (parents before children);
//! 3. a trailer `{"end": {"rows": {table: count}, "sha256": hex}}`, the SHA-256 of every
//!    byte before it.
//!
//! A backup is read from one snapshot transaction, so it is consistent while the server
//! keeps serving. A restore reads the file twice: once to verify everything (header, every
//! value's type, the row counts and the checksum) before touching the database, and once to
//! load it in a single transaction that re-checks the checksum before it commits. A file that
//! is truncated, corrupt or of another schema is refused and the database is left as it was.
//!
//! The file is gzip-compressed (the checksum is of the JSON lines inside); an uncompressed
//! one, as older lm-servers wrote them, restores too, and an older lm-server refuses a
//! compressed one as "not an lm-server backup".
//!
//! The file holds the server's signing keys and the product keys: it is written owner-only.
//!
//! One job per file: `tables` says what is backed up, `write` writes a backup, `read` checks
//! and restores one, `schedule` makes them periodically and prunes old ones.

mod read;
mod schedule;
mod tables;
mod write;

pub use read::{restore, verify};
pub use schedule::{every, prune};
pub use tables::{TABLES, Table};
pub use write::backup_to;

use crate::db::{Type, Value};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const FORMAT: &str = "lm-backup";
const VERSION: u64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{path} is not a usable backup: line {line}: {problem}")]
    Invalid {
        path: PathBuf,
        line: usize,
        problem: String,
    },
    #[error(
        "{path} is truncated: it ends after line {lines} without the closing checksum line; nothing was restored"
    )]
    Truncated { path: PathBuf, lines: usize },
    #[error(
        "{path} is corrupt: its content does not match the checksum it was written with; nothing was restored"
    )]
    Checksum { path: PathBuf },
    #[error("restoring: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub created_at: String,
    pub database: String,
    pub rows: BTreeMap<String, u64>,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rows: Vec<String> = self
            .rows
            .iter()
            .map(|(table, n)| format!("{n} {table}"))
            .collect();
        write!(
            f,
            "made {} from {}: {}",
            self.created_at,
            self.database,
            rows.join(", ")
        )
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_owned(),
        source,
    }
}

fn to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Int(v) => json!(v),
        Value::Text(v) => json!(v),
        Value::Bool(v) => json!(v),
        Value::Date(v) => json!(v.map(|d| d.to_string())),
        Value::Time(v) => json!(v.map(|t| t.to_rfc3339())),
    }
}

fn from_json(value: &serde_json::Value, ty: Type) -> Result<Value, String> {
    use serde_json::Value as J;
    let wrong = || format!("{value} is not {ty:?}");
    Ok(match (ty, value) {
        (Type::Bool, J::Bool(b)) => Value::Bool(*b),
        (Type::Bool, _) => return Err(wrong()),
        (_, J::Null) => Value::null(ty),
        (Type::Int, J::Number(n)) => Value::Int(Some(n.as_i64().ok_or_else(wrong)?)),
        (Type::Text, J::String(s)) => Value::Text(Some(s.clone())),
        (Type::Date, J::String(s)) => Value::Date(Some(
            s.parse::<NaiveDate>().map_err(|e| format!("{s}: {e}"))?,
        )),
        (Type::Time, J::String(s)) => Value::Time(Some(
            DateTime::parse_from_rfc3339(s)
                .map_err(|e| format!("{s}: {e}"))?
                .with_timezone(&Utc),
        )),
        _ => return Err(wrong()),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
