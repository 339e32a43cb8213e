//! Writes of licenses: create, change, remove, restore, assign and unassign.
//!
//! A change of one live license goes through [`Store::change_live`], which owns the
//! transaction's order: bump the organization's revision (taking its write lock first), load
//! the license, check the version the caller saw, change it, write the audit entry, commit.
//! The writers of many licenses at once — a batch of seat changes and purchases
//! (`seats/batch.rs`) and a CSV import (`import.rs`) — keep the same order in one transaction
//! of their own. Every write keeps the `license_owners` index (`seats/owners.rs`) in step.

use super::assignments::{
    HolderChange, delete_assignment, insert_assignment, listed, listed_json, new_assignment,
    record_holders, restamp_holders,
};
use super::audit::Audited;
use super::{ChangeContext, Result, Store, StoreError, bump_revision, now};
use crate::db::{Executes, SqlBuf, Tx, Value, args};
use chrono::{DateTime, NaiveDate, Utc};
use lm_protocol::license::{LicenseFields, search_text};
use lm_protocol::{Assignee, Assignment, AuditAction, License, LicensePatch, Owner};
use sha2::{Digest, Sha256};

/// Stored in `seats_sort` for "unlimited", above every real seat count.
pub(super) const UNLIMITED_SEATS: i64 = 1 << 40;
/// Stored in `expires_sort` for "never expires", after every real date.
pub(super) fn never() -> NaiveDate {
    NaiveDate::from_ymd_opt(9999, 12, 31).expect("valid date")
}

pub(super) const COLUMNS: &str = "l.id, l.product, l.name, l.kind, l.vendor, l.cost_amount, l.cost_currency, \
    l.seats, l.seats_used, l.added, l.expires, l.owner_level, l.owner_eids, l.license_key, l.notes, \
    l.assignments, l.version, l.revision, l.deleted_at";

#[derive(sqlx::FromRow)]
pub(super) struct LicenseRow {
    id: String,
    product: String,
    name: String,
    kind: String,
    vendor: String,
    cost_amount: i64,
    cost_currency: String,
    seats: Option<i64>,
    seats_used: i64,
    added: NaiveDate,
    expires: Option<NaiveDate>,
    owner_level: Option<String>,
    owner_eids: Option<String>,
    license_key: Option<String>,
    notes: String,
    assignments: String,
    version: i64,
    revision: i64,
    deleted_at: Option<DateTime<Utc>>,
}

/// A license as stored, with whether it is removed.
pub(super) struct Stored {
    pub(super) license: License,
    pub(super) removed: bool,
}

fn corrupt(id: &str, what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("license {id}: {what}"))
}

impl LicenseRow {
    pub(super) fn into_license(self) -> Result<Stored> {
        let id = self.id.clone();
        let mut assignments: Vec<Assignment> =
            serde_json::from_str(&self.assignments).map_err(|e| corrupt(&id, e))?;
        // A row written before licenses listed a bounded number of holders lists them all.
        assignments.truncate(lm_protocol::license::LISTED_ASSIGNMENTS);
        let bad = |e: lm_protocol::FieldError| corrupt(&id, e);
        let owner = match (self.owner_level, self.owner_eids) {
            (Some(level), Some(eids)) => {
                let eids: Vec<String> = serde_json::from_str(&eids).map_err(|e| corrupt(&id, e))?;
                Some(Owner {
                    level: level.parse().map_err(bad)?,
                    eids: eids
                        .iter()
                        .map(|e| e.parse())
                        .collect::<Result<_, _>>()
                        .map_err(bad)?,
                })
            }
            _ => None,
        };
        let license = License {
            id: self.id.parse().map_err(bad)?,
            product: self.product.parse().map_err(bad)?,
            name: self.name.parse().map_err(bad)?,
            kind: self.kind.parse().map_err(bad)?,
            vendor: self.vendor.parse().map_err(bad)?,
            cost: lm_protocol::Money::new(
                self.cost_amount,
                self.cost_currency.parse().map_err(bad)?,
            )
            .map_err(bad)?,
            seats: self
                .seats
                .map(|s| u32::try_from(s).map_err(|e| corrupt(&id, e)))
                .transpose()?,
            seats_used: u32::try_from(self.seats_used).map_err(|e| corrupt(&id, e))?,
            added: self.added,
            expires: self.expires,
            owner: owner.map(Box::new),
            assignments,
            key: self
                .license_key
                .map(|k| lm_protocol::LicenseKey::new(&k))
                .transpose()
                .map_err(bad)?,
            notes: self.notes.parse().map_err(bad)?,
            version: self.version,
            revision: self.revision,
        };
        Ok(Stored {
            license,
            removed: self.deleted_at.is_some(),
        })
    }
}

pub(super) fn into_licenses(rows: Vec<LicenseRow>) -> Result<Vec<Stored>> {
    rows.into_iter().map(LicenseRow::into_license).collect()
}

async fn load(e: &mut impl Executes, org: &str, id: &str) -> Result<Option<Stored>> {
    let row: Option<LicenseRow> = e
        .exec()
        .fetch_optional(
            format!("SELECT {COLUMNS} FROM licenses l WHERE l.org_id = $1 AND l.id = $2"),
            args![org, id],
        )
        .await?;
    row.map(LicenseRow::into_license).transpose()
}

pub(super) async fn load_live(tx: &mut Tx, org: &str, id: &str) -> Result<License> {
    match load(tx, org, id).await? {
        Some(s) if !s.removed => Ok(s.license),
        _ => Err(StoreError::NotFound),
    }
}

fn check_version(license: &License, expected: Option<i64>) -> Result<()> {
    match expected {
        Some(v) if v != license.version => Err(StoreError::StaleVersion {
            current: license.version,
        }),
        _ => Ok(()),
    }
}

/// The audit snapshot of a license: its JSON with the product key replaced by a fingerprint,
/// so the log shows that a key changed without revealing it.
pub(super) fn snapshot(license: &License) -> serde_json::Value {
    let mut value = serde_json::to_value(license).unwrap_or(serde_json::Value::Null);
    if let (Some(key), Some(obj)) = (&license.key, value.as_object_mut()) {
        let digest = Sha256::digest(key.expose().as_bytes());
        let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        obj.insert("key".into(), format!("sha256:{hex}").into());
    }
    value
}

pub(super) async fn write_audit(
    tx: &mut Tx,
    ctx: &ChangeContext,
    action: AuditAction,
    record_id: &str,
    before: Option<&License>,
    after: Option<&License>,
) -> Result<()> {
    let json = |l: Option<&License>| l.map(|l| snapshot(l).to_string());
    super::audit::record(
        tx,
        &ctx.org,
        ctx,
        Audited {
            action,
            record_type: "license",
            record_id,
            before: json(before),
            after: json(after),
        },
    )
    .await
}

/// The column values derived from a license's fields, in the order of [`FIELD_COLUMNS`].
pub(super) fn field_values(f: &LicenseFields, search: String) -> Vec<Value> {
    let (owner_level, owner_eids) = match &f.owner {
        Some(o) => (
            Some(o.level.to_string()),
            Some(serde_json::to_string(&o.eids).unwrap_or_else(|_| "[]".into())),
        ),
        None => (None, None),
    };
    args![
        f.product.to_string(),
        f.name.to_string(),
        f.name.as_str().to_lowercase(),
        f.kind.to_string(),
        f.vendor.to_string(),
        f.vendor.as_str().to_lowercase(),
        f.cost.amount,
        f.cost.currency.to_string(),
        f.seats.map(i64::from),
        f.seats.map_or(UNLIMITED_SEATS, i64::from),
        f.added,
        f.expires,
        f.expires.unwrap_or_else(never),
        owner_level,
        owner_eids,
        f.key.as_ref().map(|k| k.expose().to_owned()),
        f.notes.to_string(),
        search
    ]
}

pub(super) const FIELD_COLUMNS: [&str; 18] = [
    "product",
    "name",
    "name_key",
    "kind",
    "vendor",
    "vendor_key",
    "cost_amount",
    "cost_currency",
    "seats",
    "seats_sort",
    "added",
    "expires",
    "expires_sort",
    "owner_level",
    "owner_eids",
    "license_key",
    "notes",
    "search",
];

impl Store {
    pub async fn create_license(
        &self,
        ctx: &ChangeContext,
        fields: LicenseFields,
        assignees: Vec<Assignee>,
    ) -> Result<License> {
        let mut tx = self.db.begin().await?;
        let revision = bump_revision(&mut tx, &ctx.org, 1).await?;
        let id = uuid::Uuid::now_v7().to_string();
        let assignments = assignees
            .into_iter()
            .map(new_assignment)
            .collect::<Result<Vec<_>>>()?;
        insert_license(&mut tx, &ctx.org, &id, &fields, &assignments, revision).await?;
        for assignment in &assignments {
            insert_assignment(&mut tx, &ctx.org, &id, assignment, revision).await?;
        }
        let created = load_live(&mut tx, &ctx.org, &id).await?;
        write_audit(&mut tx, ctx, AuditAction::Create, &id, None, Some(&created)).await?;
        self.commit_change(tx, &ctx.org, revision).await?;
        Ok(created)
    }

    /// A live license of `org`, or `None`. Removed licenses are found only with `removed`.
    pub async fn license(&self, org: &str, id: &str, removed: bool) -> Result<Option<License>> {
        let mut conn = self.db.read().await?;
        Ok(load(&mut conn, org, id)
            .await?
            .filter(|s| s.removed == removed)
            .map(|s| s.license))
    }

    pub async fn update_license(
        &self,
        ctx: &ChangeContext,
        id: &str,
        expected_version: i64,
        patch: LicensePatch,
    ) -> Result<License> {
        let org = ctx.org.as_str();
        self.change_live(ctx, id, Some(expected_version), AuditAction::Update, async |tx, before, revision| {
            let fields = patch.apply(before.fields());
            fields.validate(before.seats_used)?;
            let assignees = before.assignments.iter().map(|a| &a.assignee);
            let mut values = field_values(&fields, search_text(&fields, id, assignees));
            let mut sql = String::from("UPDATE licenses SET ");
            for (i, column) in FIELD_COLUMNS.iter().enumerate() {
                sql.push_str(&format!("{column} = ${}, ", i + 1));
            }
            let n = FIELD_COLUMNS.len();
            sql.push_str(&format!(
                "version = version + 1, revision = ${}, updated_at = ${} WHERE org_id = ${} AND id = ${}",
                n + 1,
                n + 2,
                n + 3,
                n + 4
            ));
            values.extend(args![revision, now(), org, id]);
            tx.exec().execute(sql, values).await?;
            if fields.owner.as_ref() != before.owner.as_deref() {
                super::seats::index_owners(tx, org, id, fields.owner.as_ref()).await?;
            }
            Ok(())
        })
        .await
    }

    /// Removes a license softly: it leaves every listing, keeps its assignments and audit
    /// history, and [`Store::restore_license`] brings it back. Returns it as it was.
    pub async fn remove_license(
        &self,
        ctx: &ChangeContext,
        id: &str,
        expected_version: Option<i64>,
    ) -> Result<License> {
        self.change_live(
            ctx,
            id,
            expected_version,
            AuditAction::Delete,
            async |tx, _, revision| {
                tx.exec()
                .execute(
                    "UPDATE licenses SET deleted_at = $3, deleted_by = $4, version = version + 1, \
                     revision = $5, updated_at = $3 WHERE org_id = $1 AND id = $2",
                    args![ctx.org.as_str(), id, now(), ctx.actor.as_str(), revision],
                )
                .await?;
                super::seats::follow_removal(tx, id, true).await
            },
        )
        .await
    }

    pub async fn restore_license(&self, ctx: &ChangeContext, id: &str) -> Result<License> {
        let mut tx = self.db.begin().await?;
        let revision = bump_revision(&mut tx, &ctx.org, 1).await?;
        match load(&mut tx, &ctx.org, id).await? {
            None => return Err(StoreError::NotFound),
            Some(s) if !s.removed => {
                return Err(StoreError::Conflict("the license is not removed".into()));
            }
            Some(_) => {}
        }
        tx.exec()
            .execute(
                "UPDATE licenses SET deleted_at = NULL, deleted_by = NULL, version = version + 1, revision = $3, updated_at = $4 \
                 WHERE org_id = $1 AND id = $2",
                args![ctx.org.as_str(), id, revision, now()],
            )
            .await?;
        super::seats::follow_removal(&mut tx, id, false).await?;
        // Daemons dropped the holders with the removal: the feed hands them out again.
        restamp_holders(&mut tx, id, revision).await?;
        let after = load_live(&mut tx, &ctx.org, id).await?;
        write_audit(&mut tx, ctx, AuditAction::Restore, id, None, Some(&after)).await?;
        self.commit_change(tx, &ctx.org, revision).await?;
        Ok(after)
    }

    /// Assigns the license to an employee or a device, refusing when no seat is free.
    pub async fn assign(
        &self,
        ctx: &ChangeContext,
        id: &str,
        assignee: Assignee,
        expected_version: Option<i64>,
    ) -> Result<License> {
        self.change_live(
            ctx,
            id,
            expected_version,
            AuditAction::Assign,
            async |tx, before, revision| {
                if let Some(seats) = before.seats
                    && before.seats_used >= seats
                {
                    return Err(StoreError::NoFreeSeat {
                        seats,
                        used: before.seats_used,
                    });
                }
                let assignment = new_assignment(assignee)?;
                insert_assignment(tx, &ctx.org, id, &assignment, revision).await?;
                record_holders(
                    tx,
                    &ctx.org,
                    before,
                    revision,
                    &[HolderChange::Added(&assignment)],
                )
                .await
                .map(drop)
            },
        )
        .await
    }

    pub async fn unassign(
        &self,
        ctx: &ChangeContext,
        id: &str,
        assignment: &str,
        expected_version: Option<i64>,
    ) -> Result<License> {
        self.change_live(
            ctx,
            id,
            expected_version,
            AuditAction::Unassign,
            async |tx, before, revision| {
                if !delete_assignment(tx, &ctx.org, id, assignment, revision).await? {
                    return Err(StoreError::NotFound);
                }
                record_holders(
                    tx,
                    &ctx.org,
                    before,
                    revision,
                    &[HolderChange::Removed(assignment)],
                )
                .await
                .map(drop)
            },
        )
        .await
    }

    /// One change to a live license in one write transaction: bump the organization's
    /// revision, load the license, check the version the caller saw, let `change` write, and
    /// audit the license before and after. Returns the license after the change, or as it
    /// was when the change removed it.
    async fn change_live(
        &self,
        ctx: &ChangeContext,
        id: &str,
        expected_version: Option<i64>,
        action: AuditAction,
        change: impl AsyncFnOnce(&mut Tx, &License, i64) -> Result<()>,
    ) -> Result<License> {
        let mut tx = self.db.begin().await?;
        let revision = bump_revision(&mut tx, &ctx.org, 1).await?;
        let before = load_live(&mut tx, &ctx.org, id).await?;
        check_version(&before, expected_version)?;
        change(&mut tx, &before, revision).await?;
        let after = load(&mut tx, &ctx.org, id)
            .await?
            .filter(|s| !s.removed)
            .map(|s| s.license);
        write_audit(&mut tx, ctx, action, id, Some(&before), after.as_ref()).await?;
        self.commit_change(tx, &ctx.org, revision).await?;
        Ok(after.unwrap_or(before))
    }

    /// Inserts many licenses in one transaction, each with its own revision; used by the
    /// sample-data generator. Not audited per record: one audit entry names the batch.
    pub async fn insert_batch(
        &self,
        ctx: &ChangeContext,
        licenses: Vec<(LicenseFields, Vec<Assignee>)>,
    ) -> Result<usize> {
        let count = licenses.len();
        if count == 0 {
            return Ok(0);
        }
        let mut tx = self.db.begin().await?;
        let first = bump_revision(&mut tx, &ctx.org, count as i64).await?;
        for (i, (fields, assignees)) in licenses.into_iter().enumerate() {
            let id = uuid::Uuid::now_v7().to_string();
            let assignments = assignees
                .into_iter()
                .map(new_assignment)
                .collect::<Result<Vec<_>>>()?;
            insert_license(
                &mut tx,
                &ctx.org,
                &id,
                &fields,
                &assignments,
                first + i as i64,
            )
            .await?;
            for assignment in &assignments {
                insert_assignment(&mut tx, &ctx.org, &id, assignment, first + i as i64).await?;
            }
        }
        let range = format!("revisions {first}..{}", first + count as i64 - 1);
        super::audit::record(
            &mut tx,
            &ctx.org,
            ctx,
            Audited {
                action: AuditAction::Create,
                record_type: "batch",
                record_id: &range,
                before: None,
                after: Some(serde_json::json!({ "licenses": count }).to_string()),
            },
        )
        .await?;
        self.commit_change(tx, &ctx.org, first + count as i64 - 1)
            .await?;
        Ok(count)
    }
}

/// The license [`insert_license`] stored from `fields`, as reading it back would answer:
/// version 1, at `revision`, without holders.
pub(super) fn inserted_license(id: &str, fields: LicenseFields, revision: i64) -> Result<License> {
    Ok(License {
        id: id.parse().map_err(StoreError::Invalid)?,
        product: fields.product,
        name: fields.name,
        kind: fields.kind,
        vendor: fields.vendor,
        cost: fields.cost,
        seats: fields.seats,
        seats_used: 0,
        added: fields.added,
        expires: fields.expires,
        owner: fields.owner.map(Box::new),
        assignments: Vec::new(),
        key: fields.key,
        notes: fields.notes,
        version: 1,
        revision,
    })
}

pub(super) async fn insert_license(
    tx: &mut Tx,
    org: &str,
    id: &str,
    fields: &LicenseFields,
    assignments: &[Assignment],
    revision: i64,
) -> Result<()> {
    let row = NewLicense {
        id,
        fields,
        assignments,
        revision,
    };
    insert_licenses(tx, org, std::slice::from_ref(&row)).await
}

/// A license to insert with [`insert_licenses`].
pub(super) struct NewLicense<'a> {
    pub id: &'a str,
    pub fields: &'a LicenseFields,
    pub assignments: &'a [Assignment],
    pub revision: i64,
}

/// Inserts new licenses (their assignment rows are the caller's) and indexes their owners:
/// a few statements however many.
pub(super) async fn insert_licenses(tx: &mut Tx, org: &str, rows: &[NewLicense<'_>]) -> Result<()> {
    let updated_at = now();
    // Id and organization, the fields, the listed holders, seats used, revision, two times.
    let per_license = FIELD_COLUMNS.len() + 7;
    for chunk in rows.chunks(tx.dialect().rows_per_statement(per_license)) {
        let mut q = SqlBuf::new(&format!(
            "INSERT INTO licenses (id, org_id, {}, assignments, seats_used, version, revision, created_at, updated_at) VALUES ",
            FIELD_COLUMNS.join(", ")
        ));
        for (i, row) in chunk.iter().enumerate() {
            q.push(if i == 0 { "(" } else { ", (" });
            q.arg(row.id).push(", ").arg(org);
            let assignees = listed(row.assignments).iter().map(|a| &a.assignee);
            for value in field_values(row.fields, search_text(row.fields, row.id, assignees)) {
                q.push(", ").arg(value);
            }
            q.push(", ").arg(listed_json(row.assignments));
            q.push(", ").arg(row.assignments.len() as i64);
            q.push(", 1, ").arg(row.revision);
            q.push(", ")
                .arg(updated_at)
                .push(", ")
                .arg(updated_at)
                .push(")");
        }
        tx.exec().execute(q.sql, q.args).await?;
    }
    let owners: Vec<(&str, Option<&Owner>)> = rows
        .iter()
        .map(|row| (row.id, row.fields.owner.as_ref()))
        .collect();
    super::seats::index_owners_of_new(tx, org, &owners).await
}
