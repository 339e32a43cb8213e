//! The built-in OAuth 2.0 / OpenID Connect authorization server's endpoints: discovery
//! (OIDC Discovery 1.0), the JWK Set (RFC 7517), the device authorization grant (RFC 8628)
//! with its approval page, the token endpoint (device code, client credentials and refresh
//! token grants, RFC 6749 §4.4 and §6 with rotation), client authentication (§2.3.1: HTTP
//! Basic or form parameters), revocation (RFC 7009), introspection (RFC 7662) and userinfo
//! (OIDC Core §5.3).
//!
//! Errors of the OAuth endpoints are RFC 6749 §5.2 JSON (`{"error": …}`), not problems: that
//! is what OAuth client libraries parse.

use super::AppState;
use super::context::RequestContext;
use super::limits::RateLimiter;
use crate::oauth::{self, BUILTIN_CLIENT, SCOPES, Settings};
use crate::store::clients::{GRANTS, OAuthClient};
use crate::store::oauth::Redeemed;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Query, State};
use axum::http::header::AUTHORIZATION;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

/// What the authorization server needs besides the store and the token service.
#[derive(Clone)]
pub struct AuthorizationServer {
    pub settings: Settings,
    /// Password attempts per client address, apart from the per-user lockout.
    pub login_attempts: RateLimiter,
}

impl AuthorizationServer {
    pub fn new(settings: Settings) -> AuthorizationServer {
        AuthorizationServer {
            settings,
            // 10 attempts a minute per address, in bursts of 10.
            login_attempts: RateLimiter::with_rate(10.0 / 60.0, 10),
        }
    }
}

/// An RFC 6749 §5.2 error response.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<String>) -> OAuthError {
        OAuthError {
            status: if error == "invalid_client" {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::BAD_REQUEST
            },
            error,
            description: description.into(),
        }
    }

    fn server(e: impl std::fmt::Display) -> OAuthError {
        tracing::error!(error = %e, "authorization server failure");
        OAuthError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "server_error",
            description: "the server failed; try again".into(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        (self.status, no_store(), Json(body)).into_response()
    }
}

/// Token responses must not be cached (RFC 6749 §5.1).
fn no_store() -> [(axum::http::HeaderName, &'static str); 2] {
    [(CACHE_CONTROL, "no-store"), (PRAGMA, "no-cache")]
}

/// Parses an `application/x-www-form-urlencoded` body; a repeated parameter is an error
/// (RFC 6749 §3.2).
fn form(headers: &HeaderMap, body: &Bytes) -> Result<HashMap<String, String>, OAuthError> {
    let is_form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(OAuthError::new(
            "invalid_request",
            "send the parameters as application/x-www-form-urlencoded",
        ));
    }
    let mut params = HashMap::new();
    for (k, v) in form_urlencoded::parse(body) {
        if params.insert(k.to_string(), v.to_string()).is_some() {
            return Err(OAuthError::new(
                "invalid_request",
                format!("the parameter `{k}` is repeated"),
            ));
        }
    }
    Ok(params)
}

fn required<'a>(params: &'a HashMap<String, String>, name: &str) -> Result<&'a str, OAuthError> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OAuthError::new("invalid_request", format!("`{name}` is missing")))
}

/// The client of a request, authenticated as RFC 6749 §2.3.1 says: a confidential client by
/// HTTP Basic (`client_secret_basic`) or by `client_id` + `client_secret` in the form
/// (`client_secret_post`), a public client by its `client_id` alone.
struct Client {
    id: String,
    /// `None` for the built-in public client `lm`.
    registered: Option<OAuthClient>,
}

impl Client {
    fn allows(&self, grant: &str) -> bool {
        match &self.registered {
            Some(client) => client.allows(grant),
            None => matches!(
                grant,
                "urn:ietf:params:oauth:grant-type:device_code" | "refresh_token"
            ),
        }
    }

    fn is_confidential(&self) -> bool {
        self.registered
            .as_ref()
            .is_some_and(OAuthClient::is_confidential)
    }
}

/// `Authorization: Basic` credentials; both parts are form-urlencoded (§2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || OAuthError::new("invalid_client", "malformed Basic credentials");
    let value = value.to_str().map_err(|_| bad())?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err(bad());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    let unescape = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}

async fn client(
    state: &AppState,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Result<Client, OAuthError> {
    let (id, secret) = match basic_credentials(headers)? {
        Some((id, secret)) => {
            if params.contains_key("client_secret") {
                return Err(OAuthError::new(
                    "invalid_request",
                    "authenticate the client one way: Basic credentials or `client_secret`, not both",
                ));
            }
            if params.get("client_id").is_some_and(|p| *p != id) {
                return Err(OAuthError::new(
                    "invalid_client",
                    "`client_id` differs from the Basic credentials",
                ));
            }
            (id, Some(secret))
        }
        None => (
            required(params, "client_id")?.to_owned(),
            params.get("client_secret").cloned(),
        ),
    };
    let unknown = || OAuthError::new("invalid_client", "unknown client or wrong client secret");
    if id == BUILTIN_CLIENT {
        return match secret {
            None => Ok(Client {
                id,
                registered: None,
            }),
            Some(_) => Err(unknown()),
        };
    }
    let registered = state
        .store
        .client(&id)
        .await
        .map_err(OAuthError::server)?
        .ok_or_else(unknown)?;
    match (&secret, registered.is_confidential()) {
        (Some(secret), true) if registered.secret_matches(secret) => {}
        (None, false) => {}
        (None, true) => {
            return Err(OAuthError::new(
                "invalid_client",
                "this client is confidential: authenticate it with its secret",
            ));
        }
        _ => return Err(unknown()),
    }
    Ok(Client {
        id,
        registered: Some(registered),
    })
}

fn refuse_grant(client: &Client, grant: &str) -> Result<(), OAuthError> {
    if client.allows(grant) {
        Ok(())
    } else {
        Err(OAuthError::new(
            "unauthorized_client",
            format!("the client `{}` may not use the grant `{grant}`", client.id),
        ))
    }
}

/// `GET /.well-known/openid-configuration`
pub async fn discovery(State(state): State<AppState>) -> Json<serde_json::Value> {
    let issuer = state.tokens.issuer().trim_end_matches('/');
    Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "device_authorization_endpoint": format!("{issuer}/oauth2/device_authorization"),
        "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
        "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
        "grant_types_supported": [
            "urn:ietf:params:oauth:grant-type:device_code", "refresh_token", "client_credentials"
        ],
        "response_types_supported": ["code"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": SCOPES.split(' ').collect::<Vec<_>>(),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "org", "role"],
    }))
}

/// `GET /.well-known/jwks.json`
pub async fn jwks(State(state): State<AppState>) -> Response {
    (
        [(CACHE_CONTROL, "public, max-age=300")],
        Json(state.tokens.jwks()),
    )
        .into_response()
}

#[derive(Serialize)]
struct DeviceAuthorization {
    device_code: String,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: String,
    expires_in: u64,
    interval: u64,
}

fn scope_of(params: &HashMap<String, String>) -> Result<String, OAuthError> {
    let requested = params
        .get("scope")
        .map(String::as_str)
        .unwrap_or("openid offline_access licenses");
    for s in requested.split(' ').filter(|s| !s.is_empty()) {
        if !SCOPES.split(' ').any(|known| known == s) {
            return Err(OAuthError::new(
                "invalid_scope",
                format!("`{s}` is not a scope of this server; use {SCOPES}"),
            ));
        }
    }
    Ok(requested.to_owned())
}

/// `POST /oauth2/device_authorization` (RFC 8628 §3.1–3.2)
pub async fn device_authorization(
    State(state): State<AppState>,
    Extension(context): Extension<RequestContext>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let params = form(&headers, &body)?;
    let client = client(&state, &headers, &params).await?;
    refuse_grant(&client, "urn:ietf:params:oauth:grant-type:device_code")?;
    let client_id = client.id.as_str();
    let scope = scope_of(&params)?;
    let settings = state.authorization.settings;
    let device_code = oauth::random_secret(32);
    let mut user_code = oauth::user_code();
    let expires_at = Utc::now()
        + chrono::Duration::from_std(settings.device_code_ttl).map_err(OAuthError::server)?;
    let interval = settings.device_poll_interval.as_secs().max(1);
    let requested_from = context.client_addr.map(|a| a.ip().to_string());
    let mut attempts = 0;
    loop {
        match state
            .store
            .create_device_code(
                &device_code,
                &user_code,
                client_id,
                &scope,
                requested_from.clone(),
                interval as i64,
                expires_at,
            )
            .await
        {
            Ok(()) => break,
            Err(crate::store::StoreError::Conflict(_)) if attempts < 5 => {
                attempts += 1;
                user_code = oauth::user_code();
            }
            Err(e) => return Err(OAuthError::server(e)),
        }
    }
    let issuer = state.tokens.issuer().trim_end_matches('/');
    let body = DeviceAuthorization {
        verification_uri: format!("{issuer}/device"),
        verification_uri_complete: format!("{issuer}/device?user_code={user_code}"),
        device_code,
        user_code,
        expires_in: settings.device_code_ttl.as_secs(),
        interval,
    };
    Ok((no_store(), Json(body)).into_response())
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    scope: String,
}

/// Signs an access token for `user` and stores a new refresh token of `family`.
async fn grant(
    state: &AppState,
    user: &str,
    client_id: &str,
    scope: &str,
    family: &str,
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
        )
        .map_err(OAuthError::server)?;
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
                .issue(&subject, &org, role, settings.access_token_ttl)
                .map_err(OAuthError::server)?;
            // No refresh token: the client can always authenticate again (RFC 6749 §4.4.3).
            let body = TokenResponse {
                access_token,
                token_type: "Bearer",
                expires_in: settings.access_token_ttl.as_secs(),
                refresh_token: None,
                scope,
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
                    grant(
                        &state,
                        user,
                        client_id,
                        &code.scope,
                        &oauth::random_secret(16),
                    )
                    .await
                }
                _ => Err(OAuthError::new(
                    "invalid_grant",
                    "the device code was already used",
                )),
            }
        }
        "refresh_token" => {
            let presented = required(&params, "refresh_token")?;
            match state
                .store
                .redeem_refresh_token(presented, now)
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
                    )
                    .await
                }
                Redeemed::Fresh(_) | Redeemed::Invalid => Err(OAuthError::new(
                    "invalid_grant",
                    "the refresh token is unknown, expired or revoked",
                )),
                Redeemed::Reused { family } => {
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

/// `POST /oauth2/revoke` (RFC 7009): revokes a refresh token and every token rotated from
/// the same login. Unknown tokens are not an error (§2.2).
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let params = form(&headers, &body)?;
    client(&state, &headers, &params).await?;
    let token = required(&params, "token")?;
    state
        .store
        .revoke_refresh_token(token)
        .await
        .map_err(OAuthError::server)?;
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
    let access = || -> Option<serde_json::Value> {
        let claims = state.tokens.verify_claims(token).ok()?;
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
        Ok(stored.map(|t| {
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
            None => access(),
        }
    } else {
        match access() {
            Some(answer) => Some(answer),
            None => refresh().await?,
        }
    };
    let answer = answer.unwrap_or_else(|| json!({"active": false}));
    Ok((no_store(), Json(answer)).into_response())
}

/// `GET|POST /oauth2/userinfo` (OIDC Core §5.3): the claims of the access token's holder.
pub async fn userinfo(caller: super::context::Caller) -> Response {
    let p = caller.principal;
    (
        no_store(),
        Json(json!({
            "sub": p.subject, "preferred_username": p.subject, "org": p.org, "role": p.role,
        })),
    )
        .into_response()
}

// ---- the approval page -------------------------------------------------------------------

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · lm</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 28rem; margin: 3rem auto; padding: 0 1rem; color: #222; }}
h1 {{ font-size: 1.4rem; }} label {{ display: block; margin-top: .8rem; }}
input {{ width: 100%; padding: .5rem; font-size: 1rem; box-sizing: border-box; }}
.code {{ font-family: ui-monospace, monospace; font-size: 1.3rem; letter-spacing: .1rem; }}
.actions {{ margin-top: 1.2rem; display: flex; gap: .6rem; }}
button {{ padding: .6rem 1.2rem; font-size: 1rem; }}
.error {{ color: #a00; }} .muted {{ color: #666; font-size: .9rem; }}
</style></head><body>
<h1>{title}</h1>
{body}
</body></html>"#,
        title = escape(title)
    ))
}

fn login_form(user_code: &str, asking: &str, error: Option<&str>) -> Html<String> {
    let error = error.map_or_else(String::new, |e| {
        format!(r#"<p class="error" id="error">{}</p>"#, escape(e))
    });
    page(
        "Sign in to lm",
        &format!(
            r#"{error}<p>{asking}</p>
<form method="post" action="/device">
<label>Code shown in your terminal <input name="user_code" class="code" value="{code}" autocomplete="off" required></label>
<label>User name <input name="username" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<div class="actions"><button name="action" value="approve" type="submit">Approve</button>
<button name="action" value="deny" type="submit" formnovalidate>Deny</button></div>
</form>
<p class="muted">Only approve if you started this login yourself.</p>"#,
            code = escape(user_code),
        ),
    )
}

/// Describes which device asks, for the approval page.
fn asking(code: &crate::store::oauth::DeviceCode) -> String {
    format!(
        "<strong>{}</strong> (the lm terminal client) asks to sign in, from {} at {} UTC.",
        escape(&code.client_id),
        escape(
            code.requested_from
                .as_deref()
                .unwrap_or("an unknown address")
        ),
        code.created_at.format("%H:%M")
    )
}

#[derive(Deserialize)]
pub struct DevicePageQuery {
    #[serde(default)]
    user_code: String,
}

/// `GET /device`: where the user enters the code (or arrives with it from
/// `verification_uri_complete`) and signs in.
pub async fn device_page(
    State(state): State<AppState>,
    Query(query): Query<DevicePageQuery>,
) -> Html<String> {
    let user_code = oauth::normalize_user_code(&query.user_code);
    let asking = match state.store.device_code_by_user_code(&user_code).await {
        Ok(Some(code)) if code.status == "pending" && code.expires_at > Utc::now() => asking(&code),
        _ => "Enter the code your terminal shows, then sign in.".to_owned(),
    };
    login_form(&user_code, &asking, None)
}

/// `POST /device`: checks the code and the password, then approves or denies.
pub async fn device_decide(
    State(state): State<AppState>,
    Extension(context): Extension<RequestContext>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // A malformed form reads as an empty one: the page then asks for the code again.
    let params = form(&headers, &body).unwrap_or_default();
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or_default();
    let user_code = oauth::normalize_user_code(get("user_code"));
    let (username, password) = (get("username").trim(), get("password"));
    let approve = get("action") != "deny";
    let refuse = |status: StatusCode, asking: &str, error: &str| {
        (status, login_form(&user_code, asking, Some(error))).into_response()
    };

    let code = match state.store.device_code_by_user_code(&user_code).await {
        Ok(Some(code)) if code.status == "pending" && code.expires_at > Utc::now() => code,
        Ok(_) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "Enter the code your terminal shows, then sign in.",
                "That code is not valid or has expired. Start the login again in your terminal.",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "device page");
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "",
                "The server failed; try again.",
            );
        }
    };
    let asking = asking(&code);
    let address = context
        .client_addr
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
    if state
        .authorization
        .login_attempts
        .check(address, Instant::now())
        .is_err()
    {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            &asking,
            "Too many sign-in attempts from your address; wait a minute and try again.",
        );
    }
    match authenticate(&state, username, password).await {
        Ok(()) => {}
        Err(message) => return refuse(StatusCode::UNAUTHORIZED, &asking, &message),
    }
    match state
        .store
        .decide_device_code(&user_code, username, approve)
        .await
    {
        Ok(true) if approve => page(
            "Signed in",
            &format!(
                r#"<p id="result">You approved the login of <strong>{}</strong> as <strong>{}</strong>. You can close this window and return to your terminal.</p>"#,
                escape(&code.client_id),
                escape(username)
            ),
        )
        .into_response(),
        Ok(true) => page(
            "Login denied",
            r#"<p id="result">You denied the login. The terminal that asked gets no access.</p>"#,
        )
        .into_response(),
        Ok(false) => refuse(
            StatusCode::BAD_REQUEST,
            &asking,
            "That code was already used or has expired.",
        ),
        Err(e) => {
            tracing::error!(error = %e, "device decision");
            refuse(StatusCode::INTERNAL_SERVER_ERROR, &asking, "The server failed; try again.")
        }
    }
}

/// Checks a user's password, with the per-user lockout. The message never tells whether the
/// user exists.
async fn authenticate(state: &AppState, username: &str, password: &str) -> Result<(), String> {
    const WRONG: &str = "Wrong user name or password.";
    let settings = state.authorization.settings;
    let credentials = state
        .store
        .credentials(username)
        .await
        .map_err(|_| "The server failed; try again.".to_owned())?;
    let now = Utc::now();
    if let Some(until) = credentials.as_ref().and_then(|c| c.locked_until)
        && until > now
    {
        let minutes = (until - now).num_minutes() + 1;
        return Err(format!(
            "Too many failed attempts: this account is locked for {minutes} more minute(s)."
        ));
    }
    let hash = credentials.as_ref().and_then(|c| c.password_hash.clone());
    let password = password.to_owned();
    let matches =
        tokio::task::spawn_blocking(move || oauth::verify_password(&password, hash.as_deref()))
            .await
            .unwrap_or(false);
    let disabled = match state.store.user(username).await {
        Ok(Some(u)) => u.disabled,
        _ => true,
    };
    if matches && !disabled {
        let _ = state.store.login_succeeded(username).await;
        return Ok(());
    }
    if credentials.is_some() {
        let lock_until = now
            + chrono::Duration::from_std(settings.lockout).unwrap_or(chrono::Duration::minutes(15));
        if let Ok(failures) = state
            .store
            .login_failed(username, settings.max_failed_logins, lock_until)
            .await
            && failures >= settings.max_failed_logins
        {
            tracing::warn!(user = username, "account locked after failed logins");
        }
    }
    Err(WRONG.to_owned())
}
