//! Single messages exactly as the mix writes them, for the stage benches.

use super::plan::{offers, proxy_error, request, Ctx};
use super::script::{take, Cursor, Pools, Script};
use super::tokens::{kerberos_token, ntlm_type3};
use super::world::World;
use super::START_SECS;
use crate::rng::WyRand;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

fn with_ctx<T>(seed: u64, connect: bool, f: impl FnOnce(&mut WyRand, &Ctx<'_>) -> T) -> T {
    let mut rng = WyRand(seed);
    let world = World::new(&mut rng);
    let c = &world.clients[7];
    let x = Ctx {
        c,
        p: &world.proxies[0],
        host: &world.hosts[3],
        connect,
        ua: c.ua,
        secs: START_SECS,
    };
    f(&mut rng, &x)
}

/// The value of a `Proxy-Authorization` header carrying an NTLMv2 type 3 message.
pub fn ntlm_type3_header(seed: u64) -> String {
    with_ctx(seed, true, |rng, x| {
        format!(
            "NTLM {}",
            B64.encode(ntlm_type3(rng, x.c, x.p, x.secs, false))
        )
    })
}

/// The value of a `Proxy-Authorization` header carrying SPNEGO with a Kerberos AP-REQ.
pub fn kerberos_header(seed: u64) -> String {
    with_ctx(seed, true, |rng, x| {
        format!("Negotiate {}", B64.encode(kerberos_token(rng, x.c, x.p)))
    })
}

/// A request head (absolute-form GET when `connect` is false) with `creds`.
pub fn request_head(seed: u64, connect: bool, creds: Option<&str>) -> Vec<u8> {
    with_ctx(seed, connect, |rng, x| {
        let mut s = Script::default();
        request(&mut s, rng, x, creds);
        s.lit
    })
}

/// A Squid `407` offering Negotiate, NTLM and Basic: its head and its error page.
pub fn response_407(seed: u64) -> Vec<u8> {
    with_ctx(seed, true, |rng, x| {
        let mut s = Script::default();
        let ch = offers(x, rng, None);
        proxy_error(&mut s, rng, x, 407, &ch, false);
        let pools = Pools::new(rng);
        let mut out = Vec::new();
        let mut cur = Cursor::default();
        let len = s.msgs.first().map_or(0, |m| m.len);
        take(&s, &mut cur, len, Some(&mut out), &pools, rng);
        out
    })
}
