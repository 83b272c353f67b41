//! The engine thread of the dashboard and what it sends to the screen: the capture (or the
//! replay of files in packet time) runs here, apart from drawing, and hands the UI only
//! deltas: the episodes judged since the last message and a copy of the small counters.
//!
//! The channel to the UI is bounded, and the engine never waits on it while reading:
//! when it is full, judged episodes are kept and sent with the next message. Only the final
//! message (the complete, attributed list of episodes after [`Engine::finish`]) is sent
//! with a blocking send, once the capture has stopped.
//!
//! A replay is paced on packet time: frame `ts` is ingested at
//! `anchor_wall + (ts − anchor_ts) / speed`; while it waits, the engine is advanced to the
//! virtual packet time so that retry windows pass as they did live. Pause, speed and stop
//! come from the UI through [`Control`].

use crate::engine::{Engine, EngineConfig};
use crate::model::{CaptureCounters, Episode, HttpCounters, Notice, Ts};
use crate::source::{Next, PacketSource, SourceStats};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Messages kept in the channel to the UI before the engine holds its deltas back.
pub const CHANNEL_CAPACITY: usize = 64;
/// How often (wall time) the engine sends what it has.
const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// How often a waiting replay advances the engine to the virtual packet time.
const ADVANCE_WHILE_WAITING: Duration = Duration::from_millis(250);

/// Counters of the run so far (small; copied into every message).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Progress {
    pub capture: CaptureCounters,
    pub http: HttpCounters,
    pub source: SourceStats,
    /// The virtual packet time of a replay (or the last packet's time).
    pub now: Option<Ts>,
}

/// What the engine thread tells the UI.
#[derive(Debug)]
pub enum EngineMsg {
    /// Episodes judged since the last message, and the counters.
    Update {
        episodes: Vec<Episode>,
        progress: Progress,
    },
    /// The capture ended or was stopped: every episode of the run (attributed, final),
    /// replacing what was sent before, with the final counters and the notices.
    Done {
        episodes: Vec<Episode>,
        progress: Progress,
        notices: Vec<Notice>,
    },
}

/// Shared switches from the UI to the engine thread.
#[derive(Debug)]
pub struct Control {
    stop: AtomicBool,
    /// The source's own stop switch, when it can wait on the network (live capture).
    source_stop: std::sync::Mutex<Option<Arc<AtomicBool>>>,
    paused: AtomicBool,
    /// `f64` bits of the replay speed; 0 means as fast as possible.
    speed: AtomicU64,
}

impl Control {
    /// `speed`: packet seconds per wall second, `None` for as fast as possible.
    pub fn new(speed: Option<f64>) -> Arc<Control> {
        let c = Control {
            stop: AtomicBool::new(false),
            source_stop: std::sync::Mutex::new(None),
            paused: AtomicBool::new(false),
            speed: AtomicU64::new(0),
        };
        c.set_speed(speed);
        Arc::new(c)
    }
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Ok(Some(f)) = self.source_stop.lock().as_deref() {
            f.store(true, Ordering::Relaxed);
        }
    }
    /// Stopping also stops the source (so a quiet live interface does not hold it up).
    fn link_source(&self, flag: Arc<AtomicBool>) {
        if self.stopped() {
            flag.store(true, Ordering::Relaxed);
        }
        if let Ok(mut slot) = self.source_stop.lock() {
            *slot = Some(flag);
        }
    }
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
    pub fn set_paused(&self, p: bool) {
        self.paused.store(p, Ordering::Relaxed);
    }
    pub fn paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }
    pub fn set_speed(&self, s: Option<f64>) {
        let v = match s {
            Some(x) if x.is_finite() && x > 0.0 => x,
            _ => 0.0,
        };
        self.speed.store(v.to_bits(), Ordering::Relaxed);
    }
    /// `None`: as fast as possible.
    pub fn speed(&self) -> Option<f64> {
        let v = f64::from_bits(self.speed.load(Ordering::Relaxed));
        (v > 0.0).then_some(v)
    }
}

/// A source opener run on the engine thread (file sources are not `Send`).
pub type Opener = Box<dyn FnOnce() -> anyhow::Result<Box<dyn PacketSource>> + Send>;

/// Starts the engine thread. Returns once the source is open (or failed to open), with the
/// thread's handle. `replay`: pace on packet time and obey pause (files); otherwise read
/// as fast as packets come (live).
pub fn spawn_engine(
    open: Opener,
    cfg: EngineConfig,
    replay: bool,
    ctrl: Arc<Control>,
    tx: mpsc::Sender<EngineMsg>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<anyhow::Result<()>>(1);
    let handle = std::thread::Builder::new()
        .name("proxy407-engine".into())
        .spawn(move || {
            let src = match open() {
                Ok(s) => {
                    let _ = ready_tx.send(Ok(()));
                    s
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            run_engine(src, cfg, replay, &ctrl, &tx);
        })?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(e)) => {
            let _ = handle.join();
            Err(e)
        }
        Err(_) => anyhow::bail!("the engine thread ended before opening the source"),
    }
}

struct Sender<'a> {
    tx: &'a mpsc::Sender<EngineMsg>,
    pending: Vec<Episode>,
    last: Instant,
    source: SourceStats,
}

impl Sender<'_> {
    /// Sends the deltas without waiting; on a full channel they stay pending.
    fn flush(&mut self, engine: &mut Engine, now: Option<Ts>) {
        self.pending.extend(engine.take_finished());
        self.last = Instant::now();
        let (capture, http) = engine.counters();
        let msg = EngineMsg::Update {
            episodes: std::mem::take(&mut self.pending),
            progress: Progress {
                capture,
                http,
                source: self.source.clone(),
                now,
            },
        };
        if let Err(mpsc::error::TrySendError::Full(EngineMsg::Update { episodes, .. })) =
            self.tx.try_send(msg)
        {
            self.pending = episodes;
        }
    }
}

fn micros_of(d: Duration, speed: f64) -> i64 {
    let v = d.as_secs_f64() * speed * 1e6;
    if v.is_finite() {
        v.min(i64::MAX as f64 / 2.0) as i64
    } else {
        0
    }
}

fn run_engine(
    mut src: Box<dyn PacketSource>,
    cfg: EngineConfig,
    replay: bool,
    ctrl: &Control,
    tx: &mpsc::Sender<EngineMsg>,
) {
    if let Some(flag) = src.stop_flag() {
        ctrl.link_source(flag);
    }
    let mut engine = Engine::new(cfg);
    let mut out = Sender {
        tx,
        pending: Vec::new(),
        last: Instant::now(),
        source: src.stats(),
    };
    // (wall, packet time, speed) of the replay's last anchor.
    let mut anchor: Option<(Instant, Ts, f64)> = None;
    let mut last_ts: Option<Ts> = None;
    let mut frames: u64 = 0;
    loop {
        if ctrl.stopped() {
            break;
        }
        if replay && ctrl.paused() {
            anchor = None;
            std::thread::sleep(Duration::from_millis(20));
            if out.last.elapsed() >= FLUSH_EVERY {
                out.flush(&mut engine, last_ts);
            }
            continue;
        }
        let frame = match src.next_event() {
            Next::Frame(frame) => frame,
            // A quiet live interface: retry windows pass, and the screen shows it.
            Next::Idle(now) => {
                if last_ts.is_some_and(|l| now > l) {
                    engine.advance(now);
                    out.source = src.stats();
                    out.flush(&mut engine, Some(now));
                }
                continue;
            }
            Next::End => break,
        };
        let ts = frame.ts;
        if replay {
            let mut last_advance = Instant::now();
            while let Some(speed) = ctrl.speed() {
                if ctrl.stopped() {
                    break;
                }
                if ctrl.paused() {
                    anchor = None;
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
                let now = Instant::now();
                let (w0, t0, s0) = match anchor {
                    Some(a) if a.2 == speed => a,
                    Some((w0, t0, s0)) => {
                        // Speed changed: re-anchor at the current virtual time.
                        let v = t0.plus_micros(micros_of(now.saturating_duration_since(w0), s0));
                        let a = (now, v.min(ts), speed);
                        anchor = Some(a);
                        a
                    }
                    None => {
                        let a = (now, last_ts.map_or(ts, |l| l.min(ts)), speed);
                        anchor = Some(a);
                        a
                    }
                };
                let virt = t0.plus_micros(micros_of(now.saturating_duration_since(w0), s0));
                if virt >= ts {
                    break;
                }
                let wait_us = (ts.since(virt) as f64 / s0).clamp(0.0, 50_000.0);
                std::thread::sleep(
                    Duration::from_micros(wait_us as u64).max(Duration::from_millis(1)),
                );
                if last_advance.elapsed() >= ADVANCE_WHILE_WAITING {
                    last_advance = Instant::now();
                    let v =
                        t0.plus_micros(micros_of(Instant::now().saturating_duration_since(w0), s0));
                    if last_ts.is_some_and(|l| v > l) && v < ts {
                        engine.advance(v);
                    }
                }
                if out.last.elapsed() >= FLUSH_EVERY {
                    out.flush(&mut engine, Some(virt));
                }
            }
            if ctrl.stopped() {
                break;
            }
        }
        engine.ingest(&frame);
        if last_ts.is_none_or(|l| ts > l) {
            last_ts = Some(ts);
        }
        frames += 1;
        // A live source can be quiet for long: look at the clock on every frame there.
        if (frames % 64 == 0 || !replay) && out.last.elapsed() >= FLUSH_EVERY {
            out.source = src.stats();
            out.flush(&mut engine, last_ts);
        }
    }
    let notices = src.take_notices();
    let source = src.stats();
    engine.add_notices(notices);
    let result = engine.finish(&source);
    let progress = Progress {
        capture: result.capture,
        http: result.http,
        source,
        now: last_ts,
    };
    // The capture is over: waiting on the UI loses nothing now.
    let _ = tx.blocking_send(EngineMsg::Done {
        episodes: result.analysis.episodes,
        progress,
        notices: result.notices,
    });
}
