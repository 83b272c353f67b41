//! `gen-flood`: writes a SYN flood (or a scan) against one proxy port: one SYN from each of
//! `--syns` random source addresses, never answered, at `--rate` SYNs per second of packet
//! time. The capture a sensor on a mirror port sees during such an attack.
//!
//! ```text
//! cargo run --release -p proxy407-testkit --bin gen-flood -- --syns 1000000 --out /var/tmp/flood.pcap
//! ```

use clap::Parser;
use proxy407_testkit::rng::WyRand;
use proxy407_testkit::{CaptureWriter, LinkKind, Resolution, TcpConv, Ts};
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "gen-flood",
    about = "Writes a SYN flood against one proxy port (classic pcap, Ethernet)"
)]
struct Args {
    /// SYNs, each from its own random source address and port.
    #[arg(long, default_value_t = 1_000_000)]
    syns: u64,
    /// The proxy under attack.
    #[arg(long, default_value = "10.0.0.10:3128")]
    proxy: SocketAddr,
    /// SYNs per second of packet time.
    #[arg(long, default_value_t = 100_000)]
    rate: u64,
    #[arg(long, default_value_t = 407)]
    seed: u64,
    #[arg(long)]
    out: PathBuf,
}

fn main() -> std::io::Result<()> {
    let a = Args::parse();
    let file = BufWriter::with_capacity(1 << 20, File::create(&a.out)?);
    let mut w = CaptureWriter::pcap(file, LinkKind::Ethernet, Resolution::Micro)?;
    let mut rng = WyRand(a.seed);
    let step_us = 1_000_000 / a.rate.max(1);
    let t0 = Ts(1_741_078_800_000_000);
    for i in 0..a.syns {
        let r = rng.next_u64();
        // Random sources outside the proxy's network: 11.0.0.0 to 126.255.255.255.
        let ip = Ipv4Addr::from(0x0b00_0000 + (r as u32 % 0x7400_0000));
        let port = 1024 + (r >> 40) as u16 % 60_000;
        let mut c = TcpConv::new(SocketAddr::new(ip.into(), port), a.proxy)
            .start(t0.plus_micros((i * step_us) as i64))
            .isn((r >> 8) as u32, 0);
        c.syn();
        w.write_all(c.packets())?;
    }
    w.into_inner().flush()?;
    eprintln!("wrote {} SYNs to {}", a.syns, a.out.display());
    Ok(())
}
