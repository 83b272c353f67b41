//! `gen-mix`: writes the mirror-port mix (see `proxy407_testkit::mix`) to a file and prints
//! its ground truth.
//!
//! ```text
//! cargo run --release -p proxy407-testkit --bin gen-mix -- --size 1GB --out /var/tmp/mix.pcap [--seed N] [--json]
//! ```

use clap::Parser;
use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use proxy407_testkit::mix::{generate, plan_kinds, Options, Truth};

#[derive(Parser, Debug)]
#[command(
    name = "gen-mix",
    about = "Writes a synthetic proxy mirror-port capture (classic pcap, Ethernet)"
)]
struct Args {
    /// Approximate size of the capture: bytes, or with a unit (KB, MB, GB decimal; KiB, MiB,
    /// GiB binary).
    #[arg(long, default_value = "1GB", value_parser = parse_size)]
    size: u64,
    /// Output file.
    #[arg(long)]
    out: PathBuf,
    /// Random seed: the same seed writes the same file.
    #[arg(long, default_value_t = 407)]
    seed: u64,
    /// Connections open at once.
    #[arg(long, default_value_t = 192)]
    concurrency: usize,
    /// Print the ground truth as one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a number with an optional unit"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1048576.0,
        "g" | "gb" => 1e9,
        "gib" => 1073741824.0,
        other => return Err(format!("unknown size unit {other:?}")),
    };
    Ok((n * mult) as u64)
}

/// User + system CPU seconds of this process, from `/proc/self/stat` (Linux).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split(' ').collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux ABI in use.
    Some((utime + stime) / 100.0)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let file = File::create(&args.out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", args.out.display()))?;
    let mut file = file;
    let opts = Options {
        size: args.size,
        seed: args.seed,
        concurrency: args.concurrency,
    };
    let mut t = generate(&mut file, &opts)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", args.out.display()))?;
    file.flush()?;
    let secs = started.elapsed().as_secs_f64();
    t.generator_seconds = (secs * 1000.0).round() / 1000.0;
    t.generator_mb_per_s = (t.file_bytes as f64 / 1e6 / secs).round();
    t.generator_cpu_seconds = cpu_seconds();
    t.generator_mb_per_cpu_s = t
        .generator_cpu_seconds
        .filter(|&c| c > 0.0)
        .map(|c| (t.file_bytes as f64 / 1e6 / c).round());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&t)?);
    } else {
        print_summary(&t, &args.out);
    }
    Ok(())
}

fn print_summary(t: &Truth, path: &std::path::Path) {
    println!("gen-mix: wrote {}", path.display());
    println!(
        "  {} bytes, {} packets ({:.2} M packets per GB), {:.0} s of packet time",
        t.file_bytes,
        t.packets,
        t.packets as f64 / (t.file_bytes as f64 / 1e9) / 1e6,
        t.capture_seconds
    );
    print!(
        "  {:.3} s wall, {:.0} MB/s",
        t.generator_seconds, t.generator_mb_per_s
    );
    match (t.generator_cpu_seconds, t.generator_mb_per_cpu_s) {
        (Some(c), Some(r)) => println!("; {c:.2} s CPU, {r:.0} MB per CPU second"),
        _ => println!(),
    }
    println!(
        "  connections {} ({} without a captured handshake); tunnel bytes {}, body bytes {} ({:.1}% of the file)",
        t.connections,
        t.connections_without_handshake,
        t.tunnel_bytes,
        t.body_bytes,
        t.bulk_share * 100.0
    );
    println!(
        "  damage: {} tunnel segments dropped, {} adjacent pairs swapped",
        t.dropped_segments, t.swapped_pairs
    );
    println!(
        "  requests {} (CONNECT {}, with Proxy-Authorization {}); responses {}; 407 responses {}",
        t.requests, t.connect_requests, t.credentialed_requests, t.responses, t.responses_407
    );
    let by_status: Vec<String> = t
        .responses_by_status
        .iter()
        .map(|(s, n)| format!("{s}: {n}"))
        .collect();
    println!("  responses by status: {}", by_status.join(", "));
    println!("  connection plans by kind (expected verdict):");
    for (name, verdict) in plan_kinds() {
        let n = t.episodes_by_kind.get(name).copied().unwrap_or(0);
        let v = if verdict.is_empty() {
            "no episode"
        } else {
            verdict
        };
        println!("    {name:<26} {n:>8}  {v}");
    }
    println!("  episodes {}; expected verdicts:", t.episodes_total);
    for (v, n) in &t.expected_verdicts {
        println!("    {v:<26} {n:>8}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("500 MB"), Ok(500_000_000));
        assert_eq!(parse_size("1234"), Ok(1234));
        assert!(parse_size("1XB").is_err());
        assert!(parse_size("lots").is_err());
    }
}
