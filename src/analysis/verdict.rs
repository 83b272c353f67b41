//! The verdict of an episode (`docs/verdicts.md` §4): from the wire facts an episode gathered
//! ([`Facts`]) and how it ended ([`EndReason`]), its outcome (the order of §4.1), its one
//! cause (first match in the order of [`Cause::ALL`], §4.3) and a short machine-readable
//! `detail` (`status=403`, `rounds=5`, `krb_error=KRB_AP_ERR_SKEW rounds=1`,
//! `kerberos_token_rejected rounds=1`,
//! `rst_after_type2`, `type3_on_new_connection`, `offered=NTLM,Basic used=Digest`,
//! `stopped_after_type2`, `rst_by_proxy`, `no_synack`, `new_challenge_after_type3 rounds=1`;
//! every value is listed in §4.3).
//! Pure functions; no state.

use crate::auth::Scheme;
use crate::http::Unanswered;
use crate::model::{Cause, Outcome, Side};

/// What became of the latest final credentials (Basic, Digest, NTLM type 3, Kerberos).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinalOutcome {
    /// Sent, not answered yet (or never).
    Pending,
    /// Answered `407` again, or `401` repeating the proxy's challenge.
    Rejected,
    /// Answered with a Digest `stale=true` challenge (a benign extra leg).
    Stale,
    /// Answered with a refusal (`403`, `400`, `431`).
    Refused,
    /// Answered with anything else: the credentials got through.
    Accepted,
    /// The request got no response.
    Unanswered,
}

/// The wire facts of one episode, judged by `verdict::judge`.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// Schemes of the proxy's challenges, first seen first.
    pub offered: Vec<Scheme>,
    /// Schemes of the client's credentials, first seen first.
    pub used: Vec<Scheme>,
    pub final_sent: u32,
    /// Final credentials rejected (each one counts toward lockout risk).
    pub rejections: u32,
    pub last_final: Option<FinalOutcome>,
    /// The latest rejection was a `401` (tinyproxy style).
    pub last_rejection_401: bool,
    /// A Negotiate challenge carried a KRB-ERROR: its name.
    pub krb_error: Option<String>,
    /// The latest final credentials were a Kerberos ticket.
    pub kerberos_final: bool,
    /// The service principal of the episode's latest Kerberos ticket.
    pub ticket_service: Option<String>,
    /// An NTLM type 3 was answered with a fresh type 2 on the same connection: the proxy
    /// that got it never saw the handshake (a balancer split it).
    pub new_challenge_after_type3: bool,
    /// The target name of the latest NTLM type 2 (the domain the proxy's side named).
    pub type2_target: Option<String>,
    /// Why a connection-bound handshake was cut (the first reason seen).
    pub broken: Option<&'static str>,
    /// The connection the latest NTLM/Negotiate type 2 came on, while no type 3 followed.
    pub type2_conn: Option<u64>,
    /// A type 2 was the latest challenge and the client sent no type 3 after it.
    pub type2_unanswered: bool,
    /// The client closed a connection that was waiting for its type 3.
    pub client_stopped_after_type2: bool,
    /// The latest exchange had no response, and why.
    pub last_unanswered: Option<Unanswered>,
    /// The latest thing seen of the episode crossed a capture gap.
    pub decisive_gap: bool,
    /// Ended by a refusal with this status; whether that request carried credentials.
    pub refusal: Option<(u16, bool)>,
    /// Ended by a success response with this status.
    pub success: Option<u16>,
    /// A `proxy_unreachable` episode: counts of reset and unanswered attempts.
    pub unreachable: Option<(u32, u32)>,
}

/// How an episode came to be judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// A non-407 response that does not reject the credentials.
    Response,
    /// The retry window passed after the last event with no further request.
    Window,
    /// The capture ended: judged as if the window had passed, except that a request still
    /// unanswered (`Unanswered::End`) makes the episode unresolved.
    Finish,
}

/// The proxy refused the request itself (`denied`, `docs/verdicts.md` §4.8).
pub(crate) fn is_refusal(status: u16) -> bool {
    matches!(status, 400 | 403 | 431)
}

/// The verdict: outcome, cause (failed only), detail.
pub(crate) fn judge(f: &Facts, reason: EndReason) -> (Outcome, Option<Cause>, Option<String>) {
    if let Some((rst, nosyn)) = f.unreachable {
        let detail = match (rst > 0, nosyn > 0) {
            (true, true) => "rst,no_synack",
            (true, false) => "rst",
            _ => "no_synack",
        };
        return (
            Outcome::Failed,
            Some(Cause::ProxyUnreachable),
            Some(detail.to_string()),
        );
    }
    if f.decisive_gap {
        return (Outcome::Unresolved, None, Some("capture_gap".to_string()));
    }
    if f.success.is_some() {
        return (Outcome::Authenticated, None, None);
    }
    if reason == EndReason::Finish && f.last_unanswered == Some(Unanswered::End) {
        return (Outcome::Unresolved, None, Some("capture_ended".to_string()));
    }
    let (cause, detail) = failed_cause(f);
    (Outcome::Failed, Some(cause), detail)
}

fn failed_cause(f: &Facts) -> (Cause, Option<String>) {
    if let Some(why) = f.broken {
        return (Cause::HandshakeBroken, Some(why.to_string()));
    }
    if !f.offered.is_empty() && !f.used.is_empty() && f.used.iter().all(|u| !f.offered.contains(u))
    {
        let names = |v: &[crate::auth::Scheme]| {
            v.iter()
                .map(|s| s.as_str().to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        return (
            Cause::SchemeMismatch,
            Some(format!(
                "offered={} used={}",
                names(&f.offered),
                names(&f.used)
            )),
        );
    }
    if f.last_final == Some(FinalOutcome::Rejected) {
        let mut parts = Vec::new();
        if f.new_challenge_after_type3 {
            parts.push("new_challenge_after_type3".to_string());
        }
        if let Some(k) = &f.krb_error {
            parts.push(format!("krb_error={k}"));
        } else if f.kerberos_final {
            // The proxy rejected a ticket and said nothing why: its clock or its keytab.
            parts.push("kerberos_token_rejected".to_string());
        }
        if f.last_rejection_401 {
            parts.push("status=401".to_string());
        }
        parts.push(format!("rounds={}", f.rejections));
        return (Cause::BadCredentials, Some(parts.join(" ")));
    }
    let refused_with_creds = matches!(f.refusal, Some((_, true)));
    if !refused_with_creds && (f.final_sent == 0 || f.last_final == Some(FinalOutcome::Stale)) {
        let detail = if f.client_stopped_after_type2 || f.type2_unanswered {
            Some("stopped_after_type2".to_string())
        } else if f.last_final == Some(FinalOutcome::Stale) {
            Some("stopped_after_stale".to_string())
        } else {
            None
        };
        return (Cause::NoCredentials, detail);
    }
    if let Some((status, _)) = f.refusal {
        return (Cause::Denied, Some(format!("status={status}")));
    }
    match f.last_unanswered {
        Some(Unanswered::Closed { by, reset }) => {
            let how = if reset { "rst" } else { "fin" };
            let who = match by {
                Side::Client => "client",
                Side::Server => "proxy",
            };
            (Cause::ConnectionClosed, Some(format!("{how}_by_{who}")))
        }
        Some(_) => (Cause::NoResponse, None),
        None => (Cause::NoCredentials, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals() {
        assert!(is_refusal(403) && is_refusal(400) && is_refusal(431));
        assert!(!is_refusal(404) && !is_refusal(502) && !is_refusal(200));
    }

    #[test]
    fn handshake_broken_comes_before_bad_credentials() {
        let f = Facts {
            broken: Some("type3_on_new_connection"),
            last_final: Some(FinalOutcome::Rejected),
            final_sent: 1,
            rejections: 1,
            ..Facts::default()
        };
        let (o, c, d) = judge(&f, EndReason::Window);
        assert_eq!(o, Outcome::Failed);
        assert_eq!(c, Some(Cause::HandshakeBroken));
        assert_eq!(d.as_deref(), Some("type3_on_new_connection"));
    }

    #[test]
    fn mismatch_needs_no_offered_scheme_used() {
        let mut f = Facts {
            offered: vec![Scheme::Ntlm, Scheme::Basic],
            used: vec![Scheme::Digest],
            final_sent: 1,
            rejections: 1,
            last_final: Some(FinalOutcome::Rejected),
            ..Facts::default()
        };
        let (_, c, d) = judge(&f, EndReason::Window);
        assert_eq!(c, Some(Cause::SchemeMismatch));
        assert_eq!(d.as_deref(), Some("offered=NTLM,Basic used=Digest"));
        f.used.push(Scheme::Basic);
        let (_, c, d) = judge(&f, EndReason::Window);
        assert_eq!(c, Some(Cause::BadCredentials));
        assert_eq!(d.as_deref(), Some("rounds=1"));
    }

    #[test]
    fn unanswered_end_is_unresolved_only_at_finish() {
        let f = Facts {
            final_sent: 1,
            last_final: Some(FinalOutcome::Unanswered),
            last_unanswered: Some(Unanswered::End),
            ..Facts::default()
        };
        assert_eq!(judge(&f, EndReason::Finish).0, Outcome::Unresolved);
        let (o, c, _) = judge(&f, EndReason::Window);
        assert_eq!((o, c), (Outcome::Failed, Some(Cause::NoResponse)));
    }
}
