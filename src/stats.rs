//! The one aggregator: every number the terminal report, the JSON summary
//! (`docs/verdicts.md` §6.2), the live dashboard and the per-key tables (§6.3) show comes
//! from a [`Stats`] fed with [`Episode`]s (and, when kept, [`Transaction`]s). Updates are
//! cheap (hash maps keyed by user, client, proxy and target) so the dashboard can add
//! episodes as they are judged.
//!
//! This module owns the definitions of the statistics; it renders nothing. Its choices
//! (`docs/verdicts.md` §5.1 and §6 say the same for readers of the outputs):
//!
//! - **Keys.** user = `episode.user` (credentials or inferred); an episode with no user name
//!   is counted under the row [`UNKNOWN_USER`] so every table's rows add up to the episode
//!   total. client = `client_ip`; proxy = `proxy_ip:port` (`[v6]:port` for IPv6);
//!   target = `episode.target` as the analysis wrote it.
//! - **Times.** An episode belongs to the minute of its `start_ts` in the timeline and in
//!   `max_failures_10min`; `first_seen`/`last_seen` are the earliest `start_ts` and the
//!   latest `end_ts` of a key's episodes.
//! - **Percentiles.** Nearest rank over the exact values of `time_to_auth_ms` of the
//!   authenticated episodes (`p` → the `ceil(p/100·n)`-th smallest value).
//! - **Findings in per-key rows** count the episodes that carry the finding.
//! - **Findings in the summary** (`findings`, `docs/verdicts.md` §5.1):
//!   `lockout_risk` counts distinct named users with a flagged episode; `capture_gap` counts
//!   episodes; every other finding counts the credentialed requests of the episodes that
//!   carry it (`credential_attempts`, at least 1 per episode), since a finding is a property
//!   of the credentials those requests carried.
//! - **Schemes.** `offered` counts episodes whose challenges offered a scheme (each scheme
//!   once per episode); `used` counts episodes by the scheme the client answered with.
//! - `max_failures_10min`: the most failed episodes of a user whose start times fit in a
//!   window of 10 minutes (`t_last − t_first < 10 min`).

use crate::anomaly::Anomalies;
use crate::model::{
    CaptureCounters, Cause, EngineOutput, Episode, Finding, HttpCounters, Notice, Outcome,
    Transaction, Ts,
};
use foldhash::{HashMap, HashSet};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// The user key of episodes without a user name.
pub const UNKNOWN_USER: &str = "(unknown)";

const N_CAUSES: usize = Cause::ALL.len();
const N_FINDINGS: usize = Finding::ALL.len();
const MINUTE_US: i64 = 60_000_000;
const TEN_MINUTES_US: i64 = 600_000_000;

fn cause_idx(c: Cause) -> usize {
    c as usize
}

fn finding_idx(f: Finding) -> usize {
    f as usize
}

/// The four per-key tables (`docs/verdicts.md` §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Table {
    Users,
    Clients,
    Proxies,
    Targets,
}

impl Table {
    pub const ALL: [Table; 4] = [Table::Users, Table::Clients, Table::Proxies, Table::Targets];

    pub fn as_str(self) -> &'static str {
        match self {
            Table::Users => "users",
            Table::Clients => "clients",
            Table::Proxies => "proxies",
            Table::Targets => "targets",
        }
    }

    /// The name of the key column of this table's rows.
    pub(crate) fn key_column(self) -> &'static str {
        match self {
            Table::Users => "user",
            Table::Clients => "client_ip",
            Table::Proxies => "proxy",
            Table::Targets => "target",
        }
    }

    /// Every column of a row of this table, in order (the names of `docs/verdicts.md` §6.3).
    pub fn columns(self) -> Vec<String> {
        let mut c: Vec<String> = vec![
            self.key_column().into(),
            "episodes".into(),
            "authenticated".into(),
            "failed".into(),
            "unresolved".into(),
        ];
        c.extend(Cause::ALL.iter().map(|k| format!("failed_{}", k.as_str())));
        c.push("challenges".into());
        c.push("credential_attempts".into());
        c.extend(Finding::ALL.iter().map(|f| f.as_str().to_string()));
        for s in [
            "time_to_auth_p50_ms",
            "time_to_auth_p95_ms",
            "first_seen",
            "last_seen",
        ] {
            c.push(s.into());
        }
        let extra: &[&str] = match self {
            Table::Users => &[
                "domain",
                "client_ips",
                "workstations",
                "schemes",
                "user_agents",
                "max_failures_10min",
            ],
            Table::Clients => &["users"],
            Table::Proxies | Table::Targets => &["users", "clients"],
        };
        c.extend(extra.iter().map(|s| s.to_string()));
        c
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The key of an episode in one table.
pub(crate) fn key_of(table: Table, e: &Episode) -> String {
    match table {
        Table::Users => user_key_str(e).to_string(),
        Table::Clients => ip_text(e.client_ip),
        Table::Proxies => proxy_key(e.proxy_ip, e.proxy_port),
        Table::Targets => e.target.clone(),
    }
}

fn user_key_str(e: &Episode) -> &str {
    e.user.as_deref().unwrap_or(UNKNOWN_USER)
}

/// The keys of one episode in each table, the text of its client address made once.
struct EpisodeKeys<'e> {
    user: &'e str,
    client: String,
    proxy: String,
    target: &'e str,
}

impl<'e> EpisodeKeys<'e> {
    fn of(e: &'e Episode) -> Self {
        EpisodeKeys {
            user: user_key_str(e),
            client: ip_text(e.client_ip),
            proxy: proxy_key(e.proxy_ip, e.proxy_port),
            target: &e.target,
        }
    }

    fn key(&self, table: Table) -> &str {
        match table {
            Table::Users => self.user,
            Table::Clients => &self.client,
            Table::Proxies => &self.proxy,
            Table::Targets => self.target,
        }
    }
}

/// Inserts `v` into a set of owned strings, allocating only when it is new.
fn insert_str(set: &mut HashSet<String>, v: &str) {
    if !set.contains(v) {
        set.insert(v.to_string());
    }
}

/// Adds one to the count of `k`, allocating only when it is new.
fn count_str(map: &mut BTreeMap<String, u64>, k: &str) {
    match map.get_mut(k) {
        Some(n) => *n += 1,
        None => {
            map.insert(k.to_string(), 1);
        }
    }
}

/// `ip:port`, with IPv6 addresses in brackets.
pub(crate) fn proxy_key(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(_) => {
            let mut s = ip_text(ip);
            s.push(':');
            push_decimal(&mut s, u32::from(port));
            s
        }
        IpAddr::V6(_) => std::net::SocketAddr::new(ip, port).to_string(),
    }
}

/// An address as text, as `Display` writes it; IPv4 without the formatting machinery (the
/// keys of every episode are made of addresses).
pub(crate) fn ip_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let mut s = String::with_capacity(21);
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    s.push('.');
                }
                push_decimal(&mut s, u32::from(octet));
            }
            s
        }
        IpAddr::V6(_) => ip.to_string(),
    }
}

fn push_decimal(s: &mut String, n: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        s.push(char::from(d));
    }
}

/// Percentile by nearest rank over values sorted ascending; `None` when empty.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    let i = rank.clamp(1, n) - 1;
    sorted.get(i).copied()
}

fn sorted_values(v: &[f64]) -> Vec<f64> {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    s.sort_by(f64::total_cmp);
    s
}

/// The most entries of `times` that fit in a window `t_last − t_first < window_us`.
pub(crate) fn max_in_window(times: &[Ts], window_us: i64) -> u64 {
    let mut t: Vec<i64> = times.iter().map(|t| t.0).collect();
    t.sort_unstable();
    let mut best = 0usize;
    let mut lo = 0usize;
    for hi in 0..t.len() {
        while lo < hi && t[hi].saturating_sub(t[lo]) >= window_us {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best as u64
}

/// Running counts of one key.
#[derive(Clone, Debug, Default)]
struct KeyAcc {
    episodes: u64,
    authenticated: u64,
    failed: u64,
    unresolved: u64,
    failed_by_cause: [u64; N_CAUSES],
    challenges: u64,
    credential_attempts: u64,
    findings: [u64; N_FINDINGS],
    time_to_auth: Vec<f64>,
    first_seen: Option<Ts>,
    last_seen: Option<Ts>,
    // users table
    domains: BTreeMap<String, u64>,
    client_ips: BTreeSet<String>,
    workstations: BTreeSet<String>,
    schemes: BTreeSet<String>,
    user_agents: BTreeSet<String>,
    failure_times: Vec<Ts>,
    // clients, proxies, targets
    users: BTreeSet<String>,
    clients: BTreeSet<String>,
}

/// Most distinct values kept in one list column of one row (user agents, users of a busy
/// terminal server...): beyond it the row stops collecting, so memory stays bounded.
pub const MAX_LIST: usize = 256;

fn insert_capped(set: &mut BTreeSet<String>, v: &str) {
    if set.len() < MAX_LIST && !set.contains(v) {
        set.insert(v.to_string());
    }
}

impl KeyAcc {
    fn add(&mut self, table: Table, e: &Episode, keys: &EpisodeKeys<'_>) {
        self.episodes += 1;
        match e.outcome {
            Outcome::Authenticated => {
                self.authenticated += 1;
                if let Some(ms) = e.time_to_auth_ms.filter(|m| m.is_finite()) {
                    self.time_to_auth.push(ms);
                }
            }
            Outcome::Failed => {
                self.failed += 1;
                if let Some(c) = e.cause {
                    self.failed_by_cause[cause_idx(c)] += 1;
                }
            }
            Outcome::Unresolved => self.unresolved += 1,
        }
        self.challenges += u64::from(e.challenges);
        self.credential_attempts += u64::from(e.credential_attempts);
        for f in distinct_findings(e) {
            self.findings[finding_idx(f)] += 1;
        }
        if self.first_seen.is_none_or(|t| e.start_ts < t) {
            self.first_seen = Some(e.start_ts);
        }
        let end = e.end_ts.max(e.start_ts);
        if self.last_seen.is_none_or(|t| end > t) {
            self.last_seen = Some(end);
        }
        match table {
            Table::Users => {
                if let Some(d) = &e.domain {
                    if self.domains.len() < MAX_LIST || self.domains.contains_key(d) {
                        count_str(&mut self.domains, d);
                    }
                }
                insert_capped(&mut self.client_ips, &keys.client);
                if let Some(w) = &e.workstation {
                    insert_capped(&mut self.workstations, w);
                }
                if let Some(s) = &e.scheme {
                    insert_capped(&mut self.schemes, s);
                }
                if let Some(ua) = &e.user_agent {
                    insert_capped(&mut self.user_agents, ua);
                }
                if e.outcome == Outcome::Failed {
                    self.failure_times.push(e.start_ts);
                }
            }
            Table::Clients => insert_capped(&mut self.users, keys.user),
            Table::Proxies | Table::Targets => {
                insert_capped(&mut self.users, keys.user);
                insert_capped(&mut self.clients, &keys.client);
            }
        }
    }

    fn row(&self, table: Table, key: &str) -> KeyRow {
        let tta = sorted_values(&self.time_to_auth);
        // The most frequent domain; ties go to the first by name.
        let mut domain: Option<(&String, u64)> = None;
        for (d, n) in &self.domains {
            if domain.is_none_or(|(_, m)| *n > m) {
                domain = Some((d, *n));
            }
        }
        KeyRow {
            table,
            key: key.to_string(),
            episodes: self.episodes,
            authenticated: self.authenticated,
            failed: self.failed,
            unresolved: self.unresolved,
            failed_by_cause: self.failed_by_cause,
            challenges: self.challenges,
            credential_attempts: self.credential_attempts,
            findings: self.findings,
            time_to_auth_p50_ms: percentile(&tta, 50.0),
            time_to_auth_p95_ms: percentile(&tta, 95.0),
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            domain: domain.map(|(d, _)| d.clone()),
            client_ips: self.client_ips.iter().cloned().collect(),
            workstations: self.workstations.iter().cloned().collect(),
            schemes: self.schemes.iter().cloned().collect(),
            user_agents: self.user_agents.iter().cloned().collect(),
            max_failures_10min: max_in_window(&self.failure_times, TEN_MINUTES_US),
            users: self.users.iter().cloned().collect(),
            clients: self.clients.iter().cloned().collect(),
        }
    }
}

/// Each finding of an episode once.
fn distinct_findings(e: &Episode) -> impl Iterator<Item = Finding> + '_ {
    Finding::ALL
        .into_iter()
        .filter(move |f| e.findings.contains(f))
}

/// One row of a per-key table (`docs/verdicts.md` §6.3). Serializes with the column names of
/// [`Table::columns`] (the key column is named per table).
#[derive(Clone, Debug, PartialEq)]
pub struct KeyRow {
    pub table: Table,
    pub key: String,
    pub episodes: u64,
    pub authenticated: u64,
    pub failed: u64,
    pub unresolved: u64,
    /// Indexed in the order of [`Cause::ALL`].
    pub failed_by_cause: [u64; N_CAUSES],
    pub challenges: u64,
    pub credential_attempts: u64,
    /// Episodes showing each finding, in the order of [`Finding::ALL`].
    pub findings: [u64; N_FINDINGS],
    pub time_to_auth_p50_ms: Option<f64>,
    pub time_to_auth_p95_ms: Option<f64>,
    pub first_seen: Option<Ts>,
    pub last_seen: Option<Ts>,
    /// users: the most frequent domain.
    pub domain: Option<String>,
    /// users.
    pub client_ips: Vec<String>,
    pub workstations: Vec<String>,
    pub schemes: Vec<String>,
    pub user_agents: Vec<String>,
    pub max_failures_10min: u64,
    /// clients, proxies, targets.
    pub users: Vec<String>,
    /// proxies, targets.
    pub clients: Vec<String>,
}

impl KeyRow {
    pub fn failed_cause(&self, c: Cause) -> u64 {
        self.failed_by_cause[cause_idx(c)]
    }
    pub fn finding(&self, f: Finding) -> u64 {
        self.findings[finding_idx(f)]
    }
    /// The cause with the most failures (first in [`Cause::ALL`] order on ties).
    pub(crate) fn top_cause(&self) -> Option<Cause> {
        let mut best: Option<(Cause, u64)> = None;
        for c in Cause::ALL {
            let n = self.failed_cause(c);
            if n > 0 && best.is_none_or(|(_, m)| n > m) {
                best = Some((c, n));
            }
        }
        best.map(|(c, _)| c)
    }
}

impl Serialize for KeyRow {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry(self.table.key_column(), &self.key)?;
        m.serialize_entry("episodes", &self.episodes)?;
        m.serialize_entry("authenticated", &self.authenticated)?;
        m.serialize_entry("failed", &self.failed)?;
        m.serialize_entry("unresolved", &self.unresolved)?;
        for c in Cause::ALL {
            m.serialize_entry(&format!("failed_{}", c.as_str()), &self.failed_cause(c))?;
        }
        m.serialize_entry("challenges", &self.challenges)?;
        m.serialize_entry("credential_attempts", &self.credential_attempts)?;
        for f in Finding::ALL {
            m.serialize_entry(f.as_str(), &self.finding(f))?;
        }
        m.serialize_entry("time_to_auth_p50_ms", &self.time_to_auth_p50_ms)?;
        m.serialize_entry("time_to_auth_p95_ms", &self.time_to_auth_p95_ms)?;
        m.serialize_entry("first_seen", &self.first_seen)?;
        m.serialize_entry("last_seen", &self.last_seen)?;
        match self.table {
            Table::Users => {
                m.serialize_entry("domain", &self.domain)?;
                m.serialize_entry("client_ips", &self.client_ips)?;
                m.serialize_entry("workstations", &self.workstations)?;
                m.serialize_entry("schemes", &self.schemes)?;
                m.serialize_entry("user_agents", &self.user_agents)?;
                m.serialize_entry("max_failures_10min", &self.max_failures_10min)?;
            }
            Table::Clients => m.serialize_entry("users", &self.users)?,
            Table::Proxies | Table::Targets => {
                m.serialize_entry("users", &self.users)?;
                m.serialize_entry("clients", &self.clients)?;
            }
        }
        m.end()
    }
}

/// A row of the `causes` table (`docs/verdicts.md` §6.3).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CauseRow {
    pub cause: Cause,
    pub episodes: u64,
    /// Distinct user keys (including [`UNKNOWN_USER`]) of the failed episodes.
    pub users: u64,
    pub clients: u64,
    pub remedy: &'static str,
}

/// A row of the `timeline` table (`docs/verdicts.md` §6.3): the episodes that started in one
/// minute.
#[derive(Clone, Debug, PartialEq)]
pub struct TimelineRow {
    pub minute: Ts,
    pub challenges: u64,
    pub authenticated: u64,
    pub failed: u64,
    /// In the order of [`Cause::ALL`]; columns `failed_<cause>`.
    pub failed_by_cause: [u64; N_CAUSES],
}

impl Serialize for TimelineRow {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("minute", &self.minute)?;
        m.serialize_entry("challenges", &self.challenges)?;
        m.serialize_entry("authenticated", &self.authenticated)?;
        m.serialize_entry("failed", &self.failed)?;
        for c in Cause::ALL {
            m.serialize_entry(
                &format!("failed_{}", c.as_str()),
                &self.failed_by_cause[cause_idx(c)],
            )?;
        }
        m.end()
    }
}

#[derive(Clone, Debug, Default)]
struct CauseAcc {
    episodes: u64,
    users: HashSet<String>,
    clients: HashSet<IpAddr>,
}

/// The aggregator. Feed it with [`Stats::add_episode`] (and [`Stats::add_transaction`]);
/// read it through the row, table and summary accessors.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    episodes: u64,
    authenticated: u64,
    failed: u64,
    unresolved: u64,
    challenges: u64,
    transactions: u64,
    causes: [CauseAcc; N_CAUSES],
    /// Episodes carrying each finding.
    finding_episodes: [u64; N_FINDINGS],
    /// Credentialed requests of the episodes carrying each finding (at least 1 each).
    finding_requests: [u64; N_FINDINGS],
    lockout_users: BTreeSet<String>,
    failed_users: HashSet<String>,
    failed_clients: HashSet<IpAddr>,
    schemes_offered: BTreeMap<String, u64>,
    schemes_used: BTreeMap<String, u64>,
    time_to_auth: Vec<f64>,
    tables: [HashMap<String, KeyAcc>; 4],
    timeline: BTreeMap<i64, TimelineRow>,
}

impl Stats {
    pub fn new() -> Self {
        Stats::default()
    }

    /// Everything of a finished run.
    pub(crate) fn from_parts(episodes: &[Episode], transactions: &[Transaction]) -> Self {
        let mut s = Stats::new();
        for e in episodes {
            s.add_episode(e);
        }
        for t in transactions {
            s.add_transaction(t);
        }
        s
    }

    pub fn add_episode(&mut self, e: &Episode) {
        let keys = EpisodeKeys::of(e);
        self.episodes += 1;
        self.challenges += u64::from(e.challenges);
        let minute = e.start_ts.0.div_euclid(MINUTE_US).saturating_mul(MINUTE_US);
        let tl = self.timeline.entry(minute).or_insert_with(|| TimelineRow {
            minute: Ts(minute),
            challenges: 0,
            authenticated: 0,
            failed: 0,
            failed_by_cause: [0; N_CAUSES],
        });
        tl.challenges += u64::from(e.challenges);
        match e.outcome {
            Outcome::Authenticated => {
                self.authenticated += 1;
                tl.authenticated += 1;
                if let Some(ms) = e.time_to_auth_ms.filter(|m| m.is_finite()) {
                    self.time_to_auth.push(ms);
                }
            }
            Outcome::Failed => {
                self.failed += 1;
                tl.failed += 1;
                insert_str(&mut self.failed_users, keys.user);
                self.failed_clients.insert(e.client_ip);
                if let Some(c) = e.cause {
                    tl.failed_by_cause[cause_idx(c)] += 1;
                    let acc = &mut self.causes[cause_idx(c)];
                    acc.episodes += 1;
                    insert_str(&mut acc.users, keys.user);
                    acc.clients.insert(e.client_ip);
                }
            }
            Outcome::Unresolved => self.unresolved += 1,
        }
        for f in distinct_findings(e) {
            self.finding_episodes[finding_idx(f)] += 1;
            self.finding_requests[finding_idx(f)] += u64::from(e.credential_attempts.max(1));
            if f == Finding::LockoutRisk {
                if let Some(u) = &e.user {
                    self.lockout_users.insert(u.clone());
                }
            }
        }
        let mut offered: Vec<&String> = e.offered_schemes.iter().collect();
        offered.sort();
        offered.dedup();
        for s in offered {
            count_str(&mut self.schemes_offered, s);
        }
        if let Some(s) = &e.scheme {
            count_str(&mut self.schemes_used, s);
        }
        for t in Table::ALL {
            let key = keys.key(t);
            let map = &mut self.tables[t.index()];
            if !map.contains_key(key) {
                map.insert(key.to_string(), KeyAcc::default());
            }
            if let Some(acc) = map.get_mut(key) {
                acc.add(t, e, &keys);
            }
        }
    }

    /// Transactions add the user agents they show to their user's row and are counted.
    pub fn add_transaction(&mut self, t: &Transaction) {
        self.transactions += 1;
        if let (Some(u), Some(ua)) = (&t.user, &t.user_agent) {
            if let Some(acc) = self.tables[Table::Users.index()].get_mut(u) {
                insert_capped(&mut acc.user_agents, ua);
            }
        }
    }

    pub fn totals(&self) -> EpisodeTotals {
        EpisodeTotals {
            total: self.episodes,
            authenticated: self.authenticated,
            failed: self.failed,
            unresolved: self.unresolved,
        }
    }

    /// Challenges (`407`s) counted over all episodes.
    pub fn challenges(&self) -> u64 {
        self.challenges
    }

    pub fn transactions(&self) -> u64 {
        self.transactions
    }

    /// Distinct named users with at least one failed episode.
    pub fn users_affected(&self) -> u64 {
        self.failed_users
            .iter()
            .filter(|u| u.as_str() != UNKNOWN_USER)
            .count() as u64
    }

    /// Whether some failed episode has no user name.
    pub fn unknown_user_failed(&self) -> bool {
        self.failed_users.contains(UNKNOWN_USER)
    }

    /// Distinct named users seen in any episode.
    pub(crate) fn users_seen(&self) -> u64 {
        self.tables[Table::Users.index()]
            .keys()
            .filter(|u| u.as_str() != UNKNOWN_USER)
            .count() as u64
    }

    pub fn clients_affected(&self) -> u64 {
        self.failed_clients.len() as u64
    }

    pub fn failed_by(&self, c: Cause) -> u64 {
        self.causes[cause_idx(c)].episodes
    }

    /// Users whose episodes carry `lockout_risk`, by name.
    pub fn lockout_users(&self) -> Vec<String> {
        self.lockout_users.iter().cloned().collect()
    }

    /// Episodes showing a finding.
    pub(crate) fn finding_episodes(&self, f: Finding) -> u64 {
        self.finding_episodes[finding_idx(f)]
    }

    /// The summary's count for a finding (see the module notes).
    pub(crate) fn finding_count(&self, f: Finding) -> u64 {
        match f {
            Finding::LockoutRisk => self.lockout_users.len() as u64,
            Finding::CaptureGap => self.finding_episodes[finding_idx(f)],
            _ => self.finding_requests[finding_idx(f)],
        }
    }

    pub(crate) fn schemes_offered(&self) -> &BTreeMap<String, u64> {
        &self.schemes_offered
    }

    pub(crate) fn schemes_used(&self) -> &BTreeMap<String, u64> {
        &self.schemes_used
    }

    pub(crate) fn time_to_auth(&self) -> TimeToAuth {
        let s = sorted_values(&self.time_to_auth);
        TimeToAuth {
            p50: percentile(&s, 50.0),
            p95: percentile(&s, 95.0),
            max: s.last().copied(),
        }
    }

    /// Authenticated episodes with a time to authenticate.
    pub(crate) fn time_to_auth_samples(&self) -> usize {
        self.time_to_auth.len()
    }

    /// One row.
    pub fn row(&self, table: Table, key: &str) -> Option<KeyRow> {
        self.tables[table.index()]
            .get(key)
            .map(|acc| acc.row(table, key))
    }

    /// Number of rows of a table.
    pub(crate) fn row_count(&self, table: Table) -> usize {
        self.tables[table.index()].len()
    }

    /// Every row of a table, sorted by failed desc, episodes desc, then key.
    pub fn rows(&self, table: Table) -> Vec<KeyRow> {
        self.top(table, usize::MAX)
    }

    /// The first `n` rows in the order of [`Stats::rows`]; only those rows are built.
    pub fn top(&self, table: Table, n: usize) -> Vec<KeyRow> {
        let mut keys: Vec<(&String, &KeyAcc)> = self.tables[table.index()].iter().collect();
        keys.sort_by(|(ka, a), (kb, b)| {
            b.failed
                .cmp(&a.failed)
                .then(b.episodes.cmp(&a.episodes))
                .then(ka.cmp(kb))
        });
        keys.into_iter()
            .take(n)
            .map(|(k, acc)| acc.row(table, k))
            .collect()
    }

    /// The `causes` table: one row per cause, in [`Cause::ALL`] order.
    pub fn causes(&self) -> Vec<CauseRow> {
        Cause::ALL
            .into_iter()
            .map(|c| {
                let acc = &self.causes[cause_idx(c)];
                CauseRow {
                    cause: c,
                    episodes: acc.episodes,
                    users: acc.users.len() as u64,
                    clients: acc.clients.len() as u64,
                    remedy: c.remedy(),
                }
            })
            .collect()
    }

    /// The `timeline` table, one row per minute that saw an episode start, in time order.
    pub fn timeline(&self) -> Vec<TimelineRow> {
        self.timeline.values().cloned().collect()
    }
}

/// `episodes` of the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EpisodeTotals {
    pub total: u64,
    pub authenticated: u64,
    pub failed: u64,
    pub unresolved: u64,
}

/// `time_to_auth_ms` of the summary; `null` when no episode authenticated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct TimeToAuth {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub max: Option<f64>,
}

/// `schemes` of the summary.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Schemes {
    pub offered: BTreeMap<String, u64>,
    pub used: BTreeMap<String, u64>,
}

/// `top` of the summary.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Top {
    pub users: Vec<KeyRow>,
    pub clients: Vec<KeyRow>,
    pub proxies: Vec<KeyRow>,
    pub targets: Vec<KeyRow>,
}

/// The JSON summary of `proxy407 analyze --json` (`docs/verdicts.md` §6.2), with the run's
/// `notices`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub capture: CaptureCounters,
    pub http: HttpCounters,
    pub episodes: EpisodeTotals,
    /// Every cause, in [`Cause::ALL`] order, 0 when none.
    pub causes: NamedCounts,
    /// Every finding, in [`Finding::ALL`] order, 0 when none.
    pub findings: NamedCounts,
    /// Every anomaly name, layer by layer, 0 when none.
    pub anomalies: Anomalies,
    pub schemes: Schemes,
    pub time_to_auth_ms: TimeToAuth,
    pub top: Top,
    /// Damage met while reading, and what was out of reach, one line each.
    pub notices: Vec<String>,
}

/// Name → count, serialized as a JSON object in the order of the model's enums
/// ([`Cause::ALL`], [`Finding::ALL`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamedCounts(pub Vec<(&'static str, u64)>);

impl NamedCounts {
    pub fn get(&self, k: &str) -> Option<u64> {
        self.0.iter().find(|(n, _)| *n == k).map(|(_, v)| *v)
    }
}

impl Serialize for NamedCounts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl Summary {
    /// The summary of aggregated records, the run's counters, anomalies and notices, with
    /// `top_n` rows in each top list.
    pub fn build(
        stats: &Stats,
        capture: &CaptureCounters,
        http: &HttpCounters,
        anomalies: &Anomalies,
        notices: &[Notice],
        top_n: usize,
    ) -> Summary {
        Summary {
            capture: capture.clone(),
            http: http.clone(),
            episodes: stats.totals(),
            causes: NamedCounts(
                Cause::ALL
                    .into_iter()
                    .map(|c| (c.as_str(), stats.failed_by(c)))
                    .collect(),
            ),
            findings: NamedCounts(
                Finding::ALL
                    .into_iter()
                    .map(|f| (f.as_str(), stats.finding_count(f)))
                    .collect(),
            ),
            anomalies: anomalies.clone(),
            schemes: Schemes {
                offered: stats.schemes_offered().clone(),
                used: stats.schemes_used().clone(),
            },
            time_to_auth_ms: stats.time_to_auth(),
            top: Top {
                users: stats.top(Table::Users, top_n),
                clients: stats.top(Table::Clients, top_n),
                proxies: stats.top(Table::Proxies, top_n),
                targets: stats.top(Table::Targets, top_n),
            },
            notices: notices.iter().map(|n| n.to_string()).collect(),
        }
    }

    /// Aggregates a run's output and summarizes it.
    pub fn from_output(out: &EngineOutput, top_n: usize) -> (Stats, Summary) {
        let stats = Stats::from_parts(&out.analysis.episodes, &out.analysis.transactions);
        let summary = Summary::build(
            &stats,
            &out.capture,
            &out.http,
            &out.anomalies,
            &out.notices,
            top_n,
        );
        (stats, summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_indices_follow_all() {
        for (i, c) in Cause::ALL.into_iter().enumerate() {
            assert_eq!(cause_idx(c), i);
        }
        for (i, f) in Finding::ALL.into_iter().enumerate() {
            assert_eq!(finding_idx(f), i);
        }
        for (i, t) in Table::ALL.into_iter().enumerate() {
            assert_eq!(t.index(), i);
        }
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(10.0));
        assert_eq!(percentile(&v, 95.0), Some(19.0));
        assert_eq!(percentile(&v, 100.0), Some(20.0));
        assert_eq!(percentile(&[7.0], 50.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(sorted_values(&[3.0, f64::NAN, 1.0]), vec![1.0, 3.0]);
    }

    #[test]
    fn sliding_window_counts() {
        let m = |mins: &[i64]| -> Vec<Ts> { mins.iter().map(|m| Ts(m * 60_000_000)).collect() };
        assert_eq!(max_in_window(&[], TEN_MINUTES_US), 0);
        // 0, 5, 9 fit; 10 is exactly ten minutes after 0, so 5, 9, 10, 14 fit.
        assert_eq!(max_in_window(&m(&[0, 5, 9, 10, 14, 30]), TEN_MINUTES_US), 4);
        assert_eq!(max_in_window(&m(&[30, 0, 20, 10]), TEN_MINUTES_US), 1);
    }

    #[test]
    fn ip_text_is_display() {
        for ip in [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.1.200",
            "192.168.100.9",
            "::1",
            "fe80::1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_text(ip), ip.to_string());
            for port in [0u16, 7, 3128, 65535] {
                assert_eq!(
                    proxy_key(ip, port),
                    std::net::SocketAddr::new(ip, port).to_string()
                );
            }
        }
    }

    #[test]
    fn proxy_keys() {
        assert_eq!(
            proxy_key("10.0.0.1".parse().unwrap(), 3128),
            "10.0.0.1:3128"
        );
        assert_eq!(
            proxy_key("2001:db8::1".parse().unwrap(), 8080),
            "[2001:db8::1]:8080"
        );
    }
}
