//! The one loop of a run: frames from a [`PacketSource`] into the [`Engine`], records out to
//! a [`Sink`] as they become final, the end of the input into [`Engine::finish`]. Every
//! command, the dashboard's engine thread, the tests and the benchmarks run their input
//! through [`stream`] (or [`run`], which collects the records of a small run); what differs
//! between them (a progress bar, the aggregate and record writers, pacing a replay on packet
//! time, sending deltas to a screen) is the sink. Nothing here keeps a record: memory is what
//! the engine keeps open plus what the sink keeps.
//!
//! Time is packet time: a quiet live source reports its clock ([`Next::Idle`]), and the
//! engine is advanced to it once it is past the last frame, so retry windows pass on a quiet
//! interface as on a busy one.

use crate::engine::Engine;
use crate::model::{EngineOutput, Episode, Notice, Records, Transaction, Ts};
use crate::source::{Next, PacketSource};

/// What a sink tells the loop after each step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// End the run now: the input read so far is finished as if it ended here.
    Stop,
}

/// What the loop just did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A frame was fed; the latest packet time so far.
    Frame(Ts),
    /// A quiet live source reported its clock, past the latest frame, and the engine was
    /// advanced to it.
    Idle(Ts),
}

/// Where a run's results go while it runs. Every method has a default that does nothing,
/// so a batch command implements only what it shows.
pub trait Sink {
    /// Before the frame at `ts` is fed: a paced replay waits here (and may advance the
    /// engine to its virtual time meanwhile).
    fn before_frame(&mut self, _ts: Ts, _engine: &mut Engine) -> Flow {
        Flow::Continue
    }
    /// After each step, with the source for its progress and counters.
    fn after_step(&mut self, _engine: &mut Engine, _src: &dyn PacketSource, _step: Step) -> Flow {
        Flow::Continue
    }
    /// The source's notices (file damage, a refused link type), once, when the input ends.
    fn notices(&mut self, _notices: &[Notice]) {}
    /// An episode that became final (judged and settled).
    fn episode(&mut self, _e: Episode) {}
    /// A transaction (when the engine hands them on).
    fn transaction(&mut self, _t: Transaction) {}
    /// A copy of an episode at its verdict (with `previews`), before it settles.
    fn judged(&mut self, _e: Episode) {}
}

/// A sink that only waits for the end: tests, benchmarks and batch commands without a
/// progress display.
pub struct Batch;

impl Sink for Batch {}

/// A sink's record methods as the engine's [`Records`] (the loop's drains, and a sink that
/// drains the engine itself between steps).
pub(crate) struct Feed<'a, S: ?Sized>(pub(crate) &'a mut S);

impl<S: Sink + ?Sized> Records for Feed<'_, S> {
    fn episode(&mut self, e: Episode) {
        self.0.episode(e);
    }
    fn transaction(&mut self, t: Transaction) {
        self.0.transaction(t);
    }
    fn judged(&mut self, e: Episode) {
        self.0.judged(e);
    }
}

/// `sink` with every record also collected.
struct Collect<'a, S: ?Sized> {
    inner: &'a mut S,
    records: crate::model::AnalysisOutput,
}

impl<S: Sink + ?Sized> Sink for Collect<'_, S> {
    fn before_frame(&mut self, ts: Ts, engine: &mut Engine) -> Flow {
        self.inner.before_frame(ts, engine)
    }
    fn after_step(&mut self, engine: &mut Engine, src: &dyn PacketSource, step: Step) -> Flow {
        self.inner.after_step(engine, src, step)
    }
    fn notices(&mut self, notices: &[Notice]) {
        self.inner.notices(notices);
    }
    fn episode(&mut self, e: Episode) {
        self.records.episodes.push(e);
    }
    fn transaction(&mut self, t: Transaction) {
        self.records.transactions.push(t);
    }
}

/// Reads `src` to its end through `engine` like [`stream`], and returns the output with
/// every record collected in `analysis` (episodes in order of start time), for runs small
/// enough to hold them: tests, benchmarks, the `transactions` of a test capture.
pub fn run<S: Sink + ?Sized>(
    src: &mut dyn PacketSource,
    engine: Engine,
    sink: &mut S,
) -> EngineOutput {
    let mut c = Collect {
        inner: sink,
        records: crate::model::AnalysisOutput::default(),
    };
    let mut out = stream(src, engine, &mut c);
    let mut records = c.records;
    // Sorting keys and then moving each (large) episode once beats moving them while sorting.
    records
        .episodes
        .sort_by_cached_key(|e| (e.start_ts, e.episode_id));
    out.analysis = records;
    out
}

/// Reads `src` to its end (or until the sink stops the run) through `engine`, handing every
/// record to the sink as it becomes final, and returns the finished counters: every episode
/// judged, settled and handed on, the source's notices kept with the engine's own. The
/// output's `analysis` is empty.
pub fn stream<S: Sink + ?Sized>(
    src: &mut dyn PacketSource,
    mut engine: Engine,
    sink: &mut S,
) -> EngineOutput {
    let mut last_ts: Option<Ts> = None;
    engine.set_inputs(src.inputs());
    loop {
        let step = match src.next_event() {
            Next::Frame(frame) => {
                if sink.before_frame(frame.ts, &mut engine) == Flow::Stop {
                    break;
                }
                engine.ingest(&frame);
                let ts = last_ts.map_or(frame.ts, |l| l.max(frame.ts));
                last_ts = Some(ts);
                Step::Frame(ts)
            }
            Next::Idle(now) => match last_ts {
                Some(l) if now > l => {
                    engine.advance(now);
                    Step::Idle(now)
                }
                _ => continue,
            },
            Next::End => break,
        };
        engine.drain(&mut Feed(&mut *sink));
        if sink.after_step(&mut engine, &*src, step) == Flow::Stop {
            break;
        }
    }
    let notices = src.take_notices();
    sink.notices(&notices);
    engine.add_notices(notices);
    engine.finish(&src.stats(), &mut Feed(sink))
}
