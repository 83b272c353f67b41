//! The one loop of a run: frames from a [`PacketSource`] into the [`Engine`], judged
//! episodes out to a [`Sink`], the end of the input into [`Engine::finish`]. Every command,
//! the dashboard's engine thread, the tests and the benchmarks run their input through
//! [`run`]; what differs between them (a progress bar, pacing a replay on packet time,
//! sending deltas to a screen) is the sink.
//!
//! Time is packet time: a quiet live source reports its clock ([`Next::Idle`]), and the
//! engine is advanced to it once it is past the last frame, so retry windows pass on a quiet
//! interface as on a busy one.

use crate::engine::Engine;
use crate::model::{EngineOutput, Notice, Ts};
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
}

/// A sink that only waits for the end: tests, benchmarks and batch commands without a
/// progress display.
pub struct Batch;

impl Sink for Batch {}

/// Reads `src` to its end (or until the sink stops the run) through `engine`, and returns
/// the finished output: every episode judged and attributed, counters complete, the
/// source's notices kept with the engine's own.
pub fn run<S: Sink + ?Sized>(
    src: &mut dyn PacketSource,
    mut engine: Engine,
    sink: &mut S,
) -> EngineOutput {
    let mut last_ts: Option<Ts> = None;
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
        if sink.after_step(&mut engine, &*src, step) == Flow::Stop {
            break;
        }
    }
    let notices = src.take_notices();
    sink.notices(&notices);
    engine.add_notices(notices);
    engine.finish(&src.stats())
}
