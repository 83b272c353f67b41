//! The bounded flow table: connections by canonical key, their two reassemblers, roles,
//! closing, idle expiry and eviction in packet time, and failed connection attempts to proxy
//! ports. Knows nothing of HTTP; see the module docs of `flow` for the role rules.

use super::FlowKey;
use crate::decode::Segment;
use crate::model::{Side, Ts};
use crate::reassembly::{Assembler, HoleTimeouts, SegmentIn, SeqNumber, StreamEvent};
use foldhash::HashMap;
use std::collections::VecDeque;
use std::net::IpAddr;

/// What the rest of the pipeline knows of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnMeta {
    /// Unique within one run: the number of the frame that opened it in the run's input
    /// (its SYN, when the SYN was seen), when the frames are numbered
    /// ([`Segment::frame`]); otherwise one more than the previous id. So the ids are the
    /// same however the connections are shared among tables (threads, shards).
    pub id: u64,
    pub client_ip: IpAddr,
    pub client_port: u16,
    pub server_ip: IpAddr,
    pub server_port: u16,
    pub first_ts: Ts,
    /// A SYN from the client was seen (the connection was captured from its start).
    pub syn_seen: bool,
}

/// A client's connection attempt to a proxy port that never got established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedAttempt {
    pub ts: Ts,
    pub client_ip: IpAddr,
    pub client_port: u16,
    pub server_ip: IpAddr,
    pub server_port: u16,
    /// true: answered by a RST; false: no SYN-ACK at all.
    pub reset: bool,
    /// How many SYNs the client sent.
    pub syns: u32,
    /// The connection's id ([`ConnMeta::id`]; a half-open SYN's is its own).
    pub conn_id: u64,
}

/// Limits of the table, all in packet time; hitting one is counted in [`FlowStats`].
#[derive(Clone, Debug)]
pub struct FlowLimits {
    pub max_connections: usize,
    pub max_buffered_per_stream: usize,
    pub max_buffered_total: usize,
    pub idle_timeout_us: i64,
    /// How long a SYN may wait for its SYN-ACK before the attempt counts as failed.
    pub syn_timeout_us: i64,
    /// Ports where servers are taken to be proxies (roles, failed attempts).
    pub proxy_ports: Vec<u16>,
    /// How long a closed connection (both FINs, or a RST) stays before it is removed.
    pub close_linger_us: i64,
    /// A hole older than this becomes a gap.
    pub hole_timeout_us: i64,
    /// A hole the peer acknowledged beyond becomes a gap after this long (the grace left
    /// for captures that hold packets slightly out of order).
    pub acked_hole_timeout_us: i64,
}

impl Default for FlowLimits {
    fn default() -> Self {
        FlowLimits {
            max_connections: 262_144,
            max_buffered_per_stream: 1 << 20,
            max_buffered_total: 64 << 20,
            idle_timeout_us: 300_000_000,
            syn_timeout_us: 10_000_000,
            proxy_ports: vec![3128, 3129, 8080, 8000, 8888, 9090],
            close_linger_us: 2_000_000,
            hole_timeout_us: 5_000_000,
            acked_hole_timeout_us: 200_000,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowStats {
    pub tcp_connections: u64,
    pub gap_bytes: u64,
    pub expired_idle: u64,
    pub evicted_full: u64,
    pub buffer_limit_hits: u64,
    /// The part of `buffer_limit_hits` where a reassembler's buffer forced holes into gaps
    /// (the rest: segments held back for a late SYN or for bytes not yet seen).
    pub reassembly_cap_hits: u64,
}

impl FlowStats {
    /// Adds another table's counts (the tables of several threads).
    pub fn merge(&mut self, o: &FlowStats) {
        self.tcp_connections = self.tcp_connections.saturating_add(o.tcp_connections);
        self.gap_bytes = self.gap_bytes.saturating_add(o.gap_bytes);
        self.expired_idle = self.expired_idle.saturating_add(o.expired_idle);
        self.evicted_full = self.evicted_full.saturating_add(o.evicted_full);
        self.buffer_limit_hits = self.buffer_limit_hits.saturating_add(o.buffer_limit_hits);
        self.reassembly_cap_hits = self
            .reassembly_cap_hits
            .saturating_add(o.reassembly_cap_hits);
    }
}

/// Receives what the table makes of segments.
pub trait FlowHandler<T> {
    /// In-order bytes, gaps, FIN or RST of one side of a connection.
    fn stream(&mut self, meta: &ConnMeta, app: &mut T, side: Side, ts: Ts, ev: StreamEvent<'_>);
    /// The connection leaves the table (closed and quiet, idle, evicted, or the end).
    fn closed(&mut self, meta: &ConnMeta, app: T, ts: Ts);
    fn attempt_failed(&mut self, attempt: FailedAttempt);
}

/// No slot (end of the recency list).
const NIL: usize = usize::MAX;

/// HTTP method tokens that mark a client's first payload.
const METHODS: [&[u8]; 9] = [
    b"GET ",
    b"POST ",
    b"CONNECT ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"TRACE ",
];

/// What a held-back segment costs against the per-stream cap beyond its bytes.
const PARKED_COST: usize = 64;

/// Everything of a connection except its two assemblers (so both can be borrowed apart).
struct Core<T> {
    key: FlowKey,
    meta: ConnMeta,
    /// `Some(true)`: endpoint `a` of the key is the client. Decided once, never flipped.
    a_is_client: Option<bool>,
    /// Direction (0: a→b, 1: b→a) of the first SYN without ACK, its ISN and how many.
    syn_from: Option<usize>,
    syn_isn: Option<u32>,
    syns: u32,
    syn_ts: Ts,
    /// Direction of the first SYN-ACK and its ACK number.
    synack_from: Option<usize>,
    synack_ack: u32,
    /// The connection attempt was answered, reported as failed, or is not to a proxy port.
    attempt_settled: bool,
    closed_at: Option<Ts>,
    last_ts: Ts,
    in_pending: bool,
    app: T,
}

/// A segment held back because it answers bytes of the other direction that the capture
/// has not shown yet (the two directions of a mirror port or tap arrive out of order).
struct Parked {
    ts: Ts,
    seq: u32,
    ack: u32,
    fin: bool,
    payload: Vec<u8>,
    missing: u32,
}

struct Conn<T> {
    /// Index 0: the a→b direction, 1: b→a.
    asm: [Assembler; 2],
    /// Per direction, segments held back until the other direction catches up (FIFO).
    parked: [VecDeque<Parked>; 2],
    parked_bytes: usize,
    core: Core<T>,
    prev: usize,
    next: usize,
}

impl<T> Core<T> {
    /// Whether direction `dir`'s stream start is known: its SYN (or SYN-ACK) was seen, or
    /// its reassembler has started.
    fn syn_known(&self, dir: usize, asm: &[Assembler; 2]) -> bool {
        self.syn_from == Some(dir)
            || self.synack_from == Some(dir)
            || asm.get(dir).is_some_and(|a| a.base().is_some())
    }

    /// The side of direction `dir`, deciding the roles first if they are still open.
    fn side(&mut self, dir: usize, first_payload: Option<&[u8]>, proxy_ports: &[u16]) -> Side {
        let a_client = match self.a_is_client {
            Some(c) => c,
            None => {
                let c = self.decide(dir, first_payload, proxy_ports);
                self.a_is_client = Some(c);
                let (client, server) = if c {
                    (self.key.a, self.key.b)
                } else {
                    (self.key.b, self.key.a)
                };
                self.meta.client_ip = client.0;
                self.meta.client_port = client.1;
                self.meta.server_ip = server.0;
                self.meta.server_port = server.1;
                self.meta.syn_seen = self.syn_from == Some(if c { 0 } else { 1 });
                c
            }
        };
        if (dir == 0) == a_client {
            Side::Client
        } else {
            Side::Server
        }
    }

    /// Whether endpoint `a` is the client (see the module docs of `flow` for the order).
    fn decide(&self, dir: usize, first_payload: Option<&[u8]>, proxy_ports: &[u16]) -> bool {
        if let Some(d) = self.syn_from {
            return d == 0;
        }
        if let Some(d) = self.synack_from {
            return d == 1;
        }
        let a_proxy = proxy_ports.contains(&self.key.a.1);
        let b_proxy = proxy_ports.contains(&self.key.b.1);
        if a_proxy != b_proxy {
            return b_proxy;
        }
        if let Some(p) = first_payload {
            if METHODS.iter().any(|m| p.starts_with(m)) {
                return dir == 0;
            }
            if p.starts_with(b"HTTP/1.") {
                return dir == 1;
            }
        }
        // The lower port is the server's.
        self.key.a.1 >= self.key.b.1
    }
}

/// Hands one assembler event to the handler, deciding roles on the first one.
fn emit<T>(
    core: &mut Core<T>,
    stats: &mut FlowStats,
    proxy_ports: &[u16],
    h: &mut impl FlowHandler<T>,
    dir: usize,
    ts: Ts,
    ev: StreamEvent<'_>,
) {
    let first = match ev {
        StreamEvent::Data(d) => Some(d),
        _ => None,
    };
    let side = core.side(dir, first, proxy_ports);
    if let StreamEvent::Gap(n) = ev {
        stats.gap_bytes = stats.gap_bytes.saturating_add(n);
    }
    h.stream(&core.meta, &mut core.app, side, ts, ev);
}

/// Connections by key, each with its per-side reassemblers and an application state `T`.
///
/// Connections live in a slab threaded by a recency list (most recent at the head), so a
/// packet's bookkeeping, idle expiry and eviction of the least recently active connection
/// are O(1) per connection touched.
pub struct FlowTable<T> {
    limits: FlowLimits,
    timeouts: HoleTimeouts,
    stats: FlowStats,
    map: HashMap<FlowKey, usize>,
    /// Slots by connection id, for the owner's look-ups ([`FlowTable::app_mut`]).
    ids: HashMap<u64, usize>,
    slots: Vec<Option<Conn<T>>>,
    free: Vec<usize>,
    head: usize,
    tail: usize,
    /// The latest id given (connections and half-open SYNs share the numbering).
    last_id: u64,
    /// The id the connection made next takes: a half-open SYN's, replayed.
    replay_id: Option<u64>,
    total_buffered: usize,
    /// Closed connections waiting out the linger: (slot, id, deadline).
    closing: VecDeque<(usize, u64, Ts)>,
    /// SYNs to proxy ports waiting for their SYN-ACK: (slot, id, deadline).
    syn_wait: VecDeque<(usize, u64, Ts)>,
    /// Connections with holes waiting: (slot, id).
    pending: Vec<(usize, u64)>,
    /// Bare SYNs on keys with no connection, until something answers them (then the
    /// connection is made and the SYN replayed) or their time runs out.
    half_open: HashMap<FlowKey, HalfOpen>,
    /// Their order of arrival: (key, serial, deadline).
    half_open_queue: VecDeque<(FlowKey, u64, Ts)>,
    half_open_serial: u64,
}

/// A bare SYN kept without a connection: what a SYN flood or a scan leaves is a few dozen
/// bytes per source, not a connection with two reassemblers.
#[derive(Clone, Copy, Debug)]
struct HalfOpen {
    /// The SYN went from the key's `a` to its `b`.
    fwd: bool,
    seq: u32,
    window: u16,
    ts: Ts,
    syns: u32,
    serial: u64,
}

impl HalfOpen {
    /// (source, destination) of the SYN.
    fn ends(&self, key: &FlowKey) -> ((IpAddr, u16), (IpAddr, u16)) {
        if self.fwd {
            (key.a, key.b)
        } else {
            (key.b, key.a)
        }
    }
}

impl<T: Default> FlowTable<T> {
    pub fn new(limits: FlowLimits) -> Self {
        let timeouts = HoleTimeouts {
            acked_hole_timeout_us: limits.acked_hole_timeout_us,
            hole_timeout_us: limits.hole_timeout_us,
        };
        FlowTable {
            limits,
            timeouts,
            stats: FlowStats::default(),
            map: HashMap::default(),
            ids: HashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            last_id: 0,
            replay_id: None,
            total_buffered: 0,
            closing: VecDeque::new(),
            syn_wait: VecDeque::new(),
            pending: Vec::new(),
            half_open: HashMap::default(),
            half_open_queue: VecDeque::new(),
            half_open_serial: 0,
        }
    }

    pub fn segment(&mut self, seg: &Segment<'_>, h: &mut impl FlowHandler<T>) {
        let (key, fwd) = FlowKey::new((seg.src_ip, seg.src_port), (seg.dst_ip, seg.dst_port));
        let mut existing = self.map.get(&key).copied();
        if existing.is_none() {
            if !self.half_open_syn(key, seg, h) {
                return;
            }
            // A replayed SYN made the connection.
            existing = self.map.get(&key).copied();
        }
        self.segment_on(key, fwd, existing, seg, h);
    }

    /// A segment on a key without a connection: a bare SYN is kept as half-open (false:
    /// nothing more to do); anything else makes the connection, with the half-open SYN of
    /// the key replayed first (true: go on with the segment).
    fn half_open_syn(
        &mut self,
        key: FlowKey,
        seg: &Segment<'_>,
        h: &mut impl FlowHandler<T>,
    ) -> bool {
        let bare_syn = seg.flags.syn && !seg.flags.ack && !seg.flags.rst && seg.payload.is_empty();
        let fwd = key.a == (seg.src_ip, seg.src_port);
        if let Some(ho) = self.half_open.get_mut(&key) {
            if bare_syn && ho.fwd == fwd && ho.seq == seg.seq {
                // The client sent its SYN again.
                ho.syns = ho.syns.saturating_add(1);
                return false;
            }
        } else if bare_syn {
            if self.half_open.len() >= self.limits.max_connections.max(1) {
                self.expire_half_open(None, 1, h);
            }
            self.stats.tcp_connections = self.stats.tcp_connections.saturating_add(1);
            self.half_open_serial = self.new_id(seg.frame);
            self.half_open.insert(
                key,
                HalfOpen {
                    fwd,
                    seq: seg.seq,
                    window: seg.window,
                    ts: seg.ts,
                    syns: 1,
                    serial: self.half_open_serial,
                },
            );
            self.half_open_queue.push_back((
                key,
                self.half_open_serial,
                seg.ts.plus_micros(self.limits.syn_timeout_us),
            ));
            return false;
        }
        if let Some(ho) = self.half_open.remove(&key) {
            let (src, dst) = ho.ends(&key);
            let syn = Segment {
                ts: ho.ts,
                src_ip: src.0,
                src_port: src.1,
                dst_ip: dst.0,
                dst_port: dst.1,
                seq: ho.seq,
                ack: 0,
                flags: crate::decode::TcpFlags {
                    syn: true,
                    ..crate::decode::TcpFlags::default()
                },
                window: ho.window,
                payload: &[],
                missing_payload: 0,
                frame: 0,
            };
            self.replay_id = Some(ho.serial);
            self.segment_on(key, ho.fwd, None, &syn, h);
            self.replay_id = None;
            // Counted when it was kept half-open.
            self.stats.tcp_connections = self.stats.tcp_connections.saturating_sub(1);
            if let Some(slot) = self.map.get(&key).copied() {
                if let Some(conn) = self.slots.get_mut(slot).and_then(Option::as_mut) {
                    conn.core.syns = ho.syns;
                }
            }
        }
        true
    }

    /// Half-open SYNs whose time ran out by `now` (with `None`: the `n` oldest, to make room)
    /// leave; a SYN to a proxy port is a failed connection attempt.
    fn expire_half_open(&mut self, now: Option<Ts>, mut n: usize, h: &mut impl FlowHandler<T>) {
        while let Some(&(key, serial, deadline)) = self.half_open_queue.front() {
            match now {
                Some(t) if deadline > t => break,
                None if n == 0 => break,
                _ => {}
            }
            self.half_open_queue.pop_front();
            if self
                .half_open
                .get(&key)
                .is_some_and(|ho| ho.serial == serial)
            {
                if let Some(ho) = self.half_open.remove(&key) {
                    n = n.saturating_sub(1);
                    self.half_open_failed(&key, &ho, h);
                }
            }
        }
    }

    fn half_open_failed(&self, key: &FlowKey, ho: &HalfOpen, h: &mut impl FlowHandler<T>) {
        let (src, dst) = ho.ends(key);
        if self.limits.proxy_ports.contains(&dst.1) {
            h.attempt_failed(FailedAttempt {
                ts: ho.ts,
                client_ip: src.0,
                client_port: src.1,
                server_ip: dst.0,
                server_port: dst.1,
                reset: false,
                syns: ho.syns,
                conn_id: ho.serial,
            });
        }
    }

    fn segment_on(
        &mut self,
        key: FlowKey,
        fwd: bool,
        existing: Option<usize>,
        seg: &Segment<'_>,
        h: &mut impl FlowHandler<T>,
    ) {
        let dir = if fwd { 0 } else { 1 };
        let now = seg.ts;
        let slot = self.slot_for(key, existing, dir, seg, h);
        self.touch(slot);
        self.handshake(slot, dir, seg);
        if self.refused(slot, dir, seg, h) {
            return;
        }
        if seg.flags.rst {
            // Nothing waits past a reset.
            self.release(slot, now, true, h);
        }
        if self.park(slot, dir, seg, h) {
            return;
        }
        let input = SegmentIn {
            seq: seg.seq,
            syn: seg.flags.syn,
            fin: seg.flags.fin,
            rst: seg.flags.rst,
            payload: seg.payload,
            missing: seg.missing_payload,
        };
        let ack = (seg.flags.ack && !seg.flags.rst).then_some(seg.ack);
        self.feed(slot, dir, input, ack, now, h);
        // A SYN may be what this direction's held data waited for, and this direction's
        // bytes what the other one's held segments answered.
        self.release(slot, now, false, h);
    }

    /// The slot of the segment's connection: the one on its key, or a new one when there is
    /// none or when a SYN starts a new connection on a reused key.
    #[inline(always)]
    fn slot_for(
        &mut self,
        key: FlowKey,
        existing: Option<usize>,
        dir: usize,
        seg: &Segment<'_>,
        h: &mut impl FlowHandler<T>,
    ) -> usize {
        let syn_only = seg.flags.syn && !seg.flags.ack;
        match existing {
            Some(slot) if syn_only && self.starts_new(slot, dir, seg.seq) => {
                self.remove(slot, seg.ts, h);
                self.create(key, seg, h)
            }
            Some(slot) => slot,
            None => self.create(key, seg, h),
        }
    }

    /// Notes a SYN or SYN-ACK of direction `dir`: who opened the connection, with which
    /// ISN, and whether a SYN to a proxy port now waits for its answer.
    #[inline(always)]
    fn handshake(&mut self, slot: usize, dir: usize, seg: &Segment<'_>) {
        let Some(conn) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let core = &mut conn.core;
        let now = seg.ts;
        if now > core.last_ts {
            core.last_ts = now;
        }
        if seg.flags.syn && !seg.flags.ack {
            if core.syn_from.is_none() {
                core.syn_from = Some(dir);
                core.syn_isn = Some(seg.seq);
                core.syn_ts = now;
                let to_proxy = self.limits.proxy_ports.contains(&seg.dst_port);
                if to_proxy && core.synack_from.is_none() && !core.attempt_settled {
                    self.syn_wait.push_back((
                        slot,
                        core.meta.id,
                        now.plus_micros(self.limits.syn_timeout_us),
                    ));
                } else {
                    core.attempt_settled = true;
                }
            }
            if core.syn_from == Some(dir) {
                core.syns = core.syns.saturating_add(1);
            }
            if core.side(dir, None, &self.limits.proxy_ports) == Side::Client {
                core.meta.syn_seen = true;
            }
        } else if seg.flags.syn && core.synack_from.is_none() {
            core.synack_from = Some(dir);
            core.synack_ack = seg.ack;
            core.attempt_settled = true;
            core.side(dir, None, &self.limits.proxy_ports);
        }
    }

    /// A RST answering the other direction's SYN before anything was established: the
    /// attempt failed and the connection closes. True when that is what `seg` is.
    #[inline(always)]
    fn refused(
        &mut self,
        slot: usize,
        dir: usize,
        seg: &Segment<'_>,
        h: &mut impl FlowHandler<T>,
    ) -> bool {
        let Some(conn) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return true;
        };
        let core = &mut conn.core;
        let refused = seg.flags.rst
            && core.syn_from == Some(dir ^ 1)
            && core.synack_from.is_none()
            && conn.asm.get(dir).and_then(Assembler::base).is_none();
        if !refused {
            return false;
        }
        // The SYN was refused: nothing was ever established.
        if !core.attempt_settled {
            core.attempt_settled = true;
            let c = &*core;
            h.attempt_failed(failed_attempt(c, seg.ts, true));
        }
        if core.closed_at.is_none() {
            core.closed_at = Some(seg.ts);
            self.closing.push_back((
                slot,
                core.meta.id,
                seg.ts.plus_micros(self.limits.close_linger_us),
            ));
        }
        true
    }

    /// Holds the segment back when it answers bytes of the other direction not seen yet,
    /// when earlier segments of its direction wait already, or when it is data before the
    /// SYN of a young connection. True when it was held; with no room to hold it, what
    /// waits is released and the segment goes on as it is.
    #[inline(always)]
    fn park(
        &mut self,
        slot: usize,
        dir: usize,
        seg: &Segment<'_>,
        h: &mut impl FlowHandler<T>,
    ) -> bool {
        let Some(conn) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return true;
        };
        let now = seg.ts;
        // Data only: a bare FIN is put in its place by the reassembler.
        let has_data = !seg.payload.is_empty() || seg.missing_payload > 0;
        let answers_unseen = seg.flags.ack
            && conn
                .asm
                .get(dir ^ 1)
                .is_some_and(|a| a.acks_undelivered(seg.ack));
        let queued = conn.parked.get(dir).is_some_and(|q| !q.is_empty());
        // A young connection's first data before its SYN: the handshake may be late.
        let before_syn = !conn.core.syn_known(dir, &conn.asm)
            && now.since(conn.core.meta.first_ts) < self.limits.acked_hole_timeout_us;
        if !(has_data
            && !seg.flags.rst
            && !seg.flags.syn
            && (answers_unseen || queued || before_syn))
        {
            return false;
        }
        let size = seg.payload.len().saturating_add(PARKED_COST);
        let fits = conn.parked_bytes.saturating_add(size) <= self.limits.max_buffered_per_stream;
        if let (true, Some(queue)) = (fits, conn.parked.get_mut(dir)) {
            conn.parked_bytes = conn.parked_bytes.saturating_add(size);
            queue.push_back(Parked {
                ts: now,
                seq: seg.seq,
                ack: seg.ack,
                fin: seg.flags.fin,
                payload: seg.payload.to_vec(),
                missing: seg.missing_payload,
            });
            if !conn.core.in_pending {
                conn.core.in_pending = true;
                self.pending.push((slot, conn.core.meta.id));
            }
            return true;
        }
        // No room to wait: what waits goes first, then this segment as it is.
        self.stats.buffer_limit_hits = self.stats.buffer_limit_hits.saturating_add(1);
        self.release(slot, now, true, h);
        false
    }

    /// Feeds a segment of direction `dir` (with its ACK number, if any) to the reassemblers.
    fn feed(
        &mut self,
        slot: usize,
        dir: usize,
        input: SegmentIn<'_>,
        ack: Option<u32>,
        now: Ts,
        h: &mut impl FlowHandler<T>,
    ) {
        let Some(conn) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let other = dir ^ 1;
        let core = &mut conn.core;
        let before = buffered(&conn.asm);
        let hits_before = cap_hits(&conn.asm);
        let room = self
            .limits
            .max_buffered_total
            .saturating_sub(self.total_buffered);
        let ports = &self.limits.proxy_ports;
        let stats = &mut self.stats;
        let [asm_a, asm_b] = &mut conn.asm;
        let (this, peer) = if dir == 0 {
            (asm_a, asm_b)
        } else {
            (asm_b, asm_a)
        };
        // Time bounds first, so what they release comes before this segment's bytes.
        peer.tick(now, &mut |ev| emit(core, stats, ports, h, other, now, ev));
        this.tick(now, &mut |ev| emit(core, stats, ports, h, dir, now, ev));
        this.segment(input, now, room, &mut |ev| {
            emit(core, stats, ports, h, dir, now, ev)
        });
        if let Some(ack) = ack {
            peer.ack(ack, now, &mut |ev| {
                emit(core, stats, ports, h, other, now, ev)
            });
        }
        let after = buffered(&conn.asm);
        self.total_buffered = self
            .total_buffered
            .saturating_sub(before)
            .saturating_add(after);
        let cap_hits = cap_hits(&conn.asm).saturating_sub(hits_before);
        self.stats.buffer_limit_hits = self.stats.buffer_limit_hits.saturating_add(cap_hits);
        self.stats.reassembly_cap_hits = self.stats.reassembly_cap_hits.saturating_add(cap_hits);
        let pending = conn.asm.iter().any(Assembler::has_pending) || conn.parked_bytes > 0;
        if pending && !conn.core.in_pending {
            conn.core.in_pending = true;
            self.pending.push((slot, conn.core.meta.id));
        }
        let closed =
            conn.asm.iter().any(Assembler::is_reset) || conn.asm.iter().all(Assembler::is_closed);
        if closed && conn.core.closed_at.is_none() {
            conn.core.closed_at = Some(now);
            self.closing.push_back((
                slot,
                conn.core.meta.id,
                now.plus_micros(self.limits.close_linger_us),
            ));
        }
    }

    /// Feeds held segments whose awaited bytes have been delivered (or given up as a gap),
    /// or that waited longer than the acknowledged-hole bound, or all of them when `force`;
    /// each direction in its order, the two directions in order of capture.
    fn release(&mut self, slot: usize, now: Ts, force: bool, h: &mut impl FlowHandler<T>) {
        let wait = self.limits.acked_hole_timeout_us;
        loop {
            let Some(conn) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
                return;
            };
            if conn.parked.iter().all(VecDeque::is_empty) {
                return;
            }
            // The first held segment of each direction that may go: a segment behind one
            // that waits (the direction's own segments arrived out of order) need not wait
            // with it, or two directions could each wait on bytes held behind the other.
            let ready = |dir: usize| {
                let queue = conn.parked.get(dir)?;
                queue
                    .iter()
                    .position(|p| {
                        force
                            || now.since(p.ts) >= wait
                            || (!conn
                                .asm
                                .get(dir ^ 1)
                                .is_some_and(|a| a.acks_undelivered(p.ack))
                                && conn.core.syn_known(dir, &conn.asm))
                    })
                    .and_then(|i| Some((i, queue.get(i)?.ts)))
            };
            let (dir, at) = match (ready(0), ready(1)) {
                (Some((i, a)), Some((j, b))) => {
                    if b < a {
                        (1, j)
                    } else {
                        (0, i)
                    }
                }
                (Some((i, _)), None) => (0, i),
                (None, Some((j, _))) => (1, j),
                (None, None) => return,
            };
            let Some(p) = conn.parked.get_mut(dir).and_then(|q| q.remove(at)) else {
                return;
            };
            conn.parked_bytes = conn
                .parked_bytes
                .saturating_sub(p.payload.len().saturating_add(PARKED_COST));
            let input = SegmentIn {
                seq: p.seq,
                syn: false,
                fin: p.fin,
                rst: false,
                payload: &p.payload,
                missing: p.missing,
            };
            // Delivered in packet order, with the time it was captured.
            self.feed(slot, dir, input, Some(p.ack), p.ts, h);
        }
    }

    /// Expires idle connections, closed ones past their linger, overdue connection
    /// attempts and overdue holes as of `now`.
    pub fn advance(&mut self, now: Ts, h: &mut impl FlowHandler<T>) {
        self.expire_half_open(Some(now), 0, h);
        while let Some(&(slot, id, deadline)) = self.closing.front() {
            if deadline > now {
                break;
            }
            self.closing.pop_front();
            if self.live_id(slot) == Some(id) {
                self.remove(slot, now, h);
            }
        }
        while let Some(&(slot, id, deadline)) = self.syn_wait.front() {
            if deadline > now {
                break;
            }
            self.syn_wait.pop_front();
            if self.live_id(slot) != Some(id) {
                continue;
            }
            if let Some(conn) = self.slots.get_mut(slot).and_then(Option::as_mut) {
                let core = &mut conn.core;
                if !core.attempt_settled && core.synack_from.is_none() {
                    core.attempt_settled = true;
                    h.attempt_failed(failed_attempt(core, core.syn_ts, false));
                }
            }
        }
        while self.tail != NIL {
            let idle = match self.slots.get(self.tail).and_then(Option::as_ref) {
                Some(c) => c.core.last_ts.plus_micros(self.limits.idle_timeout_us) <= now,
                None => false,
            };
            if !idle {
                break;
            }
            self.stats.expired_idle = self.stats.expired_idle.saturating_add(1);
            self.remove(self.tail, now, h);
        }
        let pending = std::mem::take(&mut self.pending);
        for (slot, id) in pending {
            if self.live_id(slot) != Some(id) {
                continue;
            }
            let Some(conn) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            let before = buffered(&conn.asm);
            let core = &mut conn.core;
            let ports = &self.limits.proxy_ports;
            let stats = &mut self.stats;
            for (dir, asm) in conn.asm.iter_mut().enumerate() {
                asm.tick(now, &mut |ev| emit(core, stats, ports, h, dir, now, ev));
            }
            let after = buffered(&conn.asm);
            self.total_buffered = self
                .total_buffered
                .saturating_sub(before)
                .saturating_add(after);
            self.release(slot, now, false, h);
            let Some(conn) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            if conn.asm.iter().any(Assembler::has_pending) || conn.parked_bytes > 0 {
                self.pending.push((slot, id));
            } else {
                conn.core.in_pending = false;
            }
        }
    }

    /// Flushes and removes every connection (end of capture), in order of their ids.
    pub fn finish(&mut self, now: Ts, h: &mut impl FlowHandler<T>) {
        // SYNs never answered: to a proxy port, failed attempts, in the order they came.
        let mut half: Vec<(FlowKey, HalfOpen)> = self.half_open.drain().collect();
        half.sort_unstable_by_key(|(_, ho)| ho.serial);
        for (key, ho) in &half {
            self.half_open_failed(key, ho, h);
        }
        self.half_open_queue.clear();
        let mut live: Vec<(u64, usize)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.as_ref().map(|c| (c.core.meta.id, i)))
            .collect();
        live.sort_unstable();
        for (_, slot) in live {
            self.remove(slot, now, h);
        }
        self.closing.clear();
        self.syn_wait.clear();
        self.pending.clear();
    }

    pub fn stats(&self) -> &FlowStats {
        &self.stats
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Out-of-order bytes held by all connections (charged against `max_buffered_total`).
    pub fn buffered_total(&self) -> usize {
        self.total_buffered
    }

    fn live_id(&self, slot: usize) -> Option<u64> {
        self.slots
            .get(slot)
            .and_then(Option::as_ref)
            .map(|c| c.core.meta.id)
    }

    /// Whether a SYN from `dir` with sequence `isn` starts a new connection on `slot`'s key.
    fn starts_new(&self, slot: usize, dir: usize, isn: u32) -> bool {
        let Some(conn) = self.slots.get(slot).and_then(Option::as_ref) else {
            return true;
        };
        let c = &conn.core;
        if c.closed_at.is_some() {
            return true;
        }
        if let Some(old) = c.syn_isn {
            return old != isn && c.syn_from == Some(dir);
        }
        let data_start = SeqNumber(isn).plus(1);
        if c.synack_from.is_some() {
            return c.synack_ack != data_start.0;
        }
        match conn.asm.get(dir).and_then(Assembler::base) {
            None => false,
            // A late SYN for data already seen lies just before it.
            Some(base) => !(0..1 << 24).contains(&base.distance(data_start)),
        }
    }

    /// A fresh id: the frame's number when frames are numbered and it is above the last
    /// id, otherwise the next number.
    fn new_id(&mut self, frame: u64) -> u64 {
        let id = frame.max(self.last_id.saturating_add(1));
        self.last_id = id;
        id
    }

    fn create(&mut self, key: FlowKey, seg: &Segment<'_>, h: &mut impl FlowHandler<T>) -> usize {
        let now = seg.ts;
        if self.map.len() >= self.limits.max_connections.max(1) && self.tail != NIL {
            self.stats.evicted_full = self.stats.evicted_full.saturating_add(1);
            self.remove(self.tail, now, h);
        }
        let id = match self.replay_id.take() {
            Some(id) => id,
            None => self.new_id(seg.frame),
        };
        self.stats.tcp_connections = self.stats.tcp_connections.saturating_add(1);
        let per_stream = self.limits.max_buffered_per_stream;
        let conn = Conn {
            asm: [
                Assembler::new(per_stream, self.timeouts),
                Assembler::new(per_stream, self.timeouts),
            ],
            core: Core {
                key,
                meta: ConnMeta {
                    id,
                    client_ip: key.a.0,
                    client_port: key.a.1,
                    server_ip: key.b.0,
                    server_port: key.b.1,
                    first_ts: now,
                    syn_seen: false,
                },
                a_is_client: None,
                syn_from: None,
                syn_isn: None,
                syns: 0,
                syn_ts: now,
                synack_from: None,
                synack_ack: 0,
                attempt_settled: false,
                closed_at: None,
                last_ts: now,
                in_pending: false,
                app: T::default(),
            },
            parked: [VecDeque::new(), VecDeque::new()],
            parked_bytes: 0,
            prev: NIL,
            next: NIL,
        };
        let slot = match self.free.pop() {
            Some(s) => {
                if let Some(place) = self.slots.get_mut(s) {
                    *place = Some(conn);
                }
                s
            }
            None => {
                self.slots.push(Some(conn));
                self.slots.len().saturating_sub(1)
            }
        };
        self.map.insert(key, slot);
        self.ids.insert(id, slot);
        self.link_front(slot);
        slot
    }

    /// A connection still in the table, by its id: its description and the owner's state.
    pub fn app_mut(&mut self, id: u64) -> Option<(&ConnMeta, &mut T)> {
        let slot = *self.ids.get(&id)?;
        let core = &mut self.slots.get_mut(slot)?.as_mut()?.core;
        Some((&core.meta, &mut core.app))
    }

    /// Flushes a connection's streams, reports an unanswered attempt, and hands its state
    /// to [`FlowHandler::closed`].
    fn remove(&mut self, slot: usize, now: Ts, h: &mut impl FlowHandler<T>) {
        self.release(slot, now, true, h);
        self.unlink(slot);
        let Some(mut conn) = self.slots.get_mut(slot).and_then(Option::take) else {
            return;
        };
        self.free.push(slot);
        self.map.remove(&conn.core.key);
        self.ids.remove(&conn.core.meta.id);
        let held = buffered(&conn.asm);
        self.total_buffered = self.total_buffered.saturating_sub(held);
        let core = &mut conn.core;
        let ports = &self.limits.proxy_ports;
        let stats = &mut self.stats;
        // Client side first (when roles are open, direction a→b first).
        let first_dir = if core.a_is_client == Some(false) {
            1
        } else {
            0
        };
        for dir in [first_dir, first_dir ^ 1] {
            if let Some(asm) = conn.asm.get_mut(dir) {
                asm.flush(&mut |ev| emit(core, stats, ports, h, dir, now, ev));
            }
        }
        if !core.attempt_settled && core.syn_from.is_some() && core.synack_from.is_none() {
            core.attempt_settled = true;
            h.attempt_failed(failed_attempt(core, core.syn_ts, false));
        }
        core.side(0, None, ports);
        let Conn { core, .. } = conn;
        h.closed(&core.meta, core.app, now);
    }

    fn link_front(&mut self, slot: usize) {
        let old_head = self.head;
        if let Some(c) = self.slots.get_mut(slot).and_then(Option::as_mut) {
            c.prev = NIL;
            c.next = old_head;
        }
        if let Some(h) = self.slots.get_mut(old_head).and_then(Option::as_mut) {
            h.prev = slot;
        }
        self.head = slot;
        if self.tail == NIL {
            self.tail = slot;
        }
    }

    fn unlink(&mut self, slot: usize) {
        let Some((prev, next)) = self
            .slots
            .get(slot)
            .and_then(Option::as_ref)
            .map(|c| (c.prev, c.next))
        else {
            return;
        };
        match self.slots.get_mut(prev).and_then(Option::as_mut) {
            Some(p) => p.next = next,
            None => self.head = next,
        }
        match self.slots.get_mut(next).and_then(Option::as_mut) {
            Some(n) => n.prev = prev,
            None => self.tail = prev,
        }
        if let Some(c) = self.slots.get_mut(slot).and_then(Option::as_mut) {
            c.prev = NIL;
            c.next = NIL;
        }
    }

    /// Moves a connection to the most recent end of the recency list.
    fn touch(&mut self, slot: usize) {
        if self.head != slot {
            self.unlink(slot);
            self.link_front(slot);
        }
    }
}

/// Out-of-order bytes both directions' reassemblers hold.
fn buffered([a, b]: &[Assembler; 2]) -> usize {
    a.buffered().saturating_add(b.buffered())
}

/// Times both directions' reassemblers hit their caps.
fn cap_hits([a, b]: &[Assembler; 2]) -> u64 {
    a.cap_hits.saturating_add(b.cap_hits)
}

/// The failed attempt of a connection whose SYN went unanswered or was refused.
fn failed_attempt<T>(c: &Core<T>, ts: Ts, reset: bool) -> FailedAttempt {
    let (client, server) = match c.syn_from {
        Some(1) => (c.key.b, c.key.a),
        _ => (c.key.a, c.key.b),
    };
    FailedAttempt {
        ts,
        client_ip: client.0,
        client_port: client.1,
        server_ip: server.0,
        server_port: server.1,
        reset,
        syns: c.syns.max(1),
        conn_id: c.meta.id,
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use crate::decode::TcpFlags;

    #[derive(Default)]
    struct Count {
        data: usize,
        closed: Vec<u64>,
    }

    impl FlowHandler<()> for Count {
        fn stream(&mut self, _: &ConnMeta, _: &mut (), _: Side, _: Ts, ev: StreamEvent<'_>) {
            if let StreamEvent::Data(d) = ev {
                self.data += d.len();
            }
        }
        fn closed(&mut self, meta: &ConnMeta, _: (), _: Ts) {
            self.closed.push(meta.id);
        }
        fn attempt_failed(&mut self, _: FailedAttempt) {}
    }

    fn seg(port: u16, ts: i64, payload: &[u8]) -> Segment<'_> {
        Segment {
            ts: Ts(ts),
            src_ip: IpAddr::from([10, 0, 0, 1]),
            src_port: port,
            dst_ip: IpAddr::from([10, 0, 0, 2]),
            dst_port: 80,
            seq: 1,
            ack: 0,
            flags: TcpFlags::default(),
            window: 0,
            payload,
            missing_payload: 0,
            frame: 0,
        }
    }

    #[test]
    fn slots_are_reused_and_recency_list_stays_whole() {
        let limits = FlowLimits {
            max_connections: 3,
            ..FlowLimits::default()
        };
        let mut t: FlowTable<()> = FlowTable::new(limits);
        let mut h = Count::default();
        for i in 0..50u16 {
            // Connection 1000 stays active; the others come and go.
            t.segment(&seg(1000, i64::from(i) * 2, b"x"), &mut h);
            t.segment(&seg(2000 + i, i64::from(i) * 2 + 1, b"y"), &mut h);
            assert!(t.len() <= 3);
            // Walk the recency list both ways: it holds exactly the live connections.
            let mut n = 0;
            let mut at = t.head;
            while at != NIL {
                n += 1;
                at = t.slots[at].as_ref().unwrap().next;
            }
            assert_eq!(n, t.len());
            assert!(t.slots.len() <= 4);
        }
        assert_eq!(t.stats().evicted_full, 48);
        assert!(!h.closed.contains(&1));
        t.finish(Ts(1000), &mut h);
        assert!(t.is_empty());
        assert_eq!(h.closed.len(), 51);
        // Connection 1000 resent the same byte each time: delivered once.
        assert_eq!(h.data, 51);
    }
}
