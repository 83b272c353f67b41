//! Command-line definitions (clap) and their validation into an [`EngineConfig`].

use crate::analysis::AnalysisConfig;
use crate::decode::decap::DecapConfig;
use crate::engine::EngineConfig;
use crate::export::{Format, TableName};
use crate::flow::{FlowLimits, Shard};
use crate::model::Ts;
use crate::records::{default_sensor, RecordsConfig, RecordsFormat, DEFAULT_GRACE_US};
use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "proxy407",
    version,
    about = "Tells why HTTP proxy authentication fails, from live traffic or captures"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyse capture files (or a live interface) and print the diagnosis.
    Analyze(AnalyzeArgs),
    /// Print every transaction on a proxy connection as one JSON object per line.
    Transactions(InputArgs),
    /// Write the records and the per-user, -client, -proxy, -target, -cause and per-minute tables.
    Export(ExportArgs),
    /// List the capture interfaces (feature `live`).
    Interfaces,
    /// Replay capture files in packet time on the live dashboard (or headless, exporting).
    Dashboard(DashboardArgs),
    /// Watch a live interface on the dashboard (feature `live`).
    Live(LiveArgs),
    /// Print one episode as a ladder of its requests and responses, with its verdict, the
    /// rule that decided it and the remedy.
    Explain(ExplainArgs),
    /// Write the packets of episodes' connections (handshakes included) as a pcap file.
    Extract(ExtractArgs),
}

/// `proxy407 explain FILE... --episode ID`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// The episode's number (`episode_id` in the report, the tables and the dashboard).
    #[arg(long)]
    pub episode: u64,
    #[command(flatten)]
    pub lang: LangArgs,
}

/// `proxy407 extract FILE... (--episode ID | --user NAME | --client IP) --out FILE.pcap`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("select").required(true).multiple(true)))]
pub struct ExtractArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// The episode's number.
    #[arg(long, group = "select")]
    pub episode: Option<u64>,
    /// Every episode of this user (case aside, with or without `DOMAIN\`).
    #[arg(long, group = "select")]
    pub user: Option<String>,
    /// Every episode of this client address.
    #[arg(long, group = "select")]
    pub client: Option<std::net::IpAddr>,
    /// The pcap file to write.
    #[arg(long, value_name = "FILE.pcap")]
    pub out: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Print the whole summary as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Rows in each top list.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// No colour in the terminal report (also when `NO_COLOR` is set).
    #[arg(long)]
    pub no_color: bool,
    #[command(flatten)]
    pub records: RecordsArgs,
    #[command(flatten)]
    pub human: HumanArgs,
}

/// `--html` and `--lang`: the human outputs of `analyze`.
#[derive(Debug, Args, Clone)]
pub struct HumanArgs {
    /// Also write the report as one self-contained HTML file (with `--quiet`, instead of
    /// the terminal report).
    #[arg(long, value_name = "REPORT.html")]
    pub html: Option<PathBuf>,
    #[command(flatten)]
    pub lang: LangArgs,
}

/// `--lang`: the language of the human outputs (the JSON and the tables never change).
#[derive(Debug, Args, Clone, Default)]
pub struct LangArgs {
    /// Language of the report and the dashboard: en or ja (default: from LC_ALL,
    /// LC_MESSAGES, LANG).
    #[arg(long, value_name = "en|ja")]
    pub lang: Option<crate::i18n::Lang>,
}

impl LangArgs {
    pub fn resolve(&self) -> crate::i18n::Lang {
        crate::i18n::Lang::resolve(self.lang)
    }
}

/// `--records DIR`: the records streamed for a security team's data platform.
#[derive(Debug, Args, Clone)]
pub struct RecordsArgs {
    /// Write every episode as it becomes final into DIR, partitioned by packet hour
    /// (`DIR/episodes/date=YYYY-MM-DD/hour=HH/<sensor>-<n>.parquet`).
    #[arg(long, value_name = "DIR")]
    pub records: Option<PathBuf>,
    /// Parquet with the export's columns, or NDJSON with Elastic Common Schema names.
    #[arg(long, value_enum, default_value_t = RecordsFormat::Parquet, requires = "records")]
    pub records_format: RecordsFormat,
    /// Write the transactions too (`DIR/transactions/...`).
    #[arg(long, requires = "records")]
    pub records_transactions: bool,
    /// The sensor's name: a column of every record and the start of each file name
    /// (default: the host name).
    #[arg(long, requires = "records")]
    pub sensor: Option<String>,
}

impl RecordsArgs {
    /// The writer's settings, when `--records` is given. Files stay open for late records
    /// as long as a record can come late: the settle delay and the retry window, and more.
    pub fn config(&self, engine: &EngineConfig) -> Option<RecordsConfig> {
        let dir = self.records.clone()?;
        let late = engine
            .analysis
            .settle_us
            .saturating_add(engine.analysis.retry_window_us)
            .saturating_add(5 * 60 * 1_000_000);
        Some(RecordsConfig {
            dir,
            sensor: self.sensor.clone().unwrap_or_else(default_sensor),
            format: self.records_format,
            transactions: self.records_transactions,
            grace_us: late.max(DEFAULT_GRACE_US),
        })
    }
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Directory to write the tables into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    pub format: Format,
    /// Tables to write (comma-separated); all when not given.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub tables: Vec<TableName>,
    /// Overwrite existing table files.
    #[arg(long)]
    pub force: bool,
}

/// `proxy407 dashboard FILE...`: a replay in packet time.
#[derive(Debug, Args)]
pub struct DashboardArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub view: ViewArgs,
    #[command(flatten)]
    pub records: RecordsArgs,
    /// Replay speed: packet seconds per second (`+` and `-` change it while running).
    #[arg(long, default_value_t = 1.0, conflicts_with = "max_speed")]
    pub speed: f64,
    /// Replay as fast as the files can be read.
    #[arg(long)]
    pub max_speed: bool,
}

/// `proxy407 live --interface IFACE`.
#[derive(Debug, Args)]
pub struct LiveArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub view: ViewArgs,
    #[command(flatten)]
    pub records: RecordsArgs,
}

/// How the dashboard shows (or, headless, exports) what it sees.
#[derive(Debug, Args, Clone)]
pub struct ViewArgs {
    /// No screen: a status line on standard error and periodic exports (sensors).
    #[arg(long)]
    pub headless: bool,
    /// Export the tables this often (wall time), into a new subdirectory of --out each time.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub export_every: Option<Duration>,
    /// Directory of the exports (`e` in the dashboard; periodic and final exports).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Format of the exported tables.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: crate::export::Format,
    /// Exports kept in --out; older ones are removed.
    #[arg(long, default_value_t = 12)]
    pub keep: usize,
    /// Headless: how often the status line is printed.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub status_every: Duration,
    /// Screen redraws per second.
    #[arg(long, default_value_t = 8)]
    pub fps: u32,
    /// Episodes kept for the drill-down (the latest); the numbers count every episode.
    #[arg(long, default_value_t = crate::tui::app::KEEP_EPISODES)]
    pub keep_episodes: usize,
    /// Serve Prometheus metrics at http://ADDR/metrics: `host:port`, or `:port` (or a port
    /// alone) for 127.0.0.1.
    #[arg(long, value_name = "ADDR", value_parser = parse_metrics_addr)]
    pub metrics: Option<SocketAddr>,
    #[command(flatten)]
    pub lang: LangArgs,
}

/// `--metrics ADDR`: `host:port` (an address or a name), or `:port` / `port` on 127.0.0.1.
pub fn parse_metrics_addr(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    let port_only = s.strip_prefix(':').unwrap_or(s);
    if let Ok(port) = port_only.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    s.to_socket_addrs()
        .map_err(|e| format!("{s:?} is not host:port or :port ({e})"))?
        .next()
        .ok_or_else(|| format!("{s:?} names no address"))
}

/// Where packets come from, and the options every analysing command shares.
#[derive(Debug, Args, Clone)]
pub struct InputArgs {
    /// Capture files (pcap, pcapng, optionally gzip-compressed; `-` for standard input), or
    /// directories of rotated captures (every regular file in them). All are merged by time.
    pub files: Vec<PathBuf>,
    /// Capture live from this interface (feature `live`).
    #[arg(long, short = 'i')]
    pub interface: Option<String>,
    /// Stop a live capture after this long (e.g. `10s`, `5m`).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Extra BPF filter for a live capture, ANDed with the proxy ports filter (for tunnelled
    /// copies it sees the outer headers: `host 10.0.0.9` is the mirror's source or collector).
    #[arg(long)]
    pub bpf: Option<String>,
    /// Remote mirrors and tunnels: `auto` looks inside GRE, ERSPAN I/II/III, VXLAN, Geneve,
    /// MPLS, PPPoE and IP-in-IP (also in the live filter); `none` takes packets as they are.
    /// To watch an ERSPAN or cloud (VPC, virtual network TAP) mirror, capture on the
    /// collector's interface that receives the mirror session.
    #[arg(long, value_enum, default_value_t = Decap::Auto)]
    pub decap: Decap,
    /// More UDP ports carrying VXLAN besides 4789 (e.g. 8472, Linux's port when none is set).
    #[arg(long = "vxlan-port", value_delimiter = ',')]
    pub vxlan_ports: Vec<u16>,
    /// More ports of Kerberos KDCs besides 88 (UDP and TCP): their AS, TGS and KRB-ERROR
    /// messages explain Negotiate episodes of the same client address.
    #[arg(long = "kdc-port", value_delimiter = ',')]
    pub kdc_ports: Vec<u16>,
    /// Proxy ports (comma-separated or repeated); decides the live filter, failed connection
    /// attempts and TLS-to-proxy detection. Proxies on other ports are still auto-detected.
    #[arg(long = "proxy-port", value_delimiter = ',', default_values_t = [3128u16, 3129, 8080, 8000, 8888, 9090])]
    pub proxy_ports: Vec<u16>,
    /// How long a client may take to retry after a challenge.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub retry_window: Duration,
    /// Rejected credential attempts of one user that make a lockout risk: COUNT or COUNT/WINDOW.
    #[arg(long, default_value = "5/10m")]
    pub lockout_threshold: String,
    /// Ignore packets before this time (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Ignore packets after this time (RFC 3339).
    #[arg(long)]
    pub until: Option<String>,
    /// Replace user, domain and workstation names by a keyed hash in every output.
    #[arg(long, value_name = "KEY")]
    pub pseudonymize: Option<String>,
    /// With --pseudonymize, replace client IP addresses too.
    #[arg(long, requires = "pseudonymize")]
    pub pseudonymize_ips: bool,
    /// Most connections tracked at once.
    #[arg(long, default_value_t = 262_144)]
    pub max_connections: usize,
    /// Most out-of-order bytes held per direction of a connection.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_stream_buffer: usize,
    /// Most out-of-order bytes held in all.
    #[arg(long, default_value_t = 64 << 20)]
    pub max_total_buffer: usize,
    /// A connection quiet for this long (packet time) is closed.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,
    /// How long a judged episode waits (packet time) for a later lockout or user name
    /// before it is final and counted; default: the lockout window.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub settle: Option<Duration>,
    /// Most episodes open at once (and most settling at once).
    #[arg(long, default_value_t = 100_000)]
    pub max_open_episodes: usize,
    /// Most client addresses with a known user, and users in the lockout window.
    #[arg(long, default_value_t = 200_000)]
    pub max_tracked_users: usize,
    /// Most rows per per-key table (users, clients, proxies, targets) and distinct values
    /// per count; the rest are counted in one `(other)` row.
    #[arg(long, default_value_t = 100_000)]
    pub max_keys: usize,
    /// Analyse only the clients of shard K of N (1 <= K <= N): N machines (or runs) each
    /// take a share of the same captures; the client address hash is the README's.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Threads for the connections (reassembly, HTTP, auth), each with its share of the
    /// clients; the reading, decoding and the one analysis stay on the main thread. The
    /// results are the same for every number. Default: the cores available.
    #[arg(long, value_name = "N", default_value_t = default_threads())]
    pub threads: usize,
    /// No progress bar.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// `--threads` by default: the cores this process may use.
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// `--decap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Decap {
    Auto,
    None,
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl InputArgs {
    /// The `--pseudonymize` settings, when given.
    pub fn pseudonymizer(&self) -> Option<crate::pseudonym::Pseudonymizer> {
        let key = self.pseudonymize.as_deref()?;
        Some(crate::pseudonym::Pseudonymizer::new(
            key,
            self.pseudonymize_ips,
        ))
    }

    /// The files to read: the paths given, with each directory replaced by the regular
    /// files in it, in name order (hidden files left out).
    pub(crate) fn capture_files(&self) -> anyhow::Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        for path in &self.files {
            if !path.is_dir() {
                files.push(path.clone());
                continue;
            }
            let mut inside: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("cannot list directory {}", path.display()))?
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .filter(|p| {
                    !p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with('.'))
                })
                .collect();
            inside.sort();
            files.extend(inside);
        }
        Ok(files)
    }

    /// The aggregate's bounds (`--max-keys`).
    pub fn stats_limits(&self) -> crate::stats::StatsLimits {
        crate::stats::StatsLimits {
            max_keys: self.max_keys.max(1),
            max_distinct: self.max_keys.max(1),
        }
    }

    /// The decapsulation settings of `--decap`, `--vxlan-port` and `--kdc-port`.
    pub fn decap_config(&self) -> DecapConfig {
        DecapConfig {
            enabled: self.decap == Decap::Auto,
            vxlan_ports: self.vxlan_ports.clone(),
            kdc_ports: self.kdc_ports.clone(),
        }
    }

    /// Validates the options into the engine's settings.
    pub fn engine_config(&self) -> anyhow::Result<EngineConfig> {
        let (count, window) = match self.lockout_threshold.split_once('/') {
            Some((c, w)) => (
                c,
                humantime::parse_duration(w)
                    .with_context(|| format!("--lockout-threshold window {w:?}"))?,
            ),
            None => (self.lockout_threshold.as_str(), Duration::from_secs(600)),
        };
        let count: u32 = count
            .trim()
            .parse()
            .with_context(|| format!("--lockout-threshold count {count:?} is not a number"))?;
        if count == 0 {
            bail!("--lockout-threshold count must be at least 1");
        }
        let ts = |name: &str, v: &Option<String>| -> anyhow::Result<Option<Ts>> {
            v.as_deref()
                .map(|s| {
                    Ts::parse_rfc3339(s)
                        .with_context(|| format!("{name} {s:?} is not an RFC 3339 time"))
                })
                .transpose()
        };
        Ok(EngineConfig {
            flow: FlowLimits {
                max_connections: self.max_connections.max(1),
                max_buffered_per_stream: self.max_stream_buffer,
                max_buffered_total: self.max_total_buffer,
                idle_timeout_us: micros(self.idle_timeout),
                proxy_ports: self.proxy_ports.clone(),
                ..FlowLimits::default()
            },
            analysis: AnalysisConfig {
                retry_window_us: micros(self.retry_window),
                lockout_threshold: count,
                lockout_window_us: micros(window),
                settle_us: micros(self.settle.unwrap_or(window)),
                max_open_episodes: self.max_open_episodes.max(1),
                max_tracked_users: self.max_tracked_users.max(1),
                ..AnalysisConfig::default()
            },
            since: ts("--since", &self.since)?,
            until: ts("--until", &self.until)?,
            decap: self.decap_config(),
            shard: self.shard,
            threads: self.threads,
        })
    }
}
