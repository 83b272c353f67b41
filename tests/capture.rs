//! Packet sources and the decoder on real captures (the public corpus) and on damaged or
//! hand-written files: packet counts against tshark's, link types, TCP segments with HTTP,
//! truncation, trailers, pcapng interfaces, damage notices, gzip, merging, ns timestamps.

mod common;

use proxy407::app::exit_code_for;
use proxy407::decode::{decode, link_type_name, linktype, Decoded};
use proxy407::model::Notice;
use proxy407::model::Ts;
use proxy407::source::file::{open_files, open_reader};
use proxy407::source::InputError;
use proxy407::source::PacketSource;
use proxy407_testkit::pcap::block as ng_block;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus");

fn corpus() -> Option<PathBuf> {
    let p = PathBuf::from(CORPUS);
    if p.join("MANIFEST.md").is_file() {
        return Some(p);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("corpus directory {CORPUS} is missing (required when CI=true)");
    }
    eprintln!("note: corpus directory {CORPUS} is missing; test skipped");
    None
}

struct Row {
    file: String,
    link: String,
    pkts: u64,
    http_requests: u64,
}

fn manifest(dir: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.md")).expect("read MANIFEST.md");
    let mut rows = Vec::new();
    for line in text.lines() {
        if !line.starts_with("| `") {
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let file = cells[1].trim_matches('`').to_string();
        let link = cells[6].split('/').nth(1).unwrap_or("").trim().to_string();
        let pkts: u64 = cells[7].parse().expect("pkts column");
        let http_requests: u64 = cells[8].split('/').next().unwrap().parse().unwrap();
        rows.push(Row {
            file,
            link,
            pkts,
            http_requests,
        });
    }
    assert!(rows.len() >= 20, "manifest parsed: {} rows", rows.len());
    rows
}

/// An owned copy of a frame, for comparisons.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Owned {
    ts: Ts,
    link_type: u32,
    data: Vec<u8>,
    orig_len: u32,
}

fn drain(src: &mut dyn PacketSource) -> Vec<Owned> {
    let mut out = Vec::new();
    while let Some(f) = src.next_frame() {
        out.push(Owned {
            ts: f.ts,
            link_type: f.link_type,
            data: f.data.to_vec(),
            orig_len: f.orig_len,
        });
    }
    out
}

fn read_path(p: &Path) -> (Vec<Owned>, Vec<Notice>, proxy407::source::SourceStats) {
    let mut src = open_files(&[p.to_path_buf()]).expect("open");
    let frames = drain(src.as_mut());
    (frames, src.take_notices(), src.stats())
}

fn read_bytes(name: &str, bytes: Vec<u8>) -> anyhow::Result<(Vec<Owned>, Vec<Notice>)> {
    let mut src = open_reader(name, Box::new(std::io::Cursor::new(bytes)))?;
    let frames = drain(src.as_mut());
    Ok((frames, src.take_notices()))
}

const METHODS: [&[u8]; 9] = [
    b"GET ",
    b"POST ",
    b"PUT ",
    b"HEAD ",
    b"CONNECT ",
    b"OPTIONS ",
    b"DELETE ",
    b"PROPFIND ",
    b"HTTP/1.",
];

/// (src_port, dst_port, first bytes) of every TCP segment whose payload starts like HTTP.
fn http_segments(frames: &[Owned]) -> Vec<(u16, u16, String)> {
    let mut out = Vec::new();
    for f in frames {
        let frame = proxy407::source::Frame {
            shared: None,
            file: 0,
            number: 0,
            ts: f.ts,
            link_type: f.link_type,
            data: &f.data,
            orig_len: f.orig_len,
        };
        if let Decoded::Tcp(s) = decode(&frame) {
            if METHODS.iter().any(|m| s.payload.starts_with(m)) {
                let head = String::from_utf8_lossy(&s.payload[..s.payload.len().min(12)]);
                out.push((s.src_port, s.dst_port, head.into_owned()));
            }
        }
    }
    out
}

fn expected_link_name(manifest_link: &str) -> &'static str {
    match manifest_link {
        "ether" => "ethernet",
        "null" => "null",
        "linux-sll" => "linux_sll",
        "linux-sll2" => "linux_sll2",
        "nflog" => "nflog",
        "rawip4" => "ipv4",
        other => panic!("manifest link type {other} not expected"),
    }
}

#[test]
fn corpus_counts_link_types_and_http() {
    let Some(dir) = corpus() else { return };
    let rows = manifest(&dir);
    let listed: BTreeSet<&str> = rows.iter().map(|r| r.file.as_str()).collect();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".pcap") || name.ends_with(".pcapng") {
            assert!(listed.contains(name.as_str()), "{name} not in MANIFEST");
        }
    }
    for row in &rows {
        let (frames, notices, stats) = read_path(&dir.join(&row.file));
        assert_eq!(frames.len() as u64, row.pkts, "{}: packet count", row.file);
        assert_eq!(stats.packets, row.pkts, "{}: stats.packets", row.file);
        assert_eq!(stats.files, 1);
        assert_eq!(
            stats.bytes,
            frames.iter().map(|f| f.data.len() as u64).sum::<u64>()
        );
        assert!(notices.is_empty(), "{}: {notices:?}", row.file);
        let names: BTreeSet<String> = frames.iter().map(|f| link_type_name(f.link_type)).collect();
        let want = expected_link_name(&row.link);
        assert_eq!(
            names,
            BTreeSet::from([want.to_string()]),
            "{}: link types",
            row.file
        );
        let http = http_segments(&frames);
        if row.http_requests > 0 {
            assert!(
                http.iter().any(|(_, _, h)| !h.starts_with("HTTP/1.")),
                "{}: no HTTP request found in TCP payloads",
                row.file
            );
        }
        // No frame of the corpus is malformed at the link or IP layer.
        for (i, f) in frames.iter().enumerate() {
            let frame = proxy407::source::Frame {
                shared: None,
                file: 0,
                number: 0,
                ts: f.ts,
                link_type: f.link_type,
                data: &f.data,
                orig_len: f.orig_len,
            };
            match decode(&frame) {
                Decoded::Malformed(layer) => {
                    panic!("{} frame {}: malformed {layer}", row.file, i + 1)
                }
                Decoded::UnknownLink(l) => panic!("{}: unknown link {l}", row.file),
                _ => {}
            }
        }
    }
}

#[test]
fn edge_link_types_yield_http_on_the_right_ports() {
    let Some(dir) = corpus() else { return };
    let cases: [(&str, u16, bool); 7] = [
        ("sv-sll-http.pcap", 80, false),
        ("sv-sll2-http.pcap", 80, false),
        ("zeek-nflog-http.pcap", 80, false),
        ("sv-http-ipv6-null.pcap", 8000, true),
        ("zeek-http-basic-auth-with-colon-rawip.pcap", 8000, false),
        ("zeek-http-vlan-0.pcap", 80, false),
        ("sv-http-connect-simple-null.pcap", 8002, false),
    ];
    for (file, port, v6) in cases {
        let (frames, _, _) = read_path(&dir.join(file));
        let mut req = false;
        let mut resp = false;
        for f in &frames {
            let frame = proxy407::source::Frame {
                shared: None,
                file: 0,
                number: 0,
                ts: f.ts,
                link_type: f.link_type,
                data: &f.data,
                orig_len: f.orig_len,
            };
            if let Decoded::Tcp(s) = decode(&frame) {
                if s.dst_port == port && METHODS[..8].iter().any(|m| s.payload.starts_with(m)) {
                    req = true;
                    assert_eq!(s.dst_ip.is_ipv6(), v6, "{file}");
                }
                if s.src_port == port && s.payload.starts_with(b"HTTP/1.") {
                    resp = true;
                }
            }
        }
        assert!(req && resp, "{file}: request {req} response {resp}");
    }
}

#[test]
fn snaplen_96_reports_truncation_and_missing_payload() {
    let Some(dir) = corpus() else { return };
    let (frames, _, stats) = read_path(&dir.join("zeek-communityid-tcp-snaplen96.pcap"));
    assert!(stats.truncated_packets > 0);
    assert_eq!(
        stats.truncated_packets,
        frames
            .iter()
            .filter(|f| (f.data.len() as u32) < f.orig_len)
            .count() as u64
    );
    let mut missing = 0u64;
    let mut saw_get = false;
    for f in &frames {
        let frame = proxy407::source::Frame {
            shared: None,
            file: 0,
            number: 0,
            ts: f.ts,
            link_type: f.link_type,
            data: &f.data,
            orig_len: f.orig_len,
        };
        if let Decoded::Tcp(s) = decode(&frame) {
            assert!(f.data.len() <= 96);
            if s.missing_payload > 0 {
                // Captured + missing payload = what the frame had on the wire past the headers.
                let headers = f.data.len() - s.payload.len();
                assert_eq!(
                    s.payload.len() + s.missing_payload as usize,
                    f.orig_len as usize - headers
                );
                saw_get |= s.payload.starts_with(b"GET ");
            }
            missing += u64::from(s.missing_payload);
        }
    }
    assert!(missing > 0);
    assert!(saw_get, "the cut GET keeps its first bytes");
}

#[test]
fn vlan_f5_trailer_is_not_payload() {
    let Some(dir) = corpus() else { return };
    let (frames, _, _) = read_path(&dir.join("zeek-mixed-vlan-mpls-http.pcap"));
    // Frame number -> TCP payload length, from tshark (`tcp.len`); the frames carry a
    // 22-byte F5 trailer after the IP packet.
    let want = [(37usize, 9usize), (39, 1428), (40, 1428), (41, 573)];
    for (n, len) in want {
        let f = &frames[n - 1];
        let frame = proxy407::source::Frame {
            shared: None,
            file: 0,
            number: 0,
            ts: f.ts,
            link_type: f.link_type,
            data: &f.data,
            orig_len: f.orig_len,
        };
        match decode(&frame) {
            Decoded::Tcp(s) => {
                assert_eq!(s.payload.len(), len, "frame {n}");
                assert_eq!(s.missing_payload, 0);
            }
            other => panic!("frame {n}: {other:?}"),
        }
    }
}

#[test]
fn pcapng_two_interfaces_with_their_own_resolution() {
    let Some(dir) = corpus() else { return };
    let (frames, notices, _) = read_path(&dir.join("zeek-pcapng-multi-interface.pcapng"));
    assert!(notices.is_empty());
    // From tshark: interface 0 has nanosecond timestamps, interface 1 microseconds.
    let want = [
        (1_767_663_089_500_330i64, 96usize),
        (1_767_663_089_514_291, 214),
        (1_767_663_437_111_897, 70),
        (1_767_663_437_126_460, 166),
        (1_767_663_437_128_303, 70),
        (1_767_663_437_140_942, 182),
    ];
    assert_eq!(frames.len(), want.len());
    for (f, (ts, len)) in frames.iter().zip(want) {
        assert_eq!(f.ts, Ts(ts));
        assert_eq!(f.data.len(), len);
        assert_eq!(link_type_name(f.link_type), "ethernet");
    }
}

/// Record boundaries of a classic pcap: (offset, caplen) of each record.
fn pcap_records(bytes: &[u8]) -> Vec<(usize, usize)> {
    assert_eq!(
        &bytes[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian µs pcap"
    );
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        out.push((at, caplen));
        at += 16 + caplen;
    }
    out
}

#[test]
fn truncated_file_keeps_records_before_the_cut() {
    let Some(dir) = corpus() else { return };
    let bytes = std::fs::read(dir.join("sv-http-ipv6-null.pcap")).unwrap();
    let records = pcap_records(&bytes);
    let (full, _) = read_bytes("full", bytes.clone()).unwrap();
    assert_eq!(full.len(), records.len());
    let tmp = tempfile::tempdir().unwrap();
    for k in [1usize, 5, records.len() - 1] {
        let (off, caplen) = records[k];
        for cut in [off + 7, off + 16 + caplen / 2] {
            let p = tmp.path().join(format!("cut-{k}-{cut}.pcap"));
            std::fs::write(&p, &bytes[..cut]).unwrap();
            let (frames, notices, stats) = read_path(&p);
            assert_eq!(frames, full[..k].to_vec(), "cut at {cut}");
            assert_eq!(stats.packets, k as u64);
            assert_eq!(notices.len(), 1, "{notices:?}");
            assert_eq!(notices[0].offset, Some(off as u64));
            assert!(notices[0].origin.ends_with(&format!("cut-{k}-{cut}.pcap")));
            assert!(notices[0].to_string().contains(&format!("offset {off}")));
        }
    }
}

#[test]
fn garbage_empty_and_missing_inputs() {
    // Not a capture at all.
    let e = read_bytes(
        "garbage",
        b"this is not a capture file, just text\n".repeat(50),
    )
    .expect_err("garbage must not open");
    assert!(e.downcast_ref::<InputError>().is_some());
    assert_eq!(exit_code_for(&e), 3);
    assert!(e.to_string().contains("garbage"));
    // Empty.
    let e = read_bytes("empty", Vec::new()).expect_err("empty must not open");
    assert!(e.downcast_ref::<InputError>().is_some());
    assert!(e.to_string().contains("empty"));
    // A few bytes.
    assert!(read_bytes("short", vec![0xd4, 0xc3]).is_err());
    // Missing file alone: InputError; among good files: a notice.
    let missing = PathBuf::from("/nonexistent/proxy407/missing.pcap");
    let e = open_files(std::slice::from_ref(&missing))
        .err()
        .expect("missing");
    assert_eq!(exit_code_for(&e), 3);
    assert!(e.to_string().contains("missing.pcap"));
    let Some(dir) = corpus() else { return };
    let good = dir.join("sv-sll-http.pcap");
    let mut src = open_files(&[missing.clone(), good]).unwrap();
    let frames = drain(src.as_mut());
    assert_eq!(frames.len(), 12);
    let notices = src.take_notices();
    assert_eq!(notices.len(), 1);
    assert!(notices[0].origin.contains("missing.pcap"));
}

#[test]
fn corrupt_record_header_is_skipped_and_reading_resumes() {
    let Some(dir) = corpus() else { return };
    let bytes = std::fs::read(dir.join("bruteshark-http-ntlm-401.pcap")).unwrap();
    let records = pcap_records(&bytes);
    let (full, _) = read_bytes("full", bytes.clone()).unwrap();
    // An absurd captured length in record 10.
    let mut bad = bytes.clone();
    let (off, _) = records[10];
    bad[off + 8..off + 12].copy_from_slice(&0xfff0_0000u32.to_le_bytes());
    let (frames, notices) = read_bytes("bad", bad).unwrap();
    assert_eq!(frames[..10], full[..10]);
    assert_eq!(frames[10..], full[11..], "resumes at the next record");
    assert!(notices.iter().any(|n| n.offset == Some(off as u64)));
    // Random bytes pasted between two records.
    let (off, _) = records[20];
    let mut bad = bytes[..off].to_vec();
    bad.extend((0..333u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    bad.extend_from_slice(&bytes[off..]);
    let (frames, notices) = read_bytes("pasted", bad).unwrap();
    assert_eq!(frames[..20], full[..20]);
    assert!(
        frames.ends_with(&full[21..]),
        "everything after the damage is read again"
    );
    assert!(!notices.is_empty());
    // Garbage after the last record.
    let mut bad = bytes.clone();
    bad.extend_from_slice(&[0xee; 40]);
    let (frames, notices) = read_bytes("tail", bad).unwrap();
    assert_eq!(frames, full);
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0].offset, Some(bytes.len() as u64));
}

#[test]
fn gzip_reads_the_same_frames() {
    let Some(dir) = corpus() else { return };
    for file in ["zeek-http-vlan-0.pcap", "chrissanders-http-ip4and6.pcapng"] {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let (plain, _) = read_bytes("plain", bytes.clone()).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&bytes).unwrap();
        let gz = gz.finish().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join(format!("{file}.gz"));
        std::fs::write(&p, &gz).unwrap();
        let (frames, notices, _) = read_path(&p);
        assert_eq!(frames, plain, "{file}");
        assert!(notices.is_empty());
        let src = open_files(&[p]).unwrap();
        let _ = src.progress();
        // A cut gzip stream: the frames decompressed before the cut, and a notice.
        let (frames, notices) = read_bytes("cut.gz", gz[..gz.len() / 2].to_vec()).unwrap();
        assert!(frames.len() < plain.len());
        assert_eq!(frames[..], plain[..frames.len()]);
        assert!(!notices.is_empty());
    }
}

#[test]
fn progress_reaches_the_file_size() {
    let Some(dir) = corpus() else { return };
    let p = dir.join("sv-sll2-http.pcap");
    let size = std::fs::metadata(&p).unwrap().len();
    let mut src = open_files(&[p]).unwrap();
    while src.next_frame().is_some() {}
    assert_eq!(src.progress(), (size, Some(size)));
}

#[test]
fn two_files_merge_in_time_order() {
    let Some(dir) = corpus() else { return };
    let a = dir.join("bruteshark-http-negotiate-kerberos-b.pcap");
    let b = dir.join("zeek-http-proxy-absolute-uri.pcap");
    let (fa, _, _) = read_path(&a);
    let (fb, _, _) = read_path(&b);
    // Interleave them in time: shift b's timestamps into a's range via a rewritten copy.
    let mut bytes = std::fs::read(&b).unwrap();
    let base_a = fa[0].ts.secs() as u32;
    let base_b = fb[0].ts.secs() as u32;
    for (off, _) in pcap_records(&bytes.clone()) {
        let s = u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap());
        let shifted = s - base_b + base_a + 1;
        bytes[off..off + 4].copy_from_slice(&shifted.to_le_bytes());
    }
    let tmp = tempfile::tempdir().unwrap();
    let b2 = tmp.path().join("shifted.pcap");
    std::fs::write(&b2, &bytes).unwrap();
    let mut src = open_files(&[a.clone(), b2]).unwrap();
    let merged = drain(src.as_mut());
    assert_eq!(merged.len(), fa.len() + fb.len());
    assert!(merged.windows(2).all(|w| w[0].ts <= w[1].ts));
    let stats = src.stats();
    assert_eq!(stats.files, 2);
    assert_eq!(stats.packets, merged.len() as u64);
    // Both files really interleave, and each one's frames keep their order.
    let from_a: Vec<&Owned> = merged.iter().filter(|f| fa.contains(f)).collect();
    assert_eq!(from_a.len(), fa.len());
    assert!(from_a.iter().zip(&fa).all(|(x, y)| *x == y));
    let first_b = merged.iter().position(|f| !fa.contains(f)).unwrap();
    assert!(first_b > 0 && first_b < merged.len() - fb.len());
}

/// Writes a classic pcap by hand.
fn write_pcap(
    magic: u32,
    big_endian: bool,
    link: u32,
    records: &[(u32, u32, &[u8], u32)],
) -> Vec<u8> {
    let w32 = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let w16 = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut out = Vec::new();
    out.extend_from_slice(&w32(magic));
    out.extend_from_slice(&w16(2));
    out.extend_from_slice(&w16(4));
    out.extend_from_slice(&w32(0));
    out.extend_from_slice(&w32(0));
    out.extend_from_slice(&w32(65535));
    out.extend_from_slice(&w32(link));
    for (sec, frac, data, orig) in records {
        out.extend_from_slice(&w32(*sec));
        out.extend_from_slice(&w32(*frac));
        out.extend_from_slice(&w32(data.len() as u32));
        out.extend_from_slice(&w32(*orig));
        out.extend_from_slice(data);
    }
    out
}

#[test]
fn nanosecond_and_big_endian_pcap_timestamps() {
    let pkt: &[u8] = &[0x45, 0, 0, 20];
    let recs = [
        (1_700_000_000u32, 123_456_789u32, pkt, 4u32),
        (1_700_000_001, 999_999_999, pkt, 60),
    ];
    for be in [false, true] {
        let (frames, notices) = read_bytes("ns", write_pcap(0xa1b2_3c4d, be, 101, &recs)).unwrap();
        assert!(notices.is_empty());
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].ts, Ts(1_700_000_000_123_456));
        assert_eq!(frames[1].ts, Ts(1_700_000_001_999_999));
        assert_eq!(frames[1].orig_len, 60);
        assert_eq!(link_type_name(frames[0].link_type), "raw");
    }
    let recs = [(1_700_000_000u32, 654_321u32, pkt, 4u32)];
    for be in [false, true] {
        let (frames, _) = read_bytes("us", write_pcap(0xa1b2_c3d4, be, 1, &recs)).unwrap();
        assert_eq!(frames[0].ts, Ts(1_700_000_000_654_321));
        assert_eq!(frames[0].link_type, linktype::ETHERNET);
    }
}

#[test]
fn zero_length_and_oversized_records_are_noticed() {
    let big = vec![0u8; 70_000];
    let recs: [(u32, u32, &[u8], u32); 3] = [
        (1_700_000_000, 1, &[], 0),
        (1_700_000_000, 2, &big, 70_000),
        (1_700_000_000, 3, &[1, 2, 3], 3),
    ];
    let (frames, notices) = read_bytes("odd", write_pcap(0xa1b2_c3d4, false, 1, &recs)).unwrap();
    assert_eq!(frames.len(), 3);
    assert!(frames[0].data.is_empty());
    assert_eq!(frames[1].data.len(), 70_000);
    let text: Vec<String> = notices.iter().map(|n| n.to_string()).collect();
    assert!(text.iter().any(|t| t.contains("zero-length")), "{text:?}");
    assert!(text.iter().any(|t| t.contains("snap length")), "{text:?}");
}

#[test]
fn decode_counts_on_corpus_summary() {
    // A per-file tally of what the decoder makes of every frame, checked against tshark for
    // a file with UDP, TCP and other traffic.
    let Some(dir) = corpus() else { return };
    let (frames, _, _) = read_path(&dir.join("bruteshark-http-negotiate-kerberos-b.pcap"));
    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &frames {
        let frame = proxy407::source::Frame {
            shared: None,
            file: 0,
            number: 0,
            ts: f.ts,
            link_type: f.link_type,
            data: &f.data,
            orig_len: f.orig_len,
        };
        let k = match decode(&frame) {
            Decoded::Tcp(_) => "tcp",
            Decoded::NotTcp => "not_tcp",
            Decoded::Udp(_) => "udp",
            Decoded::Fragment => "fragment",
            Decoded::NotIp => "not_ip",
            Decoded::UnknownLink(_) => "unknown",
            Decoded::Malformed(_) => "malformed",
        };
        *tally.entry(k).or_default() += 1;
    }
    let tcp = tally.get("tcp").copied().unwrap_or(0);
    let other = frames.len() - tcp;
    // tshark -Y tcp | wc -l on this file.
    assert_eq!(tcp, TSHARK_TCP_KERBEROS_B, "{tally:?}");
    assert!(other > 0);
}

/// `tshark -n -r bruteshark-http-negotiate-kerberos-b.pcap -Y tcp | wc -l`
const TSHARK_TCP_KERBEROS_B: usize = 58;

#[cfg(feature = "live")]
mod live {
    use super::*;
    use proxy407::decode::decap::DecapConfig;
    use proxy407::source::live::{list_interfaces, open_live, LiveSource};
    use proxy407::source::LiveError;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    #[test]
    fn captures_a_proxy_connection_on_loopback() {
        let listener = TcpListener::bind("127.0.0.1:3128")
            .or_else(|_| TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut src = LiveSource::open(
            "lo",
            None,
            &[port],
            DecapConfig::NONE.tunnel_udp_ports().as_deref(),
            &[],
            Some(Duration::from_secs(20)),
        )
        .unwrap();
        assert_eq!(src.link_type(), linktype::ETHERNET);
        let notices = src.take_notices();
        assert!(notices[0].message.contains(&format!("port {port}")));
        let stop = src.stop_flag();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).unwrap();
            buf[..n].to_vec()
        });
        let client = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
            c.write_all(b"GET http://example.test/ HTTP/1.1\r\n\r\n")
                .unwrap();
            std::thread::sleep(Duration::from_millis(200));
        });
        let started = Instant::now();
        let (mut syn, mut get) = (false, false);
        while let Some(f) = src.next_frame() {
            if let Decoded::Tcp(s) = decode(&f) {
                assert!(s.src_port == port || s.dst_port == port, "filter holds");
                syn |= s.flags.syn && !s.flags.ack && s.dst_port == port;
                get |= s.dst_port == port && s.payload.starts_with(b"GET http://example.test/");
            }
            if syn && get {
                stop.store(true, Ordering::Relaxed);
            }
        }
        assert!(syn && get, "syn {syn} get {get}");
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "stopped by the flag"
        );
        client.join().unwrap();
        assert!(server.join().unwrap().starts_with(b"GET "));
        let stats = src.stats();
        assert!(stats.packets >= 3);
        assert!(stats.kernel_received.unwrap() >= stats.packets);
        assert_eq!(stats.kernel_dropped, Some(0));
    }

    #[test]
    fn duration_ends_a_quiet_capture() {
        let started = Instant::now();
        // Port 9 (discard) on loopback: nothing to see.
        let mut src = open_live(
            "lo",
            Some("host 127.0.0.9"),
            &[9],
            DecapConfig::AUTO.tunnel_udp_ports().as_deref(),
            &[],
            Some(Duration::from_millis(300)),
        )
        .unwrap();
        assert!(src.next_frame().is_none());
        let e = started.elapsed();
        assert!(
            e >= Duration::from_millis(300) && e < Duration::from_secs(5),
            "{e:?}"
        );
    }

    #[test]
    fn unknown_interface_and_bad_filter_are_live_errors() {
        let e = open_live(
            "nosuchif0",
            None,
            &[3128],
            DecapConfig::AUTO.tunnel_udp_ports().as_deref(),
            &[],
            None,
        )
        .err()
        .unwrap();
        assert_eq!(exit_code_for(&e), 4);
        let msg = e.to_string();
        assert!(matches!(
            e.downcast_ref::<LiveError>(),
            Some(LiveError::NoSuchInterface { .. })
        ));
        assert!(msg.contains("nosuchif0") && msg.contains("lo"), "{msg}");
        let e = open_live(
            "lo",
            Some("this is not bpf"),
            &[3128],
            DecapConfig::AUTO.tunnel_udp_ports().as_deref(),
            &[],
            None,
        )
        .err()
        .unwrap();
        assert!(matches!(
            e.downcast_ref::<LiveError>(),
            Some(LiveError::Filter { .. })
        ));
        assert_eq!(exit_code_for(&e), 4);
        let lo = list_interfaces()
            .unwrap()
            .into_iter()
            .find(|i| i.name == "lo")
            .unwrap();
        assert!(lo.loopback && lo.up);
        assert!(lo.addresses.contains(&"127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn permission_message_names_the_fix() {
        let e = LiveError::Permission {
            iface: "eth0".into(),
            detail: "socket: Operation not permitted".into(),
        };
        let msg = e.to_string();
        assert!(msg.contains("run as root"));
        assert!(msg.contains("setcap cap_net_raw,cap_net_admin+eip"));
    }
}

/// An enhanced packet block; `ts` in the units of its interface's resolution.
fn ng_epb(iface: u32, ts: u64, data: &[u8], orig: u32) -> Vec<u8> {
    let mut b = iface.to_le_bytes().to_vec();
    b.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
    b.extend_from_slice(&(ts as u32).to_le_bytes());
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(&orig.to_le_bytes());
    b.extend_from_slice(data);
    while b.len() % 4 != 0 {
        b.push(0);
    }
    ng_block(6, &b)
}

#[test]
fn handwritten_pcapng_interfaces_unknown_blocks_and_damage() {
    let mut f = ng_block(
        0x0a0d_0d0a,
        &[
            0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ],
    );
    // Interface 0: Linux SLL, nanosecond timestamps (if_tsresol = 9).
    f.extend(ng_block(
        1,
        &[113, 0, 0, 0, 0, 0, 0, 0, 9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0],
    ));
    // Interface 1: Ethernet, default microseconds.
    f.extend(ng_block(1, &[1, 0, 0, 0, 0, 0, 0, 0]));
    // A block type nobody knows.
    f.extend(ng_block(0x0bad_0bad, b"whatever is in here"));
    f.extend(ng_epb(1, 1_700_000_000_250_000, &[1; 20], 20));
    f.extend(ng_epb(0, 1_700_000_001_123_456_789, &[2; 30], 90));
    let undeclared_at = f.len() as u64;
    f.extend(ng_epb(7, 1, &[3; 10], 10));
    f.extend(ng_epb(1, 1_700_000_002_000_001, &[4; 10], 10));
    let cut_at = f.len() as u64;
    let last = ng_epb(1, 1_700_000_003_000_000, &[5; 40], 40);
    f.extend_from_slice(&last[..30]);
    let (frames, notices) = read_bytes("hand.pcapng", f).unwrap();
    assert_eq!(frames.len(), 3, "{notices:?}");
    assert_eq!(frames[0].ts, Ts(1_700_000_000_250_000));
    assert_eq!(link_type_name(frames[0].link_type), "ethernet");
    assert_eq!(frames[1].ts, Ts(1_700_000_001_123_456));
    assert_eq!(link_type_name(frames[1].link_type), "linux_sll");
    assert_eq!((frames[1].data.len(), frames[1].orig_len), (30, 90));
    assert_eq!(frames[2].data, vec![4; 10]);
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert_eq!(notices[0].offset, Some(undeclared_at));
    assert!(notices[0].message.contains("interface 7"));
    assert_eq!(notices[1].offset, Some(cut_at));
}

/// Files are read through a sliding memory map; readers of other inputs (here an in-memory
/// copy) use pcap-parser's buffered readers. On files larger than several map windows, with
/// damage and with blocks larger than a window placed across window ends, both give the same
/// frames and the same notices at the same offsets.
#[test]
fn mapped_and_buffered_reads_agree_across_windows() {
    use proxy407::source::mapped::WINDOW;
    let mut rng = proxy407_testkit::rng::XorShift::new(7);
    // Records of 60..1500 bytes up to a little over two and a half windows.
    let mut payloads: Vec<Vec<u8>> = Vec::new();
    let mut size = 24usize;
    while size < WINDOW * 5 / 2 {
        let n = 60 + (rng.next_u64() % 1440) as usize;
        let fill = (payloads.len() % 251) as u8;
        payloads.push(vec![fill; n]);
        size += 16 + n;
    }
    let records: Vec<(u32, u32, &[u8], u32)> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (
                1_700_000_000 + (i / 1000) as u32,
                (i % 1000) as u32 * 1000,
                &p[..],
                p.len() as u32,
            )
        })
        .collect();
    let clean = write_pcap(0xa1b2_c3d4, false, 1, &records);
    let offsets = pcap_records(&clean);
    // The record that straddles the end of the first window.
    let straddling = offsets
        .iter()
        .position(|&(off, len)| off < WINDOW && off + 16 + len > WINDOW)
        .unwrap_or_else(|| offsets.iter().position(|&(off, _)| off > WINDOW).unwrap());
    let (at, _) = offsets[straddling];

    let mut absurd = clean.clone();
    absurd[at + 8..at + 12].copy_from_slice(&0xfff0_0000u32.to_le_bytes());
    let mut pasted = clean[..at].to_vec();
    pasted.extend((0..333u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    pasted.extend_from_slice(&clean[at..]);
    let cut = clean[..clean.len() - 100].to_vec();
    // One record larger than a window, starting just before the first window ends, in a
    // file whose snap length allows it.
    let big = vec![0x5a; WINDOW + WINDOW / 4];
    let mut with_big: Vec<(u32, u32, &[u8], u32)> = records[..straddling].to_vec();
    with_big.push((1_700_000_100, 0, &big[..], big.len() as u32));
    with_big.extend_from_slice(&records[straddling..]);
    let mut big_file = write_pcap(0xa1b2_c3d4, false, 1, &with_big);
    big_file[16..20].copy_from_slice(&(64u32 << 20).to_le_bytes());
    // One record a little smaller than a window, at the same place: it fits a window only
    // if the window starts at it, and windows start at aligned offsets before it.
    let nearly = vec![0x6b; WINDOW - 4096];
    let mut with_nearly: Vec<(u32, u32, &[u8], u32)> = records[..straddling].to_vec();
    with_nearly.push((1_700_000_100, 0, &nearly[..], nearly.len() as u32));
    with_nearly.extend_from_slice(&records[straddling..]);
    let mut nearly_file = write_pcap(0xa1b2_c3d4, false, 1, &with_nearly);
    nearly_file[16..20].copy_from_slice(&(64u32 << 20).to_le_bytes());

    let tmp = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("clean", clean.clone()),
        ("absurd", absurd),
        ("pasted", pasted),
        ("cut", cut),
        ("big", big_file),
        ("nearly", nearly_file),
    ] {
        let p = tmp.path().join(format!("{name}.pcap"));
        std::fs::write(&p, &bytes).unwrap();
        let (mapped, mapped_notices, _) = read_path(&p);
        let (buffered, buffered_notices) = read_bytes(&p.display().to_string(), bytes).unwrap();
        assert!(mapped.len() > 1000, "{name}: {} frames", mapped.len());
        assert!(mapped == buffered, "{name}: frames differ");
        assert_eq!(mapped_notices, buffered_notices, "{name}");
        match name {
            "clean" => assert!(mapped_notices.is_empty(), "{mapped_notices:?}"),
            "big" | "nearly" => {
                assert!(mapped_notices.is_empty(), "{name}: {mapped_notices:?}");
                assert_eq!(mapped.len(), records.len() + 1, "{name}");
            }
            _ => assert!(!mapped_notices.is_empty(), "{name}"),
        }
    }
}

/// A sample captured again with a short snap length (`editcap -s`): no proxy connection is
/// found, and the report says why: the snap length cut the payload on the proxy ports (or
/// even the TCP headers), not "name the proxy port". The JSON counts the cut packets.
#[test]
fn a_short_snap_length_is_named_as_the_reason_no_proxy_was_found() {
    if !common::tool_present("editcap") {
        return;
    }
    let bin = env!("CARGO_BIN_EXE_proxy407");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/basic-wrong-password.pcap");
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str], file: &Path| -> String {
        let out = std::process::Command::new(bin)
            .args(args)
            .arg(file)
            .output()
            .expect("run proxy407");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let whole: serde_json::Value =
        serde_json::from_str(&run(&["analyze", "--json"], &sample)).expect("JSON");
    assert!(whole["capture"].get("proxy_port_packets_cut").is_none());
    for (snap, hint) in [(96, "on proxy ports"), (60, "inside their TCP headers")] {
        let cut = dir.path().join(format!("cut-{snap}.pcap"));
        let st = std::process::Command::new("editcap")
            .args(["-s", &snap.to_string()])
            .arg(&sample)
            .arg(&cut)
            .status()
            .expect("editcap runs (apt-get install tshark)");
        assert!(st.success());
        let text = run(&["analyze", "--no-color"], &cut);
        assert!(text.contains("No proxy connection found"), "{text}");
        assert!(text.contains(hint), "-s {snap}: {text}");
        assert!(text.contains("tcpdump -s 0"), "-s {snap}: {text}");
        assert!(!text.contains("--proxy-port PORT"), "-s {snap}: {text}");
        let json: serde_json::Value =
            serde_json::from_str(&run(&["analyze", "--json"], &cut)).expect("JSON");
        let n = json["capture"]["proxy_port_packets_cut"]
            .as_u64()
            .unwrap_or(0);
        if snap == 96 {
            assert!(n > 0, "{json}");
        }
    }
}
