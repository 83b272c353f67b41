//! Chaining (`docs/verdicts.md` §3): the key an episode is found under, the state of one
//! open episode and of each connection bound to it, and how one exchange updates that state
//! (what each response does: §3.5). Owns no verdict: it records the wire facts ([`Facts`],
//! defined by `verdict`) that `verdict` later judges.
//!
//! The episode key (§3.1) is (client IP, proxy IP:port, target), where the target is
//! [`target_key`]: `host:port` for `CONNECT`, the URL's authority (lower-cased, user info
//! dropped) for absolute-form requests, so retries of different URLs on the same site chain;
//! an origin-form target is kept as sent.
//!
//! [`Evidence`] is what an episode points at (§6.1): the frames that start its heads and,
//! per connection, the range of frames of its heads there, turned into the record's
//! `capture_file`, `frames`, `frame_count` and `display_filter` when it is judged.

use super::verdict::{is_refusal, Facts, FinalOutcome};
use super::{ConnRef, Exchange};
use crate::auth::{AuthStep, Credentials, NtlmVersion, Scheme};
use crate::http::Unanswered;
use crate::model::{
    attempts_filter, client_proxy_filter, conversation_filter, Episode, Finding, FrameRef, Outcome,
    Ts, UserSource, MAX_EPISODE_FRAMES,
};
use std::net::IpAddr;

/// Credentials header values longer than this raise `oversized_token` (8 KiB,
/// `docs/verdicts.md` §5.7).
pub const OVERSIZED_TOKEN_BYTES: usize = 8192;

/// (client IP, proxy IP, proxy port, target): the open episodes a request may join.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EpKey {
    pub client_ip: IpAddr,
    pub proxy_ip: IpAddr,
    pub proxy_port: u16,
    pub target: String,
}

impl EpKey {
    pub fn of(conn: &ConnRef, method: &str, target: &str) -> EpKey {
        EpKey {
            client_ip: conn.client_ip,
            proxy_ip: conn.proxy_ip,
            proxy_port: conn.proxy_port,
            target: target_key(method, target),
        }
    }
}

pub use crate::model::target_key;

/// A request target without the `user:password@` an absolute-form URL may carry
/// (`docs/verdicts.md` §2.5): the password never reaches a record.
pub fn without_userinfo(target: &str) -> std::borrow::Cow<'_, str> {
    let Some(i) = target.find("://") else {
        return target.into();
    };
    let start = i.saturating_add(3);
    let rest = target.get(start..).unwrap_or("");
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..end).unwrap_or(rest);
    match authority.rfind('@') {
        Some(at) => {
            let mut s = String::with_capacity(target.len());
            s.push_str(target.get(..start).unwrap_or(""));
            s.push_str(rest.get(at.saturating_add(1)..).unwrap_or(""));
            s.into()
        }
        None => target.into(),
    }
}

/// Per-connection state, kept only while the connection belongs to an open episode.
#[derive(Clone, Debug)]
pub struct ConnState {
    pub episode: u64,
    /// The proxy sent a type 2 on this connection and the client has not answered it.
    pub awaiting_type3: bool,
    pub client_closed: bool,
    pub server_closed: bool,
}

impl ConnState {
    pub fn new(episode: u64) -> ConnState {
        ConnState {
            episode,
            awaiting_type3: false,
            client_closed: false,
            server_closed: false,
        }
    }
}

/// An episode that has no verdict yet.
#[derive(Clone, Debug)]
pub struct OpenEpisode {
    /// The output record; its verdict fields are filled when it is judged.
    pub rec: Episode,
    pub key: EpKey,
    pub conn_ids: Vec<u64>,
    pub first_407: Option<Ts>,
    /// The latest `407` (or rejecting `401`): new connections must be sent after it.
    pub last_challenge_ts: Ts,
    /// The latest event of the episode: the retry window runs from here.
    pub last_event_ts: Ts,
    pub facts: Facts,
    pub evidence: Evidence,
}

/// Connections of an episode whose frame ranges are kept one by one; the frames of further
/// ones widen one range of the client and proxy (any client port).
pub const MAX_SPANS: usize = 16;

/// The packets an episode points at (`docs/verdicts.md` §6.1), bounded: the frames that start
/// its heads in the file of its first (the first [`MAX_EPISODE_FRAMES`]), and per connection
/// the frames from the start of its first head there to the end of its last.
#[derive(Clone, Debug, Default)]
pub struct Evidence {
    /// The input of the episode's first head.
    file: Option<u16>,
    frames: Vec<u64>,
    count: u32,
    spans: Vec<Span>,
    /// The range of frames of the connections past [`MAX_SPANS`].
    overflow: Option<(u64, u64)>,
}

#[derive(Clone, Debug)]
struct Span {
    conn_id: u64,
    client_port: u16,
    first: u64,
    last: u64,
}

impl Evidence {
    /// The heads of one exchange of the episode.
    fn add(&mut self, ex: &Exchange) {
        let heads = std::iter::once(ex.req_frames).chain(ex.resp_frames);
        for (start, end) in heads {
            self.count = self.count.saturating_add(1);
            if start.number == 0 {
                continue;
            }
            let file = *self.file.get_or_insert(start.file);
            if start.file != file {
                continue;
            }
            self.frame(start);
            let end = if end.file == file && end.number >= start.number {
                end.number
            } else {
                start.number
            };
            self.span(ex.conn.conn_id, ex.conn.client_port, start.number, end);
        }
    }

    fn frame(&mut self, f: FrameRef) {
        if let Err(i) = self.frames.binary_search(&f.number) {
            if i < MAX_EPISODE_FRAMES {
                self.frames.insert(i, f.number);
                self.frames.truncate(MAX_EPISODE_FRAMES);
            }
        }
    }

    fn span(&mut self, conn_id: u64, client_port: u16, first: u64, last: u64) {
        if let Some(s) = self.spans.iter_mut().find(|s| s.conn_id == conn_id) {
            s.first = s.first.min(first);
            s.last = s.last.max(last);
        } else if self.spans.len() < MAX_SPANS {
            self.spans.push(Span {
                conn_id,
                client_port,
                first,
                last,
            });
        } else {
            let o = self.overflow.get_or_insert((first, last));
            *o = (o.0.min(first), o.1.max(last));
        }
    }

    /// Writes the evidence into the episode's record; `inputs` names the files.
    pub(crate) fn fill(&self, rec: &mut Episode, inputs: &[String]) {
        let name = |i: u16| inputs.get(usize::from(i)).cloned().unwrap_or_default();
        rec.capture_file = match self.file {
            Some(f) => name(f),
            None if inputs.len() == 1 => name(0),
            None => String::new(),
        };
        rec.frames.clone_from(&self.frames);
        rec.frame_count = self.count;
        let proxy = (rec.proxy_ip, rec.proxy_port);
        let mut parts: Vec<String> = self
            .spans
            .iter()
            .map(|s| conversation_filter((rec.client_ip, s.client_port), proxy, s.first, s.last))
            .collect();
        if let Some((a, b)) = self.overflow {
            parts.push(client_proxy_filter(rec.client_ip, proxy, a, b));
        }
        if parts.is_empty() {
            parts.push(attempts_filter(
                rec.client_ip,
                proxy,
                rec.start_ts,
                rec.end_ts,
            ));
        }
        rec.display_filter = parts.join(" || ");
    }
}

/// What applying an exchange did, for the analyzer to act on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Final credentials were rejected (counts toward lockout risk).
    pub rejected: bool,
    /// A non-407, non-rejecting response ended the episode.
    pub ended: bool,
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

/// Adds a finding, keeping the list sorted and without repeats.
pub(crate) fn add_finding(findings: &mut Vec<Finding>, f: Finding) {
    if let Err(i) = findings.binary_search(&f) {
        findings.insert(i, f);
    }
}

/// Findings a credentials header shows by itself (`docs/verdicts.md` §5.3–§5.5, §5.7).
pub(crate) fn credential_findings(c: &Credentials) -> Vec<Finding> {
    let mut out = Vec::new();
    if c.scheme == Scheme::Basic {
        // Everything this tool reads travels in the clear: TLS to the proxy is not parsed.
        out.push(Finding::CleartextBasic);
    }
    if c.ntlm_in_negotiate {
        out.push(Finding::NtlmFallback);
    }
    if c.ntlm_version == Some(NtlmVersion::V1) {
        out.push(Finding::Ntlmv1);
    }
    if c.header_len > OVERSIZED_TOKEN_BYTES {
        out.push(Finding::OversizedToken);
    }
    out
}

/// A `407` carrying a Digest `stale=true` challenge in answer to Digest credentials: the
/// nonce expired, the password was not wrong (`docs/verdicts.md` §5.6).
pub(crate) fn is_stale_leg(ex: &Exchange) -> bool {
    ex.status == Some(407)
        && ex
            .credentials
            .as_ref()
            .is_some_and(|c| c.scheme == Scheme::Digest)
        && ex
            .challenges
            .iter()
            .any(|ch| ch.scheme == Scheme::Digest && ch.stale)
}

/// The request findings (`Finding::is_request`) one exchange shows, sorted: those of its
/// credentials, and `stale_nonce` on a stale leg.
pub(crate) fn request_findings(ex: &Exchange) -> Vec<Finding> {
    let mut out: Vec<Finding> = match &ex.credentials {
        Some(c) => credential_findings(c)
            .into_iter()
            .filter(|f| f.is_request())
            .collect(),
        None => return Vec::new(),
    };
    if is_stale_leg(ex) {
        add_finding(&mut out, Finding::StaleNonce);
    }
    out.sort();
    out
}

impl OpenEpisode {
    /// An episode of `key` with nothing counted yet, starting and ending at `start`..`end`.
    fn blank(id: u64, key: EpKey, start: Ts, end: Ts, outcome: Outcome) -> OpenEpisode {
        OpenEpisode {
            rec: Episode {
                episode_id: id,
                start_ts: start,
                end_ts: end,
                client_ip: key.client_ip,
                proxy_ip: key.proxy_ip,
                proxy_port: key.proxy_port,
                target: key.target.clone(),
                user: None,
                domain: None,
                workstation: None,
                user_source: None,
                scheme: None,
                offered_schemes: Vec::new(),
                challenges: 0,
                credential_attempts: 0,
                connections: 0,
                outcome,
                cause: None,
                detail: None,
                findings: Vec::new(),
                final_status: None,
                time_to_auth_ms: None,
                user_agent: None,
                capture_file: String::new(),
                frames: Vec::new(),
                frame_count: 0,
                display_filter: String::new(),
            },
            key,
            conn_ids: Vec::new(),
            first_407: None,
            last_challenge_ts: end,
            last_event_ts: start,
            facts: Facts::default(),
            evidence: Evidence::default(),
        }
    }

    /// A new episode opened by the exchange `ex` (its response is a `407`), not yet applied.
    pub fn open(id: u64, key: EpKey, ex: &Exchange) -> OpenEpisode {
        let end = ex.resp_ts.unwrap_or(ex.req_ts);
        let mut ep = OpenEpisode::blank(id, key, ex.req_ts, end, Outcome::Unresolved);
        ep.rec.connections = 1;
        ep.conn_ids.push(ex.conn.conn_id);
        ep
    }

    /// A `proxy_unreachable` episode opened by a failed connection attempt.
    pub fn unreachable(id: u64, ts: Ts, client_ip: IpAddr, proxy_ip: IpAddr, port: u16) -> Self {
        let key = EpKey {
            client_ip,
            proxy_ip,
            proxy_port: port,
            target: String::new(),
        };
        let mut ep = OpenEpisode::blank(id, key, ts, ts, Outcome::Failed);
        ep.facts.unreachable = Some((0, 0));
        ep
    }

    /// One more failed connection attempt of an unreachable episode.
    pub(crate) fn add_attempt(&mut self, ts: Ts, reset: bool) {
        if let Some((rst, nosyn)) = self.facts.unreachable.as_mut() {
            if reset {
                *rst = rst.saturating_add(1);
            } else {
                *nosyn = nosyn.saturating_add(1);
            }
        }
        self.rec.connections = self.rec.connections.saturating_add(1);
        self.touch(ts);
    }

    pub(crate) fn touch(&mut self, ts: Ts) {
        if ts > self.last_event_ts {
            self.last_event_ts = ts;
        }
        if ts > self.rec.end_ts {
            self.rec.end_ts = ts;
        }
    }

    /// Binds one more connection to the episode (a retry on a new connection).
    pub(crate) fn add_conn(&mut self, conn_id: u64) {
        if !self.conn_ids.contains(&conn_id) {
            self.conn_ids.push(conn_id);
            self.rec.connections = self.rec.connections.saturating_add(1);
        }
    }

    /// Applies one exchange of the episode. `conn` is the state of its connection.
    pub fn apply(&mut self, ex: &Exchange, conn: &mut ConnState) -> Applied {
        let mut applied = Applied::default();
        self.evidence.add(ex);
        self.touch(ex.req_ts);
        if let Some(t) = ex.resp_ts {
            self.touch(t);
        }
        if self.rec.user_agent.is_none() {
            self.rec.user_agent.clone_from(&ex.user_agent);
        }
        let sent = match &ex.credentials {
            Some(c) => self.apply_credentials(c, ex.conn.conn_id, conn),
            None => Sent::default(),
        };
        let f = &mut self.facts;
        let gap = ex.after_gap || ex.unanswered == Some(Unanswered::Gap);
        if gap {
            add_finding(&mut self.rec.findings, Finding::CaptureGap);
        }
        f.decisive_gap = gap;
        if ex.status.is_some() {
            f.last_unanswered = None;
            self.rec.final_status = ex.status;
            if sent.type3_on_its_conn {
                // A complete handshake on one connection supersedes an earlier cut one.
                f.broken = None;
            }
        }
        let resp_ts = ex.resp_ts.unwrap_or(ex.req_ts);
        match ex.status {
            Some(407) => self.apply_challenge(ex, sent.final_creds, resp_ts, conn, &mut applied),
            Some(s) => self.apply_response(ex, s, sent.final_creds, resp_ts, &mut applied),
            None => {
                let f = &mut self.facts;
                f.last_unanswered = Some(ex.unanswered.unwrap_or(Unanswered::End));
                if sent.final_creds {
                    f.last_final = Some(FinalOutcome::Unanswered);
                }
            }
        }
        self.rec.offered_schemes = self
            .facts
            .offered
            .iter()
            .map(|s| s.as_str().to_string())
            .collect();
        applied
    }

    /// The identity, findings and handshake step of a request's credentials, sent on
    /// connection `conn_id`.
    fn apply_credentials(&mut self, c: &Credentials, conn_id: u64, conn: &mut ConnState) -> Sent {
        let mut sent = Sent::default();
        let f = &mut self.facts;
        self.rec.credential_attempts = self.rec.credential_attempts.saturating_add(1);
        push_unique(&mut f.used, c.scheme.clone());
        self.rec.scheme = Some(c.scheme.as_str().to_string());
        if let Some(u) = &c.user {
            self.rec.user = Some(u.clone());
            self.rec.user_source = Some(UserSource::Credentials);
            if c.domain.is_some() {
                self.rec.domain.clone_from(&c.domain);
            }
        }
        if c.workstation.is_some() {
            self.rec.workstation.clone_from(&c.workstation);
        }
        if c.step == AuthStep::Kerberos && self.rec.domain.is_none() {
            self.rec.domain.clone_from(&c.realm);
        }
        for finding in credential_findings(c) {
            add_finding(&mut self.rec.findings, finding);
        }
        conn.awaiting_type3 = false;
        if c.step == AuthStep::Kerberos {
            f.ticket_service.clone_from(&c.service_principal);
        }
        if c.step.is_final() {
            f.kerberos_final = c.step == AuthStep::Kerberos;
            sent.final_creds = true;
            f.final_sent = f.final_sent.saturating_add(1);
            f.last_final = Some(FinalOutcome::Pending);
            f.type2_unanswered = false;
        }
        if c.step == AuthStep::NtlmType3 {
            if domain_differs(c.domain.as_deref(), f.type2_target.as_deref()) {
                add_finding(&mut self.rec.findings, Finding::DomainMismatch);
            }
            match f.type2_conn {
                Some(t2) if t2 != conn_id => {
                    f.broken.get_or_insert("type3_on_new_connection");
                }
                Some(_) => sent.type3_on_its_conn = true,
                None => {}
            }
            f.type2_conn = None;
        }
        sent
    }

    /// A `407`: offered schemes, a rejection of final credentials (or a benign Digest
    /// `stale=true` leg), and whether it carries the next leg of a connection-bound handshake.
    fn apply_challenge(
        &mut self,
        ex: &Exchange,
        final_creds: bool,
        resp_ts: Ts,
        conn: &mut ConnState,
        applied: &mut Applied,
    ) {
        let f = &mut self.facts;
        self.rec.challenges = self.rec.challenges.saturating_add(1);
        self.first_407.get_or_insert(resp_ts);
        self.last_challenge_ts = resp_ts;
        for ch in &ex.challenges {
            push_unique(&mut f.offered, ch.scheme.clone());
            if let Some(k) = &ch.krb_error {
                f.krb_error = Some(k.clone());
            }
        }
        if is_stale_leg(ex) {
            add_finding(&mut self.rec.findings, Finding::StaleNonce);
            if final_creds {
                f.last_final = Some(FinalOutcome::Stale);
            }
        } else if final_creds {
            f.rejections = f.rejections.saturating_add(1);
            f.last_final = Some(FinalOutcome::Rejected);
            f.last_rejection_401 = false;
            applied.rejected = true;
        }
        let continuation = ex.challenges.iter().any(|ch| {
            ch.scheme.is_connection_bound()
                && ch.krb_error.is_none()
                && matches!(
                    ch.step,
                    Some(AuthStep::NtlmType2) | Some(AuthStep::NegotiateReply)
                )
        });
        let type3_sent = ex
            .credentials
            .as_ref()
            .is_some_and(|c| c.step == AuthStep::NtlmType3);
        let fresh_type2 = ex
            .challenges
            .iter()
            .any(|ch| ch.step == Some(AuthStep::NtlmType2));
        if type3_sent && fresh_type2 {
            f.new_challenge_after_type3 = true;
        }
        if let Some(t) = ex
            .challenges
            .iter()
            .filter(|ch| ch.step == Some(AuthStep::NtlmType2))
            .find_map(|ch| ch.target_name.clone())
        {
            f.type2_target = Some(t);
        }
        if continuation {
            f.type2_conn = Some(ex.conn.conn_id);
            f.type2_unanswered = true;
            conn.awaiting_type3 = true;
            if ex.response_close {
                f.broken.get_or_insert("close_after_type2");
            }
        } else {
            f.type2_unanswered = false;
        }
    }

    /// Any other status: a `401` repeating the proxy's challenge rejects final credentials
    /// and keeps the episode open (`docs/verdicts.md` §3.5); a refusal or anything else ends it.
    fn apply_response(
        &mut self,
        ex: &Exchange,
        status: u16,
        final_creds: bool,
        resp_ts: Ts,
        applied: &mut Applied,
    ) {
        let f = &mut self.facts;
        let repeats_proxy_challenge = status == 401
            && ex
                .www_challenges
                .iter()
                .any(|ch| f.offered.contains(&ch.scheme));
        if repeats_proxy_challenge && final_creds {
            f.rejections = f.rejections.saturating_add(1);
            f.last_final = Some(FinalOutcome::Rejected);
            f.last_rejection_401 = true;
            self.last_challenge_ts = resp_ts;
            applied.rejected = true;
        } else if is_refusal(status) {
            f.refusal = Some((status, ex.credentials.is_some()));
            if final_creds {
                f.last_final = Some(FinalOutcome::Refused);
            }
            applied.ended = true;
        } else {
            f.success = Some(status);
            if let Some(first) = self.first_407 {
                self.rec.time_to_auth_ms = Some(resp_ts.ms_since(first));
            }
            if final_creds {
                f.last_final = Some(FinalOutcome::Accepted);
            }
            applied.ended = true;
        }
    }
}

/// What a request's credentials were, for the response that answers it.
#[derive(Clone, Copy, Debug, Default)]
struct Sent {
    /// Final credentials (Basic, Digest, NTLM type 3, Kerberos).
    final_creds: bool,
    /// An NTLM type 3 on the connection of its type 2.
    type3_on_its_conn: bool,
}

/// An NTLM type 3 signed for another domain than the type 2's target name
/// (`docs/verdicts.md` §5.9): both known and not empty, their first labels (a NetBIOS name,
/// or the first label of a DNS name) differ, case aside.
fn domain_differs(type3_domain: Option<&str>, type2_target: Option<&str>) -> bool {
    let first = |s: &str| s.split('.').next().unwrap_or(s).trim().to_ascii_uppercase();
    match (type3_domain, type2_target) {
        (Some(d), Some(t)) if !d.trim().is_empty() && !t.trim().is_empty() => first(d) != first(t),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_leaves_request_targets() {
        assert_eq!(
            without_userinfo("http://bob:hunter2@example.com:8080/a@b?c=d@e"),
            "http://example.com:8080/a@b?c=d@e"
        );
        assert_eq!(without_userinfo("ftp://anon@host/"), "ftp://host/");
        assert_eq!(
            without_userinfo("http://example.com/x@y"),
            "http://example.com/x@y"
        );
        assert_eq!(without_userinfo("example.com:443"), "example.com:443");
        assert_eq!(without_userinfo("/local@path"), "/local@path");
    }

    #[test]
    fn connect_target_is_host_port() {
        assert_eq!(
            target_key("CONNECT", "Example.COM:443"),
            "example.com:443".to_string()
        );
    }

    #[test]
    fn absolute_form_target_is_the_authority() {
        assert_eq!(
            target_key("GET", "http://Example.com:8080/a/b?c=d"),
            "example.com:8080"
        );
        assert_eq!(
            target_key("GET", "http://user@example.com?x"),
            "example.com"
        );
        assert_eq!(target_key("GET", "http://example.com"), "example.com");
    }

    #[test]
    fn origin_form_target_is_kept() {
        assert_eq!(target_key("GET", "/index.html"), "/index.html");
    }

    /// An exchange on connection `conn` whose request and response start at `frame` and
    /// `frame + 1`.
    fn exchange_at(conn: u64, frame: u64) -> Exchange {
        let at = |n: u64| FrameRef { file: 0, number: n };
        Exchange {
            conn: ConnRef {
                conn_id: conn,
                community_id: String::new(),
                client_ip: "10.0.0.5".parse().unwrap(),
                client_port: 40_000 + conn as u16,
                proxy_ip: "10.0.0.1".parse().unwrap(),
                proxy_port: 3128,
            },
            seq: 0,
            req_ts: Ts(frame as i64),
            method: "GET".into(),
            target: "http://a/".into(),
            user_agent: None,
            credentials: None,
            resp_ts: Some(Ts(frame as i64 + 1)),
            status: Some(407),
            challenges: Vec::new(),
            www_challenges: Vec::new(),
            response_close: false,
            unanswered: None,
            after_gap: false,
            req_frames: (at(frame), at(frame)),
            resp_frames: Some((at(frame + 1), at(frame + 2))),
        }
    }

    #[test]
    fn evidence_stays_bounded() {
        let mut ev = Evidence::default();
        for i in 0..100u64 {
            ev.add(&exchange_at(i % 40, 10 + 3 * i));
        }
        assert_eq!(ev.count, 200);
        assert_eq!(ev.frames.len(), MAX_EPISODE_FRAMES);
        assert_eq!(ev.frames.first(), Some(&10));
        assert_eq!(ev.spans.len(), MAX_SPANS);
        // The connections past the cap widen one range: from the first head of connection
        // 16 (frame 58) to the end of the last head of connection 39 (its last exchange).
        assert_eq!(ev.overflow, Some((10 + 3 * 16, 10 + 3 * 99 + 2)));
        let mut rec = OpenEpisode::blank(
            1,
            EpKey::of(&exchange_at(0, 0).conn, "GET", "http://a/"),
            Ts(0),
            Ts(0),
            Outcome::Failed,
        )
        .rec;
        ev.fill(&mut rec, &["a.pcap".to_string()]);
        assert_eq!(rec.capture_file, "a.pcap");
        assert_eq!(rec.frame_count, 200);
        // One part per listed connection, and one for the rest.
        assert_eq!(
            rec.display_filter.matches("(ip.addr == 10.0.0.5").count(),
            MAX_SPANS + 1
        );
        assert!(rec
            .display_filter
            .contains("frame.number >= 58 && frame.number <= 309"));
    }

    #[test]
    fn findings_are_sorted_and_unique() {
        let mut v = Vec::new();
        add_finding(&mut v, Finding::CaptureGap);
        add_finding(&mut v, Finding::CleartextBasic);
        add_finding(&mut v, Finding::CaptureGap);
        assert_eq!(v, vec![Finding::CleartextBasic, Finding::CaptureGap]);
    }
}
