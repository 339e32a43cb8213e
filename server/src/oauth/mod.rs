//! The built-in authorization server's logic that is not HTTP: password hashing, the codes
//! and secrets it hands out, and its settings. The HTTP endpoints are in `api::oauth`; what
//! it stores is in `store::oauth`.

pub mod totp;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use std::time::Duration;

/// The one client registered out of the box: lmd and the lm CLI (public, no secret).
pub const BUILTIN_CLIENT: &str = "lm";
/// The scopes the server knows.
pub const SCOPES: &str = "openid profile offline_access licenses";

/// How the authorization server behaves; defaults follow RFC 8628's suggestions.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub device_code_ttl: Duration,
    /// The least time between two polls of one device code.
    pub device_poll_interval: Duration,
    /// Failed password logins in a row before the user is locked for `lockout`.
    pub max_failed_logins: i64,
    pub lockout: Duration,
    /// How long an authorization code may be exchanged (RFC 6749 §4.1.2: at most 10 minutes).
    pub authorization_code_ttl: Duration,
    /// How long an invitation or a password reset link may be used.
    pub invitation_ttl: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            access_token_ttl: Duration::from_secs(15 * 60),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            device_code_ttl: Duration::from_secs(10 * 60),
            device_poll_interval: Duration::from_secs(5),
            max_failed_logins: 5,
            lockout: Duration::from_secs(15 * 60),
            authorization_code_ttl: Duration::from_secs(60),
            invitation_ttl: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("cannot hash the password: {0}")]
    Hash(String),
    #[error("the password must be at least {0} characters long")]
    TooShort(usize),
}

pub const MIN_PASSWORD_CHARS: usize = 10;

/// Hashes a password with Argon2id and a random salt, as a PHC string.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort(MIN_PASSWORD_CHARS));
    }
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the stored hash. Without a hash (unknown user, no password)
/// the same work is done against a fixed hash, so timing does not tell who exists.
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let decoy =
        DECOY.get_or_init(|| hash_password("decoy password, never matches").unwrap_or_default());
    let (hash, real) = match stored {
        Some(h) => (h, true),
        None => (decoy.as_str(), false),
    };
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
        && real
}

/// Whether a PKCE code verifier (RFC 7636 §4.1: 43–128 unreserved characters) hashes to the
/// `S256` challenge: BASE64URL(SHA-256(verifier)) (§4.6).
pub fn pkce_verifier_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    use sha2::Digest;
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    well_formed && computed == challenge
}

/// A random secret of `bytes` bytes, base64url.
pub fn random_secret(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the OS random generator works");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// A user code people type: 8 letters without vowels (no words) or look-alikes, shown as
/// `BCDF-GHJK` (RFC 8628 §6.1).
pub fn user_code() -> String {
    const ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
    let mut raw = [0u8; 8];
    getrandom::fill(&mut raw).expect("the OS random generator works");
    let letters: String = raw
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    format!("{}-{}", &letters[..4], &letters[4..])
}

/// Normalizes what a person typed as a user code: case, spaces and dashes do not matter.
pub fn normalize_user_code(typed: &str) -> String {
    let letters: String = typed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if letters.len() == 8 {
        format!("{}-{}", &letters[..4], &letters[4..])
    } else {
        letters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", Some(&hash)));
        assert!(!verify_password("wrong horse battery", Some(&hash)));
        assert!(!verify_password("decoy password, never matches", None));
        assert!(matches!(
            hash_password("short"),
            Err(PasswordError::TooShort(_))
        ));
    }

    /// RFC 7636 Appendix B.
    #[test]
    fn pkce_verifiers_match_their_s256_challenge() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_verifier_matches(verifier, challenge));
        assert!(!pkce_verifier_matches(
            &verifier.replace('d', "e"),
            challenge
        ));
        assert!(!pkce_verifier_matches("short", challenge));
    }

    #[test]
    fn user_codes_are_typeable() {
        let code = user_code();
        assert_eq!(code.len(), 9);
        assert_eq!(
            normalize_user_code(&code.to_lowercase().replace('-', " ")),
            code
        );
    }
}
