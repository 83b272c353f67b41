//! Capture files: the classic pcap file and record headers (µs or ns timestamps) and the
//! pcapng section header, interface description and enhanced packet blocks, all
//! little-endian; [`CaptureWriter`] writes whole files of [`Packet`]s or raw frames. It does
//! not read captures.

use crate::frame::LinkKind;
use crate::tcp::Packet;
use crate::time::Ts;
use std::io::{self, Write};

/// Timestamp resolution of a capture file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    Micro,
    Nano,
}

/// The snap length every file header announces.
pub const SNAPLEN: u32 = 262_144;

/// The 24-byte pcap file header.
pub fn file_header(link_type: u32, res: Resolution) -> [u8; 24] {
    let magic: u32 = match res {
        Resolution::Micro => 0xa1b2_c3d4,
        Resolution::Nano => 0xa1b2_3c4d,
    };
    let mut h = [0u8; 24];
    h[0..4].copy_from_slice(&magic.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    // thiszone and sigfigs stay 0.
    h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
    h[20..24].copy_from_slice(&link_type.to_le_bytes());
    h
}

/// The 16-byte pcap record header of a frame of `caplen` captured bytes out of `orig`.
pub fn record_header(ts: Ts, caplen: u32, orig: u32, res: Resolution) -> [u8; 16] {
    let secs = ts.0.div_euclid(1_000_000);
    let micros = ts.0.rem_euclid(1_000_000);
    let frac = match res {
        Resolution::Micro => micros,
        Resolution::Nano => micros * 1000,
    };
    let mut h = [0u8; 16];
    h[0..4].copy_from_slice(&(secs as u32).to_le_bytes());
    h[4..8].copy_from_slice(&(frac as u32).to_le_bytes());
    h[8..12].copy_from_slice(&caplen.to_le_bytes());
    h[12..16].copy_from_slice(&orig.to_le_bytes());
    h
}

/// A pcapng block of type `ty`: its total length, the body padded to 4 bytes, the total
/// length again.
pub fn block(ty: u32, body: &[u8]) -> Vec<u8> {
    let pad = (4 - body.len() % 4) % 4;
    let total = (12 + body.len() + pad) as u32;
    let mut b = Vec::with_capacity(total as usize);
    b.extend_from_slice(&ty.to_le_bytes());
    b.extend_from_slice(&total.to_le_bytes());
    b.extend_from_slice(body);
    b.extend(std::iter::repeat_n(0u8, pad));
    b.extend_from_slice(&total.to_le_bytes());
    b
}

/// A pcapng section header block (version 1.0, section length unknown).
pub fn section_header() -> Vec<u8> {
    let mut body = Vec::with_capacity(16);
    body.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&(-1i64).to_le_bytes());
    block(0x0a0d_0d0a, &body)
}

/// A pcapng interface description block with an `if_tsresol` option.
pub fn interface_description(link_type: u32, res: Resolution) -> Vec<u8> {
    let tsresol: u8 = match res {
        Resolution::Micro => 6,
        Resolution::Nano => 9,
    };
    let mut body = Vec::with_capacity(20);
    body.extend_from_slice(&(link_type as u16).to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&SNAPLEN.to_le_bytes());
    body.extend_from_slice(&9u16.to_le_bytes());
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&[tsresol, 0, 0, 0]);
    body.extend_from_slice(&0u32.to_le_bytes()); // opt_endofopt
    block(1, &body)
}

/// Appends a pcapng enhanced packet block on interface `iface`, timestamp in units of `res`.
pub fn enhanced_packet(
    b: &mut Vec<u8>,
    iface: u32,
    ts: Ts,
    data: &[u8],
    orig: u32,
    res: Resolution,
) {
    let units: u64 = match res {
        Resolution::Micro => ts.0 as u64,
        Resolution::Nano => (ts.0 as u64).wrapping_mul(1000),
    };
    let pad = (4 - data.len() % 4) % 4;
    let len = 32 + data.len() as u32 + pad as u32;
    b.extend_from_slice(&6u32.to_le_bytes());
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(&iface.to_le_bytes());
    b.extend_from_slice(&((units >> 32) as u32).to_le_bytes());
    b.extend_from_slice(&(units as u32).to_le_bytes());
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(&orig.to_le_bytes());
    b.extend_from_slice(data);
    b.extend(std::iter::repeat_n(0u8, pad));
    b.extend_from_slice(&len.to_le_bytes());
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Pcap,
    Pcapng,
}

/// Writes packets as a pcap or pcapng file.
pub struct CaptureWriter<W: Write> {
    w: W,
    format: Format,
    links: Vec<LinkKind>,
    res: Resolution,
}

impl<W: Write> CaptureWriter<W> {
    /// A pcap file with one link type; writes the file header.
    pub fn pcap(mut w: W, link: LinkKind, res: Resolution) -> io::Result<Self> {
        w.write_all(&file_header(link.link_type(), res))?;
        Ok(CaptureWriter {
            w,
            format: Format::Pcap,
            links: vec![link],
            res,
        })
    }

    /// A pcapng file with one interface per link kind, µs timestamps.
    pub fn pcapng(w: W, links: &[LinkKind]) -> io::Result<Self> {
        Self::pcapng_with(w, links, Resolution::Micro)
    }

    /// A pcapng file with one interface per link kind and the given resolution
    /// (`if_tsresol`).
    pub fn pcapng_with(mut w: W, links: &[LinkKind], res: Resolution) -> io::Result<Self> {
        let mut b = section_header();
        for link in links {
            b.extend_from_slice(&interface_description(link.link_type(), res));
        }
        w.write_all(&b)?;
        Ok(CaptureWriter {
            w,
            format: Format::Pcapng,
            links: links.to_vec(),
            res,
        })
    }

    /// Writes a packet on the first interface.
    pub fn write(&mut self, p: &Packet) -> io::Result<()> {
        self.write_on(0, p)
    }

    /// Writes a packet on interface `iface` (pcapng; pcap has only interface 0).
    pub fn write_on(&mut self, iface: usize, p: &Packet) -> io::Result<()> {
        let link = *self
            .links
            .get(iface)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no such interface"))?;
        let (frame, orig) = p.frame(link);
        self.write_frame(iface, p.ts, &frame, orig)
    }

    pub fn write_all(&mut self, ps: &[Packet]) -> io::Result<()> {
        ps.iter().try_for_each(|p| self.write(p))
    }

    /// Writes raw frame bytes (any content) with a timestamp and original length.
    pub fn write_frame(&mut self, iface: usize, ts: Ts, data: &[u8], orig: u32) -> io::Result<()> {
        let mut b = Vec::with_capacity(data.len() + 36);
        match self.format {
            Format::Pcap => {
                b.extend_from_slice(&record_header(ts, data.len() as u32, orig, self.res));
                b.extend_from_slice(data);
            }
            Format::Pcapng => enhanced_packet(&mut b, iface as u32, ts, data, orig, self.res),
        }
        self.w.write_all(&b)
    }

    pub fn into_inner(self) -> W {
        self.w
    }
}
