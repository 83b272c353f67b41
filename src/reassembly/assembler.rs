//! One direction's reassembler. Owns the direction's sequence space (from the SYN, or from the
//! first segment seen when the capture starts mid-connection), the bounded out-of-order
//! buffer, and the rules that turn holes into gaps. It does not know the other direction,
//! roles or connections: the flow table passes in the peer's ACK numbers, the packet time
//! and the room left in the table's global budget.
//!
//! Sequence numbers are mapped to 64-bit stream offsets (0 = first byte after the SYN), so
//! wrap-around needs no special case past [`SeqNumber::distance`]. In-order payload is passed
//! on straight from the segment; out-of-order bytes are copied into chunks that never
//! overlap (the first copy of a byte wins). A hole becomes a [`StreamEvent::Gap`] when the
//! peer has acknowledged bytes beyond it for `acked_hole_timeout_us`, when it is older than
//! `hole_timeout_us`, when the buffer would pass its cap, on a RST, or at flush.

use super::{SeqNumber, StreamEvent};
use crate::model::Ts;
use std::collections::BTreeMap;

/// Segments further ahead than this from the next expected byte are taken as garbage.
const MAX_AHEAD: i64 = 1 << 30;
/// Bookkeeping cost charged per buffered chunk, so that many tiny chunks hit the cap too.
const CHUNK_OVERHEAD: usize = 32;

/// Time bounds for holes, in packet time.
#[derive(Clone, Copy, Debug)]
pub struct HoleTimeouts {
    /// A hole the peer has acknowledged beyond becomes a gap after this long (room for
    /// captures whose packets are slightly out of order).
    pub acked_hole_timeout_us: i64,
    /// Any hole becomes a gap after this long.
    pub hole_timeout_us: i64,
}

impl Default for HoleTimeouts {
    fn default() -> Self {
        HoleTimeouts {
            acked_hole_timeout_us: 200_000,
            hole_timeout_us: 5_000_000,
        }
    }
}

/// One TCP segment as the assembler sees it.
#[derive(Clone, Copy, Debug, Default)]
pub struct SegmentIn<'a> {
    pub seq: u32,
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
    pub payload: &'a [u8],
    /// Bytes after `payload` that were on the wire but not captured.
    pub missing: u32,
}

#[derive(Debug)]
enum Chunk {
    Data(Vec<u8>),
    Missing(u64),
}

impl Chunk {
    fn len(&self) -> u64 {
        match self {
            Chunk::Data(d) => d.len() as u64,
            Chunk::Missing(n) => *n,
        }
    }
    fn cost(&self) -> usize {
        match self {
            Chunk::Data(d) => d.len().saturating_add(CHUNK_OVERHEAD),
            Chunk::Missing(_) => CHUNK_OVERHEAD,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
enum State {
    #[default]
    Open,
    Finished,
    Reset,
}

/// The reassembler of one direction of a TCP connection.
#[derive(Debug, Default)]
pub struct Assembler {
    max_buffered: usize,
    timeouts: HoleTimeouts,
    /// The sequence number of stream offset 0; `None` until the first segment.
    base: Option<SeqNumber>,
    /// Stream offset of the next byte to deliver.
    next: u64,
    /// Out-of-order chunks by stream offset; never overlapping, all after `next`.
    buf: BTreeMap<u64, Chunk>,
    /// Bytes charged against the caps for `buf`.
    buffered: usize,
    /// When the buffer last went from empty to holding something.
    hole_since: Option<Ts>,
    /// Highest stream offset the peer acknowledged.
    acked: u64,
    /// When `acked` first went past `next` without the bytes arriving.
    acked_since: Option<Ts>,
    /// Stream offset of the FIN.
    fin_at: Option<u64>,
    state: State,
    /// Gap bytes not yet announced (coalesced into one event).
    pending_gap: u64,
    /// Times the per-stream cap or the global budget forced holes into gaps.
    pub cap_hits: u64,
}

impl Assembler {
    pub fn new(max_buffered: usize, timeouts: HoleTimeouts) -> Self {
        Assembler {
            max_buffered,
            timeouts,
            ..Assembler::default()
        }
    }

    /// Bytes held (charged against the caps).
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Holes are waiting (something buffered, or acknowledged bytes never seen).
    pub(crate) fn has_pending(&self) -> bool {
        self.state == State::Open && (!self.buf.is_empty() || self.acked_data() > self.next)
    }

    /// The FIN or RST of this direction was delivered.
    pub(crate) fn is_closed(&self) -> bool {
        self.state != State::Open
    }

    pub(crate) fn is_reset(&self) -> bool {
        self.state == State::Reset
    }

    /// The first sequence number seen (the one after the SYN), if any.
    pub fn base(&self) -> Option<SeqNumber> {
        self.base
    }

    fn next_seq(&self, base: SeqNumber) -> SeqNumber {
        base.plus(self.next)
    }

    /// Whether an ACK number of the other direction acknowledges bytes of this direction
    /// that have not been delivered yet (they are late in the capture, or lost).
    pub(crate) fn acks_undelivered(&self, ack: u32) -> bool {
        let Some(base) = self.base else { return false };
        if self.state != State::Open {
            return false;
        }
        let rel = SeqNumber(ack).distance(self.next_seq(base));
        rel > 0 && rel <= MAX_AHEAD
    }

    /// Feeds one segment of this direction. `global_room` is what the table's global
    /// budget still allows to be buffered.
    pub fn segment(
        &mut self,
        seg: SegmentIn<'_>,
        now: Ts,
        global_room: usize,
        out: &mut impl FnMut(StreamEvent<'_>),
    ) {
        if self.state != State::Open {
            return;
        }
        let start = if seg.syn {
            SeqNumber(seg.seq).plus(1)
        } else {
            SeqNumber(seg.seq)
        };
        let base = *self.base.get_or_insert(start);
        if seg.rst {
            // At once: holes become a gap, buffered bytes are delivered, then the RST.
            let end = self.buffer_end();
            self.skip_to(end, out);
            self.emit_gap(out);
            out(StreamEvent::Rst);
            self.close(State::Reset);
            return;
        }
        let rel = start.distance(self.next_seq(base));
        if rel > MAX_AHEAD {
            return;
        }
        let s = (self.next as i64).saturating_add(rel);
        let data_len = seg.payload.len() as i64;
        let len = data_len.saturating_add(i64::from(seg.missing));
        let e = s.saturating_add(len);
        if seg.fin && self.fin_at.is_none() && e >= 0 {
            self.fin_at = Some(e as u64);
        }
        if len > 0 && e > self.next as i64 {
            if s > self.next as i64 {
                self.store(s as u64, seg.payload, seg.missing, now, global_room, out);
            } else {
                self.deliver_from_segment(s, seg.payload, e as u64, out);
            }
        }
        self.tick(now, out);
    }

    /// The peer acknowledged up to `ack` (an ACK number of the other direction).
    pub fn ack(&mut self, ack: u32, now: Ts, out: &mut impl FnMut(StreamEvent<'_>)) {
        let Some(base) = self.base else { return };
        if self.state != State::Open {
            return;
        }
        let rel = SeqNumber(ack).distance(self.next_seq(base));
        if rel <= 0 || rel > MAX_AHEAD {
            return;
        }
        let mut abs = self.next.saturating_add(rel as u64);
        if let Some(f) = self.fin_at {
            abs = abs.min(f);
        }
        if abs > self.acked {
            self.acked = abs;
        }
        if self.acked > self.next && self.acked_since.is_none() {
            self.acked_since = Some(now);
        }
        self.tick(now, out);
    }

    /// Applies the time bounds on holes as of `now`.
    pub(crate) fn tick(&mut self, now: Ts, out: &mut impl FnMut(StreamEvent<'_>)) {
        if self.state != State::Open {
            return;
        }
        let acked = self.acked_data();
        if acked > self.next {
            let since = *self.acked_since.get_or_insert(now);
            if now.since(since) >= self.timeouts.acked_hole_timeout_us {
                self.skip_to(acked, out);
            }
        }
        if let Some(since) = self.hole_since {
            if now.since(since) >= self.timeouts.hole_timeout_us {
                let to = self.buffer_end();
                self.skip_to(to, out);
            }
        }
        self.after_progress(out);
    }

    /// End of the connection: every hole becomes a gap, buffered bytes are delivered, and
    /// a FIN that was seen is delivered after them.
    pub fn flush(&mut self, out: &mut impl FnMut(StreamEvent<'_>)) {
        if self.state != State::Open {
            return;
        }
        let mut to = self.buffer_end().max(self.acked_data());
        if let Some(f) = self.fin_at {
            to = to.max(f);
        }
        self.skip_to(to, out);
        self.after_progress(out);
        self.emit_gap(out);
    }

    /// The acknowledged data offset: an ACK of the FIN covers one more sequence number
    /// than there are data bytes.
    fn acked_data(&self) -> u64 {
        self.fin_at.map_or(self.acked, |f| self.acked.min(f))
    }

    /// Stream offset just past the last buffered chunk (or `next` when empty).
    fn buffer_end(&self) -> u64 {
        self.buf
            .last_key_value()
            .map_or(self.next, |(k, c)| k.saturating_add(c.len()))
            .max(self.next)
    }

    fn close(&mut self, state: State) {
        self.state = state;
        self.buf.clear();
        self.buffered = 0;
        self.hole_since = None;
        self.acked_since = None;
    }

    /// The pending gap once the bytes from `next` up to `to` are given up as missing.
    fn gap_plus(&self, to: u64) -> u64 {
        self.pending_gap
            .saturating_add(to.saturating_sub(self.next))
    }

    fn emit_gap(&mut self, out: &mut impl FnMut(StreamEvent<'_>)) {
        if self.pending_gap > 0 {
            out(StreamEvent::Gap(self.pending_gap));
            self.pending_gap = 0;
        }
    }

    fn emit_data(&mut self, data: &[u8], out: &mut impl FnMut(StreamEvent<'_>)) {
        if !data.is_empty() {
            self.emit_gap(out);
            out(StreamEvent::Data(data));
        }
    }

    /// Delivers the in-order segment covering `[s, e)` (with `s <= next < e`), giving way
    /// to buffered bytes that arrived first.
    fn deliver_from_segment(
        &mut self,
        s: i64,
        payload: &[u8],
        e: u64,
        out: &mut impl FnMut(StreamEvent<'_>),
    ) {
        let data_end = s.saturating_add(payload.len() as i64).max(0) as u64;
        while self.next < e {
            let first = self.buf.first_key_value().map(|(k, _)| *k);
            if first.is_some_and(|k| k <= self.next) {
                self.drain_one(out);
                continue;
            }
            let limit = first.map_or(e, |k| k.min(e));
            if self.next < data_end {
                let to = limit.min(data_end);
                let from = (self.next as i64).saturating_sub(s) as usize;
                let upto = (to as i64).saturating_sub(s) as usize;
                if let Some(bytes) = payload.get(from..upto) {
                    self.emit_data(bytes, out);
                }
                self.next = to;
            } else {
                self.pending_gap = self.gap_plus(limit);
                self.next = limit;
            }
        }
        self.drain_contiguous(out);
    }

    /// Pops the first buffered chunk (which starts at or before `next`) and delivers what
    /// of it lies beyond `next`.
    fn drain_one(&mut self, out: &mut impl FnMut(StreamEvent<'_>)) {
        let Some((k, chunk)) = self.buf.pop_first() else {
            return;
        };
        self.buffered = self.buffered.saturating_sub(chunk.cost());
        let end = k.saturating_add(chunk.len());
        if end > self.next {
            let skip = self.next.saturating_sub(k) as usize;
            match &chunk {
                Chunk::Data(d) => {
                    if let Some(bytes) = d.get(skip..) {
                        self.emit_data(bytes, out);
                    }
                }
                Chunk::Missing(_) => self.pending_gap = self.gap_plus(end),
            }
            self.next = end;
        }
        if self.buf.is_empty() {
            self.hole_since = None;
        }
    }

    fn drain_contiguous(&mut self, out: &mut impl FnMut(StreamEvent<'_>)) {
        while self
            .buf
            .first_key_value()
            .is_some_and(|(k, _)| *k <= self.next)
        {
            self.drain_one(out);
        }
    }

    /// Gives up on everything before `target`: holes become gap bytes, buffered bytes are
    /// delivered; then whatever is contiguous after `target`.
    fn skip_to(&mut self, target: u64, out: &mut impl FnMut(StreamEvent<'_>)) {
        while self.next < target {
            match self.buf.first_key_value().map(|(k, _)| *k) {
                Some(k) if k <= self.next => self.drain_one(out),
                first => {
                    let upto = first.map_or(target, |k| k.min(target));
                    self.pending_gap = self.gap_plus(upto);
                    self.next = upto;
                }
            }
        }
        self.drain_contiguous(out);
    }

    /// Housekeeping after the stream may have moved on: ACK bookkeeping and the FIN.
    fn after_progress(&mut self, out: &mut impl FnMut(StreamEvent<'_>)) {
        if self.acked_data() <= self.next {
            self.acked_since = None;
        }
        if let Some(f) = self.fin_at {
            if self.next >= f && self.state == State::Open {
                self.emit_gap(out);
                out(StreamEvent::Fin);
                self.close(State::Finished);
            }
        }
        self.emit_gap(out);
    }

    /// Copies the parts of an out-of-order segment at `[s, ...)` that no buffered chunk
    /// already covers. When the caps do not allow it, the holes before `s` become a gap and
    /// the segment is delivered in order instead.
    fn store(
        &mut self,
        s: u64,
        payload: &[u8],
        missing: u32,
        now: Ts,
        global_room: usize,
        out: &mut impl FnMut(StreamEvent<'_>),
    ) {
        let data_end = s.saturating_add(payload.len() as u64);
        let e = data_end.saturating_add(u64::from(missing));
        // Uncovered ranges of [s, e), in order.
        let mut free: Vec<(u64, u64)> = Vec::new();
        let mut cur = s;
        if let Some((k, c)) = self.buf.range(..=s).next_back() {
            cur = cur.max(k.saturating_add(c.len()));
        }
        for (k, c) in self.buf.range(s..e) {
            if *k > cur {
                free.push((cur, *k));
            }
            cur = cur.max(k.saturating_add(c.len()));
        }
        if cur < e {
            free.push((cur, e));
        }
        // Split each free range at the data/missing boundary.
        let mut pieces: Vec<(u64, Chunk)> = Vec::new();
        for (a, b) in free {
            if a < data_end {
                let to = b.min(data_end);
                let bytes = payload
                    .get(a.saturating_sub(s) as usize..to.saturating_sub(s) as usize)
                    .unwrap_or_default();
                pieces.push((a, Chunk::Data(bytes.to_vec())));
            }
            let ma = a.max(data_end);
            if ma < b {
                pieces.push((ma, Chunk::Missing(b.saturating_sub(ma))));
            }
        }
        let cost: usize = pieces.iter().map(|(_, c)| c.cost()).sum();
        let room = self
            .max_buffered
            .saturating_sub(self.buffered)
            .min(global_room);
        if cost > room {
            self.cap_hits = self.cap_hits.saturating_add(1);
            self.skip_to(s, out);
            self.deliver_from_segment(s as i64, payload, e, out);
            return;
        }
        for (k, c) in pieces {
            self.buffered = self.buffered.saturating_add(c.cost());
            self.buf.insert(k, c);
        }
        if !self.buf.is_empty() && self.hole_since.is_none() {
            self.hole_since = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Eq, Clone)]
    enum Ev {
        Data(Vec<u8>),
        Gap(u64),
        Fin,
        Rst,
    }

    fn rec(v: &mut Vec<Ev>) -> impl FnMut(StreamEvent<'_>) + '_ {
        move |e| {
            let ev = match e {
                StreamEvent::Data(d) => {
                    if let Some(Ev::Data(prev)) = v.last_mut() {
                        prev.extend_from_slice(d);
                        return;
                    }
                    Ev::Data(d.to_vec())
                }
                StreamEvent::Gap(n) => Ev::Gap(n),
                StreamEvent::Fin => Ev::Fin,
                StreamEvent::Rst => Ev::Rst,
            };
            v.push(ev);
        }
    }

    fn seg(seq: u32, payload: &[u8]) -> SegmentIn<'_> {
        SegmentIn {
            seq,
            payload,
            ..SegmentIn::default()
        }
    }

    const BIG: usize = usize::MAX;

    #[test]
    fn in_order_reorder_overlap_and_fin() {
        let mut a = Assembler::new(1 << 20, HoleTimeouts::default());
        let mut ev = Vec::new();
        let mut out = rec(&mut ev);
        let t = Ts(0);
        a.segment(
            SegmentIn {
                seq: 99,
                syn: true,
                ..Default::default()
            },
            t,
            BIG,
            &mut out,
        );
        a.segment(seg(100, b"hello "), t, BIG, &mut out);
        a.segment(seg(110, b"d!"), t, BIG, &mut out);
        a.segment(seg(108, b"XXld"), t, BIG, &mut out); // overlaps the buffered "d!"
        a.segment(
            SegmentIn {
                seq: 112,
                fin: true,
                ..Default::default()
            },
            t,
            BIG,
            &mut out,
        );
        assert!(!a.is_closed());
        a.segment(seg(104, b"o wo"), t, BIG, &mut out);
        a.segment(seg(100, b"hello world!"), t, BIG, &mut out); // retransmission
        drop(out);
        assert_eq!(ev, vec![Ev::Data(b"hello woXXd!".to_vec()), Ev::Fin]);
        assert_eq!(a.buffered(), 0);
    }

    #[test]
    fn wraps_and_gaps_at_flush() {
        let mut a = Assembler::new(1 << 20, HoleTimeouts::default());
        let mut ev = Vec::new();
        let mut out = rec(&mut ev);
        let isn = u32::MAX - 3;
        a.segment(seg(isn, b"abcdef"), Ts(0), BIG, &mut out);
        a.segment(seg(isn.wrapping_add(10), b"zz"), Ts(0), BIG, &mut out);
        a.flush(&mut out);
        drop(out);
        assert_eq!(
            ev,
            vec![
                Ev::Data(b"abcdef".to_vec()),
                Ev::Gap(4),
                Ev::Data(b"zz".to_vec())
            ]
        );
    }

    #[test]
    fn missing_payload_is_a_gap_and_cap_forces_gap() {
        let mut a = Assembler::new(100, HoleTimeouts::default());
        let mut ev = Vec::new();
        let mut out = rec(&mut ev);
        a.segment(
            SegmentIn {
                seq: 0,
                payload: b"ab",
                missing: 3,
                ..Default::default()
            },
            Ts(0),
            BIG,
            &mut out,
        );
        a.segment(seg(5, b"c"), Ts(0), BIG, &mut out);
        // A hole of 10 bytes, then 200 bytes that do not fit.
        a.segment(seg(16, &[b'x'; 200]), Ts(0), BIG, &mut out);
        drop(out);
        assert_eq!(
            ev,
            vec![
                Ev::Data(b"ab".to_vec()),
                Ev::Gap(3),
                Ev::Data(b"c".to_vec()),
                Ev::Gap(10),
                Ev::Data(vec![b'x'; 200]),
            ]
        );
        assert_eq!(a.cap_hits, 1);
    }

    #[test]
    fn acked_hole_becomes_gap_after_grace_and_rst_flushes() {
        let mut a = Assembler::new(1 << 20, HoleTimeouts::default());
        let mut ev = Vec::new();
        let mut out = rec(&mut ev);
        a.segment(seg(1000, b"0123"), Ts(0), BIG, &mut out);
        a.segment(seg(1008, b"89"), Ts(0), BIG, &mut out);
        a.ack(1010, Ts(1), &mut out);
        a.segment(seg(1020, b"k"), Ts(100), BIG, &mut out);
        assert_eq!(ev_len(&a), 2);
        a.tick(Ts(300_000), &mut out);
        a.segment(
            SegmentIn {
                seq: 1030,
                rst: true,
                ..Default::default()
            },
            Ts(300_001),
            BIG,
            &mut out,
        );
        drop(out);
        assert_eq!(
            ev,
            vec![
                Ev::Data(b"0123".to_vec()),
                Ev::Gap(4),
                Ev::Data(b"89".to_vec()),
                Ev::Gap(10),
                Ev::Data(b"k".to_vec()),
                Ev::Rst,
            ]
        );
    }

    fn ev_len(a: &Assembler) -> usize {
        a.buf.len()
    }
}
