//! Who an episode belongs to when its credentials do not say (`docs/verdicts.md` §2.3), and
//! per-user lockout risk (§5.2).
//!
//! [`IdentityHistory`] remembers, per client IP, the users seen in credentials over the
//! capture (only the changes, a bounded number per client and a bounded number of clients).
//! An episode without an identity of its own (no credentials, Kerberos, or a connection
//! attempt that failed) takes the user last seen from its client IP at or before the episode's
//! end; failing that, the first one seen later, up to the moment the episode settles (the end
//! of the capture, or the settle delay after it was judged).
//!
//! [`LockoutTracker`] keeps, per user, the rejected final-credential attempts inside the
//! sliding lockout window, whichever episodes they belong to, and says which episodes
//! contributed once the threshold is reached. Users idle longer than the window are dropped.

use crate::model::Ts;
use foldhash::{HashMap, HashMapExt};
use std::collections::VecDeque;
use std::net::IpAddr;

/// Changes of user kept per client IP.
const SIGHTINGS_PER_CLIENT: usize = 16;

/// A user seen in credentials from one client IP, from `ts` on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sighting {
    pub ts: Ts,
    pub user: String,
    pub domain: Option<String>,
}

#[derive(Clone, Debug, Default)]
struct ClientIds {
    sightings: VecDeque<Sighting>,
    last_ts: Ts,
}

/// Users seen authenticating, per client IP, for at most `max_clients` addresses (the least
/// recently seen is forgotten beyond).
#[derive(Clone, Debug)]
pub struct IdentityHistory {
    clients: HashMap<IpAddr, ClientIds>,
    max_clients: usize,
    evicted: u64,
}

impl Default for IdentityHistory {
    fn default() -> Self {
        IdentityHistory::new(200_000)
    }
}

impl IdentityHistory {
    pub fn new(max_clients: usize) -> Self {
        IdentityHistory {
            clients: HashMap::new(),
            max_clients: max_clients.max(1),
            evicted: 0,
        }
    }

    /// Addresses forgotten to stay within the limit.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Credentials from `ip` at `ts` named `user`.
    pub fn record(&mut self, ip: IpAddr, ts: Ts, user: &str, domain: Option<&str>) {
        if !self.clients.contains_key(&ip) && self.clients.len() >= self.max_clients {
            self.evict_oldest();
        }
        let c = self.clients.entry(ip).or_default();
        if ts > c.last_ts {
            c.last_ts = ts;
        }
        let same = c
            .sightings
            .back()
            .is_some_and(|s| s.user == user && s.domain.as_deref() == domain);
        if same {
            return;
        }
        if c.sightings.len() >= SIGHTINGS_PER_CLIENT {
            c.sightings.pop_front();
        }
        c.sightings.push_back(Sighting {
            ts,
            user: user.to_string(),
            domain: domain.map(str::to_string),
        });
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .clients
            .iter()
            .min_by_key(|(_, c)| c.last_ts)
            .map(|(ip, _)| *ip);
        if let Some(ip) = oldest {
            self.clients.remove(&ip);
            self.evicted += 1;
        }
    }

    /// The user last seen from `ip` at or before `ts`, else the first seen after it.
    pub(crate) fn infer(&self, ip: IpAddr, ts: Ts) -> Option<&Sighting> {
        let c = self.clients.get(&ip)?;
        c.sightings
            .iter()
            .rev()
            .find(|s| s.ts <= ts)
            .or_else(|| c.sightings.front())
    }
}

/// The key a user's attempts are counted under: lower-cased, `DOMAIN\` prefix dropped, so
/// `CORP\alice` (NTLM) and `alice` (Basic) are one account.
pub(crate) fn lockout_key(user: &str) -> String {
    let u = match user.rfind('\\') {
        Some(i) => user.get(i + 1..).unwrap_or(user),
        None => user,
    };
    u.to_lowercase()
}

/// Rejected final-credential attempts per user, in a sliding window, for at most
/// `max_users` users at once.
#[derive(Clone, Debug)]
pub struct LockoutTracker {
    threshold: u32,
    window_us: i64,
    users: HashMap<String, VecDeque<(Ts, u64)>>,
    max_users: usize,
    untracked: u64,
}

impl LockoutTracker {
    pub fn new(threshold: u32, window_us: i64, max_users: usize) -> Self {
        LockoutTracker {
            threshold: threshold.max(1),
            window_us,
            users: HashMap::new(),
            max_users: max_users.max(1),
            untracked: 0,
        }
    }

    /// Attempts not tracked because the limit of users was reached.
    pub fn untracked(&self) -> u64 {
        self.untracked
    }

    /// A rejected attempt of `user` at `ts` in episode `episode`. Returns the episodes that
    /// contributed to the threshold being reached (empty while below it).
    pub fn rejected(&mut self, user: &str, ts: Ts, episode: u64) -> Vec<u64> {
        let key = lockout_key(user);
        if !self.users.contains_key(&key) && self.users.len() >= self.max_users {
            self.expire(ts);
            if self.users.len() >= self.max_users {
                self.untracked += 1;
                return Vec::new();
            }
        }
        let q = self.users.entry(key).or_default();
        q.push_back((ts, episode));
        let start = ts.plus_micros(self.window_us.saturating_neg());
        while q.front().is_some_and(|(t, _)| *t < start) {
            q.pop_front();
        }
        // Attempts per user are capped: far beyond the threshold adds nothing.
        let cap = usize::try_from(self.threshold).unwrap_or(usize::MAX).max(1) * 4;
        while q.len() > cap {
            q.pop_front();
        }
        if q.len() < usize::try_from(self.threshold).unwrap_or(usize::MAX) {
            return Vec::new();
        }
        let mut eps: Vec<u64> = q.iter().map(|(_, e)| *e).collect();
        eps.dedup();
        eps
    }

    /// Forgets users with no attempt inside the window before `now`.
    pub fn expire(&mut self, now: Ts) {
        let start = now.plus_micros(self.window_us.saturating_neg());
        self.users
            .retain(|_, q| q.back().is_some_and(|(t, _)| *t >= start));
    }

    #[cfg(test)]
    pub(crate) fn users_tracked(&self) -> usize {
        self.users.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn infers_the_last_user_before_else_the_first_after() {
        let mut h = IdentityHistory::default();
        let a = ip("10.0.0.1");
        h.record(a, Ts(100), "alice", Some("CORP"));
        h.record(a, Ts(200), "alice", Some("CORP"));
        h.record(a, Ts(300), "bob", None);
        assert_eq!(h.infer(a, Ts(250)).map(|s| s.user.as_str()), Some("alice"));
        assert_eq!(h.infer(a, Ts(350)).map(|s| s.user.as_str()), Some("bob"));
        assert_eq!(h.infer(a, Ts(50)).map(|s| s.user.as_str()), Some("alice"));
        assert!(h.infer(ip("10.0.0.2"), Ts(50)).is_none());
    }

    #[test]
    fn lockout_is_a_sliding_window() {
        let mut l = LockoutTracker::new(3, 100, 10);
        assert!(l.rejected("CORP\\Alice", Ts(0), 1).is_empty());
        assert!(l.rejected("alice", Ts(50), 2).is_empty());
        assert_eq!(l.rejected("ALICE", Ts(90), 2), vec![1, 2]);
        // The first attempt left the window: two remain.
        assert!(l.rejected("bob", Ts(95), 3).is_empty());
        assert_eq!(l.rejected("alice", Ts(120), 4), vec![2, 4]);
        l.expire(Ts(1000));
        assert_eq!(l.users_tracked(), 0);
    }
}
