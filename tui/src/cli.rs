//! The scriptable commands of `lm`. Each speaks to lmd over its socket, prints for people by
//! default and `--json` (the `lm-protocol` shapes, stable) or `--csv` for scripts.

use crate::client::{ClientError, DaemonClient};
use crate::format;
use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, NaiveDate, Utc};
use lm_protocol::license::{LicenseName, Notes, Vendor};
use lm_protocol::query::amount;
use lm_protocol::socket::{
    AssignRequest, CreateRequest, ExpiryAlert, HeldPermissions, ImportRequest, LicenseRef, NoArgs,
    RemoveRequest, Reply, Request, Status, UnassignRequest, UpdateRequest,
};
use lm_protocol::{
    Assignee, AuditAction, AuditQuery, Currency, Kind, License, LicenseFilter, LicenseId,
    LicenseKey, LicensePatch, Money, NewLicense, ProductEid, Query, Sort,
};
use std::io::Write;

/// Fields of a license given as flags (`lm add`, `lm edit`).
#[derive(Debug, Default, clap::Args)]
pub struct LicenseArgs {
    /// Product id, e.g. adobe-cc.
    #[arg(long)]
    pub product: Option<String>,
    /// Human name, e.g. "Creative Cloud, design team".
    #[arg(long)]
    pub name: Option<String>,
    /// subscription, perpetual, per-seat, per-device, site, trial, …
    #[arg(long)]
    pub kind: Option<String>,
    #[arg(long)]
    pub vendor: Option<String>,
    /// In major units, e.g. 599.00.
    #[arg(long)]
    pub cost: Option<String>,
    /// ISO 4217 code [add default: EUR].
    #[arg(long)]
    pub currency: Option<String>,
    /// Seat count; `unlimited` clears it.
    #[arg(long)]
    pub seats: Option<String>,
    /// YYYY-MM-DD [add default: today].
    #[arg(long)]
    pub added: Option<String>,
    /// YYYY-MM-DD; `never` clears it.
    #[arg(long)]
    pub expires: Option<String>,
    /// The product key (secret); `none` clears it.
    #[arg(long)]
    pub key: Option<String>,
    #[arg(long)]
    pub notes: Option<String>,
}

fn field<T>(flag: &str, r: Result<T, lm_protocol::FieldError>) -> anyhow::Result<T> {
    r.map_err(|e| anyhow!("--{flag}: {}", e.message))
}

fn date_arg(flag: &str, raw: &str) -> anyhow::Result<NaiveDate> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| anyhow!("--{flag}: `{raw}` is not a date like 2027-01-31"))
}

fn seats_arg(raw: &str) -> anyhow::Result<Option<u32>> {
    if raw.trim() == "unlimited" {
        return Ok(None);
    }
    match raw.trim().parse::<u32>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => bail!("--seats: `{raw}` is not a seat count (1 or more, or `unlimited`)"),
    }
}

fn money_arg(cost: &str, currency: Currency) -> anyhow::Result<Money> {
    let minor = amount(cost.trim(), currency.minor_digits()).map_err(|e| anyhow!("--cost: {e}"))?;
    field("cost", Money::new(minor, currency))
}

impl LicenseArgs {
    fn currency(&self) -> anyhow::Result<Option<Currency>> {
        self.currency
            .as_deref()
            .map(|c| field("currency", c.trim().to_uppercase().parse()))
            .transpose()
    }

    pub fn to_new(&self) -> anyhow::Result<NewLicense> {
        let need = |flag: &str, v: &Option<String>| {
            v.clone()
                .ok_or_else(|| anyhow!("--{flag} is required to add a license"))
        };
        let currency = self
            .currency()?
            .unwrap_or_else(|| "EUR".parse().expect("EUR"));
        Ok(NewLicense {
            product: field("product", ProductEid::new(&need("product", &self.product)?))?,
            name: field("name", LicenseName::new(&need("name", &self.name)?))?,
            kind: field("kind", Kind::new(&need("kind", &self.kind)?))?,
            vendor: field("vendor", Vendor::new(&need("vendor", &self.vendor)?))?,
            cost: money_arg(&need("cost", &self.cost)?, currency)?,
            seats: self.seats.as_deref().map(seats_arg).transpose()?.flatten(),
            added: self
                .added
                .as_deref()
                .map(|d| date_arg("added", d))
                .transpose()?,
            expires: self
                .expires
                .as_deref()
                .map(|d| date_arg("expires", d))
                .transpose()?,
            owner: None,
            assignments: Vec::new(),
            key: self
                .key
                .as_deref()
                .map(|k| field("key", LicenseKey::new(k)))
                .transpose()?,
            notes: self
                .notes
                .as_deref()
                .map(|n| field("notes", Notes::new(n)))
                .transpose()?,
        })
    }

    pub fn to_patch(&self, current: &License) -> anyhow::Result<LicensePatch> {
        let currency = self.currency()?;
        Ok(LicensePatch {
            product: self
                .product
                .as_deref()
                .map(|v| field("product", ProductEid::new(v)))
                .transpose()?,
            name: self
                .name
                .as_deref()
                .map(|v| field("name", LicenseName::new(v)))
                .transpose()?,
            kind: self
                .kind
                .as_deref()
                .map(|v| field("kind", Kind::new(v)))
                .transpose()?,
            vendor: self
                .vendor
                .as_deref()
                .map(|v| field("vendor", Vendor::new(v)))
                .transpose()?,
            cost: match (&self.cost, currency) {
                (Some(cost), c) => Some(money_arg(cost, c.unwrap_or(current.cost.currency))?),
                (None, Some(c)) => Some(field("currency", Money::new(current.cost.amount, c))?),
                (None, None) => None,
            },
            seats: self.seats.as_deref().map(seats_arg).transpose()?,
            added: self
                .added
                .as_deref()
                .map(|d| date_arg("added", d))
                .transpose()?,
            expires: self
                .expires
                .as_deref()
                .map(|d| {
                    if d.trim() == "never" {
                        Ok(None)
                    } else {
                        date_arg("expires", d).map(Some)
                    }
                })
                .transpose()?,
            owner: None,
            key: self
                .key
                .as_deref()
                .map(|k| {
                    if k.trim() == "none" {
                        Ok(None)
                    } else {
                        field("key", LicenseKey::new(k)).map(Some)
                    }
                })
                .transpose()?,
            notes: self
                .notes
                .as_deref()
                .map(|n| field("notes", Notes::new(n)))
                .transpose()?,
        })
    }
}

pub async fn status(client: &DaemonClient) -> Result<Status, ClientError> {
    match client.request(Request::Status(NoArgs {})).await? {
        Reply::Status(status) => Ok(status),
        other => Err(unexpected(other)),
    }
}

/// The logged-in user's permissions, as lmd holds them (see `lm_daemon::grant`).
pub async fn permissions(client: &DaemonClient) -> Result<HeldPermissions, ClientError> {
    match client.request(Request::Permissions(NoArgs {})).await? {
        Reply::Permissions(held) => Ok(held),
        other => Err(unexpected(other)),
    }
}

/// `value` as pretty JSON on a line of its own: what `--json` prints.
fn print_json(value: &impl serde::Serialize, out: &mut impl Write) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

/// The expiry alerts in effect, soonest first, and how many there are.
pub async fn alerts(client: &DaemonClient) -> Result<(Vec<ExpiryAlert>, usize), ClientError> {
    match client.request(Request::Alerts(NoArgs {})).await? {
        Reply::Alerts { alerts, total } => Ok((alerts, total)),
        other => Err(unexpected(other)),
    }
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

/// Sends `path` (absolute) to the server's import through lmd.
pub async fn import(
    client: &DaemonClient,
    path: std::path::PathBuf,
    dry_run: bool,
) -> Result<lm_protocol::csv::ImportReport, ClientError> {
    match client
        .request(Request::Import(ImportRequest { path, dry_run }))
        .await?
    {
        Reply::Imported(report) => Ok(report),
        other => Err(unexpected(other)),
    }
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

/// Sends a request answered with a license.
async fn license_reply(client: &DaemonClient, request: Request) -> Result<License, ClientError> {
    match client.request(request).await? {
        Reply::License { license } => Ok(*license),
        other => Err(unexpected(other)),
    }
}

pub(crate) fn unexpected(reply: Reply) -> ClientError {
    ClientError::Protocol(format!("unexpected answer {reply:?}"))
}

pub fn print_status(status: &Status, json: bool, out: &mut impl Write) -> anyhow::Result<()> {
    if json {
        return print_json(status, out);
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
    Ok(())
}

/// Every license matching `filter`, in `sort` order (at most `limit`), fetched in windows.
pub async fn list_all(
    client: &DaemonClient,
    filter: LicenseFilter,
    sort: Sort,
    limit: Option<usize>,
) -> Result<Vec<License>, ClientError> {
    let mut out = Vec::new();
    crate::listing::each_license(client, filter, sort, limit, |window| {
        out.extend(window);
        Ok::<_, ClientError>(())
    })
    .await?;
    Ok(out)
}

/// Parses `lm ls` arguments: query words, then `--sort` over any `sort:` in the query.
pub fn parse_query(
    words: &[String],
    sort: Option<&str>,
    today: NaiveDate,
) -> anyhow::Result<(LicenseFilter, Sort)> {
    let text = words.join(" ");
    let query = Query::parse(&text, today).map_err(|e| {
        let caret = format!(
            "{}{}",
            " ".repeat(text[..e.span.start].chars().count()),
            "^".repeat(text[e.span.clone()].chars().count().max(1))
        );
        anyhow!("{e}\n  {text}\n  {caret}")
    })?;
    let sort = match sort {
        Some(s) => s.parse().map_err(|e| anyhow!("--sort: {e}"))?,
        None => query.sort.unwrap_or(Sort {
            field: lm_protocol::SortField::Name,
            descending: false,
        }),
    };
    Ok((query.filter, sort))
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

/// Logs lmd in with the device flow: shows where to approve, then waits for the outcome.
pub async fn login(
    client: &DaemonClient,
    mut events: tokio::sync::mpsc::UnboundedReceiver<lm_protocol::socket::Event>,
) -> anyhow::Result<()> {
    use lm_protocol::socket::{Connection, Event};
    client.subscribe().await?;
    let prompt = match client.request(Request::Login(NoArgs {})).await? {
        Reply::LoginStarted(prompt) => prompt,
        other => bail!("lmd answered the login with {other:?}"),
    };
    eprintln!(
        "To log in, open {} in a browser and enter the code {}",
        prompt.verification_uri, prompt.user_code
    );
    if let Some(complete) = &prompt.verification_uri_complete {
        eprintln!("(or open {complete} directly)");
    }
    eprintln!("Waiting for approval…");
    let deadline = std::time::Duration::from_secs(prompt.expires_in + 5);
    let outcome = tokio::time::timeout(deadline, async {
        while let Some(event) = events.recv().await {
            match event {
                Event::Sync(status)
                    if status.user.is_some()
                        && !matches!(status.connection, Connection::LoginRequired { .. }) =>
                {
                    return Ok(status);
                }
                Event::LoginFailed { reason } => return Err(reason),
                _ => {}
            }
        }
        Err("lmd closed the connection".to_owned())
    })
    .await;
    match outcome {
        Ok(Ok(status)) => {
            let user = status.user.expect("checked above");
            eprintln!(
                "logged in as {} ({}, organization {})",
                user.subject, user.role, user.org
            );
            Ok(())
        }
        Ok(Err(reason)) => Err(ClientError::Problem(Box::new(lm_protocol::Problem::local(
            lm_protocol::socket::kinds::LOGIN_REQUIRED,
            401,
            "Login failed",
            reason,
        )))
        .into()),
        Err(_) => bail!("the login code expired before it was approved; run `lm login` again"),
    }
}

/// Finds a license by its full id or any unique part of it.
pub async fn resolve(client: &DaemonClient, fragment: &str) -> anyhow::Result<License> {
    let fragment = fragment.trim().to_lowercase();
    if fragment.len() < 4 {
        bail!("`{fragment}`: give at least 4 characters of the license id");
    }
    if let Ok(id) = fragment.parse::<LicenseId>()
        && let Ok(Reply::License { license }) = client
            .request(Request::Get(LicenseRef { license: id }))
            .await
    {
        return Ok(*license);
    }
    let filter = LicenseFilter {
        q: Some(fragment.clone()),
        ..LicenseFilter::default()
    };
    let candidates = list_all(client, filter, Sort::default(), None).await?;
    let matching: Vec<License> = candidates
        .into_iter()
        .filter(|l| l.id.as_str().contains(&fragment))
        .collect();
    match matching.len() {
        0 => bail!("no license id contains `{fragment}` (see `lm ls`)"),
        1 => Ok(matching.into_iter().next().expect("one")),
        n => bail!(
            "`{fragment}` is part of {n} license ids ({}); give more of it",
            matching
                .iter()
                .take(3)
                .map(|l| l.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
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
            &format!("and {} more", l.unlisted_assignments()),
        )?;
    }
    Ok(())
}

pub async fn create(client: &DaemonClient, license: NewLicense) -> Result<License, ClientError> {
    license_reply(client, Request::Create(CreateRequest { license })).await
}

pub async fn update(
    client: &DaemonClient,
    current: &License,
    patch: LicensePatch,
) -> Result<License, ClientError> {
    license_reply(
        client,
        Request::Update(UpdateRequest {
            license: current.id.clone(),
            version: current.version,
            patch,
        }),
    )
    .await
}

pub async fn remove(client: &DaemonClient, license: &License) -> Result<(), ClientError> {
    client
        .request(Request::Remove(RemoveRequest {
            license: license.id.clone(),
            version: Some(license.version),
        }))
        .await
        .map(drop)
}

pub async fn restore(client: &DaemonClient, id: LicenseId) -> Result<License, ClientError> {
    license_reply(client, Request::Restore(LicenseRef { license: id })).await
}

pub fn assignee_arg(employee: Option<&str>, device: Option<&str>) -> anyhow::Result<Assignee> {
    match (employee, device) {
        (Some(e), None) => field("employee", e.parse()).map(Assignee::Employee),
        (None, Some(d)) => field("device", d.parse()).map(Assignee::Device),
        _ => bail!("give exactly one of --employee or --device"),
    }
}

pub async fn assign(
    client: &DaemonClient,
    license: &License,
    to: Assignee,
) -> Result<License, ClientError> {
    license_reply(
        client,
        Request::Assign(AssignRequest {
            license: license.id.clone(),
            to,
        }),
    )
    .await
}

pub async fn unassign(
    client: &DaemonClient,
    license: &License,
    who: &Assignee,
) -> anyhow::Result<()> {
    let assignment = license
        .assignments
        .iter()
        .find(|a| a.assignee == *who)
        .with_context(|| format!("“{}” is not assigned to {who}", license.name))?;
    client
        .request(Request::Unassign(UnassignRequest {
            license: license.id.clone(),
            assignment: assignment.id.clone(),
        }))
        .await?;
    Ok(())
}

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
