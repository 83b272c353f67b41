//! From exchanges on proxy connections to episodes and verdicts (SPEC §4–§5): chaining of
//! transactions into episodes (same connection, new connections within the retry window),
//! the verdict and its one cause, findings, user attribution, lockout risk and time to
//! authenticate. State lives per connection and per client, is bounded, and expires in
//! packet time.

pub mod attribution;
pub mod episode;
pub mod verdict;

use crate::auth::{Challenge, Credentials};
use crate::http::Unanswered;
use crate::model::{Episode, Side, Transaction, Ts};
use std::net::IpAddr;

/// The connection an exchange happened on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnRef {
    pub conn_id: u64,
    pub community_id: String,
    pub client_ip: IpAddr,
    pub client_port: u16,
    pub proxy_ip: IpAddr,
    pub proxy_port: u16,
}

/// One request on a proxy connection, with its response or the reason it has none; the
/// credentials and challenges are already parsed (no secret left).
#[derive(Clone, Debug, PartialEq)]
pub struct Exchange {
    pub conn: ConnRef,
    pub req_ts: Ts,
    pub method: String,
    pub target: String,
    pub user_agent: Option<String>,
    pub credentials: Option<Credentials>,
    pub resp_ts: Option<Ts>,
    pub status: Option<u16>,
    /// From `Proxy-Authenticate`.
    pub challenges: Vec<Challenge>,
    /// From `WWW-Authenticate` (a proxy answering a wrong password with `401`).
    pub www_challenges: Vec<Challenge>,
    /// The response said `Connection: close`.
    pub response_close: bool,
    /// Set when there is no response.
    pub unanswered: Option<Unanswered>,
    /// The pairing crossed a capture gap.
    pub after_gap: bool,
}

/// What the analysis is fed, in packet-time order.
#[derive(Clone, Debug, PartialEq)]
pub enum AnalysisEvent {
    Exchange(Box<Exchange>),
    /// A proxy connection was closed (FIN) or reset by one side.
    ConnClosed {
        conn_id: u64,
        ts: Ts,
        by: Side,
        reset: bool,
    },
    /// Bytes missing from one side of a proxy connection.
    Gap {
        conn_id: u64,
        ts: Ts,
        side: Side,
        bytes: u64,
    },
    /// A connection attempt to a proxy port got no SYN-ACK, or a RST.
    AttemptFailed {
        ts: Ts,
        client_ip: IpAddr,
        proxy_ip: IpAddr,
        proxy_port: u16,
        reset: bool,
    },
}

/// Settings of the analysis (SPEC §4–§5 defaults).
#[derive(Clone, Debug)]
pub struct AnalysisConfig {
    pub retry_window_us: i64,
    pub lockout_threshold: u32,
    pub lockout_window_us: i64,
    /// Keep every transaction (for export); the report needs only counts.
    pub keep_transactions: bool,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        AnalysisConfig {
            retry_window_us: 30_000_000,
            lockout_threshold: 5,
            lockout_window_us: 600_000_000,
            keep_transactions: true,
        }
    }
}

/// Episodes and transactions.
#[derive(Clone, Debug, Default)]
pub struct AnalysisOutput {
    pub episodes: Vec<Episode>,
    pub transactions: Vec<Transaction>,
}

/// The episode engine (stub).
pub struct Analyzer {
    cfg: AnalysisConfig,
    out: AnalysisOutput,
}

impl Analyzer {
    pub fn new(cfg: AnalysisConfig) -> Self {
        Analyzer {
            cfg,
            out: AnalysisOutput::default(),
        }
    }
    pub fn on_event(&mut self, ev: AnalysisEvent) {
        let _ = (ev, &self.cfg);
    }
    /// Packet time moved on: episodes whose retry window passed get their verdict.
    pub fn advance(&mut self, now: Ts) {
        let _ = now;
    }
    /// Episodes judged since the last call (for live views).
    pub fn take_finished(&mut self) -> Vec<Episode> {
        Vec::new()
    }
    /// End of capture: every open episode is judged; attribution and lockout risk are
    /// applied over the whole capture.
    pub fn finish(self) -> AnalysisOutput {
        self.out
    }
}
