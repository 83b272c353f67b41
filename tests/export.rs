//! The exported tables: built from hand-made episodes and transactions, checked for shape,
//! types and group-by results, and written in every format and read back (polars, serde_json,
//! and DuckDB when it is installed).

use polars::prelude::*;
use proxy407::export::{build_tables, write_tables, Format, TableName, Tables};
use proxy407::model::{Cause, Episode, Finding, Outcome, Transaction, Ts, UserSource};
use std::net::IpAddr;
use std::path::Path;

const UA_WIN: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64)";
const T0: &str = "2026-11-28T08:19:36.123456Z";

fn t0() -> Ts {
    Ts::parse_rfc3339(T0).unwrap()
}

fn at(secs: i64) -> Ts {
    t0().plus_micros(secs * 1_000_000)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[allow(clippy::too_many_arguments)]
fn episode(
    id: u64,
    start_s: i64,
    client: &str,
    proxy: (&str, u16),
    target: &str,
    user: Option<&str>,
    outcome: Outcome,
    cause: Option<Cause>,
    findings: &[Finding],
    time_to_auth_ms: Option<f64>,
) -> Episode {
    Episode {
        episode_id: id,
        start_ts: at(start_s),
        end_ts: at(start_s + 2),
        client_ip: ip(client),
        proxy_ip: ip(proxy.0),
        proxy_port: proxy.1,
        target: target.to_string(),
        user: user.map(str::to_string),
        domain: user.map(|_| "CORP".to_string()),
        workstation: user.map(|u| format!("WS-{u}")),
        user_source: user.map(|_| UserSource::Credentials),
        scheme: user.map(|_| "NTLM".to_string()),
        offered_schemes: vec!["Negotiate".into(), "NTLM".into()],
        challenges: 2,
        credential_attempts: if user.is_some() { 1 } else { 0 },
        connections: 1,
        outcome,
        cause,
        detail: cause.map(|_| "rounds=1".to_string()),
        findings: findings.to_vec(),
        final_status: match outcome {
            Outcome::Authenticated => Some(200),
            Outcome::Failed => Some(407),
            Outcome::Unresolved => None,
        },
        time_to_auth_ms,
        user_agent: Some(UA_WIN.to_string()),
        capture_file: String::new(),
        frames: Vec::new(),
        frame_count: 0,
        display_filter: String::new(),
    }
}

const P1: (&str, u16) = ("10.1.1.1", 8080);
const P2: (&str, u16) = ("fd00::1", 3128);

/// alice: 2 authenticated (100, 300 ms) + 1 bad_credentials; bob: 5 bad_credentials within
/// 9 minutes, then 2 more 30 minutes later; carol (same host as bob) authenticated 50 ms,
/// and one unresolved; no user: no_credentials and proxy_unreachable; an IPv6 client.
#[rustfmt::skip]
fn sample_episodes() -> Vec<Episode> {
    use Cause::*;
    use Finding::*;
    use Outcome::*;
    let mut v = vec![
        episode(1, 0, "10.0.0.1", P1, "a.example:443", Some("alice"), Authenticated, None, &[CleartextBasic], Some(100.0)),
        episode(2, 10, "10.0.0.1", P1, "a.example:443", Some("alice"), Authenticated, None, &[CleartextBasic], Some(300.0)),
        episode(3, 20, "10.0.0.1", P1, "b.example:443", Some("alice"), Failed, Some(BadCredentials), &[], None),
    ];
    for (i, s) in [60, 120, 240, 400, 600].into_iter().enumerate() {
        v.push(episode(10 + i as u64, s, "10.0.0.2", P1, "b.example:443", Some("bob"), Failed, Some(BadCredentials), &[LockoutRisk], None));
    }
    v.push(episode(20, 2400, "10.0.0.2", P2, "b.example:443", Some("bob"), Failed, Some(BadCredentials), &[LockoutRisk], None));
    v.push(episode(21, 2460, "10.0.0.2", P2, "b.example:443", Some("bob"), Failed, Some(BadCredentials), &[], None));
    v.push(episode(30, 30, "10.0.0.2", P1, "c.example:80", Some("carol"), Authenticated, None, &[NtlmFallback], Some(50.0)));
    v.push(episode(31, 35, "10.0.0.2", P1, "c.example:80", Some("carol"), Unresolved, None, &[CaptureGap], None));
    v.push(episode(40, 50, "10.0.0.3", P1, "a.example:443", None, Failed, Some(NoCredentials), &[], None));
    v.push(episode(41, 70, "10.0.0.3", P2, "", None, Failed, Some(ProxyUnreachable), &[], None));
    v.push(episode(50, 90, "2001:db8::7", P2, "a.example:443", Some("alice"), Failed, Some(HandshakeBroken), &[], None));
    v
}

fn sample_transactions() -> Vec<Transaction> {
    let base = Transaction {
        ts: at(0),
        response_ts: Some(at(0).plus_micros(1500)),
        conn_id: 1,
        community_id: "1:LQU9qZlK+B5F3KDmev6m5PMibrg=".into(),
        client_ip: ip("10.0.0.1"),
        client_port: 50000,
        proxy_ip: ip("10.1.1.1"),
        proxy_port: 8080,
        method: "CONNECT".into(),
        target: "a.example:443".into(),
        status: Some(407),
        offered_schemes: vec!["Negotiate".into(), "NTLM".into(), "Basic".into()],
        auth_scheme: None,
        auth_step: None,
        user: None,
        domain: None,
        workstation: None,
        user_agent: Some(UA_WIN.into()),
        episode_id: Some(1),
        lockout_account: None,
        findings: Vec::new(),
        capture_file: String::new(),
        frames: Vec::new(),
        display_filter: String::new(),
    };
    let second = Transaction {
        ts: at(1),
        response_ts: Some(at(1).plus_micros(900)),
        status: Some(200),
        offered_schemes: vec![],
        auth_scheme: Some("NTLM".into()),
        auth_step: Some("authenticate".into()),
        user: Some("alice".into()),
        domain: Some("CORP".into()),
        workstation: Some("WS-alice".into()),
        ..base.clone()
    };
    let unanswered = Transaction {
        ts: at(35),
        response_ts: None,
        conn_id: 7,
        client_ip: ip("2001:db8::7"),
        proxy_ip: ip("fd00::1"),
        proxy_port: 3128,
        method: "GET".into(),
        target: "http://c.example/".into(),
        status: None,
        offered_schemes: vec![],
        user_agent: None,
        episode_id: None,
        ..base.clone()
    };
    // alice's Basic requests of episodes 1 and 2: the per-key `cleartext_basic` counts them.
    let basic = |episode: u64, t: i64| Transaction {
        ts: at(t),
        response_ts: Some(at(t).plus_micros(700)),
        conn_id: 10 + episode,
        status: Some(200),
        offered_schemes: vec![],
        auth_scheme: Some("Basic".into()),
        auth_step: Some("basic".into()),
        user: Some("alice".into()),
        episode_id: Some(episode),
        findings: vec![Finding::CleartextBasic],
        ..base.clone()
    };
    vec![base.clone(), second, unanswered, basic(1, 1), basic(2, 11)]
}

fn tables() -> Tables {
    build_tables(&sample_episodes(), &sample_transactions()).expect("tables")
}

fn names(df: &DataFrame) -> Vec<String> {
    df.get_column_names()
        .into_iter()
        .map(|n| n.to_string())
        .collect()
}

fn dtype(df: &DataFrame, col: &str) -> DataType {
    df.column(col).unwrap().dtype().clone()
}

fn utc_us() -> DataType {
    DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
}

fn list_str() -> DataType {
    DataType::List(Box::new(DataType::String))
}

fn common_key_columns() -> Vec<String> {
    let mut v: Vec<String> = ["episodes", "authenticated", "failed", "unresolved"]
        .map(String::from)
        .to_vec();
    v.extend(Cause::ALL.iter().map(|c| format!("failed_{c}")));
    v.push("challenges".into());
    v.push("credential_attempts".into());
    v.extend(Finding::ALL.iter().map(|f| f.to_string()));
    v.extend(
        [
            "time_to_auth_p50_ms",
            "time_to_auth_p95_ms",
            "first_seen",
            "last_seen",
        ]
        .map(String::from),
    );
    v
}

fn key_columns(key: &str, extra: &[&str]) -> Vec<String> {
    let mut v = vec![key.to_string()];
    v.extend(common_key_columns());
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// The row of `df` whose `col` equals `key` (None: the null key).
fn row_of(df: &DataFrame, col: &str, key: Option<&str>) -> usize {
    let c = df.column(col).unwrap().str().unwrap();
    c.iter()
        .position(|v| v == key)
        .unwrap_or_else(|| panic!("no row {key:?} in {col}"))
}

fn u64_at(df: &DataFrame, col: &str, row: usize) -> u64 {
    df.column(col).unwrap().u64().unwrap().get(row).unwrap()
}

fn f64_at(df: &DataFrame, col: &str, row: usize) -> Option<f64> {
    df.column(col).unwrap().f64().unwrap().get(row)
}

fn list_at(df: &DataFrame, col: &str, row: usize) -> Vec<String> {
    let s = df
        .column(col)
        .unwrap()
        .list()
        .unwrap()
        .get_as_series(row)
        .unwrap();
    s.str()
        .unwrap()
        .iter()
        .map(|v| v.unwrap().to_string())
        .collect()
}

#[test]
fn record_tables_have_the_spec_columns_and_types() {
    let t = tables();
    assert_eq!(
        names(&t.transactions),
        [
            "ts",
            "response_ts",
            "conn_id",
            "community_id",
            "client_ip",
            "client_port",
            "proxy_ip",
            "proxy_port",
            "method",
            "target",
            "status",
            "offered_schemes",
            "auth_scheme",
            "auth_step",
            "user",
            "domain",
            "workstation",
            "user_agent",
            "episode_id",
            "lockout_account",
            "findings",
            "capture_file",
            "frames",
            "display_filter"
        ]
    );
    assert_eq!(dtype(&t.transactions, "findings"), list_str());
    assert_eq!(list_at(&t.transactions, "findings", 3), ["cleartext_basic"]);
    assert_eq!(
        names(&t.episodes),
        [
            "episode_id",
            "start_ts",
            "end_ts",
            "client_ip",
            "proxy_ip",
            "proxy_port",
            "target",
            "user",
            "domain",
            "workstation",
            "user_source",
            "scheme",
            "offered_schemes",
            "challenges",
            "credential_attempts",
            "connections",
            "outcome",
            "cause",
            "detail",
            "findings",
            "final_status",
            "time_to_auth_ms",
            "user_agent",
            "capture_file",
            "frames",
            "frame_count",
            "display_filter"
        ]
    );
    assert_eq!(t.transactions.height(), 5);
    assert_eq!(t.episodes.height(), sample_episodes().len());

    assert_eq!(dtype(&t.transactions, "ts"), utc_us());
    assert_eq!(dtype(&t.transactions, "response_ts"), utc_us());
    assert_eq!(dtype(&t.transactions, "conn_id"), DataType::UInt64);
    assert_eq!(dtype(&t.transactions, "client_port"), DataType::UInt32);
    assert_eq!(dtype(&t.transactions, "status"), DataType::UInt32);
    assert_eq!(dtype(&t.transactions, "offered_schemes"), list_str());
    assert_eq!(dtype(&t.transactions, "episode_id"), DataType::UInt64);
    assert_eq!(dtype(&t.episodes, "start_ts"), utc_us());
    assert_eq!(dtype(&t.episodes, "end_ts"), utc_us());
    assert_eq!(dtype(&t.episodes, "challenges"), DataType::UInt32);
    assert_eq!(dtype(&t.episodes, "findings"), list_str());
    assert_eq!(dtype(&t.episodes, "time_to_auth_ms"), DataType::Float64);
    let list_u64 = DataType::List(Box::new(DataType::UInt64));
    assert_eq!(dtype(&t.episodes, "frames"), list_u64);
    assert_eq!(dtype(&t.transactions, "frames"), list_u64);
    assert_eq!(dtype(&t.episodes, "frame_count"), DataType::UInt32);

    // Nulls stay nulls; timestamps keep their microseconds.
    let status = t.transactions.column("status").unwrap().u32().unwrap();
    assert_eq!(status.get(2), None);
    let ts = t
        .transactions
        .column("ts")
        .unwrap()
        .cast(&DataType::Int64)
        .unwrap();
    assert_eq!(ts.i64().unwrap().get(0), Some(t0().micros()));
    let cause = t.episodes.column("cause").unwrap().str().unwrap().clone();
    assert_eq!(cause.get(0), None);
    assert_eq!(cause.get(2), Some("bad_credentials"));
    assert_eq!(list_at(&t.episodes, "findings", 0), ["cleartext_basic"]);
}

#[test]
fn per_key_tables_have_the_spec_columns_and_types() {
    let t = tables();
    let users_extra = [
        "domain",
        "client_ips",
        "workstations",
        "schemes",
        "user_agents",
        "max_failures_10min",
    ];
    assert_eq!(names(&t.users), key_columns("user", &users_extra));
    assert_eq!(names(&t.clients), key_columns("client_ip", &["users"]));
    assert_eq!(
        names(&t.proxies),
        key_columns("proxy", &["users", "clients"])
    );
    assert_eq!(
        names(&t.targets),
        key_columns("target", &["users", "clients"])
    );
    for df in [&t.users, &t.clients, &t.proxies, &t.targets] {
        for c in common_key_columns() {
            let want = match c.as_str() {
                "time_to_auth_p50_ms" | "time_to_auth_p95_ms" => DataType::Float64,
                "first_seen" | "last_seen" => utc_us(),
                _ => DataType::UInt64,
            };
            assert_eq!(dtype(df, &c), want, "{c}");
        }
    }
    assert_eq!(dtype(&t.users, "client_ips"), list_str());
    assert_eq!(dtype(&t.users, "max_failures_10min"), DataType::UInt64);
    assert_eq!(dtype(&t.proxies, "clients"), list_str());

    // alice, bob, carol, and the episodes without a user.
    assert_eq!(t.users.height(), 4);
    assert_eq!(t.clients.height(), 4);
    assert_eq!(t.proxies.height(), 2);
    assert_eq!(t.targets.height(), 4);
}

#[test]
fn users_group_by_counts_causes_findings_and_windows() {
    let t = tables();
    let u = &t.users;
    // Ordered by failed descending, then episodes: bob (7), alice (2 of 4), no user (2 of 2,
    // named `(unknown)` as in every view), carol (0).
    let keys: Vec<Option<&str>> = u.column("user").unwrap().str().unwrap().iter().collect();
    assert_eq!(
        keys,
        [Some("bob"), Some("alice"), Some("(unknown)"), Some("carol")]
    );

    let bob = row_of(u, "user", Some("bob"));
    assert_eq!(u64_at(u, "episodes", bob), 7);
    assert_eq!(u64_at(u, "failed", bob), 7);
    assert_eq!(u64_at(u, "failed_bad_credentials", bob), 7);
    assert_eq!(u64_at(u, "failed_no_credentials", bob), 0);
    assert_eq!(u64_at(u, "lockout_risk", bob), 6);
    assert_eq!(u64_at(u, "challenges", bob), 14);
    assert_eq!(u64_at(u, "max_failures_10min", bob), 5);
    assert_eq!(f64_at(u, "time_to_auth_p50_ms", bob), None);
    assert_eq!(list_at(u, "client_ips", bob), ["10.0.0.2"]);

    let alice = row_of(u, "user", Some("alice"));
    assert_eq!(u64_at(u, "episodes", alice), 4);
    assert_eq!(u64_at(u, "authenticated", alice), 2);
    assert_eq!(u64_at(u, "failed_bad_credentials", alice), 1);
    assert_eq!(u64_at(u, "failed_handshake_broken", alice), 1);
    assert_eq!(u64_at(u, "cleartext_basic", alice), 2);
    assert_eq!(u64_at(u, "max_failures_10min", alice), 2);
    // Nearest rank over [100, 300]: p50 = rank 1, p95 = rank 2.
    assert_eq!(f64_at(u, "time_to_auth_p50_ms", alice), Some(100.0));
    assert_eq!(f64_at(u, "time_to_auth_p95_ms", alice), Some(300.0));
    assert_eq!(list_at(u, "client_ips", alice), ["10.0.0.1", "2001:db8::7"]);
    assert_eq!(list_at(u, "workstations", alice), ["WS-alice"]);
    assert_eq!(list_at(u, "schemes", alice), ["NTLM"]);
    assert_eq!(list_at(u, "user_agents", alice), [UA_WIN]);
    let domain = u.column("domain").unwrap().str().unwrap().get(alice);
    assert_eq!(domain, Some("CORP"));
    let first = u
        .column("first_seen")
        .unwrap()
        .cast(&DataType::Int64)
        .unwrap();
    let last = u
        .column("last_seen")
        .unwrap()
        .cast(&DataType::Int64)
        .unwrap();
    assert_eq!(first.i64().unwrap().get(alice), Some(at(0).micros()));
    assert_eq!(last.i64().unwrap().get(alice), Some(at(92).micros()));

    let nobody = row_of(u, "user", Some("(unknown)"));
    assert_eq!(u64_at(u, "failed_no_credentials", nobody), 1);
    assert_eq!(u64_at(u, "failed_proxy_unreachable", nobody), 1);
    assert!(list_at(u, "workstations", nobody).is_empty());

    let carol = row_of(u, "user", Some("carol"));
    assert_eq!(u64_at(u, "unresolved", carol), 1);
    assert_eq!(u64_at(u, "capture_gap", carol), 1);
    assert_eq!(u64_at(u, "ntlm_fallback", carol), 1);
    assert_eq!(f64_at(u, "time_to_auth_p95_ms", carol), Some(50.0));
}

#[test]
fn clients_proxies_targets_group_by() {
    let t = tables();
    let c = &t.clients;
    let host = row_of(c, "client_ip", Some("10.0.0.2"));
    assert_eq!(u64_at(c, "episodes", host), 9);
    assert_eq!(u64_at(c, "authenticated", host), 1);
    assert_eq!(list_at(c, "users", host), ["bob", "carol"]);
    let v6 = row_of(c, "client_ip", Some("2001:db8::7"));
    assert_eq!(u64_at(c, "failed_handshake_broken", v6), 1);

    let p = &t.proxies;
    let p2 = row_of(p, "proxy", Some("[fd00::1]:3128"));
    assert_eq!(u64_at(p, "episodes", p2), 4);
    assert_eq!(list_at(p, "users", p2), ["(unknown)", "alice", "bob"]);
    assert_eq!(
        list_at(p, "clients", p2),
        ["10.0.0.2", "10.0.0.3", "2001:db8::7"]
    );
    let p1 = row_of(p, "proxy", Some("10.1.1.1:8080"));
    assert_eq!(u64_at(p, "episodes", p1), 11);
    // p50/p95 over the three authenticated episodes [50, 100, 300]: ranks 2 and 3.
    assert_eq!(f64_at(p, "time_to_auth_p50_ms", p1), Some(100.0));
    assert_eq!(f64_at(p, "time_to_auth_p95_ms", p1), Some(300.0));

    let g = &t.targets;
    let b = row_of(g, "target", Some("b.example:443"));
    assert_eq!(u64_at(g, "failed_bad_credentials", b), 8);
    assert_eq!(list_at(g, "clients", b), ["10.0.0.1", "10.0.0.2"]);
}

#[test]
fn causes_table_has_every_cause() {
    let t = tables();
    let c = &t.causes;
    assert_eq!(
        names(c),
        ["cause", "episodes", "users", "clients", "remedy"]
    );
    let causes: Vec<&str> = c
        .column("cause")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .collect();
    let all: Vec<&str> = Cause::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(causes, all);
    let bad = row_of(c, "cause", Some("bad_credentials"));
    assert_eq!(u64_at(c, "episodes", bad), 8);
    assert_eq!(u64_at(c, "users", bad), 2);
    assert_eq!(u64_at(c, "clients", bad), 2);
    // The nameless user counts as one user, as in the report.
    let nocred = row_of(c, "cause", Some("no_credentials"));
    assert_eq!(
        (u64_at(c, "episodes", nocred), u64_at(c, "users", nocred)),
        (1, 1)
    );
    let denied = row_of(c, "cause", Some("denied"));
    assert_eq!(u64_at(c, "episodes", denied), 0);
    let remedy = c.column("remedy").unwrap().str().unwrap().get(denied);
    assert_eq!(remedy, Some(Cause::Denied.remedy()));
}

#[test]
fn timeline_is_dense_per_minute() {
    let t = tables();
    let tl = &t.timeline;
    let mut want = vec!["minute", "challenges", "authenticated", "failed"]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    want.extend(Cause::ALL.iter().map(|c| format!("failed_{c}")));
    assert_eq!(names(tl), want);
    assert_eq!(dtype(tl, "minute"), utc_us());
    // 08:19 .. 09:00 (bob's last episode starts 2460 s after 08:19:36): 42 minutes.
    assert_eq!(tl.height(), 42);
    let minute = tl.column("minute").unwrap().cast(&DataType::Int64).unwrap();
    let first = Ts::parse_rfc3339("2026-11-28T08:19:00Z").unwrap();
    assert_eq!(minute.i64().unwrap().get(0), Some(first.micros()));
    let sum = |col: &str| -> u64 { tl.column(col).unwrap().u64().unwrap().sum().unwrap() };
    assert_eq!(sum("authenticated"), 3);
    assert_eq!(sum("failed"), 11);
    assert_eq!(sum("failed_bad_credentials"), 8);
    assert_eq!(sum("challenges"), 2 * sample_episodes().len() as u64);
    // The first minute (08:19:36 .. 08:19:59): episodes 1, 2 and 3.
    assert_eq!(u64_at(tl, "authenticated", 0), 2);
    assert_eq!(u64_at(tl, "failed", 0), 1);
}

#[test]
fn empty_input_gives_empty_tables_with_all_causes() {
    let t = build_tables(&[], &[]).expect("tables");
    assert_eq!(t.episodes.height(), 0);
    assert_eq!(t.users.height(), 0);
    assert_eq!(t.timeline.height(), 0);
    assert_eq!(t.causes.height(), Cause::ALL.len());
    assert_eq!(dtype(&t.episodes, "start_ts"), utc_us());
    let dir = tempfile::tempdir().unwrap();
    for f in [Format::Csv, Format::Parquet, Format::Ndjson, Format::Json] {
        let written = write_tables(&t, dir.path(), f, &[], false).unwrap();
        assert_eq!(written.len(), TableName::ALL.len());
    }
    let json = std::fs::read_to_string(dir.path().join("users.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(0));
}

#[test]
fn csv_round_trip_with_joined_lists_and_rfc3339() {
    let t = tables();
    let dir = tempfile::tempdir().unwrap();
    let written = write_tables(&t, dir.path(), Format::Csv, &[], false).unwrap();
    let want: Vec<_> = TableName::ALL
        .iter()
        .map(|n| dir.path().join(format!("{n}.csv")))
        .collect();
    assert_eq!(written, want);

    let raw = std::fs::read_to_string(dir.path().join("episodes.csv")).unwrap();
    let header = raw.split("\r\n").next().unwrap();
    assert!(
        header.starts_with("episode_id,start_ts,end_ts,client_ip"),
        "{header}"
    );
    assert_eq!(raw.matches("\r\n").count(), 1 + t.episodes.height());

    let read = |name: &str| -> DataFrame {
        CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .try_into_reader_with_file_path(Some(dir.path().join(name)))
            .unwrap()
            .finish()
            .unwrap()
    };
    let e = read("episodes.csv");
    assert_eq!(names(&e), names(&t.episodes));
    assert_eq!(e.height(), t.episodes.height());
    let col = |df: &DataFrame, c: &str, r: usize| -> Option<String> {
        df.column(c)
            .unwrap()
            .str()
            .unwrap()
            .get(r)
            .map(str::to_string)
    };
    assert_eq!(col(&e, "start_ts", 0).as_deref(), Some(T0));
    assert_eq!(
        col(&e, "end_ts", 0).as_deref(),
        Some("2026-11-28T08:19:38.123456Z")
    );
    assert_eq!(
        col(&e, "offered_schemes", 0).as_deref(),
        Some("Negotiate;NTLM")
    );
    assert_eq!(col(&e, "findings", 0).as_deref(), Some("cleartext_basic"));
    assert_eq!(col(&e, "user_agent", 0).as_deref(), Some(UA_WIN));
    assert_eq!(col(&e, "time_to_auth_ms", 0).as_deref(), Some("100.0"));
    assert_eq!(col(&e, "time_to_auth_ms", 2), None);
    assert_eq!(col(&e, "cause", 2).as_deref(), Some("bad_credentials"));

    let tx = read("transactions.csv");
    assert_eq!(
        col(&tx, "offered_schemes", 0).as_deref(),
        Some("Negotiate;NTLM;Basic")
    );
    assert_eq!(
        col(&tx, "response_ts", 0).as_deref(),
        Some("2026-11-28T08:19:36.124956Z")
    );
    assert_eq!(col(&tx, "response_ts", 2), None);
    assert_eq!(col(&tx, "client_port", 0).as_deref(), Some("50000"));

    let u = read("users.csv");
    let alice = row_of(&u, "user", Some("alice"));
    assert_eq!(
        col(&u, "client_ips", alice).as_deref(),
        Some("10.0.0.1;2001:db8::7")
    );
    // A `;` inside an item is escaped so that the join stays unambiguous.
    assert_eq!(
        col(&u, "user_agents", alice).as_deref(),
        Some(r"Mozilla/5.0 (Windows NT 10.0\; Win64\; x64)")
    );
    assert_eq!(
        col(&u, "failed_bad_credentials", alice).as_deref(),
        Some("1")
    );
    assert_eq!(col(&u, "first_seen", alice).as_deref(), Some(T0));

    let c = read("causes.csv");
    assert_eq!(c.height(), Cause::ALL.len());
}

#[test]
fn parquet_round_trip_keeps_types_and_values() {
    let t = tables();
    let dir = tempfile::tempdir().unwrap();
    write_tables(&t, dir.path(), Format::Parquet, &[], false).unwrap();
    for name in TableName::ALL {
        let file = std::fs::File::open(dir.path().join(format!("{name}.parquet"))).unwrap();
        let back = ParquetReader::new(file).finish().unwrap();
        let orig = t.get(name);
        assert_eq!(back.schema(), orig.schema(), "{name}");
        assert!(
            back.equals_missing(orig),
            "{name}: values differ after Parquet"
        );
    }
    let file = std::fs::File::open(dir.path().join("episodes.parquet")).unwrap();
    let back = ParquetReader::new(file).finish().unwrap();
    assert_eq!(dtype(&back, "start_ts"), utc_us());
    assert_eq!(dtype(&back, "findings"), list_str());
}

#[test]
fn ndjson_and_json_rows_parse() {
    let t = tables();
    let dir = tempfile::tempdir().unwrap();
    let which = [TableName::Episodes, TableName::Users];
    let nd = write_tables(&t, dir.path(), Format::Ndjson, &which, false).unwrap();
    assert_eq!(
        nd,
        [
            dir.path().join("episodes.ndjson"),
            dir.path().join("users.ndjson")
        ]
    );
    assert!(!dir.path().join("transactions.ndjson").exists());

    let text = std::fs::read_to_string(&nd[0]).unwrap();
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), t.episodes.height());
    let r0 = &rows[0];
    assert_eq!(r0["start_ts"], T0);
    assert_eq!(r0["episode_id"], 1);
    assert_eq!(
        r0["offered_schemes"],
        serde_json::json!(["Negotiate", "NTLM"])
    );
    assert_eq!(r0["findings"], serde_json::json!(["cleartext_basic"]));
    assert_eq!(r0["cause"], serde_json::Value::Null);
    assert_eq!(r0["time_to_auth_ms"], 100.0);
    assert_eq!(r0["user_agent"], UA_WIN);
    let keys: Vec<&String> = r0.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), t.episodes.width());

    let users = std::fs::read_to_string(&nd[1]).unwrap();
    let bob: serde_json::Value = serde_json::from_str(users.lines().next().unwrap()).unwrap();
    assert_eq!(bob["user"], "bob");
    assert_eq!(bob["failed_bad_credentials"], 7);
    assert_eq!(bob["client_ips"], serde_json::json!(["10.0.0.2"]));

    let js = write_tables(&t, dir.path(), Format::Json, &[TableName::Causes], false).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&js[0]).unwrap()).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), Cause::ALL.len());
    assert_eq!(arr[0]["cause"], "handshake_broken");
    assert_eq!(arr[2]["episodes"], 8);
}

#[test]
fn existing_files_need_force() {
    let t = tables();
    let dir = tempfile::tempdir().unwrap();
    let episodes = dir.path().join("episodes.csv");
    std::fs::write(&episodes, "keep me").unwrap();
    let err = write_tables(&t, dir.path(), Format::Csv, &[], false).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains(&episodes.display().to_string()), "{msg}");
    assert!(msg.contains("--force"), "{msg}");
    // Refused before anything was written.
    assert_eq!(std::fs::read_to_string(&episodes).unwrap(), "keep me");
    assert!(!dir.path().join("transactions.csv").exists());

    write_tables(&t, dir.path(), Format::Csv, &[], true).unwrap();
    assert!(std::fs::read_to_string(&episodes)
        .unwrap()
        .starts_with("episode_id,"));
    // Other formats are other files.
    write_tables(&t, dir.path(), Format::Json, &[TableName::Episodes], false).unwrap();
}

fn tmp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn failed_write_names_the_file_and_leaves_no_temporary() {
    let t = tables();
    let dir = tempfile::tempdir().unwrap();
    // A directory where the table should go: the rename fails even for root.
    let blocker = dir.path().join("users.parquet");
    std::fs::create_dir(&blocker).unwrap();
    std::fs::write(blocker.join("x"), "x").unwrap();
    let err = write_tables(&t, dir.path(), Format::Parquet, &[], true).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains(&blocker.display().to_string()), "{msg}");
    assert!(
        tmp_files(dir.path()).is_empty(),
        "{:?}",
        tmp_files(dir.path())
    );
    // The tables before it were written whole.
    let file = std::fs::File::open(dir.path().join("episodes.parquet")).unwrap();
    assert_eq!(
        ParquetReader::new(file).finish().unwrap().height(),
        t.episodes.height()
    );

    // A parent that is a file: the directory cannot be created.
    let file_parent = dir.path().join("plain");
    std::fs::write(&file_parent, "x").unwrap();
    let out = file_parent.join("out");
    let err = write_tables(&t, &out, Format::Csv, &[], false).unwrap_err();
    assert!(
        format!("{err:#}").contains(&out.display().to_string()),
        "{err:#}"
    );
}

#[test]
fn read_only_directory_names_the_file() {
    use std::os::unix::fs::PermissionsExt;
    let t = tables();
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    if std::fs::write(ro.join("probe"), "x").is_ok() {
        // Running as root: permissions do not stop writes; the directory case above covers
        // the failure path.
        println!("note: read-only directory is writable here (root); skipping");
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
        return;
    }
    let err = write_tables(&t, &ro, Format::Csv, &[TableName::Users], false).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains(&ro.join("users.csv").display().to_string()),
        "{msg}"
    );
    assert!(tmp_files(&ro).is_empty());
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn format_and_table_names_parse() {
    assert_eq!("parquet".parse::<Format>(), Ok(Format::Parquet));
    assert_eq!("NDJSON".parse::<Format>(), Ok(Format::Ndjson));
    assert!("xlsx".parse::<Format>().is_err());
    assert_eq!(Format::Csv.extension(), "csv");
    for n in TableName::ALL {
        assert_eq!(n.as_str().parse::<TableName>(), Ok(n));
    }
}

const DUCKDB_CHECK: &str = r#"
import sys, duckdb
d = sys.argv[1]
con = duckdb.connect()
def q(sql):
    return con.execute(sql).fetchall()
out = []
for name in ("episodes", "users", "transactions"):
    for ext, reader in (("parquet", "read_parquet"), ("ndjson", "read_json_auto")):
        path = f"{d}/{name}.{ext}"
        n = q(f"select count(*) from {reader}('{path}')")[0][0]
        types = {r[0]: r[1] for r in q(f"describe select * from {reader}('{path}')")}
        out.append(f"{name}.{ext} rows={n}")
        for col in ("start_ts", "first_seen", "ts", "offered_schemes", "findings", "client_ips", "failed"):
            if col in types:
                out.append(f"{name}.{ext} {col}={types[col]}")
print("\n".join(out))
"#;

#[test]
fn duckdb_reads_parquet_and_ndjson() {
    let has_duckdb = std::process::Command::new("python3")
        .args(["-c", "import duckdb"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_duckdb {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but the python duckdb package is missing (pip install duckdb)"
        );
        println!("note: python3 duckdb not installed; skipping the DuckDB check");
        return;
    }
    let t = tables();
    let dir = tempfile::tempdir().unwrap();
    write_tables(&t, dir.path(), Format::Parquet, &[], false).unwrap();
    write_tables(&t, dir.path(), Format::Ndjson, &[], false).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-c", DUCKDB_CHECK])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let has = |l: &str| assert!(lines.contains(&l), "missing `{l}` in:\n{stdout}");
    let n = t.episodes.height();
    for ext in ["parquet", "ndjson"] {
        has(&format!("episodes.{ext} rows={n}"));
        has(&format!("users.{ext} rows=4"));
        has(&format!("transactions.{ext} rows=5"));
        has(&format!("episodes.{ext} offered_schemes=VARCHAR[]"));
        has(&format!("episodes.{ext} findings=VARCHAR[]"));
        has(&format!("users.{ext} client_ips=VARCHAR[]"));
    }
    has("episodes.parquet start_ts=TIMESTAMP WITH TIME ZONE");
    has("users.parquet first_seen=TIMESTAMP WITH TIME ZONE");
    has("transactions.parquet ts=TIMESTAMP WITH TIME ZONE");
    has("users.parquet failed=UBIGINT");
    has("episodes.ndjson start_ts=TIMESTAMP WITH TIME ZONE");
}
