//! Decapsulation on real bytes: every lab sample (`samples/*.pcap`, read with proxy407's
//! reader) is written again with each frame carried in GRE, ERSPAN I/II/III, VXLAN, Geneve,
//! MPLS, PPPoE or IP-in-IP (IPv4 and, turned into IPv6, IPv6 inside; and two nested), and
//! `analyze --json` gives the same episodes, causes, HTTP counts, findings, top lists and
//! transaction records as the plain capture, with every packet counted under its
//! encapsulation. Also: `--decap none` and `--vxlan-port`, the nesting bound, and cut or
//! malformed outer headers as named anomalies, never a panic.

#[path = "common/tunnel.rs"]
mod tunnel;

use clap::Parser;
use proxy407::anomaly::DecodeAnomaly;
use proxy407::cli::{Cli, Command};
use proxy407::decode::decap::{DecapConfig, Encapsulation};
use proxy407::decode::{decode, decode_with, Decoded};
use proxy407::model::Ts;
use proxy407::source::Frame;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use tunnel::{OwnedFrame, Wrap};

fn samples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("samples directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    v.sort();
    assert!(v.len() >= 20, "samples missing");
    v
}

/// `analyze --json` (the summary) and `transactions` (the records) of one capture, run
/// in-process through the same code as the commands.
fn analyze(path: &Path, extra: &[&str]) -> (Value, Value) {
    let mut args = vec!["proxy407", "analyze", "--json", "--quiet"];
    args.extend_from_slice(extra);
    let path_s = path.to_str().expect("utf-8 path");
    args.push(path_s);
    let Command::Analyze(a) = Cli::try_parse_from(&args).expect("arguments").command else {
        panic!("not analyze");
    };
    let out = proxy407::app::collect(&a.input, true).expect("run");
    let summary: Value =
        serde_json::from_str(&proxy407::report::analyze_report(&out, 10, true, false))
            .expect("summary is JSON");
    let mut records = serde_json::to_value(&out.analysis.transactions).expect("records");
    // Each capture names its own file; the frames and filters stay the same.
    for t in records.as_array_mut().expect("a list") {
        t.as_object_mut().expect("a record").remove("capture_file");
    }
    (summary, records)
}

/// The summary without what a tunnel changes on purpose: bytes and the encapsulation
/// fields.
fn comparable(mut v: Value) -> Value {
    let c = v["capture"].as_object_mut().expect("capture section");
    c.remove("bytes");
    c.remove("encapsulations");
    c.remove("mirror_sources");
    v
}

fn write(dir: &Path, name: &str, frames: &[OwnedFrame]) -> PathBuf {
    let p = dir.join(name);
    tunnel::write_pcap(&p, frames);
    p
}

/// Wraps every frame of `frames` and checks the analysis equals the plain one's.
fn same_as_plain(
    dir: &Path,
    label: &str,
    plain: &[OwnedFrame],
    wrapped: &[OwnedFrame],
    extra: &[&str],
    encapsulations: &[&str],
    failures: &mut Vec<String>,
) {
    let p = write(dir, &format!("{label}.plain.pcap"), plain);
    let w = write(dir, &format!("{label}.pcap"), wrapped);
    let (ps, pr) = analyze(&p, extra);
    let (ws, wr) = analyze(&w, extra);
    assert!(
        ps["capture"]["tcp_connections"].as_u64().unwrap_or(0) > 0,
        "{label}: the plain capture has TCP"
    );
    let n = plain.len() as u64;
    for e in encapsulations {
        if ws["capture"]["encapsulations"][e].as_u64() != Some(n) {
            failures.push(format!(
                "{label}: encapsulations {} (want {e}: {n})",
                ws["capture"]["encapsulations"]
            ));
        }
    }
    if ps["capture"]["encapsulations"] != serde_json::json!({}) {
        failures.push(format!("{label}: plain capture counted as encapsulated"));
    }
    if comparable(ps.clone()) != comparable(ws.clone()) {
        failures.push(format!(
            "{label}: summary differs\n plain   {}\n wrapped {}",
            comparable(ps),
            comparable(ws)
        ));
    } else if pr != wr {
        failures.push(format!("{label}: transaction records differ"));
    }
}

/// The layer a decode anomaly blames: its name without the `decode.` prefix and the
/// `_header` suffix, the IP ones together (`gre`, `erspan3`, `ip`, `tcp`, `tunnel_depth`).
fn layer(a: DecodeAnomaly) -> &'static str {
    let name = a.name().trim_start_matches("decode.");
    let name = name.strip_suffix("_header").unwrap_or(name);
    match name {
        "ip_version" | "ipv4" | "ipv6" | "ip_extension" => "ip",
        n => n,
    }
}

#[test]
fn every_sample_in_every_encapsulation_gives_the_plain_analysis() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    let mut episodes = 0u64;
    for sample in samples() {
        let name = sample.file_name().unwrap().to_string_lossy().into_owned();
        let plain4 = tunnel::read_frames(&sample);
        let plain6 = tunnel::wrap_all(&plain4, &tunnel::to_ipv6_frame);
        let (s, _) = analyze(&sample, &[]);
        episodes += s["episodes"]["total"].as_u64().unwrap_or(0);
        for wrap in Wrap::ALL {
            let extra: &[&str] = if wrap == Wrap::VxlanPort8472 {
                &["--vxlan-port", "8472"]
            } else {
                &[]
            };
            for (v, plain) in [("4", &plain4), ("6", &plain6)] {
                let wrapped = tunnel::wrap_all(plain, &|f| wrap.apply(f));
                same_as_plain(
                    dir.path(),
                    &format!("{name}.{wrap:?}.ip{v}"),
                    plain,
                    &wrapped,
                    extra,
                    &[wrap.encapsulation()],
                    &mut failures,
                );
            }
        }
    }
    assert!(episodes >= 20, "the samples have episodes to compare");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn nested_encapsulations_give_the_plain_analysis() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    // A VXLAN cloud mirror carried over an ERSPAN II session, and MPLS inside GRE inside a
    // PPPoE session.
    let nests: [(&str, [Wrap; 2], [&str; 2]); 3] = [
        (
            "vxlan_in_erspan2",
            [Wrap::Vxlan, Wrap::ErspanII],
            ["vxlan", "erspan2"],
        ),
        ("mpls_in_gre", [Wrap::Mpls, Wrap::L2Gre], ["mpls", "gre"]),
        (
            "geneve_in_pppoe",
            [Wrap::GeneveIp, Wrap::Pppoe],
            ["geneve", "pppoe"],
        ),
    ];
    for sample in [
        "ntlm-success.pcap",
        "office-mix.pcap",
        "digest-wrong-password.pcap",
    ] {
        let plain = tunnel::read_frames(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("samples")
                .join(sample),
        );
        for (label, [inner, outer], names) in nests {
            let wrapped = tunnel::wrap_all(&plain, &|f| outer.apply(&inner.apply(f)));
            same_as_plain(
                dir.path(),
                &format!("{sample}.{label}"),
                &plain,
                &wrapped,
                &[],
                &names,
                &mut failures,
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn mirror_sources_tell_sessions_apart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/office-mix.pcap");
    let plain = tunnel::read_frames(&sample);
    // Alternate frames come over two mirror sessions: ERSPAN II session 101 and VXLAN VNI 1.
    let mixed: Vec<OwnedFrame> = plain
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let wrap = if i % 2 == 0 {
                Wrap::ErspanII
            } else {
                Wrap::Vxlan
            };
            tunnel::wrap_all(std::slice::from_ref(f), &|d| wrap.apply(d)).remove(0)
        })
        .collect();
    let p = write(dir.path(), "two-sessions.pcap", &mixed);
    let (s, _) = analyze(&p, &[]);
    let (plain_s, _) = analyze(&sample, &[]);
    assert_eq!(comparable(s.clone()), comparable(plain_s));
    let sources = s["capture"]["mirror_sources"]
        .as_array()
        .expect("mirror_sources");
    let n = plain.len() as u64;
    let got: Vec<(String, u64, String, u64)> = sources
        .iter()
        .map(|m| {
            (
                m["encapsulation"].as_str().unwrap_or("").to_string(),
                m["id"].as_u64().unwrap_or(u64::MAX),
                m["outer_src"].as_str().unwrap_or("").to_string(),
                m["packets"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("erspan2".into(), 101, "192.0.2.10".into(), n.div_ceil(2)),
            ("vxlan".into(), 1, "192.0.2.10".into(), n / 2),
        ]
    );
    // The text report names them in its capture health.
    let Command::Analyze(a) =
        Cli::try_parse_from(["proxy407", "analyze", "--quiet", p.to_str().unwrap()])
            .unwrap()
            .command
    else {
        panic!()
    };
    let out = proxy407::app::collect(&a.input, false).unwrap();
    let text = proxy407::report::analyze_report(&out, 10, false, false);
    assert!(text.contains("erspan2"), "{text}");
    assert!(text.contains("192.0.2.10 → 198.51.100.20"), "{text}");
}

#[test]
fn decap_none_and_vxlan_ports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/basic-wrong-password.pcap");
    let plain = tunnel::read_frames(&sample);
    let tcp = |p: &Path, extra: &[&str]| {
        let (s, _) = analyze(p, extra);
        (
            s["capture"]["tcp_connections"].as_u64().unwrap(),
            s["episodes"]["total"].as_u64().unwrap(),
        )
    };
    let want = tcp(&sample, &[]);
    assert!(want.0 > 0 && want.1 > 0);
    let gre = write(
        dir.path(),
        "gre.pcap",
        &tunnel::wrap_all(&plain, &|f| Wrap::Gre.apply(f)),
    );
    assert_eq!(tcp(&gre, &[]), want);
    assert_eq!(tcp(&gre, &["--decap", "none"]), (0, 0));
    let v8472 = write(
        dir.path(),
        "vxlan8472.pcap",
        &tunnel::wrap_all(&plain, &|f| Wrap::VxlanPort8472.apply(f)),
    );
    assert_eq!(tcp(&v8472, &[]), (0, 0), "8472 is not VXLAN unless asked");
    assert_eq!(tcp(&v8472, &["--vxlan-port", "8472"]), want);
    assert_eq!(tcp(&v8472, &["--vxlan-port", "9999,8472"]), want);
}

fn frame(data: &[u8]) -> Frame<'_> {
    Frame {
        shared: None,
        file: 0,
        number: 0,
        ts: Ts(1),
        link_type: 1,
        data,
        orig_len: data.len() as u32,
    }
}

/// The first TCP packet with payload of a sample, as an Ethernet frame.
fn sample_frame() -> Vec<u8> {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/basic-success.pcap");
    tunnel::read_frames(&sample)
        .into_iter()
        .find(|f| matches!(decode(&frame(&f.data)), Decoded::Tcp(s) if !s.payload.is_empty()))
        .expect("a TCP segment with payload")
        .data
}

#[test]
fn nesting_is_bounded() {
    let inner = sample_frame();
    let Decoded::Tcp(want) = decode(&frame(&inner)) else {
        panic!()
    };
    let mut f = inner.clone();
    for depth in 1..=6 {
        f = Wrap::IpInIpv4.apply(&f);
        match (depth, decode(&frame(&f))) {
            (1..=4, Decoded::Tcp(s)) => {
                assert_eq!(
                    (s.src_ip, s.dst_port, s.payload),
                    (want.src_ip, want.dst_port, want.payload)
                )
            }
            (5.., Decoded::Malformed(a)) => assert_eq!(layer(a), "tunnel_depth"),
            (d, other) => panic!("depth {d}: {other:?}"),
        }
    }
}

#[test]
fn cut_or_bad_outer_headers_are_named_never_a_panic() {
    let inner = sample_frame();
    let cfg = DecapConfig {
        vxlan_ports: vec![8472],
        ..DecapConfig::AUTO
    };
    for wrap in Wrap::ALL {
        let f = wrap.apply(&inner);
        // Ok(true): TCP; Ok(false): something else; Err: malformed at that layer.
        let dec = |f: &Frame<'_>| match decode_with(f, &cfg, &mut Encapsulation::default()) {
            Decoded::Tcp(_) => Ok(true),
            Decoded::Malformed(a) => Err(layer(a)),
            _ => Ok(false),
        };
        assert_eq!(dec(&frame(&f)), Ok(true), "{wrap:?}");
        // Every cut of the frame decodes to something; a cut inside the tunnel's own header
        // is named by that layer, and no other layer than the frame's is ever blamed.
        let own = match wrap.encapsulation() {
            "erspan1" => "gre",
            "ip_in_ip" => "ip",
            e => e,
        };
        let mut blamed = BTreeSet::new();
        for len in 0..f.len() {
            let short = Frame {
                shared: None,
                file: 0,
                number: 0,
                orig_len: f.len() as u32,
                ..frame(&f[..len])
            };
            if let Err(layer) = dec(&short) {
                blamed.insert(layer);
            }
        }
        assert!(blamed.contains(own), "{wrap:?}: {blamed:?}");
        let allowed = BTreeSet::from(["ethernet", "ip", "tcp", "gre", own]);
        assert!(blamed.is_subset(&allowed), "{wrap:?}: {blamed:?}");
    }
    let eth_ip = |proto: u8, payload: &[u8]| {
        tunnel::ether(
            0x0800,
            &tunnel::ipv4(proto, tunnel::OUTER4_SRC, tunnel::OUTER4_DST, payload),
        )
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "gre cut in its key",
            eth_ip(47, &[0x20, 0, 0x08, 0, 1, 2]),
            "gre",
        ),
        ("gre with nothing", eth_ip(47, &[0x00]), "gre"),
        (
            "erspan2 cut",
            eth_ip(47, &[0x10, 0, 0x88, 0xBE, 0, 0, 0, 1, 0x10, 0]),
            "erspan2",
        ),
        (
            "erspan2 version 2",
            eth_ip(
                47,
                &tunnel::gre(
                    tunnel::GreOpts {
                        seq: Some(1),
                        ..Default::default()
                    },
                    0x88BE,
                    &tunnel::erspan3(1, false, &inner),
                ),
            ),
            "erspan2",
        ),
        (
            "erspan3 platform cut",
            eth_ip(
                47,
                &tunnel::gre(
                    Default::default(),
                    0x22EB,
                    &tunnel::erspan3(1, true, &[])[..14],
                ),
            ),
            "erspan3",
        ),
        (
            "vxlan cut",
            eth_ip(17, &tunnel::udp(1, 4789, &[0x08, 0, 0])),
            "vxlan",
        ),
        (
            "vxlan inner ethernet cut",
            eth_ip(17, &tunnel::udp(1, 4789, &tunnel::vxlan(1, &[0; 6]))),
            "ethernet",
        ),
        (
            "geneve options cut",
            eth_ip(
                17,
                &tunnel::udp(1, 6081, &[0x3f, 0, 0x65, 0x58, 0, 0, 1, 0, 0, 0]),
            ),
            "geneve",
        ),
        (
            "mpls no bottom of stack",
            tunnel::ether(0x8847, &[0, 0, 0, 64, 0, 0, 0, 64]),
            "mpls",
        ),
        (
            "mpls nine labels",
            tunnel::ether(0x8847, &tunnel::mpls(&[1; 9], &inner[14..])),
            "mpls",
        ),
        (
            "pppoe cut",
            tunnel::ether(0x8864, &[0x11, 0, 0, 1]),
            "pppoe",
        ),
    ];
    for (what, bytes, layer) in cases {
        match decode(&frame(&bytes)) {
            Decoded::Malformed(a) => assert_eq!(crate::layer(a), layer, "{what}"),
            other => panic!("{what}: {other:?}"),
        }
    }
    // Not a tunnel after all: UDP 4789 without the VXLAN I flag, Geneve of another version,
    // GRE version 1 (PPTP), PPPoE discovery and LCP are simply not TCP.
    let not_tcp: Vec<(&str, Vec<u8>)> = vec![
        (
            "udp 4789 without I flag",
            eth_ip(17, &tunnel::udp(1, 4789, &[0; 16])),
        ),
        (
            "geneve version 1",
            eth_ip(
                17,
                &tunnel::udp(1, 6081, &[0x40, 0, 0x65, 0x58, 0, 0, 1, 0]),
            ),
        ),
        (
            "gre version 1",
            eth_ip(47, &[0x30, 0x01, 0x88, 0x0b, 0, 0, 0, 0, 0, 0, 0, 1]),
        ),
        (
            "pppoe lcp",
            tunnel::ether(0x8864, &tunnel::pppoe(1, 0xc021, &[1, 1, 0, 4])),
        ),
        (
            "pppoe discovery",
            tunnel::ether(0x8863, &[0x11, 0x09, 0, 0, 0, 0]),
        ),
    ];
    for (what, bytes) in not_tcp {
        assert!(
            matches!(decode(&frame(&bytes)), Decoded::NotTcp | Decoded::NotIp),
            "{what}: {:?}",
            decode(&frame(&bytes))
        );
    }
}

/// The live capture filter, compiled by libpcap and run on real frames: a plain proxy
/// conversation and every tunnelled copy of it pass, other TCP does not; without
/// decapsulation only the plain one passes.
#[cfg(feature = "live")]
#[test]
fn live_filter_passes_tunnelled_copies() {
    use proxy407::source::live::build_filter;
    let dead = pcap::Capture::dead(pcap::Linktype::ETHERNET).expect("dead capture");
    let proxy = sample_frame();
    let Decoded::Tcp(s) = decode(&frame(&proxy)) else {
        panic!()
    };
    let port = s.dst_port.min(s.src_port);
    // The same segment to another port: change both TCP ports in the IPv4 frame.
    let mut other = proxy.clone();
    let ihl = usize::from(other[14] & 0x0f) * 4;
    other[14 + ihl..14 + ihl + 4].copy_from_slice(&[0, 22, 0xc3, 0x50]);
    let cfg = DecapConfig {
        vxlan_ports: vec![8472],
        ..DecapConfig::AUTO
    };
    let auto = dead
        .compile(
            &build_filter(
                &[port],
                Some("host 192.0.2.10 or host 127.0.0.1"),
                cfg.tunnel_udp_ports().as_deref(),
                &[],
            ),
            true,
        )
        .expect("filter compiles");
    let none = dead
        .compile(
            &build_filter(
                &[port],
                None,
                DecapConfig::NONE.tunnel_udp_ports().as_deref(),
                &[],
            ),
            true,
        )
        .expect("filter compiles");
    assert!(auto.filter(&proxy) && none.filter(&proxy));
    assert!(!auto.filter(&other) && !none.filter(&other));
    for wrap in Wrap::ALL {
        let f = wrap.apply(&proxy);
        // --bpf sees the outer headers: copies over IPv6 have other outer addresses than its
        // hosts, and MPLS and PPPoE have no outer IP header at all.
        let outer_ipv4 = !matches!(
            wrap,
            Wrap::GreOptsOverIpv6
                | Wrap::GeneveIp
                | Wrap::IpInIpv6
                | Wrap::Mpls
                | Wrap::MplsPseudowire
                | Wrap::Pppoe
        );
        assert_eq!(auto.filter(&f), outer_ipv4, "{wrap:?} with --bpf");
        assert!(!none.filter(&f), "{wrap:?} without decapsulation");
    }
    let all = dead
        .compile(
            &build_filter(&[port], None, cfg.tunnel_udp_ports().as_deref(), &[]),
            true,
        )
        .expect("filter compiles");
    for wrap in Wrap::ALL {
        assert!(all.filter(&wrap.apply(&proxy)), "{wrap:?} passes");
    }
    // With the KDC's ports (the live capture's default: 88) the same still passes, and so
    // does nothing else of this test's frames.
    let kdc = dead
        .compile(
            &build_filter(&[port], None, cfg.tunnel_udp_ports().as_deref(), &[88, 750]),
            true,
        )
        .expect("filter with KDC ports compiles");
    assert!(kdc.filter(&proxy) && !kdc.filter(&other));
}

/// Live on `lo`: a lab sample sent as a VXLAN mirror (each frame in a UDP datagram to port
/// 4789) is captured through the real filter and gives the sample's 407s and verdicts.
#[cfg(feature = "live")]
#[test]
fn live_vxlan_mirror_on_loopback() {
    use std::time::Duration;
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/office-mix.pcap");
    let frames = tunnel::read_frames(&sample);
    let (want, _) = analyze(&sample, &[]);
    assert!(want["http"]["responses_407"].as_u64().unwrap() > 0);
    // In immediate mode with the full snap length the kernel's ring holds only a few frames
    // and the read loop naps 5 ms when it is empty: the datagrams are paced, slower again
    // if the kernel still dropped some (a busy machine).
    for pace_ms in [2, 6, 15] {
        let Some(got) = live_vxlan_run(&frames, Duration::from_millis(pace_ms)) else {
            return;
        };
        if got["capture"]["kernel_dropped"].as_u64().unwrap_or(0) > 0 && pace_ms < 15 {
            continue;
        }
        let sent = frames.len();
        assert_eq!(got["capture"]["packets"], sent, "{}", got["capture"]);
        assert_eq!(got["capture"]["encapsulations"]["vxlan"], sent);
        assert_eq!(got["capture"]["mirror_sources"][0]["id"], 0x407);
        assert_eq!(
            got["capture"]["mirror_sources"][0]["outer_dst"],
            "127.0.0.1"
        );
        for section in ["http", "episodes", "causes"] {
            assert_eq!(got[section], want[section], "{section}");
        }
        return;
    }
}

/// Captures `lo` while `frames` are sent as VXLAN datagrams, one per `pace`; the summary,
/// or `None` without capture permission.
#[cfg(feature = "live")]
fn live_vxlan_run(frames: &[OwnedFrame], pace: std::time::Duration) -> Option<Value> {
    use proxy407::engine::Engine;
    use proxy407::source::live::LiveSource;
    use proxy407::source::PacketSource;
    use std::net::UdpSocket;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    // Only the mirror's datagrams: other tests may use the proxy ports on `lo` meanwhile.
    let Command::Analyze(a) = Cli::try_parse_from([
        "proxy407",
        "analyze",
        "--json",
        "-i",
        "lo",
        "--bpf",
        "udp dst port 4789",
    ])
    .expect("arguments")
    .command
    else {
        panic!("not analyze")
    };
    let mut src = match LiveSource::open(
        "lo",
        a.input.bpf.as_deref(),
        &a.input.proxy_ports,
        a.input.decap_config().tunnel_udp_ports().as_deref(),
        &a.input.decap_config().all_kdc_ports(),
        Some(Duration::from_secs(60)),
    ) {
        Ok(s) => s,
        Err(e) if e.to_string().contains("ermission") => {
            eprintln!("note: no capture permission on lo ({e}); live test skipped");
            return None;
        }
        Err(e) => panic!("open lo: {e}"),
    };
    let stop = src.stop_flag();
    // A receiver keeps the kernel from answering with ICMP port unreachable.
    let _sink = UdpSocket::bind("127.0.0.1:4789");
    let datagrams: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| tunnel::vxlan(0x407, &f.data))
        .collect();
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let sock = UdpSocket::bind("127.0.0.1:0").expect("udp socket");
        for d in &datagrams {
            sock.send_to(d, "127.0.0.1:4789").expect("send");
            std::thread::sleep(pace);
        }
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::Relaxed);
    });
    let mut engine = Engine::new(a.input.engine_config().expect("config"));
    while let Some(f) = src.next_frame() {
        engine.ingest(&f);
    }
    sender.join().expect("sender");
    let mut records = proxy407::model::AnalysisOutput::default();
    let mut out = engine.finish(&src.stats(), &mut records);
    out.analysis = records;
    Some(serde_json::from_str(&proxy407::report::analyze_report(&out, 10, true, false)).unwrap())
}
