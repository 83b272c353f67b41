//! The Basic (RFC 7617) and Digest (RFC 7616) header values: credentials and challenges.
//! Digest responses are the caller's (random hex in generated traffic): nothing here
//! computes a hash.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

/// `Basic base64(user:password)`.
pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", B64.encode(format!("{user}:{password}")))
}

/// `Basic realm="…"`.
pub fn basic_challenge(realm: &str) -> String {
    format!("Basic realm=\"{realm}\"")
}

/// A Digest challenge with `qop="auth"` and an explicit `stale`.
pub fn digest_challenge(realm: &str, nonce: &str, stale: bool) -> String {
    format!(
        "Digest realm=\"{realm}\", nonce=\"{nonce}\", qop=\"auth\", stale={}",
        if stale { "true" } else { "false" }
    )
}

/// The fields of Digest credentials with `qop=auth` and MD5.
#[derive(Clone, Debug)]
pub struct DigestCredentials<'a> {
    pub username: &'a str,
    pub realm: &'a str,
    pub nonce: &'a str,
    pub uri: &'a str,
    pub cnonce: &'a str,
    pub nc: u32,
    /// 32 hex digits.
    pub response: &'a str,
}

impl DigestCredentials<'_> {
    pub fn header_value(&self) -> String {
        format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", \
             cnonce=\"{}\", nc={:08x}, qop=auth, response=\"{}\", algorithm=MD5",
            self.username, self.realm, self.nonce, self.uri, self.cnonce, self.nc, self.response
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_is_base64_of_user_colon_password() {
        assert_eq!(
            basic("anna.smith", "Gen-abc"),
            "Basic YW5uYS5zbWl0aDpHZW4tYWJj"
        );
    }
}
