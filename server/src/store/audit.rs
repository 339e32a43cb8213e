use super::{ChangeContext, Result, Store, StoreError};
use crate::db::{SqlBuf, Tx, args};
use chrono::{DateTime, Utc};
use lm_protocol::{AuditAction, AuditEntry, AuditQuery, Page};

/// An audit entry to write, in the transaction of the change it records.
pub(crate) struct Audited<'a> {
    pub action: AuditAction,
    pub record_type: &'a str,
    pub record_id: &'a str,
    /// The record's JSON before and after the change, where it existed.
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Writes `entry` into `org`'s log, with who did it and from where.
pub(crate) async fn record(
    tx: &mut Tx,
    org: &str,
    ctx: &ChangeContext,
    entry: Audited<'_>,
) -> Result<()> {
    tx.exec()
        .execute(
            "INSERT INTO audit (org_id, at, actor, action, record_type, record_id, before, after, request_id, client_addr) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            args![
                org,
                Utc::now(),
                ctx.actor.as_str(),
                entry.action.as_str(),
                entry.record_type,
                entry.record_id,
                entry.before,
                entry.after,
                ctx.request_id.clone(),
                ctx.client_addr.clone()
            ],
        )
        .await?;
    Ok(())
}

/// The values one entry binds.
const PARAMS_PER_ENTRY: usize = 10;

/// Writes `entries` into `org`'s log, each with who did it and from where, in order: a few
/// hundred a statement, for the many seats a batch of permission checks takes.
pub(super) async fn record_all(
    tx: &mut Tx,
    org: &str,
    entries: &[(&ChangeContext, Audited<'_>)],
) -> Result<()> {
    let at = Utc::now();
    let rows = tx.dialect().rows_per_statement(PARAMS_PER_ENTRY);
    for chunk in entries.chunks(rows) {
        let mut q = SqlBuf::new(
            "INSERT INTO audit (org_id, at, actor, action, record_type, record_id, before, after, request_id, client_addr) VALUES ",
        );
        for (i, (ctx, entry)) in chunk.iter().enumerate() {
            q.push(if i == 0 { "(" } else { ", (" });
            q.arg(org).push(", ").arg(at).push(", ");
            q.arg(ctx.actor.as_str()).push(", ");
            q.arg(entry.action.as_str()).push(", ");
            q.arg(entry.record_type).push(", ");
            q.arg(entry.record_id).push(", ");
            q.arg(entry.before.clone()).push(", ");
            q.arg(entry.after.clone()).push(", ");
            q.arg(ctx.request_id.clone()).push(", ");
            q.arg(ctx.client_addr.clone()).push(")");
        }
        tx.exec().execute(q.sql, q.args).await?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: i64,
    at: DateTime<Utc>,
    actor: String,
    action: String,
    record_type: String,
    record_id: String,
    before: Option<String>,
    after: Option<String>,
    request_id: Option<String>,
    client_addr: Option<String>,
}

impl AuditRow {
    fn into_entry(self) -> Result<AuditEntry> {
        let json = |s: Option<String>| -> Result<Option<serde_json::Value>> {
            s.map(|s| serde_json::from_str(&s))
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("audit entry {}: {e}", self.id)))
        };
        Ok(AuditEntry {
            id: self.id,
            at: self.at,
            actor: self.actor,
            action: self.action.parse().map_err(StoreError::Corrupt)?,
            record_type: self.record_type,
            record_id: self.record_id,
            before: json(self.before)?,
            after: json(self.after)?,
            request_id: self.request_id,
            client_addr: self.client_addr,
        })
    }
}

impl Store {
    /// The organization's audit log, newest first.
    pub async fn audit(&self, org: &str, query: &AuditQuery) -> Result<Page<AuditEntry>> {
        let mut q = SqlBuf::new(
            "SELECT id, at, actor, action, record_type, record_id, before, after, request_id, client_addr \
             FROM audit WHERE org_id = ",
        );
        q.arg(org);
        if let Some(actor) = &query.actor {
            q.push(" AND actor = ").arg(actor.as_str());
        }
        if let Some(action) = query.action {
            q.push(" AND action = ").arg(action.as_str());
        }
        if let Some(record) = &query.record {
            q.push(" AND record_id = ").arg(record.as_str());
        }
        if let Some(from) = query.from {
            q.push(" AND at >= ").arg(from);
        }
        if let Some(to) = query.to {
            q.push(" AND at <= ").arg(to);
        }
        if let Some(before) = query.before_id {
            q.push(" AND id < ").arg(before);
        }
        q.push(" ORDER BY id DESC LIMIT ")
            .arg(i64::from(query.limit) + 1);
        let mut conn = self.db.read().await?;
        let rows: Vec<AuditRow> = conn.exec().fetch_all(q.sql, q.args).await?;
        let mut items = rows
            .into_iter()
            .map(AuditRow::into_entry)
            .collect::<Result<Vec<_>>>()?;
        let next = if items.len() > query.limit as usize {
            items.truncate(query.limit as usize);
            items.last().map(|e| e.id.to_string())
        } else {
            None
        };
        Ok(Page { items, next })
    }
}
