//! Live capture through libpcap (feature `live`): opening an interface (promiscuous,
//! immediate mode, snap length 262144, 100 ms read timeout, a 64 MiB kernel buffer,
//! non-blocking), the capture
//! filter, a capture thread that copies each packet into a bounded queue and never waits for
//! the analysis (a packet that finds the queue full is dropped and counted as
//! `queue_dropped`), stopping after a duration or on a stop flag (set by Ctrl-C), the
//! kernel's drop counters, and listing interfaces.
//!
//! The capture filter is `tcp and (port P1 or port P2 ...)` over the proxy ports, or (with
//! `--decap auto`, the default) any tunnelled copy: GRE (ERSPAN too), IP-in-IP, UDP to the
//! VXLAN and Geneve ports, MPLS and PPPoE sessions, whose inner packets BPF cannot follow and
//! the decoder sorts out; all ANDed with the user's `--bpf` (which sees the outer headers of a
//! tunnelled copy). Offline analysis auto-detects proxies on any port; live, only the
//! filtered ports are seen at all, which the source says in a notice when it starts.
//!
//! This is the one place that reads the wall clock: to end a capture after `--duration`
//! when the interface is quiet, and to tell the time when no packet came for 250 ms
//! ([`Next::Idle`], a second behind the clock), so that a retry window passes and the
//! episode is judged on a quiet interface as on a busy one. Frames still carry packet time.

use super::{Frame, LinkType, LiveError, Next, Notice, PacketSource, SourceStats};
use crate::anomaly::CaptureAnomaly;
use crate::model::Ts;
use pcap::{Active, Capture, Device};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Bytes captured per packet.
pub const SNAPLEN: i32 = 262_144;
/// How long one read waits for packets before the loop checks the stop flag and deadline.
pub const READ_TIMEOUT_MS: i32 = 100;
/// The kernel's capture buffer: 64 MiB. In immediate mode Linux gives every packet a slot of
/// the snap length, so libpcap's default (2 MiB) holds only eight packets and a burst of a
/// few thousand packets a second overflows it.
pub const BUFFER_BYTES: i32 = 64 << 20;
/// How long the read loop sleeps when no packet is waiting.
const IDLE_NAP: Duration = Duration::from_millis(5);
/// Without a packet for this long, [`PacketSource::next_event`] reports the time.
const IDLE_TICK: Duration = Duration::from_millis(250);
/// The time reported when idle is this far behind the clock: packets stamped just before
/// may still be in the kernel's buffer (immediate mode delivers within milliseconds).
const IDLE_LAG_US: i64 = 1_000_000;
/// Packets between refreshes of the kernel's counters.
const STATS_EVERY: u64 = 1024;

/// One capture interface, for `proxy407 interfaces`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceInfo {
    pub name: String,
    pub description: Option<String>,
    pub addresses: Vec<IpAddr>,
    pub up: bool,
    pub running: bool,
    pub loopback: bool,
}

impl std::fmt::Display for InterfaceInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.name)?;
        let mut flags = Vec::new();
        if self.up {
            flags.push("up");
        }
        if self.running {
            flags.push("running");
        }
        if self.loopback {
            flags.push("loopback");
        }
        if !flags.is_empty() {
            write!(f, " [{}]", flags.join(", "))?;
        }
        if !self.addresses.is_empty() {
            let a: Vec<String> = self.addresses.iter().map(|a| a.to_string()).collect();
            write!(f, " {}", a.join(" "))?;
        }
        if let Some(d) = &self.description {
            write!(f, " ({d})")?;
        }
        Ok(())
    }
}

/// The interfaces libpcap can capture on.
pub fn list_interfaces() -> anyhow::Result<Vec<InterfaceInfo>> {
    let devices = Device::list().map_err(|e| LiveError::Other {
        iface: "(listing interfaces)".into(),
        detail: e.to_string(),
    })?;
    Ok(devices
        .into_iter()
        .map(|d| InterfaceInfo {
            up: d.flags.is_up(),
            running: d.flags.is_running(),
            loopback: d.flags.is_loopback(),
            addresses: d.addresses.iter().map(|a| a.addr).collect(),
            description: d.desc,
            name: d.name,
        })
        .collect())
}

/// The capture filter for the proxy ports, the tunnelled copies the decoder looks into, and
/// the user's extra filter. `tunnel_udp_ports`: the UDP ports of the tunnels decoded (VXLAN,
/// Geneve), or `None` when tunnels are not looked into (`--decap none`); GRE, IP-in-IP,
/// MPLS and PPPoE pass with them. `kdc_ports`: the KDC's ports (88, `--kdc-port`), passed on
/// TCP and UDP. (BPF's `and` and `or` bind equally, left to right: every group is in
/// parentheses.)
pub fn build_filter(
    proxy_ports: &[u16],
    bpf_extra: Option<&str>,
    tunnel_udp_ports: Option<&[u16]>,
    kdc_ports: &[u16],
) -> String {
    let port_list = |ports: &[u16]| {
        ports
            .iter()
            .map(|p| format!("port {p}"))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    let mut f = String::from("tcp");
    if !proxy_ports.is_empty() {
        let tcp: Vec<u16> = proxy_ports
            .iter()
            .chain(kdc_ports.iter().filter(|k| !proxy_ports.contains(k)))
            .copied()
            .collect();
        f = format!("tcp and ({})", port_list(&tcp));
    }
    if !kdc_ports.is_empty() {
        f = format!("({f}) or (udp and ({}))", port_list(kdc_ports));
    }
    if let Some(udp) = tunnel_udp_ports {
        let udp: Vec<String> = udp.iter().map(|p| format!("udp dst port {p}")).collect();
        let udp = if udp.is_empty() {
            String::new()
        } else {
            format!("{} or ", udp.join(" or "))
        };
        f = format!(
            "({f}) or (ip proto 47 or ip6 proto 47 or ip proto 4 or ip proto 41 or ip6 proto 4 \
             or ip6 proto 41 or {udp}ether proto 0x8847 or ether proto 0x8848 \
             or ether proto 0x8864)"
        );
    }
    match bpf_extra.map(str::trim).filter(|s| !s.is_empty()) {
        Some(extra) => format!("({f}) and ({extra})"),
        None => f,
    }
}

/// Opens a live capture as a packet source.
pub fn open_live(
    iface: &str,
    bpf_extra: Option<&str>,
    proxy_ports: &[u16],
    tunnel_udp_ports: Option<&[u16]>,
    kdc_ports: &[u16],
    duration: Option<Duration>,
) -> anyhow::Result<Box<dyn PacketSource>> {
    Ok(Box::new(LiveSource::open(
        iface,
        bpf_extra,
        proxy_ports,
        tunnel_udp_ports,
        kdc_ports,
        duration,
    )?))
}

/// A libpcap capture on one interface.
pub struct LiveSource {
    iface: String,
    link_type: LinkType,
    /// The packets the capture thread handed on.
    packets: Receiver<Captured>,
    /// The packet being looked at.
    buf: Vec<u8>,
    stop: Arc<AtomicBool>,
    /// What the capture thread counts (the kernel's counters, packets it could not queue).
    shared: Arc<Mutex<Counted>>,
    thread: Option<JoinHandle<()>>,
    finished: bool,
    notices: Vec<Notice>,
    stats: SourceStats,
}

/// Packets waiting between the capture thread and the analysis, at most.
pub const QUEUE_PACKETS: usize = 65_536;

/// What the capture thread hands on.
enum Captured {
    Packet {
        ts: Ts,
        orig_len: u32,
        data: Vec<u8>,
    },
    /// The capture ended (stopped, its duration passed, or an error, with its message).
    End(Option<String>),
}

/// The capture thread's counters.
#[derive(Default)]
struct Counted {
    kernel_received: u64,
    kernel_dropped: u64,
    if_dropped: u64,
    /// Packets captured while the queue was full.
    queue_dropped: u64,
}

fn is_permission(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    m.contains("permission") || m.contains("not permitted") || m.contains("eperm")
}

impl LiveSource {
    /// Opens `iface`; see [`build_filter`] for what is captured. A capture thread reads the
    /// interface from then on and never waits for the analysis: what it cannot queue
    /// ([`QUEUE_PACKETS`]) is dropped and counted (`queue_dropped`).
    pub fn open(
        iface: &str,
        bpf_extra: Option<&str>,
        proxy_ports: &[u16],
        tunnel_udp_ports: Option<&[u16]>,
        kdc_ports: &[u16],
        duration: Option<Duration>,
    ) -> Result<LiveSource, LiveError> {
        let other = |detail: String| LiveError::Other {
            iface: iface.to_string(),
            detail,
        };
        // A failure that names missing rights says how to get them.
        let refused = |e: pcap::Error| {
            let d = e.to_string();
            if is_permission(&d) {
                LiveError::Permission {
                    iface: iface.to_string(),
                    detail: d,
                }
            } else {
                other(d)
            }
        };
        let devices = Device::list().map_err(refused)?;
        let Some(device) = devices.iter().find(|d| d.name == iface).cloned() else {
            let available: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
            return Err(LiveError::NoSuchInterface {
                iface: iface.to_string(),
                available: if available.is_empty() {
                    "none (no permission to list them?)".into()
                } else {
                    available.join(", ")
                },
            });
        };
        let inactive = Capture::from_device(device).map_err(|e| other(e.to_string()))?;
        let cap = inactive
            .promisc(true)
            .immediate_mode(true)
            .snaplen(SNAPLEN)
            .timeout(READ_TIMEOUT_MS)
            .buffer_size(BUFFER_BYTES)
            .open()
            .map_err(refused)?;
        // libpcap's read timeout does not hold in immediate mode on Linux (a read on a quiet
        // interface blocks until a packet comes), so the capture is non-blocking and the read
        // loop naps briefly when nothing is waiting.
        let mut cap = cap.setnonblock().map_err(|e| other(e.to_string()))?;
        let filter = build_filter(proxy_ports, bpf_extra, tunnel_udp_ports, kdc_ports);
        cap.filter(&filter, true).map_err(|e| LiveError::Filter {
            filter: filter.clone(),
            detail: e.to_string(),
        })?;
        let link_type = u32::try_from(cap.get_datalink().0).unwrap_or(u32::MAX);
        let notices = vec![Notice {
            origin: iface.to_string(),
            offset: None,
            message: format!(
                "capturing only `{filter}`: proxies on other ports are not seen live \
                 (add them with --proxy-port)"
            ),
        }];
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Mutex::new(Counted::default()));
        let (tx, packets) = sync_channel(QUEUE_PACKETS);
        let reader = Reader {
            cap,
            stop: Arc::clone(&stop),
            duration,
            started: Instant::now(),
            first_ts: None,
            counted: Arc::clone(&shared),
            tx,
        };
        let thread = std::thread::Builder::new()
            .name("proxy407-capture".into())
            .spawn(move || reader.run())
            .map_err(|e| other(format!("cannot start the capture thread: {e}")))?;
        Ok(LiveSource {
            iface: iface.to_string(),
            link_type,
            packets,
            buf: Vec::new(),
            stop,
            shared,
            thread: Some(thread),
            finished: false,
            notices,
            stats: SourceStats {
                kernel_received: Some(0),
                kernel_dropped: Some(0),
                if_dropped: Some(0),
                queue_dropped: Some(0),
                ..SourceStats::default()
            },
        })
    }

    /// Setting this flag ends the capture within one read timeout.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// The link type of the interface.
    pub fn link_type(&self) -> LinkType {
        self.link_type
    }

    /// The capture thread's counters, into the source's.
    fn refresh_stats(&mut self) {
        if let Ok(c) = self.shared.lock() {
            self.stats.kernel_received = Some(c.kernel_received);
            self.stats.kernel_dropped = Some(c.kernel_dropped);
            self.stats.if_dropped = Some(c.if_dropped);
            self.stats.queue_dropped = Some(c.queue_dropped);
        }
    }

    fn finish(&mut self, error: Option<String>) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(e) = error {
            self.stats.anomalies.add(CaptureAnomaly::ReadError);
            self.notices.push(Notice {
                origin: self.iface.clone(),
                offset: None,
                message: format!("capture stopped: {e}"),
            });
        }
        self.refresh_stats();
    }

    /// Waits for the next packet (into `buf`), the end, or, with `idle`, a quiet moment
    /// ([`IDLE_TICK`] without a packet).
    fn wait(&mut self, idle: bool) -> Wait {
        if self.finished {
            return Wait::End;
        }
        let quiet_since = Instant::now();
        loop {
            match self.packets.recv_timeout(IDLE_TICK) {
                Ok(Captured::Packet { ts, orig_len, data }) => {
                    self.buf = data;
                    return Wait::Packet(ts, orig_len);
                }
                Ok(Captured::End(error)) => {
                    self.finish(error);
                    return Wait::End;
                }
                Err(RecvTimeoutError::Timeout) => {
                    if idle && quiet_since.elapsed() >= IDLE_TICK {
                        self.refresh_stats();
                        return Wait::Idle(clock_now().plus_micros(-IDLE_LAG_US));
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.finish(Some("the capture thread ended".into()));
                    return Wait::End;
                }
            }
        }
    }

    /// The packet in `buf`, counted.
    fn frame(&mut self, ts: Ts, orig_len: u32) -> Frame<'_> {
        self.stats.packets = self.stats.packets.saturating_add(1);
        self.stats.bytes = self.stats.bytes.saturating_add(self.buf.len() as u64);
        if (self.buf.len() as u64) < u64::from(orig_len) {
            self.stats.truncated_packets = self.stats.truncated_packets.saturating_add(1);
        }
        if self.stats.packets % STATS_EVERY == 0 {
            self.refresh_stats();
        }
        Frame {
            shared: None,
            ts,
            link_type: self.link_type,
            data: &self.buf,
            orig_len: orig_len.max(u32::try_from(self.buf.len()).unwrap_or(u32::MAX)),
            file: 0,
            number: self.stats.packets,
        }
    }
}

impl Drop for LiveSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The capture thread: reads the interface until stopped, hands each packet on without
/// waiting, and keeps the kernel's counters.
struct Reader {
    cap: Capture<Active>,
    stop: Arc<AtomicBool>,
    duration: Option<Duration>,
    started: Instant,
    first_ts: Option<Ts>,
    counted: Arc<Mutex<Counted>>,
    tx: SyncSender<Captured>,
}

impl Reader {
    fn run(mut self) {
        let mut seen: u64 = 0;
        let mut dropped: u64 = 0;
        let end = loop {
            if self.stop.load(Ordering::Relaxed)
                || self.duration.is_some_and(|d| self.started.elapsed() >= d)
            {
                break None;
            }
            match self.cap.next_packet() {
                Ok(p) => {
                    let tv = p.header.ts;
                    // time_t and suseconds_t are narrower than i64 on some platforms.
                    #[allow(clippy::useless_conversion)]
                    let ts = Ts::from_secs_micros(i64::from(tv.tv_sec), i64::from(tv.tv_usec));
                    // The duration also holds in packet time (a capture that lags behind
                    // ends where the packets say).
                    let first = *self.first_ts.get_or_insert(ts);
                    if let Some(d) = self.duration {
                        let d = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
                        if ts.micros().saturating_sub(first.micros()) > d {
                            break None;
                        }
                    }
                    let packet = Captured::Packet {
                        ts,
                        orig_len: p.header.len,
                        data: p.data.to_vec(),
                    };
                    match self.tx.try_send(packet) {
                        Ok(()) => {}
                        Err(TrySendError::Full(_)) => dropped = dropped.saturating_add(1),
                        Err(TrySendError::Disconnected(_)) => return,
                    }
                    seen = seen.saturating_add(1);
                    if seen % STATS_EVERY == 0 {
                        self.publish(dropped);
                    }
                }
                Err(pcap::Error::TimeoutExpired) => {
                    self.publish(dropped);
                    std::thread::sleep(IDLE_NAP);
                }
                Err(pcap::Error::NoMorePackets) => break None,
                Err(e) => break Some(e.to_string()),
            }
        };
        self.publish(dropped);
        // The end waits for room: it must not be lost.
        let _ = self.tx.send(Captured::End(end));
    }

    fn publish(&mut self, dropped: u64) {
        let k = self.cap.stats().ok();
        if let Ok(mut c) = self.counted.lock() {
            if let Some(s) = k {
                c.kernel_received = u64::from(s.received);
                c.kernel_dropped = u64::from(s.dropped);
                c.if_dropped = u64::from(s.if_dropped);
            }
            c.queue_dropped = dropped;
        }
    }
}

enum Wait {
    Packet(Ts, u32),
    Idle(Ts),
    End,
}

/// The system clock, which stamps the packets of a live capture.
fn clock_now() -> Ts {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Ts::from_secs_micros(
        i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        i64::from(d.subsec_micros()),
    )
}

impl PacketSource for LiveSource {
    fn stop_flag(&self) -> Option<Arc<AtomicBool>> {
        Some(LiveSource::stop_flag(self))
    }

    fn next_frame(&mut self) -> Option<Frame<'_>> {
        loop {
            match self.wait(false) {
                Wait::Packet(ts, orig_len) => return Some(self.frame(ts, orig_len)),
                Wait::Idle(_) => {}
                Wait::End => return None,
            }
        }
    }

    fn next_event(&mut self) -> Next<'_> {
        match self.wait(true) {
            Wait::Packet(ts, orig_len) => Next::Frame(self.frame(ts, orig_len)),
            Wait::Idle(ts) => Next::Idle(ts),
            Wait::End => Next::End,
        }
    }
    fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    fn inputs(&self) -> Vec<String> {
        vec![self.iface.clone()]
    }

    fn stats(&self) -> SourceStats {
        self.stats.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_text() {
        let none = None;
        assert_eq!(build_filter(&[], None, none, &[]), "tcp");
        assert_eq!(
            build_filter(&[3128, 8080], None, none, &[]),
            "tcp and (port 3128 or port 8080)"
        );
        assert_eq!(
            build_filter(&[3128], Some("host 10.0.0.1"), none, &[]),
            "(tcp and (port 3128)) and (host 10.0.0.1)"
        );
        assert_eq!(
            build_filter(&[3128], Some("  "), none, &[]),
            "tcp and (port 3128)"
        );
        let auto = Some(&[4789, 6081, 8472][..]);
        assert_eq!(
            build_filter(&[3128], Some("host 10.0.0.1"), auto, &[]),
            "((tcp and (port 3128)) or (ip proto 47 or ip6 proto 47 or ip proto 4 or ip proto 41 \
             or ip6 proto 4 or ip6 proto 41 or udp dst port 4789 or udp dst port 6081 \
             or udp dst port 8472 or ether proto 0x8847 or ether proto 0x8848 \
             or ether proto 0x8864)) and (host 10.0.0.1)"
        );
        assert_eq!(
            build_filter(&[3128, 88], None, none, &[88, 750]),
            "(tcp and (port 3128 or port 88 or port 750)) or (udp and (port 88 or port 750))"
        );
        assert_eq!(
            build_filter(&[], None, none, &[88]),
            "(tcp) or (udp and (port 88))"
        );
    }
}
