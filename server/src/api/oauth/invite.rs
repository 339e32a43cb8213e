//! The page a one-time link opens, `/invite/{code}`: an invited person chooses the password
//! they will sign in with and is a member from then on; a member whose password was reset
//! chooses a new one. An invited person may also set up a second factor: the page offers a
//! fresh key (a QR code, the key typed out, an `otpauth://` link), kept only once a code of
//! it is entered. The same frame as the sign-in pages (never cached, never framed), and
//! a post pays like a sign-in: it must come from this site's page, and it spends one of the
//! address's attempts, also for a made-up code.

use super::form;
use super::sign_in::{admit, error_paragraph, escape, page};
use crate::api::AppState;
use crate::api::context::RequestContext;
use crate::oauth;
use crate::oauth::totp::TotpSecret;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use lm_protocol::{Invitation, InvitationKind};

const NO_LONGER_VALID: &str = "This link is not valid any more: it was used, replaced or revoked, \
    or it expired. Ask a manager of your organization for a new one.";

fn gone() -> Response {
    (
        StatusCode::GONE,
        page(
            "Link not valid",
            &format!(r#"<p id="gone">{}</p>"#, escape(NO_LONGER_VALID)),
        ),
    )
        .into_response()
}

/// The optional second factor of an invitation: a fresh secret to scan or type, and the
/// field for the code it shows. Stored only once a code of it is confirmed with the form.
fn second_factor_fields(invitation: &Invitation, secret: &TotpSecret) -> String {
    let key = secret.to_base32();
    let grouped: Vec<String> = key
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    format!(
        r#"<fieldset><legend>Second factor <span class="muted">(optional)</span></legend>
<p class="muted">To sign in with a one-time code as well, scan this with an authenticator app (or type the key), then enter the code it shows.</p>
{qr}
<p class="code" id="totp-key">{grouped}</p>
<p><a id="totp-uri" href="{uri}">Open in an authenticator app</a></p>
<input type="hidden" name="totp_secret" value="{key}">
<label>Code from the app <input name="totp_code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*"></label>
</fieldset>"#,
        qr = secret.qr_svg("lm", &invitation.name),
        grouped = grouped.join(" "),
        uri = escape(&secret.uri("lm", &invitation.name)),
    )
}

/// The form to choose a password with, for `invitation` of the organization named `org`; an
/// invitation also offers the second factor of `secret`.
fn password_form(
    invitation: &Invitation,
    org: &str,
    secret: &TotpSecret,
    error: Option<&str>,
) -> Response {
    let (title, lead, button) = match invitation.kind {
        InvitationKind::Invite => (
            format!("Join {org}"),
            format!(
                "You are invited to lm, the license manager of {}, as <b>{}</b> ({}). Choose the password you will sign in with.",
                escape(org),
                escape(&invitation.name),
                invitation.role
            ),
            "Join",
        ),
        InvitationKind::Reset => (
            "Choose a new password".to_owned(),
            format!(
                "Choose a new password for <b>{}</b> at {}.",
                escape(&invitation.name),
                escape(org)
            ),
            "Set password",
        ),
    };
    let body = format!(
        r#"<p>{lead}</p>{error}
<form method="post">
<label>Password <span class="muted">(at least {min} characters)</span> <input name="password" type="password" autocomplete="new-password" required></label>
<label>Again <input name="again" type="password" autocomplete="new-password" required></label>
{second_factor}
<div class="actions"><button type="submit">{button}</button></div>
</form>"#,
        error = error_paragraph(error),
        min = oauth::MIN_PASSWORD_CHARS,
        second_factor = match invitation.kind {
            InvitationKind::Invite => second_factor_fields(invitation, secret),
            InvitationKind::Reset => String::new(),
        },
    );
    page(&title, &body)
}

/// The open link of `code` and its organization's name, or the page to answer instead.
async fn open_link(state: &AppState, code: &str) -> Result<(Invitation, String), Response> {
    match state.store.invitation_by_code(code).await {
        Ok(Some((invitation, org))) => {
            let name = match state.store.org(&org).await {
                Ok(settings) => settings.name.to_string(),
                Err(_) => org,
            };
            Ok((invitation, name))
        }
        Ok(None) => Err(gone()),
        Err(e) => {
            tracing::error!(error = %e, "invitation page");
            Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                page("Try again", "<p>The server failed; try again.</p>"),
            )
                .into_response())
        }
    }
}

/// `GET /invite/{code}`
pub async fn invite_page(State(state): State<AppState>, Path(code): Path<String>) -> Response {
    match open_link(&state, &code).await {
        Ok((invitation, org)) => password_form(&invitation, &org, &TotpSecret::generate(), None),
        Err(answer) => answer,
    }
}

/// `POST /invite/{code}`: the chosen password (twice).
pub async fn invite_accept(
    State(state): State<AppState>,
    Extension(context): Extension<RequestContext>,
    Path(code): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err((status, message)) = admit(&state, &context, &headers) {
        return (status, page("Not sent", &error_paragraph(Some(&message)))).into_response();
    }
    let (invitation, org) = match open_link(&state, &code).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let params = form(&headers, &body).unwrap_or_default();
    let field = |name: &str| params.get(name).cloned().unwrap_or_default();
    let (password, again) = (field("password"), field("again"));
    // The key the page offered, offered again when the form comes back.
    let offered = TotpSecret::from_base32(&field("totp_secret"));
    let secret = offered.clone().unwrap_or_else(TotpSecret::generate);
    let refuse = |message: &str| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            password_form(&invitation, &org, &secret, Some(message)),
        )
            .into_response()
    };
    if password != again {
        return refuse("The two passwords differ.");
    }
    let typed = field("totp_code");
    let second_factor = match (invitation.kind, typed.trim().is_empty(), &offered) {
        (InvitationKind::Reset, _, _) | (_, true, _) => None,
        (InvitationKind::Invite, false, None) => {
            return refuse("The second factor's key was lost; scan the new one and try again.");
        }
        (InvitationKind::Invite, false, Some(secret)) => {
            match secret.matching_step(&typed, chrono::Utc::now().timestamp()) {
                Some(step) => Some((secret.to_base32(), step)),
                None => {
                    return refuse(
                        "The one-time code does not match this key: check the app's clock, \
                         or leave the code empty to go without a second factor.",
                    );
                }
            }
        }
    };
    let hash = match tokio::task::spawn_blocking(move || oauth::hash_password(&password)).await {
        Ok(Ok(hash)) => hash,
        Ok(Err(oauth::PasswordError::TooShort(min))) => {
            return refuse(&format!(
                "The password must be at least {min} characters long."
            ));
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "hashing a password");
            return refuse("The server failed; try again.");
        }
        Err(e) => {
            tracing::error!(error = %e, "hashing a password");
            return refuse("The server failed; try again.");
        }
    };
    let second_factor = second_factor.as_ref().map(|(s, step)| (s.as_str(), *step));
    match state
        .store
        .redeem_invitation(&code, &hash, second_factor)
        .await
    {
        Ok(Some(redeemed)) => {
            let done = match redeemed.kind {
                InvitationKind::Invite => format!(
                    "Welcome to {}, {}. Sign in from your terminal with <code>lm login</code>.",
                    escape(&org),
                    escape(&redeemed.name)
                ),
                InvitationKind::Reset => format!(
                    "The new password of {} is set. Sign in from your terminal with <code>lm login</code>.",
                    escape(&redeemed.name)
                ),
            };
            page("Done", &format!(r#"<p id="done">{done}</p>"#))
        }
        Ok(None) => gone(),
        Err(crate::store::StoreError::Conflict(why)) => refuse(&why),
        Err(e) => {
            tracing::error!(error = %e, "accepting an invitation");
            refuse("The server failed; try again.")
        }
    }
}
