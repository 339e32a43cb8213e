//! `/v1/me/second-factor`: a person sets up, replaces or removes their own second factor (a
//! TOTP authenticator app). A new key is offered first and stored only once a code of it is
//! confirmed with the current password, so a mistyped key never locks anyone out.

use super::AppState;
use super::context::{Caller, JsonBody};
use super::error::ApiError;
use super::me::{check_own_password, own_account};
use crate::oauth::totp::TotpSecret;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use lm_protocol::{SecondFactorChange, SecondFactorRemoval, SecondFactorSetup};

/// A fresh key to set up: nothing is stored yet.
#[utoipa::path(post, path = "/v1/me/second-factor/new", tag = "identity",
    responses((status = 200, body = SecondFactorSetup), (status = 403, body = lm_protocol::Problem),
        (status = 409, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn offer(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<SecondFactorSetup>, ApiError> {
    own_account(&caller, &state, "set up a second factor")?;
    let secret = TotpSecret::generate();
    let name = &caller.principal.subject;
    Ok(Json(SecondFactorSetup {
        secret: secret.to_base32(),
        otpauth_uri: secret.uri("lm", name),
        qr_svg: secret.qr_svg("lm", name),
    }))
}

/// Sets up or replaces the caller's second factor: the current password and a code of the
/// new key confirm it. Sign-ins ask for its codes from then on.
#[utoipa::path(put, path = "/v1/me/second-factor", tag = "identity",
    request_body = SecondFactorChange,
    responses((status = 204), (status = 403, body = lm_protocol::Problem),
        (status = 409, body = lm_protocol::Problem), (status = 422, body = lm_protocol::Problem),
        (status = 429, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn set_up(
    caller: Caller,
    State(state): State<AppState>,
    JsonBody(change): JsonBody<SecondFactorChange>,
) -> Result<StatusCode, ApiError> {
    own_account(&caller, &state, "set up a second factor")?;
    check_own_password(&caller, &state, &change.password, "password").await?;
    let secret = TotpSecret::from_base32(change.secret.trim())
        .filter(|s| s.to_base32().len() >= 16)
        .ok_or_else(|| {
            ApiError::field("secret", "is not a key of POST /v1/me/second-factor/new")
        })?;
    let step = secret
        .matching_step(&change.code, chrono::Utc::now().timestamp())
        .ok_or_else(|| {
            ApiError::field(
                "code",
                "does not match the key now; check the authenticator app's clock",
            )
        })?;
    state
        .store
        .set_own_second_factor(&caller.change_context(), Some((&secret.to_base32(), step)))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes the caller's second factor, confirmed by their password.
#[utoipa::path(delete, path = "/v1/me/second-factor", tag = "identity",
    request_body = SecondFactorRemoval,
    responses((status = 204), (status = 403, body = lm_protocol::Problem),
        (status = 409, body = lm_protocol::Problem), (status = 422, body = lm_protocol::Problem),
        (status = 429, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn remove(
    caller: Caller,
    State(state): State<AppState>,
    JsonBody(removal): JsonBody<SecondFactorRemoval>,
) -> Result<StatusCode, ApiError> {
    own_account(&caller, &state, "remove a second factor")?;
    check_own_password(&caller, &state, &removal.password, "password").await?;
    state
        .store
        .set_own_second_factor(&caller.change_context(), None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
