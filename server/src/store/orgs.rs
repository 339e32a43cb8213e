//! Organization-wide settings: what `GET /v1/org` answers and its managers change.

use super::audit::{self, Audited};
use super::{ChangeContext, Result, Store, StoreError, bump_revision};
use crate::db::{Executes, args};
use lm_protocol::org::DEFAULT_ALERT_DAYS;
use lm_protocol::{AuditAction, Currency, Org, OrgPatch};

#[derive(sqlx::FromRow)]
struct OrgRow {
    id: String,
    display_name: Option<String>,
    default_currency: Option<String>,
    alert_days: Option<String>,
    self_purchase_max_seats: Option<i64>,
    seat_free_types: Option<String>,
}

impl TryFrom<OrgRow> for Org {
    type Error = StoreError;
    fn try_from(r: OrgRow) -> Result<Org> {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("organization {}: {what}: {e}", r.id))
        };
        let name = match &r.display_name {
            Some(name) => name.parse().map_err(|e| corrupt("name", &e))?,
            // The id, shortened to a name's length if need be.
            None => {
                r.id.chars()
                    .take(100)
                    .collect::<String>()
                    .parse()
                    .map_err(|e| corrupt("name", &e))?
            }
        };
        let currency = r
            .default_currency
            .as_deref()
            .map(str::parse::<Currency>)
            .transpose()
            .map_err(|e| corrupt("currency", &e))?;
        let alert_days = match &r.alert_days {
            Some(json) => serde_json::from_str(json).map_err(|e| corrupt("alert days", &e))?,
            None => DEFAULT_ALERT_DAYS.to_vec(),
        };
        let seat_free_types = match &r.seat_free_types {
            Some(json) => serde_json::from_str(json).map_err(|e| corrupt("seat-free types", &e))?,
            None => Vec::new(),
        };
        Ok(Org {
            name,
            currency,
            alert_days,
            seat_free_types,
            self_purchase_max_seats: r
                .self_purchase_max_seats
                .map(|max| u32::try_from(max).unwrap_or(0)),
            id: r.id,
        })
    }
}

async fn org_in(e: &mut impl Executes, org: &str) -> Result<Option<Org>> {
    let row: Option<OrgRow> = e
        .exec()
        .fetch_optional(
            "SELECT id, display_name, default_currency, alert_days, self_purchase_max_seats, \
             seat_free_types FROM orgs WHERE id = $1",
            args![org],
        )
        .await?;
    row.map(Org::try_from).transpose()
}

impl Store {
    /// The settings of `org`: the defaults for one that exists only in tokens so far.
    pub async fn org(&self, org: &str) -> Result<Org> {
        let mut conn = self.db.read().await?;
        match org_in(&mut conn, org).await? {
            Some(found) => Ok(found),
            None => Org::try_from(OrgRow {
                id: org.to_owned(),
                display_name: None,
                default_currency: None,
                alert_days: None,
                self_purchase_max_seats: None,
                seat_free_types: None,
            }),
        }
    }

    /// Changes the settings of the caller's organization, audited.
    pub async fn change_org(&self, ctx: &ChangeContext, patch: &OrgPatch) -> Result<Org> {
        let org = ctx.org.as_str();
        let mut tx = self.db.begin().await?;
        // The organization's write lock (and its row, for one seen in tokens only).
        bump_revision(&mut tx, org, 0).await?;
        let before = org_in(&mut tx, org).await?.ok_or(StoreError::NotFound)?;
        let after = Org {
            name: patch.name.clone().unwrap_or_else(|| before.name.clone()),
            currency: patch.currency.unwrap_or(before.currency),
            alert_days: patch
                .alert_days
                .as_ref()
                .map_or_else(|| before.alert_days.clone(), |d| d.days().to_vec()),
            self_purchase_max_seats: patch
                .self_purchase_max_seats
                .unwrap_or(before.self_purchase_max_seats),
            seat_free_types: match &patch.seat_free_types {
                Some(types) => {
                    let mut types = types.clone();
                    types.sort();
                    types.dedup();
                    if types.len() > lm_protocol::org::MAX_SEAT_FREE_TYPES {
                        return Err(StoreError::Invalid(lm_protocol::FieldError::new(
                            "seat_free_types",
                            format!(
                                "may name at most {} member types",
                                lm_protocol::org::MAX_SEAT_FREE_TYPES
                            ),
                        )));
                    }
                    types
                }
                None => before.seat_free_types.clone(),
            },
            id: before.id.clone(),
        };
        if after == before {
            return Ok(before);
        }
        tx.exec()
            .execute(
                "UPDATE orgs SET display_name = $2, default_currency = $3, alert_days = $4, \
                 self_purchase_max_seats = $5, seat_free_types = $6 WHERE id = $1",
                args![
                    org,
                    after.name.as_str(),
                    after.currency.map(|c| c.to_string()),
                    serde_json::to_string(&after.alert_days).unwrap_or_default(),
                    after.self_purchase_max_seats.map(i64::from),
                    serde_json::to_string(&after.seat_free_types).unwrap_or_default()
                ],
            )
            .await?;
        let json = |o: &Org| serde_json::to_string(o).unwrap_or_default();
        audit::record(
            &mut tx,
            org,
            ctx,
            Audited {
                action: AuditAction::Update,
                record_type: "org",
                record_id: org,
                before: Some(json(&before)),
                after: Some(json(&after)),
            },
        )
        .await?;
        // A revision of its own: daemons following the feed learn of it and read the
        // settings again (the alert days are theirs to use).
        let revision = bump_revision(&mut tx, org, 1).await?;
        self.commit_change(tx, org, revision).await?;
        Ok(after)
    }

    /// Every organization with how many members and live licenses it has, by id.
    pub async fn orgs_overview(&self) -> Result<Vec<(Org, u64, u64)>> {
        #[derive(sqlx::FromRow)]
        struct Overview {
            #[sqlx(flatten)]
            org: OrgRow,
            members: i64,
            licenses: i64,
        }
        let mut conn = self.db.read().await?;
        let rows: Vec<Overview> = conn
            .exec()
            .fetch_all(
                "SELECT o.id, o.display_name, o.default_currency, o.alert_days, o.self_purchase_max_seats, o.seat_free_types, \
                 (SELECT COUNT(*) FROM users u WHERE u.org_id = o.id) AS members, \
                 (SELECT COUNT(*) FROM licenses l WHERE l.org_id = o.id AND l.deleted_at IS NULL) AS licenses \
                 FROM orgs o ORDER BY o.id",
                vec![],
            )
            .await?;
        rows.into_iter()
            .map(|r| {
                let count = |n: i64| u64::try_from(n).unwrap_or(0);
                Ok((Org::try_from(r.org)?, count(r.members), count(r.licenses)))
            })
            .collect()
    }

    /// Removes organization `org` with what only it had (hierarchy, purchases, invitations,
    /// audit log) — never while it has members, licenses (removed ones too, while they can
    /// be restored) or service accounts: the conflict names what remains.
    pub async fn remove_org(&self, org: &str) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let known: Option<(i64,)> = tx
            .exec()
            .fetch_optional("SELECT revision FROM orgs WHERE id = $1", args![org])
            .await?;
        if known.is_none() {
            return Err(StoreError::NotFound);
        }
        bump_revision(&mut tx, org, 0).await?;
        let (members, licenses, removed, clients): (i64, i64, i64, i64) = tx
            .exec()
            .fetch_one(
                "SELECT (SELECT COUNT(*) FROM users WHERE org_id = $1), \
                 (SELECT COUNT(*) FROM licenses WHERE org_id = $1 AND deleted_at IS NULL), \
                 (SELECT COUNT(*) FROM licenses WHERE org_id = $1 AND deleted_at IS NOT NULL), \
                 (SELECT COUNT(*) FROM oauth_clients WHERE org_id = $1 AND removed_at IS NULL)",
                args![org],
            )
            .await?;
        let mut remaining = Vec::new();
        let mut name = |n: i64, one: &str, many: &str| {
            if n > 0 {
                remaining.push(format!("{n} {}", if n == 1 { one } else { many }));
            }
        };
        name(members, "member", "members");
        name(licenses, "license", "licenses");
        name(
            removed,
            "removed license (restorable until purged)",
            "removed licenses (restorable until purged)",
        );
        name(clients, "service account", "service accounts");
        if !remaining.is_empty() {
            return Err(StoreError::Conflict(format!(
                "organization {org} still has {}; an organization is removed only once nothing \
                 of it remains",
                remaining.join(", ")
            )));
        }
        for table in [
            "invitations",
            "released_assignments",
            "assignments",
            "license_owners",
            "purchases",
            "memberships",
            "entities",
            "products",
            "hierarchy_levels",
            "oauth_clients",
            "audit",
        ] {
            tx.exec()
                .execute(format!("DELETE FROM {table} WHERE org_id = $1"), args![org])
                .await?;
        }
        tx.exec()
            .execute("DELETE FROM orgs WHERE id = $1", args![org])
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// How many seats an employee may buy for their own units at once; `None` when only
    /// managers buy seat licenses in `org` (the default).
    pub async fn self_purchase_max_seats(&self, org: &str) -> Result<Option<u32>> {
        let mut conn = self.db.read().await?;
        let row: Option<(Option<i64>,)> = conn
            .exec()
            .fetch_optional(
                "SELECT self_purchase_max_seats FROM orgs WHERE id = $1",
                args![org],
            )
            .await?;
        Ok(row
            .and_then(|(max,)| max)
            .map(|max| u32::try_from(max).unwrap_or(0)))
    }

    /// Lets employees of `org` buy seat licenses of up to `max_seats` seats for their own
    /// units, or (with `None`) leaves buying to managers.
    pub async fn set_self_purchase(&self, org: &str, max_seats: Option<u32>) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let changed = tx
            .exec()
            .execute(
                "UPDATE orgs SET self_purchase_max_seats = $2 WHERE id = $1",
                args![org, max_seats.map(i64::from)],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::Invalid(lm_protocol::FieldError::new(
                "org",
                format!("no organization named `{org}`"),
            )));
        }
        tx.commit().await?;
        Ok(())
    }
}
