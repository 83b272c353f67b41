//! Capture files: classic pcap (µs and ns, both byte orders), pcapng (several interfaces
//! with their own link types and timestamp resolutions; unknown blocks skipped), gzip,
//! `-` for standard input, and several files merged by timestamp. Streaming: memory does not
//! grow with the file.
//!
//! Uncompressed files are read through a sliding memory map ([`super::mapped`]); gzip,
//! standard input and other readers through pcap-parser's streaming readers over a fixed
//! buffer ([`BUFFER_SIZE`]). Either grows only to hold one oversized block, up to
//! [`MAX_BLOCK`], and both hand pcap-parser's blocks to the same loop. Damage is reported as
//! [`Notice`]s naming the file and the byte offset (in the decompressed stream for gzip
//! input), each counted by its [`CaptureAnomaly`] in the source's stats, and everything that
//! can still be read is delivered: a classic pcap with a corrupt
//! record header is resynchronised on the next plausible record; a pcapng block that does not
//! parse is skipped by its length when that length is sane.

use super::mapped::{MappedReader, SharedBytes, WindowCell, WINDOW};
use super::{Frame, InputError, LinkType, Notice, PacketSource, SourceStats};
use crate::anomaly::{Anomalies, CaptureAnomaly};
use crate::model::Ts;
use pcap_parser::pcapng::{build_ts_resolution, Block};
use pcap_parser::traits::{PcapNGPacketBlock, PcapReaderIterator};
use pcap_parser::{create_reader, LegacyPcapBlock, PcapBlockOwned, PcapError, SHB_MAGIC};
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The reader's working buffer.
pub const BUFFER_SIZE: usize = 2 << 20;
/// The largest single record or block accepted (the buffer grows to this at most).
pub const MAX_BLOCK: usize = 64 << 20;
/// A classic pcap record larger than this (and larger than the file's snap length) is
/// taken as a corrupt record header.
const MAX_PLAUSIBLE_CAPLEN: u32 = 256 * 1024;
/// Notices kept per file before the rest are only counted.
const MAX_NOTICES_PER_FILE: u32 = 50;

/// Opens one or more capture files (or `-`) as one source, merged by packet time.
/// Fails only when no input can be opened at all; a file that cannot be opened among
/// several becomes a notice.
pub fn open_files(paths: &[PathBuf]) -> anyhow::Result<Box<dyn PacketSource>> {
    if paths.is_empty() {
        return Err(InputError("no capture file given (use - for standard input)".into()).into());
    }
    let mut readers = Vec::new();
    let mut failures = Vec::new();
    // Files merged by time are all open at once: their map windows share one budget.
    let window = WINDOW
        .checked_div(paths.len())
        .unwrap_or(WINDOW)
        .max(BUFFER_SIZE);
    for p in paths {
        match open_path(p, window) {
            Ok(r) => readers.push(r),
            Err(n) => failures.push(n),
        }
    }
    finish_open(readers, failures)
}

/// Reads a capture (pcap, pcapng, gzip of either) from any reader; `name` is used in notices.
pub fn open_reader(name: &str, r: Box<dyn Read + Send>) -> anyhow::Result<Box<dyn PacketSource>> {
    let counter = Arc::new(AtomicU64::new(0));
    let counting = CountingReader {
        inner: r,
        count: Arc::clone(&counter),
    };
    match FileReader::open(name.to_string(), Box::new(counting), counter, None) {
        Ok(r) => finish_open(vec![r], Vec::new()),
        Err(n) => finish_open(Vec::new(), vec![n]),
    }
}

/// A file that could not be opened as a capture: what went wrong, and the notice.
type OpenFailure = (CaptureAnomaly, Notice);

fn open_failure(
    name: &str,
    anomaly: CaptureAnomaly,
    offset: Option<u64>,
    message: String,
) -> OpenFailure {
    let n = Notice {
        origin: name.to_string(),
        offset,
        message,
    };
    (anomaly, n)
}

fn finish_open(
    mut readers: Vec<FileReader>,
    failures: Vec<OpenFailure>,
) -> anyhow::Result<Box<dyn PacketSource>> {
    let mut anomalies = Anomalies::default();
    for (a, _) in &failures {
        anomalies.add(*a);
    }
    let failures: Vec<Notice> = failures.into_iter().map(|(_, n)| n).collect();
    if readers.is_empty() {
        let msg = failures
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        let msg = if msg.is_empty() {
            "no capture file given".to_string()
        } else {
            msg
        };
        return Err(InputError(msg).into());
    }
    if readers.len() == 1 {
        let mut r = readers.remove(0);
        let mut notices = failures;
        notices.append(&mut r.notices);
        r.notices = notices;
        r.stats.anomalies.merge(&anomalies);
        return Ok(Box::new(r));
    }
    let n = readers.len();
    Ok(Box::new(Merge {
        readers,
        heads: (0..n).map(|_| Head::default()).collect(),
        taken: None,
        notices: failures,
        anomalies,
    }))
}

fn open_path(p: &PathBuf, window: usize) -> Result<FileReader, OpenFailure> {
    let name = p.display().to_string();
    let counter = Arc::new(AtomicU64::new(0));
    if name == "-" {
        let counting = CountingReader {
            inner: Box::new(std::io::stdin()),
            count: Arc::clone(&counter),
        };
        return FileReader::open("-".into(), Box::new(counting), counter, None);
    }
    let f = std::fs::File::open(p).map_err(|e| {
        open_failure(
            &name,
            CaptureAnomaly::ReadError,
            None,
            format!("cannot open: {e}"),
        )
    })?;
    let total = f.metadata().ok().map(|m| m.len());
    if let Some(mapped) = MappedReader::open(&f, Arc::clone(&counter), window) {
        let io_error = Arc::new(Mutex::new(None));
        let cell = mapped.window_cell();
        let mut r = FileReader::with_reader(name, Box::new(mapped), counter, total, io_error)?;
        r.window = Some(cell);
        return Ok(r);
    }
    let counting = CountingReader {
        inner: Box::new(f),
        count: Arc::clone(&counter),
    };
    FileReader::open(name, Box::new(counting), counter, total)
}

/// Counts the raw bytes taken from the underlying file (for the progress bar).
struct CountingReader {
    inner: Box<dyn Read + Send>,
    count: Arc<AtomicU64>,
}

impl Read for CountingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Fills the whole buffer on each read unless the input ends (pcap-parser takes a short
/// read as all there is), retries interrupted reads, and keeps the first I/O error's
/// message for the notice (pcap-parser drops it). Bytes read before an error are returned.
struct FullRead {
    inner: Box<dyn Read + Send>,
    error: Arc<Mutex<Option<String>>>,
    failed: bool,
}

impl Read for FullRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() && !self.failed {
            let Some(rest) = buf.get_mut(n..) else { break };
            match self.inner.read(rest) {
                Ok(0) => break,
                Ok(k) => n = n.saturating_add(k),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.failed = true;
                    if let Ok(mut g) = self.error.lock() {
                        g.get_or_insert_with(|| e.to_string());
                    }
                    if n == 0 {
                        return Err(e);
                    }
                }
            }
        }
        Ok(n)
    }
}

#[derive(Clone, Copy, Debug)]
struct Iface {
    link_type: LinkType,
    /// Timestamp units per second.
    resolution: u64,
    offset_secs: i64,
}

enum Format {
    Legacy {
        link_type: LinkType,
        snaplen: u32,
        nanos: bool,
        big_endian: bool,
        record_header: usize,
        header_seen: bool,
    },
    Ng {
        big_endian: bool,
        ifaces: Vec<Iface>,
    },
}

/// What one step of the reading loop decided (computed while the reader is borrowed,
/// acted on after).
enum Step {
    /// Consume this many bytes and go on.
    Skip(usize),
    /// A packet: consume its block after it is handed out.
    Packet(Packet),
    NeedMore,
    Grow,
    End,
    Truncated,
    /// Damage that stops a pcapng file, or sends a classic pcap into resync.
    Damaged(String),
    /// Something to report; the block is skipped and reading goes on.
    SkipWithNotice(usize, CaptureAnomaly, String),
    /// A pcapng block that does not parse.
    BadBlock,
    ReadError,
}

/// Where a packet lies in the reader's buffer, and what it is.
struct Packet {
    /// The length of its block, consumed once the frame has been handed out.
    consume: usize,
    /// The address of its first byte in the buffer.
    addr: usize,
    caplen: usize,
    ts: Ts,
    link_type: LinkType,
    orig_len: u32,
}

/// One capture file being read.
pub struct FileReader {
    name: String,
    rdr: Box<dyn PcapReaderIterator + Send>,
    format: Format,
    pending_consume: usize,
    done: bool,
    notices: Vec<Notice>,
    notices_total: u32,
    stats: SourceStats,
    raw_read: Arc<AtomicU64>,
    total: Option<u64>,
    io_error: Arc<Mutex<Option<String>>>,
    last_ts: Option<Ts>,
    /// A mapped file's published window, and the copy of it the frames point into.
    window: Option<Arc<WindowCell>>,
    shared: Option<SharedBytes>,
    shared_generation: u64,
    stalls: u32,
    oversize_noticed: bool,
    zero_len_noticed: bool,
}

impl FileReader {
    fn open(
        name: String,
        raw: Box<dyn Read + Send>,
        raw_read: Arc<AtomicU64>,
        total: Option<u64>,
    ) -> Result<FileReader, OpenFailure> {
        let notice = |anomaly, offset, message| open_failure(&name, anomaly, offset, message);
        let mut buffered = BufReader::with_capacity(64 * 1024, raw);
        let magic = match buffered.fill_buf() {
            Ok(b) => b.first_chunk::<2>().copied(),
            Err(e) => {
                return Err(notice(
                    CaptureAnomaly::ReadError,
                    None,
                    format!("cannot read: {e}"),
                ))
            }
        };
        let inner: Box<dyn Read + Send> = if magic == Some([0x1f, 0x8b]) {
            Box::new(flate2::read::MultiGzDecoder::new(buffered))
        } else {
            Box::new(buffered)
        };
        let io_error = Arc::new(Mutex::new(None));
        let full = FullRead {
            inner,
            error: Arc::clone(&io_error),
            failed: false,
        };
        let rdr = match create_reader(BUFFER_SIZE, full) {
            Ok(r) => r,
            Err(PcapError::Eof) => {
                return Err(notice(
                    CaptureAnomaly::NotACapture,
                    Some(0),
                    "empty file".into(),
                ))
            }
            Err(PcapError::ReadError) => {
                let e = io_error.lock().ok().and_then(|g| g.clone());
                return Err(notice(
                    CaptureAnomaly::ReadError,
                    Some(0),
                    format!("cannot read: {}", e.unwrap_or_else(|| "read error".into())),
                ));
            }
            Err(PcapError::Incomplete(_)) => {
                return Err(notice(
                    CaptureAnomaly::NotACapture,
                    Some(0),
                    "too short to be a pcap or pcapng file".into(),
                ))
            }
            Err(_) => {
                return Err(notice(
                    CaptureAnomaly::NotACapture,
                    Some(0),
                    "not a pcap or pcapng capture (unknown file header)".into(),
                ))
            }
        };
        FileReader::with_reader(name, rdr, raw_read, total, io_error)
    }

    /// A reader positioned at the start of a capture: reads the file header.
    fn with_reader(
        name: String,
        mut rdr: Box<dyn PcapReaderIterator + Send>,
        raw_read: Arc<AtomicU64>,
        total: Option<u64>,
        io_error: Arc<Mutex<Option<String>>>,
    ) -> Result<FileReader, OpenFailure> {
        let notice = |anomaly, offset, message| open_failure(&name, anomaly, offset, message);
        let format = match rdr.next() {
            Ok((_, PcapBlockOwned::LegacyHeader(h))) => Format::Legacy {
                link_type: (h.network.0 as u32) & 0xffff,
                snaplen: h.snaplen,
                nanos: h.is_nanosecond_precision(),
                big_endian: h.is_bigendian(),
                record_header: if h.is_modified_format() { 24 } else { 16 },
                header_seen: false,
            },
            Ok((_, PcapBlockOwned::NG(Block::SectionHeader(shb)))) => Format::Ng {
                big_endian: shb.big_endian(),
                ifaces: Vec::new(),
            },
            _ => {
                return Err(notice(
                    CaptureAnomaly::NotACapture,
                    Some(0),
                    "not a pcap or pcapng capture (bad file header)".into(),
                ))
            }
        };
        Ok(FileReader {
            name,
            rdr,
            format,
            pending_consume: 0,
            done: false,
            notices: Vec::new(),
            notices_total: 0,
            stats: SourceStats {
                files: 1,
                ..SourceStats::default()
            },
            raw_read,
            total,
            io_error,
            last_ts: None,
            window: None,
            shared: None,
            shared_generation: 0,
            stalls: 0,
            oversize_noticed: false,
            zero_len_noticed: false,
        })
    }

    /// Counts `anomaly` and keeps its notice (up to the limit per file).
    fn notice(&mut self, anomaly: CaptureAnomaly, offset: Option<u64>, message: String) {
        self.stats.anomalies.add(anomaly);
        self.notices_total = self.notices_total.saturating_add(1);
        if self.notices_total <= MAX_NOTICES_PER_FILE {
            self.notices.push(Notice {
                origin: self.name.clone(),
                offset,
                message,
            });
        } else if self.notices_total == MAX_NOTICES_PER_FILE + 1 {
            self.notices.push(Notice {
                origin: self.name.clone(),
                offset,
                message: "further notices for this file are not shown".into(),
            });
        }
    }

    fn offset(&self) -> u64 {
        self.rdr.consumed() as u64
    }

    /// Largest plausible captured length of a classic pcap record.
    fn legacy_cap_limit(snaplen: u32) -> u32 {
        snaplen
            .max(MAX_PLAUSIBLE_CAPLEN)
            .min(u32::try_from(MAX_BLOCK).unwrap_or(u32::MAX))
    }

    /// Reads a classic pcap record header at `at` of `data`: (ts_sec, ts_frac, caplen, origlen).
    fn legacy_header(data: &[u8], at: usize, be: bool) -> Option<(u32, u32, u32, u32)> {
        let &[s0, s1, s2, s3, f0, f1, f2, f3, c0, c1, c2, c3, o0, o1, o2, o3] =
            data.get(at..)?.first_chunk::<16>()?;
        let w = |b: [u8; 4]| -> u32 {
            if be {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        Some((
            w([s0, s1, s2, s3]),
            w([f0, f1, f2, f3]),
            w([c0, c1, c2, c3]),
            w([o0, o1, o2, o3]),
        ))
    }

    /// Whether a classic pcap record header at `at` looks like a real one (for resync).
    fn legacy_plausible(&self, data: &[u8], at: usize) -> bool {
        let Format::Legacy {
            snaplen,
            nanos,
            big_endian,
            record_header,
            ..
        } = self.format
        else {
            return false;
        };
        let Some((sec, frac, caplen, origlen)) = Self::legacy_header(data, at, big_endian) else {
            return false;
        };
        let frac_limit = if nanos { 1_000_000_000 } else { 1_000_000 };
        if caplen > Self::legacy_cap_limit(snaplen)
            || caplen > origlen
            || origlen > MAX_PLAUSIBLE_CAPLEN.max(snaplen)
            || frac >= frac_limit
        {
            return false;
        }
        let sec = i64::from(sec);
        match self.last_ts {
            Some(t) if sec.abs_diff(t.secs()) > 86_400 => return false,
            None if sec == 0 => return false,
            _ => {}
        }
        // The record after this one must start with a plausible header too, when in view.
        let next = at
            .saturating_add(record_header)
            .saturating_add(caplen as usize);
        match Self::legacy_header(data, next, big_endian) {
            Some((_, f2, c2, o2)) => {
                f2 < frac_limit && c2 <= Self::legacy_cap_limit(snaplen) && c2 <= o2
            }
            None => true,
        }
    }

    /// Scans forward from a corrupt classic pcap record for the next plausible one.
    /// Returns `Some(k)` bytes to skip, or `None` when more data is needed.
    fn legacy_resync(&self) -> Option<usize> {
        let data = self.rdr.data();
        (1..data.len().saturating_sub(15)).find(|&k| self.legacy_plausible(data, k))
    }

    /// Checks the next record or block header before the parser sees it. Classic pcap: an
    /// absurd captured length is not taken as a reason to read gigabytes. pcapng: a block
    /// length below 12 (type, length, length again) is damage; pcap-parser would subtract 12
    /// from it unchecked for some block types.
    #[inline]
    fn precheck(&self) -> Option<Step> {
        match self.format {
            Format::Legacy {
                snaplen,
                big_endian,
                header_seen: true,
                ..
            } => {
                let (_, _, caplen, _) = Self::legacy_header(self.rdr.data(), 0, big_endian)?;
                (caplen > Self::legacy_cap_limit(snaplen)).then(|| {
                    Step::Damaged(format!(
                        "record header with an impossible captured length {caplen}"
                    ))
                })
            }
            Format::Legacy { .. } => None,
            Format::Ng { big_endian, .. } => {
                let &[t0, t1, t2, t3, l0, l1, l2, l3] = self.rdr.data().first_chunk::<8>()?;
                // A section header's length is in its own byte order, read by its parser.
                if u32::from_le_bytes([t0, t1, t2, t3]) == SHB_MAGIC {
                    return None;
                }
                let len = if big_endian {
                    u32::from_be_bytes([l0, l1, l2, l3])
                } else {
                    u32::from_le_bytes([l0, l1, l2, l3])
                };
                (len < 12).then_some(Step::BadBlock)
            }
        }
    }

    /// Reads the next block and decides what it is.
    fn step(&mut self) -> Step {
        if let Some(damaged) = self.precheck() {
            return damaged;
        }
        let is_ng = matches!(self.format, Format::Ng { .. });
        match self.rdr.next() {
            Ok((consume, PcapBlockOwned::LegacyHeader(_))) => {
                if let Format::Legacy { header_seen, .. } = &mut self.format {
                    *header_seen = true;
                }
                Step::Skip(consume)
            }
            Ok((consume, PcapBlockOwned::Legacy(b))) => legacy_packet(&self.format, consume, &b),
            Ok((consume, PcapBlockOwned::NG(block))) => {
                ng_block(&mut self.format, self.last_ts, consume, block)
            }
            Err(PcapError::Eof) => Step::End,
            Err(PcapError::Incomplete(_)) => Step::NeedMore,
            Err(PcapError::BufferTooSmall) => Step::Grow,
            Err(PcapError::UnexpectedEof) => Step::Truncated,
            Err(PcapError::ReadError) => Step::ReadError,
            Err(_) if is_ng => Step::BadBlock,
            Err(_) => Step::Damaged("record that does not parse".into()),
        }
    }

    fn next_inner(&mut self) -> Option<Frame<'_>> {
        if self.pending_consume > 0 {
            self.rdr.consume_noshift(self.pending_consume);
            self.pending_consume = 0;
        }
        // Where damage began and what it was: one notice once the reader knows how much of
        // the file the damage took.
        let mut resync_from: Option<(u64, String)> = None;
        let packet = loop {
            if self.done {
                return None;
            }
            if let Some((from, what)) = resync_from.take() {
                resync_from = self.resync(from, what);
                continue;
            }
            match self.step() {
                Step::Packet(p) => {
                    self.stalls = 0;
                    break p;
                }
                other => resync_from = self.act_on(other),
            }
        };
        self.frame(packet)
    }

    /// Resynchronises a classic pcap after damage that began at `from`: skips to the next
    /// plausible record and reports what was skipped, or gives up on the rest of the file.
    /// Returns the damage again when more data must be read first.
    fn resync(&mut self, from: u64, what: String) -> Option<(u64, String)> {
        if let Some(k) = self.legacy_resync() {
            self.rdr.consume_noshift(k);
            let to = self.offset();
            self.notice(
                CaptureAnomaly::CorruptRecord,
                Some(from),
                format!(
                    "{what}: skipped {} bytes, reading again from offset {to}",
                    to.saturating_sub(from)
                ),
            );
            return None;
        }
        let avail = self.rdr.data().len();
        if self.rdr.reader_exhausted() {
            self.rdr.consume_noshift(avail);
            self.notice(
                CaptureAnomaly::CorruptRecord,
                Some(from),
                format!("{what}: the rest of the file is corrupt, skipped"),
            );
            self.done = true;
            return None;
        }
        self.rdr.consume_noshift(avail.saturating_sub(64));
        if self.refill().is_err() {
            self.done = true;
        }
        Some((from, what))
    }

    /// Acts on a step that is not a packet: the damage policy. Returns where damage to
    /// resynchronise on began (classic pcap only; damage ends a pcapng file).
    #[inline]
    fn act_on(&mut self, step: Step) -> Option<(u64, String)> {
        match step {
            Step::Skip(n) => {
                self.stalls = 0;
                self.rdr.consume_noshift(n);
            }
            // Handled by the caller.
            Step::Packet(_) => {}
            Step::NeedMore => {
                self.stalls = self.stalls.saturating_add(1);
                if self.stalls > 4 || self.refill().is_err() {
                    let off = Some(self.offset());
                    self.notice(
                        CaptureAnomaly::Stalled,
                        off,
                        "reading stalled; rest of file skipped".into(),
                    );
                    self.done = true;
                }
            }
            Step::Grow => self.grow(),
            Step::SkipWithNotice(n, anomaly, msg) => {
                let off = Some(self.offset());
                self.notice(anomaly, off, msg);
                self.rdr.consume_noshift(n);
            }
            Step::BadBlock => self.skip_bad_block(),
            Step::End => self.done = true,
            Step::Truncated => {
                let off = Some(self.offset());
                let left = self.rdr.data().len();
                self.notice(
                    CaptureAnomaly::TruncatedFile,
                    off,
                    format!("file ends in the middle of a record ({left} bytes left over)"),
                );
                self.done = true;
            }
            Step::ReadError => {
                self.read_error();
                self.done = true;
            }
            Step::Damaged(msg) => {
                let off = self.offset();
                if matches!(self.format, Format::Legacy { .. }) {
                    return Some((off, msg));
                }
                self.notice(CaptureAnomaly::CorruptRecord, Some(off), msg);
                self.done = true;
            }
        }
        None
    }

    /// A block larger than the buffer: grows it (up to [`MAX_BLOCK`]), or skips the rest of
    /// the file.
    fn grow(&mut self) {
        let cap = self.rdr.data().len().saturating_mul(2).max(BUFFER_SIZE * 2);
        let cap = cap.min(MAX_BLOCK);
        if self.rdr.data().len() >= MAX_BLOCK || !self.rdr.grow(cap) {
            let off = Some(self.offset());
            self.notice(
                CaptureAnomaly::OversizedBlock,
                off,
                format!(
                    "block larger than {} MiB; rest of file skipped",
                    MAX_BLOCK >> 20
                ),
            );
            self.done = true;
        } else if self.refill().is_err() {
            self.done = true;
        }
    }

    /// Skips a pcapng block that does not parse by its length, if that is sane; else the
    /// rest of the file.
    fn skip_bad_block(&mut self) {
        let off = Some(self.offset());
        let be = matches!(
            self.format,
            Format::Ng {
                big_endian: true,
                ..
            }
        );
        let data = self.rdr.data();
        let len = data.get(4..).and_then(<[u8]>::first_chunk::<4>).map(|&b| {
            if be {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        });
        match len.map(|l| l as usize) {
            Some(l) if l >= 12 && l % 4 == 0 && l <= data.len() => {
                self.notice(
                    CaptureAnomaly::BadBlock,
                    off,
                    "block that does not parse, skipped".into(),
                );
                self.rdr.consume_noshift(l);
            }
            _ => {
                self.notice(
                    CaptureAnomaly::BadBlock,
                    off,
                    "block that does not parse; rest of file skipped".into(),
                );
                self.done = true;
            }
        }
    }

    /// Counts a packet, reports what is odd about its record, and hands it out.
    #[inline]
    fn frame(&mut self, p: Packet) -> Option<Frame<'_>> {
        let Packet {
            consume,
            addr,
            caplen,
            ts,
            link_type,
            orig_len,
        } = p;
        let offset = self.offset();
        self.pending_consume = consume;
        self.stats.packets = self.stats.packets.saturating_add(1);
        self.stats.bytes = self.stats.bytes.saturating_add(caplen as u64);
        if (caplen as u64) < u64::from(orig_len) {
            self.stats.truncated_packets = self.stats.truncated_packets.saturating_add(1);
        }
        let orig_len = if (orig_len as usize) < caplen {
            u32::try_from(caplen).unwrap_or(u32::MAX)
        } else {
            orig_len
        };
        // Noticed once per file, counted every time.
        if caplen == 0 && self.zero_len_noticed {
            self.stats.anomalies.add(CaptureAnomaly::ZeroLengthRecord);
        } else if caplen == 0 {
            self.zero_len_noticed = true;
            let msg = "zero-length packet record".into();
            self.notice(CaptureAnomaly::ZeroLengthRecord, Some(offset), msg);
        }
        if let Format::Legacy { snaplen, .. } = self.format {
            if snaplen > 0 && caplen > snaplen as usize && self.oversize_noticed {
                self.stats.anomalies.add(CaptureAnomaly::RecordOverSnaplen);
            } else if snaplen > 0 && caplen > snaplen as usize {
                self.oversize_noticed = true;
                self.notice(
                    CaptureAnomaly::RecordOverSnaplen,
                    Some(offset),
                    format!("record of {caplen} bytes is larger than the snap length {snaplen}"),
                );
            }
        }
        self.last_ts = Some(ts);
        if let Some(cell) = &self.window {
            let g = cell.generation();
            if g != self.shared_generation {
                self.shared_generation = g;
                self.shared = cell.current();
            }
        }
        let data = self.rdr.data();
        let start = addr.checked_sub(data.as_ptr() as usize)?;
        let bytes = data.get(start..start.checked_add(caplen)?)?;
        Some(Frame {
            shared: self.shared.as_ref(),
            ts,
            link_type,
            data: bytes,
            orig_len,
            file: 0,
            number: self.stats.packets,
        })
    }

    /// Notes the reader's I/O error where reading stopped.
    fn read_error(&mut self) {
        let off = Some(self.offset());
        let e = self.io_error.lock().ok().and_then(|g| g.clone());
        self.notice(
            CaptureAnomaly::ReadError,
            off,
            format!("read error: {}", e.unwrap_or_else(|| "unknown".into())),
        );
    }

    fn refill(&mut self) -> Result<(), ()> {
        if self.rdr.refill().is_err() {
            self.read_error();
            return Err(());
        }
        Ok(())
    }
}

/// The classic pcap decoder: a record as a packet of the file's link type.
#[inline]
fn legacy_packet(format: &Format, consume: usize, b: &LegacyPcapBlock<'_>) -> Step {
    let Format::Legacy {
        link_type, nanos, ..
    } = *format
    else {
        return Step::Skip(consume);
    };
    let frac = if nanos {
        i64::from(b.ts_usec) / 1000
    } else {
        i64::from(b.ts_usec)
    };
    Step::Packet(Packet {
        consume,
        addr: b.data.as_ptr() as usize,
        caplen: b.data.len(),
        ts: Ts::from_secs_micros(i64::from(b.ts_sec), frac),
        link_type,
        orig_len: b.origlen,
    })
}

/// The pcapng decoder: sections and interfaces (link type, timestamp resolution and
/// offset) are noted; enhanced and simple packet blocks become packets of their interface;
/// other blocks are skipped. `last_ts` stamps simple packet blocks, which carry no time.
fn ng_block(format: &mut Format, last_ts: Option<Ts>, consume: usize, block: Block<'_>) -> Step {
    let Format::Ng { big_endian, ifaces } = format else {
        return Step::Skip(consume);
    };
    match block {
        Block::SectionHeader(shb) => {
            *big_endian = shb.big_endian();
            ifaces.clear();
            Step::Skip(consume)
        }
        Block::InterfaceDescription(idb) => {
            let resolution = build_ts_resolution(idb.if_tsresol);
            ifaces.push(Iface {
                link_type: (idb.linktype.0 as u32) & 0xffff,
                resolution: resolution.unwrap_or(1_000_000).max(1),
                offset_secs: idb.if_tsoffset,
            });
            if resolution.is_none() {
                let r = idb.if_tsresol;
                return Step::SkipWithNotice(
                    consume,
                    CaptureAnomaly::BadTimestampResolution,
                    format!(
                        "interface with an invalid timestamp resolution {r}; \
                         microseconds assumed"
                    ),
                );
            }
            Step::Skip(consume)
        }
        Block::EnhancedPacket(epb) => {
            let Some(iface) = ifaces.get(epb.if_id as usize).copied() else {
                let id = epb.if_id;
                return Step::SkipWithNotice(
                    consume,
                    CaptureAnomaly::UndeclaredInterface,
                    format!("packet for undeclared interface {id}, skipped"),
                );
            };
            let (sec, frac) = epb.decode_ts(0, iface.resolution);
            // The fraction is below the resolution, so this is below a million.
            let frac_us = u128::from(frac)
                .saturating_mul(1_000_000)
                .checked_div(u128::from(iface.resolution))
                .unwrap_or(0) as i64;
            let secs = i64::from(sec).saturating_add(iface.offset_secs);
            let data = epb.packet_data();
            Step::Packet(Packet {
                consume,
                addr: data.as_ptr() as usize,
                caplen: data.len(),
                ts: Ts::from_secs_micros(secs, frac_us),
                link_type: iface.link_type,
                orig_len: epb.origlen,
            })
        }
        Block::SimplePacket(spb) => {
            let Some(iface) = ifaces.first().copied() else {
                return Step::SkipWithNotice(
                    consume,
                    CaptureAnomaly::UndeclaredInterface,
                    "simple packet block before any interface, skipped".into(),
                );
            };
            let data = spb.packet_data();
            Step::Packet(Packet {
                consume,
                addr: data.as_ptr() as usize,
                caplen: data.len(),
                // Simple packet blocks carry no time: keep the last one.
                ts: last_ts.unwrap_or_default(),
                link_type: iface.link_type,
                orig_len: spb.origlen,
            })
        }
        _ => Step::Skip(consume),
    }
}

impl PacketSource for FileReader {
    fn next_frame(&mut self) -> Option<Frame<'_>> {
        self.next_inner()
    }
    fn inputs(&self) -> Vec<String> {
        vec![self.name.clone()]
    }
    fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }
    fn stats(&self) -> SourceStats {
        self.stats.clone()
    }
    fn progress(&self) -> (u64, Option<u64>) {
        (self.raw_read.load(Ordering::Relaxed), self.total)
    }
}

/// The pending frame of one file in a merge, copied into a reused buffer.
#[derive(Default)]
struct Head {
    filled: bool,
    number: u64,
    ts: Ts,
    link_type: LinkType,
    orig_len: u32,
    data: Vec<u8>,
}

/// Several files merged by timestamp (k-way merge; ties go to the file named first).
struct Merge {
    readers: Vec<FileReader>,
    heads: Vec<Head>,
    taken: Option<usize>,
    notices: Vec<Notice>,
    /// Files that could not be opened.
    anomalies: Anomalies,
}

impl Merge {
    fn fill(&mut self, i: usize) {
        let (Some(r), Some(h)) = (self.readers.get_mut(i), self.heads.get_mut(i)) else {
            return;
        };
        h.filled = false;
        if let Some(f) = r.next_frame() {
            h.filled = true;
            h.number = f.number;
            h.ts = f.ts;
            h.link_type = f.link_type;
            h.orig_len = f.orig_len;
            h.data.clear();
            h.data.extend_from_slice(f.data);
        }
    }
}

impl PacketSource for Merge {
    fn next_frame(&mut self) -> Option<Frame<'_>> {
        match self.taken.take() {
            Some(i) => self.fill(i),
            None => {
                for i in 0..self.readers.len() {
                    if !self.heads.get(i).is_some_and(|h| h.filled) {
                        self.fill(i);
                    }
                }
            }
        }
        let best = self
            .heads
            .iter()
            .enumerate()
            .filter(|(_, h)| h.filled)
            .min_by_key(|(i, h)| (h.ts, *i))
            .map(|(i, _)| i)?;
        self.taken = Some(best);
        let h = self.heads.get_mut(best)?;
        h.filled = false;
        Some(Frame {
            shared: None,
            ts: h.ts,
            link_type: h.link_type,
            data: &h.data,
            orig_len: h.orig_len,
            file: u16::try_from(best).unwrap_or(u16::MAX),
            number: h.number,
        })
    }
    fn inputs(&self) -> Vec<String> {
        self.readers.iter().map(|r| r.name.clone()).collect()
    }
    fn take_notices(&mut self) -> Vec<Notice> {
        let mut out = std::mem::take(&mut self.notices);
        for r in &mut self.readers {
            out.append(&mut r.notices);
        }
        out
    }
    fn stats(&self) -> SourceStats {
        let mut s = SourceStats::default();
        for r in &self.readers {
            s.files = s.files.saturating_add(r.stats.files);
            s.packets = s.packets.saturating_add(r.stats.packets);
            s.bytes = s.bytes.saturating_add(r.stats.bytes);
            s.truncated_packets = s
                .truncated_packets
                .saturating_add(r.stats.truncated_packets);
            s.anomalies.merge(&r.stats.anomalies);
        }
        s.anomalies.merge(&self.anomalies);
        s
    }
    fn progress(&self) -> (u64, Option<u64>) {
        let mut done = 0u64;
        let mut total = Some(0u64);
        for r in &self.readers {
            let (d, t) = r.progress();
            done = done.saturating_add(d);
            total = match (total, t) {
                (Some(a), Some(b)) => Some(a.saturating_add(b)),
                _ => None,
            };
        }
        (done, total)
    }
}
