//! Tokens of another OAuth 2.0 / OpenID Connect provider: JWTs verified locally against the
//! provider's JWK Set ([`ExternalIssuer`]), or opaque tokens checked by asking the provider
//! (RFC 7662 introspection, [`Introspector`]). Either way the provider's claims become a
//! [`Principal`] by the same [`ClaimRules`].
//!
//! One job per file: `claims` turns claims into a principal, `jwks` verifies JWTs, and
//! `introspection` asks about opaque tokens; here what they share — the provider's
//! discovery document, fetched with a timeout.

mod claims;
mod introspection;
mod jwks;
#[cfg(test)]
mod tests;

pub use claims::{ClaimRules, OrgRule};
pub use introspection::{IntrospectionCache, Introspector};
pub use jwks::ExternalIssuer;

use jsonwebtoken::Algorithm;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// JWK Set downloads, for `/metrics`: a flood of unknown `kid`s must not move this much.
pub static JWKS_FETCHES: AtomicU64 = AtomicU64::new(0);
/// Introspection requests sent to the provider, for `/metrics`.
pub static INTROSPECTIONS: AtomicU64 = AtomicU64::new(0);

/// Algorithms accepted from a provider: asymmetric only. `none` and the HMAC family are
/// refused before any key is looked at, so a public key can never be used as an HMAC secret.
const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

const LEEWAY_SECS: u64 = 30;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The parts of a provider's discovery document this server reads.
#[derive(Debug, serde::Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// Why a provider could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("cannot reach {url}: {source}")]
    Unreachable { url: String, source: reqwest::Error },
    #[error("{url} answered {status}")]
    Status { url: String, status: u16 },
    #[error("{url} is not a {what}: {why}")]
    Invalid {
        url: String,
        what: &'static str,
        why: String,
    },
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    what: &'static str,
) -> Result<T, ProviderError> {
    let response = http
        .get(url)
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|source| ProviderError::Unreachable {
            url: url.to_owned(),
            source,
        })?;
    if !response.status().is_success() {
        return Err(ProviderError::Status {
            url: url.to_owned(),
            status: response.status().as_u16(),
        });
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|source| ProviderError::Unreachable {
            url: url.to_owned(),
            source,
        })?;
    serde_json::from_slice(&bytes).map_err(|e| ProviderError::Invalid {
        url: url.to_owned(),
        what,
        why: e.to_string(),
    })
}
