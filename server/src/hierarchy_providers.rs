//! Remote Hierarchy Providers: other services that answer the HP contract
//! (`GET /hierarchy/levels`, `GET /hierarchy/users/{eid}/membership`) for the organisational
//! units they own, e.g. a school district's student information system.
//!
//! Only providers configured on the server (`serve --hierarchy-provider NAME=URL`) are ever
//! called: a purchase that names any other URL is refused before a request leaves the server,
//! so the API cannot be used to make lm-server fetch arbitrary addresses. Every call has a
//! deadline, carries the provider's bearer token if one is configured, reads at most
//! [`MAX_ANSWER`] bytes, and fails as a [`ProviderError`] that the API answers with 502. The
//! user's EID is one escaped path segment, so `/`, `?`, `#` or `%` in it cannot change the
//! path (and [`lm_protocol::HierarchyName`] refuses `.` and `..`, which URL parsers resolve
//! whatever their escaping). One `reqwest::Client` per provider keeps its connections alive.
//!
//! A provider is protected from a rush of first checks: at most
//! `--hierarchy-provider-concurrency` calls at once per provider (a turn is waited for within
//! the deadline), concurrent lookups of one user share one call, and a membership answer is
//! kept as long as the provider's `Cache-Control: max-age` allows, up to
//! `--hierarchy-provider-max-age`. A connection not accepted within a quarter of the deadline
//! is tried again: a provider with a full listen backlog drops the SYN, which the kernel would
//! resend only after a second (tested against a one-thread HTTP/1.0 provider with a backlog of
//! five, `tests/peers/hierarchy_provider_http10/`). A provider that refuses every connection
//! until the deadline is unreachable, not slow.

use crate::store::hierarchy::Member;
use lm_protocol::HierarchyName;
use lm_protocol::hierarchy::{Levels, MembershipEntry};
use reqwest::{StatusCode, Url};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most a provider's answer may hold.
pub const MAX_ANSWER: usize = 1024 * 1024;

/// How long a provider's level map is used before it is asked again.
const LEVELS_FOR: Duration = Duration::from_secs(60);

/// A provider as the server's configuration names it.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub name: String,
    pub url: Url,
    /// Sent as `Authorization: Bearer …`.
    pub token: Option<String>,
}

impl ProviderConfig {
    /// Reads `NAME=URL`: a name of letters, digits, `-` and `_`, and an http(s) URL without
    /// query, fragment or credentials.
    pub fn parse(spec: &str) -> Result<ProviderConfig, String> {
        let (name, url) = spec
            .split_once('=')
            .ok_or_else(|| format!("`{spec}` is not NAME=URL"))?;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "`{name}` is not a provider name: use letters, digits, - and _"
            ));
        }
        let url = Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("`{url}` is not an http or https URL"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("`{url}` must not have a query or fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "`{url}` must not carry credentials; use --hierarchy-provider-token"
            ));
        }
        Ok(ProviderConfig {
            name: name.to_owned(),
            url: without_trailing_slash(url),
            token: None,
        })
    }
}

fn without_trailing_slash(mut url: Url) -> Url {
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    url
}

/// Why a provider gave no usable answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    #[error("the Hierarchy Provider `{provider}` did not answer within {} ms", .after.as_millis())]
    Timeout { provider: String, after: Duration },
    #[error("the Hierarchy Provider `{provider}` cannot be reached")]
    Unreachable { provider: String },
    #[error("the Hierarchy Provider `{provider}` answered {status} to {what}")]
    Status {
        provider: String,
        status: StatusCode,
        what: &'static str,
    },
    #[error("the Hierarchy Provider `{provider}` answered {what} that cannot be read: {reason}")]
    Malformed {
        provider: String,
        what: &'static str,
        reason: String,
    },
}

/// The configured remote providers.
#[derive(Debug, Default)]
pub struct HierarchyProviders {
    remote: Vec<RemoteProvider>,
}

impl HierarchyProviders {
    pub fn new(
        configs: Vec<ProviderConfig>,
        timeout: Duration,
    ) -> Result<HierarchyProviders, String> {
        let mut remote: Vec<RemoteProvider> = Vec::new();
        for config in configs {
            if remote.iter().any(|p| *p.name == *config.name) {
                return Err(format!(
                    "the Hierarchy Provider `{}` is named twice",
                    config.name
                ));
            }
            let client = reqwest::Client::builder()
                .timeout(timeout)
                // A connection not accepted within a quarter of the deadline is tried again
                // (`RemoteProvider::get`): a provider with a full listen backlog drops the
                // SYN, and the kernel would try again only after a second, then three.
                .connect_timeout(timeout / 4)
                .pool_idle_timeout(Duration::from_secs(90))
                .pool_max_idle_per_host(256)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("lm-server/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
            remote.push(RemoteProvider {
                name: Arc::from(config.name.as_str()),
                base: config.url,
                token: config.token,
                client,
                timeout,
                levels: tokio::sync::Mutex::new(None),
                asking: std::sync::Mutex::default(),
                calls: tokio::sync::Semaphore::new(CALLS_AT_ONCE),
                max_age: Duration::ZERO,
                answers: std::sync::Mutex::default(),
            });
        }
        Ok(HierarchyProviders { remote })
    }

    /// Keeps membership answers as long as a provider's `Cache-Control: max-age` says, up to
    /// `ceiling` (zero: ask every time).
    pub fn with_max_age(mut self, ceiling: Duration) -> HierarchyProviders {
        for provider in &mut self.remote {
            provider.max_age = ceiling;
        }
        self
    }

    /// Lets each provider be called at most `calls` times at once by this process.
    pub fn with_calls_at_once(mut self, calls: usize) -> HierarchyProviders {
        for provider in &mut self.remote {
            provider.calls = tokio::sync::Semaphore::new(calls.max(1));
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.remote.is_empty()
    }

    pub fn named(&self, name: &str) -> Option<&RemoteProvider> {
        self.remote.iter().find(|p| &*p.name == name)
    }

    /// The configured provider at exactly this base URL (a trailing `/` aside); nothing else
    /// is ever called.
    pub fn at(&self, url: &str) -> Option<&RemoteProvider> {
        let url = without_trailing_slash(Url::parse(url).ok()?);
        self.remote.iter().find(|p| p.base == url)
    }

    /// The allowed base URLs, for an error message.
    pub fn allowed(&self) -> String {
        if self.remote.is_empty() {
            return "none is configured".into();
        }
        let urls: Vec<&str> = self.remote.iter().map(|p| p.base.as_str()).collect();
        format!("allowed: {}", urls.join(", "))
    }
}

/// Calls one process makes to one provider at once unless told otherwise
/// ([`HierarchyProviders::with_calls_at_once`]); more wait their turn (within the timeout),
/// so a rush of first checks cannot open hundreds of connections to a provider that has
/// room for a few.
pub const CALLS_AT_ONCE: usize = 32;

/// A membership answer, and how long the provider lets it be kept.
type Membership = (Option<Vec<Member>>, Duration);

/// A membership lookup under way, which every concurrent check of the same user awaits.
type Lookup = Arc<tokio::sync::OnceCell<Result<Membership, ProviderError>>>;

/// Membership answers kept, by user: until when, and the answer.
type Kept = std::collections::HashMap<String, (Instant, Option<Vec<Member>>)>;

/// Kept membership answers beyond which the stale ones are dropped.
const ANSWERS_KEPT: usize = 100_000;

/// The `max-age` of a `Cache-Control` header, or zero (also for `no-store` and `no-cache`).
fn max_age(headers: &reqwest::header::HeaderMap) -> Duration {
    let Some(value) = headers
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
    else {
        return Duration::ZERO;
    };
    let directives: Vec<&str> = value.split(',').map(str::trim).collect();
    if directives
        .iter()
        .any(|d| d.eq_ignore_ascii_case("no-store") || d.eq_ignore_ascii_case("no-cache"))
    {
        return Duration::ZERO;
    }
    directives
        .iter()
        .find_map(|d| d.strip_prefix("max-age=")?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_secs)
}

/// A provider's answer: the body, and how long it may be kept (its `max-age`, up to the
/// configured ceiling).
struct Answer {
    body: Vec<u8>,
    fresh_for: Duration,
}

/// One remote provider.
#[derive(Debug)]
pub struct RemoteProvider {
    pub name: Arc<str>,
    base: Url,
    token: Option<String>,
    client: reqwest::Client,
    timeout: Duration,
    levels: tokio::sync::Mutex<Option<(Instant, Levels)>>,
    /// Membership lookups under way, by user: concurrent checks of one user share one call.
    asking: std::sync::Mutex<std::collections::HashMap<String, Lookup>>,
    /// Turns to call the provider ([`CALLS_AT_ONCE`] unless configured).
    calls: tokio::sync::Semaphore,
    /// The longest a membership answer is kept, whatever the provider's `max-age` says.
    max_age: Duration,
    /// Membership answers kept, by user, until when.
    answers: std::sync::Mutex<Kept>,
}

impl RemoteProvider {
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// `{base}/{segments…}`, each segment escaped as one path segment.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    async fn get(&self, url: Url, what: &'static str) -> Result<Option<Answer>, ProviderError> {
        // Waiting for a turn counts against the same deadline as the call.
        let deadline = tokio::time::Instant::now() + self.timeout;
        let timed_out = || ProviderError::Timeout {
            provider: self.name.to_string(),
            after: self.timeout,
        };
        let Ok(Ok(_turn)) = tokio::time::timeout_at(deadline, self.calls.acquire()).await else {
            return Err(timed_out());
        };

        let mut attempt = 0u32;
        // The last attempt's connect error: when the deadline passes after one, the provider
        // was unreachable, whichever step the deadline happened to cut short.
        let mut refused: Option<reqwest::Error> = None;
        let unreachable = |e: reqwest::Error| {
            tracing::warn!(provider = %self.name, error = %e, "Hierarchy Provider unreachable");
            ProviderError::Unreachable {
                provider: self.name.to_string(),
            }
        };
        let failed = |e: reqwest::Error| {
            if e.is_timeout() {
                timed_out()
            } else {
                unreachable(e)
            }
        };
        let mut response = loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            if remaining.is_zero() {
                return Err(refused.map_or_else(timed_out, unreachable));
            }
            let mut request = self
                .client
                .get(url.clone())
                .header(reqwest::header::ACCEPT, "application/json")
                .timeout(remaining);
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            match request.send().await {
                Ok(response) => break response,
                // Not connected (refused, or not accepted in time): nothing reached the
                // provider, so asking again is safe; a short, spread pause first.
                Err(e) if e.is_connect() && !e.is_timeout() => {
                    attempt += 1;
                    tracing::debug!(provider = %self.name, attempt, error = %e, "connecting again");
                    let spread = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.subsec_nanos() % 40);
                    let pause = Duration::from_millis(10 + u64::from(spread));
                    if tokio::time::timeout_at(deadline, tokio::time::sleep(pause))
                        .await
                        .is_err()
                    {
                        return Err(unreachable(e));
                    }
                    refused = Some(e);
                }
                // Not accepted within the connect timeout: try again while time is left.
                Err(e) if e.is_connect() => {
                    attempt += 1;
                    tracing::debug!(provider = %self.name, attempt, error = %e, "connecting again");
                    refused = None;
                }
                // The last attempt cut short by the deadline after refusals: unreachable.
                Err(e) if e.is_timeout() && refused.is_some() => return Err(unreachable(e)),
                Err(e) => return Err(failed(e)),
            }
        };
        let status = response.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(ProviderError::Status {
                provider: self.name.to_string(),
                status,
                what,
            });
        }
        let fresh_for = max_age(response.headers()).min(self.max_age);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > MAX_ANSWER {
                return Err(ProviderError::Malformed {
                    provider: self.name.to_string(),
                    what,
                    reason: format!("longer than {MAX_ANSWER} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Some(Answer { body, fresh_for }))
    }

    fn malformed(&self, what: &'static str, e: impl std::fmt::Display) -> ProviderError {
        ProviderError::Malformed {
            provider: self.name.to_string(),
            what,
            reason: e.to_string(),
        }
    }

    /// The provider's levels, asked again after a minute, or sooner when `stale`.
    async fn levels(&self, stale: bool) -> Result<Levels, ProviderError> {
        let mut cached = self.levels.lock().await;
        if let Some((at, levels)) = &*cached
            && !(stale && at.elapsed() > Duration::from_secs(5))
            && at.elapsed() < LEVELS_FOR
        {
            return Ok(levels.clone());
        }
        const WHAT: &str = "the levels";
        let body = self
            .get(self.url(&["hierarchy", "levels"]), WHAT)
            .await?
            .ok_or(ProviderError::Status {
                provider: self.name.to_string(),
                status: StatusCode::NOT_FOUND,
                what: WHAT,
            })?;
        let levels: Levels =
            serde_json::from_slice(&body.body).map_err(|e| self.malformed(WHAT, e))?;
        *cached = Some((Instant::now(), levels.clone()));
        Ok(levels)
    }

    /// Every entity `user` belongs to by this provider, with levels; `None` when the provider
    /// does not know the user.
    /// Whom `user` belongs to, by the provider; checks of the same user that arrive while a
    /// lookup is under way share its answer instead of calling again.
    pub async fn membership(
        &self,
        user: &HierarchyName,
    ) -> Result<Option<Vec<Member>>, ProviderError> {
        if let Some((until, kept)) = self
            .answers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(user.as_str())
            && *until > Instant::now()
        {
            return Ok(kept.clone());
        }
        let lookup: Lookup = self
            .asking
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(user.as_str().to_owned())
            .or_default()
            .clone();
        let answer = lookup
            .get_or_init(|| self.ask_membership(user))
            .await
            .clone();
        let mut asking = self.asking.lock().unwrap_or_else(|p| p.into_inner());
        if asking
            .get(user.as_str())
            .is_some_and(|current| Arc::ptr_eq(current, &lookup))
        {
            asking.remove(user.as_str());
            if let Ok((members, fresh_for)) = &answer
                && !fresh_for.is_zero()
            {
                let mut answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
                if answers.len() >= ANSWERS_KEPT {
                    let now = Instant::now();
                    answers.retain(|_, (until, _)| *until > now);
                }
                answers.insert(
                    user.as_str().to_owned(),
                    (Instant::now() + *fresh_for, members.clone()),
                );
            }
        }
        answer.map(|(members, _)| members)
    }

    async fn ask_membership(&self, user: &HierarchyName) -> Result<Membership, ProviderError> {
        const WHAT: &str = "the membership";
        let url = self.url(&["hierarchy", "users", user.as_str(), "membership"]);
        let Some(Answer { body, fresh_for }) = self.get(url, WHAT).await? else {
            return Ok((None, Duration::ZERO));
        };
        let entries: Vec<MembershipEntry> =
            serde_json::from_slice(&body).map_err(|e| self.malformed(WHAT, e))?;
        let mut levels: Option<Levels> = None;
        let mut members = Vec::with_capacity(entries.len());
        for entry in entries {
            let entity = entry.entity();
            let level = match entry {
                MembershipEntry::Object {
                    level: Some(level), ..
                } => level,
                _ => {
                    if levels
                        .as_ref()
                        .is_none_or(|l| !l.contains_key(&entity.kind))
                    {
                        let stale = levels.is_some();
                        levels = Some(self.levels(stale).await?);
                    }
                    match levels.as_ref().and_then(|l| l.get(&entity.kind)) {
                        Some(level) => *level,
                        None => {
                            return Err(self.malformed(
                                WHAT,
                                format!("{entity} is of a type its levels do not name"),
                            ));
                        }
                    }
                }
            };
            members.push(Member {
                entity,
                level,
                provider: Some(self.name.clone()),
            });
        }
        Ok((Some(members), fresh_for))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provider_is_a_name_and_an_http_url() {
        let p = ProviderConfig::parse("district=http://127.0.0.1:9000/hp/").unwrap();
        assert_eq!(p.name, "district");
        assert_eq!(p.url.as_str(), "http://127.0.0.1:9000/hp");
        for bad in [
            "district",
            "=http://x",
            "a b=http://x",
            "d=ftp://x",
            "d=http://x/?q=1",
            "d=http://u:p@x/",
            "d=nonsense",
        ] {
            assert!(ProviderConfig::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_configured_urls_are_providers() {
        let providers = HierarchyProviders::new(
            vec![ProviderConfig::parse("district=http://127.0.0.1:9000/hp").unwrap()],
            Duration::from_secs(1),
        )
        .unwrap();
        assert!(providers.at("http://127.0.0.1:9000/hp/").is_some());
        assert!(providers.at("http://127.0.0.1:9000/hp").is_some());
        for other in [
            "http://127.0.0.1:9000/",
            "http://127.0.0.1:9000/hp/x",
            "http://127.0.0.1:9001/hp",
            "http://169.254.169.254/latest/meta-data",
            "not a url",
        ] {
            assert!(providers.at(other).is_none(), "{other}");
        }
    }

    /// A provider whose port refuses every connection is unreachable, however the last
    /// attempt and the deadline fall: not "did not answer" (CI saw that once).
    #[tokio::test]
    async fn a_refusing_provider_is_unreachable_not_slow() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        for timeout_ms in [11, 17, 23, 29, 37] {
            let providers = HierarchyProviders::new(
                vec![ProviderConfig::parse(&format!("gone=http://127.0.0.1:{port}/hp")).unwrap()],
                Duration::from_millis(timeout_ms),
            )
            .unwrap();
            let gone = providers.named("gone").unwrap();
            for _ in 0..20 {
                let error = gone.levels(true).await.unwrap_err();
                assert!(
                    matches!(error, ProviderError::Unreachable { .. }),
                    "{timeout_ms} ms: {error}"
                );
            }
        }
    }

    #[test]
    fn an_eid_stays_one_path_segment() {
        let providers = HierarchyProviders::new(
            vec![ProviderConfig::parse("d=http://127.0.0.1:9000/hp").unwrap()],
            Duration::from_secs(1),
        )
        .unwrap();
        let p = providers.named("d").unwrap();
        for (eid, path) in [
            ("a/b", "/hp/hierarchy/users/a%2Fb/membership"),
            ("../levels", "/hp/hierarchy/users/..%2Flevels/membership"),
            ("x?y#z", "/hp/hierarchy/users/x%3Fy%23z/membership"),
            ("%2e%2e", "/hp/hierarchy/users/%252e%252e/membership"),
            ("glu::123", "/hp/hierarchy/users/glu::123/membership"),
        ] {
            let url = p.url(&["hierarchy", "users", eid, "membership"]);
            assert_eq!(url.path(), path, "{eid}");
            assert!(url.query().is_none() && url.fragment().is_none());
        }
    }
}
