//! Logging in, staying logged in, logging out: the OAuth 2.0 device flow (RFC 8628) against
//! the issuer's discovery document — lm-server's built-in authorization server, or the
//! organization's own OpenID provider — with the `oauth2` crate; refresh before the access
//! token expires; revocation (RFC 7009) on logout.
//!
//! A login is kept in the OS keyring when one runs ([`crate::keyring`]), otherwise in a file
//! of mode 0600 (written beside it and renamed into place). Tokens are never logged.

use crate::shared::Shared;
use chrono::{DateTime, Utc};
use lm_protocol::Problem;
use lm_protocol::socket::{Event, LoginPrompt, kinds};
use oauth2::basic::BasicClient;
use oauth2::{
    ClientId, DeviceAuthorizationUrl, EndpointMaybeSet, EndpointNotSet, RefreshToken,
    RevocationUrl, Scope, StandardDeviceAuthorizationResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Where lmd logs in, and as which client.
#[derive(Debug, Clone)]
pub struct Provider {
    /// The issuer whose discovery document names the endpoints; `None` is the server itself.
    pub issuer: Option<String>,
    pub client_id: String,
    pub scopes: Vec<String>,
}

impl Default for Provider {
    /// lm-server's built-in authorization server and its client `lm`.
    fn default() -> Self {
        Provider {
            issuer: None,
            client_id: "lm".into(),
            scopes: ["openid", "offline_access", "licenses"]
                .map(str::to_owned)
                .to_vec(),
        }
    }
}
/// Refresh once this share of the access token's lifetime has passed.
const REFRESH_AT: f64 = 0.8;

type OAuthClient = BasicClient<
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A login as kept on disk.
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredLogin {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub obtained_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub token_endpoint: String,
    pub revocation_endpoint: Option<String>,
}

impl std::fmt::Debug for StoredLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredLogin")
            .field("expires_at", &self.expires_at)
            .field("token_endpoint", &self.token_endpoint)
            .finish_non_exhaustive()
    }
}

/// The endpoints of the server's discovery document that lmd uses.
#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    device_authorization_endpoint: String,
    token_endpoint: String,
    #[serde(default)]
    revocation_endpoint: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("cannot write the login to {path}: {source}")]
    Store {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Owns the login: where it is kept (the keyring when one runs, else a 0600 file), and the
/// refresh schedule.
pub struct Logins {
    file: PathBuf,
    keyring: Option<crate::keyring::Keyring>,
    provider: Provider,
    current: Mutex<Option<StoredLogin>>,
    /// Changed whenever a login starts, is refreshed or ends; the refresher waits on it.
    changed: watch::Sender<u64>,
}

fn problem(status: u16, title: &str, detail: impl Into<String>) -> Box<Problem> {
    Box::new(Problem::local(kinds::LOGIN_REQUIRED, status, title, detail))
}

fn oauth_client(
    client_id: &str,
    token_endpoint: &str,
    discovery: Option<&Discovery>,
) -> Result<OAuthClient, Box<Problem>> {
    let bad = |what: &str, e: oauth2::url::ParseError| {
        problem(
            502,
            "Bad discovery document",
            format!("the server's {what} is not a URL: {e}"),
        )
    };
    let device = discovery
        .map(|d| DeviceAuthorizationUrl::new(d.device_authorization_endpoint.clone()))
        .transpose()
        .map_err(|e| bad("device_authorization_endpoint", e))?;
    Ok(BasicClient::new(ClientId::new(client_id.to_owned()))
        .set_device_authorization_url_option(device)
        .set_token_uri_option(Some(
            TokenUrl::new(token_endpoint.to_owned()).map_err(|e| bad("token_endpoint", e))?,
        ))
        .set_revocation_url_option(None::<RevocationUrl>))
}

fn expires_at(expires_in: Option<Duration>) -> DateTime<Utc> {
    Utc::now()
        + chrono::Duration::from_std(expires_in.unwrap_or(Duration::from_secs(300)))
            .unwrap_or(chrono::Duration::minutes(5))
}

impl Logins {
    /// Loads the login kept in the keyring (when `keyring` is given) or in `file`, if any. A
    /// login found in the file while a keyring is there moves into the keyring.
    pub async fn load(
        file: PathBuf,
        provider: Provider,
        keyring: Option<crate::keyring::Keyring>,
    ) -> Logins {
        let kept = match &keyring {
            Some(keyring) => match keyring.load().await {
                Ok(kept) => kept,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the login from the keyring");
                    None
                }
            },
            None => None,
        };
        let from_keyring = kept.is_some();
        let bytes = kept.or_else(|| std::fs::read(&file).ok());
        let current = bytes.and_then(|bytes| match serde_json::from_slice::<StoredLogin>(&bytes) {
            Ok(login) => Some(login),
            Err(e) => {
                tracing::warn!(file = %file.display(), error = %e, "ignoring an unreadable login");
                None
            }
        });
        tracing::info!(keyring = keyring.is_some(), "where logins are kept");
        let logins = Logins {
            file,
            keyring,
            provider,
            current: Mutex::new(current.clone()),
            changed: watch::channel(0).0,
        };
        if logins.keyring.is_some()
            && !from_keyring
            && current.is_some()
            && let Err(e) = logins.keep(current).await
        {
            tracing::warn!(error = %e, "cannot move the login into the keyring");
        }
        logins
    }

    /// The access token of the kept login, if there is one.
    pub fn access_token(&self) -> Option<String> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|l| l.access_token.clone())
    }

    /// Keeps `login` (or with `None`, forgets it): in the keyring when there is one — the
    /// file then goes — or else in the file.
    async fn keep(&self, login: Option<StoredLogin>) -> Result<(), LoginError> {
        let store = |source| LoginError::Store {
            path: self.file.clone(),
            source,
        };
        let bytes = login
            .as_ref()
            .map(|l| serde_json::to_vec(l).unwrap_or_default());
        let in_keyring = match (&self.keyring, &bytes) {
            (None, _) => false,
            (Some(keyring), bytes) => {
                let kept = match bytes {
                    Some(bytes) => keyring.store("lm login", bytes).await,
                    None => keyring.delete().await,
                };
                kept.inspect_err(|e| {
                    tracing::warn!(error = %e, "the keyring failed; keeping the login in the file");
                })
                .is_ok()
            }
        };
        match bytes {
            Some(bytes) if !in_keyring => write_owner_only(&self.file, &bytes).map_err(store)?,
            // Forgotten, or in the keyring: no copy stays in the file.
            _ => match std::fs::remove_file(&self.file) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(store(e)),
            },
        }
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = login;
        self.changed.send_modify(|n| *n += 1);
        Ok(())
    }

    async fn discover(&self, shared: &Shared) -> Result<Discovery, Box<Problem>> {
        let issuer = self.provider.issuer.as_deref().unwrap_or(&shared.server);
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let response = shared
            .remote
            .http()
            .get(&url)
            .timeout(Duration::from_secs(15))
            .send()
            .await
            .map_err(|e| {
                Box::new(Problem::local(
                    kinds::OFFLINE,
                    503,
                    "Offline",
                    format!("cannot reach {url} to log in: {e}"),
                ))
            })?;
        if !response.status().is_success() {
            return Err(problem(
                502,
                "No authorization server",
                format!(
                    "{url} answered {}; is this an lm-server with logins?",
                    response.status()
                ),
            ));
        }
        response
            .json()
            .await
            .map_err(|e| problem(502, "Bad discovery document", format!("{url}: {e}")))
    }

    /// Starts a device login; the returned prompt goes to the client that asked. The login
    /// completes in the background: on approval the daemon uses the new token at once.
    pub async fn start(self: &Arc<Self>, shared: Arc<Shared>) -> Result<LoginPrompt, Box<Problem>> {
        let discovery = self.discover(&shared).await?;
        let client = oauth_client(
            &self.provider.client_id,
            &discovery.token_endpoint,
            Some(&discovery),
        )?;
        let http = shared.remote.http().clone();
        let details: StandardDeviceAuthorizationResponse = client
            .exchange_device_code()
            .map_err(|e| problem(500, "Login failed", e.to_string()))?
            .add_scopes(self.provider.scopes.iter().cloned().map(Scope::new))
            .request_async(&http)
            .await
            .map_err(|e| {
                problem(
                    502,
                    "Login failed",
                    format!("the server refused to start a login: {e}"),
                )
            })?;
        let prompt = LoginPrompt {
            verification_uri: details.verification_uri().to_string(),
            verification_uri_complete: details
                .verification_uri_complete()
                .map(|u| u.secret().to_string()),
            user_code: details.user_code().secret().to_string(),
            expires_in: details.expires_in().as_secs(),
        };
        let logins = self.clone();
        tokio::spawn(async move {
            let outcome = client
                .exchange_device_access_token(&details)
                .map_err(|e| e.to_string())
                .map(|request| request.request_async(&http, tokio::time::sleep, None));
            let result = match outcome {
                Ok(request) => request.await.map_err(|e| describe(&e)),
                Err(e) => Err(e),
            };
            match result {
                Ok(token) => {
                    let login = StoredLogin {
                        access_token: token.access_token().secret().clone(),
                        refresh_token: token.refresh_token().map(|r| r.secret().clone()),
                        obtained_at: Utc::now(),
                        expires_at: expires_at(token.expires_in()),
                        token_endpoint: discovery.token_endpoint.clone(),
                        revocation_endpoint: discovery.revocation_endpoint.clone(),
                    };
                    let access = login.access_token.clone();
                    match logins.keep(Some(login)).await {
                        Ok(()) => {
                            tracing::info!("logged in");
                            shared.use_token(Some(access));
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "cannot keep the login");
                            let _ = shared.events.send(Event::LoginFailed {
                                reason: e.to_string(),
                            });
                        }
                    }
                }
                Err(reason) => {
                    tracing::warn!(%reason, "login failed");
                    let _ = shared.events.send(Event::LoginFailed { reason });
                }
            }
        });
        Ok(prompt)
    }

    /// Revokes the kept login at the server (best effort: a login that cannot be revoked now
    /// still ends here) and forgets it and the cached inventory of that user.
    pub async fn logout(&self, shared: &Shared) -> Result<(), Box<Problem>> {
        let login = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(login) = &login
            && let (Some(refresh), Some(revocation)) =
                (&login.refresh_token, &login.revocation_endpoint)
        {
            // A plain RFC 7009 request: the oauth2 crate insists on https, and a server on
            // loopback or behind a TLS-terminating proxy may well speak http here.
            let revoked = shared
                .remote
                .http()
                .post(revocation)
                .form(&[
                    ("token", refresh.as_str()),
                    ("token_type_hint", "refresh_token"),
                    ("client_id", self.provider.client_id.as_str()),
                ])
                .timeout(Duration::from_secs(15))
                .send()
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| {
                    if r.status().is_success() {
                        Ok(())
                    } else {
                        Err(format!("the server answered {}", r.status()))
                    }
                });
            if let Err(e) = revoked {
                tracing::warn!(error = %e, "could not revoke the login at the server; forgetting it anyway");
            }
        }
        self.keep(None)
            .await
            .map_err(|e| problem(500, "Logout failed", e.to_string()))?;
        shared.use_token(None);
        crate::grant::forget(shared);
        if let Err(e) = shared.cache.replace(crate::cache::Snapshot::default(), 0) {
            tracing::warn!(error = %e, "cannot clear the cache after logout");
        }
        Ok(())
    }

    /// Keeps the access token fresh until shutdown: refreshes ahead of its expiry, and at once
    /// when the server refuses it. A refused refresh ends the login ("login required").
    pub async fn keep_fresh(
        self: Arc<Self>,
        shared: Arc<Shared>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut changed = self.changed.subscribe();
        loop {
            let login = self
                .current
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let wait = match &login {
                Some(l) if l.refresh_token.is_some() => {
                    let lifetime = (l.expires_at - l.obtained_at).num_milliseconds().max(0);
                    let due = l.obtained_at
                        + chrono::Duration::milliseconds((lifetime as f64 * REFRESH_AT) as i64);
                    (due - Utc::now()).to_std().unwrap_or_default()
                }
                // Nothing to refresh: wait for a login.
                _ => Duration::from_secs(24 * 3600),
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shared.refresh_now.notified() => {}
                _ = changed.changed() => continue,
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            let Some(login) = login.filter(|l| l.refresh_token.is_some()) else {
                continue;
            };
            match self.refresh(&shared, &login).await {
                Ok(()) => {}
                Err(Refresh::Refused(reason)) => {
                    tracing::warn!(%reason, "the server refused to refresh the login");
                    let _ = self.keep(None).await;
                    shared.use_token(None);
                }
                Err(Refresh::Unreachable(reason)) => {
                    tracing::debug!(%reason, "cannot refresh now; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(15)) => {}
                        _ = shutdown.wait_for(|stop| *stop) => return,
                    }
                }
            }
        }
    }

    async fn refresh(&self, shared: &Shared, login: &StoredLogin) -> Result<(), Refresh> {
        let client = oauth_client(&self.provider.client_id, &login.token_endpoint, None)
            .map_err(|p| Refresh::Refused(p.detail))?;
        let refresh = RefreshToken::new(login.refresh_token.clone().unwrap_or_default());
        let token = client
            .exchange_refresh_token(&refresh)
            .map_err(|e| Refresh::Refused(e.to_string()))?
            .request_async(shared.remote.http())
            .await
            .map_err(|e| match e {
                oauth2::RequestTokenError::ServerResponse(r) => Refresh::Refused(r.to_string()),
                other => Refresh::Unreachable(describe(&other)),
            })?;
        let renewed = StoredLogin {
            access_token: token.access_token().secret().clone(),
            refresh_token: token
                .refresh_token()
                .map(|r| r.secret().clone())
                .or_else(|| login.refresh_token.clone()),
            obtained_at: Utc::now(),
            expires_at: expires_at(token.expires_in()),
            ..login.clone()
        };
        let access = renewed.access_token.clone();
        let still_current = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|c| c.refresh_token == login.refresh_token);
        if !still_current {
            // A logout (or a new login) happened while the refresh was on its way.
            return Ok(());
        }
        self.keep(Some(renewed))
            .await
            .map_err(|e| Refresh::Unreachable(e.to_string()))?;
        tracing::debug!("access token refreshed");
        shared.use_token(Some(access));
        Ok(())
    }
}

enum Refresh {
    /// The server said no: the login is over.
    Refused(String),
    /// No answer: try again later.
    Unreachable(String),
}

/// A short reason for a failed token request, without secrets.
fn describe<E: std::error::Error, T: oauth2::ErrorResponse>(
    e: &oauth2::RequestTokenError<E, T>,
) -> String {
    match e {
        oauth2::RequestTokenError::ServerResponse(r) => r.to_string(),
        oauth2::RequestTokenError::Request(e) => format!("cannot reach the server: {e}"),
        oauth2::RequestTokenError::Parse(e, _) => format!("unreadable answer: {e}"),
        oauth2::RequestTokenError::Other(e) => e.clone(),
    }
}

/// Writes `bytes` to `path` readable by its owner only, atomically.
fn write_owner_only(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let partial = path.with_extension("partial");
    let mut file = std::fs::File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&partial, path)
}
