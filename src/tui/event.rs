//! The engine thread of the dashboard and what it sends to the screen: the capture (or the
//! replay of files in packet time) runs here, apart from drawing, and hands the UI only
//! deltas: the episodes that became final since the last message and a copy of the small
//! counters.
//!
//! The channel to the UI is bounded, and the engine never waits on it while reading:
//! when it is full, final episodes are kept and sent with the next message. Only the final
//! message (the episodes that settled at [`Engine::finish`]) is sent with a blocking send,
//! once the capture has stopped.
//!
//! A replay is paced on packet time: frame `ts` is ingested at
//! `anchor_wall + (ts − anchor_ts) / speed`; while it waits, the engine is advanced to the
//! virtual packet time so that retry windows pass as they did live. Pause, speed and stop
//! come from the UI through [`Control`].

use crate::anomaly::Anomalies;
use crate::driver::{self, Flow, Step};
use crate::engine::{Engine, EngineConfig};
use crate::model::{CaptureCounters, Episode, Flood, HttpCounters, Notice, Transaction, Ts};
use crate::source::{PacketSource, SourceStats};
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
    /// Every anomaly so far, the source's included.
    pub anomalies: Anomalies,
    /// The virtual packet time of a replay (or the last packet's time).
    pub now: Option<Ts>,
    /// Episodes open, and judged but still settling (`docs/verdicts.md` §3.10).
    pub open_episodes: usize,
    pub settling_episodes: usize,
    /// Connections tracked now.
    pub tracked_connections: usize,
    /// Connection floods and scans found so far.
    pub floods: Vec<Flood>,
    /// `--records` failed: why (it writes no more).
    pub records_error: Option<String>,
}

/// What the engine thread tells the UI.
#[derive(Debug)]
pub enum EngineMsg {
    /// Episodes judged since the last message (shown at once), episodes that became final
    /// (counted for exports and the final view), transactions, and the counters.
    Update {
        judged: Vec<Episode>,
        settled: Vec<Episode>,
        /// The transactions since the last message that the screen uses: those of episodes
        /// (their ladders, [`crate::report::Ladder`], when the drill-down opens one) and
        /// those showing a request finding (counted by both aggregates).
        transactions: Vec<Transaction>,
        progress: Progress,
    },
    /// Packet time reached `at`, a multiple of `--export-every`: every episode final by
    /// then was sent before this message, none after it (the exports rotate on it).
    Boundary { at: Ts },
    /// The capture ended or was stopped: the episodes that settled at its end, with the
    /// final counters and the notices.
    Done {
        judged: Vec<Episode>,
        settled: Vec<Episode>,
        transactions: Vec<Transaction>,
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
    pub(crate) fn set_paused(&self, p: bool) {
        self.paused.store(p, Ordering::Relaxed);
    }
    pub(crate) fn paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }
    pub(crate) fn set_speed(&self, s: Option<f64>) {
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
pub(crate) fn spawn_engine(
    open: Opener,
    cfg: EngineConfig,
    replay: bool,
    export_every: Option<Duration>,
    records: Option<RecordsOut>,
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
            let every =
                export_every.map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX).max(1));
            run_engine(src, cfg, replay, every, records, &ctrl, &tx);
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

/// Transactions of episodes held for the screen while the channel is full, at most.
const MAX_UNSENT_STEPS: usize = 65_536;

/// The dashboard's sink: paces a replay on packet time, obeys pause and stop, and sends the
/// UI the episodes judged since the last message with a copy of the counters.
struct Screen<'a> {
    tx: &'a mpsc::Sender<EngineMsg>,
    ctrl: &'a Control,
    /// Pace on packet time and obey pause (files); a live source is read as packets come.
    replay: bool,
    /// Judged and final episodes not sent yet (the channel had no room, or the next flush
    /// is due).
    judged: Vec<Episode>,
    pending: Vec<Episode>,
    /// Transactions not sent yet: every one showing a request finding, and those of
    /// episodes up to [`MAX_UNSENT_STEPS`] (counted in `unsent_steps`).
    transactions: Vec<Transaction>,
    unsent_steps: usize,
    last_flush: Instant,
    source: SourceStats,
    /// (wall, packet time, speed) of the replay's last anchor.
    anchor: Option<(Instant, Ts, f64)>,
    /// The latest packet time fed.
    last_ts: Option<Ts>,
    frames: u64,
    /// `--export-every` in µs, and the packet time of the next boundary.
    every_us: Option<i64>,
    next_boundary: Option<Ts>,
    /// `--records`, and its first error (then it writes no more).
    records: Option<RecordsOut>,
    records_error: Option<String>,
}

/// `--records` on the engine thread: every final record is written (pseudonymized first
/// when asked) before it is sent to the screen.
pub(crate) struct RecordsOut {
    pub writer: crate::records::RecordsWriter,
    pub pseudonymizer: Option<crate::pseudonym::Pseudonymizer>,
}

impl Screen<'_> {
    fn write_records(&mut self, f: impl FnOnce(&mut RecordsOut) -> anyhow::Result<()>) {
        if self.records_error.is_some() {
            return;
        }
        if let Some(r) = &mut self.records {
            if let Err(e) = f(r) {
                self.records_error = Some(format!("--records: {e:#}"));
            }
        }
    }
}

impl Screen<'_> {
    /// Before the frame at `ts`: when it is past the next export boundary, the engine is
    /// advanced to the boundary, everything final by then is sent (waiting for room), then
    /// the boundary itself.
    fn boundary(&mut self, engine: &mut Engine, ts: Ts) {
        let Some(every) = self.every_us else { return };
        let next_after = |t: Ts| {
            Ts(t.0
                .div_euclid(every)
                .saturating_add(1)
                .saturating_mul(every))
        };
        let Some(next) = self.next_boundary else {
            self.next_boundary = Some(next_after(ts));
            return;
        };
        if ts < next {
            return;
        }
        if self.last_ts.is_some_and(|l| next > l) {
            engine.advance(next);
        }
        // Drained between steps, records go where the loop's would.
        engine.drain(&mut driver::Feed(self));
        let msg = self.update(engine, Some(next));
        let _ = self.tx.blocking_send(msg);
        let _ = self.tx.blocking_send(EngineMsg::Boundary { at: next });
        self.last_flush = Instant::now();
        self.next_boundary = Some(next_after(ts));
    }

    fn update(&mut self, engine: &Engine, now: Option<Ts>) -> EngineMsg {
        let (capture, http) = engine.counters();
        EngineMsg::Update {
            judged: std::mem::take(&mut self.judged),
            settled: std::mem::take(&mut self.pending),
            transactions: self.take_transactions(),
            progress: Progress {
                capture,
                http,
                source: self.source.clone(),
                anomalies: engine.anomalies(&self.source),
                now,
                open_episodes: engine.open_episodes(),
                settling_episodes: engine.settling_episodes(),
                tracked_connections: engine.tracked_connections(),
                floods: engine.floods(),
                records_error: self.records_error.clone(),
            },
        }
    }

    /// Sends the deltas without waiting; on a full channel they stay pending.
    fn flush(&mut self, engine: &mut Engine, now: Option<Ts>) {
        engine.drain(&mut driver::Feed(self));
        self.last_flush = Instant::now();
        let msg = self.update(engine, now);
        if let Err(mpsc::error::TrySendError::Full(EngineMsg::Update {
            judged,
            settled,
            transactions,
            ..
        })) = self.tx.try_send(msg)
        {
            self.judged = judged;
            self.pending = settled;
            self.unsent_steps = transactions
                .iter()
                .filter(|t| t.episode_id.is_some())
                .count();
            self.transactions = transactions;
        }
    }

    fn take_transactions(&mut self) -> Vec<Transaction> {
        self.unsent_steps = 0;
        std::mem::take(&mut self.transactions)
    }

    /// The packet time of the replay now: the anchor moved on by the wall time since, at
    /// its speed.
    fn virtual_now(anchor: (Instant, Ts, f64)) -> Ts {
        let (w0, t0, s0) = anchor;
        t0.plus_micros(micros_of(Instant::now().saturating_duration_since(w0), s0))
    }

    /// The anchor for `speed`: kept, moved to the current virtual time when the speed
    /// changed, or set at the latest packet time (not after `ts`) when there is none.
    fn anchor_for(&mut self, speed: f64, ts: Ts) -> (Instant, Ts, f64) {
        let a = match self.anchor {
            Some(a) if a.2 == speed => a,
            Some(old) => (Instant::now(), Self::virtual_now(old).min(ts), speed),
            None => (
                Instant::now(),
                self.last_ts.map_or(ts, |l| l.min(ts)),
                speed,
            ),
        };
        self.anchor = Some(a);
        a
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

impl driver::Sink for Screen<'_> {
    /// A replay waits until its virtual packet time reaches `ts`, advancing the engine to
    /// it meanwhile so that retry windows pass as they did live; paused, it waits.
    fn before_frame(&mut self, ts: Ts, engine: &mut Engine) -> Flow {
        self.boundary(engine, ts);
        let mut last_advance = Instant::now();
        loop {
            if self.ctrl.stopped() {
                return Flow::Stop;
            }
            if !self.replay {
                return Flow::Continue;
            }
            if self.ctrl.paused() {
                self.anchor = None;
                std::thread::sleep(Duration::from_millis(20));
                if self.last_flush.elapsed() >= FLUSH_EVERY {
                    self.flush(engine, self.last_ts);
                }
                continue;
            }
            let Some(speed) = self.ctrl.speed() else {
                return Flow::Continue;
            };
            let anchor = self.anchor_for(speed, ts);
            let virt = Self::virtual_now(anchor);
            if virt >= ts {
                return Flow::Continue;
            }
            let wait_us = (ts.0.saturating_sub(virt.0) as f64 / speed).clamp(0.0, 50_000.0);
            std::thread::sleep(Duration::from_micros(wait_us as u64).max(Duration::from_millis(1)));
            if last_advance.elapsed() >= ADVANCE_WHILE_WAITING {
                last_advance = Instant::now();
                let v = Self::virtual_now(anchor);
                if self.last_ts.is_some_and(|l| v > l) && v < ts {
                    engine.advance(v);
                }
            }
            if self.last_flush.elapsed() >= FLUSH_EVERY {
                self.flush(engine, Some(virt));
            }
        }
    }

    fn after_step(&mut self, engine: &mut Engine, src: &dyn PacketSource, step: Step) -> Flow {
        match step {
            Step::Frame(ts) => {
                self.last_ts = Some(ts);
                self.frames += 1;
                if self.frames % 4096 == 0 {
                    self.write_records(|r| r.writer.advance(ts, engine.held_since()));
                }
                // A live source can be quiet for long: look at the clock on every frame there.
                if (self.frames % 64 == 0 || !self.replay)
                    && self.last_flush.elapsed() >= FLUSH_EVERY
                {
                    self.source = src.stats();
                    self.flush(engine, Some(ts));
                }
            }
            // A quiet live interface: retry windows passed, and the screen shows it.
            Step::Idle(now) => {
                self.write_records(|r| r.writer.advance(now, engine.held_since()));
                self.source = src.stats();
                self.flush(engine, Some(now));
            }
        }
        if self.ctrl.stopped() {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }

    fn episode(&mut self, e: Episode) {
        self.write_records(|r| match &r.pseudonymizer {
            Some(p) => {
                let mut e = e.clone();
                crate::pseudonym::pseudonymize_episode(&mut e, p);
                r.writer.episode(&e)
            }
            None => r.writer.episode(&e),
        });
        self.pending.push(e);
    }

    fn judged(&mut self, e: Episode) {
        self.judged.push(e);
    }

    fn transaction(&mut self, t: Transaction) {
        self.write_records(|r| match &r.pseudonymizer {
            Some(p) => {
                let mut t = t.clone();
                crate::pseudonym::pseudonymize_transaction(&mut t, p);
                r.writer.transaction(&t)
            }
            None => r.writer.transaction(&t),
        });
        let step = t.episode_id.is_some() && self.unsent_steps < MAX_UNSENT_STEPS;
        if step {
            self.unsent_steps += 1;
        }
        if step || !t.findings.is_empty() {
            self.transactions.push(t);
        }
    }
}

fn run_engine(
    mut src: Box<dyn PacketSource>,
    cfg: EngineConfig,
    replay: bool,
    every_us: Option<i64>,
    records: Option<RecordsOut>,
    ctrl: &Control,
    tx: &mpsc::Sender<EngineMsg>,
) {
    if let Some(flag) = src.stop_flag() {
        ctrl.link_source(flag);
    }
    let mut screen = Screen {
        tx,
        ctrl,
        replay,
        judged: Vec::new(),
        pending: Vec::new(),
        transactions: Vec::new(),
        unsent_steps: 0,
        last_flush: Instant::now(),
        source: src.stats(),
        anchor: None,
        last_ts: None,
        frames: 0,
        every_us,
        next_boundary: None,
        records,
        records_error: None,
    };
    let mut result = driver::stream(src.as_mut(), Engine::new(cfg), &mut screen);
    if let Some(r) = screen.records.take() {
        if screen.records_error.is_none() {
            if let Err(e) = r.writer.finish() {
                screen.records_error = Some(format!("--records: {e:#}"));
            }
        }
    }
    if let Some(e) = &screen.records_error {
        result.notices.push(Notice {
            origin: "records".into(),
            offset: None,
            message: e.clone(),
        });
    }
    let progress = Progress {
        capture: result.capture,
        http: result.http,
        source: src.stats(),
        anomalies: result.anomalies,
        now: screen.last_ts,
        open_episodes: 0,
        settling_episodes: 0,
        tracked_connections: 0,
        floods: result.floods,
        records_error: screen.records_error.clone(),
    };
    // The capture is over: waiting on the UI loses nothing now.
    let _ = tx.blocking_send(EngineMsg::Done {
        judged: std::mem::take(&mut screen.judged),
        settled: std::mem::take(&mut screen.pending),
        transactions: screen.take_transactions(),
        progress,
        notices: result.notices,
    });
}
