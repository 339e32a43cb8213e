//! The connection to `lmd`: requests matched to replies by id, and pushed events delivered
//! on a channel. The only I/O the TUI and the CLI do besides the terminal.

use lm_protocol::csv::ImportReport;
use lm_protocol::socket::{
    AuditRequest, ClientFrame, DaemonFrame, Event, ExpiryAlert, HeldPermissions, Hello,
    HolderWindow, HoldersRequest, ImportRequest, LicenseWindow, ListRequest, LoginPrompt,
    MAX_FRAME, NoArgs, PROTOCOL_VERSION, Reply, Request, Status,
};
use lm_protocol::{AuditEntry, License, Page, Problem};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::{mpsc, oneshot};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("lmd is not running at {}; start it with `lmd` (see `lmd --help`)", .0.display())]
    NotRunning(PathBuf),
    #[error("{}", problem_text(.0))]
    Problem(Box<Problem>),
    #[error("lost the connection to lmd: {0}")]
    Io(#[from] std::io::Error),
    #[error("lmd sent something this lm does not understand: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The problem behind the error, when the daemon or the server answered with one.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            ClientError::Problem(p) => Some(p),
            _ => None,
        }
    }

    /// The HTTP-like status of a problem answer.
    pub fn status(&self) -> Option<u16> {
        self.problem().map(|p| p.status)
    }
}

/// `detail` plus the field to blame, in the words a person reads.
pub fn problem_text(p: &Problem) -> String {
    match &p.field {
        Some(field) if !p.detail.contains(field.as_str()) => format!("{field}: {}", p.detail),
        _ if p.detail.is_empty() => p.title.clone(),
        _ => p.detail.clone(),
    }
}

/// The requests waiting for their answer, and once the connection is gone, why.
#[derive(Default)]
struct Waiting {
    replies: HashMap<u64, oneshot::Sender<Result<Reply, ClientError>>>,
    ended: Option<String>,
}

type Pending = Arc<Mutex<Waiting>>;

fn ended(why: &str) -> ClientError {
    ClientError::Io(std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        why.to_owned(),
    ))
}

/// One connection to the daemon. Cloning shares it.
#[derive(Clone)]
pub struct DaemonClient {
    writer: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
    pending: Pending,
    next_id: Arc<std::sync::atomic::AtomicU64>,
    /// What the daemon called itself in its hello.
    pub daemon: String,
}

impl DaemonClient {
    /// Connects to the socket at `path` and exchanges hellos. Events pushed by the daemon
    /// (after [`DaemonClient::subscribe`]) arrive on the returned receiver.
    pub async fn connect(
        path: &Path,
        client_name: &str,
    ) -> Result<(DaemonClient, mpsc::UnboundedReceiver<Event>), ClientError> {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                    ClientError::NotRunning(path.to_owned())
                }
                _ => ClientError::Io(e),
            })?;
        let (read, write) = stream.into_split();
        let pending: Pending = Arc::default();
        let (events_tx, events) = mpsc::unbounded_channel();
        tokio::spawn(read_frames(
            BufReader::new(read),
            pending.clone(),
            events_tx,
        ));
        let mut client = DaemonClient {
            writer: Arc::new(tokio::sync::Mutex::new(write)),
            pending,
            next_id: Arc::default(),
            daemon: String::new(),
        };
        let hello = client
            .request(Request::Hello(Hello {
                version: PROTOCOL_VERSION,
                client: Some(client_name.to_owned()),
            }))
            .await?;
        match hello {
            Reply::Hello { daemon, .. } => client.daemon = daemon,
            other => return Err(ClientError::Protocol(format!("hello answered {other:?}"))),
        }
        Ok((client, events))
    }

    /// Sends one request and waits for its answer.
    pub async fn request(&self, request: Request) -> Result<Reply, ClientError> {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            // Nobody would ever read the answer: fail now rather than wait forever.
            if let Some(why) = &pending.ended {
                return Err(ended(why));
            }
            pending.replies.insert(id, tx);
        }
        let line = ClientFrame { id, request }.encode();
        {
            let mut writer = self.writer.lock().await;
            writer.write_all(line.as_bytes()).await?;
            writer.write_all(b"\n").await?;
        }
        rx.await.unwrap_or_else(|_| {
            let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            Err(ended(
                pending
                    .ended
                    .as_deref()
                    .unwrap_or("lmd closed the connection"),
            ))
        })
    }

    /// Asks the daemon to push sync and change events to this connection.
    pub async fn subscribe(&self) -> Result<(), ClientError> {
        self.request(Request::Subscribe(NoArgs {})).await.map(drop)
    }
}

/// Sends `$request` and answers what `$pattern` binds as `$value`; any other reply is a
/// protocol error.
macro_rules! ask {
    ($client:expr, $request:expr, $pattern:pat => $value:expr) => {
        match $client.request($request).await? {
            $pattern => Ok($value),
            other => Err(ClientError::Protocol(format!(
                "unexpected answer {other:?}"
            ))),
        }
    };
}

/// The requests, each answered with its own type: no caller matches a [`Reply`] by hand.
impl DaemonClient {
    pub async fn status(&self) -> Result<Status, ClientError> {
        ask!(self, Request::Status(NoArgs {}), Reply::Status(status) => status)
    }

    /// Where lmd's memory goes.
    pub async fn footprint(&self) -> Result<lm_protocol::socket::Footprint, ClientError> {
        ask!(self, Request::Footprint(NoArgs {}), Reply::Footprint(footprint) => footprint)
    }

    /// The logged-in user's permissions, as lmd holds them.
    pub async fn permissions(&self) -> Result<HeldPermissions, ClientError> {
        ask!(self, Request::Permissions(NoArgs {}), Reply::Permissions(held) => held)
    }

    /// The expiry alerts in effect, soonest first, and how many there are.
    pub async fn alerts(&self) -> Result<(Vec<ExpiryAlert>, usize), ClientError> {
        ask!(self, Request::Alerts(NoArgs {}), Reply::Alerts { alerts, total } => (alerts, total))
    }

    /// A window of the licenses a list selects.
    pub async fn list(&self, request: ListRequest) -> Result<LicenseWindow, ClientError> {
        ask!(self, Request::List(request), Reply::Licenses(window) => window)
    }

    /// A window of the members a filter selects.
    pub async fn members(
        &self,
        request: lm_protocol::socket::MembersRequest,
    ) -> Result<lm_protocol::socket::MemberWindow, ClientError> {
        ask!(self, Request::Members(request), Reply::Members(window) => window)
    }

    /// A member with everything they hold.
    pub async fn member(
        &self,
        name: &str,
    ) -> Result<lm_protocol::socket::MemberDetail, ClientError> {
        let request = Request::Member(lm_protocol::socket::MemberRef { name: name.into() });
        ask!(self, request, Reply::Member(detail) => *detail)
    }

    /// A report of the Insights, computed by lmd from its cache.
    pub async fn report(
        &self,
        request: lm_protocol::insights::ReportRequest,
    ) -> Result<lm_protocol::insights::Report, ClientError> {
        ask!(self, Request::Report(request), Reply::Report(report) => *report)
    }

    /// A window of a license's holders, from `offset`.
    pub async fn holders(&self, request: HoldersRequest) -> Result<HolderWindow, ClientError> {
        ask!(self, Request::Holders(request), Reply::Holders(window) => window)
    }

    /// A page of the audit log.
    pub async fn audit(&self, request: AuditRequest) -> Result<Page<AuditEntry>, ClientError> {
        ask!(self, Request::Audit(request), Reply::Audit(page) => page)
    }

    /// A request answered with a license: get, create, update, restore, assign, unassign.
    pub async fn license(&self, request: Request) -> Result<License, ClientError> {
        ask!(self, request, Reply::License { license } => *license)
    }

    /// Starts lmd's device login; answers where and with which code to approve it.
    pub async fn login(&self) -> Result<LoginPrompt, ClientError> {
        ask!(self, Request::Login(NoArgs {}), Reply::LoginStarted(prompt) => prompt)
    }

    /// Sends a file to the server's import through lmd.
    pub async fn import(&self, request: ImportRequest) -> Result<ImportReport, ClientError> {
        ask!(self, Request::Import(request), Reply::Imported(report) => report)
    }
}

async fn read_frames(
    mut reader: BufReader<tokio::net::unix::OwnedReadHalf>,
    pending: Pending,
    events: mpsc::UnboundedSender<Event>,
) {
    let mut line = String::new();
    let why = loop {
        line.clear();
        match reader.read_line(&mut line).await {
            Ok(0) => break "lmd closed the connection".to_owned(),
            Err(e) => break format!("reading from lmd failed: {e}"),
            Ok(n) if n > MAX_FRAME + 1 => {
                break format!("lmd sent a message of {n} bytes, over the limit of {MAX_FRAME}");
            }
            Ok(_) => {}
        }
        let frame: DaemonFrame = match serde_json::from_str(line.trim_end()) {
            Ok(frame) => frame,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable frame from lmd");
                continue;
            }
        };
        let (id, result) = match frame {
            DaemonFrame::Event { event } => {
                let _ = events.send(event);
                continue;
            }
            DaemonFrame::Reply { id, body } => (id, Ok(body)),
            DaemonFrame::Error {
                id: Some(id),
                problem,
            } => (id, Err(ClientError::Problem(Box::new(problem)))),
            DaemonFrame::Error { id: None, problem } => {
                tracing::warn!(detail = %problem.detail, "lmd could not read a request");
                continue;
            }
        };
        let waiter = pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replies
            .remove(&id);
        if let Some(waiter) = waiter {
            let _ = waiter.send(result);
        }
    };
    // Whoever still waits learns that the connection is gone.
    tracing::debug!(%why, "connection to lmd ended");
    let mut pending = pending.lock().unwrap_or_else(|e| e.into_inner());
    pending.ended = Some(why);
    pending.replies.clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UnixListener;

    /// A daemon that greets, then sends one line of `last` and hangs up.
    async fn daemon_that_hangs_up(last: Option<String>) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lmd.sock");
        let listener = UnixListener::bind(&path).unwrap();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            let hello = lines.next_line().await.unwrap().unwrap();
            let id = serde_json::from_str::<serde_json::Value>(&hello).unwrap()["id"]
                .as_u64()
                .unwrap();
            let reply = DaemonFrame::Reply {
                id,
                body: Reply::Hello {
                    version: PROTOCOL_VERSION,
                    daemon: "test".into(),
                },
            };
            let mut text = serde_json::to_string(&reply).unwrap();
            text.push('\n');
            if let Some(last) = last {
                text.push_str(&last);
            }
            write.write_all(text.as_bytes()).await.unwrap();
            // Wait for the next request, then go away without answering it.
            let _ = lines.next_line().await;
        });
        (dir, path)
    }

    async fn within_seconds<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(std::time::Duration::from_secs(5), future)
            .await
            .expect("answered, not left waiting")
    }

    #[tokio::test]
    async fn requests_fail_once_the_daemon_hung_up_instead_of_waiting_forever() {
        let (_dir, path) = daemon_that_hangs_up(None).await;
        let (client, _events) = DaemonClient::connect(&path, "test").await.unwrap();
        let first = within_seconds(client.request(Request::Status(NoArgs {}))).await;
        assert!(
            first
                .as_ref()
                .is_err_and(|e| e.to_string().contains("lmd closed the connection")),
            "{first:?}"
        );
        // Later requests fail at once too: nobody is left to read their answers.
        let later = within_seconds(client.request(Request::Status(NoArgs {}))).await;
        assert!(later.is_err(), "{later:?}");
    }

    #[tokio::test]
    async fn an_oversized_message_from_the_daemon_is_named_as_the_reason() {
        let huge = format!("{}\n", "x".repeat(MAX_FRAME + 10));
        let (_dir, path) = daemon_that_hangs_up(Some(huge)).await;
        let (client, _events) = DaemonClient::connect(&path, "test").await.unwrap();
        let error = within_seconds(client.request(Request::Status(NoArgs {})))
            .await
            .unwrap_err();
        assert!(error.to_string().contains("over the limit"), "{error}");
    }
}
