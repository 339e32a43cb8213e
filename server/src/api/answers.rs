//! What every answer carries, whichever handler (or none) made it: axum's plain-text
//! rejections (an unknown route, a wrong method, a body over the limit) become problems —
//! or RFC 6749 errors on the OAuth endpoints, which OAuth libraries parse — and answers of
//! the API, which can hold product keys, are never stored by a cache.

use super::error::{ApiError, problem_response};
use axum::Json;
use axum::extract::Request;
use axum::http::header::{ALLOW, CACHE_CONTROL, PRAGMA};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lm_protocol::Problem;

/// The OAuth endpoints that answer JSON errors of RFC 6749 §5.2 rather than problems.
const OAUTH_JSON: [&str; 5] = [
    "/oauth2/token",
    "/oauth2/revoke",
    "/oauth2/introspect",
    "/oauth2/device_authorization",
    "/oauth2/userinfo",
];

pub async fn policy(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let mut response = next.run(req).await;
    let status = response.status();
    let plain = response.extensions().get::<Problem>().is_none()
        && matches!(
            status,
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED | StatusCode::PAYLOAD_TOO_LARGE
        );
    if plain {
        response = if OAUTH_JSON.contains(&path.as_str()) {
            oauth_error(status, &response)
        } else {
            problem(status, &response)
        };
    }
    let api = path.starts_with("/v1/") || path.starts_with("/hierarchy/");
    if api && !response.headers().contains_key(CACHE_CONTROL) {
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

fn problem(status: StatusCode, plain: &Response) -> Response {
    let problem = match status {
        StatusCode::NOT_FOUND => ApiError::NotFound.problem(),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge.problem(),
        _ => Problem {
            kind: lm_protocol::problem::kinds::VALIDATION.into(),
            title: "Method not allowed".into(),
            status: status.as_u16(),
            detail: "this route does not accept that method".into(),
            field: None,
            request_id: None,
        },
    };
    let mut out = problem_response(problem);
    if let Some(allow) = plain.headers().get(ALLOW) {
        out.headers_mut().insert(ALLOW, allow.clone());
    }
    out
}

fn oauth_error(status: StatusCode, plain: &Response) -> Response {
    let description = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is too large",
        StatusCode::METHOD_NOT_ALLOWED => "this endpoint does not accept that method",
        _ => "no such endpoint",
    };
    let body = serde_json::json!({"error": "invalid_request", "error_description": description});
    let mut out = (
        status,
        [(CACHE_CONTROL, "no-store"), (PRAGMA, "no-cache")],
        Json(body),
    )
        .into_response();
    if let Some(allow) = plain.headers().get(ALLOW) {
        out.headers_mut().insert(ALLOW, allow.clone());
    }
    out
}
