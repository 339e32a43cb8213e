//! Reading an import: the header, then each row as it arrives, checked into an
//! [`ImportRow`] or reported as [`RowProblem`]s.

use super::*;

/// Reads an import file as it arrives (each row checked as it is read; the file is never held
/// whole): the header, then every row. Returns the rows that parsed and the problems of those
/// that did not (a bad header yields no rows), so that a caller can still check the good rows
/// and report every problem of the file at once.
pub fn parse_import(file: impl std::io::Read) -> (Vec<ImportRow>, Vec<RowProblem>) {
    match parse(file) {
        Ok(parsed) => parsed,
        Err(header) => (Vec::new(), header),
    }
}

/// `file`, buffered, after the byte order mark a spreadsheet may have put at its start.
pub(crate) fn without_bom(file: impl std::io::Read) -> impl std::io::Read {
    use std::io::BufRead;
    let mut file = std::io::BufReader::with_capacity(64 * 1024, file);
    if file
        .fill_buf()
        .is_ok_and(|start| start.starts_with(b"\xEF\xBB\xBF"))
    {
        file.consume(3);
    }
    file
}

fn parse(file: impl std::io::Read) -> Result<(Vec<ImportRow>, Vec<RowProblem>), Vec<RowProblem>> {
    let file = without_bom(file);
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(file);
    let mut records = reader.byte_records();
    let header = match records.next() {
        None => return Err(vec![problem(1, "header", "the file is empty")]),
        Some(Err(e)) => return Err(vec![problem(1, "header", e.to_string())]),
        Some(Ok(h)) => h,
    };
    let columns = parse_header(&header)?;
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    each_data_row(
        records,
        columns.len(),
        &mut problems,
        |row, record, problems| match parse_row(row, &columns, &record) {
            Ok(parsed) => rows.push(parsed),
            Err(mut found) => problems.append(&mut found),
        },
    );
    Ok((rows, problems))
}

pub(crate) fn problem(row: usize, field: &str, message: impl Into<String>) -> RowProblem {
    RowProblem {
        row,
        field: field.to_owned(),
        problem: message.into(),
    }
}

/// A row of a CSV file, as the imports read it.
pub(crate) trait Record {
    fn cells(&self) -> usize;
    fn is_blank(&self) -> bool;
}

impl Record for ::csv::ByteRecord {
    fn cells(&self) -> usize {
        self.len()
    }
    fn is_blank(&self) -> bool {
        self.iter()
            .all(|cell| cell.iter().all(u8::is_ascii_whitespace))
    }
}

impl Record for ::csv::StringRecord {
    fn cells(&self) -> usize {
        self.len()
    }
    fn is_blank(&self) -> bool {
        self.iter().all(|cell| cell.trim().is_empty())
    }
}

/// Hands each data row after the header to `each`, numbered as a spreadsheet shows it (the
/// header is row 1). Blank lines are skipped (e.g. at the end of a hand-edited file); a row
/// that cannot be read, or whose cells do not match the header's `columns`, is a problem;
/// reading stops once [`MAX_PROBLEMS`] are found.
pub(crate) fn each_data_row<R: Record>(
    records: impl Iterator<Item = Result<R, ::csv::Error>>,
    columns: usize,
    problems: &mut Vec<RowProblem>,
    mut each: impl FnMut(usize, R, &mut Vec<RowProblem>),
) {
    for (i, record) in records.enumerate() {
        let row = i + 2;
        if i >= MAX_IMPORT_ROWS {
            problems.push(problem(
                row,
                "file",
                format!("more than {MAX_IMPORT_ROWS} data rows; split the file"),
            ));
            break;
        }
        if problems.len() >= MAX_PROBLEMS {
            problems.push(problem(
                row,
                "file",
                "too many problems; stopped reading here",
            ));
            break;
        }
        let record = match record {
            Ok(r) => r,
            // The file itself failed (too large, the sender gone): nothing more will come.
            Err(e) if matches!(e.kind(), ::csv::ErrorKind::Io(_)) => {
                problems.push(problem(row, "file", format!("cannot be read: {e}")));
                break;
            }
            Err(e) => {
                problems.push(problem(row, "row", format!("cannot be read: {e}")));
                continue;
            }
        };
        if record.is_blank() {
            continue;
        }
        if record.cells() != columns {
            problems.push(problem(
                row,
                "row",
                format!(
                    "has {} cells; the header has {columns} columns",
                    record.cells()
                ),
            ));
            continue;
        }
        each(row, record, problems);
    }
}

fn parse_header(header: &::csv::ByteRecord) -> Result<Vec<&'static str>, Vec<RowProblem>> {
    let mut columns = Vec::new();
    let mut problems = Vec::new();
    for (i, cell) in header.iter().enumerate() {
        let Ok(name) = std::str::from_utf8(cell) else {
            problems.push(problem(1, "header", "is not UTF-8 text"));
            continue;
        };
        let name = name.trim();
        if name.is_empty() {
            problems.push(problem(
                1,
                "header",
                format!("column {} has no name", i + 1),
            ));
            continue;
        }
        match COLUMNS.iter().find(|c| **c == name) {
            Some(c) if columns.contains(c) => {
                problems.push(problem(1, name, "the column appears twice"));
            }
            Some(c) => columns.push(*c),
            None => problems.push(problem(
                1,
                name,
                format!("unknown column; the columns are {}", COLUMNS.join(", ")),
            )),
        }
    }
    let has = |c: &str| columns.contains(&c);
    // Columns that only mean something together; the missing one is named.
    for (a, b) in [
        ("cost_amount", "cost_currency"),
        ("owner_level", "owner_eids"),
    ] {
        if has(a) != has(b) {
            let missing = if has(a) { b } else { a };
            problems.push(problem(1, missing, format!("{a} and {b} come together")));
        }
    }
    if !has("id") {
        for required in REQUIRED_TO_CREATE {
            if !has(required) {
                problems.push(problem(
                    1,
                    required,
                    "required column: without an id column every row creates or matches by product",
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(columns)
    } else {
        Err(problems)
    }
}

/// Collects the problems of one row while its cells are parsed.
struct RowParser<'a> {
    row: usize,
    cells: Vec<(&'static str, &'a str)>,
    problems: Vec<RowProblem>,
}

impl<'a> RowParser<'a> {
    /// The trimmed cell of `column` as it was before an export made it inert, or `None` when
    /// the file has no such column.
    fn cell(&self, column: &str) -> Option<&'a str> {
        self.cells
            .iter()
            .find(|(c, _)| *c == column)
            .map(|(_, v)| as_written(v.trim()))
    }

    fn fail(&mut self, column: &str, message: impl Into<String>) {
        self.problems.push(RowProblem {
            row: self.row,
            field: column.to_owned(),
            problem: message.into(),
        });
    }

    /// A field that may not be empty: `None` when the column is absent.
    fn required<T>(
        &mut self,
        column: &'static str,
        parse: impl FnOnce(&str) -> Result<T, FieldError>,
    ) -> Option<T> {
        let raw = self.cell(column)?;
        if raw.is_empty() {
            self.fail(column, "must not be empty");
            return None;
        }
        parse(raw).map_err(|e| self.fail(column, e.message)).ok()
    }

    /// A clearable field: `None` when absent, `Some(None)` when empty.
    fn optional<T>(
        &mut self,
        column: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<Option<T>> {
        let raw = self.cell(column)?;
        if raw.is_empty() {
            return Some(None);
        }
        match parse(raw) {
            Ok(v) => Some(Some(v)),
            Err(message) => {
                self.fail(column, message);
                None
            }
        }
    }

    fn list<T>(
        &mut self,
        column: &'static str,
        parse: impl Fn(&str) -> Result<T, FieldError>,
    ) -> Option<Vec<T>> {
        let raw = self.cell(column)?;
        let mut items = Vec::new();
        for item in raw.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            match parse(item) {
                Ok(v) => items.push(v),
                Err(e) => self.fail(column, format!("`{item}`: {}", e.message)),
            }
        }
        Some(items)
    }
}

fn date(raw: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| format!("`{raw}` is not a date like 2027-01-31"))
}

fn parse_row(
    row: usize,
    columns: &[&'static str],
    record: &::csv::ByteRecord,
) -> Result<ImportRow, Vec<RowProblem>> {
    let mut p = RowParser {
        row,
        cells: Vec::with_capacity(columns.len()),
        problems: Vec::new(),
    };
    for (column, cell) in columns.iter().zip(record.iter()) {
        match std::str::from_utf8(cell) {
            Ok(text) => p.cells.push((column, text)),
            Err(_) => p.fail(
                column,
                "is not UTF-8 text; save the file as CSV UTF-8 and import it again",
            ),
        }
    }
    let id = p
        .optional("id", |raw| raw.parse::<LicenseId>().map_err(|e| e.message))
        .flatten();
    let product = p.required("product", str::parse);
    let name = p.required("name", str::parse);
    let kind = p.required("kind", str::parse);
    let vendor = p.required("vendor", str::parse);
    let currency = p.required("cost_currency", str::parse::<Currency>);
    let cost = match (p.cell("cost_amount"), currency) {
        (Some(raw), Some(_)) if raw.starts_with('-') => {
            p.fail(
                "cost_amount",
                format!("`{raw}` is negative; a cost is 0 or more"),
            );
            None
        }
        (Some(""), Some(_)) => {
            p.fail("cost_amount", "must not be empty (write 0 for free)");
            None
        }
        (Some(raw), Some(currency)) => {
            match crate::query::amount(raw, currency.minor_digits())
                .and_then(|minor| Money::new(minor, currency).map_err(|e| e.message))
            {
                Ok(money) => Some(money),
                Err(message) => {
                    p.fail("cost_amount", message);
                    None
                }
            }
        }
        _ => None,
    };
    let seats = p.optional("seats", |raw| match raw.parse::<u32>() {
        Ok(0) => Err("must be at least 1 (leave it empty for unlimited seats)".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{raw}` is not a whole number of seats")),
    });
    let added = p.optional("added", date).flatten();
    let expires = p.optional("expires", date);
    let owner_level = p.optional("owner_level", |raw| {
        raw.parse::<HierarchyName>().map_err(|e| e.message)
    });
    let owner_eids = p.list("owner_eids", str::parse::<HierarchyName>);
    let owner = match (owner_level, owner_eids) {
        (Some(Some(level)), Some(eids)) if !eids.is_empty() => Some(Some(Owner { level, eids })),
        (Some(None), Some(eids)) if eids.is_empty() => Some(None),
        (Some(Some(_)), Some(_)) => {
            p.fail("owner_eids", "name at least one owner for the owner level");
            None
        }
        (Some(None), Some(_)) => {
            p.fail("owner_level", "must be set when owner_eids is");
            None
        }
        _ => None,
    };
    let key = p.optional("key", |raw| LicenseKey::new(raw).map_err(|e| e.message));
    let notes = p.cell("notes").map(|raw| raw.parse::<Notes>());
    let notes = match notes {
        Some(Ok(n)) => Some(n),
        Some(Err(e)) => {
            p.fail("notes", e.message);
            None
        }
        None => None,
    };
    let employees = p.list("employees", str::parse::<EmployeeId>);
    let devices = p.list("devices", str::parse::<DeviceId>);
    if !p.problems.is_empty() {
        return Err(p.problems);
    }
    Ok(ImportRow {
        row,
        id,
        product,
        name,
        kind,
        vendor,
        cost,
        seats,
        added,
        expires,
        owner,
        key,
        notes,
        employees,
        devices,
    })
}
