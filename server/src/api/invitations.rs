//! `/v1/invitations` and password resets: one-time links managers hand over however they
//! like — the page they open lets the person choose a password (`api/oauth/invite.rs`).
//! Only with the built-in issuer: with an external identity provider, people join there.

use super::AppState;
use super::context::{JsonBody, Manager};
use super::error::ApiError;
use super::oauth::token::access_tokens_until;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use lm_protocol::{Invitation, IssuedInvitation, NewInvitation};

fn built_in_issuer(state: &AppState) -> Result<(), ApiError> {
    if state.authenticator.is_built_in() {
        Ok(())
    } else {
        Err(ApiError::Conflict(
            "people join and sign in with the organization's identity provider; invite and \
             reset passwords there"
                .into(),
        ))
    }
}

fn issued(state: &AppState, invitation: Invitation, code: &str) -> IssuedInvitation {
    let base = state.tokens.issuer().trim_end_matches('/');
    IssuedInvitation {
        invitation,
        link: format!("{base}/invite/{code}"),
    }
}

fn ttl(state: &AppState) -> std::time::Duration {
    state.authorization.settings.invitation_ttl
}

/// Invites someone to join the caller's organization: a link (shown once) to a page where
/// they choose their password, valid for a week unless the server says otherwise.
#[utoipa::path(post, path = "/v1/invitations", tag = "people", request_body = NewInvitation,
    responses((status = 201, body = IssuedInvitation), (status = 403, body = lm_protocol::Problem),
        (status = 409, body = lm_protocol::Problem), (status = 422, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn create(
    Manager(caller): Manager,
    State(state): State<AppState>,
    JsonBody(new): JsonBody<NewInvitation>,
) -> Result<(StatusCode, Json<IssuedInvitation>), ApiError> {
    built_in_issuer(&state)?;
    if let Some(note) = &new.note
        && note.chars().count() > 500
    {
        return Err(ApiError::field("note", "must be at most 500 characters"));
    }
    let (invitation, code) = state
        .store
        .invite(&caller.change_context(), &new, ttl(&state))
        .await?;
    Ok((StatusCode::CREATED, Json(issued(&state, invitation, &code))))
}

/// The open links of the caller's organization, newest first (their codes are not shown
/// again: resend one for a new link).
#[utoipa::path(get, path = "/v1/invitations", tag = "people",
    responses((status = 200, body = Vec<Invitation>), (status = 403, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn list(
    Manager(caller): Manager,
    State(state): State<AppState>,
) -> Result<Json<Vec<Invitation>>, ApiError> {
    Ok(Json(state.store.invitations(&caller.principal.org).await?))
}

/// A new link for an open invitation or reset: the old link stops working, the new one is
/// valid for the full time again.
#[utoipa::path(post, path = "/v1/invitations/{id}/resend", tag = "people",
    params(("id" = String, Path)),
    responses((status = 200, body = IssuedInvitation), (status = 403, body = lm_protocol::Problem),
        (status = 404, body = lm_protocol::Problem), (status = 409, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn resend(
    Manager(caller): Manager,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<IssuedInvitation>, ApiError> {
    built_in_issuer(&state)?;
    let (invitation, code) = state
        .store
        .resend_invitation(&caller.change_context(), &id, ttl(&state))
        .await?;
    Ok(Json(issued(&state, invitation, &code)))
}

/// Revokes an open link.
#[utoipa::path(delete, path = "/v1/invitations/{id}", tag = "people",
    params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = lm_protocol::Problem),
        (status = 404, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn revoke(
    Manager(caller): Manager,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .revoke_invitation(&caller.change_context(), &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Resets a member's password: the old one stops working and every login of theirs ends at
/// once; the link (shown once) lets them choose a new one.
#[utoipa::path(post, path = "/v1/members/{name}/password-reset", tag = "people",
    params(("name" = String, Path)),
    responses((status = 201, body = IssuedInvitation), (status = 403, body = lm_protocol::Problem),
        (status = 404, body = lm_protocol::Problem), (status = 409, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn password_reset(
    Manager(caller): Manager,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<IssuedInvitation>), ApiError> {
    built_in_issuer(&state)?;
    let (invitation, code, ended) = state
        .store
        .password_reset_link(
            &caller.change_context(),
            &name,
            ttl(&state),
            access_tokens_until(&state),
        )
        .await?;
    for login in &ended {
        state.tokens.forget_token(login);
    }
    Ok((StatusCode::CREATED, Json(issued(&state, invitation, &code))))
}
