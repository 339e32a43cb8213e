//! Writing a backup: one snapshot, page by page, hashed as it is written.

use super::{BackupError, FORMAT, Summary, TABLES, VERSION, hex, io_error, to_json};
use crate::db::{Db, SqlBuf, Value};
use chrono::Utc;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Rows read per query while backing up.
const READ_BATCH: i64 = 5_000;

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

/// Writes a backup to `path`: owner-only, written beside it and renamed into place when
/// complete, so `path` is never a partial backup.
pub async fn backup_to(db: &Db, path: &Path) -> Result<Summary, BackupError> {
    let partial = path.with_extension("partial");
    let file = crate::private_files::create_file(&partial).map_err(io_error(&partial))?;
    // Compressed: the JSON lines inside (and their checksum) are what they always were.
    let mut out = flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::fast());
    let result = write_to(db, &mut out).await;
    let finished = result.and_then(|summary| {
        let file = out
            .finish()
            .map_err(io_error(&partial))?
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
