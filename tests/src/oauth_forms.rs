//! The built-in authorization server's forms as a terminal and a person use them: any form
//! post (with client credentials or without), and the device login's steps — start, the
//! person's decision in the browser, the terminal's polling — and a refresh.

use crate::{Backend, PASSWORD, Server};
use serde_json::Value;

/// A server to sign in to: no rate limit, device polling every second, and a manager `alice`
/// of `acme` with [`PASSWORD`]. `reachable` when a browser or another process must reach it
/// at its public address (see [`Server::start_reachable`]).
pub async fn sign_in_server(backend: Backend, extra: &[&str], reachable: bool) -> Server {
    let mut args = vec!["--rate-limit", "0", "--device-poll-interval", "1s"];
    args.extend_from_slice(extra);
    let server = if reachable {
        Server::start_reachable(backend, &args).await
    } else {
        Server::start_with(backend, &args).await
    };
    server
        .admin(&["user", "add", "alice", "--role", "manager", "--org", "acme"])
        .expect("user add");
    server.give_password("alice");
    server
}

/// POSTs a form to `path`, with Basic client credentials when given; answers the status, the
/// body as JSON (or null) and the body's text.
pub async fn post_form_as(
    server: &Server,
    path: &str,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, Value, String) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", server.url))
        .form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    )
}

/// POSTs a form to `path` without client credentials.
pub async fn post_form(server: &Server, path: &str, form: &[(&str, &str)]) -> (u16, Value, String) {
    post_form_as(server, path, None, form).await
}

/// The path of a one-time link (`<public url>/invite/<code>`): `/invite/<code>`.
pub fn link_path(link: &str) -> String {
    link[link.find("/invite/").expect("an /invite/ link")..].to_owned()
}

/// Posts a one-time link's form as a script would (no browser headers, which the page
/// admits): `password`, typed again as `again`. The status and the page.
pub async fn accept_link(
    server: &Server,
    path: &str,
    password: &str,
    again: &str,
) -> (u16, String) {
    let (status, _, page) =
        post_form(server, path, &[("password", password), ("again", again)]).await;
    (status, page)
}

/// Starts a device login for the public client `lm`: the device and user codes.
pub async fn start_device_login(server: &Server) -> Value {
    let (status, body, text) = post_form(
        server,
        "/oauth2/device_authorization",
        &[
            ("client_id", "lm"),
            ("scope", "openid offline_access licenses"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{text}");
    body
}

/// What the terminal does meanwhile: asks for the tokens of `device_code`.
pub async fn poll(server: &Server, device_code: &str) -> (u16, Value) {
    let (status, body, _) = post_form(
        server,
        "/oauth2/token",
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code),
            ("client_id", "lm"),
        ],
    )
    .await;
    (status, body)
}

/// What the person does in the browser: submit the approval form (`approve` or `deny`).
pub async fn decide(
    server: &Server,
    user_code: &str,
    user: &str,
    password: &str,
    action: &str,
) -> (u16, String) {
    let (status, _, html) = post_form(
        server,
        "/device",
        &[
            ("user_code", user_code),
            ("username", user),
            ("password", password),
            ("action", action),
        ],
    )
    .await;
    (status, html)
}

/// Trades a refresh token of the client `lm` for new tokens.
pub async fn refresh(server: &Server, token: &str) -> (u16, Value) {
    let (status, body, _) = post_form(
        server,
        "/oauth2/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", "lm"),
        ],
    )
    .await;
    (status, body)
}

/// Logs `user` (who has [`PASSWORD`]) in through the device flow; answers the token response.
pub async fn log_in(server: &Server, user: &str) -> Value {
    let device = start_device_login(server).await;
    let (status, html) = decide(
        server,
        device["user_code"].as_str().unwrap(),
        user,
        PASSWORD,
        "approve",
    )
    .await;
    assert_eq!(status, 200, "{html}");
    let (status, tokens) = poll(server, device["device_code"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}
