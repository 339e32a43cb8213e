//! A terminal program under test: runs in a detached tmux session on a private tmux server,
//! gets keys with `send-keys` and is read with `capture-pane`.

use std::process::Command;
use std::time::{Duration, Instant};

pub struct Tmux {
    server: String,
    session: String,
}

impl Tmux {
    /// Starts `program args…` in a `width`×`height` terminal with `env` set.
    pub fn start(
        program: &std::path::Path,
        args: &[&str],
        env: &[(&str, &str)],
        width: u16,
        height: u16,
    ) -> Tmux {
        static SESSIONS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = SESSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let server = format!("lm-test-{}-{n}", std::process::id());
        let session = "main".to_owned();
        let mut command = format!("exec {}", shell_quote(&program.to_string_lossy()));
        for arg in args {
            command.push(' ');
            command.push_str(&shell_quote(arg));
        }
        let mut tmux = Command::new("tmux");
        tmux.args([
            "-L",
            &server,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            &session,
        ])
        .args(["-x", &width.to_string(), "-y", &height.to_string()]);
        for (k, v) in env {
            tmux.args(["-e", &format!("{k}={v}")]);
        }
        let status = tmux.arg(command).status().expect("tmux is installed");
        assert!(status.success(), "tmux new-session failed");
        Tmux { server, session }
    }

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.server])
            .args(args)
            .output()
            .expect("run tmux")
    }

    /// Presses keys by tmux name: `Enter`, `Escape`, `C-s`, `j`.
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.session];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Types `text` literally.
    pub fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", &self.session, "-l", text]);
    }

    /// The screen as text, one line per row.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(
            &self
                .tmux(&["capture-pane", "-p", "-t", &self.session])
                .stdout,
        )
        .into_owned()
    }

    /// Waits until the screen satisfies `ready`; the screen, or the last one seen.
    pub fn wait_for(
        &self,
        within: Duration,
        ready: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        let deadline = Instant::now() + within;
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return Ok(screen);
            }
            if Instant::now() > deadline {
                return Err(screen);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
