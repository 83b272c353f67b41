//! Criterion benches of the pipeline stages on generated data, all in memory: decoding
//! frames, reassembling in-order segments (through the flow table), parsing HTTP heads (a
//! request with `Proxy-Authorization`, a `407` with several `Proxy-Authenticate`), parsing
//! NTLM type 3 and Kerberos credentials, and the whole engine over a small generated mix.
//!
//! The data comes from the test kit's mix (`proxy407_testkit::mix`, what `gen-mix` writes), so
//! the benches see the same headers, tokens and traffic shape as `scripts/bench.sh`.
//!
//! ```text
//! cargo bench --bench pipeline            # all
//! cargo bench --bench pipeline -- http    # one group
//! ```

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use proxy407::decode::{self, Decoded, Segment, TcpFlags};
use proxy407::engine::{Engine, EngineConfig};
use proxy407::flow::{ConnMeta, FailedAttempt, FlowHandler, FlowLimits, FlowTable};
use proxy407::http::{HttpConn, HttpEvent};
use proxy407::model::{Side, Ts};
use proxy407::reassembly::StreamEvent;
use proxy407::source::{self, Frame};
use proxy407_testkit::mix as gen_mix;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

const T0: i64 = 1_741_078_800_000_000;

/// A generated capture of about `size` bytes, in memory.
fn mix(size: u64) -> Vec<u8> {
    let mut pcap = Vec::with_capacity(size as usize + (1 << 20));
    let opts = gen_mix::Options {
        size,
        seed: 7,
        concurrency: 64,
    };
    if let Err(e) = gen_mix::generate(&mut pcap, &opts) {
        panic!("generating the bench capture: {e}");
    }
    pcap
}

/// (timestamp µs, frame bytes) of every record of a classic little-endian pcap.
fn frames(pcap: &[u8]) -> Vec<(i64, &[u8])> {
    let mut out = Vec::new();
    let mut at = 24;
    while let Some(h) = pcap.get(at..at + 16) {
        let word = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let len = word(8) as usize;
        let ts = i64::from(word(0)) * 1_000_000 + i64::from(word(4));
        let Some(data) = pcap.get(at + 16..at + 16 + len) else {
            break;
        };
        out.push((ts, data));
        at += 16 + len;
    }
    out
}

fn bench_decode(c: &mut Criterion) {
    let pcap = mix(4 << 20);
    let frames = frames(&pcap);
    let bytes: usize = frames.iter().map(|f| f.1.len()).sum();
    let mut g = c.benchmark_group("decode");
    // Per frame; the mix averages `bytes / frames` bytes a frame.
    g.throughput(Throughput::Elements(frames.len() as u64));
    let name = format!("mix_{}_frames_{}_bytes", frames.len(), bytes);
    g.bench_function(name, |b| {
        b.iter(|| {
            let mut tcp = 0u64;
            for &(ts, data) in &frames {
                let f = Frame {
                    shared: None,
                    file: 0,
                    number: 0,
                    ts: Ts(ts),
                    link_type: 1,
                    data,
                    orig_len: data.len() as u32,
                };
                if let Decoded::Tcp(s) = decode::decode(black_box(&f)) {
                    tcp += s.payload.len() as u64;
                }
            }
            tcp
        })
    });
    g.finish();
}

/// Counts what the flow table delivers.
#[derive(Default)]
struct Count {
    data: u64,
    events: u64,
}

impl FlowHandler<()> for Count {
    fn stream(&mut self, _: &ConnMeta, _: &mut (), _: Side, _: Ts, ev: StreamEvent<'_>) {
        self.events += 1;
        if let StreamEvent::Data(d) = ev {
            self.data += d.len() as u64;
        }
    }
    fn closed(&mut self, _: &ConnMeta, _: (), _: Ts) {}
    fn attempt_failed(&mut self, _: FailedAttempt) {}
}

fn seg(ts: i64, client: bool, seq: u32, ack: u32, flags: TcpFlags, payload: &[u8]) -> Segment<'_> {
    let (c, p) = (
        (IpAddr::V4(Ipv4Addr::new(10, 16, 0, 9)), 50_123),
        (IpAddr::V4(Ipv4Addr::new(10, 0, 1, 11)), 3128),
    );
    let ((src_ip, src_port), (dst_ip, dst_port)) = if client { (c, p) } else { (p, c) };
    Segment {
        ts: Ts(ts),
        src_ip,
        src_port,
        dst_ip,
        dst_port,
        seq,
        ack,
        flags,
        window: 501,
        payload,
        missing_payload: 0,
        frame: 0,
    }
}

fn bench_reassembly(c: &mut Criterion) {
    // One connection: handshake, then 1 MiB from the proxy in MSS-sized in-order segments,
    // acknowledged every second segment.
    let body = vec![0x17u8; 1 << 20];
    let (ci, si) = (1_000u32, 9_000_000u32);
    let flag = |syn, ack| TcpFlags {
        syn,
        ack,
        ..TcpFlags::default()
    };
    let mut segs = vec![
        seg(T0, true, ci, 0, flag(true, false), &[]),
        seg(T0 + 200, false, si, ci + 1, flag(true, true), &[]),
        seg(T0 + 400, true, ci + 1, si + 1, flag(false, true), &[]),
    ];
    let mut ts = T0 + 1_000;
    for (i, chunk) in body.chunks(1460).enumerate() {
        let off = (i * 1460) as u32;
        segs.push(seg(
            ts,
            false,
            si + 1 + off,
            ci + 1,
            flag(false, true),
            chunk,
        ));
        if i % 2 == 1 {
            segs.push(seg(
                ts + 5,
                true,
                ci + 1,
                si + 1 + off + chunk.len() as u32,
                flag(false, true),
                &[],
            ));
        }
        ts += 10;
    }
    let limits = FlowLimits {
        max_connections: 64,
        ..FlowLimits::default()
    };
    let mut g = c.benchmark_group("reassembly");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("in_order_1MiB", |b| {
        b.iter(|| {
            let mut table: FlowTable<()> = FlowTable::new(limits.clone());
            let mut h = Count::default();
            for s in &segs {
                table.segment(black_box(s), &mut h);
            }
            table.finish(Ts(ts), &mut h);
            (h.data, h.events)
        })
    });
    g.finish();
}

fn bench_http(c: &mut Criterion) {
    let type3 = gen_mix::samples::ntlm_type3_header(11);
    let request = gen_mix::samples::request_head(11, false, Some(&type3));
    let plain = gen_mix::samples::request_head(12, true, None);
    let response = gen_mix::samples::response_407(13);
    let mut g = c.benchmark_group("http");
    g.throughput(Throughput::Bytes(request.len() as u64));
    g.bench_function("request_with_proxy_authorization", |b| {
        b.iter_batched_ref(
            HttpConn::new,
            |conn| {
                let mut out: Vec<HttpEvent> = Vec::new();
                conn.on_stream(Side::Client, Ts(T0), StreamEvent::Data(&request), &mut out);
                out
            },
            BatchSize::SmallInput,
        )
    });
    g.throughput(Throughput::Bytes((plain.len() + response.len()) as u64));
    g.bench_function("connect_then_407_three_challenges", |b| {
        b.iter_batched_ref(
            HttpConn::new,
            |conn| {
                let mut out: Vec<HttpEvent> = Vec::new();
                conn.on_stream(Side::Client, Ts(T0), StreamEvent::Data(&plain), &mut out);
                conn.on_stream(
                    Side::Server,
                    Ts(T0 + 900),
                    StreamEvent::Data(&response),
                    &mut out,
                );
                out
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn bench_auth(c: &mut Criterion) {
    let type3 = gen_mix::samples::ntlm_type3_header(21);
    let kerberos = gen_mix::samples::kerberos_header(22);
    let challenges = [
        "Negotiate",
        "NTLM",
        "Basic realm=\"Corporate Proxy\"",
        "Digest realm=\"Branch Office Proxy\", nonce=\"MTIzNDU2Nzg5MGFiY2RlZg==\", qop=\"auth\", stale=false",
    ];
    let mut g = c.benchmark_group("auth");
    g.throughput(Throughput::Bytes(type3.len() as u64));
    g.bench_function("ntlm_type3", |b| {
        b.iter(|| proxy407::auth::parse_credentials(black_box(&type3)))
    });
    g.throughput(Throughput::Bytes(kerberos.len() as u64));
    g.bench_function("negotiate_kerberos", |b| {
        b.iter(|| proxy407::auth::parse_credentials(black_box(&kerberos)))
    });
    g.throughput(Throughput::Elements(challenges.len() as u64));
    g.bench_function("four_challenges", |b| {
        b.iter(|| proxy407::auth::parse_challenges(black_box(challenges)))
    });
    g.finish();
}

fn bench_engine(c: &mut Criterion) {
    // Through the file source, as `proxy407 analyze` reads it.
    let pcap = mix(16 << 20);
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("temporary directory: {e}"),
    };
    let path = dir.path().join("mix.pcap");
    if let Err(e) = std::fs::write(&path, &pcap) {
        panic!("writing {}: {e}", path.display());
    }
    let paths = vec![path];
    let mut g = c.benchmark_group("engine");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(pcap.len() as u64));
    g.bench_function("mix_16MB_file", |b| {
        b.iter(|| {
            let mut src = match source::file::open_files(&paths) {
                Ok(s) => s,
                Err(e) => panic!("opening the bench capture: {e}"),
            };
            let engine = Engine::new(EngineConfig::default());
            let out = proxy407::driver::run(src.as_mut(), engine, &mut proxy407::driver::Batch);
            (out.capture.packets, out.http.responses_407)
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_decode,
    bench_reassembly,
    bench_http,
    bench_auth,
    bench_engine
);
criterion_main!(benches);
