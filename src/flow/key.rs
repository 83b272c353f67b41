//! The canonical connection key: the same for both directions of a connection.

use std::net::IpAddr;

/// (lower endpoint, higher endpoint), ordered so both directions give the same key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub a: (IpAddr, u16),
    pub b: (IpAddr, u16),
}

impl FlowKey {
    /// The key and whether (src, dst) is the a→b direction.
    pub fn new(src: (IpAddr, u16), dst: (IpAddr, u16)) -> (FlowKey, bool) {
        if src <= dst {
            (FlowKey { a: src, b: dst }, true)
        } else {
            (FlowKey { a: dst, b: src }, false)
        }
    }
}
