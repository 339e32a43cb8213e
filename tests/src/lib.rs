//! Test harness: starts the real binaries (built by cargo into the target directory) against
//! a real database, and talks to them only through their public interfaces.

pub mod browser;
pub mod daemon;
pub mod dbus;
pub mod hierarchy_provider;
pub mod http;
pub mod oidc;
pub mod pg;
pub mod server;
pub mod tmux;
pub mod totp;

pub use browser::Browser;
pub use daemon::{Daemon, SocketClient};
pub use dbus::{NotificationServer, SessionBus};
pub use hierarchy_provider::HierarchyProvider;
pub use http::{Client, EventStream, NextEvent, Reply};
pub use oidc::OpenIdProvider;
pub use server::{Backend, Server};
pub use tmux::Tmux;

use std::path::PathBuf;

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
