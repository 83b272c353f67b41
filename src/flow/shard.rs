//! Which share of the clients a TCP segment belongs to (`--shard K/N`), from its addresses
//! and ports alone, so that every packet of a connection, and every connection of a client,
//! falls in the same share whichever machine or thread looks at it.
//!
//! - **The client** of a segment is the endpoint not on a proxy port when exactly one of the
//!   two ports is one (`--proxy-port`); otherwise the endpoint with the higher port (the
//!   ephemeral one), and for equal ports the higher address. For a KDC's traffic (port 88,
//!   `--kdc-port`) the engine passes the KDC's ports instead: the client is the Kerberos
//!   client, the same address as its proxy client. Only the four-tuple decides, so
//!   both directions of a connection agree. (The flow table decides roles with more evidence,
//!   §1.1 of the rules; the two differ only for a proxy on a port not named and a client port
//!   below it, which then only moves that client's connections to another share.)
//! - **The hash** of a client address is `((a × 2654435761) mod 2³²) >> 16`, where `a` is the
//!   IPv4 address as a 32-bit number, or the last 32 bits of an IPv6 address: 16 well-mixed
//!   bits that a BPF filter can compute too (the README shows the `tcpdump` expression that
//!   splits a capture the same way beforehand).
//! - **Shard** `K/N` (1 ≤ K ≤ N) keeps the clients whose `hash mod N = K − 1`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// The multiplier of the client hash (Knuth's multiplicative hash, 2³² / φ).
pub const HASH_MULTIPLIER: u32 = 2_654_435_761;

/// Most shards.
pub const MAX_SHARDS: u32 = 4096;

/// `--shard K/N`: shard `index + 1` of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// 0-based.
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Whether the client of a segment between these endpoints is in this shard.
    #[inline]
    pub fn keeps(&self, src: (IpAddr, u16), dst: (IpAddr, u16), proxy_ports: &[u16]) -> bool {
        client_hash(client_of(src, dst, proxy_ports)).checked_rem(self.count) == Some(self.index)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index.saturating_add(1), self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rule = format!("K/N with 1 <= K <= N <= {MAX_SHARDS}, e.g. 2/3");
        let (k, n) = s
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not a shard: {rule}"))?;
        let k: u32 = k
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: K {k:?} is not a number ({rule})"))?;
        let n: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: N {n:?} is not a number ({rule})"))?;
        if n == 0 || n > MAX_SHARDS {
            return Err(format!("{s:?}: N must be 1 to {MAX_SHARDS} ({rule})"));
        }
        if k == 0 || k > n {
            return Err(format!("{s:?}: K must be 1 to N = {n} ({rule})"));
        }
        Ok(Shard {
            index: k.saturating_sub(1),
            count: n,
        })
    }
}

/// The client's address of a segment between `a` and `b` (either direction).
#[inline]
pub fn client_of(a: (IpAddr, u16), b: (IpAddr, u16), proxy_ports: &[u16]) -> IpAddr {
    let a_proxy = proxy_ports.contains(&a.1);
    let b_proxy = proxy_ports.contains(&b.1);
    match (a_proxy, b_proxy) {
        (true, false) => b.0,
        (false, true) => a.0,
        _ if a.1 != b.1 => {
            if a.1 > b.1 {
                a.0
            } else {
                b.0
            }
        }
        _ => a.0.max(b.0),
    }
}

/// The 16-bit hash of a client address.
#[inline]
pub fn client_hash(ip: IpAddr) -> u32 {
    let a = match ip {
        IpAddr::V4(v4) => u32::from(v4),
        IpAddr::V6(v6) => {
            let o = v6.octets();
            u32::from_be_bytes([o[12], o[13], o[14], o[15]])
        }
    };
    a.wrapping_mul(HASH_MULTIPLIER) >> 16
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_refuses_with_the_rule() {
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 1, count: 3 }));
        assert_eq!("1/1".parse::<Shard>().unwrap().to_string(), "1/1");
        for bad in ["3/2", "0/3", "1/0", "a/3", "3", "1/5000", ""] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(e.contains("1 <= K <= N"), "{bad}: {e}");
        }
    }

    #[test]
    fn both_directions_and_every_connection_of_a_client_agree() {
        let ports = [3128];
        let c = ip("10.1.2.3");
        let p = ip("10.0.0.10");
        for port in [1025u16, 40_000, 65_535] {
            assert_eq!(client_of((c, port), (p, 3128), &ports), c);
            assert_eq!(client_of((p, 3128), (c, port), &ports), c);
        }
        // A proxy on a port not named: the ephemeral (higher) port is the client's.
        assert_eq!(client_of((c, 50_000), (p, 8443), &ports), c);
        assert_eq!(client_of((p, 8443), (c, 50_000), &ports), c);
    }

    #[test]
    fn the_hash_spreads_neighbouring_addresses_over_the_shards() {
        // The BPF expression of the README computes the same: ((a * 2654435761) >> 16) % N.
        let a = u32::from(std::net::Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(
            client_hash(ip("10.0.0.1")),
            a.wrapping_mul(2_654_435_761) >> 16
        );
        let mut per = [0u32; 3];
        for i in 0..3000u32 {
            let addr = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            per[(client_hash(addr) % 3) as usize] += 1;
        }
        assert!(per.iter().all(|&n| (900..1100).contains(&n)), "{per:?}");
        assert_eq!(
            client_hash(ip("2001:db8::a00:1")),
            client_hash(ip("10.0.0.1"))
        );
    }
}
