//! `GET /v1/me`: who the server takes the caller for. Clients show this rather than reading
//! tokens themselves: only the server knows how an external provider's claims map to a role.

use super::context::Caller;
use axum::Json;
use lm_protocol::Principal;

#[utoipa::path(get, path = "/v1/me", tag = "identity", security(("bearer" = [])),
    responses((status = 200, body = Principal), (status = 401)))]
pub async fn me(caller: Caller) -> Json<Principal> {
    Json(caller.principal)
}
