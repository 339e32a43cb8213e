//! The HTTP surface: routes, and the layers every request passes through, outermost first:
//! request context → metrics → rate limit → deadline → body limit → handler (which authenticates
//! before it reads the body or touches the database).

mod answers;
mod api_keys;
mod audit;
mod changes;
pub mod context;
mod contract;
pub mod error;
mod events;
mod health;
mod hierarchy;
mod import_turns;
mod invitations;
mod licenses;
pub mod limits;
mod me;
mod members;
pub mod metrics;
pub mod oauth;
pub mod openapi;
mod org;
mod params;
pub mod seats;
mod second_factor;
pub mod seen_members;
mod service_accounts;
mod spreadsheets;

use crate::auth::{Authenticator, TokenService};
use crate::store::Store;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use axum::{Router, middleware};
use limits::RateLimiter;
use std::time::Duration;

/// Everything a handler may use.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// The built-in issuer's keys: what it signs with, and (in the default mode) verifies.
    pub tokens: TokenService,
    /// Who decides which bearer tokens count.
    pub authenticator: Authenticator,
    /// Becomes `true` when the server shuts down; long-lived responses (event streams) end.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    pub metrics: metrics::Metrics,
    pub authorization: oauth::AuthorizationServer,
    pub seats: seats::SeatSettings,
    /// The members an external identity provider's tokens brought (unused with the built-in
    /// one).
    pub seen_members: seen_members::SeenMembers,
}

/// Limits applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub body_bytes: usize,
    pub request_timeout: Duration,
    /// Requests per second per client address; `None` disables the limit.
    pub rate_per_second: Option<u32>,
    pub rate_burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            rate_per_second: Some(50),
            rate_burst: 100,
        }
    }
}

pub fn app(state: AppState, limits: Limits) -> Router {
    let limiter = limits
        .rate_per_second
        .map(|rate| RateLimiter::new(rate, limits.rate_burst));
    // With an external identity provider, people log in there: the built-in authorization
    // server's endpoints do not exist, so nothing can be phished or brute-forced here.
    let authorization = if state.authenticator.is_built_in() {
        Router::new()
            .route("/.well-known/openid-configuration", get(oauth::discovery))
            .route("/.well-known/jwks.json", get(oauth::jwks))
            .route(
                "/oauth2/device_authorization",
                post(oauth::device_authorization),
            )
            .route(
                "/oauth2/authorize",
                get(oauth::authorize_page).post(oauth::authorize_decide),
            )
            .route("/oauth2/token", post(oauth::token))
            .route("/oauth2/revoke", post(oauth::revoke))
            .route("/oauth2/introspect", post(oauth::introspect))
            .route(
                "/oauth2/userinfo",
                get(oauth::userinfo).post(oauth::userinfo),
            )
            .route(
                "/device",
                get(oauth::device_page).post(oauth::device_decide),
            )
            .route(
                "/invite/{code}",
                get(oauth::invite_page).post(oauth::invite_accept),
            )
            .route(
                "/account/second-factor",
                get(oauth::second_factor_page).post(oauth::second_factor_post),
            )
    } else {
        Router::new()
    };
    Router::new()
        .route("/health", get(health::health))
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/metrics", get(metrics::metrics))
        .merge(authorization)
        .route("/v1/licenses", get(licenses::list).post(licenses::create))
        .route(
            "/v1/licenses/{id}",
            get(licenses::get)
                .patch(licenses::update)
                .delete(licenses::remove),
        )
        .route("/v1/licenses/export.csv", get(spreadsheets::export))
        .route(
            "/v1/licenses/import",
            post(spreadsheets::import).layer(DefaultBodyLimit::max(spreadsheets::MAX_IMPORT_BYTES)),
        )
        .route("/v1/licenses/{id}/restore", post(licenses::restore))
        .route("/v1/licenses/{id}/assignments", post(licenses::assign))
        .route(
            "/v1/licenses/{id}/assignments/{assignment}",
            delete(licenses::unassign),
        )
        .route("/v1/licenses/{id}/seats", get(licenses::seats))
        .route(
            "/v1/licenses/{id}/seats/{assignment}",
            delete(licenses::release_seat),
        )
        .route("/hierarchy/levels", get(hierarchy::levels))
        .route(
            "/hierarchy/users/{eid}/membership",
            get(hierarchy::membership),
        )
        .route(
            "/v1/hierarchy/levels",
            put(hierarchy::set_levels).get(hierarchy::levels_v1),
        )
        .route("/v1/hierarchy/entities", get(hierarchy::entities))
        .route(
            "/v1/hierarchy/import",
            post(hierarchy::import).layer(DefaultBodyLimit::max(spreadsheets::MAX_IMPORT_BYTES)),
        )
        .route(
            "/v1/hierarchy/entities/{type}/{eid}",
            put(hierarchy::put_entity).delete(hierarchy::delete_entity),
        )
        .route(
            "/v1/hierarchy/entities/{type}/{eid}/parents/{parent_type}/{parent_eid}",
            put(hierarchy::add_parent).delete(hierarchy::remove_parent),
        )
        .route(
            "/v1/products",
            get(seats::list_products).post(seats::create_product),
        )
        .route(
            "/v1/products/{eid}",
            axum::routing::patch(seats::update_product),
        )
        .route("/v1/users/{eid}/purchases", post(seats::purchase))
        .route("/v1/users/{eid}/permissions", get(seats::permissions))
        .route("/v1/grant-keys", get(seats::grant_keys))
        .route("/v1/me", get(me::me))
        .route("/v1/me/logins", get(me::logins))
        .route("/v1/me/logins/{id}", delete(me::end_login))
        .route("/v1/me/password", post(me::change_password))
        .route("/v1/me/second-factor/new", post(second_factor::offer))
        .route(
            "/v1/me/second-factor",
            put(second_factor::set_up).delete(second_factor::remove),
        )
        .route("/v1/org", get(org::get).patch(org::update))
        .route("/v1/members", get(members::list))
        .route(
            "/v1/members/{name}",
            get(members::get).patch(members::update),
        )
        .route("/v1/members/{name}/offboard", post(members::offboard))
        .route(
            "/v1/members/{name}/password-reset",
            post(invitations::password_reset),
        )
        .route(
            "/v1/invitations",
            get(invitations::list).post(invitations::create),
        )
        .route("/v1/invitations/{id}", delete(invitations::revoke))
        .route(
            "/v1/oauth-clients",
            get(service_accounts::list).post(service_accounts::create),
        )
        .route(
            "/v1/oauth-clients/{id}",
            get(service_accounts::get)
                .patch(service_accounts::update)
                .delete(service_accounts::remove),
        )
        .route(
            "/v1/oauth-clients/{id}/secret",
            post(service_accounts::rotate_secret),
        )
        .route("/v1/invitations/{id}/resend", post(invitations::resend))
        .route("/v1/api-keys", get(api_keys::list).post(api_keys::create))
        .route("/v1/api-keys/{id}", delete(api_keys::revoke))
        .route("/v1/audit", get(audit::list))
        .route("/v1/changes", get(changes::list))
        .route("/v1/events", get(events::stream))
        .layer(DefaultBodyLimit::max(limits.body_bytes))
        .layer(middleware::from_fn(answers::policy))
        .layer(middleware::from_fn_with_state(
            limits.request_timeout,
            limits::deadline,
        ))
        .layer(middleware::from_fn_with_state(limiter, limits::rate_limit))
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::count,
        ))
        .layer(middleware::from_fn(context::request_context))
        .with_state(state)
}
