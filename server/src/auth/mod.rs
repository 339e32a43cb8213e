//! Authentication: the server's own signing keys and the verification of bearer tokens.
//!
//! Tokens are JWTs signed with Ed25519 (`alg: EdDSA`). Verification accepts exactly that
//! algorithm, requires a `kid` the server knows, and checks issuer, audience, expiry and
//! not-before; everything else — `alg: none`, HMAC with the public key, a tampered payload,
//! a key the server never had — is a 401.

//!
//! Which tokens count is the [`Authenticator`]'s choice: the built-in issuer's (the default),
//! or another provider's, verified locally by its JWK Set or remotely by introspection.

pub mod external;
pub mod key_secret;
pub(crate) mod keys;
mod tokens;

pub use external::{ClaimRules, ExternalIssuer, IntrospectionCache, Introspector, OrgRule};
pub use key_secret::KeySecret;
pub use keys::{KeyRing, SigningKey};
pub use tokens::{AuthError, Claims, SIGNATURES_VERIFIED, TokenService};

use lm_protocol::Principal;
use std::sync::Arc;

/// Decides who presents a bearer token.
#[derive(Clone)]
pub enum Authenticator {
    /// Tokens of lm-server's own authorization server.
    BuiltIn(TokenService),
    /// JWTs of another provider, verified with its published keys.
    External(Arc<ExternalIssuer>),
    /// Opaque tokens of another provider, checked by introspection.
    Introspection(Arc<Introspector>),
}

impl Authenticator {
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        match self {
            Authenticator::BuiltIn(tokens) if token.starts_with(lm_protocol::api_key::PREFIX) => {
                tokens.verify_api_key(token)
            }
            Authenticator::BuiltIn(tokens) => tokens.verify(token).await,
            Authenticator::External(issuer) => issuer.verify(token).await,
            Authenticator::Introspection(introspector) => introspector.verify(token).await,
        }
    }

    /// Whether lm-server's own authorization server is the one people log in with.
    pub fn is_built_in(&self) -> bool {
        matches!(self, Authenticator::BuiltIn(_))
    }
}
