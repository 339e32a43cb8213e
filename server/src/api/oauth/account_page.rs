//! `/account/second-factor`: the page where a person sets up, replaces or removes their own
//! second factor in a browser, signing in on the form itself (name, password, and the current
//! one-time code when they have one) — lm keeps no browser sessions. The same frame and the
//! same price as the sign-in pages: posts must come from this site, spend one of the address's
//! attempts, and a wrong password or code counts like a failed sign-in.

use super::form;
use super::sign_in::{Attempt, admit, error_paragraph, escape, page, sign_in};
use crate::api::AppState;
use crate::api::context::RequestContext;
use crate::oauth::totp::TotpSecret;
use crate::store::ChangeContext;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

const TITLE: &str = "Your second factor";

/// The form, offering the new key `secret`.
fn second_factor_form(secret: &TotpSecret, error: Option<&str>) -> Response {
    let key = secret.to_base32();
    let body = format!(
        r#"<p>Sign in below, then set up an authenticator app — or remove the one you have.</p>{error}
<form method="post">
<label>User name <input name="username" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<label>Current one-time code <span class="muted">(only if you have a second factor now)</span> <input name="otp" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*"></label>
<fieldset><legend>New second factor</legend>
<p class="muted">Scan this with an authenticator app (or type the key), then enter the code it shows.</p>
{qr}
<p class="code" id="totp-key">{key}</p>
<p><a id="totp-uri" href="{uri}">Open in an authenticator app</a></p>
<input type="hidden" name="totp_secret" value="{key}">
<label>Code from the app <input name="totp_code" inputmode="numeric" pattern="[0-9 ]*"></label>
</fieldset>
<div class="actions"><button name="action" value="set" type="submit">Set up</button>
<button name="action" value="remove" type="submit" formnovalidate>Remove my second factor</button></div>
</form>"#,
        error = error_paragraph(error),
        qr = secret.qr_svg("lm", "your account"),
        uri = escape(&secret.uri("lm", "your account")),
    );
    page(TITLE, &body)
}

/// `GET /account/second-factor`
pub async fn second_factor_page() -> Response {
    second_factor_form(&TotpSecret::generate(), None)
}

/// `POST /account/second-factor`: the credentials, and either the new key with a code of it
/// (`action=set`) or `action=remove`.
pub async fn second_factor_post(
    State(state): State<AppState>,
    Extension(context): Extension<RequestContext>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = form(&headers, &body).unwrap_or_default();
    let field = |name: &str| params.get(name).cloned().unwrap_or_default();
    let secret =
        TotpSecret::from_base32(&field("totp_secret")).unwrap_or_else(TotpSecret::generate);
    let refuse = |status: StatusCode, message: &str| {
        (status, second_factor_form(&secret, Some(message))).into_response()
    };
    if let Err((status, message)) = admit(&state, &context, &headers) {
        return refuse(status, &message);
    }
    let attempt = Attempt::from_form(&params);
    if let Err((status, message)) = sign_in(&state, &context, &attempt).await {
        return refuse(status, &message);
    }
    let name = attempt.username.to_owned();
    let org = match state.store.user(&name).await {
        Ok(Some(user)) => user.org,
        _ => {
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server failed; try again.",
            );
        }
    };
    let ctx = ChangeContext {
        org,
        actor: name.clone(),
        request_id: Some(context.request_id.clone()),
        client_addr: context.client_addr.map(|a| a.ip().to_string()),
    };
    let (change, done) = match field("action").as_str() {
        "remove" => (
            None,
            format!("{} signs in with the password alone now.", escape(&name)),
        ),
        _ => {
            let Some(step) =
                secret.matching_step(&field("totp_code"), chrono::Utc::now().timestamp())
            else {
                return refuse(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "The code from the app does not match the new key; check the app's clock.",
                );
            };
            (
                Some((secret.to_base32(), step)),
                format!(
                    "{} signs in with a one-time code from the app from now on.",
                    escape(&name)
                ),
            )
        }
    };
    let change = change.as_ref().map(|(s, step)| (s.as_str(), *step));
    match state.store.set_own_second_factor(&ctx, change).await {
        Ok(()) => page("Done", &format!(r#"<p id="done">{done}</p>"#)),
        Err(e) => {
            tracing::error!(error = %e, "changing a second factor");
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server failed; try again.",
            )
        }
    }
}
