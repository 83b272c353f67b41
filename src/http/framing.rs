//! Body framing: how long the body after a head is ([`Framing`], [`request_framing`],
//! [`response_framing`]), and an incremental skipper for chunked bodies ([`Chunked`]) that
//! counts chunk data off without buffering it and keeps only a few carry-over bytes when a
//! chunk-size line is split across segments.
//!
//! Knows nothing of pairing or connection state: the caller says which request method a
//! response answers.

use super::parser::BodyInfo;
use crate::anomaly::HttpAnomaly;

/// How the body after a head is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body: the next head follows at once.
    None,
    /// Exactly this many bytes (never 0: that is `None`).
    Length(u64),
    /// `Transfer-Encoding: chunked`, trailers included.
    Chunked,
    /// Until the server closes the connection.
    UntilClose,
    /// The rest of the connection is a tunnel (a 2xx answer to `CONNECT`, or `101`).
    Tunnel,
}

/// The body of a request. Requests never run until close; a `Transfer-Encoding` that does
/// not end in `chunked` or a bad `Content-Length` is an anomaly, and the body is taken as
/// empty.
pub fn request_framing(b: &BodyInfo) -> (Framing, Option<HttpAnomaly>) {
    if b.has_transfer_encoding {
        if b.chunked {
            (Framing::Chunked, None)
        } else {
            (Framing::None, Some(HttpAnomaly::BadTransferEncoding))
        }
    } else if b.bad_length {
        (Framing::None, Some(HttpAnomaly::BadContentLength))
    } else {
        (length(b.content_length.unwrap_or(0)), None)
    }
}

/// The body of a response to a request with `method` (`None` when the request is unknown).
pub fn response_framing(
    method: Option<&str>,
    status: u16,
    b: &BodyInfo,
) -> (Framing, Option<HttpAnomaly>) {
    let is = |m: &str| method.is_some_and(|x| x.eq_ignore_ascii_case(m));
    if is("CONNECT") && (200..300).contains(&status) || status == 101 {
        return (Framing::Tunnel, None);
    }
    if is("HEAD") || (100..200).contains(&status) || status == 204 || status == 304 {
        return (Framing::None, None);
    }
    if b.has_transfer_encoding {
        if b.chunked {
            (Framing::Chunked, None)
        } else {
            (Framing::UntilClose, None)
        }
    } else if b.bad_length {
        (Framing::UntilClose, Some(HttpAnomaly::BadContentLength))
    } else {
        match b.content_length {
            Some(n) => (length(n), None),
            None => (Framing::UntilClose, None),
        }
    }
}

fn length(n: u64) -> Framing {
    if n == 0 {
        Framing::None
    } else {
        Framing::Length(n)
    }
}

/// Longest chunk-size line (size and extensions) kept across a segment boundary.
pub const MAX_CHUNK_LINE: usize = 1024;
/// Most trailer bytes after the last chunk.
pub const MAX_TRAILERS: usize = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Reading a chunk-size line (any part of it may be in `carry`).
    Size,
    /// Skipping this many chunk-data bytes.
    Data(u64),
    /// The line end after chunk data; `true` once its CR was seen.
    DataEnd(bool),
    /// Trailer lines after the last chunk: bytes of the current line so far, and whether
    /// its first byte was a CR.
    Trailers { line: usize, first_cr: bool },
}

/// What [`Chunked::feed`] made of some bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkStep {
    /// Everything consumed; the body goes on.
    More,
    /// The body ended after this many bytes of the slice.
    Done(usize),
    /// Not a chunked body; this many bytes were consumed before the fault.
    Bad(usize),
}

/// State of one chunked body being skipped.
#[derive(Clone, Debug)]
pub struct Chunked {
    phase: Phase,
    /// A chunk-size line split across segments.
    carry: Vec<u8>,
    trailer_bytes: usize,
}

impl Default for Chunked {
    fn default() -> Self {
        Self::new()
    }
}

impl Chunked {
    pub fn new() -> Self {
        Chunked {
            phase: Phase::Size,
            carry: Vec::new(),
            trailer_bytes: 0,
        }
    }

    /// Consumes body bytes.
    pub fn feed(&mut self, data: &[u8]) -> ChunkStep {
        let mut pos = 0;
        while pos < data.len() {
            let rest = data.get(pos..).unwrap_or_default();
            match self.phase {
                Phase::Data(n) => {
                    let take = n.min(rest.len() as u64);
                    pos = pos.saturating_add(take as usize);
                    let left = n.saturating_sub(take);
                    self.phase = if left == 0 {
                        Phase::DataEnd(false)
                    } else {
                        Phase::Data(left)
                    };
                }
                Phase::DataEnd(cr) => {
                    match (cr, rest.first()) {
                        (false, Some(b'\r')) => self.phase = Phase::DataEnd(true),
                        (_, Some(b'\n')) => self.phase = Phase::Size,
                        _ => return ChunkStep::Bad(pos),
                    }
                    pos = pos.saturating_add(1);
                }
                Phase::Size => {
                    let lf = rest.iter().position(|&b| b == b'\n');
                    let Some(lf) = lf else {
                        if self.carry.len().saturating_add(rest.len()) > MAX_CHUNK_LINE {
                            return ChunkStep::Bad(pos);
                        }
                        self.carry.extend_from_slice(rest);
                        return ChunkStep::More;
                    };
                    let line_part = rest.get(..=lf).unwrap_or_default();
                    let size = if self.carry.is_empty() {
                        chunk_size(line_part)
                    } else {
                        if self.carry.len().saturating_add(line_part.len()) > MAX_CHUNK_LINE {
                            return ChunkStep::Bad(pos);
                        }
                        self.carry.extend_from_slice(line_part);
                        let s = chunk_size(&self.carry);
                        self.carry.clear();
                        s
                    };
                    pos = pos.saturating_add(lf).saturating_add(1);
                    match size {
                        None => return ChunkStep::Bad(pos),
                        Some(0) => {
                            self.phase = Phase::Trailers {
                                line: 0,
                                first_cr: false,
                            }
                        }
                        Some(n) => self.phase = Phase::Data(n),
                    }
                }
                Phase::Trailers { line, first_cr } => match rest.iter().position(|&b| b == b'\n') {
                    Some(lf) => {
                        let len = line.saturating_add(lf);
                        let first_cr = if line == 0 {
                            rest.first() == Some(&b'\r')
                        } else {
                            first_cr
                        };
                        pos = pos.saturating_add(lf).saturating_add(1);
                        self.trailer_bytes =
                            self.trailer_bytes.saturating_add(lf).saturating_add(1);
                        if len == 0 || (len == 1 && first_cr) {
                            *self = Chunked::new();
                            return ChunkStep::Done(pos);
                        }
                        if self.trailer_bytes > MAX_TRAILERS {
                            return ChunkStep::Bad(pos);
                        }
                        self.phase = Phase::Trailers {
                            line: 0,
                            first_cr: false,
                        };
                    }
                    None => {
                        let first_cr = if line == 0 {
                            rest.first() == Some(&b'\r')
                        } else {
                            first_cr
                        };
                        self.trailer_bytes = self.trailer_bytes.saturating_add(rest.len());
                        if self.trailer_bytes > MAX_TRAILERS {
                            return ChunkStep::Bad(data.len());
                        }
                        self.phase = Phase::Trailers {
                            line: line.saturating_add(rest.len()),
                            first_cr,
                        };
                        return ChunkStep::More;
                    }
                },
            }
        }
        ChunkStep::More
    }

    /// A gap of `n` bytes: true when it falls inside chunk data and was counted off.
    pub fn gap(&mut self, n: u64) -> bool {
        match self.phase {
            Phase::Data(left) if n < left => {
                self.phase = Phase::Data(left.saturating_sub(n));
                true
            }
            Phase::Data(left) if n == left => {
                self.phase = Phase::DataEnd(false);
                true
            }
            _ => false,
        }
    }
}

/// The size on one chunk-size line (ending in LF; CRLF or a bare LF), or `None` when the
/// line is not one.
fn chunk_size(line: &[u8]) -> Option<u64> {
    if !line.first().is_some_and(u8::is_ascii_hexdigit) {
        return None;
    }
    let body = line.strip_suffix(b"\n")?;
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    let parsed = if line.ends_with(b"\r\n") {
        httparse::parse_chunk_size(line)
    } else {
        // A bare LF: give httparse the CRLF it wants, on a small copy.
        let mut v = Vec::with_capacity(body.len().saturating_add(2));
        v.extend_from_slice(body);
        v.extend_from_slice(b"\r\n");
        httparse::parse_chunk_size(&v)
    };
    match parsed {
        Ok(httparse::Status::Complete((used, size))) if used == body.len().saturating_add(2) => {
            Some(size)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(cl: Option<u64>, te: Option<bool>) -> BodyInfo {
        BodyInfo {
            content_length: cl,
            has_transfer_encoding: te.is_some(),
            chunked: te == Some(true),
            ..BodyInfo::default()
        }
    }

    #[test]
    fn response_framing_rules() {
        let cl = info(Some(10), None);
        assert_eq!(
            response_framing(Some("GET"), 200, &cl).0,
            Framing::Length(10)
        );
        assert_eq!(response_framing(Some("HEAD"), 200, &cl).0, Framing::None);
        assert_eq!(response_framing(Some("GET"), 204, &cl).0, Framing::None);
        assert_eq!(response_framing(Some("GET"), 304, &cl).0, Framing::None);
        assert_eq!(response_framing(Some("GET"), 100, &cl).0, Framing::None);
        assert_eq!(response_framing(Some("GET"), 101, &cl).0, Framing::Tunnel);
        assert_eq!(
            response_framing(Some("CONNECT"), 200, &cl).0,
            Framing::Tunnel
        );
        assert_eq!(
            response_framing(Some("connect"), 407, &cl).0,
            Framing::Length(10)
        );
        assert_eq!(response_framing(None, 200, &cl).0, Framing::Length(10));
        let none = info(None, None);
        assert_eq!(
            response_framing(Some("GET"), 200, &none).0,
            Framing::UntilClose
        );
        let ch = info(Some(3), Some(true));
        assert_eq!(response_framing(Some("GET"), 200, &ch).0, Framing::Chunked);
        let gz = info(None, Some(false));
        assert_eq!(
            response_framing(Some("GET"), 200, &gz).0,
            Framing::UntilClose
        );
        let zero = info(Some(0), None);
        assert_eq!(response_framing(Some("GET"), 407, &zero).0, Framing::None);
    }

    #[test]
    fn request_framing_rules() {
        assert_eq!(request_framing(&info(None, None)).0, Framing::None);
        assert_eq!(request_framing(&info(Some(4), None)).0, Framing::Length(4));
        assert_eq!(
            request_framing(&info(Some(4), Some(true))).0,
            Framing::Chunked
        );
        assert_eq!(
            request_framing(&info(None, Some(false))),
            (Framing::None, Some(HttpAnomaly::BadTransferEncoding))
        );
    }

    const BODY: &[u8] = b"5;name=\"v\"\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\nNEXT";

    #[test]
    fn chunked_whole() {
        let mut c = Chunked::new();
        assert_eq!(c.feed(BODY), ChunkStep::Done(BODY.len() - 4));
    }

    #[test]
    fn chunked_every_split_point_and_bytewise() {
        for split in 0..BODY.len() {
            let mut c = Chunked::new();
            let (a, b) = BODY.split_at(split);
            let total = match c.feed(a) {
                ChunkStep::Done(n) => n,
                ChunkStep::More => match c.feed(b) {
                    ChunkStep::Done(n) => split + n,
                    other => panic!("split {split}: {other:?}"),
                },
                ChunkStep::Bad(_) => panic!("split {split}: bad"),
            };
            assert_eq!(total, BODY.len() - 4, "split {split}");
        }
        let mut c = Chunked::new();
        let mut end = None;
        for (i, b) in BODY.iter().enumerate() {
            match c.feed(std::slice::from_ref(b)) {
                ChunkStep::More => {}
                ChunkStep::Done(1) => {
                    end = Some(i + 1);
                    break;
                }
                other => panic!("byte {i}: {other:?}"),
            }
        }
        assert_eq!(end, Some(BODY.len() - 4));
    }

    #[test]
    fn chunked_bare_lf_and_no_trailers() {
        let mut c = Chunked::new();
        assert_eq!(c.feed(b"3\nabc\n0\n\nX"), ChunkStep::Done(9));
    }

    #[test]
    fn bad_chunks() {
        assert!(matches!(Chunked::new().feed(b"zz\r\n"), ChunkStep::Bad(_)));
        assert!(matches!(Chunked::new().feed(b"\r\n"), ChunkStep::Bad(_)));
        assert!(matches!(
            Chunked::new().feed(b"3\r\nabcXY"),
            ChunkStep::Bad(6)
        ));
        let long = vec![b'1'; MAX_CHUNK_LINE + 1];
        assert!(matches!(Chunked::new().feed(&long), ChunkStep::Bad(_)));
        assert!(matches!(
            Chunked::new().feed(b"11111111111111111\r\n"),
            ChunkStep::Bad(_)
        ));
    }

    #[test]
    fn gap_inside_chunk_data() {
        let mut c = Chunked::new();
        assert_eq!(c.feed(b"a\r\nab"), ChunkStep::More);
        assert!(c.gap(5));
        assert_eq!(c.feed(b"hij\r\n0\r\n\r\n"), ChunkStep::Done(10));
        let mut c = Chunked::new();
        assert!(!c.gap(1));
    }
}
