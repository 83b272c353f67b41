//! The engine-level property: a generated office conversation (several clients, Basic,
//! NTLM and CONNECT, pipelined requests, heads split across segments) gives the same
//! transactions and the same episode verdicts however its packets are reordered (within a
//! window), duplicated and resegmented with overlaps, as long as no byte is lost.
//!
//! The engine runs in-process on the capture bytes (`source::file::open_reader`). The
//! transforms work on each flight (a run of consecutive packets in one direction of one
//! connection): its segments are resegmented with overlaps, retransmitted and shuffled
//! within windows, each keeping its own timestamp. That is what reassembly must undo. The
//! second property also shuffles across the two directions, as a tap or mirror port whose
//! directions arrive skewed does: a response may come before the end of its request, and the
//! flow table must hold it back until the bytes it acknowledges were seen. Bytes carry the
//! time of the frame that made them contiguous, so times may move within a flight's span:
//! they are compared within [`TOLERANCE_US`], everything else exactly. Connection and
//! episode ids are numbered in order of first packet and of opening: they are compared
//! through the client they belong to.

mod common;
use common::*;
use proptest::prelude::*;
use proxy407::cli::{Cli, Command};
use proxy407::engine::Engine;
use proxy407::model::EngineOutput;
use proxy407::model::Ts;
use proxy407_testkit::{self as testkit, CaptureWriter, LinkKind, Packet, Resolution, TcpConv};
use serde_json::Value;
use std::collections::BTreeMap;

const PROXY: &str = "10.0.0.2:3128";
/// Between the legs of a conversation.
const LEG_US: i64 = 50_000;
/// How far a shuffle may move a request or response time.
const TOLERANCE_US: i64 = 10_000;
/// The same with the two directions skewed: up to one step of the conversation.
const SKEWED_TOLERANCE_US: i64 = 60_000;
/// Fields compared within the tolerance rather than exactly.
const TIMES: [&str; 5] = ["ts", "response_ts", "start_ts", "end_ts", "time_to_auth_ms"];

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// 407 Basic, then credentials and two pipelined requests on the same connection.
    BasicPipelined,
    /// 407 Basic, a wrong password on a new connection (407 again), then silence.
    BasicRejected,
    /// NTLM type 1 / type 2 / type 3 on one connection, 200.
    Ntlm,
    /// CONNECT challenged, retried with Basic on a new connection, tunnel bytes after.
    ConnectBasic,
    /// A request never challenged.
    Plain,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::BasicPipelined),
        Just(Kind::BasicRejected),
        Just(Kind::Ntlm),
        Just(Kind::ConnectBasic),
        Just(Kind::Plain),
    ]
}

fn basic(user: &str, pw: &str) -> String {
    format!("Basic {}", b64(format!("{user}:{pw}").as_bytes()))
}

fn get(url: &str, auth: Option<&str>) -> Vec<u8> {
    match auth {
        Some(a) => req("GET", url, &[("Proxy-Authorization", a)]),
        None => req("GET", url, &[]),
    }
}

fn new_conv(client: u8, port: u16, start_us: i64, mss: usize) -> TcpConv {
    TcpConv::new(addr(&format!("10.20.0.{client}:{port}")), addr(PROXY))
        .start(testkit::Ts(T0 + start_us))
        .mss(mss)
}

/// The packets of one client's conversation(s).
fn client_packets(client: u8, kind: Kind, start_us: i64, mss: usize) -> Vec<Packet> {
    let user = format!("user{client}");
    let url = format!("http://site{client}.example.com/index.html");
    let mut c = new_conv(client, 40_000 + u16::from(client), start_us, mss);
    c.handshake();
    match kind {
        Kind::BasicPipelined => {
            let a = basic(&user, "pw");
            c.client_send(&get(&url, None))
                .server_send(&resp407(&["Basic realm=\"corp\""]))
                .wait(LEG_US)
                .client_send(&get(&url, Some(&a)))
                .server_send(&resp200())
                .wait(LEG_US);
            let mut two = get(&format!("{url}?a"), Some(&a));
            two.extend(get(&format!("{url}?b"), Some(&a)));
            c.client_send(&two).wait(LEG_US);
            let mut answers = resp200();
            answers.extend(resp(404, "Not Found", &[], 7));
            c.server_send(&answers).wait(LEG_US);
            c.client_fin().server_fin().client_ack();
            c.into_packets()
        }
        Kind::BasicRejected => {
            c.client_send(&get(&url, None))
                .server_send(&resp407(&["Basic realm=\"corp\""]))
                .wait(LEG_US)
                .client_fin()
                .server_fin()
                .client_ack();
            let mut r = new_conv(
                client,
                41_000 + u16::from(client),
                start_us + 3 * LEG_US,
                mss,
            );
            r.handshake()
                .client_send(&get(&url, Some(&basic(&user, "wrong"))))
                .server_send(&resp407(&["Basic realm=\"corp\""]))
                .wait(LEG_US)
                .client_fin()
                .server_fin()
                .client_ack();
            let mut p = c.into_packets();
            p.extend(r.into_packets());
            p
        }
        Kind::Ntlm => {
            c.client_send(&get(&url, None))
                .server_send(&resp407(&["NTLM", "Basic realm=\"corp\""]))
                .wait(LEG_US)
                .client_send(&get(&url, Some(&format!("NTLM {}", b64(&ntlm_type1())))))
                .server_send(&resp407(&[&format!(
                    "NTLM {}",
                    b64(&ntlm_type2("CORP", [client; 8]))
                )]))
                .wait(LEG_US)
                .client_send(&get(
                    &url,
                    Some(&format!(
                        "NTLM {}",
                        b64(&ntlm_type3(
                            "CORP",
                            &user,
                            "PC",
                            &[0; 24],
                            &ntv2_response(client)
                        ))
                    )),
                ))
                .server_send(&resp200())
                .wait(LEG_US)
                .client_fin()
                .server_fin()
                .client_ack();
            c.into_packets()
        }
        Kind::ConnectBasic => {
            let target = format!("site{client}.example.com:443");
            c.client_send(&req("CONNECT", &target, &[]))
                .server_send(&resp407(&["Basic realm=\"corp\""]))
                .wait(LEG_US)
                .client_fin()
                .server_fin()
                .client_ack();
            let mut r = new_conv(
                client,
                42_000 + u16::from(client),
                start_us + 3 * LEG_US,
                mss,
            );
            r.handshake()
                .client_send(&req(
                    "CONNECT",
                    &target,
                    &[("Proxy-Authorization", &basic(&user, "pw"))],
                ))
                .server_send(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .wait(LEG_US)
                .client_send(&[0x16, 0x03, 0x01, 0x00, 0x08, 1, 2, 3, 4, 5, 6, 7, 8])
                .server_send(&[0x16, 0x03, 0x03, 0x00, 0x04, 9, 9, 9, 9])
                .wait(LEG_US)
                .client_fin()
                .server_fin()
                .client_ack();
            let mut p = c.into_packets();
            p.extend(r.into_packets());
            p
        }
        Kind::Plain => {
            c.client_send(&get(&url, None))
                .server_send(&resp200())
                .wait(LEG_US)
                .client_fin()
                .server_fin()
                .client_ack();
            c.into_packets()
        }
    }
}

fn office(kinds: &[Kind], mss: usize) -> Vec<Packet> {
    let lists = kinds
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let n = u8::try_from(i + 1).expect("few clients");
            client_packets(n, *k, i as i64 * 7_000, mss)
        })
        .collect();
    testkit::merge(lists)
}

fn run_engine(packets: &[Packet]) -> EngineOutput {
    let mut w =
        CaptureWriter::pcap(Vec::new(), LinkKind::Ethernet, Resolution::Micro).expect("header");
    w.write_all(packets).expect("records");
    let bytes = w.into_inner();
    let cli = <Cli as clap::Parser>::try_parse_from(["proxy407", "transactions", "-"])
        .expect("default options");
    let Command::Transactions(input) = cli.command else {
        unreachable!("parsed as transactions")
    };
    let mut src =
        proxy407::source::file::open_reader("office", Box::new(std::io::Cursor::new(bytes)))
            .expect("capture opens");
    let engine = Engine::new(input.engine_config().expect("config"));
    proxy407::driver::run(src.as_mut(), engine, &mut proxy407::driver::Batch)
}

/// Episodes keyed by client IP (each generated client has at most one), without their ids.
fn episodes(out: &EngineOutput) -> BTreeMap<String, Value> {
    out.analysis
        .episodes
        .iter()
        .map(|e| {
            let mut v = serde_json::to_value(e).expect("episode serializes");
            let o = v.as_object_mut().expect("object");
            o.remove("episode_id");
            // Reordered and duplicated packets are other frames; the heads are the same.
            o.remove("capture_file");
            o.remove("frames");
            o.remove("display_filter");
            (e.client_ip.to_string(), v)
        })
        .collect()
}

/// Transactions as JSON lines without connection and episode ids; the episode is named by
/// its client IP. Sorted.
fn transactions(out: &EngineOutput) -> Vec<String> {
    let ep_client: BTreeMap<u64, String> = out
        .analysis
        .episodes
        .iter()
        .map(|e| (e.episode_id, e.client_ip.to_string()))
        .collect();
    let mut rows: Vec<String> = out
        .analysis
        .transactions
        .iter()
        .map(|t| {
            let mut v = serde_json::to_value(t).expect("transaction serializes");
            let o = v.as_object_mut().expect("object");
            o.remove("conn_id");
            o.remove("episode_id");
            o.remove("capture_file");
            o.remove("frames");
            o.remove("display_filter");
            let ep = t.episode_id.and_then(|id| ep_client.get(&id).cloned());
            o.insert("episode".into(), ep.map_or(Value::Null, Value::String));
            v.to_string()
        })
        .collect();
    rows.sort();
    rows
}

/// Shuffles packets within consecutive windows of `window` packets; each keeps its time.
fn shuffle_keep_times(pkts: &mut [Packet], window: usize, rng: &mut testkit::rng::XorShift) {
    for w in pkts.chunks_mut(window.max(1)) {
        for i in (1..w.len()).rev() {
            let j = rng.below(i + 1);
            w.swap(i, j);
        }
    }
}

/// Resegments, retransmits and shuffles each flight (consecutive packets in one direction
/// of one connection) of `pkts`.
fn transform_flights(
    pkts: &[Packet],
    resegment: bool,
    dup_percent: u32,
    window: usize,
    seed: u64,
) -> Vec<Packet> {
    let mut rng = testkit::rng::XorShift::new(seed);
    let mut out = Vec::with_capacity(pkts.len() * 3);
    let mut start = 0;
    while start < pkts.len() {
        let dir = (pkts[start].src, pkts[start].dst);
        let mut end = start + 1;
        while end < pkts.len() && (pkts[end].src, pkts[end].dst) == dir {
            end += 1;
        }
        let mut flight = pkts[start..end].to_vec();
        if resegment {
            testkit::resegment_overlapping(&mut flight, rng.next_u64());
        }
        testkit::duplicate_random(&mut flight, dup_percent, rng.next_u64());
        shuffle_keep_times(&mut flight, window, &mut rng);
        out.extend(flight);
        start = end;
    }
    out
}

/// The time fields of a record in µs (time_to_auth_ms scaled), and the record without them.
fn split_times(mut v: Value) -> (Value, Vec<Option<i64>>) {
    let o = v.as_object_mut().expect("object");
    let times = TIMES
        .iter()
        .filter_map(|k| o.remove(*k))
        .map(|t| match t {
            Value::String(t) => Ts::parse_rfc3339(&t).map(|t| t.0),
            Value::Number(n) => n.as_f64().map(|ms| (ms * 1000.0) as i64),
            _ => None,
        })
        .collect();
    (v, times)
}

fn assert_times_close(
    what: &Value,
    want: &[Option<i64>],
    got: &[Option<i64>],
    tolerance_us: i64,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(want.len(), got.len());
    for (w, g) in want.iter().zip(got) {
        match (w, g) {
            (Some(w), Some(g)) => {
                prop_assert!((w - g).abs() <= tolerance_us, "{} vs {} in {}", w, g, what)
            }
            (None, None) => {}
            _ => prop_assert!(false, "{:?} vs {:?} in {}", w, g, what),
        }
    }
    Ok(())
}

fn expected_outcome(k: Kind) -> Option<(&'static str, Option<&'static str>)> {
    match k {
        Kind::BasicPipelined | Kind::Ntlm | Kind::ConnectBasic => Some(("authenticated", None)),
        Kind::BasicRejected => Some(("failed", Some("bad_credentials"))),
        Kind::Plain => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn reordering_duplication_and_overlaps_change_nothing(
        kinds in prop::collection::vec(kind(), 2..6),
        mss in 24usize..400,
        window in 1usize..8,
        dup_percent in 0u32..40,
        seed in any::<u64>(),
        resegment in any::<bool>(),
    ) {
        let clean = office(&kinds, mss);
        let reference = run_engine(&clean);

        // The clean capture is judged as built.
        let eps = episodes(&reference);
        for (i, k) in kinds.iter().enumerate() {
            let ip = format!("10.20.0.{}", i + 1);
            match expected_outcome(*k) {
                None => prop_assert!(!eps.contains_key(&ip), "{:?}: {:?}", k, eps.get(&ip)),
                Some((outcome, cause)) => {
                    let e = eps.get(&ip).ok_or_else(|| {
                        TestCaseError::fail(format!("no episode for {k:?}"))
                    })?;
                    prop_assert_eq!(e["outcome"].as_str(), Some(outcome), "{:?}: {}", k, e);
                    prop_assert_eq!(e["cause"].as_str(), cause, "{:?}: {}", k, e);
                    let user = format!("user{}", i + 1);
                    prop_assert_eq!(e["user"].as_str(), Some(user.as_str()));
                }
            }
        }
        prop_assert_eq!(reference.capture.gap_bytes, 0);
        prop_assert_eq!(reference.capture.http_anomalies, 0);

        let p = transform_flights(&clean, resegment, dup_percent, window, seed);
        assert_same(&reference, &run_engine(&p), TOLERANCE_US)?;
    }

    #[test]
    fn the_two_directions_out_of_order_change_nothing(
        kinds in prop::collection::vec(kind(), 2..5),
        mss in 24usize..400,
        seed in any::<u64>(),
    ) {
        // A tap or mirror port whose two directions arrive skewed: a response may come
        // before the last segment of its request; the flow table holds it back until the
        // bytes it acknowledges have been seen.
        let clean = office(&kinds, mss);
        let reference = run_engine(&clean);
        let mut p = transform_flights(&clean, true, 10, 3, seed);
        let mut rng = testkit::rng::XorShift::new(seed ^ 0x5eed);
        // Neighbouring packets swapped across directions: the skew of a tap whose two
        // directions are merged. Wider skews: `wider_skews_across_directions_change_nothing`.
        shuffle_keep_times(&mut p, 2, &mut rng);
        // Bytes take the time of the packet that completes them, here possibly one of the
        // next flight (the conversation's steps are 50 ms apart).
        assert_same(&reference, &run_engine(&p), SKEWED_TOLERANCE_US)?;
    }
}

/// Packets shuffled across the two directions within windows of four, on 100 generated
/// conversations (fixed seeds): the same transactions and verdicts. A segment held until the
/// bytes it acknowledges are seen must not hold back the segments of its direction behind
/// it, or each direction can wait on bytes held behind the other. (At windows of six, a few
/// conversations in a hundred still pair a response with the wrong request.)
#[test]
fn wider_skews_across_directions_change_nothing() {
    let all = [
        Kind::BasicPipelined,
        Kind::BasicRejected,
        Kind::Ntlm,
        Kind::ConnectBasic,
        Kind::Plain,
    ];
    let mut failed = Vec::new();
    for seed in 0..100u64 {
        let mut rng = testkit::rng::XorShift::new(seed * 7919 + 1);
        let n = 2 + (rng.next_u64() % 3) as usize;
        let kinds: Vec<Kind> = (0..n).map(|_| all[(rng.next_u64() % 5) as usize]).collect();
        let mss = 24 + (rng.next_u64() % 376) as usize;
        let clean = office(&kinds, mss);
        let reference = run_engine(&clean);
        let mut p = transform_flights(&clean, true, 10, 3, seed);
        shuffle_keep_times(&mut p, 4, &mut testkit::rng::XorShift::new(seed ^ 0x5eed));
        if let Err(e) = assert_same(&reference, &run_engine(&p), SKEWED_TOLERANCE_US) {
            failed.push(format!("seed {seed} {kinds:?} mss {mss}: {e}"));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// The transformed capture gives the reference's counts, transactions and episodes (times
/// within `tolerance_us`).
fn assert_same(
    reference: &EngineOutput,
    moved: &EngineOutput,
    tolerance_us: i64,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(moved.capture.gap_bytes, 0);
    prop_assert_eq!(&moved.http, &reference.http);
    let (want, got) = (transactions(reference), transactions(moved));
    prop_assert_eq!(want.len(), got.len());
    let split = |rows: Vec<String>| {
        let mut v: Vec<(String, Vec<Option<i64>>)> = rows
            .into_iter()
            .map(|r| {
                let (v, t) = split_times(serde_json::from_str(&r).expect("JSON"));
                (v.to_string(), t)
            })
            .collect();
        v.sort();
        v
    };
    for ((w, wt), (g, gt)) in split(want).iter().zip(&split(got)) {
        prop_assert_eq!(w, g);
        assert_times_close(&Value::String(w.clone()), wt, gt, tolerance_us)?;
    }
    let (want, got) = (episodes(reference), episodes(moved));
    prop_assert_eq!(want.len(), got.len());
    for (ip, w) in want {
        let g = got.get(&ip).cloned().ok_or_else(|| {
            TestCaseError::fail(format!("no episode of {ip} after the transforms"))
        })?;
        let ((w, wt), (g, gt)) = (split_times(w), split_times(g));
        prop_assert_eq!(&w, &g);
        assert_times_close(&w, &wt, &gt, tolerance_us)?;
    }
    Ok(())
}
