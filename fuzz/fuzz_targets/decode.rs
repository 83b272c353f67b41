//! Link/IP/TCP decoding: the first byte picks a link type, the rest is the frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy407::model::Ts;
use proxy407::source::Frame;

/// Ethernet, null, raw, loop, Linux SLL, raw IPv4, raw IPv6, NFLOG, SLL2, and one unknown.
const LINK_TYPES: [u32; 10] = [1, 0, 101, 108, 113, 228, 229, 239, 276, 147];

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let link_type = LINK_TYPES[usize::from(first) % LINK_TYPES.len()];
    let frame = Frame {
        ts: Ts(1_700_000_000_000_000),
        link_type,
        data: rest,
        // Sometimes claim more on the wire than captured (a snap-length cut).
        orig_len: (rest.len() as u32).saturating_add(u32::from(first >> 4)),
    };
    let _ = proxy407::decode::decode(&frame);
});
