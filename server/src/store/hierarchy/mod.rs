//! The built-in Hierarchy Provider's data: each organization's levels, its entities (users,
//! classes, schools, …) and who belongs to what; and the products seat licenses are for.
//!
//! A membership always points up: the parent's level is above the member's. So the
//! hierarchy has no cycles, and a user's memberships are the entities reachable upward.
//!
//! One job per file: here what is read (levels, entities, a user's memberships); `edits`
//! the managers' changes, each audited; `import` the CSV import of units and memberships;
//! `products` the products seat licenses are for.

mod edits;
mod import;
mod products;

pub(in crate::store) use products::ProductRow;

use super::{Result, Store, StoreError};
use crate::db::args;
use lm_protocol::hierarchy::{Entity, EntityRef, Levels};
use lm_protocol::{FieldError, HierarchyName};

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

/// [`Store::membership`] on a connection the caller holds.
pub(in crate::store) async fn membership_on(
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
