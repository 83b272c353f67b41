//! HTTP/1.x on one connection, through `HttpConn`'s public interface: byte streams of both
//! sides in every chunking, pipelining, bodies, tunnels, gaps, closes and garbage; and the
//! loopback CONNECT captures of the public corpus read straight from their pcap files.

use proptest::prelude::*;
use proxy407::http::conn::ConnKind;
use proxy407::http::{HttpConn, HttpEvent, Unanswered};
use proxy407::model::{Side, Ts};
use proxy407::reassembly::StreamEvent;

use Side::{Client as C, Server as S};

#[derive(Clone, Debug)]
enum Ev {
    Data(Vec<u8>),
    Gap(u64),
    Fin,
    Rst,
}

fn d(side: Side, bytes: &[u8]) -> (Side, Ev) {
    (side, Ev::Data(bytes.to_vec()))
}

/// Feeds a conversation (message `i` at time `i` ms), each data message cut into chunks of
/// the sizes in `chunks` (used in turn; empty means whole), then `finish`.
fn run_chunked(conv: &[(Side, Ev)], chunks: &[usize]) -> (Vec<HttpEvent>, HttpConn) {
    let mut conn = HttpConn::new();
    let mut out = Vec::new();
    let mut k = 0;
    for (i, (side, ev)) in conv.iter().enumerate() {
        let ts = Ts(i as i64 * 1000);
        match ev {
            Ev::Data(bytes) => {
                let mut rest = &bytes[..];
                while !rest.is_empty() {
                    let n = if chunks.is_empty() {
                        rest.len()
                    } else {
                        k += 1;
                        chunks[k % chunks.len()].clamp(1, rest.len())
                    };
                    let (a, b) = rest.split_at(n);
                    conn.on_stream(*side, ts, StreamEvent::Data(a), &mut out);
                    rest = b;
                }
            }
            Ev::Gap(n) => conn.on_stream(*side, ts, StreamEvent::Gap(*n), &mut out),
            Ev::Fin => conn.on_stream(*side, ts, StreamEvent::Fin, &mut out),
            Ev::Rst => conn.on_stream(*side, ts, StreamEvent::Rst, &mut out),
        }
    }
    conn.finish(Ts(conv.len() as i64 * 1000), &mut out);
    (out, conn)
}

fn run(conv: &[(Side, Ev)]) -> Vec<String> {
    show_all(&run_chunked(conv, &[]).0)
}

fn show_all(evs: &[HttpEvent]) -> Vec<String> {
    evs.iter().map(show).collect()
}

/// A compact, comparable line per event (secrets shown only as present or counted).
fn show(ev: &HttpEvent) -> String {
    let flags = |g: bool, t: bool| {
        let mut s = String::new();
        if g {
            s.push_str(" gap");
        }
        if t {
            s.push_str(" tun");
        }
        s
    };
    match ev {
        HttpEvent::Exchange {
            req_ts,
            request,
            resp_ts,
            response,
            after_gap,
            tunneled,
            ..
        } => format!(
            "X {} {}{} -> {}{}{} @{}/{}{}",
            request.method,
            request.target,
            if request.proxy_authorization.is_some() {
                " cred"
            } else {
                ""
            },
            response.status,
            if response.proxy_authenticate.is_empty() {
                String::new()
            } else {
                format!(" pa{}", response.proxy_authenticate.len())
            },
            if response.connection_close {
                " close"
            } else {
                ""
            },
            req_ts.0 / 1000,
            resp_ts.0 / 1000,
            flags(*after_gap, *tunneled)
        ),
        HttpEvent::Unanswered {
            request,
            why,
            after_gap,
            tunneled,
            ..
        } => format!(
            "U {} {} {:?}{}",
            request.method,
            request.target,
            why,
            flags(*after_gap, *tunneled)
        ),
        HttpEvent::Orphan { response, .. } => format!("O {}", response.status),
        HttpEvent::Anomaly { side, kind, .. } => format!("A {side:?} {kind}"),
    }
}

const GET_A: &[u8] = b"GET http://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n";
const OK_5: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

fn chunked_response() -> Vec<u8> {
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
      4;ext=\"a b\"\r\nwxyz\r\n10\r\n0123456789abcdef\r\n0\r\nX-Checksum: 1\r\nX-More: 2\r\n\r\n"
        .to_vec()
}

/// A long keep-alive conversation touching most states.
fn rich_conversation() -> Vec<(Side, Ev)> {
    let mut v = vec![
        d(C, b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\nUser-Agent: t/1\r\n\r\n"),
        d(
            S,
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Negotiate\r\n\
              Proxy-Authenticate: NTLM\r\nProxy-Authenticate: Basic realm=\"x\"\r\n\
              Content-Length: 20\r\n\r\nHTTP/1.1 200 OK\r\n\r\n!",
        ),
        d(
            C,
            b"POST http://b.example/up HTTP/1.1\r\nContent-Length: 22\r\n\r\nGET /fake HTTP/1.1\r\n\r\n",
        ),
        (S, Ev::Data(chunked_response())),
        d(C, b"HEAD http://b.example/ HTTP/1.1\r\n\r\n"),
        d(S, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
        d(
            C,
            b"PUT http://b.example/x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
        ),
        d(S, b"HTTP/1.1 100 Continue\r\n\r\n"),
        d(C, b"abc"),
        d(S, b"HTTP/1.1 204 No Content\r\n\r\n"),
        d(
            C,
            b"POST http://b.example/c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        ),
        d(S, b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"),
        d(
            C,
            b"CONNECT a.example:443 HTTP/1.1\r\nProxy-Authorization: Basic dXNlcjpwdw==\r\n\r\n",
        ),
        d(S, b"HTTP/1.1 200 Connection established\r\n\r\n"),
        d(C, b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n"),
        d(S, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"),
    ];
    v.push((S, Ev::Fin));
    v
}

#[test]
fn rich_conversation_events() {
    let (evs, conn) = run_chunked(&rich_conversation(), &[]);
    assert_eq!(
        show_all(&evs),
        [
            "X CONNECT a.example:443 -> 407 pa3 @0/1",
            "X POST http://b.example/up -> 200 @2/3",
            "X HEAD http://b.example/ -> 200 @4/5",
            "X PUT http://b.example/x -> 204 @6/9",
            "X POST http://b.example/c -> 304 @10/11",
            "X CONNECT a.example:443 cred -> 200 @12/13",
            "X GET / -> 200 @14/15 tun",
        ]
    );
    assert_eq!(conn.kind(), ConnKind::Http);
    assert!(conn.proxy_signal());
}

#[test]
fn bytewise_feeding_matches_whole() {
    let conv = rich_conversation();
    assert_eq!(show_all(&run_chunked(&conv, &[1]).0), run(&conv));
    assert_eq!(show_all(&run_chunked(&conv, &[2, 3, 7]).0), run(&conv));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Splitting the same streams at arbitrary points yields identical events.
    #[test]
    fn chunking_does_not_change_events(chunks in prop::collection::vec(1usize..64, 1..50)) {
        let conv = rich_conversation();
        prop_assert_eq!(show_all(&run_chunked(&conv, &chunks).0), run(&conv));
        let conv = gap_and_garbage_conversation();
        prop_assert_eq!(show_all(&run_chunked(&conv, &chunks).0), run(&conv));
    }

    /// Arbitrary bytes on both sides, gaps and closes included: never a panic, and every
    /// event is one of the named kinds.
    #[test]
    fn arbitrary_input_never_panics(
        msgs in prop::collection::vec(
            (any::<bool>(), prop::collection::vec(any::<u8>(), 0..200), 0u8..20),
            0..30
        ),
        chunks in prop::collection::vec(1usize..50, 1..10),
    ) {
        let mut conv = Vec::new();
        for (client, mut bytes, op) in msgs {
            let side = if client { C } else { S };
            // Mix in HTTP-looking material so that the deeper states are reached.
            match op {
                0 => conv.push((side, Ev::Gap(bytes.len() as u64))),
                1 => conv.push((side, Ev::Fin)),
                2 => conv.push((side, Ev::Rst)),
                3..=6 => {
                    let mut v = if client { GET_A.to_vec() } else { OK_5.to_vec() };
                    v.append(&mut bytes);
                    conv.push((side, Ev::Data(v)));
                }
                7 => {
                    let mut v = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
                    v.append(&mut bytes);
                    conv.push((side, Ev::Data(v)));
                }
                8 => conv.push((side, Ev::Data(b"CONNECT h:443 HTTP/1.1\r\n\r\n".to_vec()))),
                _ => conv.push((side, Ev::Data(bytes))),
            }
        }
        let (evs, _) = run_chunked(&conv, &chunks);
        for e in &evs {
            if let HttpEvent::Anomaly { kind, .. } = e {
                prop_assert!(kind.name().starts_with("http."));
            }
        }
    }
}

fn gap_and_garbage_conversation() -> Vec<(Side, Ev)> {
    vec![
        d(C, GET_A),
        d(
            S,
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
        ),
        (S, Ev::Gap(60)),
        d(S, &[b'z'; 30]),
        d(
            C,
            b"\x00\x01\xffjunk\r\nGET http://c.example/ HTTP/1.1\r\n\r\n",
        ),
        d(S, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        d(C, b"GET http://d.example/ HTTP/1.1\r\nX-Long: abc"),
        (C, Ev::Gap(500)),
        d(C, b"nnn\r\n\r\nGET http://e.example/ HTTP/1.1\r\n\r\n"),
        d(S, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
        d(C, GET_A),
        (S, Ev::Gap(40)),
        d(C, b"GET http://f.example/ HTTP/1.1\r\n\r\n"),
        d(S, OK_5),
    ]
}

#[test]
fn gaps_and_garbage() {
    assert_eq!(
        run(&gap_and_garbage_conversation()),
        [
            "X GET http://a.example/ -> 200 @0/1",
            "A Client http.not_http",
            "X GET http://c.example/ -> 200 @4/5",
            "A Client http.resync",
            "X GET http://e.example/ -> 404 @8/9 gap",
            "A Server http.resync",
            "U GET http://a.example/ Gap",
            "X GET http://f.example/ -> 200 @12/13 gap",
        ]
    );
}

#[test]
fn pipelining_three_then_three() {
    let reqs: Vec<u8> = [
        &b"GET http://a/1 HTTP/1.1\r\n\r\n"[..],
        b"GET http://a/2 HTTP/1.1\r\n\r\n",
        b"GET http://a/3 HTTP/1.1\r\n\r\n",
    ]
    .concat();
    let resps: Vec<u8> = [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1"[..],
        b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n3",
    ]
    .concat();
    let conv = vec![(C, Ev::Data(reqs)), (S, Ev::Data(resps))];
    let want = [
        "X GET http://a/1 -> 200 @0/1",
        "X GET http://a/2 -> 407 @0/1",
        "X GET http://a/3 -> 200 @0/1",
    ];
    assert_eq!(run(&conv), want);
    assert_eq!(show_all(&run_chunked(&conv, &[5]).0), want);
}

/// The number of a request: what `newest_pending` says of it while it waits is what its
/// event carries when it is done, and the numbers of done requests follow the order sent,
/// through gaps and closes.
#[test]
fn requests_are_numbered_in_the_order_sent() {
    let seqs = |evs: &[HttpEvent]| -> Vec<u64> {
        evs.iter()
            .filter_map(|e| match e {
                HttpEvent::Exchange { seq, .. } | HttpEvent::Unanswered { seq, .. } => Some(*seq),
                _ => None,
            })
            .collect()
    };
    let mut conn = HttpConn::new();
    let mut out = Vec::new();
    let reqs = b"GET http://a/1 HTTP/1.1\r\n\r\nGET http://a/2 HTTP/1.1\r\n\r\nGET http://a/3 HTTP/1.1\r\n\r\n";
    conn.on_stream(C, Ts(1), StreamEvent::Data(reqs), &mut out);
    let waiting: Vec<(u64, String)> = conn
        .newest_pending_mut(2)
        .map(|(seq, _, head, _, _)| (seq, head.target.clone()))
        .collect();
    assert_eq!(
        waiting,
        [(1, "http://a/2".to_string()), (2, "http://a/3".to_string())]
    );
    conn.on_stream(
        S,
        Ts(2),
        StreamEvent::Data(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        &mut out,
    );
    conn.on_stream(S, Ts(3), StreamEvent::Rst, &mut out);
    assert_eq!(seqs(&out), [0, 1, 2]);
    assert_eq!(show_all(&out)[0], "X GET http://a/1 -> 200 @0/0");

    for conv in [rich_conversation(), gap_and_garbage_conversation()] {
        let (evs, _) = run_chunked(&conv, &[7]);
        let s = seqs(&evs);
        assert!(s.len() >= 3, "{s:?}");
        assert!(s.windows(2).all(|w| w[0] < w[1]), "{s:?}");
    }
}

#[test]
fn pipeline_overflow_is_counted() {
    let mut reqs = Vec::new();
    for i in 0..65 {
        reqs.extend_from_slice(format!("GET http://a/{i} HTTP/1.1\r\n\r\n").as_bytes());
    }
    let (evs, conn) = run_chunked(&[(C, Ev::Data(reqs))], &[]);
    let shown = show_all(&evs);
    assert_eq!(
        shown
            .iter()
            .filter(|s| *s == "A Client http.pipeline_overflow")
            .count(),
        1
    );
    assert_eq!(shown.iter().filter(|s| s.starts_with("U GET")).count(), 64);
    assert_eq!(conn.pending(), 0);
}

#[test]
fn head_204_304_and_interim_responses_have_no_body() {
    let conv = vec![
        d(
            C,
            b"HEAD http://a/ HTTP/1.1\r\n\r\nGET http://a/2 HTTP/1.1\r\n\r\n",
        ),
        d(
            S,
            b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n\
              HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n",
        ),
        d(C, b"GET http://a/3 HTTP/1.1\r\n\r\n"),
        d(
            S,
            b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
        ),
    ];
    assert_eq!(
        run(&conv),
        [
            "X HEAD http://a/ -> 200 @0/1",
            "X GET http://a/2 -> 204 @0/1",
            "X GET http://a/3 -> 304 @2/3",
        ]
    );
}

#[test]
fn chunked_trailers_split_everywhere() {
    let body = chunked_response();
    for split in 1..body.len() {
        let (a, b) = body.split_at(split);
        let conv = vec![
            d(
                C,
                b"GET http://a/ HTTP/1.1\r\n\r\nGET http://a/2 HTTP/1.1\r\n\r\n",
            ),
            d(S, a),
            d(S, b),
            d(S, OK_5),
        ];
        assert_eq!(
            run(&conv),
            [
                "X GET http://a/ -> 200 @0/1",
                "X GET http://a/2 -> 200 @0/3"
            ],
            "split at {split}"
        );
    }
}

#[test]
fn bad_chunk_is_an_anomaly_then_resync() {
    let conv = vec![
        d(C, b"GET http://a/ HTTP/1.1\r\n\r\n"),
        d(
            S,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n",
        ),
        d(C, b"GET http://a/2 HTTP/1.1\r\n\r\n"),
        d(S, OK_5),
    ];
    assert_eq!(
        run(&conv),
        [
            "X GET http://a/ -> 200 @0/1",
            "A Server http.bad_chunk",
            "X GET http://a/2 -> 200 @2/3",
        ]
    );
}

#[test]
fn connect_200_then_tls_is_skipped() {
    let mut hello = vec![0x16, 0x03, 0x01, 0x02, 0x00, 0x01];
    hello.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
    hello.extend(std::iter::repeat_n(0xAB, 500));
    let conv = vec![
        d(C, b"CONNECT a.example:443 HTTP/1.1\r\n\r\n"),
        d(S, b"HTTP/1.1 200 Connection established\r\n\r\n"),
        (C, Ev::Data(hello.clone())),
        d(S, &[0x16, 0x03, 0x03, 0x00, 0x10, 1, 2, 3]),
        d(S, b"HTTP/1.1 200 OK\r\n\r\n"),
        (C, Ev::Gap(1000)),
        (C, Ev::Data(hello.clone())),
        (C, Ev::Fin),
        (S, Ev::Fin),
    ];
    let (evs, conn) = run_chunked(&conv, &[]);
    assert_eq!(show_all(&evs), ["X CONNECT a.example:443 -> 200 @0/1"]);
    assert_eq!(
        conn.skipped_bytes(C),
        2 * hello.len() as u64 + 1000,
        "tunnel bytes are counted"
    );
    assert_eq!(conn.kind(), ConnKind::Http);
    assert!(conn.proxy_signal());
}

#[test]
fn connect_tls_sent_before_the_answer() {
    let mut first = b"CONNECT a.example:443 HTTP/1.1\r\n\r\n".to_vec();
    first.extend_from_slice(&[0x16, 0x03, 0x01, 0x00, 0x05, 9, 9, 9, 9, 9]);
    let conv = vec![
        (C, Ev::Data(first)),
        d(
            S,
            b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03",
        ),
        d(C, &[0x17, 0x03, 0x03, 0, 1, 0]),
    ];
    assert_eq!(run(&conv), ["X CONNECT a.example:443 -> 200 @0/1"]);
}

#[test]
fn connect_200_then_plain_http_is_tunneled() {
    let conv = vec![
        d(C, b"CONNECT abc:80 HTTP/1.1\r\nUser-Agent: t/1\r\n\r\n\n"),
        d(S, b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n\n"),
        d(C, b"GET / HTTP/1.1\r\nUser-Agent: t/1\r\n\r\n\n"),
        d(S, b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n"),
        (S, Ev::Fin),
    ];
    // The server's tunnel data starts with a stray LF: not a status line, so that side is
    // opaque; the client's side is plain HTTP.
    assert_eq!(
        run(&conv),
        [
            "X CONNECT abc:80 -> 200 @0/1",
            "U GET / Closed { by: Server, reset: false } tun"
        ]
    );
}

#[test]
fn connect_200_then_plain_http_both_ways_is_tunneled() {
    let conv = vec![
        d(C, b"CONNECT abc:80 HTTP/1.1\r\n\r\n"),
        d(S, b"HTTP/1.1 200 OK\r\n\r\n"),
        d(C, b"GET / HTTP/1.1\r\n\r\n"),
        d(S, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ];
    assert_eq!(
        run(&conv),
        ["X CONNECT abc:80 -> 200 @0/1", "X GET / -> 200 @2/3 tun"]
    );
}

#[test]
fn connect_407_is_not_a_tunnel() {
    let conv = vec![
        d(C, b"CONNECT a.example:443 HTTP/1.1\r\n\r\n"),
        d(
            S,
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: NTLM\r\n\
              Content-Length: 4\r\n\r\nnope",
        ),
        d(
            C,
            b"CONNECT a.example:443 HTTP/1.1\r\nProxy-Authorization: NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==\r\n\r\n",
        ),
        d(
            S,
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: NTLM TlRMTVNTUAACAAAA\r\n\
              Content-Length: 0\r\n\r\n",
        ),
    ];
    assert_eq!(
        run(&conv),
        [
            "X CONNECT a.example:443 -> 407 pa1 @0/1",
            "X CONNECT a.example:443 cred -> 407 pa1 @2/3",
        ]
    );
}

#[test]
fn connect_407_after_speculative_bytes_resyncs() {
    let mut first = b"CONNECT a.example:443 HTTP/1.1\r\n\r\n".to_vec();
    first.extend_from_slice(&[0x16, 0x03, 0x01, 0x00, 0x01, 0x00]);
    let conv = vec![
        (C, Ev::Data(first)),
        d(
            S,
            b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n",
        ),
        d(C, b"\r\nCONNECT a.example:443 HTTP/1.1\r\n\r\n"),
        d(S, b"HTTP/1.1 200 Connection established\r\n\r\n"),
    ];
    assert_eq!(
        run(&conv),
        [
            "X CONNECT a.example:443 -> 407 @0/1",
            "A Client http.not_http",
            "X CONNECT a.example:443 -> 200 @2/3",
        ]
    );
}

#[test]
fn bodies_that_look_like_http_are_skipped() {
    let req_body = b"GET http://inner/ HTTP/1.1\r\nHost: inner\r\n\r\n";
    let mut req = format!(
        "POST http://a/ HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        req_body.len()
    )
    .into_bytes();
    req.extend_from_slice(req_body);
    let resp_body =
        b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n";
    let mut resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
        resp_body.len()
    )
    .into_bytes();
    resp.extend_from_slice(resp_body);
    let conv = vec![(C, Ev::Data(req)), (S, Ev::Data(resp))];
    for chunks in [&[][..], &[1], &[13, 2]] {
        let (evs, conn) = run_chunked(&conv, chunks);
        assert_eq!(show_all(&evs), ["X POST http://a/ -> 200 @0/1"]);
        assert!(conn.proxy_signal(), "absolute-form target");
    }
}

#[test]
fn several_challenges_are_all_kept_as_secrets() {
    let conv = vec![
        d(C, b"GET http://a/ HTTP/1.1\r\n\r\n"),
        d(
            S,
            b"HTTP/1.1 407 Proxy Authentication Required\r\n\
              Proxy-Authenticate: Negotiate\r\nProxy-Authenticate: NTLM\r\n\
              Proxy-Authenticate: Digest realm=\"r\", nonce=\"s3cr3tn0nce\", qop=\"auth\"\r\n\
              Proxy-Authenticate: Basic realm=\"r\"\r\nContent-Length: 0\r\n\r\n",
        ),
    ];
    let (evs, _) = run_chunked(&conv, &[3]);
    let [HttpEvent::Exchange { response, .. }] = &evs[..] else {
        panic!("{:?}", show_all(&evs));
    };
    let values: Vec<&str> = response
        .proxy_authenticate
        .iter()
        .map(|s| s.expose())
        .collect();
    assert_eq!(
        values,
        [
            "Negotiate",
            "NTLM",
            "Digest realm=\"r\", nonce=\"s3cr3tn0nce\", qop=\"auth\"",
            "Basic realm=\"r\""
        ]
    );
    let debug = format!("{evs:?}");
    assert!(!debug.contains("s3cr3tn0nce"), "{debug}");
}

#[test]
fn credentials_never_show_in_debug() {
    let conv = vec![d(
        C,
        b"GET http://a/ HTTP/1.1\r\nProxy-Authorization: Basic aHVudGVyMjpodW50ZXIy\r\n\r\n",
    )];
    let (evs, _) = run_chunked(&conv, &[]);
    let debug = format!("{evs:?}");
    assert!(debug.contains("Secret("), "{debug}");
    assert!(!debug.contains("aHVudGVy"), "{debug}");
}

#[test]
fn connection_close_407_then_fin() {
    let conv = vec![
        d(C, b"GET http://a/ HTTP/1.1\r\n\r\n"),
        d(
            S,
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"r\"\r\n\
              Connection: close\r\n\r\n<html>denied</html>",
        ),
        (S, Ev::Fin),
        (C, Ev::Fin),
    ];
    assert_eq!(run(&conv), ["X GET http://a/ -> 407 pa1 close @0/1"]);
}

#[test]
fn response_until_close_ends_at_server_fin() {
    let conv = vec![
        d(C, b"GET http://a/ HTTP/1.0\r\n\r\n"),
        d(S, b"HTTP/1.0 200 OK\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"),
        (S, Ev::Fin),
        d(C, b"GET http://a/late HTTP/1.1\r\n\r\n"),
    ];
    assert_eq!(
        run(&conv),
        [
            "X GET http://a/ -> 200 close @0/1",
            "U GET http://a/late Closed { by: Server, reset: false }",
        ]
    );
}

#[test]
fn closes_and_end() {
    // A client RST: unanswered at once.
    let conv = vec![d(C, GET_A), (C, Ev::Rst), d(S, OK_5)];
    assert_eq!(
        run(&conv),
        [
            "U GET http://a.example/ Closed { by: Client, reset: true }",
            "O 200"
        ]
    );
    // A client FIN: the server may still answer.
    let conv = vec![d(C, GET_A), (C, Ev::Fin), d(S, OK_5), (S, Ev::Fin)];
    assert_eq!(run(&conv), ["X GET http://a.example/ -> 200 @0/2"]);
    // A client FIN and no answer before the server's FIN: the client hung up first.
    let conv = vec![d(C, GET_A), (C, Ev::Fin), (S, Ev::Fin)];
    assert_eq!(
        run(&conv),
        ["U GET http://a.example/ Closed { by: Client, reset: false }"]
    );
    // The server resets.
    let conv = vec![d(C, GET_A), (S, Ev::Rst)];
    assert_eq!(
        run(&conv),
        ["U GET http://a.example/ Closed { by: Server, reset: true }"]
    );
    // Nothing closed: the end of the capture.
    let (evs, _) = run_chunked(&[d(C, GET_A)], &[]);
    assert!(matches!(
        evs[..],
        [HttpEvent::Unanswered {
            why: Unanswered::End,
            ..
        }]
    ));
    // A head cut by the close.
    let conv = vec![
        d(C, GET_A),
        d(S, b"HTTP/1.1 200 OK\r\nContent-"),
        (S, Ev::Fin),
    ];
    assert_eq!(
        run(&conv),
        [
            "A Server http.truncated_head",
            "U GET http://a.example/ Closed { by: Server, reset: false }"
        ]
    );
}

#[test]
fn orphan_response() {
    let conv = vec![
        d(
            S,
            b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n",
        ),
        d(C, GET_A),
        d(S, OK_5),
    ];
    let (evs, conn) = run_chunked(&conv, &[]);
    assert_eq!(
        show_all(&evs),
        ["O 407", "X GET http://a.example/ -> 200 @1/2"]
    );
    assert!(conn.proxy_signal());
}

#[test]
fn oversized_head_then_resync() {
    let mut big = b"GET http://a/ HTTP/1.1\r\nX-Big: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 70_000));
    big.extend_from_slice(b"\r\n\r\nGET http://a/ok HTTP/1.1\r\n\r\n");
    let conv = vec![(C, Ev::Data(big)), d(S, OK_5)];
    let want = [
        "A Client http.oversized_head",
        "X GET http://a/ok -> 200 @0/1",
    ];
    assert_eq!(run(&conv), want);
    assert_eq!(show_all(&run_chunked(&conv, &[1460]).0), want);
    assert_eq!(show_all(&run_chunked(&conv, &[7, 30_000]).0), want);
}

#[test]
fn too_many_headers_is_an_anomaly() {
    let mut head = b"GET http://a/ HTTP/1.1\r\n".to_vec();
    for i in 0..150 {
        head.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    let (evs, _) = run_chunked(&[(C, Ev::Data(head))], &[]);
    assert_eq!(show_all(&evs), ["A Client http.too_many_headers"]);
}

#[test]
fn first_bytes_decide_the_kind() {
    // TLS straight to the port.
    let conv = vec![
        d(C, &[0x16, 0x03, 0x01, 0x00, 0x20, 1, 2, 3]),
        d(S, &[0x16, 0x03, 0x03, 0x00, 0x20, 1, 2, 3]),
        d(C, b"GET http://a/ HTTP/1.1\r\n\r\n"),
    ];
    for chunks in [&[][..], &[1]] {
        let (evs, conn) = run_chunked(&conv, chunks);
        assert!(evs.is_empty(), "{:?}", show_all(&evs));
        assert_eq!(conn.kind(), ConnKind::Tls);
    }
    // Neither side speaks HTTP.
    let conv = vec![
        d(S, b"220 mail.example ESMTP\r\n"),
        d(C, b"EHLO client\r\n"),
        d(C, b"GET http://a/ HTTP/1.1\r\n\r\n"),
    ];
    let (evs, conn) = run_chunked(&conv, &[]);
    assert!(evs.is_empty(), "{:?}", show_all(&evs));
    assert_eq!(conn.kind(), ConnKind::Other);
    assert!(!conn.proxy_signal());
    // Plain HTTP, no proxy signal.
    let conv = vec![d(C, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"), d(S, OK_5)];
    let (evs, conn) = run_chunked(&conv, &[]);
    assert_eq!(show_all(&evs), ["X GET / -> 200 @0/1"]);
    assert_eq!(conn.kind(), ConnKind::Http);
    assert!(!conn.proxy_signal());
    // Nothing yet.
    assert_eq!(HttpConn::new().kind(), ConnKind::Unknown);
}

#[test]
fn capture_starting_mid_connection_resyncs_silently() {
    let conv = vec![
        d(
            C,
            b"rest of an upload body\r\nmore\r\nGET http://a/ HTTP/1.1\r\n\r\n",
        ),
        d(
            S,
            b"tail of a body\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        ),
    ];
    assert_eq!(run(&conv), ["X GET http://a/ -> 200 @0/1"]);
}

#[test]
fn gap_inside_a_body_is_counted_off() {
    let conv = vec![
        d(C, GET_A),
        d(
            S,
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
        ),
        (S, Ev::Gap(80)),
        d(S, b"0123456789"),
        d(C, GET_A),
        d(S, OK_5),
    ];
    assert_eq!(
        run(&conv),
        [
            "X GET http://a.example/ -> 200 @0/1",
            "X GET http://a.example/ -> 200 @4/5"
        ]
    );
}

#[test]
fn long_bodies_are_counted_off_not_reported() {
    // 64 MiB of body in 64 KiB segments: counted off, no event but the exchange.
    let seg = vec![b'x'; 64 * 1024];
    let mut conn = HttpConn::new();
    let mut out = Vec::new();
    conn.on_stream(C, Ts(0), StreamEvent::Data(GET_A), &mut out);
    let total: u64 = 64 * 1024 * 1024;
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {total}\r\n\r\n");
    conn.on_stream(S, Ts(1), StreamEvent::Data(head.as_bytes()), &mut out);
    for _ in 0..1024 {
        conn.on_stream(S, Ts(2), StreamEvent::Data(&seg), &mut out);
    }
    assert_eq!(conn.skipped_bytes(S), total);
    assert_eq!(out.len(), 1);
}

// ---- the public corpus: loopback CONNECT captures, read straight from their pcap files ----

fn corpus(name: &str) -> Option<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus");
    match std::fs::read(format!("{dir}/{name}")) {
        Ok(b) => Some(b),
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "corpus file {name} missing: {e}"
            );
            eprintln!("note: corpus file {name} not found ({e}); skipped");
            None
        }
    }
}

/// The TCP payloads of a classic little-endian pcap with DLT_NULL or Ethernet over IPv4,
/// as stream events of the connection to `server_port`, in file order, duplicates dropped.
fn pcap_stream(file: &[u8], server_port: u16) -> Vec<(Side, Ts, Ev)> {
    let u32le = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    let be16 = |b: &[u8], o: usize| u16::from_be_bytes([b[o], b[o + 1]]);
    let be32 = |b: &[u8], o: usize| u32::from_be_bytes(b[o..o + 4].try_into().unwrap());
    assert_eq!(
        u32le(file, 0),
        0xa1b2_c3d4,
        "little-endian microsecond pcap"
    );
    let link = u32le(file, 20);
    let mut next_seq: [Option<u32>; 2] = [None, None];
    let mut evs = Vec::new();
    let mut off = 24;
    while off + 16 <= file.len() {
        let ts = Ts::from_secs_micros(u32le(file, off) as i64, u32le(file, off + 4) as i64);
        let caplen = u32le(file, off + 8) as usize;
        let pkt = &file[off + 16..off + 16 + caplen];
        off += 16 + caplen;
        let ip = match link {
            0 => &pkt[4..],
            1 if be16(pkt, 12) == 0x0800 => &pkt[14..],
            _ => continue,
        };
        if ip[0] >> 4 != 4 || ip[9] != 6 {
            continue;
        }
        let ihl = usize::from(ip[0] & 0xf) * 4;
        let total = usize::from(be16(ip, 2)).min(ip.len());
        let tcp = &ip[ihl..total];
        let (sport, dport) = (be16(tcp, 0), be16(tcp, 2));
        let side = if dport == server_port {
            C
        } else if sport == server_port {
            S
        } else {
            continue;
        };
        let i = usize::from(side == S);
        let seq = be32(tcp, 4);
        let flags = tcp[13];
        let payload = &tcp[usize::from(tcp[12] >> 4) * 4..];
        if flags & 0x02 != 0 {
            next_seq[i] = Some(seq.wrapping_add(1));
            continue;
        }
        if !payload.is_empty() {
            let expected = next_seq[i].unwrap_or(seq);
            if seq == expected {
                evs.push((side, ts, Ev::Data(payload.to_vec())));
                next_seq[i] = Some(seq.wrapping_add(payload.len() as u32));
            }
        }
        if flags & 0x04 != 0 {
            evs.push((side, ts, Ev::Rst));
        } else if flags & 0x01 != 0 {
            evs.push((side, ts, Ev::Fin));
        }
    }
    evs
}

fn run_capture(name: &str, port: u16) -> Option<(Vec<String>, HttpConn)> {
    let file = corpus(name)?;
    let mut conn = HttpConn::new();
    let mut out = Vec::new();
    let mut last = Ts::ZERO;
    for (side, ts, ev) in pcap_stream(&file, port) {
        last = ts;
        let ev = match &ev {
            Ev::Data(b) => StreamEvent::Data(b),
            Ev::Gap(n) => StreamEvent::Gap(*n),
            Ev::Fin => StreamEvent::Fin,
            Ev::Rst => StreamEvent::Rst,
        };
        conn.on_stream(side, ts, ev, &mut out);
    }
    conn.finish(last, &mut out);
    let shown = out
        .iter()
        .map(|e| {
            // Without the timestamps, which differ per capture.
            show(e)
                .split(' ')
                .filter(|w| !w.starts_with('@'))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    Some((shown, conn))
}

#[test]
fn corpus_connect_simple_has_two_requests() {
    // tshark: 2 requests, 1 response (the tunneled GET's answer is inside the tunnel).
    let Some((evs, conn)) = run_capture("sv-http-connect-simple-null.pcap", 8002) else {
        return;
    };
    // The server's tunnel data starts with a stray LF, so its side stays opaque: the GET is
    // seen, its response is not (as tshark sees it).
    assert_eq!(
        evs,
        [
            "X CONNECT abc:443 -> 200",
            "U GET / Closed { by: Server, reset: false } tun"
        ]
    );
    assert!(conn.proxy_signal());
}

#[test]
fn corpus_connect_fragmented_request() {
    let Some((evs, _)) = run_capture("sv-http-connect-fragmented-null.pcap", 8001) else {
        return;
    };
    // Here the tunneled response is clean and delimited by the server's FIN: it is seen
    // (tshark does not show it).
    assert_eq!(evs, ["X CONNECT abc:443 -> 200", "X GET / -> 200 tun"]);
}

#[test]
fn corpus_connect_then_tls() {
    let Some((evs, conn)) = run_capture("sv-http-connect-tls-null.pcap", 8002) else {
        return;
    };
    assert_eq!(evs, ["X CONNECT abc:443 -> 200"]);
    assert!(conn.skipped_bytes(C) > 0);
}

#[test]
fn corpus_evader_407_without_challenge() {
    let Some((evs, conn)) = run_capture("sv-http-evader-455-407-no-challenge.pcap", 80) else {
        return;
    };
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert!(evs[0].contains("-> 407"), "{evs:?}");
    assert!(conn.proxy_signal());
}
