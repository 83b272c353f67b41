//! The views of `proxy407 analyze`: the terminal report, written as a diagnosis a help-desk
//! engineer can act on, and the JSON summary (`docs/verdicts.md` §6.2). Rendering only:
//! every number comes from [`Stats`] and [`Summary`]; nothing here counts on its own. The
//! causes with their meanings and remedies, and the findings with their counts, are those
//! of `docs/verdicts.md` §4.3 and §5.1; the capture's health and what was out of reach
//! (TLS to a proxy, gaps) follow §4.2 and §7.
//!
//! Colour is plain ANSI, used only when asked for ([`use_color`] decides from the terminal,
//! `--no-color` and `NO_COLOR`); the tables are laid out on plain text first, so they stay
//! aligned with or without colour. The words come from the language's catalogue
//! ([`crate::i18n`], `--lang`); columns are aligned by display width, so Japanese labels
//! (two cells a character) line up too. The JSON summary never changes with the language.
//!
//! Evidence (`docs/verdicts.md` §6.1): the terminal report ends with the capture file,
//! frames and display filter of the latest failed episodes ([`render_with_evidence`]), and
//! [`Ladder`] is one episode with its transactions as a ladder of heads, its verdict, the
//! section of the rules that decided it and the remedies: what `proxy407 explain` prints
//! and the dashboard's drill-down shows on Enter.

use crate::anomaly::{Anomalies, Anomaly};
use crate::i18n::{self, Args, Lang};
use crate::model::{Cause, EngineOutput, Episode, Finding, Outcome, Transaction, Ts};
use crate::stats::{KeyRow, Stats, Summary, Table, UNKNOWN_USER};
use std::fmt::Write as _;
use std::io::IsTerminal;

/// The failed episodes a report lists at most (the latest ones).
pub const FAILED_KEPT: usize = 500;

/// The failed episodes of a run, the latest [`FAILED_KEPT`], for the report's evidence.
#[derive(Clone, Debug, Default)]
pub struct FailedEpisodes {
    kept: std::collections::VecDeque<Episode>,
    seen: u64,
}

impl FailedEpisodes {
    pub fn new() -> FailedEpisodes {
        FailedEpisodes::default()
    }

    /// Keeps `e` when it failed (dropping the oldest beyond the limit).
    pub fn add(&mut self, e: &Episode) {
        if e.outcome != Outcome::Failed {
            return;
        }
        self.seen += 1;
        if self.kept.len() == FAILED_KEPT {
            self.kept.pop_front();
        }
        self.kept.push_back(e.clone());
    }

    /// Failed episodes seen, kept or not.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    pub fn episodes(&self) -> impl Iterator<Item = &Episode> {
        self.kept.iter()
    }
}

/// Failed episodes whose evidence the terminal report lists (the latest).
pub const EVIDENCE_SHOWN: usize = 10;

/// How the terminal report is drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextOptions {
    pub color: bool,
    pub lang: Lang,
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
    render(
        &stats,
        out,
        top,
        json,
        &TextOptions {
            color,
            lang: Lang::En,
        },
    )
}

/// The report of a run whose records went into `stats` as they came.
pub fn render(
    stats: &Stats,
    out: &EngineOutput,
    top: usize,
    json: bool,
    opts: &TextOptions,
) -> String {
    let summary = Summary::of_run(stats, out, top);
    if json {
        render_json(&summary)
    } else {
        render_text(stats, &summary, opts)
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
    i18n::num(n)
}

/// `10.0.0.4 +2`: the first of a list and how many more.
fn first_and_more(v: &[String]) -> String {
    match v {
        [] => "-".into(),
        [one] => cut(one, KEY_MAX),
        [first, rest @ ..] => format!("{} +{}", cut(first, KEY_MAX), rest.len()),
    }
}

/// `1 episode`, `2 episodes` (`3 件のエピソード`): a counted noun of the catalogue.
fn count(lang: Lang, n: u64, id: &str) -> String {
    i18n::count(lang, id, n)
}

pub(crate) fn bytes(n: u64) -> String {
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

pub(crate) fn ms(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(m) if m < 10.0 => format!("{m:.1} ms"),
        Some(m) if m < 1000.0 => format!("{m:.0} ms"),
        Some(m) => format!("{:.2} s", m / 1000.0),
    }
}

pub(crate) fn span(first: Ts, last: Ts) -> String {
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

/// Cuts a cell to `max` terminal cells, marking the cut.
fn cut(s: &str, max: usize) -> String {
    i18n::cut(s, max)
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
    let mut w: Vec<usize> = headers.iter().map(|h| i18n::width(h)).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(cols) {
            if let Some(x) = w.get_mut(i) {
                *x = (*x).max(i18n::width(&c.text));
            }
        }
    }
    let pad = |i: usize, s: &str| -> String {
        let width = w.get(i).copied().unwrap_or(0);
        if i == 0 || left.contains(&i) {
            i18n::pad_right(s, width)
        } else {
            i18n::pad_left(s, width)
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

/// The catalogue id of a table's key column header.
pub(crate) fn key_column_id(t: Table) -> &'static str {
    match t {
        Table::Users => "col-user",
        Table::Clients => "col-client",
        Table::Proxies => "col-proxy",
        Table::Targets => "col-target",
    }
}

/// The catalogue id of a top table's title.
pub(crate) fn table_title_id(t: Table) -> &'static str {
    match t {
        Table::Users => "table-users",
        Table::Clients => "table-clients",
        Table::Proxies => "table-proxies",
        Table::Targets => "table-targets",
    }
}

/// A cause's label in a language (`bad_credentials`, `認証情報の誤り (bad_credentials)`).
pub fn cause_label(lang: Lang, c: Cause) -> &'static str {
    i18n::t(lang, &format!("cause-{}", c.as_str()))
}

/// What a cause means, in a language.
pub fn cause_meaning(lang: Lang, c: Cause) -> &'static str {
    i18n::t(lang, &format!("cause-{}-meaning", c.as_str()))
}

/// A cause's remedy, in a language.
pub fn cause_remedy(lang: Lang, c: Cause) -> &'static str {
    i18n::t(lang, &format!("cause-{}-remedy", c.as_str()))
}

/// How to keep a cause from coming back, in a language.
pub fn cause_prevention(lang: Lang, c: Cause) -> &'static str {
    i18n::t(lang, &format!("cause-{}-prevention", c.as_str()))
}

/// A finding's label in a language.
pub fn finding_label(lang: Lang, f: Finding) -> &'static str {
    i18n::t(lang, &format!("finding-{}", f.as_str()))
}

/// What a finding means, in a language.
pub fn finding_meaning(lang: Lang, f: Finding) -> &'static str {
    i18n::t(lang, &format!("finding-{}-meaning", f.as_str()))
}

/// Named users first, then the nameless user, so a cell shows a name where there is one.
pub(crate) fn named_users_first(r: &KeyRow) -> Vec<String> {
    let mut users: Vec<String> = r
        .users
        .iter()
        .filter(|u| u.as_str() != UNKNOWN_USER)
        .cloned()
        .collect();
    if users.len() < r.users.len() {
        users.push(UNKNOWN_USER.to_string());
    }
    users
}

/// A top list's title, saying how many of the table's rows it shows when not all.
pub(crate) fn table_title(lang: Lang, stats: &Stats, t: Table, shown: usize) -> String {
    let total = stats.row_count(t);
    let title = i18n::t(lang, table_title_id(t));
    if total > shown {
        i18n::tf(
            lang,
            "table-shown",
            Args::new()
                .s("title", title)
                .n("shown", shown as u64)
                .n("total", total as u64),
        )
    } else {
        title.to_string()
    }
}

fn top_table(out: &mut String, p: Paint, lang: Lang, stats: &Stats, summary: &Summary, t: Table) {
    let rows: &[KeyRow] = match t {
        Table::Users => &summary.top.users,
        Table::Clients => &summary.top.clients,
        Table::Proxies => &summary.top.proxies,
        Table::Targets => &summary.top.targets,
    };
    if rows.is_empty() {
        return;
    }
    heading(out, p, &table_title(lang, stats, t, rows.len()));
    let col = |id: &str| i18n::t(lang, id);
    let mut headers = vec![
        col(key_column_id(t)),
        col("col-episodes"),
        col("col-auth"),
        col("col-failed"),
        col("col-unresolved"),
        col("col-main-cause"),
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
                c.push(cell(first_and_more(&named_users_first(r))));
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
        Table::Users => headers.extend([
            col("col-max-10min"),
            col("col-auth-p50"),
            col("col-clients"),
        ]),
        Table::Clients => headers.extend([col("col-auth-p50"), col("col-users")]),
        Table::Proxies | Table::Targets => {
            headers.extend([col("col-auth-p50"), col("col-users"), col("col-clients")])
        }
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
    let lang = opts.lang;
    let mut out = String::new();
    title(&mut out, p, lang, summary);
    headline(&mut out, p, lang, stats, summary);
    // The capture may be the problem: say so before anything is blamed on users.
    let loss = loss(lang, stats, summary);
    warnings(&mut out, p, lang, summary, &loss);
    floods(&mut out, p, lang, summary);
    causes(&mut out, p, lang, stats);
    for t in Table::ALL {
        top_table(&mut out, p, lang, stats, summary, t);
    }
    findings(&mut out, p, lang, stats);
    schemes(&mut out, p, lang, stats);
    time_to_auth(&mut out, p, lang, stats, summary);
    capture_health(&mut out, p, lang, summary, loss.is_empty());
    out
}

/// The report of a run with the evidence of its failed episodes (the latest
/// [`EVIDENCE_SHOWN`] of those kept): `render`, and at the end of the terminal report a
/// section naming each one's capture file, frames and display filter.
pub fn render_with_evidence(
    stats: &Stats,
    out: &EngineOutput,
    top: usize,
    json: bool,
    opts: &TextOptions,
    failed: &FailedEpisodes,
) -> String {
    let mut text = render(stats, out, top, json, opts);
    if !json {
        evidence(&mut text, Paint { on: opts.color }, opts.lang, failed);
    }
    text
}

/// A file name as one word of a shell command: quoted when it holds anything but letters,
/// digits and `/._-+:,@`.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:,@".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// `4, 6, 8 (+12 more)`: the frames an episode lists, and how many heads it had beyond them.
pub fn frames_text(lang: Lang, e: &Episode) -> String {
    let mut s = e
        .frames
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let more = u64::from(e.frame_count).saturating_sub(e.frames.len() as u64);
    if more > 0 {
        let _ = write!(
            s,
            " ({})",
            i18n::tf(lang, "finding-and-more", Args::new().n("n", more))
        );
    }
    if s.is_empty() {
        s.push('-');
    }
    s
}

/// Where to see each failed episode's packets: file, frames, display filter, and the command
/// that explains it.
fn evidence(out: &mut String, p: Paint, lang: Lang, failed: &FailedEpisodes) {
    let kept: Vec<&Episode> = failed.episodes().collect();
    if kept.is_empty() {
        return;
    }
    let shown = &kept[kept.len().saturating_sub(EVIDENCE_SHOWN)..];
    heading(
        out,
        p,
        &i18n::tf(
            lang,
            "heading-evidence",
            Args::new()
                .n("shown", shown.len() as u64)
                .n("seen", failed.seen()),
        ),
    );
    let labels = [
        "evidence-file",
        "evidence-frames",
        "evidence-filter",
        "evidence-explain",
    ]
    .map(|id| i18n::t(lang, id));
    let w = labels.iter().map(|l| i18n::width(l)).max().unwrap_or(0);
    for e in shown {
        let _ = writeln!(
            out,
            "  #{}  {}  {} → {}  {}",
            e.episode_id,
            e.user.as_deref().unwrap_or(UNKNOWN_USER),
            e.client_ip,
            crate::stats::proxy_key(e.proxy_ip, e.proxy_port),
            p.red(e.cause.map_or("-", |c| cause_label(lang, c)))
        );
        let file = if e.capture_file.is_empty() {
            "-"
        } else {
            e.capture_file.as_str()
        };
        let explain = format!(
            "proxy407 explain {} --episode {}",
            shell_word(file),
            e.episode_id
        );
        let texts = [
            file.to_string(),
            frames_text(lang, e),
            e.display_filter.clone(),
            explain,
        ];
        for (label, text) in labels.iter().zip(texts) {
            let _ = writeln!(out, "      {} {text}", i18n::pad_right(label, w));
        }
    }
}

/// `, 2026-01-01T00:00:00Z to ... (1m 05s)`, or nothing for a capture without packets.
pub(crate) fn capture_when(lang: Lang, summary: &Summary) -> String {
    let cap = &summary.capture;
    match (cap.first_ts, cap.last_ts) {
        (Some(a), Some(b)) => i18n::tf(
            lang,
            "report-capture-when",
            Args::new()
                .s("first", a.to_string())
                .s("last", b.to_string())
                .s("span", span(a, b)),
        ),
        _ => String::new(),
    }
}

/// The title and what the capture is.
fn title(out: &mut String, p: Paint, lang: Lang, summary: &Summary) {
    let cap = &summary.capture;
    let _ = writeln!(out, "{}", p.bold(i18n::t(lang, "report-title")));
    let _ = writeln!(
        out,
        "{}",
        i18n::tf(
            lang,
            "report-capture",
            Args::new()
                .n("files", cap.files)
                .n("packets", cap.packets)
                .s("when", capture_when(lang, summary))
        )
    );
}

/// The cause with the most failed episodes (the first in rule order on a tie).
pub(crate) fn main_cause(stats: &Stats) -> Option<Cause> {
    Cause::ALL
        .into_iter()
        .filter(|c| stats.failed_by(*c) > 0)
        .max_by(|a, b| stats.failed_by(*a).cmp(&stats.failed_by(*b)).then(b.cmp(a)))
}

/// The headline's verdict sentence (without colour).
pub(crate) fn verdict_sentence(lang: Lang, stats: &Stats, summary: &Summary) -> Option<String> {
    verdict_painted(Paint { on: false }, lang, stats, summary)
}

fn verdict_painted(p: Paint, lang: Lang, stats: &Stats, summary: &Summary) -> Option<String> {
    let ep = summary.episodes;
    if ep.total == 0 {
        return None;
    }
    Some(if ep.failed == 0 {
        p.green(i18n::t(lang, "headline-all-good"))
    } else {
        match main_cause(stats) {
            Some(c) => i18n::tf(
                lang,
                "headline-most",
                Args::new()
                    .s("cause", p.red(cause_label(lang, c)))
                    .n("n", stats.failed_by(c))
                    .n("failed", ep.failed)
                    .s("meaning", cause_meaning(lang, c)),
            ),
            None => i18n::tf(lang, "headline-failed", Args::new().n("n", ep.failed)),
        }
    })
}

/// The headline: challenges, episodes, who is affected, and the main cause.
fn headline(out: &mut String, p: Paint, lang: Lang, stats: &Stats, summary: &Summary) {
    let ep = summary.episodes;
    heading(out, p, i18n::t(lang, "heading-headline"));
    let _ = writeln!(
        out,
        "  {}",
        i18n::tf(
            lang,
            "headline-counts",
            Args::new()
                .s("challenges", num(stats.challenges()))
                .s("episodes", num(ep.total))
                .s("authenticated", p.green(&num(ep.authenticated)))
                .s("failed", p.failed(ep.failed))
                .s("unresolved", num(ep.unresolved))
        )
    );
    let unknown = if stats.unknown_user_failed() {
        i18n::t(lang, "headline-unknown-user")
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "  {}",
        i18n::tf(
            lang,
            "headline-users",
            Args::new()
                .s("affected", p.failed(stats.users_affected()))
                .s("seen", num(stats.users_seen()))
                .s("unknown", unknown)
                .s("clients", num(stats.clients_affected()))
        )
    );
    if let Some(verdict) = verdict_painted(p, lang, stats, summary) {
        let _ = writeln!(out, "  {verdict}");
    }
    if ep.unresolved > 0 {
        let _ = writeln!(out, "  {}", p.dim(i18n::t(lang, "headline-unresolved")));
    }
}

/// What the capture lost, one phrase each (empty for a capture without loss).
pub(crate) fn loss(lang: Lang, stats: &Stats, summary: &Summary) -> Vec<String> {
    let cap = &summary.capture;
    let gap_episodes = stats.finding_episodes(Finding::CaptureGap);
    let dropped = cap.kernel_dropped.unwrap_or(0);
    let mut loss = Vec::new();
    if cap.gap_bytes > 0 {
        loss.push(i18n::tf(
            lang,
            "loss-gap-bytes",
            Args::new().s("bytes", bytes(cap.gap_bytes)),
        ));
    }
    if cap.truncated_packets > 0 {
        loss.push(i18n::tf(
            lang,
            "loss-truncated",
            Args::new().s("packets", count(lang, cap.truncated_packets, "n-packets")),
        ));
    }
    if dropped > 0 {
        loss.push(i18n::tf(
            lang,
            "loss-dropped",
            Args::new().s("packets", count(lang, dropped, "n-packets")),
        ));
    }
    if let Some(q) = cap.queue_dropped.filter(|&q| q > 0) {
        loss.push(i18n::tf(
            lang,
            "loss-queue-dropped",
            Args::new().s("packets", count(lang, q, "n-packets")),
        ));
    }
    if cap.flow_limit_hits > 0 {
        loss.push(i18n::tf(
            lang,
            "loss-flow-limit",
            Args::new().s("hits", count(lang, cap.flow_limit_hits, "n-limit-hits")),
        ));
    }
    if gap_episodes > 0 {
        loss.push(i18n::tf(
            lang,
            "loss-gap-episodes",
            Args::new().s("episodes", count(lang, gap_episodes, "n-episodes")),
        ));
    }
    loss
}

/// A lossy capture, no proxy connection, or no episode: said before any blame.
fn warnings(out: &mut String, p: Paint, lang: Lang, summary: &Summary, loss: &[String]) {
    let cap = &summary.capture;
    let http = &summary.http;
    let sep = if lang == Lang::Ja { "、" } else { ", " };
    if !loss.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{} {}",
            p.yellow(i18n::t(lang, "warn-lossy")),
            i18n::tf(
                lang,
                "warn-lossy-list",
                Args::new().s("list", loss.join(sep))
            )
        );
        let _ = writeln!(out, "  {}", i18n::t(lang, "warn-lossy-advice"));
    }
    if cap.proxy_connections == 0 {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{} {}",
            p.yellow(i18n::t(lang, "warn-no-proxy")),
            i18n::tf(
                lang,
                "warn-no-proxy-rest",
                Args::new().n("n", cap.tcp_connections)
            )
        );
        if cap.tcp_connections == 0 && cap.decode_errors > 0 && cap.truncated_packets > 0 {
            let _ = writeln!(
                out,
                "  {}",
                i18n::tf(
                    lang,
                    "warn-snaplen-headers",
                    Args::new().n("n", cap.truncated_packets)
                )
            );
        } else if cap.proxy_port_packets_cut > 0 {
            let _ = writeln!(
                out,
                "  {}",
                i18n::tf(
                    lang,
                    "warn-snaplen",
                    Args::new().n("n", cap.proxy_port_packets_cut)
                )
            );
        } else if summary.floods.is_empty() {
            let _ = writeln!(out, "  {}", i18n::t(lang, "warn-proxy-port"));
        } else {
            let _ = writeln!(out, "  {}", i18n::t(lang, "warn-flood-only"));
        }
        if cap.tls_proxy_connections > 0 {
            let _ = writeln!(
                out,
                "  {}",
                i18n::tf(
                    lang,
                    "warn-tls",
                    Args::new().n("n", cap.tls_proxy_connections)
                )
            );
        }
    } else if summary.episodes.total == 0 {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{}",
            i18n::tf(
                lang,
                "warn-no-episode",
                Args::new()
                    .n("requests", http.requests)
                    .n("connections", cap.proxy_connections)
            )
        );
    }
}

/// One flood or scan, as a sentence (`name` painted by the caller).
pub(crate) fn flood_line(lang: Lang, name: &str, f: &crate::model::Flood) -> String {
    let each = if f.attempts == f.sources && !f.sources_capped {
        i18n::t(lang, "flood-one-syn").to_string()
    } else {
        i18n::tf(lang, "flood-attempts", Args::new().n("n", f.attempts))
    };
    i18n::tf(
        lang,
        "flood-line",
        Args::new()
            .s("name", name)
            .s("proxy", crate::stats::proxy_key(f.proxy_ip, f.proxy_port))
            .s(
                "more",
                if f.sources_capped {
                    i18n::t(lang, "flood-more-than")
                } else {
                    ""
                },
            )
            .n("sources", f.sources)
            .s("each", each)
            .s("first", f.first_ts.to_string())
            .s("last", f.last_ts.to_string()),
    )
}

/// Connection floods and scans: attempts kept out of the clients (`docs/verdicts.md` §3.11).
fn floods(out: &mut String, p: Paint, lang: Lang, summary: &Summary) {
    if summary.floods.is_empty() {
        return;
    }
    heading(out, p, i18n::t(lang, "heading-floods"));
    for f in &summary.floods {
        let name = p.red(i18n::t(lang, "flood-name"));
        let _ = writeln!(out, "  {}", flood_line(lang, &name, f));
    }
}

/// The failed causes, most episodes first.
pub(crate) fn sorted_causes(stats: &Stats) -> Vec<crate::stats::CauseRow> {
    let mut causes: Vec<_> = stats
        .causes()
        .into_iter()
        .filter(|c| c.episodes > 0)
        .collect();
    causes.sort_by(|a, b| b.episodes.cmp(&a.episodes).then(a.cause.cmp(&b.cause)));
    causes
}

/// Failures by cause, with what to do and how to keep it from coming back.
fn causes(out: &mut String, p: Paint, lang: Lang, stats: &Stats) {
    let causes = sorted_causes(stats);
    if causes.is_empty() {
        return;
    }
    heading(out, p, i18n::t(lang, "heading-causes"));
    let labels = ["label-what", "label-remedy", "label-prevention"].map(|id| i18n::t(lang, id));
    let w = labels.iter().map(|l| i18n::width(l)).max().unwrap_or(0);
    for c in causes {
        let _ = writeln!(
            out,
            "  {}",
            i18n::tf(
                lang,
                "cause-line",
                Args::new()
                    .s("cause", p.red(cause_label(lang, c.cause)))
                    .s("episodes", count(lang, c.episodes, "n-episodes"))
                    .s("users", count(lang, c.users, "n-users"))
                    .s("clients", count(lang, c.clients, "n-clients"))
            )
        );
        let texts = [
            cause_meaning(lang, c.cause),
            cause_remedy(lang, c.cause),
            cause_prevention(lang, c.cause),
        ];
        for (label, text) in labels.iter().zip(texts) {
            let _ = writeln!(out, "      {} {text}", i18n::pad_right(label, w));
        }
        for line in detail_remedies(lang, stats, c.cause) {
            let _ = writeln!(out, "      {} {line}", i18n::pad_right(labels[1], w));
        }
    }
}

/// The remedies some episodes of a cause call for beyond the cause's own, from the words of
/// their `detail` that the catalogue has a remedy for (`detail-<word>-remedy`).
pub(crate) fn detail_remedies(lang: Lang, stats: &Stats, cause: Cause) -> Vec<String> {
    stats
        .cause_details(cause)
        .into_iter()
        .filter_map(|(word, n)| {
            let id = format!("detail-{word}-remedy");
            let names = stats.cause_spns(cause).join(", ");
            i18n::has(lang, &id)
                .then(|| i18n::tf(lang, &id, Args::new().n("n", n).s("names", names.clone())))
        })
        .collect()
}

/// The count phrase of a finding: users for `lockout_risk` (named, at most 10), episodes
/// for `capture_gap`, requests in episodes for the others.
pub(crate) fn finding_what(lang: Lang, stats: &Stats, f: Finding) -> String {
    let n = stats.finding_count(f);
    let sep = if lang == Lang::Ja { "、" } else { ", " };
    match f {
        Finding::LockoutRisk => {
            let users = stats.lockout_users();
            let mut names: Vec<String> = users.iter().take(10).cloned().collect();
            if users.len() > names.len() {
                names.push(i18n::tf(
                    lang,
                    "finding-and-more",
                    Args::new().n("n", (users.len() - names.len()) as u64),
                ));
            }
            i18n::tf(
                lang,
                "finding-users",
                Args::new()
                    .s("users", count(lang, n, "n-users"))
                    .s("names", names.join(sep)),
            )
        }
        Finding::CaptureGap => count(lang, n, "n-episodes"),
        _ => i18n::tf(
            lang,
            "finding-requests",
            Args::new().s("requests", count(lang, n, "n-requests")).s(
                "episodes",
                count(lang, stats.finding_episodes(f), "n-episodes"),
            ),
        ),
    }
}

/// Every finding seen, with what it means.
fn findings(out: &mut String, p: Paint, lang: Lang, stats: &Stats) {
    heading(out, p, i18n::t(lang, "heading-findings"));
    let mut any = false;
    for f in Finding::ALL {
        if stats.finding_count(f) == 0 {
            continue;
        }
        any = true;
        let what = finding_what(lang, stats, f);
        let name = match f {
            Finding::StaleNonce => finding_label(lang, f).to_string(),
            _ => p.yellow(finding_label(lang, f)),
        };
        let _ = writeln!(out, "  {name}  {what}");
        let _ = writeln!(out, "      {}", finding_meaning(lang, f));
    }
    if !any {
        let _ = writeln!(out, "  {}", i18n::t(lang, "none"));
    }
}

/// Schemes offered and used, counted in episodes.
fn schemes(out: &mut String, p: Paint, lang: Lang, stats: &Stats) {
    heading(out, p, i18n::t(lang, "heading-schemes"));
    let offered = list_counts(stats.schemes_offered());
    let used = list_counts(stats.schemes_used());
    let labels = [
        i18n::t(lang, "schemes-offered"),
        i18n::t(lang, "schemes-used"),
    ];
    let w = labels.iter().map(|l| i18n::width(l)).max().unwrap_or(0);
    for (label, list) in labels.iter().zip([offered, used]) {
        let _ = writeln!(
            out,
            "  {} {}",
            i18n::pad_right(label, w),
            if list.is_empty() { "-" } else { &list }
        );
    }
}

/// Time from the first challenge to success, over the authenticated episodes.
fn time_to_auth(out: &mut String, p: Paint, lang: Lang, stats: &Stats, summary: &Summary) {
    heading(out, p, i18n::t(lang, "heading-time-to-auth"));
    let tta = summary.time_to_auth_ms;
    if tta.max.is_some() {
        let _ = writeln!(
            out,
            "  {}",
            i18n::tf(
                lang,
                "tta-line",
                Args::new()
                    .s("p50", ms(tta.p50))
                    .s("p95", ms(tta.p95))
                    .s("max", ms(tta.max))
                    .n("n", stats.time_to_auth_samples())
            )
        );
    } else {
        let _ = writeln!(out, "  {}", i18n::t(lang, "tta-none"));
    }
}

/// The capture-health lines (without the anomalies and notices), as the report and the
/// HTML report show them.
pub(crate) fn health_lines(lang: Lang, summary: &Summary) -> Vec<String> {
    let cap = &summary.capture;
    let http = &summary.http;
    let mut lines = Vec::new();
    let links: Vec<String> = cap
        .link_types
        .iter()
        .map(|(k, v)| format!("{k} {}", num(*v)))
        .collect();
    lines.push(i18n::tf(
        lang,
        "health-packets",
        Args::new()
            .n("packets", cap.packets)
            .s("bytes", bytes(cap.bytes))
            .s(
                "links",
                if links.is_empty() {
                    String::new()
                } else {
                    i18n::tf(
                        lang,
                        "health-link-types",
                        Args::new().s("list", links.join(", ")),
                    )
                },
            ),
    ));
    lines.push(i18n::tf(
        lang,
        "health-connections",
        Args::new()
            .n("tcp", cap.tcp_connections)
            .n("proxy", cap.proxy_connections)
            .n("tls", cap.tls_proxy_connections)
            .n("failed", cap.failed_connection_attempts),
    ));
    lines.push(i18n::tf(
        lang,
        "health-http",
        Args::new()
            .n("requests", http.requests)
            .n("responses", http.responses)
            .n("r407", http.responses_407)
            .n("connect", http.connect_requests)
            .n("credentialed", http.credentialed_requests)
            .n("unanswered", http.unanswered_requests),
    ));
    let mut health = vec![
        i18n::tf(
            lang,
            "health-truncated",
            Args::new().n("n", cap.truncated_packets),
        ),
        i18n::tf(lang, "health-gap-bytes", Args::new().n("n", cap.gap_bytes)),
        i18n::tf(
            lang,
            "health-decode-errors",
            Args::new().n("n", cap.decode_errors),
        ),
        i18n::tf(
            lang,
            "health-http-anomalies",
            Args::new().n("n", cap.http_anomalies),
        ),
    ];
    if cap.ip_fragments > 0 {
        health.push(i18n::tf(
            lang,
            "health-ip-fragments",
            Args::new().n("n", cap.ip_fragments),
        ));
    }
    if cap.flow_limit_hits > 0 {
        health.push(i18n::tf(
            lang,
            "health-flow-limit",
            Args::new().n("n", cap.flow_limit_hits),
        ));
    }
    if let Some(d) = cap.kernel_dropped {
        health.push(i18n::tf(
            lang,
            "health-kernel-dropped",
            Args::new().n("n", d),
        ));
    }
    if let Some(d) = cap.queue_dropped {
        health.push(i18n::tf(
            lang,
            "health-queue-dropped",
            Args::new().n("n", d),
        ));
    }
    lines.push(health.join("   "));
    lines.extend(health_extra_lines(lang, summary));
    lines
}

/// The capture-health lines beyond the counters: the shard, the encapsulations and mirror
/// sources, TLS to a proxy.
pub(crate) fn health_extra_lines(lang: Lang, summary: &Summary) -> Vec<String> {
    let cap = &summary.capture;
    let mut lines = Vec::new();
    if let Some(sh) = &cap.shard {
        lines.push(i18n::tf(
            lang,
            "health-shard",
            Args::new()
                .s("shard", sh.shard.clone())
                .n("n", sh.other_packets),
        ));
    }
    if !cap.encapsulations.is_empty() {
        let encaps: Vec<String> = cap
            .encapsulations
            .iter()
            .map(|(k, v)| format!("{k} {}", num(*v)))
            .collect();
        lines.push(i18n::tf(
            lang,
            "health-encapsulations",
            Args::new().s("list", encaps.join(", ")),
        ));
        for m in &cap.mirror_sources {
            let id = match (m.encapsulation.as_str(), m.id) {
                ("vxlan" | "geneve", Some(v)) => format!(" VNI {v}"),
                ("gre", Some(k)) => format!(" key {k}"),
                (_, Some(s)) => format!(" session {s}"),
                (_, None) => String::new(),
            };
            lines.push(format!(
                "  {}{id} {} → {}: {}",
                m.encapsulation,
                m.outer_src,
                m.outer_dst,
                i18n::tf(lang, "health-mirror-packets", Args::new().n("n", m.packets))
            ));
        }
    }
    if cap.tls_proxy_connections > 0 && cap.proxy_connections > 0 {
        lines.push(i18n::tf(
            lang,
            "health-tls-hidden",
            Args::new().n("n", cap.tls_proxy_connections),
        ));
    }
    lines
}

/// Capture health: the counters of the capture and of HTTP, the anomalies met, notices.
/// `lossless`: nothing was lost (see [`loss`]).
fn capture_health(out: &mut String, p: Paint, lang: Lang, summary: &Summary, lossless: bool) {
    heading(out, p, i18n::t(lang, "heading-health"));
    for line in health_lines(lang, summary) {
        let _ = writeln!(out, "  {line}");
    }
    if lossless {
        let _ = writeln!(out, "  {}", p.green(i18n::t(lang, "health-no-loss")));
    }
    anomalies(out, p, lang, &summary.anomalies);
    if !summary.notices.is_empty() {
        let _ = writeln!(out, "  {}", i18n::t(lang, "health-notices"));
        for n in &summary.notices {
            let _ = writeln!(out, "    - {n}");
        }
    }
}

/// The anomalies counted at least once, most frequent first (stable: a tie keeps the order
/// of the layers).
pub(crate) fn anomalies_seen(a: &Anomalies) -> Vec<(Anomaly, u64)> {
    let mut seen: Vec<(Anomaly, u64)> = a.non_zero().collect();
    seen.sort_by_key(|x| std::cmp::Reverse(x.1));
    seen
}

/// The anomalies counted at least once, most frequent first, each with what it means.
fn anomalies(out: &mut String, p: Paint, lang: Lang, a: &Anomalies) {
    let seen = anomalies_seen(a);
    if seen.is_empty() {
        return;
    }
    let name_w = seen.iter().map(|(x, _)| x.name().len()).max().unwrap_or(0);
    let count_w = seen.iter().map(|(_, n)| num(*n).len()).max().unwrap_or(0);
    let _ = writeln!(out, "  {}", i18n::t(lang, "health-anomalies"));
    for (x, n) in seen {
        let name = format!("{:<name_w$}", x.name());
        let _ = writeln!(
            out,
            "    {}  {:>count_w$}  {}",
            p.yellow(&name),
            num(n),
            i18n::anomaly_explanation(lang, x)
        );
    }
}

// ---- the ladder of one episode (`proxy407 explain`, the dashboard's Enter) -------------

/// Which way a head went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client to proxy: a request.
    Request,
    /// Proxy to client: a response (or its lack).
    Response,
}

/// One head of an episode, as the ladder shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct LadderStep {
    pub ts: Ts,
    pub conn_id: u64,
    pub client_port: u16,
    pub direction: Direction,
    /// The request line (`GET http://... `) or the status (`407`), or none for a request
    /// that got no response.
    pub line: String,
    /// The scheme and handshake step (`NTLM type 1`), or the schemes a challenge offered.
    pub step: String,
    /// The identity the request revealed (`DOMAIN\user @ workstation`).
    pub identity: String,
}

/// An episode as a ladder of its heads, with its verdict, the rule that decided it and the
/// remedy: the one model `explain` prints and the dashboard shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Ladder {
    pub episode: Episode,
    pub steps: Vec<LadderStep>,
}

/// Most heads a ladder lists (the first); the episode's `frame_count` says how many it had.
pub const MAX_LADDER_STEPS: usize = 64;

impl Ladder {
    /// The ladder of `episode` from its transactions (any others in `txs` are left out).
    pub fn new(lang: Lang, episode: Episode, txs: &[Transaction]) -> Ladder {
        let mut mine: Vec<&Transaction> = txs
            .iter()
            .filter(|t| t.episode_id == Some(episode.episode_id))
            .collect();
        mine.sort_by_key(|t| (t.ts, t.conn_id));
        let mut steps = Vec::new();
        for t in mine {
            let identity = match (&t.user, &t.domain) {
                (Some(u), Some(d)) if !u.contains('\\') => format!("{d}\\{u}"),
                (Some(u), _) => u.clone(),
                (None, _) => String::new(),
            };
            let identity = match &t.workstation {
                Some(w) if !identity.is_empty() => format!("{identity} @ {w}"),
                _ => identity,
            };
            steps.push(LadderStep {
                ts: t.ts,
                conn_id: t.conn_id,
                client_port: t.client_port,
                direction: Direction::Request,
                line: format!("{} {}", t.method, t.target),
                step: request_step(lang, t),
                identity,
            });
            steps.push(LadderStep {
                ts: t.response_ts.unwrap_or(t.ts),
                conn_id: t.conn_id,
                client_port: t.client_port,
                direction: Direction::Response,
                line: t.status.map_or_else(
                    || i18n::t(lang, "ladder-no-response").to_string(),
                    |s| s.to_string(),
                ),
                step: response_step(lang, t),
                identity: String::new(),
            });
        }
        steps.truncate(MAX_LADDER_STEPS);
        Ladder { episode, steps }
    }

    /// The section of `docs/verdicts.md` whose rule decided the verdict, with its title.
    pub fn rule(&self, lang: Lang) -> String {
        let e = &self.episode;
        let (section, title) = match (e.outcome, e.cause) {
            (Outcome::Failed, Some(c)) => {
                let n = Cause::ALL.iter().position(|x| *x == c).unwrap_or(0) + 4;
                (format!("§4.{n}"), format!("`{}`", c.as_str()))
            }
            (Outcome::Unresolved, _) => ("§4.2".into(), i18n::t(lang, "rule-unresolved").into()),
            _ => ("§4.1".into(), i18n::t(lang, "rule-authenticated").into()),
        };
        format!("docs/verdicts.md {section} {title}")
    }

    /// The remedies: the cause's, and those its `detail` calls for.
    pub fn remedies(&self, lang: Lang) -> Vec<String> {
        let Some(c) = self.episode.cause else {
            return Vec::new();
        };
        let mut v = vec![cause_remedy(lang, c).to_string()];
        for word in self
            .episode
            .detail
            .iter()
            .flat_map(|d| d.split([',', ' ']))
            .map(|w| w.split('=').next().unwrap_or(w))
        {
            let id = format!("detail-{word}-remedy");
            if i18n::has(lang, &id) {
                v.push(i18n::tf(lang, &id, Args::new().n("n", 1)));
            }
        }
        v
    }

    /// The ladder as lines of text (no colour): the episode, its heads, then the verdict,
    /// the rule, the remedies and the evidence.
    pub fn lines(&self, lang: Lang) -> Vec<String> {
        let e = &self.episode;
        let mut out = Vec::new();
        out.push(i18n::tf(
            lang,
            "ladder-title",
            Args::new()
                .n("id", e.episode_id)
                .s(
                    "user",
                    e.user.clone().unwrap_or_else(|| UNKNOWN_USER.into()),
                )
                .s("client", e.client_ip.to_string())
                .s("proxy", crate::stats::proxy_key(e.proxy_ip, e.proxy_port))
                .s("target", if e.target.is_empty() { "-" } else { &e.target }),
        ));
        out.push(format!("  {} → {}", e.start_ts, e.end_ts));
        let rows: Vec<[String; 5]> = self
            .steps
            .iter()
            .map(|s| {
                let t = s.ts.rfc3339();
                let time = t.get(11..26).unwrap_or(&t).to_string();
                let conn = format!("#{} :{}", s.conn_id, s.client_port);
                let arrow = match s.direction {
                    Direction::Request => "→",
                    Direction::Response => "  ←",
                };
                [
                    time,
                    conn,
                    format!("{arrow} {}", s.line),
                    s.step.clone(),
                    s.identity.clone(),
                ]
            })
            .collect();
        let mut w = [0usize; 5];
        for r in &rows {
            for (i, c) in r.iter().enumerate() {
                w[i] = w[i].max(i18n::width(c).min(if i == 2 { 60 } else { 40 }));
            }
        }
        for r in &rows {
            let mut line = String::from("  ");
            for (i, c) in r.iter().enumerate() {
                let c = if i == 2 { cut(c, 60) } else { c.clone() };
                line.push_str(&i18n::pad_right(&c, w[i]));
                line.push_str("  ");
            }
            out.push(line.trim_end().to_string());
        }
        if self.steps.is_empty() {
            out.push(format!("  {}", i18n::t(lang, "ladder-no-heads")));
        }
        let verdict = match e.cause {
            Some(c) => format!("{} — {}", e.outcome.as_str(), cause_label(lang, c)),
            None => e.outcome.as_str().to_string(),
        };
        let verdict = match &e.detail {
            Some(d) => format!("{verdict} ({d})"),
            None => verdict,
        };
        let labels = [
            "ladder-verdict",
            "ladder-rule",
            "label-remedy",
            "evidence-file",
            "evidence-frames",
            "evidence-filter",
        ]
        .map(|id| i18n::t(lang, id));
        let lw = labels.iter().map(|l| i18n::width(l)).max().unwrap_or(0);
        let label = |i: usize| i18n::pad_right(labels[i], lw);
        out.push(String::new());
        out.push(format!("{} {verdict}", label(0)));
        if let Some(c) = e.cause {
            out.push(format!(
                "{} {}",
                i18n::pad_right("", lw),
                cause_meaning(lang, c)
            ));
        }
        out.push(format!("{} {}", label(1), self.rule(lang)));
        for r in self.remedies(lang) {
            out.push(format!("{} {r}", label(2)));
        }
        if !e.findings.is_empty() {
            let f: Vec<&str> = e.findings.iter().map(|f| f.as_str()).collect();
            out.push(format!(
                "{} {}",
                i18n::pad_right(i18n::t(lang, "heading-findings"), lw),
                f.join(", ")
            ));
        }
        if !e.capture_file.is_empty() {
            out.push(format!("{} {}", label(3), e.capture_file));
        }
        out.push(format!("{} {}", label(4), frames_text(lang, e)));
        out.push(format!("{} {}", label(5), e.display_filter));
        out
    }
}

/// The scheme and step of a request's credentials, in words.
fn request_step(lang: Lang, t: &Transaction) -> String {
    match (t.auth_scheme.as_deref(), t.auth_step.as_deref()) {
        (Some(scheme), Some(step)) => {
            let id = format!("step-{step}");
            if i18n::has(lang, &id) {
                i18n::tf(lang, &id, Args::new().s("scheme", scheme))
            } else {
                format!("{scheme} {step}")
            }
        }
        (Some(scheme), None) => scheme.to_string(),
        _ => i18n::t(lang, "step-none").to_string(),
    }
}

/// What a response says in the handshake: a challenge's schemes (an NTLM type 2 after a
/// type 1), or nothing.
fn response_step(lang: Lang, t: &Transaction) -> String {
    let offered = t.offered_schemes.join(", ");
    match t.status {
        Some(407) if t.auth_step.as_deref() == Some("ntlm_type1") => i18n::tf(
            lang,
            "step-ntlm_type2",
            Args::new().s("scheme", t.auth_scheme.clone().unwrap_or_default()),
        ),
        Some(407 | 401) if !offered.is_empty() => {
            i18n::tf(lang, "step-challenge", Args::new().s("schemes", offered))
        }
        _ => String::new(),
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
        assert_eq!(count(Lang::En, 1, "n-users"), "1 user");
        assert_eq!(count(Lang::En, 1200, "n-users"), "1,200 users");
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

    #[test]
    fn file_names_are_quoted_for_the_shell() {
        assert_eq!(shell_word("samples/a-b_1.pcap"), "samples/a-b_1.pcap");
        assert_eq!(shell_word("my capture.pcap"), "'my capture.pcap'");
        assert_eq!(shell_word("it's.pcap"), "'it'\\''s.pcap'");
        assert_eq!(shell_word("$(x).pcap"), "'$(x).pcap'");
    }
}
