//! The built-in OAuth 2.0 / OpenID Connect authorization server's endpoints: discovery
//! (OIDC Discovery 1.0), the JWK Set (RFC 7517), client authentication (RFC 6749 §2.3.1:
//! HTTP Basic or form parameters), and in submodules the authorization code grant with PKCE
//! and its sign-in page (`authorize`), the device authorization grant with its approval page
//! (`device`), the token, revocation, introspection and userinfo endpoints
//! (`token`), and the sign-in shared by the pages (`sign_in`).
//!
//! Errors of the OAuth endpoints are RFC 6749 §5.2 JSON (`{"error": …}`), not problems: that
//! is what OAuth client libraries parse.

mod account_page;
mod authorize;
mod device;
mod guesses;
mod invite;
mod sign_in;
pub(in crate::api) mod token;

pub use account_page::{second_factor_page, second_factor_post};
pub use authorize::{authorize_decide, authorize_page};
pub use device::{device_authorization, device_decide, device_page};
pub use invite::{invite_accept, invite_page};
pub use token::{introspect, revoke, token, userinfo};

use super::AppState;
use super::limits::RateLimiter;
use crate::oauth::{BUILTIN_CLIENT, SCOPES, Settings};
use crate::store::clients::OAuthClient;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::AUTHORIZATION;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;
use std::collections::HashMap;

/// What the authorization server needs besides the store and the token service.
#[derive(Clone)]
pub struct AuthorizationServer {
    pub settings: Settings,
    /// Sign-in attempts per client address, whatever the account.
    pub login_attempts: RateLimiter,
    /// Failed sign-ins per client address and account.
    pub failed_sign_ins: guesses::FailedSignIns,
}

impl AuthorizationServer {
    pub fn new(settings: Settings) -> AuthorizationServer {
        AuthorizationServer {
            settings,
            // 10 attempts a minute per address, in bursts of 10.
            login_attempts: RateLimiter::with_rate(10.0 / 60.0, 10),
            failed_sign_ins: guesses::FailedSignIns::new(
                u32::try_from(settings.max_failed_logins).unwrap_or(u32::MAX),
                settings.lockout,
            ),
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
    pub(super) fn new(error: &'static str, description: impl Into<String>) -> OAuthError {
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

    pub(super) fn server(e: impl std::fmt::Display) -> OAuthError {
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
pub(super) fn no_store() -> [(axum::http::HeaderName, &'static str); 2] {
    [(CACHE_CONTROL, "no-store"), (PRAGMA, "no-cache")]
}

/// Parses urlencoded parameters (a form body or a query string); a repeated parameter is an
/// error (RFC 6749 §3.1, §3.2).
pub(super) fn unique_params(encoded: &[u8]) -> Result<HashMap<String, String>, String> {
    let mut params = HashMap::new();
    for (k, v) in form_urlencoded::parse(encoded) {
        if params.insert(k.to_string(), v.to_string()).is_some() {
            return Err(format!("the parameter `{k}` is repeated"));
        }
    }
    Ok(params)
}

/// Parses an `application/x-www-form-urlencoded` body with [`unique_params`].
pub(super) fn form(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<HashMap<String, String>, OAuthError> {
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
    let params = unique_params(body).map_err(|e| OAuthError::new("invalid_request", e))?;
    Ok(params)
}

pub(super) fn required<'a>(
    params: &'a HashMap<String, String>,
    name: &str,
) -> Result<&'a str, OAuthError> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OAuthError::new("invalid_request", format!("`{name}` is missing")))
}

/// The client of a request, authenticated as RFC 6749 §2.3.1 says: a confidential client by
/// HTTP Basic (`client_secret_basic`) or by `client_id` + `client_secret` in the form
/// (`client_secret_post`), a public client by its `client_id` alone.
pub(super) struct Client {
    id: String,
    /// `None` for the built-in public client `lm`.
    registered: Option<OAuthClient>,
}

impl Client {
    pub(super) fn allows(&self, grant: &str) -> bool {
        match &self.registered {
            Some(client) => client.allows(grant),
            None => matches!(
                grant,
                "urn:ietf:params:oauth:grant-type:device_code"
                    | "refresh_token"
                    | "authorization_code"
            ),
        }
    }

    /// The organization a service account acts in; `None` for any other client.
    pub(super) fn service_org(&self) -> Option<&str> {
        self.registered
            .as_ref()
            .and_then(|c| c.service_account.as_ref())
            .map(|(org, _)| org.as_str())
    }

    pub(super) fn is_confidential(&self) -> bool {
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

pub(super) async fn client(
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

pub(super) fn refuse_grant(client: &Client, grant: &str) -> Result<(), OAuthError> {
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
        "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "device_authorization_endpoint": format!("{issuer}/oauth2/device_authorization"),
        "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
        "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
        "grant_types_supported": [
            "authorization_code", "urn:ietf:params:oauth:grant-type:device_code",
            "refresh_token", "client_credentials"
        ],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": SCOPES.split(' ').collect::<Vec<_>>(),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "nonce", "sid", "preferred_username", "org", "role"
        ],
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

pub(super) fn scope_of(params: &HashMap<String, String>) -> Result<String, OAuthError> {
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
