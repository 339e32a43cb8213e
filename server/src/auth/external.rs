//! Tokens of another OAuth 2.0 / OpenID Connect provider: JWTs verified locally against the
//! provider's JWK Set ([`ExternalIssuer`]), or opaque tokens checked by asking the provider
//! (RFC 7662 introspection, [`Introspector`]). Either way the provider's claims become a
//! [`Principal`] by the same [`ClaimRules`].

use super::AuthError;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use lm_protocol::{Principal, Role};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

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

/// Where a principal's organization comes from.
#[derive(Debug, Clone)]
pub enum OrgRule {
    /// A claim, by dotted path (`org`, `tenant.id`).
    Claim(String),
    /// One organization for every token of the provider.
    Fixed(String),
}

/// How a provider's claims map to an lm principal.
#[derive(Debug, Clone)]
pub struct ClaimRules {
    /// Dotted path of the claim that carries roles (`realm_access.roles`, `groups`, `role`).
    pub role_claim: Option<String>,
    /// The value of the role claim (or one of its values, when it is a list) that makes a manager.
    pub manager_value: Option<String>,
    /// When set, only tokens whose role claim has this value (or the manager value) are let in
    /// as employees; everyone else is refused. When unset, everyone else is an employee.
    pub employee_value: Option<String>,
    pub org: OrgRule,
}

/// The value at a dotted path of a JSON object.
fn claim_at<'a>(claims: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(claims, |value, key| value.as_object()?.get(key))
}

/// Whether a claim is `wanted`, or is a list holding it, or a space-separated string holding it
/// (as `scope` is).
fn claim_has(claim: Option<&Value>, wanted: &str) -> bool {
    match claim {
        Some(Value::String(s)) => s == wanted || s.split(' ').any(|part| part == wanted),
        Some(Value::Array(items)) => items.iter().any(|v| v.as_str() == Some(wanted)),
        _ => false,
    }
}

impl ClaimRules {
    /// The principal of a verified set of claims. The subject is `sub`, or for tokens of
    /// service accounts that carry none, `client_id`.
    pub fn principal(&self, claims: &Value) -> Result<Principal, AuthError> {
        let subject = ["sub", "client_id"]
            .iter()
            .find_map(|k| claims.get(*k).and_then(Value::as_str))
            .filter(|s| !s.is_empty())
            .ok_or(AuthError::Claims)?;
        let org = match &self.org {
            OrgRule::Fixed(org) => org.clone(),
            OrgRule::Claim(path) => claim_at(claims, path)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or(AuthError::Claims)?
                .to_owned(),
        };
        let roles = self.role_claim.as_deref().and_then(|p| claim_at(claims, p));
        let role = if self
            .manager_value
            .as_deref()
            .is_some_and(|v| claim_has(roles, v))
        {
            Role::Manager
        } else {
            match &self.employee_value {
                Some(v) if !claim_has(roles, v) => return Err(AuthError::NoRole),
                _ => Role::Employee,
            }
        };
        Ok(Principal {
            subject: subject.to_owned(),
            org,
            role,
        })
    }
}

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
    fn use_keys(&self, set: &JwkSet) -> usize {
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
        super::tokens::check_shape(token)?;
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
                super::SIGNATURES_VERIFIED.fetch_add(1, Ordering::Relaxed);
                jsonwebtoken::decode::<Value>(token, &key.key, &validation)
                    .map(|data| data.claims)
                    .map_err(super::tokens::auth_error)
            })
            .ok_or(AuthError::UnknownKey)??;
        self.rules.principal(&claims)
    }
}

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
            || token.len() > super::tokens::MAX_TOKEN_LEN
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

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    /// Port 9 (discard) refuses connections: a refetch fails fast and never leaves the machine.
    const ISSUER: &str = "http://127.0.0.1:9/realms/school";

    /// A provider with one Ed25519 key, and a way to sign tokens with it.
    struct Provider {
        verifier: ExternalIssuer,
        kid: String,
        signing: EncodingKey,
        public_x: String,
    }

    impl Provider {
        fn new() -> Provider {
            let key = crate::auth::keys::generate(None).unwrap();
            let der = base64::engine::general_purpose::STANDARD
                .decode(&key.private_pkcs8)
                .unwrap();
            let verifier = ExternalIssuer::new(
                ISSUER,
                Some("lm".into()),
                rules(None),
                Duration::from_secs(30),
            );
            let set: JwkSet = serde_json::from_value(json!({"keys": [
                {"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": key.kid, "x": key.public_key}
            ]}))
            .unwrap();
            assert_eq!(verifier.use_keys(&set), 1);
            Provider {
                verifier,
                kid: key.kid,
                signing: EncodingKey::from_ed_der(&der),
                public_x: key.public_key,
            }
        }

        fn sign(&self, claims: &Value) -> String {
            let mut header = Header::new(Algorithm::EdDSA);
            header.kid = Some(self.kid.clone());
            jsonwebtoken::encode(&header, claims, &self.signing).unwrap()
        }

        async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
            self.verifier.verify(token).await
        }
    }

    fn claims(changes: Value) -> Value {
        let now = chrono::Utc::now().timestamp();
        let mut claims = json!({
            "iss": ISSUER, "aud": ["lm", "account"], "sub": "ann", "exp": now + 300, "nbf": now - 5,
            "org": "acme", "realm_access": {"roles": ["lm-manager"]}
        });
        for (k, v) in changes.as_object().unwrap() {
            claims[k] = v.clone();
        }
        claims
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    #[tokio::test]
    async fn a_token_of_the_provider_is_accepted_and_mapped() {
        let provider = Provider::new();
        let principal = provider.verify(&provider.sign(&claims(json!({})))).await;
        assert_eq!(
            principal,
            Ok(Principal {
                subject: "ann".into(),
                org: "acme".into(),
                role: Role::Manager
            })
        );
    }

    #[tokio::test]
    async fn tokens_that_break_a_rule_are_refused_for_that_rule() {
        let provider = Provider::new();
        let now = chrono::Utc::now().timestamp();
        let cases = [
            (json!({"exp": now - 120}), AuthError::Expired),
            (json!({"nbf": now + 120}), AuthError::NotYetValid),
            (
                json!({"iss": "https://evil.example.org"}),
                AuthError::WrongIssuerOrAudience,
            ),
            (
                json!({"aud": "another-app"}),
                AuthError::WrongIssuerOrAudience,
            ),
        ];
        for (change, expected) in cases {
            let token = provider.sign(&claims(change.clone()));
            assert_eq!(provider.verify(&token).await, Err(expected), "{change}");
        }
    }

    #[tokio::test]
    async fn forged_tokens_are_refused() {
        let provider = Provider::new();
        let genuine = provider.sign(&claims(json!({"realm_access": {"roles": ["staff"]}})));
        let parts: Vec<&str> = genuine.split('.').collect();

        // The payload promoted to manager, the signature kept.
        let promoted = b64(claims(json!({})).to_string().as_bytes());
        let tampered = format!("{}.{promoted}.{}", parts[0], parts[2]);
        assert_eq!(provider.verify(&tampered).await, Err(AuthError::Signature));

        // alg none, without a signature.
        let none = b64(json!({"alg": "none", "kid": provider.kid})
            .to_string()
            .as_bytes());
        for signature in ["", "c2ln"] {
            assert_eq!(
                provider
                    .verify(&format!("{none}.{promoted}.{signature}"))
                    .await,
                Err(AuthError::Algorithm)
            );
        }

        // HS256 "signed" with the provider's public key as the HMAC secret.
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(provider.kid.clone());
        for secret in [
            provider.public_x.as_bytes().to_vec(),
            b64(provider.public_x.as_bytes()).into_bytes(),
        ] {
            let confused = jsonwebtoken::encode(
                &header,
                &claims(json!({})),
                &EncodingKey::from_secret(&secret),
            )
            .unwrap();
            assert_eq!(provider.verify(&confused).await, Err(AuthError::Algorithm));
        }

        // A key the provider never published (its JWK Set cannot be fetched here: the refetch
        // fails and is remembered, the token is refused).
        let stranger = Provider::new();
        assert_eq!(
            provider
                .verify(&stranger.sign(&claims(json!({}))))
                .await
                .map_err(|e| e.reason()),
            Err("unknown_kid")
        );
    }

    fn rules(employee_value: Option<&str>) -> ClaimRules {
        ClaimRules {
            role_claim: Some("realm_access.roles".into()),
            manager_value: Some("lm-manager".into()),
            employee_value: employee_value.map(str::to_owned),
            org: OrgRule::Claim("org".into()),
        }
    }

    #[test]
    fn claims_map_to_a_principal_by_path() {
        let boss = json!({"sub": "ann", "org": "acme", "realm_access": {"roles": ["staff", "lm-manager"]}});
        let staff = json!({"sub": "bob", "org": "acme", "realm_access": {"roles": ["staff"]}});
        let outsider = json!({"sub": "eve", "org": "acme", "realm_access": {"roles": ["guest"]}});
        let robot =
            json!({"client_id": "ci", "org": "acme", "realm_access": {"roles": "lm-manager"}});
        assert_eq!(rules(None).principal(&boss).unwrap().role, Role::Manager);
        assert_eq!(rules(None).principal(&staff).unwrap().role, Role::Employee);
        assert_eq!(
            rules(Some("staff")).principal(&outsider),
            Err(AuthError::NoRole)
        );
        assert_eq!(rules(None).principal(&robot).unwrap().subject, "ci");
        assert_eq!(
            rules(None).principal(&json!({"sub": "x"})),
            Err(AuthError::Claims),
            "no org claim"
        );
        let fixed = ClaimRules {
            org: OrgRule::Fixed("school".into()),
            ..rules(None)
        };
        assert_eq!(fixed.principal(&json!({"sub": "x"})).unwrap().org, "school");
    }
}
