//! The authorization code grant with PKCE (RFC 6749 §4.1, RFC 7636 `S256` only) for clients
//! that open a browser and listen on a loopback redirect (RFC 8252 §7.3): `GET
//! /oauth2/authorize` shows the sign-in page, `POST /oauth2/authorize` checks it and sends the
//! browser back to the client with a one-minute, one-use code and the issuer (RFC 9207).
//!
//! Until the client and its redirect URI are known good, errors are shown to the person and
//! never redirected (§4.1.2.1): an open redirector would hand codes to anyone.

use super::sign_in::{Attempt, CREDENTIAL_FIELDS, admit, error_paragraph, escape, page, sign_in};
use super::{OAuthError, form, unique_params};
use crate::api::AppState;
use crate::api::context::RequestContext;
use crate::oauth::{self, BUILTIN_CLIENT, SCOPES};
use crate::store::oauth::AuthorizationCode;
use axum::body::Bytes;
use axum::extract::{Extension, RawQuery, State};
use axum::http::header::{CACHE_CONTROL, LOCATION};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use std::collections::HashMap;

/// The parameters of an authorization request the page carries through the sign-in.
const CARRIED: [&str; 7] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
];
/// The OpenID Connect parameter carried too.
const NONCE: &str = "nonce";

/// A checked authorization request.
struct AuthorizeRequest {
    client_id: String,
    client_name: String,
    redirect_uri: String,
    scope: String,
    state: Option<String>,
    code_challenge: String,
    nonce: Option<String>,
}

/// Why an authorization request is refused.
enum Refusal {
    /// The client or its redirect URI is not to be trusted: tell the person, do not redirect.
    Page(String),
    /// Tell the client, at its redirect URI (RFC 6749 §4.1.2.1).
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: String,
    },
}

impl Refusal {
    fn into_response(self, issuer: &str) -> Response {
        match self {
            Refusal::Page(why) => {
                let body = format!(
                    r#"<p class="error" id="error">{}</p><p class="muted">Go back to the application and try again; if it keeps failing, tell whoever runs it.</p>"#,
                    escape(&why)
                );
                let mut response = page("This sign-in request is not valid", &body);
                *response.status_mut() = StatusCode::BAD_REQUEST;
                response
            }
            Refusal::Redirect {
                redirect_uri,
                state,
                error,
                description,
            } => {
                let mut query = vec![("error", error.to_owned())];
                query.push(("error_description", description));
                if let Some(state) = state {
                    query.push(("state", state));
                }
                query.push(("iss", issuer.to_owned()));
                redirect(&redirect_uri, &query)
            }
        }
    }
}

/// `redirect_uri` with `query` appended, as a 303 so the browser follows with a GET.
fn redirect(redirect_uri: &str, query: &[(&str, String)]) -> Response {
    let mut encoded = form_urlencoded::Serializer::new(String::new());
    for (k, v) in query {
        encoded.append_pair(k, v);
    }
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    let location = format!("{redirect_uri}{separator}{}", encoded.finish());
    (
        StatusCode::SEE_OTHER,
        [(LOCATION, location), (CACHE_CONTROL, "no-store".to_owned())],
    )
        .into_response()
}

/// The port of a loopback redirect URI (`http://127.0.0.1:PORT/…` or `http://[::1]:PORT/…`),
/// and the URI without it, for RFC 8252 §7.3's "any port" comparison; `None` for any other URI.
fn loopback(uri: &str) -> Option<(String, String)> {
    let rest = uri.strip_prefix("http://")?;
    let host = ["127.0.0.1", "[::1]"]
        .into_iter()
        .find(|h| rest.starts_with(h))?;
    let after_host = &rest[host.len()..];
    let (port, path) = match after_host.strip_prefix(':') {
        Some(p) => {
            let end = p.find(['/', '?']).unwrap_or(p.len());
            (&p[..end], &p[end..])
        }
        None => ("", after_host),
    };
    let port_ok = port.is_empty() || port.bytes().all(|b| b.is_ascii_digit()) && port.len() <= 5;
    let path_ok = path.is_empty() || path.starts_with('/') || path.starts_with('?');
    (port_ok && path_ok).then(|| (port.to_owned(), format!("http://{host}{path}")))
}

/// Whether a client may be sent to `uri`: one of its registered URIs exactly, or a loopback
/// URI that differs from a registered one in the port only. The built-in client `lm` may use
/// any loopback URI.
fn redirect_allowed(uri: &str, registered: Option<&[String]>) -> bool {
    if uri.contains('#') {
        return false;
    }
    match registered {
        None => loopback(uri).is_some(),
        Some(allowed) => allowed.iter().any(|a| {
            a == uri
                || matches!((loopback(a), loopback(uri)), (Some((_, a)), Some((_, u))) if a == u)
        }),
    }
}

/// Checks an authorization request: first the client and redirect URI (refusals are shown),
/// then the rest (refusals go back to the client).
async fn check(
    state: &AppState,
    params: &HashMap<String, String>,
) -> Result<AuthorizeRequest, Refusal> {
    let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let client_id = get("client_id").ok_or_else(|| Refusal::Page("No client_id.".into()))?;
    let redirect_uri =
        get("redirect_uri").ok_or_else(|| Refusal::Page("No redirect_uri.".into()))?;
    let (client_name, registered) = if client_id == BUILTIN_CLIENT {
        ("the lm terminal client".to_owned(), None)
    } else {
        let client = state
            .store
            .client(client_id)
            .await
            .map_err(|_| Refusal::Page("The server failed; try again.".into()))?
            .ok_or_else(|| Refusal::Page(format!("Unknown client `{client_id}`.")))?;
        if !client.allows("authorization_code") {
            return Err(Refusal::Page(format!(
                "The client `{client_id}` may not sign people in with a browser."
            )));
        }
        (client.name.clone(), Some(client.redirect_uris))
    };
    if !redirect_allowed(redirect_uri, registered.as_deref()) {
        return Err(Refusal::Page(format!(
            "`{redirect_uri}` is not a redirect URI of the client `{client_id}`{}.",
            if registered.is_none() {
                " (it accepts loopback URIs: http://127.0.0.1:PORT/… or http://[::1]:PORT/…)"
            } else {
                ""
            }
        )));
    }
    let refuse = |error: &'static str, description: String| Refusal::Redirect {
        redirect_uri: redirect_uri.to_owned(),
        state: get("state").map(str::to_owned),
        error,
        description,
    };
    if get("response_type") != Some("code") {
        return Err(refuse(
            "unsupported_response_type",
            "this server answers `response_type=code` only".into(),
        ));
    }
    let code_challenge = get("code_challenge").ok_or_else(|| {
        refuse(
            "invalid_request",
            "`code_challenge` is missing: this server requires PKCE (RFC 7636)".into(),
        )
    })?;
    if get("code_challenge_method") != Some("S256") {
        return Err(refuse(
            "invalid_request",
            "`code_challenge_method` must be S256".into(),
        ));
    }
    let challenge_ok = code_challenge.len() == 43
        && code_challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    if !challenge_ok {
        return Err(refuse(
            "invalid_request",
            "`code_challenge` is not a base64url SHA-256".into(),
        ));
    }
    let scope = get("scope").unwrap_or("openid offline_access licenses");
    if let Some(unknown) = scope
        .split(' ')
        .find(|s| !s.is_empty() && !SCOPES.split(' ').any(|k| k == *s))
    {
        return Err(refuse(
            "invalid_scope",
            format!("`{unknown}` is not a scope of this server; use {SCOPES}"),
        ));
    }
    Ok(AuthorizeRequest {
        client_id: client_id.to_owned(),
        client_name,
        redirect_uri: redirect_uri.to_owned(),
        scope: scope.to_owned(),
        state: get("state").map(str::to_owned),
        code_challenge: code_challenge.to_owned(),
        nonce: get(NONCE).map(str::to_owned),
    })
}

/// The sign-in page of an authorization request, carrying its parameters.
fn sign_in_page(
    request: &AuthorizeRequest,
    params: &HashMap<String, String>,
    error: Option<&str>,
) -> Response {
    let hidden: String = CARRIED
        .iter()
        .chain(std::iter::once(&NONCE))
        .filter_map(|k| params.get(*k).map(|v| (k, v)))
        .map(|(k, v)| format!(r#"<input type="hidden" name="{k}" value="{}">"#, escape(v)))
        .collect::<Vec<_>>()
        .join("\n");
    let destination = loopback(&request.redirect_uri).map_or_else(
        || request.redirect_uri.clone(),
        |(port, _)| format!("an application on this computer (port {port})"),
    );
    page(
        "Sign in to lm",
        &format!(
            r#"{error}<p><strong>{name}</strong> asks to sign you in to lm and act for you ({scope}). You will be sent back to {destination}.</p>
<form method="post" action="/oauth2/authorize">
{hidden}
{CREDENTIAL_FIELDS}
</form>
<p class="muted">Only approve if you started this sign-in yourself.</p>"#,
            error = error_paragraph(error),
            name = escape(&request.client_name),
            scope = escape(&request.scope),
            destination = escape(&destination),
        ),
    )
}

/// `GET /oauth2/authorize`
pub async fn authorize_page(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let issuer = state.tokens.issuer().trim_end_matches('/').to_owned();
    let params = match unique_params(query.unwrap_or_default().as_bytes()) {
        Ok(params) => params,
        Err(why) => return Refusal::Page(why).into_response(&issuer),
    };
    match check(&state, &params).await {
        Ok(request) => sign_in_page(&request, &params, None),
        Err(refusal) => refusal.into_response(&issuer),
    }
}

/// `POST /oauth2/authorize`: signs the person in, then sends the browser back with a code —
/// or with `access_denied` when they pressed Deny.
pub async fn authorize_decide(
    State(state): State<AppState>,
    Extension(context): Extension<RequestContext>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let issuer = state.tokens.issuer().trim_end_matches('/').to_owned();
    let params = match form(&headers, &body) {
        Ok(params) => params,
        Err(OAuthError { description, .. }) => {
            return Refusal::Page(description).into_response(&issuer);
        }
    };
    if let Err((status, message)) = admit(&state, &context, &headers) {
        let mut response = Refusal::Page(message).into_response(&issuer);
        *response.status_mut() = status;
        return response;
    }
    let request = match check(&state, &params).await {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(&issuer),
    };
    let attempt = Attempt::from_form(&params);
    if !attempt.approve {
        return Refusal::Redirect {
            redirect_uri: request.redirect_uri,
            state: request.state,
            error: "access_denied",
            description: "the person denied the sign-in".into(),
        }
        .into_response(&issuer);
    }
    if let Err((status, message)) = sign_in(&state, &context, &attempt).await {
        let mut response = sign_in_page(&request, &params, Some(&message));
        *response.status_mut() = status;
        return response;
    }
    let code = oauth::random_secret(32);
    let expires_at = Utc::now()
        + chrono::Duration::from_std(state.authorization.settings.authorization_code_ttl)
            .unwrap_or(chrono::Duration::minutes(1));
    let granted = AuthorizationCode {
        client_id: request.client_id.clone(),
        user_name: attempt.username.to_owned(),
        redirect_uri: request.redirect_uri.clone(),
        scope: request.scope.clone(),
        code_challenge: request.code_challenge.clone(),
        nonce: request.nonce.clone(),
        family: oauth::random_secret(16),
        expires_at,
        used_at: None,
    };
    if let Err(e) = state.store.store_authorization_code(&code, &granted).await {
        tracing::error!(error = %e, "storing an authorization code");
        let mut response = sign_in_page(&request, &params, Some("The server failed; try again."));
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        return response;
    }
    let mut query = vec![("code", code)];
    if let Some(state) = request.state {
        query.push(("state", state));
    }
    query.push(("iss", issuer));
    redirect(&request.redirect_uri, &query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_may_use_any_port() {
        let registered = vec!["http://127.0.0.1/callback".to_owned()];
        assert!(redirect_allowed(
            "http://127.0.0.1:49152/callback",
            Some(&registered)
        ));
        assert!(!redirect_allowed(
            "http://127.0.0.1:49152/other",
            Some(&registered)
        ));
        assert!(!redirect_allowed(
            "http://localhost:49152/callback",
            Some(&registered)
        ));
        assert!(redirect_allowed("http://[::1]:8000/cb", None));
        assert!(redirect_allowed("http://127.0.0.1:8000", None));
        assert!(!redirect_allowed("http://127.0.0.1.evil.example/cb", None));
        assert!(!redirect_allowed(
            "http://127.0.0.1:80@evil.example/cb",
            None
        ));
        assert!(!redirect_allowed("https://evil.example/cb", None));
        assert!(!redirect_allowed("http://127.0.0.1:8000/cb#x", None));
        let exact = vec!["https://app.example/cb".to_owned()];
        assert!(redirect_allowed("https://app.example/cb", Some(&exact)));
        assert!(!redirect_allowed("https://app.example/cb2", Some(&exact)));
    }
}
