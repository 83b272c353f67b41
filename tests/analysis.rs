//! The episode and verdict engine (`docs/verdicts.md` §3–§5) fed with hand-built events: one
//! sequence per cause and finding, and the chaining cases that matter in the field.

use proxy407::analysis::{AnalysisConfig, AnalysisEvent, Analyzer, ConnRef, Exchange};
use proxy407::anomaly::AnalysisAnomaly;
use proxy407::auth::{AuthStep, Challenge, Credentials, NtlmVersion, Scheme};
use proxy407::http::Unanswered;
use proxy407::model::{AnalysisOutput, Cause, Episode, Finding, Outcome, Side, Ts, UserSource};
use std::net::IpAddr;

const T0: i64 = 1_700_000_000_000_000;

fn at(ms: i64) -> Ts {
    Ts(T0 + ms * 1000)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

fn conn_from(id: u64, client: &str) -> ConnRef {
    ConnRef {
        conn_id: id,
        community_id: format!("1:test{id}"),
        client_ip: ip(client),
        client_port: 40000 + (id as u16),
        proxy_ip: ip("10.0.0.1"),
        proxy_port: 3128,
    }
}

fn conn(id: u64) -> ConnRef {
    conn_from(id, "192.168.1.10")
}

fn creds(scheme: Scheme, step: AuthStep, user: Option<&str>) -> Credentials {
    Credentials {
        scheme,
        step,
        user: user.map(str::to_string),
        domain: None,
        workstation: None,
        realm: None,
        service_principal: None,
        ntlm_version: None,
        ntlm_in_negotiate: false,
        header_len: 60,
        anomaly: None,
    }
}

fn basic(user: &str) -> Credentials {
    creds(Scheme::Basic, AuthStep::Basic, Some(user))
}

fn digest(user: &str) -> Credentials {
    creds(Scheme::Digest, AuthStep::Digest, Some(user))
}

fn ntlm1() -> Credentials {
    creds(Scheme::Ntlm, AuthStep::NtlmType1, None)
}

fn ntlm3(user: &str) -> Credentials {
    let mut c = creds(Scheme::Ntlm, AuthStep::NtlmType3, Some(user));
    c.domain = Some("CORP".into());
    c.workstation = Some("WS01".into());
    c.ntlm_version = Some(NtlmVersion::V2);
    c
}

fn kerberos() -> Credentials {
    let mut c = creds(Scheme::Negotiate, AuthStep::Kerberos, None);
    c.realm = Some("CORP.EXAMPLE".into());
    c.service_principal = Some("HTTP/proxy.corp.example".into());
    c.header_len = 2400;
    c
}

fn ch(scheme: Scheme) -> Challenge {
    Challenge::new(scheme)
}

fn type2() -> Challenge {
    let mut c = ch(Scheme::Ntlm);
    c.step = Some(AuthStep::NtlmType2);
    c.target_name = Some("CORP".into());
    c
}

fn offer_ntlm_basic() -> Vec<Challenge> {
    vec![ch(Scheme::Ntlm), ch(Scheme::Basic)]
}

/// One exchange under construction.
struct X(Exchange);

/// A request sent `ms` after T0. Its number on the connection is its time in ms, so
/// requests of one connection are numbered in the order sent (pipelined ones sharing a time
/// are numbered apart with [`X::seq`]).
fn get(c: &ConnRef, ms: i64, url: &str) -> X {
    X(Exchange {
        conn: c.clone(),
        seq: u64::try_from(ms).expect("requests after T0"),
        req_ts: at(ms),
        method: "GET".into(),
        target: url.into(),
        user_agent: Some("TestAgent/1.0".into()),
        credentials: None,
        resp_ts: None,
        status: None,
        challenges: Vec::new(),
        www_challenges: Vec::new(),
        response_close: false,
        unanswered: None,
        after_gap: false,
        req_frames: Default::default(),
        resp_frames: None,
    })
}

fn connect(c: &ConnRef, ms: i64, target: &str) -> X {
    let mut x = get(c, ms, target);
    x.0.method = "CONNECT".into();
    x
}

impl X {
    fn seq(mut self, n: u64) -> X {
        self.0.seq = n;
        self
    }
    fn creds(mut self, c: Credentials) -> X {
        self.0.credentials = Some(c);
        self
    }
    /// Answered `status` 10 ms after the request.
    fn status(mut self, s: u16) -> X {
        self.0.status = Some(s);
        self.0.resp_ts = Some(self.0.req_ts.plus_micros(10_000));
        self
    }
    fn c407(self, challenges: Vec<Challenge>) -> X {
        let mut x = self.status(407);
        x.0.challenges = challenges;
        x
    }
    fn www(mut self, challenges: Vec<Challenge>) -> X {
        self.0.www_challenges = challenges;
        self
    }
    fn close(mut self) -> X {
        self.0.response_close = true;
        self
    }
    fn unanswered(mut self, u: Unanswered) -> X {
        self.0.unanswered = Some(u);
        self
    }
    fn after_gap(mut self) -> X {
        self.0.after_gap = true;
        self
    }
    fn ev(self) -> AnalysisEvent {
        AnalysisEvent::Exchange(Box::new(self.0))
    }
    /// The request as sent, before its response (no response fields set).
    fn sent(self) -> AnalysisEvent {
        AnalysisEvent::Sent(Box::new(self.0))
    }
}

fn closed(id: u64, ms: i64, by: Side, reset: bool) -> AnalysisEvent {
    AnalysisEvent::ConnClosed {
        conn_id: id,
        ts: at(ms),
        by,
        reset,
    }
}

fn run(events: Vec<AnalysisEvent>) -> AnalysisOutput {
    let mut a = Analyzer::new(AnalysisConfig::default());
    for e in events {
        a.on_event(e);
    }
    finish(a)
}

/// The end of the capture: every record the analyzer hands on, episodes by start.
fn finish(mut a: Analyzer) -> AnalysisOutput {
    a.finish();
    let mut out = drained(&mut a);
    out.episodes.sort_by_key(|e| (e.start_ts, e.episode_id));
    out
}

/// What the analyzer hands on now (settled episodes, transactions).
fn drained(a: &mut Analyzer) -> AnalysisOutput {
    let mut out = AnalysisOutput::default();
    a.drain(&mut out);
    out
}

fn only(out: &AnalysisOutput) -> &Episode {
    assert_eq!(out.episodes.len(), 1, "{:#?}", out.episodes);
    &out.episodes[0]
}

fn assert_failed(ep: &Episode, cause: Cause, detail: Option<&str>) {
    assert_eq!(ep.outcome, Outcome::Failed, "{ep:#?}");
    assert_eq!(ep.cause, Some(cause), "{ep:#?}");
    assert_eq!(ep.detail.as_deref(), detail, "{ep:#?}");
    assert_eq!(ep.time_to_auth_ms, None);
}

const URL: &str = "http://www.example.com/";

#[test]
fn ntlm_handshake_on_one_connection_is_one_authenticated_episode() {
    let c = conn(1);
    let out = run(vec![
        get(&c, 0, URL).c407(offer_ntlm_basic()).ev(),
        get(&c, 100, URL).creds(ntlm1()).c407(vec![type2()]).ev(),
        get(&c, 200, URL).creds(ntlm3("alice")).status(200).ev(),
    ]);
    let ep = only(&out);
    assert_eq!(ep.episode_id, 1);
    assert_eq!(ep.outcome, Outcome::Authenticated);
    assert_eq!(ep.cause, None);
    assert_eq!(ep.challenges, 2);
    assert_eq!(ep.credential_attempts, 2);
    assert_eq!(ep.connections, 1);
    assert_eq!(ep.final_status, Some(200));
    // 200 at 210 ms, first 407 at 10 ms.
    assert_eq!(ep.time_to_auth_ms, Some(200.0));
    assert_eq!(ep.user.as_deref(), Some("alice"));
    assert_eq!(ep.domain.as_deref(), Some("CORP"));
    assert_eq!(ep.workstation.as_deref(), Some("WS01"));
    assert_eq!(ep.user_source, Some(UserSource::Credentials));
    assert_eq!(ep.scheme.as_deref(), Some("NTLM"));
    assert_eq!(ep.offered_schemes, vec!["NTLM", "Basic"]);
    assert_eq!(ep.target, "www.example.com");
    assert_eq!(ep.user_agent.as_deref(), Some("TestAgent/1.0"));
    assert!(ep.findings.is_empty(), "{:?}", ep.findings);
    assert_eq!(out.transactions.len(), 3);
    assert!(out.transactions.iter().all(|t| t.episode_id == Some(1)));
    let t = &out.transactions[1];
    assert_eq!(t.offered_schemes, vec!["NTLM"]);
    assert_eq!(t.auth_scheme.as_deref(), Some("NTLM"));
    assert_eq!(t.auth_step.as_deref(), Some("ntlm_type1"));
    let t = &out.transactions[2];
    assert_eq!(t.auth_step.as_deref(), Some("ntlm_type3"));
    assert_eq!(t.user.as_deref(), Some("alice"));
    assert_eq!(t.domain.as_deref(), Some("CORP"));
    assert_eq!(t.status, Some(200));
}

#[test]
fn ntlm_type3_on_a_new_connection_is_handshake_broken() {
    let (c1, c2) = (conn(1), conn(2));
    let out = run(vec![
        get(&c1, 0, URL).c407(offer_ntlm_basic()).ev(),
        get(&c1, 100, URL).creds(ntlm1()).c407(vec![type2()]).ev(),
        get(&c2, 200, URL)
            .creds(ntlm3("alice"))
            .c407(offer_ntlm_basic())
            .ev(),
    ]);
    let ep = only(&out);
    assert_failed(ep, Cause::HandshakeBroken, Some("type3_on_new_connection"));
    assert_eq!(ep.connections, 2);
    assert_eq!(ep.challenges, 3);
    assert_eq!(ep.credential_attempts, 2);
    assert_eq!(ep.final_status, Some(407));
}

#[test]
fn proxy_reset_after_type2_is_handshake_broken() {
    let c = conn(1);
    let out = run(vec![
        get(&c, 0, URL).c407(offer_ntlm_basic()).ev(),
        get(&c, 100, URL).creds(ntlm1()).c407(vec![type2()]).ev(),
        closed(1, 150, Side::Server, true),
    ]);
    let ep = only(&out);
    assert_failed(ep, Cause::HandshakeBroken, Some("rst_after_type2"));
    assert_eq!(ep.credential_attempts, 1);
}

#[test]
fn type2_with_connection_close_is_handshake_broken() {
    let c = conn(1);
    let out = run(vec![
        get(&c, 0, URL).c407(offer_ntlm_basic()).ev(),
        get(&c, 100, URL)
            .creds(ntlm1())
            .c407(vec![type2()])
            .close()
            .ev(),
        closed(1, 120, Side::Server, false),
        closed(1, 130, Side::Client, false),
    ]);
    assert_failed(
        only(&out),
        Cause::HandshakeBroken,
        Some("close_after_type2"),
    );
}

#[test]
fn client_closing_after_type2_abandoned_the_handshake() {
    let c = conn(1);
    let out = run(vec![
        get(&c, 0, URL).c407(offer_ntlm_basic()).ev(),
        get(&c, 100, URL).creds(ntlm1()).c407(vec![type2()]).ev(),
        closed(1, 150, Side::Client, false),
        closed(1, 160, Side::Server, false),
    ]);
    let ep = only(&out);
    assert_failed(ep, Cause::NoCredentials, Some("stopped_after_type2"));
    assert_eq!(ep.challenges, 2);
    assert_eq!(ep.credential_attempts, 1);
}

#[test]
fn a_later_complete_handshake_supersedes_a_cut_one() {
    let (c1, c2) = (conn(1), conn(2));
    let out = run(vec![
        get(&c1, 0, URL).c407(offer_ntlm_basic()).ev(),
        get(&c1, 100, URL).creds(ntlm1()).c407(vec![type2()]).ev(),
        closed(1, 150, Side::Server, true),
        get(&c2, 300, URL).creds(ntlm1()).c407(vec![type2()]).ev(),
        get(&c2, 400, URL)
            .creds(ntlm3("alice"))
            .c407(offer_ntlm_basic())
            .ev(),
    ]);
    let ep = only(&out);
    assert_failed(ep, Cause::BadCredentials, Some("rounds=1"));
    assert_eq!(ep.connections, 2);
}

#[test]
fn basic_wrong_password_five_times_is_bad_credentials_and_lockout_risk() {
    let c = conn(1);
    let mut ev = vec![get(&c, 0, URL).c407(vec![ch(Scheme::Basic)]).ev()];
    for i in 1..=5 {
        ev.push(
            get(&c, i * 1000, URL)
                .creds(basic("bob"))
                .c407(vec![ch(Scheme::Basic)])
                .ev(),
        );
    }
    let out = run(ev);
    let ep = only(&out);
    assert_failed(ep, Cause::BadCredentials, Some("rounds=5"));
    assert_eq!(ep.challenges, 6);
    assert_eq!(ep.credential_attempts, 5);
    assert_eq!(ep.user.as_deref(), Some("bob"));
    assert_eq!(ep.user_source, Some(UserSource::Credentials));
    assert_eq!(
        ep.findings,
        vec![Finding::LockoutRisk, Finding::CleartextBasic]
    );
}

#[test]
fn four_rejections_are_below_the_lockout_threshold() {
    let c = conn(1);
    let mut ev = vec![get(&c, 0, URL).c407(vec![ch(Scheme::Basic)]).ev()];
    for i in 1..=4 {
        ev.push(
            get(&c, i * 1000, URL)
                .creds(basic("bob"))
                .c407(vec![ch(Scheme::Basic)])
                .ev(),
        );
    }
    let ep = run(ev).episodes.remove(0);
    assert_failed(&ep, Cause::BadCredentials, Some("rounds=4"));
    assert!(!ep.findings.contains(&Finding::LockoutRisk));
}

#[test]
fn an_episode_judged_by_its_window_settles_from_the_window_not_from_the_next_packet() {
    let mut a = Analyzer::new(AnalysisConfig::default());
    let c1 = conn(1);
    a.on_event(get(&c1, 0, URL).c407(vec![ch(Scheme::Basic)]).ev());
    a.on_event(get(&c1, 500, URL).c407(vec![ch(Scheme::Basic)]).ev());
    // The analysis holds an episode that started at 0.
    assert_eq!(a.held_since(), at(0));
    // An hour of silence, then the next packet: the window passed long before it, and the
    // settle delay after that, so the episode is final at once.
    let hour = 3_600_000;
    a.advance(at(hour));
    assert_eq!((a.open_episodes(), a.settling_episodes()), (0, 0));
    let out = drained(&mut a);
    assert_eq!(out.episodes.len(), 1);
    assert_failed(&out.episodes[0], Cause::NoCredentials, None);
    assert_eq!(a.held_since(), at(hour));
    // Judged by its window while packets keep coming, an episode waits the settle delay.
    let c2 = conn(2);
    a.on_event(
        get(&c2, hour + 1000, URL)
            .c407(vec![ch(Scheme::Basic)])
            .ev(),
    );
    a.advance(at(hour + 60_000));
    assert_eq!((a.open_episodes(), a.settling_episodes()), (0, 1));
    assert_eq!(a.held_since(), at(hour + 1000));
    a.advance(at(hour + 1000 + 30_000 + 600_000 - 1000));
    assert_eq!(a.settling_episodes(), 1);
    a.advance(at(hour + 1000 + 30_000 + 600_000 + 1000));
    assert_eq!(a.settling_episodes(), 0);
    assert_eq!(drained(&mut a).episodes.len(), 1);
}

#[test]
fn lockout_risk_counts_across_episodes_and_marks_each_contributor() {
    let mut a = Analyzer::new(AnalysisConfig::default());
    // Episode 1: three rejections, then the window passes.
    let c1 = conn(1);
    a.on_event(get(&c1, 0, URL).c407(vec![ch(Scheme::Basic)]).ev());
    for i in 1..=3 {
        a.on_event(
            get(&c1, i * 1000, URL)
                .creds(basic("carol"))
                .c407(vec![ch(Scheme::Basic)])
                .ev(),
        );
    }
    a.advance(at(60_000));
    // Judged, not final: it settles for the lockout window, since later rejections of the
    // same user may still mark it.
    assert_eq!((a.open_episodes(), a.settling_episodes()), (0, 1));
    assert!(drained(&mut a).episodes.is_empty());
    // Episode 2, two minutes later, another target: two more rejections reach five.
    let c2 = conn(2);
    let other = "http://other.example.org/x";
    a.on_event(get(&c2, 120_000, other).c407(vec![ch(Scheme::Basic)]).ev());
    for i in 1..=2 {
        a.on_event(
            get(&c2, 120_000 + i * 1000, other)
                .creds(basic("CAROL"))
                .c407(vec![ch(Scheme::Basic)])
                .ev(),
        );
    }
    // Someone else's rejections do not count for carol.
    let c3 = conn_from(3, "192.168.1.77");
    a.on_event(get(&c3, 130_000, URL).c407(vec![ch(Scheme::Basic)]).ev());
    a.on_event(
        get(&c3, 131_000, URL)
            .creds(basic("dave"))
            .c407(vec![ch(Scheme::Basic)])
            .ev(),
    );
    let out = finish(a);
    assert_eq!(out.episodes.len(), 3);
    let by_id = |id: u64| out.episodes.iter().find(|e| e.episode_id == id);
    for id in [1, 2] {
        let ep = by_id(id).unwrap_or_else(|| panic!("episode {id}"));
        assert!(ep.findings.contains(&Finding::LockoutRisk), "{ep:#?}");
    }
    let dave = by_id(3).unwrap_or_else(|| panic!("episode 3"));
    assert!(!dave.findings.contains(&Finding::LockoutRisk));
    assert_eq!(
        by_id(2).map(|e| e.detail.clone()),
        Some(Some("rounds=2".into()))
    );
}

#[test]
fn rejections_outside_the_lockout_window_do_not_add_up() {
    let mut a = Analyzer::new(AnalysisConfig::default());
    let c1 = conn(1);
    a.on_event(get(&c1, 0, URL).c407(vec![ch(Scheme::Basic)]).ev());
    for i in 1..=3 {
        a.on_event(
            get(&c1, i * 1000, URL)
                .creds(basic("carol"))
                .c407(vec![ch(Scheme::Basic)])
                .ev(),
        );
    }
    // Eleven minutes later: the first three are out of the 10-minute window.
    let c2 = conn(2);
    let t = 11 * 60_000;
    a.on_event(get(&c2, t, URL).c407(vec![ch(Scheme::Basic)]).ev());
    for i in 1..=3 {
        a.on_event(
            get(&c2, t + i * 1000, URL)
                .creds(basic("carol"))
                .c407(vec![ch(Scheme::Basic)])
                .ev(),
        );
    }
    let out = finish(a);
    assert_eq!(out.episodes.len(), 2);
    assert!(out
        .episodes
        .iter()
        .all(|e| !e.findings.contains(&Finding::LockoutRisk)));
}

#[test]
fn tinyproxy_401_after_a_wrong_password_is_bad_credentials() {
    let c = conn(1);
    let realm = |mut c: Challenge| {
        c.realm = Some("tinyproxy".into());
        c
    };
    let out = run(vec![
        get(&c, 0, URL).c407(vec![realm(ch(Scheme::Basic))]).ev(),
        get(&c, 100, URL)
            .creds(basic("erin"))
            .status(401)
            .www(vec![realm(ch(Scheme::Basic))])
            .ev(),
    ]);
    let ep = only(&out);
    assert_failed(ep, Cause::BadCredentials, Some("status=401 rounds=1"));
    assert_eq!(ep.final_status, Some(401));
    assert_eq!(ep.challenges, 1);
    assert_eq!(ep.credential_attempts, 1);
}

#[test]
fn an_origin_401_relayed_by_the_proxy_is_authenticated() {
    let c = conn(1);
    let out = run(vec![
        get(&c, 0, URL).c407(vec![ch(Scheme::Basic)]).ev(),
        get(&c, 100, URL)
            .creds(basic("erin"))
            .status(401)
            .www(vec![ch(Scheme::Other("Bearer".into()))])
            .ev(),
    ]);
    let ep = only(&out);
    assert_eq!(ep.outcome, Outcome::Authenticated);
    assert_eq!(ep.final_status, Some(401));
}

#[test]
fn origin_errors_relayed_after_credentials_are_authenticated() {
    for status in [404u16, 500, 502, 302] {
        let c = conn(1);
        let out = run(vec![
            get(&c, 0, URL).c407(vec![ch(Scheme::Basic)]).ev(),
            get(&c, 100, URL).creds(basic("erin")).status(status).ev(),
        ]);
        let ep = only(&out);
        assert_eq!(ep.outcome, Outcome::Authenticated, "{status}");
        assert_eq!(ep.final_status, Some(status));
        assert_eq!(ep.time_to_auth_ms, Some(100.0));
    }
}

#[test]
fn digest_stale_leg_then_success_is_authenticated_with_stale_nonce() {
    let c = conn(1);
    let mut stale = ch(Scheme::Digest);
    stale.stale = true;
    let out = run(vec![
        get(&c, 0, URL).c407(vec![ch(Scheme::Digest)]).ev(),
        get(&c, 100, URL)
            .creds(digest("frank"))
            .c407(vec![stale])
            .ev(),
        get(&c, 200, URL).creds(digest("frank")).status(200).ev(),
    ]);
    let ep = only(&out);
    assert_eq!(ep.outcome, Outcome::Authenticated);
    assert_eq!(ep.challenges, 2);
    assert_eq!(ep.credential_attempts, 2);
    assert_eq!(ep.findings, vec![Finding::StaleNonce]);
    assert_eq!(ep.scheme.as_deref(), Some("Digest"));
    assert_eq!(ep.time_to_auth_ms, Some(200.0));
}

#[test]
fn digest_stale_leg_is_not_a_rejection() {
    let c = conn(1);
    let mut stale = ch(Scheme::Digest);
    stale.stale = true;
    let out = run(vec![
        get(&c, 0, URL).c407(vec![ch(Scheme::Digest)]).ev(),
        get(&c, 100, URL)
            .creds(digest("frank"))
            .c407(vec![stale])
            .ev(),
    ]);
    assert_failed(
        only(&out),
        Cause::NoCredentials,
        Some("stopped_after_stale"),
    );
}

#[test]
fn an_application_without_credentials_stays_visible_beside_a_browser() {
    let app = conn(1);
    let browser = conn(2);
    let out = run(vec![
        get(&app, 0, "http://updates.example.net/check")
            .c407(offer_ntlm_basic())
            .ev(),
        get(&browser, 50, URL).c407(offer_ntlm_basic()).ev(),
        get(&browser, 100, URL)
            .creds(basic("gina"))
            .status(200)
            .ev(),
    ]);
    assert_eq!(out.episodes.len(), 2);
    let app_ep = &out.episodes[0];
    assert_failed(app_ep, Cause::NoCredentials, None);
    assert_eq!(app_ep.credential_attempts, 0);
    assert_eq!(app_ep.target, "updates.example.net");
    // No identity of its own: the user last seen from the host.
    assert_eq!(app_ep.user.as_deref(), Some("gina"));
    assert_eq!(app_ep.user_source, Some(UserSource::Inferred));
    let br = &out.episodes[1];
    assert_eq!(br.outcome, Outcome::Authenticated);
    assert_eq!(br.user_source, Some(UserSource::Credentials));
    assert_eq!(br.findings, vec![Finding::CleartextBasic]);
}

#[test]
fn a_request_without_credentials_on_a_new_connection_does_not_join() {
    let (c1, c2) = (conn(1), conn(2));
    let out = run(vec![
        get(&c1, 0, URL).c407(vec![ch(Scheme::Basic)]).ev(),
        get(&c2, 100, URL).c407(vec![ch(Scheme::Basic)]).ev(),
    ]);
    assert_eq!(out.episodes.len(), 2);
    assert!(out.episodes.iter().all(|e| e.connections == 1));
    assert!(out
        .episodes
        .iter()
        .all(|e| e.cause == Some(Cause::NoCredentials)));
}

#[test]
fn terminal_server_users_on_one_address_do_not_chain() {
    let (c1, c2, c3) = (conn(1), conn(2), conn(3));
    let out = run(vec![
        get(&c1, 0, URL).c407(vec![ch(Scheme::Basic)]).ev(),
        get(&c1, 100, URL)
            .creds(basic("alice"))
            .c407(vec![ch(Scheme::Basic)])
            .ev(),
        // Another user of the same server: succeeds preemptively, not an episode.
        get(&c2, 200, URL).creds(basic("bob")).status(200).ev(),
        // Bob fails on his own: he must not join alice's episode.
        get(&c3, 300, URL)
            .creds(basic("bob"))
            .c407(vec![ch(Scheme::Basic)])
            .ev(),
        // Alice retries on a new connection and joins hers.
        get(&conn(4), 400, URL)
            .creds(basic("alice"))
            .c407(vec![ch(Scheme::Basic)])
            .ev(),
    ]);
    assert_eq!(out.episodes.len(), 2, "{:#?}", out.episodes);
    let alice = &out.episodes[0];
    assert_eq!(alice.user.as_deref(), Some("alice"));
    assert_eq!(alice.connections, 2);
    assert_failed(alice, Cause::BadCredentials, Some("rounds=2"));
    let bob = &out.episodes[1];
    assert_eq!(bob.user.as_deref(), Some("bob"));
    assert_eq!(bob.connections, 1);
    assert_failed(bob, Cause::BadCredentials, Some("rounds=1"));
    assert_eq!(out.transactions[2].episode_id, None);
    assert_eq!(out.transactions[4].episode_id, Some(alice.episode_id));
}

#[test]
fn the_most_recent_open_episode_is_joined() {
    let (c1, c2, c3) = (conn(1), conn(2), conn(3));
    let out = run(vec![
        get(&c1, 0, URL).c407(vec![ch(Scheme::Basic)]).ev(),
        get(&c2, 500, URL).c407(vec![ch(Scheme::Basic)]).ev(),
        get(&c3, 1000, URL).creds(basic("hal")).status(200).ev(),
    ]);
    assert_eq!(out.episodes.len(), 2);
    assert_eq!(out.episodes[0].outcome, Outcome::Failed);
    assert_eq!(out.episodes[1].outcome, Outcome::Authenticated);
    assert_eq!(out.episodes[1].connections, 2);
    assert_eq!(out.transactions[2].episode_id, Some(2));
}

#[test]
fn a_retry_after_the_window_opens_a_new_episode() {
    let mut a = Analyzer::new(AnalysisConfig::default());
    let (c1, c2) = (conn(1), conn(2));
    a.on_event(get(&c1, 0, URL).c407(vec![ch(Scheme::Basic)]).ev());
    a.advance(at(20_000));
    assert_eq!(a.open_episodes(), 1, "still inside the window");
    a.advance(at(31_000));
    assert_eq!(a.settling_episodes(), 1);
    assert_eq!(a.open_episodes(), 0);
    assert_eq!(a.tracked_connections(), 0);
    a.on_event(
        get(&c2, 45_000, URL)
            .creds(basic("ivan"))
            .c407(vec![ch(Scheme::Basic)])
            .ev(),
    );
    a.on_event(get(&c2, 46_000, URL).creds(basic("ivan")).status(200).ev());
    assert_eq!(a.settling_episodes(), 2);
    let out = finish(a);
    assert_eq!(out.episodes.len(), 2);
    assert_eq!(out.episodes[1].episode_id, 2);
    assert_eq!(out.episodes[1].outcome, Outcome::Authenticated);
    assert_eq!(out.episodes[1].credential_attempts, 2);
    assert_eq!(out.episodes[0].episode_id, 1);
    // The first episode had no credentials: the user seen later from that client.
    assert_eq!(out.episodes[0].user.as_deref(), Some("ivan"));
    assert_eq!(out.episodes[0].user_source, Some(UserSource::Inferred));
}

/// Two requests pipelined in one segment share their time; the proxy rejects the first and
/// never answers the second. When the window passes, the second still waits (sent, never
/// answered): the episode is `no_response`, not a rejection the client gave up on.
#[test]
fn pipelined_requests_with_one_time_are_pending_apart() {
    let mut a = Analyzer::new(AnalysisConfig::default());
    let c = conn(1);
    a.on_event(get(&c, 0, URL).c407(vec![ch(Scheme::Basic)]).ev());
    let pipelined = |n: u64| get(&c, 100, URL).seq(n).creds(basic("pat"));
    a.on_event(pipelined(1).sent());
    a.on_event(pipelined(2).sent());
    a.on_event(pipelined(1).c407(vec![ch(Scheme::Basic)]).ev());
    a.advance(at(40_000));
    let out = finish(a);
    let ep = only(&out);
    assert_failed(ep, Cause::NoResponse, None);
    assert_eq!(ep.credential_attempts, 2);
}

/// Both pipelined requests are still pending when the window passes; their responses come
/// late. Each is recorded under the episode it was applied to, told apart by its number on
/// the connection (they share their time); neither opens a new episode.
#[test]
fn late_answers_to_pipelined_requests_stay_with_their_episode() {
    let mut a = Analyzer::new(AnalysisConfig::default());
    let c = conn(1);
    a.on_event(get(&c, 0, URL).c407(vec![ch(Scheme::Basic)]).ev());
    let pipelined = |n: u64| get(&c, 100, URL).seq(n).creds(basic("pat"));
    a.on_event(pipelined(1).sent());
    a.on_event(pipelined(2).sent());
    a.advance(at(40_000));
    let mut late = pipelined(1).c407(vec![ch(Scheme::Basic)]);
    late.0.resp_ts = Some(at(41_000));
    a.on_event(late.ev());
    let mut late = pipelined(2).c407(vec![ch(Scheme::Basic)]);
    late.0.resp_ts = Some(at(41_000));
    a.on_event(late.ev());
    let out = finish(a);
    let ep = only(&out);
    assert_failed(ep, Cause::NoResponse, None);
    assert_eq!(out.transactions.len(), 3);
    assert!(out.transactions.iter().all(|t| t.episode_id == Some(1)));
}

#[test]
fn a_request_unanswered_at_the_end_of_the_capture_is_unresolved() {
    let c = conn(1);
    let out = run(vec![
        get(&c, 0, URL).c407(vec![ch(Scheme::Basic)]).ev(),
        get(&c, 100, URL)
            .creds(basic("judy"))
            .unanswered(Unanswered::End)
            .ev(),
    ]);
    let ep = only(&out);
    assert_eq!(ep.outcome, Outcome::Unresolved);
    assert_eq!(ep.cause, None);
    assert_eq!(ep.credential_attempts, 1);
}

#[test]
fn a_request_unanswered_when_the_window_passes_is_no_response() {
    let mut a = Analyzer::new(AnalysisConfig::default());
    let c = conn(1);
    a.on_event(get(&c, 0, URL).c407(vec![ch(Scheme::Basic)]).ev());
    a.on_event(
        get(&c, 100, URL)
            .creds(basic("judy"))
            .unanswered(Unanswered::End)
            .ev(),
    );
    a.advance(at(40_000));
    let out = finish(a);
    assert_failed(only(&out), Cause::NoResponse, None);
}

#[test]
fn a_gap_on_the_connection_makes_the_episode_unresolved() {
    let c = conn(1);
    let out = run(vec![
        get(&c, 0, URL).c407(vec![ch(Scheme::Basic)]).ev(),
        AnalysisEvent::Gap {
            conn_id: 1,
            ts: at(50),
            side: Side::Server,
            bytes: 1460,
        },
    ]);
    let ep = only(&out);
    assert_eq!(ep.outcome, Outcome::Unresolved);
    assert_eq!(ep.cause, None);
    assert_eq!(ep.findings, vec![Finding::CaptureGap]);
}

#[test]
fn an_unanswered_gap_or_a_success_after_a_gap_is_unresolved() {
    let c = conn(1);
    let out = run(vec![
        get(&c, 0, URL).c407(vec![ch(Scheme::Basic)]).ev(),
        get(&c, 100, URL)
            .creds(basic("kim"))
            .unanswered(Unanswered::Gap)
            .ev(),
    ]);
    let ep = only(&out);
    assert_eq!(ep.outcome, Outcome::Unresolved);
    assert_eq!(
        ep.findings,
        vec![Finding::CleartextBasic, Finding::CaptureGap]
    );
    let out = run(vec![
        get(&c, 0, URL).c407(vec![ch(Scheme::Basic)]).ev(),
        get(&c, 100, URL)
            .creds(basic("kim"))
            .status(200)
            .after_gap()
            .ev(),
    ]);
    let ep = only(&out);
    assert_eq!(ep.outcome, Outcome::Unresolved);
    assert_eq!(ep.time_to_auth_ms, None);
}

#[test]
fn a_gap_before_a_clean_decision_is_only_a_finding() {
    let c = conn(1);
    let out = run(vec![
        get(&c, 0, URL).c407(vec![ch(Scheme::Basic)]).ev(),
        AnalysisEvent::Gap {
            conn_id: 1,
            ts: at(50),
            side: Side::Client,
            bytes: 100,
        },
        get(&c, 100, URL).creds(basic("kim")).status(200).ev(),
    ]);
    let ep = only(&out);
    assert_eq!(ep.outcome, Outcome::Authenticated);
    assert!(ep.findings.contains(&Finding::CaptureGap));
}

#[test]
fn forbidden_after_credentials_is_denied() {
    let c = conn(1);
    let out = run(vec![
        get(&c, 0, URL).c407(vec![ch(Scheme::Basic)]).ev(),
        get(&c, 100, URL).creds(basic("liam")).status(403).ev(),
    ]);
    let ep = only(&out);
    assert_failed(ep, Cause::Denied, Some("status=403"));
    assert_eq!(ep.final_status, Some(403));
    assert_eq!(ep.user.as_deref(), Some("liam"));
}

#[test]
fn an_oversized_kerberos_token_answered_400_is_denied_with_the_finding() {
    let c = conn(1);
    let mut big = kerberos();
    big.header_len = 12_000;
    let out = run(vec![
        get(&c, 0, URL).c407(vec![ch(Scheme::Negotiate)]).ev(),
        get(&c, 100, URL).creds(big).status(400).ev(),
    ]);
    let ep = only(&out);
    assert_failed(ep, Cause::Denied, Some("status=400"));
    assert_eq!(ep.findings, vec![Finding::OversizedToken]);
    assert_eq!(ep.domain.as_deref(), Some("CORP.EXAMPLE"));
}

#[test]
fn connect_challenged_then_authenticated_on_a_new_connection() {
    let (c1, c2) = (conn(1), conn(2));
    let out = run(vec![
        connect(&c1, 0, "login.example.com:443")
            .c407(vec![ch(Scheme::Basic)])
            .close()
            .ev(),
        closed(1, 20, Side::Server, false),
        closed(1, 21, Side::Client, false),
        connect(&c2, 300, "login.example.com:443")
            .creds(basic("mia"))
            .status(200)
            .ev(),
    ]);
    let ep = only(&out);
    assert_eq!(ep.outcome, Outcome::Authenticated);
    assert_eq!(ep.target, "login.example.com:443");
    assert_eq!(ep.connections, 2);
    assert_eq!(ep.challenges, 1);
    assert_eq!(ep.credential_attempts, 1);
    assert_eq!(ep.time_to_auth_ms, Some(300.0));
    assert_eq!(ep.final_status, Some(200));
}

#[test]
fn kerberos_rejected_with_krb_error_is_bad_credentials_with_an_inferred_user() {
    let c0 = conn(1);
    let c1 = conn(2);
    let mut skew = ch(Scheme::Negotiate);
    skew.step = Some(AuthStep::NegotiateReply);
    skew.krb_error = Some("KRB_AP_ERR_SKEW".into());
    let out = run(vec![
        // Earlier that morning the same host logged in with NTLM.
        get(&c0, 0, URL).c407(vec![ch(Scheme::Ntlm)]).ev(),
        get(&c0, 100, URL).creds(ntlm1()).c407(vec![type2()]).ev(),
        get(&c0, 200, URL).creds(ntlm3("nora")).status(200).ev(),
        get(&c1, 600_000, URL)
            .c407(vec![ch(Scheme::Negotiate), ch(Scheme::Ntlm)])
            .ev(),
        get(&c1, 600_100, URL)
            .creds(kerberos())
            .c407(vec![skew])
            .ev(),
    ]);
    assert_eq!(out.episodes.len(), 2);
    let ep = &out.episodes[1];
    assert_failed(
        ep,
        Cause::BadCredentials,
        Some("krb_error=KRB_AP_ERR_SKEW rounds=1"),
    );
    assert_eq!(ep.user.as_deref(), Some("nora"));
    assert_eq!(ep.domain.as_deref(), Some("CORP"));
    assert_eq!(ep.user_source, Some(UserSource::Inferred));
    assert_eq!(ep.scheme.as_deref(), Some("Negotiate"));
    assert_eq!(ep.challenges, 2);
}

#[test]
fn failed_attempts_group_into_proxy_unreachable_episodes() {
    let mut a = Analyzer::new(AnalysisConfig::default());
    let attempt = |ms: i64, client: &str, proxy: &str, reset: bool| AnalysisEvent::AttemptFailed {
        ts: at(ms),
        client_ip: ip(client),
        proxy_ip: ip(proxy),
        proxy_port: 8080,
        reset,
        retried: true,
    };
    for ms in [0, 3_000, 9_000] {
        a.on_event(attempt(ms, "192.168.1.10", "10.0.0.9", false));
    }
    a.on_event(attempt(1_000, "192.168.1.11", "10.0.0.9", true));
    a.on_event(attempt(2_000, "192.168.1.10", "10.0.0.8", true));
    a.advance(at(20_000));
    assert_eq!(a.open_episodes(), 3);
    a.advance(at(45_000));
    assert_eq!((a.open_episodes(), a.settling_episodes()), (0, 3));
    // A new attempt long after: a new episode.
    a.on_event(attempt(100_000, "192.168.1.10", "10.0.0.9", true));
    let out = finish(a);
    assert_eq!(out.episodes.len(), 4);
    let first = &out.episodes[0];
    assert_failed(first, Cause::ProxyUnreachable, Some("no_synack"));
    assert_eq!(first.connections, 3);
    assert_eq!(first.challenges, 0);
    assert_eq!(first.end_ts, at(9_000));
    assert_failed(&out.episodes[1], Cause::ProxyUnreachable, Some("rst"));
    assert_eq!(out.episodes[1].client_ip, ip("192.168.1.11"));
    assert_failed(&out.episodes[3], Cause::ProxyUnreachable, Some("rst"));
    assert_eq!(out.episodes[3].connections, 1);
    assert!(out.transactions.is_empty());
}

#[test]
fn a_scheme_the_proxy_did_not_offer_is_scheme_mismatch() {
    let c = conn(1);
    let out = run(vec![
        get(&c, 0, URL).c407(offer_ntlm_basic()).ev(),
        get(&c, 100, URL)
            .creds(digest("olga"))
            .c407(offer_ntlm_basic())
            .ev(),
    ]);
    assert_failed(
        only(&out),
        Cause::SchemeMismatch,
        Some("offered=NTLM,Basic used=Digest"),
    );
}

#[test]
fn a_reset_with_credentials_unanswered_is_connection_closed() {
    let c = conn(1);
    let out = run(vec![
        get(&c, 0, URL).c407(vec![ch(Scheme::Basic)]).ev(),
        get(&c, 100, URL)
            .creds(basic("pat"))
            .unanswered(Unanswered::Closed {
                by: Side::Server,
                reset: true,
            })
            .ev(),
        closed(1, 150, Side::Server, true),
    ]);
    let ep = only(&out);
    assert_failed(ep, Cause::ConnectionClosed, Some("rst_by_proxy"));
    assert_eq!(ep.final_status, Some(407));
}

#[test]
fn negotiate_carrying_ntlmv1_shows_both_findings() {
    let c = conn(1);
    let mut t1 = ntlm1();
    t1.scheme = Scheme::Negotiate;
    t1.ntlm_in_negotiate = true;
    let mut t3 = ntlm3("quinn");
    t3.scheme = Scheme::Negotiate;
    t3.ntlm_in_negotiate = true;
    t3.ntlm_version = Some(NtlmVersion::V1);
    let mut t2 = type2();
    t2.scheme = Scheme::Negotiate;
    let out = run(vec![
        get(&c, 0, URL).c407(vec![ch(Scheme::Negotiate)]).ev(),
        get(&c, 100, URL).creds(t1).c407(vec![t2]).ev(),
        get(&c, 200, URL).creds(t3).status(200).ev(),
    ]);
    let ep = only(&out);
    assert_eq!(ep.outcome, Outcome::Authenticated);
    assert_eq!(ep.findings, vec![Finding::NtlmFallback, Finding::Ntlmv1]);
    assert_eq!(ep.scheme.as_deref(), Some("Negotiate"));
    assert_eq!(ep.user.as_deref(), Some("quinn"));
}

#[test]
fn requests_never_challenged_are_transactions_only() {
    let c = conn(1);
    let mut a = Analyzer::new(AnalysisConfig {
        keep_transactions: true,
        ..AnalysisConfig::default()
    });
    a.on_event(get(&c, 0, URL).status(200).ev());
    a.on_event(get(&c, 100, URL).creds(basic("rita")).status(200).ev());
    let out = finish(a);
    assert!(out.episodes.is_empty());
    assert_eq!(out.transactions.len(), 2);
    assert!(out.transactions.iter().all(|t| t.episode_id.is_none()));

    let mut a = Analyzer::new(AnalysisConfig {
        keep_transactions: false,
        ..AnalysisConfig::default()
    });
    a.on_event(get(&c, 0, URL).c407(vec![ch(Scheme::Basic)]).ev());
    let out = finish(a);
    assert_eq!(out.episodes.len(), 1);
    assert!(out.transactions.is_empty());
}

#[test]
fn an_episode_that_can_still_change_settles_and_one_that_cannot_is_final_at_once() {
    let mut a = Analyzer::new(AnalysisConfig::default());
    // Alice logs in with her own credentials at the first try.
    let c1 = conn_from(1, "10.0.0.21");
    a.on_event(get(&c1, 0, URL).c407(vec![ch(Scheme::Basic)]).ev());
    a.on_event(get(&c1, 50, URL).creds(basic("alice")).status(200).ev());
    // Bob's first password is rejected, then he logs in: a later rejection could still make
    // that one part of a lockout run.
    let c2 = conn_from(2, "10.0.0.22");
    a.on_event(get(&c2, 100, URL).c407(vec![ch(Scheme::Basic)]).ev());
    a.on_event(
        get(&c2, 150, URL)
            .creds(basic("bob"))
            .c407(vec![ch(Scheme::Basic)])
            .ev(),
    );
    a.on_event(get(&c2, 200, URL).creds(basic("bob")).status(200).ev());
    // A client that sends no credentials: a later login from its address may name its user.
    let c3 = conn_from(3, "10.0.0.23");
    a.on_event(get(&c3, 300, URL).c407(vec![ch(Scheme::Basic)]).ev());
    a.advance(at(60_000));
    assert_eq!((a.open_episodes(), a.settling_episodes()), (0, 2));
    let now = drained(&mut a);
    let users: Vec<Option<&str>> = now.episodes.iter().map(|e| e.user.as_deref()).collect();
    assert_eq!(users, vec![Some("alice")]);
    // Carol logs in from the third address: the settling episode is hers.
    a.on_event(
        get(&conn_from(4, "10.0.0.23"), 120_000, URL)
            .creds(basic("carol"))
            .status(200)
            .ev(),
    );
    let out = finish(a);
    let by_user: Vec<(Option<&str>, Outcome)> = out
        .episodes
        .iter()
        .map(|e| (e.user.as_deref(), e.outcome))
        .collect();
    assert_eq!(
        by_user,
        vec![
            (Some("bob"), Outcome::Authenticated),
            (Some("carol"), Outcome::Failed)
        ]
    );
}

#[test]
fn episodes_are_sorted_by_start_and_state_is_released() {
    let mut a = Analyzer::new(AnalysisConfig::default());
    for i in 0..50u64 {
        let c = conn_from(100 + i, &format!("10.1.{}.{}", i / 200, i % 200 + 1));
        let ms = (i as i64) * 100;
        a.on_event(get(&c, ms, URL).c407(vec![ch(Scheme::Basic)]).ev());
        a.on_event(get(&c, ms + 50, URL).creds(basic("sam")).status(200).ev());
        a.on_event(closed(100 + i, ms + 60, Side::Client, false));
        a.on_event(closed(100 + i, ms + 61, Side::Server, false));
    }
    assert_eq!(a.open_episodes(), 0);
    assert_eq!(a.tracked_connections(), 0);
    // Named by their own credentials, with no rejection: nothing later can change them, so
    // they are final at their verdict and do not settle (§3.10).
    assert_eq!(a.settling_episodes(), 0);
    let out = drained(&mut a);
    assert!(finish(a).episodes.is_empty());
    let ids: Vec<u64> = out.episodes.iter().map(|e| e.episode_id).collect();
    assert_eq!(ids, (1..=50).collect::<Vec<_>>());
    assert!(out
        .episodes
        .windows(2)
        .all(|w| w[0].start_ts <= w[1].start_ts));
}

#[test]
fn open_and_settling_episodes_are_bounded_and_counted() {
    let mut a = Analyzer::new(AnalysisConfig {
        max_open_episodes: 2,
        ..AnalysisConfig::default()
    });
    // Three challenges on three connections, never answered: three open episodes.
    for id in 1..=3u64 {
        let c = conn_from(id, &format!("192.168.5.{id}"));
        a.on_event(
            get(&c, (id as i64) * 1000, URL)
                .c407(vec![ch(Scheme::Basic)])
                .ev(),
        );
    }
    assert_eq!(a.open_episodes(), 2);
    // The least recently active was judged early; with two settling, the next verdict hands
    // the oldest on early.
    assert_eq!(a.settling_episodes(), 1);
    a.advance(at(40_000));
    assert_eq!(a.settling_episodes(), 2);
    assert_eq!(drained(&mut a).episodes.len(), 1);
    let an = a.anomalies();
    assert_eq!(an.get(AnalysisAnomaly::OpenEpisodesFull), 1);
    assert_eq!(an.get(AnalysisAnomaly::SettlingFull), 1);
    let out = finish(a);
    assert_eq!(out.episodes.len(), 2);
}

#[test]
fn lockout_users_beyond_the_limit_are_not_tracked() {
    let mut a = Analyzer::new(AnalysisConfig {
        max_tracked_users: 1,
        ..AnalysisConfig::default()
    });
    for (id, user) in [(1u64, "erin"), (2, "frank")] {
        let c = conn_from(id, &format!("192.168.6.{id}"));
        a.on_event(get(&c, 0, URL).c407(vec![ch(Scheme::Basic)]).ev());
        a.on_event(
            get(&c, 10, URL)
                .creds(basic(user))
                .c407(vec![ch(Scheme::Basic)])
                .ev(),
        );
    }
    assert_eq!(a.anomalies().get(AnalysisAnomaly::LockoutUsersFull), 1);
}

/// A balancer in front of two proxies sends the type 3 to a proxy that never saw the
/// handshake: it answers with a fresh type 2 on the same client connection. The type 3 was
/// rejected (the cause stays `bad_credentials`), and the detail names what happened.
#[test]
fn a_fresh_type2_answering_a_type3_names_the_split_handshake() {
    let c = conn(1);
    let out = run(vec![
        get(&c, 0, URL).c407(offer_ntlm_basic()).ev(),
        get(&c, 100, URL).creds(ntlm1()).c407(vec![type2()]).ev(),
        get(&c, 200, URL)
            .creds(ntlm3("alice"))
            .c407(vec![type2()])
            .ev(),
    ]);
    let ep = only(&out);
    assert_failed(
        ep,
        Cause::BadCredentials,
        Some("new_challenge_after_type3 rounds=1"),
    );
    // A plain rejection (the bare NTLM offer again) is not a split.
    let out = run(vec![
        get(&c, 0, URL).c407(offer_ntlm_basic()).ev(),
        get(&c, 100, URL).creds(ntlm1()).c407(vec![type2()]).ev(),
        get(&c, 200, URL)
            .creds(ntlm3("alice"))
            .c407(vec![ch(Scheme::Ntlm)])
            .ev(),
    ]);
    assert_failed(only(&out), Cause::BadCredentials, Some("rounds=1"));
}

/// A type 3 that signs for another domain than the type 2 named (a local account on
/// `PC-0042`) is `domain_mismatch`; the same domain in its DNS form, or no domain in the
/// type 3, is not.
#[test]
fn a_type3_for_another_domain_than_the_type2_named_is_domain_mismatch() {
    let c = conn(1);
    let with_domain = |d: Option<&str>| {
        let mut creds = ntlm3("alice");
        creds.domain = d.map(str::to_string);
        run(vec![
            get(&c, 0, URL).c407(offer_ntlm_basic()).ev(),
            get(&c, 100, URL).creds(ntlm1()).c407(vec![type2()]).ev(),
            get(&c, 200, URL).creds(creds).status(200).ev(),
        ])
    };
    let ep = with_domain(Some("PC-0042"));
    let ep = only(&ep);
    assert_eq!(ep.outcome, Outcome::Authenticated);
    assert_eq!(ep.findings, vec![Finding::DomainMismatch]);
    for same in [Some("corp"), Some("CORP.EXAMPLE.COM"), None, Some("")] {
        let out = with_domain(same);
        assert!(only(&out).findings.is_empty(), "{same:?}");
    }
}

/// A KDC answer to `client` at `ms` (`docs/verdicts.md` §4.12).
fn kdc_answer(
    client: &str,
    ms: i64,
    kind: proxy407::auth::kdc::KdcKind,
    user: &str,
    service: &str,
    code: Option<i64>,
) -> AnalysisEvent {
    AnalysisEvent::Kdc {
        ts: at(ms),
        client_ip: ip(client),
        msg: Box::new(proxy407::auth::kdc::KdcMessage {
            kind,
            client: Some(user.into()),
            client_realm: Some("CORP.EXAMPLE".into()),
            service: Some(service.into()),
            service_realm: Some("CORP.EXAMPLE".into()),
            error_code: code,
            e_text: None,
        }),
    }
}

#[test]
fn negotiate_falling_back_to_ntlm_names_the_unknown_spn() {
    use proxy407::auth::kdc::KdcKind;
    let c = conn(1);
    let mut t1 = ntlm1();
    t1.scheme = Scheme::Negotiate;
    t1.ntlm_in_negotiate = true;
    let mut t3 = ntlm3("quinn");
    t3.scheme = Scheme::Negotiate;
    t3.ntlm_in_negotiate = true;
    let mut t2 = type2();
    t2.scheme = Scheme::Negotiate;
    let events = |with_kdc: bool| {
        let mut v = vec![get(&c, 0, URL).c407(vec![ch(Scheme::Negotiate)]).ev()];
        if with_kdc {
            // Right after the 407 the client asks for a ticket for the proxy's address.
            v.push(kdc_answer(
                "192.168.1.10",
                20,
                KdcKind::Error,
                "quinn",
                "HTTP/10.0.0.1",
                Some(7),
            ));
        }
        v.push(
            get(&c, 100, URL)
                .creds(t1.clone())
                .c407(vec![t2.clone()])
                .ev(),
        );
        v.push(get(&c, 200, URL).creds(t3.clone()).status(200).ev());
        v
    };
    let out = run(events(true));
    let ep = only(&out);
    assert_eq!(ep.outcome, Outcome::Authenticated);
    assert_eq!(ep.findings, vec![Finding::NtlmFallback]);
    assert_eq!(
        ep.detail.as_deref(),
        Some("krb_error=KDC_ERR_S_PRINCIPAL_UNKNOWN spn=HTTP/10.0.0.1")
    );
    // The NTLM credentials name the user; the KDC does not replace them.
    assert_eq!(ep.user.as_deref(), Some("quinn"));
    assert_eq!(ep.user_source, Some(UserSource::Credentials));
    let out = run(events(false));
    assert_eq!(only(&out).detail, None);
}

#[test]
fn a_rejected_ticket_without_a_reason_and_the_kdc_naming_its_user() {
    use proxy407::auth::kdc::KdcKind;
    let c = conn(1);
    let rejected = |kdc: Vec<AnalysisEvent>| {
        let mut v = vec![get(&c, 0, URL).c407(vec![ch(Scheme::Negotiate)]).ev()];
        v.extend(kdc);
        v.push(
            get(&c, 100, URL)
                .creds(kerberos())
                .c407(vec![ch(Scheme::Negotiate)])
                .ev(),
        );
        run(v)
    };
    let out = rejected(Vec::new());
    let ep = only(&out);
    assert_failed(
        ep,
        Cause::BadCredentials,
        Some("kerberos_token_rejected rounds=1"),
    );
    assert_eq!(ep.user, None);
    // The TGS-REP that gave the client its ticket for the proxy names it; a ticket for
    // another service does not.
    let out = rejected(vec![
        kdc_answer(
            "192.168.1.10",
            30,
            KdcKind::TgsRep,
            "mail",
            "HTTP/mail.corp.example",
            None,
        ),
        kdc_answer(
            "192.168.1.10",
            40,
            KdcKind::TgsRep,
            "rita",
            "HTTP/proxy.corp.example",
            None,
        ),
    ]);
    let ep = only(&out);
    assert_failed(
        ep,
        Cause::BadCredentials,
        Some("kerberos_token_rejected rounds=1"),
    );
    assert_eq!(ep.user.as_deref(), Some("rita"));
    assert_eq!(ep.user_source, Some(UserSource::Kdc));
    assert_eq!(ep.domain.as_deref(), Some("CORP.EXAMPLE"));
    // Another address's KDC traffic is not this client's.
    let out = rejected(vec![kdc_answer(
        "192.168.1.99",
        40,
        KdcKind::TgsRep,
        "rita",
        "HTTP/proxy.corp.example",
        None,
    )]);
    assert_eq!(only(&out).user, None);
}

#[test]
fn kdc_messages_after_the_verdict_still_reach_a_settling_episode() {
    use proxy407::auth::kdc::KdcKind;
    let c = conn(1);
    let mut a = Analyzer::new(AnalysisConfig::default());
    a.on_event(get(&c, 0, URL).c407(vec![ch(Scheme::Negotiate)]).ev());
    // No credentials: judged when the window passes (no_credentials) ...
    a.advance(at(40_000));
    assert_eq!(drained(&mut a).episodes.len(), 0, "still settling");
    assert_eq!(a.settling_episodes(), 1);
    // ... and the KDC's answer, 5 s after the 407 and seen later (a capture merged from two
    // points, the KDC's side behind), still explains it when it settles.
    a.on_event(kdc_answer(
        "192.168.1.10",
        5_000,
        KdcKind::Error,
        "sam",
        "krbtgt/CORP.EXAMPLE",
        Some(18),
    ));
    let out = finish(a);
    let ep = only(&out);
    assert_failed(
        ep,
        Cause::NoCredentials,
        Some("krb_error=KDC_ERR_CLIENT_REVOKED"),
    );
    assert_eq!(ep.user.as_deref(), Some("sam"));
    assert_eq!(ep.user_source, Some(UserSource::Kdc));
}

#[test]
fn kdc_preauth_required_is_a_first_leg_and_kdc_state_is_bounded() {
    use proxy407::auth::kdc::KdcKind;
    let cfg = AnalysisConfig {
        max_tracked_users: 2,
        ..AnalysisConfig::default()
    };
    let mut a = Analyzer::new(cfg);
    let c = conn(1);
    for i in 0..5 {
        let other = format!("192.168.2.{i}");
        a.on_event(kdc_answer(
            &other,
            0,
            KdcKind::Error,
            "x",
            "krbtgt/CORP.EXAMPLE",
            Some(24),
        ));
    }
    // Kept (the oldest addresses went), and no failure: the KDC asks for pre-authentication.
    a.on_event(kdc_answer(
        "192.168.1.10",
        5,
        KdcKind::Error,
        "tom",
        "krbtgt/CORP.EXAMPLE",
        Some(25),
    ));
    a.on_event(get(&c, 10, URL).c407(vec![ch(Scheme::Negotiate)]).ev());
    assert_eq!(a.anomalies().get(AnalysisAnomaly::KdcClientsFull), 4);
    let out = finish(a);
    let ep = only(&out);
    assert_failed(ep, Cause::NoCredentials, None);
    assert_eq!(ep.user_source, None);
}
