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

//!
//! One job per file: here the frames and their limits; `requests` what clients ask;
//! `replies` what the daemon answers and pushes; `people` the arguments and answers about
//! members and the organization.

mod people;
mod replies;
mod requests;
#[cfg(test)]
mod tests;

pub use people::*;
pub use replies::*;
pub use requests::*;

use crate::problem::Problem;
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
