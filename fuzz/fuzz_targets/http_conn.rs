//! One connection's HTTP state machine fed with stream events cut from the input: each
//! record is a control byte (side, kind) and a length byte, then that many bytes of data.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy407::http::HttpConn;
use proxy407::model::{Side, Ts};
use proxy407::reassembly::StreamEvent;

fuzz_target!(|data: &[u8]| {
    let mut conn = HttpConn::new();
    let mut out = Vec::new();
    let mut rest = data;
    let mut ts = Ts(1_700_000_000_000_000);
    while let [ctl, len, tail @ ..] = rest {
        let side = if ctl & 1 == 0 {
            Side::Client
        } else {
            Side::Server
        };
        let n = usize::from(*len).min(tail.len());
        let (chunk, after) = tail.split_at(n);
        let ev = match (ctl >> 1) & 7 {
            0..=4 => StreamEvent::Data(chunk),
            5 => StreamEvent::Gap(u64::from(*len)),
            6 => StreamEvent::Fin,
            _ => StreamEvent::Rst,
        };
        conn.on_stream(side, ts, ev, &mut out);
        ts = ts.plus_micros(1_000);
        rest = after;
        out.clear();
    }
    conn.finish(ts, &mut out);
    let _ = (conn.kind(), conn.proxy_signal());
});
