//! One connection's HTTP state (stub).

use super::HttpEvent;
use crate::model::{Side, Ts};
use crate::reassembly::StreamEvent;

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

#[derive(Debug, Default)]
pub struct HttpConn {
    kind: ConnKind,
    proxy_signal: bool,
}

impl HttpConn {
    pub fn on_stream(&mut self, side: Side, ts: Ts, ev: StreamEvent<'_>, out: &mut Vec<HttpEvent>) {
        let _ = (side, ts, ev, out);
    }
    /// The connection ends: pending requests become [`HttpEvent::Unanswered`].
    pub fn finish(&mut self, ts: Ts, out: &mut Vec<HttpEvent>) {
        let _ = (ts, out);
    }
    pub fn kind(&self) -> ConnKind {
        self.kind
    }
    /// The client sent CONNECT or an absolute-form target, or the server answered 407 or
    /// sent Proxy-Authenticate.
    pub fn proxy_signal(&self) -> bool {
        self.proxy_signal
    }
}
