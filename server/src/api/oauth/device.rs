//! The device authorization grant (RFC 8628 §3.1–3.2) and its approval page, where the user
//! types the code their terminal shows and signs in.

use super::sign_in::{Attempt, CREDENTIAL_FIELDS, admit, error_paragraph, escape, page, sign_in};
use super::{OAuthError, client, form, no_store, refuse_grant, scope_of};
use crate::api::AppState;
use crate::api::context::RequestContext;
use crate::oauth;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
struct DeviceAuthorization {
    device_code: String,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: String,
    expires_in: u64,
    interval: u64,
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

fn login_form(user_code: &str, asking: &str, error: Option<&str>) -> Response {
    let error = error_paragraph(error);
    page(
        "Sign in to lm",
        &format!(
            r#"{error}<p>{asking}</p>
<form method="post" action="/device">
<label>Code shown in your terminal <input name="user_code" class="code" value="{code}" autocomplete="off" required></label>
{CREDENTIAL_FIELDS}
</form>
<p class="muted">Only approve if you started this login yourself.</p>"#,
            code = escape(user_code),
        ),
    )
}

/// Describes which device asked, for the page shown once the login is approved (not before:
/// whoever holds a code learns nothing of it without signing in).
fn asked(code: &crate::store::oauth::DeviceCode) -> String {
    format!(
        "<strong>{}</strong> (the lm terminal client) asked to sign in, from {} at {} UTC.",
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

const ENTER_THE_CODE: &str = "Enter the code your terminal shows, then sign in.";

/// `GET /device`: where the user enters the code (or arrives with it from
/// `verification_uri_complete`) and signs in. The page is the same for any code, valid or
/// not: it tells nothing until someone signs in.
pub async fn device_page(Query(query): Query<DevicePageQuery>) -> Response {
    let user_code = oauth::normalize_user_code(&query.user_code);
    login_form(&user_code, ENTER_THE_CODE, None)
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
    let user_code = oauth::normalize_user_code(params.get("user_code").map_or("", String::as_str));
    let attempt = Attempt::from_form(&params);
    let (username, approve) = (attempt.username, attempt.approve);
    let refuse = |status: StatusCode, error: &str| {
        (status, login_form(&user_code, ENTER_THE_CODE, Some(error))).into_response()
    };
    // Every post pays, also one with a made-up code.
    if let Err((status, message)) = admit(&state, &context, &headers) {
        return refuse(status, &message);
    }
    let code = match state.store.device_code_by_user_code(&user_code).await {
        Ok(Some(code)) if code.status == "pending" && code.expires_at > Utc::now() => code,
        Ok(_) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "That code is not valid or has expired. Start the login again in your terminal.",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "device page");
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server failed; try again.",
            );
        }
    };
    if let Err((status, message)) = sign_in(&state, &context, &attempt).await {
        return refuse(status, &message);
    }
    match state
        .store
        .decide_device_code(&user_code, username, approve)
        .await
    {
        Ok(true) if approve => page(
            "Signed in",
            &format!(
                r#"<p id="result">You approved the login of <strong>{}</strong> as <strong>{}</strong>. You can close this window and return to your terminal.</p>
<p class="muted">{} If that was not you, sign out everywhere: ask a manager to disable and re-enable your account.</p>"#,
                escape(&code.client_id),
                escape(username),
                asked(&code),
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
            "That code was already used or has expired.",
        ),
        Err(e) => {
            tracing::error!(error = %e, "device decision");
            refuse(StatusCode::INTERNAL_SERVER_ERROR, "The server failed; try again.")
        }
    }
}
