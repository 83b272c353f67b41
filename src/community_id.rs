//! Community ID flow hash, version 1 (the corelight community-id spec), so that rows join
//! with Zeek, Suricata and Arkime logs of the same traffic.

use base64::Engine as _;
use sha1::{Digest, Sha1};
use std::net::IpAddr;

/// IANA protocol number of TCP.
pub const PROTO_TCP: u8 = 6;

/// `1:<base64 sha1>` of the flow (seed 0 unless given), the same for both directions.
pub fn community_id_v1(seed: u16, proto: u8, src: (IpAddr, u16), dst: (IpAddr, u16)) -> String {
    // The smaller (address, port) endpoint first, so both directions hash alike.
    let (a, b) = if src <= dst { (src, dst) } else { (dst, src) };
    let mut h = Sha1::new();
    h.update(seed.to_be_bytes());
    push_ip(&mut h, a.0);
    push_ip(&mut h, b.0);
    h.update([proto, 0]);
    h.update(a.1.to_be_bytes());
    h.update(b.1.to_be_bytes());
    let digest = h.finalize();
    format!(
        "1:{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

fn push_ip(h: &mut Sha1, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => h.update(v4.octets()),
        IpAddr::V6(v6) => h.update(v6.octets()),
    }
}
