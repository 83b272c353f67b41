//! Negotiate tokens: SPNEGO, Kerberos AP-REQ, KRB-ERROR, NTLMSSP inside, and the DER walker
//! under them, as client credentials and as a server's reply.
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use proxy407::auth::{negotiate, parse_challenges, parse_credentials};

fuzz_target!(|data: &[u8]| {
    let t = negotiate::parse(data);
    if let Some(code) = t.krb_error_code {
        let _ = negotiate::krb_error_name(code);
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    let v = format!("Negotiate {b64}");
    let _ = parse_credentials(&v);
    let _ = parse_challenges([v.as_str()]);
});
