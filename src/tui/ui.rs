//! The dashboard's drawing: a pure function of [`App`] onto a ratatui [`Frame`], so every
//! view is tested with ratatui's `TestBackend`. Fits 80×24 and gives extra room to the
//! tables and the cause panel. Readable without colour: the selected tab is in brackets,
//! the selected row and cause carry a `>` marker, the sort column an arrow, and states such
//! as `PAUSED` are words.

use super::app::{App, Focus, SortCol, SourceKind, View};
use crate::model::{Cause, Episode, Outcome, Ts};
use crate::stats::{KeyRow, Table};
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table as TableWidget, Wrap};
use ratatui::Frame;

const BOLD: Style = Style::new().add_modifier(Modifier::BOLD);
const SPARK: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Draws the whole screen.
pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    if area.width < 60 || area.height < 16 {
        let p = Paragraph::new("proxy407: the terminal is too small (needs 60x16; 80x24 is best)")
            .wrap(Wrap { trim: true });
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
            let mid = Layout::default()
                .direction(Direction::Horizontal)
                .constraints([Constraint::Percentage(55), Constraint::Percentage(45)])
                .split(rows[2]);
            draw_causes(f, app, mid[0]);
            let right = Layout::default()
                .direction(Direction::Vertical)
                .constraints([
                    Constraint::Length(4 + (middle - 10) / 2),
                    Constraint::Min(3),
                ])
                .split(mid[1]);
            draw_timeline(f, app, right[0]);
            draw_recent(f, app, right[1]);
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
        draw_help(f, area);
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

fn health(app: &App) -> (String, bool) {
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
        bad.push("drops");
    }
    if c.gap_bytes > 0 {
        bad.push("gaps");
    }
    if c.truncated_packets > 0 {
        bad.push("truncated");
    }
    if c.decode_errors > 0 {
        bad.push("decode errors");
    }
    if c.flow_limit_hits > 0 {
        bad.push("limits hit");
    }
    if bad.is_empty() {
        ("ok".into(), true)
    } else {
        (format!("LOSSY ({})", bad.join(", ")), false)
    }
}

fn draw_header(f: &mut Frame, app: &App, area: Rect) {
    let c = &app.progress.capture;
    let mode = match app.kind {
        SourceKind::Live => "LIVE".to_string(),
        SourceKind::Replay => match app.speed {
            Some(s) if s >= 1.0 => format!("REPLAY x{s:.0}"),
            Some(s) => format!("REPLAY x{s:.2}"),
            None => "REPLAY max speed".to_string(),
        },
    };
    let (pps, bps) = app.rates().unwrap_or((0.0, 0.0));
    let mut l1 = vec![
        Span::styled("proxy407 ", BOLD),
        Span::styled(format!("{mode} "), BOLD),
    ];
    if app.paused {
        l1.push(Span::styled("[PAUSED] ", BOLD.fg(Color::Yellow)));
    }
    if app.finished {
        let word = match app.kind {
            SourceKind::Replay => "[END OF CAPTURE] ",
            SourceKind::Live => "[STOPPED] ",
        };
        l1.push(Span::styled(word, BOLD));
    }
    let stats = format!(
        "  elapsed {}  {} pkt/s  {}b/s",
        hms(app.elapsed_us()),
        human(pps),
        human(bps)
    );
    let used: usize = l1.iter().map(|s| s.content.chars().count()).sum();
    let room = (area.width as usize)
        .saturating_sub(used + stats.chars().count())
        .max(12);
    let label: String = if app.source_label.chars().count() > room {
        let mut l: String = app.source_label.chars().take(room - 1).collect();
        l.push('~');
        l
    } else {
        app.source_label.clone()
    };
    l1.push(Span::raw(label));
    l1.push(Span::raw(stats));
    let drops = match (app.progress.source.kernel_dropped, c.kernel_dropped) {
        (Some(d), _) | (None, Some(d)) => d.to_string(),
        (None, None) => "n/a".into(),
    };
    let (h, ok) = health(app);
    let mut l2 = vec![
        Span::raw("capture "),
        Span::styled(
            h,
            if ok {
                Style::new().fg(Color::Green)
            } else {
                BOLD.fg(Color::Red)
            },
        ),
    ];
    if let Some((a, n)) = app.progress.anomalies.largest() {
        l2.push(Span::styled(
            format!("  top anomaly {a} {n}"),
            Style::new().fg(Color::Yellow),
        ));
    }
    // A connection flood or scan against a proxy (docs/verdicts.md §3.11), the largest one.
    if let Some(fl) = app.progress.floods.first() {
        l2.push(Span::styled(
            format!(
                "  flood or scan vs {}: {}{} sources",
                crate::stats::proxy_key(fl.proxy_ip, fl.proxy_port),
                fl.sources,
                if fl.sources_capped { "+" } else { "" }
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
        l2.push(Span::raw(format!("  via {}", via.join(", "))));
    }
    l2.push(Span::raw(format!(
        "  packets {}  drops {}  gap bytes {}  truncated {}  decode errors {}  TLS-to-proxy {}  open {} settling {}",
        c.packets,
        drops,
        c.gap_bytes,
        c.truncated_packets,
        c.decode_errors,
        c.tls_proxy_connections,
        app.progress.open_episodes,
        app.progress.settling_episodes
    )));
    f.render_widget(Paragraph::new(vec![Line::from(l1), Line::from(l2)]), area);
}

fn draw_tiles(f: &mut Frame, app: &App, area: Rect) {
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
            "Challenges",
            app.stats.challenges().to_string(),
            Color::Cyan,
        ),
        ("Authenticated", t.authenticated.to_string(), Color::Green),
        ("Failed", t.failed.to_string(), Color::Red),
        ("Unresolved", t.unresolved.to_string(), Color::Yellow),
        ("Users failing", users, Color::Red),
        ("Median auth", median, Color::Cyan),
    ];
    let cols = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Ratio(1, 6); 6])
        .split(area);
    for ((label, value, color), r) in tiles.into_iter().zip(cols.iter()) {
        let p = Paragraph::new(vec![
            Line::from(Span::styled(
                label,
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

fn draw_causes(f: &mut Frame, app: &App, area: Rect) {
    let focused = app.focus == Focus::Causes;
    let title = if focused {
        " Failures by cause * "
    } else {
        " Failures by cause "
    };
    let block = focused_block(title, focused);
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
                Span::styled(format!("{marker}{:<17} ", c.as_str()), style),
                Span::styled("█".repeat(len.min(bar_w)), Style::new().fg(Color::Red)),
                Span::raw(format!(" {n}")),
            ])
        })
        .collect();
    if inner.height as usize > Cause::ALL.len() + 1 {
        lines.push(Line::from(Span::styled(
            format!("remedy: {}", sel.remedy()),
            Style::new().add_modifier(Modifier::ITALIC),
        )));
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
    let tl = app.stats.timeline();
    let w = (area.width as usize).saturating_sub(2 + 6);
    let start = tl.len().saturating_sub(w);
    let shown = tl.get(start..).unwrap_or(&[]);
    let title = match (shown.first(), shown.last()) {
        (Some(a), Some(b)) => format!(
            " Timeline/min {}-{} ",
            &clock(a.minute)[..5],
            &clock(b.minute)[..5]
        ),
        _ => " Timeline per minute ".to_string(),
    };
    let block = Block::default().borders(Borders::ALL).title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let ch: Vec<u64> = shown.iter().map(|r| r.challenges).collect();
    let fl: Vec<u64> = shown.iter().map(|r| r.failed).collect();
    let max = ch.iter().chain(fl.iter()).copied().max().unwrap_or(0);
    let lines = vec![
        Line::from(vec![
            Span::raw("407s  "),
            Span::styled(spark(&ch, max), Style::new().fg(Color::Cyan)),
        ]),
        Line::from(vec![
            Span::raw("fail  "),
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

fn draw_recent(f: &mut Frame, app: &App, area: Rect) {
    let focused = app.focus == Focus::Recent;
    let block = focused_block(" Recent failures ", focused);
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

fn draw_table(f: &mut Frame, app: &App, area: Rect) {
    let focused = app.focus == Focus::Table;
    let mut tabs: Vec<Span> = vec![Span::raw(" ")];
    for t in Table::ALL {
        let name = match t {
            Table::Users => "Users",
            Table::Clients => "Clients",
            Table::Proxies => "Proxies",
            Table::Targets => "Targets",
        };
        if t == app.table {
            tabs.push(Span::styled(format!("[{name}]"), BOLD));
        } else {
            tabs.push(Span::raw(format!(" {name} ")));
        }
    }
    let sort = app.sort[app.table as usize];
    tabs.push(Span::raw(format!(
        " sort: {} {} ",
        sort.col.title(app.table),
        if sort.desc { "desc" } else { "asc" }
    )));
    if !app.filter.is_empty() || app.filter_editing {
        tabs.push(Span::styled(format!("filter: {} ", app.filter), BOLD));
    }
    let rows_total = app.stats.row_count(app.table);
    tabs.push(Span::raw(format!("({}/{}) ", app.rows().len(), rows_total)));
    let block = focused_block(Line::from(tabs), focused);
    let wide = area.width >= 90;
    let cols: Vec<SortCol> = SortCol::ALL
        .iter()
        .copied()
        .filter(|c| wide || *c != SortCol::LastSeen)
        .collect();
    let header = Row::new(cols.iter().map(|c| {
        let mut t = c.title(app.table).to_string();
        if *c == sort.col {
            t.push_str(if sort.desc { " v" } else { " ^" });
        }
        Cell::from(t)
    }))
    .style(BOLD.add_modifier(Modifier::UNDERLINED));
    let rows = app
        .rows()
        .iter()
        .map(|r| Row::new(cols.iter().map(|c| Cell::from(cell_value(r, *c)))));
    let widths: Vec<Constraint> = cols
        .iter()
        .map(|c| match c {
            SortCol::Key => Constraint::Min(14),
            SortCol::Episodes => Constraint::Length(10),
            SortCol::TopCause => Constraint::Length(17),
            SortCol::LastSeen => Constraint::Length(11),
            SortCol::P50 => Constraint::Length(8),
            _ => Constraint::Length(8),
        })
        .collect();
    let table = TableWidget::new(rows, widths)
        .header(header)
        .block(block)
        .column_spacing(1)
        .highlight_symbol(">")
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = ratatui::widgets::TableState::default().with_selected(app.selected_row());
    f.render_stateful_widget(table, area, &mut state);
    if app.rows().is_empty() {
        let msg = if app.filter.is_empty() {
            "no episodes yet"
        } else {
            "no row matches the filter"
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

fn draw_drill(f: &mut Frame, app: &App, area: Rect) {
    let View::Drill(d) = &app.view else { return };
    let eps = app.drill_episodes();
    let failed = eps.iter().filter(|e| e.outcome == Outcome::Failed).count();
    let kind = match d.table {
        Table::Users => "user",
        Table::Clients => "client",
        Table::Proxies => "proxy",
        Table::Targets => "target",
    };
    // The counts are the aggregate's; the list is what the store still keeps.
    let (n, nf) = app
        .stats
        .row(d.table, &d.key)
        .map_or((eps.len() as u64, failed as u64), |r| {
            (r.episodes, r.failed)
        });
    let kept = if (eps.len() as u64) < n {
        format!("; the latest {} kept, older ones are gone", eps.len())
    } else {
        String::new()
    };
    let title = format!(
        " Episodes of {kind} {}: {n} episodes, {nf} failed{kept} (Esc: back) ",
        d.key
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(title, BOLD))
        .border_style(BOLD.fg(Color::Cyan));
    let other = match d.table {
        Table::Users => "client",
        _ => "user",
    };
    // Narrow screens drop the id and the client/user column; wide ones add the target.
    let narrow = area.width < 100;
    let wide = area.width >= 120;
    let mut cols: Vec<(&str, Constraint)> = vec![("start", Constraint::Length(8))];
    if !narrow {
        cols.push(("id", Constraint::Length(6)));
    }
    cols.extend([
        ("verdict", Constraint::Length(13)),
        ("cause", Constraint::Length(17)),
        ("detail", Constraint::Min(10)),
        ("scheme", Constraint::Length(9)),
        ("auth ms", Constraint::Length(7)),
        ("conns", Constraint::Length(5)),
    ]);
    if !narrow {
        cols.push((other, Constraint::Length(15)));
    }
    if wide {
        cols.push(("target", Constraint::Min(10)));
    }
    let header = Row::new(cols.iter().map(|c| c.0)).style(BOLD.add_modifier(Modifier::UNDERLINED));
    let rows = eps.iter().map(|e| {
        let mut cells = vec![clock(e.start_ts)];
        if !narrow {
            cells.push(e.episode_id.to_string());
        }
        cells.extend([
            e.outcome.as_str().to_string(),
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
    let text = if app.filter_editing {
        format!(
            "/ filter {}: {}_   (Enter: keep, Esc: clear)",
            app.table.as_str(),
            app.filter
        )
    } else if let Some(s) = &app.status {
        s.clone()
    } else if app.focus == Focus::Causes && app.view == View::Main {
        let c = app.selected_cause();
        format!("{}: {}", c.as_str(), c.remedy())
    } else if app.paused && app.held() > 0 {
        format!("paused: {} new episodes held (p: resume)", app.held())
    } else {
        "tab:panel  <>:table  enter:drill  /:filter  s:sort  p:pause  e:export  ?:help  q:quit"
            .into()
    };
    f.render_widget(
        Paragraph::new(Span::styled(
            text,
            Style::new().add_modifier(Modifier::REVERSED),
        )),
        area,
    );
}

/// The help screen's lines.
pub const HELP: &[(&str, &str)] = &[
    (
        "tab / shift-tab",
        "move between panels: table, causes, recent failures",
    ),
    (
        "left / right, 1-4",
        "users, clients, proxies, targets table",
    ),
    ("up / down, pgup / pgdn", "move the selection"),
    (
        "enter",
        "drill into the selected user, client, proxy or target",
    ),
    (
        "esc / backspace",
        "back from a drill-down; clear the filter",
    ),
    ("/", "filter the table by key (enter keeps, esc clears)"),
    ("s / S", "sort by the next column / reverse the order"),
    ("p", "pause (the replay waits; live episodes are held)"),
    ("+ / -", "replay faster / slower"),
    ("e", "export the current tables"),
    ("?", "this help"),
    ("q, ctrl-c", "quit"),
];

fn draw_help(f: &mut Frame, area: Rect) {
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
        .map(|(k, v)| Line::from(vec![Span::styled(format!("{k:<24}"), BOLD), Span::raw(*v)]))
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from("any key closes this help"));
    let p = Paragraph::new(lines).block(
        Block::default()
            .borders(Borders::ALL)
            .title(Span::styled(" Help: keys ", BOLD)),
    );
    f.render_widget(p, r);
}
