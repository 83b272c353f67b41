//! The dashboard's drawing: a pure function of [`App`] onto a ratatui [`Frame`], so every
//! view is tested with ratatui's `TestBackend`. Fits 80×24 and gives extra room to the
//! tables and the cause panel. Readable without colour: the selected tab is in brackets,
//! the selected row and cause carry a `>` marker, the sort column an arrow, and states such
//! as `PAUSED` are words. Every label comes from the language's catalogue
//! ([`crate::i18n`], `--lang`); widths are display widths (a CJK character takes two
//! cells), header lines are built of whole fields that fit (none is cut), and a table's
//! columns are sized to their content, dropping the last ones that do not fit.

use super::app::{App, Focus, SortCol, SourceKind, View};
use crate::i18n::{self, Args, Lang};
use crate::model::{Cause, Episode, Finding, Outcome, Ts};
use crate::stats::{KeyRow, Table};
use ratatui::layout::{Constraint, Direction, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table as TableWidget, Wrap};
use ratatui::Frame;

const BOLD: Style = Style::new().add_modifier(Modifier::BOLD);
const SPARK: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The screen width from which the findings panel has a column of its own.
const WIDE_FINDINGS: u16 = 120;

/// Draws the whole screen.
pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    if area.width < 60 || area.height < 16 {
        let p = Paragraph::new(i18n::t(app.lang, "tui-too-small")).wrap(Wrap { trim: true });
        f.render_widget(p, area);
        return;
    }
    let h = area.height;
    let middle = if h >= 24 { 10 + (h - 24) / 3 } else { 6 };
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(2),
            Constraint::Length(2),
            Constraint::Length(middle),
            Constraint::Min(4),
            Constraint::Length(1),
        ])
        .split(area);
    draw_header(f, app, rows[0]);
    draw_tiles(f, app, rows[1]);
    match &app.view {
        View::Main => {
            let wide = area.width >= WIDE_FINDINGS;
            let split: &[Constraint] = if wide {
                &[
                    Constraint::Percentage(40),
                    Constraint::Percentage(30),
                    Constraint::Percentage(30),
                ]
            } else {
                &[Constraint::Percentage(55), Constraint::Percentage(45)]
            };
            let mid = Layout::default()
                .direction(Direction::Horizontal)
                .constraints(split)
                .split(rows[2]);
            draw_causes(f, app, mid[0]);
            let right_col = if wide { mid[2] } else { mid[1] };
            let right = Layout::default()
                .direction(Direction::Vertical)
                .constraints([
                    Constraint::Length(4 + (middle - 10) / 2),
                    Constraint::Min(3),
                ])
                .split(right_col);
            draw_timeline(f, app, right[0]);
            if wide {
                draw_findings(f, app, mid[1], true);
                draw_recent(f, app, right[1], true);
            } else if app.show_findings {
                draw_findings(f, app, right[1], false);
            } else {
                draw_recent(f, app, right[1], false);
            }
            draw_table(f, app, rows[3]);
        }
        View::Drill(_) => {
            let r = Rect {
                height: rows[2].height + rows[3].height,
                ..rows[2]
            };
            draw_drill(f, app, r);
        }
    }
    draw_footer(f, app, rows[4]);
    if app.show_help {
        draw_help(f, app.lang, area);
    }
}

/// `1234` → `1.2k`, for rates.
pub(crate) fn human(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// Milliseconds as `850 ms`, `1.2 s`.
pub fn ms(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0} s", v / 1000.0)
    } else if v >= 1000.0 {
        format!("{:.1} s", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.0} ms")
    } else {
        format!("{v:.1} ms")
    }
}

/// Milliseconds without the unit: `1.2`, `13`, `850`.
fn ms_number(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

fn hms(us: i64) -> String {
    let s = us.max(0) / 1_000_000;
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// Time of day (UTC) of a packet time.
pub fn clock(ts: Ts) -> String {
    hms(ts.0.rem_euclid(86_400_000_000))
}

/// The capture's health word: ok, or lossy with what was lost.
fn health(app: &App) -> (String, bool) {
    let lang = app.lang;
    let c = &app.progress.capture;
    let drops = app
        .progress
        .source
        .kernel_dropped
        .or(c.kernel_dropped)
        .unwrap_or(0)
        + app.progress.source.if_dropped.unwrap_or(0);
    let mut bad = Vec::new();
    if drops > 0 {
        bad.push(i18n::t(lang, "tui-bad-drops"));
    }
    if c.gap_bytes > 0 {
        bad.push(i18n::t(lang, "tui-bad-gaps"));
    }
    if c.truncated_packets > 0 {
        bad.push(i18n::t(lang, "tui-bad-truncated"));
    }
    if c.decode_errors > 0 {
        bad.push(i18n::t(lang, "tui-bad-decode"));
    }
    if c.flow_limit_hits > 0 {
        bad.push(i18n::t(lang, "tui-bad-limits"));
    }
    if bad.is_empty() {
        (i18n::t(lang, "tui-ok").into(), true)
    } else {
        (
            i18n::tf(
                lang,
                "tui-lossy",
                Args::new().s("list", bad.join(if lang == Lang::Ja { "、" } else { ", " })),
            ),
            false,
        )
    }
}

/// Display width of a line's spans.
fn spans_width(spans: &[Span]) -> usize {
    spans.iter().map(|s| i18n::width(&s.content)).sum()
}

/// Appends whole fields (each with its two leading spaces) while they fit in `width`.
fn push_fitting(line: &mut Vec<Span<'static>>, width: usize, fields: Vec<Span<'static>>) {
    let mut used = spans_width(line);
    for f in fields {
        let w = i18n::width(&f.content);
        if used + w > width {
            continue;
        }
        used += w;
        line.push(f);
    }
}

fn draw_header(f: &mut Frame, app: &App, area: Rect) {
    let lang = app.lang;
    let t = |id: &str| i18n::t(lang, id);
    let width = area.width as usize;
    let c = &app.progress.capture;
    let mode = match app.kind {
        SourceKind::Live => t("tui-live").to_string(),
        SourceKind::Replay => match app.speed {
            Some(s) if s >= 1.0 => i18n::tf(
                lang,
                "tui-replay",
                Args::new().s("speed", format!("{s:.0}")),
            ),
            Some(s) => i18n::tf(
                lang,
                "tui-replay",
                Args::new().s("speed", format!("{s:.2}")),
            ),
            None => t("tui-replay-max").to_string(),
        },
    };
    let (pps, bps) = app.rates().unwrap_or((0.0, 0.0));
    let mut l1 = vec![
        Span::styled("proxy407 ", BOLD),
        Span::styled(format!("{mode} "), BOLD),
    ];
    if app.paused {
        l1.push(Span::styled(
            format!("{} ", t("tui-paused")),
            BOLD.fg(Color::Yellow),
        ));
    }
    if app.finished {
        let word = match app.kind {
            SourceKind::Replay => t("tui-end"),
            SourceKind::Live => t("tui-stopped"),
        };
        l1.push(Span::styled(format!("{word} "), BOLD));
    }
    let stats = format!(
        "  {}",
        i18n::tf(
            lang,
            "tui-rates",
            Args::new()
                .s("elapsed", hms(app.elapsed_us()))
                .s("pps", human(pps))
                .s("bps", human(bps))
        )
    );
    let used = spans_width(&l1);
    let room = width.saturating_sub(used + i18n::width(&stats)).max(12);
    let label = if i18n::width(&app.source_label) > room {
        let mut l = i18n::cut(&app.source_label, room);
        l.pop();
        l.push('~');
        l
    } else {
        app.source_label.clone()
    };
    l1.push(Span::raw(label));
    push_fitting(&mut l1, width, vec![Span::raw(stats)]);
    let drops = match (app.progress.source.kernel_dropped, c.kernel_dropped) {
        (Some(d), _) | (None, Some(d)) => d.to_string(),
        (None, None) => "n/a".into(),
    };
    let (h, ok) = health(app);
    let mut l2 = vec![
        Span::raw(format!("{} ", t("tui-capture"))),
        Span::styled(
            h,
            if ok {
                Style::new().fg(Color::Green)
            } else {
                BOLD.fg(Color::Red)
            },
        ),
    ];
    let mut fields: Vec<Span<'static>> = Vec::new();
    if let Some((a, n)) = app.progress.anomalies.largest() {
        fields.push(Span::styled(
            format!(
                "  {}",
                i18n::tf(
                    lang,
                    "tui-top-anomaly",
                    Args::new().s("name", a.to_string()).n("n", n)
                )
            ),
            Style::new().fg(Color::Yellow),
        ));
    }
    // A connection flood or scan against a proxy (docs/verdicts.md §3.11), the largest one.
    if let Some(fl) = app.progress.floods.first() {
        fields.push(Span::styled(
            format!(
                "  {}",
                i18n::tf(
                    lang,
                    "tui-flood",
                    Args::new()
                        .s("proxy", crate::stats::proxy_key(fl.proxy_ip, fl.proxy_port))
                        .s(
                            "sources",
                            format!("{}{}", fl.sources, if fl.sources_capped { "+" } else { "" })
                        )
                )
            ),
            BOLD.fg(Color::Red),
        ));
    }
    // A remote or cloud mirror: the tunnels taken off, so a sensor on the wrong session shows.
    if !c.encapsulations.is_empty() {
        let via: Vec<String> = c
            .encapsulations
            .iter()
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        fields.push(Span::raw(format!(
            "  {}",
            i18n::tf(lang, "tui-via", Args::new().s("list", via.join(", ")))
        )));
    }
    // The counters, most telling first; those that do not fit are left out, not cut.
    let counter =
        |id: &str, v: String| Span::raw(format!("  {}", i18n::tf(lang, id, Args::new().s("n", v))));
    fields.extend([
        counter("tui-packets", c.packets.to_string()),
        counter("tui-drops", drops),
        counter("tui-gap-bytes", c.gap_bytes.to_string()),
        counter("tui-truncated", c.truncated_packets.to_string()),
        counter("tui-decode-errors", c.decode_errors.to_string()),
        counter("tui-tls", c.tls_proxy_connections.to_string()),
        Span::raw(format!(
            "  {}",
            i18n::tf(
                lang,
                "tui-open",
                Args::new()
                    .s("open", app.progress.open_episodes.to_string())
                    .s("settling", app.progress.settling_episodes.to_string())
            )
        )),
    ]);
    push_fitting(&mut l2, width, fields);
    f.render_widget(Paragraph::new(vec![Line::from(l1), Line::from(l2)]), area);
}

fn draw_tiles(f: &mut Frame, app: &App, area: Rect) {
    let lang = app.lang;
    let t = app.stats.totals();
    let median = app
        .stats
        .time_to_auth()
        .p50
        .map_or_else(|| "-".to_string(), ms);
    let mut users = app.stats.users_affected().to_string();
    if app.stats.unknown_user_failed() {
        users.push('+');
    }
    let tiles: [(&str, String, Color); 6] = [
        (
            "tui-tile-challenges",
            app.stats.challenges().to_string(),
            Color::Cyan,
        ),
        (
            "tui-tile-authenticated",
            t.authenticated.to_string(),
            Color::Green,
        ),
        ("tui-tile-failed", t.failed.to_string(), Color::Red),
        (
            "tui-tile-unresolved",
            t.unresolved.to_string(),
            Color::Yellow,
        ),
        ("tui-tile-users", users, Color::Red),
        ("tui-tile-median", median, Color::Cyan),
    ];
    let cols = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Ratio(1, 6); 6])
        .split(area);
    for ((label, value, color), r) in tiles.into_iter().zip(cols.iter()) {
        let p = Paragraph::new(vec![
            Line::from(Span::styled(
                i18n::cut(i18n::t(lang, label), r.width as usize),
                Style::new().add_modifier(Modifier::DIM),
            )),
            Line::from(Span::styled(value, BOLD.fg(color))),
        ])
        .alignment(ratatui::layout::Alignment::Center);
        f.render_widget(p, *r);
    }
}

fn focused_block(title: impl Into<Line<'static>>, focused: bool) -> Block<'static> {
    let b = Block::default().borders(Borders::ALL).title(title);
    if focused {
        b.border_style(BOLD.fg(Color::Cyan))
    } else {
        b
    }
}

/// A panel title: ` text ` (with ` * ` when focused), cut to the panel's width.
fn panel_title(text: &str, focused: bool, width: u16) -> String {
    let t = if focused {
        format!(" {text} * ")
    } else {
        format!(" {text} ")
    };
    i18n::cut(&t, (width as usize).saturating_sub(2))
}

fn draw_causes(f: &mut Frame, app: &App, area: Rect) {
    let lang = app.lang;
    let focused = app.focus == Focus::Causes;
    let block = focused_block(
        panel_title(i18n::t(lang, "tui-causes"), focused, area.width),
        focused,
    );
    let inner = block.inner(area);
    f.render_widget(block, area);
    let counts: Vec<(Cause, u64)> = Cause::ALL
        .iter()
        .map(|c| (*c, app.stats.failed_by(*c)))
        .collect();
    let max = counts.iter().map(|c| c.1).max().unwrap_or(0).max(1);
    let num_w = max.to_string().len();
    let bar_w = (inner.width as usize).saturating_sub(2 + 17 + 1 + num_w + 1);
    let sel = app.selected_cause();
    let mut lines: Vec<Line> = counts
        .iter()
        .map(|(c, n)| {
            let len = ((*n as f64 / max as f64) * bar_w as f64).ceil() as usize;
            let marker = if *c == sel { "> " } else { "  " };
            let style = if *c == sel && focused {
                BOLD
            } else {
                Style::new()
            };
            Line::from(vec![
                Span::styled(
                    format!(
                        "{marker}{} ",
                        i18n::pad_right(
                            &i18n::cut(i18n::t(lang, &format!("cause-{}-short", c.as_str())), 17),
                            17
                        )
                    ),
                    style,
                ),
                Span::styled("█".repeat(len.min(bar_w)), Style::new().fg(Color::Red)),
                Span::raw(format!(" {n}")),
            ])
        })
        .collect();
    let room = (inner.height as usize).saturating_sub(Cause::ALL.len());
    let italic = Style::new().add_modifier(Modifier::ITALIC);
    let remedy = i18n::tf(
        lang,
        "tui-remedy",
        Args::new().s("text", crate::report::cause_remedy(lang, sel)),
    );
    let prevent = i18n::tf(
        lang,
        "tui-prevent",
        Args::new().s("text", crate::report::cause_prevention(lang, sel)),
    );
    let w = (inner.width as usize).max(1);
    let remedy_rows = i18n::width(&remedy).div_ceil(w);
    if room >= 1 {
        lines.push(Line::from(Span::styled(remedy, italic)));
    }
    if room > remedy_rows {
        lines.push(Line::from(Span::styled(prevent, italic)));
    }
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

fn spark(values: &[u64], max: u64) -> String {
    values
        .iter()
        .map(|&v| {
            if v == 0 {
                ' '
            } else {
                let i = ((v as f64 / max.max(1) as f64) * 7.0).round() as usize;
                SPARK[i.min(7)]
            }
        })
        .collect()
}

fn draw_timeline(f: &mut Frame, app: &App, area: Rect) {
    let lang = app.lang;
    let tl = app.stats.timeline();
    let w = (area.width as usize).saturating_sub(2 + 6);
    let start = tl.len().saturating_sub(w);
    let shown = tl.get(start..).unwrap_or(&[]);
    let title = match (shown.first(), shown.last()) {
        (Some(a), Some(b)) => i18n::tf(
            lang,
            "tui-timeline-span",
            Args::new()
                .s(
                    "from",
                    clock(a.minute).get(..5).unwrap_or_default().to_string(),
                )
                .s(
                    "to",
                    clock(b.minute).get(..5).unwrap_or_default().to_string(),
                ),
        ),
        _ => i18n::t(lang, "tui-timeline").to_string(),
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .title(panel_title(&title, false, area.width));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let ch: Vec<u64> = shown.iter().map(|r| r.challenges).collect();
    let fl: Vec<u64> = shown.iter().map(|r| r.failed).collect();
    let max = ch.iter().chain(fl.iter()).copied().max().unwrap_or(0);
    let labels = [i18n::t(lang, "tui-407s"), i18n::t(lang, "tui-fail")];
    let lw = labels.iter().map(|l| i18n::width(l)).max().unwrap_or(0) + 2;
    let lines = vec![
        Line::from(vec![
            Span::raw(i18n::pad_right(labels[0], lw)),
            Span::styled(spark(&ch, max), Style::new().fg(Color::Cyan)),
        ]),
        Line::from(vec![
            Span::raw(i18n::pad_right(labels[1], lw)),
            Span::styled(spark(&fl, max), Style::new().fg(Color::Red)),
        ]),
    ];
    f.render_widget(Paragraph::new(lines), inner);
}

fn who(e: &Episode) -> String {
    e.user
        .clone()
        .unwrap_or_else(|| format!("({})", e.client_ip))
}

fn draw_recent(f: &mut Frame, app: &App, area: Rect, wide: bool) {
    let focused = app.focus == Focus::Recent;
    let title = if wide {
        i18n::t(app.lang, "tui-recent")
    } else {
        i18n::t(app.lang, "tui-recent-toggle")
    };
    let block = focused_block(panel_title(title, false, area.width), focused);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let lines: Vec<Line> = app
        .store
        .recent_failed()
        .take(inner.height as usize)
        .enumerate()
        .map(|(i, e)| {
            let marker = if focused && i == app.selected_recent {
                ">"
            } else {
                " "
            };
            Line::from(format!(
                "{marker}{} {} {}",
                clock(e.end_ts),
                who(e),
                e.cause.map_or("-", |c| c.as_str())
            ))
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

/// The findings panel: the users of each finding by name (lockout risk with its failures
/// in 10 minutes), one finding a line, as many names as fit.
fn draw_findings(f: &mut Frame, app: &App, area: Rect, wide: bool) {
    let lang = app.lang;
    let title = if wide {
        i18n::t(lang, "tui-findings-wide")
    } else {
        i18n::t(lang, "tui-findings")
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .title(panel_title(title, false, area.width));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let width = inner.width as usize;
    let mut lines: Vec<Line> = Vec::new();
    for fu in app.findings() {
        let label = i18n::t(lang, &format!("finding-{}-short", fu.finding.as_str()));
        let mut spans = vec![Span::styled(
            i18n::tf(lang, "tui-finding-label", Args::new().s("label", label)),
            BOLD.fg(if fu.finding == Finding::LockoutRisk {
                Color::Red
            } else {
                Color::Yellow
            }),
        )];
        let mut used = i18n::width(&spans[0].content);
        for (i, (user, n)) in fu.users.iter().enumerate() {
            let text = match fu.finding {
                Finding::LockoutRisk => i18n::tf(
                    lang,
                    "tui-lockout-user",
                    Args::new().s("user", user.clone()).n("n", *n),
                ),
                _ => format!("{user} {n}"),
            };
            let sep = if i == 0 { "" } else { ", " };
            let more = format!(", +{}", fu.users.len() - i);
            let piece = format!("{sep}{text}");
            let last = i + 1 == fu.users.len();
            let need = i18n::width(&piece) + if last { 0 } else { i18n::width(&more) };
            if used + need > width && i > 0 {
                spans.push(Span::raw(more));
                break;
            }
            // The first name is shown even when it must be cut, marked with `…`.
            let piece = i18n::cut(&piece, width.saturating_sub(used));
            used += i18n::width(&piece);
            spans.push(Span::raw(piece));
        }
        lines.push(Line::from(spans));
    }
    if lines.is_empty() {
        lines.push(Line::from(Span::styled(
            i18n::t(lang, "tui-findings-none"),
            Style::new().add_modifier(Modifier::DIM),
        )));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

fn cell_value(r: &KeyRow, c: SortCol) -> String {
    match c {
        SortCol::Key => r.key.clone(),
        SortCol::Episodes => r.episodes.to_string(),
        SortCol::Authenticated => r.authenticated.to_string(),
        SortCol::Failed => r.failed.to_string(),
        SortCol::Unresolved => r.unresolved.to_string(),
        SortCol::TopCause => r.top_cause().map_or("-", |c| c.as_str()).to_string(),
        SortCol::P50 => r.time_to_auth_p50_ms.map_or_else(|| "-".into(), ms_number),
        SortCol::LastSeen => r.last_seen.map_or_else(|| "-".into(), clock),
    }
}

/// Short names of a row's findings (the findings column of the users and clients tables).
pub fn findings_cell(r: &KeyRow) -> String {
    let short = |f: Finding| match f {
        Finding::LockoutRisk => "lockout",
        Finding::CleartextBasic => "basic",
        Finding::NtlmFallback => "fallback",
        Finding::Ntlmv1 => "ntlmv1",
        Finding::StaleNonce => "stale",
        Finding::OversizedToken => "big-token",
        Finding::CaptureGap => "gap",
        Finding::DomainMismatch => "domain",
    };
    let v: Vec<&str> = Finding::ALL
        .into_iter()
        .filter(|f| *f != Finding::StaleNonce && r.finding(*f) > 0)
        .map(short)
        .collect();
    if v.is_empty() {
        "-".into()
    } else {
        v.join(",")
    }
}

/// A column of the visible table.
#[derive(Clone, Copy, PartialEq)]
enum Col {
    Sort(SortCol),
    Findings,
}

fn draw_table(f: &mut Frame, app: &App, area: Rect) {
    let lang = app.lang;
    let t = |id: &str| i18n::t(lang, id);
    let focused = app.focus == Focus::Table;
    let mut tabs: Vec<Span> = vec![Span::raw(" ")];
    for tb in Table::ALL {
        let name = match tb {
            Table::Users => t("tui-tab-users"),
            Table::Clients => t("tui-tab-clients"),
            Table::Proxies => t("tui-tab-proxies"),
            Table::Targets => t("tui-tab-targets"),
        };
        if tb == app.table {
            tabs.push(Span::styled(format!("[{name}]"), BOLD));
        } else {
            tabs.push(Span::raw(format!(" {name} ")));
        }
    }
    let sort = app.sort[app.table as usize];
    let mut extra = vec![Span::raw(format!(
        " {} ",
        i18n::tf(
            lang,
            "tui-sort",
            Args::new().s("col", sort.col.title_in(lang, app.table)).s(
                "dir",
                if sort.desc {
                    t("tui-desc")
                } else {
                    t("tui-asc")
                }
            )
        )
    ))];
    if !app.filter.is_empty() || app.filter_editing {
        extra.push(Span::styled(
            format!(
                "{} ",
                i18n::tf(
                    lang,
                    "tui-filter",
                    Args::new().s("text", app.filter.clone())
                )
            ),
            BOLD,
        ));
    }
    let rows_total = app.stats.row_count(app.table);
    extra.push(Span::raw(format!("({}/{}) ", app.rows().len(), rows_total)));
    push_fitting(&mut tabs, (area.width as usize).saturating_sub(2), extra);
    let block = focused_block(Line::from(tabs), focused);
    let mut cols: Vec<Col> = SortCol::ALL.iter().copied().map(Col::Sort).collect();
    if matches!(app.table, Table::Users | Table::Clients) {
        // Right after the main cause: a finding matters more than the median or last seen.
        let at = cols
            .iter()
            .position(|c| *c == Col::Sort(SortCol::TopCause))
            .map_or(cols.len(), |i| i + 1);
        cols.insert(at, Col::Findings);
    }
    let title = |c: Col| -> String {
        match c {
            Col::Sort(s) => {
                let mut h = s.title_in(lang, app.table).to_string();
                if s == sort.col {
                    h.push_str(if sort.desc { " v" } else { " ^" });
                }
                h
            }
            Col::Findings => t("col-findings").to_string(),
        }
    };
    let value = |r: &KeyRow, c: Col| -> String {
        match c {
            Col::Sort(s) => cell_value(r, s),
            Col::Findings => findings_cell(r),
        }
    };
    // Each column as wide as its widest cell or its heading (with room for the sort arrow);
    // the key column at most 40 cells, and the last columns left out when they do not fit.
    let shown_rows = app.rows();
    let visible = shown_rows.iter().take(200);
    let mut widths: Vec<usize> = cols
        .iter()
        .map(|c| {
            let head = match c {
                Col::Sort(s) => {
                    i18n::width(s.title_in(lang, app.table)) + if *s == sort.col { 2 } else { 0 }
                }
                Col::Findings => i18n::width(t("col-findings")),
            };
            let body = visible
                .clone()
                .map(|r| i18n::width(&value(r, *c)))
                .max()
                .unwrap_or(0);
            let w = head.max(body);
            match c {
                Col::Sort(SortCol::Key) => w.clamp(8, 40),
                Col::Sort(SortCol::TopCause) => w.min(17),
                Col::Findings => w.min(24),
                _ => w,
            }
        })
        .collect();
    // Borders (2), the highlight symbol (1), one space between columns.
    let room = (area.width as usize).saturating_sub(3);
    while cols.len() > 2 {
        let need: usize = widths.iter().sum::<usize>() + widths.len().saturating_sub(1);
        if need <= room {
            break;
        }
        cols.pop();
        widths.pop();
    }
    let others: usize = widths.iter().skip(1).map(|w| w + 1).sum();
    if let Some(k) = widths.first_mut() {
        *k = (*k).min(room.saturating_sub(others)).max(1);
    }
    let header = Row::new(cols.iter().map(|c| Cell::from(title(*c))))
        .style(BOLD.add_modifier(Modifier::UNDERLINED));
    let rows = shown_rows.iter().map(|r| {
        Row::new(cols.iter().map(|c| {
            let v = value(r, *c);
            let w = widths
                .get(cols.iter().position(|x| x == c).unwrap_or(0))
                .copied()
                .unwrap_or(0);
            Cell::from(i18n::cut(&v, w))
        }))
    });
    let constraints: Vec<Constraint> = widths
        .iter()
        .map(|w| Constraint::Length(u16::try_from(*w).unwrap_or(u16::MAX)))
        .collect();
    let table = TableWidget::new(rows, constraints)
        .header(header)
        .block(block)
        .column_spacing(1)
        .flex(Flex::Start)
        .highlight_symbol(">")
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = ratatui::widgets::TableState::default().with_selected(app.selected_row());
    f.render_stateful_widget(table, area, &mut state);
    if shown_rows.is_empty() {
        let msg = if app.filter.is_empty() {
            t("tui-no-episodes")
        } else {
            t("tui-no-match")
        };
        let r = Rect {
            x: area.x + 2,
            y: area.y + 2,
            width: area.width.saturating_sub(4),
            height: 1.min(area.height.saturating_sub(3)),
        };
        f.render_widget(Paragraph::new(msg), r);
    }
}

/// The ladder of the episode selected in the drill-down (Enter), the view `explain` prints.
fn draw_ladder(f: &mut Frame, app: &App, ladder: &crate::report::Ladder, area: Rect) {
    let title = format!(" {} ", i18n::t(app.lang, "tui-ladder-title"));
    let lines: Vec<Line> = ladder.lines(app.lang).into_iter().map(Line::from).collect();
    let p = Paragraph::new(lines).wrap(Wrap { trim: false }).block(
        Block::default()
            .borders(Borders::ALL)
            .title(Span::styled(title, BOLD))
            .border_style(BOLD.fg(Color::Cyan)),
    );
    f.render_widget(p, area);
}

/// The evidence of the episode selected in the drill-down: its file, frames and filter.
fn draw_evidence(f: &mut Frame, app: &App, area: Rect) {
    let lang = app.lang;
    let Some(e) = app.drill_selected() else {
        return;
    };
    let labels =
        ["evidence-file", "evidence-frames", "evidence-filter"].map(|id| i18n::t(lang, id));
    let w = labels.iter().map(|l| i18n::width(l)).max().unwrap_or(0);
    let file = if e.capture_file.is_empty() {
        "-".to_string()
    } else {
        e.capture_file.clone()
    };
    let texts = [
        file,
        crate::report::frames_text(lang, e),
        e.display_filter.clone(),
    ];
    let lines: Vec<Line> = labels
        .iter()
        .zip(texts)
        .map(|(l, t)| Line::from(format!("{} {t}", i18n::pad_right(l, w))))
        .collect();
    let title = format!(
        " {} ",
        i18n::tf(
            lang,
            "tui-evidence-title",
            Args::new().n("id", e.episode_id)
        )
    );
    let p = Paragraph::new(lines).wrap(Wrap { trim: false }).block(
        Block::default()
            .borders(Borders::ALL)
            .title(Span::styled(title, BOLD)),
    );
    f.render_widget(p, area);
}

fn draw_drill(f: &mut Frame, app: &App, area: Rect) {
    let View::Drill(d) = &app.view else { return };
    if let Some(ladder) = app.ladder() {
        draw_ladder(f, app, &ladder, area);
        return;
    }
    let area = if area.height >= 14 && app.drill_selected().is_some() {
        let parts = Layout::default()
            .direction(Direction::Vertical)
            .constraints([Constraint::Min(6), Constraint::Length(5)])
            .split(area);
        draw_evidence(f, app, parts[1]);
        parts[0]
    } else {
        area
    };
    let lang = app.lang;
    let t = |id: &str| i18n::t(lang, id);
    let eps = app.drill_episodes();
    let failed = eps.iter().filter(|e| e.outcome == Outcome::Failed).count();
    let kind = match d.table {
        // The key column is `client_ip`; the title says what it is.
        Table::Clients => t("tui-d-client"),
        tb => t(crate::report::key_column_id(tb)),
    };
    // The counts are the aggregate's; the list is what the store still keeps.
    let (n, nf) = app
        .stats
        .row(d.table, &d.key)
        .map_or((eps.len() as u64, failed as u64), |r| {
            (r.episodes, r.failed)
        });
    let kept = if (eps.len() as u64) < n {
        i18n::tf(lang, "tui-drill-kept", Args::new().n("n", eps.len() as u64))
    } else {
        String::new()
    };
    let title = format!(
        " {} ",
        i18n::tf(
            lang,
            "tui-drill-title",
            Args::new()
                .s("kind", kind)
                .s("key", d.key.clone())
                .s("n", n.to_string())
                .s("failed", nf.to_string())
                .s("kept", kept)
        )
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(title, BOLD))
        .border_style(BOLD.fg(Color::Cyan));
    let other = match d.table {
        Table::Users => t("tui-d-client"),
        _ => t("tui-d-user"),
    };
    // Narrow screens drop the id and the client/user column; wide ones add the target.
    let narrow = area.width < 100;
    let wide = area.width >= 120;
    let len = |id: &str, min: u16| Constraint::Length((i18n::width(t(id)) as u16).max(min));
    let mut cols: Vec<(&str, Constraint)> = vec![(t("tui-d-start"), len("tui-d-start", 8))];
    if !narrow {
        cols.push((t("tui-d-id"), len("tui-d-id", 6)));
    }
    cols.extend([
        (t("tui-d-verdict"), len("tui-d-verdict", 13)),
        (t("tui-d-cause"), len("tui-d-cause", 17)),
        (t("tui-d-detail"), Constraint::Min(10)),
        (t("tui-d-scheme"), len("tui-d-scheme", 9)),
        (t("tui-d-auth-ms"), len("tui-d-auth-ms", 7)),
        (t("tui-d-conns"), len("tui-d-conns", 5)),
    ]);
    if !narrow {
        cols.push((
            other,
            Constraint::Length((i18n::width(other) as u16).max(15)),
        ));
    }
    if wide {
        cols.push((t("tui-d-target"), Constraint::Min(10)));
    }
    let header = Row::new(cols.iter().map(|c| c.0)).style(BOLD.add_modifier(Modifier::UNDERLINED));
    let rows = eps.iter().map(|e| {
        let mut cells = vec![clock(e.start_ts)];
        if !narrow {
            cells.push(e.episode_id.to_string());
        }
        cells.extend([
            i18n::t(lang, &format!("outcome-{}", e.outcome.as_str())).to_string(),
            e.cause.map_or("-", |c| c.as_str()).to_string(),
            e.detail.clone().unwrap_or_else(|| "-".into()),
            e.scheme.clone().unwrap_or_else(|| "-".into()),
            e.time_to_auth_ms.map_or_else(|| "-".into(), ms_number),
            e.connections.to_string(),
        ]);
        if !narrow {
            cells.push(match d.table {
                Table::Users => e.client_ip.to_string(),
                _ => who(e),
            });
        }
        if wide {
            cells.push(e.target.clone());
        }
        Row::new(cells)
    });
    let widths: Vec<Constraint> = cols.iter().map(|c| c.1).collect();
    let table = TableWidget::new(rows, widths)
        .header(header)
        .block(block)
        .highlight_symbol(">")
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let sel = (!eps.is_empty()).then_some(d.selected.min(eps.len().saturating_sub(1)));
    let mut state = ratatui::widgets::TableState::default().with_selected(sel);
    f.render_stateful_widget(table, area, &mut state);
}

fn draw_footer(f: &mut Frame, app: &App, area: Rect) {
    let lang = app.lang;
    let text = if app.filter_editing {
        i18n::tf(
            lang,
            "tui-filter-edit",
            Args::new()
                .s("table", app.table.as_str())
                .s("text", app.filter.clone()),
        )
    } else if let Some(s) = &app.status {
        s.clone()
    } else if app.focus == Focus::Causes && app.view == View::Main {
        let c = app.selected_cause();
        format!("{}: {}", c.as_str(), crate::report::cause_remedy(lang, c))
    } else if app.paused && app.held() > 0 {
        i18n::tf(
            lang,
            "tui-paused-held",
            Args::new().n("n", app.held() as u64),
        )
    } else {
        i18n::t(lang, "tui-keys").into()
    };
    f.render_widget(
        Paragraph::new(Span::styled(
            text,
            Style::new().add_modifier(Modifier::REVERSED),
        )),
        area,
    );
}

/// The help screen's lines: the keys, and the catalogue id of what they do.
pub const HELP: &[(&str, &str)] = &[
    ("tab / shift-tab", "tui-help-tab"),
    ("left / right, 1-4", "tui-help-tables"),
    ("up / down, pgup / pgdn", "tui-help-move"),
    ("enter", "tui-help-enter"),
    ("enter (drill-down)", "tui-help-ladder"),
    ("esc / backspace", "tui-help-esc"),
    ("/", "tui-help-filter"),
    ("s / S", "tui-help-sort"),
    ("f", "tui-help-findings"),
    ("p", "tui-help-pause"),
    ("+ / -", "tui-help-speed"),
    ("e", "tui-help-export"),
    ("?", "tui-help-help"),
    ("q, ctrl-c", "tui-help-quit"),
];

fn draw_help(f: &mut Frame, lang: Lang, area: Rect) {
    let w = area.width.min(80);
    let h = (HELP.len() as u16 + 4).min(area.height);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    f.render_widget(Clear, r);
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(k, v)| {
            Line::from(vec![
                Span::styled(format!("{k:<24}"), BOLD),
                Span::raw(i18n::t(lang, v)),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(i18n::t(lang, "tui-help-close")));
    let p = Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(
        Span::styled(format!(" {} ", i18n::t(lang, "tui-help-title")), BOLD),
    ));
    f.render_widget(p, r);
}
