use super::{ChangeContext, Result, Store, StoreError, bump_revision, now};
use crate::db::{Executes, SqlBuf, Tx, Value, args, like_escape};
use chrono::{DateTime, NaiveDate, Utc};
use lm_protocol::filter::add_days;
use lm_protocol::license::{LicenseFields, search_text};
use lm_protocol::{
    Assignee, Assignment, AssignmentId, AuditAction, Cursor, CursorValue, License, LicensePatch,
    ListParams, Owner, Page, SortField,
};
use sha2::{Digest, Sha256};

/// Stored in `seats_sort` for "unlimited", above every real seat count.
const UNLIMITED_SEATS: i64 = 1 << 40;
/// Stored in `expires_sort` for "never expires", after every real date.
fn never() -> NaiveDate {
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
        let assignments: Vec<Assignment> =
            serde_json::from_str(&self.assignments).map_err(|e| corrupt(&id, e))?;
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
            owner,
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

fn into_licenses(rows: Vec<LicenseRow>) -> Result<Vec<Stored>> {
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

async fn load_live(tx: &mut Tx, org: &str, id: &str) -> Result<License> {
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
fn snapshot(license: &License) -> serde_json::Value {
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
    tx.exec()
        .execute(
            "INSERT INTO audit (org_id, at, actor, action, record_type, record_id, before, after, request_id, client_addr) \
             VALUES ($1, $2, $3, $4, 'license', $5, $6, $7, $8, $9)",
            args![
                ctx.org.as_str(),
                now(),
                ctx.actor.as_str(),
                action.as_str(),
                record_id,
                json(before),
                json(after),
                ctx.request_id.clone(),
                ctx.client_addr.clone()
            ],
        )
        .await?;
    Ok(())
}

/// The column values derived from a license's fields, in the order of [`FIELD_COLUMNS`].
fn field_values(f: &LicenseFields, search: String) -> Vec<Value> {
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

const FIELD_COLUMNS: [&str; 18] = [
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

/// A new assignment, not yet stored.
fn new_assignment(assignee: Assignee) -> Result<Assignment> {
    let id: AssignmentId = uuid::Uuid::now_v7()
        .to_string()
        .parse()
        .map_err(|e| StoreError::Corrupt(format!("assignment id: {e}")))?;
    Ok(Assignment {
        id,
        assignee,
        since: now(),
    })
}

fn assignments_json(assignments: &[Assignment]) -> String {
    serde_json::to_string(assignments).unwrap_or_else(|_| "[]".into())
}

/// Stores an assignment's row; the caller writes the license's JSON copy of its assignments.
async fn insert_assignment(
    tx: &mut Tx,
    org: &str,
    license_id: &str,
    assignment: &Assignment,
) -> Result<()> {
    let assignee = &assignment.assignee;
    let (employee, device) = match assignee {
        Assignee::Employee(e) => (Some(e.to_string()), None),
        Assignee::Device(d) => (None, Some(d.to_string())),
    };
    tx.exec()
        .execute(
            "INSERT INTO assignments (id, org_id, license_id, employee, device, since) VALUES ($1, $2, $3, $4, $5, $6)",
            args![assignment.id.as_str(), org, license_id, employee, device, assignment.since],
        )
        .await
        .map_err(|e| StoreError::unique_or(e, || format!("{assignee} is already assigned to this license")))?;
    Ok(())
}

/// Rewrites the assignment-derived columns and bumps version and revision after the
/// assignments of `license` became `assignments`.
async fn touch(
    tx: &mut Tx,
    org: &str,
    license: &License,
    revision: i64,
    assignments: &[Assignment],
) -> Result<()> {
    let search = search_text(
        &license.fields(),
        license.id.as_str(),
        assignments.iter().map(|a| &a.assignee),
    );
    tx.exec()
        .execute(
            "UPDATE licenses SET assignments = $3, seats_used = $4, search = $5, version = version + 1, \
             revision = $6, updated_at = $7 WHERE org_id = $1 AND id = $2",
            args![
                org,
                license.id.as_str(),
                assignments_json(assignments),
                assignments.len() as i64,
                search,
                revision,
                now()
            ],
        )
        .await?;
    Ok(())
}

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
            insert_assignment(&mut tx, &ctx.org, &id, assignment).await?;
        }
        let created = load_live(&mut tx, &ctx.org, &id).await?;
        write_audit(&mut tx, ctx, AuditAction::Create, &id, None, Some(&created)).await?;
        tx.commit().await?;
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
        let mut tx = self.db.begin().await?;
        let revision = bump_revision(&mut tx, &ctx.org, 1).await?;
        let before = load_live(&mut tx, &ctx.org, id).await?;
        check_version(&before, Some(expected_version))?;
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
            n + 1, n + 2, n + 3, n + 4
        ));
        values.extend(args![revision, now(), ctx.org.as_str(), id]);
        tx.exec().execute(sql, values).await?;
        let after = load_live(&mut tx, &ctx.org, id).await?;
        write_audit(
            &mut tx,
            ctx,
            AuditAction::Update,
            id,
            Some(&before),
            Some(&after),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Removes a license softly: it leaves every listing, keeps its assignments and audit
    /// history, and [`Store::restore_license`] brings it back.
    pub async fn remove_license(
        &self,
        ctx: &ChangeContext,
        id: &str,
        expected_version: Option<i64>,
    ) -> Result<License> {
        let mut tx = self.db.begin().await?;
        let revision = bump_revision(&mut tx, &ctx.org, 1).await?;
        let before = load_live(&mut tx, &ctx.org, id).await?;
        check_version(&before, expected_version)?;
        tx.exec()
            .execute(
                "UPDATE licenses SET deleted_at = $3, deleted_by = $4, version = version + 1, revision = $5, updated_at = $3 \
                 WHERE org_id = $1 AND id = $2",
                args![ctx.org.as_str(), id, now(), ctx.actor.as_str(), revision],
            )
            .await?;
        write_audit(&mut tx, ctx, AuditAction::Delete, id, Some(&before), None).await?;
        tx.commit().await?;
        Ok(before)
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
        let after = load_live(&mut tx, &ctx.org, id).await?;
        write_audit(&mut tx, ctx, AuditAction::Restore, id, None, Some(&after)).await?;
        tx.commit().await?;
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
        let mut tx = self.db.begin().await?;
        let revision = bump_revision(&mut tx, &ctx.org, 1).await?;
        let before = load_live(&mut tx, &ctx.org, id).await?;
        check_version(&before, expected_version)?;
        if before.assignments.iter().any(|a| a.assignee == assignee) {
            return Err(StoreError::Conflict(format!(
                "{assignee} is already assigned to this license"
            )));
        }
        if let Some(seats) = before.seats
            && before.seats_used >= seats
        {
            return Err(StoreError::NoFreeSeat {
                seats,
                used: before.seats_used,
            });
        }
        let assignment = new_assignment(assignee)?;
        insert_assignment(&mut tx, &ctx.org, id, &assignment).await?;
        let mut assignments = before.assignments.clone();
        assignments.push(assignment);
        touch(&mut tx, &ctx.org, &before, revision, &assignments).await?;
        let after = load_live(&mut tx, &ctx.org, id).await?;
        write_audit(
            &mut tx,
            ctx,
            AuditAction::Assign,
            id,
            Some(&before),
            Some(&after),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    pub async fn unassign(
        &self,
        ctx: &ChangeContext,
        id: &str,
        assignment: &str,
        expected_version: Option<i64>,
    ) -> Result<License> {
        let mut tx = self.db.begin().await?;
        let revision = bump_revision(&mut tx, &ctx.org, 1).await?;
        let before = load_live(&mut tx, &ctx.org, id).await?;
        check_version(&before, expected_version)?;
        if !before
            .assignments
            .iter()
            .any(|a| a.id.as_str() == assignment)
        {
            return Err(StoreError::NotFound);
        }
        tx.exec()
            .execute(
                "DELETE FROM assignments WHERE id = $1 AND license_id = $2",
                args![assignment, id],
            )
            .await?;
        let remaining: Vec<Assignment> = before
            .assignments
            .iter()
            .filter(|a| a.id.as_str() != assignment)
            .cloned()
            .collect();
        touch(&mut tx, &ctx.org, &before, revision, &remaining).await?;
        let after = load_live(&mut tx, &ctx.org, id).await?;
        write_audit(
            &mut tx,
            ctx,
            AuditAction::Unassign,
            id,
            Some(&before),
            Some(&after),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// One keyset page of `org`'s licenses.
    pub async fn list_licenses(
        &self,
        org: &str,
        params: &ListParams,
        today: NaiveDate,
    ) -> Result<Page<License>> {
        let q = list_query(org, params, today)?;
        let mut conn = self.db.read().await?;
        let rows: Vec<LicenseRow> = conn.exec().fetch_all(q.sql, q.args).await?;
        let mut items: Vec<License> = into_licenses(rows)?
            .into_iter()
            .map(|s| s.license)
            .collect();
        let next = if items.len() > params.limit as usize {
            items.truncate(params.limit as usize);
            items.last().map(|l| Cursor::after(l, params.sort).encode())
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// The query plan of a listing, for benchmarks and `EXPLAIN` checks.
    pub async fn explain_list(
        &self,
        org: &str,
        params: &ListParams,
        today: NaiveDate,
    ) -> Result<Vec<String>> {
        let q = list_query(org, params, today)?;
        let mut conn = self.db.read().await?;
        match self.dialect() {
            crate::db::Dialect::Sqlite => {
                let rows: Vec<(i64, i64, i64, String)> = conn
                    .exec()
                    .fetch_all(format!("EXPLAIN QUERY PLAN {}", q.sql), q.args)
                    .await?;
                Ok(rows.into_iter().map(|r| r.3).collect())
            }
            crate::db::Dialect::Postgres => {
                let rows: Vec<(String,)> = conn
                    .exec()
                    .fetch_all(format!("EXPLAIN {}", q.sql), q.args)
                    .await?;
                Ok(rows.into_iter().map(|r| r.0).collect())
            }
        }
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
                insert_assignment(&mut tx, &ctx.org, &id, assignment).await?;
            }
        }
        tx.exec()
            .execute(
                "INSERT INTO audit (org_id, at, actor, action, record_type, record_id, after, request_id, client_addr) \
                 VALUES ($1, $2, $3, 'create', 'batch', $4, $5, $6, $7)",
                args![
                    ctx.org.as_str(),
                    now(),
                    ctx.actor.as_str(),
                    format!("revisions {first}..{}", first + count as i64 - 1),
                    serde_json::json!({ "licenses": count }).to_string(),
                    ctx.request_id.clone(),
                    ctx.client_addr.clone()
                ],
            )
            .await?;
        tx.commit().await?;
        Ok(count)
    }
}

async fn insert_license(
    tx: &mut Tx,
    org: &str,
    id: &str,
    fields: &LicenseFields,
    assignments: &[Assignment],
    revision: i64,
) -> Result<()> {
    let mut values = args![id, org];
    let assignees = assignments.iter().map(|a| &a.assignee);
    values.extend(field_values(fields, search_text(fields, id, assignees)));
    let n = values.len();
    values.extend(args![
        assignments_json(assignments),
        assignments.len() as i64,
        revision,
        now()
    ]);
    let placeholders: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO licenses (id, org_id, {}, assignments, seats_used, version, revision, created_at, updated_at) \
         VALUES ({}, ${}, ${}, 1, ${}, ${}, ${})",
        FIELD_COLUMNS.join(", "),
        placeholders.join(", "),
        n + 1,
        n + 2,
        n + 3,
        n + 4,
        n + 4
    );
    tx.exec().execute(sql, values).await?;
    Ok(())
}

/// The SQL column a sort field orders by. Every one is NOT NULL (absent values are stored
/// as sentinels that sort last) and has an index `(org_id, column, id)`.
fn sort_column(field: SortField) -> &'static str {
    match field {
        SortField::Id => "l.id",
        SortField::Product => "l.product",
        SortField::Name => "l.name_key",
        SortField::Kind => "l.kind",
        SortField::Vendor => "l.vendor_key",
        SortField::Cost => "l.cost_amount",
        SortField::Seats => "l.seats_sort",
        SortField::SeatsUsed => "l.seats_used",
        SortField::Added => "l.added",
        SortField::Expires => "l.expires_sort",
    }
}

/// The SQL value of a cursor's sort key.
fn cursor_value(field: SortField, value: &CursorValue) -> Result<Value, lm_protocol::FieldError> {
    let bad = || lm_protocol::FieldError::new("cursor", "does not fit the sort it claims");
    Ok(match (field, value) {
        (SortField::Seats, CursorValue::Null) => Value::from(UNLIMITED_SEATS),
        (SortField::Expires, CursorValue::Null) => Value::from(never()),
        (SortField::Added | SortField::Expires, CursorValue::Text(t)) => {
            Value::from(t.parse::<NaiveDate>().map_err(|_| bad())?)
        }
        (SortField::Cost | SortField::Seats | SortField::SeatsUsed, CursorValue::Int(i)) => {
            Value::from(*i)
        }
        (
            SortField::Id
            | SortField::Product
            | SortField::Name
            | SortField::Kind
            | SortField::Vendor,
            CursorValue::Text(t),
        ) => Value::from(t.as_str()),
        _ => return Err(bad()),
    })
}

fn list_query(org: &str, params: &ListParams, today: NaiveDate) -> Result<SqlBuf> {
    let f = &params.filter;
    let mut q = SqlBuf::new(&format!(
        "SELECT {COLUMNS} FROM licenses l WHERE l.org_id = "
    ));
    q.arg(org);
    q.push(if params.deleted {
        " AND l.deleted_at IS NOT NULL"
    } else {
        " AND l.deleted_at IS NULL"
    });
    let eq = |q: &mut SqlBuf, column: &str, value: Option<Value>| {
        if let Some(v) = value {
            q.push(&format!(" AND {column} = ")).arg(v);
        }
    };
    eq(&mut q, "l.id", f.id.as_ref().map(|v| v.to_string().into()));
    eq(
        &mut q,
        "l.kind",
        f.kind.as_ref().map(|v| v.to_string().into()),
    );
    eq(
        &mut q,
        "l.product",
        f.product.as_ref().map(|v| v.to_string().into()),
    );
    eq(&mut q, "l.vendor_key", f.vendor.clone().map(Value::from));
    eq(&mut q, "l.cost_amount", f.cost.map(Value::from));
    eq(
        &mut q,
        "l.cost_currency",
        f.currency.map(|c| c.to_string().into()),
    );
    eq(&mut q, "l.added", f.added.map(Value::from));
    eq(&mut q, "l.expires", f.expires.map(Value::from));
    let range = |q: &mut SqlBuf, column: &str, op: &str, value: Option<Value>| {
        if let Some(v) = value {
            q.push(&format!(" AND {column} {op} ")).arg(v);
        }
    };
    range(&mut q, "l.cost_amount", ">=", f.cost_min.map(Value::from));
    range(&mut q, "l.cost_amount", "<=", f.cost_max.map(Value::from));
    range(&mut q, "l.added", ">=", f.added_from.map(Value::from));
    range(&mut q, "l.added", "<=", f.added_to.map(Value::from));
    if f.expires_from.is_some() || f.expires_to.is_some() || f.expiring_within.is_some() {
        q.push(" AND l.expires IS NOT NULL");
    }
    range(
        &mut q,
        "l.expires_sort",
        ">=",
        f.expires_from.map(Value::from),
    );
    range(
        &mut q,
        "l.expires_sort",
        "<=",
        f.expires_to.map(Value::from),
    );
    if let Some(days) = f.expiring_within {
        range(&mut q, "l.expires_sort", ">=", Some(today.into()));
        range(
            &mut q,
            "l.expires_sort",
            "<=",
            Some(add_days(today, days).into()),
        );
    }
    if let Some(employee) = &f.employee {
        q.push(" AND l.id IN (SELECT a.license_id FROM assignments a WHERE a.org_id = ")
            .arg(org)
            .push(" AND a.employee = ")
            .arg(employee.to_string())
            .push(")");
    }
    if let Some(device) = &f.device {
        q.push(" AND l.id IN (SELECT a.license_id FROM assignments a WHERE a.org_id = ")
            .arg(org)
            .push(" AND a.device = ")
            .arg(device.to_string())
            .push(")");
    }
    if let Some(text) = &f.q {
        q.push(" AND l.search LIKE ")
            .arg(format!("%{}%", like_escape(text)))
            .push(" ESCAPE '\\'");
    }
    let column = sort_column(params.sort.field);
    let (cmp, dir) = if params.sort.descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some(cursor) = &params.cursor {
        let value = cursor_value(params.sort.field, &cursor.value)?;
        if params.sort.field == SortField::Id {
            q.push(&format!(" AND l.id {cmp} ")).arg(cursor.id.as_str());
        } else {
            q.push(&format!(" AND ({column}, l.id) {cmp} ("))
                .arg(value)
                .push(", ")
                .arg(cursor.id.as_str())
                .push(")");
        }
    }
    if params.sort.field == SortField::Id {
        q.push(&format!(" ORDER BY l.id {dir} LIMIT "));
    } else {
        q.push(&format!(" ORDER BY {column} {dir}, l.id {dir} LIMIT "));
    }
    q.arg(i64::from(params.limit) + 1);
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sort_has_a_cursor_mapping() {
        for field in SortField::ALL {
            let sample = match field {
                SortField::Cost | SortField::Seats | SortField::SeatsUsed => CursorValue::Int(1),
                SortField::Added | SortField::Expires => CursorValue::Text("2026-01-01".into()),
                _ => CursorValue::Text("x".into()),
            };
            assert!(cursor_value(field, &sample).is_ok(), "{field:?}");
        }
    }
}
