//! The dashboard at size: 100,000 episodes of 10,000 users added to the screen's state, the
//! visible table sorted by another column, and one 120×40 frame drawn. `cargo bench --bench dashboard`.

use criterion::{criterion_group, criterion_main, Criterion};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use proxy407::model::{Cause, Episode, Outcome, Ts, UserSource};
use proxy407::tui::app::{App, SourceKind};
use proxy407::tui::event::{EngineMsg, Progress};
use proxy407::tui::ui;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::net::{IpAddr, Ipv4Addr};

const T0: i64 = 1_764_317_976_000_000;

fn episodes(n: u64, users: u64) -> Vec<Episode> {
    (0..n)
        .map(|i| {
            let failed = i % 3 == 0;
            let host = (i % users) as u32;
            Episode {
                episode_id: i + 1,
                start_ts: Ts(T0 + (i as i64) * 10_000),
                end_ts: Ts(T0 + (i as i64) * 10_000 + 5_000),
                client_ip: IpAddr::V4(Ipv4Addr::from(0x0a01_0000 + host)),
                proxy_ip: IpAddr::V4(Ipv4Addr::new(10, 9, 9, 9)),
                proxy_port: 3128,
                target: format!("site{}.example.com:443", i % 500),
                user: Some(format!("user{:05}", i % users)),
                domain: Some("CORP".into()),
                workstation: None,
                user_source: Some(UserSource::Credentials),
                scheme: Some("NTLM".into()),
                offered_schemes: vec!["NTLM".into(), "Negotiate".into()],
                challenges: 2,
                credential_attempts: 2,
                connections: 1,
                outcome: if failed {
                    Outcome::Failed
                } else {
                    Outcome::Authenticated
                },
                cause: failed.then_some(Cause::BadCredentials),
                detail: None,
                findings: Vec::new(),
                final_status: Some(if failed { 407 } else { 200 }),
                time_to_auth_ms: (!failed).then_some((i % 500) as f64),
                user_agent: Some("bench/1".into()),
                capture_file: String::new(),
                frames: Vec::new(),
                frame_count: 0,
                display_filter: String::new(),
            }
        })
        .collect()
}

fn app_with(eps: &[Episode]) -> App {
    let mut app = App::new("bench.pcap", SourceKind::Replay, None);
    for chunk in eps.chunks(1000) {
        app.on_engine(EngineMsg::Update {
            settled: Vec::new(),
            transactions: Vec::new(),
            judged: chunk.to_vec(),
            progress: Progress::default(),
        });
    }
    app
}

fn dashboard(c: &mut Criterion) {
    let eps = episodes(100_000, 10_000);
    let mut g = c.benchmark_group("dashboard");
    g.sample_size(10);
    g.bench_function("add 100k episodes of 10k users", |b| {
        b.iter(|| app_with(&eps))
    });
    let mut app = app_with(&eps);
    let sort_key = KeyEvent::new(KeyCode::Char('s'), KeyModifiers::NONE);
    g.bench_function("sort the visible table by the next column", |b| {
        b.iter(|| {
            app.on_key(sort_key);
            app.refresh_view();
        })
    });
    let mut term = match Terminal::new(TestBackend::new(120, 40)) {
        Ok(t) => t,
        Err(e) => panic!("test backend: {e}"),
    };
    g.bench_function("draw a 120x40 frame", |b| {
        b.iter(|| term.draw(|f| ui::draw(f, &app)).map(|_| ()))
    });
    g.finish();
}

criterion_group!(benches, dashboard);
criterion_main!(benches);
