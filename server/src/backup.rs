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
//! The file holds the server's signing keys and the product keys: it is written owner-only.

use crate::db::{Db, Dialect, SqlBuf, Tx, Type, Value, args};
use crate::store::Store;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

const FORMAT: &str = "lm-backup";
const VERSION: u64 = 1;
/// Rows read per query while backing up.
const READ_BATCH: i64 = 5_000;
/// Rows inserted per statement while restoring. Measured on SQLite (40,000 licenses): 10 and
/// 1 take 5 s, 100 takes 10 s (binding thousands of arguments to one statement costs more
/// than it saves); 10 keeps PostgreSQL's round trips down.
const INSERT_BATCH: usize = 10;

/// A table as the backup sees it: its columns in order, and the columns that are unique
/// together (its primary key), which it is read in the order of, page by page.
pub struct Table {
    pub name: &'static str,
    key: &'static [&'static str],
    columns: &'static [(&'static str, Type)],
    /// A restore merges the backup's rows into this table (keeping rows made since) instead
    /// of replacing its contents.
    merged: bool,
}

use Type::{Bool, Date, Int, Text, Time};

/// Every table that holds what an organization owns, parents before children. Sessions and
/// one-time codes (device and authorization codes, refresh tokens, revoked token ids) are not
/// kept: a restore signs everyone out of nothing they could not sign in to again.
/// `license_owners` is not kept either: it is rebuilt from the licenses' owners.
pub const TABLES: [Table; 13] = [
    Table {
        name: "orgs",
        merged: false,
        key: &["id"],
        columns: &[
            ("id", Text),
            ("revision", Int),
            ("created_at", Time),
            ("purged_through", Int),
            ("self_purchase_max_seats", Int),
        ],
    },
    Table {
        name: "users",
        merged: false,
        key: &["name"],
        columns: &[
            ("name", Text),
            ("org_id", Text),
            ("role", Text),
            ("disabled", Bool),
            ("created_at", Time),
            ("password_hash", Text),
            ("failed_logins", Int),
            ("locked_until", Time),
            ("totp_secret", Text),
            ("totp_last_step", Int),
        ],
    },
    Table {
        name: "signing_keys",
        merged: true,
        key: &["kid"],
        columns: &[
            ("kid", Text),
            ("algorithm", Text),
            ("private_pkcs8", Text),
            ("public_key", Text),
            ("created_at", Time),
            ("retired_at", Time),
        ],
    },
    Table {
        name: "oauth_clients",
        merged: false,
        key: &["id"],
        columns: &[
            ("id", Text),
            ("name", Text),
            ("secret_hash", Text),
            ("redirect_uris", Text),
            ("grants", Text),
            ("org_id", Text),
            ("role", Text),
            ("created_at", Time),
            ("removed_at", Time),
        ],
    },
    Table {
        name: "api_keys",
        merged: false,
        key: &["id"],
        columns: &[
            ("id", Text),
            ("secret_hash", Text),
            ("user_name", Text),
            ("label", Text),
            ("created_at", Time),
            ("expires_at", Time),
            ("revoked_at", Time),
        ],
    },
    Table {
        name: "hierarchy_levels",
        merged: false,
        key: &["org_id", "name"],
        columns: &[("org_id", Text), ("name", Text), ("level", Int)],
    },
    Table {
        name: "entities",
        merged: false,
        key: &["org_id", "type", "eid"],
        columns: &[
            ("org_id", Text),
            ("type", Text),
            ("eid", Text),
            ("name", Text),
        ],
    },
    Table {
        name: "memberships",
        merged: false,
        key: &[
            "org_id",
            "member_type",
            "member_eid",
            "parent_type",
            "parent_eid",
        ],
        columns: &[
            ("org_id", Text),
            ("member_type", Text),
            ("member_eid", Text),
            ("parent_type", Text),
            ("parent_eid", Text),
        ],
    },
    Table {
        name: "products",
        merged: false,
        key: &["org_id", "eid"],
        columns: &[
            ("org_id", Text),
            ("eid", Text),
            ("name", Text),
            ("description", Text),
            ("permissions", Text),
            ("created_at", Time),
            ("updated_at", Time),
        ],
    },
    Table {
        name: "licenses",
        merged: false,
        key: &["id"],
        columns: &[
            ("id", Text),
            ("org_id", Text),
            ("product", Text),
            ("name", Text),
            ("name_key", Text),
            ("kind", Text),
            ("vendor", Text),
            ("vendor_key", Text),
            ("cost_amount", Int),
            ("cost_currency", Text),
            ("seats", Int),
            ("seats_sort", Int),
            ("seats_used", Int),
            ("added", Date),
            ("expires", Date),
            ("expires_sort", Date),
            ("owner_level", Text),
            ("owner_eids", Text),
            ("license_key", Text),
            ("notes", Text),
            ("assignments", Text),
            ("search", Text),
            ("version", Int),
            ("revision", Int),
            ("created_at", Time),
            ("updated_at", Time),
            ("deleted_at", Time),
            ("deleted_by", Text),
        ],
    },
    Table {
        name: "assignments",
        merged: false,
        key: &["id"],
        columns: &[
            ("id", Text),
            ("org_id", Text),
            ("license_id", Text),
            ("employee", Text),
            ("device", Text),
            ("since", Time),
            ("redeemed", Bool),
            ("last_seen", Time),
        ],
    },
    Table {
        name: "purchases",
        merged: false,
        key: &["license_id"],
        columns: &[
            ("license_id", Text),
            ("org_id", Text),
            ("purchaser", Text),
            ("hierarchy_provider", Text),
            ("valid_from", Date),
            ("created_at", Time),
        ],
    },
    Table {
        name: "audit",
        merged: true,
        key: &["id"],
        columns: &[
            ("id", Int),
            ("org_id", Text),
            ("at", Time),
            ("actor", Text),
            ("action", Text),
            ("record_type", Text),
            ("record_id", Text),
            ("before", Text),
            ("after", Text),
            ("request_id", Text),
            ("client_addr", Text),
        ],
    },
];

impl Table {
    fn column_list(&self) -> String {
        let names: Vec<&str> = self.columns.iter().map(|(n, _)| *n).collect();
        names.join(", ")
    }

    fn types(&self) -> Vec<Type> {
        self.columns.iter().map(|(_, t)| *t).collect()
    }

    /// Where the key's columns are in a row.
    fn key_indexes(&self) -> Vec<usize> {
        self.key
            .iter()
            .map(|k| {
                self.columns
                    .iter()
                    .position(|(n, _)| n == k)
                    .expect("a key column is a column")
            })
            .collect()
    }
}

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

/// A writer that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Hashing<W> {
    fn line(&mut self, value: &serde_json::Value) -> std::io::Result<()> {
        let mut bytes = serde_json::to_vec(value)?;
        bytes.push(b'\n');
        self.hash.update(&bytes);
        self.inner.write_all(&bytes)
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

/// Writes a consistent backup of the whole database to `out`.
async fn write_to(db: &Db, out: impl Write) -> Result<Summary, BackupError> {
    let mut out = Hashing {
        inner: out,
        hash: Sha256::new(),
    };
    let created_at = Utc::now().to_rfc3339();
    let database = db.dialect().as_str().to_owned();
    let tables: serde_json::Map<String, serde_json::Value> = TABLES
        .iter()
        .map(|t| {
            let names: Vec<&str> = t.columns.iter().map(|(n, _)| *n).collect();
            (t.name.to_owned(), json!(names))
        })
        .collect();
    let io = |e: std::io::Error| BackupError::Io {
        path: PathBuf::from("backup"),
        source: e,
    };
    out.line(&json!({
        "format": FORMAT,
        "version": VERSION,
        "created_at": created_at,
        "database": database,
        "tables": tables,
    }))
    .map_err(io)?;
    let mut tx = db.snapshot().await?;
    let mut rows = BTreeMap::new();
    for table in &TABLES {
        let types = table.types();
        let key = table.key_indexes();
        let key_list = table.key.join(", ");
        let mut after: Option<Vec<Value>> = None;
        let mut count = 0u64;
        loop {
            let mut q = SqlBuf::new(&format!(
                "SELECT {} FROM {}",
                table.column_list(),
                table.name
            ));
            if let Some(after) = after.take() {
                // Keyset paging, also over a key of several columns (a row value).
                q.push(&format!(" WHERE ({key_list}) > ("));
                for (i, value) in after.into_iter().enumerate() {
                    if i > 0 {
                        q.push(", ");
                    }
                    q.arg(value);
                }
                q.push(")");
            }
            q.push(&format!(" ORDER BY {key_list} LIMIT "))
                .arg(READ_BATCH);
            let page = tx.exec().fetch_values(q.sql, q.args, &types).await?;
            for row in &page {
                let values: Vec<serde_json::Value> = row.iter().map(to_json).collect();
                out.line(&json!({"t": table.name, "r": values}))
                    .map_err(io)?;
            }
            count += page.len() as u64;
            if page.len() < READ_BATCH as usize {
                break;
            }
            after = page
                .last()
                .map(|row| key.iter().map(|&i| row[i].clone()).collect());
        }
        rows.insert(table.name.to_owned(), count);
    }
    tx.commit().await?;
    let sha256 = hex(&out.hash.clone().finalize());
    out.inner
        .write_all(format!("{}\n", json!({"end": {"rows": rows, "sha256": sha256}})).as_bytes())
        .map_err(io)?;
    out.inner.flush().map_err(io)?;
    Ok(Summary {
        created_at,
        database,
        rows,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes a backup to `path`: owner-only, written beside it and renamed into place when
/// complete, so `path` is never a partial backup.
pub async fn backup_to(db: &Db, path: &Path) -> Result<Summary, BackupError> {
    let partial = path.with_extension("partial");
    let file = crate::private_files::create_file(&partial).map_err(io_error(&partial))?;
    let mut out = BufWriter::new(file);
    let result = write_to(db, &mut out).await;
    let finished = result.and_then(|summary| {
        let file = out
            .into_inner()
            .map_err(|e| e.into_error())
            .map_err(io_error(&partial))?;
        file.sync_all().map_err(io_error(&partial))?;
        std::fs::rename(&partial, path).map_err(io_error(path))?;
        Ok(summary)
    });
    if finished.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    finished.map_err(|e| match e {
        BackupError::Io { source, .. } => BackupError::Io {
            path: path.to_owned(),
            source,
        },
        other => other,
    })
}

/// One parsed line of a backup file.
enum Line {
    Row {
        table: usize,
        values: Vec<Value>,
    },
    End {
        rows: BTreeMap<String, u64>,
        sha256: String,
    },
}

/// Reads a backup file line by line, checking each line and the checksum as it goes.
struct Reader {
    path: PathBuf,
    lines: std::io::Lines<BufReader<std::fs::File>>,
    number: usize,
    hash: Sha256,
    summary: Summary,
    /// The index in [`TABLES`] of the table rows are being read for; tables come in order.
    table: usize,
    /// How many columns each table has in the backup: a backup made before a migration added
    /// (nullable) columns at the end of a table lacks them, and they restore as NULL.
    widths: Vec<usize>,
    counts: BTreeMap<String, u64>,
}

impl Reader {
    fn open(path: &Path) -> Result<Reader, BackupError> {
        let file = std::fs::File::open(path).map_err(io_error(path))?;
        let mut reader = Reader {
            path: path.to_owned(),
            lines: BufReader::new(file).lines(),
            number: 0,
            hash: Sha256::new(),
            summary: Summary {
                created_at: String::new(),
                database: String::new(),
                rows: BTreeMap::new(),
            },
            table: 0,
            widths: Vec::new(),
            counts: BTreeMap::new(),
        };
        let header = reader
            .next_json()?
            .ok_or_else(|| reader.invalid("the file is empty".into()))?;
        reader.check_header(&header)?;
        Ok(reader)
    }

    fn invalid(&self, problem: String) -> BackupError {
        BackupError::Invalid {
            path: self.path.clone(),
            line: self.number,
            problem,
        }
    }

    /// The next line as JSON, hashed; `None` at the end of the file.
    fn next_json(&mut self) -> Result<Option<serde_json::Value>, BackupError> {
        let Some(line) = self.lines.next() else {
            return Ok(None);
        };
        self.number += 1;
        let line = line.map_err(|e| self.invalid(format!("cannot be read: {e}")))?;
        let value: serde_json::Value = serde_json::from_str(&line).map_err(|e| {
            if e.is_eof() && self.number > 1 {
                // A record cut short: the file ends in the middle of a line.
                BackupError::Truncated {
                    path: self.path.clone(),
                    lines: self.number - 1,
                }
            } else {
                self.invalid(format!("is not a backup record: {e}"))
            }
        })?;
        if value.get("end").is_none() {
            self.hash.update(line.as_bytes());
            self.hash.update(b"\n");
        }
        Ok(Some(value))
    }

    fn check_header(&mut self, header: &serde_json::Value) -> Result<(), BackupError> {
        if header["format"] != FORMAT {
            return Err(self.invalid("this is not an lm-server backup".into()));
        }
        if header["version"] != VERSION {
            return Err(self.invalid(format!(
                "backup format version {} is not the version {VERSION} this lm-server reads",
                header["version"]
            )));
        }
        for table in &TABLES {
            if header["tables"].get(table.name).is_none() {
                // A backup from before the table existed: it restores empty.
                self.widths.push(0);
                continue;
            }
            let expected: Vec<&str> = table.columns.iter().map(|(n, _)| *n).collect();
            let found: Vec<&str> = header["tables"][table.name]
                .as_array()
                .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
                .unwrap_or_default();
            let earlier_schema = !found.is_empty() && expected.starts_with(&found);
            if !earlier_schema {
                return Err(self.invalid(format!(
                    "table {} has columns {} in the backup; this lm-server has {}",
                    table.name,
                    header["tables"][table.name],
                    json!(expected)
                )));
            }
            self.widths.push(found.len());
        }
        self.summary.created_at = header["created_at"].as_str().unwrap_or("?").to_owned();
        self.summary.database = header["database"].as_str().unwrap_or("?").to_owned();
        Ok(())
    }

    /// The next row, or `None` after a verified trailer.
    fn next_row(&mut self) -> Result<Option<(usize, Vec<Value>)>, BackupError> {
        match self.next_line()? {
            Line::Row { table, values } => Ok(Some((table, values))),
            Line::End { rows, sha256 } => {
                if rows != self.counts_of_every_table() {
                    return Err(self.invalid(format!(
                        "the trailer counts {rows:?} rows but the file holds {:?}",
                        self.counts
                    )));
                }
                if sha256 != hex(&self.hash.clone().finalize()) {
                    return Err(BackupError::Checksum {
                        path: self.path.clone(),
                    });
                }
                if self.lines.next().is_some() {
                    self.number += 1;
                    return Err(self.invalid("there is data after the closing line".into()));
                }
                self.summary.rows = rows;
                Ok(None)
            }
        }
    }

    /// The rows read of every table the backup has (one from before a table existed lacks it).
    fn counts_of_every_table(&self) -> BTreeMap<String, u64> {
        TABLES
            .iter()
            .zip(&self.widths)
            .filter(|(_, width)| **width > 0)
            .map(|(t, _)| (t.name.to_owned(), *self.counts.get(t.name).unwrap_or(&0)))
            .collect()
    }

    fn next_line(&mut self) -> Result<Line, BackupError> {
        let Some(value) = self.next_json()? else {
            return Err(BackupError::Truncated {
                path: self.path.clone(),
                lines: self.number,
            });
        };
        if let Some(end) = value.get("end") {
            let rows = serde_json::from_value(end["rows"].clone())
                .map_err(|e| self.invalid(format!("bad row counts: {e}")))?;
            let sha256 = end["sha256"].as_str().unwrap_or_default().to_owned();
            return Ok(Line::End { rows, sha256 });
        }
        let name = value["t"].as_str().unwrap_or_default();
        let Some(index) = TABLES.iter().position(|t| t.name == name) else {
            return Err(self.invalid(format!("unknown table `{name}`")));
        };
        if index < self.table {
            return Err(self.invalid(format!(
                "a row of {name} after rows of {}",
                TABLES[self.table].name
            )));
        }
        self.table = index;
        let table = &TABLES[index];
        let raw = value["r"].as_array().map(Vec::as_slice).unwrap_or_default();
        if raw.len() != self.widths[index] {
            return Err(self.invalid(format!(
                "a row of {name} has {} values, not {}",
                raw.len(),
                self.widths[index]
            )));
        }
        let mut values = Vec::with_capacity(table.columns.len());
        for (v, (column, ty)) in raw.iter().zip(table.columns) {
            values.push(
                from_json(v, *ty).map_err(|e| self.invalid(format!("{name}.{column}: {e}")))?,
            );
        }
        *self.counts.entry(name.to_owned()).or_default() += 1;
        Ok(Line::Row {
            table: index,
            values,
        })
    }
}

/// Reads the whole backup at `path` and checks it; changes nothing.
pub fn verify(path: &Path) -> Result<Summary, BackupError> {
    let mut reader = Reader::open(path)?;
    while reader.next_row()?.is_some() {}
    Ok(reader.summary)
}

/// Replaces the contents of the database with the backup at `path`, after verifying it.
///
/// Everything is restored as it was except three things. The audit log is merged: entries
/// written since the backup stay, so the log still names whoever deleted what the restore
/// brings back. Signing keys are merged (keys made since the backup keep verifying the
/// tokens they signed). And each organization's change
/// feed moves forward, never back: the restored revisions are shifted past every revision
/// the feed has handed out, and every older cursor gets `410 Gone`, so each daemon resyncs
/// the restored inventory from scratch instead of keeping records the backup does not hold.
/// The restore is audited in each organization's log as `actor`.
pub async fn restore(store: &Store, path: &Path, actor: &str) -> Result<Summary, BackupError> {
    verify(path)?;
    let mut reader = Reader::open(path)?;
    let db = store.db();
    let mut tx = db.begin().await?;
    let handed_out: HashMap<String, i64> = tx
        .exec()
        .fetch_all("SELECT id, revision FROM orgs", vec![])
        .await?
        .into_iter()
        .collect();
    // Children before parents: the index of license owners (rebuilt below), then every
    // table replaced, in the reverse of their order.
    let replaced = TABLES.iter().rev().filter(|t| !t.merged).map(|t| t.name);
    for table in std::iter::once("license_owners").chain(replaced) {
        tx.exec()
            .execute(format!("DELETE FROM {table}"), vec![])
            .await?;
    }
    let mut pending: Vec<Vec<Value>> = Vec::new();
    let mut pending_table = 0;
    while let Some((table, values)) = reader.next_row()? {
        if table != pending_table || pending.len() >= INSERT_BATCH {
            insert_rows(&mut tx, &TABLES[pending_table], &pending).await?;
            pending.clear();
            pending_table = table;
        }
        pending.push(values);
    }
    insert_rows(&mut tx, &TABLES[pending_table], &pending).await?;
    // Who owns each license (a class, a school) is indexed beside the licenses.
    let owners = match tx.dialect() {
        Dialect::Sqlite => {
            "INSERT INTO license_owners (license_id, org_id, owner_type, owner_eid) \
                     SELECT l.id, l.org_id, l.owner_level, j.value \
                     FROM licenses l, json_each(l.owner_eids) j \
                     WHERE l.owner_level IS NOT NULL AND l.owner_eids IS NOT NULL"
        }
        Dialect::Postgres => {
            "INSERT INTO license_owners (license_id, org_id, owner_type, owner_eid) \
                     SELECT l.id, l.org_id, l.owner_level, j.value \
                     FROM licenses l, jsonb_array_elements_text(l.owner_eids::jsonb) j \
                     WHERE l.owner_level IS NOT NULL AND l.owner_eids IS NOT NULL"
        }
    };
    tx.exec().execute(owners, vec![]).await?;
    // A purchase's identity is derived, like the owners: given again to the purchases restored.
    crate::store::seats::complete_purchase_identities_in(&mut tx).await?;
    if tx.dialect() == Dialect::Postgres {
        tx.exec()
            .execute(
                "SELECT setval(pg_get_serial_sequence('audit', 'id'), COALESCE((SELECT MAX(id) FROM audit), 0) + 1, false)",
                vec![],
            )
            .await?;
    }
    let summary = reader.summary.clone();
    let restored: Vec<(String, i64)> = tx
        .exec()
        .fetch_all("SELECT id, revision FROM orgs", vec![])
        .await?;
    let mut heads = Vec::new();
    for (org, revision) in restored {
        let floor = revision.max(*handed_out.get(&org).unwrap_or(&0));
        tx.exec()
            .execute(
                "UPDATE licenses SET revision = revision + $2 WHERE org_id = $1",
                args![org.as_str(), floor],
            )
            .await?;
        let head = revision + floor + 1;
        tx.exec()
            .execute(
                "UPDATE orgs SET revision = $2, purged_through = $3 WHERE id = $1",
                args![org.as_str(), head, floor + 1],
            )
            .await?;
        tx.exec()
            .execute(
                "INSERT INTO audit (org_id, at, actor, action, record_type, record_id, after) \
                 VALUES ($1, $2, $3, 'restore', 'backup', $4, $5)",
                args![
                    org.as_str(),
                    Utc::now(),
                    actor,
                    path.file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                    json!({"backup_made": summary.created_at, "rows": summary.rows}).to_string()
                ],
            )
            .await?;
        heads.push((org, head));
    }
    store.commit_announcing(tx, &heads).await?;
    Ok(summary)
}

async fn insert_rows(tx: &mut Tx, table: &Table, rows: &[Vec<Value>]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    // The columns the backup has: a backup from before a column was added lacks it, and
    // the column's default fills it.
    let present: Vec<&str> = table.columns[..rows[0].len()]
        .iter()
        .map(|(n, _)| *n)
        .collect();
    let mut q = SqlBuf::new(&format!(
        "INSERT INTO {} ({}) ",
        table.name,
        present.join(", ")
    ));
    if table.name == "audit" && tx.dialect() == Dialect::Postgres {
        // `audit.id` is GENERATED ALWAYS; the backup's ids keep the log's order.
        q.push("OVERRIDING SYSTEM VALUE ");
    }
    q.push("VALUES ");
    for (i, row) in rows.iter().enumerate() {
        q.push(if i == 0 { "(" } else { ", (" });
        for (j, value) in row.iter().enumerate() {
            if j > 0 {
                q.push(", ");
            }
            q.arg(value.clone());
        }
        q.push(")");
    }
    if table.merged {
        q.push(&format!(
            " ON CONFLICT ({}) DO NOTHING",
            table.key.join(", ")
        ));
    }
    tx.exec().execute(q.sql, q.args).await?;
    Ok(())
}

/// Makes a backup into `dir` every `every`, keeping the newest `keep`, until the process ends.
pub async fn every(db: Db, every: Duration, dir: PathBuf, keep: usize) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate; the first backup comes after `every`
    loop {
        ticks.tick().await;
        let name = format!("lm-{}.lmbackup", Utc::now().format("%Y%m%dT%H%M%SZ"));
        let path = dir.join(name);
        match backup_to(&db, &path).await {
            Ok(summary) => tracing::info!(path = %path.display(), %summary, "backup made"),
            Err(e) => {
                tracing::error!(error = %e, "scheduled backup failed");
                continue;
            }
        }
        if let Err(e) = prune(&dir, keep) {
            tracing::warn!(error = %e, dir = %dir.display(), "cannot remove old backups");
        }
    }
}

/// Removes all but the newest `keep` scheduled backups in `dir` (names sort by time).
pub fn prune(dir: &Path, keep: usize) -> std::io::Result<Vec<PathBuf>> {
    let mut backups: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("lm-") && n.ends_with(".lmbackup"))
        })
        .collect();
    backups.sort();
    let excess = backups.len().saturating_sub(keep);
    let removed: Vec<PathBuf> = backups.drain(..excess).collect();
    for path in &removed {
        std::fs::remove_file(path)?;
    }
    Ok(removed)
}
