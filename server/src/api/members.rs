//! `/v1/members`: the people of the caller's organization. Managers list them, change their
//! role or status and offboard leavers; an employee reads their own record.

use super::AppState;
use super::context::{Caller, JsonBody, Manager};
use super::error::ApiError;
use super::params::query_pairs;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use lm_protocol::{Member, MemberPatch, MemberQuery, Offboarding, Page};

/// The members of the caller's organization in name order, a page at a time (`next` is the
/// `cursor` of the following page).
#[utoipa::path(get, path = "/v1/members", tag = "people",
    params(
        ("role" = Option<lm_protocol::Role>, Query),
        ("status" = Option<lm_protocol::MemberStatus>, Query),
        ("q" = Option<String>, Query, description = "a part of the name, in any case"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000),
        ("cursor" = Option<String>, Query, description = "the `next` of the previous page"),
    ),
    responses((status = 200, body = Page<Member>), (status = 403, body = lm_protocol::Problem),
        (status = 422, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn list(
    Manager(caller): Manager,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Page<Member>>, ApiError> {
    let pairs = query_pairs(&raw);
    let query = MemberQuery::from_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    Ok(Json(
        state.store.members(&caller.principal.org, &query).await?,
    ))
}

/// One member: any of the organization for a manager, oneself for an employee.
#[utoipa::path(get, path = "/v1/members/{name}", tag = "people",
    params(("name" = String, Path)),
    responses((status = 200, body = Member), (status = 403, body = lm_protocol::Problem),
        (status = 404, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn get(
    caller: Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Member>, ApiError> {
    if name != caller.principal.subject {
        caller.require_manager("read other members")?;
    }
    state
        .store
        .member(&caller.principal.org, &name)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

/// Changes a member's role or status (`active`, `disabled`). Disabling ends their logins
/// within seconds; the organization's last active manager is never demoted or disabled (409).
#[utoipa::path(patch, path = "/v1/members/{name}", tag = "people",
    params(("name" = String, Path)), request_body = MemberPatch,
    responses((status = 200, body = Member), (status = 403, body = lm_protocol::Problem),
        (status = 404, body = lm_protocol::Problem), (status = 409, body = lm_protocol::Problem),
        (status = 422, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn update(
    Manager(caller): Manager,
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonBody(patch): JsonBody<MemberPatch>,
) -> Result<Json<Member>, ApiError> {
    if !state.authenticator.is_built_in() {
        return Err(ApiError::Conflict(
            "members sign in with the organization's identity provider, whose claims give \
             their roles and whose accounts they disable: change them there"
                .into(),
        ));
    }
    let member = state
        .store
        .change_member(&caller.change_context(), &name, &patch)
        .await?;
    Ok(Json(member))
}

/// Offboards a leaver: releases every license assignment and seat they hold and disables the
/// account, in one audited transaction. With `dry_run=true` it answers exactly what it would
/// release and changes nothing.
#[utoipa::path(post, path = "/v1/members/{name}/offboard", tag = "people",
    params(("name" = String, Path), ("dry_run" = Option<bool>, Query)),
    responses((status = 200, body = Offboarding), (status = 403, body = lm_protocol::Problem),
        (status = 404, body = lm_protocol::Problem), (status = 409, body = lm_protocol::Problem),
        (status = 422, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn offboard(
    Manager(caller): Manager,
    State(state): State<AppState>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Offboarding>, ApiError> {
    let mut dry_run = false;
    for (key, value) in query_pairs(&raw) {
        match (key.as_str(), value.as_str()) {
            ("dry_run", "true") => dry_run = true,
            ("dry_run", "false") => dry_run = false,
            ("dry_run", _) => return Err(ApiError::field("dry_run", "must be true or false")),
            (other, _) => {
                return Err(ApiError::field(
                    other,
                    "is not a parameter of offboarding; use dry_run",
                ));
            }
        }
    }
    let done = state
        .store
        .offboard(&caller.change_context(), &name, dry_run)
        .await?;
    Ok(Json(done))
}
