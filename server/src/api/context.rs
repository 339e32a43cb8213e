//! Per-request context (request id, client address), the authenticated caller, the JSON body
//! extractor that names the offending field, and the middleware that ties them together.

use super::AppState;
use super::error::{ApiError, problem_response};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use lm_protocol::{Principal, Problem};
use serde::de::DeserializeOwned;
use std::net::SocketAddr;

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Identifies one request in logs, problems and audit entries.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub client_addr: Option<SocketAddr>,
}

fn acceptable_request_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    ok.then(|| s.to_owned())
}

/// Assigns the request id (keeping a sane one the client sent), records the client address,
/// stamps problems with the request id and echoes it in `x-request-id`.
pub async fn request_context(mut req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(acceptable_request_id)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let client_addr = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    req.extensions_mut().insert(RequestContext {
        request_id: request_id.clone(),
        client_addr,
    });
    let span = tracing::info_span!("request", id = %request_id, method = %req.method(), path = %req.uri().path());
    let mut response = tracing::Instrument::instrument(next.run(req), span.clone()).await;
    if let Some(problem) = response.extensions().get::<Problem>().cloned() {
        let headers = response.headers().clone();
        response = problem_response(Problem {
            request_id: Some(request_id.clone()),
            ..problem
        });
        for (name, value) in headers.iter() {
            if name != CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
                response.headers_mut().insert(name.clone(), value.clone());
            }
        }
    }
    let status = response.status();
    if status.is_server_error() {
        tracing::warn!(parent: &span, %status, "request failed");
    } else {
        tracing::debug!(parent: &span, %status, "request done");
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID.clone(), v);
    }
    response
}

/// The authenticated caller of a request, with the request's context.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub context: RequestContext,
    /// Authenticated with an API key rather than a login's token.
    pub via_api_key: bool,
}

impl Caller {
    pub fn require_manager(&self, action: &str) -> Result<(), ApiError> {
        if self.principal.role.is_manager() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "only managers may {action}; you are signed in as an employee"
            )))
        }
    }

    pub fn change_context(&self) -> crate::store::ChangeContext {
        crate::store::ChangeContext {
            org: self.principal.org.clone(),
            actor: self.principal.subject.clone(),
            request_id: Some(self.context.request_id.clone()),
            client_addr: self.context.client_addr.map(|a| a.ip().to_string()),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let context = parts
            .extensions
            .get::<RequestContext>()
            .cloned()
            .unwrap_or(RequestContext {
                request_id: uuid::Uuid::now_v7().to_string(),
                client_addr: None,
            });
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or(crate::auth::AuthError::Missing)?;
        let principal = state.authenticator.verify(token).await.inspect_err(|e| {
            tracing::debug!(reason = e.reason(), "token refused");
        })?;
        if !state.authenticator.is_built_in() {
            state.seen_members.note(&state.store, &principal).await;
        }
        Ok(Caller {
            via_api_key: token.starts_with(lm_protocol::api_key::PREFIX),
            principal,
            context,
        })
    }
}

/// A caller who is a manager. As an extractor it rejects everyone else with 403 before the
/// request body is read.
#[derive(Debug, Clone)]
pub struct Manager(pub Caller);

impl FromRequestParts<AppState> for Manager {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.require_manager("change the license inventory")?;
        Ok(Manager(caller))
    }
}

/// A JSON request body. Errors name the field (`cost.currency`) and the rule it broke.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                let m = m.trim();
                m.eq_ignore_ascii_case("application/json") || m.ends_with("+json")
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType("application/json"));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::field("body", rejection.body_text())
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses a JSON object, reporting the path of the offending value. Every body of the API is
/// an object; serde would also read a struct from an array of its fields (`[null, null]`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        return Err(ApiError::field("body", "must be a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let mut message = inner.to_string();
        if let Some(at) = message.find(" at line ") {
            message.truncate(at);
        }
        // A missing field is reported at its parent; name the field itself.
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned);
        let field = match (path.as_str(), missing) {
            (".", Some(name)) => name,
            (parent, Some(name)) => format!("{parent}.{name}"),
            (".", None) if inner.is_syntax() || inner.is_eof() => "body".to_owned(),
            (".", None) => "body".to_owned(),
            (p, None) => p.to_owned(),
        };
        ApiError::field(&field, message)
    })
}

/// Parses `If-Match: "3"` (also `W/"3"` and a bare `3`) into a version.
pub fn if_match(parts: &axum::http::HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(raw) = parts.get(axum::http::header::IF_MATCH) else {
        return Ok(None);
    };
    let text = raw.to_str().unwrap_or("").trim();
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    text.parse::<i64>().map(Some).map_err(|_| {
        ApiError::field(
            "If-Match",
            "must be the license's version in quotes, e.g. \"3\"",
        )
    })
}

/// `ETag: "<version>"`.
pub fn etag(version: i64) -> (axum::http::HeaderName, String) {
    (axum::http::header::ETAG, format!("\"{version}\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lm_protocol::hierarchy::{NewProduct, NewPurchase, ProductPatch};
    use lm_protocol::{LicensePatch, NewApiKey, NewLicense};
    use proptest::strategy::Strategy;

    fn refused_by_name<T: DeserializeOwned>(bytes: &[u8]) -> Result<(), String> {
        match parse_json::<T>(bytes) {
            Ok(_) => Ok(()),
            Err(ApiError::Validation(e)) if !e.field.is_empty() && !e.message.is_empty() => Ok(()),
            Err(other) => Err(format!("{other:?}")),
        }
    }

    proptest::proptest! {
        /// Any body — bytes of any kind, or JSON objects of the real field names with values
        /// of every type — reads as the body or a 422 that names a field, never a panic.
        #[test]
        fn any_body_reads_or_is_refused_naming_a_field(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            for check in [refused_by_name::<NewLicense>, refused_by_name::<LicensePatch>,
                          refused_by_name::<NewPurchase>, refused_by_name::<NewProduct>,
                          refused_by_name::<ProductPatch>, refused_by_name::<NewApiKey>] {
                proptest::prop_assert!(check(&bytes).is_ok(), "{:?}", check(&bytes));
            }
        }

        #[test]
        fn any_object_of_license_fields_reads_or_is_refused_naming_a_field(
            fields in proptest::collection::btree_map(
                proptest::sample::select(vec!["product", "name", "kind", "vendor", "cost", "seats", "added",
                    "expires", "owner", "key", "notes", "assignments", "amount", "currency"]),
                proptest::prop_oneof![
                    proptest::strategy::Just(serde_json::Value::Null),
                    proptest::prelude::any::<i64>().prop_map(serde_json::Value::from),
                    "[ -~]{0,12}".prop_map(serde_json::Value::from),
                    proptest::strategy::Just(serde_json::json!({"amount": 1, "currency": "EUR"})),
                    proptest::strategy::Just(serde_json::json!([{"employee": "a"}, {"device": ""}])),
                ],
                0..8,
            )
        ) {
            let body = serde_json::to_vec(&fields).unwrap();
            proptest::prop_assert!(refused_by_name::<NewLicense>(&body).is_ok());
            proptest::prop_assert!(refused_by_name::<LicensePatch>(&body).is_ok());
        }
    }
}
