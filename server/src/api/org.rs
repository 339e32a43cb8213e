//! `/v1/org`: the caller's organization's settings — everyone reads them (lmd takes its
//! default alert days from them), managers change them.

use super::AppState;
use super::context::{Caller, JsonBody, Manager};
use super::error::ApiError;
use axum::Json;
use axum::extract::State;
use lm_protocol::org::MAX_SELF_PURCHASE_SEATS;
use lm_protocol::{Org, OrgPatch};

/// The settings of the caller's organization.
#[utoipa::path(get, path = "/v1/org", tag = "people",
    responses((status = 200, body = Org)), security(("bearer" = [])))]
pub async fn get(caller: Caller, State(state): State<AppState>) -> Result<Json<Org>, ApiError> {
    Ok(Json(state.store.org(&caller.principal.org).await?))
}

/// Changes the settings of the caller's organization (audited as `org`).
#[utoipa::path(patch, path = "/v1/org", tag = "people", request_body = OrgPatch,
    responses((status = 200, body = Org), (status = 403, body = lm_protocol::Problem),
        (status = 422, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn update(
    Manager(caller): Manager,
    State(state): State<AppState>,
    JsonBody(patch): JsonBody<OrgPatch>,
) -> Result<Json<Org>, ApiError> {
    if let Some(Some(seats)) = patch.self_purchase_max_seats
        && !(1..=MAX_SELF_PURCHASE_SEATS).contains(&seats)
    {
        return Err(ApiError::field(
            "self_purchase_max_seats",
            format!("must be from 1 to {MAX_SELF_PURCHASE_SEATS}; null leaves buying to managers"),
        ));
    }
    Ok(Json(
        state
            .store
            .change_org(&caller.change_context(), &patch)
            .await?,
    ))
}
