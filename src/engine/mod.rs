//! Drives the stages for one run: frame → [`decode`] → [`FlowTable`] (reassembly) →
//! [`HttpConn`] → auth parsers → [`Analyzer`]. Time is packet time, passed in with every
//! frame; nothing here reads the wall clock. `ingest` per frame, `finish` at the end.
//!
//! A connection counts as a proxy connection from its first proxy signal
//! (`docs/verdicts.md` §1.1); only requests on proxy connections become transactions, and
//! failed connection attempts to proxy ports are handed on as well (§3.9).
//! A KDC's traffic (UDP datagrams and TCP connections to or from port 88 and `--kdc-port`) is
//! read as Kerberos messages instead of HTTP and handed on as [`AnalysisEvent::Kdc`], for the
//! analysis to join to the Negotiate episodes of the same client (`docs/verdicts.md` §4.12).
//! Keeps the capture and HTTP counters of the JSON summary (`capture`, `http`;
//! `docs/verdicts.md` §6.2), and counts every named [`Anomaly`](crate::anomaly::Anomaly) the
//! stages report (the source's are added at the end).
//!
//! Three parts, so that the middle one can run on several threads (`threads`, [`pool`]):
//! - the **front** (on the caller's thread): numbers the frames, filters by time and shard,
//!   decodes, keeps the capture counters, and decides when packet time has moved on by a
//!   tick ([`ADVANCE_EVERY_US`]);
//! - the **connections** (`Conns`): the flow table, reassembly, HTTP and the auth parsers,
//!   which turn segments into [`AnalysisEvent`]s and never look at the analysis. With
//!   `threads` > 1 there is one per worker thread, each with the clients of its share of the
//!   client address hash ([`crate::flow::shard`]);
//! - the **analysis** (on the caller's thread): one [`Analyzer`] fed every event in one
//!   order, the same whatever the number of threads: the events of each frame in frame
//!   order, and those of a tick (and of the end) sorted by connection id, connections taking
//!   the number of the frame that opened them as their id. So `--threads N` gives what
//!   `--threads 1` gives, number for number.

pub mod pool;

use crate::analysis::{AnalysisConfig, AnalysisEvent, Analyzer, ConnRef, Exchange};
use crate::anomaly::{Anomalies, DecodeAnomaly, FlowAnomaly, ReassemblyAnomaly};
use crate::auth::kdc::{self, KdcStream};
use crate::auth::{self, Credentials};
use crate::community_id::{community_id_v1, PROTO_TCP};
use crate::decode::decap::{DecapConfig, Encap, Encapsulation, TunnelSource};
use crate::decode::{self, Datagram, Decoded, Segment};
use crate::flow::{ConnMeta, FailedAttempt, FlowHandler, FlowLimits, FlowStats, FlowTable, Shard};
use crate::http::conn::ConnKind;
use crate::http::{HttpConn, HttpEvent, RequestHead, ResponseHead, Unanswered};
use crate::model::{
    AnalysisOutput, CaptureCounters, EngineOutput, Flood, FrameRef, HttpCounters, MirrorSource,
    Notice, Records, ShardCounters, Side, Ts, MAX_MIRROR_SOURCES,
};
use crate::reassembly::StreamEvent;
use crate::source::{Frame, SharedBytes, SourceStats};
use pool::Pool;

/// Settings of one run.
#[derive(Clone, Debug, Default)]
pub struct EngineConfig {
    pub flow: FlowLimits,
    pub analysis: AnalysisConfig,
    /// Frames before `since` or after `until` are skipped.
    pub since: Option<Ts>,
    pub until: Option<Ts>,
    /// Tunnels and mirror encapsulations peeled off in decoding.
    pub decap: DecapConfig,
    /// `--shard K/N`: only the TCP segments of this shard's clients are analysed.
    pub shard: Option<Shard>,
    /// Threads for the connections (`--threads`): 0 or 1, on the caller's thread.
    pub threads: usize,
}

/// Per-connection state beside the reassemblers.
#[derive(Default)]
struct ConnApp {
    /// HTTP pairing; its record of each pending request also holds what the engine keeps
    /// with it ([`Announced`]).
    http: HttpConn<Announced>,
    /// Counted as a proxy connection already.
    proxy: bool,
    /// Counted as TLS straight to a proxy port already.
    tls: bool,
    /// A challenge was answered on it, or credentials sent: its requests may matter to an
    /// episode, so each is handed on as sent.
    auth_seen: bool,
    community_id: Option<String>,
    /// A TCP connection to a KDC port: its two directions cut into Kerberos messages
    /// (client's, server's); such a connection is never read as HTTP.
    kdc: Option<Box<[KdcStream; 2]>>,
}

/// What the engine keeps with a pending request, in the HTTP layer's record of it: whether
/// it was handed to the analysis as sent, with the credentials read then (read once, and
/// reused when the request is done).
#[derive(Debug, Default)]
enum Announced {
    #[default]
    No,
    /// Handed over as sent; what its `Proxy-Authorization` revealed, if it had one.
    Sent(Option<Credentials>),
}

/// An analysis event with the id of the connection it came from (the order of a tick's
/// events).
type Keyed = (u64, AnalysisEvent);

/// The counters the connections keep, summed over threads.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConnCounters {
    /// Only `proxy_connections`, `tls_proxy_connections`, `failed_connection_attempts` and
    /// `http_anomalies` are kept here.
    capture: CaptureCounters,
    http: HttpCounters,
    anomalies: Anomalies,
    flow: FlowStats,
    tracked: usize,
}

impl ConnCounters {
    fn merge(&mut self, o: &ConnCounters) {
        let (c, oc) = (&mut self.capture, &o.capture);
        c.proxy_connections += oc.proxy_connections;
        c.tls_proxy_connections += oc.tls_proxy_connections;
        c.failed_connection_attempts += oc.failed_connection_attempts;
        c.http_anomalies += oc.http_anomalies;
        let (h, oh) = (&mut self.http, &o.http);
        h.requests += oh.requests;
        h.responses += oh.responses;
        h.responses_407 += oh.responses_407;
        h.connect_requests += oh.connect_requests;
        h.credentialed_requests += oh.credentialed_requests;
        h.unanswered_requests += oh.unanswered_requests;
        h.tunneled_requests += oh.tunneled_requests;
        h.tunneled_responses += oh.tunneled_responses;
        self.anomalies.merge(&o.anomalies);
        self.flow.merge(&o.flow);
        self.tracked += o.tracked;
    }
}

/// The connections of a run (or of one worker thread's share of it): everything downstream
/// of decoding and upstream of the analysis.
pub(crate) struct Conns {
    table: FlowTable<ConnApp>,
    down: Downstream,
}

impl Conns {
    fn new(flow: FlowLimits, community: bool, kdc_ports: Vec<u16>) -> Self {
        Conns {
            down: Downstream {
                capture: CaptureCounters::default(),
                http: HttpCounters::default(),
                anomalies: Anomalies::default(),
                events: Vec::new(),
                out: Vec::new(),
                proxy_ports: flow.proxy_ports.clone(),
                kdc_ports,
                community,
                at: FrameRef::default(),
            },
            table: FlowTable::new(flow),
        }
    }

    /// One UDP datagram from or to a KDC port; its message (if it is one) is added to `out`.
    fn datagram(&mut self, dg: &Datagram<'_>, out: &mut Vec<Keyed>) {
        if let Some(ev) = self
            .down
            .kdc_message(dg.ts, (dg.src_ip, dg.dst_ip), dg.payload)
        {
            out.push((0, ev));
        }
    }

    /// One segment, of the frame `at`; its events are added to `out`.
    fn segment(&mut self, seg: &Segment<'_>, at: FrameRef, out: &mut Vec<Keyed>) {
        self.down.at = at;
        self.table.segment(seg, &mut self.down);
        out.append(&mut self.down.out);
    }

    /// A tick of packet time: idle connections expire, held data times out. The events, in
    /// order of connection id, are added to `out`.
    fn advance(&mut self, now: Ts, out: &mut Vec<Keyed>) {
        self.table.advance(now, &mut self.down);
        sorted_into(&mut self.down.out, out);
    }

    /// The end: every connection is flushed; the events in order of connection id.
    fn finish(&mut self, end: Ts, out: &mut Vec<Keyed>) {
        self.table.finish(end, &mut self.down);
        sorted_into(&mut self.down.out, out);
    }

    fn counters(&self) -> ConnCounters {
        ConnCounters {
            capture: self.down.capture.clone(),
            http: self.down.http.clone(),
            anomalies: self.down.anomalies.clone(),
            flow: self.table.stats().clone(),
            tracked: self.table.len(),
        }
    }
}

/// Moves `events` into `out` in order of connection id (a connection's own in the order
/// they came).
fn sorted_into(events: &mut Vec<Keyed>, out: &mut Vec<Keyed>) {
    events.sort_by_key(|e| e.0);
    out.append(events);
}

/// Where the connections run.
enum Stage {
    Here(Box<Conns>),
    Threads(Pool),
}

/// The FlowHandler: the connections' HTTP and auth, turned into analysis events.
struct Downstream {
    capture: CaptureCounters,
    http: HttpCounters,
    anomalies: Anomalies,
    events: Vec<HttpEvent<Announced>>,
    out: Vec<Keyed>,
    proxy_ports: Vec<u16>,
    /// 88 and every `--kdc-port`.
    kdc_ports: Vec<u16>,
    /// Transactions are kept (they carry the Community ID).
    community: bool,
    /// The frame of the segment at hand (its file and number there), for the heads it
    /// starts or completes.
    at: FrameRef,
}

pub struct Engine {
    cfg: EngineConfig,
    capture: CaptureCounters,
    stage: Stage,
    analyzer: Analyzer,
    /// Events of the frame or tick at hand, on their way to the analyzer.
    events: Vec<Keyed>,
    notices: Vec<Notice>,
    /// Frames seen (the next frame's number is one more).
    frames: u64,
    last_advance: Ts,
    /// Packets per link type number, in order of first appearance (a handful at most); named
    /// only when counters are read, so the per-packet path does not allocate.
    link_counts: Vec<(u32, u64)>,
    /// Packets per encapsulation, by [`Encap::index`].
    encap_counts: [u64; Encap::ALL.len()],
    /// Packets per outer tunnel source, in order of first appearance (bounded).
    tunnel_sources: Vec<(TunnelSource, u64)>,
    /// TCP packets (and KDC datagrams) of other shards' clients, skipped.
    other_shard_packets: u64,
    /// 88 and every `--kdc-port`: which end of a KDC exchange is the client, for the shards.
    kdc_ports: Vec<u16>,
    /// Anomalies met in decoding.
    front_anomalies: Anomalies,
}

/// How often (packet time) idle connections and episodes are swept.
pub const ADVANCE_EVERY_US: i64 = 1_000_000;

impl Engine {
    pub fn new(cfg: EngineConfig) -> Self {
        let community = cfg.analysis.keep_transactions;
        let kdc_ports = cfg.decap.all_kdc_ports();
        let stage = if cfg.threads > 1 {
            Stage::Threads(Pool::new(&cfg, community, &kdc_ports))
        } else {
            Stage::Here(Box::new(Conns::new(
                cfg.flow.clone(),
                community,
                kdc_ports.clone(),
            )))
        };
        Engine {
            analyzer: Analyzer::new(cfg.analysis.clone()),
            stage,
            cfg,
            capture: CaptureCounters::default(),
            events: Vec::new(),
            notices: Vec::new(),
            frames: 0,
            last_advance: Ts::ZERO,
            link_counts: Vec::new(),
            encap_counts: [0; Encap::ALL.len()],
            tunnel_sources: Vec::new(),
            other_shard_packets: 0,
            kdc_ports,
            front_anomalies: Anomalies::default(),
        }
    }

    /// Feeds one frame.
    pub fn ingest(&mut self, frame: &Frame<'_>) {
        self.frames += 1;
        if self.cfg.since.is_some_and(|s| frame.ts < s)
            || self.cfg.until.is_some_and(|u| frame.ts > u)
        {
            return;
        }
        let c = &mut self.capture;
        c.packets += 1;
        c.bytes += frame.data.len() as u64;
        if (frame.data.len() as u64) < u64::from(frame.orig_len) {
            c.truncated_packets += 1;
        }
        if c.first_ts.is_none_or(|t| frame.ts < t) {
            c.first_ts = Some(frame.ts);
        }
        if c.last_ts.is_none_or(|t| frame.ts > t) {
            c.last_ts = Some(frame.ts);
        }
        let first_of_link = self.count_link(frame.link_type);
        let mut found = Encapsulation::default();
        let decoded = decode::decode_with(frame, &self.cfg.decap, &mut found);
        if !found.is_empty() {
            self.count_encapsulation(&found);
        }
        match decoded {
            Decoded::Tcp(mut seg) => {
                seg.frame = self.frames;
                let at = FrameRef {
                    file: frame.file,
                    number: if frame.number > 0 {
                        frame.number
                    } else {
                        self.frames
                    },
                };
                self.segment(&seg, at, frame.shared);
            }
            Decoded::Udp(mut dg) => {
                dg.frame = self.frames;
                self.datagram(&dg);
            }
            Decoded::Fragment => self.capture.ip_fragments += 1,
            Decoded::NotTcp | Decoded::NotIp => {}
            Decoded::UnknownLink(lt) => {
                self.capture.decode_errors += 1;
                self.capture_anomaly(DecodeAnomaly::UnknownLinkType);
                if first_of_link {
                    self.notices.push(Notice {
                        origin: "decode".into(),
                        offset: None,
                        message: format!(
                            "link type {} ({}) is not decoded; its packets are counted and skipped",
                            lt,
                            decode::link_type_name(lt)
                        ),
                    });
                }
            }
            Decoded::Malformed(a) => {
                self.capture.decode_errors += 1;
                self.capture_anomaly(a);
            }
        }
        if frame.ts.since(self.last_advance) >= ADVANCE_EVERY_US {
            self.advance(frame.ts);
        }
    }

    /// A decoded segment, to the connections of its client (unless another shard's).
    fn segment(&mut self, seg: &Segment<'_>, at: FrameRef, shared: Option<&SharedBytes>) {
        let ends = ((seg.src_ip, seg.src_port), (seg.dst_ip, seg.dst_port));
        if seg.missing_payload > 0 {
            let ports = &self.cfg.flow.proxy_ports;
            if ports.contains(&seg.src_port) || ports.contains(&seg.dst_port) {
                self.capture.proxy_port_packets_cut += 1;
            }
        }
        if let Some(shard) = self.cfg.shard {
            // A KDC's connection belongs to its Kerberos client, the end not on the KDC port.
            let kdc = either_on(&self.kdc_ports, seg.src_port, seg.dst_port);
            let ports = if kdc {
                &self.kdc_ports
            } else {
                &self.cfg.flow.proxy_ports
            };
            if !shard.keeps(ends.0, ends.1, ports) {
                self.other_shard_packets += 1;
                return;
            }
        }
        match &mut self.stage {
            Stage::Here(conns) => {
                conns.segment(seg, at, &mut self.events);
                feed(&mut self.analyzer, &mut self.events);
            }
            Stage::Threads(pool) => pool.segment(seg, at, shared, &mut self.analyzer),
        }
    }

    /// A KDC datagram, to the connections of its client (the end not on a KDC port) unless
    /// another shard's.
    fn datagram(&mut self, dg: &Datagram<'_>) {
        let ends = ((dg.src_ip, dg.src_port), (dg.dst_ip, dg.dst_port));
        if let Some(shard) = self.cfg.shard {
            if !shard.keeps(ends.0, ends.1, &self.kdc_ports) {
                self.other_shard_packets += 1;
                return;
            }
        }
        match &mut self.stage {
            Stage::Here(conns) => {
                conns.datagram(dg, &mut self.events);
                feed(&mut self.analyzer, &mut self.events);
            }
            Stage::Threads(pool) => pool.datagram(dg, &mut self.analyzer),
        }
    }

    /// Packet time moved on to `now`: expire idle state and judge episodes whose window passed.
    pub fn advance(&mut self, now: Ts) {
        self.last_advance = now;
        match &mut self.stage {
            Stage::Here(conns) => {
                conns.advance(now, &mut self.events);
                feed(&mut self.analyzer, &mut self.events);
                self.analyzer.advance(now);
            }
            Stage::Threads(pool) => pool.tick(now, &mut self.analyzer),
        }
    }

    /// Every episode that started before this time has been handed on
    /// ([`Analyzer::held_since`]).
    pub fn held_since(&self) -> Ts {
        self.analyzer.held_since()
    }

    /// Hands the records that became final since the last call to `out`.
    #[inline]
    pub fn drain(&mut self, out: &mut dyn Records) {
        if self.analyzer.has_output() {
            self.analyzer.drain(out);
        }
    }

    /// The names of the run's inputs, as the source numbers them ([`Frame::file`]): the
    /// records' `capture_file`.
    pub fn set_inputs(&mut self, inputs: Vec<String>) {
        self.analyzer.set_inputs(inputs);
    }

    /// Judged episodes still settling (`docs/verdicts.md` §3.10).
    pub fn settling_episodes(&self) -> usize {
        self.analyzer.settling_episodes()
    }

    /// Episodes open now.
    pub fn open_episodes(&self) -> usize {
        self.analyzer.open_episodes()
    }

    /// Connections in the flow table(s) now.
    pub fn tracked_connections(&self) -> usize {
        self.conn_counters().tracked
    }

    /// Connection floods and scans found so far.
    pub fn floods(&self) -> Vec<Flood> {
        self.analyzer.floods()
    }

    /// An anomaly met before the connections (decoding).
    fn capture_anomaly(&mut self, a: impl Into<crate::anomaly::Anomaly>) {
        self.front_anomalies.add(a);
    }

    /// The connections' counters (summed over the threads' latest reports).
    fn conn_counters(&self) -> ConnCounters {
        match &self.stage {
            Stage::Here(conns) => conns.counters(),
            Stage::Threads(pool) => pool.counters(),
        }
    }

    /// Counts a frame's link type; true the first time it is seen.
    fn count_link(&mut self, link_type: u32) -> bool {
        if let Some(entry) = self.link_counts.iter_mut().find(|e| e.0 == link_type) {
            entry.1 += 1;
            return false;
        }
        self.link_counts.push((link_type, 1));
        true
    }

    /// Counts the tunnels of one frame (each kind once) and its outer source.
    fn count_encapsulation(&mut self, found: &Encapsulation) {
        let mut seen = [false; Encap::ALL.len()];
        for e in found.layers() {
            if let (Some(s), Some(n)) = (
                seen.get_mut(e.index()),
                self.encap_counts.get_mut(e.index()),
            ) {
                if !*s {
                    *s = true;
                    *n += 1;
                }
            }
        }
        if let Some(src) = found.source() {
            if let Some(entry) = self.tunnel_sources.iter_mut().find(|e| e.0 == src) {
                entry.1 += 1;
            } else if self.tunnel_sources.len() < MAX_MIRROR_SOURCES {
                self.tunnel_sources.push((src, 1));
            }
        }
    }

    /// The capture counters so far: link types and encapsulations named, the connections'
    /// counts added.
    fn capture_counters(&self, conns: &ConnCounters) -> CaptureCounters {
        let mut c = self.capture.clone();
        for &(lt, n) in &self.link_counts {
            *c.link_types.entry(decode::link_type_name(lt)).or_insert(0) += n;
        }
        for (e, &n) in Encap::ALL.iter().zip(&self.encap_counts) {
            if n > 0 {
                c.encapsulations.insert(e.name().to_string(), n);
            }
        }
        c.mirror_sources = self
            .tunnel_sources
            .iter()
            .map(|(s, n)| MirrorSource {
                encapsulation: s.encap.name().to_string(),
                id: s.id,
                outer_src: s.outer_src,
                outer_dst: s.outer_dst,
                packets: *n,
            })
            .collect();
        if let Some(shard) = self.cfg.shard {
            c.shard = Some(ShardCounters {
                shard: shard.to_string(),
                other_packets: self.other_shard_packets,
            });
        }
        let cc = &conns.capture;
        c.proxy_connections = cc.proxy_connections;
        c.tls_proxy_connections = cc.tls_proxy_connections;
        c.failed_connection_attempts = cc.failed_connection_attempts;
        c.http_anomalies = cc.http_anomalies;
        let fs = &conns.flow;
        c.tcp_connections = fs.tcp_connections;
        c.gap_bytes = fs.gap_bytes;
        c.flow_limit_hits = fs.evicted_full + fs.buffer_limit_hits;
        c
    }

    /// The anomalies so far, the source's (`source`) and the flow tables' counts included.
    fn anomalies_with(&self, conns: &ConnCounters, source: &SourceStats) -> Anomalies {
        let mut a = self.front_anomalies.clone();
        a.merge(&conns.anomalies);
        let fs = &conns.flow;
        a.add_n(FlowAnomaly::TableFull, fs.evicted_full);
        a.add_n(
            FlowAnomaly::HoldBufferFull,
            fs.buffer_limit_hits.saturating_sub(fs.reassembly_cap_hits),
        );
        a.add_n(ReassemblyAnomaly::BufferFull, fs.reassembly_cap_hits);
        a.merge(&self.analyzer.anomalies());
        a.merge(&source.anomalies);
        a
    }

    /// The anomalies so far, the source's (`source`) and the flow tables' counts included.
    pub fn anomalies(&self, source: &SourceStats) -> Anomalies {
        self.anomalies_with(&self.conn_counters(), source)
    }

    /// The counters so far (live views); `finish` completes them.
    pub fn counters(&self) -> (CaptureCounters, HttpCounters) {
        let conns = self.conn_counters();
        (self.capture_counters(&conns), conns.http)
    }

    /// Notices from the source are kept with the run's own.
    pub fn add_notices(&mut self, notices: Vec<Notice>) {
        self.notices.extend(notices);
    }

    /// The end of the capture: flush every connection, judge every open episode and hand
    /// every record still held to `out`. The output's `analysis` is empty: the records went
    /// to `out`.
    pub fn finish(mut self, source: &SourceStats, out: &mut dyn Records) -> EngineOutput {
        let end = self.capture.last_ts.unwrap_or(Ts::ZERO);
        let conns = match &mut self.stage {
            Stage::Here(conns) => {
                conns.finish(end, &mut self.events);
                feed(&mut self.analyzer, &mut self.events);
                conns.counters()
            }
            Stage::Threads(pool) => {
                let c = pool.finish(end, &mut self.analyzer);
                if pool.lost {
                    self.notices.push(Notice {
                        origin: "engine".into(),
                        offset: None,
                        message: "a worker thread stopped: the connections of its share of \
                                  the clients are missing from then on"
                            .into(),
                    });
                }
                c
            }
        };
        self.analyzer.finish();
        self.analyzer.drain(out);
        let mut capture = self.capture_counters(&conns);
        capture.files = source.files;
        capture.kernel_dropped = source.kernel_dropped;
        capture.queue_dropped = source.queue_dropped;
        let anomalies = self.anomalies_with(&conns, source);
        EngineOutput {
            capture,
            http: conns.http,
            anomalies,
            floods: self.analyzer.floods(),
            analysis: AnalysisOutput::default(),
            notices: self.notices,
        }
    }
}

/// Hands events to the analyzer, in order.
fn feed(analyzer: &mut Analyzer, events: &mut Vec<Keyed>) {
    for (_, ev) in events.drain(..) {
        analyzer.on_event(ev);
    }
}

impl Downstream {
    /// A Kerberos message between `ends` (source, destination), as an analysis event; what
    /// does not parse is counted.
    fn kdc_message(
        &mut self,
        ts: Ts,
        ends: (std::net::IpAddr, std::net::IpAddr),
        bytes: &[u8],
    ) -> Option<AnalysisEvent> {
        match kdc::parse(bytes) {
            Ok(msg) => Some(kdc_event(ts, ends, msg)),
            Err(a) => {
                self.anomalies.add(a);
                None
            }
        }
    }

    /// Bytes of a TCP connection to a KDC port: cut into messages per direction.
    fn kdc_stream(
        &mut self,
        meta: &ConnMeta,
        app: &mut ConnApp,
        side: Side,
        ts: Ts,
        ev: &StreamEvent<'_>,
    ) {
        let streams = app.kdc.get_or_insert_with(Box::default);
        let (stream, ends) = match side {
            Side::Client => (&mut streams[0], (meta.client_ip, meta.server_ip)),
            Side::Server => (&mut streams[1], (meta.server_ip, meta.client_ip)),
        };
        match ev {
            StreamEvent::Data(bytes) => {
                let (out, anomalies) = (&mut self.out, &mut self.anomalies);
                stream.data(bytes, &mut |r| match r {
                    Ok(msg) => out.push((meta.id, kdc_event(ts, ends, msg))),
                    Err(a) => anomalies.add(a),
                });
            }
            StreamEvent::Gap(_) => stream.gap(),
            _ => {}
        }
    }

    /// The connection as the analysis sees it. Its Community ID (a SHA-1 per connection) is
    /// only read by kept transactions: without them it stays empty.
    fn conn_ref(meta: &ConnMeta, app: &mut ConnApp, community: bool) -> ConnRef {
        let community_id = if community {
            app.community_id
                .get_or_insert_with(|| {
                    community_id_v1(
                        0,
                        PROTO_TCP,
                        (meta.client_ip, meta.client_port),
                        (meta.server_ip, meta.server_port),
                    )
                })
                .clone()
        } else {
            String::new()
        };
        ConnRef {
            conn_id: meta.id,
            community_id,
            client_ip: meta.client_ip,
            client_port: meta.client_port,
            proxy_ip: meta.server_ip,
            proxy_port: meta.server_port,
        }
    }

    /// Turns the HTTP events of one connection into counters and analysis events.
    fn drain(&mut self, meta: &ConnMeta, app: &mut ConnApp) {
        if !app.proxy && app.http.proxy_signal() {
            app.proxy = true;
            self.capture.proxy_connections += 1;
        }
        if !app.tls
            && app.http.kind() == ConnKind::Tls
            && self.proxy_ports.contains(&meta.server_port)
        {
            app.tls = true;
            self.capture.tls_proxy_connections += 1;
        }
        let events = std::mem::take(&mut self.events);
        for ev in events {
            let done = match ev {
                HttpEvent::Anomaly { kind, .. } => {
                    self.capture.http_anomalies += 1;
                    self.anomalies.add(kind);
                    continue;
                }
                HttpEvent::Orphan { response, .. } => {
                    if app.proxy {
                        self.count_response(&response);
                    }
                    continue;
                }
                HttpEvent::Exchange {
                    seq,
                    req_ts,
                    request,
                    resp_ts,
                    response,
                    after_gap,
                    tunneled,
                    ext,
                } => Done {
                    seq,
                    req_ts,
                    request,
                    outcome: Ok((resp_ts, response)),
                    after_gap,
                    tunneled,
                    announced: ext,
                },
                HttpEvent::Unanswered {
                    seq,
                    req_ts,
                    request,
                    why,
                    after_gap,
                    tunneled,
                    ext,
                    ..
                } => Done {
                    seq,
                    req_ts,
                    request,
                    outcome: Err(why),
                    after_gap,
                    tunneled,
                    announced: ext,
                },
            };
            self.request_done(meta, app, done);
        }
    }

    /// Tells the analysis about requests the client sent that wait for their response, so
    /// that an episode whose retry window passes with a request pending is judged with it
    /// (`no_response`) rather than as if the client had stopped.
    fn sent(&mut self, meta: &ConnMeta, app: &mut ConnApp, pending_before: usize) {
        let new = app.http.pending().saturating_sub(pending_before);
        if new == 0 {
            return;
        }
        let mut wanted = Vec::new();
        for (seq, ts, head, after_gap, announced) in app.http.newest_pending_mut(new) {
            // The analysis keeps those on an open episode's connection or with credentials;
            // these are all of them and a few more.
            if head.proxy_authorization.is_none() && !app.auth_seen {
                continue;
            }
            app.auth_seen = true;
            let credentials = read_credentials(head);
            *announced = Announced::Sent(credentials.clone());
            wanted.push((seq, ts, head.clone(), after_gap, credentials));
        }
        for (seq, req_ts, head, after_gap, credentials) in wanted {
            let ex = exchange(
                Self::conn_ref(meta, app, self.community),
                seq,
                req_ts,
                head,
                credentials,
                None,
                after_gap,
            );
            self.out.push((meta.id, AnalysisEvent::Sent(Box::new(ex))));
        }
    }

    /// A request of a connection is done: answered (`Ok`) or known to get no answer (`Err`).
    /// On a proxy connection it is counted and handed to the analysis; inside a tunnel it is
    /// only counted apart.
    fn request_done(&mut self, meta: &ConnMeta, app: &mut ConnApp, done: Done) {
        let Done {
            seq,
            req_ts,
            request,
            outcome,
            after_gap,
            tunneled,
            announced,
        } = done;
        if !app.proxy {
            return;
        }
        if tunneled {
            self.http.tunneled_requests += 1;
            self.http.tunneled_responses += u64::from(outcome.is_ok());
            if let Announced::Sent(_) = announced {
                self.out.push((
                    meta.id,
                    AnalysisEvent::Forget {
                        conn_id: meta.id,
                        seq,
                    },
                ));
            }
            return;
        }
        if request.proxy_authorization.is_some()
            || matches!(&outcome, Ok((_, r)) if r.status == 407 || r.status == 401)
        {
            app.auth_seen = true;
        }
        self.count_request(&request);
        match &outcome {
            Ok((_, response)) => self.count_response(response),
            Err(_) => self.http.unanswered_requests += 1,
        }
        // Read when the request was handed over as sent; otherwise now.
        let credentials = match announced {
            Announced::Sent(c) => c,
            Announced::No => read_credentials(&request),
        };
        let ex = exchange(
            Self::conn_ref(meta, app, self.community),
            seq,
            req_ts,
            request,
            credentials,
            Some(outcome),
            after_gap,
        );
        self.count_auth_anomalies(&ex);
        self.out
            .push((meta.id, AnalysisEvent::Exchange(Box::new(ex))));
    }

    /// Counts what could not be read of a done request's credentials and its challenges.
    fn count_auth_anomalies(&mut self, ex: &Exchange) {
        let credentials = ex.credentials.iter().filter_map(|c| c.anomaly);
        let challenges = ex.challenges.iter().chain(&ex.www_challenges);
        for a in credentials.chain(challenges.filter_map(|c| c.anomaly)) {
            self.anomalies.add(a);
        }
    }

    fn count_request(&mut self, r: &RequestHead) {
        self.http.requests += 1;
        if r.method.eq_ignore_ascii_case("CONNECT") {
            self.http.connect_requests += 1;
        }
        if r.proxy_authorization.is_some() {
            self.http.credentialed_requests += 1;
        }
    }

    fn count_response(&mut self, r: &ResponseHead) {
        self.http.responses += 1;
        if r.status == 407 {
            self.http.responses_407 += 1;
        }
    }
}

/// The analysis event of a KDC message between `ends` (source, destination): its client is
/// the sender of a request and the receiver of an answer.
fn kdc_event(
    ts: Ts,
    ends: (std::net::IpAddr, std::net::IpAddr),
    msg: kdc::KdcMessage,
) -> AnalysisEvent {
    let client_ip = if msg.kind.is_request() {
        ends.0
    } else {
        ends.1
    };
    AnalysisEvent::Kdc {
        ts,
        client_ip,
        msg: Box::new(msg),
    }
}

/// A request of a connection that is done, as the HTTP layer hands it back.
struct Done {
    seq: u64,
    req_ts: Ts,
    request: RequestHead,
    outcome: Result<(Ts, ResponseHead), Unanswered>,
    after_gap: bool,
    tunneled: bool,
    announced: Announced,
}

/// What a request's `Proxy-Authorization` reveals (its secret is dropped by the parser).
fn read_credentials(request: &RequestHead) -> Option<Credentials> {
    request
        .proxy_authorization
        .as_ref()
        .map(|s| auth::parse_credentials(s.expose()))
}

/// Builds the analysis record of one request from its credentials, read by the caller, and
/// what became of it (`None`: only sent so far; `Ok`: its response, whose challenges are read
/// here; `Err`: why it has none). The head's header values (`Secret`s) are dropped with it.
fn exchange(
    conn: ConnRef,
    seq: u64,
    req_ts: Ts,
    request: RequestHead,
    credentials: Option<Credentials>,
    outcome: Option<Result<(Ts, ResponseHead), Unanswered>>,
    after_gap: bool,
) -> Exchange {
    let (response, unanswered) = match outcome {
        None => (None, None),
        Some(Ok(r)) => (Some(r), None),
        Some(Err(why)) => (None, Some(why)),
    };
    let req_frames = (request.first_frame, request.last_frame);
    let resp_frames = response
        .as_ref()
        .map(|(_, r)| (r.first_frame, r.last_frame));
    let (resp_ts, status, challenges, www_challenges, response_close) = match &response {
        Some((ts, r)) => (
            Some(*ts),
            Some(r.status),
            auth::parse_challenges(r.proxy_authenticate.iter().map(|s| s.expose())),
            if r.status == 401 {
                auth::parse_challenges(r.www_authenticate.iter().map(|s| s.expose()))
            } else {
                Vec::new()
            },
            r.connection_close,
        ),
        None => (None, None, Vec::new(), Vec::new(), false),
    };
    Exchange {
        conn,
        seq,
        req_ts,
        method: request.method,
        target: request.target,
        user_agent: request.user_agent,
        credentials,
        resp_ts,
        status,
        challenges,
        www_challenges,
        response_close,
        unanswered,
        after_gap,
        req_frames,
        resp_frames,
    }
}

impl FlowHandler<ConnApp> for Downstream {
    fn stream(
        &mut self,
        meta: &ConnMeta,
        app: &mut ConnApp,
        side: Side,
        ts: Ts,
        ev: StreamEvent<'_>,
    ) {
        let closed = match ev {
            StreamEvent::Fin => Some(false),
            StreamEvent::Rst => Some(true),
            _ => None,
        };
        let gap = match ev {
            StreamEvent::Gap(n) => Some(n),
            _ => None,
        };
        if gap.is_some() {
            self.anomalies.add(ReassemblyAnomaly::Gap);
        }
        if app.kdc.is_some() || either_on(&self.kdc_ports, meta.server_port, meta.client_port) {
            self.kdc_stream(meta, app, side, ts, &ev);
            return;
        }
        let pending_before = app.http.pending();
        app.http.at_frame(self.at);
        app.http.on_stream(side, ts, ev, &mut self.events);
        self.drain(meta, app);
        if side == Side::Client && app.proxy {
            self.sent(meta, app, pending_before);
        }
        if app.proxy {
            if let Some(reset) = closed {
                self.out.push((
                    meta.id,
                    AnalysisEvent::ConnClosed {
                        conn_id: meta.id,
                        ts,
                        by: side,
                        reset,
                    },
                ));
            }
            if let Some(bytes) = gap {
                self.out.push((
                    meta.id,
                    AnalysisEvent::Gap {
                        conn_id: meta.id,
                        ts,
                        side,
                        bytes,
                    },
                ));
            }
        }
    }

    fn closed(&mut self, meta: &ConnMeta, mut app: ConnApp, ts: Ts) {
        app.http.at_frame(self.at);
        app.http.finish(ts, &mut self.events);
        self.drain(meta, &mut app);
    }

    fn attempt_failed(&mut self, a: FailedAttempt) {
        self.capture.failed_connection_attempts += 1;
        self.out.push((
            a.conn_id,
            AnalysisEvent::AttemptFailed {
                ts: a.ts,
                client_ip: a.client_ip,
                proxy_ip: a.server_ip,
                proxy_port: a.server_port,
                reset: a.reset,
                retried: a.syns > 1,
            },
        ));
    }
}

/// One end of a TCP connection.
pub type End = (std::net::IpAddr, u16);

/// Either port is one of `ports` (a few: one pass, inlined; on every segment).
#[inline]
pub(crate) fn either_on(ports: &[u16], a: u16, b: u16) -> bool {
    ports.iter().any(|&p| p == a || p == b)
}

/// The ends of a frame as the engine decodes it (tunnels peeled off per `decap`): a TCP
/// segment's, or a KDC's UDP datagram's. What `extract` picks an episode's packets by.
#[derive(Clone, Copy, Debug)]
pub struct FrameEnds {
    pub src: End,
    pub dst: End,
    /// A TCP SYN without ACK.
    pub syn: bool,
    /// A KDC's UDP datagram, not TCP.
    pub udp: bool,
}

impl FrameEnds {
    /// The Kerberos client when the frame is to or from one of `kdc_ports` (88 and
    /// `--kdc-port`, UDP or TCP): the end not on the port.
    pub fn kdc_client(&self, kdc_ports: &[u16]) -> Option<std::net::IpAddr> {
        if kdc_ports.contains(&self.dst.1) {
            Some(self.src.0)
        } else if kdc_ports.contains(&self.src.1) {
            Some(self.dst.0)
        } else {
            None
        }
    }
}

/// The ends of a frame's TCP segment or KDC datagram; `None` for anything else.
pub fn frame_ends(frame: &Frame<'_>, decap: &DecapConfig) -> Option<FrameEnds> {
    let mut found = Encapsulation::default();
    match decode::decode_with(frame, decap, &mut found) {
        Decoded::Tcp(seg) => Some(FrameEnds {
            src: (seg.src_ip, seg.src_port),
            dst: (seg.dst_ip, seg.dst_port),
            syn: seg.flags.syn && !seg.flags.ack,
            udp: false,
        }),
        Decoded::Udp(dg) => Some(FrameEnds {
            src: (dg.src_ip, dg.src_port),
            dst: (dg.dst_ip, dg.dst_port),
            syn: false,
            udp: true,
        }),
        _ => None,
    }
}
