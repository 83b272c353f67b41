//! Frames: the link headers (Ethernet, 802.1Q, Linux cooked v1/v2, raw IP, BSD loopback),
//! IPv4 and IPv6 headers and the TCP header, with valid IPv4 header and TCP checksums.
//!
//! A [`Template`] holds the fixed bytes of one direction of a connection; [`push_tcp`]
//! appends one frame from it, patching only lengths, sequence numbers, the IPv4 ID and the
//! checksums, so that the mix generator can write frames at hundreds of MB/s and the
//! conversation builder of `tcp` writes the same bytes the same way.

/// TCP flag bits (byte 13 of the TCP header).
pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

/// An Ethernet header (with one 802.1Q tag when `vlan` is given) ending in the IPv4 or IPv6
/// ethertype.
pub fn ethernet_header(dst_mac: [u8; 6], src_mac: [u8; 6], vlan: Option<u16>, v6: bool) -> Vec<u8> {
    let mut h = Vec::with_capacity(18);
    h.extend_from_slice(&dst_mac);
    h.extend_from_slice(&src_mac);
    if let Some(id) = vlan {
        h.extend_from_slice(&0x8100u16.to_be_bytes());
        h.extend_from_slice(&id.to_be_bytes());
    }
    let et = if v6 { ETHERTYPE_IPV6 } else { ETHERTYPE_IPV4 };
    h.extend_from_slice(&et.to_be_bytes());
    h
}

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

/// The MACs of frames written with a [`LinkKind`]: destination and source.
pub const LINK_DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
pub const LINK_SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

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

    /// This link's header in front of an IPv4 (or, with `v6`, IPv6) packet.
    pub fn header(self, v6: bool) -> Vec<u8> {
        let ethertype = if v6 { ETHERTYPE_IPV6 } else { ETHERTYPE_IPV4 };
        let mut f = Vec::with_capacity(20);
        match self {
            LinkKind::Ethernet => return ethernet_header(LINK_DST_MAC, LINK_SRC_MAC, None, v6),
            LinkKind::EthernetVlan(id) => {
                return ethernet_header(LINK_DST_MAC, LINK_SRC_MAC, Some(id & 0x0fff), v6)
            }
            LinkKind::LinuxSll => {
                f.extend_from_slice(&0u16.to_be_bytes()); // packet type: to us
                f.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
                f.extend_from_slice(&6u16.to_be_bytes());
                f.extend_from_slice(&LINK_SRC_MAC);
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
                f.extend_from_slice(&LINK_SRC_MAC);
                f.extend_from_slice(&[0, 0]);
            }
            LinkKind::RawIp => {}
            LinkKind::Null => {
                let af: u32 = if v6 { 30 } else { 2 };
                f.extend_from_slice(&af.to_le_bytes());
            }
        }
        f
    }
}

/// The longest link header plus IPv6 plus TCP without options.
const MAX_HDR: usize = 80;

/// The fixed bytes of one direction's frames: link header + IP + 20-byte TCP, with the
/// checksum sums of the fields that never change.
#[derive(Clone, Copy, Debug)]
pub struct Template {
    hdr: [u8; MAX_HDR],
    len: u8,
    ip: u8,
    tcp: u8,
    v6: bool,
    /// IPv4: sum of the header words that never change.
    ip_sum: u32,
    /// Pseudo-header sum without the TCP length.
    pseudo: u32,
}

fn words_sum(b: &[u8]) -> u32 {
    b.chunks(2)
        .map(|c| u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0)))
        .sum()
}

impl Template {
    /// `src` and `dst` are 4 (IPv4) or 16 (IPv6) address bytes; IPv4 headers carry Don't
    /// Fragment, `ttl` is the TTL or hop limit. `link` is at most 20 bytes.
    pub fn new(link: &[u8], src: &[u8], dst: &[u8], sport: u16, dport: u16, ttl: u8) -> Template {
        let mut h = Vec::with_capacity(MAX_HDR);
        h.extend_from_slice(link);
        let v6 = src.len() == 16;
        let ip = h.len();
        let ip_sum = if v6 {
            h.extend_from_slice(&[0x60, 0, 0, 0, 0, 0, 6, ttl]);
            0
        } else {
            h.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0x40, 0, ttl, 6, 0, 0]);
            0x4500 + 0x4000 + (u32::from(ttl) << 8 | 6) + words_sum(src) + words_sum(dst)
        };
        h.extend_from_slice(src);
        h.extend_from_slice(dst);
        let tcp = h.len();
        h.extend_from_slice(&sport.to_be_bytes());
        h.extend_from_slice(&dport.to_be_bytes());
        h.extend_from_slice(&[0; 16]);
        let mut hdr = [0u8; MAX_HDR];
        let n = h.len().min(MAX_HDR);
        hdr[..n].copy_from_slice(&h[..n]);
        Template {
            hdr,
            len: n as u8,
            ip: ip as u8,
            tcp: tcp as u8,
            v6,
            ip_sum,
            pseudo: words_sum(src) + words_sum(dst) + 6,
        }
    }

    pub fn is_v6(&self) -> bool {
        self.v6
    }

    /// Bytes of link and IP header in front of the TCP header.
    pub fn tcp_offset(&self) -> usize {
        usize::from(self.tcp)
    }
}

/// The per-packet fields of a TCP frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFields {
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    /// IPv4 identification (unused on IPv6).
    pub ip_id: u16,
}

/// One's-complement sum of big-endian 16-bit words (odd tail padded), unfolded.
pub fn csum(data: &[u8]) -> u64 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        acc += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        acc += u64::from(u32::from_be_bytes([c[4], c[5], c[6], c[7]]));
    }
    let mut pairs = chunks.remainder().chunks_exact(2);
    for p in &mut pairs {
        acc += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [b] = pairs.remainder() {
        acc += u64::from(*b) << 8;
    }
    acc
}

/// Folds a [`csum`] into 16 bits.
pub fn fold(mut s: u64) -> u16 {
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// Appends one frame to `buf`: the template, the TCP options (a multiple of 4 bytes), the
/// payload `fill` appends; then lengths and checksums. Returns the frame's length.
#[inline]
pub fn push_tcp(
    buf: &mut Vec<u8>,
    t: &Template,
    f: TcpFields,
    opts: &[u8],
    fill: impl FnOnce(&mut Vec<u8>),
) -> usize {
    let frame = buf.len();
    buf.extend_from_slice(&t.hdr[..t.len as usize]);
    buf.extend_from_slice(opts);
    fill(buf);
    let b = buf;
    let ip = frame + t.ip as usize;
    let tcp = frame + t.tcp as usize;
    let tcp_len = b.len() - tcp;
    if t.v6 {
        b[ip + 4..ip + 6].copy_from_slice(&(tcp_len as u16).to_be_bytes());
    } else {
        let total = (tcp_len + 20) as u16;
        b[ip + 2..ip + 4].copy_from_slice(&total.to_be_bytes());
        b[ip + 4..ip + 6].copy_from_slice(&f.ip_id.to_be_bytes());
        let s = !fold(u64::from(t.ip_sum) + u64::from(total) + u64::from(f.ip_id));
        b[ip + 10..ip + 12].copy_from_slice(&s.to_be_bytes());
    }
    b[tcp + 4..tcp + 8].copy_from_slice(&f.seq.to_be_bytes());
    b[tcp + 8..tcp + 12].copy_from_slice(&f.ack.to_be_bytes());
    b[tcp + 12] = (((20 + opts.len()) / 4) << 4) as u8;
    b[tcp + 13] = f.flags;
    b[tcp + 14..tcp + 16].copy_from_slice(&f.window.to_be_bytes());
    let s = !fold(u64::from(t.pseudo) + tcp_len as u64 + csum(&b[tcp..]));
    b[tcp + 16..tcp + 18].copy_from_slice(&s.to_be_bytes());
    b.len() - frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_and_tcp_checksums_verify() {
        let link = ethernet_header(LINK_DST_MAC, LINK_SRC_MAC, Some(7), false);
        let t = Template::new(&link, &[10, 0, 0, 1], &[10, 0, 0, 2], 50000, 3128, 64);
        let mut b = Vec::new();
        let f = TcpFields {
            seq: 1,
            ack: 2,
            flags: ACK | PSH,
            window: 100,
            ip_id: 0xbeef,
        };
        let n = push_tcp(&mut b, &t, f, &[], |b| b.extend_from_slice(b"hello"));
        assert_eq!(n, b.len());
        let ip = &b[18..];
        assert_eq!(fold(csum(&ip[..20])), 0xffff, "IPv4 header checksum");
        let tcp = &ip[20..];
        let pseudo = csum(&ip[12..20]) + 6 + tcp.len() as u64;
        assert_eq!(fold(pseudo + csum(tcp)), 0xffff, "TCP checksum");
        assert_eq!(&tcp[20..], b"hello");
    }

    #[test]
    fn ipv6_payload_length_and_checksum() {
        let (s, d) = ([0xfd; 16], [0xfe; 16]);
        let t = Template::new(&LinkKind::RawIp.header(true), &s, &d, 1, 2, 64);
        let mut b = Vec::new();
        push_tcp(&mut b, &t, TcpFields::default(), &[2, 4, 5, 0xb4], |b| {
            b.push(b'x')
        });
        assert_eq!(b[0] >> 4, 6);
        assert_eq!(u16::from_be_bytes([b[4], b[5]]) as usize, b.len() - 40);
        let tcp = &b[40..];
        assert_eq!(tcp[12] >> 4, 6);
        let pseudo = csum(&b[8..40]) + 6 + tcp.len() as u64;
        assert_eq!(fold(pseudo + csum(tcp)), 0xffff);
    }
}
