//! `lmd`: runs in the foreground until SIGTERM or SIGINT. See `lmd --help`.

use anyhow::{Context, bail};
use clap::Parser;
use lm_daemon::cache::Cache;
use lm_daemon::config::AlertOptions;
use lm_daemon::config::{self, ConfigFile};
use lm_daemon::login::{Logins, Provider};
use lm_daemon::remote::Remote;
use lm_daemon::shared::Shared;
use lm_daemon::sync::{self, SyncOptions};
use std::io::IsTerminal;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};

/// The lm daemon: keeps a local copy of your organization's license inventory in sync with
/// lm-server and serves it to `lm` over a Unix socket, also offline.
#[derive(Debug, Parser)]
#[command(name = "lmd", version)]
struct Args {
    /// The configuration file [default: ~/.config/lm/lmd.toml].
    #[arg(long, env = "LMD_CONFIG")]
    config: Option<PathBuf>,
    /// The lm-server URL [default: http://127.0.0.1:7878].
    #[arg(long, env = "LM_SERVER")]
    server: Option<String>,
    /// The OpenID provider to log in with [default: the server's built-in one].
    #[arg(long, env = "LM_ISSUER")]
    issuer: Option<String>,
    /// The client id lmd has at that provider [default: lm].
    #[arg(long, env = "LM_CLIENT_ID")]
    client_id: Option<String>,
    /// A file holding a bearer token or API key, for scripts and CI; used instead of a login
    /// [default: ~/.config/lm/token].
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Where `lm login` keeps the login (mode 0600) when no keyring runs [default:
    /// ~/.local/state/lm/login.json].
    #[arg(long)]
    login_file: Option<PathBuf>,
    /// The socket clients connect to [default: $XDG_RUNTIME_DIR/lm/lmd.sock].
    #[arg(long, env = "LM_SOCKET")]
    socket: Option<PathBuf>,
    /// The cache directory [default: ~/.cache/lm/cache].
    #[arg(long)]
    cache_dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    lm_daemon::allocator::tune();
    // Everything lmd writes (the cache with its product keys, the login, the socket) is for
    // its user alone, whatever umask it was started with.
    rustix::process::umask(rustix::fs::Mode::from_bits_truncate(0o077));
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LM_LOG").unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Escape codes only for a terminal, not in a log file or the journal.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let args = Args::parse();
    let file = match &args.config {
        Some(path) => ConfigFile::load(path, true)?,
        None => match config::default_config_path() {
            Some(path) => ConfigFile::load(&path, false)?,
            None => ConfigFile::default(),
        },
    };

    let server = args
        .server
        .or(file.server)
        .unwrap_or_else(|| "http://127.0.0.1:7878".into());
    if !(server.starts_with("http://") || server.starts_with("https://")) {
        bail!("--server: `{server}` is not an http:// or https:// URL");
    }
    let socket_path = args
        .socket
        .or(file.socket)
        .or_else(lm_protocol::socket::default_socket_path)
        .context("no socket path: set --socket, LM_SOCKET or XDG_RUNTIME_DIR")?;
    let cache_dir = args
        .cache_dir
        .or(file.cache_dir)
        .or_else(config::default_cache_dir)
        .context("no cache directory: set --cache-dir")?;
    let token_file = args
        .token_file
        .or(file.token_file)
        .or_else(config::default_token_file);

    let login_file = args
        .login_file
        .or(file.login_file)
        .or_else(config::default_login_file)
        .context("no place to keep a login: set --login-file")?;
    let issuer = args.issuer.or(file.issuer);
    if let Some(issuer) = &issuer
        && !(issuer.starts_with("http://") || issuer.starts_with("https://"))
    {
        bail!("--issuer: `{issuer}` is not an http:// or https:// URL");
    }
    let defaults = Provider::default();
    let provider = Provider {
        issuer,
        client_id: args
            .client_id
            .or(file.client_id)
            .unwrap_or(defaults.client_id),
        scopes: file.scopes.unwrap_or(defaults.scopes),
    };
    let keyring = match file.keyring {
        Some(false) => None,
        // A bus that does not answer must not hold up the start.
        _ => tokio::time::timeout(
            Duration::from_secs(3),
            lm_daemon::keyring::Keyring::connect(&login_file.display().to_string()),
        )
        .await
        .ok()
        .flatten(),
    };
    let logins = Arc::new(Logins::load(login_file, provider, keyring).await);
    let token = match &token_file {
        Some(path) => read_token(path)?,
        None => None,
    }
    .or_else(|| logins.access_token());
    let remote = Remote::new(&server, token).context("building the HTTP client")?;

    // Bind first: a second daemon must refuse before it touches the cache.
    let listener = lm_daemon::socket::bind(&socket_path).await?;
    std::fs::create_dir_all(&cache_dir)
        .with_context(|| format!("creating {}", cache_dir.display()))?;
    let cache = Cache::open(&cache_dir).context("opening the cache")?;
    // Reading the cache freed as much as it keeps (the frames it parsed).
    lm_daemon::allocator::release_freed_memory();
    let defaults = AlertOptions::default();
    let mut shared = Shared::new(cache, server.clone(), remote);
    shared.alerts = AlertOptions {
        thresholds: file.alert_days,
        scope: file.alert_scope.unwrap_or(defaults.scope),
        notify: file.notifications.unwrap_or(defaults.notify),
    };
    let shared = Arc::new(shared);
    let user = shared.user();
    tracing::info!(
        socket = %socket_path.display(),
        %server,
        user = user.as_ref().map(|u| u.subject.as_str()),
        "lmd ready"
    );

    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(lm_daemon::socket::serve(
        listener,
        shared.clone(),
        logins.clone(),
        shutdown.clone(),
    ));
    let options = SyncOptions {
        poll_interval: file.poll_interval.unwrap_or(Duration::from_secs(60)),
        max_backoff: file.max_backoff.unwrap_or(Duration::from_secs(30)),
    };
    tasks.spawn(sync::run(shared.clone(), options, shutdown.clone()));
    tasks.spawn(logins.keep_fresh(shared.clone(), shutdown.clone()));
    tasks.spawn(lm_daemon::alerts::run(shared.clone(), shutdown.clone()));
    tasks.spawn(lm_daemon::allocator::keep_trimmed(shutdown.clone()));

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!("shutting down");
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    shared.cache.flush().await.context("flushing the cache")?;
    let _ = std::fs::remove_file(&socket_path);
    Ok(())
}

/// Reads a token file, refusing one that other users can read.
fn read_token(path: &std::path::Path) -> anyhow::Result<Option<String>> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(file = %path.display(), "no token file");
            return Ok(None);
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "{}: the token file is readable by others; run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    let token = std::fs::read_to_string(path)
        .with_context(|| format!("reading {}", path.display()))?
        .trim()
        .to_owned();
    Ok((!token.is_empty()).then_some(token))
}
