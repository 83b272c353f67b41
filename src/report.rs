//! The views of `proxy407 analyze`: the terminal report, written as a diagnosis a help-desk
//! engineer can act on, and the JSON summary (`docs/verdicts.md` §6.2). Rendering only:
//! every number comes from [`Stats`] and [`Summary`]; nothing here counts on its own. The
//! causes with their meanings and remedies, and the findings with their counts, are those
//! of `docs/verdicts.md` §4.3 and §5.1; the capture's health and what was out of reach
//! (TLS to a proxy, gaps) follow §4.2 and §7.
//!
//! Colour is plain ANSI, used only when asked for ([`use_color`] decides from the terminal,
//! `--no-color` and `NO_COLOR`); the tables are laid out on plain text first, so they stay
//! aligned with or without colour.

use crate::anomaly::{Anomalies, Anomaly};
use crate::model::{Cause, EngineOutput, Finding, Ts};
use crate::stats::{KeyRow, Stats, Summary, Table, UNKNOWN_USER};
use std::fmt::Write as _;
use std::io::IsTerminal;

/// How the terminal report is drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextOptions {
    pub color: bool,
}

/// Colour only when standard output is a terminal, `NO_COLOR` is unset (or empty) and
/// `--no-color` was not given.
pub fn use_color(no_color_flag: bool) -> bool {
    let env_off = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color_flag && !env_off && std::io::stdout().is_terminal()
}

/// The whole `analyze` output for a run: the JSON summary or the terminal report, with
/// `top` rows per top list. Pseudonymization, when asked, happens before (on the output).
pub fn analyze_report(out: &EngineOutput, top: usize, json: bool, color: bool) -> String {
    let (stats, _) = Summary::from_output(out, top);
    render(&stats, out, top, json, color)
}

/// The report of a run whose records went into `stats` as they came.
pub fn render(stats: &Stats, out: &EngineOutput, top: usize, json: bool, color: bool) -> String {
    let summary = Summary::of_run(stats, out, top);
    if json {
        render_json(&summary)
    } else {
        render_text(stats, &summary, &TextOptions { color })
    }
}

/// The JSON summary, pretty-printed, ending with a newline.
pub fn render_json(summary: &Summary) -> String {
    match serde_json::to_string_pretty(summary) {
        Ok(mut s) => {
            s.push('\n');
            s
        }
        // Serializing plain counters and strings cannot fail; say so if it ever does.
        Err(e) => format!("{{\"error\": {:?}}}\n", e.to_string()),
    }
}

#[derive(Clone, Copy)]
struct Paint {
    on: bool,
}

impl Paint {
    fn wrap(self, code: &str, s: &str) -> String {
        if self.on && !s.is_empty() {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bold(self, s: &str) -> String {
        self.wrap("1", s)
    }
    fn red(self, s: &str) -> String {
        self.wrap("1;31", s)
    }
    fn green(self, s: &str) -> String {
        self.wrap("32", s)
    }
    fn yellow(self, s: &str) -> String {
        self.wrap("1;33", s)
    }
    fn dim(self, s: &str) -> String {
        self.wrap("2", s)
    }
    /// Red when not zero.
    fn failed(self, n: u64) -> String {
        if n > 0 {
            self.red(&num(n))
        } else {
            num(n)
        }
    }
}

/// An integer with thousands separators.
fn num(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// `10.0.0.4 +2`: the first of a list and how many more.
fn first_and_more(v: &[String]) -> String {
    match v {
        [] => "-".into(),
        [one] => cut(one, KEY_MAX),
        [first, rest @ ..] => format!("{} +{}", cut(first, KEY_MAX), rest.len()),
    }
}

/// `1 episode`, `2 episodes`.
fn count(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{} {word}s", num(n))
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn ms(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(m) if m < 10.0 => format!("{m:.1} ms"),
        Some(m) if m < 1000.0 => format!("{m:.0} ms"),
        Some(m) => format!("{:.2} s", m / 1000.0),
    }
}

fn span(first: Ts, last: Ts) -> String {
    let secs = (last.0.saturating_sub(first.0)).max(0) / 1_000_000;
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if h > 0 {
        format!("{h}h {m:02}m {s:02}s")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

/// Cuts a cell to `max` characters, marking the cut.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// A cell: plain text for the width, and how to paint it.
struct Cell {
    text: String,
    style: Style,
}

#[derive(Clone, Copy, PartialEq)]
enum Style {
    Plain,
    Failed,
    Good,
}

fn cell(text: impl Into<String>) -> Cell {
    Cell {
        text: text.into(),
        style: Style::Plain,
    }
}

/// Lays out a table: the first column left-aligned, the others right-aligned unless listed
/// in `left`. Widths come from the plain text, colour is added after padding.
fn table(out: &mut String, p: Paint, headers: &[&str], rows: &[Vec<Cell>], left: &[usize]) {
    let cols = headers.len();
    let mut w: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(cols) {
            if let Some(x) = w.get_mut(i) {
                *x = (*x).max(c.text.chars().count());
            }
        }
    }
    let pad = |i: usize, s: &str| -> String {
        let width = w.get(i).copied().unwrap_or(0);
        if i == 0 || left.contains(&i) {
            format!("{s:<width$}")
        } else {
            format!("{s:>width$}")
        }
    };
    let head: Vec<String> = headers.iter().enumerate().map(|(i, h)| pad(i, h)).collect();
    let _ = writeln!(out, "  {}", p.bold(head.join("  ").trim_end()));
    for r in rows {
        let mut line = String::from("  ");
        for (i, c) in r.iter().enumerate().take(cols) {
            if i > 0 {
                line.push_str("  ");
            }
            let padded = pad(i, &c.text);
            line.push_str(&match c.style {
                Style::Plain => padded,
                Style::Failed => p.red(&padded),
                Style::Good => p.green(&padded),
            });
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

fn heading(out: &mut String, p: Paint, title: &str) {
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", p.bold(title));
}

fn list_counts(m: &std::collections::BTreeMap<String, u64>) -> String {
    let mut v: Vec<(&String, &u64)> = m.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.iter()
        .map(|(k, n)| format!("{k} {}", num(**n)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The key column's width limit, so a table stays near 100 columns even with long URLs.
const KEY_MAX: usize = 32;

fn outcome_cells(r: &KeyRow) -> Vec<Cell> {
    vec![
        cell(cut(&r.key, KEY_MAX)),
        cell(num(r.episodes)),
        Cell {
            text: num(r.authenticated),
            style: if r.authenticated > 0 {
                Style::Good
            } else {
                Style::Plain
            },
        },
        Cell {
            text: num(r.failed),
            style: if r.failed > 0 {
                Style::Failed
            } else {
                Style::Plain
            },
        },
        cell(num(r.unresolved)),
        cell(r.top_cause().map_or("-", |c| c.as_str())),
    ]
}

fn top_table(out: &mut String, p: Paint, stats: &Stats, summary: &Summary, t: Table) {
    let rows: &[KeyRow] = match t {
        Table::Users => &summary.top.users,
        Table::Clients => &summary.top.clients,
        Table::Proxies => &summary.top.proxies,
        Table::Targets => &summary.top.targets,
    };
    if rows.is_empty() {
        return;
    }
    let total = stats.row_count(t);
    let title = match t {
        Table::Users => "Top users",
        Table::Clients => "Top clients",
        Table::Proxies => "Top proxies",
        Table::Targets => "Top targets",
    };
    let shown = if total > rows.len() {
        format!(" ({} of {})", rows.len(), num(total as u64))
    } else {
        String::new()
    };
    heading(out, p, &format!("{title}{shown}"));
    let mut headers = vec![
        t.key_column(),
        "episodes",
        "auth",
        "failed",
        "unres",
        "main cause",
    ];
    let mut body = Vec::new();
    for r in rows {
        let mut c = outcome_cells(r);
        match t {
            Table::Users => {
                c.push(cell(num(r.max_failures_10min)));
                c.push(cell(ms(r.time_to_auth_p50_ms)));
                c.push(cell(first_and_more(&r.client_ips)));
            }
            Table::Clients => {
                c.push(cell(ms(r.time_to_auth_p50_ms)));
                // Named users first, so the cell shows a name where there is one.
                let mut users: Vec<String> = r
                    .users
                    .iter()
                    .filter(|u| u.as_str() != UNKNOWN_USER)
                    .cloned()
                    .collect();
                if users.len() < r.users.len() {
                    users.push(UNKNOWN_USER.to_string());
                }
                c.push(cell(first_and_more(&users)));
            }
            Table::Proxies | Table::Targets => {
                c.push(cell(ms(r.time_to_auth_p50_ms)));
                c.push(cell(num(r.users.len() as u64)));
                c.push(cell(num(r.clients.len() as u64)));
            }
        }
        body.push(c);
    }
    match t {
        Table::Users => headers.extend(["max/10min", "auth p50", "clients"]),
        Table::Clients => headers.extend(["auth p50", "users"]),
        Table::Proxies | Table::Targets => headers.extend(["auth p50", "users", "clients"]),
    }
    let left: &[usize] = match t {
        Table::Users => &[5, 8],
        Table::Clients => &[5, 7],
        _ => &[5],
    };
    table(out, p, &headers, &body, left);
}

/// The terminal report.
pub fn render_text(stats: &Stats, summary: &Summary, opts: &TextOptions) -> String {
    let p = Paint { on: opts.color };
    let mut out = String::new();
    title(&mut out, p, summary);
    headline(&mut out, p, stats, summary);
    // The capture may be the problem: say so before anything is blamed on users.
    let loss = loss(stats, summary);
    warnings(&mut out, p, summary, &loss);
    floods(&mut out, p, summary);
    causes(&mut out, p, stats);
    for t in Table::ALL {
        top_table(&mut out, p, stats, summary, t);
    }
    findings(&mut out, p, stats);
    schemes(&mut out, p, stats);
    time_to_auth(&mut out, p, stats, summary);
    capture_health(&mut out, p, summary, loss.is_empty());
    out
}

/// The title and what the capture is.
fn title(out: &mut String, p: Paint, summary: &Summary) {
    let cap = &summary.capture;
    let _ = writeln!(
        out,
        "{}",
        p.bold("proxy407: proxy authentication diagnosis")
    );
    let when = match (cap.first_ts, cap.last_ts) {
        (Some(a), Some(b)) => format!(", {} to {} ({})", a, b, span(a, b)),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "Capture: {} file{}, {} packets{}",
        num(cap.files),
        if cap.files == 1 { "" } else { "s" },
        num(cap.packets),
        when
    );
}

/// The headline: challenges, episodes, who is affected, and the main cause.
fn headline(out: &mut String, p: Paint, stats: &Stats, summary: &Summary) {
    let ep = summary.episodes;
    heading(out, p, "Headline");
    let _ = writeln!(
        out,
        "  407 challenges {}   episodes {}   authenticated {}   failed {}   unresolved {}",
        num(stats.challenges()),
        num(ep.total),
        p.green(&num(ep.authenticated)),
        p.failed(ep.failed),
        num(ep.unresolved)
    );
    let unknown = if stats.unknown_user_failed() {
        " (plus failures with no user name)"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "  users affected {} of {}{}   clients affected {}",
        p.failed(stats.users_affected()),
        num(stats.users_seen()),
        unknown,
        num(stats.clients_affected())
    );
    if ep.total > 0 {
        let verdict = if ep.failed == 0 {
            p.green("Every challenged client that finished got through the proxy.")
        } else {
            let main = Cause::ALL
                .into_iter()
                .filter(|c| stats.failed_by(*c) > 0)
                .max_by(|a, b| stats.failed_by(*a).cmp(&stats.failed_by(*b)).then(b.cmp(a)));
            match main {
                Some(c) => format!(
                    "Most failures: {} ({} of {}): {}.",
                    p.red(c.as_str()),
                    num(stats.failed_by(c)),
                    num(ep.failed),
                    c.meaning()
                ),
                None => format!("{} failed episodes.", num(ep.failed)),
            }
        };
        let _ = writeln!(out, "  {verdict}");
    }
    if ep.unresolved > 0 {
        let _ = writeln!(
            out,
            "  {}",
            p.dim("Unresolved: the decisive message is missing (a gap, or the capture ended); not a failure.")
        );
    }
}

/// What the capture lost, one phrase each (empty for a capture without loss).
fn loss(stats: &Stats, summary: &Summary) -> Vec<String> {
    let cap = &summary.capture;
    let gap_episodes = stats.finding_episodes(Finding::CaptureGap);
    let dropped = cap.kernel_dropped.unwrap_or(0);
    let mut loss = Vec::new();
    if cap.gap_bytes > 0 {
        loss.push(format!("{} missing in TCP gaps", bytes(cap.gap_bytes)));
    }
    if cap.truncated_packets > 0 {
        loss.push(format!(
            "{} cut by the snap length",
            count(cap.truncated_packets, "packet")
        ));
    }
    if dropped > 0 {
        loss.push(format!(
            "{} dropped by the kernel",
            count(dropped, "packet")
        ));
    }
    if let Some(q) = cap.queue_dropped.filter(|&q| q > 0) {
        loss.push(format!(
            "{} dropped while the analysis was behind",
            count(q, "packet")
        ));
    }
    if cap.flow_limit_hits > 0 {
        loss.push(format!(
            "{} of the flow table",
            count(cap.flow_limit_hits, "limit hit")
        ));
    }
    if gap_episodes > 0 {
        loss.push(format!("{} crossed a gap", count(gap_episodes, "episode")));
    }
    loss
}

/// A lossy capture, no proxy connection, or no episode: said before any blame.
fn warnings(out: &mut String, p: Paint, summary: &Summary, loss: &[String]) {
    let cap = &summary.capture;
    let http = &summary.http;
    if !loss.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{} {}.",
            p.yellow("WARNING: the capture is lossy:"),
            loss.join(", ")
        );
        let _ = writeln!(
            out,
            "  Missing bytes look like failing users: check the mirror port, snap length and drops before blaming accounts."
        );
    }
    if cap.proxy_connections == 0 {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{} among {} TCP connections: no 407, CONNECT or absolute-form request was seen.",
            p.yellow("No proxy connection found"),
            num(cap.tcp_connections)
        );
        if summary.floods.is_empty() {
            let _ = writeln!(
                out,
                "  If the proxy listens on a port of its own, name it: --proxy-port PORT (e.g. --proxy-port 8081)."
            );
        } else {
            let _ = writeln!(
                out,
                "  The proxy ports saw only connection attempts, from a flood or scan (below)."
            );
        }
        if cap.tls_proxy_connections > 0 {
            let _ = writeln!(
                out,
                "  {} connections to a proxy port speak TLS (an HTTPS proxy): their authentication is hidden.",
                num(cap.tls_proxy_connections)
            );
        }
    } else if summary.episodes.total == 0 {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "No episode: none of the {} requests on {} proxy connections met a 407 challenge.",
            num(http.requests),
            num(cap.proxy_connections)
        );
    }
}

/// Connection floods and scans: attempts kept out of the clients (`docs/verdicts.md` §3.11).
fn floods(out: &mut String, p: Paint, summary: &Summary) {
    if summary.floods.is_empty() {
        return;
    }
    heading(
        out,
        p,
        "Connection floods and scans (not counted as clients)",
    );
    for f in &summary.floods {
        let each = if f.attempts == f.sources && !f.sources_capped {
            ", one SYN each".to_string()
        } else {
            format!(", {} attempts", num(f.attempts))
        };
        let _ = writeln!(
            out,
            "  {} against {}: {}{} sources{}, {} to {}",
            p.red("connection flood or scan"),
            crate::stats::proxy_key(f.proxy_ip, f.proxy_port),
            if f.sources_capped { "more than " } else { "" },
            num(f.sources),
            each,
            f.first_ts,
            f.last_ts
        );
    }
}

/// Failures by cause, with what to do.
fn causes(out: &mut String, p: Paint, stats: &Stats) {
    let causes: Vec<_> = stats
        .causes()
        .into_iter()
        .filter(|c| c.episodes > 0)
        .collect();
    if !causes.is_empty() {
        heading(out, p, "Failures by cause");
        let mut sorted = causes;
        sorted.sort_by(|a, b| b.episodes.cmp(&a.episodes).then(a.cause.cmp(&b.cause)));
        for c in sorted {
            let _ = writeln!(
                out,
                "  {}  {}, {}, {}",
                p.red(c.cause.as_str()),
                count(c.episodes, "episode"),
                count(c.users, "user"),
                count(c.clients, "client")
            );
            let _ = writeln!(out, "      what:   {}", c.cause.meaning());
            let _ = writeln!(out, "      remedy: {}", c.remedy);
        }
    }
}

/// Every finding seen, with what it means.
fn findings(out: &mut String, p: Paint, stats: &Stats) {
    heading(out, p, "Findings");
    let mut any = false;
    for f in Finding::ALL {
        let n = stats.finding_count(f);
        if n == 0 {
            continue;
        }
        any = true;
        let what = match f {
            Finding::LockoutRisk => {
                let users = stats.lockout_users();
                let mut names: Vec<String> = users.iter().take(10).cloned().collect();
                if users.len() > names.len() {
                    names.push(format!("and {} more", users.len() - names.len()));
                }
                format!("{}: {}", count(n, "user"), names.join(", "))
            }
            Finding::CaptureGap => count(n, "episode"),
            _ => format!(
                "{} in {}",
                count(n, "request"),
                count(stats.finding_episodes(f), "episode")
            ),
        };
        let name = match f {
            Finding::StaleNonce => f.as_str().to_string(),
            _ => p.yellow(f.as_str()),
        };
        let _ = writeln!(out, "  {name}  {what}");
        let _ = writeln!(out, "      {}", f.meaning());
    }
    if !any {
        let _ = writeln!(out, "  none");
    }
}

/// Schemes offered and used, counted in episodes.
fn schemes(out: &mut String, p: Paint, stats: &Stats) {
    heading(out, p, "Schemes (episodes)");
    let offered = list_counts(stats.schemes_offered());
    let used = list_counts(stats.schemes_used());
    let _ = writeln!(
        out,
        "  offered: {}",
        if offered.is_empty() { "-" } else { &offered }
    );
    let _ = writeln!(
        out,
        "  used:    {}",
        if used.is_empty() { "-" } else { &used }
    );
}

/// Time from the first challenge to success, over the authenticated episodes.
fn time_to_auth(out: &mut String, p: Paint, stats: &Stats, summary: &Summary) {
    heading(out, p, "Time to authenticate");
    let tta = summary.time_to_auth_ms;
    if tta.max.is_some() {
        let _ = writeln!(
            out,
            "  p50 {}   p95 {}   max {}   over {} authenticated episodes",
            ms(tta.p50),
            ms(tta.p95),
            ms(tta.max),
            num(stats.time_to_auth_samples())
        );
    } else {
        let _ = writeln!(out, "  no authenticated episode");
    }
}

/// Capture health: the counters of the capture and of HTTP, the anomalies met, notices.
/// `lossless`: nothing was lost (see [`loss`]).
fn capture_health(out: &mut String, p: Paint, summary: &Summary, lossless: bool) {
    let cap = &summary.capture;
    let http = &summary.http;
    heading(out, p, "Capture health");
    let links: Vec<String> = cap
        .link_types
        .iter()
        .map(|(k, v)| format!("{k} {}", num(*v)))
        .collect();
    let _ = writeln!(
        out,
        "  packets {} ({}){}",
        num(cap.packets),
        bytes(cap.bytes),
        if links.is_empty() {
            String::new()
        } else {
            format!("   link types: {}", links.join(", "))
        }
    );
    let _ = writeln!(
        out,
        "  TCP connections {}   proxy connections {}   TLS to a proxy port {}   failed connection attempts {}",
        num(cap.tcp_connections),
        num(cap.proxy_connections),
        num(cap.tls_proxy_connections),
        num(cap.failed_connection_attempts)
    );
    let _ = writeln!(
        out,
        "  requests {}   responses {}   407s {}   CONNECT {}   with credentials {}   unanswered {}",
        num(http.requests),
        num(http.responses),
        num(http.responses_407),
        num(http.connect_requests),
        num(http.credentialed_requests),
        num(http.unanswered_requests)
    );
    let mut health = vec![
        format!("truncated packets {}", num(cap.truncated_packets)),
        format!("gap bytes {}", num(cap.gap_bytes)),
        format!("decode errors {}", num(cap.decode_errors)),
        format!("HTTP anomalies {}", num(cap.http_anomalies)),
    ];
    if cap.ip_fragments > 0 {
        health.push(format!("IP fragments {}", num(cap.ip_fragments)));
    }
    if cap.flow_limit_hits > 0 {
        health.push(format!("flow limit hits {}", num(cap.flow_limit_hits)));
    }
    if let Some(d) = cap.kernel_dropped {
        health.push(format!("kernel dropped {}", num(d)));
    }
    if let Some(d) = cap.queue_dropped {
        health.push(format!("dropped behind the analysis {}", num(d)));
    }
    let _ = writeln!(out, "  {}", health.join("   "));
    if let Some(sh) = &cap.shard {
        let _ = writeln!(
            out,
            "  shard {}: the clients of the other shards were skipped ({} TCP packets)",
            sh.shard,
            num(sh.other_packets)
        );
    }
    if !cap.encapsulations.is_empty() {
        let encaps: Vec<String> = cap
            .encapsulations
            .iter()
            .map(|(k, v)| format!("{k} {}", num(*v)))
            .collect();
        let _ = writeln!(out, "  encapsulations: {}", encaps.join(", "));
        for m in &cap.mirror_sources {
            let id = match (m.encapsulation.as_str(), m.id) {
                ("vxlan" | "geneve", Some(v)) => format!(" VNI {v}"),
                ("gre", Some(k)) => format!(" key {k}"),
                (_, Some(s)) => format!(" session {s}"),
                (_, None) => String::new(),
            };
            let _ = writeln!(
                out,
                "    {}{id} {} → {}: {} packets",
                m.encapsulation,
                m.outer_src,
                m.outer_dst,
                num(m.packets)
            );
        }
    }
    if cap.tls_proxy_connections > 0 && cap.proxy_connections > 0 {
        let _ = writeln!(
            out,
            "  {} connections to a proxy port speak TLS (an HTTPS proxy): their authentication is hidden and not in the episodes.",
            num(cap.tls_proxy_connections)
        );
    }
    if lossless {
        let _ = writeln!(out, "  {}", p.green("no loss seen in the capture"));
    }
    anomalies(out, p, &summary.anomalies);
    if !summary.notices.is_empty() {
        let _ = writeln!(out, "  notices:");
        for n in &summary.notices {
            let _ = writeln!(out, "    - {n}");
        }
    }
}

/// The anomalies counted at least once, most frequent first, each with what it means.
fn anomalies(out: &mut String, p: Paint, a: &Anomalies) {
    let mut seen: Vec<(Anomaly, u64)> = a.non_zero().collect();
    if seen.is_empty() {
        return;
    }
    // Stable: a tie keeps the order of the layers.
    seen.sort_by_key(|x| std::cmp::Reverse(x.1));
    let name_w = seen.iter().map(|(x, _)| x.name().len()).max().unwrap_or(0);
    let count_w = seen.iter().map(|(_, n)| num(*n).len()).max().unwrap_or(0);
    let _ = writeln!(out, "  anomalies:");
    for (x, n) in seen {
        let name = format!("{:<name_w$}", x.name());
        let _ = writeln!(
            out,
            "    {}  {:>count_w$}  {}",
            p.yellow(&name),
            num(n),
            x.explanation()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_flag_wins() {
        assert!(!use_color(true));
    }

    #[test]
    fn numbers_and_durations() {
        assert_eq!(num(0), "0");
        assert_eq!(num(999), "999");
        assert_eq!(num(1000), "1,000");
        assert_eq!(num(1234567), "1,234,567");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(2048), "2.0 KiB");
        assert_eq!(ms(None), "-");
        assert_eq!(ms(Some(3.25)), "3.2 ms");
        assert_eq!(ms(Some(120.4)), "120 ms");
        assert_eq!(ms(Some(2500.0)), "2.50 s");
        assert_eq!(span(Ts(0), Ts(3_725_000_000)), "1h 02m 05s");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
        assert_eq!(count(1, "user"), "1 user");
        assert_eq!(count(1200, "user"), "1,200 users");
        assert_eq!(first_and_more(&[]), "-");
        assert_eq!(
            first_and_more(&["a".into(), "b".into(), "c".into()]),
            "a +2"
        );
    }

    #[test]
    fn tables_align_with_and_without_colour() {
        for on in [false, true] {
            let mut out = String::new();
            let rows = vec![
                vec![
                    cell("alice"),
                    Cell {
                        text: "12".into(),
                        style: Style::Failed,
                    },
                ],
                vec![cell("bob-the-long-name"), cell("3")],
            ];
            table(&mut out, Paint { on }, &["user", "failed"], &rows, &[]);
            let plain: Vec<String> = out
                .lines()
                .map(|l| {
                    l.replace("\x1b[1;31m", "")
                        .replace("\x1b[1m", "")
                        .replace("\x1b[0m", "")
                })
                .collect();
            assert_eq!(plain[0], "  user               failed");
            assert_eq!(plain[1], "  alice                  12");
            assert_eq!(plain[2], "  bob-the-long-name       3");
            assert_eq!(out.contains('\x1b'), on);
        }
    }
}
