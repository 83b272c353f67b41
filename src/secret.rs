//! A string that may hold a secret (a `Proxy-Authorization` value, an NTLM challenge):
//! it has no `Display` and no `Serialize`, and its `Debug` prints only its length, so it
//! cannot reach an output, a log or a panic message by accident.

/// An owned header value that may carry a password, hash, nonce or token.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The value, for the auth parsers only.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn debug_hides_the_value() {
        let s = Secret::new("Basic dXNlcjpodW50ZXIy");
        let shown = format!("{s:?}");
        assert!(!shown.contains("dXNl"), "{shown}");
        assert!(shown.contains("22 bytes"));
    }
}
