//! The one aggregator: every number the terminal report, the JSON summary
//! (`docs/verdicts.md` §6.2), the live dashboard and the per-key tables (§6.3) show comes
//! from a [`Stats`] fed with [`Episode`]s and [`Transaction`]s (all of them when kept, else
//! those showing a request finding) one at a time,
//! as they are judged. Updates are cheap (hash maps keyed by user, client, proxy and target),
//! the state is bounded ([`StatsLimits`]) and two `Stats` merge ([`Stats::merge`]) into the
//! `Stats` of both inputs, whatever the order the records came in.
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
//! - **Percentiles.** Nearest rank over the values of `time_to_auth_ms` of the authenticated
//!   episodes (`p` → the `ceil(p/100·n)`-th smallest value) while a key has at most
//!   [`bounded::EXACT_SAMPLES`] of them; beyond, a DDSketch whose answer is within 1 % (the
//!   summary) or 5 % (a table row) of the value of that rank. `max` is exact.
//! - **Bounds.** At most [`StatsLimits::max_keys`] rows per table: the episodes of later keys
//!   are counted in one row [`OTHER_KEY`]. Distinct counts (users and clients per cause, users
//!   and clients affected, lockout users) are exact up to [`StatsLimits::max_distinct`]. List
//!   columns keep at most [`MAX_LIST`] values. The timeline keeps the latest
//!   [`StatsLimits::max_keys`] minutes.
//! - **Findings in per-key rows**: a request finding (`Finding::is_request`:
//!   `cleartext_basic`, `ntlmv1`, `stale_nonce`, `oversized_token`) counts the key's requests
//!   that show it, challenged or not (from the transactions, keyed by the request's own user
//!   name, client, proxy and site); a key seen only in such requests has a row with 0
//!   episodes. Every other finding counts the key's episodes that carry it.
//! - **Details per cause** ([`Stats::cause_details`]): the words of the failed episodes'
//!   `detail` (each part's name before `=`; a Kerberos error with its name,
//!   `krb_error-KDC_ERR_PREAUTH_FAILED`), counted per cause, at most 32 words, and the service
//!   names of `spn=` (at most 8 per cause, [`Stats::cause_spns`]); the report
//!   adds the remedies the catalogue has for some of them.
//! - **Findings in the summary** (`findings`, `docs/verdicts.md` §5.1):
//!   `lockout_risk` counts distinct named users with a flagged episode; `capture_gap` counts
//!   episodes; a request finding counts the requests that show it, in episodes or not;
//!   `ntlm_fallback` and `domain_mismatch` count the credentialed requests of the episodes
//!   that carry them (`credential_attempts`, at least 1 per episode).
//! - **Schemes.** `offered` counts episodes whose challenges offered a scheme (each scheme
//!   once per episode); `used` counts episodes by the scheme the client answered with.
//! - `max_failures_10min`: the most failed episodes of a user whose start times fit in a
//!   window of 10 minutes (`t_last − t_first < 10 min`); see [`bounded::FailureTimes`].
//! - **Transactions** add the user agents they show to their user's row, whichever comes
//!   first: they are kept per user (bounded) and joined when the row is read.

use crate::anomaly::Anomalies;
use crate::model::{
    CaptureCounters, Cause, EngineOutput, Episode, Finding, Flood, HttpCounters, Notice, Outcome,
    Records, Transaction, Ts,
};
use bounded::{CappedSet, FailureTimes, Samples};
use foldhash::HashMap;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

pub mod bounded;

pub use bounded::percentile;

/// The user key of episodes without a user name, in every view and table.
pub const UNKNOWN_USER: &str = "(unknown)";
/// The key of the row that counts the episodes of keys beyond [`StatsLimits::max_keys`].
pub const OTHER_KEY: &str = "(other)";
/// Most scheme names counted (names come from the wire); the rest count as [`OTHER_KEY`].
const MAX_SCHEMES: usize = 64;

/// The bounds of one [`Stats`] (`--max-keys`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatsLimits {
    /// Rows per per-key table, minutes of the timeline.
    pub max_keys: usize,
    /// Values of each distinct count.
    pub max_distinct: usize,
}

impl Default for StatsLimits {
    fn default() -> Self {
        StatsLimits {
            max_keys: 100_000,
            max_distinct: 100_000,
        }
    }
}

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
    time_to_auth: Samples,
    first_seen: Option<Ts>,
    last_seen: Option<Ts>,
    // users table
    domains: BTreeMap<String, u64>,
    client_ips: BTreeSet<String>,
    workstations: BTreeSet<String>,
    schemes: BTreeSet<String>,
    user_agents: BTreeSet<String>,
    failure_times: FailureTimes,
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

fn union_capped(set: &mut BTreeSet<String>, other: &BTreeSet<String>) {
    for v in other {
        insert_capped(set, v);
    }
}

fn min_ts(a: Option<Ts>, b: Option<Ts>) -> Option<Ts> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

fn max_ts(a: Option<Ts>, b: Option<Ts>) -> Option<Ts> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

fn add_arrays<const N: usize>(a: &mut [u64; N], b: &[u64; N]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

impl KeyAcc {
    fn add(&mut self, table: Table, e: &Episode, keys: &EpisodeKeys<'_>) {
        self.episodes += 1;
        match e.outcome {
            Outcome::Authenticated => {
                self.authenticated += 1;
                if let Some(ms) = e.time_to_auth_ms {
                    self.time_to_auth.add(ms);
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
        for f in distinct_findings(e).filter(|f| !f.is_request()) {
            self.findings[finding_idx(f)] += 1;
        }
        self.first_seen = min_ts(self.first_seen, Some(e.start_ts));
        self.last_seen = max_ts(self.last_seen, Some(e.end_ts.max(e.start_ts)));
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
                    self.failure_times.add(e.start_ts, TEN_MINUTES_US);
                }
            }
            Table::Clients => insert_capped(&mut self.users, keys.user),
            Table::Proxies | Table::Targets => {
                insert_capped(&mut self.users, keys.user);
                insert_capped(&mut self.clients, &keys.client);
            }
        }
    }

    /// Adds another key's counts (the `(other)` row, or the same key of another `Stats`).
    fn merge(&mut self, o: &KeyAcc) {
        self.episodes += o.episodes;
        self.authenticated += o.authenticated;
        self.failed += o.failed;
        self.unresolved += o.unresolved;
        add_arrays(&mut self.failed_by_cause, &o.failed_by_cause);
        self.challenges += o.challenges;
        self.credential_attempts += o.credential_attempts;
        add_arrays(&mut self.findings, &o.findings);
        self.time_to_auth.merge(&o.time_to_auth);
        self.first_seen = min_ts(self.first_seen, o.first_seen);
        self.last_seen = max_ts(self.last_seen, o.last_seen);
        for (d, n) in &o.domains {
            if self.domains.len() < MAX_LIST || self.domains.contains_key(d) {
                *self.domains.entry(d.clone()).or_insert(0) += n;
            }
        }
        union_capped(&mut self.client_ips, &o.client_ips);
        union_capped(&mut self.workstations, &o.workstations);
        union_capped(&mut self.schemes, &o.schemes);
        union_capped(&mut self.user_agents, &o.user_agents);
        self.failure_times.merge(&o.failure_times, TEN_MINUTES_US);
        union_capped(&mut self.users, &o.users);
        union_capped(&mut self.clients, &o.clients);
    }

    /// The row; `tx_agents`: the user agents transactions showed for this key (users).
    fn row(&self, table: Table, key: &str, tx_agents: Option<&BTreeSet<String>>) -> KeyRow {
        // The most frequent domain; ties go to the first by name.
        let mut domain: Option<(&String, u64)> = None;
        for (d, n) in &self.domains {
            if domain.is_none_or(|(_, m)| *n > m) {
                domain = Some((d, *n));
            }
        }
        let mut user_agents = self.user_agents.clone();
        if let Some(t) = tx_agents {
            union_capped(&mut user_agents, t);
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
            time_to_auth_p50_ms: self.time_to_auth.percentile(50.0),
            time_to_auth_p95_ms: self.time_to_auth.percentile(95.0),
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            domain: domain.map(|(d, _)| d.clone()),
            client_ips: self.client_ips.iter().cloned().collect(),
            workstations: self.workstations.iter().cloned().collect(),
            schemes: self.schemes.iter().cloned().collect(),
            user_agents: user_agents.into_iter().collect(),
            max_failures_10min: self.failure_times.max_in_window(TEN_MINUTES_US),
            users: self.users.iter().cloned().collect(),
            clients: self.clients.iter().cloned().collect(),
        }
    }
}

/// The rows of one table: at most `max_keys` keys, the episodes of the rest in `other`.
#[derive(Clone, Debug, Default)]
struct KeyTable {
    /// Boxed: a row is large, and a map that grows (or has room to spare) holds pointers.
    keys: HashMap<String, Box<KeyAcc>>,
    other: Option<KeyAcc>,
}

impl KeyTable {
    /// The accumulator of `key`: its own while there is room, else the `(other)` row.
    fn acc(&mut self, key: &str, max_keys: usize) -> &mut KeyAcc {
        if !self.keys.contains_key(key) && self.keys.len() < max_keys && key != OTHER_KEY {
            self.keys.insert(key.to_string(), Box::default());
        }
        match self.keys.get_mut(key) {
            Some(acc) => acc,
            None => self.other.get_or_insert_with(KeyAcc::default),
        }
    }

    /// Merges `o`'s rows; returns the episodes of its keys that found no room (now in
    /// `(other)`).
    fn merge(&mut self, o: &KeyTable, max_keys: usize) -> u64 {
        let mut folded = 0;
        for (k, acc) in &o.keys {
            if !self.keys.contains_key(k) && self.keys.len() >= max_keys {
                folded += acc.episodes;
            }
            self.acc(k, max_keys).merge(acc);
        }
        if let Some(acc) = &o.other {
            self.other.get_or_insert_with(KeyAcc::default).merge(acc);
        }
        folded
    }

    fn len(&self) -> usize {
        self.keys.len() + usize::from(self.other.is_some())
    }

    fn get(&self, key: &str) -> Option<&KeyAcc> {
        if key == OTHER_KEY {
            self.other.as_ref()
        } else {
            self.keys.get(key).map(|a| &**a)
        }
    }

    fn iter(&self) -> impl Iterator<Item = (&str, &KeyAcc)> {
        self.keys
            .iter()
            .map(|(k, a)| (k.as_str(), &**a))
            .chain(self.other.iter().map(|a| (OTHER_KEY, a)))
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
    users: CappedSet<String>,
    clients: CappedSet<IpAddr>,
    /// The words of the episodes' `detail` (each part's name before `=`:
    /// `new_challenge_after_type3`, `rounds`, `krb_error`...), counted; at most
    /// [`DETAIL_WORDS`] different ones.
    details: BTreeMap<String, u64>,
    /// The service names of `spn=` in the details (an unknown service principal the KDC
    /// named), at most [`DETAIL_NAMES`].
    spns: BTreeSet<String>,
}

/// Service names kept per cause, at most.
const DETAIL_NAMES: usize = 8;

/// The word of one part of a `detail`: its name before `=`, except that a Kerberos error
/// keeps its name (`krb_error-KDC_ERR_PREAUTH_FAILED`), each having a remedy of its own.
fn detail_word(part: &str) -> String {
    let (name, value) = part.split_once('=').unwrap_or((part, ""));
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if name == "krb_error" && !value.is_empty() && value.chars().all(plain) {
        format!("krb_error-{value}")
    } else {
        name.to_string()
    }
}

/// Different detail words counted per cause, at most.
const DETAIL_WORDS: usize = 32;

impl CauseAcc {
    fn count_detail(&mut self, word: &str, n: u64) {
        if let Some(c) = self.details.get_mut(word) {
            *c += n;
        } else if self.details.len() < DETAIL_WORDS {
            self.details.insert(word.to_string(), n);
        }
    }

    fn note_spn(&mut self, name: &str) {
        if self.spns.len() < DETAIL_NAMES || self.spns.contains(name) {
            self.spns.insert(name.to_string());
        }
    }
}

/// The aggregator. Feed it with [`Stats::add_episode`] (and [`Stats::add_transaction`]),
/// merge two with [`Stats::merge`]; read it through the row, table and summary accessors.
#[derive(Clone, Debug)]
pub struct Stats {
    limits: StatsLimits,
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
    lockout_users: CappedSet<String>,
    failed_users: CappedSet<String>,
    failed_clients: CappedSet<IpAddr>,
    schemes_offered: BTreeMap<String, u64>,
    schemes_used: BTreeMap<String, u64>,
    time_to_auth: Samples,
    tables: [KeyTable; 4],
    /// User agents of transactions, per user (joined to the user's row when read).
    tx_user_agents: HashMap<String, BTreeSet<String>>,
    timeline: BTreeMap<i64, TimelineRow>,
    /// Episodes counted in an `(other)` row, per table.
    folded: [u64; 4],
}

/// Counts one scheme name, the names beyond [`MAX_SCHEMES`] as [`OTHER_KEY`].
fn count_scheme(map: &mut BTreeMap<String, u64>, s: &str, n: u64) {
    let key = if map.contains_key(s) || map.len() < MAX_SCHEMES {
        s
    } else {
        OTHER_KEY
    };
    match map.get_mut(key) {
        Some(c) => *c += n,
        None => {
            map.insert(key.to_string(), n);
        }
    }
}

impl Default for Stats {
    fn default() -> Self {
        Stats::with_limits(StatsLimits::default())
    }
}

impl Stats {
    pub fn new() -> Self {
        Stats::default()
    }

    pub fn with_limits(limits: StatsLimits) -> Self {
        Stats {
            limits,
            episodes: 0,
            authenticated: 0,
            failed: 0,
            unresolved: 0,
            challenges: 0,
            transactions: 0,
            causes: Default::default(),
            finding_episodes: [0; N_FINDINGS],
            finding_requests: [0; N_FINDINGS],
            lockout_users: CappedSet::default(),
            failed_users: CappedSet::default(),
            failed_clients: CappedSet::default(),
            schemes_offered: BTreeMap::new(),
            schemes_used: BTreeMap::new(),
            time_to_auth: Samples::fine(),
            tables: Default::default(),
            tx_user_agents: HashMap::default(),
            timeline: BTreeMap::new(),
            folded: [0; 4],
        }
    }

    pub fn limits(&self) -> StatsLimits {
        self.limits
    }

    /// The aggregate of these episodes.
    pub fn from_episodes(episodes: &[Episode]) -> Self {
        Stats::from_parts(episodes, &[])
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

    fn timeline_row(&mut self, minute: i64) -> Option<&mut TimelineRow> {
        if !self.timeline.contains_key(&minute) {
            if self.timeline.len() >= self.limits.max_keys.max(1) {
                // The oldest minute makes room, unless the new one is older still.
                match self.timeline.keys().next() {
                    Some(&first) if first < minute => {
                        self.timeline.remove(&first);
                    }
                    _ => return None,
                }
            }
            self.timeline.insert(
                minute,
                TimelineRow {
                    minute: Ts(minute),
                    challenges: 0,
                    authenticated: 0,
                    failed: 0,
                    failed_by_cause: [0; N_CAUSES],
                },
            );
        }
        self.timeline.get_mut(&minute)
    }

    pub fn add_episode(&mut self, e: &Episode) {
        let keys = EpisodeKeys::of(e);
        let cap = self.limits.max_distinct;
        self.episodes += 1;
        self.challenges += u64::from(e.challenges);
        let minute = e.start_ts.0.div_euclid(MINUTE_US).saturating_mul(MINUTE_US);
        if let Some(tl) = self.timeline_row(minute) {
            tl.challenges += u64::from(e.challenges);
            match e.outcome {
                Outcome::Authenticated => tl.authenticated += 1,
                Outcome::Failed => {
                    tl.failed += 1;
                    if let Some(c) = e.cause {
                        tl.failed_by_cause[cause_idx(c)] += 1;
                    }
                }
                Outcome::Unresolved => {}
            }
        }
        match e.outcome {
            Outcome::Authenticated => {
                self.authenticated += 1;
                if let Some(ms) = e.time_to_auth_ms {
                    self.time_to_auth.add(ms);
                }
            }
            Outcome::Failed => {
                self.failed += 1;
                self.failed_users.insert_str(keys.user, cap);
                self.failed_clients.insert_with(e.client_ip, cap);
                if let Some(c) = e.cause {
                    let acc = &mut self.causes[cause_idx(c)];
                    acc.episodes += 1;
                    acc.users.insert_str(keys.user, cap);
                    acc.clients.insert_with(e.client_ip, cap);
                    for part in e.detail.as_deref().unwrap_or_default().split_whitespace() {
                        acc.count_detail(&detail_word(part), 1);
                        if let Some(spn) = part.strip_prefix("spn=") {
                            acc.note_spn(spn);
                        }
                    }
                }
            }
            Outcome::Unresolved => self.unresolved += 1,
        }
        for f in distinct_findings(e) {
            self.finding_episodes[finding_idx(f)] += 1;
            if !f.is_request() {
                self.finding_requests[finding_idx(f)] += u64::from(e.credential_attempts.max(1));
            }
            if f == Finding::LockoutRisk {
                if let Some(u) = &e.user {
                    self.lockout_users.insert_str(u, cap);
                }
            }
        }
        let mut offered: Vec<&String> = e.offered_schemes.iter().collect();
        offered.sort();
        offered.dedup();
        for s in offered {
            count_scheme(&mut self.schemes_offered, s, 1);
        }
        if let Some(s) = &e.scheme {
            count_scheme(&mut self.schemes_used, s, 1);
        }
        let max_keys = self.limits.max_keys;
        for t in Table::ALL {
            let key = keys.key(t);
            let table = &mut self.tables[t.index()];
            if table.get(key).is_none() && table.keys.len() >= max_keys {
                self.folded[t.index()] += 1;
            }
            table.acc(key, max_keys).add(t, e, &keys);
        }
    }

    /// Transactions add the user agents they show to their user's row, their request
    /// findings to the summary and to the rows of their user (its own name, else
    /// [`UNKNOWN_USER`]), client, proxy and site, and are counted.
    pub fn add_transaction(&mut self, t: &Transaction) {
        self.transactions += 1;
        let mut findings = t.findings.iter().filter(|f| f.is_request()).peekable();
        if findings.peek().is_some() {
            let user = t.user.as_deref().unwrap_or(UNKNOWN_USER);
            let client = ip_text(t.client_ip);
            let proxy = proxy_key(t.proxy_ip, t.proxy_port);
            let site = t.site();
            let max_keys = self.limits.max_keys;
            for &f in findings {
                self.finding_requests[finding_idx(f)] += 1;
                for (table, key) in [
                    (Table::Users, user),
                    (Table::Clients, client.as_str()),
                    (Table::Proxies, proxy.as_str()),
                    (Table::Targets, site.as_str()),
                ] {
                    self.tables[table.index()].acc(key, max_keys).findings[finding_idx(f)] += 1;
                }
            }
        }
        if let (Some(u), Some(ua)) = (&t.user, &t.user_agent) {
            let room = self.tx_user_agents.len() < self.limits.max_keys;
            match self.tx_user_agents.get_mut(u) {
                Some(set) => insert_capped(set, ua),
                None if room => {
                    let mut set = BTreeSet::new();
                    set.insert(ua.clone());
                    self.tx_user_agents.insert(u.clone(), set);
                }
                None => {}
            }
        }
    }

    /// Adds everything `o` counted: the result is the `Stats` of both inputs (within the
    /// bounds of `self`'s limits).
    pub fn merge(&mut self, o: &Stats) {
        let cap = self.limits.max_distinct;
        self.episodes += o.episodes;
        self.authenticated += o.authenticated;
        self.failed += o.failed;
        self.unresolved += o.unresolved;
        self.challenges += o.challenges;
        self.transactions += o.transactions;
        for (a, b) in self.causes.iter_mut().zip(&o.causes) {
            a.episodes += b.episodes;
            a.users.merge(&b.users, cap);
            a.clients.merge(&b.clients, cap);
            for (w, n) in &b.details {
                a.count_detail(w, *n);
            }
            for spn in &b.spns {
                a.note_spn(spn);
            }
        }
        add_arrays(&mut self.finding_episodes, &o.finding_episodes);
        add_arrays(&mut self.finding_requests, &o.finding_requests);
        self.lockout_users.merge(&o.lockout_users, cap);
        self.failed_users.merge(&o.failed_users, cap);
        self.failed_clients.merge(&o.failed_clients, cap);
        for (s, n) in &o.schemes_offered {
            count_scheme(&mut self.schemes_offered, s, *n);
        }
        for (s, n) in &o.schemes_used {
            count_scheme(&mut self.schemes_used, s, *n);
        }
        self.time_to_auth.merge(&o.time_to_auth);
        let max_keys = self.limits.max_keys;
        for t in Table::ALL {
            let i = t.index();
            let folded = self.tables[i].merge(&o.tables[i], max_keys);
            self.folded[i] += o.folded[i] + folded;
        }
        for (u, set) in &o.tx_user_agents {
            let room = self.tx_user_agents.len() < max_keys;
            match self.tx_user_agents.get_mut(u) {
                Some(mine) => union_capped(mine, set),
                None if room => {
                    self.tx_user_agents.insert(u.clone(), set.clone());
                }
                None => {}
            }
        }
        for row in o.timeline.values() {
            if let Some(tl) = self.timeline_row(row.minute.0) {
                tl.challenges += row.challenges;
                tl.authenticated += row.authenticated;
                tl.failed += row.failed;
                add_arrays(&mut tl.failed_by_cause, &row.failed_by_cause);
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
            .len()
            .saturating_sub(u64::from(self.unknown_user_failed()))
    }

    /// Whether some failed episode has no user name.
    pub fn unknown_user_failed(&self) -> bool {
        self.failed_users.contains(&UNKNOWN_USER.to_string())
    }

    /// Distinct named users seen in any episode (up to the key limit).
    pub(crate) fn users_seen(&self) -> u64 {
        self.tables[Table::Users.index()]
            .keys
            .keys()
            .filter(|u| u.as_str() != UNKNOWN_USER)
            .count() as u64
    }

    pub fn clients_affected(&self) -> u64 {
        self.failed_clients.len()
    }

    pub fn failed_by(&self, c: Cause) -> u64 {
        self.causes[cause_idx(c)].episodes
    }

    /// Users whose episodes carry `lockout_risk`, by name.
    pub fn lockout_users(&self) -> Vec<String> {
        let mut v: Vec<String> = self.lockout_users.iter().cloned().collect();
        v.sort();
        v
    }

    /// Episodes showing a finding.
    pub(crate) fn finding_episodes(&self, f: Finding) -> u64 {
        self.finding_episodes[finding_idx(f)]
    }

    /// The summary's count for a finding (see the module notes).
    pub(crate) fn finding_count(&self, f: Finding) -> u64 {
        match f {
            Finding::LockoutRisk => self.lockout_users.len(),
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
        TimeToAuth {
            p50: self.time_to_auth.percentile(50.0),
            p95: self.time_to_auth.percentile(95.0),
            max: self.time_to_auth.max(),
        }
    }

    /// A percentile (0–100) of the time to authenticate, in ms (the HTML report's curve).
    pub(crate) fn time_to_auth_percentile(&self, p: f64) -> Option<f64> {
        self.time_to_auth.percentile(p)
    }

    /// Authenticated episodes with a time to authenticate.
    pub(crate) fn time_to_auth_samples(&self) -> u64 {
        self.time_to_auth.count()
    }

    /// Episodes counted in the `(other)` row of a table (their keys were beyond the limit).
    pub fn folded(&self, table: Table) -> u64 {
        self.folded[table.index()]
    }

    fn key_row(&self, table: Table, key: &str, acc: &KeyAcc) -> KeyRow {
        let agents = match table {
            Table::Users => self.tx_user_agents.get(key),
            _ => None,
        };
        acc.row(table, key, agents)
    }

    /// One row.
    pub fn row(&self, table: Table, key: &str) -> Option<KeyRow> {
        self.tables[table.index()]
            .get(key)
            .map(|acc| self.key_row(table, key, acc))
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
        let mut keys: Vec<(&str, &KeyAcc)> = self.tables[table.index()].iter().collect();
        keys.sort_by(|(ka, a), (kb, b)| {
            b.failed
                .cmp(&a.failed)
                .then(b.episodes.cmp(&a.episodes))
                .then(ka.cmp(kb))
        });
        keys.into_iter()
            .take(n)
            .map(|(k, acc)| self.key_row(table, k, acc))
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
                    users: acc.users.len(),
                    clients: acc.clients.len(),
                    remedy: c.remedy(),
                }
            })
            .collect()
    }

    /// The words of the `detail` of a cause's episodes with how many episodes show each
    /// (`new_challenge_after_type3`, `rounds`, ...), in name order.
    pub fn cause_details(&self, c: Cause) -> Vec<(String, u64)> {
        self.causes[cause_idx(c)]
            .details
            .iter()
            .map(|(w, n)| (w.clone(), *n))
            .collect()
    }

    /// The service names (`spn=` of the details) of a cause's episodes, sorted, at most 8.
    pub fn cause_spns(&self, c: Cause) -> Vec<String> {
        self.causes[cause_idx(c)].spns.iter().cloned().collect()
    }

    /// The `timeline` table, one row per minute that saw an episode start, in time order.
    pub fn timeline(&self) -> Vec<TimelineRow> {
        self.timeline.values().cloned().collect()
    }
}

/// The aggregate as a sink of records: every command that aggregates feeds it this way.
impl Records for Stats {
    fn episode(&mut self, e: Episode) {
        self.add_episode(&e);
    }
    fn transaction(&mut self, t: Transaction) {
        self.add_transaction(&t);
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
    /// Connection floods and scans, per proxy (`docs/verdicts.md` §3.11).
    pub floods: Vec<Flood>,
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
        floods: &[Flood],
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
            floods: floods.to_vec(),
            notices: notices.iter().map(|n| n.to_string()).collect(),
        }
    }

    /// The summary of a run's counters and the aggregate of its records.
    pub fn of_run(stats: &Stats, out: &EngineOutput, top_n: usize) -> Summary {
        Summary::build(
            stats,
            &out.capture,
            &out.http,
            &out.anomalies,
            &out.floods,
            &out.notices,
            top_n,
        )
    }

    /// Aggregates a run's output and summarizes it.
    pub fn from_output(out: &EngineOutput, top_n: usize) -> (Stats, Summary) {
        let stats = Stats::from_parts(&out.analysis.episodes, &out.analysis.transactions);
        let summary = Summary::of_run(&stats, out, top_n);
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
