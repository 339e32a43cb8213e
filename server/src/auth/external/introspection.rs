//! Opaque tokens of a provider, checked by asking it (RFC 7662), answers cached briefly.

use super::claims::{ClaimRules, claim_has};
use super::{INTROSPECTIONS, LEEWAY_SECS, REQUEST_TIMEOUT};
use crate::auth::AuthError;
use lm_protocol::Principal;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How long answers of the introspection endpoint are reused.
#[derive(Debug, Clone, Copy)]
pub struct IntrospectionCache {
    /// An active token's answer is reused this long (never past the token's `exp`).
    pub positive: Duration,
    /// An inactive token's answer is reused this long.
    pub negative: Duration,
    /// Answers kept at most; past that, expired ones are dropped, then all.
    pub entries: usize,
}

impl Default for IntrospectionCache {
    fn default() -> Self {
        IntrospectionCache {
            positive: Duration::from_secs(30),
            negative: Duration::from_secs(10),
            entries: 100_000,
        }
    }
}

/// An introspection answer and until when it may be reused.
type Answer = (Instant, Result<Principal, AuthError>);

/// An external provider whose (opaque) tokens are checked by asking it (RFC 7662).
pub struct Introspector {
    url: String,
    client_id: String,
    client_secret: String,
    /// When set, the answer's `iss` must be this.
    issuer: Option<String>,
    audience: Option<String>,
    rules: ClaimRules,
    http: reqwest::Client,
    cache_policy: IntrospectionCache,
    /// Answers by the SHA-256 of the token (tokens themselves are not kept).
    cache: Mutex<HashMap<[u8; 32], Answer>>,
    /// Requests to the provider at once; more wait, so a flood queues here instead of there.
    in_flight: tokio::sync::Semaphore,
}

impl Introspector {
    pub fn new(
        url: &str,
        client_id: &str,
        client_secret: &str,
        issuer: Option<String>,
        audience: Option<String>,
        rules: ClaimRules,
        cache_policy: IntrospectionCache,
    ) -> Introspector {
        Introspector {
            url: url.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            issuer: issuer.map(|i| i.trim_end_matches('/').to_owned()),
            audience,
            rules,
            http: reqwest::Client::new(),
            cache_policy,
            cache: Mutex::new(HashMap::new()),
            in_flight: tokio::sync::Semaphore::new(16),
        }
    }

    fn cached(&self, key: &[u8; 32]) -> Option<Result<Principal, AuthError>> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(key)
            .filter(|(until, _)| *until > Instant::now())
            .map(|(_, answer)| answer.clone())
    }

    fn remember(&self, key: [u8; 32], answer: &Result<Principal, AuthError>, ttl: Duration) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= self.cache_policy.entries {
            let now = Instant::now();
            cache.retain(|_, (until, _)| *until > now);
            if cache.len() >= self.cache_policy.entries {
                cache.clear();
            }
        }
        cache.insert(key, (Instant::now() + ttl, answer.clone()));
    }

    /// Checks a token by introspection, or from the cache of recent answers.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        if token.is_empty()
            || token.len() > crate::auth::tokens::MAX_TOKEN_LEN
            || !token.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(AuthError::Malformed);
        }
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(answer) = self.cached(&key) {
            return answer;
        }
        let _permit = self
            .in_flight
            .acquire()
            .await
            .map_err(|_| AuthError::ProviderUnavailable)?;
        // Another request may have asked about the same token while this one waited.
        if let Some(answer) = self.cached(&key) {
            return answer;
        }
        let claims = self.ask(token).await?;
        let now = chrono::Utc::now().timestamp();
        let answer = self.judge(&claims, now);
        let ttl = match (&answer, claims.get("exp").and_then(Value::as_i64)) {
            (Ok(_), Some(exp)) => self
                .cache_policy
                .positive
                .min(Duration::from_secs(u64::try_from(exp - now).unwrap_or(0))),
            (Ok(_), None) => self.cache_policy.positive,
            (Err(_), _) => self.cache_policy.negative,
        };
        self.remember(key, &answer, ttl);
        answer
    }

    async fn ask(&self, token: &str) -> Result<Value, AuthError> {
        INTROSPECTIONS.fetch_add(1, Ordering::Relaxed);
        let response = self
            .http
            .post(&self.url)
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| {
                tracing::warn!(url = %self.url, error = %e, "cannot reach the introspection endpoint");
                AuthError::ProviderUnavailable
            })?;
        if !response.status().is_success() {
            tracing::warn!(url = %self.url, status = %response.status(), "the introspection endpoint refused this server; check --introspection-client");
            return Err(AuthError::ProviderUnavailable);
        }
        response.json().await.map_err(|e| {
            tracing::warn!(url = %self.url, error = %e, "the introspection endpoint answered no JSON");
            AuthError::ProviderUnavailable
        })
    }

    /// RFC 7662 §2.2: only `active` is required; check what else is there.
    fn judge(&self, claims: &Value, now: i64) -> Result<Principal, AuthError> {
        if claims.get("active").and_then(Value::as_bool) != Some(true) {
            return Err(AuthError::Inactive);
        }
        let leeway = LEEWAY_SECS as i64;
        if claims
            .get("exp")
            .and_then(Value::as_i64)
            .is_some_and(|exp| exp + leeway <= now)
        {
            return Err(AuthError::Expired);
        }
        if claims
            .get("nbf")
            .and_then(Value::as_i64)
            .is_some_and(|nbf| nbf - leeway > now)
        {
            return Err(AuthError::NotYetValid);
        }
        if let Some(issuer) = &self.issuer
            && claims
                .get("iss")
                .and_then(Value::as_str)
                .map(|i| i.trim_end_matches('/'))
                != Some(issuer.as_str())
        {
            return Err(AuthError::WrongIssuerOrAudience);
        }
        if let Some(audience) = &self.audience
            && !claim_has(claims.get("aud"), audience)
        {
            return Err(AuthError::WrongIssuerOrAudience);
        }
        self.rules.principal(claims)
    }
}
