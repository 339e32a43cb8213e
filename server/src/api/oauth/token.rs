//! The token endpoint (device code, client credentials and refresh token grants: RFC 6749
//! §4.4 and §6 with rotation), revocation (RFC 7009), introspection (RFC 7662) and userinfo
//! (OIDC Core §5.3).
//!
//! Access tokens carry `sid`, the login (refresh family) they belong to. A replayed refresh
//! token or authorization code revokes the whole login; revocation refuses the login's
//! access tokens by `sid`, or one access token by `jti`, from the revoked ids every replica
//! keeps in memory. With the `openid` scope the answer carries an ID token. Introspection
//! answers a service account about its own organization's tokens only.

use super::{OAuthError, client, form, no_store, refuse_grant, required, scope_of};
use crate::api::AppState;
use crate::oauth;
use crate::store::clients::{GRANTS, OAuthClient};
use crate::store::oauth::{CodeRedeemed, Redeemed};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Serialize;
use serde_json::json;

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

/// When the access tokens issued now expire: a login revoked now refuses its tokens until then.
pub(in crate::api) fn access_tokens_until(state: &AppState) -> chrono::DateTime<Utc> {
    Utc::now()
        + chrono::Duration::from_std(state.authorization.settings.access_token_ttl)
            .unwrap_or(chrono::Duration::hours(24))
        + chrono::Duration::minutes(1)
}

/// Signs an access token for `user` in the login `family`, stores a new refresh token of the
/// family, and with the `openid` scope signs an ID token for the client (echoing `nonce`).
async fn grant(
    state: &AppState,
    user: &str,
    client_id: &str,
    scope: &str,
    family: &str,
    nonce: Option<&str>,
) -> Result<Response, OAuthError> {
    let settings = state.authorization.settings;
    let account = state
        .store
        .user(user)
        .await
        .map_err(OAuthError::server)?
        .filter(|u| !u.disabled)
        .ok_or_else(|| OAuthError::new("invalid_grant", "the user is disabled or gone"))?;
    let access_token = state
        .tokens
        .issue(
            &account.name,
            &account.org,
            account.role,
            settings.access_token_ttl,
            Some(family),
        )
        .map_err(OAuthError::server)?;
    let id_token = if scope.split(' ').any(|s| s == "openid") {
        let token = state
            .tokens
            .id_token(
                &account.name,
                &account.org,
                account.role,
                client_id,
                nonce,
                family,
                settings.access_token_ttl,
            )
            .map_err(OAuthError::server)?;
        Some(token)
    } else {
        None
    };
    let refresh_token = oauth::random_secret(32);
    let expires_at = Utc::now()
        + chrono::Duration::from_std(settings.refresh_token_ttl).map_err(OAuthError::server)?;
    state
        .store
        .store_refresh_token(&refresh_token, family, user, client_id, scope, expires_at)
        .await
        .map_err(OAuthError::server)?;
    let body = TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: settings.access_token_ttl.as_secs(),
        refresh_token: Some(refresh_token),
        scope: scope.to_owned(),
        id_token,
    };
    Ok((no_store(), Json(body)).into_response())
}

/// `POST /oauth2/token`
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let params = form(&headers, &body)?;
    let client = client(&state, &headers, &params).await?;
    let client_id = client.id.as_str();
    let grant_type = required(&params, "grant_type")?;
    if GRANTS.contains(&grant_type) {
        refuse_grant(&client, grant_type)?;
    }
    let now = Utc::now();
    match grant_type {
        "client_credentials" => {
            let Some((org, role)) = client
                .registered
                .as_ref()
                .and_then(|c| c.service_account.clone())
            else {
                return Err(OAuthError::new(
                    "unauthorized_client",
                    "the client is no service account: it has no organization and role",
                ));
            };
            let scope = scope_of(&params)?;
            let subject = client
                .registered
                .as_ref()
                .map(OAuthClient::subject)
                .unwrap_or_default();
            let settings = state.authorization.settings;
            let access_token = state
                .tokens
                .issue(&subject, &org, role, settings.access_token_ttl, None)
                .map_err(OAuthError::server)?;
            // No refresh token: the client can always authenticate again (RFC 6749 §4.4.3).
            let body = TokenResponse {
                access_token,
                token_type: "Bearer",
                expires_in: settings.access_token_ttl.as_secs(),
                refresh_token: None,
                scope,
                id_token: None,
            };
            Ok((no_store(), Json(body)).into_response())
        }
        "urn:ietf:params:oauth:grant-type:device_code" => {
            let device_code = required(&params, "device_code")?;
            let Some((code, too_fast)) = state
                .store
                .poll_device_code(device_code, now)
                .await
                .map_err(OAuthError::server)?
            else {
                return Err(OAuthError::new("invalid_grant", "unknown device code"));
            };
            if code.client_id != client_id {
                return Err(OAuthError::new(
                    "invalid_grant",
                    "the device code was issued to another client",
                ));
            }
            if code.expires_at <= now {
                return Err(OAuthError::new(
                    "expired_token",
                    "the device code expired; start the login again",
                ));
            }
            if too_fast {
                return Err(OAuthError::new(
                    "slow_down",
                    format!(
                        "polled too fast; wait {} seconds between polls",
                        code.interval_secs + 5
                    ),
                ));
            }
            match code.status.as_str() {
                "pending" => Err(OAuthError::new(
                    "authorization_pending",
                    "the user has not approved the login yet",
                )),
                "denied" => Err(OAuthError::new(
                    "access_denied",
                    "the user denied the login",
                )),
                "approved" => {
                    let user = code.user_name.as_deref().unwrap_or_default();
                    let family = oauth::random_secret(16);
                    grant(&state, user, client_id, &code.scope, &family, None).await
                }
                _ => Err(OAuthError::new(
                    "invalid_grant",
                    "the device code was already used",
                )),
            }
        }
        "authorization_code" => {
            let code = required(&params, "code")?;
            let redirect_uri = required(&params, "redirect_uri")?;
            let verifier = required(&params, "code_verifier").map_err(|_| {
                OAuthError::new(
                    "invalid_request",
                    "`code_verifier` is missing: this server requires PKCE (RFC 7636)",
                )
            })?;
            let granted = match state
                .store
                .redeem_authorization_code(code, now, access_tokens_until(&state))
                .await
                .map_err(OAuthError::server)?
            {
                CodeRedeemed::Fresh(granted) => granted,
                CodeRedeemed::Invalid => {
                    return Err(OAuthError::new(
                        "invalid_grant",
                        "the authorization code is unknown or expired",
                    ));
                }
                CodeRedeemed::Replayed { family } => {
                    state.tokens.forget_token(&family);
                    tracing::warn!(%family, "an authorization code was presented twice; its login is revoked");
                    return Err(OAuthError::new(
                        "invalid_grant",
                        "the authorization code was already used; the login it started is revoked",
                    ));
                }
            };
            if granted.client_id != client_id {
                return Err(OAuthError::new(
                    "invalid_grant",
                    "the authorization code was issued to another client",
                ));
            }
            if granted.redirect_uri != redirect_uri {
                return Err(OAuthError::new(
                    "invalid_grant",
                    "`redirect_uri` differs from the one the code was issued for",
                ));
            }
            if !oauth::pkce_verifier_matches(verifier, &granted.code_challenge) {
                return Err(OAuthError::new(
                    "invalid_grant",
                    "`code_verifier` does not match the code challenge",
                ));
            }
            grant(
                &state,
                &granted.user_name,
                client_id,
                &granted.scope,
                &granted.family,
                granted.nonce.as_deref(),
            )
            .await
        }
        "refresh_token" => {
            let presented = required(&params, "refresh_token")?;
            match state
                .store
                .redeem_refresh_token(presented, now, access_tokens_until(&state))
                .await
                .map_err(OAuthError::server)?
            {
                Redeemed::Fresh(stored) if stored.client_id == client_id => {
                    grant(
                        &state,
                        &stored.user_name,
                        client_id,
                        &stored.scope,
                        &stored.family,
                        None,
                    )
                    .await
                }
                Redeemed::Fresh(_) | Redeemed::Invalid => Err(OAuthError::new(
                    "invalid_grant",
                    "the refresh token is unknown, expired or revoked",
                )),
                Redeemed::Reused { family } => {
                    state.tokens.forget_token(&family);
                    tracing::warn!(%family, "a rotated refresh token was presented again; the family is revoked");
                    Err(OAuthError::new(
                        "invalid_grant",
                        "the refresh token was already used; every token of this login is revoked",
                    ))
                }
            }
        }
        other => Err(OAuthError::new(
            "unsupported_grant_type",
            format!("`{other}` is not a grant type of this server"),
        )),
    }
}

/// `POST /oauth2/revoke` (RFC 7009): a refresh token revokes its whole login — every refresh
/// token rotated from it and every access token issued to it; an access token revokes itself.
/// Unknown tokens are not an error (§2.2), and neither are tokens of other clients: telling
/// them apart would let a client probe for tokens.
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let params = form(&headers, &body)?;
    client(&state, &headers, &params).await?;
    let token = required(&params, "token")?;
    if let Ok(claims) = state.tokens.verify_claims(token).await {
        let expires_at = chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or_else(Utc::now)
            + chrono::Duration::minutes(1);
        state
            .store
            .revoke_token_id(&claims.jti, expires_at)
            .await
            .map_err(OAuthError::server)?;
        state.tokens.forget_token(&claims.jti);
    } else if let Some(family) = state
        .store
        .revoke_refresh_token(token, access_tokens_until(&state))
        .await
        .map_err(OAuthError::server)?
    {
        state.tokens.forget_token(&family);
    }
    Ok((no_store(), StatusCode::OK).into_response())
}

/// `POST /oauth2/introspect` (RFC 7662): tells an authenticated confidential client whether a
/// token is active, and what it grants. Inactive, unknown and malformed tokens all answer
/// `{"active": false}` and nothing else (§2.2).
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let params = form(&headers, &body)?;
    let client = client(&state, &headers, &params).await?;
    if !client.is_confidential() {
        return Err(OAuthError::new(
            "invalid_client",
            "only confidential clients may introspect tokens",
        ));
    }
    let token = required(&params, "token")?;
    let hint = params.get("token_type_hint").map(String::as_str);
    // A service account answers for its own organization only; a client registered without
    // one (a resource server an operator set up) for every organization.
    let own_org = client.service_org();
    let of_caller = |org: &str| own_org.is_none_or(|own| own == org);
    let access = async || -> Option<serde_json::Value> {
        let claims = state.tokens.verify_claims(token).await.ok()?;
        if !of_caller(&claims.org) {
            return None;
        }
        Some(json!({
            "active": true, "token_type": "Bearer", "sub": claims.sub, "username": claims.sub,
            "iss": claims.iss, "aud": claims.aud, "exp": claims.exp, "iat": claims.iat,
            "nbf": claims.nbf, "jti": claims.jti, "org": claims.org, "role": claims.role,
        }))
    };
    let refresh = async || -> Result<Option<serde_json::Value>, OAuthError> {
        let stored = state
            .store
            .refresh_token_info(token, Utc::now())
            .await
            .map_err(OAuthError::server)?;
        let Some(t) = stored else { return Ok(None) };
        let holder = state
            .store
            .user(&t.user_name)
            .await
            .map_err(OAuthError::server)?;
        if !holder.is_some_and(|u| of_caller(&u.org)) {
            return Ok(None);
        }
        Ok(Some(t).map(|t| {
            json!({
                "active": true, "token_type": "refresh_token", "sub": t.user_name,
                "username": t.user_name, "client_id": t.client_id, "scope": t.scope,
                "exp": t.expires_at.timestamp(),
            })
        }))
    };
    let answer = if hint == Some("refresh_token") {
        match refresh().await? {
            Some(answer) => Some(answer),
            None => access().await,
        }
    } else {
        match access().await {
            Some(answer) => Some(answer),
            None => refresh().await?,
        }
    };
    let answer = answer.unwrap_or_else(|| json!({"active": false}));
    Ok((no_store(), Json(answer)).into_response())
}

/// `GET|POST /oauth2/userinfo` (OIDC Core §5.3): the claims of the access token's holder.
pub async fn userinfo(caller: crate::api::context::Caller) -> Response {
    let p = caller.principal;
    (
        no_store(),
        Json(json!({
            "sub": p.subject, "preferred_username": p.subject, "org": p.org, "role": p.role,
        })),
    )
        .into_response()
}
