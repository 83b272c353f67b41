//! `gen-mix`: writes a synthetic mirror-port capture of a corporate network in front of its
//! forward proxies, for benchmarks and soak tests of proxy407.
//!
//! ```text
//! cargo run --release --bin gen-mix -- --size 1GB --out /var/tmp/mix.pcap [--seed N] [--json]
//! ```
//!
//! The output is a classic pcap (microsecond timestamps, link type Ethernet) of about the
//! requested size (a few heads and closing packets past it). What it holds:
//!
//! - About 4,000 clients (10.16–23.x.y, one in nine on IPv6 `fd00:c0:ffee::/48`, three in
//!   ten behind 802.1Q VLAN tags) talking to six proxies: four Squid on port 3128 (three
//!   offering Negotiate, NTLM and Basic, one Digest only), two web gateways on 8080 (NTLM and
//!   Basic, Basic only). Frames are hand-written Ethernet / 802.1Q / IPv4 / IPv6 / TCP with
//!   valid IP and TCP checksums, MSS 1460 (1440 on IPv6), three-way handshakes with options,
//!   delayed ACKs (one per two segments), FIN or RST closes.
//! - About three quarters of the bytes are CONNECT tunnels (`CONNECT host:443` → `200
//!   Connection established` → a TLS 1.3 ClientHello, ServerHello and encrypted records
//!   both ways) and HTTP bodies (absolute-form `GET http://...` answered with
//!   `Content-Length` or chunked bodies, several requests per keep-alive connection).
//! - Proxy authentication episodes of every kind, with the headers real clients and proxies
//!   send: Basic success and bad password (also retried on a new connection after
//!   `Connection: close`), NTLM (type 1 → `407` with type 2 → type 3 → `200`; real NTLMSSP
//!   structures with user, domain and workstation; NTLMv2 and a few NTLMv1; raw NTLMSSP
//!   inside `Negotiate`), Negotiate with SPNEGO-wrapped Kerberos AP-REQs (realm and service
//!   principal readable) and rejections carrying a KRB-ERROR, Digest (with `stale=true`
//!   legs), clients that never retry, `403` after credentials, a scheme the proxy did not
//!   offer, a type 2 on a closing connection, a proxy reset, and unreachable proxies.
//! - Capture damage of a lossy mirror port, only inside tunnels so that HTTP heads stay
//!   countable: 0.15% of tunnel segments dropped, 0.5% of adjacent tunnel segments swapped,
//!   and some connections whose handshake (and beginning) was never captured.
//!
//! Every credential is generated: passwords are random strings, hashes, challenges and
//! tickets are random bytes in real structures. Nothing here is a real secret.
//!
//! Ground truth: at the end a summary (text, or JSON with `--json`) gives the packets,
//! requests, CONNECTs, responses by status (the `407` count equals what `tshark -Y
//! 'http.response.code == 407'` shows), and the episodes by kind with the verdict proxy407
//! should reach for each. Concurrent episodes of one client to the same proxy and target
//! may chain into one (`docs/verdicts.md` §3.4), so episode totals are exact per kind of
//! generated traffic, not necessarily per analyser episode.
//!
//! How it is fast (well over 300 MB/s on one core): a fixed pool of open connections, each
//! with a precomputed header template per direction (only lengths, sequence numbers, IDs
//! and checksums are patched per packet); payload copied from precomputed random and text
//! pools; frames written straight into one 8 MiB buffer that is flushed as it fills. Memory
//! is constant whatever the size. The same seed gives the same file.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use clap::Parser;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(
    name = "gen-mix",
    about = "Writes a synthetic proxy mirror-port capture (classic pcap, Ethernet)"
)]
struct Args {
    /// Approximate size of the capture: bytes, or with a unit (KB, MB, GB decimal; KiB, MiB,
    /// GiB binary).
    #[arg(long, default_value = "1GB", value_parser = parse_size)]
    size: u64,
    /// Output file.
    #[arg(long)]
    out: PathBuf,
    /// Random seed: the same seed writes the same file.
    #[arg(long, default_value_t = 407)]
    seed: u64,
    /// Connections open at once.
    #[arg(long, default_value_t = 192)]
    concurrency: usize,
    /// Print the ground truth as one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a number with an optional unit"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1048576.0,
        "g" | "gb" => 1e9,
        "gib" => 1073741824.0,
        other => return Err(format!("unknown size unit {other:?}")),
    };
    Ok((n * mult) as u64)
}

// ---------------------------------------------------------------------------------------
// Randomness and pools

/// wyrand: small, fast, good enough for traffic shapes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.0).wrapping_mul(u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db));
        ((t >> 64) ^ t) as u64
    }
    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn f64(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    fn p(&mut self, p: f64) -> bool {
        self.f64() < p
    }
    /// Log-uniform in `lo..=hi`: many small, a long tail of large.
    fn log_uniform(&mut self, lo: u64, hi: u64) -> u64 {
        let (l, h) = (lo as f64, hi as f64);
        (l * (h / l).powf(self.f64())) as u64
    }
    fn pick<'a, T>(&mut self, s: &'a [T]) -> &'a T {
        &s[self.below(s.len() as u64) as usize]
    }
    fn pick_str(&mut self, s: &[&'static str]) -> &'static str {
        s[self.below(s.len() as u64) as usize]
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        for c in b.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
        b
    }
    fn vec(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn alnum(&mut self, n: usize) -> String {
        const A: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
        (0..n).map(|_| *self.pick(A) as char).collect()
    }
    fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b"0123456789abcdef"[self.below(16) as usize]))
            .collect()
    }
}

const RAND_POOL: usize = 1 << 20;
const TEXT_POOL: usize = 1 << 18;

/// Bytes copied into payloads: random (TLS records, binary bodies) and HTML-ish text.
struct Pools {
    rand: Vec<u8>,
    text: Vec<u8>,
}

impl Pools {
    fn new(rng: &mut Rng) -> Pools {
        let rand = rng.vec(RAND_POOL + 2048);
        let mut text = String::with_capacity(TEXT_POOL + 4096);
        text.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        while text.len() < TEXT_POOL + 2048 {
            let tag = *rng.pick(&["p", "li", "div class=\"item\"", "span", "h2", "td"]);
            let _ = write!(text, "<{tag}>");
            for _ in 0..rng.range(4, 18) {
                text.push_str(rng.pick_str(WORDS));
                text.push(' ');
            }
            let close = tag.split(' ').next().unwrap_or("p");
            let _ = writeln!(text, "</{close}>");
        }
        Pools {
            rand,
            text: text.into_bytes(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The world: clients, proxies, sites

const WORDS: &[&str] = &[
    "contoso",
    "fabrikam",
    "northwind",
    "adatum",
    "tailspin",
    "wingtip",
    "litware",
    "proseware",
    "woodgrove",
    "fourthcoffee",
    "alpineski",
    "blueyonder",
    "lucerne",
    "treyresearch",
    "humongous",
    "coho",
    "relecloud",
    "wideworld",
    "lamna",
    "margie",
    "southridge",
    "consolidated",
    "graphic",
    "datum",
    "nod",
    "vanarsdel",
    "fineart",
    "cpandl",
    "thephone",
    "woodgrovebank",
    "school",
    "adventure",
    "tailwind",
    "munson",
    "liberty",
    "baldwin",
    "atlas",
    "orbit",
    "meridian",
    "harbor",
];

const HOST_PREFIX: &[&str] = &[
    "www",
    "api",
    "cdn",
    "login",
    "static",
    "img",
    "update",
    "mail",
    "portal",
    "files",
    "assets",
    "telemetry",
    "graph",
    "auth",
    "download",
    "media",
    "events",
    "docs",
];
const TLDS: &[&str] = &["com", "net", "io", "org", "de", "co.uk", "cloud", "example"];

const FIRST: &[&str] = &[
    "anna", "ben", "carla", "david", "emma", "felix", "greta", "hugo", "ines", "jonas", "karin",
    "lukas", "maria", "niklas", "olga", "paul", "rosa", "simon", "tina", "uwe", "vera", "walter",
    "xenia", "yusuf", "zoe", "akira", "bianca", "chen", "dmitri", "elena", "farid", "giulia",
    "hana", "ivan", "julia", "kenji", "lea", "marco", "nora", "omar",
];
const LAST: &[&str] = &[
    "smith",
    "mueller",
    "tanaka",
    "garcia",
    "rossi",
    "novak",
    "kowalski",
    "jensen",
    "dubois",
    "silva",
    "nguyen",
    "schmidt",
    "yamamoto",
    "fischer",
    "weber",
    "meyer",
    "wagner",
    "becker",
    "hoffmann",
    "schulz",
    "koch",
    "richter",
    "klein",
    "wolf",
    "neumann",
    "schwarz",
    "braun",
    "zimmermann",
    "hartmann",
    "krueger",
    "lange",
    "werner",
    "krause",
    "lehmann",
    "koehler",
    "maier",
    "koenig",
    "walter",
    "huber",
    "kaiser",
    "fuchs",
    "peters",
    "lang",
    "scholz",
    "moeller",
    "weiss",
    "jung",
    "hahn",
    "vogel",
    "friedrich",
];

const BROWSER_UA: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36 Edg/122.0.2365.66",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17231; Pro)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Teams/24004.1307.2669.7070 Chrome/120.0.6099.291 Electron/28.2.5 Safari/537.36",
];
/// Programs that do not answer a proxy challenge.
const APP_UA: &[&str] = &[
    "Microsoft-CryptoAPI/10.0",
    "python-requests/2.31.0",
    "Java/17.0.10",
    "curl/8.5.0",
    "Go-http-client/1.1",
    "Windows-Update-Agent/10.0.10011.16384 Client-Protocol/2.71",
    "okhttp/4.12.0",
];

const DOMAINS: &[&str] = &[
    "CORP", "CORP", "CORP", "CORP", "CORP", "EMEA", "EMEA", "AMER",
];
const N_CLIENTS: usize = 4000;
/// The first clients have a bad saved password: their failures repeat (lockout risk).
const N_TROUBLED: usize = 40;

struct Client {
    v4: [u8; 4],
    v6: Option<[u8; 16]>,
    mac: [u8; 6],
    vlan: u16,
    site: usize,
    user: String,
    ws: String,
    ua: &'static str,
    password: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Offers {
    /// Squid with Kerberos, NTLM and Basic helpers.
    NegotiateNtlmBasic,
    /// Squid with a Digest helper only.
    Digest,
    /// A web gateway with NTLM and Basic.
    NtlmBasic,
    /// A web gateway with Basic only.
    Basic,
}

struct Proxy {
    name: &'static str,
    v4: [u8; 4],
    v6: [u8; 16],
    mac: [u8; 6],
    port: u16,
    offers: Offers,
    squid: bool,
}

struct World {
    clients: Vec<Client>,
    proxies: Vec<Proxy>,
    hosts: Vec<String>,
}

impl World {
    fn new(rng: &mut Rng) -> World {
        let mut clients = Vec::with_capacity(N_CLIENTS);
        for i in 0..N_CLIENTS {
            let site = i % 8;
            let n = i / 8;
            let v4 = [10, 16 + site as u8, (n / 250) as u8, (n % 250 + 2) as u8];
            let v6 = (i % 9 == 4).then(|| {
                let mut a = [0u8; 16];
                a[..6].copy_from_slice(&[0xfd, 0x00, 0x00, 0xc0, 0xff, 0xee]);
                a[7] = site as u8;
                a[8..].copy_from_slice(&rng.bytes::<8>());
                a
            });
            let mut mac = [0x00, 0x50, 0x56, 0, 0, 0];
            mac[3..].copy_from_slice(&(i as u32).to_be_bytes()[1..]);
            let vlan = if site < 3 { 100 + site as u16 } else { 0 };
            let base = format!(
                "{}.{}",
                FIRST[i % FIRST.len()],
                LAST[(i / FIRST.len()) % LAST.len()]
            );
            let user = if i >= FIRST.len() * LAST.len() {
                format!("{base}{}", i / (FIRST.len() * LAST.len()) + 1)
            } else {
                base
            };
            let ws = format!(
                "{}-{:05}",
                if rng.p(0.4) { "LT" } else { "WS" },
                rng.below(100_000)
            );
            clients.push(Client {
                v4,
                v6,
                mac,
                vlan,
                site,
                user,
                ws,
                ua: rng.pick_str(BROWSER_UA),
                password: format!("Gen-{}", rng.alnum(12)),
            });
        }
        let p = |name, last: u8, port, offers, squid| Proxy {
            name,
            v4: [10, 0, last / 10, last],
            v6: [
                0xfd, 0, 0, 0xc0, 0xff, 0xee, 0, 0xff, 0, 0, 0, 0, 0, 0, 0x31, last,
            ],
            mac: [0x00, 0x1b, 0x21, 0x3a, 0x40, last],
            port,
            offers,
            squid,
        };
        let proxies = vec![
            p("proxy-01", 11, 3128, Offers::NegotiateNtlmBasic, true),
            p("proxy-02", 12, 3128, Offers::NegotiateNtlmBasic, true),
            p("proxy-03", 13, 3128, Offers::NegotiateNtlmBasic, true),
            p("proxy-04", 14, 3128, Offers::Digest, true),
            p("mwg-05", 25, 8080, Offers::NtlmBasic, false),
            p("mwg-06", 26, 8080, Offers::Basic, false),
        ];
        let mut hosts = Vec::with_capacity(1500);
        for _ in 0..1500 {
            let w = rng.pick(WORDS);
            let suffix = if rng.p(0.3) {
                format!("{}", rng.below(100))
            } else {
                String::new()
            };
            hosts.push(format!(
                "{}.{w}{suffix}.{}",
                rng.pick(HOST_PREFIX),
                rng.pick(TLDS)
            ));
        }
        World {
            clients,
            proxies,
            hosts,
        }
    }
}

fn domain(c: &Client) -> &'static str {
    DOMAINS[c.site]
}

fn realm(c: &Client) -> String {
    match domain(c) {
        "CORP" => "CORP.EXAMPLE.COM".into(),
        d => format!("{d}.CORP.EXAMPLE.COM"),
    }
}

// ---------------------------------------------------------------------------------------
// Dates

/// (year, month, day, hour, minute, second, weekday 0 = Sunday) of a Unix time.
fn civil(secs: u64) -> (i64, u32, u32, u32, u32, u32, usize) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    let wd = ((days + 4).rem_euclid(7)) as usize;
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem / 60 % 60) as u32,
        (rem % 60) as u32,
        wd,
    )
}

fn http_date(secs: u64) -> String {
    const WD: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d, hh, mm, ss, wd) = civil(secs);
    format!(
        "{}, {d:02} {} {y} {hh:02}:{mm:02}:{ss:02} GMT",
        WD[wd],
        MON[(m - 1) as usize]
    )
}

fn generalized_time(secs: u64) -> String {
    let (y, m, d, hh, mm, ss, _) = civil(secs);
    format!("{y:04}{m:02}{d:02}{hh:02}{mm:02}{ss:02}Z")
}

/// 2025-03-04T09:00:00Z, a Tuesday morning.
const START_SECS: u64 = 1_741_078_800;
/// Mean packet time between two frames of the capture.
const MEAN_GAP_US: u64 = 80;

// ---------------------------------------------------------------------------------------
// NTLMSSP, SPNEGO / Kerberos, Digest, Basic: real structures, generated contents

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn secbuf(v: &mut Vec<u8>, len: usize, offset: usize) {
    v.extend_from_slice(&(len as u16).to_le_bytes());
    v.extend_from_slice(&(len as u16).to_le_bytes());
    v.extend_from_slice(&(offset as u32).to_le_bytes());
}

/// Windows 10 build 19041, NTLM revision 15.
const NTLM_VERSION: [u8; 8] = [10, 0, 0x61, 0x4a, 0, 0, 0, 15];

fn ntlm_type1() -> Vec<u8> {
    let mut v = b"NTLMSSP\0".to_vec();
    v.extend_from_slice(&1u32.to_le_bytes());
    v.extend_from_slice(&0xe208_8297u32.to_le_bytes());
    secbuf(&mut v, 0, 0);
    secbuf(&mut v, 0, 0);
    v.extend_from_slice(&NTLM_VERSION);
    v
}

fn av_pair(v: &mut Vec<u8>, id: u16, val: &[u8]) {
    v.extend_from_slice(&id.to_le_bytes());
    v.extend_from_slice(&(val.len() as u16).to_le_bytes());
    v.extend_from_slice(val);
}

fn filetime(secs: u64) -> [u8; 8] {
    ((secs + 11_644_473_600) * 10_000_000).to_le_bytes()
}

fn server_av_pairs(dom: &str, p: &Proxy, secs: u64) -> Vec<u8> {
    let dns_dom = format!("{}.example.com", dom.to_ascii_lowercase());
    let mut ti = Vec::new();
    av_pair(&mut ti, 2, &utf16(dom));
    av_pair(&mut ti, 1, &utf16(&p.name.to_ascii_uppercase()));
    av_pair(&mut ti, 4, &utf16(&dns_dom));
    av_pair(&mut ti, 3, &utf16(&format!("{}.{dns_dom}", p.name)));
    av_pair(&mut ti, 5, &utf16(&dns_dom));
    av_pair(&mut ti, 7, &filetime(secs));
    ti
}

fn ntlm_type2(rng: &mut Rng, dom: &str, p: &Proxy, secs: u64) -> Vec<u8> {
    let name = utf16(dom);
    let mut ti = server_av_pairs(dom, p, secs);
    av_pair(&mut ti, 0, &[]);
    let mut v = b"NTLMSSP\0".to_vec();
    v.extend_from_slice(&2u32.to_le_bytes());
    secbuf(&mut v, name.len(), 56);
    v.extend_from_slice(&0xe289_8215u32.to_le_bytes());
    v.extend_from_slice(&rng.bytes::<8>()); // server challenge
    v.extend_from_slice(&[0u8; 8]);
    secbuf(&mut v, ti.len(), 56 + name.len());
    v.extend_from_slice(&NTLM_VERSION);
    v.extend_from_slice(&name);
    v.extend_from_slice(&ti);
    v
}

fn ntlm_type3(rng: &mut Rng, c: &Client, p: &Proxy, secs: u64, v1: bool) -> Vec<u8> {
    let dom = utf16(domain(c));
    let user = utf16(&c.user);
    let ws = utf16(&c.ws);
    let (lm, nt) = if v1 {
        (rng.vec(24), rng.vec(24))
    } else {
        let mut blob = vec![1, 1, 0, 0, 0, 0, 0, 0];
        blob.extend_from_slice(&filetime(secs));
        blob.extend_from_slice(&rng.bytes::<8>()); // client challenge
        blob.extend_from_slice(&[0; 4]);
        blob.extend_from_slice(&server_av_pairs(domain(c), p, secs));
        av_pair(&mut blob, 6, &2u32.to_le_bytes());
        av_pair(&mut blob, 10, &[0; 16]);
        av_pair(
            &mut blob,
            9,
            &utf16(&format!("HTTP/{}.corp.example.com", p.name)),
        );
        av_pair(&mut blob, 0, &[]);
        blob.extend_from_slice(&[0; 4]);
        let mut nt = rng.vec(16); // NTProofStr
        nt.extend_from_slice(&blob);
        (vec![0u8; 24], nt)
    };
    let key = rng.vec(16);
    let mut off = 88;
    let mut v = b"NTLMSSP\0".to_vec();
    v.extend_from_slice(&3u32.to_le_bytes());
    let lm_off = off + dom.len() + user.len() + ws.len();
    secbuf(&mut v, lm.len(), lm_off);
    secbuf(&mut v, nt.len(), lm_off + lm.len());
    secbuf(&mut v, dom.len(), off);
    off += dom.len();
    secbuf(&mut v, user.len(), off);
    off += user.len();
    secbuf(&mut v, ws.len(), off);
    secbuf(&mut v, key.len(), lm_off + lm.len() + nt.len());
    v.extend_from_slice(&0xe288_8215u32.to_le_bytes());
    v.extend_from_slice(&NTLM_VERSION);
    v.extend_from_slice(&rng.bytes::<16>()); // MIC
    for part in [&dom, &user, &ws, &lm, &nt, &key] {
        v.extend_from_slice(part);
    }
    v
}

/// A DER TLV with a definite length.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let n = content.len();
    let mut v = Vec::with_capacity(n + 5);
    v.push(tag);
    if n < 0x80 {
        v.push(n as u8);
    } else if n < 0x100 {
        v.extend_from_slice(&[0x81, n as u8]);
    } else if n < 0x1_0000 {
        v.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    } else {
        v.extend_from_slice(&[0x83, (n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    v.extend_from_slice(content);
    v
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn der_int(n: u32) -> Vec<u8> {
    let b = n.to_be_bytes();
    let mut i = 0;
    while i < 3 && b[i] == 0 && b[i + 1] < 0x80 {
        i += 1;
    }
    let mut c = Vec::new();
    if b[i] >= 0x80 {
        c.push(0);
    }
    c.extend_from_slice(&b[i..]);
    der(0x02, &c)
}

fn der_gstr(s: &str) -> Vec<u8> {
    der(0x1b, s.as_bytes())
}

const OID_SPNEGO: &[u8] = &[0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
const OID_KRB5: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02,
];
const OID_MS_KRB5: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02,
];
const OID_NEGOEX: &[u8] = &[
    0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x1e,
];
const OID_NTLMSSP: &[u8] = &[
    0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a,
];

fn principal(host: &str) -> Vec<u8> {
    der(
        0x30,
        &cat(&[
            &der(0xa0, &der_int(2)),
            &der(
                0xa1,
                &der(0x30, &cat(&[&der_gstr("HTTP"), &der_gstr(host)])),
            ),
        ]),
    )
}

fn encrypted(rng: &mut Rng, etype: u32, kvno: Option<u32>, len: usize) -> Vec<u8> {
    let mut c = der(0xa0, &der_int(etype));
    if let Some(k) = kvno {
        c.extend_from_slice(&der(0xa1, &der_int(k)));
    }
    c.extend_from_slice(&der(0xa2, &der(0x04, &rng.vec(len))));
    der(0x30, &c)
}

/// SPNEGO NegTokenInit carrying a Kerberos AP-REQ for `HTTP/<proxy fqdn>`.
fn kerberos_token(rng: &mut Rng, c: &Client, p: &Proxy) -> Vec<u8> {
    let realm = realm(c);
    let spn_host = format!("{}.corp.example.com", p.name);
    let (ticket_len, auth_len) = (rng.range(1000, 3600) as usize, rng.range(150, 300) as usize);
    let ticket = der(
        0x61,
        &der(
            0x30,
            &cat(&[
                &der(0xa0, &der_int(5)),
                &der(0xa1, &der_gstr(&realm)),
                &der(0xa2, &principal(&spn_host)),
                &der(0xa3, &encrypted(rng, 18, Some(3), ticket_len)),
            ]),
        ),
    );
    let ap_req = der(
        0x6e,
        &der(
            0x30,
            &cat(&[
                &der(0xa0, &der_int(5)),
                &der(0xa1, &der_int(14)),
                &der(0xa2, &[0x03, 0x05, 0x00, 0x20, 0x00, 0x00, 0x00]),
                &der(0xa3, &ticket),
                &der(0xa4, &encrypted(rng, 18, None, auth_len)),
            ]),
        ),
    );
    let mech_token = der(0x60, &cat(&[OID_KRB5, &[0x01, 0x00], &ap_req]));
    let mech_types = der(
        0x30,
        &cat(&[OID_MS_KRB5, OID_KRB5, OID_NEGOEX, OID_NTLMSSP]),
    );
    let init = der(
        0xa0,
        &der(
            0x30,
            &cat(&[&der(0xa0, &mech_types), &der(0xa2, &der(0x04, &mech_token))]),
        ),
    );
    der(0x60, &cat(&[OID_SPNEGO, &init]))
}

/// SPNEGO NegTokenResp rejecting the client, carrying a KRB-ERROR.
fn krb_error_reply(rng: &mut Rng, c: &Client, p: &Proxy, secs: u64) -> Vec<u8> {
    let code = *rng.pick(&[37u32, 41, 32]); // SKEW, MODIFIED, TKT_EXPIRED
    let spn_host = format!("{}.corp.example.com", p.name);
    let err = der(
        0x7e,
        &der(
            0x30,
            &cat(&[
                &der(0xa0, &der_int(5)),
                &der(0xa1, &der_int(30)),
                &der(0xa4, &der(0x18, generalized_time(secs).as_bytes())),
                &der(0xa5, &der_int(rng.below(999_999) as u32)),
                &der(0xa6, &der_int(code)),
                &der(0xa9, &der_gstr(&realm(c))),
                &der(0xaa, &principal(&spn_host)),
            ]),
        ),
    );
    let token = der(0x60, &cat(&[OID_KRB5, &[0x03, 0x00], &err]));
    der(
        0xa1,
        &der(
            0x30,
            &cat(&[
                &der(0xa0, &[0x0a, 0x01, 0x02]),
                &der(0xa1, OID_MS_KRB5),
                &der(0xa2, &der(0x04, &token)),
            ]),
        ),
    )
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", B64.encode(format!("{user}:{password}")))
}

fn digest_nonce(rng: &mut Rng) -> String {
    B64.encode(rng.vec(24))
}

fn digest_challenge(nonce: &str, stale: bool) -> String {
    format!(
        "Digest realm=\"Branch Office Proxy\", nonce=\"{nonce}\", qop=\"auth\", stale={}",
        if stale { "true" } else { "false" }
    )
}

fn digest_credentials(rng: &mut Rng, c: &Client, nonce: &str, uri: &str, nc: u32) -> String {
    format!(
        "Digest username=\"{}\", realm=\"Branch Office Proxy\", nonce=\"{nonce}\", uri=\"{uri}\", \
         cnonce=\"{}\", nc={nc:08x}, qop=auth, response=\"{}\", algorithm=MD5",
        c.user,
        rng.hex(16),
        rng.hex(32)
    )
}

// ---------------------------------------------------------------------------------------
// Scripts: what each side of a connection says, as parts to be cut into segments

#[derive(Clone, Copy, Debug)]
enum Part {
    /// Bytes from the script's own arena (heads, handshakes, record and chunk headers).
    Lit { start: u32, len: u32 },
    /// Bytes from the random pool.
    Rand(u32),
    /// Bytes from the text pool.
    Text(u32),
}

impl Part {
    fn len(self) -> u32 {
        match self {
            Part::Lit { len, .. } | Part::Rand(len) | Part::Text(len) => len,
        }
    }
}

/// What a message counts for in the ground truth, when its first segment is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tally {
    None,
    Request { connect: bool, creds: bool },
    Response { status: u16 },
}

/// One message of one side: a run of parts.
#[derive(Clone, Copy, Debug)]
struct Msg {
    client: bool,
    p0: u32,
    p1: u32,
    len: u32,
    sent: u32,
    /// Inside a tunnel: may be lost or reordered, and cut short at the end of the capture.
    tunnel: bool,
    /// Not needed by any episode: dropped, with all that follows, when the capture ends
    /// before it starts (keep-alive requests after the first).
    optional: bool,
    /// A `200` with a body: where the body starts (0: no such body). Such a body may be
    /// cut short at the end of the capture, once its head is out.
    body_from: u32,
    tally: Tally,
}

#[derive(Default)]
struct Script {
    lit: Vec<u8>,
    parts: Vec<Part>,
    msgs: Vec<Msg>,
}

impl Script {
    fn begin(&mut self, client: bool, tunnel: bool, tally: Tally) {
        let p = self.parts.len() as u32;
        self.msgs.push(Msg {
            client,
            p0: p,
            p1: p,
            len: 0,
            sent: 0,
            tunnel,
            optional: tunnel,
            body_from: 0,
            tally,
        });
    }
    fn optional(&mut self) {
        if let Some(m) = self.msgs.last_mut() {
            m.optional = true;
        }
    }
    fn grow(&mut self, n: usize) {
        let parts = self.parts.len() as u32;
        if let Some(m) = self.msgs.last_mut() {
            m.len += n as u32;
            m.p1 = parts;
        }
    }
    fn put(&mut self, b: &[u8]) {
        if b.is_empty() {
            return;
        }
        let start = self.lit.len() as u32;
        self.lit.extend_from_slice(b);
        let p0 = self.msgs.last().map_or(0, |m| m.p0) as usize;
        let in_msg = self.parts.len() > p0;
        match self.parts.last_mut() {
            Some(Part::Lit { start: s, len }) if in_msg && *s + *len == start => {
                *len += b.len() as u32
            }
            _ => self.parts.push(Part::Lit {
                start,
                len: b.len() as u32,
            }),
        }
        self.grow(b.len());
    }
    fn rand(&mut self, n: usize) {
        if n > 0 {
            self.parts.push(Part::Rand(n as u32));
            self.grow(n);
        }
    }
    fn text(&mut self, n: usize) {
        if n > 0 {
            self.parts.push(Part::Text(n as u32));
            self.grow(n);
        }
    }
    /// TLS records of application data, `total` plaintext bytes.
    fn tls_records(&mut self, mut total: usize) {
        while total > 0 {
            let r = total.min(16_384);
            let l = (r + 17) as u16;
            self.put(&[0x17, 0x03, 0x03, (l >> 8) as u8, l as u8]);
            self.rand(r + 17);
            total -= r;
        }
    }
}

/// A position in a script's parts.
#[derive(Clone, Copy, Debug, Default)]
struct Cursor {
    part: u32,
    off: u32,
}

/// Copies (or skips, when `dst` is `None`) `n` bytes of the script from `cur`.
fn take(
    s: &Script,
    cur: &mut Cursor,
    mut n: u32,
    mut dst: Option<&mut Vec<u8>>,
    pools: &Pools,
    rng: &mut Rng,
) {
    while n > 0 {
        let Some(&part) = s.parts.get(cur.part as usize) else {
            return;
        };
        let avail = part.len() - cur.off;
        let k = avail.min(n);
        if let Some(d) = dst.as_deref_mut() {
            let k = k as usize;
            match part {
                Part::Lit { start, .. } => {
                    let a = (start + cur.off) as usize;
                    d.extend_from_slice(&s.lit[a..a + k]);
                }
                Part::Rand(_) => {
                    let o = rng.below((RAND_POOL - k) as u64) as usize;
                    d.extend_from_slice(&pools.rand[o..o + k]);
                }
                Part::Text(_) => {
                    let o = rng.below((TEXT_POOL - k) as u64) as usize;
                    d.extend_from_slice(&pools.text[o..o + k]);
                }
            }
        }
        cur.off += k;
        n -= k;
        if cur.off == part.len() {
            cur.part += 1;
            cur.off = 0;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Frames

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// The fixed bytes of one direction's frames: Ethernet (+ 802.1Q) + IP + 20-byte TCP.
#[derive(Clone, Copy)]
struct Tmpl {
    hdr: [u8; 80],
    len: u8,
    ip: u8,
    tcp: u8,
    v6: bool,
    /// IPv4: sum of the header words that never change.
    ip_sum: u32,
    /// Pseudo-header sum without the TCP length.
    pseudo: u32,
}

fn words_sum(b: &[u8]) -> u32 {
    b.chunks(2)
        .map(|c| u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0)))
        .sum()
}

#[allow(clippy::too_many_arguments)]
fn template(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    vlan: u16,
    src: &[u8],
    dst: &[u8],
    sport: u16,
    dport: u16,
    ttl: u8,
) -> Tmpl {
    let mut h = Vec::with_capacity(80);
    h.extend_from_slice(&dst_mac);
    h.extend_from_slice(&src_mac);
    if vlan != 0 {
        h.extend_from_slice(&[0x81, 0x00]);
        h.extend_from_slice(&vlan.to_be_bytes());
    }
    let v6 = src.len() == 16;
    h.extend_from_slice(if v6 { &[0x86, 0xdd] } else { &[0x08, 0x00] });
    let ip = h.len();
    let ip_sum = if v6 {
        h.extend_from_slice(&[0x60, 0, 0, 0, 0, 0, 6, ttl]);
        0
    } else {
        h.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0x40, 0, ttl, 6, 0, 0]);
        0x4500 + 0x4000 + (u32::from(ttl) << 8 | 6) + words_sum(src) + words_sum(dst)
    };
    h.extend_from_slice(src);
    h.extend_from_slice(dst);
    let tcp = h.len();
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&[0; 16]);
    let mut hdr = [0u8; 80];
    hdr[..h.len()].copy_from_slice(&h);
    Tmpl {
        hdr,
        len: h.len() as u8,
        ip: ip as u8,
        tcp: tcp as u8,
        v6,
        ip_sum,
        pseudo: words_sum(src) + words_sum(dst) + 6,
    }
}

/// One's-complement sum of big-endian 16-bit words (odd tail padded), unfolded.
fn csum(data: &[u8]) -> u64 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        acc += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        acc += u64::from(u32::from_be_bytes([c[4], c[5], c[6], c[7]]));
    }
    let mut pairs = chunks.remainder().chunks_exact(2);
    for p in &mut pairs {
        acc += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [b] = pairs.remainder() {
        acc += u64::from(*b) << 8;
    }
    acc
}

fn fold(mut s: u64) -> u16 {
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

const OUT_BUF: usize = 8 << 20;

/// The pcap being written: one buffer, flushed when full.
struct Out<'w> {
    file: &'w mut dyn std::io::Write,
    buf: Vec<u8>,
    bytes: u64,
    packets: u64,
}

impl<'w> Out<'w> {
    fn new(file: &'w mut dyn std::io::Write) -> Out<'w> {
        let mut buf = Vec::with_capacity(OUT_BUF + (128 << 10));
        buf.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        buf.extend_from_slice(&2u16.to_le_bytes());
        buf.extend_from_slice(&4u16.to_le_bytes());
        buf.extend_from_slice(&[0; 8]);
        buf.extend_from_slice(&262_144u32.to_le_bytes());
        buf.extend_from_slice(&1u32.to_le_bytes());
        Out {
            file,
            bytes: buf.len() as u64,
            buf,
            packets: 0,
        }
    }

    /// Writes one frame: template, options, payload by `fill`; then lengths and checksums.
    #[allow(clippy::too_many_arguments)]
    fn packet(
        &mut self,
        ts: u64,
        t: &Tmpl,
        seq: u32,
        ack: u32,
        flags: u8,
        win: u16,
        ip_id: u16,
        opts: &[u8],
        fill: impl FnOnce(&mut Vec<u8>),
    ) -> std::io::Result<()> {
        let rec = self.buf.len();
        self.buf.extend_from_slice(&[0; 16]);
        let frame = self.buf.len();
        self.buf.extend_from_slice(&t.hdr[..t.len as usize]);
        self.buf.extend_from_slice(opts);
        fill(&mut self.buf);
        let b = &mut self.buf;
        let ip = frame + t.ip as usize;
        let tcp = frame + t.tcp as usize;
        let tcp_len = b.len() - tcp;
        if t.v6 {
            b[ip + 4..ip + 6].copy_from_slice(&(tcp_len as u16).to_be_bytes());
        } else {
            let total = (tcp_len + 20) as u16;
            b[ip + 2..ip + 4].copy_from_slice(&total.to_be_bytes());
            b[ip + 4..ip + 6].copy_from_slice(&ip_id.to_be_bytes());
            let s = !fold(u64::from(t.ip_sum) + u64::from(total) + u64::from(ip_id));
            b[ip + 10..ip + 12].copy_from_slice(&s.to_be_bytes());
        }
        b[tcp + 4..tcp + 8].copy_from_slice(&seq.to_be_bytes());
        b[tcp + 8..tcp + 12].copy_from_slice(&ack.to_be_bytes());
        b[tcp + 12] = (((20 + opts.len()) / 4) << 4) as u8;
        b[tcp + 13] = flags;
        b[tcp + 14..tcp + 16].copy_from_slice(&win.to_be_bytes());
        let s = !fold(u64::from(t.pseudo) + tcp_len as u64 + csum(&b[tcp..]));
        b[tcp + 16..tcp + 18].copy_from_slice(&s.to_be_bytes());
        let flen = (b.len() - frame) as u32;
        b[rec..rec + 4].copy_from_slice(&((ts / 1_000_000) as u32).to_le_bytes());
        b[rec + 4..rec + 8].copy_from_slice(&((ts % 1_000_000) as u32).to_le_bytes());
        b[rec + 8..rec + 12].copy_from_slice(&flen.to_le_bytes());
        b[rec + 12..rec + 16].copy_from_slice(&flen.to_le_bytes());
        self.packets += 1;
        self.bytes += 16 + u64::from(flen);
        if self.buf.len() >= OUT_BUF {
            self.file.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn finish(self) -> std::io::Result<()> {
        self.file.write_all(&self.buf)?;
        self.file.flush()
    }
}

// ---------------------------------------------------------------------------------------
// Ground truth

#[derive(Default, serde::Serialize)]
pub struct Truth {
    pub file_bytes: u64,
    pub packets: u64,
    pub capture_seconds: f64,
    pub connections: u64,
    pub connections_without_handshake: u64,
    pub requests: u64,
    pub connect_requests: u64,
    pub credentialed_requests: u64,
    pub responses: u64,
    pub responses_407: u64,
    pub responses_by_status: BTreeMap<u16, u64>,
    /// Payload bytes inside CONNECT tunnels (after the 200) and in non-407 HTTP bodies.
    pub tunnel_bytes: u64,
    pub body_bytes: u64,
    pub bulk_share: f64,
    pub dropped_segments: u64,
    pub swapped_pairs: u64,
    pub episodes_total: u64,
    pub episodes_by_kind: BTreeMap<&'static str, u64>,
    /// What proxy407 should conclude, `outcome` or `failed/<cause>`.
    pub expected_verdicts: BTreeMap<&'static str, u64>,
    pub generator_seconds: f64,
    pub generator_mb_per_s: f64,
    /// CPU time (user + system) of the generator, Linux only: the figure that matters on
    /// a busy machine.
    pub generator_cpu_seconds: Option<f64>,
    pub generator_mb_per_cpu_s: Option<f64>,
}

/// User + system CPU seconds of this process, from `/proc/self/stat` (Linux).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split(' ').collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux ABI in use.
    Some((utime + stime) / 100.0)
}

// ---------------------------------------------------------------------------------------
// Kinds of connection plans

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
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
const KINDS: &[(Kind, u32, &str, &str)] = &[
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
struct Plan {
    client: usize,
    proxy: usize,
    s: Script,
    handshake: bool,
    close_by_client: bool,
    rst: bool,
    /// No SYN-ACK: `Some(false)` unanswered SYNs, `Some(true)` refused by a RST.
    unreachable: Option<bool>,
    /// A connection the client opens when this one is over (a retry).
    follow: Option<Box<Plan>>,
}

/// Everything a plan builder needs to know.
struct Ctx<'a> {
    c: &'a Client,
    p: &'a Proxy,
    host: &'a str,
    connect: bool,
    ua: &'a str,
    secs: u64,
}

struct Env {
    rng: Rng,
    pools: Pools,
    ts: u64,
    truth: Truth,
    draining: bool,
    ports: Vec<u16>,
    weight_total: u32,
}

fn path(rng: &mut Rng) -> String {
    let w = rng.pick(WORDS);
    match rng.below(4) {
        0 => "/".into(),
        1 => format!("/{w}/{}.html", rng.pick(WORDS)),
        2 => format!("/static/{w}-{}.js", rng.hex(8)),
        _ => format!("/api/v2/{w}?id={}&lang=en", rng.below(1_000_000)),
    }
}

fn request(s: &mut Script, rng: &mut Rng, x: &Ctx<'_>, creds: Option<&str>) {
    let mut h = String::with_capacity(600 + creds.map_or(0, str::len));
    let ie_style = x.ua.contains("Edg") || x.ua.contains("Office") || x.ua.contains("Teams");
    if x.connect {
        let _ = write!(
            h,
            "CONNECT {0}:443 HTTP/1.1\r\nHost: {0}:443\r\nProxy-Connection: keep-alive\r\nUser-Agent: {1}\r\n",
            x.host, x.ua
        );
    } else {
        let _ = write!(
            h,
            "GET http://{0}{1} HTTP/1.1\r\nHost: {0}\r\nUser-Agent: {2}\r\n\
             Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
             Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: identity\r\n",
            x.host,
            path(rng),
            x.ua
        );
        h.push_str(if ie_style {
            "Proxy-Connection: Keep-Alive\r\n"
        } else {
            "Connection: keep-alive\r\n"
        });
    }
    if let Some(c) = creds {
        let _ = write!(h, "Proxy-Authorization: {c}\r\n");
    }
    h.push_str("\r\n");
    s.begin(
        true,
        false,
        Tally::Request {
            connect: x.connect,
            creds: creds.is_some(),
        },
    );
    s.put(h.as_bytes());
}

/// A proxy's own answer (407 or 403) with its error page.
fn proxy_error(
    s: &mut Script,
    rng: &mut Rng,
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
    let mut h = String::with_capacity(700);
    let _ = write!(h, "HTTP/1.1 {status} {reason}\r\n");
    if p.squid {
        let err = if status == 407 {
            "ERR_CACHE_ACCESS_DENIED"
        } else {
            "ERR_ACCESS_DENIED"
        };
        let _ = write!(
            h,
            "Server: squid/5.7\r\nMime-Version: 1.0\r\nDate: {}\r\n\
             Content-Type: text/html;charset=utf-8\r\nContent-Length: {body}\r\n\
             X-Squid-Error: {err} 0\r\nVary: Accept-Language\r\nContent-Language: en\r\n",
            http_date(x.secs)
        );
        for c in challenges {
            let _ = write!(h, "Proxy-Authenticate: {c}\r\n");
        }
        let _ = write!(
            h,
            "X-Cache: MISS from {0}\r\nX-Cache-Lookup: NONE from {0}:{1}\r\nVia: 1.1 {0} (squid/5.7)\r\nConnection: {2}\r\n\r\n",
            p.name,
            p.port,
            if close { "close" } else { "keep-alive" }
        );
    } else {
        for c in challenges {
            let _ = write!(h, "Proxy-Authenticate: {c}\r\n");
        }
        let _ = write!(
            h,
            "Cache-Control: no-cache\r\nContent-Type: text/html\r\nContent-Length: {body}\r\n\
             Proxy-Connection: {}\r\nVia: 1.1 {}\r\n\r\n",
            if close { "close" } else { "Keep-Alive" },
            p.name
        );
    }
    s.begin(false, false, Tally::Response { status });
    s.put(h.as_bytes());
    s.text(body);
}

fn offers(x: &Ctx<'_>, rng: &mut Rng, nonce: Option<&str>) -> Vec<String> {
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

/// A TLS 1.3 ClientHello record with SNI, ALPN, key share.
fn client_hello(rng: &mut Rng, host: &str) -> Vec<u8> {
    fn l16(v: &mut Vec<u8>, body: &[u8]) {
        v.extend_from_slice(&(body.len() as u16).to_be_bytes());
        v.extend_from_slice(body);
    }
    fn ext(v: &mut Vec<u8>, ty: u16, body: &[u8]) {
        v.extend_from_slice(&ty.to_be_bytes());
        l16(v, body);
    }
    let mut exts = Vec::with_capacity(512);
    let mut sni = vec![0];
    l16(&mut sni, host.as_bytes());
    let mut sni_list = Vec::new();
    l16(&mut sni_list, &sni);
    ext(&mut exts, 0x0000, &sni_list);
    ext(&mut exts, 0x0017, &[]);
    ext(&mut exts, 0xff01, &[0]);
    ext(
        &mut exts,
        0x000a,
        &[0, 8, 0, 0x1d, 0, 0x17, 0, 0x18, 0, 0x19],
    );
    ext(&mut exts, 0x000b, &[1, 0]);
    ext(&mut exts, 0x0023, &[]);
    ext(
        &mut exts,
        0x0010,
        &[
            0, 12, 2, b'h', b'2', 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1',
        ],
    );
    ext(&mut exts, 0x0005, &[1, 0, 0, 0, 0]);
    ext(
        &mut exts,
        0x000d,
        &[0, 16, 4, 3, 8, 4, 4, 1, 5, 3, 8, 5, 5, 1, 8, 6, 6, 1],
    );
    let mut ks = vec![0, 0x1d, 0, 32];
    ks.extend_from_slice(&rng.bytes::<32>());
    let mut ks_list = Vec::new();
    l16(&mut ks_list, &ks);
    ext(&mut exts, 0x0033, &ks_list);
    ext(&mut exts, 0x002d, &[1, 1]);
    ext(&mut exts, 0x002b, &[4, 3, 4, 3, 3]);
    let mut body = vec![3, 3];
    body.extend_from_slice(&rng.bytes::<32>());
    body.push(32);
    body.extend_from_slice(&rng.bytes::<32>());
    l16(
        &mut body,
        &[
            0x13, 0x01, 0x13, 0x03, 0x13, 0x02, 0xc0, 0x2b, 0xc0, 0x2f, 0xcc, 0xa9, 0xcc, 0xa8,
            0xc0, 0x2c, 0xc0, 0x30, 0xc0, 0x13, 0xc0, 0x14, 0x00, 0x9c, 0x00, 0x9d, 0x00, 0x2f,
            0x00, 0x35,
        ],
    );
    body.extend_from_slice(&[1, 0]);
    // Pad the hello to 512 bytes, as browsers do.
    let unpadded = 4 + body.len() + 2 + exts.len();
    if unpadded + 4 < 512 {
        ext(&mut exts, 0x0015, &vec![0; 512 - unpadded - 4]);
    }
    l16(&mut body, &exts);
    let mut hs = vec![1, 0];
    hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 3, 1];
    l16(&mut rec, &hs);
    rec
}

fn server_hello(rng: &mut Rng) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend_from_slice(&rng.bytes::<32>());
    body.push(32);
    body.extend_from_slice(&rng.bytes::<32>());
    body.extend_from_slice(&[0x13, 0x01, 0]);
    let mut exts = vec![0, 0x2b, 0, 2, 3, 4, 0, 0x33, 0, 36, 0, 0x1d, 0, 32];
    exts.extend_from_slice(&rng.bytes::<32>());
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut rec = vec![0x16, 3, 3];
    rec.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
    rec.extend_from_slice(&[2, 0]);
    rec.extend_from_slice(&(body.len() as u16).to_be_bytes());
    rec.extend_from_slice(&body);
    rec.extend_from_slice(&[0x14, 3, 3, 0, 1, 1]); // ChangeCipherSpec
    rec
}

/// Download size of one object in a tunnel or body: mostly small, a long tail.
fn object_size(rng: &mut Rng) -> usize {
    if rng.p(0.010) {
        rng.log_uniform(150_000, 3_000_000) as usize
    } else {
        rng.log_uniform(200, 30_000) as usize
    }
}

/// `200 Connection established` and a TLS 1.3 session in the tunnel.
fn tunnel(s: &mut Script, env: &mut Env, x: &Ctx<'_>) {
    s.begin(false, false, Tally::Response { status: 200 });
    if x.p.squid {
        s.put(b"HTTP/1.1 200 Connection established\r\n\r\n");
    } else {
        s.put(
            format!(
                "HTTP/1.1 200 Connection established\r\nVia: 1.1 {}\r\n\r\n",
                x.p.name
            )
            .as_bytes(),
        );
    }
    tls_session(s, env, x.host);
}

fn tls_session(s: &mut Script, env: &mut Env, host: &str) {
    let rng = &mut env.rng;
    s.begin(true, true, Tally::None);
    s.put(&client_hello(rng, host));
    s.begin(false, true, Tally::None);
    s.put(&server_hello(rng));
    s.tls_records(rng.range(2500, 5200) as usize);
    s.begin(true, true, Tally::None);
    s.put(&[0x14, 3, 3, 0, 1, 1]);
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
fn ok_body(s: &mut Script, env: &mut Env, x: &Ctx<'_>) {
    let rng = &mut env.rng;
    let n = object_size(rng);
    let (ctype, text) = match rng.below(4) {
        0 => ("text/html; charset=utf-8", true),
        1 => ("application/javascript", true),
        2 => ("application/json", true),
        _ => ("application/octet-stream", false),
    };
    let chunked = rng.p(0.3);
    let mut h = String::with_capacity(400);
    let _ = write!(
        h,
        "HTTP/1.1 200 OK\r\nDate: {}\r\nServer: {}\r\nContent-Type: {ctype}\r\n",
        http_date(x.secs),
        rng.pick(&[
            "nginx",
            "Apache",
            "ECS (dcb/7F5B)",
            "cloudflare",
            "Microsoft-IIS/10.0"
        ])
    );
    if chunked {
        h.push_str("Transfer-Encoding: chunked\r\n");
    } else {
        let _ = write!(h, "Content-Length: {n}\r\n");
    }
    let _ = write!(h, "Cache-Control: max-age={}\r\n", rng.below(86_400));
    if x.p.squid {
        let _ = write!(
            h,
            "X-Cache: MISS from {0}\r\nVia: 1.1 {0} (squid/5.7)\r\nConnection: keep-alive\r\n\r\n",
            x.p.name
        );
    } else {
        let _ = write!(
            h,
            "Via: 1.1 {}\r\nProxy-Connection: Keep-Alive\r\n\r\n",
            x.p.name
        );
    }
    s.begin(false, false, Tally::Response { status: 200 });
    s.put(h.as_bytes());
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
fn success(s: &mut Script, env: &mut Env, w: &World, x: &Ctx<'_>, creds: Option<&str>) {
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
    fn kind(&mut self) -> (Kind, &'static str, &'static str) {
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
    fn plan(&mut self, w: &World) -> Plan {
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

    fn rng_close(&mut self, by_client: &mut bool) {
        *by_client = self.rng.p(0.7);
    }
}

/// Request → 407 → type 1 → 407 with type 2 → type 3 (the answer to the type 3 is the
/// caller's).
fn ntlm_handshake(s: &mut Script, env: &mut Env, x: &Ctx<'_>, scheme: &str, v1: bool) {
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

// ---------------------------------------------------------------------------------------
// Connections: a plan played out as TCP segments

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    Syn,
    SynAck,
    HsAck,
    Data,
    Close(u8),
    /// Unanswered SYNs (count sent so far).
    NoAnswer(u8),
    /// A SYN to send, that the proxy answers with a RST.
    Refused,
    RefusedRst,
    Done,
}

const SWAP_P: f64 = 0.005;
const DROP_P: f64 = 0.0015;

struct Conn {
    t: [Tmpl; 2],
    seq: [u32; 2],
    ip_id: [u16; 2],
    win: [u16; 2],
    mss: u32,
    st: St,
    s: Script,
    cur: usize,
    cursor: Cursor,
    unacked: [u8; 2],
    ack_due: Option<usize>,
    close_by_client: bool,
    rst: bool,
    /// Packet time before which this connection sends nothing (SYN retransmissions).
    wake: u64,
    follow: Option<Box<Plan>>,
}

impl Conn {
    fn new(plan: Plan, w: &World, env: &mut Env) -> Conn {
        let c = &w.clients[plan.client];
        let p = &w.proxies[plan.proxy];
        let port = &mut env.ports[plan.client];
        *port = if *port >= 65_000 { 49_152 } else { *port + 1 };
        let sport = *port;
        let (t, mss) = match c.v6 {
            Some(a6) => (
                [
                    template(c.mac, p.mac, c.vlan, &a6, &p.v6, sport, p.port, 128),
                    template(p.mac, c.mac, c.vlan, &p.v6, &a6, p.port, sport, 64),
                ],
                1440,
            ),
            None => (
                [
                    template(c.mac, p.mac, c.vlan, &c.v4, &p.v4, sport, p.port, 128),
                    template(p.mac, c.mac, c.vlan, &p.v4, &c.v4, p.port, sport, 64),
                ],
                1460,
            ),
        };
        let rng = &mut env.rng;
        env.truth.connections += 1;
        let st = match plan.unreachable {
            Some(false) => St::NoAnswer(0),
            Some(true) => St::Refused,
            None if plan.handshake => St::Syn,
            None => {
                env.truth.connections_without_handshake += 1;
                St::Data
            }
        };
        let mut conn = Conn {
            t,
            seq: [rng.next() as u32, rng.next() as u32],
            ip_id: [rng.next() as u16, rng.next() as u16],
            win: [1026 + rng.below(8) as u16, 501 + rng.below(4) as u16],
            mss,
            st,
            s: plan.s,
            cur: 0,
            cursor: Cursor::default(),
            unacked: [0; 2],
            ack_due: None,
            close_by_client: plan.close_by_client,
            rst: plan.rst,
            wake: 0,
            follow: plan.follow,
        };
        if env.draining {
            conn.drain();
        }
        conn
    }

    /// The capture is about to end: cut the tunnel short where it is, and drop the
    /// keep-alive requests not yet begun. Everything an episode needs is still sent.
    fn drain(&mut self) {
        let msgs = &mut self.s.msgs;
        let mut keep = msgs.len();
        for (i, m) in msgs.iter_mut().enumerate().skip(self.cur) {
            if m.tunnel && m.sent > 0 {
                m.len = m.sent;
                keep = i + 1;
                break;
            }
            if m.optional && m.sent == 0 {
                keep = i;
                break;
            }
        }
        msgs.truncate(keep);
    }

    fn send(
        &mut self,
        out: &mut Out<'_>,
        ts: u64,
        d: usize,
        flags: u8,
        opts: &[u8],
        fill: impl FnOnce(&mut Vec<u8>),
    ) -> std::io::Result<()> {
        let (seq, ack) = (self.seq[d], self.seq[1 - d]);
        let ack = if flags & ACK != 0 { ack } else { 0 };
        self.ip_id[d] = self.ip_id[d].wrapping_add(1);
        out.packet(
            ts,
            &self.t[d],
            seq,
            ack,
            flags,
            self.win[d],
            self.ip_id[d],
            opts,
            fill,
        )
    }

    fn syn_opts(&self, server: bool) -> [u8; 12] {
        let m = (self.mss as u16).to_be_bytes();
        [
            2,
            4,
            m[0],
            m[1],
            1,
            3,
            3,
            if server { 7 } else { 8 },
            1,
            1,
            4,
            2,
        ]
    }

    /// Writes the next packet(s). Returns true when the connection is over.
    fn step(&mut self, env: &mut Env, out: &mut Out<'_>) -> std::io::Result<bool> {
        let ts = env.ts;
        if ts < self.wake {
            return Ok(false);
        }
        match self.st {
            St::Syn | St::NoAnswer(_) | St::Refused => {
                let opts = self.syn_opts(false);
                self.send(out, ts, 0, SYN, &opts, |_| {})?;
                match self.st {
                    St::Syn => {
                        self.seq[0] = self.seq[0].wrapping_add(1);
                        self.st = St::SynAck;
                    }
                    St::NoAnswer(n) if n >= 2 => self.st = St::Done,
                    St::NoAnswer(n) => {
                        self.st = St::NoAnswer(n + 1);
                        self.wake = ts + (1_000_000 << n);
                    }
                    _ => {
                        self.seq[0] = self.seq[0].wrapping_add(1);
                        self.st = St::RefusedRst;
                    }
                }
            }
            St::RefusedRst => {
                self.seq[1] = 0;
                self.send(out, ts, 1, RST | ACK, &[], |_| {})?;
                self.st = St::Done;
            }
            St::SynAck => {
                let opts = self.syn_opts(true);
                self.send(out, ts, 1, SYN | ACK, &opts, |_| {})?;
                self.seq[1] = self.seq[1].wrapping_add(1);
                self.st = St::HsAck;
            }
            St::HsAck => {
                self.send(out, ts, 0, ACK, &[], |_| {})?;
                self.st = St::Data;
            }
            St::Data => self.data(env, out)?,
            St::Close(k) => {
                let closer = if self.close_by_client { 0 } else { 1 };
                if self.rst {
                    self.send(out, ts, closer, RST | ACK, &[], |_| {})?;
                    self.st = St::Done;
                } else {
                    let (d, flags) = match k {
                        0 => (closer, FIN | ACK),
                        1 => (1 - closer, FIN | ACK),
                        _ => (closer, ACK),
                    };
                    self.send(out, ts, d, flags, &[], |_| {})?;
                    if flags & FIN != 0 {
                        self.seq[d] = self.seq[d].wrapping_add(1);
                    }
                    self.st = if k >= 2 { St::Done } else { St::Close(k + 1) };
                }
            }
            St::Done => {}
        }
        Ok(self.st == St::Done)
    }

    fn data(&mut self, env: &mut Env, out: &mut Out<'_>) -> std::io::Result<()> {
        let ts = env.ts;
        if let Some(d) = self.ack_due.take() {
            self.unacked[d] = 0;
            return self.send(out, ts, 1 - d, ACK, &[], |_| {});
        }
        if env.draining {
            if let Some(m) = self.s.msgs.get_mut(self.cur) {
                if m.body_from > 0 && m.sent >= m.body_from && m.sent < m.len {
                    // The capture ends during this download: the proxy is seen closing.
                    m.len = m.sent;
                    self.s.msgs.truncate(self.cur + 1);
                    self.close_by_client = false;
                }
            }
        }
        while self.s.msgs.get(self.cur).is_some_and(|m| m.sent >= m.len) {
            self.cur += 1;
        }
        let Some(&m) = self.s.msgs.get(self.cur) else {
            self.st = St::Close(0);
            return self.step(env, out).map(|_| ());
        };
        let d = usize::from(!m.client);
        if m.sent == 0 {
            self.cursor = Cursor { part: m.p0, off: 0 };
            let t = &mut env.truth;
            match m.tally {
                Tally::None => {}
                Tally::Request { connect, creds } => {
                    t.requests += 1;
                    t.connect_requests += u64::from(connect);
                    t.credentialed_requests += u64::from(creds);
                }
                Tally::Response { status } => {
                    t.responses += 1;
                    t.responses_407 += u64::from(status == 407);
                    *t.responses_by_status.entry(status).or_insert(0) += 1;
                }
            }
        }
        let left = m.len - m.sent;
        let n = left.min(self.mss);
        let mut sent = n;
        let Env { rng, pools, .. } = env;
        if m.tunnel && m.sent > 0 && left > n && rng.p(SWAP_P) {
            // Two adjacent segments seen in the wrong order.
            let n2 = (left - n).min(self.mss);
            let mut later = self.cursor;
            take(&self.s, &mut later, n, None, pools, rng);
            let mut after = later;
            let base = self.seq[d];
            let flags2 = ACK | if left - n == n2 { PSH } else { 0 };
            self.seq[d] = base.wrapping_add(n);
            let (s, mut c2) = (&self.s, later);
            let (t, ack, win) = (self.t[d], self.seq[1 - d], self.win[d]);
            self.ip_id[d] = self.ip_id[d].wrapping_add(1);
            out.packet(
                ts,
                &t,
                self.seq[d],
                ack,
                flags2,
                win,
                self.ip_id[d],
                &[],
                |b| take(s, &mut c2, n2, Some(b), pools, rng),
            )?;
            self.seq[d] = base;
            let mut c1 = self.cursor;
            self.ip_id[d] = self.ip_id[d].wrapping_add(1);
            out.packet(ts, &t, base, ack, ACK, win, self.ip_id[d], &[], |b| {
                take(s, &mut c1, n, Some(b), pools, rng)
            })?;
            take(&self.s, &mut after, n2, None, pools, rng);
            self.cursor = after;
            sent = n + n2;
            self.unacked[d] = self.unacked[d].saturating_add(2);
            env.truth.swapped_pairs += 1;
        } else if m.tunnel && m.sent > 0 && rng.p(DROP_P) {
            // Lost by the mirror port; the endpoints got it.
            take(&self.s, &mut self.cursor, n, None, pools, rng);
            self.unacked[d] = self.unacked[d].saturating_add(1);
            env.truth.dropped_segments += 1;
        } else {
            let flags = ACK | if n == left { PSH } else { 0 };
            let (seq, ack, win) = (self.seq[d], self.seq[1 - d], self.win[d]);
            self.ip_id[d] = self.ip_id[d].wrapping_add(1);
            let (s, cur) = (&self.s, &mut self.cursor);
            out.packet(
                ts,
                &self.t[d],
                seq,
                ack,
                flags,
                win,
                self.ip_id[d],
                &[],
                |b| take(s, cur, n, Some(b), pools, rng),
            )?;
            self.unacked[d] = self.unacked[d].saturating_add(1);
        }
        self.seq[d] = self.seq[d].wrapping_add(sent);
        if m.tunnel {
            env.truth.tunnel_bytes += u64::from(sent);
        } else if m.body_from > 0 {
            let body = |at: u32| at.saturating_sub(m.body_from);
            env.truth.body_bytes += u64::from(body(m.sent + sent) - body(m.sent));
        }
        let m = &mut self.s.msgs[self.cur];
        m.sent += sent;
        if m.sent >= m.len {
            let client = m.client;
            self.cur += 1;
            match self.s.msgs.get(self.cur) {
                // The answer carries the ACK.
                Some(next) if next.client != client => self.unacked[d] = 0,
                _ => self.ack_due = Some(d),
            }
        } else if self.unacked[d] >= 2 {
            self.ack_due = Some(d);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------

/// What to generate.
pub struct Options {
    /// Stop starting connections once this many bytes are written.
    pub size: u64,
    pub seed: u64,
    /// Connections open at once.
    pub concurrency: usize,
}

/// Writes a whole capture to `w` and returns its ground truth (the generator's own timing
/// fields are left for the caller).
pub fn generate(w: &mut dyn std::io::Write, opts: &Options) -> std::io::Result<Truth> {
    let mut rng = Rng(opts.seed ^ 0x9e37_79b9_7f4a_7c15);
    let world = World::new(&mut rng);
    let pools = Pools::new(&mut rng);
    let ports = (0..N_CLIENTS)
        .map(|_| 49_152 + rng.below(12_000) as u16)
        .collect();
    let mut env = Env {
        rng,
        pools,
        ts: START_SECS * 1_000_000,
        truth: Truth::default(),
        draining: false,
        ports,
        weight_total: KINDS.iter().map(|k| k.1).sum(),
    };
    let mut out = Out::new(w);
    let concurrency = opts.concurrency.max(1);
    let mut active: Vec<Conn> = Vec::with_capacity(concurrency + 1);
    while active.len() < concurrency {
        let plan = env.plan(&world);
        active.push(Conn::new(plan, &world, &mut env));
    }
    while !active.is_empty() {
        if !env.draining && out.bytes >= opts.size {
            env.draining = true;
            for c in &mut active {
                c.drain();
            }
        }
        let i = env.rng.below(active.len() as u64) as usize;
        let burst = env.rng.range(1, 6);
        let mut done = false;
        for _ in 0..burst {
            env.ts += 1 + env.rng.below(2 * MEAN_GAP_US);
            if active[i].step(&mut env, &mut out)? {
                done = true;
                break;
            }
        }
        if done {
            let c = active.swap_remove(i);
            if let Some(f) = c.follow {
                active.push(Conn::new(*f, &world, &mut env));
            } else if !env.draining {
                let plan = env.plan(&world);
                active.push(Conn::new(plan, &world, &mut env));
            }
        }
    }
    let mut t = env.truth;
    t.file_bytes = out.bytes;
    t.packets = out.packets;
    t.capture_seconds = (env.ts / 1_000_000 - START_SECS) as f64;
    t.bulk_share = ((t.tunnel_bytes + t.body_bytes) as f64 / out.bytes.max(1) as f64 * 1000.0)
        .round()
        / 1000.0;
    out.finish()?;
    Ok(t)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let file = File::create(&args.out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", args.out.display()))?;
    let mut file = file;
    let opts = Options {
        size: args.size,
        seed: args.seed,
        concurrency: args.concurrency,
    };
    let mut t = generate(&mut file, &opts)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", args.out.display()))?;
    file.flush()?;
    let secs = started.elapsed().as_secs_f64();
    t.generator_seconds = (secs * 1000.0).round() / 1000.0;
    t.generator_mb_per_s = (t.file_bytes as f64 / 1e6 / secs).round();
    t.generator_cpu_seconds = cpu_seconds();
    t.generator_mb_per_cpu_s = t
        .generator_cpu_seconds
        .filter(|&c| c > 0.0)
        .map(|c| (t.file_bytes as f64 / 1e6 / c).round());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&t)?);
    } else {
        print_summary(&t, &args.out);
    }
    Ok(())
}

fn print_summary(t: &Truth, path: &std::path::Path) {
    println!("gen-mix: wrote {}", path.display());
    println!(
        "  {} bytes, {} packets ({:.2} M packets per GB), {:.0} s of packet time",
        t.file_bytes,
        t.packets,
        t.packets as f64 / (t.file_bytes as f64 / 1e9) / 1e6,
        t.capture_seconds
    );
    print!(
        "  {:.3} s wall, {:.0} MB/s",
        t.generator_seconds, t.generator_mb_per_s
    );
    match (t.generator_cpu_seconds, t.generator_mb_per_cpu_s) {
        (Some(c), Some(r)) => println!("; {c:.2} s CPU, {r:.0} MB per CPU second"),
        _ => println!(),
    }
    println!(
        "  connections {} ({} without a captured handshake); tunnel bytes {}, body bytes {} ({:.1}% of the file)",
        t.connections,
        t.connections_without_handshake,
        t.tunnel_bytes,
        t.body_bytes,
        t.bulk_share * 100.0
    );
    println!(
        "  damage: {} tunnel segments dropped, {} adjacent pairs swapped",
        t.dropped_segments, t.swapped_pairs
    );
    println!(
        "  requests {} (CONNECT {}, with Proxy-Authorization {}); responses {}; 407 responses {}",
        t.requests, t.connect_requests, t.credentialed_requests, t.responses, t.responses_407
    );
    let by_status: Vec<String> = t
        .responses_by_status
        .iter()
        .map(|(s, n)| format!("{s}: {n}"))
        .collect();
    println!("  responses by status: {}", by_status.join(", "));
    println!("  connection plans by kind (expected verdict):");
    for &(_, _, name, verdict) in KINDS {
        let n = t.episodes_by_kind.get(name).copied().unwrap_or(0);
        let v = if verdict.is_empty() {
            "no episode"
        } else {
            verdict
        };
        println!("    {name:<26} {n:>8}  {v}");
    }
    println!("  episodes {}; expected verdicts:", t.episodes_total);
    for (v, n) in &t.expected_verdicts {
        println!("    {v:<26} {n:>8}");
    }
}

/// Single messages exactly as the generator writes them, for the stage benches
/// (`benches/pipeline.rs` includes this file as a module). Not used by the binary itself.
#[allow(dead_code)]
pub mod samples {
    use super::*;

    fn with_ctx<T>(seed: u64, connect: bool, f: impl FnOnce(&mut Rng, &Ctx<'_>) -> T) -> T {
        let mut rng = Rng(seed);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen(size: u64, seed: u64) -> (Vec<u8>, Truth) {
        let mut v = Vec::new();
        let opts = Options {
            size,
            seed,
            concurrency: 48,
        };
        let t = generate(&mut v, &opts).expect("writing to memory");
        (v, t)
    }

    /// (frame) of every pcap record.
    fn records(p: &[u8]) -> Vec<&[u8]> {
        assert_eq!(&p[..4], &0xa1b2_c3d4u32.to_le_bytes());
        assert_eq!(u32::from_le_bytes([p[20], p[21], p[22], p[23]]), 1);
        let mut out = Vec::new();
        let mut at = 24;
        let mut last_ts = 0u64;
        while at < p.len() {
            let h = &p[at..at + 16];
            let w = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
            let ts = u64::from(w(0)) * 1_000_000 + u64::from(w(4));
            assert!(w(4) < 1_000_000);
            assert!(ts >= last_ts, "timestamps go back at offset {at}");
            last_ts = ts;
            assert_eq!(w(8), w(12), "captured length = wire length");
            let len = w(8) as usize;
            out.push(&p[at + 16..at + 16 + len]);
            at += 16 + len;
        }
        assert_eq!(at, p.len());
        out
    }

    /// (vlan, v6, TCP payload) after checking lengths and checksums.
    fn tcp_payload(f: &[u8]) -> (bool, bool, &[u8]) {
        let mut l2 = 12;
        let vlan = f[12..14] == [0x81, 0x00];
        if vlan {
            l2 += 4;
        }
        let et = u16::from_be_bytes([f[l2], f[l2 + 1]]);
        let ip = l2 + 2;
        let (v6, tcp, pseudo) = match et {
            0x0800 => {
                let h = &f[ip..ip + 20];
                assert_eq!(h[0], 0x45);
                assert_eq!(fold(csum(h)), 0xffff, "IPv4 header checksum");
                let total = u16::from_be_bytes([h[2], h[3]]) as usize;
                assert_eq!(total, f.len() - ip, "IPv4 total length");
                assert_eq!(h[9], 6);
                let tcp_len = (total - 20) as u64;
                (false, ip + 20, csum(&h[12..20]) + 6 + tcp_len)
            }
            0x86dd => {
                let h = &f[ip..ip + 40];
                assert_eq!(h[0] >> 4, 6);
                let plen = u16::from_be_bytes([h[4], h[5]]) as usize;
                assert_eq!(plen, f.len() - ip - 40, "IPv6 payload length");
                assert_eq!(h[6], 6);
                (true, ip + 40, csum(&h[8..40]) + 6 + plen as u64)
            }
            other => panic!("ethertype {other:#x}"),
        };
        assert_eq!(fold(pseudo + csum(&f[tcp..])), 0xffff, "TCP checksum");
        let off = usize::from(f[tcp + 12] >> 4) * 4;
        (vlan, v6, &f[tcp + off..])
    }

    #[test]
    fn frames_are_well_formed_and_the_truth_matches_the_heads_written() {
        let (pcap, t) = gen(3_000_000, 1);
        let frames = records(&pcap);
        assert_eq!(frames.len() as u64, t.packets);
        assert_eq!(pcap.len() as u64, t.file_bytes);
        let (mut vlan, mut v6, mut r407, mut requests, mut connects, mut syns) = (0, 0, 0, 0, 0, 0);
        for f in &frames {
            let (vl, six, pay) = tcp_payload(f);
            vlan += u32::from(vl);
            v6 += u32::from(six);
            assert!(pay.len() <= 1460);
            if pay.starts_with(b"HTTP/1.1 407 ") {
                r407 += 1;
            }
            if pay.starts_with(b"GET http://") || pay.starts_with(b"CONNECT ") {
                requests += 1;
            }
            if pay.starts_with(b"CONNECT ") {
                connects += 1;
            }
            if pay.is_empty() && f.len() > 60 && f[f.len() - 12] == 2 {
                syns += 1; // MSS option first: a SYN or SYN-ACK
            }
        }
        assert_eq!(r407, t.responses_407);
        assert_eq!(requests, t.requests);
        assert_eq!(connects, t.connect_requests);
        assert!(t.responses_407 > 20 && t.connect_requests > 20);
        assert!(vlan > 0 && v6 > 0 && syns > 0);
        assert!(vlan < frames.len() as u32 && v6 < frames.len() as u32);
        let episodes: u64 = t.expected_verdicts.values().sum();
        assert_eq!(episodes, t.episodes_total);
    }

    #[test]
    fn same_seed_same_file_and_other_seed_other_file() {
        let (a, _) = gen(1_000_000, 5);
        let (b, _) = gen(1_000_000, 5);
        let (c, _) = gen(1_000_000, 6);
        assert!(a == b);
        assert!(a != c);
    }

    #[test]
    fn size_is_about_what_was_asked() {
        for size in [2_000_000u64, 12_000_000] {
            let (p, t) = gen(size, 3);
            assert!(p.len() as u64 >= size, "{} < {size}", p.len());
            assert!(
                (p.len() as u64) < size + size / 5 + 1_000_000,
                "{} for {size}",
                p.len()
            );
            let per_gb = t.packets as f64 / (p.len() as f64 / 1e9);
            assert!((0.8e6..1.6e6).contains(&per_gb), "{per_gb} packets per GB");
        }
    }

    #[test]
    fn ntlm_type3_security_buffers_point_inside_and_name_the_user() {
        let mut rng = Rng(9);
        let w = World::new(&mut rng);
        let c = &w.clients[42];
        for v1 in [false, true] {
            let m = ntlm_type3(&mut rng, c, &w.proxies[0], START_SECS, v1);
            assert_eq!(&m[..12], b"NTLMSSP\0\x03\0\0\0");
            let buf = |i: usize| {
                let o = 12 + i * 8;
                let len = u16::from_le_bytes([m[o], m[o + 1]]) as usize;
                let off = u32::from_le_bytes([m[o + 4], m[o + 5], m[o + 6], m[o + 7]]) as usize;
                assert!(off >= 88 && off + len <= m.len());
                &m[off..off + len]
            };
            let (lm, nt, dom, user, ws) = (buf(0), buf(1), buf(2), buf(3), buf(4));
            assert_eq!(lm.len(), 24);
            assert_eq!(nt.len() == 24, v1);
            assert_eq!(dom, utf16(domain(c)).as_slice());
            assert_eq!(user, utf16(&c.user).as_slice());
            assert_eq!(ws, utf16(&c.ws).as_slice());
        }
        let t2 = ntlm_type2(&mut rng, "CORP", &w.proxies[0], START_SECS);
        let off = u32::from_le_bytes([t2[44], t2[45], t2[46], t2[47]]) as usize;
        let len = u16::from_le_bytes([t2[40], t2[41]]) as usize;
        assert_eq!(off + len, t2.len());
        assert_eq!(&t2[len + off - 4..], &[0, 0, 0, 0]); // MsvAvEOL
    }

    /// Walks a DER TLV at `b`, returning (tag, content, rest).
    fn tlv(b: &[u8]) -> (u8, &[u8], &[u8]) {
        let (len, hdr) = match b[1] {
            n if n < 0x80 => (n as usize, 2),
            0x81 => (b[2] as usize, 3),
            0x82 => ((b[2] as usize) << 8 | b[3] as usize, 4),
            _ => (
                (b[2] as usize) << 16 | (b[3] as usize) << 8 | b[4] as usize,
                5,
            ),
        };
        (b[0], &b[hdr..hdr + len], &b[hdr + len..])
    }

    #[test]
    fn kerberos_token_is_spnego_around_an_ap_req_for_the_proxy() {
        let mut rng = Rng(10);
        let w = World::new(&mut rng);
        let tok = kerberos_token(&mut rng, &w.clients[1], &w.proxies[2]);
        let (tag, body, rest) = tlv(&tok);
        assert_eq!((tag, rest.len()), (0x60, 0));
        assert!(body.starts_with(OID_SPNEGO));
        let (tag, init, _) = tlv(&body[OID_SPNEGO.len()..]);
        assert_eq!(tag, 0xa0);
        let (_, seq, _) = tlv(init);
        let (tag, _, rest) = tlv(seq); // [0] mechTypes
        assert_eq!(tag, 0xa0);
        let (tag, mech, _) = tlv(rest); // [2] mechToken
        assert_eq!(tag, 0xa2);
        let (_, gss, _) = tlv(mech);
        let (tag, inner, _) = tlv(gss);
        assert_eq!(tag, 0x60);
        assert!(inner.starts_with(OID_KRB5));
        assert_eq!(inner[OID_KRB5.len()..][..3], [0x01, 0x00, 0x6e]);
        let s = String::from_utf8_lossy(&tok);
        assert!(s.contains("CORP.EXAMPLE.COM") || s.contains(".CORP.EXAMPLE.COM"));
        assert!(s.contains("proxy-03.corp.example.com"));
    }

    #[test]
    fn basic_credentials_carry_generated_passwords_only() {
        let mut rng = Rng(11);
        let w = World::new(&mut rng);
        for c in &w.clients[..50] {
            assert!(c.password.starts_with("Gen-") && c.password.len() == 16);
        }
        let v = basic("anna.smith", "Gen-abc");
        assert_eq!(v, "Basic YW5uYS5zbWl0aDpHZW4tYWJj");
    }

    #[test]
    fn http_dates_and_sizes_parse() {
        assert_eq!(http_date(START_SECS), "Tue, 04 Mar 2025 09:00:00 GMT");
        assert_eq!(generalized_time(START_SECS), "20250304090000Z");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("500 MB"), Ok(500_000_000));
        assert_eq!(parse_size("1234"), Ok(1234));
        assert!(parse_size("1XB").is_err());
        assert!(parse_size("lots").is_err());
    }
}
