//! What the sign-in pages share: their HTML frame and checking a user's password.

use crate::api::AppState;
use crate::oauth;
use axum::response::Html;
use chrono::Utc;

pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

pub(super) fn page(title: &str, body: &str) -> Html<String> {
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

/// Checks a user's password, with the per-user lockout. The message never tells whether the
/// user exists.
pub(super) async fn authenticate(
    state: &AppState,
    username: &str,
    password: &str,
) -> Result<(), String> {
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
