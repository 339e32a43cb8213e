//! Products, purchases of seat licenses for organisational units, and the permission check
//! that takes seats implicitly (the rule is documented in `store::seats`).

use super::AppState;
use super::context::{Caller, JsonBody, Manager};
use super::error::ApiError;
use super::params::visible;
use crate::hierarchy_providers::HierarchyProviders;
use crate::store::hierarchy::Member;
use crate::store::seats::UserSeats;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use lm_protocol::hierarchy::{
    GrantClaims, HeldProduct, NewProduct, NewPurchase, Permission, Permissions, Product,
    ProductPatch, Refused,
};
use lm_protocol::{HierarchyName, License};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// How permission checks behave.
#[derive(Debug, Clone)]
pub struct SeatSettings {
    /// How long a signed grant is good for at most (it ends with the license anyway).
    pub grant_lease: Duration,
    /// Member types that use their units' licenses without taking a seat (e.g. teachers).
    pub seat_free_types: Arc<Vec<String>>,
    /// The remote Hierarchy Providers this server may call.
    pub hierarchy_providers: Arc<HierarchyProviders>,
}

impl Default for SeatSettings {
    fn default() -> Self {
        SeatSettings {
            grant_lease: Duration::from_secs(24 * 3600),
            seat_free_types: Arc::default(),
            hierarchy_providers: Arc::default(),
        }
    }
}

/// The user a route names must be the caller, unless a manager calls.
fn acting_for(caller: &Caller, eid: &str, action: &str) -> Result<(), ApiError> {
    if caller.principal.subject == eid || caller.principal.role.is_manager() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "only {eid} or a manager may {action}"
        )))
    }
}

fn user_eid(eid: &str) -> Result<HierarchyName, ApiError> {
    eid.parse()
        .map_err(|e: lm_protocol::FieldError| e.within("eid").into())
}

/// Every entity `user` belongs to — by the built-in Hierarchy Provider, and by each remote
/// one whose units own licenses of the organization — and the seats the user holds. The
/// database is read first and its connection given back before any provider is asked, so a
/// slow provider holds none.
async fn memberships(
    state: &AppState,
    org: &str,
    user: &HierarchyName,
) -> Result<(Vec<Member>, UserSeats), ApiError> {
    let mut seats = state.store.user_seats(org, user.as_str()).await?;
    let mut members = seats.memberships.take().unwrap_or_default();
    let providers = &state.seats.hierarchy_providers;
    let asks = seats.providers_in_use.iter().filter_map(|name| {
        let provider = providers.named(name);
        if provider.is_none() {
            tracing::warn!(provider = %name, org, "licenses name a Hierarchy Provider that is no longer configured");
        }
        provider.map(|p| p.membership(user))
    });
    for answer in futures_util::future::join_all(asks).await {
        members.extend(answer?.unwrap_or_default());
    }
    Ok((members, seats))
}

/// `GET /v1/grant-keys`: the public keys grants are signed with (a JWK Set), for checking
/// them offline. Served whoever issues the tokens; with the built-in authorization server
/// they are also its `/.well-known/jwks.json`, and the answer is the same.
#[utoipa::path(get, path = "/v1/grant-keys", tag = "seats",
    responses((status = 200, description = "a JWK Set of Ed25519 keys (RFC 7517, RFC 8037)")))]
pub async fn grant_keys(state: State<AppState>) -> Response {
    super::oauth::jwks(state).await
}

/// `GET /v1/products`
#[utoipa::path(get, path = "/v1/products", tag = "seats",
    responses((status = 200, body = Vec<Product>)),
    security(("bearer" = [])))]
pub async fn list_products(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<Product>>, ApiError> {
    Ok(Json(state.store.products(&caller.principal.org).await?))
}

/// `POST /v1/products`
#[utoipa::path(post, path = "/v1/products", tag = "seats", request_body = NewProduct,
    responses((status = 201, body = Product), (status = 403, body = lm_protocol::Problem), (status = 409, body = lm_protocol::Problem), (status = 422, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn create_product(
    Manager(caller): Manager,
    State(state): State<AppState>,
    JsonBody(new): JsonBody<NewProduct>,
) -> Result<Response, ApiError> {
    let product = state
        .store
        .create_product(&caller.change_context(), new)
        .await?;
    Ok((StatusCode::CREATED, Json(product)).into_response())
}

/// `PATCH /v1/products/{eid}`
#[utoipa::path(patch, path = "/v1/products/{eid}", tag = "seats", request_body = ProductPatch,
    params(("eid" = String, Path)),
    responses((status = 200, body = Product), (status = 403, body = lm_protocol::Problem), (status = 404, body = lm_protocol::Problem), (status = 422, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn update_product(
    Manager(caller): Manager,
    State(state): State<AppState>,
    Path(eid): Path<String>,
    JsonBody(patch): JsonBody<ProductPatch>,
) -> Result<Json<Product>, ApiError> {
    Ok(Json(
        state
            .store
            .update_product(&caller.change_context(), &eid, patch)
            .await?,
    ))
}

/// `POST /v1/users/{eid}/purchases`
#[utoipa::path(post, path = "/v1/users/{eid}/purchases", tag = "seats", request_body = NewPurchase,
    params(("eid" = String, Path, description = "the purchaser: the caller, or anyone for a manager")),
    responses((status = 201, body = License, description = "the license whose seats the owners share"),
        (status = 403, body = lm_protocol::Problem, description = "an employee buying for someone else, or where the organization leaves buying to managers"), (status = 409, body = lm_protocol::Problem, description = "bought already"),
        (status = 422, body = lm_protocol::Problem, description = "names the field; also a provider URL not on the allowlist"),
        (status = 502, body = lm_protocol::Problem, description = "the Hierarchy Provider failed")),
    security(("bearer" = [])))]
pub async fn purchase(
    caller: Caller,
    State(state): State<AppState>,
    Path(eid): Path<String>,
    JsonBody(purchase): JsonBody<NewPurchase>,
) -> Result<Response, ApiError> {
    acting_for(&caller, &eid, "buy licenses for this user's units")?;
    let user = user_eid(&eid)?;
    purchase.validate()?;
    if !caller.principal.role.is_manager() {
        // Buying is for managers unless the organization lets employees buy for their own
        // units, within its limits.
        let org = &caller.principal.org;
        let Some(max_seats) = state.store.self_purchase_max_seats(org).await? else {
            return Err(ApiError::Forbidden(
                "only managers buy seat licenses in this organization".into(),
            ));
        };
        purchase.validate_self_purchase(max_seats)?;
    }
    // Before anything else, and long before any request leaves the server: only a
    // configured provider is ever called.
    let provider = match &purchase.hierarchy_provider_url {
        None => None,
        Some(url) => Some(state.seats.hierarchy_providers.at(url).ok_or_else(|| {
            ApiError::field(
                "hierarchy_provider_url",
                format!(
                    "`{url}` is not a Hierarchy Provider this server may call ({}); omit the URL for the built-in one",
                    state.seats.hierarchy_providers.allowed()
                ),
            )
        })?),
    };
    let org = caller.principal.org.clone();
    let product = state
        .store
        .product(&org, purchase.product_eid.as_str())
        .await?
        .ok_or_else(|| {
            ApiError::field(
                "product_eid",
                format!(
                    "no product `{}`; GET /v1/products lists them",
                    purchase.product_eid
                ),
            )
        })?;
    let memberships = match provider {
        None => state.store.membership(&org, &eid).await?,
        Some(provider) => provider.membership(&user).await?,
    }
    .ok_or_else(|| ApiError::field("eid", format!("`{eid}` is no member of the hierarchy")))?;
    for (i, owner) in purchase.owner_eids.iter().enumerate() {
        let belongs = memberships
            .iter()
            .any(|m| m.entity.kind == purchase.owner_hierarchy_level && m.entity.eid == *owner);
        if !belongs {
            return Err(ApiError::field(
                &format!("owner_eids[{i}]"),
                format!(
                    "{eid} does not belong to ({})({owner})",
                    purchase.owner_hierarchy_level
                ),
            ));
        }
    }
    let license: License = state
        .store
        .purchase(
            &caller.change_context(),
            &eid,
            &purchase,
            &product,
            provider.map(|p| &*p.name),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(visible(license, caller.principal.role)),
    )
        .into_response())
}

/// `GET /v1/users/{eid}/permissions`: evaluates, takes or releases seats, and answers the
/// merged permissions with a signed grant.
#[utoipa::path(get, path = "/v1/users/{eid}/permissions", tag = "seats",
    params(("eid" = String, Path, description = "the user: the caller, or anyone for a manager")),
    responses((status = 200, body = Permissions, description = "takes, keeps or releases seats; with a signed grant"),
        (status = 403, body = lm_protocol::Problem), (status = 502, body = lm_protocol::Problem, description = "a Hierarchy Provider failed")),
    security(("bearer" = [])))]
pub async fn permissions(
    caller: Caller,
    State(state): State<AppState>,
    Path(eid): Path<String>,
) -> Result<Json<Permissions>, ApiError> {
    acting_for(&caller, &eid, "see this user's permissions")?;
    let user = user_eid(&eid)?;
    let org = caller.principal.org.clone();
    let (memberships, seats) = memberships(&state, &org, &user).await?;
    let org_seat_free = state.store.seat_free_types(&org).await?;
    let takes_seats = !memberships.iter().any(|m| {
        m.level == 0
            && m.entity.eid == user
            && state
                .seats
                .seat_free_types
                .iter()
                .chain(org_seat_free.iter())
                .any(|t| t == m.entity.kind.as_str())
    });
    let today = Utc::now().date_naive();
    let evaluation = state
        .store
        .evaluate_seats(
            &caller.change_context(),
            &eid,
            &memberships,
            seats,
            today,
            takes_seats,
        )
        .await?;
    let mut permissions: BTreeSet<Permission> = BTreeSet::new();
    let mut products = Vec::new();
    for h in evaluation.held {
        permissions.extend(h.product.permissions.iter().cloned());
        products.push(HeldProduct {
            product: h.product.eid.clone(),
            license: h.license.parse().map_err(|_| ApiError::Internal)?,
            owner: h.owner,
            permissions: h.product.permissions,
            valid_to: h.valid_to,
            seat_since: h.seat_since,
        });
    }
    let refused = evaluation
        .refused
        .into_iter()
        .filter_map(|(product, reason)| {
            Some(Refused {
                product: product.parse().ok()?,
                reason,
            })
        })
        .collect();
    let lease_end = Utc::now()
        + chrono::Duration::from_std(state.seats.grant_lease)
            .unwrap_or(chrono::Duration::hours(24));
    let grant_expires = products
        .iter()
        .filter_map(|p| p.valid_to)
        .filter_map(|d| d.succ_opt()?.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .fold(lease_end, std::cmp::min);
    let permissions: Vec<Permission> = permissions.into_iter().collect();
    let claims = GrantClaims {
        iss: state.tokens.issuer().to_owned(),
        sub: user.clone(),
        org: org.to_owned(),
        iat: Utc::now().timestamp(),
        exp: grant_expires.timestamp(),
        products: products.iter().map(|p| p.product.clone()).collect(),
        permissions: permissions.clone(),
    };
    let claims = serde_json::to_value(&claims).map_err(|_| ApiError::Internal)?;
    let grant = state
        .tokens
        .sign_statement(lm_protocol::hierarchy::GRANT_TYPE, &claims)
        .map_err(|_| ApiError::Internal)?;
    Ok(Json(Permissions {
        user,
        permissions,
        products,
        refused,
        grant,
        grant_expires,
    }))
}
