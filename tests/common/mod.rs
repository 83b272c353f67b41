//! Helpers shared by the end-to-end tests on generated captures: hand-built NTLMSSP,
//! SPNEGO/Kerberos and HTTP messages, writing test-kit captures to files, and running the real
//! binary to read its JSON summary, transactions and exported episodes.

#![allow(dead_code)]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use proxy407::decode::{Segment, TcpFlags};
use proxy407_testkit::http::Head;
use proxy407_testkit::{der, kerberos, ntlm, spnego};
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
        frame: 0,
    }
}

// ------------------------------------------------------------------------------ NTLMSSP

pub use proxy407_testkit::ntlm::{utf16, NEGOTIATE_NTLM, NEGOTIATE_UNICODE};

const FLAGS: u32 = NEGOTIATE_UNICODE | NEGOTIATE_NTLM;

/// NEGOTIATE_MESSAGE (type 1) without supplied domain or workstation.
pub fn ntlm_type1() -> Vec<u8> {
    ntlm::negotiate(FLAGS | ntlm::REQUEST_TARGET, None, 32)
}

/// CHALLENGE_MESSAGE (type 2) with a Unicode target name and the given server challenge.
pub fn ntlm_type2(target: &str, server_challenge: [u8; 8]) -> Vec<u8> {
    ntlm::Challenge {
        flags: FLAGS,
        target_name: &utf16(target),
        server_challenge,
        target_info: &[],
        version: None,
    }
    .to_bytes()
}

/// AUTHENTICATE_MESSAGE (type 3), Unicode, with the given LM and NT responses (24-byte NT
/// response: NTLMv1; longer: NTLMv2).
pub fn ntlm_type3(domain: &str, user: &str, ws: &str, lm: &[u8], nt: &[u8]) -> Vec<u8> {
    ntlm::Authenticate {
        flags: FLAGS,
        lm,
        nt,
        domain: &utf16(domain),
        user: &utf16(user),
        workstation: &utf16(ws),
        session_key: &[],
        version: None,
        mic: None,
        responses_first: true,
    }
    .to_bytes()
}

/// An NTLMv2 NT response: 16-byte proof and a blob, recognisable bytes.
pub fn ntv2_response(fill: u8) -> Vec<u8> {
    let mut v = vec![fill; 16];
    v.extend(ntlm::ntlmv2_blob(
        [fill.wrapping_add(1); 8], // timestamp
        [fill.wrapping_add(2); 8], // client challenge
        &[0; 16],
    ));
    v
}

// ------------------------------------------------------------------------------ DER / Kerberos

pub use proxy407_testkit::der::der as tlv;

/// KRB-ERROR with `error_code`, in a GSS-API wrapper with TOK_ID 03 00 (RFC 4121).
pub fn krb_error_gss(error_code: u8) -> Vec<u8> {
    let err = kerberos::krb_error(&kerberos::KrbError {
        stime: "20250101000000Z",
        susec: 0,
        error_code: u32::from(error_code),
        realm: "EXAMPLE.COM",
        sname: &tlv(0x30, &[]),
    });
    kerberos::gss_token(kerberos::TOK_KRB_ERROR, &err)
}

/// SPNEGO NegTokenInit offering NTLMSSP and carrying `token`.
pub fn spnego_ntlm(token: &[u8]) -> Vec<u8> {
    spnego::neg_token_init(&[der::OID_NTLMSSP], token)
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
        target
    } else {
        target
            .split("://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or("example.com")
    };
    let mut h = Head::request(method, target);
    h.header("Host", host).header("User-Agent", "scenario/1.0");
    for (k, v) in headers {
        h.header(k, v);
    }
    h.finish()
}

/// A response head with a body of `body_len` bytes (`x`), Content-Length framed.
pub fn resp(status: u16, reason: &str, headers: &[(&str, &str)], body_len: usize) -> Vec<u8> {
    let mut h = Head::response(status, reason);
    for (k, v) in headers {
        h.header(k, v);
    }
    h.header("Content-Length", body_len);
    let mut v = h.finish();
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

/// The bundled samples (`samples/*.pcap`), in name order.
pub fn samples() -> Vec<PathBuf> {
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

/// Writes the test kit's mirror-port mix (`seed`, about `size` bytes, `concurrency`
/// connections open at once) to `path`.
pub fn write_mix(path: &Path, seed: u64, size: u64, concurrency: usize) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let opts = proxy407_testkit::mix::Options {
        size,
        seed,
        concurrency,
    };
    proxy407_testkit::mix::generate(&mut file, &opts).expect("write the mix");
}

/// Whether a program the test drives is installed; without it the test says so and passes
/// over that part, except in CI (`CI=true`), where a missing one is a failure.
pub fn tool_present(name: &str) -> bool {
    let found = std::process::Command::new(name)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{name} is missing (required in CI)"
        );
        eprintln!("note: {name} is not installed; that part of the test is skipped");
    }
    found
}
