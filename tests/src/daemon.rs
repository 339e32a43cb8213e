//! A real `lmd` process with its own socket and cache in a temporary directory, and a client
//! that speaks the socket protocol the way `lm` does.

use lm_protocol::socket::{
    ClientFrame, Connection, DaemonFrame, Event, Hello, LicenseWindow, ListRequest, NoArgs,
    PROTOCOL_VERSION, Reply, Request, Status,
};
use lm_protocol::{LicenseFilter, Problem};
use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

pub struct Daemon {
    pub socket: PathBuf,
    pub cache_dir: PathBuf,
    server_url: String,
    dir: TempDir,
    child: Option<Child>,
    launches: u32,
    /// `DBUS_SESSION_BUS_ADDRESS`: none by default, so tests never notify a real desktop.
    bus: String,
}

impl Daemon {
    /// Starts `lmd` with its desktop notifications going to the session bus at `bus`.
    pub async fn start_on_bus(server_url: &str, token: &str, bus: &str) -> Daemon {
        let mut daemon = Daemon::prepare(server_url, token);
        daemon.bus = bus.to_owned();
        daemon.launch().await;
        daemon
    }

    /// From the next launch on, uses the session bus at `bus`.
    pub fn move_to_bus(&mut self, bus: &str) {
        self.bus = bus.to_owned();
    }

    /// Starts `lmd` without credentials on the session bus at `bus` (where a keyring may
    /// run): it waits for `lm login`.
    pub async fn start_logged_out_on_bus(server_url: &str, bus: &str) -> Daemon {
        Daemon::start_on_bus(server_url, "", bus).await
    }

    /// Starts `lmd` against `server_url` without credentials: it waits for `lm login`.
    pub async fn start_logged_out(server_url: &str) -> Daemon {
        Daemon::start(server_url, "").await
    }

    /// Starts `lmd` without credentials and with `config` (TOML lines) added to its settings.
    pub async fn start_logged_out_with(server_url: &str, config: &str) -> Daemon {
        let mut daemon = Daemon::prepare(server_url, "");
        let path = daemon.config_file();
        let mut settings = std::fs::read_to_string(&path).expect("config");
        settings.push_str(config);
        std::fs::write(&path, settings).expect("config");
        daemon.launch().await;
        daemon
    }

    /// Starts `lmd` against `server_url` with `token`, and waits until its socket answers.
    pub async fn start(server_url: &str, token: &str) -> Daemon {
        let mut daemon = Daemon::prepare(server_url, token);
        daemon.launch().await;
        daemon
    }

    /// A daemon's directory, token and settings, not started yet.
    fn prepare(server_url: &str, token: &str) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, token).expect("token file");
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600))
            .expect("chmod token");
        Daemon {
            socket: dir.path().join("run").join("lmd.sock"),
            cache_dir: dir.path().join("cache"),
            server_url: server_url.to_owned(),
            dir,
            child: None,
            launches: 0,
            bus: "unix:path=/nonexistent/lm-tests-bus".into(),
        }
    }

    /// Starts (again) the same daemon: same socket, cache and token.
    pub async fn launch(&mut self) {
        self.launches += 1;
        let child = self
            .command()
            .stderr(self.log_file())
            .spawn()
            .expect("spawn lmd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if UnixStream::connect(&self.socket).await.is_ok() {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("lmd exited with {status}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "lmd did not open its socket:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The `lmd` command line this daemon runs with (for tests that start a second one).
    pub fn command(&self) -> Command {
        let mut command = Command::new(crate::binary("lmd"));
        command
            .args(["--server", &self.server_url])
            .arg("--token-file")
            .arg(self.dir.path().join("token"))
            .arg("--socket")
            .arg(&self.socket)
            .arg("--cache-dir")
            .arg(&self.cache_dir)
            .arg("--login-file")
            .arg(self.login_file())
            .arg("--config")
            .arg(self.config_file())
            .env("LM_LOG", "lm_daemon=debug,info")
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
            .env_remove("LM_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        command
    }

    /// Where this daemon keeps a login.
    pub fn login_file(&self) -> PathBuf {
        self.dir.path().join("login.json")
    }

    fn config_file(&self) -> PathBuf {
        let path = self.dir.path().join("lmd.toml");
        if !path.exists() {
            // Short retries so the offline tests do not wait long for a reconnect.
            std::fs::write(&path, "poll_interval = \"30s\"\nmax_backoff = \"500ms\"\n")
                .expect("config");
        }
        path
    }

    fn log_file(&self) -> File {
        File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("lmd.log"))
            .expect("log file")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("lmd.log")).unwrap_or_default()
    }

    /// A client that has said hello.
    /// Runs `lm ARGS --json`-style commands against this daemon and reads their JSON;
    /// fails the test, with lm's error, when lm failed.
    pub fn lm_json<T: serde::de::DeserializeOwned>(&self, args: &[&str]) -> T {
        let output = self.lm(args);
        assert!(
            output.status.success(),
            "lm {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("lm --json prints JSON")
    }

    /// Runs `lm ARGS` against this daemon; answers what it did.
    pub fn lm(&self, args: &[&str]) -> std::process::Output {
        Command::new(crate::binary("lm"))
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run lm")
    }

    pub async fn connect(&self) -> SocketClient {
        let mut client = SocketClient::connect(&self.socket)
            .await
            .unwrap_or_else(|e| panic!("connect to lmd: {e}\n{}", self.log()));
        client
            .request(Request::Hello(Hello {
                version: PROTOCOL_VERSION,
                client: Some("lm-tests".into()),
            }))
            .await
            .expect("hello");
        client
    }

    /// The process id of the running daemon.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `kill -9`: no chance to flush or clean up.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM; whether it exited successfully within 10 s.
    pub fn stop(&mut self) -> bool {
        self.child.take().is_none_or(crate::terminate)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One connection to a daemon's socket.
pub struct SocketClient {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_id: u64,
    /// Events that arrived while waiting for a reply.
    events: VecDeque<Event>,
}

impl SocketClient {
    pub async fn connect(path: &Path) -> std::io::Result<SocketClient> {
        let (read, writer) = UnixStream::connect(path).await?.into_split();
        Ok(SocketClient {
            reader: BufReader::new(read),
            writer,
            next_id: 1,
            events: VecDeque::new(),
        })
    }

    /// Sends a raw line (no newline needed) and returns the next reply or error frame.
    pub async fn send_line(&mut self, line: &str) -> DaemonFrame {
        self.writer.write_all(line.as_bytes()).await.expect("write");
        self.writer.write_all(b"\n").await.expect("write");
        loop {
            match self.read_frame().await {
                DaemonFrame::Event { event } => self.events.push_back(event),
                frame => return frame,
            }
        }
    }

    async fn read_frame(&mut self) -> DaemonFrame {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(30), self.reader.read_line(&mut line))
            .await
            .expect("lmd answered within 30 s")
            .expect("read");
        assert!(n > 0, "lmd closed the connection");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad frame {line:?}: {e}"))
    }

    pub async fn request(&mut self, request: Request) -> Result<Reply, Problem> {
        let id = self.next_id;
        self.next_id += 1;
        let line = ClientFrame { id, request }.encode();
        match self.send_line(&line).await {
            DaemonFrame::Reply { id: got, body } => {
                assert_eq!(got, id, "replies come in request order");
                Ok(body)
            }
            DaemonFrame::Error { id: got, problem } => {
                assert_eq!(got, Some(id), "errors echo the request id");
                Err(problem)
            }
            DaemonFrame::Event { .. } => unreachable!(),
        }
    }

    pub async fn status(&mut self) -> Status {
        match self.request(Request::Status(NoArgs {})).await {
            Ok(Reply::Status(status)) => status,
            other => panic!("status: {other:?}"),
        }
    }

    /// Polls the status until `done` holds, for at most `within`.
    pub async fn wait_for(&mut self, within: Duration, done: impl Fn(&Status) -> bool) -> Status {
        let deadline = Instant::now() + within;
        loop {
            let status = self.status().await;
            if done(&status) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "status never got there; last: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the daemon follows the server live.
    pub async fn wait_live(&mut self) -> Status {
        self.wait_for(Duration::from_secs(60), |s| {
            s.connection == Connection::Live
        })
        .await
    }

    pub async fn list(&mut self, filter: LicenseFilter, limit: usize) -> LicenseWindow {
        match self
            .request(Request::List(ListRequest {
                filter,
                limit,
                ..ListRequest::default()
            }))
            .await
        {
            Ok(Reply::Licenses(window)) => window,
            other => panic!("list: {other:?}"),
        }
    }

    /// Every license `filter` selects, in the default order, fetched window by window (lmd
    /// puts in one reply only what fits a socket message).
    pub async fn list_all(&mut self, filter: LicenseFilter) -> Vec<lm_protocol::License> {
        let mut all = Vec::new();
        loop {
            let window = match self
                .request(Request::List(ListRequest {
                    filter: filter.clone(),
                    offset: all.len(),
                    limit: lm_protocol::socket::MAX_LIST_LIMIT,
                    ..ListRequest::default()
                }))
                .await
            {
                Ok(Reply::Licenses(window)) => window,
                other => panic!("list: {other:?}"),
            };
            let got = window.items.len();
            all.extend(window.items);
            if got == 0 || all.len() >= window.total {
                return all;
            }
        }
    }

    /// The next pushed event, if one comes within `within`.
    pub async fn next_event(&mut self, within: Duration) -> Option<Event> {
        if let Some(event) = self.events.pop_front() {
            return Some(event);
        }
        let mut line = String::new();
        match tokio::time::timeout(within, self.reader.read_line(&mut line)).await {
            Err(_) | Ok(Ok(0)) | Ok(Err(_)) => None,
            Ok(Ok(_)) => match serde_json::from_str::<DaemonFrame>(&line) {
                Ok(DaemonFrame::Event { event }) => Some(event),
                other => panic!("expected an event, got {other:?}"),
            },
        }
    }
}
