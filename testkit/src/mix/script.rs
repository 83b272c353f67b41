//! Scripts: what each side of a connection says, as parts (literal bytes, or bytes from the
//! random and text pools) that the connections cut into segments.

use super::world::WORDS;
use crate::rng::WyRand;
use crate::tls;
use std::fmt::Write as _;

pub(crate) const RAND_POOL: usize = 1 << 20;
pub(crate) const TEXT_POOL: usize = 1 << 18;

/// Bytes copied into payloads: random (TLS records, binary bodies) and HTML-ish text.
pub(crate) struct Pools {
    pub(crate) rand: Vec<u8>,
    pub(crate) text: Vec<u8>,
}

impl Pools {
    pub(crate) fn new(rng: &mut WyRand) -> Pools {
        let rand = rng.vec(RAND_POOL + 2048);
        let mut text = String::with_capacity(TEXT_POOL + 4096);
        text.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        while text.len() < TEXT_POOL + 2048 {
            let tag = *rng.pick(&["p", "li", "div class=\"item\"", "span", "h2", "td"]);
            let _ = write!(text, "<{tag}>");
            for _ in 0..rng.range(4, 18) {
                text.push_str(rng.pick_str(WORDS));
                text.push(' ');
            }
            let close = tag.split(' ').next().unwrap_or("p");
            let _ = writeln!(text, "</{close}>");
        }
        Pools {
            rand,
            text: text.into_bytes(),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Part {
    /// Bytes from the script's own arena (heads, handshakes, record and chunk headers).
    Lit { start: u32, len: u32 },
    /// Bytes from the random pool.
    Rand(u32),
    /// Bytes from the text pool.
    Text(u32),
}

impl Part {
    pub(crate) fn len(self) -> u32 {
        match self {
            Part::Lit { len, .. } | Part::Rand(len) | Part::Text(len) => len,
        }
    }
}

/// What a message counts for in the ground truth, when its first segment is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tally {
    None,
    Request { connect: bool, creds: bool },
    Response { status: u16 },
}

/// One message of one side: a run of parts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Msg {
    pub(crate) client: bool,
    pub(crate) p0: u32,
    pub(crate) p1: u32,
    pub(crate) len: u32,
    pub(crate) sent: u32,
    /// Inside a tunnel: may be lost or reordered, and cut short at the end of the capture.
    pub(crate) tunnel: bool,
    /// Not needed by any episode: dropped, with all that follows, when the capture ends
    /// before it starts (keep-alive requests after the first).
    pub(crate) optional: bool,
    /// A `200` with a body: where the body starts (0: no such body). Such a body may be
    /// cut short at the end of the capture, once its head is out.
    pub(crate) body_from: u32,
    pub(crate) tally: Tally,
}

#[derive(Default)]
pub(crate) struct Script {
    pub(crate) lit: Vec<u8>,
    pub(crate) parts: Vec<Part>,
    pub(crate) msgs: Vec<Msg>,
}

impl Script {
    pub(crate) fn begin(&mut self, client: bool, tunnel: bool, tally: Tally) {
        let p = self.parts.len() as u32;
        self.msgs.push(Msg {
            client,
            p0: p,
            p1: p,
            len: 0,
            sent: 0,
            tunnel,
            optional: tunnel,
            body_from: 0,
            tally,
        });
    }
    pub(crate) fn optional(&mut self) {
        if let Some(m) = self.msgs.last_mut() {
            m.optional = true;
        }
    }
    pub(crate) fn grow(&mut self, n: usize) {
        let parts = self.parts.len() as u32;
        if let Some(m) = self.msgs.last_mut() {
            m.len += n as u32;
            m.p1 = parts;
        }
    }
    pub(crate) fn put(&mut self, b: &[u8]) {
        if b.is_empty() {
            return;
        }
        let start = self.lit.len() as u32;
        self.lit.extend_from_slice(b);
        let p0 = self.msgs.last().map_or(0, |m| m.p0) as usize;
        let in_msg = self.parts.len() > p0;
        match self.parts.last_mut() {
            Some(Part::Lit { start: s, len }) if in_msg && *s + *len == start => {
                *len += b.len() as u32
            }
            _ => self.parts.push(Part::Lit {
                start,
                len: b.len() as u32,
            }),
        }
        self.grow(b.len());
    }
    pub(crate) fn rand(&mut self, n: usize) {
        if n > 0 {
            self.parts.push(Part::Rand(n as u32));
            self.grow(n);
        }
    }
    pub(crate) fn text(&mut self, n: usize) {
        if n > 0 {
            self.parts.push(Part::Text(n as u32));
            self.grow(n);
        }
    }
    /// TLS records of application data, `total` plaintext bytes.
    pub(crate) fn tls_records(&mut self, mut total: usize) {
        while total > 0 {
            let r = total.min(16_384);
            let l = (r + 17) as u16;
            self.put(&tls::application_data_header(l));
            self.rand(r + 17);
            total -= r;
        }
    }
}

/// A position in a script's parts.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Cursor {
    pub(crate) part: u32,
    pub(crate) off: u32,
}

/// Copies (or skips, when `dst` is `None`) `n` bytes of the script from `cur`.
pub(crate) fn take(
    s: &Script,
    cur: &mut Cursor,
    mut n: u32,
    mut dst: Option<&mut Vec<u8>>,
    pools: &Pools,
    rng: &mut WyRand,
) {
    while n > 0 {
        let Some(&part) = s.parts.get(cur.part as usize) else {
            return;
        };
        let avail = part.len() - cur.off;
        let k = avail.min(n);
        if let Some(d) = dst.as_deref_mut() {
            let k = k as usize;
            match part {
                Part::Lit { start, .. } => {
                    let a = (start + cur.off) as usize;
                    d.extend_from_slice(&s.lit[a..a + k]);
                }
                Part::Rand(_) => {
                    let o = rng.below((RAND_POOL - k) as u64) as usize;
                    d.extend_from_slice(&pools.rand[o..o + k]);
                }
                Part::Text(_) => {
                    let o = rng.below((TEXT_POOL - k) as u64) as usize;
                    d.extend_from_slice(&pools.text[o..o + k]);
                }
            }
        }
        cur.off += k;
        n -= k;
        if cur.off == part.len() {
            cur.part += 1;
            cur.off = 0;
        }
    }
}
