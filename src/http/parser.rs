//! Pure head parsing over httparse: a request or response head from a byte slice, reduced to
//! the fields the analysis and the body framing need ([`ParsedRequest`], [`ParsedResponse`]),
//! plus cheap "does this look like the start of a head" checks used for sniffing a
//! connection and for resynchronising after a gap ([`looks_like_request`],
//! [`looks_like_response`]).
//!
//! Keeps no state: `httparse`'s `Partial` means "call again from the start with more bytes".
//! Every decision here depends only on the bytes given, never on how they were split, and a
//! prefix of a head never gets a verdict that the whole head would contradict. Header values
//! that may hold secrets are wrapped in [`Secret`] straight away.

use super::{RequestHead, ResponseHead};
use crate::anomaly::HttpAnomaly;
use crate::secret::Secret;

/// A head longer than this without its empty line is an `oversized_head` anomaly.
pub const MAX_HEAD: usize = 64 * 1024;
/// Header slots per head; more headers are a `too_many_headers` anomaly.
pub const MAX_HEADERS: usize = 100;
/// Longest method token accepted by the plausibility checks.
const MAX_METHOD: usize = 24;
/// Longest request target accepted by the plausibility checks.
const MAX_TARGET: usize = 16 * 1024;

/// The outcome of parsing a head from the start of a slice.
#[derive(Debug, PartialEq, Eq)]
pub enum Head<T> {
    /// A whole head; its length is in the head's `head_len`.
    Complete(T),
    /// A consistent prefix: call again with more bytes.
    Partial,
    /// Not a head; what is wrong with it.
    Invalid(HttpAnomaly),
}

/// What a head says about the body that follows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BodyInfo {
    /// `Content-Length`, when present and valid (repeated equal values allowed).
    pub content_length: Option<u64>,
    /// `Content-Length` present but not a number, or repeated with different values.
    pub bad_length: bool,
    /// `Transfer-Encoding` present.
    pub has_transfer_encoding: bool,
    /// `Transfer-Encoding` ends with `chunked`.
    pub chunked: bool,
    /// `Connection` or `Proxy-Connection` lists `close`.
    pub close: bool,
    /// `Connection` or `Proxy-Connection` lists `keep-alive`.
    pub keep_alive: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub struct ParsedRequest {
    pub head: RequestHead,
    pub body: BodyInfo,
}

#[derive(Debug, PartialEq, Eq)]
pub struct ParsedResponse {
    pub head: ResponseHead,
    pub body: BodyInfo,
}

/// A verdict on the first bytes of a would-be head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Looks {
    /// A plausible request line or status line (at least its decisive prefix).
    Http,
    /// Too few bytes to tell; everything so far is consistent with a head.
    NeedMore,
    /// A TLS handshake record (`0x16 0x03`).
    Tls,
    /// Not the start of an HTTP head.
    No,
}

/// Parses a request head from the start of `buf` (at most [`MAX_HEAD`] bytes are looked at).
pub fn parse_request(buf: &[u8]) -> Head<ParsedRequest> {
    let buf = cap(buf);
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut slots);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => {
            let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version)
            else {
                return Head::Invalid(HttpAnomaly::BadHead);
            };
            Head::Complete(request_head(method, target, version, len, req.headers))
        }
        Ok(httparse::Status::Partial) => partial(buf),
        Err(httparse::Error::TooManyHeaders) => Head::Invalid(HttpAnomaly::TooManyHeaders),
        Err(_) => lenient_request(buf),
    }
}

/// What httparse refuses but clients send and proxies accept: a request line with extra
/// words between target and version (`CONNECT host:25 / HTTP/1.0`: the first word is the
/// method, the second the target, the last the version), and header lines that are not
/// fields (passed over).
fn lenient_request(buf: &[u8]) -> Head<ParsedRequest> {
    let Some(eol) = buf.iter().position(|&b| b == b'\n') else {
        return partial(buf);
    };
    let line = buf.get(..eol).unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let words: Vec<&[u8]> = line
        .split(|&b| b == b' ')
        .filter(|w| !w.is_empty())
        .collect();
    let (Some(method), Some(target), Some(version)) = (words.first(), words.get(1), words.last())
    else {
        return Head::Invalid(HttpAnomaly::BadHead);
    };
    let version = match *version {
        b"HTTP/1.0" => 0,
        b"HTTP/1.1" => 1,
        _ => return Head::Invalid(HttpAnomaly::BadHead),
    };
    if words.len() < 3
        || !method
            .iter()
            .all(|b| b.is_ascii_uppercase() || *b == b'-' || *b == b'_')
        || !target.iter().all(u8::is_ascii_graphic)
    {
        return Head::Invalid(HttpAnomaly::BadHead);
    }
    let (Ok(method), Ok(target)) = (std::str::from_utf8(method), std::str::from_utf8(target))
    else {
        return Head::Invalid(HttpAnomaly::BadHead);
    };
    let headers_start = eol.saturating_add(1);
    let rest = buf.get(headers_start..).unwrap_or_default();
    match lenient_headers(rest) {
        Some((n, headers)) => Head::Complete(request_head(
            method,
            target,
            version,
            headers_start.saturating_add(n),
            &headers,
        )),
        None => partial(buf),
    }
}

/// Header fields line by line up to the empty line, passing over lines that are not
/// `name: value` (some clients send a bare User-Agent string as a line of its own). `None`
/// until the empty line has arrived; at most [`MAX_HEADERS`] fields are kept.
fn lenient_headers(buf: &[u8]) -> Option<(usize, Vec<httparse::Header<'_>>)> {
    let mut headers = Vec::new();
    let mut at = 0;
    loop {
        let rest = buf.get(at..)?;
        let eol = rest.iter().position(|&b| b == b'\n')?;
        let line = rest.get(..eol)?;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        at = at.saturating_add(eol).saturating_add(1);
        if line.is_empty() {
            return Some((at, headers));
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (Some(name), Some(value)) = (line.get(..colon), line.get(colon.saturating_add(1)..))
        else {
            continue;
        };
        let Ok(name) = std::str::from_utf8(name) else {
            continue;
        };
        if name.is_empty() || name.contains(' ') || headers.len() >= MAX_HEADERS {
            continue;
        }
        headers.push(httparse::Header {
            name,
            value: value.trim_ascii(),
        });
    }
}

/// The request head the analysis uses, from a parsed request line and header fields.
fn request_head(
    method: &str,
    target: &str,
    version: u8,
    len: usize,
    headers: &[httparse::Header<'_>],
) -> ParsedRequest {
    let mut head = RequestHead {
        method: method.to_string(),
        target: target.to_string(),
        version,
        head_len: len,
        ..RequestHead::default()
    };
    let mut body = BodyInfo::default();
    for h in headers {
        let name = h.name;
        if common_header(name, h.value, &mut body) {
            continue;
        }
        if name.eq_ignore_ascii_case("host") {
            head.host.get_or_insert_with(|| text(h.value));
        } else if name.eq_ignore_ascii_case("user-agent") {
            head.user_agent.get_or_insert_with(|| text(h.value));
        } else if name.eq_ignore_ascii_case("proxy-authorization") {
            head.proxy_authorization
                .get_or_insert_with(|| Secret::new(text(h.value)));
        }
    }
    ParsedRequest { head, body }
}

/// Parses a response head from the start of `buf` (at most [`MAX_HEAD`] bytes are looked
/// at). Obsolete line folding is accepted.
pub fn parse_response(buf: &[u8]) -> Head<ParsedResponse> {
    let buf = cap(buf);
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut slots);
    let mut cfg = httparse::ParserConfig::default();
    cfg.allow_obsolete_multiline_headers_in_responses(true)
        .allow_spaces_after_header_name_in_responses(true);
    let len = match cfg.parse_response(&mut resp, buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return partial(buf),
        Err(e) => return Head::Invalid(error_name(e)),
    };
    let (Some(status), Some(version)) = (resp.code, resp.version) else {
        return Head::Invalid(HttpAnomaly::BadHead);
    };
    let mut head = ResponseHead {
        status,
        version,
        head_len: len,
        ..ResponseHead::default()
    };
    let mut body = BodyInfo::default();
    for h in resp.headers.iter() {
        let name = h.name;
        if common_header(name, h.value, &mut body) {
            continue;
        }
        if name.eq_ignore_ascii_case("proxy-authenticate") {
            head.proxy_authenticate.push(Secret::new(text(h.value)));
        } else if name.eq_ignore_ascii_case("www-authenticate") {
            head.www_authenticate.push(Secret::new(text(h.value)));
        }
    }
    head.connection_close = body.close || (version == 0 && !body.keep_alive);
    Head::Complete(ParsedResponse { head, body })
}

fn cap(buf: &[u8]) -> &[u8] {
    buf.get(..MAX_HEAD).unwrap_or(buf)
}

fn partial<T>(buf: &[u8]) -> Head<T> {
    if buf.len() >= MAX_HEAD {
        Head::Invalid(HttpAnomaly::OversizedHead)
    } else {
        Head::Partial
    }
}

fn error_name(e: httparse::Error) -> HttpAnomaly {
    match e {
        httparse::Error::TooManyHeaders => HttpAnomaly::TooManyHeaders,
        httparse::Error::HeaderName | httparse::Error::HeaderValue => HttpAnomaly::BadHeader,
        _ => HttpAnomaly::BadHead,
    }
}

/// Header values are bytes; names and values kept as text are converted lossily.
fn text(v: &[u8]) -> String {
    // Checking UTF-8 first is several times faster than the lossy scan, and values are
    // nearly always valid (most are ASCII).
    match std::str::from_utf8(v) {
        Ok(s) => s.trim().to_string(),
        Err(_) => String::from_utf8_lossy(v).trim().to_string(),
    }
}

/// Headers that matter for framing in both directions. Returns true when `name` was one.
fn common_header(name: &str, value: &[u8], body: &mut BodyInfo) -> bool {
    if name.eq_ignore_ascii_case("content-length") {
        for part in value.split(|&b| b == b',') {
            match parse_decimal(part) {
                Some(n) if body.content_length.is_none_or(|old| old == n) => {
                    body.content_length = Some(n)
                }
                _ => body.bad_length = true,
            }
        }
        true
    } else if name.eq_ignore_ascii_case("transfer-encoding") {
        body.has_transfer_encoding = true;
        // The last coding decides: `gzip, chunked` is chunked, `chunked, gzip` is not.
        if let Some(last) = value
            .split(|&b| b == b',')
            .map(trim)
            .rfind(|t| !t.is_empty())
        {
            body.chunked = last.eq_ignore_ascii_case(b"chunked");
        }
        true
    } else if name.eq_ignore_ascii_case("connection")
        || name.eq_ignore_ascii_case("proxy-connection")
    {
        for token in value.split(|&b| b == b',').map(trim) {
            if token.eq_ignore_ascii_case(b"close") {
                body.close = true;
            } else if token.eq_ignore_ascii_case(b"keep-alive") {
                body.keep_alive = true;
            }
        }
        true
    } else {
        false
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |p| p.saturating_add(1));
    s.get(start..end).unwrap_or_default()
}

fn parse_decimal(s: &[u8]) -> Option<u64> {
    let s = trim(s);
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n
            .checked_mul(10)?
            .checked_add(u64::from(b.wrapping_sub(b'0')))?;
    }
    Some(n)
}

/// Bytes that may precede a head and are ignored: the stray empty lines some clients and
/// servers send after a message (RFC 9112 §2.2).
pub(crate) fn leading_newlines(buf: &[u8]) -> usize {
    buf.iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len())
}

/// Does `buf` start like a request line (`METHOD SP target SP HTTP/1.x` then a line end)?
/// Also tells a TLS record apart, for sniffing the first bytes of a connection.
pub fn looks_like_request(buf: &[u8]) -> Looks {
    match buf {
        [] => return Looks::NeedMore,
        [0x16] => return Looks::NeedMore,
        [0x16, 0x03, ..] => return Looks::Tls,
        _ => {}
    }
    // Method: an upper-case token.
    let mut i = 0;
    loop {
        match buf.get(i) {
            None => return Looks::NeedMore,
            Some(b' ') if i > 0 => break,
            Some(b) if (b.is_ascii_uppercase() || *b == b'-' || *b == b'_') && i < MAX_METHOD => {}
            Some(_) => return Looks::No,
        }
        i = i.saturating_add(1);
    }
    i = i.saturating_add(1);
    // Target: visible characters.
    let start = i;
    loop {
        match buf.get(i) {
            None => return Looks::NeedMore,
            Some(b' ') if i > start => break,
            Some(b) if b.is_ascii_graphic() && i.saturating_sub(start) < MAX_TARGET => {}
            Some(_) => return Looks::No,
        }
        i = i.saturating_add(1);
    }
    i = i.saturating_add(1);
    match version_then_eol(buf.get(i..).unwrap_or_default()) {
        Looks::No => extra_words_then_version(buf.get(i..).unwrap_or_default()),
        looks => looks,
    }
}

/// The rest of a request line with extra words before the version (`/ HTTP/1.0`): visible
/// words, the last of them `HTTP/1.x`, then the line end.
fn extra_words_then_version(rest: &[u8]) -> Looks {
    let Some(eol) = rest.iter().take(MAX_TARGET).position(|&b| b == b'\n') else {
        let visible = rest.iter().all(|b| b.is_ascii_graphic() || *b == b' ');
        return if visible && rest.len() < MAX_TARGET {
            Looks::NeedMore
        } else {
            Looks::No
        };
    };
    let line = rest.get(..eol).unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if !line.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        return Looks::No;
    }
    match line.rsplit(|&b| b == b' ').next() {
        Some([b'H', b'T', b'T', b'P', b'/', b'1', b'.', d]) if d.is_ascii_digit() => Looks::Http,
        _ => Looks::No,
    }
}

/// `HTTP/1.x` followed by CR or LF.
fn version_then_eol(rest: &[u8]) -> Looks {
    const V: &[u8] = b"HTTP/1.";
    let n = rest.len().min(V.len());
    if rest.get(..n) != V.get(..n) {
        return Looks::No;
    }
    match rest.get(V.len()..) {
        None | Some([]) => Looks::NeedMore,
        Some([d, ..]) if !d.is_ascii_digit() => Looks::No,
        Some([_]) => Looks::NeedMore,
        Some([_, b'\r' | b'\n', ..]) => Looks::Http,
        Some(_) => Looks::No,
    }
}

/// Does `buf` start like a status line (`HTTP/1.x NNN`)?
pub fn looks_like_response(buf: &[u8]) -> Looks {
    const V: &[u8] = b"HTTP/1.";
    let n = buf.len().min(V.len());
    if buf.get(..n) != V.get(..n) {
        return Looks::No;
    }
    let rest = buf.get(V.len()..).unwrap_or_default();
    let want: [fn(u8) -> bool; 5] = [
        |b| b.is_ascii_digit(),
        |b| b == b' ',
        |b| b.is_ascii_digit(),
        |b| b.is_ascii_digit(),
        |b| b.is_ascii_digit(),
    ];
    for (i, ok) in want.iter().enumerate() {
        match rest.get(i) {
            None => return Looks::NeedMore,
            Some(&b) if ok(b) => {}
            Some(_) => return Looks::No,
        }
    }
    Looks::Http
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    fn req(s: &[u8]) -> ParsedRequest {
        match parse_request(s) {
            Head::Complete(r) => r,
            other => panic!("not complete: {other:?}"),
        }
    }
    fn resp(s: &[u8]) -> ParsedResponse {
        match parse_response(s) {
            Head::Complete(r) => r,
            other => panic!("not complete: {other:?}"),
        }
    }

    #[test]
    fn request_fields() {
        let raw =
            b"GET http://example.com/x HTTP/1.1\r\nhOsT: example.com\r\nUser-Agent: curl/8\r\n\
                    Proxy-Authorization: Basic dXNlcjpwdw==\r\nContent-Length: 5\r\n\
                    Proxy-Connection: Keep-Alive\r\n\r\nhello";
        let r = req(raw);
        assert_eq!(r.head.method, "GET");
        assert_eq!(r.head.target, "http://example.com/x");
        assert_eq!(r.head.version, 1);
        assert_eq!(r.head.host.as_deref(), Some("example.com"));
        assert_eq!(r.head.user_agent.as_deref(), Some("curl/8"));
        assert_eq!(
            r.head.proxy_authorization.as_ref().map(|s| s.expose()),
            Some("Basic dXNlcjpwdw==")
        );
        assert_eq!(r.head.head_len, raw.len() - 5);
        assert!(r.head.is_proxy_form());
        assert_eq!(r.body.content_length, Some(5));
        assert!(r.body.keep_alive && !r.body.close);
    }

    #[test]
    fn request_line_with_extra_words() {
        let raw = b"CONNECT mail.example:25 / HTTP/1.0\r\nUser-Agent: x\r\n\r\n";
        assert_eq!(looks_like_request(raw), Looks::Http);
        for n in 0..raw.len() {
            assert_eq!(parse_request(&raw[..n]), Head::Partial, "prefix {n}");
        }
        let Head::Complete(r) = parse_request(raw) else {
            panic!("not parsed")
        };
        assert_eq!(r.head.method, "CONNECT");
        assert_eq!(r.head.target, "mail.example:25");
        assert_eq!(r.head.version, 0);
        assert_eq!(r.head.head_len, raw.len());
        assert_eq!(r.head.user_agent.as_deref(), Some("x"));
        let raw =
            b"CONNECT mail.example:25 / HTTP/1.0\r\nMozilla 4.0 (compatible)\r\nHost: h\r\n\r\n";
        let Head::Complete(r) = parse_request(raw) else {
            panic!("not parsed")
        };
        assert_eq!(r.head.host.as_deref(), Some("h"));
        assert_eq!(r.head.head_len, raw.len());
        assert_eq!(looks_like_request(b"GET / x y\r\n"), Looks::No);
        assert!(matches!(
            parse_request(b"GET / x y\r\n\r\n"),
            Head::Invalid(_)
        ));
    }

    #[test]
    fn partial_prefixes_then_complete() {
        let raw = b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n";
        for n in 0..raw.len() {
            assert_eq!(parse_request(&raw[..n]), Head::Partial, "prefix {n}");
        }
        assert_eq!(req(raw).head.head_len, raw.len());
    }

    #[test]
    fn bare_lf_line_ends() {
        let r = req(b"GET / HTTP/1.0\nHost: h\n\n");
        assert_eq!(r.head.host.as_deref(), Some("h"));
        assert_eq!(r.head.version, 0);
        let s = resp(b"HTTP/1.1 204 No Content\nServer: x\n\n");
        assert_eq!(s.head.status, 204);
    }

    #[test]
    fn response_challenges_each_kept() {
        let raw = b"HTTP/1.1 407 Proxy Authentication Required\r\n\
            Proxy-Authenticate: Negotiate\r\nProxy-Authenticate: NTLM\r\n\
            proxy-authenticate: Basic realm=\"corp\"\r\nWWW-Authenticate: Digest nonce=\"n\"\r\n\
            Connection: close\r\nContent-Length: 0\r\n\r\n";
        let r = resp(raw);
        assert_eq!(r.head.status, 407);
        let pa: Vec<&str> = r
            .head
            .proxy_authenticate
            .iter()
            .map(|s| s.expose())
            .collect();
        assert_eq!(pa, ["Negotiate", "NTLM", "Basic realm=\"corp\""]);
        assert_eq!(r.head.www_authenticate.len(), 1);
        assert!(r.head.connection_close);
        assert_eq!(r.body.content_length, Some(0));
    }

    #[test]
    fn obs_fold_in_response() {
        let r = resp(b"HTTP/1.1 407 x\r\nProxy-Authenticate: Basic\r\n realm=\"a\"\r\n\r\n");
        assert_eq!(r.head.proxy_authenticate.len(), 1);
        assert!(r.head.proxy_authenticate[0].expose().contains("realm"));
    }

    #[test]
    fn http10_close_unless_keep_alive() {
        assert!(resp(b"HTTP/1.0 200 OK\r\n\r\n").head.connection_close);
        assert!(
            !resp(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n")
                .head
                .connection_close
        );
        assert!(!resp(b"HTTP/1.1 200 OK\r\n\r\n").head.connection_close);
    }

    #[test]
    fn framing_headers() {
        let b = resp(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n").body;
        assert!(b.chunked && b.has_transfer_encoding);
        let b = resp(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n").body;
        assert!(!b.chunked && b.has_transfer_encoding);
        let b = resp(b"HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\n\r\n").body;
        assert_eq!((b.content_length, b.bad_length), (Some(7), false));
        let b = resp(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 8\r\n\r\n").body;
        assert!(b.bad_length);
        let b = resp(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n").body;
        assert!(b.bad_length && b.content_length.is_none());
        let b = resp(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n").body;
        assert!(b.bad_length);
    }

    #[test]
    fn non_utf8_values_are_lossy() {
        let r = req(b"GET / HTTP/1.1\r\nUser-Agent: caf\xe9\r\n\r\n");
        assert_eq!(r.head.user_agent.as_deref(), Some("caf\u{fffd}"));
    }

    #[test]
    fn too_many_headers_is_invalid() {
        let mut raw = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            raw.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        assert_eq!(
            parse_request(&raw),
            Head::Invalid(HttpAnomaly::TooManyHeaders)
        );
    }

    #[test]
    fn oversized_head_is_invalid() {
        let mut raw = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
        raw.resize(MAX_HEAD + 10, b'a');
        assert_eq!(
            parse_request(&raw),
            Head::Invalid(HttpAnomaly::OversizedHead)
        );
        assert_eq!(parse_request(&raw[..MAX_HEAD - 1]), Head::Partial);
    }

    #[test]
    fn garbage_is_invalid() {
        assert!(matches!(
            parse_request(b"\x00\x01\x02 garbage\r\n\r\n"),
            Head::Invalid(_)
        ));
        assert!(matches!(
            parse_response(b"SSH-2.0-OpenSSH\r\n\r\n"),
            Head::Invalid(_)
        ));
    }

    #[test]
    fn looks_checks_are_prefix_consistent() {
        let line = b"GET http://a/ HTTP/1.1\r\n";
        for n in 0..line.len() - 1 {
            assert_eq!(looks_like_request(&line[..n]), Looks::NeedMore, "{n}");
        }
        assert_eq!(looks_like_request(&line[..]), Looks::Http);
        assert_eq!(looks_like_request(b"\x16\x03\x01\x02\x00"), Looks::Tls);
        assert_eq!(looks_like_request(b"\x16"), Looks::NeedMore);
        assert_eq!(looks_like_request(b"get / HTTP/1.1\r\n"), Looks::No);
        assert_eq!(looks_like_request(b"GET / HTTP/2.0\r\n"), Looks::No);
        assert_eq!(looks_like_request(b"GET / HTTP/1.1 x\r\n"), Looks::No);
        assert_eq!(looks_like_request(b"EHLO there\r\n"), Looks::No);
        let status = b"HTTP/1.1 407";
        for n in 0..status.len() {
            assert_eq!(looks_like_response(&status[..n]), Looks::NeedMore, "{n}");
        }
        assert_eq!(looks_like_response(status), Looks::Http);
        assert_eq!(looks_like_response(b"220 smtp ready"), Looks::No);
        assert_eq!(looks_like_response(b"HTTP/1.1 20x"), Looks::No);
    }

    #[test]
    fn leading_newlines_counted() {
        assert_eq!(leading_newlines(b"\r\n\nGET"), 3);
        assert_eq!(leading_newlines(b"\r\n"), 2);
        assert_eq!(leading_newlines(b"G"), 0);
    }
}
