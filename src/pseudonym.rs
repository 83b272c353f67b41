//! `--pseudonymize KEY` and `--pseudonymize-ips`: identities and client addresses replaced by
//! a keyed hash (HMAC-SHA-256), stable for one key, in every output.

use crate::model::{Episode, Transaction};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::{IpAddr, Ipv6Addr};

/// Replaces names (and optionally client IPs) by keyed hashes.
#[derive(Clone, Debug)]
pub struct Pseudonymizer {
    key: Vec<u8>,
    pub ips: bool,
}

impl Pseudonymizer {
    pub fn new(key: &str, ips: bool) -> Self {
        Pseudonymizer {
            key: key.as_bytes().to_vec(),
            ips,
        }
    }

    /// `kind` keeps a user from hashing like a host of the same name (`user`, `domain`, ...).
    pub fn name(&self, kind: &str, value: &str) -> String {
        format!("{}-{}", kind, self.digest(kind, value))
    }

    fn digest(&self, kind: &str, value: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return "x".into();
        };
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(value.to_lowercase().as_bytes());
        let out = mac.finalize().into_bytes();
        out.iter().take(6).map(|b| format!("{b:02x}")).collect()
    }
}

/// A client address replaced by one derived from its keyed hash: IPv4 and IPv6 clients
/// both map into `fd00::/8` (40 bits of the hash), so pseudonyms practically never collide
/// and can never be mistaken for a real address of the network.
pub(crate) fn pseudonymize_ip(p: &Pseudonymizer, ip: IpAddr) -> IpAddr {
    let name = p.name("ip", &ip.to_string());
    let hex = name.rsplit('-').next().unwrap_or("");
    let mut bytes = [0u8; 16];
    bytes[0] = 0xfd;
    for (i, slot) in bytes.iter_mut().skip(1).take(5).enumerate() {
        let b = hex
            .get(i * 2..i * 2 + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0);
        *slot = b;
    }
    bytes[15] = 1;
    IpAddr::V6(Ipv6Addr::from(bytes))
}

/// Rewrites user, domain and workstation (and, when the pseudonymizer says so, the client
/// address) of every record by keyed hashes, before anything is aggregated, so every view
/// shows only pseudonyms. With IPs pseudonymized the transactions' `community_id` is
/// emptied too: it is a hash of the real addresses and would undo the pseudonym.
pub fn pseudonymize(episodes: &mut [Episode], transactions: &mut [Transaction], p: &Pseudonymizer) {
    for e in episodes.iter_mut() {
        pseudonymize_episode(e, p);
    }
    for t in transactions.iter_mut() {
        pseudonymize_transaction(t, p);
    }
}

fn rename(p: &Pseudonymizer, kind: &str, v: &mut Option<String>) {
    if let Some(s) = v.as_mut() {
        *s = p.name(kind, s);
    }
}

/// One episode, as [`pseudonymize`] does it (records streamed one at a time).
pub fn pseudonymize_episode(e: &mut Episode, p: &Pseudonymizer) {
    rename(p, "user", &mut e.user);
    rename(p, "domain", &mut e.domain);
    rename(p, "workstation", &mut e.workstation);
    if p.ips {
        e.client_ip = pseudonymize_ip(p, e.client_ip);
    }
}

/// One transaction, as [`pseudonymize`] does it.
pub fn pseudonymize_transaction(t: &mut Transaction, p: &Pseudonymizer) {
    rename(p, "user", &mut t.user);
    rename(p, "domain", &mut t.domain);
    rename(p, "workstation", &mut t.workstation);
    rename(p, "user", &mut t.lockout_account);
    if p.ips {
        t.client_ip = pseudonymize_ip(p, t.client_ip);
        t.community_id.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn stable_per_key_and_different_across_keys() {
        let a = Pseudonymizer::new("k1", false);
        let b = Pseudonymizer::new("k2", false);
        assert_eq!(a.name("user", "alice"), a.name("user", "ALICE"));
        assert_ne!(a.name("user", "alice"), b.name("user", "alice"));
        assert_ne!(a.name("user", "alice"), a.name("domain", "alice"));
        assert!(!a.name("user", "alice").contains("alice"));
    }

    #[test]
    fn ip_pseudonyms_are_stable_and_distinct() {
        let p = Pseudonymizer::new("k", true);
        let a: IpAddr = "192.0.2.10".parse().unwrap();
        let b: IpAddr = "192.0.2.11".parse().unwrap();
        let pa = pseudonymize_ip(&p, a);
        assert_eq!(pa, pseudonymize_ip(&p, a));
        assert_ne!(pa, pseudonymize_ip(&p, b));
        assert_ne!(pa, pseudonymize_ip(&Pseudonymizer::new("other", true), a));
        match pa {
            IpAddr::V6(v6) => assert_eq!(v6.octets()[0], 0xfd),
            IpAddr::V4(_) => panic!("expected fd00::/8"),
        }
    }
}
