//! Issuing and verifying lm's own tokens, and what a verified token's subject is *now*.
//!
//! Verification checks shape, `alg == EdDSA`, a known `kid`, the signature, issuer, audience,
//! `exp` and `nbf`, then that the subject is an active user (or the service account of a
//! client not removed) of the token's organization, whose current role replaces the one the
//! token claims. That last step is answered from memory: every replica re-reads its keys, its
//! users, the live API keys and the revoked logins every 5 s ([`TokenService::keep_current`]),
//! so `keys rotate`, a disabled user or a changed role take effect everywhere within that. A
//! subject the last reload did not know (a user added a moment ago) is read once, and one not
//! found is not read again until the next reload, so a flood of tokens of a disabled user
//! costs no reads.

use super::keys::{KeyError, KeyRing};
use crate::store::Store;
use crate::store::api_keys::LiveKey;
use chrono::Utc;
use jsonwebtoken::{Algorithm, Header, Validation};
use lm_protocol::{Principal, Role};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The claims of an lm access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: String,
    pub org: String,
    pub role: Role,
    /// The login (refresh token family) the token was issued to; revoking the login revokes
    /// the token. Absent for service accounts, which have no login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// The claims of an OpenID Connect ID token (OIDC Core §2): who signed in, for which client.
#[derive(Debug, Serialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
    iat: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    sid: &'a str,
    preferred_username: &'a str,
    org: &'a str,
    role: Role,
}

/// Why a bearer token was refused. Every variant is a 401; the reason goes to metrics and
/// logs, never to the client beyond a generic message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token in the Authorization header")]
    Missing,
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's algorithm is not accepted")]
    Algorithm,
    #[error("the token was signed with an unknown key")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued for another issuer or audience")]
    WrongIssuerOrAudience,
    #[error("the token's claims are invalid")]
    Claims,
    #[error("the token's subject is not an active user or client of its organization")]
    Subject,
    #[error("the token was revoked")]
    Revoked,
    #[error("the token is not active: revoked, expired or unknown")]
    Inactive,
    #[error("the token's claims grant no role in lm")]
    NoRole,
    #[error("the identity provider cannot be reached to check the token")]
    ProviderUnavailable,
}

impl AuthError {
    /// A short label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::Malformed => "malformed",
            AuthError::Algorithm => "algorithm",
            AuthError::UnknownKey => "unknown_kid",
            AuthError::Signature => "signature",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::WrongIssuerOrAudience => "issuer_or_audience",
            AuthError::Claims => "claims",
            AuthError::Subject => "subject",
            AuthError::Revoked => "revoked",
            AuthError::Inactive => "inactive",
            AuthError::NoRole => "no_role",
            AuthError::ProviderUnavailable => "provider_unavailable",
        }
    }

    /// The label of `/metrics`' rejection counter.
    pub fn rejection(&self) -> &'static str {
        match self {
            AuthError::Missing => "token_missing",
            AuthError::Malformed => "token_malformed",
            AuthError::Algorithm => "token_algorithm",
            AuthError::UnknownKey => "token_unknown_kid",
            AuthError::Signature => "token_signature",
            AuthError::Expired => "token_expired",
            AuthError::NotYetValid => "token_not_yet_valid",
            AuthError::WrongIssuerOrAudience => "token_issuer_or_audience",
            AuthError::Claims => "token_claims",
            AuthError::Subject => "token_subject",
            AuthError::Revoked => "token_revoked",
            AuthError::Inactive => "token_inactive",
            AuthError::NoRole => "token_no_role",
            AuthError::ProviderUnavailable => "token_provider_unavailable",
        }
    }
}

/// Refuses what cannot be a JWT before any parsing: too long, not three parts, characters
/// outside base64url.
pub(crate) fn check_shape(token: &str) -> Result<(), AuthError> {
    if token.len() > MAX_TOKEN_LEN
        || token.split('.').count() != 3
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(AuthError::Malformed);
    }
    Ok(())
}

/// What a failed `jsonwebtoken::decode` means.
pub(crate) fn auth_error(e: jsonwebtoken::errors::Error) -> AuthError {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::InvalidSignature | K::InvalidEcdsaKey | K::InvalidEddsaKey | K::InvalidRsaKey(_) => {
            AuthError::Signature
        }
        K::ExpiredSignature => AuthError::Expired,
        K::ImmatureSignature => AuthError::NotYetValid,
        K::InvalidIssuer | K::InvalidAudience => AuthError::WrongIssuerOrAudience,
        K::InvalidAlgorithm | K::InvalidAlgorithmName => AuthError::Algorithm,
        K::Base64(_) | K::Json(_) | K::Utf8(_) | K::InvalidToken => AuthError::Malformed,
        _ => AuthError::Claims,
    }
}

/// Token signatures this process verified, for `/metrics`; every check before the signature
/// is cheap.
pub static SIGNATURES_VERIFIED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Longest token accepted before any parsing.
pub(crate) const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 30;

/// Issues and verifies the server's own tokens.
#[derive(Clone)]
pub struct TokenService {
    issuer: String,
    audience: String,
    keys: Arc<RwLock<KeyRing>>,
    /// Who may hold tokens, by subject, with the organization and role they have now: active
    /// users and the service accounts of clients not removed (`client:ID`). A token counts
    /// only for a subject here, in its organization, and with this role whatever it claims:
    /// a disabled user, a removed client or a demotion takes effect at the next reload.
    subjects: Arc<RwLock<std::collections::HashMap<String, Standing>>>,
    /// Subjects looked up since the last reload and not found: a token of a user made after
    /// the reload is looked up once, and a disabled user's retries cost no more reads.
    absent: Arc<RwLock<std::collections::HashSet<String>>>,
    store: Store,
    /// What the private keys are sealed with at rest, if anything.
    key_secret: Option<Arc<super::KeySecret>>,
    /// The API keys that work, by the SHA-256 of the key; reloaded with the rest, and a key
    /// made on this replica is added at once.
    api_keys: Arc<RwLock<std::collections::HashMap<String, LiveKey>>>,
    /// The `jti`s of revoked access tokens and the `sid`s of revoked logins, until the tokens
    /// they name expire.
    revoked: Arc<RwLock<std::collections::HashSet<String>>>,
}

/// Where a token's subject stands now.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Standing {
    org: String,
    role: Role,
}

/// How often a server re-reads its signing keys and the users: a rotated key is used, and a
/// disabled or demoted user's tokens stop working or lose their role, within this long on
/// every replica.
pub const RELOAD_EVERY: Duration = Duration::from_secs(5);

impl TokenService {
    pub const DEFAULT_AUDIENCE: &'static str = "lm";

    pub async fn load(
        store: &Store,
        issuer: &str,
        key_secret: Option<Arc<super::KeySecret>>,
    ) -> Result<TokenService, KeyError> {
        let ring = KeyRing::load_or_create(store, key_secret.as_deref()).await?;
        let service = TokenService {
            issuer: issuer.to_owned(),
            audience: Self::DEFAULT_AUDIENCE.to_owned(),
            keys: Arc::new(RwLock::new(ring)),
            subjects: Arc::default(),
            absent: Arc::default(),
            store: store.clone(),
            key_secret,
            api_keys: Arc::default(),
            revoked: Arc::default(),
        };
        service.reload(store).await?;
        Ok(service)
    }

    /// Re-reads the signing keys, the users and clients, the API keys and the revoked tokens.
    pub async fn reload(&self, store: &Store) -> Result<(), KeyError> {
        let ring = KeyRing::load_or_create(store, self.key_secret.as_deref()).await?;
        let subjects = store
            .token_subjects()
            .await?
            .into_iter()
            .map(|(subject, org, role)| (subject, Standing { org, role }))
            .collect();
        let api_keys = store
            .live_api_keys()
            .await?
            .into_iter()
            .map(|k| (k.secret_hash.clone(), k))
            .collect();
        let revoked = store.revoked_token_ids(Utc::now()).await?;
        *self.api_keys.write().unwrap_or_else(|p| p.into_inner()) = api_keys;
        *self.revoked.write().unwrap_or_else(|p| p.into_inner()) = revoked.into_iter().collect();
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = ring;
        *self.subjects.write().unwrap_or_else(|p| p.into_inner()) = subjects;
        self.absent
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        Ok(())
    }

    /// Reloads every [`RELOAD_EVERY`] until the process ends.
    pub async fn keep_current(self, store: Store) {
        let mut every = tokio::time::interval(RELOAD_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = self.reload(&store).await {
                tracing::warn!(error = %e, "cannot reload signing keys and users");
            }
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    fn ring(&self) -> KeyRing {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Signs an access token for `subject` valid for `ttl`, belonging to the login `session`
    /// when there is one.
    pub fn issue(
        &self,
        subject: &str,
        org: &str,
        role: Role,
        ttl: Duration,
        session: Option<&str>,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let ring = self.ring();
        let now = Utc::now().timestamp();
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: subject.to_owned(),
            aud: self.audience.clone(),
            exp: now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
            nbf: now,
            iat: now,
            jti: uuid::Uuid::now_v7().to_string(),
            org: org.to_owned(),
            role,
            sid: session.map(str::to_owned),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(ring.active.kid.clone());
        jsonwebtoken::encode(&header, &claims, &ring.active.encoding)
    }

    /// Signs an OpenID Connect ID token telling `client_id` who signed in (OIDC Core §3.1.3.6).
    #[allow(clippy::too_many_arguments)]
    pub fn id_token(
        &self,
        subject: &str,
        org: &str,
        role: Role,
        client_id: &str,
        nonce: Option<&str>,
        session: &str,
        ttl: Duration,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let ring = self.ring();
        let now = Utc::now().timestamp();
        let claims = IdTokenClaims {
            iss: &self.issuer,
            sub: subject,
            aud: client_id,
            exp: now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
            iat: now,
            nonce,
            sid: session,
            preferred_username: subject,
            org,
            role,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(ring.active.kid.clone());
        jsonwebtoken::encode(&header, &claims, &ring.active.encoding)
    }

    /// Signs `claims` as a compact JWS (`typ` names what it is), for statements other than
    /// tokens, such as a permission grant that is checked offline.
    pub fn sign_statement(
        &self,
        typ: &str,
        claims: &serde_json::Value,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let ring = self.ring();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(ring.active.kid.clone());
        header.typ = Some(typ.to_owned());
        jsonwebtoken::encode(&header, claims, &ring.active.encoding)
    }

    /// Refuses a token id (`jti`) or login (`sid`) on this replica at once; the others learn
    /// it from the store within [`RELOAD_EVERY`].
    pub fn forget_token(&self, token_id: &str) {
        self.revoked
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token_id.to_owned());
    }

    /// The public keys as a JWK Set (RFC 7517), for `/.well-known/jwks.json`.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .ring()
            .public_keys
            .into_iter()
            .map(|(kid, x)| {
                serde_json::json!({"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": kid, "x": x})
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Starts honouring a key made on this replica now, before the next reload.
    pub fn remember_api_key(&self, key: LiveKey) {
        self.api_keys
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.secret_hash.clone(), key);
    }

    /// Stops honouring a key revoked on this replica now (other replicas within a reload).
    pub fn forget_api_key(&self, id: &str) {
        self.api_keys
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, k| k.id != id);
    }

    /// Checks an API key against the keys in memory: no database on the request path, so a
    /// flood of made-up keys costs a hash each.
    pub fn verify_api_key(&self, key: &str) -> Result<Principal, AuthError> {
        let well_formed = key.len() <= 128
            && key.starts_with(lm_protocol::api_key::PREFIX)
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
        if !well_formed {
            return Err(AuthError::Malformed);
        }
        let hash = crate::store::oauth::secret_hash(key);
        let keys = self.api_keys.read().unwrap_or_else(|p| p.into_inner());
        let live = keys.get(&hash).ok_or(AuthError::Inactive)?;
        // Keys of disabled users are not loaded: they stop at the same reload as the user.
        if live.expires_at.is_some_and(|at| at <= Utc::now()) {
            return Err(AuthError::Expired);
        }
        Ok(Principal {
            subject: live.user.clone(),
            org: live.org.clone(),
            role: live.role,
        })
    }

    /// Checks the token's shape, algorithm, key, signature and claims, cheapest first; then
    /// that its subject is an active user or client of its organization, whose current role
    /// it carries.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let c = self.verify_claims(token).await?;
        Ok(Principal {
            subject: c.sub,
            org: c.org,
            role: c.role,
        })
    }

    /// [`TokenService::verify`], answering the token's claims (with the subject's current role).
    pub async fn verify_claims(&self, token: &str) -> Result<Claims, AuthError> {
        let mut c = self.verify_signature(token)?;
        let standing = match self.standing(&c.sub) {
            Some(standing) => standing,
            None => self.look_up(&c.sub).await?,
        };
        if standing.org != c.org {
            return Err(AuthError::Subject);
        }
        c.role = standing.role;
        let revoked = self.revoked.read().unwrap_or_else(|p| p.into_inner());
        if revoked.contains(&c.jti) || c.sid.as_ref().is_some_and(|s| revoked.contains(s)) {
            return Err(AuthError::Revoked);
        }
        drop(revoked);
        Ok(c)
    }

    fn standing(&self, subject: &str) -> Option<Standing> {
        self.subjects
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(subject)
            .cloned()
    }

    /// A subject the last reload did not know: made since (a user added a moment ago on any
    /// replica), or not active. Read once until the next reload either way.
    async fn look_up(&self, subject: &str) -> Result<Standing, AuthError> {
        if self
            .absent
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(subject)
        {
            return Err(AuthError::Subject);
        }
        let found = self.store.token_subject(subject).await.map_err(|e| {
            tracing::warn!(error = %e, "cannot look up a token's subject");
            AuthError::ProviderUnavailable
        })?;
        match found {
            Some((org, role)) => {
                let standing = Standing { org, role };
                self.subjects
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(subject.to_owned(), standing.clone());
                Ok(standing)
            }
            None => {
                self.absent
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(subject.to_owned());
                Err(AuthError::Subject)
            }
        }
    }

    /// The token's claims once its shape, algorithm, key, signature, issuer, audience and
    /// times check out — before anything is known of its subject.
    fn verify_signature(&self, token: &str) -> Result<Claims, AuthError> {
        check_shape(token)?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Algorithm)?;
        if header.alg != Algorithm::EdDSA {
            return Err(AuthError::Algorithm);
        }
        let kid = header.kid.ok_or(AuthError::UnknownKey)?;
        let ring = self.ring();
        let key = ring.verifying.get(&kid).ok_or(AuthError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        SIGNATURES_VERIFIED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(auth_error)?;
        let c = data.claims;
        if c.sub.is_empty() || c.org.is_empty() {
            return Err(AuthError::Claims);
        }
        Ok(c)
    }
}
