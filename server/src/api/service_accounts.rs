//! `/v1/oauth-clients`: the service accounts of the caller's organization, run by its
//! managers — registered (the secret shown once), listed, given a new secret while the old
//! one works on for a grace period, removed. The same rules as `lm-server client add --role
//! --org`; public clients stay the operator's.

use super::AppState;
use super::context::{JsonBody, Manager};
use super::error::ApiError;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use lm_protocol::invitation::check_member_name;
use lm_protocol::{
    IssuedSecret, NewServiceAccount, SecretRotation, ServiceAccount, ServiceAccountPatch,
};

use crate::store::clients::OAuthClient;

/// Refuses a secret to what is not a person signed in: an API key or a service account that
/// made one could outlive its own revocation.
fn person(caller: &super::context::Caller, action: &str) -> Result<(), ApiError> {
    if caller.via_api_key || caller.principal.subject.starts_with("client:") {
        return Err(ApiError::Forbidden(format!(
            "only a person signed in may {action}; an API key or a service account may not"
        )));
    }
    Ok(())
}

/// What a service account may be called.
fn check_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::field(
            "name",
            "must be 1 to 100 characters, none of them control characters",
        ));
    }
    Ok(())
}

fn shown(client: OAuthClient) -> Option<ServiceAccount> {
    let (_, role) = client.service_account?;
    Some(ServiceAccount {
        id: client.id,
        name: client.name,
        role,
        created_at: client.created_at,
        previous_secret_until: client
            .previous_secret
            .map(|(_, until)| until)
            .filter(|until| *until > chrono::Utc::now()),
    })
}

/// The service accounts of the caller's organization, by id.
#[utoipa::path(get, path = "/v1/oauth-clients", tag = "people",
    responses((status = 200, body = Vec<ServiceAccount>), (status = 403, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn list(
    Manager(caller): Manager,
    State(state): State<AppState>,
) -> Result<Json<Vec<ServiceAccount>>, ApiError> {
    let accounts = state.store.service_accounts(&caller.principal.org).await?;
    Ok(Json(accounts.into_iter().filter_map(shown).collect()))
}

/// One service account of the caller's organization.
#[utoipa::path(get, path = "/v1/oauth-clients/{id}", tag = "people",
    params(("id" = String, Path)),
    responses((status = 200, body = ServiceAccount), (status = 403, body = lm_protocol::Problem),
        (status = 404, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn get(
    Manager(caller): Manager,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ServiceAccount>, ApiError> {
    state
        .store
        .service_account(&caller.principal.org, &id)
        .await?
        .and_then(shown)
        .map(Json)
        .ok_or(ApiError::NotFound)
}

/// Registers a service account acting for the caller's organization with `role`; answers
/// its secret, once.
#[utoipa::path(post, path = "/v1/oauth-clients", tag = "people", request_body = NewServiceAccount,
    responses((status = 201, body = IssuedSecret), (status = 403, body = lm_protocol::Problem),
        (status = 409, body = lm_protocol::Problem), (status = 422, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn create(
    Manager(caller): Manager,
    State(state): State<AppState>,
    JsonBody(new): JsonBody<NewServiceAccount>,
) -> Result<(StatusCode, Json<IssuedSecret>), ApiError> {
    person(&caller, "make service accounts")?;
    check_member_name(&new.id).map_err(|m| ApiError::field("id", m))?;
    if new.id == crate::oauth::BUILTIN_CLIENT {
        return Err(ApiError::field(
            "id",
            "is the built-in client of lmd and the CLI; choose another",
        ));
    }
    let name = new.name.clone().unwrap_or_else(|| new.id.clone());
    check_name(&name)?;
    let secret = crate::oauth::random_secret(32);
    state
        .store
        .add_service_account(
            &caller.change_context(),
            &crate::store::clients::NewClient {
                id: new.id.clone(),
                name,
                secret: Some(secret.clone()),
                redirect_uris: Vec::new(),
                grants: vec!["client_credentials".into()],
                service_account: Some((caller.principal.org.clone(), new.role)),
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedSecret {
            id: new.id,
            secret,
            previous_secret_until: None,
        }),
    ))
}

/// Renames a service account or changes the role it acts with (from its next request on).
#[utoipa::path(patch, path = "/v1/oauth-clients/{id}", tag = "people",
    params(("id" = String, Path)), request_body = ServiceAccountPatch,
    responses((status = 200, body = ServiceAccount), (status = 403, body = lm_protocol::Problem),
        (status = 404, body = lm_protocol::Problem), (status = 422, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn update(
    Manager(caller): Manager,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<ServiceAccountPatch>,
) -> Result<Json<ServiceAccount>, ApiError> {
    if let Some(name) = &patch.name {
        check_name(name)?;
    }
    state
        .store
        .change_service_account(
            &caller.change_context(),
            &id,
            patch.name.as_deref(),
            patch.role,
        )
        .await
        .map(shown)?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

/// Gives a service account a new secret (shown once); the one it had keeps working for
/// `grace_minutes` (60 unless said), so the service can move over without an outage.
#[utoipa::path(post, path = "/v1/oauth-clients/{id}/secret", tag = "people",
    params(("id" = String, Path)), request_body = SecretRotation,
    responses((status = 200, body = IssuedSecret), (status = 403, body = lm_protocol::Problem),
        (status = 404, body = lm_protocol::Problem), (status = 422, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn rotate_secret(
    Manager(caller): Manager,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(rotation): JsonBody<SecretRotation>,
) -> Result<Json<IssuedSecret>, ApiError> {
    person(&caller, "give out secrets")?;
    let minutes = rotation
        .grace_minutes
        .unwrap_or(SecretRotation::DEFAULT_GRACE_MINUTES);
    if minutes > SecretRotation::MAX_GRACE_MINUTES {
        return Err(ApiError::field(
            "grace_minutes",
            format!(
                "must be from 0 to {} (a week)",
                SecretRotation::MAX_GRACE_MINUTES
            ),
        ));
    }
    let until = chrono::Utc::now() + chrono::Duration::minutes(i64::from(minutes));
    let until = chrono::SubsecRound::trunc_subsecs(until, 6);
    let secret = crate::oauth::random_secret(32);
    state
        .store
        .rotate_service_account_secret(&caller.change_context(), &id, &secret, until)
        .await?;
    Ok(Json(IssuedSecret {
        id,
        secret,
        previous_secret_until: (minutes > 0).then_some(until),
    }))
}

/// Removes a service account: its tokens stop working within seconds.
#[utoipa::path(delete, path = "/v1/oauth-clients/{id}", tag = "people",
    params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = lm_protocol::Problem),
        (status = 404, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn remove(
    Manager(caller): Manager,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .remove_service_account(&caller.change_context(), &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
