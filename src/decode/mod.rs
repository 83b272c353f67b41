//! Link, IP and TCP decoding: the only module that knows etherparse.
//!
//! Turns a [`Frame`] into a TCP [`Segment`] borrowing the frame's bytes, or a UDP
//! [`Datagram`] from or to a KDC port (88, `--kdc-port`; found by a port check only on the
//! path of IP payloads that are not TCP), or says why not.
//! Link types: Ethernet (802.1Q, QinQ; trailers ignored by trusting IP lengths), Linux SLL
//! and SLL2, raw IPv4/IPv6, BSD null/loopback (both byte orders), LOOP, NFLOG. Snap-length
//! cut packets keep what payload they have and say how many payload bytes are missing.
//! Tunnels and remote mirrors (GRE, ERSPAN, VXLAN, Geneve, MPLS, PPPoE, IP-in-IP) are peeled
//! off by the [`decap`] sub-stage (which shares etherparse with this module), called for an
//! EtherType or IP protocol that is not plain; the segment is then the inner one.
//!
//! No panic on any input, enforced by the compiler: clippy's `unwrap_used`, `expect_used`,
//! `indexing_slicing` and `arithmetic_side_effects` are denied in this module.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use crate::anomaly::DecodeAnomaly;
pub mod decap;

use crate::model::Ts;
use crate::source::Frame;
use decap::{Cx, DecapConfig, Encapsulation};
use etherparse::{
    EtherType, Ethernet2Slice, IpNumber, LaxIpSlice, LaxMacsecSlice, SingleVlanSlice, TcpSlice,
};
use std::net::IpAddr;

/// TCP flags of a segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
    pub psh: bool,
}

/// A TCP segment, borrowing its payload from the frame.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    pub ts: Ts,
    pub src_ip: IpAddr,
    pub src_port: u16,
    pub dst_ip: IpAddr,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    /// The payload bytes that were captured.
    pub payload: &'a [u8],
    /// Payload bytes that were on the wire but cut off by the snap length.
    pub missing_payload: u32,
    /// The frame's number in the run's input (1-based), set by the engine; 0 when not
    /// numbered. Connections take their ids from it.
    pub frame: u64,
}

/// The IANA port of Kerberos: UDP from or to it is always a [`Datagram`].
pub const KDC_PORT: u16 = 88;

/// A UDP datagram from or to a KDC port (88, `--kdc-port`), borrowing its payload.
#[derive(Clone, Copy, Debug)]
pub struct Datagram<'a> {
    pub ts: Ts,
    pub src_ip: IpAddr,
    pub src_port: u16,
    pub dst_ip: IpAddr,
    pub dst_port: u16,
    pub payload: &'a [u8],
    /// The frame's number, set by the engine (0 when not numbered).
    pub frame: u64,
}

/// What a frame turned out to be.
#[derive(Debug)]
pub enum Decoded<'a> {
    Tcp(Segment<'a>),
    /// UDP from or to a KDC port.
    Udp(Datagram<'a>),
    /// IP, but neither TCP nor a KDC's UDP (other UDP, ICMP, ...): ignored.
    NotTcp,
    /// A non-first IPv4/IPv6 fragment, or a first fragment: counted, not reassembled.
    Fragment,
    /// Not IP at all (ARP, LLDP, ...): ignored.
    NotIp,
    /// A link type this tool does not decode (counted and named once).
    UnknownLink(u32),
    /// Bytes that do not parse; the anomaly names the layer and what is wrong.
    Malformed(DecodeAnomaly),
}

/// LINKTYPE_ numbers this module knows.
pub mod linktype {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    /// Raw IP as some BSDs number it (DLT_RAW = 12 / 14 on OpenBSD).
    pub const RAW_BSD: u32 = 12;
    pub const RAW_OPENBSD: u32 = 14;
    pub const RAW: u32 = 101;
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const NFLOG: u32 = 239;
    pub const LINUX_SLL2: u32 = 276;
    /// Every link type [`super::decode`] understands.
    pub const ALL: [u32; 11] = [
        NULL,
        ETHERNET,
        RAW_BSD,
        RAW_OPENBSD,
        RAW,
        LOOP,
        LINUX_SLL,
        IPV4,
        IPV6,
        NFLOG,
        LINUX_SLL2,
    ];
}

/// Decodes one frame, tunnels included. Never panics, whatever the bytes.
pub fn decode<'a>(frame: &Frame<'a>) -> Decoded<'a> {
    decode_with(frame, &DecapConfig::AUTO, &mut Encapsulation::default())
}

/// Decodes one frame with the given decapsulation settings; what was peeled off is written
/// into `found`.
pub fn decode_with<'a>(
    frame: &Frame<'a>,
    cfg: &DecapConfig,
    found: &mut Encapsulation,
) -> Decoded<'a> {
    let cx = &mut Cx { cfg, found };
    let data = frame.data;
    match frame.link_type {
        linktype::ETHERNET => match Ethernet2Slice::from_slice_without_fcs(data) {
            Ok(eth) => from_ether_type(frame, cx, eth.ether_type(), eth.payload_slice()),
            Err(_) => Decoded::Malformed(DecodeAnomaly::EthernetHeader),
        },
        linktype::LINUX_SLL => {
            // 16-byte header; the protocol (an EtherType for IP) is at bytes 14..16.
            let (Some(proto), Some(rest)) = (be16(data, 14), data.get(16..)) else {
                return Decoded::Malformed(DecodeAnomaly::LinuxSllHeader);
            };
            from_ether_type(frame, cx, EtherType(proto), rest)
        }
        linktype::LINUX_SLL2 => {
            // 20-byte header; the protocol is at bytes 0..2.
            let (Some(proto), Some(rest)) = (be16(data, 0), data.get(20..)) else {
                return Decoded::Malformed(DecodeAnomaly::LinuxSll2Header);
            };
            from_ether_type(frame, cx, EtherType(proto), rest)
        }
        linktype::RAW | linktype::RAW_BSD | linktype::RAW_OPENBSD => from_ip(frame, cx, data),
        linktype::IPV4 => from_raw_ip(frame, cx, data, 4),
        linktype::IPV6 => from_raw_ip(frame, cx, data, 6),
        linktype::NULL | linktype::LOOP => {
            let Some(&fam) = data.first_chunk::<4>() else {
                return Decoded::Malformed(DecodeAnomaly::NullHeader);
            };
            // DLT_NULL is in the capturing host's byte order, LOOP in network order:
            // accept both for both.
            let le = u32::from_le_bytes(fam);
            let be = u32::from_be_bytes(fam);
            let is = |f: &dyn Fn(u32) -> bool| f(le) || f(be);
            let rest = data.get(4..).unwrap_or(&[]);
            if is(&|f| f == 2) {
                from_ether_type(frame, cx, EtherType::IPV4, rest)
            } else if is(&|f| matches!(f, 10 | 24 | 28 | 30)) {
                from_ether_type(frame, cx, EtherType::IPV6, rest)
            } else {
                Decoded::NotIp
            }
        }
        linktype::NFLOG => match nflog_payload(data) {
            Ok(Some(ip)) => from_ip(frame, cx, ip),
            Ok(None) => Decoded::NotIp,
            Err(layer) => Decoded::Malformed(layer),
        },
        other => Decoded::UnknownLink(other),
    }
}

/// At most this many 802.1Q / 802.1ad / MACsec headers are read before IP.
const MAX_LINK_EXTS: usize = 3;

/// Follows VLAN tags (802.1Q, QinQ) and unencrypted MACsec to IP. A cut tag or encrypted
/// MACsec is not IP; any other EtherType goes to [`decap`] (MPLS, PPPoE; ARP, LLDP, ... are
/// not IP).
///
/// Inlined into the plain frame's path: the tunnels' recursion back into it goes through
/// `decap`'s entry points, which stay out of line.
#[inline(always)]
pub(crate) fn from_ether_type<'a>(
    frame: &Frame<'a>,
    cx: &mut Cx<'_>,
    mut et: EtherType,
    mut payload: &'a [u8],
) -> Decoded<'a> {
    for _ in 0..=MAX_LINK_EXTS {
        match et {
            EtherType::VLAN_TAGGED_FRAME
            | EtherType::PROVIDER_BRIDGING
            | EtherType::VLAN_DOUBLE_TAGGED_FRAME => match SingleVlanSlice::from_slice(payload) {
                Ok(v) => {
                    et = v.ether_type();
                    payload = v.payload_slice();
                }
                Err(_) => return Decoded::NotIp,
            },
            EtherType::MACSEC => {
                match LaxMacsecSlice::from_slice(payload)
                    .ok()
                    .and_then(|m| m.ether_payload())
                {
                    Some(e) => {
                        et = e.ether_type;
                        payload = e.payload;
                    }
                    None => return Decoded::NotIp,
                }
            }
            EtherType::IPV4 | EtherType::IPV6 => return from_ip(frame, cx, payload),
            other => return decap::from_ether_type(frame, cx, other, payload),
        }
    }
    Decoded::NotIp
}

/// Raw IP of a link type that names the version: another version is malformed.
fn from_raw_ip<'a>(frame: &Frame<'a>, cx: &mut Cx<'_>, data: &'a [u8], version: u8) -> Decoded<'a> {
    match data.first() {
        Some(b) if b >> 4 == version => from_ip(frame, cx, data),
        _ => Decoded::Malformed(DecodeAnomaly::IpVersion),
    }
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(*data.get(at..)?.first_chunk::<2>()?))
}

fn le16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(*data.get(at..)?.first_chunk::<2>()?))
}

/// The IP packet inside an NFLOG record: a 4-byte header (family, version, resource id),
/// then TLVs (length u16 little-endian including the 4-byte TLV header, type u16, padded to
/// 4 bytes); type 9 (NFULA_PAYLOAD) holds the packet.
fn nflog_payload(data: &[u8]) -> Result<Option<&[u8]>, DecodeAnomaly> {
    if data.len() < 4 {
        return Err(DecodeAnomaly::NflogRecord);
    }
    let mut at = 4usize;
    while at < data.len() {
        let (Some(len), Some(ty)) = (le16(data, at), le16(data, at.saturating_add(2))) else {
            return Err(DecodeAnomaly::NflogRecord);
        };
        let len = usize::from(len);
        if len < 4 {
            return Err(DecodeAnomaly::NflogRecord);
        }
        let end = at.checked_add(len).ok_or(DecodeAnomaly::NflogRecord)?;
        // The type has a "nested" flag in bit 15 and a "byte order" flag in bit 14.
        if ty & 0x3fff == 9 {
            // A cut record keeps what it has.
            let start = at.saturating_add(4);
            let stop = end.min(data.len());
            return Ok(data.get(start..stop));
        }
        let padded = end.checked_add(3).ok_or(DecodeAnomaly::NflogRecord)? & !3;
        at = padded;
    }
    Ok(None)
}

/// Byte offset of `inner` inside `outer` (both from the same frame), or `None`.
fn offset_in(outer: &[u8], inner: &[u8]) -> Option<usize> {
    let o = outer.as_ptr() as usize;
    let i = inner.as_ptr() as usize;
    let off = i.checked_sub(o)?;
    (off.checked_add(inner.len())? <= outer.len()).then_some(off)
}

/// IP (lax: a cut packet keeps what it has), then TCP; another protocol goes to [`decap`].
/// Inlined as [`from_ether_type`] is.
#[inline(always)]
pub(crate) fn from_ip<'a>(frame: &Frame<'a>, cx: &mut Cx<'_>, bytes: &'a [u8]) -> Decoded<'a> {
    let data = frame.data;
    let Ok((ip, ext_err)) = LaxIpSlice::from_slice(bytes) else {
        return Decoded::Malformed(match bytes.first().map(|b| b >> 4) {
            Some(4) => DecodeAnomaly::Ipv4Header,
            Some(6) => DecodeAnomaly::Ipv6Header,
            _ => DecodeAnomaly::IpVersion,
        });
    };
    let (src_ip, dst_ip, ip_start, declared_end) = match &ip {
        LaxIpSlice::Ipv4(v) => {
            let h = v.header();
            let start = offset_in(data, h.slice());
            let end = start.map(|s| s.saturating_add(usize::from(h.total_len())));
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                start,
                end,
            )
        }
        LaxIpSlice::Ipv6(v) => {
            let h = v.header();
            let start = offset_in(data, h.slice());
            let pl = h.payload_length();
            // A zero payload length (jumbogram, or segmentation offload) says nothing.
            let end = if pl == 0 {
                None
            } else {
                start.map(|s| s.saturating_add(40).saturating_add(usize::from(pl)))
            };
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                start,
                end,
            )
        }
    };
    let ip_payload = ip.payload();
    if ip_payload.fragmented {
        return Decoded::Fragment;
    }
    if ip_payload.ip_number != IpNumber::TCP {
        let outer = (src_ip, dst_ip);
        return decap::from_ip_payload(frame, cx, outer, ip_payload.ip_number, ip_payload.payload);
    }
    if ext_err.is_some() {
        return Decoded::Malformed(DecodeAnomaly::IpExtensionHeader);
    }
    let Ok(tcp) = TcpSlice::from_slice(ip_payload.payload) else {
        return Decoded::Malformed(DecodeAnomaly::TcpHeader);
    };
    let payload = tcp.payload();
    let missing = if ip_payload.incomplete {
        let captured_end = offset_in(data, payload).map(|o| o.saturating_add(payload.len()));
        match (captured_end, declared_end, ip_start) {
            (Some(c), Some(d), Some(_)) => d.saturating_sub(c),
            // Without a usable IP length, fall back to the frame's lengths.
            _ => usize::try_from(frame.orig_len)
                .unwrap_or(usize::MAX)
                .saturating_sub(data.len()),
        }
    } else {
        0
    };
    Decoded::Tcp(Segment {
        ts: frame.ts,
        src_ip,
        src_port: tcp.source_port(),
        dst_ip,
        dst_port: tcp.destination_port(),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags {
            syn: tcp.syn(),
            ack: tcp.ack(),
            fin: tcp.fin(),
            rst: tcp.rst(),
            psh: tcp.psh(),
        },
        window: tcp.window_size(),
        payload,
        missing_payload: u32::try_from(missing).unwrap_or(u32::MAX),
        frame: 0,
    })
}

/// A short name for a link type, for reports (`ethernet`, `linux_sll`, `null`, ...).
pub fn link_type_name(link_type: u32) -> String {
    match link_type {
        linktype::NULL => "null".into(),
        linktype::ETHERNET => "ethernet".into(),
        linktype::RAW | linktype::RAW_BSD | linktype::RAW_OPENBSD => "raw".into(),
        linktype::LOOP => "loop".into(),
        linktype::LINUX_SLL => "linux_sll".into(),
        linktype::IPV4 => "ipv4".into(),
        linktype::IPV6 => "ipv6".into(),
        linktype::NFLOG => "nflog".into(),
        linktype::LINUX_SLL2 => "linux_sll2".into(),
        n => format!("linktype_{n}"),
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

    fn frame(link_type: u32, data: &[u8]) -> Frame<'_> {
        Frame {
            shared: None,
            file: 0,
            number: 0,
            ts: Ts(1),
            link_type,
            data,
            orig_len: data.len() as u32,
        }
    }

    /// IPv4 + TCP (no options) carrying `payload`.
    fn ipv4_tcp(payload: &[u8]) -> Vec<u8> {
        let total = 20 + 20 + payload.len();
        let mut v = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            1,
            0x40,
            0,
            64,
            6,
            0,
            0,
            10,
            0,
            0,
            1,
            10,
            0,
            0,
            2,
        ];
        v.extend_from_slice(&[0x30, 0x39, 0x0c, 0x38]); // 12345 -> 3128
        v.extend_from_slice(&[0, 0, 0, 7, 0, 0, 0, 9, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn raw_ipv4_tcp() {
        let pkt = ipv4_tcp(b"GET / HTTP/1.1\r\n");
        match decode(&frame(linktype::RAW, &pkt)) {
            Decoded::Tcp(s) => {
                assert_eq!(s.src_port, 12345);
                assert_eq!(s.dst_port, 3128);
                assert_eq!(s.seq, 7);
                assert_eq!(s.ack, 9);
                assert!(s.flags.psh && s.flags.ack && !s.flags.syn);
                assert_eq!(s.payload, b"GET / HTTP/1.1\r\n");
                assert_eq!(s.missing_payload, 0);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ethernet_trailer_and_cut() {
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x08, 0x00]);
        eth.extend_from_slice(&ipv4_tcp(b"HELLO"));
        let mut with_trailer = eth.clone();
        with_trailer.extend_from_slice(&[0xf5; 8]);
        match decode(&frame(linktype::ETHERNET, &with_trailer)) {
            Decoded::Tcp(s) => assert_eq!(s.payload, b"HELLO"),
            other => panic!("{other:?}"),
        }
        let cut = &eth[..eth.len() - 3];
        let f = Frame {
            shared: None,
            file: 0,
            number: 0,
            orig_len: eth.len() as u32,
            ..frame(linktype::ETHERNET, cut)
        };
        match decode(&f) {
            Decoded::Tcp(s) => {
                assert_eq!(s.payload, b"HE");
                assert_eq!(s.missing_payload, 3);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn null_both_orders_and_nflog() {
        let ip = ipv4_tcp(b"x");
        for fam in [[2, 0, 0, 0], [0, 0, 0, 2]] {
            let mut d = fam.to_vec();
            d.extend_from_slice(&ip);
            assert!(matches!(
                decode(&frame(linktype::NULL, &d)),
                Decoded::Tcp(_)
            ));
            assert!(matches!(
                decode(&frame(linktype::LOOP, &d)),
                Decoded::Tcp(_)
            ));
        }
        let mut d = vec![2, 0, 0, 0];
        // A prefix TLV (type 1, 8 bytes), then a payload TLV (type 9), padded.
        d.extend_from_slice(&[8, 0, 1, 0, 0, 0, 0, 0]);
        let len = (4 + ip.len()) as u16;
        d.extend_from_slice(&len.to_le_bytes());
        d.extend_from_slice(&[9, 0]);
        d.extend_from_slice(&ip);
        match decode(&frame(linktype::NFLOG, &d)) {
            Decoded::Tcp(s) => assert_eq!(s.payload, b"x"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn not_ip_and_unknown() {
        let mut arp = vec![0u8; 12];
        arp.extend_from_slice(&[0x08, 0x06]);
        arp.extend_from_slice(&[0; 28]);
        assert!(matches!(
            decode(&frame(linktype::ETHERNET, &arp)),
            Decoded::NotIp
        ));
        assert!(matches!(
            decode(&frame(147, b"abc")),
            Decoded::UnknownLink(147)
        ));
        assert!(matches!(
            decode(&frame(linktype::RAW, &[])),
            Decoded::Malformed(DecodeAnomaly::IpVersion)
        ));
        assert_eq!(link_type_name(147), "linktype_147");
        assert_eq!(link_type_name(276), "linux_sll2");
    }

    #[test]
    fn malformed_names_what_is_wrong() {
        let pkt = ipv4_tcp(b"abcdefgh");
        let cases: [(u32, &[u8], DecodeAnomaly); 6] = [
            (linktype::RAW, &pkt[..12], DecodeAnomaly::Ipv4Header),
            (linktype::RAW, &pkt[..28], DecodeAnomaly::TcpHeader),
            (linktype::IPV6, &pkt, DecodeAnomaly::IpVersion),
            (linktype::ETHERNET, &[0; 10], DecodeAnomaly::EthernetHeader),
            (linktype::LINUX_SLL, &[0; 15], DecodeAnomaly::LinuxSllHeader),
            (linktype::NULL, &[2, 0], DecodeAnomaly::NullHeader),
        ];
        for (lt, bytes, want) in cases {
            match decode(&frame(lt, bytes)) {
                Decoded::Malformed(a) => assert_eq!(a, want),
                other => panic!("{want:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn fragment() {
        let mut pkt = ipv4_tcp(b"abcdefgh");
        pkt[6] = 0x20; // more fragments
        assert!(matches!(
            decode(&frame(linktype::RAW, &pkt)),
            Decoded::Fragment
        ));
    }
}
