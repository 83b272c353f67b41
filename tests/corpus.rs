//! Differential test against the public captures in `../shared/corpus/`: for every file the
//! run succeeds, reads every packet and finds the 407 responses tshark finds; for the files of
//! the `proxy` group the requests, responses and CONNECT requests match tshark's figures too
//! (from the corpus' MANIFEST.md).
//!
//! tshark decodes plain HTTP carried inside a CONNECT tunnel; proxy407 treats a tunnel as
//! opaque to the proxy (`docs/verdicts.md` §1.2) and counts such messages apart
//! (`tunneled_requests`, `tunneled_responses`), so those are added before comparing. One
//! difference is known and asserted as such: in `sv-http-connect-fragmented-null.pcap` the
//! response inside the tunnel is a clean `HTTP/1.1 200 OK` ended by the server's FIN, which
//! tshark does not show.
//!
//! The tunnel captures (group `tunnel`, and the MPLS telnet of `zeek-mixed-vlan-mpls-http`)
//! give tshark's inner TCP conversation counts, with every packet counted under its
//! encapsulation; with `--decap none` their inner connections are not seen.
//!
//! The corpus lives beside the repository, not in it: on a
//! clone without it this test says so and passes over it, except in CI (`CI=true`).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if dir.join("MANIFEST.md").is_file() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "the capture corpus is missing at {} (required in CI)",
            dir.display()
        );
    }
    eprintln!(
        "note: no capture corpus at {}; skipping the differential test",
        dir.display()
    );
    None
}

/// One row of the manifest's table.
#[derive(Debug)]
struct Row {
    file: String,
    group: String,
    packets: u64,
    requests: u64,
    responses: u64,
    responses_407: u64,
    connect: u64,
}

fn manifest(dir: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.md")).expect("read MANIFEST.md");
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | file | group | repo | path | licence | format | pkts | req/resp | 407 | 401 | PA | PAuthn | CONNECT | ...
        let num = |i: usize| -> u64 {
            cells[i]
                .parse()
                .unwrap_or_else(|_| panic!("manifest cell {i} of {line}"))
        };
        let (req, resp) = cells[8].split_once('/').expect("req/resp cell");
        rows.push(Row {
            file: cells[1].trim_matches('`').to_string(),
            group: cells[2].to_string(),
            packets: num(7),
            requests: req.parse().expect("requests"),
            responses: resp.parse().expect("responses"),
            responses_407: num(9),
            connect: num(13),
        });
    }
    rows
}

fn analyze(file: &Path) -> Value {
    analyze_with(file, &[])
}

fn analyze_with(file: &Path, extra: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_proxy407"))
        .args(["analyze", "--json", "--quiet"])
        .args(extra)
        .arg(file)
        .output()
        .expect("run proxy407");
    assert!(
        out.status.success(),
        "proxy407 failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("analyze --json prints one JSON object")
}

#[test]
fn corpus_matches_tshark() {
    let Some(dir) = corpus_dir() else { return };
    let rows = manifest(&dir);
    assert!(rows.len() >= 25, "manifest rows: {}", rows.len());
    let mut failures = Vec::new();
    for row in &rows {
        let v = analyze(&dir.join(&row.file));
        let get = |section: &str, key: &str| v[section][key].as_u64().unwrap_or(u64::MAX);
        let mut check = |what: &str, got: u64, want: u64| {
            if got != want {
                failures.push(format!("{}: {what} = {got}, tshark {want}", row.file));
            }
        };
        check("packets", get("capture", "packets"), row.packets);
        check(
            "responses_407",
            get("http", "responses_407"),
            row.responses_407,
        );
        if row.group == "proxy" {
            let requests = get("http", "requests") + get("http", "tunneled_requests");
            let responses = get("http", "responses") + get("http", "tunneled_responses");
            let tshark_misses = u64::from(row.file == "sv-http-connect-fragmented-null.pcap");
            check("requests", requests, row.requests);
            check("responses", responses, row.responses + tshark_misses);
            check(
                "connect_requests",
                get("http", "connect_requests"),
                row.connect,
            );
            assert!(
                get("capture", "proxy_connections") >= 1,
                "{}: no proxy connection found",
                row.file
            );
        }
    }
    assert!(
        failures.is_empty(),
        "differences from tshark:\n{}",
        failures.join("\n")
    );
}

#[test]
fn snaplen_cut_capture_reports_truncation() {
    let Some(dir) = corpus_dir() else { return };
    let v = analyze(&dir.join("zeek-communityid-tcp-snaplen96.pcap"));
    assert!(
        v["capture"]["truncated_packets"].as_u64().unwrap_or(0) > 0,
        "{v}"
    );
    assert!(v["capture"]["gap_bytes"].as_u64().unwrap_or(0) > 0, "{v}");
}

#[test]
fn the_407_without_challenge_is_a_proxy_signal() {
    let Some(dir) = corpus_dir() else { return };
    let v = analyze(&dir.join("sv-http-evader-455-407-no-challenge.pcap"));
    assert_eq!(v["http"]["responses_407"], 1, "{v}");
    assert_eq!(v["capture"]["proxy_connections"], 1, "{v}");
}

/// The number after "tshark: " in a manifest row's contents column (the inner TCP
/// conversations of a tunnel capture).
fn tshark_inner_conversations(dir: &Path, file: &str) -> Option<u64> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.md")).expect("read MANIFEST.md");
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("| `{file}`")))?;
    let after = line.split("tshark: ").nth(1)?;
    after.split_whitespace().next()?.parse().ok()
}

#[test]
fn tunnel_captures_give_tsharks_inner_conversations() {
    let Some(dir) = corpus_dir() else { return };
    let rows = manifest(&dir);
    let tunnels: Vec<&Row> = rows.iter().filter(|r| r.group == "tunnel").collect();
    assert_eq!(tunnels.len(), 3, "tunnel rows of the manifest");
    // (file, inner TCP conversations, encapsulation, packets under it). The MPLS count is
    // tshark's `-z conv,tcp` on the mixed capture (two HTTP flows and the MPLS telnet) and
    // its 11 frames of `eth:ethertype:mpls`.
    let mut cases: Vec<(String, u64, &str, u64)> = Vec::new();
    for r in &tunnels {
        let conv = tshark_inner_conversations(&dir, &r.file)
            .unwrap_or_else(|| panic!("{}: no tshark count in the contents column", r.file));
        let encap = if r.file.contains("vxlan") {
            "vxlan"
        } else if r.file.contains("erspan3") {
            "erspan3"
        } else {
            "gre"
        };
        cases.push((r.file.clone(), conv, encap, r.packets));
    }
    cases.push(("zeek-mixed-vlan-mpls-http.pcap".into(), 3, "mpls", 11));
    let mut failures = Vec::new();
    for (file, conv, encap, packets) in &cases {
        let v = analyze(&dir.join(file));
        let got = v["capture"]["tcp_connections"].as_u64();
        if got != Some(*conv) {
            failures.push(format!("{file}: tcp_connections {got:?}, tshark {conv}"));
        }
        let counted = v["capture"]["encapsulations"][*encap].as_u64();
        if counted != Some(*packets) {
            failures.push(format!(
                "{file}: {encap} packets {counted:?}, want {packets}"
            ));
        }
        if v["capture"]["decode_errors"] != 0 {
            failures.push(format!(
                "{file}: decode errors {}",
                v["capture"]["decode_errors"]
            ));
        }
        let none = analyze_with(&dir.join(file), &["--decap", "none"]);
        let plain_only = if *encap == "mpls" { 2 } else { 0 };
        if none["capture"]["tcp_connections"] != plain_only
            || none["capture"]["encapsulations"] != serde_json::json!({})
        {
            failures.push(format!(
                "{file}: --decap none still decapsulates: {}",
                none["capture"]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The mirror session of the ERSPAN capture and the VNI of the VXLAN one, with the outer
    // addresses tcpdump shows.
    let erspan = analyze(&dir.join("zeek-tunnel-erspan3-dot1q.pcap"));
    assert_eq!(
        erspan["capture"]["mirror_sources"],
        serde_json::json!([{"encapsulation": "erspan3", "id": 0, "outer_src": "172.31.1.23",
            "outer_dst": "172.31.1.135", "packets": 2}])
    );
    let vxlan = analyze(&dir.join("zeek-tunnel-vxlan-http.pcap"));
    assert_eq!(
        vxlan["capture"]["mirror_sources"],
        serde_json::json!([{"encapsulation": "vxlan", "id": 1, "outer_src": "10.1.200.131",
            "outer_dst": "10.1.1.172", "packets": 12}])
    );
}
