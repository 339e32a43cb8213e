//! The connection to `lmd`: requests matched to replies by id, and pushed events delivered
//! on a channel. The only I/O the TUI and the CLI do besides the terminal.

use lm_protocol::Problem;
use lm_protocol::socket::{
    ClientFrame, DaemonFrame, Event, Hello, MAX_FRAME, NoArgs, PROTOCOL_VERSION, Reply, Request,
};
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

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Reply, ClientError>>>>>;

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
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, tx);
        let line = ClientFrame { id, request }.encode();
        {
            let mut writer = self.writer.lock().await;
            writer.write_all(line.as_bytes()).await?;
            writer.write_all(b"\n").await?;
        }
        rx.await.unwrap_or_else(|_| {
            Err(ClientError::Io(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "lmd closed the connection",
            )))
        })
    }

    /// Asks the daemon to push sync and change events to this connection.
    pub async fn subscribe(&self) -> Result<(), ClientError> {
        self.request(Request::Subscribe(NoArgs {})).await.map(drop)
    }
}

async fn read_frames(
    mut reader: BufReader<tokio::net::unix::OwnedReadHalf>,
    pending: Pending,
    events: mpsc::UnboundedSender<Event>,
) {
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => break,
            Ok(n) if n > MAX_FRAME + 1 => break,
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
            .remove(&id);
        if let Some(waiter) = waiter {
            let _ = waiter.send(result);
        }
    }
    // Whoever still waits learns that the connection is gone.
    pending.lock().unwrap_or_else(|e| e.into_inner()).clear();
}
