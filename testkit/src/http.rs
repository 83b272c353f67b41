//! HTTP/1.1 message heads: a request or status line, header lines, the empty line.
//!
//! ```
//! use proxy407_testkit::http::Head;
//! let mut h = Head::request("CONNECT", "a.example:443");
//! h.header("Host", "a.example:443");
//! assert_eq!(h.finish(), b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n");
//! ```

use std::fmt::{Display, Write as _};

/// A head being written.
#[derive(Clone, Debug)]
pub struct Head(String);

impl Head {
    /// `METHOD TARGET HTTP/1.1`.
    pub fn request(method: &str, target: &str) -> Head {
        let mut s = String::with_capacity(600);
        let _ = write!(s, "{method} {target} HTTP/1.1\r\n");
        Head(s)
    }

    /// `HTTP/1.1 STATUS REASON`.
    pub fn response(status: u16, reason: &str) -> Head {
        let mut s = String::with_capacity(700);
        let _ = write!(s, "HTTP/1.1 {status} {reason}\r\n");
        Head(s)
    }

    /// One header line.
    pub fn header(&mut self, name: &str, value: impl Display) -> &mut Head {
        let _ = write!(self.0, "{name}: {value}\r\n");
        self
    }

    /// The head with its closing empty line.
    pub fn finish(mut self) -> Vec<u8> {
        self.0.push_str("\r\n");
        self.0.into_bytes()
    }
}
