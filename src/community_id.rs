//! Community ID flow hash, version 1 (the corelight community-id spec), so that rows join
//! with Zeek, Suricata and Arkime logs of the same traffic.

use base64::Engine as _;
use sha1::{Digest, Sha1};
use std::net::IpAddr;

/// IANA protocol number of TCP.
pub const PROTO_TCP: u8 = 6;

/// `1:<base64 sha1>` of the flow (seed 0 unless given), the same for both directions.
pub(crate) fn community_id_v1(
    seed: u16,
    proto: u8,
    src: (IpAddr, u16),
    dst: (IpAddr, u16),
) -> String {
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

#[cfg(test)]
mod tests {
    //! Vectors from the Community ID spec's published baselines
    //! (`corelight/community-id-spec`, `baseline/baseline_deflt.json` for seed 0 and
    //! `baseline/baseline_seed1.json` for seed 1): TCP, UDP and SCTP flows over IPv4 and IPv6,
    //! each given in both directions.

    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const PROTO_UDP: u8 = 17;
    const PROTO_SCTP: u8 = 132;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// (proto, saddr, sport, daddr, dport, seed 0 id, seed 1 id)
    const VECTORS: &[(u8, &str, u16, &str, u16, &str, &str)] = &[
        (
            PROTO_TCP,
            "128.232.110.120",
            34855,
            "66.35.250.204",
            80,
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
            "1:3V71V58M3Ksw/yuFALMcW0LAHvc=",
        ),
        (
            PROTO_TCP,
            "2001:470:e5bf:dead:4957:2174:e82c:4887",
            63943,
            "2607:f8b0:400c:c03::1a",
            25,
            "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=",
            "1:eJYTW6AOzFLlSUoESovMjnu7rMw=",
        ),
        (
            PROTO_UDP,
            "192.168.1.52",
            54585,
            "8.8.8.8",
            53,
            "1:d/FP5EW3wiY1vCndhwleRRKHowQ=",
            "1:Q9We8WO3piVF8yEQBNJF4uiSVrI=",
        ),
        (
            PROTO_SCTP,
            "192.168.170.8",
            7,
            "192.168.170.56",
            7,
            "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=",
            "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg=",
        ),
    ];

    #[test]
    fn published_vectors_seed_0_both_directions() {
        for &(proto, sa, sp, da, dp, want, _) in VECTORS {
            let (s, d) = ((ip(sa), sp), (ip(da), dp));
            assert_eq!(
                community_id_v1(0, proto, s, d),
                want,
                "{sa}:{sp} -> {da}:{dp}"
            );
            assert_eq!(
                community_id_v1(0, proto, d, s),
                want,
                "{da}:{dp} -> {sa}:{sp}"
            );
        }
    }

    #[test]
    fn published_vectors_seed_1_both_directions() {
        for &(proto, sa, sp, da, dp, _, want) in VECTORS {
            let (s, d) = ((ip(sa), sp), (ip(da), dp));
            assert_eq!(
                community_id_v1(1, proto, s, d),
                want,
                "{sa}:{sp} -> {da}:{dp}"
            );
            assert_eq!(
                community_id_v1(1, proto, d, s),
                want,
                "{da}:{dp} -> {sa}:{sp}"
            );
        }
    }

    #[test]
    fn same_address_orders_by_port() {
        // Equal addresses: the lower port is the first endpoint, either way round.
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let x = community_id_v1(0, PROTO_TCP, (a, 3128), (a, 50000));
        let y = community_id_v1(0, PROTO_TCP, (a, 50000), (a, 3128));
        assert_eq!(x, y);
        assert!(x.starts_with("1:") && x.len() == 30, "{x}");
    }

    #[test]
    fn seed_protocol_and_ports_change_the_hash() {
        let c = (IpAddr::V6(Ipv6Addr::LOCALHOST), 40000);
        let p = (IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 8)), 8080);
        let base = community_id_v1(0, PROTO_TCP, c, p);
        assert_ne!(base, community_id_v1(2, PROTO_TCP, c, p));
        assert_ne!(base, community_id_v1(0, PROTO_UDP, c, p));
        assert_ne!(base, community_id_v1(0, PROTO_TCP, (c.0, 40001), p));
    }
}
