//! One connection's HTTP/1.x state: a state machine per side (head, body, chunked, until
//! close, tunnel, skip, resync), pairing of responses with requests in order (pipelining
//! included, capped), `CONNECT` tunnels (skipped by counting unless the client speaks plain
//! HTTP inside), sniffing of the first bytes (HTTP, TLS, other), and what becomes of pending
//! requests after gaps and closes.
//!
//! Copies nothing on the in-order path except the bytes of a head split across segments
//! (kept in a buffer capped at [`MAX_HEAD`]) and a few bytes of a split chunk-size line.
//!
//! Rules that are judgement calls, kept simple on purpose:
//! - **Gaps.** A gap inside a body (or a tunnel, or a body read until close) is counted off.
//!   A gap where a head was expected, or one that runs past the end of a body, makes the side
//!   resynchronise: it scans for the next line that starts like a request line (client) or a
//!   status line (server), and the next pairing that involves that side is `after_gap`.
//!   After a server-side gap, when the first response head after it arrives, the requests
//!   that were pending at the gap and are older than the newest pending request sent before
//!   that response are [`Unanswered::Gap`]: without pipelining a client sends its next request
//!   only once it has the previous response, so the newest request sent before a response is
//!   the one it answers. A client-side gap only marks the next request `after_gap`.
//! - **Closes.** A client RST makes every pending request unanswered at once. A client FIN
//!   does not: the server may still answer. A server FIN or RST makes the pending requests
//!   unanswered, and so does [`HttpConn::finish`]. The reason given is
//!   `Closed { by, reset }` of the first side that closed (the one who hung up first), or
//!   `End` when no close was seen.
//! - **1xx.** Interim responses (`100 Continue`, ...) pair with nothing and produce no event;
//!   `101 Switching Protocols` consumes its request and turns both sides into a tunnel.

use super::framing::{request_framing, response_framing, ChunkStep, Chunked, Framing};
use super::parser::{
    leading_newlines, looks_like_request, looks_like_response, parse_request, parse_response, Head,
    Looks, ParsedRequest, ParsedResponse, MAX_HEAD,
};
use super::{HttpEvent, RequestHead, Unanswered};
use crate::anomaly::HttpAnomaly;
use crate::model::{FrameRef, Side, Ts};
use crate::reassembly::StreamEvent;
use std::collections::VecDeque;

/// Most requests waiting for their responses; more are a `pipeline_overflow` anomaly.
pub const MAX_PENDING: usize = 64;

/// What a connection has shown itself to be so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConnKind {
    /// Nothing decisive yet.
    #[default]
    Unknown,
    /// HTTP, but no proxy signal (yet).
    Http,
    /// The client's first bytes are a TLS handshake (TLS straight to the server).
    Tls,
    /// Neither HTTP nor TLS: skipped.
    Other,
}

/// How a failure to find a head at the expected place is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The first bytes of the side: a failure says what the connection is not.
    Sniff,
    /// A head must be here: a failure is an anomaly, then resync.
    Strict,
    /// A candidate found while resynchronising: a failure goes on scanning silently.
    Resync,
    /// The first bytes inside a `CONNECT` tunnel: a failure means an opaque tunnel.
    TunnelStart,
}

#[derive(Debug)]
enum State {
    Head(Mode),
    /// Scanning for a line that starts a head; `line_start` when the next byte begins a line.
    Resync {
        line_start: bool,
    },
    Body(u64),
    Chunked(Chunked),
    UntilClose,
    Tunnel,
    /// Not HTTP: everything is counted and dropped.
    Skip,
    Closed,
}

#[derive(Debug)]
struct SideState {
    state: State,
    /// The bytes of a head split across segments (at most [`MAX_HEAD`]).
    buf: Vec<u8>,
    /// When the first byte of the head being read arrived, and in which frame.
    head_ts: Option<Ts>,
    head_frame: FrameRef,
    /// A gap made this side lose its place; the next head found is marked.
    after_gap: bool,
    /// The first bytes of this side looked like HTTP (`Some(true)`) or not.
    verdict: Option<bool>,
    /// Bytes counted off without parsing (bodies, tunnels, skipped streams, gaps).
    skipped: u64,
}

impl Default for SideState {
    fn default() -> Self {
        SideState {
            state: State::Head(Mode::Sniff),
            buf: Vec::new(),
            head_ts: None,
            head_frame: FrameRef::default(),
            after_gap: false,
            verdict: None,
            skipped: 0,
        }
    }
}

/// A request waiting for its response: the one record of it while it is pending.
#[derive(Debug)]
struct Pending<X> {
    /// The request's number on its connection, from 0 in the order sent.
    seq: u64,
    ts: Ts,
    head: RequestHead,
    after_gap: bool,
    tunneled: bool,
    /// What the owner of the connection keeps with the request (the engine: its parsed
    /// credentials), handed back with the request's event.
    ext: X,
}

/// The outcome of looking for a head at the start of some bytes.
enum Attempt {
    Request(ParsedRequest),
    Response(ParsedResponse),
    NeedMore,
    Fail { name: HttpAnomaly, tls: bool },
}

/// One connection's HTTP state. `X` is what the owner keeps with each pending request
/// ([`HttpConn::newest_pending_mut`]); it comes back in the request's [`HttpEvent`].
#[derive(Debug, Default)]
pub struct HttpConn<X = ()> {
    kind: ConnKind,
    proxy_signal: bool,
    client: SideState,
    server: SideState,
    pending: VecDeque<Pending<X>>,
    /// The number the next request gets.
    next_seq: u64,
    /// A `CONNECT` was answered 2xx: what follows is inside the tunnel.
    tunneled: bool,
    /// The client's non-HTTP bytes after a `CONNECT` still waiting for its answer are being
    /// skipped as the start of a tunnel.
    speculative_tunnel: bool,
    /// The first close seen: which side, and whether it was a reset.
    first_close: Option<(Side, bool)>,
    /// The server side is closed: new requests can get no answer.
    server_closed: bool,
    /// A server-side gap lost the server's place; the number of requests pending then.
    server_gap_pending: Option<usize>,
    /// The frame the bytes being fed came in ([`HttpConn::at_frame`]).
    frame: FrameRef,
}

impl HttpConn {
    pub fn new() -> Self {
        Self::default()
    }
}

impl<X: Default> HttpConn<X> {
    /// The frame of the bytes fed next: heads record the frames they start and end in.
    pub fn at_frame(&mut self, frame: FrameRef) {
        self.frame = frame;
    }

    pub fn on_stream(
        &mut self,
        side: Side,
        ts: Ts,
        ev: StreamEvent<'_>,
        out: &mut Vec<HttpEvent<X>>,
    ) {
        match ev {
            StreamEvent::Data(d) => self.data(side, ts, d, out),
            StreamEvent::Gap(n) => self.gap(side, ts, n, out),
            StreamEvent::Fin => self.close(side, ts, false, out),
            StreamEvent::Rst => self.close(side, ts, true, out),
        }
    }

    /// The connection ends: pending requests become [`HttpEvent::Unanswered`].
    pub fn finish(&mut self, ts: Ts, out: &mut Vec<HttpEvent<X>>) {
        let why = match self.first_close {
            Some((by, reset)) => Unanswered::Closed { by, reset },
            None => Unanswered::End,
        };
        self.flush_pending(ts, why, out);
    }

    pub fn kind(&self) -> ConnKind {
        self.kind
    }

    /// The client sent CONNECT or an absolute-form target, or the server answered 407 or
    /// sent Proxy-Authenticate.
    pub fn proxy_signal(&self) -> bool {
        self.proxy_signal
    }

    /// Requests still waiting for a response.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The newest `n` requests still waiting for a response, oldest first, outside CONNECT
    /// tunnels: (number, time, head, the request came after a gap, the owner's value). The
    /// number is the `seq` of the request's [`HttpEvent`] when it is done.
    pub fn newest_pending_mut(
        &mut self,
        n: usize,
    ) -> impl Iterator<Item = (u64, Ts, &RequestHead, bool, &mut X)> {
        let skip = self.pending.len().saturating_sub(n);
        self.pending
            .iter_mut()
            .skip(skip)
            .filter(|p| !p.tunneled)
            .map(|p| (p.seq, p.ts, &p.head, p.after_gap, &mut p.ext))
    }

    /// Every request still waiting for a response outside CONNECT tunnels, oldest first, as
    /// [`newest_pending_mut`](Self::newest_pending_mut) gives them.
    pub fn pending_requests(&self) -> impl Iterator<Item = (u64, Ts, &RequestHead, bool, &X)> {
        self.pending
            .iter()
            .filter(|p| !p.tunneled)
            .map(|p| (p.seq, p.ts, &p.head, p.after_gap, &p.ext))
    }

    /// Bytes of one side counted off without being parsed (bodies, tunnels, gaps, skipped
    /// streams).
    pub fn skipped_bytes(&self, side: Side) -> u64 {
        match side {
            Side::Client => self.client.skipped,
            Side::Server => self.server.skipped,
        }
    }

    fn side_mut(&mut self, side: Side) -> &mut SideState {
        match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        }
    }

    fn data(&mut self, side: Side, ts: Ts, mut data: &[u8], out: &mut Vec<HttpEvent<X>>) {
        // Every step consumes bytes or changes state; a few steps in a row that do neither
        // would mean a bug, so stop rather than spin.
        let mut idle = 0u8;
        while !data.is_empty() && idle < 4 {
            let n = self.step(side, ts, data, out);
            idle = if n == 0 { idle.saturating_add(1) } else { 0 };
            data = data.get(n..).unwrap_or_default();
        }
    }

    /// Consumes a prefix of `data` in the current state; returns its length.
    fn step(&mut self, side: Side, ts: Ts, data: &[u8], out: &mut Vec<HttpEvent<X>>) -> usize {
        let st = self.side_mut(side);
        match &mut st.state {
            State::Skip | State::Tunnel | State::UntilClose | State::Closed => {
                st.skipped = st.skipped.saturating_add(data.len() as u64);
                data.len()
            }
            State::Body(left) => {
                let take = (*left).min(data.len() as u64);
                *left = left.saturating_sub(take);
                if *left == 0 {
                    st.state = State::Head(Mode::Strict);
                }
                st.skipped = st.skipped.saturating_add(take);
                take as usize
            }
            State::Chunked(c) => match c.feed(data) {
                ChunkStep::More => data.len(),
                ChunkStep::Done(n) => {
                    st.state = State::Head(Mode::Strict);
                    n
                }
                ChunkStep::Bad(n) => {
                    let line_start = n.checked_sub(1).and_then(|i| data.get(i)) == Some(&b'\n');
                    st.state = State::Resync { line_start };
                    out.push(HttpEvent::Anomaly {
                        ts,
                        side,
                        kind: HttpAnomaly::BadChunk,
                    });
                    n
                }
            },
            State::Resync { line_start } => {
                let mut i = 0;
                let mut at = *line_start;
                loop {
                    if at {
                        if i >= data.len() {
                            st.state = State::Resync { line_start: true };
                            return data.len();
                        }
                        st.state = State::Head(Mode::Resync);
                        return i;
                    }
                    match data
                        .get(i..)
                        .and_then(|d| d.iter().position(|&b| b == b'\n'))
                    {
                        Some(p) => {
                            i = i.saturating_add(p).saturating_add(1);
                            at = true;
                        }
                        None => {
                            st.state = State::Resync { line_start: false };
                            return data.len();
                        }
                    }
                }
            }
            State::Head(mode) => {
                let mode = *mode;
                self.head_step(side, ts, data, mode, out)
            }
        }
    }

    fn attempt(side: Side, bytes: &[u8]) -> Attempt {
        let looks = match side {
            Side::Client => looks_like_request(bytes),
            Side::Server => looks_like_response(bytes),
        };
        match looks {
            Looks::No => Attempt::Fail {
                name: HttpAnomaly::NotHttp,
                tls: false,
            },
            Looks::Tls => Attempt::Fail {
                name: HttpAnomaly::NotHttp,
                tls: true,
            },
            Looks::NeedMore if bytes.len() >= MAX_HEAD => Attempt::Fail {
                name: HttpAnomaly::OversizedHead,
                tls: false,
            },
            Looks::NeedMore => Attempt::NeedMore,
            Looks::Http => match side {
                Side::Client => match parse_request(bytes) {
                    Head::Complete(r) => Attempt::Request(r),
                    Head::Partial => Attempt::NeedMore,
                    Head::Invalid(name) => Attempt::Fail { name, tls: false },
                },
                Side::Server => match parse_response(bytes) {
                    Head::Complete(r) => Attempt::Response(r),
                    Head::Partial => Attempt::NeedMore,
                    Head::Invalid(name) => Attempt::Fail { name, tls: false },
                },
            },
        }
    }

    fn head_step(
        &mut self,
        side: Side,
        ts: Ts,
        data: &[u8],
        mode: Mode,
        out: &mut Vec<HttpEvent<X>>,
    ) -> usize {
        let frame = self.frame;
        let st = self.side_mut(side);
        if st.buf.is_empty() {
            // Stray empty lines between messages are skipped; inside a tunnel the first byte
            // must start the head, or the tunnel is opaque (as tshark decides it too).
            let nl = leading_newlines(data);
            if nl > 0 && !matches!(mode, Mode::TunnelStart) {
                return nl;
            }
            match Self::attempt(side, data) {
                Attempt::NeedMore => {
                    st.buf.extend_from_slice(data);
                    st.head_ts = Some(ts);
                    st.head_frame = frame;
                    data.len()
                }
                Attempt::Request(mut r) => {
                    let n = r.head.head_len;
                    (r.head.first_frame, r.head.last_frame) = (frame, frame);
                    self.on_request(ts, r, out);
                    n
                }
                Attempt::Response(mut r) => {
                    let n = r.head.head_len;
                    (r.head.first_frame, r.head.last_frame) = (frame, frame);
                    self.on_response(ts, r, out);
                    n
                }
                Attempt::Fail { name, tls } => {
                    self.head_failed(side, ts, mode, name, tls, data, out)
                }
            }
        } else {
            let mut buf = std::mem::take(&mut st.buf);
            let head_ts = st.head_ts.unwrap_or(ts);
            let head_frame = if st.head_ts.is_some() {
                st.head_frame
            } else {
                frame
            };
            let old = buf.len();
            let take = MAX_HEAD.saturating_sub(old).min(data.len());
            buf.extend_from_slice(data.get(..take).unwrap_or_default());
            // Re-parsing from the start on every small segment would be quadratic: past the
            // first bytes (where the sniffing decides), parse again only when the new bytes
            // may end the head, or the cap is reached. The verdict is the same, only later.
            let tail = buf.get(old.saturating_sub(3)..).unwrap_or_default();
            if old >= EAGER_PARSE && buf.len() < MAX_HEAD && !has_head_end(tail) {
                self.side_mut(side).buf = buf;
                return take;
            }
            let attempt = Self::attempt(side, &buf);
            let consumed = match attempt {
                Attempt::NeedMore => {
                    self.side_mut(side).buf = buf;
                    return take;
                }
                Attempt::Request(mut r) => {
                    let used = r.head.head_len.saturating_sub(old);
                    (r.head.first_frame, r.head.last_frame) = (head_frame, frame);
                    self.on_request(head_ts, r, out);
                    used
                }
                Attempt::Response(mut r) => {
                    let used = r.head.head_len.saturating_sub(old);
                    (r.head.first_frame, r.head.last_frame) = (head_frame, frame);
                    self.on_response(head_ts, r, out);
                    used
                }
                Attempt::Fail { name, tls } => {
                    let n = self.head_failed(side, ts, mode, name, tls, &buf, out);
                    // The buffered bytes after the fault are looked at again in the new
                    // state (they may hold the next head); then the rest of `data`.
                    let rest = buf.get(n..).unwrap_or_default();
                    self.data(side, ts, rest, out);
                    take
                }
            };
            buf.clear();
            let st = self.side_mut(side);
            if st.buf.is_empty() {
                st.buf = buf;
            }
            consumed
        }
    }

    /// No head where one was expected, at the start of `bytes`. Sets the next state and
    /// returns how many of `bytes` are consumed.
    #[allow(clippy::too_many_arguments)]
    fn head_failed(
        &mut self,
        side: Side,
        ts: Ts,
        mode: Mode,
        name: HttpAnomaly,
        tls: bool,
        bytes: &[u8],
        out: &mut Vec<HttpEvent<X>>,
    ) -> usize {
        let (resync_state, resync_len) = if name == HttpAnomaly::OversizedHead {
            let line_start = bytes.get(MAX_HEAD.wrapping_sub(1)) == Some(&b'\n');
            (State::Resync { line_start }, MAX_HEAD.min(bytes.len()))
        } else {
            (State::Resync { line_start: false }, 1)
        };
        let st = self.side_mut(side);
        st.head_ts = None;
        match mode {
            Mode::Resync => {
                st.state = resync_state;
                resync_len
            }
            Mode::TunnelStart => {
                st.state = State::Tunnel;
                st.skipped = st.skipped.saturating_add(bytes.len() as u64);
                bytes.len()
            }
            Mode::Sniff if name != HttpAnomaly::NotHttp => {
                // The start looked like HTTP, the head is broken: an HTTP connection with
                // an anomaly.
                self.saw_http(side);
                out.push(HttpEvent::Anomaly {
                    ts,
                    side,
                    kind: name,
                });
                self.side_mut(side).state = resync_state;
                resync_len
            }
            Mode::Sniff => {
                // Not HTTP at the start of a side: silent, since a capture that begins in
                // the middle of a connection looks just like this.
                st.verdict = Some(false);
                let other = match side {
                    Side::Client => self.server.verdict,
                    Side::Server => self.client.verdict,
                };
                if self.kind == ConnKind::Unknown && side == Side::Client && tls {
                    self.skip_all(ConnKind::Tls);
                    self.client.skipped = self.client.skipped.saturating_add(bytes.len() as u64);
                    bytes.len()
                } else if self.kind == ConnKind::Unknown && other == Some(false) {
                    self.skip_all(ConnKind::Other);
                    let st = self.side_mut(side);
                    st.skipped = st.skipped.saturating_add(bytes.len() as u64);
                    bytes.len()
                } else {
                    self.side_mut(side).state = resync_state;
                    resync_len
                }
            }
            Mode::Strict => {
                let connect_waiting = side == Side::Client
                    && name != HttpAnomaly::OversizedHead
                    && self
                        .pending
                        .back()
                        .is_some_and(|p| p.head.method.eq_ignore_ascii_case("CONNECT"));
                if connect_waiting {
                    // Tunnel bytes sent before the CONNECT's answer arrived.
                    self.speculative_tunnel = true;
                    let st = self.side_mut(side);
                    st.state = State::Tunnel;
                    st.skipped = st.skipped.saturating_add(bytes.len() as u64);
                    return bytes.len();
                }
                out.push(HttpEvent::Anomaly {
                    ts,
                    side,
                    kind: name,
                });
                self.side_mut(side).state = resync_state;
                resync_len
            }
        }
    }

    fn skip_all(&mut self, kind: ConnKind) {
        self.kind = kind;
        for st in [&mut self.client, &mut self.server] {
            if !matches!(st.state, State::Closed) {
                st.state = State::Skip;
            }
            st.buf = Vec::new();
            st.head_ts = None;
        }
    }

    fn saw_http(&mut self, side: Side) {
        if self.kind == ConnKind::Unknown {
            self.kind = ConnKind::Http;
        }
        let st = self.side_mut(side);
        if st.verdict.is_none() {
            st.verdict = Some(true);
        }
        st.head_ts = None;
    }

    fn on_request(&mut self, ts: Ts, r: ParsedRequest, out: &mut Vec<HttpEvent<X>>) {
        self.saw_http(Side::Client);
        if r.head.is_proxy_form() {
            self.proxy_signal = true;
        }
        let after_gap = std::mem::take(&mut self.client.after_gap);
        let (framing, anomaly) = request_framing(&r.body);
        if let Some(kind) = anomaly {
            out.push(HttpEvent::Anomaly {
                ts,
                side: Side::Client,
                kind,
            });
        }
        self.client.state = match framing {
            Framing::Length(n) => State::Body(n),
            Framing::Chunked => State::Chunked(Chunked::new()),
            _ => State::Head(Mode::Strict),
        };
        let p = Pending {
            seq: self.next_seq,
            ts,
            head: r.head,
            after_gap,
            tunneled: self.tunneled,
            ext: X::default(),
        };
        self.next_seq = self.next_seq.saturating_add(1);
        if self.server_closed {
            let why = self.close_reason();
            out.push(unanswered(p, ts, why));
        } else if self.pending.len() >= MAX_PENDING {
            out.push(HttpEvent::Anomaly {
                ts,
                side: Side::Client,
                kind: HttpAnomaly::PipelineOverflow,
            });
        } else {
            self.pending.push_back(p);
        }
    }

    fn on_response(&mut self, ts: Ts, r: ParsedResponse, out: &mut Vec<HttpEvent<X>>) {
        self.saw_http(Side::Server);
        let status = r.head.status;
        if status == 407 || !r.head.proxy_authenticate.is_empty() {
            self.proxy_signal = true;
        }
        if (100..200).contains(&status) && status != 101 {
            // Interim: the final response to the same request follows.
            self.server.state = State::Head(Mode::Strict);
            return;
        }
        let resp_after_gap = std::mem::take(&mut self.server.after_gap);
        if let Some(at_gap) = self.server_gap_pending.take() {
            // The newest request sent before this response is the one it answers; older
            // requests pending at the gap lost their responses in it.
            let newest = self.pending.iter().rposition(|p| p.ts <= ts).unwrap_or(0);
            for _ in 0..newest.min(at_gap) {
                if let Some(p) = self.pending.pop_front() {
                    out.push(unanswered(p, ts, Unanswered::Gap));
                }
            }
        }
        let req = self.pending.pop_front();
        let (framing, anomaly) = response_framing(
            req.as_ref().map(|p| p.head.method.as_str()),
            status,
            &r.body,
        );
        if let Some(kind) = anomaly {
            out.push(HttpEvent::Anomaly {
                ts,
                side: Side::Server,
                kind,
            });
        }
        let is_connect = req
            .as_ref()
            .is_some_and(|p| p.head.method.eq_ignore_ascii_case("CONNECT"));
        match req {
            Some(p) => out.push(HttpEvent::Exchange {
                seq: p.seq,
                req_ts: p.ts,
                request: p.head,
                resp_ts: ts,
                response: r.head,
                after_gap: p.after_gap || resp_after_gap,
                tunneled: p.tunneled,
                ext: p.ext,
            }),
            None => out.push(HttpEvent::Orphan {
                ts,
                response: r.head,
            }),
        }
        if is_connect && !(200..300).contains(&status) && self.speculative_tunnel {
            // The client's bytes after the CONNECT were not a tunnel after all.
            self.speculative_tunnel = false;
            if matches!(self.client.state, State::Tunnel) {
                self.client.state = State::Resync { line_start: false };
                out.push(HttpEvent::Anomaly {
                    ts,
                    side: Side::Client,
                    kind: HttpAnomaly::NotHttp,
                });
            }
        }
        self.server.state = match framing {
            Framing::None => State::Head(Mode::Strict),
            Framing::Length(n) => State::Body(n),
            Framing::Chunked => State::Chunked(Chunked::new()),
            Framing::UntilClose => State::UntilClose,
            Framing::Tunnel if status == 101 => {
                if !matches!(self.client.state, State::Closed) {
                    self.client.state = State::Tunnel;
                    self.client.buf.clear();
                }
                State::Tunnel
            }
            Framing::Tunnel => {
                self.tunneled = true;
                self.speculative_tunnel = false;
                for p in self.pending.iter_mut() {
                    p.tunneled = true;
                }
                if let State::Head(_) = self.client.state {
                    self.client.state = State::Head(Mode::TunnelStart);
                }
                State::Head(Mode::TunnelStart)
            }
        };
    }

    fn gap(&mut self, side: Side, ts: Ts, n: u64, out: &mut Vec<HttpEvent<X>>) {
        let kind = self.kind;
        let st = self.side_mut(side);
        st.skipped = st.skipped.saturating_add(n);
        let lost_place = match &mut st.state {
            State::Skip | State::Tunnel | State::UntilClose | State::Closed => false,
            State::Body(left) if n < *left => {
                *left = left.saturating_sub(n);
                false
            }
            State::Body(left) if n == *left => {
                st.state = State::Head(Mode::Strict);
                false
            }
            State::Body(_) => true,
            State::Chunked(c) => !c.gap(n),
            State::Head(Mode::TunnelStart) => {
                st.state = State::Tunnel;
                st.buf.clear();
                false
            }
            State::Head(_) | State::Resync { .. } => true,
        };
        if !lost_place {
            return;
        }
        let was_resyncing = matches!(st.state, State::Resync { .. } | State::Head(Mode::Resync));
        st.buf.clear();
        st.head_ts = None;
        st.state = State::Resync { line_start: true };
        st.after_gap = true;
        if kind == ConnKind::Http && !was_resyncing {
            out.push(HttpEvent::Anomaly {
                ts,
                side,
                kind: HttpAnomaly::Resync,
            });
        }
        if side == Side::Server {
            self.server_gap_pending = Some(self.pending.len());
        }
    }

    fn close(&mut self, side: Side, ts: Ts, reset: bool, out: &mut Vec<HttpEvent<X>>) {
        if self.first_close.is_none() {
            self.first_close = Some((side, reset));
        }
        let kind = self.kind;
        let st = self.side_mut(side);
        if !st.buf.is_empty() && kind == ConnKind::Http {
            out.push(HttpEvent::Anomaly {
                ts,
                side,
                kind: HttpAnomaly::TruncatedHead,
            });
        }
        st.buf = Vec::new();
        st.head_ts = None;
        st.state = State::Closed;
        match side {
            Side::Client if reset => self.flush_pending(
                ts,
                Unanswered::Closed {
                    by: Side::Client,
                    reset: true,
                },
                out,
            ),
            Side::Client => {}
            Side::Server => {
                self.server_closed = true;
                let why = self.close_reason();
                self.flush_pending(ts, why, out);
            }
        }
    }

    fn close_reason(&self) -> Unanswered {
        match self.first_close {
            Some((by, reset)) => Unanswered::Closed { by, reset },
            None => Unanswered::End,
        }
    }

    fn flush_pending(&mut self, ts: Ts, why: Unanswered, out: &mut Vec<HttpEvent<X>>) {
        // The server side lost its place in a gap and found no response head since: the
        // responses of the pending requests may be in the bytes that were lost or skipped.
        let why = if self.server_gap_pending.is_some() {
            Unanswered::Gap
        } else {
            why
        };
        while let Some(p) = self.pending.pop_front() {
            out.push(unanswered(p, ts, why));
        }
    }
}

/// A split head shorter than this is re-parsed on every segment.
const EAGER_PARSE: usize = 1024;

/// `bytes` hold the end of a head (an empty line).
fn has_head_end(bytes: &[u8]) -> bool {
    bytes.windows(2).any(|w| w == b"\n\n") || bytes.windows(3).any(|w| w == b"\n\r\n")
}

fn unanswered<X>(p: Pending<X>, ts: Ts, why: Unanswered) -> HttpEvent<X> {
    HttpEvent::Unanswered {
        seq: p.seq,
        req_ts: p.ts,
        request: p.head,
        ts,
        why,
        after_gap: p.after_gap,
        tunneled: p.tunneled,
        ext: p.ext,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(c: &mut HttpConn, side: Side, bytes: &[u8], out: &mut Vec<HttpEvent>) {
        c.on_stream(side, Ts(1), StreamEvent::Data(bytes), out);
    }

    #[test]
    fn whole_heads_are_not_copied() {
        let mut c = HttpConn::new();
        let mut out = Vec::new();
        feed(
            &mut c,
            Side::Client,
            b"GET http://a/ HTTP/1.1\r\n\r\n",
            &mut out,
        );
        feed(
            &mut c,
            Side::Server,
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            &mut out,
        );
        assert_eq!(c.client.buf.capacity(), 0);
        assert_eq!(c.server.buf.capacity(), 0);
        assert!(matches!(out[..], [HttpEvent::Exchange { .. }]));
    }

    #[test]
    fn split_head_is_buffered_then_released() {
        let mut c = HttpConn::new();
        let mut out = Vec::new();
        feed(&mut c, Side::Client, b"GET http://a/ HT", &mut out);
        assert_eq!(c.client.buf, b"GET http://a/ HT");
        feed(
            &mut c,
            Side::Client,
            b"TP/1.1\r\nContent-Length: 3\r\n\r\nab",
            &mut out,
        );
        assert!(c.client.buf.is_empty());
        assert!(matches!(c.client.state, State::Body(1)));
        assert_eq!(c.pending(), 1);
    }

    #[test]
    fn head_buffer_is_capped() {
        let mut c = HttpConn::new();
        let mut out = Vec::new();
        feed(
            &mut c,
            Side::Client,
            b"GET http://a/ HTTP/1.1\r\nX: ",
            &mut out,
        );
        let filler = vec![b'a'; 4096];
        for _ in 0..40 {
            feed(&mut c, Side::Client, &filler, &mut out);
            assert!(c.client.buf.len() <= MAX_HEAD);
        }
        assert!(c.client.buf.is_empty());
        assert!(matches!(c.client.state, State::Resync { .. }));
        assert!(matches!(
            out[..],
            [HttpEvent::Anomaly {
                kind: HttpAnomaly::OversizedHead,
                ..
            }]
        ));
    }

    #[test]
    fn states_follow_framing() {
        let mut c = HttpConn::new();
        let mut out = Vec::new();
        feed(
            &mut c,
            Side::Client,
            b"GET http://a/ HTTP/1.0\r\n\r\n",
            &mut out,
        );
        feed(
            &mut c,
            Side::Server,
            b"HTTP/1.0 200 OK\r\n\r\nbody",
            &mut out,
        );
        assert!(matches!(c.server.state, State::UntilClose));
        assert_eq!(c.skipped_bytes(Side::Server), 4);
        c.on_stream(Side::Server, Ts(2), StreamEvent::Fin, &mut out);
        assert!(matches!(c.server.state, State::Closed));
        assert_eq!(c.pending(), 0);
    }

    #[test]
    fn connect_then_tunnel_states() {
        let mut c = HttpConn::new();
        let mut out = Vec::new();
        feed(
            &mut c,
            Side::Client,
            b"CONNECT h:443 HTTP/1.1\r\n\r\n",
            &mut out,
        );
        assert!(c.proxy_signal());
        feed(&mut c, Side::Server, b"HTTP/1.1 200 OK\r\n\r\n", &mut out);
        assert!(matches!(c.client.state, State::Head(Mode::TunnelStart)));
        assert!(matches!(c.server.state, State::Head(Mode::TunnelStart)));
        feed(&mut c, Side::Client, &[0x16, 0x03, 0x01], &mut out);
        assert!(matches!(c.client.state, State::Tunnel));
        c.on_stream(Side::Client, Ts(3), StreamEvent::Gap(10), &mut out);
        assert!(matches!(c.client.state, State::Tunnel));
        assert_eq!(c.skipped_bytes(Side::Client), 13);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn proxy_signal_from_407_or_challenge() {
        let mut c = HttpConn::new();
        let mut out = Vec::new();
        feed(&mut c, Side::Client, b"GET / HTTP/1.1\r\n\r\n", &mut out);
        assert!(!c.proxy_signal());
        feed(
            &mut c,
            Side::Server,
            b"HTTP/1.1 200 OK\r\nProxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n",
            &mut out,
        );
        assert!(c.proxy_signal());
        let mut c = HttpConn::new();
        feed(
            &mut c,
            Side::Server,
            b"HTTP/1.1 407 x\r\nContent-Length: 0\r\n\r\n",
            &mut out,
        );
        assert!(c.proxy_signal());
    }

    #[test]
    fn trickled_head_completes_once() {
        let mut c = HttpConn::new();
        let mut out = Vec::new();
        let mut head = b"GET http://a/ HTTP/1.1\r\n".to_vec();
        for i in 0..90 {
            head.extend_from_slice(format!("X-{i}: {}\r\n", "v".repeat(500)).as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        for b in &head {
            feed(&mut c, Side::Client, std::slice::from_ref(b), &mut out);
        }
        assert_eq!(c.pending(), 1);
        assert!(out.is_empty());
        assert!(has_head_end(b"x\n\r\n") && has_head_end(b"\n\n") && !has_head_end(b"\r\n\r"));
    }

    #[test]
    fn finish_is_idempotent() {
        let mut c = HttpConn::new();
        let mut out = Vec::new();
        feed(
            &mut c,
            Side::Client,
            b"GET http://a/ HTTP/1.1\r\n\r\n",
            &mut out,
        );
        c.finish(Ts(9), &mut out);
        c.finish(Ts(9), &mut out);
        assert_eq!(out.len(), 1);
    }
}
