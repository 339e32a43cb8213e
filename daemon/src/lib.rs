//! `lmd`, the per-user daemon of lm: the only process that talks to lm-server and the only
//! owner of the local cache. It syncs the cache from the server's change feed, follows live
//! events, and serves the cache to the `lm` TUI, the CLI and scripts over a Unix socket —
//! also while the server is unreachable.
//!
//! - [`alerts`]: expiry alerts as desktop notifications and client events;
//! - [`cache`]: the snapshot and journal on disk, and the in-memory view lists are served
//!   from;
//! - [`inventory`]: the cached licenses in memory by slot, with their indexes (exact
//!   values, sort orders) and [`search`], the free-text search over them;
//! - [`remote`]: the HTTP client of lm-server;
//! - [`sync`]: catch-up, live follow, offline backoff, resync after `410 Gone`;
//! - [`socket`]: the NDJSON socket protocol of `lm_protocol::socket`;
//! - [`login`]: the device login, token refresh and logout;
//! - [`keyring`]: the Secret Service, where the login is kept when one runs;
//! - [`grant`]: seat redemption, and the signed grant kept for offline permission checks;
//! - [`config`]: the TOML file and its defaults;
//! - [`private_dir`]: which folders lmd may make owner-only;
//! - [`allocator`]: the memory allocator's figures, and handing freed memory back.

pub mod alerts;
pub mod allocator;
pub mod cache;
pub mod config;
pub mod grant;
pub mod import_file;
pub mod inventory;
pub mod keyring;
pub mod login;
pub mod private_dir;
pub mod remote;
pub mod search;
pub mod shared;
pub mod socket;
pub mod sync;

use base64::Engine;
use lm_protocol::socket::User;

/// Who a bearer token says its holder is, for display only: the server verifies the token
/// on every request, the daemon never relies on this for a decision.
pub fn token_user(token: &str) -> Option<User> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    #[derive(serde::Deserialize)]
    struct Claims {
        sub: String,
        org: String,
        role: lm_protocol::Role,
    }
    let claims: Claims = serde_json::from_slice(&bytes).ok()?;
    Some(User {
        subject: claims.sub,
        org: claims.org,
        role: claims.role,
    })
}
