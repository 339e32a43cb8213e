//! TUI benchmark over 100,000 cached licenses: time to the first frame, and keystroke to
//! frame while typing filters. The real app, event loop and rendering of `lm` run against a
//! real lmd (synced from a real lm-server) through its socket; only the terminal is
//! ratatui's `TestBackend` (a 120×40 screen), so the figures leave out writing escape codes
//! to a terminal emulator.
//!
//!     cargo build --release --bins && cargo bench -p lm-tests --bench tui
//!
//! A keystroke's frame is the first one drawn with that key applied and no list awaited:
//! what the user sees settle. The first round of typing is shown apart: it starts right
//! after the first sync, while lmd still builds its sort orders in the background. Environment: `LM_BENCH_LICENSES` (default 100000),
//! `LM_BENCH_ROUNDS` (default 5; each types every phrase and erases it again).

use lm_tests::bench::env_or;
use lm_tests::{Daemon, Server};
use lm_tui::app::keys::KeyMap;
use lm_tui::runtime::{FrameShown, run_driven};
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A TUI on a test screen, driven by keys.
struct Tui<'d> {
    daemon: &'d Daemon,
    keys: mpsc::UnboundedSender<KeyEvent>,
    frames: mpsc::UnboundedReceiver<FrameShown>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl<'d> Tui<'d> {
    fn start(daemon: &'d Daemon) -> Tui<'d> {
        let (keys, key_rx) = mpsc::unbounded_channel();
        let (frame_tx, frames) = mpsc::unbounded_channel();
        let socket = daemon.socket.clone();
        let task = tokio::spawn(async move {
            run_driven(
                &socket,
                KeyMap::default(),
                TestBackend::new(120, 40),
                key_rx,
                frame_tx,
            )
            .await
        });
        Tui {
            daemon,
            keys,
            frames,
            task,
        }
    }

    /// The first frame satisfying `settled`.
    async fn frame(&mut self, settled: impl Fn(&FrameShown) -> bool) -> FrameShown {
        let mut last = None;
        let wait = async {
            loop {
                let frame = self.frames.recv().await.expect("the TUI ended");
                if settled(&frame) {
                    return frame;
                }
                last = Some(frame);
            }
        };
        match tokio::time::timeout(Duration::from_secs(60), wait).await {
            Ok(frame) => frame,
            Err(_) => {
                let log = self.daemon.log();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                panic!(
                    "no settled frame within 60 s; the last one: {last:?}\nlmd's log ends:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            }
        }
    }

    /// Presses `code` and waits for the frame that shows `filter` settled.
    async fn press(&mut self, code: KeyCode, filter: &str) -> FrameShown {
        self.keys
            .send(KeyEvent::new(code, KeyModifiers::NONE))
            .expect("the TUI ended");
        self.frame(|f| f.filter == filter && !f.loading).await
    }

    async fn quit(self) {
        drop(self.keys);
        self.task.await.expect("joined").expect("the TUI ran");
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn row(name: &str, mut samples: Vec<Duration>) {
    if samples.is_empty() {
        println!("{name:<44} {:>6}", 0);
        return;
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name:<44} {:>6} {:>9.2} {:>9.2} {:>9.2}",
        samples.len(),
        ms(at(0.5)),
        ms(at(0.99)),
        ms(*samples.last().unwrap())
    );
}

#[tokio::main]
async fn main() {
    let licenses: usize = env_or("LM_BENCH_LICENSES", 100_000);
    let rounds: usize = env_or("LM_BENCH_ROUNDS", 5);
    let (mut server, token) = Server::seeded_for_benchmarks(licenses).await;
    let daemon = Daemon::start(&server.url, &token).await;
    daemon
        .connect()
        .await
        .wait_for(Duration::from_secs(600), |s| {
            s.licenses == licenses && s.connection == lm_protocol::socket::Connection::Live
        })
        .await;
    println!("\n== lm (TUI) over {licenses} licenses cached by lmd, 120×40 test screen");
    println!(
        "{:<44} {:>6} {:>9} {:>9} {:>9}",
        "", "n", "p50 ms", "p99 ms", "max ms"
    );

    // Start to first frame, and to the first frame listing the inventory.
    let (mut first, mut filled) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        let started = Instant::now();
        let mut tui = Tui::start(&daemon);
        first.push(tui.frame(|_| true).await.drawn_at - started);
        filled.push(
            tui.frame(|f| !f.loading && f.total == licenses)
                .await
                .drawn_at
                - started,
        );
        tui.quit().await;
    }
    row("start → first frame", first);
    row("start → first frame listing everything", filled);

    // Typing filters: every key of every phrase, then erasing it key by key.
    let mut tui = Tui::start(&daemon);
    tui.frame(|f| !f.loading && f.total == licenses).await;
    let (mut typing, mut erasing, mut drawing) = (Vec::new(), Vec::new(), Vec::new());
    let mut slowest: Vec<(Duration, String)> = Vec::new();
    let wall = |at: Instant| {
        chrono::Utc::now() - chrono::Duration::from_std(at.elapsed()).unwrap_or_default()
    };
    let mut first_round = Vec::new();
    let cpu = lm_tests::CpuTime::now();
    for round in 0..rounds {
        if round == 1 {
            first_round = typing.iter().chain(&erasing).copied().collect();
            (typing, erasing) = (Vec::new(), Vec::new());
        }
        for phrase in lm_tests::TYPED_FILTERS {
            tui.press(KeyCode::Char('/'), "").await;
            let mut typed = String::new();
            for c in phrase.chars() {
                typed.push(c);
                let sent = Instant::now();
                let frame = tui.press(KeyCode::Char(c), &typed).await;
                typing.push(frame.drawn_at - sent);
                slowest.push((
                    frame.drawn_at - sent,
                    format!("{typed:?} at {}", wall(sent).format("%H:%M:%S%.3f")),
                ));
                drawing.push(frame.drawing);
            }
            while typed.pop().is_some() {
                let sent = Instant::now();
                let frame = tui.press(KeyCode::Backspace, &typed).await;
                erasing.push(frame.drawn_at - sent);
                slowest.push((
                    frame.drawn_at - sent,
                    format!("{typed:?} at {}", wall(sent).format("%H:%M:%S%.3f")),
                ));
                drawing.push(frame.drawing);
            }
            tui.press(KeyCode::Esc, "").await;
        }
    }
    let steal = cpu.steal_since();
    row("keystroke → frame, first round (any key)", first_round);
    row("keystroke → frame, later rounds, typing", typing);
    row("keystroke → frame, later rounds, erasing", erasing);
    row("drawing a frame (part of the above)", drawing);
    // lmd's own share: how long it took to list, by its log.
    let log = daemon.log();
    let micros = |line: &str| -> Option<u64> {
        line.split("micros=")
            .nth(1)?
            .split(' ')
            .next()?
            .parse()
            .ok()
    };
    let listing: Vec<Duration> = log
        .lines()
        .filter(|line| line.contains("listed"))
        .filter_map(micros)
        .map(Duration::from_micros)
        .collect();
    if !listing.is_empty() {
        row("lmd's own time per list, by its log", listing);
    }
    slowest.sort_by_key(|(took, _)| std::cmp::Reverse(*took));
    println!("slowest keystrokes, with the filter they left:");
    for (took, filter) in slowest.iter().take(8) {
        println!("  {:>9.2} ms  {filter}", ms(*took));
    }
    println!("CPU time stolen by the VM's host while typing: {steal:.1} %");
    if std::env::var_os("LM_BENCH_VERBOSE").is_some() {
        // lmd's slowest lists and its order building, with their times of day.
        let mut lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("listed") || l.contains("prepared"))
            .collect();
        lines.sort_by_key(|l| std::cmp::Reverse(micros(l).unwrap_or(u64::MAX)));
        for line in lines.iter().take(12) {
            println!("  {line}");
        }
        let kept = lm_tests::target_dir().join("tui-bench-lmd.log");
        std::fs::write(&kept, &log).expect("keep lmd's log");
        println!("lmd's whole log: {}", kept.display());
    }
    tui.quit().await;

    insights(&daemon, licenses).await;
    drop(daemon);
    server.stop();
}

/// The Insights: each report as lmd answers it over its socket (the whole request, JSON
/// included), the screen's first frame after `I`, and a filter typed on it.
async fn insights(daemon: &Daemon, licenses: usize) {
    use lm_protocol::insights::{ReportKind, ReportParams, ReportRequest};
    use lm_protocol::socket::{Reply, Request};
    println!(
        "
== Insights over {licenses} licenses"
    );
    println!(
        "{:<44} {:>6} {:>9} {:>9} {:>9}",
        "", "n", "p50 ms", "p99 ms", "max ms"
    );
    let today = chrono::Utc::now().date_naive();
    let mut client = daemon.connect().await;
    for report in ReportKind::ALL {
        for text in ["", "vendor:adobe", "kind:subscription cost>500"] {
            let filter = lm_protocol::Query::parse(text, today)
                .expect("a query")
                .filter;
            let mut took = Vec::new();
            for _ in 0..50 {
                let sent = Instant::now();
                let reply = client
                    .request(Request::Report(ReportRequest {
                        report,
                        filter: filter.clone(),
                        params: ReportParams::default(),
                    }))
                    .await;
                took.push(sent.elapsed());
                assert!(matches!(reply, Ok(Reply::Report(_))), "{reply:?}");
            }
            let name = if text.is_empty() { "all" } else { text };
            row(&format!("report {} ({name})", report.as_str()), took);
        }
    }

    // `I` to the first frame with the forecast drawn, from the licenses' screen.
    let mut first = Vec::new();
    for _ in 0..10 {
        let mut tui = Tui::start(daemon);
        tui.frame(|f| !f.loading && f.total == licenses).await;
        let sent = Instant::now();
        tui.keys
            .send(KeyEvent::new(KeyCode::Char('I'), KeyModifiers::NONE))
            .expect("the TUI ended");
        let frame = tui.frame(|f| f.insights_loading == Some(false)).await;
        first.push(frame.drawn_at - sent);
        tui.quit().await;
    }
    row("I → first frame with the forecast", first);

    // Typing a filter on the Insights: each key to the frame with the charts redrawn.
    let mut tui = Tui::start(daemon);
    tui.frame(|f| !f.loading && f.total == licenses).await;
    tui.keys
        .send(KeyEvent::new(KeyCode::Char('I'), KeyModifiers::NONE))
        .expect("the TUI ended");
    tui.frame(|f| f.insights_loading == Some(false)).await;
    let (mut keys, mut drawing) = (Vec::new(), Vec::new());
    for report in ['1', '2', '4'] {
        tui.keys
            .send(KeyEvent::new(KeyCode::Char(report), KeyModifiers::NONE))
            .expect("the TUI ended");
        tui.frame(|f| f.insights_loading == Some(false)).await;
        for phrase in ["vendor:adobe", "kind:subscription cost>500"] {
            tui.keys
                .send(KeyEvent::new(KeyCode::Char('/'), KeyModifiers::NONE))
                .expect("the TUI ended");
            let mut typed = String::new();
            for c in phrase.chars() {
                typed.push(c);
                let sent = Instant::now();
                tui.keys
                    .send(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
                    .expect("the TUI ended");
                let frame = tui
                    .frame(|f| f.filter == typed && f.insights_loading == Some(false))
                    .await;
                keys.push(frame.drawn_at - sent);
                drawing.push(frame.drawing);
            }
            tui.keys
                .send(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE))
                .expect("the TUI ended");
            tui.frame(|f| f.filter.is_empty() && f.insights_loading == Some(false))
                .await;
        }
    }
    row("filter key → charts redrawn", keys);
    row("drawing an Insights frame (part of the above)", drawing);
    tui.quit().await;
}
