//! Flags and arguments of the commands, parsed once into `lm-protocol`'s types: errors name the flag.

use anyhow::{anyhow, bail};
use chrono::NaiveDate;
use lm_protocol::license::{LicenseName, Notes, Vendor};
use lm_protocol::query::amount;
use lm_protocol::{
    Assignee, Currency, Kind, License, LicenseFilter, LicenseKey, LicensePatch, Money, NewLicense,
    ProductEid, Query, Sort,
};

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

pub(super) fn field<T>(flag: &str, r: Result<T, lm_protocol::FieldError>) -> anyhow::Result<T> {
    r.map_err(|e| anyhow!("--{flag}: {}", e.message))
}

pub(super) fn date_arg(flag: &str, raw: &str) -> anyhow::Result<NaiveDate> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| anyhow!("--{flag}: `{raw}` is not a date like 2027-01-31"))
}

pub(super) fn seats_arg(raw: &str) -> anyhow::Result<Option<u32>> {
    if raw.trim() == "unlimited" {
        return Ok(None);
    }
    match raw.trim().parse::<u32>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => bail!("--seats: `{raw}` is not a seat count (1 or more, or `unlimited`)"),
    }
}

pub(super) fn money_arg(cost: &str, currency: Currency) -> anyhow::Result<Money> {
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

pub fn assignee_arg(employee: Option<&str>, device: Option<&str>) -> anyhow::Result<Assignee> {
    match (employee, device) {
        (Some(e), None) => field("employee", e.parse()).map(Assignee::Employee),
        (None, Some(d)) => field("device", d.parse()).map(Assignee::Device),
        _ => bail!("give exactly one of --employee or --device"),
    }
}

/// A mistake in typed query `text`, with a caret line under the offending term.
pub(super) fn pointed_at(text: &str, e: &lm_protocol::QueryError) -> anyhow::Error {
    let caret = format!(
        "{}{}",
        " ".repeat(text[..e.span.start].chars().count()),
        "^".repeat(text[e.span.clone()].chars().count().max(1))
    );
    anyhow!("{e}\n  {text}\n  {caret}")
}

/// Parses `lm ls` arguments: query words, then `--sort` over any `sort:` in the query.
pub fn parse_query(
    words: &[String],
    sort: Option<&str>,
    today: NaiveDate,
) -> anyhow::Result<(LicenseFilter, Sort)> {
    let text = words.join(" ");
    let query = Query::parse(&text, today).map_err(|e| pointed_at(&text, &e))?;
    let sort = match sort {
        Some(s) => s.parse().map_err(|e| anyhow!("--sort: {e}"))?,
        None => query.sort.unwrap_or(Sort {
            field: lm_protocol::SortField::Name,
            descending: false,
        }),
    };
    Ok((query.filter, sort))
}
