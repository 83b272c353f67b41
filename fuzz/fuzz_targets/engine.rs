//! The whole pipeline: the input is read as a capture file (pcap, pcapng, gzip of either)
//! through `source::file::open_reader`, then the driver's loop as every command runs it
//! (`Engine::ingest` per frame, the records streamed to the sink and the counters read on the
//! way, `finish` at the end). Transactions are kept, and the flow limits are small, so
//! eviction, buffer caps and the analysis of every exchange are reachable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy407::driver::{Flow, Sink, Step};
use proxy407::engine::{Engine, EngineConfig};
use proxy407::flow::FlowLimits;
use proxy407::source::PacketSource;

fuzz_target!(|data: &[u8]| {
    let reader = Box::new(std::io::Cursor::new(data.to_vec()));
    let Ok(mut src) = proxy407::source::file::open_reader("fuzz", reader) else {
        return;
    };
    let mut cfg = EngineConfig {
        flow: FlowLimits {
            max_connections: 64,
            max_buffered_per_stream: 64 << 10,
            max_buffered_total: 256 << 10,
            ..FlowLimits::default()
        },
        ..EngineConfig::default()
    };
    cfg.analysis.keep_transactions = true;
    cfg.analysis.max_open_episodes = 16;
    cfg.analysis.max_tracked_users = 16;
    let mut sink = Bounded(0);
    let _ = proxy407::driver::stream(src.as_mut(), Engine::new(cfg), &mut sink);
});

/// Reads what a live view reads now and then, and stops after 100,000 steps.
struct Bounded(u32);

impl Sink for Bounded {
    fn after_step(&mut self, engine: &mut Engine, _: &dyn PacketSource, _: Step) -> Flow {
        self.0 += 1;
        if self.0 == 1 || self.0 % 1024 == 0 {
            let _ = engine.counters();
            let _ = engine.floods();
        }
        if self.0 > 100_000 {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
}
