//! `--shard K/N`: N runs over the same captures, each keeping the clients of its share, find
//! between them exactly the episodes of one run over everything: each client in one shard
//! only, with the same verdicts, causes, users and findings. On every sample, and on a
//! generated mirror-port mix of many clients (where only what crosses clients, a user's
//! lockout risk counted over several clients, may differ, and is compared apart).

mod common;

use clap::Parser;
use common::{samples, write_mix};
use proxy407::cli::{Cli, Command};
use proxy407::model::EngineOutput;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn collect(path: &Path, extra: &[&str]) -> EngineOutput {
    let mut args = vec!["proxy407", "analyze", "--quiet"];
    args.extend_from_slice(extra);
    args.push(path.to_str().expect("utf-8 path"));
    let Command::Analyze(a) = Cli::try_parse_from(&args).expect("arguments").command else {
        panic!("not analyze");
    };
    proxy407::app::collect(&a.input, true).expect("run")
}

/// Each episode as JSON without its number (numbered per run), and with `lockout_risk`
/// left out of its findings when `cross_client` (that finding counts a user over clients).
fn episodes(out: &EngineOutput, cross_client: bool) -> Vec<String> {
    let mut v: Vec<String> = out
        .analysis
        .episodes
        .iter()
        .map(|e| {
            let mut j = serde_json::to_value(e).expect("episode");
            let o = j.as_object_mut().expect("object");
            o.remove("episode_id");
            // A split file numbers its frames anew and names itself; the heads are the same.
            o.remove("capture_file");
            o.remove("frames");
            o.remove("display_filter");
            if cross_client {
                if let Some(Value::Array(f)) = o.get_mut("findings") {
                    f.retain(|x| x != "lockout_risk");
                }
            }
            j.to_string()
        })
        .collect();
    v.sort();
    v
}

fn check(path: &Path, n: u32, cross_client: bool) {
    let name = path.display();
    let whole = collect(path, &[]);
    let mut joined = Vec::new();
    let mut owner: BTreeMap<String, u32> = BTreeMap::new();
    let mut skipped = 0;
    for k in 1..=n {
        let spec = format!("{k}/{n}");
        let part = collect(path, &["--shard", &spec]);
        let sh = part.capture.shard.as_ref().expect("capture.shard is set");
        assert_eq!(sh.shard, spec, "{name}");
        skipped += sh.other_packets;
        assert_eq!(
            part.capture.packets, whole.capture.packets,
            "{name}: every shard reads all"
        );
        for e in &part.analysis.episodes {
            let c = e.client_ip.to_string();
            if let Some(other) = owner.insert(c.clone(), k) {
                assert_eq!(other, k, "{name}: client {c} in shards {other} and {k}");
            }
        }
        joined.extend(episodes(&part, cross_client));
    }
    joined.sort();
    assert_eq!(joined, episodes(&whole, cross_client), "{name}: {n} shards");
    assert!(whole.capture.shard.is_none());
    let tcp: u64 = whole.capture.tcp_connections;
    if tcp > 0 && n > 1 {
        assert!(skipped > 0, "{name}: no packet was another shard's");
    }
}

#[test]
fn shards_of_every_sample_find_the_whole_runs_episodes() {
    for s in samples() {
        for n in [1, 2, 3] {
            check(&s, n, false);
        }
    }
}

/// The README's `tcpdump` filter for shard `k` of `n` over the proxy ports given and the
/// KDC's port 88 (TCP and UDP).
fn bpf(k: u32, n: u32, ports: &BTreeSet<u16>) -> String {
    let any = |dir: &str| {
        let mut p: Vec<String> = ports
            .iter()
            .map(|p| format!("tcp {dir} port {p}"))
            .collect();
        p.push(format!("{dir} port 88"));
        p.join(" or ")
    };
    let hash = |at: u32| format!("((ip[{at}:4] * 2654435761) >> 16) % {n} = {}", k - 1);
    format!(
        "(({}) and {}) or (({}) and {})",
        any("dst"),
        hash(12),
        any("src"),
        hash(16)
    )
}

#[test]
fn the_readme_tcpdump_filter_splits_a_capture_as_the_shards_do() {
    if !common::tool_present("tcpdump") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut checked = 0;
    for s in samples() {
        let whole = collect(&s, &[]);
        if whole.capture.link_types.keys().any(|l| l != "ethernet") {
            continue;
        }
        // The default proxy ports and every one the capture uses.
        let mut ports: BTreeSet<u16> = [3128, 3129, 8080, 8000, 8888, 9090].into();
        ports.extend(whole.analysis.episodes.iter().map(|e| e.proxy_port));
        for k in 1..=3 {
            let out = dir.path().join(format!("part-{k}.pcap"));
            let st = std::process::Command::new("tcpdump")
                .args(["-r", s.to_str().expect("utf-8"), "-w"])
                .arg(&out)
                .arg(bpf(k, 3, &ports))
                .stderr(std::process::Stdio::null())
                .status()
                .expect("tcpdump runs (apt-get install tcpdump)");
            assert!(st.success(), "tcpdump on {}", s.display());
            let split = collect(&out, &[]);
            let shard = collect(&s, &["--shard", &format!("{k}/3")]);
            assert_eq!(
                episodes(&split, true),
                episodes(&shard, true),
                "{}: shard {k}/3",
                s.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} samples checked");
}

#[test]
fn shards_of_a_mirror_port_mix_split_its_clients() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mix.pcap");
    write_mix(&path, 5, 12_000_000, 64);
    check(&path, 3, true);

    // Every shard has clients of its own.
    let whole = collect(&path, &[]);
    let clients: BTreeSet<String> = whole
        .analysis
        .episodes
        .iter()
        .map(|e| e.client_ip.to_string())
        .collect();
    for k in 1..=3 {
        let part = collect(&path, &["--shard", &format!("{k}/3")]);
        assert!(
            !part.analysis.episodes.is_empty(),
            "shard {k}/3 of {} clients is empty",
            clients.len()
        );
    }
}
