//! Inputs that once made a stage panic, each named after what broke, run through the whole
//! pipeline (capture bytes → reader → engine → finish) as the fuzz target `engine` does.

use proxy407::engine::{Engine, EngineConfig};
use proxy407::model::{EngineOutput, Ts};
use proxy407::source::file::open_reader;
use proxy407_testkit::{pcap, LinkKind, Resolution, TcpConv};

/// Reads `bytes` as a capture and runs it through an engine, as `analyze` does.
fn run(bytes: Vec<u8>) -> EngineOutput {
    let mut src = open_reader("regression", Box::new(std::io::Cursor::new(bytes)))
        .expect("the capture opens");
    let engine = Engine::new(EngineConfig::default());
    proxy407::driver::run(src.as_mut(), engine, &mut proxy407::driver::Batch)
}

/// An Ethernet interface with microsecond timestamps and this `if_tsoffset` (seconds).
fn interface_with_offset(offset_secs: i64) -> Vec<u8> {
    let mut body = vec![1, 0, 0, 0, 0, 0, 0, 0];
    // Option 14 (if_tsoffset), 8 bytes, then the end of options.
    body.extend_from_slice(&14u16.to_le_bytes());
    body.extend_from_slice(&8u16.to_le_bytes());
    body.extend_from_slice(&offset_secs.to_le_bytes());
    body.extend_from_slice(&[0, 0, 0, 0]);
    pcap::block(1, &body)
}

/// An enhanced packet block with a timestamp in microseconds.
fn enhanced_packet(iface: u32, ts_us: i64, data: &[u8], orig: u32) -> Vec<u8> {
    let mut b = Vec::new();
    let ts = proxy407_testkit::Ts(ts_us);
    pcap::enhanced_packet(&mut b, iface, ts, data, orig, Resolution::Micro);
    b
}

/// Two interfaces whose `if_tsoffset`s put their packets at the two ends of the `i64` range:
/// the engine's "time to sweep" check subtracted one packet time from the other unchecked
/// (and `Ts::ms_since` did the same), which overflows. Times now saturate.
#[test]
fn pcapng_tsoffset_at_both_limits_saturates_packet_time() {
    let mut conv = TcpConv::new(
        "10.0.0.1:40000".parse().unwrap(),
        "10.0.0.2:3128".parse().unwrap(),
    );
    conv.handshake()
        .client_send(b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n")
        .server_send(
            b"HTTP/1.1 407 Proxy Authentication Required\r\n\
              Proxy-Authenticate: Basic realm=\"p\"\r\nContent-Length: 0\r\n\r\n",
        )
        .client_fin()
        .server_fin();
    let mut f = pcap::section_header();
    f.extend(interface_with_offset(i64::MAX));
    f.extend(interface_with_offset(i64::MIN));
    let packets = conv.packets();
    for (i, p) in packets.iter().enumerate() {
        let (data, orig) = p.frame(LinkKind::Ethernet);
        // Alternate interfaces: packet time jumps between the two limits.
        f.extend(enhanced_packet((i % 2) as u32, p.ts.0, &data, orig));
    }
    let out = run(f);
    assert_eq!(out.capture.packets, packets.len() as u64);
    // Seconds saturate; the microseconds within the second are added to that.
    let first = out.capture.first_ts.expect("a first packet time");
    assert!(first.since(Ts(i64::MIN)) < 1_000_000, "{first:?}");
    assert_eq!(out.capture.last_ts, Some(Ts(i64::MAX)));
    assert!(out.notices.is_empty(), "{:?}", out.notices);
    assert_eq!(Ts(i64::MIN).since(Ts(i64::MAX)), i64::MIN);
    assert_eq!(Ts(i64::MAX).since(Ts(i64::MIN)), i64::MAX);
}

/// A pcapng process information block whose length (6) is below the 12 bytes every block
/// has: pcap-parser 0.17 subtracts 12 from it unchecked (found by the `capture_reader`
/// target). The reader now takes it as a block that does not parse, before the parser sees
/// it, keeps what came before and skips the rest of the file.
#[test]
fn pcapng_block_shorter_than_its_header_is_damage() {
    let conv = {
        let mut c = TcpConv::new(
            "10.0.0.1:40001".parse().unwrap(),
            "10.0.0.2:3128".parse().unwrap(),
        );
        c.handshake();
        c
    };
    let mut f = pcap::section_header();
    f.extend(interface_with_offset(0));
    for p in conv.packets() {
        let (data, orig) = p.frame(LinkKind::Ethernet);
        f.extend(enhanced_packet(0, p.ts.0, &data, orig));
    }
    let damage_at = f.len() as u64;
    // Type 0x80000001 (process information), length 6, then a packet that is not read.
    f.extend_from_slice(&0x8000_0001u32.to_le_bytes());
    f.extend_from_slice(&6u32.to_le_bytes());
    let (data, orig) = conv.packets()[0].frame(LinkKind::Ethernet);
    f.extend(enhanced_packet(0, 1, &data, orig));
    let out = run(f);
    assert_eq!(out.capture.packets, conv.packets().len() as u64);
    assert_eq!(out.notices.len(), 1, "{:?}", out.notices);
    assert_eq!(out.notices[0].offset, Some(damage_at));
    assert!(
        out.notices[0].message.contains("does not parse"),
        "{:?}",
        out.notices
    );
}
