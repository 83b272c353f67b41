//! The one capture writer: a classic pcap file (`proxy407 extract`), microsecond timestamps,
//! one link type, each packet's captured bytes and its length on the wire kept as read.

use super::{Frame, LinkType};
use std::io::Write;

/// The snap length written in the file header.
const SNAPLEN: u32 = 262_144;

/// Writes frames as a classic pcap (little-endian, microseconds) to `out`.
pub struct PcapWriter<W: Write> {
    out: W,
    link_type: Option<LinkType>,
    written: u64,
}

impl<W: Write> PcapWriter<W> {
    pub fn new(out: W) -> Self {
        PcapWriter {
            out,
            link_type: None,
            written: 0,
        }
    }

    /// One packet; the first fixes the file's link type, and a packet of another is refused
    /// (a classic pcap holds one).
    pub fn write(&mut self, f: &Frame<'_>) -> std::io::Result<()> {
        match self.link_type {
            None => {
                self.link_type = Some(f.link_type);
                let mut h = Vec::with_capacity(24);
                h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
                h.extend_from_slice(&2u16.to_le_bytes());
                h.extend_from_slice(&4u16.to_le_bytes());
                h.extend_from_slice(&0i32.to_le_bytes());
                h.extend_from_slice(&0u32.to_le_bytes());
                h.extend_from_slice(&SNAPLEN.to_le_bytes());
                h.extend_from_slice(&f.link_type.to_le_bytes());
                self.out.write_all(&h)?;
            }
            Some(l) if l != f.link_type => {
                return Err(std::io::Error::other(format!(
                    "the packets have link types {l} and {}: a pcap file holds one",
                    f.link_type
                )));
            }
            Some(_) => {}
        }
        let secs = u32::try_from(f.ts.secs()).map_err(|_| {
            std::io::Error::other(format!(
                "packet time {} is outside the range of a pcap file",
                f.ts
            ))
        })?;
        let micros = u32::try_from(f.ts.0.rem_euclid(1_000_000)).unwrap_or(0);
        let caplen = u32::try_from(f.data.len())
            .map_err(|_| std::io::Error::other("a packet larger than 4 GiB"))?;
        let mut r = Vec::with_capacity(16);
        r.extend_from_slice(&secs.to_le_bytes());
        r.extend_from_slice(&micros.to_le_bytes());
        r.extend_from_slice(&caplen.to_le_bytes());
        r.extend_from_slice(&f.orig_len.max(caplen).to_le_bytes());
        self.out.write_all(&r)?;
        self.out.write_all(f.data)?;
        self.written = self.written.saturating_add(1);
        Ok(())
    }

    /// Packets written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Flushes and hands back the output.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}
