//! Authentication: the server's own signing keys and the verification of bearer tokens.
//!
//! Tokens are JWTs signed with Ed25519 (`alg: EdDSA`). Verification accepts exactly that
//! algorithm, requires a `kid` the server knows, and checks issuer, audience, expiry and
//! not-before; everything else — `alg: none`, HMAC with the public key, a tampered payload,
//! a key the server never had — is a 401.

mod keys;
mod tokens;

pub use keys::{KeyRing, SigningKey};
pub use tokens::{AuthError, Claims, SIGNATURES_VERIFIED, TokenService};
