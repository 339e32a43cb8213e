//! CSV import: every row is matched, checked and planned inside the write transaction, and
//! only a plan without a single problem is applied — all of it, in that same transaction.
//!
//! A row matches the license it describes by, in order: its `id`; else its product and
//! product key; else its product and name (among live licenses). A matched row updates that
//! license (a row that changes nothing leaves it alone, so re-importing a file is
//! idempotent); an unmatched row creates one.

use super::assignments::{
    NewHolder, delete_assignment, insert_assignment_if_new, insert_holders, listed_json,
    new_assignment, read_listed,
};
use super::audit::Audited;
use super::licenses::{
    COLUMNS, FIELD_COLUMNS, LicenseRow, NewLicense, field_values, insert_licenses, into_licenses,
};
use super::{ChangeContext, Result, Store, bump_revision, now};
use crate::db::{SqlBuf, Tx, args};
use chrono::NaiveDate;
use lm_protocol::csv::{ImportReport, ImportRow, Outcome, RowOutcome, RowProblem};
use lm_protocol::license::{LicenseFields, search_text};
use lm_protocol::{Assignee, Assignment, AuditAction, License};
use std::collections::{BTreeSet, HashMap};

/// What applying one row does.
enum Step {
    Create {
        row: usize,
        fields: LicenseFields,
        assignees: Vec<Assignee>,
    },
    Update {
        row: usize,
        before: Box<License>,
        fields: LicenseFields,
        assignees: Vec<Assignee>,
    },
    Unchanged {
        row: usize,
        id: lm_protocol::LicenseId,
    },
}

fn problem(row: usize, field: &str, message: impl Into<String>) -> RowProblem {
    RowProblem {
        row,
        field: field.to_owned(),
        problem: message.into(),
    }
}

/// The live licenses an import may match: those named by id, and those of its products.
async fn candidates(tx: &mut Tx, org: &str, rows: &[ImportRow]) -> Result<Vec<License>> {
    let ids: BTreeSet<&str> = rows
        .iter()
        .filter_map(|r| r.id.as_ref().map(|id| id.as_str()))
        .collect();
    let products: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r.id.is_none())
        .filter_map(|r| r.product.as_ref().map(|p| p.as_str()))
        .collect();
    let mut found = Vec::new();
    for (column, values) in [("id", ids), ("product", products)] {
        let values: Vec<&str> = values.into_iter().collect();
        for chunk in values.chunks(tx.dialect().rows_per_statement(1)) {
            let mut q = SqlBuf::new(&format!(
                "SELECT {COLUMNS} FROM licenses l WHERE l.org_id = "
            ));
            q.arg(org)
                .push(&format!(" AND l.deleted_at IS NULL AND l.{column} IN ("));
            for (i, v) in chunk.iter().enumerate() {
                if i > 0 {
                    q.push(", ");
                }
                q.arg(*v);
            }
            q.push(")");
            let rows: Vec<LicenseRow> = tx.exec().fetch_all(q.sql, q.args).await?;
            found.extend(into_licenses(rows)?.into_iter().map(|s| s.license));
        }
    }
    Ok(found)
}

/// Matches and checks every row; returns the steps, or every problem.
fn plan(
    rows: Vec<ImportRow>,
    live: Vec<License>,
    today: NaiveDate,
) -> Result<Vec<Step>, Vec<RowProblem>> {
    let by_id: HashMap<&str, &License> = live.iter().map(|l| (l.id.as_str(), l)).collect();
    let mut by_product_key: HashMap<(&str, &str), Vec<&License>> = HashMap::new();
    let mut by_product_name: HashMap<(&str, &str), Vec<&License>> = HashMap::new();
    for l in &live {
        if let Some(key) = &l.key {
            by_product_key
                .entry((l.product.as_str(), key.expose()))
                .or_default()
                .push(l);
        }
        by_product_name
            .entry((l.product.as_str(), l.name.as_str()))
            .or_default()
            .push(l);
    }
    let mut steps = Vec::new();
    let mut problems = Vec::new();
    // license id or natural key → the row that claimed it
    let mut claimed: HashMap<String, usize> = HashMap::new();
    for r in rows {
        let row = r.row;
        let product = r.product.as_ref().map(|p| p.as_str());
        let key = r.key.as_ref().and_then(|k| k.as_ref()).map(|k| k.expose());
        let name = r.name.as_ref().map(|n| n.as_str());
        let matched: Result<Option<&License>, RowProblem> = if let Some(id) = &r.id {
            by_id.get(id.as_str()).copied().map(Some).ok_or_else(|| {
                problem(
                    row,
                    "id",
                    format!("no live license {id} in your organization"),
                )
            })
        } else {
            let candidates = match (product, key, name) {
                (Some(p), Some(k), _) => by_product_key.get(&(p, k)),
                (Some(p), None, Some(n)) => by_product_name.get(&(p, n)),
                _ => None,
            };
            match candidates.map(Vec::as_slice) {
                None | Some([]) => Ok(None),
                Some([one]) => Ok(Some(*one)),
                Some(many) => Err(problem(
                    row,
                    if key.is_some() { "key" } else { "name" },
                    format!(
                        "matches {} licenses ({}{}); add an id column to say which",
                        many.len(),
                        many.iter()
                            .take(3)
                            .map(|l| l.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        if many.len() > 3 { ", …" } else { "" }
                    ),
                )),
            }
        };
        let matched = match matched {
            Ok(m) => m,
            Err(p) => {
                problems.push(p);
                continue;
            }
        };
        let identity = match (matched, product) {
            (Some(l), _) => format!("id {}", l.id),
            (None, Some(p)) => match key {
                Some(k) => format!("product {p} key {k}"),
                None => format!("product {p} name {}", name.unwrap_or("")),
            },
            (None, None) => format!("row {row}"),
        };
        if let Some(first) = claimed.insert(identity, row) {
            problems.push(problem(
                row,
                "row",
                format!("describes the same license as row {first}"),
            ));
            continue;
        }
        match step(r, matched, today) {
            Ok(s) => steps.push(s),
            Err(p) => problems.push(p),
        }
    }
    if problems.is_empty() {
        Ok(steps)
    } else {
        lm_protocol::csv::cap_problems(&mut problems);
        Err(problems)
    }
}

/// The change one row makes to the license it matched (or the license it creates).
fn step(r: ImportRow, matched: Option<&License>, today: NaiveDate) -> Result<Step, RowProblem> {
    let row = r.row;
    let before_assignees: Vec<Assignee> = matched
        .map(|l| l.assignments.iter().map(|a| a.assignee.clone()).collect())
        .unwrap_or_default();
    let kept = |device: bool| {
        before_assignees
            .iter()
            .filter(move |a| matches!(a, Assignee::Device(_)) == device)
            .cloned()
    };
    let mut assignees: Vec<Assignee> = match &r.employees {
        Some(list) => list.iter().cloned().map(Assignee::Employee).collect(),
        None => kept(false).collect(),
    };
    match &r.devices {
        Some(list) => assignees.extend(list.iter().cloned().map(Assignee::Device)),
        None => assignees.extend(kept(true)),
    }
    let mut seen = BTreeSet::new();
    for a in &assignees {
        if !seen.insert(a) {
            let column = match a {
                Assignee::Employee(_) => "employees",
                Assignee::Device(_) => "devices",
            };
            return Err(problem(row, column, format!("{a} is listed twice")));
        }
    }
    let fields = match matched {
        Some(l) => {
            let b = l.fields();
            LicenseFields {
                product: r.product.unwrap_or(b.product),
                name: r.name.unwrap_or(b.name),
                kind: r.kind.unwrap_or(b.kind),
                vendor: r.vendor.unwrap_or(b.vendor),
                cost: r.cost.unwrap_or(b.cost),
                seats: r.seats.unwrap_or(b.seats),
                added: r.added.unwrap_or(b.added),
                expires: r.expires.unwrap_or(b.expires),
                owner: r.owner.unwrap_or(b.owner),
                key: r.key.unwrap_or(b.key),
                notes: r.notes.unwrap_or(b.notes),
            }
        }
        None => {
            if let Some(column) = r.missing_for_create() {
                return Err(problem(
                    row,
                    column,
                    "required to add a license (no existing license matches this row)",
                ));
            }
            let (Some(product), Some(name), Some(kind), Some(vendor), Some(cost)) =
                (r.product, r.name, r.kind, r.vendor, r.cost)
            else {
                unreachable!("checked by missing_for_create");
            };
            LicenseFields {
                product,
                name,
                kind,
                vendor,
                cost,
                seats: r.seats.flatten(),
                added: r.added.unwrap_or(today),
                expires: r.expires.flatten(),
                owner: r.owner.flatten(),
                key: r.key.flatten(),
                notes: r.notes.unwrap_or_else(|| "".parse().expect("empty notes")),
            }
        }
    };
    // Holders beyond the listed ones stay (see `rewrite`) and count.
    let unlisted = matched.map_or(0, License::unlisted_assignments);
    fields
        .validate(unlisted.saturating_add(assignees.len() as u32))
        .map_err(|e| problem(row, &e.field, e.message))?;
    Ok(match matched {
        None => Step::Create {
            row,
            fields,
            assignees,
        },
        Some(before) => {
            let same_assignees = assignees.iter().collect::<BTreeSet<_>>()
                == before_assignees.iter().collect::<BTreeSet<_>>();
            if same_assignees && fields == before.fields() {
                Step::Unchanged {
                    row,
                    id: before.id.clone(),
                }
            } else {
                Step::Update {
                    row,
                    before: Box::new(before.clone()),
                    fields,
                    assignees,
                }
            }
        }
    })
}

/// Rewrites every field and the assignments of a live license at `revision`.
async fn rewrite(
    tx: &mut Tx,
    org: &str,
    before: &License,
    fields: &LicenseFields,
    assignees: Vec<Assignee>,
    revision: i64,
) -> Result<()> {
    let id = before.id.as_str();
    // The row names the listed holders (the ones an export shows): the listed ones it does
    // not name leave, the ones it names that hold nothing yet come; holders beyond the list
    // stay as they are.
    let mut used = i64::from(before.seats_used);
    for a in &before.assignments {
        if !assignees.contains(&a.assignee)
            && delete_assignment(tx, org, id, a.id.as_str(), revision).await?
        {
            used -= 1;
        }
    }
    for assignee in assignees {
        if !before.assignments.iter().any(|a| a.assignee == assignee)
            && insert_assignment_if_new(tx, org, id, &new_assignment(assignee)?, revision).await?
        {
            used += 1;
        }
    }
    let assignments = read_listed(tx, id).await?;
    let search = search_text(fields, id, assignments.iter().map(|a| &a.assignee));
    let mut values = field_values(fields, search);
    let mut sql = String::from("UPDATE licenses SET ");
    for (i, column) in FIELD_COLUMNS.iter().enumerate() {
        sql.push_str(&format!("{column} = ${}, ", i + 1));
    }
    let n = FIELD_COLUMNS.len();
    sql.push_str(&format!(
        "assignments = ${}, seats_used = ${}, version = version + 1, revision = ${}, updated_at = ${} \
         WHERE org_id = ${} AND id = ${}",
        n + 1,
        n + 2,
        n + 3,
        n + 4,
        n + 5,
        n + 6
    ));
    values.extend(args![
        listed_json(&assignments),
        used,
        revision,
        now(),
        org,
        id
    ]);
    tx.exec().execute(sql, values).await?;
    if fields.owner.as_ref() != before.owner.as_deref() {
        super::seats::index_owners(tx, org, id, fields.owner.as_ref()).await?;
    }
    Ok(())
}

impl Store {
    /// Imports parsed CSV rows into `ctx.org`: all of them or, when any row has a problem,
    /// none. With `dry_run` nothing is written either way; the report says what would happen.
    pub async fn import(
        &self,
        ctx: &ChangeContext,
        rows: Vec<ImportRow>,
        today: NaiveDate,
        dry_run: bool,
    ) -> Result<ImportReport> {
        let org = ctx.org.as_str();
        let row_count = rows.len();
        let mut tx = self.db.begin().await?;
        // Taken first, like every write: the org's write lock, so nothing changes between
        // planning and applying. Rolled back with the transaction when nothing is applied.
        let first = bump_revision(&mut tx, org, 1).await?;
        let live = candidates(&mut tx, org, &rows).await?;
        let mut report = ImportReport {
            dry_run,
            rows: row_count,
            ..ImportReport::default()
        };
        let steps = match plan(rows, live, today) {
            Ok(steps) => steps,
            Err(problems) => {
                report.problems = problems;
                return Ok(report);
            }
        };
        let changes = steps
            .iter()
            .filter(|s| !matches!(s, Step::Unchanged { .. }))
            .count() as i64;
        if changes > 1 && !dry_run {
            tx.exec()
                .execute(
                    "UPDATE orgs SET revision = revision + $2 WHERE id = $1",
                    args![org, changes - 1],
                )
                .await?;
        }
        let mut revision = first;
        let mut created = Vec::new();
        let mut updated = Vec::new();
        // New licenses are written together after the loop, a few hundred a statement: one
        // statement per row and per holder made a 100,000-row import take half a minute.
        let mut new_licenses: Vec<(String, LicenseFields, Vec<Assignment>, i64)> = Vec::new();
        for step in steps {
            let (row, id, outcome) = match step {
                Step::Unchanged { row, id } => (row, Some(id), Outcome::Unchanged),
                Step::Create { row, .. } if dry_run => (row, None, Outcome::Created),
                Step::Update { row, before, .. } if dry_run => {
                    (row, Some(before.id), Outcome::Updated)
                }
                Step::Create {
                    row,
                    fields,
                    assignees,
                } => {
                    let id = uuid::Uuid::now_v7().to_string();
                    let assignments = assignees
                        .into_iter()
                        .map(new_assignment)
                        .collect::<Result<Vec<_>>>()?;
                    let parsed = id.parse().ok();
                    created.push(id.clone());
                    new_licenses.push((id, fields, assignments, revision));
                    revision += 1;
                    (row, parsed, Outcome::Created)
                }
                Step::Update {
                    row,
                    before,
                    fields,
                    assignees,
                } => {
                    rewrite(&mut tx, org, &before, &fields, assignees, revision).await?;
                    revision += 1;
                    updated.push(before.id.to_string());
                    (row, Some(before.id), Outcome::Updated)
                }
            };
            match outcome {
                Outcome::Created => report.created += 1,
                Outcome::Updated => report.updated += 1,
                Outcome::Unchanged => report.unchanged += 1,
            }
            report.outcomes.push(RowOutcome { row, id, outcome });
        }
        if dry_run || changes == 0 {
            return Ok(report);
        }
        let rows: Vec<NewLicense> = new_licenses
            .iter()
            .map(|(id, fields, assignments, revision)| NewLicense {
                id,
                fields,
                assignments,
                revision: *revision,
            })
            .collect();
        insert_licenses(&mut tx, org, &rows).await?;
        let holders: Vec<NewHolder> = new_licenses
            .iter()
            .flat_map(|(id, _, assignments, revision)| {
                assignments.iter().map(move |assignment| NewHolder {
                    license_id: id,
                    assignment,
                    revision: *revision,
                })
            })
            .collect();
        insert_holders(&mut tx, org, &holders, false).await?;
        let range = format!("revisions {first}..{}", revision - 1);
        super::audit::record(
            &mut tx,
            org,
            ctx,
            Audited {
                action: AuditAction::Import,
                record_type: "import",
                record_id: &range,
                before: None,
                after: Some(
                    serde_json::json!({
                        "rows": row_count,
                        "created": created,
                        "updated": updated,
                        "unchanged": report.unchanged,
                    })
                    .to_string(),
                ),
            },
        )
        .await?;
        self.commit_change(tx, org, revision - 1).await?;
        Ok(report)
    }
}
