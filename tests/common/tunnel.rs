//! Wraps captured Ethernet frames in tunnel and remote-mirror encapsulations (GRE, ERSPAN
//! I/II/III, VXLAN, Geneve, MPLS, PPPoE, IP-in-IP, VLAN tags), turns IPv4 frames into IPv6
//! ones, and writes frames to a pcap file: the capture side of the decapsulation tests.
//! Header fields follow the RFCs and vendor formats byte for byte; checksums of the outer
//! IPv4 headers are right, UDP checksums are zero (allowed over IPv4, not checked by the
//! decoder over IPv6).

#![allow(dead_code)]

use std::io::Write;
use std::path::Path;

/// One captured frame, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedFrame {
    pub ts_us: i64,
    pub data: Vec<u8>,
    pub orig_len: u32,
}

/// Every frame of a capture file, read with proxy407's own reader (Ethernet link type).
pub fn read_frames(path: &Path) -> Vec<OwnedFrame> {
    let mut src = proxy407::source::file::open_files(&[path.to_path_buf()]).expect("open capture");
    let mut out = Vec::new();
    while let Some(f) = src.next_frame() {
        assert_eq!(
            f.link_type,
            1,
            "{}: Ethernet frames expected",
            path.display()
        );
        out.push(OwnedFrame {
            ts_us: f.ts.0,
            data: f.data.to_vec(),
            orig_len: f.orig_len,
        });
    }
    out
}

/// Writes Ethernet frames as a classic pcap file (microsecond timestamps).
pub fn write_pcap(path: &Path, frames: &[OwnedFrame]) {
    let mut out = Vec::new();
    out.extend(0xa1b2_c3d4u32.to_le_bytes());
    out.extend(2u16.to_le_bytes());
    out.extend(4u16.to_le_bytes());
    out.extend([0u8; 8]);
    out.extend(262_144u32.to_le_bytes());
    out.extend(1u32.to_le_bytes());
    for f in frames {
        out.extend((f.ts_us.div_euclid(1_000_000) as u32).to_le_bytes());
        out.extend((f.ts_us.rem_euclid(1_000_000) as u32).to_le_bytes());
        out.extend((f.data.len() as u32).to_le_bytes());
        out.extend(f.orig_len.to_le_bytes());
        out.extend(&f.data);
    }
    let mut file = std::fs::File::create(path).expect("create pcap");
    file.write_all(&out).expect("write pcap");
}

/// Applies `wrap` to every frame, keeping what a snap length cut off.
pub fn wrap_all(frames: &[OwnedFrame], wrap: &dyn Fn(&[u8]) -> Vec<u8>) -> Vec<OwnedFrame> {
    frames
        .iter()
        .map(|f| {
            let data = wrap(&f.data);
            let cut = f.orig_len - f.data.len() as u32;
            OwnedFrame {
                ts_us: f.ts_us,
                orig_len: data.len() as u32 + cut,
                data,
            }
        })
        .collect()
}

// ------------------------------------------------------------------------------ layers

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_IPV6: u16 = 0x86DD;
pub const OUTER4_SRC: [u8; 4] = [192, 0, 2, 10];
pub const OUTER4_DST: [u8; 4] = [198, 51, 100, 20];
pub const OUTER6_SRC: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a,
];
pub const OUTER6_DST: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x14,
];

/// An Ethernet II header (collector and mirror switch MACs) before `payload`.
pub fn ether(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02];
    v.extend(ethertype.to_be_bytes());
    v.extend(payload);
    v
}

/// The EtherType and payload of a plain (untagged) Ethernet frame.
pub fn ether_payload(frame: &[u8]) -> (u16, &[u8]) {
    (u16::from_be_bytes([frame[12], frame[13]]), &frame[14..])
}

/// The Ethernet frame with one more VLAN tag (`tpid` 0x8100, or 0x88A8 for an outer QinQ
/// tag) in front of its EtherType.
pub fn vlan_tag(frame: &[u8], tpid: u16, vid: u16) -> Vec<u8> {
    let mut v = frame[..12].to_vec();
    v.extend(tpid.to_be_bytes());
    v.extend((vid & 0x0fff).to_be_bytes());
    v.extend(&frame[12..]);
    v
}

fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 header (no options, DF) for `payload` of IP protocol `proto`.
pub fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut h = vec![0x45, 0];
    h.extend(total.to_be_bytes());
    h.extend([0x12, 0x34, 0x40, 0, 64, proto, 0, 0]);
    h.extend(src);
    h.extend(dst);
    let c = ipv4_checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend(payload);
    h
}

/// An IPv6 header for `payload` of next header `next`.
pub fn ipv6(next: u8, src: [u8; 16], dst: [u8; 16], payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend((payload.len() as u16).to_be_bytes());
    h.extend([next, 64]);
    h.extend(src);
    h.extend(dst);
    h.extend(payload);
    h
}

/// A UDP header (checksum zero) for `payload`.
pub fn udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = src_port.to_be_bytes().to_vec();
    v.extend(dst_port.to_be_bytes());
    v.extend(((8 + payload.len()) as u16).to_be_bytes());
    v.extend([0, 0]);
    v.extend(payload);
    v
}

/// Which of GRE's optional words are present.
#[derive(Clone, Copy, Debug, Default)]
pub struct GreOpts {
    pub checksum: bool,
    pub key: Option<u32>,
    pub seq: Option<u32>,
}

/// A GRE version 0 header (RFC 2784 / 2890) with protocol type `proto`.
pub fn gre(opts: GreOpts, proto: u16, payload: &[u8]) -> Vec<u8> {
    let mut flags = 0u8;
    if opts.checksum {
        flags |= 0x80;
    }
    if opts.key.is_some() {
        flags |= 0x20;
    }
    if opts.seq.is_some() {
        flags |= 0x10;
    }
    let mut v = vec![flags, 0];
    v.extend(proto.to_be_bytes());
    if opts.checksum {
        v.extend([0, 0, 0, 0]);
    }
    if let Some(k) = opts.key {
        v.extend(k.to_be_bytes());
    }
    if let Some(s) = opts.seq {
        v.extend(s.to_be_bytes());
    }
    v.extend(payload);
    v
}

/// ERSPAN type II header (version 1, VLAN 0, CoS 0, En 3, session, index 7) before the
/// mirrored frame; goes in GRE 0x88BE with a sequence number.
pub fn erspan2(session: u16, frame: &[u8]) -> Vec<u8> {
    let s = session & 0x03ff;
    let mut v = vec![0x10, 0x00, 0x18 | (s >> 8) as u8, s as u8, 0, 0, 0, 7];
    v.extend(frame);
    v
}

/// ERSPAN type III header (version 2, VLAN 10, session, timestamp, SGT, frame type
/// Ethernet, granularity 3), with the 8-byte platform sub-header when `platform`; goes in
/// GRE 0x22EB.
pub fn erspan3(session: u16, platform: bool, frame: &[u8]) -> Vec<u8> {
    let s = session & 0x03ff;
    let mut v = vec![0x20, 0x0a, (s >> 8) as u8, s as u8];
    v.extend(0x7050_7e55u32.to_be_bytes());
    v.extend([0, 0]);
    v.extend([0x00, 0x06 | u8::from(platform)]);
    if platform {
        v.extend([0x0c, 0, 0, 0x03, 0x15, 0xf7, 0x42, 0xe8]);
    }
    v.extend(frame);
    v
}

/// A VXLAN header (I flag, `vni`) before an Ethernet frame.
pub fn vxlan(vni: u32, frame: &[u8]) -> Vec<u8> {
    let mut v = vec![0x08, 0, 0, 0];
    v.extend(&(vni << 8).to_be_bytes());
    v.extend(frame);
    v
}

/// A Geneve header (version 0, `option_words` 4-byte words of options, `proto`, `vni`).
pub fn geneve(vni: u32, option_words: u8, proto: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![option_words & 0x3f, 0];
    v.extend(proto.to_be_bytes());
    v.extend(&(vni << 8).to_be_bytes());
    for i in 0..option_words {
        // One option per word: class 0x0108 (AWS), type i, length 0.
        v.extend([0x01, 0x08, i, 0]);
    }
    v.extend(payload);
    v
}

/// An MPLS label stack (bottom of stack on the last label, TTL 64) before `payload`.
pub fn mpls(labels: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for (i, l) in labels.iter().enumerate() {
        let bos = u32::from(i + 1 == labels.len());
        v.extend(((l << 12) | (bos << 8) | 64).to_be_bytes());
    }
    v.extend(payload);
    v
}

/// A PPPoE session header (version 1, type 1, code 0) and the PPP protocol before `payload`.
pub fn pppoe(session: u16, ppp_proto: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x11, 0];
    v.extend(session.to_be_bytes());
    v.extend(((2 + payload.len()) as u16).to_be_bytes());
    v.extend(ppp_proto.to_be_bytes());
    v.extend(payload);
    v
}

/// An Ethernet frame carrying IPv4 turned into the same packet over IPv6 (addresses
/// 2001:db8::a.b.c.d, next header and payload unchanged); other frames stay as they are.
pub fn to_ipv6_frame(frame: &[u8]) -> Vec<u8> {
    let (et, ip) = ether_payload(frame);
    if et != ETHERTYPE_IPV4 {
        return frame.to_vec();
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let six = |a: &[u8]| {
        let mut v = [0u8; 16];
        v[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        v[12..].copy_from_slice(a);
        v
    };
    let payload = &ip[ihl..total.min(ip.len())];
    let mut v = frame[..12].to_vec();
    v.extend(ETHERTYPE_IPV6.to_be_bytes());
    v.extend(ipv6(ip[9], six(&ip[12..16]), six(&ip[16..20]), payload));
    v
}

// ------------------------------------------------------------------------------ wraps

/// One way of carrying a captured frame to the sensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wrap {
    /// GRE over IPv4 carrying the IP packet.
    Gre,
    /// GRE with checksum, key and sequence number, over IPv6.
    GreOptsOverIpv6,
    /// GRE 0x6558 (transparent Ethernet bridging) carrying the frame.
    L2Gre,
    ErspanI,
    ErspanII,
    ErspanIII,
    ErspanIIIPlatform,
    Vxlan,
    /// VXLAN on UDP 8472 (needs `--vxlan-port 8472`).
    VxlanPort8472,
    /// VXLAN carrying the frame with two VLAN tags (QinQ) added.
    VxlanQinq,
    /// Geneve with options, carrying the frame.
    Geneve,
    /// Geneve carrying the IP packet (AWS Gateway Load Balancer style).
    GeneveIp,
    /// Two MPLS labels before the IP packet.
    Mpls,
    /// An MPLS Ethernet pseudowire with a control word.
    MplsPseudowire,
    Pppoe,
    /// IP-in-IP: the IP packet inside outer IPv4 (4in4 or 6in4).
    IpInIpv4,
    /// The IP packet inside outer IPv6 (4in6 or 6in6).
    IpInIpv6,
}

impl Wrap {
    pub const ALL: [Wrap; 17] = [
        Wrap::Gre,
        Wrap::GreOptsOverIpv6,
        Wrap::L2Gre,
        Wrap::ErspanI,
        Wrap::ErspanII,
        Wrap::ErspanIII,
        Wrap::ErspanIIIPlatform,
        Wrap::Vxlan,
        Wrap::VxlanPort8472,
        Wrap::VxlanQinq,
        Wrap::Geneve,
        Wrap::GeneveIp,
        Wrap::Mpls,
        Wrap::MplsPseudowire,
        Wrap::Pppoe,
        Wrap::IpInIpv4,
        Wrap::IpInIpv6,
    ];

    /// The encapsulation name proxy407 counts for it.
    pub fn encapsulation(self) -> &'static str {
        match self {
            Wrap::Gre | Wrap::GreOptsOverIpv6 | Wrap::L2Gre => "gre",
            Wrap::ErspanI => "erspan1",
            Wrap::ErspanII => "erspan2",
            Wrap::ErspanIII | Wrap::ErspanIIIPlatform => "erspan3",
            Wrap::Vxlan | Wrap::VxlanPort8472 | Wrap::VxlanQinq => "vxlan",
            Wrap::Geneve | Wrap::GeneveIp => "geneve",
            Wrap::Mpls | Wrap::MplsPseudowire => "mpls",
            Wrap::Pppoe => "pppoe",
            Wrap::IpInIpv4 | Wrap::IpInIpv6 => "ip_in_ip",
        }
    }

    /// Wraps one Ethernet frame (untagged, IPv4 or IPv6 inside) into a new Ethernet frame.
    pub fn apply(self, frame: &[u8]) -> Vec<u8> {
        let (et, ip) = ether_payload(frame);
        let over4 = |proto: u8, payload: &[u8]| {
            ether(
                ETHERTYPE_IPV4,
                &ipv4(proto, OUTER4_SRC, OUTER4_DST, payload),
            )
        };
        let over6 = |next: u8, payload: &[u8]| {
            ether(ETHERTYPE_IPV6, &ipv6(next, OUTER6_SRC, OUTER6_DST, payload))
        };
        let ip_proto = if et == ETHERTYPE_IPV6 { 41 } else { 4 };
        let seq = GreOpts {
            seq: Some(0x0102_0304),
            ..GreOpts::default()
        };
        match self {
            Wrap::Gre => over4(47, &gre(GreOpts::default(), et, ip)),
            Wrap::GreOptsOverIpv6 => {
                let opts = GreOpts {
                    checksum: true,
                    key: Some(0xdead_beef),
                    seq: Some(7),
                };
                over6(47, &gre(opts, et, ip))
            }
            Wrap::L2Gre => over4(47, &gre(GreOpts::default(), 0x6558, frame)),
            Wrap::ErspanI => over4(47, &gre(GreOpts::default(), 0x88BE, frame)),
            Wrap::ErspanII => over4(47, &gre(seq, 0x88BE, &erspan2(101, frame))),
            Wrap::ErspanIII => over4(
                47,
                &gre(GreOpts::default(), 0x22EB, &erspan3(3, false, frame)),
            ),
            Wrap::ErspanIIIPlatform => over4(47, &gre(seq, 0x22EB, &erspan3(1023, true, frame))),
            Wrap::Vxlan => over4(17, &udp(50_000, 4789, &vxlan(1, frame))),
            Wrap::VxlanPort8472 => over4(17, &udp(50_000, 8472, &vxlan(77, frame))),
            Wrap::VxlanQinq => {
                let tagged = vlan_tag(&vlan_tag(frame, 0x8100, 10), 0x88A8, 200);
                over4(17, &udp(50_001, 4789, &vxlan(0x00ab_cdef, &tagged)))
            }
            Wrap::Geneve => over4(17, &udp(50_002, 6081, &geneve(5, 2, 0x6558, frame))),
            Wrap::GeneveIp => over6(17, &udp(50_003, 6081, &geneve(6, 1, et, ip))),
            Wrap::Mpls => ether(0x8847, &mpls(&[16, 29], ip)),
            Wrap::MplsPseudowire => {
                let mut cw = vec![0, 0, 0, 0];
                cw.extend(frame);
                ether(0x8847, &mpls(&[100], &cw))
            }
            Wrap::Pppoe => {
                let ppp = if et == ETHERTYPE_IPV6 { 0x0057 } else { 0x0021 };
                ether(0x8864, &pppoe(0x0042, ppp, ip))
            }
            Wrap::IpInIpv4 => over4(ip_proto, ip),
            Wrap::IpInIpv6 => over6(ip_proto, ip),
        }
    }
}
