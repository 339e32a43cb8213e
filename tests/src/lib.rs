//! Test harness: starts the real binaries (built by cargo into the target directory) against
//! a real database, and talks to them only through their public interfaces.

pub mod bench;
pub mod browser;
pub mod daemon;
pub mod dbus;
pub mod direct_db;
pub mod fixtures;
pub mod hierarchy_provider;
pub mod http;
#[cfg(test)]
mod map_claims;
pub mod oauth_forms;
pub mod oidc;
pub mod pg;
pub mod schemathesis;
pub mod server;
pub mod tmux;
pub mod totp;

pub use browser::Browser;
pub use daemon::{Daemon, SocketClient};
pub use dbus::{NotificationServer, SessionBus};
pub use direct_db::{DirectDb, WriteHold};
pub use hierarchy_provider::HierarchyProvider;
pub use http::{Client, EventStream, NextEvent, Reply};
pub use oidc::OpenIdProvider;
pub use server::{Backend, PASSWORD, Server};
pub use tmux::Tmux;

use std::path::PathBuf;

/// What the benchmarks type into `lm`'s filter line, one key at a time: free text, exact
/// values, ranges, an employee and a sort, alone and combined.
pub const TYPED_FILTERS: [&str; 5] = [
    "design",
    "vendor:adobe cost>100 expires<90d",
    "kind:subscription \"cloud\"",
    "employee:alice",
    "sort:-cost added>=2025-01-01",
];

/// The machine's CPU time so far, to tell how much of a benchmark's wall time a shared VM's
/// host took away (steal).
#[derive(Debug, Clone, Copy)]
pub struct CpuTime {
    total: u64,
    steal: u64,
}

impl CpuTime {
    /// Now, from `/proc/stat` (zero where it cannot be read).
    pub fn now() -> CpuTime {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let ticks: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .filter_map(|t| t.parse().ok())
            .collect();
        CpuTime {
            // user nice system idle iowait irq softirq steal (guest time is within user).
            total: ticks.iter().take(8).sum(),
            steal: ticks.get(7).copied().unwrap_or(0),
        }
    }

    /// The share of CPU time stolen since `self`, in percent.
    pub fn steal_since(self) -> f64 {
        let now = CpuTime::now();
        let total = now.total.saturating_sub(self.total).max(1);
        100.0 * now.steal.saturating_sub(self.steal) as f64 / total as f64
    }
}

/// The resident memory of process `pid`, in KiB (Linux `/proc`), if it can be read.
pub fn resident_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The directory cargo builds this workspace's binaries into (`target/debug`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/debug/deps/<test binary>, or target/debug/<bench binary> under target/release.
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// The path of a workspace binary, with a hint when it has not been built.
pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing; build it first with `cargo build --workspace --bins`",
        path.display()
    );
    path
}

/// `target/`, where throwaway state (the test PostgreSQL cluster) lives.
pub fn target_dir() -> PathBuf {
    let mut dir = bin_dir();
    dir.pop();
    dir
}

/// Sends SIGTERM and waits up to 10 s; whether the process exited successfully by itself
/// (it is killed otherwise).
pub fn terminate(mut child: std::process::Child) -> bool {
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return status.success();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

/// The JSON lines of a backup file, compressed (as lm-server writes them) or not.
pub fn backup_text(path: &std::path::Path) -> String {
    use std::io::Read;
    let bytes = std::fs::read(path).expect("read the backup");
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_string(&mut text)
            .expect("a gzip backup");
        text
    } else {
        String::from_utf8(bytes).expect("a text backup")
    }
}
