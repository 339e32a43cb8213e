//! Buying seats for units: a purchase is one license whose seats its owners share.

use crate::db::args;
use crate::store::licenses::{insert_license, load_live, write_audit};
use crate::store::{ChangeContext, Result, Store, StoreError, bump_revision};
use chrono::Utc;
use lm_protocol::hierarchy::{NewPurchase, Product};
use lm_protocol::license::{LicenseFields, Notes};
use lm_protocol::{AuditAction, License, Money, Owner};
use std::collections::HashSet;

impl Store {
    /// Buys seats of a product for units: one license whose seats all the owners share.
    pub async fn purchase(
        &self,
        ctx: &ChangeContext,
        purchaser: &str,
        purchase: &NewPurchase,
        product: &Product,
        hierarchy_provider: Option<&str>,
    ) -> Result<License> {
        let org = ctx.org.as_str();
        let mut tx = self.db.begin().await?;
        let revision = bump_revision(&mut tx, org, 1).await?;
        let same: Vec<(Option<String>,)> = tx
            .exec()
            .fetch_all(
                "SELECT l.owner_eids FROM purchases p JOIN licenses l ON l.id = p.license_id AND l.deleted_at IS NULL \
                 WHERE p.org_id = $1 AND l.org_id = $1 AND l.product = $2 AND l.owner_level = $3 AND p.valid_from = $4 \
                 AND l.expires = $5 AND COALESCE(p.hierarchy_provider, '') = $6",
                args![
                    org,
                    purchase.product_eid.as_str(),
                    purchase.owner_hierarchy_level.as_str(),
                    purchase.valid_from,
                    purchase.valid_to,
                    hierarchy_provider.unwrap_or_default()
                ],
            )
            .await?;
        let wanted: HashSet<&str> = purchase.owner_eids.iter().map(|e| e.as_str()).collect();
        let duplicate = same.iter().any(|(eids,)| {
            let eids: Vec<String> = eids
                .as_deref()
                .and_then(|e| serde_json::from_str(e).ok())
                .unwrap_or_default();
            eids.iter().map(String::as_str).collect::<HashSet<_>>() == wanted
        });
        if duplicate {
            return Err(StoreError::Conflict(format!(
                "these owners bought {} for {} to {} already",
                purchase.product_eid, purchase.valid_from, purchase.valid_to
            )));
        }
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
        let id = uuid::Uuid::now_v7().to_string();
        insert_license(&mut tx, org, &id, &fields, &[], revision).await?;
        tx.exec()
            .execute(
                "INSERT INTO purchases (license_id, org_id, purchaser, hierarchy_provider, valid_from, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                args![
                    id.as_str(),
                    org,
                    purchaser,
                    hierarchy_provider.map(str::to_owned),
                    purchase.valid_from,
                    Utc::now()
                ],
            )
            .await?;
        let created = load_live(&mut tx, org, &id).await?;
        write_audit(&mut tx, ctx, AuditAction::Create, &id, None, Some(&created)).await?;
        self.commit_change(tx, org, revision).await?;
        Ok(created)
    }
}
