//! Uncompressed capture files read through a memory map instead of `read(2)`: the packets
//! are parsed where the page cache holds them, which saves copying every byte of the file
//! into a buffer (the largest single cost of reading a large capture).
//!
//! The file is mapped one window at a time ([`WINDOW`]), so memory stays bounded whatever
//! the file's size; a record that crosses the end of a window is read again from a window
//! that starts at it. [`MappedReader`] implements pcap-parser's `PcapReaderIterator` with the
//! same parsers and the same errors as pcap-parser's own buffered readers, so the file reader
//! above treats both alike (damage, resynchronisation, notices).
//!
//! A mapped file must not shrink while it is read: the operating system would stop the
//! process (SIGBUS). The length is therefore checked again before every window is mapped,
//! and the environment variable [`NO_MMAP_ENV`] makes every file be read with `read(2)`, for
//! files that another program may truncate while they are read.

use memmap2::{Advice, Mmap, MmapOptions};
use pcap_parser::nom;
use pcap_parser::pcap::{
    parse_pcap_frame, parse_pcap_frame_be, parse_pcap_frame_modified, parse_pcap_header,
    LegacyPcapBlock, PcapHeader,
};
use pcap_parser::pcapng::{parse_block_be, parse_block_le, parse_sectionheaderblock, Block};
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError};
use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Bytes mapped at a time for one file (grown for one larger block, as the buffered
/// reader's buffer is). Files merged by time share it, each down to the buffered reader's
/// buffer size, so that many rotated files open at once stay within bounds.
pub const WINDOW: usize = 16 << 20;
/// Set (to anything) in the environment: capture files are read with `read(2)`, not mapped.
pub const NO_MMAP_ENV: &str = "PROXY407_NO_MMAP";
/// Windows start at multiples of this: a multiple of the page size on every platform.
const ALIGN: u64 = 64 * 1024;
/// The smallest window: two alignment units.
const MIN_WINDOW: usize = 2 * ALIGN as usize;

type LegacyParse =
    for<'a> fn(&'a [u8]) -> nom::IResult<&'a [u8], LegacyPcapBlock<'a>, PcapError<&'a [u8]>>;

enum Format {
    Legacy {
        header: PcapHeader,
        parse: LegacyParse,
    },
    Ng {
        big_endian: bool,
    },
}

/// A window of a mapped file, shared with whoever reads its bytes later (the engine's worker
/// threads read the payload of a frame from it instead of a copy); the window stays mapped
/// while a copy of this is kept.
#[derive(Clone)]
pub struct SharedBytes(Arc<Mmap>);

impl std::fmt::Debug for SharedBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedBytes({} bytes)", self.0.len())
    }
}

impl SharedBytes {
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// Where `part` starts in these bytes, when it lies wholly inside them.
    pub fn offset_of(&self, part: &[u8]) -> Option<usize> {
        let off = (part.as_ptr() as usize).checked_sub(self.0.as_ptr() as usize)?;
        (off.checked_add(part.len())? <= self.0.len()).then_some(off)
    }

    /// The same window.
    pub fn same(&self, other: &SharedBytes) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// The window a mapped reader reads now, published at every remap for the file reader
/// above it (which only holds the reader as a `PcapReaderIterator`).
#[derive(Default)]
pub struct WindowCell {
    generation: AtomicU64,
    current: Mutex<Option<SharedBytes>>,
}

impl WindowCell {
    /// How many windows were published: a reader holding the current one compares it.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn current(&self) -> Option<SharedBytes> {
        self.current.lock().ok().and_then(|g| g.clone())
    }

    fn publish(&self, w: Option<SharedBytes>) {
        if let Ok(mut g) = self.current.lock() {
            *g = w;
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// A capture file read through a sliding memory map.
pub struct MappedReader {
    file: File,
    /// The file's length as last checked.
    len: u64,
    map: Option<Arc<Mmap>>,
    /// The current window, for the file reader's frames.
    cell: Arc<WindowCell>,
    /// File offset of the window's first byte.
    map_off: u64,
    /// Unconsumed data starts here in the window.
    pos: usize,
    consumed: usize,
    window: usize,
    format: Format,
    /// Bytes of the file mapped so far (for the progress bar).
    read_counter: Arc<AtomicU64>,
}

impl MappedReader {
    /// Maps the start of `file` when it is an uncompressed pcap or pcapng capture. `None`
    /// when it is not (gzip, not a capture, too short) or cannot be mapped: the caller
    /// reads it the buffered way, which reports what is wrong.
    pub fn open(file: &File, read_counter: Arc<AtomicU64>, window: usize) -> Option<MappedReader> {
        if std::env::var_os(NO_MMAP_ENV).is_some() {
            return None;
        }
        let meta = file.metadata().ok()?;
        let len = meta.len();
        if len == 0 || !meta.is_file() {
            return None;
        }
        let mut r = MappedReader {
            file: file.try_clone().ok()?,
            len,
            map: None,
            cell: Arc::new(WindowCell::default()),
            map_off: 0,
            pos: 0,
            consumed: 0,
            window: window.max(MIN_WINDOW),
            format: Format::Ng { big_endian: false },
            read_counter,
        };
        r.remap().ok()?;
        let data = r.data();
        r.format = if let Ok((_, shb)) = parse_sectionheaderblock(data) {
            Format::Ng {
                big_endian: shb.big_endian(),
            }
        } else {
            let (_, header) = parse_pcap_header(data).ok()?;
            let parse: LegacyParse = if header.is_modified_format() {
                parse_pcap_frame_modified
            } else if header.is_bigendian() {
                parse_pcap_frame_be
            } else {
                parse_pcap_frame
            };
            Format::Legacy { header, parse }
        };
        Some(r)
    }

    /// Where the current window is published.
    pub fn window_cell(&self) -> Arc<WindowCell> {
        Arc::clone(&self.cell)
    }

    /// The window ends at the end of the file.
    fn at_end(&self) -> bool {
        let mapped = self.map.as_ref().map_or(0, |m| m.len() as u64);
        self.map_off.saturating_add(mapped) >= self.len
    }

    /// Maps a new window that starts at the unconsumed data (rounded down to a page).
    fn remap(&mut self) -> std::io::Result<()> {
        let here = self.map_off.saturating_add(self.pos as u64);
        // A file that shrank is read to its new end, not past it.
        if let Ok(m) = self.file.metadata() {
            self.len = self.len.min(m.len());
        }
        let start = here.saturating_sub(here % ALIGN);
        let size = usize::try_from(self.len.saturating_sub(start))
            .unwrap_or(usize::MAX)
            .min(self.window);
        self.map = None;
        if size > 0 {
            // SAFETY: the map is read-only and private; it is only read while the file
            // keeps its length, which is checked just above and documented for the user
            // (`--no-mmap` for files that may be truncated while being read).
            let map = unsafe {
                MmapOptions::new()
                    .offset(start)
                    .len(size)
                    .populate()
                    .map(&self.file)?
            };
            let _ = map.advise(Advice::Sequential);
            let map = Arc::new(map);
            self.cell.publish(Some(SharedBytes(Arc::clone(&map))));
            self.map = Some(map);
        } else {
            self.cell.publish(None);
        }
        self.map_off = start;
        self.pos = usize::try_from(here % ALIGN).unwrap_or(0);
        self.read_counter.store(
            start.saturating_add(size as u64).min(self.len),
            Ordering::Relaxed,
        );
        Ok(())
    }
}

/// Asks the processor to start loading the next record (its header and the frame's first
/// headers, two cache lines) while this one is decoded: the file is read as records whose
/// lengths chain them, which the hardware does not guess, so without this each record's
/// first read waits on memory.
#[inline]
fn prefetch(next: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = next.as_ptr().cast::<i8>();
        // SAFETY: a prefetch is only a hint: it never faults and never changes memory, so
        // any address is sound; this one is inside (or one past the end of) the mapping.
        unsafe {
            _mm_prefetch(p, _MM_HINT_T0);
            _mm_prefetch(p.wrapping_add(64), _MM_HINT_T0);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = next;
}

impl PcapReaderIterator for MappedReader {
    fn next(&mut self) -> Result<(usize, PcapBlockOwned<'_>), PcapError<&[u8]>> {
        if self.consumed == 0 {
            if let Format::Legacy { header, .. } = &self.format {
                return Ok((header.size(), PcapBlockOwned::from(header.clone())));
            }
        }
        let at_end = self.at_end();
        let pos = self.pos;
        let data = match &self.map {
            Some(m) => m.get(pos..).unwrap_or_default(),
            None => &[],
        };
        if data.is_empty() && at_end {
            return Err(PcapError::Eof);
        }
        let parsed = match &mut self.format {
            Format::Legacy { parse, .. } => parse(data).map(|(rem, b)| (rem, b.into())),
            Format::Ng { big_endian } => {
                let parse = if *big_endian {
                    parse_block_be
                } else {
                    parse_block_le
                };
                parse(data).map(|(rem, b)| {
                    if let Block::SectionHeader(shb) = &b {
                        *big_endian = shb.big_endian();
                    }
                    (rem, PcapBlockOwned::from(b))
                })
            }
        };
        match parsed {
            Ok((rem, block)) => {
                prefetch(rem);
                Ok((data.len().saturating_sub(rem.len()), block))
            }
            Err(nom::Err::Error(e)) | Err(nom::Err::Failure(e)) => Err(e),
            Err(nom::Err::Incomplete(_)) if at_end => Err(PcapError::UnexpectedEof),
            Err(nom::Err::Incomplete(n)) => {
                // The window already starts as close to this block as alignment allows: only
                // a larger window can hold it. Otherwise a window starting at it may.
                if (pos as u64) < ALIGN {
                    Err(PcapError::BufferTooSmall)
                } else {
                    let need = match n {
                        nom::Needed::Size(n) => n.get(),
                        nom::Needed::Unknown => 0,
                    };
                    Err(PcapError::Incomplete(need))
                }
            }
        }
    }

    fn consume(&mut self, offset: usize) {
        self.consume_noshift(offset);
    }

    fn consume_noshift(&mut self, offset: usize) {
        let avail = self.data().len();
        let n = offset.min(avail);
        self.pos = self.pos.saturating_add(n);
        self.consumed = self.consumed.saturating_add(n);
    }

    fn consumed(&self) -> usize {
        self.consumed
    }

    fn refill(&mut self) -> Result<(), PcapError<&[u8]>> {
        if self.at_end() {
            return Ok(());
        }
        self.remap().map_err(|_| PcapError::ReadError)
    }

    fn position(&self) -> usize {
        self.pos
    }

    fn grow(&mut self, new_size: usize) -> bool {
        if new_size > self.window {
            self.window = new_size;
            true
        } else {
            false
        }
    }

    fn data(&self) -> &[u8] {
        match &self.map {
            Some(m) => m.get(self.pos..).unwrap_or_default(),
            None => &[],
        }
    }

    fn reader_exhausted(&self) -> bool {
        self.at_end()
    }
}
