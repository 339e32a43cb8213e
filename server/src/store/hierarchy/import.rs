//! The CSV import of units and memberships: every row checked against the stored levels and
//! entities, then all applied in one transaction, or none.

use super::edits::insert_membership;
use super::level_rows;
use crate::db::args;
use crate::store::audit::{Audited, record};
use crate::store::{ChangeContext, Result, Store, insert_org};
use lm_protocol::AuditAction;
use lm_protocol::csv::RowProblem;
use lm_protocol::hierarchy::EntityRef;
use lm_protocol::hierarchy_csv::{HierarchyImportReport, HierarchyRow};
use serde_json::json;
use std::collections::{HashMap, HashSet};

impl Store {
    /// Imports units and memberships (see `lm_protocol::hierarchy_csv`) in one transaction:
    /// every row is checked against the levels, the entities and the memberships there are
    /// and those of the file, and with any problem, or a dry run, nothing is written.
    pub async fn import_hierarchy(
        &self,
        ctx: &ChangeContext,
        rows: &[HierarchyRow],
        dry_run: bool,
    ) -> Result<HierarchyImportReport> {
        let org = ctx.org.as_str();
        let mut tx = self.db.begin().await?;
        insert_org(&mut tx, org).await?;
        let levels: HashMap<String, i64> = level_rows(&mut tx, org).await?.into_iter().collect();
        let stored: Vec<(String, String, String)> = tx
            .exec()
            .fetch_all(
                "SELECT type, eid, name FROM entities WHERE org_id = $1",
                args![org],
            )
            .await?;
        let mut names: HashMap<(String, String), String> = stored
            .into_iter()
            .map(|(kind, eid, name)| ((kind, eid), name))
            .collect();
        let linked: Vec<(String, String, String, String)> = tx
            .exec()
            .fetch_all(
                "SELECT member_type, member_eid, parent_type, parent_eid FROM memberships WHERE org_id = $1",
                args![org],
            )
            .await?;
        let mut links: HashSet<(String, String, String, String)> = linked.into_iter().collect();
        let key = |e: &EntityRef| (e.kind.to_string(), e.eid.to_string());
        let mut report = HierarchyImportReport {
            dry_run,
            rows: rows.len(),
            ..HierarchyImportReport::default()
        };
        let problem = |row: usize, field: &str, problem: String| RowProblem {
            row,
            field: field.to_owned(),
            problem,
        };
        // Entities first, so that a parent may come later in the file than its members.
        let mut created = Vec::new();
        let mut renamed: HashMap<(String, String), String> = HashMap::new();
        let mut named_by: HashMap<(String, String), usize> = HashMap::new();
        for r in rows {
            if !levels.contains_key(r.entity.kind.as_str()) {
                report.problems.push(problem(
                    r.row,
                    "type",
                    format!("`{}` is not a level of the hierarchy", r.entity.kind),
                ));
                continue;
            }
            let k = key(&r.entity);
            let name = r.name.as_ref().map(|n| n.as_str().to_owned());
            if let (Some(name), Some(first)) = (&name, named_by.get(&k)) {
                if renamed.get(&k).or(names.get(&k)) != Some(name) {
                    report.problems.push(problem(
                        r.row,
                        "name",
                        format!("differs from the name row {first} gives {}", r.entity),
                    ));
                }
                continue;
            }
            match (names.get(&k), name) {
                (None, name) => {
                    let name = name.unwrap_or_default();
                    names.insert(k.clone(), name.clone());
                    created.push((r.entity.clone(), name));
                    named_by.insert(k, r.row);
                }
                (Some(old), Some(name)) if *old != name => {
                    renamed.insert(k.clone(), name);
                    named_by.insert(k, r.row);
                }
                (Some(_), Some(_)) => {
                    named_by.insert(k, r.row);
                }
                (Some(_), None) => {}
            }
        }
        let mut added = Vec::new();
        for r in rows {
            let Some(parent) = &r.parent else { continue };
            let (Some(member_level), Some(parent_level)) = (
                levels.get(r.entity.kind.as_str()),
                levels.get(parent.kind.as_str()),
            ) else {
                if levels.contains_key(r.entity.kind.as_str()) {
                    report.problems.push(problem(
                        r.row,
                        "parent_type",
                        format!("`{}` is not a level of the hierarchy", parent.kind),
                    ));
                }
                continue;
            };
            if !names.contains_key(&key(parent)) {
                report.problems.push(problem(
                    r.row,
                    "parent_eid",
                    format!("there is no {parent}, here or in the file"),
                ));
                continue;
            }
            if parent_level <= member_level {
                report.problems.push(problem(
                    r.row,
                    "parent_type",
                    format!(
                        "{parent} is at level {parent_level}, not above {} at level {member_level}",
                        r.entity
                    ),
                ));
                continue;
            }
            let (mt, me) = key(&r.entity);
            let (pt, pe) = key(parent);
            if links.insert((mt, me, pt, pe)) {
                added.push((r.entity.clone(), parent.clone()));
            }
        }
        lm_protocol::csv::cap_problems(&mut report.problems);
        report.entities_created = created.len();
        report.entities_renamed = renamed.len();
        report.memberships_added = added.len();
        if dry_run || !report.problems.is_empty() {
            return Ok(report);
        }
        for (entity, name) in &created {
            tx.exec()
                .execute(
                    "INSERT INTO entities (org_id, type, eid, name) VALUES ($1, $2, $3, $4)",
                    args![
                        org,
                        entity.kind.as_str(),
                        entity.eid.as_str(),
                        name.as_str()
                    ],
                )
                .await?;
        }
        for ((kind, eid), name) in &renamed {
            tx.exec()
                .execute(
                    "UPDATE entities SET name = $4 WHERE org_id = $1 AND type = $2 AND eid = $3",
                    args![org, kind.as_str(), eid.as_str(), name.as_str()],
                )
                .await?;
        }
        for (member, parent) in &added {
            insert_membership(&mut tx, org, member, parent).await?;
        }
        record(
            &mut tx,
            org,
            ctx,
            Audited {
                action: AuditAction::Import,
                record_type: "hierarchy",
                record_id: "import",
                before: None,
                after: Some(
                    json!({
                        "rows": report.rows,
                        "entities_created": report.entities_created,
                        "entities_renamed": report.entities_renamed,
                        "memberships_added": report.memberships_added,
                    })
                    .to_string(),
                ),
            },
        )
        .await?;
        self.commit_unversioned(tx).await?;
        Ok(report)
    }
}
