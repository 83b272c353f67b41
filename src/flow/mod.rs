//! Connections: the canonical connection key, the bounded flow table with idle expiry in
//! packet time, client/server roles, and the two per-direction reassemblers of each
//! connection. Emits in-order stream events per side to a [`FlowHandler`]; knows nothing
//! about HTTP.
//!
//! Roles are decided once, when the first stream event must be delivered (or at a SYN or
//! SYN-ACK), and never flipped: the sender of a SYN without ACK is the client; else the
//! sender of a SYN-ACK is the server; else an endpoint on a proxy port (when only one is) is
//! the server; else the side whose first payload begins with an HTTP method token is the
//! client, or the side whose first payload begins with `HTTP/1.` is the server; else the
//! lower port is the server's.
//!
//! [`shard`] says which client a segment belongs to from its four-tuple alone, and which share
//! of the clients (`--shard`, the engine's threads).
//!
//! Limits (all in packet time, all counted in `FlowStats`): a maximum of connections (the
//! least recently active is evicted), idle expiry, a linger after both FINs or a RST,
//! per-stream and total out-of-order buffer caps, and time bounds on holes.
//!
//! No panic on any input, enforced by the compiler: clippy's `unwrap_used`, `expect_used`,
//! `indexing_slicing` and `arithmetic_side_effects` are denied here and in the submodules.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

pub mod key;
pub mod shard;
pub mod table;

pub use key::FlowKey;
pub use shard::Shard;
pub use table::{ConnMeta, FailedAttempt, FlowHandler, FlowLimits, FlowStats, FlowTable};
