//! End-to-end scenarios on generated captures: what the real-proxy lab cannot produce
//! (Kerberos, KRB-ERROR, Negotiate carrying NTLM, NTLMv1, Digest stale legs, oversized
//! tokens, losses, resets, link layers and file formats, rotated files, terminal servers),
//! each written with `proxy407_testkit` into a temporary directory and judged by running the
//! real binary (`analyze --json`, `transactions`, `export --format ndjson`). Ends with the
//! secrets test: no password, token, response or hash of a capture reaches any output.

mod common;
use common::*;
use proxy407_testkit::{self as testkit, LinkKind, Packet, Resolution, TcpConv};
use serde_json::Value;
use std::path::Path;

const PROXY: &str = "10.0.0.2:3128";
const URL: &str = "http://intranet.example.com/";

fn auth(v: &str) -> (&'static str, String) {
    ("Proxy-Authorization", v.to_string())
}

/// `req` with owned header values.
fn req_with(method: &str, target: &str, headers: &[(&'static str, String)]) -> Vec<u8> {
    let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    req(method, target, &h)
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", b64(format!("{user}:{password}").as_bytes()))
}

fn one_file(name: &str, packets: &[Packet]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join(name);
    write_pcap(&f, packets, LinkKind::Ethernet);
    (dir, f)
}

fn has(ep: &Value, finding: &str) -> bool {
    findings(ep).iter().any(|f| f == finding)
}

/// The summary counts a credential finding once per credentialed request of the episodes
/// that carry it (`stats.rs`), and no other finding.
/// The summary counts `want` of `finding` and none of the others (`docs/verdicts.md` §5.1:
/// a request finding counts the requests that show it, `ntlm_fallback` the credentialed
/// requests of its episodes).
fn assert_finding_count(file: &Path, finding: &str, want: u64) {
    let summary = analyze(&[file], &[]);
    let counts = summary["findings"].as_object().expect("findings object");
    for (name, n) in counts {
        let want = if name == finding { want } else { 0 };
        assert_eq!(n.as_u64(), Some(want), "findings.{name}: {counts:?}");
    }
}

fn assert_failed(ep: &Value, cause: &str) {
    assert_eq!(s(ep, "outcome"), "failed", "{ep:#}");
    assert_eq!(s(ep, "cause"), cause, "{ep:#}");
}

// ------------------------------------------------------------------------------ Kerberos

/// A Basic login (`bob`) from the client, then on a new connection to another site a
/// Negotiate challenge answered with a real SPNEGO Kerberos AP-REQ and a 200.
#[test]
fn kerberos_success_takes_the_user_of_an_earlier_login() {
    let client = "10.1.0.7:50001";
    let mut a = conv(client, PROXY, 0);
    a.handshake()
        .client_send(&req("GET", "http://news.example.org/", &[]))
        .server_send(&resp407(&["Basic realm=\"corp\""]))
        .client_ack()
        .client_send(&req_with(
            "GET",
            "http://news.example.org/",
            &[auth(&basic("bob", "Tr0ub4dor&3"))],
        ))
        .server_send(&resp200())
        .client_fin()
        .server_fin()
        .client_ack();
    let mut k = conv("10.1.0.7:50002", PROXY, 2_000);
    k.handshake()
        .client_send(&req("CONNECT", "login.example.com:443", &[]))
        .server_send(&resp407(&["Negotiate"]))
        .client_ack()
        .client_send(&req_with(
            "CONNECT",
            "login.example.com:443",
            &[auth(&kerberos_authorization())],
        ))
        .server_send(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .client_send(&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])
        .client_fin()
        .server_fin()
        .client_ack();
    let (_d, f) = one_file(
        "kerberos.pcap",
        &merged(vec![a.into_packets(), k.into_packets()]),
    );
    let eps = episodes(&[&f], &[]);
    assert_eq!(eps.len(), 2, "{eps:#?}");
    let basic_ep = &eps[0];
    assert_eq!(s(basic_ep, "user"), "bob");
    assert_eq!(s(basic_ep, "user_source"), "credentials");
    let krb = &eps[1];
    assert_eq!(s(krb, "outcome"), "authenticated", "{krb:#}");
    assert_eq!(s(krb, "scheme"), "Negotiate");
    assert_eq!(s(krb, "target"), "login.example.com:443");
    assert_eq!(s(krb, "user"), "bob");
    assert_eq!(s(krb, "user_source"), "inferred");
    // The ticket's realm stays visible when the inferred identity names no domain.
    assert_eq!(s(krb, "domain"), "DENYDC.COM");
    assert_eq!(krb["final_status"], 200);
    assert!(krb["time_to_auth_ms"].as_f64().is_some_and(|t| t > 0.0));
    let tx = transactions(&[&f], &[]);
    let krb_tx: Vec<&Value> = tx
        .iter()
        .filter(|t| s(t, "auth_step") == "kerberos")
        .collect();
    assert_eq!(krb_tx.len(), 1, "{tx:#?}");
    assert_eq!(s(krb_tx[0], "auth_scheme"), "Negotiate");
    assert_eq!(
        s(krb_tx[0], "user"),
        "",
        "the client principal is encrypted"
    );
    assert_eq!(s(krb_tx[0], "domain"), "DENYDC.COM", "the ticket's realm");
    let summary = analyze(&[&f], &[]);
    assert_eq!(summary["episodes"]["authenticated"], 2);
    assert_eq!(summary["http"]["connect_requests"], 2);
}

/// The proxy answers the Kerberos token with `407 Negotiate <KRB-ERROR 37>` (clock skew).
#[test]
fn kerberos_rejected_with_clock_skew() {
    let mut c = conv("10.1.0.8:50003", PROXY, 0);
    c.handshake()
        .client_send(&req("GET", URL, &[]))
        .server_send(&resp407(&["Negotiate", "Basic realm=\"corp\""]))
        .client_ack()
        .client_send(&req_with("GET", URL, &[auth(&kerberos_authorization())]))
        .server_send(&resp407(&[&format!(
            "Negotiate {}",
            b64(&krb_error_gss(37))
        )]))
        .client_ack()
        .client_fin()
        .server_fin()
        .client_ack();
    let (_d, f) = one_file("skew.pcap", c.packets());
    let ep = only_episode(&[&f], &[]);
    assert_failed(&ep, "bad_credentials");
    assert!(
        s(&ep, "detail").contains("krb_error=KRB_AP_ERR_SKEW"),
        "{ep:#}"
    );
    assert_eq!(s(&ep, "scheme"), "Negotiate");
    assert_eq!(ep["challenges"], 2);
    assert_eq!(ep["credential_attempts"], 1);
    let summary = analyze(&[&f], &[]);
    assert_eq!(summary["causes"]["bad_credentials"], 1);
    assert_eq!(summary["episodes"]["failed"], 1);
}

// ------------------------------------------------------------------------------ findings

/// Negotiate whose tokens are NTLMSSP (SPNEGO-wrapped type 1, raw type 3).
#[test]
fn negotiate_carrying_ntlm_is_ntlm_fallback() {
    let mut c = conv("10.1.0.9:50004", PROXY, 0);
    c.handshake()
        .client_send(&req("GET", URL, &[]))
        .server_send(&resp407(&["Negotiate"]))
        .client_ack()
        .client_send(&req_with(
            "GET",
            URL,
            &[auth(&format!(
                "Negotiate {}",
                b64(&spnego_ntlm(&ntlm_type1()))
            ))],
        ))
        .server_send(&resp407(&[&format!(
            "Negotiate {}",
            b64(&ntlm_type2("CORP", [0x22; 8]))
        )]))
        .client_ack()
        .client_send(&req_with(
            "GET",
            URL,
            &[auth(&format!(
                "Negotiate {}",
                b64(&ntlm_type3(
                    "CORP",
                    "dave",
                    "PC-9",
                    &[0; 24],
                    &ntv2_response(7)
                ))
            ))],
        ))
        .server_send(&resp200())
        .client_fin()
        .server_fin()
        .client_ack();
    let (_d, f) = one_file("fallback.pcap", c.packets());
    let ep = only_episode(&[&f], &[]);
    assert_eq!(s(&ep, "outcome"), "authenticated", "{ep:#}");
    assert_eq!(s(&ep, "scheme"), "Negotiate");
    assert_eq!(s(&ep, "user"), "dave");
    assert_eq!(s(&ep, "domain"), "CORP");
    assert_eq!(s(&ep, "workstation"), "PC-9");
    assert!(has(&ep, "ntlm_fallback"), "{ep:#}");
    assert!(!has(&ep, "ntlmv1"), "{ep:#}");
    let attempts = ep["credential_attempts"].as_u64().expect("attempts");
    assert_finding_count(&f, "ntlm_fallback", attempts);
}

fn ntlm_v1_conversation() -> Vec<Packet> {
    let mut c = conv("10.1.0.10:50005", PROXY, 0);
    c.handshake()
        .client_send(&req("GET", URL, &[]))
        .server_send(&resp407(&["NTLM"]))
        .client_ack()
        .client_send(&req_with(
            "GET",
            URL,
            &[auth(&format!("NTLM {}", b64(&ntlm_type1())))],
        ))
        .server_send(&resp407(&[&format!(
            "NTLM {}",
            b64(&ntlm_type2("CORP", [0x33; 8]))
        )]))
        .client_ack()
        .client_send(&req_with(
            "GET",
            URL,
            &[auth(&format!(
                "NTLM {}",
                b64(&ntlm_type3("CORP", "erin", "OLD-XP", &[9; 24], &[8; 24]))
            ))],
        ))
        .server_send(&resp200())
        .client_fin()
        .server_fin()
        .client_ack();
    c.into_packets()
}

#[test]
fn ntlmv1_type3_is_flagged() {
    let (_d, f) = one_file("v1.pcap", &ntlm_v1_conversation());
    let ep = only_episode(&[&f], &[]);
    assert_eq!(s(&ep, "outcome"), "authenticated", "{ep:#}");
    assert_eq!(s(&ep, "scheme"), "NTLM");
    assert_eq!(s(&ep, "user"), "erin");
    assert_eq!(findings(&ep), vec!["ntlmv1".to_string()]);
    // The type 3 shows it; the type 1 before it does not.
    assert_finding_count(&f, "ntlmv1", 1);
}

const DIGEST_CHALLENGE: &str =
    "Digest realm=\"proxy\", nonce=\"MTczNTY4OTYwMDpmaXJzdA==\", qop=\"auth\", algorithm=MD5";
const DIGEST_STALE: &str = "Digest realm=\"proxy\", nonce=\"MTczNTY4OTYwNTpzZWNvbmQ=\", qop=\"auth\", algorithm=MD5, stale=true";

fn digest_response(nonce: &str, response: &str) -> String {
    format!(
        "Digest username=\"carol\", realm=\"proxy\", nonce=\"{nonce}\", uri=\"{URL}\", \
         algorithm=MD5, response=\"{response}\", qop=auth, nc=00000001, cnonce=\"0a4f113b\""
    )
}

#[test]
fn digest_stale_leg_then_success() {
    let mut c = conv("10.1.0.11:50006", PROXY, 0);
    c.handshake()
        .client_send(&req("GET", URL, &[]))
        .server_send(&resp407(&[DIGEST_CHALLENGE]))
        .client_ack()
        .client_send(&req_with(
            "GET",
            URL,
            &[auth(&digest_response(
                "MTczNTY4OTYwMDpmaXJzdA==",
                "6629fae49393a05397450978507c4ef1",
            ))],
        ))
        .server_send(&resp407(&[DIGEST_STALE]))
        .client_ack()
        .client_send(&req_with(
            "GET",
            URL,
            &[auth(&digest_response(
                "MTczNTY4OTYwNTpzZWNvbmQ=",
                "0b1c2d3e4f5a69788796a5b4c3d2e1f0",
            ))],
        ))
        .server_send(&resp200())
        .client_fin()
        .server_fin()
        .client_ack();
    let (_d, f) = one_file("stale.pcap", c.packets());
    let ep = only_episode(&[&f], &[]);
    assert_eq!(s(&ep, "outcome"), "authenticated", "{ep:#}");
    assert_eq!(s(&ep, "scheme"), "Digest");
    assert_eq!(s(&ep, "user"), "carol");
    assert_eq!(findings(&ep), vec!["stale_nonce".to_string()]);
    assert_eq!(ep["challenges"], 2);
    assert_eq!(ep["credential_attempts"], 2);
    // One stale leg: the retry after it shows nothing.
    assert_finding_count(&f, "stale_nonce", 1);
    assert_eq!(analyze(&[&f], &[])["findings"]["lockout_risk"], 0);
}

#[test]
fn oversized_token_answered_431_is_denied() {
    // A 9 KiB Negotiate token (base64 of 7,000 bytes: 9,336 characters), split over
    // several segments.
    let token: Vec<u8> = (0..7000u32).map(|i| (i * 7 + 3) as u8).collect();
    let value = format!("Negotiate {}", b64(&token));
    assert!(value.len() > 8192);
    let mut c = conv("10.1.0.12:50007", PROXY, 0);
    c.handshake()
        .client_send(&req("GET", URL, &[]))
        .server_send(&resp407(&["Negotiate"]))
        .client_ack()
        .client_send(&req_with("GET", URL, &[auth(&value)]))
        .server_send(&resp(
            431,
            "Request Header Fields Too Large",
            &[("Connection", "close")],
            10,
        ))
        .server_fin()
        .client_fin()
        .server_ack();
    let (_d, f) = one_file("oversized.pcap", c.packets());
    let ep = only_episode(&[&f], &[]);
    assert_failed(&ep, "denied");
    assert_eq!(s(&ep, "detail"), "status=431");
    assert!(has(&ep, "oversized_token"), "{ep:#}");
    assert_eq!(ep["final_status"], 431);
    assert_finding_count(&f, "oversized_token", 1);
}

fn basic_success(client: &str, start_ms: i64, user: &str, password: &str) -> TcpConv {
    let mut c = conv(client, PROXY, start_ms);
    c.handshake()
        .client_send(&req("GET", URL, &[]))
        .server_send(&resp407(&["Basic realm=\"corp\""]))
        .client_ack()
        .client_send(&req_with("GET", URL, &[auth(&basic(user, password))]))
        .server_send(&resp200())
        .client_fin()
        .server_fin()
        .client_ack();
    c
}

#[test]
fn basic_on_a_plain_connection_is_cleartext() {
    let c = basic_success("10.1.0.13:50008", 0, "frank", "hunter2");
    let (_d, f) = one_file("basic.pcap", c.packets());
    let ep = only_episode(&[&f], &[]);
    assert_eq!(s(&ep, "outcome"), "authenticated", "{ep:#}");
    assert_eq!(s(&ep, "user"), "frank");
    assert_eq!(s(&ep, "user_source"), "credentials");
    assert_eq!(findings(&ep), vec!["cleartext_basic".to_string()]);
    assert_finding_count(&f, "cleartext_basic", 1);
}

/// Basic sent up front and accepted: no challenge, no episode, but the password crossed the
/// wire all the same, on each request (`docs/verdicts.md` §5.3).
#[test]
fn preemptive_basic_never_challenged_is_cleartext() {
    let mut c = conv("10.1.0.14:50009", PROXY, 0);
    c.handshake()
        .client_send(&req_with("GET", URL, &[auth(&basic("gina", "pa55word"))]))
        .server_send(&resp200())
        .client_ack()
        .client_send(&req_with(
            "GET",
            "http://intranet.example.com/b",
            &[auth(&basic("gina", "pa55word"))],
        ))
        .server_send(&resp200())
        .client_fin()
        .server_fin()
        .client_ack();
    let (d, f) = one_file("preemptive.pcap", c.packets());
    let summary = analyze(&[&f], &[]);
    assert_eq!(summary["episodes"]["total"], 0, "{summary:#}");
    assert_finding_count(&f, "cleartext_basic", 2);
    // Per user, client, proxy and site: a row with no episode that counts the requests.
    let out = d.path().join("tables");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_proxy407"))
        .args(["export", "--format", "json", "--out"])
        .arg(&out)
        .arg(&f)
        .status()
        .expect("run export");
    assert!(status.success());
    let table = |name: &str| -> Vec<Value> {
        let text = std::fs::read_to_string(out.join(format!("{name}.json"))).expect(name);
        serde_json::from_str(&text).expect("a JSON array")
    };
    for (name, key, value) in [
        ("users", "user", "gina"),
        ("clients", "client_ip", "10.1.0.14"),
        ("targets", "target", "intranet.example.com"),
    ] {
        let rows = table(name);
        let row = rows
            .iter()
            .find(|r| r[key] == value)
            .unwrap_or_else(|| panic!("no {name} row {value}: {rows:?}"));
        assert_eq!(row["episodes"], 0, "{row}");
        assert!(row["cleartext_basic"].as_u64() >= Some(1), "{row}");
    }
    let users = table("users");
    assert_eq!(users.len(), 1, "{users:?}");
    assert_eq!(users[0]["cleartext_basic"], 2);
    let tx = table("transactions");
    assert_eq!(tx.len(), 2);
    for t in &tx {
        assert_eq!(t["findings"], serde_json::json!(["cleartext_basic"]), "{t}");
        assert_eq!(t["episode_id"], Value::Null);
    }
}

// ------------------------------------------------------------------------------ losses

/// Later, unrelated and never challenged traffic that moves packet time on.
fn unrelated(start_ms: i64) -> Vec<Packet> {
    let mut c = conv("10.1.0.99:51000", PROXY, start_ms);
    c.handshake()
        .client_send(&req("GET", "http://cdn.example.net/a.js", &[]))
        .server_send(&resp200())
        .client_fin()
        .server_fin()
        .client_ack();
    c.into_packets()
}

/// GET → 407 Basic → GET with credentials, never answered; the connection stays open.
fn credentials_unanswered(client: &str) -> TcpConv {
    let mut c = conv(client, PROXY, 0);
    c.handshake()
        .client_send(&req("GET", URL, &[]))
        .server_send(&resp407(&["Basic realm=\"corp\""]))
        .client_ack()
        .client_send(&req_with("GET", URL, &[auth(&basic("gina", "pw-gina"))]))
        .server_ack();
    c
}

#[test]
fn a_request_never_answered_within_the_window_is_no_response() {
    let c = credentials_unanswered("10.1.0.14:50009");
    let (_d, f) = one_file(
        "noresp.pcap",
        &merged(vec![c.into_packets(), unrelated(10_000)]),
    );
    let ep = only_episode(&[&f], &["--retry-window", "2s"]);
    assert_failed(&ep, "no_response");
    assert_eq!(s(&ep, "user"), "gina");
    assert_eq!(ep["credential_attempts"], 1);
    // The late record of the unanswered request still names its episode.
    let tx = transactions(&[&f], &["--retry-window", "2s"]);
    let pending: Vec<&Value> = tx.iter().filter(|t| s(t, "auth_step") == "basic").collect();
    assert_eq!(pending.len(), 1, "{tx:#?}");
    assert_eq!(pending[0]["status"], Value::Null);
    assert_eq!(pending[0]["episode_id"], ep["episode_id"]);
    // Without the short window the capture ends first: unresolved, not a failure.
    let ep = only_episode(&[&f], &[]);
    assert_eq!(s(&ep, "outcome"), "unresolved", "{ep:#}");
    let summary = analyze(&[&f], &["--retry-window", "2s"]);
    assert_eq!(summary["causes"]["no_response"], 1);
    assert_eq!(summary["http"]["unanswered_requests"], 1);
}

#[test]
fn proxy_reset_with_a_request_pending_is_connection_closed() {
    let mut c = credentials_unanswered("10.1.0.15:50010");
    c.server_rst();
    let (_d, f) = one_file("rst.pcap", c.packets());
    let ep = only_episode(&[&f], &[]);
    assert_failed(&ep, "connection_closed");
    assert_eq!(s(&ep, "detail"), "rst_by_proxy");
}

#[test]
fn the_capture_ending_with_a_request_unanswered_is_unresolved() {
    let c = credentials_unanswered("10.1.0.16:50011");
    let (_d, f) = one_file("end.pcap", c.packets());
    let ep = only_episode(&[&f], &[]);
    assert_eq!(s(&ep, "outcome"), "unresolved", "{ep:#}");
    assert_eq!(s(&ep, "cause"), "");
    let summary = analyze(&[&f], &[]);
    assert_eq!(summary["episodes"]["unresolved"], 1);
    assert_eq!(summary["episodes"]["failed"], 0);
}

#[test]
fn a_segment_lost_inside_the_type2_head_is_unresolved_with_capture_gap() {
    let mut c = conv("10.1.0.17:50012", PROXY, 0).mss(80);
    c.handshake()
        .client_send(&req("GET", URL, &[]))
        .server_send(&resp407(&["NTLM"]))
        .client_ack()
        .client_send(&req_with(
            "GET",
            URL,
            &[auth(&format!("NTLM {}", b64(&ntlm_type1())))],
        ));
    let before = c.packets().len();
    c.server_send(&resp407(&[&format!(
        "NTLM {}",
        b64(&ntlm_type2("CORPORATION", [0x44; 8]))
    )]));
    let after = c.packets().len();
    assert!(after - before >= 3, "the 407 head spans several segments");
    c.client_ack()
        .client_send(&req_with(
            "GET",
            URL,
            &[auth(&format!(
                "NTLM {}",
                b64(&ntlm_type3(
                    "CORP",
                    "hank",
                    "PC-3",
                    &[0; 24],
                    &ntv2_response(3)
                ))
            ))],
        ))
        .server_send(&resp200())
        .client_fin()
        .server_fin()
        .client_ack();
    let mut p = c.into_packets();
    let lost = testkit::drop_packets(&mut p, &[before + 1]);
    assert_eq!(lost, 80);
    let (_d, f) = one_file("gap.pcap", &p);
    let ep = only_episode(&[&f], &[]);
    assert_eq!(s(&ep, "outcome"), "unresolved", "{ep:#}");
    assert!(has(&ep, "capture_gap"), "{ep:#}");
    let summary = analyze(&[&f], &[]);
    assert!(
        summary["capture"]["gap_bytes"]
            .as_u64()
            .is_some_and(|g| g > 0),
        "{}",
        summary["capture"]
    );
    assert_eq!(summary["episodes"]["unresolved"], 1);
    assert_eq!(summary["findings"]["capture_gap"], 1);
}

/// A segment lost inside the HTML body of the first `407` (Squid's error page): the head
/// before it still counts as the challenge, and the episode goes on to its verdict.
#[test]
fn a_segment_lost_inside_a_407_body_keeps_the_challenge() {
    let mut c = conv("10.1.0.18:50013", PROXY, 0).mss(200);
    c.handshake().client_send(&req("GET", URL, &[]));
    let before = c.packets().len();
    c.server_send(&resp(
        407,
        "Proxy Authentication Required",
        &[
            ("Proxy-Authenticate", "Basic realm=\"corp\""),
            ("Content-Type", "text/html"),
        ],
        1200,
    ));
    let after = c.packets().len();
    assert!(after - before >= 5, "the 407 body spans several segments");
    c.client_ack()
        .client_send(&req_with("GET", URL, &[auth(&basic("ivan", "s3cret-9"))]))
        .server_send(&resp200())
        .client_fin()
        .server_fin()
        .client_ack();
    let mut p = c.into_packets();
    // The head is in the first segment; the third carries only body bytes.
    let lost = testkit::drop_packets(&mut p, &[before + 2]);
    assert_eq!(lost, 200);
    let (_d, f) = one_file("body-gap.pcap", &p);
    let summary = analyze(&[&f], &[]);
    assert_eq!(summary["http"]["responses_407"], 1, "{}", summary["http"]);
    assert_eq!(summary["capture"]["gap_bytes"], 200);
    let ep = only_episode(&[&f], &[]);
    assert_eq!(ep["challenges"], 1, "{ep:#}");
    assert_eq!(s(&ep, "outcome"), "authenticated", "{ep:#}");
    assert_eq!(s(&ep, "user"), "ivan");
}

// ------------------------------------------------------------------------------ formats

/// The verdict fields of episodes, without addresses (which differ between IPv4 and IPv6).
fn verdicts(eps: &[Value]) -> Vec<Value> {
    eps.iter()
        .map(|e| {
            let mut e = e.clone();
            if let Some(o) = e.as_object_mut() {
                o.remove("client_ip");
                o.remove("proxy_ip");
                // Each file names itself; the filter names the addresses. The frames stay.
                o.remove("capture_file");
                o.remove("display_filter");
            }
            e
        })
        .collect()
}

#[test]
fn link_layers_and_file_formats_give_the_same_episodes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let v4 = ntlm_conversation("10.1.0.20:50013", PROXY, 0, "ivan");
    let v6 = ntlm_conversation("[2001:db8::20]:50013", "[2001:db8::2]:3128", 0, "ivan");
    let reference = {
        let f = dir.path().join("eth.pcap");
        write_pcap(&f, &v4, LinkKind::Ethernet);
        episodes(&[&f], &[])
    };
    assert_eq!(reference.len(), 1);
    assert_eq!(s(&reference[0], "outcome"), "authenticated");
    assert_eq!(s(&reference[0], "user"), "ivan");

    let mut files: Vec<(String, std::path::PathBuf)> = Vec::new();
    for (name, link) in [
        ("vlan", LinkKind::EthernetVlan(42)),
        ("sll", LinkKind::LinuxSll),
        ("sll2", LinkKind::LinuxSll2),
        ("raw", LinkKind::RawIp),
        ("null", LinkKind::Null),
    ] {
        let f = dir.path().join(format!("{name}.pcap"));
        write_pcap(&f, &v4, link);
        files.push((name.into(), f));
    }
    let f = dir.path().join("v6.pcap");
    write_pcap(&f, &v6, LinkKind::Ethernet);
    files.push(("ipv6".into(), f));
    let f = dir.path().join("ns.pcap");
    write_pcap_res(&f, &v4, LinkKind::Ethernet, Resolution::Nano);
    files.push(("ns".into(), f));
    // pcapng: client packets on an Ethernet interface, server packets on a Linux SLL one.
    let f = dir.path().join("two.pcapng");
    let mut w =
        testkit::CaptureWriter::pcapng(Vec::new(), &[LinkKind::Ethernet, LinkKind::LinuxSll])
            .expect("pcapng header");
    let client = addr("10.1.0.20:50013");
    for p in &v4 {
        w.write_on(usize::from(p.src != client), p).expect("record");
    }
    std::fs::write(&f, w.into_inner()).expect("write pcapng");
    files.push(("pcapng-two-links".into(), f.clone()));
    // gzip of the two-interface pcapng.
    let gz = dir.path().join("two.pcapng.gz");
    {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&std::fs::read(&f).expect("read pcapng"))
            .expect("gzip");
        std::fs::write(&gz, e.finish().expect("gzip end")).expect("write gz");
    }
    files.push(("gzip".into(), gz));

    for (name, f) in &files {
        let eps = episodes(&[f], &[]);
        assert_eq!(verdicts(&eps), verdicts(&reference), "{name}");
        let summary = analyze(&[f], &[]);
        assert_eq!(summary["capture"]["decode_errors"], 0, "{name}");
        assert_eq!(summary["capture"]["packets"], v4.len(), "{name}");
        assert_eq!(summary["http"]["requests"], 3, "{name}");
    }
    // The two-interface file names both link types.
    let summary = analyze(&[&files[files.len() - 2].1], &[]);
    let links = summary["capture"]["link_types"]
        .as_object()
        .expect("link_types is an object");
    assert_eq!(links.len(), 2, "{links:?}");
}

// ------------------------------------------------------------------------------ files

#[test]
fn a_rotated_capture_is_one_episode() {
    let c = basic_success("10.1.0.21:50014", 0, "judy", "s3cret-judy");
    let p = c.into_packets();
    // Split right after the 407 has been acknowledged: the retry is in the second file.
    let cut = p
        .iter()
        .position(|x| {
            x.payload
                .windows(b"Authorization".len())
                .any(|w| w == b"Authorization")
        })
        .expect("the retry");
    let dir = tempfile::tempdir().expect("tempdir");
    let rot = dir.path().join("rotated");
    std::fs::create_dir(&rot).expect("mkdir");
    let (f1, f2) = (rot.join("cap.pcap0"), rot.join("cap.pcap1"));
    write_pcap(&f1, &p[..cut], LinkKind::Ethernet);
    write_pcap(&f2, &p[cut..], LinkKind::Ethernet);
    for (what, eps) in [
        ("two files", episodes(&[&f1, &f2], &[])),
        ("files in reverse order", episodes(&[&f2, &f1], &[])),
        ("a directory", episodes(&[&rot], &[])),
    ] {
        assert_eq!(eps.len(), 1, "{what}: {eps:#?}");
        assert_eq!(s(&eps[0], "outcome"), "authenticated", "{what}");
        assert_eq!(s(&eps[0], "user"), "judy", "{what}");
        assert_eq!(eps[0]["connections"], 1, "{what}");
        assert_eq!(eps[0]["challenges"], 1, "{what}");
        assert_eq!(eps[0]["credential_attempts"], 1, "{what}");
    }
    let summary = analyze(&[&rot], &[]);
    assert_eq!(summary["capture"]["files"], 2);
    assert_eq!(summary["capture"]["gap_bytes"], 0);
}

// ------------------------------------------------------------------------------ chaining

/// Two users on one terminal server: each is challenged on its own connection, then each
/// retries on a new connection, one with a wrong password (rejected), one accepted.
#[test]
fn terminal_server_users_are_separate_episodes() {
    let host = "10.1.0.30";
    let first = |port: u16, start: i64| {
        let mut c = conv(&format!("{host}:{port}"), PROXY, start);
        c.handshake()
            .client_send(&req("GET", URL, &[]))
            .server_send(&resp407(&["Basic realm=\"corp\""]))
            .client_fin()
            .server_fin()
            .client_ack();
        c.into_packets()
    };
    let retry = |port: u16, start: i64, user: &str, pw: &str, ok: bool| {
        let mut c = conv(&format!("{host}:{port}"), PROXY, start);
        c.handshake()
            .client_send(&req_with("GET", URL, &[auth(&basic(user, pw))]));
        if ok {
            c.server_send(&resp200());
        } else {
            c.server_send(&resp407(&["Basic realm=\"corp\""]));
        }
        c.client_fin().server_fin().client_ack();
        c.into_packets()
    };
    let p = merged(vec![
        first(50100, 0),
        first(50101, 3),
        retry(50102, 100, "kim", "wrong-kim", false),
        retry(50103, 200, "lee", "right-lee", true),
    ]);
    let (_d, f) = one_file("ts.pcap", &p);
    let eps = episodes(&[&f], &[]);
    assert_eq!(eps.len(), 2, "{eps:#?}");
    let by_user = |u: &str| {
        eps.iter()
            .find(|e| s(e, "user") == u)
            .unwrap_or_else(|| panic!("no episode of {u}: {eps:#?}"))
    };
    let kim = by_user("kim");
    assert_failed(kim, "bad_credentials");
    assert_eq!(kim["connections"], 2);
    assert_eq!(kim["credential_attempts"], 1);
    let lee = by_user("lee");
    assert_eq!(s(lee, "outcome"), "authenticated", "{lee:#}");
    assert_eq!(lee["connections"], 2);
    assert_eq!(lee["credential_attempts"], 1);
    assert_ne!(kim["episode_id"], lee["episode_id"]);
}

// ------------------------------------------------------------------------------ secrets

/// Every file under `dir`, recursively.
fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("readable dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn no_secret_reaches_any_output() {
    let password = "Zebra-Horse-42!";
    let basic_value = b64(format!("mallory:{password}").as_bytes());
    let nt = ntv2_response(0xa7);
    let type3 = ntlm_type3("CORP", "nina", "PC-11", &[0x5c; 24], &nt);
    let type3_b64 = b64(&type3);
    let digest_resp = "9f86d081884c7d659a2feaa0c55ad015";
    let nonce = "c2VjcmV0LW5vbmNlLTEyMzQ1Njc4OTA=";
    let server_challenge = [0xc3, 0x5e, 0x91, 0x0d, 0x7a, 0x28, 0xf4, 0x66];

    let mut b = conv("10.1.0.40:50200", PROXY, 0);
    b.handshake()
        .client_send(&req("GET", URL, &[]))
        .server_send(&resp407(&["Basic realm=\"corp\""]))
        .client_send(&req_with(
            "GET",
            URL,
            &[("Proxy-Authorization", format!("Basic {basic_value}"))],
        ))
        .server_send(&resp407(&["Basic realm=\"corp\""]))
        .client_fin()
        .server_fin()
        .client_ack();
    let mut n = conv("10.1.0.41:50201", PROXY, 1_500);
    n.handshake()
        .client_send(&req("GET", URL, &[]))
        .server_send(&resp407(&["NTLM"]))
        .client_send(&req_with(
            "GET",
            URL,
            &[auth(&format!("NTLM {}", b64(&ntlm_type1())))],
        ))
        .server_send(&resp407(&[&format!(
            "NTLM {}",
            b64(&ntlm_type2("CORP", server_challenge))
        )]))
        .client_send(&req_with(
            "GET",
            URL,
            &[("Proxy-Authorization", format!("NTLM {type3_b64}"))],
        ))
        .server_send(&resp200())
        .client_fin()
        .server_fin()
        .client_ack();
    let mut d = conv("10.1.0.42:50202", PROXY, 2_500);
    let challenge = format!("Digest realm=\"proxy\", nonce=\"{nonce}\", qop=\"auth\"");
    d.handshake()
        .client_send(&req("GET", URL, &[]))
        .server_send(&resp407(&[&challenge]))
        .client_send(&req_with(
            "GET",
            URL,
            &[auth(&digest_response(nonce, digest_resp))],
        ))
        .server_send(&resp200())
        .client_fin()
        .server_fin()
        .client_ack();
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("secrets.pcap");
    write_pcap(
        &f,
        &merged(vec![b.into_packets(), n.into_packets(), d.into_packets()]),
        LinkKind::Ethernet,
    );

    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let nt_proof = &nt[..16];
    let needles: Vec<(&str, Vec<u8>)> = vec![
        ("password", password.as_bytes().to_vec()),
        ("basic base64", basic_value.as_bytes().to_vec()),
        ("ntlm type3 base64", type3_b64.as_bytes().to_vec()),
        (
            "ntlm type3 base64 prefix",
            type3_b64.as_bytes()[..40].to_vec(),
        ),
        ("nt response hex", hex(&nt).into_bytes()),
        ("nt proof hex", hex(nt_proof).into_bytes()),
        ("nt proof HEX", hex(nt_proof).to_uppercase().into_bytes()),
        ("nt response base64", b64(&nt).into_bytes()),
        ("nt response bytes", nt.clone()),
        ("lm response hex", hex(&[0x5c; 24]).into_bytes()),
        ("server challenge hex", hex(&server_challenge).into_bytes()),
        ("server challenge bytes", server_challenge.to_vec()),
        ("digest response", digest_resp.as_bytes().to_vec()),
        ("digest nonce", nonce.as_bytes().to_vec()),
    ];
    let check = |what: &str, bytes: &[u8]| {
        for (name, needle) in &needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                "{name} found in {what}"
            );
        }
    };

    let fp: &Path = &f;
    let mut runs = vec![
        ("analyze", run(&["analyze", "--no-color"], &[fp])),
        ("analyze --json", run(&["analyze", "--json", "-q"], &[fp])),
        ("transactions", run(&["transactions"], &[fp])),
    ];
    let exports = dir.path().join("exports");
    for format in ["csv", "ndjson", "json", "parquet"] {
        let out = exports.join(format);
        let out_s = out.to_str().expect("utf-8 path").to_string();
        let r = run(&["export", "--format", format, "--out", &out_s], &[fp]);
        assert!(r.ok, "export {format}: {}", r.stderr);
        runs.push(("export", r));
    }
    let dash = dir.path().join("dash");
    let dash_s = dash.to_str().expect("utf-8 path").to_string();
    let r = run(
        &[
            "dashboard",
            "--headless",
            "--max-speed",
            "--out",
            &dash_s,
            "--export-every",
            "1s",
        ],
        &[fp],
    );
    assert!(r.ok, "dashboard: {}", r.stderr);
    runs.push(("dashboard", r));
    for (what, r) in &runs {
        assert!(r.ok, "{what} failed: {}", r.stderr);
        check(&format!("{what} stdout"), r.stdout.as_bytes());
        check(&format!("{what} stderr"), r.stderr.as_bytes());
    }
    // The outputs are about the capture: the users are there, the secrets are not.
    assert!(runs[1].1.stdout.contains("mallory"));
    assert!(runs[2].1.stdout.contains("nina"));
    let mut written = Vec::new();
    files_under(&exports, &mut written);
    files_under(&dash, &mut written);
    assert!(
        written
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "parquet")),
        "{written:?}"
    );
    assert!(written.len() >= 4 * 8, "{written:?}");
    let mut dashboard_files = 0;
    for p in &written {
        let bytes = std::fs::read(p).expect("readable output");
        check(&p.display().to_string(), &bytes);
        if p.starts_with(&dash) {
            dashboard_files += 1;
        }
    }
    assert!(dashboard_files > 0, "the dashboard wrote no export");
}

// ------------------------------------------------------------------------------ Pipelining

/// Two credentialed requests pipelined in one segment (one packet, one time) on the
/// connection of a Basic challenge; the proxy rejects the first and never answers the
/// second. When the retry window passes (another client's traffic 40 s later moves packet
/// time on), the second is still pending: the episode is `no_response`, not a rejection the
/// client gave up on. Requests are told apart by their number on the connection, not by
/// their time.
#[test]
fn pipelined_requests_in_one_segment_are_pending_apart() {
    let mut a = conv("10.1.0.40:50040", PROXY, 0);
    let creds = [auth(&basic("quinn", "pipelined-secret"))];
    let mut two = req_with("GET", URL, &creds);
    two.extend(req_with("GET", "http://intranet.example.com/b", &creds));
    a.handshake()
        .client_send(&req("GET", URL, &[]))
        .server_send(&resp407(&["Basic realm=\"corp\""]))
        .client_send(&two)
        .server_send(&resp407(&["Basic realm=\"corp\""]));
    let mut later = conv("10.1.0.41:50041", PROXY, 40_000);
    later
        .handshake()
        .client_send(&req("GET", URL, &[]))
        .server_send(&resp200())
        .client_fin()
        .server_fin();
    let packets = testkit::merge(vec![a.into_packets(), later.into_packets()]);
    let (_dir, f) = one_file("pipelined.pcap", &packets);
    let eps = episodes(&[&f], &[]);
    let ep = eps
        .iter()
        .find(|e| s(e, "client_ip") == "10.1.0.40")
        .expect("the episode of the pipelining client");
    assert_failed(ep, "no_response");
    assert_eq!(ep["credential_attempts"], 2, "{ep:#}");
    assert_eq!(eps.len(), 1, "{eps:#?}");
}
