//! Link/IP/TCP decoding and tunnel decapsulation: the first byte picks a link type, the
//! second (for Ethernet) a tunnel the frame starts with, the rest is the frame. The inner
//! segment must borrow the frame's bytes, and nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy407::decode::decap::{DecapConfig, Encapsulation};
use proxy407::decode::{decode_with, Decoded};
use proxy407::model::Ts;
use proxy407::source::Frame;

/// Ethernet, null, raw, loop, Linux SLL, raw IPv4, raw IPv6, NFLOG, SLL2, and one unknown.
const LINK_TYPES: [u32; 10] = [1, 0, 101, 108, 113, 228, 229, 239, 276, 147];

const ETH: [u8; 12] = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
/// An IPv4 header of protocol `p` (total length 0xffff: the payload is what follows).
const fn ipv4(p: u8) -> [u8; 20] {
    [
        0x45, 0, 0xff, 0xff, 0, 1, 0, 0, 64, p, 0, 0, 192, 0, 2, 1, 198, 51, 100, 2,
    ]
}

/// What an Ethernet frame starts with before the fuzzed bytes: nothing, or the outer
/// headers up to a tunnel header (GRE, UDP to VXLAN / Geneve / an extra VXLAN port, IP-in-IP,
/// MPLS, PPPoE session) or a VXLAN header before an inner frame.
fn prefix(selector: u8) -> Vec<u8> {
    let mut v = ETH.to_vec();
    let udp = |port: u16| {
        let mut u = vec![0xc3, 0x50];
        u.extend(port.to_be_bytes());
        u.extend([0xff, 0xff, 0, 0]);
        u
    };
    match selector % 9 {
        0 => return Vec::new(),
        1 => {
            v.extend([0x08, 0x00]);
            v.extend(ipv4(47));
        }
        2 => {
            v.extend([0x08, 0x00]);
            v.extend(ipv4(17));
            v.extend(udp(4789));
        }
        3 => {
            v.extend([0x08, 0x00]);
            v.extend(ipv4(17));
            v.extend(udp(6081));
        }
        4 => {
            v.extend([0x08, 0x00]);
            v.extend(ipv4(17));
            v.extend(udp(8472));
            v.extend([0x08, 0, 0, 0, 0, 0, 1, 0]);
        }
        5 => {
            v.extend([0x08, 0x00]);
            v.extend(ipv4(4));
        }
        6 => v.extend([0x88, 0x47]),
        7 => v.extend([0x88, 0x64]),
        _ => {
            v.extend([0x08, 0x00]);
            v.extend(ipv4(47));
            v.extend([0x10, 0, 0x22, 0xeb, 0, 0, 0, 1]);
        }
    }
    v
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let link_type = LINK_TYPES[usize::from(first) % LINK_TYPES.len()];
    let (bytes, cfg) = match (link_type, rest.split_first()) {
        (1, Some((&sel, tail))) => {
            let mut b = prefix(sel);
            b.extend_from_slice(tail);
            let cfg = DecapConfig {
                enabled: sel & 0x80 == 0,
                vxlan_ports: vec![8472],
                kdc_ports: vec![750],
            };
            (b, cfg)
        }
        _ => (rest.to_vec(), DecapConfig::AUTO),
    };
    let frame = Frame {
        shared: None,
        file: 0,
        number: 0,
        ts: Ts(1_700_000_000_000_000),
        link_type,
        data: &bytes,
        // Sometimes claim more on the wire than captured (a snap-length cut).
        orig_len: (bytes.len() as u32).saturating_add(u32::from(first >> 4)),
    };
    let mut found = Encapsulation::default();
    if let Decoded::Tcp(s) = decode_with(&frame, &cfg, &mut found) {
        let start = bytes.as_ptr() as usize;
        let p = s.payload.as_ptr() as usize;
        assert!(p >= start && p + s.payload.len() <= start + bytes.len());
    }
    if !cfg.enabled {
        assert!(found.is_empty());
    }
    assert!(found.layers().count() <= proxy407::decode::decap::MAX_DEPTH);
});
