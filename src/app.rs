//! The commands: open the source, run the engine, hand the result to a view. Errors are
//! mapped to exit codes here (documented in the README).

use crate::cli::{AnalyzeArgs, Cli, Command, DashboardArgs, InputArgs, LiveArgs, ViewArgs};
use crate::engine::{Engine, EngineOutput};
use crate::source::{self, PacketSource};
use anyhow::bail;
use std::io::Write;
use std::process::ExitCode;

/// An input that could not be opened or read at all.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

/// Exit code: 0 done; 1 internal or output error; 2 usage; 3 no usable input; 4 live capture
/// failed (interface or permission).
pub fn exit_code_for(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<InputError>().is_some() {
        3
    } else {
        1
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Analyze(a) => analyze(&a),
        Command::Transactions(i) => transactions(&i),
        Command::Interfaces => bail!("listing interfaces needs the `live` feature"),
        Command::Dashboard(d) => dashboard(&d),
        Command::Live(l) => live(&l),
    }
}

fn open(input: &InputArgs) -> anyhow::Result<Box<dyn PacketSource>> {
    if input.interface.is_some() {
        bail!("live capture needs the `live` feature: cargo install --path . --features live");
    }
    if input.files.is_empty() {
        return Err(InputError("no capture file given (use - for standard input)".into()).into());
    }
    source::file::open_files(&input.files)
}

/// Runs the engine over the whole input, with a progress bar on standard error when it is
/// a terminal (and `--quiet` is not given).
pub fn run_engine(input: &InputArgs) -> anyhow::Result<EngineOutput> {
    let cfg = input.engine_config()?;
    let mut src = open(input)?;
    let mut engine = Engine::new(cfg);
    let bar = progress_bar(input, src.progress().1);
    let mut frames: u64 = 0;
    while let Some(frame) = src.next_frame() {
        engine.ingest(&frame);
        frames += 1;
        if frames % 65_536 == 0 {
            if let Some(bar) = &bar {
                bar.set_position(src.progress().0);
            }
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let notices = src.take_notices();
    for n in &notices {
        eprintln!("proxy407: {n}");
    }
    engine.add_notices(notices);
    Ok(engine.finish(&src.stats()))
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

fn analyze(a: &AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let out = run_engine(&a.input)?;
    let json = serde_json::json!({ "capture": out.capture, "http": out.http });
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, &json)?;
    writeln!(stdout)?;
    Ok(ExitCode::SUCCESS)
}

fn transactions(i: &InputArgs) -> anyhow::Result<ExitCode> {
    let out = run_engine(i)?;
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    for t in &out.analysis.transactions {
        serde_json::to_writer(&mut stdout, t)?;
        writeln!(stdout)?;
    }
    stdout.flush()?;
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
    })
}

fn pseudonymizer_of(input: &InputArgs) -> Option<crate::pseudonym::Pseudonymizer> {
    input
        .pseudonymize
        .as_deref()
        .map(|k| crate::pseudonym::Pseudonymizer::new(k, input.pseudonymize_ips))
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
    if d.input.files.is_empty() {
        return Err(InputError("no capture file given (use - for standard input)".into()).into());
    }
    if !(d.speed.is_finite() && d.speed > 0.0) {
        bail!("--speed must be a positive number");
    }
    let speed = (!d.max_speed).then_some(d.speed);
    let label = d
        .input
        .files
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
    opts.pseudonymizer = pseudonymizer_of(&d.input);
    let cfg = dashboard_engine_config(&d.input)?;
    let files = d.input.files.clone();
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
    opts.pseudonymizer = pseudonymizer_of(&l.input);
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
    let duration = input.duration;
    crate::tui::run(
        Box::new(move || {
            let src = source::live::open_live(&iface, bpf.as_deref(), &ports, duration)?;
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
