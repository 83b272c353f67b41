//! Connections: a plan played out as TCP segments (handshake with options, delayed ACKs,
//! data cut at the MSS, mirror-port loss and reordering inside tunnels, FIN or RST closes,
//! unanswered and refused SYNs), written as Ethernet frames into one pcap buffer.

use super::plan::{Env, Plan};
use super::script::{take, Cursor, Script, Tally};
use super::world::World;
use crate::frame::{self, ethernet_header, TcpFields, Template, ACK, FIN, PSH, RST, SYN};
use crate::pcap::{self, Resolution};
use crate::time::Ts;
use crate::LinkKind;

/// The frame template of one direction: Ethernet (802.1Q-tagged unless `vlan` is 0).
#[allow(clippy::too_many_arguments)]
fn template(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    vlan: u16,
    src: &[u8],
    dst: &[u8],
    sport: u16,
    dport: u16,
    ttl: u8,
) -> Template {
    let link = ethernet_header(
        dst_mac,
        src_mac,
        (vlan != 0).then_some(vlan),
        src.len() == 16,
    );
    Template::new(&link, src, dst, sport, dport, ttl)
}

pub(crate) const OUT_BUF: usize = 8 << 20;

/// The pcap being written: one buffer, flushed when full.
pub(crate) struct Out<'w> {
    pub(crate) file: &'w mut dyn std::io::Write,
    pub(crate) buf: Vec<u8>,
    pub(crate) bytes: u64,
    pub(crate) packets: u64,
}

impl<'w> Out<'w> {
    pub(crate) fn new(file: &'w mut dyn std::io::Write) -> Out<'w> {
        let mut buf = Vec::with_capacity(OUT_BUF + (128 << 10));
        buf.extend_from_slice(&pcap::file_header(
            LinkKind::Ethernet.link_type(),
            Resolution::Micro,
        ));
        Out {
            file,
            bytes: buf.len() as u64,
            buf,
            packets: 0,
        }
    }

    /// Writes one frame: template, options, payload by `fill`; then lengths and checksums.
    pub(crate) fn packet(
        &mut self,
        ts: u64,
        t: &Template,
        fields: TcpFields,
        opts: &[u8],
        fill: impl FnOnce(&mut Vec<u8>),
    ) -> std::io::Result<()> {
        let rec = self.buf.len();
        self.buf.extend_from_slice(&[0; 16]);
        let flen = frame::push_tcp(&mut self.buf, t, fields, opts, fill) as u32;
        let h = pcap::record_header(Ts(ts as i64), flen, flen, Resolution::Micro);
        self.buf[rec..rec + 16].copy_from_slice(&h);
        self.packets += 1;
        self.bytes += 16 + u64::from(flen);
        if self.buf.len() >= OUT_BUF {
            self.file.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> std::io::Result<()> {
        self.file.write_all(&self.buf)?;
        self.file.flush()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum St {
    Syn,
    SynAck,
    HsAck,
    Data,
    Close(u8),
    /// Unanswered SYNs (count sent so far).
    NoAnswer(u8),
    /// A SYN to send, that the proxy answers with a RST.
    Refused,
    RefusedRst,
    Done,
}

pub(crate) const SWAP_P: f64 = 0.005;
pub(crate) const DROP_P: f64 = 0.0015;

pub(crate) struct Conn {
    pub(crate) t: [Template; 2],
    pub(crate) seq: [u32; 2],
    pub(crate) ip_id: [u16; 2],
    pub(crate) win: [u16; 2],
    pub(crate) mss: u32,
    pub(crate) st: St,
    pub(crate) s: Script,
    pub(crate) cur: usize,
    pub(crate) cursor: Cursor,
    pub(crate) unacked: [u8; 2],
    pub(crate) ack_due: Option<usize>,
    pub(crate) close_by_client: bool,
    pub(crate) rst: bool,
    /// Packet time before which this connection sends nothing (SYN retransmissions).
    pub(crate) wake: u64,
    pub(crate) follow: Option<Box<Plan>>,
}

impl Conn {
    pub(crate) fn new(plan: Plan, w: &World, env: &mut Env) -> Conn {
        let c = &w.clients[plan.client];
        let p = &w.proxies[plan.proxy];
        let port = &mut env.ports[plan.client];
        *port = if *port >= 65_000 { 49_152 } else { *port + 1 };
        let sport = *port;
        let (t, mss) = match c.v6 {
            Some(a6) => (
                [
                    template(c.mac, p.mac, c.vlan, &a6, &p.v6, sport, p.port, 128),
                    template(p.mac, c.mac, c.vlan, &p.v6, &a6, p.port, sport, 64),
                ],
                1440,
            ),
            None => (
                [
                    template(c.mac, p.mac, c.vlan, &c.v4, &p.v4, sport, p.port, 128),
                    template(p.mac, c.mac, c.vlan, &p.v4, &c.v4, p.port, sport, 64),
                ],
                1460,
            ),
        };
        let rng = &mut env.rng;
        env.truth.connections += 1;
        let st = match plan.unreachable {
            Some(false) => St::NoAnswer(0),
            Some(true) => St::Refused,
            None if plan.handshake => St::Syn,
            None => {
                env.truth.connections_without_handshake += 1;
                St::Data
            }
        };
        let mut conn = Conn {
            t,
            seq: [rng.next_u64() as u32, rng.next_u64() as u32],
            ip_id: [rng.next_u64() as u16, rng.next_u64() as u16],
            win: [1026 + rng.below(8) as u16, 501 + rng.below(4) as u16],
            mss,
            st,
            s: plan.s,
            cur: 0,
            cursor: Cursor::default(),
            unacked: [0; 2],
            ack_due: None,
            close_by_client: plan.close_by_client,
            rst: plan.rst,
            wake: 0,
            follow: plan.follow,
        };
        if env.draining {
            conn.drain();
        }
        conn
    }

    /// The capture is about to end: cut the tunnel short where it is, and drop the
    /// keep-alive requests not yet begun. Everything an episode needs is still sent.
    pub(crate) fn drain(&mut self) {
        let msgs = &mut self.s.msgs;
        let mut keep = msgs.len();
        for (i, m) in msgs.iter_mut().enumerate().skip(self.cur) {
            if m.tunnel && m.sent > 0 {
                m.len = m.sent;
                keep = i + 1;
                break;
            }
            if m.optional && m.sent == 0 {
                keep = i;
                break;
            }
        }
        msgs.truncate(keep);
    }

    pub(crate) fn send(
        &mut self,
        out: &mut Out<'_>,
        ts: u64,
        d: usize,
        flags: u8,
        opts: &[u8],
        fill: impl FnOnce(&mut Vec<u8>),
    ) -> std::io::Result<()> {
        let (seq, ack) = (self.seq[d], self.seq[1 - d]);
        let ack = if flags & ACK != 0 { ack } else { 0 };
        self.ip_id[d] = self.ip_id[d].wrapping_add(1);
        let fields = TcpFields {
            seq,
            ack,
            flags,
            window: self.win[d],
            ip_id: self.ip_id[d],
        };
        out.packet(ts, &self.t[d], fields, opts, fill)
    }

    pub(crate) fn syn_opts(&self, server: bool) -> [u8; 12] {
        let m = (self.mss as u16).to_be_bytes();
        [
            2,
            4,
            m[0],
            m[1],
            1,
            3,
            3,
            if server { 7 } else { 8 },
            1,
            1,
            4,
            2,
        ]
    }

    /// Writes the next packet(s). Returns true when the connection is over.
    pub(crate) fn step(&mut self, env: &mut Env, out: &mut Out<'_>) -> std::io::Result<bool> {
        let ts = env.ts;
        if ts < self.wake {
            return Ok(false);
        }
        match self.st {
            St::Syn | St::NoAnswer(_) | St::Refused => {
                let opts = self.syn_opts(false);
                self.send(out, ts, 0, SYN, &opts, |_| {})?;
                match self.st {
                    St::Syn => {
                        self.seq[0] = self.seq[0].wrapping_add(1);
                        self.st = St::SynAck;
                    }
                    St::NoAnswer(n) if n >= 2 => self.st = St::Done,
                    St::NoAnswer(n) => {
                        self.st = St::NoAnswer(n + 1);
                        self.wake = ts + (1_000_000 << n);
                    }
                    _ => {
                        self.seq[0] = self.seq[0].wrapping_add(1);
                        self.st = St::RefusedRst;
                    }
                }
            }
            St::RefusedRst => {
                self.seq[1] = 0;
                self.send(out, ts, 1, RST | ACK, &[], |_| {})?;
                self.st = St::Done;
            }
            St::SynAck => {
                let opts = self.syn_opts(true);
                self.send(out, ts, 1, SYN | ACK, &opts, |_| {})?;
                self.seq[1] = self.seq[1].wrapping_add(1);
                self.st = St::HsAck;
            }
            St::HsAck => {
                self.send(out, ts, 0, ACK, &[], |_| {})?;
                self.st = St::Data;
            }
            St::Data => self.data(env, out)?,
            St::Close(k) => {
                let closer = if self.close_by_client { 0 } else { 1 };
                if self.rst {
                    self.send(out, ts, closer, RST | ACK, &[], |_| {})?;
                    self.st = St::Done;
                } else {
                    let (d, flags) = match k {
                        0 => (closer, FIN | ACK),
                        1 => (1 - closer, FIN | ACK),
                        _ => (closer, ACK),
                    };
                    self.send(out, ts, d, flags, &[], |_| {})?;
                    if flags & FIN != 0 {
                        self.seq[d] = self.seq[d].wrapping_add(1);
                    }
                    self.st = if k >= 2 { St::Done } else { St::Close(k + 1) };
                }
            }
            St::Done => {}
        }
        Ok(self.st == St::Done)
    }

    pub(crate) fn data(&mut self, env: &mut Env, out: &mut Out<'_>) -> std::io::Result<()> {
        let ts = env.ts;
        if let Some(d) = self.ack_due.take() {
            self.unacked[d] = 0;
            return self.send(out, ts, 1 - d, ACK, &[], |_| {});
        }
        if env.draining {
            if let Some(m) = self.s.msgs.get_mut(self.cur) {
                if m.body_from > 0 && m.sent >= m.body_from && m.sent < m.len {
                    // The capture ends during this download: the proxy is seen closing.
                    m.len = m.sent;
                    self.s.msgs.truncate(self.cur + 1);
                    self.close_by_client = false;
                }
            }
        }
        while self.s.msgs.get(self.cur).is_some_and(|m| m.sent >= m.len) {
            self.cur += 1;
        }
        let Some(&m) = self.s.msgs.get(self.cur) else {
            self.st = St::Close(0);
            return self.step(env, out).map(|_| ());
        };
        let d = usize::from(!m.client);
        if m.sent == 0 {
            self.cursor = Cursor { part: m.p0, off: 0 };
            let t = &mut env.truth;
            match m.tally {
                Tally::None => {}
                Tally::Request { connect, creds } => {
                    t.requests += 1;
                    t.connect_requests += u64::from(connect);
                    t.credentialed_requests += u64::from(creds);
                }
                Tally::Response { status } => {
                    t.responses += 1;
                    t.responses_407 += u64::from(status == 407);
                    *t.responses_by_status.entry(status).or_insert(0) += 1;
                }
            }
        }
        let left = m.len - m.sent;
        let n = left.min(self.mss);
        let mut sent = n;
        let Env { rng, pools, .. } = env;
        if m.tunnel && m.sent > 0 && left > n && rng.p(SWAP_P) {
            // Two adjacent segments seen in the wrong order.
            let n2 = (left - n).min(self.mss);
            let mut later = self.cursor;
            take(&self.s, &mut later, n, None, pools, rng);
            let mut after = later;
            let base = self.seq[d];
            let flags2 = ACK | if left - n == n2 { PSH } else { 0 };
            self.seq[d] = base.wrapping_add(n);
            let (s, mut c2) = (&self.s, later);
            let (t, ack, win) = (self.t[d], self.seq[1 - d], self.win[d]);
            self.ip_id[d] = self.ip_id[d].wrapping_add(1);
            let fields = TcpFields {
                seq: self.seq[d],
                ack,
                flags: flags2,
                window: win,
                ip_id: self.ip_id[d],
            };
            out.packet(ts, &t, fields, &[], |b| {
                take(s, &mut c2, n2, Some(b), pools, rng)
            })?;
            self.seq[d] = base;
            let mut c1 = self.cursor;
            self.ip_id[d] = self.ip_id[d].wrapping_add(1);
            let fields = TcpFields {
                seq: base,
                ack,
                flags: ACK,
                window: win,
                ip_id: self.ip_id[d],
            };
            out.packet(ts, &t, fields, &[], |b| {
                take(s, &mut c1, n, Some(b), pools, rng)
            })?;
            take(&self.s, &mut after, n2, None, pools, rng);
            self.cursor = after;
            sent = n + n2;
            self.unacked[d] = self.unacked[d].saturating_add(2);
            env.truth.swapped_pairs += 1;
        } else if m.tunnel && m.sent > 0 && rng.p(DROP_P) {
            // Lost by the mirror port; the endpoints got it.
            take(&self.s, &mut self.cursor, n, None, pools, rng);
            self.unacked[d] = self.unacked[d].saturating_add(1);
            env.truth.dropped_segments += 1;
        } else {
            let flags = ACK | if n == left { PSH } else { 0 };
            let (seq, ack, win) = (self.seq[d], self.seq[1 - d], self.win[d]);
            self.ip_id[d] = self.ip_id[d].wrapping_add(1);
            let (s, cur) = (&self.s, &mut self.cursor);
            let fields = TcpFields {
                seq,
                ack,
                flags,
                window: win,
                ip_id: self.ip_id[d],
            };
            out.packet(ts, &self.t[d], fields, &[], |b| {
                take(s, cur, n, Some(b), pools, rng)
            })?;
            self.unacked[d] = self.unacked[d].saturating_add(1);
        }
        self.seq[d] = self.seq[d].wrapping_add(sent);
        if m.tunnel {
            env.truth.tunnel_bytes += u64::from(sent);
        } else if m.body_from > 0 {
            let body = |at: u32| at.saturating_sub(m.body_from);
            env.truth.body_bytes += u64::from(body(m.sent + sent) - body(m.sent));
        }
        let m = &mut self.s.msgs[self.cur];
        m.sent += sent;
        if m.sent >= m.len {
            let client = m.client;
            self.cur += 1;
            match self.s.msgs.get(self.cur) {
                // The answer carries the ACK.
                Some(next) if next.client != client => self.unacked[d] = 0,
                _ => self.ack_due = Some(d),
            }
        } else if self.unacked[d] >= 2 {
            self.ack_due = Some(d);
        }
        Ok(())
    }
}
