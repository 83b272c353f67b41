//! Basic credentials (RFC 7617): base64 of `user:password`. The user is the text before the
//! first `:`; the password is never copied, and the decoded buffer is zeroed before it is
//! dropped. Missing padding is tolerated; bytes that are not UTF-8 are replaced.

use crate::anomaly::CredentialAnomaly as A;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

/// Standard alphabet, padding optional, stray trailing bits accepted.
pub const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes a base64 token (standard alphabet, padding optional). `None` when it is not
/// base64. Callers that may hold a secret in the result must [`wipe`] it.
pub(crate) fn decode_base64(token: &str) -> Option<Vec<u8>> {
    LENIENT.decode(token.trim().as_bytes()).ok()
}

/// Overwrites a buffer that held a secret.
pub(crate) fn wipe(buf: &mut [u8]) {
    buf.fill(0);
    // Keeps the zeroing from being dropped as a dead store (best effort, no `unsafe`).
    std::hint::black_box(&buf);
}

/// The user name of a Basic token, or the anomaly that prevents reading it:
/// `bad_base64`, or `basic_no_colon` (no `:`, so user and password cannot be told apart).
pub fn parse(token: &str) -> Result<String, A> {
    let mut buf = decode_base64(token).ok_or(A::BadBase64)?;
    let result = match buf.iter().position(|&b| b == b':') {
        Some(i) => Ok(String::from_utf8_lossy(buf.get(..i).unwrap_or(&[])).into_owned()),
        None => Err(A::BasicNoColon),
    };
    wipe(&mut buf);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_before_first_colon() {
        // "test:1:34"
        assert_eq!(parse("dGVzdDoxOjM0").as_deref(), Ok("test"));
        // "user:pass" without padding ("dXNlcjpwYXNz" has none; "YTpi" = "a:b")
        assert_eq!(parse("YTpiYw").as_deref(), Ok("a")); // "a:bc" unpadded
        assert_eq!(parse("YTpiYw==").as_deref(), Ok("a"));
        assert_eq!(parse("OnB3").as_deref(), Ok("")); // ":pw"
    }

    #[test]
    fn errors() {
        assert_eq!(parse("!!!"), Err(A::BadBase64));
        assert_eq!(parse("dXNlcg=="), Err(A::BasicNoColon)); // "user"
    }

    #[test]
    fn lossy_non_utf8() {
        // 0xe9 ':' 'x'
        assert_eq!(parse("6Tp4").as_deref(), Ok("\u{fffd}"));
    }
}
