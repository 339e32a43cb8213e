//! `lm demo`: an lm-server on a fresh SQLite database with sample licenses, an lmd logged in
//! as a demo manager, and the TUI on top. Everything lives in a temporary directory and is
//! stopped and removed when the TUI quits.

use anyhow::{Context, bail};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Child processes that are stopped (SIGTERM, then SIGKILL) when this is dropped.
struct Processes(Vec<(&'static str, Child)>);

impl Drop for Processes {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for (name, child) in &mut self.0 {
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if let Ok(None) = child.try_wait() {
                tracing::warn!(name, "did not stop in time; killing it");
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Finds `name` beside the running `lm`; under `cargo run`, builds it first.
fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the lm binary")?;
    let dir = exe.parent().context("lm has no directory")?;
    let path = dir.join(name);
    if !path.exists()
        && let Some(cargo) = std::env::var_os("CARGO")
    {
        let release = dir.ends_with("release");
        eprintln!("building lm-server and lmd (once)…");
        let mut build = Command::new(cargo);
        build.args(["build", "-p", "lm-server", "-p", "lm-daemon"]);
        if release {
            build.arg("--release");
        }
        let status = build.status().context("running cargo build")?;
        if !status.success() {
            bail!("cargo build of lm-server and lmd failed");
        }
    }
    if !path.exists() {
        bail!(
            "{} is missing; build it with `cargo build --release --workspace --bins`",
            path.display()
        );
    }
    Ok(path)
}

fn run(binary: &Path, args: &[&str], database: &str) -> anyhow::Result<String> {
    let out = Command::new(binary)
        .arg("--database")
        .arg(database)
        .args(args)
        .env_remove("LM_DATABASE_URL")
        .output()
        .with_context(|| format!("running {}", binary.display()))?;
    if !out.status.success() {
        bail!(
            "{} {} failed: {}",
            binary.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_until(
    what: &str,
    timeout: Duration,
    mut ready: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if ready() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{what} did not start within {timeout:?}")
}

/// Starts everything, runs the TUI, stops everything.
pub async fn run_demo(licenses: usize, keymap: crate::app::keys::KeyMap) -> anyhow::Result<()> {
    let server_bin = sibling_binary("lm-server")?;
    let daemon_bin = sibling_binary("lmd")?;
    let dir = tempfile::Builder::new()
        .prefix("lm-demo-")
        .tempdir()
        .context("creating the demo directory")?;
    let result = demo_in(&dir, &server_bin, &daemon_bin, licenses, keymap).await;
    if let Err(e) = result {
        // Keep the logs of a failed demo for the bug report.
        let kept = dir.keep();
        return Err(e.context(format!("the demo's logs are in {}", kept.display())));
    }
    Ok(())
}

async fn demo_in(
    dir: &tempfile::TempDir,
    server_bin: &Path,
    daemon_bin: &Path,
    licenses: usize,
    keymap: crate::app::keys::KeyMap,
) -> anyhow::Result<()> {
    let database = format!("sqlite://{}", dir.path().join("demo.db").display());
    let port = free_port()?;
    let url = format!("http://127.0.0.1:{port}");

    eprintln!("preparing a demo inventory of {licenses} licenses…");
    let admin = |args: &[&str]| {
        let mut all = vec!["--public-url", url.as_str()];
        all.extend_from_slice(args);
        run(server_bin, &all, &database)
    };
    admin(&["user", "add", "demo", "--role", "manager"])?;
    admin(&["user", "add", "eve", "--role", "employee"])?;
    admin(&[
        "seed",
        "--licenses",
        &licenses.to_string(),
        "--school",
        "--people",
    ])?;
    let token = admin(&["token", "issue", "--user", "demo", "--ttl", "1day"])?;
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{token}\n"))?;
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600))?;

    let log = |name: &str| -> anyhow::Result<Stdio> {
        Ok(std::fs::File::create(dir.path().join(name))?.into())
    };
    let mut processes = Processes(Vec::new());
    let server = Command::new(server_bin)
        .args([
            "--database",
            &database,
            "--public-url",
            &url,
            "serve",
            "--listen",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .env_remove("LM_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(log("lm-server.log")?)
        .spawn()
        .context("starting lm-server")?;
    processes.0.push(("lm-server", server));
    wait_until("lm-server", Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })?;

    // Inside the demo's own directory: two demos never meet, and nothing outlives it.
    let socket = dir.path().join("run").join("lmd.sock");
    // An empty configuration, so the user's own lmd.toml cannot redirect the demo.
    let config = dir.path().join("lmd.toml");
    std::fs::write(&config, "")?;
    let daemon = Command::new(daemon_bin)
        .args(["--server", &url, "--token-file"])
        .arg(&token_file)
        .arg("--socket")
        .arg(&socket)
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .env("LMD_CONFIG", &config)
        .stdout(Stdio::null())
        .stderr(log("lmd.log")?)
        .spawn()
        .context("starting lmd")?;
    processes.0.push(("lmd", daemon));
    wait_until("lmd", Duration::from_secs(20), || {
        std::os::unix::net::UnixStream::connect(&socket).is_ok()
    })?;
    for (name, child) in &mut processes.0 {
        if let Ok(Some(status)) = child.try_wait() {
            bail!("{name} stopped at start ({status})");
        }
    }

    let welcome = format!("second terminal: lm --socket {}", socket.display());
    // A closed terminal (SIGHUP) or a SIGTERM still stops everything the demo started.
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let result = tokio::select! {
        result = crate::runtime::run_with(&socket, keymap, Some(welcome)) => result,
        _ = hangup.recv() => Ok(()),
        _ = terminate.recv() => {
            ratatui::restore();
            Ok(())
        }
    };
    drop(processes);
    result
}
