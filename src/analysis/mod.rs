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
//!   window passes with it still pending (the HTTP layer's record, asked through
//!   [`PendingRequests`]), it is applied as unanswered and the episode is judged
//!   `no_response` (its late exchange is then only recorded as a transaction of that episode). At
//!   the end of the capture a request still unanswered makes it `unresolved`.
//! - §4.2: a capture gap is decisive (unresolved) when it touches the latest exchange of the
//!   episode (`after_gap`, `Unanswered::Gap`) or a `Gap` event arrives on one of its connections
//!   after it; otherwise it only adds the finding `capture_gap`.
//! - §5.1: findings from credentials (`cleartext_basic`, `ntlm_fallback`, `ntlmv1`,
//!   `oversized_token`) are only raised on episodes: transactions have no findings column.
//! - §2.3, §5.2: lockout risk and attribution reach back into episodes already judged; episodes
//!   taken live with [`Analyzer::take_finished`] are copies and do not see later changes, while
//!   [`Analyzer::finish`] returns every episode in its final state.

pub mod attribution;
pub mod episode;
pub mod verdict;

use crate::auth::{Challenge, Credentials};
use crate::http::Unanswered;
use crate::model::{AnalysisOutput, Episode, Finding, Outcome, Side, Transaction, Ts, UserSource};
use attribution::{IdentityHistory, LockoutTracker};
use episode::{add_finding, ConnState, EpKey, OpenEpisode};
use foldhash::{HashMap, HashMapExt};
use std::collections::BTreeMap;
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
}

/// Where the analysis finds the requests still waiting for their response on a connection
/// when an episode's retry window passes: the HTTP layer's one record of each pending
/// request (the engine reads it from the connection), as exchanges without a response, in
/// the order sent. Only requests handed over as [`AnalysisEvent::Sent`] count.
pub trait PendingRequests {
    fn pending(&mut self, conn_id: u64) -> Vec<Exchange>;
}

/// No request is pending anywhere (hand-fed analyses, the end of a capture).
pub struct NoPending;

impl PendingRequests for NoPending {
    fn pending(&mut self, _conn_id: u64) -> Vec<Exchange> {
        Vec::new()
    }
}

/// What the analysis is fed, in packet-time order.
#[derive(Clone, Debug, PartialEq)]
pub enum AnalysisEvent {
    Exchange(Box<Exchange>),
    /// A request was sent and waits for its response (no response fields set). The same
    /// request comes again as an `Exchange` once answered or known unanswered.
    Sent(Box<Exchange>),
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

/// Settings of the analysis: the retry window (`docs/verdicts.md` §3.4, §3.6) and the
/// lockout threshold (§5.2), with their defaults.
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

/// Open episodes, per-connection and per-client state, and the judged episodes.
pub struct Analyzer {
    cfg: AnalysisConfig,
    next_id: u64,
    open: BTreeMap<u64, OpenEpisode>,
    by_key: HashMap<EpKey, Vec<u64>>,
    conns: HashMap<u64, ConnState>,
    /// Open `proxy_unreachable` episodes per (client, proxy, port).
    unreachable: HashMap<(IpAddr, IpAddr, u16), u64>,
    identities: IdentityHistory,
    lockout: LockoutTracker,
    last_lockout_sweep: Ts,
    done: Vec<Episode>,
    done_index: HashMap<u64, usize>,
    /// Indices into `done` judged since the last `take_finished`.
    fresh: Vec<usize>,
    transactions: Vec<Transaction>,
    /// Requests applied as unanswered when their episode's window passed, by (connection,
    /// request number): their exchange, when it comes, is only recorded under that episode.
    late: HashMap<(u64, u64), u64>,
    /// The ticket realm of judged episodes whose only identity was a Kerberos ticket: kept
    /// as their domain when the attributed user names none.
    realms: HashMap<u64, String>,
}

/// Most requests remembered as applied late.
const MAX_LATE: usize = 65_536;

impl Analyzer {
    pub fn new(cfg: AnalysisConfig) -> Self {
        Analyzer {
            lockout: LockoutTracker::new(cfg.lockout_threshold, cfg.lockout_window_us),
            cfg,
            next_id: 1,
            open: BTreeMap::new(),
            by_key: HashMap::new(),
            conns: HashMap::new(),
            unreachable: HashMap::new(),
            identities: IdentityHistory::default(),
            last_lockout_sweep: Ts::ZERO,
            done: Vec::new(),
            done_index: HashMap::new(),
            fresh: Vec::new(),
            transactions: Vec::new(),
            late: HashMap::new(),
            realms: HashMap::new(),
        }
    }

    pub fn on_event(&mut self, ev: AnalysisEvent) {
        match ev {
            AnalysisEvent::Exchange(ex) => self.on_exchange(&ex),
            AnalysisEvent::Sent(ex) => self.on_sent(*ex),
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
            AnalysisEvent::AttemptFailed {
                ts,
                client_ip,
                proxy_ip,
                proxy_port,
                reset,
            } => self.on_attempt_failed(ts, client_ip, proxy_ip, proxy_port, reset),
        }
    }

    /// Packet time moved on: episodes whose retry window passed get their verdict.
    /// Packet time moved on to `now`: episodes whose retry window passed are judged, with
    /// the requests still waiting on their connections (asked of `pending`) applied as
    /// unanswered.
    pub fn advance(&mut self, now: Ts, pending: &mut dyn PendingRequests) {
        let window = self.cfg.retry_window_us;
        let due: Vec<u64> = self
            .open
            .values()
            .filter(|ep| now.0.saturating_sub(ep.last_event_ts.0) > window)
            .map(|ep| ep.rec.episode_id)
            .collect();
        for id in due {
            self.apply_pending(id, pending);
            self.close(id, EndReason::Window);
        }
        if now.0.saturating_sub(self.last_lockout_sweep.0) >= 60_000_000 {
            self.last_lockout_sweep = now;
            self.lockout.expire(now);
        }
    }

    /// Episodes judged since the last call (for live views).
    pub fn take_finished(&mut self) -> Vec<Episode> {
        let fresh = std::mem::take(&mut self.fresh);
        fresh
            .into_iter()
            .filter_map(|i| self.done.get(i).cloned())
            .collect()
    }

    /// Every transaction is kept for the output.
    pub(crate) fn keeps_transactions(&self) -> bool {
        self.cfg.keep_transactions
    }

    /// Episodes not judged yet.
    pub fn open_episodes(&self) -> usize {
        self.open.len()
    }

    /// Connections bound to an open episode (the per-connection state kept).
    pub fn tracked_connections(&self) -> usize {
        self.conns.len()
    }

    /// End of capture: every open episode is judged; attribution and lockout risk are
    /// applied over the whole capture.
    pub fn finish(mut self) -> AnalysisOutput {
        let ids: Vec<u64> = self.open.keys().copied().collect();
        for id in ids {
            self.close(id, EndReason::Finish);
        }
        for ep in &mut self.done {
            let realm = self.realms.get(&ep.episode_id).map(String::as_str);
            attribute(&self.identities, ep, realm);
        }
        let mut episodes = self.done;
        // Sorting keys and then moving each (large) episode once beats moving them while sorting.
        episodes.sort_by_cached_key(|e| (e.start_ts, e.episode_id));
        AnalysisOutput {
            episodes,
            transactions: self.transactions,
        }
    }

    /// Whether a request just sent on `conn_id` matters to an open episode: its connection
    /// belongs to one, or it carries credentials (which may join one).
    pub(crate) fn wants_sent(&self, conn_id: u64, credentialed: bool) -> bool {
        credentialed || self.open_episode_of(conn_id).is_some()
    }

    /// The open episode a connection is bound to, if any.
    fn open_episode_of(&self, conn_id: u64) -> Option<u64> {
        self.conns
            .get(&conn_id)
            .map(|cs| cs.episode)
            .filter(|id| self.open.contains_key(id))
    }

    fn on_sent(&mut self, ex: Exchange) {
        let conn_id = ex.conn.conn_id;
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

    /// The retry window of episode `id` passed: requests still pending on its connections
    /// (the HTTP layer's record of them, through `pending`) are applied as unanswered, so the
    /// verdict sees them. Each is applied once: its late exchange is only recorded.
    fn apply_pending(&mut self, id: u64, pending: &mut dyn PendingRequests) {
        let Some(conn_ids) = self.open.get(&id).map(|ep| ep.conn_ids.clone()) else {
            return;
        };
        for conn_id in conn_ids {
            if self.conns.get(&conn_id).is_none_or(|cs| cs.episode != id) {
                continue;
            }
            for mut ex in pending.pending(conn_id) {
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
        if let Some(c) = &ex.credentials {
            if let Some(u) = &c.user {
                self.identities
                    .record(ex.conn.client_ip, ex.req_ts, u, c.domain.as_deref());
            }
        }
        if let Some(id) = self.late.remove(&(conn_id, ex.seq)) {
            // Already applied to its episode when the window passed.
            if self.cfg.keep_transactions {
                self.transactions.push(transaction(ex, Some(id)));
            }
            return;
        }
        let mut ep_id = self.open_episode_of(conn_id);
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
                    self.note_rejection(id, ex);
                }
                if applied.ended {
                    self.close(id, EndReason::Response);
                }
            }
        }
        if self.cfg.keep_transactions {
            self.transactions.push(transaction(ex, ep_id));
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

    fn note_rejection(&mut self, id: u64, ex: &Exchange) {
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
        let Some(user) = user else { return };
        for ep_id in self.lockout.rejected(&user, ts, id) {
            self.mark(ep_id, Finding::LockoutRisk);
        }
    }

    /// Adds a finding to an episode, open or already judged.
    fn mark(&mut self, id: u64, f: Finding) {
        if let Some(ep) = self.open.get_mut(&id) {
            add_finding(&mut ep.rec.findings, f);
        } else if let Some(ep) = self.done_index.get(&id).and_then(|&i| self.done.get_mut(i)) {
            add_finding(&mut ep.findings, f);
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

    fn on_attempt_failed(
        &mut self,
        ts: Ts,
        client_ip: IpAddr,
        proxy_ip: IpAddr,
        port: u16,
        reset: bool,
    ) {
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
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        let mut ep = OpenEpisode::unreachable(id, ts, client_ip, proxy_ip, port);
        ep.add_attempt(ts, reset);
        self.open.insert(id, ep);
        self.unreachable.insert(key, id);
    }

    /// Judges an open episode and moves it to the judged ones.
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
        let (outcome, cause, detail) = verdict::judge(&ep.facts, reason);
        ep.rec.outcome = outcome;
        ep.rec.cause = cause;
        ep.rec.detail = detail;
        if outcome != Outcome::Authenticated {
            ep.rec.time_to_auth_ms = None;
        }
        if ep.rec.user_source.is_none() {
            // Only a Kerberos ticket sets a domain without a user: its realm.
            if let Some(realm) = &ep.rec.domain {
                self.realms.insert(id, realm.clone());
            }
        }
        let realm = self.realms.get(&id).map(String::as_str);
        attribute(&self.identities, &mut ep.rec, realm);
        let idx = self.done.len();
        self.done_index.insert(id, idx);
        self.done.push(ep.rec);
        self.fresh.push(idx);
    }
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
    if ep.user_source == Some(UserSource::Credentials) {
        return;
    }
    if let Some(s) = ids.infer(ep.client_ip, ep.end_ts) {
        ep.user = Some(s.user.clone());
        ep.domain = s.domain.clone().or_else(|| realm.map(str::to_string));
        ep.user_source = Some(UserSource::Inferred);
    }
}

/// The transaction record of one exchange.
fn transaction(ex: &Exchange, episode_id: Option<u64>) -> Transaction {
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
        target: ex.target.clone(),
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
    }
}
