//! The test kit of proxy407: writes the captures and messages its tests and benchmarks read
//! (and a fuzz seed, see `fuzz/README.md`), one emitter per wire format, and the mirror-port
//! mix generator (`gen-mix`). It is not part of the product: `cargo install --path .` at the
//! repository root installs `proxy407` alone. Nothing here reads captures, and nothing here
//! depends on proxy407: its tests turn the kit's values into proxy407's where they need to.
//!
//! - `pcap`: pcap (µs, ns) and pcapng files; `frame`: link, IPv4/IPv6 and TCP headers with
//!   checksums; `tcp`: conversations and capture-point transforms;
//! - `http`: message heads; `ntlm`: NTLMSSP; `der`, `spnego`, `kerberos`: Negotiate tokens;
//!   `basic_digest`: Basic and Digest header values; `tls`: the records a tunnel starts with;
//! - `rng`, `time`: seeded generators, timestamps and dates; `mix`: the generated mirror-port
//!   traffic of a corporate network.

pub mod basic_digest;
pub mod der;
pub mod frame;
pub mod http;
pub mod kerberos;
pub mod mix;
pub mod ntlm;
pub mod pcap;
pub mod rng;
pub mod spnego;
pub mod tcp;
pub mod time;
pub mod tls;

pub use frame::LinkKind;
pub use pcap::{CaptureWriter, Resolution};
pub use tcp::{
    cut_payloads, drop_packets, duplicate, duplicate_random, merge, reorder, resegment_overlapping,
    Packet, TcpConv, TcpFlags,
};
pub use time::Ts;
