//! NTLMSSP messages. The input follows the `NTLMSSP\0` signature, so every message type
//! and security buffer layout is reached quickly.
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use proxy407::auth::{ntlm, parse_challenges, parse_credentials};

fuzz_target!(|data: &[u8]| {
    let _ = ntlm::parse(data);
    let mut msg = ntlm::SIGNATURE.to_vec();
    msg.extend_from_slice(data);
    let _ = ntlm::parse(&msg);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&msg);
    let _ = parse_credentials(&format!("NTLM {b64}"));
    let _ = parse_challenges([format!("NTLM {b64}").as_str()]);
});
