use super::key_secret::{KeySecret, is_sealed};
use crate::store::{Store, StoreError, StoredKey};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::Utc;
use jsonwebtoken::{DecodingKey, EncodingKey};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// The PKCS#8 v1 DER prefix of an Ed25519 private key; the 32-byte seed follows it.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// A key the server signs with.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub encoding: EncodingKey,
    /// The public key, base64url (the JWK's `x`).
    pub public_x: String,
}

/// The keys the server verifies with (every stored key) and the one it signs with (the newest).
#[derive(Clone)]
pub struct KeyRing {
    pub active: SigningKey,
    pub verifying: HashMap<String, DecodingKey>,
    /// (kid, public key as base64url) of every key, for the JWKS document.
    pub public_keys: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or store signing keys: {0}")]
    Store(#[from] StoreError),
    #[error("signing key {kid} is unusable: {why}")]
    Malformed { kid: String, why: String },
    #[error("the operating system's random generator failed: {0}")]
    Random(String),
}

/// A new Ed25519 signing key, as stored (its private key sealed when there is a secret).
pub(crate) fn generate(secret: Option<&KeySecret>) -> Result<StoredKey, KeyError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
    let public = ed25519_dalek::SigningKey::from_bytes(&seed)
        .verifying_key()
        .to_bytes();
    let mut pkcs8 = PKCS8_ED25519_PREFIX.to_vec();
    pkcs8.extend_from_slice(&seed);
    let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(public)[..12]);
    let mut private_pkcs8 = STANDARD.encode(&pkcs8);
    if let Some(secret) = secret {
        private_pkcs8 = secret
            .seal(&kid, &private_pkcs8)
            .map_err(KeyError::Random)?;
    }
    Ok(StoredKey {
        kid,
        algorithm: "EdDSA".into(),
        private_pkcs8,
        public_key: URL_SAFE_NO_PAD.encode(public),
        created_at: Utc::now(),
        retired_at: None,
    })
}

impl KeyRing {
    /// Loads the stored keys, generating the first one on a fresh database. When several
    /// replicas start at once each may add a key; all verify, and all sign with the newest.
    /// With a `secret`, private keys stored plain are sealed on the way.
    pub async fn load_or_create(
        store: &Store,
        secret: Option<&KeySecret>,
    ) -> Result<KeyRing, KeyError> {
        let mut stored = store.signing_keys().await?;
        if stored.iter().all(|k| k.retired_at.is_some()) {
            store.add_signing_key(&generate(secret)?).await?;
            stored = store.signing_keys().await?;
        }
        if let Some(secret) = secret {
            for key in stored.iter_mut().filter(|k| !is_sealed(&k.private_pkcs8)) {
                let sealed = secret
                    .seal(&key.kid, &key.private_pkcs8)
                    .map_err(KeyError::Random)?;
                store
                    .seal_signing_key(&key.kid, &key.private_pkcs8, &sealed)
                    .await?;
                tracing::info!(kid = %key.kid, "sealed a signing key stored plain");
                key.private_pkcs8 = sealed;
            }
        }
        Self::from_stored(&stored, secret)
    }

    /// Makes a new signing key and retires the others (they keep verifying). Returns its kid.
    pub async fn rotate(store: &Store, secret: Option<&KeySecret>) -> Result<String, KeyError> {
        let key = generate(secret)?;
        store.rotate_signing_key(&key).await?;
        Ok(key.kid)
    }

    fn from_stored(stored: &[StoredKey], secret: Option<&KeySecret>) -> Result<KeyRing, KeyError> {
        let mut verifying = HashMap::new();
        let mut public_keys = Vec::new();
        let mut active = None;
        for key in stored {
            let malformed = |why: &str| KeyError::Malformed {
                kid: key.kid.clone(),
                why: why.into(),
            };
            if key.algorithm != "EdDSA" {
                return Err(malformed("unsupported algorithm"));
            }
            let decoding = DecodingKey::from_ed_components(&key.public_key)
                .map_err(|e| malformed(&e.to_string()))?;
            verifying.insert(key.kid.clone(), decoding);
            public_keys.push((key.kid.clone(), key.public_key.clone()));
            if key.retired_at.is_none() {
                let private = match secret {
                    Some(secret) => secret.open(&key.kid, &key.private_pkcs8).map_err(|why| {
                        malformed(&format!("its private key cannot be opened: {why}"))
                    })?,
                    None if is_sealed(&key.private_pkcs8) => {
                        return Err(malformed(
                            "its private key is sealed; start with the --key-secret-file it was sealed with",
                        ));
                    }
                    None => key.private_pkcs8.clone(),
                };
                let pkcs8 = STANDARD
                    .decode(&private)
                    .map_err(|e| malformed(&e.to_string()))?;
                active = Some(SigningKey {
                    kid: key.kid.clone(),
                    encoding: EncodingKey::from_ed_der(&pkcs8),
                    public_x: key.public_key.clone(),
                });
            }
        }
        let active = active.ok_or_else(|| KeyError::Malformed {
            kid: "-".into(),
            why: "no active key".into(),
        })?;
        Ok(KeyRing {
            active,
            verifying,
            public_keys,
        })
    }
}
