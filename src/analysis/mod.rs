//! From exchanges on proxy connections to episodes and verdicts (`docs/verdicts.md` §3–§5):
//! chaining of transactions into episodes (same connection, new connections within the retry
//! window), the verdict and its one cause, findings, user attribution, lockout risk and time to
//! authenticate. State lives per connection and per client, is bounded, and expires in packet time.
//!
//! How the rules of `docs/verdicts.md` §3–§5 are applied here (the document says the same for
//! readers of the outputs):
//! - §3.1: the episode key's target is `host:port` for `CONNECT` and the URL's authority for
//!   absolute-form requests (see [`episode::target_key`]), so retries of different URLs on one site
//!   chain. `start_ts` is the request time of the first challenged request; `end_ts` the latest
//!   event; `final_status` the last response status seen in the episode.
//! - §3.4: a request on a new connection joins an open episode of its key only with credentials,
//!   sent at or after the episode's latest `407` and within the retry window of its latest event,
//!   naming the same user where both are known; the most recent such episode wins.
//! - §3.5: a `401` whose `WWW-Authenticate` repeats a scheme the proxy offered, in answer to final
//!   credentials, is a rejection like a `407`: the episode stays open for the client's next try.
//!   Any other non-407 response ends the episode: `400`/`403`/`431` as a refusal, the rest as a
//!   success.
//! - §3.6, §3.7: a request is known when it is sent ([`AnalysisEvent::Sent`]: on a connection of an
//!   open episode, or with credentials that join one) and again when it is answered or known
//!   unanswered. Its sending is an event of the episode (the retry window runs from it); when the
//!   window passes with it still pending (the copy kept of each request sent that matters,
//!   until its exchange or [`AnalysisEvent::Forget`] comes), it is applied as unanswered and
//!   the episode is judged
//!   `no_response` (its late exchange is then only recorded as a transaction of that episode). At
//!   the end of the capture a request still unanswered makes it `unresolved`.
//! - §4.2: a capture gap is decisive (unresolved) when it touches the latest exchange of the
//!   episode (`after_gap`, `Unanswered::Gap`) or a `Gap` event arrives on one of its connections
//!   after it; otherwise it only adds the finding `capture_gap`.
//! - §5.1: findings from credentials (`cleartext_basic`, `ntlm_fallback`, `ntlmv1`,
//!   `oversized_token`) are raised on the episode of the request that shows them; the request
//!   findings (`cleartext_basic`, `ntlmv1`, `stale_nonce`, `oversized_token`) also on its
//!   transaction, challenged or not, which is handed on even when transactions are not kept.
//! - §2.3, §5.2, §3.10: lockout risk and attribution reach back into episodes already judged,
//!   so a judged episode *settles* for `settle_us` of packet time (by default the lockout
//!   window, counted from its verdict) before it is handed on, attributed again with what is
//!   known then; at the end of the capture every episode settles. One nothing later can
//!   change (named by its own credentials or ticket, no rejection, not Negotiate) is handed
//!   on at its verdict. Judged records leave through [`Analyzer::drain`]: nothing judged
//!   stays once it is final.
//! - §4.12: the KDC's answers to a client address ([`kdc`]) are joined to its Negotiate episodes
//!   from the retry window before their start to the retry window after their end, when judged
//!   and again when settled: a standing KRB-ERROR leads the `detail` of a failed one (and of an
//!   NTLM fallback, for an unknown service principal), and the TGS-REP for the proxy's service
//!   (else the client of that error) names the user (`user_source = kdc`) before §2.3's rule.
//! - §3.11: failed connection attempts from sources that look like no client are counted per
//!   proxy as a flood or scan ([`flood`]), not made into episodes.
//! - Bounds: open episodes (`max_open_episodes`; the least recently active is judged early),
//!   settling episodes (the same number; the oldest is handed on early), client identities and
//!   lockout users (`max_tracked_users`), each hit counted as an `analysis.*` anomaly.

pub mod attribution;
pub mod episode;
pub mod flood;
pub mod kdc;
pub mod verdict;

use crate::anomaly::{AnalysisAnomaly, Anomalies};
use crate::auth::kdc::KdcMessage;
use crate::auth::{Challenge, Credentials};
use crate::http::Unanswered;
use crate::model::{
    Episode, Finding, Flood, FrameRef, Outcome, Records, Side, Transaction, Ts, UserSource,
};
use attribution::{IdentityHistory, LockoutTracker};
use episode::{add_finding, ConnState, EpKey, OpenEpisode};
use flood::{Attempt, Decision, FloodTracker};
use foldhash::{HashMap, HashMapExt, HashSet};
use kdc::KdcTracker;
use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use verdict::EndReason;

/// The connection an exchange happened on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnRef {
    pub conn_id: u64,
    /// Community ID v1 of the connection; empty when transactions are not kept (nothing
    /// else reads it).
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
    /// The request's number on its connection (from the HTTP parser, counting from 0):
    /// with the connection, what identifies a request; pipelined requests read from one
    /// segment share their time.
    pub seq: u64,
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
    /// The frames that started and completed the request head, and the response head's.
    pub req_frames: (FrameRef, FrameRef),
    pub resp_frames: Option<(FrameRef, FrameRef)>,
}

/// What the analysis is fed, in packet-time order.
#[derive(Clone, Debug, PartialEq)]
pub enum AnalysisEvent {
    Exchange(Box<Exchange>),
    /// A request was sent and waits for its response (no response fields set). The same
    /// request comes again as an `Exchange` once answered or known unanswered, or as
    /// `Forget`. The engine may send more than matter (every request with credentials or on
    /// a connection that saw a challenge); those on no open episode's connection and
    /// without credentials are dropped here.
    Sent(Box<Exchange>),
    /// A request sent earlier is done without being a proxy transaction (inside a tunnel).
    Forget {
        conn_id: u64,
        seq: u64,
    },
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
    /// A message between a client and its KDC (UDP or TCP, port 88 or `--kdc-port`);
    /// `client_ip` is the Kerberos client's address (the sender of a request, the receiver
    /// of an answer).
    Kdc {
        ts: Ts,
        client_ip: IpAddr,
        msg: Box<KdcMessage>,
    },
    /// A connection attempt to a proxy port got no SYN-ACK, or a RST.
    AttemptFailed {
        ts: Ts,
        client_ip: IpAddr,
        proxy_ip: IpAddr,
        proxy_port: u16,
        reset: bool,
        /// The client sent its SYN more than once.
        retried: bool,
    },
}

/// Settings of the analysis: the retry window (`docs/verdicts.md` §3.4, §3.6), the
/// lockout threshold (§5.2), the settle delay (§3.10) and the bounds, with their defaults.
#[derive(Clone, Debug)]
pub struct AnalysisConfig {
    pub retry_window_us: i64,
    pub lockout_threshold: u32,
    pub lockout_window_us: i64,
    /// Hand on every transaction (export, records); without it, only those showing a request
    /// finding (`docs/verdicts.md` §5.1), which the stats count.
    pub keep_transactions: bool,
    /// Hand on the transactions of episodes even without `keep_transactions` (the
    /// dashboard's ladders); their `community_id` is then empty.
    pub episode_transactions: bool,
    /// How long (packet time) a judged episode waits for a later lockout or user name.
    pub settle_us: i64,
    /// Most episodes open at once, and most settling at once.
    pub max_open_episodes: usize,
    /// Most client addresses with a known user, users in the lockout window, and distinct
    /// flood sources per proxy.
    pub max_tracked_users: usize,
    /// Hand on a copy of each episode at its verdict too (the live views).
    pub previews: bool,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        AnalysisConfig {
            retry_window_us: 30_000_000,
            lockout_threshold: 5,
            lockout_window_us: 600_000_000,
            keep_transactions: true,
            episode_transactions: false,
            settle_us: 600_000_000,
            max_open_episodes: 100_000,
            max_tracked_users: 200_000,
            previews: false,
        }
    }
}

/// A judged episode waiting to settle.
struct Settling {
    /// Boxed, so that handing a burst of them on moves pointers, not whole episodes.
    ep: Box<Episode>,
    /// The ticket realm when its only identity was a Kerberos ticket: kept as its domain
    /// when the attributed user names none.
    realm: Option<String>,
    /// A Negotiate episode: its detail as judged and the service of its ticket, to join
    /// the KDC's messages again when it settles.
    negotiate: Option<NegotiateJoin>,
}

/// What a Negotiate episode keeps for the KDC join (`docs/verdicts.md` §4.12).
#[derive(Clone, Debug)]
struct NegotiateJoin {
    detail: Option<String>,
    ticket_service: Option<String>,
}

/// Open episodes, per-connection and per-client state, and the episodes settling.
pub struct Analyzer {
    cfg: AnalysisConfig,
    next_id: u64,
    /// The latest packet time seen.
    now: Ts,
    open: BTreeMap<u64, OpenEpisode>,
    by_key: HashMap<EpKey, Vec<u64>>,
    conns: HashMap<u64, ConnState>,
    /// Open `proxy_unreachable` episodes per (client, proxy, port).
    unreachable: HashMap<(IpAddr, IpAddr, u16), u64>,
    identities: IdentityHistory,
    lockout: LockoutTracker,
    last_lockout_sweep: Ts,
    /// Judged episodes by id, and the order they settle in (packet time, id).
    settling: HashMap<u64, Settling>,
    settle_queue: VecDeque<(Ts, u64)>,
    /// Settled episodes, copies at the verdict (previews) and transactions not yet drained.
    /// (Boxed as they settle: a burst handed on moves pointers, not whole episodes.)
    #[allow(clippy::vec_box)]
    out_episodes: Vec<Box<Episode>>,
    out_judged: Vec<Episode>,
    out_transactions: Vec<Transaction>,
    /// Requests applied as unanswered when their episode's window passed, by (connection,
    /// request number): their exchange, when it comes, is only recorded under that episode.
    late: HashMap<(u64, u64), u64>,
    /// Requests sent that matter (on an open episode's connection, or with credentials),
    /// per connection in the order sent, until their exchange comes: applied as unanswered
    /// when their episode's window passes with them still waiting.
    waiting: HashMap<u64, Vec<Exchange>>,
    /// Sources seen making requests on a proxy connection: clients, never flood sources.
    known_clients: HashSet<IpAddr>,
    floods: FloodTracker,
    /// Recent KDC answers per client address.
    kdc: KdcTracker,
    anomalies: Anomalies,
    /// The names of the run's inputs, which the records' frames are numbered in.
    inputs: Vec<String>,
}

/// Most requests remembered as applied late.
const MAX_LATE: usize = 65_536;

impl Analyzer {
    pub fn new(cfg: AnalysisConfig) -> Self {
        Analyzer {
            lockout: LockoutTracker::new(
                cfg.lockout_threshold,
                cfg.lockout_window_us,
                cfg.max_tracked_users,
            ),
            identities: IdentityHistory::new(cfg.max_tracked_users),
            floods: FloodTracker::new(flood::MAX_SOURCES),
            kdc: KdcTracker::new(cfg.max_tracked_users),
            cfg,
            next_id: 1,
            now: Ts::ZERO,
            open: BTreeMap::new(),
            by_key: HashMap::new(),
            conns: HashMap::new(),
            unreachable: HashMap::new(),
            last_lockout_sweep: Ts::ZERO,
            settling: HashMap::new(),
            settle_queue: VecDeque::new(),
            out_episodes: Vec::new(),
            out_judged: Vec::new(),
            out_transactions: Vec::new(),
            late: HashMap::new(),
            waiting: HashMap::new(),
            known_clients: HashSet::default(),
            anomalies: Anomalies::default(),
            inputs: Vec::new(),
        }
    }

    /// The names of the run's inputs (files as given, or the interface), in the order the
    /// source numbers them: the records' `capture_file`.
    pub fn set_inputs(&mut self, inputs: Vec<String>) {
        self.inputs = inputs;
    }

    pub fn on_event(&mut self, ev: AnalysisEvent) {
        match ev {
            AnalysisEvent::Exchange(ex) => self.on_exchange(&ex),
            AnalysisEvent::Sent(ex) => self.on_sent(*ex),
            AnalysisEvent::Forget { conn_id, seq } => self.forget(conn_id, seq),
            AnalysisEvent::ConnClosed {
                conn_id,
                ts,
                by,
                reset,
            } => self.on_closed(conn_id, ts, by, reset),
            AnalysisEvent::Gap { conn_id, ts, .. } => {
                if let Some(ep) = self
                    .conns
                    .get(&conn_id)
                    .and_then(|cs| self.open.get_mut(&cs.episode))
                {
                    add_finding(&mut ep.rec.findings, Finding::CaptureGap);
                    ep.facts.decisive_gap = true;
                    ep.touch(ts);
                }
            }
            AnalysisEvent::Kdc { ts, client_ip, msg } => self.kdc.record(ts, client_ip, &msg),
            AnalysisEvent::AttemptFailed {
                ts,
                client_ip,
                proxy_ip,
                proxy_port,
                reset,
                retried,
            } => self.on_attempt(
                Attempt {
                    ts,
                    client_ip,
                    proxy_ip,
                    proxy_port,
                    reset,
                },
                retried,
            ),
        }
    }

    /// Packet time moved on to `now`: episodes whose retry window passed are judged, with
    /// the requests still waiting on their connections applied as unanswered; judged
    /// episodes whose settle delay passed are handed on.
    pub fn advance(&mut self, now: Ts) {
        self.now = self.now.max(now);
        for a in self.floods.expire(Some(now)) {
            self.client_attempt(a);
        }
        let window = self.cfg.retry_window_us;
        let due: Vec<u64> = self
            .open
            .values()
            .filter(|ep| now.0.saturating_sub(ep.last_event_ts.0) > window)
            .map(|ep| ep.rec.episode_id)
            .collect();
        for id in due {
            self.apply_pending(id);
            self.close(id, EndReason::Window);
        }
        if now.0.saturating_sub(self.last_lockout_sweep.0) >= 60_000_000 {
            self.last_lockout_sweep = now;
            self.lockout.expire(now);
            // KDC messages matter to episodes within the retry window of them, until those
            // settle.
            let keep = self
                .cfg
                .settle_us
                .saturating_add(self.cfg.retry_window_us.saturating_mul(2))
                .saturating_add(60_000_000);
            self.kdc.expire(Ts(now.0.saturating_sub(keep)));
        }
        self.settle(Some(now));
    }

    /// The inputs a transaction's evidence names, when transactions are kept (or handed on
    /// for the dashboard's ladders); those handed on only for their request findings carry
    /// none, as nothing shows them.
    fn evidence(&self) -> Option<&[String]> {
        (self.cfg.keep_transactions || self.cfg.episode_transactions).then_some(&self.inputs[..])
    }

    /// Hands on the episodes that settled and the transactions recorded since the last call.
    pub fn drain(&mut self, out: &mut dyn Records) {
        for t in self.out_transactions.drain(..) {
            out.transaction(t);
        }
        for e in self.out_judged.drain(..) {
            out.judged(e);
        }
        for e in self.out_episodes.drain(..) {
            out.episode(*e);
        }
        // A burst (the first packet after a quiet hour settles a whole hour) leaves no
        // capacity behind.
        if self.out_episodes.capacity() > 4096 {
            self.out_episodes = Vec::new();
        }
    }

    /// Whether records wait to be drained.
    pub fn has_output(&self) -> bool {
        !self.out_episodes.is_empty()
            || !self.out_transactions.is_empty()
            || !self.out_judged.is_empty()
    }

    /// Every episode that started before this time has been handed on: the earliest start
    /// of an episode still open or settling, else the latest packet time. (An exchange still
    /// on its connection can open an episode that started a little earlier.)
    pub fn held_since(&self) -> Ts {
        let open = self.open.values().map(|o| o.rec.start_ts);
        let settling = self.settling.values().map(|s| s.ep.start_ts);
        open.chain(settling).fold(self.now, Ts::min)
    }

    /// Judged episodes still settling.
    pub fn settling_episodes(&self) -> usize {
        self.settling.len()
    }

    /// Connection floods and scans found so far.
    pub fn floods(&self) -> Vec<Flood> {
        self.floods.floods()
    }

    /// The analysis' own anomalies (its limits reached).
    pub fn anomalies(&self) -> Anomalies {
        let mut a = self.anomalies.clone();
        a.add_n(AnalysisAnomaly::IdentitiesFull, self.identities.evicted());
        a.add_n(AnalysisAnomaly::LockoutUsersFull, self.lockout.untracked());
        a.add_n(
            AnalysisAnomaly::FloodSourcesFull,
            self.floods.sources_dropped,
        );
        a.add_n(AnalysisAnomaly::KdcClientsFull, self.kdc.evicted);
        a
    }

    /// Settled episodes leave: those judged more than the settle delay before `now` (all
    /// with `None`), attributed again with every identity known by then.
    fn settle(&mut self, now: Option<Ts>) {
        while let Some(&(at, id)) = self.settle_queue.front() {
            if now.is_some_and(|n| n.0.saturating_sub(at.0) <= self.cfg.settle_us) {
                break;
            }
            self.settle_queue.pop_front();
            self.release(id);
        }
        if self.settling.capacity() > 4096 && self.settling.len() < self.settling.capacity() / 4 {
            self.settling.shrink_to_fit();
            self.settle_queue.shrink_to_fit();
        }
    }

    fn release(&mut self, id: u64) {
        if let Some(mut s) = self.settling.remove(&id) {
            if let Some(n) = &s.negotiate {
                self.join_kdc(&mut s.ep, n);
            }
            attribute(&self.identities, &mut s.ep, s.realm.as_deref());
            self.out_episodes.push(s.ep);
        }
    }

    /// Episodes not judged yet.
    pub fn open_episodes(&self) -> usize {
        self.open.len()
    }

    /// Connections bound to an open episode (the per-connection state kept).
    pub fn tracked_connections(&self) -> usize {
        self.conns.len()
    }

    /// End of capture: every open episode is judged and every judged one settles, with
    /// attribution over the whole capture; [`Analyzer::drain`] hands them on.
    pub fn finish(&mut self) {
        for a in self.floods.expire(None) {
            self.client_attempt(a);
        }
        let ids: Vec<u64> = self.open.keys().copied().collect();
        for id in ids {
            self.close(id, EndReason::Finish);
        }
        self.settle(None);
    }

    /// Whether a request just sent on `conn_id` matters to an open episode: its connection
    /// belongs to one, or it carries credentials (which may join one).
    fn wants_sent(&self, conn_id: u64, credentialed: bool) -> bool {
        credentialed || self.open_episode_of(conn_id).is_some()
    }

    /// The open episode a connection is bound to, if any.
    fn open_episode_of(&self, conn_id: u64) -> Option<u64> {
        self.conns
            .get(&conn_id)
            .map(|cs| cs.episode)
            .filter(|id| self.open.contains_key(id))
    }

    /// A request done on a connection: it no longer waits.
    fn forget(&mut self, conn_id: u64, seq: u64) {
        if let Some(w) = self.waiting.get_mut(&conn_id) {
            w.retain(|e| e.seq != seq);
            if w.is_empty() {
                self.waiting.remove(&conn_id);
            }
        }
    }

    fn on_sent(&mut self, ex: Exchange) {
        let conn_id = ex.conn.conn_id;
        if !self.wants_sent(conn_id, ex.credentials.is_some()) {
            return;
        }
        self.waiting.entry(conn_id).or_default().push(ex.clone());
        let mut ep_id = self.open_episode_of(conn_id);
        if ep_id.is_none() {
            if let Some(c) = &ex.credentials {
                ep_id = self.find_join(&ex, c);
                if let Some(id) = ep_id {
                    if let Some(ep) = self.open.get_mut(&id) {
                        ep.add_conn(conn_id);
                    }
                    self.conns.insert(conn_id, ConnState::new(id));
                }
            }
        }
        let Some(id) = ep_id else { return };
        if let Some(ep) = self.open.get_mut(&id) {
            ep.touch(ex.req_ts);
        }
    }

    /// The retry window of episode `id` passed: requests still waiting on its connections
    /// are applied as unanswered, so the verdict sees them. Each is applied once: its late
    /// exchange is only recorded.
    fn apply_pending(&mut self, id: u64) {
        let Some(conn_ids) = self.open.get(&id).map(|ep| ep.conn_ids.clone()) else {
            return;
        };
        for conn_id in conn_ids {
            if self.conns.get(&conn_id).is_none_or(|cs| cs.episode != id) {
                continue;
            }
            let waiting = self.waiting.get(&conn_id).cloned().unwrap_or_default();
            for mut ex in waiting {
                if self.late.contains_key(&(conn_id, ex.seq)) {
                    continue;
                }
                ex.unanswered = Some(Unanswered::End);
                let applied = match (self.open.get_mut(&id), self.conns.get_mut(&conn_id)) {
                    (Some(ep), Some(cs)) => ep.apply(&ex, cs),
                    _ => continue,
                };
                debug_assert!(!applied.ended && !applied.rejected);
                if self.late.len() < MAX_LATE {
                    self.late.insert((conn_id, ex.seq), id);
                }
            }
        }
    }

    fn on_exchange(&mut self, ex: &Exchange) {
        let conn_id = ex.conn.conn_id;
        self.forget(conn_id, ex.seq);
        self.now = self.now.max(ex.resp_ts.unwrap_or(ex.req_ts));
        if !self.known_clients.contains(&ex.conn.client_ip)
            && self.known_clients.len() < self.cfg.max_tracked_users
        {
            self.known_clients.insert(ex.conn.client_ip);
        }
        if let Some(c) = &ex.credentials {
            if let Some(u) = &c.user {
                self.identities
                    .record(ex.conn.client_ip, ex.req_ts, u, c.domain.as_deref());
            }
        }
        // Request findings are counted in transactions, kept or not (§5.1).
        let findings = episode::request_findings(ex);
        let hand_on = self.cfg.keep_transactions || !findings.is_empty();
        if let Some(id) = self.late.remove(&(conn_id, ex.seq)) {
            // Already applied to its episode when the window passed.
            if hand_on || self.cfg.episode_transactions {
                self.out_transactions.push(transaction(
                    ex,
                    Some(id),
                    None,
                    findings,
                    self.evidence(),
                ));
            }
            return;
        }
        let mut ep_id = self.open_episode_of(conn_id);
        let mut lockout_account = None;
        if ep_id.is_none() {
            self.conns.remove(&conn_id);
            if let Some(c) = &ex.credentials {
                ep_id = self.find_join(ex, c);
                if let Some(id) = ep_id {
                    if let Some(ep) = self.open.get_mut(&id) {
                        ep.add_conn(conn_id);
                    }
                    self.conns.insert(conn_id, ConnState::new(id));
                }
            }
        }
        if ep_id.is_none() && ex.status == Some(407) {
            let id = self.next_id;
            self.next_id = self.next_id.saturating_add(1);
            let key = EpKey::of(&ex.conn, &ex.method, &ex.target);
            self.make_room();
            self.by_key.entry(key.clone()).or_default().push(id);
            self.open.insert(id, OpenEpisode::open(id, key, ex));
            self.conns.insert(conn_id, ConnState::new(id));
            ep_id = Some(id);
        }
        if let Some(id) = ep_id {
            let applied = match (self.open.get_mut(&id), self.conns.get_mut(&conn_id)) {
                (Some(ep), Some(cs)) => Some(ep.apply(ex, cs)),
                _ => None,
            };
            if let Some(applied) = applied {
                if applied.rejected {
                    lockout_account = self.note_rejection(id, ex);
                }
                if applied.ended {
                    self.close(id, EndReason::Response);
                }
            }
        }
        if hand_on || (self.cfg.episode_transactions && ep_id.is_some()) {
            self.out_transactions.push(transaction(
                ex,
                ep_id,
                lockout_account,
                findings,
                self.evidence(),
            ));
        }
    }

    /// Before an episode opens at the limit: the least recently active one is judged early.
    fn make_room(&mut self) {
        if self.open.len() < self.cfg.max_open_episodes.max(1) {
            return;
        }
        let oldest = self
            .open
            .values()
            .min_by_key(|ep| (ep.last_event_ts, ep.rec.episode_id))
            .map(|ep| ep.rec.episode_id);
        if let Some(id) = oldest {
            self.anomalies.add(AnalysisAnomaly::OpenEpisodesFull);
            self.close(id, EndReason::Window);
        }
    }

    /// The open episode a credentialed request on a new connection joins
    /// (`docs/verdicts.md` §3.4).
    fn find_join(&self, ex: &Exchange, c: &Credentials) -> Option<u64> {
        let key = EpKey::of(&ex.conn, &ex.method, &ex.target);
        let ids = self.by_key.get(&key)?;
        ids.iter()
            .filter_map(|id| self.open.get(id))
            .filter(|ep| {
                ep.facts.unreachable.is_none()
                    && ex.req_ts >= ep.last_challenge_ts
                    && ex.req_ts.0.saturating_sub(ep.last_event_ts.0) <= self.cfg.retry_window_us
                    && same_user(ep.rec.user.as_deref(), c.user.as_deref())
            })
            .max_by_key(|ep| (ep.last_challenge_ts, ep.rec.episode_id))
            .map(|ep| ep.rec.episode_id)
    }

    /// Counts a rejection toward its account's lockout window; returns the account.
    fn note_rejection(&mut self, id: u64, ex: &Exchange) -> Option<String> {
        let ts = ex.resp_ts.unwrap_or(ex.req_ts);
        let user = ex
            .credentials
            .as_ref()
            .and_then(|c| c.user.clone())
            .or_else(|| self.open.get(&id).and_then(|ep| ep.rec.user.clone()))
            .or_else(|| {
                self.identities
                    .infer(ex.conn.client_ip, ts)
                    .map(|s| s.user.clone())
            });
        let user = user?;
        for ep_id in self.lockout.rejected(&user, ts, id) {
            self.mark(ep_id, Finding::LockoutRisk);
        }
        Some(attribution::lockout_key(&user))
    }

    /// Adds a finding to an episode, open or still settling.
    fn mark(&mut self, id: u64, f: Finding) {
        if let Some(ep) = self.open.get_mut(&id) {
            add_finding(&mut ep.rec.findings, f);
        } else if let Some(s) = self.settling.get_mut(&id) {
            add_finding(&mut s.ep.findings, f);
        }
    }

    fn on_closed(&mut self, conn_id: u64, ts: Ts, by: Side, reset: bool) {
        let Some(cs) = self.conns.get_mut(&conn_id) else {
            return;
        };
        if let Some(ep) = self.open.get_mut(&cs.episode) {
            ep.touch(ts);
            if cs.awaiting_type3 {
                match by {
                    Side::Server => {
                        ep.facts.broken.get_or_insert(if reset {
                            "rst_after_type2"
                        } else {
                            "closed_after_type2"
                        });
                    }
                    Side::Client => ep.facts.client_stopped_after_type2 = true,
                }
            }
        }
        cs.awaiting_type3 = false;
        match by {
            Side::Client => cs.client_closed = true,
            Side::Server => cs.server_closed = true,
        }
        if reset || (cs.client_closed && cs.server_closed) {
            self.conns.remove(&conn_id);
        }
    }

    /// A failed connection attempt: a client's (`proxy_unreachable`), or one-shot and
    /// judged with the proxy's other one-shot attempts (§3.11).
    fn on_attempt(&mut self, a: Attempt, retried: bool) {
        self.now = self.now.max(a.ts);
        let client = retried
            || self.known_clients.contains(&a.client_ip)
            || self
                .unreachable
                .contains_key(&(a.client_ip, a.proxy_ip, a.proxy_port));
        if client {
            self.client_attempt(a);
            return;
        }
        if let Decision::Clients(attempts) = self.floods.one_shot(a) {
            for a in attempts {
                self.client_attempt(a);
            }
        }
    }

    fn client_attempt(&mut self, a: Attempt) {
        let Attempt {
            ts,
            client_ip,
            proxy_ip,
            proxy_port: port,
            reset,
        } = a;
        let key = (client_ip, proxy_ip, port);
        let window = self.cfg.retry_window_us;
        let joined = self
            .unreachable
            .get(&key)
            .and_then(|id| self.open.get_mut(id))
            .filter(|ep| ts.0.saturating_sub(ep.last_event_ts.0) <= window);
        if let Some(ep) = joined {
            ep.add_attempt(ts, reset);
            return;
        }
        if let Some(old) = self.unreachable.get(&key).copied() {
            self.close(old, EndReason::Window);
        }
        self.make_room();
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        let mut ep = OpenEpisode::unreachable(id, ts, client_ip, proxy_ip, port);
        ep.add_attempt(ts, reset);
        self.open.insert(id, ep);
        self.unreachable.insert(key, id);
    }

    /// Judges an open episode; it settles before it is handed on.
    fn close(&mut self, id: u64, reason: EndReason) {
        let Some(mut ep) = self.open.remove(&id) else {
            return;
        };
        if let Some(ids) = self.by_key.get_mut(&ep.key) {
            ids.retain(|x| *x != id);
            if ids.is_empty() {
                self.by_key.remove(&ep.key);
            }
        }
        for c in &ep.conn_ids {
            if self.conns.get(c).is_some_and(|cs| cs.episode == id) {
                self.conns.remove(c);
            }
        }
        let ukey = (ep.rec.client_ip, ep.rec.proxy_ip, ep.rec.proxy_port);
        if self.unreachable.get(&ukey) == Some(&id) {
            self.unreachable.remove(&ukey);
        }
        // The verdict's packet time: when the retry window passed, for an episode judged by
        // it (packet time can jump past it over a quiet spell), else now; kept in order.
        let judged_at = match reason {
            EndReason::Window => {
                Ts(ep.last_event_ts.0.saturating_add(self.cfg.retry_window_us)).min(self.now)
            }
            EndReason::Response | EndReason::Finish => self.now,
        };
        let judged_at = self
            .settle_queue
            .back()
            .map_or(judged_at, |&(last, _)| judged_at.max(last));
        let (outcome, cause, detail) = verdict::judge(&ep.facts, reason);
        ep.evidence.fill(&mut ep.rec, &self.inputs);
        ep.rec.outcome = outcome;
        ep.rec.cause = cause;
        ep.rec.detail = detail;
        if outcome != Outcome::Authenticated {
            ep.rec.time_to_auth_ms = None;
        }
        // Only a Kerberos ticket sets a domain without a user: its realm.
        let realm = if ep.rec.user_source.is_none() {
            ep.rec.domain.clone()
        } else {
            None
        };
        let negotiate = is_negotiate(&ep.rec).then(|| NegotiateJoin {
            detail: ep.rec.detail.clone(),
            ticket_service: ep.facts.ticket_service.clone(),
        });
        if let Some(n) = &negotiate {
            self.join_kdc(&mut ep.rec, n);
        }
        attribute(&self.identities, &mut ep.rec, realm.as_deref());
        if self.cfg.previews {
            self.out_judged.push(ep.rec.clone());
        }
        // Final at its verdict when nothing later can change it (§3.10): its own credentials
        // or ticket name its user (no later login names it), it counted no rejection (no
        // later lockout run takes it in) and it is not Negotiate (no KDC answer to join).
        let final_now = matches!(
            ep.rec.user_source,
            Some(UserSource::Credentials | UserSource::Kdc)
        ) && ep.facts.rejections == 0
            && negotiate.is_none();
        if final_now {
            self.out_episodes.push(Box::new(ep.rec));
            return;
        }
        if self.settling.len() >= self.cfg.max_open_episodes.max(1) {
            if let Some((_, oldest)) = self.settle_queue.pop_front() {
                self.anomalies.add(AnalysisAnomaly::SettlingFull);
                self.release(oldest);
            }
        }
        self.settle_queue.push_back((judged_at, id));
        self.settling.insert(
            id,
            Settling {
                ep: Box::new(ep.rec),
                realm,
                negotiate,
            },
        );
    }

    /// Joins a Negotiate episode to its client's KDC messages within the retry window before
    /// its start and after its end (`docs/verdicts.md` §4.12): a failed episode's detail
    /// starts with the KDC's error that stood (`krb_error=...`), an NTLM fallback's with an
    /// unknown service principal, and a ticket the KDC granted for the proxy (else the client
    /// of that error) names the user.
    fn join_kdc(&self, ep: &mut Episode, n: &NegotiateJoin) {
        if self.kdc.is_empty() {
            return;
        }
        let v = self.kdc.verdict(
            ep.client_ip,
            (ep.start_ts, ep.end_ts),
            self.cfg.retry_window_us,
            n.ticket_service.as_deref(),
        );
        let fallback_spn = ep.findings.contains(&Finding::NtlmFallback)
            && v.error
                .as_ref()
                .is_some_and(|(c, _)| *c == kdc::S_PRINCIPAL_UNKNOWN);
        let proxy_said = n
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("krb_error="));
        ep.detail.clone_from(&n.detail);
        if (ep.outcome == Outcome::Failed || fallback_spn) && !proxy_said {
            if let Some(k) = v.detail() {
                ep.detail = Some(match &n.detail {
                    Some(d) => format!("{k} {d}"),
                    None => k,
                });
            }
        }
        if ep.user_source != Some(UserSource::Credentials) {
            // The ticket the KDC granted for the proxy names the user of an episode that
            // sent one; one that sent none is the client the KDC's error names.
            let named = if n.ticket_service.is_some() {
                v.user.or(v.error_client)
            } else {
                v.error_client.or(v.user)
            };
            if let Some((user, realm)) = named {
                ep.user = Some(user);
                ep.domain = realm.or_else(|| ep.domain.take());
                ep.user_source = Some(UserSource::Kdc);
            }
        }
    }
}

/// An episode where Negotiate was offered or used: the KDC's messages may explain it.
fn is_negotiate(ep: &Episode) -> bool {
    ep.scheme.as_deref() == Some("Negotiate") || ep.offered_schemes.iter().any(|s| s == "Negotiate")
}

/// Same user, where both are known (case-insensitive, `DOMAIN\` prefix ignored).
fn same_user(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => attribution::lockout_key(a) == attribution::lockout_key(b),
        _ => true,
    }
}

/// Gives an episode without an identity of its own the user last seen from its client; its
/// domain is that user's, or else the realm of the episode's Kerberos ticket.
fn attribute(ids: &IdentityHistory, ep: &mut Episode, realm: Option<&str>) {
    if matches!(
        ep.user_source,
        Some(UserSource::Credentials | UserSource::Kdc)
    ) {
        return;
    }
    if let Some(s) = ids.infer(ep.client_ip, ep.end_ts) {
        ep.user = Some(s.user.clone());
        ep.domain = s.domain.clone().or_else(|| realm.map(str::to_string));
        ep.user_source = Some(UserSource::Inferred);
    }
}

/// The transaction record of one exchange.
fn transaction(
    ex: &Exchange,
    episode_id: Option<u64>,
    lockout_account: Option<String>,
    findings: Vec<Finding>,
    evidence: Option<&[String]>,
) -> Transaction {
    let mut offered: Vec<String> = Vec::new();
    for ch in &ex.challenges {
        let name = ch.scheme.as_str();
        if !offered.iter().any(|o| o == name) {
            offered.push(name.to_string());
        }
    }
    let c = ex.credentials.as_ref();
    Transaction {
        ts: ex.req_ts,
        response_ts: ex.resp_ts,
        conn_id: ex.conn.conn_id,
        community_id: ex.conn.community_id.clone(),
        client_ip: ex.conn.client_ip,
        client_port: ex.conn.client_port,
        proxy_ip: ex.conn.proxy_ip,
        proxy_port: ex.conn.proxy_port,
        method: ex.method.clone(),
        target: episode::without_userinfo(&ex.target).into_owned(),
        status: ex.status,
        offered_schemes: offered,
        auth_scheme: c.map(|c| c.scheme.as_str().to_string()),
        auth_step: c.map(|c| c.step.as_str().to_string()),
        user: c.and_then(|c| c.user.clone()),
        // A Kerberos ticket names no user; its realm stands as the domain.
        domain: c.and_then(|c| {
            c.domain.clone().or_else(|| {
                (c.step == crate::auth::AuthStep::Kerberos)
                    .then(|| c.realm.clone())
                    .flatten()
            })
        }),
        workstation: c.and_then(|c| c.workstation.clone()),
        user_agent: ex.user_agent.clone(),
        episode_id,
        lockout_account,
        findings,
        capture_file: evidence
            .and_then(|inputs| inputs.get(usize::from(ex.req_frames.0.file)))
            .cloned()
            .unwrap_or_default(),
        frames: match evidence {
            Some(_) => std::iter::once(ex.req_frames)
                .chain(ex.resp_frames)
                .map(|f| f.0.number)
                .filter(|n| *n > 0)
                .collect(),
            None => Vec::new(),
        },
        display_filter: match evidence {
            Some(_) => transaction_filter(ex),
            None => String::new(),
        },
    }
}

/// The display filter of one transaction: its connection, from the start of its request
/// head to the end of its response head (or of its request head, unanswered).
fn transaction_filter(ex: &Exchange) -> String {
    let first = ex.req_frames.0.number;
    let last = ex
        .resp_frames
        .filter(|r| r.1.file == ex.req_frames.0.file)
        .map_or(ex.req_frames.1.number, |r| r.1.number)
        .max(first);
    crate::model::conversation_filter(
        (ex.conn.client_ip, ex.conn.client_port),
        (ex.conn.proxy_ip, ex.conn.proxy_port),
        first,
        last,
    )
}
