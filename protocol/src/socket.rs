//! The local socket protocol between `lmd` and its clients (the `lm` TUI and CLI, scripts).
//!
//! One JSON object per line, in both directions. A client first says hello with the protocol
//! version it speaks; then it sends requests, each with an `id` that the reply echoes. The
//! daemon also pushes events to clients that subscribed. `socat` is enough to talk to it:
//!
//! ```text
//! $ socat - UNIX-CONNECT:$XDG_RUNTIME_DIR/lm/lmd.sock
//! {"id":1,"op":"hello","version":1}
//! {"type":"reply","id":1,"body":{"kind":"hello","version":1,"daemon":"lmd 0.1.0"}}
//! {"id":2,"op":"list","filter":{"vendor":"adobe"},"sort":"-expires","limit":2}
//! ```

use crate::audit::{AuditEntry, AuditQuery};
use crate::filter::{LicenseFilter, Sort};
use crate::license::{Assignee, AssignmentId, License, LicenseId, LicensePatch, NewLicense};
use crate::page::Page;
use crate::principal::Role;
use crate::problem::Problem;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The version of this protocol; a hello with another version is refused.
pub const PROTOCOL_VERSION: u32 = 1;

/// The longest line either side accepts, in bytes. A longer one gets an error reply and is
/// skipped; the connection stays usable.
pub const MAX_FRAME: usize = 1 << 20;

/// How many bytes the items of one reply (licenses of a list, entries of the audit log) may
/// take: a frame less room for the rest of the reply. Longer answers come in several windows.
pub const MAX_REPLY_ITEMS_BYTES: usize = MAX_FRAME - 64 * 1024;

/// Keeps the leading `items` whose JSON fits [`MAX_REPLY_ITEMS_BYTES`] together (the first
/// always, so that a reader paging through makes progress); answers whether any were dropped.
pub fn keep_within_frame<T: Serialize>(items: &mut Vec<T>) -> bool {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut used = Count(0);
    for (i, item) in items.iter().enumerate() {
        // A comma between items; serializing to a counter cannot fail for our types.
        let _ = serde_json::to_writer(&mut used, item);
        used.0 += 1;
        if i > 0 && used.0 > MAX_REPLY_ITEMS_BYTES {
            items.truncate(i);
            return true;
        }
    }
    false
}

/// Where `lmd` listens unless told otherwise: `$XDG_RUNTIME_DIR/lm/lmd.sock`, or
/// `~/.cache/lm/lmd.sock` when there is no runtime directory. `LM_SOCKET` overrides both.
pub fn default_socket_path() -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    let var = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(path) = var("LM_SOCKET") {
        return Some(path);
    }
    if let Some(runtime) = var("XDG_RUNTIME_DIR") {
        return Some(runtime.join("lm").join("lmd.sock"));
    }
    let cache = var("XDG_CACHE_HOME").or_else(|| var("HOME").map(|h| h.join(".cache")))?;
    Some(cache.join("lm").join("lmd.sock"))
}

/// One line from a client: `{"id": 7, "op": "…", …the request's fields}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientFrame {
    pub id: u64,
    pub request: Request,
}

/// A client line that is not a request of this protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FrameError {
    /// The request's id, when the line had a readable one.
    pub id: Option<u64>,
    pub message: String,
}

impl ClientFrame {
    /// Reads one line. Errors name the field at fault and keep the id when there is one,
    /// so the reply can still be matched to its request.
    pub fn parse(line: &str) -> Result<ClientFrame, FrameError> {
        let fail = |id, message: String| FrameError { id, message };
        let serde_json::Value::Object(mut object) = crate::strict_json::parse(line)
            .map_err(|e| fail(None, format!("not a JSON object: {e}")))?
        else {
            return Err(fail(None, "not a JSON object".into()));
        };
        let id = match object.remove("id") {
            Some(serde_json::Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
            Some(_) => return Err(fail(None, "id: must be a whole number".into())),
            None => return Err(fail(None, "id: is missing".into())),
        };
        let op = match object.remove("op") {
            Some(serde_json::Value::String(op)) => op,
            Some(_) => return Err(fail(id, "op: must be a string".into())),
            None => return Err(fail(id, "op: is missing".into())),
        };
        let request = Request::from_op(&op, object).map_err(|message| fail(id, message))?;
        Ok(ClientFrame {
            id: id.unwrap_or_default(),
            request,
        })
    }

    /// The line to send, without the newline.
    pub fn encode(&self) -> String {
        let mut value = serde_json::to_value(&self.request).unwrap_or_default();
        if let serde_json::Value::Object(object) = &mut value {
            object.insert("id".into(), self.id.into());
        }
        value.to_string()
    }
}

/// What a client asks of the daemon. On the wire the variant is the `op` field and its
/// arguments sit beside it: `{"id": 4, "op": "get", "license": "…"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// The first message of every connection.
    Hello(Hello),
    /// Connection, sync progress, data age, who is logged in.
    Status(NoArgs),
    /// Push events (`sync`, `changed`) to this connection from now on.
    Subscribe(NoArgs),
    /// A window of the cached licenses that match a filter.
    List(ListRequest),
    /// One cached license.
    Get(LicenseRef),
    /// Manager edits, forwarded to the server; its answer comes back intact.
    Create(CreateRequest),
    Update(UpdateRequest),
    Remove(RemoveRequest),
    Restore(LicenseRef),
    Assign(AssignRequest),
    Unassign(UnassignRequest),
    /// The audit log (managers), read from the server.
    Audit(AuditRequest),
    /// Start a device login (RFC 8628): the reply says where to approve it; the outcome
    /// arrives as a `sync` event (logged in) or a `login_failed` event.
    Login(NoArgs),
    /// Revoke the login at the server and forget it.
    Logout(NoArgs),
    /// The logged-in user's permissions: asked of the server (which takes a seat of a
    /// license of the user's units, if need be) and answered with its signed grant, checked
    /// against the server's keys; while the server is unreachable, from the grant kept, as
    /// long as it is valid.
    Permissions(NoArgs),
    /// A CSV import (managers), forwarded to the server: the daemon reads `path` (it runs as
    /// the same user) so that a file of any size fits; the server's report comes back,
    /// also when it lists problems and nothing was written.
    Import(ImportRequest),
    /// The expiry alerts in effect today — every license in the alert scope within a
    /// threshold of its expiry, whether its notification was given already or not —
    /// soonest first, the first [`MAX_ALERTS_LISTED`] of them. Answered from the cache,
    /// also offline.
    Alerts(NoArgs),
}

impl Request {
    const OPS: [&str; 17] = [
        "hello",
        "status",
        "subscribe",
        "list",
        "get",
        "create",
        "update",
        "remove",
        "restore",
        "assign",
        "unassign",
        "audit",
        "login",
        "logout",
        "permissions",
        "import",
        "alerts",
    ];

    /// Reads the request named `op` from its arguments, naming the offending field on error.
    fn from_op(
        op: &str,
        args: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Request, String> {
        fn read<T: serde::de::DeserializeOwned>(
            args: serde_json::Map<String, serde_json::Value>,
        ) -> Result<T, String> {
            serde_path_to_error::deserialize(serde_json::Value::Object(args)).map_err(|e| {
                let path = e.path().to_string();
                let message = e.into_inner().to_string();
                if path == "." {
                    message
                } else {
                    format!("{path}: {message}")
                }
            })
        }
        Ok(match op {
            "hello" => Request::Hello(read(args)?),
            "status" => Request::Status(read(args)?),
            "subscribe" => Request::Subscribe(read(args)?),
            "list" => Request::List(read(args)?),
            "get" => Request::Get(read(args)?),
            "create" => Request::Create(read(args)?),
            "update" => Request::Update(read(args)?),
            "remove" => Request::Remove(read(args)?),
            "restore" => Request::Restore(read(args)?),
            "assign" => Request::Assign(read(args)?),
            "unassign" => Request::Unassign(read(args)?),
            "audit" => Request::Audit(read(args)?),
            "login" => Request::Login(read(args)?),
            "logout" => Request::Logout(read(args)?),
            "permissions" => Request::Permissions(read(args)?),
            "import" => Request::Import(read(args)?),
            "alerts" => Request::Alerts(read(args)?),
            other => {
                return Err(format!(
                    "op: `{other}` is not an operation; use one of {}",
                    Self::OPS.join(", ")
                ));
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

/// The arguments of a request that takes none; any given are refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListRequest {
    #[serde(default)]
    pub filter: LicenseFilter,
    #[serde(default)]
    pub sort: Sort,
    /// How many matching licenses to skip.
    #[serde(default)]
    pub offset: usize,
    /// How many to return, at most [`MAX_LIST_LIMIT`].
    #[serde(default = "default_list_limit")]
    pub limit: usize,
}

impl Default for ListRequest {
    fn default() -> Self {
        ListRequest {
            filter: LicenseFilter::default(),
            sort: Sort::default(),
            offset: 0,
            limit: default_list_limit(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenseRef {
    pub license: LicenseId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    pub license: NewLicense,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    pub license: LicenseId,
    /// The version the user saw; a newer one on the server makes this fail with 412.
    pub version: i64,
    pub patch: LicensePatch,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveRequest {
    pub license: LicenseId,
    /// When given, the removal fails with 412 if the license changed since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    pub license: LicenseId,
    /// `{"employee": "alice"}` or `{"device": "LAPTOP-7"}`.
    pub to: Assignee,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnassignRequest {
    pub license: LicenseId,
    pub assignment: AssignmentId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// An absolute path to the CSV file (columns of [`crate::csv::COLUMNS`]).
    pub path: std::path::PathBuf,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRequest {
    #[serde(default)]
    pub query: AuditQuery,
}

fn default_list_limit() -> usize {
    100
}

/// The largest `limit` of a `list` request.
pub const MAX_LIST_LIMIT: usize = 10_000;

/// One line from the daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DaemonFrame {
    Reply {
        id: u64,
        body: Reply,
    },
    /// The request failed; `id` is absent when the line could not be read at all.
    Error {
        #[serde(default)]
        id: Option<u64>,
        problem: Problem,
    },
    Event {
        event: Event,
    },
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reply {
    Hello {
        version: u32,
        daemon: String,
    },
    Status(Status),
    Subscribed,
    Licenses(LicenseWindow),
    License {
        license: Box<License>,
    },
    Done,
    Audit(Page<AuditEntry>),
    /// A device login started: open `verification_uri` and enter `user_code`.
    LoginStarted(LoginPrompt),
    Permissions(HeldPermissions),
    /// What an import did, or with problems (then nothing was written) would have done.
    Imported(crate::csv::ImportReport),
    Alerts {
        alerts: Vec<ExpiryAlert>,
        /// How many are in effect; more than listed when over [`MAX_ALERTS_LISTED`].
        total: usize,
    },
}

/// The most alerts one `alerts` event carries: a first sync may raise thousands at once.
pub const MAX_ALERTS_IN_EVENT: usize = 500;

/// The most alerts one `alerts` reply lists (a few hundred bytes each, within a frame).
pub const MAX_ALERTS_LISTED: usize = 1000;

/// The user's permissions as the daemon holds them: the server's answer, whose grant the
/// daemon verified with the server's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldPermissions {
    #[serde(flatten)]
    pub permissions: crate::hierarchy::Permissions,
    /// When the server gave this answer.
    pub fetched_at: DateTime<Utc>,
    /// Answered from the grant kept, because the server cannot be reached.
    pub offline: bool,
}

/// Where and how to approve a device login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginPrompt {
    pub verification_uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_uri_complete: Option<String>,
    pub user_code: String,
    /// Seconds until the code expires.
    pub expires_in: u64,
}

/// A window of a filtered, sorted listing of the cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LicenseWindow {
    pub items: Vec<License>,
    /// How many licenses match in all.
    pub total: usize,
    pub offset: usize,
}

/// Where the daemon's copy of the inventory stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub connection: Connection,
    pub server: String,
    #[serde(default)]
    pub user: Option<User>,
    /// The revision the cache holds.
    pub revision: i64,
    /// The newest revision the daemon knows the server has.
    pub head: i64,
    pub licenses: usize,
    /// When the cache last matched the server.
    #[serde(default)]
    pub synced_at: Option<DateTime<Utc>>,
}

/// The logged-in user, as their token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub subject: String,
    pub org: String,
    pub role: Role,
}

impl From<crate::principal::Principal> for User {
    fn from(p: crate::principal::Principal) -> User {
        User {
            subject: p.subject,
            org: p.org,
            role: p.role,
        }
    }
}

/// The daemon's link to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Connection {
    /// Following live events; the cache is current.
    Live,
    /// Catching up: `done` of `total` changes applied.
    Syncing { done: u64, total: u64 },
    /// The server is unreachable since `since`; the cache is served as it is.
    Offline {
        since: DateTime<Utc>,
        reason: String,
    },
    /// No usable credentials: the user must log in.
    LoginRequired { reason: String },
}

/// What the daemon pushes to subscribers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// The connection or sync progress changed.
    Sync(Status),
    /// These licenses changed in the cache (upserted or removed).
    Changed { revision: i64, ids: Vec<LicenseId> },
    /// A device login ended without a login (denied, expired, or the server failed).
    LoginFailed { reason: String },
    /// Licenses reached an expiry alert threshold (also shown as a desktop notification).
    /// One event per check: the soonest alerts, at most [`MAX_ALERTS_IN_EVENT`] (the
    /// `alerts` request lists them all), and how many were raised.
    Alerts {
        alerts: Vec<ExpiryAlert>,
        /// How many alerts were raised; 0 from a daemon that did not say (count `alerts`).
        #[serde(default)]
        total: usize,
    },
}

/// A license that expires within `threshold` days: `days` from today (0 is today).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiryAlert {
    pub license: LicenseId,
    pub name: String,
    pub vendor: String,
    pub expires: chrono::NaiveDate,
    pub days: i64,
    pub threshold: u32,
}

impl ExpiryAlert {
    /// "expires today", "expires tomorrow", "expires in 7 days", "expired 3 days ago".
    pub fn when(&self) -> String {
        expiry_in_words(self.days)
    }
}

/// An expiry `days` from today in words: "expires today", "expires in 3 days", "expired
/// yesterday", "expired 12 days ago".
pub fn expiry_in_words(days: i64) -> String {
    match days {
        0 => "expires today".into(),
        1 => "expires tomorrow".into(),
        d if d > 1 => format!("expires in {d} days"),
        -1 => "expired yesterday".into(),
        d => format!("expired {} days ago", -d),
    }
}

/// Problem kinds the daemon itself answers with (the server's are in [`crate::problem::kinds`]).
pub mod kinds {
    /// The line was not a request of this protocol.
    pub const BAD_REQUEST: &str = "urn:lm:problem:bad-request";
    /// The hello named another protocol version, or a request came before the hello.
    pub const PROTOCOL: &str = "urn:lm:problem:protocol";
    /// An edit while the server is unreachable.
    pub const OFFLINE: &str = "urn:lm:problem:offline";
    pub const LOGIN_REQUIRED: &str = "urn:lm:problem:login-required";
    /// The server's permission grant did not verify with its keys.
    pub const BAD_GRANT: &str = "urn:lm:problem:bad-grant";
}

impl Problem {
    /// A problem the daemon raises itself.
    pub fn local(kind: &str, status: u16, title: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: kind.to_owned(),
            title: title.to_owned(),
            status,
            detail: detail.into(),
            field: None,
            request_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_read_as_people_type_them() {
        let frame = ClientFrame::parse(
            r#"{"id":2,"op":"list","filter":{"vendor":"adobe"},"sort":"-expires","limit":2}"#,
        )
        .unwrap();
        assert_eq!(frame.id, 2);
        let Request::List(ListRequest {
            filter,
            sort,
            offset,
            limit,
        }) = frame.request
        else {
            panic!("a list request")
        };
        assert_eq!(filter.vendor.as_deref(), Some("adobe"));
        assert_eq!(sort.to_string(), "-expires");
        assert_eq!((offset, limit), (0, 2));

        let assign =
            ClientFrame::parse(r#"{"id":3,"op":"assign","license":"x","to":{"employee":"alice"}}"#)
                .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(assign.request, Request::Assign(_)));
        assert_eq!(ClientFrame::parse(&assign.encode()), Ok(assign));
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        for line in [
            r#"{"id":1,"op":"status","colour":1}"#,
            r#"{"id":1,"op":"list","filter":{"colour":"red"}}"#,
        ] {
            let err = ClientFrame::parse(line).unwrap_err();
            assert_eq!(err.id, Some(1));
            assert!(err.message.contains("colour"), "{err}");
            assert!(!err.message.starts_with('.'), "{err}");
        }
        assert_eq!(ClientFrame::parse("{").unwrap_err().id, None);
        let nested =
            ClientFrame::parse(r#"{"id":4,"op":"list","filter":{"cost_min":"ten"}}"#).unwrap_err();
        assert!(nested.message.starts_with("filter.cost_min:"), "{nested}");
    }

    #[test]
    fn a_reply_keeps_the_items_that_fit_a_frame_and_at_least_one() {
        let item = "x".repeat(100_000);
        let mut many = vec![item.clone(); 30];
        assert!(keep_within_frame(&mut many));
        assert_eq!(many.len(), MAX_REPLY_ITEMS_BYTES / 100_003);
        let mut few = vec![item.clone(); 3];
        assert!(!keep_within_frame(&mut few));
        assert_eq!(few.len(), 3);
        let mut huge = vec!["y".repeat(2 * MAX_FRAME), item];
        assert!(keep_within_frame(&mut huge));
        assert_eq!(huge.len(), 1, "the first stays, so paging goes on");
    }

    /// Requests as a fuzzer writes them: JSON of every shape, with the real ops and field
    /// names among the random ones, so that the parser reaches past the first check.
    fn arbitrary_json() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let names = prop_oneof![
            Just("id".to_owned()),
            Just("op".to_owned()),
            Just("filter".to_owned()),
            Just("limit".to_owned()),
            Just("path".to_owned()),
            Just("license".to_owned()),
            Just("patch".to_owned()),
            "[a-z_]{1,8}",
        ];
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            proptest::sample::select(Request::OPS.to_vec()).prop_map(serde_json::Value::from),
            ".{0,12}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                proptest::collection::btree_map(names.clone(), inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Whatever a client sends — any bytes, any JSON — the daemon reads a request or an
        /// error naming what is wrong, and never panics.
        #[test]
        fn any_line_reads_as_a_request_or_an_error(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let line = String::from_utf8_lossy(&bytes);
            if let Err(e) = ClientFrame::parse(&line) {
                proptest::prop_assert!(!e.message.is_empty());
            }
        }

        #[test]
        fn any_json_reads_as_a_request_or_an_error(value in arbitrary_json(), id in 0u64..10, op in proptest::sample::select(Request::OPS.to_vec())) {
            let mut value = value;
            if let serde_json::Value::Object(object) = &mut value {
                object.entry("id").or_insert(id.into());
                object.entry("op").or_insert(op.into());
            }
            match ClientFrame::parse(&value.to_string()) {
                Ok(frame) => {
                    // What was read writes back as a request that reads the same.
                    proptest::prop_assert_eq!(ClientFrame::parse(&frame.encode()).ok(), Some(frame));
                }
                Err(e) => proptest::prop_assert!(!e.message.is_empty()),
            }
        }
    }

    #[test]
    fn a_key_given_twice_is_refused_not_read_one_way() {
        for line in [
            r#"{"id":1,"op":"status","op":"logout"}"#,
            r#"{"id":1,"op":"list","filter":{"kind":"a","kind":"b"}}"#,
        ] {
            let err = ClientFrame::parse(line).unwrap_err();
            assert!(err.message.contains("appears twice"), "{err}");
        }
    }
}
