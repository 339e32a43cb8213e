//! A real `lm-server` process on a loopback port, over a fresh SQLite file or PostgreSQL
//! database, stopped when dropped.

use crate::direct_db::{DirectDb, WriteHold};
use crate::http::Client;
use std::fs::File;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The password [`Server::give_password`] gives.
pub const PASSWORD: &str = "correct horse battery staple";

pub struct Server {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// The issuer its tokens name: `http://lm.test` unless started reachable.
    pub public_url: String,
    pub database_url: String,
    dir: TempDir,
    child: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

impl Server {
    /// A server with the rate limit off (tests send bursts).
    pub async fn start(backend: Backend) -> Server {
        Server::start_with(backend, &["--rate-limit", "0"]).await
    }

    pub async fn start_with(backend: Backend, extra: &[&str]) -> Server {
        let mut server = Server::stopped(backend).await;
        server.launch(extra).await;
        server
    }

    /// A server whose public URL (the token issuer, and the base of the URLs its discovery
    /// document names) is its real loopback address, so that OAuth clients can follow them.
    pub async fn start_reachable(backend: Backend, extra: &[&str]) -> Server {
        let mut server = Server::stopped(backend).await;
        let port = free_port();
        let public = format!("http://127.0.0.1:{port}");
        server.public_url = public;
        server.launch_on(port, extra).await;
        server
    }

    /// A fresh database without a running server yet: administrative commands (`admin`,
    /// `user`) work; [`Server::launch`] starts serving it.
    pub async fn stopped(backend: Backend) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let database_url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("lm.db").display()),
            Backend::Postgres => crate::pg::fresh_database().await,
        };
        Server {
            url: String::new(),
            public_url: "http://lm.test".into(),
            database_url,
            dir,
            child: None,
        }
    }

    /// A SQLite server serving `licenses` seeded sample licenses of the organization `acme`,
    /// unthrottled, and a token of its manager `alice`: what the benchmarks start from.
    pub async fn seeded_for_benchmarks(licenses: usize) -> (Server, String) {
        let mut server = Server::stopped(Backend::Sqlite).await;
        server
            .admin(&["user", "add", "alice", "--role", "manager", "--org", "acme"])
            .expect("user add");
        server
            .admin(&["seed", "--org", "acme", "--licenses", &licenses.to_string()])
            .expect("seed");
        server.launch(&["--rate-limit", "0"]).await;
        let token = server.login("alice").token().expect("a token").to_owned();
        (server, token)
    }

    /// A second server process on the same database (a replica).
    pub async fn replica(&self, extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut server = Server {
            url: String::new(),
            public_url: self.public_url.clone(),
            database_url: self.database_url.clone(),
            dir,
            child: None,
        };
        server.launch(extra).await;
        server
    }

    /// Starts `lm-server serve` on a free loopback port and waits until it is healthy.
    pub async fn launch(&mut self, extra: &[&str]) {
        self.launch_on(free_port(), extra).await;
    }

    /// Starts the server again on the port it had, after [`Server::stop`].
    pub async fn relaunch(&mut self, extra: &[&str]) {
        let port = self
            .url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the server ran before");
        self.launch_on(port, extra).await;
    }

    async fn launch_on(&mut self, port: u16, extra: &[&str]) {
        self.url = format!("http://127.0.0.1:{port}");
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .expect("log file");
        let child = Command::new(crate::binary("lm-server"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .env("LM_DATABASE_URL", &self.database_url)
            .env("LM_PUBLIC_URL", &self.public_url)
            .env("LM_DB_CONNECTIONS", "4")
            .env("LM_LOG", "lm_server=debug,info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn lm-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        let http = reqwest::Client::new();
        loop {
            if let Ok(r) = http.get(format!("{}/health", self.url)).send().await
                && r.status().is_success()
            {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("lm-server exited with {status}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "lm-server did not become healthy:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Runs an administrative `lm-server` command on this server's database; returns stdout.
    pub fn admin(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(crate::binary("lm-server"))
            .args(args)
            .env("LM_DATABASE_URL", &self.database_url)
            .env("LM_PUBLIC_URL", &self.public_url)
            .env("LM_LOG", "warn")
            .output()
            .expect("run lm-server");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Runs an administrative command with `input` on its standard input (passwords).
    pub fn admin_with_input(&self, args: &[&str], input: &str) -> Result<String, String> {
        use std::io::Write;
        let mut child = Command::new(crate::binary("lm-server"))
            .args(args)
            .env("LM_DATABASE_URL", &self.database_url)
            .env("LM_PUBLIC_URL", &self.public_url)
            .env("LM_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run lm-server");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        let out = child.wait_with_output().expect("wait");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Adds a user and returns a client holding a fresh token for them.
    pub fn user(&self, name: &str, role: &str, org: &str) -> Client {
        self.admin(&["user", "add", name, "--role", role, "--org", org])
            .expect("user add");
        self.login(name)
    }

    /// Adds a user and returns a fresh bearer token for them.
    pub fn token(&self, name: &str, role: &str, org: &str) -> String {
        self.admin(&["user", "add", name, "--role", role, "--org", org])
            .expect("user add");
        self.admin(&["token", "issue", "--user", name])
            .expect("token issue")
    }

    /// A client with a fresh token for an existing user.
    pub fn login(&self, name: &str) -> Client {
        let token = self
            .admin(&["token", "issue", "--user", name])
            .expect("token issue");
        self.client(Some(token))
    }

    pub fn manager(&self, name: &str) -> Client {
        self.user(name, "manager", "acme")
    }

    /// Gives user `name` the password [`PASSWORD`], to sign in with on the server's pages.
    pub fn give_password(&self, name: &str) {
        self.admin_with_input(&["user", "passwd", name], &format!("{PASSWORD}\n"))
            .expect("passwd");
    }

    pub fn employee(&self, name: &str) -> Client {
        self.user(name, "employee", "acme")
    }

    pub fn client(&self, token: Option<String>) -> Client {
        Client::new(&self.url, token)
    }

    /// The server's active signing key: (kid, PKCS#8 DER, public key as base64url). Tests use it to forge tokens
    /// that are correctly signed but wrong in one other way.
    pub async fn signing_key(&self) -> (String, Vec<u8>, String) {
        use base64::Engine;
        let sql = "SELECT kid, private_pkcs8, public_key FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1";
        let (kid, pkcs8, public): (String, String, String) = DirectDb::connect(&self.database_url)
            .await
            .rows(sql)
            .await
            .into_iter()
            .next()
            .expect("signing key");
        (
            kid,
            base64::engine::general_purpose::STANDARD
                .decode(pkcs8)
                .expect("base64 key"),
            public,
        )
    }

    /// The server process's resident memory now, in MiB (Linux `/proc`).
    pub fn resident_mib(&self) -> Option<u64> {
        crate::resident_kib(self.child.as_ref()?.id()).map(|kib| kib / 1024)
    }

    /// The first column of what `sql` selects in the server's database, as text.
    pub async fn column(&self, sql: &'static str) -> Vec<String> {
        let rows: Vec<(String,)> = DirectDb::connect(&self.database_url).await.rows(sql).await;
        rows.into_iter().map(|(v,)| v).collect()
    }

    /// Runs statements on the server's database, behind its back: to make a database look
    /// like one an older version left, or refuse what a test wants refused.
    pub async fn execute(&self, sql: &'static str) {
        DirectDb::connect(&self.database_url).await.run(sql).await;
    }

    /// Takes the database's write lock behind the server's back (SQLite's writer lock, or on
    /// PostgreSQL the `orgs` table every change bumps its revision in) until
    /// [`WriteHold::release`]: the server's writes queue meanwhile.
    pub async fn hold_writes(&self) -> WriteHold {
        let mut db = DirectDb::connect(&self.database_url).await;
        match db {
            DirectDb::Sqlite(_) => db.run("BEGIN IMMEDIATE").await,
            DirectDb::Postgres(_) => db.run("BEGIN; LOCK TABLE orgs IN EXCLUSIVE MODE").await,
        }
        WriteHold(db)
    }

    /// The size of the server's database on disk, in bytes: PostgreSQL's
    /// `pg_database_size`, or SQLite's file after its write-ahead log is folded in.
    pub async fn database_bytes(&self) -> u64 {
        let mut db = DirectDb::connect(&self.database_url).await;
        match (&db, self.database_url.strip_prefix("sqlite://")) {
            (DirectDb::Sqlite(_), Some(path)) => {
                db.run("PRAGMA wal_checkpoint(TRUNCATE)").await;
                let size = |p: String| std::fs::metadata(p).map_or(0, |m| m.len());
                size(path.to_owned()) + size(format!("{path}-wal"))
            }
            _ => {
                let sizes: Vec<(i64,)> =
                    db.rows("SELECT pg_database_size(current_database())").await;
                sizes[0].0 as u64
            }
        }
    }

    /// The server's `/metrics` as `series → value` (`name{labels}` → number).
    pub async fn metrics(&self) -> std::collections::BTreeMap<String, f64> {
        let text = reqwest::get(format!("{}/metrics", self.url))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body");
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (series, value) = l.rsplit_once(' ')?;
                Some((series.to_owned(), value.parse().ok()?))
            })
            .collect()
    }

    /// Pages the change feed from 0 to its head with a plain HTTP client, as a daemon's first
    /// sync would; returns how many changes came and each page's latency.
    pub async fn follow_feed(&self, token: &str) -> (usize, Vec<std::time::Duration>) {
        let http = reqwest::Client::new();
        let (mut after, mut changes, mut latencies) = (0, 0, Vec::new());
        loop {
            let t = Instant::now();
            let page: lm_protocol::ChangePage = http
                .get(format!("{}/v1/changes?after={after}&limit=1000", self.url))
                .bearer_auth(token)
                .send()
                .await
                .expect("changes")
                .error_for_status()
                .expect("changes status")
                .json()
                .await
                .expect("changes body");
            latencies.push(t.elapsed());
            changes += page.changes.len();
            after = page.next;
            if !page.more {
                return (changes, latencies);
            }
        }
    }

    /// Stops the server with SIGTERM; whether it exited successfully by itself within 10 s
    /// (it is killed otherwise).
    pub fn stop(&mut self) -> bool {
        self.child.take().is_none_or(crate::terminate)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
