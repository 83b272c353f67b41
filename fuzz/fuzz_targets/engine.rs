//! The whole pipeline: the input is read as a capture file (pcap, pcapng, gzip of either)
//! through `source::file::open_reader`, every frame goes through `Engine::ingest`, then
//! `advance` to the last packet time and `finish`. Transactions are kept, and the flow limits
//! are small, so eviction, buffer caps and the analysis of every exchange are reachable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy407::engine::{Engine, EngineConfig};
use proxy407::flow::FlowLimits;
use proxy407::model::Ts;

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
    let mut engine = Engine::new(cfg);
    let mut last: Option<Ts> = None;
    let mut n = 0u32;
    while let Some(frame) = src.next_frame() {
        engine.ingest(&frame);
        last = last.max(Some(frame.ts));
        n += 1;
        if n > 100_000 {
            break;
        }
    }
    if let Some(t) = last {
        engine.advance(t);
    }
    let _ = engine.take_finished();
    let _ = engine.counters();
    engine.add_notices(src.take_notices());
    let _ = engine.finish(&src.stats());
});
