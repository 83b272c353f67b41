//! The aggregator and its views on hand-made records: every cause and finding, the per-key
//! rows, percentiles, the sliding lockout window, the timeline, the JSON key names of
//! `docs/verdicts.md` §6.2/§6.3, the text diagnosis and pseudonymization.

use proxy407::anomaly::{Anomalies, Anomaly, HttpAnomaly, ReassemblyAnomaly};
use proxy407::model::AnalysisOutput;
use proxy407::model::Notice;
use proxy407::model::{CaptureCounters, EngineOutput, HttpCounters};
use proxy407::model::{Cause, Episode, Finding, Outcome, Transaction, Ts, UserSource};
use proxy407::pseudonym::pseudonymize;
use proxy407::pseudonym::Pseudonymizer;
use proxy407::report::{analyze_report, render_json, render_text, TextOptions};
use proxy407::stats::{Stats, Summary, Table, UNKNOWN_USER};
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::IpAddr;

const T0: i64 = 1_794_999_960; // 2026-11-18T11:06:00Z, a whole minute
const MIN: i64 = 60_000_000;

fn at(minutes: i64, secs: i64) -> Ts {
    Ts(T0 * 1_000_000 + minutes * MIN + secs * 1_000_000)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// One episode; the knobs the tests turn are set after.
struct Ep(Episode);

impl Ep {
    fn new(id: u64, user: Option<&str>, client: &str, start: Ts) -> Ep {
        Ep(Episode {
            episode_id: id,
            start_ts: start,
            end_ts: start.plus_micros(500_000),
            client_ip: ip(client),
            proxy_ip: ip("10.9.9.9"),
            proxy_port: 3128,
            target: "example.com:443".into(),
            user: user.map(String::from),
            domain: user.map(|_| "CORP".to_string()),
            workstation: user.map(|_| "PC1".to_string()),
            user_source: user.map(|_| UserSource::Credentials),
            scheme: Some("NTLM".into()),
            offered_schemes: vec!["Negotiate".into(), "NTLM".into()],
            challenges: 2,
            credential_attempts: 1,
            connections: 1,
            outcome: Outcome::Authenticated,
            cause: None,
            detail: None,
            findings: vec![],
            final_status: Some(200),
            time_to_auth_ms: None,
            user_agent: Some("Mozilla/5.0".into()),
            capture_file: String::new(),
            frames: Vec::new(),
            frame_count: 0,
            display_filter: String::new(),
        })
    }
    fn failed(mut self, c: Cause) -> Ep {
        self.0.outcome = Outcome::Failed;
        self.0.cause = Some(c);
        self.0.final_status = Some(407);
        self
    }
    fn auth(mut self, ms: f64) -> Ep {
        self.0.outcome = Outcome::Authenticated;
        self.0.time_to_auth_ms = Some(ms);
        self
    }
    fn unresolved(mut self) -> Ep {
        self.0.outcome = Outcome::Unresolved;
        self.0.final_status = None;
        self
    }
    fn scheme(mut self, s: &str) -> Ep {
        self.0.scheme = Some(s.into());
        self
    }
    fn offered(mut self, s: &[&str]) -> Ep {
        self.0.offered_schemes = s.iter().map(|x| x.to_string()).collect();
        self
    }
    fn attempts(mut self, n: u32) -> Ep {
        self.0.credential_attempts = n;
        self
    }
    fn challenges(mut self, n: u32) -> Ep {
        self.0.challenges = n;
        self
    }
    fn finding(mut self, f: Finding) -> Ep {
        self.0.findings.push(f);
        self
    }
    fn proxy(mut self, p: &str, port: u16) -> Ep {
        self.0.proxy_ip = ip(p);
        self.0.proxy_port = port;
        self
    }
    fn target(mut self, t: &str) -> Ep {
        self.0.target = t.into();
        self
    }
}

fn tx(e: &Episode, ts: Ts) -> Transaction {
    Transaction {
        ts,
        response_ts: Some(ts.plus_micros(1000)),
        conn_id: e.episode_id,
        community_id: "1:abcdefabcdefabcdefabcdefabc=".into(),
        client_ip: e.client_ip,
        client_port: 50000,
        proxy_ip: e.proxy_ip,
        proxy_port: e.proxy_port,
        method: "CONNECT".into(),
        target: e.target.clone(),
        status: Some(407),
        offered_schemes: e.offered_schemes.clone(),
        auth_scheme: e.scheme.clone(),
        auth_step: None,
        user: e.user.clone(),
        domain: e.domain.clone(),
        workstation: e.workstation.clone(),
        user_agent: Some("curl/8.5".into()),
        episode_id: Some(e.episode_id),
        lockout_account: None,
        findings: Vec::new(),
        capture_file: String::new(),
        frames: Vec::new(),
        display_filter: String::new(),
    }
}

/// 20 episodes: every cause, every finding.
fn episodes() -> Vec<Episode> {
    let mut v = Vec::new();
    // alice: six rejected Basic logins at minutes 5, 7, 9, 11, 13 and 30.
    for (i, m) in [5, 7, 9, 11, 13, 30].into_iter().enumerate() {
        let mut e = Ep::new(i as u64 + 1, Some("alice"), "10.0.0.1", at(m, 0))
            .failed(Cause::BadCredentials)
            .scheme("Basic")
            .offered(&["Basic"])
            .finding(Finding::CleartextBasic);
        if i >= 4 {
            e = e.finding(Finding::LockoutRisk);
        }
        v.push(e.0);
    }
    // bob: four NTLM logins that work, minutes 1..4.
    v.push(
        Ep::new(10, Some("bob"), "10.0.0.2", at(1, 0))
            .auth(10.0)
            .scheme("Negotiate")
            .attempts(2)
            .finding(Finding::NtlmFallback)
            .0,
    );
    v.push(
        Ep::new(11, Some("bob"), "10.0.0.2", at(2, 0))
            .auth(20.0)
            .attempts(3)
            .finding(Finding::Ntlmv1)
            .0,
    );
    v.push(Ep::new(12, Some("bob"), "10.0.0.2", at(3, 0)).auth(30.0).0);
    v.push(Ep::new(13, Some("bob"), "10.0.0.2", at(4, 0)).auth(40.0).0);
    // One failure of every other cause, all in minute 0.
    v.push(
        Ep::new(20, Some("dave"), "10.0.0.3", at(0, 1))
            .failed(Cause::HandshakeBroken)
            .0,
    );
    v.push(
        Ep::new(21, Some("erin"), "10.0.0.3", at(0, 2))
            .failed(Cause::SchemeMismatch)
            .scheme("Basic")
            .0,
    );
    v.push(
        Ep::new(22, None, "10.0.0.4", at(0, 3))
            .failed(Cause::NoCredentials)
            .attempts(0)
            .0,
    );
    v.push(
        Ep::new(23, Some("frank"), "10.0.0.3", at(0, 4))
            .failed(Cause::Denied)
            .finding(Finding::OversizedToken)
            .target("intranet.example:80")
            .0,
    );
    v.push(
        Ep::new(24, None, "10.0.0.5", at(0, 5))
            .failed(Cause::ConnectionClosed)
            .attempts(0)
            .0,
    );
    v.push(
        Ep::new(25, Some("gina"), "10.0.0.3", at(0, 6))
            .failed(Cause::NoResponse)
            .proxy("10.9.9.8", 8080)
            .0,
    );
    let mut unreachable = Ep::new(26, None, "2001:db8::6", at(0, 7))
        .failed(Cause::ProxyUnreachable)
        .challenges(0)
        .attempts(0)
        .offered(&[]);
    unreachable.0.scheme = None;
    v.push(unreachable.0);
    // hank: unresolved across a gap; ivan: cleartext Basic that works; judy: Digest stale leg.
    v.push(
        Ep::new(30, Some("hank"), "10.0.0.7", at(40, 0))
            .unresolved()
            .attempts(3)
            .finding(Finding::CaptureGap)
            .0,
    );
    v.push(
        Ep::new(31, Some("ivan"), "10.0.0.8", at(41, 0))
            .auth(50.0)
            .scheme("Basic")
            .offered(&["Basic", "Basic"])
            .attempts(2)
            .finding(Finding::CleartextBasic)
            .0,
    );
    v.push(
        Ep::new(32, Some("judy"), "10.0.0.8", at(41, 30))
            .auth(60.0)
            .scheme("Digest")
            .offered(&["Digest"])
            .attempts(2)
            .finding(Finding::StaleNonce)
            .0,
    );
    v
}

fn output() -> EngineOutput {
    let episodes = episodes();
    // One transaction per credentialed request (at least one per episode), each showing
    // its episode's request findings.
    let transactions = episodes
        .iter()
        .flat_map(|e| {
            let mut t = tx(e, e.start_ts);
            t.findings = e
                .findings
                .iter()
                .copied()
                .filter(|f| f.is_request())
                .collect();
            std::iter::repeat_n(t, e.credential_attempts.max(1) as usize)
        })
        .collect();
    let mut link_types = std::collections::BTreeMap::new();
    link_types.insert("ethernet".to_string(), 1000);
    let mut anomalies = Anomalies::default();
    anomalies.add(ReassemblyAnomaly::Gap);
    anomalies.add_n(HttpAnomaly::BadChunk, 2);
    EngineOutput {
        capture: CaptureCounters {
            files: 1,
            packets: 1000,
            bytes: 500_000,
            first_ts: Some(at(0, 0)),
            last_ts: Some(at(42, 0)),
            link_types,
            tcp_connections: 40,
            proxy_connections: 30,
            gap_bytes: 1460,
            ..Default::default()
        },
        http: HttpCounters {
            requests: 60,
            responses: 58,
            responses_407: 35,
            connect_requests: 50,
            credentialed_requests: 30,
            unanswered_requests: 2,
            ..Default::default()
        },
        anomalies,
        floods: Vec::new(),
        analysis: AnalysisOutput {
            episodes,
            transactions,
        },
        notices: vec![Notice {
            origin: "a.pcap".into(),
            offset: Some(4096),
            message: "record cut off".into(),
        }],
    }
}

fn summary() -> (Stats, Summary) {
    Summary::from_output(&output(), 10)
}

#[test]
fn counts_every_cause_and_finding() {
    let (stats, s) = summary();
    assert_eq!(s.episodes.total, 20);
    assert_eq!(s.episodes.authenticated, 6);
    assert_eq!(s.episodes.failed, 13);
    assert_eq!(s.episodes.unresolved, 1);
    let causes: Vec<(&str, u64)> = s.causes.0.clone();
    assert_eq!(causes.len(), Cause::ALL.len());
    for c in Cause::ALL {
        let want = if c == Cause::BadCredentials { 6 } else { 1 };
        assert_eq!(s.causes.get(c.as_str()), Some(want), "{c}");
    }
    // lockout_risk: users; capture_gap: episodes; the rest: requests (the request findings
    // from the transactions, ntlm_fallback from its episodes' credentialed requests).
    let want = [
        (Finding::LockoutRisk, 1),
        (Finding::CleartextBasic, 6 + 2),
        (Finding::NtlmFallback, 2),
        (Finding::Ntlmv1, 3),
        (Finding::StaleNonce, 2),
        (Finding::OversizedToken, 1),
        (Finding::CaptureGap, 1),
    ];
    assert_eq!(s.findings.0.len(), Finding::ALL.len());
    for (f, n) in want {
        assert_eq!(s.findings.get(f.as_str()), Some(n), "{f}");
    }
    assert_eq!(stats.lockout_users(), vec!["alice".to_string()]);
    assert_eq!(stats.users_affected(), 5); // alice dave erin frank gina
    assert!(stats.unknown_user_failed());
    assert_eq!(stats.clients_affected(), 5);
    // Challenges: 19 episodes with 2 each, the unreachable one with none.
    assert_eq!(stats.challenges(), 38);
    let requests: u32 = episodes()
        .iter()
        .map(|e| e.credential_attempts.max(1))
        .sum();
    assert_eq!(stats.transactions(), u64::from(requests));
    // Schemes: offered once per episode; used by the answering scheme.
    assert_eq!(s.schemes.offered.get("Basic"), Some(&7));
    assert_eq!(s.schemes.offered.get("NTLM"), Some(&11));
    assert_eq!(s.schemes.offered.get("Digest"), Some(&1));
    assert_eq!(s.schemes.used.get("Basic"), Some(&8));
    assert_eq!(s.schemes.used.get("Negotiate"), Some(&1));
    assert_eq!(s.schemes.used.get("Digest"), Some(&1));
    assert_eq!(s.schemes.used.get("NTLM"), Some(&9));
    // 10, 20, 30, 40, 50, 60 ms: nearest rank.
    assert_eq!(s.time_to_auth_ms.p50, Some(30.0));
    assert_eq!(s.time_to_auth_ms.p95, Some(60.0));
    assert_eq!(s.time_to_auth_ms.max, Some(60.0));
}

#[test]
fn empty_summary_keeps_every_key() {
    let s = Summary::build(
        &Stats::new(),
        &CaptureCounters::default(),
        &HttpCounters::default(),
        &Anomalies::default(),
        &[],
        &[],
        10,
    );
    let v: Value = serde_json::from_str(&render_json(&s)).unwrap();
    for c in Cause::ALL {
        assert_eq!(v["causes"][c.as_str()], 0);
    }
    for f in Finding::ALL {
        assert_eq!(v["findings"][f.as_str()], 0);
    }
    assert!(v["time_to_auth_ms"]["p50"].is_null());
    assert!(v["time_to_auth_ms"]["max"].is_null());
    assert_eq!(v["top"]["users"], Value::Array(vec![]));
}

#[test]
fn top_rows_sorted_and_complete() {
    let (stats, s) = summary();
    let users: Vec<&str> = s.top.users.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(
        users,
        vec![
            "alice",
            UNKNOWN_USER,
            "dave",
            "erin",
            "frank",
            "gina",
            "bob",
            "hank",
            "ivan",
            "judy"
        ]
    );
    let alice = &s.top.users[0];
    assert_eq!(alice.episodes, 6);
    assert_eq!(alice.authenticated, 0);
    assert_eq!(alice.failed, 6);
    assert_eq!(alice.failed_cause(Cause::BadCredentials), 6);
    assert_eq!(alice.failed_cause(Cause::Denied), 0);
    assert_eq!(alice.challenges, 12);
    assert_eq!(alice.credential_attempts, 6);
    assert_eq!(alice.finding(Finding::LockoutRisk), 2);
    assert_eq!(alice.finding(Finding::CleartextBasic), 6);
    assert_eq!(alice.time_to_auth_p50_ms, None);
    assert_eq!(alice.first_seen, Some(at(5, 0)));
    assert_eq!(alice.last_seen, Some(at(30, 0).plus_micros(500_000)));
    assert_eq!(alice.domain.as_deref(), Some("CORP"));
    assert_eq!(alice.client_ips, vec!["10.0.0.1"]);
    assert_eq!(alice.workstations, vec!["PC1"]);
    assert_eq!(alice.schemes, vec!["Basic"]);
    // Minutes 5, 7, 9, 11, 13 fit in one sliding window (fixed 10-minute buckets give 3).
    assert_eq!(alice.max_failures_10min, 5);
    // Transactions add their user agents to the user's row.
    assert_eq!(alice.user_agents, vec!["Mozilla/5.0", "curl/8.5"]);
    let unknown = &s.top.users[1];
    assert_eq!(unknown.failed, 3);
    assert_eq!(unknown.max_failures_10min, 3);

    let bob = stats.row(Table::Users, "bob").unwrap();
    assert_eq!(bob.authenticated, 4);
    assert_eq!(bob.time_to_auth_p50_ms, Some(20.0));
    assert_eq!(bob.time_to_auth_p95_ms, Some(40.0));
    assert_eq!(bob.max_failures_10min, 0);

    // Clients: 10.0.0.1 (6 failed) then 10.0.0.3 (4 failed).
    assert_eq!(s.top.clients[0].key, "10.0.0.1");
    assert_eq!(s.top.clients[1].key, "10.0.0.3");
    assert_eq!(
        s.top.clients[1].users,
        vec!["dave", "erin", "frank", "gina"]
    );
    assert!(stats.row(Table::Clients, "2001:db8::6").is_some());

    let p = &s.top.proxies[0];
    assert_eq!(p.key, "10.9.9.9:3128");
    assert_eq!(p.episodes, 19);
    assert_eq!(p.failed, 12);
    assert!(p.users.contains(&UNKNOWN_USER.to_string()));
    assert_eq!(p.clients.len(), 8);
    assert_eq!(s.top.proxies[1].key, "10.9.9.8:8080");
    assert_eq!(s.top.proxies[1].failed_cause(Cause::NoResponse), 1);

    assert_eq!(s.top.targets[0].key, "example.com:443");
    assert_eq!(s.top.targets[1].key, "intranet.example:80");
    assert_eq!(s.top.targets[1].failed_cause(Cause::Denied), 1);
    assert_eq!(s.top.targets[1].finding(Finding::OversizedToken), 1);

    // top_n cuts the lists; the full table keeps every key.
    let (_, small) = Summary::from_output(&output(), 2);
    assert_eq!(small.top.users.len(), 2);
    assert_eq!(stats.rows(Table::Users).len(), 10);
}

#[test]
fn causes_and_timeline_tables() {
    let (stats, _) = summary();
    let causes = stats.causes();
    assert_eq!(causes.len(), 8);
    let bad = causes
        .iter()
        .find(|c| c.cause == Cause::BadCredentials)
        .unwrap();
    assert_eq!((bad.episodes, bad.users, bad.clients), (6, 1, 1));
    assert_eq!(bad.remedy, Cause::BadCredentials.remedy());
    let nc = causes
        .iter()
        .find(|c| c.cause == Cause::NoCredentials)
        .unwrap();
    assert_eq!((nc.episodes, nc.users, nc.clients), (1, 1, 1));

    let tl = stats.timeline();
    let minutes: Vec<i64> = tl.iter().map(|r| (r.minute.0 - at(0, 0).0) / MIN).collect();
    assert_eq!(minutes, vec![0, 1, 2, 3, 4, 5, 7, 9, 11, 13, 30, 40, 41]);
    let m0 = &tl[0];
    assert_eq!(m0.minute, at(0, 0));
    assert_eq!(m0.failed, 7);
    assert_eq!(m0.authenticated, 0);
    assert_eq!(m0.challenges, 12);
    let m41 = tl.last().unwrap();
    assert_eq!(m41.authenticated, 2);
    let v = serde_json::to_value(m0).unwrap();
    assert_eq!(v["minute"], at(0, 0).rfc3339());
    assert_eq!(v["failed_bad_credentials"], 0);
    assert_eq!(v["failed_proxy_unreachable"], 1);
    let v5 = serde_json::to_value(&tl[5]).unwrap();
    assert_eq!(v5["failed_bad_credentials"], 1);
    assert_eq!(v5["challenges"], 2);
}

#[test]
fn incremental_equals_batch_in_any_order() {
    let out = output();
    let (_, batch) = Summary::from_output(&out, 10);
    let mut eps = out.analysis.episodes.clone();
    eps.reverse();
    let mut live = Stats::new();
    for e in &eps {
        live.add_episode(e);
    }
    for t in &out.analysis.transactions {
        live.add_transaction(t);
    }
    let s = Summary::build(
        &live,
        &out.capture,
        &out.http,
        &out.anomalies,
        &out.floods,
        &out.notices,
        10,
    );
    assert_eq!(s, batch);
}

#[test]
fn two_stats_merge_into_the_stats_of_both_inputs() {
    let out = output();
    let (whole, batch) = Summary::from_output(&out, 10);
    // Split the records between two aggregators (transactions first on one side, as the
    // order does not matter), then merge.
    let (mut a, mut b) = (Stats::new(), Stats::new());
    for t in &out.analysis.transactions {
        b.add_transaction(t);
    }
    for (i, e) in out.analysis.episodes.iter().enumerate() {
        if i % 3 == 0 {
            a.add_episode(e)
        } else {
            b.add_episode(e)
        }
    }
    a.merge(&b);
    let merged = Summary::build(
        &a,
        &out.capture,
        &out.http,
        &out.anomalies,
        &out.floods,
        &out.notices,
        10,
    );
    assert_eq!(merged, batch);
    for t in Table::ALL {
        assert_eq!(a.rows(t), whole.rows(t), "{t:?}");
    }
    assert_eq!(a.causes(), whole.causes());
    assert_eq!(a.timeline(), whole.timeline());
}

#[test]
fn keys_beyond_the_limit_are_one_counted_other_row() {
    let out = output();
    let limits = proxy407::stats::StatsLimits {
        max_keys: 2,
        max_distinct: 2,
    };
    let mut s = Stats::with_limits(limits);
    for e in &out.analysis.episodes {
        s.add_episode(e);
    }
    let whole = Stats::from_episodes(&out.analysis.episodes);
    for t in Table::ALL {
        let rows = s.rows(t);
        let all = whole.rows(t);
        if all.len() <= 2 {
            assert_eq!(rows, all);
            continue;
        }
        // Two keys of their own, the rest in `(other)`: every episode is still counted.
        assert_eq!(rows.len(), 3, "{t:?}");
        let other = rows
            .iter()
            .find(|r| r.key == proxy407::stats::OTHER_KEY)
            .unwrap();
        assert_eq!(other.episodes, s.folded(t));
        let sum: u64 = rows.iter().map(|r| r.episodes).sum();
        assert_eq!(sum, whole.totals().total, "{t:?}");
    }
    // Distinct counts stop at their limit.
    assert!(s.causes().iter().all(|c| c.users <= 2 && c.clients <= 2));
    assert_eq!(s.totals(), whole.totals());
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

const COMMON_COLUMNS: &[&str] = &[
    "episodes",
    "authenticated",
    "failed",
    "unresolved",
    "failed_handshake_broken",
    "failed_scheme_mismatch",
    "failed_bad_credentials",
    "failed_no_credentials",
    "failed_denied",
    "failed_connection_closed",
    "failed_no_response",
    "failed_proxy_unreachable",
    "challenges",
    "credential_attempts",
    "lockout_risk",
    "cleartext_basic",
    "ntlm_fallback",
    "ntlmv1",
    "stale_nonce",
    "oversized_token",
    "capture_gap",
    "domain_mismatch",
    "time_to_auth_p50_ms",
    "time_to_auth_p95_ms",
    "first_seen",
    "last_seen",
];

#[test]
fn json_has_exactly_the_spec_names() {
    let (_, s) = summary();
    let v: Value = serde_json::from_str(&render_json(&s)).unwrap();
    assert_eq!(
        keys(&v),
        set(&[
            "capture",
            "http",
            "episodes",
            "causes",
            "findings",
            "anomalies",
            "schemes",
            "time_to_auth_ms",
            "top",
            "floods",
            "notices"
        ])
    );
    let spec_capture = [
        "files",
        "packets",
        "bytes",
        "first_ts",
        "last_ts",
        "link_types",
        "tcp_connections",
        "proxy_connections",
        "truncated_packets",
        "gap_bytes",
        "tls_proxy_connections",
        "decode_errors",
    ];
    assert!(keys(&v["capture"]).is_superset(&set(&spec_capture)));
    assert_eq!(v["capture"]["first_ts"], "2026-11-18T11:06:00.000000Z");
    // The documented keys (`docs/verdicts.md` §6.2), then the tunnel counts.
    assert_eq!(
        keys(&v["http"]),
        set(&[
            "requests",
            "responses",
            "responses_407",
            "connect_requests",
            "credentialed_requests",
            "unanswered_requests",
            "tunneled_requests",
            "tunneled_responses"
        ])
    );
    assert_eq!(
        keys(&v["episodes"]),
        set(&["total", "authenticated", "failed", "unresolved"])
    );
    assert_eq!(
        keys(&v["causes"]),
        Cause::ALL.iter().map(|c| c.as_str().to_string()).collect()
    );
    assert_eq!(
        keys(&v["findings"]),
        set(&[
            "lockout_risk",
            "cleartext_basic",
            "ntlm_fallback",
            "ntlmv1",
            "stale_nonce",
            "oversized_token",
            "capture_gap",
            "domain_mismatch"
        ])
    );
    assert_eq!(keys(&v["schemes"]), set(&["offered", "used"]));
    assert_eq!(keys(&v["time_to_auth_ms"]), set(&["p50", "p95", "max"]));
    assert_eq!(
        keys(&v["top"]),
        set(&["users", "clients", "proxies", "targets"])
    );
    let extra: [(&str, &str, &[&str]); 4] = [
        (
            "users",
            "user",
            &[
                "domain",
                "client_ips",
                "workstations",
                "schemes",
                "user_agents",
                "max_failures_10min",
            ],
        ),
        ("clients", "client_ip", &["users"]),
        ("proxies", "proxy", &["users", "clients"]),
        ("targets", "target", &["users", "clients"]),
    ];
    for (table, key, more) in extra {
        let mut want = set(COMMON_COLUMNS);
        want.insert(key.to_string());
        want.extend(more.iter().map(|s| s.to_string()));
        let rows = v["top"][table].as_array().unwrap();
        assert!(!rows.is_empty());
        for r in rows {
            assert_eq!(keys(r), want, "{table}");
        }
    }
    let alice = &v["top"]["users"][0];
    assert_eq!(alice["user"], "alice");
    assert_eq!(alice["failed_bad_credentials"], 6);
    assert_eq!(alice["first_seen"], at(5, 0).rfc3339());
    assert!(alice["time_to_auth_p50_ms"].is_null());
    assert_eq!(
        v["notices"][0],
        "a.pcap: at byte offset 4096: record cut off"
    );
}

#[test]
fn table_columns_match_serialized_rows() {
    let (stats, _) = summary();
    for t in Table::ALL {
        let row = stats.rows(t).into_iter().next().unwrap();
        let v = serde_json::to_value(&row).unwrap();
        let got: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        let mut want = t.columns();
        want.sort();
        let mut got_sorted = got.clone();
        got_sorted.sort();
        assert_eq!(got_sorted, want, "{}", t.as_str());
    }
}

#[test]
fn capture_health_lists_the_anomalies_met() {
    let (stats, s) = summary();
    let text = render_text(
        &stats,
        &s,
        &TextOptions {
            color: false,
            ..Default::default()
        },
    );
    let health = text.split("Capture health").nth(1).unwrap();
    let bad_chunk = Anomaly::from(HttpAnomaly::BadChunk);
    let gap = Anomaly::from(ReassemblyAnomaly::Gap);
    // Most frequent first, each with its explanation.
    let lines: Vec<&str> = health
        .lines()
        .skip_while(|l| l.trim() != "anomalies:")
        .skip(1)
        .take(2)
        .collect();
    assert_eq!(
        lines,
        [
            format!("    http.bad_chunk  2  {}", bad_chunk.explanation()),
            format!("    reassembly.gap  1  {}", gap.explanation()),
        ]
    );
    // Names never met are not listed.
    for a in Anomaly::all().filter(|a| ![bad_chunk, gap].contains(a)) {
        assert!(!text.contains(a.name()), "{a}");
    }
    let v: Value = serde_json::from_str(&render_json(&s)).unwrap();
    assert_eq!(v["anomalies"]["http.bad_chunk"], 2);
    assert_eq!(v["anomalies"]["reassembly.gap"], 1);
    assert_eq!(
        keys(&v["anomalies"]),
        Anomaly::all().map(|a| a.name().to_string()).collect()
    );
    // Without any, the section has no anomaly list.
    let quiet = Summary::build(
        &stats,
        &s.capture,
        &s.http,
        &Anomalies::default(),
        &[],
        &[],
        10,
    );
    let text = render_text(
        &stats,
        &quiet,
        &TextOptions {
            color: false,
            ..Default::default()
        },
    );
    assert!(!text.contains("anomalies:"));
}

#[test]
fn text_report_is_a_diagnosis() {
    let (stats, s) = summary();
    let text = render_text(
        &stats,
        &s,
        &TextOptions {
            color: false,
            ..Default::default()
        },
    );
    assert!(!text.contains('\x1b'));
    for c in Cause::ALL {
        assert!(text.contains(c.remedy()), "remedy of {c} missing");
        assert!(text.contains(c.meaning()), "meaning of {c} missing");
    }
    assert!(text.contains("Most failures: bad_credentials (6 of 13)"));
    assert!(text.contains("users affected 5 of 9"));
    assert!(text.contains("Top users"));
    // The top user leads its table.
    let after = text.split("Top users").nth(1).unwrap();
    let first_row = after.lines().nth(2).unwrap();
    assert!(first_row.trim_start().starts_with("alice"), "{first_row}");
    assert!(text.contains("lockout_risk  1 user: alice"));
    assert!(text.contains("cleartext_basic  8 requests in 7 episodes"));
    assert!(text.contains("bad_credentials  6 episodes, 1 user, 1 client"));
    assert!(text.contains("ntlm_fallback"));
    assert!(text.contains("oversized_token"));
    assert!(text.contains("ntlmv1"));
    assert!(text.contains("p50 30 ms   p95 60 ms   max 60 ms"));
    assert!(text.contains("10.9.9.9:3128"));
    assert!(text.contains("intranet.example:80"));
    // 1460 gap bytes: the capture is called lossy, before the causes.
    let warn = text.find("WARNING: the capture is lossy").unwrap();
    assert!(warn < text.find("Failures by cause").unwrap());
    assert!(text.contains("1 episode crossed a gap"));
    assert!(text.contains("a.pcap: at byte offset 4096: record cut off"));
    assert!(!text.contains("--proxy-port"));
    // Every line of the tables fits 100 columns.
    for l in text
        .lines()
        .filter(|l| l.starts_with("  ") && !l.contains(':'))
    {
        assert!(l.chars().count() <= 100, "{l}");
    }

    let colored = render_text(
        &stats,
        &s,
        &TextOptions {
            color: true,
            ..Default::default()
        },
    );
    assert!(colored.contains("\x1b[1;31m"));
}

#[test]
fn clean_capture_and_no_proxy_connections() {
    let mut out = output();
    out.capture.gap_bytes = 0;
    out.analysis
        .episodes
        .retain(|e| !e.findings.contains(&Finding::CaptureGap));
    let text = analyze_report(&out, 5, false, false);
    assert!(!text.contains("WARNING"));
    assert!(text.contains("no loss seen"));

    let mut empty = EngineOutput::default();
    empty.capture.packets = 12;
    empty.capture.tcp_connections = 3;
    let text = analyze_report(&empty, 5, false, false);
    assert!(text.contains("No proxy connection found among 3 TCP connections"));
    assert!(text.contains("--proxy-port"));
    assert!(text.contains("no authenticated episode"));
    let json: Value = serde_json::from_str(&analyze_report(&empty, 5, true, false)).unwrap();
    assert_eq!(json["episodes"]["total"], 0);
    assert_eq!(json["capture"]["packets"], 12);
}

/// The analyze output as the CLI makes it with `--pseudonymize`.
fn pseudo_report(out: &EngineOutput, p: &Pseudonymizer, json: bool) -> String {
    let mut out = out.clone();
    pseudonymize(
        &mut out.analysis.episodes,
        &mut out.analysis.transactions,
        p,
    );
    analyze_report(&out, 10, json, false)
}

#[test]
fn pseudonymization_hides_names_in_every_view() {
    let out = output();
    let p = Pseudonymizer::new("secret-key", true);
    let json = pseudo_report(&out, &p, true);
    let text = pseudo_report(&out, &p, false);
    for view in [&json, &text] {
        for real in [
            "alice",
            "bob",
            "dave",
            "judy",
            "CORP",
            "PC1",
            "10.0.0.1",
            "10.0.0.3",
            "2001:db8::6",
        ] {
            assert!(!view.contains(real), "{real} left in a view");
        }
        assert!(view.contains(&p.name("user", "alice")));
    }
    // Stable for one key, different for another.
    assert_eq!(json, pseudo_report(&out, &p, true));
    let other = pseudo_report(&out, &Pseudonymizer::new("other", true), true);
    assert!(!other.contains(&p.name("user", "alice")));
    // Same totals as without pseudonyms; the proxy address is not a client's and stays.
    let v: Value = serde_json::from_str(&json).unwrap();
    let plain: Value = serde_json::from_str(&analyze_report(&out, 10, true, false)).unwrap();
    assert_eq!(v["episodes"], plain["episodes"]);
    assert_eq!(v["causes"], plain["causes"]);
    assert_eq!(v["findings"], plain["findings"]);
    assert_eq!(v["top"]["proxies"][0]["proxy"], "10.9.9.9:3128");
    assert_eq!(v["top"]["users"][0]["max_failures_10min"], 5);

    // Names only: client addresses stay.
    let names_only = Pseudonymizer::new("secret-key", false);
    let text = pseudo_report(&out, &names_only, false);
    assert!(text.contains("10.0.0.1"));
    assert!(!text.contains("alice"));

    // The records themselves: transactions too, community_id emptied with the addresses.
    let mut eps = out.analysis.episodes.clone();
    let mut txs = out.analysis.transactions.clone();
    pseudonymize(&mut eps, &mut txs, &p);
    assert!(eps.iter().all(|e| e.user.as_deref() != Some("alice")));
    assert!(txs
        .iter()
        .all(|t| t.user.as_deref() != Some("alice") && t.domain.as_deref() != Some("CORP")));
    assert!(txs.iter().all(|t| t.community_id.is_empty()));
    assert_eq!(eps[0].client_ip, txs[0].client_ip);
    assert_ne!(eps[0].client_ip, ip("10.0.0.1"));
    assert!(eps.iter().filter(|e| e.user.is_none()).count() == 3);
}

/// The report of a sample in Japanese: every message found, the cause names and remedies
/// in Japanese, and each top table's numbers right-aligned under their headers by display
/// width (a CJK character takes two cells).
#[test]
fn japanese_report_aligns_by_display_width() {
    use proxy407::i18n::Lang;
    use unicode_width::UnicodeWidthStr;
    let mix = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/office-mix.pcap");
    let cli = <proxy407::cli::Cli as clap::Parser>::try_parse_from(["proxy407", "analyze", mix])
        .expect("arguments");
    let proxy407::cli::Command::Analyze(a) = cli.command else {
        panic!("analyze")
    };
    let out = proxy407::app::collect(&a.input, false).expect("the sample reads");
    let (stats, s) = Summary::from_output(&out, 10);
    let ja = render_text(
        &stats,
        &s,
        &TextOptions {
            color: false,
            lang: Lang::Ja,
        },
    );
    assert!(!ja.contains('⟦'), "{ja}");
    // The capture health's anomalies keep their names and explain themselves in Japanese.
    let anomaly = line_of(&ja, "auth.ntlm_buffer_out_of_bounds");
    assert!(anomaly.contains("NTLMSSP のフィールド"), "{anomaly}");
    for w in [
        "原因別の失敗",
        "認証情報の誤り (bad_credentials)",
        "対処：",
        "予防：",
        "所見",
    ] {
        assert!(ja.contains(w), "{w} missing:\n{ja}");
    }
    let en = render_text(&stats, &s, &TextOptions::default());
    assert!(en.contains("prevent: ") && !en.contains("予防"));
    let mut tables = 0;
    let lines: Vec<&str> = ja.lines().collect();
    for (i, head) in lines.iter().enumerate() {
        let Some(at) = head.find("未確定") else {
            continue;
        };
        if !head.contains("主な原因") {
            continue;
        }
        tables += 1;
        let end = UnicodeWidthStr::width(&head[..at + "未確定".len()]);
        let rows: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|l| !l.is_empty())
            .copied()
            .collect();
        assert!(!rows.is_empty());
        for r in rows {
            // The cells up to the unresolved column, cut at its right edge by display width.
            let mut w = 0;
            let mut cut = r.len();
            for (j, ch) in r.char_indices() {
                if w >= end {
                    cut = j;
                    break;
                }
                w += unicode_width::UnicodeWidthChar::width(ch).unwrap_or(0);
            }
            let (left, right) = r.split_at(cut);
            assert!(
                left.ends_with(|c: char| c.is_ascii_digit()) && right.starts_with(' '),
                "misaligned under {head:?}: {r:?}"
            );
        }
    }
    assert_eq!(tables, 4, "{ja}");
}

fn line_of<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?}:\n{text}"))
}

/// A detail with a remedy of its own (`new_challenge_after_type3`: a balancer split an NTLM
/// handshake) adds that remedy under its cause, counted, in both languages; a detail without
/// one (`rounds`) adds nothing, and the counts of the causes stay as they were.
#[test]
fn a_detail_with_its_own_remedy_is_said_under_its_cause() {
    use proxy407::i18n::Lang;
    let split = |id, client, detail: &str| {
        let mut e =
            Ep::new(id, Some("ann"), client, at(0, id as i64)).failed(Cause::BadCredentials);
        e.0.detail = Some(detail.to_string());
        e.0
    };
    let eps = vec![
        split(1, "10.0.0.1", "new_challenge_after_type3 rounds=1"),
        split(2, "10.0.0.2", "new_challenge_after_type3 rounds=2"),
        split(3, "10.0.0.3", "rounds=1"),
    ];
    let stats = Stats::from_episodes(&eps);
    assert_eq!(
        stats.cause_details(Cause::BadCredentials),
        vec![
            ("new_challenge_after_type3".to_string(), 2),
            ("rounds".to_string(), 3)
        ]
    );
    let s = Summary::build(
        &stats,
        &CaptureCounters::default(),
        &HttpCounters::default(),
        &Anomalies::default(),
        &[],
        &[],
        10,
    );
    let en = render_text(
        &stats,
        &s,
        &TextOptions {
            color: false,
            ..Default::default()
        },
    );
    let line = en
        .lines()
        .find(|l| l.contains("fresh NTLM challenge"))
        .unwrap_or_else(|| panic!("{en}"));
    assert!(line.contains("2 of them"), "{line}");
    assert!(line.contains("sticky"), "{line}");
    let ja = render_text(
        &stats,
        &s,
        &TextOptions {
            color: false,
            lang: Lang::Ja,
        },
    );
    assert!(ja.contains("ロードバランサー"), "{ja}");
    assert!(ja.contains("うち 2 件"), "{ja}");
    // Without the detail, no such line.
    let plain = Stats::from_episodes(&eps[2..]);
    let s = Summary::build(
        &plain,
        &CaptureCounters::default(),
        &HttpCounters::default(),
        &Anomalies::default(),
        &[],
        &[],
        10,
    );
    let text = render_text(
        &plain,
        &s,
        &TextOptions {
            color: false,
            ..Default::default()
        },
    );
    assert!(!text.contains("fresh NTLM challenge"), "{text}");
}
