//! A small HTTP client for tests: every call returns the status, headers and parsed body.

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;
use serde_json::Value;

#[derive(Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_value(self.body.clone()).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Reply {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// Asserts an RFC 9457 problem with this status whose `detail` mentions `needle`.
    #[track_caller]
    pub fn expect_problem(self, status: u16, needle: &str) -> Reply {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        let detail = self.body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(needle),
            "detail {detail:?} does not mention {needle:?}"
        );
        self
    }
}

impl Reply {
    async fn read(res: reqwest::Response) -> Reply {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> Client {
        Client {
            base: base.to_owned(),
            token,
            http: reqwest::Client::new(),
        }
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub fn with_token(&self, token: &str) -> Client {
        Client {
            token: Some(token.to_owned()),
            ..self.clone()
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Reply::read(req.send().await.expect("request")).await
    }

    /// POSTs raw bytes with a content type (CSV imports).
    pub async fn post_bytes(&self, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        Reply::read(req.send().await.expect("request")).await
    }

    /// Reads `/v1/licenses` until it answers `status`: what a token or key gets once every
    /// replica has reloaded its users and keys (every 5 s). Fails after 10 s.
    pub async fn until_status(&self, status: u16) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.get("/v1/licenses").await.status != status {
            assert!(
                std::time::Instant::now() < deadline,
                "never answered {status}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::POST, path, Some(body), &[]).await
    }

    pub async fn patch(&self, path: &str, version: i64, body: &Value) -> Reply {
        self.send(
            Method::PATCH,
            path,
            Some(body),
            &[("if-match", &format!("\"{version}\""))],
        )
        .await
    }

    /// PATCHes a JSON body without a version (`If-Match`), as the routes that need none take it.
    pub async fn patch_json(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::PATCH, path, Some(body), &[]).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::PUT, path, Some(body), &[]).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None, &[]).await
    }

    /// DELETE with a JSON body, as the routes that must be confirmed take it.
    pub async fn delete_json(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::DELETE, path, Some(body), &[]).await
    }
}

/// A Server-Sent Events subscription to `/v1/events`.
pub struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

/// What waiting for the next event gave.
#[derive(Debug, PartialEq, Eq)]
pub enum NextEvent {
    Revision(i64),
    TimedOut,
    Ended,
}

impl EventStream {
    /// The revision of the next `revision` event, skipping heartbeats.
    pub async fn next(&mut self, within: std::time::Duration) -> NextEvent {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let data = block.lines().find_map(|l| l.strip_prefix("data:"));
                if block.lines().any(|l| l == "event: revision")
                    && let Some(data) = data
                {
                    let value: Value =
                        serde_json::from_str(data.trim()).expect("event data is JSON");
                    return NextEvent::Revision(value["revision"].as_i64().expect("revision"));
                }
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return NextEvent::TimedOut,
                Ok(Ok(Some(bytes))) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(_) => return NextEvent::Ended,
            }
        }
    }
}

impl Client {
    /// Subscribes to `/v1/events`; panics unless the server answers 200 with an event stream.
    pub async fn events(&self) -> EventStream {
        let mut req = self.http.get(format!("{}/v1/events", self.base));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        let response = req.send().await.expect("subscribe");
        assert_eq!(response.status().as_u16(), 200);
        let kind = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(kind.starts_with("text/event-stream"), "{kind}");
        EventStream {
            response,
            buffer: String::new(),
        }
    }
}
