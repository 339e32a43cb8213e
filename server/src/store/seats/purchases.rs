//! Buying seats for units: a purchase is one license whose seats its owners share.
//!
//! A purchase's identity is the SHA-256 of what it bought — product, level, the owners
//! sorted, provider, dates — and is unique among live purchases by a partial index, so a
//! duplicate is refused by the insert itself (`ON CONFLICT DO NOTHING RETURNING`, which also
//! refuses it alone within a batch) and nothing reads earlier purchases. Purchases are
//! committed in the same batches as seat changes: a batch's purchases, licenses, owners and
//! audit entries are one multi-row insert each. `removed` follows the license, and a
//! restored purchase bought again meanwhile gives its identity up. Identities are derived:
//! filled in at start for purchases older than them, and after a restore.

use super::batch::{Done, Queued};
use crate::db::{SqlBuf, Tx, args};
use crate::store::audit::{self, Audited};
use crate::store::licenses::{NewLicense, insert_licenses, inserted_license, snapshot};
use crate::store::{ChangeContext, Result, Store, StoreError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDate;
use chrono::Utc;
use lm_protocol::hierarchy::{NewPurchase, Product};
use lm_protocol::license::{LicenseFields, Notes};
use lm_protocol::{AuditAction, License, Money, Owner};
use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// What a purchase bought: what makes two purchases the same.
struct Bought<'a> {
    product: &'a str,
    level: &'a str,
    owners: Vec<&'a str>,
    provider: Option<&'a str>,
    from: NaiveDate,
    to: Option<NaiveDate>,
}

/// A purchase's identity: the SHA-256 of what it bought, the owners sorted, one line each
/// (no name holds a line break). Hashed so that any number of owners makes a short key.
fn identity(bought: &Bought<'_>) -> String {
    let mut owners = bought.owners.clone();
    owners.sort_unstable();
    let mut lines = vec![bought.product, bought.level];
    lines.extend(owners);
    let from = bought.from.to_string();
    let to = bought.to.map(|d| d.to_string()).unwrap_or_default();
    lines.extend([bought.provider.unwrap_or_default(), &from, &to]);
    URL_SAFE_NO_PAD.encode(Sha256::digest(lines.join("\n")))
}

impl Store {
    /// See [`complete_purchase_identities_in`]; run when lm-server opens a database.
    pub async fn complete_purchase_identities(&self) -> Result<usize> {
        let mut tx = self.db.begin().await?;
        let named = complete_purchase_identities_in(&mut tx).await?;
        tx.commit().await?;
        Ok(named)
    }

    /// Buys seats of a product for units: one license whose seats all the owners share.
    /// Committed with the other changes of the organization queued meanwhile (see `batch`).
    pub async fn purchase(
        &self,
        ctx: &ChangeContext,
        purchaser: &str,
        purchase: &NewPurchase,
        product: &Product,
        hierarchy_provider: Option<&str>,
    ) -> Result<License> {
        let owners: Vec<String> = purchase
            .owner_eids
            .iter()
            .map(|e| format!("{} {e}", purchase.owner_hierarchy_level))
            .collect();
        let bad = |e: lm_protocol::FieldError| StoreError::Invalid(e);
        let fields = LicenseFields {
            product: purchase.product_eid.clone(),
            name: format!("{}, {}", product.name, owners.join(", "))
                .chars()
                .take(200)
                .collect::<String>()
                .parse()
                .map_err(bad)?,
            kind: "seat".parse().map_err(bad)?,
            vendor: "purchase".parse().map_err(bad)?,
            cost: Money::new(0, "EUR".parse().map_err(bad)?).map_err(bad)?,
            seats: Some(purchase.seats),
            added: purchase.valid_from,
            expires: Some(purchase.valid_to),
            owner: Some(Owner {
                level: purchase.owner_hierarchy_level.clone(),
                eids: purchase.owner_eids.clone(),
            }),
            key: None,
            notes: Notes::new(&format!("Bought by {purchaser}.")).map_err(bad)?,
        };
        fields.validate(0)?;
        let owners: Vec<&str> = purchase.owner_eids.iter().map(|e| e.as_str()).collect();
        let identity = identity(&Bought {
            product: purchase.product_eid.as_str(),
            level: purchase.owner_hierarchy_level.as_str(),
            owners,
            provider: hierarchy_provider,
            from: purchase.valid_from,
            to: Some(purchase.valid_to),
        });
        let job = PurchaseJob {
            ctx: ctx.clone(),
            id: uuid::Uuid::now_v7().to_string(),
            purchaser: purchaser.to_owned(),
            provider: hierarchy_provider.map(str::to_owned),
            fields,
            identity,
            bought_already: format!(
                "these owners bought {} for {} to {} already",
                purchase.product_eid, purchase.valid_from, purchase.valid_to
            ),
        };
        let queued = Queued::Purchase(Box::new(job));
        match self.queue_change(&ctx.org, queued).await? {
            Done::Purchase(license) => Ok(*license),
            Done::Seats(_) => Err(StoreError::Corrupt(
                "a purchase was answered as another change".into(),
            )),
        }
    }
}

/// A purchase, checked and ready to write, queued for its organization's next batch.
pub(super) struct PurchaseJob {
    ctx: ChangeContext,
    /// The new license's id.
    id: String,
    purchaser: String,
    provider: Option<String>,
    fields: LicenseFields,
    identity: String,
    /// The refusal when the same purchase was made already.
    bought_already: String,
}

/// Writes `jobs` (purchases of one organization) in `tx`, which holds the organization's
/// write lock already: each a license with the next of `revisions`, its purchase and its
/// audit entry. The unique index on the identity refuses a purchase made already — that one
/// alone, as a conflict —; nothing reads earlier purchases. Answers each purchase's license
/// or refusal, in order, and whether anything was written.
pub(super) async fn write_purchases(
    tx: &mut Tx,
    org: &str,
    jobs: &[&PurchaseJob],
    revisions: &mut std::ops::Range<i64>,
) -> Result<(Vec<Result<License>>, bool)> {
    if jobs.is_empty() {
        return Ok((Vec::new(), false));
    }
    let made = insert_purchases(tx, org, jobs).await?;
    let mut rows = Vec::new();
    let mut answers = Vec::with_capacity(jobs.len());
    for job in jobs {
        if !made.contains(job.id.as_str()) {
            answers.push(Err(StoreError::Conflict(job.bought_already.clone())));
            continue;
        }
        let revision = revisions
            .next()
            .ok_or_else(|| StoreError::Corrupt("fewer revisions reserved than purchases".into()))?;
        rows.push(NewLicense {
            id: &job.id,
            fields: &job.fields,
            assignments: &[],
            revision,
        });
        answers.push(inserted_license(&job.id, job.fields.clone(), revision));
    }
    insert_licenses(tx, org, &rows).await?;
    let snapshots: Vec<(&ChangeContext, &str, String)> = jobs
        .iter()
        .zip(&answers)
        .filter_map(|(job, answer)| {
            let license = answer.as_ref().ok()?;
            Some((&job.ctx, job.id.as_str(), snapshot(license).to_string()))
        })
        .collect();
    let entries: Vec<(&ChangeContext, Audited)> = snapshots
        .iter()
        .map(|(ctx, id, after)| {
            (
                *ctx,
                Audited {
                    action: AuditAction::Create,
                    record_type: "license",
                    record_id: id,
                    before: None,
                    after: Some(after.clone()),
                },
            )
        })
        .collect();
    audit::record_all(tx, org, &entries).await?;
    Ok((answers, !rows.is_empty()))
}

/// Inserts the purchase rows of `jobs`, skipping each one whose identity a live purchase
/// has — also one made earlier in the same batch; answers the license ids inserted.
async fn insert_purchases(
    tx: &mut Tx,
    org: &str,
    jobs: &[&PurchaseJob],
) -> Result<HashSet<String>> {
    let mut made = HashSet::new();
    let created_at = Utc::now();
    for chunk in jobs.chunks(tx.dialect().rows_per_statement(7)) {
        let mut q = SqlBuf::new(
            "INSERT INTO purchases (license_id, org_id, purchaser, hierarchy_provider, valid_from, created_at, identity) VALUES ",
        );
        for (i, job) in chunk.iter().enumerate() {
            q.push(if i == 0 { "(" } else { ", (" });
            q.arg(job.id.as_str()).push(", ").arg(org).push(", ");
            q.arg(job.purchaser.as_str()).push(", ");
            q.arg(job.provider.clone()).push(", ");
            q.arg(job.fields.added)
                .push(", ")
                .arg(created_at)
                .push(", ");
            q.arg(job.identity.as_str()).push(")");
        }
        q.push(" ON CONFLICT DO NOTHING RETURNING license_id");
        let inserted: Vec<(String,)> = tx.exec().fetch_all(q.sql, q.args).await?;
        made.extend(inserted.into_iter().map(|(id,)| id));
    }
    Ok(made)
}

/// Marks the purchase of a license removed or live again with it: a removed license's
/// purchase does not stop the same purchase being made again. A restored one whose identity
/// was bought again meanwhile gives it up (it stays, and the newer purchase keeps the
/// identity), rather than refusing the restore.
pub(in crate::store) async fn follow_removal(
    tx: &mut Tx,
    license: &str,
    removed: bool,
) -> Result<()> {
    if removed {
        tx.exec()
            .execute(
                "UPDATE purchases SET removed = TRUE WHERE license_id = $1",
                args![license],
            )
            .await?;
    } else {
        tx.exec()
            .execute(
                "UPDATE purchases SET removed = FALSE, identity = CASE WHEN EXISTS \
                 (SELECT 1 FROM purchases q WHERE q.org_id = purchases.org_id AND q.identity = purchases.identity AND NOT q.removed) \
                 THEN NULL ELSE identity END WHERE license_id = $1",
                args![license],
            )
            .await?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct UnnamedPurchase {
    license_id: String,
    org_id: String,
    product: String,
    owner_level: Option<String>,
    owner_eids: Option<String>,
    hierarchy_provider: Option<String>,
    valid_from: NaiveDate,
    expires: Option<NaiveDate>,
}

/// Gives every live purchase without an identity its identity (purchases made before there
/// was one, and all of them after a restore), oldest first; one whose identity a live
/// purchase has already keeps none. `removed` is set from the licenses first. Idempotent, so
/// replicas starting together agree.
pub async fn complete_purchase_identities_in(tx: &mut Tx) -> Result<usize> {
    tx.exec()
        .execute(
            "UPDATE purchases SET removed = (SELECT l.deleted_at IS NOT NULL FROM licenses l WHERE l.id = purchases.license_id) \
             WHERE identity IS NULL",
            vec![],
        )
        .await?;
    let unnamed: Vec<UnnamedPurchase> = tx
        .exec()
        .fetch_all(
            "SELECT p.license_id, p.org_id, l.product, l.owner_level, l.owner_eids, p.hierarchy_provider, \
             p.valid_from, l.expires FROM purchases p JOIN licenses l ON l.id = p.license_id \
             WHERE p.identity IS NULL AND NOT p.removed ORDER BY p.created_at, p.license_id",
            vec![],
        )
        .await?;
    let mut named = 0;
    let mut taken: HashSet<(String, String)> = HashSet::new();
    for p in unnamed {
        let eids: Vec<String> = p
            .owner_eids
            .as_deref()
            .and_then(|e| serde_json::from_str(e).ok())
            .unwrap_or_default();
        let key = identity(&Bought {
            product: &p.product,
            level: p.owner_level.as_deref().unwrap_or_default(),
            owners: eids.iter().map(String::as_str).collect(),
            provider: p.hierarchy_provider.as_deref(),
            from: p.valid_from,
            to: p.expires,
        });
        if !taken.insert((p.org_id.clone(), key.clone())) {
            continue;
        }
        named += tx
            .exec()
            .execute(
                "UPDATE purchases SET identity = $2 WHERE license_id = $1 AND NOT EXISTS \
                 (SELECT 1 FROM purchases q WHERE q.org_id = $3 AND q.identity = $2 AND NOT q.removed)",
                args![p.license_id.as_str(), key.as_str(), p.org_id.as_str()],
            )
            .await?;
    }
    Ok(named as usize)
}
