//! The CSV form of the inventory, for spreadsheets and moving in from other tools: what
//! `GET /v1/licenses/export.csv` writes and `POST /v1/licenses/import` reads.
//!
//! Columns are named as the license's JSON fields, with `cost` split into `cost_amount` (in
//! major units, `599.00`) and `cost_currency`, the owner into `owner_level` and `owner_eids`,
//! and the assignments into `employees` and `devices`; lists are `;`-separated. An import
//! may hold any subset of the columns in any order: a column that is absent leaves that field
//! of an existing license as it is; a present but empty cell clears it (no expiry, unlimited
//! seats, no key, no assignments). `seats_used` is accepted and ignored, so an export
//! re-imports unchanged. Any other column is refused.
//!
//! Parsing is all-or-nothing: every problem of every row is reported, as (row, field,
//! problem) with row 1 being the header, before anything is written.

use crate::license::{
    DeviceId, EmployeeId, HierarchyName, Kind, License, LicenseId, LicenseKey, LicenseName, Notes,
    Owner, ProductEid, Vendor,
};
use crate::money::{Currency, Money};
use crate::problem::FieldError;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The largest CSV file an import takes (about 100,000 rows): the server refuses a larger
/// body, and lmd reads no more of a file than this.
pub const MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;

/// Every column, in the order an export writes them.
pub const COLUMNS: [&str; 17] = [
    "id",
    "product",
    "name",
    "kind",
    "vendor",
    "cost_amount",
    "cost_currency",
    "seats",
    "seats_used",
    "added",
    "expires",
    "owner_level",
    "owner_eids",
    "key",
    "notes",
    "employees",
    "devices",
];

/// Columns a row must fill to create a license (an update may leave them out).
pub const REQUIRED_TO_CREATE: [&str; 6] = [
    "product",
    "name",
    "kind",
    "vendor",
    "cost_amount",
    "cost_currency",
];

/// Most problems one import reports; a file this broken is the wrong file.
pub const MAX_PROBLEMS: usize = 1_000;

/// Most data rows one import takes (the largest inventories export about this many).
pub const MAX_IMPORT_ROWS: usize = 100_000;

/// Keeps the first [`MAX_PROBLEMS`] of `problems` in row order, and says how many more
/// there were, so that a report stays small however broken the file.
pub fn cap_problems(problems: &mut Vec<RowProblem>) {
    problems.sort_by_key(|p| p.row);
    if problems.len() > MAX_PROBLEMS {
        let more = problems.len() - MAX_PROBLEMS;
        problems.truncate(MAX_PROBLEMS);
        problems.push(problem(
            problems.last().map_or(1, |p| p.row),
            "file",
            format!("and {more} more problems not listed; fix these first"),
        ));
    }
}

/// One problem of an import: the row (the header is row 1), the column, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RowProblem {
    pub row: usize,
    pub field: String,
    pub problem: String,
}

/// What an import did, or (with `dry_run`, or when it has problems) would do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportReport {
    pub dry_run: bool,
    /// Data rows read.
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Per row: what happens to it. Empty when there are problems.
    #[serde(default)]
    pub outcomes: Vec<RowOutcome>,
    /// Everything wrong with the file; when not empty, nothing was written.
    #[serde(default)]
    pub problems: Vec<RowProblem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RowOutcome {
    pub row: usize,
    /// The license the row created or matched; absent for a row a dry run would create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<LicenseId>,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
}

/// One data row of an import, parsed. `None` means "the column is absent"; for clearable
/// fields, `Some(None)` means "present and empty".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportRow {
    pub row: usize,
    pub id: Option<LicenseId>,
    pub product: Option<ProductEid>,
    pub name: Option<LicenseName>,
    pub kind: Option<Kind>,
    pub vendor: Option<Vendor>,
    pub cost: Option<Money>,
    pub seats: Option<Option<u32>>,
    pub added: Option<NaiveDate>,
    pub expires: Option<Option<NaiveDate>>,
    pub owner: Option<Option<Owner>>,
    pub key: Option<Option<LicenseKey>>,
    pub notes: Option<Notes>,
    pub employees: Option<Vec<EmployeeId>>,
    pub devices: Option<Vec<DeviceId>>,
}

impl ImportRow {
    /// The problem of creating a license from this row, if it lacks a required field.
    pub fn missing_for_create(&self) -> Option<&'static str> {
        if self.product.is_none() {
            Some("product")
        } else if self.name.is_none() {
            Some("name")
        } else if self.kind.is_none() {
            Some("kind")
        } else if self.vendor.is_none() {
            Some("vendor")
        } else if self.cost.is_none() {
            Some("cost_amount")
        } else {
            None
        }
    }
}

/// Writes the header line.
pub fn write_header<W: std::io::Write>(out: &mut ::csv::Writer<W>) -> ::csv::Result<()> {
    out.write_record(COLUMNS)
}

/// Writes one license as a row. `key` is written only when the license carries one (the
/// server strips it for employees before).
pub fn write_license<W: std::io::Write>(
    out: &mut ::csv::Writer<W>,
    l: &License,
) -> ::csv::Result<()> {
    let list = |items: Vec<&str>| items.join(";");
    let assigned = |devices: bool| {
        list(
            l.assignments
                .iter()
                .filter(|a| matches!(a.assignee, crate::Assignee::Device(_)) == devices)
                .map(|a| a.assignee.label())
                .collect(),
        )
    };
    let (employees, devices) = (assigned(false), assigned(true));
    out.write_record([
        l.id.as_str(),
        &inert(l.product.as_str()),
        &inert(l.name.as_str()),
        &inert(l.kind.as_str()),
        &inert(l.vendor.as_str()),
        &l.cost.major(),
        l.cost.currency.as_str(),
        &l.seats.map(|s| s.to_string()).unwrap_or_default(),
        &l.seats_used.to_string(),
        &l.added.to_string(),
        &l.expires.map(|d| d.to_string()).unwrap_or_default(),
        &inert(l.owner.as_ref().map_or("", |o| o.level.as_str())),
        &inert(&l.owner.as_ref().map_or_else(String::new, |o| {
            list(o.eids.iter().map(HierarchyName::as_str).collect())
        })),
        &inert(l.key.as_ref().map_or("", LicenseKey::expose)),
        &inert(l.notes.as_str()),
        &inert(&employees),
        &inert(&devices),
    ])
}

/// What makes a spreadsheet read a cell as a formula when it starts the cell (OWASP, "CSV
/// Injection"): `=`, `+`, `-`, `@`, a tab or a carriage return.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A text cell as a spreadsheet shows it without running it: one that a spreadsheet would take
/// for a formula gets a leading `'` (which spreadsheets hide), and so does one that starts
/// with `'` already, so that [`as_written`] gives back exactly the text.
pub fn inert(text: &str) -> std::borrow::Cow<'_, str> {
    match text.chars().next() {
        Some(c) if c == '\'' || FORMULA_STARTS.contains(&c) => format!("'{text}").into(),
        _ => text.into(),
    }
}

/// The text of a cell written by [`inert`]: a `'` before a formula character or another `'`
/// is taken away; any other cell (one typed by hand) is as it is.
pub fn as_written(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with('\'') || rest.starts_with(FORMULA_STARTS) => rest,
        _ => cell,
    }
}

mod read;
pub use read::parse_import;
pub(crate) use read::{each_data_row, problem, without_bom};

#[cfg(test)]
mod tests;
