//! Live capture through libpcap (feature `live`) (stub).

use super::PacketSource;
use std::time::Duration;

/// Opens `iface` for capture (stub: replaced by the libpcap source).
pub fn open_live(
    iface: &str,
    bpf: Option<&str>,
    proxy_ports: &[u16],
    duration: Option<Duration>,
) -> anyhow::Result<Box<dyn PacketSource + Send>> {
    let _ = (bpf, proxy_ports, duration);
    anyhow::bail!("live capture on {iface} is not available in this build")
}
