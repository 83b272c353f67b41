//! The KDC's messages on real bytes: the lab's captures of an MIT KDC (`samples/kerberos-*`,
//! UDP and TCP on port 88) decoded and parsed message by message, checked against what
//! tshark shows for them; the TCP framing over the real segments; damaged messages never
//! panic; and the episodes those captures give (`docs/verdicts.md` §4.12).

use proxy407::auth::kdc::{self, KdcKind, KdcMessage, KdcStream};
use proxy407::decode::{decode, Decoded};
use proxy407::source::file::open_reader;
use std::path::PathBuf;
use std::process::Command;

fn sample(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(format!("{name}.pcap"))
}

/// The payloads to or from port 88 of a sample, in frame order: (UDP?, from the client?,
/// bytes).
fn kdc_payloads(name: &str) -> Vec<(bool, bool, Vec<u8>)> {
    let bytes = std::fs::read(sample(name)).expect("sample readable");
    let mut src = open_reader(name, Box::new(std::io::Cursor::new(bytes))).expect("a capture");
    let mut out = Vec::new();
    while let Some(f) = src.next_frame() {
        match decode(&f) {
            Decoded::Udp(d) => out.push((true, d.dst_port == 88, d.payload.to_vec())),
            Decoded::Tcp(s) if (s.src_port == 88 || s.dst_port == 88) && !s.payload.is_empty() => {
                out.push((false, s.dst_port == 88, s.payload.to_vec()))
            }
            _ => {}
        }
    }
    out
}

/// Every KDC message of a sample over UDP, parsed.
fn udp_messages(name: &str) -> Vec<KdcMessage> {
    kdc_payloads(name)
        .into_iter()
        .filter(|p| p.0)
        .map(|(_, _, b)| kdc::parse(&b).expect("a KDC message"))
        .collect()
}

fn summary(m: &KdcMessage) -> (KdcKind, Option<&str>, Option<&str>, Option<i64>) {
    (
        m.kind,
        m.client.as_deref(),
        m.service.as_deref(),
        m.error_code,
    )
}

#[test]
fn udp_messages_of_a_mistyped_password() {
    // tshark -Y kerberos: AS-REQ frank krbtgt/LAB.TEST, KRB-ERROR 25, AS-REQ, KRB-ERROR 24.
    let m = udp_messages("kerberos-wrong-password");
    let got: Vec<_> = m.iter().map(summary).collect();
    let tgt = Some("krbtgt/LAB.TEST");
    assert_eq!(
        got,
        vec![
            (KdcKind::AsReq, Some("frank"), tgt, None),
            (KdcKind::Error, Some("frank"), tgt, Some(25)),
            (KdcKind::AsReq, Some("frank"), tgt, None),
            (KdcKind::Error, Some("frank"), tgt, Some(24)),
        ]
    );
    assert!(m
        .iter()
        .all(|x| x.client_realm.as_deref() == Some("LAB.TEST")));
}

#[test]
fn a_tgs_req_names_no_client_and_its_error_names_the_service() {
    // After the 407: TGS-REQ for HTTP/127.0.0.1 (the client only in the encrypted
    // authenticator), answered KDC_ERR_S_PRINCIPAL_UNKNOWN.
    let m = udp_messages("kerberos-unknown-spn");
    let tgs: Vec<_> = m.iter().filter(|x| x.kind == KdcKind::TgsReq).collect();
    assert!(!tgs.is_empty());
    for t in &tgs {
        assert_eq!(t.client, None);
        assert_eq!(t.service.as_deref(), Some("HTTP/127.0.0.1"));
        assert_eq!(t.service_realm.as_deref(), Some("LAB.TEST"));
    }
    let errs: Vec<_> = m
        .iter()
        .filter(|x| x.kind == KdcKind::Error && x.error_code == Some(7))
        .collect();
    assert_eq!(errs.len(), tgs.len());
    assert_eq!(errs[0].service.as_deref(), Some("HTTP/127.0.0.1"));
    assert_eq!(errs[0].client.as_deref(), Some("frank"));
}

#[test]
fn expired_locked_unknown_and_skewed() {
    let codes = |name: &str| -> Vec<(i64, Option<String>)> {
        udp_messages(name)
            .into_iter()
            .filter_map(|m| m.error_code.map(|c| (c, m.service)))
            .collect()
    };
    let expired = codes("kerberos-expired-password");
    assert_eq!(expired[0], (23, Some("krbtgt/LAB.TEST".into())));
    assert!(expired.contains(&(25, Some("kadmin/changepw".into()))));
    // The password change's ticket is an AS-REP for kadmin/changepw.
    assert!(udp_messages("kerberos-expired-password")
        .iter()
        .any(|m| m.kind == KdcKind::AsRep && m.service.as_deref() == Some("kadmin/changepw")));
    assert_eq!(
        codes("kerberos-locked"),
        vec![(18, Some("krbtgt/LAB.TEST".into()))]
    );
    let unknown = udp_messages("kerberos-unknown-user");
    assert_eq!(unknown.last().map(|m| m.error_code), Some(Some(6)));
    assert_eq!(
        unknown.last().and_then(|m| m.client.as_deref()),
        Some("ivan")
    );
    let skew = codes("kerberos-kdc-skew");
    assert!(
        skew.contains(&(37, Some("HTTP/localhost".into()))),
        "{skew:?}"
    );
}

#[test]
fn tcp_records_over_the_real_segments() {
    // kerberos-kdc-success goes by TCP: each direction's bytes cut into records, fed as the
    // segments came and also one byte at a time.
    let payloads = kdc_payloads("kerberos-kdc-success");
    assert!(payloads.iter().all(|p| !p.0), "every KDC message by TCP");
    for bytewise in [false, true] {
        let mut to_kdc = KdcStream::default();
        let mut from_kdc = KdcStream::default();
        let mut got: Vec<KdcMessage> = Vec::new();
        for (_, from_client, bytes) in &payloads {
            let s = if *from_client {
                &mut to_kdc
            } else {
                &mut from_kdc
            };
            let mut push = |r: Result<KdcMessage, _>| got.push(r.expect("a KDC message"));
            if bytewise {
                for b in bytes.chunks(1) {
                    s.data(b, &mut push);
                }
            } else {
                s.data(bytes, &mut push);
            }
        }
        let kinds: Vec<KdcKind> = got.iter().map(|m| m.kind).collect();
        assert_eq!(
            kinds,
            vec![
                KdcKind::AsReq,
                KdcKind::Error,
                KdcKind::AsReq,
                KdcKind::AsRep,
                KdcKind::TgsReq,
                KdcKind::TgsRep,
            ],
            "bytewise {bytewise}"
        );
        let rep = &got[5];
        assert_eq!(rep.client.as_deref(), Some("frank"));
        assert_eq!(rep.client_realm.as_deref(), Some("LAB.TEST"));
        assert_eq!(rep.service.as_deref(), Some("HTTP/localhost"));
        assert_eq!(to_kdc.held() + from_kdc.held(), 0);
    }
}

#[test]
fn damaged_real_messages_never_panic() {
    let mut all: Vec<Vec<u8>> = Vec::new();
    for name in [
        "kerberos-wrong-password",
        "kerberos-expired-password",
        "kerberos-kdc-skew",
    ] {
        all.extend(kdc_payloads(name).into_iter().map(|p| p.2));
    }
    assert!(all.len() >= 10);
    let mut errors = 0;
    for msg in &all {
        for cut in 0..msg.len() {
            errors += usize::from(kdc::parse(&msg[..cut]).is_err());
        }
        for i in 0..msg.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut m = msg.clone();
                m[i] ^= flip;
                let _ = kdc::parse(&m);
                let mut s = KdcStream::default();
                let mut len = (m.len() as u32).to_be_bytes().to_vec();
                len.extend(&m);
                s.data(&len, &mut |_| {});
            }
        }
    }
    // Every cut-short message is an error (its outer length says more than there is).
    assert_eq!(errors, all.iter().map(Vec::len).sum::<usize>());
}

/// The episodes of a capture, from `proxy407 export --format ndjson`.
fn episodes(args: &[&str], name: &str) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_proxy407"))
        .args(["export", "-q", "--format", "ndjson", "--tables", "episodes"])
        .args(args)
        .arg("--out")
        .arg(dir.path())
        .arg(sample(name))
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(dir.path().join("episodes.ndjson"))
        .expect("episodes written")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect()
}

#[test]
fn the_kdc_names_the_reason_and_the_user() {
    for (name, user, cause, detail) in [
        (
            "kerberos-wrong-password",
            "frank",
            "no_credentials",
            "krb_error=KDC_ERR_PREAUTH_FAILED",
        ),
        (
            "kerberos-unknown-spn",
            "frank",
            "no_credentials",
            "krb_error=KDC_ERR_S_PRINCIPAL_UNKNOWN spn=HTTP/127.0.0.1",
        ),
        (
            "kerberos-unknown-user",
            "ivan",
            "no_credentials",
            "krb_error=KDC_ERR_C_PRINCIPAL_UNKNOWN",
        ),
        (
            "kerberos-expired-password",
            "gina",
            "no_credentials",
            "krb_error=KDC_ERR_KEY_EXPIRED",
        ),
        (
            "kerberos-locked",
            "hank",
            "no_credentials",
            "krb_error=KDC_ERR_CLIENT_REVOKED",
        ),
        (
            "kerberos-kdc-skew",
            "frank",
            "no_credentials",
            "krb_error=KRB_AP_ERR_SKEW",
        ),
    ] {
        let eps = episodes(&[], name);
        assert_eq!(eps.len(), 1, "{name}: {eps:?}");
        let e = &eps[0];
        assert_eq!(e["outcome"], "failed", "{name}");
        assert_eq!(e["cause"], cause, "{name}");
        assert_eq!(e["detail"], detail, "{name}");
        assert_eq!(e["user"], user, "{name}");
        assert_eq!(e["user_source"], "kdc", "{name}");
        assert_eq!(e["domain"], "LAB.TEST", "{name}");
    }
    // The ticket for the proxy's service names the user of a successful Kerberos login.
    let eps = episodes(&[], "kerberos-kdc-success");
    assert_eq!(eps.len(), 1);
    assert_eq!(eps[0]["outcome"], "authenticated");
    assert_eq!(eps[0]["user"], "frank");
    assert_eq!(eps[0]["user_source"], "kdc");
    assert!(eps[0]["detail"].is_null());
}

/// A copy of a pcap (Ethernet, IPv4) with UDP port 88 moved to `port` in every datagram.
fn moved_kdc_port(name: &str, port: u16, out: &std::path::Path) {
    rewritten(name, port, None, out);
}

/// A copy of a loopback pcap (Ethernet, IPv4) with UDP port 88 moved to `port`, and with
/// `hosts` = (client, KDC, proxy): the three ends, all 127.0.0.1 in the lab, given addresses
/// of their own (the end on the KDC's or the proxy's port is that server, the other the
/// client).
fn rewritten(
    name: &str,
    port: u16,
    hosts: Option<([u8; 4], [u8; 4], [u8; 4])>,
    out: &std::path::Path,
) {
    let mut b = std::fs::read(sample(name)).expect("sample");
    assert_eq!(&b[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "a little-endian pcap");
    assert_eq!(b[20], 1, "Ethernet");
    let mut at = 24;
    let mut moved = 0;
    while at + 16 <= b.len() {
        let len = u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = at + 16;
        let ip = frame + 14;
        let ipv4 = b[frame + 12..frame + 14] == [0x08, 0x00];
        let l4 = ip + usize::from(b[ip] & 0x0f) * 4;
        if ipv4 && b[ip + 9] == 17 {
            for p in [l4, l4 + 2] {
                if b[p..p + 2] == 88u16.to_be_bytes() {
                    b[p..p + 2].copy_from_slice(&port.to_be_bytes());
                    moved += 1;
                }
            }
            b[l4 + 6..l4 + 8].copy_from_slice(&[0, 0]); // no UDP checksum
        }
        if let (true, Some((client, kdc, proxy))) = (ipv4, hosts) {
            let sport = u16::from_be_bytes([b[l4], b[l4 + 1]]);
            let dport = u16::from_be_bytes([b[l4 + 2], b[l4 + 3]]);
            let server = |p: u16| match p {
                88 => Some(kdc),
                p if p == port => Some(kdc),
                3130 | 18080 => Some(proxy),
                _ => None,
            };
            let (src, dst) = match (server(sport), server(dport)) {
                (Some(s), None) => (s, client),
                (None, Some(d)) => (client, d),
                _ => ([127, 0, 0, 1], [127, 0, 0, 1]),
            };
            b[ip + 12..ip + 16].copy_from_slice(&src);
            b[ip + 16..ip + 20].copy_from_slice(&dst);
        }
        at = frame + len;
    }
    assert!(moved >= 2, "{name}: {moved} ports moved");
    std::fs::write(out, b).expect("write the copy");
}

#[test]
fn a_kdc_on_another_port_is_read_with_kdc_port() {
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("locked-750.pcap");
    moved_kdc_port("kerberos-locked", 750, &copy);
    let run = |extra: &[&str]| -> serde_json::Value {
        let to = tempfile::tempdir().expect("temp dir");
        let out = Command::new(env!("CARGO_BIN_EXE_proxy407"))
            .args(["export", "-q", "--format", "ndjson", "--tables", "episodes"])
            .args(extra)
            .arg("--out")
            .arg(to.path())
            .arg(&copy)
            .output()
            .expect("the binary runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(to.path().join("episodes.ndjson")).expect("written");
        serde_json::from_str(text.lines().next().expect("one episode")).expect("JSON")
    };
    let unnamed = run(&[]);
    assert!(unnamed["detail"].is_null(), "{unnamed}");
    assert!(unnamed["user"].is_null(), "{unnamed}");
    let named = run(&["--kdc-port", "750"]);
    assert_eq!(
        named["detail"], "krb_error=KDC_ERR_CLIENT_REVOKED",
        "{named}"
    );
    assert_eq!(named["user"], "hank");
}

#[test]
fn a_kdc_exchange_falls_in_the_shard_of_its_kerberos_client() {
    use proxy407::flow::shard::client_hash;
    // A client whose address hashes into another half than its KDC's: were the KDC's end
    // (on a port above the client's) taken for the client, the KDC's error would land in the
    // other shard and the episode would lose its reason.
    let client = [10, 0, 0, 5];
    let h = |a: [u8; 4]| client_hash(std::net::IpAddr::from(a)) % 2;
    let kdc = (1..=250u8)
        .map(|n| [10, 0, 1, n])
        .find(|&a| h(a) != h(client))
        .expect("an address in the other half");
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("locked-hosts.pcap");
    rewritten(
        "kerberos-locked",
        65088,
        Some((client, kdc, [10, 0, 2, 1])),
        &copy,
    );
    let mut found = Vec::new();
    for k in 1..=2 {
        let to = tempfile::tempdir().expect("temp dir");
        let shard = format!("{k}/2");
        let out = Command::new(env!("CARGO_BIN_EXE_proxy407"))
            .args(["export", "-q", "--format", "ndjson", "--tables", "episodes"])
            .args(["--kdc-port", "65088", "--shard", &shard])
            .arg("--out")
            .arg(to.path())
            .arg(&copy)
            .output()
            .expect("the binary runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(to.path().join("episodes.ndjson")).unwrap_or_default();
        for l in text.lines() {
            let e: serde_json::Value = serde_json::from_str(l).expect("JSON");
            found.push((
                k,
                e["client_ip"].clone(),
                e["detail"].clone(),
                e["user"].clone(),
            ));
        }
    }
    assert_eq!(found.len(), 1, "{found:?}");
    let (k, ip, detail, user) = &found[0];
    assert_eq!(*k, h(client) + 1);
    assert_eq!(ip, "10.0.0.5");
    assert_eq!(detail, "krb_error=KDC_ERR_CLIENT_REVOKED");
    assert_eq!(user, "hank");
}

#[test]
fn the_report_names_each_kdc_reason_with_its_remedy() {
    let report = |name: &str, lang: &str| -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_proxy407"))
            .args(["analyze", "--lang", lang])
            .arg(sample(name))
            .output()
            .expect("the binary runs");
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for (name, code, en_words, ja_words) in [
        (
            "kerberos-wrong-password",
            "KDC_ERR_PREAUTH_FAILED",
            "current password",
            "パスワード",
        ),
        (
            "kerberos-locked",
            "KDC_ERR_CLIENT_REVOKED",
            "unlock",
            "ロック",
        ),
        (
            "kerberos-expired-password",
            "KDC_ERR_KEY_EXPIRED",
            "must change it",
            "変更",
        ),
        (
            "kerberos-unknown-user",
            "KDC_ERR_C_PRINCIPAL_UNKNOWN",
            "no such user",
            "ユーザー",
        ),
        (
            "kerberos-unknown-spn",
            "KDC_ERR_S_PRINCIPAL_UNKNOWN",
            "asked for: HTTP/127.0.0.1",
            "HTTP/127.0.0.1",
        ),
        (
            "kerberos-kdc-skew",
            "KRB_AP_ERR_SKEW",
            "Synchronise the client's clock",
            "時刻",
        ),
        (
            "kerberos-clock-skew",
            "kerberos_token_rejected",
            "keytab",
            "キータブ",
        ),
    ] {
        let en = report(name, "en");
        let ja = report(name, "ja");
        let needle = if code.contains('_') && code.starts_with('K') {
            format!("({code}")
        } else {
            "Kerberos ticket that the proxy rejected".to_string()
        };
        let line = en
            .lines()
            .find(|l| l.contains(&needle))
            .unwrap_or_else(|| panic!("{name}: no remedy naming {code}:\n{en}"));
        assert!(
            line.contains("1 of them") && line.contains(en_words),
            "{name}: {line}"
        );
        let line = ja
            .lines()
            .find(|l| l.contains("うち 1 件") && l.contains(ja_words))
            .unwrap_or_else(|| panic!("{name}: no Japanese remedy:\n{ja}"));
        assert!(!line.is_empty());
    }
    // A first leg that asked for pre-authentication is no reason: a login that went through
    // shows no KDC remedy.
    let ok = report("kerberos-kdc-success", "en");
    assert!(!ok.contains("KDC_ERR"), "{ok}");
}

/// Real KDC messages of the lab, as TCP records (length and message).
fn real_records() -> Vec<Vec<u8>> {
    [
        "kerberos-wrong-password",
        "kerberos-unknown-spn",
        "kerberos-expired-password",
    ]
    .iter()
    .flat_map(|n| kdc_payloads(n))
    .map(|(_, _, m)| {
        let mut r = (m.len() as u32).to_be_bytes().to_vec();
        r.extend(m);
        r
    })
    .collect()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
    /// Real records, one byte of them changed, then any bytes, as a UDP message and as TCP
    /// bytes in pieces of any sizes: never a panic, never more held than was fed, and the
    /// same messages however the bytes are cut.
    #[test]
    fn any_bytes_any_cuts(
        picks in proptest::collection::vec(0usize..64, 0..4),
        flip in proptest::prelude::any::<(usize, u8)>(),
        tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        cuts in proptest::collection::vec(1usize..200, 0..20),
    ) {
        let records = real_records();
        let mut bytes: Vec<u8> = Vec::new();
        for p in picks {
            bytes.extend(&records[p % records.len()]);
        }
        if !bytes.is_empty() {
            let at = flip.0 % bytes.len();
            bytes[at] ^= flip.1;
        }
        bytes.extend(tail);
        let _ = kdc::parse(&bytes);
        let _ = kdc::parse(bytes.get(4..).unwrap_or_default());
        let mut whole = KdcStream::default();
        let mut at_once = Vec::new();
        whole.data(&bytes, &mut |r| at_once.push(r));
        let mut pieces = KdcStream::default();
        let mut cut = Vec::new();
        let mut fed = 0;
        for c in cuts {
            let piece = &bytes[fed..(fed + c).min(bytes.len())];
            pieces.data(piece, &mut |r| cut.push(r));
            fed += piece.len();
            proptest::prop_assert!(pieces.held() <= fed);
        }
        pieces.data(&bytes[fed..], &mut |r| cut.push(r));
        proptest::prop_assert_eq!(at_once, cut);
    }
}
