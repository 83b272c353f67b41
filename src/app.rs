//! The commands: open the source, run the engine, hand the result to a view. Errors are
//! mapped to exit codes here (documented in the README).

use crate::cli::{
    AnalyzeArgs, Cli, Command, DashboardArgs, ExportArgs, InputArgs, LiveArgs, ViewArgs,
};
use crate::driver;
use crate::engine::Engine;
use crate::model::{EngineOutput, Notice};
use crate::source::{self, InputError, PacketSource};
use anyhow::bail;
use std::io::Write;
use std::process::ExitCode;

/// Exit code: 0 done; 1 internal or output error; 2 usage; 3 no usable input; 4 live capture
/// failed (interface or permission).
pub fn exit_code_for(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<InputError>().is_some() {
        3
    } else if e.downcast_ref::<source::LiveError>().is_some() {
        4
    } else {
        1
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Analyze(a) => analyze(&a),
        Command::Transactions(i) => transactions(&i),
        Command::Export(e) => export(&e),
        Command::Interfaces => {
            #[cfg(feature = "live")]
            {
                let mut stdout = std::io::stdout().lock();
                for i in source::live::list_interfaces()? {
                    writeln!(stdout, "{i}")?;
                }
                Ok(ExitCode::SUCCESS)
            }
            #[cfg(not(feature = "live"))]
            bail!("listing interfaces needs the `live` feature: cargo install --path . --features live")
        }
        Command::Dashboard(d) => dashboard(&d),
        Command::Live(l) => live(&l),
    }
}

fn open(input: &InputArgs) -> anyhow::Result<Box<dyn PacketSource>> {
    if let Some(iface) = &input.interface {
        if !input.files.is_empty() {
            bail!("give either capture files or --interface, not both");
        }
        #[cfg(feature = "live")]
        {
            let src = source::live::LiveSource::open(
                iface,
                input.bpf.as_deref(),
                &input.proxy_ports,
                input.decap_config().tunnel_udp_ports().as_deref(),
                input.duration,
            )?;
            // Ctrl-C or SIGTERM ends the capture (the report is still printed); a second
            // Ctrl-C quits.
            let stop = src.stop_flag();
            std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async {
                    use tokio::signal::unix::{signal, SignalKind};
                    let Ok(mut term) = signal(SignalKind::terminate()) else {
                        return;
                    };
                    tokio::select! {
                        r = tokio::signal::ctrl_c() => if r.is_err() { return },
                        _ = term.recv() => {}
                    }
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                    eprintln!("proxy407: stopping the capture (Ctrl-C again to quit)");
                    if tokio::signal::ctrl_c().await.is_ok() {
                        std::process::exit(130);
                    }
                });
            });
            return Ok(Box::new(src));
        }
        #[cfg(not(feature = "live"))]
        {
            let _ = iface;
            bail!("live capture needs the `live` feature: cargo install --path . --features live");
        }
    }
    let files = input.capture_files()?;
    if files.is_empty() {
        return Err(InputError("no capture file given (use - for standard input)".into()).into());
    }
    source::file::open_files(&files)
}

/// Runs the engine over the whole input, with a progress bar on standard error when it is
/// a terminal (and `--quiet` is not given); the source's notices are printed there too.
///
/// `keep_transactions`: whether every transaction is kept for the output (`transactions`,
/// `export`); the report needs only the episodes, so its memory does not grow with requests.
pub fn run_engine(input: &InputArgs, keep_transactions: bool) -> anyhow::Result<EngineOutput> {
    let mut cfg = input.engine_config()?;
    cfg.analysis.keep_transactions = keep_transactions;
    let mut src = open(input)?;
    let mut sink = Progress {
        bar: progress_bar(input, src.progress().1),
        frames: 0,
    };
    let out = driver::run(src.as_mut(), Engine::new(cfg), &mut sink);
    if let Some(bar) = sink.bar {
        bar.finish_and_clear();
    }
    Ok(out)
}

/// The batch commands' sink: a progress bar and the notices on standard error.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    frames: u64,
}

impl driver::Sink for Progress {
    fn after_step(
        &mut self,
        _: &mut Engine,
        src: &dyn PacketSource,
        _: driver::Step,
    ) -> driver::Flow {
        self.frames += 1;
        if self.frames % 65_536 == 0 {
            if let Some(bar) = &self.bar {
                bar.set_position(src.progress().0);
            }
        }
        driver::Flow::Continue
    }

    fn notices(&mut self, notices: &[Notice]) {
        for n in notices {
            eprintln!("proxy407: {n}");
        }
    }
}

/// A byte-based progress bar for inputs of known size, shown only on a terminal.
fn progress_bar(input: &InputArgs, total: Option<u64>) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    let total = total?;
    if input.quiet || !std::io::stderr().is_terminal() || total < (64 << 20) {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} {bytes}/{total_bytes} {wide_bar} {bytes_per_sec} eta {eta}",
    )
    .ok()?;
    bar.set_style(style);
    Some(bar)
}

/// Runs the engine and applies `--pseudonymize`: what every view reads.
fn analysed(input: &InputArgs, keep_transactions: bool) -> anyhow::Result<EngineOutput> {
    let mut out = run_engine(input, keep_transactions)?;
    if let Some(p) = input.pseudonymizer() {
        crate::pseudonym::pseudonymize(
            &mut out.analysis.episodes,
            &mut out.analysis.transactions,
            &p,
        );
    }
    Ok(out)
}

fn analyze(a: &AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let out = analysed(&a.input, false)?;
    let text =
        crate::report::analyze_report(&out, a.top, a.json, crate::report::use_color(a.no_color));
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn transactions(i: &InputArgs) -> anyhow::Result<ExitCode> {
    let out = analysed(i, true)?;
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    for t in &out.analysis.transactions {
        serde_json::to_writer(&mut stdout, t)?;
        writeln!(stdout)?;
    }
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn export(e: &ExportArgs) -> anyhow::Result<ExitCode> {
    let out = analysed(&e.input, true)?;
    let tables = crate::export::build_tables(&out.analysis.episodes, &out.analysis.transactions)?;
    let written = crate::export::write_tables(&tables, &e.out, e.format, &e.tables, e.force)?;
    for path in written {
        eprintln!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The dashboard's options from the command line.
fn view_options(
    view: &ViewArgs,
    source_label: String,
    kind: crate::tui::app::SourceKind,
    speed: Option<f64>,
) -> anyhow::Result<crate::tui::Options> {
    if view.export_every.is_some() && view.out.is_none() {
        bail!("--export-every needs --out DIR");
    }
    if view.export_every.is_some_and(|d| d.is_zero()) {
        bail!("--export-every must be longer than zero");
    }
    Ok(crate::tui::Options {
        source_label,
        kind,
        speed,
        headless: view.headless,
        export_every: view.export_every,
        out: view.out.clone(),
        format: view.format,
        keep: view.keep,
        status_every: view.status_every,
        fps: view.fps,
        pseudonymizer: None,
        metrics: view.metrics.map(|a| (a, crate::metrics::Metrics::new())),
    })
}

/// Engine settings of the dashboard: transactions are not kept (episodes only).
fn dashboard_engine_config(input: &InputArgs) -> anyhow::Result<crate::engine::EngineConfig> {
    let mut cfg = input.engine_config()?;
    cfg.analysis.keep_transactions = false;
    Ok(cfg)
}

/// `proxy407 dashboard FILE...`: capture files replayed in packet time.
fn dashboard(d: &DashboardArgs) -> anyhow::Result<ExitCode> {
    if d.input.interface.is_some() {
        bail!("dashboard replays files; use `proxy407 live --interface IFACE` for an interface");
    }
    let files = d.input.capture_files()?;
    if files.is_empty() {
        return Err(InputError("no capture file given (use - for standard input)".into()).into());
    }
    if !(d.speed.is_finite() && d.speed > 0.0) {
        bail!("--speed must be a positive number");
    }
    let speed = (!d.max_speed).then_some(d.speed);
    let label = files
        .iter()
        .map(|p| {
            p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mut opts = view_options(&d.view, label, crate::tui::app::SourceKind::Replay, speed)?;
    opts.pseudonymizer = d.input.pseudonymizer();
    let cfg = dashboard_engine_config(&d.input)?;
    crate::tui::run(
        Box::new(move || {
            source::file::open_files(&files).map_err(|e| InputError(format!("{e:#}")).into())
        }),
        cfg,
        opts,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `proxy407 live --interface IFACE`.
fn live(l: &LiveArgs) -> anyhow::Result<ExitCode> {
    let Some(iface) = l.input.interface.clone() else {
        bail!("live needs --interface IFACE");
    };
    if !l.input.files.is_empty() {
        bail!("live reads an interface, not files; use `proxy407 dashboard FILE...` for files");
    }
    let mut opts = view_options(
        &l.view,
        format!("interface {iface}"),
        crate::tui::app::SourceKind::Live,
        None,
    )?;
    opts.pseudonymizer = l.input.pseudonymizer();
    let cfg = dashboard_engine_config(&l.input)?;
    live_run(iface, &l.input, cfg, opts)
}

#[cfg(feature = "live")]
fn live_run(
    iface: String,
    input: &InputArgs,
    cfg: crate::engine::EngineConfig,
    opts: crate::tui::Options,
) -> anyhow::Result<ExitCode> {
    let bpf = input.bpf.clone();
    let ports = input.proxy_ports.clone();
    let tunnel_ports = input.decap_config().tunnel_udp_ports();
    let duration = input.duration;
    crate::tui::run(
        Box::new(move || {
            let src = source::live::open_live(
                &iface,
                bpf.as_deref(),
                &ports,
                tunnel_ports.as_deref(),
                duration,
            )?;
            Ok(src as Box<dyn PacketSource>)
        }),
        cfg,
        opts,
    )?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "live"))]
fn live_run(
    _iface: String,
    _input: &InputArgs,
    _cfg: crate::engine::EngineConfig,
    _opts: crate::tui::Options,
) -> anyhow::Result<ExitCode> {
    bail!("live capture needs the `live` feature: cargo install --path . --features live")
}
