//! What the sign-in pages share: their HTML frame, the credential fields, and checking them —
//! the per-address rate limit, the password with its per-user lockout, and the optional
//! one-time code (RFC 6238 TOTP).

use super::guesses;
use crate::api::AppState;
use crate::api::context::RequestContext;
use crate::oauth;
use crate::oauth::totp::TotpSecret;
use axum::http::header::{CACHE_CONTROL, HeaderName, REFERRER_POLICY, X_FRAME_OPTIONS};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A page of the authorization server: never cached, never framed (a sign-in page inside
/// someone else's frame is a clickjacking target), and it leaks no URL to other sites.
pub(super) fn page(title: &str, body: &str) -> Response {
    let headers: [(HeaderName, &'static str); 4] = [
        (CACHE_CONTROL, "no-store"),
        (X_FRAME_OPTIONS, "DENY"),
        (
            HeaderName::from_static("content-security-policy"),
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
        // Nothing to other sites; this site's own origin on its form posts.
        (REFERRER_POLICY, "same-origin"),
    ];
    let html = Html(format!(
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
    ));
    (headers, html).into_response()
}

/// The fields a person signs in with, and the approve and deny buttons.
pub(super) const CREDENTIAL_FIELDS: &str = r#"<label>User name <input name="username" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<label>One-time code <span class="muted">(only if your account has one)</span> <input name="otp" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*"></label>
<div class="actions"><button name="action" value="approve" type="submit">Approve</button>
<button name="action" value="deny" type="submit" formnovalidate>Deny</button></div>"#;

/// An error paragraph for a form, or nothing.
pub(super) fn error_paragraph(error: Option<&str>) -> String {
    error.map_or_else(String::new, |e| {
        format!(r#"<p class="error" id="error">{}</p>"#, escape(e))
    })
}

/// What a sign-in form sent.
pub(super) struct Attempt<'a> {
    pub username: &'a str,
    password: &'a str,
    one_time_code: &'a str,
    /// Whether the person pressed Approve (rather than Deny).
    pub approve: bool,
}

impl<'a> Attempt<'a> {
    pub fn from_form(params: &'a HashMap<String, String>) -> Attempt<'a> {
        let get = |k: &str| params.get(k).map(String::as_str).unwrap_or_default();
        Attempt {
            username: get("username").trim(),
            password: get("password"),
            one_time_code: get("otp"),
            approve: get("action") != "deny",
        }
    }
}

fn address(context: &RequestContext) -> IpAddr {
    context
        .client_addr
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip())
}

/// What every post of a sign-in form pays first, whether its code, client or credentials turn
/// out valid or not: it must come from a page of this server (a browser's `Origin`, or
/// `Sec-Fetch-Site`, says where a form was sent from), and it spends one of the address's
/// attempts. On refusal, the status and the message to show on the form.
pub(super) fn admit(
    state: &AppState,
    context: &RequestContext,
    headers: &HeaderMap,
) -> Result<(), (StatusCode, String)> {
    if !from_this_site(state, headers) {
        return Err((
            StatusCode::FORBIDDEN,
            "This form was sent from another site. Open the sign-in page of lm itself.".into(),
        ));
    }
    if state
        .authorization
        .login_attempts
        .check(address(context), Instant::now())
        .is_err()
    {
        return Err((
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-in attempts from your address; wait a minute and try again.".into(),
        ));
    }
    Ok(())
}

/// Whether a form post comes from this server's own pages. Browsers say where a form was
/// posted from in `Sec-Fetch-Site` (current ones) or `Origin` (older ones; the pages'
/// `Referrer-Policy: same-origin` keeps it from being `null`); a request with neither comes
/// from no browser page (a script, which forges nothing by posting: no cookie rides along,
/// lm sets none). The origin must be the public URL's, or the one the request was addressed
/// to (`Host`), so that the pages work however they were reached.
fn from_this_site(state: &AppState, headers: &HeaderMap) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // Set by the browser alone; pages cannot forge it.
    if let Some(site) = header("sec-fetch-site") {
        return matches!(site, "same-origin" | "none");
    }
    let Some(origin) = header("origin") else {
        return true;
    };
    let authority = |url: &str| {
        url.split_once("://").map(|(_, rest)| {
            rest.split('/')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase()
        })
    };
    let origin = authority(origin);
    origin.is_some()
        && (origin == authority(state.tokens.issuer())
            || origin.as_deref() == header("host").map(str::to_ascii_lowercase).as_deref())
}

/// Signs a person in with the credentials of a form [`admit`]ted already. On refusal, the
/// status and the message to show on the form.
pub(super) async fn sign_in(
    state: &AppState,
    context: &RequestContext,
    attempt: &Attempt<'_>,
) -> Result<(), (StatusCode, String)> {
    let address = address(context);
    let guesses = &state.authorization.failed_sign_ins;
    if let Some(wait) = guesses.wait(address, attempt.username, Instant::now()) {
        return Err((StatusCode::UNAUTHORIZED, guesses::waiting_message(wait)));
    }
    match authenticate(state, attempt).await {
        Ok(()) => {
            guesses.succeeded(address, attempt.username);
            Ok(())
        }
        Err(Refused::Failed(message)) => {
            let message = match guesses.failed(address, attempt.username, Instant::now()) {
                Some(wait) => {
                    tracing::warn!(%address, "sign-ins from this address wait after failed attempts");
                    guesses::waiting_message(wait)
                }
                None => message,
            };
            Err((StatusCode::UNAUTHORIZED, message))
        }
        Err(Refused::Incomplete(message)) => Err((StatusCode::UNAUTHORIZED, message)),
    }
}

/// Why credentials were refused: a failed guess (counted against the address), or something
/// to fix that is no guess (a missing one-time code, a server failure).
enum Refused {
    Failed(String),
    Incomplete(String),
}

/// Checks a user's password and one-time code. The message never tells whether the user
/// exists; a wrong one-time code is a failed attempt like a wrong password.
async fn authenticate(state: &AppState, attempt: &Attempt<'_>) -> Result<(), Refused> {
    const WRONG: &str = "Wrong user name or password.";
    let failure = || Refused::Incomplete("The server failed; try again.".into());
    let username = attempt.username;
    let credentials = state
        .store
        .credentials(username)
        .await
        .map_err(|_| failure())?;
    let now = Utc::now();
    let hash = credentials.as_ref().and_then(|c| c.password_hash.clone());
    let password = attempt.password.to_owned();
    let matches =
        tokio::task::spawn_blocking(move || oauth::verify_password(&password, hash.as_deref()))
            .await
            .unwrap_or(false);
    let disabled = match state.store.user(username).await {
        Ok(Some(u)) => u.disabled,
        _ => true,
    };
    if !matches || disabled {
        return Err(Refused::Failed(WRONG.to_owned()));
    }
    let second_factor = credentials
        .as_ref()
        .and_then(|c| c.totp_secret.as_deref())
        .map(TotpSecret::from_base32);
    if let Some(secret) = second_factor {
        let secret = secret.ok_or_else(failure)?;
        if attempt.one_time_code.trim().is_empty() {
            return Err(Refused::Incomplete(
                "This account also needs the one-time code from your authenticator app.".into(),
            ));
        }
        let Some(step) = secret.matching_step(attempt.one_time_code, now.timestamp()) else {
            return Err(Refused::Failed("Wrong one-time code.".into()));
        };
        if !state
            .store
            .use_totp_step(username, step)
            .await
            .map_err(|_| failure())?
        {
            return Err(Refused::Failed(
                "That one-time code was used already; wait for the next one.".into(),
            ));
        }
    }
    Ok(())
}
