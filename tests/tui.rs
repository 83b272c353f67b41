//! The dashboard: render tests of every view on ratatui's `TestBackend` (80×24 and larger),
//! key handling (drill-down, sort, filter, pause), rotated exports, the headless sensor mode
//! and an end-to-end run of the real binary in tmux.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use proxy407::anomaly::{HttpAnomaly, ReassemblyAnomaly};
use proxy407::i18n::Lang;

#[path = "common/marks.rs"]
mod marks;
use proxy407::model::{Cause, Episode, Finding, Outcome, Ts, UserSource};
use proxy407::stats::{Stats, Table};
use proxy407::tui::app::{Action, App, Focus, SortCol, SourceKind, View};
use proxy407::tui::event::{EngineMsg, Progress};
use proxy407::tui::{export_rotated, ui};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const T0: i64 = 1_764_317_976_000_000; // 2025-11-28T08:19:36Z

#[allow(clippy::too_many_arguments)]
fn ep(
    id: u64,
    user: Option<&str>,
    client: &str,
    proxy: &str,
    outcome: Outcome,
    cause: Option<Cause>,
    at_s: i64,
    tta: Option<f64>,
) -> Episode {
    Episode {
        episode_id: id,
        start_ts: Ts(T0 + at_s * 1_000_000),
        end_ts: Ts(T0 + at_s * 1_000_000 + 500_000),
        client_ip: client.parse::<IpAddr>().unwrap(),
        proxy_ip: proxy.parse::<IpAddr>().unwrap(),
        proxy_port: 3128,
        target: "www.example.com:443".into(),
        user: user.map(String::from),
        domain: Some("CORP".into()),
        workstation: None,
        user_source: user.map(|_| UserSource::Credentials),
        scheme: Some("NTLM".into()),
        offered_schemes: vec!["NTLM".into(), "Negotiate".into()],
        challenges: 2,
        credential_attempts: 2,
        connections: 1,
        outcome,
        cause,
        detail: cause.map(|_| "rounds=3".to_string()),
        findings: if cause == Some(Cause::BadCredentials) {
            vec![Finding::LockoutRisk]
        } else {
            vec![]
        },
        final_status: Some(if outcome == Outcome::Authenticated {
            200
        } else {
            407
        }),
        time_to_auth_ms: tta,
        user_agent: Some("curl/8.5".into()),
        capture_file: String::new(),
        frames: Vec::new(),
        frame_count: 0,
        display_filter: String::new(),
    }
}

/// alice: 3 failed (bad_credentials); bob: 2 authenticated (120 ms, 300 ms);
/// carol: 1 unresolved; an unnamed client: 1 failed (proxy_unreachable).
fn sample() -> Vec<Episode> {
    let a = "10.0.0.5";
    let b = "10.0.0.6";
    let p = "10.9.9.9";
    vec![
        ep(
            1,
            Some("alice"),
            a,
            p,
            Outcome::Failed,
            Some(Cause::BadCredentials),
            0,
            None,
        ),
        ep(
            2,
            Some("bob"),
            b,
            p,
            Outcome::Authenticated,
            None,
            5,
            Some(120.0),
        ),
        ep(
            3,
            Some("alice"),
            a,
            p,
            Outcome::Failed,
            Some(Cause::BadCredentials),
            30,
            None,
        ),
        ep(
            4,
            Some("carol"),
            "10.0.0.7",
            p,
            Outcome::Unresolved,
            None,
            65,
            None,
        ),
        ep(
            5,
            Some("bob"),
            b,
            p,
            Outcome::Authenticated,
            None,
            70,
            Some(300.0),
        ),
        ep(
            6,
            Some("alice"),
            a,
            p,
            Outcome::Failed,
            Some(Cause::BadCredentials),
            90,
            None,
        ),
        ep(
            7,
            None,
            "10.0.0.8",
            "10.9.9.8",
            Outcome::Failed,
            Some(Cause::ProxyUnreachable),
            95,
            None,
        ),
    ]
}

fn app_with(episodes: Vec<Episode>) -> App {
    let mut app = App::new("office.pcap", SourceKind::Replay, Some(1.0));
    let mut progress = Progress::default();
    progress.capture.packets = 1234;
    progress.capture.first_ts = Some(Ts(T0));
    progress.capture.last_ts = Some(Ts(T0 + 100_000_000));
    app.on_engine(EngineMsg::Update {
        judged: episodes,
        settled: Vec::new(),
        transactions: Vec::new(),
        progress,
    });
    app.refresh_view();
    app
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| ui::draw(f, app)).unwrap();
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        // A wide (CJK) character covers the next cell too, which holds a blank.
        let mut skip = 0;
        for x in 0..w {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let sym = buf[(x, y)].symbol();
            skip = cells(sym).saturating_sub(1);
            out.push_str(sym);
        }
        out.push('\n');
    }
    out
}

fn line_with<'a>(s: &'a str, needle: &str) -> &'a str {
    s.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in\n{s}"))
}

/// The count at the end of a cause's bar in the causes panel.
fn cause_count(s: &str, cause: &str) -> u64 {
    let l = s
        .lines()
        .find(|l| l.split('│').nth(1).is_some_and(|p| p.contains(cause)))
        .unwrap_or_else(|| panic!("no bar for {cause} in\n{s}"));
    let panel = l.split('│').nth(1).unwrap();
    panel
        .split_whitespace()
        .last()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {panel:?}"))
}

fn key(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn press(app: &mut App, c: KeyCode) -> Action {
    app.on_key(key(c))
}

fn type_str(app: &mut App, s: &str) {
    for c in s.chars() {
        press(app, KeyCode::Char(c));
    }
}

/// The numbers under the tile labels, in order.
fn tile_values(s: &str) -> Vec<String> {
    let lines: Vec<&str> = s.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.contains("Challenges") && l.contains("Median auth"))
        .expect("tile labels");
    lines[i + 1].split_whitespace().map(String::from).collect()
}

#[test]
fn main_view_fits_80x24_with_every_panel() {
    let app = app_with(sample());
    let s = screen(&app, 80, 24);
    // Header: source, counters, capture health.
    assert!(s.contains("office.pcap"), "{s}");
    assert!(line_with(&s, "capture").contains("ok"));
    assert!(line_with(&s, "capture").contains("packets 1234"));
    // Tiles: challenges 14 (7 episodes × 2), authenticated 2, failed 4, unresolved 1,
    // users failing 1 named + unknown, median 120 ms.
    assert_eq!(
        tile_values(&s),
        vec!["14", "2", "4", "1", "1+", "120", "ms"],
        "{s}"
    );
    // Causes: every cause named, with its count.
    for c in Cause::ALL {
        assert!(s.contains(c.as_str()), "{} missing\n{s}", c.as_str());
    }
    assert_eq!(cause_count(&s, "bad_credentials"), 3);
    assert_eq!(cause_count(&s, "proxy_unreachable"), 1);
    assert_eq!(cause_count(&s, "no_credentials"), 0);
    // Timeline and recent failures.
    assert!(s.contains("Timeline"));
    assert!(line_with(&s, "407s").contains('█'));
    assert!(s.contains("Recent failures"));
    assert!(
        line_with(&s, "08:21:06").contains("alice bad_credentials"),
        "{s}"
    );
    // The users table: alice (most failures) first, selected.
    assert!(s.contains("[Users]"));
    let header = line_with(&s, "episodes");
    assert!(header.contains("failed v"), "{header}");
    let rows: Vec<&str> = s
        .lines()
        .skip_while(|l| !l.contains("failed v"))
        .skip(1)
        .take(4)
        .collect();
    assert!(rows[0].contains(">alice"), "{s}");
    let cells: Vec<&str> = rows[0].split_whitespace().collect();
    assert_eq!(&cells[1..6], ["3", "0", "3", "0", "bad_credentials"], "{s}");
    assert!(rows.iter().any(|r| r.contains("bob") && r.contains("120")));
    assert_eq!(s.lines().count(), 24);
    assert!(s.lines().last().unwrap().contains("?:help"));
}

#[test]
fn health_line_names_the_largest_anomaly() {
    let mut app = app_with(sample());
    let s = screen(&app, 80, 24);
    assert!(!line_with(&s, "capture").contains("anomaly"), "{s}");
    let mut progress = app.progress.clone();
    progress.anomalies.add(ReassemblyAnomaly::Gap);
    progress.anomalies.add_n(HttpAnomaly::BadChunk, 3);
    app.on_engine(EngineMsg::Update {
        settled: Vec::new(),
        transactions: Vec::new(),
        judged: Vec::new(),
        progress,
    });
    let s = screen(&app, 80, 24);
    let line = line_with(&s, "capture");
    assert!(line.contains("top anomaly http.bad_chunk 3"), "{s}");
    assert!(line.contains("packets 1234"), "{s}");
}

#[test]
fn health_line_names_the_tunnels_taken_off() {
    let mut app = app_with(sample());
    assert!(!line_with(&screen(&app, 80, 24), "capture").contains("via"));
    let mut progress = app.progress.clone();
    progress.capture.encapsulations.insert("vxlan".into(), 12);
    progress.capture.encapsulations.insert("erspan3".into(), 2);
    app.on_engine(EngineMsg::Update {
        settled: Vec::new(),
        transactions: Vec::new(),
        judged: Vec::new(),
        progress,
    });
    let s = screen(&app, 100, 24);
    let line = line_with(&s, "capture");
    assert!(line.contains("via erspan3 2, vxlan 12"), "{s}");
}

#[test]
fn bigger_screens_show_more() {
    let app = app_with(sample());
    let s = screen(&app, 120, 40);
    assert!(s.contains("remedy: keep-alive"), "{s}");
    assert!(line_with(&s, "episodes").contains("last seen"));
    // Tiny terminals get a message instead of a garbled screen.
    let s = screen(&app, 40, 10);
    assert!(s.contains("too small"));
}

#[test]
fn cause_selection_shows_its_remedy() {
    let mut app = app_with(sample());
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, Focus::Causes);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    assert_eq!(app.selected_cause(), Cause::BadCredentials);
    let s = screen(&app, 80, 24);
    assert!(line_with(&s, "> bad_credentials").contains("bad_credentials"));
    let footer = s.lines().last().unwrap();
    assert!(
        footer.contains("bad_credentials: check password"),
        "{footer}"
    );
}

#[test]
fn enter_drills_into_a_user_and_esc_comes_back() {
    let mut app = app_with(sample());
    assert_eq!(press(&mut app, KeyCode::Enter), Action::None);
    match &app.view {
        View::Drill(d) => {
            assert_eq!(d.table, Table::Users);
            assert_eq!(d.key, "alice");
        }
        v => panic!("expected a drill-down, got {v:?}"),
    }
    let eps = app.drill_episodes();
    assert_eq!(
        eps.iter().map(|e| e.episode_id).collect::<Vec<_>>(),
        vec![6, 3, 1],
        "newest first"
    );
    let s = screen(&app, 100, 30);
    assert!(
        s.contains("Episodes of user alice: 3 episodes, 3 failed"),
        "{s}"
    );
    let row = line_with(&s, "08:21:06");
    for want in [
        "6",
        "failed",
        "bad_credentials",
        "rounds=3",
        "NTLM",
        "10.0.0.5",
    ] {
        assert!(row.contains(want), "{want} not in {row}");
    }
    assert!(line_with(&s, "verdict").contains("conns"));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.view, View::Main);
}

#[test]
fn drill_into_a_client_and_a_proxy() {
    let mut app = app_with(sample());
    press(&mut app, KeyCode::Right);
    assert_eq!(app.table, Table::Clients);
    assert_eq!(app.rows()[0].key, "10.0.0.5");
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Enter);
    let s = screen(&app, 80, 24);
    // Second client by failures: 10.0.0.8 (1 failed, proxy_unreachable).
    assert!(s.contains("Episodes of client 10.0.0.8"), "{s}");
    assert!(s.contains("proxy_unreachable"));
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Right);
    assert_eq!(app.table, Table::Proxies);
    press(&mut app, KeyCode::Enter);
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("Episodes of proxy 10.9.9.9:3128: 6 episodes, 3 failed"),
        "{s}"
    );
}

#[test]
fn sort_cycles_columns_and_reverses() {
    let mut app = app_with(sample());
    let keys = |app: &App| app.rows().iter().map(|r| r.key.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&app)[0], "alice");
    // failed → unresolved: carol first.
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(app.sort[0].col, SortCol::Unresolved);
    assert_eq!(keys(&app)[0], "carol");
    // Cycle to the key column: names ascending.
    for _ in 0..4 {
        press(&mut app, KeyCode::Char('s'));
    }
    assert_eq!(app.sort[0].col, SortCol::Key);
    assert_eq!(keys(&app), ["(unknown)", "alice", "bob", "carol"]);
    let s = screen(&app, 80, 24);
    assert!(s.contains("sort: user asc"), "{s}");
    assert!(line_with(&s, "episodes").contains("user ^"));
    press(&mut app, KeyCode::Char('S'));
    assert_eq!(keys(&app), ["carol", "bob", "alice", "(unknown)"]);
    // The selection follows its key across re-sorts.
    press(&mut app, KeyCode::Down);
    let sel = app.rows()[app.selected_row().unwrap()].key.clone();
    assert_eq!(sel, "bob");
    press(&mut app, KeyCode::Char('S'));
    assert_eq!(app.rows()[app.selected_row().unwrap()].key, "bob");
    // p50 column: bob's 120 ms is the only one.
    press(&mut app, KeyCode::Char('s'));
    press(&mut app, KeyCode::Char('s'));
    press(&mut app, KeyCode::Char('s'));
    press(&mut app, KeyCode::Char('s'));
    press(&mut app, KeyCode::Char('s'));
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(app.sort[0].col, SortCol::P50);
    assert_eq!(keys(&app)[0], "bob");
}

#[test]
fn filter_narrows_the_table() {
    let mut app = app_with(sample());
    press(&mut app, KeyCode::Char('/'));
    assert!(app.filter_editing);
    type_str(&mut app, "BO");
    let s = screen(&app, 80, 24);
    assert!(
        s.lines().last().unwrap().contains("filter users: BO_"),
        "{s}"
    );
    press(&mut app, KeyCode::Enter);
    assert!(!app.filter_editing);
    assert_eq!(app.rows().len(), 1);
    assert_eq!(app.rows()[0].key, "bob");
    let s = screen(&app, 80, 24);
    assert!(s.contains("filter: BO"));
    assert!(s.contains("(1/4)"));
    // Keys typed into the filter are not commands: 'q' did not quit above, 's' no sort.
    press(&mut app, KeyCode::Char('/'));
    type_str(&mut app, "qs");
    assert_eq!(app.sort[0].col, SortCol::Failed);
    assert_eq!(app.rows().len(), 0);
    assert!(screen(&app, 80, 24).contains("no row matches the filter"));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.filter, "");
    assert_eq!(app.rows().len(), 4);
}

#[test]
fn pause_holds_new_episodes_until_resumed() {
    let mut app = app_with(sample());
    assert_eq!(press(&mut app, KeyCode::Char('p')), Action::Pause(true));
    assert!(screen(&app, 80, 24).contains("[PAUSED]"));
    app.on_engine(EngineMsg::Update {
        settled: Vec::new(),
        transactions: Vec::new(),
        judged: vec![ep(
            8,
            Some("dave"),
            "10.0.0.9",
            "10.9.9.9",
            Outcome::Failed,
            Some(Cause::NoCredentials),
            99,
            None,
        )],
        progress: Progress::default(),
    });
    assert_eq!(app.stats.totals().total, 7);
    assert_eq!(app.held(), 1);
    assert_eq!(press(&mut app, KeyCode::Char('p')), Action::Pause(false));
    assert_eq!(app.stats.totals().total, 8);
    assert_eq!(app.stats.failed_by(Cause::NoCredentials), 1);
    let s = screen(&app, 80, 24);
    assert!(!s.contains("[PAUSED]"));
    assert_eq!(cause_count(&s, "no_credentials"), 1);
}

#[test]
fn help_quit_export_and_speed_keys() {
    let mut app = app_with(sample());
    press(&mut app, KeyCode::Char('?'));
    let s = screen(&app, 80, 24);
    assert!(s.contains("Help: keys"), "{s}");
    assert!(s.contains("drill into the selected user"));
    assert!(s.contains("export the current tables"));
    // Any key closes the help.
    press(&mut app, KeyCode::Char('x'));
    assert!(!screen(&app, 80, 24).contains("Help: keys"));
    assert_eq!(press(&mut app, KeyCode::Char('e')), Action::Export);
    assert_eq!(
        press(&mut app, KeyCode::Char('+')),
        Action::Speed(Some(2.0))
    );
    assert!(screen(&app, 80, 24).contains("REPLAY x2"));
    assert_eq!(press(&mut app, KeyCode::Char('q')), Action::Quit);
    assert_eq!(
        app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        Action::Quit
    );
}

#[test]
fn recent_failures_drill_into_their_user() {
    let mut app = app_with(sample());
    press(&mut app, KeyCode::BackTab);
    assert_eq!(app.focus, Focus::Recent);
    // Newest failure first: the unnamed client (episode 7), then alice.
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Enter);
    assert!(matches!(&app.view, View::Drill(d) if d.key == "alice"));
}

#[test]
fn final_message_adds_the_last_episodes_and_marks_the_end() {
    let mut app = App::new("x.pcap", SourceKind::Replay, None);
    let mut first = sample();
    let last = first.split_off(first.len() - 2);
    app.on_engine(EngineMsg::Update {
        settled: Vec::new(),
        transactions: Vec::new(),
        judged: first,
        progress: Progress::default(),
    });
    app.on_engine(EngineMsg::Done {
        judged: last,
        settled: sample(),
        transactions: Vec::new(),
        progress: Progress::default(),
        notices: vec![],
    });
    app.refresh_view();
    assert!(app.finished);
    // At the end the screen shows the settled aggregate.
    assert_eq!(app.stats.totals().total, sample().len() as u64);
    assert_eq!(app.stats.totals(), app.settled.totals());
    let s = screen(&app, 80, 24);
    assert!(s.contains("[END OF CAPTURE]"), "{s}");
    let t = app.stats.totals();
    let want = [
        app.stats.challenges(),
        t.authenticated,
        t.failed,
        t.unresolved,
    ]
    .map(|n| n.to_string());
    assert_eq!(tile_values(&s)[..4], want);
}

#[test]
fn pseudonymized_dashboard_never_shows_real_names() {
    let mut app = App::new("x.pcap", SourceKind::Replay, None);
    app.pseudonymizer = Some(proxy407::pseudonym::Pseudonymizer::new("k", false));
    app.on_engine(EngineMsg::Update {
        settled: Vec::new(),
        transactions: Vec::new(),
        judged: sample(),
        progress: Progress::default(),
    });
    app.refresh_view();
    let s = screen(&app, 120, 40);
    assert!(!s.contains("alice") && !s.contains("bob"), "{s}");
    assert_eq!(app.rows().len(), 4);
}

#[test]
fn many_episodes_and_users_stay_fast() {
    // 100,000 episodes of 10,000 users: adding, sorting the visible table and drawing.
    let mut eps = Vec::with_capacity(100_000);
    for i in 0..100_000u64 {
        let u = format!("user{:05}", i % 10_000);
        let failed = i % 3 == 0;
        eps.push(ep(
            i + 1,
            Some(u.as_str()),
            &format!("10.1.{}.{}", (i % 10_000) / 250, (i % 250) + 1),
            "10.9.9.9",
            if failed {
                Outcome::Failed
            } else {
                Outcome::Authenticated
            },
            failed.then_some(Cause::BadCredentials),
            (i / 100) as i64,
            (!failed).then_some((i % 500) as f64),
        ));
    }
    let mut app = App::new("big.pcap", SourceKind::Replay, None);
    for chunk in eps.chunks(1000) {
        app.on_engine(EngineMsg::Update {
            settled: Vec::new(),
            transactions: Vec::new(),
            judged: chunk.to_vec(),
            progress: Progress::default(),
        });
    }
    app.refresh_view();
    let mut term = Terminal::new(TestBackend::new(100, 30)).unwrap();
    term.draw(|f| ui::draw(f, &app)).unwrap();
    assert_eq!(app.stats.totals().total, 100_000);
    assert_eq!(app.rows().len(), 10_000);
    assert_eq!(app.drill_episodes().len(), 0);
    press(&mut app, KeyCode::Enter);
    // The store keeps the latest episodes only: of this user's 10, the one among the last
    // 10,000; the drill-down says the others are gone.
    let View::Drill(d) = &app.view else {
        panic!("not drilled")
    };
    let kept = eps
        .iter()
        .rev()
        .take(proxy407::tui::app::KEEP_EPISODES)
        .filter(|e| e.user.as_deref() == Some(d.key.as_str()))
        .count();
    assert_eq!(app.drill_episodes().len(), kept);
    assert!(kept < 10);
    let row = app.stats.row(Table::Users, &d.key).unwrap();
    let s = screen(&app, 120, 30);
    let title = format!(
        "{} episodes, {} failed; the latest {kept} kept",
        row.episodes, row.failed
    );
    assert!(s.contains(&title), "{s}");
    // Speed at this size is measured by the `dashboard` benchmark, not here.
}

#[test]
fn exports_rotate_and_keep_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("keep-me");
    std::fs::create_dir(&other).unwrap();
    let mut written = Vec::new();
    let mut total = Stats::new();
    for e in sample() {
        total.add_episode(&e);
    }
    let mut interval = Stats::new();
    for e in sample().iter().take(2) {
        interval.add_episode(e);
    }
    for seq in 1..=4 {
        let at = Ts(1_764_000_000_000_000 + i64::try_from(seq).unwrap() * 60_000_000);
        written.push(
            export_rotated(
                &total,
                &interval,
                at,
                dir.path(),
                proxy407::export::Format::Csv,
                2,
                seq,
            )
            .unwrap(),
        );
    }
    // Named by packet time.
    let name = written[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(name, "proxy407-20251124T160100Z-0001");
    let mut left: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    left.sort();
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(left.contains(&other));
    assert!(left.contains(&written[2]) && left.contains(&written[3]));
    let users = std::fs::read_to_string(written[3].join("users.csv")).unwrap();
    assert_eq!(users.lines().count(), 5, "{users}");
    assert!(
        users.lines().nth(1).unwrap().starts_with("alice,3,0,3,0"),
        "{users}"
    );
    // The interval's tables beside: only its two episodes.
    let part = std::fs::read_to_string(written[3].join("interval/causes.csv")).unwrap();
    let sum: u64 = part
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse::<u64>().unwrap())
        .sum();
    let failed_in_interval = sample()
        .iter()
        .take(2)
        .filter(|e| e.outcome == Outcome::Failed)
        .count() as u64;
    assert_eq!(sum, failed_in_interval, "{part}");
    assert!(!written[3].join("episodes.csv").exists());
}

fn corpus_file(name: &str) -> Option<PathBuf> {
    let p = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus")).join(name);
    if p.exists() {
        return Some(p);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("corpus file {} is missing", p.display());
    }
    eprintln!("note: {} is missing; test skipped", p.display());
    None
}

const CAPTURE: &str = "sv-http-evader-455-407-no-challenge.pcap";

/// The CSV column `col` of a file, summed.
fn csv_sum(path: &Path, col: &str) -> u64 {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let i = header
        .iter()
        .position(|h| *h == col)
        .unwrap_or_else(|| panic!("{col}"));
    lines
        .map(|l| l.split(',').nth(i).unwrap().parse::<u64>().unwrap())
        .sum()
}

#[test]
fn headless_replay_rotates_exports_in_packet_time() {
    // A generated capture of about 3.3 s of packet time, replayed at full speed with an
    // export every second of packet time: the exports a live run would have written.
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("mix.pcap");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&pcap).unwrap());
    let opts = proxy407_testkit::mix::Options {
        size: 4_000_000,
        seed: 7,
        concurrency: 40,
    };
    proxy407_testkit::mix::generate(&mut file, &opts).unwrap();
    drop(file);
    let out = dir.path().join("exports");
    let o = Command::new(env!("CARGO_BIN_EXE_proxy407"))
        .arg("dashboard")
        .arg(&pcap)
        .args([
            "--headless",
            "--max-speed",
            "--export-every",
            "1s",
            "--keep",
            "100",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("proxy407: ") && stderr.contains("episodes "),
        "{stderr}"
    );
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    // One per second of packet time crossed, and the last one at the end.
    assert!((3..=5).contains(&dirs.len()), "{dirs:?}");
    for d in &dirs {
        for t in [
            "users", "clients", "proxies", "targets", "causes", "timeline",
        ] {
            for f in [
                d.join(format!("{t}.csv")),
                d.join(format!("interval/{t}.csv")),
            ] {
                let text =
                    std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
                assert!(text.lines().next().is_some_and(|h| !h.is_empty()), "{t}");
            }
        }
        let causes = std::fs::read_to_string(d.join("causes.csv")).unwrap();
        assert_eq!(causes.lines().count(), 1 + Cause::ALL.len(), "{causes}");
    }
    // Every episode is in exactly one interval, and the last cumulative tables are those of
    // `analyze` on the same capture.
    let last = dirs.last().unwrap();
    let intervals: u64 = dirs
        .iter()
        .map(|d| csv_sum(&d.join("interval/users.csv"), "episodes"))
        .sum();
    let total = csv_sum(&last.join("users.csv"), "episodes");
    assert_eq!(intervals, total);
    let a = Command::new(env!("CARGO_BIN_EXE_proxy407"))
        .args(["analyze", "--json", "--quiet"])
        .arg(&pcap)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    assert_eq!(Some(total), v["episodes"]["total"].as_u64());
    assert_eq!(
        Some(csv_sum(&last.join("causes.csv"), "episodes")),
        v["episodes"]["failed"].as_u64()
    );
    // Export options are checked.
    let o = Command::new(env!("CARGO_BIN_EXE_proxy407"))
        .arg("dashboard")
        .arg(&pcap)
        .args(["--headless", "--export-every", "1s"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--export-every needs --out"));
}

/// A tmux server of its own (its own socket), killed when the test ends.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> String {
        // -u: UTF-8 whatever the locale, so a Japanese screen reads back as it is.
        let o = Command::new("tmux")
            .arg("-u")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
    fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-t", "e2e"])
    }
    fn keys(&self, k: &str) {
        self.cmd(&["send-keys", "-t", "e2e", k]);
    }
    /// Waits until the screen shows `what` (or fails with the screen).
    fn wait_for(&self, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.screen();
            if s.contains(what) {
                return s;
            }
            assert!(Instant::now() < deadline, "{what:?} never shown:\n{s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Like [`Tmux::wait_for`], then until two captures 200 ms apart are the same: a screen
    /// whose layout is checked cell by cell, not one caught while a redraw is half written.
    fn wait_stable(&self, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut s = self.wait_for(what);
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let again = self.screen();
            if again == s && again.contains(what) {
                return again;
            }
            assert!(
                Instant::now() < deadline,
                "{what:?} never settled:\n{again}"
            );
            s = again;
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// Prints `EXIT=<status>` after the command. The quotes keep the typed line itself, which stays
/// on the screen, from containing `EXIT=`: waiting for `EXIT=` waits for the command's end.
const ECHO_EXIT: &str = r#"echo EXIT"="$?"#;

#[test]
fn dashboard_runs_in_a_terminal_and_restores_it() {
    let Some(pcap) = corpus_file(CAPTURE) else {
        return;
    };
    if Command::new("tmux").arg("-V").output().is_err() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "tmux is missing"
        );
        eprintln!("note: tmux is missing; test skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = Tmux {
        socket: format!("p407-e2e-{}", std::process::id()),
    };
    t.cmd(&[
        "new-session",
        "-d",
        "-s",
        "e2e",
        "-x",
        "100",
        "-y",
        "30",
        "-c",
        dir.path().to_str().unwrap(),
        "env PS1='READY$ ' TERM=xterm-256color sh",
    ]);
    t.wait_for("READY$");
    let line = format!(
        "{} dashboard {} --speed 100; {ECHO_EXIT}",
        env!("CARGO_BIN_EXE_proxy407"),
        pcap.display()
    );
    t.cmd(&["send-keys", "-t", "e2e", "-l", &line]);
    t.keys("Enter");
    let s = t.wait_for("[END OF CAPTURE]");
    for want in [
        "proxy407 REPLAY x100",
        // The header shortens a long file name to fit with the rates beside it.
        &CAPTURE[..14],
        "Challenges",
        "Authenticated",
        "Users failing",
        "Failures by cause",
        "bad_credentials",
        "Timeline",
        "Recent failures",
        "[Users]",
        "sort: failed desc",
    ] {
        assert!(s.contains(want), "{want:?} not on screen:\n{s}");
    }
    assert!(
        !s.contains("READY$"),
        "the alternate screen hides the shell:\n{s}"
    );
    // Sort, tables, help.
    t.keys("s");
    t.wait_for("sort: unres desc");
    t.keys("Right");
    t.wait_for("[Clients]");
    t.keys("?");
    t.wait_for("Help: keys");
    t.keys("Escape");
    let s = t.wait_for("[Clients]");
    // Drill into the first client when the capture produced an episode.
    let has_rows = !s.contains("no episodes yet");
    t.keys("Enter");
    if has_rows {
        t.wait_for("Episodes of client");
        t.keys("Escape");
    }
    t.wait_for("[Clients]");
    t.keys("q");
    let s = t.wait_for("EXIT=");
    assert!(s.contains("EXIT=0"), "{s}");
    assert!(s.contains("READY$"), "{s}");
    assert!(
        !s.contains("Failures by cause"),
        "dashboard left on screen:\n{s}"
    );
    // The terminal is back in cooked mode: a typed line runs.
    t.cmd(&["send-keys", "-t", "e2e", "-l", "echo restored-$((40+2))"]);
    t.keys("Enter");
    t.wait_for("restored-42");
}

#[test]
fn sigterm_restores_the_terminal() {
    let Some(pcap) = corpus_file(CAPTURE) else {
        return;
    };
    if Command::new("tmux").arg("-V").output().is_err() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = Tmux {
        socket: format!("p407-term-{}", std::process::id()),
    };
    t.cmd(&[
        "new-session",
        "-d",
        "-s",
        "e2e",
        "-x",
        "80",
        "-y",
        "24",
        "-c",
        dir.path().to_str().unwrap(),
        "env PS1='READY$ ' TERM=xterm-256color sh",
    ]);
    t.wait_for("READY$");
    let line = format!(
        "sh -c 'echo $$ > pid; exec {} dashboard {}'; {ECHO_EXIT}",
        env!("CARGO_BIN_EXE_proxy407"),
        pcap.display()
    );
    t.cmd(&["send-keys", "-t", "e2e", "-l", &line]);
    t.keys("Enter");
    t.wait_for("Failures by cause");
    let pid = std::fs::read_to_string(dir.path().join("pid")).unwrap();
    let st = Command::new("kill")
        .args(["-TERM", pid.trim()])
        .status()
        .unwrap();
    assert!(st.success());
    let s = t.wait_for("EXIT=");
    assert!(s.contains("EXIT=0"), "{s}");
    assert!(!s.contains("Failures by cause"), "{s}");
}

/// Display width of a screen line (a CJK character takes two cells).
fn cells(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

/// The display column where `needle` starts in `line`.
fn column_of(line: &str, needle: &str) -> Option<usize> {
    line.find(needle).map(|i| cells(&line[..i]))
}

/// The text of `line` from display column `col` on.
fn from_column(line: &str, col: usize) -> &str {
    let mut w = 0;
    for (i, ch) in line.char_indices() {
        if w >= col {
            return &line[i..];
        }
        w += unicode_width::UnicodeWidthChar::width(ch).unwrap_or(0);
    }
    ""
}

/// Nothing cut or misaligned on an 80-column screen: every line fits, every box line ends
/// on its border at column 80, the header's counters end on a whole field, and the table's
/// cells start under their headings.
fn check_80_columns(s: &str, headings: &[&str]) {
    let lines: Vec<&str> = s.lines().collect();
    for l in &lines {
        assert!(cells(l) <= 80, "wider than 80: {l:?}\n{s}");
        if l.starts_with(['┌', '│', '└']) {
            assert_eq!(
                cells(l.trim_end()),
                80,
                "a box ends early or late: {l:?}\n{s}"
            );
            assert!(
                l.trim_end().ends_with(['┐', '│', '┘']),
                "a box line is cut: {l:?}\n{s}"
            );
        }
    }
    let counters = lines[1].trim_end();
    assert!(
        counters.ends_with(|c: char| c.is_ascii_digit()) || counters.ends_with("n/a"),
        "the header's last field is cut: {counters:?}"
    );
    let (hi, head) = lines
        .iter()
        .enumerate()
        .find(|(_, l)| headings.iter().all(|h| l.contains(h)))
        .unwrap_or_else(|| panic!("no table heading with {headings:?}\n{s}"));
    let rows: Vec<&str> = lines[hi + 1..]
        .iter()
        .take_while(|l| !l.starts_with('└'))
        .filter(|l| {
            !l.trim_matches(|c: char| c == '│' || c.is_whitespace())
                .is_empty()
        })
        .copied()
        .collect();
    assert!(!rows.is_empty(), "{s}");
    for h in &headings[1..] {
        let col = column_of(head, h).unwrap();
        for r in &rows {
            let before = from_column(r, col.saturating_sub(1));
            assert!(
                before.starts_with(' ') && !from_column(r, col).starts_with(' '),
                "{r:?} is not aligned under {h:?} (column {col})\n{s}"
            );
        }
    }
}

#[test]
fn main_view_header_keeps_whole_fields() {
    let mut app = app_with(sample());
    let mut progress = app.progress.clone();
    progress.capture.packets = 123_456_789;
    progress.capture.gap_bytes = 98_765;
    progress.capture.decode_errors = 4_321;
    progress.capture.tls_proxy_connections = 77;
    progress.open_episodes = 12_345;
    app.on_engine(EngineMsg::Update {
        judged: Vec::new(),
        settled: Vec::new(),
        transactions: Vec::new(),
        progress,
    });
    app.refresh_view();
    for lang in [Lang::En, Lang::Ja] {
        app.lang = lang;
        let s = screen(&app, 80, 24);
        let header = s.lines().nth(1).unwrap().trim_end();
        assert!(cells(header) <= 80, "{lang:?}: {header:?}");
        assert!(
            header.ends_with(|c: char| c.is_ascii_digit()) || header.ends_with("n/a"),
            "{lang:?}: the header's last field is cut: {header:?}"
        );
        // The packets come first; what does not fit is left out whole.
        assert!(header.contains("123456789"), "{header}");
        let wide = screen(&app, 200, 30);
        assert!(wide.lines().nth(1).unwrap().contains("12345"), "{wide}");
    }
}

#[test]
fn findings_panel_names_the_users() {
    let mut app = app_with(sample());
    let s = screen(&app, 80, 24);
    assert!(s.contains("Recent failures (f: findings)"), "{s}");
    check_80_columns(
        &s,
        &["user", "episodes", "auth", "failed v", "unres", "top cause"],
    );
    press(&mut app, KeyCode::Char('f'));
    let s = screen(&app, 80, 24);
    assert!(s.contains("Findings (f: recent failures)"), "{s}");
    // Every finding some user shows is a line naming that user.
    let rows = app.stats.rows(Table::Users);
    let mut named = 0;
    for f in [
        Finding::CleartextBasic,
        Finding::Ntlmv1,
        Finding::NtlmFallback,
        Finding::OversizedToken,
    ] {
        if let Some(r) = rows.iter().find(|r| r.finding(f) > 0) {
            let label = proxy407::i18n::t(Lang::En, &format!("finding-{}-short", f.as_str()));
            let line = line_with(&s, label);
            assert!(line.contains(&r.key), "{f:?}: {line}");
            named += 1;
        }
    }
    for u in app.stats.lockout_users() {
        assert!(line_with(&s, "lockout risk:").contains(&u), "{s}");
        named += 1;
    }
    assert!(named > 0, "the sample shows no finding:\n{s}");
    // From 120 columns both panels are shown, and the users table has a findings column.
    let wide = screen(&app, 140, 30);
    assert!(
        wide.contains("Findings") && wide.contains("Recent failures"),
        "{wide}"
    );
    let head = line_with(&wide, "findings");
    assert!(head.contains("user"), "{head}");
    // The key column is as wide as its keys: the numbers follow the names, not the edge.
    let key_w = rows.iter().map(|r| cells(&r.key)).max().unwrap();
    let at = column_of(head, "episodes").unwrap();
    assert!(
        at <= key_w + 4,
        "episodes at column {at}, keys {key_w} wide: {head}"
    );
}

#[test]
fn dashboard_in_japanese_fits_80x24() {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "tmux is missing"
        );
        eprintln!("note: tmux is missing; test skipped");
        return;
    }
    let pcap = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/office-mix.pcap");
    let dir = tempfile::tempdir().unwrap();
    let t = Tmux {
        socket: format!("p407-ja-{}", std::process::id()),
    };
    t.cmd(&[
        "new-session",
        "-d",
        "-s",
        "e2e",
        "-x",
        "80",
        "-y",
        "24",
        "-c",
        dir.path().to_str().unwrap(),
        "env PS1='READY$ ' TERM=xterm-256color LANG=ja_JP.UTF-8 sh",
    ]);
    t.wait_for("READY$");
    // The language comes from LANG.
    let line = format!(
        "{} dashboard {} --max-speed --out out; {ECHO_EXIT}",
        env!("CARGO_BIN_EXE_proxy407"),
        pcap.display()
    );
    t.cmd(&["send-keys", "-t", "e2e", "-l", &line]);
    t.keys("Enter");
    let s = t.wait_stable("[キャプチャの終わり]");
    for want in [
        "再生 最高速",
        "チャレンジ",
        "原因別の失敗",
        "最近の失敗",
        "[ユーザー]",
        "並び順：失敗 降順",
    ] {
        assert!(s.contains(want), "{want:?} not on screen:\n{s}");
    }
    check_80_columns(
        &s,
        &[
            "ユーザー",
            "エピソード",
            "成功",
            "失敗 v",
            "未確定",
            "主な原因",
            "所見",
        ],
    );
    // The causes panel names the causes in Japanese.
    assert!(line_with(&s, "認証情報の誤り").contains('6'), "{s}");
    t.keys("f");
    let s = t.wait_stable("所見（f：最近の失敗）");
    assert!(line_with(&s, "ロックアウト危険：").contains("bob"), "{s}");
    check_80_columns(&s, &["ユーザー", "エピソード", "成功", "失敗 v", "未確定"]);
    t.keys("Right");
    let s = t.wait_stable("[クライアント]");
    check_80_columns(
        &s,
        &[
            "クライアント",
            "エピソード",
            "成功",
            "失敗 v",
            "未確定",
            "主な原因",
        ],
    );
    t.keys("?");
    let s = t.wait_for(proxy407::i18n::t(Lang::Ja, "tui-help-close"));
    for (_, id) in ui::HELP {
        assert!(s.contains(proxy407::i18n::t(Lang::Ja, id)), "{id}:\n{s}");
    }
    for l in s.lines() {
        assert!(cells(l) <= 80, "{l:?}");
    }
    t.keys("Escape");
    t.wait_for("[クライアント]");
    // e: the tables and the report, in Japanese.
    t.keys("e");
    t.wait_for("表とレポートを");
    t.keys("q");
    let s = t.wait_for("EXIT=");
    assert!(s.contains("EXIT=0"), "{s}");
    let export = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .expect("an export directory");
    assert!(export.join("users.csv").exists());
    let html = std::fs::read_to_string(export.join("report.html")).expect("report.html");
    assert!(html.contains("<html lang=\"ja\">") && html.contains("原因別の失敗"));
    assert!(!html.contains("https://") && !html.contains("http://"));
    // The capture had ended: the report's numbers are those of `analyze --json`.
    let o = Command::new(env!("CARGO_BIN_EXE_proxy407"))
        .args(["analyze", "--json", "-q", pcap.to_str().unwrap()])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let n = marks::check_marks(&html, &json, "the dashboard's report");
    assert!(n >= 30, "{n} numbers");
}

/// The drill-down shows the selected episode's evidence, and Enter opens its ladder (the
/// view `explain` prints), on a real capture's records: an NTLM handshake cut across two
/// connections; Esc goes back to the list.
#[test]
fn enter_in_a_drill_down_opens_the_episodes_ladder() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/ntlm-type3-new-connection.pcap");
    let mut cfg = proxy407::engine::EngineConfig::default();
    cfg.analysis.keep_transactions = false;
    cfg.analysis.episode_transactions = true;
    let mut src = proxy407::source::file::open_files(std::slice::from_ref(&file)).unwrap();
    let engine = proxy407::engine::Engine::new(cfg);
    let out = proxy407::driver::run(src.as_mut(), engine, &mut proxy407::driver::Batch);
    let eps = out.analysis.episodes;
    assert_eq!(eps.len(), 1);
    assert_eq!(out.analysis.transactions.len(), 3);
    assert!(out
        .analysis
        .transactions
        .iter()
        .all(|t| t.episode_id.is_some()));
    let mut app = App::new("ntlm.pcap", SourceKind::Replay, Some(1.0));
    app.on_engine(EngineMsg::Update {
        judged: eps.clone(),
        settled: Vec::new(),
        transactions: out.analysis.transactions,
        progress: Progress::default(),
    });
    app.refresh_view();
    press(&mut app, KeyCode::Enter);
    assert!(matches!(&app.view, View::Drill(d) if d.key == "dave" && !d.ladder));
    let s = screen(&app, 120, 40);
    assert!(
        s.contains(&format!("Evidence of episode #{}", eps[0].episode_id)),
        "{s}"
    );
    assert!(
        s.contains("frames:") && s.contains("4, 6, 8, 9, 14, 18"),
        "{s}"
    );
    press(&mut app, KeyCode::Enter);
    let s = screen(&app, 120, 40);
    assert!(
        s.contains("NTLM type 1") && s.contains("NTLM type 3"),
        "{s}"
    );
    assert!(s.contains("handshake_broken") && s.contains("§4.4"), "{s}");
    // A request and its response for each of the three transactions.
    let ladder = app.ladder().expect("the ladder is open");
    assert_eq!(ladder.steps.len(), 6);
    press(&mut app, KeyCode::Esc);
    assert!(matches!(&app.view, View::Drill(d) if !d.ladder));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.view, View::Main);
}
