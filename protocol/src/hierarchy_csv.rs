//! The CSV form of the built-in hierarchy, for moving units and memberships in from a
//! student information system or a spreadsheet: what `POST /v1/hierarchy/import` reads.
//!
//! Columns `type, eid, name, parent_type, parent_eid`, in any order, all present. A row
//! creates the entity `(type)(eid)` or renames it (an empty `name` leaves an existing one
//! as it is), and with a parent makes it a member of that parent. An entity with several
//! parents takes one row per parent. Parents may be created by rows of the same file.
//!
//! Parsing is all-or-nothing, like the license import: every problem of every row is
//! reported as (row, field, problem), with row 1 being the header, before anything is
//! written.

use crate::csv::{RowProblem, each_data_row, problem};
use crate::hierarchy::{EntityName, EntityRef};
use crate::license::HierarchyName;
use crate::problem::FieldError;
use serde::{Deserialize, Serialize};

/// The columns, in the order the documentation shows them.
pub const COLUMNS: [&str; 5] = ["type", "eid", "name", "parent_type", "parent_eid"];

/// One parsed row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HierarchyRow {
    pub row: usize,
    pub entity: EntityRef,
    /// `None`: the cell was empty (keep the name an existing entity has).
    pub name: Option<EntityName>,
    pub parent: Option<EntityRef>,
}

/// What an import did, or (with `dry_run`, or when it has problems) would do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HierarchyImportReport {
    pub dry_run: bool,
    /// Data rows read.
    pub rows: usize,
    pub entities_created: usize,
    pub entities_renamed: usize,
    pub memberships_added: usize,
    /// Everything wrong with the file; when not empty, nothing was written.
    #[serde(default)]
    pub problems: Vec<RowProblem>,
}

/// Reads a hierarchy CSV, as it arrives, into rows, and every problem found in it.
pub fn parse(file: impl std::io::Read) -> (Vec<HierarchyRow>, Vec<RowProblem>) {
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(::csv::Trim::All)
        .from_reader(crate::csv::without_bom(file));
    let mut records = reader.records();
    let header = match records.next() {
        None => return (Vec::new(), vec![problem(1, "header", "the file is empty")]),
        Some(Err(e)) => return (Vec::new(), vec![problem(1, "header", e.to_string())]),
        Some(Ok(h)) => h,
    };
    let mut position = [usize::MAX; COLUMNS.len()];
    let mut problems = Vec::new();
    for (i, name) in header.iter().enumerate() {
        if name.trim().is_empty() {
            problems.push(problem(
                1,
                "header",
                format!("column {} has no name", i + 1),
            ));
            continue;
        }
        match COLUMNS.iter().position(|c| c.eq_ignore_ascii_case(name)) {
            Some(c) if position[c] == usize::MAX => position[c] = i,
            Some(_) => problems.push(problem(1, name, "appears twice in the header")),
            None => problems.push(problem(
                1,
                name,
                format!("is not a column; the columns are {}", COLUMNS.join(", ")),
            )),
        }
    }
    for (c, at) in position.iter().enumerate() {
        if *at == usize::MAX {
            problems.push(problem(1, COLUMNS[c], "is missing from the header"));
        }
    }
    if !problems.is_empty() {
        return (Vec::new(), problems);
    }
    let mut rows = Vec::new();
    each_data_row(
        records,
        header.len(),
        &mut problems,
        |row, record, problems| {
            let cell = |column: usize| record.get(position[column]).unwrap_or("");
            let found_before = problems.len();
            let mut name_of = |column: usize| -> Option<HierarchyName> {
                let raw = cell(column);
                if raw.is_empty() {
                    return None;
                }
                raw.parse()
                    .map_err(|e: FieldError| {
                        problems.push(problem(row, COLUMNS[column], e.message))
                    })
                    .ok()
            };
            let kind = name_of(0);
            let eid = name_of(1);
            let parent_kind = name_of(3);
            let parent_eid = name_of(4);
            let name = match cell(2) {
                "" => None,
                raw => EntityName::new(raw)
                    .map_err(|e| problems.push(problem(row, "name", e.message)))
                    .ok(),
            };
            for (column, value) in [(0, &kind), (1, &eid)] {
                if value.is_none() && cell(column).is_empty() {
                    problems.push(problem(row, COLUMNS[column], "is required"));
                }
            }
            let parent = match (parent_kind, parent_eid) {
                (Some(kind), Some(eid)) => Some(EntityRef { kind, eid }),
                (None, None) if cell(3).is_empty() && cell(4).is_empty() => None,
                _ if cell(3).is_empty() => {
                    problems.push(problem(row, "parent_type", "is required with parent_eid"));
                    None
                }
                _ if cell(4).is_empty() => {
                    problems.push(problem(row, "parent_eid", "is required with parent_type"));
                    None
                }
                _ => None,
            };
            if problems.len() > found_before {
                return;
            }
            if let (Some(kind), Some(eid)) = (kind, eid) {
                rows.push(HierarchyRow {
                    row,
                    entity: EntityRef { kind, eid },
                    name,
                    parent,
                });
            }
        },
    );
    (rows, problems)
}

#[cfg(test)]
mod tests {
    /// A file given whole.
    fn parse(bytes: &[u8]) -> (Vec<HierarchyRow>, Vec<RowProblem>) {
        super::parse(bytes)
    }

    proptest::proptest! {
        /// Any file reads as rows and problems placed in it, without a panic.
        #[test]
        fn any_file_reads_as_rows_and_placed_problems(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let (_, problems) = super::parse(bytes.as_slice());
            for p in &problems {
                proptest::prop_assert!(p.row >= 1 && !p.field.is_empty() && !p.problem.is_empty(), "{:?}", p);
            }
        }
    }

    use super::*;

    fn fields(problems: &[RowProblem]) -> Vec<(usize, &str)> {
        problems.iter().map(|p| (p.row, p.field.as_str())).collect()
    }

    #[test]
    fn a_row_names_an_entity_and_optionally_its_parent() {
        let (rows, problems) = parse(
            b"type,eid,name,parent_type,parent_eid\n\
              school,north,North School,,\n\
              class,4b,Class 4b,school,north\n\
              student,ada,,class,4b\n\n",
        );
        assert_eq!(problems, []);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].entity.to_string(), "(school)(north)");
        assert_eq!(rows[0].parent, None);
        assert_eq!(rows[1].name.as_ref().map(|n| n.as_str()), Some("Class 4b"));
        assert_eq!(rows[2].name, None);
        assert_eq!(
            rows[2].parent.as_ref().map(|p| p.to_string()),
            Some("(class)(4b)".into())
        );
        assert_eq!(rows[2].row, 4);
    }

    #[test]
    fn columns_may_come_in_any_order_but_all_must_be_there() {
        let (rows, problems) =
            parse(b"eid,type,parent_eid,parent_type,name\nada,student,4b,class,\n");
        assert_eq!(problems, []);
        assert_eq!(rows[0].entity.to_string(), "(student)(ada)");
        let (_, problems) = parse(b"type,eid,name,colour\n");
        assert_eq!(
            fields(&problems),
            [(1, "colour"), (1, "parent_type"), (1, "parent_eid")]
        );
    }

    #[test]
    fn every_problem_of_every_row_is_reported_with_its_field() {
        let (rows, problems) = parse(
            b"type,eid,name,parent_type,parent_eid\n\
              ,ada,,,\n\
              student,..,,class,\n\
              student,cy,,,3a\n\
              student,dan,ok\n",
        );
        assert!(rows.is_empty());
        assert_eq!(
            fields(&problems),
            [
                (2, "type"),
                (3, "eid"),
                (3, "parent_eid"),
                (4, "parent_type"),
                (5, "row")
            ]
        );
    }
}
