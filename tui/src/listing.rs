//! Long answers of the CLI, window by window: lmd answers a list or the audit log in windows
//! that each fit one socket message, and `lm ls`, `lm export` and `lm audit` write JSON and
//! CSV as the windows arrive, so nothing has to fit in one message or in memory at once.

use crate::client::{ClientError, DaemonClient};
use lm_protocol::socket::{AuditRequest, ListRequest, MAX_LIST_LIMIT};
use lm_protocol::{AuditEntry, AuditQuery, License, LicenseFilter, Sort};
use serde::Serialize;
use std::io::Write;

/// Hands `each` every license matching `filter` in `sort` order — at most `limit` — one
/// window at a time, as lmd sends them.
pub async fn each_license<E: From<ClientError>>(
    client: &DaemonClient,
    filter: LicenseFilter,
    sort: Sort,
    limit: Option<usize>,
    mut each: impl FnMut(Vec<License>) -> Result<(), E>,
) -> Result<(), E> {
    let mut offset = 0;
    loop {
        let want = limit.map_or(MAX_LIST_LIMIT, |l| (l - offset).min(MAX_LIST_LIMIT));
        if want == 0 {
            return Ok(());
        }
        let window = client
            .list(ListRequest {
                filter: filter.clone(),
                sort,
                offset,
                limit: want,
                within: None,
            })
            .await?;
        // lmd may send fewer than asked for, to keep within a message: the total says when
        // everything has come.
        let got = window.items.len();
        offset += got;
        each(window.items)?;
        if got == 0 || offset >= window.total {
            return Ok(());
        }
    }
}

/// Hands `each` the audit entries `query` selects, newest first, up to `query.limit`, one
/// page at a time.
pub async fn each_audit_entry<E: From<ClientError>>(
    client: &DaemonClient,
    mut query: AuditQuery,
    mut each: impl FnMut(Vec<AuditEntry>) -> Result<(), E>,
) -> Result<(), E> {
    let mut left = query.limit;
    while left > 0 {
        query.limit = left.min(AuditQuery::MAX_LIMIT);
        let page = client
            .audit(AuditRequest {
                query: query.clone(),
            })
            .await?;
        left = left.saturating_sub(page.items.len() as u32);
        each(page.items)?;
        match page.next.and_then(|next| next.parse().ok()) {
            Some(before) => query.before_id = Some(before),
            None => return Ok(()),
        }
    }
    Ok(())
}

/// A JSON array written item by item, formatted as `serde_json::to_writer_pretty` formats a
/// whole list.
pub struct JsonArray<W: Write> {
    out: W,
    written: usize,
}

impl<W: Write> JsonArray<W> {
    pub fn new(out: W) -> Self {
        JsonArray { out, written: 0 }
    }

    pub fn push(&mut self, item: &impl Serialize) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(item)?;
        self.out
            .write_all(if self.written == 0 { b"[\n" } else { b",\n" })?;
        for (i, line) in text.lines().enumerate() {
            if i > 0 {
                self.out.write_all(b"\n")?;
            }
            write!(self.out, "  {line}")?;
        }
        self.written += 1;
        Ok(())
    }

    /// Closes the array (an empty one is `[]`) and ends the line.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.out
            .write_all(if self.written == 0 { b"[]\n" } else { b"\n]\n" })?;
        self.out.flush()
    }
}

/// Licenses as CSV in the server's import/export format (`lm_protocol::csv`), written as they
/// come, so that what `lm ls --csv` or `lm export` writes imports back unchanged.
pub struct CsvLicenses<W: Write> {
    csv: ::csv::Writer<W>,
}

impl<W: Write> CsvLicenses<W> {
    pub fn new(out: W) -> ::csv::Result<Self> {
        let mut csv = ::csv::Writer::from_writer(out);
        lm_protocol::csv::write_header(&mut csv)?;
        Ok(CsvLicenses { csv })
    }

    pub fn push(&mut self, license: &License) -> ::csv::Result<()> {
        lm_protocol::csv::write_license(&mut self.csv, license)
    }

    pub fn finish(mut self) -> std::io::Result<()> {
        self.csv.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_array_written_item_by_item_reads_as_one_written_whole() {
        for items in [
            vec![],
            vec![serde_json::json!({"a": 1})],
            vec![
                serde_json::json!({"a": [1, 2], "b": {"c": "x\ny"}}),
                serde_json::json!(3),
            ],
        ] {
            let mut out = Vec::new();
            let mut array = JsonArray::new(&mut out);
            for item in &items {
                array.push(item).unwrap();
            }
            array.finish().unwrap();
            let mut whole = serde_json::to_vec_pretty(&items).unwrap();
            whole.push(b'\n');
            assert_eq!(
                String::from_utf8(out).unwrap(),
                String::from_utf8(whole).unwrap()
            );
        }
    }
}
