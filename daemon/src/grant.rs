//! Seat redemption and the permission grant kept for offline use.
//!
//! Asking the server for the user's permissions takes a seat of a license of the user's
//! units when they hold none. The answer carries a grant: a JWS the server signed over the
//! user, the products and the permissions, valid until `exp`. The daemon checks it with the
//! server's keys (`GET /v1/grant-keys`) before it believes or keeps anything, keeps the
//! answer and the keys in the cache (`meta/grant`, `meta/grant_keys`), and while the server
//! cannot be reached answers `permissions` from the kept grant — checked again, signature
//! and expiry — so a grant edited on disk or run out is never served.

use crate::remote::RemoteError;
use crate::shared::Shared;
use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use lm_protocol::Problem;
use lm_protocol::hierarchy::{GRANT_TYPE, GrantClaims, Permissions};
use lm_protocol::socket::{HeldPermissions, kinds};
use serde::{Deserialize, Serialize};

const GRANT: &str = "grant";
const GRANT_KEYS: &str = "grant_keys";

/// Why a grant is not believed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GrantError {
    #[error("the grant is not a JWS of the server: {0}")]
    Malformed(String),
    #[error("the grant is signed with key `{0}`, which the server does not list")]
    UnknownKey(String),
    #[error("the grant's signature or claims do not check out: {0}")]
    Invalid(String),
    #[error("the grant expired at {0}")]
    Expired(DateTime<Utc>),
    #[error("the grant is for `{granted}`, not `{user}`")]
    OtherUser { granted: String, user: String },
    #[error("the answer's permissions differ from those its grant signs")]
    Mismatch,
}

/// Checks `grant` against `keys`: an EdDSA JWS of type [`GRANT_TYPE`] by one of them, not
/// expired at `now`; for `user` when given.
pub fn verify(
    grant: &str,
    keys: &JwkSet,
    user: Option<&str>,
    now: DateTime<Utc>,
) -> Result<GrantClaims, GrantError> {
    let header =
        jsonwebtoken::decode_header(grant).map_err(|e| GrantError::Malformed(e.to_string()))?;
    if header.typ.as_deref() != Some(GRANT_TYPE) {
        // The server signs access tokens with the same keys: only a grant is a grant.
        return Err(GrantError::Malformed(format!(
            "its type is {:?}, not {GRANT_TYPE}",
            header.typ.unwrap_or_default()
        )));
    }
    let kid = header.kid.unwrap_or_default();
    let jwk = keys
        .find(&kid)
        .ok_or_else(|| GrantError::UnknownKey(kid.clone()))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| GrantError::Invalid(e.to_string()))?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_required_spec_claims(&["exp", "sub"]);
    // Expiry is checked below against `now`, to the second, with no leeway.
    validation.validate_exp = false;
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<GrantClaims>(grant, &key, &validation)
        .map_err(|e| GrantError::Invalid(e.to_string()))?
        .claims;
    if claims.exp <= now.timestamp() {
        return Err(GrantError::Expired(
            DateTime::from_timestamp(claims.exp, 0).unwrap_or_default(),
        ));
    }
    if let Some(user) = user
        && claims.sub.as_str() != user
    {
        return Err(GrantError::OtherUser {
            granted: claims.sub.to_string(),
            user: user.to_owned(),
        });
    }
    Ok(claims)
}

/// What is kept in the cache: the server's answer and when it came.
#[derive(Serialize, Deserialize)]
struct Kept {
    permissions: Permissions,
    fetched_at: DateTime<Utc>,
}

/// The user's permissions: from the server when it can be reached (taking a seat if need
/// be), else from the grant kept while it is valid.
pub async fn permissions(shared: &Shared) -> Result<HeldPermissions, Box<Problem>> {
    let user = shared.user();
    if shared.remote.token().is_none() {
        return Err(Box::new(Problem::local(
            kinds::LOGIN_REQUIRED,
            401,
            "Login required",
            "lmd is not logged in to the server; run `lm login`",
        )));
    }
    if !shared.is_offline() {
        let subject = match user {
            Some(user) => user.subject,
            None => {
                let me: lm_protocol::socket::User =
                    shared.remote.me().await.map_err(Box::from)?.into();
                shared.set_user(me.clone());
                me.subject
            }
        };
        match redeem(shared, &subject).await {
            Ok(held) => return Ok(held),
            Err(RedeemError::Remote(RemoteError::Unreachable(reason))) => {
                tracing::info!(%reason, "server unreachable; answering from the grant kept");
            }
            Err(RedeemError::Remote(e)) => return Err(e.into()),
            Err(RedeemError::Grant(e)) => {
                return Err(Box::new(Problem::local(
                    kinds::BAD_GRANT,
                    502,
                    "The server's grant does not check out",
                    e.to_string(),
                )));
            }
        }
    }
    kept(shared, shared.user().map(|u| u.subject).as_deref())
}

enum RedeemError {
    Remote(RemoteError),
    Grant(GrantError),
}

/// Asks the server, checks the grant, keeps it.
async fn redeem(shared: &Shared, user: &str) -> Result<HeldPermissions, RedeemError> {
    let answer = shared
        .remote
        .permissions(user)
        .await
        .map_err(RedeemError::Remote)?;
    let now = Utc::now();
    let mut keys = kept_keys(shared).unwrap_or(JwkSet { keys: Vec::new() });
    let claims = match verify(&answer.grant, &keys, Some(user), now) {
        Err(GrantError::UnknownKey(_)) => {
            // A new signing key (or none kept yet): fetch the server's list once.
            keys = shared
                .remote
                .grant_keys()
                .await
                .map_err(RedeemError::Remote)?;
            if let Ok(json) = serde_json::to_vec(&keys)
                && let Err(e) = shared.cache.set_meta(GRANT_KEYS, Some(&json))
            {
                tracing::warn!(error = %e, "cannot keep the grant keys");
            }
            verify(&answer.grant, &keys, Some(user), now)
        }
        other => other,
    }
    .map_err(RedeemError::Grant)?;
    if claims.permissions != answer.permissions {
        return Err(RedeemError::Grant(GrantError::Mismatch));
    }
    let kept = Kept {
        permissions: answer,
        fetched_at: now,
    };
    match serde_json::to_vec(&kept) {
        Ok(json) => {
            if let Err(e) = shared.cache.set_meta(GRANT, Some(&json)) {
                tracing::warn!(error = %e, "cannot keep the grant for offline use");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot encode the grant"),
    }
    tracing::debug!(
        user,
        products = kept.permissions.products.len(),
        "permissions redeemed"
    );
    Ok(HeldPermissions {
        permissions: kept.permissions,
        fetched_at: now,
        offline: false,
    })
}

fn kept_keys(shared: &Shared) -> Option<JwkSet> {
    serde_json::from_slice(&shared.cache.meta(GRANT_KEYS)?).ok()
}

/// The kept grant, checked again now: whoever or whatever wrote the cache, only a grant the
/// server signed, for this user, and not run out, is served.
fn kept(shared: &Shared, user: Option<&str>) -> Result<HeldPermissions, Box<Problem>> {
    let unavailable = |detail: String| {
        Box::new(Problem::local(
            kinds::OFFLINE,
            503,
            "Offline",
            format!("the server cannot be reached and {detail}"),
        ))
    };
    let Some(kept) = shared
        .cache
        .meta(GRANT)
        .and_then(|json| serde_json::from_slice::<Kept>(&json).ok())
    else {
        return Err(unavailable(
            "no grant is kept yet; permissions need one connection to the server".into(),
        ));
    };
    let keys = kept_keys(shared).unwrap_or(JwkSet { keys: Vec::new() });
    verify(&kept.permissions.grant, &keys, user, Utc::now())
        .and_then(|claims| {
            if claims.permissions == kept.permissions.permissions {
                Ok(())
            } else {
                Err(GrantError::Mismatch)
            }
        })
        .map_err(|e| unavailable(format!("the grant kept cannot be used: {e}")))?;
    Ok(HeldPermissions {
        permissions: kept.permissions,
        fetched_at: kept.fetched_at,
        offline: true,
    })
}

/// Forgets the kept grant (at logout: it is the old user's).
pub fn forget(shared: &Shared) {
    if let Err(e) = shared.cache.set_meta(GRANT, None) {
        tracing::warn!(error = %e, "cannot forget the grant");
    }
}

/// After a (re)connection: redeems the user's seats and renews the grant, so that it is at
/// hand offline. Failures are logged; a client asking later gets them.
pub async fn renew(shared: &Shared) {
    match permissions(shared).await {
        Ok(held) if !held.offline => {
            tracing::info!(
                permissions = held.permissions.permissions.len(),
                until = %held.permissions.grant_expires,
                "permissions redeemed"
            );
        }
        Ok(_) => {}
        Err(problem) => {
            tracing::debug!(detail = %problem.detail, "no permissions redeemed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A grant as the server makes one: typ, kid and EdDSA over the claims.
    fn signed(typ: &str, kid: &str, claims: &GrantClaims, key: &[u8]) -> String {
        let mut header = jsonwebtoken::Header::new(Algorithm::EdDSA);
        header.typ = Some(typ.into());
        header.kid = Some(kid.into());
        jsonwebtoken::encode(
            &header,
            claims,
            &jsonwebtoken::EncodingKey::from_ed_der(key),
        )
        .unwrap()
    }

    /// A throwaway Ed25519 key made for these tests (`openssl genpkey -algorithm ed25519`):
    /// the private key as PKCS#8 DER, the public key as a JWK's `x`.
    const PRIVATE_PKCS8: [u8; 48] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20, 36, 138, 144, 74, 189, 28, 164, 137, 38, 156, 251, 147, 217, 59, 54, 15, 193, 150,
        30, 55, 170, 54, 62, 79, 122, 138, 249, 86, 179, 111, 115, 95,
    ];
    const PUBLIC_X: &str = "Rf_BwAQubbUKOpnCUCbXejZ7s2RebOA5dM7PulbYNyc";

    fn pkcs8() -> Vec<u8> {
        PRIVATE_PKCS8.to_vec()
    }

    fn keys() -> JwkSet {
        serde_json::from_value(serde_json::json!({"keys": [{
            "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": "k1", "x": PUBLIC_X,
        }]}))
        .unwrap()
    }

    fn claims(exp: i64) -> GrantClaims {
        GrantClaims {
            iss: "http://lm.test".into(),
            sub: "ada".parse().unwrap(),
            org: "acme".into(),
            iat: exp - 3600,
            exp,
            products: vec!["fractions".parse().unwrap()],
            permissions: vec!["full_access".parse().unwrap()],
        }
    }

    #[test]
    fn a_grant_of_the_server_for_the_user_checks_out() {
        let now = Utc::now();
        let grant = signed(GRANT_TYPE, "k1", &claims(now.timestamp() + 60), &pkcs8());
        let checked = verify(&grant, &keys(), Some("ada"), now).unwrap();
        assert_eq!(checked.permissions[0].as_str(), "full_access");
    }

    #[test]
    fn an_expired_grant_is_refused() {
        let now = Utc::now();
        let grant = signed(GRANT_TYPE, "k1", &claims(now.timestamp() - 1), &pkcs8());
        assert!(matches!(
            verify(&grant, &keys(), Some("ada"), now),
            Err(GrantError::Expired(_))
        ));
    }

    #[test]
    fn an_edited_grant_is_refused() {
        let now = Utc::now();
        let grant = signed(GRANT_TYPE, "k1", &claims(now.timestamp() + 60), &pkcs8());
        let mut parts: Vec<String> = grant.split('.').map(str::to_owned).collect();
        let mut more = claims(now.timestamp() + 60);
        more.permissions.push("admin".parse().unwrap());
        parts[1] = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            serde_json::to_vec(&more).unwrap(),
        );
        assert!(matches!(
            verify(&parts.join("."), &keys(), Some("ada"), now),
            Err(GrantError::Invalid(_))
        ));
    }

    #[test]
    fn only_a_grant_of_this_user_by_a_listed_key_counts() {
        let now = Utc::now();
        let c = claims(now.timestamp() + 60);
        let grant = signed(GRANT_TYPE, "k1", &c, &pkcs8());
        assert!(matches!(
            verify(&grant, &keys(), Some("bob"), now),
            Err(GrantError::OtherUser { .. })
        ));
        let unknown = signed(GRANT_TYPE, "k2", &c, &pkcs8());
        assert_eq!(
            verify(&unknown, &keys(), Some("ada"), now),
            Err(GrantError::UnknownKey("k2".into()))
        );
        // An access token is signed with the same keys, but is no grant.
        let token = signed("JWT", "k1", &c, &pkcs8());
        assert!(matches!(
            verify(&token, &keys(), Some("ada"), now),
            Err(GrantError::Malformed(_))
        ));
    }
}
