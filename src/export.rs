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
//!   Episodes without a user are grouped into one `users` row whose `user` is null (an
//!   empty cell in CSV). Rows are ordered by `failed` descending, then `episodes`
//!   descending, then key ascending (the null key last).
//! - `causes`: `cause`, `episodes`, `users`, `clients`, `remedy`: one row per [`Cause::ALL`],
//!   in that order, with 0 when no episode failed so. `users`/`clients` count distinct
//!   known users / client addresses.
//! - `timeline`: `minute`, `challenges`, `authenticated`, `failed`, `failed_<cause>`: episodes
//!   bucketed by the UTC minute of their `start_ts` (`challenges` sums their challenges).
//!   Minutes between the first and the last are present with zeros, unless the span exceeds
//!   [`TIMELINE_MAX_DENSE_MINUTES`]; then only minutes with episodes are listed.
//!
//! The per-key, cause and minute tables are polars group-bys over the episodes DataFrame
//! (`group_by_stable` on the key columns); each group's row indices are then aggregated
//! over the records of those rows.
//!
//! Definitions shared with the JSON summary:
//!
//! - **Percentiles** are nearest-rank over the `time_to_auth_ms` of authenticated episodes:
//!   with the `n` values sorted ascending, the p-th percentile is the value at 1-based rank
//!   `ceil(p × n / 100)` (at least 1); null when there is none. See [`crate::stats::percentile`].
//! - **`max_failures_10min`**: the largest number of the user's failed episodes whose
//!   `start_ts` lie within one 10-minute window (last − first < 10 minutes).
//!
//! Types: timestamps are `Datetime(Microseconds, UTC)`; counts are unsigned integers (record
//! counts `UInt32` as in the model, ids `UInt64`, aggregates `UInt64`); ports and HTTP
//! statuses are `UInt32` (polars' `UInt16` needs its extra `dtype-u16` feature); times in
//! milliseconds are `Float64`; addresses are strings; lists (`offered_schemes`, `findings`,
//! `client_ips`, `users`, ...) are `List(String)`, empty (not null) when there is nothing.
//! Parquet keeps these types. The text formats write timestamps as RFC 3339 UTC with
//! microseconds (`2026-11-28T08:19:36.123456Z`); JSON and NDJSON keep lists as arrays; CSV
//! (RFC 4180, header row) joins list items with `;`, escaping a `;` or `\` inside an item
//! with a backslash (`\;`, `\\`), so user agents that contain `;` stay unambiguous.
//!
//! Writing: `<dir>/<table>.<csv|parquet|ndjson|json>`; the directory is created; existing
//! files are refused unless `force` (checked for every table before any is written); each
//! table is written to `.<table>.<ext>.tmp` in the same directory and renamed into place, so
//! a failed write leaves no half-written table and the error names the file.

use crate::model::{Cause, Episode, Finding, Outcome, Transaction, Ts};
use anyhow::{bail, Context as _};
use polars::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
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
const TEN_MINUTES_US: i64 = 10 * MINUTE_US;

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
    let episodes_df = episodes_frame(episodes)?;
    Ok(Tables {
        transactions: transactions_frame(transactions)?,
        users: per_key_frame(&episodes_df, episodes, KeyKind::User)?,
        clients: per_key_frame(&episodes_df, episodes, KeyKind::Client)?,
        proxies: per_key_frame(&episodes_df, episodes, KeyKind::Proxy)?,
        targets: per_key_frame(&episodes_df, episodes, KeyKind::Target)?,
        causes: causes_frame(&episodes_df, episodes)?,
        timeline: timeline_frame(&episodes_df, episodes)?,
        episodes: episodes_df,
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

fn ip_str(ip: IpAddr) -> String {
    ip.to_string()
}

// ---- record tables --------------------------------------------------------------------

pub(crate) fn transactions_frame(t: &[Transaction]) -> PolarsResult<DataFrame> {
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
        ],
    )
}

pub(crate) fn episodes_frame(e: &[Episode]) -> PolarsResult<DataFrame> {
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
        ],
    )
}

// ---- grouping -------------------------------------------------------------------------

/// Row indices of each group of `df` by the columns `by`, in order of first appearance.
fn group_rows(df: &DataFrame, by: &[&str]) -> PolarsResult<Vec<Vec<usize>>> {
    if df.height() == 0 {
        return Ok(Vec::new());
    }
    let gb = df.group_by_stable(by.iter().copied())?;
    Ok(gb
        .get_groups()
        .iter()
        .map(|g| match g {
            GroupsIndicator::Idx((_, idx)) => idx.iter().map(|&i| i as usize).collect(),
            GroupsIndicator::Slice([first, len]) => {
                (first as usize..(first as usize).saturating_add(len as usize)).collect()
            }
        })
        .collect())
}

fn rows<'a>(episodes: &'a [Episode], idx: &'a [usize]) -> impl Iterator<Item = &'a Episode> {
    idx.iter().filter_map(|&i| episodes.get(i))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    User,
    Client,
    Proxy,
    Target,
}

impl KeyKind {
    fn column(self) -> &'static str {
        match self {
            KeyKind::User => "user",
            KeyKind::Client => "client_ip",
            KeyKind::Proxy => "proxy",
            KeyKind::Target => "target",
        }
    }
    fn group_by(self) -> &'static [&'static str] {
        match self {
            KeyKind::User => &["user"],
            KeyKind::Client => &["client_ip"],
            KeyKind::Proxy => &["proxy_ip", "proxy_port"],
            KeyKind::Target => &["target"],
        }
    }
    fn key(self, e: &Episode) -> Option<String> {
        match self {
            KeyKind::User => e.user.clone(),
            KeyKind::Client => Some(ip_str(e.client_ip)),
            KeyKind::Proxy => Some(match e.proxy_ip {
                IpAddr::V4(ip) => format!("{ip}:{}", e.proxy_port),
                IpAddr::V6(ip) => format!("[{ip}]:{}", e.proxy_port),
            }),
            KeyKind::Target => Some(e.target.clone()),
        }
    }
}

/// The counts every per-key table shares, for one group of episodes.
struct Counts {
    episodes: u64,
    by_outcome: [u64; 3],
    by_cause: [u64; Cause::ALL.len()],
    challenges: u64,
    credential_attempts: u64,
    by_finding: [u64; Finding::ALL.len()],
    p50: Option<f64>,
    p95: Option<f64>,
    first_seen: Option<Ts>,
    last_seen: Option<Ts>,
}

fn outcome_index(o: Outcome) -> usize {
    Outcome::ALL.iter().position(|x| *x == o).unwrap_or(0)
}

fn cause_index(c: Cause) -> usize {
    Cause::ALL.iter().position(|x| *x == c).unwrap_or(0)
}

fn counts<'a>(group: impl Iterator<Item = &'a Episode>) -> Counts {
    let mut c = Counts {
        episodes: 0,
        by_outcome: [0; 3],
        by_cause: [0; Cause::ALL.len()],
        challenges: 0,
        credential_attempts: 0,
        by_finding: [0; Finding::ALL.len()],
        p50: None,
        p95: None,
        first_seen: None,
        last_seen: None,
    };
    let mut times = Vec::new();
    for e in group {
        c.episodes += 1;
        c.by_outcome[outcome_index(e.outcome)] += 1;
        if let (Outcome::Failed, Some(cause)) = (e.outcome, e.cause) {
            c.by_cause[cause_index(cause)] += 1;
        }
        c.challenges = c.challenges.saturating_add(u64::from(e.challenges));
        c.credential_attempts = c
            .credential_attempts
            .saturating_add(u64::from(e.credential_attempts));
        for (i, f) in Finding::ALL.iter().enumerate() {
            if e.findings.contains(f) {
                c.by_finding[i] += 1;
            }
        }
        if e.outcome == Outcome::Authenticated {
            if let Some(t) = e.time_to_auth_ms.filter(|t| t.is_finite()) {
                times.push(t);
            }
        }
        c.first_seen = Some(c.first_seen.map_or(e.start_ts, |t| t.min(e.start_ts)));
        c.last_seen = Some(c.last_seen.map_or(e.end_ts, |t| t.max(e.end_ts)));
    }
    times.sort_by(f64::total_cmp);
    c.p50 = crate::stats::percentile(&times, 50.0);
    c.p95 = crate::stats::percentile(&times, 95.0);
    c
}

/// Distinct non-empty values, sorted.
fn distinct<'a>(v: impl Iterator<Item = Option<&'a str>>) -> Vec<String> {
    v.flatten()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(str::to_owned)
        .collect()
}

fn distinct_ips<'a>(group: impl Iterator<Item = &'a Episode>) -> Vec<String> {
    group
        .map(|e| e.client_ip)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(ip_str)
        .collect()
}

/// The most frequent value (ties: the smallest).
fn most_frequent<'a>(v: impl Iterator<Item = Option<&'a str>>) -> Option<String> {
    let mut n: BTreeMap<&str, u64> = BTreeMap::new();
    for s in v.flatten() {
        *n.entry(s).or_default() += 1;
    }
    let mut best: Option<(&str, u64)> = None;
    for (s, c) in n {
        if best.is_none_or(|(_, b)| c > b) {
            best = Some((s, c));
        }
    }
    best.map(|(s, _)| s.to_owned())
}

fn per_key_frame(df: &DataFrame, episodes: &[Episode], kind: KeyKind) -> PolarsResult<DataFrame> {
    struct Row {
        key: Option<String>,
        counts: Counts,
        idx: Vec<usize>,
    }
    let mut groups: Vec<Row> = group_rows(df, kind.group_by())?
        .into_iter()
        .map(|idx| {
            let key = idx
                .first()
                .and_then(|&i| episodes.get(i))
                .and_then(|e| kind.key(e));
            let counts = counts(rows(episodes, &idx));
            Row { key, counts, idx }
        })
        .collect();
    let failed = outcome_index(Outcome::Failed);
    groups.sort_by(|a, b| {
        b.counts.by_outcome[failed]
            .cmp(&a.counts.by_outcome[failed])
            .then(b.counts.episodes.cmp(&a.counts.episodes))
            .then_with(|| match (&a.key, &b.key) {
                (Some(x), Some(y)) => x.cmp(y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
    });

    let g = &groups;
    let mut cols = vec![
        col_str(kind.column(), g.iter().map(|r| r.key.as_deref())),
        col_u64("episodes", g.iter().map(|r| r.counts.episodes)),
    ];
    for o in Outcome::ALL {
        let i = outcome_index(o);
        cols.push(col_u64(
            o.as_str(),
            g.iter().map(|r| r.counts.by_outcome[i]),
        ));
    }
    for (i, c) in Cause::ALL.iter().enumerate() {
        cols.push(col_u64(
            &format!("failed_{}", c.as_str()),
            g.iter().map(|r| r.counts.by_cause[i]),
        ));
    }
    cols.push(col_u64("challenges", g.iter().map(|r| r.counts.challenges)));
    cols.push(col_u64(
        "credential_attempts",
        g.iter().map(|r| r.counts.credential_attempts),
    ));
    for (i, f) in Finding::ALL.iter().enumerate() {
        cols.push(col_u64(
            f.as_str(),
            g.iter().map(|r| r.counts.by_finding[i]),
        ));
    }
    cols.push(col_f64(
        "time_to_auth_p50_ms",
        g.iter().map(|r| r.counts.p50),
    ));
    cols.push(col_f64(
        "time_to_auth_p95_ms",
        g.iter().map(|r| r.counts.p95),
    ));
    cols.push(col_ts("first_seen", g.iter().map(|r| r.counts.first_seen)));
    cols.push(col_ts("last_seen", g.iter().map(|r| r.counts.last_seen)));

    let users_of = |r: &Row| distinct(rows(episodes, &r.idx).map(|e| e.user.as_deref()));
    let clients_of = |r: &Row| distinct_ips(rows(episodes, &r.idx));
    match kind {
        KeyKind::User => {
            cols.push(col_string(
                "domain",
                g.iter()
                    .map(|r| most_frequent(rows(episodes, &r.idx).map(|e| e.domain.as_deref()))),
            ));
            cols.push(col_list("client_ips", g.iter().map(clients_of)));
            cols.push(col_list(
                "workstations",
                g.iter()
                    .map(|r| distinct(rows(episodes, &r.idx).map(|e| e.workstation.as_deref()))),
            ));
            cols.push(col_list(
                "schemes",
                g.iter()
                    .map(|r| distinct(rows(episodes, &r.idx).map(|e| e.scheme.as_deref()))),
            ));
            cols.push(col_list(
                "user_agents",
                g.iter()
                    .map(|r| distinct(rows(episodes, &r.idx).map(|e| e.user_agent.as_deref()))),
            ));
            cols.push(col_u64(
                "max_failures_10min",
                g.iter().map(|r| {
                    let ts: Vec<Ts> = rows(episodes, &r.idx)
                        .filter(|e| e.outcome == Outcome::Failed)
                        .map(|e| e.start_ts)
                        .collect();
                    crate::stats::max_in_window(&ts, TEN_MINUTES_US)
                }),
            ));
        }
        KeyKind::Client => cols.push(col_list("users", g.iter().map(users_of))),
        KeyKind::Proxy | KeyKind::Target => {
            cols.push(col_list("users", g.iter().map(users_of)));
            cols.push(col_list("clients", g.iter().map(clients_of)));
        }
    }
    DataFrame::new(groups.len(), cols)
}

fn causes_frame(df: &DataFrame, episodes: &[Episode]) -> PolarsResult<DataFrame> {
    let mut per_cause: [(u64, u64, u64); Cause::ALL.len()] = [(0, 0, 0); Cause::ALL.len()];
    for idx in group_rows(df, &["cause"])? {
        let Some(cause) = rows(episodes, &idx).next().and_then(|e| e.cause) else {
            continue; // the null group: episodes that did not fail
        };
        let failed: Vec<&Episode> = rows(episodes, &idx)
            .filter(|e| e.outcome == Outcome::Failed)
            .collect();
        let users = failed
            .iter()
            .filter_map(|e| e.user.as_deref())
            .collect::<BTreeSet<_>>()
            .len();
        let clients = failed
            .iter()
            .map(|e| e.client_ip)
            .collect::<BTreeSet<_>>()
            .len();
        per_cause[cause_index(cause)] = (failed.len() as u64, users as u64, clients as u64);
    }
    DataFrame::new(
        Cause::ALL.len(),
        vec![
            col_str("cause", Cause::ALL.iter().map(|c| Some(c.as_str()))),
            col_u64("episodes", per_cause.iter().map(|x| x.0)),
            col_u64("users", per_cause.iter().map(|x| x.1)),
            col_u64("clients", per_cause.iter().map(|x| x.2)),
            col_str("remedy", Cause::ALL.iter().map(|c| Some(c.remedy()))),
        ],
    )
}

fn minute_of(t: Ts) -> i64 {
    t.micros().div_euclid(MINUTE_US).saturating_mul(MINUTE_US)
}

fn timeline_frame(df: &DataFrame, episodes: &[Episode]) -> PolarsResult<DataFrame> {
    struct Minute {
        challenges: u64,
        authenticated: u64,
        failed: u64,
        by_cause: [u64; Cause::ALL.len()],
    }
    let mut with_minute = df.select(["start_ts"])?;
    with_minute.with_column(col_ts(
        "minute",
        episodes.iter().map(|e| Some(Ts(minute_of(e.start_ts)))),
    ))?;
    let mut minutes: BTreeMap<i64, Minute> = BTreeMap::new();
    for idx in group_rows(&with_minute, &["minute"])? {
        let Some(first) = rows(episodes, &idx).next() else {
            continue;
        };
        let c = counts(rows(episodes, &idx));
        minutes.insert(
            minute_of(first.start_ts),
            Minute {
                challenges: c.challenges,
                authenticated: c.by_outcome[outcome_index(Outcome::Authenticated)],
                failed: c.by_outcome[outcome_index(Outcome::Failed)],
                by_cause: c.by_cause,
            },
        );
    }
    if let (Some(&lo), Some(&hi)) = (minutes.keys().next(), minutes.keys().next_back()) {
        let span = hi.saturating_sub(lo) / MINUTE_US;
        if span <= TIMELINE_MAX_DENSE_MINUTES {
            let mut m = lo;
            while m < hi {
                minutes.entry(m).or_insert(Minute {
                    challenges: 0,
                    authenticated: 0,
                    failed: 0,
                    by_cause: [0; Cause::ALL.len()],
                });
                m += MINUTE_US;
            }
        }
    }
    let m: Vec<(&i64, &Minute)> = minutes.iter().collect();
    let mut cols = vec![
        col_ts("minute", m.iter().map(|(t, _)| Some(Ts(**t)))),
        col_u64("challenges", m.iter().map(|(_, x)| x.challenges)),
        col_u64("authenticated", m.iter().map(|(_, x)| x.authenticated)),
        col_u64("failed", m.iter().map(|(_, x)| x.failed)),
    ];
    for (i, c) in Cause::ALL.iter().enumerate() {
        cols.push(col_u64(
            &format!("failed_{}", c.as_str()),
            m.iter().map(|(_, x)| x.by_cause[i]),
        ));
    }
    DataFrame::new(m.len(), cols)
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
                            s.str()?
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
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create output directory {}", dir.display()))?;
    let ext = format.extension();
    let targets: Vec<(TableName, PathBuf)> = names
        .iter()
        .map(|&t| (t, dir.join(format!("{t}.{ext}"))))
        .collect();
    if !force {
        for (_, path) in &targets {
            if path.symlink_metadata().is_ok() {
                bail!(
                    "{} already exists (use --force to overwrite)",
                    path.display()
                );
            }
        }
    }
    let mut written = Vec::with_capacity(targets.len());
    for (t, path) in targets {
        let tmp = dir.join(format!(".{t}.{ext}.tmp"));
        let result = write_one(tables.get(t), format, &tmp)
            .and_then(|()| std::fs::rename(&tmp, &path).map_err(anyhow::Error::from));
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.context(format!("cannot write {}", path.display())));
        }
        written.push(path);
    }
    Ok(written)
}
