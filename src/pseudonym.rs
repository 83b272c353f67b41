//! `--pseudonymize KEY` and `--pseudonymize-ips`: identities and client addresses replaced by
//! a keyed hash (HMAC-SHA-256), stable for one key, in every output.

use hmac::{Hmac, Mac};
use sha2::Sha256;

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
}
