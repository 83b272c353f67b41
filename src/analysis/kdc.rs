//! The KDC's side of Negotiate episodes (`docs/verdicts.md` §4.12): the Kerberos messages a
//! client exchanged with its KDC, kept per client address for a while, and what they say
//! about an episode of that address: why the client had no ticket for the proxy (the
//! KRB-ERROR that was not answered by a later success), and who the client was (the TGS-REP
//! that gave it its ticket for the proxy's service, else the client that error names).
//!
//! Bounded: at most [`PER_CLIENT`] messages per address, for at most `max_clients` addresses
//! (the address seen longest ago forgotten first, counted as `analysis.kdc_clients_full`);
//! messages older than the horizon the caller gives are dropped.

use crate::auth::kdc::{KdcKind, KdcMessage};
use crate::auth::negotiate::krb_error_name;
use crate::model::Ts;
use foldhash::{HashMap, HashMapExt};
use std::collections::VecDeque;
use std::net::IpAddr;

/// Messages kept per client address.
pub const PER_CLIENT: usize = 32;

/// `KDC_ERR_PREAUTH_REQUIRED`: the normal first answer to an AS-REQ without
/// pre-authentication, not a failure.
const PREAUTH_REQUIRED: i64 = 25;
/// `KDC_ERR_S_PRINCIPAL_UNKNOWN`: no principal for the service name asked for.
pub const S_PRINCIPAL_UNKNOWN: i64 = 7;

/// One message, as much of it as the join needs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    ts: Ts,
    kind: KdcKind,
    client: Option<String>,
    client_realm: Option<String>,
    service: Option<String>,
    error_code: Option<i64>,
}

/// What the KDC exchange says about one episode.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KdcVerdict {
    /// The KDC's error that stood (no later success for the same service), and the service
    /// name it was about.
    pub error: Option<(i64, Option<String>)>,
    /// The client named by the TGS-REP for the proxy's service: user and realm.
    pub user: Option<(String, Option<String>)>,
    /// The client the standing error names (its `cname`, `crealm`).
    pub error_client: Option<(String, Option<String>)>,
}

impl KdcVerdict {
    /// `krb_error=NAME`, with `spn=NAME` for an unknown service principal.
    pub fn detail(&self) -> Option<String> {
        let (code, service) = self.error.as_ref()?;
        let mut d = format!("krb_error={}", krb_error_name(*code));
        if *code == S_PRINCIPAL_UNKNOWN {
            if let Some(s) = service {
                d.push_str(" spn=");
                d.push_str(s);
            }
        }
        Some(d)
    }
}

/// Recent KDC messages per client address.
pub struct KdcTracker {
    by_client: HashMap<IpAddr, VecDeque<Seen>>,
    /// Addresses in the order they were last seen (oldest first), for eviction.
    order: VecDeque<(Ts, IpAddr)>,
    max_clients: usize,
    pub evicted: u64,
}

/// A service of a ticket-granting ticket (`krbtgt/REALM`) or of a password change
/// (`kadmin/changepw`): not a service a proxy is.
fn is_tgt(service: Option<&str>) -> bool {
    service.is_some_and(|s| s.starts_with("krbtgt/"))
}

fn is_changepw(service: Option<&str>) -> bool {
    service.is_some_and(|s| s.eq_ignore_ascii_case("kadmin/changepw"))
}

/// Whether `service` (from the KDC) is the proxy's: the ticket's service principal when the
/// episode sent one, else any `HTTP/` service.
fn is_proxy_service(service: Option<&str>, ticket_service: Option<&str>) -> bool {
    let Some(s) = service else { return false };
    match ticket_service {
        Some(t) => s.eq_ignore_ascii_case(t),
        None => s.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("HTTP/")),
    }
}

impl KdcTracker {
    pub fn new(max_clients: usize) -> Self {
        KdcTracker {
            by_client: HashMap::new(),
            order: VecDeque::new(),
            max_clients: max_clients.max(1),
            evicted: 0,
        }
    }

    /// A message between `client` and its KDC, at `ts`.
    pub fn record(&mut self, ts: Ts, client: IpAddr, m: &KdcMessage) {
        // A TGS-REQ names no client and an AS-REQ only repeats what its answer says: only the
        // answers are kept.
        if m.kind.is_request() {
            return;
        }
        if !self.by_client.contains_key(&client) && self.by_client.len() >= self.max_clients {
            self.evict_one();
        }
        let q = self.by_client.entry(client).or_default();
        if q.len() >= PER_CLIENT {
            q.pop_front();
        }
        q.push_back(Seen {
            ts,
            kind: m.kind,
            client: m.client.clone(),
            client_realm: m.client_realm.clone(),
            service: m.service.clone(),
            error_code: m.error_code,
        });
        self.order.push_back((ts, client));
        // The order queue holds one entry per message at most PER_CLIENT × clients.
        let cap = self.max_clients.saturating_mul(PER_CLIENT);
        while self.order.len() > cap {
            self.order.pop_front();
        }
    }

    fn evict_one(&mut self) {
        while let Some((ts, ip)) = self.order.pop_front() {
            let latest = self.by_client.get(&ip).and_then(|q| q.back()).map(|s| s.ts);
            if latest == Some(ts) {
                self.by_client.remove(&ip);
                self.evicted = self.evicted.saturating_add(1);
                return;
            }
        }
        // The order queue lost track (it is capped): drop any one.
        if let Some(ip) = self.by_client.keys().next().copied() {
            self.by_client.remove(&ip);
            self.evicted = self.evicted.saturating_add(1);
        }
    }

    /// Forgets what is older than `horizon`.
    pub fn expire(&mut self, horizon: Ts) {
        self.by_client.retain(|_, q| {
            while q.front().is_some_and(|s| s.ts < horizon) {
                q.pop_front();
            }
            !q.is_empty()
        });
        while self.order.front().is_some_and(|(ts, _)| *ts < horizon) {
            self.order.pop_front();
        }
    }

    /// Addresses with messages kept.
    pub fn len(&self) -> usize {
        self.by_client.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_client.is_empty()
    }

    /// What the messages of `client` say about an episode from `start` to `end`, looking
    /// `window` before and after it, whose Kerberos ticket (if it sent one) was for
    /// `ticket_service`. Of the errors in that span that no success answered by the
    /// episode's end (a login of the same client after a failed one, a ticket for the same
    /// service), the one nearest to the episode stands (the later one on a tie); so does the
    /// nearest TGS-REP for the proxy.
    pub fn verdict(
        &self,
        client: IpAddr,
        (start, end): (Ts, Ts),
        window: i64,
        ticket_service: Option<&str>,
    ) -> KdcVerdict {
        let mut v = KdcVerdict::default();
        let Some(q) = self.by_client.get(&client) else {
            return v;
        };
        let from = Ts(start.0.saturating_sub(window));
        let to = Ts(end.0.saturating_add(window));
        let seen: Vec<&Seen> = q.iter().filter(|s| s.ts >= from && s.ts <= to).collect();
        let distance = |ts: Ts| {
            if ts < start {
                start.0.saturating_sub(ts.0)
            } else {
                ts.0.saturating_sub(end.0).max(0)
            }
        };
        let mut best_error: Option<(i64, &Seen)> = None;
        let mut best_user: Option<(i64, &Seen)> = None;
        for (i, s) in seen.iter().enumerate() {
            let later = seen.get(i.saturating_add(1)..).unwrap_or_default();
            match s.kind {
                KdcKind::Error => {
                    let Some(code) = s.error_code else { continue };
                    if code == PREAUTH_REQUIRED || is_changepw(s.service.as_deref()) {
                        continue;
                    }
                    // A success answers it only while the episode could still use it: up to
                    // the episode's end (an error after the end stands).
                    let until = end.max(s.ts);
                    if later.iter().any(|l| l.ts <= until && answers(s, l)) {
                        continue;
                    }
                    let d = distance(s.ts);
                    if best_error.is_none_or(|(bd, _)| d <= bd) {
                        best_error = Some((d, s));
                    }
                }
                KdcKind::TgsRep => {
                    if s.client.is_some() && is_proxy_service(s.service.as_deref(), ticket_service)
                    {
                        let d = distance(s.ts);
                        if best_user.is_none_or(|(bd, _)| d <= bd) {
                            best_user = Some((d, s));
                        }
                    }
                }
                KdcKind::AsRep | KdcKind::AsReq | KdcKind::TgsReq => {}
            }
        }
        if let Some((_, s)) = best_error {
            v.error = s.error_code.map(|c| (c, s.service.clone()));
            v.error_client = s.client.clone().map(|c| (c, s.client_realm.clone()));
        }
        if let Some((_, s)) = best_user {
            v.user = s.client.clone().map(|c| (c, s.client_realm.clone()));
        }
        v
    }
}

/// Whether `later` is a success that makes the error `err` moot: a login (an AS-REP for a
/// ticket-granting ticket; one for `kadmin/changepw` is a password change, not a login)
/// after a failed one, or a ticket for the service the error was about.
fn answers(err: &Seen, later: &Seen) -> bool {
    match later.kind {
        KdcKind::AsRep => {
            is_tgt(later.service.as_deref())
                && is_tgt(err.service.as_deref())
                && match (&err.client, &later.client) {
                    (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                    _ => true,
                }
        }
        KdcKind::TgsRep => err
            .service
            .as_deref()
            .zip(later.service.as_deref())
            .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn msg(kind: KdcKind, client: &str, service: &str, code: Option<i64>) -> KdcMessage {
        KdcMessage {
            kind,
            client: Some(client.to_string()),
            client_realm: Some("LAB.TEST".to_string()),
            service: Some(service.to_string()),
            service_realm: Some("LAB.TEST".to_string()),
            error_code: code,
            e_text: None,
        }
    }

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));

    #[test]
    fn preauth_required_is_no_failure_and_a_login_clears_a_wrong_password() {
        let mut k = KdcTracker::new(4);
        k.record(
            Ts(1),
            A,
            &msg(KdcKind::Error, "frank", "krbtgt/LAB.TEST", Some(25)),
        );
        assert_eq!(k.verdict(A, (Ts(0), Ts(9)), 0, None).error, None);
        k.record(
            Ts(2),
            A,
            &msg(KdcKind::Error, "frank", "krbtgt/LAB.TEST", Some(24)),
        );
        let v = k.verdict(A, (Ts(0), Ts(9)), 0, None);
        assert_eq!(
            v.detail().as_deref(),
            Some("krb_error=KDC_ERR_PREAUTH_FAILED")
        );
        assert_eq!(
            v.error_client,
            Some(("frank".into(), Some("LAB.TEST".into())))
        );
        k.record(
            Ts(3),
            A,
            &msg(KdcKind::AsRep, "frank", "krbtgt/LAB.TEST", None),
        );
        assert_eq!(k.verdict(A, (Ts(0), Ts(9)), 0, None).error, None);
        // Outside the window: not seen.
        assert_eq!(k.verdict(A, (Ts(3), Ts(9)), 0, None).error, None);
        assert_eq!(
            k.verdict(A, (Ts(2), Ts(2)), 0, None).detail().as_deref(),
            Some("krb_error=KDC_ERR_PREAUTH_FAILED")
        );
    }

    #[test]
    fn the_error_nearest_the_episode_stands() {
        let mut k = KdcTracker::new(4);
        k.record(
            Ts(100),
            A,
            &msg(KdcKind::Error, "frank", "krbtgt/LAB.TEST", Some(24)),
        );
        k.record(
            Ts(300),
            A,
            &msg(KdcKind::Error, "hank", "krbtgt/LAB.TEST", Some(18)),
        );
        let near_first = k.verdict(A, (Ts(110), Ts(120)), 1000, None);
        assert_eq!(near_first.error.map(|e| e.0), Some(24));
        let near_second = k.verdict(A, (Ts(280), Ts(290)), 1000, None);
        assert_eq!(near_second.error.map(|e| e.0), Some(18));
        assert_eq!(
            near_second.error_client.map(|c| c.0).as_deref(),
            Some("hank")
        );
        assert_eq!(k.verdict(A, (Ts(500), Ts(600)), 10, None).error, None);
        // A login after the episode does not answer the error that explains it, nor does
        // another user's.
        k.record(
            Ts(130),
            A,
            &msg(KdcKind::AsRep, "hank", "krbtgt/LAB.TEST", None),
        );
        k.record(
            Ts(200),
            A,
            &msg(KdcKind::AsRep, "frank", "krbtgt/LAB.TEST", None),
        );
        let v = k.verdict(A, (Ts(110), Ts(140)), 1000, None);
        assert_eq!(v.error.map(|e| e.0), Some(24));
        assert_eq!(k.verdict(A, (Ts(110), Ts(210)), 0, None).error, None);
    }

    #[test]
    fn a_password_change_ticket_is_no_login() {
        let mut k = KdcTracker::new(4);
        k.record(
            Ts(1),
            A,
            &msg(KdcKind::Error, "gina", "krbtgt/LAB.TEST", Some(23)),
        );
        k.record(
            Ts(2),
            A,
            &msg(KdcKind::Error, "gina", "kadmin/changepw", Some(25)),
        );
        k.record(
            Ts(3),
            A,
            &msg(KdcKind::AsRep, "gina", "kadmin/changepw", None),
        );
        let v = k.verdict(A, (Ts(0), Ts(9)), 0, None);
        assert_eq!(v.detail().as_deref(), Some("krb_error=KDC_ERR_KEY_EXPIRED"));
        assert_eq!(v.user, None);
    }

    #[test]
    fn the_proxy_ticket_names_the_user_and_an_unknown_spn_is_shown() {
        let mut k = KdcTracker::new(1);
        k.record(Ts(1), A, &msg(KdcKind::TgsRep, "frank", "HTTP/proxy", None));
        let v = k.verdict(A, (Ts(0), Ts(9)), 0, Some("HTTP/proxy"));
        assert_eq!(v.user, Some(("frank".into(), Some("LAB.TEST".into()))));
        assert_eq!(
            k.verdict(A, (Ts(0), Ts(9)), 0, Some("HTTP/other")).user,
            None
        );
        k.record(
            Ts(2),
            A,
            &msg(KdcKind::Error, "frank", "HTTP/10.1.1.1", Some(7)),
        );
        assert_eq!(
            k.verdict(A, (Ts(0), Ts(9)), 0, None).detail().as_deref(),
            Some("krb_error=KDC_ERR_S_PRINCIPAL_UNKNOWN spn=HTTP/10.1.1.1")
        );
        // Bounded: a second address evicts the first.
        let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        k.record(Ts(3), b, &msg(KdcKind::TgsRep, "gina", "HTTP/proxy", None));
        assert_eq!(k.len(), 1);
        assert_eq!(k.evicted, 1);
        assert_eq!(k.verdict(A, (Ts(0), Ts(9)), 0, None), KdcVerdict::default());
        k.expire(Ts(4));
        assert!(k.is_empty());
    }
}
