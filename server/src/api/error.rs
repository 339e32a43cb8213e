//! Every failure of the API as an RFC 9457 problem. Handlers return `Result<_, ApiError>`;
//! the request-context middleware adds the request id to the body on the way out.

use crate::auth::AuthError;
use crate::store::StoreError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lm_protocol::problem::kinds;
use lm_protocol::{FieldError, Problem};

#[derive(Debug)]
pub enum ApiError {
    Validation(FieldError),
    Unauthenticated(AuthError),
    Forbidden(String),
    NotFound,
    Gone(String),
    Conflict(String),
    NoFreeSeat {
        seats: u32,
        used: u32,
    },
    StaleVersion {
        current: i64,
    },
    PreconditionRequired,
    /// The body is not of the media type the route takes (named here).
    UnsupportedMediaType(&'static str),
    PayloadTooLarge,
    RateLimited {
        retry_after_secs: u64,
    },
    Timeout,
    Unavailable(String),
    /// A remote Hierarchy Provider failed.
    HierarchyProvider(crate::hierarchy_providers::ProviderError),
    Internal,
}

impl ApiError {
    pub fn field(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::Validation(FieldError::new(field, message))
    }

    pub fn problem(&self) -> Problem {
        let (status, kind, title, detail, field) = match self {
            ApiError::Validation(e) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                kinds::VALIDATION,
                "Invalid input",
                format!("{}: {}", e.field, e.message),
                Some(e.field.clone()),
            ),
            ApiError::Unauthenticated(AuthError::NoRole) => (
                StatusCode::FORBIDDEN,
                kinds::FORBIDDEN,
                "Forbidden",
                "your identity provider grants you no role in lm; ask for the employee or manager role".into(),
                None,
            ),
            ApiError::Unauthenticated(AuthError::ProviderUnavailable) => (
                StatusCode::SERVICE_UNAVAILABLE,
                kinds::UNAVAILABLE,
                "Identity provider unavailable",
                "the identity provider cannot be reached to check your token; retry shortly".into(),
                None,
            ),
            ApiError::Unauthenticated(e) => {
                (StatusCode::UNAUTHORIZED, kinds::UNAUTHENTICATED, "Unauthenticated", e.to_string(), None)
            }
            ApiError::Forbidden(why) => (StatusCode::FORBIDDEN, kinds::FORBIDDEN, "Forbidden", why.clone(), None),
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                kinds::NOT_FOUND,
                "Not found",
                "no such record in your organization".into(),
                None,
            ),
            ApiError::Gone(why) => (StatusCode::GONE, kinds::FEED_EXPIRED, "Gone", why.clone(), Some("after".into())),
            ApiError::Conflict(why) => (StatusCode::CONFLICT, kinds::CONFLICT, "Conflict", why.clone(), None),
            ApiError::NoFreeSeat { seats, used } => (
                StatusCode::CONFLICT,
                kinds::NO_FREE_SEAT,
                "No free seat",
                format!(
                    "no free seat: {} of {seats} seats are free ({used} in use); raise `seats` or unassign someone first",
                    seats.saturating_sub(*used)
                ),
                Some("seats".into()),
            ),
            ApiError::StaleVersion { current } => (
                StatusCode::PRECONDITION_FAILED,
                kinds::STALE_VERSION,
                "Stale version",
                format!(
                    "someone else changed this license: it is now at version {current}; reload it and apply your change again"
                ),
                Some("If-Match".into()),
            ),
            ApiError::PreconditionRequired => (
                StatusCode::PRECONDITION_REQUIRED,
                kinds::PRECONDITION_REQUIRED,
                "Precondition required",
                "send If-Match: \"<version>\" with the version you are changing".into(),
                Some("If-Match".into()),
            ),
            ApiError::UnsupportedMediaType(expected) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                kinds::VALIDATION,
                "Unsupported media type",
                format!("send the body as Content-Type: {expected}"),
                Some("Content-Type".into()),
            ),
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                kinds::PAYLOAD_TOO_LARGE,
                "Payload too large",
                "the request body is larger than this server accepts".into(),
                None,
            ),
            ApiError::RateLimited { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                kinds::RATE_LIMITED,
                "Too many requests",
                format!("slow down: retry after {retry_after_secs} s"),
                None,
            ),
            ApiError::Timeout => (
                StatusCode::SERVICE_UNAVAILABLE,
                kinds::TIMEOUT,
                "Timeout",
                "the request took too long and was abandoned; nothing was changed unless it committed".into(),
                None,
            ),
            ApiError::Unavailable(why) => {
                (StatusCode::SERVICE_UNAVAILABLE, kinds::UNAVAILABLE, "Unavailable", why.clone(), None)
            }
            ApiError::HierarchyProvider(e) => (
                StatusCode::BAD_GATEWAY,
                kinds::HIERARCHY_PROVIDER,
                "Hierarchy Provider failed",
                format!("{e}; nothing was changed, retry later"),
                None,
            ),
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                kinds::INTERNAL,
                "Internal error",
                "the server failed; the error is logged with this request id".into(),
                None,
            ),
        };
        Problem {
            kind: kind.into(),
            title: title.into(),
            status: status.as_u16(),
            detail,
            field,
            request_id: None,
        }
    }
}

impl From<crate::hierarchy_providers::ProviderError> for ApiError {
    fn from(e: crate::hierarchy_providers::ProviderError) -> Self {
        tracing::warn!(error = %e, "Hierarchy Provider failed");
        ApiError::HierarchyProvider(e)
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::Validation(e)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        ApiError::Unauthenticated(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::StaleVersion { current } => ApiError::StaleVersion { current },
            StoreError::Conflict(why) => ApiError::Conflict(why),
            StoreError::FeedExpired {
                after,
                purged_through,
            } => ApiError::Gone(format!(
                "revision {after} is older than the retained history (removals up to revision {purged_through} \
                 were purged): resync from 0"
            )),
            StoreError::NoFreeSeat { seats, used } => ApiError::NoFreeSeat { seats, used },
            StoreError::Invalid(field) => ApiError::Validation(field),
            StoreError::Db(sqlx::Error::PoolTimedOut) => {
                tracing::warn!("database pool exhausted");
                ApiError::Unavailable("the database is busy; retry shortly".into())
            }
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::Internal
            }
        }
    }
}

/// Renders a problem as `application/problem+json`.
pub fn problem_response(problem: Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response.extensions_mut().insert(problem);
    response
}

impl ApiError {
    /// Why the request was turned away before doing its work, for `/metrics`; `None` for
    /// outcomes of work done (not found, conflicts, failures).
    fn rejection(&self) -> Option<&'static str> {
        Some(match self {
            ApiError::Validation(_) => "invalid_field",
            ApiError::Unauthenticated(e) => e.rejection(),
            ApiError::Forbidden(_) => "forbidden",
            ApiError::PreconditionRequired => "precondition_required",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::PayloadTooLarge => "body_too_large",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Timeout => "timeout",
            _ => return None,
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = problem_response(self.problem());
        if let Some(reason) = self.rejection() {
            response
                .extensions_mut()
                .insert(super::metrics::Rejection(reason));
        }
        match self {
            ApiError::Unauthenticated(e)
                if !matches!(e, AuthError::NoRole | AuthError::ProviderUnavailable) =>
            {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"lm\", error=\"invalid_token\""),
                );
            }
            ApiError::RateLimited { retry_after_secs } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            _ => {}
        }
        response
    }
}
