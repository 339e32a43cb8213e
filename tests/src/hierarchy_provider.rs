//! A remote Hierarchy Provider on loopback for tests and benchmarks: answers the HP contract
//! from what the test sets, and records every request exactly as it arrived (path still
//! percent-encoded, the Authorization header, the client connection), so tests can see what
//! lm-server sent. It can be told to be slow, fail or answer garbage.

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the provider answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    Answer,
    /// Answers after this long.
    Slow(Duration),
    /// Answers this status.
    Fail(u16),
    /// Answers 200 with a body that is not JSON.
    Garbage,
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The path as sent, percent-encoding intact.
    pub raw_path: String,
    /// The user's EID decoded from `/hierarchy/users/{eid}/membership`, if the path had
    /// that shape.
    pub user: Option<String>,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct Inner {
    levels: Value,
    memberships: HashMap<String, Value>,
    behaviour: Option<Behaviour>,
    token: Option<String>,
    seen: Vec<Seen>,
    peers: HashSet<SocketAddr>,
    record: bool,
    /// `Cache-Control: max-age` of membership answers.
    max_age: Option<u64>,
    /// Requests being answered now, and the most there were at once.
    in_flight: usize,
    most_in_flight: usize,
}

#[derive(Clone)]
pub struct HierarchyProvider {
    /// The base URL to configure: `http://127.0.0.1:PORT/hp`.
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl HierarchyProvider {
    /// Starts one on a free loopback port; it stops with the test's runtime.
    pub async fn start() -> HierarchyProvider {
        let inner = Arc::new(Mutex::new(Inner {
            levels: serde_json::json!({}),
            record: true,
            ..Inner::default()
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Hierarchy Provider");
        let addr = listener.local_addr().expect("local addr");
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(inner.clone());
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .ok();
        });
        HierarchyProvider {
            url: format!("http://{addr}/hp"),
            inner,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().expect("provider state"))
    }

    pub fn set_levels(&self, levels: Value) {
        self.with(|i| i.levels = levels);
    }

    /// What `/hierarchy/users/{user}/membership` answers: a JSON array in either form.
    pub fn set_membership(&self, user: &str, entries: Value) {
        self.with(|i| i.memberships.insert(user.to_owned(), entries));
    }

    /// Membership answers say they may be kept this many seconds (`Cache-Control: max-age`).
    pub fn set_max_age(&self, seconds: Option<u64>) {
        self.with(|i| i.max_age = seconds);
    }

    pub fn behave(&self, behaviour: Behaviour) {
        self.with(|i| i.behaviour = Some(behaviour));
    }

    /// Requests without `Authorization: Bearer TOKEN` get 401.
    pub fn require_token(&self, token: &str) {
        self.with(|i| i.token = Some(token.to_owned()));
    }

    /// Stops recording requests (a benchmark makes millions).
    pub fn stop_recording(&self) {
        self.with(|i| i.record = false);
    }

    /// The most requests it was answering at once.
    pub fn most_at_once(&self) -> usize {
        self.with(|i| i.most_in_flight)
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.with(|i| i.seen.clone())
    }

    /// How many TCP connections clients opened.
    pub fn connections(&self) -> usize {
        self.with(|i| i.peers.len())
    }

    pub fn forget_requests(&self) {
        self.with(|i| {
            i.seen.clear();
            i.peers.clear();
            i.most_in_flight = 0;
        });
    }
}

fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

async fn answer(
    State(inner): State<Arc<Mutex<Inner>>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let raw_path = request.uri().path().to_owned();
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let segments: Vec<&str> = raw_path.split('/').collect();
    let user = match segments.as_slice() {
        ["", "hp", "hierarchy", "users", eid, "membership"] => percent_decode(eid),
        _ => None,
    };
    let (behaviour, body, max_age) = {
        let mut i = inner.lock().expect("provider state");
        if i.record {
            i.seen.push(Seen {
                raw_path: raw_path.clone(),
                user: user.clone(),
                authorization: authorization.clone(),
            });
        }
        i.peers.insert(peer);
        if let Some(token) = &i.token
            && authorization.as_deref() != Some(&format!("Bearer {token}"))
        {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        let body = match (segments.as_slice(), &user) {
            (["", "hp", "hierarchy", "levels"], _) => Some(i.levels.clone()),
            (_, Some(user)) => i.memberships.get(user).cloned(),
            _ => None,
        };
        let max_age = i.max_age.filter(|_| user.is_some());
        i.in_flight += 1;
        i.most_in_flight = i.most_in_flight.max(i.in_flight);
        (
            i.behaviour.clone().unwrap_or(Behaviour::Answer),
            body,
            max_age,
        )
    };
    let response = respond(behaviour, body, max_age).await;
    inner.lock().expect("provider state").in_flight -= 1;
    response
}

async fn respond(behaviour: Behaviour, body: Option<Value>, max_age: Option<u64>) -> Response {
    match behaviour {
        Behaviour::Answer => {}
        Behaviour::Slow(delay) => tokio::time::sleep(delay).await,
        Behaviour::Fail(status) => {
            return StatusCode::from_u16(status)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                .into_response();
        }
        Behaviour::Garbage => return (StatusCode::OK, "<html>oops</html>").into_response(),
    }
    match (body, max_age) {
        (Some(body), Some(seconds)) => (
            [(
                axum::http::header::CACHE_CONTROL,
                format!("max-age={seconds}"),
            )],
            axum::Json(body),
        )
            .into_response(),
        (Some(body), None) => axum::Json(body).into_response(),
        (None, _) => StatusCode::NOT_FOUND.into_response(),
    }
}
