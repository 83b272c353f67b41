//! Tunnel and remote-mirror decapsulation, a sub-stage of [`crate::decode`].
//!
//! Owns the headers etherparse does not decode: GRE (RFC 2784 / 2890, with checksum, key and
//! sequence number), ERSPAN types I, II (0x88BE) and III (0x22EB, with and without the
//! platform sub-header), VXLAN (RFC 7348, UDP 4789 and the configured ports), Geneve
//! (RFC 8926, UDP 6081, options skipped), MPLS label stacks (IPv4 / IPv6 by the first nibble,
//! Ethernet pseudowires behind a control word), PPPoE sessions (PPP IPv4 / IPv6) and IP-in-IP
//! (4in4, 6in4, 4in6, 6in6). The inner Ethernet frame or IP packet goes back to `decode`
//! (VLAN / QinQ, IP, TCP, and further tunnels, at most [`MAX_DEPTH`] in all), so the segment
//! is the inner conversation and still borrows the frame: nothing is copied or allocated.
//!
//! What was peeled off is written into an [`Encapsulation`] (each tunnel by name, and the
//! outermost tunnel's session, VNI or key with its outer addresses) for the capture counters.
//! A plain frame never gets here: `decode` calls in only for an IP protocol other than TCP or
//! an EtherType other than IP and VLAN.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use crate::anomaly::DecodeAnomaly;
use crate::decode::{self, Decoded};
use crate::source::Frame;
use etherparse::{EtherType, Ethernet2Slice, IpNumber, UdpSlice};
use std::net::IpAddr;

/// The IANA port of VXLAN, always decoded (others with `--vxlan-port`).
pub const VXLAN_PORT: u16 = 4789;
/// The IANA port of Geneve.
pub const GENEVE_PORT: u16 = 6081;
/// At most this many tunnels are peeled off one frame; a deeper one is an anomaly.
pub const MAX_DEPTH: usize = 4;
/// At most this many MPLS labels are read before the payload.
const MAX_MPLS_LABELS: usize = 8;

/// GRE protocol types and EtherTypes this module follows.
mod proto {
    pub const IPV4: u16 = 0x0800;
    pub const IPV6: u16 = 0x86DD;
    pub const TRANSPARENT_ETHERNET: u16 = 0x6558;
    pub const ERSPAN_I_II: u16 = 0x88BE;
    pub const ERSPAN_III: u16 = 0x22EB;
    pub const MPLS_UNICAST: u16 = 0x8847;
    pub const MPLS_MULTICAST: u16 = 0x8848;
    pub const PPPOE_SESSION: u16 = 0x8864;
}

/// Whether and what to decapsulate (`--decap`, `--vxlan-port`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecapConfig {
    /// `--decap auto` (the default): every encapsulation below; `none`: tunnels are not
    /// looked into (their packets count as not TCP).
    pub enabled: bool,
    /// UDP ports carrying VXLAN besides [`VXLAN_PORT`].
    pub vxlan_ports: Vec<u16>,
    /// Ports of Kerberos KDCs besides 88 (`--kdc-port`): UDP to or from one is handed on as a
    /// [`Datagram`](crate::decode::Datagram), with tunnels on or off.
    pub kdc_ports: Vec<u16>,
}

impl DecapConfig {
    /// Everything decoded, VXLAN on its IANA port only.
    pub const AUTO: DecapConfig = DecapConfig {
        enabled: true,
        vxlan_ports: Vec::new(),
        kdc_ports: Vec::new(),
    };
    /// Nothing decapsulated (`--decap none`).
    pub const NONE: DecapConfig = DecapConfig {
        enabled: false,
        vxlan_ports: Vec::new(),
        kdc_ports: Vec::new(),
    };

    /// The UDP destination ports of the tunnels looked into (VXLAN, every `--vxlan-port`,
    /// Geneve), for a capture filter that must pass them; `None` with `--decap none`.
    pub fn tunnel_udp_ports(&self) -> Option<Vec<u16>> {
        if !self.enabled {
            return None;
        }
        let mut ports = vec![VXLAN_PORT, GENEVE_PORT];
        for p in &self.vxlan_ports {
            if !ports.contains(p) {
                ports.push(*p);
            }
        }
        Some(ports)
    }

    /// The KDC ports: 88 and every `--kdc-port`, each once.
    pub fn all_kdc_ports(&self) -> Vec<u16> {
        let mut ports = vec![crate::decode::KDC_PORT];
        for p in &self.kdc_ports {
            if !ports.contains(p) {
                ports.push(*p);
            }
        }
        ports
    }

    /// A KDC's port: 88, or one of `--kdc-port`.
    #[inline]
    pub fn is_kdc_port(&self, port: u16) -> bool {
        port == crate::decode::KDC_PORT || self.kdc_ports.contains(&port)
    }

    fn is_vxlan_port(&self, port: u16) -> bool {
        port == VXLAN_PORT || self.vxlan_ports.contains(&port)
    }
}

impl Default for DecapConfig {
    fn default() -> Self {
        DecapConfig::AUTO
    }
}

/// One encapsulation peeled off a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Encap {
    /// GRE carrying IP, Ethernet (transparent Ethernet bridging, 0x6558) or MPLS.
    Gre,
    /// ERSPAN type I: GRE 0x88BE without a sequence number, Ethernet right behind it.
    Erspan1,
    /// ERSPAN type II over GRE.
    Erspan2,
    /// ERSPAN type III over GRE.
    Erspan3,
    Vxlan,
    Geneve,
    /// An MPLS label stack (over Ethernet or GRE).
    Mpls,
    /// A PPPoE session.
    Pppoe,
    /// IPv4 or IPv6 directly inside IPv4 or IPv6 (IP protocols 4 and 41).
    IpInIp,
}

impl Encap {
    pub const ALL: [Encap; 9] = [
        Encap::Gre,
        Encap::Erspan1,
        Encap::Erspan2,
        Encap::Erspan3,
        Encap::Vxlan,
        Encap::Geneve,
        Encap::Mpls,
        Encap::Pppoe,
        Encap::IpInIp,
    ];

    /// The name in the capture counters and reports.
    pub fn name(self) -> &'static str {
        match self {
            Encap::Gre => "gre",
            Encap::Erspan1 => "erspan1",
            Encap::Erspan2 => "erspan2",
            Encap::Erspan3 => "erspan3",
            Encap::Vxlan => "vxlan",
            Encap::Geneve => "geneve",
            Encap::Mpls => "mpls",
            Encap::Pppoe => "pppoe",
            Encap::IpInIp => "ip_in_ip",
        }
    }

    /// The position in [`Encap::ALL`] (for per-kind counters).
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The outer end of a tunnel carried over IP: which session of which mirror or tunnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelSource {
    pub encap: Encap,
    /// The ERSPAN session id, the VXLAN / Geneve VNI or the GRE key, when there is one.
    pub id: Option<u32>,
    pub outer_src: IpAddr,
    pub outer_dst: IpAddr,
}

/// What was peeled off one frame, outermost first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Encapsulation {
    layers: [Option<Encap>; MAX_DEPTH],
    source: Option<TunnelSource>,
}

impl Encapsulation {
    /// No tunnel at all: a plain frame.
    pub fn is_empty(&self) -> bool {
        self.layers.first().is_none_or(Option::is_none)
    }

    /// The encapsulations, outermost first.
    pub fn layers(&self) -> impl Iterator<Item = Encap> + '_ {
        self.layers.iter().map_while(|l| *l)
    }

    /// The outermost tunnel carried over IP (ERSPAN, GRE, VXLAN, Geneve), if any.
    pub fn source(&self) -> Option<TunnelSource> {
        self.source
    }

    /// Records one more layer; false when [`MAX_DEPTH`] are recorded already.
    fn push(&mut self, encap: Encap, source: Option<TunnelSource>) -> bool {
        let Some(slot) = self.layers.iter_mut().find(|l| l.is_none()) else {
            return false;
        };
        *slot = Some(encap);
        if self.source.is_none() {
            self.source = source;
        }
        true
    }
}

/// What the decoder carries through one frame: the settings and what was peeled off.
pub(crate) struct Cx<'c> {
    pub(crate) cfg: &'c DecapConfig,
    pub(crate) found: &'c mut Encapsulation,
}

impl Cx<'_> {
    /// Enters one more tunnel; `None` (an anomaly for the caller to return) past the bound.
    fn enter(&mut self, encap: Encap, source: Option<TunnelSource>) -> Option<()> {
        self.found.push(encap, source).then_some(())
    }
}

/// The outer addresses of the IP packet a tunnel header came in.
pub(crate) type Outer = (IpAddr, IpAddr);

const TOO_DEEP: Decoded<'static> = Decoded::Malformed(DecodeAnomaly::TunnelDepth);

/// An IP payload that is not TCP: GRE, UDP to a VXLAN or Geneve port, or IP-in-IP is
/// followed; anything else is not TCP.
// Kept out of line: the plain path of the caller stays as small as without tunnels.
#[inline(never)]
pub(crate) fn from_ip_payload<'a>(
    frame: &Frame<'a>,
    cx: &mut Cx<'_>,
    outer: Outer,
    ip_number: IpNumber,
    payload: &'a [u8],
) -> Decoded<'a> {
    if ip_number == IpNumber::UDP {
        if let Some(d) = kdc_datagram(frame, cx, outer, payload) {
            return d;
        }
    }
    if !cx.cfg.enabled {
        return Decoded::NotTcp;
    }
    match ip_number {
        IpNumber::GRE => gre(frame, cx, outer, payload),
        IpNumber::UDP => udp(frame, cx, outer, payload),
        IpNumber::IPV4 | IpNumber::IPV6 => match cx.enter(Encap::IpInIp, None) {
            Some(()) => decode::from_ip(frame, cx, payload),
            None => TOO_DEEP,
        },
        _ => Decoded::NotTcp,
    }
}

/// An EtherType that is neither IP nor VLAN: MPLS and PPPoE sessions are followed;
/// anything else (ARP, LLDP, ...) is not IP.
// Kept out of line: the plain path of the caller stays as small as without tunnels.
#[inline(never)]
pub(crate) fn from_ether_type<'a>(
    frame: &Frame<'a>,
    cx: &mut Cx<'_>,
    ether_type: EtherType,
    payload: &'a [u8],
) -> Decoded<'a> {
    if !cx.cfg.enabled {
        return Decoded::NotIp;
    }
    match ether_type.0 {
        proto::MPLS_UNICAST | proto::MPLS_MULTICAST => mpls(frame, cx, payload),
        proto::PPPOE_SESSION => pppoe(frame, cx, payload),
        _ => Decoded::NotIp,
    }
}

/// An inner Ethernet frame (no FCS: an Ethernet trailer is ignored by trusting IP lengths).
fn ethernet<'a>(frame: &Frame<'a>, cx: &mut Cx<'_>, bytes: &'a [u8]) -> Decoded<'a> {
    match Ethernet2Slice::from_slice_without_fcs(bytes) {
        Ok(eth) => decode::from_ether_type(frame, cx, eth.ether_type(), eth.payload_slice()),
        Err(_) => Decoded::Malformed(DecodeAnomaly::EthernetHeader),
    }
}

/// Splits a 4-byte word off the front.
fn take4(bytes: &mut &[u8]) -> Option<[u8; 4]> {
    let (word, rest) = bytes.split_first_chunk::<4>()?;
    *bytes = rest;
    Some(*word)
}

/// GRE version 0: flags (checksum, key, sequence number), protocol type, then the optional
/// words. Source-routed GRE (RFC 1701) and version 1 (PPTP) are not followed.
fn gre<'a>(frame: &Frame<'a>, cx: &mut Cx<'_>, outer: Outer, bytes: &'a [u8]) -> Decoded<'a> {
    let mut rest = bytes;
    let Some([f0, f1, p0, p1]) = take4(&mut rest) else {
        return Decoded::Malformed(DecodeAnomaly::GreHeader);
    };
    let (checksum, routing, key, sequence) = (
        f0 & 0x80 != 0,
        f0 & 0x40 != 0,
        f0 & 0x20 != 0,
        f0 & 0x10 != 0,
    );
    if f1 & 0x07 != 0 || routing {
        return Decoded::NotTcp;
    }
    if checksum && take4(&mut rest).is_none() {
        return Decoded::Malformed(DecodeAnomaly::GreHeader);
    }
    let key = match key {
        true => match take4(&mut rest) {
            Some(k) => Some(u32::from_be_bytes(k)),
            None => return Decoded::Malformed(DecodeAnomaly::GreHeader),
        },
        false => None,
    };
    if sequence && take4(&mut rest).is_none() {
        return Decoded::Malformed(DecodeAnomaly::GreHeader);
    }
    let source = |encap: Encap, id: Option<u32>| {
        Some(TunnelSource {
            encap,
            id,
            outer_src: outer.0,
            outer_dst: outer.1,
        })
    };
    match u16::from_be_bytes([p0, p1]) {
        proto::IPV4 | proto::IPV6 => match cx.enter(Encap::Gre, source(Encap::Gre, key)) {
            Some(()) => decode::from_ip(frame, cx, rest),
            None => TOO_DEEP,
        },
        proto::TRANSPARENT_ETHERNET => match cx.enter(Encap::Gre, source(Encap::Gre, key)) {
            Some(()) => ethernet(frame, cx, rest),
            None => TOO_DEEP,
        },
        proto::MPLS_UNICAST | proto::MPLS_MULTICAST => {
            match cx.enter(Encap::Gre, source(Encap::Gre, key)) {
                Some(()) => mpls(frame, cx, rest),
                None => TOO_DEEP,
            }
        }
        // Type I has no header of its own (and no sequence number); type II has both.
        proto::ERSPAN_I_II if !sequence => {
            match cx.enter(Encap::Erspan1, source(Encap::Erspan1, None)) {
                Some(()) => ethernet(frame, cx, rest),
                None => TOO_DEEP,
            }
        }
        proto::ERSPAN_I_II => erspan2(frame, cx, outer, rest),
        proto::ERSPAN_III => erspan3(frame, cx, outer, rest),
        _ => Decoded::NotTcp,
    }
}

/// The 10-bit ERSPAN session id in the second 16-bit word of the header.
fn session_id(b2: u8, b3: u8) -> u32 {
    u32::from(u16::from_be_bytes([b2 & 0x03, b3]))
}

/// ERSPAN type II: version 1, VLAN, CoS, encapsulation type, truncated flag, session id,
/// index (8 bytes), then the mirrored Ethernet frame.
fn erspan2<'a>(frame: &Frame<'a>, cx: &mut Cx<'_>, outer: Outer, bytes: &'a [u8]) -> Decoded<'a> {
    let [b0, _, b2, b3, _, _, _, _, rest @ ..] = bytes else {
        return Decoded::Malformed(DecodeAnomaly::Erspan2Header);
    };
    if b0 >> 4 != 1 {
        return Decoded::Malformed(DecodeAnomaly::Erspan2Header);
    }
    let source = TunnelSource {
        encap: Encap::Erspan2,
        id: Some(session_id(*b2, *b3)),
        outer_src: outer.0,
        outer_dst: outer.1,
    };
    match cx.enter(Encap::Erspan2, Some(source)) {
        Some(()) => ethernet(frame, cx, rest),
        None => TOO_DEEP,
    }
}

/// ERSPAN type III: version 2, VLAN, CoS, BSO, truncated flag, session id, timestamp,
/// security group tag, then P / frame type / hardware id / direction / granularity / O
/// (12 bytes), the 8-byte platform sub-header when O is set, then the mirrored frame
/// (Ethernet for frame type 0, IP for frame type 2).
fn erspan3<'a>(frame: &Frame<'a>, cx: &mut Cx<'_>, outer: Outer, bytes: &'a [u8]) -> Decoded<'a> {
    let [b0, _, b2, b3, _, _, _, _, _, _, b10, b11, rest @ ..] = bytes else {
        return Decoded::Malformed(DecodeAnomaly::Erspan3Header);
    };
    if b0 >> 4 != 2 {
        return Decoded::Malformed(DecodeAnomaly::Erspan3Header);
    }
    let rest = if b11 & 0x01 != 0 {
        match rest.get(8..) {
            Some(r) => r,
            None => return Decoded::Malformed(DecodeAnomaly::Erspan3Header),
        }
    } else {
        rest
    };
    let source = TunnelSource {
        encap: Encap::Erspan3,
        id: Some(session_id(*b2, *b3)),
        outer_src: outer.0,
        outer_dst: outer.1,
    };
    if cx.enter(Encap::Erspan3, Some(source)).is_none() {
        return TOO_DEEP;
    }
    match (b10 >> 2) & 0x1f {
        0 => ethernet(frame, cx, rest),
        2 => decode::from_ip(frame, cx, rest),
        _ => Decoded::NotIp,
    }
}

/// UDP from or to a KDC port, handed on whole (with tunnels decoded or not): its addresses
/// are those of the IP packet it came in (the innermost one).
fn kdc_datagram<'a>(
    frame: &Frame<'a>,
    cx: &Cx<'_>,
    (src_ip, dst_ip): Outer,
    bytes: &'a [u8],
) -> Option<Decoded<'a>> {
    let (src_port, dst_port) = match bytes {
        [a, b, c, d, ..] => (u16::from_be_bytes([*a, *b]), u16::from_be_bytes([*c, *d])),
        _ => return None,
    };
    if !cx.cfg.is_kdc_port(src_port) && !cx.cfg.is_kdc_port(dst_port) {
        return None;
    }
    let udp = UdpSlice::from_slice_lax(bytes).ok()?;
    Some(Decoded::Udp(decode::Datagram {
        ts: frame.ts,
        src_ip,
        src_port,
        dst_ip,
        dst_port,
        payload: udp.payload(),
        frame: 0,
    }))
}

/// UDP to the VXLAN or Geneve port; other UDP is not TCP.
fn udp<'a>(frame: &Frame<'a>, cx: &mut Cx<'_>, outer: Outer, bytes: &'a [u8]) -> Decoded<'a> {
    let Ok(udp) = UdpSlice::from_slice_lax(bytes) else {
        return Decoded::NotTcp;
    };
    let port = udp.destination_port();
    if cx.cfg.is_vxlan_port(port) {
        vxlan(frame, cx, outer, udp.payload())
    } else if port == GENEVE_PORT {
        geneve(frame, cx, outer, udp.payload())
    } else {
        Decoded::NotTcp
    }
}

/// VXLAN: flags (I set: a valid VNI), 3 reserved bytes, the VNI, 1 reserved byte, then an
/// Ethernet frame. Without the I flag the datagram is not taken for VXLAN.
fn vxlan<'a>(frame: &Frame<'a>, cx: &mut Cx<'_>, outer: Outer, bytes: &'a [u8]) -> Decoded<'a> {
    let [flags, _, _, _, v0, v1, v2, _, rest @ ..] = bytes else {
        return Decoded::Malformed(DecodeAnomaly::VxlanHeader);
    };
    if flags & 0x08 == 0 {
        return Decoded::NotTcp;
    }
    let source = TunnelSource {
        encap: Encap::Vxlan,
        id: Some(u32::from_be_bytes([0, *v0, *v1, *v2])),
        outer_src: outer.0,
        outer_dst: outer.1,
    };
    match cx.enter(Encap::Vxlan, Some(source)) {
        Some(()) => ethernet(frame, cx, rest),
        None => TOO_DEEP,
    }
}

/// Geneve version 0: option length (4-byte words), flags, protocol type, VNI, options
/// (skipped), then Ethernet (0x6558) or IP (AWS Gateway Load Balancer).
fn geneve<'a>(frame: &Frame<'a>, cx: &mut Cx<'_>, outer: Outer, bytes: &'a [u8]) -> Decoded<'a> {
    let [b0, _, p0, p1, v0, v1, v2, _, rest @ ..] = bytes else {
        return Decoded::Malformed(DecodeAnomaly::GeneveHeader);
    };
    if b0 >> 6 != 0 {
        return Decoded::NotTcp;
    }
    let options = usize::from(b0 & 0x3f).saturating_mul(4);
    let Some(rest) = rest.get(options..) else {
        return Decoded::Malformed(DecodeAnomaly::GeneveHeader);
    };
    let source = TunnelSource {
        encap: Encap::Geneve,
        id: Some(u32::from_be_bytes([0, *v0, *v1, *v2])),
        outer_src: outer.0,
        outer_dst: outer.1,
    };
    if cx.enter(Encap::Geneve, Some(source)).is_none() {
        return TOO_DEEP;
    }
    match u16::from_be_bytes([*p0, *p1]) {
        proto::TRANSPARENT_ETHERNET => ethernet(frame, cx, rest),
        proto::IPV4 | proto::IPV6 => decode::from_ip(frame, cx, rest),
        _ => Decoded::NotIp,
    }
}

/// An MPLS label stack down to the bottom-of-stack entry, then IPv4 or IPv6 by the first
/// nibble, or (nibble 0) a pseudowire control word and an Ethernet frame.
fn mpls<'a>(frame: &Frame<'a>, cx: &mut Cx<'_>, bytes: &'a [u8]) -> Decoded<'a> {
    if cx.enter(Encap::Mpls, None).is_none() {
        return TOO_DEEP;
    }
    let mut rest = bytes;
    for _ in 0..MAX_MPLS_LABELS {
        let Some([_, _, tc_s, _]) = take4(&mut rest) else {
            return Decoded::Malformed(DecodeAnomaly::MplsHeader);
        };
        if tc_s & 0x01 == 0 {
            continue;
        }
        return match rest.first().map(|b| b >> 4) {
            Some(4 | 6) => decode::from_ip(frame, cx, rest),
            Some(0) => match rest.get(4..) {
                Some(eth) => ethernet(frame, cx, eth),
                None => Decoded::Malformed(DecodeAnomaly::MplsHeader),
            },
            Some(_) => Decoded::NotIp,
            None => Decoded::Malformed(DecodeAnomaly::MplsHeader),
        };
    }
    Decoded::Malformed(DecodeAnomaly::MplsHeader)
}

/// A PPPoE session packet (version 1, type 1, code 0), cut to its length field, then PPP:
/// protocol 0x0021 IPv4, 0x0057 IPv6 (one byte when compressed); LCP and others are not IP.
fn pppoe<'a>(frame: &Frame<'a>, cx: &mut Cx<'_>, bytes: &'a [u8]) -> Decoded<'a> {
    let [ver_type, code, _, _, l0, l1, rest @ ..] = bytes else {
        return Decoded::Malformed(DecodeAnomaly::PppoeHeader);
    };
    if *ver_type != 0x11 || *code != 0 {
        return Decoded::NotIp;
    }
    // A snap-cut packet keeps what it has; Ethernet padding after the length is dropped.
    let len = usize::from(u16::from_be_bytes([*l0, *l1]));
    let ppp = rest.get(..len).unwrap_or(rest);
    let (protocol, ip) = match ppp {
        [p, ip @ ..] if p & 0x01 != 0 => (u16::from(*p), ip),
        [p0, p1, ip @ ..] => (u16::from_be_bytes([*p0, *p1]), ip),
        _ => return Decoded::Malformed(DecodeAnomaly::PppoeHeader),
    };
    if cx.enter(Encap::Pppoe, None).is_none() {
        return TOO_DEEP;
    }
    match protocol {
        0x0021 | 0x0057 => decode::from_ip(frame, cx, ip),
        _ => Decoded::NotIp,
    }
}
