//! The records every view shares: [`Transaction`], [`Episode`], their verdicts ([`Outcome`],
//! [`Cause`], [`Finding`]) and the timestamp type [`Ts`].
//!
//! Field and variant names are the stable output names (`docs/verdicts.md` §6): the report,
//! the JSON summary, the dashboard and the exported tables all read these records and
//! nothing else. What each cause and finding means on the wire is `docs/verdicts.md` §4 and
//! §5; the remedies here are the ones listed there. This module owns no logic beyond naming
//! and formatting.

use crate::anomaly::Anomalies;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

/// A packet timestamp: microseconds since the Unix epoch, UTC. Always packet time, never
/// the wall clock. Its arithmetic saturates: a capture's times (a pcapng interface's
/// `if_tsoffset` included) can be anywhere in the `i64` range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ts(pub i64);

impl Ts {
    pub const ZERO: Ts = Ts(0);

    pub fn from_secs_micros(secs: i64, micros: i64) -> Ts {
        Ts(secs.saturating_mul(1_000_000).saturating_add(micros))
    }
    pub fn micros(self) -> i64 {
        self.0
    }
    pub fn secs(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }
    pub fn plus_micros(self, d: i64) -> Ts {
        Ts(self.0.saturating_add(d))
    }
    /// Microseconds from `earlier` to `self` (negative when `earlier` is later), saturating.
    pub fn since(self, earlier: Ts) -> i64 {
        self.0.saturating_sub(earlier.0)
    }
    /// Milliseconds from `earlier` to `self` (negative when `earlier` is later).
    pub fn ms_since(self, earlier: Ts) -> f64 {
        self.since(earlier) as f64 / 1000.0
    }
    /// RFC 3339 UTC with microseconds, e.g. `2026-11-28T08:19:36.123456Z`.
    pub fn rfc3339(self) -> String {
        let secs = self.secs();
        let micros = self.0.rem_euclid(1_000_000);
        match time::OffsetDateTime::from_unix_timestamp(secs) {
            Ok(t) => format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                micros
            ),
            Err(_) => format!("{secs}.{micros:06}"),
        }
    }
    /// Parses RFC 3339 (any offset) into packet time.
    pub fn parse_rfc3339(s: &str) -> Option<Ts> {
        let t =
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
        let nanos = t.unix_timestamp_nanos();
        Some(Ts(i64::try_from(nanos / 1000).ok()?))
    }
}

impl fmt::Display for Ts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

impl Serialize for Ts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.rfc3339())
    }
}

/// Where a packet is in the input: the capture file (its index among the run's inputs, in
/// the order the source names them) and its Wireshark frame number in that file (1-based; 0
/// when not numbered).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FrameRef {
    pub file: u16,
    pub number: u64,
}

/// At most this many frame numbers are listed per episode (`frames`); `frame_count` counts
/// them all. Keeps a record small however long its handshake runs.
pub const MAX_EPISODE_FRAMES: usize = 32;

/// Which end of a TCP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    Client,
    Server,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
    pub fn index(self) -> usize {
        match self {
            Side::Client => 0,
            Side::Server => 1,
        }
    }
}

/// The verdict of an episode (`docs/verdicts.md` §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Authenticated,
    Failed,
    Unresolved,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::Authenticated, Outcome::Failed, Outcome::Unresolved];
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Authenticated => "authenticated",
            Outcome::Failed => "failed",
            Outcome::Unresolved => "unresolved",
        }
    }
}

/// Why an episode failed: exactly one per failed episode, decided in the order of
/// [`Cause::ALL`] (`docs/verdicts.md` §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    HandshakeBroken,
    SchemeMismatch,
    BadCredentials,
    NoCredentials,
    Denied,
    ConnectionClosed,
    NoResponse,
    ProxyUnreachable,
}

impl Cause {
    /// In the order the verdict rules are applied.
    pub const ALL: [Cause; 8] = [
        Cause::HandshakeBroken,
        Cause::SchemeMismatch,
        Cause::BadCredentials,
        Cause::NoCredentials,
        Cause::Denied,
        Cause::ConnectionClosed,
        Cause::NoResponse,
        Cause::ProxyUnreachable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Cause::HandshakeBroken => "handshake_broken",
            Cause::SchemeMismatch => "scheme_mismatch",
            Cause::BadCredentials => "bad_credentials",
            Cause::NoCredentials => "no_credentials",
            Cause::Denied => "denied",
            Cause::ConnectionClosed => "connection_closed",
            Cause::NoResponse => "no_response",
            Cause::ProxyUnreachable => "proxy_unreachable",
        }
    }

    pub fn parse(s: &str) -> Option<Cause> {
        Cause::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// One line a network engineer reads: what the wire showed (English; the catalogue's
    /// `cause-<code>-meaning`, see [`crate::i18n`] for the other languages).
    pub fn meaning(self) -> &'static str {
        crate::i18n::t(
            crate::i18n::Lang::En,
            &format!("cause-{}-meaning", self.as_str()),
        )
    }

    /// The usual remedy shown beside the cause (English; `cause-<code>-remedy`).
    pub fn remedy(self) -> &'static str {
        crate::i18n::t(
            crate::i18n::Lang::En,
            &format!("cause-{}-remedy", self.as_str()),
        )
    }

    /// How to keep the cause from coming back (English; `cause-<code>-prevention`).
    pub fn prevention(self) -> &'static str {
        crate::i18n::t(
            crate::i18n::Lang::En,
            &format!("cause-{}-prevention", self.as_str()),
        )
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Flags beside a verdict (`docs/verdicts.md` §5); an episode can carry several.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    LockoutRisk,
    CleartextBasic,
    NtlmFallback,
    Ntlmv1,
    StaleNonce,
    OversizedToken,
    CaptureGap,
    DomainMismatch,
}

impl Finding {
    pub const ALL: [Finding; 8] = [
        Finding::LockoutRisk,
        Finding::CleartextBasic,
        Finding::NtlmFallback,
        Finding::Ntlmv1,
        Finding::StaleNonce,
        Finding::OversizedToken,
        Finding::CaptureGap,
        Finding::DomainMismatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Finding::LockoutRisk => "lockout_risk",
            Finding::CleartextBasic => "cleartext_basic",
            Finding::NtlmFallback => "ntlm_fallback",
            Finding::Ntlmv1 => "ntlmv1",
            Finding::StaleNonce => "stale_nonce",
            Finding::OversizedToken => "oversized_token",
            Finding::CaptureGap => "capture_gap",
            Finding::DomainMismatch => "domain_mismatch",
        }
    }

    /// A property of one request's credentials (`docs/verdicts.md` §5.1): raised on every
    /// request that shows it, challenged or not, and counted in requests (transactions);
    /// the other findings are properties of an episode and counted in episodes.
    pub fn is_request(self) -> bool {
        matches!(
            self,
            Finding::CleartextBasic
                | Finding::Ntlmv1
                | Finding::StaleNonce
                | Finding::OversizedToken
        )
    }

    /// What the finding means (English; the catalogue's `finding-<code>-meaning`).
    pub fn meaning(self) -> &'static str {
        crate::i18n::t(
            crate::i18n::Lang::En,
            &format!("finding-{}-meaning", self.as_str()),
        )
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an episode's user name came from (`docs/verdicts.md` §2.2, §2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UserSource {
    Credentials,
    Inferred,
    /// Named by the KDC: the TGS-REP that gave the client its ticket for the proxy's service.
    Kdc,
}

impl UserSource {
    pub fn as_str(self) -> &'static str {
        match self {
            UserSource::Credentials => "credentials",
            UserSource::Inferred => "inferred",
            UserSource::Kdc => "kdc",
        }
    }
}

/// One request and its response (or its lack) on a proxy connection: a row of the
/// `transactions` table (`docs/verdicts.md` §1.2, §6.3). Never holds a secret: credentials
/// are reduced to scheme, step and identity before a `Transaction` is built.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Transaction {
    pub ts: Ts,
    pub response_ts: Option<Ts>,
    pub conn_id: u64,
    pub community_id: String,
    pub client_ip: IpAddr,
    pub client_port: u16,
    pub proxy_ip: IpAddr,
    pub proxy_port: u16,
    pub method: String,
    pub target: String,
    pub status: Option<u16>,
    pub offered_schemes: Vec<String>,
    pub auth_scheme: Option<String>,
    pub auth_step: Option<String>,
    pub user: Option<String>,
    pub domain: Option<String>,
    pub workstation: Option<String>,
    pub user_agent: Option<String>,
    pub episode_id: Option<u64>,
    /// When the response rejected the request's final credentials (`docs/verdicts.md`
    /// §3.5): the account the rejection counts under toward `lockout_risk` (§5.2: the user
    /// lower-cased, without a `DOMAIN\` prefix); none otherwise, and none when no account
    /// could be named. What a fleet view needs to count lockout risk across sensors.
    pub lockout_account: Option<String>,
    /// The request findings it shows (`docs/verdicts.md` §5.1: `cleartext_basic`, `ntlmv1`,
    /// `oversized_token` from its credentials, `stale_nonce` on a Digest stale leg), sorted.
    pub findings: Vec<Finding>,
    /// The capture file its packets came from, as given on the command line (live: the
    /// interface).
    pub capture_file: String,
    /// The Wireshark frame numbers (in `capture_file`) of the packets that start its request
    /// head and its response head.
    pub frames: Vec<u64>,
    /// A Wireshark display filter that selects its packets: its connection, bounded by frame
    /// numbers (`docs/verdicts.md` §6.1).
    pub display_filter: String,
}

/// The site a request is for: `CONNECT` targets as sent (`host:port`, lower-cased), the
/// authority of an absolute-form URL (`http://Example.com:8080/x?y` → `example.com:8080`),
/// anything else as sent.
pub fn target_key(method: &str, target: &str) -> String {
    if method.eq_ignore_ascii_case("CONNECT") {
        return target.to_ascii_lowercase();
    }
    match target.find("://") {
        Some(i) => {
            let rest = target.get(i + 3..).unwrap_or("");
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let authority = rest.get(..end).unwrap_or(rest);
            let host = match authority.rfind('@') {
                Some(at) => authority.get(at + 1..).unwrap_or(authority),
                None => authority,
            };
            host.to_ascii_lowercase()
        }
        None => target.to_string(),
    }
}

impl Transaction {
    /// The site it is for, the key of the `targets` table (as an episode's `target`).
    pub fn site(&self) -> String {
        target_key(&self.method, &self.target)
    }
}

/// One client's attempt to get through the proxy that met a challenge (or never reached
/// it): a row of the `episodes` table (`docs/verdicts.md` §1.5, §6.3), the unit that is
/// counted.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Episode {
    pub episode_id: u64,
    pub start_ts: Ts,
    pub end_ts: Ts,
    pub client_ip: IpAddr,
    pub proxy_ip: IpAddr,
    pub proxy_port: u16,
    pub target: String,
    pub user: Option<String>,
    pub domain: Option<String>,
    pub workstation: Option<String>,
    pub user_source: Option<UserSource>,
    pub scheme: Option<String>,
    pub offered_schemes: Vec<String>,
    pub challenges: u32,
    pub credential_attempts: u32,
    pub connections: u32,
    pub outcome: Outcome,
    pub cause: Option<Cause>,
    pub detail: Option<String>,
    pub findings: Vec<Finding>,
    pub final_status: Option<u16>,
    pub time_to_auth_ms: Option<f64>,
    pub user_agent: Option<String>,
    /// The capture file its packets came from, as given on the command line (live: the
    /// interface); the file of its first request when they span several.
    pub capture_file: String,
    /// The Wireshark frame numbers (in `capture_file`) of the packets that start each of its
    /// request and response heads, in order; at most [`MAX_EPISODE_FRAMES`].
    pub frames: Vec<u64>,
    /// How many heads the episode had (`frames` lists the first [`MAX_EPISODE_FRAMES`]).
    pub frame_count: u32,
    /// A Wireshark display filter that selects the episode's packets: each of its
    /// connections bounded by the frames of its first and last head there
    /// (`docs/verdicts.md` §6.1).
    pub display_filter: String,
}

// The output of a run, as every view reads it.

/// Something a source met that the user should hear about; reading continues.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// The capture file (or interface) it concerns.
    pub origin: String,
    /// Byte offset in the file, where one applies.
    pub offset: Option<u64>,
    pub message: String,
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.offset {
            Some(o) => write!(f, "{}: at byte offset {}: {}", self.origin, o, self.message),
            None => write!(f, "{}: {}", self.origin, self.message),
        }
    }
}

/// Episodes and transactions.
#[derive(Clone, Debug, Default)]
pub struct AnalysisOutput {
    pub episodes: Vec<Episode>,
    pub transactions: Vec<Transaction>,
}

/// Where judged records go, one at a time, once they are final (`docs/verdicts.md` §3.10):
/// the aggregate, the record writers, the dashboard. Nothing keeps them all unless it is a
/// collecting sink of a batch run.
pub trait Records {
    fn episode(&mut self, e: Episode);
    fn transaction(&mut self, t: Transaction);
    /// A copy of an episode at its verdict, before it settles (only when previews were
    /// asked for: the live views show it at once; it comes again, final, as `episode`).
    fn judged(&mut self, _e: Episode) {}
}

/// Collects every record (batch runs and tests).
impl Records for AnalysisOutput {
    fn episode(&mut self, e: Episode) {
        self.episodes.push(e);
    }
    fn transaction(&mut self, t: Transaction) {
        self.transactions.push(t);
    }
}

/// Connection attempts to one proxy from sources that never completed a handshake, never
/// retried and never made a request (`docs/verdicts.md` §3.11): a scan or a flood, counted
/// apart from the clients.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Flood {
    pub proxy_ip: IpAddr,
    pub proxy_port: u16,
    /// Distinct sources (exact up to the cap; `sources_capped` says when it was reached).
    pub sources: u64,
    pub sources_capped: bool,
    pub attempts: u64,
    pub first_ts: Ts,
    pub last_ts: Ts,
}

/// The `capture` section of the JSON summary (`docs/verdicts.md` §6.2).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CaptureCounters {
    pub files: u64,
    pub packets: u64,
    pub bytes: u64,
    pub first_ts: Option<Ts>,
    pub last_ts: Option<Ts>,
    /// Packets per link type name.
    pub link_types: BTreeMap<String, u64>,
    pub tcp_connections: u64,
    pub proxy_connections: u64,
    pub truncated_packets: u64,
    pub gap_bytes: u64,
    pub tls_proxy_connections: u64,
    /// Frames that could not be decoded (malformed at some layer, or of an unknown link type).
    pub decode_errors: u64,
    pub ip_fragments: u64,
    pub failed_connection_attempts: u64,
    pub http_anomalies: u64,
    pub flow_limit_hits: u64,
    pub kernel_dropped: Option<u64>,
    /// TCP packets to or from a proxy port whose payload the snap length cut (omitted when
    /// none): with no proxy connection found, the likely reason.
    #[serde(skip_serializing_if = "is_zero")]
    pub proxy_port_packets_cut: u64,
    /// Live capture: packets dropped because the analysis fell behind (its queue was full).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_dropped: Option<u64>,
    /// Packets per encapsulation peeled off (`gre`, `erspan2`, `erspan3`, `vxlan`, `geneve`,
    /// `mpls`, `pppoe`, `ip_in_ip`); a packet inside two tunnels counts for both.
    pub encapsulations: BTreeMap<String, u64>,
    /// The outer ends of the mirror sessions and tunnels over IP (ERSPAN, GRE, VXLAN, Geneve;
    /// the outermost of a packet), in order of first packet (at most [`MAX_MIRROR_SOURCES`]):
    /// tells two mirror sessions apart.
    pub mirror_sources: Vec<MirrorSource>,
    /// With `--shard K/N`: the shard, and the TCP packets of other shards' clients skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardCounters>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `capture.shard` of a run that analysed one shard of the clients.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ShardCounters {
    /// `K/N`.
    pub shard: String,
    pub other_packets: u64,
}

/// At most this many mirror sources are listed; the packets of further ones are still
/// counted in `encapsulations`.
pub const MAX_MIRROR_SOURCES: usize = 32;

/// One mirror session or tunnel carried over IP, seen from outside (`capture.mirror_sources`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MirrorSource {
    /// The outermost encapsulation over IP: `erspan2`, `erspan3`, `vxlan`, `geneve`, `gre`, ...
    pub encapsulation: String,
    /// The ERSPAN session id, the VXLAN or Geneve VNI, or the GRE key.
    pub id: Option<u32>,
    pub outer_src: IpAddr,
    pub outer_dst: IpAddr,
    pub packets: u64,
}

/// The `http` section of the JSON summary (`docs/verdicts.md` §6.2): counts over proxy
/// connections.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HttpCounters {
    pub requests: u64,
    pub responses: u64,
    pub responses_407: u64,
    pub connect_requests: u64,
    pub credentialed_requests: u64,
    pub unanswered_requests: u64,
    /// Plain HTTP seen inside CONNECT tunnels: not proxy transactions (the tunnel is opaque
    /// to the proxy), counted apart.
    pub tunneled_requests: u64,
    pub tunneled_responses: u64,
}

/// Everything a run produced.
#[derive(Clone, Debug, Default)]
pub struct EngineOutput {
    pub capture: CaptureCounters,
    pub http: HttpCounters,
    /// Every named anomaly of the run, counted.
    pub anomalies: Anomalies,
    pub analysis: AnalysisOutput,
    /// Connection floods and scans, per proxy.
    pub floods: Vec<Flood>,
    pub notices: Vec<Notice>,
}

/// The Wireshark display filter of one connection's packets between two frames
/// (`docs/verdicts.md` §6.1): the client's address and port, the proxy's, and the frames
/// from `first` to `last`, or an HTTP response to a request in that range (tshark shows a
/// response at the frame that completes its body, which may come after `last`).
pub fn conversation_filter(
    client: (IpAddr, u16),
    proxy: (IpAddr, u16),
    first: u64,
    last: u64,
) -> String {
    let (c, p) = (addr_field(client.0), addr_field(proxy.0));
    format!(
        "({c} == {} && tcp.port == {} && {p} == {} && tcp.port == {} && \
         ((frame.number >= {first} && frame.number <= {last}) || \
         (http.request_in >= {first} && http.request_in <= {last})))",
        client.0, client.1, proxy.0, proxy.1
    )
}

/// The filter of a client's packets to a proxy port between two frames, any client port
/// (the connections past an episode's listed ones).
pub fn client_proxy_filter(client: IpAddr, proxy: (IpAddr, u16), first: u64, last: u64) -> String {
    let (c, p) = (addr_field(client), addr_field(proxy.0));
    format!(
        "({c} == {client} && {p} == {} && tcp.port == {} && \
         frame.number >= {first} && frame.number <= {last})",
        proxy.0, proxy.1
    )
}

/// The filter of a client's packets to a proxy port between two packet times (the failed
/// connection attempts of a `proxy_unreachable` episode, which have no heads).
pub fn attempts_filter(client: IpAddr, proxy: (IpAddr, u16), start: Ts, end: Ts) -> String {
    let (c, p) = (addr_field(client), addr_field(proxy.0));
    let secs = |t: Ts| format!("{}.{:06}", t.secs(), t.0.rem_euclid(1_000_000));
    format!(
        "({c} == {client} && {p} == {} && tcp.port == {} && \
         frame.time_epoch >= {} && frame.time_epoch <= {})",
        proxy.0,
        proxy.1,
        secs(start),
        secs(end.plus_micros(1))
    )
}

fn addr_field(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "ip.addr",
        IpAddr::V6(_) => "ipv6.addr",
    }
}
