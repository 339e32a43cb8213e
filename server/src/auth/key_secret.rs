//! The secret the private signing keys are sealed with at rest.
//!
//! Without it, the database holds the private keys as they are, protected by file modes (or
//! PostgreSQL's access control) alone: whoever reads a copy — a stray backup, a replica's
//! disk — can sign tokens. With `--key-secret-file`, each private key is stored sealed with
//! ChaCha20-Poly1305 under a key derived from the file (its SHA-256), bound to the key's
//! `kid`, as `enc:v1:<base64 of nonce and ciphertext>`; a database copy without the file
//! holds no usable key. Keys stored plain are sealed at the next start with a secret.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sha2::{Digest, Sha256};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const SEALED: &str = "enc:v1:";

/// The key the private signing keys are sealed with.
pub struct KeySecret {
    cipher: ChaCha20Poly1305,
}

#[derive(Debug, thiserror::Error)]
pub enum KeySecretError {
    #[error("cannot read the key secret {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the key secret {0} can be read by other users; make it private with `chmod 600 {0}`")]
    Exposed(PathBuf),
    #[error(
        "the key secret {0} is too short: use at least 32 random bytes, e.g. `head -c 32 /dev/urandom | base64`"
    )]
    TooShort(PathBuf),
}

impl KeySecret {
    /// Reads the secret from `path`: a private file of at least 32 bytes (trailing
    /// whitespace aside); the sealing key is its SHA-256.
    pub fn from_file(path: &Path) -> Result<KeySecret, KeySecretError> {
        let read = |source| KeySecretError::Read {
            path: path.to_owned(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(read)?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(KeySecretError::Exposed(path.to_owned()));
        }
        let content = std::fs::read(path).map_err(read)?;
        let content = content.trim_ascii_end();
        if content.len() < 32 {
            return Err(KeySecretError::TooShort(path.to_owned()));
        }
        Ok(KeySecret::from_bytes(content))
    }

    fn from_bytes(secret: &[u8]) -> KeySecret {
        let key: [u8; 32] = Sha256::digest(secret).into();
        KeySecret {
            cipher: ChaCha20Poly1305::new(&Key::from(key)),
        }
    }

    /// The stored form of the private key `pkcs8` (base64) of `kid`.
    pub fn seal(&self, kid: &str, pkcs8: &str) -> Result<String, String> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| e.to_string())?;
        let sealed = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: pkcs8.as_bytes(),
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| "sealing failed".to_owned())?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        Ok(format!("{SEALED}{}", STANDARD.encode(blob)))
    }

    /// The private key (base64 PKCS#8) of `kid` from its stored form.
    pub fn open(&self, kid: &str, stored: &str) -> Result<String, String> {
        let Some(blob) = stored.strip_prefix(SEALED) else {
            return Ok(stored.to_owned());
        };
        let blob = STANDARD.decode(blob).map_err(|e| e.to_string())?;
        if blob.len() < 12 {
            return Err("the sealed key is cut short".into());
        }
        let (nonce, sealed) = blob.split_at(12);
        let nonce: [u8; 12] = nonce
            .try_into()
            .map_err(|_| "the sealed key is cut short")?;
        let plain = self
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| "it was sealed with another key secret".to_owned())?;
        String::from_utf8(plain).map_err(|e| e.to_string())
    }
}

/// Whether a stored private key is sealed.
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(SEALED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_opens_only_with_its_secret_and_its_kid() {
        let secret = KeySecret::from_bytes(b"0123456789abcdef0123456789abcdef");
        let sealed = secret.seal("kid-1", "UExBSU4=").unwrap();
        assert!(is_sealed(&sealed) && !sealed.contains("UExBSU4="));
        assert_eq!(secret.open("kid-1", &sealed).unwrap(), "UExBSU4=");
        assert!(secret.open("kid-2", &sealed).is_err(), "bound to its kid");
        let other = KeySecret::from_bytes(b"another secret of at least 32 bytes!");
        assert!(other.open("kid-1", &sealed).is_err());
        assert_eq!(
            secret.open("kid-1", "UExBSU4=").unwrap(),
            "UExBSU4=",
            "plain passes"
        );
    }

    #[test]
    fn the_secret_file_must_be_private_and_long_enough() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "short\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(
            KeySecret::from_file(&file),
            Err(KeySecretError::TooShort(_))
        ));
        std::fs::write(&file, "x".repeat(44)).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            KeySecret::from_file(&file),
            Err(KeySecretError::Exposed(_))
        ));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(KeySecret::from_file(&file).is_ok());
    }
}
