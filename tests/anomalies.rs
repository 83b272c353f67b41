//! Named anomalies end to end: damaged files, malformed frames, broken HTTP framing and
//! unreadable credentials written as real captures, read by the binary, and found by name in
//! `analyze --json` (every name present) and in the report's capture health.

mod common;

use common::*;
use proxy407::anomaly::Anomaly;
use proxy407_testkit::{CaptureWriter, LinkKind, Packet, Resolution};
use serde_json::Value;
use std::path::Path;

/// A µs little-endian pcap of `packets` on Ethernet, as bytes.
fn pcap_bytes(packets: &[Packet]) -> Vec<u8> {
    let mut w = CaptureWriter::pcap(Vec::new(), LinkKind::Ethernet, Resolution::Micro).unwrap();
    w.write_all(packets).unwrap();
    w.into_inner()
}

/// Appends a classic pcap record holding `data`.
fn push_record(pcap: &mut Vec<u8>, sec: u32, data: &[u8]) {
    let len = data.len() as u32;
    for v in [sec, 0, len, len] {
        pcap.extend_from_slice(&v.to_le_bytes());
    }
    pcap.extend_from_slice(data);
}

/// (offset, captured length) of every record of a µs little-endian pcap.
fn records(pcap: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let caplen = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        out.push((at, caplen));
        at += 16 + caplen;
    }
    out
}

/// A proxied GET answered 200: a clean conversation to build on.
fn clean_conversation(client: &str, start_ms: i64) -> Vec<Packet> {
    let mut c = conv(client, "10.0.0.1:3128", start_ms);
    c.handshake()
        .client_send(&req("GET", "http://example.com/", &[]))
        .server_send(&resp200())
        .client_fin()
        .server_fin()
        .client_ack();
    c.into_packets()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn count(v: &Value, name: &str) -> u64 {
    v["anomalies"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no count for {name} in {}", v["anomalies"]))
}

/// Every name is there, the counts are the ones given, everything else is 0, and the older
/// counters are the sums of their layers.
fn assert_anomalies(v: &Value, want: &[(&str, u64)]) {
    let obj = v["anomalies"].as_object().expect("an anomalies object");
    let names: Vec<&str> = obj.keys().map(String::as_str).collect();
    let all: Vec<&str> = Anomaly::all().map(Anomaly::name).collect();
    let (mut sorted, mut all_sorted) = (names.clone(), all.clone());
    sorted.sort_unstable();
    all_sorted.sort_unstable();
    assert_eq!(sorted, all_sorted, "every name, once");
    for a in Anomaly::all() {
        let expected = want
            .iter()
            .find(|(n, _)| *n == a.name())
            .map_or(0, |(_, c)| *c);
        assert_eq!(count(v, a.name()), expected, "{}", a.name());
    }
    let sum = |prefix: &str| -> u64 {
        obj.iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, n)| n.as_u64().unwrap())
            .sum()
    };
    assert_eq!(v["capture"]["decode_errors"], sum("decode."));
    assert_eq!(v["capture"]["http_anomalies"], sum("http."));
    assert_eq!(
        v["capture"]["flow_limit_hits"],
        sum("flow.") + count(v, "reassembly.buffer_full")
    );
}

#[test]
fn a_clean_capture_has_every_name_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "clean.pcap",
        &pcap_bytes(&clean_conversation("10.0.0.5:40000", 0)),
    );
    let v = analyze(&[&p], &[]);
    assert_anomalies(&v, &[]);
    let text = run(&["analyze", "--no-color"], &[&p]).stdout;
    assert!(!text.contains("anomalies:"), "{text}");
}

#[test]
fn malformed_frames_are_named_by_layer() {
    let dir = tempfile::tempdir().unwrap();
    let mut pcap = pcap_bytes(&clean_conversation("10.0.0.5:40000", 0));
    let sec = (T0 / 1_000_000) as u32 + 1;
    let eth = |ethertype: [u8; 2], rest: &[u8]| {
        let mut f = vec![
            0x02,
            0,
            0,
            0,
            0,
            1,
            0x02,
            0,
            0,
            0,
            0,
            2,
            ethertype[0],
            ethertype[1],
        ];
        f.extend_from_slice(rest);
        f
    };
    // An IPv4 header cut after 12 of its 20 bytes.
    push_record(
        &mut pcap,
        sec,
        &eth([0x08, 0x00], &[0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0]),
    );
    // A whole IPv4 header (TCP, total length 40) with 8 bytes of a TCP header.
    let mut ip = vec![
        0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 5, 10, 0, 0, 1,
    ];
    ip.extend_from_slice(&[0x9c, 0x40, 0x0c, 0x38, 0, 0, 0, 1]);
    push_record(&mut pcap, sec, &eth([0x08, 0x00], &ip));
    push_record(&mut pcap, sec, &eth([0x08, 0x00], &ip));
    // Too short for an Ethernet header.
    push_record(&mut pcap, sec, &[0x02, 0, 0, 0, 0, 1, 0x02]);
    let p = write(dir.path(), "malformed.pcap", &pcap);
    let v = analyze(&[&p], &[]);
    assert_anomalies(
        &v,
        &[
            ("decode.ipv4_header", 1),
            ("decode.tcp_header", 2),
            ("decode.ethernet_header", 1),
        ],
    );
    assert_eq!(v["capture"]["decode_errors"], 4);
    // The report's capture health names them, with what they mean.
    let text = run(&["analyze", "--no-color"], &[&p]).stdout;
    let health = text.split("Capture health").nth(1).unwrap();
    for a in ["decode.tcp_header", "decode.ipv4_header"] {
        let a = Anomaly::from_name(a).unwrap();
        let line = health
            .lines()
            .find(|l| l.contains(a.name()))
            .unwrap_or_else(|| panic!("{a} missing in\n{health}"));
        assert!(line.ends_with(a.explanation()), "{line}");
    }
    assert!(
        health.find("decode.tcp_header") < health.find("decode.ipv4_header"),
        "most frequent first:\n{health}"
    );
    assert!(!health.contains("http."), "{health}");
}

#[test]
fn capture_damage_is_counted_past_the_notices() {
    let dir = tempfile::tempdir().unwrap();
    let good = pcap_bytes(&clean_conversation("10.0.0.5:40000", 0));
    // An impossible captured length in the third record: read again from the next one.
    let mut corrupt = good.clone();
    let (off, _) = records(&good)[2];
    corrupt[off + 8..off + 12].copy_from_slice(&0xfff0_0000u32.to_le_bytes());
    let p = write(dir.path(), "corrupt.pcap", &corrupt);
    let v = analyze(&[&p], &[]);
    assert_anomalies(&v, &[("capture.corrupt_record", 1)]);
    assert_eq!(
        v["notices"].as_array().unwrap().len(),
        1,
        "{}",
        v["notices"]
    );
    // Cut in the middle of the last record.
    let p = write(dir.path(), "cut.pcap", &good[..good.len() - 5]);
    let v = analyze(&[&p], &[]);
    assert_anomalies(&v, &[("capture.truncated_file", 1)]);
    // 60 zero-length records: noticed once, each counted (and, empty, no Ethernet frame).
    let mut zeros = good.clone();
    for _ in 0..60 {
        push_record(&mut zeros, (T0 / 1_000_000) as u32 + 1, &[]);
    }
    let p = write(dir.path(), "zeros.pcap", &zeros);
    let v = analyze(&[&p], &[]);
    assert_anomalies(
        &v,
        &[
            ("capture.zero_length_record", 60),
            ("decode.ethernet_header", 60),
        ],
    );
    assert_eq!(
        v["notices"].as_array().unwrap().len(),
        1,
        "{}",
        v["notices"]
    );
    // A file that is not a capture, read with a good one.
    let text = write(
        dir.path(),
        "notes.txt",
        &b"not a capture at all\n".repeat(10),
    );
    let good = write(dir.path(), "good.pcap", &good);
    let v = analyze(&[&text, &good], &[]);
    assert_anomalies(&v, &[("capture.not_a_capture", 1)]);
}

#[test]
fn broken_http_framing_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = conv("10.0.0.5:40000", "10.0.0.1:3128", 0);
    c.handshake()
        .client_send(&req("GET", "http://example.com/", &[]))
        .server_send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        .server_send(b"zz\r\nnot a chunk\r\n0\r\n\r\n")
        .client_fin()
        .server_fin()
        .client_ack();
    let p = write(dir.path(), "chunk.pcap", &pcap_bytes(&c.into_packets()));
    let v = analyze(&[&p], &[]);
    assert_anomalies(&v, &[("http.bad_chunk", 1)]);
    assert_eq!(v["capture"]["http_anomalies"], 1);
    let text = run(&["analyze", "--no-color"], &[&p]).stdout;
    let bad_chunk = Anomaly::from_name("http.bad_chunk").unwrap();
    assert!(
        text.contains(&format!("http.bad_chunk  1  {}", bad_chunk.explanation())),
        "{text}"
    );
}

#[test]
fn unreadable_credentials_and_challenges_are_named() {
    let dir = tempfile::tempdir().unwrap();
    // An NTLMSSP message cut inside its type field, answered by a challenge whose token is
    // token68 by the grammar but not base64.
    let token = b64(b"NTLMSSP\0\x03\x00");
    let mut c = conv("10.0.0.5:40000", "10.0.0.1:3128", 0);
    c.handshake()
        .client_send(&req(
            "GET",
            "http://example.com/",
            &[("Proxy-Authorization", &format!("NTLM {token}"))],
        ))
        .server_send(&resp407(&["NTLM abc-def_~.="]))
        .client_fin()
        .server_fin()
        .client_ack();
    let p = write(dir.path(), "ntlm.pcap", &pcap_bytes(&c.into_packets()));
    let v = analyze(&[&p], &[]);
    assert_anomalies(&v, &[("auth.ntlm_truncated", 1), ("auth.bad_base64", 1)]);
}

#[test]
fn flow_limits_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let convs = (0..3)
        .map(|i| clean_conversation(&format!("10.0.0.5:{}", 40000 + i), i))
        .collect();
    let p = write(dir.path(), "three.pcap", &pcap_bytes(&merged(convs)));
    let v = analyze(&[&p], &["--max-connections", "1"]);
    let evicted = count(&v, "flow.table_full");
    assert!(evicted >= 2, "{}", v["anomalies"]);
    assert_eq!(v["capture"]["flow_limit_hits"], evicted);
    assert_anomalies(&v, &[("flow.table_full", evicted)]);
}

#[test]
fn reassembly_gaps_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = conv("10.0.0.5:40000", "10.0.0.1:3128", 0);
    c.handshake()
        .client_send(&req("GET", "http://example.com/a", &[]))
        .server_send(&resp200())
        .client_send(&req("GET", "http://example.com/b", &[]))
        .server_send(&resp200())
        .client_send(&req("GET", "http://example.com/c", &[]))
        .server_send(&resp200())
        .client_fin()
        .server_fin()
        .client_ack();
    let mut packets = c.into_packets();
    // The second request is lost.
    let second = packets
        .iter()
        .position(|p| p.payload.starts_with(b"GET http://example.com/b"))
        .unwrap();
    let lost = packets[second].payload.len();
    proxy407_testkit::drop_packets(&mut packets, &[second]);
    let p = write(dir.path(), "gap.pcap", &pcap_bytes(&packets));
    let v = analyze(&[&p], &[]);
    assert_eq!(v["capture"]["gap_bytes"], lost as u64);
    assert_anomalies(&v, &[("reassembly.gap", 1), ("http.resync", 1)]);
}
