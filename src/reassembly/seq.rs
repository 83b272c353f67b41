//! A wrapping TCP sequence number.

/// A TCP sequence number; comparisons are modulo 2^32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeqNumber(pub u32);
