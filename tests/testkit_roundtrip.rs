//! Round trips through the test kit: for each wire format, proxy407's own reader or parser
//! reads back what the kit's emitter wrote. pcap and pcapng files through
//! `source::file::open_files` and `open_reader`, frames of every link kind through
//! `decode::decode`, HTTP heads through `http::parser`, NTLMSSP, SPNEGO, Kerberos AP-REQ and
//! KRB-ERROR, Basic and Digest through `auth`; and the whole mix through `analyze --json`.
//! A failure here is a bug in the kit or in the parser, and says which format.

mod common;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use proptest::prelude::*;
use proxy407::auth::{self, negotiate, AuthStep, NtlmVersion, Scheme};
use proxy407::decode::{decode, Decoded};
use proxy407::http::parser::{self, Head as Parsed};
use proxy407::source::file::{open_files, open_reader};
use proxy407::source::{Frame, PacketSource};
use proxy407_testkit::basic_digest::{self, DigestCredentials};
use proxy407_testkit::der::{OID_KRB5, OID_MS_KRB5, OID_NEGOEX, OID_NTLMSSP};
use proxy407_testkit::http::Head;
use proxy407_testkit::{kerberos, mix, ntlm, spnego, time};
use proxy407_testkit::{CaptureWriter, LinkKind, Packet, Resolution, TcpFlags, Ts};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

// ------------------------------------------------------------------------------ strategies

fn link_kind() -> impl Strategy<Value = LinkKind> {
    prop_oneof![
        Just(LinkKind::Ethernet),
        (0u16..4096).prop_map(LinkKind::EthernetVlan),
        Just(LinkKind::LinuxSll),
        Just(LinkKind::LinuxSll2),
        Just(LinkKind::RawIp),
        Just(LinkKind::Null),
    ]
}

fn ip_pair() -> impl Strategy<Value = (IpAddr, IpAddr)> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<[u8; 4]>())
            .prop_map(|(a, b)| (IpAddr::V4(Ipv4Addr::from(a)), IpAddr::V4(Ipv4Addr::from(b)))),
        (any::<[u8; 16]>(), any::<[u8; 16]>())
            .prop_map(|(a, b)| (IpAddr::V6(Ipv6Addr::from(a)), IpAddr::V6(Ipv6Addr::from(b)))),
    ]
}

fn flags() -> impl Strategy<Value = TcpFlags> {
    any::<[bool; 5]>().prop_map(|[syn, ack, fin, rst, psh]| TcpFlags {
        syn,
        ack,
        fin,
        rst,
        psh,
    })
}

prop_compose! {
    fn packet()(
        (src_ip, dst_ip) in ip_pair(),
        ports in any::<(u16, u16)>(),
        ts in 0i64..4_000_000_000_000_000,
        seq in any::<u32>(),
        ack in any::<u32>(),
        flags in flags(),
        window in any::<u16>(),
        payload in prop::collection::vec(any::<u8>(), 0..1600),
        cut in prop::option::of(0usize..1600),
    ) -> Packet {
        Packet {
            ts: Ts(ts),
            src: SocketAddr::new(src_ip, ports.0),
            dst: SocketAddr::new(dst_ip, ports.1),
            seq,
            ack,
            flags,
            window,
            captured_payload: cut.filter(|&c| c < payload.len()),
            payload,
        }
    }
}

/// Names as NTLMSSP carries them (UTF-16): letters, digits, some punctuation, non-ASCII.
fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._-äöüßéÅ日本]{1,24}"
}

/// A DNS label.
fn label() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,14}[a-z0-9]"
}

// ------------------------------------------------------------------------------ capture files

type Record = (i64, u32, Vec<u8>, u32);

fn drain(src: &mut dyn PacketSource) -> Vec<Record> {
    let mut out = Vec::new();
    while let Some(f) = src.next_frame() {
        out.push((f.ts.0, f.link_type, f.data.to_vec(), f.orig_len));
    }
    assert_eq!(src.take_notices(), Vec::new(), "no damage reported");
    out
}

/// Every frame of a capture as proxy407's file readers return it: (µs, link type, bytes,
/// length on the wire). The streaming reader and the memory-mapped file reader must agree.
fn read_back(bytes: Vec<u8>) -> Vec<Record> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("roundtrip.cap");
    std::fs::write(&path, &bytes).expect("write capture");
    let mut mapped = open_files(&[path]).expect("the file reader opens what the kit wrote");
    let from_file = drain(mapped.as_mut());
    let mut src = open_reader("roundtrip", Box::new(std::io::Cursor::new(bytes)))
        .expect("the stream reader opens what the kit wrote");
    let from_stream = drain(src.as_mut());
    assert_eq!(from_file, from_stream, "mapped and streamed reads agree");
    from_stream
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// pcap (µs and ns): every record with its time, link type, bytes and wire length.
    #[test]
    fn pcap_files_read_back(
        pkts in prop::collection::vec(packet(), 0..12),
        link in link_kind(),
        nano in any::<bool>(),
    ) {
        let res = if nano { Resolution::Nano } else { Resolution::Micro };
        let mut w = CaptureWriter::pcap(Vec::new(), link, res).expect("header");
        w.write_all(&pkts).expect("records");
        let frames = read_back(w.into_inner());
        prop_assert_eq!(frames.len(), pkts.len());
        for (p, (ts, lt, data, orig)) in pkts.iter().zip(frames) {
            let (frame, wire) = p.frame(link);
            prop_assert_eq!(ts, p.ts.0);
            prop_assert_eq!(lt, link.link_type());
            prop_assert_eq!(data, frame);
            prop_assert_eq!(orig, wire);
        }
    }

    /// pcapng with several interfaces of different link types (µs and ns `if_tsresol`).
    #[test]
    fn pcapng_files_read_back(
        pkts in prop::collection::vec((packet(), 0usize..3), 0..12),
        links in prop::collection::vec(link_kind(), 3),
        nano in any::<bool>(),
    ) {
        let res = if nano { Resolution::Nano } else { Resolution::Micro };
        let mut w = CaptureWriter::pcapng_with(Vec::new(), &links, res).expect("header");
        for (p, iface) in &pkts {
            w.write_on(*iface, p).expect("block");
        }
        let frames = read_back(w.into_inner());
        prop_assert_eq!(frames.len(), pkts.len());
        for ((p, iface), (ts, lt, data, orig)) in pkts.iter().zip(frames) {
            let (frame, wire) = p.frame(links[*iface]);
            prop_assert_eq!(ts, p.ts.0);
            prop_assert_eq!(lt, links[*iface].link_type());
            prop_assert_eq!(data, frame);
            prop_assert_eq!(orig, wire);
        }
    }

    /// Frames of every link kind, IPv4 and IPv6, with snap-length cuts: the decoder finds the
    /// addresses, ports, numbers, flags, window, captured payload and the missing bytes.
    #[test]
    fn frames_decode_back(p in packet(), link in link_kind()) {
        let (data, orig_len) = p.frame(link);
        let frame = Frame { ts: proxy407::model::Ts(p.ts.0), link_type: link.link_type(), data: &data, orig_len, shared: None, file: 0, number: 0 };
        let Decoded::Tcp(s) = decode(&frame) else {
            return Err(TestCaseError::fail(format!("not TCP: {:?}", decode(&frame))));
        };
        prop_assert_eq!(s.ts.0, p.ts.0);
        prop_assert_eq!((s.src_ip, s.src_port), (p.src.ip(), p.src.port()));
        prop_assert_eq!((s.dst_ip, s.dst_port), (p.dst.ip(), p.dst.port()));
        prop_assert_eq!(s.seq, p.seq);
        prop_assert_eq!(s.ack, if p.flags.ack { p.ack } else { 0 });
        let f = s.flags;
        prop_assert_eq!(
            (f.syn, f.ack, f.fin, f.rst, f.psh),
            (p.flags.syn, p.flags.ack, p.flags.fin, p.flags.rst, p.flags.psh)
        );
        prop_assert_eq!(s.window, p.window);
        prop_assert_eq!(s.payload, p.captured());
        prop_assert_eq!(s.missing_payload as usize, p.missing());
    }
}

// ------------------------------------------------------------------------------ HTTP heads

fn header_value() -> impl Strategy<Value = String> {
    "[!-~]([ -~]{0,40}[!-~])?"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A request head: method, target, Host, User-Agent, Proxy-Authorization, its length.
    #[test]
    fn request_heads_parse_back(
        connect in any::<bool>(),
        host in label(),
        path in "(/[a-z0-9._-]{0,12}){1,4}",
        ua in header_value(),
        creds in prop::option::of(header_value()),
        extra in prop::collection::vec(("X-[A-Za-z]{1,10}", header_value()), 0..4),
    ) {
        let (method, target) = if connect {
            ("CONNECT", format!("{host}.example:443"))
        } else {
            ("GET", format!("http://{host}.example{path}"))
        };
        let host_value = if connect { target.clone() } else { format!("{host}.example") };
        let mut h = Head::request(method, &target);
        h.header("Host", &host_value).header("User-Agent", &ua);
        for (k, v) in &extra {
            h.header(k, v);
        }
        if let Some(c) = &creds {
            h.header("Proxy-Authorization", c);
        }
        let bytes = h.finish();
        let Parsed::Complete(r) = parser::parse_request(&bytes) else {
            return Err(TestCaseError::fail(format!("not a complete request: {:?}", parser::parse_request(&bytes))));
        };
        prop_assert_eq!(r.head.method.as_str(), method);
        prop_assert_eq!(&r.head.target, &target);
        prop_assert_eq!(r.head.version, 1);
        prop_assert_eq!(r.head.host.as_deref(), Some(host_value.as_str()));
        prop_assert_eq!(r.head.user_agent.as_deref(), Some(ua.as_str()));
        prop_assert_eq!(r.head.proxy_authorization.as_ref().map(|s| s.expose()), creds.as_deref());
        prop_assert_eq!(r.head.head_len, bytes.len());
        prop_assert!(r.head.is_proxy_form());
    }

    /// A response head: status, every Proxy-Authenticate in order, Content-Length, close.
    #[test]
    fn response_heads_parse_back(
        status in prop_oneof![Just(200u16), Just(403), Just(407), 100u16..600],
        challenges in prop::collection::vec(header_value(), 0..5),
        www in prop::collection::vec(header_value(), 0..2),
        length in prop::option::of(0u64..10_000_000),
        close in any::<bool>(),
    ) {
        let mut h = Head::response(status, "Reason Phrase");
        for c in &challenges {
            h.header("Proxy-Authenticate", c);
        }
        for c in &www {
            h.header("WWW-Authenticate", c);
        }
        if let Some(n) = length {
            h.header("Content-Length", n);
        }
        h.header("Connection", if close { "close" } else { "keep-alive" });
        let bytes = h.finish();
        let Parsed::Complete(r) = parser::parse_response(&bytes) else {
            return Err(TestCaseError::fail(format!("not a complete response: {:?}", parser::parse_response(&bytes))));
        };
        prop_assert_eq!(r.head.status, status);
        let pa: Vec<&str> = r.head.proxy_authenticate.iter().map(|s| s.expose()).collect();
        prop_assert_eq!(pa, challenges.iter().map(String::as_str).collect::<Vec<_>>());
        let wa: Vec<&str> = r.head.www_authenticate.iter().map(|s| s.expose()).collect();
        prop_assert_eq!(wa, www.iter().map(String::as_str).collect::<Vec<_>>());
        prop_assert_eq!(r.body.content_length, length);
        prop_assert_eq!(r.body.close, close);
        prop_assert_eq!(r.head.connection_close, close);
        prop_assert_eq!(r.head.head_len, bytes.len());
    }
}

// ------------------------------------------------------------------------------ NTLMSSP

fn b64(b: &[u8]) -> String {
    B64.encode(b)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Type 3 in either payload order, with or without VERSION and MIC, NTLMv1 or v2: the
    /// names and the version come back.
    #[test]
    fn ntlm_authenticate_parses_back(
        domain in name(),
        user in name(),
        ws in name(),
        v2_len in prop::option::of(25usize..400),
        responses_first in any::<bool>(),
        windows in any::<bool>(),
        key in prop::collection::vec(any::<u8>(), 0..17),
    ) {
        let nt = vec![0x5a; v2_len.unwrap_or(24)];
        let (d, u, w) = (ntlm::utf16(&domain), ntlm::utf16(&user), ntlm::utf16(&ws));
        let m = ntlm::Authenticate {
            flags: ntlm::NEGOTIATE_UNICODE | ntlm::NEGOTIATE_NTLM,
            lm: &[0; 24],
            nt: &nt,
            domain: &d,
            user: &u,
            workstation: &w,
            session_key: &key,
            version: windows.then_some(ntlm::WINDOWS_10),
            mic: windows.then_some([7; 16]),
            responses_first,
        }
        .to_bytes();
        let c = auth::parse_credentials(&format!("NTLM {}", b64(&m)));
        prop_assert_eq!(c.anomaly, None);
        prop_assert_eq!(c.step, AuthStep::NtlmType3);
        prop_assert_eq!(c.user.as_deref(), Some(user.as_str()));
        prop_assert_eq!(c.domain.as_deref(), Some(domain.as_str()));
        prop_assert_eq!(c.workstation.as_deref(), Some(ws.as_str()));
        let version = if v2_len.is_some() { NtlmVersion::V2 } else { NtlmVersion::V1 };
        prop_assert_eq!(c.ntlm_version, Some(version));
        // Inside SPNEGO the same message is read the same way.
        let tok = spnego::neg_token_init(&[OID_NTLMSSP], &m);
        let n = auth::parse_credentials(&format!("Negotiate {}", b64(&tok)));
        prop_assert!(n.ntlm_in_negotiate);
        prop_assert_eq!(n.step, AuthStep::NtlmType3);
        prop_assert_eq!(n.user.as_deref(), Some(user.as_str()));
    }

    /// Type 1 (either empty-buffer convention) and type 2 with target name and AV pairs.
    #[test]
    fn ntlm_negotiate_and_challenge_parse_back(
        target in name(),
        challenge in any::<[u8; 8]>(),
        windows in any::<bool>(),
        secs in 0u64..4_000_000_000,
    ) {
        let version = windows.then_some(ntlm::WINDOWS_10);
        let t1 = ntlm::negotiate(
            ntlm::NEGOTIATE_UNICODE | ntlm::NEGOTIATE_NTLM,
            version,
            if windows { 0 } else { 32 },
        );
        let c = auth::parse_credentials(&format!("NTLM {}", b64(&t1)));
        prop_assert_eq!(c.anomaly, None);
        prop_assert_eq!(c.step, AuthStep::NtlmType1);

        let mut ti = ntlm::server_av_pairs(&target, "PROXY", "corp.example", "proxy.corp.example", secs);
        ntlm::av_pair(&mut ti, ntlm::av::EOL, &[]);
        let t2 = ntlm::Challenge {
            flags: ntlm::NEGOTIATE_UNICODE | ntlm::NEGOTIATE_NTLM,
            target_name: &ntlm::utf16(&target),
            server_challenge: challenge,
            target_info: &ti,
            version,
        }
        .to_bytes();
        let parsed = proxy407::auth::ntlm::parse(&t2).expect("type 2 parses");
        prop_assert_eq!(parsed.msg_type, 2);
        prop_assert_eq!(parsed.flags, Some(ntlm::NEGOTIATE_UNICODE | ntlm::NEGOTIATE_NTLM));
        let header = format!("NTLM {}", b64(&t2));
        let ch = auth::parse_challenges([header.as_str()]);
        prop_assert_eq!(ch.len(), 1);
        prop_assert_eq!(&ch[0].scheme, &Scheme::Ntlm);
        prop_assert_eq!(ch[0].step, Some(AuthStep::NtlmType2));
        prop_assert_eq!(ch[0].target_name.as_deref(), Some(target.as_str()));
        prop_assert_eq!(ch[0].anomaly, None);
    }
}

// ------------------------------------------------------------------------------ Kerberos

/// An AP-REQ for `HTTP/host` in `realm` inside a SPNEGO NegTokenInit, as a browser sends it.
fn spnego_ap_req(realm: &str, host: &str, ticket_len: usize, auth_len: usize) -> Vec<u8> {
    let sname = kerberos::principal(kerberos::NT_SRV_INST, &["HTTP", host]);
    let etype = kerberos::AES256_CTS_HMAC_SHA1_96;
    let ticket = kerberos::ticket(
        realm,
        &sname,
        &kerberos::encrypted_data(etype, Some(3), &vec![0xa5; ticket_len]),
    );
    let authenticator = kerberos::encrypted_data(etype, None, &vec![0x5a; auth_len]);
    let gss = kerberos::gss_token(
        kerberos::TOK_AP_REQ,
        &kerberos::ap_req(kerberos::MUTUAL_REQUIRED, &ticket, &authenticator),
    );
    spnego::neg_token_init(&[OID_MS_KRB5, OID_KRB5, OID_NEGOEX, OID_NTLMSSP], &gss)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// SPNEGO around an AP-REQ, with tickets from tiny to larger than 64 KiB (four-byte DER
    /// lengths): realm, service principal and the offered mechanisms come back.
    #[test]
    fn kerberos_ap_req_parses_back(
        realm in "[A-Z]{2,10}(\\.[A-Z]{2,10}){0,3}",
        host in "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,10}){1,3}",
        ticket_len in prop_oneof![0usize..300, 1000usize..4000, Just(70_000usize)],
        auth_len in 0usize..400,
    ) {
        let tok = spnego_ap_req(&realm, &host, ticket_len, auth_len);
        let t = negotiate::parse(&tok);
        prop_assert_eq!(t.anomaly, None);
        prop_assert!(t.spnego);
        prop_assert_eq!(
            t.mech_types,
            vec![negotiate::Mech::MsKerberos, negotiate::Mech::Kerberos, negotiate::Mech::Other("1.3.6.1.4.1.311.2.2.30".into()), negotiate::Mech::Ntlm]
        );
        let c = auth::parse_credentials(&format!("Negotiate {}", b64(&tok)));
        prop_assert_eq!(c.anomaly, None);
        prop_assert_eq!(c.step, AuthStep::Kerberos);
        prop_assert_eq!(c.realm.as_deref(), Some(realm.as_str()));
        let spn = format!("HTTP/{host}");
        prop_assert_eq!(c.service_principal.as_deref(), Some(spn.as_str()));
    }

    /// A KRB-ERROR, bare in its GSS-API wrapper or inside a rejecting NegTokenResp: the error
    /// code (and for SPNEGO the state and mechanism) come back.
    #[test]
    fn krb_error_parses_back(
        code in 0u32..100,
        susec in 0u32..1_000_000,
        secs in 0u64..4_000_000_000,
        realm in "[A-Z]{2,10}(\\.[A-Z]{2,10}){0,2}",
        in_spnego in any::<bool>(),
    ) {
        let stime = time::generalized_time(secs);
        let sname = kerberos::principal(kerberos::NT_SRV_INST, &["HTTP", "proxy.example"]);
        let err = kerberos::krb_error(&kerberos::KrbError {
            stime: &stime,
            susec,
            error_code: code,
            realm: &realm,
            sname: &sname,
        });
        let gss = kerberos::gss_token(kerberos::TOK_KRB_ERROR, &err);
        let tok = if in_spnego {
            spnego::neg_token_resp(Some(spnego::REJECT), Some(OID_MS_KRB5), Some(&gss))
        } else {
            gss
        };
        let t = negotiate::parse(&tok);
        prop_assert_eq!(t.anomaly, None);
        prop_assert_eq!(t.krb_error_code, Some(i64::from(code)));
        if in_spnego {
            prop_assert!(t.response);
            prop_assert_eq!(t.neg_state, Some(i64::from(spnego::REJECT)));
            prop_assert_eq!(t.supported_mech, Some(negotiate::Mech::MsKerberos));
        }
        let header = format!("Negotiate {}", b64(&tok));
        let ch = auth::parse_challenges([header.as_str()]);
        prop_assert_eq!(ch.len(), 1);
        prop_assert_eq!(ch[0].krb_error.clone(), Some(negotiate::krb_error_name(i64::from(code))));
    }
}

// ------------------------------------------------------------------------------ Basic, Digest

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Basic credentials: the user before the first colon, whatever the password holds.
    #[test]
    fn basic_parses_back(user in "[^:\\x00-\\x1f]{0,30}", password in "[ -~]{0,30}") {
        let c = auth::parse_credentials(&basic_digest::basic(&user, &password));
        prop_assert_eq!(c.anomaly, None);
        prop_assert_eq!(c.step, AuthStep::Basic);
        prop_assert_eq!(c.user.as_deref(), Some(user.as_str()).filter(|u| !u.is_empty()));
        let ch = auth::parse_challenges([basic_digest::basic_challenge("Corporate Proxy").as_str()]);
        prop_assert_eq!(&ch[0].scheme, &Scheme::Basic);
        prop_assert_eq!(ch[0].realm.as_deref(), Some("Corporate Proxy"));
    }

    /// Digest credentials and challenges: user and realm, realm and stale.
    #[test]
    fn digest_parses_back(
        user in "[A-Za-z0-9._@-]{1,24}",
        realm in "[A-Za-z0-9 ._-]{1,24}",
        nonce in "[A-Za-z0-9+/]{8,40}={0,2}",
        nc in any::<u32>(),
        stale in any::<bool>(),
        connect in any::<bool>(),
    ) {
        let uri = if connect { "a.example:443" } else { "http://a.example/x" };
        let v = DigestCredentials {
            username: &user,
            realm: &realm,
            nonce: &nonce,
            uri,
            cnonce: "0123456789abcdef",
            nc,
            response: "0123456789abcdef0123456789abcdef",
        }
        .header_value();
        let c = auth::parse_credentials(&v);
        prop_assert_eq!(c.anomaly, None);
        prop_assert_eq!(c.step, AuthStep::Digest);
        prop_assert_eq!(c.user.as_deref(), Some(user.as_str()));
        prop_assert_eq!(c.realm.as_deref(), Some(realm.as_str()));
        let ch = auth::parse_challenges([basic_digest::digest_challenge(&realm, &nonce, stale).as_str()]);
        prop_assert_eq!(ch.len(), 1);
        prop_assert_eq!(&ch[0].scheme, &Scheme::Digest);
        prop_assert_eq!(ch[0].realm.as_deref(), Some(realm.as_str()));
        prop_assert_eq!(ch[0].stale, stale);
        prop_assert_eq!(ch[0].anomaly, None);
    }
}

// ------------------------------------------------------------------------------ the mix

/// The mix as a whole: proxy407 reads a generated capture back as the generator's ground
/// truth (packets, `407` responses, and every episode with the verdict its kind should get).
#[test]
fn mix_reads_back_as_its_ground_truth() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (seed, size) in [(1u64, 3_000_000u64), (3, 5_000_000)] {
        let path = dir.path().join(format!("mix-{seed}.pcap"));
        let mut file = std::fs::File::create(&path).expect("create capture");
        let opts = mix::Options {
            size,
            seed,
            concurrency: 48,
        };
        let truth = mix::generate(&mut file, &opts).expect("write the mix");
        drop(file);
        let v = common::analyze(&[&path], &[]);
        let n = |a: &str, b: &str| v[a][b].as_u64().unwrap_or(u64::MAX);
        assert_eq!(
            n("capture", "packets"),
            truth.packets,
            "seed {seed}: packets"
        );
        assert_eq!(
            n("http", "responses_407"),
            truth.responses_407,
            "seed {seed}: 407s"
        );
        assert_eq!(
            n("episodes", "total"),
            truth.episodes_total,
            "seed {seed}: episodes"
        );
        let expected = |verdict: &str| truth.expected_verdicts.get(verdict).copied().unwrap_or(0);
        assert_eq!(
            n("episodes", "authenticated"),
            expected("authenticated"),
            "seed {seed}"
        );
        let causes = v["causes"].as_object().expect("causes");
        for (cause, count) in causes {
            assert_eq!(
                count.as_u64(),
                Some(expected(&format!("failed/{cause}"))),
                "seed {seed}: {cause}"
            );
        }
        assert!(
            truth.episodes_total > 20,
            "seed {seed}: a mix with episodes"
        );
    }
}
