//! Helpers shared by the end-to-end tests on generated captures: hand-built NTLMSSP,
//! SPNEGO/Kerberos and HTTP messages, writing test-kit captures to files, and running the real
//! binary to read its JSON summary, transactions and exported episodes.

#![allow(dead_code)]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use proxy407::decode::{Segment, TcpFlags};
use proxy407_testkit::{CaptureWriter, LinkKind, Packet, Resolution, TcpConv};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_proxy407");

/// 2025-01-01T00:00:00Z, the default start of a `TcpConv`.
pub const T0: i64 = 1_735_689_600_000_000;

pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

pub fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

/// A conversation between `client` and `server`, starting `start_ms` after [`T0`].
pub fn conv(client: &str, server: &str, start_ms: i64) -> TcpConv {
    TcpConv::new(addr(client), addr(server)).start(proxy407_testkit::Ts(T0 + start_ms * 1000))
}

/// A test-kit timestamp as proxy407's.
pub fn ts(t: proxy407_testkit::Ts) -> proxy407::model::Ts {
    proxy407::model::Ts(t.0)
}

/// The segment proxy407's decoder would make of a test-kit packet, for driving the flow
/// table without encoding frames.
pub fn segment(p: &Packet) -> Segment<'_> {
    let f = p.flags;
    Segment {
        ts: ts(p.ts),
        src_ip: p.src.ip(),
        src_port: p.src.port(),
        dst_ip: p.dst.ip(),
        dst_port: p.dst.port(),
        seq: p.seq,
        ack: p.ack,
        flags: TcpFlags {
            syn: f.syn,
            ack: f.ack,
            fin: f.fin,
            rst: f.rst,
            psh: f.psh,
        },
        window: p.window,
        payload: p.captured(),
        missing_payload: p.missing() as u32,
    }
}

// ------------------------------------------------------------------------------ NTLMSSP

const SIG: &[u8] = b"NTLMSSP\0";
pub const NEGOTIATE_UNICODE: u32 = 0x0000_0001;
pub const NEGOTIATE_NTLM: u32 = 0x0000_0200;

fn sec_buf(len: usize, off: usize) -> Vec<u8> {
    let mut v = (len as u16).to_le_bytes().to_vec();
    v.extend((len as u16).to_le_bytes());
    v.extend((off as u32).to_le_bytes());
    v
}

pub fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// NEGOTIATE_MESSAGE (type 1) without supplied domain or workstation.
pub fn ntlm_type1() -> Vec<u8> {
    let mut v = SIG.to_vec();
    v.extend(1u32.to_le_bytes());
    v.extend((NEGOTIATE_UNICODE | NEGOTIATE_NTLM | 0x0000_0004).to_le_bytes());
    v.extend(sec_buf(0, 32));
    v.extend(sec_buf(0, 32));
    v
}

/// CHALLENGE_MESSAGE (type 2) with a Unicode target name and the given server challenge.
pub fn ntlm_type2(target: &str, server_challenge: [u8; 8]) -> Vec<u8> {
    let name = utf16(target);
    let mut v = SIG.to_vec();
    v.extend(2u32.to_le_bytes());
    v.extend(sec_buf(name.len(), 48));
    v.extend((NEGOTIATE_UNICODE | NEGOTIATE_NTLM).to_le_bytes());
    v.extend(server_challenge);
    v.extend([0u8; 8]); // reserved
    v.extend(sec_buf(0, 48 + name.len())); // target info
    v.extend(name);
    v
}

/// AUTHENTICATE_MESSAGE (type 3), Unicode, with the given LM and NT responses (24-byte NT
/// response: NTLMv1; longer: NTLMv2).
pub fn ntlm_type3(domain: &str, user: &str, ws: &str, lm: &[u8], nt: &[u8]) -> Vec<u8> {
    let (d, u, w) = (utf16(domain), utf16(user), utf16(ws));
    let mut head = SIG.to_vec();
    head.extend(3u32.to_le_bytes());
    let mut payload = Vec::new();
    let mut off = 64usize;
    for p in [lm, nt, &d[..], &u[..], &w[..]] {
        head.extend(sec_buf(p.len(), off));
        payload.extend_from_slice(p);
        off += p.len();
    }
    head.extend(sec_buf(0, off)); // session key
    head.extend((NEGOTIATE_UNICODE | NEGOTIATE_NTLM).to_le_bytes());
    assert_eq!(head.len(), 64);
    head.extend(payload);
    head
}

/// An NTLMv2 NT response: 16-byte proof and a blob, recognisable bytes.
pub fn ntv2_response(fill: u8) -> Vec<u8> {
    let mut v = vec![fill; 16];
    v.extend([1, 1, 0, 0, 0, 0, 0, 0]);
    v.extend([fill.wrapping_add(1); 8]); // timestamp
    v.extend([fill.wrapping_add(2); 8]); // client challenge
    v.extend([0u8; 4]);
    v.extend([0u8; 20]);
    v
}

// ------------------------------------------------------------------------------ DER / Kerberos

pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    let n = content.len();
    if n < 0x80 {
        v.push(n as u8);
    } else if n < 0x100 {
        v.extend([0x81, n as u8]);
    } else {
        v.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    v.extend_from_slice(content);
    v
}

const OID_KERBEROS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];
const OID_SPNEGO: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
const OID_NTLMSSP: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a];

/// KRB-ERROR with `error_code`, in a GSS-API wrapper with TOK_ID 03 00 (RFC 4121).
pub fn krb_error_gss(error_code: u8) -> Vec<u8> {
    let int = |n: u8| tlv(0x02, &[n]);
    let err = tlv(
        0x7e,
        &tlv(
            0x30,
            &[
                tlv(0xa0, &int(5)),
                tlv(0xa1, &int(30)),
                tlv(0xa4, &tlv(0x18, b"20250101000000Z")),
                tlv(0xa5, &int(0)),
                tlv(0xa6, &int(error_code)),
                tlv(0xa9, &tlv(0x1b, b"EXAMPLE.COM")),
                tlv(0xaa, &tlv(0x30, &[])),
            ]
            .concat(),
        ),
    );
    tlv(0x60, &[tlv(0x06, OID_KERBEROS), vec![3, 0], err].concat())
}

/// SPNEGO NegTokenInit offering NTLMSSP and carrying `token`.
pub fn spnego_ntlm(token: &[u8]) -> Vec<u8> {
    tlv(
        0x60,
        &[
            tlv(0x06, OID_SPNEGO),
            tlv(
                0xa0,
                &tlv(
                    0x30,
                    &[
                        tlv(0xa0, &tlv(0x30, &tlv(0x06, OID_NTLMSSP))),
                        tlv(0xa2, &tlv(0x04, token)),
                    ]
                    .concat(),
                ),
            ),
        ]
        .concat(),
    )
}

/// The `Proxy-Authorization` value of a real SPNEGO Kerberos AP-REQ (realm DENYDC.COM, SPN
/// HTTP/fc4.denyDC.com), taken from a public capture.
pub fn kerberos_authorization() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/auth/bruteshark-http-negotiate-kerberos-a.authorization.txt");
    std::fs::read_to_string(path)
        .expect("Kerberos fixture")
        .trim()
        .to_string()
}

// ------------------------------------------------------------------------------ HTTP

/// A request head: `METHOD TARGET HTTP/1.1`, Host, the extra header lines, empty line.
pub fn req(method: &str, target: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let host = if method == "CONNECT" {
        target.to_string()
    } else {
        target
            .split("://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or("example.com")
            .to_string()
    };
    let mut s =
        format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: scenario/1.0\r\n");
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// A response head with a body of `body_len` bytes (`x`), Content-Length framed.
pub fn resp(status: u16, reason: &str, headers: &[(&str, &str)], body_len: usize) -> Vec<u8> {
    let mut s = format!("HTTP/1.1 {status} {reason}\r\n");
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str(&format!("Content-Length: {body_len}\r\n\r\n"));
    let mut v = s.into_bytes();
    v.extend(std::iter::repeat_n(b'x', body_len));
    v
}

pub fn resp407(challenges: &[&str]) -> Vec<u8> {
    let h: Vec<(&str, &str)> = challenges
        .iter()
        .map(|c| ("Proxy-Authenticate", *c))
        .collect();
    resp(407, "Proxy Authentication Required", &h, 20)
}

pub fn resp200() -> Vec<u8> {
    resp(200, "OK", &[("Content-Type", "text/html")], 64)
}

/// The packets of a complete NTLM handshake on one connection from `client`: GET → 407
/// NTLM → type 1 → 407 type 2 → type 3 (NTLMv2 of `user`) → 200, then FIN both ways.
pub fn ntlm_conversation(client: &str, proxy: &str, start_ms: i64, user: &str) -> Vec<Packet> {
    let url = "http://intranet.example.com/";
    let mut c = conv(client, proxy, start_ms);
    c.handshake()
        .client_send(&req("GET", url, &[]))
        .server_send(&resp407(&["NTLM", "Basic realm=\"corp\""]))
        .client_ack()
        .client_send(&req(
            "GET",
            url,
            &[(
                "Proxy-Authorization",
                &format!("NTLM {}", b64(&ntlm_type1())),
            )],
        ))
        .server_send(&resp407(&[&format!(
            "NTLM {}",
            b64(&ntlm_type2("CORP", [0x11; 8]))
        )]))
        .client_ack()
        .client_send(&req(
            "GET",
            url,
            &[(
                "Proxy-Authorization",
                &format!(
                    "NTLM {}",
                    b64(&ntlm_type3(
                        "CORP",
                        user,
                        "PC-7",
                        &[0; 24],
                        &ntv2_response(0x42)
                    ))
                ),
            )],
        ))
        .server_send(&resp200())
        .client_ack()
        .client_fin()
        .server_fin()
        .client_ack();
    c.into_packets()
}

// ------------------------------------------------------------------------------ files

/// Writes `packets` as a µs pcap with `link`.
pub fn write_pcap(path: &Path, packets: &[Packet], link: LinkKind) {
    write_pcap_res(path, packets, link, Resolution::Micro);
}

pub fn write_pcap_res(path: &Path, packets: &[Packet], link: LinkKind, res: Resolution) {
    let mut w = CaptureWriter::pcap(Vec::new(), link, res).expect("pcap header");
    w.write_all(packets).expect("pcap records");
    std::fs::write(path, w.into_inner()).expect("write capture");
}

/// Packets sorted by time (stable), as a capture of several conversations records them.
pub fn merged(lists: Vec<Vec<Packet>>) -> Vec<Packet> {
    proxy407_testkit::merge(lists)
}

// ------------------------------------------------------------------------------ the binary

pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(args: &[&str], files: &[&Path]) -> Run {
    let out = Command::new(BIN)
        .args(args)
        .args(files)
        .output()
        .expect("the proxy407 binary runs");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `analyze --json --quiet [extra] FILES`.
pub fn analyze(files: &[&Path], extra: &[&str]) -> Value {
    let mut args = vec!["analyze", "--json", "--quiet"];
    args.extend_from_slice(extra);
    let r = run(&args, files);
    assert!(r.ok, "analyze failed: {}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.stdout))
}

/// `transactions [extra] FILES`: one JSON object per line.
pub fn transactions(files: &[&Path], extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["transactions", "--quiet"];
    args.extend_from_slice(extra);
    let r = run(&args, files);
    assert!(r.ok, "transactions failed: {}", r.stderr);
    r.stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("transaction line is JSON"))
        .collect()
}

/// `export --format ndjson --tables episodes [extra] FILES` into a fresh directory: the rows.
pub fn episodes(files: &[&Path], extra: &[&str]) -> Vec<Value> {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let out_s = out.to_str().expect("utf-8 path");
    let mut args = vec![
        "export", "--quiet", "--format", "ndjson", "--tables", "episodes", "--out", out_s,
    ];
    args.extend_from_slice(extra);
    let r = run(&args, files);
    assert!(r.ok, "export failed: {}", r.stderr);
    let text = std::fs::read_to_string(out.join("episodes.ndjson")).expect("episodes.ndjson");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("episode line is JSON"))
        .collect()
}

/// The one episode of a capture.
pub fn only_episode(files: &[&Path], extra: &[&str]) -> Value {
    let eps = episodes(files, extra);
    assert_eq!(eps.len(), 1, "expected one episode: {eps:#?}");
    eps.into_iter().next().expect("one episode")
}

/// A field as a string ("" when null or missing).
pub fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// The findings of an exported episode, whether written as a list or a joined string.
pub fn findings(v: &Value) -> Vec<String> {
    match v.get("findings") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) => s
            .split([',', ';', ' '])
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

pub fn tmp_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}
