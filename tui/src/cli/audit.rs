//! `lm audit`: its flags, and the log printed for people.

use super::args::date_arg;
use crate::format;
use anyhow::anyhow;
use chrono::{DateTime, Utc};
use lm_protocol::{AuditAction, AuditQuery};
use std::io::Write;

/// `lm audit` filters.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Only changes by this user.
    #[arg(long)]
    pub actor: Option<String>,
    /// create, update, delete, restore, assign or unassign.
    #[arg(long)]
    pub action: Option<String>,
    /// Only changes of this license (full id).
    #[arg(long)]
    pub license: Option<String>,
    /// From this date (YYYY-MM-DD) on.
    #[arg(long)]
    pub since: Option<String>,
    /// Up to this date (YYYY-MM-DD), inclusive.
    #[arg(long)]
    pub until: Option<String>,
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    #[arg(long)]
    pub json: bool,
}

impl AuditArgs {
    pub fn to_query(&self) -> anyhow::Result<AuditQuery> {
        let day = |flag: &str, raw: &str, end: bool| -> anyhow::Result<DateTime<Utc>> {
            let d = date_arg(flag, raw)?;
            let t = if end {
                d.and_hms_opt(23, 59, 59)
            } else {
                d.and_hms_opt(0, 0, 0)
            };
            Ok(t.expect("valid time").and_utc())
        };
        Ok(AuditQuery {
            actor: self.actor.clone(),
            action: self
                .action
                .as_deref()
                .map(|a| {
                    AuditAction::ALL
                        .into_iter()
                        .find(|x| x.as_str() == a)
                        .ok_or_else(|| {
                            anyhow!(
                                "--action: `{a}` is not one of create, update, delete, restore, assign, unassign"
                            )
                        })
                })
                .transpose()?,
            record: self.license.clone(),
            from: self.since.as_deref().map(|d| day("since", d, false)).transpose()?,
            to: self.until.as_deref().map(|d| day("until", d, true)).transpose()?,
            before_id: None,
            limit: self.limit,
        })
    }
}

/// The header line of [`print_audit`]'s table.
pub fn print_audit_header(out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "WHEN              ACTOR         ACTION    RECORD")
}

/// Audit entries as rows of a table under [`print_audit_header`].
pub fn print_audit(
    entries: &[lm_protocol::AuditEntry],
    out: &mut impl Write,
) -> std::io::Result<()> {
    for e in entries {
        let name = e
            .after
            .as_ref()
            .or(e.before.as_ref())
            .and_then(|v| v.get("name"))
            .and_then(|v| v.as_str())
            .unwrap_or("");
        writeln!(
            out,
            "{}  {:<12}  {:<8}  {} {}",
            e.at.format("%Y-%m-%d %H:%M"),
            format::truncate(&e.actor, 12),
            e.action.as_str(),
            e.record_id,
            name
        )?;
    }
    Ok(())
}
