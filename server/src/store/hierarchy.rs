//! The built-in Hierarchy Provider's data: each organization's levels, its entities (users,
//! classes, schools, …) and who belongs to what; and the products seat licenses are for.
//!
//! A membership always points up: the parent's level is above the member's. So the
//! hierarchy has no cycles, and a user's memberships are the entities reachable upward.

use super::audit::{Audited, record};
use super::{ChangeContext, Result, Store, StoreError, insert_org};
use crate::db::args;
use chrono::Utc;
use lm_protocol::csv::RowProblem;
use lm_protocol::hierarchy::{
    Entity, EntityRef, Levels, NewProduct, Permission, Product, ProductPatch, check_permissions,
};
use lm_protocol::hierarchy_csv::{HierarchyImportReport, HierarchyRow};
use lm_protocol::{AuditAction, FieldError, HierarchyName};
use serde_json::json;
use std::collections::{HashMap, HashSet};

/// An entity reachable from a user, with its level, and the Hierarchy Provider that knows
/// it (`None`: the built-in one). The same `(class)(4b)` of two providers are two entities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub entity: EntityRef,
    pub level: u32,
    pub provider: Option<std::sync::Arc<str>>,
}

impl Member {
    pub fn provider(&self) -> Option<&str> {
        self.provider.as_deref()
    }
}

fn name(raw: String, what: &str) -> Result<HierarchyName> {
    raw.parse()
        .map_err(|e: FieldError| StoreError::Corrupt(format!("{what}: {}", e.message)))
}

#[derive(sqlx::FromRow)]
pub(super) struct ProductRow {
    pub(super) eid: String,
    name: String,
    description: String,
    permissions: String,
}

impl ProductRow {
    pub(super) fn into_product(self) -> Result<Product> {
        let bad = |e: String| StoreError::Corrupt(format!("product {}: {e}", self.eid));
        let permissions: Vec<Permission> =
            serde_json::from_str(&self.permissions).map_err(|e| bad(e.to_string()))?;
        Ok(Product {
            eid: self.eid.parse().map_err(|e: FieldError| bad(e.message))?,
            name: self.name.parse().map_err(|e: FieldError| bad(e.message))?,
            description: self
                .description
                .parse()
                .map_err(|e: FieldError| bad(e.message))?,
            permissions,
        })
    }
}

impl Store {
    /// The organization's levels by name.
    pub async fn levels(&self, org: &str) -> Result<Levels> {
        let mut conn = self.db.read().await?;
        level_rows(&mut conn, org)
            .await?
            .into_iter()
            .map(|(n, l)| Ok((name(n, "level")?, u32::try_from(l).unwrap_or(0))))
            .collect()
    }

    /// Replaces the organization's levels. A level still used by an entity cannot go.
    pub async fn set_levels(&self, ctx: &ChangeContext, levels: &Levels) -> Result<()> {
        let org = ctx.org.as_str();
        let mut tx = self.db.begin().await?;
        insert_org(&mut tx, org).await?;
        let before: serde_json::Map<String, serde_json::Value> = level_rows(&mut tx, org)
            .await?
            .into_iter()
            .map(|(n, l)| (n, l.into()))
            .collect();
        let used: Vec<(String,)> = tx
            .exec()
            .fetch_all(
                "SELECT DISTINCT type FROM entities WHERE org_id = $1",
                args![org],
            )
            .await?;
        if let Some((kind,)) = used.iter().find(|(k,)| !levels.contains_key(k.as_str())) {
            return Err(FieldError::new(
                kind.clone(),
                "entities of this type exist; delete them before the level",
            )
            .into());
        }
        tx.exec()
            .execute("DELETE FROM hierarchy_levels WHERE org_id = $1", args![org])
            .await?;
        for (name, level) in levels {
            tx.exec()
                .execute(
                    "INSERT INTO hierarchy_levels (org_id, name, level) VALUES ($1, $2, $3)",
                    args![org, name.as_str(), i64::from(*level)],
                )
                .await?;
        }
        record(
            &mut tx,
            org,
            ctx,
            Audited {
                action: AuditAction::Update,
                record_type: "hierarchy_levels",
                record_id: "levels",
                before: Some(serde_json::Value::Object(before).to_string()),
                after: Some(json!(levels).to_string()),
            },
        )
        .await?;
        self.commit_unversioned(tx).await?;
        Ok(())
    }

    /// Creates or renames an entity; its type must be a level.
    pub async fn put_entity(
        &self,
        ctx: &ChangeContext,
        entity: &EntityRef,
        label: &str,
    ) -> Result<bool> {
        let org = ctx.org.as_str();
        let mut tx = self.db.begin().await?;
        let level: Option<(i64,)> = tx
            .exec()
            .fetch_optional(
                "SELECT level FROM hierarchy_levels WHERE org_id = $1 AND name = $2",
                args![org, entity.kind.as_str()],
            )
            .await?;
        if level.is_none() {
            return Err(FieldError::new(
                "type",
                format!(
                    "`{}` is not a level of the hierarchy; set the levels first (PUT /v1/hierarchy/levels)",
                    entity.kind
                ),
            )
            .into());
        }
        let before: Option<(String,)> = tx
            .exec()
            .fetch_optional(
                "SELECT name FROM entities WHERE org_id = $1 AND type = $2 AND eid = $3",
                args![org, entity.kind.as_str(), entity.eid.as_str()],
            )
            .await?;
        if before.as_ref().is_some_and(|(old,)| old == label) {
            return Ok(false);
        }
        if before.is_some() {
            tx.exec()
                .execute(
                    "UPDATE entities SET name = $4 WHERE org_id = $1 AND type = $2 AND eid = $3",
                    args![org, entity.kind.as_str(), entity.eid.as_str(), label],
                )
                .await?;
        } else {
            tx.exec()
                .execute(
                    "INSERT INTO entities (org_id, type, eid, name) VALUES ($1, $2, $3, $4)",
                    args![org, entity.kind.as_str(), entity.eid.as_str(), label],
                )
                .await?;
        }
        let id = entity.to_string();
        let as_json = |name: &str| json!({"entity": id, "name": name}).to_string();
        record(
            &mut tx,
            org,
            ctx,
            Audited {
                action: if before.is_some() {
                    AuditAction::Update
                } else {
                    AuditAction::Create
                },
                record_type: "entity",
                record_id: &id,
                before: before.as_ref().map(|(old,)| as_json(old)),
                after: Some(as_json(label)),
            },
        )
        .await?;
        self.commit_unversioned(tx).await?;
        Ok(before.is_none())
    }

    /// Deletes an entity and every membership it is part of.
    pub async fn delete_entity(&self, ctx: &ChangeContext, entity: &EntityRef) -> Result<()> {
        let org = ctx.org.as_str();
        let mut tx = self.db.begin().await?;
        let before: Option<(String,)> = tx
            .exec()
            .fetch_optional(
                "DELETE FROM entities WHERE org_id = $1 AND type = $2 AND eid = $3 RETURNING name",
                args![org, entity.kind.as_str(), entity.eid.as_str()],
            )
            .await?;
        let Some((label,)) = before else {
            return Err(StoreError::NotFound);
        };
        let links: Vec<(String, String, String, String)> = tx
            .exec()
            .fetch_all(
                "DELETE FROM memberships WHERE org_id = $1 AND ((member_type = $2 AND member_eid = $3) \
                 OR (parent_type = $2 AND parent_eid = $3)) \
                 RETURNING member_type, member_eid, parent_type, parent_eid",
                args![org, entity.kind.as_str(), entity.eid.as_str()],
            )
            .await?;
        let id = entity.to_string();
        let memberships: Vec<String> = links
            .iter()
            .map(|(mt, me, pt, pe)| format!("({mt})({me}) in ({pt})({pe})"))
            .collect();
        record(
            &mut tx,
            org,
            ctx,
            Audited {
                action: AuditAction::Delete,
                record_type: "entity",
                record_id: &id,
                before: Some(
                    json!({"entity": id, "name": label, "memberships": memberships}).to_string(),
                ),
                after: None,
            },
        )
        .await?;
        self.commit_unversioned(tx).await?;
        Ok(())
    }

    /// Makes `member` a member of `parent`. Both must exist, and the parent's level must be
    /// above the member's. Answers whether it is new.
    pub async fn add_membership(
        &self,
        ctx: &ChangeContext,
        member: &EntityRef,
        parent: &EntityRef,
    ) -> Result<bool> {
        let org = ctx.org.as_str();
        let mut tx = self.db.begin().await?;
        let level_of = async |tx: &mut crate::db::Tx, e: &EntityRef, field: &str| {
            let row: Option<(i64,)> = tx
                .exec()
                .fetch_optional(
                    "SELECT h.level FROM entities e JOIN hierarchy_levels h \
                     ON h.org_id = e.org_id AND h.name = e.type \
                     WHERE e.org_id = $1 AND e.type = $2 AND e.eid = $3",
                    args![org, e.kind.as_str(), e.eid.as_str()],
                )
                .await?;
            row.map(|r| r.0)
                .ok_or_else(|| StoreError::from(FieldError::new(field, format!("no entity {e}"))))
        };
        let member_level = level_of(&mut tx, member, "member").await?;
        let parent_level = level_of(&mut tx, parent, "parent").await?;
        if parent_level <= member_level {
            return Err(FieldError::new(
                "parent",
                format!(
                    "{parent} is at level {parent_level}, not above {member} at level {member_level}"
                ),
            )
            .into());
        }
        let inserted = insert_membership(&mut tx, org, member, parent).await?;
        if inserted {
            record_membership(&mut tx, ctx, AuditAction::Create, member, parent).await?;
        }
        self.commit_unversioned(tx).await?;
        Ok(inserted)
    }

    pub async fn remove_membership(
        &self,
        ctx: &ChangeContext,
        member: &EntityRef,
        parent: &EntityRef,
    ) -> Result<()> {
        let org = ctx.org.as_str();
        let mut tx = self.db.begin().await?;
        let deleted = tx
            .exec()
            .execute(
                "DELETE FROM memberships WHERE org_id = $1 AND member_type = $2 AND member_eid = $3 \
                 AND parent_type = $4 AND parent_eid = $5",
                args![
                    org,
                    member.kind.as_str(),
                    member.eid.as_str(),
                    parent.kind.as_str(),
                    parent.eid.as_str()
                ],
            )
            .await?;
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        record_membership(&mut tx, ctx, AuditAction::Delete, member, parent).await?;
        self.commit_unversioned(tx).await?;
        Ok(())
    }

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

    /// Every entity with its direct parents, by type then eid.
    pub async fn entities(&self, org: &str) -> Result<Vec<Entity>> {
        let mut conn = self.db.read().await?;
        let rows: Vec<(String, String, String, i64)> = conn
            .exec()
            .fetch_all(
                "SELECT e.type, e.eid, e.name, h.level FROM entities e JOIN hierarchy_levels h \
                 ON h.org_id = e.org_id AND h.name = e.type WHERE e.org_id = $1 ORDER BY e.type, e.eid",
                args![org],
            )
            .await?;
        let links: Vec<(String, String, String, String)> = conn
            .exec()
            .fetch_all(
                "SELECT member_type, member_eid, parent_type, parent_eid FROM memberships \
                 WHERE org_id = $1 ORDER BY parent_type, parent_eid",
                args![org],
            )
            .await?;
        let mut parents: std::collections::HashMap<(String, String), Vec<EntityRef>> =
            std::collections::HashMap::new();
        for (mt, me, pt, pe) in links {
            let parent = EntityRef {
                kind: name(pt, "membership")?,
                eid: name(pe, "membership")?,
            };
            parents.entry((mt, me)).or_default().push(parent);
        }
        rows.into_iter()
            .map(|(kind, eid, label, level)| {
                let parents = parents
                    .remove(&(kind.clone(), eid.clone()))
                    .unwrap_or_default();
                Ok(Entity {
                    kind: name(kind, "entity")?,
                    eid: name(eid, "entity")?,
                    level: u32::try_from(level).unwrap_or(0),
                    name: label,
                    parents,
                })
            })
            .collect()
    }

    /// Every entity a user belongs to, the user included (as each member type it exists as);
    /// `None` when no member (level 0) entity has this eid.
    pub async fn membership(&self, org: &str, user: &str) -> Result<Option<Vec<Member>>> {
        let mut conn = self.db.read().await?;
        membership_on(&mut conn, org, user).await
    }

    pub async fn products(&self, org: &str) -> Result<Vec<Product>> {
        let mut conn = self.db.read().await?;
        let rows: Vec<ProductRow> = conn
            .exec()
            .fetch_all(
                "SELECT eid, name, description, permissions FROM products WHERE org_id = $1 ORDER BY eid",
                args![org],
            )
            .await?;
        rows.into_iter().map(ProductRow::into_product).collect()
    }

    pub async fn product(&self, org: &str, eid: &str) -> Result<Option<Product>> {
        let mut conn = self.db.read().await?;
        let row: Option<ProductRow> = conn
            .exec()
            .fetch_optional(
                "SELECT eid, name, description, permissions FROM products WHERE org_id = $1 AND eid = $2",
                args![org, eid],
            )
            .await?;
        row.map(ProductRow::into_product).transpose()
    }

    pub async fn create_product(&self, ctx: &ChangeContext, new: NewProduct) -> Result<Product> {
        let org = ctx.org.as_str();
        check_permissions(&new.permissions)?;
        let product = Product {
            eid: new.eid,
            name: new.name,
            description: new
                .description
                .unwrap_or_else(|| "".parse().expect("empty is a description")),
            permissions: new.permissions,
        };
        let mut tx = self.db.begin().await?;
        insert_org(&mut tx, org).await?;
        tx.exec()
            .execute(
                "INSERT INTO products (org_id, eid, name, description, permissions, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6)",
                args![
                    org,
                    product.eid.as_str(),
                    product.name.as_str(),
                    product.description.as_str(),
                    serde_json::to_string(&product.permissions).unwrap_or_default(),
                    Utc::now()
                ],
            )
            .await
            .map_err(|e| {
                StoreError::unique_or(e, || format!("a product `{}` exists already", product.eid))
            })?;
        record(
            &mut tx,
            org,
            ctx,
            Audited {
                action: AuditAction::Create,
                record_type: "product",
                record_id: product.eid.as_str(),
                before: None,
                after: Some(json!(product).to_string()),
            },
        )
        .await?;
        self.commit_unversioned(tx).await?;
        Ok(product)
    }

    pub async fn update_product(
        &self,
        ctx: &ChangeContext,
        eid: &str,
        patch: ProductPatch,
    ) -> Result<Product> {
        let org = ctx.org.as_str();
        let before = self.product(org, eid).await?.ok_or(StoreError::NotFound)?;
        let mut product = before.clone();
        if let Some(name) = patch.name {
            product.name = name;
        }
        if let Some(description) = patch.description {
            product.description = description;
        }
        if let Some(permissions) = patch.permissions {
            check_permissions(&permissions)?;
            product.permissions = permissions;
        }
        let mut tx = self.db.begin().await?;
        tx.exec()
            .execute(
                "UPDATE products SET name = $3, description = $4, permissions = $5, updated_at = $6 \
                 WHERE org_id = $1 AND eid = $2",
                args![
                    org,
                    eid,
                    product.name.as_str(),
                    product.description.as_str(),
                    serde_json::to_string(&product.permissions).unwrap_or_default(),
                    Utc::now()
                ],
            )
            .await?;
        record(
            &mut tx,
            org,
            ctx,
            Audited {
                action: AuditAction::Update,
                record_type: "product",
                record_id: eid,
                before: Some(json!(before).to_string()),
                after: Some(json!(product).to_string()),
            },
        )
        .await?;
        self.commit_unversioned(tx).await?;
        Ok(product)
    }
}

/// Makes `member` a member of `parent`; answers whether it was not one already.
async fn insert_membership(
    tx: &mut crate::db::Tx,
    org: &str,
    member: &EntityRef,
    parent: &EntityRef,
) -> Result<bool> {
    let inserted = tx
        .exec()
        .execute(
            "INSERT INTO memberships (org_id, member_type, member_eid, parent_type, parent_eid) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            args![
                org,
                member.kind.as_str(),
                member.eid.as_str(),
                parent.kind.as_str(),
                parent.eid.as_str()
            ],
        )
        .await?;
    Ok(inserted == 1)
}

/// The organization's levels as stored: name and number.
async fn level_rows(e: &mut impl crate::db::Executes, org: &str) -> Result<Vec<(String, i64)>> {
    Ok(e.exec()
        .fetch_all(
            "SELECT name, level FROM hierarchy_levels WHERE org_id = $1",
            args![org],
        )
        .await?)
}

/// Audits a membership added or removed, under the member's id, so that the member's
/// history (`GET /v1/audit?record=(student)(ada)`) shows where they moved.
async fn record_membership(
    tx: &mut crate::db::Tx,
    ctx: &ChangeContext,
    action: AuditAction,
    member: &EntityRef,
    parent: &EntityRef,
) -> Result<()> {
    let id = member.to_string();
    let link = Some(json!({"member": id, "parent": parent.to_string()}).to_string());
    let (before, after) = match action {
        AuditAction::Delete => (link, None),
        _ => (None, link),
    };
    record(
        tx,
        &ctx.org,
        ctx,
        Audited {
            action,
            record_type: "membership",
            record_id: &id,
            before,
            after,
        },
    )
    .await
}

/// [`Store::membership`] on a connection the caller holds.
pub(super) async fn membership_on(
    e: &mut impl crate::db::Executes,
    org: &str,
    user: &str,
) -> Result<Option<Vec<Member>>> {
    let rows: Vec<(String, String, i64)> = e
        .exec()
        .fetch_all(
            "WITH RECURSIVE up (type, eid) AS ( \
                   SELECT e.type, e.eid FROM entities e JOIN hierarchy_levels h \
                     ON h.org_id = e.org_id AND h.name = e.type \
                     WHERE e.org_id = $1 AND e.eid = $2 AND h.level = 0 \
                   UNION \
                   SELECT m.parent_type, m.parent_eid FROM memberships m JOIN up \
                     ON m.member_type = up.type AND m.member_eid = up.eid WHERE m.org_id = $1 \
                 ) \
                 SELECT up.type, up.eid, h.level FROM up JOIN hierarchy_levels h \
                   ON h.org_id = $1 AND h.name = up.type ORDER BY h.level DESC, up.type, up.eid",
            args![org, user],
        )
        .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    rows.into_iter()
        .map(|(kind, eid, level)| {
            Ok(Member {
                entity: EntityRef {
                    kind: name(kind, "membership")?,
                    eid: name(eid, "membership")?,
                },
                level: u32::try_from(level).unwrap_or(0),
                provider: None,
            })
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}
