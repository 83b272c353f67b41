//! `Proxy-Authorization` values: the header grammar, then Basic, Digest, NTLM or Negotiate.
//! The input is used as the value itself, and also as the decoded token of each
//! token-based scheme so the byte parsers are reached without base64 in the way.
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use proxy407::auth::parse_credentials;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let c = parse_credentials(&text);
    assert_eq!(c.header_len, text.len());
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    for scheme in ["Basic", "NTLM", "Negotiate"] {
        let _ = parse_credentials(&format!("{scheme} {b64}"));
    }
});
