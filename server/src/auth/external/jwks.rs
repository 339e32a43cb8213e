//! JWTs of a provider, verified locally against its JWK Set (fetched, cached, refetched).

use super::claims::ClaimRules;
use super::{ASYMMETRIC, Discovery, JWKS_FETCHES, LEEWAY_SECS, ProviderError, get_json};
use crate::auth::AuthError;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use lm_protocol::Principal;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// A verification key of the provider, with the algorithm family it may verify.
struct ProviderKey {
    key: DecodingKey,
    /// The JWK's `alg` when it names one; a token must then use exactly that.
    alg: Option<Algorithm>,
}

/// The keys of the provider, and when they were last fetched.
#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, ProviderKey>,
    fetched_at: Option<Instant>,
}

/// An external provider whose JWT access tokens are verified locally.
pub struct ExternalIssuer {
    issuer: String,
    audience: Option<String>,
    rules: ClaimRules,
    http: reqwest::Client,
    /// The least time between two JWK Set downloads: unknown `kid`s in a flood trigger at
    /// most one download per interval.
    refetch_interval: Duration,
    jwks_uri: RwLock<Option<String>>,
    keys: RwLock<KeyCache>,
    /// Held while fetching, so concurrent requests with an unknown `kid` wait for one download
    /// instead of starting their own.
    fetching: tokio::sync::Mutex<()>,
}

impl ExternalIssuer {
    pub fn new(
        issuer: &str,
        audience: Option<String>,
        rules: ClaimRules,
        refetch_interval: Duration,
    ) -> ExternalIssuer {
        ExternalIssuer {
            issuer: issuer.trim_end_matches('/').to_owned(),
            audience,
            rules,
            http: reqwest::Client::new(),
            refetch_interval,
            jwks_uri: RwLock::new(None),
            keys: RwLock::default(),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Replaces the known keys with a JWK Set, as if it had just been fetched.
    pub(super) fn use_keys(&self, set: &JwkSet) -> usize {
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            let alg = jwk
                .common
                .key_algorithm
                .and_then(|a| a.to_string().parse::<Algorithm>().ok());
            match DecodingKey::from_jwk(jwk) {
                Ok(key) => {
                    keys.insert(kid, ProviderKey { key, alg });
                }
                Err(e) => {
                    tracing::debug!(%kid, error = %e, "skipping a provider key this server cannot use");
                }
            }
        }
        let count = keys.len();
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = KeyCache {
            keys,
            fetched_at: Some(Instant::now()),
        };
        count
    }

    /// Reads the discovery document (once) and downloads the JWK Set.
    pub async fn fetch_keys(&self) -> Result<usize, ProviderError> {
        let known_uri = self
            .jwks_uri
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let jwks_uri = match known_uri {
            Some(uri) => uri,
            None => {
                let url = format!("{}/.well-known/openid-configuration", self.issuer);
                let discovery: Discovery = get_json(&self.http, &url, "discovery document").await?;
                // OpenID Connect Discovery §4.3: the issuer in the document must be the one asked.
                if discovery.issuer.trim_end_matches('/') != self.issuer {
                    return Err(ProviderError::Invalid {
                        url,
                        what: "discovery document of this issuer",
                        why: format!("it names the issuer `{}`", discovery.issuer),
                    });
                }
                *self.jwks_uri.write().unwrap_or_else(|p| p.into_inner()) =
                    Some(discovery.jwks_uri.clone());
                discovery.jwks_uri
            }
        };
        JWKS_FETCHES.fetch_add(1, Ordering::Relaxed);
        let set: JwkSet = get_json(&self.http, &jwks_uri, "JWK Set").await?;
        let count = self.use_keys(&set);
        tracing::info!(issuer = %self.issuer, keys = count, "fetched the provider's keys");
        Ok(count)
    }

    /// Downloads the keys again unless that happened less than `refetch_interval` ago.
    async fn refetch(&self) {
        let _one_at_a_time = self.fetching.lock().await;
        let recent = self
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .fetched_at
            .is_some_and(|at| at.elapsed() < self.refetch_interval);
        if recent {
            return;
        }
        if let Err(e) = self.fetch_keys().await {
            tracing::warn!(error = %e, "cannot fetch the provider's keys");
            // Count the failure as a fetch, or an unreachable provider would be asked again by
            // every request.
            self.keys
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .fetched_at = Some(Instant::now());
        }
    }

    fn with_key<T>(&self, kid: &str, f: impl FnOnce(&ProviderKey) -> T) -> Option<T> {
        self.keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys
            .get(kid)
            .map(f)
    }

    /// Verifies a JWT of the provider: shape, an asymmetric algorithm, a known `kid` (after at
    /// most one rate-limited refetch), signature, issuer, audience, expiry, not-before; then
    /// maps its claims.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        crate::auth::tokens::check_shape(token)?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Algorithm)?;
        if !ASYMMETRIC.contains(&header.alg) {
            return Err(AuthError::Algorithm);
        }
        let kid = header.kid.ok_or(AuthError::UnknownKey)?;
        if self.with_key(&kid, |_| ()).is_none() {
            self.refetch().await;
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer, &format!("{}/", self.issuer)]);
        match &self.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&["exp", "iss"]);
        let claims = self
            .with_key(&kid, |key| {
                if key.alg.is_some_and(|alg| alg != header.alg) {
                    return Err(AuthError::Algorithm);
                }
                crate::auth::SIGNATURES_VERIFIED.fetch_add(1, Ordering::Relaxed);
                jsonwebtoken::decode::<Value>(token, &key.key, &validation)
                    .map(|data| data.claims)
                    .map_err(crate::auth::tokens::auth_error)
            })
            .ok_or(AuthError::UnknownKey)??;
        self.rules.principal(&claims)
    }
}
