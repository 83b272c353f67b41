//! Connections: the canonical connection key, the bounded flow table with idle expiry in
//! packet time, client/server roles, and the two per-direction reassemblers of each
//! connection. Emits in-order stream events per side to a [`FlowHandler`]; knows nothing
//! about HTTP.
//!
//! Roles: the SYN sender is the client; without a SYN, the side talking to a proxy port;
//! else the side whose first payload looks like an HTTP request (or whose peer's first payload
//! starts with `HTTP/`).

pub mod key;
pub mod table;

pub use key::FlowKey;
pub use table::{ConnMeta, FailedAttempt, FlowHandler, FlowLimits, FlowStats, FlowTable};
