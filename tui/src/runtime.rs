//! The TUI's runtime: owns the terminal, turns terminal input, daemon events and a clock
//! into [`Msg`]s, runs the app's [`Command`]s against the daemon, and draws after each
//! burst of messages. The terminal is restored on every exit path, panics included.

use crate::app::keys::KeyMap;
use crate::app::{self, AlertList, App, Command, Msg};
use crate::client::{ClientError, DaemonClient, problem_text};
use crate::view::{self, Theme};
use chrono::Utc;
use lm_protocol::Problem;
use lm_protocol::socket::{LicenseRef, Request};
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::crossterm::event::{
    self, DisableMouseCapture, EnableMouseCapture, KeyEvent, MouseEventKind,
};
use ratatui::crossterm::execute;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Runs the TUI until the user quits.
pub async fn run(socket: &Path, keymap: KeyMap) -> anyhow::Result<()> {
    run_with(socket, keymap, None).await
}

/// Runs the TUI, first showing `welcome` in the status bar.
pub async fn run_with(
    socket: &Path,
    keymap: KeyMap,
    welcome: Option<String>,
) -> anyhow::Result<()> {
    // Connect before touching the terminal, so "lmd is not running" prints plainly.
    let session = Session::connect(socket, keymap, welcome).await?;

    let mut terminal = ratatui::try_init()?;
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = execute!(std::io::stdout(), DisableMouseCapture);
        previous(info);
    }));
    let _ = execute!(std::io::stdout(), EnableMouseCapture);
    let (tx, rx) = mpsc::unbounded_channel::<Msg>();
    spawn_terminal_input(tx.clone());
    let result = event_loop(&mut terminal, session, (tx, rx), None).await;
    let _ = execute!(std::io::stdout(), DisableMouseCapture);
    ratatui::restore();
    result
}

/// What a drawn frame showed, for whoever watches the TUI work (the TUI benchmark).
#[derive(Debug, Clone)]
pub struct FrameShown {
    pub drawn_at: Instant,
    /// How long drawing took.
    pub drawing: Duration,
    /// The filter line as typed.
    pub filter: String,
    /// Whether a list was still awaited when the frame was drawn.
    pub loading: bool,
    /// The licenses the listing says match.
    pub total: usize,
    /// What the status bar said about the last action, if anything.
    pub message: Option<String>,
    /// On the Insights screen: whether a report was still awaited (else `None`).
    pub insights_loading: Option<bool>,
}

/// Runs the TUI on `backend` instead of the terminal, with keys from `keys`, reporting each
/// frame to `frames`: the same app, daemon connection and event loop as [`run`], driven
/// by a program. Ends when the keys say quit or `keys` closes.
pub async fn run_driven<B>(
    socket: &Path,
    keymap: KeyMap,
    backend: B,
    mut keys: mpsc::UnboundedReceiver<KeyEvent>,
    frames: mpsc::UnboundedSender<FrameShown>,
) -> anyhow::Result<()>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
{
    let session = Session::connect(socket, keymap, None).await?;
    let mut terminal = Terminal::new(backend)?;
    let (tx, rx) = mpsc::unbounded_channel::<Msg>();
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(key) = keys.recv().await {
                if tx.send(Msg::Key(key)).is_err() {
                    return;
                }
            }
            let _ = tx.send(Msg::Quit);
        });
    }
    event_loop(&mut terminal, session, (tx, rx), Some(frames)).await
}

/// A connected daemon client and what the TUI starts from.
struct Session {
    client: DaemonClient,
    events: mpsc::UnboundedReceiver<lm_protocol::socket::Event>,
    status: lm_protocol::socket::Status,
    keymap: KeyMap,
    welcome: Option<String>,
}

impl Session {
    /// Connects to lmd, subscribes to its events and reads where it stands.
    async fn connect(
        socket: &Path,
        keymap: KeyMap,
        welcome: Option<String>,
    ) -> anyhow::Result<Session> {
        let (client, events) = DaemonClient::connect(socket, "lm").await?;
        client.subscribe().await?;
        let status = crate::cli::status(&client).await?;
        Ok(Session {
            client,
            events,
            status,
            keymap,
            welcome,
        })
    }
}

async fn event_loop<B>(
    terminal: &mut Terminal<B>,
    session: Session,
    (tx, mut rx): (mpsc::UnboundedSender<Msg>, mpsc::UnboundedReceiver<Msg>),
    frames: Option<mpsc::UnboundedSender<FrameShown>>,
) -> anyhow::Result<()>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
{
    let Session {
        client,
        mut events,
        status,
        keymap,
        welcome,
    } = session;
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if tx.send(Msg::Event(event)).is_err() {
                    return;
                }
            }
            let _ = tx.send(Msg::Disconnected("the daemon closed the connection".into()));
        });
    }
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                if tx.send(Msg::Tick(Utc::now())).is_err() {
                    return;
                }
            }
        });
    }
    let lists = spawn_list_worker(client.clone(), tx.clone());

    let size = terminal.size()?;
    let mut app = App::new(keymap, Utc::now(), (size.width, size.height));
    let theme = Theme::from_env();
    let mut commands = app.update(Msg::Status(status));
    commands.extend(app.start());
    app.message = welcome.map(|w| (app::Level::Info, w));
    dispatch(commands, &client, &tx, &lists);

    while !app.quit {
        let started = Instant::now();
        terminal.draw(|frame| view::render(&app, frame, theme))?;
        let drawing = started.elapsed();
        tracing::trace!(micros = drawing.as_micros() as u64, "frame");
        if let Some(frames) = &frames {
            let _ = frames.send(FrameShown {
                drawn_at: Instant::now(),
                drawing,
                filter: app.filter_line().to_owned(),
                loading: app.loading,
                total: app.total,
                message: app.message.as_ref().map(|(_, text)| text.clone()),
                insights_loading: (app.screen == app::Screen::Insights)
                    .then_some(app.insights.loading || app.insights.shown.is_none()),
            });
        }
        let Some(msg) = rx.recv().await else { break };
        let commands = app.update(msg);
        dispatch(commands, &client, &tx, &lists);
        // Apply everything already waiting before drawing again.
        while let Ok(msg) = rx.try_recv() {
            let commands = app.update(msg);
            dispatch(commands, &client, &tx, &lists);
            if app.quit {
                break;
            }
        }
    }
    Ok(())
}

/// Reads the terminal on its own thread: crossterm's `read` blocks.
fn spawn_terminal_input(tx: mpsc::UnboundedSender<Msg>) {
    std::thread::spawn(move || {
        loop {
            let msg = match event::read() {
                Ok(event::Event::Key(key)) => Msg::Key(key),
                Ok(event::Event::Mouse(mouse)) => match mouse.kind {
                    MouseEventKind::ScrollDown => Msg::Scroll(3),
                    MouseEventKind::ScrollUp => Msg::Scroll(-3),
                    _ => continue,
                },
                Ok(event::Event::Resize(w, h)) => Msg::Resize(w, h),
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "terminal input failed");
                    return;
                }
            };
            if tx.send(msg).is_err() {
                return;
            }
        }
    });
}

type ListSlot = watch::Sender<Option<(u64, lm_protocol::socket::ListRequest)>>;

/// Lists run one at a time, and only the newest waiting one runs: typing a filter fast
/// never queues stale queries.
fn spawn_list_worker(client: DaemonClient, tx: mpsc::UnboundedSender<Msg>) -> ListSlot {
    let (slot, mut latest) = watch::channel(None);
    tokio::spawn(async move {
        while latest.changed().await.is_ok() {
            let Some((seq, request)) = latest.borrow_and_update().clone() else {
                continue;
            };
            let result = client.list(request).await.map_err(|e| e.to_string());
            if tx.send(Msg::Listed { seq, result }).is_err() {
                return;
            }
        }
    });
    slot
}

fn dispatch(
    commands: Vec<Command>,
    client: &DaemonClient,
    tx: &mpsc::UnboundedSender<Msg>,
    lists: &ListSlot,
) {
    for command in commands {
        let client = client.clone();
        let tx = tx.clone();
        match command {
            Command::List { seq, request } => {
                lists.send_replace(Some((seq, request)));
            }
            Command::Audit(license) => {
                tokio::spawn(async move {
                    let result = client
                        .audit(app::audit_request(&license))
                        .await
                        .map(|page| page.items)
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Msg::AuditLoaded { license, result });
                });
            }
            Command::Fetch(license) => {
                tokio::spawn(async move {
                    let result = client
                        .license(Request::Get(LicenseRef { license }))
                        .await
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Msg::Fetched(result));
                });
            }
            Command::Edit { edit, request } => {
                tokio::spawn(async move {
                    let result = client.request(request).await.map_err(into_problem);
                    let _ = tx.send(Msg::Edited { edit, result });
                });
            }
            Command::Login => {
                tokio::spawn(async move {
                    let result = client.login().await.map_err(|e| e.to_string());
                    let _ = tx.send(Msg::LoginStarted(result));
                });
            }
            Command::Alerts => {
                tokio::spawn(async move {
                    let result = client
                        .alerts()
                        .await
                        .map(|(alerts, total)| AlertList { alerts, total })
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Msg::AlertsLoaded(result));
                });
            }
            Command::Members { seq, request } => {
                tokio::spawn(async move {
                    let result = client.members(request).await.map_err(|e| e.to_string());
                    let _ = tx.send(Msg::MembersListed { seq, result });
                });
            }
            Command::Member(name) => {
                tokio::spawn(async move {
                    let result = client.member(&name).await.map_err(|e| e.to_string());
                    let _ = tx.send(Msg::MemberLoaded(result));
                });
            }
            Command::Copy(text) => copy_to_clipboard(&text),
            Command::Report { seq, request } => {
                tokio::spawn(async move {
                    let result = client.report(request).await.map_err(|e| e.to_string());
                    let _ = tx.send(Msg::Reported { seq, result });
                });
            }
            Command::Bulk { summary, requests } => {
                tokio::spawn(async move {
                    let mut failures = Vec::new();
                    for (label, request) in requests {
                        if let Err(e) = client.request(request).await {
                            failures.push(format!("{label}: {}", problem_text(&into_problem(e))));
                        }
                    }
                    let _ = tx.send(Msg::BulkDone { summary, failures });
                });
            }
        }
    }
}

/// Puts `text` on the clipboard with OSC 52: the terminal (and tmux, with `set-clipboard`)
/// does it, also over SSH, where no clipboard program could.
fn copy_to_clipboard(text: &str) {
    use base64::Engine;
    use std::io::Write;
    let encoded = base64::engine::general_purpose::STANDARD.encode(text);
    let mut out = std::io::stdout();
    let _ = write!(out, "\x1b]52;c;{encoded}\x07");
    let _ = out.flush();
}

fn into_problem(e: ClientError) -> Problem {
    match e {
        ClientError::Problem(p) => *p,
        other => Problem::local(
            lm_protocol::socket::kinds::PROTOCOL,
            503,
            "lmd unavailable",
            other.to_string(),
        ),
    }
}
