//! What the commands print: for people by default, `--json` (the `lm-protocol` shapes).

use crate::format;
use anyhow::bail;
use chrono::{DateTime, NaiveDate, Utc};
use lm_protocol::socket::{ExpiryAlert, Footprint, HeldPermissions, Status};
use lm_protocol::{Assignment, License};
use std::io::Write;

/// `value` as pretty JSON on a line of its own: what `--json` prints.
pub(super) fn print_json(
    value: &impl serde::Serialize,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

/// One alert per line (`--json`: `{"alerts": [...], "total": n}`).
pub fn print_alerts(
    (alerts, total): &(Vec<ExpiryAlert>, usize),
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if json {
        return print_json(&serde_json::json!({"alerts": alerts, "total": total}), out);
    }
    if alerts.is_empty() {
        writeln!(out, "no license is within an alert threshold of its expiry")?;
    }
    for a in alerts {
        writeln!(
            out,
            "{:<20} {}  {}  {} ({})",
            a.when(),
            a.expires,
            a.license,
            a.name,
            a.vendor
        )?;
    }
    if *total > alerts.len() {
        writeln!(out, "… and {} more", total - alerts.len())?;
    }
    Ok(())
}

pub fn print_permissions(
    held: &HeldPermissions,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if json {
        return print_json(held, out);
    }
    let p = &held.permissions;
    let minute = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    let list: Vec<&str> = p.permissions.iter().map(|p| p.as_str()).collect();
    writeln!(
        out,
        "user         {}\npermissions  {}",
        p.user,
        if list.is_empty() {
            "none".to_owned()
        } else {
            list.join(", ")
        }
    )?;
    for held in &p.products {
        let via = held.owner.as_ref().map_or_else(
            || "assigned by a manager".to_owned(),
            |o| format!("through {o}"),
        );
        let seat = held.seat_since.map_or_else(
            || "no seat taken".to_owned(),
            |since| format!("seat since {}", minute(since)),
        );
        let until = held
            .valid_to
            .map_or_else(|| "no end".to_owned(), |d| format!("until {d}"));
        writeln!(
            out,
            "  {:<20} license {}  {via}, {seat}, {until}",
            held.product.as_str(),
            held.license
        )?;
    }
    for refused in &p.refused {
        writeln!(
            out,
            "  {:<20} refused: {}",
            refused.product.as_str(),
            refused.reason
        )?;
    }
    writeln!(
        out,
        "grant        valid until {}, checked with the server's keys",
        minute(p.grant_expires)
    )?;
    if held.offline {
        writeln!(
            out,
            "offline      the server cannot be reached: this is the grant kept since {}",
            minute(held.fetched_at)
        )?;
    }
    Ok(())
}

/// The report of an import; an error (exit code 1) when it has problems.
pub fn print_import(
    report: &lm_protocol::csv::ImportReport,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if json {
        print_json(report, out)?;
    } else if report.problems.is_empty() {
        let verb = if report.dry_run { "would be" } else { "were" };
        writeln!(
            out,
            "{} rows: {} {verb} created, {} updated, {} unchanged",
            report.rows, report.created, report.updated, report.unchanged
        )?;
    } else {
        for p in &report.problems {
            writeln!(out, "row {}, {}: {}", p.row, p.field, p.problem)?;
        }
    }
    if report.problems.is_empty() {
        Ok(())
    } else {
        bail!(
            "{} problems in {} rows; nothing was imported",
            report.problems.len(),
            report.rows
        )
    }
}

pub fn print_status(
    status: &Status,
    footprint: Option<&Footprint>,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if json {
        return match footprint {
            None => print_json(status, out),
            Some(footprint) => print_json(
                &serde_json::json!({"status": status, "memory": footprint}),
                out,
            ),
        };
    }
    let now = Utc::now();
    writeln!(out, "connection  {}", format::connection(status, now))?;
    if let lm_protocol::socket::Connection::Offline { reason, .. }
    | lm_protocol::socket::Connection::LoginRequired { reason } = &status.connection
    {
        writeln!(out, "reason      {reason}")?;
    }
    writeln!(out, "server      {}", status.server)?;
    match &status.user {
        Some(u) => writeln!(
            out,
            "user        {} ({}, organization {})",
            u.subject,
            u.role.as_str(),
            u.org
        )?,
        None => writeln!(out, "user        not logged in")?,
    }
    writeln!(
        out,
        "cache       {} licenses at revision {} (server: {})",
        status.licenses, status.revision, status.head
    )?;
    if let Some(at) = status.synced_at {
        writeln!(
            out,
            "synced      {} ({} ago)",
            at.format("%Y-%m-%d %H:%M:%S UTC"),
            format::age(at, now)
        )?;
    }
    if let Some(footprint) = footprint {
        print_footprint(footprint, out)?;
    }
    Ok(())
}

/// lmd's memory: the readings, then each part of the cache by estimate, and what of the
/// heap no part accounts for.
pub fn print_footprint(footprint: &Footprint, out: &mut impl Write) -> std::io::Result<()> {
    let mib = |bytes: u64| bytes as f64 / f64::from(1 << 20);
    write!(
        out,
        "memory      {:.1} MiB resident",
        mib(footprint.resident)
    )?;
    if let (Some(in_use), Some(kept)) = (footprint.heap_in_use, footprint.heap_retained) {
        write!(
            out,
            "; heap {:.1} MiB in use, {:.1} MiB freed but kept",
            mib(in_use),
            mib(kept)
        )?;
    }
    writeln!(out)?;
    for part in &footprint.parts {
        writeln!(
            out,
            "            {:<20} {:>8.1} MiB  {:>9} items",
            part.name,
            mib(part.bytes),
            part.items
        )?;
    }
    if let Some(in_use) = footprint.heap_in_use {
        let counted: u64 = footprint.parts.iter().map(|p| p.bytes).sum();
        writeln!(
            out,
            "            {:<20} {:>8.1} MiB  (storage engine, runtime, buffers, allocator)",
            "the rest of the heap",
            mib(in_use.saturating_sub(counted)),
        )?;
    }
    writeln!(
        out,
        "            storage page cache up to {:.0} MiB; {:.1} MiB on disk",
        mib(footprint.storage_cache_limit),
        mib(footprint.on_disk)
    )
}

pub fn print_table(
    licenses: &[License],
    today: NaiveDate,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let rows: Vec<[String; 8]> = licenses
        .iter()
        .map(|l| {
            [
                format::short_id(&l.id).to_owned(),
                format::truncate(l.name.as_str(), 40),
                l.kind.to_string(),
                format::truncate(l.vendor.as_str(), 16),
                l.cost.to_string(),
                format::seats(l),
                format::truncate(&format::assignees(l, 2), 24),
                format::date(l.expires),
            ]
        })
        .collect();
    let header = [
        "ID", "NAME", "KIND", "VENDOR", "COST", "SEATS", "ASSIGNED", "EXPIRES",
    ];
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| -> String {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            let pad = w - cell.chars().count();
            if i == 4 || i == 5 {
                s.push_str(&" ".repeat(pad));
                s.push_str(cell);
            } else {
                s.push_str(cell);
                if i + 1 < cells.len() {
                    s.push_str(&" ".repeat(pad));
                }
            }
            if i + 1 < cells.len() {
                s.push_str("  ");
            }
        }
        s
    };
    writeln!(out, "{}", line(&header))?;
    for (row, l) in rows.iter().zip(licenses) {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        let mut text = line(&cells);
        if format::urgency(l.expires, today) == format::Urgency::Expired {
            text.push_str("  (expired)");
        }
        writeln!(out, "{}", text.trim_end())?;
    }
    Ok(())
}

pub fn print_license(l: &License, out: &mut impl Write) -> std::io::Result<()> {
    let row = |out: &mut dyn Write, k: &str, v: &str| writeln!(out, "{k:<10}{v}");
    row(out, "id", l.id.as_str())?;
    row(out, "name", l.name.as_str())?;
    row(out, "product", l.product.as_str())?;
    row(out, "kind", l.kind.as_str())?;
    row(out, "vendor", l.vendor.as_str())?;
    row(out, "cost", &l.cost.to_string())?;
    row(out, "seats", &format::seats(l))?;
    row(out, "added", &l.added.to_string())?;
    row(out, "expires", &format::date(l.expires))?;
    if let Some(key) = &l.key {
        row(out, "key", key.expose())?;
    }
    if !l.notes.as_str().is_empty() {
        row(out, "notes", l.notes.as_str())?;
    }
    row(out, "version", &l.version.to_string())?;
    if l.assignments.is_empty() {
        row(out, "assigned", "nobody")?;
    }
    for a in &l.assignments {
        row(
            out,
            "assigned",
            &format!(
                "{} since {}",
                format::assignee(&a.assignee),
                a.since.format("%Y-%m-%d")
            ),
        )?;
    }
    if l.unlisted_assignments() > 0 {
        row(
            out,
            "assigned",
            &format!(
                "and {} more (lm holders {})",
                l.unlisted_assignments(),
                l.id
            ),
        )?;
    }
    Ok(())
}

/// One holder a line: who, and since when.
pub fn print_holders(holders: &[Assignment], out: &mut impl Write) -> anyhow::Result<()> {
    for a in holders {
        writeln!(
            out,
            "{}\t{}",
            format::assignee(&a.assignee),
            a.since.format("%Y-%m-%d %H:%M")
        )?;
    }
    Ok(())
}
