//! The commands: open the source, run the engine, hand the result to a view. Errors are
//! mapped to exit codes here (documented in the README).

use crate::cli::{
    AnalyzeArgs, Cli, Command, DashboardArgs, ExportArgs, InputArgs, LiveArgs, ViewArgs,
};
use crate::driver;
use crate::engine::Engine;
use crate::export::{TableName, TableStream};
use crate::model::{EngineOutput, Episode, Notice, Transaction, Ts};
use crate::source::{self, InputError, PacketSource};
use crate::stats::Stats;
use anyhow::bail;
use std::io::Write;
use std::path::PathBuf;
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

/// Runs the engine over the whole input into `run` (the aggregate and the record writers),
/// with a progress bar on standard error when it is a terminal (and `--quiet` is not
/// given); the source's notices are printed there too. Records are pseudonymized (when
/// asked) before anything sees them.
///
/// `keep_transactions`: whether transactions are handed on (`transactions`, `export`,
/// `--records-transactions`); the report needs only the episodes.
fn run_engine(
    input: &InputArgs,
    keep_transactions: bool,
    outs: Vec<Box<dyn RecordOut>>,
) -> anyhow::Result<(Stats, EngineOutput, Vec<PathBuf>)> {
    let mut cfg = input.engine_config()?;
    cfg.analysis.keep_transactions = keep_transactions;
    let mut src = open(input)?;
    let mut sink = Run {
        bar: progress_bar(input, src.progress().1),
        frames: 0,
        pseudonymizer: input.pseudonymizer(),
        stats: Stats::with_limits(input.stats_limits()),
        outs,
        error: None,
    };
    let out = driver::stream(src.as_mut(), Engine::new(cfg), &mut sink);
    if let Some(bar) = &sink.bar {
        bar.finish_and_clear();
    }
    if let Some(e) = sink.error {
        return Err(e);
    }
    let mut written = Vec::new();
    for o in sink.outs {
        written.extend(o.finish()?);
    }
    Ok((sink.stats, out, written))
}

/// Runs the engine over the whole input and returns the output with every record collected
/// (pseudonymized when asked), for inputs small enough to hold: tests and tools that want
/// the records in memory. The commands stream instead.
pub fn collect(input: &InputArgs, keep_transactions: bool) -> anyhow::Result<EngineOutput> {
    let mut cfg = input.engine_config()?;
    cfg.analysis.keep_transactions = keep_transactions;
    let mut src = open(input)?;
    let mut out = driver::run(src.as_mut(), Engine::new(cfg), &mut driver::Batch);
    if let Some(p) = input.pseudonymizer() {
        crate::pseudonym::pseudonymize(
            &mut out.analysis.episodes,
            &mut out.analysis.transactions,
            &p,
        );
    }
    Ok(out)
}

/// A writer of records as they come (export's record tables, `--records`, standard output).
trait RecordOut {
    fn episode(&mut self, e: &Episode) -> anyhow::Result<()>;
    fn transaction(&mut self, t: &Transaction) -> anyhow::Result<()>;
    /// Packet time reached `now`.
    fn advance(&mut self, _now: Ts) -> anyhow::Result<()> {
        Ok(())
    }
    /// The end of the run: the files written.
    fn finish(self: Box<Self>) -> anyhow::Result<Vec<PathBuf>>;
}

/// `--records`: the hive-partitioned records.
impl RecordOut for crate::records::RecordsWriter {
    fn episode(&mut self, e: &Episode) -> anyhow::Result<()> {
        crate::records::RecordsWriter::episode(self, e)
    }
    fn transaction(&mut self, t: &Transaction) -> anyhow::Result<()> {
        crate::records::RecordsWriter::transaction(self, t)
    }
    fn advance(&mut self, now: Ts) -> anyhow::Result<()> {
        crate::records::RecordsWriter::advance(self, now)
    }
    fn finish(self: Box<Self>) -> anyhow::Result<Vec<PathBuf>> {
        Ok((*self).finish()?.files)
    }
}

/// The record writer of `--records`, when given.
fn records_out(
    records: &crate::cli::RecordsArgs,
    input: &InputArgs,
) -> anyhow::Result<Option<crate::records::RecordsWriter>> {
    let cfg = input.engine_config()?;
    records
        .config(&cfg)
        .map(crate::records::RecordsWriter::create)
        .transpose()
}

/// `export`'s record tables, streamed.
struct TableOut {
    episodes: Option<TableStream<Episode>>,
    transactions: Option<TableStream<Transaction>>,
}

impl RecordOut for TableOut {
    fn episode(&mut self, e: &Episode) -> anyhow::Result<()> {
        match &mut self.episodes {
            Some(s) => s.push(e),
            None => Ok(()),
        }
    }
    fn transaction(&mut self, t: &Transaction) -> anyhow::Result<()> {
        match &mut self.transactions {
            Some(s) => s.push(t),
            None => Ok(()),
        }
    }
    fn finish(self: Box<Self>) -> anyhow::Result<Vec<PathBuf>> {
        let mut v = Vec::new();
        if let Some(s) = self.transactions {
            v.push(s.finish()?);
        }
        if let Some(s) = self.episodes {
            v.push(s.finish()?);
        }
        Ok(v)
    }
}

/// `transactions`: one JSON object per line on standard output.
struct NdjsonOut {
    out: std::io::BufWriter<std::io::Stdout>,
}

impl RecordOut for NdjsonOut {
    fn episode(&mut self, _: &Episode) -> anyhow::Result<()> {
        Ok(())
    }
    fn transaction(&mut self, t: &Transaction) -> anyhow::Result<()> {
        serde_json::to_writer(&mut self.out, t)?;
        self.out.write_all(b"\n")?;
        Ok(())
    }
    fn finish(mut self: Box<Self>) -> anyhow::Result<Vec<PathBuf>> {
        self.out.flush()?;
        Ok(Vec::new())
    }
}

/// The batch commands' sink: a progress bar and the notices on standard error, the
/// aggregate, and the record writers. The first write error stops the run.
struct Run {
    bar: Option<indicatif::ProgressBar>,
    frames: u64,
    pseudonymizer: Option<crate::pseudonym::Pseudonymizer>,
    stats: Stats,
    outs: Vec<Box<dyn RecordOut>>,
    error: Option<anyhow::Error>,
}

impl Run {
    fn each(&mut self, f: impl Fn(&mut dyn RecordOut) -> anyhow::Result<()>) {
        if self.error.is_some() {
            return;
        }
        for o in &mut self.outs {
            if let Err(e) = f(o.as_mut()) {
                self.error = Some(e);
                return;
            }
        }
    }
}

impl driver::Sink for Run {
    fn after_step(
        &mut self,
        _: &mut Engine,
        src: &dyn PacketSource,
        step: driver::Step,
    ) -> driver::Flow {
        self.frames += 1;
        if self.frames % 65_536 == 0 {
            if let Some(bar) = &self.bar {
                bar.set_position(src.progress().0);
            }
            let (driver::Step::Frame(now) | driver::Step::Idle(now)) = step;
            self.each(|o| o.advance(now));
        }
        if self.error.is_some() {
            driver::Flow::Stop
        } else {
            driver::Flow::Continue
        }
    }

    fn notices(&mut self, notices: &[Notice]) {
        for n in notices {
            eprintln!("proxy407: {n}");
        }
    }

    fn episode(&mut self, mut e: Episode) {
        if let Some(p) = &self.pseudonymizer {
            crate::pseudonym::pseudonymize_episode(&mut e, p);
        }
        self.stats.add_episode(&e);
        self.each(|o| o.episode(&e));
    }

    fn transaction(&mut self, mut t: Transaction) {
        if let Some(p) = &self.pseudonymizer {
            crate::pseudonym::pseudonymize_transaction(&mut t, p);
        }
        self.stats.add_transaction(&t);
        self.each(|o| o.transaction(&t));
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

fn analyze(a: &AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let mut outs: Vec<Box<dyn RecordOut>> = Vec::new();
    if let Some(w) = records_out(&a.records, &a.input)? {
        outs.push(Box::new(w));
    }
    // The failed episodes' evidence, for the report and the HTML page (the latest, bounded).
    let failed = FailedOut::default();
    outs.push(Box::new(failed.clone()));
    let transactions = a.records.records.is_some() && a.records.records_transactions;
    let (stats, out, _) = run_engine(&a.input, transactions, outs)?;
    let lang = a.human.lang.resolve();
    if let Some(path) = &a.human.html {
        crate::html::write(path, &stats, &out, a.top, lang, &failed.0.borrow())?;
        eprintln!("wrote {}", path.display());
    }
    if a.human.html.is_some() && a.input.quiet && !a.json {
        return Ok(ExitCode::SUCCESS);
    }
    let opts = crate::report::TextOptions {
        color: crate::report::use_color(a.no_color),
        lang,
    };
    let text =
        crate::report::render_with_evidence(&stats, &out, a.top, a.json, &opts, &failed.0.borrow());
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The failed episodes kept for the evidence of the report and the HTML page.
#[derive(Clone, Default)]
struct FailedOut(std::rc::Rc<std::cell::RefCell<crate::report::FailedEpisodes>>);

impl RecordOut for FailedOut {
    fn episode(&mut self, e: &Episode) -> anyhow::Result<()> {
        self.0.borrow_mut().add(e);
        Ok(())
    }
    fn transaction(&mut self, _: &Transaction) -> anyhow::Result<()> {
        Ok(())
    }
    fn finish(self: Box<Self>) -> anyhow::Result<Vec<PathBuf>> {
        Ok(Vec::new())
    }
}

fn transactions(i: &InputArgs) -> anyhow::Result<ExitCode> {
    let out = NdjsonOut {
        out: std::io::BufWriter::new(std::io::stdout()),
    };
    run_engine(i, true, vec![Box::new(out)])?;
    Ok(ExitCode::SUCCESS)
}

fn export(e: &ExportArgs) -> anyhow::Result<ExitCode> {
    let names = crate::export::table_names(&e.tables);
    crate::export::check_targets(&e.out, e.format, &names, e.force)?;
    let tables = TableOut {
        episodes: names
            .contains(&TableName::Episodes)
            .then(|| TableStream::create(&e.out, e.format)),
        transactions: names
            .contains(&TableName::Transactions)
            .then(|| TableStream::create(&e.out, e.format)),
    };
    let (stats, _, mut written) = run_engine(&e.input, true, vec![Box::new(tables)])?;
    let frames: Vec<_> = crate::export::aggregate_frames(&stats)?
        .into_iter()
        .filter(|(t, _)| names.contains(t))
        .collect();
    written.extend(crate::export::write_frames(&frames, &e.out, e.format)?);
    for t in &names {
        if let Some(path) = written
            .iter()
            .find(|p| p.file_stem().and_then(|s| s.to_str()) == Some(t.as_str()))
        {
            eprintln!("wrote {}", path.display());
        }
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
        keep_episodes: view.keep_episodes,
        stats_limits: crate::stats::StatsLimits::default(),
        records: None,
        metrics: view.metrics.map(|a| (a, crate::metrics::Metrics::new())),
        lang: view.lang.resolve(),
    })
}

/// Engine settings of the dashboard: transactions are handed on only for
/// `--records-transactions` (the screen shows episodes).
fn dashboard_engine_config(
    input: &InputArgs,
    records: &crate::cli::RecordsArgs,
) -> anyhow::Result<crate::engine::EngineConfig> {
    let mut cfg = input.engine_config()?;
    cfg.analysis.keep_transactions = records.records.is_some() && records.records_transactions;
    // The screen shows each episode at its verdict; exports and the final view count it
    // once it has settled.
    cfg.analysis.previews = true;
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
    opts.stats_limits = d.input.stats_limits();
    let cfg = dashboard_engine_config(&d.input, &d.records)?;
    opts.records = d.records.config(&cfg);
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
    opts.stats_limits = l.input.stats_limits();
    let cfg = dashboard_engine_config(&l.input, &l.records)?;
    opts.records = l.records.config(&cfg);
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
