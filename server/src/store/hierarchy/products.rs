//! Products: what seat licenses are for, and the permissions a seat of one grants.

use crate::db::args;
use crate::store::audit::{Audited, record};
use crate::store::{ChangeContext, Result, Store, StoreError, insert_org};
use chrono::Utc;
use lm_protocol::hierarchy::{NewProduct, Permission, Product, ProductPatch, check_permissions};
use lm_protocol::{AuditAction, FieldError};
use serde_json::json;

#[derive(sqlx::FromRow)]
pub(in crate::store) struct ProductRow {
    pub(in crate::store) eid: String,
    name: String,
    description: String,
    permissions: String,
}

impl ProductRow {
    pub(in crate::store) fn into_product(self) -> Result<Product> {
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
