//! The local socket: newline-delimited JSON between `lmd` and its clients.
//!
//! Only the user who runs the daemon may connect: the socket's directory is 0700, the socket
//! 0600, and every connection's peer uid is checked. Each connection must start with a hello
//! naming [`PROTOCOL_VERSION`]. A bad or oversized line gets an error reply and the
//! connection carries on; one client's trouble never reaches another.
//!
//! One job per file: here the socket, its connections and the license requests; `people`
//! the requests about members and the organization.

mod lines;
mod people;

use lines::{Line, read_line};

use crate::login::Logins;
use crate::shared::Shared;
use chrono::Utc;
use lm_protocol::socket::{
    AssignRequest, AuditRequest, ClientFrame, CreateRequest, DaemonFrame, Hello, HolderWindow,
    HoldersRequest, ImportRequest, LicenseRef, LicenseWindow, ListRequest, MAX_FRAME,
    MAX_LIST_LIMIT, PROTOCOL_VERSION, RemoveRequest, Reply, Request, UnassignRequest,
    UpdateRequest, keep_within_frame, kinds,
};
use lm_protocol::{License, LicenseId, Problem};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, watch};

/// How long an edit waits for its change to reach the cache before replying anyway.
const EDIT_VISIBLE_WITHIN: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("another lmd is already serving {0}")]
    InUse(PathBuf),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0} belongs to another user; refusing to use it")]
    NotOurs(PathBuf),
}

/// Binds the socket at `path`: creates its directory (0700), replaces a stale socket left by
/// a crashed daemon, and refuses to start when a live daemon answers there. A shared
/// directory (sticky, like /tmp) is left as it is: the socket is 0600 and peers are checked.
pub async fn bind(path: &Path) -> Result<UnixListener, BindError> {
    let io_err = |source| BindError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_err)?;
        let meta = std::fs::metadata(dir).map_err(io_err)?;
        if !crate::private_dir::is_shared(&meta) {
            if meta.uid() != rustix::process::getuid().as_raw() {
                return Err(BindError::NotOurs(dir.to_owned()));
            }
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(io_err)?;
        }
    }
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(BindError::InUse(path.to_owned()));
        }
        tracing::info!(socket = %path.display(), "replacing a stale socket");
        std::fs::remove_file(path).map_err(io_err)?;
    }
    let listener = UnixListener::bind(path).map_err(io_err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io_err)?;
    Ok(listener)
}

/// Accepts connections until shutdown.
/// Logins (`login`, `logout`) go to `logins`.
pub async fn serve(
    listener: UnixListener,
    shared: Arc<Shared>,
    logins: Arc<Logins>,
    mut shutdown: watch::Receiver<bool>,
) {
    let uid = rustix::process::getuid().as_raw();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        match stream.peer_cred() {
            Ok(cred) if cred.uid() == uid => {}
            Ok(cred) => {
                tracing::warn!(
                    peer_uid = cred.uid(),
                    "refused a connection from another user"
                );
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot identify a peer; refused");
                continue;
            }
        }
        let (shared, logins) = (shared.clone(), logins.clone());
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            if let Err(e) = Connection::new(shared, logins).run(stream, shutdown).await {
                tracing::debug!(error = %e, "client connection ended");
            }
        });
    }
}

struct Connection {
    shared: Arc<Shared>,
    logins: Arc<Logins>,
    greeted: bool,
}

impl Connection {
    fn new(shared: Arc<Shared>, logins: Arc<Logins>) -> Connection {
        Connection {
            shared,
            logins,
            greeted: false,
        }
    }

    async fn run(
        mut self,
        stream: UnixStream,
        mut shutdown: watch::Receiver<bool>,
    ) -> io::Result<()> {
        let (read, mut write) = stream.into_split();
        let (out, mut outgoing) = mpsc::channel::<DaemonFrame>(256);
        let writer = tokio::spawn(async move {
            while let Some(frame) = outgoing.recv().await {
                let mut line = serde_json::to_vec(&frame).expect("frames always serialize");
                if line.len() > MAX_FRAME {
                    line = oversized(&frame, line.len());
                }
                line.push(b'\n');
                if write.write_all(&line).await.is_err() {
                    break;
                }
            }
        });
        let mut reader = BufReader::new(read);
        let mut subscription: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            let line = tokio::select! {
                line = read_line(&mut reader) => line?,
                _ = shutdown.wait_for(|stop| *stop) => break,
            };
            let frame = match line {
                Line::End => break,
                Line::TooLong => DaemonFrame::Error {
                    id: None,
                    problem: Problem::local(
                        kinds::BAD_REQUEST,
                        413,
                        "Message too large",
                        format!("a message may be at most {MAX_FRAME} bytes; it was skipped"),
                    ),
                },
                Line::Text(text) if text.trim().is_empty() => continue,
                Line::Text(text) => match ClientFrame::parse(&text) {
                    Err(e) => DaemonFrame::Error {
                        id: e.id,
                        problem: Problem::local(kinds::BAD_REQUEST, 400, "Bad request", e.message),
                    },
                    Ok(ClientFrame { id, request }) => {
                        if matches!(request, Request::Subscribe(_)) && subscription.is_none() {
                            subscription = Some(self.subscribe(out.clone()));
                        }
                        match self.handle(request).await {
                            Ok(body) => DaemonFrame::Reply { id, body },
                            Err(problem) => DaemonFrame::Error {
                                id: Some(id),
                                problem: *problem,
                            },
                        }
                    }
                },
            };
            if out.send(frame).await.is_err() {
                break;
            }
        }
        if let Some(task) = subscription {
            task.abort();
        }
        drop(out);
        let _ = writer.await;
        Ok(())
    }

    /// Forwards bus events to this client until it goes away.
    fn subscribe(&self, out: mpsc::Sender<DaemonFrame>) -> tokio::task::JoinHandle<()> {
        let mut events = self.shared.events.subscribe();
        let shared = self.shared.clone();
        tokio::spawn(async move {
            loop {
                let event = match events.recv().await {
                    Ok(event) => event,
                    // Too slow to keep up: skip ahead; the status tells where things stand.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        lm_protocol::socket::Event::Sync(shared.status())
                    }
                    Err(_) => return,
                };
                if out.send(DaemonFrame::Event { event }).await.is_err() {
                    return;
                }
            }
        })
    }

    async fn handle(&mut self, request: Request) -> Result<Reply, Box<Problem>> {
        if let Request::Hello(Hello { version, .. }) = request {
            if version != PROTOCOL_VERSION {
                return Err(Box::new(Problem::local(
                    kinds::PROTOCOL,
                    400,
                    "Protocol version mismatch",
                    format!(
                        "this lmd speaks protocol {PROTOCOL_VERSION}, the client {version}; update the older one"
                    ),
                )));
            }
            self.greeted = true;
            return Ok(Reply::Hello {
                version: PROTOCOL_VERSION,
                daemon: concat!("lmd ", env!("CARGO_PKG_VERSION")).into(),
            });
        }
        if !self.greeted {
            return Err(Box::new(Problem::local(
                kinds::PROTOCOL,
                400,
                "Hello first",
                format!("start with {{\"id\":1,\"op\":\"hello\",\"version\":{PROTOCOL_VERSION}}}"),
            )));
        }
        let shared = &*self.shared;
        match request {
            Request::Hello(_) => unreachable!("handled above"),
            Request::Status(_) => Ok(Reply::Status(shared.status())),
            Request::Subscribe(_) => Ok(Reply::Subscribed),
            Request::List(ListRequest {
                filter,
                sort,
                offset,
                limit,
                within,
            }) => {
                if limit == 0 || limit > MAX_LIST_LIMIT {
                    return Err(field_problem(
                        "limit",
                        format!("must be from 1 to {MAX_LIST_LIMIT}"),
                    ));
                }
                let filter = filter.normalized();
                if let Err(e) = filter.check() {
                    return Err(field_problem(&e.field, e.message));
                }
                let started = std::time::Instant::now();
                let today = Utc::now().date_naive();
                let (total, mut items) = match &within {
                    Some(group) => shared.cache.list_within(
                        group,
                        &filter,
                        sort,
                        offset..offset.saturating_add(limit),
                        today,
                    ),
                    None => shared.cache.list(&filter, sort, offset, limit, today),
                };
                // The rest of a long answer is for the next window (offset + items).
                keep_within_frame(&mut items);
                tracing::debug!(
                    total,
                    rows = items.len(),
                    micros = started.elapsed().as_micros() as u64,
                    "listed"
                );
                Ok(Reply::Licenses(LicenseWindow {
                    items,
                    total,
                    offset,
                }))
            }
            Request::Get(LicenseRef { license }) => shared
                .cache
                .get(&license)
                .map(|l| Reply::License {
                    license: Box::new(l),
                })
                .ok_or_else(|| not_found(&license)),
            Request::Create(CreateRequest { license }) => {
                let created = self.remote()?.create(&license).await?;
                Ok(self.when_cached(created).await)
            }
            Request::Update(UpdateRequest {
                license,
                version,
                patch,
            }) => {
                let updated = self.remote()?.update(&license, version, &patch).await?;
                Ok(self.when_cached(updated).await)
            }
            Request::Remove(RemoveRequest { license, version }) => {
                self.remote()?.remove(&license, version).await?;
                self.wait_until(|| shared.cache.get(&license).is_none())
                    .await;
                Ok(Reply::Done)
            }
            Request::Restore(LicenseRef { license }) => {
                let restored = self.remote()?.restore(&license).await?;
                Ok(self.when_cached(restored).await)
            }
            Request::Assign(AssignRequest { license, to }) => {
                let assigned = self.remote()?.assign(&license, &to).await?;
                Ok(self.when_cached(assigned).await)
            }
            Request::Unassign(UnassignRequest {
                license,
                assignment,
                from,
            }) => {
                let assignment = match (assignment, from) {
                    (Some(assignment), None) => assignment,
                    (None, Some(who)) => {
                        let Some(held) = shared.cache.holder(&license, &who) else {
                            return Err(match shared.cache.get(&license) {
                                None => not_found(&license),
                                Some(l) => field_problem(
                                    "from",
                                    format!("“{}” is not assigned to {who}", l.name),
                                ),
                            });
                        };
                        held.id
                    }
                    _ => {
                        return Err(field_problem(
                            "assignment",
                            "name the assignment to end, or whom it is `from`, not both".into(),
                        ));
                    }
                };
                let remote = self.remote()?;
                remote.unassign(&license, assignment.as_str()).await?;
                self.wait_until(|| !shared.cache.has_assignment(&license, &assignment))
                    .await;
                Ok(Reply::Done)
            }
            Request::Holders(HoldersRequest { license, offset }) => {
                if shared.cache.get(&license).is_none() {
                    return Err(not_found(&license));
                }
                let (total, mut items) = shared.cache.holders(&license, offset, MAX_LIST_LIMIT);
                // The rest of a long answer is for the next window (offset + items).
                keep_within_frame(&mut items);
                Ok(Reply::Holders(HolderWindow {
                    items,
                    total,
                    offset,
                }))
            }
            Request::Audit(AuditRequest { query }) => {
                let mut page = self.remote()?.audit(&query).await?;
                if keep_within_frame(&mut page.items) {
                    // The server's cursor is the id of the last entry given (older come next).
                    page.next = page.items.last().map(|e| e.id.to_string());
                }
                Ok(Reply::Audit(page))
            }
            Request::Login(_) => {
                let prompt = self.logins.start(self.shared.clone()).await?;
                Ok(Reply::LoginStarted(prompt))
            }
            Request::Logout(_) => {
                self.logins.logout(shared).await?;
                Ok(Reply::Done)
            }
            Request::Import(ImportRequest { path, dry_run }) => {
                let csv = crate::import_file::read(&path).await?;
                let report = self.remote()?.import(csv, dry_run).await?;
                if !report.dry_run && report.problems.is_empty() {
                    // Fetch the imported licenses now rather than at the next event.
                    shared.sync_now.notify_one();
                }
                Ok(Reply::Imported(report))
            }
            Request::Permissions(_) => {
                Ok(Reply::Permissions(crate::grant::permissions(shared).await?))
            }
            Request::Report(request) => {
                let filter = request.filter.normalized();
                if let Err(e) = filter.check() {
                    return Err(field_problem(&e.field, e.message));
                }
                if let Err(e) = request.params.check() {
                    return Err(field_problem(&e.field, e.message));
                }
                let request = lm_protocol::insights::ReportRequest { filter, ..request };
                let started = std::time::Instant::now();
                let report = shared.cache.report(&request, Utc::now().date_naive());
                tracing::debug!(
                    report = request.report.as_str(),
                    micros = started.elapsed().as_micros() as u64,
                    "reported"
                );
                Ok(Reply::Report(Box::new(report)))
            }
            Request::Footprint(_) => {
                // Counting walks every license: off the runtime's threads.
                let cache = shared.cache.clone();
                let footprint = tokio::task::spawn_blocking(move || cache.footprint())
                    .await
                    .map_err(|e| {
                        Box::new(Problem::local(
                            lm_protocol::problem::kinds::INTERNAL,
                            500,
                            "Counting the memory failed",
                            e.to_string(),
                        ))
                    })?;
                Ok(Reply::Footprint(footprint))
            }
            Request::Members(_)
            | Request::Member(_)
            | Request::ChangeMember(_)
            | Request::Offboard(_)
            | Request::Invite(_)
            | Request::ResetPassword(_)
            | Request::Org(_)
            | Request::ChangeOrg(_) => self.people(request).await,
            Request::Alerts(_) => {
                // A pass over the whole inventory: off the runtime's threads.
                let reading = self.shared.clone();
                let mut alerts =
                    tokio::task::spawn_blocking(move || crate::alerts::current(&reading))
                        .await
                        .map_err(|e| {
                            Box::new(Problem::local(
                                lm_protocol::problem::kinds::INTERNAL,
                                500,
                                "Listing the alerts failed",
                                e.to_string(),
                            ))
                        })?;
                let total = alerts.len();
                alerts.truncate(lm_protocol::socket::MAX_ALERTS_LISTED);
                Ok(Reply::Alerts { alerts, total })
            }
        }
    }

    fn remote(&self) -> Result<&crate::remote::Remote, Box<Problem>> {
        let remote = &self.shared.remote;
        if remote.token().is_none() {
            return Err(Box::new(Problem::local(
                kinds::LOGIN_REQUIRED,
                401,
                "Login required",
                "lmd is not logged in to the server; run `lm login`",
            )));
        }
        if let Some(since) = self.shared.offline_since() {
            return Err(Box::new(Problem::local(
                kinds::OFFLINE,
                503,
                "Offline",
                format!(
                    "the server is unreachable since {}; edits need a connection, browsing works offline",
                    since.format("%Y-%m-%d %H:%M:%S UTC")
                ),
            )));
        }
        Ok(remote)
    }

    /// Replies with the server's answer once the change feed has brought it into the cache,
    /// so that a list right after an edit shows it.
    async fn when_cached(&self, license: License) -> Reply {
        let revision = license.revision;
        self.shared.sync_now.notify_one();
        let mut applied = self.shared.applied.subscribe();
        let _ =
            tokio::time::timeout(EDIT_VISIBLE_WITHIN, applied.wait_for(|c| *c >= revision)).await;
        Reply::License {
            license: Box::new(license),
        }
    }

    async fn wait_until(&self, done: impl Fn() -> bool) {
        self.shared.sync_now.notify_one();
        let mut applied = self.shared.applied.subscribe();
        let _ = tokio::time::timeout(EDIT_VISIBLE_WITHIN, applied.wait_for(|_| done())).await;
    }
}

/// What a client gets instead of a frame longer than it would read: an error for the
/// request it answers (an event that long is dropped with the same error, with no id).
fn oversized(frame: &DaemonFrame, size: usize) -> Vec<u8> {
    let id = match frame {
        DaemonFrame::Reply { id, .. } => Some(*id),
        DaemonFrame::Error { id, .. } => *id,
        DaemonFrame::Event { .. } => None,
    };
    tracing::warn!(size, ?id, "an answer over the frame limit was not sent");
    let error = DaemonFrame::Error {
        id,
        problem: Problem::local(
            kinds::BAD_REQUEST,
            413,
            "Answer too large",
            format!("the answer was {size} bytes, over the {MAX_FRAME}-byte limit of a message"),
        ),
    };
    serde_json::to_vec(&error).expect("frames always serialize")
}

fn field_problem(field: &str, message: String) -> Box<Problem> {
    Box::new(Problem {
        field: Some(field.into()),
        ..Problem::local(
            lm_protocol::problem::kinds::VALIDATION,
            422,
            "Invalid request",
            format!("{field}: {message}"),
        )
    })
}

fn not_found(id: &LicenseId) -> Box<Problem> {
    Box::new(Problem::local(
        lm_protocol::problem::kinds::NOT_FOUND,
        404,
        "Not found",
        format!("no license {id} in the cache"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket put in a shared folder (sticky and open to all, like /tmp) leaves the folder
    /// as it was: the socket itself is the owner's only, and every peer's uid is checked.
    #[tokio::test]
    async fn a_socket_in_a_shared_folder_leaves_the_folder_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let path = shared.join("lmd.sock");
        let _listener = bind(&path).await.unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&shared), 0o1777, "the shared folder is untouched");
        assert_eq!(mode(&path), 0o600);
        // A folder of lmd's own is still made 0700.
        let own = dir.path().join("run").join("lmd.sock");
        let _own = bind(&own).await.unwrap();
        assert_eq!(mode(own.parent().unwrap()), 0o700);
    }
}
