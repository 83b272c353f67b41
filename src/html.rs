//! The one-file HTML report (`analyze --html REPORT.html`, and `e` on the dashboard): what
//! the terminal report says, to attach to a ticket. One self-contained file: the styles, the
//! little sorting script and the charts (inline SVG drawn here) are inside it, and it names
//! no external resource (no URL at all), so it opens the same offline, in a mail client or
//! from a ticket. Light and dark follow the reader's setting, print styles drop the
//! interactive bits, the font stack has Japanese fonts.
//!
//! Rendering only, like [`crate::report`]: every number comes from [`Stats`] and
//! [`Summary`], and each one that the JSON summary (`analyze --json`) also has carries its
//! JSON Pointer and exact value (`data-json`, `data-value`), which the tests compare with the
//! JSON. The words come from the language's catalogue ([`crate::i18n`]); cause and finding
//! codes stay as they are beside their translated names. The page is laid out by the
//! minijinja template `templates/report.html`.
//!
//! Sections: headline, failures by cause (meaning, remedy, prevention), charts (failures by
//! cause, challenges and failures per minute — in buckets of several minutes beyond
//! 240 minutes —, time to authenticate by percentile), the top
//! users, clients, proxies and targets (sortable, with a findings column), findings, the
//! failed episodes with their evidence (the episode's fields and a Wireshark display
//! filter for its packets; at most [`FAILED_KEPT`], the latest), capture health.

use crate::i18n::{self, Args, Lang};
use crate::model::{Cause, EngineOutput, Episode, Finding, Ts};
use crate::report;
use crate::stats::{KeyRow, Stats, Summary, Table};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;

const TEMPLATE: &str = include_str!("../templates/report.html");

pub use crate::report::{FailedEpisodes, FAILED_KEPT};

/// Writes the report of a run to `path`.
pub fn write(
    path: &Path,
    stats: &Stats,
    out: &EngineOutput,
    top: usize,
    lang: Lang,
    failed: &FailedEpisodes,
) -> anyhow::Result<()> {
    let summary = Summary::of_run(stats, out, top);
    let html = render(stats, &summary, lang, failed)?;
    std::fs::write(path, html).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

/// A number shown in the page: its text, and where the JSON summary has it.
#[derive(Serialize)]
struct Num {
    text: String,
    /// The exact value, for sorting and for the tests.
    value: String,
    json: Option<String>,
}

fn count_at(n: u64, json: Option<String>) -> Num {
    Num {
        text: i18n::num(n),
        value: n.to_string(),
        json,
    }
}

fn ms_at(v: Option<f64>, json: Option<String>) -> Num {
    Num {
        text: report::ms(v),
        value: v.map_or_else(String::new, |v| v.to_string()),
        // A missing value is `null` in the JSON: nothing to compare.
        json: v.and(json),
    }
}

#[derive(Serialize)]
struct Tile {
    label: &'static str,
    num: Num,
    class: &'static str,
}

#[derive(Serialize)]
struct CauseView {
    code: &'static str,
    label: &'static str,
    episodes: Num,
    users: String,
    clients: String,
    meaning: &'static str,
    remedy: &'static str,
    /// Remedies some of the cause's episodes call for (from their `detail`).
    more_remedies: Vec<String>,
    prevention: &'static str,
}

#[derive(Serialize)]
struct CellView {
    text: String,
    sort: String,
    num: bool,
    json: Option<String>,
    /// The JSON array whose length the cell shows.
    json_count: Option<String>,
    class: &'static str,
}

#[derive(Serialize)]
struct HeadView {
    label: &'static str,
    num: bool,
}

#[derive(Serialize)]
struct TableView {
    id: &'static str,
    title: String,
    headers: Vec<HeadView>,
    rows: Vec<Vec<CellView>>,
}

#[derive(Serialize)]
struct FindingView {
    code: &'static str,
    label: &'static str,
    what: String,
    meaning: &'static str,
    num: Num,
}

#[derive(Serialize)]
struct FieldView {
    label: &'static str,
    value: String,
}

#[derive(Serialize)]
struct EpisodeView {
    start: String,
    user: String,
    client: String,
    proxy: String,
    target: String,
    cause: &'static str,
    code: &'static str,
    fields: Vec<FieldView>,
    filter: String,
}

#[derive(Serialize)]
struct AnomalyView {
    name: &'static str,
    num: Num,
    explanation: &'static str,
}

#[derive(Serialize)]
struct Chart {
    title: String,
    svg: String,
}

/// Everything the template reads.
#[derive(Serialize)]
struct Page {
    lang: &'static str,
    w: std::collections::BTreeMap<&'static str, &'static str>,
    capture_line: String,
    verdict: Option<String>,
    unresolved_note: Option<&'static str>,
    loss: Option<String>,
    loss_advice: &'static str,
    tiles: Vec<Tile>,
    causes: Vec<CauseView>,
    charts: Vec<Chart>,
    tables: Vec<TableView>,
    findings: Vec<FindingView>,
    failed: Vec<EpisodeView>,
    failed_note: Option<String>,
    schemes_offered: String,
    schemes_used: String,
    tta: Option<Vec<(String, Num)>>,
    health_counts: Vec<(&'static str, Num)>,
    health: Vec<String>,
    anomalies: Vec<AnomalyView>,
    notices: Vec<String>,
    floods: Vec<String>,
    lossless: bool,
}

/// The words of the page that are not data.
fn words(lang: Lang) -> std::collections::BTreeMap<&'static str, &'static str> {
    [
        "report-title",
        "heading-headline",
        "heading-causes",
        "heading-findings",
        "heading-schemes",
        "heading-time-to-auth",
        "heading-health",
        "heading-floods",
        "html-heading-charts",
        "html-heading-failed",
        "html-heading-tables",
        "html-sort-hint",
        "html-failed-none",
        "html-failed-kept",
        "html-filter",
        "html-generated",
        "html-no-failure",
        "label-what",
        "label-remedy",
        "label-prevention",
        "schemes-offered",
        "schemes-used",
        "health-anomalies",
        "health-notices",
        "health-no-loss",
        "tta-none",
        "warn-lossy",
        "none",
    ]
    .into_iter()
    .map(|id| (id, i18n::t(lang, id)))
    .collect()
}

/// The whole page.
pub fn render(
    stats: &Stats,
    summary: &Summary,
    lang: Lang,
    failed: &FailedEpisodes,
) -> anyhow::Result<String> {
    let ep = summary.episodes;
    let t = |id: &str| i18n::t(lang, id);
    let tiles = vec![
        Tile {
            label: t("html-tile-challenges"),
            num: count_at(stats.challenges(), None),
            class: "",
        },
        Tile {
            label: t("html-tile-episodes"),
            num: count_at(ep.total, Some("/episodes/total".into())),
            class: "",
        },
        Tile {
            label: t("html-tile-authenticated"),
            num: count_at(ep.authenticated, Some("/episodes/authenticated".into())),
            class: "good",
        },
        Tile {
            label: t("html-tile-failed"),
            num: count_at(ep.failed, Some("/episodes/failed".into())),
            class: if ep.failed > 0 { "bad" } else { "" },
        },
        Tile {
            label: t("html-tile-unresolved"),
            num: count_at(ep.unresolved, Some("/episodes/unresolved".into())),
            class: "",
        },
        Tile {
            label: t("html-tile-users-affected"),
            num: count_at(stats.users_affected(), None),
            class: if stats.users_affected() > 0 {
                "bad"
            } else {
                ""
            },
        },
        Tile {
            label: t("html-tile-median"),
            num: ms_at(
                summary.time_to_auth_ms.p50,
                Some("/time_to_auth_ms/p50".into()),
            ),
            class: "",
        },
    ];
    let causes: Vec<CauseView> = report::sorted_causes(stats)
        .into_iter()
        .map(|c| CauseView {
            code: c.cause.as_str(),
            label: report::cause_label(lang, c.cause),
            episodes: Num {
                text: i18n::count(lang, "n-episodes", c.episodes),
                value: c.episodes.to_string(),
                json: Some(format!("/causes/{}", c.cause.as_str())),
            },
            users: i18n::count(lang, "n-users", c.users),
            clients: i18n::count(lang, "n-clients", c.clients),
            meaning: report::cause_meaning(lang, c.cause),
            remedy: report::cause_remedy(lang, c.cause),
            more_remedies: report::detail_remedies(lang, stats, c.cause),
            prevention: report::cause_prevention(lang, c.cause),
        })
        .collect();
    let charts = vec![
        Chart {
            title: t("html-chart-causes").to_string(),
            svg: causes_chart(lang, stats),
        },
        Chart {
            title: timeline_title(lang, stats),
            svg: timeline_chart(lang, stats),
        },
        Chart {
            title: t("html-chart-tta").to_string(),
            svg: tta_chart(lang, stats, summary),
        },
    ];
    let tables: Vec<TableView> = Table::ALL
        .into_iter()
        .filter_map(|tb| table_view(lang, stats, summary, tb))
        .collect();
    let findings: Vec<FindingView> = Finding::ALL
        .into_iter()
        .filter(|f| stats.finding_count(*f) > 0)
        .map(|f| FindingView {
            code: f.as_str(),
            label: report::finding_label(lang, f),
            what: report::finding_what(lang, stats, f),
            meaning: report::finding_meaning(lang, f),
            num: count_at(
                stats.finding_count(f),
                Some(format!("/findings/{}", f.as_str())),
            ),
        })
        .collect();
    let mut failed_views: Vec<EpisodeView> =
        failed.episodes().map(|e| episode_view(lang, e)).collect();
    failed_views.reverse();
    let failed_note = (failed.seen() > failed_views.len() as u64).then(|| {
        i18n::tf(
            lang,
            "html-failed-kept",
            Args::new()
                .n("kept", failed_views.len() as u64)
                .n("seen", failed.seen()),
        )
    });
    let anomalies: Vec<AnomalyView> = report::anomalies_seen(&summary.anomalies)
        .into_iter()
        .map(|(a, n)| AnomalyView {
            name: a.name(),
            num: count_at(n, Some(format!("/anomalies/{}", a.name()))),
            explanation: i18n::anomaly_explanation(lang, a),
        })
        .collect();
    let floods: Vec<String> = summary
        .floods
        .iter()
        .map(|f| report::flood_line(lang, i18n::t(lang, "flood-name"), f))
        .collect();
    let list = |m: &std::collections::BTreeMap<String, u64>| -> String {
        let mut v: Vec<(&String, &u64)> = m.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let s: Vec<String> = v
            .iter()
            .map(|(k, n)| format!("{k} {}", i18n::num(**n)))
            .collect();
        if s.is_empty() {
            "-".into()
        } else {
            s.join(", ")
        }
    };
    let loss = report::loss(lang, stats, summary);
    let sep = if lang == Lang::Ja { "、" } else { ", " };
    let capture_line = i18n::tf(
        lang,
        "report-capture",
        Args::new()
            .n("files", summary.capture.files)
            .n("packets", summary.capture.packets)
            .s("when", report::capture_when(lang, summary)),
    );
    let page = Page {
        lang: lang.code(),
        w: words(lang),
        capture_line,
        verdict: report::verdict_sentence(lang, stats, summary),
        unresolved_note: (ep.unresolved > 0).then(|| t("headline-unresolved")),
        loss: (!loss.is_empty()).then(|| loss.join(sep)),
        loss_advice: t("warn-lossy-advice"),
        tiles,
        causes,
        charts,
        tables,
        findings,
        failed: failed_views,
        failed_note,
        schemes_offered: list(stats.schemes_offered()),
        schemes_used: list(stats.schemes_used()),
        tta: ms_tta(lang, stats, summary),
        health_counts: health_counts(lang, summary),
        health: report::health_extra_lines(lang, summary),
        anomalies,
        notices: summary.notices.clone(),
        floods,
        lossless: loss.is_empty(),
    };
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_template("report.html", TEMPLATE)?;
    let tmpl = env.get_template("report.html")?;
    Ok(tmpl.render(minijinja::Value::from(minijinja::value::Serde(&page)))?)
}

/// The capture's and HTTP's counters, each marked with its place in the JSON summary.
fn health_counts(lang: Lang, summary: &Summary) -> Vec<(&'static str, Num)> {
    let c = &summary.capture;
    let h = &summary.http;
    let mut v: Vec<(&str, &str, u64)> = vec![
        ("html-h-files", "/capture/files", c.files),
        ("html-h-packets", "/capture/packets", c.packets),
        ("html-h-bytes", "/capture/bytes", c.bytes),
        ("html-h-tcp", "/capture/tcp_connections", c.tcp_connections),
        (
            "html-h-proxy",
            "/capture/proxy_connections",
            c.proxy_connections,
        ),
        (
            "html-h-tls",
            "/capture/tls_proxy_connections",
            c.tls_proxy_connections,
        ),
        (
            "html-h-failed-attempts",
            "/capture/failed_connection_attempts",
            c.failed_connection_attempts,
        ),
        (
            "html-h-truncated",
            "/capture/truncated_packets",
            c.truncated_packets,
        ),
        ("html-h-gap-bytes", "/capture/gap_bytes", c.gap_bytes),
        (
            "html-h-decode-errors",
            "/capture/decode_errors",
            c.decode_errors,
        ),
        (
            "html-h-http-anomalies",
            "/capture/http_anomalies",
            c.http_anomalies,
        ),
        (
            "html-h-ip-fragments",
            "/capture/ip_fragments",
            c.ip_fragments,
        ),
        (
            "html-h-flow-limit",
            "/capture/flow_limit_hits",
            c.flow_limit_hits,
        ),
    ];
    if let Some(d) = c.kernel_dropped {
        v.push(("html-h-kernel-dropped", "/capture/kernel_dropped", d));
    }
    v.extend([
        ("html-h-requests", "/http/requests", h.requests),
        ("html-h-responses", "/http/responses", h.responses),
        ("html-h-407", "/http/responses_407", h.responses_407),
        (
            "html-h-connect",
            "/http/connect_requests",
            h.connect_requests,
        ),
        (
            "html-h-credentialed",
            "/http/credentialed_requests",
            h.credentialed_requests,
        ),
        (
            "html-h-unanswered",
            "/http/unanswered_requests",
            h.unanswered_requests,
        ),
    ]);
    let mut out: Vec<(&'static str, Num)> = v
        .into_iter()
        .map(|(id, json, n)| {
            let mut num = count_at(n, Some(json.to_string()));
            if id == "html-h-bytes" && n >= 1024 {
                num.text = format!("{} ({})", num.text, report::bytes(n));
            }
            (i18n::t(lang, id), num)
        })
        .collect();
    out.extend(c.link_types.iter().map(|(k, n)| {
        (
            i18n::t(lang, "html-h-link-type"),
            Num {
                text: format!("{} {k}", i18n::num(*n)),
                value: n.to_string(),
                json: Some(format!(
                    "/capture/link_types/{}",
                    k.replace('~', "~0").replace('/', "~1")
                )),
            },
        )
    }));
    out
}

/// The time-to-authenticate line, with the percentiles marked for the tests.
fn ms_tta(lang: Lang, stats: &Stats, summary: &Summary) -> Option<Vec<(String, Num)>> {
    let tta = summary.time_to_auth_ms;
    tta.max?;
    Some(vec![
        (
            "p50".into(),
            ms_at(tta.p50, Some("/time_to_auth_ms/p50".into())),
        ),
        (
            "p95".into(),
            ms_at(tta.p95, Some("/time_to_auth_ms/p95".into())),
        ),
        (
            i18n::t(lang, "html-max").into(),
            ms_at(tta.max, Some("/time_to_auth_ms/max".into())),
        ),
        (
            i18n::t(lang, "html-tta-samples").into(),
            count_at(stats.time_to_auth_samples(), None),
        ),
    ])
}

fn table_view(lang: Lang, stats: &Stats, summary: &Summary, tb: Table) -> Option<TableView> {
    let (rows, name): (&[KeyRow], &str) = match tb {
        Table::Users => (&summary.top.users, "users"),
        Table::Clients => (&summary.top.clients, "clients"),
        Table::Proxies => (&summary.top.proxies, "proxies"),
        Table::Targets => (&summary.top.targets, "targets"),
    };
    if rows.is_empty() {
        return None;
    }
    let t = |id: &str| i18n::t(lang, id);
    let title = report::table_title(lang, stats, tb, rows.len());
    let mut headers = vec![
        t(report::key_column_id(tb)),
        t("col-episodes"),
        t("col-auth"),
        t("col-failed"),
        t("col-unresolved"),
        t("col-main-cause"),
        t("col-auth-p50"),
    ];
    match tb {
        Table::Users => headers.extend([t("col-max-10min"), t("col-clients")]),
        Table::Clients => headers.push(t("col-users")),
        Table::Proxies | Table::Targets => headers.extend([t("col-users"), t("col-clients")]),
    }
    headers.push(t("col-findings"));
    let body: Vec<Vec<CellView>> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let at = |field: &str| Some(format!("/top/{name}/{i}/{field}"));
            let n = |v: u64, field: &str, class: &'static str| CellView {
                text: i18n::num(v),
                sort: v.to_string(),
                num: true,
                json: at(field),
                json_count: None,
                class: if v > 0 { class } else { "" },
            };
            let text = |s: String| CellView {
                sort: s.clone(),
                text: s,
                num: false,
                json: None,
                json_count: None,
                class: "",
            };
            let mut c = vec![
                text(r.key.clone()),
                n(r.episodes, "episodes", ""),
                n(r.authenticated, "authenticated", "good"),
                n(r.failed, "failed", "bad"),
                n(r.unresolved, "unresolved", ""),
                text(r.top_cause().map_or("-", |c| c.as_str()).to_string()),
                CellView {
                    text: report::ms(r.time_to_auth_p50_ms),
                    sort: r
                        .time_to_auth_p50_ms
                        .map_or_else(|| "-1".into(), |v| v.to_string()),
                    num: true,
                    json: r.time_to_auth_p50_ms.and(at("time_to_auth_p50_ms")),
                    json_count: None,
                    class: "",
                },
            ];
            match tb {
                Table::Users => {
                    c.push(n(r.max_failures_10min, "max_failures_10min", ""));
                    c.push(text(r.client_ips.join(", ")));
                }
                Table::Clients => c.push(text(report::named_users_first(r).join(", "))),
                Table::Proxies | Table::Targets => {
                    for (list, field) in [(&r.users, "users"), (&r.clients, "clients")] {
                        c.push(CellView {
                            text: i18n::num(list.len() as u64),
                            sort: list.len().to_string(),
                            num: true,
                            json: None,
                            json_count: at(field),
                            class: "",
                        });
                    }
                }
            }
            c.push(text(findings_cell(lang, r)));
            c
        })
        .collect();
    let headers = headers
        .into_iter()
        .enumerate()
        .map(|(i, label)| HeadView {
            label,
            num: body.first().and_then(|r| r.get(i)).is_some_and(|c| c.num),
        })
        .collect();
    Some(TableView {
        id: name_static(tb),
        title,
        headers,
        rows: body,
    })
}

fn name_static(tb: Table) -> &'static str {
    match tb {
        Table::Users => "users",
        Table::Clients => "clients",
        Table::Proxies => "proxies",
        Table::Targets => "targets",
    }
}

/// `lockout risk 1, cleartext Basic 3`: a row's findings, with their episodes.
pub fn findings_cell(lang: Lang, r: &KeyRow) -> String {
    let v: Vec<String> = Finding::ALL
        .into_iter()
        .filter(|f| *f != Finding::StaleNonce && r.finding(*f) > 0)
        .map(|f| {
            let label = i18n::t(lang, &format!("finding-{}-short", f.as_str()));
            format!("{label} {}", i18n::num(r.finding(f)))
        })
        .collect();
    if v.is_empty() {
        "-".into()
    } else {
        v.join(", ")
    }
}

/// A Wireshark display filter for an episode's packets: the record's own (its connections
/// bounded by frame numbers), or, for a record without one, its client, proxy and port in
/// its time span (epoch seconds, so no time zone applies).
pub fn display_filter(e: &Episode) -> String {
    if !e.display_filter.is_empty() {
        return e.display_filter.clone();
    }
    let secs = |ts: Ts| {
        format!(
            "{}.{:06}",
            ts.0.div_euclid(1_000_000),
            ts.0.rem_euclid(1_000_000)
        )
    };
    let end = Ts(e.end_ts.0.saturating_add(1_000_000));
    format!(
        "ip.addr == {} && ip.addr == {} && tcp.port == {} && frame.time_epoch >= {} && frame.time_epoch <= {}",
        e.client_ip,
        e.proxy_ip,
        e.proxy_port,
        secs(e.start_ts),
        secs(end)
    )
}

fn episode_view(lang: Lang, e: &Episode) -> EpisodeView {
    let t = |id: &str| i18n::t(lang, id);
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut fields = vec![
        FieldView {
            label: t("html-ep-id"),
            value: e.episode_id.to_string(),
        },
        FieldView {
            label: t("html-ep-span"),
            value: format!("{} → {}", e.start_ts, e.end_ts),
        },
        FieldView {
            label: t("html-ep-scheme"),
            value: dash(&e.scheme),
        },
        FieldView {
            label: t("html-ep-offered"),
            value: if e.offered_schemes.is_empty() {
                "-".into()
            } else {
                e.offered_schemes.join(", ")
            },
        },
        FieldView {
            label: t("html-ep-steps"),
            value: i18n::tf(
                lang,
                "html-ep-steps-value",
                Args::new()
                    .n("challenges", u64::from(e.challenges))
                    .n("attempts", u64::from(e.credential_attempts))
                    .n("connections", u64::from(e.connections)),
            ),
        },
        FieldView {
            label: t("html-ep-status"),
            value: e.final_status.map_or_else(|| "-".into(), |s| s.to_string()),
        },
        FieldView {
            label: t("html-ep-detail"),
            value: dash(&e.detail),
        },
    ];
    if let Some(m) = e.cause.map(|c| report::cause_meaning(lang, c)) {
        fields.push(FieldView {
            label: t("label-what"),
            value: m.to_string(),
        });
    }
    if !e.findings.is_empty() {
        let mut f: Vec<&str> = e.findings.iter().map(|f| f.as_str()).collect();
        f.dedup();
        fields.push(FieldView {
            label: t("heading-findings"),
            value: f.join(", "),
        });
    }
    if let Some(d) = &e.domain {
        fields.push(FieldView {
            label: t("html-ep-domain"),
            value: d.clone(),
        });
    }
    if let Some(w) = &e.workstation {
        fields.push(FieldView {
            label: t("html-ep-workstation"),
            value: w.clone(),
        });
    }
    if let Some(s) = e.user_source {
        fields.push(FieldView {
            label: t("html-ep-user-source"),
            value: s.as_str().to_string(),
        });
    }
    if let Some(ua) = &e.user_agent {
        fields.push(FieldView {
            label: t("html-ep-user-agent"),
            value: ua.clone(),
        });
    }
    if !e.capture_file.is_empty() {
        fields.push(FieldView {
            label: t("evidence-file"),
            value: e.capture_file.clone(),
        });
    }
    if e.frame_count > 0 {
        fields.push(FieldView {
            label: t("evidence-frames"),
            value: report::frames_text(lang, e),
        });
    }
    EpisodeView {
        start: e.start_ts.to_string(),
        user: e.user.clone().unwrap_or_else(|| "-".into()),
        client: e.client_ip.to_string(),
        proxy: crate::stats::proxy_key(e.proxy_ip, e.proxy_port),
        target: if e.target.is_empty() {
            "-".into()
        } else {
            e.target.clone()
        },
        cause: e.cause.map_or("-", |c| report::cause_label(lang, c)),
        code: e.cause.map_or("-", Cause::as_str),
        fields,
        filter: display_filter(e),
    }
}

/// Text for SVG and HTML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn empty_chart(lang: Lang) -> String {
    format!(
        r#"<svg class="chart" viewBox="0 0 640 60" role="img"><text x="10" y="35" class="muted">{}</text></svg>"#,
        esc(i18n::t(lang, "html-no-data"))
    )
}

/// Failures by cause: one horizontal bar per cause that failed.
fn causes_chart(lang: Lang, stats: &Stats) -> String {
    let causes = report::sorted_causes(stats);
    if causes.is_empty() {
        return empty_chart(lang);
    }
    let max = causes.iter().map(|c| c.episodes).max().unwrap_or(1).max(1);
    let (label_w, bar_w, row_h) = (300.0, 280.0, 26.0);
    let h = row_h * causes.len() as f64 + 10.0;
    let mut s = format!(
        r#"<svg class="chart" viewBox="0 0 640 {h}" role="img" aria-label="{}">"#,
        esc(i18n::t(lang, "html-chart-causes"))
    );
    for (i, c) in causes.iter().enumerate() {
        let y = 5.0 + row_h * i as f64;
        let w = (c.episodes as f64 / max as f64 * bar_w).max(2.0);
        let _ = write!(
            s,
            r#"<text x="{x}" y="{ty}" text-anchor="end" class="label">{label}</text><rect x="{bx}" y="{y}" width="{w:.1}" height="18" class="bar-bad"><title>{code}: {n}</title></rect><text x="{vx:.1}" y="{ty}" class="value" data-json="/causes/{code}" data-value="{v}">{n}</text>"#,
            x = label_w - 8.0,
            ty = y + 14.0,
            label = esc(report::cause_label(lang, c.cause)),
            bx = label_w,
            code = c.cause.as_str(),
            n = i18n::num(c.episodes),
            v = c.episodes,
            vx = label_w + w + 6.0,
        );
    }
    s.push_str("</svg>");
    s
}

/// `HH:MM` of a minute.
fn hhmm(ts: Ts) -> String {
    let s = ts.to_string();
    // RFC 3339: `YYYY-MM-DDTHH:MM:SS...`.
    s.get(11..16).unwrap_or(&s).to_string()
}

/// Challenges and failures per minute: two bars per minute that saw an episode start.
/// Bars the per-minute chart draws at most; a longer capture is drawn in buckets of
/// several minutes.
const TIMELINE_BARS: i64 = 240;

/// Minutes per bar for a timeline: 1, or as many as keep the bars within [`TIMELINE_BARS`].
fn bucket_minutes(stats: &Stats) -> i64 {
    let rows = stats.timeline();
    match (rows.first(), rows.last()) {
        (Some(a), Some(b)) => {
            let span = b.minute.0.saturating_sub(a.minute.0) / 60_000_000 + 1;
            (span + TIMELINE_BARS - 1) / TIMELINE_BARS
        }
        _ => 1,
    }
    .max(1)
}

fn timeline_title(lang: Lang, stats: &Stats) -> String {
    match bucket_minutes(stats) {
        1 => i18n::t(lang, "html-chart-timeline").to_string(),
        n => i18n::tf(lang, "html-chart-timeline-n", Args::new().n("n", n as u64)),
    }
}

/// The timeline in buckets of `minutes` (from the first minute), empty buckets left out.
fn bucketed(stats: &Stats, minutes: i64) -> Vec<crate::stats::TimelineRow> {
    let rows = stats.timeline();
    let Some(first) = rows.first().map(|r| r.minute) else {
        return rows;
    };
    if minutes <= 1 {
        return rows;
    }
    let width = minutes.saturating_mul(60_000_000);
    let mut out: Vec<crate::stats::TimelineRow> = Vec::new();
    for r in rows {
        let start = Ts(first.0 + (r.minute.0.saturating_sub(first.0) / width) * width);
        match out.last_mut() {
            Some(b) if b.minute == start => {
                b.challenges += r.challenges;
                b.authenticated += r.authenticated;
                b.failed += r.failed;
                for (x, y) in b.failed_by_cause.iter_mut().zip(r.failed_by_cause) {
                    *x += y;
                }
            }
            _ => out.push(crate::stats::TimelineRow { minute: start, ..r }),
        }
    }
    out
}

fn timeline_chart(lang: Lang, stats: &Stats) -> String {
    let rows = bucketed(stats, bucket_minutes(stats));
    if rows.is_empty() {
        return empty_chart(lang);
    }
    let (left, top, pw, ph) = (50.0, 18.0, 570.0, 120.0);
    let max = rows
        .iter()
        .map(|r| r.challenges.max(r.failed))
        .max()
        .unwrap_or(1)
        .max(1);
    let slot = pw / rows.len() as f64;
    let bw = (slot / 2.0 - 1.0).clamp(0.5, 14.0);
    // Few minutes: each bar carries its number.
    let labelled = rows.len() <= 24;
    let mut s = format!(
        r#"<svg class="chart" viewBox="0 0 640 180" role="img" aria-label="{}">"#,
        esc(&timeline_title(lang, stats))
    );
    let _ = write!(
        s,
        r#"<line x1="{left}" y1="{b}" x2="{r}" y2="{b}" class="axis"/><line x1="{left}" y1="{top}" x2="{left}" y2="{b}" class="axis"/><text x="{tx}" y="{ty}" text-anchor="end" class="label">{max}</text><text x="{tx}" y="{b}" text-anchor="end" class="label">0</text>"#,
        b = top + ph,
        r = left + pw,
        tx = left - 4.0,
        ty = top + 10.0,
        max = i18n::num(max),
    );
    let every = (rows.len() / 6).max(1);
    for (i, r) in rows.iter().enumerate() {
        let x = left + slot * i as f64;
        let hc = r.challenges as f64 / max as f64 * ph;
        let hf = r.failed as f64 / max as f64 * ph;
        let _ = write!(
            s,
            r#"<g class="minute" data-minute="{m}" data-challenges="{c}" data-authenticated="{a}" data-failed="{f}"><rect x="{x1:.1}" y="{y1:.1}" width="{bw:.1}" height="{hc:.1}" class="bar-neutral"><title>{hm} {cl} {c}</title></rect><rect x="{x2:.1}" y="{y2:.1}" width="{bw:.1}" height="{hf:.1}" class="bar-bad"><title>{hm} {fl} {f}</title></rect></g>"#,
            m = r.minute,
            c = r.challenges,
            a = r.authenticated,
            f = r.failed,
            x1 = x + 1.0,
            y1 = top + ph - hc,
            x2 = x + 1.0 + bw,
            y2 = top + ph - hf,
            hm = hhmm(r.minute),
            cl = esc(i18n::t(lang, "html-legend-challenges")),
            fl = esc(i18n::t(lang, "html-legend-failed")),
        );
        if labelled {
            for (v, h, dx) in [(r.challenges, hc, 0.0), (r.failed, hf, bw)] {
                if v > 0 {
                    let _ = write!(
                        s,
                        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="value">{}</text>"#,
                        x + 1.0 + dx + bw / 2.0,
                        top + ph - h - 3.0,
                        i18n::num(v)
                    );
                }
            }
        }
        if i % every == 0 {
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{}" class="label">{}</text>"#,
                x + 1.0,
                top + ph + 16.0,
                hhmm(r.minute)
            );
        }
    }
    let _ = write!(
        s,
        r#"<rect x="{left}" y="164" width="12" height="10" class="bar-neutral"/><text x="{l1}" y="173" class="label">{c}</text><rect x="{l2}" y="164" width="12" height="10" class="bar-bad"/><text x="{l3}" y="173" class="label">{f}</text></svg>"#,
        l1 = left + 16.0,
        c = esc(i18n::t(lang, "html-legend-challenges")),
        l2 = left + 200.0,
        l3 = left + 216.0,
        f = esc(i18n::t(lang, "html-legend-failed")),
    );
    s
}

/// Time to authenticate by percentile (p10 … p99, max), bars on a shared scale.
fn tta_chart(lang: Lang, stats: &Stats, summary: &Summary) -> String {
    let Some(max) = summary.time_to_auth_ms.max else {
        return empty_chart(lang);
    };
    let points: Vec<(String, f64, Option<&str>)> = [10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0]
        .into_iter()
        .filter_map(|p| {
            let json = match p {
                50.0 => Some("/time_to_auth_ms/p50"),
                95.0 => Some("/time_to_auth_ms/p95"),
                _ => None,
            };
            let v = match json {
                Some(_) if p == 50.0 => summary.time_to_auth_ms.p50,
                Some(_) => summary.time_to_auth_ms.p95,
                None => stats.time_to_auth_percentile(p),
            }?;
            Some((format!("p{p:.0}"), v, json))
        })
        .chain(std::iter::once((
            i18n::t(lang, "html-max").to_string(),
            max,
            Some("/time_to_auth_ms/max"),
        )))
        .collect();
    let (left, top, pw, ph) = (50.0, 20.0, 570.0, 150.0);
    let top_v = max.max(0.001);
    let slot = pw / points.len() as f64;
    let mut s = format!(
        r#"<svg class="chart" viewBox="0 0 640 200" role="img" aria-label="{}"><line x1="{left}" y1="{b}" x2="{r}" y2="{b}" class="axis"/>"#,
        esc(i18n::t(lang, "html-chart-tta")),
        b = top + ph,
        r = left + pw,
    );
    for (i, (label, v, json)) in points.iter().enumerate() {
        let x = left + slot * i as f64 + slot * 0.15;
        let h = (v / top_v * ph).max(1.0);
        let json_attr = json.map_or_else(String::new, |j| {
            format!(r#" data-json="{j}" data-value="{v}""#)
        });
        let _ = write!(
            s,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" class="bar-good"><title>{l} {t}</title></rect><text x="{cx:.1}" y="{ty:.1}" text-anchor="middle" class="value"{json_attr}>{t}</text><text x="{cx:.1}" y="{ly}" text-anchor="middle" class="label">{l}</text>"#,
            y = top + ph - h,
            w = slot * 0.7,
            l = esc(label),
            t = esc(&report::ms(Some(*v))),
            cx = x + slot * 0.35,
            ty = top + ph - h - 4.0,
            ly = top + ph + 16.0,
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Outcome;

    #[test]
    fn names_from_the_wire_are_text_not_markup() {
        let hostile = Episode {
            episode_id: 7,
            start_ts: Ts(1_700_000_000_000_000),
            end_ts: Ts(1_700_000_001_000_000),
            client_ip: "10.0.0.5".parse().unwrap(),
            proxy_ip: "10.0.0.1".parse().unwrap(),
            proxy_port: 3128,
            target: "x\"><img src=x onerror=alert(1)>:443".into(),
            user: Some("<script>alert(1)</script>".into()),
            domain: Some("</dd><script>".into()),
            workstation: None,
            user_source: None,
            scheme: Some("Basic".into()),
            offered_schemes: vec!["Basic".into()],
            challenges: 2,
            credential_attempts: 1,
            connections: 1,
            outcome: Outcome::Failed,
            cause: Some(Cause::BadCredentials),
            detail: Some("rounds=1".into()),
            findings: vec![Finding::CleartextBasic],
            final_status: Some(407),
            time_to_auth_ms: None,
            user_agent: Some("Mozilla/5.0 <b>".into()),
            capture_file: String::new(),
            frames: Vec::new(),
            frame_count: 0,
            display_filter: String::new(),
        };
        let stats = Stats::from_episodes(std::slice::from_ref(&hostile));
        let summary = Summary::build(
            &stats,
            &Default::default(),
            &Default::default(),
            &Default::default(),
            &[],
            &[],
            10,
        );
        let mut failed = FailedEpisodes::new();
        failed.add(&hostile);
        for lang in Lang::ALL {
            let html = render(&stats, &summary, lang, &failed).unwrap();
            assert!(!html.contains("<script>alert"), "{html}");
            assert!(!html.contains("<img"), "{html}");
            assert!(!html.contains("</dd><script>"));
            assert!(!html.contains("<b>"));
            assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"));
            // The only script is the page's own.
            assert_eq!(html.matches("<script>").count(), 1);
        }
    }

    #[test]
    fn a_long_capture_is_drawn_in_buckets_of_minutes() {
        let base = Episode {
            episode_id: 0,
            start_ts: Ts(0),
            end_ts: Ts(0),
            client_ip: "10.0.0.5".parse().unwrap(),
            proxy_ip: "10.0.0.1".parse().unwrap(),
            proxy_port: 3128,
            target: "example.com:443".into(),
            user: Some("u".into()),
            domain: None,
            workstation: None,
            user_source: None,
            scheme: Some("Basic".into()),
            offered_schemes: vec!["Basic".into()],
            challenges: 1,
            credential_attempts: 1,
            connections: 1,
            outcome: Outcome::Failed,
            cause: Some(Cause::BadCredentials),
            detail: None,
            findings: vec![],
            final_status: Some(407),
            time_to_auth_ms: None,
            user_agent: None,
            capture_file: String::new(),
            frames: Vec::new(),
            frame_count: 0,
            display_filter: String::new(),
        };
        // One episode every 7 minutes for 2,000 minutes, every third one authenticated.
        let eps: Vec<Episode> = (0..286)
            .map(|i| {
                let mut e = base.clone();
                e.episode_id = i;
                e.start_ts = Ts(1_700_000_000_000_000 + i as i64 * 7 * 60_000_000);
                e.end_ts = e.start_ts;
                if i % 3 == 0 {
                    e.outcome = Outcome::Authenticated;
                    e.cause = None;
                    e.time_to_auth_ms = Some(5.0);
                }
                e
            })
            .collect();
        let stats = Stats::from_episodes(&eps);
        assert!(stats.timeline().len() > 250);
        let n = bucket_minutes(&stats);
        assert_eq!(n, 9, "2,000 minutes in at most 240 bars");
        let svg = timeline_chart(Lang::En, &stats);
        let bars = svg.matches("<g class=\"minute\"").count();
        assert!(bars <= 240 && bars > 200, "{bars} bars");
        let sum = |attr: &str| -> u64 {
            svg.match_indices(&format!(" {attr}=\""))
                .map(|(i, m)| {
                    let rest = &svg[i + m.len()..];
                    rest[..rest.find('"').unwrap()].parse::<u64>().unwrap()
                })
                .sum()
        };
        let t = stats.totals();
        assert_eq!(sum("data-failed"), t.failed);
        assert_eq!(sum("data-authenticated"), t.authenticated);
        assert!(svg.contains("per 9 minutes"));
        assert!(timeline_title(Lang::Ja, &stats).contains("9 分ごと"));
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn display_filter_names_the_conversation() {
        let e = Episode {
            episode_id: 1,
            start_ts: Ts(1_700_000_000_250_000),
            end_ts: Ts(1_700_000_002_000_000),
            client_ip: "10.0.0.5".parse().unwrap(),
            proxy_ip: "10.0.0.1".parse().unwrap(),
            proxy_port: 3128,
            target: "example.com:443".into(),
            user: None,
            domain: None,
            workstation: None,
            user_source: None,
            scheme: None,
            offered_schemes: vec![],
            challenges: 1,
            credential_attempts: 0,
            connections: 1,
            outcome: Outcome::Failed,
            cause: Some(Cause::NoCredentials),
            detail: None,
            findings: vec![],
            final_status: Some(407),
            time_to_auth_ms: None,
            user_agent: None,
            capture_file: String::new(),
            frames: Vec::new(),
            frame_count: 0,
            display_filter: String::new(),
        };
        assert_eq!(
            display_filter(&e),
            "ip.addr == 10.0.0.5 && ip.addr == 10.0.0.1 && tcp.port == 3128 && frame.time_epoch >= 1700000000.250000 && frame.time_epoch <= 1700000003.000000"
        );
        let mut own = e.clone();
        own.display_filter = "tcp.port == 3128 && frame.number >= 4".into();
        assert_eq!(display_filter(&own), own.display_filter);
        let mut f = FailedEpisodes::new();
        f.add(&e);
        let mut ok = e.clone();
        ok.outcome = Outcome::Authenticated;
        f.add(&ok);
        assert_eq!(f.seen(), 1);
    }
}
