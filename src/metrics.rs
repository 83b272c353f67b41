//! Prometheus metrics of the dashboard and the headless sensor (`--metrics ADDR` on `live`
//! and `dashboard`): what was judged and how the capture is doing, served as `GET /metrics`.
//!
//! [`Metrics`] is a registry of the `prometheus-client` crate behind an `Arc`: the dashboard
//! counts every judged episode once ([`Metrics::episode`]) and copies its running counters
//! after every batch from the engine thread ([`Metrics::counters`]); [`serve`] answers
//! scrapes on the dashboard's tokio runtime with hyper.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `proxy407_episodes_total` | counter | `outcome`, `cause`, `proxy`, `scheme` |
//! | `proxy407_challenges_total` | counter | `proxy` |
//! | `proxy407_time_to_auth_seconds` | histogram | — (authenticated episodes) |
//! | `proxy407_packets_total` | counter | — |
//! | `proxy407_kernel_dropped_packets_total` | counter | — |
//! | `proxy407_queue_dropped_packets_total` | counter | — |
//! | `proxy407_gap_bytes_total` | counter | — |
//! | `proxy407_tracked_connections` | gauge | — |
//! | `proxy407_lockout_risk_users` | gauge | — |
//! | `proxy407_build_info` | info (gauge, 1) | `version` |
//!
//! Labels are bounded: never a user, domain, client address or target.
//! - `outcome`: `authenticated`, `failed`, `unresolved`.
//! - `cause`: the failure cause (`bad_credentials`, ...), `none` when the episode did not
//!   fail.
//! - `scheme`: `Basic`, `Digest`, `NTLM`, `Negotiate`, `other` for any other name a client
//!   sent, `none` when the episode saw no credentials.
//! - `proxy`: `ip:port` (`[v6]:port`) of the first [`MAX_PROXIES`] proxies seen; every
//!   further proxy is counted as `other`, so a scan cannot multiply the series.
//!
//! The capture counters are running totals copied from the engine: a counter only moves up
//! (by the difference to the new total), so a scrape never sees one go down.
//!
//! The text is the Prometheus text format (version 0.0.4); a scraper that asks for
//! OpenMetrics (`Accept: application/openmetrics-text`) gets that.

use crate::model::{Episode, Outcome};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{header, Method, Request, Response, StatusCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Distinct `proxy` label values; the proxies after these share `proxy="other"`.
pub const MAX_PROXIES: usize = 64;

/// Upper bounds (seconds) of the time-to-authenticate buckets: a cached Basic login takes
/// milliseconds, a Kerberos or NTLM handshake through a busy proxy seconds.
pub const TIME_TO_AUTH_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0,
];

/// The most scrape connections served at once; more are closed at once.
const MAX_SCRAPE_CONNECTIONS: usize = 32;
/// A scraper must send its request head within this.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The running counters of a run, as the dashboard has them after each batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SensorCounters {
    /// Packets read (the capture counters).
    pub packets: u64,
    /// Packets the kernel dropped (a live source's statistics; 0 for files).
    pub kernel_dropped: u64,
    /// Packets the capture thread dropped while the analysis was behind (live).
    pub queue_dropped: u64,
    /// Bytes missing from reassembled streams.
    pub gap_bytes: u64,
    /// Connections the engine keeps state for now.
    pub tracked_connections: u64,
    /// Distinct users with a `lockout_risk` episode.
    pub lockout_risk_users: u64,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EpisodeLabels {
    outcome: &'static str,
    cause: &'static str,
    proxy: String,
    scheme: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProxyLabel {
    proxy: String,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    episodes: Family<EpisodeLabels, Counter>,
    challenges: Family<ProxyLabel, Counter>,
    time_to_auth: Histogram,
    packets: Counter,
    kernel_dropped: Counter,
    queue_dropped: Counter,
    gap_bytes: Counter,
    tracked_connections: Gauge,
    lockout_risk_users: Gauge,
    /// The proxies that have a label of their own.
    proxies: Mutex<HashSet<SocketAddr>>,
    /// Held while the running totals are copied, so two callers cannot both add a difference.
    totals: Mutex<()>,
}

/// The metrics of one run. Cloning is cheap (an `Arc`): one clone goes to the place that
/// receives episodes, one to the server.
#[derive(Clone, Debug)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric; `proxy407_build_info` carries the version.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let episodes = Family::<EpisodeLabels, Counter>::default();
        registry.register(
            "proxy407_episodes",
            "Judged episodes by outcome, failure cause (none unless failed), proxy (ip:port, or other past 64 proxies) and scheme (none without credentials)",
            episodes.clone(),
        );
        let challenges = Family::<ProxyLabel, Counter>::default();
        registry.register(
            "proxy407_challenges",
            "407 challenges in judged episodes, by proxy",
            challenges.clone(),
        );
        let time_to_auth = Histogram::new(TIME_TO_AUTH_BUCKETS);
        registry.register_with_unit(
            "proxy407_time_to_auth",
            "Time from the first challenge to the authenticated response, of authenticated episodes",
            Unit::Seconds,
            time_to_auth.clone(),
        );
        let packets = Counter::default();
        registry.register("proxy407_packets", "Packets read", packets.clone());
        let kernel_dropped = Counter::default();
        registry.register(
            "proxy407_kernel_dropped_packets",
            "Packets the kernel dropped before the capture read them (live)",
            kernel_dropped.clone(),
        );
        let queue_dropped = Counter::default();
        registry.register(
            "proxy407_queue_dropped_packets",
            "Packets the capture dropped while the analysis was behind (live)",
            queue_dropped.clone(),
        );
        let gap_bytes = Counter::default();
        registry.register(
            "proxy407_gap_bytes",
            "Bytes missing from the captured TCP streams",
            gap_bytes.clone(),
        );
        let tracked_connections = Gauge::default();
        registry.register(
            "proxy407_tracked_connections",
            "Connections the engine keeps state for",
            tracked_connections.clone(),
        );
        let lockout_risk_users = Gauge::default();
        registry.register(
            "proxy407_lockout_risk_users",
            "Distinct users whose rejected attempts reached the lockout threshold",
            lockout_risk_users.clone(),
        );
        registry.register(
            "proxy407_build",
            "The proxy407 version",
            Info::new([("version", env!("CARGO_PKG_VERSION"))]),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry,
                episodes,
                challenges,
                time_to_auth,
                packets,
                kernel_dropped,
                queue_dropped,
                gap_bytes,
                tracked_connections,
                lockout_risk_users,
                proxies: Mutex::new(HashSet::new()),
                totals: Mutex::new(()),
            }),
        }
    }

    /// Counts one judged episode (once per episode).
    pub fn episode(&self, e: &Episode) {
        let m = &self.inner;
        let proxy = self.proxy_label(SocketAddr::new(e.proxy_ip, e.proxy_port));
        let labels = EpisodeLabels {
            outcome: e.outcome.as_str(),
            cause: e.cause.map_or("none", |c| c.as_str()),
            proxy: proxy.clone(),
            scheme: scheme_label(e.scheme.as_deref()),
        };
        m.episodes.get_or_create(&labels).inc();
        m.challenges
            .get_or_create(&ProxyLabel { proxy })
            .inc_by(u64::from(e.challenges));
        if e.outcome == Outcome::Authenticated {
            if let Some(ms) = e.time_to_auth_ms.filter(|t| t.is_finite()) {
                m.time_to_auth.observe(ms.max(0.0) / 1000.0);
            }
        }
    }

    /// Copies the running counters: the counters move up to the new totals (never down),
    /// the gauges are set.
    pub fn counters(&self, c: &SensorCounters) {
        let m = &self.inner;
        let _one_at_a_time = m.totals.lock().unwrap_or_else(|p| p.into_inner());
        raise_to(&m.packets, c.packets);
        raise_to(&m.kernel_dropped, c.kernel_dropped);
        raise_to(&m.queue_dropped, c.queue_dropped);
        raise_to(&m.gap_bytes, c.gap_bytes);
        m.tracked_connections.set(saturate(c.tracked_connections));
        m.lockout_risk_users.set(saturate(c.lockout_risk_users));
    }

    /// The Prometheus text format (version 0.0.4).
    pub fn encode(&self) -> String {
        let mut s = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut s, &self.inner.registry);
        s
    }

    /// The OpenMetrics text format (ends with `# EOF`).
    fn encode_openmetrics(&self) -> String {
        let mut s = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut s, &self.inner.registry);
        s
    }

    /// `ip:port` for the first [`MAX_PROXIES`] proxies, `other` after them.
    fn proxy_label(&self, addr: SocketAddr) -> String {
        let mut seen = self.inner.proxies.lock().unwrap_or_else(|p| p.into_inner());
        if seen.contains(&addr) || (seen.len() < MAX_PROXIES && seen.insert(addr)) {
            addr.to_string()
        } else {
            "other".to_string()
        }
    }
}

/// The `scheme` label: the four known schemes by their canonical names, anything else a
/// client sent as `other` (a name from the wire is no label value).
fn scheme_label(s: Option<&str>) -> &'static str {
    match s {
        None => "none",
        Some(s) if s.eq_ignore_ascii_case("basic") => "Basic",
        Some(s) if s.eq_ignore_ascii_case("digest") => "Digest",
        Some(s) if s.eq_ignore_ascii_case("ntlm") => "NTLM",
        Some(s) if s.eq_ignore_ascii_case("negotiate") => "Negotiate",
        Some(_) => "other",
    }
}

fn raise_to(c: &Counter, total: u64) {
    let now = c.get();
    if total > now {
        c.inc_by(total - now);
    }
}

fn saturate(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The answer to one request: `GET` or `HEAD /metrics` is the text, anything else 404.
fn respond(metrics: &Metrics, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let wanted =
        matches!(*req.method(), Method::GET | Method::HEAD) && req.uri().path() == "/metrics";
    let mut res = Response::new(Full::new(Bytes::new()));
    if !wanted {
        *res.status_mut() = StatusCode::NOT_FOUND;
        *res.body_mut() = Full::new(Bytes::from_static(b"not found; metrics are at /metrics\n"));
        return res;
    }
    let openmetrics = req
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let (body, content_type) = if openmetrics {
        (metrics.encode_openmetrics(), OPENMETRICS_CONTENT_TYPE)
    } else {
        (
            metrics.encode(),
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        )
    };
    *res.body_mut() = Full::new(Bytes::from(body));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    res
}

/// Serves `GET /metrics` (200, the Prometheus text format, or OpenMetrics when asked for)
/// and 404 for anything else, over HTTP/1.1, until the future is dropped (which also ends
/// the connections it serves). Errors accepting a connection are waited out, not returned.
pub async fn serve(listener: tokio::net::TcpListener, metrics: Metrics) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    if conns.len() >= MAX_SCRAPE_CONNECTIONS {
                        continue;
                    }
                    let m = metrics.clone();
                    conns.spawn(async move {
                        let svc = hyper::service::service_fn(move |req| {
                            let res = respond(&m, &req);
                            async move { Ok::<_, std::convert::Infallible>(res) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .timer(TokioTimer::new())
                            .header_read_timeout(HEADER_TIMEOUT)
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
                // Out of descriptors and the like: wait a little rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Cause, Ts};
    use std::collections::BTreeMap;
    use std::io::{Read as _, Write as _};

    fn episode(
        id: u64,
        outcome: Outcome,
        cause: Option<Cause>,
        proxy: &str,
        scheme: Option<&str>,
    ) -> Episode {
        let (ip, port) = proxy.rsplit_once(':').unwrap();
        Episode {
            episode_id: id,
            start_ts: Ts(1_000_000),
            end_ts: Ts(2_000_000),
            client_ip: "10.9.8.7".parse().unwrap(),
            proxy_ip: ip.trim_matches(['[', ']']).parse().unwrap(),
            proxy_port: port.parse().unwrap(),
            target: "secret-target.example:443".into(),
            user: Some("alice-the-user".into()),
            domain: Some("CORPDOM".into()),
            workstation: Some("WS-42".into()),
            user_source: None,
            scheme: scheme.map(str::to_string),
            offered_schemes: vec!["Basic".into()],
            challenges: 2,
            credential_attempts: 1,
            connections: 1,
            outcome,
            cause,
            detail: None,
            findings: Vec::new(),
            final_status: None,
            time_to_auth_ms: (outcome == Outcome::Authenticated).then_some(120.0),
            user_agent: None,
            capture_file: String::new(),
            frames: Vec::new(),
            frame_count: 0,
            display_filter: String::new(),
        }
    }

    /// The samples of the text: `name{labels}` → value (comments left out).
    fn samples(text: &str) -> BTreeMap<String, f64> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (k, v) = l.rsplit_once(' ').expect("name value");
                (k.to_string(), v.parse().expect("a number"))
            })
            .collect()
    }

    fn sum_of(s: &BTreeMap<String, f64>, name: &str) -> f64 {
        s.iter()
            .filter(|(k, _)| k.split('{').next() == Some(name))
            .map(|(_, v)| v)
            .sum()
    }

    fn mixed() -> Metrics {
        let m = Metrics::new();
        let p1 = "10.0.0.1:3128";
        m.episode(&episode(1, Outcome::Authenticated, None, p1, Some("NTLM")));
        m.episode(&episode(2, Outcome::Authenticated, None, p1, Some("NTLM")));
        m.episode(&episode(
            3,
            Outcome::Authenticated,
            None,
            "[fd00::1]:8080",
            Some("Basic"),
        ));
        m.episode(&episode(
            4,
            Outcome::Failed,
            Some(Cause::BadCredentials),
            p1,
            Some("Basic"),
        ));
        m.episode(&episode(
            5,
            Outcome::Failed,
            Some(Cause::NoCredentials),
            p1,
            None,
        ));
        m.episode(&episode(
            6,
            Outcome::Unresolved,
            None,
            p1,
            Some("X-Weird-Scheme"),
        ));
        m
    }

    #[test]
    fn episodes_are_counted_by_outcome_cause_proxy_and_scheme() {
        let s = samples(&mixed().encode());
        let get = |k: &str| {
            s.get(k)
                .copied()
                .unwrap_or_else(|| panic!("no {k} in {s:#?}"))
        };
        assert_eq!(
            get(
                r#"proxy407_episodes_total{outcome="authenticated",cause="none",proxy="10.0.0.1:3128",scheme="NTLM"}"#
            ),
            2.0
        );
        assert_eq!(
            get(
                r#"proxy407_episodes_total{outcome="authenticated",cause="none",proxy="[fd00::1]:8080",scheme="Basic"}"#
            ),
            1.0
        );
        assert_eq!(
            get(
                r#"proxy407_episodes_total{outcome="failed",cause="bad_credentials",proxy="10.0.0.1:3128",scheme="Basic"}"#
            ),
            1.0
        );
        assert_eq!(
            get(
                r#"proxy407_episodes_total{outcome="failed",cause="no_credentials",proxy="10.0.0.1:3128",scheme="none"}"#
            ),
            1.0
        );
        // A scheme name from the wire is no label value.
        assert_eq!(
            get(
                r#"proxy407_episodes_total{outcome="unresolved",cause="none",proxy="10.0.0.1:3128",scheme="other"}"#
            ),
            1.0
        );
        assert_eq!(sum_of(&s, "proxy407_episodes_total"), 6.0);
        assert_eq!(
            get(r#"proxy407_challenges_total{proxy="10.0.0.1:3128"}"#),
            10.0
        );
        assert_eq!(
            get(r#"proxy407_challenges_total{proxy="[fd00::1]:8080"}"#),
            2.0
        );
        // Three authenticated episodes of 120 ms.
        assert_eq!(get("proxy407_time_to_auth_seconds_count"), 3.0);
        assert!((get("proxy407_time_to_auth_seconds_sum") - 0.36).abs() < 1e-9);
        assert_eq!(
            get(r#"proxy407_time_to_auth_seconds_bucket{le="0.1"}"#),
            0.0
        );
        assert_eq!(
            get(r#"proxy407_time_to_auth_seconds_bucket{le="0.25"}"#),
            3.0
        );
        assert_eq!(get(r#"proxy407_time_to_auth_seconds_bucket{le="30"}"#), 3.0);
        assert_eq!(
            get(r#"proxy407_time_to_auth_seconds_bucket{le="+Inf"}"#),
            3.0
        );
        let version = format!(
            r#"proxy407_build_info{{version="{}"}}"#,
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(get(&version), 1.0);
    }

    #[test]
    fn the_names_are_exactly_the_documented_ones() {
        let text = mixed().encode();
        let types: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .collect();
        assert_eq!(
            types,
            [
                "proxy407_episodes_total counter",
                "proxy407_challenges_total counter",
                "proxy407_time_to_auth_seconds histogram",
                "proxy407_packets_total counter",
                "proxy407_kernel_dropped_packets_total counter",
                "proxy407_queue_dropped_packets_total counter",
                "proxy407_gap_bytes_total counter",
                "proxy407_tracked_connections gauge",
                "proxy407_lockout_risk_users gauge",
                "proxy407_build_info gauge",
            ]
        );
        // Every sample belongs to one of them (no doubled `_total`).
        for name in samples(&text).keys().map(|k| k.split('{').next().unwrap()) {
            let base = name
                .strip_suffix("_bucket")
                .or_else(|| name.strip_suffix("_sum"))
                .or_else(|| name.strip_suffix("_count"))
                .unwrap_or(name);
            assert!(
                types.iter().any(|t| t.split(' ').next() == Some(base)),
                "{name}"
            );
        }
        let om = mixed().encode_openmetrics();
        assert!(om.ends_with("# EOF\n"), "{om}");
        assert!(om.contains("proxy407_episodes_total{"), "{om}");
    }

    #[test]
    fn histogram_count_is_the_authenticated_episodes() {
        let m = Metrics::new();
        let mut authenticated = 0;
        for i in 0..40u64 {
            let outcome = Outcome::ALL[(i % 3) as usize];
            let cause = (outcome == Outcome::Failed).then_some(Cause::ALL[(i % 8) as usize]);
            let mut e = episode(i, outcome, cause, "10.0.0.1:3128", Some("Digest"));
            if outcome == Outcome::Authenticated {
                authenticated += 1;
                e.time_to_auth_ms = Some(i as f64 * 900.0);
            }
            m.episode(&e);
        }
        let s = samples(&m.encode());
        assert_eq!(
            s["proxy407_time_to_auth_seconds_count"],
            f64::from(authenticated)
        );
        assert_eq!(
            s[r#"proxy407_time_to_auth_seconds_bucket{le="+Inf"}"#],
            f64::from(authenticated)
        );
        let by_outcome = |o: &str| -> f64 {
            s.iter()
                .filter(|(k, _)| {
                    k.starts_with("proxy407_episodes_total{")
                        && k.contains(&format!(r#"outcome="{o}""#))
                })
                .map(|(_, v)| v)
                .sum()
        };
        assert_eq!(by_outcome("authenticated"), f64::from(authenticated));
        assert_eq!(
            by_outcome("failed") + by_outcome("unresolved"),
            40.0 - f64::from(authenticated)
        );
    }

    #[test]
    fn seventy_proxies_make_at_most_sixty_five_label_values() {
        let m = Metrics::new();
        for i in 0..70u64 {
            let proxy = format!("10.1.{}.{}:3128", i / 250, i % 250 + 1);
            m.episode(&episode(
                i,
                Outcome::Failed,
                Some(Cause::Denied),
                &proxy,
                Some("Basic"),
            ));
        }
        // The first ones keep their label after the cap is reached.
        m.episode(&episode(
            99,
            Outcome::Failed,
            Some(Cause::Denied),
            "10.1.0.1:3128",
            Some("Basic"),
        ));
        let s = samples(&m.encode());
        let proxies: HashSet<&str> = s
            .keys()
            .filter(|k| {
                k.starts_with("proxy407_episodes_total{")
                    || k.starts_with("proxy407_challenges_total{")
            })
            .filter_map(|k| k.split("proxy=\"").nth(1)?.split('"').next())
            .collect();
        assert_eq!(proxies.len(), MAX_PROXIES + 1, "{proxies:?}");
        assert!(proxies.contains("other"));
        assert_eq!(
            s[r#"proxy407_episodes_total{outcome="failed",cause="denied",proxy="other",scheme="Basic"}"#],
            6.0
        );
        assert_eq!(
            s[r#"proxy407_episodes_total{outcome="failed",cause="denied",proxy="10.1.0.1:3128",scheme="Basic"}"#],
            2.0
        );
        assert_eq!(s[r#"proxy407_challenges_total{proxy="other"}"#], 12.0);
        assert_eq!(sum_of(&s, "proxy407_episodes_total"), 71.0);
    }

    #[test]
    fn no_user_client_or_target_reaches_the_text() {
        let text = mixed().encode() + &mixed().encode_openmetrics();
        for secret in [
            "alice-the-user",
            "CORPDOM",
            "WS-42",
            "10.9.8.7",
            "secret-target",
            "X-Weird",
        ] {
            assert!(!text.contains(secret), "{secret} in\n{text}");
        }
    }

    #[test]
    fn running_totals_only_move_up_and_gauges_follow() {
        let m = Metrics::new();
        let mut c = SensorCounters {
            packets: 100,
            kernel_dropped: 3,
            queue_dropped: 7,
            gap_bytes: 1460,
            tracked_connections: 12,
            lockout_risk_users: 2,
        };
        m.counters(&c);
        c.packets = 250;
        c.tracked_connections = 4;
        m.counters(&c);
        let s = samples(&m.encode());
        assert_eq!(s["proxy407_packets_total"], 250.0);
        assert_eq!(s["proxy407_kernel_dropped_packets_total"], 3.0);
        assert_eq!(s["proxy407_queue_dropped_packets_total"], 7.0);
        assert_eq!(s["proxy407_gap_bytes_total"], 1460.0);
        assert_eq!(s["proxy407_tracked_connections"], 4.0);
        assert_eq!(s["proxy407_lockout_risk_users"], 2.0);
        // A smaller total (a source that restarted its count) does not take a counter down.
        c.packets = 10;
        c.lockout_risk_users = 0;
        m.counters(&c);
        let s = samples(&m.encode());
        assert_eq!(s["proxy407_packets_total"], 250.0);
        assert_eq!(s["proxy407_lockout_risk_users"], 0.0);
    }

    /// One HTTP/1.1 request over a plain socket: (status, headers, body).
    fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, head.to_string(), body.to_string())
    }

    #[test]
    fn serve_answers_metrics_and_404_on_a_real_socket() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let m = mixed();
        m.counters(&SensorCounters {
            packets: 77,
            ..SensorCounters::default()
        });
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let server = rt.spawn(serve(listener, m.clone()));
        // The runtime serves on its own thread while this one scrapes.
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let runner = std::thread::spawn(move || {
            rt.block_on(async {
                let _ = done_rx.await;
            });
            server.abort();
        });
        let (status, head, body) = get(addr, "/metrics");
        assert_eq!(status, 200, "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: text/plain; version=0.0.4"),
            "{head}"
        );
        assert_eq!(body, m.encode());
        assert_eq!(samples(&body)["proxy407_packets_total"], 77.0);
        let (status, _, _) = get(addr, "/other");
        assert_eq!(status, 404);
        let (status, _, _) = get(addr, "/metrics/x");
        assert_eq!(status, 404);
        done_tx.send(()).unwrap();
        runner.join().unwrap();
    }
}
