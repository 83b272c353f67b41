//! The commands: open the source, run the engine, hand the result to a view. `explain`
//! runs the input keeping one episode and its transactions; `extract` keeps the chosen
//! episodes' connections, then reads the input again and writes their packets as a pcap.
//! Errors are
//! mapped to exit codes here (documented in the README).

use crate::cli::{
    AnalyzeArgs, Cli, Command, DashboardArgs, ExplainArgs, ExportArgs, ExtractArgs, InputArgs,
    LiveArgs, ViewArgs,
};
use crate::driver;
use crate::engine::{Engine, FrameEnds};
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
    if e.downcast_ref::<UsageError>().is_some() {
        2
    } else if e.downcast_ref::<InputError>().is_some() {
        3
    } else if e.downcast_ref::<source::LiveError>().is_some() {
        4
    } else {
        1
    }
}

/// A request the input cannot answer (an episode number it does not have): exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

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
        Command::Explain(e) => explain(&e),
        Command::Extract(x) => extract(&x),
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
                &input.decap_config().all_kdc_ports(),
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
    /// Packet time reached `now`; every episode that started before `held_since` has been
    /// handed on.
    fn advance(&mut self, _now: Ts, _held_since: Ts) -> anyhow::Result<()> {
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
    fn advance(&mut self, now: Ts, held_since: Ts) -> anyhow::Result<()> {
        crate::records::RecordsWriter::advance(self, now, held_since)
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
        engine: &mut Engine,
        src: &dyn PacketSource,
        step: driver::Step,
    ) -> driver::Flow {
        self.frames += 1;
        if self.frames % 65_536 == 0 {
            if let Some(bar) = &self.bar {
                bar.set_position(src.progress().0);
            }
            let (driver::Step::Frame(now) | driver::Step::Idle(now)) = step;
            let held = engine.held_since();
            self.each(|o| o.advance(now, held));
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
    written.extend(crate::export::write_aggregates(
        &stats, &names, &e.out, e.format,
    )?);
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
    // The drill-down's ladders read the transactions of the episodes it keeps.
    cfg.analysis.episode_transactions = true;
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
    let kdc_ports = input.decap_config().all_kdc_ports();
    let duration = input.duration;
    crate::tui::run(
        Box::new(move || {
            let src = source::live::open_live(
                &iface,
                bpf.as_deref(),
                &ports,
                tunnel_ports.as_deref(),
                &kdc_ports,
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

/// What `explain` and `extract` keep of a run: the episodes picked, the connections of every
/// episode (client port and connection id, from its transactions), the transactions of the
/// episodes picked by number, and the episodes seen.
#[derive(Default)]
struct Picked {
    want: Option<u64>,
    user: Option<String>,
    client: Option<std::net::IpAddr>,
    episodes: Vec<Episode>,
    transactions: Vec<Transaction>,
    conns: std::collections::HashMap<u64, Vec<(u16, u64)>>,
    /// Requests that named a user: (client, user, time, client port, connection id), the
    /// latest [`MAX_NAMED`]: the connection an inferred user came from goes into the extract.
    named: std::collections::VecDeque<Named>,
    seen: u64,
    max_id: u64,
}

impl Picked {
    fn picks(&self, e: &Episode) -> bool {
        let name = |u: &str| {
            let u = u.rsplit('\\').next().unwrap_or(u);
            u.to_lowercase()
        };
        self.want.is_none_or(|id| e.episode_id == id)
            && self.client.is_none_or(|c| e.client_ip == c)
            && self
                .user
                .as_deref()
                .is_none_or(|u| e.user.as_deref().is_some_and(|x| name(x) == name(u)))
    }
}

/// A request that named a user: client, user, time, client port, connection id, proxy.
type Named = (
    std::net::IpAddr,
    String,
    Ts,
    u16,
    u64,
    (std::net::IpAddr, u16),
);

/// Requests naming a user that `extract` remembers, at most.
const MAX_NAMED: usize = 100_000;

#[derive(Clone, Default)]
struct PickOut(std::rc::Rc<std::cell::RefCell<Picked>>);

impl RecordOut for PickOut {
    fn episode(&mut self, e: &Episode) -> anyhow::Result<()> {
        let mut p = self.0.borrow_mut();
        p.seen += 1;
        p.max_id = p.max_id.max(e.episode_id);
        if p.picks(e) {
            p.episodes.push(e.clone());
        }
        Ok(())
    }
    fn transaction(&mut self, t: &Transaction) -> anyhow::Result<()> {
        let mut p = self.0.borrow_mut();
        if let Some(u) = &t.user {
            if p.named.len() >= MAX_NAMED {
                p.named.pop_front();
            }
            p.named.push_back((
                t.client_ip,
                u.clone(),
                t.ts,
                t.client_port,
                t.conn_id,
                (t.proxy_ip, t.proxy_port),
            ));
        }
        let Some(id) = t.episode_id else {
            return Ok(());
        };
        let conns = p.conns.entry(id).or_default();
        if !conns.contains(&(t.client_port, t.conn_id)) {
            conns.push((t.client_port, t.conn_id));
        }
        if p.want == Some(id) {
            p.transactions.push(t.clone());
        }
        Ok(())
    }
    fn finish(self: Box<Self>) -> anyhow::Result<Vec<PathBuf>> {
        Ok(Vec::new())
    }
}

/// The input's files as one phrase, for messages.
fn input_names(input: &InputArgs) -> String {
    match &input.interface {
        Some(i) => i.clone(),
        None => input
            .files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Runs the input, keeping what `pick` selects.
fn pick(input: &InputArgs, pick: Picked) -> anyhow::Result<Picked> {
    let out = PickOut(std::rc::Rc::new(std::cell::RefCell::new(pick)));
    run_engine(input, true, vec![Box::new(out.clone())])?;
    let picked = std::mem::take(&mut *out.0.borrow_mut());
    Ok(picked)
}

/// No episode picked: the message names the input and what it has.
fn none_picked(lang: crate::i18n::Lang, input: &InputArgs, p: &Picked, id: u64) -> UsageError {
    let files = input_names(input);
    let args = crate::i18n::Args::new()
        .n("id", id)
        .s("files", files)
        .n("n", p.max_id);
    let id = if p.seen == 0 {
        "ladder-no-episodes"
    } else {
        "ladder-unknown-episode"
    };
    UsageError(crate::i18n::tf(lang, id, args))
}

/// `proxy407 explain FILE... --episode ID`.
fn explain(a: &ExplainArgs) -> anyhow::Result<ExitCode> {
    let lang = a.lang.resolve();
    let p = pick(
        &a.input,
        Picked {
            want: Some(a.episode),
            ..Picked::default()
        },
    )?;
    let Some(e) = p.episodes.first().cloned() else {
        return Err(none_picked(lang, &a.input, &p, a.episode).into());
    };
    let ladder = crate::report::Ladder::new(lang, e, &p.transactions);
    let mut stdout = std::io::stdout().lock();
    for line in ladder.lines(lang) {
        writeln!(stdout, "{line}")?;
    }
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// A connection whose packets `extract` writes: its ends, and the number of the frame that
/// opened it (its id); `None` for the attempts of an unreachable episode, picked by time.
struct Wanted {
    client: (std::net::IpAddr, Option<u16>),
    proxy: (std::net::IpAddr, u16),
    from_frame: u64,
    /// For attempts: the episode's span.
    span: Option<(Ts, Ts)>,
    /// A new SYN came after packets of it were written: the port was reused, stop.
    done: bool,
    started: bool,
}

/// SYNs are retried for about this long before an attempt is given up.
const SYN_RETRIES_US: i64 = 75_000_000;

/// The connection attempts of unreachable episodes, by client port: a port with a packet in
/// the episode's span is wanted from its first packet (its first SYN may come before the
/// span, which starts at the attempt's end). A first pass over the input.
fn attempts_by_port(input: &InputArgs, wanted: Vec<Wanted>) -> anyhow::Result<Vec<Wanted>> {
    let decap = input.decap_config();
    let mut src = open(input)?;
    // Per span-wanted: client port → (first frame in the look-back, seen in the span).
    let mut ports: Vec<std::collections::BTreeMap<u16, (u64, bool)>> =
        wanted.iter().map(|_| Default::default()).collect();
    let mut number = 0u64;
    while let Some(f) = src.next_frame() {
        number += 1;
        let Some(FrameEnds {
            src: a,
            dst: b,
            udp: false,
            ..
        }) = crate::engine::frame_ends(&f, &decap)
        else {
            continue;
        };
        for (w, seen) in wanted.iter().zip(ports.iter_mut()) {
            let Some((start, end)) = w.span else { continue };
            let (client, proxy) = if b == w.proxy { (a, b) } else { (b, a) };
            if proxy != w.proxy || client.0 != w.client.0 {
                continue;
            }
            if f.ts < start.plus_micros(-SYN_RETRIES_US) || f.ts > end {
                continue;
            }
            let e = seen.entry(client.1).or_insert((number, false));
            e.1 |= f.ts >= start;
        }
    }
    let mut out = Vec::new();
    for (w, seen) in wanted.into_iter().zip(ports) {
        if w.span.is_none() {
            out.push(w);
            continue;
        }
        for (port, (first, in_span)) in seen {
            if in_span {
                out.push(Wanted {
                    client: (w.client.0, Some(port)),
                    proxy: w.proxy,
                    from_frame: first,
                    span: None,
                    done: false,
                    started: false,
                });
            }
        }
    }
    Ok(out)
}

/// `proxy407 extract FILE... --episode ID | --user NAME | --client IP --out FILE.pcap`.
fn extract(x: &ExtractArgs) -> anyhow::Result<ExitCode> {
    if x.out.exists() && !x.force {
        bail!("{} exists; give --force to overwrite it", x.out.display());
    }
    let lang = crate::i18n::Lang::resolve(None);
    let p = pick(
        &x.input,
        Picked {
            want: x.episode,
            user: x.user.clone(),
            client: x.client,
            ..Picked::default()
        },
    )?;
    if p.episodes.is_empty() {
        if let Some(id) = x.episode {
            return Err(none_picked(lang, &x.input, &p, id).into());
        }
        return Err(UsageError(format!(
            "no episode of {} matches the selection",
            input_names(&x.input)
        ))
        .into());
    }
    let mut wanted: Vec<Wanted> = Vec::new();
    for e in &p.episodes {
        let proxy = (e.proxy_ip, e.proxy_port);
        match p.conns.get(&e.episode_id) {
            Some(conns) => {
                for &(port, conn_id) in conns {
                    wanted.push(Wanted {
                        client: (e.client_ip, Some(port)),
                        proxy,
                        from_frame: conn_id,
                        span: None,
                        done: false,
                        started: false,
                    });
                }
            }
            None => wanted.push(Wanted {
                client: (e.client_ip, None),
                proxy,
                from_frame: 0,
                span: Some((e.start_ts, e.end_ts.plus_micros(1_000_000))),
                done: false,
                started: false,
            }),
        }
    }
    // An inferred user came from the latest request that named them from that client: its
    // connection goes in too, so that the extract attributes the same user.
    for e in &p.episodes {
        if e.user_source != Some(crate::model::UserSource::Inferred) {
            continue;
        }
        let from = p.named.iter().rev().find(|(c, u, ts, ..)| {
            *c == e.client_ip && Some(u.as_str()) == e.user.as_deref() && *ts <= e.end_ts
        });
        if let Some(&(client, _, _, port, conn_id, proxy)) = from {
            wanted.push(Wanted {
                client: (client, Some(port)),
                proxy,
                from_frame: conn_id,
                span: None,
                done: false,
                started: false,
            });
        }
    }
    // A Negotiate episode's KDC exchanges (its user, the KDC's reason) are joined within
    // the retry window on both sides of it: they go in too.
    let window = i64::try_from(x.input.retry_window.as_micros()).unwrap_or(i64::MAX);
    let kdc: Vec<(std::net::IpAddr, Ts, Ts)> = p
        .episodes
        .iter()
        .filter(|e| e.offered_schemes.iter().any(|s| s == "Negotiate"))
        .map(|e| {
            (
                e.client_ip,
                e.start_ts.plus_micros(window.saturating_neg()),
                e.end_ts.plus_micros(window),
            )
        })
        .collect();
    let decap = x.input.decap_config();
    if wanted.iter().any(|w| w.span.is_some()) {
        wanted = attempts_by_port(&x.input, wanted)?;
    }
    let mut src = open(&x.input)?;
    let tmp = x.out.with_extension("pcap.tmp");
    let file = std::fs::File::create(&tmp)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", tmp.display()))?;
    let mut w = crate::source::write::PcapWriter::new(std::io::BufWriter::new(file));
    let kdc_ports = decap.all_kdc_ports();
    let mut number = 0u64;
    let result: anyhow::Result<()> = (|| {
        while let Some(f) = src.next_frame() {
            number += 1;
            let Some(ends) = crate::engine::frame_ends(&f, &decap) else {
                continue;
            };
            if let Some(client) = ends.kdc_client(&kdc_ports) {
                if kdc
                    .iter()
                    .any(|&(c, from, to)| c == client && f.ts >= from && f.ts <= to)
                {
                    w.write(&f)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", x.out.display()))?;
                }
                continue;
            }
            if ends.udp {
                continue;
            }
            let (a, b, syn) = (ends.src, ends.dst, ends.syn);
            let mut keep = false;
            for c in wanted.iter_mut().filter(|c| !c.done) {
                let (client, proxy) = if b == c.proxy { (a, b) } else { (b, a) };
                if proxy != c.proxy || client.0 != c.client.0 {
                    continue;
                }
                if c.client.1.is_some_and(|p| p != client.1) {
                    continue;
                }
                if let Some((start, end)) = c.span {
                    keep |= f.ts >= start && f.ts <= end;
                    continue;
                }
                if number < c.from_frame {
                    continue;
                }
                if syn && c.started && number > c.from_frame {
                    c.done = true;
                    continue;
                }
                c.started = true;
                keep = true;
            }
            if keep {
                w.write(&f)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", x.out.display()))?;
            }
        }
        Ok(())
    })();
    let written = w.written();
    let finished = result.and_then(|()| {
        w.finish()
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))
    });
    if let Err(e) = finished {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &x.out)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", x.out.display()))?;
    let ids: Vec<String> = p
        .episodes
        .iter()
        .map(|e| format!("#{}", e.episode_id))
        .collect();
    eprintln!(
        "wrote {} ({written} packets of episode {}); it holds the capture's own packets, \
         credentials included: handle it as the capture",
        x.out.display(),
        ids.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}
