//! The built-in Hierarchy Provider: its contract (`/hierarchy/levels`,
//! `/hierarchy/users/{eid}/membership`, read by lm-server itself and by anyone with a token of
//! the organization) and the managers' edits under `/v1/hierarchy/…`, which the contract
//! answers consistently at once (same database, no cache).

use super::AppState;
use super::context::{Caller, JsonBody, Manager};
use super::error::ApiError;
use super::spreadsheets::{csv_upload, read_csv};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use lm_protocol::hierarchy::{Entity, EntityBody, EntityRef, Levels};

fn entity(kind: &str, eid: &str) -> Result<EntityRef, ApiError> {
    Ok(EntityRef {
        kind: kind
            .parse()
            .map_err(|e: lm_protocol::FieldError| e.within("type"))?,
        eid: eid
            .parse()
            .map_err(|e: lm_protocol::FieldError| e.within("eid"))?,
    })
}

/// `GET /hierarchy/levels`
#[utoipa::path(get, path = "/hierarchy/levels", tag = "hierarchy",
    responses((status = 200, body = std::collections::BTreeMap<String, u32>, description = "level by type, members at 0, e.g. {\"student\": 0, \"class\": 1}")),
    security(("bearer" = [])))]
pub async fn levels(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Levels>, ApiError> {
    Ok(Json(state.store.levels(&caller.principal.org).await?))
}

/// `GET /v1/hierarchy/levels`: the same as [`levels`], beside the edit of them.
#[utoipa::path(get, path = "/v1/hierarchy/levels", tag = "hierarchy",
    responses((status = 200, body = std::collections::BTreeMap<String, u32>, description = "level by type, members at 0")),
    security(("bearer" = [])))]
pub async fn levels_v1(caller: Caller, state: State<AppState>) -> Result<Json<Levels>, ApiError> {
    levels(caller, state).await
}

/// `GET /hierarchy/users/{eid}/membership`: every entity the user belongs to, the user
/// included, as `(type)(eid)`.
#[utoipa::path(get, path = "/hierarchy/users/{eid}/membership", tag = "hierarchy",
    params(("eid" = String, Path, description = "the user's external id")),
    responses((status = 200, body = Vec<EntityRef>, description = "every entity the user belongs to, the user included"),
        (status = 404, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn membership(
    caller: Caller,
    State(state): State<AppState>,
    Path(eid): Path<String>,
) -> Result<Json<Vec<EntityRef>>, ApiError> {
    let members = state
        .store
        .membership(&caller.principal.org, &eid)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(members.into_iter().map(|m| m.entity).collect()))
}

/// `PUT /v1/hierarchy/levels`
#[utoipa::path(put, path = "/v1/hierarchy/levels", tag = "hierarchy", request_body = std::collections::BTreeMap<String, u32>,
    responses((status = 200, body = std::collections::BTreeMap<String, u32>), (status = 403, body = lm_protocol::Problem), (status = 422, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn set_levels(
    Manager(caller): Manager,
    State(state): State<AppState>,
    JsonBody(levels): JsonBody<Levels>,
) -> Result<Json<Levels>, ApiError> {
    if !levels.values().any(|l| *l == 0) {
        return Err(ApiError::field(
            "body",
            "name at least one member type at level 0 (e.g. \"student\": 0)",
        ));
    }
    state
        .store
        .set_levels(&caller.change_context(), &levels)
        .await?;
    Ok(Json(levels))
}

/// `GET /v1/hierarchy/entities`
#[utoipa::path(get, path = "/v1/hierarchy/entities", tag = "hierarchy",
    responses((status = 200, body = Vec<Entity>)),
    security(("bearer" = [])))]
pub async fn entities(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<Entity>>, ApiError> {
    Ok(Json(state.store.entities(&caller.principal.org).await?))
}

/// `PUT /v1/hierarchy/entities/{type}/{eid}`: creates or renames; 201 when created.
#[utoipa::path(put, path = "/v1/hierarchy/entities/{type}/{eid}", tag = "hierarchy", request_body = EntityBody,
    params(("type" = String, Path, description = "a level's name"), ("eid" = String, Path)),
    responses((status = 201, description = "created"), (status = 204, description = "renamed"),
        (status = 403, body = lm_protocol::Problem), (status = 422, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn put_entity(
    Manager(caller): Manager,
    State(state): State<AppState>,
    Path((kind, eid)): Path<(String, String)>,
    JsonBody(body): JsonBody<EntityBody>,
) -> Result<StatusCode, ApiError> {
    let e = entity(&kind, &eid)?;
    let label = body.name.map(String::from).unwrap_or_default();
    let created = state
        .store
        .put_entity(&caller.change_context(), &e, &label)
        .await?;
    Ok(if created {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    })
}

/// `DELETE /v1/hierarchy/entities/{type}/{eid}`: the entity and its memberships.
#[utoipa::path(delete, path = "/v1/hierarchy/entities/{type}/{eid}", tag = "hierarchy",
    params(("type" = String, Path), ("eid" = String, Path)),
    responses((status = 204, description = "removed with its memberships"), (status = 404, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn delete_entity(
    Manager(caller): Manager,
    State(state): State<AppState>,
    Path((kind, eid)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .delete_entity(&caller.change_context(), &entity(&kind, &eid)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /v1/hierarchy/entities/{type}/{eid}/parents/{parent_type}/{parent_eid}`
#[utoipa::path(put, path = "/v1/hierarchy/entities/{type}/{eid}/parents/{parent_type}/{parent_eid}", tag = "hierarchy",
    params(("type" = String, Path), ("eid" = String, Path), ("parent_type" = String, Path, description = "a higher level"), ("parent_eid" = String, Path)),
    responses((status = 201, description = "added"), (status = 204, description = "already a member"),
        (status = 404, body = lm_protocol::Problem), (status = 422, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn add_parent(
    Manager(caller): Manager,
    State(state): State<AppState>,
    Path((kind, eid, parent_kind, parent_eid)): Path<(String, String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let added = state
        .store
        .add_membership(
            &caller.change_context(),
            &entity(&kind, &eid)?,
            &entity(&parent_kind, &parent_eid)?,
        )
        .await?;
    Ok(if added {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    })
}

/// `DELETE /v1/hierarchy/entities/{type}/{eid}/parents/{parent_type}/{parent_eid}`
#[utoipa::path(delete, path = "/v1/hierarchy/entities/{type}/{eid}/parents/{parent_type}/{parent_eid}", tag = "hierarchy",
    params(("type" = String, Path), ("eid" = String, Path), ("parent_type" = String, Path), ("parent_eid" = String, Path)),
    responses((status = 204, description = "removed"), (status = 404, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn remove_parent(
    Manager(caller): Manager,
    State(state): State<AppState>,
    Path((kind, eid, parent_kind, parent_eid)): Path<(String, String, String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .remove_membership(
            &caller.change_context(),
            &entity(&kind, &eid)?,
            &entity(&parent_kind, &parent_eid)?,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/hierarchy/import[?dry_run=true]`: units and memberships from CSV (columns of
/// `lm_protocol::hierarchy_csv`), all or nothing; 422 with every problem by row and field.
#[utoipa::path(post, path = "/v1/hierarchy/import", tag = "hierarchy",
    params(("dry_run" = Option<bool>, Query, description = "check and report, write nothing")),
    request_body(content = String, content_type = "text/csv",
        description = "columns type, eid, name, parent_type, parent_eid in any order; parents may come later in the file"),
    responses((status = 200, body = lm_protocol::hierarchy_csv::HierarchyImportReport),
        (status = 422, body = lm_protocol::hierarchy_csv::HierarchyImportReport, description = "every problem by row and field; nothing written")),
    security(("bearer" = [])))]
pub async fn import(
    Manager(caller): Manager,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let _turn = super::import_turns::take(&caller.principal.org)?;
    let dry_run = csv_upload(&raw, &headers)?;
    let (rows, unreadable) = read_csv(body, |file| lm_protocol::hierarchy_csv::parse(file)).await?;
    // With rows that did not parse, the others are still checked, so that one report names
    // every problem of the file; nothing is written.
    let mut report = state
        .store
        .import_hierarchy(
            &caller.change_context(),
            &rows,
            dry_run || !unreadable.is_empty(),
        )
        .await?;
    if !unreadable.is_empty() {
        report.dry_run = dry_run;
        report.rows += unreadable
            .iter()
            .map(|p| p.row)
            .filter(|row| *row > 1)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        report.problems.extend(unreadable);
        lm_protocol::csv::cap_problems(&mut report.problems);
    }
    let status = if report.problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, Json(report)).into_response())
}
