//! A private D-Bus session bus (a real `dbus-daemon` on a socket in a temporary directory)
//! with a small notification server on it that records every `Notify` call, so that tests
//! see exactly which desktop notifications a program raised — and, when asked, a small
//! in-memory keyring (the Secret Service API) whose contents tests can read.

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

/// One secret kept by the fake keyring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptSecret {
    pub label: String,
    pub attributes: HashMap<String, String>,
    pub secret: Vec<u8>,
}

type Kept = Arc<Mutex<HashMap<u32, KeptSecret>>>;

const SECRETS: &str = "/org/freedesktop/secrets";
const COLLECTION: &str = "/org/freedesktop/secrets/collection/login";

fn path(text: String) -> zbus::OwnedObjectPath {
    zbus::OwnedObjectPath::try_from(text).expect("an object path")
}

fn item_id(item: &zbus::OwnedObjectPath) -> Option<u32> {
    item.as_str()
        .strip_prefix(COLLECTION)?
        .strip_prefix('/')?
        .parse()
        .ok()
}

/// A small Secret Service (the freedesktop keyring API) holding secrets in memory, with one
/// unlocked collection, the default: what lmd needs of GNOME Keyring or KWallet.
struct SecretService {
    kept: Kept,
}

#[zbus::interface(name = "org.freedesktop.Secret.Service")]
impl SecretService {
    async fn open_session(
        &self,
        algorithm: String,
        _input: zbus::OwnedVariant,
    ) -> zbus::fdo::Result<(zbus::OwnedVariant, zbus::OwnedObjectPath)> {
        if algorithm != "plain" {
            return Err(zbus::fdo::Error::NotSupported(algorithm));
        }
        let nothing = zbus::OwnedVariant::try_from(zbus::Variant::from("")).expect("a string");
        Ok((nothing, path(format!("{SECRETS}/session/1"))))
    }

    async fn search_items(
        &self,
        attributes: HashMap<String, String>,
    ) -> (Vec<zbus::OwnedObjectPath>, Vec<zbus::OwnedObjectPath>) {
        let kept = self.kept.lock().unwrap();
        let mut found: Vec<u32> = kept
            .iter()
            .filter(|(_, k)| {
                attributes
                    .iter()
                    .all(|(a, v)| k.attributes.get(a) == Some(v))
            })
            .map(|(id, _)| *id)
            .collect();
        found.sort();
        let found = found
            .into_iter()
            .map(|id| path(format!("{COLLECTION}/{id}")))
            .collect();
        (found, Vec::new())
    }

    async fn get_secrets(
        &self,
        items: Vec<zbus::OwnedObjectPath>,
        session: zbus::OwnedObjectPath,
    ) -> HashMap<zbus::OwnedObjectPath, (zbus::OwnedObjectPath, Vec<u8>, Vec<u8>, String)> {
        let kept = self.kept.lock().unwrap();
        items
            .into_iter()
            .filter_map(|item| {
                let secret = kept.get(&item_id(&item)?)?.secret.clone();
                Some((
                    item,
                    (session.clone(), Vec::new(), secret, "text/plain".into()),
                ))
            })
            .collect()
    }

    async fn read_alias(&self, name: String) -> zbus::OwnedObjectPath {
        path(if name == "default" { COLLECTION } else { "/" }.into())
    }
}

struct SecretCollection {
    kept: Kept,
}

#[zbus::interface(name = "org.freedesktop.Secret.Collection")]
impl SecretCollection {
    async fn create_item(
        &self,
        properties: HashMap<String, zbus::OwnedVariant>,
        secret: (zbus::OwnedObjectPath, Vec<u8>, Vec<u8>, String),
        replace: bool,
        #[zbus(object_server)] server: &zbus::ObjectServer,
    ) -> zbus::fdo::Result<(zbus::OwnedObjectPath, zbus::OwnedObjectPath)> {
        let property = |name: &str| {
            properties
                .get(name)
                .and_then(|v| v.try_clone().ok())
                .ok_or_else(|| zbus::fdo::Error::InvalidArgs(format!("no {name}")))
        };
        let label: String = property("org.freedesktop.Secret.Item.Label")?
            .try_into()
            .map_err(|e| zbus::fdo::Error::InvalidArgs(format!("label: {e}")))?;
        let attributes: HashMap<String, String> =
            property("org.freedesktop.Secret.Item.Attributes")?
                .try_into()
                .map_err(|e| zbus::fdo::Error::InvalidArgs(format!("attributes: {e}")))?;
        let id = {
            let mut kept = self.kept.lock().unwrap();
            let same = kept
                .iter()
                .find(|(_, k)| replace && k.attributes == attributes)
                .map(|(id, _)| *id);
            let id = same.unwrap_or_else(|| kept.keys().max().map_or(1, |m| m + 1));
            kept.insert(
                id,
                KeptSecret {
                    label,
                    attributes,
                    secret: secret.2,
                },
            );
            id
        };
        let item = path(format!("{COLLECTION}/{id}"));
        server
            .at(
                &item,
                SecretItem {
                    kept: self.kept.clone(),
                    id,
                },
            )
            .await?;
        Ok((item, path("/".into())))
    }
}

struct SecretItem {
    kept: Kept,
    id: u32,
}

#[zbus::interface(name = "org.freedesktop.Secret.Item")]
impl SecretItem {
    async fn delete(&self) -> zbus::OwnedObjectPath {
        self.kept.lock().unwrap().remove(&self.id);
        path("/".into())
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
    kept: Kept,
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
        SessionBus::start_with(server, false).await
    }

    /// Starts a bus with a notification server and a keyring (a Secret Service) on it.
    pub async fn with_keyring() -> SessionBus {
        SessionBus::start_with(NotificationServer::Recording, true).await
    }

    async fn start_with(server: NotificationServer, keyring: bool) -> SessionBus {
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
        let kept = Kept::default();
        let builder = if keyring {
            builder
                .name("org.freedesktop.secrets")
                .serve_at(SECRETS, SecretService { kept: kept.clone() })
                .serve_at(COLLECTION, SecretCollection { kept: kept.clone() })
        } else {
            builder
        };
        let connection = builder.build().await.expect("connect to the private bus");
        SessionBus {
            address,
            daemon,
            seen,
            kept,
            _connection: connection,
            _dir: dir,
        }
    }

    /// What the keyring holds.
    pub fn keyring(&self) -> Vec<KeptSecret> {
        self.kept.lock().unwrap().values().cloned().collect()
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
