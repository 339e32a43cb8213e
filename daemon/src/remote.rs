//! The daemon's HTTP client of lm-server: the change feed, the live event stream, and the
//! manager edits it forwards. Every failure is sorted into what the sync loop and the socket
//! need to know: the server could not be reached, it refused our credentials, or it answered
//! with a problem that goes back to the client intact.

use futures_util::StreamExt;
use lm_protocol::problem::kinds;
use lm_protocol::socket::kinds as local_kinds;
use lm_protocol::{
    Assignee, AuditEntry, AuditQuery, ChangePage, License, LicenseId, LicensePatch, NewLicense,
    Page, Problem,
};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Debug, Clone, thiserror::Error)]
pub enum RemoteError {
    /// No answer: connection refused, timeout, broken stream.
    #[error("server unreachable: {0}")]
    Unreachable(String),
    /// The server answered with a problem (including 401 for our token).
    #[error("{} ({})", .0.detail, .0.status)]
    Problem(Problem),
}

impl RemoteError {
    pub fn is_unauthenticated(&self) -> bool {
        matches!(self, RemoteError::Problem(p) if p.status == 401)
    }

    /// Whether the server's feed no longer continues from the cursor asked for: its history
    /// was purged past it (410), or the cursor is beyond its newest revision (422 on `after`:
    /// a database restored from elsewhere or made anew). Either way, resync from the start.
    pub fn is_feed_expired(&self) -> bool {
        matches!(self, RemoteError::Problem(p) if p.kind == kinds::FEED_EXPIRED
            || (p.status == 422 && p.field.as_deref() == Some("after")))
    }

    /// The problem to show a socket client.
    pub fn into_problem(self) -> Problem {
        match self {
            RemoteError::Problem(p) => p,
            RemoteError::Unreachable(reason) => Problem::local(
                local_kinds::OFFLINE,
                503,
                "Offline",
                format!(
                    "the server cannot be reached ({reason}); edits need a connection, browsing works offline"
                ),
            ),
        }
    }
}

impl From<RemoteError> for Box<Problem> {
    fn from(e: RemoteError) -> Self {
        Box::new(e.into_problem())
    }
}

pub type Result<T, E = RemoteError> = std::result::Result<T, E>;

/// A connection to one lm-server. The bearer token is shared by every clone and replaced
/// when a login or a refresh brings a new one.
#[derive(Clone)]
pub struct Remote {
    http: reqwest::Client,
    base: String,
    token: std::sync::Arc<std::sync::RwLock<Option<String>>>,
}

/// How long a plain request may take before the server counts as unreachable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

impl Remote {
    pub fn new(base: &str, token: Option<String>) -> Result<Remote, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .user_agent(concat!("lmd/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Remote {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token: std::sync::Arc::new(std::sync::RwLock::new(token)),
        })
    }

    pub fn token(&self) -> Option<String> {
        self.token.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_token(&self, token: Option<String>) {
        *self.token.write().unwrap_or_else(|p| p.into_inner()) = token;
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.request_to(method, format!("{}{path}", self.base))
    }

    /// A request to `url` (of this server) with our token.
    fn request_to(&self, method: Method, url: impl reqwest::IntoUrl) -> RequestBuilder {
        let request = self.http.request(method, url);
        match self.token() {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn send<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T> {
        let response = request
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(unreachable)?;
        let response = check(response).await?;
        response.json().await.map_err(unreachable)
    }

    async fn send_empty(&self, request: RequestBuilder) -> Result<()> {
        let response = request
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(unreachable)?;
        check(response).await.map(drop)
    }

    /// Who the server takes the holder of our token for.
    pub async fn me(&self) -> Result<lm_protocol::Principal> {
        self.send(self.request(Method::GET, "/v1/me")).await
    }

    /// `user`'s permissions, which takes a seat for them if need be; with a signed grant.
    pub async fn permissions(&self, user: &str) -> Result<lm_protocol::hierarchy::Permissions> {
        let mut url = reqwest::Url::parse(&format!("{}/", self.base))
            .map_err(|e| RemoteError::Unreachable(format!("bad server URL: {e}")))?;
        url.path_segments_mut()
            .map_err(|()| RemoteError::Unreachable("bad server URL".into()))?
            .pop_if_empty()
            .extend(["v1", "users", user, "permissions"]);
        self.send(self.request_to(Method::GET, url)).await
    }

    /// The public keys the server signs grants with, as a JWK Set.
    pub async fn grant_keys(&self) -> Result<jsonwebtoken::jwk::JwkSet> {
        self.send(self.request(Method::GET, "/v1/grant-keys")).await
    }

    /// Sends a CSV file to the server's import; its report comes back also when it lists
    /// problems (422: nothing was written).
    pub async fn import(
        &self,
        csv: Vec<u8>,
        dry_run: bool,
    ) -> Result<lm_protocol::csv::ImportReport> {
        let response = self
            .request(Method::POST, "/v1/licenses/import")
            .query(&[("dry_run", dry_run.to_string())])
            .header(reqwest::header::CONTENT_TYPE, "text/csv")
            .body(csv)
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .map_err(unreachable)?;
        if response.status() == StatusCode::UNPROCESSABLE_ENTITY {
            let body = response.bytes().await.map_err(unreachable)?;
            if let Ok(report) = serde_json::from_slice::<lm_protocol::csv::ImportReport>(&body) {
                return Ok(report);
            }
            return Err(RemoteError::Problem(problem_of(
                StatusCode::UNPROCESSABLE_ENTITY,
                &body,
            )));
        }
        let response = check(response).await?;
        response.json().await.map_err(unreachable)
    }

    /// One page of the change feed after `after`.
    /// The feed page after `after`, parsed, and its bytes as they came (the cache keeps
    /// those rather than writing the page out again).
    pub async fn changes(&self, after: i64, limit: u32) -> Result<(ChangePage, Vec<u8>)> {
        self.ask_changes(after, limit).await?.page().await
    }

    /// Asks for the feed page after `after`: answered once the server's headers are in,
    /// which name the next page when more follow, before this one's body is read.
    pub async fn ask_changes(&self, after: i64, limit: u32) -> Result<FeedAnswer> {
        let response = self
            .request(Method::GET, "/v1/changes")
            .query(&[("after", after.to_string()), ("limit", limit.to_string())])
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(unreachable)?;
        let response = check(response).await?;
        let next = response
            .headers()
            .get(reqwest::header::LINK)
            .and_then(|link| link.to_str().ok())
            .and_then(next_after);
        Ok(FeedAnswer { next, response })
    }

    /// Follows `/v1/events`, sending each announced revision to `revisions` until the
    /// stream ends or breaks. Returns once it has ended; the caller reconnects.
    pub async fn follow_events(&self, revisions: &mpsc::Sender<i64>) -> Result<()> {
        let response = self
            .request(Method::GET, "/v1/events")
            .header("Accept", "text/event-stream")
            .send()
            .await
            .map_err(unreachable)?;
        let response = check(response).await?;
        let mut body = response.bytes_stream();
        let mut buffer = Vec::new();
        // A silent stream is a dead one: the server sends a heartbeat every 15 s.
        while let Ok(chunk) = tokio::time::timeout(Duration::from_secs(45), body.next()).await {
            let Some(chunk) = chunk else {
                return Ok(());
            };
            buffer.extend_from_slice(&chunk.map_err(unreachable)?);
            while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=end).collect();
                if let Some(revision) = sse_revision(&line)
                    && revisions.send(revision).await.is_err()
                {
                    return Ok(());
                }
            }
        }
        Err(RemoteError::Unreachable(
            "the event stream went silent".into(),
        ))
    }

    pub async fn create(&self, license: &NewLicense) -> Result<License> {
        self.send(self.request(Method::POST, "/v1/licenses").json(license))
            .await
    }

    pub async fn update(
        &self,
        id: &LicenseId,
        version: i64,
        patch: &LicensePatch,
    ) -> Result<License> {
        self.send(
            self.request(Method::PATCH, &format!("/v1/licenses/{id}"))
                .header("If-Match", format!("\"{version}\""))
                .json(patch),
        )
        .await
    }

    pub async fn remove(&self, id: &LicenseId, version: Option<i64>) -> Result<()> {
        let mut request = self.request(Method::DELETE, &format!("/v1/licenses/{id}"));
        if let Some(version) = version {
            request = request.header("If-Match", format!("\"{version}\""));
        }
        self.send_empty(request).await
    }

    pub async fn restore(&self, id: &LicenseId) -> Result<License> {
        self.send(
            self.request(Method::POST, &format!("/v1/licenses/{id}/restore"))
                .json(&serde_json::json!({})),
        )
        .await
    }

    pub async fn assign(&self, id: &LicenseId, to: &Assignee) -> Result<License> {
        self.send(
            self.request(Method::POST, &format!("/v1/licenses/{id}/assignments"))
                .json(to),
        )
        .await
    }

    pub async fn unassign(&self, id: &LicenseId, assignment: &str) -> Result<()> {
        self.send_empty(self.request(
            Method::DELETE,
            &format!("/v1/licenses/{id}/assignments/{assignment}"),
        ))
        .await
    }

    pub async fn org(&self) -> Result<lm_protocol::Org> {
        self.send(self.request(Method::GET, "/v1/org")).await
    }

    pub async fn change_org(&self, patch: &lm_protocol::OrgPatch) -> Result<lm_protocol::Org> {
        self.send(self.request(Method::PATCH, "/v1/org").json(patch))
            .await
    }

    pub async fn change_member(
        &self,
        name: &str,
        patch: &lm_protocol::MemberPatch,
    ) -> Result<lm_protocol::Member> {
        self.send(
            self.request(Method::PATCH, &format!("/v1/members/{name}"))
                .json(patch),
        )
        .await
    }

    pub async fn offboard(&self, name: &str, dry_run: bool) -> Result<lm_protocol::Offboarding> {
        self.send(
            self.request(Method::POST, &format!("/v1/members/{name}/offboard"))
                .query(&[("dry_run", dry_run)])
                .json(&serde_json::json!({})),
        )
        .await
    }

    pub async fn invite(
        &self,
        invitation: &lm_protocol::NewInvitation,
    ) -> Result<lm_protocol::IssuedInvitation> {
        self.send(
            self.request(Method::POST, "/v1/invitations")
                .json(invitation),
        )
        .await
    }

    pub async fn reset_password(&self, name: &str) -> Result<lm_protocol::IssuedInvitation> {
        self.send(
            self.request(Method::POST, &format!("/v1/members/{name}/password-reset"))
                .json(&serde_json::json!({})),
        )
        .await
    }

    pub async fn audit(&self, query: &AuditQuery) -> Result<Page<AuditEntry>> {
        self.send(
            self.request(Method::GET, "/v1/audit")
                .query(&query.to_query()),
        )
        .await
    }
}

fn unreachable(e: reqwest::Error) -> RemoteError {
    // reqwest's Display is terse ("error sending request"); the source says why.
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        reason = format!("{reason}: {s}");
        source = s.source();
    }
    RemoteError::Unreachable(reason)
}

/// Passes a success through; turns anything else into the server's problem.
/// A feed page whose headers are in: where the next one begins, if the server said so
/// (its `Link: <…after=N…>; rel="next"`), and the page to read.
pub struct FeedAnswer {
    pub next: Option<i64>,
    response: reqwest::Response,
}

impl FeedAnswer {
    /// The page, parsed, and its bytes as they came.
    pub async fn page(self) -> Result<(ChangePage, Vec<u8>)> {
        let raw: Vec<u8> = self.response.bytes().await.map_err(unreachable)?.into();
        let page = serde_json::from_slice(&raw).map_err(|e| {
            RemoteError::Unreachable(format!("the server sent a feed page lmd cannot read: {e}"))
        })?;
        Ok((page, raw))
    }
}

/// The `after` of the page a `Link` header names as the next one.
fn next_after(link: &str) -> Option<i64> {
    let target = link
        .split(',')
        .find(|part| part.contains("rel=\"next\""))?
        .split_once('<')?
        .1
        .split_once('>')?
        .0;
    let query = target.split_once('?')?.1;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("after="))?
        .parse()
        .ok()
}

async fn check(response: reqwest::Response) -> Result<reqwest::Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    if status == StatusCode::BAD_GATEWAY
        || status == StatusCode::SERVICE_UNAVAILABLE
        || status == StatusCode::GATEWAY_TIMEOUT
    {
        return Err(RemoteError::Unreachable(format!(
            "the server answered {status}"
        )));
    }
    let body = response.bytes().await.map_err(unreachable)?;
    Err(RemoteError::Problem(problem_of(status, &body)))
}

/// The problem a failed answer's body holds, or one made of whatever it holds.
fn problem_of(status: StatusCode, body: &[u8]) -> Problem {
    serde_json::from_slice::<Problem>(body).unwrap_or_else(|_| Problem {
        kind: kinds::INTERNAL.into(),
        title: status.canonical_reason().unwrap_or("Error").into(),
        status: status.as_u16(),
        detail: String::from_utf8_lossy(body).chars().take(500).collect(),
        field: None,
        request_id: None,
    })
}

/// The revision of an SSE `data:` line of a `revision` event, e.g. `data: {"revision":42}`.
fn sse_revision(line: &[u8]) -> Option<i64> {
    let line = std::str::from_utf8(line).ok()?.trim_end();
    let data = line.strip_prefix("data:")?.trim();
    #[derive(serde::Deserialize)]
    struct Revision {
        revision: i64,
    }
    serde_json::from_str::<Revision>(data)
        .ok()
        .map(|r| r.revision)
}

#[cfg(test)]
mod tests {
    use super::{next_after, sse_revision};

    #[test]
    fn the_next_page_is_read_from_the_link_header() {
        let link = "</v1/changes?after=340&limit=1000>; rel=\"next\"";
        assert_eq!(next_after(link), Some(340));
        let among = "</x?after=1>; rel=\"prev\", </v1/changes?limit=5&after=77>; rel=\"next\"";
        assert_eq!(next_after(among), Some(77));
        assert_eq!(next_after("</v1/changes?after=x>; rel=\"next\""), None);
        assert_eq!(next_after("</v1/changes?after=3>; rel=\"last\""), None);
    }

    #[test]
    fn reads_revisions_from_event_lines() {
        assert_eq!(sse_revision(b"data: {\"revision\":42}\n"), Some(42));
        assert_eq!(sse_revision(b"data:{\"revision\":7}\r\n"), Some(7));
        assert_eq!(sse_revision(b"event: revision\n"), None);
        assert_eq!(sse_revision(b": heartbeat\n"), None);
    }
}
