//! The exported tables (`docs/verdicts.md` §6.3): builds polars DataFrames from the shared
//! records and writes them as CSV, Parquet, NDJSON or JSON. This is the only module that
//! knows polars.
//!
//! Tables and their columns, in order:
//!
//! - `transactions`, `episodes`: one row per record, columns exactly the fields of
//!   [`Transaction`] and [`Episode`], in order (the README lists them).
//! - `users` (key `user`), `clients` (key `client_ip`), `proxies` (key `proxy`, `ip:port`),
//!   `targets` (key `target`): one row per key with `episodes`, `authenticated`, `failed`,
//!   `unresolved`, one `failed_<cause>` per [`Cause::ALL`], `challenges`,
//!   `credential_attempts` (sums over the key's episodes), one column per [`Finding::ALL`]
//!   named as the finding (the number of the key's episodes that carry it),
//!   `time_to_auth_p50_ms`, `time_to_auth_p95_ms`, `first_seen` (earliest `start_ts`),
//!   `last_seen` (latest `end_ts`), then per table: users → `domain`, `client_ips`,
//!   `workstations`, `schemes`, `user_agents`, `max_failures_10min`; clients → `users`;
//!   proxies → `users`, `clients`; targets → `users`, `clients`.
//!   Episodes without a user are grouped into one `users` row whose `user` is `(unknown)`,
//!   the name every view gives it; beyond `--max-keys` keys per table, the rest are one row
//!   `(other)`. Rows are ordered by `failed` descending, then `episodes` descending, then key.
//! - `causes`: `cause`, `episodes`, `users`, `clients`, `remedy`: one row per [`Cause::ALL`],
//!   in that order, with 0 when no episode failed so. `users`/`clients` count distinct
//!   user keys (`(unknown)` included, as in the report) / client addresses.
//! - `timeline`: `minute`, `challenges`, `authenticated`, `failed`, `failed_<cause>`: episodes
//!   bucketed by the UTC minute of their `start_ts` (`challenges` sums their challenges).
//!   Minutes between the first and the last are present with zeros, unless the span exceeds
//!   [`TIMELINE_MAX_DENSE_MINUTES`]; then only minutes with episodes are listed.
//!
//! The per-key, cause and minute tables are the rows of [`Stats`], the one aggregator (its
//! module states the definitions: percentiles, `max_failures_10min`, bounds), so they say
//! what the report and the JSON summary say. The record tables are written as the records
//! come ([`TableStream`]), in row groups of [`STREAM_ROWS`] rows, so no command keeps them all.
//!
//! Types: timestamps are `Datetime(Microseconds, UTC)`; counts are unsigned integers (record
//! counts `UInt32` as in the model, ids `UInt64`, aggregates `UInt64`); ports and HTTP
//! statuses are `UInt32` (polars' `UInt16` needs its extra `dtype-u16` feature); times in
//! milliseconds are `Float64`; addresses are strings; lists (`offered_schemes`, `findings`,
//! `client_ips`, `users`, ...) are `List(String)`, and `frames` `List(UInt64)`, empty (not
//! null) when there is nothing.
//! Parquet keeps these types. The text formats write timestamps as RFC 3339 UTC with
//! microseconds (`2026-11-28T08:19:36.123456Z`); JSON and NDJSON keep lists as arrays; CSV
//! (RFC 4180, header row) joins list items with `;`, escaping a `;` or `\` inside an item
//! with a backslash (`\;`, `\\`), so user agents that contain `;` stay unambiguous.
//!
//! Writing: `<dir>/<table>.<csv|parquet|ndjson|json>`; the directory is created; existing
//! files are refused unless `force` (checked for every table before any is written); each
//! table is written to `.<table>.<ext>.tmp` in the same directory and renamed into place, so
//! a failed write leaves no half-written table and the error names the file.

use crate::model::{Cause, Episode, Finding, Transaction, Ts};
use crate::stats::{Stats, Table, TimelineRow};
use anyhow::{bail, Context as _};
use polars::prelude::*;
use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufWriter, Write as _};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Beyond this many minutes between the first and last episode, the timeline lists only
/// the minutes that have episodes (a capture with one stray timestamp would otherwise
/// produce millions of empty rows).
pub const TIMELINE_MAX_DENSE_MINUTES: i64 = 100_000;

const MINUTE_US: i64 = 60_000_000;

/// An output file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Format {
    Csv,
    Parquet,
    Ndjson,
    Json,
}

impl Format {
    pub const ALL: [Format; 4] = [Format::Csv, Format::Parquet, Format::Ndjson, Format::Json];

    /// The file extension (without the dot), also the format's name.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
            Format::Ndjson => "ndjson",
            Format::Json => "json",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        Format::ALL
            .into_iter()
            .find(|f| f.extension().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown format `{s}` (expected csv, parquet, ndjson or json)"))
    }
}

/// The name of one exported table (`docs/verdicts.md` §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum TableName {
    Transactions,
    Episodes,
    Users,
    Clients,
    Proxies,
    Targets,
    Causes,
    Timeline,
}

impl TableName {
    pub const ALL: [TableName; 8] = [
        TableName::Transactions,
        TableName::Episodes,
        TableName::Users,
        TableName::Clients,
        TableName::Proxies,
        TableName::Targets,
        TableName::Causes,
        TableName::Timeline,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TableName::Transactions => "transactions",
            TableName::Episodes => "episodes",
            TableName::Users => "users",
            TableName::Clients => "clients",
            TableName::Proxies => "proxies",
            TableName::Targets => "targets",
            TableName::Causes => "causes",
            TableName::Timeline => "timeline",
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TableName {
    type Err = String;
    fn from_str(s: &str) -> Result<TableName, String> {
        TableName::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown table `{s}`"))
    }
}

/// Every exported table as a DataFrame.
#[derive(Clone, Debug)]
pub struct Tables {
    pub transactions: DataFrame,
    pub episodes: DataFrame,
    pub users: DataFrame,
    pub clients: DataFrame,
    pub proxies: DataFrame,
    pub targets: DataFrame,
    pub causes: DataFrame,
    pub timeline: DataFrame,
}

impl Tables {
    pub fn get(&self, name: TableName) -> &DataFrame {
        match name {
            TableName::Transactions => &self.transactions,
            TableName::Episodes => &self.episodes,
            TableName::Users => &self.users,
            TableName::Clients => &self.clients,
            TableName::Proxies => &self.proxies,
            TableName::Targets => &self.targets,
            TableName::Causes => &self.causes,
            TableName::Timeline => &self.timeline,
        }
    }
}

/// Builds every table from the analysis records. (The frames are built from columns of equal
/// length with fixed types: polars fails here only on a bug in this module, which is then
/// reported as an error, not a crash.)
pub fn build_tables(episodes: &[Episode], transactions: &[Transaction]) -> anyhow::Result<Tables> {
    anyhow::Context::context(
        try_build_tables(episodes, transactions),
        "building the export tables",
    )
}

fn try_build_tables(episodes: &[Episode], transactions: &[Transaction]) -> PolarsResult<Tables> {
    let stats = Stats::from_parts(episodes, transactions);
    Ok(Tables {
        transactions: transactions_frame(transactions)?,
        episodes: episodes_frame(episodes)?,
        users: per_key_frame(&stats, Table::Users)?,
        clients: per_key_frame(&stats, Table::Clients)?,
        proxies: per_key_frame(&stats, Table::Proxies)?,
        targets: per_key_frame(&stats, Table::Targets)?,
        causes: causes_frame(&stats)?,
        timeline: timeline_frame(&stats)?,
    })
}

// ---- column helpers -------------------------------------------------------------------

fn col_str<'a>(name: &str, v: impl IntoIterator<Item = Option<&'a str>>) -> Column {
    Column::new(name.into(), v.into_iter().collect::<Vec<_>>())
}

fn col_string(name: &str, v: impl IntoIterator<Item = Option<String>>) -> Column {
    Column::new(name.into(), v.into_iter().collect::<Vec<_>>())
}

/// Ports and statuses: `UInt32` (polars' `UInt16` needs the extra `dtype-u16` feature).
fn col_u16(name: &str, v: impl IntoIterator<Item = Option<u16>>) -> Column {
    Column::new(
        name.into(),
        v.into_iter().map(|x| x.map(u32::from)).collect::<Vec<_>>(),
    )
}

fn col_u32(name: &str, v: impl IntoIterator<Item = u32>) -> Column {
    Column::new(name.into(), v.into_iter().collect::<Vec<_>>())
}

fn col_u64(name: &str, v: impl IntoIterator<Item = u64>) -> Column {
    Column::new(name.into(), v.into_iter().collect::<Vec<_>>())
}

fn col_opt_u64(name: &str, v: impl IntoIterator<Item = Option<u64>>) -> Column {
    Column::new(name.into(), v.into_iter().collect::<Vec<_>>())
}

fn col_f64(name: &str, v: impl IntoIterator<Item = Option<f64>>) -> Column {
    Column::new(name.into(), v.into_iter().collect::<Vec<_>>())
}

fn col_ts(name: &str, v: impl IntoIterator<Item = Option<Ts>>) -> Column {
    let ca: Int64Chunked = v.into_iter().map(|t| t.map(Ts::micros)).collect();
    ca.with_name(name.into())
        .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
        .into_column()
}

fn col_list<I, L, S>(name: &str, rows: I) -> Column
where
    I: IntoIterator<Item = L>,
    L: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let rows: Vec<Vec<S>> = rows.into_iter().map(|r| r.into_iter().collect()).collect();
    let values: usize = rows.iter().map(Vec::len).sum();
    let mut b = ListStringChunkedBuilder::new(name.into(), rows.len(), values);
    for r in &rows {
        b.append_values_iter(r.iter().map(AsRef::as_ref));
    }
    b.finish().into_column()
}

/// A list of numbers per row (`frames`): `List(UInt64)`, empty (not null) when none.
fn col_list_u64<'a>(name: &str, rows: impl IntoIterator<Item = &'a Vec<u64>>) -> Column {
    let rows: Vec<&Vec<u64>> = rows.into_iter().collect();
    let values: usize = rows.iter().map(|r| r.len()).sum();
    let mut b = ListPrimitiveChunkedBuilder::<UInt64Type>::new(
        name.into(),
        rows.len(),
        values,
        DataType::UInt64,
    );
    for r in &rows {
        b.append_slice(r);
    }
    b.finish().into_column()
}

fn ip_str(ip: IpAddr) -> String {
    ip.to_string()
}

// ---- record tables --------------------------------------------------------------------

fn transactions_frame(t: &[Transaction]) -> PolarsResult<DataFrame> {
    DataFrame::new(
        t.len(),
        vec![
            col_ts("ts", t.iter().map(|x| Some(x.ts))),
            col_ts("response_ts", t.iter().map(|x| x.response_ts)),
            col_u64("conn_id", t.iter().map(|x| x.conn_id)),
            col_str(
                "community_id",
                t.iter().map(|x| Some(x.community_id.as_str())),
            ),
            col_string("client_ip", t.iter().map(|x| Some(ip_str(x.client_ip)))),
            col_u16("client_port", t.iter().map(|x| Some(x.client_port))),
            col_string("proxy_ip", t.iter().map(|x| Some(ip_str(x.proxy_ip)))),
            col_u16("proxy_port", t.iter().map(|x| Some(x.proxy_port))),
            col_str("method", t.iter().map(|x| Some(x.method.as_str()))),
            col_str("target", t.iter().map(|x| Some(x.target.as_str()))),
            col_u16("status", t.iter().map(|x| x.status)),
            col_list("offered_schemes", t.iter().map(|x| &x.offered_schemes)),
            col_str("auth_scheme", t.iter().map(|x| x.auth_scheme.as_deref())),
            col_str("auth_step", t.iter().map(|x| x.auth_step.as_deref())),
            col_str("user", t.iter().map(|x| x.user.as_deref())),
            col_str("domain", t.iter().map(|x| x.domain.as_deref())),
            col_str("workstation", t.iter().map(|x| x.workstation.as_deref())),
            col_str("user_agent", t.iter().map(|x| x.user_agent.as_deref())),
            col_opt_u64("episode_id", t.iter().map(|x| x.episode_id)),
            col_str(
                "lockout_account",
                t.iter().map(|x| x.lockout_account.as_deref()),
            ),
            col_list(
                "findings",
                t.iter().map(|x| x.findings.iter().map(|f| f.as_str())),
            ),
            col_str(
                "capture_file",
                t.iter().map(|x| Some(x.capture_file.as_str())),
            ),
            col_list_u64("frames", t.iter().map(|x| &x.frames)),
            col_str(
                "display_filter",
                t.iter().map(|x| Some(x.display_filter.as_str())),
            ),
        ],
    )
}

fn episodes_frame(e: &[Episode]) -> PolarsResult<DataFrame> {
    DataFrame::new(
        e.len(),
        vec![
            col_u64("episode_id", e.iter().map(|x| x.episode_id)),
            col_ts("start_ts", e.iter().map(|x| Some(x.start_ts))),
            col_ts("end_ts", e.iter().map(|x| Some(x.end_ts))),
            col_string("client_ip", e.iter().map(|x| Some(ip_str(x.client_ip)))),
            col_string("proxy_ip", e.iter().map(|x| Some(ip_str(x.proxy_ip)))),
            col_u16("proxy_port", e.iter().map(|x| Some(x.proxy_port))),
            col_str("target", e.iter().map(|x| Some(x.target.as_str()))),
            col_str("user", e.iter().map(|x| x.user.as_deref())),
            col_str("domain", e.iter().map(|x| x.domain.as_deref())),
            col_str("workstation", e.iter().map(|x| x.workstation.as_deref())),
            col_str(
                "user_source",
                e.iter().map(|x| x.user_source.map(|s| s.as_str())),
            ),
            col_str("scheme", e.iter().map(|x| x.scheme.as_deref())),
            col_list("offered_schemes", e.iter().map(|x| &x.offered_schemes)),
            col_u32("challenges", e.iter().map(|x| x.challenges)),
            col_u32(
                "credential_attempts",
                e.iter().map(|x| x.credential_attempts),
            ),
            col_u32("connections", e.iter().map(|x| x.connections)),
            col_str("outcome", e.iter().map(|x| Some(x.outcome.as_str()))),
            col_str("cause", e.iter().map(|x| x.cause.map(Cause::as_str))),
            col_str("detail", e.iter().map(|x| x.detail.as_deref())),
            col_list(
                "findings",
                e.iter().map(|x| x.findings.iter().map(|f| f.as_str())),
            ),
            col_u16("final_status", e.iter().map(|x| x.final_status)),
            col_f64("time_to_auth_ms", e.iter().map(|x| x.time_to_auth_ms)),
            col_str("user_agent", e.iter().map(|x| x.user_agent.as_deref())),
            col_str(
                "capture_file",
                e.iter().map(|x| Some(x.capture_file.as_str())),
            ),
            col_list_u64("frames", e.iter().map(|x| &x.frames)),
            col_u32("frame_count", e.iter().map(|x| x.frame_count)),
            col_str(
                "display_filter",
                e.iter().map(|x| Some(x.display_filter.as_str())),
            ),
        ],
    )
}

// ---- tables of the aggregate --------------------------------------------------------

/// A per-key table: the rows of [`Stats`], in its order.
fn per_key_frame(stats: &Stats, table: Table) -> PolarsResult<DataFrame> {
    let g = stats.rows(table);
    let mut cols = vec![
        col_str(table.key_column(), g.iter().map(|r| Some(r.key.as_str()))),
        col_u64("episodes", g.iter().map(|r| r.episodes)),
        col_u64("authenticated", g.iter().map(|r| r.authenticated)),
        col_u64("failed", g.iter().map(|r| r.failed)),
        col_u64("unresolved", g.iter().map(|r| r.unresolved)),
    ];
    for c in Cause::ALL {
        cols.push(col_u64(
            &format!("failed_{}", c.as_str()),
            g.iter().map(|r| r.failed_cause(c)),
        ));
    }
    cols.push(col_u64("challenges", g.iter().map(|r| r.challenges)));
    cols.push(col_u64(
        "credential_attempts",
        g.iter().map(|r| r.credential_attempts),
    ));
    for f in Finding::ALL {
        cols.push(col_u64(f.as_str(), g.iter().map(|r| r.finding(f))));
    }
    cols.push(col_f64(
        "time_to_auth_p50_ms",
        g.iter().map(|r| r.time_to_auth_p50_ms),
    ));
    cols.push(col_f64(
        "time_to_auth_p95_ms",
        g.iter().map(|r| r.time_to_auth_p95_ms),
    ));
    cols.push(col_ts("first_seen", g.iter().map(|r| r.first_seen)));
    cols.push(col_ts("last_seen", g.iter().map(|r| r.last_seen)));
    match table {
        Table::Users => {
            cols.push(col_str("domain", g.iter().map(|r| r.domain.as_deref())));
            cols.push(col_list("client_ips", g.iter().map(|r| &r.client_ips)));
            cols.push(col_list("workstations", g.iter().map(|r| &r.workstations)));
            cols.push(col_list("schemes", g.iter().map(|r| &r.schemes)));
            cols.push(col_list("user_agents", g.iter().map(|r| &r.user_agents)));
            cols.push(col_u64(
                "max_failures_10min",
                g.iter().map(|r| r.max_failures_10min),
            ));
        }
        Table::Clients => cols.push(col_list("users", g.iter().map(|r| &r.users))),
        Table::Proxies | Table::Targets => {
            cols.push(col_list("users", g.iter().map(|r| &r.users)));
            cols.push(col_list("clients", g.iter().map(|r| &r.clients)));
        }
    }
    DataFrame::new(g.len(), cols)
}

fn causes_frame(stats: &Stats) -> PolarsResult<DataFrame> {
    let c = stats.causes();
    DataFrame::new(
        c.len(),
        vec![
            col_str("cause", c.iter().map(|r| Some(r.cause.as_str()))),
            col_u64("episodes", c.iter().map(|r| r.episodes)),
            col_u64("users", c.iter().map(|r| r.users)),
            col_u64("clients", c.iter().map(|r| r.clients)),
            col_str("remedy", c.iter().map(|r| Some(r.remedy))),
        ],
    )
}

fn timeline_frame(stats: &Stats) -> PolarsResult<DataFrame> {
    let mut minutes: BTreeMap<i64, TimelineRow> = stats
        .timeline()
        .into_iter()
        .map(|r| (r.minute.micros(), r))
        .collect();
    if let (Some(&lo), Some(&hi)) = (minutes.keys().next(), minutes.keys().next_back()) {
        let span = hi.saturating_sub(lo) / MINUTE_US;
        if span <= TIMELINE_MAX_DENSE_MINUTES {
            let mut m = lo;
            while m < hi {
                minutes.entry(m).or_insert(TimelineRow {
                    minute: Ts(m),
                    challenges: 0,
                    authenticated: 0,
                    failed: 0,
                    failed_by_cause: [0; Cause::ALL.len()],
                });
                m += MINUTE_US;
            }
        }
    }
    let m: Vec<&TimelineRow> = minutes.values().collect();
    let mut cols = vec![
        col_ts("minute", m.iter().map(|x| Some(x.minute))),
        col_u64("challenges", m.iter().map(|x| x.challenges)),
        col_u64("authenticated", m.iter().map(|x| x.authenticated)),
        col_u64("failed", m.iter().map(|x| x.failed)),
    ];
    for (i, c) in Cause::ALL.iter().enumerate() {
        cols.push(col_u64(
            &format!("failed_{}", c.as_str()),
            m.iter()
                .map(|x| x.failed_by_cause.get(i).copied().unwrap_or(0)),
        ));
    }
    DataFrame::new(m.len(), cols)
}

/// The tables of the aggregate (per key, causes, timeline), in the order they are written:
/// every table after the two record tables.
pub const AGGREGATE_TABLES: &[TableName] = TableName::ALL.split_at(2).1;

/// One table of the aggregate (`None` for a record table).
fn aggregate_frame(stats: &Stats, t: TableName) -> PolarsResult<Option<DataFrame>> {
    Ok(Some(match t {
        TableName::Users => per_key_frame(stats, Table::Users)?,
        TableName::Clients => per_key_frame(stats, Table::Clients)?,
        TableName::Proxies => per_key_frame(stats, Table::Proxies)?,
        TableName::Targets => per_key_frame(stats, Table::Targets)?,
        TableName::Causes => causes_frame(stats)?,
        TableName::Timeline => timeline_frame(stats)?,
        TableName::Episodes | TableName::Transactions => return Ok(None),
    }))
}

/// Writes the aggregate tables among `names` into `dir`, building one at a time (a table's
/// frames leave memory before the next is built), as [`write_frames`] does.
pub fn write_aggregates(
    stats: &Stats,
    names: &[TableName],
    dir: &Path,
    format: Format,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for &t in AGGREGATE_TABLES.iter().filter(|t| names.contains(t)) {
        let frame = anyhow::Context::with_context(aggregate_frame(stats, t), || {
            format!("building the {t} table")
        })?;
        if let Some(df) = frame {
            written.extend(write_frames(&[(t, df)], dir, format)?);
        }
    }
    Ok(written)
}

// ---- writing --------------------------------------------------------------------------

/// Escapes one list item for a `;`-joined CSV cell.
fn csv_list_item(s: &str) -> String {
    s.replace('\\', "\\\\").replace(';', "\\;")
}

/// The frame as the text formats write it: timestamps as RFC 3339 strings; for CSV also
/// lists as `;`-joined strings.
fn text_frame(df: &DataFrame, csv: bool) -> PolarsResult<DataFrame> {
    let mut cols = Vec::with_capacity(df.width());
    for c in df.columns() {
        let name = c.name().as_str();
        let col = match c.dtype() {
            DataType::Datetime(_, _) => {
                let micros = c.cast(&DataType::Int64)?;
                col_string(
                    name,
                    micros.i64()?.iter().map(|v| v.map(|t| Ts(t).rfc3339())),
                )
            }
            DataType::List(_) if csv => {
                let lists = c.list()?;
                let mut out: Vec<Option<String>> = Vec::with_capacity(lists.len());
                for item in lists.series_iter() {
                    out.push(match item {
                        None => None,
                        Some(s) => Some(
                            s.cast(&DataType::String)?
                                .str()?
                                .iter()
                                .flatten()
                                .map(csv_list_item)
                                .collect::<Vec<_>>()
                                .join(";"),
                        ),
                    });
                }
                col_string(name, out)
            }
            _ => c.clone(),
        };
        cols.push(col);
    }
    DataFrame::new(df.height(), cols)
}

fn write_one(df: &DataFrame, format: Format, tmp: &Path) -> anyhow::Result<()> {
    let file = std::fs::File::create(tmp)?;
    let mut w = BufWriter::new(file);
    match format {
        Format::Parquet => {
            let mut df = df.clone();
            ParquetWriter::new(&mut w).finish(&mut df)?;
        }
        Format::Csv => {
            let mut df = text_frame(df, true)?;
            CsvWriter::new(&mut w)
                .include_header(true)
                .with_line_terminator("\r\n".into())
                .finish(&mut df)?;
        }
        Format::Ndjson => {
            let mut df = text_frame(df, false)?;
            JsonWriter::new(&mut w)
                .with_json_format(JsonFormat::JsonLines)
                .finish(&mut df)?;
        }
        Format::Json => {
            let mut df = text_frame(df, false)?;
            JsonWriter::new(&mut w)
                .with_json_format(JsonFormat::Json)
                .finish(&mut df)?;
        }
    }
    w.flush()?;
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(())
}

/// Rows buffered by a [`TableStream`] before they are written (one Parquet row group).
pub const STREAM_ROWS: usize = 16_384;

/// A record that is a row of one of the record tables.
pub trait Row: Clone {
    const TABLE: TableName;
    fn frame(rows: &[Self]) -> PolarsResult<DataFrame>;
}

impl Row for Episode {
    const TABLE: TableName = TableName::Episodes;
    fn frame(rows: &[Self]) -> PolarsResult<DataFrame> {
        episodes_frame(rows)
    }
}

impl Row for Transaction {
    const TABLE: TableName = TableName::Transactions;
    fn frame(rows: &[Self]) -> PolarsResult<DataFrame> {
        transactions_frame(rows)
    }
}

enum StreamWriter {
    Parquet(Box<polars::io::parquet::write::BatchedWriter<BufWriter<std::fs::File>>>),
    Text(BufWriter<std::fs::File>),
}

/// One record table written as its rows come: [`STREAM_ROWS`] at a time, into a temporary
/// file renamed into place by [`TableStream::finish`] (so a failed run leaves no half table).
pub struct TableStream<R: Row> {
    format: Format,
    path: PathBuf,
    tmp: PathBuf,
    writer: Option<StreamWriter>,
    buf: Vec<R>,
    rows: u64,
}

impl<R: Row> TableStream<R> {
    /// The stream of `R`'s table in `dir` (which must exist).
    pub fn create(dir: &Path, format: Format) -> TableStream<R> {
        let ext = format.extension();
        TableStream {
            format,
            path: dir.join(format!("{}.{ext}", R::TABLE)),
            tmp: dir.join(format!(".{}.{ext}.tmp", R::TABLE)),
            writer: None,
            buf: Vec::new(),
            rows: 0,
        }
    }

    pub fn push(&mut self, r: &R) -> anyhow::Result<()> {
        self.buf.push(r.clone());
        if self.buf.len() >= STREAM_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        let rows = std::mem::take(&mut self.buf);
        let first = self.writer.is_none();
        if rows.is_empty() && !first {
            return Ok(());
        }
        self.write_batch(&rows, first)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        self.rows += rows.len() as u64;
        Ok(())
    }

    fn write_batch(&mut self, rows: &[R], first: bool) -> anyhow::Result<()> {
        let df = R::frame(rows)?;
        if self.writer.is_none() {
            let file = BufWriter::new(std::fs::File::create(&self.tmp)?);
            self.writer = Some(match self.format {
                Format::Parquet => {
                    StreamWriter::Parquet(Box::new(ParquetWriter::new(file).batched(df.schema())?))
                }
                _ => StreamWriter::Text(file),
            });
        }
        let format = self.format;
        match &mut self.writer {
            Some(StreamWriter::Parquet(w)) => w.write_batch(&df)?,
            Some(StreamWriter::Text(w)) => write_text_batch(w, &df, format, first)?,
            None => {}
        }
        Ok(())
    }

    /// Writes what is buffered, closes the file and renames it into place; returns its path.
    pub fn finish(mut self) -> anyhow::Result<PathBuf> {
        let result = self.close();
        if result.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        result.with_context(|| format!("cannot write {}", self.path.display()))?;
        Ok(self.path)
    }

    fn close(&mut self) -> anyhow::Result<()> {
        self.flush()?;
        let file = match self.writer.take() {
            Some(StreamWriter::Parquet(w)) => {
                w.finish()?;
                None
            }
            Some(StreamWriter::Text(mut w)) => {
                if self.format == Format::Json {
                    w.write_all(if self.rows == 0 { b"[]" } else { b"]" })?;
                }
                w.flush()?;
                Some(w.into_inner().map_err(|e| e.into_error())?)
            }
            None => None,
        };
        if let Some(f) = file {
            f.sync_all()?;
        }
        std::fs::rename(&self.tmp, &self.path)?;
        Ok(())
    }
}

/// Appends one batch to a text table: CSV with the header first, NDJSON lines, or the
/// objects of a JSON array (opened by the first batch, closed by the stream's end).
fn write_text_batch(
    w: &mut BufWriter<std::fs::File>,
    df: &DataFrame,
    format: Format,
    first: bool,
) -> anyhow::Result<()> {
    match format {
        Format::Csv => {
            let mut df = text_frame(df, true)?;
            CsvWriter::new(&mut *w)
                .include_header(first)
                .with_line_terminator("\r\n".into())
                .finish(&mut df)?;
        }
        Format::Ndjson => {
            let mut df = text_frame(df, false)?;
            JsonWriter::new(&mut *w)
                .with_json_format(JsonFormat::JsonLines)
                .finish(&mut df)?;
        }
        Format::Json | Format::Parquet => {
            if df.height() == 0 {
                return Ok(());
            }
            let mut df = text_frame(df, false)?;
            let mut buf: Vec<u8> = Vec::new();
            JsonWriter::new(&mut buf)
                .with_json_format(JsonFormat::Json)
                .finish(&mut df)?;
            // `[{..},{..}]`: the objects go into the one array of the file.
            let inner = buf
                .strip_prefix(b"[")
                .and_then(|b| b.strip_suffix(b"]"))
                .unwrap_or(&buf);
            w.write_all(if first { b"[" } else { b"," })?;
            w.write_all(inner)?;
        }
    }
    Ok(())
}

/// The files of `names` in `dir`, refused when one exists and `force` is not given.
pub fn check_targets(
    dir: &Path,
    format: Format,
    names: &[TableName],
    force: bool,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create output directory {}", dir.display()))?;
    if force {
        return Ok(());
    }
    for t in names {
        let path = dir.join(format!("{t}.{}", format.extension()));
        if path.symlink_metadata().is_ok() {
            bail!(
                "{} already exists (use --force to overwrite)",
                path.display()
            );
        }
    }
    Ok(())
}

/// The distinct tables of `which`, all of them when empty, in order.
pub fn table_names(which: &[TableName]) -> Vec<TableName> {
    let mut names: Vec<TableName> = Vec::new();
    for &t in if which.is_empty() {
        &TableName::ALL[..]
    } else {
        which
    } {
        if !names.contains(&t) {
            names.push(t);
        }
    }
    names
}

/// Writes frames into `dir` as `<table>.<ext>` (each through a temporary file); returns the
/// paths written. A failure stops at that frame and names its file.
pub fn write_frames(
    frames: &[(TableName, DataFrame)],
    dir: &Path,
    format: Format,
) -> anyhow::Result<Vec<PathBuf>> {
    let ext = format.extension();
    let mut written = Vec::with_capacity(frames.len());
    for (t, df) in frames {
        let path = dir.join(format!("{t}.{ext}"));
        let tmp = dir.join(format!(".{t}.{ext}.tmp"));
        let result = write_one(df, format, &tmp)
            .and_then(|()| std::fs::rename(&tmp, &path).map_err(anyhow::Error::from));
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.context(format!("cannot write {}", path.display())));
        }
        written.push(path);
    }
    Ok(written)
}

/// Writes the tables named in `which` (all of them when empty) into `dir` as
/// `<table>.<ext>`, and returns the paths written, in the order of `which`.
///
/// Without `force`, an existing file for any of the tables refuses the whole call before
/// anything is written. A failure stops at that table: its temporary file is removed, the
/// tables written before it stay complete, and the error names the file.
pub fn write_tables(
    tables: &Tables,
    dir: &Path,
    format: Format,
    which: &[TableName],
    force: bool,
) -> anyhow::Result<Vec<PathBuf>> {
    let names = table_names(which);
    check_targets(dir, format, &names, force)?;
    let frames: Vec<(TableName, DataFrame)> =
        names.iter().map(|&t| (t, tables.get(t).clone())).collect();
    write_frames(&frames, dir, format)
}
