//! The live dashboard (`proxy407 live`, `proxy407 dashboard`) and its headless sensor mode.
//! [`app`] holds the state and the keys, [`ui`] draws it (a pure function of the state),
//! [`event`] runs the engine on its own thread; this module ties them together, restores
//! the terminal and writes the periodic, rotated exports.
//!
//! # Dashboard (README section)
//!
//! ```text
//! proxy407 live --interface eth0 [--proxy-port 3128,8080] [--bpf 'net 10.0.0.0/8']
//! proxy407 dashboard capture.pcap... [--speed 10 | --max-speed]
//! proxy407 dashboard capture.pcap --headless --max-speed --export-every 5m --out DIR
//! ```
//!
//! `live` watches an interface (build with `--features live`). `dashboard` replays capture
//! files in packet time, so a capture from a complaint can be watched as it happened:
//! paused (`p`), sped up (`+`, `-`, `--speed N`) or run at full speed (`--max-speed`). Both
//! show the same screen. It fits 80×24 and uses more room when there is more:
//!
//! - **Header**: the source, elapsed packet time, packets/s and bandwidth (over the last
//!   5 s of packet time), kernel drops (live), and the capture's health: `ok`, or
//!   `LOSSY (...)` when drops, capture gaps, truncated packets, decode errors or limits
//!   mean that missing data could look like failing users, then the anomaly counted most
//!   (`top anomaly http.bad_chunk 3`) when there is one.
//! - **Tiles**: challenges (`407`s), authenticated, failed, unresolved episodes, users
//!   failing (`+` when some failure has no user name), median time to authenticate.
//! - **Failures by cause** as bars; the selected cause's remedy (and, with room, its
//!   prevention) is shown below the bars
//!   (or in the footer on a small screen).
//! - **Timeline**: challenges and failures per minute.
//! - **Recent failures**: the latest failed episodes as they are judged (or, with `f`, the
//!   **findings** by user; both from 120 columns).
//! - **Tables** of users, clients, proxies and targets (the numbers of `analyze` and of
//!   `export`), sortable by any column, filterable by key.
//! - **Drill-down**: Enter on a row lists that user's, client's, proxy's or target's
//!   episodes: verdict, cause, detail, scheme, start time, time to authenticate,
//!   connections.
//!
//! Keys: `tab`/`shift-tab` panels, `←`/`→` or `1`–`4` tables, `↑`/`↓`/`PgUp`/`PgDn` move,
//! `Enter` drill down, `Esc` back, `/` filter, `s` sort by the next column, `S` reverse,
//! `f` findings or recent failures, `p` pause, `+`/`-` replay speed, `e` export the tables
//! and the HTML report, `?` help, `q` or Ctrl-C quit.
//! Everything is readable without colour (brackets, `>` markers, words).
//!
//! The capture never waits on the screen: the engine runs on its own thread and sends the
//! newly judged episodes over a bounded channel; the screen is redrawn 8 times a second
//! from the dashboard's own aggregate, and only the visible table is sorted. When the
//! capture ends (or on `q`, Ctrl-C, SIGTERM) the engine judges what is still open, so the
//! final numbers are those of `proxy407 analyze` on the same capture. The terminal is
//! restored on every exit, including a panic.
//!
//! `--headless` (sensors) draws nothing: it prints a one-line status to standard error
//! every `--status-every` (10 s) and, with `--out DIR`, exports the tables every
//! `--export-every` of packet time (a replay writes the exports a live run would have
//! written) and once more at the end, each time into a new subdirectory
//! `DIR/proxy407-<UTC packet time>-<n>/`, keeping the last `--keep` (12). An export holds the
//! aggregate tables of `proxy407 export` (users, clients, proxies, targets, causes,
//! timeline) since the start, and the same tables of the interval since the previous export
//! in `interval/`; the records themselves go to `--records`. Ctrl-C or SIGTERM stops the
//! capture, judges what is pending and writes the last export: nothing is lost. `e` in the
//! dashboard writes the same export (into `--out`, default `./proxy407-export`) and, beside
//! the tables, the HTML report of `analyze --html` (`report.html`, [`write_report`]).
//!
//! `--lang ja|en` (default from the locale) sets every label, the help and the report's
//! language. `f` shows the **findings** panel (lockout-risk users by name with their failed
//! episodes in 10 minutes, cleartext Basic, NTLMv1, Kerberos→NTLM fallback, oversized
//! tokens) in place of the recent failures; from 120 columns both are shown. The users and
//! clients tables have a findings column; every column is as wide as its content.
//!
//! `--metrics ADDR` serves Prometheus metrics of what the screen counts ([`crate::metrics`]),
//! and `--records DIR` streams the final episodes, written on the engine thread.
//!
//! Memory stays bounded over weeks: the dashboard keeps the aggregate ([`crate::stats::Stats`],
//! bounded by `--max-keys`) and the latest `--keep-episodes` episodes for the drill-down,
//! which says when older ones of a key are no longer kept.

pub mod app;
pub mod event;
pub mod ui;

use crate::engine::EngineConfig;
use crate::export::{check_targets, write_aggregates, Format, AGGREGATE_TABLES};
use crate::model::Ts;
use crate::stats::Stats;
use anyhow::Context as _;
use app::{Action, App, SourceKind};
use event::{spawn_engine, Control, EngineMsg, Opener};
use futures::StreamExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

/// How the dashboard runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// Shown in the header (file names or interface).
    pub source_label: String,
    pub kind: SourceKind,
    /// Replay speed; `None`: as fast as possible.
    pub speed: Option<f64>,
    pub headless: bool,
    pub export_every: Option<Duration>,
    pub out: Option<PathBuf>,
    pub format: Format,
    /// Exports kept in `out`.
    pub keep: usize,
    pub status_every: Duration,
    /// Screen redraws per second.
    pub fps: u32,
    /// `--pseudonymize`: names (and maybe addresses) replaced before anything is shown.
    pub pseudonymizer: Option<crate::pseudonym::Pseudonymizer>,
    /// `--keep-episodes`: episodes kept for the drill-down.
    pub keep_episodes: usize,
    /// `--max-keys`.
    pub stats_limits: crate::stats::StatsLimits,
    /// `--records`: written on the engine thread as episodes become final.
    pub records: Option<crate::records::RecordsConfig>,
    /// `--metrics`: where `GET /metrics` is served, and the metrics every received episode
    /// and counter goes into.
    pub metrics: Option<(std::net::SocketAddr, crate::metrics::Metrics)>,
    /// `--lang`: the language of the screen and of the report `e` writes.
    pub lang: crate::i18n::Lang,
}

/// The name prefix of export subdirectories (only those are ever removed by rotation).
pub const EXPORT_PREFIX: &str = "proxy407-";

/// Writes the aggregate tables of `total` and, in `interval/`, of `interval` into a new
/// subdirectory of `out` named by the packet time `at`, and removes the oldest such
/// subdirectories beyond `keep`. Returns the directory written.
pub fn export_rotated(
    total: &Stats,
    interval: &Stats,
    at: Ts,
    out: &Path,
    format: Format,
    keep: usize,
    seq: u64,
) -> anyhow::Result<PathBuf> {
    let now = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.micros()) * 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let dir = out.join(format!("{EXPORT_PREFIX}{stamp}-{seq:04}"));
    let part = dir.join("interval");
    // The aggregate tables (the records go to `--records`), built one at a time.
    check_targets(&dir, format, AGGREGATE_TABLES, false)?;
    check_targets(&part, format, AGGREGATE_TABLES, false)?;
    write_aggregates(total, AGGREGATE_TABLES, &dir, format)?;
    write_aggregates(interval, AGGREGATE_TABLES, &part, format)?;
    prune(out, keep.max(1))?;
    Ok(dir)
}

fn is_export_dir(name: &str) -> bool {
    // proxy407-YYYYMMDDTHHMMSSZ-NNNN
    name.strip_prefix(EXPORT_PREFIX).is_some_and(|rest| {
        rest.len() >= 21
            && rest.as_bytes().get(8) == Some(&b'T')
            && rest.as_bytes().get(15) == Some(&b'Z')
    })
}

fn prune(out: &Path, keep: usize) -> anyhow::Result<()> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .with_context(|| format!("cannot list {}", out.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| e.file_name().to_str().is_some_and(is_export_dir))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    let excess = dirs.len().saturating_sub(keep);
    for d in dirs.iter().take(excess) {
        std::fs::remove_dir_all(d).with_context(|| format!("cannot remove {}", d.display()))?;
    }
    Ok(())
}

/// The file name of the HTML report that `e` writes beside the tables.
pub const REPORT_FILE: &str = "report.html";

/// Writes the HTML report of what the dashboard has settled ([`crate::html`]) into `dir`,
/// beside the exported tables, in the dashboard's language: the same report as
/// `analyze --html`, with the failed episodes the dashboard still keeps.
pub fn write_report(app: &App, dir: &Path) -> anyhow::Result<PathBuf> {
    let p = &app.progress;
    let summary = crate::stats::Summary::build(
        &app.settled,
        &p.capture,
        &p.http,
        &p.anomalies,
        &p.floods,
        &app.notices,
        10,
    );
    let mut failed = crate::html::FailedEpisodes::new();
    for e in app.store.kept() {
        failed.add(e);
    }
    let html = crate::html::render(&app.settled, &summary, app.lang, &failed)?;
    let path = dir.join(REPORT_FILE);
    std::fs::write(&path, html).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// One status line (headless mode): the settled episodes, and how many are still open or
/// settling.
pub(crate) fn status_line(app: &App) -> String {
    let shown = app.shown();
    let t = shown.totals();
    let c = &app.progress.capture;
    let (pps, _) = app.rates().unwrap_or((0.0, 0.0));
    let drops = app
        .progress
        .source
        .kernel_dropped
        .map_or_else(|| "n/a".to_string(), |d| d.to_string());
    format!(
        "proxy407: {} packets ({} pkt/s), drops {}, gaps {} B; episodes {} (authenticated {}, failed {}, unresolved {}), users failing {}; {} open, {} settling",
        c.packets,
        ui::human(pps),
        drops,
        c.gap_bytes,
        t.total,
        t.authenticated,
        t.failed,
        t.unresolved,
        shown.users_affected(),
        app.progress.open_episodes,
        app.progress.settling_episodes,
    )
}

/// Runs the dashboard (or the headless sensor) until the capture ends (headless, or
/// interactive after `q`), `q`, Ctrl-C or SIGTERM.
pub fn run(open: Opener, cfg: EngineConfig, opts: Options) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_async(open, cfg, opts))
}

async fn run_async(open: Opener, cfg: EngineConfig, opts: Options) -> anyhow::Result<()> {
    if let Some((addr, metrics)) = &opts.metrics {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("--metrics: cannot listen on {addr}"))?;
        tokio::spawn(crate::metrics::serve(listener, metrics.clone()));
    }
    let ctrl = Control::new(opts.speed);
    let (tx, rx) = mpsc::channel(event::CHANNEL_CAPACITY);
    let replay = opts.kind == SourceKind::Replay;
    let every = opts.export_every.filter(|_| opts.out.is_some());
    let records = match &opts.records {
        Some(c) => Some(event::RecordsOut {
            writer: crate::records::RecordsWriter::create(c.clone())?,
            pseudonymizer: opts.pseudonymizer.clone(),
        }),
        None => None,
    };
    let _engine = spawn_engine(open, cfg, replay, every, records, ctrl.clone(), tx)?;
    let mut app = App::new(opts.source_label.clone(), opts.kind.clone(), opts.speed);
    app.pseudonymizer = opts.pseudonymizer.clone();
    app.store = app::Store::new(opts.keep_episodes);
    app.set_limits(opts.stats_limits);
    app.metrics = opts.metrics.as_ref().map(|(_, m)| m.clone());
    app.lang = opts.lang;
    if opts.headless {
        app.without_screen();
        headless(&mut app, rx, &ctrl, &opts).await
    } else {
        let mut terminal = ratatui::try_init().context("cannot set up the terminal")?;
        let r = interactive(&mut terminal, &mut app, rx, &ctrl, &opts).await;
        ratatui::restore();
        r
    }
}

/// Export state shared by both modes.
struct Exporter {
    seq: u64,
    /// `--export-every` (with `--out`): the engine sends the boundaries.
    periodic: bool,
}

impl Exporter {
    fn new(opts: &Options) -> Exporter {
        Exporter {
            seq: 0,
            periodic: opts.export_every.is_some() && opts.out.is_some(),
        }
    }

    /// Exports now, named by packet time `at` (the interval tables start again).
    fn export(&mut self, app: &mut App, opts: &Options, at: Option<Ts>) -> anyhow::Result<PathBuf> {
        self.seq += 1;
        let out = opts
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("proxy407-export"));
        let at = at
            .or(app.progress.now)
            .or(app.progress.capture.last_ts)
            .unwrap_or(Ts::ZERO);
        let interval = app.take_interval();
        export_rotated(
            &app.settled,
            &interval,
            at,
            &out,
            opts.format,
            opts.keep,
            self.seq,
        )
    }

    /// A message from the engine: a boundary is a periodic export.
    fn on_engine(
        &mut self,
        app: &mut App,
        msg: EngineMsg,
        opts: &Options,
    ) -> Option<anyhow::Result<PathBuf>> {
        match msg {
            EngineMsg::Boundary { at } if self.periodic => Some(self.export(app, opts, Some(at))),
            EngineMsg::Boundary { .. } => None,
            m => {
                app.on_engine(m);
                None
            }
        }
    }
}

/// Waits for the engine's final message (after a stop), at most `limit`.
async fn drain_until_done(app: &mut App, rx: &mut mpsc::Receiver<EngineMsg>, limit: Duration) {
    if app.finished {
        return;
    }
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            m = rx.recv() => match m {
                Some(m) => {
                    app.on_engine(m);
                    if app.finished {
                        return;
                    }
                }
                None => return,
            },
            _ = &mut deadline => return,
        }
    }
}

fn interval(d: Duration) -> tokio::time::Interval {
    let mut i = tokio::time::interval_at(tokio::time::Instant::now() + d, d);
    i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    i
}

async fn headless(
    app: &mut App,
    mut rx: mpsc::Receiver<EngineMsg>,
    ctrl: &Arc<Control>,
    opts: &Options,
) -> anyhow::Result<()> {
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut status = interval(opts.status_every.max(Duration::from_millis(100)));
    let mut exporter = Exporter::new(opts);
    let mut open = true;
    loop {
        tokio::select! {
            m = rx.recv(), if open => match m {
                Some(m) => {
                    match exporter.on_engine(app, m, opts) {
                        Some(Ok(d)) => eprintln!("proxy407: exported {}", d.display()),
                        Some(Err(e)) => eprintln!("proxy407: export failed: {e:#}"),
                        None => {}
                    }
                    if app.finished {
                        break;
                    }
                }
                None => open = false,
            },
            _ = status.tick() => eprintln!("{}", status_line(app)),
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
        }
    }
    ctrl.stop();
    drain_until_done(app, &mut rx, Duration::from_secs(30)).await;
    for n in &app.notices {
        eprintln!("proxy407: {n}");
    }
    eprintln!("{}", status_line(app));
    if opts.out.is_some() {
        let d = exporter.export(app, opts, None)?;
        eprintln!("proxy407: exported {}", d.display());
    }
    Ok(())
}

async fn interactive(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    mut rx: mpsc::Receiver<EngineMsg>,
    ctrl: &Arc<Control>,
    opts: &Options,
) -> anyhow::Result<()> {
    let mut events = crossterm::event::EventStream::new();
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let period = Duration::from_millis(1000 / u64::from(opts.fps.clamp(1, 60)));
    let mut tick = interval(period);
    let mut exporter = Exporter::new(opts);
    let mut open = true;
    let mut last_refresh = Instant::now();
    let mut redraw = true;
    loop {
        if redraw {
            // Big tables are re-sorted at most once a second; keys refresh at once.
            let slow = app.rows().len() > 5000 && last_refresh.elapsed() < Duration::from_secs(1);
            if app.needs_refresh() && !slow {
                app.refresh_view();
                last_refresh = Instant::now();
            }
            terminal.draw(|f| ui::draw(f, app))?;
            redraw = false;
        }
        tokio::select! {
            _ = tick.tick() => redraw = true,
            m = rx.recv(), if open => match m {
                Some(m) => {
                    if let Some(Err(e)) = exporter.on_engine(app, m, opts) {
                        app.status = Some(crate::i18n::tf(
                            app.lang,
                            "tui-export-failed",
                            crate::i18n::Args::new().s("error", format!("{e:#}")),
                        ));
                    }
                }
                None => open = false,
            },
            ev = events.next() => match ev {
                Some(Ok(crossterm::event::Event::Key(k)))
                    if k.kind == crossterm::event::KeyEventKind::Press =>
                {
                    match app.on_key(k) {
                        Action::Quit => break,
                        Action::Export => {
                            let done = exporter
                                .export(app, opts, None)
                                .and_then(|d| write_report(app, &d).map(|_| d));
                            let lang = app.lang;
                            app.status = Some(match done {
                                Ok(d) => crate::i18n::tf(
                                    lang,
                                    "tui-exported",
                                    crate::i18n::Args::new().s("dir", d.display().to_string()),
                                ),
                                Err(e) => crate::i18n::tf(
                                    lang,
                                    "tui-export-failed",
                                    crate::i18n::Args::new().s("error", format!("{e:#}")),
                                ),
                            });
                        }
                        Action::Pause(p) => ctrl.set_paused(p),
                        Action::Speed(s) => ctrl.set_speed(s),
                        Action::None => {}
                    }
                    last_refresh = Instant::now();
                    redraw = true;
                }
                Some(Ok(_)) => redraw = true,
                Some(Err(_)) | None => break,
            },
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
        }
    }
    ctrl.stop();
    if exporter.periodic {
        drain_until_done(app, &mut rx, Duration::from_secs(10)).await;
        exporter.export(app, opts, None)?;
    }
    Ok(())
}
