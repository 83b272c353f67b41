//! The world of the mix: about 4,000 clients on eight sites (names, workstations, saved
//! passwords, browsers), six proxies and what each offers, 1,500 destination hosts.

use crate::rng::WyRand;

pub(crate) const WORDS: &[&str] = &[
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

pub(crate) const HOST_PREFIX: &[&str] = &[
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
pub(crate) const TLDS: &[&str] = &["com", "net", "io", "org", "de", "co.uk", "cloud", "example"];

pub(crate) const FIRST: &[&str] = &[
    "anna", "ben", "carla", "david", "emma", "felix", "greta", "hugo", "ines", "jonas", "karin",
    "lukas", "maria", "niklas", "olga", "paul", "rosa", "simon", "tina", "uwe", "vera", "walter",
    "xenia", "yusuf", "zoe", "akira", "bianca", "chen", "dmitri", "elena", "farid", "giulia",
    "hana", "ivan", "julia", "kenji", "lea", "marco", "nora", "omar",
];
pub(crate) const LAST: &[&str] = &[
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

pub(crate) const BROWSER_UA: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36 Edg/122.0.2365.66",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17231; Pro)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Teams/24004.1307.2669.7070 Chrome/120.0.6099.291 Electron/28.2.5 Safari/537.36",
];
/// Programs that do not answer a proxy challenge.
pub(crate) const APP_UA: &[&str] = &[
    "Microsoft-CryptoAPI/10.0",
    "python-requests/2.31.0",
    "Java/17.0.10",
    "curl/8.5.0",
    "Go-http-client/1.1",
    "Windows-Update-Agent/10.0.10011.16384 Client-Protocol/2.71",
    "okhttp/4.12.0",
];

pub(crate) const DOMAINS: &[&str] = &[
    "CORP", "CORP", "CORP", "CORP", "CORP", "EMEA", "EMEA", "AMER",
];
pub(crate) const N_CLIENTS: usize = 4000;
/// The first clients have a bad saved password: their failures repeat (lockout risk).
pub(crate) const N_TROUBLED: usize = 40;

pub(crate) struct Client {
    pub(crate) v4: [u8; 4],
    pub(crate) v6: Option<[u8; 16]>,
    pub(crate) mac: [u8; 6],
    pub(crate) vlan: u16,
    pub(crate) site: usize,
    pub(crate) user: String,
    pub(crate) ws: String,
    pub(crate) ua: &'static str,
    pub(crate) password: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offers {
    /// Squid with Kerberos, NTLM and Basic helpers.
    NegotiateNtlmBasic,
    /// Squid with a Digest helper only.
    Digest,
    /// A web gateway with NTLM and Basic.
    NtlmBasic,
    /// A web gateway with Basic only.
    Basic,
}

pub(crate) struct Proxy {
    pub(crate) name: &'static str,
    pub(crate) v4: [u8; 4],
    pub(crate) v6: [u8; 16],
    pub(crate) mac: [u8; 6],
    pub(crate) port: u16,
    pub(crate) offers: Offers,
    pub(crate) squid: bool,
}

pub(crate) struct World {
    pub(crate) clients: Vec<Client>,
    pub(crate) proxies: Vec<Proxy>,
    pub(crate) hosts: Vec<String>,
}

impl World {
    pub(crate) fn new(rng: &mut WyRand) -> World {
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

pub(crate) fn domain(c: &Client) -> &'static str {
    DOMAINS[c.site]
}

pub(crate) fn realm(c: &Client) -> String {
    match domain(c) {
        "CORP" => "CORP.EXAMPLE.COM".into(),
        d => format!("{d}.CORP.EXAMPLE.COM"),
    }
}
