//! The flow table and TCP reassembly driven with synthetic conversations: ordering,
//! duplicates, overlaps, wrap-around, loss and snap-length cuts as gaps, roles, resets,
//! failed connection attempts, and the limits.

mod common;
use common::{segment, ts};
use proptest::prelude::*;
use proxy407::flow::{ConnMeta, FailedAttempt, FlowHandler, FlowLimits, FlowStats, FlowTable};
use proxy407::model::{Side, Ts};
use proxy407::reassembly::StreamEvent;
use proxy407_testkit::{self as testkit, Packet, TcpConv};
use std::net::SocketAddr;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Ev {
    Data(Vec<u8>),
    Gap(u64),
    Fin,
    Rst,
}

#[derive(Default)]
struct Rec {
    /// (connection id, side, event, packet time), consecutive data merged.
    events: Vec<(u64, Side, Ev, Ts)>,
    closed: Vec<ConnMeta>,
    failed: Vec<FailedAttempt>,
}

impl FlowHandler<u32> for Rec {
    fn stream(&mut self, meta: &ConnMeta, app: &mut u32, side: Side, ts: Ts, ev: StreamEvent<'_>) {
        *app += 1;
        assert!(
            !self.closed.iter().any(|m| m.id == meta.id),
            "event after close"
        );
        let ev = match ev {
            StreamEvent::Data(d) => {
                assert!(!d.is_empty(), "empty data event");
                if let Some((id, s, Ev::Data(prev), _)) = self.events.last_mut() {
                    if *id == meta.id && *s == side {
                        prev.extend_from_slice(d);
                        return;
                    }
                }
                Ev::Data(d.to_vec())
            }
            StreamEvent::Gap(n) => {
                assert!(n > 0, "empty gap");
                Ev::Gap(n)
            }
            StreamEvent::Fin => Ev::Fin,
            StreamEvent::Rst => Ev::Rst,
        };
        self.events.push((meta.id, side, ev, ts));
    }
    fn closed(&mut self, meta: &ConnMeta, _app: u32, _ts: Ts) {
        assert!(!self.closed.iter().any(|m| m.id == meta.id), "closed twice");
        self.closed.push(meta.clone());
    }
    fn attempt_failed(&mut self, attempt: FailedAttempt) {
        self.failed.push(attempt);
    }
}

impl Rec {
    fn side(&self, id: u64, side: Side) -> Vec<Ev> {
        self.events
            .iter()
            .filter(|e| e.0 == id && e.1 == side)
            .map(|e| e.2.clone())
            .collect()
    }
    fn bytes(&self, id: u64, side: Side) -> Vec<u8> {
        let mut v = Vec::new();
        for e in self.side(id, side) {
            if let Ev::Data(d) = e {
                v.extend_from_slice(&d);
            }
        }
        v
    }
    fn gaps(&self, id: u64, side: Side) -> u64 {
        self.side(id, side)
            .iter()
            .map(|e| if let Ev::Gap(n) = e { *n } else { 0 })
            .sum()
    }
}

struct Run {
    rec: Rec,
    stats: FlowStats,
    max_len: usize,
    max_buffered: usize,
}

/// Feeds packets as the engine does: `advance` about once a second of packet time, then
/// `finish` at the last packet's time.
fn run_with(pkts: &[Packet], limits: FlowLimits) -> Run {
    let mut t: FlowTable<u32> = FlowTable::new(limits);
    let mut rec = Rec::default();
    let mut last_adv = Ts(0);
    let mut last = Ts(0);
    let (mut max_len, mut max_buffered) = (0, 0);
    for p in pkts {
        t.segment(&segment(p), &mut rec);
        last = last.max(ts(p.ts));
        if p.ts.0 - last_adv.0 >= 1_000_000 {
            t.advance(ts(p.ts), &mut rec);
            last_adv = ts(p.ts);
        }
        max_len = max_len.max(t.len());
        max_buffered = max_buffered.max(t.buffered_total());
    }
    t.finish(last, &mut rec);
    assert_eq!(t.len(), 0);
    assert_eq!(t.buffered_total(), 0);
    Run {
        rec,
        stats: t.stats().clone(),
        max_len,
        max_buffered,
    }
}

fn run(pkts: &[Packet]) -> Run {
    run_with(pkts, FlowLimits::default())
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn conv() -> TcpConv {
    TcpConv::new(addr("10.1.1.10:50000"), addr("10.2.2.2:3128"))
}

fn request() -> Vec<u8> {
    let mut r = b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n".to_vec();
    r.extend((0..2000u32).map(|i| (i % 251) as u8));
    r
}

fn response() -> Vec<u8> {
    let mut r =
        b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 1500\r\n\r\n".to_vec();
    r.extend((0..1500u32).map(|i| (i % 241) as u8));
    r
}

/// A whole exchange: handshake, request, response, both FINs.
fn exchange(c: TcpConv) -> TcpConv {
    let mut c = c.mss(300);
    c.handshake()
        .client_send(&request())
        .server_ack()
        .server_send(&response())
        .client_ack()
        .client_fin()
        .server_fin()
        .client_ack();
    c
}

fn assert_whole(r: &Run, c: &TcpConv) {
    assert_eq!(r.rec.bytes(1, Side::Client), c.client_bytes());
    assert_eq!(r.rec.bytes(1, Side::Server), c.server_bytes());
    assert_eq!(r.rec.gaps(1, Side::Client), 0);
    assert_eq!(r.rec.gaps(1, Side::Server), 0);
    assert_eq!(r.rec.side(1, Side::Client).last(), Some(&Ev::Fin));
    assert_eq!(r.rec.side(1, Side::Server).last(), Some(&Ev::Fin));
    assert_eq!(r.stats.gap_bytes, 0);
    assert_eq!(r.stats.tcp_connections, 1);
    assert_eq!(r.rec.closed.len(), 1);
}

#[test]
fn in_order_exchange_with_roles_and_fins() {
    let c = exchange(conv());
    let r = run(c.packets());
    assert_whole(&r, &c);
    let m = &r.rec.closed[0];
    assert_eq!(m.id, 1);
    assert_eq!(m.client_ip, addr("10.1.1.10:1").ip());
    assert_eq!((m.client_port, m.server_port), (50000, 3128));
    assert!(m.syn_seen);
    assert_eq!(m.first_ts, ts(c.packets()[0].ts));
    assert!(r.rec.failed.is_empty());
    // One data event per side: in-order segments are handed on one after another.
    assert_eq!(r.rec.side(1, Side::Client).len(), 2);
}

#[test]
fn reordered_segments() {
    let c = exchange(conv());
    let mut p = c.packets().to_vec();
    testkit::reorder(&mut p[3..], 7, 42);
    assert_ne!(p, c.packets());
    assert_whole(&run(&p), &c);
}

#[test]
fn duplicated_segments() {
    let c = exchange(conv());
    let mut p = c.packets().to_vec();
    testkit::duplicate(&mut p, &[3, 4, 5, 9, 12, 13]);
    testkit::duplicate_random(&mut p, 30, 7);
    assert_whole(&run(&p), &c);
}

#[test]
fn overlapping_resegmentation() {
    let c = exchange(conv());
    let mut p = c.packets().to_vec();
    testkit::resegment_overlapping(&mut p, 5);
    testkit::reorder(&mut p[3..], 4, 1);
    assert_whole(&run(&p), &c);
}

#[test]
fn conflicting_overlap_first_copy_wins() {
    let mut c = conv().mss(4);
    c.handshake().client_send(b"abcdefgh");
    let mut p = c.into_packets();
    // A later, conflicting copy of bytes 2..6 arrives before the second segment.
    let mut evil = p[3].clone();
    evil.seq = evil.seq.wrapping_add(2);
    evil.payload = b"XXXX".to_vec();
    p.insert(4, evil);
    let r = run(&p);
    assert_eq!(r.rec.bytes(1, Side::Client), b"abcdXXgh");
}

#[test]
fn wrap_around() {
    let c = exchange(conv().isn(u32::MAX - 700, u32::MAX - 5));
    let mut p = c.packets().to_vec();
    testkit::reorder(&mut p[3..], 5, 3);
    assert_whole(&run(&p), &c);
}

#[test]
fn lost_segment_is_an_exact_gap() {
    let mut c = conv().mss(100);
    c.handshake().client_send(&[b'a'; 500]).client_fin();
    let mut p = c.into_packets();
    // Packets: SYN, SYN-ACK, ACK, then five data segments; lose the third.
    assert_eq!(testkit::drop_packets(&mut p, &[5]), 100);
    let r = run(&p);
    assert_eq!(
        r.rec.side(1, Side::Client),
        vec![
            Ev::Data(vec![b'a'; 200]),
            Ev::Gap(100),
            Ev::Data(vec![b'a'; 200]),
            Ev::Fin
        ]
    );
    assert_eq!(r.stats.gap_bytes, 100);
}

#[test]
fn peer_ack_turns_hole_into_gap_before_the_end() {
    let mut c = conv().mss(100);
    c.handshake().client_send(&[b'q'; 300]).server_ack();
    c.wait(500_000).server_send(b"HTTP/1.1 200 OK\r\n\r\n");
    c.wait(10_000_000).client_fin().server_fin();
    let mut p = c.into_packets();
    testkit::drop_packets(&mut p, &[4]);
    let r = run(&p);
    let gap_at = r
        .rec
        .events
        .iter()
        .position(|e| e.2 == Ev::Gap(100))
        .expect("a gap");
    let server_data = r
        .rec
        .events
        .iter()
        .position(|e| e.1 == Side::Server && matches!(e.2, Ev::Data(_)))
        .expect("server data");
    assert!(gap_at < server_data, "{:?}", r.rec.events);
    assert_eq!(r.rec.events[gap_at].1, Side::Client);
    assert_eq!(r.rec.bytes(1, Side::Client), vec![b'q'; 200]);
}

#[test]
fn lost_tail_acknowledged_by_peer() {
    let mut c = conv().mss(100);
    c.handshake().client_send(&[b'z'; 250]).server_ack();
    let mut p = c.into_packets();
    testkit::drop_packets(&mut p, &[5]); // the last 50 bytes
    let r = run(&p);
    assert_eq!(r.rec.gaps(1, Side::Client), 50);
    assert_eq!(r.rec.bytes(1, Side::Client).len(), 200);
}

#[test]
fn snaplen_cut_is_a_gap() {
    let mut c = conv().mss(120);
    c.handshake().client_send(&[b's'; 240]).client_fin();
    let mut p = c.into_packets();
    testkit::cut_payloads(&mut p, 50);
    let r = run(&p);
    assert_eq!(
        r.rec.side(1, Side::Client),
        vec![
            Ev::Data(vec![b's'; 50]),
            Ev::Gap(70),
            Ev::Data(vec![b's'; 50]),
            Ev::Gap(70),
            Ev::Fin
        ]
    );
    assert_eq!(r.stats.gap_bytes, 140);
}

#[test]
fn hole_times_out_in_packet_time() {
    let mut c = conv().mss(100);
    c.handshake().client_send(&[b'h'; 300]);
    c.wait(7_000_000).server_send(b"HTTP/1.1 200 OK\r\n\r\n");
    let mut p = c.into_packets();
    testkit::drop_packets(&mut p, &[3]);
    // No ACK covers the hole: it goes after `hole_timeout_us` of packet time.
    let r = run(&p);
    let gap_at = r.rec.events.iter().position(|e| e.2 == Ev::Gap(100));
    let server_data = r.rec.events.iter().position(|e| e.1 == Side::Server);
    assert!(
        gap_at.is_some() && gap_at < server_data,
        "{:?}",
        r.rec.events
    );
}

#[test]
fn server_packets_first_keep_roles() {
    // Non-proxy ports where the lower port is the client's: only the SYN-ACK tells.
    let mut c = TcpConv::new(addr("192.168.0.5:1025"), addr("192.168.0.9:40000")).mss(500);
    c.handshake()
        .client_send(b"GET / HTTP/1.1\r\n\r\n")
        .server_send(b"HTTP/1.1 200 OK\r\n\r\n");
    let mut p = c.packets().to_vec();
    p.swap(0, 1); // SYN-ACK captured before the SYN
    p.swap(3, 4); // the response before the request
    let r = run(&p);
    let m = &r.rec.closed[0];
    assert_eq!((m.client_port, m.server_port), (1025, 40000));
    assert!(m.syn_seen);
    assert_eq!(r.rec.bytes(1, Side::Client), b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(r.rec.bytes(1, Side::Server), b"HTTP/1.1 200 OK\r\n\r\n");
    assert_eq!(r.stats.tcp_connections, 1);
}

#[test]
fn mid_connection_roles_from_payload() {
    // No handshake, no proxy port, lower port on the client: the response comes first.
    let mut c =
        TcpConv::new(addr("192.168.0.5:1025"), addr("192.168.0.9:40000")).isn(123_456, 987_654);
    c.server_send(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
        .client_send(b"CONNECT a:443 HTTP/1.1\r\n\r\n");
    let r = run(c.packets());
    let m = &r.rec.closed[0];
    assert_eq!((m.client_port, m.server_port), (1025, 40000));
    assert!(!m.syn_seen);
    assert_eq!(r.rec.bytes(1, Side::Server), c.server_bytes());
    assert_eq!(r.rec.bytes(1, Side::Client), c.client_bytes());
}

#[test]
fn mid_connection_on_proxy_port() {
    let mut c = conv().isn(77, 99).mss(400);
    c.client_send(&request()).server_send(&response());
    let r = run(c.packets());
    let m = &r.rec.closed[0];
    assert_eq!(m.server_port, 3128);
    assert!(!m.syn_seen);
    assert_eq!(r.rec.bytes(1, Side::Client), c.client_bytes());
    assert_eq!(r.rec.bytes(1, Side::Server), c.server_bytes());
}

#[test]
fn rst_after_holes_becomes_gap_then_rst() {
    let mut c = conv().mss(100);
    c.handshake().client_send(&[b'r'; 300]).client_rst();
    c.wait(5_000_000).server_ack(); // a late packet
    let mut p = c.into_packets();
    testkit::drop_packets(&mut p, &[4]);
    let r = run(&p);
    assert_eq!(
        r.rec.side(1, Side::Client),
        vec![
            Ev::Data(vec![b'r'; 100]),
            Ev::Gap(100),
            Ev::Data(vec![b'r'; 100]),
            Ev::Rst
        ]
    );
    assert_eq!(r.rec.closed.len(), 1);
}

#[test]
fn closed_connection_lingers_then_leaves_and_new_syn_is_new_connection() {
    let c1 = exchange(conv());
    let end = c1.packets().last().unwrap().ts;
    let c2 = exchange(conv().isn(900_000, 1).start(end.plus_micros(1_000)));
    let c3 = exchange(conv().isn(12, 13).start(end.plus_micros(60_000_000)));
    let p = testkit::merge(vec![
        c1.into_packets(),
        c2.into_packets(),
        c3.into_packets(),
    ]);
    let mut t: FlowTable<u32> = FlowTable::new(FlowLimits::default());
    let mut rec = Rec::default();
    for pk in &p {
        t.segment(&segment(pk), &mut rec);
        if pk.ts > end.plus_micros(30_000_000) && rec.closed.len() < 2 {
            t.advance(ts(pk.ts), &mut rec);
            // Both earlier connections closed and lingered out.
            assert_eq!(rec.closed.len(), 2);
        }
    }
    t.finish(ts(p.last().unwrap().ts), &mut rec);
    assert_eq!(t.stats().tcp_connections, 3);
    let ids: Vec<u64> = rec.closed.iter().map(|m| m.id).collect();
    assert_eq!(ids, vec![1, 2, 3]);
    for id in 1..=3 {
        assert_eq!(rec.bytes(id, Side::Client), request());
        assert_eq!(rec.side(id, Side::Server).last(), Some(&Ev::Fin));
    }
}

#[test]
fn unanswered_syns_to_proxy_port_fail_once() {
    let mut c = conv();
    c.syn().wait(1_000_000).syn().wait(2_000_000).syn();
    let mut p = c.into_packets();
    // Later traffic moves packet time past the SYN timeout.
    let mut other = TcpConv::new(addr("10.9.9.9:1111"), addr("10.9.9.8:80"))
        .start(p[0].ts.plus_micros(20_000_000));
    other.handshake();
    p.extend(other.into_packets());
    let r = run(&p);
    assert_eq!(r.rec.failed.len(), 1);
    let f = &r.rec.failed[0];
    assert!(!f.reset);
    assert_eq!(f.syns, 3);
    assert_eq!((f.client_port, f.server_port), (50000, 3128));
    assert_eq!(r.stats.tcp_connections, 2);
    // The unanswered SYNs were only ever half-open: no connection state, none closed.
    assert_eq!(r.rec.closed.len(), 1);
}

#[test]
fn unanswered_syn_at_the_end_fails() {
    let mut c = conv();
    c.syn();
    let r = run(c.packets());
    assert_eq!(r.rec.failed.len(), 1);
    assert_eq!(r.rec.failed[0].syns, 1);
}

#[test]
fn syn_refused_by_rst_fails_with_reset() {
    let mut c = conv();
    c.syn().server_rst();
    let r = run(c.packets());
    assert_eq!(r.rec.failed.len(), 1);
    assert!(r.rec.failed[0].reset);
    assert_eq!(r.stats.tcp_connections, 1);
    assert!(r.rec.events.is_empty());
}

#[test]
fn unanswered_syn_to_other_port_is_not_an_attempt() {
    let mut c = TcpConv::new(addr("10.0.0.1:40000"), addr("10.0.0.2:443"));
    c.syn().syn();
    let r = run(c.packets());
    assert!(r.rec.failed.is_empty());
    assert_eq!(r.stats.tcp_connections, 1);
}

#[test]
fn answered_syn_is_not_a_failure() {
    let c = exchange(conv());
    let mut p = c.packets().to_vec();
    testkit::duplicate(&mut p, &[0]); // a SYN retransmission
    let r = run(&p);
    assert!(r.rec.failed.is_empty());
    assert_eq!(r.stats.tcp_connections, 1);
}

#[test]
fn full_table_evicts_least_recently_active() {
    let mut lists = Vec::new();
    for i in 0..6u16 {
        let mut c = TcpConv::new(
            addr(&format!("10.0.0.{}:{}", i + 1, 40000 + i)),
            addr("10.2.2.2:3128"),
        )
        .start(testkit::Ts(1_000_000 + i64::from(i) * 1000))
        .step(100);
        c.handshake().client_send(b"GET / HTTP/1.1\r\n\r\n");
        lists.push(c.into_packets());
    }
    let p = testkit::merge(lists);
    let limits = FlowLimits {
        max_connections: 4,
        ..FlowLimits::default()
    };
    let r = run_with(&p, limits);
    assert_eq!(r.stats.tcp_connections, 6);
    assert_eq!(r.stats.evicted_full, 2);
    assert!(r.max_len <= 4);
    assert_eq!(r.rec.closed.len(), 6);
    // The evicted ones were the least recently active: the first two.
    assert_eq!(r.rec.closed[0].id, 1);
    assert_eq!(r.rec.closed[1].id, 2);
    for id in 1..=6 {
        assert_eq!(r.rec.bytes(id, Side::Client), b"GET / HTTP/1.1\r\n\r\n");
    }
}

#[test]
fn idle_connections_expire() {
    let mut c = conv();
    c.handshake().client_send(b"GET / HTTP/1.1\r\n\r\n");
    let mut p = c.into_packets();
    let mut later = TcpConv::new(addr("10.9.9.9:1111"), addr("10.9.9.8:80"))
        .start(p[0].ts.plus_micros(400_000_000));
    later.handshake();
    p.extend(later.into_packets());
    let limits = FlowLimits {
        idle_timeout_us: 60_000_000,
        ..FlowLimits::default()
    };
    let r = run_with(&p, limits);
    assert_eq!(r.stats.expired_idle, 1);
    assert_eq!(r.rec.closed[0].id, 1);
}

#[test]
fn buffer_cap_forces_gap_and_is_counted() {
    let mut c = conv().mss(100);
    c.handshake().client_send(&[b'b'; 5000]).client_fin();
    let mut p = c.into_packets();
    testkit::drop_packets(&mut p, &[3]);
    let limits = FlowLimits {
        max_buffered_per_stream: 1000,
        ..FlowLimits::default()
    };
    let r = run_with(&p, limits);
    assert!(r.stats.buffer_limit_hits >= 1);
    assert!(r.max_buffered <= 1000);
    assert_eq!(r.rec.gaps(1, Side::Client), 100);
    assert_eq!(r.rec.bytes(1, Side::Client), vec![b'b'; 4900]);
    // The gap came before the end, as soon as the buffer was full.
    assert_eq!(r.rec.side(1, Side::Client)[0], Ev::Gap(100));
}

#[test]
fn global_budget_bounds_all_streams() {
    let mut lists = Vec::new();
    for i in 0..4u16 {
        let mut c = TcpConv::new(
            addr(&format!("10.0.0.{}:{}", i + 1, 40000 + i)),
            addr("10.2.2.2:3128"),
        )
        .mss(100)
        .start(testkit::Ts(1_000_000 + i64::from(i)))
        .step(10);
        c.handshake().client_send(&[b'g'; 3000]);
        let mut p = c.into_packets();
        testkit::drop_packets(&mut p, &[3]);
        lists.push(p);
    }
    let p = testkit::merge(lists);
    let limits = FlowLimits {
        max_buffered_total: 2500,
        ..FlowLimits::default()
    };
    let r = run_with(&p, limits);
    assert!(r.max_buffered <= 2500, "{}", r.max_buffered);
    assert!(r.stats.buffer_limit_hits >= 1);
    for id in 1..=4 {
        assert_eq!(r.rec.gaps(id, Side::Client), 100);
        assert_eq!(r.rec.bytes(id, Side::Client).len(), 2900);
    }
}

/// How to mangle the data phase of an exchange.
struct Mangle {
    mss: usize,
    isn: (u32, u32),
    seed: u64,
    window: usize,
    dup: u32,
    overlap: bool,
}

/// Builds an exchange whose data phase is shuffled, duplicated and resegmented.
fn mangled(req: &[u8], resp: &[u8], m: Mangle) -> (TcpConv, Vec<Packet>) {
    let Mangle {
        mss,
        isn,
        seed,
        window,
        dup,
        overlap,
    } = m;
    let mut c = conv().mss(mss).isn(isn.0, isn.1);
    c.handshake()
        .client_send(req)
        .server_send(resp)
        .client_fin()
        .server_fin();
    let mut p = c.packets().to_vec();
    let mut data = p.split_off(3);
    if overlap {
        testkit::resegment_overlapping(&mut data, seed);
    }
    testkit::duplicate_random(&mut data, dup, seed ^ 1);
    testkit::reorder(&mut data, window, seed ^ 2);
    p.extend(data);
    (c, p)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_reordering_without_loss_delivers_exactly(
        req in proptest::collection::vec(any::<u8>(), 1..3000),
        resp in proptest::collection::vec(any::<u8>(), 1..3000),
        mss in 1usize..400,
        isn in (any::<u32>(), any::<u32>()),
        seed in any::<u64>(),
        window in 1usize..10,
        dup in 0u32..50,
        overlap in any::<bool>(),
    ) {
        let (c, p) = mangled(&req, &resp, Mangle { mss, isn, seed, window, dup, overlap });
        let r = run(&p);
        prop_assert_eq!(r.rec.bytes(1, Side::Client), c.client_bytes().to_vec());
        prop_assert_eq!(r.rec.bytes(1, Side::Server), c.server_bytes().to_vec());
        prop_assert_eq!(r.stats.gap_bytes, 0);
        prop_assert_eq!(r.rec.side(1, Side::Client).pop(), Some(Ev::Fin));
        prop_assert_eq!(r.rec.side(1, Side::Server).pop(), Some(Ev::Fin));
    }

    #[test]
    fn with_loss_delivered_plus_gaps_is_the_length(
        req in proptest::collection::vec(any::<u8>(), 1..3000),
        resp in proptest::collection::vec(any::<u8>(), 1..3000),
        mss in 1usize..400,
        isn in (any::<u32>(), any::<u32>()),
        seed in any::<u64>(),
        window in 1usize..10,
        loss_percent in 1usize..40,
    ) {
        let (c, mut p) = mangled(&req, &resp, Mangle { mss, isn, seed, window, dup: 10, overlap: false });
        let mut rng = testkit::rng::XorShift::new(seed ^ 3);
        let lose: Vec<usize> = (3..p.len())
            .filter(|&i| !p[i].payload.is_empty() && rng.below(100) < loss_percent)
            .collect();
        testkit::drop_packets(&mut p, &lose);
        let r = run(&p);
        for (side, orig) in [(Side::Client, c.client_bytes()), (Side::Server, c.server_bytes())] {
            let got = r.rec.bytes(1, side).len() as u64 + r.rec.gaps(1, side);
            prop_assert_eq!(got, orig.len() as u64);
        }
        let total_gaps = r.rec.gaps(1, Side::Client) + r.rec.gaps(1, Side::Server);
        prop_assert_eq!(r.stats.gap_bytes, total_gaps);
    }
}
