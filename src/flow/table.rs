//! The bounded flow table (stub; see module docs of `flow`).

use crate::decode::Segment;
use crate::model::{Side, Ts};
use crate::reassembly::StreamEvent;
use std::net::IpAddr;

/// What the rest of the pipeline knows of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnMeta {
    /// Unique within one run, in order of first packet.
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
}

/// Receives what the table makes of segments.
pub trait FlowHandler<T> {
    /// In-order bytes, gaps, FIN or RST of one side of a connection.
    fn stream(&mut self, meta: &ConnMeta, app: &mut T, side: Side, ts: Ts, ev: StreamEvent<'_>);
    /// The connection leaves the table (closed and quiet, idle, evicted, or the end).
    fn closed(&mut self, meta: &ConnMeta, app: T, ts: Ts);
    fn attempt_failed(&mut self, attempt: FailedAttempt);
}

/// Connections by key, each with its per-side reassemblers and an application state `T`.
pub struct FlowTable<T> {
    limits: FlowLimits,
    stats: FlowStats,
    _app: std::marker::PhantomData<T>,
}

impl<T: Default> FlowTable<T> {
    pub fn new(limits: FlowLimits) -> Self {
        FlowTable {
            limits,
            stats: FlowStats::default(),
            _app: std::marker::PhantomData,
        }
    }
    pub fn segment(&mut self, seg: &Segment<'_>, h: &mut impl FlowHandler<T>) {
        let _ = (seg, h, &self.limits);
    }
    /// Expires idle connections and overdue connection attempts as of `now`.
    pub fn advance(&mut self, now: Ts, h: &mut impl FlowHandler<T>) {
        let _ = (now, h);
    }
    /// Flushes every connection (end of capture).
    pub fn finish(&mut self, now: Ts, h: &mut impl FlowHandler<T>) {
        let _ = (now, h);
    }
    pub fn stats(&self) -> &FlowStats {
        &self.stats
    }
    pub fn len(&self) -> usize {
        0
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
