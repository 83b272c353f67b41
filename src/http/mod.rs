//! HTTP/1.x on one connection: incremental head parsing (httparse), body framing
//! (Content-Length, chunked with trailers, until close; none for HEAD, 1xx, 204, 304),
//! request/response pairing in order (pipelining included), `CONNECT` tunnels, and
//! resynchronisation after a gap. Bodies are skipped by counting, never buffered.
//!
//! Owns no notion of authentication: credential and challenge header values are handed on
//! as [`Secret`]s for the auth parsers. What it finds is what `docs/verdicts.md` calls a
//! proxy signal (§1.1) and a transaction with its response or the reason it has none (§1.2).
//!
//! No panic on any input, enforced by the compiler: clippy's `unwrap_used`, `expect_used`,
//! `indexing_slicing` and `arithmetic_side_effects` are denied here and in the submodules.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

pub mod conn;
pub mod framing;
pub mod parser;

pub use conn::HttpConn;

use crate::anomaly::HttpAnomaly;
use crate::model::{FrameRef, Side, Ts};
use crate::secret::Secret;

/// The parts of a request head that the analysis uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    pub target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    pub host: Option<String>,
    pub user_agent: Option<String>,
    pub proxy_authorization: Option<Secret>,
    /// Size of the head in bytes (request line to the empty line).
    pub head_len: usize,
    /// The frame whose segment started the head, and the one that completed it (as the
    /// connection's owner numbered them with [`HttpConn::at_frame`]).
    pub first_frame: FrameRef,
    pub last_frame: FrameRef,
}

impl RequestHead {
    /// `CONNECT` or an absolute-form target (`http://...`): only proxies get these.
    pub fn is_proxy_form(&self) -> bool {
        self.method.eq_ignore_ascii_case("CONNECT") || self.target.contains("://")
    }
}

/// The parts of a response head that the analysis uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub version: u8,
    /// Every `Proxy-Authenticate` header value, in order.
    pub proxy_authenticate: Vec<Secret>,
    /// Every `WWW-Authenticate` header value, in order.
    pub www_authenticate: Vec<Secret>,
    /// `Connection: close` (or `Proxy-Connection: close`, or HTTP/1.0 without keep-alive).
    pub connection_close: bool,
    pub head_len: usize,
    /// The frame whose segment started the head, and the one that completed it.
    pub first_frame: FrameRef,
    pub last_frame: FrameRef,
}

/// Why a request never got its response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unanswered {
    /// The connection was closed (FIN) or reset (RST) by `by`.
    Closed { by: Side, reset: bool },
    /// A capture gap in the server's direction may have swallowed the response.
    Gap,
    /// The connection left the table idle, or the capture ended.
    End,
}

/// What an [`HttpConn`] makes of its two byte streams.
#[derive(Debug)]
pub enum HttpEvent<X = ()> {
    /// A request and its response.
    Exchange {
        /// The request's number on its connection, from 0 in the order sent.
        seq: u64,
        req_ts: Ts,
        request: RequestHead,
        resp_ts: Ts,
        response: ResponseHead,
        /// The pairing crossed a gap in either direction (it may be off by one).
        after_gap: bool,
        /// Inside a CONNECT tunnel that turned out to carry plain HTTP.
        tunneled: bool,
        /// What the connection's owner kept with the request.
        ext: X,
    },
    /// A request that will get no response.
    Unanswered {
        /// The request's number on its connection, from 0 in the order sent.
        seq: u64,
        req_ts: Ts,
        request: RequestHead,
        ts: Ts,
        why: Unanswered,
        after_gap: bool,
        tunneled: bool,
        /// What the connection's owner kept with the request.
        ext: X,
    },
    /// A response with no request to pair with (the capture began mid-connection, or a gap).
    Orphan { ts: Ts, response: ResponseHead },
    /// Bytes that are not the HTTP expected there; counted and named, never fatal.
    Anomaly {
        ts: Ts,
        side: Side,
        kind: HttpAnomaly,
    },
}
