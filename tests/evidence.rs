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

/// `explain` of every episode of every sample: a line per head (as many `← 407` as the
/// episode's challenges), the verdict, the rule of its cause's section and the remedy.
#[test]
fn explain_prints_every_episodes_ladder() {
    for file in samples() {
        for e in episodes(&[&file], &[]) {
            let id = e["episode_id"].as_u64().expect("episode_id").to_string();
            let r = common::run(
                &["explain", "--quiet", "--lang", "en", "--episode", &id],
                &[&file],
            );
            assert!(r.ok, "{}: {}", file.display(), r.stderr);
            let challenges = r.stdout.lines().filter(|l| l.contains("← 407")).count();
            assert_eq!(
                challenges as u64,
                e["challenges"].as_u64().unwrap(),
                "{}",
                r.stdout
            );
            let outcome = s(&e, "outcome");
            let verdict = r
                .stdout
                .lines()
                .find(|l| l.starts_with("verdict:"))
                .unwrap_or_else(|| panic!("no verdict: {}", r.stdout));
            assert!(verdict.contains(&outcome), "{verdict}");
            let rule = r
                .stdout
                .lines()
                .find(|l| l.starts_with("rule:"))
                .expect("rule");
            match s(&e, "cause").as_str() {
                "" if outcome == "unresolved" => assert!(rule.contains("§4.2"), "{rule}"),
                "" => assert!(rule.contains("§4.1"), "{rule}"),
                cause => {
                    assert!(rule.contains(&format!("`{cause}`")), "{rule}");
                    assert!(r.stdout.contains("remedy:"), "{}", r.stdout);
                }
            }
            assert!(r.stdout.contains(&s(&e, "display_filter")));
        }
    }
}

/// The ladder names each NTLM step, the identity and the connection of each head.
#[test]
fn explain_names_the_handshake_steps() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/ntlm-type3-new-connection.pcap");
    let r = common::run(
        &["explain", "--quiet", "--lang", "en", "--episode", "1"],
        &[&file],
    );
    assert!(r.ok, "{}", r.stderr);
    let line = |needle: &str| {
        r.stdout
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in {}", r.stdout))
            .to_string()
    };
    let t1 = line("NTLM type 1");
    let t3 = line("NTLM type 3");
    assert!(line("NTLM type 2").contains("← 407"));
    assert!(t3.contains("dave"), "{t3}");
    // The type 3 came on another connection than the type 1: another id and port.
    let conn = |l: &str| l.split_whitespace().nth(1).unwrap_or("").to_string();
    assert_ne!(conn(&t1), conn(&t3));
    assert!(line("verdict:").contains("handshake_broken"));
    assert!(line("rule:").contains("§4.4"));
    let ja = common::run(
        &["explain", "--quiet", "--lang", "ja", "--episode", "1"],
        &[&file],
    );
    assert!(
        ja.ok && ja.stdout.contains("判定：") && ja.stdout.contains("タイプ 3"),
        "{}",
        ja.stdout
    );
}

#[test]
fn explain_of_an_unknown_episode_fails_with_a_clear_message() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/basic-success.pcap");
    let out = Command::new(common::BIN)
        .args(["explain", "--quiet", "--lang", "en", "--episode", "99"])
        .arg(&file)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no episode #99") && err.contains("basic-success.pcap"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

/// `extract` of every episode of every sample: `analyze` of the pcap judges it the same
/// (outcome, cause, user, at the same time: the timestamps are kept), and the file keeps
/// the link type.
#[test]
fn extracted_episodes_are_judged_the_same() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut checked = 0;
    for file in samples() {
        for e in episodes(&[&file], &[]) {
            let id = e["episode_id"].as_u64().expect("episode_id").to_string();
            let out = dir.path().join(format!("ep-{id}.pcap"));
            let out_s = out.to_str().expect("utf-8");
            let r = common::run(
                &[
                    "extract",
                    "--quiet",
                    "--episode",
                    &id,
                    "--out",
                    out_s,
                    "--force",
                ],
                &[&file],
            );
            assert!(r.ok, "{}: {}", file.display(), r.stderr);
            let got = episodes(&[&out], &[]);
            let same = got
                .iter()
                .find(|g| {
                    s(g, "start_ts") == s(&e, "start_ts") && s(g, "client_ip") == s(&e, "client_ip")
                })
                .unwrap_or_else(|| {
                    panic!("{} #{id}: not in the extract: {got:#?}", file.display())
                });
            for key in ["outcome", "cause", "user", "detail", "target", "challenges"] {
                assert_eq!(s(same, key), s(&e, key), "{} #{id}: {key}", file.display());
            }
            let head = |p: &Path| std::fs::read(p).expect("read")[20..24].to_vec();
            assert_eq!(head(&out), head(&file), "link type");
            checked += 1;
        }
    }
    assert!(checked >= 30);
}

/// `--user` and `--client` pick every episode of a user or an address; nothing matching is
/// a clear failure; an existing file needs `--force`.
#[test]
fn extract_selects_by_user_and_client() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/office-mix.pcap");
    let all = episodes(&[&file], &[]);
    let user = all
        .iter()
        .map(|e| s(e, "user"))
        .find(|u| !u.is_empty())
        .expect("a named user");
    let out = dir.path().join("user.pcap");
    let out_s = out.to_str().expect("utf-8");
    let r = common::run(
        &[
            "extract",
            "--quiet",
            "--user",
            &user.to_uppercase(),
            "--out",
            out_s,
        ],
        &[&file],
    );
    assert!(r.ok, "{}", r.stderr);
    let got = episodes(&[&out], &[]);
    let want: Vec<_> = all.iter().filter(|e| s(e, "user") == user).collect();
    for w in &want {
        assert!(
            got.iter().any(|g| s(g, "start_ts") == s(w, "start_ts") && s(g, "outcome") == s(w, "outcome")),
            "{user}'s episode at {} is missing",
            s(w, "start_ts")
        );
    }
    let again = common::run(
        &["extract", "--quiet", "--user", &user, "--out", out_s],
        &[&file],
    );
    assert!(
        !again.ok && again.stderr.contains("--force"),
        "{}",
        again.stderr
    );
    let client = s(&all[0], "client_ip");
    let out2 = dir.path().join("client.pcap");
    let r = common::run(
        &[
            "extract",
            "--quiet",
            "--client",
            &client,
            "--out",
            out2.to_str().expect("utf-8"),
        ],
        &[&file],
    );
    assert!(r.ok, "{}", r.stderr);
    let n = episodes(&[&out2], &[]).len();
    assert!(
        n >= all
            .iter()
            .filter(|e| s(e, "client_ip") == client)
            .count()
            .min(1)
    );
    let none = common::run(
        &[
            "extract",
            "--quiet",
            "--user",
            "nobody-here",
            "--out",
            out2.to_str().expect("utf-8"),
            "--force",
        ],
        &[&file],
    );
    assert!(
        !none.ok && none.stderr.contains("no episode"),
        "{}",
        none.stderr
    );
}

/// CSV writes an episode's frames as a `;`-joined list.
#[test]
fn csv_lists_the_frames() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/ntlm-success.pcap");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let r = common::run(
        &[
            "export",
            "--quiet",
            "--tables",
            "episodes",
            "--out",
            out.to_str().expect("utf-8"),
        ],
        &[&file],
    );
    assert!(r.ok, "{}", r.stderr);
    let text = std::fs::read_to_string(out.join("episodes.csv")).expect("episodes.csv");
    let frames = episodes(&[&file], &[])[0]["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(";");
    assert!(frames.contains(';'), "{frames}");
    assert!(text.contains(&frames), "{text}");
}

/// No password of the lab's captures reaches `explain`, in either language, nor the
/// report's evidence section (the ladder shows user names, never credentials).
#[test]
fn explain_and_the_evidence_hold_no_secret() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/SECRETS.txt"))
            .expect("SECRETS.txt");
    let mut secrets = Vec::new();
    for l in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (_, pw) = l.split_once(':').expect("user:password");
        secrets.push(pw.to_string());
        use base64::Engine as _;
        secrets.push(base64::engine::general_purpose::STANDARD.encode(l));
    }
    assert!(!secrets.is_empty());
    for file in samples() {
        let mut outputs =
            vec![common::run(&["analyze", "--quiet", "--lang", "en"], &[&file]).stdout];
        for e in episodes(&[&file], &[]) {
            let id = e["episode_id"].as_u64().expect("episode_id").to_string();
            for lang in ["en", "ja"] {
                let r = common::run(
                    &["explain", "--quiet", "--lang", lang, "--episode", &id],
                    &[&file],
                );
                assert!(r.ok, "{}", r.stderr);
                outputs.push(r.stdout);
            }
        }
        for out in &outputs {
            for s in &secrets {
                assert!(
                    !out.contains(s.as_str()),
                    "{}: a secret in\n{out}",
                    file.display()
                );
            }
        }
    }
}

/// Files merged by time: each record names its own file and the frame numbers in that file,
/// the same as when the file is read alone (not the run's global count).
#[test]
fn merged_files_number_frames_per_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let a = dir.join("ntlm-success.pcap");
    let b = dir.join("basic-wrong-password.pcap");
    let merged = episodes(&[&a, &b], &[]);
    assert_eq!(merged.len(), 2);
    for file in [&a, &b] {
        let alone = episodes(&[file], &[]);
        assert_eq!(alone.len(), 1);
        let m = merged
            .iter()
            .find(|m| s(m, "capture_file") == file.to_str().unwrap())
            .unwrap_or_else(|| panic!("no episode of {} in {merged:#?}", file.display()));
        for key in ["start_ts", "frames", "frame_count", "display_filter"] {
            assert_eq!(s(m, key), s(&alone[0], key), "{}: {key}", file.display());
        }
    }
}
