//! TCP conversations for test captures: [`TcpConv`] builds a connection packet by packet
//! (handshake, data cut at the MSS, FIN and RST closes, with the sequence numbers a real
//! stack uses), and the transforms a lossy or reordering capture point would apply to the
//! packet list (reorder, duplicate, resegment with overlap, drop, snap-length cuts, merge).
//! Frames are made by `frame`, files by `pcap`.
//!
//! ```
//! use proxy407_testkit::{CaptureWriter, LinkKind, Resolution, TcpConv};
//! let mut c = TcpConv::new("10.0.0.1:50000".parse().unwrap(), "10.0.0.2:3128".parse().unwrap());
//! c.handshake().client_send(b"GET http://a/ HTTP/1.1\r\n\r\n").server_ack().client_fin();
//! let mut w = CaptureWriter::pcap(Vec::new(), LinkKind::Ethernet, Resolution::Micro).unwrap();
//! w.write_all(c.packets()).unwrap();
//! assert!(w.into_inner().len() > 24);
//! ```

use crate::frame::{self, push_tcp, LinkKind, TcpFields, Template};
use crate::rng::XorShift;
use crate::time::Ts;
use std::net::{IpAddr, SocketAddr};

/// The TCP flags a test packet can carry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
    pub psh: bool,
}

impl TcpFlags {
    /// The flag bits of the TCP header.
    pub fn bits(self) -> u8 {
        let mut b = 0;
        for (on, bit) in [
            (self.fin, frame::FIN),
            (self.syn, frame::SYN),
            (self.rst, frame::RST),
            (self.psh, frame::PSH),
            (self.ack, frame::ACK),
        ] {
            if on {
                b |= bit;
            }
        }
        b
    }
}

/// One TCP segment of a synthetic capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    pub ts: Ts,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub payload: Vec<u8>,
    /// When set, only this many payload bytes are captured (a snap-length cut); the rest
    /// are on the wire only (counted in the record's original length).
    pub captured_payload: Option<usize>,
}

impl Packet {
    /// The payload bytes that were captured.
    pub fn captured(&self) -> &[u8] {
        match self.captured_payload {
            Some(n) => self.payload.get(..n).unwrap_or(&self.payload),
            None => &self.payload,
        }
    }

    /// Payload bytes on the wire but not captured.
    pub fn missing(&self) -> usize {
        self.payload.len() - self.captured().len()
    }

    /// The frame template of this packet's direction with `link` (TTL 64, IP ID 0).
    fn template(&self, link: &[u8]) -> Template {
        let (s, d) = match (self.src.ip(), self.dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => (s.octets().to_vec(), d.octets().to_vec()),
            (s, d) => (v6(s).to_vec(), v6(d).to_vec()),
        };
        Template::new(link, &s, &d, self.src.port(), self.dst.port(), 64)
    }

    fn fields(&self) -> TcpFields {
        TcpFields {
            seq: self.seq,
            ack: if self.flags.ack { self.ack } else { 0 },
            flags: self.flags.bits(),
            window: self.window,
            ip_id: 0,
        }
    }

    /// Whether the IP length fields can hold this packet.
    fn fits(&self, t: &Template) -> bool {
        let ip_header = if t.is_v6() { 0 } else { 20 };
        ip_header + 20 + self.payload.len() <= usize::from(u16::MAX)
    }

    /// The IP packet (IPv4 or IPv6 by the addresses) with valid checksums; empty when the
    /// payload is too large for the IP length fields.
    pub fn ip_bytes(&self) -> Vec<u8> {
        let t = self.template(&[]);
        let mut out = Vec::with_capacity(60 + self.payload.len());
        if self.fits(&t) {
            push_tcp(&mut out, &t, self.fields(), &[], |b| {
                b.extend_from_slice(&self.payload)
            });
        }
        out
    }

    /// The frame as captured with `link` and its length on the wire.
    pub fn frame(&self, link: LinkKind) -> (Vec<u8>, u32) {
        let t = self.template(&link.header(self.src.is_ipv6()));
        let mut f = Vec::with_capacity(80 + self.payload.len());
        if self.fits(&t) {
            push_tcp(&mut f, &t, self.fields(), &[], |b| {
                b.extend_from_slice(&self.payload)
            });
        } else {
            f = link.header(self.src.is_ipv6());
        }
        let orig = f.len() as u32;
        let cut = self.missing();
        f.truncate(f.len().saturating_sub(cut));
        (f, orig)
    }
}

fn v6(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
    }
}

/// One TCP connection, built packet by packet with timestamps advancing by `step`.
#[derive(Clone, Debug)]
pub struct TcpConv {
    client: SocketAddr,
    server: SocketAddr,
    /// Next sequence number of each side.
    client_next: u32,
    server_next: u32,
    ts: Ts,
    step_us: i64,
    mss: usize,
    packets: Vec<Packet>,
    client_bytes: Vec<u8>,
    server_bytes: Vec<u8>,
}

impl TcpConv {
    /// ISNs 1000 (client) and 5000 (server), start 2025-01-01T00:00:00Z, 1 ms per packet,
    /// MSS 1460.
    pub fn new(client: SocketAddr, server: SocketAddr) -> Self {
        TcpConv {
            client,
            server,
            client_next: 1000,
            server_next: 5000,
            ts: Ts(1_735_689_600_000_000),
            step_us: 1000,
            mss: 1460,
            packets: Vec::new(),
            client_bytes: Vec::new(),
            server_bytes: Vec::new(),
        }
    }
    /// Initial sequence numbers (for a capture without handshake: the first data byte's).
    pub fn isn(mut self, client: u32, server: u32) -> Self {
        self.client_next = client;
        self.server_next = server;
        self
    }
    pub fn start(mut self, ts: Ts) -> Self {
        self.ts = ts;
        self
    }
    /// Time between packets, in µs.
    pub fn step(mut self, us: i64) -> Self {
        self.step_us = us;
        self
    }
    /// Largest payload per segment (at least 1).
    pub fn mss(mut self, mss: usize) -> Self {
        self.mss = mss.max(1);
        self
    }
    /// Lets packet time pass.
    pub fn wait(&mut self, us: i64) -> &mut Self {
        self.ts = self.ts.plus_micros(us);
        self
    }

    fn push(&mut self, from_client: bool, flags: TcpFlags, payload: &[u8]) {
        let (src, dst, seq, ack) = if from_client {
            (self.client, self.server, self.client_next, self.server_next)
        } else {
            (self.server, self.client, self.server_next, self.client_next)
        };
        self.packets.push(Packet {
            ts: self.ts,
            src,
            dst,
            seq,
            ack: if flags.ack { ack } else { 0 },
            flags,
            window: 64240,
            payload: payload.to_vec(),
            captured_payload: None,
        });
        self.ts = self.ts.plus_micros(self.step_us);
        let used = payload.len() as u32 + u32::from(flags.syn) + u32::from(flags.fin);
        if from_client {
            self.client_next = self.client_next.wrapping_add(used);
        } else {
            self.server_next = self.server_next.wrapping_add(used);
        }
    }

    /// A client SYN (call again for a retransmission with the same ISN).
    pub fn syn(&mut self) -> &mut Self {
        let retrans = self
            .packets
            .iter()
            .any(|p| p.flags.syn && !p.flags.ack && p.src == self.client);
        if retrans {
            self.client_next = self.client_next.wrapping_sub(1);
        }
        let flags = TcpFlags {
            syn: true,
            ..TcpFlags::default()
        };
        self.push(true, flags, &[]);
        self
    }
    pub fn syn_ack(&mut self) -> &mut Self {
        let flags = TcpFlags {
            syn: true,
            ack: true,
            ..TcpFlags::default()
        };
        self.push(false, flags, &[]);
        self
    }
    /// SYN, SYN-ACK, ACK.
    pub fn handshake(&mut self) -> &mut Self {
        self.syn().syn_ack().client_ack()
    }
    fn ack_flags() -> TcpFlags {
        TcpFlags {
            ack: true,
            ..TcpFlags::default()
        }
    }
    /// A pure ACK from the client of everything the server sent.
    pub fn client_ack(&mut self) -> &mut Self {
        self.push(true, Self::ack_flags(), &[]);
        self
    }
    /// A pure ACK from the server of everything the client sent.
    pub fn server_ack(&mut self) -> &mut Self {
        self.push(false, Self::ack_flags(), &[]);
        self
    }
    fn send(&mut self, from_client: bool, bytes: &[u8]) {
        for chunk in bytes.chunks(self.mss) {
            let flags = TcpFlags {
                ack: true,
                psh: true,
                ..TcpFlags::default()
            };
            self.push(from_client, flags, chunk);
        }
        if from_client {
            self.client_bytes.extend_from_slice(bytes);
        } else {
            self.server_bytes.extend_from_slice(bytes);
        }
    }
    /// Client payload, split into MSS-sized segments.
    pub fn client_send(&mut self, bytes: &[u8]) -> &mut Self {
        self.send(true, bytes);
        self
    }
    /// Server payload, split into MSS-sized segments.
    pub fn server_send(&mut self, bytes: &[u8]) -> &mut Self {
        self.send(false, bytes);
        self
    }
    fn fin(&mut self, from_client: bool) {
        let flags = TcpFlags {
            fin: true,
            ack: true,
            ..TcpFlags::default()
        };
        self.push(from_client, flags, &[]);
    }
    pub fn client_fin(&mut self) -> &mut Self {
        self.fin(true);
        self
    }
    pub fn server_fin(&mut self) -> &mut Self {
        self.fin(false);
        self
    }
    fn rst(&mut self, from_client: bool, with_ack: bool) {
        let flags = TcpFlags {
            rst: true,
            ack: with_ack,
            ..TcpFlags::default()
        };
        self.push(from_client, flags, &[]);
    }
    pub fn client_rst(&mut self) -> &mut Self {
        self.rst(true, true);
        self
    }
    /// A server RST with ACK (as a refused SYN gets, too).
    pub fn server_rst(&mut self) -> &mut Self {
        self.rst(false, true);
        self
    }
    pub fn packets(&self) -> &[Packet] {
        &self.packets
    }
    pub fn into_packets(self) -> Vec<Packet> {
        self.packets
    }
    /// Every payload byte the client sent, in order.
    pub fn client_bytes(&self) -> &[u8] {
        &self.client_bytes
    }
    pub fn server_bytes(&self) -> &[u8] {
        &self.server_bytes
    }
}

/// Shuffles packets within consecutive windows of `window` packets. Timestamps stay in
/// capture order (the i-th packet keeps the i-th time), as a capture point that saw the
/// segments out of order would record them.
pub fn reorder(pkts: &mut [Packet], window: usize, seed: u64) {
    let mut rng = XorShift::new(seed);
    let times: Vec<Ts> = pkts.iter().map(|p| p.ts).collect();
    for w in pkts.chunks_mut(window.max(1)) {
        for i in (1..w.len()).rev() {
            let j = rng.below(i + 1);
            w.swap(i, j);
        }
    }
    for (p, t) in pkts.iter_mut().zip(times) {
        p.ts = t;
    }
}

/// Repeats the packets at `indices` right after themselves (retransmissions).
pub fn duplicate(pkts: &mut Vec<Packet>, indices: &[usize]) {
    let mut idx: Vec<usize> = indices
        .iter()
        .copied()
        .filter(|&i| i < pkts.len())
        .collect();
    idx.sort_unstable();
    idx.dedup();
    for &i in idx.iter().rev() {
        let copy = pkts[i].clone();
        pkts.insert(i + 1, copy);
    }
}

/// Retransmits each data packet with probability `percent`/100, a few packets later.
pub fn duplicate_random(pkts: &mut Vec<Packet>, percent: u32, seed: u64) {
    let mut rng = XorShift::new(seed);
    let mut i = 0;
    while i < pkts.len() {
        if !pkts[i].payload.is_empty() && rng.below(100) < percent as usize {
            let copy = pkts[i].clone();
            let at = (i + 1 + rng.below(4)).min(pkts.len());
            pkts.insert(at, copy);
            i += 1;
        }
        i += 1;
    }
}

/// Splits every data packet of at least 2 bytes at a random point into two segments that
/// overlap by up to 8 bytes (the overlapping bytes are the same, as in a real resend).
pub fn resegment_overlapping(pkts: &mut Vec<Packet>, seed: u64) {
    let mut rng = XorShift::new(seed);
    let mut out = Vec::with_capacity(pkts.len() * 2);
    for p in pkts.drain(..) {
        let len = p.payload.len();
        if len < 2 || p.flags.syn || p.flags.fin || p.flags.rst {
            out.push(p);
            continue;
        }
        let cut = 1 + rng.below(len - 1);
        let overlap = rng.below(cut.min(8) + 1);
        let mut first = p.clone();
        first.payload.truncate(cut);
        first.captured_payload = None;
        let mut second = p;
        let from = cut - overlap;
        second.payload.drain(..from);
        second.seq = second.seq.wrapping_add(from as u32);
        second.captured_payload = None;
        out.push(first);
        out.push(second);
    }
    *pkts = out;
}

/// Removes the packets at `indices` (loss); returns the payload bytes removed.
pub fn drop_packets(pkts: &mut Vec<Packet>, indices: &[usize]) -> usize {
    let mut lost = 0;
    let mut i = 0;
    pkts.retain(|p| {
        let gone = indices.contains(&i);
        i += 1;
        if gone {
            lost += p.payload.len();
        }
        !gone
    });
    lost
}

/// Cuts every packet's captured payload to at most `max_payload` bytes (a snap length).
pub fn cut_payloads(pkts: &mut [Packet], max_payload: usize) {
    for p in pkts {
        if p.payload.len() > max_payload {
            p.captured_payload = Some(max_payload);
        }
    }
}

/// Merges several packet lists by time (stable for equal times).
pub fn merge(lists: Vec<Vec<Packet>>) -> Vec<Packet> {
    let mut all: Vec<Packet> = lists.into_iter().flatten().collect();
    all.sort_by_key(|p| p.ts);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv() -> TcpConv {
        TcpConv::new(
            "10.0.0.1:50000".parse().unwrap(),
            "10.0.0.2:3128".parse().unwrap(),
        )
    }

    #[test]
    fn conversation_sequence_numbers() {
        let mut c = conv().isn(u32::MAX - 1, 7).mss(4);
        c.handshake().client_send(b"abcdefghij").client_fin();
        let p = c.packets();
        assert_eq!(p.len(), 7);
        assert_eq!(p[0].seq, u32::MAX - 1);
        assert_eq!(p[1].ack, u32::MAX);
        assert_eq!(p[3].seq, u32::MAX);
        assert_eq!(p[3].payload, b"abcd");
        assert_eq!(p[4].seq, 3);
        assert_eq!(p[6].seq, 9);
        assert!(p[6].flags.fin);
        assert!(p.windows(2).all(|w| w[0].ts < w[1].ts));
    }

    #[test]
    fn ipv4_checksums_are_valid() {
        let mut c = conv();
        c.handshake().client_send(b"hello");
        let ip = c.packets()[3].ip_bytes();
        // IPv4 header checksum: the one's complement sum over the header is 0xffff.
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        assert_eq!(ones_sum(&ip[..ihl]), 0xffff);
        // TCP checksum over the pseudo header and the segment.
        let tcp = &ip[ihl..];
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&ip[12..20]);
        pseudo.extend_from_slice(&[0, 6]);
        pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
        pseudo.extend_from_slice(tcp);
        assert_eq!(ones_sum(&pseudo), 0xffff);
        assert_eq!(&tcp[20..], b"hello");
    }

    fn ones_sum(b: &[u8]) -> u32 {
        let mut sum: u32 = 0;
        for w in b.chunks(2) {
            let hi = w[0];
            let lo = w.get(1).copied().unwrap_or(0);
            sum += u32::from(u16::from_be_bytes([hi, lo]));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum
    }

    #[test]
    fn transforms_keep_the_bytes() {
        let mut c = conv().mss(10);
        c.handshake().client_send(&[7u8; 95]);
        let mut p = c.into_packets();
        resegment_overlapping(&mut p, 3);
        reorder(&mut p, 5, 9);
        duplicate(&mut p, &[0, 4]);
        assert!(p.windows(2).all(|w| w[0].ts <= w[1].ts));
        let total: usize = p.iter().map(|x| x.payload.len()).sum();
        assert!(total >= 95);
        cut_payloads(&mut p, 3);
        assert!(p.iter().all(|x| x.captured().len() <= 3));
    }
}
