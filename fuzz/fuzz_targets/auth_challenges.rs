//! `Proxy-Authenticate` values: the input split at newlines into several header values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy407::auth::parse_challenges;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_challenges(text.split('\n'));
});
