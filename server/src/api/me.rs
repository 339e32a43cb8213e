//! `/v1/me`: who the server takes the caller for, and what a person does with their own
//! account — see and end their logins, change their password. Clients show `GET /v1/me`
//! rather than reading tokens themselves: only the server knows how an external provider's
//! claims map to a role.

use super::AppState;
use super::context::{Caller, JsonBody};
use super::error::ApiError;
use super::oauth::token::access_tokens_until;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use lm_protocol::{Login, PasswordChange, Principal};
use std::net::{IpAddr, Ipv4Addr};

#[utoipa::path(get, path = "/v1/me", tag = "identity", security(("bearer" = [])),
    responses((status = 200, body = Principal), (status = 401)))]
pub async fn me(caller: Caller) -> Json<Principal> {
    Json(caller.principal)
}

/// Checks that `password` is the caller's, counting a wrong one like a failed sign-in (and
/// refusing while their address or account waits after too many); `field` is blamed.
pub(super) async fn check_own_password(
    caller: &Caller,
    state: &AppState,
    password: &str,
    field: &str,
) -> Result<(), ApiError> {
    let name = caller.principal.subject.as_str();
    let address = caller
        .context
        .client_addr
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
    let guesses = &state.authorization.failed_sign_ins;
    let now = std::time::Instant::now();
    if let Some(wait) = guesses.wait(address, name, now) {
        return Err(ApiError::RateLimited {
            retry_after_secs: wait.as_secs().max(1),
        });
    }
    let stored = state
        .store
        .credentials(name)
        .await?
        .and_then(|c| c.password_hash);
    let typed = password.to_owned();
    let matches = tokio::task::spawn_blocking(move || {
        crate::oauth::verify_password(&typed, stored.as_deref())
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "checking a password");
        ApiError::Internal
    })?;
    if !matches {
        guesses.failed(address, name, now);
        return Err(ApiError::field(field, "is not your password"));
    }
    guesses.succeeded(address, name);
    Ok(())
}

/// Refuses what only a person signed in with the built-in authorization server may do.
pub(super) fn own_account(caller: &Caller, state: &AppState, action: &str) -> Result<(), ApiError> {
    if caller.via_api_key {
        return Err(ApiError::Forbidden(format!(
            "an API key may not {action}; sign in (lm login)"
        )));
    }
    if caller.principal.subject.starts_with("client:") {
        return Err(ApiError::Forbidden(format!(
            "a service account may not {action}"
        )));
    }
    if !state.authenticator.is_built_in() {
        return Err(ApiError::Conflict(format!(
            "people sign in with the organization's identity provider, which keeps their \
             logins and passwords: {action} there"
        )));
    }
    Ok(())
}

/// The caller's logins that are still live, the most recently used first.
#[utoipa::path(get, path = "/v1/me/logins", tag = "identity",
    responses((status = 200, body = Vec<Login>), (status = 403, body = lm_protocol::Problem),
        (status = 409, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn logins(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<Login>>, ApiError> {
    own_account(&caller, &state, "list logins")?;
    Ok(Json(
        state.store.logins_of(&caller.principal.subject).await?,
    ))
}

/// Ends one of the caller's logins: its refresh tokens stop working at once, its access
/// tokens within seconds on every replica.
#[utoipa::path(delete, path = "/v1/me/logins/{id}", tag = "identity",
    params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = lm_protocol::Problem),
        (status = 404, body = lm_protocol::Problem), (status = 409, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn end_login(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    own_account(&caller, &state, "end logins")?;
    state
        .store
        .end_login_of(&caller.principal.subject, &id, access_tokens_until(&state))
        .await?;
    state.tokens.forget_token(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the caller's password; the current one is required. Every login of theirs ends:
/// whoever knew the old password is signed out. Wrong guesses count like failed sign-ins.
#[utoipa::path(post, path = "/v1/me/password", tag = "identity", request_body = PasswordChange,
    responses((status = 204), (status = 403, body = lm_protocol::Problem),
        (status = 409, body = lm_protocol::Problem), (status = 422, body = lm_protocol::Problem),
        (status = 429, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn change_password(
    caller: Caller,
    State(state): State<AppState>,
    JsonBody(change): JsonBody<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    own_account(&caller, &state, "change a password")?;
    let PasswordChange { current, new } = change;
    check_own_password(&caller, &state, &current, "current").await?;
    if new == current {
        return Err(ApiError::field("new", "is your current password"));
    }
    let hash = tokio::task::spawn_blocking(move || crate::oauth::hash_password(&new))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "hashing a password");
            ApiError::Internal
        })?
        .map_err(|e| match e {
            crate::oauth::PasswordError::TooShort(_) => ApiError::field("new", e.to_string()),
            other => {
                tracing::error!(error = %other, "hashing a password");
                ApiError::Internal
            }
        })?;
    let ended = state
        .store
        .change_own_password(&caller.change_context(), &hash, access_tokens_until(&state))
        .await?;
    for login in &ended {
        state.tokens.forget_token(login);
    }
    Ok(StatusCode::NO_CONTENT)
}
