//! TCP reassembly of one direction: in-order bytes passed on without copying, out-of-order
//! segments held in a bounded buffer, retransmissions and overlaps used once, wrap-around,
//! FIN and RST, and holes that turn into counted gaps so the stream never stalls.
//!
//! No panic on any input, enforced by the compiler: clippy's `unwrap_used`, `expect_used`,
//! `indexing_slicing` and `arithmetic_side_effects` are denied here and in the submodules.
//! Sequence numbers wrap through [`SeqNumber`]'s methods; stream offsets saturate.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

pub mod assembler;
pub mod seq;

pub use assembler::{Assembler, HoleTimeouts, SegmentIn};
pub use seq::SeqNumber;

/// What one direction of a connection delivers, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamEvent<'a> {
    Data(&'a [u8]),
    /// Bytes that will never be seen (lost, or cut by the snap length).
    Gap(u64),
    Fin,
    Rst,
}
