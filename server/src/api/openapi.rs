//! `GET /openapi.json`: the contract, generated from the handlers and the protocol types.

use super::contract::Contract;
use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "lm-server", description = "The License Manager's REST API. Errors are application/problem+json (RFC 9457)."),
    paths(
        super::health::health,
        super::me::me, super::me::logins, super::me::end_login, super::me::change_password,
        super::second_factor::offer, super::second_factor::set_up, super::second_factor::remove,
        super::members::list, super::members::get, super::members::update,
        super::members::offboard, super::invitations::password_reset, super::invitations::create,
        super::invitations::list, super::invitations::resend, super::invitations::revoke,
        super::service_accounts::list, super::service_accounts::get, super::service_accounts::create,
        super::service_accounts::rotate_secret, super::service_accounts::remove,
        super::service_accounts::update,
        super::org::get, super::org::update, super::api_keys::create, super::api_keys::list, super::api_keys::revoke,
        super::licenses::list, super::licenses::get, super::licenses::create, super::licenses::update,
        super::licenses::remove, super::licenses::restore, super::licenses::assign, super::licenses::unassign,
        super::audit::list,
        super::changes::list,
        super::events::stream,
        super::spreadsheets::export, super::spreadsheets::import,
        super::licenses::seats, super::licenses::release_seat,
        super::hierarchy::levels, super::hierarchy::levels_v1, super::hierarchy::membership, super::hierarchy::set_levels,
        super::hierarchy::entities, super::hierarchy::put_entity, super::hierarchy::delete_entity,
        super::hierarchy::add_parent, super::hierarchy::remove_parent, super::hierarchy::import,
        super::seats::list_products, super::seats::create_product, super::seats::update_product,
        super::seats::purchase, super::seats::permissions, super::seats::grant_keys,
    ),
    modifiers(&BearerAuth, &Contract),
)]
pub struct ApiDoc;

/// The whole contract.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}
