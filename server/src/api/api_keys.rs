//! `/v1/api-keys`: a person's own API keys — make one (the key is shown once), list them,
//! revoke one. Keys cannot make keys, and service accounts have none: a leaked key must not
//! be able to outlive its revocation.

use super::AppState;
use super::context::{Caller, JsonBody};
use super::error::ApiError;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use lm_protocol::{ApiKeyInfo, CreatedApiKey, NewApiKey};

fn person(caller: &Caller, action: &str) -> Result<(), ApiError> {
    if caller.via_api_key {
        return Err(ApiError::Forbidden(format!(
            "an API key may not {action}; sign in (lm login) to manage your keys"
        )));
    }
    if caller.principal.subject.starts_with("client:") {
        return Err(ApiError::Forbidden(format!(
            "service accounts have no API keys; they authenticate with their client secret, so they may not {action}"
        )));
    }
    Ok(())
}

#[utoipa::path(post, path = "/v1/api-keys", tag = "identity", request_body = NewApiKey,
    responses((status = 201, body = CreatedApiKey), (status = 403, body = lm_protocol::Problem),
        (status = 422, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn create(
    caller: Caller,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewApiKey>,
) -> Result<impl IntoResponse, ApiError> {
    person(&caller, "make API keys")?;
    let expires_at = match body.expires_in_days {
        None => None,
        Some(days @ 1..=3650) => Some(chrono::Utc::now() + chrono::Duration::days(i64::from(days))),
        Some(_) => {
            return Err(ApiError::field(
                "expires_in_days",
                "must be between 1 and 3650",
            ));
        }
    };
    let (info, key, live) = state
        .store
        .create_api_key(
            &caller.change_context(),
            &caller.principal.subject,
            body.label.as_str(),
            expires_at,
        )
        .await?;
    state.tokens.remember_api_key(live);
    Ok((StatusCode::CREATED, Json(CreatedApiKey { info, key })))
}

#[utoipa::path(get, path = "/v1/api-keys", tag = "identity",
    responses((status = 200, body = Vec<ApiKeyInfo>)), security(("bearer" = [])))]
pub async fn list(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<ApiKeyInfo>>, ApiError> {
    Ok(Json(
        state
            .store
            .api_keys(Some(&caller.principal.subject))
            .await?,
    ))
}

#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "identity",
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn revoke(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .revoke_api_key(
            &caller.change_context(),
            &id,
            Some(&caller.principal.subject),
        )
        .await?;
    state.tokens.forget_api_key(&id);
    Ok(StatusCode::NO_CONTENT)
}
