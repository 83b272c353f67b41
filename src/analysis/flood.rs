//! Connection floods and scans against a proxy (`docs/verdicts.md` §3.11): failed connection
//! attempts from sources that look like no client are counted per proxy, not made into
//! `proxy_unreachable` episodes, so a SYN flood or a port scan neither fills memory with
//! episodes nor the per-client tables with a million one-row clients.
//!
//! The rule: an attempt is a client's when its source retried (the SYN was sent again, or
//! the source has an open `proxy_unreachable` episode for that proxy, or it sends another
//! attempt to that proxy within the window), or has made requests on a proxy connection
//! before. The other attempts are *one-shot*. The one-shot attempts to a proxy are held for
//! [`WINDOW_US`] from the first: when at most [`FEW_SOURCES`] sources sent them, they are
//! clients after all (a few users whose proxy refused them once); beyond that the window's
//! one-shot attempts, and the proxy's later ones while the window lasts, are a flood.

use crate::model::{Flood, Ts};
use foldhash::{HashMap, HashSet};
use std::net::IpAddr;

/// How long one-shot attempts to a proxy are held before they are judged clients or flood.
pub const WINDOW_US: i64 = 60_000_000;
/// Most one-shot sources in one window that are still taken for clients.
pub const FEW_SOURCES: usize = 16;
/// Distinct sources counted exactly per proxy (about 40 MB at the limit); beyond, attempts
/// are still counted.
pub const MAX_SOURCES: usize = 1 << 20;

/// One failed attempt as the analysis receives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub ts: Ts,
    pub client_ip: IpAddr,
    pub proxy_ip: IpAddr,
    pub proxy_port: u16,
    pub reset: bool,
}

type ProxyKey = (IpAddr, u16);

#[derive(Debug, Default)]
struct Window {
    start: Ts,
    /// The window's one-shot attempts while they are few (at most `FEW_SOURCES + 1` kept).
    held: Vec<Attempt>,
    /// More than `FEW_SOURCES` sources: the window is a flood.
    flood: bool,
}

#[derive(Debug)]
struct FloodAcc {
    /// Sources as 128-bit numbers (IPv4 mapped): 16 bytes each.
    sources: HashSet<u128>,
    capped: bool,
    attempts: u64,
    first_ts: Ts,
    last_ts: Ts,
}

/// What [`FloodTracker::one_shot`] decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Attempts of a client: apply them as `proxy_unreachable`, in this order.
    Clients(Vec<Attempt>),
    /// Held with the proxy's one-shot attempts, or counted as a flood.
    Held,
}

/// The one-shot attempts per proxy and the floods found.
#[derive(Debug)]
pub struct FloodTracker {
    windows: HashMap<ProxyKey, Window>,
    floods: HashMap<ProxyKey, FloodAcc>,
    max_sources: usize,
    /// Sources not counted as distinct because the cap was reached.
    pub sources_dropped: u64,
}

impl FloodTracker {
    pub fn new(max_sources: usize) -> Self {
        FloodTracker {
            windows: HashMap::default(),
            floods: HashMap::default(),
            max_sources,
            sources_dropped: 0,
        }
    }

    /// A one-shot attempt (the caller checked it is not a client's by retry or history).
    pub fn one_shot(&mut self, a: Attempt) -> Decision {
        let key = (a.proxy_ip, a.proxy_port);
        let w = self.windows.entry(key).or_insert_with(|| Window {
            start: a.ts,
            ..Window::default()
        });
        if let Some(i) = w.held.iter().position(|h| h.client_ip == a.client_ip) {
            // The source tried again: a client, with its earlier attempt.
            let first = w.held.remove(i);
            return Decision::Clients(vec![first, a]);
        }
        if w.flood {
            self.count(a);
            return Decision::Held;
        }
        w.held.push(a);
        if w.held.len() > FEW_SOURCES {
            w.flood = true;
            let held = std::mem::take(&mut w.held);
            for h in held {
                self.count(h);
            }
        }
        Decision::Held
    }

    fn count(&mut self, a: Attempt) {
        let acc = self
            .floods
            .entry((a.proxy_ip, a.proxy_port))
            .or_insert_with(|| FloodAcc {
                sources: HashSet::default(),
                capped: false,
                attempts: 0,
                first_ts: a.ts,
                last_ts: a.ts,
            });
        acc.attempts += 1;
        acc.first_ts = acc.first_ts.min(a.ts);
        acc.last_ts = acc.last_ts.max(a.ts);
        let ip = match a.client_ip {
            IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
            IpAddr::V6(v6) => u128::from(v6),
        };
        if !acc.sources.contains(&ip) {
            if acc.sources.len() < self.max_sources {
                acc.sources.insert(ip);
            } else {
                acc.capped = true;
                self.sources_dropped += 1;
            }
        }
    }

    /// Windows that ended before `now` (all of them with `None`): the attempts of those that
    /// stayed few are clients', in time order.
    pub fn expire(&mut self, now: Option<Ts>) -> Vec<Attempt> {
        let mut clients = Vec::new();
        self.windows.retain(|_, w| {
            let over = now.is_none_or(|n| n.0.saturating_sub(w.start.0) >= WINDOW_US);
            if over && !w.flood {
                clients.append(&mut w.held);
            }
            !over
        });
        clients.sort_by_key(|a| a.ts);
        clients
    }

    /// The floods so far, by proxy.
    pub fn floods(&self) -> Vec<Flood> {
        let mut v: Vec<Flood> = self
            .floods
            .iter()
            .map(|(&(ip, port), acc)| Flood {
                proxy_ip: ip,
                proxy_port: port,
                sources: acc.sources.len() as u64,
                sources_capped: acc.capped,
                attempts: acc.attempts,
                first_ts: acc.first_ts,
                last_ts: acc.last_ts,
            })
            .collect();
        v.sort_by(|a, b| {
            b.attempts
                .cmp(&a.attempts)
                .then((a.proxy_ip, a.proxy_port).cmp(&(b.proxy_ip, b.proxy_port)))
        });
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ts: i64, client: u32) -> Attempt {
        Attempt {
            ts: Ts(ts),
            client_ip: IpAddr::from(client.to_be_bytes()),
            proxy_ip: IpAddr::from([10, 0, 0, 10]),
            proxy_port: 3128,
            reset: false,
        }
    }

    #[test]
    fn few_one_shot_sources_are_clients() {
        let mut f = FloodTracker::new(100);
        for i in 0..FEW_SOURCES as u32 {
            assert_eq!(f.one_shot(at(i64::from(i), i)), Decision::Held);
        }
        assert!(f.expire(Some(Ts(WINDOW_US - 1))).is_empty());
        assert_eq!(f.expire(Some(Ts(WINDOW_US))).len(), FEW_SOURCES);
        assert!(f.floods().is_empty());
    }

    #[test]
    fn many_one_shot_sources_are_a_flood_and_a_retry_is_a_client() {
        let mut f = FloodTracker::new(1000);
        for i in 0..500u32 {
            f.one_shot(at(i64::from(i), i));
        }
        // A source held in a window of few that tries again is a client at once.
        let mut g = FloodTracker::new(10);
        g.one_shot(at(0, 7));
        assert_eq!(
            g.one_shot(at(5, 7)),
            Decision::Clients(vec![at(0, 7), at(5, 7)])
        );
        assert!(f.expire(None).is_empty());
        let floods = f.floods();
        assert_eq!(floods.len(), 1);
        assert_eq!((floods[0].sources, floods[0].attempts), (500, 500));
        assert!(!floods[0].sources_capped);
        // The distinct count stops at its cap and says so.
        let mut h = FloodTracker::new(100);
        for i in 0..300u32 {
            h.one_shot(at(i64::from(i), i));
        }
        let fl = h.floods();
        assert_eq!((fl[0].sources, fl[0].attempts), (100, 300));
        assert!(fl[0].sources_capped);
        assert_eq!(h.sources_dropped, 200);
    }
}
