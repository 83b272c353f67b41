//! The evidence on every record (`docs/verdicts.md` §6.1): `capture_file`, `frames` and
//! `display_filter` point at the packets, as Wireshark numbers and selects them; `explain`
//! prints an episode's ladder; `extract` writes its connections as a pcap that `analyze`
//! judges the same.

mod common;

use common::{episodes, s, samples, tool_present, transactions};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// The messages tshark shows for a display filter, each by the frame its first segment came
/// in (tshark shows a message at the frame of its last segment and lists the segments of a
/// reassembled one in `tcp.segment`), sorted.
fn tshark_frames(file: &Path, filter: &str) -> Vec<u64> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args([
            "-Y",
            filter,
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            "tcp.segment",
        ])
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "tshark refused the filter {filter:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (shown, segments) = l.split_once('\t').unwrap_or((l, ""));
            segments
                .split(',')
                .filter_map(|x| x.trim().parse().ok())
                .min()
                .unwrap_or_else(|| shown.trim().parse().expect("a frame number"))
        })
        .collect();
    v.sort_unstable();
    v
}

fn u64s(v: &Value, key: &str) -> Vec<u64> {
    v.get(key)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{key} is a list: {v}"))
        .iter()
        .map(|x| x.as_u64().expect("a frame number"))
        .collect()
}

/// Every episode of every sample: its display filter, with `http.response.code == 407`,
/// shows in tshark exactly the episode's challenges, at the frames of its 407 responses
/// (the frames the records name).
#[test]
fn display_filters_select_each_episodes_challenges() {
    if !tool_present("tshark") {
        return;
    }
    let mut checked = 0;
    for file in samples() {
        let name = file.to_str().expect("utf-8 path");
        let eps = episodes(&[&file], &[]);
        let txs = transactions(&[&file], &[]);
        // The 407 responses of each episode, by the frame that starts them.
        let mut challenged: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for t in &txs {
            assert_eq!(s(t, "capture_file"), name);
            let (Some(id), Some(407)) = (t["episode_id"].as_u64(), t["status"].as_u64()) else {
                continue;
            };
            let frames = u64s(t, "frames");
            assert_eq!(frames.len(), 2, "a request and a response frame: {t}");
            challenged.entry(id).or_default().push(frames[1]);
        }
        for e in &eps {
            let id = e["episode_id"].as_u64().expect("episode_id");
            assert_eq!(s(e, "capture_file"), name, "{e}");
            let filter = s(e, "display_filter");
            assert!(!filter.is_empty(), "{name} episode {id} has no filter");
            let shown = tshark_frames(&file, &format!("({filter}) && http.response.code == 407"));
            let challenges = e["challenges"].as_u64().expect("challenges");
            assert_eq!(
                shown.len() as u64,
                challenges,
                "{name} episode {id}: tshark shows {shown:?} for {filter}"
            );
            let mut expected = challenged.remove(&id).unwrap_or_default();
            expected.sort_unstable();
            assert_eq!(shown, expected, "{name} episode {id}: the 407 frames");
            // The episode's frames hold every head of its transactions (up to the cap).
            let frames = u64s(e, "frames");
            assert!(frames.windows(2).all(|w| w[0] < w[1]), "sorted: {frames:?}");
            for f in &expected {
                assert!(
                    frames.contains(f),
                    "{name} episode {id}: {f} not in {frames:?}"
                );
            }
            assert!(e["frame_count"].as_u64().expect("frame_count") >= frames.len() as u64);
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} episodes checked");
}

/// Two episodes on one keep-alive connection: each filter shows its own 407s only.
#[test]
fn episodes_sharing_a_connection_keep_their_own_challenges() {
    if !tool_present("tshark") {
        return;
    }
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/office-mix.pcap");
    let eps = episodes(&[&file], &[]);
    let txs = transactions(&[&file], &[]);
    // (client port, episode) pairs: a port seen under two episodes is a shared connection.
    let mut by_port: BTreeMap<(String, u64), Vec<u64>> = BTreeMap::new();
    for t in &txs {
        if let Some(id) = t["episode_id"].as_u64() {
            let key = (s(t, "client_ip"), t["client_port"].as_u64().unwrap_or(0));
            let v = by_port.entry(key).or_default();
            if !v.contains(&id) {
                v.push(id);
            }
        }
    }
    let shared: Vec<_> = by_port.values().filter(|v| v.len() > 1).collect();
    if shared.is_empty() {
        // Made here instead: the same capture twice in a row is not possible, so check that
        // every filter names its connections' ports at least.
        for e in &eps {
            assert!(s(e, "display_filter").contains("tcp.port =="), "{e}");
        }
        return;
    }
    for ids in shared {
        let mut all = Vec::new();
        for id in ids {
            let e = eps
                .iter()
                .find(|e| e["episode_id"].as_u64() == Some(*id))
                .expect("the episode");
            let f = format!("({}) && http.response.code == 407", s(e, "display_filter"));
            let shown = tshark_frames(&file, &f);
            assert_eq!(shown.len() as u64, e["challenges"].as_u64().unwrap_or(0));
            all.extend(shown);
        }
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "episodes of one connection share a 407");
    }
}

/// `frame_count` counts every head (a request and its response per try); `frames` lists
/// them, sorted, up to the cap.
#[test]
fn frame_count_counts_every_head() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/basic-wrong-password.pcap");
    let e = &episodes(&[&file], &[])[0];
    let frames = u64s(e, "frames");
    let count = e["frame_count"].as_u64().expect("frame_count");
    assert_eq!(count, 2 * e["challenges"].as_u64().expect("challenges"));
    assert_eq!(frames.len() as u64, count.min(32));
}
