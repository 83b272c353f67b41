//! The mix: a generated mirror-port capture of a corporate network in front of its forward
//! proxies, for benchmarks and soak tests of proxy407 (written by the `gen-mix` binary of
//! this crate, and by the benches through [`generate`]).
//!
//! ```text
//! cargo run --release -p proxy407-testkit --bin gen-mix -- --size 1GB --out /var/tmp/mix.pcap [--seed N] [--json]
//! ```
//!
//! The output is a classic pcap (microsecond timestamps, link type Ethernet) of about the
//! requested size (a few heads and closing packets past it). What it holds:
//!
//! - About 4,000 clients (10.16–23.x.y, one in nine on IPv6 `fd00:c0:ffee::/48`, three in
//!   ten behind 802.1Q VLAN tags) talking to six proxies: four Squid on port 3128 (three
//!   offering Negotiate, NTLM and Basic, one Digest only), two web gateways on 8080 (NTLM and
//!   Basic, Basic only). Frames are hand-written Ethernet / 802.1Q / IPv4 / IPv6 / TCP with
//!   valid IP and TCP checksums, MSS 1460 (1440 on IPv6), three-way handshakes with options,
//!   delayed ACKs (one per two segments), FIN or RST closes.
//! - About three quarters of the bytes are CONNECT tunnels (`CONNECT host:443` → `200
//!   Connection established` → a TLS 1.3 ClientHello, ServerHello and encrypted records
//!   both ways) and HTTP bodies (absolute-form `GET http://...` answered with
//!   `Content-Length` or chunked bodies, several requests per keep-alive connection).
//! - Proxy authentication episodes of every kind, with the headers real clients and proxies
//!   send: Basic success and bad password (also retried on a new connection after
//!   `Connection: close`), NTLM (type 1 → `407` with type 2 → type 3 → `200`; real NTLMSSP
//!   structures with user, domain and workstation; NTLMv2 and a few NTLMv1; raw NTLMSSP
//!   inside `Negotiate`), Negotiate with SPNEGO-wrapped Kerberos AP-REQs (realm and service
//!   principal readable) and rejections carrying a KRB-ERROR, Digest (with `stale=true`
//!   legs), clients that never retry, `403` after credentials, a scheme the proxy did not
//!   offer, a type 2 on a closing connection, a proxy reset, and unreachable proxies.
//! - Capture damage of a lossy mirror port, only inside tunnels so that HTTP heads stay
//!   countable: 0.15% of tunnel segments dropped, 0.5% of adjacent tunnel segments swapped,
//!   and some connections whose handshake (and beginning) was never captured.
//!
//! Every credential is generated: passwords are random strings, hashes, challenges and
//! tickets are random bytes in real structures. Nothing here is a real secret.
//!
//! Ground truth: at the end a summary (text, or JSON with `--json`) gives the packets,
//! requests, CONNECTs, responses by status (the `407` count equals what `tshark -Y
//! 'http.response.code == 407'` shows), and the episodes by kind with the verdict proxy407
//! should reach for each. Concurrent episodes of one client to the same proxy and target
//! may chain into one (`docs/verdicts.md` §3.4), so episode totals are exact per kind of
//! generated traffic, not necessarily per analyser episode.
//!
//! How it is fast (well over 300 MB/s on one core): a fixed pool of open connections, each
//! with a precomputed header template per direction (only lengths, sequence numbers, IDs
//! and checksums are patched per packet); payload copied from precomputed random and text
//! pools; frames written straight into one 8 MiB buffer that is flushed as it fills. Memory
//! is constant whatever the size. The same seed gives the same file.

mod conn;
mod plan;
pub mod samples;
mod script;
mod tokens;
mod world;

use crate::rng::WyRand;
use conn::{Conn, Out};
use plan::Env;
use script::Pools;
use std::collections::BTreeMap;
use world::{World, N_CLIENTS};

/// The kinds of connection plan, in the order the summary lists them: (name, expected
/// verdict, empty when the kind is not an authentication episode).
pub fn plan_kinds() -> impl Iterator<Item = (&'static str, &'static str)> {
    plan::KINDS
        .iter()
        .map(|&(_, _, name, verdict)| (name, verdict))
}

/// 2025-03-04T09:00:00Z, a Tuesday morning.
pub(crate) const START_SECS: u64 = 1_741_078_800;
/// Mean packet time between two frames of the capture.
const MEAN_GAP_US: u64 = 80;

#[derive(Default, serde::Serialize)]
pub struct Truth {
    pub file_bytes: u64,
    pub packets: u64,
    pub capture_seconds: f64,
    pub connections: u64,
    pub connections_without_handshake: u64,
    pub requests: u64,
    pub connect_requests: u64,
    pub credentialed_requests: u64,
    pub responses: u64,
    pub responses_407: u64,
    pub responses_by_status: BTreeMap<u16, u64>,
    /// Payload bytes inside CONNECT tunnels (after the 200) and in non-407 HTTP bodies.
    pub tunnel_bytes: u64,
    pub body_bytes: u64,
    pub bulk_share: f64,
    pub dropped_segments: u64,
    pub swapped_pairs: u64,
    pub episodes_total: u64,
    pub episodes_by_kind: BTreeMap<&'static str, u64>,
    /// What proxy407 should conclude, `outcome` or `failed/<cause>`.
    pub expected_verdicts: BTreeMap<&'static str, u64>,
    pub generator_seconds: f64,
    pub generator_mb_per_s: f64,
    /// CPU time (user + system) of the generator, Linux only: the figure that matters on
    /// a busy machine.
    pub generator_cpu_seconds: Option<f64>,
    pub generator_mb_per_cpu_s: Option<f64>,
}

/// What to generate.
pub struct Options {
    /// Stop starting connections once this many bytes are written.
    pub size: u64,
    pub seed: u64,
    /// Connections open at once.
    pub concurrency: usize,
}

/// Writes a whole capture to `w` and returns its ground truth (the generator's own timing
/// fields are left for the caller).
pub fn generate(w: &mut dyn std::io::Write, opts: &Options) -> std::io::Result<Truth> {
    let mut rng = WyRand(opts.seed ^ 0x9e37_79b9_7f4a_7c15);
    let world = World::new(&mut rng);
    let pools = Pools::new(&mut rng);
    let ports = (0..N_CLIENTS)
        .map(|_| 49_152 + rng.below(12_000) as u16)
        .collect();
    let mut env = Env {
        rng,
        pools,
        ts: START_SECS * 1_000_000,
        truth: Truth::default(),
        draining: false,
        ports,
        weight_total: plan::KINDS.iter().map(|k| k.1).sum(),
    };
    let mut out = Out::new(w);
    let concurrency = opts.concurrency.max(1);
    let mut active: Vec<Conn> = Vec::with_capacity(concurrency + 1);
    while active.len() < concurrency {
        let plan = env.plan(&world);
        active.push(Conn::new(plan, &world, &mut env));
    }
    while !active.is_empty() {
        if !env.draining && out.bytes >= opts.size {
            env.draining = true;
            for c in &mut active {
                c.drain();
            }
        }
        let i = env.rng.below(active.len() as u64) as usize;
        let burst = env.rng.range(1, 6);
        let mut done = false;
        for _ in 0..burst {
            env.ts += 1 + env.rng.below(2 * MEAN_GAP_US);
            if active[i].step(&mut env, &mut out)? {
                done = true;
                break;
            }
        }
        if done {
            let c = active.swap_remove(i);
            if let Some(f) = c.follow {
                active.push(Conn::new(*f, &world, &mut env));
            } else if !env.draining {
                let plan = env.plan(&world);
                active.push(Conn::new(plan, &world, &mut env));
            }
        }
    }
    let mut t = env.truth;
    t.file_bytes = out.bytes;
    t.packets = out.packets;
    t.capture_seconds = (env.ts / 1_000_000 - START_SECS) as f64;
    t.bulk_share = ((t.tunnel_bytes + t.body_bytes) as f64 / out.bytes.max(1) as f64 * 1000.0)
        .round()
        / 1000.0;
    out.finish()?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{csum, fold};

    fn gen(size: u64, seed: u64) -> (Vec<u8>, Truth) {
        let mut v = Vec::new();
        let opts = Options {
            size,
            seed,
            concurrency: 48,
        };
        let t = generate(&mut v, &opts).expect("writing to memory");
        (v, t)
    }

    /// (frame) of every pcap record.
    fn records(p: &[u8]) -> Vec<&[u8]> {
        assert_eq!(&p[..4], &0xa1b2_c3d4u32.to_le_bytes());
        assert_eq!(u32::from_le_bytes([p[20], p[21], p[22], p[23]]), 1);
        let mut out = Vec::new();
        let mut at = 24;
        let mut last_ts = 0u64;
        while at < p.len() {
            let h = &p[at..at + 16];
            let w = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
            let ts = u64::from(w(0)) * 1_000_000 + u64::from(w(4));
            assert!(w(4) < 1_000_000);
            assert!(ts >= last_ts, "timestamps go back at offset {at}");
            last_ts = ts;
            assert_eq!(w(8), w(12), "captured length = wire length");
            let len = w(8) as usize;
            out.push(&p[at + 16..at + 16 + len]);
            at += 16 + len;
        }
        assert_eq!(at, p.len());
        out
    }

    /// (vlan, v6, TCP payload) after checking lengths and checksums.
    fn tcp_payload(f: &[u8]) -> (bool, bool, &[u8]) {
        let mut l2 = 12;
        let vlan = f[12..14] == [0x81, 0x00];
        if vlan {
            l2 += 4;
        }
        let et = u16::from_be_bytes([f[l2], f[l2 + 1]]);
        let ip = l2 + 2;
        let (v6, tcp, pseudo) = match et {
            0x0800 => {
                let h = &f[ip..ip + 20];
                assert_eq!(h[0], 0x45);
                assert_eq!(fold(csum(h)), 0xffff, "IPv4 header checksum");
                let total = u16::from_be_bytes([h[2], h[3]]) as usize;
                assert_eq!(total, f.len() - ip, "IPv4 total length");
                assert_eq!(h[9], 6);
                let tcp_len = (total - 20) as u64;
                (false, ip + 20, csum(&h[12..20]) + 6 + tcp_len)
            }
            0x86dd => {
                let h = &f[ip..ip + 40];
                assert_eq!(h[0] >> 4, 6);
                let plen = u16::from_be_bytes([h[4], h[5]]) as usize;
                assert_eq!(plen, f.len() - ip - 40, "IPv6 payload length");
                assert_eq!(h[6], 6);
                (true, ip + 40, csum(&h[8..40]) + 6 + plen as u64)
            }
            other => panic!("ethertype {other:#x}"),
        };
        assert_eq!(fold(pseudo + csum(&f[tcp..])), 0xffff, "TCP checksum");
        let off = usize::from(f[tcp + 12] >> 4) * 4;
        (vlan, v6, &f[tcp + off..])
    }

    #[test]
    fn frames_are_well_formed_and_the_truth_matches_the_heads_written() {
        let (pcap, t) = gen(3_000_000, 1);
        let frames = records(&pcap);
        assert_eq!(frames.len() as u64, t.packets);
        assert_eq!(pcap.len() as u64, t.file_bytes);
        let (mut vlan, mut v6, mut r407, mut requests, mut connects, mut syns) = (0, 0, 0, 0, 0, 0);
        for f in &frames {
            let (vl, six, pay) = tcp_payload(f);
            vlan += u32::from(vl);
            v6 += u32::from(six);
            assert!(pay.len() <= 1460);
            if pay.starts_with(b"HTTP/1.1 407 ") {
                r407 += 1;
            }
            if pay.starts_with(b"GET http://") || pay.starts_with(b"CONNECT ") {
                requests += 1;
            }
            if pay.starts_with(b"CONNECT ") {
                connects += 1;
            }
            if pay.is_empty() && f.len() > 60 && f[f.len() - 12] == 2 {
                syns += 1; // MSS option first: a SYN or SYN-ACK
            }
        }
        assert_eq!(r407, t.responses_407);
        assert_eq!(requests, t.requests);
        assert_eq!(connects, t.connect_requests);
        assert!(t.responses_407 > 20 && t.connect_requests > 20);
        assert!(vlan > 0 && v6 > 0 && syns > 0);
        assert!(vlan < frames.len() as u32 && v6 < frames.len() as u32);
        let episodes: u64 = t.expected_verdicts.values().sum();
        assert_eq!(episodes, t.episodes_total);
    }

    #[test]
    fn same_seed_same_file_and_other_seed_other_file() {
        let (a, _) = gen(1_000_000, 5);
        let (b, _) = gen(1_000_000, 5);
        let (c, _) = gen(1_000_000, 6);
        assert!(a == b);
        assert!(a != c);
    }

    #[test]
    fn size_is_about_what_was_asked() {
        for size in [2_000_000u64, 12_000_000] {
            let (p, t) = gen(size, 3);
            assert!(p.len() as u64 >= size, "{} < {size}", p.len());
            assert!(
                (p.len() as u64) < size + size / 5 + 1_000_000,
                "{} for {size}",
                p.len()
            );
            let per_gb = t.packets as f64 / (p.len() as f64 / 1e9);
            assert!((0.8e6..1.6e6).contains(&per_gb), "{per_gb} packets per GB");
        }
    }
}
