//! Reading a backup: checked line by line before anything is touched, then restored in one
//! transaction.

use super::{BackupError, FORMAT, Summary, TABLES, Table, VERSION, from_json, hex, io_error};
use crate::db::{Dialect, SqlBuf, Tx, Value, args};
use crate::store::{Audited, ChangeContext, Store, record_audit};
use lm_protocol::AuditAction;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

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
    lines: std::io::Lines<Box<dyn BufRead + Send>>,
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
        let mut file = BufReader::new(file);
        // gzip's magic number: a compressed backup (the default); otherwise the JSON lines
        // of an uncompressed one (as older lm-servers wrote them).
        let compressed = file
            .fill_buf()
            .map_err(io_error(path))?
            .starts_with(&[0x1f, 0x8b]);
        let lines: Box<dyn BufRead + Send> = if compressed {
            Box::new(BufReader::new(flate2::bufread::GzDecoder::new(file)))
        } else {
            Box::new(file)
        };
        let mut reader = Reader {
            path: path.to_owned(),
            lines: lines.lines(),
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
        let line = line.map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                // A compressed file cut short.
                BackupError::Truncated {
                    path: self.path.clone(),
                    lines: self.number - 1,
                }
            } else {
                self.invalid(format!("cannot be read: {e}"))
            }
        })?;
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
    // Released holders' tombstones describe a history the restore replaces; every cursor
    // starts again from 0 anyway.
    let derived = ["license_owners", "released_assignments"];
    for table in derived.into_iter().chain(replaced) {
        tx.exec()
            .execute(format!("DELETE FROM {table}"), vec![])
            .await?;
    }
    let mut pending: Vec<Vec<Value>> = Vec::new();
    let mut pending_table = 0;
    // Rows a statement: as many as the database takes well (`Dialect::rows_per_statement`:
    // a few on SQLite, hundreds on PostgreSQL, whose round trips dominated).
    let dialect = tx.dialect();
    let batch = |table: usize| dialect.rows_per_statement(TABLES[table].columns.len());
    // Every restored revision is lifted above what either side handed out (see below): as
    // the rows go in — an UPDATE of each table afterwards wrote every row twice, most of
    // a restore's time on PostgreSQL.
    let mut floors: HashMap<String, i64> = HashMap::new();
    while let Some((table, mut values)) = reader.next_row()? {
        lift_revision(&TABLES[table], &mut values, &handed_out, &mut floors);
        if table != pending_table || pending.len() >= batch(pending_table) {
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
        // Above every revision handed out before, by this database or the backup's: a
        // daemon's cursor from either side is then behind the new head and below the
        // purged horizon, so it resyncs rather than skips changes.
        let floor = floors.get(&org).copied().unwrap_or(0);
        let head = revision + floor + 1;
        tx.exec()
            .execute(
                "UPDATE orgs SET revision = $2, purged_through = $3 WHERE id = $1",
                args![org.as_str(), head, floor + 1],
            )
            .await?;
        let ctx = ChangeContext {
            org: org.clone(),
            actor: actor.to_owned(),
            request_id: None,
            client_addr: None,
        };
        let file = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let restored = json!({"backup_made": summary.created_at, "rows": summary.rows});
        record_audit(
            &mut tx,
            &org,
            &ctx,
            Audited {
                action: AuditAction::Restore,
                record_type: "backup",
                record_id: &file,
                before: None,
                after: Some(restored.to_string()),
            },
        )
        .await?;
        heads.push((org, head));
    }
    store.commit_announcing(tx, &heads).await?;
    Ok(summary)
}

/// The tables whose rows carry a feed revision, lifted by their organization's floor.
const LIFTED: [&str; 3] = ["licenses", "assignments", "users"];

/// Lifts the revision of a row of `table` by its organization's floor: the higher of the
/// organization's revision in the backup and here before the restore. An organization's row
/// comes first (its table is the first) and sets the floor.
fn lift_revision(
    table: &Table,
    values: &mut [Value],
    handed_out: &HashMap<String, i64>,
    floors: &mut HashMap<String, i64>,
) {
    let column = |name: &str| table.columns.iter().position(|(n, _)| *n == name);
    if table.name == "orgs" {
        if let (Some(Value::Text(Some(org))), Some(Value::Int(Some(revision)))) = (
            column("id").and_then(|i| values.get(i)),
            column("revision").and_then(|i| values.get(i)),
        ) {
            let floor = (*revision).max(*handed_out.get(org).unwrap_or(&0));
            floors.insert(org.clone(), floor);
        }
        return;
    }
    if !LIFTED.contains(&table.name) {
        return;
    }
    let (Some(org), Some(at)) = (column("org_id"), column("revision")) else {
        return;
    };
    let floor = match values.get(org) {
        Some(Value::Text(Some(org))) => floors.get(org).copied().unwrap_or(0),
        _ => 0,
    };
    if let Some(Value::Int(Some(revision))) = values.get_mut(at) {
        *revision += floor;
    }
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
