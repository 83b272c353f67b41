//! Connection plans: the kinds of connection the mix opens (tunnels, plain HTTP, each kind
//! of authentication episode, each failure) with their weights and expected verdicts, and
//! the scripts each kind says: request and response heads, error pages, TLS sessions,
//! bodies.

use super::script::{Pools, Script, Tally};
use super::tokens::*;
use super::world::{domain, Client, Offers, Proxy, World, APP_UA, N_CLIENTS, N_TROUBLED, WORDS};
use super::Truth;
use crate::http::Head;
use crate::rng::WyRand;
use crate::time::http_date;
use crate::tls;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Tunnel,
    PlainHttp,
    MidStream,
    NtlmOk,
    NtlmInNegotiate,
    NtlmV1Ok,
    KerberosOk,
    BasicOk,
    DigestOk,
    DigestStaleOk,
    NtlmBadPassword,
    KerberosRejected,
    BasicBadPassword,
    DigestBadPassword,
    NtlmHandshakeBroken,
    NoRetry,
    Denied403,
    SchemeMismatch,
    ProxyUnreachable,
    ProxyReset,
}

/// (kind, weight, name, expected verdict; empty = not an episode).
pub(crate) const KINDS: &[(Kind, u32, &str, &str)] = &[
    (Kind::Tunnel, 300, "tunnel_no_auth", ""),
    (Kind::PlainHttp, 170, "http_no_auth", ""),
    (Kind::MidStream, 20, "mid_stream_no_handshake", ""),
    (Kind::NtlmOk, 150, "ntlm_ok", "authenticated"),
    (
        Kind::NtlmInNegotiate,
        20,
        "negotiate_ntlm_ok",
        "authenticated",
    ),
    (Kind::NtlmV1Ok, 5, "ntlmv1_ok", "authenticated"),
    (Kind::KerberosOk, 120, "kerberos_ok", "authenticated"),
    (Kind::BasicOk, 60, "basic_ok", "authenticated"),
    (Kind::DigestOk, 20, "digest_ok", "authenticated"),
    (Kind::DigestStaleOk, 5, "digest_stale_ok", "authenticated"),
    (
        Kind::NtlmBadPassword,
        10,
        "ntlm_bad_password",
        "failed/bad_credentials",
    ),
    (
        Kind::KerberosRejected,
        8,
        "kerberos_rejected",
        "failed/bad_credentials",
    ),
    (
        Kind::BasicBadPassword,
        15,
        "basic_bad_password",
        "failed/bad_credentials",
    ),
    (
        Kind::DigestBadPassword,
        4,
        "digest_bad_password",
        "failed/bad_credentials",
    ),
    (
        Kind::NtlmHandshakeBroken,
        8,
        "ntlm_handshake_broken",
        "failed/handshake_broken",
    ),
    (Kind::NoRetry, 40, "no_retry", "failed/no_credentials"),
    (Kind::Denied403, 15, "denied_403", "failed/denied"),
    (
        Kind::SchemeMismatch,
        4,
        "scheme_mismatch",
        "failed/scheme_mismatch",
    ),
    (
        Kind::ProxyUnreachable,
        6,
        "proxy_unreachable",
        "failed/proxy_unreachable",
    ),
    (
        Kind::ProxyReset,
        3,
        "proxy_reset",
        "failed/connection_closed",
    ),
];

/// A connection to be opened: its script and how it starts and ends.
pub(crate) struct Plan {
    pub(crate) client: usize,
    pub(crate) proxy: usize,
    pub(crate) s: Script,
    pub(crate) handshake: bool,
    pub(crate) close_by_client: bool,
    pub(crate) rst: bool,
    /// No SYN-ACK: `Some(false)` unanswered SYNs, `Some(true)` refused by a RST.
    pub(crate) unreachable: Option<bool>,
    /// A connection the client opens when this one is over (a retry).
    pub(crate) follow: Option<Box<Plan>>,
}

/// Everything a plan builder needs to know.
pub(crate) struct Ctx<'a> {
    pub(crate) c: &'a Client,
    pub(crate) p: &'a Proxy,
    pub(crate) host: &'a str,
    pub(crate) connect: bool,
    pub(crate) ua: &'a str,
    pub(crate) secs: u64,
}

pub(crate) struct Env {
    pub(crate) rng: WyRand,
    pub(crate) pools: Pools,
    pub(crate) ts: u64,
    pub(crate) truth: Truth,
    pub(crate) draining: bool,
    pub(crate) ports: Vec<u16>,
    pub(crate) weight_total: u32,
}

pub(crate) fn path(rng: &mut WyRand) -> String {
    let w = rng.pick(WORDS);
    match rng.below(4) {
        0 => "/".into(),
        1 => format!("/{w}/{}.html", rng.pick(WORDS)),
        2 => format!("/static/{w}-{}.js", rng.hex(8)),
        _ => format!("/api/v2/{w}?id={}&lang=en", rng.below(1_000_000)),
    }
}

pub(crate) fn request(s: &mut Script, rng: &mut WyRand, x: &Ctx<'_>, creds: Option<&str>) {
    let ie_style = x.ua.contains("Edg") || x.ua.contains("Office") || x.ua.contains("Teams");
    let mut h = if x.connect {
        let authority = format!("{}:443", x.host);
        let mut h = Head::request("CONNECT", &authority);
        h.header("Host", &authority)
            .header("Proxy-Connection", "keep-alive")
            .header("User-Agent", x.ua);
        h
    } else {
        let mut h = Head::request("GET", &format!("http://{}{}", x.host, path(rng)));
        h.header("Host", x.host)
            .header("User-Agent", x.ua)
            .header(
                "Accept",
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            )
            .header("Accept-Language", "en-US,en;q=0.5")
            .header("Accept-Encoding", "identity");
        if ie_style {
            h.header("Proxy-Connection", "Keep-Alive");
        } else {
            h.header("Connection", "keep-alive");
        }
        h
    };
    if let Some(c) = creds {
        h.header("Proxy-Authorization", c);
    }
    s.begin(
        true,
        false,
        Tally::Request {
            connect: x.connect,
            creds: creds.is_some(),
        },
    );
    s.put(&h.finish());
}

/// A proxy's own answer (407 or 403) with its error page.
pub(crate) fn proxy_error(
    s: &mut Script,
    rng: &mut WyRand,
    x: &Ctx<'_>,
    status: u16,
    challenges: &[String],
    close: bool,
) {
    let p = x.p;
    let reason = if status == 407 {
        "Proxy Authentication Required"
    } else {
        "Forbidden"
    };
    let body = if p.squid {
        rng.range(3300, 3700)
    } else {
        rng.range(1800, 2400)
    } as usize;
    let mut h = Head::response(status, reason);
    let connection = if p.squid {
        let err = if status == 407 {
            "ERR_CACHE_ACCESS_DENIED"
        } else {
            "ERR_ACCESS_DENIED"
        };
        h.header("Server", "squid/5.7")
            .header("Mime-Version", "1.0")
            .header("Date", http_date(x.secs))
            .header("Content-Type", "text/html;charset=utf-8")
            .header("Content-Length", body)
            .header("X-Squid-Error", format_args!("{err} 0"))
            .header("Vary", "Accept-Language")
            .header("Content-Language", "en");
        for c in challenges {
            h.header("Proxy-Authenticate", c);
        }
        h.header("X-Cache", format_args!("MISS from {}", p.name))
            .header(
                "X-Cache-Lookup",
                format_args!("NONE from {}:{}", p.name, p.port),
            )
            .header("Via", format_args!("1.1 {} (squid/5.7)", p.name));
        ("Connection", if close { "close" } else { "keep-alive" })
    } else {
        for c in challenges {
            h.header("Proxy-Authenticate", c);
        }
        h.header("Cache-Control", "no-cache")
            .header("Content-Type", "text/html")
            .header("Content-Length", body);
        (
            "Proxy-Connection",
            if close { "close" } else { "Keep-Alive" },
        )
    };
    h.header(connection.0, connection.1);
    if !p.squid {
        h.header("Via", format_args!("1.1 {}", p.name));
    }
    s.begin(false, false, Tally::Response { status });
    s.put(&h.finish());
    s.text(body);
}

pub(crate) fn offers(x: &Ctx<'_>, rng: &mut WyRand, nonce: Option<&str>) -> Vec<String> {
    match x.p.offers {
        Offers::NegotiateNtlmBasic => vec![
            "Negotiate".into(),
            "NTLM".into(),
            "Basic realm=\"Corporate Proxy\"".into(),
        ],
        Offers::Digest => {
            let n = nonce.map_or_else(|| digest_nonce(rng), str::to_string);
            vec![digest_challenge(&n, false)]
        }
        Offers::NtlmBasic => vec!["NTLM".into(), "Basic realm=\"McAfee Web Gateway\"".into()],
        Offers::Basic => vec!["Basic realm=\"Internet Access\"".into()],
    }
}

/// Download size of one object in a tunnel or body: mostly small, a long tail.
pub(crate) fn object_size(rng: &mut WyRand) -> usize {
    if rng.p(0.010) {
        rng.log_uniform(150_000, 3_000_000) as usize
    } else {
        rng.log_uniform(200, 30_000) as usize
    }
}

/// `200 Connection established` and a TLS 1.3 session in the tunnel.
pub(crate) fn tunnel(s: &mut Script, env: &mut Env, x: &Ctx<'_>) {
    s.begin(false, false, Tally::Response { status: 200 });
    if x.p.squid {
        s.put(&Head::response(200, "Connection established").finish());
    } else {
        let mut h = Head::response(200, "Connection established");
        h.header("Via", format_args!("1.1 {}", x.p.name));
        s.put(&h.finish());
    }
    tls_session(s, env, x.host);
}

pub(crate) fn tls_session(s: &mut Script, env: &mut Env, host: &str) {
    let rng = &mut env.rng;
    s.begin(true, true, Tally::None);
    let (key_share, random, session_id) = (rng.bytes(), rng.bytes(), rng.bytes());
    s.put(&tls::client_hello(host, key_share, random, session_id));
    s.begin(false, true, Tally::None);
    let (random, session_id, key_share) = (rng.bytes(), rng.bytes(), rng.bytes());
    s.put(&tls::server_hello(random, session_id, key_share));
    s.tls_records(rng.range(2500, 5200) as usize);
    s.begin(true, true, Tally::None);
    s.put(&tls::CHANGE_CIPHER_SPEC);
    s.tls_records(36);
    s.tls_records(rng.range(80, 700) as usize);
    let rounds = rng.range(1, 3);
    for r in 0..rounds {
        if rng.p(0.08) {
            s.begin(true, true, Tally::None);
            s.tls_records(object_size(rng) * 2);
            s.begin(false, true, Tally::None);
            s.tls_records(rng.range(60, 400) as usize);
        } else {
            if r > 0 {
                s.begin(true, true, Tally::None);
                s.tls_records(rng.range(60, 700) as usize);
            }
            s.begin(false, true, Tally::None);
            s.tls_records(object_size(rng));
        }
    }
}

/// A `200 OK` with a body (length or chunked).
pub(crate) fn ok_body(s: &mut Script, env: &mut Env, x: &Ctx<'_>) {
    let rng = &mut env.rng;
    let n = object_size(rng);
    let (ctype, text) = match rng.below(4) {
        0 => ("text/html; charset=utf-8", true),
        1 => ("application/javascript", true),
        2 => ("application/json", true),
        _ => ("application/octet-stream", false),
    };
    let chunked = rng.p(0.3);
    let mut h = Head::response(200, "OK");
    h.header("Date", http_date(x.secs))
        .header(
            "Server",
            rng.pick(&[
                "nginx",
                "Apache",
                "ECS (dcb/7F5B)",
                "cloudflare",
                "Microsoft-IIS/10.0",
            ]),
        )
        .header("Content-Type", ctype);
    if chunked {
        h.header("Transfer-Encoding", "chunked");
    } else {
        h.header("Content-Length", n);
    }
    h.header(
        "Cache-Control",
        format_args!("max-age={}", rng.below(86_400)),
    );
    if x.p.squid {
        h.header("X-Cache", format_args!("MISS from {}", x.p.name))
            .header("Via", format_args!("1.1 {} (squid/5.7)", x.p.name))
            .header("Connection", "keep-alive");
    } else {
        h.header("Via", format_args!("1.1 {}", x.p.name))
            .header("Proxy-Connection", "Keep-Alive");
    }
    s.begin(false, false, Tally::Response { status: 200 });
    s.put(&h.finish());
    if let Some(m) = s.msgs.last_mut() {
        m.body_from = m.len;
    }
    let mut left = n;
    if chunked {
        while left > 0 {
            let k = left.min(8192);
            s.put(format!("{k:x}\r\n").as_bytes());
            if text {
                s.text(k)
            } else {
                s.rand(k)
            }
            s.put(b"\r\n");
            left -= k;
        }
        s.put(b"0\r\n\r\n");
    } else if text {
        s.text(n)
    } else {
        s.rand(n)
    }
}

/// What follows a successful authentication (or no authentication at all): the tunnel, or
/// the body and a few more keep-alive requests (repeating `creds` when the scheme is not
/// bound to the connection).
pub(crate) fn success(s: &mut Script, env: &mut Env, w: &World, x: &Ctx<'_>, creds: Option<&str>) {
    if x.connect {
        tunnel(s, env, x);
        return;
    }
    ok_body(s, env, x);
    for _ in 0..env.rng.below(4) {
        let host = env.rng.pick(&w.hosts).clone();
        let y = Ctx { host: &host, ..*x };
        request(s, &mut env.rng, &y, creds);
        s.optional();
        ok_body(s, env, &y);
    }
}

impl Env {
    pub(crate) fn kind(&mut self) -> (Kind, &'static str, &'static str) {
        let mut r = self.rng.below(u64::from(self.weight_total)) as u32;
        for &(k, w, name, verdict) in KINDS {
            if r < w {
                return (k, name, verdict);
            }
            r -= w;
        }
        (Kind::Tunnel, "tunnel_no_auth", "")
    }

    /// Builds the next connection plan (with its follow-ups) and counts its episode.
    pub(crate) fn plan(&mut self, w: &World) -> Plan {
        let (kind, name, verdict) = self.kind();
        *self.truth.episodes_by_kind.entry(name).or_insert(0) += 1;
        if !verdict.is_empty() {
            self.truth.episodes_total += 1;
            *self.truth.expected_verdicts.entry(verdict).or_insert(0) += 1;
        }
        let rng = &mut self.rng;
        let client = match kind {
            Kind::BasicBadPassword | Kind::NtlmBadPassword | Kind::DigestBadPassword
                if rng.p(0.8) =>
            {
                rng.below(N_TROUBLED as u64) as usize
            }
            _ => rng.below(N_CLIENTS as u64) as usize,
        };
        let proxy = match kind {
            Kind::NtlmOk
            | Kind::NtlmInNegotiate
            | Kind::NtlmV1Ok
            | Kind::NtlmBadPassword
            | Kind::NtlmHandshakeBroken => *rng.pick(&[0, 1, 2, 4]),
            Kind::KerberosOk | Kind::KerberosRejected => *rng.pick(&[0, 1, 2]),
            Kind::BasicOk | Kind::BasicBadPassword => *rng.pick(&[0, 1, 2, 4, 5, 5, 5]),
            Kind::DigestOk
            | Kind::DigestStaleOk
            | Kind::DigestBadPassword
            | Kind::SchemeMismatch => 3,
            _ => rng.below(w.proxies.len() as u64) as usize,
        };
        let c = &w.clients[client];
        let p = &w.proxies[proxy];
        let host = rng.pick(&w.hosts).clone();
        let connect = rng.p(0.7);
        let ua = if kind == Kind::NoRetry {
            *rng.pick(APP_UA)
        } else {
            c.ua
        };
        let x = Ctx {
            c,
            p,
            host: &host,
            connect,
            ua,
            secs: self.ts / 1_000_000,
        };
        let mut plan = Plan {
            client,
            proxy,
            s: Script::default(),
            handshake: true,
            close_by_client: true,
            rst: false,
            unreachable: None,
            follow: None,
        };
        let basic_user = if rng.p(0.3) {
            format!("{}\\{}", domain(c), c.user)
        } else {
            c.user.clone()
        };
        let good_basic = basic(&basic_user, &c.password);
        let s = &mut plan.s;
        match kind {
            Kind::Tunnel | Kind::PlainHttp => {
                let x = Ctx {
                    connect: kind == Kind::Tunnel,
                    ..x
                };
                plan.handshake = !self.rng.p(0.03);
                // Basic sent up front (no challenge: not an episode) by a few clients.
                let pre = (p.offers == Offers::Basic && self.rng.p(0.5)).then_some(&good_basic);
                request(s, &mut self.rng, &x, pre.map(String::as_str));
                success(s, self, w, &x, pre.map(String::as_str));
                plan.close_by_client = self.rng.p(0.7);
            }
            Kind::MidStream => {
                plan.handshake = false;
                for _ in 0..self.rng.range(1, 3) {
                    s.begin(false, true, Tally::None);
                    s.tls_records(object_size(&mut self.rng));
                    s.begin(true, true, Tally::None);
                    s.tls_records(self.rng.range(60, 900) as usize);
                }
            }
            Kind::NtlmOk | Kind::NtlmInNegotiate | Kind::NtlmV1Ok => {
                let scheme = if kind == Kind::NtlmInNegotiate {
                    "Negotiate"
                } else {
                    "NTLM"
                };
                ntlm_handshake(s, self, &x, scheme, kind == Kind::NtlmV1Ok);
                self.rng_close(&mut plan.close_by_client);
                success(&mut plan.s, self, w, &x, None);
            }
            Kind::NtlmBadPassword => {
                ntlm_handshake(s, self, &x, "NTLM", false);
                let ch = offers(&x, &mut self.rng, None);
                proxy_error(s, &mut self.rng, &x, 407, &ch, false);
            }
            Kind::NtlmHandshakeBroken => {
                let ch = offers(&x, rng, None);
                request(s, rng, &x, None);
                proxy_error(s, rng, &x, 407, &ch, false);
                let t1 = format!("NTLM {}", B64.encode(ntlm_type1()));
                request(s, rng, &x, Some(&t1));
                let t2 = format!("NTLM {}", B64.encode(ntlm_type2(rng, domain(c), p, x.secs)));
                proxy_error(s, rng, &x, 407, &[t2], true);
                plan.close_by_client = false;
                if rng.p(0.5) {
                    // The client sends its type 3 on a new connection: the proxy knows nothing of it.
                    let mut f = Plan {
                        client,
                        proxy,
                        s: Script::default(),
                        handshake: true,
                        close_by_client: true,
                        rst: false,
                        unreachable: None,
                        follow: None,
                    };
                    let t3 = format!("NTLM {}", B64.encode(ntlm_type3(rng, c, p, x.secs, false)));
                    request(&mut f.s, rng, &x, Some(&t3));
                    let ch = offers(&x, rng, None);
                    proxy_error(&mut f.s, rng, &x, 407, &ch, false);
                    plan.follow = Some(Box::new(f));
                }
            }
            Kind::KerberosOk | Kind::KerberosRejected => {
                let ch = offers(&x, rng, None);
                request(s, rng, &x, None);
                proxy_error(s, rng, &x, 407, &ch, false);
                let tok = format!("Negotiate {}", B64.encode(kerberos_token(rng, c, p)));
                request(s, rng, &x, Some(&tok));
                if kind == Kind::KerberosOk {
                    self.rng_close(&mut plan.close_by_client);
                    success(&mut plan.s, self, w, &x, None);
                } else {
                    let ch = if rng.p(0.5) {
                        vec![format!(
                            "Negotiate {}",
                            B64.encode(krb_error_reply(rng, c, p, x.secs))
                        )]
                    } else {
                        ch
                    };
                    proxy_error(s, rng, &x, 407, &ch, false);
                }
            }
            Kind::BasicOk => {
                let ch = offers(&x, rng, None);
                request(s, rng, &x, None);
                let close = rng.p(0.4);
                proxy_error(s, rng, &x, 407, &ch, close);
                if close {
                    plan.close_by_client = false;
                    let mut f = Plan {
                        client,
                        proxy,
                        s: Script::default(),
                        handshake: true,
                        close_by_client: true,
                        rst: false,
                        unreachable: None,
                        follow: None,
                    };
                    request(&mut f.s, rng, &x, Some(&good_basic));
                    self.rng_close(&mut f.close_by_client);
                    success(&mut f.s, self, w, &x, Some(&good_basic));
                    plan.follow = Some(Box::new(f));
                } else {
                    request(s, rng, &x, Some(&good_basic));
                    self.rng_close(&mut plan.close_by_client);
                    success(&mut plan.s, self, w, &x, Some(&good_basic));
                }
            }
            Kind::BasicBadPassword => {
                let ch = offers(&x, rng, None);
                request(s, rng, &x, None);
                proxy_error(s, rng, &x, 407, &ch, false);
                let wrong = basic(&basic_user, &format!("Gen-{}", rng.alnum(10)));
                for _ in 0..rng.range(1, 4) {
                    request(s, rng, &x, Some(&wrong));
                    proxy_error(s, rng, &x, 407, &ch, false);
                }
            }
            Kind::DigestOk | Kind::DigestStaleOk | Kind::DigestBadPassword => {
                let nonce = digest_nonce(rng);
                let ch = offers(&x, rng, Some(nonce.as_str()));
                let uri = if connect {
                    format!("{host}:443")
                } else {
                    format!("http://{host}/")
                };
                request(s, rng, &x, None);
                proxy_error(s, rng, &x, 407, &ch, false);
                let cr = digest_credentials(rng, c, &nonce, &uri, 1);
                request(s, rng, &x, Some(&cr));
                match kind {
                    Kind::DigestOk => {
                        self.rng_close(&mut plan.close_by_client);
                        success(&mut plan.s, self, w, &x, None);
                    }
                    Kind::DigestStaleOk => {
                        let n2 = digest_nonce(rng);
                        proxy_error(s, rng, &x, 407, &[digest_challenge(&n2, true)], false);
                        let cr = digest_credentials(rng, c, &n2, &uri, 1);
                        request(s, rng, &x, Some(&cr));
                        self.rng_close(&mut plan.close_by_client);
                        success(&mut plan.s, self, w, &x, None);
                    }
                    _ => proxy_error(s, rng, &x, 407, &ch, false),
                }
            }
            Kind::NoRetry => {
                let ch = offers(&x, rng, None);
                request(s, rng, &x, None);
                proxy_error(s, rng, &x, 407, &ch, false);
            }
            Kind::Denied403 => {
                match p.offers {
                    Offers::NegotiateNtlmBasic | Offers::NtlmBasic => {
                        ntlm_handshake(s, self, &x, "NTLM", false)
                    }
                    Offers::Digest => {
                        let nonce = digest_nonce(rng);
                        request(s, rng, &x, None);
                        proxy_error(s, rng, &x, 407, &[digest_challenge(&nonce, false)], false);
                        let cr = digest_credentials(rng, c, &nonce, x.host, 1);
                        request(s, rng, &x, Some(&cr));
                    }
                    Offers::Basic => {
                        let ch = offers(&x, rng, None);
                        request(s, rng, &x, None);
                        proxy_error(s, rng, &x, 407, &ch, false);
                        request(s, rng, &x, Some(&good_basic));
                    }
                }
                proxy_error(&mut plan.s, &mut self.rng, &x, 403, &[], false);
            }
            Kind::SchemeMismatch => {
                let ch = offers(&x, rng, None);
                request(s, rng, &x, None);
                proxy_error(s, rng, &x, 407, &ch, false);
                request(s, rng, &x, Some(&good_basic));
                let ch = offers(&x, rng, None);
                proxy_error(s, rng, &x, 407, &ch, false);
            }
            Kind::ProxyUnreachable => {
                plan.unreachable = Some(rng.p(0.4));
            }
            Kind::ProxyReset => {
                let ch = offers(&x, rng, None);
                request(s, rng, &x, None);
                proxy_error(s, rng, &x, 407, &ch, false);
                let cr = match p.offers {
                    Offers::Digest => {
                        let nonce = digest_nonce(rng);
                        digest_credentials(rng, c, &nonce, x.host, 1)
                    }
                    _ => good_basic.clone(),
                };
                request(s, rng, &x, Some(&cr));
                plan.close_by_client = false;
                plan.rst = true;
            }
        }
        plan
    }

    pub(crate) fn rng_close(&mut self, by_client: &mut bool) {
        *by_client = self.rng.p(0.7);
    }
}

/// Request → 407 → type 1 → 407 with type 2 → type 3 (the answer to the type 3 is the
/// caller's).
pub(crate) fn ntlm_handshake(s: &mut Script, env: &mut Env, x: &Ctx<'_>, scheme: &str, v1: bool) {
    let rng = &mut env.rng;
    let ch = offers(x, rng, None);
    request(s, rng, x, None);
    proxy_error(s, rng, x, 407, &ch, false);
    let t1 = format!("{scheme} {}", B64.encode(ntlm_type1()));
    request(s, rng, x, Some(&t1));
    let t2 = format!(
        "{scheme} {}",
        B64.encode(ntlm_type2(rng, domain(x.c), x.p, x.secs))
    );
    proxy_error(s, rng, x, 407, &[t2], false);
    let t3 = format!(
        "{scheme} {}",
        B64.encode(ntlm_type3(rng, x.c, x.p, x.secs, v1))
    );
    request(s, rng, x, Some(&t3));
}
