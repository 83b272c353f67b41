//! The flow table and per-direction reassembly fed segments derived from the input:
//! each record is flags, direction, a 4-byte sequence number, a length byte, then data.
//! Small limits make eviction, buffer caps and expiry reachable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy407::decode::{Segment, TcpFlags};
use proxy407::flow::{ConnMeta, FailedAttempt, FlowHandler, FlowLimits, FlowTable};
use proxy407::model::{Side, Ts};
use proxy407::reassembly::StreamEvent;
use std::net::{IpAddr, Ipv4Addr};

#[derive(Default)]
struct App {
    bytes: u64,
}

struct Sink;

impl FlowHandler<App> for Sink {
    fn stream(&mut self, _m: &ConnMeta, app: &mut App, _s: Side, _ts: Ts, ev: StreamEvent<'_>) {
        if let StreamEvent::Data(d) = ev {
            app.bytes += d.len() as u64;
        }
    }
    fn closed(&mut self, _m: &ConnMeta, _app: App, _ts: Ts) {}
    fn attempt_failed(&mut self, _a: FailedAttempt) {}
}

fuzz_target!(|data: &[u8]| {
    let limits = FlowLimits {
        max_connections: 4,
        max_buffered_per_stream: 4096,
        max_buffered_total: 8192,
        idle_timeout_us: 5_000_000,
        syn_timeout_us: 1_000_000,
        proxy_ports: vec![3128],
        close_linger_us: 500_000,
        hole_timeout_us: 1_000_000,
        acked_hole_timeout_us: 100_000,
    };
    let mut table: FlowTable<App> = FlowTable::new(limits);
    let mut h = Sink;
    let client = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let proxy = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let mut ts = Ts(1_700_000_000_000_000);
    let mut rest = data;
    while let [fl, dir, s0, s1, s2, s3, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (payload, after) = tail.split_at(n);
        let flags = TcpFlags {
            syn: fl & 1 != 0,
            ack: fl & 2 != 0,
            fin: fl & 4 != 0,
            rst: fl & 8 != 0,
            psh: fl & 16 != 0,
        };
        // Low bits: direction; next bits: one of a few client ports (several connections).
        let port = 40_000 + u16::from((dir >> 1) & 3);
        let (src, dst) = if dir & 1 == 0 {
            ((client, port), (proxy, 3128))
        } else {
            ((proxy, 3128), (client, port))
        };
        let seg = Segment {
            ts,
            src_ip: src.0,
            src_port: src.1,
            dst_ip: dst.0,
            dst_port: dst.1,
            seq: u32::from_be_bytes([*s0, *s1, *s2, *s3]),
            ack: 0,
            flags,
            window: 65535,
            payload,
            missing_payload: u32::from(fl >> 5),
            frame: 0,
        };
        table.segment(&seg, &mut h);
        // Time moves on; sometimes far enough to expire things.
        ts = ts.plus_micros(if fl & 0x80 != 0 { 2_000_000 } else { 100 });
        table.advance(ts, &mut h);
        rest = after;
    }
    table.finish(ts, &mut h);
    let _ = (table.stats(), table.len());
});
