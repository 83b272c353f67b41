//! KDC messages (AS-REQ, AS-REP, TGS-REQ, TGS-REP, KRB-ERROR) and the DER reader under them:
//! the input as one UDP message, and as TCP bytes cut into records, in two cuts (the first
//! byte says where).
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy407::auth::kdc::{self, KdcStream};
use proxy407::auth::negotiate;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = kdc::parse(data) {
        if let Some(code) = m.error_code {
            let _ = negotiate::krb_error_name(code);
        }
    }
    let _ = kdc::looks_like_kdc(data);
    let (cut, rest) = match data.split_first() {
        Some((&c, rest)) => (usize::from(c).min(rest.len()), rest),
        None => (0, data),
    };
    let mut s = KdcStream::default();
    let mut n = 0usize;
    let (a, b) = rest.split_at(cut);
    s.data(a, &mut |_| n += 1);
    s.data(b, &mut |_| n += 1);
    assert!(s.held() <= kdc::MAX_MESSAGE + rest.len());
    s.gap();
    s.data(rest, &mut |_| n += 1);
});
