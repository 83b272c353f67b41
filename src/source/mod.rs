//! Packet sources: capture files (pcap, pcapng, gzip, standard input, several merged by
//! time) and, with the `live` feature, a libpcap interface; and the one writer, of classic
//! pcap files (`write`, for `proxy407 extract`).
//!
//! A source hands out [`Frame`]s that borrow its own buffer (no copy on the single-file
//! path). Damage in a capture (a cut-off file, a corrupt block, a record larger than its
//! snap length) is reported as a [`Notice`] naming the file and byte offset, and reading goes
//! on with whatever can still be read. Sources know nothing about IP, TCP or HTTP.
//!
//! No panic on any input, enforced by the compiler: clippy's `unwrap_used`, `expect_used`,
//! `indexing_slicing` and `arithmetic_side_effects` are denied here and in the submodules.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

pub mod file;
#[cfg(feature = "live")]
pub mod live;
pub mod mapped;
pub mod write;

pub use mapped::SharedBytes;

use crate::anomaly::Anomalies;
use crate::model::Notice;
use crate::model::Ts;

/// A link-layer header type, as numbered by tcpdump.org's LINKTYPE_ registry.
pub type LinkType = u32;

/// One captured packet, borrowed from the source's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    pub ts: Ts,
    pub link_type: LinkType,
    /// The captured bytes (possibly fewer than `orig_len` when the snap length cut them).
    pub data: &'a [u8],
    /// The length of the packet on the wire.
    pub orig_len: u32,
    /// The memory `data` lies in, when it can be kept and read later from another thread
    /// (a mapped file's window); `None` when `data` is only valid until the next frame.
    pub shared: Option<&'a SharedBytes>,
    /// The input it came from: its index in [`PacketSource::inputs`] (0 for a single input).
    pub file: u16,
    /// Its Wireshark frame number in that input, from 1; 0 when not numbered.
    pub number: u64,
}

/// An input that could not be opened or read at all.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

/// Counters a source keeps about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceStats {
    pub files: u64,
    pub packets: u64,
    /// Captured bytes read (sum of captured lengths).
    pub bytes: u64,
    /// Packets whose captured length is smaller than their length on the wire.
    pub truncated_packets: u64,
    /// Live capture only: the kernel's counters.
    pub kernel_received: Option<u64>,
    pub kernel_dropped: Option<u64>,
    pub if_dropped: Option<u64>,
    /// Live capture only: packets captured while the queue to the analysis was full, dropped.
    pub queue_dropped: Option<u64>,
    /// Damage met, by name (only [`CaptureAnomaly`](crate::anomaly::CaptureAnomaly)s),
    /// counted past the notices' limit too.
    pub anomalies: Anomalies,
}

/// Why a live capture could not start (exit code 4). Defined here, outside the `live`
/// feature, so that error mapping works in every build.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(
        "no permission to capture on {iface} ({detail}): run as root, or allow it once with \
         `sudo setcap cap_net_raw,cap_net_admin+eip $(which proxy407)`"
    )]
    Permission { iface: String, detail: String },
    #[error("no interface named {iface:?}; available: {available} (see `proxy407 interfaces`)")]
    NoSuchInterface { iface: String, available: String },
    #[error("the capture filter {filter:?} was refused: {detail}")]
    Filter { filter: String, detail: String },
    #[error("live capture on {iface} failed: {detail}")]
    Other { iface: String, detail: String },
}

/// What a source has next: [`PacketSource::next_event`].
pub enum Next<'a> {
    Frame(Frame<'a>),
    /// A live source got no packet for a moment: its clock (the one its packets are
    /// stamped with, less a margin for packets still in the kernel's buffer) says it is at
    /// least this time now. Retry windows pass on a quiet interface as on a busy one.
    Idle(Ts),
    End,
}

/// A stream of frames.
pub trait PacketSource {
    /// The next frame, or `None` at the end (a live source returns `None` when stopped).
    /// Damage is pushed to the notices and skipped, never returned as an error here.
    fn next_frame(&mut self) -> Option<Frame<'_>>;
    /// The next frame, or (for a live source that has been quiet for a moment) the time.
    fn next_event(&mut self) -> Next<'_> {
        match self.next_frame() {
            Some(f) => Next::Frame(f),
            None => Next::End,
        }
    }
    /// The names of the inputs, as given (files in the order opened, or the interface), that
    /// [`Frame::file`] indexes; empty when the source does not name them.
    fn inputs(&self) -> Vec<String> {
        Vec::new()
    }
    /// Notices gathered since the last call.
    fn take_notices(&mut self) -> Vec<Notice>;
    fn stats(&self) -> SourceStats;
    /// Bytes consumed so far and the total, when known (for a progress bar).
    fn progress(&self) -> (u64, Option<u64>) {
        (0, None)
    }
    /// For a source whose `next_frame` may wait on the network: a flag that makes it
    /// return `None` soon once set from another thread.
    fn stop_flag(&self) -> Option<std::sync::Arc<std::sync::atomic::AtomicBool>> {
        None
    }
}
