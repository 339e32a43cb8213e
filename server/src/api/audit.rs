//! `/v1/audit`: who did what to which record.

use super::AppState;
use super::context::Caller;
use super::error::ApiError;
use super::params::query_pairs;
use axum::Json;
use axum::extract::{RawQuery, State};
use lm_protocol::{AuditEntry, AuditQuery, Page};

#[utoipa::path(get, path = "/v1/audit", tag = "audit",
    params(
        ("actor" = Option<String>, Query), ("action" = Option<String>, Query, pattern = r"^(create|update|delete|restore|assign|unassign|import)$", description = "create, update, delete, restore, assign, unassign, import"),
        ("record" = Option<String>, Query, description = "a record id"),
        ("from" = Option<String>, Query, description = "RFC 3339"), ("to" = Option<String>, Query, description = "RFC 3339"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000), ("cursor" = Option<String>, Query),
    ),
    responses((status = 200, body = lm_protocol::Page<lm_protocol::AuditEntry>), (status = 403, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn list(
    caller: Caller,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Page<AuditEntry>>, ApiError> {
    caller.require_manager("read the audit log")?;
    let pairs = query_pairs(&raw);
    let query = AuditQuery::from_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    Ok(Json(
        state.store.audit(&caller.principal.org, &query).await?,
    ))
}
