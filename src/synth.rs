//! Synthetic captures for tests, benchmarks and the traffic generator: owns building TCP
//! conversations packet by packet, transforming the packet list the way a lossy or
//! reordering capture point would, and writing pcap (µs or ns) and pcapng files with a
//! chosen link type. It does not read captures.
//!
//! ```
//! use proxy407::synth::{CaptureWriter, LinkKind, Resolution, TcpConv};
//! let mut c = TcpConv::new("10.0.0.1:50000".parse().unwrap(), "10.0.0.2:3128".parse().unwrap());
//! c.handshake().client_send(b"GET http://a/ HTTP/1.1\r\n\r\n").server_ack().client_fin();
//! let mut w = CaptureWriter::pcap(Vec::new(), LinkKind::Ethernet, Resolution::Micro).unwrap();
//! w.write_all(c.packets()).unwrap();
//! assert!(w.into_inner().len() > 24);
//! ```
//!
//! IPv4 header checksums and TCP checksums are computed by etherparse's `PacketBuilder`.

use crate::decode::{Segment, TcpFlags};
use crate::model::Ts;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};

/// The link layer a frame is written with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    Ethernet,
    /// Ethernet with one 802.1Q tag of this VLAN id.
    EthernetVlan(u16),
    /// Linux "cooked" capture v1 (LINKTYPE_LINUX_SLL).
    LinuxSll,
    /// Linux "cooked" capture v2 (LINKTYPE_LINUX_SLL2).
    LinuxSll2,
    /// Raw IPv4/IPv6 (LINKTYPE_RAW).
    RawIp,
    /// BSD loopback (LINKTYPE_NULL), address family in host (little-endian) order.
    Null,
}

impl LinkKind {
    /// The LINKTYPE_ number.
    pub fn link_type(self) -> u32 {
        match self {
            LinkKind::Ethernet | LinkKind::EthernetVlan(_) => 1,
            LinkKind::LinuxSll => 113,
            LinkKind::LinuxSll2 => 276,
            LinkKind::RawIp => 101,
            LinkKind::Null => 0,
        }
    }

    /// Prepends this link's header to an IP packet.
    fn wrap(self, ip: &[u8], v6: bool) -> Vec<u8> {
        let ethertype: u16 = if v6 { 0x86dd } else { 0x0800 };
        let mut f = Vec::with_capacity(ip.len() + 20);
        let dst_mac = [0x02, 0, 0, 0, 0, 0x02];
        let src_mac = [0x02, 0, 0, 0, 0, 0x01];
        match self {
            LinkKind::Ethernet => {
                f.extend_from_slice(&dst_mac);
                f.extend_from_slice(&src_mac);
                f.extend_from_slice(&ethertype.to_be_bytes());
            }
            LinkKind::EthernetVlan(id) => {
                f.extend_from_slice(&dst_mac);
                f.extend_from_slice(&src_mac);
                f.extend_from_slice(&0x8100u16.to_be_bytes());
                f.extend_from_slice(&(id & 0x0fff).to_be_bytes());
                f.extend_from_slice(&ethertype.to_be_bytes());
            }
            LinkKind::LinuxSll => {
                f.extend_from_slice(&0u16.to_be_bytes()); // packet type: to us
                f.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
                f.extend_from_slice(&6u16.to_be_bytes());
                f.extend_from_slice(&src_mac);
                f.extend_from_slice(&[0, 0]);
                f.extend_from_slice(&ethertype.to_be_bytes());
            }
            LinkKind::LinuxSll2 => {
                f.extend_from_slice(&ethertype.to_be_bytes());
                f.extend_from_slice(&0u16.to_be_bytes()); // reserved
                f.extend_from_slice(&1u32.to_be_bytes()); // interface index
                f.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
                f.push(0); // packet type
                f.push(6);
                f.extend_from_slice(&src_mac);
                f.extend_from_slice(&[0, 0]);
            }
            LinkKind::RawIp => {}
            LinkKind::Null => {
                let af: u32 = if v6 { 30 } else { 2 };
                f.extend_from_slice(&af.to_le_bytes());
            }
        }
        f.extend_from_slice(ip);
        f
    }
}

/// Timestamp resolution of a pcap file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    Micro,
    Nano,
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
    fn captured(&self) -> &[u8] {
        match self.captured_payload {
            Some(n) => self.payload.get(..n).unwrap_or(&self.payload),
            None => &self.payload,
        }
    }

    /// The segment the decoder would make of this packet (for driving the flow table
    /// without encoding frames).
    pub fn segment(&self) -> Segment<'_> {
        let captured = self.captured();
        Segment {
            ts: self.ts,
            src_ip: self.src.ip(),
            src_port: self.src.port(),
            dst_ip: self.dst.ip(),
            dst_port: self.dst.port(),
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            payload: captured,
            missing_payload: (self.payload.len() - captured.len()) as u32,
        }
    }

    /// The IP packet (IPv4 or IPv6 by the addresses) with valid checksums.
    pub fn ip_bytes(&self) -> Vec<u8> {
        use etherparse::PacketBuilder;
        let ip = match (self.src.ip(), self.dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ipv4(s.octets(), d.octets(), 64),
            (s, d) => PacketBuilder::ipv6(v6(s), v6(d), 64),
        };
        let mut t = ip.tcp(self.src.port(), self.dst.port(), self.seq, self.window);
        if self.flags.syn {
            t = t.syn();
        }
        if self.flags.fin {
            t = t.fin();
        }
        if self.flags.rst {
            t = t.rst();
        }
        if self.flags.psh {
            t = t.psh();
        }
        if self.flags.ack {
            t = t.ack(self.ack);
        }
        let mut out = Vec::with_capacity(60 + self.payload.len());
        // Writing into a Vec fails only for payloads over 64 KiB, which the builder never makes.
        if t.write(&mut out, &self.payload).is_err() {
            out.clear();
        }
        out
    }

    /// The frame as captured with `link` and its length on the wire.
    pub fn frame(&self, link: LinkKind) -> (Vec<u8>, u32) {
        let mut f = link.wrap(&self.ip_bytes(), self.src.is_ipv6());
        let orig = f.len() as u32;
        let cut = self.payload.len() - self.captured().len();
        f.truncate(f.len() - cut);
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

/// A small seeded generator (xorshift64*), so transforms are reproducible.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15 | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// Shuffles packets within consecutive windows of `window` packets. Timestamps stay in
/// capture order (the i-th packet keeps the i-th time), as a capture point that saw the
/// segments out of order would record them.
pub fn reorder(pkts: &mut [Packet], window: usize, seed: u64) {
    let mut rng = Rng::new(seed);
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
    let mut rng = Rng::new(seed);
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
    let mut rng = Rng::new(seed);
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Pcap,
    Pcapng,
}

/// Writes packets as a pcap or pcapng file.
pub struct CaptureWriter<W: Write> {
    w: W,
    format: Format,
    links: Vec<LinkKind>,
    res: Resolution,
}

const SNAPLEN: u32 = 262_144;

impl<W: Write> CaptureWriter<W> {
    /// A pcap file with one link type; writes the file header.
    pub fn pcap(mut w: W, link: LinkKind, res: Resolution) -> io::Result<Self> {
        let magic: u32 = match res {
            Resolution::Micro => 0xa1b2_c3d4,
            Resolution::Nano => 0xa1b2_3c4d,
        };
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&magic.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&SNAPLEN.to_le_bytes());
        h.extend_from_slice(&link.link_type().to_le_bytes());
        w.write_all(&h)?;
        Ok(CaptureWriter {
            w,
            format: Format::Pcap,
            links: vec![link],
            res,
        })
    }

    /// A pcapng file with one interface per link kind, µs timestamps.
    pub fn pcapng(w: W, links: &[LinkKind]) -> io::Result<Self> {
        Self::pcapng_with(w, links, Resolution::Micro)
    }

    /// A pcapng file with one interface per link kind and the given resolution
    /// (`if_tsresol`).
    pub fn pcapng_with(mut w: W, links: &[LinkKind], res: Resolution) -> io::Result<Self> {
        // Section header block.
        let mut b = Vec::new();
        b.extend_from_slice(&0x0a0d_0d0au32.to_le_bytes());
        b.extend_from_slice(&28u32.to_le_bytes());
        b.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&(-1i64).to_le_bytes());
        b.extend_from_slice(&28u32.to_le_bytes());
        for link in links {
            // Interface description block with if_tsresol.
            let tsresol: u8 = match res {
                Resolution::Micro => 6,
                Resolution::Nano => 9,
            };
            let len: u32 = 20 + 8 + 4;
            b.extend_from_slice(&1u32.to_le_bytes());
            b.extend_from_slice(&len.to_le_bytes());
            b.extend_from_slice(&(link.link_type() as u16).to_le_bytes());
            b.extend_from_slice(&0u16.to_le_bytes());
            b.extend_from_slice(&SNAPLEN.to_le_bytes());
            b.extend_from_slice(&9u16.to_le_bytes());
            b.extend_from_slice(&1u16.to_le_bytes());
            b.extend_from_slice(&[tsresol, 0, 0, 0]);
            b.extend_from_slice(&0u32.to_le_bytes()); // opt_endofopt
            b.extend_from_slice(&len.to_le_bytes());
        }
        w.write_all(&b)?;
        Ok(CaptureWriter {
            w,
            format: Format::Pcapng,
            links: links.to_vec(),
            res,
        })
    }

    /// Writes a packet on the first interface.
    pub fn write(&mut self, p: &Packet) -> io::Result<()> {
        self.write_on(0, p)
    }

    /// Writes a packet on interface `iface` (pcapng; pcap has only interface 0).
    pub fn write_on(&mut self, iface: usize, p: &Packet) -> io::Result<()> {
        let link = *self
            .links
            .get(iface)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no such interface"))?;
        let (frame, orig) = p.frame(link);
        self.write_frame(iface, p.ts, &frame, orig)
    }

    pub fn write_all(&mut self, ps: &[Packet]) -> io::Result<()> {
        ps.iter().try_for_each(|p| self.write(p))
    }

    /// Writes raw frame bytes (any content) with a timestamp and original length.
    pub fn write_frame(&mut self, iface: usize, ts: Ts, data: &[u8], orig: u32) -> io::Result<()> {
        let secs = ts.0.div_euclid(1_000_000);
        let micros = ts.0.rem_euclid(1_000_000);
        let caplen = data.len() as u32;
        let mut b = Vec::with_capacity(data.len() + 36);
        match self.format {
            Format::Pcap => {
                let frac = match self.res {
                    Resolution::Micro => micros,
                    Resolution::Nano => micros * 1000,
                };
                b.extend_from_slice(&(secs as u32).to_le_bytes());
                b.extend_from_slice(&(frac as u32).to_le_bytes());
                b.extend_from_slice(&caplen.to_le_bytes());
                b.extend_from_slice(&orig.to_le_bytes());
                b.extend_from_slice(data);
            }
            Format::Pcapng => {
                let units: u64 = match self.res {
                    Resolution::Micro => ts.0 as u64,
                    Resolution::Nano => (ts.0 as u64).wrapping_mul(1000),
                };
                let pad = (4 - data.len() % 4) % 4;
                let len = 32 + data.len() as u32 + pad as u32;
                b.extend_from_slice(&6u32.to_le_bytes());
                b.extend_from_slice(&len.to_le_bytes());
                b.extend_from_slice(&(iface as u32).to_le_bytes());
                b.extend_from_slice(&((units >> 32) as u32).to_le_bytes());
                b.extend_from_slice(&(units as u32).to_le_bytes());
                b.extend_from_slice(&caplen.to_le_bytes());
                b.extend_from_slice(&orig.to_le_bytes());
                b.extend_from_slice(data);
                b.extend(std::iter::repeat_n(0u8, pad));
                b.extend_from_slice(&len.to_le_bytes());
            }
        }
        self.w.write_all(&b)
    }

    pub fn into_inner(self) -> W {
        self.w
    }
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
        assert!(p.iter().all(|x| x.segment().payload.len() <= 3));
    }
}
