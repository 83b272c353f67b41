//! The connections on worker threads (`--threads N`, N > 1): each worker owns the
//! `Conns` of the clients of its share of the client address hash
//! ([`crate::flow::shard`]: every connection of a client on one worker), so nothing is
//! shared and nothing locked. The caller's thread reads, decodes and runs the one analysis.
//!
//! The caller hands segments on in *epochs* (a KDC's UDP datagrams with them, in frame order,
//! to the worker of their Kerberos client): the segments of up to [`EPOCH_SEGMENTS`]
//! frames, split by worker, and at a tick of packet time (or the end) the tick itself, to
//! every worker. Each worker answers every epoch, in order, with the events of its segments
//! tagged by frame number and the events of the tick tagged by connection id. The analysis
//! takes an epoch when every worker has answered it: the frames' events in frame order,
//! then the tick's in order of connection id, then the tick. That is the order the engine
//! gives them on one thread, so the analysis is the same whatever the number of threads.
//!
//! At most [`MAX_IN_FLIGHT`] epochs are out at once; beyond, the caller waits for the
//! oldest. A payload in a mapped file's window is not copied: the batch keeps the window
//! mapped ([`SharedBytes`]) and the worker reads it there; other payloads are copied once
//! into the batch. Batches come back with the answers and are reused.

use super::{ConnCounters, Conns, EngineConfig, Keyed};
use crate::analysis::Analyzer;
use crate::decode::{Datagram, Segment, TcpFlags};
use crate::flow::shard;
use crate::model::{FrameRef, Ts};
use crate::source::SharedBytes;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;

/// Segments per epoch, over all workers.
pub const EPOCH_SEGMENTS: usize = 4096;
/// Epochs handed on and not yet analysed, at most.
pub const MAX_IN_FLIGHT: usize = 8;

/// A segment's header fields, its payload in the batch's bytes.
struct SegHead {
    ts: Ts,
    src: (IpAddr, u16),
    dst: (IpAddr, u16),
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    missing_payload: u32,
    frame: u64,
    /// A KDC's UDP datagram, not a TCP segment (only the addresses, ports, time and
    /// payload are set).
    udp: bool,
    /// The frame's file and number there.
    at: FrameRef,
    /// The payload is in `bytes`, or in `windows[w]` at `Some(w)`.
    mapped: Option<u32>,
    start: usize,
    len: usize,
}

/// One worker's segments of one epoch.
#[derive(Default)]
struct Batch {
    heads: Vec<SegHead>,
    bytes: Vec<u8>,
    windows: Vec<SharedBytes>,
}

impl Batch {
    /// Room for `n` segments, so that filling it does not grow it (payloads are copied only
    /// when they are not in a mapped window; that buffer grows as needed).
    fn with_room(n: usize) -> Self {
        Batch {
            heads: Vec::with_capacity(n),
            bytes: Vec::new(),
            windows: Vec::new(),
        }
    }

    /// A KDC datagram, its payload copied (they are few and small).
    fn push_datagram(&mut self, dg: &Datagram<'_>) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(dg.payload);
        self.heads.push(SegHead {
            ts: dg.ts,
            src: (dg.src_ip, dg.src_port),
            dst: (dg.dst_ip, dg.dst_port),
            seq: 0,
            ack: 0,
            flags: TcpFlags::default(),
            window: 0,
            missing_payload: 0,
            frame: dg.frame,
            udp: true,
            at: FrameRef::default(),
            mapped: None,
            start,
            len: dg.payload.len(),
        });
    }

    /// A segment, its payload read from `shared` later when it lies there.
    fn push(&mut self, seg: &Segment<'_>, at: FrameRef, shared: Option<&SharedBytes>) {
        let found = shared.and_then(|w| w.offset_of(seg.payload).map(|o| (w, o)));
        let (mapped, start) = match found {
            Some((w, offset)) => {
                if !self.windows.last().is_some_and(|l| l.same(w)) {
                    self.windows.push(w.clone());
                }
                let i = u32::try_from(self.windows.len().saturating_sub(1)).ok();
                (i, offset)
            }
            None => {
                let start = self.bytes.len();
                self.bytes.extend_from_slice(seg.payload);
                (None, start)
            }
        };
        self.heads.push(SegHead {
            ts: seg.ts,
            src: (seg.src_ip, seg.src_port),
            dst: (seg.dst_ip, seg.dst_port),
            seq: seg.seq,
            ack: seg.ack,
            flags: seg.flags,
            window: seg.window,
            missing_payload: seg.missing_payload,
            frame: seg.frame,
            udp: false,
            at,
            mapped,
            start,
            len: seg.payload.len(),
        });
    }

    /// The payload of a segment of this batch.
    fn payload(&self, h: &SegHead) -> &[u8] {
        let bytes = match h.mapped {
            Some(w) => self
                .windows
                .get(w as usize)
                .map_or(&[][..], SharedBytes::bytes),
            None => &self.bytes,
        };
        h.start
            .checked_add(h.len)
            .and_then(|end| bytes.get(h.start..end))
            .unwrap_or_default()
    }

    fn clear(&mut self) {
        self.heads.clear();
        self.bytes.clear();
        self.windows.clear();
    }
}

/// What a worker is asked to do with its batch afterwards.
#[derive(Clone, Copy)]
enum After {
    Nothing,
    Tick(Ts),
    Finish(Ts),
}

struct Job {
    batch: Batch,
    after: After,
}

/// A worker's answer to one epoch.
#[derive(Default)]
struct Answer {
    /// Tagged by frame number, in frame order.
    frames: Vec<Keyed>,
    /// Tagged by connection id, in its order.
    tick: Vec<Keyed>,
    counters: ConnCounters,
    /// The batch, emptied, for reuse.
    spare: Batch,
}

struct Worker {
    jobs: Option<Sender<Job>>,
    answers: Receiver<Answer>,
    handle: Option<JoinHandle<()>>,
    filling: Batch,
    spares: Vec<Batch>,
    counters: ConnCounters,
    /// The oldest epoch's answer, when it came before the other workers'.
    arrived: Option<Answer>,
}

/// The worker threads, and the epochs on their way.
pub(crate) struct Pool {
    workers: Vec<Worker>,
    proxy_ports: Vec<u16>,
    /// 88 and every `--kdc-port`.
    kdc_ports: Vec<u16>,
    /// With `--shard K/N`: N, so that the threads take other bits of the hash.
    shards: u32,
    /// Segments in the epoch being filled.
    filled: usize,
    /// Epochs handed on, oldest first: the tick each ends with.
    in_flight: VecDeque<After>,
    scratch: Vec<Keyed>,
    /// A worker stopped (it cannot, short of a bug): its share of the connections is lost.
    pub(crate) lost: bool,
}

impl Pool {
    pub(crate) fn new(cfg: &EngineConfig, community: bool, kdc_ports: &[u16]) -> Self {
        let n = cfg.threads.max(2);
        let mut flow = cfg.flow.clone();
        flow.max_connections = flow.max_connections.div_ceil(n).max(1);
        flow.max_buffered_total = flow.max_buffered_total.div_ceil(n);
        let workers = (0..n)
            .map(|i| {
                let (jobs, job_rx) = channel::<Job>();
                let (answer_tx, answers) = channel::<Answer>();
                let conns = Conns::new(flow.clone(), community, kdc_ports.to_vec());
                let handle = std::thread::Builder::new()
                    .name(format!("proxy407-conns-{i}"))
                    .spawn(move || work(conns, &job_rx, &answer_tx))
                    .ok();
                Worker {
                    jobs: Some(jobs),
                    answers,
                    handle,
                    filling: Batch::default(),
                    spares: Vec::new(),
                    counters: ConnCounters::default(),
                    arrived: None,
                }
            })
            .collect();
        Pool {
            workers,
            proxy_ports: cfg.flow.proxy_ports.clone(),
            kdc_ports: kdc_ports.to_vec(),
            shards: cfg.shard.map_or(1, |s| s.count.max(1)),
            filled: 0,
            in_flight: VecDeque::new(),
            scratch: Vec::new(),
            lost: false,
        }
    }

    /// The worker of a segment's client (of a KDC's connection: its Kerberos client).
    fn worker_of(&self, seg: &Segment<'_>) -> usize {
        let kdc = super::either_on(&self.kdc_ports, seg.src_port, seg.dst_port);
        let ports = if kdc {
            &self.kdc_ports
        } else {
            &self.proxy_ports
        };
        let client = shard::client_of(
            (seg.src_ip, seg.src_port),
            (seg.dst_ip, seg.dst_port),
            ports,
        );
        let h = shard::client_hash(client) / self.shards;
        h as usize % self.workers.len().max(1)
    }

    pub(crate) fn segment(
        &mut self,
        seg: &Segment<'_>,
        at: FrameRef,
        shared: Option<&SharedBytes>,
        analyzer: &mut Analyzer,
    ) {
        let w = self.worker_of(seg);
        if let Some(worker) = self.workers.get_mut(w) {
            worker.filling.push(seg, at, shared);
            self.filled += 1;
        }
        if self.filled >= EPOCH_SEGMENTS {
            self.hand_on(After::Nothing, analyzer);
        }
    }

    /// A KDC datagram, to the worker of its client (the end not on a KDC port), in frame
    /// order with the segments.
    pub(crate) fn datagram(&mut self, dg: &Datagram<'_>, analyzer: &mut Analyzer) {
        let client = shard::client_of(
            (dg.src_ip, dg.src_port),
            (dg.dst_ip, dg.dst_port),
            &self.kdc_ports,
        );
        let h = shard::client_hash(client) / self.shards;
        let w = h as usize % self.workers.len().max(1);
        if let Some(worker) = self.workers.get_mut(w) {
            worker.filling.push_datagram(dg);
            self.filled += 1;
        }
        if self.filled >= EPOCH_SEGMENTS {
            self.hand_on(After::Nothing, analyzer);
        }
    }

    /// A tick at `now`: the epoch ends with it.
    pub(crate) fn tick(&mut self, now: Ts, analyzer: &mut Analyzer) {
        self.hand_on(After::Tick(now), analyzer);
    }

    /// The end: the last epoch, every answer analysed, the workers gone; their counters.
    pub(crate) fn finish(&mut self, end: Ts, analyzer: &mut Analyzer) -> ConnCounters {
        self.hand_on(After::Finish(end), analyzer);
        while !self.in_flight.is_empty() {
            self.take_oldest(analyzer, true);
        }
        self.stop();
        self.counters()
    }

    /// The connections' counters, as each worker last reported them.
    pub(crate) fn counters(&self) -> ConnCounters {
        let mut c = ConnCounters::default();
        for w in &self.workers {
            c.merge(&w.counters);
        }
        c
    }

    /// Sends the epoch being filled to the workers, then analyses what has come back
    /// (waiting for the oldest while too many are out).
    fn hand_on(&mut self, after: After, analyzer: &mut Analyzer) {
        let per_worker = EPOCH_SEGMENTS.div_ceil(self.workers.len().max(1));
        for w in &mut self.workers {
            let fresh = w
                .spares
                .pop()
                .unwrap_or_else(|| Batch::with_room(per_worker));
            let batch = std::mem::replace(&mut w.filling, fresh);
            let sent = w
                .jobs
                .as_ref()
                .is_some_and(|j| j.send(Job { batch, after }).is_ok());
            if !sent {
                self.lost = true;
            }
        }
        self.filled = 0;
        self.in_flight.push_back(after);
        while self.in_flight.len() > MAX_IN_FLIGHT {
            self.take_oldest(analyzer, true);
        }
        while !self.in_flight.is_empty() && self.take_oldest(analyzer, false) {}
    }

    /// Analyses the oldest epoch once every worker has answered it (waiting for them with
    /// `wait`); false when it is not complete yet.
    fn take_oldest(&mut self, analyzer: &mut Analyzer, wait: bool) -> bool {
        let Some(&after) = self.in_flight.front() else {
            return false;
        };
        for w in &mut self.workers {
            if w.arrived.is_some() {
                continue;
            }
            let got = if wait {
                w.answers.recv().ok()
            } else {
                match w.answers.try_recv() {
                    Ok(a) => Some(a),
                    Err(std::sync::mpsc::TryRecvError::Empty) => return false,
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => None,
                }
            };
            match got {
                Some(a) => w.arrived = Some(a),
                None => {
                    self.lost = true;
                    w.arrived = Some(Answer::default());
                }
            }
        }
        self.in_flight.pop_front();
        let mut ticks: Vec<Keyed> = Vec::new();
        for w in &mut self.workers {
            let Some(mut a) = w.arrived.take() else {
                continue;
            };
            self.scratch.append(&mut a.frames);
            ticks.append(&mut a.tick);
            w.counters = a.counters;
            if w.spares.len() <= MAX_IN_FLIGHT {
                w.spares.push(a.spare);
            }
        }
        // Stable: the events of one frame (and one connection) keep their order.
        self.scratch.sort_by_key(|e| e.0);
        ticks.sort_by_key(|e| e.0);
        for (_, ev) in self.scratch.drain(..).chain(ticks) {
            analyzer.on_event(ev);
        }
        if let After::Tick(now) = after {
            analyzer.advance(now);
        }
        true
    }

    fn stop(&mut self) {
        for w in &mut self.workers {
            w.jobs = None;
        }
        for w in &mut self.workers {
            if let Some(h) = w.handle.take() {
                if h.join().is_err() {
                    self.lost = true;
                }
            }
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A worker: its connections, fed batch by batch until the end or until the pool is gone.
fn work(mut conns: Conns, jobs: &Receiver<Job>, answers: &Sender<Answer>) {
    let mut scratch: Vec<Keyed> = Vec::new();
    while let Ok(Job { mut batch, after }) = jobs.recv() {
        let mut frames: Vec<Keyed> = Vec::new();
        for h in &batch.heads {
            let payload = batch.payload(h);
            if h.udp {
                let dg = Datagram {
                    ts: h.ts,
                    src_ip: h.src.0,
                    src_port: h.src.1,
                    dst_ip: h.dst.0,
                    dst_port: h.dst.1,
                    payload,
                    frame: h.frame,
                };
                conns.datagram(&dg, &mut scratch);
                frames.extend(scratch.drain(..).map(|(_, ev)| (h.frame, ev)));
                continue;
            }
            let seg = Segment {
                ts: h.ts,
                src_ip: h.src.0,
                src_port: h.src.1,
                dst_ip: h.dst.0,
                dst_port: h.dst.1,
                seq: h.seq,
                ack: h.ack,
                flags: h.flags,
                window: h.window,
                payload,
                missing_payload: h.missing_payload,
                frame: h.frame,
            };
            conns.segment(&seg, h.at, &mut scratch);
            frames.extend(scratch.drain(..).map(|(_, ev)| (h.frame, ev)));
        }
        let mut tick: Vec<Keyed> = Vec::new();
        let last = match after {
            After::Nothing => false,
            After::Tick(now) => {
                conns.advance(now, &mut tick);
                false
            }
            After::Finish(end) => {
                conns.finish(end, &mut tick);
                true
            }
        };
        batch.clear();
        let answer = Answer {
            frames,
            tick,
            counters: conns.counters(),
            spare: batch,
        };
        if answers.send(answer).is_err() || last {
            break;
        }
    }
}
