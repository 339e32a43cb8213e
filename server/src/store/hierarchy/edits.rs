//! The managers' edits of the built-in hierarchy: levels, entities and memberships, each
//! audited in the transaction that makes it.

use super::level_rows;
use crate::db::args;
use crate::store::audit::{Audited, record};
use crate::store::{ChangeContext, Result, Store, StoreError, insert_org};
use lm_protocol::hierarchy::{EntityRef, Levels};
use lm_protocol::{AuditAction, FieldError};
use serde_json::json;

impl Store {
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
}

/// Makes `member` a member of `parent`; answers whether it was not one already.
pub(super) async fn insert_membership(
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

/// Audits a membership added or removed, under the member's id, so that the member's
/// history (`GET /v1/audit?record=(student)(ada)`) shows where they moved.
pub(super) async fn record_membership(
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
