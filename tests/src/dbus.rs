//! A private D-Bus session bus (a real `dbus-daemon` on a socket in a temporary directory)
//! with a small notification server on it that records every `Notify` call, so that tests
//! see exactly which desktop notifications a program raised.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// One recorded notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notified {
    pub app_name: String,
    pub summary: String,
    pub body: String,
}

/// Records every `Notify` call; a hung one never answers any call.
struct Recorder {
    seen: Arc<Mutex<Vec<Notified>>>,
    hung: bool,
}

impl Recorder {
    /// Waits forever when hung.
    async fn answer<T>(&self, value: T) -> T {
        if self.hung {
            std::future::pending::<()>().await;
        }
        value
    }
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Recorder {
    #[allow(clippy::too_many_arguments)]
    async fn notify(
        &self,
        app_name: String,
        _replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        _actions: Vec<String>,
        _hints: HashMap<String, zbus::OwnedVariant>,
        _expire_timeout: i32,
    ) -> u32 {
        let count = {
            let mut seen = self.seen.lock().unwrap();
            seen.push(Notified {
                app_name,
                summary,
                body,
            });
            seen.len() as u32
        };
        self.answer(count).await
    }

    async fn get_capabilities(&self) -> Vec<String> {
        self.answer(vec!["body".into()]).await
    }

    async fn get_server_information(&self) -> (String, String, String, String) {
        self.answer(("lm-tests".into(), "lm".into(), "1".into(), "1.2".into()))
            .await
    }
}

/// What answers notifications on the bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationServer {
    /// Records every notification and answers at once.
    Recording,
    /// Records every notification and never answers.
    Hung,
    /// Nobody: calls fail with "service unknown".
    Absent,
}

pub struct SessionBus {
    /// The value for `DBUS_SESSION_BUS_ADDRESS`.
    pub address: String,
    daemon: Child,
    seen: Arc<Mutex<Vec<Notified>>>,
    _connection: zbus::Connection,
    _dir: TempDir,
}

impl SessionBus {
    /// Starts a bus with a notification server on it.
    pub async fn with_notification_server() -> SessionBus {
        SessionBus::start(NotificationServer::Recording).await
    }

    /// Starts a bus with `server` answering notifications (or nobody).
    pub async fn start(server: NotificationServer) -> SessionBus {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut daemon = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .arg(format!(
                "--address=unix:path={}",
                dir.path().join("bus").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon is installed (Debian: dbus-daemon; .ci/run installs it)");
        let mut line = String::new();
        BufReader::new(daemon.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("bus address");
        let address = line.trim().to_owned();
        assert!(!address.is_empty(), "dbus-daemon printed no address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let path = "/org/freedesktop/Notifications";
        let builder = zbus::connection::Builder::address(address.as_str());
        let builder = match server {
            NotificationServer::Absent => builder,
            answering => builder.name("org.freedesktop.Notifications").serve_at(
                path,
                Recorder {
                    seen: seen.clone(),
                    hung: answering == NotificationServer::Hung,
                },
            ),
        };
        let connection = builder.build().await.expect("connect to the private bus");
        SessionBus {
            address,
            daemon,
            seen,
            _connection: connection,
            _dir: dir,
        }
    }

    pub fn notifications(&self) -> Vec<Notified> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until at least `count` notifications arrived, for at most `within`.
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<Notified> {
        let deadline = Instant::now() + within;
        loop {
            let seen = self.notifications();
            if seen.len() >= count {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {count} notifications arrived: {seen:?}",
                seen.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SessionBus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}
