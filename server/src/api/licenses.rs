//! `/v1/licenses…`: the inventory.

use super::AppState;
use super::context::{Caller, JsonBody, Manager, etag, if_match};
use super::error::ApiError;
use super::params::{query_pairs, visible};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use lm_protocol::{Assignee, License, LicenseId, LicensePatch, ListParams, NewLicense, Page};

/// A malformed id cannot exist: answer 404 without asking the database.
fn license_id(raw: &str) -> Result<LicenseId, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound)
}

fn with_etag(status: StatusCode, license: License) -> Response {
    (status, [etag(license.version)], Json(license)).into_response()
}

#[utoipa::path(get, path = "/v1/licenses", tag = "licenses",
    params(
        ("kind" = Option<String>, Query, description = "exact kind, e.g. subscription"),
        ("product" = Option<String>, Query), ("vendor" = Option<String>, Query, description = "case-insensitive"),
        ("cost" = Option<i64>, Query, minimum = 0, description = "exact amount in minor units"),
        ("cost_min" = Option<i64>, Query, minimum = 0), ("cost_max" = Option<i64>, Query, minimum = 0), ("currency" = Option<String>, Query),
        ("device" = Option<String>, Query), ("employee" = Option<String>, Query), ("id" = Option<String>, Query),
        ("added" = Option<String>, Query), ("added_from" = Option<String>, Query), ("added_to" = Option<String>, Query),
        ("expires" = Option<String>, Query), ("expires_from" = Option<String>, Query), ("expires_to" = Option<String>, Query),
        ("expiring_within" = Option<u32>, Query, maximum = 36500, description = "days from today"),
        ("assigned" = Option<String>, Query, pattern = r"^\s*(no|yes|employee|device)\s*$", description = "no, yes, employee or device"),
        ("q" = Option<String>, Query, max_length = 1000, description = "case-insensitive text"),
        ("sort" = Option<String>, Query, pattern = r"^[-+]?(id|product|name|kind|vendor|cost|seats|seats_used|added|expires)$", description = "column, `-` prefix for descending"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000), ("cursor" = Option<String>, Query),
        ("deleted" = Option<bool>, Query, description = "list removed licenses (managers)"),
    ),
    responses((status = 200, body = lm_protocol::Page<lm_protocol::License>), (status = 422, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn list(
    caller: Caller,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Page<License>>, ApiError> {
    let pairs = query_pairs(&raw);
    let params = ListParams::from_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    if params.deleted {
        caller.require_manager("list removed licenses")?;
    }
    let page = state
        .store
        .list_licenses(&caller.principal.org, &params, Utc::now().date_naive())
        .await?;
    let role = caller.principal.role;
    Ok(Json(Page {
        items: page.items.into_iter().map(|l| visible(l, role)).collect(),
        next: page.next,
    }))
}

#[utoipa::path(get, path = "/v1/licenses/{id}", tag = "licenses",
    responses((status = 200, body = License, headers(("ETag" = String))), (status = 404, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn get(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = license_id(&id)?;
    let license = state
        .store
        .license(&caller.principal.org, id.as_str(), false)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(with_etag(
        StatusCode::OK,
        visible(license, caller.principal.role),
    ))
}

#[utoipa::path(post, path = "/v1/licenses", tag = "licenses", request_body = NewLicense,
    responses((status = 201, body = License), (status = 403, body = lm_protocol::Problem), (status = 422, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn create(
    Manager(caller): Manager,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewLicense>,
) -> Result<Response, ApiError> {
    let (fields, assignees) = body.into_parts(Utc::now().date_naive())?;
    let license = state
        .store
        .create_license(&caller.change_context(), fields, assignees)
        .await?;
    let location = format!("/v1/licenses/{}", license.id);
    let mut response = with_etag(StatusCode::CREATED, license);
    if let Ok(v) = location.parse() {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

#[utoipa::path(patch, path = "/v1/licenses/{id}", tag = "licenses", request_body = LicensePatch,
    params(("If-Match" = String, Header, description = "the version being changed, e.g. \"3\"")),
    responses((status = 200, body = License), (status = 412, body = lm_protocol::Problem), (status = 428, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn update(
    Manager(caller): Manager,
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(patch): JsonBody<LicensePatch>,
) -> Result<Response, ApiError> {
    let expected = if_match(&headers)?.ok_or(ApiError::PreconditionRequired)?;
    if patch.is_empty() {
        return Err(ApiError::field("body", "names no field to change"));
    }
    let id = license_id(&id)?;
    let license = state
        .store
        .update_license(&caller.change_context(), id.as_str(), expected, patch)
        .await?;
    Ok(with_etag(StatusCode::OK, license))
}

#[utoipa::path(delete, path = "/v1/licenses/{id}", tag = "licenses",
    responses((status = 204), (status = 404, body = lm_protocol::Problem), (status = 412, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn remove(
    Manager(caller): Manager,
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let expected = if_match(&headers)?;
    let id = license_id(&id)?;
    state
        .store
        .remove_license(&caller.change_context(), id.as_str(), expected)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/licenses/{id}/restore", tag = "licenses",
    responses((status = 200, body = License), (status = 404, body = lm_protocol::Problem), (status = 409, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn restore(
    Manager(caller): Manager,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = license_id(&id)?;
    let license = state
        .store
        .restore_license(&caller.change_context(), id.as_str())
        .await?;
    Ok(with_etag(StatusCode::OK, license))
}

#[utoipa::path(post, path = "/v1/licenses/{id}/assignments", tag = "licenses", request_body = Assignee,
    responses((status = 201, body = License), (status = 409, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn assign(
    Manager(caller): Manager,
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(assignee): JsonBody<Assignee>,
) -> Result<Response, ApiError> {
    let expected = if_match(&headers)?;
    let id = license_id(&id)?;
    let license = state
        .store
        .assign(&caller.change_context(), id.as_str(), assignee, expected)
        .await?;
    Ok(with_etag(StatusCode::CREATED, license))
}

/// `GET /v1/licenses/{id}/seats`: who holds a seat of the license, since when, and when
/// they last checked their permissions; oldest first, a page at a time (`next` is the
/// `cursor` of the following page). Release one with
/// `DELETE /v1/licenses/{id}/seats/{assignment}` (the same as unassigning it).
#[utoipa::path(get, path = "/v1/licenses/{id}/seats", tag = "seats",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000),
        ("cursor" = Option<String>, Query, pattern = r"^[0-9]{1,20}_[A-Za-z0-9._:@-]{1,64}$", description = "the `next` of the previous page"),
    ),
    responses((status = 200, body = lm_protocol::Page<lm_protocol::hierarchy::Seat>), (status = 403, body = lm_protocol::Problem), (status = 404, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn seats(
    Manager(caller): Manager,
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Page<lm_protocol::hierarchy::Seat>>, ApiError> {
    let id = license_id(&id)?;
    let pairs = query_pairs(&raw);
    let query = lm_protocol::seat_query::SeatQuery::from_query(
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    )?;
    state
        .store
        .license_seats(&caller.principal.org, id.as_str(), &query)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

/// `DELETE /v1/licenses/{id}/seats/{assignment}`: releases a seat, as unassigning it does.
#[utoipa::path(delete, path = "/v1/licenses/{id}/seats/{assignment}", tag = "seats",
    responses((status = 200, body = License), (status = 404, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn release_seat(
    manager: Manager,
    state: State<AppState>,
    path: Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    unassign(manager, state, path, headers).await
}

#[utoipa::path(delete, path = "/v1/licenses/{id}/assignments/{assignment}", tag = "licenses",
    responses((status = 200, body = License), (status = 404, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn unassign(
    Manager(caller): Manager,
    State(state): State<AppState>,
    Path((id, assignment)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let expected = if_match(&headers)?;
    let id = license_id(&id)?;
    let license = state
        .store
        .unassign(&caller.change_context(), id.as_str(), &assignment, expected)
        .await?;
    Ok(with_etag(StatusCode::OK, license))
}
