//! Captures written by the test kit read back with pcap-parser (link types, times, lengths,
//! bytes) and, when it is installed, with tshark (TCP streams, payload lengths, and valid
//! IPv4 and TCP checksums).

use pcap_parser::{create_reader, Block, PcapBlockOwned, PcapError};
use proxy407_testkit::Ts;
use proxy407_testkit::{self as testkit, CaptureWriter, LinkKind, Packet, Resolution, TcpConv};
use std::path::Path;
use std::process::Command;

const LINKS: [LinkKind; 6] = [
    LinkKind::Ethernet,
    LinkKind::EthernetVlan(42),
    LinkKind::LinuxSll,
    LinkKind::LinuxSll2,
    LinkKind::RawIp,
    LinkKind::Null,
];

/// One IPv4 and one IPv6 conversation, merged by time.
fn packets() -> Vec<Packet> {
    let mut a = TcpConv::new(
        "10.0.0.1:50000".parse().unwrap(),
        "10.0.0.2:3128".parse().unwrap(),
    )
    .mss(500)
    .start(Ts(1_735_689_600_000_000))
    .step(1234);
    a.handshake()
        .client_send(&[b'a'; 1200])
        .server_send(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
        .client_fin()
        .server_fin()
        .client_ack();
    let mut b = TcpConv::new(
        "[2001:db8::1]:40000".parse().unwrap(),
        "[2001:db8::2]:8080".parse().unwrap(),
    )
    .isn(u32::MAX - 3, 77)
    .start(Ts(1_735_689_600_000_500));
    b.handshake()
        .client_send(b"GET http://x/ HTTP/1.1\r\n\r\n")
        .server_rst();
    testkit::merge(vec![a.into_packets(), b.into_packets()])
}

/// (link type, µs timestamp, captured bytes, original length) of every packet.
fn read_back(path: &Path) -> Vec<(u32, i64, Vec<u8>, u32)> {
    let file = std::fs::File::open(path).unwrap();
    let mut reader = create_reader(65536, file).unwrap();
    let mut out = Vec::new();
    let mut links: Vec<(u32, u64)> = Vec::new();
    let mut legacy: Option<(u32, bool)> = None;
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy = Some((h.network.0 as u32, h.magic_number == 0xa1b2_3c4d));
                    }
                    PcapBlockOwned::Legacy(b) => {
                        let (lt, nanos) = legacy.unwrap();
                        let frac = if nanos { b.ts_usec / 1000 } else { b.ts_usec };
                        let ts = i64::from(b.ts_sec) * 1_000_000 + i64::from(frac);
                        out.push((lt, ts, b.data.to_vec(), b.origlen));
                    }
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        links.push((idb.linktype.0 as u32, idb.ts_resolution().unwrap()));
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let (lt, res) = links[epb.if_id as usize];
                        let (secs, frac) = epb.decode_ts(0, res);
                        let micros = u64::from(frac) * 1_000_000 / res;
                        let ts = i64::from(secs) * 1_000_000 + micros as i64;
                        let data = epb.data[..epb.caplen as usize].to_vec();
                        out.push((lt, ts, data, epb.origlen));
                    }
                    PcapBlockOwned::NG(_) => {}
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => reader.refill().unwrap(),
            Err(e) => panic!("read error: {e:?}"),
        }
    }
    out
}

fn check_read_back(path: &Path, pkts: &[Packet], links: &[LinkKind]) {
    let got = read_back(path);
    assert_eq!(got.len(), pkts.len());
    for (i, ((lt, ts, data, orig), p)) in got.iter().zip(pkts).enumerate() {
        let link = links[i % links.len()];
        let (frame, frame_orig) = p.frame(link);
        assert_eq!(*lt, link.link_type());
        assert_eq!(*ts, p.ts.0);
        assert_eq!(data, &frame);
        assert_eq!(*orig, frame_orig);
    }
}

/// tshark's view: (stream, tcp.len, tcp checksum status, ip checksum status) per frame,
/// or `None` when tshark is not installed.
fn tshark(path: &Path) -> Option<Vec<Vec<String>>> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(path)
        .args([
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "tcp.stream",
            "-e",
            "tcp.len",
            "-e",
            "tcp.checksum.status",
            "-e",
            "ip.checksum.status",
            "-e",
            "frame.time_epoch",
        ])
        .output();
    let out = match out {
        Ok(o) => o,
        Err(_) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("tshark is required in CI");
            }
            eprintln!("note: tshark not found; skipping the tshark read-back");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| l.split('|').map(str::to_string).collect())
            .collect(),
    )
}

fn check_tshark(path: &Path, pkts: &[Packet]) {
    let Some(rows) = tshark(path) else { return };
    assert_eq!(rows.len(), pkts.len());
    let mut streams = std::collections::BTreeSet::new();
    for (row, p) in rows.iter().zip(pkts) {
        streams.insert(row[0].clone());
        assert_eq!(row[1], p.payload.len().to_string(), "tcp.len");
        assert_eq!(row[2], "1", "TCP checksum not good: {row:?}");
        if p.src.is_ipv4() {
            assert_eq!(row[3], "1", "IPv4 checksum not good: {row:?}");
        }
        let epoch = format!("{}.{:06}", p.ts.0 / 1_000_000, p.ts.0 % 1_000_000);
        assert!(row[4].starts_with(&epoch), "{} vs {}", row[4], epoch);
    }
    assert_eq!(streams.len(), 2);
}

#[test]
fn pcap_every_link_type_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let pkts = packets();
    for (i, link) in LINKS.into_iter().enumerate() {
        let res = if i % 2 == 0 {
            Resolution::Micro
        } else {
            Resolution::Nano
        };
        let path = dir.path().join(format!("l{i}.pcap"));
        let f = std::fs::File::create(&path).unwrap();
        let mut w = CaptureWriter::pcap(f, link, res).unwrap();
        w.write_all(&pkts).unwrap();
        drop(w);
        check_read_back(&path, &pkts, &[link]);
        check_tshark(&path, &pkts);
    }
}

#[test]
fn pcapng_with_several_interfaces_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let pkts = packets();
    for res in [Resolution::Micro, Resolution::Nano] {
        let path = dir.path().join(format!("all-{res:?}.pcapng"));
        let f = std::fs::File::create(&path).unwrap();
        let mut w = CaptureWriter::pcapng_with(f, &LINKS, res).unwrap();
        for (i, p) in pkts.iter().enumerate() {
            w.write_on(i % LINKS.len(), p).unwrap();
        }
        drop(w);
        check_read_back(&path, &pkts, &LINKS);
        check_tshark(&path, &pkts);
    }
}

#[test]
fn snaplen_cut_frames_keep_their_original_length() {
    let dir = tempfile::tempdir().unwrap();
    let mut pkts = packets();
    testkit::cut_payloads(&mut pkts, 10);
    let path = dir.path().join("cut.pcap");
    let f = std::fs::File::create(&path).unwrap();
    let mut w = CaptureWriter::pcap(f, LinkKind::Ethernet, Resolution::Micro).unwrap();
    w.write_all(&pkts).unwrap();
    drop(w);
    let got = read_back(&path);
    let cut = got
        .iter()
        .zip(&pkts)
        .filter(|((_, _, data, orig), p)| {
            p.payload.len() > 10 && data.len() as u32 == *orig - (p.payload.len() as u32 - 10)
        })
        .count();
    assert_eq!(cut, pkts.iter().filter(|p| p.payload.len() > 10).count());
    assert!(cut >= 3);
    if let Some(rows) = tshark(&path) {
        assert_eq!(rows.len(), pkts.len());
    }
}
